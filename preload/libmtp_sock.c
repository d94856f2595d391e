/*
 * libmtp_sock.c — the socket calls of libmtp.so. See libmtp.h for the model.
 *
 * Which sockets are MTP's: socket(AF_INET or AF_INET6, SOCK_STREAM, 0 or IPPROTO_TCP) makes a
 * kernel socket we remember (LM_NEW). It becomes
 *   - an MTP listener at listen() when bound to 0.0.0.0, ::, the MTP address or nothing: the
 *     stack listens on the port and so does the kernel socket (connections from other
 *     interfaces and from this host), accept() takes from both;
 *   - an MTP connection at connect() to an address of the MTP interface's subnet (an AF_INET6
 *     socket: its IPv4-mapped form);
 *   - a plain kernel socket otherwise (we forget it: every later call goes to libc).
 * Calls on an LM_NEW or LM_LISTEN socket that the kernel answers right (recv on a listener:
 * ENOTCONN) go to its kernel socket.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <linux/sockios.h>
#include <unistd.h>

#include "libmtp.h"
#include "shim_homa.h"

#define GATHER_MAX (64u * 1024) /* writev/sendmsg: up to this much is sent as one write */

static __thread uint8_t gather_buf[GATHER_MAX];

static int fail(int neg_errno)
{
    errno = -neg_errno;
    return -1;
}

struct lm_sock *lm_sock_of_raw(int fd)
{
    struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, fd);
    return o && o->kind == LM_SOCK ? (struct lm_sock *)o : NULL;
}

struct lm_sock *lm_sock_of(int fd)
{
    struct lm_sock *s = lm_sock_of_raw(fd);
    if (s && s->state == LM_INH)
        lm_inherit_take(s); /* a call on a connection inherited across fork: ours now */
    return s;
}

/* ---------------------------------------------------------------- readiness */

uint32_t lm_sock_events(struct lm_sock *s)
{
    if (!s->sk)
        return 0;
    unsigned f = mtp_sock_poll(s->sk);
    uint32_t ev = 0;
    if (f & MTP_SOCK_READABLE)
        ev |= EPOLLIN | EPOLLRDNORM;
    if (s->peek_len)
        ev |= EPOLLIN | EPOLLRDNORM;
    if (f & MTP_SOCK_WRITABLE)
        ev |= EPOLLOUT | EPOLLWRNORM;
    /* As tcp_poll: the receiving side shut (peer's FIN, SHUT_RD, reset) reads as readable,
     * the sending side shut as writable (the write then fails), both as a hang-up. */
    if ((f & (MTP_SOCK_RDHUP | MTP_SOCK_HUP)) || s->rd_shut)
        ev |= EPOLLRDHUP | EPOLLIN | EPOLLRDNORM;
    if ((f & MTP_SOCK_HUP) || s->wr_shut)
        ev |= EPOLLOUT | EPOLLWRNORM;
    if (f & MTP_SOCK_HUP)
        ev |= EPOLLHUP;
    if (f & MTP_SOCK_ERROR)
        ev |= EPOLLERR;
    if (s->connecting && !(f & (MTP_SOCK_ERROR | MTP_SOCK_HUP)) && !mtp_sock_connected(s->sk))
        ev = 0; /* still connecting: nothing yet */
    return ev;
}

static void absorb_later(struct lm_sock *s)
{
    if (s->absorb_queued)
        return;
    if (g_lm.n_absorb == g_lm.cap_absorb) {
        uint32_t cap = g_lm.cap_absorb ? g_lm.cap_absorb * 2 : 64;
        struct lm_sock **a = realloc(g_lm.absorb, cap * sizeof *a);
        if (!a)
            return;
        g_lm.absorb = a;
        g_lm.cap_absorb = cap;
    }
    g_lm.absorb[g_lm.n_absorb++] = s;
    s->absorb_queued = true;
}

void lm_sock_wake(void *user, struct mtp_sock *sk)
{
    (void)user;
    struct lm_sock *s = mtp_sock_user(sk);
    g_lm.kick = true;
    if (!s)
        return;
    if (s->state == LM_CONN && !s->share && (mtp_sock_poll(sk) & (MTP_SOCK_RDHUP | MTP_SOCK_HUP)))
        absorb_later(s);
    for (; s; s = s->rp_next)
        mtp_ev_wake(&s->src);
}

void lm_absorb(void)
{
    while (g_lm.n_absorb) {
        struct lm_sock *s = g_lm.absorb[--g_lm.n_absorb];
        s->absorb_queued = false;
        for (;;) {
            struct mtp_sock_info in; /* only bytes: a pending error stays for the application */
            if (mtp_sock_info(s->sk, &in) < 0 || in.rx_queued == 0)
                break;
            /* what is queued, not more: a 64 KiB buffer for each HTTP response read after
             * the server's FIN was a malloc and a free (and glibc's heap trims) each */
            size_t want = s->peek_len + in.rx_queued;
            uint8_t *p = realloc(s->peek, want);
            if (!p)
                break;
            s->peek = p;
            ssize_t n = mtp_sock_recv(s->sk, p + s->peek_len, want - s->peek_len, lm_now());
            if (n <= 0)
                break;
            s->peek_len += (size_t)n;
        }
    }
}

/* ---------------------------------------------------------------- objects */

static struct lm_sock *sock_new(int kfd, int domain)
{
    struct lm_sock *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->obj.kind = LM_SOCK;
    s->kfd = kfd;
    s->domain = domain;
    s->state = LM_NEW;
    return s;
}

/* The kernel socket's file status flags as this process last set them, so F_GETFL (wrk
 * calls it for each connection, connect() read it too) needs no system call; -1 when not
 * known (an fd inherited, a fork since, an ioctl that changes them). */
static int sock_fl(const struct lm_sock *s)
{
    return s->kfl_known && s->kfl_gen == g_lm.fork_gen ? s->kfl : -1;
}

static void sock_fl_set(struct lm_sock *s, int fl)
{
    s->kfl = fl;
    s->kfl_known = fl >= 0;
    s->kfl_gen = g_lm.fork_gen;
}

/* The flags: known, else read from the kernel socket (and known from then on); -1: error. */
static int sock_fl_get(struct lm_sock *s)
{
    int fl = sock_fl(s);
    if (fl < 0 && (fl = lm_real.fcntl(s->kfd, F_GETFL)) >= 0)
        sock_fl_set(s, fl);
    return fl;
}

static void sock_free(struct lm_sock *s)
{
    for (uint32_t i = 0; s->absorb_queued && i < g_lm.n_absorb; i++)
        if (g_lm.absorb[i] == s)
            g_lm.absorb[i] = g_lm.absorb[--g_lm.n_absorb];
    mtp_ev_src_drop(&s->src);
    struct lm_kwatch *k = s->kwatches;
    while (k) {
        struct lm_kwatch *n = k->next;
        free(k);
        k = n;
    }
    free(s->peek);
    free(s);
}

/* The socket stays the kernel's: forget it under every fd that points at it. */
static void sock_forget(struct lm_sock *s)
{
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap && s->obj.refs; fd++)
        if (mtp_fdtab_get(&g_lm.fds, (int)fd) == &s->obj)
            mtp_fdtab_clear(&g_lm.fds, (int)fd);
    sock_free(s);
}

/* Another fd still pointing at s (its first one was closed), or -1. */
static int other_fd(struct lm_sock *s)
{
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++)
        if (mtp_fdtab_get(&g_lm.fds, (int)fd) == &s->obj)
            return (int)fd;
    return -1;
}

static uint16_t bound_port(int kfd);
static int kopt(int fd, int level, int name);

/* s leaves the group of SO_REUSEPORT listeners sharing its MTP listener: true if others
 * still use it. */
static bool leave_share(struct lm_sock *s)
{
    struct lm_sock *owner = mtp_sock_user(s->sk);
    if (owner == s) {
        if (!s->rp_next)
            return false;
        mtp_sock_set_user(s->sk, s->rp_next);
        s->rp_next = NULL;
        return true;
    }
    for (struct lm_sock *x = owner; x; x = x->rp_next)
        if (x->rp_next == s) {
            x->rp_next = s->rp_next;
            s->rp_next = NULL;
            return true;
        }
    return false;
}

/* An MTP listener of this process on `port` whose socket says SO_REUSEPORT, or NULL. */
static struct lm_sock *reuseport_listener(uint16_t port, int domain)
{
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct lm_sock *x = lm_sock_of_raw((int)fd);
        if (x && x->state == LM_LISTEN && x->sk && x->domain == domain &&
            bound_port(x->kfd) == port && kopt(x->kfd, SOL_SOCKET, SO_REUSEPORT))
            return mtp_sock_user(x->sk);
    }
    return NULL;
}

/* A listener that leaves its port group while its kernel half listens on (a forked parent's:
 * lm_listeners_leave) marks the port dormant at the target: while no process's stack serves
 * the port, each new connection, which the kernel half takes, stays pinned to the kernel, so
 * that a stack joining later does not get its segments and reset it. */
