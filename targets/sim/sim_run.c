/*
 * sim_run.c — the driver that moves virtual time for stacks on a simulated wire. In its own
 * file so tests of the bare wire do not pull in the stack and the engine.
 */
#include <errno.h>
#include "mtp/stack.h"
#include "sim.h"

#define SIM_IDLE_ROUNDS 64       /* polls at one instant before we call it idle */
#define SIM_MAX_STEPS 10000000u  /* bound on clock steps: a test always ends */

/* Polls every stack until none has work at this instant. */
static void poll_all(struct mtp_sim_wire *w, struct mtp_stack *const *stacks, int n)
{
    for (int round = 0; round < SIM_IDLE_ROUNDS; round++) {
        int work = 0;
        for (int i = 0; i < n; i++)
            work += mtp_stack_poll(stacks[i], mtp_sim_now(w)) > 0;
        if (!work)
            return;
    }
}

int mtp_sim_run_until(struct mtp_sim_wire *w, struct mtp_stack *const *stacks, int n,
                      mtp_sim_cond_fn cond, void *arg, uint64_t deadline_ns)
{
    for (uint32_t step = 0; step < SIM_MAX_STEPS; step++) {
        poll_all(w, stacks, n);
        if (cond && cond(arg))
            return 0;
        uint64_t next = mtp_sim_next_delivery_after(w, mtp_sim_now(w));
        for (int i = 0; i < n; i++) {
            uint64_t d = mtp_stack_next_deadline(stacks[i]);
            if (d < next)
                next = d;
        }
        /* A deadline already due was just served by poll_all: move on by 1 ns so a stack
         * that keeps reporting a past deadline cannot stall the clock. */
        if (next <= mtp_sim_now(w))
            next = mtp_sim_now(w) + 1;
        if (next > deadline_ns) {
            mtp_sim_set_now(w, deadline_ns);
            return -ETIMEDOUT;
        }
        mtp_sim_set_now(w, next);
    }
    return -ETIMEDOUT;
}
