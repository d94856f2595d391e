/*
 * test_quic_procs.c — event-processor tests of quic_lite.mtp: put an established connection
 * in a state, feed one event through the generated dispatch, look at the packets (their
 * frames), timers and notifications it produced and at the new context. ACK ranges, RFC 9002
 * loss detection (packet and time thresholds, PTO with backoff, RTT), NewReno, flow-control
 * limits both ways, round-robin stream scheduling, the DCID check. No engine, no network.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "mtp/program.h"
#include "quic_lite.h"

#define US 1000ull
#define MS 1000000ull
#define P(x) MTPG_QUIC_LITE_##x
#define LCID 0x1111u
#define PCID 0x2222u

typedef struct mtpg_quic_lite_qpkt qpkt;
typedef struct mtpg_quic_lite_qframe qframe;

static struct {
    struct mtp_instr iv[256];
    uint8_t arena[64 * 1024] __attribute__((aligned(8)));
    struct mtp_ibuf out;
    struct mtp_exec x;
    struct mtpg_quic_lite_conn c;
} F;

static void reset_out(void)
{
    memset(&F.out, 0, sizeof F.out);
    F.out.v = F.iv;
    F.out.cap = 256;
    F.out.arena = F.arena;
    F.out.arena_cap = sizeof F.arena;
}

/* An established client connection, nothing in flight, the peer's limits large. */
static void established(uint64_t now)
{
    memset(&F, 0, sizeof F);
    reset_out();
    F.x.out = &F.out;
    F.x.now_ns = now;
    mtpg_quic_lite_ctx_conn_init(&F.c);
    struct mtpg_quic_lite_conn *c = &F.c;
    c->local_ip = 0x0a000001;
    c->remote_ip = 0x0a000002;
    c->local_port = 50000;
    c->remote_port = 4433;
    c->established = true;
    c->pkt_ok = true; /* the packet being processed passed the DCID check */
    c->local_cid = LCID;
    c->peer_cid = PCID;
    c->max_send_data = 1 << 30;
    c->peer_sdata = 1 << 30;
    c->peer_streams = 16;
    c->adv_streams = MTPG_QUIC_LITE_SERVER_STREAMS; /* a client grants its server 8 streams */
    c->adv_data = mtpg_quic_lite_param_CONN_WINDOW;
    c->quantum_left = mtpg_quic_lite_param_QUANTUM;
}

static int run(uint16_t type, const void *ev)
{
    reset_out();
    int n = mtpg_quic_lite_program.dispatch(&F.x, type, ev, &F.c, NULL, 0);
    cr_assert_eq(F.x.assert_failures, 0u);
    cr_assert_eq(F.out.overflow, 0u);
    return n;
}

static int count(enum mtp_op op)
{
    int n = 0;
    for (uint32_t i = 0; i < F.out.n; i++)
        n += F.iv[i].op == op;
    return n;
}

static const qpkt *pkt(int nth)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == MTP_OP_PKT_GEN && nth-- == 0)
            return (const qpkt *)(F.arena + F.iv[i].arena_off);
    cr_assert_fail("no packet #%d", nth);
    return NULL;
}

static const qframe *frame(const qpkt *q, uint8_t kind)
{
    for (uint32_t i = 0; i < q->frames.len; i++)
        if (q->frames.v[i].kind == kind)
            return &q->frames.v[i];
    return NULL;
}

static const struct mtp_instr *timer(enum mtp_op op, uint16_t id)
{
    const struct mtp_instr *t = NULL;
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == op && F.iv[i].u.timer.id == id)
            t = &F.iv[i];
    return t;
}

static bool note(uint32_t code, uint64_t *value)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == MTP_OP_NOTIFY && F.iv[i].u.note.code == code) {
            if (value)
                *value = F.iv[i].u.note.value;
            return true;
        }
    return false;
}

/* One packet from the peer (pkt_in, then pkt_end). */
static void packet_in(uint64_t pn, bool eliciting)
{
    struct mtpg_quic_lite_pkt_in ev = {.dcid = LCID, .pn = pn, .eliciting = eliciting};
    run(P(EV_PKT_IN), &ev);
}

static void packet_end(void)
{
    struct mtpg_quic_lite_pkt_end ev;
    memset(&ev, 0, sizeof ev);
    run(P(EV_PKT_END), &ev);
}

/* A record of a sent packet carrying `len` bytes of stream index 0 at `off`. */
static void in_flight(uint64_t pn, uint64_t time, uint64_t off, uint32_t len)
{
    struct mtpg_quic_lite_conn *c = &F.c;
    struct mtpg_quic_lite_sent_pkt r = {.pn = pn, .time = time, .bytes = 1400, .sidx = 0,
                                        .off = off, .len = len, .cs = 255};
    c->sent.v[c->sent.len++] = r;
    c->bytes_in_flight += r.bytes;
    if (pn >= c->next_pn)
        c->next_pn = pn + 1;
}

/* Stream 0 with `app` bytes queued, `sent` of them sent. */
static void stream0(uint64_t app, uint64_t sent)
{
    struct mtpg_quic_lite_stream_st *s = &F.c.st.v[F.c.st.len++];
    memset(s, 0, sizeof *s);
    s->ours = true;
    s->app_len = app;
    s->sent = sent;
    s->max_send = 1 << 30;
    s->adv_max = mtpg_quic_lite_param_STREAM_WINDOW;
}

