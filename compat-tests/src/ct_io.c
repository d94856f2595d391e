/* ct_io — moving bytes: MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_MORE and TCP_CORK, readv/
 * writev, sendmsg/recvmsg, sendmmsg/recvmmsg, sendfile, splice, FIONREAD/SIOCINQ/SIOCOUTQ,
 * SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN after the timeout, for recv, accept and a full send
 * buffer), and a full send buffer on a non-blocking socket (EAGAIN, no byte lost). */
#include "ct.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* the peer sends "hello world" once it gets a byte */
static void greeter(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b;
    if (ct_read_n(fd, &b, 1))
        ct_write_all(fd, "hello world", 11);
    ct_drain(fd);
    close(fd);
}

static void peek_and_inq(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    char b[32] = "";
    int n = -1;
    CT_OK(ioctl(fd, FIONREAD, &n));
    CT_EQ(n, 0);
    CT_ERR(recv(fd, b, sizeof b, MSG_PEEK | MSG_DONTWAIT), EAGAIN);
    CT_TRUE(ct_write_all(fd, "g", 1));
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & POLLIN);
    for (int i = 0; i < 500 && (ioctl(fd, FIONREAD, &n), n < 11); i++)
        ct_sleep_ms(2); /* one write of 11 bytes may arrive in more than one segment */
    CT_EQ(n, 11);
    CT_OK(ioctl(fd, SIOCINQ, &n));
    CT_EQ(n, 11);
    CT_EQ(recv(fd, b, 5, MSG_PEEK), 5);
    CT_TRUE(memcmp(b, "hello", 5) == 0);
    CT_EQ(recv(fd, b, sizeof b, MSG_PEEK), 11);
    CT_EQ(recv(fd, b, 6, 0), 6);
    CT_TRUE(memcmp(b, "hello ", 6) == 0);
    CT_OK(ioctl(fd, FIONREAD, &n));
    CT_EQ(n, 5);
    CT_EQ(recv(fd, b, sizeof b, MSG_DONTWAIT), 5);
    CT_TRUE(memcmp(b, "world", 5) == 0);
    CT_ERR(recv(fd, b, sizeof b, MSG_DONTWAIT), EAGAIN);
    CT_OK(ioctl(fd, SIOCOUTQ, &n));
    for (int i = 0; i < 1000 && n > 0; i++) { /* unacknowledged bytes: 0 once acked */
        ct_sleep_ms(2);
        ioctl(fd, SIOCOUTQ, &n);
    }
    CT_EQ(n, 0);
    close(fd);
}

/* the peer sends 3000 bytes in three writes 50 ms apart once it gets a byte */
static void slow_sender(const struct ct_ctx *c)
{
    int fd = ct_peer_accept(c);
    if (fd < 0)
        return;
    char b[1000];
    if (ct_read_n(fd, b, 1)) {
        for (int i = 0; i < 3; i++) {
            memset(b, 'a' + i, sizeof b);
            ct_write_all(fd, b, sizeof b);
            ct_sleep_ms(50);
        }
    }
    ct_drain(fd);
    close(fd);
}

static void waitall(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    char *b = calloc(1, 4000);
    CT_TRUE(ct_write_all(fd, "g", 1));
    CT_EQ(recv(fd, b, 3000, MSG_WAITALL), 3000);
    CT_TRUE(b[0] == 'a' && b[1500] == 'b' && b[2999] == 'c');
    free(b);
    close(fd);
}

