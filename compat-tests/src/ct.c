/* ct.c — the compat-tests harness: argument parsing, peer threads, TAP output, checks, and
 * the small socket helpers every program uses. See ct.h. */
#include "ct.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int fails;             /* failed checks of the side running in this thread */
static __thread const char *side_name;
static __thread const char *skip_why;   /* set by ct_skip in the local side */ /* "peer <case>" in peer threads, NULL in the main one */
static atomic_int peer_failures;
static int timeout_s = 60;
static void hash_reply(int fd);

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&out_lock);
    vprintf(fmt, ap);
    fflush(stdout);
    pthread_mutex_unlock(&out_lock);
    va_end(ap);
}

void ct_note(const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    say("# %s%s%s\n", side_name ? side_name : "", side_name ? ": " : "", buf);
}

void ct_skip(const char *why) { skip_why = why; }

bool ct__check(bool ok, const char *file, int line, const char *what)
{
    if (!ok) {
        fails++;
        ct_note("%s:%d: expected %s", file, line, what);
    }
    return ok;
}

bool ct__check_eq(long got, long want, const char *file, int line, const char *what)
{
    if (got == want)
        return true;
    fails++;
    ct_note("%s:%d: %s: got %ld, want %ld", file, line, what, got, want);
    return false;
}

bool ct__check_err(long ret, int err, int want, const char *file, int line, const char *what)
{
    if (ret == -1 && err == want)
        return true;
    fails++;
    if (ret == -1)
        ct_note("%s:%d: %s: errno %s (%s), want %s", file, line, what, strerrorname_np(err),
                strerror(err), strerrorname_np(want));
    else
        ct_note("%s:%d: %s: returned %ld, want -1 errno %s", file, line, what, ret,
                strerrorname_np(want));
    return false;
}

bool ct__check_ok(long ret, int err, const char *file, int line, const char *what)
{
    if (ret >= 0)
        return true;
    fails++;
    ct_note("%s:%d: %s failed: %s (%s)", file, line, what, strerrorname_np(err), strerror(err));
    return false;
}

/* ------------------------------------------------------------ helpers */

struct sockaddr_in ct_sin(const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

uint64_t ct_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void ct_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int ct_listen(const char *ip, int port)
{
    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0)), one = 1;
    if (fd < 0)
        return -1;
    struct sockaddr_in a = ct_sin(ip, port);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (CT_OK(bind(fd, (struct sockaddr *)&a, sizeof a)) < 0 || CT_OK(listen(fd, 16)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int ct_wait(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    uint64_t end = ct_now_ms() + (uint64_t)ms;
    for (;;) {
        int n = poll(&p, 1, ms);
        if (n > 0)
            return p.revents;
        if (n == 0 || errno != EINTR)
            return 0;
        uint64_t now = ct_now_ms();
        ms = now >= end ? 0 : (int)(end - now);
    }
}

static int accept_within(int lfd, int ms)
{
    if (!CT_TRUE(ct_wait(lfd, POLLIN, ms) & POLLIN))
        return -1;
    return (int)CT_OK(accept(lfd, NULL, NULL));
}

int ct_accept(int lfd) { return accept_within(lfd, 10000); }

static int connect_retry(const char *ip, int port, int ms)
{
    struct sockaddr_in a = ct_sin(ip, port);
    uint64_t end = ct_now_ms() + (uint64_t)ms;
    for (;;) {
        int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        int e = errno;
        close(fd);
        if (e != ECONNREFUSED || ct_now_ms() > end) {
            CT_ERR((errno = e, -1L), 0); /* reports the errno */
            return -1;
        }
        ct_sleep_ms(20);
    }
}

int ct_connect(const char *ip, int port) { return connect_retry(ip, port, 10000); }

int ct_peer_accept(const struct ct_ctx *c)
{
    int l = ct_listen(c->pip, c->port);
    if (l < 0)
        return -1;
    int fd = accept_within(l, timeout_s * 1000); /* the local side may be cases behind */
    close(l);
    return fd;
}

int ct_peer_connect(const struct ct_ctx *c) { return connect_retry(c->lip, c->port, timeout_s * 1000); }

bool ct_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN && ct_wait(fd, POLLOUT, 10000))
            continue;
        if (!CT_TRUE(w > 0)) {
            ct_note("write: %s", w < 0 ? strerror(errno) : "0");
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

bool ct_read_n(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        if (!ct_wait(fd, POLLIN, 10000)) {
            ct_note("read: nothing for 10 s (%zu bytes missing)", n);
            fails++;
            return false;
        }
        ssize_t r = read(fd, p, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0) {
            ct_note("read: %s (%zu bytes missing)", r < 0 ? strerror(errno) : "EOF", n);
            fails++;
            return false;
        }
        p += r;
        n -= (size_t)r;
    }
    return true;
}

long ct_drain(int fd)
{
    char buf[65536];
    long total = 0;
    for (;;) {
        if (!ct_wait(fd, POLLIN, 10000))
            return -1;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            return total;
        total += r;
    }
}

uint64_t ct_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* ------------------------------------------------------------ ready-made peers */

void ct_peer_echo(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char buf[65536];
    for (;;) {
        if (!ct_wait(fd, POLLIN, 15000))
            break;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0 || !ct_write_all(fd, buf, (size_t)r))
            break;
    }
    close(fd);
}

static void hash_reply(int fd)
{
    char buf[65536];
    uint64_t h = 0xcbf29ce484222325ULL;
    long total = 0;
    for (;;) {
        if (!CT_TRUE(ct_wait(fd, POLLIN, 15000)))
            break;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        h = ct_fnv(h, buf, (size_t)r);
        total += r;
    }
    int n = snprintf(buf, sizeof buf, "%ld %016llx\n", total, (unsigned long long)h);
    ct_write_all(fd, buf, (size_t)n);
    close(fd);
}