static void dormant_mark(struct lm_sock *s, uint16_t port)
{
    s->dormant_marked = mtp_stack_port_dormant(g_lm.stack, port, 1) == 0;
}

/* s joins or closes: another dormant listener of ours on the port takes the mark over, or the
 * mark goes. */
static void dormant_unmark(struct lm_sock *s)
{
    if (!s->dormant_marked)
        return;
    s->dormant_marked = false;
    uint16_t port = bound_port(s->kfd);
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct lm_sock *x = lm_sock_of_raw((int)fd);
        if (x && x != s && x->state == LM_LISTEN && x->dormant && bound_port(x->kfd) == port) {
            x->dormant_marked = true;
            return;
        }
    }
    if (g_lm.stack)
        mtp_stack_port_dormant(g_lm.stack, port, 0);
}

void lm_obj_release(struct mtp_fdobj *o)
{
    if (o->kind == LM_EPOLL) {
        lm_epoll_release((struct lm_epoll *)o);
        return;
    }
    struct lm_sock *s = (struct lm_sock *)o;
    dormant_unmark(s);
    if (s->sk && s->state == LM_LISTEN && leave_share(s))
        s->sk = NULL; /* another SO_REUSEPORT listener keeps the MTP listener */
    if (s->state == LM_INH)
        lm_inherit_release(s); /* a share never used: the parent's again */
    if (s->sk && s->state == LM_CONN && lm_inherit_owner_close(s))
        s->sk = NULL; /* a child holds a share: the last close anywhere ends it */
    if (s->sk) {
        mtp_sock_set_user(s->sk, NULL);
        if (s->state == LM_LISTEN)
            lm_handoff_queue(s->sk); /* (else its queue would be reset) */
        if (s->linger_zero && s->state == LM_CONN)
            mtp_sock_abort(s->sk, lm_now());
        else
            mtp_sock_close(s->sk, lm_now());
    }
    sock_free(s);
}

/* ---------------------------------------------------------------- fork: port groups */

/* The first member of an empty port group: the target's placeholder socket for the port
 * binds it with SO_REUSEADDR, which the kernel refuses while a socket listens there, and our
 * own kernel half (the inherited application socket) listens. It stops listening for the
 * moment of the claim (connect(AF_UNSPEC) keeps its bind; a connection from another interface
 * waiting in its queue then is reset) and listens again. */
static struct mtp_sock *listen_unlistened(struct lm_sock *s, uint16_t port)
{
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    if (lm_real.connect(s->kfd, &unspec, sizeof unspec) < 0)
        return NULL;
    int err = 0;
    struct mtp_sock *sk = mtp_sock_listen(g_lm.ss, port, s->backlog, lm_now(), &err);
    if (lm_real.listen(s->kfd, s->backlog) < 0 && sk) {
        mtp_sock_close(sk, lm_now());
        return NULL;
    }
    return sk;
}

void lm_listener_join(struct lm_sock *s)
{
    if (!s->dormant || lm_now() < s->join_after_ns)
        return;
    s->join_after_ns = lm_now() + 1000000000ull; /* a failed join is tried again in 1 s */
    if (lm_stack_up() < 0)
        return; /* (the stack could not start: the kernel half goes on serving) */
    uint16_t port = bound_port(s->kfd);
    int err = 0;
    struct mtp_sock *sk = mtp_sock_listen(g_lm.ss, port, s->backlog, lm_now(), &err);
    struct lm_sock *owner = NULL;
    if (!sk && err == -EADDRINUSE && (owner = reuseport_listener(port, s->domain)))
        sk = owner->sk; /* another fd of this process listens there already */
    if (!sk && err == -EADDRINUSE)
        sk = listen_unlistened(s, port);
    if (!sk)
        return;
    s->sk = sk;
    dormant_unmark(s);
    s->dormant = false;
    s->join_after_ns = 0;
    if (owner) {
        s->rp_next = owner->rp_next;
        owner->rp_next = s;
    } else {
        mtp_sock_set_user(sk, s);
    }
    mtp_ev_wake(&s->src);
}

/* Whether a connection of this process's stack uses local port `port`. */
static bool port_has_connections(uint16_t port)
{
    uint32_t cursor = 0;
    for (struct mtp_sock *sk = mtp_socks_next(g_lm.ss, NULL, &cursor); sk;
         sk = mtp_socks_next(g_lm.ss, sk, &cursor)) {
        uint32_t ip;
        uint16_t p;
        mtp_sock_local(sk, &ip, &p);
        if (!mtp_sock_is_listener(sk) && p == port)
            return true;
    }
    return false;
}

/* Whether one of the SO_REUSEPORT sharers of s's MTP listener is in an epoll set. */
static bool watched(struct lm_sock *s)
{
    for (; s; s = s->rp_next)
        if (s->src.watches)
            return true;
    return false;
}

/* After fork, in the parent: a listener that no epoll set of ours watches and no connection
 * of ours uses leaves its port group, so that the children that accept on it get its
 * connections and a parent that never accepts (nginx's master) gets none; it joins again
 * when this process accepts, polls or adds it to an epoll set. A listener in an epoll set
 * stays (the process serves it from there: redis forking its BGSAVE child), and so does one
 * whose port carries our connections (a process with connections there is serving it; its
 * listener's close would retire the port, pinning each of them, a bpf call apiece) or
 * whose connections are in their handshake or wait to be accepted (this process is serving
 * it; leaving would close the MTP listener and reset them). */
void lm_listeners_leave(void)
{
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct lm_sock *s = lm_sock_of_raw((int)fd);
        if (!s || s->state != LM_LISTEN || !s->sk || mtp_sock_user(s->sk) != s || watched(s))
            continue;
        uint32_t ip;
        uint16_t port;
        mtp_sock_local(s->sk, &ip, &port);
        if (port_has_connections(port) || mtp_sock_listener_busy(s->sk))
            continue;
        struct mtp_sock *sk = s->sk;
        dormant_mark(s, port); /* before the port has no member */
        for (struct lm_sock *x = s, *next; x; x = next) { /* every SO_REUSEPORT sharer */
            next = x->rp_next;
            x->sk = NULL;
            x->rp_next = NULL;
            x->dormant = true;
        }
        mtp_sock_set_user(sk, NULL);
        mtp_sock_close(sk, lm_now());
    }
}

/* In a child of a process whose stack has started, when the target lets several processes
 * share the interface: the parent's stack is not ours. Inherited listeners start dormant
 * (joining our own stack's port group on first use); inherited connections stay the
 * parent's (their fds are kernel placeholders here); inherited epoll sets become plain
 * kernel epoll fds (their kernel halves stay registered). */
void lm_fork_child_sockets(void)
{
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, (int)fd);
        if (!o)
            continue;
        struct lm_sock *s = o->kind == LM_SOCK ? (struct lm_sock *)o : NULL;
        if (s && s->state == LM_LISTEN) {
            s->sk = NULL;
            s->rp_next = NULL;
            s->dormant = true;
            s->dormant_marked = false; /* the parent's mark, for the parent's member */
            s->absorb_queued = false;
            s->src.watches = NULL; /* the sets watching it were the parent's */
        } else if (s && s->state == LM_NEW) {
            s->src.watches = NULL;
        } else if (s && lm_inherit_child_keeps(s)) {
            continue; /* taken over from the parent on first use */
        } else {
            mtp_fdtab_clear(&g_lm.fds, (int)fd); /* the copy is forgotten, never released */
        }
    }
}

void lm_sock_note_kernel_watch(struct lm_sock *s, int epfd, int fd, int op,
                               const struct epoll_event *ev)
{
    struct lm_kwatch **pp = &s->kwatches;
    while (*pp && ((*pp)->epfd != epfd || (*pp)->fd != fd))
        pp = &(*pp)->next;
    if (op == EPOLL_CTL_DEL) {
        struct lm_kwatch *k = *pp;
        if (k) {
            *pp = k->next;
            free(k);
        }
        return;
    }
    struct lm_kwatch *k = *pp ? *pp : calloc(1, sizeof *k);
    if (!k)
        return;
    k->ev = *ev;
    if (*pp)
        return;
    k->epfd = epfd;
    k->fd = fd;
    k->next = s->kwatches;
    s->kwatches = k;
}

/* s became MTP's: its kernel epoll registrations move to the user-space sets. */
static void adopt_watches(struct lm_sock *s, bool keep_kernel)
{
    while (s->kwatches) {
        struct lm_kwatch *k = s->kwatches;
        s->kwatches = k->next;
        lm_epoll_adopt(k, s, keep_kernel);
        free(k);
    }
}

/* ---------------------------------------------------------------- addresses */

