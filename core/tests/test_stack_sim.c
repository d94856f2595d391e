/* Stacks over the simulated wire: ICMP echo, every malformed frame counted, a byte-exact
 * transfer through loss, duplication, reordering, delay and corruption, determinism; both
 * hosts' stacks replaced mid-transfer by stacks that import their connection. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mtp/net.h"
#include "mtp/stack.h"
#include "sim.h"
#include "port_pool.h"
#include "sim_prog.h"
#include "arp.h" /* MTP_ARP_QUEUE */

#define MS 1000000ull
#define SEC 1000000000ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u
#define IP_C 0x0a000003u

static const struct mtp_target_ops *ops = &mtp_target_sim;
static const struct mtp_target_ops *stack_ops = &mtp_target_sim; /* what the stacks use */

struct net {
    struct mtp_sim_wire *w;
    struct mtp_target *t[3];
    struct mtp_link_info li[3];
    struct mtp_stack *s[2]; /* stacks on t[0] (A) and t[1] (B); t[2] (C) stays raw */
};

static void net_up(struct net *n, const struct mtp_sim_config *cfg, const char *pcap_a)
{
    memset(n, 0, sizeof *n);
    n->w = mtp_sim_wire_new(NULL, cfg);
    cr_assert_not_null(n->w);
    const uint32_t ips[3] = { IP_A, IP_B, IP_C };
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(mtp_sim_attach(n->w, ips[i], 24, &n->t[i]), 0);
        ops->link_info(n->t[i], &n->li[i]);
    }
    for (int i = 0; i < 2; i++) {
        struct mtp_stack_config c = { .prog = &sp_program, .ops = stack_ops, .target = n->t[i],
                                      .seed = 1000 + (uint64_t)i,
                                      .pcap_path = i == 0 ? pcap_a : NULL };
        int err = 0;
        n->s[i] = mtp_stack_new(&c, &err);
        cr_assert_not_null(n->s[i], "mtp_stack_new: %d", err);
    }
}

static void net_down(struct net *n)
{
    for (int i = 0; i < 2; i++)
        mtp_stack_free(n->s[i]);
    mtp_sim_wire_free(n->w); /* closes the endpoints */
}

static const struct mtp_stats *st(struct net *n, int i) { return mtp_stack_stats(n->s[i]); }

/* Sends raw bytes from endpoint `from` (frames built by the test). */
static void inject(struct net *n, int from, const uint8_t *frame, uint32_t len)
{
    struct mtp_frame f;
    cr_assert_eq(ops->tx_alloc(n->t[from], &f, 1), 1);
    cr_assert(len <= f.cap);
    memcpy(f.data, frame, len);
    f.len = len;
    cr_assert_eq(ops->tx_burst(n->t[from], &f, 1), 1);
}

/* Ethernet + IPv4 header around `l4`; returns the frame length. */
static uint32_t build_ip(uint8_t *buf, const uint8_t dst_mac[6], const uint8_t src_mac[6],
                         uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                         uint32_t l4_len)
{
    struct mtp_eth_repr e = { .ethertype = MTP_ETHERTYPE_IPV4 };
    memcpy(e.dst, dst_mac, 6);
    memcpy(e.src, src_mac, 6);
    mtp_eth_emit(&e, buf);
    struct mtp_ipv4_repr ip = { .src = src, .dst = dst, .proto = proto, .ttl = 64, .id = 7,
                                .payload_len = l4_len };
    mtp_ipv4_emit(&ip, buf + 14, 0);
    memcpy(buf + 34, l4, l4_len);
    return 34 + l4_len;
}

/* ------------------------------------------------------------- ICMP */

struct echo_wait {
    struct net *n;
};

static int echo_done(void *arg)
{
    struct net *n = ((struct echo_wait *)arg)->n;
    return st(n, 1)->icmp_echo_replies == 1 && st(n, 0)->rx_frames == 2;
}

/* Finds the echo reply in A's capture and checks it against the request. */
static int pcap_has_echo_reply(const char *path, uint16_t id, uint16_t seq,
                               const uint8_t *payload, uint32_t plen)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint32_t fh[6];
    cr_assert_eq(fread(fh, sizeof fh, 1, f), 1);
    cr_assert_eq(fh[0], 0xa1b23c4du, "nanosecond pcap magic");
    cr_assert_eq(fh[5], 1u, "link type Ethernet");
    int found = 0, records = 0;
    uint32_t rh[4];
    uint8_t frame[2048];
    while (fread(rh, sizeof rh, 1, f) == 1) {
        cr_assert(rh[2] <= sizeof frame);
        cr_assert_eq(fread(frame, 1, rh[2], f), rh[2]);
        records++;
        struct mtp_eth_repr e;
        struct mtp_ipv4_repr ip;
        struct mtp_icmp_repr ic;
        if (mtp_eth_parse(frame, rh[2], &e) || e.ethertype != MTP_ETHERTYPE_IPV4 ||
            mtp_ipv4_parse(frame + 14, rh[2] - 14, &ip) || ip.proto != MTP_IPPROTO_ICMP ||
            mtp_icmp_parse(frame + 14 + ip.hdr_len, ip.payload_len, &ic))
            continue;
        if (ic.type == MTP_ICMP_ECHO_REPLY && ic.rest == ((uint32_t)id << 16 | seq) &&
            ic.data_len == plen && memcmp(ic.data, payload, plen) == 0 && ip.src == IP_B &&
            ip.dst == IP_A)
            found++;
    }
    fclose(f);
    cr_assert_eq(records, 3, "A received an ARP request and the echo reply, sent an ARP reply "
                             "(the request it injected by hand is not the stack's): %d", records);
    return found;
}

