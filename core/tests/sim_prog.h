/*
 * sim_prog.h — a tiny transport program written by hand against program.h, for the stack
 * tests: one flow context, a 16-byte header, go-back-N over cumulative acks, a fixed
 * retransmission timeout. It is what mtpc would generate for a minimal reliable byte stream
 * (events, a context with a timer, one blueprint with a checksum, a parser, a dispatch).
 *
 * Header: sport(2) dport(2) seq(4) ack(4) flags(1) pad(1) csum(2). seq is the stream offset
 * of the first payload byte (low 32 bits), ack the next byte expected.
 */
#ifndef SIM_PROG_H
#define SIM_PROG_H

#include <stddef.h>
#include <string.h>
#include "mtp/program.h"

#define SP_PROTO 253            /* RFC 3692 experimental */
#define SP_HDR 16
#define SP_CSUM_OFF 14
#define SP_DATA 1u
#define SP_ACK 2u
#define SP_WND (32u * 1024u)    /* bytes in flight */
#define SP_RTO_NS (5u * 1000u * 1000u)

enum { SP_EV_OPEN, SP_EV_SEND, SP_EV_READ, SP_EV_PKT, SP_EV_RTO, SP_N_EVENTS };

struct sp_open { uint32_t peer_ip; uint16_t lport, rport; };
struct sp_buf { uint64_t addr; uint32_t len; uint32_t pad; };
struct sp_pkt { uint32_t seq, ack; uint32_t flags, len; uint64_t addr; };
struct sp_rto { uint32_t unused; };

struct sp_flow {
    uint32_t peer_ip;
    uint16_t lport, rport;
    uint64_t snd_una, snd_nxt, snd_max, snd_end;
    uint64_t rcv_nxt;
    uint32_t timer_on;
    uint32_t rtos;
};

struct sp_bp {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint8_t pad[3];
    struct mtp_data data;
};

static inline struct mtp_key sp_key(uint32_t peer_ip, uint16_t lport, uint16_t rport)
{
    struct mtp_key k;
    memset(&k, 0, sizeof k);
    memcpy(k.b, &peer_ip, 4);
    memcpy(k.b + 4, &lport, 2);
    memcpy(k.b + 6, &rport, 2);
    return k;
}

static inline void sp_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void sp_put32(uint8_t *p, uint32_t v)
{
    sp_put16(p, (uint16_t)(v >> 16));
    sp_put16(p + 2, (uint16_t)v);
}
static inline uint16_t sp_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t sp_get32(const uint8_t *p) { return (uint32_t)sp_get16(p) << 16 | sp_get16(p + 2); }

static uint32_t sp_hdr_len(const void *bp)
{
    (void)bp;
    return SP_HDR;
}

static void sp_write_hdr(const void *v, uint8_t *dst, uint32_t payload_len)
{
    const struct sp_bp *b = v;
    uint32_t seq = b->seq;
    if (payload_len)
        seq = (uint32_t)b->data.off; /* the engine advances off per segment */
    sp_put16(dst, b->sport);
    sp_put16(dst + 2, b->dport);
    sp_put32(dst + 4, seq);
    sp_put32(dst + 8, b->ack);
    dst[12] = b->flags;
    dst[13] = 0;
    sp_put16(dst + SP_CSUM_OFF, 0);
}

static int sp_parse(const struct mtp_rx_pkt *pkt, struct mtp_evsink *out)
{
    if (pkt->l4_len < SP_HDR)
        return MTP_PARSE_MALFORMED;
    const uint8_t *h = pkt->l4;
    struct sp_pkt ev = {
        .seq = sp_get32(h + 4), .ack = sp_get32(h + 8), .flags = h[12],
        .len = pkt->l4_len - SP_HDR, .addr = (uint64_t)(uintptr_t)(h + SP_HDR),
    };
    struct mtp_key k = sp_key(pkt->ip.src, sp_get16(h + 2), sp_get16(h));
    mtp_evsink_push(out, SP_EV_PKT, &ev, sizeof ev, &k);
    return MTP_PARSE_OK;
}

