/*
 * libmtp_poll.c — epoll, poll and select over sets that mix kernel fds and MTP sockets.
 *
 * An epoll set of the application is a real kernel epoll (kernel fds, and the kernel half of
 * MTP listeners) plus a user-space half (evq.h) for MTP sockets. epoll_wait runs the stack,
 * delivers the user-space half, adds what the kernel epoll has without waiting, and sleeps on
 * the kernel epoll fd + the stack's wake-ups when nothing is ready. poll and select do the
 * same with the kernel fds of their set. Sets without MTP sockets go straight to libc.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "libmtp.h"

static struct lm_epoll *ep_of(int fd)
{
    struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, fd);
    return o && o->kind == LM_EPOLL ? (struct lm_epoll *)o : NULL;
}

uint32_t lm_src_events(struct mtp_ev_src *src, void *user)
{
    (void)user;
    if (src->is_set) {
        struct mtp_ev_set *set = (struct mtp_ev_set *)((char *)src - offsetof(struct mtp_ev_set, as_src));
        return mtp_ev_any_ready(set, lm_src_events, NULL) ? EPOLLIN | EPOLLRDNORM : 0;
    }
    return lm_sock_events((struct lm_sock *)((char *)src - offsetof(struct lm_sock, src)));
}

void lm_epoll_release(struct lm_epoll *ep)
{
    mtp_ev_set_drop(&ep->set);
    free(ep);
}

/* The kernel epoll's epoll_ctl, counting what this process leaves in it. */
static int kernel_ctl(struct lm_epoll *ep, int epfd, int op, int fd, struct epoll_event *ev)
{
    if (lm_real.epoll_ctl(epfd, op, fd, ev) < 0)
        return -errno;
    if (op == EPOLL_CTL_ADD)
        ep->kernel_watches++;
    else if (op == EPOLL_CTL_DEL && ep->kernel_watches)
        ep->kernel_watches--;
    return 0;
}

/* Whether the kernel epoll may hold an fd: if not, epoll_wait need not ask it (a system
 * call per wait for a set of MTP sockets alone, such as a client's connections). */
static bool kernel_may_watch(const struct lm_epoll *ep)
{
    return ep->kernel_watches || ep->fork_gen != g_lm.fork_gen;
}

void lm_epoll_adopt(const struct lm_kwatch *k, struct lm_sock *s, bool keep_kernel)
{
    struct lm_epoll *ep = ep_of(k->epfd);
    if (!ep)
        return;
    if (!keep_kernel)
        kernel_ctl(ep, ep->kfd, EPOLL_CTL_DEL, k->fd, NULL);
    struct epoll_event ev = k->ev;
    mtp_ev_ctl(&ep->set, EPOLL_CTL_ADD, k->fd, &s->src, &ev, lm_src_events, NULL);
}

/* ---------------------------------------------------------------- epoll */

LM_EXPORT int epoll_create1(int flags)
{
    int fd = lm_real.epoll_create1(flags);
    if (fd < 0 || lm_inside || !g_lm.configured)
        return fd;
    lm_lock();
    struct mtp_fdobj *stale = mtp_fdtab_clear(&g_lm.fds, fd), *dropped;
    if (stale)
        lm_obj_release(stale);
    struct lm_epoll *ep = calloc(1, sizeof *ep);
    if (ep) {
        ep->obj.kind = LM_EPOLL;
        ep->kfd = fd;
        ep->fork_gen = g_lm.fork_gen;
        mtp_ev_set_init(&ep->set);
        if (mtp_fdtab_set(&g_lm.fds, fd, &ep->obj, &dropped) < 0)
            free(ep);
    }
    lm_unlock();
    return fd;
}

LM_EXPORT int epoll_create(int size)
{
    if (size <= 0) {
        errno = EINVAL;
        return -1;
    }
    return epoll_create1(0);
}

