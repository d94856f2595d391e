/*
 * fig4a_tcp.h — the TCP side of bench/homa_fig4a.c: the same Fig. 4a workload over tcp.mtp
 * through the socket layer (sock.h) on the same sim wire. Client A's connection carries its
 * back-to-back requests, client B's the 1 MB ones; the server reads each request whole and
 * answers 170 B on the same connection.
 */
#ifndef FIG4A_TCP_H
#define FIG4A_TCP_H

#include <errno.h>
#include "sock.h"

#define T_PORT 7000
#define T_REPLY 170

struct t_conn {
    struct mtp_sock *sk;
    uint64_t to_send;        /* bytes queued by the workload, not yet accepted by send() */
    uint64_t replies_owed;   /* server: requests complete, replies not sent yet */
    uint64_t got;            /* bytes received since the last message boundary */
};

struct t_host {
    struct mtp_target *t;
    struct mtp_stack *st;
    struct mtp_socks *ss;
};

static struct {
    struct mtp_sim_wire *w;
    struct t_host h[3];      /* A, B, server */
    struct mtp_stack *stacks[3];
    struct mtp_sock *listener;
    struct t_conn a, b, sa, sb; /* clients and their server ends */
    int n_short, a_next;
    uint64_t a_start, *lat;
    bool with_b;
    uint64_t b_next_at;
    int b_sent;
} T;

static uint8_t t_buf[1 << 16];

static void t_host_up(int i, uint32_t ip)
{
    const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
    HS_ASSERT(p != NULL);
    HS_ASSERT(mtp_sim_attach(T.w, ip, 24, &T.h[i].t) == 0);
    struct mtp_stack_config cfg = { .prog = mtp_sock_proto_program(p), .ops = &mtp_target_sim,
                                    .target = T.h[i].t, .seed = 5 + (uint64_t)i,
                                    .tx_unit_bytes = 4 << 20, .rx_unit_bytes = 4 << 20 };
    int err = 0;
    T.h[i].st = mtp_stack_new(&cfg, &err);
    HS_ASSERT(T.h[i].st != NULL);
    T.h[i].ss = mtp_socks_new(T.h[i].st, p, &err);
    HS_ASSERT(T.h[i].ss != NULL);
    T.stacks[i] = T.h[i].st;
}

static uint64_t t_now(void) { return mtp_sim_now(T.w); }

static void t_push(struct t_conn *c)
{
    while (c->to_send > 0) {
        size_t n = c->to_send < sizeof t_buf ? (size_t)c->to_send : sizeof t_buf;
        ssize_t k = mtp_sock_send(c->sk, t_buf, n, t_now());
        if (k <= 0)
            return;
        c->to_send -= (uint64_t)k;
    }
}

/* Reads what is there; returns how many messages of `msg` bytes completed. */
static int t_pull(struct t_conn *c, uint64_t msg)
{
    int done = 0;
    ssize_t k;
    while ((k = mtp_sock_recv(c->sk, t_buf, sizeof t_buf, t_now())) > 0) {
        c->got += (uint64_t)k;
        while (c->got >= msg) {
            c->got -= msg;
            done++;
        }
    }
    return done;
}

static void t_a_request(void)
{
    T.a.to_send += short_size(T.a_next);
    T.a_start = t_now();
}

/* The server knows A's request sizes (the same sequence) and B's (1 MB). */
static int t_a_served;

static void t_serve_a(void)
{
    ssize_t k;
    while ((k = mtp_sock_recv(T.sa.sk, t_buf, sizeof t_buf, t_now())) > 0) {
        T.sa.got += (uint64_t)k;
        while (t_a_served < T.n_short && T.sa.got >= short_size(t_a_served)) {
            T.sa.got -= short_size(t_a_served);
            t_a_served++;
            T.sa.to_send += T_REPLY;
        }
    }
}

static int t_step(void *arg)
{
    (void)arg;
    for (int i = 0; i < 3; i++)
        mtp_socks_poll(T.h[i].ss, t_now());
    if (!T.sa.sk || !T.sb.sk) {
        struct mtp_sock *s;
        while (mtp_sock_accept(T.listener, &s, t_now()) == 0) {
            uint32_t ip;
            uint16_t port;
            mtp_sock_peer(s, &ip, &port);
            if (ip == hs_ip(0))
                T.sa.sk = s;
            else
                T.sb.sk = s;
        }
    }
    if (T.sa.sk) {
        t_serve_a();
        t_push(&T.sa);
    }
    if (T.sb.sk) {
        T.sb.to_send += (uint64_t)t_pull(&T.sb, LONG_MSG) * T_REPLY;
        t_push(&T.sb);
    }
    while (T.with_b && t_now() >= T.b_next_at) {
        T.b.to_send += LONG_MSG;
        T.b_next_at += LONG_EVERY;
        T.b_sent++;
    }
    t_push(&T.b);
    t_pull(&T.b, T_REPLY);
    t_push(&T.a);
    if (t_pull(&T.a, T_REPLY) > 0) {
        T.lat[T.a_next] = t_now() - T.a_start;
        if (++T.a_next == T.n_short)
            return 1;
        t_a_request();
        t_push(&T.a);
    }
    return 0;
}

static int t_connected(void *arg)
{
    (void)arg;
    t_step(NULL);
    return T.sa.sk && T.sb.sk && (mtp_sock_poll(T.a.sk) & MTP_SOCK_WRITABLE) &&
           (mtp_sock_poll(T.b.sk) & MTP_SOCK_WRITABLE);
}

/* Fills lat[0 .. n_short) with A's RPC latencies over TCP. */
static void tcp_run(bool load, uint8_t prio_queues, uint64_t *lat)
{
    memset(&T, 0, sizeof T);
    t_a_served = 0;
    struct mtp_sim_config c = { .seed = 11, .delay_ns = DELAY, .rate_bytes_per_sec = RATE,
                                .port_rate_bytes_per_sec = RATE, .prio_queues = prio_queues };
    T.w = mtp_sim_wire_new(NULL, &c);
    HS_ASSERT(T.w != NULL);
    for (int i = 0; i < 3; i++)
        t_host_up(i, hs_ip(i));
    int err = 0;
    T.listener = mtp_sock_listen(T.h[2].ss, T_PORT, 8, t_now(), &err);
    HS_ASSERT(T.listener != NULL);
    T.a.sk = mtp_sock_connect(T.h[0].ss, hs_ip(2), T_PORT, t_now(), &err);
    T.b.sk = mtp_sock_connect(T.h[1].ss, hs_ip(2), T_PORT, t_now(), &err);
    HS_ASSERT(T.a.sk && T.b.sk);
    HS_ASSERT(mtp_sim_run_until(T.w, T.stacks, 3, t_connected, NULL, HS_SEC) == 0);
    T.n_short = n_short;
    T.lat = lat;
    T.with_b = load;
    T.b_next_at = t_now();
    t_a_request();
    HS_ASSERT(mtp_sim_run_until(T.w, T.stacks, 3, t_step, NULL, 600 * HS_SEC) == 0);
    for (int i = 0; i < 3; i++) {
        mtp_socks_free(T.h[i].ss);
        mtp_stack_free(T.h[i].st);
    }
    mtp_sim_wire_free(T.w);
}

#endif
