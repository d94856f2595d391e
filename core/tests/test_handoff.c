/* Hand-off (core/src/handoff.c): one context instance exported from an engine and imported
 * into another goes on there exactly as it would have in the first — program data, unread
 * and out-of-order received bytes, unacknowledged sent bytes, timers, scheduler rank — and
 * a bad image creates nothing. Pure: engines and the fixture program, no network. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include "fixture_prog.h"
#include "engine_internal.h"

#define T0 1000000ull

static struct mtp_engine *a, *b;
static struct fx_notes notes_a, notes_b;
static uint8_t pattern[8192];

static struct mtp_engine *engine(const struct mtp_program *p, uint32_t rx_unit_bytes,
                                 struct fx_notes *notes)
{
    struct mtp_engine_config cfg = {.local_ip = 0x0a000001, .seed = 5,
                                    .rx_unit_bytes = rx_unit_bytes};
    int err;
    struct mtp_engine *e = mtp_engine_new(p, &cfg, &err);
    cr_assert_not_null(e, "%s", mtp_strerror(err));
    if (notes) {
        memset(notes, 0, sizeof *notes);
        mtp_engine_set_notify(e, fx_note_cb, notes);
    }
    return e;
}

static void op(struct mtp_engine *e, struct fx_op o)
{
    cr_assert_geq(fx_post(e, 1, o, T0), 0, "op %u", o.op);
}

static uint64_t addr(const void *p) { return (uint64_t)(uintptr_t)p; }

/* Connection 1 on `a`: rx unit 0 with bytes [0, 1000) received, 300 of them read, and
 * [2000, 2500) held out of order; tx unit 1 with 3000 bytes written, 1000 acknowledged; its
 * timer armed for T0 + 5000; rank 7; a log entry in its program data. */
static void busy_connection(void)
{
    for (size_t i = 0; i < sizeof pattern; i++)
        pattern[i] = (uint8_t)(i * 7 + i / 251);
    op(a, (struct fx_op){.op = FX_NEW_CTX, .a = 3});
    op(a, (struct fx_op){.op = FX_NEW_RX, .a = 0, .b = MTP_SIZE_INF});
    op(a, (struct fx_op){.op = FX_ADD_RX, .a = 0, .b = 0, .len = 1000, .addr = addr(pattern)});
    op(a, (struct fx_op){.op = FX_ADD_RX, .a = 0, .b = 2000, .len = 500, .addr = addr(pattern + 2000)});
    uint8_t sink[300];
    op(a, (struct fx_op){.op = FX_RX_FLUSH, .a = 0, .len = 300, .addr = addr(sink)});
    op(a, (struct fx_op){.op = FX_NEW_TX, .a = 1, .b = MTP_SIZE_INF});
    op(a, (struct fx_op){.op = FX_ADD_TX, .a = 1, .len = 3000, .addr = addr(pattern + 4000)});
    op(a, (struct fx_op){.op = FX_TX_FLUSH, .a = 1, .len = 1000});
    op(a, (struct fx_op){.op = FX_TIMER_START, .a = 0, .b = 5000});
    op(a, (struct fx_op){.op = FX_SET_FLOW_PRIO, .a = 7});
    op(a, (struct fx_op){.op = FX_LOG, .a = 99});
}

static void setup(void)
{
    a = engine(&fx_program, 0, &notes_a);
    b = engine(&fx_program, 0, &notes_b);
    busy_connection();
}

static void teardown(void)
{
    mtp_engine_free(a);
    mtp_engine_free(b);
}

TestSuite(handoff, .init = setup, .fini = teardown);

static void move(void **img, size_t *len)
{
    struct mtp_key k = fx_key(1);
    cr_assert_eq(mtp_engine_ctx_export(a, FX_CTX_CONN, &k, img, len), 0);
    cr_assert_eq(mtp_engine_ctx_import(b, *img, *len), 0);
}

