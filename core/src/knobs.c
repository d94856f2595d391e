/*
 * knobs.c — the runtime's environment knobs (mtp/stack.h: struct mtp_knobs), read and
 * validated here and nowhere else, and the received-checksum policy they select.
 *
 *   MTP_RX_CSUM  auto (default) | full | partial   which L4 checksums received frames may carry
 *   MTP_TSO      auto (default) | off              use the device's segmentation offload
 *
 * A variable that is unset or empty takes its default; any other unknown value is an error,
 * one line naming the variable and the accepted values.
 */
#include <stdio.h>
#include <string.h>

#include "mtp/errors.h"
#include "mtp/stack.h"

/* Interfaces without a physical wire on which the kernel transmits with CHECKSUM_PARTIAL:
 * the L4 checksum field of what we receive there holds only the pseudo-header sum. */
static int kind_leaves_partial(enum mtp_link_kind kind)
{
    return kind == MTP_LINK_VETH || kind == MTP_LINK_LOOPBACK || kind == MTP_LINK_TAP;
}

int mtp_rx_csum_accepts_partial(enum mtp_rx_csum policy, enum mtp_link_kind kind)
{
    switch (policy) {
    case MTP_RX_CSUM_AUTO: return kind_leaves_partial(kind);
    case MTP_RX_CSUM_PARTIAL: return 1;
    case MTP_RX_CSUM_FULL: break;
    }
    return 0;
}

const char *mtp_link_kind_name(enum mtp_link_kind kind)
{
    static const char *const names[MTP_LINK_KIND_COUNT] = {
        [MTP_LINK_WIRE] = "wire", [MTP_LINK_VETH] = "veth", [MTP_LINK_LOOPBACK] = "loopback",
        [MTP_LINK_TAP] = "tap", [MTP_LINK_MEMIF] = "memif",
    };
    return (unsigned)kind < MTP_LINK_KIND_COUNT ? names[kind] : "?";
}

/* The value of NAME in env, or NULL when unset or empty. */
static const char *env_value(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (!strncmp(*env, name, n) && (*env)[n] == '=')
            return (*env)[n + 1] ? *env + n + 1 : NULL;
    return NULL;
}

/* Index of `v` in the NULL-terminated `words`, or -1 after writing the one-line error. */
static int word_pick(const char *name, const char *v, const char *const *words, char *err,
                     size_t cap)
{
    for (int i = 0; words[i]; i++)
        if (!strcmp(v, words[i]))
            return i;
    int used = snprintf(err, cap, "%s=%s: unknown value (accepted: ", name, v);
    for (int i = 0; words[i] && used >= 0 && (size_t)used < cap; i++)
        used += snprintf(err + used, cap - (size_t)used, "%s%s", i ? ", " : "", words[i]);
    if (used >= 0 && (size_t)used < cap)
        snprintf(err + used, cap - (size_t)used, ")");
    return -1;
}

int mtp_knobs_from_env(struct mtp_knobs *out, char *const *env, char *err, size_t cap)
{
    memset(out, 0, sizeof *out);
    /* same order as enum mtp_rx_csum */
    static const char *const csum_words[] = { "auto", "full", "partial", NULL };
    static const char *const tso_words[] = { "auto", "off", NULL };
    const char *v = env_value(env, "MTP_RX_CSUM");
    int i = v ? word_pick("MTP_RX_CSUM", v, csum_words, err, cap) : 0;
    if (i < 0)
        return MTP_EINVAL;
    out->rx_csum = (enum mtp_rx_csum)i;
    v = env_value(env, "MTP_TSO");
    i = v ? word_pick("MTP_TSO", v, tso_words, err, cap) : 0;
    if (i < 0)
        return MTP_EINVAL;
    out->no_seg_offload = i == 1;
    return 0;
}

void mtp_knobs_apply(const struct mtp_knobs *k, struct mtp_stack_config *scfg,
                     struct mtp_target_config *tcfg)
{
    if (scfg) {
        scfg->rx_csum = (uint8_t)k->rx_csum;
        scfg->no_seg_offload = k->no_seg_offload;
    }
    if (tcfg)
        tcfg->no_seg_offload = k->no_seg_offload;
}
