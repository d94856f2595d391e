/*
 * libmtp.h — inside build/lib/libmtp.so, the LD_PRELOAD socket library (not installed).
 *
 *   libmtp_core.c   configuration, the real libc functions, the stack (started on first use),
 *                   the lock, progress, sleeping on the target's wake fd, the helper thread
 *   libmtp_sock.c   the socket calls (socket ... sendfile, fcntl, ioctl, dup, close, exec)
 *   libmtp_poll.c   epoll, poll, select over mixed kernel + MTP sets
 *
 * Each MTP socket owns a real kernel fd (its placeholder): the application's own socket for
 * sockets it created, a fresh unbound socket for connections accept() returns. The fd table
 * (fdtab.h) maps fd numbers to our objects; an fd not in it is the kernel's, and every call on
 * it goes straight to libc. Everything that touches the stack runs under one lock (g_lm.lock);
 * while a thread holds it, calls that re-enter libmtp (libxdp's own socket(), close() ...) go
 * to libc (lm_inside).
 */
#ifndef MTP_LIBMTP_H
#define MTP_LIBMTP_H

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "evq.h"
#include "fdtab.h"
#include "mtp/stack.h"
#include "sock.h"

#define LM_EXPORT __attribute__((visibility("default")))

enum { LM_SOCK = 1, LM_EPOLL = 2 };

enum lm_state {
    LM_NEW,        /* created, not yet listening or connected: may still become a kernel socket */
    LM_LISTEN,     /* an MTP listener whose kernel socket also listens (other interfaces) */
    LM_CONN,       /* an MTP connection (connecting, established or finished) */
    LM_HOMA,       /* a native Homa socket (IPPROTO_HOMA under MTP_PROTO=homa) in use */
    LM_INH,        /* a connection inherited across fork, still the parent's: taken over
                      on first use (libmtp_inherit.c) */
};

struct lm_sock {
    struct mtp_fdobj obj;          /* kind LM_SOCK */
    struct mtp_ev_src src;         /* epoll watches */
    int kfd;                       /* the placeholder (first fd) */
    int domain;                    /* AF_INET or AF_INET6 */
    enum lm_state state;
    struct mtp_sock *sk;           /* LM_LISTEN, LM_CONN */
    bool nonblock;                 /* O_NONBLOCK as the application set it */
    bool kfl_known;                /* kfl is its kernel socket's file status flags (F_GETFL) */
    int kfl;                       /* (known from socket() or accept on: sock_fl) */
    unsigned kfl_gen;              /* ... as of g_lm.fork_gen (a child may change them) */
    bool app_reuseaddr;            /* SO_REUSEADDR as the application set it */
    bool connecting;               /* connect() started, outcome not yet reported */
    bool conn_failed;              /* the connect's error was reported: further calls fail */
    bool rd_shut;                  /* shutdown(SHUT_RD) */
    bool wr_shut;                  /* shutdown(SHUT_WR) */
    uint8_t ka_knobs;              /* TCP_KEEPIDLE/INTVL/CNT the application set (bits) */
    bool pristine;                 /* made by socket() here, and no bind() or setsockopt()
                                      reached its kernel socket since: connect() need not read
                                      its port and options back (three system calls) */
    bool inherit_ok;               /* a listener: inherit[] holds its options (accept_mtp) */
    int inherit[7];                /* (cleared by every setsockopt on it) */
    bool absorb_queued;            /* on g_lm.absorb: its peer closed, unread bytes to take */
    struct lm_sock *rp_next;       /* SO_REUSEPORT listeners of this process sharing `sk` (the
                                      first is the MTP socket's user) */
    bool linger_zero;              /* SO_LINGER {1, 0}: close aborts */
    bool cork_set, cork;           /* TCP_CORK set on the connection (kept here, not on its
                                      kernel socket: libmtp_sock.c keep_tcp_flag) */
    bool nodelay_set, nodelay;     /* TCP_NODELAY set on the connection (the same) */
    bool homa;                     /* socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA): native Homa */
    bool dormant;                  /* LM_LISTEN without an MTP listener in this process's stack
                                      (sk NULL; see lm_listener_join): its kernel half serves */
    bool dormant_marked;           /* this process told the target the port's listener here
                                      is dormant (one such listener per port: see
                                      dormant_unmark) */
    int backlog;                   /* listen()'s, for a dormant listener's join */
    uint64_t join_after_ns;        /* a dormant listener's last join failed: not before this */
    uint64_t rcvtimeo_ns, sndtimeo_ns; /* 0: none */
    uint8_t *peek;                 /* bytes received by MSG_PEEK, returned first */
    size_t peek_len;
    struct lm_kwatch *kwatches;    /* kernel epoll sets it joined while LM_NEW */
    /* fork (libmtp_inherit.c): in the parent, the share of this connection children may
     * hold (no absorb while there is one: its bytes stay in the image); in the child
     * (LM_INH), which share of its parent's it is */
    struct lm_share *share;
    uint64_t inh_id;
    uint32_t inh_rip;
    uint16_t inh_lport, inh_rport;
};

