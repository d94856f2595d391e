/*
 * test_quic_sock.c — QUIC-Lite through the socket layer (sock.h, preload/shim_quic.c) on the
 * sim wire: many sockets to one server are streams of one connection (one local port, one
 * handshake), byte-exact both ways under loss, duplication and reordering; accept returns a
 * socket per stream; stream slots are reused (far more streams than the table holds over one
 * connection's life); half-close; abort is a reset; connect to a closed port is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/stack.h"
#include "quic_lite.h"
#include "sim.h"
#include "sock.h"

#define MS 1000000ull
#define S 1000000000ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define PORT 7000
#define NMAX 40

static uint8_t pattern(uint32_t dir, uint32_t idx, uint64_t off)
{
    if (dir == 0 && off == 0)
        return (uint8_t)idx; /* the server learns which stream it is from the first byte */
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(dir * 64 + idx + 1) * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 56);
}

/* One direction of one stream. */
struct flow {
    uint64_t total, sent, got;
    uint32_t bad;
    bool shut, eof;
};

static struct {
    struct mtp_sim_wire *w;
    struct mtp_stack *st[2];
    struct mtp_socks *ss[2];
    struct mtp_sock *listener;
    int n;
    struct mtp_sock *cli[NMAX], *srv[NMAX]; /* srv by stream index */
    struct mtp_sock *unknown[NMAX];         /* accepted, first byte not read yet */
    int n_unknown, n_accepted;
    struct flow f[2][NMAX];                 /* [0] client -> server, [1] server -> client */
} R;

static uint64_t now(void) { return mtp_sim_now(R.w); }

static void up(const struct mtp_sim_config *cfg)
{
    memset(&R, 0, sizeof R);
    const struct mtp_sock_proto *p = mtp_sock_proto_find("quic");
    cr_assert_not_null(p);
    R.w = mtp_sim_wire_new(NULL, cfg);
    for (int i = 0; i < 2; i++) {
        struct mtp_target *t;
        cr_assert_eq(mtp_sim_attach(R.w, i ? IP_B : IP_A, 24, &t), 0);
        struct mtp_stack_config c = {.prog = mtp_sock_proto_program(p), .ops = &mtp_target_sim,
                                     .target = t, .seed = 7 + (uint64_t)i};
        int err = 0;
        R.st[i] = mtp_stack_new(&c, &err);
        cr_assert_not_null(R.st[i]);
        R.ss[i] = mtp_socks_new(R.st[i], p, &err);
        cr_assert_not_null(R.ss[i]);
    }
}

static void down(void)
{
    for (int i = 0; i < 2; i++) {
        const struct mtp_stats *s = mtp_stack_stats(R.st[i]);
        cr_expect_eq(s->instr_overflow, 0u);
        cr_expect_eq(s->event_overflow, 0u);
        cr_expect_eq(s->drop_data_ref, 0u);
        mtp_socks_free(R.ss[i]);
        mtp_stack_free(R.st[i]);
    }
    mtp_sim_wire_free(R.w);
}

static void poll_layers(void)
{
    for (int i = 0; i < 2; i++)
        mtp_socks_poll(R.ss[i], now());
}

/* Runs the wire for ns, the socket layers polled at every step (they post deferred events). */
static int keep_polling(void *arg)
{
    (void)arg;
    poll_layers();
    return 0;
}

static void run_for(uint64_t ns)
{
    mtp_sim_run_until(R.w, R.st, 2, keep_polling, NULL, now() + ns);
    poll_layers();
}

static struct mtp_sock *listen_on(uint16_t port)
{
    int err = 0;
    struct mtp_sock *l = mtp_sock_listen(R.ss[1], port, 64, now(), &err);
    cr_assert_not_null(l, "listen: %d", err);
    return l;
}

static struct mtp_sock *connect_to(uint16_t port)
{
    int err = 0;
    struct mtp_sock *s = mtp_sock_connect(R.ss[0], IP_B, port, now(), &err);
    cr_assert_not_null(s, "connect: %d", err);
    return s;
}

