/*
 * test_pool — every buffer of the target's pool reaches the wire.
 *
 *   test_pool <iface> <our-ip> <peer-ip> <peer-mac> <port>
 *
 * Opens mtp_target_dpdk (MTP_DPDK_ARGS names the device), takes every tx buffer the pool
 * gives (so each mbuf is used once, wherever it lies in memory), writes a UDP datagram to
 * <peer-ip>:<port> into each (4-byte sequence number; checksums left to the target) and
 * sends them all in bursts. Prints "sent N" (the frames the device accepted); run_pool.sh
 * checks that the kernel's socket got N datagrams.
 * net_af_xdp also reports what its kernel socket refused: its wake-up fd is the port's AF_XDP
 * socket, and XDP_STATISTICS tx_invalid_descs must stay 0 (the target's stats must say the
 * same). (DPDK 22.11's net_af_xdp
 * registers the pool as its UMEM assuming the objects lie back to back; a pool laid out
 * otherwise has mbufs outside the UMEM, whose frames the kernel drops as invalid
 * descriptors without a word: see pool_create in dpdk.c.)
 */
#include <linux/if_xdp.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "frames.h"
#include "mtp/target.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif

#define MAX_FRAMES 32768
#define BURST 32
#define PAYLOAD 32

static void mac_parse(const char *s, uint8_t m[6])
{
    unsigned v[6];
    CHECK(sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) == 6,
          "bad MAC %s", s);
    for (int i = 0; i < 6; i++)
        m[i] = (uint8_t)v[i];
}

static void datagram_write(struct mtp_frame *f, const uint8_t src_mac[6],
                           const uint8_t dst_mac[6], uint32_t src, uint32_t dst, uint16_t port,
                           uint32_t seq)
{
    uint32_t l4_len = UDP_HLEN + PAYLOAD;
    CHECK(f->cap >= ETH_HLEN + IPV4_HLEN + l4_len, "tx buffer of %u bytes", f->cap);
    eth_write(f->data, dst_mac, src_mac, ETYPE_IPV4);
    ipv4_write(f->data + ETH_HLEN, 17, src, dst, l4_len);
    uint8_t *udp = f->data + ETH_HLEN + IPV4_HLEN;
    wr16(udp, port);
    wr16(udp + 2, port);
    wr16(udp + 4, (uint16_t)l4_len);
    wr16(udp + 6, pseudo_seed(src, dst, 17, l4_len));
    memset(udp + UDP_HLEN, 0, PAYLOAD);
    wr32(udp + UDP_HLEN, seq);
    f->len = ETH_HLEN + IPV4_HLEN + l4_len;
    f->offload = MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM;
    f->l3_off = ETH_HLEN;
    f->l4_off = ETH_HLEN + IPV4_HLEN;
    f->csum_off = 6;
}

/* What the AF_XDP socket behind the port refused, or -1 when the fd is no AF_XDP socket. */
static long long xsk_tx_invalid(int fd)
{
    struct xdp_statistics st;
    socklen_t len = sizeof(st);
    if (fd < 0 || getsockopt(fd, SOL_XDP, XDP_STATISTICS, &st, &len) != 0)
        return -1;
    return (long long)st.tx_invalid_descs;
}

int main(int argc, char **argv)
{
    CHECK(argc == 6, "usage: %s <iface> <our-ip> <peer-ip> <peer-mac> <port>", argv[0]);
    const struct mtp_target_ops *ops = &mtp_target_dpdk;
    uint32_t ip = ip_parse(argv[2]), peer_ip = ip_parse(argv[3]);
    uint8_t peer_mac[6];
    mac_parse(argv[4], peer_mac);
    uint16_t port = (uint16_t)atoi(argv[5]);

    struct mtp_target *t = NULL;
    struct mtp_target_config cfg = { .iface = argv[1], .args = getenv("MTP_DPDK_ARGS"),
                                     .ip_proto = 17 };
    int err = ops->open(&t, &cfg);
    CHECK(err == 0 && t, "open failed: %d", err);
    struct mtp_link_info link;
    CHECK(ops->link_info(t, &link) == 0, "link_info failed");
    char what[160];
    ops->describe(t, what, sizeof(what));
    bool af_xdp = strstr(what, "AF_XDP socket") != NULL;
    int xsk = af_xdp ? ops->wake_fd(t) : -1;
    long long invalid_before = xsk_tx_invalid(xsk);
    CHECK(!af_xdp || invalid_before == 0, "XDP_STATISTICS on the AF_XDP socket: %lld",
          invalid_before);

    /* every buffer the pool has: each mbuf carries one datagram */
    static struct mtp_frame f[MAX_FRAMES];
    int n = 0, got;
    while (n < MAX_FRAMES &&
           (got = ops->tx_alloc(t, f + n, MAX_FRAMES - n < 64 ? MAX_FRAMES - n : 64)) > 0)
        n += got;
    CHECK(n >= 1024, "the pool gave only %d buffers", n);
    for (int i = 0; i < n; i++)
        datagram_write(&f[i], link.mac, peer_mac, ip, peer_ip, port, (uint32_t)i);

    int sent = 0;
    for (int i = 0; i < n; i += BURST) {
        int k = n - i < BURST ? n - i : BURST;
        sent += ops->tx_burst(t, f + i, k);
        usleep(50); /* the kernel's socket empties its queue meanwhile */
    }
    usleep(100000);
    long long invalid = xsk_tx_invalid(xsk);
    printf("buffers %d sent %d tx_invalid_descs %lld (%s)\n", n, sent, invalid, what);
    fflush(stdout);
    CHECK(!af_xdp || invalid == 0,
          "the AF_XDP socket refused %lld of %d frames as invalid descriptors", invalid, sent);
    /* the target's own counters (mtpstat, mtpcat -v) say the same */
    struct mtp_target_stat ts[32];
    int ns = ops->stats(t, ts, 32);
    long long reported = -1;
    for (int i = 0; i < ns; i++)
        if (!strcmp(ts[i].name, "xsk_tx_invalid"))
            reported = (long long)ts[i].value;
    CHECK(reported == invalid, "stats: xsk_tx_invalid %lld, XDP_STATISTICS %lld", reported,
          invalid);
    ops->close(t);
    return 0;
}
