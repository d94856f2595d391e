/* The simulated wire alone: addressing, virtual time, each fault, determinism. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/net.h"
#include "sim.h"

#define US 1000ull
#define MS 1000000ull

static const struct mtp_target_ops *ops = &mtp_target_sim;

struct rig {
    struct mtp_sim_wire *w;
    struct mtp_target *ep[3];
    struct mtp_link_info li[3];
};

static void rig_up(struct rig *r, const struct mtp_sim_config *cfg, int n)
{
    r->w = mtp_sim_wire_new(NULL, cfg);
    cr_assert_not_null(r->w);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(mtp_sim_attach(r->w, 0x0a000001u + (uint32_t)i, 24, &r->ep[i]), 0);
        cr_assert_eq(ops->link_info(r->ep[i], &r->li[i]), 0);
    }
}

/* Sends one frame from ep[from] to `dst` carrying a 4-byte sequence number. */
static void send_seq(struct rig *r, int from, const uint8_t dst[6], uint32_t seq,
                     uint32_t payload)
{
    struct mtp_frame f;
    cr_assert_eq(ops->tx_alloc(r->ep[from], &f, 1), 1);
    cr_assert(f.cap >= MTP_ETH_HDR_LEN + payload);
    struct mtp_eth_repr e = { .ethertype = 0x88b5 };
    memcpy(e.dst, dst, 6);
    memcpy(e.src, r->li[from].mac, 6);
    mtp_eth_emit(&e, f.data);
    memset(f.data + MTP_ETH_HDR_LEN, 0x5a, payload);
    mtp_put32(f.data + MTP_ETH_HDR_LEN, seq);
    f.len = MTP_ETH_HDR_LEN + payload;
    cr_assert_eq(ops->tx_burst(r->ep[from], &f, 1), 1);
}

/* Receives everything due at the wire's time; records sequence numbers. */
static int recv_all(struct rig *r, int at, uint32_t *seqs, int max)
{
    struct mtp_frame f[16];
    int total = 0, n;
    while ((n = ops->rx_burst(r->ep[at], f, 16)) > 0) {
        for (int i = 0; i < n; i++)
            if (total < max)
                seqs[total++] = mtp_get32(f[i].data + MTP_ETH_HDR_LEN);
        ops->rx_release(r->ep[at], f, n);
    }
    return total;
}

