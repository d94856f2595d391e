/* The received-checksum policy (MTP_RX_CSUM): a segment whose checksum is complete, one whose
 * field holds only the pseudo-header sum (the kernel's CHECKSUM_PARTIAL on veth, lo, tap)
 * and a corrupt one, on every kind of interface and under every policy; the knobs parser;
 * a transfer over a "device" that leaves partial checksums, as a veth does. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include "mtp/errors.h"
#include "mtp/net.h"
#include "mtp/stack.h"
#include "sim.h"
#include "sim_prog.h"

#define SEC 1000000000ull
#define IP_A 0x0a000001u
#define IP_B 0x0a000002u

/* ------------------------------------------------------------- pure parts */

Test(rx_csum, policy_by_kind)
{
    for (int k = 0; k < MTP_LINK_KIND_COUNT; k++) {
        int unwired = k == MTP_LINK_VETH || k == MTP_LINK_LOOPBACK || k == MTP_LINK_TAP;
        cr_expect_eq(mtp_rx_csum_accepts_partial(MTP_RX_CSUM_AUTO, k), unwired, "auto on %s",
                     mtp_link_kind_name(k));
        cr_expect_eq(mtp_rx_csum_accepts_partial(MTP_RX_CSUM_FULL, k), 0, "full on %s",
                     mtp_link_kind_name(k));
        cr_expect_eq(mtp_rx_csum_accepts_partial(MTP_RX_CSUM_PARTIAL, k), 1, "partial on %s",
                     mtp_link_kind_name(k));
    }
    cr_expect_str_eq(mtp_link_kind_name(MTP_LINK_LOOPBACK), "loopback");
    cr_expect_str_eq(mtp_link_kind_name(MTP_LINK_KIND_COUNT), "?");
}

/* A 20-byte segment of the sim program with the checksum field filled in three ways. */
enum seg { SEG_COMPLETE, SEG_PARTIAL, SEG_CORRUPT, SEG_KINDS };
static const char *const seg_names[SEG_KINDS] = { "complete", "partial", "corrupt" };

static void seg_build(uint8_t l4[20], enum seg how, uint16_t sport, uint16_t dport)
{
    memset(l4, 0, 20);
    sp_put16(l4, sport);
    sp_put16(l4 + 2, dport);
    l4[12] = SP_DATA;
    l4[19] = 0x5a;
    if (how == SEG_PARTIAL) {
        sp_put16(l4 + SP_CSUM_OFF, mtp_csum_fold(mtp_csum_pseudo_ipv4(IP_A, IP_B, SP_PROTO, 20)));
        return;
    }
    sp_put16(l4 + SP_CSUM_OFF, mtp_csum_ipv4_l4(IP_A, IP_B, SP_PROTO, l4, 20));
    if (how == SEG_CORRUPT)
        l4[19] ^= 0x10;
}

Test(rx_csum, is_partial)
{
    uint8_t l4[20];
    seg_build(l4, SEG_PARTIAL, 1, 2);
    cr_expect(mtp_csum_is_partial(IP_A, IP_B, SP_PROTO, l4, 20, SP_CSUM_OFF));
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B, SP_PROTO, l4, 20, 0), "another field");
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B + 1, SP_PROTO, l4, 20, SP_CSUM_OFF),
              "the sum is of this segment's pseudo header");
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B, SP_PROTO + 1, l4, 20, SP_CSUM_OFF));
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B, SP_PROTO, l4, 19, SP_CSUM_OFF), "other length");
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B, SP_PROTO, l4, 15, SP_CSUM_OFF), "field past end");
    seg_build(l4, SEG_COMPLETE, 1, 2);
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B, SP_PROTO, l4, 20, SP_CSUM_OFF));
    seg_build(l4, SEG_CORRUPT, 1, 2);
    cr_expect(!mtp_csum_is_partial(IP_A, IP_B, SP_PROTO, l4, 20, SP_CSUM_OFF));
}

Test(rx_csum, is_partial_ones_complement_zeros)
{
    /* 0x0000 and 0xffff are the same one's-complement number: either spelling of a seed
     * that folds to 0xffff is partial */
    uint8_t l4[8] = { 0 };
    uint32_t src = 0, dst = 0;
    /* find addresses whose pseudo header folds to 0xffff */
    for (dst = 1; mtp_csum_fold(mtp_csum_pseudo_ipv4(src, dst, 6, 8)) != 0xffff; dst++)
        ;
    sp_put16(l4 + 2, 0xffff);
    cr_expect(mtp_csum_is_partial(src, dst, 6, l4, 8, 2));
    sp_put16(l4 + 2, 0);
    cr_expect(mtp_csum_is_partial(src, dst, 6, l4, 8, 2));
}

