/*
 * test_corners.c — the generated C of gen/tests/ok/corners.mtp: signed, bool, 32-bit bit
 * fields and wire structs in a header, TLV options with a list, option-area errors, events
 * with defaulted struct fields, produce without a context id, a function returning a
 * blueprint, recomputed header fields.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "corners.h"

static uint8_t pkt[64];

static struct mtp_rx_pkt make(uint8_t urgent, uint8_t bc, const uint8_t opts[4])
{
    const uint8_t h[11] = {urgent, 0xff, 0xfb, 1, 2, 3, 4, 0, 5, bc, 0};
    memcpy(pkt, h, 11);
    memcpy(pkt + 11, opts, 4);
    memcpy(pkt + 15, "xy", 2);
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = pkt;
    p.l4_len = 17;
    return p;
}

Test(corners, parses_signed_bits_structs_and_options)
{
    const uint8_t opts[4] = {30, 4, 0, 80};
    struct mtp_rx_pkt p = make(1, 0x23, opts);
    struct mtp_event ev[2];
    struct mtp_evsink sink = {.v = ev, .cap = 2};
    cr_assert_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 1);
    cr_expect_eq(ev[0].has_key, 0);
    cr_expect_eq(ev[0].type, MTPG_CORNERS_EV_PROBE);
    const struct mtpg_corners_probe *e = (const void *)ev[0].data;
    cr_expect_eq(e->n, 0x01020304u ^ 0xa5u);
    cr_expect(e->flag);
    cr_expect_eq(e->p.x, -5);
    cr_expect_eq(e->p.y, 2, "struct default inside an event");
}

Test(corners, drops_and_malformed_options)
{
    struct mtp_event ev[2];
    struct mtp_evsink sink = {.v = ev, .cap = 2};
    const uint8_t ok[4] = {1, 1, 0, 0}; /* NOP NOP EOL */
    struct mtp_rx_pkt p = make(0, 0x43, ok);
    cr_expect_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_MALFORMED, "b > 3, not urgent");
    p = make(0, 0x23, ok);
    cr_expect_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_OK);
    const struct mtpg_corners_probe *e = (const void *)ev[sink.n - 1].data;
    cr_expect(!e->flag, "one-byte options are not stored");
    const uint8_t short_len[4] = {30, 1, 0, 0};
    p = make(1, 0x23, short_len);
    cr_expect_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_MALFORMED, "length < 2");
    const uint8_t past[4] = {30, 6, 0, 80};
    p = make(1, 0x23, past);
    cr_expect_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_MALFORMED, "past the area");
    const uint8_t unknown[4] = {99, 2, 30, 2};
    p = make(1, 0x23, unknown);
    cr_expect_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_OK, "unknown kinds skipped");
    p = make(1, 0x23, ok);
    p.l4_len = 14; /* option area cut */
    cr_expect_eq(mtpg_corners_parse_parse(&p, &sink), MTP_PARSE_MALFORMED);
}

Test(corners, function_built_blueprint_serialises)
{
    struct mtp_instr in[4];
    uint8_t arena[1024];
    struct mtp_ibuf b = {.v = in, .cap = 4, .arena = arena, .arena_cap = sizeof arena};
    struct mtpg_corners_counters c;
    mtpg_corners_ctx_counters_init(&c);
    cr_expect_eq(c.drift, -1000);
    cr_expect_eq(c.last.x, -1);
    void *globals[1] = {&c};
    struct mtp_exec x;
    memset(&x, 0, sizeof x);
    x.out = &b;
    x.globals = globals;
    struct mtpg_corners_poke ev = {.n = 0x0a0b0c0d};
    cr_assert_eq(mtpg_corners_program.dispatch(&x, MTPG_CORNERS_EV_POKE, &ev, NULL, NULL, 0), 1);
    cr_assert_eq(b.n, 2);
    cr_expect_eq(in[0].op, MTP_OP_PKT_GEN);
    cr_expect_eq(in[0].u.gen.tos, 0x10);
    cr_expect_eq(in[0].u.gen.src_ip, 0x7f000002);
    cr_expect_eq(in[1].op, MTP_OP_NEW_RX_DATA);
    cr_expect_eq(in[1].u.unit.uid, 1);
    cr_expect_eq(c.last.x, -3);
    cr_expect_eq(c.shifted, 0xff000000u);
    cr_expect_eq(c.wide, 0);
    cr_expect_eq(c.neg, -1);
    cr_expect_eq(c.prod, 4294836225u);
    cr_expect_eq(c.h16, 0);
    cr_expect_eq(c.wrapped, -2); /* (INT32_MAX + 1 - 1) * 2 wraps to -2 */
    /* constant expressions mtpc folds (C's own types gave 0, 0, 1410065408, 0x7fffffff, an
     * int overflow, 301 for the last two) */
    const uint64_t folded[] = {1ull << 40, 1ull << 32, 10000000000ull, UINT64_MAX, 1ull << 31,
                               45, ~0x3full, 1ull << 40};
    cr_assert_eq(c.folded.len, 8);
    for (int i = 0; i < 8; i++)
        cr_expect_eq(c.folded.v[i], folded[i], "folded[%d] = %#llx", i,
                     (unsigned long long)c.folded.v[i]);
    cr_expect_eq(MTPG_CORNERS_BIG_SHIFT, 1ull << 40);
    cr_expect_eq(MTPG_CORNERS_NARROW, 44);
    struct mtpg_corners_hdr h;
    memcpy(&h, arena + in[0].arena_off, sizeof h);
    cr_expect_eq(h.data.off, MTPG_CORNERS_BIG);
    cr_expect_eq(h.data.len, 0x0a0b0c0d / 2);
    const struct mtp_bp_desc *d = &mtpg_corners_program.bps[MTPG_CORNERS_BP_HDR];
    cr_assert_eq(d->hdr_len(&h), 11 + 6 + 1);
    uint8_t out[32];
    d->write_hdr(&h, out, 10);
    const uint8_t want[18] = {0, 0xff, 0xfb, 0x0a, 0x0b, 0x0c, 0x0d, 0, 1, 0x23, 28,
                              30, 6, 0, 80, 0x01, 0xbb, 1};
    cr_expect_eq(memcmp(out, want, sizeof want), 0, "serialised bytes differ");
}
