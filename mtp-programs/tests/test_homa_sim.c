/*
 * test_homa_sim.c — homa.mtp between stacks on the sim wire: RPCs of 0 B to 1 MB byte-exact,
 * with and without faults; with priority queues at the server's port, short messages
 * overtake long ones.
 */
#include "homa_sim.h"

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

Test(homa_sim, thousand_concurrent_rpcs_clean, .timeout = 120)
{
    struct mtp_sim_config c = { .seed = 2, .delay_ns = 5000, .rate_bytes_per_sec = 1250000000 };
    thousand_rpcs(&c);
    hs_down();
}

Test(homa_sim, thousand_concurrent_rpcs_under_loss_duplication_reordering, .timeout = 120)
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
