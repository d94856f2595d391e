/* ct_epoll — epoll over mixed sets: level- and edge-triggered, EPOLLONESHOT, EPOLLEXCLUSIVE,
 * EPOLLRDHUP/EPOLLHUP, a connection next to a pipe, UDP and AF_UNIX with their data, timeouts
 * 0, finite and -1, epoll_pwait/epoll_pwait2 sigmasks and EINTR, an epoll inside an epoll and
 * inside poll(), registrations that live with the open file (dup), kernel fds that join a set
 * of connections (also from a forked child), replies to a batch of ready sockets sent while
 * the thread is away, epoll_ctl's errors, and a kernel fd not starved by a connection that
 * stays ready. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t signals;
static void count_signal(int sig) { (void)sig; signals++; }

static void *kick_later(void *arg)
{
    ct_sleep_ms(150);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

static int add(int ep, int fd, uint32_t events, uint64_t tag)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* one epoll_wait that must return exactly one event with this tag and these events */
static void expect_one(int ep, int ms, uint64_t tag, uint32_t events)
{
    struct epoll_event ev[4];
    int n = epoll_wait(ep, ev, 4, ms);
    if (CT_EQ(n, 1)) {
        CT_EQ(ev[0].data.u64, tag);
        CT_EQ(ev[0].events, events);
    }
}

static void expect_none(int ep, int ms)
{
    struct epoll_event ev[4];
    CT_EQ(epoll_wait(ep, ev, 4, ms), 0);
}

/* wait until fd has `n` bytes to read (one write may arrive in parts) */
static void settle(int fd, int n)
{
    char b[64];
    for (int i = 0; i < 500 && recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT) < n; i++)
        ct_sleep_ms(2);
}

/* level-triggered reports until read; edge-triggered once per arrival */
static void lt_et(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), ep = (int)CT_OK(epoll_create1(0));
    if (fd < 0)
        return;
    CT_OK(add(ep, fd, EPOLLIN, 42));
    expect_none(ep, 0);
    CT_TRUE(ct_write_all(fd, "ab", 2));
    expect_one(ep, 10000, 42, EPOLLIN);
    settle(fd, 2);
    expect_one(ep, 0, 42, EPOLLIN); /* still there: reported again */
    char b[4];
    CT_EQ(read(fd, b, 4), 2);
    expect_none(ep, 0);

    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = 43};
    CT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
    CT_TRUE(ct_write_all(fd, "cd", 2));
    expect_one(ep, 10000, 43, EPOLLIN);
    settle(fd, 2);
    expect_none(ep, 0); /* not again until more arrives */
    CT_EQ(read(fd, b, 1), 1);
    expect_none(ep, 0);
    CT_TRUE(ct_write_all(fd, "e", 1));
    expect_one(ep, 10000, 43, EPOLLIN);
    settle(fd, 2);
    CT_EQ(read(fd, b, 4), 2);

    ev = (struct epoll_event){.events = EPOLLOUT | EPOLLET, .data.u64 = 44};
    CT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
    expect_one(ep, 0, 44, EPOLLOUT); /* MOD re-evaluates: writable now */
    expect_none(ep, 0);
    close(ep);
    close(fd);
}

/* EPOLLONESHOT: one report, then silence until EPOLL_CTL_MOD re-arms */
static void oneshot(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), ep = (int)CT_OK(epoll_create1(0));
    if (fd < 0)
        return;
    CT_OK(add(ep, fd, EPOLLIN | EPOLLONESHOT, 7));
    CT_TRUE(ct_write_all(fd, "a", 1));
    expect_one(ep, 10000, 7, EPOLLIN);
    expect_none(ep, 0);
    CT_TRUE(ct_write_all(fd, "b", 1));
    expect_none(ep, 300);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 8};
    CT_OK(epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev));
    expect_one(ep, 0, 8, EPOLLIN);
    expect_none(ep, 0);
    close(ep);
    close(fd);
}

/* EPOLLEXCLUSIVE: accepted on ADD only; a connection wakes at least one of two waiters */
static void exclusive(const struct ct_ctx *c)
{
    int l = ct_listen(c->lo ? c->lip : "0.0.0.0", c->port);
    if (l < 0)
        return;
    int e1 = epoll_create1(0), e2 = epoll_create1(0);
    CT_OK(add(e1, l, EPOLLIN | EPOLLEXCLUSIVE, 1));
    CT_OK(add(e2, l, EPOLLIN | EPOLLEXCLUSIVE, 2));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    CT_ERR(epoll_ctl(e1, EPOLL_CTL_MOD, l, &ev), EINVAL);
    int other = epoll_create1(0);
    CT_ERR(add(other, l, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 3), EINVAL);
    CT_OK(add(other, e1, EPOLLIN, 9));
    CT_OK(add(other, e2, EPOLLIN, 9)); /* (an epoll fd may not be EXCLUSIVE inside another) */
    struct epoll_event got[4];
    CT_TRUE(epoll_wait(other, got, 4, 10000) >= 1);
    int n1 = epoll_wait(e1, got, 4, 0), n2 = epoll_wait(e2, got, 4, 0);
    CT_TRUE(n1 + n2 >= 1);
    int a = ct_accept(l);
    close(a);
    close(other);
    close(e1);
    close(e2);
    close(l);
}