Test(stack_sim, icmp_echo)
{
    char path[] = "/tmp/mtp_net_pcap_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    struct net n;
    struct mtp_sim_config c = { .seed = 5, .delay_ns = 100000 };
    net_up(&n, &c, path);

    uint8_t icmp[8 + 32], frame[128], payload[32];
    for (int i = 0; i < 32; i++)
        payload[i] = (uint8_t)(i * 7);
    struct mtp_icmp_repr req = { .type = MTP_ICMP_ECHO_REQUEST, .rest = 0x4242u << 16 | 9,
                                 .data = payload, .data_len = 32 };
    uint32_t il = mtp_icmp_emit(&req, icmp);
    uint32_t len = build_ip(frame, n.li[1].mac, n.li[0].mac, IP_A, IP_B, MTP_IPPROTO_ICMP,
                            icmp, il);
    inject(&n, 0, frame, len); /* A's endpoint pings B */

    struct echo_wait ew = { &n };
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, echo_done, &ew, 1 * SEC), 0);
    cr_assert_eq(st(&n, 1)->arp_requests, 1, "B resolved A first");
    cr_assert_eq(st(&n, 0)->arp_replies, 1, "A answered it");
    mtp_stack_free(n.s[0]); /* flushes the capture */
    n.s[0] = NULL;
    cr_assert_eq(pcap_has_echo_reply(path, 0x4242, 9, payload, 32), 1);
    unlink(path);
    net_down(&n);
}

/* ----------------------------------------------------- malformed frames */

enum counter { C_MALFORMED, C_BAD_CSUM, C_FRAG, C_NOT_MINE, C_NO_CTX, C_UNREACH };

static uint64_t counter(const struct mtp_stats *s, enum counter c)
{
    switch (c) {
    case C_MALFORMED: return s->drop_malformed;
    case C_BAD_CSUM: return s->drop_bad_csum;
    case C_FRAG: return s->drop_ip_frag;
    case C_NOT_MINE: return s->drop_not_mine;
    case C_NO_CTX: return s->drop_no_ctx;
    case C_UNREACH: return s->icmp_unreach_sent;
    }
    return 0;
}

enum bad { TRUNC_ETH, ETHERTYPE, ARP_SHORT, IP_SHORT, IP_IHL, IP_TOTLEN, IP_CSUM, IP_FRAG,
           IP_DST, L4_SHORT, L4_CSUM, L4_NO_CTX, ICMP_CSUM, ICMP_SHORT, OTHER_PROTO };

static const struct {
    const char *name;
    enum bad kind;
    enum counter c;
} bad_cases[] = {
    { "truncated Ethernet", TRUNC_ETH, C_MALFORMED },
    { "unknown ethertype", ETHERTYPE, C_NOT_MINE },
    { "truncated ARP", ARP_SHORT, C_MALFORMED },
    { "truncated IPv4", IP_SHORT, C_MALFORMED },
    { "bad IHL", IP_IHL, C_MALFORMED },
    { "total length past frame", IP_TOTLEN, C_MALFORMED },
    { "bad header checksum", IP_CSUM, C_BAD_CSUM },
    { "fragment", IP_FRAG, C_FRAG },
    { "not our address", IP_DST, C_NOT_MINE },
    { "L4 shorter than the program's header", L4_SHORT, C_MALFORMED },
    { "bad L4 checksum", L4_CSUM, C_BAD_CSUM },
    { "valid, no context", L4_NO_CTX, C_NO_CTX },
    { "bad ICMP checksum", ICMP_CSUM, C_BAD_CSUM },
    { "truncated ICMP", ICMP_SHORT, C_MALFORMED },
    { "protocol nobody serves", OTHER_PROTO, C_UNREACH },
};

struct rx_wait {
    struct net *n;
    uint64_t want;
};

static int b_received(void *arg)
{
    struct rx_wait *r = arg;
    return st(r->n, 1)->rx_frames >= r->want;
}

