/*
 * engine.c — the transport engine: events in (parsed packets, application posts, timer
 * expiries), dispatch into the generated chains, execution of the instruction buffer a
 * chain leaves behind (paper Table 1), packets out through pktgen.c.
 *
 * Ordering: every event goes through one FIFO queue and runs to completion before the next,
 * so events of one source and one flow are processed in the order they arrived. An event
 * posted from inside a notification waits in the queue until the running one finishes.
 */
#include <stdlib.h>
#include <string.h>
#include "engine_internal.h"
#include "siphash.h"

/* ------------------------------------------------------------ validation */

static int valid_events(const struct mtp_program *p)
{
    if (p->n_events && !p->events)
        return 0;
    for (uint16_t i = 0; i < p->n_events; i++) {
        const struct mtp_event_desc *d = &p->events[i];
        if (d->size > MTP_EVENT_MAX_BYTES || d->ctx_type >= (int)p->n_ctxs || d->ctx_type < -1)
            return 0;
        if (d->has_chain && !p->dispatch)
            return 0;
    }
    return 1;
}

static int valid_ctxs(const struct mtp_program *p)
{
    if (p->n_ctxs && !p->ctxs)
        return 0;
    for (uint16_t i = 0; i < p->n_ctxs; i++) {
        const struct mtp_ctx_desc *c = &p->ctxs[i];
        if (c->key_size > MTP_KEY_BYTES || c->granularity > MTP_GRAN_GLOBAL)
            return 0;
        if (c->n_timers && !c->timer_event)
            return 0;
        for (uint16_t t = 0; t < c->n_timers; t++)
            if (c->timer_event[t] >= p->n_events)
                return 0;
    }
    return 1;
}

static int valid_packets(const struct mtp_program *p)
{
    if ((p->n_bps && !p->bps) || (p->n_srules && !p->srules) ||
        (p->n_coalesce && !p->coalesce))
        return 0;
    for (uint16_t i = 0; i < p->n_bps; i++) {
        const struct mtp_bp_desc *b = &p->bps[i];
        if (!b->size || !b->hdr_len || !b->write_hdr)
            return 0;
        if (b->data_off >= 0 && (uint32_t)b->data_off + sizeof(struct mtp_data) > b->size)
            return 0;
        if ((b->n_nested_data && !b->nested_data) || b->n_nested_data > MTP_NESTED_MAX)
            return 0;
    }
    for (uint16_t i = 0; i < p->n_srules; i++)
        if (p->srules[i].bp >= p->n_bps || !p->srules[i].apply)
            return 0;
    for (uint16_t i = 0; i < p->n_coalesce; i++) {
        const struct mtp_coalesce_desc *c = &p->coalesce[i];
        if (c->bp_older >= p->n_bps || c->bp_newer >= p->n_bps || !c->decide)
            return 0;
    }
    if (p->sched) {
        if (p->sched->kind > MTP_SCHED_WRR || !p->sched->n_queues || !p->sched->queues)
            return 0;
    }
    return 1;
}

static int program_check(const struct mtp_program *p)
{
    if (!p)
        return MTP_EINVAL;
    if (p->abi_version != MTP_ABI_VERSION)
        return MTP_EABI;
    if (!valid_events(p) || !valid_ctxs(p) || !valid_packets(p))
        return MTP_EPROTO;
    return 0;
}

/* ------------------------------------------------------------ lifecycle */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void config_defaults(struct mtp_engine_config *c)
{
    if (!c->mtu)
        c->mtu = 1500;
    if (!c->max_contexts)
        c->max_contexts = 131072;
    if (!c->tx_unit_bytes)
        c->tx_unit_bytes = 256 * 1024;
    if (!c->rx_unit_bytes)
        c->rx_unit_bytes = 256 * 1024;
}

static int engine_alloc_globals(struct mtp_engine *e)
{
    const struct mtp_program *p = e->prog;
    for (uint16_t i = 0; i < p->n_ctxs; i++) {
        if (p->ctxs[i].granularity != MTP_GRAN_GLOBAL)
            continue;
        struct mtp_key zero = { { 0 } };
        struct mtp__ctx *c;
        int err = mtp__ctxt_insert(&e->ct, i, &zero, &c);
        if (err < 0)
            return err;
        if (p->ctxs[i].init)
            p->ctxs[i].init(c->data);
        e->global_ctx[i] = c;
        e->globals[i] = c->data;
    }
    return 0;
}

