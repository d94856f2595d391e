/*
 * fixture_prog.h — TEST FIXTURE: a program descriptor written by hand in C, standing in for
 * mtpc output so the engine can be tested without the compiler ("one event in, assert
 * instructions and context out"). Its one app event `op` carries an operation code and
 * arguments; the processor turns it into exactly one instruction (or a few), so each test
 * drives one instruction through the real engine.
 */
#ifndef FIXTURE_PROG_H
#define FIXTURE_PROG_H

#include <string.h>
#include "mtp/engine.h"
#include "mtp/errors.h"

enum { FX_EV_OP, FX_EV_PKT, FX_EV_TICK, FX_EV_STRICT, FX_EV_GLOBAL, FX_EV_NOCHAIN, FX_N_EVENTS };
enum { FX_CTX_CONN, FX_CTX_G, FX_N_CTXS };
enum { FX_BP_SEG, FX_BP_ACK, FX_BP_FRAMES, FX_N_BPS };

enum fx_opcode {
    FX_NEW_CTX = 1, FX_DEL_CTX, FX_NEW_RX, FX_ADD_RX, FX_RX_FLUSH, FX_NEW_TX, FX_ADD_TX,
    FX_TX_FLUSH, FX_GEN_SEG, FX_GEN_ACK, FX_GEN_FRAMES, FX_GEN_RAW, FX_TIMER_START,
    FX_TIMER_STOP, FX_SET_RATE, FX_SET_PRIO, FX_NOTIFY, FX_LOG, FX_ASSERT, FX_FLOOD,
    FX_DEL_THEN_NOTE, FX_ACK_THEN_DEL, FX_NEW_CTX_SEND, FX_SET_FLOW_PRIO, FX_OPEN,
};

/* the `op` app event */
struct fx_op {
    uint32_t op;
    uint32_t len;
    uint64_t a, b, c;
    uint64_t addr;
    uint32_t max_seg;
    uint16_t queue;
    uint16_t srule;    /* 0: seq rule, 1: none */
    uint64_t b2;
    uint32_t len2;
    uint32_t pad;
};

/* the `pkt` net event */
struct fx_pkt {
    uint32_t seq;
    uint32_t pad;
    struct mtp_data data;
};

struct fx_conn {
    uint32_t state;
    uint32_t fires;
    uint32_t nlog;
    uint32_t log[16];
};

struct fx_global {
    uint64_t count;
};

struct fx_seg {
    uint32_t seq;
    uint16_t pos;
    uint16_t flags;
    uint32_t prev_len;
    uint32_t pad;
    struct mtp_data data;
};

struct fx_ack {
    uint32_t ack;
    uint32_t tag;
};

struct fx_frames {
    uint32_t n;
    uint32_t pad;
    struct mtp_data f[2];
};

#define FX_SEG_HDR 16u

static inline void fx_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t fx_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* seg header: seq, pos<<16|flags, prev_len, payload_len (all 32-bit big endian) */
static uint32_t fx_seg_hdr_len(const void *bp)
{
    (void)bp;
    return FX_SEG_HDR;
}

static void fx_seg_write(const void *bp, uint8_t *dst, uint32_t payload_len)
{
    const struct fx_seg *s = bp;
    fx_put32(dst, s->seq);
    fx_put32(dst + 4, (uint32_t)s->pos << 16 | s->flags);
    fx_put32(dst + 8, s->prev_len);
    fx_put32(dst + 12, payload_len);
}

static uint32_t fx_ack_hdr_len(const void *bp)
{
    (void)bp;
    return 8;
}

static void fx_ack_write(const void *bp, uint8_t *dst, uint32_t payload_len)
{
    const struct fx_ack *a = bp;
    (void)payload_len;
    fx_put32(dst, a->ack);
    fx_put32(dst + 4, a->tag);
}

/* frames: n, then each frame as len + bytes (read through the resolved addr) */
static uint32_t fx_frames_hdr_len(const void *bp)
{
    const struct fx_frames *f = bp;
    uint32_t n = 4;
    for (uint32_t i = 0; i < f->n && i < 2; i++)
        n += 4 + f->f[i].len;
    return n;
}

