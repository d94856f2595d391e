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

/* Host b's target operations (the sim's unless a test gives it port groups). */
static const struct mtp_target_ops *b_ops = &mtp_target_sim;

static void host_up(struct rig *r, struct host *h, uint32_t ip, uint64_t seed, uint32_t unit)
{
    const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
    cr_assert_not_null(p);
    cr_assert_eq(mtp_sim_attach(r->w, ip, 24, &h->t), 0);
    struct mtp_stack_config cfg = {
        .prog = mtp_sock_proto_program(p), .ops = h == &r->b ? b_ops : &mtp_target_sim,
        .target = h->t,
        .seed = seed, .tx_unit_bytes = unit, .rx_unit_bytes = unit};
    int err = 0;
    h->st = mtp_stack_new(&cfg, &err);
    cr_assert_not_null(h->st, "mtp_stack_new: %d", err);
    h->ss = mtp_socks_new(h->st, p, &err);
    cr_assert_not_null(h->ss);
}

/* Criterion runs every test in a process of its own: a param a test sets (mtpg_tcp_param_*)
 * ends with it, so tests set what they need and restore nothing. */
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

/* Nothing went wrong inside either stack: no tcp.mtp assert() failed (test builds count
 * them), no instruction or event was lost to a full buffer. */
static void stack_healthy(struct mtp_stack *st)
{
    const struct mtp_stats *s = mtp_stack_stats(st);
    cr_assert_eq(s->assert_failures, 0u);
    cr_assert_eq(s->instr_overflow, 0u);
    cr_assert_eq(s->event_overflow, 0u);
}