static int engine_alloc(struct mtp_engine *e)
{
    const struct mtp_program *p = e->prog;
    uint16_t nc = p->n_ctxs;
    uint32_t *sizes = calloc(nc ? nc : 1, sizeof *sizes);
    if (!sizes)
        return MTP_ENOMEM;
    for (uint16_t i = 0; i < nc; i++)
        sizes[i] = p->ctxs[i].size;
    int err = mtp__ctxt_init(&e->ct, nc, sizes, e->cfg.max_contexts, e->secret);
    free(sizes);
    if (err < 0)
        return err;
    e->global_ctx = calloc(nc ? nc : 1, sizeof *e->global_ctx);
    e->globals = calloc(nc ? nc : 1, sizeof *e->globals);
    e->evq = calloc(MTP__EVQ_CAP, sizeof *e->evq);
    e->sink = calloc(MTP__SINK_CAP, sizeof *e->sink);
    e->iv = calloc(MTP__IBUF_CAP, sizeof *e->iv);
    e->arena = malloc(MTP__ARENA_BYTES);
    e->scratch = calloc(1, p->scratch_size ? p->scratch_size : 1);
    if (!e->global_ctx || !e->globals || !e->evq || !e->sink || !e->iv || !e->arena ||
        !e->scratch)
        return MTP_ENOMEM;
    if ((err = mtp__sched_init(&e->sched, p->sched, e->cfg.mtu, 0)) < 0)
        return err;
    uint32_t max_bp = 16, max_nested = 0;
    for (uint16_t i = 0; i < p->n_bps; i++) {
        if (p->bps[i].size > max_bp)
            max_bp = p->bps[i].size;
        if (p->bps[i].n_nested_data > max_nested)
            max_nested = p->bps[i].n_nested_data;
    }
    e->bp_area = (max_bp + 15) & ~15u;
    e->max_refs = max_nested + 1;
    size_t rec = ((sizeof(struct mtp__bp) + 15) & ~(size_t)15) + 3 * (size_t)e->bp_area +
                 e->max_refs * sizeof(struct mtp__pin_ref);
    mtp__pool_init(&e->bp_pool, rec, MTP__MAX_BLUEPRINTS);
    mtp__pool_init(&e->spill_pool, sizeof(struct mtp__spill), MTP__MAX_SPILLS);
    mtp__pool_init(&e->unit_pool, sizeof(struct mtp__unit), 4 * e->cfg.max_contexts);
    mtp__wheel_init(&e->wheel, 0);
    return engine_alloc_globals(e);
}

struct mtp_engine *mtp_engine_new(const struct mtp_program *prog,
                                  const struct mtp_engine_config *cfg, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    *err = program_check(prog);
    if (*err < 0)
        return NULL;
    struct mtp_engine *e = calloc(1, sizeof *e);
    if (!e) {
        *err = MTP_ENOMEM;
        return NULL;
    }
    e->prog = prog;
    if (cfg)
        e->cfg = *cfg;
    config_defaults(&e->cfg);
    e->st = e->cfg.stats ? e->cfg.stats : &e->own_stats;
    uint64_t s = e->cfg.seed;
    e->secret[0] = splitmix64(&s);
    e->secret[1] = splitmix64(&s);
    e->rng = splitmix64(&s) | 1;
    *err = engine_alloc(e);
    if (*err < 0) {
        mtp_engine_free(e);
        return NULL;
    }
    return e;
}

/* A context's runtime part goes with it: its packets still queued, then its units and timers. */
static void ctx_release_rt(struct mtp_engine *e, struct mtp__ctx *c)
{
    while (c->rt && c->rt->bps)
        mtp__pktgen_release(e, c->rt->bps);
    mtp__ctx_rt_release(e, c);
}

static void ctx_free_cb(void *arg, struct mtp__ctx *c)
{
    struct mtp_engine *e = arg;
    ctx_release_rt(e, c);
    mtp__ctxt_remove(&e->ct, c);
}

void mtp_engine_free(struct mtp_engine *e)
{
    if (!e)
        return;
    if (e->ct.t)
        mtp__ctxt_foreach(&e->ct, ctx_free_cb, e);
    mtp__ctxt_destroy(&e->ct);
    mtp__sched_destroy(&e->sched);
    mtp__pool_destroy(&e->bp_pool);
    mtp__pool_destroy(&e->spill_pool);
    mtp__pool_destroy(&e->unit_pool);
    mtp__buf_cache_drop(&e->rx_cache);
    mtp__buf_cache_drop(&e->tx_cache);
    mtp__msg_cache_drop(&e->rx_msg_cache);
    free(e->global_ctx);
    free(e->globals);
    free(e->evq);
    free(e->sink);
    free(e->iv);
    free(e->arena);
    free(e->scratch);
    free(e);
}

