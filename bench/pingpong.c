/*
 * pingpong — request/response latency over kernel TCP sockets (-k) or over MTP (-m: the TCP
 * program on a stack with the xdp target, through the socket API of preload/sock.h). Both
 * sides set TCP_NODELAY / MTP_SOCKOPT_NODELAY and wait for readiness the same way (poll on
 * the socket, or on the target's wake fd).
 *
 *   pingpong -k|-m -l PORT                echo server: one connection, echoes until EOF
 *   pingpong -k|-m HOST PORT N SIZE       client: N round trips of SIZE bytes (after 200
 *                                         untimed ones), then one line on stdout:
 *   pingpong: n N size SIZE p50_us X p90_us . p99_us Y max_us . mean_us Z
 *
 * MTP environment: MTP_IFACE (required), MTP_XDP_OBJ (the hook object, required), MTP_IP,
 * MTP_PCAP (a capture of every frame the stack sends and receives).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mtp/stack.h"
#include "mtp/target.h"
#include "sock.h"

#define WARMUP 200
#define MAX_SIZE 65536
#define SEC 1000000000ull

static void die(const char *what, int err)
{
    fprintf(stderr, "pingpong: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ one connection, two ways */

struct conn {
    int fd;                      /* kernel */
    struct mtp_stack *st;        /* MTP */
    struct mtp_socks *ss;
    struct mtp_sock *sk, *listener;
    int wake_fd;
};

/* Waits until something may have changed, at most until the next timer (MTP) or 1 s. */
static void conn_wait(struct conn *c, short events)
{
    struct pollfd pf = {.fd = c->fd, .events = events};
    int ms = 1000;
    if (c->st) {
        pf.fd = c->wake_fd;
        pf.events = POLLIN;
        uint64_t dl = mtp_stack_next_deadline(c->st), now = now_ns();
        if (dl != UINT64_MAX)
            ms = dl <= now ? 0 : (int)((dl - now + 999999) / 1000000 < 1000 ? (dl - now + 999999) / 1000000 : 1000);
    }
    if (poll(&pf, 1, ms) < 0 && errno != EINTR)
        die("poll", errno);
    if (c->st)
        mtp_socks_poll(c->ss, now_ns());
}

/* Reads exactly len bytes; 0 at EOF before any byte, 1 when done. */
static int conn_read(struct conn *c, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n;
        if (c->st) {
            n = mtp_sock_recv(c->sk, buf + got, len - got, now_ns());
            if (n < 0 && n != -EAGAIN)
                die("recv", (int)n);
        } else {
            n = recv(c->fd, buf + got, len - got, 0);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                die("recv", errno);
            if (n < 0)
                n = -EAGAIN;
        }
        if (n == 0) {
            if (got)
                die("recv: EOF inside a message", EPROTO);
            return 0;
        }
        if (n > 0)
            got += (size_t)n;
        else
            conn_wait(c, POLLIN);
    }
    return 1;
}

static void conn_write(struct conn *c, const uint8_t *buf, size_t len)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n;
        if (c->st) {
            n = mtp_sock_send(c->sk, buf + put, len - put, now_ns());
            if (n < 0 && n != -EAGAIN && n != -ENOTCONN)
                die("send", (int)n);
        } else {
            n = send(c->fd, buf + put, len - put, MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                die("send", errno);
        }
        if (n > 0)
            put += (size_t)n;
        else
            conn_wait(c, POLLOUT);
    }
}

static void kernel_open(struct conn *c, const char *host, uint16_t port)
{
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (fd < 0)
        die("socket", errno);
    if (!host) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1) < 0)
            die("listen", errno);
        fprintf(stderr, "pingpong: listening\n");
        int s = accept(fd, NULL, NULL);
        if (s < 0)
            die("accept", errno);
        close(fd);
        fd = s;
    } else {
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
            die(host, EINVAL);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
            die("connect", errno);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
}

static void mtp_open(struct conn *c, const char *host, uint16_t port)
{
    const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
    const char *iface = getenv("MTP_IFACE"), *obj = getenv("MTP_XDP_OBJ"), *ipv = getenv("MTP_IP");
    if (!p || !iface || !obj)
        die("MTP_IFACE and MTP_XDP_OBJ must be set", EINVAL);
    const struct mtp_program *prog = mtp_sock_proto_program(p);
    struct mtp_target_config tcfg = {.iface = iface, .ip_proto = prog->ip_proto,
                                     .steer_port_off = prog->steer_port_off, .args = obj};
    struct mtp_target *t;
    int err = mtp_target_xdp.open(&t, &tcfg);
    if (err)
        die("xdp target", err);
    struct in_addr ip = {0};
    if (ipv && inet_pton(AF_INET, ipv, &ip) != 1)
        die(ipv, EINVAL);
    struct mtp_stack_config scfg = {.prog = prog, .ops = &mtp_target_xdp, .target = t,
                                    .ipv4 = ntohl(ip.s_addr), .pcap_path = getenv("MTP_PCAP")};
    if (!(c->st = mtp_stack_new(&scfg, &err)))
        die("stack", err);
    if (!(c->ss = mtp_socks_new(c->st, p, &err)))
        die("socket layer", err);
    c->wake_fd = mtp_target_xdp.wake_fd(t);
    c->fd = -1;
    if (!host) {
        if (!(c->listener = mtp_sock_listen(c->ss, port, 4, now_ns(), &err)))
            die("listen", err);
        fprintf(stderr, "pingpong: listening\n");
        while (mtp_sock_accept(c->listener, &c->sk, now_ns()) != 0)
            conn_wait(c, POLLIN);
    } else {
        struct in_addr dst;
        if (inet_pton(AF_INET, host, &dst) != 1)
            die(host, EINVAL);
        if (!(c->sk = mtp_sock_connect(c->ss, ntohl(dst.s_addr), port, now_ns(), &err)))
            die("connect", err);
        while (!(mtp_sock_poll(c->sk) & (MTP_SOCK_WRITABLE | MTP_SOCK_ERROR)))
            conn_wait(c, POLLOUT);
        if ((err = mtp_sock_error(c->sk)))
            die("connect", err);
    }
    mtp_sock_setopt(c->sk, MTP_SOCKOPT_NODELAY, 1, now_ns());
}