static void half_closer(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b;
    if (ct_read_n(fd, &b, 1))
        shutdown(fd, SHUT_WR);
    ct_drain(fd);
    close(fd);
}

/* EPOLLRDHUP at the peer's FIN; EPOLLHUP once both directions are shut */
static void rdhup_hup(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), ep = epoll_create1(0);
    if (fd < 0)
        return;
    CT_OK(add(ep, fd, EPOLLIN | EPOLLRDHUP, 5));
    CT_TRUE(ct_write_all(fd, "x", 1));
    expect_one(ep, 10000, 5, EPOLLIN | EPOLLRDHUP);
    CT_OK(shutdown(fd, SHUT_WR));
    struct epoll_event ev[2];
    uint32_t seen = 0;
    uint64_t end = ct_now_ms() + 10000;
    while (!(seen & EPOLLHUP) && ct_now_ms() < end) { /* level-triggered: sleep between */
        if (epoll_wait(ep, ev, 2, 100) == 1)
            seen = ev[0].events;
        if (!(seen & EPOLLHUP))
            ct_sleep_ms(10);
    }
    CT_EQ(seen, EPOLLIN | EPOLLRDHUP | EPOLLHUP);
    close(ep);
    close(fd);
}

/* a connection, a pipe, UDP and AF_UNIX in one epoll; timeouts; pwait/pwait2 and EINTR */
static void mixed_and_timeouts(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), ep = epoll_create1(EPOLL_CLOEXEC), p[2], sv[2];
    if (fd < 0)
        return;
    CT_EQ(fcntl(ep, F_GETFD), FD_CLOEXEC);
    CT_OK(pipe(p));
    CT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in ua = ct_sin("127.0.0.1", c->port);
    CT_OK(bind(u, (struct sockaddr *)&ua, sizeof ua));
    CT_OK(add(ep, fd, EPOLLIN, 100));
    CT_OK(add(ep, p[0], EPOLLIN, 101));
    CT_OK(add(ep, u, EPOLLIN, 102));
    CT_OK(add(ep, sv[0], EPOLLIN, 103));
    uint64_t t0 = ct_now_ms();
    expect_none(ep, 150);
    CT_TRUE(ct_now_ms() - t0 >= 140);
    CT_EQ(write(p[1], "p", 1), 1);
    expect_one(ep, 0, 101, EPOLLIN);
    char b;
    CT_EQ(read(p[0], &b, 1), 1);
    CT_EQ(sendto(u, "d", 1, 0, (struct sockaddr *)&ua, sizeof ua), 1);
    expect_one(ep, 5000, 102, EPOLLIN);
    CT_EQ(recv(u, &b, 1, 0), 1);
    CT_EQ(write(sv[1], "u", 1), 1);
    expect_one(ep, 5000, 103, EPOLLIN);
    CT_EQ(read(sv[0], &b, 1), 1);
    CT_TRUE(ct_write_all(fd, "x", 1));
    expect_one(ep, -1, 100, EPOLLIN);
    CT_EQ(read(fd, &b, 1), 1);

    struct sigaction sa = {.sa_handler = count_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), t;
    struct epoll_event ev[4];
    signals = 0;
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(epoll_wait(ep, ev, 4, 5000), EINTR); /* never restarted */
    pthread_join(t, NULL);
    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&none);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_kill(self, SIGUSR1);
    CT_EQ(epoll_wait(ep, ev, 4, 50), 0);
    CT_ERR(epoll_pwait(ep, ev, 4, 5000, &none), EINTR);
    CT_EQ(signals, 2);
    pthread_kill(self, SIGUSR1);
    struct timespec ts = {5, 0};
    CT_ERR(epoll_pwait2(ep, ev, 4, &ts, &none), EINTR);
    CT_EQ(signals, 3);
    pthread_sigmask(SIG_UNBLOCK, &block, NULL);
    signal(SIGUSR1, SIG_DFL);
    ts = (struct timespec){0, 100000000};
    t0 = ct_now_ms();
    CT_EQ(epoll_pwait2(ep, ev, 4, &ts, NULL), 0);
    CT_TRUE(ct_now_ms() - t0 >= 90);
    close(ep);
    close(fd);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    close(u);
}

