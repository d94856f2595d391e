/*
 * timers.h — a hashed timing wheel (internal; Varghese & Lauck, scheme 6). A timer sits in
 * the slot of its deadline's tick; start and stop are O(1). Timers further than one lap
 * away stay in their slot and are skipped until their lap comes. Expiry compares exact
 * deadlines (ns), so the tick only bounds how many slots one call visits.
 */
#ifndef MTP_TIMERS_H
#define MTP_TIMERS_H

#include <stdint.h>

#define MTP__WHEEL_SHIFT 16u            /* tick = 65.536 us */
#define MTP__WHEEL_SLOTS 4096u          /* one lap = 268 ms */

struct mtp__timer {
    struct mtp__timer *next, *prev;
    uint64_t deadline;
    void *owner;        /* the context instance */
    uint16_t idx;       /* timer index in the context */
    uint8_t armed;
};

struct mtp__wheel {
    struct mtp__timer *slot[MTP__WHEEL_SLOTS];
    uint64_t cur_tick;  /* ticks before this one are fully expired */
    uint32_t count;
    uint64_t next_cache; /* earliest deadline, valid when next_valid */
    int next_valid;
};

void mtp__wheel_init(struct mtp__wheel *w, uint64_t now_ns);
/* (Re)starts t with an absolute deadline. */
void mtp__wheel_start(struct mtp__wheel *w, struct mtp__timer *t, uint64_t deadline);
void mtp__wheel_stop(struct mtp__wheel *w, struct mtp__timer *t);
/* Removes and returns one timer whose deadline is <= now (disarmed), or NULL. */
struct mtp__timer *mtp__wheel_expire(struct mtp__wheel *w, uint64_t now_ns);
/* Earliest deadline of an armed timer, UINT64_MAX if none. */
uint64_t mtp__wheel_next(struct mtp__wheel *w);

#endif
