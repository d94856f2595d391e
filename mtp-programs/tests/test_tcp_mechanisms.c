/*
 * test_tcp_mechanisms.c — tcp.mtp's mechanisms across states: retransmission timer, fast
 * retransmit and NewReno, SACK, CUBIC, window probes, Nagle, delayed ACKs, RST validation,
 * PAWS, keepalive, the parser.
 */
#include "tcp_fixture.h"

static void setup(void) { fx_init(100 * MS); }

static const struct mtpg_tcp_rto_expired RTO = {0};

/* ------------------------------------------------------------------ RTO */

TestSuite(retransmission, .init = setup);

Test(retransmission, rto_resends_from_snd_una_and_backs_off)
{
    fx_established();
    fx_in_flight(5 * MSS);
    F.c.cwnd = 5 * MSS;
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(b->data.off, 0u);
    cr_assert_eq(b->data.len, MSS, "cwnd is one segment after a timeout");
    cr_assert_eq(F.c.cwnd, MSS);
    cr_assert_eq(F.c.rto, 10 * MS);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_RTO)->u.timer.dur_ns, 10 * MS);
    cr_assert_eq(F.c.snd_max, ISS + 1 + 5 * MSS, "snd_max remembers what went out");
    cr_assert(F.c.rto_loss);
    cr_assert_eq(F.c.loss_flight, 5 * MSS);
    cr_assert(!F.c.rtt_timing, "Karn: no sample from a retransmission");
}

/* After a timeout snd_nxt is back at the first hole, but the peer may hold every byte up to
 * snd_max: an ACK from snd_nxt would be an old segment to it, refused and answered with an
 * ACK (between two such peers, forever). Pure ACKs carry snd_max (BSD tcp_output does too). */
Test(retransmission, pure_ack_after_a_timeout_carries_snd_max)
{
    fx_established();
    fx_in_flight(10 * MSS);
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    cr_assert_eq(F.c.snd_nxt, ISS + 1 + MSS, "went back to the first segment");
    fx_reset_out();
    struct mtpg_tcp_seg s1 = fx_seg(IRS + 1, ISS + 1, MSS), s2 = fx_seg(IRS + 1 + MSS, ISS + 1, MSS);
    fx_seg_in(&s1);
    fx_seg_in(&s2); /* the second full segment: acknowledged at once */
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->data.len, 0u);
    cr_assert_eq(b->ack, IRS + 1 + 2 * MSS);
    cr_assert_eq(b->seq, ISS + 1 + 10 * MSS, "seq %u: not snd_max", b->seq);
}

Test(retransmission, backoff_is_capped_and_retries_end_in_reset)
{
    fx_established();
    fx_in_flight(100);
    F.c.rto = 50000 * MS;
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    cr_assert_eq(F.c.rto, mtpg_tcp_param_MAX_RTO);
    F.c.retries = mtpg_tcp_param_DATA_RETRIES;
    fx_reset_out();
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    cr_assert(fx_pkt(0)->rst);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why));
    cr_assert_eq(why, MTPG_TCP_RESET_TIMEOUT);
    fx_assert_reset_and_close();
}

Test(retransmission, fin_is_retransmitted)
{
    fx_established();
    F.c.app_off = 0;
    fx_in_flight(1);
    F.c.app_off = 0;
    F.c.fin_queued = F.c.fin_sent = true;
    F.c.state = MTPG_TCP_FIN_WAIT_1;
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert(b->fin);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
}

Test(retransmission, spurious_timeout_is_undone)
{
    fx_established();
    fx_in_flight(5 * MSS);
    F.c.cwnd = 5 * MSS;
    uint32_t sent_ts = (uint32_t)(F.x.now_ns / MS) + F.c.ts_offset;
    F.x.now_ns += 5 * MS;
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    cr_assert_eq(F.c.cwnd, MSS);
    fx_reset_out();
    F.x.now_ns += 30 * MS;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + 5 * MSS, 0);
    s.o.tsecr = sent_ts; /* the ACK of the original transmission, just slow */
    fx_seg_in(&s);
    cr_assert(!F.c.rto_loss);
    cr_assert_geq(F.c.cwnd, 5 * MSS, "the collapse is undone");
    cr_assert_eq(F.c.snd_nxt, ISS + 1 + 5 * MSS);
}

Test(retransmission, real_loss_is_not_undone)
{
    fx_established();
    fx_in_flight(5 * MSS);
    F.c.cwnd = 5 * MSS;
    F.x.now_ns += 5 * MS;
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    uint32_t rtx_ts = (uint32_t)(F.x.now_ns / MS) + F.c.ts_offset;
    fx_reset_out();
    F.x.now_ns += 1 * MS;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + MSS, 0);
    s.o.tsecr = rtx_ts; /* echoes the retransmission */
    fx_seg_in(&s);
    cr_assert_lt(F.c.cwnd, 5 * MSS);
    cr_assert_eq(F.c.ssthresh, 2 * MSS + MSS / 2, "NewReno: half of the flight at the timeout");
}

Test(retransmission, backed_off_rto_stays_until_a_new_sample)
{
    fx_established();
    F.c.ts_ok = false;
    fx_in_flight(2 * MSS);
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    cr_assert_eq(F.c.rto, 10 * MS);
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + MSS, 0); /* acks the retransmission */
    s.o.has_ts = false;
    fx_seg_in(&s);
    cr_assert_eq(F.c.rto, 10 * MS, "Karn: no sample from a retransmitted segment");
    cr_assert_eq(F.c.retries, 0u);
}

Test(retransmission, rtt_samples_follow_rfc6298)
{
    fx_established();
    F.c.ts_ok = false;
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = MSS};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    F.x.now_ns += 20 * MS;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + MSS, 0);
    s.o.has_ts = false;
    fx_reset_out();
    fx_seg_in(&s);
    cr_assert_eq(F.c.srtt, 20 * MS);
    cr_assert_eq(F.c.rttvar, 10 * MS);
    cr_assert_eq(F.c.rto, 60 * MS, "SRTT + 4 RTTVAR");
}

