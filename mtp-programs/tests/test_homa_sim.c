/*
 * test_homa_sim.c — homa.mtp between stacks on the sim wire: RPCs of 0 B to 1 MB byte-exact,
 * with and without faults; with priority queues at the server's port, short messages
 * overtake long ones.
 */
#include "homa_sim.h"

TestSuite(homa_sim, .timeout = 300);

Test(homa_sim, one_rpc_each_size_class)
{
    struct mtp_sim_config c = { .seed = 1, .delay_ns = 2000 };
    hs_up(2, &c);
    static const uint32_t req[] = { 0, 1, 100, 1424, 1425, 14240, 14241, 100000, 1000000 };
    static const uint32_t resp[] = { 0, 7, 1424, 1, 30000, 14241, 0, 1000000, 3 };
    int n = (int)(sizeof req / sizeof req[0]);
    hs_add_rpcs(n);
    for (int i = 0; i < n; i++) {
        hs_start(i, 0, req[i], resp[i]);
        cr_assert_eq(hs_run(mtp_sim_now(H.w) + 10 * HS_SEC), 0, "rpc %d did not finish", i);
        cr_assert_eq(H.rpcs[i].state, 2, "rpc %d: err %llu", i,
                     (unsigned long long)H.rpcs[i].err);
    }
    cr_expect_eq(H.bad_bytes, 0);
    cr_expect_eq(H.requests_served, n);
    hs_down();
}

/* Sizes from 1 B to 1 MB, mostly short (as RPC workloads are), a few long. */
static uint32_t mixed_size(int i)
{
    static const uint32_t classes[] = { 1, 60, 500, 1424, 3000, 9000, 14240, 30000, 120000 };
    if (i % 97 == 0)
        return 1000000;
    if (i % 31 == 0)
        return 400000 + (uint32_t)i * 37;
    return classes[i % 9] + (uint32_t)(i * 7919) % (classes[i % 9] / 2 + 1);
}

static void thousand_rpcs(const struct mtp_sim_config *c)
{
    hs_up(3, c);
    hs_add_rpcs(1000);
    for (int i = 0; i < 1000; i++)
        hs_start(i, i % 2, mixed_size(i), mixed_size(i * 3 + 1));
    int rc = hs_run(60 * HS_SEC);
    cr_assert_eq(rc, 0, "done %d failed %d of 1000 by %llu ns", H.done, H.failed,
                 (unsigned long long)mtp_sim_now(H.w));
    cr_expect_eq(H.failed, 0);
    cr_expect_eq(H.done, 1000);
    cr_expect_eq(H.bad_bytes, 0);
    cr_expect_eq(H.note_overflow, 0);
}

Test(homa_sim, thousand_concurrent_rpcs_clean)
{
    struct mtp_sim_config c = { .seed = 2, .delay_ns = 5000, .rate_bytes_per_sec = 1250000000 };
    thousand_rpcs(&c);
    hs_down();
}

Test(homa_sim, thousand_concurrent_rpcs_under_loss_duplication_reordering)
{
    struct mtp_sim_config c = { .seed = 3, .delay_ns = 5000, .jitter_ns = 2000,
                                .rate_bytes_per_sec = 1250000000, .loss_ppm = 10000,
                                .dup_ppm = 10000, .reorder_ppm = 10000 };
    thousand_rpcs(&c);
    const struct mtp_sim_stats *w = mtp_sim_stats(H.w);
    cr_expect_gt(w->lost, 100);
    cr_expect_gt(w->duplicated, 100);
    cr_expect_gt(w->reordered, 100);
    hs_down();
}

/* Paper Fig. 4a in small: client 0 sends a 1 MB request while client 1 issues short RPCs
 * one after another; the server's port is 4x slower than the senders, so the long message's
 * granted packets queue there. With 8 priority queues at the port the short ones (level 7)
 * pass them; with one FIFO they wait behind them. */
#define SHORTS 40

static void next_short(int i)
{
    if (i >= 1 && i < SHORTS)
        hs_start(i + 1, 1, 200, 200);
}