static int ctl_locked(struct lm_epoll *ep, int epfd, int op, int fd, struct epoll_event *ev)
{
    struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, fd);
    if (op != EPOLL_CTL_DEL && !ev)
        return -EFAULT;
    if (!o)
        return kernel_ctl(ep, epfd, op, fd, ev);
    struct mtp_ev_src *src;
    bool kernel_too;
    if (o->kind == LM_EPOLL) {
        src = &((struct lm_epoll *)o)->set.as_src;
        kernel_too = true;
    } else {
        struct lm_sock *s = (struct lm_sock *)o;
        if (s->state == LM_INH && op != EPOLL_CTL_DEL)
            lm_inherit_take(s); /* inherited across fork: this process serves it now */
        if (s->state == LM_LISTEN && op != EPOLL_CTL_DEL)
            lm_listener_join(s); /* an inherited or dormant listener: this process serves it */
        if (s->state == LM_NEW || s->state == LM_INH) {
            int rc = kernel_ctl(ep, epfd, op, fd, ev);
            if (rc < 0)
                return rc;
            lm_sock_note_kernel_watch(s, epfd, fd, op, ev);
            return 0;
        }
        src = &s->src;
        kernel_too = s->state == LM_LISTEN;
    }
    int krc = kernel_too ? kernel_ctl(ep, epfd, op, fd, ev) : 0;
    if (krc < 0)
        return krc;
    int rc = mtp_ev_ctl(&ep->set, op, fd, src, ev, lm_src_events, NULL);
    if (rc < 0 && kernel_too && op == EPOLL_CTL_ADD)
        kernel_ctl(ep, epfd, EPOLL_CTL_DEL, fd, NULL);
    if (rc == 0)
        g_lm.kick = true; /* a thread waiting on this set may have something now */
    return rc;
}

LM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    if (!lm_obj(epfd))
        return lm_real.epoll_ctl(epfd, op, fd, ev);
    lm_lock();
    struct lm_epoll *ep = ep_of(epfd);
    int rc = ep ? ctl_locked(ep, epfd, op, fd, ev)
                : (lm_real.epoll_ctl(epfd, op, fd, ev) < 0 ? -errno : 0);
    lm_unlock();
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return 0;
}

/* Asking the kernel half of a set (its kernel fds, listeners' kernel halves) is a system
 * call: while MTP sockets have events it is asked at most this often, and then first, so that
 * MTP events filling the caller's array every time do not starve it (nor the reverse). */
#define KERNEL_ASK_NS 500000ull

static int ask_kernel(struct lm_epoll *ep, struct epoll_event *evs, int max, uint64_t now)
{
    struct timespec zero = {0, 0};
    ep->kernel_asked_ns = now;
    int k = lm_real.epoll_pwait2(ep->kfd, evs, max, &zero, NULL);
    return k > 0 ? k : 0;
}

/* One look at both halves of ep without waiting: up to max events into evs. */
static int ep_collect(struct lm_epoll *ep, struct epoll_event *evs, int max)
{
    if (!kernel_may_watch(ep))
        return mtp_ev_collect(&ep->set, evs, max, lm_src_events, NULL);
    uint64_t now = lm_now();
    bool due = now - ep->kernel_asked_ns >= KERNEL_ASK_NS;
    int n = due ? ask_kernel(ep, evs, max, now) : 0;
    n += mtp_ev_collect(&ep->set, evs + n, max - n, lm_src_events, NULL);
    if (n == 0 && !due)
        n = ask_kernel(ep, evs, max, now);
    return n;
}

static int ep_wait(int epfd, struct epoll_event *evs, int max, uint64_t timeout_ns,
                   const sigset_t *mask)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull)};
    if (!lm_obj(epfd))
        return lm_real.epoll_pwait2(epfd, evs, max, timeout_ns == UINT64_MAX ? NULL : &ts, mask);
    lm_lock();
    struct lm_epoll *ep = ep_of(epfd);
    if (!ep || ep->set.n_watches == 0 || max <= 0) {
        lm_unlock();
        return lm_real.epoll_pwait2(epfd, evs, max, timeout_ns == UINT64_MAX ? NULL : &ts, mask);
    }
    uint64_t deadline = lm_deadline(timeout_ns), spin = 0;
    int n, err = 0;
    lm_batch_end();
    for (;;) {
        if (g_lm.stack)
            lm_progress();
        n = ep_collect(ep, evs, max);
        if (n > 0 || lm_now() >= deadline)
            break;
        struct pollfd k = {.fd = ep->kfd, .events = POLLIN};
        if (lm_sleep(&k, 1, deadline, mask, &spin) == -EINTR) {
            err = EINTR;
            break;
        }
    }
    if (!err)
        lm_batch_begin(n); /* several sockets to answer: their replies leave together */
    lm_unlock();
    if (err) {
        errno = err;
        return -1;
    }
    return n;
}

