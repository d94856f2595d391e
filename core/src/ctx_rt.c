/*
 * ctx_rt.c — the runtime part of a context instance: its timers, its per-flow queue entries and
 * its data units (allocated on first use, so an idle context costs only its program data), and
 * the cache of idle unit buffers. Used by the engine (instructions) and by the packet
 * generator (blueprints reference units); it calls neither of them.
 */
#include <stdlib.h>
#include <string.h>
#include "engine_internal.h"

/* ------------------------------------------------------------ idle unit buffers */

static void cache_put(struct mtp__buf_cache *c, void *block)
{
    if (c->n < MTP__BUF_CACHE)
        c->v[c->n++] = block;
    else
        free(block);
}

void mtp__buf_cache_drop(struct mtp__buf_cache *c)
{
    while (c->n)
        free(c->v[--c->n]);
}

/* A finished message's block (its bitmap clear: the unit was idle) for a later message. */
void mtp__msg_cache_put(struct mtp__msg_cache *c, void *block, uint32_t cap)
{
    if (c->n == MTP__MSG_CACHE) { /* the oldest goes */
        free(c->v[0]);
        memmove(c->v, c->v + 1, (c->n - 1) * sizeof c->v[0]);
        memmove(c->cap, c->cap + 1, (c->n - 1) * sizeof c->cap[0]);
        c->n--;
    }
    c->v[c->n] = block;
    c->cap[c->n++] = cap;
}

/* A block for a unit of capacity `cap`: one of exactly that capacity, or a larger one (up to
 * twice) whose bitmap, at cap bytes for this unit, is cleared first; NULL when none fits. */
void *mtp__msg_cache_take(struct mtp__msg_cache *c, uint32_t cap)
{
    for (uint32_t i = c->n; i-- > 0;) {
        if (c->cap[i] < cap || c->cap[i] / 2 > cap)
            continue;
        uint8_t *block = c->v[i];
        if (c->cap[i] != cap)
            memset(block + cap, 0, cap / 8);
        c->n--;
        c->v[i] = c->v[c->n];
        c->cap[i] = c->cap[c->n];
        return block;
    }
    return NULL;
}

void mtp__msg_cache_drop(struct mtp__msg_cache *c)
{
    while (c->n)
        free(c->v[--c->n]);
}

/* Streams keep going: their buffer waits in the cache. A message that is complete will not
 * be used again: its buffer waits for another message's unit. */
void mtp__tx_settle(struct mtp_engine *e, struct mtp__tx_unit *tx)
{
    if (!mtp__tx_unit_idle(tx))
        return;
    if (tx->size == MTP_SIZE_INF)
        cache_put(&e->tx_cache, mtp__tx_unit_detach(tx));
    else if (tx->tail >= tx->size)
        free(mtp__tx_unit_detach(tx));
}

void mtp__rx_settle(struct mtp_engine *e, struct mtp__rx_unit *rx)
{
    if (!mtp__rx_unit_idle(rx))
        return;
    if (rx->size == MTP_SIZE_INF)
        cache_put(&e->rx_cache, mtp__rx_unit_detach(rx));
    else if (rx->flushed >= rx->size) {
        uint32_t cap = rx->cap;
        mtp__msg_cache_put(&e->rx_msg_cache, mtp__rx_unit_detach(rx), cap);
    }
}

/* A closing context's stream buffers wait in the cache as well: a connection per request
 * (HTTP with `Connection: close`) otherwise paid a 64 KiB malloc and free for each, and the
 * free made glibc trim the heap (madvise) every dozen connections. A transmit buffer no
 * frame refers to any more is reusable whatever it holds; a receive buffer once its bitmap
 * is clear (nothing held beyond the frontier). */
static void unit_release(struct mtp_engine *e, struct mtp__unit *u)
{
    if (u->is_tx) {
        struct mtp__tx_unit *tx = &u->u.tx;
        if (tx->buf && tx->size == MTP_SIZE_INF && tx->pin == UINT64_MAX)
            cache_put(&e->tx_cache, mtp__tx_unit_detach(tx));
        else
            mtp__tx_unit_release(tx);
        return;
    }
    struct mtp__rx_unit *rx = &u->u.rx;
    if (rx->buf && rx->size == MTP_SIZE_INF && rx->held == 0)
        cache_put(&e->rx_cache, mtp__rx_unit_detach(rx));
    else
        mtp__rx_unit_release(rx);
}

/* ------------------------------------------------------------ runtime part */

struct mtp__ctx_rt *mtp__ctx_rt_get(struct mtp_engine *e, struct mtp__ctx *c)
{
    if (c->rt)
        return c->rt;
    uint16_t nt = e->prog->ctxs[c->type].n_timers;
    size_t sz = sizeof(struct mtp__ctx_rt) + nt * sizeof(struct mtp__timer) +
                e->sched.n * sizeof(struct mtp__flowq);
    struct mtp__ctx_rt *rt = calloc(1, sz);
    if (!rt) {
        e->st->pool_exhausted++;
        return NULL;
    }
    rt->timers = (struct mtp__timer *)(rt + 1);
    rt->fq = (struct mtp__flowq *)(rt->timers + nt);
    for (uint16_t t = 0; t < nt; t++) {
        rt->timers[t].owner = c;
        rt->timers[t].idx = t;
    }
    c->rt = rt;
    return rt;
}

struct mtp__unit *mtp__unit_find(struct mtp__ctx *c, uint64_t uid, int is_tx)
{
    for (struct mtp__unit *u = c->rt ? c->rt->units : NULL; u; u = u->next)
        if (u->uid == uid && u->is_tx == is_tx)
            return u;
    return NULL;
}

void mtp__ctx_rt_release(struct mtp_engine *e, struct mtp__ctx *c)
{
    struct mtp__ctx_rt *rt = c->rt;
    if (!rt)
        return;
    for (uint16_t t = 0; t < e->prog->ctxs[c->type].n_timers; t++)
        mtp__wheel_stop(&e->wheel, &rt->timers[t]);
    while (rt->units) {
        struct mtp__unit *u = rt->units;
        rt->units = u->next;
        unit_release(e, u);
        mtp__pool_free(&e->unit_pool, u);
    }
    free(rt);
    c->rt = NULL;
}
