/* ctx_table.c — context instance hash tables; see ctx_table.h. */
#include <stdlib.h>
#include <string.h>
#include "mtp/errors.h"
#include "ctx_table.h"
#include "siphash.h"

#define CTXT_MIN_BUCKETS 64u

int mtp__ctxt_init(struct mtp__ctx_table *ct, uint16_t n_types, const uint32_t *ctx_size,
                   uint32_t max_per_type, const uint64_t secret[2])
{
    memset(ct, 0, sizeof *ct);
    ct->secret[0] = secret[0];
    ct->secret[1] = secret[1];
    ct->n_types = n_types;
    if (n_types == 0)
        return 0;
    ct->t = calloc(n_types, sizeof *ct->t);
    if (!ct->t)
        return MTP_ENOMEM;
    for (uint16_t i = 0; i < n_types; i++) {
        struct mtp__ctx_type_table *t = &ct->t[i];
        t->buckets = calloc(CTXT_MIN_BUCKETS, sizeof *t->buckets);
        if (!t->buckets) {
            mtp__ctxt_destroy(ct);
            return MTP_ENOMEM;
        }
        t->mask = CTXT_MIN_BUCKETS - 1;
        mtp__pool_init(&t->pool, sizeof(struct mtp__ctx) + ctx_size[i], max_per_type);
    }
    return 0;
}

void mtp__ctxt_destroy(struct mtp__ctx_table *ct)
{
    for (uint16_t i = 0; ct->t && i < ct->n_types; i++) {
        free(ct->t[i].buckets);
        mtp__pool_destroy(&ct->t[i].pool);
    }
    free(ct->t);
    ct->t = NULL;
    ct->n_types = 0;
}

static uint32_t ctxt_hash(const struct mtp__ctx_table *ct, uint16_t type,
                          const struct mtp_key *key)
{
    uint64_t h = mtp__siphash24(ct->secret, key->b, sizeof key->b);
    return (uint32_t)(h ^ (h >> 32)) ^ type;
}

struct mtp__ctx *mtp__ctxt_find(const struct mtp__ctx_table *ct, uint16_t type,
                                const struct mtp_key *key)
{
    if (type >= ct->n_types)
        return NULL;
    const struct mtp__ctx_type_table *t = &ct->t[type];
    uint32_t h = ctxt_hash(ct, type, key);
    for (struct mtp__ctx *c = t->buckets[h & t->mask]; c; c = c->hnext)
        if (c->hash == h && memcmp(c->key.b, key->b, sizeof key->b) == 0)
            return c;
    return NULL;
}

/* Doubles the bucket array; on allocation failure the table keeps working, only slower. */
static void ctxt_grow(struct mtp__ctx_type_table *t)
{
    uint32_t n = (t->mask + 1) * 2;
    struct mtp__ctx **b = calloc(n, sizeof *b);
    if (!b)
        return;
    for (uint32_t i = 0; i <= t->mask; i++) {
        struct mtp__ctx *c = t->buckets[i];
        while (c) {
            struct mtp__ctx *next = c->hnext;
            c->hnext = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(t->buckets);
    t->buckets = b;
    t->mask = n - 1;
}

int mtp__ctxt_insert(struct mtp__ctx_table *ct, uint16_t type, const struct mtp_key *key,
                     struct mtp__ctx **out)
{
    if (type >= ct->n_types)
        return MTP_EINVAL;
    if (mtp__ctxt_find(ct, type, key))
        return MTP_EEXIST;
    struct mtp__ctx_type_table *t = &ct->t[type];
    struct mtp__ctx *c = mtp__pool_alloc(&t->pool);
    if (!c)
        return MTP_ENOBUFS;
    c->hash = ctxt_hash(ct, type, key);
    c->type = type;
    c->key = *key;
    if (t->count >= t->mask + 1)
        ctxt_grow(t);
    c->hnext = t->buckets[c->hash & t->mask];
    t->buckets[c->hash & t->mask] = c;
    t->count++;
    *out = c;
    return 0;
}

void mtp__ctxt_remove(struct mtp__ctx_table *ct, struct mtp__ctx *c)
{
    struct mtp__ctx_type_table *t = &ct->t[c->type];
    for (struct mtp__ctx **p = &t->buckets[c->hash & t->mask]; *p; p = &(*p)->hnext) {
        if (*p == c) {
            *p = c->hnext;
            t->count--;
            mtp__pool_free(&t->pool, c);
            return;
        }
    }
}

uint32_t mtp__ctxt_count(const struct mtp__ctx_table *ct, uint16_t type)
{
    return type < ct->n_types ? ct->t[type].count : 0;
}

void mtp__ctxt_foreach(struct mtp__ctx_table *ct, void (*fn)(void *arg, struct mtp__ctx *c),
                       void *arg)
{
    for (uint16_t i = 0; i < ct->n_types; i++) {
        struct mtp__ctx_type_table *t = &ct->t[i];
        for (uint32_t b = 0; b <= t->mask; b++) {
            struct mtp__ctx *c = t->buckets[b];
            while (c) {
                struct mtp__ctx *next = c->hnext;
                fn(arg, c);
                c = next;
            }
        }
    }
}
