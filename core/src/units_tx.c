/* units_tx.c — transmit data units: a ring whose bytes never move; see units.h. */
#include <stdlib.h>
#include <string.h>
#include "mtp/errors.h"
#include "mtp/program.h"
#include "units.h"

void mtp__tx_unit_init(struct mtp__tx_unit *u, uint64_t size, uint32_t ring)
{
    memset(u, 0, sizeof *u);
    u->size = size;
    uint64_t cap = ring;
    if (size != MTP_SIZE_INF && size < cap)
        cap = size;
    u->cap = (uint32_t)(cap ? cap : 1);
    u->pin = UINT64_MAX;
}

void mtp__tx_unit_release(struct mtp__tx_unit *u)
{
    free(u->buf);
    u->buf = NULL;
}

void *mtp__tx_unit_detach(struct mtp__tx_unit *u)
{
    void *b = u->buf;
    u->buf = NULL;
    return b;
}

void mtp__tx_unit_attach(struct mtp__tx_unit *u, void *block)
{
    u->buf = block;
}

uint64_t mtp__tx_unit_space(const struct mtp__tx_unit *u)
{
    /* bytes from the lowest still-referenced offset to the tail are occupied */
    uint64_t low = u->pin < u->head ? u->pin : u->head;
    uint64_t used = u->tail - low;
    uint64_t space = used >= u->cap ? 0 : u->cap - used;
    if (u->size != MTP_SIZE_INF) {
        uint64_t left = u->size > u->tail ? u->size - u->tail : 0;
        if (left < space)
            space = left;
    }
    return space;
}

int mtp__tx_unit_append(struct mtp__tx_unit *u, const uint8_t *src, uint32_t len)
{
    if (len > mtp__tx_unit_space(u))
        return MTP_ENOSPC;
    if (len == 0)
        return 0;
    if (!u->buf) {
        u->buf = malloc(u->cap);
        if (!u->buf)
            return MTP_ENOMEM;
    }
    uint32_t pos = (uint32_t)(u->tail % u->cap);
    uint32_t first = u->cap - pos < len ? u->cap - pos : len;
    memcpy(u->buf + pos, src, first);
    if (len > first)
        memcpy(u->buf, src + first, len - first);
    u->tail += len;
    return 0;
}

uint64_t mtp__tx_unit_retire(struct mtp__tx_unit *u, uint64_t len)
{
    uint64_t n = u->tail - u->head;
    if (n > len)
        n = len;
    u->head += n;
    return n;
}

int mtp__tx_unit_check(const struct mtp__tx_unit *u, uint64_t off, uint32_t len)
{
    if (off < u->head || off > u->tail || u->tail - off < len)
        return MTP_ERANGE;
    return 0;
}

const uint8_t *mtp__tx_unit_at(const struct mtp__tx_unit *u, uint64_t off, uint32_t *contig)
{
    uint32_t pos = (uint32_t)(off % u->cap);
    *contig = u->cap - pos;
    return u->buf ? u->buf + pos : NULL;
}

void mtp__tx_unit_copy(const uint8_t *ring, uint32_t cap, uint64_t off, uint8_t *dst,
                       uint32_t len)
{
    uint32_t pos = (uint32_t)(off % cap);
    uint32_t first = cap - pos < len ? cap - pos : len;
    memcpy(dst, ring + pos, first);
    if (len > first)
        memcpy(dst + first, ring, len - first);
}
