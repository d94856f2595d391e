/*
 * libmtp_core.c — configuration (checked before main), the real libc functions, the stack
 * (started on first use), the lock, progress, sleeping and the helper thread. See libmtp.h.
 *
 * Sleeping: a thread that must wait drops the lock and sleeps in ppoll() on the target's
 * wake fd (frames arrived), its own eventfd (another thread changed readiness: it kicks
 * every sleeper when a socket's readiness changed under the lock), the kernel fds of the
 * call, and a timeout at the earlier of the call's deadline and the stack's next timer. An
 * idle process therefore sleeps in the kernel; a frame wakes it.
 *
 * The helper thread keeps the stack moving while the application computes: while some
 * thread sleeps in the stack (it polls on its own) or an application thread polled less
 * than HELPER_GRACE_NS ago, the helper stays parked; otherwise it sleeps on the wake fd and
 * the next timer, and runs the stack when the lock is free. Parked, it waits to be kicked
 * by the last sleeper to wake up, once: while application threads keep leaving sleeps (a
 * request/response loop) it naps without the lock (longer and longer, up to
 * HELPER_NAP_MAX_NS: helper_nap) until one has been awake for HELPER_GRACE_NS, so that a
 * wake-up costs the application no eventfd write and no lock hand-over to a woken helper.
 *
 * Tx batches: see lm_batch_begin.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <ifaddrs.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "libmtp.h"
#include "mtp/params.h"
#include "mtp/stack.h"
#include "mtp/target.h"

#define HELPER_GRACE_NS 1000000ull      /* the application polled this recently: stay parked */
#define HELPER_PARK_NS  100000000ull
#define HELPER_NAP_MAX_NS 16000000ull   /* the longest nap while the application keeps polling */
#define TX_BATCH_MAX_NS 100000ull       /* the longest a tx batch holds frames back */
/* A busy-polling wait that has seen nothing for this long yields the CPU at each turn. The
 * thread it waits for may be runnable on this very CPU (the scheduler wakes a thread on its
 * waker's CPU): without the yield, the two take turns only when a whole busy-poll window
 * runs out, and that round trip is the tail. Longer than most round trips on a veth. */
#define SPIN_YIELD_AFTER_NS 20000ull

struct lm_global g_lm = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake_fd = -1, .helper_efd = -1,
                         .stat_fd = -1, .handoff_fd = -1, .inh_epfd = -1};
__thread int lm_inside;
struct lm_real lm_real;

struct lm_sleeper {
    int efd;
    bool kicked; /* its eventfd was written in this sleep: once wakes it */
    struct lm_sleeper *next;
};
static __thread struct lm_sleeper me = {.efd = -1};
static __thread uint64_t tx_batch_until; /* this thread's tx batch holds until then (0: none) */
static __thread bool woke_by_fd;        /* this thread's last sleep ended on the wake fd */
static __thread bool fd_wake_idle;      /* ... and the stack's first poll after it found nothing */
static __thread unsigned idle_fd_wakes; /* see wake_fd_usable */

/* ---------------------------------------------------------------- messages */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    /* the system call itself: this runs before libc's functions are resolved too */
    long w = syscall(SYS_write, 2, "libmtp: ", 8);
    w = syscall(SYS_write, 2, line, (size_t)n);
    (void)w;
}

/* A bad configuration: one line, exit status 1, before main runs. */
static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    say("%s", line);
    _exit(1);
}

/* ---------------------------------------------------------------- libc */

static void *next_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p)
        die("cannot find libc's %s", name);
    return p;
}

#define RESOLVE(f) lm_real.f = next_sym(#f)
static void resolve_libc(void)
{
    RESOLVE(socket); RESOLVE(bind); RESOLVE(listen); RESOLVE(accept4); RESOLVE(connect);
    RESOLVE(shutdown); RESOLVE(close); RESOLVE(getsockname); RESOLVE(getpeername);
    RESOLVE(getsockopt); RESOLVE(setsockopt); RESOLVE(read); RESOLVE(readv); RESOLVE(write);
    RESOLVE(writev); RESOLVE(recvfrom); RESOLVE(recvmsg); RESOLVE(recvmmsg); RESOLVE(sendto);
    RESOLVE(sendmsg); RESOLVE(sendmmsg); RESOLVE(sendfile); RESOLVE(fcntl); RESOLVE(ioctl);
    RESOLVE(dup); RESOLVE(dup3); RESOLVE(ppoll); RESOLVE(epoll_create1); RESOLVE(epoll_ctl);
    RESOLVE(epoll_pwait2); RESOLVE(epoll_pwait); RESOLVE(execve); RESOLVE(select);
    RESOLVE(pselect);
}

/* ---------------------------------------------------------------- configuration */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void list_names(char *buf, size_t cap, const char *const *names)
{
    buf[0] = 0;
    for (size_t i = 0; names[i]; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i ? ", " : "", names[i]);
}

static void pick_proto(struct lm_config *c)
{
    const char *want = env("MTP_PROTO") ? env("MTP_PROTO") : "tcp";
    c->proto = mtp_sock_proto_find(want);
    if (c->proto)
        return;
    char names[256];
    list_names(names, sizeof names, mtp_sock_proto_names());
    die("MTP_PROTO=%s: unknown protocol (accepted: %s)", want, names);
}

/* The DPDK target lives in its own library, build/lib/libmtp_dpdk.so next to libmtp.so: an
 * application that does not ask for it never loads DPDK; one that does starts EAL when it
 * first needs the stack. */