static uint32_t build_bad(struct net *n, enum bad kind, uint8_t *f)
{
    const uint8_t *dmac = n->li[1].mac, *smac = n->li[2].mac;
    uint8_t l4[64] = { 0 };
    uint32_t len;
    sp_put16(l4, 1000);
    sp_put16(l4 + 2, 2000);
    l4[12] = SP_DATA;
    switch (kind) {
    case TRUNC_ETH: memcpy(f, dmac, 6); return 10;
    case ETHERTYPE:
        len = build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
        mtp_put16(f + 12, 0x86dd);
        return len;
    case ARP_SHORT:
        len = build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
        mtp_put16(f + 12, MTP_ETHERTYPE_ARP);
        return 14 + 20;
    case IP_SHORT: build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20); return 14 + 12;
    case IP_IHL:
        len = build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
        f[14] = 0x43;
        return len;
    case IP_TOTLEN:
        len = build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
        return len - 1;
    case IP_CSUM:
        len = build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
        f[14 + MTP_IP4_TTL]--;
        return len;
    case IP_FRAG: {
        struct mtp_ipv4_repr ip = { .src = IP_A, .dst = IP_B, .proto = SP_PROTO, .ttl = 9,
                                    .frag = MTP_IP4_MF, .payload_len = 20 };
        len = build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
        mtp_ipv4_emit(&ip, f + 14, 0);
        return len;
    }
    case IP_DST: return build_ip(f, dmac, smac, IP_A, IP_C, SP_PROTO, l4, 20);
    case L4_SHORT: return build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, SP_HDR - 1);
    case L4_CSUM:
    case L4_NO_CTX:
        sp_put16(l4 + SP_CSUM_OFF, mtp_csum_ipv4_l4(IP_A, IP_B, SP_PROTO, l4, 20));
        if (kind == L4_CSUM)
            l4[19] ^= 0x10;
        return build_ip(f, dmac, smac, IP_A, IP_B, SP_PROTO, l4, 20);
    case ICMP_CSUM:
    case ICMP_SHORT: {
        struct mtp_icmp_repr r = { .type = MTP_ICMP_ECHO_REQUEST, .rest = 1 };
        uint32_t il = mtp_icmp_emit(&r, l4);
        if (kind == ICMP_CSUM)
            l4[5] ^= 1;
        return build_ip(f, dmac, smac, IP_A, IP_B, MTP_IPPROTO_ICMP, l4,
                        kind == ICMP_SHORT ? 4 : il);
    }
    case OTHER_PROTO: return build_ip(f, dmac, smac, IP_A, IP_B, 17, l4, 20);
    }
    return 0;
}

Test(stack_sim, malformed_frames_counted)
{
    struct net n;
    struct mtp_sim_config c = { .seed = 6, .delay_ns = 10000 };
    net_up(&n, &c, NULL);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct mtp_stats before = *st(&n, 1);
        uint8_t f[128];
        uint32_t len = build_bad(&n, bad_cases[i].kind, f);
        inject(&n, 2, f, len);
        struct rx_wait rw = { &n, before.rx_frames + 1 };
        cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, b_received, &rw,
                                       mtp_sim_now(n.w) + 1 * SEC), 0, "%s", bad_cases[i].name);
        const struct mtp_stats *after = st(&n, 1);
        cr_expect_eq(counter(after, bad_cases[i].c), counter(&before, bad_cases[i].c) + 1,
                     "%s: counter not incremented", bad_cases[i].name);
        uint64_t drops_before = before.drop_malformed + before.drop_bad_csum +
                                before.drop_ip_frag + before.drop_not_mine + before.drop_no_ctx;
        uint64_t drops_after = after->drop_malformed + after->drop_bad_csum +
                               after->drop_ip_frag + after->drop_not_mine + after->drop_no_ctx;
        cr_expect_eq(drops_after - drops_before, bad_cases[i].c == C_UNREACH ? 0 : 1,
                     "%s: exactly one drop", bad_cases[i].name);
        int unreach = bad_cases[i].c == C_UNREACH || bad_cases[i].kind == L4_NO_CTX;
        cr_expect_eq(after->icmp_unreach_sent - before.icmp_unreach_sent, unreach ? 1u : 0u,
                     "%s: ICMP unreachable only for what nobody receives", bad_cases[i].name);
    }
    net_down(&n);
}

/* ------------------------------------------------- port unreachable */

#define UNREACH_PKTS 30
#define UNREACH_BURST 20 /* the stack's ICMP error bucket */

static int a_received(void *arg)
{
    struct rx_wait *r = arg;
    return st(r->n, 0)->rx_frames >= r->want;
}

static int unreach_done(void *arg)
{
    struct net *n = arg;
    return st(n, 1)->drop_no_ctx == UNREACH_PKTS &&
           st(n, 0)->rx_frames >= 1 + UNREACH_BURST; /* B's ARP request, the errors */
}

/* The ICMP port unreachable messages from B to A in A's capture that quote `ip_pkt`. */
static int pcap_count_port_unreach(const char *path, const uint8_t *ip_pkt, uint32_t quote)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    uint32_t fh[6];
    cr_assert_eq(fread(fh, sizeof fh, 1, f), 1);
    int found = 0;
    uint32_t rh[4];
    uint8_t frame[2048];
    while (fread(rh, sizeof rh, 1, f) == 1) {
        cr_assert(rh[2] <= sizeof frame);
        cr_assert_eq(fread(frame, 1, rh[2], f), rh[2]);
        struct mtp_eth_repr e;
        struct mtp_ipv4_repr ip;
        struct mtp_icmp_repr ic;
        if (mtp_eth_parse(frame, rh[2], &e) || e.ethertype != MTP_ETHERTYPE_IPV4 ||
            mtp_ipv4_parse(frame + 14, rh[2] - 14, &ip) || ip.proto != MTP_IPPROTO_ICMP ||
            mtp_icmp_parse(frame + 14 + ip.hdr_len, ip.payload_len, &ic))
            continue;
        if (ic.type == MTP_ICMP_DEST_UNREACH && ic.code == MTP_ICMP_PORT_UNREACH &&
            ip.src == IP_B && ip.dst == IP_A && ic.data_len == quote &&
            memcmp(ic.data, ip_pkt, quote) == 0)
            found++;
    }
    fclose(f);
    return found;
}