static void rig_down(struct rig *r)
{
    stack_healthy(r->a.st);
    stack_healthy(r->b.st);
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

/* ------------------------------------------------------------------ hand-off */

/* Host h's stack and socket layer are replaced by new ones (another seed, as another
 * process's would be) that import connection *sk: the old layer goes silently (no FIN, no
 * RST), the connection goes on in the new one. */
static void host_replace_how(struct rig *r, struct host *h, struct mtp_sock **sk, uint64_t seed,
                             bool pinned);

static void host_replace(struct rig *r, struct host *h, struct mtp_sock **sk, uint64_t seed)
{
    host_replace_how(r, h, sk, seed, false);
}

/* Host h's stack and socket layer are replaced by new ones, with nothing in them: the old
 * layer and everything in it go silently (no FIN, no RST). */
static void host_renew(struct rig *r, struct host *h, uint64_t seed)
{
    mtp_socks_free(h->ss); /* (the listener, if any, goes with it, silently too) */
    stack_healthy(h->st);
    mtp_stack_free(h->st);
    const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
    struct mtp_stack_config cfg = {
        .prog = mtp_sock_proto_program(p), .ops = h == &r->b ? b_ops : &mtp_target_sim,
        .target = h->t, .seed = seed, .tx_unit_bytes = 256 * 1024, .rx_unit_bytes = 256 * 1024};
    int err = 0;
    h->st = mtp_stack_new(&cfg, &err);
    cr_assert_not_null(h->st, "mtp_stack_new: %d", err);
    h->ss = mtp_socks_new(h->st, p, &err);
    cr_assert_not_null(h->ss);
    r->stacks[0] = r->a.st;
    r->stacks[1] = r->b.st;
}

/* pinned: mtp_sock_import_pinned (the port held, not claimed: a forked child's take-over). */
static void host_replace_how(struct rig *r, struct host *h, struct mtp_sock **sk, uint64_t seed,
                             bool pinned)
{
    void *img;
    size_t len;
    cr_assert_eq(mtp_sock_export(*sk, now(r), &img, &len), 0);
    mtp_sock_detach(*sk);
    host_renew(r, h, seed);
    int err = 0;
    *sk = pinned ? mtp_sock_import_pinned(h->ss, img, len, now(r), &err)
                 : mtp_sock_import(h->ss, img, len, now(r), &err);
    cr_assert_not_null(*sk, "import: %d", err);
    free(img);
}

struct handoff_flow {
    struct flow *f;
    uint64_t until;
};

static int flow_until(void *arg)
{
    struct handoff_flow *h = arg;
    flow_step(h->f);
    return h->f->rcvd >= h->until;
}

Test(sim_transfer, both_ends_handed_to_new_stacks_mid_transfer_with_loss)
{
    struct mtp_sim_config c = {.seed = 31, .delay_ns = 50 * US, .jitter_ns = 20 * US,
                               .loss_ppm = 10000, .reorder_ppm = 5000};
    struct rig r;
    rig_up(&r, &c, 256 * 1024);
    struct flow *f = calloc(1, sizeof *f);
    f->r = &r;
    f->total = 8 * MB;
    int err = 0;
    f->listener = mtp_sock_listen(r.b.ss, PORT, 16, now(&r), &err);
    f->client = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    cr_assert(f->listener && f->client);
    struct handoff_flow h = {.f = f, .until = f->total / 3};
    cr_assert_eq(mtp_sim_run_until(r.w, r.stacks, 2, flow_until, &h, now(&r) + 600 * S), 0);
    /* the receiver: bytes in flight towards it, maybe out of order, maybe unread */
    cr_assert_lt(f->rcvd, f->sent);
    host_replace(&r, &r.b, &f->server, 1001);
    f->listener = NULL;
    h.until = 2 * f->total / 3;
    cr_assert_eq(mtp_sim_run_until(r.w, r.stacks, 2, flow_until, &h, now(&r) + 600 * S), 0);
    /* the sender: bytes written and not yet acknowledged */
    struct mtp_sock_info in;
    cr_assert_eq(mtp_sock_info(f->client, &in), 0);
    cr_assert_gt(in.tx_queued, 0u);
    host_replace(&r, &r.a, &f->client, 1002);
    /* to the end, and the closing handshake, in the new stacks */
    int rc = mtp_sim_run_until(r.w, r.stacks, 2, flow_step, f, now(&r) + 600 * S);
    cr_assert_eq(rc, 0, "stalled at %.3f s: sent %lu, received %lu", now(&r) / 1e9,
                 (unsigned long)f->sent, (unsigned long)f->rcvd);
    cr_assert_eq(f->rcvd, f->total);
    cr_assert_eq(f->mismatches, 0u, "byte-exact");
    cr_assert_gt(mtp_sim_stats(r.w)->lost, 0u);
    cr_assert_eq(mtp_stack_stats(r.a.st)->handoff_imports, 1u);
    cr_assert_eq(mtp_stack_stats(r.b.st)->handoff_imports, 1u);
    mtp_sock_close(f->client, now(&r));
    free(f);
    rig_down(&r);
}


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

/* Every client saw its handshake complete and the listener counts every connection as
 * waiting in its accept queue (the server accepted none yet). */
static int all_queued(void *arg)
{
    struct many *m = arg;
    uint64_t t = now(m->r);
    mtp_socks_poll(m->r->a.ss, t);
    mtp_socks_poll(m->r->b.ss, t);
    for (int i = 0; i < N_CONNS; i++)
        if (!(mtp_sock_poll(m->client[i]) & MTP_SOCK_WRITABLE))
            return 0;
    struct mtpg_tcp_port_id id = {PORT};
    struct mtp_key k;
    mtpg_tcp_key_port_id(&k, &id);
    const struct mtpg_tcp_listener *l = mtp_stack_ctx(m->r->b.st, MTPG_TCP_CTX_LISTENER, &k);
    cr_assert_not_null(l);
    cr_assert_leq(l->pending.len, N_CONNS, "every connection counted once");
    uint32_t ready = 0;
    for (uint32_t i = 0; i < l->pending.len; i++)
        ready += l->pending.v[i].ready;
    return ready == N_CONNS;
}

/* N_CONNS connects at once, each sending CONN_BYTES; with accept_late, the server accepts
 * none before every client is connected (the whole burst waits in the accept queue). */
static void many_connections(const struct mtp_sim_config *c, int backlog, bool accept_late)
{
    struct rig r;
    rig_up(&r, c, 16 * 1024);
    struct many *m = calloc(1, sizeof *m);
    m->r = &r;
    int err = 0;
    m->listener = mtp_sock_listen(r.b.ss, PORT, backlog, now(&r), &err);
    cr_assert_not_null(m->listener);
    for (int i = 0; i < N_CONNS; i++) {
        m->client[i] = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
        cr_assert_not_null(m->client[i], "connect %d: %d", i, err);
    }
    int rc;
    if (accept_late) {
        rc = mtp_sim_run_until(r.w, r.stacks, 2, all_queued, m, 60 * S);
        cr_assert_eq(rc, 0, "not every connection in the accept queue by %.3f s", now(&r) / 1e9);
    }
    rc = mtp_sim_run_until(r.w, r.stacks, 2, many_step, m, now(&r) + 600 * S);
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

TestSuite(sim_many, .timeout = 300);

Test(sim_many, thousand_concurrent_connections)
{
    struct mtp_sim_config c = {.seed = 6, .delay_ns = 20 * US, .loss_ppm = 10000};
    many_connections(&c, 256, false);
}

/* found by bench_idle_conns: a queue capped at 256 whatever the backlog sent the rest of a
 * burst to SYN cookies, and a cookie connection dropped for the full accept queue was never
 * accepted while its client waited */
Test(sim_many, burst_of_a_thousand_waits_in_a_backlog_of_1024)
{
    struct mtp_sim_config c = {.seed = 7, .delay_ns = 20 * US, .loss_ppm = 10000};
    many_connections(&c, 1024, true);
}

/* Clients that wait for the server to speak first (SMTP, MySQL, a bench's idle connections),
 * a burst of them against a backlog of 4 while the server is busy: most go to SYN cookies and
 * find the accept queue full. */
#define N_IDLE 32

struct idle_burst {
    struct rig *r;
    struct mtp_sock *listener, *client[N_IDLE];
    bool serving;
    int n_accepted, n_greeted;
    bool greeted[N_IDLE];
};

/* For its first 200 ms the server is busy; then it accepts and greets. */
static int idle_step(void *arg)
{
    struct idle_burst *b = arg;
    uint64_t t = now(b->r);
    mtp_socks_poll(b->r->a.ss, t);
    mtp_socks_poll(b->r->b.ss, t);
    struct mtp_sock *s;
    while (b->serving && mtp_sock_accept(b->listener, &s, t) == 0) {
        cr_assert_eq(mtp_sock_send(s, "hello", 5, t), 5);
        cr_assert_eq(mtp_sock_close(s, t), 0);
        b->n_accepted++;
    }
    for (int i = 0; i < N_IDLE; i++) {
        char buf[8];
        if (b->greeted[i] || mtp_sock_recv(b->client[i], buf, sizeof buf, t) != 5)
            continue;
        cr_assert_eq(memcmp(buf, "hello", 5), 0);
        b->greeted[i] = true;
        b->n_greeted++;
    }
    b->serving = t >= 200 * MS;
    return b->n_greeted == N_IDLE;
}

/* found by bench_idle_conns: such a client, dropped quietly, was never accepted and waited
 * forever; now it is asked again until the queue has room */
Test(sim_many, idle_clients_dropped_for_a_full_accept_queue_get_in_later)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 8, .delay_ns = 20 * US};
    rig_up(&r, &c, 16 * 1024);
    struct idle_burst *b = calloc(1, sizeof *b);
    b->r = &r;
    int err = 0;
    b->listener = mtp_sock_listen(r.b.ss, PORT, 4, now(&r), &err);
    cr_assert_not_null(b->listener);
    for (int i = 0; i < N_IDLE; i++) {
        b->client[i] = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
        cr_assert_not_null(b->client[i]);
    }
    int rc = mtp_sim_run_until(r.w, r.stacks, 2, idle_step, b, now(&r) + 60 * S);
    cr_assert_eq(rc, 0, "%d accepted, %d greeted by %.1f s", b->n_accepted, b->n_greeted,
                 now(&r) / 1e9);
    cr_assert_eq(b->n_accepted, N_IDLE);
    for (int i = 0; i < N_IDLE; i++)
        mtp_sock_close(b->client[i], now(&r));
    mtp_sock_close(b->listener, now(&r));
    mtp_sim_run_until(r.w, r.stacks, 2, NULL, NULL, now(&r) + 5 * S);
    free(b);
    rig_down(&r);
}

/* ------------------------------------------------------------------ socket behaviour */

struct pair {
    struct rig r;
    struct mtp_sock *listener, *client, *server;
};

static int accepted(void *arg)
{
    struct pair *p = arg;
    mtp_socks_poll(p->r.a.ss, now(&p->r));
    mtp_socks_poll(p->r.b.ss, now(&p->r));
    if (!p->server && mtp_sock_accept(p->listener, &p->server, now(&p->r)) < 0)
        p->server = NULL;
    return p->server && (mtp_sock_poll(p->client) & MTP_SOCK_WRITABLE);
}

static void pair_up_unit(struct pair *p, const struct mtp_sim_config *cfg, uint32_t unit)
{
    memset(p, 0, sizeof *p);
    rig_up(&p->r, cfg, unit);
    int err = 0;
    p->listener = mtp_sock_listen(p->r.b.ss, PORT, 8, now(&p->r), &err);
    cr_assert_not_null(p->listener);
    p->client = mtp_sock_connect(p->r.a.ss, IP_B, PORT, now(&p->r), &err);
    cr_assert_not_null(p->client);
    cr_assert_eq(mtp_sim_run_until(p->r.w, p->r.stacks, 2, accepted, p, now(&p->r) + 5 * S), 0);
}