Test(sim_wire, link_info)
{
    struct rig r;
    struct mtp_sim_config c = { .mtu = 9000 };
    rig_up(&r, &c, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(r.li[i].mtu, 9000);
        cr_assert_eq(r.li[i].owns_arp, 1);
        cr_assert_eq(r.li[i].ipv4, 0x0a000001u + (uint32_t)i);
        cr_assert_eq(r.li[i].prefix_len, 24);
        cr_assert_eq(r.li[i].mac[0] & 1, 0, "unicast MAC");
        for (int j = 0; j < i; j++)
            cr_assert_neq(memcmp(r.li[i].mac, r.li[j].mac, 6), 0);
    }
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, unicast_broadcast_and_delay)
{
    struct rig r;
    struct mtp_sim_config c = { .delay_ns = 50 * US };
    rig_up(&r, &c, 3);
    uint32_t s[8];
    send_seq(&r, 0, r.li[1].mac, 1, 46);
    send_seq(&r, 0, mtp_eth_broadcast, 2, 46);
    cr_assert_eq(mtp_sim_next_delivery(r.w), 50 * US);
    mtp_sim_set_now(r.w, 50 * US - 1);
    cr_assert_eq(recv_all(&r, 1, s, 8), 0, "nothing before the delay");
    mtp_sim_set_now(r.w, 50 * US);
    cr_assert_eq(recv_all(&r, 1, s, 8), 2);
    cr_assert_eq(s[0], 1);
    cr_assert_eq(s[1], 2);
    cr_assert_eq(recv_all(&r, 2, s, 8), 1, "the third endpoint sees the broadcast only");
    cr_assert_eq(s[0], 2);
    cr_assert_eq(recv_all(&r, 0, s, 8), 0, "no echo to the sender");
    mtp_sim_set_now(r.w, 10 * US);
    cr_assert_eq(mtp_sim_now(r.w), 50 * US, "the clock never goes back");
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, loss)
{
    struct rig r;
    struct mtp_sim_config c = { .seed = 1, .loss_ppm = 100000 }; /* 10 % */
    rig_up(&r, &c, 2);
    uint32_t s[1];
    int got = 0;
    for (uint32_t i = 0; i < 5000; i++) {
        send_seq(&r, 0, r.li[1].mac, i, 46);
        got += recv_all(&r, 1, s, 1);
    }
    const struct mtp_sim_stats *st = mtp_sim_stats(r.w);
    cr_assert_eq((uint64_t)got + st->lost, 5000);
    cr_assert(st->lost > 400 && st->lost < 600, "lost %lu of 5000", (unsigned long)st->lost);
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, duplication)
{
    struct rig r;
    struct mtp_sim_config c = { .seed = 2, .dup_ppm = 1000000 };
    rig_up(&r, &c, 2);
    uint32_t s[4];
    send_seq(&r, 0, r.li[1].mac, 9, 46);
    cr_assert_eq(recv_all(&r, 1, s, 4), 2);
    cr_assert_eq(s[0], 9);
    cr_assert_eq(s[1], 9);
    cr_assert_eq(mtp_sim_stats(r.w)->duplicated, 1);
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, corruption_flips_one_bit)
{
    struct rig r;
    struct mtp_sim_config c = { .seed = 3, .corrupt_ppm = 1000000 };
    rig_up(&r, &c, 2);
    for (int i = 0; i < 50; i++) {
        struct mtp_frame f;
        cr_assert_eq(ops->tx_alloc(r.ep[0], &f, 1), 1);
        memcpy(f.data, r.li[1].mac, 6);
        memset(f.data + 6, 0, 58);
        f.len = 64;
        ops->tx_burst(r.ep[0], &f, 1);
        int n = ops->rx_burst(r.ep[1], &f, 1);
        if (n == 0)
            continue; /* the flipped bit hit the destination MAC */
        int bits = 0;
        for (int b = 6; b < 64; b++)
            bits += __builtin_popcount(f.data[b]);
        bits += memcmp(f.data, r.li[1].mac, 6) != 0;
        cr_assert_eq(bits, 1, "frame %d", i);
        ops->rx_release(r.ep[1], &f, 1);
    }
    cr_assert_eq(mtp_sim_stats(r.w)->corrupted, 50);
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, reordering_and_jitter)
{
    struct rig r;
    struct mtp_sim_config c = { .seed = 4, .reorder_ppm = 200000, .delay_ns = 10 * US };
    rig_up(&r, &c, 2);
    for (uint32_t i = 0; i < 200; i++)
        send_seq(&r, 0, r.li[1].mac, i, 46);
    mtp_sim_set_now(r.w, 1000 * MS);
    uint32_t s[200];
    cr_assert_eq(recv_all(&r, 1, s, 200), 200, "nothing lost");
    int inversions = 0, seen[200] = { 0 };
    for (int i = 0; i < 200; i++) {
        seen[s[i]]++;
        inversions += i > 0 && s[i] < s[i - 1];
    }
    for (int i = 0; i < 200; i++)
        cr_assert_eq(seen[i], 1);
    cr_assert(inversions > 0);
    cr_assert(mtp_sim_stats(r.w)->reordered > 0);
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, rate_serialises)
{
    struct rig r;
    /* 1 MB/s: a 100-byte frame takes 100 us on the wire. */
    struct mtp_sim_config c = { .rate_bytes_per_sec = 1000000, .delay_ns = 5 * US };
    rig_up(&r, &c, 2);
    for (uint32_t i = 0; i < 4; i++)
        send_seq(&r, 0, r.li[1].mac, i, 100 - MTP_ETH_HDR_LEN);
    uint32_t s[4];
    for (uint32_t i = 0; i < 4; i++) {
        cr_assert_eq(mtp_sim_next_delivery(r.w), (i + 1) * 100 * US + 5 * US);
        mtp_sim_set_now(r.w, mtp_sim_next_delivery(r.w));
        cr_assert_eq(recv_all(&r, 1, s, 4), 1);
        cr_assert_eq(s[0], i);
    }
    mtp_sim_wire_free(r.w);
}