/* readv/writev, sendmsg/recvmsg, sendmmsg/recvmmsg, MSG_MORE and TCP_CORK against an echo */
static void vectors_more_cork(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    char a[4] = "abcd", b[6] = "efghij", r1[4], r2[6];
    struct iovec w[2] = {{a, 4}, {b, 6}}, rv[2] = {{r1, 4}, {r2, 6}};
    CT_EQ(writev(fd, w, 2), 10);
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & POLLIN);
    size_t got = 0;
    while (got < 10) { /* readv may see part of it first */
        ssize_t n = readv(fd, rv, 2);
        if (!CT_TRUE(n > 0))
            break;
        got += (size_t)n;
        for (int i = 0; i < 2 && n > 0; i++) {
            size_t k = (size_t)n < rv[i].iov_len ? (size_t)n : rv[i].iov_len;
            rv[i].iov_base = (char *)rv[i].iov_base + k;
            rv[i].iov_len -= k;
            n -= (ssize_t)k;
        }
    }
    CT_TRUE(memcmp(r1, "abcd", 4) == 0 && memcmp(r2, "efghij", 6) == 0);

    struct msghdr m = {.msg_iov = w, .msg_iovlen = 2};
    CT_EQ(sendmsg(fd, &m, 0), 10);
    char all[16] = "";
    if (ct_read_n(fd, all, 10))
        CT_TRUE(memcmp(all, "abcdefghij", 10) == 0);

    struct mmsghdr mm[2] = {{.msg_hdr = {.msg_iov = &w[0], .msg_iovlen = 1}},
                            {.msg_hdr = {.msg_iov = &w[1], .msg_iovlen = 1}}};
    CT_EQ(sendmmsg(fd, mm, 2, 0), 2);
    CT_EQ(mm[0].msg_len, 4);
    CT_EQ(mm[1].msg_len, 6);
    if (ct_read_n(fd, all, 10))
        CT_TRUE(memcmp(all, "abcdefghij", 10) == 0);

    CT_EQ(send(fd, "12", 2, MSG_MORE), 2);
    CT_EQ(send(fd, "34", 2, 0), 2);
    if (ct_read_n(fd, all, 4))
        CT_TRUE(memcmp(all, "1234", 4) == 0);

    int one = 1, zero = 0, v = -1;
    socklen_t len = sizeof v;
    int five = 5;
    CT_ERR(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, 2), EINVAL);
    CT_ERR(setsockopt(fd, IPPROTO_TCP, TCP_CORK, NULL, sizeof one), EFAULT);
    CT_OK(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &five, sizeof five));
    CT_OK(getsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, &len));
    CT_EQ(v, 1);
    CT_EQ(send(fd, "cork", 4, 0), 4);
    CT_OK(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero, sizeof zero)); /* flushes */
    v = -1;
    CT_OK(getsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, &len));
    CT_EQ(v, 0);
    if (ct_read_n(fd, all, 4))
        CT_TRUE(memcmp(all, "cork", 4) == 0);

    CT_EQ(send(fd, "mm", 2, 0), 2);
    CT_TRUE(ct_wait(fd, POLLIN, 10000) & POLLIN);
    ct_sleep_ms(20);
    char x[2][4];
    struct iovec xv[2] = {{x[0], 1}, {x[1], 1}};
    struct mmsghdr rm[2] = {{.msg_hdr = {.msg_iov = &xv[0], .msg_iovlen = 1}},
                            {.msg_hdr = {.msg_iov = &xv[1], .msg_iovlen = 1}}};
    int n = (int)CT_OK(recvmmsg(fd, rm, 2, MSG_DONTWAIT, NULL));
    CT_TRUE(n >= 1 && x[0][0] == 'm');

    CT_EQ(send(fd, "", 0, 0), 0);
    close(fd);
}

/* sendfile of 1 MB from a file and splice from a pipe, checked by a hashing peer */
static void sendfile_splice(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    size_t n = 1 << 20;
    char *buf = malloc(n), path[64];
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)(i * 7 + i / 4096);
    snprintf(path, sizeof path, "/tmp/ct_io.%d", getpid());
    int f = (int)CT_OK(open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
    CT_TRUE(write(f, buf, n) == (ssize_t)n);
    unlink(path);
    off_t off = 0;
    size_t sent = 0;
    while (sent < n) {
        ssize_t s = sendfile(fd, f, &off, n - sent);
        if (!CT_TRUE(s > 0))
            break;
        sent += (size_t)s;
    }
    CT_EQ(off, (off_t)n);
    int p[2];
    CT_OK(pipe(p));
    CT_EQ(write(p[1], buf, 65536), 65536);
    long spliced = 0;
    while (spliced < 65536) {
        ssize_t s = splice(p[0], NULL, fd, NULL, (size_t)(65536 - spliced), 0);
        if (!CT_TRUE(s > 0))
            break;
        spliced += s;
    }
    close(p[0]);
    close(p[1]);
    close(f);
    CT_OK(shutdown(fd, SHUT_WR));
    uint64_t h = ct_fnv(ct_fnv(0xcbf29ce484222325ULL, buf, n), buf, 65536);
    char want[64], got[64] = "";
    snprintf(want, sizeof want, "%ld %016llx\n", (long)n + 65536, (unsigned long long)h);
    if (ct_read_n(fd, got, strlen(want)) && !CT_TRUE(strcmp(got, want) == 0))
        ct_note("peer says %s", got);
    free(buf);
    close(fd);
}