static char dpdk_plugin[PATH_MAX];

static bool find_dpdk_plugin(void)
{
    Dl_info info;
    char self[PATH_MAX];
    if (!dladdr((void *)find_dpdk_plugin, &info) || !info.dli_fname ||
        !realpath(info.dli_fname, self))
        return false;
    snprintf(dpdk_plugin, sizeof dpdk_plugin, "%s/libmtp_dpdk.so", dirname(self));
    return access(dpdk_plugin, R_OK) == 0;
}

static void pick_target(struct lm_config *c)
{
    const char *want = env("MTP_TARGET") ? env("MTP_TARGET") : "xdp";
    bool have_dpdk = find_dpdk_plugin();
    static const char *const both[] = {"xdp", "dpdk", NULL}, *const xdp_only[] = {"xdp", NULL};
    if (!strcmp(want, "xdp")) {
        c->ops = &mtp_target_xdp;
        c->target_name = "xdp";
        return;
    }
    if (!strcmp(want, "dpdk") && have_dpdk) {
        c->ops = NULL; /* loaded on first use (load_target) */
        c->target_name = "dpdk";
        return;
    }
    char list[64];
    list_names(list, sizeof list, have_dpdk ? both : xdp_only);
    die("MTP_TARGET=%s: unknown target (accepted: %s)", want, list);
}

static int load_target(void)
{
    if (g_lm.cfg.ops)
        return 0;
    void *h = dlopen(dpdk_plugin, RTLD_NOW | RTLD_LOCAL);
    const struct mtp_target_ops *ops = h ? dlsym(h, "mtp_target_dpdk") : NULL;
    if (!ops) {
        say("MTP_TARGET=dpdk: cannot load %s: %s", dpdk_plugin, dlerror());
        return -ENOENT;
    }
    g_lm.cfg.ops = ops;
    return 0;
}

static void iface_names(char *buf, size_t cap)
{
    buf[0] = 0;
    struct if_nameindex *all = if_nameindex();
    for (struct if_nameindex *i = all; i && i->if_index; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i == all ? "" : ", ", i->if_name);
    if (all)
        if_freenameindex(all);
}

/* The interface's first IPv4 address and prefix (host order), if it has one. */
static bool iface_addr(const char *name, uint32_t *ip, uint32_t *mask)
{
    struct ifaddrs *all, *a;
    if (getifaddrs(&all) < 0)
        return false;
    bool found = false;
    for (a = all; a && !found; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || strcmp(a->ifa_name, name))
            continue;
        *ip = ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
        *mask = a->ifa_netmask ? ntohl(((struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr)
                               : 0xffffff00u;
        found = true;
    }
    freeifaddrs(all);
    return found;
}

static void pick_iface(struct lm_config *c)
{
    char names[512];
    const char *want = env("MTP_IFACE");
    if (!want && !strcmp(c->target_name, "dpdk")) { /* the device is in MTP_DPDK_ARGS */
        const char *v = env("MTP_IP");
        struct in_addr a;
        if (!v || inet_pton(AF_INET, v, &a) != 1 || a.s_addr == 0)
            die("MTP_IP%s%s: the dpdk target without MTP_IFACE needs the stack's address "
                "(accepted: dotted quad, e.g. 10.0.0.1)", v ? "=" : " is not set", v ? v : "");
        c->iface = "-";
        c->ip = ntohl(a.s_addr);
        c->mask = 0xffffff00u;
        return;
    }
    if (!want) {
        iface_names(names, sizeof names);
        die("MTP_IFACE is not set: the %s target needs an interface (accepted: %s)",
            c->target_name, names);
    }
    if (!if_nametoindex(want)) {
        iface_names(names, sizeof names);
        die("MTP_IFACE=%s: no such interface here (accepted: %s)", want, names);
    }
    c->iface = strdup(want); /* (the environment may be rewritten: see save_env) */
    if (!c->iface)
        die("out of memory");
    c->iface_is_lo = !strcmp(want, "lo");
    uint32_t ip = 0, mask = 0;
    bool has = iface_addr(want, &ip, &mask);
    const char *v = env("MTP_IP");
    if (v) {
        struct in_addr a;
        if (inet_pton(AF_INET, v, &a) != 1 || a.s_addr == 0)
            die("MTP_IP=%s: not an IPv4 address (accepted: dotted quad, e.g. 10.0.0.1)", v);
        c->ip = ntohl(a.s_addr);
        c->mask = has && ((c->ip ^ ip) & mask) == 0 ? mask : 0xffffff00u;
        return;
    }
    if (!has)
        die("MTP_IP is not set and MTP_IFACE=%s has no IPv4 address (accepted: an IPv4 "
            "address for MTP_IP, or an interface with one)", want);
    c->ip = ip;
    c->mask = mask;
}

static uint64_t number(const char *var, uint64_t max, const char *what)
{
    const char *v = env(var);
    if (!v)
        return 0;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno || n > max || *v == '-')
        die("%s=%s: not a number of %s (accepted: 0-%llu)", var, v, what, (unsigned long long)max);
    return n;
}