/* Writes what fits of flow fl to sk; shuts the direction down after its last byte. */
static void push(struct mtp_sock *sk, struct flow *fl, uint32_t dir, uint32_t idx)
{
    static uint8_t buf[65536];
    while (fl->sent < fl->total) {
        uint64_t n = fl->total - fl->sent;
        if (n > sizeof buf)
            n = sizeof buf;
        for (uint64_t i = 0; i < n; i++)
            buf[i] = pattern(dir, idx, fl->sent + i);
        ssize_t k = mtp_sock_send(sk, buf, (size_t)n, now());
        if (k <= 0)
            break;
        fl->sent += (uint64_t)k;
    }
    if (fl->sent == fl->total && !fl->shut && (mtp_sock_poll(sk) & MTP_SOCK_WRITABLE)) {
        cr_assert_eq(mtp_sock_shutdown_wr(sk, now()), 0);
        fl->shut = true;
    }
}

/* Reads what came of flow fl from sk and checks it. */
static void pull(struct mtp_sock *sk, struct flow *fl, uint32_t dir, uint32_t idx)
{
    static uint8_t buf[65536];
    ssize_t k;
    while ((k = mtp_sock_recv(sk, buf, sizeof buf, now())) > 0) {
        for (ssize_t i = 0; i < k; i++)
            fl->bad += buf[i] != pattern(dir, idx, fl->got + (uint64_t)i);
        fl->got += (uint64_t)k;
    }
    if (k == 0)
        fl->eof = true;
}

/* The server's side: accept, learn each stream's index from its first byte. */
static void serve(void)
{
    struct mtp_sock *sk;
    while (mtp_sock_accept(R.listener, &sk, now()) == 0) {
        cr_assert_lt(R.n_unknown, NMAX);
        R.unknown[R.n_unknown++] = sk;
        R.n_accepted++;
    }
    for (int i = 0; i < R.n_unknown; i++) {
        uint8_t b;
        if (mtp_sock_recv(R.unknown[i], &b, 1, now()) != 1)
            continue;
        cr_assert_lt(b, R.n);
        cr_assert_null(R.srv[b], "stream %u accepted twice", b);
        R.srv[b] = R.unknown[i];
        R.f[0][b].got = 1;
        R.unknown[i--] = R.unknown[--R.n_unknown];
    }
}

static int all_done(void *arg)
{
    (void)arg;
    poll_layers();
    serve();
    bool done = true;
    for (int i = 0; i < R.n; i++) {
        push(R.cli[i], &R.f[0][i], 0, (uint32_t)i);
        if (R.srv[i]) {
            pull(R.srv[i], &R.f[0][i], 0, (uint32_t)i);
            push(R.srv[i], &R.f[1][i], 1, (uint32_t)i);
        }
        pull(R.cli[i], &R.f[1][i], 1, (uint32_t)i);
        done = done && R.f[0][i].eof && R.f[1][i].eof;
    }
    return done;
}

/* n sockets to one server, stream i carries up[i] bytes up and down[i] bytes down. */
static void many_streams(const struct mtp_sim_config *cfg, int n, const uint64_t *up_b,
                         const uint64_t *down_b)
{
    up(cfg);
    R.n = n;
    R.listener = listen_on(PORT);
    for (int i = 0; i < n; i++) {
        R.cli[i] = connect_to(PORT);
        R.f[0][i].total = up_b[i];
        R.f[1][i].total = down_b[i];
    }
    int rc = mtp_sim_run_until(R.w, R.st, 2, all_done, NULL, now() + 60 * S);
    uint16_t lport0;
    mtp_sock_local(R.cli[0], NULL, &lport0);
    for (int i = 0; i < n; i++) {
        cr_expect_eq(R.f[0][i].got, up_b[i], "stream %d up: %lu/%lu", i,
                     (unsigned long)R.f[0][i].got, (unsigned long)up_b[i]);
        cr_expect_eq(R.f[1][i].got, down_b[i], "stream %d down: %lu/%lu", i,
                     (unsigned long)R.f[1][i].got, (unsigned long)down_b[i]);
        cr_expect_eq(R.f[0][i].bad + R.f[1][i].bad, 0u, "stream %d byte-exact", i);
        uint16_t lport, pport;
        mtp_sock_local(R.cli[i], NULL, &lport);
        cr_expect_eq(lport, lport0, "every socket is a stream of the same connection");
        cr_assert_not_null(R.srv[i]);
        mtp_sock_peer(R.srv[i], NULL, &pport);
        cr_expect_eq(pport, lport0);
    }
    cr_assert_eq(rc, 0, "stalled");
    cr_expect_eq(R.n_accepted, n, "one accepted socket per stream");
    for (int i = 0; i < n; i++) {
        cr_expect(mtp_sock_poll(R.cli[i]) & MTP_SOCK_HUP);
        cr_expect_eq(mtp_sock_close(R.cli[i], now()), 0);
        cr_expect_eq(mtp_sock_close(R.srv[i], now()), 0);
    }
    mtp_sock_close(R.listener, now());
    run_for(100 * MS);
    down();
}

