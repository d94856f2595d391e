/*
 * mtp_xdp.h — shared by the XDP hook program (mtp_xdp.bpf.c) and the AF_XDP target (xdp.c):
 * map names and layouts, stat indices, and the user-side view of the kernel counters.
 */
#ifndef MTP_XDP_H
#define MTP_XDP_H

#include <linux/types.h>

/* Name of the XDP function; how a later run recognises a program an earlier one left behind. */
#define MTP_XDP_PROG_NAME "mtp_xdp_steer"

#define MTP_XDP_MAX_QUEUES 64      /* entries of the XSKMAP (rx queue index -> AF_XDP socket) */
#define MTP_XDP_MAX_PORTS  65536   /* entries of the steering map */

/* Several processes share one interface (docs/MULTIPROC.md). Each is a member with a slot:
 * the first on a queue receives through its AF_XDP socket (mtp_xsks[slot]); the others
 * through their own BPF ring buffer (mtp_rings[slot]), into which the hook copies packets. */
#define MTP_XDP_MAX_MEMBERS 32
#define MTP_XDP_GROUP_MAX   16     /* members listening on one port */
#define MTP_XDP_MAX_FLOWS   65536  /* pinned connections (LRU) */
#define MTP_XDP_RING_BYTES  (4u << 20) /* a ring-buffer member's receive ring */
#define MTP_XDP_RING_SMALL  2048u  /* record sizes the hook reserves (constant for the verifier) */
#define MTP_XDP_RING_BIG    (65536u + 1024u) /* a 64 KiB GSO/GRO packet and its headers */

/* How a member receives (bits): its AF_XDP socket (packets of its queue), its ring buffer
 * (any queue). On a device with several queues a member has both: its own queue's packets
 * come through the socket, its connections' packets that RSS puts on other queues through
 * the ring. */
enum mtp_xdp_member_kind {
    MTP_XDP_MEMBER_FREE = 0,
    MTP_XDP_MEMBER_XSK = 1,
    MTP_XDP_MEMBER_RING = 2,
};

/* mtp_members[slot]; gen changes every time the slot is taken, so a pin to an earlier
 * holder of the slot is recognised as stale. */
struct mtp_xdp_member {
    __u32 gen;     /* 0: free */
    __u32 kind;    /* enum mtp_xdp_member_kind bits */
    __u32 queue;   /* the rx queue an XSK member's socket is bound to */
    __u32 pid;
    __u64 start;   /* the process's start time (/proc/PID/stat field 22): pid reuse */
};

/* mtp_info[0]: which program the hook steers for (a member of another program is refused). */
struct mtp_xdp_info {
    char prog[32];
};

/* Steering map: key = destination port in host byte order, value = the members serving it.
 * excl: an active open's local port, one member, never joined. holders: members (bit per
 * slot) that hold the port only for connections pinned to them (port_hold: a forked child
 * serving what its parent accepted, a member whose listener closed while its connections
 * finish: they are pinned by flow_claim); they get no new flow. dormant: members (bit per slot)
 * whose listener left the group while its kernel socket listens on (port_dormant: a forked
 * parent). The entry lives while any member, holder or dormant member does. With n == 0 new
 * flows go to the kernel, pinned ones are still steered; when a dormant bit is set each new
 * flow is pinned to the kernel (MTP_XDP_SLOT_KERNEL) first, so that it stays there. */
typedef __u16 mtp_xdp_port_key;
struct mtp_xdp_group {
    __u8 n;
    __u8 excl;
    __u8 slot[MTP_XDP_GROUP_MAX];
    __u32 holders;
    __u32 dormant;
};

/* A connection pinned to a member (the hook pins each new flow to a listening port; the
 * stack pins through flow_claim). Addresses and ports in host byte order. */
struct mtp_xdp_flow {
    __u32 remote_ip;
    __u16 remote_port;
    __u16 local_port;
};
#define MTP_XDP_SLOT_KERNEL 0xffffffffu /* a pin's slot: the kernel's connection (XDP_PASS) */
struct mtp_xdp_pin {
    __u32 slot;
    __u32 gen;
    __u32 claimed; /* set by flow_claim: holds even if the member is not in the port's group
                      (a connection handed to a forked child); the hook's own pins need the
                      member to still serve the port */
};

/* Ring-buffer record: the frame's length, then its bytes. */
struct mtp_xdp_ring_rec {
    __u32 len;
    __u32 pad;
};

/* Per-CPU counters kept by the hook (index into the PERCPU_ARRAY "mtp_stats"). */
enum mtp_xdp_stat {
    MTP_XDP_STAT_REDIRECTED,  /* owned port, valid: sent to the AF_XDP socket */
    MTP_XDP_STAT_MALFORMED,   /* owned port, the program's validity check failed: dropped */
    MTP_XDP_STAT_NO_SOCKET,   /* owned port but no member can take it on that rx queue: dropped */
    MTP_XDP_STAT_FRAGMENT,    /* IPv4 fragment of the program's protocol: passed to the kernel */
    MTP_XDP_STAT_PASSED,      /* program's protocol, port not owned (or too short): passed */
    MTP_XDP_STAT_RING,        /* copied into a ring-buffer member's ring */
    MTP_XDP_STAT_RING_FULL,   /* that ring was full (or the packet too long): dropped */
    MTP_XDP_STAT_ICMP,        /* ICMP error quoting a packet of an owned port: to its member */
    MTP_XDP_STAT_KERNEL_PIN,  /* a new flow of a port whose listeners are dormant: pinned to
                                 the kernel (and passed) */
    MTP_XDP_STAT_COUNT
};

#ifndef __bpf__
#include <stdint.h>

struct mtp_target;

/* Sums of the per-CPU counters, indexed by enum mtp_xdp_stat. */
struct mtp_xdp_stats {
    uint64_t v[MTP_XDP_STAT_COUNT];
};

/* Only for a target opened with mtp_target_xdp. Returns 0 or -errno. */
int mtp_xdp_stats_read(struct mtp_target *t, struct mtp_xdp_stats *out);
const char *mtp_xdp_stat_name(enum mtp_xdp_stat s);
/* "native" or "skb": how the hook program is attached. */
const char *mtp_xdp_mode(struct mtp_target *t);
#endif

#endif
