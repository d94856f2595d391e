/*
 * stack.c — one stack: a target, the layers below the transport (Ethernet, ARP, IPv4, ICMP)
 * and the engine that runs the program (mtp/stack.h).
 *
 * Receive: rx burst -> Ethernet (own MAC or broadcast) -> ARP | IPv4 -> the program's
 * ip_proto goes to mtp_engine_rx, an ICMP error quoting a packet of it that we sent to
 * mtp_engine_rx_error, ICMP echo is answered, other protocols get ICMP protocol
 * unreachable when the stack owns the interface. Every refused frame is counted. An L4
 * checksum field holding only the pseudo-header sum (the kernel's CHECKSUM_PARTIAL on veth,
 * lo, tap) passes where MTP_RX_CSUM accepts it on this kind of link (cfg->rx_csum,
 * link_info.kind); a packet longer than the MTU (the kernel's GSO/GRO) is one segment.
 * Transmit: the engine writes its L4 bytes straight into a target frame after room for
 * the Ethernet and IPv4 headers; we add the IPv4 header, the checksums (or offload flags)
 * and the Ethernet header with the next hop's MAC (own ARP cache, or the kernel's table
 * through ops->neigh_lookup). A packet whose next hop is unresolved waits in the ARP
 * queue as a copy; its frame is kept as a spare for the next packet.
 * With a segmentation offload for the program's protocol (link_info MTP_OFFLOAD_SEG) the
 * engine writes into a 64 KiB buffer instead and may return a super-packet (several packets
 * of an offset-linear seg rule as one): it leaves as one MTP_OFFLOAD_SEG frame pointing at
 * that buffer, flushed at once; an ordinary packet is copied into its frame.
 *
 * Frames from tx_alloc that were never sent (spares) go back to the target when it is
 * closed: the target contract has no "free without sending".
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "mtp/engine.h"
#include "mtp/errors.h"
#include "mtp/net.h"
#include "mtp/params.h"
#include "mtp/stack.h"
#include "arp.h"
#include "pcap.h"
#include "port_pool.h"

#define STACK_BURST 32              /* frames per rx/tx burst */
#define STACK_TX_BUDGET 256         /* engine packets sent per poll before rx gets a turn */
#define STACK_L3_OFF MTP_ETH_HDR_LEN
#define STACK_L4_OFF (MTP_ETH_HDR_LEN + MTP_IP4_MIN_LEN)
#define STACK_MIN_FRAME 60          /* Ethernet minimum without FCS: pad short frames */
#define ICMP_ERR_PER_SEC 100
#define KERNEL_NEIGH_POLL_NS 1000000ull /* neigh_lookup retry while the kernel resolves */
#define ICMP_ERR_BURST 20
#define EPHEMERAL_LO 49152u
#define EPHEMERAL_N (65536u - EPHEMERAL_LO)

struct mtp_stack {
    const struct mtp_program *prog;
    const struct mtp_target_ops *ops;
    struct mtp_target *t;
    struct mtp_engine *eng;
    struct mtp_link_info link;
    uint32_t ip, prefix_len, gateway, mtu;
    int l4_csum;                    /* the program's packets carry a pseudo-header checksum */
    int32_t rx_csum_off;            /* where its field is in the L4 header, -1: not known */
    int accept_partial;             /* MTP_RX_CSUM on this link: a field holding only the
                                       pseudo-header sum is the kernel's CHECKSUM_PARTIAL */
    uint16_t ip_id;
    struct mtp_stats stats;
    struct mtp_arp arp;
    struct mtp_ratelimit icmp_rl;
    struct mtp_pcap *pcap;
    uint64_t now;                   /* time of the call in progress (for ARP callbacks) */
    int tx_more;                    /* the engine had more to send when the budget ran out */
    uint8_t *super;                 /* with a segmentation offload: super-frames are built
                                       here, then copied by the target at tx_burst */
    uint32_t super_l4_max;          /* L4 bytes of the largest super-frame */

    struct mtp_frame batch[STACK_BURST];
    int nbatch;
    struct mtp_frame spare[2 * STACK_BURST]; /* refills hold STACK_BURST, plus kept ones */
    int nspare;

    uint64_t ports[65536 / 64];     /* claimed ports of the program's ip_proto */
    uint64_t eph[65536 / 64];       /* those of them claimed as ephemeral (exclusive) */
    uint32_t eph_next;              /* next ephemeral candidate, 0..EPHEMERAL_N-1 */
    struct mtp__port_pool parked;   /* ephemeral ports released by their connection, still
                                       claimed at the target (port_pool.h) */
    uint64_t park_age_ns;           /* mtp_stack_park_ports: reused after; 0: no parking */
};

/* ------------------------------------------------------------- ports */

static int bit(const uint64_t *set, uint16_t p) { return (int)(set[p / 64] >> (p % 64) & 1); }
static void bit_set(uint64_t *set, uint16_t p) { set[p / 64] |= 1ull << (p % 64); }
static void bit_clear(uint64_t *set, uint16_t p) { set[p / 64] &= ~(1ull << (p % 64)); }

static int port_used(const struct mtp_stack *s, uint16_t p) { return bit(s->ports, p); }

static void target_release(struct mtp_stack *s, uint16_t p)
{
    if (s->ops->port_release)
        s->ops->port_release(s->t, s->prog->ip_proto, p);
}

/* Parked ports unused for MTP__PORT_POOL_HOLD_NS go back to the target. */
static void parked_expire(struct mtp_stack *s)
{
    uint16_t p;
    while ((p = mtp__port_pool_expire(&s->parked, s->now)) != 0)
        target_release(s, p);
}

