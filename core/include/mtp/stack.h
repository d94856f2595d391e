/*
 * stack.h — the runtime's public API: one stack = one compiled program + one target +
 * the network layers (Ethernet, ARP, IPv4, ICMP) + the engine that executes instructions.
 *
 * Run to completion in the caller's thread: the caller calls mtp_stack_poll() (packets in,
 * events, timers, packets out) and mtp_stack_post() (an application event) with the current
 * time. Nothing inside reads a clock. Functions return >= 0 or a negative MTP error code
 * (mtp/errors.h, mtp_strerror()).
 */
#ifndef MTP_STACK_H
#define MTP_STACK_H

#include <stddef.h>
#include <stdint.h>
#include "mtp/engine.h" /* notes and stats */
#include "mtp/program.h"
#include "mtp/target.h"

struct mtp_stack;

struct mtp_stack_config {
    const struct mtp_program *prog;
    const struct mtp_target_ops *ops;
    struct mtp_target *target;    /* opened by the caller with ops->open */
    uint32_t ipv4;                /* host order; 0: take it from ops->link_info */
    uint32_t prefix_len;          /* 0: from link_info (default 24) */
    uint32_t gateway;             /* 0: from link_info / none */
    uint64_t seed;                /* keyed_hash secret and rand32 seed (0: from getrandom) */
    uint32_t max_contexts;        /* per context type, 0: default (131072) */
    uint32_t tx_unit_bytes;       /* ring size of an unbounded tx unit, 0: default */
    uint32_t rx_unit_bytes;       /* reassembly window of an unbounded rx unit, 0: default */
    const char *pcap_path;        /* MTP_PCAP: write every frame sent and received, or NULL */
    uint8_t rx_csum;              /* MTP_RX_CSUM: enum mtp_rx_csum (0: auto) */
    uint8_t no_seg_offload;       /* MTP_TSO=off: no super-frames even if the device cuts them */
};

/* Which received L4 checksums the stack accepts (MTP_RX_CSUM). A frame whose checksum field
 * holds exactly the pseudo-header sum is what the kernel's CHECKSUM_PARTIAL leaves on
 * interfaces without a wire; any other mismatch is corruption, dropped (drop_bad_csum). */
enum mtp_rx_csum {
    MTP_RX_CSUM_AUTO = 0,  /* partial accepted on veth, lo and tap (link_info.kind), else not */
    MTP_RX_CSUM_FULL,      /* only complete checksums, on every interface */
    MTP_RX_CSUM_PARTIAL,   /* partial accepted on every interface */
};
/* Does `policy` accept a partial checksum on an interface of `kind`? */
int mtp_rx_csum_accepts_partial(enum mtp_rx_csum policy, enum mtp_link_kind kind);
const char *mtp_link_kind_name(enum mtp_link_kind kind);

/* The runtime's environment knobs, read and validated in one place (mtp_knobs_from_env):
 * a wrong value is one line in `err` naming the variable and the accepted values. */
struct mtp_knobs {
    enum mtp_rx_csum rx_csum;     /* MTP_RX_CSUM=auto|full|partial */
    uint8_t no_seg_offload;       /* MTP_TSO=auto|off */
};
int mtp_knobs_from_env(struct mtp_knobs *out, char *const *env, char *err, size_t cap);
/* Puts the knobs into the stack's and the target's configuration. */
void mtp_knobs_apply(const struct mtp_knobs *k, struct mtp_stack_config *scfg,
                     struct mtp_target_config *tcfg);

struct mtp_stack *mtp_stack_new(const struct mtp_stack_config *cfg, int *err);
void mtp_stack_free(struct mtp_stack *s);
void mtp_stack_set_notify(struct mtp_stack *s, mtp_note_fn fn, void *user);

/* Receive a bounded batch, run the events and expired timers, send what was generated.
 * Returns the number of frames and events handled (0: idle). */
int mtp_stack_poll(struct mtp_stack *s, uint64_t now_ns);