void mtp_engine_set_notify(struct mtp_engine *e, mtp_note_fn fn, void *user)
{
    e->note_fn = fn;
    e->note_user = user;
}

/* ------------------------------------------------------------ contexts and units */

void mtp__note(struct mtp_engine *e, uint32_t code, const struct mtp__ctx *c,
               const struct mtp_key *key, uint16_t ctx_type, uint64_t uid, uint64_t value)
{
    if (!e->note_fn)
        return;
    struct mtp_note n = { .code = code, .uid = uid, .value = value, .ctx_type = ctx_type };
    if (c) {
        n.ctx_type = c->type;
        n.key = c->key;
    } else if (key) {
        n.key = *key;
    }
    e->note_fn(e->note_user, &n);
}

static struct mtp__ctx *ctx_lookup(struct mtp_engine *e, uint16_t type, const struct mtp_key *k)
{
    if (type >= e->prog->n_ctxs)
        return NULL;
    if (e->global_ctx[type])
        return e->global_ctx[type];
    return mtp__ctxt_find(&e->ct, type, k);
}

/* ------------------------------------------------------------ instructions */

/* What one instruction buffer executes against. */
struct run {
    struct mtp_engine *e;
    struct mtp_ibuf *b;
    struct mtp__ctx *ctx;          /* the event's context (NULL once deleted) */
    const struct mtp_event *ev;
    int16_t ev_ctx_type;
    uint64_t now;
};

static struct mtp__ctx *instr_ctx(struct run *r, const struct mtp_instr *in)
{
    if (in->flags & MTP_IF_EXPLICIT)
        return ctx_lookup(r->e, in->ctx_type, &in->key);
    return r->ctx;
}

/* An else chain that creates the very context its event was looking for (same type, same
 * id): the chain's later instructions act on that new instance, as if the event had found
 * it (a handshake completed without a context until now, e.g. a stateless cookie). */
static int creates_event_ctx(const struct run *r, const struct mtp_instr *in)
{
    return r->ev->has_key && r->ev_ctx_type == (int16_t)in->ctx_type &&
           memcmp(&r->ev->key, &in->key, sizeof in->key) == 0;
}

static int op_new_ctx(struct run *r, const struct mtp_instr *in)
{
    struct mtp_engine *e = r->e;
    const struct mtp_program *p = e->prog;
    if (in->ctx_type >= p->n_ctxs || p->ctxs[in->ctx_type].granularity == MTP_GRAN_GLOBAL)
        return MTP_EINVAL;
    const struct mtp_ctx_desc *cd = &p->ctxs[in->ctx_type];
    struct mtp__ctx *c;
    int err = mtp__ctxt_insert(&e->ct, in->ctx_type, &in->key, &c);
    if (err == MTP_ENOBUFS)
        e->st->pool_exhausted++;
    if (err < 0)
        return err;
    if (in->arena_off <= r->b->used && r->b->used - in->arena_off >= cd->size)
        memcpy(c->data, r->b->arena + in->arena_off, cd->size);
    else if (cd->init)
        cd->init(c->data);
    mtp__note(e, MTP_NOTE_CTX_NEW, c, NULL, 0, 0, 0);
    if (!r->ctx && creates_event_ctx(r, in))
        r->ctx = c;
    return 0;
}

/* A blueprint outliving its context goes to its queue's shared sub-queue (the context's
 * per-flow one is freed with it), keeping its place in arrival order. */
static void bp_orphan(struct mtp_engine *e, struct mtp__bp *bp)
{
    struct mtp__sq_item *it = &bp->item;
    bp->ctx = NULL;
    if (!it->fq || it->fq == &e->sched.q[it->queue].self)
        return;
    uint64_t seq = it->seq;
    uint16_t queue = it->queue;
    mtp__sched_remove(&e->sched, it);
    mtp__sched_enqueue(&e->sched, it, queue, NULL);
    it->seq = seq;
}