Test(sim_wire, queue_limit)
{
    struct rig r;
    struct mtp_sim_config c = { .queue_limit = 4, .delay_ns = 1 * US };
    rig_up(&r, &c, 2);
    for (uint32_t i = 0; i < 10; i++)
        send_seq(&r, 0, r.li[1].mac, i, 46);
    mtp_sim_set_now(r.w, 1 * MS);
    uint32_t s[10];
    cr_assert_eq(recv_all(&r, 1, s, 10), 4);
    cr_assert_eq(s[3], 3);
    cr_assert_eq(mtp_sim_stats(r.w)->queue_drops, 6);
    mtp_sim_wire_free(r.w);
}

static uint64_t faulty_run(uint64_t seed)
{
    struct rig r;
    struct mtp_sim_config c = { .seed = seed, .loss_ppm = 50000, .dup_ppm = 50000,
                                .reorder_ppm = 50000, .corrupt_ppm = 50000,
                                .delay_ns = 20 * US, .jitter_ns = 30 * US,
                                .rate_bytes_per_sec = 10000000 };
    rig_up(&r, &c, 2);
    uint32_t s[64];
    for (uint32_t i = 0; i < 300; i++) {
        send_seq(&r, (int)(i & 1), r.li[!(i & 1)].mac, i, 46 + i % 200);
        mtp_sim_set_now(r.w, mtp_sim_now(r.w) + 7 * US);
        recv_all(&r, 0, s, 64);
        recv_all(&r, 1, s, 64);
    }
    uint64_t h = mtp_sim_trace_hash(r.w);
    mtp_sim_wire_free(r.w);
    return h;
}

Test(sim_wire, deterministic_by_seed)
{
    uint64_t a = faulty_run(42), b = faulty_run(42), c = faulty_run(43);
    cr_assert_eq(a, b, "same seed, same trace");
    cr_assert_neq(a, c, "another seed, another trace");
}

