/*
 * libmtp_handoff.c — a closing listener's queue goes to another process serving its port
 * (nginx's reload: the old workers close their listeners while new ones listen on). See
 * docs/MULTIPROC.md, "Reload".
 *
 * On the XDP target each process has its own stack and its own accept queue per port (the
 * kernel's SO_REUSEPORT model); a connection whose handshake ended in a process that then
 * closes its listener would be reset there. Instead, that process (the giver) offers each
 * connection waiting in its queue to another member of the port's group (a taker), over the
 * taker's unix socket "\0mtp-handoff-<pid>" (abstract: one name space per network namespace,
 * nothing to remove at exit), which the taker's helper thread serves:
 *
 *   giver -> taker   offer: the port, the program's name, the connections (remote ip, port)
 *   taker            pins each flow to itself (flow_claim: from now on their packets wait
 *                    in its ring) and keeps its stack locked until their images are in
 *   taker -> giver   which of them it pinned
 *   giver -> taker   an image per pinned connection (mtp_sock_export; length 0: none), and
 *                    forgets each without a word to the peer (mtp_sock_detach)
 *   taker            imports them into its listener's accept queue (mtp_sock_adopt)
 *
 * Before the first offer the giver's listener stops taking new connections (quiesce) and
 * those in their handshake get HANDSHAKE_WAIT_NS to join the queue; what nobody takes is
 * offered again as members come, for TAKER_WAIT_NS.
 *
 * The giver holds its own stack's lock throughout; a taker waits for its lock at most
 * LOCK_WAIT_NS, refuses every offer while it is giving a queue away itself (an old worker
 * closing its listeners), and every read is bounded, so two processes offering to each other
 * at once cannot wait on each other for long: each refuses, and what is not taken is reset
 * as before. Offers come only from the same user (or root): SO_PEERCRED.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "libmtp.h"
#include "mtp/stack.h"

#define HANDOFF_MAGIC 0x4d545048u      /* "MTPH" */
#define HANDOFF_MAX_CONNS 256           /* per offer; a longer queue is offered in parts */
#define HANDOFF_MAX_IMAGE (64u << 20)   /* an image's size bound (unread + unsent bytes) */
#define IO_TIMEOUT_MS 200               /* each read or write of a conversation */
#define LOCK_WAIT_NS 50000000ull        /* a taker waits this long for its own stack */
#define MAX_TAKERS 16
#define HANDSHAKE_WAIT_NS 100000000ull  /* a closing listener waits for handshakes under way */
#define HANDSHAKE_NAP_NS 200000         /* between two looks at them */
#define TAKER_WAIT_NS 1000000000ull     /* ... and for a member that takes its queue */
#define TAKER_NAP_NS 2000000            /* between two rounds of offers nobody took */

struct offer_head {
    uint32_t magic;
    uint16_t port;
    uint16_t n;
    char prog[32];
};

struct offer_conn {
    uint32_t remote_ip;
    uint16_t remote_port;
    uint16_t pad;
};

static int listen_fd = -1;
static bool giving; /* this process is giving a queue away (atomic): it takes none meanwhile */

/* ---------------------------------------------------------------- both sides */

