/*
 * params.c — setting a program's `param` tunables by name (see mtp/params.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mtp/errors.h"
#include "mtp/params.h"

#define ENV_PREFIX "MTP_PARAM_"

static const struct mtp_param_desc *param_find(const struct mtp_program *prog, const char *name,
                                               size_t name_len)
{
    for (uint16_t i = 0; i < prog->n_params; i++) {
        const struct mtp_param_desc *d = &prog->params[i];
        if (strlen(d->name) == name_len && !strncasecmp(d->name, name, name_len))
            return d;
    }
    return NULL;
}

/* Duration suffixes: the language's time literals. */
static const struct { const char *suffix; uint64_t scale; } units[] = {
    {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000},
};

/* Parses [-]digits (decimal or 0x hex, '_' between digits) and an optional duration suffix
 * into a magnitude and a sign. Returns 0 or MTP_EINVAL / MTP_ERANGE. */
static int number_parse(const char *s, uint64_t *magnitude, int *negative)
{
    *negative = *s == '-';
    if (*s == '-' || *s == '+')
        s++;
    unsigned base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    uint64_t v = 0;
    int digits = 0;
    for (; *s; s++) {
        if (*s == '_' && digits)
            continue;
        unsigned d;
        if (isdigit((unsigned char)*s))
            d = (unsigned)(*s - '0');
        else if (base == 16 && isxdigit((unsigned char)*s))
            d = (unsigned)(tolower((unsigned char)*s) - 'a' + 10);
        else
            break;
        if (v > (UINT64_MAX - d) / base)
            return MTP_ERANGE;
        v = v * base + d;
        digits++;
    }
    if (!digits)
        return MTP_EINVAL;
    if (*s) {
        size_t i = 0;
        while (i < sizeof(units) / sizeof(units[0]) && strcmp(s, units[i].suffix))
            i++;
        if (i == sizeof(units) / sizeof(units[0]) || base != 10)
            return MTP_EINVAL;
        if (v > UINT64_MAX / units[i].scale)
            return MTP_ERANGE;
        v *= units[i].scale;
    }
    *magnitude = v;
    return 0;
}

/* Checks that the value fits the param's width and signedness; stores it. */
static int param_store(const struct mtp_param_desc *d, uint64_t magnitude, int negative)
{
    unsigned bits = d->bytes * 8u;
    if (d->is_signed) {
        uint64_t limit = (uint64_t)1 << (bits - 1); /* |min|; max is limit - 1 */
        if (negative ? magnitude > limit : magnitude >= limit)
            return MTP_ERANGE;
    } else if (negative ? magnitude != 0 : bits < 64 && magnitude >> bits) {
        return MTP_ERANGE;
    }
    uint64_t v = negative ? (uint64_t)0 - magnitude : magnitude;
    switch (d->bytes) {
    case 1: { uint8_t x = (uint8_t)v; memcpy(d->storage, &x, 1); break; }
    case 2: { uint16_t x = (uint16_t)v; memcpy(d->storage, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(d->storage, &x, 4); break; }
    case 8: memcpy(d->storage, &v, 8); break;
    default: return MTP_EINVAL;
    }
    return 0;
}

int mtp_param_set(const struct mtp_program *prog, const char *name, const char *value)
{
    const struct mtp_param_desc *d = param_find(prog, name, strlen(name));
    if (!d)
        return MTP_ENOENT;
    uint64_t magnitude;
    int negative, err = number_parse(value, &magnitude, &negative);
    return err ? err : param_store(d, magnitude, negative);
}

int mtp_param_get(const struct mtp_program *prog, const char *name, int64_t *out)
{
    const struct mtp_param_desc *d = param_find(prog, name, strlen(name));
    if (!d)
        return MTP_ENOENT;
    uint64_t raw;
    switch (d->bytes) {
    case 1: { uint8_t x; memcpy(&x, d->storage, 1); raw = x; break; }
    case 2: { uint16_t x; memcpy(&x, d->storage, 2); raw = x; break; }
    case 4: { uint32_t x; memcpy(&x, d->storage, 4); raw = x; break; }
    case 8: memcpy(&raw, d->storage, 8); break;
    default: return MTP_EINVAL;
    }
    unsigned bits = d->bytes * 8u;
    if (bits < 64 && d->is_signed && (raw >> (bits - 1)) & 1)
        raw |= ~(uint64_t)0 << bits;
    *out = (int64_t)raw;
    return 0;
}

static void names_list(const struct mtp_program *prog, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (uint16_t i = 0; i < prog->n_params && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", prog->params[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int mtp_params_from_link(const struct mtp_program *prog, uint32_t speed_mbps)
{
    static const char name[] = "LINK_MBPS";
    const struct mtp_param_desc *d = param_find(prog, name, sizeof name - 1);
    int64_t now;
    if (!d || !speed_mbps || mtp_param_get(prog, name, &now) < 0 || now != 0)
        return 0;
    return param_store(d, speed_mbps, 0) == 0;
}

int mtp_params_from_link_mtu(const struct mtp_program *prog, uint32_t mtu)
{
    static const char name[] = "LINK_MTU";
    const struct mtp_param_desc *d = param_find(prog, name, sizeof name - 1);
    int64_t now;
    if (!d || !mtu || mtp_param_get(prog, name, &now) < 0 || (now > 0 && now <= mtu))
        return 0;
    return param_store(d, mtu, 0) == 0;
}

int mtp_params_from_env(const struct mtp_program *prog, char *const *envp, char *msg,
                        size_t msg_len)
{
    int applied = 0;
    for (; envp && *envp; envp++) {
        const char *var = *envp;
        if (strncmp(var, ENV_PREFIX, strlen(ENV_PREFIX)))
            continue;
        const char *name = var + strlen(ENV_PREFIX), *eq = strchr(name, '=');
        if (!eq)
            continue;
        size_t name_len = (size_t)(eq - name);
        const struct mtp_param_desc *d = param_find(prog, name, name_len);
        if (!d) {
            char names[512];
            names_list(prog, names, sizeof names);
            snprintf(msg, msg_len, "%.*s: program '%s' has no such param (accepted: %s)",
                     (int)(eq - var), var, prog->name, prog->n_params ? names : "none");
            return MTP_ENOENT;
        }
        uint64_t magnitude;
        int negative, err = number_parse(eq + 1, &magnitude, &negative);
        if (!err)
            err = param_store(d, magnitude, negative);
        if (err) {
            snprintf(msg, msg_len, "%s: %s (%s %u-bit integer; durations take ns, us, ms "
                     "or s)", var, err == MTP_ERANGE ? "out of range" : "not a number",
                     d->is_signed ? "a signed" : "an unsigned", d->bytes * 8u);
            return err;
        }
        applied++;
    }
    return applied;
}