/* Earliest timer deadline (ns), or UINT64_MAX if none is armed. */
uint64_t mtp_stack_next_deadline(const struct mtp_stack *s);

/* Post an application event (a generated event struct of `len` bytes) for context `key`
 * and run it to completion, including the packets it generates. */
int mtp_stack_post(struct mtp_stack *s, uint16_t ev_type, const struct mtp_key *key,
                   const void *ev, uint32_t len, uint64_t now_ns);

/* Read access for shims: a context instance (NULL if absent), data-unit levels. */
void *mtp_stack_ctx(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key);
int64_t mtp_stack_rx_ready(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key,
                           uint64_t uid);
int64_t mtp_stack_tx_space(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key,
                           uint64_t uid);

/* The stack's own address and claimed ports (bind/listen/connect go through here so the
 * target can steer and reserve the port). */
uint32_t mtp_stack_ipv4(const struct mtp_stack *s);
int mtp_stack_port_claim(struct mtp_stack *s, uint16_t port);   /* 0: pick an ephemeral one */
void mtp_stack_port_release(struct mtp_stack *s, uint16_t port);
/* Parking: an ephemeral port released by its connection stays claimed at the target (up to
 * 32 of them, each for 2 s at most) and comes back to a later claim once min_age_ns have
 * passed, without the target's claim and release (about ten system calls on the XDP
 * target). For a protocol whose peers take a new connection on a recently used address and
 * port after that long (TCP with timestamps: 2 ms, RFC 6191). 0, the default: no parking. */
void mtp_stack_park_ports(struct mtp_stack *s, uint64_t min_age_ns);
/* A port held for connections pinned to this stack (the target's port_hold): not claimed,
 * not listened on; one hold per call, undone by unhold (the caller counts its users). */
int mtp_stack_port_hold(struct mtp_stack *s, uint16_t port);
void mtp_stack_port_unhold(struct mtp_stack *s, uint16_t port);
/* 1 when the target shares ports between stacks (port groups, port_hold): a stack can leave a
 * port's group and keep the connections it has there. 0: its ports are its own. */
int mtp_stack_port_groups(const struct mtp_stack *s);
/* The target's flow_claim / flow_release: steer connection (local port, remote address and
 * port, host byte order) to this stack whether or not it is in the port's group (0 where
 * nothing is steered), and undo that. */
int mtp_stack_flow_claim(struct mtp_stack *s, uint16_t lport, uint32_t rip, uint16_t rport);
void mtp_stack_flow_release(struct mtp_stack *s, uint16_t lport, uint32_t rip, uint16_t rport);
/* The target's port_dormant: a listener of this process on `port` left its group while its
 * kernel socket listens on (on 1), or that is over (on 0). */
int mtp_stack_port_dormant(struct mtp_stack *s, uint16_t port, int on);
/* The target's port_members: process ids of the other stacks that get `port`'s new flows
 * (up to max; how many, 0 where ports are not shared). */
int mtp_stack_port_members(struct mtp_stack *s, uint16_t port, uint32_t *pids, int max);

/* Hand-off of one context instance between stacks (mtp_engine_ctx_export and friends in
 * mtp/engine.h): export first sends the packets the stack has ready (what is still pending
 * when the caller drops the instance is lost like a packet on the wire), then writes the
 * image. Ports and steering (mtp_stack_port_claim, the target's flow_claim) are the caller's. */
int mtp_stack_ctx_export(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key,
                         uint64_t now_ns, void **img, size_t *len);
int mtp_stack_ctx_drop(struct mtp_stack *s, uint16_t ctx_type, const struct mtp_key *key);
int mtp_stack_ctx_import(struct mtp_stack *s, const void *img, size_t len, uint64_t now_ns);

/* The engine's counters (mtp/engine.h) plus the network layers' (frames, ARP, ICMP, drops). */
const struct mtp_stats *mtp_stack_stats(const struct mtp_stack *s);

#endif
