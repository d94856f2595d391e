/*
 * engine_internal.h — the engine's state, shared by engine.c (events, instructions) and
 * pktgen.c (blueprints, segmentation). Nothing here is visible to generated code.
 */
#ifndef MTP_ENGINE_INTERNAL_H
#define MTP_ENGINE_INTERNAL_H

#include <stdint.h>
#include "mtp/engine.h"
#include "mtp/errors.h"
#include "ctx_table.h"
#include "pool.h"
#include "sched.h"
#include "timers.h"
#include "units.h"

#define MTP__EVQ_CAP 1024u          /* events waiting to run (a parse burst + posts) */
#define MTP__SINK_CAP 64u           /* events one packet may produce */
#define MTP__IBUF_CAP 256u          /* instructions per event */
#define MTP__ARENA_BYTES (64u * 1024u)
#define MTP__MAX_BLUEPRINTS 65536u  /* pending blueprints, all contexts */
#define MTP__SPILL_BYTES 4080u      /* bytes one spill chunk holds */
#define MTP__MAX_SPILLS 4096u
#define MTP__MAX_MSG_UNIT (64u << 20) /* largest message unit (bytes) */
#define MTP__BUF_CACHE 64u          /* idle stream-unit buffers kept for reuse, per direction */

/* Buffers of stream units that went idle, ready for the next unit that needs one. */
struct mtp__buf_cache {
    void *v[MTP__BUF_CACHE];
    uint32_t n;
};

/* Receive blocks of finished messages, kept for the next message's unit (a block of `cap[i]`
 * bytes of data and its clear bitmap). A protocol with a unit per message (Homa: one per RPC)
 * would otherwise calloc and free up to 1 MB each time, which glibc serves by growing and
 * trimming its heap or by mmap: under load that was 27 % of a Homa server's CPU. */
#define MTP__MSG_CACHE 8u
struct mtp__msg_cache {
    void *v[MTP__MSG_CACHE];
    uint32_t cap[MTP__MSG_CACHE];
    uint32_t n;
};

/* A data unit of a context instance; uids are scoped to the instance and direction. */
struct mtp__unit {
    struct mtp__unit *next;
    uint64_t uid;
    uint8_t is_tx;
    union {
        struct mtp__rx_unit rx;
        struct mtp__tx_unit tx;
    } u;
};

/* Runtime state of a context instance, allocated on its first unit, timer or blueprint. */
struct mtp__ctx_rt {
    struct mtp__unit *units;
    struct mtp__bp *bps;          /* pending blueprints, oldest first */
    struct mtp__bp *bps_tail;
    struct mtp__timer *timers;    /* [n_timers], trailing */
    struct mtp__flowq *fq;        /* [scheduler queues], trailing */
};

/* Bytes a blueprint copied because they could not be referenced in place. */
struct mtp__spill {
    struct mtp__spill *next;
    uint8_t b[MTP__SPILL_BYTES];
};

/* A tx-unit range a pending blueprint references: pins the ring bytes. */
struct mtp__pin_ref {
    struct mtp__tx_unit *unit;
    uint64_t off;
};

/* A pending blueprint: the program's struct plus what generation needs, all resolved. */
struct mtp__bp {
    struct mtp__sq_item item;     /* scheduler link (first member) */
    struct mtp__bp *c_prev, *c_next;
    struct mtp__ctx *ctx;         /* NULL: made by a chain without context */
    struct mtp__spill *spill;
    const uint8_t *payload;       /* top level: ring base, or contiguous spill bytes */
    uint32_t ring_cap;            /* 0: payload is contiguous */
    uint64_t pay_off;             /* ring offset of the first payload byte */
    uint32_t pay_len, done, seg, k, n_pkts, prev_len;
    uint32_t frame_next;          /* frames_from: the first frame of the next packet */
    uint8_t split;                /* packets of whole frames (frames_from) */
    uint16_t bp, srule, queue, n_refs;
    uint8_t tos;
    uint32_t dst_ip, src_ip;
    uint8_t *v;                   /* the blueprint struct as created */
    uint8_t *area[2];             /* packet k is built in area[k & 1], prev in the other */
    struct mtp__pin_ref *refs;
};

struct mtp_engine {
    const struct mtp_program *prog;
    struct mtp_engine_config cfg;
    struct mtp_stats own_stats;
    struct mtp_stats *st;
    mtp_note_fn note_fn;
    void *note_user;

    struct mtp__ctx_table ct;
    struct mtp__ctx **global_ctx;   /* [n_ctxs], NULL for non-global types */
    void **globals;                 /* [n_ctxs], their data */
    struct mtp__wheel wheel;
    struct mtp__sched sched;
    struct mtp__pool bp_pool, spill_pool, unit_pool;
    struct mtp__buf_cache rx_cache, tx_cache;
    struct mtp__msg_cache rx_msg_cache;
    uint32_t bp_area;               /* bytes of one blueprint struct area */
    uint32_t max_refs;

    struct mtp_event *evq;
    uint32_t evq_head, evq_n;
    struct mtp_event *sink;
    struct mtp_instr *iv;
    uint8_t *arena;
    void *scratch;
    uint64_t secret[2];
    uint64_t rng;
    uint64_t now;
    int busy;
    /* the received packet being run: its events still queued, and what became of them */
    uint32_t pkt_events;
    uint8_t pkt_ran, pkt_unclaimed;
};

/* ctx_rt.c: a context's runtime part (calls neither engine.c nor pktgen.c) */
struct mtp__ctx_rt *mtp__ctx_rt_get(struct mtp_engine *e, struct mtp__ctx *c);
/* Frees the units and stops the timers; the context's blueprints must be released first. */
void mtp__ctx_rt_release(struct mtp_engine *e, struct mtp__ctx *c);
struct mtp__unit *mtp__unit_find(struct mtp__ctx *c, uint64_t uid, int is_tx);
/* An idle unit gives its buffer back: an idle context costs no data buffer. */
void mtp__tx_settle(struct mtp_engine *e, struct mtp__tx_unit *tx);
void mtp__rx_settle(struct mtp_engine *e, struct mtp__rx_unit *rx);
void mtp__buf_cache_drop(struct mtp__buf_cache *c);
void mtp__msg_cache_put(struct mtp__msg_cache *c, void *block, uint32_t cap);
void *mtp__msg_cache_take(struct mtp__msg_cache *c, uint32_t cap);
void mtp__msg_cache_drop(struct mtp__msg_cache *c);

/* engine.c */
void mtp__note(struct mtp_engine *e, uint32_t code, const struct mtp__ctx *c,
               const struct mtp_key *key, uint16_t ctx_type, uint64_t uid, uint64_t value);

/* pktgen.c */
int mtp__pktgen_create(struct mtp_engine *e, struct mtp__ctx *c, const struct mtp_instr *in,
                       const struct mtp_ibuf *b);
void mtp__pktgen_release(struct mtp_engine *e, struct mtp__bp *bp);
int mtp__pktgen_next(struct mtp_engine *e, uint8_t *buf, uint32_t cap,
                     struct mtp_tx_meta *meta, uint64_t now_ns);

#endif
