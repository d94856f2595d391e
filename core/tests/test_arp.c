/* ARP: format round trip and malformed cases; the neighbour cache on a virtual clock. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include "arp.h"

#define OWN_IP 0x0a000001u
#define PEER_IP 0x0a000002u
#define SEC 1000000000ull
static const uint8_t own_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t peer_mac[6] = { 2, 0, 0, 0, 0, 2 };
static const uint8_t peer_mac2[6] = { 2, 0, 0, 0, 0, 3 };

/* What the cache asked its owner to do. */
struct rec {
    int solicits;
    uint32_t last_solicit;
    int sent;
    uint8_t sent_first[8];
    uint8_t last_mac[6];
};

static void rec_solicit(void *user, uint32_t ip, uint64_t now)
{
    (void)now;
    struct rec *r = user;
    r->solicits++;
    r->last_solicit = ip;
}

static void rec_send(void *user, const uint8_t mac[6], const uint8_t *pkt, uint32_t len,
                     uint64_t now)
{
    (void)now;
    struct rec *r = user;
    cr_assert(len >= 1);
    r->sent_first[r->sent++ % 8] = pkt[0];
    memcpy(r->last_mac, mac, 6);
}

static struct mtp_arp arp;
static struct mtp_stats stats;
static struct rec rec;

static void setup(void)
{
    memset(&stats, 0, sizeof stats);
    memset(&rec, 0, sizeof rec);
    struct mtp_arp_io io = { .user = &rec, .solicit = rec_solicit, .send = rec_send };
    mtp__arp_init(&arp, OWN_IP, own_mac, &io, &stats);
}

static void teardown(void) { mtp__arp_clear(&arp); }

static struct mtp_arp_repr repr(uint16_t op, const uint8_t sha[6], uint32_t spa, uint32_t tpa)
{
    struct mtp_arp_repr r = { .oper = op, .spa = spa, .tpa = tpa };
    memcpy(r.sha, sha, 6);
    return r;
}

Test(arp_format, round_trip)
{
    struct mtp_arp_repr r = repr(MTP_ARP_OP_REPLY, peer_mac, PEER_IP, OWN_IP), p;
    memcpy(r.tha, own_mac, 6);
    uint8_t buf[MTP_ARP_LEN];
    mtp_arp_emit(&r, buf);
    cr_assert_eq(mtp_arp_parse(buf, sizeof buf, &p), MTP_NET_OK);
    cr_assert_eq(p.oper, r.oper);
    cr_assert_eq(p.spa, r.spa);
    cr_assert_eq(p.tpa, r.tpa);
    cr_assert_eq(memcmp(p.sha, r.sha, 6), 0);
    cr_assert_eq(memcmp(p.tha, r.tha, 6), 0);
}

Test(arp_format, malformed_and_unsupported)
{
    struct mtp_arp_repr r = repr(MTP_ARP_OP_REQUEST, peer_mac, PEER_IP, OWN_IP), p;
    uint8_t buf[MTP_ARP_LEN];
    for (uint32_t len = 0; len < MTP_ARP_LEN; len++) {
        mtp_arp_emit(&r, buf);
        cr_assert_eq(mtp_arp_parse(buf, len, &p), MTP_NET_MALFORMED);
    }
    struct { int off; uint8_t val; } bad[] = {
        { MTP_ARP_HTYPE + 1, 6 }, { MTP_ARP_PTYPE, 0x86 }, { MTP_ARP_HLEN, 8 },
        { MTP_ARP_PLEN, 16 }, { MTP_ARP_OPER + 1, 3 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mtp_arp_emit(&r, buf);
        buf[bad[i].off] = bad[i].val;
        cr_expect_eq(mtp_arp_parse(buf, sizeof buf, &p), MTP_NET_UNSUPPORTED, "case %zu", i);
    }
}

TestSuite(arp_cache, .init = setup, .fini = teardown);

Test(arp_cache, resolution_flushes_queue_in_order)
{
    uint8_t mac[6];
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, 0), -EAGAIN);
    for (uint8_t i = 1; i <= 3; i++)
        cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &i, 1, 0), 0);
    cr_assert_eq(rec.solicits, 1, "one request for three packets");
    cr_assert_eq(rec.last_solicit, PEER_IP);
    cr_assert_eq(rec.sent, 0);
    struct mtp_arp_repr r = repr(MTP_ARP_OP_REPLY, peer_mac, PEER_IP, OWN_IP);
    cr_assert_eq(mtp__arp_input(&arp, &r, 10), 0);
    cr_assert_eq(rec.sent, 3);
    cr_assert_eq(rec.sent_first[0], 1);
    cr_assert_eq(rec.sent_first[2], 3);
    cr_assert_eq(memcmp(rec.last_mac, peer_mac, 6), 0);
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, 20), 0);
    cr_assert_eq(memcmp(mac, peer_mac, 6), 0);
    cr_assert_eq(mtp__arp_next_deadline(&arp), UINT64_MAX);
}

