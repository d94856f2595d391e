/*
 * tcp_fixture.h — state-machine tests of tcp.mtp in the style of smoltcp's TCP tests: put a
 * connection context in a state, feed one event into one generated processor or into the
 * generated dispatch, then look at the instructions it appended and at the new context.
 * No engine, no clock, no network.
 */
#ifndef TCP_FIXTURE_H
#define TCP_FIXTURE_H

#include <criterion/criterion.h>
#include <string.h>

#include "mtp/program.h"
#include "tcp.h" /* build/gen/tcp.h */

#define LOCAL_IP 0x0a000001u
#define REMOTE_IP 0x0a000002u
#define LOCAL_PORT 80
#define REMOTE_PORT 40000
#define ISS 1000u        /* our initial sequence number in the fixtures */
#define IRS 5000u        /* the peer's */
#define MSS 1448u        /* 1460 - 12 bytes of timestamps */
#define MS 1000000ull

typedef struct mtpg_tcp_tcp_seg seg_bp;

struct fx {
    struct mtp_instr iv[256];
    uint8_t arena[64 * 1024] __attribute__((aligned(8)));
    struct mtp_ibuf out;
    struct mtp_exec x;
    struct mtpg_tcp_conn c;
    struct mtpg_tcp_listener l;
    struct mtpg_tcp_syn_guard g;
    struct mtpg_tcp_guard guard;
    void *globals[MTPG_TCP_N_CTXS];
    struct mtpg_tcp_sp sp;
};

static struct fx F;

static inline void fx_reset_out(void)
{
    memset(&F.out, 0, sizeof F.out);
    F.out.v = F.iv;
    F.out.cap = 256;
    F.out.arena = F.arena;
    F.out.arena_cap = sizeof F.arena;
    memset(&F.sp, 0, sizeof F.sp);
}

static inline void fx_init(uint64_t now)
{
    memset(&F, 0, sizeof F);
    fx_reset_out();
    F.x.out = &F.out;
    F.x.now_ns = now;
    F.x.secret[0] = 1;
    F.x.secret[1] = 2;
    F.x.rng = 42;
    mtpg_tcp_ctx_conn_init(&F.c);
    mtpg_tcp_ctx_listener_init(&F.l);
    F.globals[MTPG_TCP_CTX_SYN_GUARD] = &F.g;
    mtpg_tcp_ctx_guard_init(&F.guard);
    F.globals[MTPG_TCP_CTX_GUARD] = &F.guard;
    F.x.globals = F.globals;
}

/* A connection in ESTABLISHED after a handshake with every option (TS, SACK, wscale 7). */
static inline void fx_established(void)
{
    struct mtpg_tcp_conn *c = &F.c;
    c->state = MTPG_TCP_ESTABLISHED;
    c->local_ip = LOCAL_IP;
    c->remote_ip = REMOTE_IP;
    c->local_port = LOCAL_PORT;
    c->remote_port = REMOTE_PORT;
    c->iss = ISS;
    c->snd_una = c->snd_nxt = c->snd_max = ISS + 1;
    c->recover = ISS;
    c->rtx_next = ISS + 1;
    c->irs = IRS;
    c->rcv_nxt = c->rcv_adv = c->last_ack_sent = IRS + 1;
    c->mss = MSS;
    c->ts_ok = c->sack_ok = true;
    c->snd_wscale = c->rcv_wscale = 7;
    c->snd_wnd = c->max_snd_wnd = 1024u * 1024u;
    c->cwnd = 10 * MSS;
    c->ts_recent = 777;
    c->rto = 5 * MS;
}

/* The connection sent `n` bytes that are not acknowledged yet. */
static inline void fx_in_flight(uint32_t n)
{
    F.c.app_off += n;
    F.c.snd_nxt += n;
    F.c.snd_max = F.c.snd_nxt;
    F.c.rto_running = true;
}

/* A segment from the peer, as the parser makes it (ACK flag, TS option, our port pair). */
static inline struct mtpg_tcp_seg fx_seg(uint32_t seq, uint32_t ack, uint32_t len)
{
    struct mtpg_tcp_seg s;
    memset(&s, 0, sizeof s);
    s.local_ip = LOCAL_IP;
    s.remote_ip = REMOTE_IP;
    s.local_port = LOCAL_PORT;
    s.remote_port = REMOTE_PORT;
    s.seq = seq;
    s.ack = ack;
    s.f_ack = true;
    s.window = 8192; /* << 7 = 1 MiB */
    s.o.mss = 536;
    s.o.has_ts = true;
    s.o.tsval = 800;
    s.o.tsecr = 0;
    s.data.addr = len ? 0x100000 : 0;
    s.data.len = len;
    return s;
}

