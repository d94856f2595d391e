/*
 * mtp_xdp.bpf.c — the XDP hook of the AF_XDP target.
 *
 * Steers to a member (a process's stack, docs/MULTIPROC.md) only IPv4 packets of the
 * program's IP protocol whose destination port a member owns (map "mtp_ports", kept by
 * port_claim / port_release): a connection pinned in "mtp_flows" to its member, a new one to
 * one of the port's group by a flow hash. A member receives through its AF_XDP socket
 * ("mtp_xsks") or, when another member's socket has the queue, through its ring buffer
 * ("mtp_rings"), into which the packet is copied. When the program reads ICMP error quotes
 * (MTPG_BPF_NET_ERRORS), an ICMP destination unreachable / time exceeded / parameter problem
 * whose quoted packet is one of ours (our protocol, its source port owned) goes to the member
 * of that flow too. Everything else — ARP, other ICMP, other protocols, other ports,
 * fragments — goes to the kernel untouched. Malformed packets for owned ports are dropped
 * here and counted.
 *
 * The protocol-specific part (which protocol, where the port is, what "valid" means) comes
 * from the header mtpc generates for one program (`mtpc --emit=bpf`), named by
 * MTP_XDP_PROTO_HEADER at build time; one object is built per program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "mtp_xdp.h"

#ifndef MTP_XDP_PROTO_HEADER
#error "build with -DMTP_XDP_PROTO_HEADER='\"<program>.bpf.h\"' (from mtpc --emit=bpf)"
#endif
#include MTP_XDP_PROTO_HEADER

struct {
    __uint(type, BPF_MAP_TYPE_XSKMAP);
    __uint(max_entries, MTP_XDP_MAX_MEMBERS); /* by member slot */
    __type(key, __u32);
    __type(value, __u32);
} mtp_xsks SEC(".maps");

struct mtp_ring_inner {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, MTP_XDP_RING_BYTES);
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
    __uint(max_entries, MTP_XDP_MAX_MEMBERS); /* by member slot */
    __type(key, __u32);
    __array(values, struct mtp_ring_inner);
} mtp_rings SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MTP_XDP_MAX_MEMBERS);
    __type(key, __u32);
    __type(value, struct mtp_xdp_member);
} mtp_members SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct mtp_xdp_info);
} mtp_info SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MTP_XDP_MAX_PORTS);
    __type(key, mtp_xdp_port_key);
    __type(value, struct mtp_xdp_group);
} mtp_ports SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, MTP_XDP_MAX_FLOWS);
    __type(key, struct mtp_xdp_flow);
    __type(value, struct mtp_xdp_pin);
} mtp_flows SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MTP_XDP_STAT_COUNT);
    __type(key, __u32);
    __type(value, __u64);
} mtp_stats SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
    __u64 *v = bpf_map_lookup_elem(&mtp_stats, &which);
    if (v)
        *v += 1;
}

