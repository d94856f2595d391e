/* Engine: events in, instructions executed, context and notifications out (fixture program). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "fixture_prog.h"
#include "engine_internal.h"

static struct mtp_engine *eng;
static struct fx_notes notes;

static void setup(void)
{
    struct mtp_engine_config cfg = { .local_ip = 0x0a000001, .seed = 5 };
    int err;
    eng = mtp_engine_new(&fx_program, &cfg, &err);
    cr_assert_not_null(eng, "%s", mtp_strerror(err));
    memset(&notes, 0, sizeof notes);
    mtp_engine_set_notify(eng, fx_note_cb, &notes);
}

static void teardown(void)
{
    mtp_engine_free(eng);
}

static void mkconn(uint32_t id)
{
    cr_assert_geq(fx_post(eng, id, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0), 0);
    cr_assert_not_null(fx_conn(eng, id));
}

TestSuite(engine, .init = setup, .fini = teardown);

Test(engine_new, checks_abi_version_and_tables)
{
    struct mtp_program p = fx_program;
    int err = 0;
    p.abi_version = MTP_ABI_VERSION + 1;
    cr_expect_null(mtp_engine_new(&p, NULL, &err));
    cr_expect_eq(err, MTP_EABI);
    cr_expect(strstr(mtp_strerror(err), "ABI") != NULL);

    static const struct mtp_srule_desc bad_rule[] = { { "r", 9, fx_seq_rule, 0, 0 } };
    p = fx_program;
    p.srules = bad_rule;
    cr_expect_null(mtp_engine_new(&p, NULL, &err));
    cr_expect_eq(err, MTP_EPROTO);

    static const uint16_t bad_timer[] = { 77 };
    struct mtp_ctx_desc ctxs[FX_N_CTXS];
    memcpy(ctxs, fx_ctxs, sizeof ctxs);
    ctxs[0].timer_event = bad_timer;
    p = fx_program;
    p.ctxs = ctxs;
    cr_expect_null(mtp_engine_new(&p, NULL, &err));
    cr_expect_eq(err, MTP_EPROTO);
}

Test(engine, global_context_created_at_start)
{
    struct fx_global *g = mtp_engine_ctx(eng, FX_CTX_G, &(struct mtp_key){ { 0 } });
    cr_assert_not_null(g);
    cr_expect_eq(g->count, 1000, "initialised by init()");
    cr_expect_eq(mtp_engine_post(eng, FX_EV_GLOBAL, NULL, NULL, 0, 0), 1);
    cr_expect_eq(g->count, 1001);
}

Test(engine, new_ctx_from_else_chain_and_duplicate_discards_rest)
{
    cr_expect_eq(fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 42 }, 0), 1);
    struct fx_conn *c = fx_conn(eng, 1);
    cr_assert_not_null(c);
    cr_expect_eq(c->state, 42, "initial bytes from the arena");
    cr_expect_not_null(fx_last_note(&notes, MTP_NOTE_CTX_NEW));
    cr_expect_eq(fx_last_note(&notes, 300)->value, 42);
    int n300 = 0;
    /* the context exists now: the op event runs the main chain, new_ctx fails EEXIST */
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 43 }, 0);
    for (int i = 0; i < notes.n; i++)
        n300 += notes.v[i].code == 300;
    cr_expect_eq(n300, 1, "the instruction after the failed new_ctx was discarded");
    cr_expect_eq(c->state, 42);
    cr_expect_eq(mtp_engine_stats(eng)->instr_discarded, 1);
}

Test(engine, instructions_after_new_ctx_act_on_the_new_instance)
{
    uint8_t msg[100];
    for (int i = 0; i < 100; i++)
        msg[i] = (uint8_t)(i * 7);
    cr_expect_eq(fx_post(eng, 5, (struct fx_op){ .op = FX_NEW_CTX_SEND, .a = 1, .len = 100,
                                                .addr = (uintptr_t)msg, .c = 77 }, 0), 1);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, 0, "unit and data(uid) found the instance");
    uint8_t buf[256];
    struct mtp_tx_meta m;
    int n = mtp_engine_tx_next(eng, buf, sizeof buf, &m, 0);
    cr_assert_eq(n, (int)FX_SEG_HDR + 100);
    cr_expect_eq(fx_get32(buf), 77);
    cr_expect_eq(memcmp(buf + FX_SEG_HDR, msg, 100), 0);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &(struct mtp_key){ 0 }, 0), MTP_ENOENT,
                 "nothing went to another instance");
}

