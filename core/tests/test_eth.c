/* Ethernet II parse/emit. */
#include <criterion/criterion.h>
#include <string.h>
#include "mtp/net.h"

static const uint8_t mac_a[6] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t mac_b[6] = { 0x02, 0, 0, 0, 0, 2 };

Test(eth, round_trip)
{
    struct mtp_eth_repr r = { .ethertype = MTP_ETHERTYPE_ARP }, p;
    memcpy(r.dst, mac_a, 6);
    memcpy(r.src, mac_b, 6);
    uint8_t buf[MTP_ETH_HDR_LEN];
    mtp_eth_emit(&r, buf);
    cr_assert_eq(buf[12], 0x08);
    cr_assert_eq(buf[13], 0x06);
    cr_assert_eq(mtp_eth_parse(buf, sizeof buf, &p), MTP_NET_OK);
    cr_assert_eq(memcmp(&r, &p, sizeof r), 0);
}

Test(eth, truncated)
{
    uint8_t buf[MTP_ETH_HDR_LEN] = { 0 };
    struct mtp_eth_repr p;
    for (uint32_t len = 0; len < MTP_ETH_HDR_LEN; len++)
        cr_assert_eq(mtp_eth_parse(buf, len, &p), MTP_NET_MALFORMED, "len %u", len);
}

Test(eth, accepts_own_and_broadcast_only)
{
    struct {
        const uint8_t *dst;
        int want;
    } cases[] = {
        { mac_a, 1 },
        { mtp_eth_broadcast, 1 },
        { mac_b, 0 },
        { (const uint8_t[6]){ 0x01, 0x00, 0x5e, 0, 0, 1 }, 0 }, /* multicast */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mtp_eth_repr r = { .ethertype = MTP_ETHERTYPE_IPV4 };
        memcpy(r.dst, cases[i].dst, 6);
        cr_expect_eq(mtp_eth_is_for(&r, mac_a), cases[i].want, "case %zu", i);
    }
}
