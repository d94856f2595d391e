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

/* Steering map: key = destination port in host byte order, value = 1 while the stack owns it. */
typedef __u16 mtp_xdp_port_key;

/* Per-CPU counters kept by the hook (index into the PERCPU_ARRAY "mtp_stats"). */
enum mtp_xdp_stat {
    MTP_XDP_STAT_REDIRECTED,  /* owned port, valid: sent to the AF_XDP socket */
    MTP_XDP_STAT_MALFORMED,   /* owned port, the program's validity check failed: dropped */
    MTP_XDP_STAT_NO_SOCKET,   /* owned port but no socket on that rx queue: dropped */
    MTP_XDP_STAT_FRAGMENT,    /* IPv4 fragment of the program's protocol: passed to the kernel */
    MTP_XDP_STAT_PASSED,      /* program's protocol, port not owned (or too short): passed */
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
