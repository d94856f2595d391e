/*
 * generated.h — what every C file mtpc generates includes after its own header: the
 * warnings its code deliberately triggers, and the small helpers it calls (big-endian wire
 * access, shifts that are defined for every count, clamped list indices).
 *
 * Only generated .c files include this: the pragmas below silence warnings for the rest of
 * the including file. Generated headers (X.h) and hand-written code do not include it.
 */
#ifndef MTP_GENERATED_H
#define MTP_GENERATED_H

#include <stdint.h>

/* MTP arithmetic is C's on the declared widths; comparisons between widths and signs are
 * intended, and unused locals come from the program. */
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wunknown-warning-option"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wtautological-constant-out-of-range-compare"
#pragma GCC diagnostic ignored "-Wtautological-compare"
#pragma GCC diagnostic ignored "-Wparentheses-equality"
#pragma GCC diagnostic ignored "-Wshift-count-overflow"
#pragma GCC diagnostic ignored "-Wbool-operation"
#pragma GCC diagnostic ignored "-Wint-in-bool-context"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wtautological-unsigned-zero-compare"
#pragma GCC diagnostic ignored "-Wgnu-statement-expression"

/* big-endian (network order) fields of any byte alignment */
static inline uint64_t mtp_gen_get8(const uint8_t *p) { return p[0]; }
static inline uint64_t mtp_gen_get16(const uint8_t *p) { return (uint64_t)p[0] << 8 | p[1]; }
static inline uint64_t mtp_gen_get32(const uint8_t *p)
{
    return mtp_gen_get16(p) << 16 | mtp_gen_get16(p + 2);
}
static inline uint64_t mtp_gen_get64(const uint8_t *p)
{
    return mtp_gen_get32(p) << 32 | mtp_gen_get32(p + 4);
}
static inline void mtp_gen_put8(uint8_t *p, uint8_t v) { p[0] = v; }
static inline void mtp_gen_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void mtp_gen_put32(uint8_t *p, uint32_t v)
{
    mtp_gen_put16(p, (uint16_t)(v >> 16));
    mtp_gen_put16(p + 2, (uint16_t)v);
}
static inline void mtp_gen_put64(uint8_t *p, uint64_t v)
{
    mtp_gen_put32(p, (uint32_t)(v >> 32));
    mtp_gen_put32(p + 4, (uint32_t)v);
}

/* MTP shifts: a count at or past the width gives 0 (or the sign for >> of a signed value)
 * instead of C's undefined behaviour */
static inline uint32_t mtp_gen_shl32(uint32_t v, uint64_t n) { return n < 32 ? v << n : 0; }
static inline uint64_t mtp_gen_shl64(uint64_t v, uint64_t n) { return n < 64 ? v << n : 0; }
static inline uint32_t mtp_gen_shr32(uint32_t v, uint64_t n) { return n < 32 ? v >> n : 0; }
static inline uint64_t mtp_gen_shr64(uint64_t v, uint64_t n) { return n < 64 ? v >> n : 0; }
static inline int64_t mtp_gen_sar64(int64_t v, uint64_t n)
{
    return n < 64 ? v >> n : (v < 0 ? -1 : 0);
}

/* a list index past the end reads/writes the last element instead of memory */
static inline uint32_t mtp_gen_idx(uint64_t i, uint32_t cap) { return i < cap ? (uint32_t)i : cap - 1; }

#endif