/* ------------------------------------------------ the stack, per kind and policy */

struct rig {
    struct mtp_sim_wire *w;
    struct mtp_target *t[2];
    struct mtp_link_info li[2];
    struct mtp_stack *s; /* on t[1]; t[0] injects */
};

static void rig_up(struct rig *r, enum mtp_link_kind kind, enum mtp_rx_csum policy)
{
    struct mtp_sim_config c = { .seed = 3, .delay_ns = 1000, .link_kind = (uint8_t)kind };
    r->w = mtp_sim_wire_new(NULL, &c);
    cr_assert_not_null(r->w);
    cr_assert_eq(mtp_sim_attach(r->w, IP_A, 24, &r->t[0]), 0);
    cr_assert_eq(mtp_sim_attach(r->w, IP_B, 24, &r->t[1]), 0);
    for (int i = 0; i < 2; i++)
        mtp_target_sim.link_info(r->t[i], &r->li[i]);
    cr_assert_eq(r->li[1].kind, kind);
    struct mtp_stack_config sc = { .prog = &sp_program, .ops = &mtp_target_sim,
                                   .target = r->t[1], .seed = 5, .rx_csum = (uint8_t)policy };
    int err = 0;
    r->s = mtp_stack_new(&sc, &err);
    cr_assert_not_null(r->s, "mtp_stack_new: %d", err);
}

static void rig_down(struct rig *r)
{
    mtp_stack_free(r->s);
    mtp_sim_wire_free(r->w);
}

static int got_frame(void *arg)
{
    struct rig *r = arg;
    return mtp_stack_stats(r->s)->rx_frames > 0;
}

/* Injects one segment from A; returns B's counters after it. */
static struct mtp_stats rig_deliver(struct rig *r, enum seg how)
{
    uint8_t l4[20], f[64];
    seg_build(l4, how, 1000, 2000);
    struct mtp_eth_repr e = { .ethertype = MTP_ETHERTYPE_IPV4 };
    memcpy(e.dst, r->li[1].mac, 6);
    memcpy(e.src, r->li[0].mac, 6);
    mtp_eth_emit(&e, f);
    struct mtp_ipv4_repr ip = { .src = IP_A, .dst = IP_B, .proto = SP_PROTO, .ttl = 64,
                                .payload_len = 20 };
    mtp_ipv4_emit(&ip, f + 14, 0);
    memcpy(f + 34, l4, 20);
    struct mtp_frame fr;
    cr_assert_eq(mtp_target_sim.tx_alloc(r->t[0], &fr, 1), 1);
    memcpy(fr.data, f, 54);
    fr.len = 54;
    cr_assert_eq(mtp_target_sim.tx_burst(r->t[0], &fr, 1), 1);
    cr_assert_eq(mtp_sim_run_until(r->w, &r->s, 1, got_frame, r, mtp_sim_now(r->w) + SEC), 0);
    return *mtp_stack_stats(r->s);
}

Test(rx_csum, stack_verdict_per_kind_and_policy)
{
    for (int k = 0; k < MTP_LINK_KIND_COUNT; k++)
        for (int p = MTP_RX_CSUM_AUTO; p <= MTP_RX_CSUM_PARTIAL; p++)
            for (int h = 0; h < SEG_KINDS; h++) {
                struct rig r;
                rig_up(&r, (enum mtp_link_kind)k, (enum mtp_rx_csum)p);
                struct mtp_stats s = rig_deliver(&r, (enum seg)h);
                int accepted = h == SEG_COMPLETE ||
                               (h == SEG_PARTIAL &&
                                mtp_rx_csum_accepts_partial((enum mtp_rx_csum)p,
                                                            (enum mtp_link_kind)k));
                const char *what = seg_names[h], *kind = mtp_link_kind_name(k);
                /* accepted: it reaches the program, which has no context for it */
                cr_expect_eq(s.drop_no_ctx, (uint64_t)accepted, "%s on %s, policy %d", what,
                             kind, p);
                cr_expect_eq(s.rx_csum_partial, (uint64_t)(accepted && h == SEG_PARTIAL),
                             "%s on %s, policy %d: counted as partial", what, kind, p);
                cr_expect_eq(s.drop_csum_partial, (uint64_t)(!accepted && h == SEG_PARTIAL),
                             "%s on %s, policy %d: refused partial counted", what, kind, p);
                cr_expect_eq(s.drop_bad_csum, (uint64_t)(h == SEG_CORRUPT),
                             "%s on %s, policy %d: corruption is always dropped", what, kind, p);
                rig_down(&r);
            }
}

