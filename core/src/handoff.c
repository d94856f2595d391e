/*
 * handoff.c — one context instance's complete state moved between engines (two stacks of
 * one host: a process hands a connection to another, a stack is replaced). Protocol-free:
 * the image is the program's context struct and the runtime's state around it, whatever
 * the program is.
 *
 * Image (host byte order, the same program on both sides):
 *   header   magic, version, ctx type, key, sizes, the program's fingerprint
 *   data     the generated context struct (data_size bytes)
 *   timers   n_timers x {deadline ns (CLOCK_MONOTONIC of the host, absolute), armed}
 *   ranks    n_queues x the instance's rank in each scheduler queue
 *   units    n_units x {descriptor, the buffer block if it has one}
 * An rx unit carries its whole window block (received bytes not yet read, out-of-order
 * bytes and their bitmap), a tx unit its ring (bytes written and not yet acknowledged).
 * Pending packets (blueprints) are not in the image: the stack sends what it can before
 * exporting, and the drop that follows the export discards the rest, like a loss on the
 * wire the protocol recovers from (counted in handoff_bps_dropped).
 */
#include <stdlib.h>
#include <string.h>
#include "engine_internal.h"

#define IMG_MAGIC   0x4d545043u /* "MTPC" */
#define IMG_VERSION 1u

struct img_hdr {
    uint32_t magic;
    uint16_t version;
    uint16_t ctx_type;
    uint64_t prog_fp;          /* fingerprint of the program's name and context layout */
    struct mtp_key key;
    uint32_t data_size;
    uint16_t n_timers;
    uint16_t n_queues;
    uint32_t n_units;
    uint32_t pad;
};

struct img_timer {
    uint64_t deadline;
    uint8_t armed;
    uint8_t pad[7];
};

struct img_unit {
    uint64_t uid;
    uint64_t size;
    uint64_t a, b;             /* rx: flushed, ready_end; tx: head, tail */
    uint32_t cap;
    uint32_t held;             /* rx: bytes held beyond the frontier */
    uint8_t is_tx;
    uint8_t has_buf;
    uint8_t pad[6];
};

/* FNV-1a over the program's name and every context type's layout: an image only goes to an
 * engine that runs the same program. */
static uint64_t prog_fingerprint(const struct mtp_program *p)
{
    uint64_t h = 0xcbf29ce484222325ull;
#define FP_MIX(byte) (h = (h ^ (uint8_t)(byte)) * 0x100000001b3ull)
    for (const char *s = p->name ? p->name : ""; *s; s++)
        FP_MIX(*s);
    for (uint16_t i = 0; i < p->n_ctxs; i++) {
        uint32_t v[3] = {p->ctxs[i].size, p->ctxs[i].key_size, p->ctxs[i].n_timers};
        for (size_t k = 0; k < sizeof v; k++)
            FP_MIX(((const uint8_t *)v)[k]);
    }
#undef FP_MIX
    return h;
}

static size_t unit_block_bytes(const struct mtp__unit *u)
{
    return u->is_tx ? u->u.tx.cap : mtp__rx_block_bytes(u->u.rx.cap);
}

static struct mtp__ctx *find_local(struct mtp_engine *e, uint16_t type, const struct mtp_key *k)
{
    if (type >= e->prog->n_ctxs || e->global_ctx[type])
        return NULL; /* a global context is the engine's own, never handed off */
    return mtp__ctxt_find(&e->ct, type, k);
}

/* ------------------------------------------------------------ export */

static size_t image_size(const struct mtp_engine *e, const struct mtp__ctx *c)
{
    const struct mtp_ctx_desc *cd = &e->prog->ctxs[c->type];
    size_t n = sizeof(struct img_hdr) + cd->size + cd->n_timers * sizeof(struct img_timer) +
               e->sched.n * sizeof(uint64_t);
    for (struct mtp__unit *u = c->rt ? c->rt->units : NULL; u; u = u->next)
        n += sizeof(struct img_unit) + ((u->is_tx ? u->u.tx.buf : u->u.rx.buf) ? unit_block_bytes(u) : 0);
    return n;
}

static uint8_t *put(uint8_t *p, const void *v, size_t n)
{
    memcpy(p, v, n);
    return p + n;
}

static uint8_t *put_unit(uint8_t *p, const struct mtp__unit *u)
{
    struct img_unit iu = {.uid = u->uid, .is_tx = u->is_tx};
    const void *block;
    if (u->is_tx) {
        const struct mtp__tx_unit *t = &u->u.tx;
        iu.size = t->size;
        iu.a = t->head;
        iu.b = t->tail;
        iu.cap = t->cap;
        block = t->buf;
    } else {
        const struct mtp__rx_unit *r = &u->u.rx;
        iu.size = r->size;
        iu.a = r->flushed;
        iu.b = r->ready_end;
        iu.cap = r->cap;
        iu.held = r->held;
        block = r->buf;
    }
    iu.has_buf = block != NULL;
    p = put(p, &iu, sizeof iu);
    return block ? put(p, block, unit_block_bytes(u)) : p;
}

