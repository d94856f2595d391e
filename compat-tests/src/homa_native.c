/*
 * homa_native.c — a native Homa application, written to HomaModule's socket conventions
 * (socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA), SO_HOMA_RCVBUF, sendmsg/recvmsg with
 * homa_sendmsg_args / homa_recvmsg_args in msg_control; preload/homa_uapi.h), for libmtp.so
 * with MTP_PROTO=homa on both ends (compat-tests/apps/homa_native.sh).
 *
 *   homa_native serve PORT      echo server: answers every request with its bytes reversed
 *   homa_native check IP PORT   requests of 0 B .. 1 MB one at a time, then 16 at once
 *                               (cookies pair them with their responses); every byte checked
 * Prints "ok ..." lines; exit status 0 when every check passed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "homa_uapi.h"

#define REGION (64u * HOMA_BPAGE_SIZE) /* 4 MB of bpages */

static uint8_t *region;

static int homa_socket(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA);
    if (fd < 0) {
        perror("socket(AF_INET, SOCK_DGRAM, IPPROTO_HOMA)");
        exit(1);
    }
    if (port) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) {
            perror("bind");
            exit(1);
        }
    }
    region = mmap(NULL, REGION, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct homa_rcvbuf_args rb = {.start = (uintptr_t)region, .length = REGION};
    if (region == MAP_FAILED || setsockopt(fd, IPPROTO_HOMA, SO_HOMA_RCVBUF, &rb, sizeof rb) < 0) {
        perror("SO_HOMA_RCVBUF");
        exit(1);
    }
    return fd;
}

/* The next message: its length (bytes copied to out), its id/cookie/peer in *a and *from. */
static ssize_t receive(int fd, struct homa_recvmsg_args *a, struct sockaddr_in *from,
                       uint8_t *out)
{
    struct msghdr m = {.msg_name = from, .msg_namelen = sizeof *from, .msg_control = a,
                       .msg_controllen = sizeof *a};
    ssize_t n = recvmsg(fd, &m, 0);
    for (uint32_t i = 0; n > 0 && i < a->num_bpages; i++) {
        size_t off = (size_t)i * HOMA_BPAGE_SIZE;
        size_t k = (size_t)n - off < HOMA_BPAGE_SIZE ? (size_t)n - off : HOMA_BPAGE_SIZE;
        memcpy(out + off, region + a->bpage_offsets[i], k);
    }
    return n; /* a's bpages go back with the next recvmsg */
}

static int send_msg(int fd, const struct sockaddr_in *to, struct homa_sendmsg_args *a,
                    const uint8_t *buf, size_t len)
{
    struct iovec v = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr m = {.msg_name = (void *)to, .msg_namelen = sizeof *to, .msg_iov = &v,
                       .msg_iovlen = 1, .msg_control = a, .msg_controllen = sizeof *a};
    return (int)sendmsg(fd, &m, 0);
}

static _Noreturn void serve(uint16_t port)
{
    int fd = homa_socket(port);
    uint8_t *in = malloc(HOMA_MAX_MESSAGE_LENGTH), *out = malloc(HOMA_MAX_MESSAGE_LENGTH);
    struct homa_recvmsg_args a;
    memset(&a, 0, sizeof a);
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        struct sockaddr_in from;
        a.id = 0;
        ssize_t n = receive(fd, &a, &from, in);
        if (n < 0) {
            perror("recvmsg");
            continue;
        }
        for (ssize_t i = 0; i < n; i++)
            out[i] = in[n - 1 - i];
        struct homa_sendmsg_args s = {.id = a.id};
        if (send_msg(fd, &from, &s, out, (size_t)n) < 0)
            perror("sendmsg (response)");
    }
}

static uint8_t pattern(uint64_t seed, size_t i) { return (uint8_t)((i * 131 + seed * 7919) >> 3); }

static int fails;

static void expect(int ok, const char *what, size_t len)
{
    printf("%s - %s (%zu bytes)\n", ok ? "ok" : "not ok", what, len);
    fails += !ok;
}

/* The response to request `seed` of `len` bytes: the request reversed. */
static int echo_ok(const uint8_t *got, ssize_t n, size_t len, uint64_t seed)
{
    if (n != (ssize_t)len)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (got[i] != pattern(seed, len - 1 - i))
            return 0;
    return 1;
}

static int check(const char *ip, uint16_t port)
{
    int fd = homa_socket(0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &to.sin_addr);
    uint8_t *buf = malloc(HOMA_MAX_MESSAGE_LENGTH), *got = malloc(HOMA_MAX_MESSAGE_LENGTH);
    static const size_t sizes[] = {0, 1, 1424, 1425, 14240, 100000, 600000, HOMA_MAX_MESSAGE_LENGTH};
    struct homa_recvmsg_args a;
    memset(&a, 0, sizeof a);
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t len = sizes[k];
        for (size_t i = 0; i < len; i++)
            buf[i] = pattern(k, i);
        struct homa_sendmsg_args s = {.id = 0, .completion_cookie = 1000 + k};
        if (send_msg(fd, &to, &s, buf, len) < 0 || s.id == 0 || s.id % 2) {
            perror("sendmsg");
            expect(0, "request sent, with an even id", len);
            continue;
        }
        struct sockaddr_in from;
        a.id = 0;
        ssize_t n = receive(fd, &a, &from, got);
        expect(n >= 0 && a.id == s.id && a.completion_cookie == 1000 + k &&
               from.sin_port == to.sin_port && echo_ok(got, n, len, k),
               "response: its id, cookie, sender and every byte", len);
    }
    /* 16 requests in flight at once; the cookies say which response answers which */
    enum { N = 16 };
    for (uint64_t k = 0; k < N; k++) {
        size_t len = 1000 + k * 20000;
        for (size_t i = 0; i < len; i++)
            buf[i] = pattern(100 + k, i);
        struct homa_sendmsg_args s = {.id = 0, .completion_cookie = 100 + k};
        if (send_msg(fd, &to, &s, buf, len) < 0)
            perror("sendmsg");
    }
    int good = 0;
    for (int j = 0; j < N; j++) {
        struct sockaddr_in from;
        a.id = 0;
        ssize_t n = receive(fd, &a, &from, got);
        uint64_t k = a.completion_cookie - 100;
        good += n >= 0 && k < N && echo_ok(got, n, 1000 + k * 20000, 100 + k);
    }
    expect(good == N, "16 concurrent requests: each response matches its cookie's request",
           (size_t)N);
    return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "serve"))
        serve((uint16_t)atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "check"))
        return check(argv[2], (uint16_t)atoi(argv[3]));
    fprintf(stderr, "usage: homa_native serve PORT | check IP PORT\n");
    return 2;
}
