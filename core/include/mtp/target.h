/*
 * target.h — how the runtime moves Ethernet frames: one `const struct mtp_target_ops` per
 * backend (sim, xdp, dpdk), designated initialisers, like Redis's ae backends.
 * No rte_* or xsk_* type appears here or in core/.
 */
#ifndef MTP_TARGET_H
#define MTP_TARGET_H

#include <stddef.h>
#include <stdint.h>

struct mtp_target; /* backend state, opaque to core */

/* One Ethernet frame. On rx, `data` points into target memory until rx_release. On tx,
 * tx_alloc hands out buffers of `cap` bytes; the stack fills data/len and tx_burst sends
 * them (ownership passes to the target, sent or not). */
struct mtp_frame {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
    uint64_t handle;      /* target's own reference (umem address, mbuf pointer …) */
    uint32_t offload;     /* MTP_OFFLOAD_* requested for this tx frame */
    uint16_t l3_off, l4_off; /* for checksum offload */
    uint16_t csum_off;    /* MTP_OFFLOAD_L4_CSUM: the checksum field is at l4_off + csum_off */
    /* MTP_OFFLOAD_SEG: a super-frame the device cuts into packets of seg_size payload bytes
     * after an l4_hdr_len-byte transport header, advancing the linear_bytes-wide big-endian
     * header field at l4_off + linear_off by the payload bytes before each packet. Its bytes
     * (len may exceed cap) are at `data`, stack memory valid until tx_burst returns: the
     * target copies them into its own buffers (the frame's handle is the first of them). */
    uint16_t seg_size, l4_hdr_len;
    uint16_t linear_off;
    uint8_t linear_bytes;
};

#define MTP_OFFLOAD_IPV4_CSUM 1u
#define MTP_OFFLOAD_L4_CSUM   2u /* L4 checksum at l4_off + csum_off, pseudo-header seeded */
#define MTP_OFFLOAD_SEG       4u /* segmentation offload (implies both checksums; the L4 one
                                    seeded with the pseudo header WITHOUT the length) */

/* What carries the frames. On interfaces without a physical wire the kernel transmits with
 * CHECKSUM_PARTIAL and nothing completes the L4 checksum before AF_XDP or a packet socket
 * sees the frame: its checksum field holds only the pseudo-header sum. MTP_RX_CSUM=auto
 * accepts such frames on VETH, LOOPBACK and TAP only (see mtp_rx_csum_accepts_partial). */
enum mtp_link_kind {
    MTP_LINK_WIRE = 0,   /* a NIC, or not known: checksums are verified in full */
    MTP_LINK_VETH,       /* one end of a veth pair (containers, network namespaces) */
    MTP_LINK_LOOPBACK,   /* lo */
    MTP_LINK_TAP,        /* tun/tap */
    MTP_LINK_MEMIF,      /* shared memory between processes (net_memif): no kernel, no wire */
    MTP_LINK_KIND_COUNT
};

struct mtp_link_info {
    uint8_t mac[6];
    uint32_t mtu;          /* IP MTU */
    uint32_t ipv4;         /* host byte order; 0 if the target does not know it */
    uint32_t prefix_len;
    uint32_t gateway;      /* host byte order, 0: none */
    int ifindex;
    uint32_t offload_caps; /* MTP_OFFLOAD_* the device does */
    uint8_t owns_arp;      /* the stack answers ARP/ICMP itself (DPDK, sim); 0: the kernel does (XDP) */
    /* With MTP_OFFLOAD_SEG: the device segments super-frames of at most seg_max_bytes
     * (IPv4 header and payload) of protocol seg_ip_proto, advancing the header field
     * (seg_linear_off, seg_linear_bytes) of the transport header. */
    uint32_t seg_max_bytes;
    uint8_t seg_ip_proto;
    uint8_t seg_linear_bytes;
    uint16_t seg_linear_off;
    uint8_t kind;          /* enum mtp_link_kind */
    uint32_t speed_mbps;   /* the link's rate in Mbit/s, 0: not known (the stack gives it to
                              a program's LINK_MBPS param, docs/LANGUAGE.md) */
};

struct mtp_target_config {
    const char *iface;     /* MTP_IFACE */
    const char *args;      /* backend-specific: the value of the variable ops->args_env names */
    const char *prog_name; /* the program's source basename ("tcp"): how a backend finds an
                              artifact built for it (the XDP hook object) */
    uint32_t queue;        /* rx/tx queue to serve */
    uint32_t ip_proto;     /* protocol whose packets to steer to the stack (XDP) */
    int16_t steer_port_off;/* offset of the local port in the L4 header, -1: whole protocol */
    uint8_t no_seg_offload;/* MTP_TSO=off: do not enable the device's segmentation offload */
};

/* One counter of the backend itself (an XDP hook's drops, a device's errors), for tools. */
struct mtp_target_stat {
    const char *name;
    uint64_t value;
};