static int eph_reuse(struct mtp_stack *s, uint16_t p)
{
    bit_set(s->ports, p);
    bit_set(s->eph, p);
    return p;
}

/* ------------------------------------------------------------- tx frames */

static int frame_get(struct mtp_stack *s, struct mtp_frame *f)
{
    if (s->nspare == 0) {
        int n = s->ops->tx_alloc(s->t, s->spare, STACK_BURST);
        if (n <= 0)
            return 0;
        s->nspare = n;
    }
    *f = s->spare[--s->nspare];
    f->len = 0;
    f->offload = 0;
    f->l3_off = f->l4_off = f->csum_off = 0;
    f->seg_size = f->l4_hdr_len = f->linear_off = 0;
    f->linear_bytes = 0;
    return 1;
}

/* An unused frame goes back to the spares (always room: it came from there). */
static void frame_keep(struct mtp_stack *s, const struct mtp_frame *f)
{
    s->spare[s->nspare++] = *f;
}

static void batch_flush(struct mtp_stack *s)
{
    if (s->nbatch == 0)
        return;
    int n = s->ops->tx_burst(s->t, s->batch, s->nbatch);
    if (n < 0)
        n = 0;
    for (int i = 0; i < n; i++) {
        s->stats.tx_frames++;
        s->stats.tx_bytes += s->batch[i].len;
    }
    s->stats.drop_tx_full += (uint64_t)(s->nbatch - n); /* the target owns them either way */
    s->nbatch = 0;
}

/* Pads to the Ethernet minimum and queues the frame for the next tx burst. */
static void frame_send(struct mtp_stack *s, struct mtp_frame *f)
{
    if (f->len < STACK_MIN_FRAME && f->cap >= STACK_MIN_FRAME) {
        memset(f->data + f->len, 0, STACK_MIN_FRAME - f->len);
        f->len = STACK_MIN_FRAME;
    }
    if (s->pcap)
        mtp__pcap_write(s->pcap, f->data, f->len, s->now);
    s->batch[s->nbatch++] = *f;
    if (s->nbatch == STACK_BURST)
        batch_flush(s);
}

static void eth_fill(struct mtp_stack *s, uint8_t *frame, const uint8_t dst[6], uint16_t type)
{
    struct mtp_eth_repr e = { .ethertype = type };
    memcpy(e.dst, dst, 6);
    memcpy(e.src, s->link.mac, 6);
    mtp_eth_emit(&e, frame);
}

/* ------------------------------------------------------------ next hops */

static void arp_solicit(void *user, uint32_t ip, uint64_t now_ns);
static void arp_send(void *user, const uint8_t mac[6], const uint8_t *pkt, uint32_t len,
                     uint64_t now_ns);

/* 0 and the MAC; -EAGAIN: resolving (queue the packet); -ENETUNREACH: no route. */
static int next_hop_mac(struct mtp_stack *s, uint32_t dst, uint32_t *hop, uint8_t mac[6])
{
    *hop = mtp_ipv4_next_hop(s->ip, s->prefix_len, s->gateway, dst);
    if (*hop == 0)
        return -ENETUNREACH;
    if (*hop == 0xffffffffu) {
        memcpy(mac, mtp_eth_broadcast, 6);
        return 0;
    }
    return mtp__arp_lookup(&s->arp, *hop, mac, s->now);
}

/* Sends the IPv4 packet at f->data + STACK_L3_OFF (complete, checksums final). */
static void ip_output(struct mtp_stack *s, struct mtp_frame *f, uint32_t l3_len, uint32_t dst)
{
    uint32_t hop;
    uint8_t mac[6];
    int r = next_hop_mac(s, dst, &hop, mac);
    if (r == 0) {
        eth_fill(s, f->data, mac, MTP_ETHERTYPE_IPV4);
        f->len = STACK_L3_OFF + l3_len;
        frame_send(s, f);
        return;
    }
    if (r == -EAGAIN)
        mtp__arp_enqueue(&s->arp, hop, f->data + STACK_L3_OFF, l3_len, s->now);
    else
        s->stats.drop_no_route++;
    frame_keep(s, f);
}

/* ARP io: ask for the MAC of `ip`. */
static void arp_solicit(void *user, uint32_t ip, uint64_t now_ns)
{
    struct mtp_stack *s = user;
    if (s->ops->neigh_lookup) {
        uint8_t mac[6];
        if (s->ops->neigh_lookup(s->t, ip, mac) == 0)
            mtp__arp_learn(&s->arp, ip, mac, 1, now_ns);
        return; /* else: asked again at the next retry */
    }
    struct mtp_frame f;
    if (!frame_get(s, &f))
        return;
    struct mtp_arp_repr r = { .oper = MTP_ARP_OP_REQUEST, .spa = s->ip, .tpa = ip };
    memcpy(r.sha, s->link.mac, 6);
    eth_fill(s, f.data, mtp_eth_broadcast, MTP_ETHERTYPE_ARP);
    mtp_arp_emit(&r, f.data + MTP_ETH_HDR_LEN);
    f.len = MTP_ETH_HDR_LEN + MTP_ARP_LEN;
    s->stats.arp_requests++;
    frame_send(s, &f);
}

/* ARP io: a queued packet's next hop is known. */
static void arp_send(void *user, const uint8_t mac[6], const uint8_t *pkt, uint32_t len,
                     uint64_t now_ns)
{
    (void)now_ns;
    struct mtp_stack *s = user;
    struct mtp_frame f;
    if (!frame_get(s, &f)) {
        s->stats.drop_tx_full++;
        return;
    }
    if (len > f.cap - STACK_L3_OFF) {
        s->stats.drop_tx_full++;
        frame_keep(s, &f);
        return;
    }
    eth_fill(s, f.data, mac, MTP_ETHERTYPE_IPV4);
    memcpy(f.data + STACK_L3_OFF, pkt, len);
    f.len = STACK_L3_OFF + len;
    frame_send(s, &f);
}