/* A registration of an LM_NEW socket in a kernel epoll set (moved when it turns MTP). */
struct lm_kwatch {
    int epfd, fd;
    struct epoll_event ev;
    struct lm_kwatch *next;
};

struct lm_epoll {
    struct mtp_fdobj obj;          /* kind LM_EPOLL */
    int kfd;                       /* the kernel epoll (kernel fds, kernel halves of listeners) */
    struct mtp_ev_set set;         /* MTP fds */
    unsigned kernel_watches;       /* fds this process added to kfd and did not delete (at
                                    * least: a closed fd leaves the kernel's set by itself) */
    unsigned fork_gen;             /* g_lm.fork_gen when made: after a fork, another process
                                    * may add to kfd too */
    uint64_t kernel_asked_ns;      /* when epoll_wait last asked kfd (libmtp_poll.c ep_wait) */
};

struct lm_config {
    const struct mtp_sock_proto *proto;
    const struct mtp_target_ops *ops;
    const char *target_name;
    const char *iface;
    uint32_t ip, mask;             /* host order; the stack's address and its subnet */
    bool iface_is_lo;
    bool fallback_kernel;          /* MTP_FALLBACK=kernel */
    uint64_t busy_poll_ns;
    struct mtp_knobs knobs;        /* MTP_RX_CSUM, MTP_TSO */
};

struct lm_global {
    struct lm_config cfg;
    bool configured;               /* MTP is on in this process */
    pthread_mutex_t lock;
    struct mtp_fdtab fds;
    /* the stack, once started */
    struct mtp_target *target;
    struct mtp_stack *stack;
    struct mtp_socks *ss;
    int wake_fd;                   /* the target's, or -1 */
    bool start_failed;             /* the interface could not be had (reported once) */
    int start_err;
    uint64_t last_progress_ns;
    int last_poll_n;               /* what the last stack poll handled (0: nothing) */
    bool kick;                     /* readiness changed since the last kick_sleepers */
    struct lm_sleeper *sleepers;
    uint32_t n_sleepers;
    pthread_t helper;
    int helper_efd;
    bool helper_parked;            /* waits until kicked: some thread sleeps in the stack */
    uint64_t last_wake_ns;         /* an application thread last left a sleep in the stack */
    int stat_fd;                   /* mtpstat's unix socket (libmtp_stat.c), or -1 */
    int handoff_fd;                /* libmtp_handoff.c's unix socket, or -1 */
    struct lm_sock **absorb;       /* sockets whose peer closed: see lm_absorb */
    uint32_t n_absorb, cap_absorb;
    int inh_epfd;                  /* channels to children holding shares (libmtp_inherit.c),
                                      served by the helper thread; -1: none */
    unsigned fork_gen;             /* forks this process made or came from (lm_epoll) */
    const void *tx_holder;         /* the thread whose tx batch the target holds, or NULL */
};

