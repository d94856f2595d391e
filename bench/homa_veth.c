/*
 * homa_veth.c — the paper's Fig. 4a scenario and redis GET latency under large SETs, over
 * ordinary sockets, for bench/homa_veth.sh to run on the kernel and under libmtp.so
 * (MTP_PROTO=tcp or homa) across two namespaces. Not a test: it prints numbers.
 *
 *   homa_veth serve PORT
 *       single-threaded RPC server: each request is a header {u32 len, u32 answer} and len
 *       bytes; it answers with `answer` bytes
 *   homa_veth fig4a IP PORT RPCS LOAD_BYTES_PER_SEC
 *       client A: RPCS back-to-back requests of 100-500 KB (answer 170 B) on one
 *       connection; client B (LOAD > 0): 1 MB requests at LOAD bytes/s on another. Prints
 *       one line per RPC of A: "size latency_ns", then "rate BYTES_PER_SEC" (A's own)
 *   homa_veth redis IP PORT GETS SET_BYTES_PER_SEC
 *       GETs of key "small" back to back on one connection, SETs of 1 MB values at the rate
 *       on another; prints one latency (ns) per GET
 *
 * Both clients share one thread and one epoll set (one process: libmtp.so serves one process
 * per interface).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BIG 1000000u
#define ANSWER 170u

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void nonblock(int fd)
{
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* ------------------------------------------------------------ byte queues */

struct conn {
    int fd;
    uint8_t *out;                   /* bytes to write: out[out_off .. out_len) */
    size_t out_off, out_len, out_cap;
    uint8_t in[65536];              /* what came in, not yet consumed */
    size_t in_len;
};

static void out_add(struct conn *c, const void *p, size_t n)
{
    if (c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = realloc(c->out, c->out_cap);
        if (!c->out)
            die("realloc");
    }
    if (p)
        memcpy(c->out + c->out_len, p, n);
    else
        memset(c->out + c->out_len, 'x', n);
    c->out_len += n;
}

/* Writes what it can; -1 when the connection broke. */
static int out_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t k = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (k < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)k;
    }
    return 0;
}

/* Reads what it can into in[]; -1 at EOF or on an error. */
static int in_fill(struct conn *c)
{
    for (;;) {
        if (c->in_len == sizeof c->in)
            return 0;
        ssize_t k = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
        if (k == 0)
            return -1;
        if (k < 0)
            return errno == EAGAIN ? 0 : -1;
        c->in_len += (size_t)k;
    }
}

static void in_drop(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static void watch(int ep, struct conn *c, uint32_t events)
{
    struct epoll_event e = {.events = events, .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e) < 0 && epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e) < 0)
        die("epoll_ctl");
}

/* ------------------------------------------------------------ server */

struct sconn {
    struct conn c;
    uint32_t need, answer;          /* payload bytes still to come, the answer's size */
    bool in_body;
};

static void serve_conn(int ep, struct sconn *s)
{
    if (in_fill(&s->c) < 0) {
        close(s->c.fd);
        free(s->c.out);
        free(s);
        return;
    }
    for (;;) {
        if (!s->in_body) {
            if (s->c.in_len < 8)
                break;
            memcpy(&s->need, s->c.in, 4);
            memcpy(&s->answer, s->c.in + 4, 4);
            in_drop(&s->c, 8);
            s->in_body = true;
        }
        size_t n = s->c.in_len < s->need ? s->c.in_len : s->need;
        in_drop(&s->c, n);
        s->need -= (uint32_t)n;
        if (s->need)
            break;
        s->in_body = false;
        out_add(&s->c, NULL, s->answer);
        if (in_fill(&s->c) < 0 && s->c.in_len == 0)
            break;
    }
    out_flush(&s->c);
    watch(ep, &s->c, EPOLLIN | (s->c.out_off < s->c.out_len ? EPOLLOUT : 0));
}

static _Noreturn void serve(uint16_t port)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 16) < 0)
        die("listen");
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &e);
    printf("listening\n");
    fflush(stdout);
    for (;;) {
        struct epoll_event ev[16];
        int n = epoll_wait(ep, ev, 16, -1);
        for (int i = 0; i < n; i++) {
            if (!ev[i].data.ptr) {
                int fd = accept(l, NULL, NULL);
                if (fd < 0)
                    continue;
                struct sconn *s = calloc(1, sizeof *s);
                s->c.fd = fd;
                nonblock(fd);
                watch(ep, &s->c, EPOLLIN);
                continue;
            }
            serve_conn(ep, ev[i].data.ptr);
        }
    }
}

/* ------------------------------------------------------------ clients */

static struct conn *dial(int ep, const char *ip, uint16_t port)
{
    struct conn *c = calloc(1, sizeof *c);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    nonblock(c->fd);
    watch(ep, c, EPOLLIN);
    return c;
}

static uint32_t a_size(int i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return 100000 + (x >> 8) % 400001;
}

