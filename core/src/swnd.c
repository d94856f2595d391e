/*
 * swnd.c — sliding windows of flags over a 32-bit wrap-around sequence space.
 * Bit i of `bits` is the flag of sequence number head + i. Sliding shifts the bits down, so
 * the flag of a sequence number never moves relative to the head's meaning.
 */
#include "mtp/program.h"

/* Offset of seq from head in wrap-around arithmetic, clipped to [0, nbits]. A sequence
 * number "before" head (signed difference < 0) clips to 0. */
static uint32_t swnd_clip(const struct mtp_swnd *w, uint32_t seq)
{
    int32_t d = (int32_t)(seq - w->head);
    if (d < 0)
        return 0;
    if ((uint32_t)d > w->nbits)
        return w->nbits;
    return (uint32_t)d;
}

static void swnd_fill(struct mtp_swnd *w, uint32_t lo, uint32_t hi, int value)
{
    uint32_t a = swnd_clip(w, lo), b = swnd_clip(w, hi);
    /* hi before lo (an empty or inverted range) is a no-op */
    if ((int32_t)(hi - lo) <= 0)
        return;
    while (a < b) {
        uint32_t word = a / 64, bit = a % 64;
        uint32_t n = 64 - bit < b - a ? 64 - bit : b - a;
        uint64_t mask = (n == 64 ? ~0ull : ((1ull << n) - 1)) << bit;
        if (value)
            w->bits[word] |= mask;
        else
            w->bits[word] &= ~mask;
        a += n;
    }
}

void mtp_swnd_reset(struct mtp_swnd *w, uint32_t head)
{
    w->head = head;
    memset(w->bits, 0, MTP_SWND_WORDS(w->nbits) * sizeof(uint64_t));
}

void mtp_swnd_set(struct mtp_swnd *w, uint32_t lo, uint32_t hi) { swnd_fill(w, lo, hi, 1); }
void mtp_swnd_unset(struct mtp_swnd *w, uint32_t lo, uint32_t hi) { swnd_fill(w, lo, hi, 0); }

int mtp_swnd_test(const struct mtp_swnd *w, uint32_t seq)
{
    uint32_t d = seq - w->head;
    if (d >= w->nbits)
        return 0;
    return (int)((w->bits[d / 64] >> (d % 64)) & 1);
}

static uint32_t swnd_find(const struct mtp_swnd *w, int value)
{
    uint32_t words = MTP_SWND_WORDS(w->nbits);
    for (uint32_t i = 0; i < words; i++) {
        uint64_t v = value ? w->bits[i] : ~w->bits[i];
        if (v) {
            uint32_t pos = i * 64 + (uint32_t)__builtin_ctzll(v);
            return w->head + (pos < w->nbits ? pos : w->nbits);
        }
    }
    return w->head + w->nbits;
}

uint32_t mtp_swnd_first_set(const struct mtp_swnd *w) { return swnd_find(w, 1); }
uint32_t mtp_swnd_first_unset(const struct mtp_swnd *w) { return swnd_find(w, 0); }

/* Moves head forward to `to` (never backwards); flags of the numbers left behind are
 * dropped, numbers entering the window start clear. */
void mtp_swnd_slide(struct mtp_swnd *w, uint32_t to)
{
    int32_t d = (int32_t)(to - w->head);
    if (d <= 0)
        return;
    uint32_t words = MTP_SWND_WORDS(w->nbits);
    uint32_t shift = (uint32_t)d;
    if (shift >= w->nbits) {
        memset(w->bits, 0, words * sizeof(uint64_t));
    } else {
        uint32_t ws = shift / 64, bs = shift % 64;
        for (uint32_t i = 0; i < words; i++) {
            uint64_t lo = i + ws < words ? w->bits[i + ws] : 0;
            uint64_t hi = i + ws + 1 < words ? w->bits[i + ws + 1] : 0;
            w->bits[i] = bs ? (lo >> bs) | (hi << (64 - bs)) : lo;
        }
    }
    w->head = to;
}
