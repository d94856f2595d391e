/* The stack with a segmentation offload: a fake target that reports MTP_OFFLOAD_SEG for the
 * fixture program's protocol and records the frames it is handed. The fixture's segment
 * blueprint gets an offset-linear rule on its first 32-bit field. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "fixture_prog.h"
#include "mtp/net.h"
#include "mtp/stack.h"

#define OUR_IP 0x0a000001u
#define PEER_IP 0x0a000002u /* fx_emit_seg's destination */
#define SEG (1500u - 20 - FX_SEG_HDR)
#define MAX_FRAMES 64

static const uint8_t our_mac[6] = { 2, 0, 0, 0, 0, 1 }, peer_mac[6] = { 2, 0, 0, 0, 0, 2 };

/* ------------------------------------------------------------ fake target */

struct sent {
    uint8_t *bytes; /* copy of the frame */
    struct mtp_frame f;
};

struct mtp_target {
    uint32_t caps;
    struct sent sent[MAX_FRAMES];
    int nsent;
    uint8_t rx[128];
    uint32_t rx_len;
};

static int ft_link_info(struct mtp_target *t, struct mtp_link_info *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->mac, our_mac, 6);
    out->mtu = 1500;
    out->ipv4 = OUR_IP;
    out->prefix_len = 24;
    out->offload_caps = t->caps;
    out->owns_arp = 1;
    out->seg_max_bytes = 8000;
    out->seg_ip_proto = 253;
    out->seg_linear_off = 0;
    out->seg_linear_bytes = 4;
    return 0;
}

static int ft_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
{
    if (!t->rx_len || max < 1)
        return 0;
    memset(f, 0, sizeof *f);
    f->data = t->rx;
    f->len = t->rx_len;
    t->rx_len = 0;
    return 1;
}

static void ft_rx_release(struct mtp_target *t, struct mtp_frame *f, int n)
{
    (void)t, (void)f, (void)n;
}

/* Buffers never reused within a test (the stack keeps spares it never returns). */
#define FT_BUFS 1024
static uint8_t ft_buf[FT_BUFS][2048];
static int ft_next;

static int ft_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    (void)t;
    for (int i = 0; i < n; i++) {
        cr_assert_lt(ft_next, FT_BUFS);
        memset(&f[i], 0, sizeof f[i]);
        f[i].cap = sizeof ft_buf[0];
        f[i].data = ft_buf[ft_next++];
        f[i].handle = (uint64_t)(uintptr_t)f[i].data;
        /* what a target may leave in a fresh frame: the stack must clear it */
        f[i].seg_size = 77;
    }
    return n;
}

static int ft_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert_lt(t->nsent, MAX_FRAMES);
        struct sent *s = &t->sent[t->nsent++];
        s->f = f[i];
        s->bytes = malloc(f[i].len);
        memcpy(s->bytes, f[i].data, f[i].len); /* valid until we return */
    }
    return n;
}

static const struct mtp_target_ops fake_ops = {
    .name = "fake",
    .link_info = ft_link_info,
    .rx_burst = ft_rx_burst,
    .rx_release = ft_rx_release,
    .tx_alloc = ft_tx_alloc,
    .tx_burst = ft_tx_burst,
};

/* ------------------------------------------------------- linear program */

static void sp_seg_write(const void *bp, uint8_t *dst, uint32_t payload_len)
{
    const struct fx_seg *s = bp;
    (void)payload_len;
    memset(dst, 0, FX_SEG_HDR);
    fx_put32(dst, s->seq);
    fx_put32(dst + 4, s->flags);
}

static void sp_seq_rule(void *cur, const void *bp, const void *prev, uint32_t prev_len,
                        enum mtp_seg_pos pos)
{
    struct fx_seg *c = cur;
    const struct fx_seg *b = bp, *p = prev;
    c->seq = (pos == MTP_SEG_FIRST || pos == MTP_SEG_ONLY) ? b->seq : p->seq + prev_len;
}

static struct mtp_bp_desc sp_bps[FX_N_BPS];
static const struct mtp_srule_desc sp_srules[] = { { "seq_rule", FX_BP_SEG, sp_seq_rule, 0, 4 } };
static struct mtp_program sp_prog;
static uint8_t data[6000];
static struct mtp_target tgt;

