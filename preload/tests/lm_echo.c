/*
 * lm_echo — the socket behaviour libmtp.so must keep, as a client of an echo server
 * (test_libmtp.sh runs both ends under libmtp.so and against kernel peers):
 *
 *   lm_echo serve PORT [THREADS]   echo every connection until its EOF; THREADS workers
 *                                  (default 1) share one listener, each with its own epoll set
 *   lm_echo check IP PORT CLOSED   the checks below against the server at IP:PORT; CLOSED is a
 *                                  port nobody listens on
 *   lm_echo lazy PORT              accept one connection, compute (sleep) 3 s without a call,
 *                                  then echo it: only libmtp's helper thread can ACK meanwhile
 *   lm_echo acked IP PORT          send 100 KB to a lazy server: every byte must be ACKed
 *                                  (SIOCOUTQ 0) within 2 s, then the echo must come back
 *   lm_echo spin PORT              accept() with a 50 ms SO_RCVTIMEO on a listener nobody
 *                                  connects to, run with a longer MTP_BUSY_POLL_US: the
 *                                  busy-polling wait must give the CPU away (sched_yield, counted
 *                                  by this program's own definition, which libmtp.so's call binds
 *                                  to) and time out with EAGAIN
 *
 * Prints "ok <name>" per check; the first failure prints "FAIL <name>: why" and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in peer;
static volatile sig_atomic_t sigpipes;

static void fail(const char *name, const char *why)
{
    printf("FAIL %s: %s (errno %d %s)\n", name, why, errno, strerror(errno));
    exit(1);
}

static void ok(const char *name) { printf("ok %s\n", name); fflush(stdout); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connected(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0)
        fail("connect", "blocking connect");
    return fd;
}

static void write_all(int fd, const unsigned char *b, size_t n, const char *name)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w <= 0)
            fail(name, "write");
        b += w;
        n -= (size_t)w;
    }
}

static void read_all(int fd, unsigned char *b, size_t n, const char *name)
{
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r <= 0)
            fail(name, r == 0 ? "early EOF" : "read");
        b += r;
        n -= (size_t)r;
    }
}

/* ------------------------------------------------------------------ checks */

static void check_refused(uint16_t closed)
{
    struct sockaddr_in a = peer;
    a.sin_port = htons(closed);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno != ECONNREFUSED)
        fail("refused", "connect to a closed port must fail with ECONNREFUSED");
    close(fd);
    ok("refused");
}

static void check_nonblocking(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (connect(fd, (struct sockaddr *)&peer, sizeof peer) == 0 || errno != EINPROGRESS)
        fail("nonblocking", "connect must say EINPROGRESS");
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    if (poll(&p, 1, 5000) != 1 || !(p.revents & POLLOUT))
        fail("nonblocking", "poll POLLOUT after connect");
    int err = -1;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err != 0)
        fail("nonblocking", "SO_ERROR after connect");
    struct sockaddr_in a;
    l = sizeof a;
    if (getpeername(fd, (struct sockaddr *)&a, &l) < 0 || a.sin_port != peer.sin_port ||
        a.sin_addr.s_addr != peer.sin_addr.s_addr)
        fail("nonblocking", "getpeername");
    l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0 || a.sin_port == 0)
        fail("nonblocking", "getsockname");
    char c;
    if (recv(fd, &c, 1, 0) != -1 || errno != EAGAIN)
        fail("nonblocking", "recv with nothing there must say EAGAIN");
    int fl = fcntl(fd, F_GETFL);
    if (!(fl & O_NONBLOCK))
        fail("nonblocking", "F_GETFL lost O_NONBLOCK");
    close(fd);
    ok("nonblocking");
}

/* A socket bound before connect() keeps the port it was given (the connection then goes
 * through the kernel: libmtp.so reads the binding back unless nothing touched the socket). */