Test(engine, else_chain_creating_the_events_context_acts_on_it)
{
    struct mtp_key k1 = fx_key(1), other = fx_key(2);
    /* same type and id as the event's: the unit instruction after new_ctx finds it */
    cr_expect_eq(fx_post(eng, 1, (struct fx_op){ .op = FX_OPEN, .b = FX_CTX_CONN }, 0), 1);
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &k1, 0), 0, "unit of the new context");
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, 0);
    /* another id: the event still has no context, the unit instruction fails */
    fx_post(eng, 2, (struct fx_op){ .op = FX_OPEN, .b = FX_CTX_CONN, .c = 0x80 }, 0);
    other.b[MTP_KEY_BYTES - 1] ^= 0x80;
    cr_expect_not_null(mtp_engine_ctx(eng, FX_CTX_CONN, &other), "created");
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &other, 0), MTP_ENOENT);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, 1);
}

Test(engine, missing_context_without_else_is_dropped_and_counted)
{
    struct mtp_key k = fx_key(9);
    struct fx_op o = { .op = FX_LOG };
    cr_expect_eq(mtp_engine_post(eng, FX_EV_STRICT, &k, &o, sizeof o, 0), 1);
    cr_expect_eq(mtp_engine_stats(eng)->drop_no_ctx, 1);
    cr_expect_eq(mtp_engine_post(eng, FX_EV_NOCHAIN, NULL, NULL, 0, 0), 1);
    cr_expect_eq(mtp_engine_stats(eng)->drop_no_chain, 1);
    cr_expect_eq(mtp_engine_post(eng, 99, NULL, NULL, 0, 0), MTP_EINVAL);
}

Test(engine, rx_reassembly_through_parser_and_exact_flush)
{
    mkconn(3);
    fx_post(eng, 3, (struct fx_op){ .op = FX_NEW_RX, .a = 0, .b = MTP_SIZE_INF }, 0);
    uint8_t pkt[8 + 100];
    struct mtp_rx_pkt rp = { .l4 = pkt, .l4_len = sizeof pkt };
    /* second half first: nothing ready */
    fx_put32(pkt, 3);
    fx_put32(pkt + 4, 100);
    memset(pkt + 8, 'B', 100);
    cr_expect_eq(mtp_engine_rx(eng, &rp, 1), 1);
    cr_expect_null(fx_last_note(&notes, MTP_NOTE_RX_READY));
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &(struct mtp_key){ { 3 } }, 0), 0);
    fx_put32(pkt + 4, 0);
    memset(pkt + 8, 'A', 100);
    mtp_engine_rx(eng, &rp, 2);
    const struct mtp_note *n = fx_last_note(&notes, MTP_NOTE_RX_READY);
    cr_assert_not_null(n);
    cr_expect_eq(n->value, 200);
    cr_expect_eq(n->uid, 0);
    cr_expect_eq(n->ctx_type, FX_CTX_CONN);
    uint8_t out[300];
    memset(out, 0, sizeof out);
    fx_post(eng, 3, (struct fx_op){ .op = FX_RX_FLUSH, .len = 150, .addr = (uintptr_t)out }, 3);
    cr_expect_eq(fx_last_note(&notes, MTP_NOTE_RX_FLUSHED)->value, 150);
    cr_expect_eq(out[99], 'A');
    cr_expect_eq(out[100], 'B');
    cr_expect_eq(out[150], 0, "exactly len bytes");
    fx_post(eng, 3, (struct fx_op){ .op = FX_RX_FLUSH, .len = 150, .addr = (uintptr_t)out }, 3);
    cr_expect_eq(fx_last_note(&notes, MTP_NOTE_RX_FLUSHED)->value, 50, "never more than ready");
    /* malformed packets are dropped and counted */
    fx_put32(pkt, 0xffffffffu);
    cr_expect_eq(mtp_engine_rx(eng, &rp, 4), MTP_EBADMSG);
    rp.l4_len = 4;
    cr_expect_eq(mtp_engine_rx(eng, &rp, 4), MTP_EBADMSG);
    cr_expect_eq(mtp_engine_stats(eng)->drop_malformed, 2);
}

