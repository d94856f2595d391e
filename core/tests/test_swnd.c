/* Sliding windows (program.h mtp_swnd_...): set, unset, test, first set/unset, slide, wrap. */
#include <criterion/criterion.h>
#include "mtp/program.h"

struct w128 {
    uint32_t head, nbits;
    uint64_t bits[MTP_SWND_WORDS(128)];
};
#define W(x) ((struct mtp_swnd *)&(x))

static struct w128 mk(uint32_t head)
{
    struct w128 w = { .nbits = 128 };
    mtp_swnd_reset(W(w), head);
    return w;
}

static const struct {
    uint32_t head, lo, hi;    /* set [lo, hi) */
    uint32_t probe;
    int expect;
} set_cases[] = {
    { 0, 0, 1, 0, 1 },
    { 0, 0, 1, 1, 0 },
    { 0, 60, 70, 63, 1 },               /* across a word */
    { 0, 60, 70, 64, 1 },
    { 0, 60, 70, 70, 0 },
    { 0, 100, 200, 127, 1 },            /* clipped at the window end */
    { 0, 100, 200, 128, 0 },            /* outside: never set */
    { 10, 0, 20, 9, 0 },                /* before the head: clipped */
    { 10, 0, 20, 10, 1 },
    { 0xfffffff0u, 0xfffffff8u, 8, 0xffffffffu, 1 }, /* wraps the 32-bit space */
    { 0xfffffff0u, 0xfffffff8u, 8, 0, 1 },
    { 0xfffffff0u, 0xfffffff8u, 8, 8, 0 },
    { 0, 50, 40, 45, 0 },               /* inverted range: no-op */
};

Test(swnd, set_and_test_table)
{
    for (size_t i = 0; i < sizeof set_cases / sizeof set_cases[0]; i++) {
        struct w128 w = mk(set_cases[i].head);
        mtp_swnd_set(W(w), set_cases[i].lo, set_cases[i].hi);
        cr_expect_eq(mtp_swnd_test(W(w), set_cases[i].probe), set_cases[i].expect, "case %zu", i);
    }
}

Test(swnd, unset_first_set_first_unset)
{
    struct w128 w = mk(1000);
    cr_expect_eq(mtp_swnd_first_set(W(w)), 1000 + 128);
    cr_expect_eq(mtp_swnd_first_unset(W(w)), 1000);
    mtp_swnd_set(W(w), 1000, 1070);
    cr_expect_eq(mtp_swnd_first_unset(W(w)), 1070);
    mtp_swnd_unset(W(w), 1010, 1020);
    cr_expect_eq(mtp_swnd_first_unset(W(w)), 1010);
    cr_expect_eq(mtp_swnd_first_set(W(w)), 1000);
    mtp_swnd_unset(W(w), 0, 1010);
    cr_expect_eq(mtp_swnd_first_set(W(w)), 1020);
    mtp_swnd_set(W(w), 1000, 1128);
    cr_expect_eq(mtp_swnd_first_unset(W(w)), 1128, "full window: head + nbits");
}

Test(swnd, slide_keeps_flags_of_remaining_numbers)
{
    static const uint32_t slides[] = { 1, 63, 64, 65, 127, 128, 500 };
    for (size_t s = 0; s < sizeof slides / sizeof slides[0]; s++) {
        struct w128 w = mk(0xffffff00u);
        for (uint32_t i = 0; i < 128; i += 3)
            mtp_swnd_set(W(w), 0xffffff00u + i, 0xffffff00u + i + 1);
        uint32_t to = 0xffffff00u + slides[s];
        mtp_swnd_slide(W(w), to);
        cr_expect_eq(mtp_swnd_head(W(w)), to);
        for (uint32_t i = 0; i < 128; i++) {
            uint32_t q = to + i;
            int expect = (uint32_t)(q - 0xffffff00u) < 128 && (q - 0xffffff00u) % 3 == 0;
            cr_expect_eq(mtp_swnd_test(W(w), q), expect, "slide %u seq +%u", slides[s], i);
        }
    }
}

Test(swnd, slide_backwards_is_noop_and_slide_to_first_unset)
{
    struct w128 w = mk(500);
    mtp_swnd_set(W(w), 500, 510);
    mtp_swnd_slide(W(w), 400);
    cr_expect_eq(mtp_swnd_head(W(w)), 500);
    mtp_swnd_slide(W(w), mtp_swnd_first_unset(W(w)));
    cr_expect_eq(mtp_swnd_head(W(w)), 510);
    cr_expect_eq(mtp_swnd_test(W(w), 509), 0);
    cr_expect_eq(mtp_swnd_first_set(W(w)), 510 + 128);
}
