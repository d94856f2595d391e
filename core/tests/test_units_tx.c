/* Transmit data units: a true ring (wrap, pinned bytes never move), full means refused. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/errors.h"
#include "mtp/program.h"
#include "units.h"

static uint8_t src[4096];

static void fill(void)
{
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 13 + 1);
}

Test(tx_unit, append_retire_wrap)
{
    fill();
    struct mtp__tx_unit u;
    mtp__tx_unit_init(&u, MTP_SIZE_INF, 100);
    cr_expect_null(u.buf, "lazy");
    cr_expect_eq(mtp__tx_unit_space(&u), 100);
    cr_assert_eq(mtp__tx_unit_append(&u, src, 70), 0);
    cr_expect_eq(mtp__tx_unit_space(&u), 30);
    cr_expect_eq(mtp__tx_unit_retire(&u, 50), 50);
    cr_assert_eq(mtp__tx_unit_append(&u, src + 70, 60), 0, "wraps the ring");
    cr_expect_eq(u.tail, 130);
    uint8_t out[80];
    mtp__tx_unit_copy(u.buf, u.cap, 50, out, 80);
    cr_expect_eq(memcmp(out, src + 50, 80), 0);
    uint32_t contig;
    const uint8_t *p = mtp__tx_unit_at(&u, 90, &contig);
    cr_expect_eq(contig, 10);
    cr_expect_eq(memcmp(p, src + 90, 10), 0);
    cr_expect_eq(mtp__tx_unit_retire(&u, 1000), 80, "never more than appended");
    mtp__tx_unit_release(&u);
}

Test(tx_unit, full_refuses_whole_append)
{
    fill();
    struct mtp__tx_unit u;
    mtp__tx_unit_init(&u, MTP_SIZE_INF, 64);
    cr_assert_eq(mtp__tx_unit_append(&u, src, 60), 0);
    cr_expect_eq(mtp__tx_unit_append(&u, src, 5), MTP_ENOSPC);
    cr_expect_eq(u.tail, 60, "nothing appended");
    cr_expect_eq(mtp__tx_unit_append(&u, src, 4), 0);
    cr_expect_eq(mtp__tx_unit_space(&u), 0);
    mtp__tx_unit_release(&u);
}

Test(tx_unit, pinned_bytes_are_not_overwritten)
{
    fill();
    struct mtp__tx_unit u;
    mtp__tx_unit_init(&u, MTP_SIZE_INF, 100);
    mtp__tx_unit_append(&u, src, 100);
    u.pin = 20; /* a pending blueprint references 20.. */
    mtp__tx_unit_retire(&u, 100);
    cr_expect_eq(mtp__tx_unit_space(&u), 20, "retired but referenced bytes stay");
    cr_expect_eq(mtp__tx_unit_append(&u, src, 21), MTP_ENOSPC);
    cr_assert_eq(mtp__tx_unit_append(&u, src + 100, 20), 0);
    uint32_t contig;
    const uint8_t *p = mtp__tx_unit_at(&u, 20, &contig);
    cr_expect_eq(memcmp(p, src + 20, 80), 0, "referenced bytes did not move");
    u.pin = UINT64_MAX;
    cr_expect_eq(mtp__tx_unit_space(&u), 80);
    mtp__tx_unit_release(&u);
}

static const struct { uint64_t off; uint32_t len; int ok; } range_cases[] = {
    { 10, 10, 1 }, { 10, 0, 1 }, { 9, 5, 0 } /* retired */, { 50, 10, 1 },
    { 55, 10, 0 } /* past the tail */, { 60, 0, 1 }, { 61, 0, 0 },
};

Test(tx_unit, range_check_table)
{
    fill();
    struct mtp__tx_unit u;
    mtp__tx_unit_init(&u, MTP_SIZE_INF, 128);
    mtp__tx_unit_append(&u, src, 60);
    mtp__tx_unit_retire(&u, 10);
    for (size_t i = 0; i < sizeof range_cases / sizeof range_cases[0]; i++)
        cr_expect_eq(mtp__tx_unit_check(&u, range_cases[i].off, range_cases[i].len) == 0,
                     range_cases[i].ok, "case %zu", i);
    mtp__tx_unit_release(&u);
}

Test(tx_unit, message_size_bounds_appends)
{
    fill();
    struct mtp__tx_unit u;
    mtp__tx_unit_init(&u, 50, 1 << 20);
    cr_expect_eq(mtp__tx_unit_space(&u), 50);
    cr_expect_eq(mtp__tx_unit_append(&u, src, 51), MTP_ENOSPC);
    cr_expect_eq(mtp__tx_unit_append(&u, src, 50), 0);
    mtp__tx_unit_retire(&u, 50);
    cr_expect_eq(mtp__tx_unit_space(&u), 0, "a message never grows past its size");
    mtp__tx_unit_release(&u);
}
