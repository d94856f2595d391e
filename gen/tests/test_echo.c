/*
 * test_echo.c — the C that mtpc generates from gen/tests/ok/echo.mtp, exercised directly:
 * parser (valid and malformed packets), blueprint serialiser, segmentation rule, coalescing
 * rule, dispatch chains (main, else, stop) and the instructions they emit, and the descriptor.
 * Built with the generated build/tmp/gen/echo.c (see gen/gen.mk).
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "echo.h"

#define IP_A 0x0a000001u
#define IP_B 0x0a000002u

static uint8_t pkt_bytes[64];

/* an echo datagram: header (14 bytes) + payload */
static struct mtp_rx_pkt make_pkt(uint16_t sport, uint16_t dport, uint32_t seq, uint8_t vf,
                                  const char *payload, int len_adjust)
{
    size_t n = strlen(payload);
    uint16_t len = (uint16_t)(14 + n + (size_t)len_adjust);
    uint8_t h[14] = {(uint8_t)(sport >> 8), (uint8_t)sport, (uint8_t)(dport >> 8), (uint8_t)dport,
                     (uint8_t)(seq >> 24), (uint8_t)(seq >> 16), (uint8_t)(seq >> 8), (uint8_t)seq,
                     (uint8_t)(len >> 8), (uint8_t)len, vf, 0, 0, 0};
    memcpy(pkt_bytes, h, 14);
    memcpy(pkt_bytes + 14, payload, n);
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = pkt_bytes;
    p.l4_len = (uint32_t)(14 + n);
    p.ip.src = IP_A;
    p.ip.dst = IP_B;
    p.ip.hdr_len = 20;
    p.ip.total_len = (uint16_t)(20 + 14 + n);
    p.ip.proto = 253;
    return p;
}

static struct mtp_event evs[4];
static struct mtp_evsink sink;

static void reset_sink(void)
{
    memset(evs, 0, sizeof evs);
    sink = (struct mtp_evsink){.v = evs, .n = 0, .cap = 4};
}