static void ack_in(uint64_t largest, uint64_t first, int nranges, const uint64_t *gap_len)
{
    struct mtpg_quic_lite_ack_in ev;
    memset(&ev, 0, sizeof ev);
    ev.largest = largest;
    ev.first = first;
    ev.ranges.len = (uint32_t)nranges;
    for (int i = 0; i < nranges; i++) {
        ev.ranges.v[i].gap = gap_len[2 * i];
        ev.ranges.v[i].len = gap_len[2 * i + 1];
    }
    run(P(EV_ACK_IN), &ev);
}

/* ------------------------------------------------------------------ ACK generation */

Test(ack_ranges, received_numbers_become_ranges_newest_first)
{
    established(1 * MS);
    const uint64_t pns[] = {0, 1, 2, 3, 4, 6, 9, 10}; /* 5, 7, 8 missing */
    for (size_t i = 0; i < sizeof pns / sizeof pns[0]; i++) {
        packet_in(pns[i], true);
        F.c.ack_now = false; /* no flush between them */
    }
    packet_in(11, false); /* not ACK-eliciting: recorded, no ACK of its own */
    F.c.ack_now = true;
    packet_end();
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *f = frame(pkt(0), P(T_ACK));
    cr_assert_not_null(f);
    const struct mtpg_quic_lite_ack_frame *a = &f->u.ack_frame;
    cr_expect_eq(a->largest, 11);
    cr_expect_eq(a->first, 2, "11, 10, 9");
    cr_assert_eq(a->ranges.len, 2);
    cr_expect_eq(a->ranges.v[0].gap, 1, "8 and 7 missing");
    cr_expect_eq(a->ranges.v[0].len, 0, "6");
    cr_expect_eq(a->ranges.v[1].gap, 0, "5 missing");
    cr_expect_eq(a->ranges.v[1].len, 4, "4 .. 0");
    cr_expect_not(F.c.ack_pending);
    cr_expect_not_null(timer(MTP_OP_TIMER_STOP, P(TIMER_CONN_ACK_TIMER)));
}

Test(ack_ranges, every_second_packet_or_a_gap_acks_at_once_else_delayed)
{
    established(1 * MS);
    packet_in(0, true);
    cr_expect_not(F.c.ack_now);
    const struct mtp_instr *t = timer(MTP_OP_TIMER_START, P(TIMER_CONN_ACK_TIMER));
    cr_assert_not_null(t, "the delayed-ACK timer");
    cr_expect_eq(t->u.timer.dur_ns, mtpg_quic_lite_param_MAX_ACK_DELAY);
    packet_in(1, true);
    cr_expect(F.c.ack_now, "second ACK-eliciting packet");
    packet_end();
    cr_expect_eq(count(MTP_OP_PKT_GEN), 1);
    packet_in(3, true); /* 2 missing */
    cr_expect(F.c.ack_now, "out of order");
}

Test(ack_ranges, a_packet_for_another_connection_id_is_ignored)
{
    established(1 * MS);
    struct mtpg_quic_lite_pkt_in ev = {.dcid = 0x9999, .pn = 0, .eliciting = true};
    run(P(EV_PKT_IN), &ev);
    cr_expect_not(F.c.pkt_ok);
    cr_expect_not(F.c.rcv_any);
    struct mtpg_quic_lite_max_data_in md = {.max = 1ull << 40};
    uint64_t before = F.c.max_send_data;
    run(P(EV_MAX_DATA_IN), &md);
    cr_expect_eq(F.c.max_send_data, before, "frames of that packet are ignored too");
}

/* ------------------------------------------------------------------ loss detection */

Test(loss, packet_threshold_three_and_newreno_halving)
{
    established(10 * MS);
    stream0(6 * 1000, 6 * 1000);
    for (uint64_t pn = 0; pn < 6; pn++)
        in_flight(pn, 10 * MS - 10 * US, pn * 1000, 1000);
    F.c.cwnd = 20 * 1400;
    /* ACK 4..5: 0, 1, 2 are 3 or more below the largest: lost; 3 waits for the time
     * threshold (sent 10 us ago, 9/8 of the 10 us RTT not yet over) */
    ack_in(5, 1, 0, NULL);
    cr_assert_eq(F.c.lost.len, 3);
    cr_expect_eq(F.c.lost.v[0].off + F.c.lost.v[1].off + F.c.lost.v[2].off, 0 + 1000 + 2000);
    cr_assert_eq(F.c.sent.len, 1);
    cr_expect_eq(F.c.sent.v[0].pn, 3u);
    /* slow start grew it by the two acknowledged packets first */
    cr_expect_eq(F.c.cwnd, 11 * 1400, "halved once for the three losses");
    cr_expect_eq(F.c.ssthresh, 11 * 1400);
    cr_expect_eq(F.c.lost.v[0].off, 0u, "oldest first");
    cr_expect_eq(F.c.recovery_start, 10 * MS);
    cr_expect_eq(F.c.loss_time, 10 * MS - 10 * US + 10 * US * 9 / 8, "3 has a loss time");
    /* the lost ranges are sent again first (new packet numbers) */
    packet_end();
    cr_assert_geq(count(MTP_OP_PKT_GEN), 1);
    const qframe *s = frame(pkt(0), P(T_STREAM));
    cr_assert_not_null(s);
    cr_expect_eq(s->u.stream_frame.off, 0u);
    cr_expect_geq(pkt(0)->pn, 6u);
    /* the loss timer is armed for the earliest time threshold */
    const struct mtp_instr *t = timer(MTP_OP_TIMER_START, P(TIMER_CONN_LD_TIMER));
    cr_assert_not_null(t);
    cr_expect_eq(t->u.timer.dur_ns, F.c.loss_time - 10 * MS);
}