/* del_ctx: the packets the program issued before are sent. A pending blueprint that needs
 * no byte of the context's units (a control packet, or bytes already copied into the
 * blueprint) leaves the context and goes out in order; one that references unit bytes
 * cannot outlive them and is dropped (a dead data reference). */
static void ctx_orphan_bps(struct mtp_engine *e, struct mtp__ctx *c)
{
    struct mtp__ctx_rt *rt = c->rt;
    if (!rt)
        return;
    struct mtp__bp *bp = rt->bps;
    rt->bps = rt->bps_tail = NULL;
    while (bp) {
        struct mtp__bp *next = bp->c_next;
        bp->c_prev = bp->c_next = NULL;
        if (bp->n_refs) {
            e->st->drop_data_ref++;
            mtp__pktgen_release(e, bp);
        } else {
            bp_orphan(e, bp);
        }
        bp = next;
    }
}

static void ctx_delete(struct run *r, struct mtp__ctx *c)
{
    struct mtp_engine *e = r->e;
    struct mtp__ctx saved = *c;
    ctx_orphan_bps(e, c);
    ctx_release_rt(e, c);
    mtp__ctxt_remove(&e->ct, c);
    if (r->ctx == c)
        r->ctx = NULL;
    mtp__note(e, MTP_NOTE_CTX_DEL, &saved, NULL, 0, 0, 0);
}

static int op_del_ctx(struct run *r, const struct mtp_instr *in)
{
    struct mtp__ctx *c = instr_ctx(r, in);
    if (!c)
        return MTP_ENOENT;
    if (r->e->global_ctx[c->type] == c)
        return MTP_EINVAL;
    ctx_delete(r, c);
    return 0;
}

static int op_new_unit(struct run *r, const struct mtp_instr *in, int is_tx)
{
    struct mtp_engine *e = r->e;
    struct mtp__ctx *c = instr_ctx(r, in);
    if (!c)
        return MTP_ENOENT;
    uint64_t size = in->u.unit.size;
    if (size != MTP_SIZE_INF && size > MTP__MAX_MSG_UNIT)
        return MTP_EINVAL;
    if (mtp__unit_find(c, in->u.unit.uid, is_tx))
        return MTP_EEXIST;
    struct mtp__ctx_rt *rt = mtp__ctx_rt_get(e, c);
    struct mtp__unit *u = rt ? mtp__pool_alloc(&e->unit_pool) : NULL;
    if (!u) {
        e->st->pool_exhausted++;
        return MTP_ENOBUFS;
    }
    u->uid = in->u.unit.uid;
    u->is_tx = (uint8_t)is_tx;
    /* a message unit holds the whole message; a stream a configured window */
    if (is_tx)
        mtp__tx_unit_init(&u->u.tx, size,
                          size == MTP_SIZE_INF ? e->cfg.tx_unit_bytes : (uint32_t)size);
    else
        mtp__rx_unit_init(&u->u.rx, size,
                          size == MTP_SIZE_INF ? e->cfg.rx_unit_bytes : (uint32_t)size);
    u->next = rt->units;
    rt->units = u;
    /* a tx message given with its bytes: append them now */
    if (is_tx && in->u.unit.addr && size != MTP_SIZE_INF && size > 0) {
        int err = mtp__tx_unit_append(&u->u.tx, (const uint8_t *)(uintptr_t)in->u.unit.addr,
                                      (uint32_t)size);
        if (err < 0)
            return err;
    }
    return 0;
}

static int op_add_rx_seg(struct run *r, const struct mtp_instr *in)
{
    struct mtp__ctx *c = instr_ctx(r, in);
    struct mtp__unit *u = c ? mtp__unit_find(c, in->u.seg.uid, 0) : NULL;
    if (!u)
        return MTP_ENOENT;
    if (in->u.seg.len && !in->u.seg.addr)
        return MTP_EINVAL;
    if (!u->u.rx.buf && u->u.rx.size == MTP_SIZE_INF && r->e->rx_cache.n)
        mtp__rx_unit_attach(&u->u.rx, r->e->rx_cache.v[--r->e->rx_cache.n]);
    if (!u->u.rx.buf && u->u.rx.size != MTP_SIZE_INF && in->u.seg.len) {
        void *block = mtp__msg_cache_take(&r->e->rx_msg_cache, u->u.rx.cap);
        if (block)
            mtp__rx_unit_attach(&u->u.rx, block);
    }
    struct mtp__rx_add_result res;
    int err = mtp__rx_unit_add(&u->u.rx, in->u.seg.off,
                               (const uint8_t *)(uintptr_t)in->u.seg.addr, in->u.seg.len, &res);
    if (err < 0)
        return err;
    if (res.refused)
        r->e->st->drop_rx_window++;
    if (res.advanced)
        mtp__note(r->e, MTP_NOTE_RX_READY, c, NULL, 0, u->uid, res.ready);
    return 0;
}

