/* Packet scheduler: strict priority, WRR weights, per-flow round robin, token-bucket pacing
 * on a virtual clock; and the same through the engine (pkt_gen queue, set_queue_*). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "fixture_prog.h"
#include "sched.h"

struct titem {
    struct mtp__sq_item it; /* first */
    int id;
};

static int serve(struct mtp__sched *s, uint64_t now, uint32_t bytes)
{
    struct mtp__sq_item *it = mtp__sched_peek(s, now);
    if (!it)
        return -1;
    mtp__sched_charge(s, it, bytes, 1);
    mtp__sched_remove(s, it);
    return ((struct titem *)it)->id;
}

Test(sched, strict_priority_and_set_prio)
{
    static const struct mtp_queue_desc q[] = {
        { "low", 0, 2, 1, 0 }, { "high", 0, 0, 1, 0 }, { "mid", 0, 1, 1, 0 },
    };
    const struct mtp_sched_desc d = { MTP_SCHED_STRICT_PRIO, 3, q };
    struct mtp__sched s;
    cr_assert_eq(mtp__sched_init(&s, &d, 1500, 0), 0);
    struct titem it[9];
    for (int i = 0; i < 9; i++) {
        it[i].id = i;
        mtp__sched_enqueue(&s, &it[i].it, (uint16_t)(i % 3), NULL);
    }
    static const int want[] = { 1, 4, 7, 0, 3, 6, 2, 5, 8 };
    for (int i = 0; i < 9; i++) {
        if (i == 3)
            mtp__sched_set_prio(&s, 0, 0); /* low becomes highest (ties: lower index) */
        cr_expect_eq(serve(&s, 0, 100), want[i], "pick %d", i);
    }
    cr_expect_eq(serve(&s, 0, 100), -1);
    mtp__sched_destroy(&s);
}

Test(sched, wrr_weights_in_packets)
{
    static const struct mtp_queue_desc q[] = { { "a", 0, 0, 3, 0 }, { "b", 0, 0, 1, 0 } };
    const struct mtp_sched_desc d = { MTP_SCHED_WRR, 2, q };
    struct mtp__sched s;
    mtp__sched_init(&s, &d, 1500, 0);
    struct titem it[16];
    for (int i = 0; i < 16; i++) {
        it[i].id = i < 8 ? 0 : 1; /* queue of the item */
        mtp__sched_enqueue(&s, &it[i].it, (uint16_t)it[i].id, NULL);
    }
    static const int want[] = { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1 };
    for (int i = 0; i < 16; i++)
        cr_expect_eq(serve(&s, 0, 100), want[i], "pick %d", i);
    mtp__sched_destroy(&s);
}

Test(sched, per_flow_round_robin_inside_a_queue)
{
    static const struct mtp_queue_desc q[] = { { "rr", 1, 0, 1, 0 }, { "plain", 0, 0, 1, 0 } };
    const struct mtp_sched_desc d = { MTP_SCHED_STRICT_PRIO, 2, q };
    struct mtp__sched s;
    mtp__sched_init(&s, &d, 1500, 0);
    struct mtp__flowq f[3] = { 0 };
    struct titem it[9];
    /* flow 0 queues 4 items, flow 1 two, flow 2 three; all before anything is served */
    static const int flow_of[] = { 0, 0, 0, 0, 1, 1, 2, 2, 2 };
    for (int i = 0; i < 9; i++) {
        it[i].id = flow_of[i] * 10 + i;
        mtp__sched_enqueue(&s, &it[i].it, 0, &f[flow_of[i]]);
    }
    static const int want[] = { 0, 14, 26, 1, 15, 27, 2, 28, 3 };
    for (int i = 0; i < 9; i++)
        cr_expect_eq(serve(&s, 0, 100), want[i], "pick %d", i);
    /* a queue that is not per_flow ignores flows: arrival order */
    struct titem j[3];
    for (int i = 0; i < 3; i++) {
        j[i].id = i;
        mtp__sched_enqueue(&s, &j[i].it, 1, &f[2 - i]);
    }
    for (int i = 0; i < 3; i++)
        cr_expect_eq(serve(&s, 0, 100), i);
    mtp__sched_destroy(&s);
}

