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
