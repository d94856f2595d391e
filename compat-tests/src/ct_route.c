/* ct_route — which sockets an application gets: AF_INET streams to the peer, AF_INET6
 * dual-stack listeners and clients carrying IPv4, a 0.0.0.0 listener taking connections from
 * two interfaces, and the side channels that stay in the kernel in the same process (AF_UNIX,
 * UDP, real IPv6, TCP on 127.0.0.1 when the stack runs elsewhere, pipes, files).
 * For the runner it prints "# path <what>: kernel|user" — whether the kernel's TCP table
 * (/proc/net/tcp) holds the connection — so a run under libmtp.so can check the routing. */
#include "ct.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Is this connection (local port, remote port) in the kernel's TCP tables? A listener on
 * the same port does not count: only an entry with both ports. */
static bool kernel_has_conn(int lport, int rport)
{
    const char *files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    char line[512];
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            char local[64], remote[64];
            if (sscanf(line, " %*d: %63s %63s", local, remote) != 2)
                continue;
            char *lp = strrchr(local, ':'), *rp = strrchr(remote, ':');
            if (lp && rp && strtol(lp + 1, NULL, 16) == lport &&
                strtol(rp + 1, NULL, 16) == rport) {
                fclose(f);
                return true;
            }
        }
        fclose(f);
    }
    return false;
}

static int port_of(const struct sockaddr_storage *a)
{
    return ntohs(a->ss_family == AF_INET ? ((const struct sockaddr_in *)a)->sin_port
                                         : ((const struct sockaddr_in6 *)a)->sin6_port);
}

static void report_path(const char *what, int fd)
{
    struct sockaddr_storage l, r;
    socklen_t len = sizeof l, rlen = sizeof r;
    if (getsockname(fd, (struct sockaddr *)&l, &len) != 0 ||
        getpeername(fd, (struct sockaddr *)&r, &rlen) != 0)
        return;
    ct_note("path %s: %s", what, kernel_has_conn(port_of(&l), port_of(&r)) ? "kernel" : "user");
}

static void expect_v4(const struct sockaddr_in *a, const char *ip, int port)
{
    char s[INET_ADDRSTRLEN] = "";
    CT_EQ(a->sin_family, AF_INET);
    inet_ntop(AF_INET, &a->sin_addr, s, sizeof s);
    if (!CT_TRUE(strcmp(s, ip) == 0))
        ct_note("address %s, want %s", s, ip);
    if (port)
        CT_EQ(ntohs(a->sin_port), port);
}

static void roundtrip(int fd, const char *msg)
{
    char buf[64] = "";
    size_t n = strlen(msg);
    if (ct_write_all(fd, msg, n) && ct_read_n(fd, buf, n))
        CT_TRUE(memcmp(buf, msg, n) == 0);
}

/* an AF_INET stream to the peer: addresses, SO_DOMAIN/SO_TYPE/SO_PROTOCOL, data */
static void inet_stream(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (CT_OK(getsockname(fd, (struct sockaddr *)&a, &len)) == 0) {
        CT_EQ(len, sizeof a);
        expect_v4(&a, c->lip, 0);
        CT_TRUE(ntohs(a.sin_port) >= 1024);
    }
    len = sizeof a;
    if (CT_OK(getpeername(fd, (struct sockaddr *)&a, &len)) == 0)
        expect_v4(&a, c->pip, c->port);
    int v = -1;
    len = sizeof v;
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len));
    CT_EQ(v, AF_INET);
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len));
    CT_EQ(v, SOCK_STREAM);
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len));
    CT_EQ(v, IPPROTO_TCP);
    roundtrip(fd, "inet stream");
    report_path("inet-peer", fd);
    close(fd);
}