static uint64_t ms_ns(int ms) { return ms < 0 ? UINT64_MAX : (uint64_t)ms * 1000000ull; }

static uint64_t ts_ns(const struct timespec *t)
{
    return t ? (uint64_t)t->tv_sec * 1000000000ull + (uint64_t)t->tv_nsec : UINT64_MAX;
}

LM_EXPORT int epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
    return ep_wait(epfd, evs, max, ms_ns(timeout), NULL);
}

LM_EXPORT int epoll_pwait(int epfd, struct epoll_event *evs, int max, int timeout,
                          const sigset_t *mask)
{
    return ep_wait(epfd, evs, max, ms_ns(timeout), mask);
}

LM_EXPORT int epoll_pwait2(int epfd, struct epoll_event *evs, int max,
                           const struct timespec *timeout, const sigset_t *mask)
{
    if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    return ep_wait(epfd, evs, max, ts_ns(timeout), mask);
}

/* ---------------------------------------------------------------- poll */

/* The MTP readiness of fd (poll bits), and whether fd has a kernel half to poll too. */
static bool mtp_revents(int fd, short events, short *revents, bool *kernel_half)
{
    struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, fd);
    *kernel_half = true;
    if (!o)
        return false;
    uint32_t ev;
    if (o->kind == LM_EPOLL) {
        ev = lm_src_events(&((struct lm_epoll *)o)->set.as_src, NULL);
    } else {
        struct lm_sock *s = (struct lm_sock *)o;
        if (s->state == LM_INH)
            lm_inherit_take(s);
        if (s->state == LM_NEW || s->state == LM_INH)
            return false;
        if (s->state == LM_LISTEN)
            lm_listener_join(s);
        ev = s->state != LM_LISTEN ? lm_sock_events(s)
             : s->sk && (mtp_sock_poll(s->sk) & MTP_SOCK_READABLE) ? POLLIN | POLLRDNORM : 0;
        *kernel_half = s->state == LM_LISTEN;
    }
    *revents = (short)(ev & ((uint16_t)events | POLLERR | POLLHUP));
    return true;
}

static bool has_mtp(const struct pollfd *fds, nfds_t n)
{
    for (nfds_t i = 0; i < n; i++) {
        struct mtp_fdobj *o = lm_obj(fds[i].fd);
        if (o && (o->kind == LM_EPOLL || ((struct lm_sock *)o)->state != LM_NEW))
            return true;
    }
    return false;
}

static int do_poll(struct pollfd *fds, nfds_t n, uint64_t timeout_ns, const sigset_t *mask)
{
    struct timespec ts = {(time_t)(timeout_ns / 1000000000ull), (long)(timeout_ns % 1000000000ull)};
    if (!has_mtp(fds, n))
        return lm_real.ppoll(fds, n, timeout_ns == UINT64_MAX ? NULL : &ts, mask);
    struct pollfd *k = malloc(sizeof *k * (n ? n : 1));
    short *mine = malloc(sizeof *mine * (n ? n : 1));
    if (!k || !mine) {
        free(k);
        free(mine);
        errno = ENOMEM;
        return -1;
    }
    lm_lock();
    uint64_t deadline = lm_deadline(timeout_ns), spin = 0;
    int ready = 0, err = 0;
    lm_batch_end();
    for (;;) {
        if (g_lm.stack)
            lm_progress();
        for (nfds_t i = 0; i < n; i++) {
            bool kh;
            mine[i] = 0;
            k[i] = fds[i];
            if (mtp_revents(fds[i].fd, fds[i].events, &mine[i], &kh) && !kh)
                k[i].fd = -1; /* the placeholder says nothing */
        }
        struct timespec zero = {0, 0};
        if (lm_real.ppoll(k, n, &zero, NULL) < 0) {
            err = errno;
            break;
        }
        ready = 0;
        for (nfds_t i = 0; i < n; i++) {
            fds[i].revents = (short)((k[i].fd >= 0 ? k[i].revents : 0) | mine[i]);
            ready += fds[i].revents != 0;
        }
        if (ready || lm_now() >= deadline)
            break;
        if (lm_sleep(k, (int)n, deadline, mask, &spin) == -EINTR) {
            err = EINTR;
            break;
        }
    }
    if (!err)
        lm_batch_begin(ready);
    lm_unlock();
    free(k);
    free(mine);
    if (err) {
        errno = err;
        return -1;
    }
    return ready;
}

