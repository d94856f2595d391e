/*
 * arp.c — ARP packet format and the neighbour cache (policy in arp.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "arp.h"

int mtp_arp_parse(const uint8_t *buf, uint32_t len, struct mtp_arp_repr *out)
{
    if (len < MTP_ARP_LEN)
        return MTP_NET_MALFORMED;
    if (mtp_get16(buf + MTP_ARP_HTYPE) != MTP_ARP_HTYPE_ETH ||
        mtp_get16(buf + MTP_ARP_PTYPE) != MTP_ETHERTYPE_IPV4 || buf[MTP_ARP_HLEN] != 6 ||
        buf[MTP_ARP_PLEN] != 4)
        return MTP_NET_UNSUPPORTED;
    out->oper = mtp_get16(buf + MTP_ARP_OPER);
    if (out->oper != MTP_ARP_OP_REQUEST && out->oper != MTP_ARP_OP_REPLY)
        return MTP_NET_UNSUPPORTED;
    memcpy(out->sha, buf + MTP_ARP_SHA, 6);
    out->spa = mtp_get32(buf + MTP_ARP_SPA);
    memcpy(out->tha, buf + MTP_ARP_THA, 6);
    out->tpa = mtp_get32(buf + MTP_ARP_TPA);
    return MTP_NET_OK;
}

void mtp_arp_emit(const struct mtp_arp_repr *r, uint8_t *buf)
{
    mtp_put16(buf + MTP_ARP_HTYPE, MTP_ARP_HTYPE_ETH);
    mtp_put16(buf + MTP_ARP_PTYPE, MTP_ETHERTYPE_IPV4);
    buf[MTP_ARP_HLEN] = 6;
    buf[MTP_ARP_PLEN] = 4;
    mtp_put16(buf + MTP_ARP_OPER, r->oper);
    memcpy(buf + MTP_ARP_SHA, r->sha, 6);
    mtp_put32(buf + MTP_ARP_SPA, r->spa);
    memcpy(buf + MTP_ARP_THA, r->tha, 6);
    mtp_put32(buf + MTP_ARP_TPA, r->tpa);
}

/* ---------------------------------------------------------------- cache */

void mtp__arp_init(struct mtp_arp *a, uint32_t own_ip, const uint8_t own_mac[6],
                   const struct mtp_arp_io *io, struct mtp_stats *stats)
{
    memset(a, 0, sizeof *a);
    a->io = *io;
    a->stats = stats;
    a->own_ip = own_ip;
    memcpy(a->own_mac, own_mac, 6);
    a->ttl_ns = MTP_ARP_TTL_NS;
    a->retry_ns = MTP_ARP_RETRY_NS;
    a->max_tries = MTP_ARP_TRIES;
    a->poll_due = a->pending_due = UINT64_MAX;
}

/* Every deadline goes through here: poll and next_deadline never miss one. */
static void entry_due(struct mtp_arp *a, struct mtp_arp_entry *e, uint64_t deadline_ns)
{
    e->deadline_ns = deadline_ns;
    if (deadline_ns < a->poll_due)
        a->poll_due = deadline_ns;
    if (e->state == MTP_ARP_PENDING && deadline_ns < a->pending_due)
        a->pending_due = deadline_ns;
}

static void dues_recompute(struct mtp_arp *a)
{
    a->poll_due = a->pending_due = UINT64_MAX;
    for (int i = 0; i < MTP_ARP_ENTRIES; i++) {
        const struct mtp_arp_entry *e = &a->e[i];
        if (e->state == MTP_ARP_FREE)
            continue;
        if (e->deadline_ns < a->poll_due)
            a->poll_due = e->deadline_ns;
        if (e->state == MTP_ARP_PENDING && e->deadline_ns < a->pending_due)
            a->pending_due = e->deadline_ns;
    }
}

static void entry_drop_queue(struct mtp_arp *a, struct mtp_arp_entry *e)
{
    for (uint32_t i = 0; i < e->nq; i++)
        free(e->q[i].bytes);
    a->stats->drop_arp_unresolved += e->nq;
    e->nq = 0;
}

static void entry_free(struct mtp_arp *a, struct mtp_arp_entry *e)
{
    entry_drop_queue(a, e);
    e->state = MTP_ARP_FREE;
}

void mtp__arp_clear(struct mtp_arp *a)
{
    for (int i = 0; i < MTP_ARP_ENTRIES; i++)
        if (a->e[i].state != MTP_ARP_FREE)
            entry_free(a, &a->e[i]);
    a->poll_due = a->pending_due = UINT64_MAX;
}

/* The set of `ip`: a multiplicative hash (Fibonacci hashing) of the address. */
static struct mtp_arp_entry *set_of(struct mtp_arp *a, uint32_t ip)
{
    uint32_t set = (uint32_t)(ip * 2654435769u) >> 24;
    return &a->e[(set % MTP_ARP_SETS) * MTP_ARP_WAYS];
}

static struct mtp_arp_entry *entry_find(struct mtp_arp *a, uint32_t ip)
{
    struct mtp_arp_entry *set = set_of(a, ip);
    for (int i = 0; i < MTP_ARP_WAYS; i++)
        if (set[i].state != MTP_ARP_FREE && set[i].ip == ip)
            return &set[i];
    return NULL;
}

