/* pool.c — bounded object pools; see pool.h. */
#include <stdlib.h>
#include <string.h>
#include "pool.h"

#define POOL_CHUNK_BYTES (64u * 1024u)

void mtp__pool_init(struct mtp__pool *p, size_t obj_size, uint32_t limit)
{
    memset(p, 0, sizeof *p);
    p->obj_size = (obj_size + 15) & ~(size_t)15;
    if (p->obj_size < 16)
        p->obj_size = 16;
    p->per_chunk = (uint32_t)(POOL_CHUNK_BYTES / p->obj_size);
    if (p->per_chunk == 0)
        p->per_chunk = 1;
    if (p->per_chunk > limit && limit > 0)
        p->per_chunk = limit;
    p->limit = limit;
}

static int pool_grow(struct mtp__pool *p)
{
    if (p->n_chunks == p->cap_chunks) {
        uint32_t cap = p->cap_chunks ? p->cap_chunks * 2 : 8;
        void **v = realloc(p->chunks, cap * sizeof *v);
        if (!v)
            return -1;
        p->chunks = v;
        p->cap_chunks = cap;
    }
    uint8_t *c = malloc(p->obj_size * p->per_chunk);
    if (!c)
        return -1;
    p->chunks[p->n_chunks++] = c;
    for (uint32_t i = p->per_chunk; i-- > 0;) {
        void *obj = c + i * p->obj_size;
        *(void **)obj = p->free;
        p->free = obj;
    }
    return 0;
}

void *mtp__pool_alloc(struct mtp__pool *p)
{
    if (p->live >= p->limit)
        return NULL;
    if (!p->free && pool_grow(p) < 0)
        return NULL;
    void *obj = p->free;
    p->free = *(void **)obj;
    p->live++;
    memset(obj, 0, p->obj_size);
    return obj;
}

void mtp__pool_free(struct mtp__pool *p, void *obj)
{
    if (!obj)
        return;
    *(void **)obj = p->free;
    p->free = obj;
    p->live--;
}

void mtp__pool_destroy(struct mtp__pool *p)
{
    for (uint32_t i = 0; i < p->n_chunks; i++)
        free(p->chunks[i]);
    free(p->chunks);
    memset(p, 0, sizeof *p);
}
