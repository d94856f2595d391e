/* Internet checksum: RFC 1071 vectors, odd lengths, chunked accumulation, RFC 1624 updates. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "mtp/net.h"

/* The textbook definition, 16 bits at a time, as the reference. */
static uint16_t csum_ref(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

struct vec {
    const char *name;
    uint8_t bytes[24];
    size_t len;
    uint16_t csum;
};

static const struct vec vecs[] = {
    /* RFC 1071 §3: the sum of these bytes is 0xddf2. */
    { "rfc1071", { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 }, 8, (uint16_t)~0xddf2 },
    { "empty", { 0 }, 0, 0xffff },
    { "one byte", { 0xab }, 1, (uint16_t)~0xab00 },
    { "three bytes", { 0x01, 0x02, 0x03 }, 3, (uint16_t)~0x0402 },
    /* An IPv4 header (checksum field zero) whose checksum is 0xb861. */
    { "ipv4 header",
      { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
        0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 },
      20, 0xb861 },
    { "carry wraps", { 0xff, 0xff, 0xff, 0xff, 0x00, 0x01 }, 6, (uint16_t)~0x0001 },
};

Test(csum, vectors)
{
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) {
        const struct vec *v = &vecs[i];
        cr_expect_eq(mtp_csum(v->bytes, v->len), v->csum, "%s: got %04x want %04x", v->name,
                     mtp_csum(v->bytes, v->len), v->csum);
        cr_expect_eq(csum_ref(v->bytes, v->len), v->csum, "%s: reference", v->name);
    }
}

Test(csum, all_lengths_match_reference)
{
    uint8_t buf[301];
    srand(7);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand();
    for (size_t len = 0; len <= sizeof buf; len++)
        cr_assert_eq(mtp_csum(buf, len), csum_ref(buf, len), "len %zu", len);
    /* Misaligned starts too. */
    for (size_t off = 1; off < 8; off++)
        cr_assert_eq(mtp_csum(buf + off, 100 + off), csum_ref(buf + off, 100 + off));
}

Test(csum, long_buffers_match_reference)
{
    /* a jumbo frame and a 64 KiB super-segment, random and all ones (the largest sums) */
    static uint8_t buf[65536 + 8];
    srand(11);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)rand();
    size_t lens[] = {1448, 1449, 9000, 9001, 65535, 65536};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        for (size_t off = 0; off < 8; off += 3)
            cr_assert_eq(mtp_csum(buf + off, lens[i]), csum_ref(buf + off, lens[i]),
                         "len %zu off %zu", lens[i], off);
    memset(buf, 0xff, sizeof buf);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        cr_assert_eq(mtp_csum(buf, lens[i]), csum_ref(buf, lens[i]), "ones, len %zu", lens[i]);
}

Test(csum, chunked_equals_whole)
{
    uint8_t buf[200];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 37 + 11);
    for (size_t cut = 0; cut < sizeof buf; cut += 2) {
        uint64_t acc = mtp_csum_add(0, buf, cut);
        acc = mtp_csum_add(acc, buf + cut, sizeof buf - cut - 1); /* odd last chunk */
        cr_assert_eq(mtp_csum_finish(acc), csum_ref(buf, sizeof buf - 1), "cut %zu", cut);
    }
}

Test(csum, verifying_a_filled_buffer_gives_zero)
{
    uint8_t h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                      0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    mtp_put16(h + 10, mtp_csum(h, 20));
    cr_assert_eq(mtp_csum(h, 20), 0);
}

Test(csum, pseudo_header_l4)
{
    /* Checksum over pseudo header + segment equals the reference over the concatenation. */
    uint8_t all[12 + 13] = { 10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 13 };
    for (int i = 0; i < 13; i++)
        all[12 + i] = (uint8_t)(0xa0 + i);
    uint16_t c = mtp_csum_ipv4_l4(0x0a000001, 0x0a000002, 17, all + 12, 13);
    cr_assert_eq(c, csum_ref(all, sizeof all));
    /* Storing it at an even offset makes the segment verify to 0. */
    all[12 + 6] = all[12 + 7] = 0;
    c = mtp_csum_ipv4_l4(0x0a000001, 0x0a000002, 17, all + 12, 13);
    mtp_put16(all + 12 + 6, c);
    cr_assert_eq(mtp_csum_ipv4_l4(0x0a000001, 0x0a000002, 17, all + 12, 13), 0);
}

Test(csum, incremental_update_rfc1624)
{
    uint8_t h[20] = { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                      0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 };
    mtp_put16(h + 10, mtp_csum(h, 20));
    for (int ttl = 0x40; ttl > 0; ttl--) { /* every TTL, including the ones giving 0xffff */
        uint16_t old = mtp_get16(h + 8);
        h[8] = (uint8_t)(ttl - 1);
        uint16_t upd = mtp_csum_update16(mtp_get16(h + 10), old, mtp_get16(h + 8));
        mtp_put16(h + 10, 0);
        uint16_t full = mtp_csum(h, 20);
        cr_assert_eq(upd, full, "ttl %d: %04x vs %04x", ttl - 1, upd, full);
        mtp_put16(h + 10, full);
    }
}
