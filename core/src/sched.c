/* sched.c — packet scheduler; see sched.h. */
#include <stdlib.h>
#include <string.h>
#include "mtp/errors.h"
#include "sched.h"

#define NS_PER_S 1000000000ll

static const struct mtp_queue_desc fifo_queue = { .name = "fifo", .weight = 1 };

static void queue_refill(struct mtp__squeue *q, uint64_t now);

/* A new rate keeps the credit earned so far (clamped to the new burst): a program that
 * updates its pacing rate on every ack must not get a fresh burst each time. */
static void queue_set_rate(struct mtp__squeue *q, uint64_t rate, uint32_t mtu, uint64_t now)
{
    int fresh = q->rate == 0;
    queue_refill(q, now);
    q->rate = rate;
    /* burst: two full packets or one millisecond at the rate, whichever is more */
    __int128 burst = (__int128)2 * mtu * NS_PER_S;
    __int128 ms = (__int128)rate * 1000000;
    q->burst = ms > burst ? ms : burst;
    if (fresh || q->credit > q->burst)
        q->credit = q->burst;
    q->last_ns = now;
}

int mtp__sched_init(struct mtp__sched *s, const struct mtp_sched_desc *d, uint32_t mtu,
                    uint64_t now_ns)
{
    memset(s, 0, sizeof *s);
    s->kind = d ? d->kind : MTP_SCHED_FIFO;
    s->n = d && d->n_queues ? d->n_queues : 1;
    s->mtu = mtu;
    s->q = calloc(s->n, sizeof *s->q);
    if (!s->q)
        return MTP_ENOMEM;
    for (uint16_t i = 0; i < s->n; i++) {
        const struct mtp_queue_desc *qd = d && d->n_queues ? &d->queues[i] : &fifo_queue;
        struct mtp__squeue *q = &s->q[i];
        q->per_flow = qd->per_flow;
        q->prio = qd->prio;
        q->weight = qd->weight ? qd->weight : 1;
        queue_set_rate(q, qd->rate, mtu, now_ns);
    }
    s->wrr_left = s->q[0].weight;
    return 0;
}

void mtp__sched_destroy(struct mtp__sched *s)
{
    free(s->q);
    s->q = NULL;
}

/* Behind every flow of a rank not above its own: flows stay sorted by rank, and a flow
 * coming back (or just served) goes to the end of its rank's round. Flows usually share a
 * rank, so the walk from the tail stops at once. */
static void flows_append(struct mtp__squeue *q, struct mtp__flowq *fq)
{
    struct mtp__flowq *after = q->flows_tail;
    while (after && after->rank > fq->rank)
        after = after->prev;
    fq->prev = after;
    fq->next = after ? after->next : q->flows_head;
    if (fq->next)
        fq->next->prev = fq;
    else
        q->flows_tail = fq;
    if (after)
        after->next = fq;
    else
        q->flows_head = fq;
    fq->active = 1;
}

static void flows_unlink(struct mtp__squeue *q, struct mtp__flowq *fq)
{
    if (fq->prev)
        fq->prev->next = fq->next;
    else
        q->flows_head = fq->next;
    if (fq->next)
        fq->next->prev = fq->prev;
    else
        q->flows_tail = fq->prev;
    fq->next = fq->prev = NULL;
    fq->active = 0;
}

void mtp__sched_enqueue(struct mtp__sched *s, struct mtp__sq_item *it, uint16_t queue,
                        struct mtp__flowq *fq)
{
    if (queue >= s->n)
        queue = (uint16_t)(s->n - 1);
    struct mtp__squeue *q = &s->q[queue];
    if (!q->per_flow || !fq)
        fq = &q->self;
    it->queue = queue;
    it->fq = fq;
    it->seq = s->seq++;
    it->next = NULL;
    it->prev = fq->tail;
    if (fq->tail)
        fq->tail->next = it;
    else
        fq->head = it;
    fq->tail = it;
    if (!fq->active)
        flows_append(q, fq);
    q->count++;
    s->count++;
}

void mtp__sched_remove(struct mtp__sched *s, struct mtp__sq_item *it)
{
    struct mtp__flowq *fq = it->fq;
    if (!fq)
        return;
    struct mtp__squeue *q = &s->q[it->queue];
    if (it->prev)
        it->prev->next = it->next;
    else
        fq->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        fq->tail = it->prev;
    it->next = it->prev = NULL;
    it->fq = NULL;
    if (!fq->head && fq->active)
        flows_unlink(q, fq);
    q->count--;
    s->count--;
}

