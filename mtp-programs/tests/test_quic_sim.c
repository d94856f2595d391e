/*
 * test_quic_sim.c — two QUIC-Lite stacks (mtp-programs/quic_lite.mtp) on the simulated wire,
 * driven through the program's application events: the handshake, many streams on one
 * connection transferred byte-exact under loss, duplication and reordering, a short stream
 * that is not stuck behind a long one (round robin with a quantum), flow control with small
 * windows, and the close; a connect to a host that answers ICMP port unreachable (a kernel
 * without a QUIC listener) fails at once with CONNECTION_REFUSED. Virtual time only.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/net.h"
#include "mtp/stack.h"
#include "quic_lite.h"
#include "sim.h"

#define US 1000ull
#define MS 1000000ull
#define S 1000000000ull
#define KB 1024ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define PORT 4433
#define CPORT 50000
#define MAXS 16
#define CONN MTPG_QUIC_LITE_CTX_CONN

/* The byte at offset `off` of stream `id`: every byte is checked on arrival. */
static uint8_t pattern(uint64_t id, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ (id + 1) * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 56);
}

struct host {
    struct mtp_target *t;
    struct mtp_stack *st;
    struct mtp_key key;          /* its connection */
    bool connected, closed;
    uint64_t close_code;
    int n_new;
    uint64_t new_ids[MAXS];
    bool fin[MAXS];              /* NOTE_STREAM_FIN, by stream index (id / 4) */
    uint64_t fin_time[MAXS];
};

struct rig {
    struct mtp_sim_wire *w;
    struct host a, b;            /* a: client, b: server */
    struct mtp_stack *stacks[2];
    /* the transfer: client streams 0, 4, 8, ... (index i: id 4i) */
    int n;
    uint64_t size[MAXS], sent[MAXS], rcvd[MAXS];
    uint64_t start[MAXS];        /* when the client may begin a stream */
    uint64_t mismatches;
    uint8_t buf[64 * 1024];
};

static void on_note(void *user, const struct mtp_note *n)
{
    struct host *h = user;
    if (n->ctx_type != CONN)
        return;
    switch (n->code) {
    case MTPG_QUIC_LITE_NOTE_CONNECTED: h->connected = true; break;
    case MTPG_QUIC_LITE_NOTE_ACCEPTED: h->connected = true; break;
    case MTPG_QUIC_LITE_NOTE_NEW_STREAM:
        if (h->n_new < MAXS)
            h->new_ids[h->n_new++] = n->value;
        break;
    case MTPG_QUIC_LITE_NOTE_STREAM_FIN:
        if (n->value / 4 < MAXS) {
            h->fin[n->value / 4] = true;
            h->fin_time[n->value / 4] = 0; /* set by the driver, which knows the time */
        }
        break;
    case MTPG_QUIC_LITE_NOTE_CLOSED:
        h->closed = true;
        h->close_code = n->value;
        break;
    default: break;
    }
}

static struct mtp_key conn_key(uint32_t lip, uint32_t rip, uint16_t lport, uint16_t rport)
{
    struct mtpg_quic_lite_conn_id id = {
        .local_ip = lip, .remote_ip = rip, .local_port = lport, .remote_port = rport};
    struct mtp_key k;
    mtpg_quic_lite_key_conn_id(&k, &id);
    return k;
}

static void host_up(struct rig *r, struct host *h, uint32_t ip, uint64_t seed)
{
    cr_assert_eq(mtp_sim_attach(r->w, ip, 24, &h->t), 0);
    struct mtp_stack_config cfg = {.prog = &mtpg_quic_lite_program, .ops = &mtp_target_sim,
                                   .target = h->t, .seed = seed};
    int err = 0;
    h->st = mtp_stack_new(&cfg, &err);
    cr_assert_not_null(h->st, "mtp_stack_new: %d", err);
    mtp_stack_set_notify(h->st, on_note, h);
}

static uint64_t now(struct rig *r) { return mtp_sim_now(r->w); }

