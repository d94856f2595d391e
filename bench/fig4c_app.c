/*
 * fig4c_app.c — the paper's Fig. 4c scenario as an ordinary sockets program, to run under
 * libmtp.so over veth (bench/fig4c_veth.sh; not a test). The server is single-threaded: it
 * reads 8-byte requests (id, size) and answers each with `size` bytes, in order on a
 * connection, every connection served a slice at a time. The client asks for a 1 MB response
 * every GAP and an 8-32 KB one GAP / 10 later, and prints the small ones' latency.
 *
 *     fig4c_app server PORT
 *     fig4c_app client IP PORT one|two|per REQUESTS GAP_US
 *
 * one: every request on one connection (pipelined; responses come in order);
 * two: the large requests on one connection, the small ones on another (under
 *      MTP_PROTO=quic: two streams of one connection);
 * per: a connection per request (under MTP_PROTO=quic: a stream per request, one connection).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIG 1000000u
#define MAXC 1024
#define MAXQ 4096
#define SLICE 65536

static uint8_t buf[1 << 20];

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* ------------------------------------------------------------ server */

struct sconn {
    int fd;
    uint8_t hdr[8];
    uint32_t hdr_got;
    uint32_t q[64];      /* response sizes owed, in order */
    int qh, qn;
    uint64_t sent;       /* of q[qh] */
    bool eof;
};

static void serve(int port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 128) < 0)
        die("listen");
    nonblock(l);
    static struct sconn c[MAXC];
    static struct pollfd pf[MAXC + 1];
    int n = 0;
    for (;;) {
        pf[0] = (struct pollfd){l, POLLIN, 0};
        for (int i = 0; i < n; i++)
            pf[i + 1] = (struct pollfd){c[i].fd, (short)(POLLIN | (c[i].qn ? POLLOUT : 0)), 0};
        if (poll(pf, (nfds_t)n + 1, 1000) < 0 && errno != EINTR)
            die("poll");
        int fd;
        while (n < MAXC && (fd = accept(l, NULL, NULL)) >= 0) {
            nonblock(fd);
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c[n++] = (struct sconn){.fd = fd};
        }
        for (int i = 0; i < n; i++) {
            struct sconn *s = &c[i];
            ssize_t k;
            while (!s->eof && (k = read(s->fd, s->hdr + s->hdr_got, 8 - s->hdr_got)) > 0) {
                s->hdr_got += (uint32_t)k;
                if (s->hdr_got == 8 && s->qn < 64) {
                    memcpy(&s->q[(s->qh + s->qn++) % 64], s->hdr + 4, 4);
                    s->hdr_got = 0;
                }
            }
            if (k == 0)
                s->eof = true;
            uint64_t slice = 0; /* a slice per connection and pass: one thread, fair */
            while (s->qn && slice < SLICE) {
                uint32_t size = s->q[s->qh];
                uint64_t want = size - s->sent < SLICE - slice ? size - s->sent : SLICE - slice;
                k = write(s->fd, buf, want);
                if (k <= 0)
                    break;
                s->sent += (uint64_t)k;
                slice += (uint64_t)k;
                if (s->sent == size) {
                    s->qh = (s->qh + 1) % 64;
                    s->qn--;
                    s->sent = 0;
                }
            }
            if (s->eof && s->qn == 0) {
                close(s->fd);
                c[i--] = c[--n];
            }
        }
    }
}

/* ------------------------------------------------------------ client */

struct creq {
    uint32_t size;
    uint64_t start, end, got;
    int fd;              /* per: its connection */
    bool req_sent;
};

static struct creq R[MAXQ];

static uint32_t size_of(int i)
{
    if (i % 2 == 0)
        return BIG;
    uint32_t x = (uint32_t)i * 2654435761u;
    return 8192 + (x >> 8) % (24 * 1024 + 1);
}