Test(engine, rx_window_refusal_counted)
{
    struct mtp_engine_config cfg = { .rx_unit_bytes = 128 };
    struct mtp_engine *e2 = mtp_engine_new(&fx_program, &cfg, NULL);
    struct mtp_engine *save = eng;
    eng = e2;
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_RX, .b = MTP_SIZE_INF }, 0);
    uint8_t data[200] = { 0 };
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_RX, .b = 0, .len = 200, .addr = (uintptr_t)data }, 0);
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &(struct mtp_key){ { 1 } }, 0), 128);
    cr_expect_eq(mtp_engine_stats(eng)->drop_rx_window, 1);
    mtp_engine_free(e2);
    eng = save;
}

Test(engine, tx_unit_append_full_and_flush)
{
    struct mtp_engine_config cfg = { .tx_unit_bytes = 1000 };
    struct mtp_engine *e2 = mtp_engine_new(&fx_program, &cfg, NULL);
    mtp_engine_set_notify(e2, fx_note_cb, &notes);
    struct mtp_engine *save = eng;
    eng = e2;
    mkconn(1);
    struct mtp_key k = fx_key(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 0), 1000);
    uint8_t buf[800] = { 1 };
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 800, .addr = (uintptr_t)buf }, 0);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 0), 200);
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 300, .addr = (uintptr_t)buf }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->drop_tx_full, 1);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 0), 200, "nothing appended");
    fx_post(eng, 1, (struct fx_op){ .op = FX_TX_FLUSH, .len = 500 }, 0);
    cr_expect_eq(fx_last_note(&notes, MTP_NOTE_TX_FLUSHED)->value, 500);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 0), 700);
    cr_expect_eq(mtp_engine_tx_space(eng, FX_CTX_CONN, &k, 5), MTP_ENOENT);
    mtp_engine_free(e2);
    eng = save;
}

Test(engine, unit_ids_are_scoped_to_the_context_instance)
{
    mkconn(1);
    mkconn(2);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_RX, .a = 0, .b = MTP_SIZE_INF }, 0);
    fx_post(eng, 2, (struct fx_op){ .op = FX_NEW_RX, .a = 0, .b = MTP_SIZE_INF }, 0);
    uint8_t d[10] = { 0 };
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_RX, .len = 10, .addr = (uintptr_t)d }, 0);
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &(struct mtp_key){ { 1 } }, 0), 10);
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &(struct mtp_key){ { 2 } }, 0), 0);
    /* declaring uid 0 twice in one context fails, and is counted */
    uint64_t failed = mtp_engine_stats(eng)->instr_failed;
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_RX, .a = 0, .b = MTP_SIZE_INF }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, failed + 1);
}

Test(engine, timers_start_restart_stop_fire_bound_event)
{
    mkconn(1);
    struct fx_conn *c = fx_conn(eng, 1);
    cr_expect_eq(mtp_engine_next_deadline(eng), UINT64_MAX);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_START, .b = 1000000 }, 100);
    cr_expect_eq(mtp_engine_next_deadline(eng), 1000100);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_START, .b = 2000000 }, 200);
    cr_expect_eq(mtp_engine_next_deadline(eng), 2000200, "restarted");
    cr_expect_eq(mtp_engine_timers(eng, 1500000), 0);
    cr_expect_eq(mtp_engine_timers(eng, 2000200), 1);
    cr_expect_eq(c->fires, 1);
    cr_expect_eq(mtp_engine_timers(eng, 9000000), 0, "fires once");
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_START, .b = 10 }, 9000000);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_STOP }, 9000000);
    cr_expect_eq(mtp_engine_timers(eng, 19000000), 0, "stopped");
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_START, .a = 3, .b = 10 }, 9000000);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, 1, "no timer 3 in this context");
    cr_expect_eq(mtp_engine_stats(eng)->timers_fired, 1);
}