/* Server listening on PORT, client connecting from CPORT. */
static void rig_up(struct rig *r, const struct mtp_sim_config *cfg)
{
    memset(r, 0, sizeof *r);
    r->w = mtp_sim_wire_new(NULL, cfg);
    cr_assert_not_null(r->w);
    host_up(r, &r->a, IP_A, 11);
    host_up(r, &r->b, IP_B, 22);
    r->stacks[0] = r->a.st;
    r->stacks[1] = r->b.st;
    r->a.key = conn_key(IP_A, IP_B, CPORT, PORT);
    r->b.key = conn_key(IP_B, IP_A, PORT, CPORT);
    cr_assert_eq(mtp_stack_port_claim(r->b.st, PORT), PORT);
    cr_assert_eq(mtp_stack_port_claim(r->a.st, CPORT), CPORT);
    struct mtpg_quic_lite_port_id pid = {.local_port = PORT};
    struct mtp_key lk;
    mtpg_quic_lite_key_port_id(&lk, &pid);
    struct mtpg_quic_lite_app_listen l = {.local_port = PORT};
    cr_assert_geq(mtp_stack_post(r->b.st, MTPG_QUIC_LITE_EV_APP_LISTEN, &lk, &l, sizeof l, 0), 0);
    struct mtpg_quic_lite_app_connect c = {
        .local_ip = IP_A, .remote_ip = IP_B, .local_port = CPORT, .remote_port = PORT};
    cr_assert_geq(mtp_stack_post(r->a.st, MTPG_QUIC_LITE_EV_APP_CONNECT, &r->a.key, &c, sizeof c, 0), 0);
}

static void rig_down(struct rig *r)
{
    for (int i = 0; i < 2; i++) {
        const struct mtp_stats *s = mtp_stack_stats(r->stacks[i]);
        cr_expect_eq(s->assert_failures, 0u);
        cr_expect_eq(s->instr_overflow, 0u);
        cr_expect_eq(s->event_overflow, 0u);
        cr_expect_eq(s->drop_data_ref, 0u, "a STREAM frame referenced retired bytes");
    }
    mtp_stack_free(r->a.st);
    mtp_stack_free(r->b.st);
    mtp_sim_wire_free(r->w);
}

static struct mtpg_quic_lite_conn *conn_of(struct host *h)
{
    return mtp_stack_ctx(h->st, CONN, &h->key);
}

/* Client: queue each stream's pattern as room allows, FIN with the last byte. */
static void client_send(struct rig *r, uint64_t t)
{
    if (!r->a.connected)
        return;
    for (int i = 0; i < r->n; i++) {
        uint64_t id = 4ull * (uint64_t)i;
        while (r->sent[i] < r->size[i] && t >= r->start[i]) {
            int64_t room = mtp_stack_tx_space(r->a.st, CONN, &r->a.key, id);
            if (room < 0)
                room = 16 * KB; /* the first send opens the stream */
            uint64_t n = r->size[i] - r->sent[i];
            if (n > (uint64_t)room)
                n = (uint64_t)room;
            if (n > sizeof r->buf)
                n = sizeof r->buf;
            if (n == 0)
                break;
            for (uint64_t k = 0; k < n; k++)
                r->buf[k] = pattern(id, r->sent[i] + k);
            struct mtpg_quic_lite_app_send ev = {
                .stream = id, .buf = (mtp_addr_t)(uintptr_t)r->buf, .len = (uint32_t)n,
                .fin = r->sent[i] + n == r->size[i]};
            cr_assert_geq(mtp_stack_post(r->a.st, MTPG_QUIC_LITE_EV_APP_SEND, &r->a.key, &ev,
                                         sizeof ev, t), 0);
            r->sent[i] += n;
        }
    }
}

/* Server: read every stream that has bytes, check them against the pattern. */
static void server_recv(struct rig *r, uint64_t t)
{
    for (int j = 0; j < r->b.n_new; j++) {
        uint64_t id = r->b.new_ids[j];
        int i = (int)(id / 4);
        cr_assert(id % 4 == 0 && i < r->n, "unexpected stream %lu", (unsigned long)id);
        for (;;) {
            int64_t ready = mtp_stack_rx_ready(r->b.st, CONN, &r->b.key, id);
            if (ready <= 0)
                break;
            uint32_t n = ready < (int64_t)sizeof r->buf ? (uint32_t)ready : sizeof r->buf;
            struct mtpg_quic_lite_app_recv ev = {
                .stream = id, .buf = (mtp_addr_t)(uintptr_t)r->buf, .len = n};
            cr_assert_geq(mtp_stack_post(r->b.st, MTPG_QUIC_LITE_EV_APP_RECV, &r->b.key, &ev,
                                         sizeof ev, t), 0);
            for (uint32_t k = 0; k < n; k++)
                r->mismatches += r->buf[k] != pattern(id, r->rcvd[i] + k);
            r->rcvd[i] += n;
        }
        if (r->b.fin[i] && r->rcvd[i] == r->size[i] && !r->b.fin_time[i])
            r->b.fin_time[i] = t;
    }
}