Test(retransmission, rtt_from_timestamps_and_min_rto)
{
    fx_established();
    fx_in_flight(MSS);
    uint32_t now_ticks = (uint32_t)(F.x.now_ns / MS) + F.c.ts_offset;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + MSS, 0);
    s.o.tsecr = now_ticks; /* echo of a timestamp sent just now: RTT below the tick */
    fx_seg_in(&s);
    cr_assert(F.c.has_rtt);
    cr_assert_eq(F.c.rto, mtpg_tcp_param_MIN_RTO);
}

/* ------------------------------------------------------------------ fast retransmit */

TestSuite(fast_retransmit, .init = setup);

static void dupack(uint32_t ack)
{
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ack, 0);
    fx_seg_in(&s);
}

Test(fast_retransmit, third_dupack_retransmits_and_enters_recovery)
{
    fx_established();
    fx_in_flight(10 * MSS);
    dupack(ISS + 1);
    dupack(ISS + 1);
    cr_assert_eq(F.c.dupacks, 2u);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0);
    dupack(ISS + 1);
    cr_assert(F.c.in_recovery);
    cr_assert_eq(F.c.recover, ISS + 1 + 10 * MSS);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(b->data.len, MSS);
    cr_assert_eq(F.c.ssthresh, 5 * MSS, "NewReno: half the flight");
    cr_assert_eq(F.c.cwnd, 8 * MSS, "ssthresh + 3 segments");
}

Test(fast_retransmit, window_update_is_not_a_dupack)
{
    fx_established();
    fx_in_flight(10 * MSS);
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.window = 4096;
    fx_seg_in(&s);
    cr_assert_eq(F.c.dupacks, 0u);
}

Test(fast_retransmit, partial_ack_retransmits_the_next_hole)
{
    fx_established();
    fx_in_flight(10 * MSS);
    for (int i = 0; i < 3; i++)
        dupack(ISS + 1);
    uint32_t cwnd = F.c.cwnd;
    dupack(ISS + 1 + 2 * MSS); /* partial: below recover */
    cr_assert(F.c.in_recovery);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1 + 2 * MSS);
    cr_assert_eq(b->data.off, 2 * MSS);
    cr_assert_eq(F.c.cwnd, cwnd - 2 * MSS + MSS, "deflate by the acked amount, add one MSS");
    dupack(ISS + 1 + 10 * MSS); /* full acknowledgement */
    cr_assert(!F.c.in_recovery);
    cr_assert_eq(F.c.cwnd, 2 * MSS > F.c.ssthresh ? F.c.ssthresh : F.c.cwnd);
    cr_assert_leq(F.c.cwnd, F.c.ssthresh);
}

Test(fast_retransmit, dupacks_inflate_the_window_and_send_new_data)
{
    fx_established();
    F.c.app_off = 20 * MSS; /* 10 more segments queued behind the flight */
    F.c.snd_nxt = F.c.snd_max = ISS + 1 + 10 * MSS;
    F.c.rto_running = true;
    for (int i = 0; i < 3; i++)
        dupack(ISS + 1);
    uint32_t cwnd = F.c.cwnd;
    int sent = 0;
    for (int i = 0; i < 4; i++) {
        dupack(ISS + 1);
        sent += fx_count(MTP_OP_PKT_GEN);
    }
    cr_assert_eq(F.c.cwnd, cwnd + 4 * MSS);
    cr_assert_geq(sent, 1, "the inflated window lets new data out");
}

/* ------------------------------------------------------------------ SACK */

TestSuite(sack, .init = setup);

Test(sack, receiver_reports_out_of_order_blocks_most_recent_first)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1 + 1000, ISS + 1, 500);
    fx_seg_in(&a);
    const struct mtp_instr *in = fx_nth(MTP_OP_ADD_RX_SEG, 0);
    cr_assert_eq(in->u.seg.off, 1000u);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->ack, IRS + 1, "an immediate duplicate ACK");
    const struct mtpg_tcp_tcp_opt *o = fx_opt(b, 5);
    cr_assert(o);
    cr_assert_eq(o->u.opt_sack.blocks.len, 1u);
    cr_assert_eq(o->u.opt_sack.blocks.v[0].left, IRS + 1001);
    cr_assert_eq(o->u.opt_sack.blocks.v[0].right, IRS + 1501);

    fx_reset_out();
    struct mtpg_tcp_seg c = fx_seg(IRS + 1 + 3000, ISS + 1, 500);
    fx_seg_in(&c);
    o = fx_opt(fx_pkt(0), 5);
    cr_assert_eq(o->u.opt_sack.blocks.len, 2u);
    cr_assert_eq(o->u.opt_sack.blocks.v[0].left, IRS + 3001, "the newest block first");
    cr_assert_eq(o->u.opt_sack.blocks.v[1].left, IRS + 1001);

    fx_reset_out();
    struct mtpg_tcp_seg fill = fx_seg(IRS + 1, ISS + 1, 1000); /* fills the first hole */
    fx_seg_in(&fill);
    cr_assert_eq(F.c.rcv_nxt, IRS + 1501, "merged with the first block");
    cr_assert_eq(F.c.rcv_off, 1500u);
    cr_assert_eq(F.c.ooo.len, 1u);
    b = fx_pkt(0);
    cr_assert_eq(b->ack, IRS + 1501, "a filled hole is acknowledged at once");
}

/* found by the analysis harness: data past an early FIN, then the hole before it filled,
 * moved rcv_nxt past the FIN, which was then never taken (and the bytes after it went to the
 * application) */
