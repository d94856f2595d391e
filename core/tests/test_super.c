/* Engine super-packets (segmentation offload): the fixture program with an offset-linear
 * seg rule on the 32-bit field at header offset 0. */
#include <criterion/criterion.h>
#include "fixture_prog.h"

#define SP_MTU 1500u
#define SP_SEG (SP_MTU - 20 - FX_SEG_HDR) /* payload per wire packet: 1464 */
#define SP_MAX 4000u                      /* two full packets per super-packet */
#define SP_SEQ 1000u

/* A header that does not follow the payload length: seq, flags, then 8 constant bytes. */
static void sp_seg_write(const void *bp, uint8_t *dst, uint32_t payload_len)
{
    const struct fx_seg *s = bp;
    (void)payload_len;
    fx_put32(dst, s->seq);
    fx_put32(dst + 4, s->flags);
    fx_put32(dst + 8, 0x11223344);
    fx_put32(dst + 12, 0x55667788);
}

/* seq = [bp.seq, prev.seq + prev.payload_len, prev.seq + prev.payload_len] */
static void sp_seq_rule(void *cur, const void *bp, const void *prev, uint32_t prev_len,
                        enum mtp_seg_pos pos)
{
    struct fx_seg *c = cur;
    const struct fx_seg *b = bp, *p = prev;
    c->seq = (pos == MTP_SEG_FIRST || pos == MTP_SEG_ONLY) ? b->seq : p->seq + prev_len;
}

static struct mtp_bp_desc sp_bps[FX_N_BPS];
static struct mtp_srule_desc sp_srules[1];
static struct mtp_program sp_prog;
static uint8_t data[16384];

static struct mtp_engine *sp_engine(int linear, uint32_t seg_max, uint16_t dev_off)
{
    memcpy(sp_bps, fx_bps, sizeof sp_bps);
    sp_bps[FX_BP_SEG].write_hdr = sp_seg_write;
    sp_srules[0] = (struct mtp_srule_desc){ "seq_rule", FX_BP_SEG, sp_seq_rule, 0,
                                            (uint8_t)(linear ? 4 : 0) };
    sp_prog = fx_program;
    sp_prog.bps = sp_bps;
    sp_prog.srules = sp_srules;
    struct mtp_engine_config cfg = { .local_ip = 0x0a000001, .mtu = SP_MTU, .seed = 5,
                                     .seg_max_bytes = seg_max, .seg_ip_proto = 253,
                                     .seg_linear_off = dev_off, .seg_linear_bytes = 4 };
    int err;
    struct mtp_engine *e = mtp_engine_new(&sp_prog, &cfg, &err);
    cr_assert_not_null(e, "%s", mtp_strerror(err));
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 7 + i / 251);
    return e;
}

/* One connection with `len` bytes in its tx unit and one blueprint sending them all. */
static void sp_send(struct mtp_engine *e, uint32_t len)
{
    cr_assert_geq(fx_post(e, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0), 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_ADD_TX, .len = len, .addr = (uintptr_t)data }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = len, .c = SP_SEQ }, 0);
    cr_assert_eq(mtp_engine_tx_pending(e), 1);
}

/* The next packet: its seq, its payload = data[off, off + pay), `pkts` wire packets. */
static void expect_pkt(struct mtp_engine *e, uint32_t cap, uint32_t off, uint32_t pay,
                       uint32_t pkts, uint64_t now)
{
    static uint8_t buf[8192];
    struct mtp_tx_meta m;
    memset(&m, 0xee, sizeof m);
    int n = mtp_engine_tx_next(e, buf, cap, &m, now);
    cr_assert_eq(n, (int)(FX_SEG_HDR + pay), "packet at %u: %d bytes", off, n);
    cr_expect_eq(fx_get32(buf), SP_SEQ + off, "seq of the packet at %u", off);
    cr_expect_eq(fx_get32(buf + 4), 0x5a);
    cr_expect_eq(fx_get32(buf + 8), 0x11223344);
    cr_expect_eq(fx_get32(buf + 12), 0x55667788);
    cr_expect_eq(memcmp(buf + FX_SEG_HDR, data + off, pay), 0, "payload at %u", off);
    cr_expect_eq(m.l4_len, FX_SEG_HDR + pay);
    cr_expect_eq(m.hdr_len, FX_SEG_HDR);
    cr_expect_eq(m.n_pkts, pkts);
    cr_expect_eq(m.seg_size, pkts > 1 ? SP_SEG : 0u);
    cr_expect_eq(m.linear_bytes, pkts > 1 ? 4 : 0);
    cr_expect_eq(m.linear_off, 0);
    cr_expect_eq(m.ip_proto, 253);
    cr_expect_eq(m.dst_ip, 0x0a000002u);
}

