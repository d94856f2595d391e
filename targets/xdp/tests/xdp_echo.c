/*
 * xdp_echo.c — exercises the AF_XDP target without a transport program: opens it on IFACE
 * with the hook built from a test fixture (a UDP-numbered toy protocol), claims PORT, checks
 * the placeholder socket, link info and neighbour lookup, then echoes every datagram sent to
 * PORT back to its sender (MACs, addresses and ports swapped, checksums recomputed) until a
 * datagram "QUIT" arrives. Prints its counters and the hook's.
 *
 *   xdp_echo IFACE HOOK_OBJ PORT PEER_IP PEER_MAC [--hold | --queues=N | --pin=PORT2:PEER_PORT]
 *
 * --hold: stop after "READY" and wait to be killed (the crash-recovery test).
 * --queues=N: one target per rx queue 0..N-1 (sharing the hook and the port), all served.
 * --pin=PORT2:PEER_PORT: flow_claim the peer's flow from PEER_PORT to PORT2 (a port another
 * process serves) and echo it too.
 * Exits non-zero on any failed check; gives up after 60 s without QUIT.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "mtp/target.h"
#include "mtp_xdp.h"

#define ETH_LEN 14
#define IP_PROTO_UDP_NUMBER 17 /* the fixture protocol's number */

static int fail(const char *msg, int err)
{
    fprintf(stderr, "xdp_echo: FAIL: %s%s%s\n", msg, err ? ": " : "", err ? strerror(-err) : "");
    return 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t acc)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        acc += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        acc += (uint32_t)p[len - 1] << 8;
    return acc;
}

