/* Unit tests of preload/evq.c: epoll's delivery rules for MTP sockets, against a table of
 * fake readiness masks. */
#include <criterion/criterion.h>
#include <errno.h>

#include "evq.h"

struct fake {
    struct mtp_ev_src src;
    uint32_t mask;
};

static uint32_t fake_poll(struct mtp_ev_src *src, void *user)
{
    (void)user;
    if (src->is_set) {
        struct mtp_ev_set *s = (struct mtp_ev_set *)src;
        return mtp_ev_any_ready(s, fake_poll, NULL) ? EPOLLIN : 0;
    }
    return ((struct fake *)src)->mask;
}

static struct mtp_ev_set set;
static struct fake a, b;
static struct epoll_event out[8];

static void setup(void)
{
    mtp_ev_set_init(&set);
    a = (struct fake){{0}, 0};
    b = (struct fake){{0}, 0};
}
static void teardown(void) { mtp_ev_set_drop(&set); }

TestSuite(evq, .init = setup, .fini = teardown);

static int add(struct fake *f, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    return mtp_ev_ctl(&set, EPOLL_CTL_ADD, fd, &f->src, &ev, fake_poll, NULL);
}

static int collect(void) { return mtp_ev_collect(&set, out, 8, fake_poll, NULL); }

Test(evq, ctl_errors_are_linux_errors)
{
    struct epoll_event ev = {.events = EPOLLIN};
    cr_assert_eq(add(&a, 3, EPOLLIN), 0);
    cr_assert_eq(add(&a, 3, EPOLLIN), -EEXIST);
    cr_assert_eq(mtp_ev_ctl(&set, EPOLL_CTL_MOD, 4, &b.src, &ev, fake_poll, NULL), -ENOENT);
    cr_assert_eq(mtp_ev_ctl(&set, EPOLL_CTL_DEL, 4, &b.src, NULL, fake_poll, NULL), -ENOENT);
    cr_assert_eq(add(&b, 4, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT), -EINVAL);
    cr_assert_eq(mtp_ev_ctl(&set, EPOLL_CTL_ADD, 5, &set.as_src, &ev, fake_poll, NULL), -EINVAL);
    cr_assert_eq(mtp_ev_ctl(&set, EPOLL_CTL_DEL, 3, &a.src, NULL, fake_poll, NULL), 0);
    cr_assert_eq(set.n_watches, 0);
}

Test(evq, level_triggered_repeats_until_not_ready)
{
    add(&a, 3, EPOLLIN);
    cr_assert_eq(collect(), 0);
    a.mask = EPOLLIN;
    mtp_ev_wake(&a.src);
    cr_assert_eq(collect(), 1);
    cr_assert_eq(out[0].data.fd, 3);
    cr_assert_eq(out[0].events, EPOLLIN);
    cr_assert_eq(collect(), 1, "still readable: reported again without a wake");
    a.mask = 0;
    cr_assert_eq(collect(), 0);
    cr_assert_eq(collect(), 0);
}

Test(evq, edge_triggered_once_per_wake)
{
    add(&a, 3, EPOLLIN | EPOLLET);
    a.mask = EPOLLIN;
    mtp_ev_wake(&a.src);
    cr_assert_eq(collect(), 1);
    cr_assert_eq(collect(), 0, "no new event: no report");
    mtp_ev_wake(&a.src); /* more data arrived */
    cr_assert_eq(collect(), 1);
}

Test(evq, oneshot_disarms_until_mod)
{
    add(&a, 3, EPOLLIN | EPOLLONESHOT);
    a.mask = EPOLLIN;
    mtp_ev_wake(&a.src);
    cr_assert_eq(collect(), 1);
    mtp_ev_wake(&a.src);
    cr_assert_eq(collect(), 0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.fd = 3};
    cr_assert_eq(mtp_ev_ctl(&set, EPOLL_CTL_MOD, 3, &a.src, &ev, fake_poll, NULL), 0);
    cr_assert_eq(collect(), 1, "MOD re-arms and finds it ready");
}

Test(evq, only_interesting_bits_but_always_err_hup)
{
    add(&a, 3, EPOLLOUT);
    a.mask = EPOLLIN;
    mtp_ev_wake(&a.src);
    cr_assert_eq(collect(), 0);
    a.mask = EPOLLIN | EPOLLHUP | EPOLLERR;
    mtp_ev_wake(&a.src);
    cr_assert_eq(collect(), 1);
    cr_assert_eq(out[0].events, EPOLLHUP | EPOLLERR);
}

Test(evq, add_of_a_ready_source_queues_it)
{
    a.mask = EPOLLOUT;
    add(&a, 3, EPOLLOUT);
    cr_assert_eq(collect(), 1);
}

Test(evq, max_events_keeps_the_rest_first)
{
    a.mask = b.mask = EPOLLIN;
    add(&a, 3, EPOLLIN);
    add(&b, 4, EPOLLIN);
    cr_assert_eq(mtp_ev_collect(&set, out, 1, fake_poll, NULL), 1);
    int first = out[0].data.fd;
    cr_assert_eq(mtp_ev_collect(&set, out, 1, fake_poll, NULL), 1);
    cr_assert_neq(out[0].data.fd, first, "the one not delivered comes next");
}

Test(evq, nested_set_is_ready_when_inner_is)
{
    struct mtp_ev_set outer;
    mtp_ev_set_init(&outer);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = 9};
    add(&a, 3, EPOLLIN);
    cr_assert_eq(mtp_ev_ctl(&outer, EPOLL_CTL_ADD, 9, &set.as_src, &ev, fake_poll, NULL), 0);
    cr_assert_eq(mtp_ev_ctl(&set, EPOLL_CTL_ADD, 10, &outer.as_src, &ev, fake_poll, NULL), -ELOOP);
    cr_assert_eq(mtp_ev_collect(&outer, out, 8, fake_poll, NULL), 0);
    a.mask = EPOLLIN;
    mtp_ev_wake(&a.src);
    cr_assert_eq(mtp_ev_collect(&outer, out, 8, fake_poll, NULL), 1);
    cr_assert_eq(out[0].data.fd, 9);
    mtp_ev_set_drop(&outer);
}

Test(evq, closing_a_source_forgets_its_watches)
{
    a.mask = EPOLLIN;
    add(&a, 3, EPOLLIN);
    mtp_ev_src_drop(&a.src);
    cr_assert_eq(collect(), 0);
    cr_assert_eq(set.n_watches, 0);
}
