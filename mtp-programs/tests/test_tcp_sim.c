/*
 * test_tcp_sim.c — two MTP-TCP stacks on the simulated wire, talking through the socket
 * layer (preload/sock.h): byte-exact bulk transfers under loss, duplication, reordering and
 * delay; many concurrent connections; the closing handshakes. Virtual time only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/stack.h"
#include "sim.h"
#include "sock.h"
#include "tcp.h" /* params */

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define PORT 5000

/* The byte at stream offset `off` of stream `id`: every byte is checked on arrival. */
static inline uint8_t pattern(uint32_t id, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)id * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 56);
}

struct host {
    struct mtp_target *t;
    struct mtp_stack *st;
    struct mtp_socks *ss;
};

struct rig {
    struct mtp_sim_wire *w;
    struct host a, b;
    struct mtp_stack *stacks[2];
};

static void host_up(struct rig *r, struct host *h, uint32_t ip, uint64_t seed, uint32_t unit)
{
    const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
    cr_assert_not_null(p);
    cr_assert_eq(mtp_sim_attach(r->w, ip, 24, &h->t), 0);
    struct mtp_stack_config cfg = {
        .prog = mtp_sock_proto_program(p), .ops = &mtp_target_sim, .target = h->t,
        .seed = seed, .tx_unit_bytes = unit, .rx_unit_bytes = unit};
    int err = 0;
    h->st = mtp_stack_new(&cfg, &err);
    cr_assert_not_null(h->st, "mtp_stack_new: %d", err);
    h->ss = mtp_socks_new(h->st, p, &err);
    cr_assert_not_null(h->ss);
}

static void rig_up(struct rig *r, const struct mtp_sim_config *cfg, uint32_t unit)
{
    memset(r, 0, sizeof *r);
    mtpg_tcp_param_RCV_BUF = unit;
    r->w = mtp_sim_wire_new(NULL, cfg);
    cr_assert_not_null(r->w);
    host_up(r, &r->a, IP_A, 11, unit);
    host_up(r, &r->b, IP_B, 22, unit);
    r->stacks[0] = r->a.st;
    r->stacks[1] = r->b.st;
}

static void rig_down(struct rig *r)
{
    mtp_socks_free(r->a.ss);
    mtp_socks_free(r->b.ss);
    mtp_stack_free(r->a.st);
    mtp_stack_free(r->b.st);
    mtp_sim_wire_free(r->w);
}

static uint64_t now(struct rig *r) { return mtp_sim_now(r->w); }

/* ------------------------------------------------------------------ one stream */

struct flow {
    struct rig *r;
    struct mtp_sock *listener, *client, *server;
    uint64_t total, sent, rcvd;
    uint64_t mismatches;
    bool client_eof_sent, server_eof, server_closed, client_eof, client_closed;
    bool echo_done;
    uint8_t buf[64 * 1024];
};

/* Client: send the pattern, then shut down writing; server: read and check, then close. */
static int flow_step(void *arg)
{
    struct flow *f = arg;
    struct rig *r = f->r;
    uint64_t t = now(r);
    mtp_socks_poll(r->a.ss, t);
    mtp_socks_poll(r->b.ss, t);
    if (!f->server && f->listener && mtp_sock_accept(f->listener, &f->server, t) < 0)
        f->server = NULL;
    while (f->sent < f->total && (mtp_sock_poll(f->client) & MTP_SOCK_WRITABLE)) {
        uint8_t chunk[16 * 1024];
        uint64_t n = f->total - f->sent < sizeof chunk ? f->total - f->sent : sizeof chunk;
        for (uint64_t i = 0; i < n; i++)
            chunk[i] = pattern(1, f->sent + i);
        ssize_t k = mtp_sock_send(f->client, chunk, n, t);
        if (k <= 0)
            break;
        f->sent += (uint64_t)k;
    }
    if (f->sent == f->total && !f->client_eof_sent) {
        cr_assert_eq(mtp_sock_shutdown_wr(f->client, t), 0);
        f->client_eof_sent = true;
    }
    while (f->server && !f->server_eof) {
        ssize_t k = mtp_sock_recv(f->server, f->buf, sizeof f->buf, t);
        if (k == -EAGAIN)
            break;
        cr_assert_geq(k, 0, "server recv: %zd", k);
        if (k == 0) {
            f->server_eof = true;
            break;
        }
        for (ssize_t i = 0; i < k; i++)
            f->mismatches += f->buf[i] != pattern(1, f->rcvd + (uint64_t)i);
        f->rcvd += (uint64_t)k;
    }
    if (f->server_eof && !f->server_closed) {
        cr_assert_eq(mtp_sock_close(f->server, t), 0);
        f->server_closed = true;
    }
    if (f->server_closed && !f->client_eof) {
        ssize_t k = mtp_sock_recv(f->client, f->buf, sizeof f->buf, t);
        if (k == 0)
            f->client_eof = true;
        else
            cr_assert_eq(k, -EAGAIN, "client recv: %zd", k);
    }
    return f->client_eof;
}

