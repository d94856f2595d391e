/*
 * test_frames.c — the generated C of gen/tests/ok/frames.mtp: nested blueprint lists (frames
 * with their own payload) are serialised header, data, header, data; hdr_len counts them;
 * the descriptor lists every nested data_t; a parser's second extract reads what follows
 * the first header.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "frames.h"

static const struct mtp_bp_desc *qpkt_desc(void)
{
    return &mtpg_frames_program.bps[MTPG_FRAMES_BP_QPKT];
}

Test(frames, nested_frames_are_serialised_with_their_payload)
{
    static const char one[] = "abc", two[] = "defgh";
    struct mtpg_frames_qpkt q;
    memset(&q, 0, sizeof q);
    q.flags = MTPG_FRAMES_F_LONG;
    q.conn = 0x0102030405060708ull;
    q.nframes = 2;
    q.frames.len = 2;
    q.frames.v[0].type = MTPG_FRAMES_T_STREAM;
    q.frames.v[0].stream = 5;
    q.frames.v[0].data.len = 3;
    q.frames.v[0].data.addr = (mtp_addr_t)(uintptr_t)one;
    q.frames.v[1].type = MTPG_FRAMES_T_STREAM;
    q.frames.v[1].stream = 5;
    q.frames.v[1].data.len = 5;
    q.frames.v[1].data.addr = (mtp_addr_t)(uintptr_t)two;
    const struct mtp_bp_desc *d = qpkt_desc();
    cr_assert_eq(d->hdr_len(&q), 10 + 11 + 3 + 11 + 5);
    uint8_t out[64];
    memset(out, 0xee, sizeof out);
    d->write_hdr(&q, out, 0);
    const uint8_t want[] = {
        0x40, 1, 2, 3, 4, 5, 6, 7, 8, 2,                 /* packet header */
        8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 3, 'a', 'b', 'c', /* frame 1 + data */
        8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 5, 'd', 'e', 'f', 'g', 'h',
    };
    cr_expect_eq(memcmp(out, want, sizeof want), 0, "serialised bytes differ");
    cr_expect_eq(out[sizeof want], 0xee, "wrote past the header");
    cr_expect_eq(d->data_off, -1);
    cr_expect_eq(d->csum_off, -1);
    cr_assert_eq(d->n_nested_data, 4);
    uint32_t off[4];
    cr_assert_eq(d->nested_data(&q, off), 2, "the data_t of the frames in use");
    for (uint32_t i = 0; i < 2; i++)
        cr_expect_eq(off[i], offsetof(struct mtpg_frames_qpkt, frames.v) +
                                 i * sizeof(struct mtpg_frames_stream_frame) +
                                 offsetof(struct mtpg_frames_stream_frame, data));
}

Test(frames, second_extract_reads_after_the_first_header)
{
    const uint8_t bytes[] = {0x40, 0, 0, 0, 0, 0, 0, 0, 9, 1,
                             8, 0, 0, 0, 0, 0, 0, 0, 3, 0, 2, 'h', 'i'};
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = bytes;
    p.l4_len = sizeof bytes;
    struct mtp_event evs[2];
    struct mtp_evsink sink = {.v = evs, .cap = 2};
    cr_assert_eq(mtpg_frames_parse_parse_q(&p, &sink), MTP_PARSE_OK);
    cr_assert_eq(sink.n, 1);
    const struct mtpg_frames_stream_in *e = (const void *)evs[0].data;
    cr_expect_eq(e->conn, 9);
    cr_expect_eq(e->stream, 3);
    cr_expect_eq(e->length, 2);
    cr_expect_eq(e->data.len, 2);
    cr_expect_eq(e->data.addr, (mtp_addr_t)(uintptr_t)(bytes + 21));
    /* frame header cut short: malformed */
    p.l4_len = 15;
    cr_expect_eq(mtpg_frames_parse_parse_q(&p, &sink), MTP_PARSE_MALFORMED);
}

Test(frames, sender_builds_two_frames_from_the_tx_unit)
{
    struct mtp_instr instrs[4];
    uint8_t arena[2048];
    struct mtp_ibuf ibuf = {.v = instrs, .cap = 4, .arena = arena, .arena_cap = sizeof arena};
    struct mtp_exec x;
    memset(&x, 0, sizeof x);
    x.out = &ibuf;
    struct mtpg_frames_qconn c;
    mtpg_frames_ctx_qconn_init(&c);
    c.conn = 77;
    c.sent = 100;
    struct mtpg_frames_stream_send ev = {.stream = 5, .len = 9, .buf = 0x5000};
    cr_assert_eq(mtpg_frames_proc_send_two(&x, &ev, &c), 0);
    cr_assert_eq(ibuf.n, 2);
    cr_expect_eq(instrs[0].op, MTP_OP_ADD_TX_DATA);
    cr_expect_eq(instrs[1].op, MTP_OP_PKT_GEN);
    struct mtpg_frames_qpkt q;
    memcpy(&q, arena + instrs[1].arena_off, sizeof q);
    cr_expect_eq(q.flags, MTPG_FRAMES_F_LONG);
    cr_expect_eq(q.nframes, 2);
    cr_assert_eq(q.frames.len, 2);
    cr_expect_eq(q.frames.v[0].data.off, 100);
    cr_expect_eq(q.frames.v[0].data.len, 4);
    cr_expect_eq(q.frames.v[1].data.off, 104);
    cr_expect_eq(q.frames.v[1].data.len, 5);
    cr_expect_eq(q.frames.v[1].type, MTPG_FRAMES_T_STREAM);
    cr_expect_eq(c.sent, 109);
}
