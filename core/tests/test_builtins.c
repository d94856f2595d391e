/* Built-ins generated code calls (SipHash-2-4, rand32, assert) and the error table. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/errors.h"
#include "mtp/program.h"
#include "siphash.h"

/* Reference vectors of the SipHash paper: key 00..0f, message 00..(len-1). */
static const struct { size_t len; uint64_t hash; } sip_vectors[] = {
    { 0, 0x726fdb47dd0e0e31ull },  { 1, 0x74f839c593dc67fdull },
    { 2, 0x0d6c8009d9a94f5aull },  { 3, 0x85676696d7fb7e2dull },
    { 7, 0xab0200f58b01d137ull },  { 8, 0x93f5f5799a932462ull },
    { 15, 0xa129ca6149be45e5ull }, { 16, 0x3f2acc7f57c29bdbull },
    { 63, 0x958a324ceb064572ull },
};

Test(siphash, reference_vectors)
{
    uint8_t msg[64];
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    struct mtp_exec x = { .secret = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull } };
    for (size_t i = 0; i < sizeof sip_vectors / sizeof sip_vectors[0]; i++) {
        cr_expect_eq(mtp_keyed_hash(&x, msg, sip_vectors[i].len), sip_vectors[i].hash,
                     "len %zu", sip_vectors[i].len);
        cr_expect_eq(mtp__siphash24(x.secret, msg, sip_vectors[i].len), sip_vectors[i].hash);
    }
}

Test(siphash, key_changes_hash)
{
    struct mtp_exec a = { .secret = { 1, 2 } }, b = { .secret = { 1, 3 } };
    cr_expect_neq(mtp_keyed_hash(&a, "abc", 3), mtp_keyed_hash(&b, "abc", 3));
}

Test(rand32, deterministic_per_seed_and_varied)
{
    struct mtp_exec a = { .rng = 42 }, b = { .rng = 42 }, z = { .rng = 0 };
    uint32_t first = mtp_rand32(&a);
    cr_expect_eq(first, mtp_rand32(&b));
    int differ = 0;
    for (int i = 0; i < 100; i++)
        differ += mtp_rand32(&a) != first;
    cr_expect_gt(differ, 95);
    mtp_rand32(&z);
    cr_expect_neq(z.rng, 0, "a zero state must not stay stuck at zero");
}

Test(assert, counts_and_reports)
{
    struct mtp_exec x = { 0 };
    mtp_assert_failed(&x, "p.mtp", 7, "a < b");
    mtp_assert_failed(&x, "p.mtp", 8, "c");
    cr_expect_eq(x.assert_failures, 2);
}

static const struct { int code; int errnum; const char *word; } err_cases[] = {
    { MTP_ENOMEM, ENOMEM, "memory" },   { MTP_ENOBUFS, ENOBUFS, "exhausted" },
    { MTP_EAGAIN, EAGAIN, "again" },    { MTP_EEXIST, EEXIST, "exists" },
    { MTP_ENOENT, ENOENT, "no such" },  { MTP_EINVAL, EINVAL, "invalid" },
    { MTP_EPROTO, EPROTO, "descriptor" }, { MTP_EABI, ENOEXEC, "ABI" },
};

Test(errors, table_maps_to_errno_and_messages)
{
    for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
        cr_expect_eq(err_cases[i].code, -err_cases[i].errnum);
        cr_expect(strstr(mtp_strerror(err_cases[i].code), err_cases[i].word) != NULL,
                  "%d: %s", err_cases[i].code, mtp_strerror(err_cases[i].code));
    }
    cr_expect_str_eq(mtp_strerror(0), "success");
    cr_expect_str_eq(mtp_strerror(-EPIPE), strerror(EPIPE));
}