static void pair_up(struct pair *p, const struct mtp_sim_config *cfg)
{
    pair_up_unit(p, cfg, 64 * 1024);
}

/* The end of a pair whose three sockets are all still open. */
static void pair_down(struct pair *p)
{
    mtp_sock_close(p->client, now(&p->r));
    mtp_sock_close(p->server, now(&p->r));
    mtp_sock_close(p->listener, now(&p->r));
    rig_down(&p->r);
}

/* Runs the wire for `d` of virtual time. */
static void settle(struct rig *r, uint64_t d)
{
    mtp_sim_run_until(r->w, r->stacks, 2, NULL, NULL, now(r) + d);
    mtp_socks_poll(r->a.ss, now(r));
    mtp_socks_poll(r->b.ss, now(r));
}

TestSuite(sim_sock, .timeout = 300);

Test(sim_sock, connect_to_a_closed_port_is_refused)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 7, .delay_ns = 20 * US};
    rig_up(&r, &c, 64 * 1024);
    int err = 0;
    struct mtp_sock *s = mtp_sock_connect(r.a.ss, IP_B, 9, now(&r), &err);
    cr_assert_not_null(s);
    cr_assert_eq(mtp_sock_poll(s) & MTP_SOCK_WRITABLE, 0u, "still connecting");
    settle(&r, 10 * MS);
    cr_assert(mtp_sock_poll(s) & MTP_SOCK_ERROR);
    cr_assert_eq(mtp_sock_error(s), -ECONNREFUSED);
    mtp_sock_close(s, now(&r));
    rig_down(&r);
}

Test(sim_sock, listen_twice_is_in_use)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 8};
    rig_up(&r, &c, 64 * 1024);
    int err = 0;
    struct mtp_sock *l = mtp_sock_listen(r.b.ss, PORT, 8, now(&r), &err);
    cr_assert_not_null(l);
    cr_assert_null(mtp_sock_listen(r.b.ss, PORT, 8, now(&r), &err));
    cr_assert_eq(err, -EADDRINUSE);
    mtp_sock_close(l, now(&r));
    l = mtp_sock_listen(r.b.ss, PORT, 8, now(&r), &err);
    cr_assert_not_null(l, "the port is free again after close: %d", err);
    mtp_sock_close(l, now(&r));
    rig_down(&r);
}

Test(sim_sock, abort_resets_the_peer)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 9, .delay_ns = 20 * US};
    pair_up(&p, &c);
    cr_assert_eq(mtp_sock_abort(p.client, now(&p.r)), 0);
    settle(&p.r, 10 * MS);
    uint8_t b[16];
    cr_assert_eq(mtp_sock_recv(p.server, b, sizeof b, now(&p.r)), -ECONNRESET);
    cr_assert(mtp_sock_poll(p.server) & MTP_SOCK_HUP);
    cr_assert_eq(mtp_sock_send(p.server, b, sizeof b, now(&p.r)), -EPIPE);
    mtp_sock_close(p.server, now(&p.r));
    mtp_sock_close(p.listener, now(&p.r));
    rig_down(&p.r);
}

Test(sim_sock, close_with_unread_data_resets_the_peer)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 10, .delay_ns = 20 * US};
    pair_up(&p, &c);
    cr_assert_eq(mtp_sock_send(p.client, "hello", 5, now(&p.r)), 5);
    settle(&p.r, 10 * MS);
    cr_assert(mtp_sock_poll(p.server) & MTP_SOCK_READABLE);
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0);
    settle(&p.r, 10 * MS);
    cr_assert(mtp_sock_poll(p.client) & MTP_SOCK_ERROR);
    cr_assert_eq(mtp_sock_error(p.client), -ECONNRESET);
    mtp_sock_close(p.client, now(&p.r));
    mtp_sock_close(p.listener, now(&p.r));
    rig_down(&p.r);
}

/* Request, half-close, response after the EOF, close: both sides see everything. */
Test(sim_sock, half_close_request_response)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 11, .delay_ns = 20 * US, .loss_ppm = 100000};
    pair_up(&p, &c);
    cr_assert_eq(mtp_sock_setopt(p.client, MTP_SOCKOPT_NODELAY, 1, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_send(p.client, "GET /", 5, now(&p.r)), 5);
    cr_assert_eq(mtp_sock_shutdown_wr(p.client, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_send(p.client, "x", 1, now(&p.r)), -EPIPE);
    char b[64];
    size_t got = 0;
    for (int i = 0; i < 200 && got < 6; i++) {
        settle(&p.r, 5 * MS);
        ssize_t k = mtp_sock_recv(p.server, b + got, sizeof b - got, now(&p.r));
        if (k == 0)
            break;
        if (k > 0)
            got += (size_t)k;
    }
    cr_assert_eq(got, 5u);
    cr_assert(memcmp(b, "GET /", 5) == 0);
    cr_assert(mtp_sock_poll(p.server) & MTP_SOCK_RDHUP);
    cr_assert_eq(mtp_sock_recv(p.server, b, sizeof b, now(&p.r)), 0, "EOF after the data");
    cr_assert_eq(mtp_sock_send(p.server, "200 OK", 6, now(&p.r)), 6, "CLOSE_WAIT still sends");
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0);
    got = 0;
    bool eof = false;
    for (int i = 0; i < 400 && !eof; i++) {
        settle(&p.r, 5 * MS);
        ssize_t k;
        while ((k = mtp_sock_recv(p.client, b + got, sizeof b - got, now(&p.r))) > 0)
            got += (size_t)k;
        eof = k == 0;
    }
    cr_assert(eof);
    cr_assert_eq(got, 6u);
    cr_assert(memcmp(b, "200 OK", 6) == 0);
    cr_assert(mtp_sock_poll(p.client) & MTP_SOCK_HUP);
    mtp_sock_close(p.client, now(&p.r));
    mtp_sock_close(p.listener, now(&p.r));
    rig_down(&p.r);
}

/* nginx with tcp_nopush (TCP_CORK) answering a request on a short connection: a 236-byte
 * header, a 4 KB body, close. The answer leaves in full segments, the FIN on the last one
 * (the seg rule puts it only there), and the client gets every byte and the EOF. */
static size_t recv_to_eof(struct pair *p, struct mtp_sock *s, uint8_t *b, size_t cap)
{
    size_t got = 0;
    for (int i = 0; i < 400; i++) {
        settle(&p->r, 1 * MS);
        ssize_t k;
        while ((k = mtp_sock_recv(s, b + got, cap - got, now(&p->r))) > 0)
            got += (size_t)k;
        if (k == 0)
            return got;
    }
    cr_assert_fail("no EOF after %zu bytes", got);
    return got;
}

