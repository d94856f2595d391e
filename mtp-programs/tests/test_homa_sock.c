/*
 * test_homa_sock.c — byte streams over Homa through the socket layer (sock.h, shim_homa.c)
 * on the sim wire, as the TCP socket tests do it: connect/accept, data both ways byte-exact
 * with loss, duplication and reordering, half-close, EOF, a refused connect, TCP_INFO's rtt,
 * keepalive.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "homa.h" /* build/gen: the program's params */
#include "mtp/stack.h"
#include "sim.h"
#include "sock.h"

#define MS 1000000ull
#define S 1000000000ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define PORT 6000

static uint8_t pattern(uint32_t dir, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(dir + 1) * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 56);
}

struct host {
    struct mtp_target *t;
    struct mtp_stack *st;
    struct mtp_socks *ss;
};

static struct {
    struct mtp_sim_wire *w;
    struct host h[2];
    struct mtp_stack *stacks[2];
    struct mtp_sock *listener, *client, *server;
    /* streams: 0 client -> server, 1 server -> client */
    uint64_t total[2], sent[2], got[2];
    uint32_t bad[2];
    bool eof[2], shut[2];
} R;

static uint64_t now(void) { return mtp_sim_now(R.w); }

static void up(const struct mtp_sim_config *cfg)
{
    memset(&R, 0, sizeof R);
    const struct mtp_sock_proto *p = mtp_sock_proto_find("homa");
    cr_assert_not_null(p);
    R.w = mtp_sim_wire_new(NULL, cfg);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(mtp_sim_attach(R.w, i ? IP_B : IP_A, 24, &R.h[i].t), 0);
        struct mtp_stack_config c = {.prog = mtp_sock_proto_program(p), .ops = &mtp_target_sim,
                                     .target = R.h[i].t, .seed = 3 + (uint64_t)i, .pcap_path = i ? NULL : getenv("HS_PCAP")};
        int err = 0;
        R.h[i].st = mtp_stack_new(&c, &err);
        cr_assert_not_null(R.h[i].st);
        R.h[i].ss = mtp_socks_new(R.h[i].st, p, &err);
        cr_assert_not_null(R.h[i].ss);
        R.stacks[i] = R.h[i].st;
    }
}

static void down(void)
{
    for (int i = 0; i < 2; i++) {
        mtp_socks_free(R.h[i].ss);
        mtp_stack_free(R.h[i].st);
    }
    mtp_sim_wire_free(R.w);
}

static void poll_layers(void)
{
    for (int i = 0; i < 2; i++)
        mtp_socks_poll(R.h[i].ss, now());
}

static int connected(void *arg)
{
    (void)arg;
    poll_layers();
    if (!R.server && mtp_sock_accept(R.listener, &R.server, now()) < 0)
        R.server = NULL;
    return R.server && (mtp_sock_poll(R.client) & MTP_SOCK_WRITABLE);
}

static void pair_up(const struct mtp_sim_config *cfg)
{
    up(cfg);
    int err = 0;
    R.listener = mtp_sock_listen(R.h[1].ss, PORT, 8, now(), &err);
    cr_assert_not_null(R.listener);
    R.client = mtp_sock_connect(R.h[0].ss, IP_B, PORT, now(), &err);
    cr_assert_not_null(R.client);
    cr_assert_eq(mtp_sim_run_until(R.w, R.stacks, 2, connected, NULL, now() + 5 * S), 0);
    uint32_t ip;
    uint16_t port, lport;
    mtp_sock_peer(R.server, &ip, &port);
    mtp_sock_local(R.client, NULL, &lport);
    cr_expect_eq(ip, IP_A);
    cr_expect_eq(port, lport);
}

/* Moves stream `dir` on from `from` to `to`: writes what fits, reads what came, checks it. */
static void pump(int dir, struct mtp_sock *from, struct mtp_sock *to)
{
    static uint8_t buf[100000];
    while (R.sent[dir] < R.total[dir]) {
        uint64_t n = R.total[dir] - R.sent[dir];
        if (n > 70000)
            n = 70000;
        for (uint64_t i = 0; i < n; i++)
            buf[i] = pattern((uint32_t)dir, R.sent[dir] + i);
        ssize_t k = mtp_sock_send(from, buf, (size_t)n, now());
        if (k <= 0)
            break;
        R.sent[dir] += (uint64_t)k;
    }
    if (R.sent[dir] == R.total[dir] && !R.shut[dir]) {
        cr_assert_eq(mtp_sock_shutdown_wr(from, now()), 0);
        R.shut[dir] = true;
    }
    ssize_t k;
    while ((k = mtp_sock_recv(to, buf, sizeof buf, now())) > 0) {
        for (ssize_t i = 0; i < k; i++)
            R.bad[dir] += buf[i] != pattern((uint32_t)dir, R.got[dir] + (uint64_t)i);
        R.got[dir] += (uint64_t)k;
    }
    if (k == 0)
        R.eof[dir] = true;
}