Test(super, packets_carry_the_first_header_and_consecutive_payload)
{
    struct mtp_engine *e = sp_engine(1, SP_MAX, 0);
    /* 7 wire packets: 6 x 1464 then 1216; two per super-packet, the last alone */
    sp_send(e, 6 * SP_SEG + 1216);
    expect_pkt(e, sizeof data, 0, 2 * SP_SEG, 2, 0);
    expect_pkt(e, sizeof data, 2 * SP_SEG, 2 * SP_SEG, 2, 0);
    expect_pkt(e, sizeof data, 4 * SP_SEG, 2 * SP_SEG, 2, 0);
    expect_pkt(e, sizeof data, 6 * SP_SEG, 1216, 1, 0);
    cr_expect_eq(mtp_engine_tx_pending(e), 0);
    cr_expect_eq(mtp_engine_stats(e)->tx_super_frames, 3);
    cr_expect_eq(mtp_engine_stats(e)->tx_super_pkts, 6);
    mtp_engine_free(e);
}

Test(super, a_short_last_packet_joins_when_it_fits)
{
    struct mtp_engine *e = sp_engine(1, SP_MAX, 0);
    sp_send(e, 2 * SP_SEG + 100); /* 3 packets, 3028 payload bytes <= 4000 - 16 */
    expect_pkt(e, sizeof data, 0, 2 * SP_SEG + 100, 3, 0);
    cr_expect_eq(mtp_engine_tx_pending(e), 0);
    mtp_engine_free(e);
}

Test(super, the_caller_buffer_bounds_it)
{
    struct mtp_engine *e = sp_engine(1, 65000, 0);
    sp_send(e, 5 * SP_SEG);
    expect_pkt(e, FX_SEG_HDR + 3 * SP_SEG + 10, 0, 3 * SP_SEG, 3, 0);
    expect_pkt(e, SP_MTU, 3 * SP_SEG, SP_SEG, 1, 0); /* room for one: an ordinary packet */
    expect_pkt(e, sizeof data, 4 * SP_SEG, SP_SEG, 1, 0); /* one left: ordinary */
    mtp_engine_free(e);
}

Test(super, falls_back_to_packets_when_not_linear_or_not_the_device_field)
{
    for (int round = 0; round < 3; round++) {
        struct mtp_engine *e = round == 0 ? sp_engine(0, SP_MAX, 0)   /* rule not linear */
                             : round == 1 ? sp_engine(1, SP_MAX, 4)   /* device: other field */
                                          : sp_engine(1, 0, 0);       /* no offload */
        sp_send(e, 3 * SP_SEG);
        for (uint32_t k = 0; k < 3; k++)
            expect_pkt(e, sizeof data, k * SP_SEG, SP_SEG, 1, 0);
        cr_expect_eq(mtp_engine_stats(e)->tx_super_frames, 0);
        mtp_engine_free(e);
    }
}

Test(super, pacing_counts_every_wire_packet)
{
    struct mtp_engine *e = sp_engine(1, SP_MAX, 0);
    /* 1 byte per microsecond; the bucket starts with 2 x MTU = 3000 bytes */
    fx_post(e, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_SET_RATE, .a = 0, .b = 1000000 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 4 * SP_SEG, .addr = (uintptr_t)data },
            0);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = 4 * SP_SEG, .c = SP_SEQ }, 0);
    /* 2 x (16 + 20) + 2928 = 3000 bytes: the bucket is exactly empty after the first */
    expect_pkt(e, sizeof data, 0, 2 * SP_SEG, 2, 0);
    uint8_t buf[8192];
    struct mtp_tx_meta m;
    cr_expect_eq(mtp_engine_tx_next(e, buf, sizeof buf, &m, 0), 0, "paced");
    expect_pkt(e, sizeof data, 2 * SP_SEG, 2 * SP_SEG, 2, 1);
    /* 3000 more bytes: 3 ms at the rate (headers of both packets count) */
    fx_post(e, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 10, .addr = (uintptr_t)data }, 1);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_SEG, .b = 4 * SP_SEG, .len = 10, .c = 7 }, 1);
    cr_expect_eq(mtp_engine_tx_next(e, buf, sizeof buf, &m, 2990000), 0, "still paced");
    cr_expect_eq(mtp_engine_tx_next(e, buf, sizeof buf, &m, 3000002), FX_SEG_HDR + 10);
    mtp_engine_free(e);
}