Test(sack, nothing_past_an_early_fin_is_kept)
{
    fx_established();
    struct mtpg_tcp_seg fin = fx_seg(IRS + 1 + 1000, ISS + 1, 500); /* data and FIN, early */
    fin.f_fin = true;
    fx_seg_in(&fin);
    cr_assert(F.c.fin_early);
    cr_assert_eq(F.c.fin_seq, IRS + 1501);
    fx_reset_out();
    struct mtpg_tcp_seg past = fx_seg(IRS + 1501, ISS + 1, 300); /* after the FIN: refused */
    fx_seg_in(&past);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 0);
    cr_assert_eq(F.c.ooo.len, 1u);
    cr_assert_eq(F.c.ooo.v[0].right, IRS + 1501);
    fx_reset_out();
    struct mtpg_tcp_seg fill = fx_seg(IRS + 1, ISS + 1, 1000);
    fx_seg_in(&fill);
    cr_assert_eq(F.c.rcv_off, 1500u, "the bytes up to the FIN");
    cr_assert_eq(F.c.rcv_nxt, IRS + 1502, "and the FIN");
    cr_assert(F.c.fin_rcvd);
    cr_assert(fx_has_note(MTPG_TCP_NOTE_PEER_CLOSED, NULL));
    cr_assert_eq(F.c.state, MTPG_TCP_CLOSE_WAIT);
}

/* found by the analysis harness: data held past a FIN that arrives later, early, was also
 * taken in order once the hole before it filled (and the FIN never) */
Test(sack, data_held_past_a_later_fin_is_dropped)
{
    fx_established();
    struct mtpg_tcp_seg past = fx_seg(IRS + 1 + 2000, ISS + 1, 500); /* held out of order */
    fx_seg_in(&past);
    cr_assert_eq(F.c.ooo.len, 1u);
    struct mtpg_tcp_seg fin = fx_seg(IRS + 1 + 1000, ISS + 1, 500); /* data and FIN at 1500 */
    fin.f_fin = true;
    fx_seg_in(&fin);
    cr_assert(F.c.fin_early);
    cr_assert_eq(F.c.ooo.len, 1u, "the block past the FIN is gone");
    cr_assert_eq(F.c.ooo.v[0].right, IRS + 1501);
    fx_reset_out();
    struct mtpg_tcp_seg fill = fx_seg(IRS + 1, ISS + 1, 1000);
    fx_seg_in(&fill);
    cr_assert_eq(F.c.rcv_off, 1500u, "the bytes up to the FIN");
    cr_assert_eq(F.c.rcv_nxt, IRS + 1502, "and the FIN");
    cr_assert(fx_has_note(MTPG_TCP_NOTE_PEER_CLOSED, NULL));
}

Test(sack, adjacent_blocks_merge)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1 + 1000, ISS + 1, 500);
    struct mtpg_tcp_seg b = fx_seg(IRS + 1 + 1500, ISS + 1, 500);
    fx_seg_in(&a);
    fx_seg_in(&b);
    cr_assert_eq(F.c.ooo.len, 1u);
    cr_assert_eq(F.c.ooo.v[0].left, IRS + 1001);
    cr_assert_eq(F.c.ooo.v[0].right, IRS + 2001);
}

Test(sack, sender_scoreboard_skips_sacked_data_on_retransmission)
{
    fx_established();
    fx_in_flight(10 * MSS);
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.sacks.len = 1;
    s.sacks.v[0].left = ISS + 1 + 2 * MSS;
    s.sacks.v[0].right = ISS + 1 + 6 * MSS;
    for (int i = 0; i < 3; i++) {
        fx_reset_out();
        fx_seg_in(&s);
    }
    cr_assert_eq(F.c.sacked.len, 1u);
    cr_assert(F.c.in_recovery);
    cr_assert_eq(fx_pkt(0)->seq, ISS + 1, "the first hole");
    fx_reset_out();
    fx_seg_in(&s); /* a fourth dupack: the next hole below the highest SACK */
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1 + MSS);
    cr_assert_eq(b->data.len, MSS);
    fx_reset_out();
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "nothing lost below the SACKed block any more");
}

Test(sack, go_back_after_rto_skips_sacked_ranges)
{
    fx_established();
    fx_in_flight(6 * MSS);
    struct mtpg_tcp_sack_block blk = {ISS + 1 + MSS, ISS + 1 + 3 * MSS};
    F.c.sacked.v[0] = blk;
    F.c.sacked.len = 1;
    F.c.snd_nxt = ISS + 1 + MSS; /* as if the first segment was resent after a timeout */
    F.c.cwnd = 6 * MSS;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 + MSS, 0);
    fx_seg_in(&s);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1 + 3 * MSS, "jumps over the SACKed block");
}

Test(sack, blocks_outside_the_flight_are_ignored)
{
    fx_established();
    fx_in_flight(2 * MSS);
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.sacks.len = 2;
    s.sacks.v[0] = (struct mtpg_tcp_sack_block){ISS - 100, ISS}; /* D-SACK-like, old */
    s.sacks.v[1] = (struct mtpg_tcp_sack_block){ISS + 1 + MSS, ISS + 1 + 9 * MSS}; /* beyond */
    fx_seg_in(&s);
    cr_assert_eq(F.c.sacked.len, 0u);
}

/* ------------------------------------------------------------------ CUBIC */

TestSuite(cubic, .init = setup);

Test(cubic, loss_reduces_to_beta_and_sets_k)
{
    fx_established();
    fx_in_flight(10 * MSS);
    F.c.cwnd = 100 * MSS;
    F.sp.enter_loss = true;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    mtpg_tcp_proc_cubic(&F.x, &s, &F.c, &F.sp);
    cr_assert_eq(F.c.cwnd, 70 * MSS);
    cr_assert_eq(F.c.ssthresh, 70 * MSS);
    cr_assert_eq(F.c.w_max, 100 * MSS);
    /* K = cbrt(100 * 0.3 / 0.4) s = 4.217 s */
    cr_assert(F.c.cubic_k >= 4210 && F.c.cubic_k <= 4220, "K = %lu ms", (unsigned long)F.c.cubic_k);
}