static socklen_t handoff_addr(struct sockaddr_un *a, pid_t pid)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "mtp-handoff-%d", (int)pid);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void set_timeouts(int fd)
{
    struct timeval tv = {0, IO_TIMEOUT_MS * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static bool read_all(int fd, void *buf, size_t len)
{
    for (char *p = buf; len;) {
        ssize_t r = recv(fd, p, len, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        p += r;
        len -= (size_t)r;
    }
    return true;
}

static const char *prog_name(void) { return mtp_sock_proto_program(g_lm.cfg.proto)->name; }

int lm_handoff_open(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un a;
    socklen_t alen = handoff_addr(&a, getpid());
    if (bind(fd, (struct sockaddr *)&a, alen) < 0 || listen(fd, 8) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    listen_fd = fd;
    return fd;
}

void lm_handoff_forget(void)
{
    if (listen_fd >= 0)
        close(listen_fd);
    listen_fd = -1;
}

/* ---------------------------------------------------------------- the taker */

static struct mtp_sock *listener_on(uint16_t port)
{
    uint32_t cursor = 0;
    for (struct mtp_sock *sk = mtp_socks_next(g_lm.ss, NULL, &cursor); sk;
         sk = mtp_socks_next(g_lm.ss, sk, &cursor)) {
        uint16_t p;
        mtp_sock_local(sk, NULL, &p);
        if (mtp_sock_is_listener(sk) && p == port && mtp_sock_user(sk))
            return sk;
    }
    return NULL;
}

static bool peer_may_offer(int fd)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
        return false;
    return cr.uid == 0 || cr.uid == geteuid();
}

/* Pins each offered flow that this process can queue; which ones, in ok[]. */
static uint16_t pin_offered(struct mtp_sock *l, const struct offer_head *h,
                            const struct offer_conn *c, uint8_t *ok)
{
    uint16_t n_ok = 0;
    for (uint16_t i = 0; i < h->n; i++) {
        ok[i] = l && mtp_stack_flow_claim(g_lm.stack, h->port, c[i].remote_ip,
                                          c[i].remote_port) == 0;
        n_ok += ok[i];
    }
    return n_ok;
}

/* Whether an image is of the connection offered (the one pinned for it). */
static bool is_flow(const void *img, size_t len, uint16_t port, const struct offer_conn *c)
{
    uint16_t lport, rport;
    uint32_t rip;
    return mtp_sock_image_flow(img, len, &lport, &rip, &rport) == 0 && lport == port &&
           rip == c->remote_ip && rport == c->remote_port;
}

/* Reads the image of each pinned connection and queues it at l. How many were adopted. */
static uint32_t adopt_images(int fd, struct mtp_sock *l, const struct offer_head *h,
                             const struct offer_conn *c, const uint8_t *ok)
{
    uint32_t adopted = 0;
    bool talking = true;
    for (uint16_t i = 0; i < h->n; i++) {
        if (!ok[i])
            continue;
        uint32_t len = 0;
        void *img = NULL;
        talking = talking && read_all(fd, &len, sizeof len) && len <= HANDOFF_MAX_IMAGE;
        if (talking && len && (img = malloc(len)) && !read_all(fd, img, len))
            talking = false;
        int err = 0;
        if (talking && img && is_flow(img, len, h->port, &c[i]) &&
            mtp_sock_adopt(l, img, len, lm_now(), &err))
            adopted++;
        else /* its packets are ours now; without its state they draw a reset */
            mtp_stack_flow_release(g_lm.stack, h->port, c[i].remote_ip, c[i].remote_port);
        free(img);
    }
    return adopted;
}

static void serve_offer(int fd)
{
    struct offer_head h;
    static struct offer_conn conns[HANDOFF_MAX_CONNS];
    static uint8_t ok[HANDOFF_MAX_CONNS];
    set_timeouts(fd);
    if (!peer_may_offer(fd) || !read_all(fd, &h, sizeof h) || h.magic != HANDOFF_MAGIC ||
        h.n > HANDOFF_MAX_CONNS || !read_all(fd, conns, h.n * sizeof *conns))
        return;
    h.prog[sizeof h.prog - 1] = 0;
    bool mine = strcmp(h.prog, prog_name()) == 0 && !__atomic_load_n(&giving, __ATOMIC_RELAXED);
    if (!mine || !lm_lock_within(LOCK_WAIT_NS)) {
        uint16_t none = 0;
        lm_send_all(fd, &none, sizeof none);
        return;
    }
    struct mtp_sock *l = g_lm.ss ? listener_on(h.port) : NULL;
    uint16_t n_ok = pin_offered(l, &h, conns, ok);
    uint32_t adopted = 0;
    if (lm_send_all(fd, &n_ok, sizeof n_ok) && n_ok && lm_send_all(fd, ok, h.n))
        adopted = adopt_images(fd, l, &h, conns, ok);
    else
        for (uint16_t i = 0; i < h.n; i++)
            if (ok[i])
                mtp_stack_flow_release(g_lm.stack, h.port, conns[i].remote_ip,
                                       conns[i].remote_port);
    lm_kick_sleepers();
    pthread_mutex_unlock(&g_lm.lock);
    lm_send_all(fd, &adopted, sizeof adopted);
}

void lm_handoff_serve(void)
{
    for (;;) {
        int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return;
        serve_offer(c);
        close(c);
    }
}

/* ---------------------------------------------------------------- the giver */

static int connect_taker(uint32_t pid)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    set_timeouts(fd);
    struct sockaddr_un a;
    socklen_t alen = handoff_addr(&a, (pid_t)pid);
    if (connect(fd, (struct sockaddr *)&a, alen) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends the image of each connection the taker pinned; those sent are moved[i] (the giver
 * forgets them: their packets go to the taker now). */
static void send_images(int fd, struct mtp_sock **q, uint16_t n, const uint8_t *ok,
                        bool *moved)
{
    for (uint16_t i = 0; i < n; i++) {
        if (!ok[i])
            continue;
        void *img = NULL;
        size_t len = 0;
        if (mtp_sock_export(q[i], lm_now(), &img, &len) < 0 || len > HANDOFF_MAX_IMAGE)
            len = 0;
        uint32_t len32 = (uint32_t)len;
        moved[i] = lm_send_all(fd, &len32, sizeof len32) && len && lm_send_all(fd, img, len);
        free(img);
    }
}

/* Offers q[0..n) to the process `pid`; moved[i] says which it took. */
static void offer(uint32_t pid, uint16_t port, struct mtp_sock **q, uint16_t n, bool *moved)
{
    int fd = connect_taker(pid);
    if (fd < 0)
        return;
    struct offer_head h = {.magic = HANDOFF_MAGIC, .port = port, .n = n};
    snprintf(h.prog, sizeof h.prog, "%s", prog_name());
    struct offer_conn conns[HANDOFF_MAX_CONNS];
    for (uint16_t i = 0; i < n; i++) {
        mtp_sock_peer(q[i], &conns[i].remote_ip, &conns[i].remote_port);
        conns[i].pad = 0;
    }
    uint16_t n_ok = 0;
    uint8_t ok[HANDOFF_MAX_CONNS];
    if (lm_send_all(fd, &h, sizeof h) && lm_send_all(fd, conns, n * sizeof *conns) &&
        read_all(fd, &n_ok, sizeof n_ok) && n_ok && read_all(fd, ok, n)) {
        lm_progress_until_idle(); /* (what came before the pins: in the images) */
        send_images(fd, q, n, ok, moved);
    }
    uint32_t adopted;
    read_all(fd, &adopted, sizeof adopted); /* (waits until the taker has queued them) */
    close(fd);
}

/* Offers q[0..n) (n <= HANDOFF_MAX_CONNS) to the members in turn until all are taken; the
 * ones taken are detached here, the others move to the front of q. How many are left. */
static uint32_t give(struct mtp_sock **q, uint32_t n, uint16_t port, const uint32_t *pids,
                     int n_pids)
{
    static unsigned rotor; /* spreads successive gives over the members */
    bool moved[HANDOFF_MAX_CONNS] = {0};
    for (int k = 0; k < n_pids && n; k++) {
        offer(pids[(rotor + (unsigned)k) % (unsigned)n_pids], port, q, (uint16_t)n, moved);
        uint32_t left = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (moved[i])
                mtp_sock_detach(q[i]);
            else
                q[left++] = q[i];
            moved[i] = false;
        }
        n = left;
    }
    rotor++;
    return n;
}

static bool grow(struct mtp_sock ***a, uint32_t cap)
{
    struct mtp_sock **p = realloc(*a, cap * sizeof **a);
    if (p)
        *a = p;
    return p != NULL;
}

/* One round: the whole queue out, exportable connections offered, what is not taken back in
 * the queue in order. How many of those that could go were not taken. */
static uint32_t give_queue(struct mtp_sock *l, uint16_t port, const uint32_t *pids, int n_pids)
{
    uint32_t n = 0, cap = 0, n_keep = 0;
    struct mtp_sock **q = NULL, **keep = NULL, *sk;
    while ((sk = mtp_sock_take_queued(l, lm_now()))) {
        if (n + n_keep == cap) {
            uint32_t more = cap ? cap * 2 : 64;
            if (!grow(&q, more) || !grow(&keep, more)) {
                mtp_sock_requeue(l, sk, lm_now()); /* (the rest stays: reset at the close) */
                n_keep++;
                break;
            }
            cap = more;
        }
        if (mtp_sock_can_export(sk))
            q[n++] = sk;
        else
            keep[n_keep++] = sk;
    }
    uint32_t left = 0;
    for (uint32_t at = 0; at < n; at += HANDOFF_MAX_CONNS) {
        uint32_t part = n - at < HANDOFF_MAX_CONNS ? n - at : HANDOFF_MAX_CONNS;
        uint32_t not_taken = give(q + at, part, port, pids, n_pids);
        memmove(q + left, q + at, not_taken * sizeof *q);
        left += not_taken;
    }
    for (uint32_t i = 0; i < left; i++)
        mtp_sock_requeue(l, q[i], lm_now());
    for (uint32_t i = 0; keep && i < n_keep; i++)
        mtp_sock_requeue(l, keep[i], lm_now());
    free(q);
    free(keep);
    return left;
}

/* Waits a little for members (a nap; our stack keeps running) and asks who they are now. */
static int members_later(uint16_t port, uint32_t *pids)
{
    struct timespec t = {0, TAKER_NAP_NS};
    nanosleep(&t, NULL);
    lm_progress_until_idle();
    return mtp_stack_port_members(g_lm.stack, port, pids, MAX_TAKERS);
}

void lm_handoff_queue(struct mtp_sock *l)
{
    uint16_t port;
    mtp_sock_local(l, NULL, &port);
    if (!g_lm.stack || !mtp_stack_port_groups(g_lm.stack) || !mtp_sock_listener_busy(l))
        return;
    uint32_t pids[MAX_TAKERS];
    int n_pids = mtp_stack_port_members(g_lm.stack, port, pids, MAX_TAKERS);
    if (n_pids <= 0)
        return; /* (nobody else serves the port: reset at the close, as Linux) */
    /* no new connection here; those in their handshake get HANDSHAKE_WAIT_NS to join the
     * queue and go too (the peer's ACK can be late on a loaded machine: between two looks the
     * giver naps, not to keep a core from the peers). When nobody takes what waits, the
     * members that will are still to come (nginx's new workers join the group at their first
     * epoll_ctl, which under load can come after the old ones close): asked again until
     * TAKER_WAIT_NS */
    __atomic_store_n(&giving, true, __ATOMIC_RELAXED);
    uint64_t start = lm_now();
    for (;;) {
        mtp_sock_quiesce(l, lm_now()); /* (again each round: TCP's quiet unlisten has a grace
                                        * of 200 ms, after which its SYNs would be refused) */
        lm_progress_until_idle();
        uint32_t left = give_queue(l, port, pids, n_pids);
        uint64_t now = lm_now();
        if (!mtp_sock_listener_busy(l))
            break;
        if (left && now < start + TAKER_WAIT_NS) {
            n_pids = members_later(port, pids);
        } else if (!left && now < start + HANDSHAKE_WAIT_NS) {
            struct timespec t = {0, HANDSHAKE_NAP_NS};
            nanosleep(&t, NULL);
        } else {
            break;
        }
    }
    __atomic_store_n(&giving, false, __ATOMIC_RELAXED);
}