LM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
    return do_poll(fds, n, ms_ns(timeout), NULL);
}

LM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask)
{
    if (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    return do_poll(fds, n, ts_ns(t), mask);
}

LM_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        abort();
    return poll(fds, n, timeout);
}

LM_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t,
                          const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof *fds < n)
        abort();
    return ppoll(fds, n, t, mask);
}

/* ---------------------------------------------------------------- select */

static bool sets_have_mtp(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
    if (!g_lm.configured || lm_inside)
        return false;
    for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
        if ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) || (e && FD_ISSET(fd, e))) {
            struct mtp_fdobj *o = lm_obj(fd);
            if (o && (o->kind == LM_EPOLL || ((struct lm_sock *)o)->state != LM_NEW))
                return true;
        }
    return false;
}

/* select through poll; *left gets the time that remained (Linux updates select's timeout). */
static int select_poll(int nfds, fd_set *r, fd_set *w, fd_set *e, uint64_t timeout_ns,
                       const sigset_t *mask, uint64_t *left)
{
    struct pollfd *p = malloc(sizeof *p * (size_t)(nfds > 0 ? nfds : 1));
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    int n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) | (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
                           (e && FD_ISSET(fd, e) ? POLLPRI : 0));
        if (ev)
            p[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    uint64_t start = lm_now();
    int rc = do_poll(p, (nfds_t)n, timeout_ns, mask);
    uint64_t spent = lm_now() - start;
    if (left)
        *left = timeout_ns == UINT64_MAX ? UINT64_MAX : spent >= timeout_ns ? 0 : timeout_ns - spent;
    if (rc < 0) {
        free(p);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (p[i].revents & POLLNVAL) {
            free(p);
            errno = EBADF;
            return -1;
        }
    if (r)
        FD_ZERO(r);
    if (w)
        FD_ZERO(w);
    if (e)
        FD_ZERO(e);
    int count = 0;
    for (int i = 0; i < n; i++) {
        short re = p[i].revents;
        if ((p[i].events & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)) && ++count)
            FD_SET(p[i].fd, r);
        if ((p[i].events & POLLOUT) && (re & (POLLOUT | POLLERR)) && ++count)
            FD_SET(p[i].fd, w);
        if ((p[i].events & POLLPRI) && (re & POLLPRI) && ++count)
            FD_SET(p[i].fd, e);
    }
    free(p);
    return count;
}

LM_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
    if (nfds < 0 || nfds > FD_SETSIZE || !sets_have_mtp(nfds, r, w, e))
        return lm_real.select(nfds, r, w, e, tv);
    if (tv && (tv->tv_sec < 0 || tv->tv_usec < 0)) {
        errno = EINVAL;
        return -1;
    }
    uint64_t t = tv ? (uint64_t)tv->tv_sec * 1000000000ull + (uint64_t)tv->tv_usec * 1000ull : UINT64_MAX;
    uint64_t left;
    int rc = select_poll(nfds, r, w, e, t, NULL, &left);
    if (tv && left != UINT64_MAX) {
        tv->tv_sec = (time_t)(left / 1000000000ull);
        tv->tv_usec = (suseconds_t)(left % 1000000000ull / 1000);
    }
    return rc;
}

LM_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e, const struct timespec *t,
                      const sigset_t *mask)
{
    if (nfds < 0 || nfds > FD_SETSIZE || !sets_have_mtp(nfds, r, w, e))
        return lm_real.pselect(nfds, r, w, e, t, mask);
    if (t && (t->tv_sec < 0 || t->tv_nsec < 0 || t->tv_nsec >= 1000000000)) {
        errno = EINVAL;
        return -1;
    }
    return select_poll(nfds, r, w, e, ts_ns(t), mask, NULL);
}
