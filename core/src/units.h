/*
 * units.h — ordered data units (internal), paper Table 1: rx units reassemble received
 * segments by stream offset; tx units hold application bytes until they are retired.
 * Buffers are allocated on first use, so an idle unit costs only its descriptor.
 *
 * Offsets are uint64 stream offsets counted from 0 when the unit was declared.
 */
#ifndef MTP_UNITS_H
#define MTP_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Receive: a window of `cap` bytes starting at the flushed offset. Byte o lives at
 * buf[o % cap]; `have` marks bytes received beyond the in-order frontier. */
struct mtp__rx_unit {
    uint64_t size;       /* declared size, MTP_SIZE_INF for a stream */
    uint64_t flushed;    /* bytes delivered by rx_flush */
    uint64_t ready_end;  /* in-order frontier: every byte before it has arrived */
    uint32_t cap;        /* window (multiple of 64) */
    uint32_t held;       /* bytes received beyond the frontier (bits set in `have`) */
    uint8_t *buf;        /* NULL until the first segment; cap bytes then the bitmap */
    uint64_t *have;      /* cap bits, inside the buf block */
};

struct mtp__rx_add_result {
    uint32_t accepted;   /* new bytes stored */
    uint32_t refused;    /* bytes beyond the window or the declared size */
    uint64_t ready;      /* in-order bytes not yet flushed, after the add */
    int advanced;        /* the frontier moved */
};

void mtp__rx_unit_init(struct mtp__rx_unit *u, uint64_t size, uint32_t window);
void mtp__rx_unit_release(struct mtp__rx_unit *u);
/* Stores [off, off + len) (first arrival wins; earlier bytes are duplicates). Returns 0 or
 * MTP_ENOMEM. */
int mtp__rx_unit_add(struct mtp__rx_unit *u, uint64_t off, const uint8_t *src, uint32_t len,
                     struct mtp__rx_add_result *res);
/* Copies up to len in-order bytes to dst (NULL: discard them); returns the bytes moved. */
uint64_t mtp__rx_unit_flush(struct mtp__rx_unit *u, uint8_t *dst, uint64_t len);
static inline uint64_t mtp__rx_unit_ready(const struct mtp__rx_unit *u)
{
    return u->ready_end - u->flushed;
}
/* Buffer blocks: an rx unit that holds no byte can give its block back (to a cache of the
 * engine) and take one again before its next segment, so idle units cost no buffer. */
static inline size_t mtp__rx_block_bytes(uint32_t cap) { return cap + cap / 8; }
static inline int mtp__rx_unit_idle(const struct mtp__rx_unit *u)
{
    return u->buf && u->ready_end == u->flushed && u->held == 0;
}
void *mtp__rx_unit_detach(struct mtp__rx_unit *u);            /* the block, u must be idle */
void mtp__rx_unit_attach(struct mtp__rx_unit *u, void *block); /* u->buf must be NULL */

/* Transmit: a true ring. Byte o lives at buf[o % cap] from append until it is retired and
 * no pending blueprint references it (pin), so resolved addresses stay valid. */
struct mtp__tx_unit {
    uint64_t size;       /* declared size, MTP_SIZE_INF for a stream */
    uint64_t head;       /* first byte not retired by tx_flush */
    uint64_t tail;       /* end of the appended bytes */
    uint64_t pin;        /* lowest offset a pending blueprint references, UINT64_MAX: none */
    uint32_t cap;
    uint8_t *buf;        /* NULL until the first append */
};

void mtp__tx_unit_init(struct mtp__tx_unit *u, uint64_t size, uint32_t ring);
void mtp__tx_unit_release(struct mtp__tx_unit *u);
/* Bytes that can be appended now. */
uint64_t mtp__tx_unit_space(const struct mtp__tx_unit *u);
/* Appends all len bytes or nothing: MTP_ENOSPC when they do not fit, MTP_ENOMEM. */
int mtp__tx_unit_append(struct mtp__tx_unit *u, const uint8_t *src, uint32_t len);
static inline int mtp__tx_unit_idle(const struct mtp__tx_unit *u)
{
    return u->buf && u->head == u->tail && u->pin == UINT64_MAX;
}
void *mtp__tx_unit_detach(struct mtp__tx_unit *u);            /* cap bytes, u must be idle */
void mtp__tx_unit_attach(struct mtp__tx_unit *u, void *block); /* u->buf must be NULL */
/* Retires up to len bytes from the head; returns the bytes retired. */
uint64_t mtp__tx_unit_retire(struct mtp__tx_unit *u, uint64_t len);
/* Checks that [off, off + len) is appended and not retired (MTP_ERANGE otherwise). */
int mtp__tx_unit_check(const struct mtp__tx_unit *u, uint64_t off, uint32_t len);
/* Address of byte off and how many bytes are contiguous from there (before the wrap). */
const uint8_t *mtp__tx_unit_at(const struct mtp__tx_unit *u, uint64_t off, uint32_t *contig);
/* Copies [off, off + len) to dst, across the wrap. */
void mtp__tx_unit_copy(const uint8_t *ring, uint32_t cap, uint64_t off, uint8_t *dst,
                       uint32_t len);

#endif