static struct mtp_stack *stack_up(uint32_t caps)
{
    memcpy(sp_bps, fx_bps, sizeof sp_bps);
    sp_bps[FX_BP_SEG].write_hdr = sp_seg_write;
    sp_bps[FX_BP_SEG].csum_off = 8; /* a checksum field for the pseudo-header seed */
    sp_prog = fx_program;
    sp_prog.bps = sp_bps;
    sp_prog.srules = sp_srules;
    memset(&tgt, 0, sizeof tgt);
    ft_next = 0;
    tgt.caps = caps;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)(i * 13 + 1);
    struct mtp_stack_config c = { .prog = &sp_prog, .ops = &fake_ops, .target = &tgt,
                                  .seed = 9 };
    int err = 0;
    struct mtp_stack *s = mtp_stack_new(&c, &err);
    cr_assert_not_null(s, "mtp_stack_new: %d", err);
    return s;
}

static void post(struct mtp_stack *s, struct fx_op o)
{
    struct mtp_key k = fx_key(1);
    cr_assert_geq(mtp_stack_post(s, FX_EV_OP, &k, &o, sizeof o, 0), 0);
}

/* The peer answers the stack's ARP request. */
static void arp_answer(struct mtp_stack *s)
{
    struct mtp_eth_repr e = { .ethertype = MTP_ETHERTYPE_ARP };
    memcpy(e.dst, our_mac, 6);
    memcpy(e.src, peer_mac, 6);
    mtp_eth_emit(&e, tgt.rx);
    struct mtp_arp_repr a = { .oper = MTP_ARP_OP_REPLY, .spa = PEER_IP, .tpa = OUR_IP };
    memcpy(a.sha, peer_mac, 6);
    memcpy(a.tha, our_mac, 6);
    mtp_arp_emit(&a, tgt.rx + MTP_ETH_HDR_LEN);
    tgt.rx_len = 60;
    mtp_stack_poll(s, 1);
}

static void sent_free(void)
{
    for (int i = 0; i < tgt.nsent; i++)
        free(tgt.sent[i].bytes);
    tgt.nsent = 0;
}

/* Sends `len` bytes from stream offset `off` in one blueprint; frames go to tgt.sent. */
static void send_bytes(struct mtp_stack *s, uint32_t off, uint32_t len)
{
    post(s, (struct fx_op){ .op = FX_ADD_TX, .len = len, .addr = (uintptr_t)(data + off) });
    post(s, (struct fx_op){ .op = FX_GEN_SEG, .b = off, .len = len, .c = 5000 + off });
}

static void connect_peer(struct mtp_stack *s)
{
    post(s, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 });
    post(s, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF });
    /* the first packet waits for ARP */
    send_bytes(s, 0, 100);
    arp_answer(s);
    cr_assert_eq(tgt.nsent, 2, "ARP request, then the queued packet");
    sent_free();
}

Test(stack_super, a_super_frame_carries_the_offload_request)
{
    struct mtp_stack *s = stack_up(MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM | MTP_OFFLOAD_SEG);
    connect_peer(s);
    /* 4 packets of 1464 + 100: 7964 bytes of L4 fit 8000 - 20 with the header */
    uint32_t len = 3 * SEG + 100;
    send_bytes(s, 100, len);
    cr_assert_eq(tgt.nsent, 1);
    struct sent *f = &tgt.sent[0];
    uint32_t l4_len = FX_SEG_HDR + len;
    cr_expect_eq(f->f.len, MTP_ETH_HDR_LEN + 20 + l4_len);
    cr_expect_gt(f->f.len, 2048u, "larger than the target's buffers");
    cr_expect_eq(f->f.offload, MTP_OFFLOAD_SEG | MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM);
    cr_expect_eq(f->f.l3_off, MTP_ETH_HDR_LEN);
    cr_expect_eq(f->f.l4_off, MTP_ETH_HDR_LEN + 20);
    cr_expect_eq(f->f.seg_size, SEG);
    cr_expect_eq(f->f.l4_hdr_len, FX_SEG_HDR);
    cr_expect_eq(f->f.linear_off, 0);
    cr_expect_eq(f->f.linear_bytes, 4);
    cr_expect_eq(f->f.csum_off, 8, "the checksum field the device fills in");
    struct mtp_eth_repr e;
    cr_assert_eq(mtp_eth_parse(f->bytes, f->f.len, &e), 0);
    cr_expect_eq(memcmp(e.dst, peer_mac, 6), 0);
    const uint8_t *ip = f->bytes + MTP_ETH_HDR_LEN;
    cr_expect_eq(ip[9], 253);
    cr_expect_eq((uint32_t)(ip[2] << 8 | ip[3]), 20 + l4_len, "total length of the whole");
    cr_expect_eq(ip[10] | ip[11], 0, "IPv4 checksum left to the device");
    const uint8_t *l4 = ip + 20;
    cr_expect_eq(fx_get32(l4), 5100);
    uint16_t seed = (uint16_t)(l4[8] << 8 | l4[9]);
    cr_expect_eq(seed, mtp_csum_fold(mtp_csum_pseudo_ipv4(OUR_IP, PEER_IP, 253, 0)),
                 "pseudo header without the length");
    cr_expect_eq(memcmp(l4 + FX_SEG_HDR, data + 100, len), 0);
    cr_expect_eq(mtp_stack_stats(s)->tx_super_frames, 1);
    cr_expect_eq(mtp_stack_stats(s)->tx_super_pkts, 4);
    sent_free();

    /* one packet: an ordinary frame in the target's own buffer, fields cleared */
    send_bytes(s, 100 + len, 50);
    cr_assert_eq(tgt.nsent, 1);
    f = &tgt.sent[0];
    cr_expect_eq(f->f.len, MTP_ETH_HDR_LEN + 20 + FX_SEG_HDR + 50);
    cr_expect_eq(f->f.data, (uint8_t *)(uintptr_t)f->f.handle);
    cr_expect_eq(f->f.offload & MTP_OFFLOAD_SEG, 0);
    cr_expect_eq(f->f.seg_size, 0);
    cr_expect_eq(fx_get32(f->bytes + MTP_ETH_HDR_LEN + 20), 5100 + len);
    cr_expect_eq(memcmp(f->bytes + MTP_ETH_HDR_LEN + 20 + FX_SEG_HDR, data + 100 + len, 50), 0);
    sent_free();
    mtp_stack_free(s);
}