Test(arp_cache, retries_then_drops_and_counts)
{
    uint8_t b = 7;
    cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &b, 1, 0), 0);
    cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &b, 1, 0), 0);
    cr_assert_eq(rec.solicits, 1);
    cr_assert_eq(mtp__arp_next_deadline(&arp), MTP_ARP_RETRY_NS);
    mtp__arp_poll(&arp, MTP_ARP_RETRY_NS - 1);
    cr_assert_eq(rec.solicits, 1, "no retry before the deadline");
    mtp__arp_poll(&arp, 1 * SEC);
    cr_assert_eq(rec.solicits, 2);
    mtp__arp_poll(&arp, 2 * SEC);
    cr_assert_eq(rec.solicits, 3);
    cr_assert_eq(stats.drop_arp_unresolved, 0);
    mtp__arp_poll(&arp, 3 * SEC);
    cr_assert_eq(rec.solicits, 3, "gave up after %d requests", MTP_ARP_TRIES);
    cr_assert_eq(stats.drop_arp_unresolved, 2);
    cr_assert_eq(mtp__arp_next_deadline(&arp), UINT64_MAX);
    cr_assert_eq(rec.sent, 0);
}

Test(arp_cache, bounded_queue)
{
    uint8_t b = 1;
    for (int i = 0; i < MTP_ARP_QUEUE; i++)
        cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &b, 1, 0), 0);
    cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &b, 1, 0), -ENOBUFS);
    cr_assert_eq(stats.drop_arp_unresolved, 1);
}

Test(arp_cache, expiry)
{
    uint8_t mac[6];
    mtp__arp_learn(&arp, PEER_IP, peer_mac, 1, 0);
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, MTP_ARP_TTL_NS - 1), 0);
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, MTP_ARP_TTL_NS), -EAGAIN);
    /* A packet to an expired entry starts a new resolution. */
    uint8_t b = 1;
    cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &b, 1, MTP_ARP_TTL_NS), 0);
    cr_assert_eq(rec.solicits, 1);
    cr_assert_eq(rec.sent, 0);
}

Test(arp_cache, enqueue_to_known_sends_at_once)
{
    mtp__arp_learn(&arp, PEER_IP, peer_mac, 1, 0);
    uint8_t b = 9;
    cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, &b, 1, 5), 0);
    cr_assert_eq(rec.sent, 1);
    cr_assert_eq(rec.solicits, 0);
}

Test(arp_cache, unsolicited_traffic_policy)
{
    uint8_t mac[6];
    struct {
        const char *name;
        struct mtp_arp_repr r;
        int answer;    /* mtp__arp_input's verdict */
        int creates;   /* an entry for PEER_IP afterwards */
    } cases[] = {
        { "gratuitous request", repr(MTP_ARP_OP_REQUEST, peer_mac, PEER_IP, PEER_IP), 0, 0 },
        { "gratuitous reply", repr(MTP_ARP_OP_REPLY, peer_mac, PEER_IP, PEER_IP), 0, 0 },
        { "unsolicited reply", repr(MTP_ARP_OP_REPLY, peer_mac, PEER_IP, OWN_IP), 0, 0 },
        { "request for another", repr(MTP_ARP_OP_REQUEST, peer_mac, PEER_IP, 0x0a000009), 0, 0 },
        { "request for us", repr(MTP_ARP_OP_REQUEST, peer_mac, PEER_IP, OWN_IP), 1, 1 },
        { "probe for us", repr(MTP_ARP_OP_REQUEST, peer_mac, 0, OWN_IP), 1, 0 },
        { "claims our ip", repr(MTP_ARP_OP_REQUEST, peer_mac, OWN_IP, OWN_IP), 0, 0 },
        { "broadcast sender", repr(MTP_ARP_OP_REQUEST, mtp_eth_broadcast, PEER_IP, OWN_IP),
          0, 0 },
        { "our mac as sender", repr(MTP_ARP_OP_REQUEST, own_mac, PEER_IP, OWN_IP), 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mtp__arp_clear(&arp);
        cr_expect_eq(mtp__arp_input(&arp, &cases[i].r, 1), cases[i].answer, "%s",
                     cases[i].name);
        cr_expect_eq(mtp__arp_lookup(&arp, PEER_IP, mac, 2) == 0, cases[i].creates, "%s",
                     cases[i].name);
    }
}

Test(arp_cache, gratuitous_updates_existing_entry)
{
    uint8_t mac[6];
    mtp__arp_learn(&arp, PEER_IP, peer_mac, 1, 0);
    struct mtp_arp_repr g = repr(MTP_ARP_OP_REQUEST, peer_mac2, PEER_IP, PEER_IP);
    cr_assert_eq(mtp__arp_input(&arp, &g, 5), 0);
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, 6), 0);
    cr_assert_eq(memcmp(mac, peer_mac2, 6), 0, "moved to the announced MAC");
}