Test(sim_sock, a_corked_answer_leaves_in_full_segments_with_the_fin)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 31, .delay_ns = 20 * US};
    pair_up(&p, &c);
    static uint8_t body[4096 + 236], got[8192];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = pattern(7, i);
    settle(&p.r, 1 * MS);
    uint64_t before = mtp_stack_stats(p.r.b.st)->tx_frames;
    cr_assert_eq(mtp_sock_setopt(p.server, MTP_SOCKOPT_CORK, 1, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_send(p.server, body, 236, now(&p.r)), 236);
    cr_assert_eq(mtp_sock_send(p.server, body + 236, 4096, now(&p.r)), 4096);
    cr_assert_eq(mtp_stack_stats(p.r.b.st)->tx_frames - before, 2u, "two full segments");
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0);
    cr_assert_eq(recv_to_eof(&p, p.client, got, sizeof got), sizeof body);
    cr_assert(memcmp(got, body, sizeof body) == 0);
    settle(&p.r, 10 * MS);
    /* 3 data segments, the last with the FIN (the client has not closed yet) */
    cr_assert_eq(mtp_stack_stats(p.r.b.st)->tx_frames - before, 3u, "%lu frames",
                 (unsigned long)(mtp_stack_stats(p.r.b.st)->tx_frames - before));
    mtp_sock_close(p.client, now(&p.r));
    mtp_sock_close(p.listener, now(&p.r));
    rig_down(&p.r);
}

Test(sim_sock, silent_peer_times_out)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 12, .delay_ns = 20 * US};
    pair_up(&p, &c);
    mtpg_tcp_param_DATA_RETRIES = 4;
    c.loss_ppm = 1000000; /* the wire goes dead */
    mtp_sim_set_faults(p.r.w, &c);
    cr_assert_eq(mtp_sock_send(p.client, "ping", 4, now(&p.r)), 4);
    settle(&p.r, 10 * S);
    cr_assert_eq(mtp_sock_error(p.client), -ETIMEDOUT);
    pair_down(&p);
}

Test(sim_sock, keepalive_finds_a_dead_peer)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 13, .delay_ns = 20 * US};
    pair_up(&p, &c);
    mtpg_tcp_param_KA_IDLE = 2 * S;
    mtpg_tcp_param_KA_INTVL = 1 * S;
    cr_assert_eq(mtp_sock_setopt(p.client, MTP_SOCKOPT_KEEPALIVE, 1, now(&p.r)), 0);
    settle(&p.r, 5 * S);
    cr_assert_eq(mtp_sock_error(p.client), 0, "an answering peer keeps the connection");
    c.loss_ppm = 1000000;
    mtp_sim_set_faults(p.r.w, &c);
    settle(&p.r, 20 * S);
    cr_assert_eq(mtp_sock_error(p.client), -ETIMEDOUT);
    pair_down(&p);
}

/* The port of a closed listener stays ours (steered to the stack) while a connection it
 * accepted lives, then is released. */
Test(sim_sock, accepted_connection_outlives_its_listener)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 14, .delay_ns = 20 * US};
    pair_up(&p, &c);
    cr_assert_eq(mtp_sock_close(p.listener, now(&p.r)), 0);
    cr_assert_eq(mtp_stack_port_claim(p.r.b.st, PORT), -EADDRINUSE);
    cr_assert_eq(mtp_sock_send(p.client, "still here", 10, now(&p.r)), 10);
    settle(&p.r, 10 * MS);
    char b[16];
    cr_assert_eq(mtp_sock_recv(p.server, b, sizeof b, now(&p.r)), 10);
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(p.client, now(&p.r)), 0);
    settle(&p.r, 5 * S);
    cr_assert_eq(mtp_stack_port_claim(p.r.b.st, PORT), PORT, "released with the connection");
    rig_down(&p.r);
}

/* A reader that stops: the window closes, the sender probes it, reading reopens it. */
Test(sim_sock, zero_window_then_reading_resumes)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 15, .delay_ns = 20 * US, .loss_ppm = 20000};
    pair_up(&p, &c);
    enum { TOTAL = 1024 * 1024 };
    static uint8_t chunk[16384], got[16384];
    uint64_t sent = 0, rcvd = 0, bad = 0;
    for (int round = 0; round < 200 && sent < TOTAL; round++) { /* the server does not read */
        for (uint64_t i = 0; i < sizeof chunk; i++)
            chunk[i] = pattern(2, sent + i);
        ssize_t k = mtp_sock_send(p.client, chunk, sizeof chunk, now(&p.r));
        if (k > 0)
            sent += (uint64_t)k;
        settle(&p.r, 5 * MS);
    }
    cr_assert_lt(sent, TOTAL, "the windows filled up");
    settle(&p.r, 3 * S); /* persist probes meanwhile */
    for (int round = 0; round < 100000 && rcvd < TOTAL; round++) {
        if (sent < TOTAL) {
            for (uint64_t i = 0; i < sizeof chunk; i++)
                chunk[i] = pattern(2, sent + i);
            uint64_t n = TOTAL - sent < sizeof chunk ? TOTAL - sent : sizeof chunk;
            ssize_t k = mtp_sock_send(p.client, chunk, n, now(&p.r));
            if (k > 0)
                sent += (uint64_t)k;
        }
        ssize_t k;
        while ((k = mtp_sock_recv(p.server, got, sizeof got, now(&p.r))) > 0) {
            for (ssize_t i = 0; i < k; i++)
                bad += got[i] != pattern(2, rcvd + (uint64_t)i);
            rcvd += (uint64_t)k;
        }
        cr_assert_eq(k, -EAGAIN);
        settle(&p.r, 1 * MS);
    }
    cr_assert_eq(rcvd, TOTAL);
    cr_assert_eq(bad, 0u);
    pair_down(&p);
}

/* Backlog 1: a connection reset before it was accepted still comes out of accept (and reads
 * as reset); accepting it frees the listener's slot for the next one. */
Test(sim_sock, reset_before_accept_and_backlog)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 16, .delay_ns = 20 * US};
    rig_up(&r, &c, 64 * 1024);
    int err = 0;
    struct mtp_sock *l = mtp_sock_listen(r.b.ss, PORT, 1, now(&r), &err);
    struct mtp_sock *c1 = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    settle(&r, 10 * MS);
    cr_assert(mtp_sock_poll(l) & MTP_SOCK_READABLE);
    struct mtp_sock *c2 = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    settle(&r, 10 * MS);
    cr_assert_eq(mtp_sock_poll(c2) & MTP_SOCK_WRITABLE, 0u, "the backlog is full: SYN dropped");
    cr_assert_eq(mtp_sock_abort(c1, now(&r)), 0);
    settle(&r, 10 * MS);
    struct mtp_sock *s1, *s2;
    cr_assert_eq(mtp_sock_accept(l, &s1, now(&r)), 0);
    uint8_t b[8];
    cr_assert_eq(mtp_sock_recv(s1, b, sizeof b, now(&r)), -ECONNRESET);
    mtp_sock_close(s1, now(&r));
    settle(&r, 3 * S); /* c2 retransmits its SYN */
    cr_assert(mtp_sock_poll(c2) & MTP_SOCK_WRITABLE);
    cr_assert_eq(mtp_sock_accept(l, &s2, now(&r)), 0);
    cr_assert_eq(mtp_sock_send(c2, "ok", 2, now(&r)), 2);
    settle(&r, 10 * MS);
    cr_assert_eq(mtp_sock_recv(s2, b, sizeof b, now(&r)), 2);
    cr_assert_eq(mtp_sock_accept(l, &s1, now(&r)), -EAGAIN);
    mtp_sock_close(s2, now(&r));
    mtp_sock_close(c2, now(&r));
    mtp_sock_close(l, now(&r));
    rig_down(&r);
}