Test(stack_super, without_the_offload_packets_leave_one_by_one)
{
    struct mtp_stack *s = stack_up(MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM);
    connect_peer(s);
    send_bytes(s, 100, 3 * SEG);
    cr_assert_eq(tgt.nsent, 3);
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(tgt.sent[i].f.len, MTP_ETH_HDR_LEN + 20 + FX_SEG_HDR + SEG);
        cr_expect_eq(tgt.sent[i].f.offload & MTP_OFFLOAD_SEG, 0);
        cr_expect_eq(tgt.sent[i].f.offload & MTP_OFFLOAD_L4_CSUM, MTP_OFFLOAD_L4_CSUM);
        cr_expect_eq(tgt.sent[i].f.csum_off, 8, "where the device finishes the checksum");
        cr_expect_eq(fx_get32(tgt.sent[i].bytes + MTP_ETH_HDR_LEN + 20), 5100 + i * SEG);
    }
    cr_expect_eq(mtp_stack_stats(s)->tx_super_frames, 0);
    sent_free();
    mtp_stack_free(s);
}

Test(stack_super, while_the_next_hop_resolves_a_super_packet_waits_cut_in_software)
{
    struct mtp_stack *s = stack_up(MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM | MTP_OFFLOAD_SEG);
    post(s, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 });
    post(s, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF });
    send_bytes(s, 0, 2 * SEG + 10);
    cr_expect_eq(mtp_stack_stats(s)->tx_super_frames, 1);
    cr_assert_eq(tgt.nsent, 1, "the ARP request");
    arp_answer(s);
    cr_assert_eq(tgt.nsent, 4, "then the three packets");
    for (int i = 0; i < 3; i++) {
        struct sent *f = &tgt.sent[1 + i];
        uint32_t slice = i < 2 ? SEG : 10;
        cr_expect_eq(f->f.offload, 0, "software checksums");
        struct mtp_ipv4_repr ip;
        cr_assert_eq(mtp_ipv4_parse(f->bytes + MTP_ETH_HDR_LEN, f->f.len - MTP_ETH_HDR_LEN, &ip),
                     0, "valid IPv4 header and checksum");
        cr_expect_eq(ip.payload_len, FX_SEG_HDR + slice);
        const uint8_t *l4 = f->bytes + MTP_ETH_HDR_LEN + 20;
        cr_expect_eq(fx_get32(l4), 5000 + (uint32_t)i * SEG, "the field advanced");
        cr_expect_eq(fx_get32(l4 + 4), 0x5a);
        cr_expect_eq(mtp_csum_ipv4_l4(OUR_IP, PEER_IP, 253, l4, FX_SEG_HDR + slice), 0,
                     "L4 checksum");
        cr_expect_eq(memcmp(l4 + FX_SEG_HDR, data + i * SEG, slice), 0);
    }
    sent_free();
    /* resolved: the next one leaves whole */
    send_bytes(s, 2 * SEG + 10, 2 * SEG);
    cr_assert_eq(tgt.nsent, 1);
    cr_expect_eq(tgt.sent[0].f.offload & MTP_OFFLOAD_SEG, MTP_OFFLOAD_SEG);
    sent_free();
    mtp_stack_free(s);
}
