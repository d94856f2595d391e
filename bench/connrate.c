/*
 * connrate.c — bench_connrate: the connection-setup rate of whatever TCP the process gets
 * (kernel TCP, or MTP under LD_PRELOAD=libmtp.so: it uses only POSIX sockets and epoll).
 *
 *   bench_connrate -l PORT                  server: accept, read 1 byte, answer 1 byte, close
 *   bench_connrate HOST PORT SECS [CONC]    client: CONC connections in flight (default 16),
 *                                           each connect, write 1 byte, read the answer and
 *                                           the server's close, close; prints one line
 *                                           "connections N secs S conn_per_s R failed F"
 *
 * The server closes first, so TIME_WAIT stays with it and the client never runs out of
 * ports. A benchmark, not a test: it measures and asserts nothing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void watch(int ep, int fd, uint32_t events, int op)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(ep, op, fd, &ev) < 0)
        die("epoll_ctl");
}

/* ------------------------------------------------------------------ server */

static _Noreturn void serve(int port)
{
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4096) < 0)
        die("listen");
    int ep = epoll_create1(0);
    watch(ep, l, EPOLLIN, EPOLL_CTL_ADD);
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == l) {
                int c;
                while ((c = accept4(l, NULL, NULL, SOCK_NONBLOCK)) >= 0)
                    watch(ep, c, EPOLLIN, EPOLL_CTL_ADD);
                continue;
            }
            char b;
            ssize_t r = read(fd, &b, 1);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                continue;
            if (r == 1 && write(fd, &b, 1) != 1)
                r = -1;
            close(fd); /* also removes it from the epoll set */
        }
    }
}

/* ------------------------------------------------------------------ client */

struct client {
    struct sockaddr_in to;
    int ep;
    long done, failed;
};

static void open_one(struct client *c)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (struct sockaddr *)&c->to, sizeof c->to) < 0 && errno != EINPROGRESS) {
        c->failed++;
        close(fd);
        return;
    }
    watch(c->ep, fd, EPOLLOUT, EPOLL_CTL_ADD);
}

/* One event on a connection: connected (write the byte), or readable (the answer, then EOF).
 * Returns whether the connection is finished. */
static int step(struct client *c, int fd, uint32_t events)
{
    if (events & EPOLLOUT) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || write(fd, "x", 1) != 1) {
            c->failed++;
            return 1;
        }
        watch(c->ep, fd, EPOLLIN, EPOLL_CTL_MOD);
        return 0;
    }
    char b[2];
    ssize_t r;
    while ((r = read(fd, b, sizeof b)) > 0)
        ;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (r == 0)
        c->done++;
    else
        c->failed++;
    return 1;
}

static int run_client(const char *host, int port, double secs, int conc)
{
    struct client c = {.to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)}};
    if (inet_pton(AF_INET, host, &c.to.sin_addr) != 1) {
        fprintf(stderr, "bench_connrate: %s: not an IPv4 address\n", host);
        return 2;
    }
    c.ep = epoll_create1(0);
    double t0 = now_s(), end = t0 + secs;
    for (int i = 0; i < conc; i++)
        open_one(&c);
    struct epoll_event evs[MAX_EVENTS];
    int open_now = conc;
    while (open_now > 0) {
        int n = epoll_wait(c.ep, evs, MAX_EVENTS, 1000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        int more = now_s() < end;
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (!step(&c, fd, evs[i].events))
                continue;
            close(fd);
            open_now--;
            if (more) {
                open_one(&c);
                open_now++;
            }
        }
        if (n == 0 && now_s() > end + 10)
            break; /* connections that never finish: count them as failed */
    }
    double took = now_s() - t0;
    printf("connections %ld secs %.3f conn_per_s %.1f failed %ld\n", c.done, took,
           (double)c.done / took, c.failed + open_now);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "-l"))
        serve(atoi(argv[2]));
    if (argc == 4 || argc == 5)
        return run_client(argv[1], atoi(argv[2]), atof(argv[3]), argc == 5 ? atoi(argv[4]) : 16);
    fprintf(stderr, "usage: bench_connrate -l PORT | bench_connrate HOST PORT SECS [CONC]\n");
    return 2;
}