Test(engine, del_ctx_frees_timers_units_blueprints)
{
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    uint8_t buf[100] = { 0 };
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 100, .addr = (uintptr_t)buf }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = 100 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_START, .b = 10 }, 0);
    cr_expect_eq(mtp_engine_tx_pending(eng), 1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_DEL_THEN_NOTE }, 0);
    cr_expect_null(fx_conn(eng, 1));
    cr_expect_eq(mtp_engine_tx_pending(eng), 0);
    cr_expect_eq(mtp_engine_timers(eng, 1000), 0);
    cr_expect_eq(mtp_engine_next_deadline(eng), UINT64_MAX);
    cr_expect_eq(mtp_engine_stats(eng)->instr_failed, 1, "timer_start after del_ctx");
    cr_expect_eq(mtp_engine_stats(eng)->drop_data_ref, 1, "its unit bytes are gone");
    const struct mtp_note *n = fx_last_note(&notes, MTP_NOTE_CTX_DEL);
    cr_assert_not_null(n);
    cr_expect_eq(n->key.b[0], 1);
    mkconn(1);
    cr_expect_eq(fx_conn(eng, 1)->state, 1, "a fresh instance");
}

/* Events posted from a notification run after the running event, in order. */
static struct mtp_engine *reent_eng;
static void reent_cb(void *user, const struct mtp_note *n)
{
    (void)user;
    if (n->code == 500) {
        for (uint32_t i = 0; i < 3; i++)
            fx_post(reent_eng, 1, (struct fx_op){ .op = FX_LOG, .a = 10 + i }, 0);
        fx_post(reent_eng, 1, (struct fx_op){ .op = FX_NOTIFY, .a = 501 }, 0);
    }
}

Test(engine, events_of_a_flow_run_in_order_even_when_posted_reentrantly)
{
    mkconn(1);
    reent_eng = eng;
    mtp_engine_set_notify(eng, reent_cb, NULL);
    fx_post(eng, 1, (struct fx_op){ .op = FX_LOG, .a = 1 }, 0);
    cr_expect_eq(fx_post(eng, 1, (struct fx_op){ .op = FX_NOTIFY, .a = 500 }, 0), 5);
    fx_post(eng, 1, (struct fx_op){ .op = FX_LOG, .a = 2 }, 0);
    struct fx_conn *c = fx_conn(eng, 1);
    static const uint32_t want[] = { 1, 10, 11, 12, 2 };
    cr_assert_eq(c->nlog, 5);
    for (int i = 0; i < 5; i++)
        cr_expect_eq(c->log[i], want[i], "log %d", i);
}

Test(engine, notify_carries_code_value_and_context)
{
    mkconn(4);
    fx_post(eng, 4, (struct fx_op){ .op = FX_NOTIFY, .a = 777, .b = 12345 }, 0);
    const struct mtp_note *n = fx_last_note(&notes, 777);
    cr_assert_not_null(n);
    cr_expect_eq(n->value, 12345);
    cr_expect_eq(n->key.b[0], 4);
    cr_expect_eq(n->ctx_type, FX_CTX_CONN);
}

Test(engine, assert_and_overflow_are_counted)
{
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_ASSERT }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->assert_failures, 1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_FLOOD }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->instr_overflow, 1000 - MTP__IBUF_CAP);
}

