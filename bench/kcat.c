/*
 * kcat — the kernel-TCP counterpart of mtpcat for the bulk benchmark, with timing.
 *
 *   kcat HOST PORT        connect, copy stdin -> connection -> stdout
 *   kcat -l PORT          accept one connection, the same copies
 *
 * Like mtpcat: stdin EOF -> shutdown(SHUT_WR); ends once the peer's EOF has been read and
 * every byte sent has been acknowledged (SIOCOUTQ == 0). Same 256 KiB buffers. At the end one
 * line on stderr, read by bench.sh:
 *   kcat: sent S received R rx_eof_s X tx_acked_s Y
 * where X is the time from the connection's establishment to the peer's EOF (the receiver's
 * view of a transfer) and Y the time to the last byte sent being acknowledged (the sender's
 * view: it includes the peer having received everything).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_BYTES (256u * 1024)

static void die(const char *what)
{
    fprintf(stderr, "kcat: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int conn_open(int argc, char **argv)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (argc == 3 && !strcmp(argv[1], "-l")) {
        a.sin_port = htons((uint16_t)atoi(argv[2]));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 1) < 0)
            die("listen");
        fprintf(stderr, "kcat: listening\n");
        int c = accept(fd, NULL, NULL);
        if (c < 0)
            die("accept");
        close(fd);
        return c;
    }
    if (argc != 3 || inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
        fprintf(stderr, "usage: kcat HOST PORT | kcat -l PORT\n");
        exit(2);
    }
    a.sin_port = htons((uint16_t)atoi(argv[2]));
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    return fd;
}

int main(int argc, char **argv)
{
    int fd = conn_open(argc, argv);
    double t0 = now_s(), rx_eof = 0, tx_acked = 0;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    char *in = malloc(BUF_BYTES), *out = malloc(BUF_BYTES);
    if (!in || !out)
        die("malloc");
    size_t in_off = 0, in_len = 0;
    unsigned long long sent = 0, rcvd = 0;
    int stdin_open = 1, shut = 0, rd_open = 1;
    while (rd_open || !tx_acked) {
        struct pollfd pf[2] = {{.fd = -1, .events = POLLIN}, {.fd = fd, .events = 0}};
        if (stdin_open && !in_len)
            pf[0].fd = STDIN_FILENO;
        if (rd_open)
            pf[1].events |= POLLIN;
        if (in_len)
            pf[1].events |= POLLOUT;
        /* after our shutdown, SIOCOUTQ is polled every millisecond until it reaches 0 */
        if (poll(pf, 2, shut && !tx_acked ? 1 : 1000) < 0 && errno != EINTR)
            die("poll");
        if (pf[0].revents) {
            ssize_t n = read(STDIN_FILENO, in, BUF_BYTES);
            if (n < 0 && errno != EINTR)
                die("stdin");
            if (n == 0)
                stdin_open = 0;
            if (n > 0)
                in_off = 0, in_len = (size_t)n;
        }
        while (in_len) {
            ssize_t n = send(fd, in + in_off, in_len, MSG_NOSIGNAL);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n < 0)
                die("send");
            in_off += (size_t)n, in_len -= (size_t)n, sent += (unsigned long long)n;
        }
        if (!stdin_open && !in_len && !shut) {
            shutdown(fd, SHUT_WR);
            shut = 1;
        }
        if (shut && !tx_acked) {
            int q = 1;
            if (ioctl(fd, SIOCOUTQ, &q) < 0)
                die("SIOCOUTQ");
            if (q == 0)
                tx_acked = now_s() - t0;
        }
        while (rd_open) {
            ssize_t n = recv(fd, out, BUF_BYTES, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n < 0)
                die("recv");
            if (n == 0) {
                rd_open = 0;
                rx_eof = now_s() - t0;
                break;
            }
            rcvd += (unsigned long long)n;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(STDOUT_FILENO, out + off, (size_t)(n - off));
                if (w < 0 && errno != EINTR)
                    die("stdout");
                if (w > 0)
                    off += w;
            }
        }
    }
    fprintf(stderr, "kcat: sent %llu received %llu rx_eof_s %.6f tx_acked_s %.6f\n", sent, rcvd,
            rx_eof, tx_acked);
    close(fd);
    return 0;
}