Test(rx_csum, bad_policy_value_refused)
{
    struct mtp_sim_wire *w = mtp_sim_wire_new(NULL, &(struct mtp_sim_config){ .seed = 1 });
    struct mtp_target *t;
    cr_assert_eq(mtp_sim_attach(w, IP_A, 24, &t), 0);
    struct mtp_stack_config sc = { .prog = &sp_program, .ops = &mtp_target_sim, .target = t,
                                   .rx_csum = MTP_RX_CSUM_PARTIAL + 1 };
    int err = 0;
    cr_expect_null(mtp_stack_new(&sc, &err));
    cr_expect_eq(err, MTP_EINVAL);
    mtp_sim_wire_free(w);
}

/* ------------------------------------------------ a transfer over a veth-like device */

struct xfer {
    struct mtp_stack **s;
    struct mtp_sim_wire *w;
    struct mtp_key ka, kb;
    const uint8_t *src;
    uint8_t *dst;
    size_t total, sent, got;
};

static int xfer_pump(void *arg)
{
    struct xfer *x = arg;
    uint64_t now = mtp_sim_now(x->w);
    int64_t space = mtp_stack_tx_space(x->s[0], 0, &x->ka, 0);
    if (x->sent < x->total && space > 0) {
        size_t len = x->total - x->sent < (size_t)space ? x->total - x->sent : (size_t)space;
        struct sp_buf b = { .addr = (uint64_t)(uintptr_t)(x->src + x->sent), .len = (uint32_t)len };
        cr_assert(mtp_stack_post(x->s[0], SP_EV_SEND, &x->ka, &b, sizeof b, now) >= 0);
        x->sent += len;
    }
    int64_t ready = mtp_stack_rx_ready(x->s[1], 0, &x->kb, 0);
    if (ready > 0) {
        struct sp_buf b = { .addr = (uint64_t)(uintptr_t)(x->dst + x->got), .len = (uint32_t)ready };
        cr_assert(mtp_stack_post(x->s[1], SP_EV_READ, &x->kb, &b, sizeof b, now) >= 0);
        x->got += (size_t)ready;
    }
    return x->got == x->total;
}

/* A sends `total` bytes to B over a device that "offloads" the L4 checksum and, with
 * `leave_partial`, never completes it (a veth). Returns 0 when they all arrived intact, -1
 * when they did not; B's counters in *out. */
static int offload_transfer(enum mtp_link_kind kind, enum mtp_rx_csum policy, size_t total,
                            int leave_partial, struct mtp_stats *out)
{
    struct mtp_sim_config c = { .seed = 11, .delay_ns = 20000, .link_kind = (uint8_t)kind,
                                .offload_caps = MTP_OFFLOAD_L4_CSUM,
                                .l4_csum_partial = (uint8_t)leave_partial };
    struct mtp_sim_wire *w = mtp_sim_wire_new(NULL, &c);
    struct mtp_target *t[2];
    struct mtp_stack *s[2];
    const uint32_t ips[2] = { IP_A, IP_B };
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(mtp_sim_attach(w, ips[i], 24, &t[i]), 0);
        struct mtp_stack_config sc = { .prog = &sp_program, .ops = &mtp_target_sim,
                                       .target = t[i], .seed = 20 + (uint64_t)i,
                                       .rx_csum = (uint8_t)policy };
        s[i] = mtp_stack_new(&sc, NULL);
        cr_assert_not_null(s[i]);
    }
    uint8_t *src = malloc(total), *dst = calloc(1, total);
    for (size_t i = 0; i < total; i++)
        src[i] = (uint8_t)(i * 7 + (i >> 9));
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(mtp_stack_port_claim(s[i], (uint16_t)(1000 + i)), 1000 + i);
        struct sp_open o = { .peer_ip = ips[1 - i], .lport = (uint16_t)(1000 + i),
                             .rport = (uint16_t)(1001 - i) };
        cr_assert(mtp_stack_post(s[i], SP_EV_OPEN, NULL, &o, sizeof o, 0) >= 0);
    }
    struct xfer x = { .s = s, .w = w, .ka = sp_key(IP_B, 1000, 1001),
                      .kb = sp_key(IP_A, 1001, 1000), .src = src, .dst = dst, .total = total };
    int rc = mtp_sim_run_until(w, s, 2, xfer_pump, &x, 5 * SEC) == 0 &&
                     memcmp(src, dst, total) == 0 ? 0 : -1;
    *out = *mtp_stack_stats(s[1]);
    free(src);
    free(dst);
    for (int i = 0; i < 2; i++)
        mtp_stack_free(s[i]);
    mtp_sim_wire_free(w);
    return rc;
}