Test(engine, stats_go_to_the_callers_struct)
{
    struct mtp_stats st = { 0 };
    struct mtp_engine_config cfg = { .stats = &st };
    struct mtp_engine *e2 = mtp_engine_new(&fx_program, &cfg, NULL);
    mtp_engine_post(e2, FX_EV_GLOBAL, NULL, NULL, 0, 0);
    cr_expect_eq(st.events, 1);
    cr_expect_eq(mtp_engine_stats(e2), &st);
    mtp_engine_free(e2);
}

Test(engine, hundred_thousand_contexts_and_idle_cost)
{
    enum { N = 100000 };
    for (uint32_t i = 1; i <= N; i++)
        cr_assert_eq(fx_post(eng, i, (struct fx_op){ .op = FX_NEW_CTX, .a = i }, 0), 1);
    for (uint32_t i = 1; i <= N; i += 997) {
        struct fx_conn *c = fx_conn(eng, i);
        cr_assert_not_null(c);
        cr_assert_eq(c->state, i);
        cr_assert_null(((struct mtp__ctx *)((uint8_t *)c - offsetof(struct mtp__ctx, data)))->rt,
                       "an idle context has no runtime state");
    }
    cr_expect_eq(mtp_engine_stats(eng)->pool_exhausted, 0);
    fprintf(stderr, "idle context runtime overhead: %zu bytes (record header, pool slot of %zu "
            "bytes for a %zu-byte context)\n", sizeof(struct mtp__ctx),
            eng->ct.t[FX_CTX_CONN].pool.obj_size, sizeof(struct fx_conn));
    cr_expect_leq(sizeof(struct mtp__ctx), 48);
}

Test(engine, context_capacity_is_bounded)
{
    struct mtp_engine_config cfg = { .max_contexts = 10 };
    struct mtp_engine *e2 = mtp_engine_new(&fx_program, &cfg, NULL);
    for (uint32_t i = 1; i <= 11; i++)
        fx_post(e2, i, (struct fx_op){ .op = FX_NEW_CTX, .a = i }, 0);
    cr_expect_null(mtp_engine_ctx(e2, FX_CTX_CONN, &(struct mtp_key){ { 11 } }));
    cr_expect_eq(mtp_engine_stats(e2)->pool_exhausted, 1);
    mtp_engine_free(e2);
}

Test(engine, self_restarting_zero_timer_does_not_loop)
{
    cr_assert_eq(fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 9 }, 0), 1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_TIMER_START, .b = 0 }, 10);
    cr_expect_eq(mtp_engine_timers(eng, 10), 1);
    cr_expect_eq(mtp_engine_timers(eng, 11), 1);
    cr_expect_eq(fx_conn(eng, 1)->fires, 2);
}

Test(engine, rx_flush_to_addr_zero_consumes_without_copy)
{
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_RX, .b = MTP_SIZE_INF }, 0);
    uint8_t d[30] = { 0 };
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_RX, .len = 30, .addr = (uintptr_t)d }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_RX_FLUSH, .len = 20, .addr = 0 }, 0);
    cr_expect_eq(fx_last_note(&notes, MTP_NOTE_RX_FLUSHED)->value, 20);
    cr_expect_eq(mtp_engine_rx_ready(eng, FX_CTX_CONN, &(struct mtp_key){ { 1 } }, 0), 10);
}

static struct mtp__unit *unit_of(uint32_t id, int is_tx)
{
    struct mtp_key k = fx_key(id);
    struct mtp__ctx *c = mtp__ctxt_find(&eng->ct, FX_CTX_CONN, &k);
    return c ? mtp__unit_find(c, 0, is_tx) : NULL;
}

