/*
 * End to end through the engine with compiled code: the C that mtpc generates from
 * gen/tests/ok/echo.mtp, two engines exchanging what mtp_engine_tx_next produces through
 * mtp_engine_rx (no Ethernet, no IPv4 layer). Built by core/engine_e2e.mk.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "echo.h"
#include "mtp/engine.h"
#include "mtp/errors.h"

#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define SEC 1000000000ull

static const struct mtp_program *P = &mtpg_echo_program;
static struct mtp_engine *ea, *eb;

struct notes {
    struct mtp_note v[256];
    int n;
};
static struct notes na, nb;

static void note_cb(void *user, const struct mtp_note *n)
{
    struct notes *r = user;
    if (r->n < 256)
        r->v[r->n++] = *n;
}

static int count_notes(const struct notes *r, uint32_t code, uint64_t value)
{
    int k = 0;
    for (int i = 0; i < r->n; i++)
        k += r->v[i].code == code && (value == UINT64_MAX || r->v[i].value == value);
    return k;
}

static struct mtp_engine *mk(uint32_t ip, struct notes *n)
{
    struct mtp_engine_config cfg = { .local_ip = ip, .mtu = 1500, .seed = ip };
    int err;
    struct mtp_engine *e = mtp_engine_new(P, &cfg, &err);
    cr_assert_not_null(e, "%s", mtp_strerror(err));
    memset(n, 0, sizeof *n);
    mtp_engine_set_notify(e, note_cb, n);
    return e;
}

static void setup(void)
{
    ea = mk(IP_A, &na);
    eb = mk(IP_B, &nb);
}

static void teardown(void)
{
    mtp_engine_free(ea);
    mtp_engine_free(eb);
}

TestSuite(echo_e2e, .init = setup, .fini = teardown);

static void bind_port(struct mtp_engine *e, uint16_t port, uint64_t now)
{
    struct mtpg_echo_echo_bind ev = { .port = port };
    struct mtpg_echo_port_id id = { port };
    struct mtp_key k;
    mtpg_echo_key_port_id(&k, &id);
    cr_assert_geq(mtp_engine_post(e, MTPG_ECHO_EV_ECHO_BIND, &k, &ev, sizeof ev, now), 0);
}

static struct mtpg_echo_port_ctx *port_ctx(struct mtp_engine *e, uint16_t port)
{
    struct mtpg_echo_port_id id = { port };
    struct mtp_key k;
    mtpg_echo_key_port_id(&k, &id);
    return mtp_engine_ctx(e, MTPG_ECHO_CTX_PORT_CTX, &k);
}

static struct mtpg_echo_stats *stats_ctx(struct mtp_engine *e)
{
    struct mtp_key k = { { 0 } };
    return mtp_engine_ctx(e, MTPG_ECHO_CTX_STATS, &k);
}

/* One transport packet as it travels between the engines. */
struct pkt {
    uint8_t b[2048];
    uint32_t len;
    struct mtp_tx_meta m;
};

/* Serialises a request with the program's own blueprint writer (as a peer would send it). */
static struct pkt request(uint16_t sport, uint16_t dport, uint32_t seq, const uint8_t *pay,
                          uint32_t len)
{
    struct pkt p;
    memset(&p, 0, sizeof p);
    struct mtpg_echo_echo_bp h;
    memset(&h, 0, sizeof h);
    h.src_port = sport;
    h.dst_port = dport;
    h.seq = seq;
    h.version = 1;
    h.flags = MTPG_ECHO_F_REQUEST;
    uint32_t hl = P->bps[MTPG_ECHO_BP_ECHO_BP].hdr_len(&h);
    P->bps[MTPG_ECHO_BP_ECHO_BP].write_hdr(&h, p.b, len);
    memcpy(p.b + hl, pay, len);
    p.len = hl + len;
    p.m.src_ip = IP_A;
    p.m.dst_ip = IP_B;
    p.m.ip_proto = 253;
    return p;
}

static int deliver(struct mtp_engine *to, const struct pkt *p, uint64_t now)
{
    struct mtp_rx_pkt rp = {
        .l4 = p->b,
        .l4_len = p->len,
        .ip = { .src = p->m.src_ip, .dst = p->m.dst_ip, .total_len = (uint16_t)(20 + p->len),
                .hdr_len = 20, .ttl = 64, .proto = p->m.ip_proto },
    };
    return mtp_engine_rx(to, &rp, now);
}