Test(cubic, window_grows_toward_w_max_then_beyond)
{
    fx_established();
    F.c.cwnd = 70 * MSS;
    F.c.ssthresh = 70 * MSS;
    F.c.w_max = 100 * MSS;
    F.c.cubic_k = 4217;
    F.c.epoch_start = F.x.now_ns;
    F.c.w_est = 70 * MSS;
    F.c.srtt = MS;
    uint32_t before = F.c.cwnd;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    for (int rtt = 0; rtt < 70; rtt++) { /* a window of ACKs every 30 ms */
        F.x.now_ns += 30 * MS;
        for (uint32_t i = F.c.cwnd / MSS; i > 0; i--) {
            memset(&F.sp, 0, sizeof F.sp);
            F.sp.ack_new = true;
            F.sp.acked = MSS;
            mtpg_tcp_proc_cubic(&F.x, &s, &F.c, &F.sp);
        }
    }
    cr_assert_gt(F.c.cwnd, before);
    cr_assert_gt(F.c.cwnd, 90 * MSS, "concave growth toward W_max (cwnd %u)", F.c.cwnd / MSS);
}

Test(cubic, newreno_halves_where_cubic_keeps_70_percent)
{
    fx_established();
    fx_in_flight(100 * MSS);
    F.c.cwnd = 100 * MSS;
    F.c.loss_flight = 100 * MSS;
    F.sp.enter_loss = true;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    mtpg_tcp_proc_newreno(&F.x, &s, &F.c, &F.sp);
    cr_assert_eq(F.c.ssthresh, 50 * MSS);
}

/* ------------------------------------------------------------------ window probes */

TestSuite(persist, .init = setup);

Test(persist, probe_draws_an_ack_and_backs_off)
{
    fx_established();
    F.c.app_off = 1000; /* queued, window closed, nothing in flight */
    F.c.snd_wnd = 0;
    F.c.persist_running = true;
    F.c.persist_len = 5 * MS;
    struct mtpg_tcp_persist_expired t = {0};
    fx_run(MTPG_TCP_EV_PERSIST_EXPIRED, &t, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS, "an old sequence number: the peer answers with its window");
    cr_assert_eq(b->data.len, 0u);
    cr_assert_eq(F.c.persist_len, 10 * MS);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_PERSIST)->u.timer.dur_ns, 10 * MS);
}

Test(persist, window_opening_resumes_sending)
{
    fx_established();
    F.c.app_off = 1000;
    F.c.snd_wnd = 0;
    F.c.persist_running = true;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.window = 100;
    fx_seg_in(&s);
    cr_assert(fx_timer(MTP_OP_TIMER_STOP, TIMER_PERSIST));
    cr_assert_eq(fx_pkt(0)->data.len, 1000u);
}

/* A window smaller than a segment (Linux never moves its right edge back, so the rest of an
 * earlier window can be a few hundred bytes) with everything acknowledged and data queued:
 * sender SWS avoidance holds the data back, so a timer must run (RFC 9293 3.8.6.2.1's
 * override timeout), or the connection holds unsent bytes with no timer at all and waits on
 * the peer's next window update (mtpcat took "no timer" for "done", exited, and the kernel
 * peer's update drew a RST: issue 17, 104695096 of 104857600 bytes). */
Test(persist, small_window_with_data_queued_starts_the_timer)
{
    fx_established();
    F.c.app_off = 100000;
    F.c.max_snd_wnd = 64 * 1024;
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.window = 4; /* << 7: 512 bytes */
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "SWS avoidance: no 512-byte segment yet");
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_PERSIST), "no timer while data waits");
    cr_assert(F.c.persist_running);
}

Test(persist, expiry_fills_a_small_window)
{
    fx_established();
    F.c.app_off = 100000;
    F.c.snd_wnd = 512;
    F.c.max_snd_wnd = 64 * 1024;
    F.c.persist_running = true;
    F.c.persist_len = 5 * MS;
    struct mtpg_tcp_persist_expired t = {0};
    fx_run(MTPG_TCP_EV_PERSIST_EXPIRED, &t, &F.c);
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->seq, ISS + 1);
    cr_assert_eq(b->data.len, 512u, "what the window takes");
    cr_assert_eq(F.c.snd_max, ISS + 1 + 512);
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_RTO), "in flight: the RTO takes over");
}

/* ------------------------------------------------------------------ Nagle */

TestSuite(nagle, .init = setup);

Test(nagle, small_segment_waits_while_data_is_unacknowledged)
{
    fx_established();
    fx_in_flight(100);
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 10};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_count(MTP_OP_ADD_TX_DATA), 1);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0);
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 101, 0);
    fx_seg_in(&s);
    cr_assert_eq(fx_pkt(0)->data.len, 10u, "sent once the ACK arrives");
}

Test(nagle, nodelay_sends_at_once)
{
    fx_established();
    fx_in_flight(100);
    struct mtpg_tcp_app_setopt o = {.opt = MTPG_TCP_OPT_NODELAY, .value = 1};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
    fx_reset_out();
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 10};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_pkt(0)->data.len, 10u);
}

Test(nagle, full_segments_are_not_delayed)
{
    fx_established();
    fx_in_flight(100);
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = MSS + 10};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_pkt(0)->data.len, MSS + 10, "handed to the segmenter whole");
}

/* ------------------------------------------------------------------ TCP_CORK and the FIN */

TestSuite(cork, .init = setup);