/* An IPv4 address from a sockaddr_in or an IPv4-mapped sockaddr_in6; false otherwise. */
static bool addr_v4(const struct sockaddr *a, socklen_t len, uint32_t *ip, uint16_t *port,
                    bool *any6)
{
    *any6 = false;
    if (!a)
        return false;
    if (a->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const void *)a;
        *ip = ntohl(in->sin_addr.s_addr);
        *port = ntohs(in->sin_port);
        return true;
    }
    if (a->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const void *)a;
        *port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
            *ip = 0;
            *any6 = true;
            return true;
        }
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            memcpy(ip, &in6->sin6_addr.s6_addr[12], 4);
            *ip = ntohl(*ip);
            return true;
        }
    }
    return false;
}

/* Writes ip:port as the socket's family sees it (AF_INET6: IPv4-mapped), truncating like
 * the kernel and setting *len to the full size. */
static void addr_out(int domain, uint32_t ip, uint16_t port, struct sockaddr *a, socklen_t *len)
{
    if (!a || !len)
        return;
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
    memset(&u, 0, sizeof u);
    socklen_t n;
    if (domain == AF_INET6) {
        u.in6.sin6_family = AF_INET6;
        u.in6.sin6_port = htons(port);
        u.in6.sin6_addr.s6_addr[10] = 0xff;
        u.in6.sin6_addr.s6_addr[11] = 0xff;
        uint32_t be = htonl(ip);
        memcpy(&u.in6.sin6_addr.s6_addr[12], &be, 4);
        n = sizeof u.in6;
    } else {
        u.in.sin_family = AF_INET;
        u.in.sin_port = htons(port);
        u.in.sin_addr.s_addr = htonl(ip);
        n = sizeof u.in;
    }
    memcpy(a, &u, *len < n ? *len : n);
    *len = n;
}

static bool v6only(struct lm_sock *s)
{
    if (s->domain != AF_INET6)
        return false;
    int v = 0;
    socklen_t l = sizeof v;
    return lm_real.getsockopt(s->kfd, IPPROTO_IPV6, IPV6_V6ONLY, &v, &l) == 0 && v;
}

static int kopt(int fd, int level, int name)
{
    int v = 0;
    socklen_t l = sizeof v;
    return lm_real.getsockopt(fd, level, name, &v, &l) == 0 ? v : 0;
}

/* Options the application set on the kernel socket before it became MTP's. */
/* TCP_KEEPIDLE/INTVL/CNT: the kernel socket keeps (and checks) the values; the stack gets
 * those the application set, else its own params (MTP_PARAM_KA_*) stay in force. */
static const struct {
    int name;
    enum mtp_sock_opt opt;
} ka_knobs[] = {{TCP_KEEPIDLE, MTP_SOCKOPT_KEEPIDLE}, {TCP_KEEPINTVL, MTP_SOCKOPT_KEEPINTVL},
                {TCP_KEEPCNT, MTP_SOCKOPT_KEEPCNT}};

static int ka_knob_bit(int name)
{
    for (int i = 0; i < 3; i++)
        if (ka_knobs[i].name == name)
            return 1 << i;
    return 0;
}

static void apply_option_values(struct lm_sock *s, int nodelay, int keepalive, const int ka[3])
{
    uint64_t now = lm_now();
    for (int i = 0; i < 3; i++)
        if (s->ka_knobs & (1 << i))
            mtp_sock_setopt(s->sk, ka_knobs[i].opt, ka[i], now);
    if (nodelay)
        mtp_sock_setopt(s->sk, MTP_SOCKOPT_NODELAY, 1, now);
    if (keepalive)
        mtp_sock_setopt(s->sk, MTP_SOCKOPT_KEEPALIVE, 1, now);
}

static void apply_options(struct lm_sock *s)
{
    if (s->pristine)
        return; /* nothing set on the kernel socket: the stack's defaults stand */
    int ka[3];
    for (int i = 0; i < 3; i++)
        ka[i] = s->ka_knobs & (1 << i) ? kopt(s->kfd, IPPROTO_TCP, ka_knobs[i].name) : 0;
    apply_option_values(s, kopt(s->kfd, IPPROTO_TCP, TCP_NODELAY),
                        kopt(s->kfd, SOL_SOCKET, SO_KEEPALIVE), ka);
}

/* A blocked socket call was interrupted by a signal: Linux restarts it when the handler has
 * SA_RESTART and the socket has no timeout (every handler that ran, libmtp_signal.c). */
static bool restart_after_signal(uint64_t timeo_ns)
{
    return !timeo_ns && !lm_sig_interrupts;
}

/* ---------------------------------------------------------------- socket, bind, listen */

/* socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA) when the stack runs Homa: a native Homa
 * socket (shim_homa.h) whose placeholder is a TCP socket (the kernel has no Homa; the port
 * it binds is the one the stack uses, as for streams). */
static bool homa_native_wanted(int domain, int type, int protocol)
{
    return domain == AF_INET && (type & 0xf) == SOCK_DGRAM && protocol == IPPROTO_HOMA &&
           g_lm.configured && !lm_inside && !strcmp(mtp_sock_proto_name(g_lm.cfg.proto), "homa");
}

LM_EXPORT int socket(int domain, int type, int protocol)
{
    bool homa = homa_native_wanted(domain, type, protocol);
    if (homa)
        type = SOCK_STREAM | (type & (SOCK_NONBLOCK | SOCK_CLOEXEC)), protocol = 0;
    int fd = lm_real.socket(domain, type, protocol);
    if (fd < 0 || lm_inside || !g_lm.configured)
        return fd;
    bool ours = homa || ((domain == AF_INET || domain == AF_INET6) &&
                (type & 0xf) == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP) &&
                !(g_lm.start_failed && g_lm.cfg.fallback_kernel));
    lm_lock();
    struct mtp_fdobj *stale = mtp_fdtab_clear(&g_lm.fds, fd); /* closed behind our back */
    if (stale)
        lm_obj_release(stale);
    struct lm_sock *s = ours ? sock_new(fd, domain) : NULL;
    if (s) {
        s->nonblock = (type & SOCK_NONBLOCK) != 0;
        sock_fl_set(s, O_RDWR | (s->nonblock ? O_NONBLOCK : 0)); /* a new socket's */
        s->homa = homa;
        s->pristine = true;
        struct mtp_fdobj *dropped;
        if (mtp_fdtab_set(&g_lm.fds, fd, &s->obj, &dropped) < 0)
            sock_free(s);
    }
    lm_unlock();
    return fd;
}

LM_EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!lm_obj(fd))
        return lm_real.bind(fd, addr, len);
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    if (s)
        s->pristine = false;
    if (s && s->state == LM_NEW && !s->homa) {
        uint32_t ip;
        uint16_t port;
        bool any6;
        bool mtp = addr_v4(addr, len, &ip, &port, &any6) && lm_ip_is_local(ip) &&
                   !(any6 && v6only(s)) && !(s->domain == AF_INET6 && !any6 && v6only(s));
        if (!mtp)
            sock_forget(s);
    }
    lm_unlock();
    return lm_real.bind(fd, addr, len);
}

/* The port the kernel socket is bound to (0: not bound). */
static uint16_t bound_port(int kfd)
{
    struct sockaddr_in6 a;
    socklen_t l = sizeof a;
    if (lm_real.getsockname(kfd, (struct sockaddr *)&a, &l) < 0)
        return 0;
    return ntohs(a.sin6_port); /* same offset in sockaddr_in */
}

static int sock_listen(struct lm_sock *s, int backlog)
{
    if (v6only(s) || lm_stack_up() < 0) {
        if (g_lm.start_failed && !g_lm.cfg.fallback_kernel)
            return g_lm.start_err;
        sock_forget(s);
        return lm_real.listen(s->kfd, backlog) < 0 ? -errno : 0;
    }
    uint16_t port = bound_port(s->kfd);
    if (!port) { /* listen() binds an unbound socket to an ephemeral port */
        struct sockaddr_in6 any = {.sin6_family = (sa_family_t)s->domain};
        socklen_t l = s->domain == AF_INET6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in);
        if (lm_real.bind(s->kfd, (struct sockaddr *)&any, l) < 0)
            return -errno;
        port = bound_port(s->kfd);
    }
    /* The stack's own placeholder for the port (the target's) binds it too: both sockets
     * say SO_REUSEADDR, which the kernel allows while neither listens yet. */
    s->app_reuseaddr = kopt(s->kfd, SOL_SOCKET, SO_REUSEADDR);
    int one = 1;
    lm_real.setsockopt(s->kfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int err = 0;
    struct mtp_sock *sk = mtp_sock_listen(g_lm.ss, port, backlog, lm_now(), &err);
    struct lm_sock *owner = NULL;
    if (!sk && err == -EADDRINUSE && kopt(s->kfd, SOL_SOCKET, SO_REUSEPORT) &&
        (owner = reuseport_listener(port, s->domain)))
        sk = owner->sk; /* SO_REUSEPORT in one process: both accept from one MTP queue */
    if (!sk)
        return err;
    if (lm_real.listen(s->kfd, backlog) < 0) {
        err = -errno;
        if (!owner)
            mtp_sock_close(sk, lm_now());
        return err;
    }
    int fl = sock_fl_get(s);
    s->nonblock = (fl & O_NONBLOCK) != 0;
    if (lm_real.fcntl(s->kfd, F_SETFL, fl | O_NONBLOCK) == 0) /* accept() tries it without blocking */
        sock_fl_set(s, fl | O_NONBLOCK);
    else
        sock_fl_set(s, -1);
    s->sk = sk;
    s->state = LM_LISTEN;
    s->backlog = backlog;
    if (owner) {
        s->rp_next = owner->rp_next;
        owner->rp_next = s;
    } else {
        mtp_sock_set_user(sk, s);
    }
    adopt_watches(s, true);
    return 0;
}