/* A valid packet of the program for a flow B does not have: B has nobody for it and answers
 * with port unreachable (the sim interface is the stack's own), within its ICMP budget. */
Test(stack_sim, port_unreachable_for_a_packet_nobody_receives)
{
    char path[] = "/tmp/mtp_unreach_pcap_XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    struct net n;
    struct mtp_sim_config c = { .seed = 8, .delay_ns = 100000 };
    net_up(&n, &c, path);
    uint8_t l4[SP_HDR + 12] = { 0 }, frame[128];
    sp_put16(l4, 4000);
    sp_put16(l4 + 2, 5000);
    sp_put32(l4 + 4, 77);
    l4[12] = SP_DATA;
    memset(l4 + SP_HDR, 'q', sizeof l4 - SP_HDR);
    sp_put16(l4 + SP_CSUM_OFF, mtp_csum_ipv4_l4(IP_A, IP_B, SP_PROTO, l4, sizeof l4));
    uint32_t len = build_ip(frame, n.li[1].mac, n.li[0].mac, IP_A, IP_B, SP_PROTO, l4,
                            sizeof l4);
    /* one first: B resolves A (what waits for ARP is bounded), then the rest at once */
    inject(&n, 0, frame, len); /* from A's endpoint, as A */
    struct rx_wait first = { &n, 2 };
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, a_received, &first, 1 * SEC), 0);
    for (int k = 1; k < UNREACH_PKTS; k++)
        inject(&n, 0, frame, len);
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, unreach_done, &n, 1 * SEC), 0);
    cr_expect_eq(st(&n, 1)->icmp_unreach_sent, UNREACH_BURST, "rate limited");
    cr_expect_eq(st(&n, 0)->icmp_unreach_sent, 0, "A does not answer an ICMP error");
    /* A parses each error's quote (a packet from A of the program's protocol), counts it, and
     * finds no context for it (and sp_program reads no quotes) */
    cr_expect_eq(st(&n, 0)->icmp_err_unreach, UNREACH_BURST);
    cr_expect_eq(st(&n, 0)->icmp_err_unmatched, UNREACH_BURST);
    cr_expect_eq(st(&n, 0)->icmp_err_delivered, 0);
    cr_expect_eq(st(&n, 0)->icmp_err_malformed, 0);
    mtp_stack_free(n.s[0]); /* flushes the capture */
    n.s[0] = NULL;
    cr_expect_eq(pcap_count_port_unreach(path, frame + 14, 20 + MTP_ICMP_UNREACH_QUOTE),
                 UNREACH_BURST, "the IP header and the first 8 bytes quoted");
    unlink(path);
    net_down(&n);
}

/* ------------------------------------------------------------ transfer */

struct xfer {
    struct net *n;
    struct mtp_key ka, kb;
    const uint8_t *src;
    uint8_t *dst;
    size_t total, sent, got;
};

/* A's application writes while there is room. */
static void xfer_pump_send_only(struct xfer *x)
{
    uint64_t now = mtp_sim_now(x->n->w);
    if (x->sent < x->total) {
        int64_t space = mtp_stack_tx_space(x->n->s[0], 0, &x->ka, 0);
        size_t want = x->total - x->sent < 20000 ? x->total - x->sent : 20000;
        if (space > 0) {
            uint32_t len = (uint32_t)(want < (size_t)space ? want : (size_t)space);
            struct sp_buf b = { .addr = (uint64_t)(uintptr_t)(x->src + x->sent), .len = len };
            cr_assert(mtp_stack_post(x->n->s[0], SP_EV_SEND, &x->ka, &b, sizeof b, now) >= 0);
            x->sent += len;
        }
    }
}

/* The applications: A writes while there is room, B reads what is ready. */
static int xfer_pump(void *arg)
{
    struct xfer *x = arg;
    uint64_t now = mtp_sim_now(x->n->w);
    xfer_pump_send_only(x);
    int64_t ready = mtp_stack_rx_ready(x->n->s[1], 0, &x->kb, 0);
    if (ready > 0) {
        cr_assert((size_t)ready <= x->total - x->got, "more bytes than were sent");
        struct sp_buf b = { .addr = (uint64_t)(uintptr_t)(x->dst + x->got),
                            .len = (uint32_t)ready };
        cr_assert(mtp_stack_post(x->n->s[1], SP_EV_READ, &x->kb, &b, sizeof b, now) >= 0);
        x->got += (size_t)ready;
    }
    return x->got == x->total;
}

struct xfer_result {
    uint64_t trace, end_ns;
    struct mtp_sim_stats wire;
    struct mtp_stats a, b;
};