static void fx_frames_write(const void *bp, uint8_t *dst, uint32_t payload_len)
{
    const struct fx_frames *f = bp;
    (void)payload_len;
    fx_put32(dst, f->n);
    uint8_t *p = dst + 4;
    for (uint32_t i = 0; i < f->n && i < 2; i++) {
        fx_put32(p, f->f[i].len);
        memcpy(p + 4, (const void *)(uintptr_t)f->f[i].addr, f->f[i].len);
        p += 4 + f->f[i].len;
    }
}

/* the data_t of each frame in use */
static uint16_t fx_frames_nested(const void *bp, uint32_t *off)
{
    const struct fx_frames *f = bp;
    uint16_t n = 0;
    for (uint32_t i = 0; i < f->n && i < 2; i++)
        off[n++] = (uint32_t)(offsetof(struct fx_frames, f) + i * sizeof f->f[0]);
    return n;
}

/* packets of whole frames: frames [first, first + k) that fit in room */
static uint32_t fx_frames_from(void *bp, uint32_t first, uint32_t room)
{
    struct fx_frames *f = bp;
    uint32_t n = f->n < 2 ? f->n : 2, k = 0, size = 4;
    if (first >= n) {
        f->n = 0;
        return 0;
    }
    memmove(&f->f[0], &f->f[first], (n - first) * sizeof f->f[0]);
    while (first + k < n && size + 4 + f->f[k].len <= room)
        size += 4 + f->f[k++].len;
    f->n = k;
    return k;
}

static const struct mtp_bp_desc fx_bps[FX_N_BPS] = {
    [FX_BP_SEG] = { "seg", sizeof(struct fx_seg), fx_seg_hdr_len, fx_seg_write,
                    offsetof(struct fx_seg, data), -1, 0, NULL },
    [FX_BP_ACK] = { "ack", sizeof(struct fx_ack), fx_ack_hdr_len, fx_ack_write, -1, 4, 0, NULL },
    [FX_BP_FRAMES] = { "frames", sizeof(struct fx_frames), fx_frames_hdr_len, fx_frames_write,
                       -1, -1, 2, fx_frames_nested, fx_frames_from },
};

/* seq = [bp.seq, prev.seq + prev.payload_len, prev.seq + prev.payload_len] */
static void fx_seq_rule(void *cur, const void *bp, const void *prev, uint32_t prev_len,
                        enum mtp_seg_pos pos)
{
    struct fx_seg *c = cur;
    const struct fx_seg *b = bp, *p = prev;
    c->seq = (pos == MTP_SEG_FIRST || pos == MTP_SEG_ONLY) ? b->seq : p->seq + prev_len;
    c->pos = (uint16_t)pos;
    c->prev_len = prev_len;
}

static const struct mtp_srule_desc fx_srules[] = { { "seq_rule", FX_BP_SEG, fx_seq_rule, 0, 0 } };

/* acks: a newer cumulative ack makes an older pending one useless; tag 99 keeps the older */
static int fx_ack_merge(const void *older, const void *newer)
{
    const struct fx_ack *o = older, *n = newer;
    if (n->tag == 99)
        return MTP_COALESCE_DROP_NEWER;
    return n->ack >= o->ack ? MTP_COALESCE_DROP_OLDER : MTP_COALESCE_NONE;
}

static const struct mtp_coalesce_desc fx_coalesce[] = {
    { "ack_merge", FX_BP_ACK, FX_BP_ACK, fx_ack_merge },
};

static void fx_conn_init(void *ctx)
{
    struct fx_conn *c = ctx;
    memset(c, 0, sizeof *c);
    c->state = 7;
}

static void fx_global_init(void *ctx)
{
    struct fx_global *g = ctx;
    g->count = 1000;
}

static const uint16_t fx_conn_timers[] = { FX_EV_TICK };

static const struct mtp_ctx_desc fx_ctxs[FX_N_CTXS] = {
    [FX_CTX_CONN] = { "conn", MTP_GRAN_FLOW, sizeof(struct fx_conn), 8, fx_conn_init, 1,
                      fx_conn_timers },
    [FX_CTX_G] = { "g", MTP_GRAN_GLOBAL, sizeof(struct fx_global), 0, fx_global_init, 0, NULL },
};