/* Returns the L4 header of an unfragmented IPv4 packet of our protocol, or NULL. */
static __always_inline const __u8 *l4_of(const __u8 *data, const __u8 *data_end,
                                         const struct iphdr **ip_out)
{
    const struct ethhdr *eth = (const void *)data;
    if ((const __u8 *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return NULL;
    const struct iphdr *ip = (const void *)(eth + 1);
    if ((const __u8 *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
        return NULL;
    if (ip->protocol != MTPG_BPF_IP_PROTO)
        return NULL;
    if (ip->frag_off & bpf_htons(0x3fff)) { /* MF set or offset != 0 */
        stat_inc(MTP_XDP_STAT_FRAGMENT);
        return NULL;
    }
    const __u8 *l4 = (const __u8 *)ip + ip->ihl * 4;
    if (l4 > data_end)
        return NULL;
    *ip_out = ip;
    return l4;
}

/* How member `slot` can take a packet that arrived on rx queue `queue`: MTP_XDP_MEMBER_XSK
 * (its AF_XDP socket is bound to that queue), MTP_XDP_MEMBER_RING (its ring buffer, any
 * queue) or 0 (it cannot, or the slot is free). */
static __always_inline __u32 member_way(__u32 slot, __u32 queue)
{
    struct mtp_xdp_member *m = bpf_map_lookup_elem(&mtp_members, &slot);
    if (!m || !m->gen)
        return 0;
    /* a socket the kernel took out of mtp_xsks (its process died) does not count */
    if ((m->kind & MTP_XDP_MEMBER_XSK) && m->queue == queue &&
        bpf_map_lookup_elem(&mtp_xsks, &slot))
        return MTP_XDP_MEMBER_XSK;
    return m->kind & MTP_XDP_MEMBER_RING;
}

/* Its gen if it can take the packet, else 0. */
static __always_inline __u32 member_takes(__u32 slot, __u32 queue)
{
    struct mtp_xdp_member *m = bpf_map_lookup_elem(&mtp_members, &slot);
    return m && member_way(slot, queue) ? m->gen : 0;
}

static __always_inline int group_has(const struct mtp_xdp_group *g, __u32 slot)
{
#pragma unroll
    for (int i = 0; i < MTP_XDP_GROUP_MAX; i++)
        if (i < g->n && g->slot[i] == slot)
            return 1;
    return 0;
}

static __always_inline int member_has_xsk(__u32 slot)
{
    struct mtp_xdp_member *m = bpf_map_lookup_elem(&mtp_members, &slot);
    return m && m->gen && (m->kind & MTP_XDP_MEMBER_XSK);
}

/* The hash-th of the group's members that take the packet a way in `ways`; -1: none. */
static __always_inline int group_pick_way(const struct mtp_xdp_group *g, __u32 queue,
                                          __u32 hash, __u32 ways)
{
    __u32 able = 0;
#pragma unroll
    for (int i = 0; i < MTP_XDP_GROUP_MAX; i++)
        if (i < g->n && (member_way(g->slot[i], queue) & ways))
            able++;
    if (!able)
        return -1;
    __u32 k = hash % able;
#pragma unroll
    for (int i = 0; i < MTP_XDP_GROUP_MAX; i++)
        if (i < g->n && (member_way(g->slot[i], queue) & ways)) {
            if (!k)
                return g->slot[i];
            k--;
        }
    return -1;
}

/* A new flow's member. When the group has AF_XDP members on several queues (a multi-queue
 * device: RSS already spreads the flows), one with its socket on this queue (no copy);
 * otherwise (a one-queue device: one AF_XDP member, the others ring buffers) any member that
 * can take it, all alike, so the processes share the flows. -1: none. */
static __always_inline int group_pick(const struct mtp_xdp_group *g, __u32 queue, __u32 hash)
{
    __u32 with_xsk = 0;
#pragma unroll
    for (int i = 0; i < MTP_XDP_GROUP_MAX; i++)
        if (i < g->n && member_has_xsk(g->slot[i]))
            with_xsk++;
    if (with_xsk >= 2) {
        int slot = group_pick_way(g, queue, hash, MTP_XDP_MEMBER_XSK);
        if (slot >= 0)
            return slot;
    }
    return group_pick_way(g, queue, hash, MTP_XDP_MEMBER_XSK | MTP_XDP_MEMBER_RING);
}

static __always_inline __u32 flow_hash(const struct mtp_xdp_flow *f)
{
    __u32 h = f->remote_ip * 0x9e3779b1u;
    h ^= ((__u32)f->remote_port << 16 | f->local_port) * 0x85ebca6bu;
    h ^= h >> 15;
    h *= 0xc2b2ae35u;
    return h ^ (h >> 16);
}

/* A pin to the kernel holds on a listening port (an active open's own port never had one). */
static __always_inline int pinned_to_kernel(const struct mtp_xdp_group *g,
                                            const struct mtp_xdp_pin *pin)
{
    return pin && pin->slot == MTP_XDP_SLOT_KERNEL && !g->excl;
}

#define STEER_KERNEL (-2)

/* The member a packet of flow `f` goes to: its pin if the pinned member still serves the
 * port, else one of the port's group by the flow hash (then pinned, unless the port is an
 * active open's own, so membership changes never move a live connection). -1: nobody,
 * STEER_KERNEL: the kernel's (a flow pinned to it, or no member: then pinned to the kernel
 * if a dormant listener's kernel socket takes it, so a member that joins later does not get
 * the rest of a connection the kernel accepted). */
static __always_inline int steer(const struct mtp_xdp_group *g, const struct mtp_xdp_flow *f,
                                 __u32 queue)
{
    struct mtp_xdp_pin *pin = bpf_map_lookup_elem(&mtp_flows, f);
    if (pinned_to_kernel(g, pin))
        return STEER_KERNEL;
    if (pin && member_takes(pin->slot, queue) == pin->gen &&
        (pin->claimed || group_has(g, pin->slot)))
        return (int)pin->slot;
    if (g->n == 1 && g->excl)
        return member_takes(g->slot[0], queue) ? g->slot[0] : -1;
    if (!g->n) {
        if (g->dormant) {
            struct mtp_xdp_pin k = {.slot = MTP_XDP_SLOT_KERNEL};
            bpf_map_update_elem(&mtp_flows, f, &k, BPF_ANY);
            stat_inc(MTP_XDP_STAT_KERNEL_PIN);
        }
        return STEER_KERNEL;
    }
    int slot = group_pick(g, queue, flow_hash(f));
    if (slot < 0)
        return -1;
    struct mtp_xdp_pin p = {.slot = (__u32)slot, .gen = member_takes((__u32)slot, queue),
                            .claimed = 0};
    bpf_map_update_elem(&mtp_flows, f, &p, BPF_ANY);
    return slot;
}

/* Copies the whole packet (all its fragments) into a ring-buffer member's ring. */
static __always_inline int to_ring(struct xdp_md *ctx, __u32 slot)
{
    void *ring = bpf_map_lookup_elem(&mtp_rings, &slot);
    __u64 len = bpf_xdp_get_buff_len(ctx);
    if (!ring || len < 1) {
        stat_inc(MTP_XDP_STAT_NO_SOCKET);
        return XDP_DROP;
    }
    struct mtp_xdp_ring_rec *rec;
    if (len <= MTP_XDP_RING_SMALL - sizeof(*rec)) {
        rec = bpf_ringbuf_reserve(ring, MTP_XDP_RING_SMALL, 0);
        if (rec && bpf_xdp_load_bytes(ctx, 0, rec + 1, (__u32)len) < 0) {
            bpf_ringbuf_discard(rec, 0);
            rec = NULL;
        }
    } else if (len <= MTP_XDP_RING_BIG - sizeof(*rec)) {
        rec = bpf_ringbuf_reserve(ring, MTP_XDP_RING_BIG, 0);
        if (rec && bpf_xdp_load_bytes(ctx, 0, rec + 1, (__u32)len) < 0) {
            bpf_ringbuf_discard(rec, 0);
            rec = NULL;
        }
    } else {
        rec = NULL;
    }
    if (!rec) {
        stat_inc(MTP_XDP_STAT_RING_FULL);
        return XDP_DROP;
    }
    rec->len = (__u32)len;
    bpf_ringbuf_submit(rec, 0);
    stat_inc(MTP_XDP_STAT_RING);
    return XDP_DROP; /* delivered: the copy is the member's */
}

/* Hands the packet to member `slot`: its ring, or its AF_XDP socket (then counts `stat`). */
static __always_inline int deliver(struct xdp_md *ctx, __u32 slot, __u32 queue, __u32 stat)
{
    if (member_way(slot, queue) == MTP_XDP_MEMBER_RING)
        return to_ring(ctx, slot);
    if (!bpf_map_lookup_elem(&mtp_xsks, &slot)) {
        stat_inc(MTP_XDP_STAT_NO_SOCKET);
        return XDP_DROP;
    }
    stat_inc(stat);
    return bpf_redirect_map(&mtp_xsks, slot, XDP_DROP);
}

#if defined(MTPG_BPF_NET_ERRORS) && defined(MTPG_BPF_HAS_REMOTE_PORT)
#define STEER_ICMP_ERRORS 1
/* An ICMP error (RFC 792) quoting a packet we sent: the quoted packet's source port is the
 * local one, its destination the peer. Goes to the member its flow is pinned to, else to the
 * one a new flow of the port's group would get (no pin is made). XDP_PASS when the quote is
 * not about one of our ports: the kernel's own sockets get their errors. */
static __always_inline int icmp_error(struct xdp_md *ctx, const struct iphdr *ip,
                                      const __u8 *data_end)
{
    const __u8 *icmp = (const __u8 *)ip + ip->ihl * 4;
    if (icmp + 8 > data_end || (icmp[0] != 3 && icmp[0] != 11 && icmp[0] != 12))
        return XDP_PASS;
    const struct iphdr *in = (const void *)(icmp + 8);
    if ((const __u8 *)(in + 1) > data_end || in->version != 4 || in->ihl < 5 ||
        in->protocol != MTPG_BPF_IP_PROTO || (in->frag_off & bpf_htons(0x1fff)))
        return XDP_PASS;
    const __u8 *l4 = (const __u8 *)in + in->ihl * 4;
    struct mtp_xdp_flow f = {.remote_ip = bpf_ntohl(in->daddr)};
    struct mtp_xdp_group *g;
    if (mtpg_bpf_remote_port(l4, data_end, &f.local_port) < 0 ||
        mtpg_bpf_port(l4, data_end, &f.remote_port) < 0 ||
        !(g = bpf_map_lookup_elem(&mtp_ports, &f.local_port)))
        return XDP_PASS;
    __u32 queue = ctx->rx_queue_index;
    struct mtp_xdp_pin *pin = bpf_map_lookup_elem(&mtp_flows, &f);
    int slot = -1;
    if (pinned_to_kernel(g, pin))
        return XDP_PASS;
    if (pin && member_takes(pin->slot, queue) == pin->gen)
        slot = (int)pin->slot;
    else if (g->n == 1 && g->excl && member_takes(g->slot[0], queue))
        slot = g->slot[0];
    else
        slot = group_pick(g, queue, flow_hash(&f));
    if (slot < 0)
        return XDP_PASS; /* nobody here can take it: the kernel may as well */
    return deliver(ctx, (__u32)slot, queue, MTP_XDP_STAT_ICMP);
}

/* The outer IPv4 header of an unfragmented ICMP packet, or NULL. */
static __always_inline const struct iphdr *icmp_of(const __u8 *data, const __u8 *data_end)
{
    const struct ethhdr *eth = (const void *)data;
    if ((const __u8 *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return NULL;
    const struct iphdr *ip = (const void *)(eth + 1);
    if ((const __u8 *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5 ||
        ip->protocol != 1 || (ip->frag_off & bpf_htons(0x3fff)))
        return NULL;
    return ip;
}
#endif

SEC("xdp.frags") /* multi-buffer packets too: GSO/GRO super-frames in SKB mode, lo */
int mtp_xdp_steer(struct xdp_md *ctx)
{
    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *data_end = (const __u8 *)(long)ctx->data_end;

    const struct iphdr *ip = NULL;
    const __u8 *l4 = l4_of(data, data_end, &ip);
    if (!l4 || !ip) {
#ifdef STEER_ICMP_ERRORS
        const struct iphdr *icmp_ip = icmp_of(data, data_end);
        if (icmp_ip)
            return icmp_error(ctx, icmp_ip, data_end);
#endif
        return XDP_PASS;
    }

    mtp_xdp_port_key port;
    struct mtp_xdp_group *g;
    if (mtpg_bpf_port(l4, data_end, &port) < 0 || !(g = bpf_map_lookup_elem(&mtp_ports, &port))) {
        stat_inc(MTP_XDP_STAT_PASSED);
        return XDP_PASS;
    }
    if (!mtpg_bpf_valid(l4, data_end)) {
        stat_inc(MTP_XDP_STAT_MALFORMED);
        /* The program's only use of mtp_info (on a rare path): a map the program uses is
         * listed with it, which is how a joining process finds the map (docs/MULTIPROC.md). */
        __u32 zero = 0;
        return bpf_map_lookup_elem(&mtp_info, &zero) ? XDP_DROP : XDP_ABORTED;
    }
    struct mtp_xdp_flow f = {.remote_ip = bpf_ntohl(ip->saddr), .local_port = port};
#ifdef MTPG_BPF_HAS_REMOTE_PORT
    if (mtpg_bpf_remote_port(l4, data_end, &f.remote_port) < 0)
        f.remote_port = 0;
#endif
    /* A port a member serves is not the kernel's: without a member that can take the packet,
     * drop (passing it up would make the kernel answer for the placeholder socket). The
     * kernel's are the flows pinned to it and, on a port no member serves (only held, or
     * dormant), the new ones (steer). */
    __u32 queue = ctx->rx_queue_index;
    int slot = steer(g, &f, queue);
    if (slot == STEER_KERNEL) {
        stat_inc(MTP_XDP_STAT_PASSED);
        return XDP_PASS;
    }
    if (slot < 0) {
        stat_inc(MTP_XDP_STAT_NO_SOCKET);
        return XDP_DROP;
    }
    return deliver(ctx, (__u32)slot, queue, MTP_XDP_STAT_REDIRECTED);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
