/* Packet generation: segmentation (positions, prev payload len, max_seg vs MTU), resolved
 * data references (tx ring, nested frames, raw bytes), coalescing, metadata. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "fixture_prog.h"

static struct mtp_engine *eng;
static uint8_t app[8192];

static struct mtp_engine *mk(uint32_t mtu, uint32_t tx_bytes)
{
    struct mtp_engine_config cfg = { .local_ip = 0x0a000001, .mtu = mtu,
                                     .tx_unit_bytes = tx_bytes };
    int err;
    struct mtp_engine *e = mtp_engine_new(&fx_program, &cfg, &err);
    cr_assert_not_null(e, "%s", mtp_strerror(err));
    for (size_t i = 0; i < sizeof app; i++)
        app[i] = (uint8_t)(i * 7 + 3);
    fx_post(e, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    return e;
}

static void append(uint32_t len, uint32_t from)
{
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_TX, .len = len, .addr = (uintptr_t)(app + from) }, 0);
}

static void teardown(void)
{
    mtp_engine_free(eng);
    eng = NULL;
}

TestSuite(pktgen, .fini = teardown);

struct pkt {
    uint8_t b[2048];
    int len;
    struct mtp_tx_meta m;
};

static int drain(struct pkt *out, int max)
{
    int n = 0;
    for (;;) {
        struct pkt p;
        int len = mtp_engine_tx_next(eng, p.b, sizeof p.b, &p.m, 0);
        cr_assert_geq(len, 0, "%s", mtp_strerror(len));
        if (len == 0)
            return n;
        cr_assert_lt(n, max);
        p.len = len;
        out[n++] = p;
    }
}

static const struct {
    const char *name;
    uint32_t mtu, max_seg, len;
    int npkts;
    uint32_t last_payload;
} seg_cases[] = {
    { "only", 1500, 0, 100, 1, 100 },
    { "exactly one full", 1500, 0, 1464, 1, 1464 },
    { "two", 1500, 0, 1465, 2, 1 },
    { "three by mtu", 1500, 0, 3500, 3, 572 },
    { "max_seg below mtu", 1500, 1000, 3500, 4, 500 },
    { "max_seg above mtu", 576, 1000, 1200, 3, 1200 - 2 * 540 },
    { "no data", 1500, 0, 0, 1, 0 },
};

Test(pktgen, segmentation_table)
{
    for (size_t c = 0; c < sizeof seg_cases / sizeof seg_cases[0]; c++) {
        eng = mk(seg_cases[c].mtu, 1 << 16);
        append(4000, 0);
        fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = seg_cases[c].len,
                                        .max_seg = seg_cases[c].max_seg, .c = 5000 }, 0);
        struct pkt *p = calloc(8, sizeof *p);
        int n = drain(p, 8);
        cr_expect_eq(n, seg_cases[c].npkts, "%s", seg_cases[c].name);
        uint32_t seq = 5000, off = 0, prev_len = 0;
        for (int k = 0; k < n; k++) {
            uint32_t plen = fx_get32(p[k].b + 12);
            uint32_t pos = fx_get32(p[k].b + 4) >> 16;
            enum mtp_seg_pos want = n == 1 ? MTP_SEG_ONLY
                                  : k == 0 ? MTP_SEG_FIRST
                                  : k == n - 1 ? MTP_SEG_LAST : MTP_SEG_MID;
            cr_expect_eq(pos, want, "%s pkt %d pos", seg_cases[c].name, k);
            cr_expect_eq(fx_get32(p[k].b), seq, "%s pkt %d seq", seg_cases[c].name, k);
            cr_expect_eq(fx_get32(p[k].b + 8), prev_len, "%s pkt %d prev len", seg_cases[c].name, k);
            cr_expect_eq((uint32_t)p[k].len, FX_SEG_HDR + plen);
            cr_expect_leq(p[k].len + 20, seg_cases[c].mtu);
            if (seg_cases[c].max_seg)
                cr_expect_leq(plen, seg_cases[c].max_seg);
            cr_expect_eq(memcmp(p[k].b + FX_SEG_HDR, app + off, plen), 0, "%s pkt %d bytes",
                         seg_cases[c].name, k);
            cr_expect_eq(fx_get32(p[k].b + 4) & 0xffff, 0x5a, "blueprint fields copied");
            seq += plen;
            off += plen;
            prev_len = plen;
            if (k == n - 1)
                cr_expect_eq(plen, seg_cases[c].last_payload, "%s last", seg_cases[c].name);
        }
        cr_expect_eq(off, seg_cases[c].len, "%s: all bytes sent once", seg_cases[c].name);
        free(p);
        mtp_engine_free(eng);
        eng = NULL;
    }
}

Test(pktgen, metadata_from_blueprint_and_program)
{
    eng = mk(1500, 4096);
    append(10, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = 10 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 9 }, 0);
    struct pkt p[2];
    cr_assert_eq(drain(p, 2), 2);
    cr_expect_eq(p[0].m.src_ip, 0x0a000001, "the stack's address by default");
    cr_expect_eq(p[0].m.dst_ip, 0x0a000002);
    cr_expect_eq(p[0].m.tos, 0x10);
    cr_expect_eq(p[0].m.ip_proto, 253);
    cr_expect_eq(p[0].m.csum_off, -1);
    cr_expect_eq(p[0].m.l4_len, FX_SEG_HDR + 10);
    cr_expect_eq(p[1].m.src_ip, 0x0a000009, "pkt_gen src");
    cr_expect_eq(p[1].m.csum_off, 4);
    cr_expect_eq(fx_get32(p[1].b), 9);
}

Test(pktgen, data_outside_the_unit_is_refused)
{
    eng = mk(1500, 4096);
    append(100, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TX_FLUSH, .len = 40 }, 0);
    static const struct { uint64_t off; uint32_t len; int ok; } cases[] = {
        { 40, 60, 1 }, { 39, 10, 0 }, { 90, 11, 0 }, { 100, 0, 1 }, { 0, 0, 1 } /* empty */,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t before = mtp_engine_stats(eng)->drop_data_ref;
        fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .b = cases[i].off, .len = cases[i].len }, 0);
        cr_expect_eq(mtp_engine_tx_pending(eng), cases[i].ok, "case %zu", i);
        cr_expect_eq(mtp_engine_stats(eng)->drop_data_ref, before + !cases[i].ok, "case %zu", i);
        struct pkt p[1];
        drain(p, 1);
    }
    /* a unit that does not exist */
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .a = 8, .len = 1 }, 0);
    cr_expect_eq(mtp_engine_tx_pending(eng), 0);
}

