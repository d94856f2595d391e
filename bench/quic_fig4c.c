/*
 * quic_fig4c.c — the paper's Fig. 4c scenario on the sim wire (not a test): one client asks a
 * single-threaded server for large (1 MB) and small (8-32 KB) responses, alternately: a
 * large one every GAP, a small one GAP / 10 after it (the large one is on the wire); the latency of the small ones (request written -> last response byte
 * read) over tcp.mtp and over quic_lite.mtp, through the same socket layer (sock.h):
 *
 *   tcp   one connection, requests pipelined on it, answered in order (HTTP/1.1-style): a
 *         small response waits behind the large one before it (head-of-line blocking);
 *   quic  one socket per request, all streams of one QUIC-Lite connection: the server writes
 *         every response at once and the program serves streams round robin (QUANTUM).
 *
 * 10 Gb/s, 5 us one way. Prints mean / p50 / p99 of the small responses per protocol and the
 * ratio quic / tcp.
 *
 *     build/bin/bench_quic_fig4c [requests] [gap_us]     (default 200 requests, 2000 us)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/stack.h"
#include "sim.h"
#include "sock.h"

#define IP_C 0x0a000001u
#define IP_S 0x0a000002u
#define PORT 8443
#define RATE 1250000000ull
#define MAXREQ 4096
#define MAXSOCK 256
#define BIG 1000000u

#define CHECK(c)                                                                           \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "bench_quic_fig4c: %s:%d: check failed: %s\n", __FILE__,        \
                    __LINE__, #c);                                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

struct req {
    uint32_t size;
    uint64_t start, end;          /* ns */
    uint64_t got;                 /* response bytes read */
    struct mtp_sock *cs, *ss;     /* quic: the client's and the server's socket */
    uint64_t sent;                /* server: response bytes written */
    uint8_t hdr[8];
    uint32_t hdr_got;             /* server: request bytes read */
};

static struct {
    bool quic;
    struct mtp_sim_wire *w;
    struct mtp_stack *st[2];
    struct mtp_socks *ss[2];
    struct mtp_sock *listener, *tcp_c, *tcp_s;
    struct req r[MAXREQ];
    int n, issued, done, served; /* tcp: requests parsed by the server */
    uint64_t gap, next_at, t0;
    uint8_t tcp_hdr[8];
    uint32_t tcp_hdr_got;
    int tcp_rd;                  /* tcp: the response the client is reading */
    struct mtp_sock *pending[MAXSOCK];   /* quic: accepted, request not read yet */
    int n_pending;
} B;

static uint8_t buf[1 << 20];

static uint64_t now(void) { return mtp_sim_now(B.w); }

/* Pairs: a large response, then a small one GAP / 10 later (while the large one is on the
 * wire); a pair every GAP. */
static uint32_t size_of(int i)
{
    if (i % 2 == 0)
        return BIG;
    uint32_t x = (uint32_t)i * 2654435761u;
    return 8192 + (x >> 8) % (24 * 1024 + 1);
}

static void up(const char *proto)
{
    memset(&B, 0, sizeof B);
    const struct mtp_sock_proto *p = mtp_sock_proto_find(proto);
    CHECK(p);
    struct mtp_sim_config cfg = {.seed = 5, .delay_ns = 5000, .rate_bytes_per_sec = RATE};
    B.w = mtp_sim_wire_new(NULL, &cfg);
    for (int i = 0; i < 2; i++) {
        struct mtp_target *t;
        CHECK(mtp_sim_attach(B.w, i ? IP_S : IP_C, 24, &t) == 0);
        struct mtp_stack_config c = {.prog = mtp_sock_proto_program(p), .ops = &mtp_target_sim,
                                     .target = t, .seed = 9 + (uint64_t)i};
        int err = 0;
        B.st[i] = mtp_stack_new(&c, &err);
        CHECK(B.st[i]);
        B.ss[i] = mtp_socks_new(B.st[i], p, &err);
        CHECK(B.ss[i]);
    }
}

static void down(void)
{
    for (int i = 0; i < 2; i++) {
        mtp_socks_free(B.ss[i]);
        mtp_stack_free(B.st[i]);
    }
    mtp_sim_wire_free(B.w);
}