TestSuite(quic_sock, .timeout = 300);

Test(quic_sock, twelve_streams_of_one_connection_byte_exact)
{
    struct mtp_sim_config c = {.seed = 1, .delay_ns = 5000, .rate_bytes_per_sec = 1250000000};
    uint64_t u[12], d[12];
    for (int i = 0; i < 12; i++) {
        u[i] = 1 + (uint64_t)i * 37000;
        d[i] = 1 + (uint64_t)(11 - i) * 91000;
    }
    many_streams(&c, 12, u, d);
}

Test(quic_sock, streams_under_loss_duplication_reordering)
{
    struct mtp_sim_config c = {.seed = 2, .delay_ns = 5000, .jitter_ns = 3000,
                               .rate_bytes_per_sec = 1250000000, .loss_ppm = 20000,
                               .dup_ppm = 10000, .reorder_ppm = 20000};
    uint64_t u[10], d[10];
    for (int i = 0; i < 10; i++) {
        u[i] = 1 + (uint64_t)(i % 3) * 150000;
        d[i] = 1 + (uint64_t)((i + 1) % 4) * 120000;
    }
    many_streams(&c, 10, u, d);
}

/* One request/response on a new socket, while `anchor` keeps the connection open. */
static void one_exchange(int k, uint16_t want_port)
{
    struct mtp_sock *c = connect_to(PORT);
    uint16_t lport;
    mtp_sock_local(c, NULL, &lport);
    cr_assert_eq(lport, want_port, "exchange %d: a stream of the same connection", k);
    struct flow up_f = {.total = 100}, down_f = {.total = 3000};
    struct mtp_sock *s = NULL;
    for (int round = 0; round < 2000 && !(up_f.eof && down_f.eof); round++) {
        run_for(20000);
        if (!s && mtp_sock_accept(R.listener, &s, now()) < 0)
            s = NULL;
        push(c, &up_f, 0, 1);
        if (s) {
            pull(s, &up_f, 0, 1);
            if (up_f.eof)
                push(s, &down_f, 1, 1);
        }
        pull(c, &down_f, 1, 1);
    }
    cr_assert(up_f.eof && down_f.eof, "exchange %d finished", k);
    cr_assert_eq(up_f.got, 100u);
    cr_assert_eq(down_f.got, 3000u);
    cr_assert_eq(up_f.bad + down_f.bad, 0u);
    cr_assert_eq(mtp_sock_close(s, now()), 0);
    cr_assert_eq(mtp_sock_close(c, now()), 0);
}

Test(quic_sock, stream_slots_are_reused_over_one_connection)
{
    struct mtp_sim_config c = {.seed = 3, .delay_ns = 5000, .loss_ppm = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    struct mtp_sock *anchor = connect_to(PORT), *anchor_s = NULL;
    uint16_t lport;
    mtp_sock_local(anchor, NULL, &lport);
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_accept(R.listener, &anchor_s, now()), 0);
    for (int k = 0; k < 200; k++) /* 200 streams; the table holds 64 at once */
        one_exchange(k, lport);
    mtp_sock_close(anchor, now());
    mtp_sock_close(anchor_s, now());
    mtp_sock_close(R.listener, now());
    run_for(100 * MS);
    down();
}