static bool all_received(struct rig *r)
{
    for (int i = 0; i < r->n; i++)
        if (r->rcvd[i] != r->size[i] || !r->b.fin[i])
            return false;
    return true;
}

static int step(void *arg)
{
    struct rig *r = arg;
    uint64_t t = now(r);
    client_send(r, t);
    server_recv(r, t);
    return all_received(r);
}

static void run_transfer(struct rig *r, uint64_t deadline)
{
    int rc = mtp_sim_run_until(r->w, r->stacks, 2, step, r, deadline);
    uint64_t got = 0, want = 0;
    for (int i = 0; i < r->n; i++) {
        got += r->rcvd[i];
        want += r->size[i];
    }
    cr_assert_eq(rc, 0, "stalled at %.3f s: %lu of %lu bytes", now(r) / 1e9,
                 (unsigned long)got, (unsigned long)want);
    cr_assert_eq(r->mismatches, 0u);
    const struct mtp_sim_stats *ws = mtp_sim_stats(r->w);
    cr_log_info("%d streams, %lu bytes in %.3f s of virtual time; frames %lu, lost %lu, "
                "duplicated %lu, reordered %lu", r->n, (unsigned long)want, now(r) / 1e9,
                (unsigned long)ws->sent, (unsigned long)ws->lost, (unsigned long)ws->duplicated,
                (unsigned long)ws->reordered);
}

/* n streams of the given sizes, all queued at once */
static void streams(struct rig *r, int n, const uint64_t *sizes)
{
    r->n = n;
    for (int i = 0; i < n; i++)
        r->size[i] = sizes[i];
}

TestSuite(quic_sim, .timeout = 120);

Test(quic_sim, handshake_then_one_stream)
{
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 1, .delay_ns = 20 * US};
    rig_up(r, &c);
    const uint64_t sizes[] = {2 * 1024 * KB};
    streams(r, 1, sizes);
    run_transfer(r, 10 * S);
    cr_expect(r->a.connected && r->b.connected);
    struct mtpg_quic_lite_conn *cc = conn_of(&r->a), *sc = conn_of(&r->b);
    cr_assert(cc && sc);
    cr_expect_eq(cc->peer_cid, sc->local_cid, "connection ids exchanged");
    cr_expect_eq(sc->peer_cid, cc->local_cid);
    cr_expect_neq(cc->local_cid, 0u);
    rig_down(r);
    free(r);
}

Test(quic_sim, many_streams_byte_exact_under_loss_and_reordering)
{
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 7, .delay_ns = 30 * US, .jitter_ns = 20 * US,
                               .loss_ppm = 20000, .reorder_ppm = 20000, .dup_ppm = 10000};
    rig_up(r, &c);
    const uint64_t sizes[] = {1, 100, 1400, 4 * KB, 16 * KB, 64 * KB, 200 * KB, 512 * KB,
                              1024 * KB, 3, 33 * KB, 300 * KB};
    streams(r, 12, sizes);
    run_transfer(r, 60 * S);
    rig_down(r);
    free(r);
}

Test(quic_sim, five_percent_loss)
{
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 3, .delay_ns = 20 * US, .loss_ppm = 50000};
    rig_up(r, &c);
    const uint64_t sizes[] = {1024 * KB, 256 * KB, 256 * KB, 8 * KB};
    streams(r, 4, sizes);
    run_transfer(r, 60 * S);
    rig_down(r);
    free(r);
}

/* Round robin with a quantum: a 32 KB stream queued while a 4 MB one is sending finishes
 * long before it (it waits one quantum at most), on a rate-limited wire. */
Test(quic_sim, short_stream_not_stuck_behind_a_long_one)
{
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 5, .delay_ns = 20 * US,
                               .rate_bytes_per_sec = 125000000ull /* 1 Gbit/s */};
    rig_up(r, &c);
    const uint64_t sizes[] = {4096 * KB, 32 * KB};
    streams(r, 2, sizes);
    r->start[1] = 5 * MS; /* the long stream has been sending for 5 ms */
    run_transfer(r, 60 * S);
    uint64_t short_done = r->b.fin_time[1] - r->start[1], long_done = r->b.fin_time[0];
    cr_log_info("32 KB stream: %.3f ms after it was queued; 4 MB stream: %.3f ms",
                short_done / 1e6, long_done / 1e6);
    cr_expect_lt(short_done, long_done / 4, "the short stream waited for the long one");
    rig_down(r);
    free(r);
}

