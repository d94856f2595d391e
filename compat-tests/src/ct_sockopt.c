/* ct_sockopt — the socket options applications set and read: SO_REUSEADDR, SO_REUSEPORT,
 * SO_KEEPALIVE + TCP_KEEPIDLE/INTVL/CNT, SO_LINGER (and {1,0} = reset), SO_SNDBUF/SO_RCVBUF
 * (Linux doubles), TCP_NODELAY, TCP_INFO, TCP_MAXSEG, SO_ACCEPTCONN, SO_TYPE, SO_DOMAIN,
 * SO_ERROR, and what Linux answers for options it does not know and for short buffers. */
#include "ct.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int get_int(int fd, int level, int opt)
{
    int v = -12345;
    socklen_t len = sizeof v;
    if (CT_OK(getsockopt(fd, level, opt, &v, &len)) < 0)
        return -12345;
    CT_EQ(len, sizeof v);
    return v;
}

static void set_int(int fd, int level, int opt, int v)
{
    CT_OK(setsockopt(fd, level, opt, &v, sizeof v));
}

/* SO_REUSEADDR lets a listener come back at once; SO_REUSEPORT shares a port */
static void reuse(const struct ct_ctx *c)
{
    int a = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    CT_EQ(get_int(a, SOL_SOCKET, SO_REUSEADDR), 0);
    set_int(a, SOL_SOCKET, SO_REUSEADDR, 1);
    CT_EQ(get_int(a, SOL_SOCKET, SO_REUSEADDR), 1);
    close(a);

    struct sockaddr_in sa = ct_sin(c->lip, c->port + 1000);
    int p1 = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    int p2 = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    int p3 = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0));
    set_int(p1, SOL_SOCKET, SO_REUSEPORT, 1);
    set_int(p2, SOL_SOCKET, SO_REUSEPORT, 1);
    CT_EQ(get_int(p2, SOL_SOCKET, SO_REUSEPORT), 1);
    CT_OK(bind(p1, (struct sockaddr *)&sa, sizeof sa));
    CT_OK(listen(p1, 8));
    CT_OK(bind(p2, (struct sockaddr *)&sa, sizeof sa));
    CT_OK(listen(p2, 8));
    CT_ERR(bind(p3, (struct sockaddr *)&sa, sizeof sa), EADDRINUSE);
    close(p1);
    close(p2);
    close(p3);

    /* a listener with accepted, closed connections (in TIME_WAIT or closing) and a new one */
    int l = ct_listen(c->lip, c->port);
    if (l < 0)
        return;
    int fd = ct_accept(l);
    if (fd >= 0) {
        char b[5];
        ct_read_n(fd, b, 5);
        close(fd); /* we close first: TIME_WAIT is on this side */
    }
    close(l);
    l = ct_listen(c->lip, c->port); /* ct_listen sets SO_REUSEADDR */
    CT_TRUE(l >= 0);
    close(l);
}

/* keepalive and its three knobs read back what was set */
static void keepalive(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    CT_EQ(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 7);
    set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, 3);
    set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, 4);
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 7);
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPINTVL), 3);
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_KEEPCNT), 4);
    int zero = 0;
    CT_ERR(setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &zero, sizeof zero), EINVAL);
    CT_ERR(setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &zero, sizeof zero), EINVAL);
    close(fd);
}

