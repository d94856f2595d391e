/* timers.c — hashed timing wheel; see timers.h. */
#include <stdbool.h>
#include <string.h>
#include "timers.h"

#define WHEEL_MASK (MTP__WHEEL_SLOTS - 1)

void mtp__wheel_init(struct mtp__wheel *w, uint64_t now_ns)
{
    memset(w, 0, sizeof *w);
    w->cur_tick = now_ns >> MTP__WHEEL_SHIFT;
}

/* A timer always lives in the slot of its deadline's tick (start clamps overdue deadlines
 * to the current tick), so stop finds its list head without searching. */
static struct mtp__timer **wheel_head(struct mtp__wheel *w, uint64_t tick)
{
    return &w->slot[tick & WHEEL_MASK];
}

static void wheel_unlink(struct mtp__wheel *w, struct mtp__timer *t)
{
    struct mtp__timer **h = wheel_head(w, t->deadline >> MTP__WHEEL_SHIFT);
    if (*h == t)
        *h = t->next;
    if (t->prev)
        t->prev->next = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
    t->armed = 0;
    w->count--;
    if (w->next_valid && t->deadline <= w->next_cache)
        w->next_valid = 0;
}

void mtp__wheel_stop(struct mtp__wheel *w, struct mtp__timer *t)
{
    if (t->armed)
        wheel_unlink(w, t);
}

void mtp__wheel_start(struct mtp__wheel *w, struct mtp__timer *t, uint64_t deadline)
{
    mtp__wheel_stop(w, t);
    uint64_t tick = deadline >> MTP__WHEEL_SHIFT;
    if (tick < w->cur_tick) {
        /* overdue: it fires on the next expiry call anyway */
        tick = w->cur_tick;
        deadline = tick << MTP__WHEEL_SHIFT;
    }
    t->deadline = deadline;
    struct mtp__timer **h = wheel_head(w, tick);
    t->prev = NULL;
    t->next = *h;
    if (*h)
        (*h)->prev = t;
    *h = t;
    t->armed = 1;
    w->count++;
    if (w->next_valid && deadline < w->next_cache)
        w->next_cache = deadline;
}

static struct mtp__timer *slot_pop_expired(struct mtp__wheel *w, uint64_t tick, uint64_t now)
{
    struct mtp__timer **h = wheel_head(w, tick);
    for (struct mtp__timer *t = *h; t; t = t->next) {
        if (t->deadline <= now) {
            wheel_unlink(w, t);
            return t;
        }
    }
    return NULL;
}

struct mtp__timer *mtp__wheel_expire(struct mtp__wheel *w, uint64_t now_ns)
{
    uint64_t now_tick = now_ns >> MTP__WHEEL_SHIFT;
    if (w->count == 0) {
        if (now_tick > w->cur_tick)
            w->cur_tick = now_tick;
        return NULL;
    }
    /* after a long gap every slot is visited once */
    if (now_tick >= w->cur_tick + MTP__WHEEL_SLOTS)
        w->cur_tick = now_tick - MTP__WHEEL_SLOTS + 1;
    for (;;) {
        struct mtp__timer *t = slot_pop_expired(w, w->cur_tick, now_ns);
        if (t)
            return t;
        if (w->cur_tick >= now_tick)
            return NULL; /* the current tick is revisited next time */
        w->cur_tick++;
    }
}

uint64_t mtp__wheel_next(struct mtp__wheel *w)
{
    if (w->next_valid)
        return w->next_cache;
    uint64_t best = UINT64_MAX;
    if (w->count > 0) {
        /* the first slot (in tick order) holding a timer of its own lap has the minimum */
        for (uint32_t i = 0; i < MTP__WHEEL_SLOTS && best == UINT64_MAX; i++) {
            uint64_t tick = w->cur_tick + i;
            for (struct mtp__timer *t = *wheel_head(w, tick); t; t = t->next)
                if ((t->deadline >> MTP__WHEEL_SHIFT) <= tick && t->deadline < best)
                    best = t->deadline;
        }
        bool later = best == UINT64_MAX;
        /* only timers of later laps: look at all of them (every slot: the first one holding
         * a timer need not hold the earliest) */
        for (uint32_t i = 0; i < MTP__WHEEL_SLOTS && later; i++)
            for (struct mtp__timer *t = w->slot[i]; t; t = t->next)
                if (t->deadline < best)
                    best = t->deadline;
    }
    w->next_cache = best;
    w->next_valid = 1;
    return best;
}
