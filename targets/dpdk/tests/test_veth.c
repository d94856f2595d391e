/*
 * test_veth — the DPDK target on a veth (net_af_packet, net_af_xdp) against the kernel.
 *
 *   test_veth <iface> <our-ip> <peer-ip> <echoes> <timeout-s>
 *
 * Opens mtp_target_dpdk on <iface> (MTP_IFACE convenience: no --vdev given), prints
 * "ready <our-mac>", then answers by hand-built frames: ARP requests for <our-ip>, ICMP echo
 * requests (reply with the IPv4 checksum left to the target: MTP_OFFLOAD_IPV4_CSUM) and UDP
 * datagrams to port 7777 (echoed with both checksums left to the target). It also resolves
 * <peer-ip> with its own ARP request and prints "peer <mac>". It exits 0 once the peer is
 * resolved, <echoes> echo requests and one UDP datagram were answered; 1 on timeout.
 * When the target has a wake-up fd (net_tap), the idle loop sleeps in epoll on it alone.
 * run_veth.sh checks the other side: ping succeeds, the kernel's neighbour table holds
 * our MAC, the UDP echo comes back, the MAC we resolved is the peer's.
 */
#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "frames.h"
#include "mtp/target.h"

#define BURST 32
#define UDP_ECHO_PORT 7777