Test(echo_parser, valid_request_produces_event_with_port_key)
{
    reset_sink();
    struct mtp_rx_pkt p = make_pkt(4000, 7, 42, 0x11, "hello", 0);
    cr_assert_eq(mtpg_echo_parse_parse_echo(&p, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 1);
    cr_expect_eq(evs[0].type, MTPG_ECHO_EV_ECHO_REQ);
    cr_expect_eq(evs[0].has_key, 1);
    struct mtp_key k;
    struct mtpg_echo_port_id id = {.port = 7};
    mtpg_echo_key_port_id(&k, &id);
    cr_expect_eq(memcmp(&k, &evs[0].key, sizeof k), 0);
    cr_expect_eq(k.b[0], 7); /* host order, packed from byte 0 */
    cr_expect_eq(k.b[2], 0);
    const struct mtpg_echo_echo_req *r = (const void *)evs[0].data;
    cr_expect_eq(evs[0].len, sizeof *r);
    cr_expect_eq(r->remote_ip, IP_A);
    cr_expect_eq(r->remote_port, 4000);
    cr_expect_eq(r->seq, 42);
    cr_expect_eq(r->data.len, 5);
    cr_expect_eq(r->data.addr, (mtp_addr_t)(uintptr_t)(pkt_bytes + 14));
}

Test(echo_parser, malformed_and_ignored_packets)
{
    reset_sink();
    struct mtp_rx_pkt p = make_pkt(4000, 7, 42, 0x11, "hello", 0);
    p.l4_len = 13; /* shorter than the fixed header */
    cr_expect_eq(mtpg_echo_parse_parse_echo(&p, &sink), MTP_PARSE_MALFORMED);
    p = make_pkt(4000, 7, 42, 0x21, "hello", 0); /* version 2 */
    cr_expect_eq(mtpg_echo_parse_parse_echo(&p, &sink), MTP_PARSE_MALFORMED);
    p = make_pkt(4000, 7, 42, 0x11, "hello", 1); /* length field disagrees with IPv4 */
    cr_expect_eq(mtpg_echo_parse_parse_echo(&p, &sink), MTP_PARSE_MALFORMED);
    p = make_pkt(4000, 7, 42, 0x12, "hello", 0); /* a reply: not for us, no event */
    cr_expect_eq(mtpg_echo_parse_parse_echo(&p, &sink), MTP_PARSE_OK);
    cr_expect_eq(sink.n, 0);
}

static const struct mtp_bp_desc *bp_desc(void) { return &mtpg_echo_program.bps[MTPG_ECHO_BP_ECHO_BP]; }

Test(echo_blueprint, serialises_big_endian_with_recomputed_length)
{
    struct mtpg_echo_echo_bp b;
    memset(&b, 0, sizeof b);
    b.src_port = 7;
    b.dst_port = 4000;
    b.seq = 42;
    b.version = 1;
    b.flags = 2;
    b.checksum = 0xbeef; /* written as 0: the runtime fills it */
    b.data.len = 5;
    const struct mtp_bp_desc *d = bp_desc();
    cr_assert_eq(d->hdr_len(&b), 14);
    uint8_t out[32];
    memset(out, 0xaa, sizeof out);
    d->write_hdr(&b, out, 5);
    const uint8_t want[14] = {0, 7, 0x0f, 0xa0, 0, 0, 0, 42, 0, 19, 0x12, 0, 0, 0};
    cr_expect_eq(memcmp(out, want, 14), 0, "header bytes differ");
    cr_expect_eq(out[14], 0xaa, "wrote past the header");
    cr_expect_eq(d->csum_off, 12);
    cr_expect_eq(d->data_off, (int32_t)offsetof(struct mtpg_echo_echo_bp, data));
    cr_expect_eq(d->size, sizeof b);
    cr_expect_eq(d->n_nested_data, 0);
}

Test(echo_blueprint, segmentation_rule_first_mid_last_only)
{
    const struct mtp_srule_desc *r = &mtpg_echo_program.srules[0];
    cr_assert_eq(r->bp, MTPG_ECHO_BP_ECHO_BP);
    /* two fields, and `len` follows payload_len: a device cannot segment it */
    cr_expect_eq(r->linear_bytes, 0);
    struct mtpg_echo_echo_bp bp, cur, prev;
    memset(&bp, 0, sizeof bp);
    bp.seq = 100;
    bp.flags = MTPG_ECHO_F_REPLY;
    cur = bp;
    r->apply(&cur, &bp, NULL, 0, MTP_SEG_FIRST);
    cr_expect_eq(cur.seq, 100);
    cr_expect_eq(cur.flags, MTPG_ECHO_F_REPLY | MTPG_ECHO_F_MORE);
    prev = cur;
    cur = bp;
    r->apply(&cur, &bp, &prev, 1000, MTP_SEG_MID);
    cr_expect_eq(cur.seq, 101);
    cr_expect_eq(cur.flags, MTPG_ECHO_F_REPLY | MTPG_ECHO_F_MORE);
    prev = cur;
    cur = bp;
    r->apply(&cur, &bp, &prev, 1000, MTP_SEG_LAST);
    cr_expect_eq(cur.seq, 102);
    cr_expect_eq(cur.flags, MTPG_ECHO_F_REPLY);
    cur = bp;
    r->apply(&cur, &bp, NULL, 0, MTP_SEG_ONLY);
    cr_expect_eq(cur.seq, 100);
    cr_expect_eq(cur.flags, MTPG_ECHO_F_REPLY);
}

Test(echo_blueprint, coalescing_drops_the_older_duplicate_reply)
{
    const struct mtp_coalesce_desc *c = &mtpg_echo_program.coalesce[0];
    struct mtpg_echo_echo_bp a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.seq = b.seq = 9;
    a.dst_port = b.dst_port = 4000;
    cr_expect_eq(c->decide(&a, &b), MTP_COALESCE_DROP_OLDER);
    b.seq = 10;
    cr_expect_eq(c->decide(&a, &b), MTP_COALESCE_NONE);
}

/* --- dispatch -------------------------------------------------------------------------- */

static struct mtp_instr instrs[16];
static uint8_t arena[4096];
static struct mtp_ibuf ibuf;
static struct mtpg_echo_stats stats;
static void *globals[MTPG_ECHO_N_CTXS];
static struct mtp_exec x;

static void reset_exec(void)
{
    memset(instrs, 0, sizeof instrs);
    ibuf = (struct mtp_ibuf){.v = instrs, .cap = 16, .arena = arena, .arena_cap = sizeof arena};
    mtpg_echo_ctx_stats_init(&stats);
    globals[MTPG_ECHO_CTX_STATS] = &stats;
    memset(&x, 0, sizeof x);
    x.out = &ibuf;
    x.now_ns = 1000;
    x.globals = globals;
}

Test(echo_dispatch, request_is_delivered_and_echoed)
{
    reset_exec();
    struct mtpg_echo_port_ctx c;
    mtpg_echo_ctx_port_ctx_init(&c);
    c.port = 7;
    cr_expect_eq(c.idle, MTPG_ECHO_TIMER_PORT_CTX_IDLE);
    struct mtpg_echo_echo_req ev;
    memset(&ev, 0, sizeof ev);
    ev.remote_ip = IP_A;
    ev.remote_port = 4000;
    ev.seq = 42;
    ev.data.addr = 0x1234;
    ev.data.len = 5;
    struct mtpg_echo_scratch sp;
    memset(&sp, 0, sizeof sp);
    int n = mtpg_echo_program.dispatch(&x, MTPG_ECHO_EV_ECHO_REQ, &ev, &c, &sp, 0);
    cr_assert_eq(n, 2);
    const uint8_t want[] = {MTP_OP_NEW_RX_DATA, MTP_OP_NEW_TX_DATA, MTP_OP_ADD_RX_SEG,
                            MTP_OP_RX_FLUSH,    MTP_OP_ADD_TX_DATA, MTP_OP_PKT_GEN,
                            MTP_OP_TX_FLUSH};
    cr_assert_eq(ibuf.n, sizeof want);
    for (size_t i = 0; i < sizeof want; i++)
        cr_expect_eq(instrs[i].op, want[i], "instruction %zu", i);
    cr_expect_eq(instrs[0].u.unit.size, MTP_SIZE_INF);
    cr_expect_eq(instrs[2].u.seg.addr, 0x1234);
    cr_expect_eq(instrs[2].u.seg.len, 5);
    cr_expect_eq(instrs[2].u.seg.off, 0);
    const struct mtp_instr *g = &instrs[5];
    cr_expect_eq(g->u.gen.bp, MTPG_ECHO_BP_ECHO_BP);
    cr_expect_eq(g->u.gen.srule, 0);
    cr_expect_eq(g->u.gen.queue, MTPG_ECHO_Q_DATA);
    cr_expect_eq(g->u.gen.dst_ip, IP_A);
    cr_expect_eq(g->u.gen.max_seg, MTPG_ECHO_MSS);
    struct mtpg_echo_echo_bp bp;
    memcpy(&bp, arena + g->arena_off, sizeof bp);
    cr_expect_eq(bp.src_port, 7);
    cr_expect_eq(bp.dst_port, 4000);
    cr_expect_eq(bp.seq, 42);
    cr_expect_eq(bp.version, 1); /* initialiser of the blueprint */
    cr_expect_eq(bp.flags, MTPG_ECHO_F_REPLY);
    cr_expect_eq(bp.data.flags, MTP_DATA_FROM_UNIT);
    cr_expect_eq(bp.data.uid, 0);
    cr_expect_eq(bp.data.off, 0);
    cr_expect_eq(bp.data.len, 5);
    cr_expect_eq(c.rx_off, 5);
    cr_expect_eq(c.tx_off, 5);
    cr_expect_eq(c.msgs, 1);
    cr_expect(c.rx_open);
    cr_expect_eq(stats.packets, 1);
    cr_expect_eq(stats.bytes, 5);
    cr_expect_eq(ibuf.overflow, 0);
}

Test(echo_dispatch, stop_ends_the_chain)
{
    reset_exec();
    struct mtpg_echo_port_ctx c;
    mtpg_echo_ctx_port_ctx_init(&c);
    c.msgs = mtpg_echo_param_MAX_MSGS;
    struct mtpg_echo_echo_req ev;
    memset(&ev, 0, sizeof ev);
    ev.remote_port = 4000;
    struct mtpg_echo_scratch sp;
    memset(&sp, 0, sizeof sp);
    cr_assert_eq(mtpg_echo_program.dispatch(&x, MTPG_ECHO_EV_ECHO_REQ, &ev, &c, &sp, 0), 1);
    cr_assert_eq(ibuf.n, 1);
    cr_expect_eq(instrs[0].op, MTP_OP_NOTIFY);
    cr_expect_eq(instrs[0].u.note.code, MTPG_ECHO_NOTE_REFUSED);
    cr_expect_eq(instrs[0].u.note.value, 4000);
}

Test(echo_dispatch, else_chain_creates_the_context_and_its_timer)
{
    reset_exec();
    struct mtpg_echo_echo_bind ev = {.port = 7};
    int n = mtpg_echo_program.dispatch(&x, MTPG_ECHO_EV_ECHO_BIND, &ev, NULL, NULL, 1);
    cr_assert_eq(n, 1);
    cr_assert_eq(ibuf.n, 3);
    struct mtp_key k;
    struct mtpg_echo_port_id id = {.port = 7};
    mtpg_echo_key_port_id(&k, &id);
    cr_expect_eq(instrs[0].op, MTP_OP_NEW_CTX);
    cr_expect_eq(instrs[0].ctx_type, MTPG_ECHO_CTX_PORT_CTX);
    cr_expect_eq(memcmp(&instrs[0].key, &k, sizeof k), 0);
    struct mtpg_echo_port_ctx c;
    memcpy(&c, arena + instrs[0].arena_off, sizeof c);
    cr_expect_eq(c.port, 7);
    cr_expect_eq(c.idle, MTPG_ECHO_TIMER_PORT_CTX_IDLE);
    cr_expect_eq(instrs[1].op, MTP_OP_TIMER_START);
    cr_expect_eq(instrs[1].flags, MTP_IF_EXPLICIT);
    cr_expect_eq(instrs[1].ctx_type, MTPG_ECHO_CTX_PORT_CTX);
    cr_expect_eq(memcmp(&instrs[1].key, &k, sizeof k), 0);
    cr_expect_eq(instrs[1].u.timer.id, MTPG_ECHO_TIMER_PORT_CTX_IDLE);
    cr_expect_eq(instrs[1].u.timer.dur_ns, MTPG_ECHO_IDLE);
    cr_expect_eq(instrs[2].op, MTP_OP_NOTIFY);
    cr_expect_eq(instrs[2].u.note.code, MTPG_ECHO_NOTE_BOUND);
    cr_expect_eq(instrs[2].u.note.value, 7);
    /* the main chain of the same event uses the context */
    reset_exec();
    cr_expect_eq(mtpg_echo_program.dispatch(&x, MTPG_ECHO_EV_ECHO_BIND, &ev, &c, NULL, 0), 1);
    cr_expect_eq(instrs[0].op, MTP_OP_NOTIFY);
    /* timer events: the idle timer of the event's context, no explicit key */
    reset_exec();
    struct mtpg_echo_echo_idle tick;
    memset(&tick, 0, sizeof tick);
    cr_expect_eq(mtpg_echo_program.dispatch(&x, MTPG_ECHO_EV_ECHO_IDLE, &tick, &c, NULL, 0), 1);
    cr_assert_eq(ibuf.n, 2);
    cr_expect_eq(instrs[1].op, MTP_OP_TIMER_START);
    cr_expect_eq(instrs[1].flags, 0);
}

Test(echo_program, descriptor)
{
    const struct mtp_program *p = &mtpg_echo_program;
    cr_expect_eq(p->abi_version, MTP_ABI_VERSION);
    cr_expect_str_eq(p->name, "echo");
    cr_expect_eq(p->ip_proto, 253);
    cr_expect_eq(p->steer_port_off, 2);
    cr_expect_eq(p->l4_min_len, 14);
    cr_assert_eq(p->n_events, MTPG_ECHO_N_EVENTS);
    const struct mtp_event_desc *req = &p->events[MTPG_ECHO_EV_ECHO_REQ];
    cr_expect_str_eq(req->name, "echo_req");
    cr_expect_eq(req->kind, MTP_EV_NET);
    cr_expect_eq(req->ctx_type, MTPG_ECHO_CTX_PORT_CTX);
    cr_expect_eq(req->has_chain, 1);
    cr_expect_eq(req->has_else, 1);
    cr_expect_eq(p->events[MTPG_ECHO_EV_ECHO_IDLE].kind, MTP_EV_TIMER);
    const struct mtp_ctx_desc *c = &p->ctxs[MTPG_ECHO_CTX_PORT_CTX];
    cr_expect_eq(c->granularity, MTP_GRAN_LISTENER);
    cr_expect_eq(c->key_size, 2);
    cr_expect_eq(c->size, sizeof(struct mtpg_echo_port_ctx));
    cr_assert_eq(c->n_timers, 1);
    cr_expect_eq(c->timer_event[0], MTPG_ECHO_EV_ECHO_IDLE);
    cr_expect_eq(p->ctxs[MTPG_ECHO_CTX_STATS].granularity, MTP_GRAN_GLOBAL);
    cr_expect_eq(p->scratch_size, sizeof(struct mtpg_echo_scratch));
    cr_assert_not_null(p->sched);
    cr_expect_eq(p->sched->kind, MTP_SCHED_WRR);
    cr_assert_eq(p->sched->n_queues, 2);
    cr_expect_eq(p->sched->queues[1].weight, 4);
    cr_expect_eq(p->sched->queues[1].per_flow, 1);
    cr_assert_eq(p->n_params, 1);
    cr_expect_eq(p->params[0].bytes, 4);
    cr_expect_eq(p->params[0].storage, &mtpg_echo_param_MAX_MSGS);
    cr_expect_eq(p->parse, mtpg_echo_parse_parse_echo);
    cr_expect_eq(p->n_coalesce, 1);
    cr_expect_eq(p->n_srules, 1);
}
