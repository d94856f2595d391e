/* Params set by name and from the environment (mtp/params.h), table-style. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "mtp/errors.h"
#include "mtp/params.h"

static uint8_t p_u8 = 3;
static int16_t p_i16 = -2;
static uint32_t p_u32 = 7;
static uint64_t p_dur = 5000000;

static const struct mtp_param_desc params[] = {
    {.name = "SMALL", .bytes = 1, .is_signed = 0, .storage = &p_u8},
    {.name = "DELTA", .bytes = 2, .is_signed = 1, .storage = &p_i16},
    {.name = "BUF", .bytes = 4, .is_signed = 0, .storage = &p_u32},
    {.name = "MIN_WAIT", .bytes = 8, .is_signed = 0, .storage = &p_dur},
};
static const struct mtp_program prog = {
    .abi_version = MTP_ABI_VERSION, .name = "fixture", .n_params = 4, .params = params,
};

struct set_case { const char *name, *value; int want; int64_t after; };

Test(params, set_by_name)
{
    static const struct set_case cases[] = {
        {"SMALL", "255", 0, 255},        {"small", "0x10", 0, 16},
        {"SMALL", "256", MTP_ERANGE, 16}, {"SMALL", "-1", MTP_ERANGE, 16},
        {"DELTA", "-32768", 0, -32768},  {"DELTA", "32767", 0, 32767},
        {"DELTA", "32768", MTP_ERANGE, 32767}, {"DELTA", "-32769", MTP_ERANGE, 32767},
        {"BUF", "1_048_576", 0, 1048576}, {"BUF", "4294967296", MTP_ERANGE, 1048576},
        {"BUF", "12k", MTP_EINVAL, 1048576}, {"BUF", "", MTP_EINVAL, 1048576},
        {"BUF", "_1", MTP_EINVAL, 1048576},
        {"MIN_WAIT", "200ms", 0, 200000000}, {"MIN_WAIT", "3us", 0, 3000},
        {"MIN_WAIT", "2s", 0, 2000000000},   {"MIN_WAIT", "0x10ms", MTP_EINVAL, 2000000000},
        {"MIN_WAIT", "18446744073709551615", 0, -1},
        {"MIN_WAIT", "18446744073709551616", MTP_ERANGE, -1},
        {"NOPE", "1", MTP_ENOENT, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct set_case *c = &cases[i];
        cr_expect_eq(mtp_param_set(&prog, c->name, c->value), c->want, "%s=%s", c->name,
                     c->value);
        int64_t v;
        if (c->want != MTP_ENOENT) {
            cr_assert_eq(mtp_param_get(&prog, c->name, &v), 0);
            cr_expect_eq(v, c->after, "%s=%s: now %lld", c->name, c->value, (long long)v);
        }
    }
}

Test(params, from_env)
{
    char msg[256] = "";
    char *ok[] = {"PATH=/bin", "MTP_PARAM_min_wait=40ms", "MTP_PARAM_BUF=9", "MTP_PROTO=x", NULL};
    cr_assert_eq(mtp_params_from_env(&prog, ok, msg, sizeof msg), 2);
    cr_expect_eq(p_dur, 40000000u);
    cr_expect_eq(p_u32, 9u);

    char *unknown[] = {"MTP_PARAM_MIN_WAITS=1", NULL};
    cr_assert_eq(mtp_params_from_env(&prog, unknown, msg, sizeof msg), MTP_ENOENT);
    cr_expect_str_eq(msg, "MTP_PARAM_MIN_WAITS: program 'fixture' has no such param "
                          "(accepted: SMALL, DELTA, BUF, MIN_WAIT)");

    char *bad[] = {"MTP_PARAM_SMALL=300", NULL};
    cr_assert_eq(mtp_params_from_env(&prog, bad, msg, sizeof msg), MTP_ERANGE);
    cr_expect_str_eq(msg, "MTP_PARAM_SMALL=300: out of range (an unsigned 8-bit integer; "
                          "durations take ns, us, ms or s)");
    cr_expect_eq(p_u8, 3, "a refused value leaves the param as it was");
}

/* The runtime fills LINK_MBPS from the link when it is 0, and only then. */
static uint32_t p_link;
static uint16_t p_narrow_link;
static const struct mtp_param_desc link_params[] = {
    {.name = "LINK_MBPS", .bytes = 4, .is_signed = 0, .storage = &p_link},
};
static const struct mtp_param_desc narrow_params[] = {
    {.name = "LINK_MBPS", .bytes = 2, .is_signed = 0, .storage = &p_narrow_link},
};
static const struct mtp_program link_prog = {
    .abi_version = MTP_ABI_VERSION, .name = "linked", .n_params = 1, .params = link_params,
};
static const struct mtp_program narrow_prog = {
    .abi_version = MTP_ABI_VERSION, .name = "narrow", .n_params = 1, .params = narrow_params,
};