/* What one run needs to know of its protocol: how to ask, how long an answer is. */
struct workload {
    void (*ask_a)(struct conn *c, int i);
    size_t (*answer_a)(const struct conn *c);     /* bytes of a complete answer, or 0 */
    void (*ask_b)(struct conn *c);
    size_t (*answer_b)(const struct conn *c);
    const char *hello;                            /* sent first on A, or NULL */
    size_t hello_answer;                          /* its answer's length */
};

static void rpc_ask(struct conn *c, uint32_t len)
{
    uint32_t h[2] = {len, ANSWER};
    out_add(c, h, 8);
    out_add(c, NULL, len);
}
static void rpc_ask_a(struct conn *c, int i) { rpc_ask(c, a_size(i)); }
static void rpc_ask_b(struct conn *c) { rpc_ask(c, BIG); }
static size_t rpc_answer(const struct conn *c) { return c->in_len >= ANSWER ? ANSWER : 0; }

/* redis: GET small (its value is 3 bytes: "$3\r\nabc\r\n"), SET big <1 MB> ("+OK\r\n") */
static void redis_get(struct conn *c, int i)
{
    (void)i;
    static const char q[] = "*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\n";
    out_add(c, q, sizeof q - 1);
}
static size_t redis_get_answer(const struct conn *c) { return c->in_len >= 9 ? 9 : 0; }
static void redis_set(struct conn *c)
{
    char h[64];
    int n = snprintf(h, sizeof h, "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%u\r\n", BIG);
    out_add(c, h, (size_t)n);
    out_add(c, NULL, BIG);
    out_add(c, "\r\n", 2);
}
static size_t redis_ok(const struct conn *c) { return c->in_len >= 5 ? 5 : 0; }

static void run_clients(const struct workload *w, const char *ip, uint16_t port, int n,
                        double load)
{
    int ep = epoll_create1(0);
    struct conn *a = dial(ep, ip, port);
    struct conn *b = load > 0 ? dial(ep, ip, port) : NULL;
    uint64_t *lat = calloc((size_t)n, sizeof *lat);
    if (w->hello) { /* blocking, before the measurement */
        out_add(a, w->hello, strlen(w->hello));
        while (a->in_len < w->hello_answer) {
            if (out_flush(a) < 0 || in_fill(a) < 0)
                die("hello");
        }
        in_drop(a, w->hello_answer);
    }
    uint64_t every = load > 0 ? (uint64_t)((double)BIG * 1e9 / load) : 0;
    uint64_t t0 = now_ns(), next_b = t0, started = 0, bytes = 0;
    int i = 0;
    bool waiting = false;
    while (i < n) {
        uint64_t t = now_ns();
        if (!waiting) {
            w->ask_a(a, i);
            started = now_ns();
            waiting = true;
        }
        if (b && t >= next_b) {
            w->ask_b(b);
            next_b += every;
        }
        if (out_flush(a) < 0 || (b && out_flush(b) < 0))
            die("write");
        watch(ep, a, EPOLLIN | (a->out_off < a->out_len ? EPOLLOUT : 0));
        if (b)
            watch(ep, b, EPOLLIN | (b->out_off < b->out_len ? EPOLLOUT : 0));
        int wait_ms = b ? (int)((next_b > t ? next_b - t : 0) / 1000000) : 1000;
        struct epoll_event ev[2];
        epoll_wait(ep, ev, 2, wait_ms);
        if (in_fill(a) < 0 || (b && in_fill(b) < 0))
            die("read: the server closed");
        size_t k;
        while (b && (k = w->answer_b(b)) > 0)
            in_drop(b, k);
        if (waiting && (k = w->answer_a(a)) > 0) {
            in_drop(a, k);
            lat[i] = now_ns() - started;
            bytes += a_size(i);
            i++;
            waiting = false;
        }
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    for (int j = 0; j < n; j++)
        printf("%u %llu\n", a_size(j), (unsigned long long)lat[j]);
    printf("rate %.0f\n", (double)bytes / secs);
    free(lat);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "serve"))
        serve((uint16_t)atoi(argv[2]));
    static const struct workload fig4a = {rpc_ask_a, rpc_answer, rpc_ask_b, rpc_answer, NULL, 0};
    static const struct workload redis = {redis_get, redis_get_answer, redis_set, redis_ok,
                                          "*3\r\n$3\r\nSET\r\n$5\r\nsmall\r\n$3\r\nabc\r\n", 5};
    if (argc == 6 && (!strcmp(argv[1], "fig4a") || !strcmp(argv[1], "redis"))) {
        run_clients(!strcmp(argv[1], "fig4a") ? &fig4a : &redis, argv[2],
                    (uint16_t)atoi(argv[3]), atoi(argv[4]), atof(argv[5]));
        return 0;
    }
    fprintf(stderr, "usage: homa_veth serve PORT | fig4a IP PORT RPCS LOAD | redis IP PORT GETS LOAD\n");
    return 2;
}
