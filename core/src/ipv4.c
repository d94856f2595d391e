/*
 * ipv4.c — IPv4 header validation and emission, next-hop choice.
 */
#include "mtp/net.h"

int mtp_ipv4_parse(const uint8_t *buf, uint32_t len, struct mtp_ipv4_repr *out)
{
    if (len < MTP_IP4_MIN_LEN)
        return MTP_NET_MALFORMED;
    uint8_t ver_ihl = buf[MTP_IP4_VER_IHL];
    uint32_t hdr_len = (ver_ihl & 0xfu) * 4u;
    uint32_t total_len = mtp_get16(buf + MTP_IP4_TOTAL_LEN);
    if (ver_ihl >> 4 != 4 || hdr_len < MTP_IP4_MIN_LEN || hdr_len > len)
        return MTP_NET_MALFORMED;
    /* A frame may carry link padding after the packet, never less than total_len. */
    if (total_len < hdr_len || total_len > len)
        return MTP_NET_MALFORMED;
    if (mtp_csum(buf, hdr_len) != 0)
        return MTP_NET_BAD_CSUM;
    uint16_t frag = mtp_get16(buf + MTP_IP4_FRAG);
    if (frag & (MTP_IP4_MF | MTP_IP4_OFFSET_MASK))
        return MTP_NET_FRAGMENT;

    out->src = mtp_get32(buf + MTP_IP4_SRC);
    out->dst = mtp_get32(buf + MTP_IP4_DST);
    out->proto = buf[MTP_IP4_PROTO];
    out->tos = buf[MTP_IP4_TOS];
    out->ttl = buf[MTP_IP4_TTL];
    out->hdr_len = (uint8_t)hdr_len;
    out->id = mtp_get16(buf + MTP_IP4_ID);
    out->frag = frag;
    out->payload_len = total_len - hdr_len;
    return MTP_NET_OK;
}

void mtp_ipv4_emit(const struct mtp_ipv4_repr *r, uint8_t *buf, int csum_offload)
{
    buf[MTP_IP4_VER_IHL] = 0x45;
    buf[MTP_IP4_TOS] = r->tos;
    mtp_put16(buf + MTP_IP4_TOTAL_LEN, (uint16_t)(MTP_IP4_MIN_LEN + r->payload_len));
    mtp_put16(buf + MTP_IP4_ID, r->id);
    mtp_put16(buf + MTP_IP4_FRAG, r->frag);
    buf[MTP_IP4_TTL] = r->ttl;
    buf[MTP_IP4_PROTO] = r->proto;
    mtp_put16(buf + MTP_IP4_CSUM, 0);
    mtp_put32(buf + MTP_IP4_SRC, r->src);
    mtp_put32(buf + MTP_IP4_DST, r->dst);
    if (!csum_offload)
        mtp_put16(buf + MTP_IP4_CSUM, mtp_csum(buf, MTP_IP4_MIN_LEN));
}

uint32_t mtp_ipv4_next_hop(uint32_t own, uint32_t prefix_len, uint32_t gateway, uint32_t dst)
{
    uint32_t mask = mtp_ipv4_mask(prefix_len);
    if ((dst & mask) == (own & mask) || dst == 0xffffffffu)
        return dst;
    return gateway;
}
