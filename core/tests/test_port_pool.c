/* The pool of parked ephemeral ports: FIFO reuse only when full, expiry, removal. */
#include <criterion/criterion.h>
#include <stdint.h>
#include "port_pool.h"

#define SEC 1000000000ull

static struct mtp__port_pool pool;

static void fill(uint16_t first, uint32_t n, uint64_t at)
{
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(mtp__port_pool_park(&pool, (uint16_t)(first + i), at), 0);
}

Test(port_pool, reused_only_when_full_oldest_first)
{
    mtp__port_pool_init(&pool);
    fill(50000, MTP__PORT_POOL_CAP - 1, 0);
    cr_assert_eq(mtp__port_pool_take(&pool, 0), 0, "not full: a fresh port is taken instead");
    cr_assert_eq(mtp__port_pool_take(&pool, 1), 50000, "any: the oldest");
    fill(60000, 2, 0);
    cr_assert_eq(mtp__port_pool_park(&pool, 61000, 0), -1, "full: the caller releases it");
    cr_assert_eq(mtp__port_pool_take(&pool, 0), 50001);
    cr_assert_eq(mtp__port_pool_take(&pool, 0), 0, "one short of full again");
    cr_assert_not(mtp__port_pool_has(&pool, 50001));
    cr_assert(mtp__port_pool_has(&pool, 60001));
}

Test(port_pool, no_port_twice_and_no_port_zero)
{
    mtp__port_pool_init(&pool);
    cr_assert_eq(mtp__port_pool_park(&pool, 50000, 0), 0);
    cr_assert_eq(mtp__port_pool_park(&pool, 50000, 0), -1);
    cr_assert_eq(mtp__port_pool_park(&pool, 0, 0), -1);
    cr_assert_eq(mtp__port_pool_take(&pool, 1), 50000);
    cr_assert_eq(mtp__port_pool_take(&pool, 1), 0, "empty");
}

Test(port_pool, expiry_in_order_with_deadline)
{
    mtp__port_pool_init(&pool);
    cr_assert_eq(mtp__port_pool_deadline(&pool), UINT64_MAX);
    mtp__port_pool_park(&pool, 50000, 1 * SEC);
    mtp__port_pool_park(&pool, 50001, 2 * SEC);
    cr_assert_eq(mtp__port_pool_deadline(&pool), 1 * SEC + MTP__PORT_POOL_HOLD_NS);
    cr_assert_eq(mtp__port_pool_expire(&pool, 1 * SEC + MTP__PORT_POOL_HOLD_NS - 1), 0);
    cr_assert_eq(mtp__port_pool_expire(&pool, 1 * SEC + MTP__PORT_POOL_HOLD_NS), 50000);
    cr_assert_eq(mtp__port_pool_expire(&pool, 1 * SEC + MTP__PORT_POOL_HOLD_NS), 0);
    cr_assert_eq(mtp__port_pool_deadline(&pool), 2 * SEC + MTP__PORT_POOL_HOLD_NS);
    cr_assert_eq(mtp__port_pool_expire(&pool, 0), 0, "a clock behind the park time expires nothing");
}

Test(port_pool, remove_keeps_the_order_across_the_wrap)
{
    mtp__port_pool_init(&pool);
    fill(50000, MTP__PORT_POOL_CAP, 0);
    for (int i = 0; i < 10; i++) /* move head so the ring wraps */
        cr_assert_eq(mtp__port_pool_take(&pool, 1), 50000 + i);
    fill(52000, 10, 0);
    cr_assert_eq(mtp__port_pool_remove(&pool, 51000), 1);
    cr_assert_eq(mtp__port_pool_remove(&pool, 51000), 0, "gone");
    cr_assert_eq(mtp__port_pool_remove(&pool, 52009), 1, "the newest");
    uint16_t prev = 0;
    uint32_t n = 0;
    uint16_t p;
    while ((p = mtp__port_pool_take(&pool, 1)) != 0) {
        cr_assert_gt(p, prev, "FIFO order kept: %u after %u", p, prev);
        cr_assert_neq(p, 51000);
        prev = p;
        n++;
    }
    cr_assert_eq(n, MTP__PORT_POOL_CAP - 2);
}