Test(loss, time_threshold_nine_eighths_rtt)
{
    established(10 * MS);
    stream0(3000, 3000);
    F.c.srtt = F.c.latest_rtt = 800 * US;
    F.c.rtt_sampled = true;
    in_flight(0, 8 * MS, 0, 1000);
    in_flight(1, 9 * MS + 500 * US, 1000, 1000);
    in_flight(2, 9 * MS + 600 * US, 2000, 1000);
    /* ACK of 2 only (a 400 us sample: srtt 750 us): 0 was sent 2 ms ago, more than
     * 9/8 * 750 us: lost; 1 (0.5 ms ago) waits until 9/8 * 750 us after it was sent */
    ack_in(2, 0, 0, NULL);
    cr_expect_eq(F.c.srtt, 750 * US);
    cr_expect_eq(F.c.lost.len, 1);
    cr_expect_eq(F.c.lost.v[0].off, 0u);
    cr_expect_eq(F.c.sent.len, 1);
    cr_expect_eq(F.c.loss_time, 9 * MS + 500 * US + 750 * US * 9 / 8);
    /* when the loss timer fires, 1 is lost too */
    F.x.now_ns = F.c.loss_time;
    struct mtpg_quic_lite_ld_expired ev;
    memset(&ev, 0, sizeof ev);
    run(P(EV_LD_EXPIRED), &ev);
    cr_expect_eq(F.c.pto_count, 0u, "a loss timer, not a PTO");
    cr_assert_eq(count(MTP_OP_PKT_GEN), 2, "both ranges again, one STREAM frame per packet");
    cr_expect_eq(frame(pkt(0), P(T_STREAM))->u.stream_frame.off, 0u);
    cr_expect_eq(frame(pkt(1), P(T_STREAM))->u.stream_frame.off, 1000u);
}

Test(loss, pto_probes_and_backs_off)
{
    established(10 * MS);
    stream0(1000, 1000);
    F.c.srtt = 100 * US;
    F.c.rttvar = 20 * US;
    F.c.rtt_sampled = true;
    in_flight(0, 10 * MS, 0, 1000);
    uint64_t base = 100 * US + 80 * US + mtpg_quic_lite_param_MAX_ACK_DELAY;
    struct mtpg_quic_lite_ld_expired ev;
    memset(&ev, 0, sizeof ev);
    for (uint32_t k = 1; k <= 3; k++) {
        F.x.now_ns += 10 * MS;
        run(P(EV_LD_EXPIRED), &ev);
        cr_expect_eq(F.c.pto_count, k);
        cr_assert_eq(count(MTP_OP_PKT_GEN), 1, "one probe");
        const qframe *s = frame(pkt(0), P(T_STREAM));
        cr_assert_not_null(s, "the oldest unacknowledged data again");
        cr_expect_eq(s->u.stream_frame.off, 0u);
        const struct mtp_instr *t = timer(MTP_OP_TIMER_START, P(TIMER_CONN_LD_TIMER));
        cr_assert_not_null(t);
        cr_expect_eq(t->u.timer.dur_ns, base << k, "PTO doubled per expiry");
    }
    /* an acknowledgement resets the backoff */
    ack_in(F.c.next_pn - 1, 0, 0, NULL);
    cr_expect_eq(F.c.pto_count, 0u);
}

Test(loss, pto_without_data_sends_a_ping)
{
    established(10 * MS);
    in_flight(0, 10 * MS, 0, 0);
    F.c.sent.v[0].sidx = 255; /* a control-only packet */
    struct mtpg_quic_lite_ld_expired ev;
    memset(&ev, 0, sizeof ev);
    F.x.now_ns += 5 * MS;
    run(P(EV_LD_EXPIRED), &ev);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    cr_expect_not_null(frame(pkt(0), P(T_PING)));
}

Test(loss, rtt_first_sample_then_smoothing_minus_ack_delay)
{
    established(10 * MS);
    stream0(2000, 2000);
    in_flight(0, 9 * MS, 0, 1000);
    ack_in(0, 0, 0, NULL);
    cr_expect_eq(F.c.srtt, 1 * MS);
    cr_expect_eq(F.c.rttvar, 500 * US);
    cr_expect_eq(F.c.min_rtt, 1 * MS);
    in_flight(1, 10 * MS, 1000, 1000);
    F.x.now_ns = 12 * MS;
    /* 2 ms sample, 40 us of ACK delay (5 << 3 us) subtracted */
    struct mtpg_quic_lite_ack_in a;
    memset(&a, 0, sizeof a);
    a.largest = 1;
    a.delay = 5;
    run(P(EV_ACK_IN), &a);
    uint64_t adj = 2 * MS - 40 * US;
    cr_expect_eq(F.c.latest_rtt, 2 * MS);
    cr_expect_eq(F.c.rttvar, (3 * 500 * US + (adj - 1 * MS)) / 4);
    cr_expect_eq(F.c.srtt, (7 * 1 * MS + adj) / 8);
}

Test(loss, acked_stream_bytes_are_retired_in_order_only)
{
    established(10 * MS);
    stream0(3000, 3000);
    for (uint64_t pn = 0; pn < 3; pn++)
        in_flight(pn, 10 * MS, pn * 1000, 1000);
    /* ACK 2 and 0 (gap: 1 missing): bytes 0..1000 retired, 2000..3000 wait for 1000..2000 */
    const uint64_t r[] = {0, 0};
    ack_in(2, 0, 1, r);
    cr_expect_eq(F.c.st.v[0].acked, 1000u);
    cr_assert_eq(count(MTP_OP_TX_FLUSH), 1);
    ack_in(1, 0, 0, NULL);
    cr_expect_eq(F.c.st.v[0].acked, 3000u);
}

