/*
 * test_qframes.c — the generated C of gen/tests/ok/qframes.mtp: one extract reads a packet
 * whose payload is a list of frames (type selector, stream, length, data), every length
 * checked against the packet; the parser iterates them into one event per frame. Malformed:
 * any truncation, an unknown type, a length past the end, more frames than the capacity.
 * The round trip parses the generated write_hdr output back.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "qframes.h"

/* packet header (flags, conn 9), then frames: stream 3 "hi", stream 4 "", stream 5 "xyz" */
static const uint8_t three[] = {
    0x40, 0, 0, 0, 0, 0, 0, 0, 9,
    8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 2, 'h', 'i',
    8, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0,
    8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 3, 'x', 'y', 'z',
};

static int parse(const uint8_t *bytes, uint32_t len, struct mtp_evsink *sink)
{
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = bytes;
    p.l4_len = len;
    sink->n = 0;
    return mtpg_qframes_parse_parse_q(&p, sink);
}

static const struct mtpg_qframes_frame_in *event_at(const struct mtp_event *evs, uint32_t i)
{
    return (const void *)evs[i].data;
}

Test(qframes, every_frame_becomes_an_event)
{
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    cr_assert_eq(parse(three, sizeof three, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 3);
    const uint64_t streams[] = {3, 4, 5};
    const uint16_t lens[] = {2, 0, 3};
    const uint32_t offs[] = {20, 0, 44};
    for (uint32_t i = 0; i < 3; i++) {
        const struct mtpg_qframes_frame_in *e = event_at(evs, i);
        cr_expect_eq(evs[i].type, MTPG_QFRAMES_EV_FRAME_IN);
        cr_expect_eq(e->conn, 9);
        cr_expect_eq(e->index, i);
        cr_expect_eq(e->stream, streams[i]);
        cr_expect_eq(e->length, lens[i]);
        cr_expect_eq(e->data.len, lens[i]);
        if (lens[i])
            cr_expect_eq(e->data.addr, (mtp_addr_t)(uintptr_t)(three + offs[i]));
    }
}

Test(qframes, a_packet_cut_at_any_byte_is_malformed_or_fewer_whole_frames)
{
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    for (uint32_t n = 0; n < sizeof three; n++) {
        /* copied so that a read past n is an ASan error */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, three, n);
        int r = parse(cut, n, &sink);
        /* frame boundaries: 9 (no frame: dropped by the parser), 22, 33 */
        if (n == 22 || n == 33) {
            cr_expect_eq(r, MTP_PARSE_OK, "cut at %u", n);
            cr_expect_eq(sink.n, n == 22 ? 1u : 2u, "cut at %u", n);
        } else {
            cr_expect_eq(r, MTP_PARSE_MALFORMED, "cut at %u", n);
        }
        free(cut);
    }
}

Test(qframes, unknown_type_length_past_end_and_too_many_frames_are_malformed)
{
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    uint8_t b[sizeof three + 11];
    memcpy(b, three, sizeof three);
    b[22] = 9; /* second frame: unknown type */
    cr_expect_eq(parse(b, sizeof three, &sink), MTP_PARSE_MALFORMED);
    memcpy(b, three, sizeof three);
    b[sizeof three - 4] = 4; /* last frame claims 4 bytes, 3 present */
    cr_expect_eq(parse(b, sizeof three, &sink), MTP_PARSE_MALFORMED);
    memcpy(b, three, sizeof three);
    b[18] = 0xff; /* first frame's length high byte: far past the end */
    cr_expect_eq(parse(b, sizeof three, &sink), MTP_PARSE_MALFORMED);
    memcpy(b, three, sizeof three);
    memcpy(b + sizeof three, three + 22, 11); /* a fourth (empty) frame: capacity is 3 */
    cr_expect_eq(parse(b, sizeof b, &sink), MTP_PARSE_MALFORMED);
    cr_expect_eq(parse(b, sizeof three, &sink), MTP_PARSE_OK);
}

Test(qframes, write_hdr_output_parses_back)
{
    static const char one[] = "abcd", two[] = "efghi";
    struct mtpg_qframes_qpkt q;
    memset(&q, 0, sizeof q);
    q.flags = MTPG_QFRAMES_F_SHORT;
    q.conn = 0x0102030405060708ull;
    q.frames.len = 2;
    q.frames.v[0].type = MTPG_QFRAMES_T_STREAM;
    q.frames.v[0].stream = 11;
    q.frames.v[0].data.len = 4;
    q.frames.v[0].data.addr = (mtp_addr_t)(uintptr_t)one;
    q.frames.v[1].type = MTPG_QFRAMES_T_STREAM;
    q.frames.v[1].stream = 12;
    q.frames.v[1].data.len = 5;
    q.frames.v[1].data.addr = (mtp_addr_t)(uintptr_t)two;
    const struct mtp_bp_desc *d = &mtpg_qframes_program.bps[MTPG_QFRAMES_BP_QPKT];
    uint32_t n = d->hdr_len(&q);
    cr_assert_eq(n, 9 + 11 + 4 + 11 + 5);
    uint8_t *out = malloc(n);
    d->write_hdr(&q, out, 0);
    struct mtp_event evs[4];
    struct mtp_evsink sink = {.v = evs, .cap = 4};
    cr_assert_eq(parse(out, n, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 2);
    cr_expect_eq(event_at(evs, 0)->conn, q.conn);
    cr_expect_eq(event_at(evs, 0)->stream, 11);
    cr_expect_eq(event_at(evs, 0)->length, 4);
    cr_expect_eq(memcmp((const void *)(uintptr_t)event_at(evs, 0)->data.addr, one, 4), 0);
    cr_expect_eq(event_at(evs, 1)->stream, 12);
    cr_expect_eq(event_at(evs, 1)->length, 5);
    cr_expect_eq(memcmp((const void *)(uintptr_t)event_at(evs, 1)->data.addr, two, 5), 0);
    free(out);
}