/* ---------------------------------------------------------------- ICMP */

/* Writes the IPv4 header for an ICMP message of `l4_len` bytes already at STACK_L4_OFF. */
static void icmp_output(struct mtp_stack *s, struct mtp_frame *f, uint32_t dst, uint8_t tos,
                        uint32_t l4_len)
{
    struct mtp_ipv4_repr ip = { .src = s->ip, .dst = dst, .proto = MTP_IPPROTO_ICMP,
                                .tos = tos, .ttl = MTP_IP4_DEFAULT_TTL, .id = s->ip_id++,
                                .payload_len = l4_len };
    mtp_ipv4_emit(&ip, f->data + STACK_L3_OFF, 0);
    ip_output(s, f, MTP_IP4_MIN_LEN + l4_len, dst);
}

/* Destination unreachable for the packet `pkt` (rate limited; never for broadcasts). */
static int icmp_send_unreach(struct mtp_stack *s, uint8_t code, const uint8_t *pkt,
                             const struct mtp_ipv4_repr *ip)
{
    if (ip->src == 0 || ip->src == 0xffffffffu || !mtp_ratelimit_take(&s->icmp_rl, s->now))
        return 0;
    struct mtp_frame f;
    if (!frame_get(s, &f))
        return 0;
    struct mtp_icmp_repr r;
    mtp_icmp_unreach_repr(&r, code, pkt, ip);
    uint32_t len = mtp_icmp_emit(&r, f.data + STACK_L4_OFF);
    s->stats.icmp_unreach_sent++;
    icmp_output(s, &f, ip->src, 0, len);
    return 1;
}

static void icmp_input(struct mtp_stack *s, const struct mtp_ipv4_repr *ip, const uint8_t *l4)
{
    struct mtp_icmp_repr r;
    int res = mtp_icmp_parse(l4, ip->payload_len, &r);
    if (res != MTP_NET_OK) {
        if (res == MTP_NET_BAD_CSUM)
            s->stats.drop_bad_csum++;
        else
            s->stats.drop_malformed++;
        return;
    }
    if (r.type != MTP_ICMP_ECHO_REQUEST || r.code != 0)
        return; /* nothing else needs an answer */
    struct mtp_frame f;
    if (!frame_get(s, &f))
        return;
    if (mtp_icmp_len(&r) > f.cap - STACK_L4_OFF) {
        frame_keep(s, &f);
        return;
    }
    r.type = MTP_ICMP_ECHO_REPLY;
    uint32_t len = mtp_icmp_emit(&r, f.data + STACK_L4_OFF);
    s->stats.icmp_echo_replies++;
    icmp_output(s, &f, ip->src, ip->tos, len);
}

static void icmp_error_count(struct mtp_stack *s, const struct mtp_icmp_repr *r)
{
    if (r->type == MTP_ICMP_DEST_UNREACH) {
        s->stats.icmp_err_unreach++;
        s->stats.icmp_err_frag_needed += r->code == MTP_ICMP_FRAG_NEEDED;
    } else if (r->type == MTP_ICMP_TIME_EXCEEDED) {
        s->stats.icmp_err_time_exceeded++;
    } else {
        s->stats.icmp_err_param++;
    }
}

/* An ICMP error about a packet of the program's protocol that this stack sent goes to the
 * program (mtp_engine_rx_error), which delivers it only to a live context. Returns 0 when
 * the message is something else (echo, an error about another protocol or sender). */
static int icmp_error_input(struct mtp_stack *s, const struct mtp_ipv4_repr *ip, const uint8_t *l4)
{
    struct mtp_icmp_repr r;
    struct mtp_icmp_quote q;
    if (mtp_icmp_parse(l4, ip->payload_len, &r) != MTP_NET_OK ||
        (r.type != MTP_ICMP_DEST_UNREACH && r.type != MTP_ICMP_TIME_EXCEEDED &&
         r.type != MTP_ICMP_PARAM_PROBLEM))
        return 0;
    if (mtp_icmp_quote_parse(&r, &q) != MTP_NET_OK) {
        s->stats.icmp_err_malformed++;
        return 1;
    }
    if (q.ip.proto != s->prog->ip_proto || q.ip.src != s->ip)
        return 0;
    icmp_error_count(s, &r);
    struct mtp_rx_pkt rx = {
        .l4 = q.l4,
        .l4_len = q.l4_len,
        .ip = { .src = q.ip.src, .dst = q.ip.dst,
                .total_len = (uint16_t)(q.ip.hdr_len + q.ip.payload_len), .id = q.ip.id,
                .hdr_len = q.ip.hdr_len, .tos = q.ip.tos, .ttl = q.ip.ttl, .proto = q.ip.proto,
                .icmp_type = r.type, .icmp_code = r.code, .icmp_mtu = q.mtu },
    };
    mtp_engine_rx_error(s->eng, &rx, s->now); /* counts delivered / unmatched itself */
    return 1;
}

/* ------------------------------------------------------------------ rx */