/* Small windows: the sender stops at the credit and goes on with MAX_DATA and
 * MAX_STREAM_DATA as the application reads. */
Test(quic_sim, flow_control_with_small_windows)
{
    mtpg_quic_lite_param_STREAM_WINDOW = 16 * KB;
    mtpg_quic_lite_param_CONN_WINDOW = 40 * KB;
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 9, .delay_ns = 20 * US, .loss_ppm = 10000};
    rig_up(r, &c);
    const uint64_t sizes[] = {300 * KB, 300 * KB, 100 * KB};
    streams(r, 3, sizes);
    run_transfer(r, 60 * S);
    rig_down(r);
    free(r);
    mtpg_quic_lite_param_STREAM_WINDOW = 131072;
    mtpg_quic_lite_param_CONN_WINDOW = 1048576;
}

/* ------------------------------------------------------------------ request/response */

/* Each client stream is a request; when the server has read it all (FIN) it answers on the
 * same stream with a response of its own size and a FIN, which the client reads and checks. */
struct rr {
    struct rig *r;
    uint64_t resp_size[MAXS], resp_sent[MAXS], resp_rcvd[MAXS];
    bool resp_fin_seen[MAXS];
    int n_fin;
    uint64_t mismatches;
};

static struct rr *rr_of;

static void on_client_note(void *user, const struct mtp_note *n)
{
    on_note(user, n);
    if (n->code == MTPG_QUIC_LITE_NOTE_STREAM_FIN && n->value / 4 < MAXS)
        rr_of->resp_fin_seen[n->value / 4] = true;
}

static int rr_step(void *arg)
{
    struct rr *q = arg;
    struct rig *r = q->r;
    uint64_t t = now(r);
    client_send(r, t);
    server_recv(r, t);
    static uint8_t buf[16 * 1024];
    bool done = true;
    for (int i = 0; i < r->n; i++) {
        uint64_t id = 4ull * (uint64_t)i;
        /* server: answer a complete request */
        while (r->b.fin[i] && r->rcvd[i] == r->size[i] && q->resp_sent[i] < q->resp_size[i]) {
            int64_t room = mtp_stack_tx_space(r->b.st, CONN, &r->b.key, id);
            uint64_t k = q->resp_size[i] - q->resp_sent[i];
            if (room <= 0)
                break;
            if (k > (uint64_t)room)
                k = (uint64_t)room;
            if (k > sizeof buf)
                k = sizeof buf;
            for (uint64_t j = 0; j < k; j++)
                buf[j] = pattern(id + 1000, q->resp_sent[i] + j);
            struct mtpg_quic_lite_app_send ev = {
                .stream = id, .buf = (mtp_addr_t)(uintptr_t)buf, .len = (uint32_t)k,
                .fin = q->resp_sent[i] + k == q->resp_size[i]};
            cr_assert_geq(mtp_stack_post(r->b.st, MTPG_QUIC_LITE_EV_APP_SEND, &r->b.key, &ev,
                                         sizeof ev, t), 0);
            q->resp_sent[i] += k;
        }
        /* client: read the response */
        for (;;) {
            int64_t ready = mtp_stack_rx_ready(r->a.st, CONN, &r->a.key, id);
            if (ready <= 0)
                break;
            uint32_t k = ready < (int64_t)sizeof buf ? (uint32_t)ready : sizeof buf;
            struct mtpg_quic_lite_app_recv ev = {
                .stream = id, .buf = (mtp_addr_t)(uintptr_t)buf, .len = k};
            cr_assert_geq(mtp_stack_post(r->a.st, MTPG_QUIC_LITE_EV_APP_RECV, &r->a.key, &ev,
                                         sizeof ev, t), 0);
            for (uint32_t j = 0; j < k; j++)
                q->mismatches += buf[j] != pattern(id + 1000, q->resp_rcvd[i] + j);
            q->resp_rcvd[i] += k;
        }
        done &= q->resp_rcvd[i] == q->resp_size[i] && q->resp_fin_seen[i];
    }
    return done;
}

