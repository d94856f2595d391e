/*
 * test_qunion.c — the generated C of gen/tests/ok/qunion.mtp: a frame list whose elements
 * are a frame_union (PADDING, PING, ACK with a counted list of ranges, STREAM), with QUIC
 * variable-length integers. Parsing every frame type into events, malformed packets (cut at
 * any byte, unknown type, a count past the list's capacity, a length past the end, too many
 * frames, a varint cut short), varint encodings at every length boundary, and a processor's
 * mixed packet serialised and parsed back, with the descriptor's nested data offsets.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "qunion.h"

/* header (flags, conn 7, pn 5); ACK largest 300 (2-byte varint) delay 0, 2 ranges, first 3,
 * ranges (1, 2) and (70, 16384: 4-byte varint); PING; STREAM stream 4 off 64 (2-byte) "hey" */
static const uint8_t mixed[] = {
    0x40, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 5,
    0x02, 0x41, 0x2c, 0x00, 0x02, 0x03, 0x01, 0x02, 0x40, 0x46, 0x80, 0x00, 0x40, 0x00,
    0x01,
    0x0e, 0x04, 0x40, 0x40, 0x03, 'h', 'e', 'y',
};
#define ACK_END 27
#define PING_END 28

static struct mtp_event evs[10];
static struct mtp_evsink sink;

static int parse(const uint8_t *bytes, uint32_t len)
{
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = bytes;
    p.l4_len = len;
    sink = (struct mtp_evsink){.v = evs, .cap = 10};
    return mtpg_qunion_parse_parse_q(&p, &sink);
}

static const void *ev_data(uint32_t i) { return evs[i].data; }

Test(qunion, frames_of_every_type_in_one_packet)
{
    cr_assert_eq(parse(mixed, sizeof mixed), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 3);
    cr_assert_eq(evs[0].type, MTPG_QUNION_EV_ACK_IN);
    const struct mtpg_qunion_ack_in *a = ev_data(0);
    cr_expect_eq(a->conn, 7);
    cr_expect_eq(a->largest, 300);
    cr_expect_eq(a->first, 3);
    cr_expect_eq(a->nranges, 2);
    cr_expect_eq(a->gap0, 1);
    cr_expect_eq(a->len0, 2);
    cr_expect_eq(evs[1].type, MTPG_QUNION_EV_PING_IN);
    cr_assert_eq(evs[2].type, MTPG_QUNION_EV_STREAM_IN);
    const struct mtpg_qunion_stream_in *s = ev_data(2);
    cr_expect_eq(s->stream, 4);
    cr_expect_eq(s->off, 64);
    cr_expect_eq(s->data.len, 3);
    cr_expect_eq(s->data.addr, (mtp_addr_t)(uintptr_t)(mixed + sizeof mixed - 3));
}

Test(qunion, padding_takes_the_rest_of_the_packet)
{
    uint8_t b[PING_END + 20];
    memcpy(b, mixed, PING_END);
    memset(b + PING_END, 0, 20); /* PADDING: type 0 and zeros to the end */
    cr_assert_eq(parse(b, sizeof b), MTP_PARSE_OK);
    cr_expect_eq(sink.n, 2, "ACK and PING; the padding produces nothing");
}

Test(qunion, a_packet_cut_at_any_byte_is_malformed_or_fewer_whole_frames)
{
    for (uint32_t n = 0; n < sizeof mixed; n++) {
        uint8_t *cut = malloc(n ? n : 1); /* a read past n is an ASan error */
        memcpy(cut, mixed, n);
        int r = parse(cut, n);
        if (n == 13 || n == ACK_END || n == PING_END) {
            cr_expect_eq(r, MTP_PARSE_OK, "cut at %u", n);
            cr_expect_eq(sink.n, n == 13 ? 0u : n == ACK_END ? 1u : 2u, "cut at %u", n);
        } else {
            cr_expect_eq(r, MTP_PARSE_MALFORMED, "cut at %u", n);
        }
        free(cut);
    }
}