Test(sim_wire, open_by_name)
{
    struct mtp_sim_config c = { 0 };
    struct mtp_sim_wire *w = mtp_sim_wire_new("wire0", &c);
    struct mtp_target *t;
    struct mtp_target_config tc = { .iface = "wire0", .args = "10.1.2.3/16" };
    cr_assert_eq(ops->open(&t, &tc), 0);
    struct mtp_link_info li;
    ops->link_info(t, &li);
    cr_assert_eq(li.ipv4, 0x0a010203u);
    cr_assert_eq(li.prefix_len, 16);
    ops->close(t);
    struct mtp_target_config bad[] = {
        { .iface = "nowire", .args = "10.1.2.3" },
        { .iface = "wire0", .args = "10.1.2" },
        { .iface = "wire0", .args = "10.1.2.3/33" },
        { .iface = "wire0", .args = NULL },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_expect_lt(ops->open(&t, &bad[i]), 0, "case %zu", i);
    mtp_sim_wire_free(w);
}

Test(sim_wire, unsent_tx_buffers_reclaimed_at_close)
{
    struct rig r;
    struct mtp_sim_config c = { 0 };
    rig_up(&r, &c, 2);
    struct mtp_frame f[5];
    cr_assert_eq(ops->tx_alloc(r.ep[0], f, 5), 5);
    f[2].len = 60;
    memcpy(f[2].data, r.li[1].mac, 6);
    cr_assert_eq(ops->tx_burst(r.ep[0], &f[2], 1), 1);
    ops->close(r.ep[0]); /* four never sent: LeakSanitizer checks they are freed */
    mtp_sim_wire_free(r.w);
}

/* An IPv4-looking frame with TOS `tos` and a sequence number after the IPv4 header. */
static void send_tos(struct rig *r, int from, const uint8_t dst[6], uint32_t seq, uint8_t tos,
                     uint32_t len)
{
    struct mtp_frame f;
    cr_assert_eq(ops->tx_alloc(r->ep[from], &f, 1), 1);
    struct mtp_eth_repr e = { .ethertype = MTP_ETHERTYPE_IPV4 };
    memcpy(e.dst, dst, 6);
    memcpy(e.src, r->li[from].mac, 6);
    mtp_eth_emit(&e, f.data);
    memset(f.data + MTP_ETH_HDR_LEN, 0, len - MTP_ETH_HDR_LEN);
    f.data[MTP_ETH_HDR_LEN] = 0x45;
    f.data[MTP_ETH_HDR_LEN + 1] = tos;
    mtp_put32(f.data + MTP_ETH_HDR_LEN + MTP_IP4_MIN_LEN, seq);
    f.len = len;
    cr_assert_eq(ops->tx_burst(r->ep[from], &f, 1), 1);
}

/* Runs the wire to its end; returns the order in which ep[at] received sequence numbers. */
static int drain_order(struct rig *r, int at, uint32_t *seqs, int max)
{
    int total = 0;
    uint64_t next;
    while ((next = mtp_sim_next_delivery(r->w)) != UINT64_MAX) {
        mtp_sim_set_now(r->w, next);
        struct mtp_frame f[16];
        int n;
        while ((n = ops->rx_burst(r->ep[at], f, 16)) > 0) {
            for (int i = 0; i < n; i++)
                if (total < max)
                    seqs[total++] = mtp_get32(f[i].data + MTP_ETH_HDR_LEN + MTP_IP4_MIN_LEN);
            ops->rx_release(r->ep[at], f, n);
        }
    }
    return total;
}

/* Two senders into one receiver's port of 1 MB/s (100 us per 100-byte frame): ten bulk frames
 * at level 0 from ep0, then one at level 7 from ep1 while the port is busy. */
static void port_scenario(struct rig *r, uint8_t prio_queues, uint32_t *order)
{
    struct mtp_sim_config c = { .delay_ns = 5 * US, .port_rate_bytes_per_sec = 1000000,
                                .prio_queues = prio_queues };
    rig_up(r, &c, 3);
    for (uint32_t i = 0; i < 10; i++)
        send_tos(r, 0, r->li[2].mac, i, 0, 100);
    mtp_sim_set_now(r->w, 150 * US);
    send_tos(r, 1, r->li[2].mac, 99, 7 << 5, 100);
    cr_assert_eq(drain_order(r, 2, order, 11), 11);
}

Test(sim_wire, port_serialises_and_strict_priority_overtakes)
{
    struct rig r;
    uint32_t order[11];
    port_scenario(&r, 1, order);
    /* frame 1 was on the port's wire (105..205 us) when 99 arrived at 155 us: 99 goes next */
    cr_expect_eq(order[0], 0);
    cr_expect_eq(order[1], 1);
    cr_expect_eq(order[2], 99, "the level-7 frame overtook eight queued level-0 frames");
    cr_expect_eq(order[10], 9);
    cr_expect_eq(mtp_sim_now(r.w), 5 * US + 11 * 100 * US, "the port never idled");
    cr_expect_eq(mtp_sim_stats(r.w)->port_overtakes, 1);
    mtp_sim_wire_free(r.w);

    port_scenario(&r, 0, order);
    cr_expect_eq(order[10], 99, "one FIFO: the late frame waits for the bulk");
    cr_expect_eq(mtp_sim_stats(r.w)->port_overtakes, 0);
    mtp_sim_wire_free(r.w);
}