Test(engine, idle_units_give_their_buffers_back)
{
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_RX, .b = MTP_SIZE_INF }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    struct mtp__unit *rx = unit_of(1, 0), *tx = unit_of(1, 1);
    cr_assert_not_null(rx);
    cr_assert_not_null(tx);
    cr_expect_null(rx->u.rx.buf, "nothing received yet: no buffer");
    uint8_t d[64], out[64];
    for (int round = 0; round < 3; round++) {
        memset(d, 'a' + round, sizeof d);
        /* out of order first: the unit holds bytes, keeps its buffer */
        fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_RX, .b = 64u * round + 32, .len = 32,
                                        .addr = (uintptr_t)d }, 0);
        cr_expect_not_null(rx->u.rx.buf);
        fx_post(eng, 1, (struct fx_op){ .op = FX_RX_FLUSH, .len = 64, .addr = (uintptr_t)out }, 0);
        cr_expect_not_null(rx->u.rx.buf, "out-of-order bytes still held");
        fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_RX, .b = 64u * round, .len = 32,
                                        .addr = (uintptr_t)d }, 0);
        fx_post(eng, 1, (struct fx_op){ .op = FX_RX_FLUSH, .len = 64, .addr = (uintptr_t)out }, 0);
        cr_expect_eq(fx_last_note(&notes, MTP_NOTE_RX_FLUSHED)->value, 64);
        cr_expect_eq(out[0], 'a' + round);
        cr_expect_eq(out[63], 'a' + round);
        cr_expect_null(rx->u.rx.buf, "all delivered: the buffer went back");

        fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 64, .addr = (uintptr_t)d }, 0);
        fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .b = 64u * round, .len = 64 }, 0);
        fx_post(eng, 1, (struct fx_op){ .op = FX_TX_FLUSH, .len = 64 }, 0);
        cr_expect_not_null(tx->u.tx.buf, "a pending blueprint references the bytes");
        uint8_t pkt[256];
        struct mtp_tx_meta m;
        cr_assert_eq(mtp_engine_tx_next(eng, pkt, sizeof pkt, &m, 0), FX_SEG_HDR + 64);
        cr_expect_eq(pkt[FX_SEG_HDR], 'a' + round);
        cr_expect_null(tx->u.tx.buf, "sent and retired: the buffer went back");
    }
    cr_expect_eq(eng->rx_cache.n, 1);
    cr_expect_eq(eng->tx_cache.n, 1);
}

/* A connection that ends with bytes in its buffers (a request per connection: unread, not
 * yet acked) leaves them to the next one; one with out-of-order bytes held frees its own
 * (its bitmap is not clear). */
Test(engine, deleted_units_give_their_buffers_back)
{
    uint8_t d[64];
    memset(d, 'x', sizeof d);
    for (uint32_t id = 1; id <= 3; id++) {
        mkconn(id);
        fx_post(eng, id, (struct fx_op){ .op = FX_NEW_RX, .b = MTP_SIZE_INF }, 0);
        fx_post(eng, id, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
        fx_post(eng, id, (struct fx_op){ .op = FX_ADD_TX, .len = 64, .addr = (uintptr_t)d }, 0);
    }
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_RX, .len = 32, .addr = (uintptr_t)d }, 0);
    fx_post(eng, 2, (struct fx_op){ .op = FX_ADD_RX, .b = 32, .len = 32, .addr = (uintptr_t)d }, 0);
    void *rx1 = unit_of(1, 0)->u.rx.buf, *tx1 = unit_of(1, 1)->u.tx.buf;
    cr_assert_not_null(rx1);
    cr_assert_not_null(tx1);
    cr_expect_eq(eng->rx_cache.n, 0);
    cr_expect_eq(eng->tx_cache.n, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_DEL_CTX }, 0);
    cr_expect_eq(eng->rx_cache.n, 1, "unread in-order bytes: the buffer is reusable");
    cr_expect_eq(eng->tx_cache.n, 1, "unacked bytes no frame refers to: reusable");
    fx_post(eng, 2, (struct fx_op){ .op = FX_DEL_CTX }, 0);
    cr_expect_eq(eng->rx_cache.n, 1, "bytes held beyond a gap: freed");
    cr_expect_eq(eng->tx_cache.n, 2);
    /* the next connection's first bytes land in the cached blocks, bitmap clear */
    mkconn(4);
    fx_post(eng, 4, (struct fx_op){ .op = FX_NEW_RX, .b = MTP_SIZE_INF }, 0);
    fx_post(eng, 4, (struct fx_op){ .op = FX_ADD_RX, .b = 32, .len = 32, .addr = (uintptr_t)d }, 0);
    cr_expect_eq(unit_of(4, 0)->u.rx.buf, rx1);
    cr_expect_eq(unit_of(4, 0)->u.rx.held, 32, "only the new bytes are marked");
    fx_post(eng, 4, (struct fx_op){ .op = FX_ADD_RX, .len = 32, .addr = (uintptr_t)d }, 0);
    uint8_t out[64];
    fx_post(eng, 4, (struct fx_op){ .op = FX_RX_FLUSH, .len = 64, .addr = (uintptr_t)out }, 0);
    cr_expect_eq(fx_last_note(&notes, MTP_NOTE_RX_FLUSHED)->value, 64);
}