/* A half-open connection that never completes gives up, and the shim frees its place in the
 * listener's queue (the program's listener counts it until told). */
Test(sim_sock, failed_half_open_leaves_the_listen_queue)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 17, .delay_ns = 20 * US};
    rig_up(&r, &c, 64 * 1024);
    mtpg_tcp_param_SYN_RETRIES = 2;
    int err = 0;
    struct mtp_sock *l = mtp_sock_listen(r.b.ss, PORT, 1, now(&r), &err);
    struct mtpg_tcp_port_id pid = {PORT};
    struct mtp_key lk;
    mtpg_tcp_key_port_id(&lk, &pid);
    const struct mtpg_tcp_listener *lc = mtp_stack_ctx(r.b.st, MTPG_TCP_CTX_LISTENER, &lk);
    cr_assert_not_null(lc);
    struct mtp_sock *c1 = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    for (int i = 0; i < 1000 && lc->pending.len == 0; i++)
        settle(&r, 1 * US); /* until the SYN arrived (after ARP) */
    cr_assert_eq(lc->pending.len, 1u);
    c.loss_ppm = 1000000;
    mtp_sim_set_faults(r.w, &c);
    settle(&r, 20 * S); /* the server's SYN-ACK retransmissions all get lost */
    cr_assert_eq(lc->pending.len, 0u, "the shim told the listener");
    mtp_sock_close(c1, now(&r));
    c.loss_ppm = 0;
    mtp_sim_set_faults(r.w, &c);
    struct mtp_sock *c2 = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err), *s2;
    settle(&r, 10 * MS);
    cr_assert_eq(mtp_sock_accept(l, &s2, now(&r)), 0, "the slot is free again");
    mtp_sock_close(s2, now(&r));
    mtp_sock_close(c2, now(&r));
    mtp_sock_close(l, now(&r));
    rig_down(&r);
}

/* ------------------------------------------------------------------ both directions */

struct duplex {
    struct pair *p;
    struct mtp_sock *end[2];
    uint64_t total, sent[2], rcvd[2], bad;
    bool shut[2], eof[2];
};

/* Each end sends its own pattern and reads the other's, at the same time. */
static int duplex_step(void *arg)
{
    struct duplex *d = arg;
    struct rig *r = &d->p->r;
    uint64_t t = now(r);
    mtp_socks_poll(r->a.ss, t);
    mtp_socks_poll(r->b.ss, t);
    static uint8_t buf[16384];
    for (int i = 0; i < 2; i++) {
        struct mtp_sock *s = d->end[i];
        while (d->sent[i] < d->total && (mtp_sock_poll(s) & MTP_SOCK_WRITABLE)) {
            uint64_t n = d->total - d->sent[i] < sizeof buf ? d->total - d->sent[i] : sizeof buf;
            for (uint64_t k = 0; k < n; k++)
                buf[k] = pattern(10 + (uint32_t)i, d->sent[i] + k);
            ssize_t k = mtp_sock_send(s, buf, n, t);
            if (k <= 0)
                break;
            d->sent[i] += (uint64_t)k;
        }
        if (d->sent[i] == d->total && !d->shut[i]) {
            cr_assert_eq(mtp_sock_shutdown_wr(s, t), 0);
            d->shut[i] = true;
        }
        ssize_t k;
        while (!d->eof[i] && (k = mtp_sock_recv(s, buf, sizeof buf, t)) != -EAGAIN) {
            cr_assert_geq(k, 0, "end %d k %zd rcvd %lu sent %lu", i, k, (unsigned long)d->rcvd[i], (unsigned long)d->sent[i]);
            if (k == 0) {
                d->eof[i] = true;
                break;
            }
            for (ssize_t b = 0; b < k; b++)
                d->bad += buf[b] != pattern(10 + (uint32_t)(1 - i), d->rcvd[i] + (uint64_t)b);
            d->rcvd[i] += (uint64_t)k;
        }
    }
    return d->eof[0] && d->eof[1];
}

Test(sim_transfer, both_directions_at_once_with_loss_and_reordering)
{
    static struct pair p;
    struct mtp_sim_config c = {.seed = 18, .delay_ns = 30 * US, .jitter_ns = 10 * US,
                               .loss_ppm = 20000, .reorder_ppm = 10000};
    pair_up(&p, &c);
    struct duplex d = {.p = &p, .end = {p.client, p.server}, .total = 20 * MB};
    cr_assert_eq(mtp_sim_run_until(p.r.w, p.r.stacks, 2, duplex_step, &d, now(&p.r) + 600 * S), 0,
                 "stalled: sent %lu/%lu received %lu/%lu", (unsigned long)d.sent[0],
                 (unsigned long)d.sent[1], (unsigned long)d.rcvd[0], (unsigned long)d.rcvd[1]);
    cr_assert_eq(d.rcvd[0], d.total);
    cr_assert_eq(d.rcvd[1], d.total);
    cr_assert_eq(d.bad, 0u);
    pair_down(&p);
}

/* Both ends time out at once: the path's delay jumps from 20 us (the handshake's RTT sets the
 * RTO to its 5 ms floor) to 10 ms just as both send their first window, as when both
 * processes lose the CPU. Each goes back to its first unacknowledged byte while the other
 * has received everything; a pure ACK must then carry the highest sequence number sent, or
 * each side refuses the other's ACKs as old segments and answers them with ACKs of its own:
 * an endless ACK exchange with no progress (the test-mtpcat stall, issue 17). */
Test(sim_transfer, both_directions_after_simultaneous_timeouts)
{
    static struct pair p;
    struct mtp_sim_config c = {.seed = 19, .delay_ns = 20 * US};
    pair_up(&p, &c);
    c.delay_ns = 10 * MS;
    mtp_sim_set_faults(p.r.w, &c);
    struct duplex d = {.p = &p, .end = {p.client, p.server}, .total = 2 * MB};
    int rc = mtp_sim_run_until(p.r.w, p.r.stacks, 2, duplex_step, &d, now(&p.r) + 30 * S);
    cr_assert_eq(rc, 0, "stalled: sent %lu/%lu received %lu/%lu, %lu frames",
                 (unsigned long)d.sent[0], (unsigned long)d.sent[1], (unsigned long)d.rcvd[0],
                 (unsigned long)d.rcvd[1], (unsigned long)mtp_sim_stats(p.r.w)->sent);
    cr_assert_eq(d.rcvd[0], d.total);
    cr_assert_eq(d.rcvd[1], d.total);
    cr_assert_eq(d.bad, 0u);
    pair_down(&p);
}

