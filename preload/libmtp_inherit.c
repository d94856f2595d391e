/*
 * libmtp_inherit.c — connections inherited across fork(): accept in the parent, serve in a
 * forked child (inetd, PostgreSQL's postmaster, sshd). See docs/MULTIPROC.md, "Inherited
 * connections".
 *
 * A connection lives in one stack, its owner's. At a fork of a process whose stack holds
 * connections, a socketpair is made before the fork: the parent keeps one end (a channel,
 * served by its helper thread), the child the other. Each connection the child inherits is
 * a share of the owner's connection, counted in the owner (share.refs) and named by an id:
 *
 *   - the child's first use of it (read, write, poll, epoll_ctl, ...) takes it over: it asks
 *     the owner on the channel ("T id": the share is reserved for it, or refused without
 *     anything moved), pins the flow to itself (the target's flow_claim: packets wait in its
 *     ring), says so ("C id"), and imports the image the owner sends back (the owner exports
 *     the connection and forgets it without a word to the peer), holding the local port
 *     without joining the port's group (mtp_sock_import_pinned);
 *   - the child's close of a share it never used sends "R id"; its exit (kill -9 too) closes
 *     the channel, which releases every share it held;
 *   - the owner's close() of its own fd keeps the connection while a child holds a share
 *     (no FIN): the FIN (or RST, with unread bytes, as Linux) goes when the last holder lets
 *     go, wherever that is.
 *
 * A take the owner cannot serve (the connection is gone, another child took it, the owner
 * died) leaves the child's fd a connection reset by its peer: reads fail with ECONNRESET once
 * and then read end of stream, writes fail; one line on stderr says why.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libmtp.h"

#define TAKE_TIMEOUT_MS 10000 /* an owner that does not answer (stopped): the take fails */

/* T: may I take it? (answered without an image: 0 reserves it for this child, which pins the
 * flow and says) C: pinned, send it (answered with the image). R: let go of it. */
enum { MSG_TAKE = 'T', MSG_CLAIMED = 'C', MSG_RELEASE = 'R' };

struct inh_msg {
    uint32_t op;
    uint32_t pad;
    uint64_t id;
};

struct inh_reply {
    int32_t status;  /* 0, or a negative errno: no image follows */
    uint32_t pad;
    uint64_t len;    /* bytes of image that follow */
};

/* The owner's side: one share per connection some child may still take. A child names it
 * by its address (an id the owner only compares with those in the child's channel). */
struct lm_share {
    struct mtp_sock *sk;   /* NULL once a child took it */
    struct lm_sock *s;     /* the owner's own fd object while open, else NULL */
    uint32_t refs;         /* channels (children) holding it */
    uint64_t fork_gen;     /* the fork that last counted it (an fd's dup is counted once) */
    int taker;             /* the channel (fd) of the child it is reserved for, or -1 */
    struct lm_share *prev, *next;
};

struct chan {
    int fd;
    struct lm_share **held; /* the shares this child holds */
    uint32_t n;
};

static struct lm_share *shares;
static struct chan *chans;
static uint32_t n_chans, cap_chans;
static uint64_t fork_gen;
static int pending[2] = {-1, -1}; /* the socketpair across the fork in progress */
static struct chan pending_chan = {.fd = -1};

/* The child's side. */
static int child_chan = -1;
static pid_t child_owner;

/* ---------------------------------------------------------------- owner */

static uint64_t share_id(const struct lm_share *sh) { return (uint64_t)(uintptr_t)sh; }

static void share_free(struct lm_share *sh)
{
    if (sh->s)
        sh->s->share = NULL;
    if (sh->prev)
        sh->prev->next = sh->next;
    else
        shares = sh->next;
    if (sh->next)
        sh->next->prev = sh->prev;
    free(sh);
}

/* A holder let go. With the last one, the connection is the owner's alone again, or, when
 * the owner closed its fd, it closes now (FIN, or RST with unread bytes, as Linux). */
static void share_unref(struct lm_share *sh)
{
    if (sh->refs && --sh->refs)
        return;
    if (!sh->s && sh->sk)
        mtp_sock_close(sh->sk, lm_now());
    share_free(sh);
}

/* Takes share `id` out of channel c's list: the share, or NULL if c does not hold it. */
static struct lm_share *chan_take(struct chan *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (share_id(c->held[i]) == id) {
            struct lm_share *sh = c->held[i];
            c->held[i] = c->held[--c->n];
            return sh;
        }
    return NULL;
}

static struct lm_share *chan_find(const struct chan *c, uint64_t id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (share_id(c->held[i]) == id)
            return c->held[i];
    return NULL;
}