Test(handoff, the_instance_goes_on_in_the_other_engine)
{
    void *img;
    size_t len;
    move(&img, &len);
    free(img);
    struct mtp_key k = fx_key(1);
    struct fx_conn *ca = fx_conn(a, 1), *cb = fx_conn(b, 1);
    cr_assert_not_null(cb);
    cr_expect_eq(memcmp(ca, cb, sizeof *ca), 0, "the program's data");
    cr_expect_eq(cb->state, 3);
    cr_expect_eq(cb->log[0], 99);
    cr_expect_eq(mtp_engine_rx_ready(b, FX_CTX_CONN, &k, 0), 700, "received, not read");
    cr_expect_eq(mtp_engine_tx_space(b, FX_CTX_CONN, &k, 1),
                 mtp_engine_tx_space(a, FX_CTX_CONN, &k, 1), "unacknowledged bytes");
    cr_expect_eq(mtp_engine_next_deadline(b), T0 + 5000, "the timer");
    cr_expect_eq(notes_b.n, 0, "an import notifies nobody");
    cr_expect_eq(mtp_engine_stats(b)->handoff_imports, 1);
    cr_expect_eq(mtp_engine_stats(a)->handoff_exports, 1);

    /* the missing bytes arrive: the out-of-order ones came along and join them */
    op(b, (struct fx_op){.op = FX_ADD_RX, .a = 0, .b = 1000, .len = 1000, .addr = addr(pattern + 1000)});
    cr_expect_eq(mtp_engine_rx_ready(b, FX_CTX_CONN, &k, 0), 2200);
    uint8_t got[2200];
    op(b, (struct fx_op){.op = FX_RX_FLUSH, .a = 0, .len = 2200, .addr = addr(got)});
    cr_expect_eq(memcmp(got, pattern + 300, 2200), 0, "every byte once, in order");

    /* the unacknowledged bytes are sent again from the new engine, the same bytes */
    op(a, (struct fx_op){.op = FX_GEN_SEG, .a = 1, .b = 1000, .len = 2000, .srule = 1});
    op(b, (struct fx_op){.op = FX_GEN_SEG, .a = 1, .b = 1000, .len = 2000, .srule = 1});
    uint8_t pa[1500], pb[1500], payload[2000];
    size_t got_b = 0;
    struct mtp_tx_meta ma, mb;
    for (int na, nb; (na = mtp_engine_tx_next(a, pa, sizeof pa, &ma, T0)) > 0;) {
        nb = mtp_engine_tx_next(b, pb, sizeof pb, &mb, T0);
        cr_assert_eq(na, nb);
        cr_assert_eq(memcmp(pa, pb, (size_t)na), 0, "the same packet");
        cr_assert_leq(got_b + (size_t)nb - FX_SEG_HDR, sizeof payload);
        memcpy(payload + got_b, pb + FX_SEG_HDR, (size_t)nb - FX_SEG_HDR);
        got_b += (size_t)nb - FX_SEG_HDR;
    }
    cr_expect_eq(mtp_engine_tx_next(b, pb, sizeof pb, &mb, T0), 0);
    cr_expect_eq(got_b, 2000);
    cr_expect_eq(memcmp(payload, pattern + 5000, 2000), 0, "unacknowledged bytes, resent");

    /* the timer fires in the new engine */
    cr_expect_eq(mtp_engine_timers(b, T0 + 5000), 1);
    cr_expect_eq(fx_conn(b, 1)->fires, 1);
    cr_expect_eq(fx_conn(a, 1)->fires, 0);
}

Test(handoff, drop_is_silent_and_discards_pending_packets)
{
    void *img;
    size_t len;
    move(&img, &len);
    free(img);
    op(a, (struct fx_op){.op = FX_GEN_SEG, .a = 1, .b = 1000, .len = 100, .srule = 1});
    cr_assert_eq(mtp_engine_tx_pending(a), 1);
    int before = notes_a.n;
    struct mtp_key k = fx_key(1);
    cr_assert_eq(mtp_engine_ctx_drop(a, FX_CTX_CONN, &k), 0);
    cr_expect_null(fx_conn(a, 1));
    cr_expect_eq(notes_a.n, before, "no notification");
    cr_expect_eq(mtp_engine_tx_pending(a), 0, "no packet leaves");
    cr_expect_eq(mtp_engine_stats(a)->handoff_bps_dropped, 1);
    cr_expect_eq(mtp_engine_next_deadline(a), UINT64_MAX, "its timer is gone");
    cr_expect_eq(mtp_engine_ctx_drop(a, FX_CTX_CONN, &k), MTP_ENOENT);
    cr_expect_not_null(fx_conn(b, 1), "the other engine's instance lives on");
}