static void request_response(const struct mtp_sim_config *c)
{
    struct rig *r = calloc(1, sizeof *r);
    struct rr *q = calloc(1, sizeof *q);
    rr_of = q;
    q->r = r;
    rig_up(r, c);
    mtp_stack_set_notify(r->a.st, on_client_note, &r->a);
    const uint64_t sizes[] = {100, 2000, 8 * KB, 32 * KB, 1, 500, 64 * KB, 20 * KB};
    streams(r, 8, sizes);
    for (int i = 0; i < 8; i++)
        q->resp_size[i] = (uint64_t)(7 - i) * 9000 + 1;
    int rc = mtp_sim_run_until(r->w, r->stacks, 2, rr_step, q, now(r) + 60 * S);
    cr_assert_eq(rc, 0, "stalled at %.3f s", now(r) / 1e9);
    cr_expect_eq(r->mismatches + q->mismatches, 0u);
    rig_down(r);
    free(q);
    free(r);
}

Test(quic_sim, requests_and_responses_on_many_streams_under_loss)
{
    struct mtp_sim_config c = {.seed = 12, .delay_ns = 25 * US, .jitter_ns = 10 * US,
                               .loss_ppm = 20000, .reorder_ppm = 10000};
    request_response(&c);
}

/* 10% loss: the handshake's ARP and HELLO losses push the RTT estimate past a timer-wheel
 * lap, so the PTO lies laps away while the idle timer lies further (a stall before the
 * wheel's next-deadline fix). */
Test(quic_sim, requests_and_responses_at_ten_percent_loss)
{
    struct mtp_sim_config c = {.seed = 205, .delay_ns = 25 * US, .jitter_ns = 10 * US,
                               .loss_ppm = 100000, .reorder_ppm = 10000};
    request_response(&c);
}

/* Close once everything is acknowledged: CONNECTION_CLOSE reaches the server. */
Test(quic_sim, close_after_the_data)
{
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 4, .delay_ns = 20 * US};
    rig_up(r, &c);
    const uint64_t sizes[] = {50 * KB, 7};
    streams(r, 2, sizes);
    run_transfer(r, 10 * S);
    struct mtpg_quic_lite_app_close ev;
    memset(&ev, 0, sizeof ev);
    cr_assert_geq(mtp_stack_post(r->a.st, MTPG_QUIC_LITE_EV_APP_CLOSE, &r->a.key, &ev, 0, now(r)), 0);
    cr_assert_eq(mtp_sim_run_until(r->w, r->stacks, 2, NULL, NULL, now(r) + 50 * MS), -ETIMEDOUT);
    cr_expect(r->a.closed && r->b.closed);
    cr_expect_eq(r->b.close_code, 0u);
    cr_expect_null(conn_of(&r->a));
    cr_expect_null(conn_of(&r->b));
    rig_down(r);
    free(r);
}

/* ------------------------------------------------------------ streams over a connection's life */

/* A client that opens short request/response streams one after another, as many at once as
 * the program lets it (a web client with short connections): CHURN streams in all over one
 * connection, many times the NSTREAMS slots and the server's stream credit. Ids only grow,
 * so the server's credit must grow too (MAX_STREAMS), and the client must never open a stream
 * the server has no room for yet (its STREAM_LIMIT_ERROR would end every stream). */
#define CHURN 400
#define RESP_TAG 1000000

struct churn {
    struct rig *r;
    uint64_t opened;                 /* client streams opened: ids 0, 4, ..., 4 * (opened - 1) */
    uint64_t lo;                     /* streams below are complete */
    uint64_t done, refused;          /* complete streams; app_send refused for a new stream */
    uint64_t req_rcvd[CHURN], resp_rcvd[CHURN];
    bool srv_open[CHURN], req_fin[CHURN], resp_sent[CHURN], resp_fin[CHURN], complete[CHURN];
    uint32_t srv_max_open;           /* most streams in the server's table at once */
    uint64_t mismatches;
};

static struct churn *churn_of;

static uint64_t req_size(uint64_t i) { return 1 + (i * 7919) % 3000; }
static uint64_t resp_size(uint64_t i) { return 1 + (i * 104729) % 5000; }

static void on_churn_note(void *user, const struct mtp_note *n)
{
    struct host *h = user;
    struct churn *q = churn_of;
    uint64_t i = n->value / 4;
    bool server = h == &q->r->b;
    if (n->ctx_type != CONN)
        return;
    if (n->code == MTPG_QUIC_LITE_NOTE_NEW_STREAM && server && i < CHURN)
        q->srv_open[i] = true;
    else if (n->code == MTPG_QUIC_LITE_NOTE_STREAM_FIN && i < CHURN)
        *(server ? &q->req_fin[i] : &q->resp_fin[i]) = true;
    else
        on_note(user, n);
}