static int op_rx_flush(struct run *r, const struct mtp_instr *in)
{
    struct mtp__ctx *c = instr_ctx(r, in);
    struct mtp__unit *u = c ? mtp__unit_find(c, in->u.seg.uid, 0) : NULL;
    if (!u)
        return MTP_ENOENT;
    /* addr 0: the bytes are consumed without a copy (the program only counts them) */
    uint64_t n = mtp__rx_unit_flush(&u->u.rx, (uint8_t *)(uintptr_t)in->u.seg.addr,
                                    in->u.seg.len);
    mtp__rx_settle(r->e, &u->u.rx);
    mtp__note(r->e, MTP_NOTE_RX_FLUSHED, c, NULL, 0, u->uid, n);
    return 0;
}

static int op_add_tx_data(struct run *r, const struct mtp_instr *in)
{
    struct mtp__ctx *c = instr_ctx(r, in);
    struct mtp__unit *u = c ? mtp__unit_find(c, in->u.seg.uid, 1) : NULL;
    if (!u)
        return MTP_ENOENT;
    if (in->u.seg.len && !in->u.seg.addr)
        return MTP_EINVAL;
    if (!u->u.tx.buf && u->u.tx.size == MTP_SIZE_INF && r->e->tx_cache.n && in->u.seg.len)
        mtp__tx_unit_attach(&u->u.tx, r->e->tx_cache.v[--r->e->tx_cache.n]);
    int err = mtp__tx_unit_append(&u->u.tx, (const uint8_t *)(uintptr_t)in->u.seg.addr,
                                  in->u.seg.len);
    if (err == MTP_ENOSPC)
        r->e->st->drop_tx_full++;
    return err;
}

static int op_tx_flush(struct run *r, const struct mtp_instr *in)
{
    struct mtp__ctx *c = instr_ctx(r, in);
    struct mtp__unit *u = c ? mtp__unit_find(c, in->u.seg.uid, 1) : NULL;
    if (!u)
        return MTP_ENOENT;
    uint64_t n = mtp__tx_unit_retire(&u->u.tx, in->u.seg.len);
    mtp__tx_settle(r->e, &u->u.tx);
    mtp__note(r->e, MTP_NOTE_TX_FLUSHED, c, NULL, 0, u->uid, n);
    return 0;
}

static int op_timer(struct run *r, const struct mtp_instr *in, int start)
{
    struct mtp_engine *e = r->e;
    struct mtp__ctx *c = instr_ctx(r, in);
    if (!c)
        return MTP_ENOENT;
    if (in->u.timer.id >= e->prog->ctxs[c->type].n_timers)
        return MTP_EINVAL;
    if (!start && !c->rt)
        return 0;
    struct mtp__ctx_rt *rt = mtp__ctx_rt_get(e, c);
    if (!rt)
        return MTP_ENOBUFS;
    struct mtp__timer *t = &rt->timers[in->u.timer.id];
    if (!start) {
        mtp__wheel_stop(&e->wheel, t);
        return 0;
    }
    uint64_t d = in->u.timer.dur_ns;
    uint64_t deadline = r->now + d < r->now ? UINT64_MAX : r->now + d;
    mtp__wheel_start(&e->wheel, t, deadline);
    return 0;
}

static int op_notify(struct run *r, const struct mtp_instr *in)
{
    struct mtp__ctx *c = instr_ctx(r, in);
    uint16_t type = r->ev_ctx_type >= 0 ? (uint16_t)r->ev_ctx_type : 0;
    mtp__note(r->e, in->u.note.code, c, &r->ev->key, type, 0, in->u.note.value);
    return 0;
}

/* The context's rank in every per_flow queue: sender-side SRPT changes it as it sends. */
static int op_set_flow_prio(struct run *r, const struct mtp_instr *in)
{
    struct mtp_engine *e = r->e;
    struct mtp__ctx *c = instr_ctx(r, in);
    if (!c)
        return MTP_ENOENT;
    struct mtp__ctx_rt *rt = mtp__ctx_rt_get(e, c);
    if (!rt)
        return MTP_ENOBUFS;
    for (uint16_t q = 0; q < e->sched.n; q++)
        mtp__sched_set_rank(&e->sched, q, &rt->fq[q], in->u.sched.value);
    return 0;
}

