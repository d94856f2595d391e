/*
 * engine.h — the transport engine: events in, instructions executed, transport packets out.
 * It knows nothing of Ethernet, ARP or devices: stack.c feeds it validated IPv4 payloads and
 * wraps what it generates in IPv4/Ethernet. Time only enters as `now`. Used directly by
 * protocol tests (no network at all) and by the stack.
 */
#ifndef MTP_ENGINE_H
#define MTP_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include "mtp/program.h"

/* Notifications to the socket layer (or a test). Codes below 256 are the runtime's;
 * `notify(code, value)` in a program delivers its own code (>= 256 by convention). */
enum {
    MTP_NOTE_RX_READY = 1,   /* more in-order bytes in rx unit `uid`; value = bytes ready */
    MTP_NOTE_RX_FLUSHED,     /* rx_flush_and_notify copied `value` bytes */
    MTP_NOTE_TX_FLUSHED,     /* tx_flush_and_notify retired `value` bytes: space to write */
    MTP_NOTE_CTX_NEW,        /* new_ctx created an instance */
    MTP_NOTE_CTX_DEL,        /* del_ctx removed an instance */
};

struct mtp_note {
    uint32_t code;
    uint16_t ctx_type;
    struct mtp_key key;
    uint64_t uid;
    uint64_t value;
};

typedef void (*mtp_note_fn)(void *user, const struct mtp_note *note);

/* Counters a tool can read: drops by reason, pool exhaustion, instructions executed … The
 * engine counts its own; a stack (mtp/stack.h) adds the network layers' to the same struct. */
struct mtp_stats {
    uint64_t rx_frames, tx_frames, rx_bytes, tx_bytes;
    uint64_t drop_malformed, drop_bad_csum, drop_no_ctx, drop_no_chain, drop_ip_frag;
    uint64_t drop_not_mine, drop_tx_full, drop_arp_unresolved;
    uint64_t arp_requests, arp_replies, icmp_echo_replies, icmp_unreach_sent;
    uint64_t events, instructions, instr_overflow, event_overflow, pool_exhausted;
    uint64_t timers_fired, blueprints, blueprints_coalesced, assert_failures;
    /* engine: instructions refused (unknown context/unit, bad range, …); instructions
     * discarded after a failed new_ctx; segments with bytes beyond an rx window; pkt_gen
     * data references outside their tx unit, or into a unit del_ctx freed before they left */
    uint64_t instr_failed, instr_discarded, drop_rx_window, drop_data_ref;
    /* super-packets handed to a segmentation offload, and the packets they stand for */
    uint64_t tx_super_frames, tx_super_pkts;
    /* L4 checksums that held only the pseudo-header sum (CHECKSUM_PARTIAL): accepted, and
     * refused by MTP_RX_CSUM (counted here, not in drop_bad_csum); packets without a route */
    uint64_t rx_csum_partial, drop_csum_partial, drop_no_route;
    /* received IPv4 packets longer than the MTU (a GSO/GRO super-frame from the kernel) */
    uint64_t rx_super_frames;
    /* hand-off (below): instances exported and imported; pending packets an export's drop
     * discarded (a loss the protocol recovers from) */
    uint64_t handoff_exports, handoff_imports, handoff_bps_dropped;
    /* ICMP errors quoting a packet of the program's protocol that this stack sent, by type
     * (destination unreachable, of which fragmentation needed; time exceeded; parameter
     * problem); those whose events reached a live context, those that matched none (or the
     * program reads no quotes), and those too short or inconsistent to use */
    uint64_t icmp_err_unreach, icmp_err_frag_needed, icmp_err_time_exceeded, icmp_err_param;
    uint64_t icmp_err_delivered, icmp_err_unmatched, icmp_err_malformed;
};

struct mtp_engine;

struct mtp_engine_config {
    uint32_t local_ip;         /* host order: default source address of generated packets */
    uint32_t mtu;              /* IP MTU (payload per packet = mtu - 20 - header), default 1500 */
    uint64_t seed;             /* keyed_hash secret and rand32 */
    uint32_t max_contexts;     /* per context type, default 131072 */
    uint32_t tx_unit_bytes;    /* ring size of an unbounded tx unit, default 256 KiB */
    uint32_t rx_unit_bytes;    /* reassembly window of an unbounded rx unit, default 256 KiB */
    struct mtp_stats *stats;   /* counters to add to (the stack's), NULL: engine's own */
    /* Super-packets (segmentation offload): 0 = never. Otherwise a blueprint whose seg rule
     * is offset-linear on exactly (seg_linear_off, seg_linear_bytes), for a program whose
     * ip_proto is seg_ip_proto, may leave as one packet of up to seg_max_bytes L4 bytes. */
    uint32_t seg_max_bytes;
    uint8_t seg_ip_proto;
    uint8_t seg_linear_bytes;
    uint16_t seg_linear_off;
};