static void open_flow(struct net *n, int i, uint32_t peer, uint16_t lport, uint16_t rport)
{
    cr_assert_eq(mtp_stack_port_claim(n->s[i], lport), lport);
    struct sp_open o = { .peer_ip = peer, .lport = lport, .rport = rport };
    cr_assert(mtp_stack_post(n->s[i], SP_EV_OPEN, NULL, &o, sizeof o, mtp_sim_now(n->w)) >= 0);
    struct mtp_key k = sp_key(peer, lport, rport);
    cr_assert_not_null(mtp_stack_ctx(n->s[i], 0, &k));
}

static struct xfer_result transfer(const struct mtp_sim_config *cfg, size_t total)
{
    struct net n;
    net_up(&n, cfg, NULL);
    uint8_t *src = malloc(total), *dst = calloc(1, total);
    cr_assert(src && dst);
    uint64_t r = 12345;
    for (size_t i = 0; i < total; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        src[i] = (uint8_t)(r >> 56);
    }
    open_flow(&n, 0, IP_B, 1000, 2000);
    open_flow(&n, 1, IP_A, 2000, 1000);
    struct xfer x = { .n = &n, .ka = sp_key(IP_B, 1000, 2000), .kb = sp_key(IP_A, 2000, 1000),
                      .src = src, .dst = dst, .total = total };
    int rc = mtp_sim_run_until(n.w, n.s, 2, xfer_pump, &x, 120 * SEC);
    cr_assert_eq(rc, 0, "transfer stalled at %zu of %zu bytes (sent %zu)", x.got, total, x.sent);
    cr_assert_eq(memcmp(src, dst, total), 0, "received bytes differ from the sent ones");
    struct xfer_result res = { .trace = mtp_sim_trace_hash(n.w), .end_ns = mtp_sim_now(n.w),
                               .wire = *mtp_sim_stats(n.w), .a = *st(&n, 0), .b = *st(&n, 1) };
    free(src);
    free(dst);
    net_down(&n);
    return res;
}

Test(stack_sim, clean_transfer)
{
    struct mtp_sim_config c = { .seed = 7, .delay_ns = 20000, .rate_bytes_per_sec = 1000000000 };
    struct xfer_result r = transfer(&c, 100000);
    cr_assert_eq(r.wire.lost + r.wire.corrupted + r.wire.duplicated, 0);
    cr_assert_eq(r.b.drop_bad_csum + r.b.drop_malformed, 0);
    cr_assert(r.a.tx_frames >= 100000 / 1484);
}

Test(stack_sim, ipv4_checksum_offload)
{
    /* The stack leaves the header checksum to the "device": were it not filled in, every
     * packet would be dropped as a bad checksum and the transfer would stall. */
    struct mtp_sim_config c = { .seed = 14, .delay_ns = 20000,
                                .offload_caps = MTP_OFFLOAD_IPV4_CSUM };
    struct xfer_result r = transfer(&c, 50000);
    cr_assert_eq(r.a.drop_bad_csum + r.b.drop_bad_csum, 0);
}

static const struct mtp_sim_config faulty = {
    .seed = 8, .loss_ppm = 20000, .dup_ppm = 20000, .reorder_ppm = 20000,
    .corrupt_ppm = 10000, .delay_ns = 50000, .jitter_ns = 20000,
    .rate_bytes_per_sec = 100000000, .queue_limit = 256,
};

Test(stack_sim, faulty_transfer_is_byte_exact_and_deterministic)
{
    struct xfer_result r1 = transfer(&faulty, 300000);
    cr_assert(r1.wire.lost > 0 && r1.wire.duplicated > 0 && r1.wire.reordered > 0,
              "the faults happened: lost %lu dup %lu reordered %lu",
              (unsigned long)r1.wire.lost, (unsigned long)r1.wire.duplicated,
              (unsigned long)r1.wire.reordered);
    /* Corrupted frames were refused by a check, never delivered as data (memcmp above). */
    uint64_t refused = r1.a.drop_bad_csum + r1.b.drop_bad_csum + r1.a.drop_malformed +
                       r1.b.drop_malformed + r1.a.drop_not_mine + r1.b.drop_not_mine;
    cr_assert(r1.wire.corrupted == 0 || refused > 0, "corrupted %lu, refused %lu",
              (unsigned long)r1.wire.corrupted, (unsigned long)refused);

    struct xfer_result r2 = transfer(&faulty, 300000);
    cr_assert_eq(r1.trace, r2.trace, "same seed, same run");
    cr_assert_eq(r1.end_ns, r2.end_ns);
    cr_assert_eq(memcmp(&r1.wire, &r2.wire, sizeof r1.wire), 0);

    struct mtp_sim_config other = faulty;
    other.seed = 9;
    struct xfer_result r3 = transfer(&other, 300000);
    cr_assert_neq(r1.trace, r3.trace, "another seed, another run");
}

/* ------------------------------------------------------------ hand-off */

/* Host i's stack is replaced by a new one (another seed, as another process's would be)
 * that imports its connection: what the old one had received and not delivered, what it
 * had sent and not seen acknowledged, its timer, all go on in the new one. */