static void check_bound_before_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in any = {.sin_family = AF_INET}, a;
    socklen_t l = sizeof a;
    if (bind(fd, (struct sockaddr *)&any, sizeof any) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) < 0 || a.sin_port == 0)
        fail("bound_before_connect", "bind to port 0");
    uint16_t bound = a.sin_port;
    if (connect(fd, (struct sockaddr *)&peer, sizeof peer) < 0)
        fail("bound_before_connect", "connect");
    l = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &l) < 0 || a.sin_port != bound)
        fail("bound_before_connect", "the connection left the port bind() gave it");
    char c = 'b';
    if (send(fd, &c, 1, 0) != 1 || recv(fd, &c, 1, MSG_WAITALL) != 1 || c != 'b')
        fail("bound_before_connect", "echo");
    close(fd);
    ok("bound_before_connect");
}

static void check_echo_1mb(void)
{
    size_t n = 1 << 20;
    unsigned char *out = malloc(n), *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        out[i] = (unsigned char)(i * 7 + (i >> 12));
    int fd = connected();
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t sent = 0, got = 0;
    double end = now_s() + 20;
    while (got < n && now_s() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < n ? POLLOUT : 0)};
        if (poll(&p, 1, 1000) < 0)
            fail("echo", "poll");
        if ((p.revents & POLLOUT) && sent < n) {
            ssize_t w = send(fd, out + sent, n - sent, 0);
            if (w > 0)
                sent += (size_t)w;
            else if (errno != EAGAIN)
                fail("echo", "send");
        }
        if (p.revents & POLLIN) {
            ssize_t r = recv(fd, in + got, n - got, 0);
            if (r > 0)
                got += (size_t)r;
            else if (r == 0 || errno != EAGAIN)
                fail("echo", "recv");
        }
    }
    if (got != n || memcmp(in, out, n))
        fail("echo", "1 MB did not come back byte for byte");
    close(fd);
    free(in);
    free(out);
    ok("echo-1mb-poll");
}

static void check_peek_waitall(void)
{
    int fd = connected();
    write_all(fd, (const unsigned char *)"abcdefgh", 8, "peek");
    char b[8];
    if (recv(fd, b, 4, MSG_PEEK | MSG_WAITALL) != 4 || memcmp(b, "abcd", 4))
        fail("peek", "MSG_PEEK");
    if (recv(fd, b, 8, MSG_WAITALL) != 8 || memcmp(b, "abcdefgh", 8))
        fail("peek", "MSG_WAITALL after a peek");
    int avail = -1;
    write_all(fd, (const unsigned char *)"xy", 2, "peek");
    double end = now_s() + 5;
    while (now_s() < end && (ioctl(fd, FIONREAD, &avail) < 0 || avail < 2))
        usleep(1000);
    if (avail != 2)
        fail("peek", "FIONREAD");
    close(fd);
    ok("peek-waitall-fionread");
}

static void check_epoll_et_lt(void)
{
    int fd = connected(), ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 42}, out[4];
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        fail("epoll", "ctl add");
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno != EEXIST)
        fail("epoll", "second add must say EEXIST");
    if (epoll_wait(ep, out, 4, 0) != 0)
        fail("epoll", "nothing ready yet");
    write_all(fd, (const unsigned char *)"ping", 4, "epoll");
    if (epoll_wait(ep, out, 4, 5000) != 1 || out[0].data.u64 != 42 || !(out[0].events & EPOLLIN))
        fail("epoll", "ET: one EPOLLIN");
    if (epoll_wait(ep, out, 4, 50) != 0)
        fail("epoll", "ET: no second report without new data");
    ev.events = EPOLLIN; /* level triggered now */
    if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) < 0)
        fail("epoll", "ctl mod");
    if (epoll_wait(ep, out, 4, 1000) != 1 || epoll_wait(ep, out, 4, 0) != 1)
        fail("epoll", "LT: reported while data waits");
    char b[4];
    read_all(fd, (unsigned char *)b, 4, "epoll");
    if (epoll_wait(ep, out, 4, 0) != 0)
        fail("epoll", "LT: quiet once read");
    ev.events = EPOLLIN | EPOLLONESHOT;
    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
    write_all(fd, (const unsigned char *)"pong", 4, "epoll");
    if (epoll_wait(ep, out, 4, 5000) != 1 || epoll_wait(ep, out, 4, 50) != 0)
        fail("epoll", "ONESHOT: once");
    /* a kernel pipe in the same set */
    int pp[2];
    if (pipe(pp) < 0)
        fail("epoll", "pipe");
    ev.events = EPOLLIN;
    ev.data.u64 = 7;
    epoll_ctl(ep, EPOLL_CTL_ADD, pp[0], &ev);
    if (write(pp[1], "x", 1) != 1 || epoll_wait(ep, out, 4, 1000) != 1 || out[0].data.u64 != 7)
        fail("epoll", "mixed set: the pipe");
    /* the epoll fd itself in poll() */
    struct pollfd p = {.fd = ep, .events = POLLIN};
    if (poll(&p, 1, 1000) != 1)
        fail("epoll", "epoll fd in poll");
    close(pp[0]);
    close(pp[1]);
    close(ep);
    close(fd);
    ok("epoll-et-lt-oneshot-mixed");
}