static void transfer(const struct mtp_sim_config *cfg, uint64_t bytes, uint64_t deadline)
{
    struct rig r;
    rig_up(&r, cfg, 256 * 1024);
    struct flow *f = calloc(1, sizeof *f);
    f->r = &r;
    f->total = bytes;
    int err = 0;
    f->listener = mtp_sock_listen(r.b.ss, PORT, 16, now(&r), &err);
    cr_assert_not_null(f->listener, "listen: %d", err);
    f->client = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    cr_assert_not_null(f->client, "connect: %d", err);
    int rc = mtp_sim_run_until(r.w, r.stacks, 2, flow_step, f, deadline);
    cr_assert_eq(rc, 0, "stalled at %.3f s: sent %lu, received %lu", now(&r) / 1e9,
                 (unsigned long)f->sent, (unsigned long)f->rcvd);
    cr_assert_eq(f->rcvd, bytes);
    cr_assert_eq(f->mismatches, 0u);
    const struct mtp_sim_stats *ws = mtp_sim_stats(r.w);
    cr_log_info("%lu bytes in %.3f s of virtual time; frames %lu, lost %lu, duplicated %lu, "
                "reordered %lu", (unsigned long)bytes, now(&r) / 1e9, (unsigned long)ws->sent,
                (unsigned long)ws->lost, (unsigned long)ws->duplicated,
                (unsigned long)ws->reordered);
    mtp_sock_close(f->client, now(&r));
    mtp_sock_close(f->listener, now(&r));
    free(f);
    rig_down(&r);
}

#define MB (1024ull * 1024ull)

TestSuite(sim_transfer, .timeout = 300);

Test(sim_transfer, clean_wire)
{
    struct mtp_sim_config c = {.seed = 1, .delay_ns = 20 * US};
    transfer(&c, 100 * MB, 600 * S);
}

Test(sim_transfer, one_percent_loss)
{
    struct mtp_sim_config c = {.seed = 2, .delay_ns = 20 * US, .loss_ppm = 10000};
    transfer(&c, 100 * MB, 3600 * S);
}

Test(sim_transfer, five_percent_loss)
{
    struct mtp_sim_config c = {.seed = 3, .delay_ns = 20 * US, .loss_ppm = 50000};
    transfer(&c, 100 * MB, 3600 * S);
}

Test(sim_transfer, reordering_duplication_and_jitter)
{
    struct mtp_sim_config c = {.seed = 4, .delay_ns = 50 * US, .jitter_ns = 30 * US,
                               .reorder_ppm = 20000, .dup_ppm = 20000, .loss_ppm = 5000};
    transfer(&c, 100 * MB, 3600 * S);
}

Test(sim_transfer, one_megabyte_with_loss)
{
    struct mtp_sim_config c = {.seed = 5, .delay_ns = 20 * US, .loss_ppm = 20000};
    transfer(&c, MB, 600 * S);
}

/* ------------------------------------------------------------------ many connections */

#define N_CONNS 1000
#define CONN_BYTES 20000

struct many {
    struct rig *r;
    struct mtp_sock *listener;
    struct mtp_sock *client[N_CONNS];
    uint64_t sent[N_CONNS];
    bool shut[N_CONNS], client_done[N_CONNS];
    struct mtp_sock *server[N_CONNS];
    uint16_t server_port[N_CONNS];     /* the client port the server connection belongs to */
    uint64_t rcvd[N_CONNS];
    bool server_done[N_CONNS];
    int n_servers, n_verified, n_client_done;
    uint64_t mismatches;
};

/* Every client sends CONN_BYTES of its own pattern and half-closes; every server connection
 * checks the bytes against the pattern of its peer's port, then closes. */