Test(sched, per_flow_ranks_serve_the_lowest_first_and_can_change)
{
    static const struct mtp_queue_desc q[] = { { "srpt", 1, 0, 1, 0 } };
    const struct mtp_sched_desc d = { MTP_SCHED_STRICT_PRIO, 1, q };
    struct mtp__sched s;
    mtp__sched_init(&s, &d, 1500, 0);
    struct mtp__flowq f[3] = { 0 };
    mtp__sched_set_rank(&s, 0, &f[0], 300); /* idle flows keep their rank */
    mtp__sched_set_rank(&s, 0, &f[1], 100);
    mtp__sched_set_rank(&s, 0, &f[2], 300);
    struct titem it[9];
    for (int i = 0; i < 9; i++) {
        it[i].id = (i % 3) * 10 + i;
        mtp__sched_enqueue(&s, &it[i].it, 0, &f[i % 3]);
    }
    /* flow 1 (rank 100) first, all of it; then flows 0 and 2 (300) round robin */
    cr_expect_eq(serve(&s, 0, 100), 11);
    cr_expect_eq(serve(&s, 0, 100), 14);
    cr_expect_eq(serve(&s, 0, 100), 17);
    cr_expect_eq(serve(&s, 0, 100), 0);
    cr_expect_eq(serve(&s, 0, 100), 22);
    /* flow 2 shrinks below flow 0 while both wait: it goes first until it is empty */
    mtp__sched_set_rank(&s, 0, &f[2], 50);
    cr_expect_eq(serve(&s, 0, 100), 25);
    cr_expect_eq(serve(&s, 0, 100), 28);
    cr_expect_eq(serve(&s, 0, 100), 3);
    cr_expect_eq(serve(&s, 0, 100), 6);
    cr_expect_eq(serve(&s, 0, 100), -1);
    mtp__sched_destroy(&s);
}

Test(sched, fifo_across_queues_is_arrival_order_and_remove)
{
    static const struct mtp_queue_desc q[] = { { "a", 0, 0, 1, 0 }, { "b", 0, 0, 1, 0 } };
    const struct mtp_sched_desc d = { MTP_SCHED_FIFO, 2, q };
    struct mtp__sched s;
    mtp__sched_init(&s, &d, 1500, 0);
    struct titem it[6];
    for (int i = 0; i < 6; i++) {
        it[i].id = i;
        mtp__sched_enqueue(&s, &it[i].it, (uint16_t)(i * 7 % 2), NULL);
    }
    mtp__sched_remove(&s, &it[2].it);
    static const int want[] = { 0, 1, 3, 4, 5 };
    for (int i = 0; i < 5; i++)
        cr_expect_eq(serve(&s, 0, 100), want[i]);
    cr_expect_eq(s.count, 0);
    mtp__sched_destroy(&s);
}

Test(sched, token_bucket_pacing_on_a_virtual_clock)
{
    static const struct mtp_queue_desc q[] = { { "paced", 0, 0, 1, 1000000 }, /* 1 MB/s */
                                               { "free", 0, 1, 1, 0 } };
    const struct mtp_sched_desc d = { MTP_SCHED_STRICT_PRIO, 2, q };
    struct mtp__sched s;
    mtp__sched_init(&s, &d, 1500, 0);
    enum { N = 400 };
    struct titem *it = calloc(N, sizeof *it);
    for (int i = 0; i < N; i++)
        mtp__sched_enqueue(&s, &it[i].it, 0, NULL);
    uint64_t sent = 0;
    uint64_t now = 0;
    for (; now <= 100000000ull; now += 10000) { /* 100 ms in 10 us steps */
        while (mtp__sched_peek(&s, now)) {
            cr_assert_eq(serve(&s, now, 1000), 0);
            sent += 1000;
        }
        if (now == 50000000ull) {
            /* paced queue waiting: the other queue is still served at once */
            struct titem x = { .id = 7 };
            mtp__sched_enqueue(&s, &x.it, 1, NULL);
            cr_expect_eq(serve(&s, now, 1000), 7);
        }
    }
    /* burst (2 MTU = 3000 B) + 1 MB/s * 100 ms, within one packet */
    cr_expect_geq(sent, 3000 + 100000 - 1000);
    cr_expect_leq(sent, 3000 + 100000 + 1000);
    uint64_t next = mtp__sched_next_ready(&s, now);
    cr_expect_gt(next, now - 10000);
    cr_expect_leq(next, now + 1000000, "the next 1000 B are due within 1 ms");
    mtp__sched_set_rate(&s, 0, 0, now);
    cr_expect_not_null(mtp__sched_peek(&s, now), "unlimited again");
    free(it);
    mtp__sched_destroy(&s);
}

/* Through the engine: the fixture program with a strict-priority scheduler. */
static const struct mtp_queue_desc eq[] = { { "ctrl", 0, 0, 1, 0 }, { "data", 1, 1, 1, 0 } };
static const struct mtp_sched_desc esched = { MTP_SCHED_STRICT_PRIO, 2, eq };

