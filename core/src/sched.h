/*
 * sched.h — the packet scheduler (internal): queues of pending blueprints, chosen by strict
 * priority, weighted round robin (in packets) or arrival order (FIFO), each queue optionally
 * across flows (contexts) — by the flows' ranks, round robin among equal ranks — and paced
 * by a token bucket. Time enters as `now`.
 *
 * Items are embedded in the blueprints; a flow's sub-queue (struct mtp__flowq) lives in its
 * context's runtime state, so enqueueing allocates nothing.
 */
#ifndef MTP_SCHED_H
#define MTP_SCHED_H

#include <stdint.h>
#include "mtp/program.h"

struct mtp__flowq;

struct mtp__sq_item {
    struct mtp__sq_item *prev, *next;
    struct mtp__flowq *fq;   /* the sub-queue it is in, NULL when not queued */
    uint64_t seq;            /* arrival order */
    uint16_t queue;
};

struct mtp__flowq {
    struct mtp__sq_item *head, *tail;
    struct mtp__flowq *prev, *next; /* in the queue's list of flows with items */
    uint64_t rank;                  /* lower is served first; equal ranks round robin */
    uint8_t active;
};

struct mtp__squeue {
    struct mtp__flowq *flows_head, *flows_tail;
    struct mtp__flowq self;  /* the single sub-queue of a queue that is not per_flow */
    uint8_t per_flow;
    uint8_t prio;
    uint32_t weight;
    uint64_t rate;           /* bytes per second, 0 = unlimited */
    __int128 credit;         /* token bucket, in byte-nanoseconds-per-second units (B * 1e9) */
    __int128 burst;
    uint64_t last_ns;
    uint32_t count;
};

struct mtp__sched {
    uint8_t kind;            /* enum mtp_sched_kind */
    uint16_t n;
    struct mtp__squeue *q;
    uint16_t wrr_cur;
    uint32_t wrr_left;
    uint64_t seq;
    uint32_t mtu;
    uint32_t count;
};

int mtp__sched_init(struct mtp__sched *s, const struct mtp_sched_desc *d, uint32_t mtu,
                    uint64_t now_ns);
void mtp__sched_destroy(struct mtp__sched *s);
/* fq: the flow's sub-queue for a per_flow queue (NULL: the queue's own). */
void mtp__sched_enqueue(struct mtp__sched *s, struct mtp__sq_item *it, uint16_t queue,
                        struct mtp__flowq *fq);
void mtp__sched_remove(struct mtp__sched *s, struct mtp__sq_item *it);
/* The item to serve next, NULL when nothing is eligible now (empty or paced). */
struct mtp__sq_item *mtp__sched_peek(struct mtp__sched *s, uint64_t now_ns);
/* Account `pkts` packets of `bytes` in all sent from the item `peek` returned (still queued). */
void mtp__sched_charge(struct mtp__sched *s, struct mtp__sq_item *it, uint32_t bytes,
                       uint32_t pkts);
void mtp__sched_set_rate(struct mtp__sched *s, uint16_t queue, uint64_t rate, uint64_t now_ns);
void mtp__sched_set_prio(struct mtp__sched *s, uint16_t queue, uint8_t prio);
/* A flow's rank inside per_flow queue `queue` (its sub-queue fq), kept while it is idle. */
void mtp__sched_set_rank(struct mtp__sched *s, uint16_t queue, struct mtp__flowq *fq,
                         uint64_t rank);
/* When a paced queue with items becomes eligible, UINT64_MAX if none waits. */
uint64_t mtp__sched_next_ready(const struct mtp__sched *s, uint64_t now_ns);

#endif
