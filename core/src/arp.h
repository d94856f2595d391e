/*
 * arp.h — the neighbour cache (internal): IPv4 -> MAC with expiry, resolution with retries,
 * and a bounded queue per next hop of packets waiting for its MAC.
 *
 * The cache does no I/O: it asks its owner (the stack) through `struct mtp_arp_io` to
 * solicit an address (send an ARP request, or ask the kernel's table) and to send a queued
 * packet once the MAC is known. Time enters as `now`.
 *
 * Unsolicited traffic policy (gratuitous ARP included): an ARP packet updates an entry that
 * already exists (RFC 826 "merge"), and creates one only when it is a request for our own
 * address (the sender is about to talk to us; RFC 826 does the same). Gratuitous
 * announcements and replies nobody asked for never create entries, so a flood of them cannot
 * fill or poison the cache with addresses we do not use. Packets claiming our own IP, or a
 * broadcast/multicast or our own MAC as sender, are ignored.
 */
#ifndef MTP_ARP_H
#define MTP_ARP_H

#include <stdint.h>
#include "mtp/net.h"
#include "mtp/stack.h"

/* Slots: MTP_ARP_SETS sets of MTP_ARP_WAYS, a next hop's set picked by a hash of its address,
 * so a lookup reads one set, and traffic to many on-link hosts (a rack's worth, or a flood
 * from spoofed on-link addresses) does not evict every entry in turn (Linux keeps up to
 * 1024 neighbours by default too). */
#define MTP_ARP_WAYS 4
#define MTP_ARP_SETS 256
#define MTP_ARP_ENTRIES (MTP_ARP_SETS * MTP_ARP_WAYS)
#define MTP_ARP_QUEUE 8              /* packets waiting per unresolved next hop */
#define MTP_ARP_TTL_NS (60ull * 1000000000ull)
#define MTP_ARP_RETRY_NS (1000000000ull)
#define MTP_ARP_TRIES 3              /* requests before giving up */

enum mtp_arp_state { MTP_ARP_FREE, MTP_ARP_PENDING, MTP_ARP_VALID };

struct mtp_arp_qpkt {
    uint8_t *bytes;                  /* the IPv4 packet (malloc'd copy) */
    uint32_t len;
};

struct mtp_arp_entry {
    uint32_t ip;
    uint8_t mac[6];
    uint8_t state;                   /* enum mtp_arp_state */
    uint32_t tries;                  /* requests sent while PENDING (kernel table: thousands) */
    uint64_t deadline_ns;            /* VALID: expiry; PENDING: next retry */
    uint64_t give_up_ns;             /* PENDING: max_tries * retry_ns after the first request,
                                        however late the polls that retry it come */
    uint32_t nq;
    struct mtp_arp_qpkt q[MTP_ARP_QUEUE];
};

struct mtp_arp_io {
    void *user;
    /* Ask for the MAC of `ip` (an ARP request, or a kernel-table lookup which may answer
     * at once through mtp__arp_learn). */
    void (*solicit)(void *user, uint32_t ip, uint64_t now_ns);
    /* Send a queued IPv4 packet to `mac` (the callee copies it). */
    void (*send)(void *user, const uint8_t mac[6], const uint8_t *pkt, uint32_t len,
                 uint64_t now_ns);
};

struct mtp_arp {
    struct mtp_arp_entry e[MTP_ARP_ENTRIES];
    struct mtp_arp_io io;
    struct mtp_stats *stats;         /* drop_arp_unresolved */
    uint32_t own_ip;
    uint8_t own_mac[6];
    uint64_t ttl_ns, retry_ns;
    uint32_t max_tries;
    uint64_t poll_due;               /* no entry has a deadline before this */
    uint64_t pending_due;            /* no PENDING entry has a retry before this */
};

void mtp__arp_init(struct mtp_arp *a, uint32_t own_ip, const uint8_t own_mac[6],
                   const struct mtp_arp_io *io, struct mtp_stats *stats);
void mtp__arp_clear(struct mtp_arp *a);   /* frees queued packets */

/* 0 and the MAC if known and fresh; -EAGAIN otherwise. */
int mtp__arp_lookup(struct mtp_arp *a, uint32_t ip, uint8_t mac[6], uint64_t now_ns);

/* Queues an IPv4 packet for next hop `ip` (copied), starting resolution if needed.
 * 0: queued; -ENOBUFS: queue full or no memory (dropped and counted). */
int mtp__arp_enqueue(struct mtp_arp *a, uint32_t ip, const uint8_t *pkt, uint32_t len,
                     uint64_t now_ns);

/* A MAC learned for `ip`: fills and flushes a PENDING entry, refreshes a VALID one; with
 * `create`, makes a new entry if none exists. */
void mtp__arp_learn(struct mtp_arp *a, uint32_t ip, const uint8_t mac[6], int create,
                    uint64_t now_ns);

/* A received ARP packet. Returns 1 if the caller must answer it (a request for our IP). */
int mtp__arp_input(struct mtp_arp *a, const struct mtp_arp_repr *r, uint64_t now_ns);

/* Retries and expiry; drops the queue of a next hop after max_tries requests. Looks at the
 * entries only when one of them is due. */
void mtp__arp_poll(struct mtp_arp *a, uint64_t now_ns);
uint64_t mtp__arp_next_deadline(const struct mtp_arp *a); /* PENDING retries only */

#endif