static struct lm_share *share_of(struct lm_sock *s)
{
    if (s->share)
        return s->share;
    struct lm_share *sh = calloc(1, sizeof *sh);
    if (!sh)
        return NULL;
    sh->sk = s->sk;
    sh->s = s;
    sh->taker = -1;
    sh->next = shares;
    if (shares)
        shares->prev = sh;
    shares = sh;
    s->share = sh;
    return sh;
}

void lm_inherit_prepare(void)
{
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    fork_gen++;
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct lm_sock *s = lm_sock_of_raw((int)fd);
        if (!s || s->state != LM_CONN || !s->sk || !mtp_sock_can_export(s->sk) ||
            (s->share && s->share->fork_gen == fork_gen))
            continue; /* (a dup of a socket counted already; a connection that cannot move:
                         its copy in the child stays a kernel placeholder) */
        if (pending[0] < 0 &&
            socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pending) < 0) {
            pending[0] = pending[1] = -1;
            return; /* (the child's copies stay kernel placeholders, as before) */
        }
        struct lm_share **held = realloc(pending_chan.held, (pending_chan.n + 1) * sizeof *held);
        if (held)
            pending_chan.held = held;
        struct lm_share *sh = held ? share_of(s) : NULL;
        if (!sh)
            continue;
        if (s->absorb_queued)
            lm_absorb(); /* bytes taken out before the fork go with the child's copy */
        sh->fork_gen = fork_gen;
        sh->refs++;
        pending_chan.held[pending_chan.n++] = sh;
        s->inh_id = share_id(sh);
    }
}

static void chan_release_all(struct chan *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (c->held[i]->taker == c->fd)
            c->held[i]->taker = -1; /* reserved for it, never claimed: free to take again */
        share_unref(c->held[i]);
    }
    free(c->held);
    c->held = NULL;
    c->n = 0;
}

void lm_inherit_parent(void)
{
    if (pending[0] < 0)
        return;
    lm_real.close(pending[1]);
    struct chan c = pending_chan;
    c.fd = pending[0];
    pending[0] = pending[1] = -1;
    pending_chan = (struct chan){.fd = -1};
    if (g_lm.inh_epfd < 0)
        g_lm.inh_epfd = lm_real.epoll_create1(EPOLL_CLOEXEC);
    if (n_chans == cap_chans) {
        struct chan *a = realloc(chans, (cap_chans * 2 + 8) * sizeof *a);
        if (a) {
            chans = a;
            cap_chans = cap_chans * 2 + 8;
        }
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = c.fd};
    if (n_chans == cap_chans || g_lm.inh_epfd < 0 ||
        lm_real.epoll_ctl(g_lm.inh_epfd, EPOLL_CTL_ADD, c.fd, &ev) < 0) {
        lm_real.close(c.fd); /* the child finds its owner gone: its takes fail */
        chan_release_all(&c);
        return;
    }
    chans[n_chans++] = c;
}

/* bad_fd: the application closed our end itself (its number may be another file's now). */
static void chan_close(uint32_t i, bool bad_fd)
{
    struct chan c = chans[i];
    chans[i] = chans[--n_chans];
    if (!bad_fd) {
        lm_real.epoll_ctl(g_lm.inh_epfd, EPOLL_CTL_DEL, c.fd, NULL);
        lm_real.close(c.fd);
    }
    chan_release_all(&c);
}

/* A child asks whether it may take share `id`: reserved for it (it pins the flow next), or
 * refused (the share is done for it). */
static bool serve_take(struct chan *c, uint64_t id)
{
    struct lm_share *sh = chan_find(c, id);
    struct inh_reply r = {.status = -ECONNRESET};
    if (sh && sh->sk && mtp_sock_can_export(sh->sk) && sh->taker < 0) {
        sh->taker = c->fd;
        r.status = 0;
    } else if (sh) {
        chan_take(c, id);
        share_unref(sh);
    }
    return lm_send_all(c->fd, &r, sizeof r);
}

/* The child pinned the flow of the share reserved for it: the image, then the connection is
 * the child's. */
static bool serve_claimed(struct chan *c, uint64_t id)
{
    struct lm_share *sh = chan_take(c, id);
    struct inh_reply r = {.status = -ECONNRESET};
    void *img = NULL;
    size_t len = 0;
    if (sh && sh->taker == c->fd && sh->sk) {
        lm_progress_until_idle(); /* (segments that came before the pin) */
        if (mtp_sock_export(sh->sk, lm_now(), &img, &len) == 0) {
            r.status = 0;
            r.len = len;
        }
    }
    if (sh && sh->taker == c->fd)
        sh->taker = -1;
    bool ok = lm_send_all(c->fd, &r, sizeof r) && (!r.len || lm_send_all(c->fd, img, len));
    free(img);
    if (!sh)
        return ok;
    if (ok && r.status == 0) { /* the connection goes on in the child: forget it silently */
        mtp_sock_set_user(sh->sk, NULL);
        mtp_sock_detach(sh->sk);
        sh->sk = NULL;
        if (sh->s) { /* our fd stays open: a connection that ended here (EOF, EPIPE) */
            int err = 0;
            sh->s->sk = mtp_sock_new_reset(g_lm.ss, 0, &err);
            if (sh->s->sk)
                mtp_sock_set_user(sh->s->sk, sh->s);
            mtp_ev_wake(&sh->s->src);
        }
    }
    share_unref(sh);
    return ok;
}

