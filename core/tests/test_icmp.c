/* ICMP: echo round trip, malformed cases, unreachable quoting, rate limit. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/net.h"

Test(icmp, echo_round_trip)
{
    uint8_t payload[5] = { 1, 2, 3, 4, 5 }, buf[64];
    struct mtp_icmp_repr r = { .type = MTP_ICMP_ECHO_REQUEST, .rest = 0x12340007,
                               .data = payload, .data_len = 5 }, p;
    uint32_t len = mtp_icmp_emit(&r, buf);
    cr_assert_eq(len, 13);
    cr_assert_eq(mtp_csum(buf, len), 0);
    cr_assert_eq(mtp_icmp_parse(buf, len, &p), MTP_NET_OK);
    cr_assert_eq(p.type, MTP_ICMP_ECHO_REQUEST);
    cr_assert_eq(p.rest, 0x12340007);
    cr_assert_eq(p.data_len, 5);
    cr_assert_eq(memcmp(p.data, payload, 5), 0);
    /* An echo reply built in place from the request. */
    p.type = MTP_ICMP_ECHO_REPLY;
    cr_assert_eq(mtp_icmp_emit(&p, buf), len);
    cr_assert_eq(buf[0], MTP_ICMP_ECHO_REPLY);
    cr_assert_eq(mtp_csum(buf, len), 0);
    cr_assert_eq(memcmp(buf + 8, payload, 5), 0);
}

Test(icmp, malformed)
{
    uint8_t buf[16] = { 8, 0, 0, 0, 0, 1, 0, 1 };
    mtp_put16(buf + 2, mtp_csum(buf, 16));
    struct mtp_icmp_repr p;
    for (uint32_t l = 0; l < 8; l++)
        cr_assert_eq(mtp_icmp_parse(buf, l, &p), MTP_NET_MALFORMED);
    cr_assert_eq(mtp_icmp_parse(buf, 16, &p), MTP_NET_OK);
    buf[12] ^= 0x40;
    cr_assert_eq(mtp_icmp_parse(buf, 16, &p), MTP_NET_BAD_CSUM);
}

Test(icmp, unreachable_quotes_header_and_8_bytes)
{
    uint8_t ip[64], out[128];
    struct mtp_ipv4_repr r = { .src = 1, .dst = 2, .proto = 99, .ttl = 9, .payload_len = 30 };
    mtp_ipv4_emit(&r, ip, 0);
    struct mtp_ipv4_repr p;
    cr_assert_eq(mtp_ipv4_parse(ip, 50, &p), MTP_NET_OK);
    struct mtp_icmp_repr u;
    mtp_icmp_unreach_repr(&u, MTP_ICMP_PROTO_UNREACH, ip, &p);
    uint32_t len = mtp_icmp_emit(&u, out);
    cr_assert_eq(len, 8 + 20 + 8);
    cr_assert_eq(out[0], MTP_ICMP_DEST_UNREACH);
    cr_assert_eq(out[1], MTP_ICMP_PROTO_UNREACH);
    cr_assert_eq(memcmp(out + 8, ip, 28), 0);
    /* A packet with a shorter payload is quoted whole. */
    p.payload_len = 3;
    mtp_icmp_unreach_repr(&u, MTP_ICMP_PORT_UNREACH, ip, &p);
    cr_assert_eq(u.data_len, 23);
}

Test(icmp, rate_limit)
{
    struct mtp_ratelimit rl;
    mtp_ratelimit_init(&rl, 10, 3); /* 10/s, burst 3 */
    uint64_t t = 5000000000ull;
    int ok = 0;
    for (int i = 0; i < 10; i++)
        ok += mtp_ratelimit_take(&rl, t);
    cr_assert_eq(ok, 3);
    cr_assert_eq(mtp_ratelimit_take(&rl, t + 99999999), 0);  /* < 100 ms: nothing new */
    cr_assert_eq(mtp_ratelimit_take(&rl, t + 100000000), 1); /* one token per 100 ms */
    cr_assert_eq(mtp_ratelimit_take(&rl, t + 150000000), 0);
    cr_assert_eq(mtp_ratelimit_take(&rl, t + 200000000), 1);
    ok = 0;
    for (int i = 0; i < 10; i++)
        ok += mtp_ratelimit_take(&rl, t + 10000000000ull); /* long idle: burst, not more */
    cr_assert_eq(ok, 3);
}

/* The quote of an error: the original header's fields, l4 bytes limited by the quote and by
 * the original length, next-hop MTU for fragmentation needed; table of what is refused. */
Test(icmp, quote_parse)
{
    uint8_t orig[20 + 100];
    memset(orig, 0xab, sizeof orig);
    struct mtp_ipv4_repr ip = { .src = 0x0a000001, .dst = 0x0a000002, .proto = 17, .ttl = 3,
                                .tos = 0x10, .id = 99, .payload_len = 100 };
    mtp_ipv4_emit(&ip, orig, 0);
    struct mtp_icmp_repr r = { .type = MTP_ICMP_DEST_UNREACH, .code = MTP_ICMP_FRAG_NEEDED,
                               .rest = 1400, .data = orig, .data_len = 28 };
    struct mtp_icmp_quote q;
    cr_assert_eq(mtp_icmp_quote_parse(&r, &q), MTP_NET_OK);
    cr_expect_eq(q.ip.src, 0x0a000001u);
    cr_expect_eq(q.ip.dst, 0x0a000002u);
    cr_expect_eq(q.ip.proto, 17);
    cr_expect_eq(q.ip.tos, 0x10);
    cr_expect_eq(q.ip.id, 99);
    cr_expect_eq(q.ip.hdr_len, 20);
    cr_expect_eq(q.ip.payload_len, 100u);
    cr_expect_eq(q.l4, orig + 20);
    cr_expect_eq(q.l4_len, 8u, "only 8 bytes quoted");
    cr_expect_eq(q.mtu, 1400);
    r.data_len = sizeof orig + 0; /* a router quoting the whole packet */
    r.type = MTP_ICMP_TIME_EXCEEDED;
    r.code = 0;
    cr_assert_eq(mtp_icmp_quote_parse(&r, &q), MTP_NET_OK);
    cr_expect_eq(q.l4_len, 100u);
    cr_expect_eq(q.mtu, 0);
    static const struct {
        const char *what;
        uint8_t type;
        uint32_t data_len;
        int byte, value;
    } bad[] = {
        { "echo reply is no error", MTP_ICMP_ECHO_REPLY, 28, -1, 0 },
        { "fewer than 8 payload bytes", MTP_ICMP_DEST_UNREACH, 27, -1, 0 },
        { "IPv6 version", MTP_ICMP_DEST_UNREACH, 28, 0, 0x65 },
        { "IHL below 5", MTP_ICMP_DEST_UNREACH, 28, 0, 0x44 },
        { "IHL 6 leaves 4 payload bytes", MTP_ICMP_DEST_UNREACH, 28, 0, 0x46 },
        { "total length below header + 8", MTP_ICMP_DEST_UNREACH, 28, 3, 24 },
        { "a non-first fragment", MTP_ICMP_DEST_UNREACH, 28, 7, 0x10 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t copy[sizeof orig];
        memcpy(copy, orig, sizeof copy);
        if (bad[i].byte >= 0)
            copy[bad[i].byte] = (uint8_t)bad[i].value;
        struct mtp_icmp_repr b = { .type = bad[i].type, .data = copy, .data_len = bad[i].data_len };
        cr_expect_eq(mtp_icmp_quote_parse(&b, &q), MTP_NET_MALFORMED, "%s", bad[i].what);
    }
}