Test(qunion, unknown_type_count_past_capacity_and_too_many_frames_are_malformed)
{
    uint8_t b[64];
    memcpy(b, mixed, sizeof mixed);
    b[PING_END - 1] = 0x07; /* PING -> a type not in the union */
    cr_expect_eq(parse(b, sizeof mixed), MTP_PARSE_MALFORMED);
    memcpy(b, mixed, sizeof mixed);
    b[17] = 5; /* ACK range count 5: the list holds 4 */
    cr_expect_eq(parse(b, sizeof mixed), MTP_PARSE_MALFORMED);
    memcpy(b, mixed, sizeof mixed);
    b[sizeof mixed - 4] = 4; /* STREAM length 4, 3 bytes present */
    cr_expect_eq(parse(b, sizeof mixed), MTP_PARSE_MALFORMED);
    memcpy(b, mixed, 13);
    memset(b + 13, 0x01, 9); /* nine PINGs: the list holds 8 */
    cr_expect_eq(parse(b, 13 + 8), MTP_PARSE_OK);
    cr_expect_eq(sink.n, 8);
    cr_expect_eq(parse(b, 13 + 9), MTP_PARSE_MALFORMED);
}

/* ACK frame `largest` of value v, parsed back after write_hdr */
static uint64_t ack_round_trip(uint64_t v, uint32_t *wire_len)
{
    struct mtpg_qunion_qpkt q;
    memset(&q, 0, sizeof q);
    q.flags = 0x40;
    q.frames.len = 1;
    q.frames.v[0].kind = MTPG_QUNION_T_ACK;
    q.frames.v[0].u.ack_frame.type = MTPG_QUNION_T_ACK;
    q.frames.v[0].u.ack_frame.largest = v;
    const struct mtp_bp_desc *d = &mtpg_qunion_program.bps[MTPG_QUNION_BP_QPKT];
    uint32_t n = d->hdr_len(&q);
    uint8_t out[64];
    d->write_hdr(&q, out, 0);
    *wire_len = n - 13 - 4; /* header, then type, delay, count, first: one byte each */
    cr_assert_eq(parse(out, n), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 1);
    return ((const struct mtpg_qunion_ack_in *)ev_data(0))->largest;
}