static int op_new_rx_data(struct run *r, const struct mtp_instr *in) { return op_new_unit(r, in, 0); }
static int op_new_tx_data(struct run *r, const struct mtp_instr *in) { return op_new_unit(r, in, 1); }
static int op_timer_start(struct run *r, const struct mtp_instr *in) { return op_timer(r, in, 1); }
static int op_timer_stop(struct run *r, const struct mtp_instr *in) { return op_timer(r, in, 0); }

static int op_pkt_gen(struct run *r, const struct mtp_instr *in)
{
    return mtp__pktgen_create(r->e, instr_ctx(r, in), in, r->b);
}

static int op_set_queue_rate(struct run *r, const struct mtp_instr *in)
{
    struct mtp_engine *e = r->e;
    if (in->u.sched.queue >= e->sched.n)
        return MTP_EINVAL;
    mtp__sched_set_rate(&e->sched, in->u.sched.queue, in->u.sched.value, r->now);
    return 0;
}

static int op_set_queue_prio(struct run *r, const struct mtp_instr *in)
{
    struct mtp_engine *e = r->e;
    if (in->u.sched.queue >= e->sched.n)
        return MTP_EINVAL;
    mtp__sched_set_prio(&e->sched, in->u.sched.queue,
                        (uint8_t)(in->u.sched.value > 255 ? 255 : in->u.sched.value));
    return 0;
}

/* MTP_OPS (program.h) names op_<handler> for every opcode: a missing one does not compile */
#define OP_HANDLER(op, handler) [MTP_OP_##op] = op_##handler,
static int (*const op_handlers[MTP_OP__COUNT])(struct run *r, const struct mtp_instr *in) = {
    MTP_OPS(OP_HANDLER)
};
#undef OP_HANDLER

static int instr_exec(struct run *r, const struct mtp_instr *in)
{
    if (in->op >= MTP_OP__COUNT)
        return MTP_EINVAL;
    return op_handlers[in->op](r, in);
}

static void ibuf_exec(struct run *r)
{
    struct mtp_stats *st = r->e->st;
    for (uint32_t i = 0; i < r->b->n; i++) {
        const struct mtp_instr *in = &r->b->v[i];
        st->instructions++;
        int err = instr_exec(r, in);
        if (err == MTP_EEXIST && in->op == MTP_OP_NEW_CTX) {
            /* a duplicate request: nothing after it may act twice */
            st->instr_discarded += r->b->n - i - 1;
            st->instr_failed++;
            return;
        }
        if (err < 0)
            st->instr_failed++;
    }
}

/* ------------------------------------------------------------ events */

enum event_outcome {
    EVENT_RAN,          /* a chain (or the else chain) ran */
    EVENT_NO_RECEIVER,  /* no context instance and no else chain: nobody wants it */
    EVENT_DROPPED,      /* refused for another reason */
};

static enum event_outcome event_run(struct mtp_engine *e, const struct mtp_event *ev)
{
    const struct mtp_program *p = e->prog;
    e->st->events++;
    if (ev->type >= p->n_events) {
        e->st->drop_malformed++;
        return EVENT_DROPPED;
    }
    const struct mtp_event_desc *d = &p->events[ev->type];
    if (!d->has_chain) {
        e->st->drop_no_chain++;
        return EVENT_DROPPED;
    }
    struct mtp__ctx *c = NULL;
    int use_else = 0;
    if (d->ctx_type >= 0) {
        c = ctx_lookup(e, (uint16_t)d->ctx_type, &ev->key);
        if (c && !ev->has_key && !e->global_ctx[c->type])
            c = NULL;
        if (!c) {
            if (!d->has_else) {
                e->st->drop_no_ctx++;
                return EVENT_NO_RECEIVER;
            }
            use_else = 1;
        }
    }
    struct mtp_ibuf b = {
        .v = e->iv, .cap = MTP__IBUF_CAP, .arena = e->arena, .arena_cap = MTP__ARENA_BYTES,
    };
    struct mtp_exec x = {
        .out = &b,
        .now_ns = e->now,
        .key = &ev->key,
        .globals = e->globals,
        .secret = { e->secret[0], e->secret[1] },
        .rng = e->rng,
    };
    if (p->scratch_size)
        memset(e->scratch, 0, p->scratch_size);
    p->dispatch(&x, ev->type, ev->data, c ? c->data : NULL, e->scratch, use_else);
    e->rng = x.rng;
    e->st->assert_failures += x.assert_failures;
    e->st->instr_overflow += b.overflow;
    struct run r = { .e = e, .b = &b, .ctx = c, .ev = ev, .ev_ctx_type = d->ctx_type,
                     .now = e->now };
    ibuf_exec(&r);
    return EVENT_RAN;
}