static void set_cork(uint32_t on)
{
    struct mtpg_tcp_app_setopt o = {.opt = MTPG_TCP_OPT_CORK, .value = on};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
}

static void app_send(uint32_t len)
{
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = len};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
}

/* nginx's tcp_nopush: the header, then the file, then the uncork: one segment, not two */
Test(cork, corked_bytes_wait_for_the_uncork)
{
    fx_established();
    F.c.nodelay = true;
    set_cork(1);
    app_send(236);
    app_send(100);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "a partial segment waits while corked");
    cr_assert(fx_timer(MTP_OP_TIMER_START, TIMER_PERSIST), "the persist timer bounds the wait");
    fx_reset_out();
    set_cork(0);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    cr_assert_eq(fx_pkt(0)->data.len, 336u);
    cr_assert_eq(fx_pkt(0)->fin, 0);
}

Test(cork, full_segments_leave_while_corked)
{
    fx_established();
    set_cork(1);
    app_send(2 * MSS + 10);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    cr_assert_eq(fx_pkt(0)->data.len, 2 * MSS, "the 10-byte tail waits");
}

Test(cork, the_persist_timer_sends_what_the_cork_holds)
{
    fx_established();
    set_cork(1);
    app_send(100);
    cr_assert(F.c.persist_running);
    fx_reset_out();
    struct mtpg_tcp_persist_expired t = {0};
    fx_run(MTPG_TCP_EV_PERSIST_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    cr_assert_eq(fx_pkt(0)->data.len, 100u);
    cr_assert_eq(fx_pkt(0)->seq, ISS + 1);
}

/* Linux's close(): the corked tail and the FIN leave together, in one segment */
Test(cork, close_sends_the_corked_tail_with_the_fin)
{
    fx_established();
    set_cork(1);
    app_send(100);
    fx_reset_out();
    struct mtpg_tcp_app_close cl = {0};
    fx_run(MTPG_TCP_EV_APP_CLOSE, &cl, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1, "data and FIN in one segment");
    const seg_bp *b = fx_pkt(0);
    cr_assert_eq(b->data.len, 100u);
    cr_assert_eq(b->fin, 1);
    cr_assert_eq(F.c.state, MTPG_TCP_FIN_WAIT_1);
    cr_assert(F.c.fin_sent);
    cr_assert_eq(F.c.snd_nxt, ISS + 1 + 101, "the FIN takes a sequence number");
    cr_assert_eq(F.c.snd_max, F.c.snd_nxt);
}

/* A shutdown lifts Nagle: the small tail goes at once, with the FIN */
Test(cork, shutdown_sends_a_tail_nagle_held_with_the_fin)
{
    fx_established();
    fx_in_flight(100);
    app_send(10);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "Nagle holds it");
    fx_reset_out();
    struct mtpg_tcp_app_shutdown sh = {0};
    fx_run(MTPG_TCP_EV_APP_SHUTDOWN, &sh, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    cr_assert_eq(fx_pkt(0)->data.len, 10u);
    cr_assert_eq(fx_pkt(0)->fin, 1);
}

/* The FIN's segment is a blueprint of its own: the segments before it stay one blueprint
 * whose packets a device may cut (TSO repeats the first header: a FIN in it would be on all) */
Test(cork, the_fin_segment_is_apart_from_the_full_ones_before_it)
{
    fx_established();
    F.c.snd_wnd = 0; /* nothing may leave yet */
    app_send(3 * MSS + 10);
    struct mtpg_tcp_app_shutdown sh = {0};
    fx_run(MTPG_TCP_EV_APP_SHUTDOWN, &sh, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0);
    fx_reset_out();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    fx_seg_in(&s); /* the window opens: 1 MiB */
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 2);
    cr_assert_eq(fx_pkt(0)->data.len, 3 * MSS);
    cr_assert_eq(fx_pkt(0)->fin, 0);
    cr_assert_eq(fx_pkt(1)->seq, ISS + 1 + 3 * MSS);
    cr_assert_eq(fx_pkt(1)->data.len, 10u);
    cr_assert_eq(fx_pkt(1)->fin, 1);
    cr_assert_eq(F.c.snd_max, ISS + 1 + 3 * MSS + 10 + 1);
}

/* After a timeout the last data segment goes again with its FIN */
Test(cork, a_retransmission_of_the_last_segment_carries_the_fin)
{
    fx_established();
    F.c.nodelay = true;
    app_send(100);
    struct mtpg_tcp_app_shutdown sh = {0};
    fx_run(MTPG_TCP_EV_APP_SHUTDOWN, &sh, &F.c);
    cr_assert_eq(F.c.snd_max, ISS + 1 + 101);
    fx_reset_out();
    fx_run(MTPG_TCP_EV_RTO_EXPIRED, &RTO, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1);
    cr_assert_eq(fx_pkt(0)->seq, ISS + 1);
    cr_assert_eq(fx_pkt(0)->data.len, 100u);
    cr_assert_eq(fx_pkt(0)->fin, 1);
    cr_assert_eq(F.c.snd_nxt, ISS + 1 + 101);
}

/* ------------------------------------------------------------------ delayed ACK */

TestSuite(delayed_ack, .init = setup);

Test(delayed_ack, every_second_segment_is_acked)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1, ISS + 1, MSS);
    fx_seg_in(&a);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0);
    F.c.delack_running = true;
    fx_reset_out();
    struct mtpg_tcp_seg b = fx_seg(IRS + 1 + MSS, ISS + 1, MSS);
    fx_seg_in(&b);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1 + 2 * MSS);
    cr_assert_eq(F.c.segs_unacked, 0u);
}

Test(delayed_ack, two_small_segments_wait_for_the_timer)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1, ISS + 1, 236);
    fx_seg_in(&a);
    struct mtpg_tcp_seg b = fx_seg(IRS + 1 + 236, ISS + 1, 19);
    fx_seg_in(&b);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "less than two full segments: no ACK yet");
    cr_assert(F.c.delack_running);
    cr_assert_eq(F.c.segs_unacked, 2u);
}

