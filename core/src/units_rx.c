/* units_rx.c — receive data units: reassembly by offset; see units.h. */
#include <stdlib.h>
#include <string.h>
#include "mtp/errors.h"
#include "mtp/program.h"
#include "units.h"

void mtp__rx_unit_init(struct mtp__rx_unit *u, uint64_t size, uint32_t window)
{
    memset(u, 0, sizeof *u);
    u->size = size;
    uint64_t cap = window;
    if (size != MTP_SIZE_INF && size < cap)
        cap = size;
    cap = (cap + 63) & ~(uint64_t)63;
    u->cap = (uint32_t)(cap ? cap : 64);
}

void mtp__rx_unit_release(struct mtp__rx_unit *u)
{
    free(u->buf);
    u->buf = NULL;
    u->have = NULL;
    u->held = 0;
}

void *mtp__rx_unit_detach(struct mtp__rx_unit *u)
{
    void *b = u->buf;
    u->buf = NULL;
    u->have = NULL;
    return b;
}

/* A detached block's bitmap is all clear (an idle unit holds no byte), so it is reused as is. */
void mtp__rx_unit_attach(struct mtp__rx_unit *u, void *block)
{
    u->buf = block;
    u->have = (uint64_t *)(u->buf + u->cap);
    u->held = 0;
}


/* Sets or clears the ring bits of offsets [a, a + n) (n <= cap). */
static void rx_mark(struct mtp__rx_unit *u, uint64_t a, uint64_t n, int value)
{
    uint32_t pos = (uint32_t)(a % u->cap);
    while (n > 0) {
        uint32_t bit = pos % 64;
        uint64_t run = 64 - bit;
        if (run > n)
            run = n;
        if (run > u->cap - pos)
            run = u->cap - pos;
        uint64_t mask = (run == 64 ? ~0ull : ((1ull << run) - 1)) << bit;
        if (value)
            u->have[pos / 64] |= mask;
        else
            u->have[pos / 64] &= ~mask;
        n -= run;
        pos = (uint32_t)((pos + run) % u->cap);
    }
}

/* Number of consecutive offsets from a (at most n) whose bit equals value. */
static uint64_t rx_run(const struct mtp__rx_unit *u, uint64_t a, uint64_t n, int value)
{
    uint64_t k = 0;
    uint32_t pos = (uint32_t)(a % u->cap);
    while (k < n) {
        uint32_t bit = pos % 64;
        uint64_t w = u->have[pos / 64] >> bit;
        if (!value)
            w = ~w;
        uint64_t avail = 64 - bit;
        if (avail > u->cap - pos)
            avail = u->cap - pos;
        uint64_t ones = w == ~0ull ? 64 : (uint64_t)__builtin_ctzll(~w);
        if (ones < avail) {
            k += ones;
            break;
        }
        k += avail;
        pos = (uint32_t)((pos + avail) % u->cap);
    }
    return k < n ? k : n;
}

static void rx_store(struct mtp__rx_unit *u, uint64_t off, const uint8_t *src, uint64_t n)
{
    uint32_t pos = (uint32_t)(off % u->cap);
    uint64_t first = u->cap - pos < n ? u->cap - pos : n;
    memcpy(u->buf + pos, src, first);
    if (n > first)
        memcpy(u->buf, src + first, n - first);
}

int mtp__rx_unit_add(struct mtp__rx_unit *u, uint64_t off, const uint8_t *src, uint32_t len,
                     struct mtp__rx_add_result *res)
{
    memset(res, 0, sizeof *res);
    uint64_t end = off + len;
    if (end < off)
        end = UINT64_MAX; /* offsets near 2^64: clip */
    uint64_t win_end = u->flushed + u->cap;
    if (u->size != MTP_SIZE_INF && win_end > u->size)
        win_end = u->size;
    /* before the frontier: duplicates; beyond the window: refused, never stored */
    uint64_t lo = off > u->ready_end ? off : u->ready_end;
    uint64_t hi = end < win_end ? end : win_end;
    if (end > win_end)
        res->refused = (uint32_t)(end - (off > win_end ? off : win_end));
    if (lo < hi && !u->buf) {
        /* calloc, not malloc + memset: fresh pages come zeroed from the kernel, so the
         * bitmap's pages are only faulted in when out-of-order bytes need them (a new
         * connection otherwise pays cap/8/4096 page faults before its first byte) */
        uint8_t *block = calloc(1, mtp__rx_block_bytes(u->cap));
        if (!block)
            return MTP_ENOMEM;
        mtp__rx_unit_attach(u, block);
    }
    /* In order with nothing held beyond the frontier (held counts the set bits, so the
     * bitmap is all clear): every byte of [lo, hi) is new and the frontier moves to hi.
     * Same result as the general path below, without setting and clearing the bits. */
    if (lo < hi && lo == u->ready_end && u->held == 0) {
        rx_store(u, lo, src + (lo - off), hi - lo);
        res->accepted = (uint32_t)(hi - lo);
        u->ready_end = hi;
        res->advanced = 1;
        res->ready = mtp__rx_unit_ready(u);
        return 0;
    }
    /* copy only the runs not yet present: the first arrival of a byte wins */
    for (uint64_t a = lo; a < hi;) {
        uint64_t present = rx_run(u, a, hi - a, 1);
        a += present;
        if (a >= hi)
            break;
        uint64_t missing = rx_run(u, a, hi - a, 0);
        rx_store(u, a, src + (a - off), missing);
        rx_mark(u, a, missing, 1);
        u->held += (uint32_t)missing;
        res->accepted += (uint32_t)missing;
        a += missing;
    }
    if (u->buf && lo < hi && lo == u->ready_end) {
        uint64_t run = rx_run(u, u->ready_end, win_end - u->ready_end, 1);
        /* bits of in-order bytes are cleared: the window reuses them after the flush */
        rx_mark(u, u->ready_end, run, 0);
        u->held -= (uint32_t)run;
        u->ready_end += run;
        res->advanced = run > 0;
    }
    res->ready = mtp__rx_unit_ready(u);
    return 0;
}

uint64_t mtp__rx_unit_flush(struct mtp__rx_unit *u, uint8_t *dst, uint64_t len)
{
    uint64_t n = mtp__rx_unit_ready(u);
    if (n > len)
        n = len;
    if (n > 0 && dst) {
        uint32_t pos = (uint32_t)(u->flushed % u->cap);
        uint64_t first = u->cap - pos < n ? u->cap - pos : n;
        memcpy(dst, u->buf + pos, first);
        if (n > first)
            memcpy(dst + first, u->buf, n - first);
    }
    u->flushed += n;
    return n;
}