static int evq_push(struct mtp_engine *e, uint16_t type, const struct mtp_key *key,
                    const void *data, uint32_t len)
{
    if (e->evq_n >= MTP__EVQ_CAP || len > MTP_EVENT_MAX_BYTES) {
        e->st->event_overflow++;
        return MTP_ENOBUFS;
    }
    struct mtp_event *ev = &e->evq[(e->evq_head + e->evq_n) % MTP__EVQ_CAP];
    ev->type = type;
    ev->has_key = key != NULL;
    ev->len = len;
    if (key)
        ev->key = *key;
    else
        memset(&ev->key, 0, sizeof ev->key);
    memset(ev->data, 0, sizeof ev->data);
    if (len && data) /* no data: the all-zero event (timer expiry) */
        memcpy(ev->data, data, len);
    e->evq_n++;
    return 0;
}

/* Runs queued events until the queue is empty; events queued meanwhile run too. */
static int evq_drain(struct mtp_engine *e)
{
    if (e->busy)
        return 0;
    e->busy = 1;
    int n = 0;
    while (e->evq_n > 0) {
        enum event_outcome o = event_run(e, &e->evq[e->evq_head]);
        if (e->pkt_events) { /* the received packet's events come first */
            e->pkt_events--;
            e->pkt_ran |= o == EVENT_RAN;
            e->pkt_unclaimed |= o == EVENT_NO_RECEIVER;
        }
        e->evq_head = (e->evq_head + 1) % MTP__EVQ_CAP;
        e->evq_n--;
        n++;
    }
    e->busy = 0;
    return n;
}

static void engine_clock(struct mtp_engine *e, uint64_t now_ns)
{
    if (now_ns > e->now)
        e->now = now_ns;
}

int mtp_engine_rx(struct mtp_engine *e, const struct mtp_rx_pkt *pkt, uint64_t now_ns)
{
    const struct mtp_program *p = e->prog;
    if (!p->parse)
        return MTP_EPROTO;
    /* payload addresses in the events point into pkt: they must run before we return */
    if (e->busy)
        return MTP_EBUSY;
    engine_clock(e, now_ns);
    if (pkt->l4_len < p->l4_min_len) {
        e->st->drop_malformed++;
        return MTP_EBADMSG;
    }
    struct mtp_evsink sink = { .v = e->sink, .cap = MTP__SINK_CAP };
    if (p->parse(pkt, &sink) == MTP_PARSE_MALFORMED) {
        e->st->drop_malformed++;
        return MTP_EBADMSG;
    }
    e->st->event_overflow += sink.overflow;
    /* not busy: the queue is empty, so the packet's events are the first to run */
    e->pkt_events = 0;
    e->pkt_ran = e->pkt_unclaimed = 0;
    for (uint32_t i = 0; i < sink.n; i++)
        if (evq_push(e, sink.v[i].type, sink.v[i].has_key ? &sink.v[i].key : NULL,
                     sink.v[i].data, sink.v[i].len) == 0)
            e->pkt_events++;
    int n = evq_drain(e);
    if (e->pkt_unclaimed && !e->pkt_ran)
        return MTP_ENOENT;
    return n;
}

/* Whether an event parsed from an ICMP quote names a live flow instance (RFC 5927). */
static int quote_event_matches(struct mtp_engine *e, const struct mtp_event *ev)
{
    const struct mtp_program *p = e->prog;
    if (!ev->has_key || ev->type >= p->n_events)
        return 0;
    const struct mtp_event_desc *d = &p->events[ev->type];
    if (!d->has_chain || d->ctx_type < 0 || p->ctxs[d->ctx_type].granularity != MTP_GRAN_FLOW)
        return 0;
    return ctx_lookup(e, (uint16_t)d->ctx_type, &ev->key) != NULL;
}