/* ------------------------------------------------------------------ simultaneous open */

/* Two stacks connect to each other's port at the same moment, with no listener anywhere: the
 * SYNs cross and both connections open through SYN_RCVD (RFC 9293 figure 8). The socket layer
 * only connects from ephemeral ports, so the test posts the program's events itself. */
struct simopen {
    struct rig *r;
    struct mtp_key ka, kb;
    uint64_t want_a, want_b; /* in-order bytes each side waits for */
};

static struct mtpg_tcp_conn *simopen_conn(struct host *h, const struct mtp_key *k)
{
    return mtp_stack_ctx(h->st, MTPG_TCP_CTX_CONN, k);
}

static int simopen_step(void *arg)
{
    struct simopen *so = arg;
    struct mtpg_tcp_conn *a = simopen_conn(&so->r->a, &so->ka);
    struct mtpg_tcp_conn *b = simopen_conn(&so->r->b, &so->kb);
    return a && b && a->state == MTPG_TCP_ESTABLISHED && b->state == MTPG_TCP_ESTABLISHED &&
           a->rcv_off >= so->want_a && b->rcv_off >= so->want_b;
}

static void simopen_connect(struct rig *r, struct host *h, uint32_t lip, uint32_t rip,
                            uint16_t lport, uint16_t rport, struct mtp_key *k)
{
    cr_assert_geq(mtp_stack_port_claim(h->st, lport), 0);
    struct mtpg_tcp_conn_id id = {lip, rip, lport, rport};
    mtpg_tcp_key_conn_id(k, &id);
    struct mtpg_tcp_app_connect ev = {
        .local_ip = lip, .remote_ip = rip, .local_port = lport, .remote_port = rport};
    cr_assert_geq(mtp_stack_post(h->st, MTPG_TCP_EV_APP_CONNECT, k, &ev, sizeof ev, now(r)), 0);
}

static void simopen_send(struct rig *r, struct host *h, const struct mtp_key *k,
                         const uint8_t *buf, uint32_t len)
{
    struct mtpg_tcp_app_send ev = {.buf = (mtp_addr_t)(uintptr_t)buf, .len = len};
    cr_assert_geq(mtp_stack_post(h->st, MTPG_TCP_EV_APP_SEND, k, &ev, sizeof ev, now(r)), 0);
}

static void simopen_recv_check(struct rig *r, struct host *h, const struct mtp_key *k,
                               uint32_t id, uint32_t len)
{
    static uint8_t got[4096];
    cr_assert(len <= sizeof got);
    memset(got, 0, sizeof got);
    struct mtpg_tcp_app_recv ev = {.buf = (mtp_addr_t)(uintptr_t)got, .len = len};
    cr_assert_geq(mtp_stack_post(h->st, MTPG_TCP_EV_APP_RECV, k, &ev, sizeof ev, now(r)), 0);
    for (uint32_t i = 0; i < len; i++)
        cr_assert_eq(got[i], pattern(id, i), "byte %u", i);
}

Test(sim_sock, simultaneous_open_without_listeners)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 12, .delay_ns = 50 * US};
    rig_up(&r, &c, 64 * 1024);
    struct simopen so = {.r = &r};
    simopen_connect(&r, &r.a, IP_A, IP_B, 6001, 6002, &so.ka);
    simopen_connect(&r, &r.b, IP_B, IP_A, 6002, 6001, &so.kb);
    cr_assert_eq(mtp_sim_run_until(r.w, r.stacks, 2, simopen_step, &so, now(&r) + 5 * S), 0,
                 "both connections open");
    struct mtpg_tcp_conn *a = simopen_conn(&r.a, &so.ka), *b = simopen_conn(&r.b, &so.kb);
    cr_assert_eq(a->irs, b->iss, "A synchronized to B's SYN");
    cr_assert_eq(b->irs, a->iss);
    cr_assert_eq(a->retries, 0u, "no SYN was retransmitted: the SYNs crossed");
    cr_assert_eq(b->retries, 0u);
    cr_assert(a->active_open && b->active_open);
    /* then a stream each way */
    static uint8_t msg_a[3000], msg_b[2000];
    for (uint32_t i = 0; i < sizeof msg_a; i++)
        msg_a[i] = pattern(1, i);
    for (uint32_t i = 0; i < sizeof msg_b; i++)
        msg_b[i] = pattern(2, i);
    simopen_send(&r, &r.a, &so.ka, msg_a, sizeof msg_a);
    simopen_send(&r, &r.b, &so.kb, msg_b, sizeof msg_b);
    so.want_a = sizeof msg_b;
    so.want_b = sizeof msg_a;
    cr_assert_eq(mtp_sim_run_until(r.w, r.stacks, 2, simopen_step, &so, now(&r) + 5 * S), 0);
    simopen_recv_check(&r, &r.b, &so.kb, 1, sizeof msg_a);
    simopen_recv_check(&r, &r.a, &so.ka, 2, sizeof msg_b);
    cr_assert_eq(mtp_stack_stats(r.a.st)->drop_no_ctx + mtp_stack_stats(r.b.st)->drop_no_ctx,
                 0u);
    rig_down(&r);
}

/* A connection imported pinned (a forked child taking over what its parent accepted) goes on
 * with its unread bytes and holds its port without claiming it: the new stack does not
 * become one of the port's listeners (it could still listen there). */
Test(sim_sock, a_pinned_import_goes_on_without_claiming_its_port)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 15, .delay_ns = 20 * US};
    pair_up_unit(&p, &c, 256 * 1024); /* (host_replace's unit size) */
    cr_assert_eq(mtp_sock_send(p.client, "before", 6, now(&p.r)), 6);
    settle(&p.r, 10 * MS);
    void *img;
    size_t len;
    uint16_t lport = 0, rport = 0, cport = 0;
    uint32_t rip = 0;
    cr_assert_eq(mtp_sock_export(p.server, now(&p.r), &img, &len), 0);
    cr_assert_eq(mtp_sock_image_flow(img, len, &lport, &rip, &rport), 0);
    mtp_sock_local(p.client, NULL, &cport);
    cr_assert(lport == PORT && rip == IP_A && rport == cport, "%u %x %u", lport, rip, rport);
    cr_assert_eq(mtp_sock_image_flow(img, 3, &lport, &rip, &rport), -EBADMSG);
    free(img);
    host_replace_how(&p.r, &p.r.b, &p.server, 1003, true); /* the listener goes with the old */
    cr_assert_eq(mtp_stack_port_claim(p.r.b.st, PORT), PORT, "the import did not claim it");
    mtp_stack_port_release(p.r.b.st, PORT);
    char b[16];
    cr_assert_eq(mtp_sock_recv(p.server, b, sizeof b, now(&p.r)), 6);
    cr_assert_eq(memcmp(b, "before", 6), 0);
    cr_assert_eq(mtp_sock_send(p.server, "after", 5, now(&p.r)), 5);
    settle(&p.r, 10 * MS);
    cr_assert_eq(mtp_sock_recv(p.client, b, sizeof b, now(&p.r)), 5);
    cr_assert_eq(memcmp(b, "after", 5), 0);
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(p.client, now(&p.r)), 0);
    settle(&p.r, 5 * S);
    cr_assert_eq(mtp_stack_stats(p.r.b.st)->handoff_imports, 1u);
    rig_down(&p.r);
}