Test(quic_sock, half_close_then_the_other_way)
{
    struct mtp_sim_config c = {.seed = 4, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    struct mtp_sock *cl = connect_to(PORT), *sv = NULL;
    cr_assert_eq(mtp_sock_poll(cl) & MTP_SOCK_WRITABLE, 0u, "still connecting");
    run_for(5 * MS);
    cr_assert(mtp_sock_poll(cl) & MTP_SOCK_WRITABLE);
    cr_assert_eq(mtp_sock_accept(R.listener, &sv, now()), 0, "accepted before any byte");
    uint8_t b[64];
    cr_assert_eq(mtp_sock_recv(sv, b, sizeof b, now()), -EAGAIN);
    cr_assert_eq(mtp_sock_shutdown_wr(cl, now()), 0);
    cr_assert_eq(mtp_sock_send(cl, "x", 1, now()), -EPIPE);
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_recv(sv, b, sizeof b, now()), 0, "EOF");
    cr_assert(mtp_sock_poll(sv) & MTP_SOCK_RDHUP);
    cr_assert_eq(mtp_sock_send(sv, "after", 5, now()), 5, "the other way still works");
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_recv(cl, b, sizeof b, now()), 5);
    cr_assert_eq(memcmp(b, "after", 5), 0);
    cr_assert_eq(mtp_sock_recv(cl, b, sizeof b, now()), -EAGAIN);
    mtp_sock_close(sv, now());
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_recv(cl, b, sizeof b, now()), 0, "EOF after the server's close");
    mtp_sock_close(cl, now());
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}

Test(quic_sock, rdhup_as_soon_as_the_fin_arrives_eof_after_the_data)
{
    struct mtp_sim_config c = {.seed = 8, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    struct mtp_sock *cl = connect_to(PORT), *sv = NULL;
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_accept(R.listener, &sv, now()), 0);
    cr_assert_eq(mtp_sock_send(sv, "bye", 3, now()), 3);
    cr_assert_eq(mtp_sock_shutdown_wr(sv, now()), 0);
    run_for(5 * MS);
    unsigned f = mtp_sock_poll(cl);
    cr_assert(f & MTP_SOCK_READABLE);
    cr_assert(f & MTP_SOCK_RDHUP, "the FIN is in though the data is not read");
    uint8_t b[8];
    cr_assert_eq(mtp_sock_recv(cl, b, sizeof b, now()), 3);
    cr_assert_eq(mtp_sock_recv(cl, b, sizeof b, now()), 0);
    mtp_sock_close(cl, now());
    mtp_sock_close(sv, now());
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}

Test(quic_sock, abort_resets_one_stream_not_the_others)
{
    struct mtp_sim_config c = {.seed = 5, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    struct mtp_sock *c1 = connect_to(PORT), *c2 = connect_to(PORT), *s1 = NULL, *s2 = NULL;
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_accept(R.listener, &s1, now()), 0);
    cr_assert_eq(mtp_sock_accept(R.listener, &s2, now()), 0);
    cr_assert_eq(mtp_sock_abort(c1, now()), 0);
    run_for(5 * MS);
    uint8_t b[8];
    cr_assert(mtp_sock_poll(s1) & MTP_SOCK_ERROR);
    cr_assert(mtp_sock_poll(s1) & MTP_SOCK_HUP, "both directions over, as after a RST");
    cr_assert_eq(mtp_sock_recv(s1, b, sizeof b, now()), -ECONNRESET);
    cr_assert_eq(mtp_sock_send(s1, "x", 1, now()), -EPIPE);
    cr_assert_eq(mtp_sock_send(c2, "ok", 2, now()), 2, "the other stream lives on");
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_poll(s2) & MTP_SOCK_ERROR, 0u);
    cr_assert_eq(mtp_sock_recv(s2, b, sizeof b, now()), 2);
    mtp_sock_close(s1, now());
    mtp_sock_close(s2, now());
    mtp_sock_close(c2, now());
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}

Test(quic_sock, connect_to_a_closed_port_is_refused)
{
    struct mtp_sim_config c = {.seed = 6, .delay_ns = 5000};
    up(&c);
    struct mtp_sock *s = connect_to(9);
    cr_assert_eq(mtp_sock_poll(s) & MTP_SOCK_WRITABLE, 0u, "still connecting");
    run_for(100 * MS);
    cr_assert(mtp_sock_poll(s) & MTP_SOCK_ERROR);
    cr_assert_eq(mtp_sock_error(s), -ECONNREFUSED);
    mtp_sock_close(s, now());
    down();
}