Test(pktgen, referenced_ring_bytes_never_move)
{
    eng = mk(1500, 1000);
    struct mtp_key k = fx_key(1);
    append(1000, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .b = 500, .len = 500 }, 0);
    /* the peer acknowledges everything before the packet went out */
    fx_post(eng, 1, (struct fx_op){ .op = FX_TX_FLUSH, .len = 1000 }, 0);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 0), 500,
                 "bytes 500..1000 are still referenced by the pending blueprint");
    append(600, 1000);
    cr_expect_eq(mtp_engine_stats(eng)->drop_tx_full, 1);
    append(500, 1000);
    struct pkt p[2];
    cr_assert_eq(drain(p, 2), 1);
    cr_expect_eq(memcmp(p[0].b + FX_SEG_HDR, app + 500, 500), 0, "payload intact");
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 0), 500, "released after generation");
}

Test(pktgen, payload_wrapping_the_ring)
{
    eng = mk(1500, 1000);
    append(800, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TX_FLUSH, .len = 800 }, 0);
    append(600, 800); /* stream offsets 800..1400 live at ring 800..1000, 0..400 */
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .b = 800, .len = 600 }, 0);
    struct pkt p[2];
    cr_assert_eq(drain(p, 2), 1);
    cr_expect_eq(memcmp(p[0].b + FX_SEG_HDR, app + 800, 600), 0);
}

Test(pktgen, nested_data_resolved_contiguous_even_across_the_wrap)
{
    eng = mk(1500, 1000);
    append(900, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TX_FLUSH, .len = 900 }, 0);
    append(300, 900); /* 900..1200 wraps at 1000 */
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_FRAMES, .b = 910, .len = 50, .b2 = 950,
                                    .len2 = 200 }, 0);
    struct pkt p[2];
    cr_assert_eq(drain(p, 2), 1);
    cr_expect_eq(fx_get32(p[0].b), 2);
    cr_expect_eq(fx_get32(p[0].b + 4), 50);
    cr_expect_eq(memcmp(p[0].b + 8, app + 910, 50), 0);
    cr_expect_eq(fx_get32(p[0].b + 58), 200);
    cr_expect_eq(memcmp(p[0].b + 62, app + 950, 200), 0, "frame across the ring wrap");
}

Test(pktgen, a_frame_list_beyond_the_mtu_leaves_in_packets_of_whole_frames)
{
    eng = mk(1500, 4000);
    append(3000, 0);
    /* 4 + (4 + 1000) * 2 bytes: more than the 1480 of a packet, each frame fits alone */
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_FRAMES, .b = 0, .len = 1000, .b2 = 1000,
                                    .len2 = 1000 }, 0);
    struct pkt p[3];
    cr_assert_eq(drain(p, 3), 2);
    for (uint32_t i = 0; i < 2; i++) {
        cr_expect_eq(fx_get32(p[i].b), 1, "one frame in packet %u", i);
        cr_expect_eq(fx_get32(p[i].b + 4), 1000);
        cr_expect_eq(memcmp(p[i].b + 8, app + 1000 * i, 1000), 0);
    }
    /* a frame larger than a packet: the blueprint is refused, nothing is sent */
    uint64_t failed = mtp_engine_stats(eng)->instr_failed;
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_FRAMES, .b = 0, .len = 1600, .b2 = 0,
                                    .len2 = 0 }, 0);
    cr_expect_eq(drain(p, 3), 0);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, failed + 1);
}