void ct_peer_hash(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd >= 0)
        hash_reply(fd);
}

void ct_peer_slow_hash(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    ct_wait(fd, POLLIN, 10000);
    ct_sleep_ms(300);
    hash_reply(fd);
}

void ct_peer_hold(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    ct_drain(fd);
    close(fd);
}

void ct_peer_rst(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b; /* the other side's connect() has returned once it sends (else it may see the reset) */
    if (ct_wait(fd, POLLIN, 10000))
        CT_EQ(read(fd, &b, 1), 1);
    struct linger lg = {1, 0};
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    close(fd);
}

void ct_peer_fin(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd >= 0)
        close(fd);
}

void ct_peer_stall(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    ct_wait(fd, POLLRDHUP, 20000);
    close(fd);
}

void ct_peer_hello(const struct ct_ctx *c)
{
    int fd = ct_peer_connect(c);
    if (fd < 0)
        return;
    ct_write_all(fd, "hello", 5);
    ct_drain(fd);
    close(fd);
}

/* ------------------------------------------------------------ running */

struct peer_arg {
    const struct ct_case *kase;
    struct ct_ctx ctx;
    char name[96];
};

static void *peer_thread(void *p)
{
    struct peer_arg *a = p;
    side_name = a->name;
    a->kase->peer(&a->ctx);
    if (fails) {
        ct_note("failed");
        atomic_fetch_add(&peer_failures, 1);
    }
    return NULL;
}

static void *watchdog(void *unused)
{
    (void)unused;
    ct_sleep_ms(timeout_s * 1000);
    say("not ok - watchdog: still running after %d s (CT_TIMEOUT)\n", timeout_s);
    _exit(3);
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s [--peer] [--lip IPV4] [--pip IPV4] [--port BASE] [--only N]\n",
            prog);
    exit(2);
}

static pthread_t *start_peers(const struct ct_case *cases, int n, const struct ct_ctx *base,
                              int only, struct peer_arg *args)
{
    pthread_t *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        if (!cases[i].peer || (only && only != i + 1))
            continue;
        args[i] = (struct peer_arg){.kase = &cases[i], .ctx = *base};
        args[i].ctx.port = base->port + i;
        snprintf(args[i].name, sizeof args[i].name, "peer %d %s", i + 1, cases[i].name);
        pthread_create(&t[i], NULL, peer_thread, &args[i]);
    }
    return t;
}

int ct_main(int argc, char **argv, const struct ct_case *cases, int ncases)
{
    static const struct option opts[] = {
        {"peer", no_argument, 0, 'P'}, {"lip", required_argument, 0, 'l'},
        {"pip", required_argument, 0, 'p'}, {"port", required_argument, 0, 'b'},
        {"only", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    bool peer_only = false, split = false;
    int only = 0, o;
    struct ct_ctx base = {.lip = "127.0.0.1", .pip = "127.0.0.1", .port = 0};
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'P': peer_only = true; break;
        case 'l': base.lip = optarg; split = true; break;
        case 'p': base.pip = optarg; split = true; break;
        case 'b': base.port = atoi(optarg); break;
        case 'o': only = atoi(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || (peer_only && !split))
        usage(argv[0]);
    if (getenv("CT_TIMEOUT"))
        timeout_s = atoi(getenv("CT_TIMEOUT"));
    const char *only_env = getenv("CT_ONLY"); /* as --only, for a runner (run.sh) */
    if (!only && only_env && *only_env) {
        char *end;
        long n = strtol(only_env, &end, 10);
        if (*end || n < 1 || n > ncases) {
            fprintf(stderr, "CT_ONLY=%s: want a case number, 1..%d\n", only_env, ncases);
            return 2;
        }
        only = (int)n;
    }
    if (base.port == 0) /* own port range per run on a shared loopback */
        base.port = 10000 + (int)(getpid() % 200) * 100; /* below the ephemeral range */
    base.lo = !split;
    signal(SIGPIPE, SIG_IGN); /* cases that test SIGPIPE install their own handler */
    pthread_t wd;
    pthread_create(&wd, NULL, watchdog, NULL);

    struct peer_arg *args = calloc((size_t)ncases, sizeof *args);
    pthread_t *peers = NULL;
    if (peer_only || !split)
        peers = start_peers(cases, ncases, &base, only, args);
    if (peer_only) {
        for (int i = 0; i < ncases; i++)
            if (args[i].kase)
                pthread_join(peers[i], NULL);
        return atomic_load(&peer_failures) ? 1 : 0;
    }
    say("1..%d\n", ncases);
    int failed = 0;
    for (int i = 0; i < ncases; i++) {
        if (only && only != i + 1) {
            say("ok %d - %s # SKIP --only\n", i + 1, cases[i].name);
            continue;
        }
        struct ct_ctx c = base;
        c.port = base.port + i;
        fails = 0;
        skip_why = NULL;
        cases[i].local(&c);
        const char *skip = skip_why && !fails ? skip_why : NULL;
        if (!base.lo || !args[i].kase) {
            say("%sok %d - %s%s%s\n", fails ? "not " : "", i + 1, cases[i].name,
                skip ? " # SKIP " : "", skip ? skip : "");
            failed += fails != 0;
            continue;
        }
        pthread_join(peers[i], NULL); /* lo: the case includes its peer side */
        args[i].kase = NULL;
        int bad = fails || atomic_exchange(&peer_failures, 0);
        say("%sok %d - %s\n", bad ? "not " : "", i + 1, cases[i].name);
        failed += bad;
    }
    return failed ? 1 : 0;
}
