/* Receive data units: reassembly (out of order, overlap, duplicates), window edge, flush. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/program.h"
#include "units.h"

static uint8_t stream[4096];

static void fill_stream(void)
{
    for (size_t i = 0; i < sizeof stream; i++)
        stream[i] = (uint8_t)(i * 31 + 7);
}

struct seg { uint64_t off; uint32_t len; };

/* Each case: segments in arrival order, then the expected in-order bytes ready. */
static const struct {
    const char *name;
    struct seg segs[6];
    int n;
    uint64_t ready;
    uint32_t window;
} cases[] = {
    { "in order", { { 0, 100 }, { 100, 100 } }, 2, 200, 1024 },
    { "out of order", { { 100, 100 }, { 0, 100 } }, 2, 200, 1024 },
    { "hole stays", { { 0, 100 }, { 150, 50 } }, 2, 100, 1024 },
    { "overlap", { { 0, 100 }, { 50, 100 }, { 120, 100 } }, 3, 220, 1024 },
    { "duplicate", { { 0, 100 }, { 0, 100 }, { 0, 50 } }, 3, 100, 1024 },
    { "ooo overlap fill", { { 300, 50 }, { 100, 100 }, { 150, 200 }, { 0, 100 } }, 4, 350, 1024 },
    { "window edge", { { 0, 1000 }, { 1000, 100 } }, 2, 1024, 1024 },
    { "beyond window", { { 2000, 10 }, { 0, 10 } }, 2, 10, 1024 },
    /* a hole whose far side ends exactly at the window edge: filling it makes the whole
     * window ready (an off-by-one there left 127 of 128 ready, then stalled the stream) */
    { "hole to the edge", { { 64, 64 }, { 0, 64 } }, 2, 128, 128 },
    { "holes to the edge", { { 100, 28 }, { 30, 40 }, { 70, 30 }, { 0, 30 } }, 4, 128, 128 },
    { "edge byte last", { { 0, 127 }, { 127, 1 } }, 2, 128, 128 },
    { "edge byte first", { { 127, 1 }, { 0, 127 } }, 2, 128, 128 },
};

Test(rx_unit, reassembly_table)
{
    fill_stream();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct mtp__rx_unit u;
        mtp__rx_unit_init(&u, MTP_SIZE_INF, cases[c].window);
        for (int i = 0; i < cases[c].n; i++) {
            struct mtp__rx_add_result r;
            const struct seg *s = &cases[c].segs[i];
            cr_assert_eq(mtp__rx_unit_add(&u, s->off, stream + s->off, s->len, &r), 0);
        }
        cr_expect_eq(mtp__rx_unit_ready(&u), cases[c].ready, "%s", cases[c].name);
        uint8_t out[4096];
        memset(out, 0xee, sizeof out);
        uint64_t n = mtp__rx_unit_flush(&u, out, sizeof out);
        cr_expect_eq(n, cases[c].ready, "%s", cases[c].name);
        cr_expect_eq(memcmp(out, stream, n), 0, "%s: bytes", cases[c].name);
        cr_expect_eq(out[n], 0xee, "%s: nothing past the in-order bytes", cases[c].name);
        mtp__rx_unit_release(&u);
    }
}

Test(rx_unit, refused_bytes_never_overwrite)
{
    fill_stream();
    struct mtp__rx_unit u;
    mtp__rx_unit_init(&u, MTP_SIZE_INF, 128);
    struct mtp__rx_add_result r;
    cr_assert_eq(mtp__rx_unit_add(&u, 0, stream, 100, &r), 0);
    cr_expect_eq(r.accepted, 100);
    cr_expect(r.advanced);
    cr_expect_eq(r.ready, 100);
    /* 100..228 is past the 128-byte window (nothing flushed): 28 in, 100 refused */
    cr_assert_eq(mtp__rx_unit_add(&u, 100, stream + 100, 128, &r), 0);
    cr_expect_eq(r.accepted, 28);
    cr_expect_eq(r.refused, 100);
    cr_expect_eq(mtp__rx_unit_ready(&u), 128);
    uint8_t out[256];
    cr_expect_eq(mtp__rx_unit_flush(&u, out, 256), 128);
    cr_expect_eq(memcmp(out, stream, 128), 0, "ring bytes were not overwritten by refused ones");
    /* after the flush the window moved: the same offsets fit now */
    cr_assert_eq(mtp__rx_unit_add(&u, 128, stream + 128, 100, &r), 0);
    cr_expect_eq(r.accepted, 100);
    cr_expect_eq(mtp__rx_unit_flush(&u, out, 256), 100);
    cr_expect_eq(memcmp(out, stream + 128, 100), 0, "across the ring wrap");
    mtp__rx_unit_release(&u);
}