/* An accepted connection has its listener's options, as they were when the peer connected. */
static void inherited(const struct ct_ctx *c)
{
    int l = ct_listen(c->lip, c->port);
    if (l < 0)
        return;
    set_int(l, IPPROTO_TCP, TCP_NODELAY, 1);
    set_int(l, SOL_SOCKET, SO_KEEPALIVE, 1);
    set_int(l, IPPROTO_TCP, TCP_KEEPIDLE, 7);
    set_int(l, SOL_SOCKET, SO_RCVBUF, 65536);
    int a = ct_accept(l);
    if (a >= 0) {
        CT_EQ(get_int(a, IPPROTO_TCP, TCP_NODELAY), 1);
        CT_EQ(get_int(a, SOL_SOCKET, SO_KEEPALIVE), 1);
        CT_EQ(get_int(a, IPPROTO_TCP, TCP_KEEPIDLE), 7);
        CT_EQ(get_int(a, SOL_SOCKET, SO_RCVBUF), 131072);
    }
    /* Changed after the first accept, before the peer can start its second connection (it
     * waits for the first one's end): the kernel gives a connection its listener's options
     * when the handshake completes, not at accept(). */
    set_int(l, IPPROTO_TCP, TCP_NODELAY, 0);
    set_int(l, IPPROTO_TCP, TCP_KEEPIDLE, 9);
    if (a >= 0)
        close(a);
    int b = ct_accept(l);
    if (b >= 0) {
        CT_EQ(get_int(b, IPPROTO_TCP, TCP_NODELAY), 0);
        CT_EQ(get_int(b, SOL_SOCKET, SO_KEEPALIVE), 1);
        CT_EQ(get_int(b, IPPROTO_TCP, TCP_KEEPIDLE), 9);
        close(b);
    }
    close(l);
}

/* two connections to the local listener, each held until the local side closes it */
static void peer_connect_twice(const struct ct_ctx *c)
{
    for (int i = 0; i < 2; i++) {
        int fd = ct_peer_connect(c);
        if (fd < 0)
            return;
        ct_drain(fd);
        close(fd);
    }
}

/* SO_LINGER reads back; {1,0} makes close() a reset the peer sees as ECONNRESET */
static void linger(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    struct linger lg = {7, 7};
    socklen_t len = sizeof lg;
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len));
    CT_TRUE(lg.l_onoff == 0 && lg.l_linger == 0);
    lg = (struct linger){1, 5};
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    lg = (struct linger){0, 0};
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, &len));
    CT_TRUE(lg.l_onoff == 1 && lg.l_linger == 5);
    CT_ERR(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg - 1), EINVAL);
    lg = (struct linger){1, 0};
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg));
    char b;
    ct_read_n(fd, &b, 1); /* the peer is ready */
    close(fd);
}

static void expect_reset(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    ct_write_all(fd, "r", 1);
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & POLLIN);
    char b[4];
    CT_ERR(recv(fd, b, sizeof b, 0), ECONNRESET);
    close(fd);
}

/* buffer sizes: Linux stores twice the value asked for (the bookkeeping overhead) */
static void buffers_nodelay(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    CT_TRUE(get_int(fd, SOL_SOCKET, SO_SNDBUF) > 0);
    CT_TRUE(get_int(fd, SOL_SOCKET, SO_RCVBUF) > 0);
    set_int(fd, SOL_SOCKET, SO_SNDBUF, 65536);
    set_int(fd, SOL_SOCKET, SO_RCVBUF, 65536);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_SNDBUF), 131072);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_RCVBUF), 131072);
    set_int(fd, SOL_SOCKET, SO_SNDBUF, 1); /* floors: 4608 and 2304 */
    set_int(fd, SOL_SOCKET, SO_RCVBUF, 1);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_SNDBUF), 4608);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_RCVBUF), 2304);
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    set_int(fd, IPPROTO_TCP, TCP_NODELAY, 5); /* any non-zero value is "on" */
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    int v = 0;
    CT_ERR(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, 2), EINVAL); /* changes nothing */
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    set_int(fd, IPPROTO_TCP, TCP_NODELAY, 0);
    CT_EQ(get_int(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    socklen_t vlen = 2;
    v = 0;
    CT_OK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vlen)); /* Linux truncates */
    CT_EQ(vlen, 2);
    CT_EQ(v, 1);
    /* small buffers still carry data both ways */
    char msg[3000], back[3000];
    memset(msg, 'n', sizeof msg);
    if (ct_write_all(fd, msg, sizeof msg) && ct_read_n(fd, back, sizeof back))
        CT_TRUE(memcmp(msg, back, sizeof msg) == 0);
    close(fd);
}