static void put_hdr(uint8_t *h, int id, uint32_t size)
{
    memcpy(h, &id, 4);
    memcpy(h + 4, &size, 4);
}

/* ------------------------------------------------------------ client */

static void issue(int i)
{
    struct req *r = &B.r[i];
    r->size = size_of(i);
    r->start = now();
    uint8_t h[8];
    put_hdr(h, i, r->size);
    if (B.quic) {
        int err = 0;
        r->cs = mtp_sock_connect(B.ss[0], IP_S, PORT, now(), &err);
        CHECK(r->cs);
        r->hdr_got = 0; /* sent below, when the stream is writable */
    } else {
        CHECK(mtp_sock_send(B.tcp_c, h, 8, now()) == 8); /* 8 bytes always fit */
    }
}

static void quic_client(void)
{
    for (int i = 0; i < B.issued; i++) {
        struct req *r = &B.r[i];
        if (r->end || !r->cs)
            continue;
        if (r->hdr_got == 0 && (mtp_sock_poll(r->cs) & MTP_SOCK_WRITABLE)) {
            uint8_t h[8];
            put_hdr(h, i, r->size);
            CHECK(mtp_sock_send(r->cs, h, 8, now()) == 8);
            CHECK(mtp_sock_shutdown_wr(r->cs, now()) == 0);
            r->hdr_got = 8;
        }
        ssize_t k;
        while ((k = mtp_sock_recv(r->cs, buf, sizeof buf, now())) > 0)
            r->got += (uint64_t)k;
        if (k == 0) {
            CHECK(r->got == r->size);
            r->end = now();
            B.done++;
            mtp_sock_close(r->cs, now());
            r->cs = NULL;
        }
    }
}

static void tcp_client(void)
{
    ssize_t k;
    while (B.tcp_rd < B.issued && (k = mtp_sock_recv(B.tcp_c, buf, sizeof buf, now())) > 0) {
        uint64_t left = (uint64_t)k;
        while (left && B.tcp_rd < B.issued) { /* responses arrive in request order */
            struct req *r = &B.r[B.tcp_rd];
            uint64_t take = r->size - r->got < left ? r->size - r->got : left;
            r->got += take;
            left -= take;
            if (r->got == r->size) {
                r->end = now();
                B.done++;
                B.tcp_rd++;
            }
        }
        CHECK(left == 0);
    }
}

/* ------------------------------------------------------------ server */

/* Writes what fits of response r into sk; true when it is all written. */
static bool respond(struct mtp_sock *sk, struct req *r)
{
    while (r->sent < r->size) {
        uint64_t n = r->size - r->sent < sizeof buf ? r->size - r->sent : sizeof buf;
        ssize_t k = mtp_sock_send(sk, buf, (size_t)n, now());
        if (k <= 0)
            return false;
        r->sent += (uint64_t)k;
    }
    return true;
}

static void quic_server(void)
{
    struct mtp_sock *sk;
    while (mtp_sock_accept(B.listener, &sk, now()) == 0) {
        CHECK(B.n_pending < MAXSOCK);
        B.pending[B.n_pending++] = sk;
    }
    for (int j = 0; j < B.n_pending; j++) { /* requests: 8 bytes, then EOF */
        uint8_t h[8];
        ssize_t k = mtp_sock_recv(B.pending[j], h, 8, now());
        if (k != 8)
            continue;
        int id;
        memcpy(&id, h, 4);
        CHECK(id >= 0 && id < B.n && !B.r[id].ss);
        B.r[id].ss = B.pending[j];
        B.pending[j--] = B.pending[--B.n_pending];
    }
    for (int i = 0; i < B.issued; i++) { /* every open response gets what fits */
        struct req *r = &B.r[i];
        if (r->ss && respond(r->ss, r)) {
            mtp_sock_close(r->ss, now());
            r->ss = NULL;
            r->sent = r->size + 1; /* done */
        }
    }
}