struct mtp_target_ops {
    const char *name;
    /* The environment variable that holds this backend's arguments (cfg->args), or NULL. */
    const char *args_env;
    /* Every failure is reported by the backend itself, as one line on stderr naming the cause
     * (and the fix where the user can make one): the caller adds nothing. */
    int (*open)(struct mtp_target **out, const struct mtp_target_config *cfg);
    void (*close)(struct mtp_target *t);
    int (*link_info)(struct mtp_target *t, struct mtp_link_info *out);
    int (*rx_burst)(struct mtp_target *t, struct mtp_frame *f, int max);
    void (*rx_release)(struct mtp_target *t, struct mtp_frame *f, int n);
    int (*tx_alloc)(struct mtp_target *t, struct mtp_frame *f, int n);
    int (*tx_burst)(struct mtp_target *t, struct mtp_frame *f, int n);
    /* hold 1: later tx_bursts may leave their frames queued without the system call that
     * makes the device send them (AF_XDP copy mode: sendto), up to a backend limit; hold 0:
     * what waits goes now, and every tx_burst sends at once again. For a caller that knows
     * more frames follow soon (an application handling a batch of events) and ends the hold
     * when they are done. NULL: every tx_burst sends at once. */
    void (*tx_hold)(struct mtp_target *t, int hold);
    /* fd that becomes readable when frames arrive (or -1): epoll-able wake-up. */
    int (*wake_fd)(struct mtp_target *t);
    /* The stack owns (ip_proto, port) now / no longer: steering map, placeholder socket.
     * Several processes may serve one interface (docs/MULTIPROC.md): port_claim of a port
     * another member holds adds this member to the port's group (SO_REUSEPORT: new flows
     * are spread by a flow hash in the XDP hook, each pinned to the member it reached). */
    int (*port_claim)(struct mtp_target *t, uint8_t ip_proto, uint16_t port);
    void (*port_release)(struct mtp_target *t, uint8_t ip_proto, uint16_t port);
    /* An active open's local port: like port_claim, but -EADDRINUSE when any other member
     * holds the port (never joins a group). NULL: the stack uses port_claim. */
    int (*port_claim_excl)(struct mtp_target *t, uint8_t ip_proto, uint16_t port);
    /* Steer the connection (local_port, remote_ip, remote_port) to this member from now on
     * (ports in host byte order, remote_ip in host byte order); release undoes it if it is
     * still this member's. NULL: one process per interface, nothing to steer. */
    int  (*flow_claim)(struct mtp_target *t, uint8_t ip_proto, uint16_t local_port,
                       uint32_t remote_ip, uint16_t remote_port);
    void (*flow_release)(struct mtp_target *t, uint8_t ip_proto, uint16_t local_port,
                         uint32_t remote_ip, uint16_t remote_port);
    /* Keep steering the connections pinned here by flow_claim to local `port` without
     * joining the port's group (no share of its new flows): a forked child that took over a
     * connection its parent accepted, which must keep it even if the parent, the port's
     * listener, exits; a member whose listener closed, while its connections finish. unhold
     * undoes it. NULL: nothing to hold (one process per interface). */
    int  (*port_hold)(struct mtp_target *t, uint8_t ip_proto, uint16_t port);
    void (*port_unhold)(struct mtp_target *t, uint8_t ip_proto, uint16_t port);
    /* on 1: this member left `port`'s group but a kernel socket of its process still
     * listens there (a forked parent's dormant listener, docs/MULTIPROC.md). While no member
     * serves the port, each new flow is pinned to the kernel, and it stays with the kernel
     * after a member joins (else the joiner would get the later segments of a connection the
     * kernel accepted, and answer them with a reset). on 0: no longer. NULL: nothing to mark
     * (one process per interface). */
    int  (*port_dormant)(struct mtp_target *t, uint8_t ip_proto, uint16_t port, int on);
    /* The process ids of the other members in `port`'s group (those that get its new flows;
     * not holders, not dormant ones, not this member), up to `max`: how many were written.
     * A member whose listener closes hands the connections waiting in its queue to one of
     * them (docs/MULTIPROC.md, "Reload"). NULL: no other member (one process per interface). */
    int  (*port_members)(struct mtp_target *t, uint8_t ip_proto, uint16_t port, uint32_t *pids,
                         int max);
    /* In a forked child: free this process's copy of the parent's target (munmap, close
     * fds) touching nothing shared (maps, ports, rings, frames, placeholders): the parent
     * keeps serving with it. NULL: nothing to free. */
    void (*abandon)(struct mtp_target *t);
    /* Next-hop MAC from the kernel's neighbour table (XDP); -EAGAIN while resolving, NULL op:
     * the stack does its own ARP. */
    int (*neigh_lookup)(struct mtp_target *t, uint32_t ipv4, uint8_t mac_out[6]);
    /* For tools (mtpcat -v, mtpstat); NULL op: nothing to say. describe writes one line
     * ("xdp on eth0 queue 0, native mode") and returns its length; stats fills up to `max`
     * counters and returns how many. */
    int (*describe)(struct mtp_target *t, char *buf, size_t cap);
    int (*stats)(struct mtp_target *t, struct mtp_target_stat *out, int max);
};

extern const struct mtp_target_ops mtp_target_sim;
extern const struct mtp_target_ops mtp_target_xdp;
extern const struct mtp_target_ops mtp_target_dpdk;

#endif