Test(delayed_ack, one_large_segment_is_acked_at_once)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1, ISS + 1, 2 * MSS);
    fx_seg_in(&a);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1 + 2 * MSS, "a GSO-sized segment is two full ones");
}

Test(delayed_ack, timer_sends_the_ack)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&a);
    fx_reset_out();
    struct mtpg_tcp_delack_expired t = {0};
    fx_run(MTPG_TCP_EV_DELACK_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 101);
    cr_assert(!F.c.delack_running);
}

Test(delayed_ack, ack_rides_on_data)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1, ISS + 1, 100);
    fx_seg_in(&a);
    fx_reset_out();
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = 10};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 101);
    cr_assert_eq(F.c.segs_unacked, 0u);
    cr_assert_eq(fx_count(MTP_OP_TIMER_STOP), 1, "the delayed-ACK timer is stopped");
    cr_assert(!F.c.delack_running);
    fx_reset_out();
    struct mtpg_tcp_delack_expired t = {0};
    fx_run(MTPG_TCP_EV_DELACK_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0, "nothing left to acknowledge");
}

/* The adaptive delayed-ACK timeout (c.ato): request/response grows it, the rest shrinks it. */

static const struct mtpg_tcp_delack_expired DELACK = {0};
#define T0 (100 * MS)
#define ATO_MIN mtpg_tcp_param_DELACK_TIMEOUT
#define ATO_MAX mtpg_tcp_param_DELACK_MAX

/* A request of `len` bytes at `at`; the delayed-ACK timer it starts (or NULL). */
static const struct mtp_instr *request_at(uint64_t at, uint32_t len)
{
    F.x.now_ns = at;
    fx_reset_out();
    struct mtpg_tcp_seg a = fx_seg(F.c.rcv_nxt, F.c.snd_nxt, len);
    fx_seg_in(&a);
    return fx_timer(MTP_OP_TIMER_START, TIMER_DELACK);
}

static void answer_at(uint64_t at, uint32_t len)
{
    F.x.now_ns = at;
    fx_reset_out();
    struct mtpg_tcp_app_send ev = {.buf = 0x5000, .len = len};
    fx_run(MTPG_TCP_EV_APP_SEND, &ev, &F.c);
    cr_assert_eq(fx_pkt(0)->data.len, len);
}

static void delack_fires_at(uint64_t at)
{
    F.x.now_ns = at;
    fx_reset_out();
    fx_run(MTPG_TCP_EV_DELACK_EXPIRED, &DELACK, &F.c);
}

Test(delayed_ack, the_bound_leaves_room_below_min_rto)
{
    cr_assert_lt(ATO_MIN, ATO_MAX);
    cr_assert_leq(ATO_MAX + 1 * MS, mtpg_tcp_param_MIN_RTO, "an RTT of 1 ms fits before the peer's RTO");
    fx_established();
    cr_assert_eq(F.c.ato, ATO_MIN, "a new connection starts from the shortest timeout");
}

/* nginx under load: the answer leaves 1.5 ms after the request, after the 1 ms timer sent a
 * pure ACK. The timeout grows to twice that delay, and the next request's ACK rides. */
Test(delayed_ack, a_late_answer_grows_the_timeout)
{
    fx_established();
    cr_assert_eq(request_at(T0, 100)->u.timer.dur_ns, ATO_MIN);
    delack_fires_at(T0 + ATO_MIN);
    cr_assert_eq(fx_pkt(0)->data.len, 0u, "a pure ACK");
    answer_at(T0 + 1500000, 200);
    cr_assert_eq(F.c.ato, 3 * MS, "twice the answer's delay");
    cr_assert_eq(request_at(T0 + 1600000, 100)->u.timer.dur_ns, 3 * MS);
    answer_at(T0 + 3100000, 200);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 201, "the ACK rode on the answer");
    cr_assert_eq(fx_count(MTP_OP_TIMER_STOP), 1, "and the timer is stopped");
    cr_assert_eq(F.c.ato, 3 * MS, "an answer as slow keeps the timeout");
}

Test(delayed_ack, a_quick_answer_leaves_the_shortest_timeout)
{
    fx_established();
    request_at(T0, 100);
    answer_at(T0 + 100000, 200);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 101);
    cr_assert_eq(F.c.ato, ATO_MIN);
}

Test(delayed_ack, the_timeout_grows_up_to_delack_max)
{
    fx_established();
    request_at(T0, 100);
    delack_fires_at(T0 + ATO_MIN);
    answer_at(T0 + ATO_MAX - 1 * MS, 200);
    cr_assert_eq(F.c.ato, ATO_MAX, "2 x %llu ns is cut to the bound", ATO_MAX - 1 * MS);
    cr_assert_eq(request_at(T0 + ATO_MAX, 100)->u.timer.dur_ns, ATO_MAX);
}

Test(delayed_ack, an_answer_later_than_delack_max_does_not_count)
{
    fx_established();
    request_at(T0, 100);
    delack_fires_at(T0 + ATO_MIN);
    answer_at(T0 + ATO_MAX + 1, 200);
    cr_assert_eq(F.c.ato, ATO_MIN, "waiting that long would not have let the ACK ride");
}

/* The timer fired: nothing of ours carried the ACK in time (pingpong mode ends). */
Test(delayed_ack, the_timer_firing_shrinks_the_timeout)
{
    fx_established();
    F.c.ato = ATO_MAX;
    F.c.data_at = T0 - 1 * MS;
    cr_assert_eq(request_at(T0, 100)->u.timer.dur_ns, ATO_MAX);
    delack_fires_at(T0 + ATO_MAX);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 101);
    cr_assert_eq(F.c.ato, ATO_MIN);
    cr_assert_eq(request_at(T0 + 20 * MS, 100)->u.timer.dur_ns, ATO_MIN);
}