int mtp_engine_ctx_export(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key,
                          void **img, size_t *len)
{
    if (e->busy)
        return MTP_EBUSY;
    struct mtp__ctx *c = find_local(e, ctx_type, key);
    if (!c)
        return MTP_ENOENT;
    const struct mtp_ctx_desc *cd = &e->prog->ctxs[ctx_type];
    size_t n = image_size(e, c);
    uint8_t *buf = malloc(n), *p = buf;
    if (!buf)
        return MTP_ENOMEM;
    struct img_hdr h = {.magic = IMG_MAGIC, .version = IMG_VERSION, .ctx_type = ctx_type,
                        .prog_fp = prog_fingerprint(e->prog), .key = c->key,
                        .data_size = cd->size, .n_timers = cd->n_timers, .n_queues = e->sched.n};
    for (struct mtp__unit *u = c->rt ? c->rt->units : NULL; u; u = u->next)
        h.n_units++;
    p = put(p, &h, sizeof h);
    p = put(p, c->data, cd->size);
    for (uint16_t i = 0; i < cd->n_timers; i++) {
        struct img_timer t = {0};
        if (c->rt && c->rt->timers[i].armed) {
            t.armed = 1;
            t.deadline = c->rt->timers[i].deadline;
        }
        p = put(p, &t, sizeof t);
    }
    for (uint16_t q = 0; q < e->sched.n; q++) {
        uint64_t rank = c->rt ? c->rt->fq[q].rank : 0;
        p = put(p, &rank, sizeof rank);
    }
    /* units are listed newest first; the image keeps that order and import rebuilds it */
    for (struct mtp__unit *u = c->rt ? c->rt->units : NULL; u; u = u->next)
        p = put_unit(p, u);
    *img = buf;
    *len = n;
    e->st->handoff_exports++;
    return 0;
}

int mtp_engine_ctx_drop(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key)
{
    if (e->busy)
        return MTP_EBUSY;
    struct mtp__ctx *c = find_local(e, ctx_type, key);
    if (!c)
        return MTP_ENOENT;
    while (c->rt && c->rt->bps) {
        e->st->handoff_bps_dropped++;
        mtp__pktgen_release(e, c->rt->bps);
    }
    mtp__ctx_rt_release(e, c);
    mtp__ctxt_remove(&e->ct, c);
    return 0;
}

/* ------------------------------------------------------------ import */

struct reader {
    const uint8_t *p, *end;
};

static const void *take(struct reader *r, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return NULL;
    const void *v = r->p;
    r->p += n;
    return v;
}

/* The cap this engine gives a unit of that size: blocks move between units through the
 * engine's caches, so an imported unit must have exactly that cap. */
static uint32_t expected_cap(const struct mtp_engine *e, const struct img_unit *iu)
{
    if (iu->is_tx) {
        struct mtp__tx_unit t;
        mtp__tx_unit_init(&t, iu->size, iu->size == MTP_SIZE_INF ? e->cfg.tx_unit_bytes
                                                                   : (uint32_t)iu->size);
        return t.cap;
    }
    struct mtp__rx_unit rx;
    mtp__rx_unit_init(&rx, iu->size, iu->size == MTP_SIZE_INF ? e->cfg.rx_unit_bytes
                                                                : (uint32_t)iu->size);
    return rx.cap;
}

static int unit_valid(const struct mtp_engine *e, const struct img_unit *iu)
{
    if (iu->size != MTP_SIZE_INF && iu->size > MTP__MAX_MSG_UNIT)
        return MTP_EBADMSG;
    if (iu->cap != expected_cap(e, iu))
        return MTP_EINVAL; /* another unit size configured on this engine */
    if (iu->a > iu->b || (iu->size != MTP_SIZE_INF && iu->b > iu->size))
        return MTP_EBADMSG;
    if (iu->is_tx)
        return iu->b - iu->a <= iu->cap && (iu->has_buf || iu->a == iu->b) ? 0 : MTP_EBADMSG;
    if (iu->b - iu->a > iu->cap || iu->held > iu->cap || (!iu->has_buf && (iu->a != iu->b || iu->held)))
        return MTP_EBADMSG;
    return 0;
}