static void arp_input(struct mtp_stack *s, const uint8_t *pkt, uint32_t len)
{
    struct mtp_arp_repr r;
    int res = mtp_arp_parse(pkt, len, &r);
    if (res == MTP_NET_MALFORMED) {
        s->stats.drop_malformed++;
        return;
    }
    if (res != MTP_NET_OK || s->ops->neigh_lookup) { /* the kernel's ARP, not ours */
        s->stats.drop_not_mine++;
        return;
    }
    if (!mtp__arp_input(&s->arp, &r, s->now))
        return;
    struct mtp_frame f;
    if (!frame_get(s, &f))
        return;
    struct mtp_arp_repr reply = { .oper = MTP_ARP_OP_REPLY, .spa = s->ip, .tpa = r.spa };
    memcpy(reply.sha, s->link.mac, 6);
    memcpy(reply.tha, r.sha, 6);
    eth_fill(s, f.data, r.sha, MTP_ETHERTYPE_ARP);
    mtp_arp_emit(&reply, f.data + MTP_ETH_HDR_LEN);
    f.len = MTP_ETH_HDR_LEN + MTP_ARP_LEN;
    s->stats.arp_replies++;
    frame_send(s, &f);
}

/* The segment's L4 checksum: complete, or only the pseudo-header sum where the policy
 * accepts that (MTP_RX_CSUM); every refusal is counted by its reason. */
static int l4_csum_ok(struct mtp_stack *s, const struct mtp_ipv4_repr *ip, const uint8_t *l4)
{
    if (mtp_csum_ipv4_l4(ip->src, ip->dst, ip->proto, l4, ip->payload_len) == 0)
        return 1;
    if (s->rx_csum_off >= 0 && mtp_csum_is_partial(ip->src, ip->dst, ip->proto, l4,
                                                   ip->payload_len, (uint32_t)s->rx_csum_off)) {
        if (s->accept_partial) {
            s->stats.rx_csum_partial++;
            return 1;
        }
        s->stats.drop_csum_partial++;
        return 0;
    }
    s->stats.drop_bad_csum++;
    return 0;
}

/* `pkt`: the IPv4 packet, quoted by an ICMP error if nobody receives it. */
static int l4_input(struct mtp_stack *s, const struct mtp_ipv4_repr *ip, const uint8_t *pkt)
{
    const uint8_t *l4 = pkt + ip->hdr_len;
    if (ip->payload_len < s->prog->l4_min_len) {
        s->stats.drop_malformed++;
        return 0;
    }
    if (s->l4_csum && !l4_csum_ok(s, ip, l4))
        return 0;
    struct mtp_rx_pkt rx = {
        .l4 = l4,
        .l4_len = ip->payload_len,
        .ip = { .src = ip->src, .dst = ip->dst,
                .total_len = (uint16_t)(ip->hdr_len + ip->payload_len), .id = ip->id,
                .hdr_len = ip->hdr_len, .tos = ip->tos, .ttl = ip->ttl, .proto = ip->proto },
    };
    /* the engine counts its own drops; a packet the program has no receiver for gets a port
     * unreachable when the interface is ours (otherwise the kernel answers) */
    if (mtp_engine_rx(s->eng, &rx, s->now) == MTP_ENOENT && s->link.owns_arp)
        icmp_send_unreach(s, MTP_ICMP_PORT_UNREACH, pkt, ip);
    return 1;
}

static int ipv4_input(struct mtp_stack *s, const uint8_t *pkt, uint32_t len)
{
    struct mtp_ipv4_repr ip;
    switch (mtp_ipv4_parse(pkt, len, &ip)) {
    case MTP_NET_OK: break;
    case MTP_NET_BAD_CSUM: s->stats.drop_bad_csum++; return 0;
    case MTP_NET_FRAGMENT: s->stats.drop_ip_frag++; return 0;
    default: s->stats.drop_malformed++; return 0;
    }
    if (ip.dst != s->ip) {
        s->stats.drop_not_mine++;
        return 0;
    }
    if (ip.hdr_len + ip.payload_len > s->mtu)
        s->stats.rx_super_frames++; /* GSO/GRO from the kernel: one segment, many MSS */
    const uint8_t *l4 = pkt + ip.hdr_len;
    if (ip.proto == s->prog->ip_proto)
        return l4_input(s, &ip, pkt);
    /* the XDP hook passes up only the ICMP errors that quote our ports */
    if (ip.proto == MTP_IPPROTO_ICMP && icmp_error_input(s, &ip, l4))
        return 1;
    if (!s->link.owns_arp) { /* the kernel's traffic; it should not have reached us */
        s->stats.drop_not_mine++;
        return 0;
    }
    if (ip.proto == MTP_IPPROTO_ICMP)
        icmp_input(s, &ip, l4);
    else if (!icmp_send_unreach(s, MTP_ICMP_PROTO_UNREACH, pkt, &ip))
        s->stats.drop_not_mine++;
    return 1;
}

static int frame_input(struct mtp_stack *s, const uint8_t *data, uint32_t len)
{
    s->stats.rx_frames++;
    s->stats.rx_bytes += len;
    if (s->pcap)
        mtp__pcap_write(s->pcap, data, len, s->now);
    struct mtp_eth_repr eth;
    if (mtp_eth_parse(data, len, &eth) != MTP_NET_OK) {
        s->stats.drop_malformed++;
        return 0;
    }
    if (!mtp_eth_is_for(&eth, s->link.mac)) {
        s->stats.drop_not_mine++;
        return 0;
    }
    const uint8_t *l3 = data + MTP_ETH_HDR_LEN;
    uint32_t l3_len = len - MTP_ETH_HDR_LEN;
    if (eth.ethertype == MTP_ETHERTYPE_IPV4)
        return ipv4_input(s, l3, l3_len);
    if (eth.ethertype == MTP_ETHERTYPE_ARP)
        arp_input(s, l3, l3_len);
    else
        s->stats.drop_not_mine++;
    return 0;
}

/* ------------------------------------------------------------------ tx */