LM_EXPORT int listen(int fd, int backlog)
{
    if (!lm_obj(fd))
        return lm_real.listen(fd, backlog);
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    int rc;
    if (!s || s->state != LM_NEW) {
        lm_unlock();
        return lm_real.listen(fd, backlog); /* again on a listener: the kernel's backlog */
    }
    rc = sock_listen(s, backlog);
    lm_unlock();
    return rc < 0 ? fail(rc) : 0;
}

/* ---------------------------------------------------------------- accept */

/* Options a connection inherits from its listener (the order apply_option_values reads). */
static const int inherit_opts[7][2] = {{IPPROTO_TCP, TCP_NODELAY}, {SOL_SOCKET, SO_KEEPALIVE},
                                       {IPPROTO_TCP, TCP_KEEPIDLE}, {IPPROTO_TCP, TCP_KEEPINTVL},
                                       {IPPROTO_TCP, TCP_KEEPCNT}, {SOL_SOCKET, SO_SNDBUF},
                                       {SOL_SOCKET, SO_RCVBUF}};

/* What a fresh kernel socket reports for each, read once: an accepted connection's
 * placeholder needs only the options its listener changed. */
static const int *inherit_defaults(int domain)
{
    static int def[7];
    static bool have;
    if (!have) {
        int fd = lm_real.socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return NULL;
        for (int i = 0; i < 7; i++)
            def[i] = kopt(fd, inherit_opts[i][0], inherit_opts[i][1]);
        lm_real.close(fd);
        have = true;
    }
    return def;
}

/* The listener's values, read from its kernel socket once; setsockopt on it clears them.
 * (Reading them at every accept was 7 getsockopt calls per connection.) */
static const int *inherit_values(struct lm_sock *l)
{
    if (!l->inherit_ok) {
        for (int i = 0; i < 7; i++)
            l->inherit[i] = kopt(l->kfd, inherit_opts[i][0], inherit_opts[i][1]);
        l->inherit_ok = true;
    }
    return l->inherit;
}

static void inherit_options(struct lm_sock *l, struct lm_sock *s)
{
    const int *v = inherit_values(l), *def = inherit_defaults(l->domain);
    for (int i = 0; i < 7; i++) {
        if (!v[i] || (def && v[i] == def[i]))
            continue;
        int name = inherit_opts[i][1], set = v[i];
        if (name == SO_SNDBUF || name == SO_RCVBUF)
            set /= 2; /* the kernel reports twice what was set */
        lm_real.setsockopt(s->kfd, inherit_opts[i][0], name, &set, sizeof set);
    }
    s->ka_knobs = l->ka_knobs;
    apply_option_values(s, v[0], v[1], v + 2);
}

static int accept_mtp(struct lm_sock *l, struct sockaddr *addr, socklen_t *len, int flags)
{
    int kfd = lm_real.socket(l->domain, SOCK_STREAM | (flags & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
    if (kfd < 0)
        return -errno;
    struct mtp_sock *sk;
    struct lm_sock *s = sock_new(kfd, l->domain);
    struct mtp_fdobj *dropped;
    if (!s || mtp_fdtab_set(&g_lm.fds, kfd, &s->obj, &dropped) < 0) {
        free(s);
        lm_real.close(kfd);
        return -ENOMEM;
    }
    if (dropped)
        lm_obj_release(dropped);
    mtp_sock_accept(l->sk, &sk, lm_now());
    s->sk = sk;
    s->state = LM_CONN;
    s->nonblock = (flags & SOCK_NONBLOCK) != 0; /* the placeholder got it from socket() */
    sock_fl_set(s, O_RDWR | (s->nonblock ? O_NONBLOCK : 0));
    mtp_sock_set_user(sk, s);
    inherit_options(l, s);
    uint32_t ip;
    uint16_t port;
    mtp_sock_peer(sk, &ip, &port);
    addr_out(l->domain, ip, port, addr, len);
    return kfd;
}

static int sock_accept(struct lm_sock *l, struct sockaddr *addr, socklen_t *len, int flags)
{
    uint64_t deadline = l->nonblock ? 0 : lm_deadline(l->rcvtimeo_ns ? l->rcvtimeo_ns : UINT64_MAX);
    uint64_t spin = 0;
    for (;;) {
        if (g_lm.stack)
            lm_progress();
        if (l->sk && (mtp_sock_poll(l->sk) & MTP_SOCK_READABLE))
            return accept_mtp(l, addr, len, flags);
        int fd = lm_real.accept4(l->kfd, addr, len, flags); /* from another interface */
        if (fd >= 0)
            return fd;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        if (l->nonblock || lm_now() >= deadline)
            return -EAGAIN;
        struct pollfd k = {.fd = l->kfd, .events = POLLIN};
        if (lm_sleep(&k, 1, deadline, NULL, &spin) == -EINTR && !restart_after_signal(l->rcvtimeo_ns))
            return -EINTR;
    }
}

LM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    if (!lm_obj(fd))
        return lm_real.accept4(fd, addr, len, flags);
    lm_lock();
    struct lm_sock *l = lm_sock_of(fd);
    if (!l || l->state != LM_LISTEN) {
        lm_unlock();
        return lm_real.accept4(fd, addr, len, flags);
    }
    lm_listener_join(l);
    int rc = flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC) ? -EINVAL : sock_accept(l, addr, len, flags);
    lm_unlock();
    return rc < 0 ? fail(rc) : rc;
}

LM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}

/* ---------------------------------------------------------------- connect */

/* Waits (blocking socket) until the connection is established or failed. */
static int connect_wait(struct lm_sock *s)
{
    uint64_t deadline = lm_deadline(s->sndtimeo_ns ? s->sndtimeo_ns : UINT64_MAX), spin = 0;
    for (;;) {
        lm_progress();
        unsigned f = mtp_sock_poll(s->sk);
        if (f & (MTP_SOCK_ERROR | MTP_SOCK_HUP)) {
            int err = mtp_sock_error(s->sk);
            s->connecting = false;
            s->conn_failed = true;
            return err ? err : -ECONNREFUSED;
        }
        if (f & MTP_SOCK_WRITABLE) {
            s->connecting = false;
            return 0;
        }
        if (lm_now() >= deadline)
            return -EINPROGRESS;
        if (lm_sleep(NULL, 0, deadline, NULL, &spin) == -EINTR && !restart_after_signal(s->sndtimeo_ns))
            return -EINTR;
    }
}

/* connect() again on a connection: Linux's answers for each stage. */
static int connect_again(struct lm_sock *s)
{
    if (s->conn_failed)
        return -ECONNABORTED;
    if (!s->connecting)
        return -EISCONN;
    lm_progress();
    unsigned f = mtp_sock_poll(s->sk);
    if (f & (MTP_SOCK_ERROR | MTP_SOCK_HUP)) {
        int err = mtp_sock_error(s->sk);
        s->connecting = false;
        s->conn_failed = true;
        return err ? err : -ECONNREFUSED;
    }
    if (f & MTP_SOCK_WRITABLE) {
        s->connecting = false;
        return 0;
    }
    return s->nonblock ? -EALREADY : connect_wait(s);
}

static int sock_connect(struct lm_sock *s, uint32_t ip, uint16_t port)
{
    int rc = lm_stack_up();
    if (rc < 0)
        return rc;
    struct mtp_sock *sk = mtp_sock_connect(g_lm.ss, ip, port, lm_now(), &rc);
    if (!sk)
        return rc == -EADDRINUSE ? -EADDRNOTAVAIL : rc;
    s->sk = sk;
    s->state = LM_CONN;
    s->connecting = true;
    s->nonblock = (sock_fl_get(s) & O_NONBLOCK) != 0;
    mtp_sock_set_user(sk, s);
    apply_options(s);
    adopt_watches(s, false);
    return s->nonblock ? -EINPROGRESS : connect_wait(s);
}