static void check_select_timeout(void)
{
    int fd = connected();
    struct timeval tv = {0, 1000000 / 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char c;
    double t0 = now_s();
    if (recv(fd, &c, 1, 0) != -1 || errno != EAGAIN)
        fail("timeouts", "SO_RCVTIMEO must end in EAGAIN");
    double dt = now_s() - t0;
    if (dt < 0.09)
        fail("timeouts", "SO_RCVTIMEO returned early");
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    tv = (struct timeval){0, 50000};
    if (select(fd + 1, &r, NULL, NULL, &tv) != 0)
        fail("timeouts", "select: nothing to read");
    write_all(fd, (const unsigned char *)"s", 1, "timeouts");
    FD_ZERO(&r);
    FD_SET(fd, &r);
    tv = (struct timeval){5, 0};
    if (select(fd + 1, &r, NULL, NULL, &tv) != 1 || !FD_ISSET(fd, &r))
        fail("timeouts", "select: the echo");
    close(fd);
    ok("rcvtimeo-select");
}

static void on_sigpipe(int sig)
{
    (void)sig;
    sigpipes++;
}

static void check_dup_shutdown_epipe(void)
{
    int fd = connected();
    int d = dup(fd);
    close(fd); /* the connection lives on through d */
    write_all(d, (const unsigned char *)"dup!", 4, "dup");
    char b[4];
    read_all(d, (unsigned char *)b, 4, "dup");
    if (memcmp(b, "dup!", 4))
        fail("dup", "echo through the dup");
    if (shutdown(d, SHUT_WR) < 0)
        fail("dup", "shutdown");
    if (read(d, b, 4) != 0)
        fail("dup", "EOF after the server saw ours");
    signal(SIGPIPE, on_sigpipe);
    double end = now_s() + 5;
    ssize_t w;
    while ((w = send(d, "x", 1, MSG_NOSIGNAL)) == 1 && now_s() < end)
        usleep(1000);
    if (w != -1 || errno != EPIPE || sigpipes)
        fail("epipe", "send after shutdown: EPIPE without a signal (MSG_NOSIGNAL)");
    if (write(d, "x", 1) != -1 || errno != EPIPE || sigpipes != 1)
        fail("epipe", "write after shutdown: EPIPE and SIGPIPE");
    close(d);
    ok("dup-shutdown-epipe-sigpipe");
}

static void check_threads(void);

static int run_checks(const char *ip, int port, int closed)
{
    peer.sin_family = AF_INET;
    peer.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &peer.sin_addr);
    check_refused((uint16_t)closed);
    check_nonblocking();
    check_bound_before_connect();
    check_echo_1mb();
    check_peek_waitall();
    check_epoll_et_lt();
    check_select_timeout();
    check_dup_shutdown_epipe();
    check_threads();
    return 0;
}

