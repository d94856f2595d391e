/*
 * test_homa_procs.c — homa.mtp one event at a time: the grant pass (SRPT order, one message
 * per peer, overcommitment, the incoming cap, the FIFO share), priorities (unscheduled by
 * cutoffs, scheduled by rank, control at the top), RESEND after silence, retransmission,
 * BUSY, RPC_UNKNOWN, timeouts, piggy-backed and explicit acknowledgements, the parser.
 */
#include "homa_fixture.h"

typedef struct mtpg_homa_grant_hdr grant_t;
typedef struct mtpg_homa_data_hdr data_t_;
typedef struct mtpg_homa_resend_hdr resend_t;

/* The path's window before a round trip is measured: LINK_MBPS 0 (10 Gb/s) x RTT_GUESS. */
#define WINDOW 14240u
#define MAX_INCOMING (8u * WINDOW) /* MAX_INCOMING 0: OVERCOMMIT windows */

/* A server RPC receiving a small unscheduled request: each DATA runs a grant pass. */
static void server_receiving(uint32_t len)
{
    hfx_rpc(false, MTPG_HOMA_S_IN);
    F.c.in_active = true;
    F.c.in_len = len;
    F.c.in_map.nbits = 704;
}

static void data_in(uint32_t offset, uint32_t len)
{
    struct mtpg_homa_data_pkt ev = { .r = hfx_rid(), .offset = offset, .msg_len = F.c.in_len,
                                     .incoming = F.c.in_len, .cutoff_version = 1 };
    ev.data.addr = 0x100000;
    ev.data.len = len;
    hfx_run(MTPG_HOMA_EV_DATA_PKT, &ev, &F.c);
}

static const grant_t *grant(int nth) { return hfx_bp(hfx_pkt(MTPG_HOMA_BP_GRANT_HDR, nth)); }

Test(homa_grants, shortest_first_one_message_per_peer_priorities_by_rank)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    const uint32_t A = 0x0a000005, B = 0x0a000006, C = 0x0a000007;
    hfx_incoming(A, 11, 100000, 14240, 14240, 0);
    hfx_incoming(B, 13, 50000, 14240, 14240, 1);
    hfx_incoming(A, 15, 30000, 14240, 14240, 2);
    hfx_incoming(C, 17, 200000, 14240, 14240, 3);
    data_in(0, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 3, "A's longer message waits");
    static const uint64_t ids[] = { 15, 13, 17 };
    static const uint32_t dst[] = { A, B, C };
    for (int i = 0; i < 3; i++) {
        const struct mtp_instr *in = hfx_pkt(MTPG_HOMA_BP_GRANT_HDR, i);
        cr_expect_eq(grant(i)->sender_id, ids[i], "grant %d", i);
        cr_expect_eq(grant(i)->type, MTPG_HOMA_T_GRANT);
        cr_expect_eq(grant(i)->offset, 28480, "one window (UNSCHED_BYTES) past what arrived");
        /* three messages, four scheduled levels: they take the lowest three */
        cr_expect_eq(grant(i)->priority, 2 - i, "rank %d", i);
        cr_expect_eq(grant(i)->dport, CPORT);
        cr_expect_eq(in->u.gen.dst_ip, dst[i]);
        cr_expect_eq(in->u.gen.tos, 7 << 5, "control packets at the highest level");
        cr_expect_eq(in->u.gen.queue, MTPG_HOMA_Q_P7);
    }
    cr_expect_eq(F.g.incoming, 3 * 14240);
    cr_expect_eq(F.g.active.v[2].id, 11);
    cr_expect_eq(F.g.active.v[2].granted, 14240, "not granted");
}

/* HomaModule's homa_grant_priority: fewer messages than scheduled levels use the lowest
 * levels, so a new shorter message is granted above what the others were granted and its
 * bytes overtake theirs in the switch. */
Test(homa_grants, few_messages_use_the_lowest_scheduled_levels)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    const uint32_t A = 0x0a000005, B = 0x0a000006;
    hfx_incoming(B, 13, 900000, 14240, 14240, 0);
    data_in(0, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1);
    cr_expect_eq(grant(0)->priority, 0, "alone: the lowest level");
    hfx_incoming(A, 11, 100000, 14240, 14240, 1);
    hfx_reset_out();
    data_in(PAY, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1, "B's window is still out");
    cr_expect_eq(grant(0)->sender_id, 11);
    cr_expect_eq(grant(0)->priority, 1, "the shorter one: above B's level 0");
    cr_expect_eq(F.g.active.v[1].prio, 0);
    /* five messages, more than the levels: rank r gets MAX_SCHED_PRIO - r (A is rank 0,
     * the three new ones ranks 1-3, B rank 4) */
    for (uint32_t p = 0; p < 3; p++)
        hfx_incoming(0x0a000010 + p, 21 + 2 * p, 200000 + p, 14240, 14240, 2 + p);
    hfx_reset_out();
    data_in(2 * PAY, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(grant(i)->sender_id, 21 + 2 * (uint64_t)i);
        cr_expect_eq(grant(i)->priority, MTPG_HOMA_MAX_SCHED_PRIO - 1 - i, "rank %d", i + 1);
    }
}

Test(homa_grants, overcommitment_caps_the_messages_granted)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    for (uint32_t p = 0; p < 10; p++)
        hfx_incoming(0x0a000010 + p, 21 + 2 * p, 100000 + p, 14240, 14240, p);
    data_in(0, PAY);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 8, "OVERCOMMIT");
    cr_expect_eq(grant(7)->priority, 0, "ranks past the scheduled levels share level 0");
}

Test(homa_grants, granted_but_not_received_bytes_are_capped)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    hfx_incoming(0x0a000005, 11, 100000, 14240, 14240, 0);
    hfx_incoming(0x0a000006, 13, 200000, 14240, 14240, 1);
    F.g.incoming = MAX_INCOMING - 100;
    data_in(0, PAY);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1, "the first grant reaches the cap");
    cr_expect_geq(F.g.incoming, MAX_INCOMING);
    hfx_reset_out();
    data_in(PAY, PAY);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 0, "over the cap: nobody");
}