static struct mtp_stack *replace_stack(struct net *n, int i, const struct mtp_key *k,
                                       uint16_t lport, uint64_t seed)
{
    void *img;
    size_t len;
    uint64_t now = mtp_sim_now(n->w);
    cr_assert_eq(mtp_stack_ctx_export(n->s[i], 0, k, now, &img, &len), 0);
    cr_assert_eq(mtp_stack_ctx_drop(n->s[i], 0, k), 0);
    mtp_stack_free(n->s[i]);
    struct mtp_stack_config c = { .prog = &sp_program, .ops = stack_ops, .target = n->t[i],
                                  .seed = seed };
    int err = 0;
    n->s[i] = mtp_stack_new(&c, &err);
    cr_assert_not_null(n->s[i], "mtp_stack_new: %d", err);
    cr_assert_eq(mtp_stack_port_claim(n->s[i], lport), lport);
    cr_assert_eq(mtp_stack_ctx_import(n->s[i], img, len, now), 0);
    free(img);
    return n->s[i];
}

struct handoff_xfer {
    struct xfer x;
    size_t stop_at;      /* phase 1: until B has delivered this much */
};

static int until_third(void *arg)
{
    struct handoff_xfer *h = arg;
    xfer_pump(&h->x);
    return h->x.got >= h->stop_at;
}

/* B's application stops reading: bytes pile up in B's stack, unread. */
static int until_unread(void *arg)
{
    struct handoff_xfer *h = arg;
    xfer_pump_send_only(&h->x);
    return mtp_stack_rx_ready(h->x.n->s[1], 0, &h->x.kb, 0) >= 60000;
}

Test(stack_sim, stacks_replaced_mid_transfer_import_their_connections)
{
    struct mtp_sim_config c = faulty;
    c.seed = 21;
    struct net n;
    net_up(&n, &c, NULL);
    size_t total = 400000;
    uint8_t *src = malloc(total), *dst = calloc(1, total);
    cr_assert(src && dst);
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)(i * 31 + i / 977);
    open_flow(&n, 0, IP_B, 1000, 2000);
    open_flow(&n, 1, IP_A, 2000, 1000);
    struct handoff_xfer h = { .x = { .n = &n, .ka = sp_key(IP_B, 1000, 2000),
                                     .kb = sp_key(IP_A, 2000, 1000), .src = src, .dst = dst,
                                     .total = total },
                              .stop_at = total / 3 };
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, until_third, &h, 60 * SEC), 0);
    /* the sender's stack goes, with bytes in flight */
    cr_assert_lt(h.x.got, h.x.sent, "bytes in flight at the hand-off");
    replace_stack(&n, 0, &h.x.ka, 1000, 777);
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, until_unread, &h, 60 * SEC), 0);
    /* the receiver's stack goes, holding bytes its application has not read */
    int64_t unread = mtp_stack_rx_ready(n.s[1], 0, &h.x.kb, 0);
    replace_stack(&n, 1, &h.x.kb, 2000, 778);
    cr_assert_eq(mtp_stack_rx_ready(n.s[1], 0, &h.x.kb, 0), unread, "unread bytes moved");
    int rc = mtp_sim_run_until(n.w, n.s, 2, xfer_pump, &h.x, 120 * SEC);
    cr_assert_eq(rc, 0, "transfer stalled at %zu of %zu bytes", h.x.got, total);
    cr_assert_eq(memcmp(src, dst, total), 0, "received bytes differ from the sent ones");
    cr_expect_eq(st(&n, 0)->handoff_imports, 1);
    cr_expect_eq(st(&n, 1)->handoff_imports, 1);
    cr_expect_gt(mtp_sim_stats(n.w)->lost, 0, "under loss");
    free(src);
    free(dst);
    net_down(&n);
}

Test(stack_sim, ports)
{
    struct net n;
    struct mtp_sim_config c = { .seed = 10 };
    net_up(&n, &c, NULL);
    cr_assert_eq(mtp_stack_port_claim(n.s[0], 80), 80);
    cr_assert_eq(mtp_stack_port_claim(n.s[0], 80), -EADDRINUSE);
    mtp_stack_port_release(n.s[0], 80);
    cr_assert_eq(mtp_stack_port_claim(n.s[0], 80), 80);
    int seen = 0;
    for (int i = 0; i < 100; i++) {
        int p = mtp_stack_port_claim(n.s[0], 0);
        cr_assert(p >= 49152 && p <= 65535, "ephemeral %d", p);
        seen++;
    }
    cr_assert_eq(seen, 100);
    /* Exhaust the range: every ephemeral port once, then none left. */
    int got = 100;
    while (mtp_stack_port_claim(n.s[0], 0) > 0)
        got++;
    cr_assert_eq(got, 16384);
    cr_assert_eq(mtp_stack_port_claim(n.s[0], 0), -EADDRNOTAVAIL);
    mtp_stack_port_release(n.s[0], 50000);
    cr_assert_eq(mtp_stack_port_claim(n.s[0], 0), 50000);
    cr_assert_eq(mtp_stack_ipv4(n.s[0]), IP_A);
    net_down(&n);
}

/* The target's side of ephemeral ports: with parking on (2 ms, as TCP asks), a released one
 * stays claimed (parked, 32 at most) and comes back 2 ms later without a claim at the target; parked ports go back to the target
 * after 2 s unused (at the next poll), and at mtp_stack_free. */