Test(arp_cache, full_cache_evicts_oldest)
{
    uint8_t mac[6];
    for (uint32_t i = 0; i < 4 * MTP_ARP_ENTRIES; i++)
        mtp__arp_learn(&arp, 0x0b000000 + i, peer_mac, 1, i);
    mtp__arp_learn(&arp, PEER_IP, peer_mac, 1, 100000);
    cr_assert_eq(mtp__arp_lookup(&arp, 0x0b000000, mac, 100001), -EAGAIN);
    cr_assert_eq(mtp__arp_lookup(&arp, 0x0b000000 + 4 * MTP_ARP_ENTRIES - 1, mac, 100001), 0);
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, 100001), 0);
}

/* A server's many on-link peers (or a flood from spoofed on-link addresses) all fit: none
 * is evicted, so no packet waits for a new resolution. */
Test(arp_cache, two_hundred_peers_stay_cached)
{
    uint8_t mac[6];
    for (uint32_t i = 0; i < 200; i++)
        mtp__arp_learn(&arp, 0x0a000100 + i, peer_mac, 1, i);
    for (uint32_t i = 0; i < 200; i++)
        cr_assert_eq(mtp__arp_lookup(&arp, 0x0a000100 + i, mac, 1000), 0, "peer %u", i);
}

/* poll looks at the entries only when one is due, and misses none. */
Test(arp_cache, poll_when_due)
{
    uint8_t b = 1, mac[6];
    mtp__arp_learn(&arp, PEER_IP, peer_mac, 1, 0);
    cr_assert_eq(mtp__arp_enqueue(&arp, 0x0a000003, &b, 1, 10), 0);
    cr_assert_eq(mtp__arp_next_deadline(&arp), 10 + MTP_ARP_RETRY_NS);
    mtp__arp_poll(&arp, 10 + MTP_ARP_RETRY_NS);
    cr_assert_eq(rec.solicits, 2);
    cr_assert_eq(mtp__arp_next_deadline(&arp), 10 + 2 * MTP_ARP_RETRY_NS);
    struct mtp_arp_repr r = repr(MTP_ARP_OP_REPLY, peer_mac2, 0x0a000003, OWN_IP);
    mtp__arp_input(&arp, &r, 20 + MTP_ARP_RETRY_NS);
    cr_assert_eq(mtp__arp_next_deadline(&arp), UINT64_MAX, "nothing pending");
    mtp__arp_poll(&arp, MTP_ARP_TTL_NS);
    cr_assert_eq(mtp__arp_lookup(&arp, PEER_IP, mac, MTP_ARP_TTL_NS), -EAGAIN, "expired");
    cr_assert_eq(mtp__arp_lookup(&arp, 0x0a000003, mac, MTP_ARP_TTL_NS), 0);
}

Test(arp_cache, kernel_table_gives_up_after_its_time_budget_even_when_polled_late)
{
    /* The XDP target asks the kernel's table every millisecond, 3000 times (3 s): more tries
     * than a byte counts, and polls that come late must not stretch the budget. */
    arp.retry_ns = 1000000;
    arp.max_tries = 3000;
    uint8_t pkt[4] = { 1 };
    cr_assert_eq(mtp__arp_enqueue(&arp, PEER_IP, pkt, sizeof pkt, 0), 0);
    uint64_t now = 0;
    for (; now < 3 * SEC - 10000000; now += 10000000) {
        mtp__arp_poll(&arp, now);
        cr_assert_eq(stats.drop_arp_unresolved, 0, "dropped early at %llu ns",
                     (unsigned long long)now);
    }
    mtp__arp_poll(&arp, 3 * SEC);
    cr_expect_eq(stats.drop_arp_unresolved, 1);
    cr_expect_eq(rec.sent, 0);
}