static void pick_rest(struct lm_config *c)
{
    c->busy_poll_ns = number("MTP_BUSY_POLL_US", 10000000, "microseconds") * 1000;
    const char *fb = env("MTP_FALLBACK");
    if (fb && strcmp(fb, "kernel") && strcmp(fb, "none"))
        die("MTP_FALLBACK=%s: unknown (accepted: none, kernel)", fb);
    c->fallback_kernel = fb && !strcmp(fb, "kernel");
    const char *mode = env("MTP_XDP_MODE");
    if (mode && strcmp(mode, "auto") && strcmp(mode, "native") && strcmp(mode, "skb"))
        die("MTP_XDP_MODE=%s: unknown mode (accepted: auto, native, skb)", mode);
    char msg[768];
    extern char **environ;
    if (mtp_params_from_env(mtp_sock_proto_program(c->proto), environ, msg, sizeof msg) < 0)
        die("%s", msg);
    if (mtp_knobs_from_env(&c->knobs, environ, msg, sizeof msg) < 0)
        die("%s", msg);
}

/* ---------------------------------------------------------------- fork */

/* fork() copies the process with one thread. The forking thread holds the lock across the
 * fork (fork_prepare), so the child's copy of the fd table and the stack is the consistent
 * state between two stack operations, never one half done by another thread.
 *
 * The child then has no helper thread and no sleepers; fds of the parent's own machinery
 * (the helper's eventfd, the forking thread's sleeper eventfd, mtpstat's socket) are copies
 * of the parent's kernel objects: the child closes its copies and makes its own on first use,
 * so a wake-up meant for the parent never lands in the child (nor the reverse).
 *
 * A parent that never started the stack (daemon() and double fork before first use, a
 * process that forks its workers before it opens a socket) leaves a child that is a full
 * MTP process: its sockets start its own stack on first use. A parent that started the stack
 * keeps it: the stack's state, its rings and its sockets are the parent's, and the child
 * forgets its copy without touching any of it (no frame, no FIN, no RST, no port released;
 * its exit runs no linger). With a target that shares its interface the child then starts
 * its own stack (leave_parent_stack); with one that owns its port (DPDK) it cannot: its MTP
 * sockets are closed and new ones fail, with one line on stderr (close_inherited_sockets). */
static __thread bool fork_locked;

static void fork_prepare(void)
{
    if (!lm_inside) /* else fork() from inside libmtp (a handler on this thread): held */
        pthread_mutex_lock(&g_lm.lock);
    g_lm.fork_gen++; /* in both copies: the kernel epolls made so far are shared now */
    if (lm_inside)
        return;
    fork_locked = true;
    if (g_lm.stack && g_lm.cfg.ops->abandon)
        lm_inherit_prepare(); /* connections the child may take over */
}

static void fork_parent(void)
{
    if (fork_locked)
        lm_inherit_parent();
    if (g_lm.stack && g_lm.cfg.ops->abandon && (fork_locked || lm_inside))
        lm_listeners_leave(); /* several processes per interface: see lm_listeners_leave */
    if (!fork_locked)
        return;
    fork_locked = false;
    pthread_mutex_unlock(&g_lm.lock);
}

static void close_copy(int *fd)
{
    if (*fd >= 0)
        lm_real.close(*fd);
    *fd = -1;
}

/* The child forgets the parent's stack: its memory is a private copy the child never reads
 * again (freeing it would run the target's close on shared rings and sockets). */
static void forget_parent_stack(void)
{
    g_lm.stack = NULL;
    g_lm.ss = NULL;
    g_lm.target = NULL;
    g_lm.wake_fd = -1;
    g_lm.n_absorb = 0;
    g_lm.stat_fd = -1;
    lm_stat_forget();
    g_lm.handoff_fd = -1;
    lm_handoff_forget();
}

/* A forked child of a process that owns its port (a target without abandon: DPDK). Its
 * copies of MTP sockets would be kernel halves whose packets go to the parent's port: an
 * accept or read there never returns. So the child closes them (every call on them fails
 * with EBADF, a poll says POLLNVAL) and says so once; a new MTP socket's listen or connect
 * fails with EOPNOTSUPP (lm_stack_up). The parent's sockets are untouched. */
static bool port_owned_unsaid;

static void say_port_owned(int n_closed)
{
    say("MTP_TARGET=%s: this forked child (pid %d) cannot use MTP sockets: the port is its "
        "parent's (one process per port); its %d inherited MTP socket(s) are closed here "
        "(EBADF) and new ones fail (EOPNOTSUPP). Fix: MTP_TARGET=xdp for several processes, "
        "or one process (nginx: 'daemon off; master_process off;')",
        g_lm.cfg.target_name, (int)getpid(), n_closed);
}

static int close_inherited_sockets(void)
{
    int n = 0;
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, (int)fd);
        if (o && o->kind == LM_SOCK && lm_real.close((int)fd) == 0)
            n++;
    }
    return n;
}

/* A target that lets several processes share the interface (ops->abandon): the child frees
 * its copy of the parent's target (touching nothing shared) and becomes a process of its
 * own, whose stack joins the interface on first use; its inherited listeners join their
 * port groups when it first accepts or polls on them (lm_fork_child_sockets). Otherwise the
 * port is the parent's: see close_inherited_sockets. */
static void leave_parent_stack(void)
{
    if (g_lm.cfg.ops->abandon) {
        g_lm.cfg.ops->abandon(g_lm.target);
        forget_parent_stack();
        lm_fork_child_sockets();
        return;
    }
    int closed = close_inherited_sockets();
    forget_parent_stack();
    mtp_fdtab_init(&g_lm.fds); /* the copies of our epoll sets: kernel fds now */
    g_lm.start_failed = true;  /* new MTP sockets fail (or use the kernel: MTP_FALLBACK) */
    g_lm.start_err = -EOPNOTSUPP;
    port_owned_unsaid = !closed;
    if (closed)
        say_port_owned(closed);
}