Test(homa_grants, fifo_share_goes_to_the_oldest_message)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    hfx_incoming(0x0a000005, 11, 20000, 14240, 14240, 7);   /* short, young */
    hfx_incoming(0x0a000005, 13, 900000, 14240, 14240, 2);  /* long, old, same peer */
    F.g.srpt_bytes = mtpg_homa_param_FIFO_EVERY - 1;
    data_in(0, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 2);
    cr_expect_eq(grant(0)->sender_id, 11, "SRPT first");
    cr_expect_eq(grant(0)->offset, 20000, "rounded to the message's end");
    cr_expect_eq(grant(1)->sender_id, 13, "then the oldest, although its peer has a grant");
    cr_expect_eq(grant(1)->offset, (14240 + 50000 + PAY - 1) / PAY * PAY);
    cr_expect_eq(grant(1)->priority, 0);
    cr_expect_eq(F.g.srpt_bytes, 0);
}

static void expect_incoming_split(void)
{
    uint64_t owed = 0, fifo = 0;
    for (uint32_t i = 0; i < F.g.active.len; i++) {
        const struct mtpg_homa_inmsg *m = &F.g.active.v[i];
        owed += m->granted > m->received ? m->granted - m->received : 0;
        fifo += m->fifo;
    }
    cr_expect_eq(F.g.incoming + F.g.fifo_incoming, owed, "every granted byte counted once");
    cr_expect_eq(F.g.fifo_incoming, fifo);
}

/* FIFO grants (level 0: their bytes wait behind all others) are counted apart from
 * MAX_INCOMING, so they cannot hold back SRPT's grants (the 1,000-RPC stall); arrivals pay
 * SRPT's bytes first; FIFO_MAX_INCOMING caps them. */
Test(homa_grants, fifo_grants_are_counted_apart_from_max_incoming)
{
    hfx_init(MSEC);
    server_receiving(600 * PAY);                       /* the oldest message, id 3 */
    F.c.in_listed = true;
    F.c.tag = 0x9000 + 3;
    F.c.in_map.bits[0] = 0x3ff;
    F.c.in_recv = 10 * PAY;
    hfx_incoming(PEER, 3, 600 * PAY, 10 * PAY, 11 * PAY, 0);
    hfx_incoming(0x0a000006, 13, 300000, 14240, 14240, 5);
    F.g.srpt_bytes = mtpg_homa_param_FIFO_EVERY - 1;
    data_in(10 * PAY, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 3);
    cr_expect_eq(grant(2)->sender_id, 3);
    cr_expect_eq(grant(2)->priority, 0, "the FIFO grant");
    uint32_t srpt_end = grant(1)->offset, fifo = grant(2)->offset - srpt_end;
    cr_expect_eq(srpt_end, 11 * PAY + WINDOW);
    cr_expect_geq(fifo, mtpg_homa_param_FIFO_INCREMENT);
    cr_expect_eq(F.g.fifo_incoming, fifo);
    cr_expect_eq(F.g.incoming, 2 * WINDOW, "SRPT's bytes only");
    expect_incoming_split();

    /* arrivals: SRPT's bytes are paid first, then the FIFO ones */
    uint32_t fifo_before = (uint32_t)F.g.fifo_incoming;
    for (uint32_t k = 11; k < 11 + 10; k++) {
        hfx_reset_out();
        data_in(k * PAY, PAY);
        expect_incoming_split();
    }
    cr_expect_eq(F.g.fifo_incoming, fifo_before, "10 arrivals: SRPT's 10 packets");
    data_in(21 * PAY, PAY);
    cr_expect_eq(F.g.fifo_incoming, fifo_before - PAY, "then the FIFO bytes");
    expect_incoming_split();

    /* FIFO bytes outstanding do not stop SRPT: 13 gets its next grant as its bytes come */
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    hfx_incoming(0x0a000006, 13, 300000, 14240, 14240, 5);
    F.g.fifo_incoming = MAX_INCOMING;
    data_in(0, PAY);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1);
    /* ... and FIFO_MAX_INCOMING caps them: no FIFO share while it is reached */
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    hfx_incoming(0x0a000006, 13, 300000, 14240, 14240, 5);
    F.g.fifo_incoming = mtpg_homa_param_FIFO_MAX_INCOMING;
    F.g.srpt_bytes = mtpg_homa_param_FIFO_EVERY;
    data_in(0, PAY);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1, "the SRPT grant only");
    cr_expect_eq(F.g.fifo_incoming, mtpg_homa_param_FIFO_MAX_INCOMING);
}

Test(homa_grants, a_complete_message_leaves_the_list_and_the_next_gets_grants)
{
    hfx_init(MSEC);
    hfx_rpc(false, MTPG_HOMA_S_IN);
    F.c.in_map.nbits = 704;
    struct mtpg_homa_data_pkt ev = { .r = hfx_rid(), .offset = 0, .msg_len = 20000,
                                     .incoming = 14240 };
    ev.data.addr = 0x100000;
    ev.data.len = PAY;
    hfx_run(MTPG_HOMA_EV_DATA_PKT, &ev, &F.c);
    cr_assert(F.c.in_listed, "needs grants: 14240 of 20000 unscheduled");
    cr_assert_eq(F.g.active.len, 1);
    cr_expect_eq(F.g.active.v[0].tag, F.c.tag);
    cr_expect_eq(grant(0)->offset, 11 * PAY, "one window past what arrived, in packets");
    cr_expect_eq(hfx_count(MTP_OP_NEW_RX_DATA), 1);
    cr_expect_eq(hfx_nth(MTP_OP_NEW_RX_DATA, 0)->u.unit.size, 20000);
    hfx_incoming(PEER, 41, 500000, 14240, 14240, 9);  /* the same peer: it waits ... */
    int first_41 = -1, full_at = -1, k = 0;
    for (uint32_t off = PAY; off < 20000; off += PAY, k++) {
        hfx_reset_out();
        ev.offset = off;
        ev.data.len = off + PAY <= 20000 ? PAY : 20000 - off;
        hfx_run(MTPG_HOMA_EV_DATA_PKT, &ev, &F.c);
        for (int i = 0; i < hfx_npkts(MTPG_HOMA_BP_GRANT_HDR); i++) {
            if (grant(i)->sender_id == 41 && first_41 < 0)
                first_41 = k;
            if (grant(i)->sender_id == 3 && grant(i)->offset == 20000)
                full_at = k;
        }
    }
    cr_expect_geq(full_at, 0);
    cr_expect_eq(first_41, full_at + 1, "... until the pass after its shorter one is fully granted");
    cr_expect_eq(F.c.state, MTPG_HOMA_S_APP);
    cr_expect_eq(hfx_note(MTPG_HOMA_NOTE_REQUEST)->u.note.value, 20000);
    cr_assert_eq(F.g.active.len, 1, "the complete message left the list");
    cr_expect_eq(F.g.active.v[0].id, 41);
    cr_expect_gt(F.g.active.v[0].granted, 14240);
    cr_expect_eq(F.g.incoming, F.g.active.v[0].granted - 14240, "only 41's grant is owed");
}