/* ----------------------------------------------------------- processors */

static void sp_gen(struct mtp_exec *x, const struct sp_flow *f, uint8_t flags, uint64_t off,
                   uint32_t len)
{
    struct sp_bp bp;
    memset(&bp, 0, sizeof bp);
    bp.sport = f->lport;
    bp.dport = f->rport;
    bp.seq = (uint32_t)f->snd_nxt;
    bp.ack = (uint32_t)f->rcv_nxt;
    bp.flags = flags;
    if (len) {
        bp.data.uid = 0;
        bp.data.off = off;
        bp.data.len = len;
        bp.data.flags = MTP_DATA_FROM_UNIT;
    }
    uint32_t at = mtp_ibuf_copy(x->out, &bp, sizeof bp);
    struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_PKT_GEN);
    if (!i || at == UINT32_MAX)
        return;
    i->arena_off = at;
    i->u.gen.bp = 0;
    i->u.gen.srule = MTP_NONE;
    i->u.gen.dst_ip = f->peer_ip;
}

static void sp_timer(struct mtp_exec *x, struct sp_flow *f, int start)
{
    struct mtp_instr *i = mtp_ibuf_push(x->out, start ? MTP_OP_TIMER_START : MTP_OP_TIMER_STOP);
    if (!i)
        return;
    i->u.timer.id = 0;
    i->u.timer.dur_ns = SP_RTO_NS;
    f->timer_on = (uint32_t)start;
}

/* New data from snd_nxt, as far as the window allows; one blueprint, segmented by the engine. */
static void sp_send_more(struct mtp_exec *x, struct sp_flow *f)
{
    uint64_t limit = f->snd_una + SP_WND < f->snd_end ? f->snd_una + SP_WND : f->snd_end;
    if (f->snd_nxt >= limit)
        return;
    sp_gen(x, f, SP_DATA | SP_ACK, f->snd_nxt, (uint32_t)(limit - f->snd_nxt));
    f->snd_nxt = limit;
    if (f->snd_nxt > f->snd_max)
        f->snd_max = f->snd_nxt;
    if (!f->timer_on)
        sp_timer(x, f, 1);
}

static void sp_open(struct mtp_exec *x, const struct sp_open *o)
{
    struct sp_flow f;
    memset(&f, 0, sizeof f);
    f.peer_ip = o->peer_ip;
    f.lport = o->lport;
    f.rport = o->rport;
    struct mtp_key k = sp_key(o->peer_ip, o->lport, o->rport);
    uint32_t at = mtp_ibuf_copy(x->out, &f, sizeof f);
    struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_NEW_CTX);
    if (!i)
        return;
    i->ctx_type = 0;
    i->key = k;
    i->arena_off = at;
    for (int tx = 0; tx <= 1; tx++) {
        i = mtp_ibuf_push(x->out, tx ? MTP_OP_NEW_TX_DATA : MTP_OP_NEW_RX_DATA);
        if (!i)
            return;
        i->flags = MTP_IF_EXPLICIT;
        i->ctx_type = 0;
        i->key = k;
        i->u.unit.uid = 0;
        i->u.unit.size = MTP_SIZE_INF;
    }
}

static void sp_app_send(struct mtp_exec *x, const struct sp_buf *b, struct sp_flow *f)
{
    struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_ADD_TX_DATA);
    if (!i)
        return;
    i->u.seg.uid = 0;
    i->u.seg.addr = b->addr;
    i->u.seg.len = b->len;
    f->snd_end += b->len;
    sp_send_more(x, f);
}

static void sp_app_read(struct mtp_exec *x, const struct sp_buf *b)
{
    struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_RX_FLUSH);
    if (!i)
        return;
    i->u.seg.uid = 0;
    i->u.seg.addr = b->addr;
    i->u.seg.len = b->len;
}