static void fork_child(void)
{
    pthread_mutex_init(&g_lm.lock, NULL);
    if (lm_inside)
        pthread_mutex_lock(&g_lm.lock); /* as the forking thread held it */
    fork_locked = false;
    g_lm.sleepers = NULL;
    g_lm.n_sleepers = 0;
    g_lm.tx_holder = NULL; /* the parent's frames are the parent's */
    tx_batch_until = 0;
    g_lm.helper_parked = false;
    g_lm.kick = false;
    close_copy(&g_lm.helper_efd);
    close_copy(&me.efd);
    woke_by_fd = false;
    fd_wake_idle = false;
    idle_fd_wakes = 0;
    lm_inherit_child();
    if (g_lm.stack)
        leave_parent_stack();
}

/* Our configuration as it was before main: an application may rebuild its environment
 * (nginx keeps only TZ in its master and workers, and writes its process title over the
 * original strings). The stack, which starts later, perhaps in a forked worker, and the
 * target read MTP_* from the environment: the missing ones are put back first. */
static char **saved_env;

static void save_env(void)
{
    extern char **environ;
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n += !strncmp(*e, "MTP_", 4);
    saved_env = calloc(n + 1, sizeof *saved_env);
    for (size_t i = 0; saved_env && environ && environ[i]; i++)
        if (!strncmp(environ[i], "MTP_", 4))
            saved_env[--n] = strdup(environ[i]);
}

static void restore_env(void)
{
    for (char **e = saved_env; e && *e; e++) {
        char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        *eq = 0;
        if (!getenv(*e))
            setenv(*e, eq + 1, 0);
        *eq = '=';
    }
}

__attribute__((constructor)) static void lm_init(void)
{
    lm_signals_init();
    resolve_libc();
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    mtp_fdtab_init(&g_lm.fds);
    pick_proto(&g_lm.cfg);
    pick_target(&g_lm.cfg);
    pick_iface(&g_lm.cfg);
    pick_rest(&g_lm.cfg);
    save_env();
    g_lm.configured = true;
}

/* ---------------------------------------------------------------- time, lock */

uint64_t lm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t lm_deadline(uint64_t timeout_ns)
{
    if (timeout_ns == UINT64_MAX)
        return UINT64_MAX;
    uint64_t now = lm_now();
    return timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
}

static void signals_mark(void);

/* ---------------------------------------------------------------- tx batches
 *
 * An event loop that gets several ready sockets from one epoll_wait answers them one after
 * the other, and each answer's frames left at once: on AF_XDP in copy mode a sendto per
 * reply, the largest single cost of a small one. While a thread handles such a batch the
 * target holds its frames on the tx ring (tx_hold: at most its own limit, 32 frames on
 * XDP) and they leave together when the thread waits again (epoll_wait, poll, select, any
 * sleep in the stack), at its first call once the oldest has waited TX_BATCH_MAX_NS (the
 * batch goes on), or when another thread or the helper takes the lock. A reply is thus late
 * by the time the thread takes to answer the next ones, at most TX_BATCH_MAX_NS while it
 * keeps calling into libmtp. A thread that stops calling in the middle of a batch (blocks
 * in a kernel call, computes) leaves its last frames to the helper, which runs the stack
 * once the application has not called for HELPER_GRACE_NS: at most HELPER_NAP_MAX_NS
 * later. No batch starts while the helper is parked (it would not look). */

static void tx_hold_release(void)
{
    g_lm.tx_holder = NULL;
    if (g_lm.target)
        g_lm.cfg.ops->tx_hold(g_lm.target, 0);
}

void lm_batch_begin(int ready)
{
    if (ready < 2 || !g_lm.stack || !g_lm.cfg.ops->tx_hold || g_lm.helper_parked)
        return;
    tx_batch_until = lm_now() + TX_BATCH_MAX_NS;
    if (g_lm.tx_holder != &me) {
        g_lm.tx_holder = &me;
        g_lm.cfg.ops->tx_hold(g_lm.target, 1);
    }
}

void lm_batch_end(void)
{
    tx_batch_until = 0;
    if (g_lm.tx_holder)
        tx_hold_release();
}

/* At each lock: the target holds frames for its holder alone, none longer than
 * TX_BATCH_MAX_NS (give or take the holder's time between two calls). */
static void tx_hold_check(void)
{
    if (!g_lm.tx_holder)
        return;
    if (g_lm.tx_holder != &me || !tx_batch_until) {
        tx_hold_release();
        return;
    }
    uint64_t now = lm_now();
    if (now < tx_batch_until)
        return;
    g_lm.cfg.ops->tx_hold(g_lm.target, 0); /* the batch goes on; what it held goes now */
    g_lm.cfg.ops->tx_hold(g_lm.target, 1);
    tx_batch_until = now + TX_BATCH_MAX_NS;
}

void lm_lock(void)
{
    pthread_mutex_lock(&g_lm.lock);
    lm_inside++;
    signals_mark();
    tx_hold_check();
}

bool lm_lock_within(uint64_t timeout_ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + timeout_ns;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    if (pthread_mutex_timedlock(&g_lm.lock, &ts) != 0)
        return false;
    tx_hold_check();
    return true;
}