Test(homa_grants, duplicates_count_once)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    data_in(PAY, PAY);
    hfx_reset_out();
    data_in(PAY, PAY);
    cr_expect_eq(hfx_count(MTP_OP_ADD_RX_SEG), 0);
    cr_expect_eq(F.c.in_recv, PAY);
}

/* ------------------------------------------------------------ the sender */

static void app_send(uint64_t id, uint32_t len)
{
    struct mtpg_homa_app_send ev = { .r = hfx_id(PEER, SPORT, CPORT, id), .buf = 0x200000,
                                     .len = len };
    hfx_run(MTPG_HOMA_EV_APP_SEND, &ev, NULL);
}

static const data_t_ *data_pkt(int nth) { return hfx_bp(hfx_pkt(MTPG_HOMA_BP_DATA_HDR, nth)); }

Test(homa_priorities, a_request_creates_its_rpc_and_goes_unscheduled_by_cutoffs)
{
    hfx_init(MSEC);
    app_send(2, 100);
    cr_assert_eq(F.iv[0].op, MTP_OP_NEW_CTX, "the RPC first");
    const struct mtpg_homa_rpc *c = (const void *)(F.arena + F.iv[0].arena_off);
    cr_expect(c->is_client);
    cr_expect_eq(c->out_sent, 100);
    cr_expect_eq(hfx_count(MTP_OP_NEW_TX_DATA), 1);
    cr_expect_eq(hfx_nth(MTP_OP_SET_FLOW_PRIO, 0)->u.sched.value, 100, "rank: bytes to send");
    const struct mtp_instr *in = hfx_pkt(MTPG_HOMA_BP_DATA_HDR, 0);
    cr_expect_eq(in->u.gen.tos, 7 << 5, "100 B <= 200: level 7");
    cr_expect_eq(in->u.gen.queue, MTPG_HOMA_Q_P7);
    cr_expect_eq(in->u.gen.max_seg, PAY);
    cr_expect_eq(data_pkt(0)->message_length, 100);
    cr_expect_eq(data_pkt(0)->data.len, 100);
    cr_expect_eq(data_pkt(0)->sender_id, 2);
    cr_expect_eq(data_pkt(0)->doff, 0xe0);

    static const uint32_t lens[] = { 2000, 10000, 1000000 };
    static const uint8_t levels[] = { 6, 5, 4 };
    for (int i = 0; i < 3; i++) {
        hfx_reset_out();
        app_send(4 + 2 * (uint64_t)i, lens[i]);
        in = hfx_pkt(MTPG_HOMA_BP_DATA_HDR, 0);
        cr_expect_eq(in->u.gen.tos, levels[i] << 5, "%u bytes", lens[i]);
        cr_expect_eq(in->u.gen.queue, 7 - levels[i]);
    }
    cr_expect_eq(data_pkt(0)->data.len, 14240, "1 MB: only the unscheduled bytes");
    cr_expect_eq(data_pkt(0)->incoming, 14240);

    /* the peer's own cutoffs replace ours, and its version goes into our DATA */
    struct mtpg_homa_cutoffs_pkt cut = { .peer_ip = PEER, .version = 9, .c7 = 50, .c6 = 150 };
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_CUTOFFS_PKT, &cut, NULL);
    app_send(20, 100);
    cr_expect_eq(hfx_pkt(MTPG_HOMA_BP_DATA_HDR, 0)->u.gen.tos, 6 << 5);
    cr_expect_eq(data_pkt(0)->cutoff_version, 9);
}

/* A deployment may set UNSCHED_BYTES instead of the measured path (bench_homa_fig4a: 5,696 on
 * the sim wire, where the paper's 60 KB is ten round trips): a request sends that much,
 * rounded up to whole packets, before any grant and says so in `incoming`; its receiver
 * grants one such window past what arrived, whatever round trip it measured. */
Test(homa_priorities, the_unscheduled_bytes_and_the_grant_window_follow_the_param)
{
    const uint32_t saved = mtpg_homa_param_UNSCHED_BYTES;
    mtpg_homa_param_UNSCHED_BYTES = 5000; /* 3.5 packets */
    hfx_init(MSEC);
    app_send(2, 112000);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 1);
    cr_expect_eq(data_pkt(0)->data.len, 4 * PAY, "whole packets, no more");
    cr_expect_eq(data_pkt(0)->incoming, 4 * PAY);
    cr_expect_eq(hfx_pkt(MTPG_HOMA_BP_DATA_HDR, 0)->u.gen.tos, 4 << 5, "cutoff CUT4");

    hfx_init(MSEC);
    F.ps.rtt = 200000, F.ps.rtt_at = MSEC; /* a measured 200 us does not count */
    server_receiving(3 * PAY);
    hfx_incoming(0x0a000005, 11, 112000, 4 * PAY, 4 * PAY, 0);
    data_in(0, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1);
    cr_expect_eq(grant(0)->offset, 8 * PAY, "4 packets arrived + 5,000 bytes, in packets");
    cr_expect_eq(F.g.incoming, 4 * PAY);
    mtpg_homa_param_UNSCHED_BYTES = saved;
}

/* ----------------------------------------------------------- the path, measured */

/* Before any round trip is measured: LINK_MBPS (10 Gb/s when the runtime could not fill it)
 * x RTT_GUESS, 14,240 bytes, 10 packets. */