/* a listener on [::] (V6ONLY off, the default) takes IPv4 connections as ::ffff:a.b.c.d */
static void dual_stack_listener(const struct ct_ctx *c)
{
    int l = (int)CT_OK(socket(AF_INET6, SOCK_STREAM, 0)), v = -1, one = 1;
    socklen_t len = sizeof v;
    CT_OK(getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v, &len));
    CT_EQ(v, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)c->port),
                             .sin6_addr = IN6ADDR_ANY_INIT};
    if (CT_OK(bind(l, (struct sockaddr *)&a, sizeof a)) < 0 || CT_OK(listen(l, 8)) < 0)
        goto out;
    int fd = ct_accept(l);
    if (fd < 0)
        goto out;
    len = sizeof a;
    char s[INET6_ADDRSTRLEN], want[64];
    if (CT_OK(getpeername(fd, (struct sockaddr *)&a, &len)) == 0) {
        CT_EQ(a.sin6_family, AF_INET6);
        inet_ntop(AF_INET6, &a.sin6_addr, s, sizeof s);
        snprintf(want, sizeof want, "::ffff:%s", c->pip);
        if (!CT_TRUE(strcmp(s, want) == 0))
            ct_note("peer %s, want %s", s, want);
    }
    len = sizeof a;
    if (CT_OK(getsockname(fd, (struct sockaddr *)&a, &len)) == 0) {
        inet_ntop(AF_INET6, &a.sin6_addr, s, sizeof s);
        snprintf(want, sizeof want, "::ffff:%s", c->lip);
        if (!CT_TRUE(strcmp(s, want) == 0))
            ct_note("local %s, want %s", s, want);
        CT_EQ(ntohs(a.sin6_port), c->port);
    }
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len));
    CT_EQ(v, AF_INET6);
    char buf[5];
    if (ct_read_n(fd, buf, 5))
        CT_TRUE(memcmp(buf, "hello", 5) == 0);
    report_path("inet6-dual-stack-accepted", fd);
    close(fd);
out:
    close(l);
}

/* an AF_INET6 client reaching the IPv4 peer through a v4-mapped address */
static void v4_mapped_client(const struct ct_ctx *c)
{
    int fd = (int)CT_OK(socket(AF_INET6, SOCK_STREAM, 0));
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)c->port)};
    char mapped[64];
    snprintf(mapped, sizeof mapped, "::ffff:%s", c->pip);
    inet_pton(AF_INET6, mapped, &a.sin6_addr);
    uint64_t end = ct_now_ms() + 10000;
    while (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (!CT_TRUE(errno == ECONNREFUSED && ct_now_ms() < end))
            goto out;
        close(fd);
        fd = socket(AF_INET6, SOCK_STREAM, 0);
        ct_sleep_ms(20);
    }
    roundtrip(fd, "mapped");
    report_path("inet6-v4-mapped-client", fd);
out:
    close(fd);
}

/* a 0.0.0.0 listener takes the peer's connection and one from 127.0.0.1 in this process */
static void any_listener_two_paths(const struct ct_ctx *c)
{
    int l = ct_listen("0.0.0.0", c->port);
    if (l < 0)
        return;
    int fd = ct_accept(l); /* the peer's */
    if (fd >= 0) {
        char buf[5];
        if (ct_read_n(fd, buf, 5))
            CT_TRUE(memcmp(buf, "hello", 5) == 0);
        report_path("any-listener-from-peer", fd);
        close(fd);
    }
    int k = ct_connect("127.0.0.1", c->port);
    int a = ct_accept(l);
    if (k >= 0 && a >= 0) {
        CT_TRUE(ct_write_all(k, "lo", 2));
        char buf[2];
        if (ct_read_n(a, buf, 2))
            CT_TRUE(memcmp(buf, "lo", 2) == 0);
        report_path("any-listener-from-127.0.0.1", k);
    }
    close(k);
    close(a);
    close(l);
}