Test(params, link_rate_fills_a_zero_link_mbps)
{
    p_link = 0;
    cr_assert_eq(mtp_params_from_link(&link_prog, 10000), 1);
    cr_assert_eq(p_link, 10000);
}

Test(params, link_rate_leaves_the_users_value)
{
    p_link = 0;
    char msg[256];
    char *env[] = {"MTP_PARAM_LINK_MBPS=25000", NULL};
    cr_assert_eq(mtp_params_from_env(&link_prog, env, msg, sizeof msg), 1);
    cr_assert_eq(mtp_params_from_link(&link_prog, 10000), 0);
    cr_assert_eq(p_link, 25000);
}

Test(params, an_unknown_rate_or_no_such_param_changes_nothing)
{
    p_link = 0;
    cr_assert_eq(mtp_params_from_link(&link_prog, 0), 0);
    cr_assert_eq(p_link, 0);
    p_u32 = 7;
    cr_assert_eq(mtp_params_from_link(&prog, 10000), 0); /* the fixture has no LINK_MBPS */
    cr_assert_eq(p_u32, 7);
}

Test(params, a_rate_too_wide_for_the_param_is_not_stored)
{
    p_narrow_link = 0;
    cr_assert_eq(mtp_params_from_link(&narrow_prog, 100000), 0);
    cr_assert_eq(p_narrow_link, 0);
    cr_assert_eq(mtp_params_from_link(&narrow_prog, 40000), 1);
    cr_assert_eq(p_narrow_link, 40000);
}

/* LINK_MTU: the link's MTU when 0; the user's value stays unless it is above the link's. */
static uint32_t p_mtu;
static const struct mtp_param_desc mtu_params[] = {
    {.name = "LINK_MTU", .bytes = 4, .is_signed = 0, .storage = &p_mtu},
};
static const struct mtp_program mtu_prog = {
    .abi_version = MTP_ABI_VERSION, .name = "framed", .n_params = 1, .params = mtu_params,
};

Test(params, link_mtu_fills_a_zero_link_mtu)
{
    p_mtu = 0;
    cr_assert_eq(mtp_params_from_link_mtu(&mtu_prog, 9000), 1);
    cr_assert_eq(p_mtu, 9000);
    cr_assert_eq(mtp_params_from_link_mtu(&mtu_prog, 0), 0, "an unknown MTU changes nothing");
    cr_assert_eq(p_mtu, 9000);
}

Test(params, link_mtu_keeps_a_users_smaller_value_and_lowers_a_larger_one)
{
    p_mtu = 0;
    char msg[256];
    char *env[] = {"MTP_PARAM_LINK_MTU=1400", NULL};
    cr_assert_eq(mtp_params_from_env(&mtu_prog, env, msg, sizeof msg), 1);
    cr_assert_eq(mtp_params_from_link_mtu(&mtu_prog, 1500), 0);
    cr_assert_eq(p_mtu, 1400, "a tunnel's smaller MTU stays");
    char *big[] = {"MTP_PARAM_LINK_MTU=9000", NULL};
    cr_assert_eq(mtp_params_from_env(&mtu_prog, big, msg, sizeof msg), 1);
    cr_assert_eq(mtp_params_from_link_mtu(&mtu_prog, 1500), 1);
    cr_assert_eq(p_mtu, 1500, "segments above the link's frames would not leave");
}

Test(params, link_mtu_is_not_link_mbps)
{
    p_link = 0;
    cr_assert_eq(mtp_params_from_link_mtu(&link_prog, 1500), 0);
    cr_assert_eq(p_link, 0);
}
