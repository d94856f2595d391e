/*
 * test_fill_level.c — the fill ring's level (fill_level.h): it starts small, goes to the whole
 * ring when the kernel took more than three quarters of it before the stack came back, and
 * never shrinks.
 */
#include <criterion/criterion.h>

#include "fill_level.h"

#define RING 2048u

Test(fill_level, stays_while_the_stack_keeps_up)
{
    cr_assert_eq(fill_level_next(256, 256, RING), 256); /* nothing arrived */
    cr_assert_eq(fill_level_next(256, 192, RING), 256); /* a 64-frame burst */
    cr_assert_eq(fill_level_next(256, 64, RING), 256);  /* exactly a quarter left */
}

Test(fill_level, goes_to_the_ring_when_the_kernel_nearly_ran_out)
{
    cr_assert_eq(fill_level_next(256, 63, RING), RING);
    cr_assert_eq(fill_level_next(256, 0, RING), RING);
    cr_assert_eq(fill_level_next(RING, 0, RING), RING);
}

Test(fill_level, never_shrinks)
{
    uint32_t level = FILL_LEVEL_MIN;
    level = fill_level_next(level, 0, RING);          /* one burst */
    for (int i = 0; i < 100; i++)
        level = fill_level_next(level, level, RING);  /* then quiet */
    cr_assert_eq(level, RING);
}