struct peer_test {
    const struct mtp_target_ops *ops;
    struct mtp_target *t;
    struct mtp_link_info link;
    uint32_t ip, peer_ip;
    int resolved, echoes, udps;
    uint8_t peer_mac[6];
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* csum_off: where MTP_OFFLOAD_L4_CSUM's field is in the L4 header */
static void send_one(struct peer_test *pt, const uint8_t *frame, uint32_t len, uint32_t offload,
                     uint16_t l3_off, uint16_t l4_off, uint16_t csum_off)
{
    struct mtp_frame f;
    CHECK(pt->ops->tx_alloc(pt->t, &f, 1) == 1, "tx_alloc gave no buffer");
    CHECK(f.cap >= len, "tx buffer of %u bytes for a %u-byte frame", f.cap, len);
    memcpy(f.data, frame, len);
    f.len = len;
    f.offload = offload;
    f.l3_off = l3_off;
    f.l4_off = l4_off;
    f.csum_off = csum_off;
    CHECK(pt->ops->tx_burst(pt->t, &f, 1) == 1, "tx_burst did not send the frame");
}

static void arp_request_peer(struct peer_test *pt)
{
    static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    static const uint8_t zero[6];
    uint8_t fr[64] = { 0 };
    arp_write(fr, 1, pt->link.mac, pt->ip, zero, pt->peer_ip, bcast);
    send_one(pt, fr, 60, 0, 0, 0, 0);
}

static void on_arp(struct peer_test *pt, const struct arp_msg *m)
{
    if (m->op == 2 && m->spa == pt->peer_ip && !pt->resolved) {
        memcpy(pt->peer_mac, m->sha, 6);
        pt->resolved = 1;
    } else if (m->op == 1 && m->tpa == pt->ip) {
        uint8_t fr[64] = { 0 };
        arp_write(fr, 2, pt->link.mac, pt->ip, m->sha, m->spa, m->sha);
        send_one(pt, fr, 60, 0, 0, 0, 0);
    }
}

/* Reply frame: Ethernet addresses swapped, IPv4 header rebuilt, L4 copied by the caller. */
static uint32_t reply_head(struct peer_test *pt, uint8_t *out, const uint8_t *in,
                           const struct ipv4_view *v, uint32_t l4_len)
{
    eth_write(out, in + 6, pt->link.mac, ETYPE_IPV4);
    ipv4_write(out + ETH_HLEN, v->proto, pt->ip, v->src, l4_len);
    return ETH_HLEN + IPV4_HLEN;
}

static void on_icmp(struct peer_test *pt, const uint8_t *in, const struct ipv4_view *v)
{
    uint8_t out[2048];
    if (v->l4_len < ICMP_HLEN || v->l4[0] != 8 || v->l4_len > sizeof(out) - 64)
        return;
    uint32_t off = reply_head(pt, out, in, v, v->l4_len);
    uint8_t *icmp = out + off;
    memcpy(icmp, v->l4, v->l4_len);
    icmp[0] = 0; /* echo reply */
    wr16(icmp + 2, 0);
    wr16(icmp + 2, csum_fold(csum_add(0, icmp, v->l4_len)));
    send_one(pt, out, off + v->l4_len, MTP_OFFLOAD_IPV4_CSUM, ETH_HLEN, ETH_HLEN + IPV4_HLEN, 0);
    pt->echoes++;
}

static void on_udp(struct peer_test *pt, const uint8_t *in, const struct ipv4_view *v)
{
    uint8_t out[2048];
    if (v->l4_len < UDP_HLEN || rd16(v->l4 + 2) != UDP_ECHO_PORT ||
        v->l4_len > sizeof(out) - 64)
        return;
    uint32_t off = reply_head(pt, out, in, v, v->l4_len);
    uint8_t *udp = out + off;
    memcpy(udp, v->l4, v->l4_len);
    wr16(udp, rd16(v->l4 + 2));      /* ports swapped */
    wr16(udp + 2, rd16(v->l4));
    wr16(udp + 6, pseudo_seed(pt->ip, v->src, 17, v->l4_len));
    send_one(pt, out, off + v->l4_len, MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM, ETH_HLEN,
             ETH_HLEN + IPV4_HLEN, 6 /* UDP's checksum field */);
    pt->udps++;
}

static void on_frame(struct peer_test *pt, const struct mtp_frame *f)
{
    struct arp_msg arp;
    struct ipv4_view v;
    if (arp_parse(f->data, f->len, &arp) == 0) {
        on_arp(pt, &arp);
    } else if (ipv4_parse(f->data, f->len, &v) == 0 && v.dst == pt->ip) {
        if (v.proto == 1)
            on_icmp(pt, f->data, &v);
        else if (v.proto == 17)
            on_udp(pt, f->data, &v);
    }
}

int main(int argc, char **argv)
{
    CHECK(argc == 6, "usage: %s <iface> <our-ip> <peer-ip> <echoes> <timeout-s>", argv[0]);
    struct peer_test pt = { .ops = &mtp_target_dpdk };
    pt.ip = ip_parse(argv[2]);
    pt.peer_ip = ip_parse(argv[3]);
    int want_echoes = atoi(argv[4]);
    uint64_t deadline = now_ms() + (uint64_t)atoi(argv[5]) * 1000;

    struct mtp_target_config cfg = { .iface = argv[1], .args = getenv("MTP_DPDK_ARGS"),
                                     .ip_proto = 17 /* L4 checksum offload for UDP */ };
    int err = pt.ops->open(&pt.t, &cfg);
    CHECK(err == 0 && pt.t, "open failed: %d", err);
    CHECK(pt.ops->link_info(pt.t, &pt.link) == 0, "link_info failed");
    CHECK(pt.link.owns_arp == 1, "owns_arp is %u", pt.link.owns_arp);
    CHECK(pt.link.mtu >= 576 && pt.link.mtu <= 65535, "mtu %u", pt.link.mtu);
    CHECK(pt.ops->port_claim(pt.t, 17, UDP_ECHO_PORT) == 0, "port_claim failed");
    CHECK(pt.ops->neigh_lookup == NULL, "the DPDK target must leave ARP to the stack");
    char mac[18];
    mac_format(pt.link.mac, mac);
    int wfd = pt.ops->wake_fd(pt.t);
    char what[160];
    pt.ops->describe(pt.t, what, sizeof(what));
    /* net_af_xdp's wake_fd is its AF_XDP socket: readable only while frames wait */
    bool level_fd = strstr(what, "AF_XDP socket") != NULL;
    unsigned empty_wakes = 0; /* epoll said readable, rx_burst found nothing */
    bool woke = false;
    printf("ready %s mtu %u wake_fd %d offload_caps %u (%s)\n", mac, pt.link.mtu, wfd,
           pt.link.offload_caps, what);
    fflush(stdout);
    int ep = -1;
    if (wfd >= 0) {
        struct epoll_event ev = { .events = EPOLLIN };
        ep = epoll_create1(0);
        CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, wfd, &ev) == 0, "epoll on wake_fd");
    }

    uint64_t next_arp = 0;
    while (!(pt.resolved && pt.echoes >= want_echoes && pt.udps >= 1)) {
        CHECK(now_ms() < deadline, "timed out: resolved %d, echoes %d/%d, udp %d",
              pt.resolved, pt.echoes, want_echoes, pt.udps);
        if (!pt.resolved && now_ms() >= next_arp) {
            arp_request_peer(&pt);
            next_arp = now_ms() + 500;
        }
        struct mtp_frame fr[BURST];
        int n = pt.ops->rx_burst(pt.t, fr, BURST);
        CHECK(n >= 0 && n <= BURST, "rx_burst returned %d", n);
        for (int i = 0; i < n; i++)
            on_frame(&pt, &fr[i]);
        pt.ops->rx_release(pt.t, fr, n);
        if (woke && n == 0)
            empty_wakes++;
        woke = false;
        if (n > 0)
            continue;
        if (ep < 0) {
            usleep(1000);
            continue;
        }
        /* Idle with a wake-up fd: sleep on it alone (until the next ARP retry while the
         * peer is unresolved). A wake_fd that never fires makes this test time out. */
        uint64_t now = now_ms();
        uint64_t until = pt.resolved ? deadline : next_arp < deadline ? next_arp : deadline;
        struct epoll_event out;
        int r = epoll_wait(ep, &out, 1, until > now ? (int)(until - now) : 0);
        if (r < 0 && errno == EINTR)
            continue; /* net_tap's SIGIO handler (its rx trigger) ran */
        CHECK(r >= 0, "epoll_wait failed");
        woke = r > 0;
    }
    printf("empty wake-ups %u\n", empty_wakes);
    /* a ticker wakes an idle caller every ms; the AF_XDP socket only when a frame is there */
    CHECK(!level_fd || empty_wakes <= 2, "the AF_XDP socket woke us %u times with no frame",
          empty_wakes);
    if (ep >= 0)
        close(ep);
    mac_format(pt.peer_mac, mac);
    printf("peer %s\n", mac);
    pt.ops->port_release(pt.t, 17, UDP_ECHO_PORT);
    pt.ops->close(pt.t);
    printf("ok: answered %d echoes and %d UDP datagrams\n", pt.echoes, pt.udps);
    return 0;
}