static struct { int claims, releases, held; } tgt_ports;

static int counting_claim(struct mtp_target *t, uint8_t proto, uint16_t port)
{
    (void)t, (void)proto, (void)port;
    tgt_ports.claims++;
    tgt_ports.held++;
    return 0;
}

static void counting_release(struct mtp_target *t, uint8_t proto, uint16_t port)
{
    (void)t, (void)proto, (void)port;
    tgt_ports.releases++;
    tgt_ports.held--;
}

Test(stack_sim, ephemeral_ports_parked)
{
    static struct mtp_target_ops counting_ops;
    counting_ops = mtp_target_sim;
    counting_ops.port_claim = counting_claim;
    counting_ops.port_release = counting_release;
    stack_ops = &counting_ops;
    struct net n;
    struct mtp_sim_config c = { .seed = 14 };
    net_up(&n, &c, NULL);
    struct mtp_stack *s = n.s[0];
    uint64_t now = 1000;
    /* Off by default: a released port goes back to the target at once. */
    int once = mtp_stack_port_claim(s, 0);
    mtp_stack_port_release(s, (uint16_t)once);
    cr_assert_eq(tgt_ports.claims, 1);
    cr_assert_eq(tgt_ports.releases, 1, "no parking unless asked");
    tgt_ports.claims = tgt_ports.releases = 0;
    mtp_stack_park_ports(s, 2000000);
    int first = 0;
    for (int i = 0; i < 3000; i++) { /* 20 connections every 1 ms, each lasting 1 ms */
        int p[20];
        mtp_stack_poll(s, now);
        for (int j = 0; j < 20; j++) {
            p[j] = mtp_stack_port_claim(s, 0);
            cr_assert_gt(p[j], 0);
            if (i == 0 && j == 0)
                first = p[j];
        }
        if (i == 3) /* parked at the end of round 0 (1 ms), taken 2 ms later */
            cr_assert_eq(p[0], first, "the oldest parked port, 2 ms after it was parked");
        now += 1000000;
        mtp_stack_poll(s, now);
        for (int j = 0; j < 20; j++)
            mtp_stack_port_release(s, (uint16_t)p[j]);
    }
    cr_assert_lt(tgt_ports.claims, 3000 * 20 / 2, "most connections took a parked port");
    cr_assert_leq(tgt_ports.held, MTP__PORT_POOL_CAP, "no more than the pool holds");
    /* A port bound by hand while parked is claimed anew (shared, not the exclusive claim). */
    int claims = tgt_ports.claims, releases = tgt_ports.releases;
    int parked = mtp_stack_port_claim(s, 0);
    mtp_stack_port_release(s, (uint16_t)parked);
    cr_assert_eq(mtp_stack_port_claim(s, (uint16_t)parked), parked);
    cr_assert_eq(tgt_ports.releases, releases + 1);
    cr_assert_eq(tgt_ports.claims, claims + 1);
    mtp_stack_port_release(s, (uint16_t)parked); /* not ephemeral now: released at once */
    cr_assert_eq(tgt_ports.releases, releases + 2);
    cr_assert_lt(mtp_stack_next_deadline(s), now + 3 * SEC, "the parked ports' expiry is a deadline");
    mtp_stack_poll(s, now + 3 * SEC);
    cr_assert_eq(tgt_ports.held, 0, "unused for 2 s: all given back");
    int p = mtp_stack_port_claim(s, 0);
    mtp_stack_port_release(s, (uint16_t)p);
    cr_assert_eq(tgt_ports.held, 1);
    net_down(&n);
    cr_assert_eq(tgt_ports.held, 0, "mtp_stack_free gives parked ports back");
    stack_ops = &mtp_target_sim;
}

/* ------------------------------------------------- routing and resolution */

static int never(void *arg)
{
    (void)arg;
    return 0;
}

Test(stack_sim, unresolved_next_hop_retries_then_drops)
{
    struct net n;
    struct mtp_sim_config c = { .seed = 11, .delay_ns = 10000 };
    net_up(&n, &c, NULL);
    const uint32_t nobody = 0x0a00004du;
    open_flow(&n, 0, nobody, 1000, 2000);
    static uint8_t data[3000];
    struct mtp_key k = sp_key(nobody, 1000, 2000);
    struct sp_buf b = { .addr = (uint64_t)(uintptr_t)data, .len = sizeof data };
    cr_assert(mtp_stack_post(n.s[0], SP_EV_SEND, &k, &b, sizeof b, 0) >= 0);
    cr_assert_eq(st(&n, 0)->arp_requests, 1);
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, never, NULL, 2900 * MS), -ETIMEDOUT);
    cr_assert_eq(st(&n, 0)->arp_requests, 3, "one request a second");
    cr_assert(st(&n, 0)->drop_arp_unresolved > 0, "retransmissions overflowed the queue");
    cr_assert_eq(st(&n, 0)->tx_frames, 3, "nothing but ARP left the stack");
    uint64_t before = st(&n, 0)->drop_arp_unresolved;
    cr_assert_eq(mtp_sim_run_until(n.w, n.s, 2, never, NULL, 3000 * MS), -ETIMEDOUT);
    /* (at 3 s a retransmission may also start a new resolution and overflow again) */
    cr_assert_geq(st(&n, 0)->drop_arp_unresolved, before + MTP_ARP_QUEUE,
                  "the queue is dropped and counted after the last retry: %lu -> %lu",
                  (unsigned long)before, (unsigned long)st(&n, 0)->drop_arp_unresolved);
    cr_assert_eq(st(&n, 1)->drop_not_mine, 0);
    net_down(&n);
}