/* 1: served, 0: the channel ended (the child exited, or broke the protocol), -1: its fd is
 * not ours any more. */
static int serve_one(uint32_t i)
{
    struct inh_msg m;
    ssize_t n = recv(chans[i].fd, &m, sizeof m, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    if (n < 0 && (errno == EBADF || errno == ENOTSOCK))
        return -1;
    if (n != (ssize_t)sizeof m)
        return 0;
    if (m.op == MSG_RELEASE) {
        struct lm_share *sh = chan_take(&chans[i], m.id);
        if (sh && sh->taker == chans[i].fd)
            sh->taker = -1;
        if (sh)
            share_unref(sh);
        return 1;
    }
    if (m.op == MSG_TAKE)
        return serve_take(&chans[i], m.id);
    return m.op == MSG_CLAIMED && serve_claimed(&chans[i], m.id);
}

void lm_inherit_serve(void)
{
    struct epoll_event ev[16];
    int n = g_lm.inh_epfd < 0 ? 0 : lm_real.epoll_pwait(g_lm.inh_epfd, ev, 16, 0, NULL);
    for (int k = 0; k < n; k++)
        for (uint32_t i = 0; i < n_chans; i++)
            if (chans[i].fd == ev[k].data.fd) {
                int rc = serve_one(i);
                if (rc <= 0)
                    chan_close(i, rc < 0);
                break;
            }
}

bool lm_inherit_owner_close(struct lm_sock *s)
{
    struct lm_share *sh = s->share;
    if (!sh)
        return false;
    sh->s = NULL;
    s->share = NULL;
    if (!sh->refs) { /* nobody else holds it: close as usual */
        share_free(sh);
        return false;
    }
    if (!sh->sk)
        return false; /* a child took it: close our reset copy (the share lives on while
                         other children name it: their takes fail) */
    mtp_sock_set_user(sh->sk, NULL); /* a child may still take it: no FIN yet */
    return true;
}

bool lm_inherit_pending(void)
{
    for (struct lm_share *sh = shares; sh; sh = sh->next)
        if (sh->sk && sh->refs)
            return true;
    return false;
}

/* ---------------------------------------------------------------- child */

void lm_inherit_child(void)
{
    /* the parent's owner side is not ours (its memory is a copy, left as it is) */
    for (uint32_t i = 0; i < n_chans; i++)
        lm_real.close(chans[i].fd);
    chans = NULL;
    n_chans = cap_chans = 0;
    shares = NULL;
    if (g_lm.inh_epfd >= 0)
        lm_real.close(g_lm.inh_epfd);
    g_lm.inh_epfd = -1;
    /* shares our parent inherited and never took are its own to take, not ours */
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct lm_sock *s = lm_sock_of_raw((int)fd);
        if (s && s->state == LM_INH)
            mtp_fdtab_clear(&g_lm.fds, (int)fd);
    }
    if (child_chan >= 0)
        lm_real.close(child_chan);
    child_chan = -1;
    pending_chan = (struct chan){.fd = -1}; /* (the parent's list) */
    if (pending[0] < 0)
        return;
    lm_real.close(pending[0]);
    child_chan = pending[1];
    child_owner = getppid();
    pending[0] = pending[1] = -1;
}

bool lm_inherit_child_keeps(struct lm_sock *s)
{
    if (child_chan < 0 || s->state != LM_CONN || !s->sk || !s->share ||
        s->share->fork_gen != fork_gen)
        return false;
    mtp_sock_local(s->sk, NULL, &s->inh_lport);
    mtp_sock_peer(s->sk, &s->inh_rip, &s->inh_rport);
    s->sk = NULL; /* the parent's */
    s->state = LM_INH;
    s->share = NULL; /* (the parent's) */
    s->absorb_queued = false;
    s->rp_next = NULL;
    s->src.watches = NULL; /* the sets watching it were the parent's */
    return true;
}

static void say_release(uint64_t id)
{
    struct inh_msg m = {.op = MSG_RELEASE, .id = id};
    if (child_chan >= 0)
        lm_send_all(child_chan, &m, sizeof m);
}

