/* The pool of parked ephemeral ports: FIFO reuse once old enough, expiry, removal. */
#include <criterion/criterion.h>
#include <stdint.h>
#include "port_pool.h"

#define MS 1000000ull
#define SEC 1000000000ull
#define AGE (2 * MS) /* what TCP asks */

static struct mtp__port_pool pool;

static void fill(uint16_t first, uint32_t n, uint64_t at)
{
    for (uint32_t i = 0; i < n; i++)
        cr_assert_eq(mtp__port_pool_park(&pool, (uint16_t)(first + i), at), 0);
}

Test(port_pool, reused_oldest_first_once_old_enough)
{
    mtp__port_pool_init(&pool);
    fill(50000, 2, 10 * MS);
    fill(50002, 1, 11 * MS);
    cr_assert_eq(mtp__port_pool_take(&pool, 10 * MS + AGE - 1, AGE, 0), 0, "too young");
    cr_assert_eq(mtp__port_pool_take(&pool, 10 * MS + AGE, AGE, 0), 50000);
    cr_assert_eq(mtp__port_pool_take(&pool, 10 * MS + AGE, AGE, 0), 50001);
    cr_assert_eq(mtp__port_pool_take(&pool, 10 * MS + AGE, AGE, 0), 0, "50002 is younger");
    cr_assert_eq(mtp__port_pool_take(&pool, 0, AGE, 1), 50002, "any: the oldest, whatever its age");
    cr_assert_eq(mtp__port_pool_take(&pool, 0, AGE, 1), 0, "empty");
    cr_assert_eq(mtp__port_pool_take(&pool, 5 * MS, AGE, 0), 0);
}

Test(port_pool, bounded_and_no_port_twice)
{
    mtp__port_pool_init(&pool);
    fill(50000, MTP__PORT_POOL_CAP, 0);
    cr_assert_eq(mtp__port_pool_park(&pool, 61000, 0), -1, "full: the caller releases it");
    cr_assert_eq(mtp__port_pool_take(&pool, AGE, AGE, 0), 50000);
    cr_assert_eq(mtp__port_pool_park(&pool, 50001, 0), -1, "parked already");
    cr_assert_eq(mtp__port_pool_park(&pool, 0, 0), -1, "port 0 is no port");
    cr_assert_eq(mtp__port_pool_park(&pool, 50000, AGE), 0);
    cr_assert_not(mtp__port_pool_has(&pool, 61000));
    cr_assert(mtp__port_pool_has(&pool, 50000));
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
    for (int i = 0; i < 10; i++) /* move the head so that the ring wraps */
        cr_assert_eq(mtp__port_pool_take(&pool, AGE, AGE, 0), 50000 + i);
    fill(52000, 10, 0);
    cr_assert_eq(mtp__port_pool_remove(&pool, 50020), 1);
    cr_assert_eq(mtp__port_pool_remove(&pool, 50020), 0, "gone");
    cr_assert_eq(mtp__port_pool_remove(&pool, 52009), 1, "the newest");
    uint16_t prev = 0, p;
    uint32_t n = 0;
    while ((p = mtp__port_pool_take(&pool, 0, AGE, 1)) != 0) {
        cr_assert_gt(p, prev, "FIFO order kept: %u after %u", p, prev);
        cr_assert_neq(p, 50020);
        prev = p;
        n++;
    }
    cr_assert_eq(n, MTP__PORT_POOL_CAP - 2);
}
