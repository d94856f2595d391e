/* ct_errno — blocking and non-blocking calls and the errno of each failure: EAGAIN,
 * EINPROGRESS + SO_ERROR, EISCONN, ECONNREFUSED (blocking and not), ECONNRESET, EPIPE with and
 * without SIGPIPE (MSG_NOSIGNAL), ENOTCONN, EADDRINUSE, EADDRNOTAVAIL, EINVAL, EINTR on a
 * signal (with and without SA_RESTART; handlers from sigaction, signal, siginterrupt,
 * sysv_signal), EOF and shutdown(), ETIMEDOUT from keepalive. */
#include "ct.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t signals;
static void count_signal(int sig) { (void)sig; signals++; }

static void on_signal(int sig, bool restart)
{
    struct sigaction sa = {.sa_handler = count_signal, .sa_flags = restart ? SA_RESTART : 0};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

/* EAGAIN for recv, accept and MSG_DONTWAIT; connect EINPROGRESS then SO_ERROR 0 and EISCONN */
static void nonblocking(const struct ct_ctx *c)
{
    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in a = ct_sin(c->pip, c->port);
    uint64_t end = ct_now_ms() + 10000;
    int r;
    while ((r = connect(fd, (struct sockaddr *)&a, sizeof a)) == -1 && errno == EINPROGRESS) {
        short ev = (short)ct_wait(fd, POLLOUT, 10000);
        int err = -1;
        socklen_t len = sizeof err;
        CT_OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len));
        if (err != ECONNREFUSED || ct_now_ms() > end) { /* refused: the peer is not up yet */
            CT_TRUE(ev & POLLOUT);
            CT_EQ(err, 0);
            break;
        }
        close(fd);
        ct_sleep_ms(20);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    }
    CT_TRUE(r == -1); /* Linux never completes a TCP connect at once, even on loopback */
    CT_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0); /* completes the call: 0, once */
    CT_ERR(connect(fd, (struct sockaddr *)&a, sizeof a), EISCONN);
    char b[8];
    CT_ERR(recv(fd, b, sizeof b, 0), EAGAIN);
    CT_ERR(read(fd, b, sizeof b), EAGAIN);
    CT_OK(fcntl(fd, F_SETFL, 0));
    CT_ERR(recv(fd, b, sizeof b, MSG_DONTWAIT), EAGAIN);
    close(fd);

    int l = ct_listen(c->lip, c->port + 1000);
    if (l >= 0) {
        CT_OK(fcntl(l, F_SETFL, O_NONBLOCK));
        CT_ERR(accept(l, NULL, NULL), EAGAIN);
        CT_ERR(accept4(l, NULL, NULL, SOCK_CLOEXEC), EAGAIN);
        close(l);
    }
}

/* nobody listens on port + 1000 of the peer: refused, blocking and non-blocking */
static void refused(const struct ct_ctx *c)
{
    struct sockaddr_in a = ct_sin(c->pip, c->port + 1000);
    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    CT_ERR(connect(fd, (struct sockaddr *)&a, sizeof a), ECONNREFUSED);
    close(fd);
    fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    CT_ERR(connect(fd, (struct sockaddr *)&a, sizeof a), EINPROGRESS);
    short ev = (short)ct_wait(fd, POLLIN | POLLOUT, 10000);
    CT_TRUE((ev & (POLLOUT | POLLERR | POLLHUP)) == (POLLOUT | POLLERR | POLLHUP));
    int err = -1;
    socklen_t len = sizeof err;
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len));
    CT_EQ(err, ECONNREFUSED);
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len));
    CT_EQ(err, 0); /* reading SO_ERROR clears it */
    close(fd);
}

/* the peer resets: ECONNRESET on the next read, EPIPE on a write after it */
static void reset(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    CT_TRUE(ct_write_all(fd, "x", 1));
    short ev = (short)ct_wait(fd, POLLIN, 10000);
    CT_TRUE(ev & POLLIN);
    CT_TRUE(ev & POLLHUP); /* a reset ends both directions */
    char b[8];
    CT_ERR(recv(fd, b, sizeof b, 0), ECONNRESET);
    CT_EQ(recv(fd, b, sizeof b, 0), 0); /* the error is reported once; then EOF */
    CT_ERR(send(fd, "x", 1, MSG_NOSIGNAL), EPIPE);
    close(fd);
}

/* after shutdown(SHUT_WR): EPIPE, with SIGPIPE unless MSG_NOSIGNAL */
static void epipe_sigpipe(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    on_signal(SIGPIPE, true);
    CT_OK(shutdown(fd, SHUT_WR));
    signals = 0;
    CT_ERR(send(fd, "x", 1, MSG_NOSIGNAL), EPIPE);
    CT_EQ(signals, 0);
    CT_ERR(send(fd, "x", 1, 0), EPIPE);
    CT_EQ(signals, 1);
    CT_ERR(write(fd, "x", 1), EPIPE);
    CT_EQ(signals, 2);
    struct msghdr m = {0};
    struct iovec v = {"x", 1};
    m.msg_iov = &v;
    m.msg_iovlen = 1;
    CT_ERR(sendmsg(fd, &m, MSG_NOSIGNAL), EPIPE);
    CT_EQ(signals, 2);
    signal(SIGPIPE, SIG_IGN);
    close(fd);
}