/* Bulk data: every second full segment is acknowledged at once, and the timeout for an odd
 * last segment is the shortest again, however interactive the connection was before. */
Test(delayed_ack, bulk_data_acks_every_second_segment_and_shrinks_the_timeout)
{
    fx_established();
    F.c.ato = ATO_MAX;
    F.c.data_at = T0 - 1 * MS;
    cr_assert_eq(request_at(T0, MSS)->u.timer.dur_ns, ATO_MAX);
    cr_assert_null(request_at(T0 + 10000, MSS), "no timer: the ACK goes at once");
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1 + 2 * MSS);
    cr_assert_eq(F.c.ato, ATO_MIN);
    cr_assert_eq(request_at(T0 + 20000, MSS)->u.timer.dur_ns, ATO_MIN);
}

/* After an idle RTO the peer's pattern may have changed: the shortest timeout again. */
Test(delayed_ack, data_after_idle_starts_from_the_shortest_timeout)
{
    fx_established();
    F.c.ato = ATO_MAX;
    F.c.data_at = T0 - F.c.rto;
    cr_assert_eq(request_at(T0, 100)->u.timer.dur_ns, ATO_MAX, "one RTO is not idle yet");
    answer_at(T0 + 10000, 10);          /* carries the ACK, stops the timer */
    cr_assert_eq(F.c.ato, ATO_MAX);
    F.x.now_ns = T0 + 2 * F.c.rto;
    fx_reset_out();
    struct mtpg_tcp_seg b = fx_seg(F.c.rcv_nxt, F.c.snd_una, 100);  /* no RTT sample: same RTO */
    fx_seg_in(&b);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_DELACK)->u.timer.dur_ns, ATO_MIN);
}

/* ------------------------------------------------------------------ RST validation */

TestSuite(rst_validation, .init = setup);

Test(rst_validation, exact_rst_resets)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, 0, 0);
    s.f_rst = true;
    s.f_ack = false;
    fx_seg_in(&s);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why));
    cr_assert_eq(why, MTPG_TCP_RESET_BY_PEER);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 1);
}

Test(rst_validation, in_window_rst_gets_a_challenge_ack)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1 + 1000, 0, 0);
    s.f_rst = true;
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
    const seg_bp *b = fx_pkt(0);
    cr_assert(!b->rst && b->ack_flag);
    cr_assert_eq(b->ack, IRS + 1);
}

Test(rst_validation, out_of_window_rst_is_dropped_silently)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1 + 10 * 1000 * 1000, 0, 0);
    s.f_rst = true;
    fx_seg_in(&s);
    cr_assert_eq(F.out.n, 0u);
}

Test(rst_validation, ack_too_old_is_challenged)
{
    fx_established();
    F.c.max_snd_wnd = 10000;
    fx_in_flight(100);
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1 - 20000, 50);
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 0, "dropped");
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1);
}

Test(rst_validation, syn_in_window_gets_a_challenge_ack)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 0);
    s.f_syn = true;
    fx_seg_in(&s);
    cr_assert_eq(F.c.state, MTPG_TCP_ESTABLISHED);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1);
    cr_assert_eq(fx_count(MTP_OP_DEL_CTX), 0);
}

Test(rst_validation, paws_drops_old_timestamps)
{
    fx_established();
    struct mtpg_tcp_seg s = fx_seg(IRS + 1, ISS + 1, 100);
    s.o.tsval = 700; /* ts_recent is 777 */
    fx_seg_in(&s);
    cr_assert_eq(fx_count(MTP_OP_ADD_RX_SEG), 0);
    cr_assert_eq(fx_pkt(0)->ack, IRS + 1);
}

/* ------------------------------------------------------------------ keepalive */

TestSuite(keepalive, .init = setup);

Test(keepalive, idle_connection_is_probed_then_reset)
{
    fx_established();
    struct mtpg_tcp_app_setopt o = {.opt = MTPG_TCP_OPT_KEEPALIVE, .value = 1};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_KA)->u.timer.dur_ns, mtpg_tcp_param_KA_IDLE);
    F.c.last_rcv = F.x.now_ns;
    F.x.now_ns += mtpg_tcp_param_KA_IDLE;
    struct mtpg_tcp_keepalive_expired t = {0};
    for (uint32_t i = 0; i < mtpg_tcp_param_KA_PROBES; i++) {
        fx_reset_out();
        fx_run(MTPG_TCP_EV_KEEPALIVE_EXPIRED, &t, &F.c);
        cr_assert_eq(fx_pkt(0)->seq, ISS, "probe %u", i);
    }
    fx_reset_out();
    fx_run(MTPG_TCP_EV_KEEPALIVE_EXPIRED, &t, &F.c);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why));
    cr_assert_eq(why, MTPG_TCP_RESET_TIMEOUT);
}

Test(keepalive, traffic_postpones_the_probe)
{
    fx_established();
    F.c.keepalive = true;
    F.c.last_rcv = F.x.now_ns - 1000 * MS;
    struct mtpg_tcp_keepalive_expired t = {0};
    fx_run(MTPG_TCP_EV_KEEPALIVE_EXPIRED, &t, &F.c);
    cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 0);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_KA)->u.timer.dur_ns,
                 mtpg_tcp_param_KA_IDLE - 1000 * MS);
}

