/* Compile-only check (clang -target bpf) of a header written by `mtpc --emit=bpf`, used the
 * way the XDP program uses it. MTPG_BPF_HEADER names the header. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include MTPG_BPF_HEADER

SEC("xdp")
int xdp_check(struct xdp_md *ctx)
{
    const __u8 *data = (const __u8 *)(long)ctx->data;
    const __u8 *end = (const __u8 *)(long)ctx->data_end;
    const __u8 *l4 = data + 34; /* Ethernet 14 + IPv4 20 */
    __u16 port;
    if (l4 > end || mtpg_bpf_port(l4, end, &port) < 0)
        return XDP_PASS;
    if (!mtpg_bpf_valid(l4, end))
        return XDP_DROP;
    return port == MTPG_BPF_IP_PROTO + MTPG_BPF_L4_MIN_LEN ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