/* SO_RCVTIMEO: recv and accept give EAGAIN after it; SO_SNDTIMEO: a full buffer likewise */
static void timeouts(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    struct timeval tv = {0, 200000}, got;
    socklen_t len = sizeof got;
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    CT_OK(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &got, &len));
    CT_TRUE(got.tv_sec == 0 && got.tv_usec >= 196000 && got.tv_usec <= 204000);
    char b[8];
    uint64_t t0 = ct_now_ms();
    CT_ERR(recv(fd, b, sizeof b, 0), EAGAIN);
    CT_TRUE(ct_now_ms() - t0 >= 190);
    tv.tv_usec = 100;
    CT_ERR(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv - 1), EINVAL);

    /* the peer never reads: fill its window and our buffer */
    tv = (struct timeval){0, 300000};
    CT_OK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    char *big = calloc(1, 1 << 20);
    long total = 0;
    for (int i = 0; i < 1000; i++) {
        t0 = ct_now_ms();
        ssize_t s = send(fd, big, 1 << 20, 0);
        if (s < 0) {
            CT_EQ(errno, EAGAIN);
            CT_TRUE(ct_now_ms() - t0 >= 290);
            break;
        }
        total += s; /* a partial count after the timeout is also what Linux gives */
    }
    CT_TRUE(total > 0);
    free(big);
    struct linger lg = {1, 0}; /* the peer never reads: a FIN would wait behind the data */
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);

    int l = ct_listen(c->lip, c->port + 1000);
    if (l >= 0) {
        tv = (struct timeval){0, 200000};
        CT_OK(setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
        t0 = ct_now_ms();
        CT_ERR(accept(l, NULL, NULL), EAGAIN);
        CT_TRUE(ct_now_ms() - t0 >= 190);
        close(l);
    }
}

/* a full send buffer on a non-blocking socket: EAGAIN, and every byte arrives in the end */
static void backpressure(const struct ct_ctx *c)
{
    int fd = ct_connect(c->pip, c->port);
    if (fd < 0)
        return;
    CT_OK(fcntl(fd, F_SETFL, O_NONBLOCK));
    size_t chunk = 1 << 16;
    char *buf = malloc(chunk);
    uint64_t h = 0xcbf29ce484222325ULL;
    long total = 0;
    bool full = false;
    uint64_t end = ct_now_ms() + 20000;
    while (total < (16 << 20) && ct_now_ms() < end) {
        memset(buf, (int)(total / (long)chunk), chunk);
        ssize_t s = send(fd, buf, chunk, 0);
        if (s < 0) {
            if (!CT_EQ(errno, EAGAIN))
                break;
            full = true;
            ct_wait(fd, POLLOUT, 1000);
            continue;
        }
        h = ct_fnv(h, buf, (size_t)s);
        total += s;
    }
    CT_TRUE(full); /* 16 MB do not fit at once: the peer reads slowly */
    CT_OK(fcntl(fd, F_SETFL, 0));
    CT_OK(shutdown(fd, SHUT_WR));
    char want[64], got[64] = "";
    snprintf(want, sizeof want, "%ld %016llx\n", total, (unsigned long long)h);
    if (ct_read_n(fd, got, strlen(want)) && !CT_TRUE(strcmp(got, want) == 0))
        ct_note("peer says %s", got);
    free(buf);
    close(fd);
}

int main(int argc, char **argv)
{
    static const struct ct_case cases[] = {
        {"MSG_PEEK, MSG_DONTWAIT, FIONREAD/SIOCINQ, SIOCOUTQ", peek_and_inq, greeter},
        {"MSG_WAITALL waits for the whole count", waitall, slow_sender},
        {"readv/writev, sendmsg, sendmmsg/recvmmsg, MSG_MORE, TCP_CORK", vectors_more_cork,
         ct_peer_echo},
        {"sendfile 1 MB and splice 64 KB, hashed by the peer", sendfile_splice, ct_peer_hash},
        {"SO_RCVTIMEO/SO_SNDTIMEO: EAGAIN after the timeout", timeouts, ct_peer_stall},
        {"non-blocking full buffer: EAGAIN, no byte lost", backpressure, ct_peer_slow_hash},
    };
    return ct_main(argc, argv, cases, sizeof cases / sizeof cases[0]);
}
