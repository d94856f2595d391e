/*
 * evq.c — see evq.h. Mirrors fs/eventpoll.c's rules for the objects the kernel cannot see.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "evq.h"

#define EV_MAX_NESTS 4 /* Linux's EP_MAX_NESTS */
/* Bits that select behaviour, not readiness. */
#define EV_MODE_BITS (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

void mtp_ev_set_init(struct mtp_ev_set *s)
{
    *s = (struct mtp_ev_set){.as_src = {.is_set = true}};
}

static struct mtp_ev_set *set_of(struct mtp_ev_src *src)
{
    return src->is_set ? (struct mtp_ev_set *)((char *)src - offsetof(struct mtp_ev_set, as_src))
                       : NULL;
}

static void list_push(struct mtp_ev_watch **head, struct mtp_ev_watch **last,
                      struct mtp_ev_watch *w);

static void enqueue(struct mtp_ev_watch *w)
{
    w->queued = true;
    list_push(&w->set->rhead, &w->set->rtail, w);
}

static void dequeue(struct mtp_ev_watch *w)
{
    struct mtp_ev_set *s = w->set;
    struct mtp_ev_watch *prev = NULL;
    for (struct mtp_ev_watch *x = s->rhead; x; prev = x, x = x->rnext) {
        if (x != w)
            continue;
        if (prev)
            prev->rnext = x->rnext;
        else
            s->rhead = x->rnext;
        if (s->rtail == x)
            s->rtail = prev;
        break;
    }
    w->queued = false;
    w->rnext = NULL;
}

static int wake_depth(struct mtp_ev_src *src, int depth)
{
    int n = 0;
    for (struct mtp_ev_watch *w = src->watches; w; w = w->src_next) {
        if (w->queued || w->disarmed)
            continue;
        enqueue(w);
        n++;
        if (depth < EV_MAX_NESTS)
            n += wake_depth(&w->set->as_src, depth + 1);
    }
    return n;
}

int mtp_ev_wake(struct mtp_ev_src *src) { return wake_depth(src, 0); }

struct mtp_ev_watch *mtp_ev_find(struct mtp_ev_set *s, int fd, const struct mtp_ev_src *src)
{
    for (struct mtp_ev_watch *w = src->watches; w; w = w->src_next)
        if (w->set == s && w->fd == fd)
            return w;
    return NULL;
}

/* Does set `from` reach set `to` through watches of sets (or nest too deep)? */
static bool reaches(struct mtp_ev_set *from, struct mtp_ev_set *to, int depth)
{
    if (from == to || depth > EV_MAX_NESTS)
        return true;
    for (struct mtp_ev_watch *w = from->all; w; w = w->set_next) {
        struct mtp_ev_set *inner = set_of(w->src);
        if (inner && reaches(inner, to, depth + 1))
            return true;
    }
    return false;
}

static void unlink_watch(struct mtp_ev_watch *w)
{
    if (w->queued)
        dequeue(w);
    struct mtp_ev_watch **pp = &w->src->watches;
    while (*pp && *pp != w)
        pp = &(*pp)->src_next;
    if (*pp)
        *pp = w->src_next;
    struct mtp_ev_set *s = w->set;
    if (w->set_prev)
        w->set_prev->set_next = w->set_next;
    else
        s->all = w->set_next;
    if (w->set_next)
        w->set_next->set_prev = w->set_prev;
    s->n_watches--;
    free(w);
}

static void arm(struct mtp_ev_watch *w, const struct epoll_event *ev, mtp_ev_poll_fn poll,
                void *user)
{
    w->events = ev->events | EPOLLERR | EPOLLHUP;
    w->data = ev->data;
    w->disarmed = false;
    if (!w->queued && (poll(w->src, user) & w->events & ~(uint32_t)EV_MODE_BITS))
        enqueue(w);
    if (w->queued)
        wake_depth(&w->set->as_src, 1); /* sets watching this set see it ready */
}