/* A set of connections alone, then kernel fds: a pipe added while the connection has data
 * (one wait returns both), and a pipe a forked child adds to the epoll both processes share. */
static void kernel_fds_join(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), ep = (int)CT_OK(epoll_create1(0)), p[2], q[2];
    if (fd < 0)
        return;
    CT_OK(add(ep, fd, EPOLLIN, 1));
    expect_none(ep, 0);
    CT_OK(pipe(p));
    CT_OK(pipe(q));
    CT_EQ(write(p[1], "p", 1), 1);
    CT_OK(add(ep, p[0], EPOLLIN, 2));
    CT_TRUE(ct_write_all(fd, "x", 1));
    settle(fd, 1);
    struct epoll_event ev[4];
    if (CT_EQ(epoll_wait(ep, ev, 4, 5000), 2))
        CT_EQ(ev[0].data.u64 + ev[1].data.u64, 3);
    CT_OK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    char b;
    CT_EQ(read(fd, &b, 1), 1);
    expect_none(ep, 0);
    pid_t pid = (pid_t)CT_OK(fork());
    if (pid == 0) {
        int r = add(ep, q[0], EPOLLIN, 3);
        _exit(r == 0 && write(q[1], "q", 1) == 1 ? 0 : 1);
    }
    int status = -1;
    CT_EQ(waitpid(pid, &status, 0), pid);
    CT_EQ(status, 0);
    expect_one(ep, 5000, 3, EPOLLIN);
    close(ep);
    close(fd);
    for (int i = 0; i < 2; i++) {
        close(p[i]);
        close(q[i]);
    }
}

/* A connection that stays readable (level-triggered, never read) and epoll_wait with room
 * for one event: a pipe that becomes readable still gets its turn (Linux rotates its ready
 * list; libmtp asks its kernel half at least every half millisecond). */
static void kernel_fd_not_starved(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), ep = (int)CT_OK(epoll_create1(0)), p[2];
    if (fd < 0)
        return;
    CT_OK(pipe(p));
    CT_OK(add(ep, fd, EPOLLIN, 1));
    CT_OK(add(ep, p[0], EPOLLIN, 2));
    CT_TRUE(ct_write_all(fd, "x", 1));
    settle(fd, 1);
    expect_one(ep, 0, 1, EPOLLIN);
    CT_EQ(write(p[1], "p", 1), 1);
    bool pipe_seen = false;
    uint64_t t0 = ct_now_ms();
    while (!pipe_seen && ct_now_ms() - t0 < 2000) {
        struct epoll_event ev;
        if (!CT_EQ(epoll_wait(ep, &ev, 1, 0), 1))
            break;
        pipe_seen = ev.data.u64 == 2;
    }
    CT_TRUE(pipe_seen);
    close(ep);
    close(fd);
    close(p[0]);
    close(p[1]);
}