/* ------------------------------------------------------------------ flow control */

static void app_send(uint64_t stream, uint32_t len, bool fin)
{
    static uint8_t data[256 * 1024];
    struct mtpg_quic_lite_app_send ev = {
        .stream = stream, .buf = (mtp_addr_t)(uintptr_t)data, .len = len, .fin = fin};
    run(P(EV_APP_SEND), &ev);
}

static uint64_t stream_bytes_sent(void)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == MTP_OP_PKT_GEN) {
            const qpkt *q = (const qpkt *)(F.arena + F.iv[i].arena_off);
            for (uint32_t k = 0; k < q->frames.len; k++)
                if (q->frames.v[k].kind == P(T_STREAM))
                    n += q->frames.v[k].u.stream_frame.data.len;
                else if (q->frames.v[k].kind == P(T_STREAM_FIN))
                    n += q->frames.v[k].u.stream_fin_frame.data.len;
        }
    return n;
}

Test(flow_control, a_stream_stops_at_max_stream_data_and_says_so)
{
    established(1 * MS);
    F.c.peer_sdata = 5000;
    app_send(0, 20000, false);
    cr_expect_eq(stream_bytes_sent(), 5000u);
    cr_expect_eq(F.c.st.v[0].sent, 5000u);
    bool blocked = false;
    for (uint32_t i = 0; i < F.out.n; i++) /* STREAM_DATA_BLOCKED goes with the next packet */
        blocked |= F.iv[i].op == MTP_OP_PKT_GEN;
    cr_expect(blocked);
    cr_expect(F.c.st.v[0].sdb_pending || F.c.st.v[0].blocked_at == 5001);
    struct mtpg_quic_lite_max_sdata_in m = {.stream = 0, .max = 12000};
    F.c.pkt_ok = true;
    run(P(EV_MAX_SDATA_IN), &m);
    packet_end();
    cr_expect_eq(stream_bytes_sent(), 7000u, "up to the new limit");
    cr_expect_eq(F.c.st.v[0].sent, 12000u);
}

Test(flow_control, the_connection_limit_covers_all_streams)
{
    established(1 * MS);
    F.c.max_send_data = 6000;
    app_send(0, 4000, false);
    app_send(4, 4000, false);
    cr_expect_eq(F.c.sent_data, 6000u);
    cr_expect_eq(F.c.st.v[0].sent + F.c.st.v[1].sent, 6000u);
    cr_expect(F.c.db_pending || F.c.data_blocked_at == 6001);
}

Test(flow_control, reading_grants_more_credit)
{
    established(1 * MS);
    uint64_t w = mtpg_quic_lite_param_STREAM_WINDOW;
    struct mtpg_quic_lite_stream_in s = {.stream = 1, .off = 0, .fin = false};
    s.data.len = (uint32_t)(w / 2 + 1);
    s.data.addr = 0x100000;
    F.c.pkt_ok = true;
    run(P(EV_STREAM_IN), &s);
    uint64_t id = 0;
    cr_expect(note(P(NOTE_NEW_STREAM), &id));
    cr_expect_eq(id, 1u);
    struct mtpg_quic_lite_app_recv r = {.stream = 1, .buf = 0x200000, .len = s.data.len};
    run(P(EV_APP_RECV), &r);
    cr_expect_eq(count(MTP_OP_RX_FLUSH), 1);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *m = frame(pkt(0), P(T_MAX_STREAM_DATA));
    cr_assert_not_null(m);
    cr_expect_eq(m->u.max_sdata_frame.max, w / 2 + 1 + w);
}

Test(flow_control, a_peer_past_its_credit_is_closed)
{
    established(1 * MS);
    struct mtpg_quic_lite_stream_in s = {.stream = 1, .off = mtpg_quic_lite_param_STREAM_WINDOW - 10};
    s.data.len = 11;
    s.data.addr = 0x100000;
    F.c.pkt_ok = true;
    run(P(EV_STREAM_IN), &s);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *c = frame(pkt(0), P(T_CLOSE));
    cr_assert_not_null(c);
    cr_expect_eq(c->u.close_frame.error, P(ERR_FLOW_CONTROL));
    cr_expect_eq(count(MTP_OP_DEL_CTX), 1);
    cr_expect_eq(count(MTP_OP_ADD_RX_SEG), 0);
}

/* ------------------------------------------------------------------ scheduling */

Test(scheduling, round_robin_switches_streams_every_quantum)
{
    established(1 * MS);
    uint64_t q = mtpg_quic_lite_param_QUANTUM;
    mtpg_quic_lite_param_QUANTUM = 2800; /* two full packets */
    F.c.quantum_left = 2800;
    F.c.cwnd = 0; /* queue without sending */
    app_send(0, 20000, false);
    app_send(4, 20000, false);
    app_send(8, 20000, false);
    F.c.cwnd = 1 << 30;
    struct mtpg_quic_lite_hs_go ev;
    memset(&ev, 0, sizeof ev);
    run(P(EV_HS_GO), &ev); /* a flush: up to BURST packets */
    int n = count(MTP_OP_PKT_GEN);
    cr_assert_geq(n, 9);
    uint64_t order[16];
    uint64_t per_stream[3] = {0};
    for (int i = 0; i < n && i < 16; i++) {
        const qframe *s = frame(pkt(i), P(T_STREAM));
        cr_assert_not_null(s);
        order[i] = s->u.stream_frame.stream;
        per_stream[order[i] / 4] += s->u.stream_frame.data.len;
    }
    /* each stream sends its quantum (2800 bytes: 2 or 3 packets) then the next takes over */
    int switches = 0;
    for (int i = 1; i < n && i < 16; i++)
        switches += order[i] != order[i - 1];
    cr_expect_geq(switches, 3, "the streams took turns");
    cr_expect_eq(order[0], 0u);
    for (int k = 0; k < 3; k++)
        cr_expect_gt(per_stream[k], 0u, "stream %d was served", 4 * k);
    mtpg_quic_lite_param_QUANTUM = q;
}