void lm_inherit_fd_closing(int fd)
{
    if (fd == child_chan && fd >= 0)
        child_chan = -1; /* the application closes every fd (a daemon): the owner sees EOF */
}

void lm_inherit_release(struct lm_sock *s)
{
    say_release(s->inh_id);
}

/* The channel broke or is out of step: closed (the owner releases every share of ours; our
 * later takes fail). */
static void channel_lost(void)
{
    if (child_chan >= 0)
        lm_real.close(child_chan);
    child_chan = -1;
}

static bool recv_all(int fd, void *buf, size_t len, uint64_t deadline)
{
    uint8_t *p = buf;
    while (len) {
        uint64_t now = lm_now();
        if (now >= deadline)
            return false;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int ms = (int)((deadline - now) / 1000000 + 1);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        if (lm_real.ppoll(&pf, 1, &ts, NULL) < 0 && errno != EINTR)
            return false;
        ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            return false;
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    return true;
}

/* One request on the channel and its answer (and the image that follows it, malloc'd, when
 * want_img): 0, or -1 with *why set. */
static int ask_owner(uint32_t op, uint64_t id, void **img, size_t *len, const char **why)
{
    struct inh_msg m = {.op = op, .id = id};
    struct inh_reply r;
    uint64_t deadline = lm_now() + TAKE_TIMEOUT_MS * 1000000ull;
    *why = "the owner exited, or did not answer";
    if (child_chan < 0)
        return -1;
    if (!lm_send_all(child_chan, &m, sizeof m) || !recv_all(child_chan, &r, sizeof r, deadline)) {
        channel_lost(); /* (an answer still on its way would be read as the next one's) */
        return -1;
    }
    *why = "it ended there, or another process took it";
    if (r.status < 0 || (img && (!r.len || r.len > (1ull << 34))))
        return -1;
    if (!img)
        return 0;
    *img = malloc(r.len);
    *why = "the owner did not send it";
    if (*img && recv_all(child_chan, *img, r.len, deadline)) {
        *len = r.len;
        return 0;
    }
    free(*img);
    *img = NULL;
    channel_lost();
    return -1;
}

/* Locked. The child's first use of an inherited connection: take it from the owner. It is
 * an MTP connection of this process afterwards (LM_CONN), taken over or reset; it stays
 * LM_INH (its kernel placeholder answering) only if this process's stack cannot start. */
void lm_inherit_take(struct lm_sock *s)
{
    if (s->state != LM_INH || lm_stack_up() < 0)
        return;
    int err = 0;
    size_t len = 0;
    void *img = NULL;
    const char *why;
    /* reserved first, so that a refused take never moves the flow's packets */
    bool pinned = false;
    if (ask_owner(MSG_TAKE, s->inh_id, NULL, NULL, &why) == 0) {
        err = mtp_stack_flow_claim(g_lm.stack, s->inh_lport, s->inh_rip, s->inh_rport);
        pinned = err >= 0;
        why = "its flow could not be steered here";
        if (pinned)
            ask_owner(MSG_CLAIMED, s->inh_id, &img, &len, &why);
        else
            say_release(s->inh_id); /* (the reservation goes with it) */
    }
    uint16_t lport = 0, rport = 0;
    uint32_t rip = 0;
    if (img && (mtp_sock_image_flow(img, len, &lport, &rip, &rport) < 0 ||
                lport != s->inh_lport || rip != s->inh_rip || rport != s->inh_rport)) {
        free(img); /* not the connection this fd is (never expected) */
        img = NULL;
        why = "the owner sent another connection";
    }
    struct mtp_sock *sk = img ? mtp_sock_import_pinned(g_lm.ss, img, len, lm_now(), &err) : NULL;
    if (!sk && img)
        why = "this stack refused its image";
    free(img);
    if (!sk) {
        if (pinned)
            mtp_stack_flow_release(g_lm.stack, s->inh_lport, s->inh_rip, s->inh_rport);
        fprintf(stderr, "libmtp: the connection to port %u from %u.%u.%u.%u:%u inherited "
                        "from process %d could not be taken over (%s): it reads as reset\n",
                s->inh_lport, s->inh_rip >> 24, s->inh_rip >> 16 & 255, s->inh_rip >> 8 & 255,
                s->inh_rip & 255, s->inh_rport, (int)child_owner, why);
        sk = mtp_sock_new_reset(g_lm.ss, -ECONNRESET, &err);
        if (!sk)
            return;
    }
    s->sk = sk;
    s->state = LM_CONN;
    mtp_sock_set_user(sk, s);
    mtp_ev_wake(&s->src);
}