extern struct lm_global g_lm;
extern __thread int lm_inside;

/* The libc functions we stand in front of. */
struct lm_real {
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*shutdown)(int, int);
    int (*close)(int);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    int (*recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    int (*dup)(int);
    int (*dup3)(int, int, int);
    int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);
    int (*epoll_create1)(int);
    int (*epoll_ctl)(int, int, int, struct epoll_event *);
    int (*epoll_pwait2)(int, struct epoll_event *, int, const struct timespec *, const sigset_t *);
    int (*epoll_pwait)(int, struct epoll_event *, int, int, const sigset_t *);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    int (*pselect)(int, fd_set *, fd_set *, fd_set *, const struct timespec *, const sigset_t *);
};
extern struct lm_real lm_real;

/* ---------------------------------------------------------------- core */

uint64_t lm_now(void);
void lm_lock(void);
void lm_unlock(void);             /* kicks sleepers first if readiness changed */
/* Starts the stack if needed (locked). 0, or a negative errno (reported on stderr once). */
int lm_stack_up(void);
/* Runs the stack once (locked; needs the stack). */
void lm_progress(void);
/* Sleeps (locked; unlocks while asleep) until the stack may have news, one of kfds is ready,
 * `deadline` (CLOCK_MONOTONIC ns, UINT64_MAX: none) passes or a signal arrives. With
 * MTP_BUSY_POLL_US, returns at once until *spin_until (0 at first) passes. 0 or -EINTR. */
int lm_sleep(struct pollfd *kfds, int nk, uint64_t deadline, const sigset_t *mask,
             uint64_t *spin_until);
/* A tx batch (locked): this thread got `ready` events from one wait and answers them now;
 * see "tx batches" in libmtp_core.c. lm_batch_end: it waits again, the frames go. */
void lm_batch_begin(int ready);
void lm_batch_end(void);
/* ---------------------------------------------------------------- signals (libmtp_signal.c) */

extern __thread unsigned lm_sig_count;   /* handlers run in this thread */
extern __thread bool lm_sig_interrupts;  /* one without SA_RESTART ran since the call's first sleep */
extern __thread int lm_sig_wake_fd;      /* written by each handler run (-1: none) */
void lm_signals_init(void);              /* wraps handlers installed before us */

/* Deadline from a timeout in ns from now (0 -> now, UINT64_MAX -> none). */
uint64_t lm_deadline(uint64_t timeout_ns);
/* Whether an IPv4 destination (host order) is the MTP interface's to reach. */
bool lm_ip_is_mtp(uint32_t ip);
bool lm_ip_is_local(uint32_t ip);

/* The object behind fd if it is one of ours and of this kind (lock-free peek). */
static inline struct mtp_fdobj *lm_obj(int fd)
{
    if (lm_inside || !g_lm.configured)
        return NULL;
    return mtp_fdtab_get(&g_lm.fds, fd);
}

/* The stack runs until a poll finds nothing (at most 16 rounds): what reached it is taken
 * in, as before a connection's export (a segment left in the ring would find no connection
 * once it is gone, and draw a reset). Locked. */
void lm_progress_until_idle(void);
/* send() of all of buf on a blocking socket (MSG_NOSIGNAL; retried on EINTR). */
bool lm_send_all(int fd, const void *buf, size_t len);

/* ---------------------------------------------------------------- mtpstat (libmtp_stat.c) */

int lm_stat_open(void);          /* the listening unix socket, or a negative errno */
void lm_stat_serve(void);        /* answer waiting readers (helper thread) */
void lm_stat_forget(void);       /* a forked child: the socket and its file are the parent's */

/* ---------------------------------------------------------------- reload (libmtp_handoff.c) */