Test(rx_csum, transfer_over_a_veth_that_leaves_partial_checksums)
{
    struct mtp_stats b;
    cr_assert_eq(offload_transfer(MTP_LINK_VETH, MTP_RX_CSUM_AUTO, 200000, 1, &b), 0);
    cr_expect(b.rx_csum_partial > 200000 / 1500, "partial checksums accepted: %lu",
              (unsigned long)b.rx_csum_partial);
    cr_expect_eq(b.drop_csum_partial + b.drop_bad_csum, 0);
}

Test(rx_csum, partial_checksums_on_a_wire_are_refused_and_counted)
{
    struct mtp_stats b;
    cr_assert_eq(offload_transfer(MTP_LINK_WIRE, MTP_RX_CSUM_AUTO, 20000, 1, &b), -1,
                 "a wire's partial checksums must not pass under auto");
    cr_expect(b.drop_csum_partial > 0);
    cr_expect_eq(b.rx_csum_partial + b.drop_bad_csum, 0);
    cr_expect_eq(offload_transfer(MTP_LINK_VETH, MTP_RX_CSUM_FULL, 20000, 1, &b), -1,
                 "MTP_RX_CSUM=full refuses them even on a veth");
    cr_expect(b.drop_csum_partial > 0);
    cr_expect_eq(offload_transfer(MTP_LINK_WIRE, MTP_RX_CSUM_PARTIAL, 20000, 1, &b), 0,
                 "MTP_RX_CSUM=partial accepts them anywhere");
}

Test(rx_csum, device_completes_offloaded_checksums)
{
    /* the device completes the checksum at the frame's csum_off: nothing partial arrives,
     * and the strictest policy on a wire is content */
    struct mtp_stats b;
    cr_assert_eq(offload_transfer(MTP_LINK_WIRE, MTP_RX_CSUM_FULL, 100000, 0, &b), 0);
    cr_expect_eq(b.rx_csum_partial + b.drop_csum_partial + b.drop_bad_csum, 0);
}

/* ------------------------------------------------------------- knobs */

Test(rx_csum, knobs_from_env)
{
    char err[256];
    struct mtp_knobs k;
    char *none[] = { NULL };
    cr_assert_eq(mtp_knobs_from_env(&k, none, err, sizeof err), 0);
    cr_expect_eq(k.rx_csum, MTP_RX_CSUM_AUTO);
    cr_expect_eq(k.no_seg_offload, 0);
    char *set[] = { "MTP_RX_CSUM=partial", "MTP_TSO=off", "MTP_RX_CSUMX=1", NULL };
    cr_assert_eq(mtp_knobs_from_env(&k, set, err, sizeof err), 0);
    cr_expect_eq(k.rx_csum, MTP_RX_CSUM_PARTIAL);
    cr_expect_eq(k.no_seg_offload, 1);
    char *empty[] = { "MTP_RX_CSUM=", "MTP_TSO=auto", NULL };
    cr_assert_eq(mtp_knobs_from_env(&k, empty, err, sizeof err), 0);
    cr_expect_eq(k.rx_csum, MTP_RX_CSUM_AUTO);
    cr_expect_eq(k.no_seg_offload, 0);
    char *bad[] = { "MTP_RX_CSUM=0", NULL };
    cr_assert_eq(mtp_knobs_from_env(&k, bad, err, sizeof err), MTP_EINVAL);
    cr_expect_str_eq(err, "MTP_RX_CSUM=0: unknown value (accepted: auto, full, partial)");
    char *bad_tso[] = { "MTP_TSO=1", NULL };
    cr_assert_eq(mtp_knobs_from_env(&k, bad_tso, err, sizeof err), MTP_EINVAL);
    cr_expect_str_eq(err, "MTP_TSO=1: unknown value (accepted: auto, off)");
}

Test(rx_csum, knobs_apply)
{
    struct mtp_knobs k = { .rx_csum = MTP_RX_CSUM_FULL, .no_seg_offload = 1 };
    struct mtp_stack_config sc = { 0 };
    struct mtp_target_config tc = { 0 };
    mtp_knobs_apply(&k, &sc, &tc);
    cr_expect_eq(sc.rx_csum, MTP_RX_CSUM_FULL);
    cr_expect_eq(sc.no_seg_offload, 1);
    cr_expect_eq(tc.no_seg_offload, 1);
}