static void queue_refill(struct mtp__squeue *q, uint64_t now)
{
    if (!q->rate)
        return;
    if (now > q->last_ns) {
        __int128 add = (__int128)(now - q->last_ns) * q->rate;
        q->credit = q->credit + add > q->burst ? q->burst : q->credit + add;
        q->last_ns = now;
    }
}

static int queue_eligible(struct mtp__squeue *q, uint64_t now)
{
    if (!q->count)
        return 0;
    queue_refill(q, now);
    return !q->rate || q->credit > 0;
}

static struct mtp__sq_item *queue_head(struct mtp__squeue *q)
{
    return q->flows_head ? q->flows_head->head : NULL;
}

static struct mtp__sq_item *peek_strict(struct mtp__sched *s, uint64_t now)
{
    struct mtp__squeue *best = NULL;
    for (uint16_t i = 0; i < s->n; i++)
        if (queue_eligible(&s->q[i], now) && (!best || s->q[i].prio < best->prio))
            best = &s->q[i];
    return best ? queue_head(best) : NULL;
}

static struct mtp__sq_item *peek_fifo(struct mtp__sched *s, uint64_t now)
{
    struct mtp__sq_item *best = NULL;
    for (uint16_t i = 0; i < s->n; i++) {
        if (!queue_eligible(&s->q[i], now))
            continue;
        struct mtp__sq_item *h = queue_head(&s->q[i]);
        if (!best || h->seq < best->seq)
            best = h;
    }
    return best;
}

/* Weighted round robin in packets: the current queue keeps the turn for `weight` packets
 * while it has eligible items, then the next queue with eligible items gets a new turn. */
static struct mtp__sq_item *peek_wrr(struct mtp__sched *s, uint64_t now)
{
    for (uint32_t tries = 0; tries <= s->n; tries++) {
        struct mtp__squeue *q = &s->q[s->wrr_cur];
        if (s->wrr_left > 0 && queue_eligible(q, now))
            return queue_head(q);
        s->wrr_cur = (uint16_t)((s->wrr_cur + 1) % s->n);
        s->wrr_left = s->q[s->wrr_cur].weight;
    }
    return NULL;
}

struct mtp__sq_item *mtp__sched_peek(struct mtp__sched *s, uint64_t now_ns)
{
    if (!s->count)
        return NULL;
    switch (s->kind) {
    case MTP_SCHED_STRICT_PRIO:
        return peek_strict(s, now_ns);
    case MTP_SCHED_WRR:
        return peek_wrr(s, now_ns);
    default:
        return peek_fifo(s, now_ns);
    }
}

void mtp__sched_charge(struct mtp__sched *s, struct mtp__sq_item *it, uint32_t bytes,
                       uint32_t pkts)
{
    struct mtp__squeue *q = &s->q[it->queue];
    if (q->rate)
        q->credit -= (__int128)bytes * NS_PER_S;
    if (s->kind == MTP_SCHED_WRR && s->wrr_cur == it->queue)
        s->wrr_left = s->wrr_left > pkts ? s->wrr_left - pkts : 0;
    /* round robin across flows: the flow just served goes to the back */
    struct mtp__flowq *fq = it->fq;
    if (q->per_flow && fq && fq->active && q->flows_tail != fq) {
        flows_unlink(q, fq);
        flows_append(q, fq);
    }
}

void mtp__sched_set_rate(struct mtp__sched *s, uint16_t queue, uint64_t rate, uint64_t now_ns)
{
    if (queue < s->n)
        queue_set_rate(&s->q[queue], rate, s->mtu, now_ns);
}

void mtp__sched_set_prio(struct mtp__sched *s, uint16_t queue, uint8_t prio)
{
    if (queue < s->n)
        s->q[queue].prio = prio;
}

void mtp__sched_set_rank(struct mtp__sched *s, uint16_t queue, struct mtp__flowq *fq,
                         uint64_t rank)
{
    if (queue >= s->n || fq->rank == rank)
        return;
    fq->rank = rank;
    if (fq->active) {
        flows_unlink(&s->q[queue], fq);
        flows_append(&s->q[queue], fq);
    }
}

uint64_t mtp__sched_next_ready(const struct mtp__sched *s, uint64_t now_ns)
{
    uint64_t best = UINT64_MAX;
    for (uint16_t i = 0; i < s->n; i++) {
        const struct mtp__squeue *q = &s->q[i];
        if (!q->count || !q->rate)
            continue;
        __int128 credit = q->credit;
        if (now_ns > q->last_ns)
            credit += (__int128)(now_ns - q->last_ns) * q->rate;
        if (credit > 0)
            return now_ns;
        uint64_t wait = (uint64_t)((-credit) / q->rate + 1);
        if (now_ns + wait < best)
            best = now_ns + wait;
    }
    return best;
}