LM_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    if (!lm_obj(fd))
        return lm_real.connect(fd, addr, len);
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    if (!s) {
        lm_unlock();
        return lm_real.connect(fd, addr, len);
    }
    int rc;
    if (s->state == LM_CONN) {
        rc = connect_again(s);
    } else if (s->state == LM_LISTEN) {
        rc = -EISCONN;
    } else {
        uint32_t ip;
        uint16_t port;
        bool any6;
        bool mtp = addr_v4(addr, len, &ip, &port, &any6) && !any6 && port &&
                   (addr->sa_family == AF_INET) == (s->domain == AF_INET) &&
                   lm_ip_is_mtp(ip) && (s->pristine || bound_port(s->kfd) == 0) && !v6only(s);
        if (mtp && lm_stack_up() < 0 && g_lm.cfg.fallback_kernel)
            mtp = false;
        if (!mtp) {
            sock_forget(s);
            lm_unlock();
            return lm_real.connect(fd, addr, len);
        }
        rc = sock_connect(s, ip, port);
    }
    lm_unlock();
    return rc < 0 ? fail(rc) : 0;
}

/* ---------------------------------------------------------------- native Homa */

/* The native Homa socket behind fd, locked, in use on the stack; NULL (unlocked) when it is
 * not one. *rc: an error starting it. */
static struct lm_sock *homa_enter(int fd, int *rc)
{
    *rc = 0;
    if (!lm_obj(fd))
        return NULL;
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    if (!s || !s->homa) {
        lm_unlock();
        return NULL;
    }
    if (s->state == LM_HOMA)
        return s;
    if ((*rc = lm_stack_up()) < 0)
        return s;
    uint16_t port = bound_port(s->kfd);
    if (!port) { /* a client: an ephemeral port, as HomaModule gives one */
        struct sockaddr_in any = {.sin_family = AF_INET};
        if (lm_real.bind(s->kfd, (struct sockaddr *)&any, sizeof any) < 0) {
            *rc = -errno;
            return s;
        }
        port = bound_port(s->kfd);
    }
    int one = 1;
    lm_real.setsockopt(s->kfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct mtp_sock *sk = mtp_sock_listen(g_lm.ss, port, 0, lm_now(), rc);
    if (sk && (*rc = mtp_homa_native_open(sk)) < 0)
        mtp_sock_close(sk, lm_now());
    if (!sk || *rc < 0)
        return s;
    s->sk = sk;
    s->state = LM_HOMA;
    mtp_sock_set_user(sk, s);
    adopt_watches(s, false);
    return s;
}

static ssize_t homa_sendmsg(struct lm_sock *s, const struct msghdr *msg)
{
    struct homa_sendmsg_args *a = msg->msg_control;
    uint32_t ip;
    uint16_t port;
    bool any6;
    if (!a || !addr_v4(msg->msg_name, msg->msg_namelen, &ip, &port, &any6))
        return -EINVAL;
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++)
        total += msg->msg_iov[i].iov_len;
    if (total > HOMA_MAX_MESSAGE_LENGTH)
        return -EINVAL;
    uint8_t *buf = malloc(total ? total : 1);
    if (!buf)
        return -ENOMEM;
    for (size_t i = 0, off = 0; i < msg->msg_iovlen; off += msg->msg_iov[i].iov_len, i++)
        memcpy(buf + off, msg->msg_iov[i].iov_base, msg->msg_iov[i].iov_len);
    lm_progress();
    int rc = mtp_homa_native_send(s->sk, ip, port, a, buf, total, lm_now());
    free(buf);
    return rc;
}

static ssize_t homa_recvmsg(struct lm_sock *s, struct msghdr *msg, int flags)
{
    struct homa_recvmsg_args *a = msg->msg_control;
    if (!a)
        return -EINVAL;
    bool nb = s->nonblock || (flags & MSG_DONTWAIT);
    uint64_t deadline = nb ? 0 : lm_deadline(s->rcvtimeo_ns ? s->rcvtimeo_ns : UINT64_MAX);
    uint64_t spin = 0;
    for (;;) {
        lm_progress();
        uint32_t ip = 0;
        uint16_t port = 0;
        ssize_t n = mtp_homa_native_recv(s->sk, a, &ip, &port);
        if (n != -EAGAIN) {
            if (msg->msg_name && (n >= 0 || a->id))
                addr_out(AF_INET, ip, port, msg->msg_name, &msg->msg_namelen);
            msg->msg_flags = 0;
            return n;
        }
        a->num_bpages = 0; /* handed back already */
        if (nb || lm_now() >= deadline)
            return -EAGAIN;
        if (lm_sleep(NULL, 0, deadline, NULL, &spin) == -EINTR &&
            !restart_after_signal(s->rcvtimeo_ns))
            return -EINTR;
    }
}

/* ---------------------------------------------------------------- receiving */

/* One receive without waiting: bytes, 0 at end of stream, or a negative errno. MSG_PEEK
 * moves bytes into the socket's peek buffer (up to len), where later calls find them first. */
static ssize_t recv_once(struct lm_sock *s, void *buf, size_t len, bool peek)
{
    if (peek) {
        ssize_t n = 0;
        if (s->peek_len < len) {
            uint8_t *p = realloc(s->peek, len);
            if (!p)
                return -ENOMEM;
            s->peek = p;
            while (s->peek_len < len &&
                   (n = mtp_sock_recv(s->sk, p + s->peek_len, len - s->peek_len, lm_now())) > 0)
                s->peek_len += (size_t)n;
        }
        if (!s->peek_len)
            return n;
        size_t c = len < s->peek_len ? len : s->peek_len;
        memcpy(buf, s->peek, c);
        return (ssize_t)c;
    }
    if (s->peek_len) {
        size_t c = len < s->peek_len ? len : s->peek_len;
        memcpy(buf, s->peek, c);
        memmove(s->peek, s->peek + c, s->peek_len - c);
        s->peek_len -= c;
        return (ssize_t)c;
    }
    return mtp_sock_recv(s->sk, buf, len, lm_now());
}

static ssize_t sock_recv(struct lm_sock *s, void *buf, size_t len, int flags)
{
    if (s->connecting && !s->nonblock && !(flags & MSG_DONTWAIT))
        connect_wait(s);
    if (len == 0)
        return 0;
    bool nb = s->nonblock || (flags & MSG_DONTWAIT);
    uint64_t deadline = nb ? 0 : lm_deadline(s->rcvtimeo_ns ? s->rcvtimeo_ns : UINT64_MAX);
    uint64_t spin = 0;
    size_t got = 0;
    for (;;) {
        lm_progress();
        if (s->rd_shut && !s->peek_len)
            return (ssize_t)got;
        ssize_t n = recv_once(s, (uint8_t *)buf + got, len - got, flags & MSG_PEEK);
        if (n > 0) {
            got += (size_t)n;
            /* everything queued, up to len, as Linux (the stack copies a chunk at a time) */
            while (got < len && !(flags & MSG_PEEK) &&
                   (n = recv_once(s, (uint8_t *)buf + got, len - got, false)) > 0)
                got += (size_t)n;
            if (!(flags & MSG_WAITALL) || got == len || (flags & MSG_PEEK))
                return (ssize_t)got;
            continue;
        }
        if (n == 0)
            return (ssize_t)got;
        if (n != -EAGAIN && n != -ENOTCONN)
            return got ? (ssize_t)got : n;
        if (n == -ENOTCONN && !s->connecting)
            return got ? (ssize_t)got : n;
        if (nb || lm_now() >= deadline)
            return got ? (ssize_t)got : -EAGAIN;
        if (lm_sleep(NULL, 0, deadline, NULL, &spin) == -EINTR &&
            (got || !restart_after_signal(s->rcvtimeo_ns)))
            return got ? (ssize_t)got : -EINTR;
    }
}

/* Receives into an iovec: waits for the first bytes, then takes what is there. */
static ssize_t sock_recv_iov(struct lm_sock *s, const struct iovec *iov, int cnt, int flags)
{
    ssize_t total = 0;
    for (int i = 0; i < cnt; i++) {
        if (!iov[i].iov_len)
            continue;
        ssize_t n = sock_recv(s, iov[i].iov_base, iov[i].iov_len, total ? flags | MSG_DONTWAIT : flags);
        if (n < 0)
            return total ? total : n;
        total += n;
        if ((size_t)n < iov[i].iov_len || (flags & MSG_PEEK))
            break;
    }
    return total;
}

/* The MTP connection behind fd, locked; NULL (unlocked) when libc must answer. */
static struct lm_sock *conn_enter(int fd)
{
    if (!lm_obj(fd))
        return NULL;
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    if (s && s->state == LM_CONN)
        return s;
    lm_unlock();
    return NULL;
}

static ssize_t leave(ssize_t rc)
{
    lm_unlock();
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

LM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                           socklen_t *alen)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.recvfrom(fd, buf, len, flags, addr, alen);
    if (alen)
        *alen = 0; /* a connected stream socket names no sender */
    return leave(sock_recv(s, buf, len, flags));
}

LM_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return recvfrom(fd, buf, len, flags, NULL, NULL);
}

LM_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.read(fd, buf, len);
    return leave(sock_recv(s, buf, len, 0));
}