Test(qunion, varints_take_the_shortest_form_and_saturate)
{
    const struct { uint64_t v; uint32_t len; uint64_t back; } cases[] = {
        {0, 1, 0}, {63, 1, 63}, {64, 2, 64}, {16383, 2, 16383}, {16384, 4, 16384},
        {(1ull << 30) - 1, 4, (1ull << 30) - 1}, {1ull << 30, 8, 1ull << 30},
        {(1ull << 62) - 1, 8, (1ull << 62) - 1}, {UINT64_MAX, 8, (1ull << 62) - 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t len = 0;
        uint64_t back = ack_round_trip(cases[i].v, &len);
        cr_expect_eq(len, cases[i].len, "value %llu", (unsigned long long)cases[i].v);
        cr_expect_eq(back, cases[i].back, "value %llu", (unsigned long long)cases[i].v);
    }
}

Test(qunion, a_processor_sends_mixed_frames_that_parse_back)
{
    struct mtp_instr instrs[8];
    static uint8_t arena[8192];
    struct mtp_ibuf ibuf = {.v = instrs, .cap = 8, .arena = arena, .arena_cap = sizeof arena};
    struct mtp_exec x;
    memset(&x, 0, sizeof x);
    x.out = &ibuf;
    struct mtpg_qunion_qconn c;
    mtpg_qunion_ctx_qconn_init(&c);
    c.conn = 9;
    c.sent = 1000;
    c.pn = 77;
    static const char app[] = "abcdefghij";
    struct mtpg_qunion_q_send ev = {.stream = 2, .len = 10, .buf = (mtp_addr_t)(uintptr_t)app};
    cr_assert_eq(mtpg_qunion_proc_send_mixed(&x, &ev, &c), 0);
    cr_assert_eq(ibuf.n, 2);
    cr_assert_eq(instrs[1].op, MTP_OP_PKT_GEN);
    struct mtpg_qunion_qpkt q;
    memcpy(&q, arena + instrs[1].arena_off, sizeof q);
    cr_assert_eq(q.frames.len, 4);
    cr_expect_eq(q.frames.v[0].kind, MTPG_QUNION_T_ACK);
    cr_expect_eq(q.frames.v[0].u.ack_frame.ranges.len, 2);
    cr_expect_eq(q.frames.v[1].kind, MTPG_QUNION_T_PING);
    cr_expect_eq(q.frames.v[2].kind, MTPG_QUNION_T_STREAM);
    cr_expect_eq(q.frames.v[3].u.stream_frame.data.off, 1005);
    /* the engine resolves only the STREAM frames' data: their offsets, in list order */
    const struct mtp_bp_desc *d = &mtpg_qunion_program.bps[MTPG_QUNION_BP_QPKT];
    cr_expect_eq(d->n_nested_data, 8);
    uint32_t off[8];
    cr_assert_eq(d->nested_data(&q, off), 2);
    for (uint32_t i = 0; i < 2; i++)
        cr_expect_eq(off[i], offsetof(struct mtpg_qunion_qpkt, frames.v) +
                                 (i + 2) * sizeof(struct mtpg_qunion_qframe) +
                                 offsetof(struct mtpg_qunion_qframe, u.stream_frame.data));
    /* as the engine would: point the data at the application bytes, then serialise */
    for (uint32_t i = 2; i < 4; i++) {
        struct mtp_data *dd = &q.frames.v[i].u.stream_frame.data;
        dd->addr = (mtp_addr_t)(uintptr_t)(app + (dd->off - 1000));
    }
    uint32_t n = d->hdr_len(&q);
    /* 13 + ACK (1 + 4 largest 100000 + 1 + 1 count + 1 + 1+1 + 2+4) + PING 1 +
     * 2 STREAMs (1 + 1 + 2 offset + 1 length + 5 bytes) */
    cr_assert_eq(n, 13 + 16 + 1 + 2 * 10);
    uint8_t *out = malloc(n);
    d->write_hdr(&q, out, 0);
    cr_expect_eq(out[12], 77);
    cr_assert_eq(parse(out, n), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 4);
    const struct mtpg_qunion_ack_in *a = ev_data(0);
    cr_expect_eq(a->largest, 100000);
    cr_expect_eq(a->first, 3);
    cr_expect_eq(a->nranges, 2);
    cr_expect_eq(a->gap0, 1);
    cr_expect_eq(a->len0, 2);
    cr_expect_eq(evs[1].type, MTPG_QUNION_EV_PING_IN);
    for (uint32_t i = 0; i < 2; i++) {
        const struct mtpg_qunion_stream_in *s = ev_data(2 + i);
        cr_expect_eq(s->stream, 2);
        cr_expect_eq(s->off, 1000 + 5 * i);
        cr_expect_eq(s->data.len, 5);
        cr_expect_eq(memcmp((const void *)(uintptr_t)s->data.addr, app + 5 * i, 5), 0);
    }
    free(out);
}

/* frames_from (program.h): the engine cuts a frame list larger than a packet into packets of
 * whole frames; each call keeps the frames that fit from `first` on. */
Test(qunion, frames_from_keeps_the_whole_frames_that_fit)
{
    static const char bytes[500];
    struct mtpg_qunion_qpkt q;
    memset(&q, 0, sizeof q);
    q.flags = 0x40;
    for (uint32_t i = 0; i < 4; i++) {
        struct mtpg_qunion_qframe *f = &q.frames.v[q.frames.len++];
        f->kind = MTPG_QUNION_T_STREAM;
        f->u.stream_frame.type = MTPG_QUNION_T_STREAM;
        f->u.stream_frame.stream = i;
        f->u.stream_frame.off = 0;
        f->u.stream_frame.data.len = 500;
        f->u.stream_frame.data.addr = (mtp_addr_t)(uintptr_t)bytes;
    }
    const struct mtp_bp_desc *d = &mtpg_qunion_program.bps[MTPG_QUNION_BP_QPKT];
    cr_assert_not_null(d->frames_from);
    /* 13 header bytes, each frame 1 + 1 + 1 + 2 + 500 = 505 bytes */
    cr_assert_eq(d->hdr_len(&q), 13 + 4 * 505);
    struct mtpg_qunion_qpkt c;
    const uint32_t firsts[] = {0, 2, 3, 4};
    const uint32_t want[] = {2, 2, 1, 0};
    for (uint32_t t = 0; t < 4; t++) {
        c = q;
        cr_expect_eq(d->frames_from(&c, firsts[t], 1100), want[t], "from %u", firsts[t]);
        cr_expect_eq(c.frames.len, want[t]);
        if (want[t]) {
            cr_expect_eq(c.frames.v[0].u.stream_frame.stream, firsts[t], "moved to the front");
            cr_expect_leq(d->hdr_len(&c), 1100);
        }
    }
    c = q;
    cr_expect_eq(d->frames_from(&c, 0, 500), 0, "a frame larger than the room");
    /* the data_t of the frames kept are the ones the engine resolved */
    c = q;
    d->frames_from(&c, 1, 1100);
    uint32_t off[8];
    cr_expect_eq(d->nested_data(&c, off), 2);
}