Test(sched, engine_queues_prio_and_rate_instructions)
{
    struct mtp_program p = fx_program;
    p.sched = &esched;
    struct mtp_engine_config cfg = { .local_ip = 1 };
    struct mtp_engine *e = mtp_engine_new(&p, &cfg, NULL);
    cr_assert_not_null(e);
    for (uint32_t id = 1; id <= 2; id++)
        fx_post(e, id, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
    /* data acks of two flows in the per-flow queue, then a control ack */
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 11, .queue = 1 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 10, .queue = 1 }, 0); /* not merged */
    fx_post(e, 2, (struct fx_op){ .op = FX_GEN_ACK, .c = 21, .queue = 1 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 5, .queue = 0 }, 0);
    uint8_t b[256];
    struct mtp_tx_meta m;
    static const uint32_t want[] = { 5, 11, 21, 10 };
    for (int i = 0; i < 4; i++) {
        cr_assert_gt(mtp_engine_tx_next(e, b, sizeof b, &m, 0), 0);
        cr_expect_eq(fx_get32(b), want[i], "pkt %d", i);
    }
    /* pace the data queue: 28-byte packets (8 + 20) at 2800 B/s, burst 3000 B */
    fx_post(e, 1, (struct fx_op){ .op = FX_SET_RATE, .a = 1, .b = 2800 }, 0);
    for (int i = 0; i < 120; i++)
        fx_post(e, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 1000 - (uint64_t)i, .queue = 1 }, 0);
    int sent = 0;
    while (mtp_engine_tx_next(e, b, sizeof b, &m, 0) > 0)
        sent++;
    cr_expect_eq(sent, 108, "3000 B of burst: 107 full packets and one into deficit");
    cr_expect_eq(mtp_engine_tx_pending(e), 12);
    uint64_t dl = mtp_engine_next_deadline(e);
    cr_expect_gt(dl, 0);
    cr_expect_leq(dl, 10000000ull, "one 28-byte packet is due within 10 ms");
    cr_expect_eq(mtp_engine_tx_next(e, b, sizeof b, &m, dl - 1 > 0 ? dl - 1 : 0), 0);
    cr_expect_gt(mtp_engine_tx_next(e, b, sizeof b, &m, dl), 0);
    /* set_queue_prio: data becomes higher priority than ctrl */
    fx_post(e, 1, (struct fx_op){ .op = FX_SET_RATE, .a = 1, .b = 0 }, dl);
    fx_post(e, 1, (struct fx_op){ .op = FX_SET_PRIO, .a = 0, .b = 5 }, dl);
    fx_post(e, 2, (struct fx_op){ .op = FX_GEN_ACK, .c = 77, .queue = 0 }, dl);
    cr_assert_gt(mtp_engine_tx_next(e, b, sizeof b, &m, dl), 0);
    cr_expect_neq(fx_get32(b), 77, "the data queue goes first now");
    mtp_engine_free(e);
}

Test(sched, engine_set_flow_prio_orders_the_contexts_of_a_per_flow_queue)
{
    struct mtp_program p = fx_program;
    p.sched = &esched;
    struct mtp_engine_config cfg = { .local_ip = 1 };
    struct mtp_engine *e = mtp_engine_new(&p, &cfg, NULL);
    cr_assert_not_null(e);
    for (uint32_t id = 1; id <= 3; id++) {
        fx_post(e, id, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
        fx_post(e, id, (struct fx_op){ .op = FX_SET_FLOW_PRIO, .a = 1000 - id * 100 }, 0);
        for (uint32_t k = 0; k < 2; k++) /* a lower ack does not replace the pending one */
            fx_post(e, id, (struct fx_op){ .op = FX_GEN_ACK, .c = id * 10 + 1 - k,
                                           .queue = 1 }, 0);
    }
    /* context 1 shrinks to the shortest after one packet of context 3 went out */
    uint8_t b[256];
    struct mtp_tx_meta m;
    static const uint32_t want[] = { 31, 11, 10, 30, 21, 20 };
    for (int i = 0; i < 6; i++) {
        if (i == 1)
            fx_post(e, 1, (struct fx_op){ .op = FX_SET_FLOW_PRIO, .a = 1 }, 0);
        cr_assert_gt(mtp_engine_tx_next(e, b, sizeof b, &m, 0), 0);
        cr_expect_eq(fx_get32(b), want[i], "pkt %d", i);
    }
    cr_expect_eq(mtp_engine_stats(e)->instr_failed, 0);
    mtp_engine_free(e);
}

Test(sched, rate_updates_keep_the_earned_credit)
{
    static const struct mtp_queue_desc q[] = { { "paced", 0, 0, 1, 1000000 } };
    const struct mtp_sched_desc d = { MTP_SCHED_FIFO, 1, q };
    struct mtp__sched s;
    mtp__sched_init(&s, &d, 1500, 0);
    struct titem it[64];
    for (int i = 0; i < 64; i++)
        mtp__sched_enqueue(&s, &it[i].it, 0, NULL);
    int sent = 0;
    for (uint64_t now = 0; now <= 10000000ull; now += 100000) { /* 10 ms */
        while (mtp__sched_peek(&s, now)) {
            serve(&s, now, 1000);
            sent++;
        }
        mtp__sched_set_rate(&s, 0, 1000000, now); /* the same rate, set again and again */
    }
    cr_expect_leq(sent, 3 + 10 + 1, "one burst, then the rate: no new burst per update");
    cr_expect_geq(sent, 3 + 10 - 1);
    mtp__sched_destroy(&s);
}