static int streams_done(void *arg)
{
    (void)arg;
    poll_layers();
    pump(0, R.client, R.server);
    pump(1, R.server, R.client);
    return R.eof[0] && R.eof[1];
}

static void both_ways(const struct mtp_sim_config *cfg, uint64_t up_bytes, uint64_t down_bytes)
{
    pair_up(cfg);
    R.total[0] = up_bytes;
    R.total[1] = down_bytes;
    int rc = mtp_sim_run_until(R.w, R.stacks, 2, streams_done, NULL, now() + 60 * S);
    cr_assert_eq(rc, 0, "stalled: up %llu/%llu down %llu/%llu",
                 (unsigned long long)R.got[0], (unsigned long long)R.total[0],
                 (unsigned long long)R.got[1], (unsigned long long)R.total[1]);
    cr_expect_eq(R.got[0], up_bytes);
    cr_expect_eq(R.got[1], down_bytes);
    cr_expect_eq(R.bad[0] + R.bad[1], 0u, "every byte in order");
    cr_expect(mtp_sock_poll(R.client) & MTP_SOCK_HUP, "both directions closed");
    cr_expect_eq(mtp_sock_close(R.client, now()), 0);
    cr_expect_eq(mtp_sock_close(R.server, now()), 0);
    cr_expect_eq(mtp_sock_close(R.listener, now()), 0);
    /* the last RPCs finish; nothing is left in the stacks */
    mtp_sim_run_until(R.w, R.stacks, 2, NULL, NULL, now() + 100 * MS);
    poll_layers();
    down();
}

TestSuite(homa_sock, .timeout = 300);

Test(homa_sock, streams_both_ways_byte_exact)
{
    struct mtp_sim_config c = {.seed = 1, .delay_ns = 5000, .rate_bytes_per_sec = 1250000000};
    both_ways(&c, 3000000, 1000000);
}

Test(homa_sock, streams_under_loss_duplication_reordering)
{
    struct mtp_sim_config c = {.seed = 2, .delay_ns = 5000, .jitter_ns = 3000,
                               .rate_bytes_per_sec = 1250000000, .loss_ppm = 10000,
                               .dup_ppm = 10000, .reorder_ppm = 20000};
    both_ways(&c, 2000000, 500000);
}

/* Request/response over one connection: each answer rides as the Homa response to the
 * request it answers, so an exchange costs one RPC. */
static uint64_t frames_sent(void)
{
    return mtp_stack_stats(R.h[0].st)->tx_frames + mtp_stack_stats(R.h[1].st)->tx_frames;
}

struct pingpong { int round, rounds; bool asked; uint32_t size; };

static void ask(struct pingpong *pp, uint8_t *buf)
{
    uint32_t n = pp->size;
    if (!pp->asked && pp->round < pp->rounds) {
        for (uint32_t i = 0; i < n; i++)
            buf[i] = pattern(0, (uint64_t)pp->round * n + i);
        cr_assert_eq(mtp_sock_send(R.client, buf, n, now()), (ssize_t)n);
        pp->asked = true;
    }
}