Test(handoff, an_idle_instance_without_runtime_state)
{
    struct mtp_key k = fx_key(2);
    struct fx_op o = {.op = FX_NEW_CTX, .a = 8};
    cr_assert_geq(mtp_engine_post(a, FX_EV_OP, &k, &o, sizeof o, T0), 0);
    void *img;
    size_t len;
    cr_assert_eq(mtp_engine_ctx_export(a, FX_CTX_CONN, &k, &img, &len), 0);
    cr_assert_eq(mtp_engine_ctx_import(b, img, len), 0);
    free(img);
    cr_expect_eq(fx_conn(b, 2)->state, 8);
    cr_expect_eq(mtp_engine_rx_ready(b, FX_CTX_CONN, &k, 0), MTP_ENOENT, "no unit, none made");
    cr_expect_eq(mtp_engine_next_deadline(b), UINT64_MAX);
}

Test(handoff, refuses_what_it_cannot_take)
{
    void *img;
    size_t len;
    struct mtp_key k = fx_key(1), none = fx_key(77), g = {{0}};
    cr_expect_eq(mtp_engine_ctx_export(a, FX_CTX_CONN, &none, &img, &len), MTP_ENOENT);
    cr_expect_eq(mtp_engine_ctx_export(a, FX_CTX_G, &g, &img, &len), MTP_ENOENT, "global");
    cr_assert_eq(mtp_engine_ctx_export(a, FX_CTX_CONN, &k, &img, &len), 0);

    /* truncated anywhere: nothing created */
    size_t cuts[] = {0, 1, 47, 48, 60, 200, 300, len / 2, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        cr_expect_eq(mtp_engine_ctx_import(b, img, cuts[i]), MTP_EBADMSG, "cut at %zu", cuts[i]);
        cr_expect_null(fx_conn(b, 1));
    }
    /* trailing bytes, a bad magic */
    uint8_t *big = malloc(len + 1);
    memcpy(big, img, len);
    big[len] = 0;
    cr_expect_eq(mtp_engine_ctx_import(b, big, len + 1), MTP_EBADMSG);
    big[0] ^= 1;
    cr_expect_eq(mtp_engine_ctx_import(b, big, len), MTP_EBADMSG);
    free(big);
    cr_expect_null(fx_conn(b, 1));

    /* another program, another unit size */
    struct mtp_program other = fx_program;
    other.name = "another";
    struct mtp_engine *c = engine(&other, 0, NULL), *d = engine(&fx_program, 4096, NULL);
    cr_expect_eq(mtp_engine_ctx_import(c, img, len), MTP_EINVAL);
    cr_expect_eq(mtp_engine_ctx_import(d, img, len), MTP_EINVAL);
    cr_expect_null(mtp_engine_ctx(d, FX_CTX_CONN, &k));
    mtp_engine_free(c);
    mtp_engine_free(d);

    /* twice */
    cr_expect_eq(mtp_engine_ctx_import(b, img, len), 0);
    cr_expect_eq(mtp_engine_ctx_import(b, img, len), MTP_EEXIST);
    free(img);
}

Test(handoff, a_unit_that_breaks_its_invariants)
{
    void *img;
    size_t len;
    struct mtp_key k = fx_key(1);
    cr_assert_eq(mtp_engine_ctx_export(a, FX_CTX_CONN, &k, &img, &len), 0);
    /* the first unit's descriptor follows header, data, timer and rank: its a > b */
    size_t hdr = 4 + 2 + 2 + 8 + sizeof(struct mtp_key) + 4 + 2 + 2 + 4 + 4;
    size_t unit = hdr + sizeof(struct fx_conn) + 16 + 8;
    uint8_t *p = img;
    uint64_t huge = UINT64_MAX / 2;
    memcpy(p + unit + 16, &huge, 8); /* a: flushed / head */
    cr_expect_eq(mtp_engine_ctx_import(b, img, len), MTP_EBADMSG);
    cr_expect_null(fx_conn(b, 1));
    free(img);
}