Test(homa_path, before_a_sample_the_window_is_the_guess)
{
    hfx_init(MSEC);
    app_send(2, 112000);
    cr_expect_eq(data_pkt(0)->data.len, 10 * PAY);
    cr_expect_eq(data_pkt(0)->incoming, 10 * PAY);
}

/* The interface's rate scales it: the runtime filled LINK_MBPS with 25 Gb/s. */
Test(homa_path, the_links_rate_scales_the_window)
{
    const uint32_t saved = mtpg_homa_param_LINK_MBPS;
    mtpg_homa_param_LINK_MBPS = 25000;
    hfx_init(MSEC);
    app_send(2, 112000);
    /* 25,000 Mb/s x 11.392 us = 35,600 bytes: 25 packets */
    cr_expect_eq(data_pkt(0)->data.len, 25 * PAY);
    mtpg_homa_param_LINK_MBPS = saved;
}

/* A sender times its message's first GRANT; the next message sends the path's product. */
Test(homa_path, the_senders_first_grant_measures_the_round_trip)
{
    hfx_init(MSEC);
    app_send(2, 300000);
    const struct mtpg_homa_rpc *made = (const void *)(F.arena + F.iv[0].arena_off);
    F.c = *made;                                /* the RPC the request made */
    cr_expect_eq(F.c.out_at, MSEC, "timed from its start");
    F.x.now_ns = MSEC + 80000;                  /* the GRANT comes 80 us later */
    hfx_reset_out();
    struct mtpg_homa_grant_pkt g = { .r = hfx_rid(), .offset = 20 * PAY, .priority = 3 };
    hfx_run(MTPG_HOMA_EV_GRANT_PKT, &g, &F.c);
    cr_expect_eq(F.ps.rtt, 80000);
    cr_expect_eq(F.c.out_at, 0, "one sample per message");
    /* 10 Gb/s x 80 us = 100,000 bytes: 71 packets */
    hfx_reset_out();
    app_send(4, 300000);
    cr_expect_eq(data_pkt(0)->data.len, 71 * PAY);
    cr_expect_eq(data_pkt(0)->incoming, 71 * PAY);
}

/* A receiver times a GRANT to the first byte it allowed, and grants that window ahead. */
Test(homa_path, the_receivers_grant_measures_the_round_trip)
{
    hfx_init(MSEC);
    server_receiving(3 * PAY);
    hfx_incoming(0x0a000005, 11, 500000, 0, 10 * PAY, 0); /* 10 unscheduled packets coming */
    F.c.id = 11, F.c.peer_ip = 0x0a000005, F.c.tag = 0x9000 + 11, F.c.in_listed = true;
    F.c.in_len = 500000;
    data_in(0, PAY);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1);
    cr_expect_eq(grant(0)->offset, PAY + WINDOW, "the guessed window (10 packets) past one");
    cr_expect_eq(F.g.active.v[0].timed_at, MSEC, "the grant is timed");
    cr_expect_eq(F.g.active.v[0].timed_off, 10 * PAY, "from the first byte it allows");
    /* the unscheduled packets before it do not end the timing */
    F.x.now_ns = MSEC + 50000;
    data_in(PAY, PAY);
    cr_expect_eq(F.ps.rtt, 0);
    F.x.now_ns = MSEC + 120000;                 /* 120 us after the grant: its first byte */
    hfx_reset_out();
    data_in(10 * PAY, PAY);
    cr_expect_eq(F.ps.rtt, 120000);
    /* 10 Gb/s x 120 us = 150,000 bytes (under the 200 KB bound) past what arrived (3
     * packets), whole packets */
    cr_assert_geq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1);
    cr_expect_eq(grant(0)->offset, 3 * PAY + (150000 + PAY - 1) / PAY * PAY);
}

/* The smallest sample of the period is the path's; a period later, a new one replaces it. */
Test(homa_path, the_smallest_sample_of_a_period_wins_and_a_stale_one_ages_out)
{
    hfx_init(MSEC);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.out_len = 300000, F.c.out_unsched = 10 * PAY, F.c.out_granted = 10 * PAY;
    F.c.out_sent = 10 * PAY;
    struct mtpg_homa_grant_pkt g = { .r = hfx_rid(), .offset = 20 * PAY, .priority = 3 };
    static const struct { uint64_t at, sample, want; } steps[] = {
        {MSEC, 100000, 100000},
        {MSEC + 1000000000, 60000, 60000},        /* smaller: taken */
        {MSEC + 9000000000ull, 90000, 60000},     /* larger, same period (10 s): kept */
        {MSEC + 11500000000ull, 90000, 90000},    /* more than a period after 60 us: replaced */
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        F.c.out_at = steps[i].at - steps[i].sample;
        F.x.now_ns = steps[i].at;
        hfx_reset_out();
        hfx_run(MTPG_HOMA_EV_GRANT_PKT, &g, &F.c);
        cr_expect_eq(F.ps.rtt, steps[i].want, "step %zu", i);
    }
}

Test(homa_priorities, a_grant_releases_bytes_at_its_priority_in_srpt_rank)
{
    hfx_init(MSEC);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.out_len = 100000;
    F.c.out_sent = F.c.out_granted = F.c.out_unsched = 14240;
    F.c.out_any = true;
    struct mtpg_homa_grant_pkt ev = { .r = hfx_rid(), .offset = 28480, .priority = 2 };
    hfx_run(MTPG_HOMA_EV_GRANT_PKT, &ev, &F.c);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 1);
    const struct mtp_instr *in = hfx_pkt(MTPG_HOMA_BP_DATA_HDR, 0);
    cr_expect_eq(in->u.gen.tos, 2 << 5);
    cr_expect_eq(in->u.gen.queue, MTPG_HOMA_Q_P2);
    cr_expect_eq(data_pkt(0)->offset, 14240);
    cr_expect_eq(data_pkt(0)->data.off, 14240);
    cr_expect_eq(data_pkt(0)->data.len, 14240);
    cr_expect_lt(hfx_nth(MTP_OP_SET_FLOW_PRIO, 0) - F.iv, in - F.iv, "ranked before queued");
    cr_expect_eq(hfx_nth(MTP_OP_SET_FLOW_PRIO, 0)->u.sched.value, 100000 - 14240);
    cr_expect_eq(F.c.out_sent, 28480);
    hfx_reset_out();
    ev.offset = 20000; /* an old grant */
    hfx_run(MTPG_HOMA_EV_GRANT_PKT, &ev, &F.c);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 0);
}