Test(scheduling, lost_data_goes_before_new_data)
{
    established(1 * MS);
    app_send(0, 1000, false);
    F.c.cwnd = 0;
    app_send(4, 5000, false);
    F.c.cwnd = 1 << 30;
    struct mtpg_quic_lite_lost_range l = {.sidx = 0, .off = 0, .len = 1000, .fin = false};
    F.c.lost.v[F.c.lost.len++] = l;
    struct mtpg_quic_lite_hs_go ev;
    memset(&ev, 0, sizeof ev);
    run(P(EV_HS_GO), &ev);
    const qframe *s = frame(pkt(0), P(T_STREAM));
    cr_assert_not_null(s);
    cr_expect_eq(s->u.stream_frame.stream, 0u);
    cr_expect_eq(s->u.stream_frame.off, 0u);
    cr_expect_eq(F.c.lost.len, 0u);
}

/* ------------------------------------------------------------------ reset, idle, parser */

Test(streams, reset_stream_is_sent_and_resent_when_lost)
{
    established(1 * MS);
    app_send(0, 3000, false);
    struct mtpg_quic_lite_app_reset r = {.stream = 0, .error = 7};
    run(P(EV_APP_RESET), &r);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *f = frame(pkt(0), P(T_RESET));
    cr_assert_not_null(f);
    cr_expect_eq(f->u.reset_frame.error, 7u);
    cr_expect_eq(f->u.reset_frame.final_size, 3000u);
    cr_expect_null(frame(pkt(0), P(T_STREAM)), "no more data on a reset stream");
    /* the packet is lost (3 later packets acknowledged): RESET_STREAM goes out again */
    uint64_t pn = pkt(0)->pn;
    for (uint64_t k = 1; k <= 3; k++)
        in_flight(pn + k, 1 * MS, 0, 0);
    for (uint32_t i = 0; i < F.c.sent.len; i++)
        F.c.sent.v[i].sidx = F.c.sent.v[i].pn == pn ? F.c.sent.v[i].sidx : 255;
    ack_in(pn + 3, 2, 0, NULL);
    packet_end();
    cr_assert_geq(count(MTP_OP_PKT_GEN), 1);
    cr_expect_not_null(frame(pkt(0), P(T_RESET)));
}

Test(streams, a_reset_from_the_peer_is_told_and_later_data_ignored)
{
    established(1 * MS);
    struct mtpg_quic_lite_stream_in s = {.stream = 1, .off = 0};
    s.data.len = 10;
    s.data.addr = 0x100000;
    run(P(EV_STREAM_IN), &s);
    struct mtpg_quic_lite_reset_in r = {.stream = 1, .error = 3, .final_size = 10};
    run(P(EV_RESET_IN), &r);
    uint64_t id = 99;
    cr_expect(note(P(NOTE_STREAM_RESET), &id));
    cr_expect_eq(id, 1u);
    s.off = 10;
    run(P(EV_STREAM_IN), &s);
    cr_expect_eq(count(MTP_OP_ADD_RX_SEG), 0);
}

Test(streams, idle_timeout_closes_the_connection)
{
    established(1 * MS);
    struct mtpg_quic_lite_idle_expired ev;
    memset(&ev, 0, sizeof ev);
    run(P(EV_IDLE_EXPIRED), &ev);
    uint64_t why = 0;
    cr_expect(note(P(NOTE_CLOSED), &why));
    cr_expect_eq(why, P(ERR_IDLE));
    cr_expect_eq(count(MTP_OP_DEL_CTX), 1);
}

Test(streams, the_peer_may_not_open_our_kind_of_stream)
{
    established(1 * MS); /* a client: stream 0 is ours, 1 is the server's */
    struct mtpg_quic_lite_stream_in s = {.stream = 4, .off = 0};
    s.data.len = 10;
    s.data.addr = 0x100000;
    run(P(EV_STREAM_IN), &s);
    cr_expect_eq(F.c.st.len, 0u);
    cr_expect_eq(count(MTP_OP_ADD_RX_SEG), 0);
}

/* ------------------------------------------------------------------ stream slots */

static void stream_data_in(uint64_t stream, uint64_t off, uint32_t len, bool fin)
{
    struct mtpg_quic_lite_stream_in s = {.stream = stream, .off = off, .fin = fin};
    s.data.len = len;
    s.data.addr = 0x100000;
    run(P(EV_STREAM_IN), &s);
}

Test(slots, an_empty_send_opens_the_stream_with_an_empty_stream_frame)
{
    established(1 * MS);
    app_send(0, 0, false);
    cr_assert_eq(F.c.st.len, 1u);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1, "the peer learns the stream before any byte");
    const qframe *f = frame(pkt(0), P(T_STREAM));
    cr_assert_not_null(f);
    cr_expect_eq(f->u.stream_frame.stream, 0u);
    cr_expect_eq(f->u.stream_frame.data.len, 0u);
    cr_expect_not(F.c.st.v[0].announce);
    /* lost: announced again */
    F.c.sent.v[0].time = 0;
    in_flight(5, 1 * MS, 0, 0);
    F.c.sent.v[1].sidx = 255;
    ack_in(5, 0, 0, NULL); /* packet 0 is 5 below: lost */
    cr_expect(F.c.st.v[0].announce);
}