/* a socket that never connected */
static void not_connected(const struct ct_ctx *c)
{
    (void)c;
    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    char b[4];
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    CT_ERR(recv(fd, b, sizeof b, 0), ENOTCONN);
    CT_ERR(read(fd, b, sizeof b), ENOTCONN);
    CT_ERR(send(fd, "x", 1, MSG_NOSIGNAL), EPIPE); /* Linux: EPIPE, not ENOTCONN */
    CT_ERR(getpeername(fd, (struct sockaddr *)&a, &len), ENOTCONN);
    CT_ERR(shutdown(fd, SHUT_RDWR), ENOTCONN);
    CT_OK(getsockname(fd, (struct sockaddr *)&a, &len)); /* unbound: 0.0.0.0:0 */
    CT_EQ(a.sin_port, 0);
    CT_EQ(a.sin_addr.s_addr, 0);
    CT_ERR(accept(fd, NULL, NULL), EINVAL); /* not listening */
    close(fd);
}

/* bind conflicts and bad addresses */
static void bind_errors(const struct ct_ctx *c)
{
    int l = ct_listen(c->lip, c->port);
    if (l < 0)
        return;
    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0)), one = 1;
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    struct sockaddr_in a = ct_sin(c->lip, c->port);
    CT_ERR(bind(fd, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    a = ct_sin("0.0.0.0", c->port);
    CT_ERR(bind(fd, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    a = ct_sin("10.254.253.252", c->port); /* no interface has it */
    CT_ERR(bind(fd, (struct sockaddr *)&a, sizeof a), EADDRNOTAVAIL);
    a = ct_sin(c->lip, 0);
    CT_ERR(bind(fd, (struct sockaddr *)&a, sizeof a - 1), EINVAL);
    CT_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    CT_ERR(bind(fd, (struct sockaddr *)&a, sizeof a), EINVAL); /* already bound */
    socklen_t len = sizeof a;
    CT_OK(getsockname(fd, (struct sockaddr *)&a, &len));
    CT_TRUE(ntohs(a.sin_port) != 0); /* port 0: an ephemeral one */
    close(fd);
    close(l);
}

static void *kick_later(void *arg)
{
    ct_sleep_ms(200);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

/* a signal interrupts a blocked recv and accept with EINTR (no SA_RESTART); with SA_RESTART
 * recv goes on and returns the data that arrives later */
static void eintr(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    pthread_t self = pthread_self(), t;
    char b[8];
    on_signal(SIGUSR1, false);
    signals = 0;
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(recv(fd, b, sizeof b, 0), EINTR);
    pthread_join(t, NULL);
    CT_EQ(signals, 1);

    int l = ct_listen(c->lip, c->port + 1000);
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(accept(l, NULL, NULL), EINTR);
    pthread_join(t, NULL);
    close(l);

    on_signal(SIGUSR1, true);
    pthread_create(&t, NULL, kick_later, &self);
    CT_TRUE(ct_write_all(fd, "w", 1)); /* the peer answers after 500 ms */
    CT_EQ(recv(fd, b, sizeof b, 0), 1);
    pthread_join(t, NULL);
    CT_EQ(signals, 3);
    signal(SIGUSR1, SIG_DFL);
    close(fd);
}

/* the same through the other ways to install a handler: signal() (BSD: restarts),
 * siginterrupt(), sysv_signal() (interrupts, reset on delivery); sigaction reports each
 * handler and its flags as installed (siginterrupt is deprecated, and still in programs) */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void eintr_installers(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    pthread_t self = pthread_self(), t;
    char b[8];
    struct sigaction q;
    signals = 0;
    CT_TRUE(signal(SIGUSR1, count_signal) != SIG_ERR);
    CT_OK(sigaction(SIGUSR1, NULL, &q));
    CT_TRUE(q.sa_handler == count_signal && (q.sa_flags & SA_RESTART) && !(q.sa_flags & SA_SIGINFO));
    CT_OK(siginterrupt(SIGUSR1, 1));
    CT_OK(sigaction(SIGUSR1, NULL, &q));
    CT_TRUE(q.sa_handler == count_signal && !(q.sa_flags & SA_RESTART));
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(recv(fd, b, sizeof b, 0), EINTR);
    pthread_join(t, NULL);

    CT_OK(siginterrupt(SIGUSR1, 0));
    pthread_create(&t, NULL, kick_later, &self);
    CT_TRUE(ct_write_all(fd, "w", 1)); /* the peer answers after 500 ms */
    CT_EQ(recv(fd, b, sizeof b, 0), 1);
    pthread_join(t, NULL);

    CT_TRUE(sysv_signal(SIGUSR1, count_signal) == count_signal);
    pthread_create(&t, NULL, kick_later, &self);
    CT_ERR(recv(fd, b, sizeof b, 0), EINTR);
    pthread_join(t, NULL);
    CT_OK(sigaction(SIGUSR1, NULL, &q));
    CT_TRUE(q.sa_handler == SIG_DFL);
    CT_EQ(signals, 3);
    close(fd);
}
#pragma GCC diagnostic pop

static void eintr_peer(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b;
    if (ct_read_n(fd, &b, 1)) {
        ct_sleep_ms(500);
        ct_write_all(fd, "r", 1);
    }
    ct_drain(fd);
    close(fd);
}

/* EOF and shutdown(): the peer closes (FIN) -> 0; SHUT_RD -> 0 at once; half-close works */
static void eof_shutdown(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    CT_TRUE(ct_write_all(fd, "half", 4));
    CT_OK(shutdown(fd, SHUT_WR)); /* the echo peer sees EOF, echoes, then closes */
    char b[8];
    if (ct_read_n(fd, b, 4))
        CT_TRUE(memcmp(b, "half", 4) == 0);
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & POLLIN);
    CT_EQ(read(fd, b, sizeof b), 0);
    CT_EQ(read(fd, b, sizeof b), 0);
    CT_ERR(shutdown(fd, 7), EINVAL);
    close(fd);
}

/* SHUT_RD: reads return 0 at once and poll says readable; sending still works */
static void shut_rd(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    char b[8];
    CT_OK(shutdown(fd, SHUT_RD));
    CT_EQ(recv(fd, b, sizeof b, 0), 0);
    CT_TRUE(ct_wait(fd, POLLIN, 0) & POLLIN);
    CT_EQ(send(fd, "still", 5, 0), 5);
    close(fd);
}

/* Keepalive gives up on a peer that stopped answering: ETIMEDOUT. CT_BLACKHOLE=IP:PORT names a
 * kernel listener whose host drops every segment to that port except SYNs (run.sh sets it up
 * with nftables): the connection opens, then nothing we send is answered. CT_BLACKHOLE=peer
 * (given to both sides; a peer process of its own, not lo): the peer accepts, then stops its
 * whole process with SIGSTOP, and run.sh continues it once this side is done (for stacks the
 * kernel cannot be a peer of, e.g. MTP_PROTO=homa). */
static bool blackhole_is_peer(void)
{
    const char *bh = getenv("CT_BLACKHOLE");
    return bh && strcmp(bh, "peer") == 0;
}

static void keepalive_timeout(const struct ct_ctx *c)
{
    const char *bh = getenv("CT_BLACKHOLE");
    char ip[64];
    int port;
    if (blackhole_is_peer()) {
        snprintf(ip, sizeof ip, "%s", c->pip);
        port = c->port;
    } else if (!bh || sscanf(bh, "%63[^:]:%d", ip, &port) != 2) {
        ct_skip("CT_BLACKHOLE=IP:PORT|peer not set (run.sh sets it)");
        return;
    }
    int fd = ct_connect(ip, port);
    if (fd < 0)
        return;
    int one = 1, cnt = 2;
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    CT_OK(setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &one, sizeof one));
    CT_OK(setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &one, sizeof one));
    CT_OK(setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt));
    uint64_t t0 = ct_now_ms();
    char b[4];
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & (POLLERR | POLLHUP));
    CT_ERR(recv(fd, b, sizeof b, 0), ETIMEDOUT);
    uint64_t took = ct_now_ms() - t0;
    if (!CT_TRUE(took >= 2500)) /* 1 s idle + 2 probes 1 s apart */
        ct_note("ETIMEDOUT after %llu ms", (unsigned long long)took);
    CT_EQ(recv(fd, b, sizeof b, 0), 0);
    close(fd);
}