LM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.readv(fd, iov, cnt);
    if (cnt < 0 || cnt > IOV_MAX)
        return leave(-EINVAL);
    return leave(sock_recv_iov(s, iov, cnt, 0));
}

LM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    int rc;
    struct lm_sock *h = homa_enter(fd, &rc);
    if (h)
        return leave(rc < 0 ? rc : homa_recvmsg(h, msg, flags));
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.recvmsg(fd, msg, flags);
    if (msg->msg_iovlen > IOV_MAX)
        return leave(-EMSGSIZE);
    msg->msg_namelen = 0;
    msg->msg_controllen = 0;
    msg->msg_flags = 0;
    return leave(sock_recv_iov(s, msg->msg_iov, (int)msg->msg_iovlen, flags));
}

LM_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
    if (!conn_enter(fd))
        return lm_real.recvmmsg(fd, v, n, flags, t);
    lm_unlock();
    unsigned i = 0;
    for (; i < n; i++) {
        ssize_t r = recvmsg(fd, &v[i].msg_hdr, i ? flags | MSG_DONTWAIT : flags & ~MSG_WAITFORONE);
        if (r < 0)
            return i ? (int)i : -1;
        v[i].msg_len = (unsigned)r;
        if (r == 0)
            return (int)i + 1;
    }
    return (int)i;
}

/* ---------------------------------------------------------------- sending */

static __thread bool pending_sigpipe;

static ssize_t sock_send(struct lm_sock *s, const void *buf, size_t len, int flags)
{
    bool nb = s->nonblock || (flags & MSG_DONTWAIT);
    uint64_t deadline = nb ? 0 : lm_deadline(s->sndtimeo_ns ? s->sndtimeo_ns : UINT64_MAX);
    uint64_t spin = 0;
    size_t sent = 0;
    if (len == 0 && !s->connecting)
        return 0;
    for (;;) {
        lm_progress();
        ssize_t n = mtp_sock_send(s->sk, (const uint8_t *)buf + sent, len - sent, lm_now());
        if (n > 0) {
            sent += (size_t)n;
            if (sent == len)
                return (ssize_t)sent;
            continue;
        }
        if (n == -EPIPE && !(flags & MSG_NOSIGNAL))
            pending_sigpipe = true;
        if (n == -EAGAIN && s->conn_failed)
            n = -EPIPE;
        if (n != -EAGAIN)
            return sent ? (ssize_t)sent : n;
        if (nb || lm_now() >= deadline)
            return sent ? (ssize_t)sent : -EAGAIN;
        if (lm_sleep(NULL, 0, deadline, NULL, &spin) == -EINTR &&
            (sent || !restart_after_signal(s->sndtimeo_ns)))
            return sent ? (ssize_t)sent : -EINTR;
    }
}

/* Several buffers: small ones gathered into one write (one event for the stack). */
static ssize_t sock_send_iov(struct lm_sock *s, const struct iovec *iov, int cnt, int flags)
{
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    if (cnt > 1 && total <= GATHER_MAX) {
        size_t off = 0;
        for (int i = 0; i < cnt; i++) {
            memcpy(gather_buf + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
        return sock_send(s, gather_buf, total, flags);
    }
    ssize_t done = 0;
    for (int i = 0; i < cnt; i++) {
        if (!iov[i].iov_len)
            continue;
        ssize_t n = sock_send(s, iov[i].iov_base, iov[i].iov_len, done ? flags | MSG_DONTWAIT : flags);
        if (n < 0)
            return done ? done : n;
        done += n;
        if ((size_t)n < iov[i].iov_len)
            break;
    }
    if (cnt == 0 || total == 0)
        return sock_send(s, "", 0, flags);
    return done;
}

static ssize_t leave_send(ssize_t rc)
{
    lm_unlock();
    if (pending_sigpipe) {
        pending_sigpipe = false;
        raise(SIGPIPE);
    }
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

LM_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                         const struct sockaddr *addr, socklen_t alen)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.sendto(fd, buf, len, flags, addr, alen);
    return leave_send(sock_send(s, buf, len, flags));
}

LM_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return sendto(fd, buf, len, flags, NULL, 0);
}

LM_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.write(fd, buf, len);
    return leave_send(sock_send(s, buf, len, 0));
}

LM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.writev(fd, iov, cnt);
    if (cnt < 0 || cnt > IOV_MAX)
        return leave(-EINVAL);
    return leave_send(sock_send_iov(s, iov, cnt, 0));
}

LM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    int rc;
    struct lm_sock *h = homa_enter(fd, &rc);
    if (h)
        return leave(rc < 0 ? rc : homa_sendmsg(h, msg));
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.sendmsg(fd, msg, flags);
    if (msg->msg_iovlen > IOV_MAX)
        return leave(-EMSGSIZE);
    return leave_send(sock_send_iov(s, msg->msg_iov, (int)msg->msg_iovlen, flags));
}

LM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    if (!conn_enter(fd))
        return lm_real.sendmmsg(fd, v, n, flags);
    lm_unlock();
    unsigned i = 0;
    for (; i < n; i++) {
        ssize_t r = sendmsg(fd, &v[i].msg_hdr, flags);
        if (r < 0)
            return i ? (int)i : -1;
        v[i].msg_len = (unsigned)r;
    }
    return (int)i;
}

/* sendfile to an MTP connection: the file is read in chunks and sent; a chunk the socket
 * takes only part of is read again next time (pread at the offset, or lseek back). */
static ssize_t sock_sendfile(struct lm_sock *s, int in_fd, off_t *offset, size_t count)
{
    size_t done = 0;
    off_t pos = offset ? *offset : 0;
    while (done < count) {
        size_t want = count - done < GATHER_MAX ? count - done : GATHER_MAX;
        ssize_t r = offset ? pread(in_fd, gather_buf, want, pos) : lm_real.read(in_fd, gather_buf, want);
        if (r < 0) {
            if (done)
                break;
            return -errno;
        }
        if (r == 0)
            break;
        ssize_t n = sock_send(s, gather_buf, (size_t)r, done ? MSG_DONTWAIT : 0);
        if (n < 0 && !offset)
            lseek(in_fd, -r, SEEK_CUR);
        if (n < 0) {
            if (done)
                break;
            return n;
        }
        if (n < r && !offset)
            lseek(in_fd, -(r - n), SEEK_CUR);
        done += (size_t)n;
        pos += n;
        if (n < r)
            break;
    }
    if (offset)
        *offset = pos;
    return (ssize_t)done;
}

LM_EXPORT ssize_t sendfile(int out, int in, off_t *offset, size_t count)
{
    struct lm_sock *s = conn_enter(out);
    if (!s)
        return lm_real.sendfile(out, in, offset, count);
    return leave_send(sock_sendfile(s, in, offset, count));
}

LM_EXPORT ssize_t sendfile64(int out, int in, off_t *offset, size_t count)
{
    return sendfile(out, in, offset, count);
}

/* splice with an MTP connection on one side: the bytes go through a buffer. Into the socket,
 * what was taken from the pipe is sent whole (the call waits for room if it must: bytes
 * taken from a pipe cannot be put back); out of the socket, no more than the pipe has room
 * for is taken. */
static ssize_t splice_out(struct lm_sock *s, int in, loff_t *off_in, size_t len)
{
    size_t want = len < GATHER_MAX ? len : GATHER_MAX;
    ssize_t r = off_in ? pread(in, gather_buf, want, *off_in) : lm_real.read(in, gather_buf, want);
    if (r <= 0)
        return r < 0 ? -errno : 0;
    ssize_t n = sock_send(s, gather_buf, (size_t)r, 0);
    if (n > 0 && off_in)
        *off_in += n;
    return n;
}

static ssize_t splice_in(struct lm_sock *s, int out, size_t len, int flags)
{
    int cap = lm_real.fcntl(out, F_GETPIPE_SZ), used = 0;
    if (cap > 0 && lm_real.ioctl(out, FIONREAD, &used) == 0 && cap - used < (int)len)
        len = (size_t)(cap - used);
    if (len > GATHER_MAX)
        len = GATHER_MAX;
    if (len == 0)
        return -EAGAIN;
    ssize_t n = sock_recv(s, gather_buf, len, flags & SPLICE_F_NONBLOCK ? MSG_DONTWAIT : 0);
    if (n <= 0)
        return n;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = lm_real.write(out, gather_buf + off, (size_t)(n - off));
        if (w < 0 && errno != EINTR)
            return off ? off : -errno;
        off += w > 0 ? w : 0;
    }
    return n;
}

LM_EXPORT ssize_t splice(int in, loff_t *off_in, int out, loff_t *off_out, size_t len,
                         unsigned flags)
{
    static ssize_t (*real)(int, loff_t *, int, loff_t *, size_t, unsigned);
    if (!real)
        real = (ssize_t (*)(int, loff_t *, int, loff_t *, size_t, unsigned))dlsym(RTLD_NEXT, "splice");
    struct lm_sock *s = conn_enter(out);
    if (s) {
        if (off_out)
            return leave(-ESPIPE);
        return leave_send(splice_out(s, in, off_in, len));
    }
    if ((s = conn_enter(in))) {
        if (off_in)
            return leave(-ESPIPE);
        return leave(splice_in(s, out, len, (int)flags));
    }
    return real(in, off_in, out, off_out, len, flags);
}