/* Closes; an MTP stack keeps running until its protocol has no timer left (at most 3 s) so
 * the closing handshake completes. */
static void conn_close(struct conn *c)
{
    if (!c->st) {
        close(c->fd);
        return;
    }
    mtp_sock_close(c->sk, now_ns());
    uint64_t until = now_ns() + 3 * SEC;
    while (now_ns() < until && mtp_stack_next_deadline(c->st) != UINT64_MAX)
        conn_wait(c, POLLIN);
    if (c->listener)
        mtp_sock_close(c->listener, now_ns());
}

/* The stack's counters on stderr: a latency tail often has its explanation here
 * (retransmission timers, drops). */
static void stats_print(const struct conn *c, const char *who)
{
    if (!c->st)
        return;
    const struct mtp_stats *st = mtp_stack_stats(c->st);
    fprintf(stderr,
            "pingpong: %s stack: frames rx %llu tx %llu, timers fired %llu, drops: malformed "
            "%llu bad_csum %llu no_ctx %llu tx_full %llu rx_window %llu\n",
            who, (unsigned long long)st->rx_frames, (unsigned long long)st->tx_frames,
            (unsigned long long)st->timers_fired, (unsigned long long)st->drop_malformed,
            (unsigned long long)st->drop_bad_csum, (unsigned long long)st->drop_no_ctx,
            (unsigned long long)st->drop_tx_full, (unsigned long long)st->drop_rx_window);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "-k") && strcmp(argv[1], "-m"))) {
        fprintf(stderr, "usage: pingpong -k|-m -l PORT | pingpong -k|-m HOST PORT N SIZE\n");
        return 2;
    }
    int use_mtp = argv[1][1] == 'm', server = !strcmp(argv[2], "-l");
    struct conn c = {.fd = -1};
    static uint8_t buf[MAX_SIZE];
    if (server) {
        if (argc != 4)
            die("usage: -l PORT", EINVAL);
        uint16_t port = (uint16_t)atoi(argv[3]);
        use_mtp ? mtp_open(&c, NULL, port) : kernel_open(&c, NULL, port);
        /* the request size is the client's: echo whatever arrives, as it arrives */
        for (;;) {
            ssize_t n;
            if (c.st) {
                n = mtp_sock_recv(c.sk, buf, sizeof buf, now_ns());
                if (n < 0 && n != -EAGAIN)
                    die("recv", (int)n);
            } else {
                n = recv(c.fd, buf, sizeof buf, 0);
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                    die("recv", errno);
                if (n < 0)
                    n = -EAGAIN;
            }
            if (n == 0)
                break;
            if (n > 0)
                conn_write(&c, buf, (size_t)n);
            else
                conn_wait(&c, POLLIN);
        }
        conn_close(&c);
        stats_print(&c, "server");
        return 0;
    }
    if (argc != 6)
        die("usage: HOST PORT N SIZE", EINVAL);
    long n = atol(argv[4]), size = atol(argv[5]);
    if (n <= 0 || size <= 0 || size > MAX_SIZE)
        die("N > 0 and 0 < SIZE <= 65536", EINVAL);
    use_mtp ? mtp_open(&c, argv[2], (uint16_t)atoi(argv[3]))
            : kernel_open(&c, argv[2], (uint16_t)atoi(argv[3]));
    uint64_t *rtt = calloc((size_t)n, sizeof *rtt);
    if (!rtt)
        die("calloc", ENOMEM);
    memset(buf, 0x5a, (size_t)size);
    for (long i = -WARMUP; i < n; i++) {
        uint64_t t0 = now_ns();
        conn_write(&c, buf, (size_t)size);
        if (!conn_read(&c, buf, (size_t)size))
            die("server closed early", ECONNRESET);
        if (i >= 0)
            rtt[i] = now_ns() - t0;
    }
    qsort(rtt, (size_t)n, sizeof *rtt, cmp_u64);
    double sum = 0;
    for (long i = 0; i < n; i++)
        sum += (double)rtt[i];
    printf("pingpong: n %ld size %ld p50_us %.1f p90_us %.1f p99_us %.1f max_us %.1f "
           "mean_us %.1f\n", n, size, (double)rtt[n / 2] / 1e3, (double)rtt[(n * 9) / 10] / 1e3,
           (double)rtt[(n * 99) / 100] / 1e3, (double)rtt[n - 1] / 1e3, sum / (double)n / 1e3);
    free(rtt);
    if (c.st)
        mtp_sock_shutdown_wr(c.sk, now_ns());
    else
        shutdown(c.fd, SHUT_WR);
    conn_close(&c);
    stats_print(&c, "client");
    return 0;
}