static void keepalive_peer(const struct ct_ctx *c)
{
    if (!blackhole_is_peer())
        return;
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    raise(SIGSTOP); /* silent from here on: nothing of this process runs */
    close(fd);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"non-blocking: EINPROGRESS, SO_ERROR 0, EISCONN, EAGAIN", nonblocking, ct_peer_hold},
        {"ECONNREFUSED: blocking, and via SO_ERROR", refused, NULL},
        {"peer reset: POLLHUP, ECONNRESET once, then EPIPE", reset, ct_peer_rst},
        {"EPIPE after SHUT_WR; SIGPIPE unless MSG_NOSIGNAL", epipe_sigpipe, ct_peer_hold},
        {"never connected: ENOTCONN, EPIPE, EINVAL", not_connected, NULL},
        {"bind: EADDRINUSE, EADDRNOTAVAIL, EINVAL, ephemeral port", bind_errors, NULL},
        {"EINTR from recv and accept; SA_RESTART restarts recv", eintr, eintr_peer},
        {"signal(), siginterrupt(), sysv_signal(): EINTR or restart; sigaction reports them",
         eintr_installers, eintr_peer},
        {"EOF after FIN, half-close, shutdown EINVAL", eof_shutdown, ct_peer_echo},
        {"SHUT_RD: EOF at once, readable, sending still works", shut_rd, ct_peer_hold},
        {"keepalive to a silent peer: ETIMEDOUT", keepalive_timeout, keepalive_peer},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