/* ---------------------------------------------------------------- shutdown, close */

LM_EXPORT int shutdown(int fd, int how)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.shutdown(fd, how);
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
        return (int)leave(-EINVAL);
    lm_progress();
    int rc = 0;
    if (how != SHUT_RD)
        rc = mtp_sock_shutdown_wr(s->sk, lm_now());
    if (how != SHUT_RD && rc == 0)
        s->wr_shut = true;
    if (how != SHUT_WR && rc == 0)
        s->rd_shut = true;
    mtp_ev_wake(&s->src);
    g_lm.kick = true;
    return (int)leave(rc);
}

LM_EXPORT int close(int fd)
{
    lm_inherit_fd_closing(fd);
    if (!lm_obj(fd))
        return lm_real.close(fd);
    lm_lock();
    struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, fd);
    struct mtp_fdobj *last = o ? mtp_fdtab_clear(&g_lm.fds, fd) : NULL;
    if (o && !last && o->kind == LM_SOCK && ((struct lm_sock *)o)->kfd == fd)
        ((struct lm_sock *)o)->kfd = other_fd((struct lm_sock *)o);
    if (o && !last && o->kind == LM_EPOLL && ((struct lm_epoll *)o)->kfd == fd) {
        struct lm_epoll *ep = (struct lm_epoll *)o;
        uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
        for (uint32_t f = 0; f < cap; f++)
            if (mtp_fdtab_get(&g_lm.fds, (int)f) == o)
                ep->kfd = (int)f;
    }
    if (last)
        lm_obj_release(last);
    int rc = lm_real.close(fd);
    int err = errno;
    lm_unlock();
    errno = err;
    return rc;
}

/* ---------------------------------------------------------------- names */

LM_EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.getsockname(fd, addr, len);
    uint32_t ip;
    uint16_t port;
    mtp_sock_local(s->sk, &ip, &port);
    if (!addr || !len)
        return (int)leave(-EFAULT);
    addr_out(s->domain, ip, port, addr, len);
    return (int)leave(0);
}

LM_EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    struct lm_sock *s = conn_enter(fd);
    if (!s)
        return lm_real.getpeername(fd, addr, len);
    if (!addr || !len)
        return (int)leave(-EFAULT);
    lm_progress();
    if (s->conn_failed || !mtp_sock_connected(s->sk))
        return (int)leave(-ENOTCONN);
    uint32_t ip;
    uint16_t port;
    mtp_sock_peer(s->sk, &ip, &port);
    addr_out(s->domain, ip, port, addr, len);
    return (int)leave(0);
}

/* ---------------------------------------------------------------- options */

static uint64_t timeval_ns(const void *val, socklen_t len)
{
    struct timeval tv = {0, 0};
    memcpy(&tv, val, len < sizeof tv ? len : sizeof tv);
    return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000ull;
}

/* TCP-level options an MTP socket keeps (recorded on its kernel socket; NODELAY applied);
 * any other TCP option is refused as unknown rather than accepted and ignored. */
static bool tcp_opt_ok(int name)
{
    switch (name) {
    case TCP_NODELAY: case TCP_CORK: case TCP_QUICKACK: case TCP_MAXSEG: case TCP_DEFER_ACCEPT:
    case TCP_FASTOPEN: case TCP_INFO: case TCP_LINGER2: case TCP_SYNCNT: case TCP_WINDOW_CLAMP:
    case TCP_KEEPIDLE: case TCP_KEEPINTVL: case TCP_KEEPCNT:
        return true;
    default:
        return false;
    }
}

/* TCP_CORK and TCP_NODELAY of a connection are kept here and given to the stack; its kernel
 * socket never hears of them. nginx (tcp_nopush, Debian's default) sets TCP_CORK twice per
 * response, wrk TCP_NODELAY on each new connection: system calls otherwise. Checked in
 * Linux's order. */
static int keep_tcp_flag(struct lm_sock *s, const void *val, socklen_t len, bool *set,
                         bool *on, enum mtp_sock_opt mtp_opt)
{
    if (len < sizeof(int))
        return -EINVAL;
    if (!val)
        return -EFAULT;
    *on = *(const int *)val != 0;
    *set = true;
    mtp_sock_setopt(s->sk, mtp_opt, *on, lm_now());
    return 0;
}

LM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    if (!lm_obj(fd))
        return lm_real.setsockopt(fd, level, name, val, len);
    if (level == IPPROTO_HOMA) {
        int rc;
        struct lm_sock *h = homa_enter(fd, &rc);
        if (!h)
            return lm_real.setsockopt(fd, level, name, val, len);
        if (rc == 0 && name == SO_HOMA_RCVBUF) {
            const struct homa_rcvbuf_args *r = val;
            rc = !r || len < sizeof *r ? -EINVAL
                 : mtp_homa_native_region(h->sk, (void *)(uintptr_t)r->start, (size_t)r->length);
        } else if (rc == 0 && name != SO_HOMA_SERVER) {
            rc = -ENOPROTOOPT;
        } /* SO_HOMA_SERVER: a bound socket takes requests already */
        return (int)leave(rc);
    }
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    if (s) {
        s->inherit_ok = false; /* a listener's options changed: accept reads them again */
        s->pristine = false;
    }
    if (!s || s->state == LM_NEW) {
        if (s && level == SOL_SOCKET && val && len >= sizeof(struct timeval) &&
            (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
            *(name == SO_RCVTIMEO ? &s->rcvtimeo_ns : &s->sndtimeo_ns) = timeval_ns(val, len);
        if (s && level == SOL_SOCKET && name == SO_LINGER && val && len >= sizeof(struct linger))
            s->linger_zero = ((const struct linger *)val)->l_onoff &&
                             !((const struct linger *)val)->l_linger;
        int rc = lm_real.setsockopt(fd, level, name, val, len);
        if (s && rc == 0 && level == IPPROTO_TCP)
            s->ka_knobs |= (uint8_t)ka_knob_bit(name);
        int err = errno;
        lm_unlock();
        errno = err;
        return rc;
    }
    if (s->state == LM_CONN && level == IPPROTO_TCP && name == TCP_CORK)
        return (int)leave(keep_tcp_flag(s, val, len, &s->cork_set, &s->cork, MTP_SOCKOPT_CORK));
    if (s->state == LM_CONN && level == IPPROTO_TCP && name == TCP_NODELAY)
        return (int)leave(keep_tcp_flag(s, val, len, &s->nodelay_set, &s->nodelay,
                                        MTP_SOCKOPT_NODELAY));
    int rc = 0;
    if (level == IPPROTO_TCP && !tcp_opt_ok(name))
        rc = -ENOPROTOOPT;
    else if (level == SOL_SOCKET && name == SO_REUSEADDR && s->state == LM_LISTEN) {
        if (!val || len < sizeof(int))
            rc = -EINVAL;
        else
            s->app_reuseaddr = *(const int *)val != 0;
    } else if (lm_real.setsockopt(fd, level, name, val, len) < 0) {
        rc = -errno;
    }
    if (rc == 0 && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO))
        *(name == SO_RCVTIMEO ? &s->rcvtimeo_ns : &s->sndtimeo_ns) = timeval_ns(val, len);
    if (rc == 0 && level == SOL_SOCKET && name == SO_LINGER)
        s->linger_zero = ((const struct linger *)val)->l_onoff &&
                         !((const struct linger *)val)->l_linger;
    if (rc == 0 && s->state == LM_CONN && len >= sizeof(int)) {
        if (level == IPPROTO_TCP && name == TCP_NODELAY)
            mtp_sock_setopt(s->sk, MTP_SOCKOPT_NODELAY, *(const int *)val != 0, lm_now());
        if (level == SOL_SOCKET && name == SO_KEEPALIVE)
            mtp_sock_setopt(s->sk, MTP_SOCKOPT_KEEPALIVE, *(const int *)val != 0, lm_now());
        for (int i = 0; i < 3; i++)
            if (level == IPPROTO_TCP && name == ka_knobs[i].name)
                mtp_sock_setopt(s->sk, ka_knobs[i].opt, *(const int *)val, lm_now());
    }
    if (rc == 0 && level == IPPROTO_TCP)
        s->ka_knobs |= (uint8_t)ka_knob_bit(name);
    return (int)leave(rc);
}