/* TCP_KEEPIDLE / TCP_KEEPINTVL / TCP_KEEPCNT: the socket's own values replace the params. */
Test(keepalive, socket_knobs_replace_the_params)
{
    fx_established();
    struct mtpg_tcp_app_setopt o = {.opt = MTPG_TCP_OPT_KA_IDLE, .value = 30};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
    cr_assert_eq(fx_count(MTP_OP_TIMER_START), 0, "keepalive is still off");
    o = (struct mtpg_tcp_app_setopt){.opt = MTPG_TCP_OPT_KA_INTVL, .value = 5};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
    o = (struct mtpg_tcp_app_setopt){.opt = MTPG_TCP_OPT_KA_PROBES, .value = 2};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
    fx_reset_out();
    o = (struct mtpg_tcp_app_setopt){.opt = MTPG_TCP_OPT_KEEPALIVE, .value = 1};
    fx_run(MTPG_TCP_EV_APP_SETOPT, &o, &F.c);
    cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_KA)->u.timer.dur_ns, 30 * 1000 * MS);
    F.c.last_rcv = F.x.now_ns;
    F.x.now_ns += 30 * 1000 * MS;
    struct mtpg_tcp_keepalive_expired t = {0};
    for (int i = 0; i < 2; i++) {
        fx_reset_out();
        fx_run(MTPG_TCP_EV_KEEPALIVE_EXPIRED, &t, &F.c);
        cr_assert_eq(fx_count(MTP_OP_PKT_GEN), 1, "probe %d", i);
        cr_assert_eq(fx_timer(MTP_OP_TIMER_START, TIMER_KA)->u.timer.dur_ns, 5 * 1000 * MS);
    }
    fx_reset_out();
    fx_run(MTPG_TCP_EV_KEEPALIVE_EXPIRED, &t, &F.c);
    uint64_t why = 0;
    cr_assert(fx_has_note(MTPG_TCP_NOTE_RESET, &why), "two unanswered probes reset it");
    cr_assert_eq(why, MTPG_TCP_RESET_TIMEOUT);
}

/* ------------------------------------------------------------------ parser and wire */

TestSuite(wire, .init = setup);

static uint32_t serialise(const seg_bp *b, uint8_t *out)
{
    const struct mtp_bp_desc *d = &mtpg_tcp_program.bps[MTPG_TCP_BP_TCP_SEG];
    uint32_t n = d->hdr_len(b);
    d->write_hdr(b, out, 0);
    return n;
}

Test(wire, syn_round_trips_through_the_parser)
{
    struct mtpg_tcp_app_connect ev = {LOCAL_IP, REMOTE_IP, 33000, 80};
    fx_run(MTPG_TCP_EV_APP_CONNECT, &ev, NULL);
    uint8_t pkt[128];
    uint32_t n = serialise(fx_pkt(0), pkt);
    cr_assert_eq(n, 40u, "20 + MSS 4 + SACK_OK 2 + TS 10 + NOP 1 + WS 3");
    cr_assert_eq(pkt[12] >> 4, 10);
    cr_assert_eq(pkt[13], 0x02, "SYN only");

    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    struct mtp_rx_pkt rx = {.l4 = pkt, .l4_len = n};
    rx.ip.src = LOCAL_IP;
    rx.ip.dst = REMOTE_IP;
    cr_assert_eq(mtpg_tcp_program.parse(&rx, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 2u, "the connection's event, then the listener's");
    cr_assert_eq(evs[0].type, MTPG_TCP_EV_SEG);
    cr_assert(((const struct mtpg_tcp_seg *)evs[0].data)->f_syn);
    cr_assert_eq(evs[1].type, MTPG_TCP_EV_SYN);
    const struct mtpg_tcp_syn *syn = (const void *)evs[1].data;
    cr_assert_eq(syn->o.mss, 1460);
    cr_assert(syn->o.sack_ok && syn->o.has_ts && syn->o.has_ws);
    cr_assert_eq(syn->o.ws, 7);
    cr_assert_eq(syn->local_port, 80);
    struct mtp_key k;
    struct mtpg_tcp_port_id id = {80};
    mtpg_tcp_key_port_id(&k, &id);
    cr_assert(memcmp(&evs[1].key, &k, sizeof k) == 0, "keyed by the listener");
}

Test(wire, ack_with_sack_parses_into_a_seg_event)
{
    fx_established();
    struct mtpg_tcp_seg a = fx_seg(IRS + 1 + 1000, ISS + 1, 500);
    fx_seg_in(&a);
    uint8_t pkt[128];
    uint32_t n = serialise(fx_pkt(0), pkt);
    cr_assert_eq(n, 20u + 12u + 12u, "NOP NOP TS + NOP NOP SACK(1)");
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    struct mtp_rx_pkt rx = {.l4 = pkt, .l4_len = n};
    rx.ip.src = LOCAL_IP;
    rx.ip.dst = REMOTE_IP;
    cr_assert_eq(mtpg_tcp_program.parse(&rx, &sink), MTP_PARSE_OK);
    cr_assert_eq(evs[0].type, MTPG_TCP_EV_SEG);
    const struct mtpg_tcp_seg *s = (const void *)evs[0].data;
    cr_assert(s->f_ack && !s->f_syn);
    cr_assert_eq(s->ack, IRS + 1);
    cr_assert_eq(s->sacks.len, 1u);
    cr_assert_eq(s->sacks.v[0].left, IRS + 1001);
    cr_assert(s->o.has_ts);
    cr_assert_eq(s->o.tsecr, 777u, "ts_recent: out-of-order data does not update it");
    cr_assert_eq(s->data.len, 0u);
}

Test(wire, short_or_bad_header_is_malformed)
{
    uint8_t pkt[20] = {0};
    pkt[12] = 4 << 4; /* data offset 4 */
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    struct mtp_rx_pkt rx = {.l4 = pkt, .l4_len = 20};
    cr_assert_eq(mtpg_tcp_program.parse(&rx, &sink), MTP_PARSE_MALFORMED);
    rx.l4_len = 12;
    cr_assert_eq(mtpg_tcp_program.parse(&rx, &sink), MTP_PARSE_MALFORMED);
}
