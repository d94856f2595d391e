/*
 * icmp.c — ICMP messages the stack answers or sends: echo, destination unreachable; the
 * quote inside the errors it receives; and the token bucket that bounds the errors we send.
 */
#include <string.h>
#include "mtp/net.h"

int mtp_icmp_parse(const uint8_t *buf, uint32_t len, struct mtp_icmp_repr *out)
{
    if (len < MTP_ICMP_HDR_LEN)
        return MTP_NET_MALFORMED;
    if (mtp_csum(buf, len) != 0)
        return MTP_NET_BAD_CSUM;
    out->type = buf[MTP_ICMP_TYPE];
    out->code = buf[MTP_ICMP_CODE];
    out->rest = mtp_get32(buf + MTP_ICMP_ID);
    out->data = buf + MTP_ICMP_HDR_LEN;
    out->data_len = len - MTP_ICMP_HDR_LEN;
    return MTP_NET_OK;
}

uint32_t mtp_icmp_emit(const struct mtp_icmp_repr *r, uint8_t *buf)
{
    uint32_t len = mtp_icmp_len(r);
    buf[MTP_ICMP_TYPE] = r->type;
    buf[MTP_ICMP_CODE] = r->code;
    mtp_put16(buf + MTP_ICMP_CSUM, 0);
    mtp_put32(buf + MTP_ICMP_ID, r->rest);
    if (r->data_len)
        memmove(buf + MTP_ICMP_HDR_LEN, r->data, r->data_len);
    mtp_put16(buf + MTP_ICMP_CSUM, mtp_csum(buf, len));
    return len;
}

void mtp_icmp_unreach_repr(struct mtp_icmp_repr *out, uint8_t code, const uint8_t *ip_pkt,
                           const struct mtp_ipv4_repr *ip)
{
    uint32_t quote = ip->payload_len < MTP_ICMP_UNREACH_QUOTE ? ip->payload_len
                                                              : MTP_ICMP_UNREACH_QUOTE;
    out->type = MTP_ICMP_DEST_UNREACH;
    out->code = code;
    out->rest = 0;
    out->data = ip_pkt;
    out->data_len = ip->hdr_len + quote;
}

static int icmp_is_error(uint8_t type)
{
    return type == MTP_ICMP_DEST_UNREACH || type == MTP_ICMP_TIME_EXCEEDED ||
           type == MTP_ICMP_PARAM_PROBLEM;
}

int mtp_icmp_quote_parse(const struct mtp_icmp_repr *r, struct mtp_icmp_quote *out)
{
    const uint8_t *q = r->data;
    if (!icmp_is_error(r->type) || r->data_len < MTP_IP4_MIN_LEN + MTP_ICMP_UNREACH_QUOTE)
        return MTP_NET_MALFORMED;
    uint32_t ihl = (q[MTP_IP4_VER_IHL] & 0x0fu) * 4u;
    if (q[MTP_IP4_VER_IHL] >> 4 != 4 || ihl < MTP_IP4_MIN_LEN ||
        r->data_len < ihl + MTP_ICMP_UNREACH_QUOTE)
        return MTP_NET_MALFORMED;
    uint16_t total = mtp_get16(q + MTP_IP4_TOTAL_LEN);
    uint16_t frag = mtp_get16(q + MTP_IP4_FRAG);
    if (total < ihl + MTP_ICMP_UNREACH_QUOTE || (frag & MTP_IP4_OFFSET_MASK) != 0)
        return MTP_NET_MALFORMED;
    memset(out, 0, sizeof *out);
    out->ip.src = mtp_get32(q + MTP_IP4_SRC);
    out->ip.dst = mtp_get32(q + MTP_IP4_DST);
    out->ip.proto = q[MTP_IP4_PROTO];
    out->ip.tos = q[MTP_IP4_TOS];
    out->ip.ttl = q[MTP_IP4_TTL];
    out->ip.hdr_len = (uint8_t)ihl;
    out->ip.id = mtp_get16(q + MTP_IP4_ID);
    out->ip.frag = frag;
    out->ip.payload_len = total - ihl;
    out->l4 = q + ihl;
    out->l4_len = r->data_len - ihl < out->ip.payload_len ? r->data_len - ihl : out->ip.payload_len;
    if (r->type == MTP_ICMP_DEST_UNREACH && r->code == MTP_ICMP_FRAG_NEEDED)
        out->mtu = (uint16_t)(r->rest & 0xffffu);
    return MTP_NET_OK;
}

void mtp_ratelimit_init(struct mtp_ratelimit *rl, uint32_t per_sec, uint32_t burst)
{
    rl->last_ns = 0;
    rl->tokens = burst;
    rl->burst = burst;
    rl->per_sec = per_sec ? per_sec : 1;
}

int mtp_ratelimit_take(struct mtp_ratelimit *rl, uint64_t now_ns)
{
    uint64_t interval = 1000000000ull / rl->per_sec;
    if (now_ns > rl->last_ns) {
        uint64_t add = (now_ns - rl->last_ns) / interval;
        if (rl->tokens + add >= rl->burst) {
            rl->tokens = rl->burst;
            rl->last_ns = now_ns;
        } else if (add) {
            rl->tokens += (uint32_t)add;
            rl->last_ns += add * interval; /* keep the fraction of the next token */
        }
    }
    if (rl->tokens == 0)
        return 0;
    rl->tokens--;
    return 1;
}