/* What a child gets when the take-over of an inherited connection fails. */
Test(sim_sock, a_reset_socket_reads_as_reset_by_the_peer)
{
    struct rig r;
    struct mtp_sim_config c = {.seed = 16, .delay_ns = 20 * US};
    rig_up(&r, &c, 64 * 1024);
    int err = 0;
    struct mtp_sock *sk = mtp_sock_new_reset(r.b.ss, -ECONNRESET, &err);
    cr_assert_not_null(sk);
    unsigned f = mtp_sock_poll(sk);
    cr_assert((f & (MTP_SOCK_HUP | MTP_SOCK_ERROR | MTP_SOCK_READABLE)) ==
              (MTP_SOCK_HUP | MTP_SOCK_ERROR | MTP_SOCK_READABLE), "%x", f);
    cr_assert_eq(f & MTP_SOCK_WRITABLE, 0u);
    char b[4];
    cr_assert_eq(mtp_sock_recv(sk, b, sizeof b, now(&r)), -ECONNRESET);
    cr_assert_eq(mtp_sock_recv(sk, b, sizeof b, now(&r)), 0, "then end of stream");
    cr_assert_eq(mtp_sock_send(sk, "x", 1, now(&r)), -EPIPE);
    cr_assert_eq(mtp_sock_close(sk, now(&r)), 0);
    rig_down(&r);
}

Test(sim_sock, a_handed_off_image_is_checked)
{
    struct pair p;
    struct mtp_sim_config c = {.seed = 8, .delay_ns = 20 * US};
    pair_up(&p, &c);
    void *img;
    size_t len;
    int err = 0;
    cr_assert_eq(mtp_sock_can_export(p.listener), 0);
    cr_assert_eq(mtp_sock_can_export(p.server), 1);
    cr_assert_eq(mtp_sock_export(p.listener, now(&p.r), &img, &len), -EOPNOTSUPP);
    cr_assert_eq(mtp_sock_export(p.server, now(&p.r), &img, &len), 0);
    cr_assert_null(mtp_sock_import(p.r.b.ss, img, len - 1, now(&p.r), &err));
    cr_assert_eq(err, -EBADMSG);
    cr_assert_null(mtp_sock_import(p.r.b.ss, img, len, now(&p.r), &err), "its own copy exists");
    cr_assert_eq(err, -EEXIST);
    free(img);
    pair_down(&p);
}

/* ------------------------------------------------------------------ port groups */

/* The sim target with the operations of a target that shares ports between processes (the
 * XDP target's port groups), which here only count what the socket layer asks. */
static struct {
    int holds, unholds, releases, flow_claims, flow_releases;
} grp;

static int grp_hold(struct mtp_target *t, uint8_t ipp, uint16_t port)
{
    (void)t, (void)ipp, (void)port;
    grp.holds++;
    return 0;
}

static void grp_unhold(struct mtp_target *t, uint8_t ipp, uint16_t port)
{
    (void)t, (void)ipp, (void)port;
    grp.unholds++;
}

static void grp_release(struct mtp_target *t, uint8_t ipp, uint16_t port)
{
    (void)t, (void)ipp;
    grp.releases += port == PORT;
}

static int grp_flow_claim(struct mtp_target *t, uint8_t ipp, uint16_t lport, uint32_t rip,
                          uint16_t rport)
{
    (void)t, (void)ipp, (void)rport;
    grp.flow_claims += lport == PORT && rip == IP_A;
    return 0;
}

static void grp_flow_release(struct mtp_target *t, uint8_t ipp, uint16_t lport, uint32_t rip,
                             uint16_t rport)
{
    (void)t, (void)ipp, (void)rport;
    grp.flow_releases += lport == PORT && rip == IP_A;
}

static struct mtp_target_ops grouped;

/* `msg` from one end of the pair to the other, byte-exact. */
static void pass(struct pair *p, struct mtp_sock *from, struct mtp_sock *to, const char *msg)
{
    size_t n = strlen(msg);
    char b[64];
    cr_assert_eq(mtp_sock_send(from, msg, n, now(&p->r)), (ssize_t)n);
    settle(&p->r, 10 * MS);
    cr_assert_eq(mtp_sock_recv(to, b, sizeof b, now(&p->r)), (ssize_t)n);
    cr_assert_eq(memcmp(b, msg, n), 0);
}

static void give_b_port_groups(void)
{
    grouped = mtp_target_sim;
    grouped.port_hold = grp_hold;
    grouped.port_unhold = grp_unhold;
    grouped.port_release = grp_release;
    grouped.flow_claim = grp_flow_claim;
    grouped.flow_release = grp_flow_release;
    b_ops = &grouped;
}

/* nginx's old worker after a reload: its listener closes while a connection it accepted
 * lives on. The stack pins the connection, holds the port and leaves the group; the pin
 * goes when the connection only lingers (TIME_WAIT), the hold when it is gone. */
Test(sim_sock, a_listener_closing_with_a_connection_open_retires_its_port)
{
    give_b_port_groups();
    struct pair p;
    struct mtp_sim_config c = {.seed = 16, .delay_ns = 20 * US};
    pair_up(&p, &c);
    cr_assert_eq(mtp_sock_close(p.listener, now(&p.r)), 0);
    cr_assert_eq(grp.holds, 1, "the port is held for the connection");
    cr_assert_eq(grp.flow_claims, 1, "the connection is pinned here");
    cr_assert_eq(grp.releases, 1, "the claim (the port's group) is left");
    pass(&p, p.client, p.server, "still here");
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0); /* this side first: TIME_WAIT */
    settle(&p.r, 10 * MS);
    cr_assert_eq(mtp_sock_close(p.client, now(&p.r)), 0);
    settle(&p.r, 10 * MS);
    cr_assert_eq(grp.flow_releases, 1, "in TIME_WAIT the pin goes");
    cr_assert_eq(grp.unholds, 0, "the hold stays while the connection lingers");
    settle(&p.r, 5 * S);
    cr_assert_eq(grp.unholds, 1, "the hold goes with the connection");
    cr_assert_eq(grp.releases, 1, "nothing else was released");
    rig_down(&p.r);
}