static int import_unit(struct mtp_engine *e, struct mtp__ctx *c, struct reader *r)
{
    const void *raw = take(r, sizeof(struct img_unit));
    if (!raw)
        return MTP_EBADMSG;
    struct img_unit unit, *iu = &unit; /* copied: the image has no alignment */
    memcpy(iu, raw, sizeof unit);
    if (iu->is_tx > 1 || iu->has_buf > 1)
        return MTP_EBADMSG;
    int err = unit_valid(e, iu);
    if (err < 0)
        return err;
    if (mtp__unit_find(c, iu->uid, iu->is_tx))
        return MTP_EBADMSG; /* the same unit twice */
    struct mtp__unit probe = {.is_tx = iu->is_tx};
    if (iu->is_tx)
        probe.u.tx.cap = iu->cap;
    else
        probe.u.rx.cap = iu->cap;
    size_t bytes = iu->has_buf ? unit_block_bytes(&probe) : 0;
    const uint8_t *block = take(r, bytes);
    if (!block)
        return MTP_EBADMSG;
    struct mtp__ctx_rt *rt = mtp__ctx_rt_get(e, c);
    struct mtp__unit *u = rt ? mtp__pool_alloc(&e->unit_pool) : NULL;
    void *copy = bytes ? malloc(bytes) : NULL;
    if (!u || (bytes && !copy)) {
        if (u)
            mtp__pool_free(&e->unit_pool, u);
        free(copy);
        e->st->pool_exhausted++;
        return MTP_ENOBUFS;
    }
    if (copy)
        memcpy(copy, block, bytes);
    u->uid = iu->uid;
    u->is_tx = iu->is_tx;
    if (iu->is_tx) {
        mtp__tx_unit_init(&u->u.tx, iu->size, iu->cap);
        u->u.tx.head = iu->a;
        u->u.tx.tail = iu->b;
        if (copy)
            mtp__tx_unit_attach(&u->u.tx, copy);
    } else {
        mtp__rx_unit_init(&u->u.rx, iu->size, iu->cap);
        u->u.rx.flushed = iu->a;
        u->u.rx.ready_end = iu->b;
        if (copy)
            mtp__rx_unit_attach(&u->u.rx, copy);
        u->u.rx.held = iu->held; /* (attach clears it: the bitmap came with the block) */
    }
    /* appended at the tail: the list keeps the exporter's order */
    struct mtp__unit **tail = &rt->units;
    while (*tail)
        tail = &(*tail)->next;
    u->next = NULL;
    *tail = u;
    return 0;
}

static int import_body(struct mtp_engine *e, struct mtp__ctx *c, const struct img_hdr *h,
                       struct reader *r)
{
    const void *data = take(r, h->data_size);
    const void *tm_raw = take(r, h->n_timers * sizeof(struct img_timer));
    const void *ranks_raw = take(r, h->n_queues * sizeof(uint64_t));
    if (!data || !tm_raw || !ranks_raw)
        return MTP_EBADMSG;
    memcpy(c->data, data, h->data_size);
    struct img_timer tm[h->n_timers ? h->n_timers : 1]; /* copied: the image has no alignment */
    uint64_t ranks[h->n_queues ? h->n_queues : 1];
    memcpy(tm, tm_raw, h->n_timers * sizeof(struct img_timer));
    memcpy(ranks, ranks_raw, h->n_queues * sizeof(uint64_t));
    int need_rt = h->n_units > 0;
    for (uint16_t i = 0; i < h->n_timers; i++)
        need_rt |= tm[i].armed;
    for (uint16_t q = 0; q < h->n_queues; q++)
        need_rt |= ranks[q] != 0;
    if (!need_rt)
        return r->p == r->end ? 0 : MTP_EBADMSG;
    struct mtp__ctx_rt *rt = mtp__ctx_rt_get(e, c);
    if (!rt)
        return MTP_ENOBUFS;
    for (uint32_t i = 0; i < h->n_units; i++) {
        int err = import_unit(e, c, r);
        if (err < 0)
            return err;
    }
    if (r->p != r->end)
        return MTP_EBADMSG;
    for (uint16_t i = 0; i < h->n_timers; i++)
        if (tm[i].armed)
            mtp__wheel_start(&e->wheel, &rt->timers[i], tm[i].deadline);
    for (uint16_t q = 0; q < h->n_queues; q++)
        mtp__sched_set_rank(&e->sched, q, &rt->fq[q], ranks[q]);
    return 0;
}

int mtp_engine_ctx_import(struct mtp_engine *e, const void *img, size_t len)
{
    if (e->busy)
        return MTP_EBUSY;
    struct reader r = {.p = img, .end = (const uint8_t *)img + len};
    struct img_hdr h;
    const void *hp = img ? take(&r, sizeof h) : NULL;
    if (!hp)
        return MTP_EBADMSG;
    memcpy(&h, hp, sizeof h);
    if (h.magic != IMG_MAGIC || h.version != IMG_VERSION)
        return MTP_EBADMSG;
    const struct mtp_program *p = e->prog;
    if (h.prog_fp != prog_fingerprint(p) || h.ctx_type >= p->n_ctxs ||
        p->ctxs[h.ctx_type].granularity == MTP_GRAN_GLOBAL || h.data_size != p->ctxs[h.ctx_type].size ||
        h.n_timers != p->ctxs[h.ctx_type].n_timers || h.n_queues != e->sched.n)
        return MTP_EINVAL; /* another program, or another scheduler */
    struct mtp__ctx *c;
    int err = mtp__ctxt_insert(&e->ct, h.ctx_type, &h.key, &c);
    if (err == MTP_ENOBUFS)
        e->st->pool_exhausted++;
    if (err < 0)
        return err;
    err = import_body(e, c, &h, &r);
    if (err < 0) { /* nothing of a bad image stays */
        mtp__ctx_rt_release(e, c);
        mtp__ctxt_remove(&e->ct, c);
        return err;
    }
    e->st->handoff_imports++;
    return 0;
}