Test(slots, a_stream_over_both_ways_frees_its_slot_and_says_so)
{
    established(1 * MS);
    app_send(0, 100, true);              /* stream 0: 100 bytes and FIN */
    app_send(4, 50, false);              /* stream 4 lives on */
    cr_assert_eq(F.c.st.len, 2u);
    stream_data_in(0, 0, 0, true);       /* the peer's FIN on stream 0, nothing to read */
    cr_expect(F.c.st.v[0].fin_told);
    uint64_t next = F.c.next_pn;
    F.c.ack_now = true;
    ack_in(next - 1, next - 1, 0, NULL); /* everything we sent is acknowledged */
    cr_assert(F.c.st.v[0].fin_acked);
    packet_end();
    uint64_t id = 99;
    cr_expect(note(P(NOTE_STREAM_DONE), &id));
    cr_expect_eq(id, 0u);
    cr_assert_eq(F.c.st.len, 1u, "the slot is free");
    cr_expect_eq(F.c.st.v[0].id, 4u, "stream 4 moved down");
    /* a late copy of stream 0 does not open it again; a new stream takes the slot */
    stream_data_in(0, 0, 10, false);
    cr_expect_eq(F.c.st.len, 1u);
    app_send(8, 10, false);
    cr_expect_eq(F.c.st.len, 2u);
}

Test(slots, records_naming_a_later_slot_move_down_with_it)
{
    established(1 * MS);
    app_send(0, 0, true);                /* stream 0: just a FIN */
    app_send(4, 3000, false);            /* stream 4: data in flight */
    uint32_t n = F.c.sent.len;
    cr_assert_geq(n, 2u);
    stream_data_in(0, 0, 0, true);
    /* acknowledge only the first packet (stream 0's FIN) */
    ack_in(F.c.sent.v[0].pn, 0, 0, NULL);
    packet_end();
    cr_assert_eq(F.c.st.len, 1u);
    for (uint32_t i = 0; i < F.c.sent.len; i++)
        if (F.c.sent.v[i].sidx != 255)
            cr_expect_eq(F.c.sent.v[i].sidx, 0u, "stream 4 is slot 0 now");
}

Test(slots, a_new_peer_stream_opens_the_lower_ones_too)
{
    established(1 * MS); /* client: the server's streams are 1, 5, 9, ... */
    stream_data_in(9, 0, 10, false);
    cr_assert_eq(F.c.st.len, 3u, "1, 5 and 9");
    cr_expect_eq(F.c.st.v[0].id, 1u);
    cr_expect_eq(F.c.st.v[1].id, 5u);
    cr_expect_eq(F.c.st.v[2].id, 9u);
    cr_expect_eq(F.c.peer_opened, 3u);
    cr_expect_eq(count(MTP_OP_ADD_RX_SEG), 1);
}

Test(slots, bytes_after_the_application_stopped_reading_reset_the_stream)
{
    established(1 * MS);
    stream_data_in(1, 0, 10, false);
    struct mtpg_quic_lite_app_recv r = {.stream = 1, .buf = 0x200000, .len = 10};
    run(P(EV_APP_RECV), &r);
    r.len = 0;                           /* the application closed its socket */
    run(P(EV_APP_RECV), &r);
    cr_expect(F.c.st.v[0].discard);
    stream_data_in(1, 0, 10, false);     /* a duplicate: nothing happens */
    cr_expect_not(F.c.st.v[0].reset_req);
    stream_data_in(1, 10, 10, false);    /* new bytes: RESET_STREAM, as TCP sends RST */
    cr_expect(F.c.st.v[0].reset_req);
    cr_expect_eq(count(MTP_OP_ADD_RX_SEG), 0);
    packet_end();
    cr_assert_geq(count(MTP_OP_PKT_GEN), 1);
    cr_expect_not_null(frame(pkt(0), P(T_RESET)));
}

Test(slots, a_reset_stream_credits_its_unread_bytes_to_the_connection)
{
    established(1 * MS);
    stream_data_in(1, 0, 1000, false);
    struct mtpg_quic_lite_reset_in rs = {.stream = 1, .error = 0, .final_size = 5000};
    run(P(EV_RESET_IN), &rs);
    cr_expect_eq(F.c.rcv_data, 5000u, "the final size counts against MAX_DATA");
    struct mtpg_quic_lite_app_reset ar = {.stream = 1, .error = 0};
    run(P(EV_APP_RESET), &ar);           /* the shim resets our side too */
    uint64_t next = F.c.next_pn;
    ack_in(next - 1, next - 1, 0, NULL); /* our RESET_STREAM is acknowledged */
    packet_end();
    cr_expect_eq(F.c.st.len, 0u);
    cr_expect_eq(F.c.read_data, 5000u, "as if read: the peer gets the credit back");
}

/* A packet the program sends, serialised, parsed back by the program's own parser. */
/* ------------------------------------------------------------------ stream credit (MAX_STREAMS) */

/* The peer's streams 1, 5, 9, ... up to index n - 1 are open; the first `over` of them are
 * over in both directions (our FIN acknowledged, the peer's read to its FIN). */
static void peer_streams(uint32_t n, uint32_t over)
{
    stream_data_in(4 * (uint64_t)(n - 1) + 1, 0, 0, false);
    cr_assert_eq(F.c.st.len, n);
    for (uint32_t i = 0; i < over; i++)
        F.c.st.v[i].fin_acked = F.c.st.v[i].fin_told = true;
}