/* ------------------------------------------------------------ loss */

static void tick(uint64_t now)
{
    F.x.now_ns = now;
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_RPC_TICK, &(struct mtpg_homa_rpc_tick){ 0 }, &F.c);
}

static const resend_t *resend(int nth) { return hfx_bp(hfx_pkt(MTPG_HOMA_BP_RESEND_HDR, nth)); }

Test(homa_loss, resend_after_silence_for_the_first_missing_range)
{
    hfx_init(0);
    server_receiving(5 * PAY);
    F.c.in_map.bits[0] = 0xb; /* packets 0, 1, 3 */
    F.c.in_recv = 3 * PAY;
    F.c.last_heard = 0;
    tick(mtpg_homa_param_RESEND_AFTER - 1);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 0, "not silent long enough");
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 1, "the timer runs on");
    tick(mtpg_homa_param_RESEND_AFTER);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 1);
    cr_expect_eq(resend(0)->offset, 2 * PAY);
    cr_expect_eq(resend(0)->length, PAY, "the first gap only: packet 3 is here");
    F.c.in_map.bits[0] = 0x23; /* packets 0, 1, 5 of 8: the gap is 2..4 */
    F.c.in_len = 8 * PAY;
    tick(2 * mtpg_homa_param_RESEND_AFTER);
    cr_expect_eq(resend(0)->offset, 2 * PAY);
    cr_expect_eq(resend(0)->length, 3 * PAY);
    cr_expect_eq(resend(0)->sender_id, 3);
    cr_expect_eq(hfx_pkt(MTPG_HOMA_BP_RESEND_HDR, 0)->u.gen.tos, 7 << 5);
    cr_expect_eq(F.c.silent, 2);

    /* a client without any response asks for all of it */
    hfx_init(0);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    tick(5 * MSEC);
    cr_expect_eq(resend(0)->offset, 0);
    cr_expect_eq(resend(0)->length, MTPG_HOMA_RESEND_ALL);
}

Test(homa_loss, nothing_to_ask_when_all_granted_bytes_arrived)
{
    hfx_init(0);
    server_receiving(100 * PAY);
    F.c.in_listed = true;
    F.c.in_map.bits[0] = 0x3ff; /* 10 packets */
    F.c.in_recv = 10 * PAY;
    F.c.tag = 0x9000 + 3;
    hfx_incoming(PEER, 3, 100 * PAY, 10 * PAY, 10 * PAY, 0);
    tick(10 * MSEC);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 0, "our own grants are late, not the peer");
    cr_expect_eq(F.c.silent, 0);
}

Test(homa_loss, resend_retransmits_what_went_out_and_busy_otherwise)
{
    hfx_init(MSEC);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.out_len = 50000;
    F.c.out_sent = F.c.out_granted = 28480;
    F.c.out_unsched = 14240;
    F.c.out_any = true;
    struct mtpg_homa_resend_pkt ev = { .r = hfx_rid(), .offset = PAY + 5, .length = 2 * PAY,
                                       .priority = 3 };
    hfx_run(MTPG_HOMA_EV_RESEND_PKT, &ev, &F.c);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 1);
    cr_expect_eq(data_pkt(0)->retransmit, 1);
    cr_expect_eq(data_pkt(0)->offset, PAY, "from the packet holding the offset");
    cr_expect_eq(data_pkt(0)->data.len, 2 * PAY + 5);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_COMMON_HDR), 0);

    /* beyond what was granted: the RESEND grants it */
    hfx_reset_out();
    ev.offset = 28480;
    ev.length = 2 * PAY;
    hfx_run(MTPG_HOMA_EV_RESEND_PKT, &ev, &F.c);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 1);
    cr_expect_eq(data_pkt(0)->retransmit, 0);
    cr_expect_eq(F.c.out_sent, 28480 + 2 * PAY);

    /* a server still receiving has nothing to send: BUSY */
    hfx_init(MSEC);
    server_receiving(5 * PAY);
    ev.r = hfx_rid();
    hfx_run(MTPG_HOMA_EV_RESEND_PKT, &ev, &F.c);
    const struct mtpg_homa_common_hdr *b = hfx_bp(hfx_pkt(MTPG_HOMA_BP_COMMON_HDR, 0));
    cr_expect_eq(b->type, MTPG_HOMA_T_BUSY);
    cr_expect_eq(b->sender_id, 3);

    /* an RPC we do not know: RPC_UNKNOWN */
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_RESEND_PKT, &ev, NULL);
    b = hfx_bp(hfx_pkt(MTPG_HOMA_BP_COMMON_HDR, 0));
    cr_expect_eq(b->type, MTPG_HOMA_T_UNKNOWN);
}

Test(homa_loss, busy_and_data_end_the_silence)
{
    hfx_init(7 * MSEC);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.silent = 3;
    struct mtpg_homa_busy_pkt ev = { .r = hfx_rid() };
    hfx_run(MTPG_HOMA_EV_BUSY_PKT, &ev, &F.c);
    cr_expect_eq(F.c.silent, 0);
    cr_expect_eq(F.c.last_heard, 7 * MSEC);
}

/* A request the peer holds (a shim's idle connection): each BUSY doubles the silence before
 * the next RESEND, up to BUSY_BACKOFFS doublings; data resets it. */
