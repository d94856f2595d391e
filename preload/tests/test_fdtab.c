/* Unit tests of preload/fdtab.c: fd -> object, reference counts across dup, growth. */
#include <criterion/criterion.h>
#include <errno.h>

#include "fdtab.h"

static struct mtp_fdtab t;

static void setup(void) { mtp_fdtab_init(&t); }
static void teardown(void) { mtp_fdtab_free(&t); }

TestSuite(fdtab, .init = setup, .fini = teardown);

Test(fdtab, empty_table_knows_nothing)
{
    cr_assert_null(mtp_fdtab_get(&t, 0));
    cr_assert_null(mtp_fdtab_get(&t, -1));
    cr_assert_null(mtp_fdtab_get(&t, 1 << 20));
    cr_assert_null(mtp_fdtab_clear(&t, 5));
}

Test(fdtab, last_clear_returns_the_object)
{
    struct mtp_fdobj o = {.kind = 1}, *dropped;
    cr_assert_eq(mtp_fdtab_set(&t, 3, &o, &dropped), 0);
    cr_assert_null(dropped);
    cr_assert_eq(mtp_fdtab_set(&t, 9, &o, &dropped), 0); /* dup */
    cr_assert_eq(o.refs, 2);
    cr_assert_eq(mtp_fdtab_get(&t, 9), &o);
    cr_assert_null(mtp_fdtab_clear(&t, 3), "one fd left: not the last close");
    cr_assert_null(mtp_fdtab_get(&t, 3));
    cr_assert_eq(mtp_fdtab_clear(&t, 9), &o, "the last close ends it");
    cr_assert_eq(o.refs, 0);
}

Test(fdtab, set_over_a_used_fd_drops_its_object)
{
    struct mtp_fdobj a = {.kind = 1}, b = {.kind = 2}, *dropped;
    mtp_fdtab_set(&t, 4, &a, &dropped);
    cr_assert_eq(mtp_fdtab_set(&t, 4, &b, &dropped), 0); /* dup2 onto a socket */
    cr_assert_eq(dropped, &a);
    cr_assert_eq(a.refs, 0);
    cr_assert_eq(b.refs, 1);
    cr_assert_eq(mtp_fdtab_set(&t, 4, &b, &dropped), 0); /* dup2(fd, fd) */
    cr_assert_null(dropped);
    cr_assert_eq(b.refs, 1);
}

Test(fdtab, grows_and_keeps_entries)
{
    struct mtp_fdobj o[3] = {{1, 0}, {1, 0}, {1, 0}}, *dropped;
    mtp_fdtab_set(&t, 1, &o[0], &dropped);
    cr_assert_eq(mtp_fdtab_set(&t, 5000, &o[1], &dropped), 0);
    cr_assert_eq(mtp_fdtab_set(&t, 70000, &o[2], &dropped), 0);
    cr_assert_geq(mtp_fdtab_cap(&t), 70001);
    cr_assert_eq(mtp_fdtab_get(&t, 1), &o[0]);
    cr_assert_eq(mtp_fdtab_get(&t, 5000), &o[1]);
    cr_assert_eq(mtp_fdtab_get(&t, 70000), &o[2]);
    cr_assert_eq(mtp_fdtab_set(&t, -1, &o[0], &dropped), -EBADF);
}