static bool conn_exists(uint16_t cport)
{
    struct mtpg_quic_lite_conn_id a = {.local_ip = IP_A, .remote_ip = IP_B, .local_port = cport,
                                       .remote_port = PORT};
    struct mtpg_quic_lite_conn_id b = {.local_ip = IP_B, .remote_ip = IP_A, .local_port = PORT,
                                       .remote_port = cport};
    struct mtp_key ka, kb;
    mtpg_quic_lite_key_conn_id(&ka, &a);
    mtpg_quic_lite_key_conn_id(&kb, &b);
    bool ca = mtp_stack_ctx(R.st[0], MTPG_QUIC_LITE_CTX_CONN, &ka) != NULL;
    bool cb = mtp_stack_ctx(R.st[1], MTPG_QUIC_LITE_CTX_CONN, &kb) != NULL;
    cr_assert_eq(ca, cb, "both sides agree");
    return ca;
}

/* One short exchange on a new socket; returns the client's local port. */
static uint16_t short_exchange(void)
{
    struct mtp_sock *c = connect_to(PORT), *s = NULL;
    uint16_t lport;
    mtp_sock_local(c, NULL, &lport);
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_accept(R.listener, &s, now()), 0);
    cr_assert_eq(mtp_sock_send(c, "hi", 2, now()), 2);
    cr_assert_eq(mtp_sock_shutdown_wr(c, now()), 0);
    run_for(5 * MS);
    uint8_t b[4];
    cr_assert_eq(mtp_sock_recv(s, b, sizeof b, now()), 2);
    cr_assert_eq(mtp_sock_recv(s, b, sizeof b, now()), 0, "EOF");
    mtp_sock_close(s, now());
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_recv(c, b, sizeof b, now()), 0, "EOF");
    mtp_sock_close(c, now());
    run_for(5 * MS);
    return lport;
}

