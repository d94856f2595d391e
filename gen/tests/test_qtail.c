/*
 * test_qtail.c — the generated C of gen/tests/ok/qtail.mtp: a frame without a length field
 * takes the rest of the packet as its data; a frame header cut short, another type or a
 * second frame past the list's capacity is malformed.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "qtail.h"

static int parse(const uint8_t *bytes, uint32_t len, struct mtp_evsink *sink)
{
    struct mtp_rx_pkt p;
    memset(&p, 0, sizeof p);
    p.l4 = bytes;
    p.l4_len = len;
    sink->n = 0;
    return mtpg_qtail_parse_parse_t(&p, sink);
}

static const uint8_t pkt[] = {0x01, 0x30, 0, 0, 0, 7, 'd', 'a', 't', 'a'};

Test(qtail, a_frame_without_length_takes_the_rest_of_the_packet)
{
    struct mtp_event evs[2];
    struct mtp_evsink sink = {.v = evs, .cap = 2};
    for (uint32_t n = 0; n <= sizeof pkt; n++) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, pkt, n);
        int r = parse(cut, n, &sink);
        if (n < 6) {
            /* no frame (the parser drops it) or a frame header cut short */
            cr_expect_eq(r, MTP_PARSE_MALFORMED, "cut at %u", n);
        } else {
            cr_assert_eq(r, MTP_PARSE_OK, "cut at %u", n);
            cr_assert_eq(sink.n, 1);
            const struct mtpg_qtail_dgram_in *e = (const void *)evs[0].data;
            cr_expect_eq(e->flow, 7);
            cr_expect_eq(e->data.len, n - 6);
            cr_expect_eq(e->data.addr, (mtp_addr_t)(uintptr_t)(cut + 6));
        }
        free(cut);
    }
}

Test(qtail, another_type_is_malformed)
{
    struct mtp_event evs[2];
    struct mtp_evsink sink = {.v = evs, .cap = 2};
    uint8_t b[sizeof pkt];
    memcpy(b, pkt, sizeof pkt);
    b[1] = 0x31;
    cr_expect_eq(parse(b, sizeof b, &sink), MTP_PARSE_MALFORMED);
}
