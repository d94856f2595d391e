/*
 * eth.c — Ethernet II headers.
 */
#include <string.h>
#include "mtp/net.h"

const uint8_t mtp_eth_broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

int mtp_eth_parse(const uint8_t *buf, uint32_t len, struct mtp_eth_repr *out)
{
    if (len < MTP_ETH_HDR_LEN)
        return MTP_NET_MALFORMED;
    memcpy(out->dst, buf + MTP_ETH_DST, 6);
    memcpy(out->src, buf + MTP_ETH_SRC, 6);
    out->ethertype = mtp_get16(buf + MTP_ETH_TYPE);
    return MTP_NET_OK;
}

void mtp_eth_emit(const struct mtp_eth_repr *r, uint8_t *buf)
{
    memcpy(buf + MTP_ETH_DST, r->dst, 6);
    memcpy(buf + MTP_ETH_SRC, r->src, 6);
    mtp_put16(buf + MTP_ETH_TYPE, r->ethertype);
}

int mtp_eth_is_for(const struct mtp_eth_repr *r, const uint8_t own[6])
{
    return memcmp(r->dst, own, 6) == 0 || mtp_eth_is_broadcast(r->dst);
}