void lm_kick_sleepers(void)
{
    if (!g_lm.kick)
        return;
    g_lm.kick = false;
    for (struct lm_sleeper *s = g_lm.sleepers; s; s = s->next) {
        if (s == &me || s->kicked)
            continue;
        s->kicked = true;
        uint64_t one = 1;
        ssize_t w = write(s->efd, &one, sizeof one);
        (void)w;
    }
}

/* Signals while a call waits (libmtp_signal.c). As with the kernel, a handler that runs
 * after a call began ends its sleep with EINTR: the call marks the thread's handler count
 * when it first takes the lock, and each sleep compares. From the first sleep the trampoline
 * also writes the thread's eventfd, so a handler that runs between the stack's last look and
 * ppoll cannot leave the call asleep. */
static __thread bool sig_marked;
static __thread unsigned sig_mark;

static void signals_mark(void)
{
    if (sig_marked)
        return;
    sig_marked = true;
    sig_mark = lm_sig_count;
    lm_sig_interrupts = false;
}

/* Whether a handler ran since the mark (and marks again: one EINTR per batch of signals). */
static bool signal_came(void)
{
    if (lm_sig_wake_fd < 0) {
        if (me.efd < 0)
            me.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        lm_sig_wake_fd = me.efd;
    }
    if (lm_sig_count == sig_mark)
        return false;
    sig_mark = lm_sig_count;
    return true;
}

/* Blocks every signal but the faults in this thread; the mask before goes to *old. */
static int block_signals(sigset_t *old)
{
    sigset_t all;
    sigfillset(&all);
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(&all, faults[i]);
    return pthread_sigmask(SIG_BLOCK, &all, old);
}

static void signals_unmark(void)
{
    sig_marked = false;
    lm_sig_wake_fd = -1;
}

/* Lets go of the lock in the middle of a call (to sleep or spin): the call's signal mark stays. */
static void unlock_within_call(void)
{
    lm_kick_sleepers();
    lm_inside--;
    pthread_mutex_unlock(&g_lm.lock);
}

void lm_unlock(void)
{
    unlock_within_call();
    if (!lm_inside)
        signals_unmark();
}

/* ---------------------------------------------------------------- the stack */

static void *helper_main(void *arg);

/* The program's source basename ("tcp" for mtp-programs/tcp.mtp): how the xdp target finds
 * the hook object built for it (next to libmtp.so: ../bpf/tcp.bpf.o). */
static const char *prog_basename(char *buf, size_t cap)
{
    const struct mtp_program *prog = mtp_sock_proto_program(g_lm.cfg.proto);
    char src[PATH_MAX];
    snprintf(src, sizeof src, "%s", prog->source ? prog->source : prog->name);
    char *base = basename(src), *dot = strrchr(base, '.');
    if (dot)
        *dot = 0;
    snprintf(buf, cap, "%s", base);
    return buf;
}

static int start_failed(int err, const char *why)
{
    g_lm.start_failed = true;
    g_lm.start_err = err;
    if (!g_lm.cfg.fallback_kernel)
        return err; /* the target printed its one line naming the reason */
    say("cannot use MTP_IFACE=%s with MTP_TARGET=%s: %s; %s", g_lm.cfg.iface,
        g_lm.cfg.target_name, why,
        g_lm.cfg.fallback_kernel ? "its sockets use the kernel (MTP_FALLBACK=kernel)"
                                 : "sockets fail (set MTP_FALLBACK=kernel to use the kernel)");
    return err;
}

int lm_stack_up(void)
{
    if (g_lm.stack)
        return 0;
    if (g_lm.start_failed) {
        if (port_owned_unsaid) { /* said once per child */
            port_owned_unsaid = false;
            say_port_owned(0);
        }
        return g_lm.start_err;
    }
    const struct lm_config *c = &g_lm.cfg;
    const struct mtp_program *prog = mtp_sock_proto_program(c->proto);
    char name[256];
    restore_env();
    int err = load_target();
    if (err)
        return start_failed(err, "the DPDK target cannot be loaded");
    struct mtp_target_config tcfg = {
        .iface = c->iface, .queue = 0, .ip_proto = prog->ip_proto,
        .steer_port_off = prog->steer_port_off, .prog_name = prog_basename(name, sizeof name),
        .args = c->ops->args_env ? env(c->ops->args_env) : NULL,
    };
    mtp_knobs_apply(&c->knobs, NULL, &tcfg);
    /* The threads the target starts (DPDK's eal-intr-thread) and our helper inherit a mask
     * that blocks every signal: one sent to the process (SIGTERM) must reach an application
     * thread, whose handler interrupts its sleep. Taken by a thread of ours, nginx's SIGTERM
     * set a flag its main thread, asleep in epoll_wait, never looked at. */
    sigset_t app_mask;
    block_signals(&app_mask);
    err = c->ops->open(&g_lm.target, &tcfg);
    pthread_sigmask(SIG_SETMASK, &app_mask, NULL);
    if (err)
        return start_failed(err < 0 ? err : -EIO, strerror(err < 0 ? -err : EIO));
    struct mtp_stack_config scfg = {
        .prog = prog, .ops = c->ops, .target = g_lm.target, .ipv4 = c->ip,
        .pcap_path = env("MTP_PCAP"),
    };
    mtp_knobs_apply(&c->knobs, &scfg, NULL);
    g_lm.stack = mtp_stack_new(&scfg, &err);
    if (g_lm.stack)
        g_lm.ss = mtp_socks_new(g_lm.stack, c->proto, &err);
    if (!g_lm.ss) {
        if (g_lm.stack)
            mtp_stack_free(g_lm.stack);
        g_lm.stack = NULL;
        c->ops->close(g_lm.target);
        return start_failed(err, "cannot start the stack");
    }
    mtp_socks_set_wake(g_lm.ss, lm_sock_wake, NULL);
    g_lm.wake_fd = c->ops->wake_fd(g_lm.target);
    g_lm.last_progress_ns = lm_now();
    int sfd = lm_stat_open();
    g_lm.stat_fd = sfd >= 0 ? sfd : -1;
    int hfd = lm_handoff_open();
    g_lm.handoff_fd = hfd >= 0 ? hfd : -1;
    g_lm.helper_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    block_signals(&app_mask);
    if (g_lm.helper_efd >= 0 && pthread_create(&g_lm.helper, NULL, helper_main, NULL) != 0) {
        close(g_lm.helper_efd);
        g_lm.helper_efd = -1;
    }
    pthread_sigmask(SIG_SETMASK, &app_mask, NULL);
    return 0;
}