static bool has_stream(struct host *h, uint64_t id)
{
    const struct mtpg_quic_lite_conn *c = conn_of(h);
    for (uint32_t i = 0; c && i < c->st.len; i++)
        if (c->st.v[i].id == id)
            return true;
    return false;
}

/* Reads what stream `id` holds, each byte checked against pattern(tag, offset). */
static void churn_read(struct churn *q, struct host *h, uint64_t id, uint64_t tag, uint64_t *got,
                       uint64_t t)
{
    static uint8_t buf[8 * KB];
    for (;;) {
        int64_t ready = mtp_stack_rx_ready(h->st, CONN, &h->key, id);
        if (ready <= 0)
            return;
        uint32_t n = ready < (int64_t)sizeof buf ? (uint32_t)ready : sizeof buf;
        struct mtpg_quic_lite_app_recv ev = {
            .stream = id, .buf = (mtp_addr_t)(uintptr_t)buf, .len = n};
        cr_assert_geq(mtp_stack_post(h->st, MTPG_QUIC_LITE_EV_APP_RECV, &h->key, &ev, sizeof ev, t),
                      0);
        for (uint32_t k = 0; k < n; k++)
            q->mismatches += buf[k] != pattern(tag, *got + k);
        *got += n;
    }
}

/* `len` bytes of pattern(tag) and the FIN, in one app_send. */
static void churn_send(struct host *h, uint64_t id, uint64_t tag, uint64_t len, uint64_t t)
{
    static uint8_t buf[8 * KB];
    for (uint64_t k = 0; k < len; k++)
        buf[k] = pattern(tag, k);
    struct mtpg_quic_lite_app_send ev = {
        .stream = id, .buf = (mtp_addr_t)(uintptr_t)buf, .len = (uint32_t)len, .fin = true};
    cr_assert_geq(mtp_stack_post(h->st, MTPG_QUIC_LITE_EV_APP_SEND, &h->key, &ev, sizeof ev, t), 0);
}

static int churn_step(void *arg)
{
    struct churn *q = arg;
    struct rig *r = q->r;
    uint64_t t = now(r);
    if (r->a.closed || r->b.closed)
        return 1;
    while (q->opened < CHURN) {      /* a new stream whenever the program takes one */
        uint64_t id = 4 * q->opened;
        churn_send(&r->a, id, id, req_size(q->opened), t);
        if (!has_stream(&r->a, id)) {
            q->refused++;
            break;
        }
        q->opened++;
    }
    for (uint64_t i = q->lo; i < q->opened; i++) {
        uint64_t id = 4 * i;
        if (q->srv_open[i] && !q->resp_sent[i]) {   /* server: a whole request, then answer */
            churn_read(q, &r->b, id, id, &q->req_rcvd[i], t);
            if (q->req_fin[i] && q->req_rcvd[i] == req_size(i) &&
                mtp_stack_tx_space(r->b.st, CONN, &r->b.key, id) >= (int64_t)resp_size(i)) {
                churn_send(&r->b, id, id + RESP_TAG, resp_size(i), t);
                q->resp_sent[i] = true;
            }
        }
        churn_read(q, &r->a, id, id + RESP_TAG, &q->resp_rcvd[i], t);
        if (!q->complete[i] && q->resp_fin[i] && q->resp_rcvd[i] == resp_size(i)) {
            q->complete[i] = true;
            q->done++;
        }
    }
    while (q->lo < q->opened && q->complete[q->lo])
        q->lo++;
    const struct mtpg_quic_lite_conn *sc = conn_of(&r->b);
    if (sc && sc->st.len > q->srv_max_open)
        q->srv_max_open = sc->st.len;
    const struct mtpg_quic_lite_conn *cc = conn_of(&r->a);
    return q->done == CHURN && cc && sc && cc->st.len == 0 && sc->st.len == 0;
}

