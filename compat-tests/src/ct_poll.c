/* ct_poll — poll, ppoll, select and pselect over mixed sets (a connection, a listener, a pipe,
 * UDP, AF_UNIX): readiness of each, timeouts 0, finite and -1, POLLRDHUP/POLLHUP/POLLNVAL,
 * EBADF, EINTR on a signal, and the sigmask of ppoll/pselect. */
#include "ct.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t signals;
static void count_signal(int sig) { (void)sig; signals++; }

static void *kick_later(void *arg)
{
    ct_sleep_ms(150);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

/* the peer writes one byte back for each byte, after 150 ms */
static void late_echo(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b;
    for (;;) {
        if (!ct_wait(fd, POLLIN, 15000) || read(fd, &b, 1) != 1)
            break;
        ct_sleep_ms(150);
        if (!ct_write_all(fd, &b, 1))
            break;
    }
    close(fd);
}

/* a connection, a pipe, UDP and AF_UNIX in one poll set */
static void poll_mixed(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), p[2], sv[2];
    if (fd < 0)
        return;
    CT_OK(pipe(p));
    CT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    int u = (int)CT_OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in ua = ct_sin("127.0.0.1", c->port);
    CT_OK(bind(u, (struct sockaddr *)&ua, sizeof ua));
    struct pollfd set[5] = {{fd, POLLIN, 0}, {p[0], POLLIN, 0}, {u, POLLIN, 0},
                            {sv[0], POLLIN, 0}, {-1, POLLIN, 0}};
    CT_EQ(poll(set, 5, 0), 0);
    uint64_t t0 = ct_now_ms();
    CT_EQ(poll(set, 5, 150), 0);
    CT_TRUE(ct_now_ms() - t0 >= 140);

    CT_EQ(write(p[1], "p", 1), 1);
    CT_EQ(write(sv[1], "u", 1), 1);
    CT_EQ(sendto(u, "d", 1, 0, (struct sockaddr *)&ua, sizeof ua), 1);
    ct_sleep_ms(20);
    CT_EQ(poll(set, 5, 0), 3);
    CT_TRUE(set[0].revents == 0 && set[1].revents == POLLIN && set[2].revents == POLLIN &&
            set[3].revents == POLLIN && set[4].revents == 0);
    char b;
    CT_EQ(read(p[0], &b, 1), 1);
    CT_EQ(read(sv[0], &b, 1), 1);
    CT_EQ(recv(u, &b, 1, 0), 1);

    CT_TRUE(ct_write_all(fd, "x", 1)); /* back in 150 ms: poll(-1) sleeps until then */
    t0 = ct_now_ms();
    CT_EQ(poll(set, 5, -1), 1);
    CT_EQ(set[0].revents, POLLIN);
    CT_TRUE(ct_now_ms() - t0 >= 100);
    CT_EQ(read(fd, &b, 1), 1);
    set[0].events = POLLIN | POLLOUT;
    CT_EQ(poll(set, 1, 0), 1);
    CT_EQ(set[0].revents, POLLOUT);

    CT_TRUE(ct_write_all(fd, "y", 1)); /* ppoll with a timespec */
    struct timespec ts = {5, 0};
    set[0].events = POLLIN;
    CT_EQ(ppoll(set, 1, &ts, NULL), 1);
    CT_EQ(read(fd, &b, 1), 1);
    close(fd);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    close(u);
}

/* select and pselect with the same set; select's timeval counts down; EBADF */
static void select_mixed(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port), p[2];
    if (fd < 0)
        return;
    CT_OK(pipe(p));
    int maxfd = fd > p[0] ? fd : p[0];
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 150000};
    uint64_t t0 = ct_now_ms();
    CT_EQ(select(maxfd + 1, &r, NULL, NULL, &tv), 0);
    CT_TRUE(ct_now_ms() - t0 >= 140);
    CT_TRUE(tv.tv_sec == 0 && tv.tv_usec == 0);
    CT_TRUE(!FD_ISSET(fd, &r) && !FD_ISSET(p[0], &r));

    CT_TRUE(ct_write_all(fd, "x", 1));
    FD_SET(fd, &r);
    FD_SET(p[0], &r);
    CT_EQ(select(maxfd + 1, &r, NULL, NULL, NULL), 1);
    CT_TRUE(FD_ISSET(fd, &r) && !FD_ISSET(p[0], &r));
    char b;
    CT_EQ(read(fd, &b, 1), 1);

    fd_set w, e;
    FD_ZERO(&w);
    FD_ZERO(&e);
    FD_SET(fd, &w);
    FD_SET(fd, &e);
    FD_ZERO(&r);
    FD_SET(fd, &r);
    struct timespec ts = {0, 0};
    CT_EQ(pselect(fd + 1, &r, &w, &e, &ts, NULL), 1);
    CT_TRUE(FD_ISSET(fd, &w) && !FD_ISSET(fd, &r) && !FD_ISSET(fd, &e));

    int gone = (int)CT_OK(dup(p[0]));
    close(gone);
    FD_ZERO(&r);
    FD_SET(gone, &r);
    FD_SET(fd, &r);
    tv = (struct timeval){0, 0};
    CT_ERR(select((gone > fd ? gone : fd) + 1, &r, NULL, NULL, &tv), EBADF);
    close(fd);
    close(p[0]);
    close(p[1]);
}