/* The wake fd said "frames", the stack then found nothing to do and the fd is still readable,
 * several times running: a target whose fd stays readable without work (a frame it cannot
 * take yet) must not make sleepers spin. Until the stack handles something again, they look
 * every millisecond instead of waiting on the fd. What counts is the first poll after the
 * wake-up: later polls of the same call (the next recv after the one that got the bytes)
 * find nothing as a rule, and must not cost a look at the fd each time. */
#define STUCK_WAKES 4

static void polled(int n)
{
    g_lm.last_poll_n = n;
    if (woke_by_fd) {
        fd_wake_idle = n == 0;
        woke_by_fd = false;
    }
}

void lm_progress(void)
{
    if (!g_lm.stack)
        return; /* only dormant listeners (their kernel halves) so far */
    uint64_t now = lm_now();
    polled(mtp_socks_poll(g_lm.ss, now));
    lm_absorb();
    __atomic_store_n(&g_lm.last_progress_ns, now, __ATOMIC_RELAXED); /* the helper peeks */
}

void lm_progress_until_idle(void)
{
    for (int i = 0; i < 16; i++) {
        lm_progress();
        if (g_lm.last_poll_n == 0)
            break;
    }
}

bool lm_send_all(int fd, const void *buf, size_t len)
{
    for (const uint8_t *p = buf; len;) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Once per sleep, after the stack ran: may this thread wait on the wake fd? */
static bool wake_fd_usable(void)
{
    struct pollfd p = {.fd = g_lm.wake_fd, .events = POLLIN};
    struct timespec zero = {0, 0};
    if (fd_wake_idle && lm_real.ppoll(&p, 1, &zero, NULL) == 1)
        idle_fd_wakes++; /* still readable right after a poll that found nothing */
    else
        idle_fd_wakes = 0;
    fd_wake_idle = false;
    woke_by_fd = false;
    return g_lm.wake_fd >= 0 && idle_fd_wakes < STUCK_WAKES;
}

/* ---------------------------------------------------------------- sleeping */

static void sleeper_add(void)
{
    if (me.efd < 0)
        me.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    me.kicked = false;
    me.next = g_lm.sleepers;
    g_lm.sleepers = &me;
    g_lm.n_sleepers++;
}

static void sleeper_remove(void)
{
    struct lm_sleeper **pp = &g_lm.sleepers;
    while (*pp && *pp != &me)
        pp = &(*pp)->next;
    if (*pp)
        *pp = me.next;
    g_lm.n_sleepers--;
    __atomic_store_n(&g_lm.last_wake_ns, lm_now(), __ATOMIC_RELAXED);
    if (g_lm.n_sleepers == 0 && g_lm.helper_parked && g_lm.helper_efd >= 0) {
        g_lm.helper_parked = false; /* one kick: it naps while the sleepers keep waking */
        uint64_t one = 1; /* nobody polls now: the helper takes over */
        ssize_t w = write(g_lm.helper_efd, &one, sizeof one);
        (void)w;
    }
}

static struct timespec ts_of(uint64_t ns)
{
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
                             .tv_nsec = (long)(ns % 1000000000ull)};
}

