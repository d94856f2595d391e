/* builtins.c — runtime helpers generated code calls: rand32() and assert(). */
#include <stdio.h>
#include "mtp/program.h"

/* xorshift64* (Vigna): the state must never be 0, so a 0 state is reseeded with a constant. */
uint32_t mtp_rand32(struct mtp_exec *x)
{
    uint64_t s = x->rng ? x->rng : 0x9e3779b97f4a7c15ull;
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    x->rng = s;
    return (uint32_t)((s * 0x2545f4914f6cdd1dull) >> 32);
}

/* Test builds (sanitizer builds, or MTP_TEST_BUILD) report the failing assertion; release
 * builds only count it (the engine adds x->assert_failures to its stats). */
#if defined(MTP_TEST_BUILD) || defined(__SANITIZE_ADDRESS__)
#define MTP_ASSERT_REPORT 1
#else
#define MTP_ASSERT_REPORT 0
#endif

void mtp_assert_failed(struct mtp_exec *x, const char *file, int line, const char *expr)
{
    x->assert_failures++;
    if (MTP_ASSERT_REPORT)
        fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
}
