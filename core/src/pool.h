/*
 * pool.h — bounded object pools (internal). Objects of one size are carved from 64 KiB
 * chunks that are allocated when the pool first needs them and kept until the pool is
 * destroyed, so the steady state allocates nothing. `limit` bounds the live objects:
 * exhaustion returns NULL (the caller counts pool_exhausted and returns MTP_ENOBUFS).
 */
#ifndef MTP_POOL_H
#define MTP_POOL_H

#include <stddef.h>
#include <stdint.h>

struct mtp__pool {
    size_t obj_size;     /* rounded up to 16 */
    uint32_t per_chunk;
    uint32_t limit;      /* live objects at most */
    uint32_t live;
    void *free;          /* free list threaded through the objects */
    void **chunks;
    uint32_t n_chunks, cap_chunks;
};

void mtp__pool_init(struct mtp__pool *p, size_t obj_size, uint32_t limit);
void *mtp__pool_alloc(struct mtp__pool *p); /* zeroed, or NULL */
void mtp__pool_free(struct mtp__pool *p, void *obj);
void mtp__pool_destroy(struct mtp__pool *p);

#endif
