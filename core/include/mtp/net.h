/*
 * net.h — the layers below the transport: the Internet checksum and the packet formats of
 * Ethernet II, ARP (IPv4 over Ethernet), IPv4 and ICMP.
 *
 * Style: every field offset lives in the one table below, each format has a
 * parse/emit pair working on a plain "repr" struct, and a parser checks the length before it
 * reads any byte of an untrusted packet. Parsers return MTP_NET_OK or a reason to drop that
 * the caller counts (struct mtp_stats). All multi-byte values in reprs are in host order.
 */
#ifndef MTP_NET_H
#define MTP_NET_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------ field table */

enum {
    /* Ethernet II */
    MTP_ETH_DST = 0, MTP_ETH_SRC = 6, MTP_ETH_TYPE = 12, MTP_ETH_HDR_LEN = 14,
    /* ARP, Ethernet/IPv4 only */
    MTP_ARP_HTYPE = 0, MTP_ARP_PTYPE = 2, MTP_ARP_HLEN = 4, MTP_ARP_PLEN = 5, MTP_ARP_OPER = 6,
    MTP_ARP_SHA = 8, MTP_ARP_SPA = 14, MTP_ARP_THA = 18, MTP_ARP_TPA = 24, MTP_ARP_LEN = 28,
    /* IPv4 */
    MTP_IP4_VER_IHL = 0, MTP_IP4_TOS = 1, MTP_IP4_TOTAL_LEN = 2, MTP_IP4_ID = 4,
    MTP_IP4_FRAG = 6, MTP_IP4_TTL = 8, MTP_IP4_PROTO = 9, MTP_IP4_CSUM = 10, MTP_IP4_SRC = 12,
    MTP_IP4_DST = 16, MTP_IP4_MIN_LEN = 20,
    /* ICMP (echo: id/seq; destination unreachable: 4 unused bytes, then the offending
     * IPv4 header and the first 8 bytes of its payload) */
    MTP_ICMP_TYPE = 0, MTP_ICMP_CODE = 1, MTP_ICMP_CSUM = 2, MTP_ICMP_ID = 4, MTP_ICMP_SEQ = 6,
    MTP_ICMP_HDR_LEN = 8,
};

#define MTP_ETHERTYPE_IPV4 0x0800u
#define MTP_ETHERTYPE_ARP  0x0806u
#define MTP_ARP_HTYPE_ETH  1u
#define MTP_ARP_OP_REQUEST 1u
#define MTP_ARP_OP_REPLY   2u
#define MTP_IP4_DF          0x4000u
#define MTP_IP4_MF          0x2000u
#define MTP_IP4_OFFSET_MASK 0x1fffu
#define MTP_IP4_DEFAULT_TTL 64u
#define MTP_IPPROTO_ICMP    1u
#define MTP_ICMP_ECHO_REPLY     0u
#define MTP_ICMP_DEST_UNREACH   3u
#define MTP_ICMP_ECHO_REQUEST   8u
#define MTP_ICMP_PROTO_UNREACH  2u /* codes of MTP_ICMP_DEST_UNREACH */
#define MTP_ICMP_PORT_UNREACH   3u
#define MTP_ICMP_FRAG_NEEDED    4u
#define MTP_ICMP_UNREACH_QUOTE  8u /* payload bytes of the offending packet quoted */
#define MTP_ICMP_TIME_EXCEEDED  11u
#define MTP_ICMP_PARAM_PROBLEM  12u

/* Why a parser refused a packet. */
enum mtp_net_result {
    MTP_NET_OK = 0,
    MTP_NET_MALFORMED = -1,   /* truncated, bad version/length fields */
    MTP_NET_BAD_CSUM = -2,    /* checksum mismatch */
    MTP_NET_FRAGMENT = -3,    /* IPv4 fragment (not reassembled) */
    MTP_NET_UNSUPPORTED = -4, /* well formed, but a variant we do not handle */
};

/* ------------------------------------------------------------ byte access */

static inline uint16_t mtp_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t mtp_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void mtp_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void mtp_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ------------------------------------------------------ Internet checksum */

/* RFC 1071 one's-complement sum, accumulated 64 bits at a time. An accumulator is opaque
 * (byte-order neutral); start from 0, add chunks, then fold or finish. Every chunk but the
 * last must have an even length (an odd chunk is padded with a zero byte). */
uint64_t mtp_csum_add(uint64_t acc, const void *data, size_t len);
/* The 16-bit one's-complement sum in host order (not complemented). */
uint16_t mtp_csum_fold(uint64_t acc);
/* The checksum field value in host order: ~fold. */
static inline uint16_t mtp_csum_finish(uint64_t acc) { return (uint16_t)~mtp_csum_fold(acc); }
static inline uint16_t mtp_csum(const void *data, size_t len)
{
    return mtp_csum_finish(mtp_csum_add(0, data, len));
}
/* Accumulator seeded with the IPv4 pseudo header (addresses host order, L4 length). */
uint64_t mtp_csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint32_t l4_len);
/* Checksum of an L4 segment with the pseudo header, the checksum field included as found
 * (0 when filling it in; a valid segment gives 0). */
uint16_t mtp_csum_ipv4_l4(uint32_t src, uint32_t dst, uint8_t proto, const void *l4,
                          uint32_t l4_len);
/* Does the 16-bit checksum field at l4 + csum_off hold exactly the pseudo-header sum of this
 * segment (not complemented, as a device that offloads the checksum wants it seeded)? That
 * is what the kernel's CHECKSUM_PARTIAL leaves on veth, lo and tap. 0 and 0xffff, the two
 * one's-complement zeros, count as equal. */