Test(homa_loss, busy_backs_off_resends_and_data_resets_it)
{
    const uint64_t after = mtpg_homa_param_RESEND_AFTER;
    hfx_init(0);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    struct mtpg_homa_busy_pkt busy = { .r = hfx_rid() };
    uint64_t t = 0;
    for (uint32_t k = 1; k <= mtpg_homa_param_BUSY_BACKOFFS + 2; k++) {
        F.x.now_ns = t;
        hfx_run(MTPG_HOMA_EV_BUSY_PKT, &busy, &F.c);
        uint32_t want = k < mtpg_homa_param_BUSY_BACKOFFS ? k : mtpg_homa_param_BUSY_BACKOFFS;
        cr_assert_eq(F.c.backoff, want, "after BUSY %u", k);
        tick(t + (after << want) - 1);
        cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 0, "BUSY %u: still backing off", k);
        tick(t + (after << want));
        cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 1, "BUSY %u: asks again", k);
        t += after << want;
    }
    /* a response's DATA resets it */
    F.c.silent = 0;
    F.x.now_ns = t;
    hfx_reset_out();
    uint8_t byte = 7;
    struct mtpg_homa_data_pkt d = { .r = hfx_rid(), .offset = 0, .msg_len = 2 * PAY,
                                    .incoming = 2 * PAY,
                                    .data = { .addr = (mtp_addr_t)(uintptr_t)&byte, .len = 1 } };
    hfx_run(MTPG_HOMA_EV_DATA_PKT, &d, &F.c);
    cr_expect_eq(F.c.backoff, 0);
    tick(t + after);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 1, "back to RESEND_AFTER");
    /* so does a GRANT */
    F.c.backoff = 4;
    struct mtpg_homa_grant_pkt g = { .r = hfx_rid(), .offset = 0 };
    hfx_run(MTPG_HOMA_EV_GRANT_PKT, &g, &F.c);
    cr_expect_eq(F.c.backoff, 0);
}

/* A backed-off client still finds a dead server: once BUSYs stop, RESENDs go every tick and
 * TIMEOUT_RESENDS of them end the RPC with an error. */
Test(homa_loss, a_dead_peer_is_still_found_after_backing_off)
{
    const uint64_t after = mtpg_homa_param_RESEND_AFTER;
    hfx_init(0);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.backoff = (uint8_t)mtpg_homa_param_BUSY_BACKOFFS;
    F.c.last_heard = 0;
    uint64_t t = (after << mtpg_homa_param_BUSY_BACKOFFS) - mtpg_homa_param_RESEND_INTERVAL;
    uint32_t resends = 0;
    for (int i = 0; i < 1000 && hfx_count(MTP_OP_DEL_CTX) == 0; i++) {
        t += mtpg_homa_param_RESEND_INTERVAL;
        tick(t);
        resends += (uint32_t)hfx_npkts(MTPG_HOMA_BP_RESEND_HDR);
    }
    cr_expect_eq(resends, mtpg_homa_param_TIMEOUT_RESENDS, "one RESEND a tick until the end");
    cr_expect_eq(hfx_note(MTPG_HOMA_NOTE_RPC_ERROR)->u.note.value, MTPG_HOMA_ERR_TIMEOUT);
    cr_expect_leq(t, (after << mtpg_homa_param_BUSY_BACKOFFS) +
                  (mtpg_homa_param_TIMEOUT_RESENDS + 1) * mtpg_homa_param_RESEND_INTERVAL);
}

/* A server's NEED_ACK while the client still waits: the response went out and was lost, so
 * the client asks at the next tick rather than after its backed-off wait. */
Test(homa_loss, need_ack_while_waiting_ends_the_backoff)
{
    hfx_init(0);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.backoff = 6;
    F.c.last_heard = 0;
    struct mtpg_homa_need_ack_pkt n = { .r = hfx_rid() };
    hfx_run(MTPG_HOMA_EV_NEED_ACK_PKT, &n, &F.c);
    cr_expect_eq(F.c.backoff, 0);
    tick(mtpg_homa_param_RESEND_AFTER);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_RESEND_HDR), 1);
}

Test(homa_loss, unknown_restarts_a_request_and_ends_a_server_rpc)
{
    hfx_init(MSEC);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.out_len = 3000;
    F.c.out_sent = F.c.out_granted = F.c.out_unsched = 3000;
    F.c.unsched_prio = 6;
    F.c.out_any = true;
    struct mtpg_homa_unknown_pkt ev = { .r = hfx_rid() };
    hfx_run(MTPG_HOMA_EV_UNKNOWN_PKT, &ev, &F.c);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 1);
    cr_expect_eq(data_pkt(0)->offset, 0);
    cr_expect_eq(data_pkt(0)->data.len, 3000);
    hfx_init(MSEC);
    hfx_rpc(false, MTPG_HOMA_S_OUT);
    hfx_run(MTPG_HOMA_EV_UNKNOWN_PKT, &ev, &F.c);
    cr_expect_eq(hfx_count(MTP_OP_DEL_CTX), 1);
}

Test(homa_loss, timeouts_reach_the_application)
{
    hfx_init(0);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.silent = mtpg_homa_param_TIMEOUT_RESENDS;
    tick(100 * MSEC);
    cr_expect_eq(hfx_note(MTPG_HOMA_NOTE_RPC_ERROR)->u.note.value, MTPG_HOMA_ERR_TIMEOUT);
    cr_expect_eq(hfx_count(MTP_OP_DEL_CTX), 1);
    /* a server waiting for grants for its response does not give up: the client drives */
    hfx_init(0);
    hfx_rpc(false, MTPG_HOMA_S_OUT);
    F.c.out_len = 100000;
    F.c.out_sent = 14240;
    F.c.silent = mtpg_homa_param_TIMEOUT_RESENDS;
    tick(100 * MSEC);
    cr_expect_eq(hfx_count(MTP_OP_DEL_CTX), 0);
}

/* ------------------------------------------------------------ the idle timer */

/* An RPC the application holds (a delivered request, a complete response) or whose response
 * waits for grants asks nothing of its peer: its tick does not arm the timer again. */
Test(homa_timer, an_idle_rpc_lets_its_timer_rest)
{
    static const uint8_t idle[] = { MTPG_HOMA_S_APP, MTPG_HOMA_C_DONE, MTPG_HOMA_S_OUT };
    for (int i = 0; i < 3; i++) {
        hfx_init(0);
        hfx_rpc(idle[i] == MTPG_HOMA_C_DONE, idle[i]);
        F.c.out_len = 100000;
        F.c.out_sent = 14240;                        /* S_OUT: the rest waits for grants */
        F.c.ticking = true;
        tick(10 * MSEC);
        cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 0, "state %u: no timer", idle[i]);
        cr_expect_eq(F.out.n, 0, "state %u: nothing sent", idle[i]);
        cr_expect_not(F.c.ticking);
        cr_expect_eq(F.c.silent, 0);
    }
    /* an RPC waiting on its peer keeps ticking */
    hfx_init(0);
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    F.c.ticking = true;
    tick(MSEC);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 1);
    cr_expect(F.c.ticking);
}