/* the peer shuts down its side after one byte, then waits for our EOF */
static void half_closer(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b;
    if (ct_read_n(fd, &b, 1)) {
        ct_write_all(fd, "bye", 3);
        shutdown(fd, SHUT_WR);
    }
    ct_drain(fd);
    close(fd);
}

/* POLLRDHUP after the peer's FIN, POLLHUP when both are closed, POLLNVAL for a closed fd */
static void hangups(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    struct pollfd pf = {fd, POLLIN | POLLRDHUP, 0};
    CT_EQ(poll(&pf, 1, 0), 0);
    CT_TRUE(ct_write_all(fd, "x", 1));
    uint64_t end = ct_now_ms() + 10000;
    while (!(pf.revents & POLLRDHUP) && ct_now_ms() < end) { /* data first, then FIN */
        poll(&pf, 1, 100);
        if (!(pf.revents & POLLRDHUP))
            ct_sleep_ms(10);
    }
    CT_EQ(pf.revents, POLLIN | POLLRDHUP);
    char b[8];
    CT_EQ(read(fd, b, sizeof b), 3);
    CT_EQ(read(fd, b, sizeof b), 0);
    CT_OK(shutdown(fd, SHUT_WR));
    pf.events = POLLOUT; /* POLLHUP is reported whatever was asked */
    end = ct_now_ms() + 10000;
    while (!(pf.revents & POLLHUP) && ct_now_ms() < end) {
        poll(&pf, 1, 100);
        if (!(pf.revents & POLLHUP))
            ct_sleep_ms(10);
    }
    CT_TRUE(pf.revents & POLLHUP);
    close(fd);
    pf.events = POLLIN;
    CT_EQ(poll(&pf, 1, 0), 1);
    CT_EQ(pf.revents, POLLNVAL);
}

/* a listener is readable while a connection waits; a connect in progress becomes writable */
static void listener_and_connect(const struct ct_ctx *c)
{
    int l = ct_listen(c->lo ? c->lip : "0.0.0.0", c->port);
    if (l < 0)
        return;
    struct pollfd pf = {l, POLLIN, 0};
    CT_EQ(poll(&pf, 1, 10000), 1);
    CT_EQ(pf.revents, POLLIN);
    int a = (int)CT_OK(accept(l, NULL, NULL));
    CT_EQ(poll(&pf, 1, 0), 0);
    /* The listener goes first: our FIN on `a` is what tells the peer to listen on this port
     * itself, so `l` must be gone by then (closing `a` first races the peer's bind()). */
    close(l);
    close(a);

    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in sa = ct_sin(c->pip, c->port); /* the peer listens once it said hello */
    uint64_t end = ct_now_ms() + 10000;
    for (;;) {
        CT_ERR(connect(fd, (struct sockaddr *)&sa, sizeof sa), EINPROGRESS);
        pf = (struct pollfd){fd, POLLOUT, 0};
        CT_EQ(poll(&pf, 1, 10000), 1);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != ECONNREFUSED || ct_now_ms() > end)
            break;
        close(fd); /* the peer is not listening yet */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ct_sleep_ms(20);
    }
    CT_EQ(pf.revents, POLLOUT);
    close(fd);
}

static void hello_then_hold(const struct ct_ctx *c)
{
    ct_peer_hello(c);
    ct_peer_hold(c);
}

/* EINTR: a signal ends poll and select (even with SA_RESTART); the sigmask of ppoll and
 * pselect opens the window for a blocked signal */
static void signals_and_masks(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    struct sigaction sa = {.sa_handler = count_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t self = pthread_self(), t;
    struct pollfd pf = {fd, POLLIN, 0};
    signals = 0;
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(poll(&pf, 1, 5000), EINTR);
    pthread_join(t, NULL);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(fd, &r);
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(select(fd + 1, &r, NULL, NULL, NULL), EINTR);
    pthread_join(t, NULL);
    CT_EQ(signals, 2);

    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigemptyset(&none);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    pthread_kill(self, SIGUSR1); /* pending, blocked */
    CT_EQ(poll(&pf, 1, 50), 0);
    CT_EQ(signals, 2);
    struct timespec ts = {5, 0};
    CT_ERR(ppoll(&pf, 1, &ts, &none), EINTR);
    CT_EQ(signals, 3);
    pthread_kill(self, SIGUSR1);
    FD_SET(fd, &r);
    CT_ERR(pselect(fd + 1, &r, NULL, NULL, &ts, &none), EINTR);
    CT_EQ(signals, 4);
    pthread_create(&t, NULL, kick_later, &self); /* blocked during ppoll(mask = blocked) */
    CT_EQ(ppoll(&pf, 1, &(struct timespec){0, 300000000}, &block), 0);
    pthread_join(t, NULL);
    CT_EQ(signals, 4);
    pthread_sigmask(SIG_UNBLOCK, &block, NULL); /* delivered now */
    CT_EQ(signals, 5);
    signal(SIGUSR1, SIG_DFL);
    close(fd);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"poll/ppoll over a connection, pipe, UDP, AF_UNIX; timeouts 0, 150 ms, -1", poll_mixed,
         late_echo},
        {"select/pselect: readiness, timeval counts down, EBADF", select_mixed, late_echo},
        {"POLLRDHUP, POLLHUP, POLLNVAL", hangups, half_closer},
        {"a listener readable, a connect in progress writable", listener_and_connect,
         hello_then_hold},
        {"EINTR; the sigmask of ppoll and pselect", signals_and_masks, ct_peer_hold},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