/* IPv4 header and checksums of an engine packet; offload only if it leaves now. */
static void engine_pkt_finish(struct mtp_stack *s, struct mtp_frame *f,
                              const struct mtp_tx_meta *m, uint32_t src, int offload)
{
    uint8_t *l4 = f->data + STACK_L4_OFF;
    int ip_off = offload && (s->link.offload_caps & MTP_OFFLOAD_IPV4_CSUM);
    struct mtp_ipv4_repr ip = { .src = src, .dst = m->dst_ip, .proto = m->ip_proto,
                                .tos = m->tos, .ttl = MTP_IP4_DEFAULT_TTL, .id = s->ip_id++,
                                .frag = MTP_IP4_DF, .payload_len = m->l4_len };
    mtp_ipv4_emit(&ip, f->data + STACK_L3_OFF, ip_off);
    f->l3_off = STACK_L3_OFF;
    f->l4_off = STACK_L4_OFF;
    if (ip_off)
        f->offload |= MTP_OFFLOAD_IPV4_CSUM;
    if (m->csum_off < 0 || (uint32_t)m->csum_off + 2 > m->l4_len)
        return;
    uint8_t *field = l4 + m->csum_off;
    if (offload && (s->link.offload_caps & MTP_OFFLOAD_L4_CSUM)) {
        /* The device finishes it from the pseudo-header sum we seed (not complemented). */
        mtp_put16(field, mtp_csum_fold(mtp_csum_pseudo_ipv4(src, m->dst_ip, m->ip_proto,
                                                            m->l4_len)));
        f->offload |= MTP_OFFLOAD_L4_CSUM;
        f->csum_off = (uint16_t)m->csum_off;
    } else {
        mtp_put16(field, 0);
        mtp_put16(field, mtp_csum_ipv4_l4(src, m->dst_ip, m->ip_proto, l4, m->l4_len));
    }
}

/* Adds `v` to the big-endian field of `bytes` bytes at p (wrapping at its width). */
static void be_field_add(uint8_t *p, uint32_t bytes, uint64_t v)
{
    for (uint32_t i = bytes; i-- > 0 && v;) {
        uint64_t sum = (uint64_t)p[i] + (v & 0xff);
        p[i] = (uint8_t)sum;
        v = (v >> 8) + (sum >> 8);
    }
}

/* Cuts a super-packet in software, as the device would (each packet: the first one's header
 * with the linear field advanced by the payload bytes before it, full checksums), into the
 * ARP queue of its next hop. */
static void super_cut_to_arp(struct mtp_stack *s, const struct mtp_tx_meta *m, uint32_t hop,
                             uint32_t src, uint32_t l4_len)
{
    const uint8_t *l4 = s->super + STACK_L4_OFF;
    uint32_t pay = l4_len - m->hdr_len;
    uint8_t *pkt = malloc(MTP_IP4_MIN_LEN + m->hdr_len + m->seg_size);
    if (!pkt) {
        s->stats.drop_arp_unresolved++;
        return;
    }
    for (uint32_t i = 0, off = 0; off < pay; i++, off += m->seg_size) {
        uint32_t slice = pay - off < m->seg_size ? pay - off : m->seg_size;
        uint8_t *p4 = pkt + MTP_IP4_MIN_LEN;
        memcpy(p4, l4, m->hdr_len);
        be_field_add(p4 + m->linear_off, m->linear_bytes, off);
        memcpy(p4 + m->hdr_len, l4 + m->hdr_len + off, slice);
        struct mtp_ipv4_repr ip = { .src = src, .dst = m->dst_ip, .proto = m->ip_proto,
                                    .tos = m->tos, .ttl = MTP_IP4_DEFAULT_TTL,
                                    .id = (uint16_t)(s->ip_id + i), .frag = MTP_IP4_DF,
                                    .payload_len = m->hdr_len + slice };
        mtp_ipv4_emit(&ip, pkt, 0);
        if (m->csum_off >= 0 && (uint32_t)m->csum_off + 2 <= m->hdr_len) {
            mtp_put16(p4 + m->csum_off, 0);
            mtp_put16(p4 + m->csum_off, mtp_csum_ipv4_l4(src, m->dst_ip, m->ip_proto, p4,
                                                          m->hdr_len + slice));
        }
        mtp__arp_enqueue(&s->arp, hop, pkt, MTP_IP4_MIN_LEN + m->hdr_len + slice, s->now);
    }
    free(pkt);
}

/* A super-packet of the engine (its L4 bytes at s->super + STACK_L4_OFF) leaves as one
 * frame the device segments. While its next hop resolves, its packets wait in the ARP
 * queue like single ones, cut in software. */