/* batch_then_away's peer: two connections, each echoed until its end */
static void echo_two(const struct ct_ctx *c)
{
    int l = ct_listen(c->pip, c->port);
    if (l < 0)
        return;
    struct pollfd pf[2] = {{.fd = ct_accept(l), .events = POLLIN},
                           {.fd = ct_accept(l), .events = POLLIN}};
    close(l);
    char buf[256];
    while ((pf[0].fd >= 0 || pf[1].fd >= 0) && poll(pf, 2, 15000) > 0) {
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !pf[i].revents)
                continue;
            ssize_t r = read(pf[i].fd, buf, sizeof buf);
            if (r <= 0 || !ct_write_all(pf[i].fd, buf, (size_t)r)) {
                close(pf[i].fd);
                pf[i].fd = -1;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
}

/* Answers to a batch of ready sockets leave even when the thread then stops calling socket
 * functions (libmtp.so holds a batch's frames to send them together: the helper thread must
 * send them). The echoes are there the moment the thread looks again. */
static void batch_then_away(const struct ct_ctx *c)
{
    int a = ct_connect(c->pip, c->port), b = ct_connect(c->pip, c->port);
    int ep = (int)CT_OK(epoll_create1(0));
    if (a < 0 || b < 0)
        return;
    CT_OK(add(ep, a, EPOLLIN, 1));
    CT_OK(add(ep, b, EPOLLIN, 2));
    CT_TRUE(ct_write_all(a, "x", 1));
    CT_TRUE(ct_write_all(b, "x", 1));
    settle(a, 1);
    settle(b, 1);
    struct epoll_event ev[4];
    CT_EQ(epoll_wait(ep, ev, 4, 5000), 2);
    char x[2];
    CT_EQ(read(a, x, 1), 1);
    CT_EQ(read(b, x, 1), 1);
    CT_TRUE(ct_write_all(a, "y", 1));
    CT_TRUE(ct_write_all(b, "y", 1));
    struct timespec away = {0, 300000000};
    nanosleep(&away, NULL);
    CT_EQ(recv(a, x, 2, MSG_DONTWAIT), 1);
    CT_EQ(recv(b, x, 2, MSG_DONTWAIT), 1);
    close(ep);
    close(a);
    close(b);
}

/* an epoll inside an epoll and inside poll(); the registration lives with the open file */
static void nested_and_dup(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), inner = epoll_create1(0), outer = epoll_create1(0);
    if (fd < 0)
        return;
    CT_OK(add(inner, fd, EPOLLIN, 1));
    CT_OK(add(outer, inner, EPOLLIN, 2));
    expect_none(outer, 0);
    struct pollfd pf = {inner, POLLIN, 0};
    CT_EQ(poll(&pf, 1, 0), 0);
    CT_TRUE(ct_write_all(fd, "x", 1));
    expect_one(outer, 10000, 2, EPOLLIN);
    CT_EQ(poll(&pf, 1, 0), 1);
    CT_EQ(pf.revents, POLLIN);
    expect_one(inner, 0, 1, EPOLLIN);
    char b;
    CT_EQ(read(fd, &b, 1), 1);
    expect_none(outer, 0);

    int d = (int)CT_OK(dup(fd)); /* close(fd) leaves the registration: d holds the file */
    CT_OK(close(fd));
    CT_TRUE(ct_write_all(d, "y", 1));
    expect_one(inner, 10000, 1, EPOLLIN);
    struct epoll_event ev = {.events = EPOLLIN};
    CT_ERR(epoll_ctl(inner, EPOLL_CTL_DEL, fd, &ev), EBADF); /* fd number is gone */
    CT_ERR(epoll_ctl(inner, EPOLL_CTL_DEL, d, &ev), ENOENT); /* d was never added */
    close(d); /* the last close removes it */
    expect_none(inner, 0);
    close(outer);
    close(inner);
}

/* epoll_create/epoll_ctl/epoll_wait errors */
static void errors(const struct ct_ctx *c)
{
    (void)c;
    CT_ERR(epoll_create(0), EINVAL);
    CT_ERR(epoll_create1(12345), EINVAL);
    int ep = (int)CT_OK(epoll_create(1)), s = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    int f = open("/dev/null", O_RDONLY);
    struct epoll_event ev = {.events = EPOLLIN}, out[1];
    CT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev));
    CT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev), EEXIST);
    CT_OK(epoll_ctl(ep, EPOLL_CTL_DEL, s, &ev));
    CT_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, s, &ev), ENOENT);
    CT_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev), ENOENT);
    CT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    CT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), EPERM);
    CT_ERR(epoll_ctl(ep, 99, s, &ev), EINVAL);
    CT_ERR(epoll_ctl(s, EPOLL_CTL_ADD, ep, &ev), EINVAL); /* s is not an epoll */
    CT_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, 1000, &ev), EBADF);
    CT_ERR(epoll_wait(ep, out, 0, 0), EINVAL);
    CT_ERR(epoll_wait(s, out, 1, 0), EINVAL);
    /* an unconnected socket: EPOLLOUT|EPOLLHUP, as Linux reports it */
    CT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &(struct epoll_event){.events = EPOLLIN | EPOLLOUT}));
    CT_EQ(epoll_wait(ep, out, 1, 0), 1);
    CT_EQ(out[0].events, EPOLLOUT | EPOLLHUP);
    close(f);
    close(s);
    close(ep);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"level-triggered and EPOLLET; MOD re-evaluates", lt_et, ct_peer_echo},
        {"EPOLLONESHOT and re-arming", oneshot, ct_peer_echo},
        {"EPOLLEXCLUSIVE on a listener", exclusive, ct_peer_hello},
        {"EPOLLRDHUP, then EPOLLHUP", rdhup_hup, half_closer},
        {"a connection, pipe, UDP, AF_UNIX; timeouts; epoll_pwait/pwait2; EINTR",
         mixed_and_timeouts, ct_peer_echo},
        {"kernel fds join a set of connections, here and in a forked child", kernel_fds_join,
         ct_peer_echo},
        {"replies to a batch of ready sockets leave while the thread is away",
         batch_then_away, echo_two},
        {"epoll in epoll and in poll; a dup keeps the registration", nested_and_dup,
         ct_peer_echo},
        {"epoll_create/epoll_ctl/epoll_wait errors, unconnected socket", errors, NULL},
        {"a connection always ready does not starve a pipe (maxevents 1)",
         kernel_fd_not_starved, ct_peer_echo},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
