/* Timing wheel: start, restart, stop, expiry order, many timers, far deadlines. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "timers.h"

#define MS 1000000ull

static int expire_all(struct mtp__wheel *w, uint64_t now, struct mtp__timer **out, int max)
{
    int n = 0;
    struct mtp__timer *t;
    while ((t = mtp__wheel_expire(w, now)) != NULL) {
        cr_assert_lt(n, max);
        out[n++] = t;
    }
    return n;
}

static const struct { uint64_t start_at, dur, check_at; int fired; } one_cases[] = {
    { 0, 10 * MS, 10 * MS - 1, 0 },
    { 0, 10 * MS, 10 * MS, 1 },
    { 5, 0, 5, 1 },                             /* zero duration: due at once */
    { 0, 1000, 999, 0 },                        /* sub-tick precision */
    { 0, 1000, 1000, 1 },
    { 7 * MS, 3000 * MS, 3006 * MS, 0 },        /* many laps away */
    { 7 * MS, 3000 * MS, 3007 * MS, 1 },
};

Test(timers, single_deadline_table)
{
    for (size_t i = 0; i < sizeof one_cases / sizeof one_cases[0]; i++) {
        struct mtp__wheel *w = malloc(sizeof *w);
        mtp__wheel_init(w, 0);
        struct mtp__timer t = { 0 }, *out[4];
        cr_assert_eq(expire_all(w, one_cases[i].start_at, out, 4), 0);
        mtp__wheel_start(w, &t, one_cases[i].start_at + one_cases[i].dur);
        cr_expect_eq(mtp__wheel_next(w), one_cases[i].start_at + one_cases[i].dur, "case %zu", i);
        int n = expire_all(w, one_cases[i].check_at, out, 4);
        cr_expect_eq(n, one_cases[i].fired, "case %zu", i);
        cr_expect_eq(t.armed, !one_cases[i].fired);
        free(w);
    }
}

Test(timers, restart_and_stop)
{
    struct mtp__wheel *w = malloc(sizeof *w);
    mtp__wheel_init(w, 0);
    struct mtp__timer a = { 0 }, b = { 0 }, *out[4];
    mtp__wheel_start(w, &a, 10 * MS);
    mtp__wheel_start(w, &b, 20 * MS);
    mtp__wheel_start(w, &a, 30 * MS); /* restart: the old deadline is gone */
    cr_expect_eq(mtp__wheel_next(w), 20 * MS);
    cr_expect_eq(expire_all(w, 15 * MS, out, 4), 0);
    mtp__wheel_stop(w, &b);
    mtp__wheel_stop(w, &b); /* stopping a stopped timer is harmless */
    cr_expect_eq(mtp__wheel_next(w), 30 * MS);
    cr_expect_eq(expire_all(w, 25 * MS, out, 4), 0);
    cr_expect_eq(expire_all(w, 30 * MS, out, 4), 1);
    cr_expect_eq(out[0], &a);
    cr_expect_eq(mtp__wheel_next(w), UINT64_MAX);
    cr_expect_eq(w->count, 0);
    free(w);
}

Test(timers, many_timers_fire_once_each_at_their_deadline)
{
    enum { N = 20000 };
    struct mtp__wheel *w = malloc(sizeof *w);
    struct mtp__timer *t = calloc(N, sizeof *t);
    mtp__wheel_init(w, 0);
    for (uint32_t i = 0; i < N; i++) {
        t[i].idx = (uint16_t)i;
        /* deadlines spread over 0..2 s, several laps of the wheel */
        mtp__wheel_start(w, &t[i], (uint64_t)((i * 7919u) % N) * 100000ull + 1);
    }
    for (uint32_t i = 0; i < N; i += 3)
        mtp__wheel_stop(w, &t[i]);
    uint64_t last = 0;
    int fired = 0;
    for (uint64_t now = 0; now <= 2100 * MS; now += 5 * MS) {
        struct mtp__timer *x;
        while ((x = mtp__wheel_expire(w, now)) != NULL) {
            cr_assert_leq(x->deadline, now);
            cr_assert_gt(x->deadline + 5 * MS, now, "fired late: %lu at %lu",
                         (unsigned long)x->deadline, (unsigned long)now);
            cr_assert_neq((x - t) % 3, 0, "a stopped timer fired");
            cr_assert_geq(x->deadline + 5 * MS, last);
            last = x->deadline;
            fired++;
        }
    }
    cr_expect_eq(fired, N - (N + 2) / 3);
    cr_expect_eq(w->count, 0);
    free(t);
    free(w);
}

Test(timers, next_deadline_after_a_long_idle_gap)
{
    struct mtp__wheel *w = malloc(sizeof *w);
    mtp__wheel_init(w, 0);
    struct mtp__timer a = { 0 }, b = { 0 }, *out[2];
    mtp__wheel_start(w, &a, 3600000 * MS);      /* an hour away */
    mtp__wheel_start(w, &b, 5 * MS);
    cr_expect_eq(mtp__wheel_next(w), 5 * MS);
    cr_expect_eq(expire_all(w, 6 * MS, out, 2), 1);
    cr_expect_eq(mtp__wheel_next(w), 3600000 * MS);
    cr_expect_eq(expire_all(w, 1800000 * MS, out, 2), 0);
    cr_expect_eq(expire_all(w, 3600000 * MS, out, 2), 1);
    cr_expect_eq(out[0], &a);
    free(w);
}

/* Only timers of later laps: the earliest is not necessarily in the first non-empty slot
 * (an idle timeout 1000 s away in slot 65, a retransmission timer 3 s away in slot 3632). */
Test(timers, next_deadline_among_timers_all_laps_away)
{
    struct mtp__wheel *w = malloc(sizeof *w);
    mtp__wheel_init(w, 0);
    uint64_t now = 1000115602ull;
    struct mtp__timer idle = { 0 }, rto = { 0 };
    cr_expect_null(mtp__wheel_expire(w, now));
    mtp__wheel_start(w, &idle, now + 1000000 * MS);
    mtp__wheel_start(w, &rto, now + 2190 * MS);
    cr_assert_gt((rto.deadline >> MTP__WHEEL_SHIFT) % MTP__WHEEL_SLOTS,
                 (idle.deadline >> MTP__WHEEL_SHIFT) % MTP__WHEEL_SLOTS,
                 "the later timer sits in the lower slot");
    cr_expect_eq(mtp__wheel_next(w), now + 2190 * MS);
    free(w);
}