static void stream_churn(const struct mtp_sim_config *c)
{
    struct rig *r = calloc(1, sizeof *r);
    struct churn *q = calloc(1, sizeof *q);
    churn_of = q;
    q->r = r;
    rig_up(r, c);
    mtp_stack_set_notify(r->a.st, on_churn_note, &r->a);
    mtp_stack_set_notify(r->b.st, on_churn_note, &r->b);
    int rc = mtp_sim_run_until(r->w, r->stacks, 2, churn_step, q, now(r) + 60 * S);
    cr_assert(!r->a.closed && !r->b.closed, "the connection closed (client: %d code %#lx, server: "
              "%d code %#lx) after %lu of %d streams", r->a.closed, (unsigned long)r->a.close_code,
              r->b.closed, (unsigned long)r->b.close_code, (unsigned long)q->done, CHURN);
    cr_assert_eq(rc, 0, "stalled at %.3f s: %lu of %d streams complete, %lu opened",
                 now(r) / 1e9, (unsigned long)q->done, CHURN, (unsigned long)q->opened);
    cr_expect_eq(q->mismatches, 0u);
    cr_expect_leq(q->srv_max_open, MTPG_QUIC_LITE_NSTREAMS);
    cr_expect_geq(conn_of(&r->a)->peer_streams, CHURN, "the server's MAX_STREAMS grew");
    cr_expect_gt(conn_of(&r->a)->sblocked_at, 0u, "the client said STREAMS_BLOCKED");
    cr_log_info("%d streams over one connection in %.3f s of virtual time, at most %u open at "
                "the server, %lu refused opens", CHURN, now(r) / 1e9, q->srv_max_open,
                (unsigned long)q->refused);
    rig_down(r);
    free(q);
    free(r);
}

Test(quic_sim, streams_opened_and_closed_beyond_the_limit)
{
    struct mtp_sim_config c = {.seed = 31, .delay_ns = 20 * US, .jitter_ns = 5 * US};
    stream_churn(&c);
}

Test(quic_sim, streams_opened_and_closed_beyond_the_limit_under_loss)
{
    struct mtp_sim_config c = {.seed = 32, .delay_ns = 25 * US, .jitter_ns = 10 * US,
                               .loss_ppm = 20000, .reorder_ppm = 10000};
    stream_churn(&c);
}

/* ------------------------------------------------------------ ICMP errors */

#define IP_K 0x0a000003u

/* A raw endpoint playing a kernel host with no socket on the port: it answers ARP and sends
 * ICMP errors quoting each UDP packet it receives (the IPv4 header and 8 bytes, RFC 792).
 * For the client's 1st packet it sends time exceeded, for the 2nd fragmentation needed, for
 * the 3rd a port unreachable quoting another source port, then real port unreachables. */
struct khost {
    struct mtp_sim_wire *w;
    struct mtp_target *t;
    struct mtp_link_info li;
    int udp_seen;
    struct host *client;
};

static void k_send(struct khost *k, const uint8_t dst_mac[6], uint16_t ethertype,
                   const uint8_t *l3, uint32_t len)
{
    struct mtp_frame f;
    cr_assert_eq(mtp_target_sim.tx_alloc(k->t, &f, 1), 1);
    struct mtp_eth_repr e = {.ethertype = ethertype};
    memcpy(e.dst, dst_mac, 6);
    memcpy(e.src, k->li.mac, 6);
    mtp_eth_emit(&e, f.data);
    memcpy(f.data + MTP_ETH_HDR_LEN, l3, len);
    f.len = MTP_ETH_HDR_LEN + len;
    cr_assert_eq(mtp_target_sim.tx_burst(k->t, &f, 1), 1);
}

static void k_icmp(struct khost *k, const uint8_t *mac, const uint8_t *ip_pkt,
                   const struct mtp_ipv4_repr *ip, uint8_t type, uint8_t code)
{
    struct mtp_icmp_repr r;
    mtp_icmp_unreach_repr(&r, code, ip_pkt, ip);
    r.type = type;
    uint8_t pkt[128];
    uint32_t l4 = mtp_icmp_emit(&r, pkt + MTP_IP4_MIN_LEN);
    struct mtp_ipv4_repr out = {.src = IP_K, .dst = ip->src, .proto = MTP_IPPROTO_ICMP,
                                .ttl = 64, .payload_len = l4};
    mtp_ipv4_emit(&out, pkt, 0);
    k_send(k, mac, MTP_ETHERTYPE_IPV4, pkt, MTP_IP4_MIN_LEN + l4);
}