Test(quic_sock, a_connection_outlives_its_sockets_until_it_goes_stale)
{
    struct mtp_sim_config c = {.seed = 7, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    uint16_t first = short_exchange();
    cr_assert(conn_exists(first), "kept warm without sockets");
    cr_assert_eq(short_exchange(), first, "the next connect reuses it");
    /* idle for more than half the idle timeout: not reused, and closed */
    run_for(mtpg_quic_lite_param_IDLE_TIMEOUT / 2 + 100 * MS);
    cr_assert(conn_exists(first), "the idle timeout has not passed");
    uint16_t third = short_exchange();
    cr_assert_neq(third, first, "a new connection");
    run_for(10 * MS);
    cr_assert_not(conn_exists(first), "CONNECTION_CLOSE ended the stale one on both sides");
    cr_assert(conn_exists(third));
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}

/* What libmtp_core.c's exit waits for: a socket, released or not, with bytes or a FIN to
 * deliver (FIN-WAIT-1, LAST-ACK, CLOSING). */
static bool delivering(struct mtp_socks *ss)
{
    uint32_t cursor = 0;
    for (struct mtp_sock *sk = mtp_socks_next(ss, NULL, &cursor); sk;
         sk = mtp_socks_next(ss, sk, &cursor)) {
        struct mtp_sock_info in;
        if (!mtp_sock_is_listener(sk) && mtp_sock_info(sk, &in) == 0 &&
            (in.tx_queued || in.tcp_state == 4 || in.tcp_state == 9 || in.tcp_state == 11))
            return true;
    }
    return false;
}

/* A client process exits (its sockets released, mtp_socks_exit, then its stack stops) with a
 * request answered later: the server must not be left writing to a connection nobody will
 * acknowledge (its own exit would linger on those bytes, libmtp_core.c lm_fini). The exiting
 * side closes its connection with CONNECTION_CLOSE, as a kernel closes a dying process's
 * connections; the server's socket then ends with an error at once. */
Test(quic_sock, a_client_that_exits_closes_its_connection)
{
    struct mtp_sim_config c = {.seed = 8, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    struct mtp_sock *cl = connect_to(PORT), *sv = NULL;
    uint16_t cport;
    mtp_sock_local(cl, NULL, &cport);
    run_for(5 * MS);
    cr_assert_eq(mtp_sock_accept(R.listener, &sv, now()), 0);
    cr_assert_eq(mtp_sock_send(cl, "GET", 3, now()), 3);
    run_for(5 * MS);
    uint8_t b[4];
    cr_assert_eq(mtp_sock_recv(sv, b, sizeof b, now()), 3);
    /* the client exits before the answer: close, the layer's exit, its stack runs while a
     * socket has something to deliver (FIN-WAIT-1), as lm_fini does, then never again */
    mtp_sock_close(cl, now());
    mtp_socks_exit(R.ss[0], now());
    cr_expect(delivering(R.ss[0]), "FIN-WAIT-1 until the FIN is acknowledged");
    for (int i = 0; i < 100 && delivering(R.ss[0]); i++)
        run_for(100 * 1000);
    cr_assert_not(delivering(R.ss[0]));
    mtp_sim_run_until(R.w, &R.st[1], 1, NULL, NULL, now() + 5 * MS);   /* the server only */
    cr_assert_not(conn_exists(cport), "closed on both sides");
    /* the server answers a client that is gone: more than the stream's credit */
    static uint8_t big[256 * 1024];
    ssize_t k = mtp_sock_send(sv, big, sizeof big, now());
    cr_assert_lt(k, 0, "the connection is gone: %zd", k);
    cr_assert(mtp_sock_poll(sv) & MTP_SOCK_ERROR);
    struct mtp_sock_info in;
    cr_assert(mtp_sock_info(sv, &in) < 0 || in.tx_queued == 0, "nothing left to deliver");
    mtp_sock_close(sv, now());
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}

/* More sockets at once than the server's stream credit (56 of the 64 slots): the first 56 are
 * streams of one connection, the next ones open a second connection to the same server (the
 * shim asks the program's own question, stream_room), and every one carries its bytes. */
Test(quic_sock, sockets_past_the_stream_credit_open_a_second_connection)
{
    struct mtp_sim_config c = {.seed = 9, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    enum { N = 60 };
    static struct mtp_sock *cl[N], *sv[N];
    uint16_t port[N];
    for (int i = 0; i < N; i++) {
        cl[i] = connect_to(PORT);
        mtp_sock_local(cl[i], NULL, &port[i]);
    }
    const int credit = MTPG_QUIC_LITE_NSTREAMS - MTPG_QUIC_LITE_SERVER_STREAMS;
    for (int i = 1; i < N; i++)
        cr_expect_eq(port[i] == port[0], i < credit, "socket %d: port %u (first %u)", i, port[i],
                     port[0]);
    run_for(10 * MS);
    for (int i = 0; i < N; i++) {
        uint8_t b = (uint8_t)i;
        cr_assert_eq(mtp_sock_send(cl[i], &b, 1, now()), 1, "socket %d", i);
    }
    run_for(10 * MS);
    int got = 0;
    for (struct mtp_sock *s = NULL; mtp_sock_accept(R.listener, &s, now()) == 0; s = NULL) {
        uint8_t b;
        cr_assert_eq(mtp_sock_recv(s, &b, 1, now()), 1);
        cr_assert_lt(b, N);
        cr_assert_null(sv[b], "socket %u twice", b);
        sv[b] = s;
        got++;
    }
    cr_assert_eq(got, N, "every stream accepted");
    for (int i = 0; i < N; i++) {
        mtp_sock_close(cl[i], now());
        mtp_sock_close(sv[i], now());
    }
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}

/* A client connection carries at most 1,024 streams in its life (STREAMS_PER_CONN in
 * shim_quic.c: each stream's data units stay until the connection ends): the next socket
 * opens a new connection and the old one closes, on both sides, once its last socket goes. */
Test(quic_sock, a_connection_retires_after_1024_streams)
{
    struct mtp_sim_config c = {.seed = 10, .delay_ns = 5000};
    up(&c);
    R.listener = listen_on(PORT);
    uint16_t first = short_exchange();
    for (int k = 1; k < 1024; k++)
        cr_assert_eq(short_exchange(), first, "stream %d on the first connection", k);
    uint16_t next = short_exchange();
    cr_assert_neq(next, first, "stream 1024: a new connection");
    run_for(10 * MS);
    cr_assert_not(conn_exists(first), "the first one closed on both sides");
    cr_assert(conn_exists(next));
    mtp_sock_close(R.listener, now());
    run_for(10 * MS);
    down();
}