static void super_send(struct mtp_stack *s, struct mtp_frame *f, const struct mtp_tx_meta *m,
                       uint32_t l4_len)
{
    uint32_t src = m->src_ip ? m->src_ip : s->ip;
    uint32_t hop;
    uint8_t mac[6];
    int r = next_hop_mac(s, m->dst_ip, &hop, mac);
    if (r != 0) {
        if (r == -EAGAIN)
            super_cut_to_arp(s, m, hop, src, l4_len);
        else
            s->stats.drop_no_route++;
        s->ip_id = (uint16_t)(s->ip_id + m->n_pkts);
        frame_keep(s, f);
        return;
    }
    uint8_t *frame = s->super;
    /* IPv4 header of the whole super-frame; the device writes each packet's length, id and
     * checksum (left 0 here, as checksum offload wants it). */
    struct mtp_ipv4_repr ip = { .src = src, .dst = m->dst_ip, .proto = m->ip_proto,
                                .tos = m->tos, .ttl = MTP_IP4_DEFAULT_TTL, .id = s->ip_id,
                                .frag = MTP_IP4_DF, .payload_len = l4_len };
    s->ip_id = (uint16_t)(s->ip_id + m->n_pkts);
    mtp_ipv4_emit(&ip, frame + STACK_L3_OFF, 1);
    if (m->csum_off >= 0 && (uint32_t)m->csum_off + 2 <= m->hdr_len)
        /* segmentation offload seeds the pseudo header without the length: the device
         * adds each packet's own */
        mtp_put16(frame + STACK_L4_OFF + m->csum_off,
                  mtp_csum_fold(mtp_csum_pseudo_ipv4(src, m->dst_ip, m->ip_proto, 0)));
    eth_fill(s, frame, mac, MTP_ETHERTYPE_IPV4);
    f->data = frame;
    f->len = STACK_L4_OFF + l4_len;
    f->offload = MTP_OFFLOAD_SEG | MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM;
    f->l3_off = STACK_L3_OFF;
    f->l4_off = STACK_L4_OFF;
    f->csum_off = m->csum_off >= 0 ? (uint16_t)m->csum_off : 0;
    f->seg_size = (uint16_t)m->seg_size;
    f->l4_hdr_len = (uint16_t)m->hdr_len;
    f->linear_off = m->linear_off;
    f->linear_bytes = m->linear_bytes;
    frame_send(s, f);
    batch_flush(s); /* s->super is reused by the next one */
}

/* Moves the engine's packets into frames. Returns the number handled. */
static int tx_drain(struct mtp_stack *s)
{
    int done = 0;
    s->tx_more = 0;
    while (done < STACK_TX_BUDGET) {
        struct mtp_frame f;
        if (!frame_get(s, &f)) {
            s->tx_more = 1; /* the target is out of buffers: try again soon */
            break;
        }
        uint32_t room = f.cap - STACK_L4_OFF;
        if (room > s->mtu - MTP_IP4_MIN_LEN)
            room = s->mtu - MTP_IP4_MIN_LEN;
        struct mtp_tx_meta m;
        memset(&m, 0, sizeof m);
        m.csum_off = -1;
        int n;
        if (s->super) {
            /* a super-packet or an ordinary one: the engine chooses */
            n = mtp_engine_tx_next(s->eng, s->super + STACK_L4_OFF, s->super_l4_max, &m, s->now);
            if (n > 0 && m.n_pkts > 1) {
                super_send(s, &f, &m, (uint32_t)n);
                done++;
                continue;
            }
            if (n > 0 && (uint32_t)n > room) {
                s->stats.instr_failed++; /* cannot happen: ordinary packets fit the MTU */
                frame_keep(s, &f);
                continue;
            }
            if (n > 0)
                memcpy(f.data + STACK_L4_OFF, s->super + STACK_L4_OFF, (size_t)n);
        } else {
            n = mtp_engine_tx_next(s->eng, f.data + STACK_L4_OFF, room, &m, s->now);
        }
        if (n <= 0) {
            frame_keep(s, &f);
            break;
        }
        m.l4_len = (uint32_t)n;
        uint32_t src = m.src_ip ? m.src_ip : s->ip;
        uint32_t hop;
        uint8_t mac[6];
        int r = next_hop_mac(s, m.dst_ip, &hop, mac);
        engine_pkt_finish(s, &f, &m, src, r == 0);
        if (r == 0) {
            eth_fill(s, f.data, mac, MTP_ETHERTYPE_IPV4);
            f.len = STACK_L4_OFF + (uint32_t)n;
            frame_send(s, &f);
        } else {
            if (r == -EAGAIN)
                mtp__arp_enqueue(&s->arp, hop, f.data + STACK_L3_OFF,
                                 MTP_IP4_MIN_LEN + (uint32_t)n, s->now);
            else
                s->stats.drop_no_route++;
            frame_keep(s, &f);
        }
        done++;
    }
    if (done == STACK_TX_BUDGET)
        s->tx_more = 1;
    return done;
}

/* --------------------------------------------------------------- API */

static uint64_t seed_or_random(uint64_t seed)
{
    while (seed == 0)
        if (getrandom(&seed, sizeof seed, 0) != sizeof seed)
            seed = 0x9e3779b97f4a7c15ull; /* getrandom cannot fail for 8 bytes; be safe */
    return seed;
}

/* Offset of the L4 checksum field in the program's packets (its blueprints agree on the
 * header), -1 if they carry none. */
static int32_t program_l4_csum_off(const struct mtp_program *p)
{
    for (uint16_t i = 0; i < p->n_bps; i++)
        if (p->bps[i].csum_off >= 0)
            return p->bps[i].csum_off;
    return -1;
}

/* A segmentation offload for the program's protocol: a buffer for super-frames (an IPv4
 * packet of at most 64 KiB). MTP_TSO=off (cfg->no_seg_offload) turns it off. */
static int super_setup(struct mtp_stack *s, int off)
{
    const struct mtp_link_info *l = &s->link;
    if (!(l->offload_caps & MTP_OFFLOAD_SEG) || l->seg_ip_proto != s->prog->ip_proto ||
        !l->seg_linear_bytes || off)
        return 0;
    uint32_t ip_max = l->seg_max_bytes < 65535 ? l->seg_max_bytes : 65535;
    if (ip_max <= s->mtu)
        return 0;
    s->super_l4_max = ip_max - MTP_IP4_MIN_LEN;
    s->super = malloc(STACK_L4_OFF + s->super_l4_max);
    return s->super ? 0 : -1;
}