Test(stream_credit, a_peer_stream_past_our_max_streams_closes_the_connection)
{
    established(1 * MS);                 /* a client grants its server 8 streams: 1 .. 29 */
    peer_streams(8, 0);
    cr_expect_eq(F.c.peer_opened, 8u);
    stream_data_in(33, 0, 10, false);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *f = frame(pkt(0), P(T_CLOSE));
    cr_assert_not_null(f);
    cr_expect_eq(f->u.close_frame.error, P(ERR_STREAM_LIMIT));
    cr_expect(note(P(NOTE_CLOSED), NULL));
}

Test(stream_credit, streams_over_raise_max_streams_when_half_the_share_is_used)
{
    established(1 * MS);
    peer_streams(8, 3);
    F.c.ack_now = true;
    packet_end();                        /* 3 over, none left to open: 3 more granted */
    cr_expect_eq(F.c.st.len, 5u);
    cr_expect_eq(F.c.peer_done, 3u);
    cr_assert_eq(F.c.adv_streams, 11u);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *f = frame(pkt(0), P(T_MAX_STREAMS));
    cr_assert_not_null(f, "MAX_STREAMS goes out");
    cr_expect_eq(f->u.max_streams_frame.max, 11u);
    cr_expect_neq(F.c.sent.v[F.c.sent.len - 1].ctl & P(C_MAX_STREAMS), 0, "resent if lost");
    stream_data_in(41, 0, 10, false);    /* streams 8 .. 10 (ids 33, 37, 41) may open now */
    cr_expect_eq(F.c.st.len, 8u);
    cr_expect_eq(count(MTP_OP_PKT_GEN), 0, "no STREAM_LIMIT_ERROR");
    F.c.st.v[0].fin_acked = F.c.st.v[0].fin_told = true;
    F.c.ack_now = true;
    packet_end();                        /* 0 of 3 left: 1 more over, a new grant */
    cr_expect_eq(F.c.adv_streams, 12u);
}

Test(stream_credit, no_grant_while_the_peer_has_half_its_share_left)
{
    established(1 * MS);
    peer_streams(2, 1);                  /* 6 of 8 still to open */
    F.c.ack_now = true;
    packet_end();
    cr_expect_eq(F.c.peer_done, 1u);
    cr_expect_eq(F.c.adv_streams, 8u);
    cr_expect_not(F.c.ms_pending);
    cr_expect_eq(count(MTP_OP_PKT_GEN), 0, "nothing to send");
}

Test(stream_credit, our_stream_past_the_peers_max_streams_waits_with_streams_blocked)
{
    established(1 * MS);                 /* the peer's MAX_STREAMS: 16 (ids 0 .. 60) */
    for (uint64_t i = 0; i < 16; i++)
        app_send(4 * i, 0, false);
    cr_assert_eq(F.c.st.len, 16u);
    app_send(64, 10, false);
    cr_expect_eq(F.c.st.len, 16u, "refused");
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    const qframe *f = frame(pkt(0), P(T_STREAMS_BLOCKED));
    cr_assert_not_null(f);
    cr_expect_eq(f->u.streams_blocked_frame.max, 16u);
    app_send(64, 10, false);
    cr_expect_eq(count(MTP_OP_PKT_GEN), 0, "STREAMS_BLOCKED once per limit");
    struct mtpg_quic_lite_max_streams_in ms = {.max = 17};
    run(P(EV_MAX_STREAMS_IN), &ms);
    cr_expect_eq(F.c.peer_streams, 17u);
    app_send(64, 10, false);
    cr_expect_eq(F.c.st.len, 17u, "opened");
    ms.max = 5;                          /* an older, smaller limit changes nothing */
    run(P(EV_MAX_STREAMS_IN), &ms);
    cr_expect_eq(F.c.peer_streams, 17u);
}

Test(stream_credit, our_streams_leave_room_for_the_ones_we_granted)
{
    established(1 * MS);
    F.c.peer_streams = 1000;
    for (uint64_t i = 0; i < 60; i++)
        app_send(4 * i, 0, false);
    /* 64 slots, 8 of them kept for the server's streams we granted and it has not opened */
    cr_expect_eq(F.c.st.len, 56u);
    stream_data_in(29, 0, 10, false);    /* the server's streams 1 .. 29 */
    cr_expect_eq(F.c.st.len, 64u, "the server's 8 fit");
    cr_expect_eq(count(MTP_OP_PKT_GEN), 0, "no STREAM_LIMIT_ERROR");
}