static uint64_t short_latency_sum(uint8_t prio_queues, uint64_t *overtakes)
{
    struct mtp_sim_config c = { .seed = 5, .delay_ns = 2000,
                                .rate_bytes_per_sec = 1250000000,  /* 10 Gb/s senders */
                                .port_rate_bytes_per_sec = 312500000, /* 2.5 Gb/s ports */
                                .prio_queues = prio_queues };
    hs_up(3, &c);
    hs_add_rpcs(SHORTS + 1);
    H.on_done = next_short;
    hs_start(0, 0, 1000000, 1);
    mtp_sim_set_now(H.w, 200000);        /* the long message is well under way */
    hs_start(1, 1, 200, 200);
    cr_assert_eq(hs_run(10 * HS_SEC), 0);
    cr_assert_eq(H.done, SHORTS + 1);
    cr_assert_eq(H.bad_bytes, 0);
    cr_assert_lt(H.rpcs[SHORTS].end_ns, H.rpcs[0].end_ns, "the shorts ended during the long one");
    uint64_t sum = 0;
    for (int i = 1; i <= SHORTS; i++)
        sum += H.rpcs[i].end_ns - H.rpcs[i].start_ns;
    *overtakes = mtp_sim_stats(H.w)->port_overtakes;
    hs_down();
    return sum;
}

Test(homa_sim, with_priority_queues_short_messages_overtake_a_long_one)
{
    uint64_t ov_fifo, ov_prio;
    uint64_t fifo = short_latency_sum(0, &ov_fifo);
    uint64_t prio = short_latency_sum(1, &ov_prio);
    cr_expect_eq(ov_fifo, 0);
    cr_expect_gt(ov_prio, 0, "DATA of level 7 passed queued level-3 packets at the port");
    cr_expect_lt(prio * 2, fifo, "short RPCs: %llu ns with priorities, %llu ns without",
                 (unsigned long long)(prio / SHORTS), (unsigned long long)(fifo / SHORTS));
}

/* A request the server holds for 10 s (a shim's idle keep-alive connection: its data would
 * ride on the response): the client's RESENDs back off as BUSYs answer, so the idle RPC costs
 * a few dozen frames, not a RESEND/BUSY pair every 2 ms (~10,000). Then the held request is
 * answered at once; a server that dies while holding one is still found. */
Test(homa_sim, an_idle_held_request_costs_few_frames_and_a_dead_server_is_found)
{
    struct mtp_sim_config c = { .seed = 9, .delay_ns = 5000 };
    hs_up(2, &c);
    hs_add_rpcs(2);
    H.hold = true;
    hs_start(0, 0, 100, 100);
    cr_assert_eq(hs_run(10 * HS_SEC), -ETIMEDOUT);
    uint64_t idle_frames = mtp_sim_stats(H.w)->sent;
    cr_expect_lt(idle_frames, 60, "%llu frames in 10 s idle", (unsigned long long)idle_frames);
    cr_expect_eq(mtp_stack_next_deadline(H.s[hs_server()]), UINT64_MAX,
                 "the server's held request arms no timer (the client's RESENDs drive)");
    cr_expect_eq(H.failed, 0);
    H.hold = false;
    hs_serve(&H.held);
    cr_assert_eq(hs_run(mtp_sim_now(H.w) + 10 * HS_MS), 0, "answered at once");
    cr_expect_eq(H.rpcs[0].state, 2);

    H.hold = true;
    hs_start(1, 0, 100, 100);
    cr_assert_eq(hs_run(mtp_sim_now(H.w) + 10 * HS_SEC), -ETIMEDOUT);
    uint64_t died = mtp_sim_now(H.w);
    struct mtp_sim_config dead = c;
    dead.loss_ppm = 1000000;
    mtp_sim_set_faults(H.w, &dead);
    cr_assert_eq(hs_run(died + 5 * HS_SEC), 0, "the client gave up");
    cr_expect_eq(H.rpcs[1].state, 3);
    cr_expect_eq(H.rpcs[1].err, MTPG_HOMA_ERR_TIMEOUT);
    uint64_t found = mtp_sim_now(H.w) - died;
    cr_expect_lt(found, 1500 * HS_MS, "found %llu ms after it died",
                 (unsigned long long)(found / HS_MS));
    cr_expect_eq(H.bad_bytes, 0);
    hs_down();
}