static void fill_tcp_info(struct lm_sock *s, struct tcp_info *ti)
{
    memset(ti, 0, sizeof *ti);
    struct mtp_sock_info in;
    mtp_sock_info(s->sk, &in);
    ti->tcpi_state = in.tcp_state;
    ti->tcpi_retransmits = (uint8_t)(in.retransmits > 255 ? 255 : in.retransmits);
    ti->tcpi_rto = (uint32_t)in.rto_us;
    ti->tcpi_snd_mss = in.mss;
    ti->tcpi_rcv_mss = in.mss;
    ti->tcpi_rtt = (uint32_t)in.rtt_us;
    ti->tcpi_rttvar = (uint32_t)in.rttvar_us;
    ti->tcpi_snd_cwnd = in.mss ? (uint32_t)(in.cwnd_bytes / in.mss) : 0;
    ti->tcpi_unacked = in.mss ? (uint32_t)((in.tx_queued + in.mss - 1) / in.mss) : 0;
    ti->tcpi_total_retrans = in.retransmits;
}

static int opt_int(void *val, socklen_t *len, int v)
{
    if (!val || !len)
        return -EFAULT;
    socklen_t n = *len < sizeof v ? *len : sizeof v;
    memcpy(val, &v, n);
    *len = n;
    return 0;
}

LM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    if (!lm_obj(fd))
        return lm_real.getsockopt(fd, level, name, val, len);
    lm_lock();
    struct lm_sock *s = lm_sock_of(fd);
    if (!s || s->state == LM_NEW) {
        lm_unlock();
        return lm_real.getsockopt(fd, level, name, val, len);
    }
    int rc;
    if (level == SOL_SOCKET && name == SO_ERROR && s->state == LM_CONN) {
        lm_progress();
        int e = mtp_sock_error(s->sk);
        if (e && s->connecting) {
            s->connecting = false;
            s->conn_failed = true;
        }
        rc = opt_int(val, len, -e);
    } else if (level == SOL_SOCKET && name == SO_REUSEADDR && s->state == LM_LISTEN) {
        rc = opt_int(val, len, s->app_reuseaddr);
    } else if (level == IPPROTO_TCP && name == TCP_INFO && s->state == LM_CONN) {
        struct tcp_info ti;
        fill_tcp_info(s, &ti);
        if (!val || !len) {
            rc = -EFAULT;
        } else {
            socklen_t n = *len < sizeof ti ? *len : sizeof ti;
            memcpy(val, &ti, n);
            *len = n;
            rc = 0;
        }
    } else if (level == IPPROTO_TCP && name == TCP_CORK && s->state == LM_CONN && s->cork_set) {
        rc = opt_int(val, len, s->cork);
    } else if (level == IPPROTO_TCP && name == TCP_NODELAY && s->state == LM_CONN &&
               s->nodelay_set) {
        rc = opt_int(val, len, s->nodelay);
    } else if (level == IPPROTO_TCP && name == TCP_MAXSEG && s->state == LM_CONN) {
        struct mtp_sock_info in;
        mtp_sock_info(s->sk, &in);
        rc = opt_int(val, len, (int)in.mss);
    } else if (level == IPPROTO_TCP && !tcp_opt_ok(name)) {
        rc = -ENOPROTOOPT;
    } else {
        rc = lm_real.getsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
    }
    return (int)leave(rc);
}

/* ---------------------------------------------------------------- fcntl, ioctl, dup */

/* newfd (made by the kernel from fd) points at fd's object too. */
static int dup_track(int fd, int newfd)
{
    if (newfd < 0 || newfd == fd)
        return newfd;
    lm_lock();
    struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, fd), *dropped = mtp_fdtab_clear(&g_lm.fds, newfd);
    if (dropped)
        lm_obj_release(dropped);
    if (o && mtp_fdtab_set(&g_lm.fds, newfd, o, &dropped) == 0 && dropped)
        lm_obj_release(dropped);
    lm_unlock();
    return newfd;
}

/* The flags F_SETFL changes (Linux's SETFL_MASK); the others stay what they were. */
#define SETFL_FLAGS (O_APPEND | O_NONBLOCK | O_NDELAY | O_ASYNC | O_DIRECT | O_NOATIME)

/* F_SETFL to the kernel socket, and what its flags are now: known when only O_NONBLOCK may
 * have changed. */
static int sock_setfl(struct lm_sock *s, int fd, int fl)
{
    int old = sock_fl(s);
    int rc = lm_real.fcntl(fd, F_SETFL, fl);
    if (rc == 0 && old >= 0 && !(fl & SETFL_FLAGS & ~O_NONBLOCK))
        sock_fl_set(s, (old & ~SETFL_FLAGS) | (fl & SETFL_FLAGS));
    else
        sock_fl_set(s, -1);
    return rc;
}

static int sock_fcntl(int fd, int cmd, void *arg)
{
    lm_lock();
    struct lm_sock *s = lm_sock_of_raw(fd); /* (an inherited connection stays untaken) */
    if (!s) {
        lm_unlock();
        return lm_real.fcntl(fd, cmd, arg);
    }
    int rc;
    if (cmd == F_GETFL) {
        bool asked = sock_fl(s) < 0;
        rc = sock_fl_get(s);
        if (asked && rc >= 0 && s->state == LM_CONN) /* a child's F_SETFL went there */
            s->nonblock = (rc & O_NONBLOCK) != 0;
        if (rc >= 0 && s->state != LM_NEW) /* (a listener's kernel socket never blocks) */
            rc = (rc & ~O_NONBLOCK) | (s->nonblock ? O_NONBLOCK : 0);
    } else if (s->state == LM_NEW) {
        rc = sock_setfl(s, fd, (int)(intptr_t)arg);
    } else { /* F_SETFL: the listener's kernel socket stays non-blocking */
        int fl = (int)(intptr_t)arg;
        s->nonblock = (fl & O_NONBLOCK) != 0;
        rc = sock_setfl(s, fd, s->state == LM_LISTEN ? fl | O_NONBLOCK : fl);
    }
    int err = errno;
    lm_unlock();
    errno = err;
    return rc;
}

static int any_fcntl(int fd, int cmd, void *arg)
{
    if (!lm_obj(fd) && !(cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
        return lm_real.fcntl(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
        int nfd = lm_real.fcntl(fd, cmd, arg);
        return lm_obj(fd) ? dup_track(fd, nfd) : nfd;
    }
    if (cmd == F_GETFL || cmd == F_SETFL)
        return sock_fcntl(fd, cmd, arg);
    return lm_real.fcntl(fd, cmd, arg);
}

LM_EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return any_fcntl(fd, cmd, arg);
}

LM_EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return any_fcntl(fd, cmd, arg);
}

LM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (lm_obj(fd) && req == FIOASYNC) { /* O_ASYNC changes: F_GETFL asks the kernel again */
        lm_lock();
        struct lm_sock *s = lm_sock_of_raw(fd);
        if (s)
            sock_fl_set(s, -1);
        lm_unlock();
    }
    if (!lm_obj(fd) || (req != FIONBIO && req != FIONREAD && req != SIOCOUTQ))
        return lm_real.ioctl(fd, req, arg);
    lm_lock();
    struct lm_sock *s = req == FIONBIO ? lm_sock_of_raw(fd) : lm_sock_of(fd);
    if (s && req == FIONBIO)
        sock_fl_set(s, -1); /* F_GETFL asks the kernel again */
    if (!s || s->state == LM_NEW || (req != FIONBIO && s->state != LM_CONN)) {
        lm_unlock();
        return lm_real.ioctl(fd, req, arg);
    }
    int rc = 0;
    if (!arg) {
        rc = -EFAULT;
    } else if (req == FIONBIO) {
        s->nonblock = *(int *)arg != 0;
        if (s->state == LM_CONN)
            lm_real.ioctl(fd, FIONBIO, arg);
    } else {
        lm_progress();
        struct mtp_sock_info in;
        mtp_sock_info(s->sk, &in);
        uint64_t v = req == FIONREAD ? in.rx_queued + s->peek_len : in.tx_queued;
        *(int *)arg = v > INT32_MAX ? INT32_MAX : (int)v;
    }
    return (int)leave(rc);
}

LM_EXPORT int dup(int fd)
{
    int nfd = lm_real.dup(fd);
    return lm_obj(fd) ? dup_track(fd, nfd) : nfd;
}

LM_EXPORT int dup3(int fd, int newfd, int flags)
{
    bool track = lm_obj(fd) || lm_obj(newfd);
    int rc = lm_real.dup3(fd, newfd, flags);
    return track && rc >= 0 ? dup_track(fd, rc) : rc;
}

LM_EXPORT int dup2(int fd, int newfd)
{
    if (fd == newfd) /* dup2's own case: fd's validity, no change */
        return lm_real.fcntl(fd, F_GETFD) < 0 ? -1 : newfd;
    return dup3(fd, newfd, 0);
}

/* ---------------------------------------------------------------- fortified variants */

LM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        abort();
    return read(fd, buf, len);
}

LM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        abort();
    return recv(fd, buf, len, flags);
}

LM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                 struct sockaddr *addr, socklen_t *alen)
{
    if (len > buflen)
        abort();
    return recvfrom(fd, buf, len, flags, addr, alen);
}
