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