int lm_sleep(struct pollfd *kfds, int nk, uint64_t deadline, const sigset_t *mask,
             uint64_t *spin_until)
{
    lm_batch_end(); /* what this thread sent goes before it waits */
    if (signal_came())
        return -EINTR;
    uint64_t now = lm_now();
    if (g_lm.cfg.busy_poll_ns && g_lm.stack) {
        if (!*spin_until)
            *spin_until = now + g_lm.cfg.busy_poll_ns;
        if (now < *spin_until && now < deadline) {
            if (nk) { /* the kernel fds too, without sleeping */
                struct timespec zero = {0, 0};
                lm_real.ppoll(kfds, (nfds_t)nk, &zero, NULL);
            }
            unlock_within_call();
            if (now + g_lm.cfg.busy_poll_ns - *spin_until >= SPIN_YIELD_AFTER_NS)
                sched_yield();
            lm_lock();
            return 0;
        }
    }
    bool use_fd = false;
    if (g_lm.stack) {
        uint64_t timer = g_lm.ss ? mtp_socks_next_deadline(g_lm.ss) : mtp_stack_next_deadline(g_lm.stack);
        if (timer < deadline)
            deadline = timer;
        use_fd = wake_fd_usable();
        if (!use_fd && deadline > now + 1000000) /* no wake fd: look every ms */
            deadline = now + 1000000;
    }
    struct pollfd local[64], *pf = local;
    if (nk + 2 > 64 && !(pf = malloc(sizeof *pf * (size_t)(nk + 2))))
        return -ENOMEM;
    int n = 0;
    if (use_fd)
        pf[n++] = (struct pollfd){.fd = g_lm.wake_fd, .events = POLLIN};
    sleeper_add();
    pf[n++] = (struct pollfd){.fd = me.efd, .events = POLLIN};
    int base = n;
    for (int i = 0; i < nk; i++)
        pf[n++] = kfds[i];
    struct timespec ts = ts_of(deadline > now ? deadline - now : 0);
    unlock_within_call();
    int r = lm_real.ppoll(pf, (nfds_t)n, deadline == UINT64_MAX ? NULL : &ts, mask);
    int err = errno;
    lm_lock();
    sleeper_remove();
    woke_by_fd = r > 0 && use_fd && (pf[0].revents & POLLIN);
    if (r > 0 && (pf[base - 1].revents & POLLIN)) {
        uint64_t v;
        ssize_t rd = read(me.efd, &v, sizeof v);
        (void)rd;
    }
    for (int i = 0; i < nk; i++)
        kfds[i].revents = r > 0 ? pf[base + i].revents : 0;
    if (pf != local)
        free(pf);
    if (signal_came())
        return -EINTR;
    if (r < 0 && err == EINTR) { /* a handler not installed through us: assume no SA_RESTART */
        lm_sig_interrupts = true;
        return -EINTR;
    }
    return 0;
}

/* ---------------------------------------------------------------- helper thread */

/* Returns whether the wake fd was readable. */
static bool helper_wait(int with_wake_fd, uint64_t timeout_ns)
{
    struct pollfd pf[5] = {{.fd = g_lm.helper_efd, .events = POLLIN},
                           {.fd = g_lm.stat_fd, .events = POLLIN}, {.fd = -1},
                           {.fd = __atomic_load_n(&g_lm.inh_epfd, __ATOMIC_RELAXED),
                            .events = POLLIN},
                           {.fd = g_lm.handoff_fd, .events = POLLIN}};
    if (with_wake_fd)
        pf[2] = (struct pollfd){.fd = g_lm.wake_fd, .events = POLLIN};
    struct timespec ts = ts_of(timeout_ns);
    if (lm_real.ppoll(pf, 5, timeout_ns == UINT64_MAX ? NULL : &ts, NULL) <= 0)
        return false;
    if (pf[3].revents & POLLIN) { /* a forked child takes or lets go of a connection */
        pthread_mutex_lock(&g_lm.lock);
        tx_hold_check();
        lm_inherit_serve();
        lm_kick_sleepers(); /* (an fd of ours whose connection went to the child) */
        pthread_mutex_unlock(&g_lm.lock);
    }
    if (pf[0].revents & POLLIN) {
        uint64_t v;
        ssize_t rd = read(g_lm.helper_efd, &v, sizeof v);
        (void)rd;
    }
    if (pf[1].revents & POLLIN)
        lm_stat_serve();
    if (pf[4].revents & POLLIN) /* another process's closing listener offers its queue */
        lm_handoff_serve();
    return (pf[2].revents & POLLIN) != 0;
}

/* How long the helper naps while application threads poll the stack themselves: until their
 * grace period would end, and twice as long as last time while they keep at it, up to
 * HELPER_NAP_MAX_NS. Each wake-up of the helper preempts a thread on its CPU; every 1 ms, it
 * cost a busy-polling sockperf about 2 % of its round trips (p99 26.6 -> 22.7 us). The price:
 * a thread that stops calling into the stack after a long busy spell has its packets and
 * timers served up to HELPER_NAP_MAX_NS late. */
static uint64_t helper_nap(uint64_t *streak, uint64_t quiet)
{
    uint64_t nap = HELPER_GRACE_NS - quiet;
    if (nap < *streak)
        nap = *streak;
    *streak = *streak ? *streak * 2 : HELPER_GRACE_NS;
    if (*streak > HELPER_NAP_MAX_NS)
        *streak = HELPER_NAP_MAX_NS;
    return nap;
}