int lm_handoff_open(void);       /* the listening unix socket, or a negative errno */
void lm_handoff_serve(void);     /* take what other processes offer (helper thread, unlocked) */
void lm_handoff_forget(void);    /* a forked child: the socket is the parent's */
/* Before a listener's close: the connections waiting in its queue go to another process
 * serving its port, where there is one (locked). */
void lm_handoff_queue(struct mtp_sock *l);
/* The stack's lock for a thread outside any call (the helper), if it comes within
 * timeout_ns; release with lm_kick_sleepers() and pthread_mutex_unlock. */
bool lm_lock_within(uint64_t timeout_ns);
/* Wakes the threads sleeping in the stack whose sockets' readiness changed (locked). */
void lm_kick_sleepers(void);

/* ---------------------------------------------------------------- sockets (libmtp_sock.c) */

struct lm_sock *lm_sock_of(int fd);           /* locked */
uint32_t lm_sock_events(struct lm_sock *s);    /* EPOLL* mask of an MTP socket */
void lm_sock_wake(void *user, struct mtp_sock *sk);
void lm_obj_release(struct mtp_fdobj *o);      /* last fd closed: end it (locked) */
/* After the stack ran: the unread bytes of connections whose peer has closed move into their
 * sockets (the protocol may drop its state, and its buffers, before the application reads:
 * TIME-WAIT ends, a RST comes). Locked. */
void lm_absorb(void);
/* fork (several processes on one interface): a dormant listener joins the port's group in
 * this process's stack when the process first accepts, polls or adds it to an epoll set
 * (lm_listener_join, locked; stays dormant, its kernel half serving, if the stack cannot
 * start). At fork, the parent's listeners leave their groups (lm_listeners_leave) and the
 * child's inherited ones start dormant (lm_fork_child_sockets). */
void lm_listener_join(struct lm_sock *s);
void lm_listeners_leave(void);
void lm_fork_child_sockets(void);
/* A socket added to a kernel epoll while undecided: remembered, moved when it turns MTP. */
void lm_sock_note_kernel_watch(struct lm_sock *s, int epfd, int fd, int op,
                               const struct epoll_event *ev);

/* lm_sock_of without taking an inherited connection over (walks over the fd table). */
struct lm_sock *lm_sock_of_raw(int fd);

/* ---------------------------------------------------------------- fork: inherited connections
 * (libmtp_inherit.c; all locked) */

void lm_inherit_prepare(void);             /* before fork: shares and their channel */
void lm_inherit_parent(void);              /* after fork, parent: serve the channel */
void lm_inherit_child(void);               /* after fork, child: keep the child's end */
/* In the child: inherited connection s becomes a share to take on first use (LM_INH). */
bool lm_inherit_child_keeps(struct lm_sock *s);
void lm_inherit_take(struct lm_sock *s);   /* first use in the child */
void lm_inherit_release(struct lm_sock *s);/* the child closed a share it never used */
void lm_inherit_fd_closing(int fd);        /* close(fd) of any fd (our channel's end?) */
void lm_inherit_serve(void);               /* the owner's helper: requests on its channels */
/* The owner closes its fd of s: true if a child's share keeps the connection (no FIN). */
bool lm_inherit_owner_close(struct lm_sock *s);
bool lm_inherit_pending(void);             /* shares a child may still take (exit lingers) */

/* ---------------------------------------------------------------- epoll (libmtp_poll.c) */

uint32_t lm_src_events(struct mtp_ev_src *src, void *user);
void lm_epoll_release(struct lm_epoll *ep);
/* A socket's registration in kernel epoll set `epfd` joins the user-space half (it became
 * MTP's); keep_kernel: the kernel registration stays too (a listener's kernel half). */
void lm_epoll_adopt(const struct lm_kwatch *k, struct lm_sock *s, bool keep_kernel);

/* glibc's fortified entry points (no public prototypes) */
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                       struct sockaddr *addr, socklen_t *alen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *t, const sigset_t *mask,
                size_t fdslen);
int fcntl64(int fd, int cmd, ...);

#endif