Test(pktgen, raw_data_is_copied_at_creation)
{
    eng = mk(1500, 1000);
    uint8_t pay[64];
    memset(pay, 'x', sizeof pay);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_RAW, .len = 64, .addr = (uintptr_t)pay }, 0);
    memset(pay, 'y', sizeof pay); /* e.g. the received packet is gone */
    struct pkt p[1];
    cr_assert_eq(drain(p, 1), 1);
    cr_expect_eq(p[0].b[FX_SEG_HDR], 'x');
    cr_expect_eq(p[0].b[FX_SEG_HDR + 63], 'x');
}

Test(pktgen, coalescing_rules_at_creation)
{
    eng = mk(1500, 1000);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 10 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 20 }, 0); /* drops the older */
    cr_expect_eq(mtp_engine_tx_pending(eng), 1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 15 }, 0); /* older ack kept: none */
    cr_expect_eq(mtp_engine_tx_pending(eng), 2);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 30, .b = 99 }, 0); /* drop newer */
    cr_expect_eq(mtp_engine_tx_pending(eng), 2);
    cr_expect_eq(mtp_engine_stats(eng)->blueprints_coalesced, 2);
    /* a newer ack of the same context drops both pending ones; another context's stays */
    fx_post(eng, 2, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
    fx_post(eng, 2, (struct fx_op){ .op = FX_GEN_ACK, .c = 50 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 40 }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->blueprints_coalesced, 4);
    struct pkt p[8];
    int n = drain(p, 8);
    cr_assert_eq(n, 2);
    cr_expect_eq(fx_get32(p[0].b), 50);
    cr_expect_eq(fx_get32(p[1].b), 40);
}

Test(pktgen, small_buffer_keeps_the_blueprint)
{
    eng = mk(1500, 1000);
    append(100, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = 100 }, 0);
    struct mtp_tx_meta m;
    uint8_t small[50];
    cr_expect_eq(mtp_engine_tx_next(eng, small, sizeof small, &m, 0), MTP_EMSGSIZE);
    cr_expect_eq(mtp_engine_tx_pending(eng), 1);
    struct pkt p[1];
    cr_expect_eq(drain(p, 1), 1);
}

Test(pktgen, packet_beyond_the_mtu_is_refused_not_stuck)
{
    eng = mk(300, 4096);
    append(1000, 0);
    /* two frames of 300 bytes: each alone is larger than a packet (300 - 20 bytes) */
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_FRAMES, .b = 0, .len = 300, .b2 = 300,
                                    .len2 = 300 }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, 1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 3 }, 0);
    cr_expect_eq(mtp_engine_tx_pending(eng), 1);
    struct mtp_tx_meta m;
    uint8_t b[2048];
    cr_expect_eq(mtp_engine_tx_next(eng, b, sizeof b, &m, 0), 8, "the next one is not blocked");
}

Test(pktgen, blueprint_pool_exhaustion_is_counted_not_fatal)
{
    eng = mk(1500, 1000);
    uint32_t n = 65536 + 10; /* MTP__MAX_BLUEPRINTS + 10 */
    for (uint32_t id = 2; id < n + 2; id++) {
        fx_post(eng, id, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
        fx_post(eng, id, (struct fx_op){ .op = FX_GEN_ACK, .c = id }, 0);
    }
    cr_expect_eq(mtp_engine_tx_pending(eng), 65536);
    cr_expect_eq(mtp_engine_stats(eng)->pool_exhausted, 10);
    struct mtp_tx_meta m;
    uint8_t b[64];
    cr_expect_eq(mtp_engine_tx_next(eng, b, sizeof b, &m, 0), 8);
    fx_post(eng, 2, (struct fx_op){ .op = FX_GEN_ACK, .c = 1 }, 0);
    cr_expect_eq(mtp_engine_tx_pending(eng), 65536, "room again after one was sent");
}

Test(pktgen, no_coalescing_across_destinations)
{
    eng = mk(1500, 1000);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 10, .addr = 0x0a000005 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 20, .addr = 0x0a000006 }, 0);
    cr_expect_eq(mtp_engine_tx_pending(eng), 2);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 30, .addr = 0x0a000005 }, 0);
    cr_expect_eq(mtp_engine_tx_pending(eng), 2, "same destination: merged");
    cr_expect_eq(mtp_engine_stats(eng)->blueprints_coalesced, 1);
}