static void k_answer(struct khost *k, const uint8_t *fr, uint32_t len)
{
    struct mtp_eth_repr e;
    struct mtp_arp_repr a;
    struct mtp_ipv4_repr ip;
    if (mtp_eth_parse(fr, len, &e) != MTP_NET_OK)
        return;
    const uint8_t *l3 = fr + MTP_ETH_HDR_LEN;
    if (e.ethertype == MTP_ETHERTYPE_ARP && mtp_arp_parse(l3, len - MTP_ETH_HDR_LEN, &a) == 0 &&
        a.oper == MTP_ARP_OP_REQUEST && a.tpa == IP_K) {
        struct mtp_arp_repr rep = {.oper = MTP_ARP_OP_REPLY, .spa = IP_K, .tpa = a.spa};
        memcpy(rep.sha, k->li.mac, 6);
        memcpy(rep.tha, a.sha, 6);
        uint8_t buf[MTP_ARP_LEN];
        mtp_arp_emit(&rep, buf);
        k_send(k, a.sha, MTP_ETHERTYPE_ARP, buf, sizeof buf);
        return;
    }
    if (e.ethertype != MTP_ETHERTYPE_IPV4 ||
        mtp_ipv4_parse(l3, len - MTP_ETH_HDR_LEN, &ip) != MTP_NET_OK || ip.proto != 17)
        return;
    switch (k->udp_seen++) {
    case 0: k_icmp(k, e.src, l3, &ip, MTP_ICMP_TIME_EXCEEDED, 0); break;
    case 1: k_icmp(k, e.src, l3, &ip, MTP_ICMP_DEST_UNREACH, MTP_ICMP_FRAG_NEEDED); break;
    case 2: {
        uint8_t other[64];
        memcpy(other, l3, ip.hdr_len + 8);
        other[ip.hdr_len + 1] ^= 1; /* a source port with no connection */
        k_icmp(k, e.src, other, &ip, MTP_ICMP_DEST_UNREACH, MTP_ICMP_PORT_UNREACH);
        break;
    }
    default: k_icmp(k, e.src, l3, &ip, MTP_ICMP_DEST_UNREACH, MTP_ICMP_PORT_UNREACH); break;
    }
}

static int k_poll(void *arg)
{
    struct khost *k = arg;
    struct mtp_frame f[8];
    int n = mtp_target_sim.rx_burst(k->t, f, 8);
    for (int i = 0; i < n; i++)
        k_answer(k, f[i].data, f[i].len);
    if (n > 0)
        mtp_target_sim.rx_release(k->t, f, n);
    return k->client->closed;
}

/* The client's HELLO (sent again by the PTO) meets a host without a listener: time exceeded
 * and fragmentation needed change nothing, an error quoting another port matches no
 * connection, port unreachable ends the handshake with CONNECTION_REFUSED long before the
 * idle timeout. */
Test(quic_sim, icmp_port_unreachable_refuses_the_connect)
{
    struct rig *r = calloc(1, sizeof *r);
    struct mtp_sim_config c = {.seed = 5, .delay_ns = 20 * US};
    r->w = mtp_sim_wire_new(NULL, &c);
    host_up(r, &r->a, IP_A, 11);
    struct khost k = {.w = r->w, .client = &r->a};
    cr_assert_eq(mtp_sim_attach(r->w, IP_K, 24, &k.t), 0);
    mtp_target_sim.link_info(k.t, &k.li);
    r->a.key = conn_key(IP_A, IP_K, CPORT, PORT);
    cr_assert_eq(mtp_stack_port_claim(r->a.st, CPORT), CPORT);
    struct mtpg_quic_lite_app_connect ev = {
        .local_ip = IP_A, .remote_ip = IP_K, .local_port = CPORT, .remote_port = PORT};
    cr_assert_geq(mtp_stack_post(r->a.st, MTPG_QUIC_LITE_EV_APP_CONNECT, &r->a.key, &ev,
                                 sizeof ev, 0), 0);
    cr_assert_eq(mtp_sim_run_until(r->w, &r->a.st, 1, k_poll, &k, 1 * S), 0);
    cr_expect_lt(now(r), 100 * MS, "refused at once, not after the idle timeout");
    cr_expect_eq(r->a.close_code, MTPG_QUIC_LITE_ERR_REFUSED);
    cr_expect(!r->a.connected);
    cr_expect_null(conn_of(&r->a));
    cr_expect_eq(k.udp_seen, 4);
    const struct mtp_stats *st = mtp_stack_stats(r->a.st);
    cr_expect_eq(st->icmp_err_time_exceeded, 1u);
    cr_expect_eq(st->icmp_err_unreach, 3u);
    cr_expect_eq(st->icmp_err_frag_needed, 1u);
    cr_expect_eq(st->icmp_err_unmatched, 1u, "the quote of another port");
    cr_expect_eq(st->icmp_err_delivered, 3u, "time exceeded, frag needed (ignored), port unreachable");
    cr_expect_eq(st->icmp_err_malformed, 0u);
    cr_expect_eq(st->assert_failures, 0u);
    mtp_stack_free(r->a.st);
    mtp_sim_wire_free(r->w);
    free(r);
}