Test(parser, a_sent_packet_parses_into_its_events)
{
    established(1 * MS);
    packet_in(0, true);
    F.c.pkt_ok = true;
    F.c.md_pending = true;
    F.c.ms_pending = true;
    F.c.sb_pending = true;
    app_send(0, 100, true);
    cr_assert_eq(count(MTP_OP_PKT_GEN), 1);
    qpkt q;
    memcpy(&q, pkt(0), sizeof q);
    static uint8_t app[100];
    for (uint32_t i = 0; i < q.frames.len; i++)
        if (q.frames.v[i].kind == P(T_STREAM_FIN))
            q.frames.v[i].u.stream_fin_frame.data.addr = (mtp_addr_t)(uintptr_t)app;
    const struct mtp_bp_desc *d = &mtpg_quic_lite_program.bps[P(BP_QPKT)];
    uint8_t out[1500];
    uint32_t n = d->hdr_len(&q);
    cr_assert_leq(n, sizeof out);
    d->write_hdr(&q, out, 0);
    cr_expect_eq(out[8], 0x43, "short header");
    cr_expect_eq((uint32_t)(out[4] << 8 | out[5]), n, "UDP length");
    struct mtp_event evs[16];
    struct mtp_evsink sink = {.v = evs, .cap = 16};
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = out;
    p.l4_len = n;
    p.ip.src = 0x0a000001;
    p.ip.dst = 0x0a000002;
    cr_assert_eq(mtpg_quic_lite_program.parse(&p, &sink), MTP_PARSE_OK);
    /* pkt_in, ACK, MAX_DATA, MAX_STREAMS, STREAMS_BLOCKED, STREAM+FIN, pkt_end */
    cr_assert_eq(sink.n, 7);
    cr_expect_eq(evs[0].type, P(EV_PKT_IN));
    const struct mtpg_quic_lite_pkt_in *pi = (const void *)evs[0].data;
    cr_expect_eq(pi->dcid, PCID);
    cr_expect(pi->eliciting);
    cr_expect_eq(evs[1].type, P(EV_ACK_IN));
    cr_expect_eq(evs[2].type, P(EV_MAX_DATA_IN));
    cr_expect_eq(evs[3].type, P(EV_MAX_STREAMS_IN));
    cr_expect_eq(((const struct mtpg_quic_lite_max_streams_in *)(const void *)evs[3].data)->max,
                 F.c.adv_streams);
    cr_expect_eq(evs[4].type, P(EV_BLOCKED_IN), "STREAMS_BLOCKED");
    cr_expect_eq(evs[5].type, P(EV_STREAM_IN));
    const struct mtpg_quic_lite_stream_in *si = (const void *)evs[5].data;
    cr_expect(si->fin);
    cr_expect_eq(si->data.len, 100u);
    cr_expect_eq(evs[6].type, P(EV_PKT_END));
    /* malformed: another flags byte, a cut frame */
    out[8] = 0xc3;
    cr_expect_eq(mtpg_quic_lite_program.parse(&p, &sink), MTP_PARSE_MALFORMED);
    out[8] = 0x43;
    p.l4_len = n - 1;
    cr_expect_eq(mtpg_quic_lite_program.parse(&p, &sink), MTP_PARSE_MALFORMED);
}

/* The 8-byte quote an ICMP error carries of a packet we sent parses into one net_error_in
 * for our connection (src is us in a quote); a quote shorter than the ports is malformed. */
Test(icmp, a_quote_parses_into_a_net_error_for_our_connection)
{
    uint8_t udp[8] = {50000 >> 8, 50000 & 0xff, 4433 >> 8, 4433 & 0xff, 0, 60, 0, 0};
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = udp;
    p.l4_len = sizeof udp;
    p.ip.src = 0x0a000001;
    p.ip.dst = 0x0a000002;
    p.ip.icmp_type = 3;
    p.ip.icmp_code = 3;
    cr_assert(mtpg_quic_lite_program.net_errors, "the program reads quotes");
    cr_assert_eq(mtpg_quic_lite_program.parse(&p, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 1);
    cr_expect_eq(evs[0].type, P(EV_NET_ERROR_IN));
    const struct mtpg_quic_lite_net_error_in *ne = (const void *)evs[0].data;
    cr_expect_eq(ne->type, 3);
    cr_expect_eq(ne->code, 3);
    struct mtpg_quic_lite_conn_id id = {.local_ip = 0x0a000001, .remote_ip = 0x0a000002,
                                        .local_port = 50000, .remote_port = 4433};
    struct mtp_key k;
    mtpg_quic_lite_key_conn_id(&k, &id);
    cr_expect(evs[0].has_key);
    cr_expect_arr_eq(evs[0].key.b, k.b, sizeof k.b, "the key of our connection");
    sink.n = 0;
    p.l4_len = 3;
    cr_expect_eq(mtpg_quic_lite_program.parse(&p, &sink), MTP_PARSE_MALFORMED);
}

static void net_error(uint8_t type, uint8_t code)
{
    struct mtpg_quic_lite_net_error_in ev = {.type = type, .code = code};
    run(P(EV_NET_ERROR_IN), &ev);
}

Test(icmp, port_unreachable_in_the_handshake_refuses_the_connection)
{
    established(1 * MS);
    F.c.established = false; /* HELLO sent, no HELLO_REPLY yet */
    net_error(3, 3);
    uint64_t why = 0;
    cr_expect(note(P(NOTE_CLOSED), &why));
    cr_expect_eq(why, P(ERR_REFUSED));
    cr_expect_eq(count(MTP_OP_DEL_CTX), 1);
}

/* Soft errors (RFC 1122 4.2.3.9): host unreachable, time exceeded, fragmentation needed; and
 * any error once established (QUIC ignores ICMP then: the idle timeout decides) */
Test(icmp, other_errors_and_errors_after_the_handshake_change_nothing)
{
    static const uint8_t soft[][2] = {{3, 1}, {11, 0}, {3, 4}, {12, 0}};
    for (size_t i = 0; i < sizeof soft / sizeof soft[0]; i++) {
        established(1 * MS);
        F.c.established = false;
        net_error(soft[i][0], soft[i][1]);
        cr_expect_eq(F.out.n, 0u, "type %u code %u", soft[i][0], soft[i][1]);
    }
    established(1 * MS);
    net_error(3, 3);
    cr_expect_eq(F.out.n, 0u, "established");
    established(1 * MS);
    F.c.established = false;
    F.c.server = true;
    net_error(3, 3);
    cr_expect_eq(F.out.n, 0u, "a server's half-open connection");
}