static int exchanged(void *arg)
{
    struct pingpong *pp = arg;
    static uint8_t buf[4096], got[4096];
    uint32_t n = pp->size;
    poll_layers();
    ask(pp, buf);
    ssize_t k = mtp_sock_recv(R.server, got, n, now());
    if (k > 0) { /* the whole question came in one message: answer it */
        cr_assert_eq(k, (ssize_t)n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert_eq(got[i], pattern(0, (uint64_t)pp->round * n + i), "round %d", pp->round);
        for (uint32_t i = 0; i < n; i++)
            buf[i] = pattern(1, (uint64_t)pp->round * n + i);
        cr_assert_eq(mtp_sock_send(R.server, buf, n, now()), (ssize_t)n);
    }
    k = mtp_sock_recv(R.client, got, n, now());
    if (k > 0) {
        cr_assert_eq(k, (ssize_t)n);
        for (uint32_t i = 0; i < n; i++)
            cr_assert_eq(got[i], pattern(1, (uint64_t)pp->round * n + i), "round %d", pp->round);
        pp->round++;
        pp->asked = false;
        ask(pp, buf); /* at once, as an application would (the sim jumps to the next event) */
    }
    return pp->round == pp->rounds;
}

static void ping_pong(const struct mtp_sim_config *cfg, int rounds, uint64_t *frames)
{
    pair_up(cfg);
    uint64_t before = frames_sent();
    struct pingpong pp = {.rounds = rounds, .size = 300};
    cr_assert_eq(mtp_sim_run_until(R.w, R.stacks, 2, exchanged, &pp, now() + 60 * S), 0,
                 "stalled at round %d", pp.round);
    *frames = frames_sent() - before;
    mtp_sock_close(R.client, now());
    mtp_sock_close(R.server, now());
    mtp_sock_close(R.listener, now());
    mtp_sim_run_until(R.w, R.stacks, 2, NULL, NULL, now() + 100 * MS);
    poll_layers();
    down();
}

Test(homa_sock, answers_ride_on_responses)
{
    struct mtp_sim_config c = {.seed = 6, .delay_ns = 5000, .rate_bytes_per_sec = 1250000000};
    uint64_t frames;
    ping_pong(&c, 200, &frames);
    /* a question and its answer: 2 DATA packets (the client's ack rides on its next DATA);
     * with an empty response for each message it would be 4 */
    cr_expect_leq(frames, 200u * 2 + 20, "%llu frames for 200 exchanges",
                  (unsigned long long)frames);
}

Test(homa_sock, answers_ride_on_responses_under_loss_duplication_reordering)
{
    struct mtp_sim_config c = {.seed = 7, .delay_ns = 5000, .jitter_ns = 3000,
                               .rate_bytes_per_sec = 1250000000, .loss_ppm = 20000,
                               .dup_ppm = 20000, .reorder_ppm = 50000};
    uint64_t frames;
    ping_pong(&c, 300, &frames); /* byte-exact: asserted in every round */
}

Test(homa_sock, half_close_then_the_other_way)
{
    struct mtp_sim_config c = {.seed = 4, .delay_ns = 5000};
    pair_up(&c);
    uint8_t b[64];
    cr_assert_eq(mtp_sock_recv(R.server, b, sizeof b, now()), -EAGAIN);
    cr_assert_eq(mtp_sock_shutdown_wr(R.client, now()), 0);
    cr_assert_eq(mtp_sock_send(R.client, "x", 1, now()), -EPIPE);
    mtp_sim_run_until(R.w, R.stacks, 2, NULL, NULL, now() + 10 * MS);
    poll_layers();
    cr_assert_eq(mtp_sock_recv(R.server, b, sizeof b, now()), 0, "EOF");
    cr_assert(mtp_sock_poll(R.server) & MTP_SOCK_RDHUP);
    cr_assert_eq(mtp_sock_send(R.server, "after", 5, now()), 5, "the other way still works");
    mtp_sim_run_until(R.w, R.stacks, 2, NULL, NULL, now() + 10 * MS);
    poll_layers();
    cr_assert_eq(mtp_sock_recv(R.client, b, sizeof b, now()), 5);
    cr_assert_eq(memcmp(b, "after", 5), 0);
    mtp_sock_close(R.server, now());
    mtp_sock_close(R.client, now());
    mtp_sock_close(R.listener, now());
    down();
}

Test(homa_sock, connect_to_a_closed_port_fails)
{
    struct mtp_sim_config c = {.seed = 5, .delay_ns = 5000};
    up(&c);
    int err = 0;
    struct mtp_sock *s = mtp_sock_connect(R.h[0].ss, IP_B, 9, now(), &err);
    cr_assert_not_null(s);
    cr_assert_eq(mtp_sock_poll(s) & MTP_SOCK_WRITABLE, 0u, "still connecting");
    /* the OPEN times out: TIMEOUT_RESENDS RESENDs, each answered by RPC_UNKNOWN (the client
     * starts its request again) then a silent tick: 2 RESEND_INTERVALs each */
    mtp_sim_run_until(R.w, R.stacks, 2, NULL, NULL,
                      now() + (mtpg_homa_param_TIMEOUT_RESENDS + 2) * 2 * mtpg_homa_param_RESEND_INTERVAL);
    poll_layers();
    cr_assert(mtp_sock_poll(s) & MTP_SOCK_ERROR);
    cr_assert_eq(mtp_sock_error(s), -ECONNREFUSED);
    mtp_sock_close(s, now());
    down();
}

/* Moves the clock on by `ms` in 10 ms steps (the shim's keepalive timer is not the stack's:
 * the driver does not know it), polling host A, and host B too unless it is `silent` (a peer
 * whose process stopped: its frames wait on the wire, nothing answers). */
static void advance(uint64_t ms, bool silent)
{
    for (uint64_t end = now() + ms * MS; now() < end;) {
        mtp_sim_run_until(R.w, R.stacks, silent ? 1 : 2, NULL, NULL, now() + 10 * MS);
        mtp_socks_poll(R.h[0].ss, now());
        if (!silent)
            mtp_socks_poll(R.h[1].ss, now());
    }
}

static void keepalive_on(struct mtp_sock *s, int idle, int intvl, int cnt)
{
    cr_assert_eq(mtp_sock_setopt(s, MTP_SOCKOPT_KEEPALIVE, 1, now()), 0);
    cr_assert_eq(mtp_sock_setopt(s, MTP_SOCKOPT_KEEPIDLE, idle, now()), 0);
    cr_assert_eq(mtp_sock_setopt(s, MTP_SOCKOPT_KEEPINTVL, intvl, now()), 0);
    cr_assert_eq(mtp_sock_setopt(s, MTP_SOCKOPT_KEEPCNT, cnt, now()), 0);
}

static void close_all(void)
{
    mtp_sock_close(R.client, now());
    mtp_sock_close(R.server, now());
    mtp_sock_close(R.listener, now());
    down();
}

Test(homa_sock, tcp_info_rtt_is_the_measured_round_trip)
{
    struct mtp_sim_config c = {.seed = 8, .delay_ns = 20000};
    pair_up(&c);
    struct mtp_sock_info in;
    memset(&in, 0, sizeof in);
    cr_assert_eq(mtp_sock_info(R.client, &in), 0);
    /* the OPEN's round trip: 2 x 20 us on the wire, plus serialisation */
    cr_expect_geq(in.rtt_us, 40, "rtt %llu us", (unsigned long long)in.rtt_us);
    cr_expect_leq(in.rtt_us, 200, "rtt %llu us", (unsigned long long)in.rtt_us);
    cr_expect_eq(in.rttvar_us, in.rtt_us / 2, "first sample: rttvar = rtt / 2");
    /* the server answered nothing of its own: no sample */
    memset(&in, 0, sizeof in);
    cr_assert_eq(mtp_sock_info(R.server, &in), 0);
    cr_expect_eq(in.rtt_us, 0);
    close_all();
}

Test(homa_sock, keepalive_to_a_silent_peer_times_out)
{
    struct mtp_sim_config c = {.seed = 9, .delay_ns = 5000};
    pair_up(&c);
    keepalive_on(R.client, 1, 1, 2);
    uint64_t before = mtp_stack_stats(R.h[0].st)->tx_frames;
    advance(900, true);
    cr_assert_eq(mtp_stack_stats(R.h[0].st)->tx_frames, before, "idle: nothing sent");
    cr_assert_eq(mtp_sock_poll(R.client) & MTP_SOCK_ERROR, 0u);
    advance(2000, true); /* 1 s idle + 2 probes 1 s apart, none answered */
    cr_assert_gt(mtp_stack_stats(R.h[0].st)->tx_frames, before, "probes were sent");
    cr_assert_eq(mtp_sock_poll(R.client) & MTP_SOCK_ERROR, 0u, "not before 3 s");
    advance(200, true);
    cr_assert(mtp_sock_poll(R.client) & MTP_SOCK_ERROR, "given up after 3 s");
    uint8_t b[4];
    cr_assert_eq(mtp_sock_recv(R.client, b, sizeof b, now()), -ETIMEDOUT);
    cr_assert_eq(mtp_sock_recv(R.client, b, sizeof b, now()), 0);
    close_all();
}

Test(homa_sock, keepalive_answered_keeps_the_connection)
{
    struct mtp_sim_config c = {.seed = 10, .delay_ns = 5000, .loss_ppm = 20000};
    pair_up(&c);
    keepalive_on(R.client, 1, 1, 2);
    uint64_t before = mtp_stack_stats(R.h[0].st)->tx_frames;
    advance(10000, false);
    uint64_t sent = mtp_stack_stats(R.h[0].st)->tx_frames - before;
    cr_assert_geq(sent, 9, "a probe every idle second: %llu frames", (unsigned long long)sent);
    cr_assert_eq(mtp_sock_poll(R.client) & MTP_SOCK_ERROR, 0u);
    cr_assert_eq(mtp_sock_send(R.client, "x", 1, now()), 1);
    advance(10, false);
    uint8_t b[4];
    cr_assert_eq(mtp_sock_recv(R.server, b, sizeof b, now()), 1, "the stream still works");
    close_all();
}

Test(homa_sock, keepalive_set_while_connecting_counts_from_the_connection)
{
    struct mtp_sim_config c = {.seed = 11, .delay_ns = 5000};
    up(&c);
    int err = 0;
    R.listener = mtp_sock_listen(R.h[1].ss, PORT, 8, now(), &err);
    R.client = mtp_sock_connect(R.h[0].ss, IP_B, PORT, now(), &err);
    cr_assert_not_null(R.client);
    keepalive_on(R.client, 1, 1, 2); /* before the OPEN is answered (as applications do) */
    cr_assert_eq(mtp_sim_run_until(R.w, R.stacks, 2, connected, NULL, now() + 5 * S), 0);
    advance(2900, true);
    cr_assert_eq(mtp_sock_poll(R.client) & MTP_SOCK_ERROR, 0u, "not before 3 s");
    advance(300, true);
    cr_assert_eq(mtp_sock_error(R.client), -ETIMEDOUT);
    close_all();
}