/* Four threads, each with its own connection, at once. */
static void *thread_echo(void *arg)
{
    (void)arg;
    unsigned char out[65536], in[65536];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (unsigned char)(i ^ (uintptr_t)arg);
    for (int round = 0; round < 20; round++) {
        int fd = connected();
        write_all(fd, out, sizeof out, "threads");
        read_all(fd, in, sizeof in, "threads");
        if (memcmp(in, out, sizeof in))
            fail("threads", "echo");
        close(fd);
    }
    return NULL;
}

static void check_threads(void)
{
    pthread_t t[4];
    for (uintptr_t i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_echo, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    ok("threads-4x20-connections");
}

/* ------------------------------------------------------------------ server */

static int listener;

static void echo_conn(int c)
{
    char buf[65536];
    for (;;) {
        ssize_t r = read(c, buf, sizeof buf);
        if (r <= 0)
            break;
        for (ssize_t off = 0; off < r;) {
            ssize_t w = write(c, buf + off, (size_t)(r - off));
            if (w <= 0)
                goto out;
            off += w;
        }
    }
out:
    close(c);
}

static void *serve_thread(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(listener, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("accept");
            exit(1);
        }
        echo_conn(c);
    }
    return NULL;
}

static int serve(int port, int threads)
{
    signal(SIGPIPE, SIG_IGN);
    listener = socket(AF_INET6, SOCK_STREAM, 0); /* dual stack, like iperf3 and nginx on :: */
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    if (bind(listener, (struct sockaddr *)&a, sizeof a) < 0 || listen(listener, 128) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    pthread_t t;
    for (int i = 1; i < threads; i++)
        pthread_create(&t, NULL, serve_thread, NULL);
    serve_thread(NULL);
    return 0;
}

static int lazy(int port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 8) < 0) {
        perror("bind/listen");
        return 1;
    }
    printf("listening\n");
    int c = accept(l, NULL, NULL);
    struct timespec t = {3, 0};
    nanosleep(&t, NULL); /* computing: no call into the stack */
    echo_conn(c);
    return 0;
}

static int acked(const char *ip, int port)
{
    peer.sin_family = AF_INET;
    peer.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &peer.sin_addr);
    int fd = connected();
    static unsigned char out[100000], in[100000];
    for (size_t i = 0; i < sizeof out; i++)
        out[i] = (unsigned char)(i * 13);
    write_all(fd, out, sizeof out, "acked");
    int queued = -1;
    for (double end = now_s() + 2; now_s() < end; usleep(10000))
        if (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued == 0)
            break;
    if (queued != 0)
        fail("acked", "bytes not acknowledged while the server computed (no helper thread?)");
    shutdown(fd, SHUT_WR);
    read_all(fd, in, sizeof in, "acked");
    if (memcmp(in, out, sizeof in))
        fail("acked", "echo");
    ok("acked-while-computing");
    return 0;
}

/* libmtp.so's sched_yield() binds to this definition (the executable comes first). */
static volatile long yields;

int sched_yield(void)
{
    yields++;
    return (int)syscall(SYS_sched_yield);
}

static int spin(int port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {.tv_sec = 0, .tv_usec = 50000};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4) < 0 ||
        setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        fail("spin", "listener");
    yields = 0;
    int fd = accept(l, NULL, NULL);
    if (fd >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        fail("spin", "accept: want EAGAIN after SO_RCVTIMEO");
    if (yields == 0)
        fail("spin", "50 ms of busy polling never gave the CPU away");
    printf("ok busy-poll-yields (%ld sched_yield in 50 ms)\n", yields);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "serve"))
        return serve(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 1);
    if (argc == 3 && !strcmp(argv[1], "lazy"))
        return lazy(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "acked"))
        return acked(argv[2], atoi(argv[3]));
    if (argc == 3 && !strcmp(argv[1], "spin"))
        return spin(atoi(argv[2]));
    if (argc == 5 && !strcmp(argv[1], "check"))
        return run_checks(argv[2], atoi(argv[3]), atoi(argv[4]));
    fprintf(stderr, "usage: lm_echo serve PORT [THREADS] | check IP PORT CLOSED | lazy PORT | "
                    "acked IP PORT | spin PORT\n");
    return 2;
}