Test(rx_unit, first_arrival_wins_on_conflicting_overlap)
{
    struct mtp__rx_unit u;
    mtp__rx_unit_init(&u, MTP_SIZE_INF, 256);
    uint8_t a[64], b[64], out[128];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    struct mtp__rx_add_result r;
    mtp__rx_unit_add(&u, 32, a, 64, &r);     /* 32..96 'a', out of order */
    mtp__rx_unit_add(&u, 0, b, 64, &r);      /* 0..64: only 0..32 is new */
    cr_expect_eq(r.accepted, 32);
    cr_expect_eq(mtp__rx_unit_flush(&u, out, 128), 96);
    for (int i = 0; i < 96; i++)
        cr_expect_eq(out[i], i < 32 ? 'b' : 'a', "byte %d", i);
    mtp__rx_unit_release(&u);
}

Test(rx_unit, flush_exactness_and_message_size)
{
    fill_stream();
    struct mtp__rx_unit u;
    mtp__rx_unit_init(&u, 300, 1 << 20); /* a 300-byte message */
    struct mtp__rx_add_result r;
    mtp__rx_unit_add(&u, 0, stream, 500, &r);
    cr_expect_eq(r.accepted, 300);
    cr_expect_eq(r.refused, 200, "bytes past the message size are refused");
    uint8_t out[512];
    memset(out, 0, sizeof out);
    static const uint64_t asks[] = { 0, 7, 93, 1000 };
    static const uint64_t gets[] = { 0, 7, 93, 200 };
    uint64_t at = 0;
    for (int i = 0; i < 4; i++) {
        uint64_t n = mtp__rx_unit_flush(&u, out, asks[i]);
        cr_expect_eq(n, gets[i], "ask %lu", (unsigned long)asks[i]);
        cr_expect_eq(memcmp(out, stream + at, n), 0);
        at += n;
    }
    cr_expect_eq(mtp__rx_unit_flush(&u, out, 10), 0, "never more than available");
    mtp__rx_unit_release(&u);
}

Test(rx_unit, buffer_allocated_lazily)
{
    struct mtp__rx_unit u;
    mtp__rx_unit_init(&u, MTP_SIZE_INF, 1 << 18);
    cr_expect_null(u.buf);
    struct mtp__rx_add_result r;
    uint8_t x = 1;
    mtp__rx_unit_add(&u, 0, &x, 0, &r);
    cr_expect_null(u.buf, "an empty segment allocates nothing");
    mtp__rx_unit_add(&u, 0, &x, 1, &r);
    cr_expect_not_null(u.buf);
    mtp__rx_unit_release(&u);
}

/* Random segments (out of order, overlapping, stale, beyond the window) and random flushes
 * against the obvious model: what comes out is exactly the stream, in order, and the bytes
 * ready are exactly the run of arrived bytes at the read point. */
Test(rx_unit, randomized_against_the_stream)
{
    static uint8_t big[1 << 16], out[1 << 16];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)((i * 2654435761u) >> 13);
    uint64_t s = 12345;
    struct mtp__rx_unit u;
    mtp__rx_unit_init(&u, MTP_SIZE_INF, 4096);
    static uint8_t arrived[1 << 16]; /* the model: which bytes the unit has accepted */
    memset(arrived, 0, sizeof arrived);
    uint64_t delivered = 0;
    for (int round = 0; round < 20000 && delivered < sizeof big - 8192; round++) {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17;
        uint64_t base = delivered > 1000 ? delivered - 1000 : 0;
        uint64_t off = base + s % 6000;
        uint32_t len = (uint32_t)(1 + (s >> 20) % 1500);
        struct mtp__rx_add_result r;
        cr_assert_eq(mtp__rx_unit_add(&u, off, big + off, len, &r), 0);
        cr_assert_leq(mtp__rx_unit_ready(&u), 4096);
        for (uint64_t b = off; b < off + len && b < delivered + 4096; b++)
            arrived[b] = 1;
        uint64_t ready = 0;
        while (delivered + ready < delivered + 4096 && arrived[delivered + ready])
            ready++;
        cr_assert_eq(mtp__rx_unit_ready(&u), ready, "ready, as the model has it (round %d)", round);
        uint32_t bits = 0;
        for (uint32_t w = 0; w < u.cap / 64; w++)
            bits += (uint32_t)__builtin_popcountll(u.have[w]);
        cr_assert_eq(bits, u.held, "held counts the out-of-order bytes (round %d)", round);
        if ((s >> 40) % 4 == 0) {
            uint64_t n = mtp__rx_unit_flush(&u, out, (s >> 44) % 3000);
            cr_assert_eq(memcmp(out, big + delivered, n), 0, "round %d", round);
            delivered += n;
        }
    }
    cr_expect_gt(delivered, 20000, "the stream made progress");
    mtp__rx_unit_release(&u);
}