int mtp_engine_rx_error(struct mtp_engine *e, const struct mtp_rx_pkt *pkt, uint64_t now_ns)
{
    const struct mtp_program *p = e->prog;
    if (!p->parse || !p->net_errors || pkt->ip.icmp_type == 0) {
        e->st->icmp_err_unmatched++;
        return MTP_ENOENT;
    }
    if (e->busy)
        return MTP_EBUSY;
    engine_clock(e, now_ns);
    struct mtp_evsink sink = { .v = e->sink, .cap = MTP__SINK_CAP };
    if (p->parse(pkt, &sink) == MTP_PARSE_MALFORMED) {
        e->st->icmp_err_malformed++;
        return MTP_EBADMSG;
    }
    e->st->event_overflow += sink.overflow;
    int queued = 0;
    for (uint32_t i = 0; i < sink.n; i++)
        if (quote_event_matches(e, &sink.v[i]) &&
            evq_push(e, sink.v[i].type, &sink.v[i].key, sink.v[i].data, sink.v[i].len) == 0)
            queued++;
    if (!queued) {
        e->st->icmp_err_unmatched++;
        return MTP_ENOENT;
    }
    e->st->icmp_err_delivered++;
    return evq_drain(e);
}

int mtp_engine_post(struct mtp_engine *e, uint16_t ev_type, const struct mtp_key *key,
                    const void *ev, uint32_t len, uint64_t now_ns)
{
    if (ev_type >= e->prog->n_events || len > MTP_EVENT_MAX_BYTES || (len && !ev))
        return MTP_EINVAL;
    engine_clock(e, now_ns);
    int err = evq_push(e, ev_type, key, ev, len);
    if (err < 0)
        return err;
    return evq_drain(e);
}

int mtp_engine_timers(struct mtp_engine *e, uint64_t now_ns)
{
    if (e->busy)
        return MTP_EBUSY;
    engine_clock(e, now_ns);
    int fired = 0;
    /* a chain that restarts its own timer with a zero duration fires again on the next
     * call, not in a loop inside this one */
    uint32_t budget = e->wheel.count;
    struct mtp__timer *t;
    while (budget-- > 0 && (t = mtp__wheel_expire(&e->wheel, e->now)) != NULL) {
        struct mtp__ctx *c = t->owner;
        const struct mtp_ctx_desc *cd = &e->prog->ctxs[c->type];
        uint16_t type = cd->timer_event[t->idx];
        e->st->timers_fired++;
        fired++;
        /* the bound event, all zero, for this instance */
        if (evq_push(e, type, &c->key, NULL, e->prog->events[type].size) == 0)
            evq_drain(e);
    }
    return fired;
}

uint64_t mtp_engine_next_deadline(const struct mtp_engine *e)
{
    struct mtp_engine *m = (struct mtp_engine *)e; /* caches only */
    uint64_t t = mtp__wheel_next(&m->wheel);
    uint64_t s = mtp__sched_next_ready(&e->sched, e->now);
    return s < t ? s : t;
}

int mtp_engine_tx_next(struct mtp_engine *e, uint8_t *buf, uint32_t cap,
                       struct mtp_tx_meta *meta, uint64_t now_ns)
{
    engine_clock(e, now_ns);
    return mtp__pktgen_next(e, buf, cap, meta, e->now);
}

int mtp_engine_tx_pending(const struct mtp_engine *e)
{
    return (int)e->sched.count;
}

/* ------------------------------------------------------------ shim access */

void *mtp_engine_ctx(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key)
{
    struct mtp__ctx *c = ctx_lookup(e, ctx_type, key);
    return c ? c->data : NULL;
}

int64_t mtp_engine_rx_ready(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key,
                            uint64_t uid)
{
    struct mtp__ctx *c = ctx_lookup(e, ctx_type, key);
    struct mtp__unit *u = c ? mtp__unit_find(c, uid, 0) : NULL;
    return u ? (int64_t)mtp__rx_unit_ready(&u->u.rx) : MTP_ENOENT;
}

int64_t mtp_engine_tx_space(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key,
                            uint64_t uid)
{
    struct mtp__ctx *c = ctx_lookup(e, ctx_type, key);
    struct mtp__unit *u = c ? mtp__unit_find(c, uid, 1) : NULL;
    return u ? (int64_t)mtp__tx_unit_space(&u->u.tx) : MTP_ENOENT;
}

const struct mtp_stats *mtp_engine_stats(const struct mtp_engine *e)
{
    return e->st;
}