static const struct mtp_event_desc fx_events[FX_N_EVENTS] = {
    [FX_EV_OP] = { "op", MTP_EV_APP, sizeof(struct fx_op), FX_CTX_CONN, 1, 1 },
    [FX_EV_PKT] = { "pkt", MTP_EV_NET, sizeof(struct fx_pkt), FX_CTX_CONN, 1, 0 },
    [FX_EV_TICK] = { "tick", MTP_EV_TIMER, 0, FX_CTX_CONN, 1, 0 },
    [FX_EV_STRICT] = { "strict", MTP_EV_APP, sizeof(struct fx_op), FX_CTX_CONN, 1, 0 },
    [FX_EV_GLOBAL] = { "global", MTP_EV_APP, 0, -1, 1, 0 },
    [FX_EV_NOCHAIN] = { "nochain", MTP_EV_APP, 0, -1, 0, 0 },
};

static struct mtp_key fx_key(uint32_t id)
{
    struct mtp_key k;
    memset(&k, 0, sizeof k);
    memcpy(k.b, &id, sizeof id);
    return k;
}

static void fx_emit_seg(struct mtp_exec *x, const struct fx_op *o, int from_unit)
{
    struct fx_seg s;
    memset(&s, 0, sizeof s);
    s.seq = (uint32_t)o->c;
    s.flags = 0x5a;
    s.data.uid = o->a;
    s.data.off = o->b;
    s.data.len = o->len;
    s.data.flags = from_unit ? MTP_DATA_FROM_UNIT : 0;
    s.data.addr = from_unit ? 0 : o->addr;
    struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_PKT_GEN);
    if (!i)
        return;
    i->arena_off = mtp_ibuf_copy(x->out, &s, sizeof s);
    i->u.gen.bp = FX_BP_SEG;
    i->u.gen.srule = o->srule ? MTP_NONE : 0;
    i->u.gen.queue = o->queue;
    i->u.gen.max_seg = o->max_seg;
    i->u.gen.dst_ip = 0x0a000002;
    i->u.gen.tos = 0x10;
}