/* del_ctx: what the program already issued leaves, unless it needs the freed unit bytes. */
static int next_pkt(struct mtp_engine *e, uint8_t *b, uint32_t cap)
{
    struct mtp_tx_meta m;
    int len = mtp_engine_tx_next(e, b, cap, &m, 0);
    cr_assert_geq(len, 0, "%s", mtp_strerror(len));
    return len;
}

Test(engine, del_ctx_sends_issued_control_packets_in_order)
{
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_NEW_TX, .b = MTP_SIZE_INF }, 0);
    uint8_t app[100], raw[5] = { 1, 2, 3, 4, 5 };
    memset(app, 0xab, sizeof app);
    fx_post(eng, 1, (struct fx_op){ .op = FX_ADD_TX, .len = 100, .addr = (uintptr_t)app }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 3 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_SEG, .len = 100 }, 0);  /* unit bytes */
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_RAW, .len = 5, .addr = (uintptr_t)raw, .c = 7 }, 0);
    fx_post(eng, 1, (struct fx_op){ .op = FX_ACK_THEN_DEL, .c = 2 }, 0);
    cr_expect_null(fx_conn(eng, 1));
    cr_expect_eq(mtp_engine_tx_pending(eng), 3, "the ack, the copied bytes, the last ack");
    cr_expect_eq(mtp_engine_stats(eng)->drop_data_ref, 1, "the unit reference is dropped");
    /* a new instance under the same key: its ack must not coalesce with the old ones */
    mkconn(1);
    fx_post(eng, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 100 }, 0);
    cr_expect_eq(mtp_engine_stats(eng)->blueprints_coalesced, 0);
    uint8_t b[256];
    cr_assert_eq(next_pkt(eng, b, sizeof b), 8);
    cr_expect_eq(fx_get32(b), 3);
    cr_assert_eq(next_pkt(eng, b, sizeof b), FX_SEG_HDR + 5);
    cr_expect_eq(fx_get32(b), 7);
    cr_expect_arr_eq(b + FX_SEG_HDR, raw, 5);
    cr_assert_eq(next_pkt(eng, b, sizeof b), 8);
    cr_expect_eq(fx_get32(b), 2);
    cr_assert_eq(next_pkt(eng, b, sizeof b), 8);
    cr_expect_eq(fx_get32(b), 100);
    cr_expect_eq(next_pkt(eng, b, sizeof b), 0);
}

Test(engine, del_ctx_finishes_a_started_blueprint_with_its_own_bytes)
{
    struct mtp_engine_config cfg = { .local_ip = 1, .mtu = 576 };
    struct mtp_engine *e = mtp_engine_new(&fx_program, &cfg, NULL);
    cr_assert_not_null(e);
    static uint8_t raw[1200];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)i;
    fx_post(e, 1, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_RAW, .len = sizeof raw, .addr = (uintptr_t)raw,
                                  .c = 1000 }, 0);
    uint8_t b[600];
    int len = next_pkt(e, b, sizeof b);
    cr_assert_gt(len, (int)FX_SEG_HDR);
    uint32_t done = (uint32_t)len - FX_SEG_HDR;
    fx_post(e, 1, (struct fx_op){ .op = FX_DEL_CTX }, 0);
    cr_expect_null(fx_conn(e, 1));
    while ((len = next_pkt(e, b, sizeof b)) > 0) {
        cr_expect_eq(fx_get32(b), 1000 + done, "the segmentation rule continues");
        cr_expect_arr_eq(b + FX_SEG_HDR, raw + done, (uint32_t)len - FX_SEG_HDR);
        done += (uint32_t)len - FX_SEG_HDR;
    }
    cr_expect_eq(done, sizeof raw);
    cr_expect_eq(mtp_engine_stats(e)->drop_data_ref, 0);
    mtp_engine_free(e);
}