static int many_step(void *arg)
{
    struct many *m = arg;
    struct rig *r = m->r;
    uint64_t t = now(r);
    mtp_socks_poll(r->a.ss, t);
    mtp_socks_poll(r->b.ss, t);
    struct mtp_sock *s;
    while (m->n_servers < N_CONNS && mtp_sock_accept(m->listener, &s, t) == 0) {
        uint16_t port;
        mtp_sock_peer(s, NULL, &port);
        m->server[m->n_servers] = s;
        m->server_port[m->n_servers++] = port;
    }
    uint8_t buf[4096];
    for (int i = 0; i < N_CONNS; i++) {
        struct mtp_sock *c = m->client[i];
        uint16_t port;
        mtp_sock_local(c, NULL, &port);
        while (m->sent[i] < CONN_BYTES && (mtp_sock_poll(c) & MTP_SOCK_WRITABLE)) {
            uint64_t n = CONN_BYTES - m->sent[i] < sizeof buf ? CONN_BYTES - m->sent[i] : sizeof buf;
            for (uint64_t k = 0; k < n; k++)
                buf[k] = pattern(port, m->sent[i] + k);
            ssize_t k = mtp_sock_send(c, buf, n, t);
            if (k <= 0)
                break;
            m->sent[i] += (uint64_t)k;
        }
        if (m->sent[i] == CONN_BYTES && !m->shut[i]) {
            cr_assert_eq(mtp_sock_shutdown_wr(c, t), 0);
            m->shut[i] = true;
        }
        if (m->shut[i] && !m->client_done[i] && mtp_sock_recv(c, buf, sizeof buf, t) == 0) {
            m->client_done[i] = true;
            m->n_client_done++;
        }
    }
    for (int j = 0; j < m->n_servers; j++) {
        while (!m->server_done[j]) {
            ssize_t k = mtp_sock_recv(m->server[j], buf, sizeof buf, t);
            if (k == -EAGAIN)
                break;
            cr_assert_geq(k, 0, "server recv: %zd", k);
            if (k == 0) {
                m->server_done[j] = true;
                m->n_verified += m->rcvd[j] == CONN_BYTES;
                cr_assert_eq(mtp_sock_close(m->server[j], t), 0);
                break;
            }
            for (ssize_t b = 0; b < k; b++)
                m->mismatches += buf[b] != pattern(m->server_port[j], m->rcvd[j] + (uint64_t)b);
            m->rcvd[j] += (uint64_t)k;
        }
    }
    return m->n_client_done == N_CONNS;
}

Test(sim_many, thousand_concurrent_connections, .timeout = 300)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 6, .delay_ns = 20 * US, .loss_ppm = 10000};
    rig_up(&r, &c, 16 * 1024);
    struct many *m = calloc(1, sizeof *m);
    m->r = &r;
    int err = 0;
    m->listener = mtp_sock_listen(r.b.ss, PORT, 256, now(&r), &err);
    cr_assert_not_null(m->listener);
    for (int i = 0; i < N_CONNS; i++) {
        m->client[i] = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
        cr_assert_not_null(m->client[i], "connect %d: %d", i, err);
    }
    int rc = mtp_sim_run_until(r.w, r.stacks, 2, many_step, m, 600 * S);
    cr_assert_eq(rc, 0, "stalled at %.3f s: %d accepted, %d verified, %d clients done",
                 now(&r) / 1e9, m->n_servers, m->n_verified, m->n_client_done);
    cr_assert_eq(m->n_servers, N_CONNS);
    cr_assert_eq(m->n_verified, N_CONNS);
    cr_assert_eq(m->mismatches, 0u);
    static struct mtp_key keys[N_CONNS];
    for (int i = 0; i < N_CONNS; i++) {
        struct mtpg_tcp_conn_id id = {IP_A, IP_B, 0, PORT};
        mtp_sock_local(m->client[i], NULL, &id.local_port);
        mtpg_tcp_key_conn_id(&keys[i], &id);
        mtp_sock_close(m->client[i], now(&r));
    }
    /* every connection finishes its closing handshake and TIME_WAIT */
    rc = mtp_sim_run_until(r.w, r.stacks, 2, NULL, NULL, now(&r) + 30 * S);
    cr_assert_eq(rc, -ETIMEDOUT);
    for (int i = 0; i < N_CONNS; i++)
        cr_assert_null(mtp_stack_ctx(r.a.st, MTPG_TCP_CTX_CONN, &keys[i]), "connection %d", i);
    mtp_sock_close(m->listener, now(&r));
    free(m);
    rig_down(&r);
}