/* the side channels of one process: AF_UNIX pair and path socket, UDP, TCP on 127.0.0.1 */
static void side_channels(const struct ct_ctx *c)
{
    int sv[2];
    if (CT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) == 0) {
        char b[4] = "";
        CT_EQ(write(sv[0], "unix", 4), 4);
        CT_EQ(read(sv[1], b, 4), 4);
        CT_TRUE(memcmp(b, "unix", 4) == 0);
        close(sv[0]);
        close(sv[1]);
    }
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "/tmp/ct_route.%d.sock", getpid());
    unlink(un.sun_path);
    int ul = (int)CT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    if (CT_OK(bind(ul, (struct sockaddr *)&un, sizeof un)) == 0 && CT_OK(listen(ul, 1)) == 0) {
        int uc = (int)CT_OK(socket(AF_UNIX, SOCK_STREAM, 0));
        CT_OK(connect(uc, (struct sockaddr *)&un, sizeof un));
        int ua = ct_accept(ul);
        if (ua >= 0) {
            char b[4];
            CT_EQ(write(uc, "path", 4), 4);
            if (ct_read_n(ua, b, 4))
                CT_TRUE(memcmp(b, "path", 4) == 0);
            close(ua);
        }
        close(uc);
    }
    close(ul);
    unlink(un.sun_path);

    int u1 = (int)CT_OK(socket(AF_INET, SOCK_DGRAM, 0)), u2 = (int)CT_OK(socket(AF_INET, SOCK_DGRAM, 0));
    struct sockaddr_in ua = ct_sin("127.0.0.1", c->port);
    if (CT_OK(bind(u1, (struct sockaddr *)&ua, sizeof ua)) == 0) {
        CT_EQ(sendto(u2, "dgram", 5, 0, (struct sockaddr *)&ua, sizeof ua), 5);
        char b[16];
        CT_TRUE(ct_wait(u1, POLLIN, 5000) & POLLIN);
        CT_EQ(recv(u1, b, sizeof b, 0), 5);
        int v;
        socklen_t len = sizeof v;
        CT_OK(getsockopt(u1, SOL_SOCKET, SO_TYPE, &v, &len));
        CT_EQ(v, SOCK_DGRAM);
    }
    close(u1);
    close(u2);

    int l = ct_listen("127.0.0.1", c->port);
    if (l >= 0) {
        int k = ct_connect("127.0.0.1", c->port), a = ct_accept(l);
        if (k >= 0 && a >= 0) {
            CT_TRUE(ct_write_all(k, "loop", 4));
            char b[4];
            if (ct_read_n(a, b, 4))
                CT_TRUE(memcmp(b, "loop", 4) == 0);
            report_path("tcp-127.0.0.1", k);
        }
        close(k);
        close(a);
        close(l);
    }
}

/* real IPv6 stays with the kernel (skipped where the namespace has no ::1) */
static void ipv6_loopback(const struct ct_ctx *c)
{
    int l = socket(AF_INET6, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)c->port),
                             .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0) {
        ct_note("SKIP: no ::1 here (%s)", strerror(errno));
        close(l);
        return;
    }
    CT_OK(listen(l, 1));
    int k = (int)CT_OK(socket(AF_INET6, SOCK_STREAM, 0));
    CT_OK(connect(k, (struct sockaddr *)&a, sizeof a));
    int s = ct_accept(l);
    if (k >= 0 && s >= 0) {
        CT_TRUE(ct_write_all(k, "six", 3));
        char b[3];
        if (ct_read_n(s, b, 3))
            CT_TRUE(memcmp(b, "six", 3) == 0);
        report_path("tcp-::1", k);
    }
    close(k);
    close(s);
    close(l);
}

/* what is not a socket passes through read/write untouched; wrong protocols are refused */
static void files_pipes_protocols(const struct ct_ctx *c)
{
    (void)c;
    int p[2];
    if (CT_OK(pipe(p)) == 0) {
        char b[4];
        CT_EQ(write(p[1], "pipe", 4), 4);
        CT_EQ(read(p[0], b, 4), 4);
        close(p[0]);
        close(p[1]);
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/ct_route.%d.file", getpid());
    int f = (int)CT_OK(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
    char b[4];
    CT_EQ(write(f, "file", 4), 4);
    CT_EQ(pread(f, b, 4, 0), 4);
    CT_TRUE(memcmp(b, "file", 4) == 0);
    close(f);
    unlink(path);
    CT_ERR(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
    int s = (int)CT_OK(socket(AF_INET, SOCK_STREAM, IPPROTO_TCP));
    close(s);
    CT_ERR(socket(12345, SOCK_STREAM, 0), EAFNOSUPPORT);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"AF_INET stream: addresses, SO_DOMAIN/TYPE/PROTOCOL, data", inet_stream, ct_peer_echo},
        {"AF_INET6 [::] listener takes IPv4 as ::ffff:a.b.c.d", dual_stack_listener, ct_peer_hello},
        {"AF_INET6 client to a v4-mapped address", v4_mapped_client, ct_peer_echo},
        {"0.0.0.0 listener: the peer and 127.0.0.1", any_listener_two_paths, ct_peer_hello},
        {"side channels: AF_UNIX, UDP, TCP on 127.0.0.1", side_channels, NULL},
        {"real IPv6 on ::1", ipv6_loopback, NULL},
        {"pipes, files; wrong protocol and family refused", files_pipes_protocols, NULL},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