static uint16_t fold(uint32_t acc)
{
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return (uint16_t)~acc;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Builds the echo of `in` (a well-formed datagram to our port) into `out`; returns its
 * length, 0 if `in` is not an echo request, -1 for "QUIT". */
static uint16_t pinned_port; /* --pin: a port of another process whose flow we claimed */

static int echo_build(const uint8_t *in, uint32_t len, uint16_t port, uint8_t *out, uint32_t cap)
{
    if (len < ETH_LEN + 20 + 8 || get16(in + 12) != 0x0800)
        return 0;
    const uint8_t *ip = in + ETH_LEN;
    uint32_t ihl = (ip[0] & 15u) * 4;
    uint32_t tot = get16(ip + 2);
    if (ihl < 20 || tot < ihl + 8 || ETH_LEN + tot > len || ip[9] != IP_PROTO_UDP_NUMBER)
        return 0;
    const uint8_t *l4 = ip + ihl;
    uint32_t ulen = get16(l4 + 4);
    uint16_t dport = get16(l4 + 2);
    if ((dport != port && (!pinned_port || dport != pinned_port)) || ulen < 8 || ulen > tot - ihl)
        return 0;
    if (ulen - 8 == 4 && !memcmp(l4 + 8, "QUIT", 4))
        return -1;
    uint32_t out_len = ETH_LEN + 20 + ulen;
    if (out_len > cap)
        return 0;
    memcpy(out, in + 6, 6); /* destination = the sender */
    memcpy(out + 6, in, 6);
    put16(out + 12, 0x0800);
    uint8_t *oip = out + ETH_LEN;
    memset(oip, 0, 20);
    oip[0] = 0x45;
    put16(oip + 2, (uint16_t)(20 + ulen));
    oip[8] = 64;
    oip[9] = IP_PROTO_UDP_NUMBER;
    memcpy(oip + 12, ip + 16, 4);
    memcpy(oip + 16, ip + 12, 4);
    put16(oip + 10, fold(sum16(oip, 20, 0)));
    uint8_t *ol4 = oip + 20;
    memcpy(ol4, l4 + 2, 2);
    memcpy(ol4 + 2, l4, 2);
    put16(ol4 + 4, (uint16_t)ulen);
    put16(ol4 + 6, 0);
    memcpy(ol4 + 8, l4 + 8, ulen - 8);
    uint32_t acc = sum16(oip + 12, 8, 0) + IP_PROTO_UDP_NUMBER + ulen;
    uint16_t c = fold(sum16(ol4, ulen, acc));
    put16(ol4 + 6, c ? c : 0xffff);
    return (int)out_len;
}

static int listen_on(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(fd, 4) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* A TCP listener of this process on the port (libmtp.so's application socket, inherited by a
 * forked worker) stands in for the placeholder a claim cannot bind; an active open's claim
 * (port_claim_excl) still refuses a port anything holds. */
static int check_own_listener(const struct mtp_target_ops *ops, struct mtp_target *t,
                              uint16_t port)
{
    int l = listen_on(port);
    if (l < 0)
        return fail("listen for the own-listener check", -errno);
    int err = ops->port_claim_excl(t, IPPROTO_TCP, port);
    if (err != -EADDRINUSE) {
        close(l);
        return fail("port_claim_excl of a port a listener holds did not say EADDRINUSE", err);
    }
    err = ops->port_claim(t, IPPROTO_TCP, port);
    if (err) {
        close(l);
        return fail("port_claim of a port this process's own listener holds", err);
    }
    ops->port_release(t, IPPROTO_TCP, port);
    close(l);
    return 0;
}

/* A forked child frees its copy of the targets (abandon) and exits: the parent's port stays
 * claimed and the echo that follows shows its socket, maps and hook untouched. */
static int check_abandon(const struct mtp_target_ops *ops, struct mtp_target **t, int nq,
                         uint16_t port)
{
    fflush(stdout);
    pid_t child = fork();
    if (child < 0)
        return fail("fork", -errno);
    if (child == 0) {
        for (int q = 0; q < nq; q++)
            ops->abandon(t[q]);
        _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
        return fail("abandon in a forked child", 0);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    int rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
    if (rc == 0)
        return fail("the port was released by a child's abandon", 0);
    return 0;
}

static int check_claims(const struct mtp_target_ops *ops, struct mtp_target *t, uint16_t port)
{
    int err = ops->port_claim(t, IP_PROTO_UDP_NUMBER, port);
    if (err)
        return fail("port_claim", err);
    if (ops->port_claim(t, IP_PROTO_UDP_NUMBER, port) != -EADDRINUSE)
        return fail("second port_claim of the same port did not say EADDRINUSE", 0);
    /* The placeholder socket keeps the kernel from handing the port out. */
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    int rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    int bind_errno = errno;
    close(fd);
    if (rc == 0 || bind_errno != EADDRINUSE)
        return fail("kernel could bind a claimed port", 0);
    /* release frees it for the kernel; claim again for the echo */
    uint16_t other = (uint16_t)(port + 100);
    if ((err = ops->port_claim(t, IP_PROTO_UDP_NUMBER, other)))
        return fail("port_claim (second port)", err);
    ops->port_release(t, IP_PROTO_UDP_NUMBER, other);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    sin.sin_port = htons(other);
    rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
    if (rc != 0)
        return fail("port not free for the kernel after port_release", -errno);
    return check_own_listener(ops, t, (uint16_t)(port + 200));
}

static int check_neigh(const struct mtp_target_ops *ops, struct mtp_target *t, const char *ip_s,
                       const char *mac_s)
{
    struct in_addr ip;
    uint8_t want[6], got[6];
    if (inet_pton(AF_INET, ip_s, &ip) != 1 ||
        sscanf(mac_s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &want[0], &want[1], &want[2], &want[3],
               &want[4], &want[5]) != 6)
        return fail("bad PEER_IP or PEER_MAC argument", 0);
    uint64_t deadline = now_ms() + 5000;
    int err, again = 0;
    while ((err = ops->neigh_lookup(t, ntohl(ip.s_addr), got)) == -EAGAIN && now_ms() < deadline) {
        again++;
        usleep(20000);
    }
    if (err)
        return fail("neigh_lookup", err);
    if (memcmp(got, want, 6))
        return fail("neigh_lookup returned the wrong MAC", 0);
    printf("neigh: %s is %s (after %d EAGAIN)\n", ip_s, mac_s, again);
    /* a silent on-link address stays "resolving"; one without a route fails at once */
    uint32_t silent = (ntohl(ip.s_addr) & ~0xffu) | 0x63u; /* .99 of the peer's /24 */
    if ((err = ops->neigh_lookup(t, silent, got)) != -EAGAIN)
        return fail("neigh_lookup of a silent on-link address: want EAGAIN", err);
    err = ops->neigh_lookup(t, 0xc0000201u /* 192.0.2.1, TEST-NET-1: no route here */, got);
    if (err == 0 || err == -EAGAIN)
        return fail("neigh_lookup without a route: want an error", err);
    printf("neigh: silent on-link host -> EAGAIN, no route -> %s\n", strerror(-err));
    return 0;
}

#define MAX_Q 8

static int serve(const struct mtp_target_ops *ops, struct mtp_target **t, int nq, char **argv,
                 uint16_t port, int hold, const char *opt);

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: xdp_echo IFACE HOOK_OBJ PORT PEER_IP PEER_MAC "
                        "[--hold | --queues=N | --pin=PORT2:PEER_PORT]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const struct mtp_target_ops *ops = &mtp_target_xdp;
    uint16_t port = (uint16_t)atoi(argv[3]);
    int hold = argc > 6 && !strcmp(argv[6], "--hold");
    int nq = argc > 6 && !strncmp(argv[6], "--queues=", 9) ? atoi(argv[6] + 9) : 1;
    if (nq < 1 || nq > MAX_Q)
        return fail("--queues out of range", 0);
    struct mtp_target *t[MAX_Q] = {0};
    int rc = 0;
    for (int q = 0; q < nq && !rc; q++) {
        struct mtp_target_config cfg = {
            .iface = argv[1], .args = argv[2], .queue = (uint32_t)q,
            .ip_proto = IP_PROTO_UDP_NUMBER, .steer_port_off = 2,
        };
        int err = ops->open(&t[q], &cfg);
        if (err)
            rc = fail("open", err);
    }
    if (!rc)
        rc = serve(ops, t, nq, argv, port, hold, argc > 6 ? argv[6] : "");
    for (int q = nq; q-- > 0;)
        if (t[q])
            ops->close(t[q]);
    return rc;
}

/* Echoes one burst of queue `t`; sets *quit on "QUIT". Returns frames received. */
static int echo_burst(const struct mtp_target_ops *ops, struct mtp_target *t, uint16_t port,
                      uint64_t *echoed, uint64_t *ignored, uint64_t *tx_drop, int *quit)
{
    struct mtp_frame rx[64], tx[64];
    int n = ops->rx_burst(t, rx, 64), used = 0;
    for (int i = 0; i < n; i++) {
        static uint8_t buf[4096];
        int len = echo_build(rx[i].data, rx[i].len, port, buf, sizeof(buf));
        if (len < 0)
            *quit = 1;
        else if (len == 0)
            (*ignored)++;
        else if (ops->tx_alloc(t, &tx[used], 1) == 1) {
            memcpy(tx[used].data, buf, (size_t)len);
            tx[used++].len = (uint32_t)len;
        } else
            (*tx_drop)++;
    }
    if (n > 0)
        ops->rx_release(t, rx, n);
    int sent = used ? ops->tx_burst(t, tx, used) : 0;
    *echoed += (uint64_t)sent;
    *tx_drop += (uint64_t)(used - sent);
    return n;
}

static int serve(const struct mtp_target_ops *ops, struct mtp_target **t, int nq, char **argv,
                 uint16_t port, int hold, const char *opt)
{
    int err;
    struct mtp_link_info li;
    if ((err = ops->link_info(t[0], &li)))
        return fail("link_info", err);
    if (!li.ipv4 || li.owns_arp || !li.mtu || li.ifindex <= 0)
        return fail("link_info: want the kernel's IPv4 address, owns_arp=0, an MTU", 0);
    struct in_addr a = {htonl(li.ipv4)};
    printf("link: %s ip %s/%u mtu %u mode %s queues %d\n", argv[1], inet_ntoa(a),
           li.prefix_len, li.mtu, mtp_xdp_mode(t[0]), nq);
    char desc[256];
    ops->describe(t[0], desc, sizeof desc);
    printf("target: %s\n", desc);
    if (check_claims(ops, t[0], port) || check_neigh(ops, t[0], argv[4], argv[5]))
        return 1;
    for (int q = 1; q < nq; q++) /* the other queues share the port */
        if ((err = ops->port_claim(t[q], IP_PROTO_UDP_NUMBER, port)))
            return fail("port_claim on another queue", err);
    if ((err = check_abandon(ops, t, nq, port)))
        return err;
    const char *pin = !strncmp(opt, "--pin=", 6) ? opt + 6 : NULL;
    if (pin) { /* --pin=PORT:PEER_PORT: the peer's flow to PORT (another process's) is ours */
        unsigned lp = 0, rp = 0;
        if (sscanf(pin, "%u:%u", &lp, &rp) != 2 || !lp || lp > 65535 || !rp || rp > 65535)
            return fail("--pin=PORT:PEER_PORT", 0);
        pinned_port = (uint16_t)lp;
        err = ops->flow_claim(t[0], IP_PROTO_UDP_NUMBER, (uint16_t)lp, ntohl(inet_addr(argv[4])),
                              (uint16_t)rp);
        if (err)
            return fail("flow_claim", err);
    }
    printf("READY\n");
    if (hold)
        for (;;)
            pause();

    uint64_t echoed = 0, ignored = 0, tx_drop = 0, per_q[MAX_Q] = {0};
    uint64_t deadline = now_ms() + 60000;
    int quit = 0;
    struct pollfd pfd[MAX_Q];
    for (int q = 0; q < nq; q++)
        pfd[q] = (struct pollfd){.fd = ops->wake_fd(t[q]), .events = POLLIN};
    while (!quit) {
        if (now_ms() > deadline)
            return fail("no QUIT within 60 s", 0);
        int got = 0;
        for (int q = 0; q < nq; q++) {
            int n = echo_burst(ops, t[q], port, &echoed, &ignored, &tx_drop, &quit);
            per_q[q] += (uint64_t)n;
            got += n;
        }
        if (!got)
            poll(pfd, (nfds_t)nq, 100);
    }
    /* give the last echoes time to leave (completions), then report */
    for (int i = 0; i < 10; i++) {
        for (int q = 0; q < nq; q++)
            echo_burst(ops, t[q], port, &echoed, &ignored, &tx_drop, &quit);
        usleep(10000);
    }
    struct mtp_xdp_stats st;
    if ((err = mtp_xdp_stats_read(t[0], &st)))
        return fail("reading hook stats", err);
    printf("echoed=%llu ignored=%llu tx_drop=%llu", (unsigned long long)echoed,
           (unsigned long long)ignored, (unsigned long long)tx_drop);
    for (int s = 0; s < MTP_XDP_STAT_COUNT; s++)
        printf(" xdp_%s=%llu", mtp_xdp_stat_name((enum mtp_xdp_stat)s),
               (unsigned long long)st.v[s]);
    for (int q = 0; q < nq; q++)
        printf(" rx_q%d=%llu", q, (unsigned long long)per_q[q]);
    printf("\n");
    return 0;
}