static inline int fx_run(uint16_t type, const void *ev, void *ctx)
{
    int n = mtpg_tcp_program.dispatch(&F.x, type, ev, ctx, &F.sp, ctx == NULL);
    cr_assert_eq(F.x.assert_failures, 0u, "an assert() of tcp.mtp failed");
    cr_assert_eq(F.out.overflow, 0u);
    return n;
}

static inline int fx_seg_in(const struct mtpg_tcp_seg *s)
{
    return fx_run(MTPG_TCP_EV_SEG, s, &F.c);
}

/* ----------------------------------------------------------- instructions */

static inline int fx_count(enum mtp_op op)
{
    int n = 0;
    for (uint32_t i = 0; i < F.out.n; i++)
        n += F.iv[i].op == op;
    return n;
}

static inline const struct mtp_instr *fx_nth(enum mtp_op op, int nth)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == op && nth-- == 0)
            return &F.iv[i];
    return NULL;
}

/* The blueprint of the nth pkt_gen. */
static inline const seg_bp *fx_pkt(int nth)
{
    const struct mtp_instr *in = fx_nth(MTP_OP_PKT_GEN, nth);
    cr_assert(in, "no packet #%d (%d generated)", nth, fx_count(MTP_OP_PKT_GEN));
    cr_assert_eq(in->u.gen.bp, MTPG_TCP_BP_TCP_SEG);
    return (const seg_bp *)(F.arena + in->arena_off);
}

static inline const struct mtpg_tcp_tcp_opt *fx_opt(const seg_bp *b, uint8_t kind)
{
    for (uint32_t i = 0; i < b->opts.len; i++)
        if (b->opts.v[i].kind == kind)
            return &b->opts.v[i];
    return NULL;
}

static inline int fx_has_note(uint32_t code, uint64_t *value)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == MTP_OP_NOTIFY && F.iv[i].u.note.code == code) {
            if (value)
                *value = F.iv[i].u.note.value;
            return 1;
        }
    return 0;
}

/* The timer instruction for timer `id`, or NULL. */
static inline const struct mtp_instr *fx_timer(enum mtp_op op, uint16_t id)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == op && F.iv[i].u.timer.id == id)
            return &F.iv[i];
    return NULL;
}

/* The last instruction for timer `id` (a later start restarts an earlier one). */
static inline const struct mtp_instr *fx_last_timer(enum mtp_op op, uint16_t id)
{
    const struct mtp_instr *t = NULL;
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == op && F.iv[i].u.timer.id == id)
            t = &F.iv[i];
    return t;
}

/* A reset connection: RST out, the shim told, the context deleted after the RST was issued
 * (the engine still sends it). */
static inline void fx_assert_reset_and_close(void)
{
    int rst_at = -1, del_at = -1;
    for (uint32_t i = 0; i < F.out.n; i++) {
        if (F.out.v[i].op == MTP_OP_PKT_GEN &&
            ((const seg_bp *)(F.out.arena + F.out.v[i].arena_off))->rst)
            rst_at = (int)i;
        if (F.out.v[i].op == MTP_OP_DEL_CTX && del_at < 0)
            del_at = (int)i;
    }
    cr_assert_geq(rst_at, 0, "a RST");
    cr_assert_gt(del_at, rst_at, "del_ctx after the RST");
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_CLOSED, NULL));
    cr_assert_null(fx_timer(MTP_OP_TIMER_START, MTPG_TCP_TIMER_CONN_LINGER_TIMER));
}

#define TIMER_RTO MTPG_TCP_TIMER_CONN_RTO_TIMER
#define TIMER_DELACK MTPG_TCP_TIMER_CONN_DELACK_TIMER
#define TIMER_PERSIST MTPG_TCP_TIMER_CONN_PERSIST_TIMER
#define TIMER_KA MTPG_TCP_TIMER_CONN_KA_TIMER
#define TIMER_LINGER MTPG_TCP_TIMER_CONN_LINGER_TIMER

#endif
