/*
 * mtph.h — the protocol-free half of the analysis harness (`mtpc --emit=harness`, paper
 * Appendix A): the fuzz input reader, the model of a context's tx units, and the generic
 * oracles on the instruction buffer a chain leaves. The generated half (X_harness.c) knows
 * the program: its chains, the layouts to sanitize, its invariants.
 *
 * A failed check prints one line "mtph: <what>" on stderr and aborts, which libFuzzer (or
 * KLEE) reports with the input that caused it.
 */
#ifndef MTPH_H
#define MTPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtp/program.h"

/* The fuzz input, read front to back; past its end every byte reads 0. */
struct mtph_input {
    const uint8_t *p;
    size_t n;
};
void mtph_take(struct mtph_input *in, void *dst, size_t len);
uint8_t mtph_take_u8(struct mtph_input *in);
uint64_t mtph_take_u64(struct mtph_input *in);

/* A bool read from raw bytes is 0 or 1 (any other byte is undefined behaviour in C). */
void mtph_fix_bool(void *b);

/* What the harness knows of tx unit uid (0..MTPH_UNITS-1) of the event's context: bound
 * from the context by an invariant `tx_appended(uid) == …` / `tx_acked(uid) == …`, or made
 * by the chain (new_tx_ordered_data). Unknown units are not checked. */
#define MTPH_UNITS 8
struct mtph_unit {
    bool known;
    bool is_tx;
    bool message;        /* size != INF */
    uint64_t size;
    uint64_t appended;   /* stream bytes appended since the unit began */
    uint64_t acked;      /* ... retired (tx_flush_and_notify) */
};
extern struct mtph_unit mtph_units[MTPH_UNITS];    /* tx units */
extern struct mtph_unit mtph_rx_units[MTPH_UNITS]; /* rx units */
uint64_t mtph_tx_appended(uint64_t uid);
uint64_t mtph_tx_acked(uint64_t uid);
void mtph_bind_appended(uint64_t uid, uint64_t v);
void mtph_bind_acked(uint64_t uid, uint64_t v);

/* One chain run: its execution scope and instruction buffer (the engine's capacities). */
#define MTPH_IBUF_CAP 256u
#define MTPH_ARENA_BYTES (64u * 1024u)
struct mtph_run {
    struct mtp_exec x;
    struct mtp_ibuf b;
    struct mtp_key key;
    struct mtp_instr v[MTPH_IBUF_CAP];
    uint8_t arena[MTPH_ARENA_BYTES];
};
/* Resets the unit model and sets up r from the input (time, random state, the event's key). */
void mtph_begin(struct mtph_run *r, struct mtph_input *in, void *const *globals);

/* After the chain: the program's asserts, then the oracles on the instruction buffer.
 * has_ctx: the chain ran with the event's context instance (not the else chain). Returns
 * whether that instance still exists (not deleted by the chain): its invariants apply. */
bool mtph_check(struct mtph_run *r, const struct mtp_program *p, uint16_t ev_type, bool has_ctx);

_Noreturn void mtph_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Set by the generated driver: prints the chain's inputs after a failure report. */
extern void (*mtph_on_fail)(void);

/* The second driver: the program's parser on raw bytes (an IPv4 meta header, then L4). */
void mtph_parse(const struct mtp_program *p, const uint8_t *d, size_t n);

#endif
