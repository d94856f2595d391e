/*
 * csum.c — the Internet checksum (RFC 1071), summed 64 bits at a time.
 *
 * The one's-complement sum does not depend on byte order (RFC 1071 §2(B)): we add the data
 * as native 64-bit words with end-around carry and byte-swap only the folded 16-bit result.
 */
#include <string.h>
#include <arpa/inet.h>
#include "mtp/net.h"

static inline uint64_t add_carry(uint64_t acc, uint64_t v)
{
    acc += v;
    return acc + (acc < v);
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t mtp_csum_add(uint64_t acc, const void *data, size_t len)
{
    const uint8_t *p = data;

    /* One load per word straight into the add/adc chain (a 32-byte memcpy into a local
     * array made gcc bounce every block through the stack). */
    while (len >= 32) {
        acc = add_carry(acc, load64(p));
        acc = add_carry(acc, load64(p + 8));
        acc = add_carry(acc, load64(p + 16));
        acc = add_carry(acc, load64(p + 24));
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        acc = add_carry(acc, load64(p));
        p += 8;
        len -= 8;
    }
    if (len >= 4) {
        uint32_t v;
        memcpy(&v, p, 4);
        acc = add_carry(acc, v);
        p += 4;
        len -= 4;
    }
    if (len >= 2) {
        uint16_t v;
        memcpy(&v, p, 2);
        acc = add_carry(acc, v);
        p += 2;
        len -= 2;
    }
    if (len) {
        /* The odd byte is the high-order byte of a zero-padded word (in network order):
         * as a native load it sits at the lower address. */
        uint8_t pad[2] = { p[0], 0 };
        uint16_t v;
        memcpy(&v, pad, 2);
        acc = add_carry(acc, v);
    }
    return acc;
}

uint16_t mtp_csum_fold(uint64_t acc)
{
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffffffu) + (acc >> 32);
    acc = (acc & 0xffffu) + (acc >> 16);
    acc = (acc & 0xffffu) + (acc >> 16);
    return ntohs((uint16_t)acc);
}

uint64_t mtp_csum_pseudo_ipv4(uint32_t src, uint32_t dst, uint8_t proto, uint32_t l4_len)
{
    uint8_t ph[12];
    mtp_put32(ph, src);
    mtp_put32(ph + 4, dst);
    ph[8] = 0;
    ph[9] = proto;
    mtp_put16(ph + 10, (uint16_t)l4_len);
    return mtp_csum_add(0, ph, sizeof ph);
}

uint16_t mtp_csum_ipv4_l4(uint32_t src, uint32_t dst, uint8_t proto, const void *l4,
                          uint32_t l4_len)
{
    uint64_t acc = mtp_csum_pseudo_ipv4(src, dst, proto, l4_len);
    return mtp_csum_finish(mtp_csum_add(acc, l4, l4_len));
}

static uint16_t ones_zero_normal(uint16_t v) { return v == 0xffff ? 0 : v; }

int mtp_csum_is_partial(uint32_t src, uint32_t dst, uint8_t proto, const uint8_t *l4,
                        uint32_t l4_len, uint32_t csum_off)
{
    if ((uint64_t)csum_off + 2 > l4_len)
        return 0;
    uint16_t seed = mtp_csum_fold(mtp_csum_pseudo_ipv4(src, dst, proto, l4_len));
    return ones_zero_normal(mtp_get16(l4 + csum_off)) == ones_zero_normal(seed);
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). */
uint16_t mtp_csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word)
{
    uint32_t sum = (uint16_t)~csum + (uint32_t)(uint16_t)~old_word + new_word;
    sum = (sum & 0xffffu) + (sum >> 16);
    sum = (sum & 0xffffu) + (sum >> 16);
    return (uint16_t)~sum;
}
