/*
 * evq.h — the user-space half of an epoll set: which MTP objects a set watches (interest),
 * which of them may be ready (the ready list), and epoll_wait's delivery rules (level and
 * edge triggered, EPOLLONESHOT). Pure logic, no system calls: the caller supplies a function
 * that answers the current EPOLL* mask of an object; unit-tested in preload/tests/test_evq.c.
 *
 * As in the kernel: a source's readiness change queues its watches (mtp_ev_wake); delivery
 * re-checks the mask; a level-triggered watch that is still ready goes back on the list, an
 * edge-triggered one waits for the next wake, a one-shot one is disarmed until EPOLL_CTL_MOD.
 * An epoll set is itself a source (epoll inside epoll, epoll inside poll).
 */
#ifndef MTP_EVQ_H
#define MTP_EVQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct mtp_ev_watch;

struct mtp_ev_src {
    struct mtp_ev_watch *watches;   /* every set watching this source */
    bool is_set;                    /* embedded in a struct mtp_ev_set (as_src) */
};

struct mtp_ev_set {
    struct mtp_ev_src as_src;       /* the set, watched by another set or polled */
    struct mtp_ev_watch *rhead, *rtail;
    uint32_t n_watches;
    struct mtp_ev_watch *all;       /* every watch of this set (closing the set) */
};

struct mtp_ev_watch {
    struct mtp_ev_set *set;
    struct mtp_ev_src *src;
    int fd;
    uint32_t events;                /* EPOLLIN ... | EPOLLET | EPOLLONESHOT ... */
    epoll_data_t data;
    bool queued;
    bool disarmed;                  /* EPOLLONESHOT after delivery */
    struct mtp_ev_watch *src_next;
    struct mtp_ev_watch *set_next, *set_prev;
    struct mtp_ev_watch *rnext;
};

/* The EPOLL* readiness of src now (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR ...). */
typedef uint32_t (*mtp_ev_poll_fn)(struct mtp_ev_src *src, void *user);

void mtp_ev_set_init(struct mtp_ev_set *s);
/* EPOLL_CTL_ADD / MOD / DEL for (fd, src) in set s, with Linux's errors: -EEXIST, -ENOENT,
 * -EINVAL (EPOLLEXCLUSIVE with MOD or with EPOLLONESHOT, a set watching itself), -ENOMEM,
 * -ELOOP (watching would make a cycle). ADD and MOD queue the watch when src is ready. */
int mtp_ev_ctl(struct mtp_ev_set *s, int op, int fd, struct mtp_ev_src *src,
               const struct epoll_event *ev, mtp_ev_poll_fn poll, void *user);
/* Deliver up to max ready events (epoll_wait without sleeping). */
int mtp_ev_collect(struct mtp_ev_set *s, struct epoll_event *out, int max, mtp_ev_poll_fn poll,
                   void *user);
/* src's readiness may have changed: queue its watches (and wake the sets watching those
 * sets). Returns how many watches were newly queued. */
int mtp_ev_wake(struct mtp_ev_src *src);
/* Whether the set has a ready event now (poll() or an outer set on this set). */
bool mtp_ev_any_ready(struct mtp_ev_set *s, mtp_ev_poll_fn poll, void *user);
/* The watch of (fd, src) in s, or NULL. */
struct mtp_ev_watch *mtp_ev_find(struct mtp_ev_set *s, int fd, const struct mtp_ev_src *src);
/* Forget every watch on src (it is closed) / every watch of s (the set is closed). */
void mtp_ev_src_drop(struct mtp_ev_src *src);
void mtp_ev_set_drop(struct mtp_ev_set *s);

#endif