static void sp_net_pkt(struct mtp_exec *x, const struct sp_pkt *p, struct sp_flow *f)
{
    if (p->flags & SP_ACK) {
        uint32_t adv = p->ack - (uint32_t)f->snd_una;
        if (adv > 0 && adv <= f->snd_max - f->snd_una) {
            struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_TX_FLUSH);
            if (i) {
                i->u.seg.uid = 0;
                i->u.seg.len = adv;
            }
            f->snd_una += adv;
            if (f->snd_nxt < f->snd_una)
                f->snd_nxt = f->snd_una;
            sp_timer(x, f, f->snd_una != f->snd_max); /* restart on progress, stop when idle */
        }
    }
    if ((p->flags & SP_DATA) && p->len) {
        if (p->seq == (uint32_t)f->rcv_nxt) {
            struct mtp_instr *i = mtp_ibuf_push(x->out, MTP_OP_ADD_RX_SEG);
            if (i) {
                i->u.seg.uid = 0;
                i->u.seg.off = f->rcv_nxt;
                i->u.seg.len = p->len;
                i->u.seg.addr = p->addr;
            }
            f->rcv_nxt += p->len;
        }
        sp_gen(x, f, SP_ACK, 0, 0); /* every data packet is acknowledged */
    }
    sp_send_more(x, f);
}

static void sp_rto(struct mtp_exec *x, struct sp_flow *f)
{
    f->timer_on = 0;
    f->rtos++;
    f->snd_nxt = f->snd_una; /* go back N */
    sp_send_more(x, f);
}

static int sp_dispatch(struct mtp_exec *x, uint16_t type, const void *ev, void *ctx, void *sp,
                       int use_else)
{
    (void)sp;
    (void)use_else;
    switch (type) {
    case SP_EV_OPEN: sp_open(x, ev); break;
    case SP_EV_SEND: sp_app_send(x, ev, ctx); break;
    case SP_EV_READ: sp_app_read(x, ev); break;
    case SP_EV_PKT: sp_net_pkt(x, ev, ctx); break;
    case SP_EV_RTO: sp_rto(x, ctx); break;
    default: return 0;
    }
    return 1;
}

static const struct mtp_event_desc sp_events[SP_N_EVENTS] = {
    [SP_EV_OPEN] = { "open", MTP_EV_APP, sizeof(struct sp_open), -1, 1, 0 },
    [SP_EV_SEND] = { "send", MTP_EV_APP, sizeof(struct sp_buf), 0, 1, 0 },
    [SP_EV_READ] = { "read", MTP_EV_APP, sizeof(struct sp_buf), 0, 1, 0 },
    [SP_EV_PKT] = { "pkt", MTP_EV_NET, sizeof(struct sp_pkt), 0, 1, 0 },
    [SP_EV_RTO] = { "rto", MTP_EV_TIMER, sizeof(struct sp_rto), 0, 1, 0 },
};

static const uint16_t sp_timer_events[1] = { SP_EV_RTO };

static const struct mtp_ctx_desc sp_ctxs[1] = {
    { .name = "flow", .granularity = MTP_GRAN_FLOW, .size = sizeof(struct sp_flow),
      .key_size = 8, .init = NULL, .n_timers = 1, .timer_event = sp_timer_events },
};

static const struct mtp_bp_desc sp_bps[1] = {
    { .name = "seg", .size = sizeof(struct sp_bp), .hdr_len = sp_hdr_len,
      .write_hdr = sp_write_hdr, .data_off = offsetof(struct sp_bp, data),
      .csum_off = SP_CSUM_OFF },
};

static const struct mtp_program sp_program = {
    .abi_version = MTP_ABI_VERSION,
    .name = "sim_prog",
    .source = "core/tests/sim_prog.h",
    .ip_proto = SP_PROTO,
    .steer_port_off = 2,
    .l4_min_len = SP_HDR,
    .n_events = SP_N_EVENTS,
    .events = sp_events,
    .n_ctxs = 1,
    .ctxs = sp_ctxs,
    .n_bps = 1,
    .bps = sp_bps,
    .parse = sp_parse,
    .dispatch = sp_dispatch,
};

#endif