/* One hold on the port for both a pinned import (a forked child's take-over) and a retired
 * listener's connection: it goes when neither needs it. */
Test(sim_sock, a_pinned_import_and_a_retired_port_share_the_hold)
{
    give_b_port_groups();
    struct pair p;
    struct mtp_sim_config c = {.seed = 17, .delay_ns = 20 * US};
    pair_up_unit(&p, &c, 256 * 1024); /* (host_replace's unit size) */
    host_replace_how(&p.r, &p.r.b, &p.server, 1004, true); /* the listener goes with the old */
    cr_assert_eq(grp.holds, 1, "the import holds the port");
    int err = 0;
    struct mtp_sock *l = mtp_sock_listen(p.r.b.ss, PORT, 8, now(&p.r), &err);
    cr_assert_not_null(l, "listen: %d", err);
    struct mtp_sock *client2 = mtp_sock_connect(p.r.a.ss, IP_B, PORT, now(&p.r), &err);
    cr_assert_not_null(client2, "connect: %d", err);
    settle(&p.r, 10 * MS);
    struct mtp_sock *server2 = NULL;
    cr_assert_eq(mtp_sock_accept(l, &server2, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(l, now(&p.r)), 0);
    cr_assert_eq(grp.holds, 1, "retired: the import's hold serves it too");
    cr_assert_eq(grp.flow_claims, 1, "the new connection is pinned (the import was already)");
    cr_assert_eq(mtp_sock_close(client2, now(&p.r)), 0);
    settle(&p.r, 10 * MS);
    cr_assert_eq(mtp_sock_close(server2, now(&p.r)), 0);
    settle(&p.r, 5 * S);
    cr_assert_eq(grp.unholds, 0, "the import still needs the hold");
    pass(&p, p.client, p.server, "the import still talks");
    cr_assert_eq(mtp_sock_close(p.server, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(p.client, now(&p.r)), 0);
    settle(&p.r, 5 * S);
    cr_assert_eq(grp.unholds, 1, "the hold goes with the last of them");
    rig_down(&p.r);
}

/* The program's list of half-open and not yet accepted connections of host b's listener. */
static uint32_t b_listen_queue(struct rig *r)
{
    struct mtpg_tcp_port_id id = {PORT};
    struct mtp_key k;
    mtpg_tcp_key_port_id(&k, &id);
    const struct mtpg_tcp_listener *l = mtp_stack_ctx(r->b.st, MTPG_TCP_CTX_LISTENER, &k);
    cr_assert_not_null(l);
    return l->pending.len;
}

/* nginx's old worker at a reload (libmtp_handoff.c): its listener, quiesced, answers no new
 * SYN; the connection waiting in its queue goes, with the bytes it received, to another
 * process's listener on the port, which queues it (the program counts it), accepts it and
 * goes on with it; its pin goes with it at the end. The SYN the quiesced listener dropped is
 * retransmitted and reaches the other listener. */
Test(sim_sock, a_queued_connection_moves_to_another_processes_listener)
{
    give_b_port_groups();
    struct rig r;
    struct mtp_sim_config c = {.seed = 18, .delay_ns = 20 * US};
    rig_up(&r, &c, 256 * 1024); /* (host_renew's unit size) */
    int err = 0;
    struct mtp_sock *l = mtp_sock_listen(r.b.ss, PORT, 8, now(&r), &err);
    struct mtp_sock *client = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    cr_assert(l && client, "listen/connect: %d", err);
    settle(&r, 10 * MS);
    cr_assert_eq(mtp_sock_send(client, "queued", 6, now(&r)), 6);
    settle(&r, 10 * MS);
    cr_assert_eq(mtp_sock_listener_busy(l), 1);

    mtp_sock_quiesce(l, now(&r));
    struct mtp_sock *late = mtp_sock_connect(r.a.ss, IP_B, PORT, now(&r), &err);
    cr_assert_not_null(late, "connect: %d", err);
    settle(&r, 100 * MS);
    cr_assert_eq(mtp_sock_poll(late) & (MTP_SOCK_WRITABLE | MTP_SOCK_ERROR | MTP_SOCK_HUP), 0u,
                 "a quiesced listener neither answers nor refuses a SYN");
    mtp_sock_quiesce(l, now(&r)); /* again: the quiet unlisten's grace (200 ms) starts over */
    settle(&r, 150 * MS);
    cr_assert_gt(b_listen_queue(&r), 0u, "250 ms after the first quiesce the listener is there");
    struct mtp_sock *sk = mtp_sock_take_queued(l, now(&r));
    cr_assert_not_null(sk);
    cr_assert_null(mtp_sock_take_queued(l, now(&r)), "one connection was queued");
    cr_assert_eq(b_listen_queue(&r), 0u, "taken out, it left the program's listen queue");
    void *img;
    size_t len;
    cr_assert_eq(mtp_sock_export(sk, now(&r), &img, &len), 0);
    mtp_sock_detach(sk);
    host_renew(&r, &r.b, 1005); /* another process: its own stack, its own listener */
    struct mtp_sock *l2 = mtp_sock_listen(r.b.ss, PORT, 8, now(&r), &err);
    cr_assert_not_null(l2, "listen: %d", err);
    struct mtp_sock *moved = mtp_sock_adopt(l2, img, len, now(&r), &err);
    free(img);
    cr_assert_not_null(moved, "adopt: %d", err);
    cr_assert_eq(b_listen_queue(&r), 1u, "the program counts it in its listen queue");
    struct mtp_sock *server = NULL;
    cr_assert_eq(mtp_sock_accept(l2, &server, now(&r)), 0);
    cr_assert_eq(server, moved);
    char b[16];
    cr_assert_eq(mtp_sock_recv(server, b, sizeof b, now(&r)), 6, "the bytes it had received");
    cr_assert_eq(memcmp(b, "queued", 6), 0);
    struct pair p = {.r = r};
    pass(&p, client, server, "and on");
    pass(&p, server, client, "answered");

    settle(&p.r, 1500 * MS); /* the dropped SYN's retransmission */
    struct mtp_sock *server2 = NULL;
    cr_assert_eq(mtp_sock_accept(l2, &server2, now(&p.r)), 0, "the late connection came");
    cr_assert_eq(b_listen_queue(&p.r), 0u);
    cr_assert_eq(mtp_sock_close(server, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(client, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(server2, now(&p.r)), 0);
    cr_assert_eq(mtp_sock_close(late, now(&p.r)), 0);
    settle(&p.r, 5 * S);
    cr_assert_eq(grp.flow_releases, 1, "the moved connection's pin goes with it");
    cr_assert_eq(mtp_sock_close(l2, now(&p.r)), 0);
    rig_down(&p.r);
}
