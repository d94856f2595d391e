/*
 * ctx_table.h — context instances (internal): one hash table per context type, keyed by
 * the instance id bytes (struct mtp_key), chained buckets that double as the table fills.
 * Lookups allocate nothing; records come from a bounded pool per type (max_contexts), so
 * they never move while they live.
 */
#ifndef MTP_CTX_TABLE_H
#define MTP_CTX_TABLE_H

#include <stdint.h>
#include "mtp/program.h"
#include "pool.h"

struct mtp__ctx_rt; /* lazily allocated runtime state: units, timers, pending blueprints */

struct mtp__ctx {
    struct mtp__ctx *hnext;   /* bucket chain */
    struct mtp__ctx_rt *rt;   /* NULL while the instance uses no unit, timer or blueprint */
    uint32_t hash;
    uint16_t type;
    uint16_t flags;
    struct mtp_key key;
    _Alignas(16) uint8_t data[]; /* the generated context struct */
};

struct mtp__ctx_type_table {
    struct mtp__ctx **buckets;
    uint32_t mask;            /* buckets - 1 (a power of two) */
    uint32_t count;
    struct mtp__pool pool;
};

struct mtp__ctx_table {
    uint64_t secret[2];       /* bucket hash key: ids come from the network */
    uint16_t n_types;
    struct mtp__ctx_type_table *t;
};

int mtp__ctxt_init(struct mtp__ctx_table *ct, uint16_t n_types, const uint32_t *ctx_size,
                   uint32_t max_per_type, const uint64_t secret[2]);
void mtp__ctxt_destroy(struct mtp__ctx_table *ct);
struct mtp__ctx *mtp__ctxt_find(const struct mtp__ctx_table *ct, uint16_t type,
                                const struct mtp_key *key);
/* A new zeroed instance; MTP_EEXIST if the key exists, MTP_ENOBUFS at capacity. */
int mtp__ctxt_insert(struct mtp__ctx_table *ct, uint16_t type, const struct mtp_key *key,
                     struct mtp__ctx **out);
void mtp__ctxt_remove(struct mtp__ctx_table *ct, struct mtp__ctx *c);
uint32_t mtp__ctxt_count(const struct mtp__ctx_table *ct, uint16_t type);
/* Calls fn on every instance; fn may remove the instance it is given. */
void mtp__ctxt_foreach(struct mtp__ctx_table *ct, void (*fn)(void *arg, struct mtp__ctx *c),
                       void *arg);

#endif
