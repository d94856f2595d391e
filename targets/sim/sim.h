/*
 * sim.h — a simulated Ethernet segment joining several stacks in one process, for
 * deterministic tests: a virtual clock and seeded faults (loss, duplication, reordering,
 * delay with jitter, bit-flip corruption, a per-sender rate limit, a per-receiver queue
 * limit). Same seed and same inputs give the same run, frame for frame; the trace hash
 * (every delivered frame with its time and receiver) proves it.
 *
 * Every endpoint is a `struct mtp_target` driven through `mtp_target_sim`, with its own MAC
 * (02:00:00:00:hi:lo, lo = index + 1), the wire's MTU and owns_arp = 1. Frames go to the
 * endpoint whose MAC is the destination, broadcasts to every endpoint but the sender.
 * Nothing here reads a real clock: time moves only through mtp_sim_set_now() or the driver.
 */
#ifndef MTP_SIM_H
#define MTP_SIM_H

#include <stdint.h>
#include "mtp/target.h"

struct mtp_stack;
struct mtp_sim_wire;

struct mtp_sim_config {
    uint64_t seed;
    uint32_t mtu;               /* IP MTU of every endpoint; 0: 1500 */
    uint32_t loss_ppm;          /* faults per million frames (per receiver) */
    uint32_t dup_ppm;
    uint32_t reorder_ppm;       /* held back by reorder_ns so later frames overtake it */
    uint32_t corrupt_ppm;       /* one random bit flipped in the frame */
    uint64_t delay_ns;          /* one-way fixed delay */
    uint64_t jitter_ns;         /* plus uniform [0, jitter_ns] */
    uint64_t reorder_ns;        /* 0: 2 * (delay + jitter) + 1 ms */
    uint64_t rate_bytes_per_sec;/* serialisation per sender, 0: infinitely fast */
    uint32_t queue_limit;       /* frames waiting for one receiver, 0: unbounded */
    uint32_t offload_caps;      /* device offloads to report: MTP_OFFLOAD_IPV4_CSUM and
                                 * MTP_OFFLOAD_L4_CSUM (completed at the frame's csum_off) */
    uint8_t link_kind;          /* enum mtp_link_kind every endpoint reports (0: a wire) */
    uint8_t l4_csum_partial;    /* with MTP_OFFLOAD_L4_CSUM: leave the pseudo-header seed as
                                 * it is, as the kernel's veth and lo do (CHECKSUM_PARTIAL) */
    /* A switch port in front of every receiver: frames that reached it leave one at a time
     * at this rate (0: no port, frames arrive as they were sent). With prio_queues, the port
     * has 8 queues by the IPv4 precedence bits (TOS >> 5, 7 first) served in strict
     * priority, FIFO inside a level; without, one FIFO. Non-IPv4 frames go at level 0. */
    uint64_t port_rate_bytes_per_sec;
    uint8_t prio_queues;
};

struct mtp_sim_stats {
    uint64_t sent, delivered, lost, duplicated, reordered, corrupted, queue_drops;
    uint64_t port_overtakes;    /* a frame left the port before one that reached it earlier */
};

/* `name` (may be NULL) lets ops->open find the wire: iface = name, args = "a.b.c.d[/len]". */
struct mtp_sim_wire *mtp_sim_wire_new(const char *name, const struct mtp_sim_config *cfg);
/* Closes the endpoints still attached, frees frames in flight. */
void mtp_sim_wire_free(struct mtp_sim_wire *w);

/* A new endpoint with address ipv4/prefix_len (host order). Equivalent to ops->open. */
int mtp_sim_attach(struct mtp_sim_wire *w, uint32_t ipv4, uint32_t prefix_len,
                   struct mtp_target **out);

uint64_t mtp_sim_now(const struct mtp_sim_wire *w);
void mtp_sim_set_now(struct mtp_sim_wire *w, uint64_t now_ns); /* never moves backwards */
uint64_t mtp_sim_next_delivery(const struct mtp_sim_wire *w);  /* UINT64_MAX: nothing */
/* The next delivery after `t`, ignoring endpoints whose first frame is already due (the
 * driver's view: a raw endpoint nobody reads must not stop the clock). */
uint64_t mtp_sim_next_delivery_after(const struct mtp_sim_wire *w, uint64_t t);
uint64_t mtp_sim_trace_hash(const struct mtp_sim_wire *w);
const struct mtp_sim_stats *mtp_sim_stats(const struct mtp_sim_wire *w);
void mtp_sim_set_faults(struct mtp_sim_wire *w, const struct mtp_sim_config *cfg); /* not mtu */

/* The driver: polls every stack at the wire's time until all are idle, checks `cond`, then
 * moves the clock to the next frame delivery or timer deadline. Returns 0 once `cond(arg)`
 * is true, -ETIMEDOUT when the next step would pass `deadline_ns` (clock left there). */
typedef int (*mtp_sim_cond_fn)(void *arg);
int mtp_sim_run_until(struct mtp_sim_wire *w, struct mtp_stack *const *stacks, int n,
                      mtp_sim_cond_fn cond, void *arg, uint64_t deadline_ns);

#endif