/* TCP_INFO and TCP_MAXSEG on a connection and on a listener */
static void info_maxseg(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    char b[4];
    if (ct_write_all(fd, "ping", 4))
        ct_read_n(fd, b, 4);
    struct tcp_info ti;
    memset(&ti, 0xff, sizeof ti);
    socklen_t len = sizeof ti;
    CT_OK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len));
    CT_TRUE(len > 0 && len <= sizeof ti);
    CT_EQ(ti.tcpi_state, 1 /* TCP_ESTABLISHED */);
    CT_TRUE(ti.tcpi_snd_mss > 0 && ti.tcpi_snd_mss <= 65535);
    CT_TRUE(ti.tcpi_rcv_mss > 0);
    CT_TRUE(ti.tcpi_rtt > 0);
    CT_TRUE(ti.tcpi_snd_cwnd > 0);
    CT_EQ(ti.tcpi_total_retrans, 0);
    struct tcp_info small;
    len = 8; /* a short buffer gets the first bytes */
    CT_OK(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &small, &len));
    CT_EQ(len, 8);
    int mss = get_int(fd, IPPROTO_TCP, TCP_MAXSEG);
    CT_TRUE(mss >= 536 && mss <= 65495);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_ERROR), 0);
    close(fd);

    int l = ct_listen(c->lip, c->port + 1000);
    if (l >= 0) {
        len = sizeof ti;
        CT_OK(getsockopt(l, IPPROTO_TCP, TCP_INFO, &ti, &len));
        CT_EQ(ti.tcpi_state, 10 /* TCP_LISTEN */);
        CT_EQ(get_int(l, SOL_SOCKET, SO_ACCEPTCONN), 1);
        CT_EQ(get_int(l, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
        CT_EQ(get_int(l, SOL_SOCKET, SO_DOMAIN), AF_INET);
        close(l);
    }
}

/* options nobody knows, bad lengths, bad levels: Linux's errors */
static void unknown(const struct ct_ctx *c)
{
    (void)c;
    int fd = (int)CT_OK(socket(AF_INET, SOCK_STREAM, 0)), v = 1;
    socklen_t len = sizeof v;
    CT_ERR(getsockopt(fd, SOL_SOCKET, 9999, &v, &len), ENOPROTOOPT);
    CT_ERR(setsockopt(fd, SOL_SOCKET, 9999, &v, sizeof v), ENOPROTOOPT);
    CT_ERR(getsockopt(fd, IPPROTO_TCP, 9999, &v, &len), ENOPROTOOPT);
    CT_ERR(setsockopt(fd, IPPROTO_TCP, 9999, &v, sizeof v), ENOPROTOOPT);
    CT_ERR(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, 2), EINVAL);
    CT_ERR(setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, 2), EINVAL);
    len = 2;
    CT_OK(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len)); /* Linux truncates */
    CT_EQ(len, 2);
    len = sizeof v;
    CT_ERR(getsockopt(fd, SOL_SOCKET, SO_TYPE, NULL, &len), EFAULT);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
    CT_EQ(get_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
    CT_TRUE(get_int(fd, IPPROTO_TCP, TCP_MAXSEG) > 0); /* unconnected: the default */
    close(fd);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"SO_REUSEADDR, SO_REUSEPORT", reuse, ct_peer_hello},
        {"SO_KEEPALIVE, TCP_KEEPIDLE/INTVL/CNT", keepalive, ct_peer_hold},
        {"accepted connections inherit the listener's options", inherited, peer_connect_twice},
        {"SO_LINGER; {1,0} resets", linger, expect_reset},
        {"SO_SNDBUF/SO_RCVBUF (doubled, floors), TCP_NODELAY", buffers_nodelay, ct_peer_echo},
        {"TCP_INFO, TCP_MAXSEG, SO_ACCEPTCONN, SO_TYPE, SO_DOMAIN, SO_ERROR", info_maxseg,
         ct_peer_echo},
        {"unknown options, short lengths, NULL buffers", unknown, NULL},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