static void fx_proc_op(struct mtp_exec *x, const struct fx_op *o, struct fx_conn *c)
{
    struct mtp_instr *i;
    switch (o->op) {
    case FX_NEW_CTX: {
        struct fx_conn init;
        fx_conn_init(&init);
        init.state = (uint32_t)o->a;
        if ((i = mtp_ibuf_push(x->out, MTP_OP_NEW_CTX))) {
            i->ctx_type = FX_CTX_CONN;
            i->key = *x->key;
            i->arena_off = mtp_ibuf_copy(x->out, &init, sizeof init);
        }
        /* acts on the new instance: must not run twice for a duplicate request */
        if ((i = mtp_ibuf_push(x->out, MTP_OP_NOTIFY))) {
            i->flags = MTP_IF_EXPLICIT;
            i->ctx_type = FX_CTX_CONN;
            i->key = *x->key;
            i->u.note.code = 300;
            i->u.note.value = o->a;
        }
        break;
    }
    case FX_NEW_CTX_SEND: /* a first send: the instance, its message, its first packet */
        fx_proc_op(x, &(struct fx_op){ .op = FX_NEW_CTX, .a = o->a }, c);
        fx_proc_op(x, &(struct fx_op){ .op = FX_NEW_TX, .a = 0, .b = o->len, .addr = o->addr },
                   c);
        fx_proc_op(x, &(struct fx_op){ .op = FX_GEN_SEG, .a = 0, .b = 0, .len = o->len,
                                       .c = o->c, .srule = 1 }, c);
        break;
    case FX_OPEN: /* new_ctx with the event's id, then a unit of the event's context */
        if ((i = mtp_ibuf_push(x->out, MTP_OP_NEW_CTX))) {
            i->ctx_type = (uint16_t)o->b;
            i->key = *x->key;
            i->key.b[MTP_KEY_BYTES - 1] ^= (uint8_t)o->c;
        }
        if ((i = mtp_ibuf_push(x->out, MTP_OP_NEW_RX_DATA)))
            i->u.unit.size = MTP_SIZE_INF;
        break;
    case FX_DEL_CTX:
        mtp_ibuf_push(x->out, MTP_OP_DEL_CTX);
        break;
    case FX_DEL_THEN_NOTE:
        mtp_ibuf_push(x->out, MTP_OP_DEL_CTX);
        if ((i = mtp_ibuf_push(x->out, MTP_OP_TIMER_START)))
            i->u.timer.dur_ns = 5;
        break;
    case FX_NEW_RX:
    case FX_NEW_TX:
        if ((i = mtp_ibuf_push(x->out, o->op == FX_NEW_RX ? MTP_OP_NEW_RX_DATA
                                                           : MTP_OP_NEW_TX_DATA))) {
            i->u.unit.uid = o->a;
            i->u.unit.size = o->b;
            i->u.unit.addr = o->addr;
        }
        break;
    case FX_ADD_RX:
    case FX_RX_FLUSH:
    case FX_ADD_TX:
    case FX_TX_FLUSH: {
        static const uint8_t ops[] = { [FX_ADD_RX] = MTP_OP_ADD_RX_SEG,
                                       [FX_RX_FLUSH] = MTP_OP_RX_FLUSH,
                                       [FX_ADD_TX] = MTP_OP_ADD_TX_DATA,
                                       [FX_TX_FLUSH] = MTP_OP_TX_FLUSH };
        if ((i = mtp_ibuf_push(x->out, (enum mtp_op)ops[o->op]))) {
            i->u.seg.uid = o->a;
            i->u.seg.off = o->b;
            i->u.seg.len = o->len;
            i->u.seg.addr = o->addr;
        }
        break;
    }
    case FX_GEN_SEG:
        fx_emit_seg(x, o, 1);
        break;
    case FX_GEN_RAW:
        fx_emit_seg(x, o, 0);
        break;
    case FX_GEN_ACK: {
        struct fx_ack a = { (uint32_t)o->c, (uint32_t)o->b };
        if ((i = mtp_ibuf_push(x->out, MTP_OP_PKT_GEN))) {
            i->arena_off = mtp_ibuf_copy(x->out, &a, sizeof a);
            i->u.gen.bp = FX_BP_ACK;
            i->u.gen.srule = MTP_NONE;
            i->u.gen.queue = o->queue;
            i->u.gen.dst_ip = o->addr ? (uint32_t)o->addr : 0x0a000003; /* addr: dst */
            i->u.gen.src_ip = 0x0a000009;
        }
        break;
    }
    case FX_ACK_THEN_DEL: /* a last control packet and the end, in one chain */
        fx_proc_op(x, &(struct fx_op){ .op = FX_GEN_ACK, .c = o->c, .b = o->b,
                                       .queue = o->queue, .addr = o->addr }, c);
        mtp_ibuf_push(x->out, MTP_OP_DEL_CTX);
        break;
    case FX_GEN_FRAMES: {
        struct fx_frames f;
        memset(&f, 0, sizeof f);
        f.n = 2;
        f.f[0] = (struct mtp_data){ .uid = o->a, .off = o->b, .len = o->len,
                                    .flags = MTP_DATA_FROM_UNIT };
        f.f[1] = (struct mtp_data){ .uid = o->a, .off = o->b2, .len = o->len2,
                                    .flags = MTP_DATA_FROM_UNIT };
        if ((i = mtp_ibuf_push(x->out, MTP_OP_PKT_GEN))) {
            i->arena_off = mtp_ibuf_copy(x->out, &f, sizeof f);
            i->u.gen.bp = FX_BP_FRAMES;
            i->u.gen.srule = MTP_NONE;
            i->u.gen.queue = o->queue;
        }
        break;
    }
    case FX_TIMER_START:
        if ((i = mtp_ibuf_push(x->out, MTP_OP_TIMER_START))) {
            i->u.timer.id = (uint16_t)o->a;
            i->u.timer.dur_ns = o->b;
        }
        break;
    case FX_TIMER_STOP:
        if ((i = mtp_ibuf_push(x->out, MTP_OP_TIMER_STOP)))
            i->u.timer.id = (uint16_t)o->a;
        break;
    case FX_SET_RATE:
    case FX_SET_PRIO:
        if ((i = mtp_ibuf_push(x->out, o->op == FX_SET_RATE ? MTP_OP_SET_QUEUE_RATE
                                                             : MTP_OP_SET_QUEUE_PRIO))) {
            i->u.sched.queue = (uint16_t)o->a;
            i->u.sched.value = o->b;
        }
        break;
    case FX_SET_FLOW_PRIO:
        if ((i = mtp_ibuf_push(x->out, MTP_OP_SET_FLOW_PRIO)))
            i->u.sched.value = o->a;
        break;
    case FX_NOTIFY:
        if ((i = mtp_ibuf_push(x->out, MTP_OP_NOTIFY))) {
            i->u.note.code = (uint32_t)o->a;
            i->u.note.value = o->b;
        }
        break;
    case FX_LOG:
        if (c && c->nlog < 16)
            c->log[c->nlog++] = (uint32_t)o->a;
        break;
    case FX_ASSERT:
        mtp_assert_failed(x, "fixture.mtp", 42, "ev.a == 0");
        break;
    case FX_FLOOD:
        for (int k = 0; k < 1000; k++)
            mtp_ibuf_push(x->out, MTP_OP_NOTIFY);
        break;
    }
}