struct mtp_stack *mtp_stack_new(const struct mtp_stack_config *cfg, int *err)
{
    int e = 0;
    if (!err)
        err = &e;
    if (!cfg || !cfg->prog || !cfg->ops || !cfg->target || cfg->rx_csum > MTP_RX_CSUM_PARTIAL) {
        *err = -EINVAL;
        return NULL;
    }
    struct mtp_stack *s = calloc(1, sizeof *s);
    if (!s) {
        *err = -ENOMEM;
        return NULL;
    }
    s->prog = cfg->prog;
    s->ops = cfg->ops;
    s->t = cfg->target;
    int r = s->ops->link_info(s->t, &s->link);
    if (r < 0)
        goto fail;
    mtp_params_from_link(s->prog, s->link.speed_mbps);
    s->ip = cfg->ipv4 ? cfg->ipv4 : s->link.ipv4;
    s->prefix_len = cfg->prefix_len ? cfg->prefix_len : s->link.prefix_len ? s->link.prefix_len : 24;
    s->gateway = cfg->gateway ? cfg->gateway : s->link.gateway;
    s->mtu = s->link.mtu ? s->link.mtu : 1500;
    r = -EINVAL;
    if (s->ip == 0 || s->prefix_len > 32 || s->mtu < 68)
        goto fail;
    mtp_params_from_link_mtu(s->prog, s->mtu);

