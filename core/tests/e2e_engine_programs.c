/*
 * Every program compiled from mtp-programs/ on the engine (names come from the build: this
 * file knows none). The engine accepts each descriptor, survives all-zero application
 * events (every chain, main and else) and random packets through the generated parser,
 * under ASan/UBSan. Built by core/engine_e2e.mk.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "mtp/engine.h"
#include "mtp/errors.h"
#include "programs_list.h" /* MTP_E2E_PROGRAMS(X): X(name) for each compiled program */

#define DECLARE(n) extern const struct mtp_program mtpg_##n##_program;
MTP_E2E_PROGRAMS(DECLARE)
#define REFERENCE(n) &mtpg_##n##_program,
static const struct mtp_program *const programs[] = { MTP_E2E_PROGRAMS(REFERENCE) NULL };

static struct mtp_engine *engine_for(const struct mtp_program *p)
{
    struct mtp_engine_config cfg = { .local_ip = 0x0a000001, .seed = 7 };
    int err = 0;
    struct mtp_engine *e = mtp_engine_new(p, &cfg, &err);
    cr_assert_not_null(e, "%s: %s", p->name, mtp_strerror(err));
    return e;
}

static int drain(struct mtp_engine *e, uint64_t now)
{
    static uint8_t buf[2048];
    struct mtp_tx_meta m;
    int n = 0, len;
    while ((len = mtp_engine_tx_next(e, buf, sizeof buf, &m, now)) != 0 && n < 100000) {
        if (len > 0) {
            cr_assert_leq((uint32_t)len, 1480u);
            cr_assert_eq(m.l4_len, (uint32_t)len);
        }
        n++;
    }
    return n;
}

Test(programs, descriptors_are_accepted)
{
    cr_assert_not_null(programs[0], "no program compiled");
    for (int i = 0; programs[i]; i++) {
        const struct mtp_program *p = programs[i];
        cr_expect_eq(p->abi_version, MTP_ABI_VERSION, "%s", p->name);
        struct mtp_engine *e = engine_for(p);
        cr_expect_eq(mtp_engine_tx_pending(e), 0);
        cr_expect_eq(mtp_engine_next_deadline(e), UINT64_MAX, "%s: no timer armed yet", p->name);
        mtp_engine_free(e);
    }
}

Test(programs, all_zero_app_events_run_every_chain)
{
    static const uint64_t zero[MTP_EVENT_MAX_BYTES / 8];
    for (int i = 0; programs[i]; i++) {
        const struct mtp_program *p = programs[i];
        struct mtp_engine *e = engine_for(p);
        struct mtp_key k = { { 0 } };
        uint64_t now = 1000;
        /* twice: the first may run an else chain that creates the context */
        for (int round = 0; round < 2; round++)
            for (uint16_t t = 0; t < p->n_events; t++) {
                if (p->events[t].kind != MTP_EV_APP)
                    continue;
                int r = mtp_engine_post(e, t, &k, zero, p->events[t].size, now);
                cr_expect_geq(r, 0, "%s: event %s: %s", p->name, p->events[t].name,
                              mtp_strerror(r));
                drain(e, now);
                now += 1000000;
            }
        /* let every armed timer fire, a few times over */
        for (int k2 = 0; k2 < 50; k2++) {
            uint64_t d = mtp_engine_next_deadline(e);
            if (d == UINT64_MAX)
                break;
            now = d > now ? d : now;
            cr_expect_geq(mtp_engine_timers(e, now), 0);
            drain(e, now);
        }
        cr_expect_eq(mtp_engine_stats(e)->instr_overflow, 0, "%s", p->name);
        mtp_engine_free(e);
    }
}

Test(programs, random_packets_through_the_parser)
{
    static uint8_t pkt[1500];
    uint64_t s = 0x1234567;
    for (int i = 0; programs[i]; i++) {
        const struct mtp_program *p = programs[i];
        struct mtp_engine *e = engine_for(p);
        for (int n = 0; n < 3000; n++) {
            s ^= s << 13; s ^= s >> 7; s ^= s << 17;
            uint32_t len = (uint32_t)(s % 200);
            for (uint32_t b = 0; b < len; b++) {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                pkt[b] = (uint8_t)s;
            }
            struct mtp_rx_pkt rp = {
                .l4 = pkt, .l4_len = len,
                .ip = { .src = 0x0a000002, .dst = 0x0a000001,
                        .total_len = (uint16_t)(20 + len), .hdr_len = 20, .ttl = 64,
                        .proto = p->ip_proto },
            };
            int r = mtp_engine_rx(e, &rp, (uint64_t)n * 1000);
            cr_assert(r >= 0 || r == MTP_EBADMSG || r == MTP_ENOENT, "%s: %s", p->name,
                      mtp_strerror(r));
            drain(e, (uint64_t)n * 1000);
        }
        mtp_engine_free(e);
    }
}