int mtp_ev_ctl(struct mtp_ev_set *s, int op, int fd, struct mtp_ev_src *src,
               const struct epoll_event *ev, mtp_ev_poll_fn poll, void *user)
{
    struct mtp_ev_watch *w = mtp_ev_find(s, fd, src);
    if (src == &s->as_src)
        return -EINVAL;
    if (op == EPOLL_CTL_DEL) {
        if (!w)
            return -ENOENT;
        unlink_watch(w);
        return 0;
    }
    if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD)
        return -EINVAL;
    if ((ev->events & EPOLLEXCLUSIVE) &&
        (op == EPOLL_CTL_MOD || (ev->events & EPOLLONESHOT) || src->is_set))
        return -EINVAL;
    if (op == EPOLL_CTL_MOD) {
        if (!w)
            return -ENOENT;
        if (w->events & EPOLLEXCLUSIVE)
            return -EINVAL;
        arm(w, ev, poll, user);
        return 0;
    }
    if (w)
        return -EEXIST;
    struct mtp_ev_set *inner = set_of(src);
    if (inner && reaches(inner, s, 1))
        return -ELOOP;
    w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->set = s;
    w->src = src;
    w->fd = fd;
    w->src_next = src->watches;
    src->watches = w;
    w->set_next = s->all;
    if (s->all)
        s->all->set_prev = w;
    s->all = w;
    s->n_watches++;
    arm(w, ev, poll, user);
    return 0;
}

/* Appends w to the list (head, last). */
static void list_push(struct mtp_ev_watch **head, struct mtp_ev_watch **last,
                      struct mtp_ev_watch *w)
{
    w->rnext = NULL;
    if (*last)
        (*last)->rnext = w;
    else
        *head = w;
    *last = w;
}

int mtp_ev_collect(struct mtp_ev_set *s, struct epoll_event *out, int max, mtp_ev_poll_fn poll,
                   void *user)
{
    int n = 0;
    struct mtp_ev_watch *list = s->rhead, *again = NULL, *again_last = NULL;
    s->rhead = s->rtail = NULL;
    while (list && n < max) {
        struct mtp_ev_watch *w = list;
        list = w->rnext;
        w->queued = false;
        w->rnext = NULL;
        uint32_t mask = w->disarmed ? 0 : poll(w->src, user) & w->events & ~(uint32_t)EV_MODE_BITS;
        if (!mask)
            continue;
        out[n].events = mask;
        out[n].data = w->data;
        n++;
        if (w->events & EPOLLONESHOT)
            w->disarmed = true;
        else if (!(w->events & EPOLLET)) { /* level triggered: back on the list */
            w->queued = true;
            list_push(&again, &again_last, w);
        }
    }
    /* those not looked at (max reached) first, then the level-triggered ones, as in Linux */
    while (list) {
        struct mtp_ev_watch *w = list;
        list = w->rnext;
        list_push(&s->rhead, &s->rtail, w);
    }
    while (again) {
        struct mtp_ev_watch *w = again;
        again = w->rnext;
        list_push(&s->rhead, &s->rtail, w);
    }
    return n;
}

bool mtp_ev_any_ready(struct mtp_ev_set *s, mtp_ev_poll_fn poll, void *user)
{
    struct mtp_ev_watch *prev = NULL, *w = s->rhead;
    while (w) {
        struct mtp_ev_watch *next = w->rnext;
        if (!w->disarmed && (poll(w->src, user) & w->events & ~(uint32_t)EV_MODE_BITS))
            return true;
        /* not ready any more: off the list, as epoll's own poll does */
        if (prev)
            prev->rnext = next;
        else
            s->rhead = next;
        if (s->rtail == w)
            s->rtail = prev;
        w->queued = false;
        w->rnext = NULL;
        w = next;
    }
    return false;
}

void mtp_ev_src_drop(struct mtp_ev_src *src)
{
    while (src->watches)
        unlink_watch(src->watches);
}

void mtp_ev_set_drop(struct mtp_ev_set *s)
{
    while (s->all)
        unlink_watch(s->all);
    mtp_ev_src_drop(&s->as_src);
}
