/*
 * mtp_xdp.bpf.c — the XDP hook of the AF_XDP target.
 *
 * Steers to the AF_XDP socket of the receiving queue only IPv4 packets of the program's IP
 * protocol whose destination port the stack owns (map "mtp_ports", kept by port_claim /
 * port_release). Everything else — ARP, ICMP, other protocols, other ports, fragments — goes
 * to the kernel untouched. Malformed packets for owned ports are dropped here and counted.
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
    __uint(max_entries, MTP_XDP_MAX_QUEUES);
    __type(key, __u32);
    __type(value, __u32);
} mtp_xsks SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, MTP_XDP_MAX_PORTS);
    __type(key, mtp_xdp_port_key);
    __type(value, __u8);
} mtp_ports SEC(".maps");

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
static __always_inline const __u8 *l4_of(const __u8 *data, const __u8 *data_end)
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
    return l4;
}

SEC("xdp.frags") /* multi-buffer packets too: GSO/GRO super-frames in SKB mode, lo */
int mtp_xdp_steer(struct xdp_md *ctx)
{
    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *data_end = (const __u8 *)(long)ctx->data_end;

    const __u8 *l4 = l4_of(data, data_end);
    if (!l4)
        return XDP_PASS;

    mtp_xdp_port_key port;
    if (mtpg_bpf_port(l4, data_end, &port) < 0 || !bpf_map_lookup_elem(&mtp_ports, &port)) {
        stat_inc(MTP_XDP_STAT_PASSED);
        return XDP_PASS;
    }
    if (!mtpg_bpf_valid(l4, data_end)) {
        stat_inc(MTP_XDP_STAT_MALFORMED);
        return XDP_DROP;
    }
    /* A port the stack owns is never the kernel's: without a socket on this queue, drop
     * (passing it up would make the kernel answer for the placeholder socket). */
    __u32 queue = ctx->rx_queue_index;
    if (!bpf_map_lookup_elem(&mtp_xsks, &queue)) {
        stat_inc(MTP_XDP_STAT_NO_SOCKET);
        return XDP_DROP;
    }
    stat_inc(MTP_XDP_STAT_REDIRECTED);
    return bpf_redirect_map(&mtp_xsks, queue, XDP_DROP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
