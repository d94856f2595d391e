/* IPv4: parse/emit round trip, every malformed case, next hop. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/net.h"

static uint32_t make_pkt(uint8_t *buf, uint32_t payload)
{
    struct mtp_ipv4_repr r = { .src = 0x0a000001, .dst = 0x0a000002, .proto = 200, .tos = 0xb8,
                               .ttl = 64, .id = 0x1234, .frag = MTP_IP4_DF,
                               .payload_len = payload };
    mtp_ipv4_emit(&r, buf, 0);
    for (uint32_t i = 0; i < payload; i++)
        buf[20 + i] = (uint8_t)i;
    return 20 + payload;
}

static void refill_csum(uint8_t *buf)
{
    uint32_t hl = (buf[0] & 0xfu) * 4u;
    mtp_put16(buf + MTP_IP4_CSUM, 0);
    mtp_put16(buf + MTP_IP4_CSUM, mtp_csum(buf, hl));
}

Test(ipv4, round_trip)
{
    uint8_t buf[64];
    uint32_t len = make_pkt(buf, 10);
    struct mtp_ipv4_repr p;
    cr_assert_eq(mtp_ipv4_parse(buf, len, &p), MTP_NET_OK);
    cr_assert_eq(p.src, 0x0a000001);
    cr_assert_eq(p.dst, 0x0a000002);
    cr_assert_eq(p.proto, 200);
    cr_assert_eq(p.tos, 0xb8);
    cr_assert_eq(p.ttl, 64);
    cr_assert_eq(p.id, 0x1234);
    cr_assert_eq(p.hdr_len, 20);
    cr_assert_eq(p.payload_len, 10);
    cr_assert_eq(p.frag, MTP_IP4_DF);
}

Test(ipv4, offload_leaves_csum_zero)
{
    uint8_t buf[20];
    struct mtp_ipv4_repr r = { .src = 1, .dst = 2, .ttl = 1 };
    mtp_ipv4_emit(&r, buf, 1);
    cr_assert_eq(mtp_get16(buf + MTP_IP4_CSUM), 0);
}

enum mut { NONE, TRUNC_19, VER6, IHL4, IHL6_SHORT, TOTLEN_BIG, TOTLEN_SMALL, BAD_CSUM, MF, OFFSET,
           PADDED, OPTIONS };
static const struct {
    const char *name;
    enum mut m;
    int want;
    uint32_t payload_len;
} cases[] = {
    { "valid", NONE, MTP_NET_OK, 10 },
    { "truncated header", TRUNC_19, MTP_NET_MALFORMED, 0 },
    { "version 6", VER6, MTP_NET_MALFORMED, 0 },
    { "IHL 4", IHL4, MTP_NET_MALFORMED, 0 },
    { "IHL past frame", IHL6_SHORT, MTP_NET_MALFORMED, 0 },
    { "total length past frame", TOTLEN_BIG, MTP_NET_MALFORMED, 0 },
    { "total length below header", TOTLEN_SMALL, MTP_NET_MALFORMED, 0 },
    { "bad checksum", BAD_CSUM, MTP_NET_BAD_CSUM, 0 },
    { "more fragments", MF, MTP_NET_FRAGMENT, 0 },
    { "fragment offset", OFFSET, MTP_NET_FRAGMENT, 0 },
    { "link padding", PADDED, MTP_NET_OK, 10 },
    { "options", OPTIONS, MTP_NET_OK, 6 },
};

Test(ipv4, malformed_table)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t buf[64] = { 0 };
        uint32_t len = make_pkt(buf, 10);
        switch (cases[i].m) {
        case NONE: break;
        case TRUNC_19: len = 19; break;
        case VER6: buf[0] = 0x65; refill_csum(buf); break;
        case IHL4: buf[0] = 0x44; break;
        case IHL6_SHORT: buf[0] = 0x46; len = 20; mtp_put16(buf + 2, 20); break;
        case TOTLEN_BIG: mtp_put16(buf + 2, (uint16_t)(len + 1)); refill_csum(buf); break;
        case TOTLEN_SMALL: mtp_put16(buf + 2, 19); refill_csum(buf); break;
        case BAD_CSUM: buf[MTP_IP4_TTL] ^= 1; break;
        case MF: mtp_put16(buf + 6, MTP_IP4_MF); refill_csum(buf); break;
        case OFFSET: mtp_put16(buf + 6, 3); refill_csum(buf); break;
        case PADDED: len += 18; break;
        case OPTIONS: buf[0] = 0x46; refill_csum(buf); break; /* 4 option bytes from payload */
        }
        struct mtp_ipv4_repr p;
        int got = mtp_ipv4_parse(buf, len, &p);
        cr_expect_eq(got, cases[i].want, "%s: got %d want %d", cases[i].name, got,
                     cases[i].want);
        if (got == MTP_NET_OK)
            cr_expect_eq(p.payload_len, cases[i].payload_len, "%s: payload", cases[i].name);
    }
}

Test(ipv4, every_truncation_is_refused)
{
    uint8_t buf[64];
    uint32_t len = make_pkt(buf, 10);
    struct mtp_ipv4_repr p;
    for (uint32_t l = 0; l < len; l++)
        cr_assert_eq(mtp_ipv4_parse(buf, l, &p), MTP_NET_MALFORMED, "len %u", l);
}

Test(ipv4, next_hop)
{
    const uint32_t own = 0x0a000105, gw = 0x0a000101; /* 10.0.1.5/24 via 10.0.1.1 */
    struct { uint32_t prefix, gw, dst, want; } t[] = {
        { 24, gw, 0x0a000109, 0x0a000109 },  /* on link */
        { 24, gw, 0x0a000209, gw },          /* off link */
        { 24, 0, 0x0a000209, 0 },            /* no route */
        { 16, gw, 0x0a000209, 0x0a000209 },  /* wider prefix */
        { 32, gw, 0x0a000106, gw },
        { 0, gw, 0x08080808, 0x08080808 },   /* everything on link */
        { 24, gw, 0xffffffff, 0xffffffff },  /* limited broadcast */
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        cr_expect_eq(mtp_ipv4_next_hop(own, t[i].prefix, t[i].gw, t[i].dst), t[i].want,
                     "case %zu", i);
}