static int fx_dispatch(struct mtp_exec *x, uint16_t type, const void *ev, void *ctx, void *sp,
                       int use_else)
{
    (void)sp;
    switch (type) {
    case FX_EV_OP:
    case FX_EV_STRICT:
        /* the else chain runs the same processor without a context */
        fx_proc_op(x, ev, use_else ? NULL : ctx);
        return 1;
    case FX_EV_PKT: {
        const struct fx_pkt *p = ev;
        struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_ADD_RX_SEG);
        if (i) {
            i->u.seg.uid = 0;
            i->u.seg.off = p->seq;
            i->u.seg.len = p->data.len;
            i->u.seg.addr = p->data.addr;
        }
        return 1;
    }
    case FX_EV_TICK: {
        struct fx_conn *c = ctx;
        c->fires++;
        /* state 9: a timer that restarts itself with a zero duration */
        struct mtp_instr *i = c->state == 9 ? mtp_ibuf_push(x->out, MTP_OP_TIMER_START) : NULL;
        if (i)
            i->u.timer.dur_ns = 0;
        return 1;
    }
    case FX_EV_GLOBAL:
        ((struct fx_global *)x->globals[FX_CTX_G])->count++;
        return 1;
    }
    return 0;
}

/* packet: [u32 conn id][u32 seq][payload]; id 0xffffffff is malformed */
static int fx_parse(const struct mtp_rx_pkt *pkt, struct mtp_evsink *out)
{
    uint32_t id = fx_get32(pkt->l4), seq = fx_get32(pkt->l4 + 4);
    if (id == 0xffffffffu)
        return MTP_PARSE_MALFORMED;
    struct fx_pkt e;
    memset(&e, 0, sizeof e);
    e.seq = seq;
    e.data.addr = (mtp_addr_t)(uintptr_t)(pkt->l4 + 8);
    e.data.len = pkt->l4_len - 8;
    struct mtp_key k = fx_key(id);
    mtp_evsink_push(out, FX_EV_PKT, &e, sizeof e, &k);
    return MTP_PARSE_OK;
}

static const struct mtp_program fx_program = {
    .abi_version = MTP_ABI_VERSION,
    .name = "fixture",
    .source = "core/tests/fixture_prog.h",
    .ip_proto = 253, /* RFC 3692 experimental */
    .steer_port_off = -1,
    .l4_min_len = 8,
    .n_events = FX_N_EVENTS,
    .events = fx_events,
    .n_ctxs = FX_N_CTXS,
    .ctxs = fx_ctxs,
    .scratch_size = 16,
    .n_bps = FX_N_BPS,
    .bps = fx_bps,
    .n_srules = 1,
    .srules = fx_srules,
    .n_coalesce = 1,
    .coalesce = fx_coalesce,
    .sched = NULL,
    .parse = fx_parse,
    .dispatch = fx_dispatch,
};

/* Test helpers: post one `op` event for connection `id`. */
static inline int fx_post(struct mtp_engine *e, uint32_t id, struct fx_op o, uint64_t now)
{
    struct mtp_key k = fx_key(id);
    return mtp_engine_post(e, FX_EV_OP, &k, &o, sizeof o, now);
}

static inline struct fx_conn *fx_conn(struct mtp_engine *e, uint32_t id)
{
    struct mtp_key k = fx_key(id);
    return mtp_engine_ctx(e, FX_CTX_CONN, &k);
}

/* Notifications recorded by tests. */
struct fx_notes {
    struct mtp_note v[64];
    int n;
};

static inline void fx_note_cb(void *user, const struct mtp_note *n)
{
    struct fx_notes *r = user;
    if (r->n < 64)
        r->v[r->n++] = *n;
}

static inline const struct mtp_note *fx_last_note(const struct fx_notes *r, uint32_t code)
{
    for (int i = r->n; i-- > 0;)
        if (r->v[i].code == code)
            return &r->v[i];
    return NULL;
}

#endif