struct not_mine_wait {
    struct net *n;
};

static int b_saw_foreign(void *arg)
{
    return st(((struct not_mine_wait *)arg)->n, 1)->drop_not_mine > 0;
}

Test(stack_sim, off_link_goes_to_the_gateway)
{
    struct net n;
    struct mtp_sim_config c = { .seed = 12, .delay_ns = 10000 };
    net_up(&n, &c, NULL);
    /* A third stack on C whose gateway is B. */
    struct mtp_stack_config gc = { .prog = &sp_program, .ops = ops, .target = n.t[2],
                                   .gateway = IP_B, .seed = 3 };
    struct mtp_stack *g = mtp_stack_new(&gc, NULL);
    cr_assert_not_null(g);
    const uint32_t far = 0xc0a80707u; /* 192.168.7.7 */
    struct sp_open o = { .peer_ip = far, .lport = 5, .rport = 6 };
    cr_assert(mtp_stack_post(g, SP_EV_OPEN, NULL, &o, sizeof o, 0) >= 0);
    static uint8_t data[100];
    struct mtp_key k = sp_key(far, 5, 6);
    struct sp_buf b = { .addr = (uint64_t)(uintptr_t)data, .len = sizeof data };
    cr_assert(mtp_stack_post(g, SP_EV_SEND, &k, &b, sizeof b, 0) >= 0);
    struct mtp_stack *all[3] = { n.s[0], n.s[1], g };
    struct not_mine_wait w = { &n };
    cr_assert_eq(mtp_sim_run_until(n.w, all, 3, b_saw_foreign, &w, 1 * SEC), 0);
    cr_assert_eq(mtp_stack_stats(g)->arp_requests, 1, "resolved the gateway only");
    cr_assert_eq(st(&n, 1)->arp_replies, 1, "the gateway answered");
    cr_assert_eq(st(&n, 0)->arp_replies, 0);
    /* No route at all: a stack without gateway drops off-link packets and counts them. */
    uint64_t before = st(&n, 0)->drop_no_route;
    uint64_t unresolved = st(&n, 0)->drop_arp_unresolved;
    open_flow(&n, 0, far, 7, 8);
    struct mtp_key k2 = sp_key(far, 7, 8);
    cr_assert(mtp_stack_post(n.s[0], SP_EV_SEND, &k2, &b, sizeof b, mtp_sim_now(n.w)) >= 0);
    cr_assert_eq(st(&n, 0)->drop_no_route, before + 1, "counted as 'no route'");
    cr_assert_eq(st(&n, 0)->drop_arp_unresolved, unresolved, "not as an unanswered ARP");
    cr_assert_eq(st(&n, 0)->arp_requests, 0);
    mtp_stack_free(g);
    net_down(&n);
}

/* A target that resolves through a "kernel table" (as XDP does) instead of ARP: each
 * address is unknown (-EAGAIN) on its first lookup, known afterwards. */
static struct {
    uint32_t ip[2];
    uint8_t mac[2][6];
    int asked[2];
    int calls;
} neigh;

static int fake_neigh_lookup(struct mtp_target *t, uint32_t ip, uint8_t mac_out[6])
{
    (void)t;
    neigh.calls++;
    for (int i = 0; i < 2; i++)
        if (neigh.ip[i] == ip) {
            if (!neigh.asked[i]++)
                return -EAGAIN;
            memcpy(mac_out, neigh.mac[i], 6);
            return 0;
        }
    return -EHOSTUNREACH;
}

Test(stack_sim, kernel_neighbour_table)
{
    static struct mtp_target_ops neigh_ops;
    neigh_ops = mtp_target_sim;
    neigh_ops.neigh_lookup = fake_neigh_lookup;
    stack_ops = &neigh_ops;
    struct mtp_sim_config c = { .seed = 13, .delay_ns = 20000 };
    /* The sim's MACs are 02:00:00:00:00:<index + 1> (sim.h); A and B are endpoints 0, 1. */
    const uint8_t mac_a[6] = { 2, 0, 0, 0, 0, 1 }, mac_b[6] = { 2, 0, 0, 0, 0, 2 };
    neigh.ip[0] = IP_A;
    neigh.ip[1] = IP_B;
    memcpy(neigh.mac[0], mac_a, 6);
    memcpy(neigh.mac[1], mac_b, 6);
    /* The transfer itself, on stacks that never send ARP. */
    struct xfer_result r = transfer(&c, 50000);
    cr_assert_eq(r.a.arp_requests + r.b.arp_requests + r.a.arp_replies + r.b.arp_replies, 0);
    cr_assert(neigh.calls >= 2);
}