    uint64_t seed = seed_or_random(cfg->seed);
    struct mtp_engine_config ec = {
        .local_ip = s->ip, .mtu = s->mtu, .seed = seed, .max_contexts = cfg->max_contexts,
        .tx_unit_bytes = cfg->tx_unit_bytes, .rx_unit_bytes = cfg->rx_unit_bytes,
        .stats = &s->stats,
    };
    if (super_setup(s, cfg->no_seg_offload) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if (s->super) {
        ec.seg_max_bytes = s->super_l4_max;
        ec.seg_ip_proto = s->link.seg_ip_proto;
        ec.seg_linear_off = s->link.seg_linear_off;
        ec.seg_linear_bytes = s->link.seg_linear_bytes;
    }
    s->eng = mtp_engine_new(s->prog, &ec, &r);
    if (!s->eng)
        goto fail;
    if (cfg->pcap_path && !(s->pcap = mtp__pcap_open(cfg->pcap_path, &r)))
        goto fail;

    struct mtp_arp_io io = { .user = s, .solicit = arp_solicit, .send = arp_send };
    mtp__arp_init(&s->arp, s->ip, s->link.mac, &io, &s->stats);
    if (s->ops->neigh_lookup) {
        /* The kernel resolves (its own retries and timing); we only ask its table, so ask
         * often: the first packet to a new next hop leaves within a millisecond of the
         * kernel learning the MAC instead of at our next 1 s ARP retry. Same 3 s budget. */
        s->arp.retry_ns = KERNEL_NEIGH_POLL_NS;
        s->arp.max_tries = (uint32_t)(MTP_ARP_TRIES * MTP_ARP_RETRY_NS / KERNEL_NEIGH_POLL_NS);
    }
    mtp_ratelimit_init(&s->icmp_rl, ICMP_ERR_PER_SEC, ICMP_ERR_BURST);
    s->rx_csum_off = program_l4_csum_off(s->prog);
    s->l4_csum = s->rx_csum_off >= 0;
    s->accept_partial = mtp_rx_csum_accepts_partial((enum mtp_rx_csum)cfg->rx_csum,
                                                    (enum mtp_link_kind)s->link.kind);
    s->ip_id = (uint16_t)(seed >> 16);
    s->eph_next = (uint32_t)(seed >> 32) % EPHEMERAL_N;
    return s;

fail:
    *err = r < 0 ? r : -EINVAL;
    mtp_stack_free(s);
    return NULL;
}

void mtp_stack_free(struct mtp_stack *s)
{
    if (!s)
        return;
    batch_flush(s);
    uint16_t p;
    while ((p = mtp__port_pool_take(&s->parked, 0, 0, 1)) != 0)
        target_release(s, p);
    mtp__arp_clear(&s->arp);
    if (s->eng)
        mtp_engine_free(s->eng);
    mtp__pcap_close(s->pcap);
    free(s->super);
    free(s);
}

void mtp_stack_set_notify(struct mtp_stack *s, mtp_note_fn fn, void *user)
{
    mtp_engine_set_notify(s->eng, fn, user);
}

int mtp_stack_poll(struct mtp_stack *s, uint64_t now_ns)
{
    struct mtp_frame rx[STACK_BURST];
    int work = 0;
    s->now = now_ns;
    int n = s->ops->rx_burst(s->t, rx, STACK_BURST);
    if (n > 0) {
        for (int i = 0; i < n; i++)
            frame_input(s, rx[i].data, rx[i].len);
        s->ops->rx_release(s->t, rx, n);
        work += n;
    }
    mtp__arp_poll(&s->arp, now_ns);
    parked_expire(s);
    int fired = mtp_engine_timers(s->eng, now_ns);
    if (fired > 0)
        work += fired;
    work += tx_drain(s);
    batch_flush(s);
    if (s->pcap && work)
        mtp__pcap_flush(s->pcap);
    return work;
}

uint64_t mtp_stack_next_deadline(const struct mtp_stack *s)
{
    if (s->tx_more)
        return s->now;
    uint64_t a = mtp_engine_next_deadline(s->eng), b = mtp__arp_next_deadline(&s->arp);
    uint64_t c = mtp__port_pool_deadline(&s->parked);
    a = a < b ? a : b;
    return a < c ? a : c;
}

int mtp_stack_post(struct mtp_stack *s, uint16_t ev_type, const struct mtp_key *key,
                   const void *ev, uint32_t len, uint64_t now_ns)
{
    s->now = now_ns;
    int r = mtp_engine_post(s->eng, ev_type, key, ev, len, now_ns);
    tx_drain(s);
    batch_flush(s);
    if (s->pcap)
        mtp__pcap_flush(s->pcap);
    return r;
}

void *mtp_stack_ctx(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key)
{
    return mtp_engine_ctx(s->eng, ctx_type, key);
}

int64_t mtp_stack_rx_ready(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key,
                           uint64_t uid)
{
    return mtp_engine_rx_ready(s->eng, ctx_type, key, uid);
}

int64_t mtp_stack_tx_space(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key,
                           uint64_t uid)
{
    return mtp_engine_tx_space(s->eng, ctx_type, key, uid);
}

int mtp_stack_ctx_export(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key,
                         uint64_t now_ns, void **img, size_t *len)
{
    s->now = now_ns;
    tx_drain(s);
    batch_flush(s);
    if (s->pcap)
        mtp__pcap_flush(s->pcap);
    return mtp_engine_ctx_export(s->eng, ctx_type, key, img, len);
}

int mtp_stack_ctx_drop(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key)
{
    return mtp_engine_ctx_drop(s->eng, ctx_type, key);
}

int mtp_stack_ctx_import(struct mtp_stack *s, const void *img, size_t len, uint64_t now_ns)
{
    s->now = now_ns;
    return mtp_engine_ctx_import(s->eng, img, len);
}

uint32_t mtp_stack_ipv4(const struct mtp_stack *s) { return s->ip; }


/* excl: an ephemeral port for an active open, never shared with another process. */
static int port_take(struct mtp_stack *s, uint16_t p, int excl)
{
    int (*claim)(struct mtp_target *, uint8_t, uint16_t) =
        excl && s->ops->port_claim_excl ? s->ops->port_claim_excl : s->ops->port_claim;
    if (claim) {
        int r = claim(s->t, s->prog->ip_proto, p);
        if (r < 0)
            return r;
    }
    bit_set(s->ports, p);
    if (excl)
        bit_set(s->eph, p);
    return p;
}

/* An ephemeral port: a parked one old enough (no system call), else the next free one in
 * turn, else any parked one. */
static int ephemeral_claim(struct mtp_stack *s)
{
    uint16_t parked = mtp__port_pool_take(&s->parked, s->now, s->park_age_ns, 0);
    if (parked)
        return eph_reuse(s, parked);
    for (uint32_t i = 0; i < EPHEMERAL_N; i++) {
        uint32_t k = (s->eph_next + i) % EPHEMERAL_N;
        uint16_t p = (uint16_t)(EPHEMERAL_LO + k);
        if (port_used(s, p) || mtp__port_pool_has(&s->parked, p))
            continue;
        int r = port_take(s, p, 1);
        if (r == -EADDRINUSE)
            continue; /* someone else (the kernel) has it */
        if (r >= 0)
            s->eph_next = (k + 1) % EPHEMERAL_N;
        return r;
    }
    parked = mtp__port_pool_take(&s->parked, s->now, 0, 1);
    return parked ? eph_reuse(s, parked) : -EADDRNOTAVAIL;
}

void mtp_stack_park_ports(struct mtp_stack *s, uint64_t min_age_ns)
{
    s->park_age_ns = min_age_ns;
}

int mtp_stack_port_claim(struct mtp_stack *s, uint16_t port)
{
    if (!port)
        return ephemeral_claim(s);
    if (port_used(s, port))
        return -EADDRINUSE;
    if (mtp__port_pool_remove(&s->parked, port)) /* bound by hand: claimed anew, shared */
        target_release(s, port);
    return port_take(s, port, 0);
}

void mtp_stack_port_release(struct mtp_stack *s, uint16_t port)
{
    if (!port || !port_used(s, port))
        return;
    bit_clear(s->ports, port);
    parked_expire(s);
    if (bit(s->eph, port)) {
        bit_clear(s->eph, port);
        if (s->park_age_ns && mtp__port_pool_park(&s->parked, port, s->now) == 0)
            return;
    }
    target_release(s, port);
}

int mtp_stack_port_hold(struct mtp_stack *s, uint16_t port)
{
    if (!port)
        return -EINVAL;
    return s->ops->port_hold ? s->ops->port_hold(s->t, s->prog->ip_proto, port) : 0;
}

void mtp_stack_port_unhold(struct mtp_stack *s, uint16_t port)
{
    if (port && s->ops->port_unhold)
        s->ops->port_unhold(s->t, s->prog->ip_proto, port);
}

int mtp_stack_port_groups(const struct mtp_stack *s) { return s->ops->port_hold != NULL; }

int mtp_stack_flow_claim(struct mtp_stack *s, uint16_t lport, uint32_t rip, uint16_t rport)
{
    if (!s->ops->flow_claim)
        return 0;
    return s->ops->flow_claim(s->t, s->prog->ip_proto, lport, rip, rport);
}

void mtp_stack_flow_release(struct mtp_stack *s, uint16_t lport, uint32_t rip, uint16_t rport)
{
    if (s->ops->flow_release)
        s->ops->flow_release(s->t, s->prog->ip_proto, lport, rip, rport);
}

int mtp_stack_port_dormant(struct mtp_stack *s, uint16_t port, int on)
{
    if (!port)
        return -EINVAL;
    return s->ops->port_dormant ? s->ops->port_dormant(s->t, s->prog->ip_proto, port, on) : 0;
}

int mtp_stack_port_members(struct mtp_stack *s, uint16_t port, uint32_t *pids, int max)
{
    if (!port || max <= 0 || !s->ops->port_members)
        return 0;
    return s->ops->port_members(s->t, s->prog->ip_proto, port, pids, max);
}

const struct mtp_stats *mtp_stack_stats(const struct mtp_stack *s) { return &s->stats; }