int mtp_csum_is_partial(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                        uint32_t l4_len, uint32_t csum_off);
/* RFC 1624 incremental update of checksum field `csum` when a 16-bit word changes. */
uint16_t mtp_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word);

/* ---------------------------------------------------------------- Ethernet */

struct mtp_eth_repr {
    uint8_t dst[6], src[6];
    uint16_t ethertype;
};
int mtp_eth_parse(const uint8_t *buf, uint32_t len, struct mtp_eth_repr *out);
void mtp_eth_emit(const struct mtp_eth_repr *r, uint8_t *buf); /* MTP_ETH_HDR_LEN bytes */

extern const uint8_t mtp_eth_broadcast[6];
static inline int mtp_eth_is_broadcast(const uint8_t mac[6])
{
    return (mac[0] & mac[1] & mac[2] & mac[3] & mac[4] & mac[5]) == 0xff;
}
static inline int mtp_eth_is_multicast(const uint8_t mac[6]) { return mac[0] & 1; }
/* Unicast to `own`, or broadcast: the frames a host accepts. */
int mtp_eth_is_for(const struct mtp_eth_repr *r, const uint8_t own[6]);

/* --------------------------------------------------------------------- ARP */

struct mtp_arp_repr {
    uint16_t oper;       /* MTP_ARP_OP_* */
    uint8_t sha[6];
    uint32_t spa;
    uint8_t tha[6];
    uint32_t tpa;
};
/* MALFORMED: short; UNSUPPORTED: not Ethernet/IPv4, or an unknown operation. */
int mtp_arp_parse(const uint8_t *buf, uint32_t len, struct mtp_arp_repr *out);
void mtp_arp_emit(const struct mtp_arp_repr *r, uint8_t *buf); /* MTP_ARP_LEN bytes */

/* -------------------------------------------------------------------- IPv4 */

struct mtp_ipv4_repr {
    uint32_t src, dst;
    uint8_t proto, tos, ttl;
    uint8_t hdr_len;      /* bytes, options included (parse only; emit writes 20) */
    uint16_t id;
    uint16_t frag;        /* flags and fragment offset field */
    uint32_t payload_len; /* bytes after the header (total length - header length) */
};
/* Validates version, IHL, total length against `len` (trailing link padding is allowed),
 * header checksum and fragmentation. */
int mtp_ipv4_parse(const uint8_t *buf, uint32_t len, struct mtp_ipv4_repr *out);
/* Writes a 20-byte header; the checksum is computed unless `csum_offload` (then 0). */
void mtp_ipv4_emit(const struct mtp_ipv4_repr *r, uint8_t *buf, int csum_offload);

/* On-link if `dst` shares the prefix of `own`, else the gateway (0 if none). */
uint32_t mtp_ipv4_next_hop(uint32_t own, uint32_t prefix_len, uint32_t gateway, uint32_t dst);
static inline uint32_t mtp_ipv4_mask(uint32_t prefix_len)
{
    return prefix_len == 0 ? 0 : prefix_len >= 32 ? 0xffffffffu : ~0u << (32 - prefix_len);
}

/* -------------------------------------------------------------------- ICMP */

struct mtp_icmp_repr {
    uint8_t type, code;
    uint32_t rest;        /* bytes 4..7: echo id << 16 | seq; 0 for unreachable */
    const uint8_t *data;  /* what follows the 8-byte header */
    uint32_t data_len;
};
/* MALFORMED: shorter than 8 bytes; BAD_CSUM. */
int mtp_icmp_parse(const uint8_t *buf, uint32_t len, struct mtp_icmp_repr *out);
/* Writes header + data with the checksum; returns the length. */
uint32_t mtp_icmp_emit(const struct mtp_icmp_repr *r, uint8_t *buf);
static inline uint32_t mtp_icmp_len(const struct mtp_icmp_repr *r)
{
    return MTP_ICMP_HDR_LEN + r->data_len;
}
/* Destination unreachable quoting `ip_pkt` (its header and the first 8 payload bytes). */
void mtp_icmp_unreach_repr(struct mtp_icmp_repr *out, uint8_t code, const uint8_t *ip_pkt,
                           const struct mtp_ipv4_repr *ip);

/* The packet an ICMP error (destination unreachable, time exceeded, parameter problem)
 * quotes: its IPv4 header and the first bytes of its payload (at least 8, RFC 792; a router
 * may quote more, RFC 1812). The quoted header's checksum is not checked (routers rewrite TTL
 * and checksum) and its total length may exceed what is quoted: l4_len is the smaller of the
 * two. MALFORMED: not an error type, a bad version/IHL, fewer than 8 payload bytes, or the
 * quote of a non-first fragment (no transport header in it). */
struct mtp_icmp_quote {
    struct mtp_ipv4_repr ip;  /* payload_len: from the quoted total length */
    const uint8_t *l4;
    uint32_t l4_len;          /* quoted L4 bytes */
    uint16_t mtu;             /* fragmentation needed: the next-hop MTU (RFC 1191), else 0 */
};
int mtp_icmp_quote_parse(const struct mtp_icmp_repr *r, struct mtp_icmp_quote *out);

/* Token bucket for ICMP errors we send: at most `burst` at once, `per_sec` sustained. */
struct mtp_ratelimit {
    uint64_t last_ns;
    uint32_t tokens, burst, per_sec;
};
void mtp_ratelimit_init(struct mtp_ratelimit *rl, uint32_t per_sec, uint32_t burst);
int mtp_ratelimit_take(struct mtp_ratelimit *rl, uint64_t now_ns); /* 1: allowed */

#endif