/* A free slot of the set, else the one closest to its deadline (the oldest; a pending
 * resolution, retried within a second, goes before an entry that is valid for a minute). */
static struct mtp_arp_entry *entry_alloc(struct mtp_arp *a, uint32_t ip)
{
    struct mtp_arp_entry *set = set_of(a, ip), *victim = &set[0];
    for (int i = 0; i < MTP_ARP_WAYS; i++) {
        struct mtp_arp_entry *e = &set[i];
        if (e->state == MTP_ARP_FREE) {
            victim = e;
            break;
        }
        if (e->deadline_ns < victim->deadline_ns)
            victim = e;
    }
    if (victim->state != MTP_ARP_FREE)
        entry_free(a, victim);
    memset(victim, 0, sizeof *victim);
    victim->ip = ip;
    return victim;
}

int mtp__arp_lookup(struct mtp_arp *a, uint32_t ip, uint8_t mac[6], uint64_t now_ns)
{
    struct mtp_arp_entry *e = entry_find(a, ip);
    if (!e || e->state != MTP_ARP_VALID || e->deadline_ns <= now_ns)
        return -EAGAIN;
    memcpy(mac, e->mac, 6);
    return 0;
}

int mtp__arp_enqueue(struct mtp_arp *a, uint32_t ip, const uint8_t *pkt, uint32_t len,
                     uint64_t now_ns)
{
    struct mtp_arp_entry *e = entry_find(a, ip);
    if (e && e->state == MTP_ARP_VALID && e->deadline_ns > now_ns) {
        a->io.send(a->io.user, e->mac, pkt, len, now_ns);
        return 0;
    }
    int start = !e || e->state != MTP_ARP_PENDING;
    if (!e)
        e = entry_alloc(a, ip);
    if (e->nq == MTP_ARP_QUEUE) {
        a->stats->drop_arp_unresolved++;
        return -ENOBUFS;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        a->stats->drop_arp_unresolved++;
        return -ENOBUFS;
    }
    memcpy(copy, pkt, len);
    e->q[e->nq++] = (struct mtp_arp_qpkt){ copy, len };
    if (start) {
        /* Queue first: the solicit may resolve at once (kernel table) and flush. */
        e->state = MTP_ARP_PENDING;
        e->tries = 1;
        e->give_up_ns = now_ns + (uint64_t)a->max_tries * a->retry_ns;
        entry_due(a, e, now_ns + a->retry_ns);
        a->io.solicit(a->io.user, ip, now_ns);
    }
    return 0;
}

void mtp__arp_learn(struct mtp_arp *a, uint32_t ip, const uint8_t mac[6], int create,
                    uint64_t now_ns)
{
    struct mtp_arp_entry *e = entry_find(a, ip);
    if (!e) {
        if (!create)
            return;
        e = entry_alloc(a, ip);
    }
    memcpy(e->mac, mac, 6);
    int was_pending = e->state == MTP_ARP_PENDING;
    e->state = MTP_ARP_VALID;
    e->tries = 0;
    entry_due(a, e, now_ns + a->ttl_ns);
    if (was_pending && e->deadline_ns != a->pending_due)
        dues_recompute(a); /* (resolutions are rare: the next wake-up stays exact) */
    /* Flush in order; the queue is emptied first so a re-entrant enqueue cannot see it. */
    struct mtp_arp_qpkt q[MTP_ARP_QUEUE];
    uint32_t nq = e->nq;
    memcpy(q, e->q, nq * sizeof q[0]);
    e->nq = 0;
    for (uint32_t i = 0; i < nq; i++) {
        a->io.send(a->io.user, mac, q[i].bytes, q[i].len, now_ns);
        free(q[i].bytes);
    }
}

int mtp__arp_input(struct mtp_arp *a, const struct mtp_arp_repr *r, uint64_t now_ns)
{
    if (r->spa == a->own_ip || mtp_eth_is_multicast(r->sha) ||
        memcmp(r->sha, a->own_mac, 6) == 0)
        return 0;
    int for_us = r->oper == MTP_ARP_OP_REQUEST && r->tpa == a->own_ip;
    if (r->spa != 0) /* 0: an address probe (RFC 5227), nothing to learn */
        mtp__arp_learn(a, r->spa, r->sha, for_us, now_ns);
    return for_us;
}

void mtp__arp_poll(struct mtp_arp *a, uint64_t now_ns)
{
    if (now_ns < a->poll_due)
        return;
    for (int i = 0; i < MTP_ARP_ENTRIES; i++) {
        struct mtp_arp_entry *e = &a->e[i];
        if (e->state == MTP_ARP_FREE || e->deadline_ns > now_ns)
            continue;
        if (e->state == MTP_ARP_VALID || e->tries >= a->max_tries || now_ns >= e->give_up_ns) {
            entry_free(a, e);
            continue;
        }
        e->tries++;
        e->deadline_ns = now_ns + a->retry_ns;
        a->io.solicit(a->io.user, e->ip, now_ns);
    }
    dues_recompute(a);
}

uint64_t mtp__arp_next_deadline(const struct mtp_arp *a)
{
    return a->pending_due;
}