struct mtp_engine *mtp_engine_new(const struct mtp_program *prog,
                                  const struct mtp_engine_config *cfg, int *err);
void mtp_engine_free(struct mtp_engine *e);
void mtp_engine_set_notify(struct mtp_engine *e, mtp_note_fn fn, void *user);

/* One received transport packet: runs the program's parser and the resulting events. The
 * payload bytes must stay valid until the call returns (rx data is copied into units).
 * Returns the events run, MTP_EBADMSG for a malformed packet, or MTP_ENOENT when the packet
 * had no receiver: an event of it found no context instance and had no else chain, and
 * none of its events ran a chain (the stack may answer with an ICMP error). */
int mtp_engine_rx(struct mtp_engine *e, const struct mtp_rx_pkt *pkt, uint64_t now_ns);

/* The quote of an ICMP error about a packet this stack sent: `pkt` describes the quoted
 * packet (pkt->ip.icmp_type != 0, src = this stack; l4/l4_len the quoted L4 bytes, often only
 * 8). Runs the program's parser on it (a program without net_errors gets none) and then only
 * the events whose context is a live flow instance (RFC 5927: the quote must name a
 * connection; nothing is created, no else chain runs). Returns the events run, MTP_ENOENT when
 * none matched, MTP_EBADMSG when the parser refused the quote. */
int mtp_engine_rx_error(struct mtp_engine *e, const struct mtp_rx_pkt *pkt, uint64_t now_ns);

/* An application event for context `key` (NULL: none), run to completion. */
int mtp_engine_post(struct mtp_engine *e, uint16_t ev_type, const struct mtp_key *key,
                    const void *ev, uint32_t len, uint64_t now_ns);

/* Fire expired timers (running their chains). Returns the number fired. */
int mtp_engine_timers(struct mtp_engine *e, uint64_t now_ns);
uint64_t mtp_engine_next_deadline(const struct mtp_engine *e);

/* Generated transport packets, one at a time, in scheduler order. */
struct mtp_tx_meta {
    uint32_t src_ip, dst_ip;   /* host order */
    uint8_t ip_proto, tos;
    uint32_t l4_len;           /* bytes written */
    int32_t csum_off;          /* offset of the L4 checksum field in the packet, -1: none;
                                  the field is left 0 for the caller (pseudo header needs IP) */
    /* A super-packet: the first packet's header (hdr_len bytes) then the payload of n_pkts
     * packets of seg_size bytes (the last may be shorter); 0/1 for an ordinary packet. */
    uint32_t seg_size, hdr_len, n_pkts;
    uint16_t linear_off;       /* the rule's field the device advances */
    uint8_t linear_bytes;
};
/* Writes the next packet's L4 bytes (header + payload, or a super-packet within cap) to buf.
 * Returns its length, 0 when
 * nothing is ready now (empty, or paced until later), or a negative error. */
int mtp_engine_tx_next(struct mtp_engine *e, uint8_t *buf, uint32_t cap,
                       struct mtp_tx_meta *meta, uint64_t now_ns);
int mtp_engine_tx_pending(const struct mtp_engine *e);

/* Shim / test access. */
void *mtp_engine_ctx(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key);
int64_t mtp_engine_rx_ready(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key,
                            uint64_t uid);
int64_t mtp_engine_tx_space(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key,
                            uint64_t uid);
const struct mtp_stats *mtp_engine_stats(const struct mtp_engine *e);

/* Hand-off: one context instance's complete state moves to another engine running the same
 * program on the same host (another process's stack, a replacement stack), so that it goes
 * on there with no byte lost or repeated. Protocol-free (core/src/handoff.c).
 *
 * export writes the image of instance `key` of `ctx_type` to a malloc'd buffer (*img, *len;
 * free() it): the program's context struct, its data units with their bytes (received and
 * unread, received out of order, written and not yet retired), its timers' deadlines
 * (absolute, CLOCK_MONOTONIC ns: both engines must share the clock) and its rank in each
 * scheduler queue. Its pending packets are not in the image. The instance stays.
 * drop removes the instance silently: no chain runs, no packet leaves, no notification; its
 * pending packets are discarded (handoff_bps_dropped), as if lost on the wire.
 * import creates the instance an image describes; no notification. MTP_EEXIST: the key
 * exists; MTP_EINVAL: another program, scheduler or unit size; MTP_EBADMSG: a malformed or
 * truncated image (nothing is created). Global contexts are never handed off (MTP_ENOENT).
 * None may be called from inside a notification (MTP_EBUSY). */
int mtp_engine_ctx_export(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key,
                          void **img, size_t *len);
int mtp_engine_ctx_drop(struct mtp_engine *e, uint16_t ctx_type, const struct mtp_key *key);
int mtp_engine_ctx_import(struct mtp_engine *e, const void *img, size_t len);

#endif