/* A one-packet request is the application's at once: its server RPC starts without a timer;
 * the response, all sent, arms it (NEED_ACK needs it), and only once. */
Test(homa_timer, a_whole_request_starts_no_timer_and_its_response_arms_it)
{
    hfx_init(MSEC);
    struct mtpg_homa_app_listen l = { .port = SPORT };
    hfx_run(MTPG_HOMA_EV_APP_LISTEN, &l, NULL);
    struct mtpg_homa_data_pkt ev = { .r = hfx_id(PEER, CPORT, SPORT, 3), .msg_len = 100,
                                     .incoming = 100, .cutoff_version = 1 };
    ev.data.addr = 0x100000;
    ev.data.len = 100;
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_DATA_PKT, &ev, NULL);
    cr_assert_eq(F.iv[0].op, MTP_OP_NEW_CTX);
    const struct mtpg_homa_rpc *c = (const void *)(F.arena + F.iv[0].arena_off);
    cr_expect_eq(c->state, MTPG_HOMA_S_APP);
    cr_expect_not(c->ticking);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 0, "no timer for a delivered request");
    /* a request of two packets waits for the second: it ticks */
    ev.r.id = 5;
    ev.msg_len = ev.incoming = 2 * PAY;
    ev.data.len = PAY;
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_DATA_PKT, &ev, NULL);
    c = (const void *)(F.arena + F.iv[0].arena_off);
    cr_expect(c->ticking);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 1);

    hfx_init(MSEC);
    hfx_rpc(false, MTPG_HOMA_S_APP);
    struct mtpg_homa_app_send r = { .r = hfx_rid(), .buf = 0x200000, .len = 170 };
    hfx_run(MTPG_HOMA_EV_APP_SEND, &r, &F.c);
    cr_expect_eq(hfx_npkts(MTPG_HOMA_BP_DATA_HDR), 1);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 1, "the response is out: ask for the ack");
    cr_expect(F.c.ticking);
    hfx_reset_out();
    struct mtpg_homa_resend_pkt rs = { .r = hfx_rid(), .offset = 0, .length = 170 };
    hfx_run(MTPG_HOMA_EV_RESEND_PKT, &rs, &F.c);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 0, "already running");
}

/* A response waiting for grants rests its timer; the grant that lets the rest go wakes it. */
Test(homa_timer, the_grant_that_sends_the_rest_wakes_the_timer)
{
    hfx_init(MSEC);
    hfx_rpc(false, MTPG_HOMA_S_APP);
    struct mtpg_homa_app_send r = { .r = hfx_rid(), .buf = 0x200000, .len = 20000 };
    hfx_run(MTPG_HOMA_EV_APP_SEND, &r, &F.c);
    cr_expect_eq(F.c.out_sent, 14240, "the unscheduled part");
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 0, "its receiver drives");
    struct mtpg_homa_grant_pkt g = { .r = hfx_rid(), .offset = 18000, .priority = 3 };
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_GRANT_PKT, &g, &F.c);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 0, "still bytes to be granted");
    g.offset = 20000;
    hfx_reset_out();
    hfx_run(MTPG_HOMA_EV_GRANT_PKT, &g, &F.c);
    cr_expect_eq(hfx_count(MTP_OP_TIMER_START), 1, "all sent: the timer asks for the ack");
    cr_expect(F.c.ticking);
}

/* ------------------------------------------------------------ acknowledgements */

Test(homa_acks, a_finished_rpc_is_acked_on_the_next_request_to_that_server)
{
    hfx_init(MSEC);
    hfx_rpc(true, MTPG_HOMA_C_DONE);
    F.c.in_len = 500;
    struct mtpg_homa_app_recv r = { .buf = 0x300000, .len = 4096 };
    hfx_run(MTPG_HOMA_EV_APP_RECV, &r, &F.c);
    cr_expect_eq(hfx_nth(MTP_OP_RX_FLUSH, 0)->u.seg.len, 500);
    cr_expect_eq(hfx_nth(MTP_OP_RX_FLUSH, 0)->u.seg.addr, 0x300000);
    cr_expect_eq(hfx_count(MTP_OP_DEL_CTX), 1);
    cr_assert_eq(F.ps.acks.len, 1);
    hfx_reset_out();
    app_send(4, 10);
    cr_expect_eq(data_pkt(0)->ack.client_id, 2);
    cr_expect_eq(data_pkt(0)->ack.server_port, SPORT);
    cr_expect_eq(F.ps.acks.len, 0, "sent once");
    hfx_reset_out();
    app_send(6, 10);
    cr_expect_eq(data_pkt(0)->ack.client_id, 0);
}

Test(homa_acks, need_ack_for_a_forgotten_rpc_gets_an_ack_and_the_server_frees_it)
{
    hfx_init(MSEC);
    struct mtpg_homa_need_ack_pkt n = { .r = hfx_id(PEER, SPORT, CPORT, 8) };
    hfx_run(MTPG_HOMA_EV_NEED_ACK_PKT, &n, NULL);
    const struct mtpg_homa_ack_hdr *a = hfx_bp(hfx_pkt(MTPG_HOMA_BP_ACK_HDR, 0));
    cr_expect_eq(a->num_acks, 1);
    cr_expect_eq(a->a0.client_id, 8);
    cr_expect_eq(a->a0.server_port, SPORT);
    cr_expect_eq(a->dport, SPORT);
    /* a client still waiting answers nothing */
    hfx_reset_out();
    hfx_rpc(true, MTPG_HOMA_C_SENDING);
    hfx_run(MTPG_HOMA_EV_NEED_ACK_PKT, &n, &F.c);
    cr_expect_eq(F.out.n, 0);
    /* the server: an ack ends an RPC whose response is out, not one still being served */
    hfx_init(MSEC);
    hfx_rpc(false, MTPG_HOMA_S_APP);
    hfx_run(MTPG_HOMA_EV_ACKED, &(struct mtpg_homa_acked){ 0 }, &F.c);
    cr_expect_eq(hfx_count(MTP_OP_DEL_CTX), 0);
    F.c.state = MTPG_HOMA_S_OUT;
    hfx_run(MTPG_HOMA_EV_ACKED, &(struct mtpg_homa_acked){ 0 }, &F.c);
    cr_expect_eq(hfx_count(MTP_OP_DEL_CTX), 1);
}