static int drain(struct mtp_engine *e, struct pkt *out, int max, uint64_t now)
{
    int n = 0;
    for (;;) {
        cr_assert_lt(n, max);
        int len = mtp_engine_tx_next(e, out[n].b, sizeof out[n].b, &out[n].m, now);
        cr_assert_geq(len, 0, "%s", mtp_strerror(len));
        if (len == 0)
            return n;
        out[n].len = (uint32_t)len;
        n++;
    }
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

Test(echo_e2e, bind_creates_the_listener_once)
{
    bind_port(eb, 7, 0);
    cr_expect_eq(count_notes(&nb, MTP_NOTE_CTX_NEW, UINT64_MAX), 1);
    cr_expect_eq(count_notes(&nb, MTPG_ECHO_NOTE_BOUND, 7), 1);
    cr_assert_not_null(port_ctx(eb, 7));
    cr_expect_eq(port_ctx(eb, 7)->port, 7);
    bind_port(eb, 7, 0); /* rebind: the main chain, no second instance */
    cr_expect_eq(count_notes(&nb, MTP_NOTE_CTX_NEW, UINT64_MAX), 1);
    cr_expect_eq(count_notes(&nb, MTPG_ECHO_NOTE_BOUND, 7), 2);
    cr_expect_eq(mtp_engine_next_deadline(eb), 2 * SEC, "the idle timer of the new instance");
}

Test(echo_e2e, request_is_echoed_segmented_and_accepted_by_the_peer)
{
    bind_port(eb, 7, 0);
    uint8_t pay[1400];
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (uint8_t)(i * 5 + 1);
    struct pkt req = request(9, 7, 100, pay, sizeof pay);
    cr_assert_eq(deliver(eb, &req, 10), 1);
    cr_expect_eq(count_notes(&nb, MTP_NOTE_RX_READY, 1400), 1);
    cr_expect_eq(count_notes(&nb, MTP_NOTE_RX_FLUSHED, 1400), 1);
    cr_expect_eq(count_notes(&nb, MTP_NOTE_TX_FLUSHED, 1400), 1);
    struct pkt *out = calloc(8, sizeof *out);
    int n = drain(eb, out, 8, 10);
    cr_assert_eq(n, 2, "MSS 1000: 1000 + 400");
    static const uint32_t plen[] = { 1000, 400 };
    static const uint8_t flags[] = { MTPG_ECHO_F_REPLY | MTPG_ECHO_F_MORE, MTPG_ECHO_F_REPLY };
    uint32_t at = 0;
    for (int k = 0; k < n; k++) {
        const uint8_t *h = out[k].b;
        cr_expect_eq(get16(h), 7, "src port");
        cr_expect_eq(get16(h + 2), 9, "dst port");
        cr_expect_eq(get32(h + 4), 100 + (uint32_t)k, "seq rule: prev.seq + 1");
        cr_expect_eq(get16(h + 8), out[k].len, "len = hdr_len + payload_len");
        cr_expect_eq(h[10] >> 4, 1, "version");
        cr_expect_eq(h[10] & 15, flags[k], "flags rule");
        cr_expect_eq(out[k].len - 14, plen[k]);
        cr_expect_eq(memcmp(h + 14, pay + at, plen[k]), 0, "payload bytes of packet %d", k);
        cr_expect_eq(out[k].m.dst_ip, IP_A);
        cr_expect_eq(out[k].m.src_ip, IP_B);
        cr_expect_eq(out[k].m.ip_proto, 253);
        cr_expect_eq(out[k].m.csum_off, 12);
        at += plen[k];
        /* the peer parses the reply, finds it is not a request and produces no event */
        cr_expect_eq(deliver(ea, &out[k], 20), 0);
    }
    cr_expect_eq(mtp_engine_stats(ea)->drop_malformed, 0);
    cr_expect_eq(mtp_engine_stats(ea)->events, 0);
    cr_expect_eq(stats_ctx(eb)->packets, 1);
    cr_expect_eq(stats_ctx(eb)->bytes, 1400);
    cr_expect_eq(port_ctx(eb, 7)->rx_off, 1400);
    cr_expect_eq(port_ctx(eb, 7)->tx_off, 1400);
    free(out);
}

/* A message bounces between the two engines: each reply is turned into a request for the
 * other side (only the flags nibble changes), ten round trips, bytes intact. */
Test(echo_e2e, message_bounces_between_two_engines)
{
    bind_port(ea, 9, 0);
    bind_port(eb, 7, 0);
    uint8_t pay[700];
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (uint8_t)(i ^ 0x5a);
    struct pkt p = request(9, 7, 1, pay, sizeof pay);
    struct mtp_engine *to = eb, *other = ea;
    for (int hop = 0; hop < 20; hop++) {
        cr_assert_eq(deliver(to, &p, (uint64_t)hop), 1, "hop %d", hop);
        struct pkt out[2];
        cr_assert_eq(drain(to, out, 2, (uint64_t)hop), 1);
        p = out[0];
        p.b[10] = (uint8_t)((p.b[10] & 0xf0) | MTPG_ECHO_F_REQUEST);
        struct mtp_engine *t = to;
        to = other;
        other = t;
    }
    cr_expect_eq(memcmp(p.b + 14, pay, sizeof pay), 0);
    cr_expect_eq(stats_ctx(ea)->packets, 10);
    cr_expect_eq(stats_ctx(eb)->packets, 10);
    cr_expect_eq(port_ctx(ea, 9)->rx_off, 7000);
}

Test(echo_e2e, request_to_an_unbound_port_runs_the_else_chain)
{
    uint8_t pay[10] = { 0 };
    struct pkt req = request(9, 8, 1, pay, sizeof pay);
    cr_expect_eq(deliver(eb, &req, 0), 1);
    cr_expect_eq(stats_ctx(eb)->refused, 1);
    cr_expect_eq(mtp_engine_tx_pending(eb), 0);
}

Test(echo_e2e, malformed_requests_are_dropped)
{
    bind_port(eb, 7, 0);
    uint8_t pay[10] = { 0 };
    struct pkt req = request(9, 7, 1, pay, sizeof pay);
    req.b[10] = (uint8_t)(2 << 4 | MTPG_ECHO_F_REQUEST); /* version 2 */
    cr_expect_eq(deliver(eb, &req, 0), MTP_EBADMSG);
    req = request(9, 7, 1, pay, sizeof pay);
    req.len -= 1; /* len field no longer matches the IP length */
    cr_expect_eq(deliver(eb, &req, 0), MTP_EBADMSG);
    req.len = 5; /* shorter than the header */
    cr_expect_eq(deliver(eb, &req, 0), MTP_EBADMSG);
    cr_expect_eq(mtp_engine_stats(eb)->drop_malformed, 3);
}

Test(echo_e2e, duplicate_replies_are_coalesced)
{
    bind_port(eb, 7, 0);
    uint8_t pay[100];
    memset(pay, 'a', sizeof pay);
    struct pkt req = request(9, 7, 55, pay, sizeof pay);
    deliver(eb, &req, 0);
    memset(pay, 'b', sizeof pay);
    req = request(9, 7, 55, pay, sizeof pay); /* a retransmitted request */
    deliver(eb, &req, 0);
    cr_expect_eq(mtp_engine_tx_pending(eb), 1);
    cr_expect_eq(mtp_engine_stats(eb)->blueprints_coalesced, 1);
    struct pkt out[2];
    cr_assert_eq(drain(eb, out, 2, 0), 1);
    cr_expect_eq(out[0].b[14], 'b', "the newer reply is the one sent");
}

Test(echo_e2e, idle_timer_reports_a_quiet_port)
{
    bind_port(eb, 7, 0);
    uint8_t pay[4] = { 1, 2, 3, 4 };
    struct pkt req = request(9, 7, 1, pay, sizeof pay);
    deliver(eb, &req, SEC);
    /* echo's note codes (1..3) share numbers with the runtime's rx/tx notes: look only at
     * what the timer chains notify */
    nb.n = 0;
    cr_expect_eq(mtp_engine_timers(eb, 2 * SEC - 1), 0);
    cr_expect_eq(mtp_engine_timers(eb, 2 * SEC), 1);
    cr_expect_eq(count_notes(&nb, MTPG_ECHO_NOTE_IDLE, UINT64_MAX), 0, "traffic in that period");
    cr_expect_eq(mtp_engine_next_deadline(eb), 4 * SEC);
    cr_expect_eq(mtp_engine_timers(eb, 4 * SEC), 1);
    cr_expect_eq(count_notes(&nb, MTPG_ECHO_NOTE_IDLE, 7), 1);
}