static void tcp_server(void)
{
    for (;;) { /* in order: finish the current response before reading the next request */
        if (B.served > 0) {
            struct req *r = &B.r[B.served - 1];
            if (r->sent < r->size && !respond(B.tcp_s, r))
                return;
        }
        while (B.tcp_hdr_got < 8) {
            ssize_t k = mtp_sock_recv(B.tcp_s, B.tcp_hdr + B.tcp_hdr_got, 8 - B.tcp_hdr_got, now());
            if (k <= 0)
                return;
            B.tcp_hdr_got += (uint32_t)k;
        }
        int id;
        memcpy(&id, B.tcp_hdr, 4);
        CHECK(id == B.served);
        B.tcp_hdr_got = 0;
        B.served++;
    }
}

/* ------------------------------------------------------------ the run */

static int step(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++)
        mtp_socks_poll(B.ss[i], now());
    while (B.issued < B.n && now() >= B.next_at) {
        issue(B.issued++);
        B.next_at = B.t0 + (uint64_t)(B.issued / 2) * B.gap + (B.issued % 2 ? B.gap / 10 : 0);
    }
    if (B.quic) {
        quic_client();
        quic_server();
    } else {
        tcp_client();
        tcp_server();
    }
    return B.done == B.n;
}

static int connected(void *arg)
{
    (void)arg;
    for (int i = 0; i < 2; i++)
        mtp_socks_poll(B.ss[i], now());
    if (!B.tcp_s && mtp_sock_accept(B.listener, &B.tcp_s, now()) < 0)
        B.tcp_s = NULL;
    return B.tcp_s && (mtp_sock_poll(B.tcp_c) & MTP_SOCK_WRITABLE);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* mean, p50, p99 of the small responses' latencies, in us */
static void run(const char *proto, int n, uint64_t gap_ns, double out[3])
{
    up(proto);
    B.quic = strcmp(proto, "quic") == 0;
    B.n = n;
    B.gap = gap_ns;
    int err = 0;
    B.listener = mtp_sock_listen(B.ss[1], PORT, 128, now(), &err);
    CHECK(B.listener);
    if (!B.quic) {
        B.tcp_c = mtp_sock_connect(B.ss[0], IP_S, PORT, now(), &err);
        CHECK(B.tcp_c);
        CHECK(mtp_sim_run_until(B.w, B.st, 2, connected, NULL, now() + 1000000000ull) == 0);
    }
    B.next_at = B.t0 = now();
    uint64_t end = now() + 600 * 1000000000ull;
    while (!step(NULL)) { /* the wire does not know the request times: run up to the next */
        uint64_t until = B.issued < B.n ? B.next_at : end;
        if (mtp_sim_run_until(B.w, B.st, 2, step, NULL, until) == 0)
            break;
        CHECK(now() < end);
    }
    uint64_t lat[MAXREQ];
    int k = 0;
    double sum = 0;
    for (int i = 1; i < n; i += 2) {
        lat[k] = B.r[i].end - B.r[i].start;
        sum += (double)lat[k++];
    }
    qsort(lat, (size_t)k, sizeof lat[0], cmp_u64);
    out[0] = sum / k / 1000.0;
    out[1] = (double)lat[k / 2] / 1000.0;
    out[2] = (double)lat[(k * 99) / 100] / 1000.0;
    down();
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200;
    uint64_t gap_us = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
    CHECK(n >= 2 && n <= MAXREQ && gap_us > 0);
    double tcp[3], quic[3];
    run("tcp", n, gap_us * 1000, tcp);
    run("quic", n, gap_us * 1000, quic);
    printf("Fig. 4c on the sim wire (10 Gb/s, 5 us one way): %d requests, a 1 MB one every %lu us\n"
           "and an 8-32 KB one %lu us after it; latency of the %d small ones (us)\n",
           n, (unsigned long)gap_us, (unsigned long)gap_us / 10, n / 2);
    printf("%-10s %10s %10s %10s\n", "protocol", "mean", "p50", "p99");
    printf("%-10s %10.1f %10.1f %10.1f\n", "tcp.mtp", tcp[0], tcp[1], tcp[2]);
    printf("%-10s %10.1f %10.1f %10.1f\n", "quic_lite", quic[0], quic[1], quic[2]);
    printf("%-10s %10.3f %10.3f %10.3f   (goal: <= 0.2; paper: 0.17 mean, 0.20 tail)\n",
           "quic/tcp", quic[0] / tcp[0], quic[1] / tcp[1], quic[2] / tcp[2]);
    return 0;
}