static int open_conn(const char *ip, int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

static bool send_req(int fd, int id, uint32_t size)
{
    uint8_t h[8];
    memcpy(h, &id, 4);
    memcpy(h + 4, &size, 4);
    return write(fd, h, 8) == 8;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void client(const char *ip, int port, int socks, int n, uint64_t gap)
{
    bool per = socks == 0;
    int fds[2] = {-1, -1}, issued = 0, done = 0, rd[2] = {0, 1};
    for (int j = 0; j < socks; j++) { /* connected before the clock starts */
        fds[j] = open_conn(ip, port);
        struct pollfd p = {fds[j], POLLOUT, 0};
        if (poll(&p, 1, 5000) != 1)
            die("connect");
    }
    int step = socks == 2 ? 2 : 1; /* requests of socket j: j, j + step, ... */
    if (socks == 1)
        rd[1] = n;
    uint64_t t0 = now_ns() + 20000000ull;
    static struct pollfd pf[MAXQ];
    while (done < n) {
        uint64_t t = now_ns();
        while (issued < n && t >= t0 + (uint64_t)(issued / 2) * gap + (issued % 2 ? gap / 10 : 0)) {
            struct creq *r = &R[issued];
            r->size = size_of(issued);
            r->start = t;
            if (per) {
                r->fd = open_conn(ip, port);
            } else if (!send_req(fds[socks == 2 ? issued % 2 : 0], issued, r->size)) {
                die("send");
            } else {
                r->req_sent = true;
            }
            issued++;
        }
        int np = 0;
        if (!per) {
            for (int j = 0; j < socks; j++)
                pf[np++] = (struct pollfd){fds[j], POLLIN, 0};
        } else {
            for (int i = 0; i < issued; i++)
                if (!R[i].end)
                    pf[np++] = (struct pollfd){R[i].fd, (short)(R[i].req_sent ? POLLIN : POLLOUT), 0};
        }
        poll(pf, (nfds_t)np, 1);
        for (int j = 0; j < socks; j++) { /* responses come in order on each socket */
            ssize_t k;
            while (rd[j] < issued && (k = read(fds[j], buf, sizeof buf)) > 0) {
                uint64_t left = (uint64_t)k;
                while (left && rd[j] < issued) {
                    struct creq *r = &R[rd[j]];
                    uint64_t take = r->size - r->got < left ? r->size - r->got : left;
                    r->got += take;
                    left -= take;
                    if (r->got == r->size) {
                        r->end = now_ns();
                        done++;
                        rd[j] += step;
                    }
                }
            }
        }
        if (!per)
            continue;
        for (int i = 0; i < issued; i++) {
            struct creq *r = &R[i];
            if (r->end)
                continue;
            if (!r->req_sent) {
                struct pollfd p = {r->fd, POLLOUT, 0};
                if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT)) {
                    if (!send_req(r->fd, i, r->size))
                        die("send (per)");
                    shutdown(r->fd, SHUT_WR);
                    r->req_sent = true;
                }
                continue;
            }
            ssize_t k;
            while ((k = read(r->fd, buf, sizeof buf)) > 0)
                r->got += (uint64_t)k;
            if (k == 0) {
                if (r->got != r->size) {
                    fprintf(stderr, "request %d: %lu of %u bytes\n", i, (unsigned long)r->got, r->size);
                    exit(1);
                }
                r->end = now_ns();
                close(r->fd);
                done++;
            }
        }
    }
    static uint64_t lat[MAXQ];
    int k = 0;
    double sum = 0;
    for (int i = 1; i < n; i += 2) {
        lat[k] = R[i].end - R[i].start;
        if (getenv("FIG4C_VERBOSE"))
            fprintf(stderr, "request %d: %u bytes in %.1f us (the 1 MB one before: %.1f us)\n", i,
                    R[i].size, (double)lat[k] / 1000.0, (double)(R[i - 1].end - R[i - 1].start) / 1000.0);
        sum += (double)lat[k++];
    }
    qsort(lat, (size_t)k, sizeof lat[0], cmp_u64);
    printf("%.1f %.1f %.1f\n", sum / k / 1000.0, (double)lat[k / 2] / 1000.0,
           (double)lat[(k * 99) / 100] / 1000.0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "server") == 0) {
        serve(atoi(argv[2]));
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "client") == 0) {
        int n = atoi(argv[5]);
        if (n < 2 || n > MAXQ)
            return 2;
        int socks = strcmp(argv[4], "per") == 0 ? 0 : strcmp(argv[4], "two") == 0 ? 2 : 1;
        client(argv[2], atoi(argv[3]), socks, n, strtoull(argv[6], NULL, 10) * 1000);
        return 0;
    }
    fprintf(stderr, "usage: fig4c_app server PORT | client IP PORT one|two|per REQUESTS GAP_US\n");
    return 2;
}