/* A per-flow queue lives in the context's runtime state: the orphans must leave it. */
Test(engine, del_ctx_moves_orphans_out_of_the_flow_queue)
{
    static const struct mtp_queue_desc q[] = { { "flows", 1, 0, 1, 0 } };
    static const struct mtp_sched_desc sd = { MTP_SCHED_FIFO, 1, q };
    struct mtp_program p = fx_program;
    p.sched = &sd;
    struct mtp_engine_config cfg = { .local_ip = 1 };
    struct mtp_engine *e = mtp_engine_new(&p, &cfg, NULL);
    cr_assert_not_null(e);
    for (uint32_t id = 1; id <= 2; id++)
        fx_post(e, id, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_GEN_ACK, .c = 11 }, 0);
    fx_post(e, 2, (struct fx_op){ .op = FX_GEN_ACK, .c = 21 }, 0);
    fx_post(e, 1, (struct fx_op){ .op = FX_ACK_THEN_DEL, .c = 10 }, 0);
    struct mtp_key k1 = fx_key(1);
    cr_expect_null(mtp_engine_ctx(e, FX_CTX_CONN, &k1));
    /* the freed runtime state is reused by other allocations before anything is sent */
    for (uint32_t id = 3; id <= 6; id++) {
        fx_post(e, id, (struct fx_op){ .op = FX_NEW_CTX, .a = 1 }, 0);
        fx_post(e, id, (struct fx_op){ .op = FX_TIMER_START, .b = 1000 }, 0);
    }
    uint8_t b[64];
    uint32_t got[3];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(next_pkt(e, b, sizeof b), 8);
        got[i] = fx_get32(b);
    }
    cr_expect_eq(next_pkt(e, b, sizeof b), 0);
    int pos11 = -1, pos10 = -1, pos21 = -1;
    for (int i = 0; i < 3; i++) {
        pos11 = got[i] == 11 ? i : pos11;
        pos10 = got[i] == 10 ? i : pos10;
        pos21 = got[i] == 21 ? i : pos21;
    }
    cr_expect(pos11 >= 0 && pos10 >= 0 && pos21 >= 0, "all three sent");
    cr_expect_lt(pos11, pos10, "the deleted flow's packets in order");
    mtp_engine_free(e);
}

/* A packet whose event finds no instance and has no else chain had no receiver. */
Test(engine, rx_tells_a_packet_nobody_receives)
{
    uint8_t pkt[8 + 4] = { 0 };
    struct mtp_rx_pkt rp = { .l4 = pkt, .l4_len = sizeof pkt };
    fx_put32(pkt, 4);
    cr_expect_eq(mtp_engine_rx(eng, &rp, 1), MTP_ENOENT);
    cr_expect_eq(mtp_engine_stats(eng)->drop_no_ctx, 1);
    mkconn(4);
    fx_post(eng, 4, (struct fx_op){ .op = FX_NEW_RX, .b = MTP_SIZE_INF }, 0);
    cr_expect_eq(mtp_engine_rx(eng, &rp, 2), 1, "received now");
    fx_put32(pkt, 0xffffffffu);
    cr_expect_eq(mtp_engine_rx(eng, &rp, 3), MTP_EBADMSG);
    /* an event with an else chain always has a receiver */
    struct fx_op o = { .op = FX_LOG };
    struct mtp_key k = fx_key(5);
    cr_expect_eq(mtp_engine_post(eng, FX_EV_OP, &k, &o, sizeof o, 4), 1);
}