static void *helper_main(void *arg)
{
    (void)arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals are the application's threads' */
    lm_inside = 1;                          /* our own calls go straight to libc */
    uint64_t streak = 0;                    /* the application's polling, seen at each nap */
    for (;;) {
        /* Application threads that polled the stack or left a sleep in it within the grace
         * period poll it themselves: nap without taking the lock from them. */
        uint64_t woke = __atomic_load_n(&g_lm.last_wake_ns, __ATOMIC_RELAXED);
        uint64_t ran = __atomic_load_n(&g_lm.last_progress_ns, __ATOMIC_RELAXED);
        uint64_t quiet = lm_now() - (woke > ran ? woke : ran);
        if (quiet < HELPER_GRACE_NS) {
            helper_wait(0, helper_nap(&streak, quiet));
            continue;
        }
        streak = 0;
        pthread_mutex_lock(&g_lm.lock);
        tx_hold_check();
        uint64_t now = lm_now();
        bool others = g_lm.n_sleepers > 0;
        uint64_t since = now - g_lm.last_progress_ns;
        if (!others && since >= HELPER_GRACE_NS) {
            polled(mtp_socks_poll(g_lm.ss, now));
            lm_absorb();
            __atomic_store_n(&g_lm.last_progress_ns, now, __ATOMIC_RELAXED);
            lm_kick_sleepers();
        }
        uint64_t timer = g_lm.ss ? mtp_socks_next_deadline(g_lm.ss) : mtp_stack_next_deadline(g_lm.stack);
        g_lm.helper_parked = others;
        pthread_mutex_unlock(&g_lm.lock);
        if (others) {
            helper_wait(0, HELPER_PARK_NS);
        } else if (since < HELPER_GRACE_NS) {
            helper_wait(0, HELPER_GRACE_NS - since);
        } else {
            uint64_t t = timer == UINT64_MAX ? HELPER_PARK_NS : timer > now ? timer - now : 0;
            bool fd_ok = wake_fd_usable();
            if (!fd_ok && t > 1000000)
                t = 1000000;
            woke_by_fd = helper_wait(fd_ok, t < HELPER_PARK_NS ? t : HELPER_PARK_NS);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- exit */

#define EXIT_LINGER_NS (3ull * 1000000000ull)
#define EXIT_FIN_WAIT_NS (500ull * 1000000ull)

enum exit_wait {
    EXIT_DONE,
    EXIT_PEER_FIN,   /* only peers' FINs to come (FIN-WAIT-2) */
    EXIT_DELIVERING, /* bytes or our close to deliver (FIN-WAIT-1, LAST-ACK, CLOSING) */
};

/* What the exit still waits for (the shim's closest Linux states). The kernel keeps a
 * connection in FIN-WAIT-2 after its process for tcp_fin_timeout, so that the peer's FIN
 * (most peers send it at once) is acknowledged, not answered with a reset: we wait
 * EXIT_FIN_WAIT_NS for those. */
static enum exit_wait exit_waits_for(void)
{
    enum exit_wait w = EXIT_DONE;
    uint32_t cursor = 0;
    for (struct mtp_sock *sk = mtp_socks_next(g_lm.ss, NULL, &cursor); sk;
         sk = mtp_socks_next(g_lm.ss, sk, &cursor)) {
        struct mtp_sock_info in;
        if (mtp_sock_is_listener(sk) || mtp_sock_info(sk, &in) < 0)
            continue;
        if (in.tx_queued || in.tcp_state == 4 || in.tcp_state == 9 || in.tcp_state == 11)
            return EXIT_DELIVERING;
        if (in.tcp_state == 5)
            w = EXIT_PEER_FIN;
    }
    /* a child may still take one over (the helper serves it) */
    return lm_inherit_pending() ? EXIT_DELIVERING : w;
}

/* At exit the kernel would close every socket and still deliver what was written: we close
 * them and run the stack until the bytes and the closes are through (3 s at most). A
 * process killed by a signal loses what was in flight. */
__attribute__((destructor)) static void lm_fini(void)
{
    if (!g_lm.stack)
        return;
    lm_lock();
    uint32_t cap = mtp_fdtab_cap(&g_lm.fds);
    for (uint32_t fd = 0; fd < cap; fd++) {
        struct mtp_fdobj *o = mtp_fdtab_get(&g_lm.fds, (int)fd);
        if (o && o->kind == LM_SOCK && (o = mtp_fdtab_clear(&g_lm.fds, (int)fd)))
            lm_obj_release(o);
    }
    mtp_socks_exit(g_lm.ss, lm_now()); /* what outlives the sockets (connections) ends too */
    uint64_t start = lm_now(), end = start + EXIT_LINGER_NS, spin = 0;
    for (;;) {
        lm_progress();
        enum exit_wait w = exit_waits_for();
        uint64_t now = lm_now();
        if (w == EXIT_DONE || now >= end || (w == EXIT_PEER_FIN && now >= start + EXIT_FIN_WAIT_NS))
            break;
        lm_sleep(NULL, 0, end, NULL, &spin);
    }
    if (!g_lm.cfg.ops->abandon) {
        /* A target that owns its port (no abandon: DPDK) can leave state on the interface
         * that outlives the process: net_af_xdp's XDP program stays attached, and the next
         * program there (MTP_TARGET=xdp, another DPDK port) is refused. Close it. The lock
         * stays held: the process is ending, and no other thread may touch the stack after
         * this; this thread's own later calls go straight to libc (lm_inside). A target that
         * shares its interface (abandon) is released by the kernel with the process. */
        g_lm.cfg.ops->close(g_lm.target);
        return;
    }
    lm_unlock();
}

/* ---------------------------------------------------------------- routing */

bool lm_ip_is_mtp(uint32_t ip)
{
    const struct lm_config *c = &g_lm.cfg;
    if (!g_lm.configured || (g_lm.start_failed && c->fallback_kernel))
        return false;
    if (ip == c->ip)
        return c->iface_is_lo; /* our own address: the kernel's loopback, unless MTP is on lo */
    if (c->iface_is_lo)
        return false;
    return (ip & c->mask) == (c->ip & c->mask) && (ip | c->mask) != 0xffffffffu;
}

bool lm_ip_is_local(uint32_t ip)
{
    if (!g_lm.configured || (g_lm.start_failed && g_lm.cfg.fallback_kernel))
        return false;
    return ip == 0 || ip == g_lm.cfg.ip;
}
