/*
 * params.h — a program's `param` tunables at run time.
 *
 * mtpc lists every `param` of a program in its descriptor (name, width, signedness, the
 * generated variable). These functions set them by name from text, the way a user gives them:
 * decimal or 0x hex, `_` between digits, and for durations the suffixes ns, us, ms and s
 * (values are nanoseconds, as in the language). From the environment, MTP_PARAM_<NAME>=value
 * sets param NAME (the name is matched without regard to case).
 */
#ifndef MTP_PARAMS_H
#define MTP_PARAMS_H

#include <stddef.h>
#include "mtp/program.h"

/* 0; MTP_ENOENT: no such param; MTP_EINVAL: not a number; MTP_ERANGE: does not fit. */
int mtp_param_set(const struct mtp_program *prog, const char *name, const char *value);

/* The current value (sign-extended for signed params); MTP_ENOENT if there is no such param. */
int mtp_param_get(const struct mtp_program *prog, const char *name, int64_t *out);

/* Applies every MTP_PARAM_<NAME>=value in `envp` (NULL-terminated, like environ). Returns the
 * number applied, or a negative code with a one-line message in `msg` naming the variable
 * and, for an unknown name, the accepted ones. */
int mtp_params_from_env(const struct mtp_program *prog, char *const *envp, char *msg,
                        size_t msg_len);

/* The param the runtime fills (docs/LANGUAGE.md, "Params"): a program's LINK_MBPS that is 0
 * (its default, or the user's MTP_PARAM_LINK_MBPS=0: "the interface's") takes the rate of
 * the link the stack runs on, when the target knows it. Returns 1 if it was set, else 0. */
int mtp_params_from_link(const struct mtp_program *prog, uint32_t speed_mbps);

/* The other one: a program's LINK_MTU that is 0 takes the MTU of the link the stack runs on
 * (the most it sends in one frame: the target's limit where that is lower than the
 * interface's); a nonzero value the user set stays, lowered to that MTU if above it (a
 * segment larger than the frames would not leave). Returns 1 if it was changed, else 0. */
int mtp_params_from_link_mtu(const struct mtp_program *prog, uint32_t mtu);

#endif
