/*
 * frames.h — hand-built frames for the DPDK target tests (the tests run before, and
 * independently of, the stack's own ARP/IPv4/ICMP): Ethernet, ARP, IPv4, ICMP echo, UDP.
 * Every parser checks the length before it reads.
 */
#ifndef MTP_DPDK_TEST_FRAMES_H
#define MTP_DPDK_TEST_FRAMES_H

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ETH_HLEN      14
#define ETYPE_IPV4    0x0800
#define ETYPE_ARP     0x0806
#define ETYPE_TEST    0x88b5 /* IEEE local experimental */
#define ARP_LEN       28
#define IPV4_HLEN     20
#define UDP_HLEN      8
#define ICMP_HLEN     8

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, (uint16_t)(v >> 16));
    wr16(p + 2, (uint16_t)v);
}

static inline uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t len)
{
    for (uint32_t i = 0; i + 1 < len; i += 2)
        sum += rd16(p + i);
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static inline uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static inline void mac_format(const uint8_t m[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static inline uint32_t ip_parse(const char *s)
{
    struct in_addr a;
    CHECK(inet_pton(AF_INET, s, &a) == 1, "bad IPv4 address %s", s);
    return ntohl(a.s_addr);
}

static inline void eth_write(uint8_t *f, const uint8_t dst[6], const uint8_t src[6],
                             uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    wr16(f + 12, type);
}

/* ARP (Ethernet/IPv4): op 1 request, 2 reply. Returns the frame length. */
static inline uint32_t arp_write(uint8_t *f, uint16_t op, const uint8_t sha[6], uint32_t spa,
                                 const uint8_t tha[6], uint32_t tpa, const uint8_t eth_dst[6])
{
    eth_write(f, eth_dst, sha, ETYPE_ARP);
    uint8_t *a = f + ETH_HLEN;
    wr16(a, 1);
    wr16(a + 2, ETYPE_IPV4);
    a[4] = 6;
    a[5] = 4;
    wr16(a + 6, op);
    memcpy(a + 8, sha, 6);
    wr32(a + 14, spa);
    memcpy(a + 18, tha, 6);
    wr32(a + 24, tpa);
    return ETH_HLEN + ARP_LEN;
}

struct arp_msg {
    uint16_t op;
    uint8_t sha[6];
    uint32_t spa, tpa;
};

static inline int arp_parse(const uint8_t *f, uint32_t len, struct arp_msg *m)
{
    if (len < ETH_HLEN + ARP_LEN || rd16(f + 12) != ETYPE_ARP)
        return -1;
    const uint8_t *a = f + ETH_HLEN;
    if (rd16(a) != 1 || rd16(a + 2) != ETYPE_IPV4 || a[4] != 6 || a[5] != 4)
        return -1;
    m->op = rd16(a + 6);
    memcpy(m->sha, a + 8, 6);
    m->spa = rd32(a + 14);
    m->tpa = rd32(a + 24);
    return 0;
}

struct ipv4_view {
    uint8_t proto;
    uint32_t src, dst;
    const uint8_t *l4;
    uint32_t l4_len;
};

static inline int ipv4_parse(const uint8_t *f, uint32_t len, struct ipv4_view *v)
{
    if (len < ETH_HLEN + IPV4_HLEN || rd16(f + 12) != ETYPE_IPV4)
        return -1;
    const uint8_t *ip = f + ETH_HLEN;
    uint32_t ihl = (ip[0] & 15u) * 4, tot = rd16(ip + 2);
    if ((ip[0] >> 4) != 4 || ihl < IPV4_HLEN || tot < ihl || ETH_HLEN + tot > len)
        return -1;
    v->proto = ip[9];
    v->src = rd32(ip + 12);
    v->dst = rd32(ip + 16);
    v->l4 = ip + ihl;
    v->l4_len = tot - ihl;
    return 0;
}

/* IPv4 header with a zero checksum (the target computes it: MTP_OFFLOAD_IPV4_CSUM). */
static inline void ipv4_write(uint8_t *ip, uint8_t proto, uint32_t src, uint32_t dst,
                              uint32_t payload_len)
{
    memset(ip, 0, IPV4_HLEN);
    ip[0] = 0x45;
    wr16(ip + 2, (uint16_t)(IPV4_HLEN + payload_len));
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = proto;
    wr32(ip + 12, src);
    wr32(ip + 16, dst);
}

/* Pseudo-header sum, folded but not complemented: the seed a checksum offload expects. */
static inline uint16_t pseudo_seed(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
    uint32_t sum = (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
    return (uint16_t)~csum_fold(sum);
}

#endif