Test(homa_acks, a_server_with_its_response_out_asks_for_the_ack)
{
    hfx_init(0);
    hfx_rpc(false, MTPG_HOMA_S_OUT);
    F.c.out_len = F.c.out_sent = 100;
    tick(10 * MSEC);
    const struct mtpg_homa_common_hdr *b = hfx_bp(hfx_pkt(MTPG_HOMA_BP_COMMON_HDR, 0));
    cr_expect_eq(b->type, MTPG_HOMA_T_NEED_ACK);
}

/* ------------------------------------------------------------ the parser */

static uint8_t pkt[2000];

static uint32_t put_data(uint32_t offset, uint32_t msg_len, uint32_t len, uint64_t ack_id)
{
    memset(pkt, 0, sizeof pkt);
    pkt[0] = CPORT >> 8; pkt[1] = CPORT & 0xff;
    pkt[2] = SPORT >> 8; pkt[3] = SPORT & 0xff;
    pkt[11] = MTPG_HOMA_T_DATA;
    pkt[12] = 0xe0;
    pkt[27] = 2;                                         /* sender_id 2: the client's */
    for (int i = 0; i < 4; i++) {
        pkt[28 + i] = (uint8_t)(msg_len >> (24 - 8 * i));
        pkt[52 + i] = (uint8_t)(offset >> (24 - 8 * i));
    }
    pkt[43] = (uint8_t)ack_id;                           /* ack.client_id, low byte */
    pkt[44] = SPORT >> 8; pkt[45] = SPORT & 0xff;
    return 56 + len;
}

static int parse(uint32_t len, struct mtp_event *ev, uint32_t *n)
{
    struct mtp_rx_pkt p = { .l4 = pkt, .l4_len = len, .ip = { .src = PEER, .dst = ME } };
    struct mtp_evsink sink = { .v = ev, .cap = 4 };
    int rc = mtpg_homa_program.parse(&p, &sink);
    *n = sink.n;
    return rc;
}

Test(homa_parser, data_with_an_ack_makes_two_events_and_bad_offsets_are_malformed)
{
    struct mtp_event ev[4];
    uint32_t n;
    cr_assert_eq(parse(put_data(PAY, 5000, PAY, 6), ev, &n), MTP_PARSE_OK);
    cr_assert_eq(n, 2);
    cr_expect_eq(ev[0].type, MTPG_HOMA_EV_DATA_PKT);
    const struct mtpg_homa_data_pkt *d = (const void *)ev[0].data;
    cr_expect_eq(d->r.id, 3, "our id: the sender's ^ 1");
    cr_expect_eq(d->r.peer_port, CPORT);
    cr_expect_eq(d->offset, PAY);
    cr_expect_eq(d->data.len, PAY);
    struct mtp_key k;
    struct mtpg_homa_rpc_id acked = { PEER, CPORT, SPORT, 7 };
    mtpg_homa_key_rpc_id(&k, &acked);
    cr_expect_eq(ev[1].type, MTPG_HOMA_EV_ACKED);
    cr_expect_eq(memcmp(&ev[1].key, &k, sizeof k), 0, "the server RPC the ack frees");
    cr_expect_eq(parse(put_data(100, 5000, 100, 0), ev, &n), MTP_PARSE_MALFORMED,
                 "not at a packet boundary");
    cr_expect_eq(parse(put_data(0, 5000, 100, 0), ev, &n), MTP_PARSE_MALFORMED,
                 "short packet before the end");
    cr_expect_eq(parse(put_data(0, 1000001, 1424, 0), ev, &n), MTP_PARSE_MALFORMED);
    cr_expect_eq(parse(40, ev, &n), MTP_PARSE_MALFORMED, "DATA header cut short");
    cr_expect_eq(parse(put_data(4 * PAY, 4 * PAY + 10, 10, 0), ev, &n), MTP_PARSE_OK);
    pkt[11] = 0x16; /* FREEZE */
    cr_expect_eq(parse(28, ev, &n), MTP_PARSE_MALFORMED);
}

/* Each host measures its own path, so a receiver must count the unscheduled bytes the sender
 * announced (`incoming`), not its own window: a receiver with a larger window would take a
 * 20-packet message for all unscheduled and never grant the 10 packets the sender holds back
 * (a stall until the RESEND timer). */
Test(homa_path, the_receiver_counts_the_unscheduled_bytes_the_sender_announced)
{
    hfx_init(MSEC);
    F.ps.rtt = 200000, F.ps.rtt_at = MSEC;     /* our window: 250 KB */
    hfx_rpc(false, MTPG_HOMA_S_IN);
    struct mtpg_homa_data_pkt ev = { .r = hfx_rid(), .offset = 0, .msg_len = 20 * PAY,
                                     .incoming = 10 * PAY, .cutoff_version = 1 };
    ev.data.addr = 0x100000;
    ev.data.len = PAY;
    hfx_run(MTPG_HOMA_EV_DATA_PKT, &ev, &F.c);
    cr_assert_eq(hfx_npkts(MTPG_HOMA_BP_GRANT_HDR), 1, "the held-back packets are granted");
    cr_expect_eq(grant(0)->offset, 20 * PAY);
    cr_expect_eq(F.g.incoming, 19 * PAY, "granted, not yet received");
}

/* A long round trip does not make every message unscheduled: the window stops at 200 KB. */
Test(homa_path, a_long_round_trip_is_bounded)
{
    hfx_init(MSEC);
    F.ps.rtt = 2000000, F.ps.rtt_at = MSEC;    /* 2 ms: 2.5 MB at 10 Gb/s */
    app_send(2, 900000);
    cr_expect_eq(data_pkt(0)->incoming, (200000 + PAY - 1) / PAY * PAY);
}
