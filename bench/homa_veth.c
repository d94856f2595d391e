/*
 * homa_veth.c — the paper's Fig. 4a scenario and redis GET latency under large SETs, over
 * ordinary sockets, for bench/homa_veth.sh to run on the kernel and under libmtp.so
 * (MTP_PROTO=tcp or homa) across two namespaces. Not a test: it prints numbers.
 *
 *   homa_veth serve PORT
 *       single-threaded RPC server: each request is a header {u32 len, u32 answer} and len
 *       bytes; it answers with `answer` bytes
 *   homa_veth fig4a-a IP PORT RPCS
 *       client A: RPCS back-to-back requests of 100-500 KB (answer 170 B) on one connection,
 *       after WARMUP_RPCS unmeasured ones. Prints one line per RPC: "size latency_ns", then
 *       "rate BYTES_PER_SEC" (A's own)
 *   homa_veth fig4a-b IP PORT BYTES_PER_SEC
 *       client B: 1 MB requests (answer 170 B) at that rate, open loop, until SIGTERM
 *   homa_veth redis-get IP PORT GETS
 *       sets key "small" to a 3-byte value, then GETs it back to back (WARMUP_GETS of them
 *       unmeasured); one line per GET:
 *       "0 latency_ns", then "rate ..." (meaningless here)
 *   homa_veth redis-set IP PORT BYTES_PER_SEC
 *       SETs of a 1 MB value at that rate, open loop, until SIGTERM
 * The open-loop clients print "connected" once their connection is up (bench/homa_veth.sh
 * waits for it before it starts the measured client) and, at SIGTERM, "sent N answered M
 * secs S". Clients A and B are separate processes, as the paper's two client machines are:
 * under libmtp.so each is its own stack on the same interface.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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
#define WARMUP_RPCS 5               /* unmeasured requests at the start of a closed loop */
#define WARMUP_GETS 20

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
    uint32_t watched;               /* the epoll events registered, 0 before the first */
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

/* Registers interest in events (only when it changes: one syscall less per wake-up). */
static void watch(int ep, struct conn *c, uint32_t events)
{
    if (c->watched == events)
        return;
    struct epoll_event e = {.events = events, .data.ptr = c};
    int op = c->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(ep, op, c->fd, &e) < 0)
        die("epoll_ctl");
    c->watched = events;
}

static bool out_pending(const struct conn *c) { return c->out_off < c->out_len; }

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
    watch(ep, &s->c, EPOLLIN | (out_pending(&s->c) ? EPOLLOUT : 0));
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

/* Flushes what it can, then sleeps until c can move or wait_ms passes, then reads. */
static void step(int ep, struct conn *c, int wait_ms)
{
    if (out_flush(c) < 0)
        die("write");
    watch(ep, c, EPOLLIN | (out_pending(c) ? EPOLLOUT : 0));
    struct epoll_event ev;
    epoll_wait(ep, &ev, 1, wait_ms);
    if (in_fill(c) < 0)
        die("read: the server closed");
}

static uint32_t a_size(int i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return 100000 + (x >> 8) % 400001;
}

/* A client that asks, waits for the answer, asks again (A; the GETs). */
struct closed_loop {
    uint32_t (*ask)(struct conn *c, int i);      /* queues request i, returns its size */
    size_t (*answer)(const struct conn *c);      /* bytes of a complete answer, or 0 */
    const char *hello;                           /* sent first, not measured, or NULL */
    size_t hello_answer;                         /* its answer's length */
    int warmup;                                  /* requests asked before the measured ones */
};

/* A client that asks at a fixed rate whatever the answers do (B; the SETs). */
struct open_loop {
    void (*ask)(struct conn *c);                 /* queues one 1 MB request */
    size_t (*answer)(const struct conn *c);
};

static void rpc_ask(struct conn *c, uint32_t len)
{
    uint32_t h[2] = {len, ANSWER};
    out_add(c, h, 8);
    out_add(c, NULL, len);
}
static uint32_t rpc_ask_a(struct conn *c, int i) { rpc_ask(c, a_size(i)); return a_size(i); }
static void rpc_ask_b(struct conn *c) { rpc_ask(c, BIG); }
static size_t rpc_answer(const struct conn *c) { return c->in_len >= ANSWER ? ANSWER : 0; }

/* redis: GET small (its value is 3 bytes: "$3\r\nabc\r\n"), SET big <1 MB> ("+OK\r\n") */
static uint32_t redis_get(struct conn *c, int i)
{
    (void)i;
    static const char q[] = "*2\r\n$3\r\nGET\r\n$5\r\nsmall\r\n";
    out_add(c, q, sizeof q - 1);
    return 0;
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

static void run_closed(const struct closed_loop *w, const char *ip, uint16_t port, int n)
{
    int ep = epoll_create1(0);
    struct conn *c = dial(ep, ip, port);
    uint64_t *lat = calloc((size_t)n, sizeof *lat);
    uint32_t *size = calloc((size_t)n, sizeof *size);
    if (w->hello) {
        out_add(c, w->hello, strlen(w->hello));
        while (c->in_len < w->hello_answer)
            step(ep, c, 1000);
        in_drop(c, w->hello_answer);
    }
    /* A connection's first requests meet a cold path (slow start, page faults, caches):
     * not the steady state the scenario is about, and not measured. */
    for (int i = 0; i < w->warmup; i++) {
        w->ask(c, i);
        size_t k;
        while ((k = w->answer(c)) == 0)
            step(ep, c, 1000);
        in_drop(c, k);
    }
    uint64_t t0 = now_ns(), bytes = 0;
    for (int i = 0; i < n; i++) {
        size[i] = w->ask(c, i);
        uint64_t started = now_ns(); /* the request is ready: its transfer is what counts */
        size_t k;
        while ((k = w->answer(c)) == 0)
            step(ep, c, 1000);
        in_drop(c, k);
        lat[i] = now_ns() - started;
        bytes += size[i];
    }
    double secs = (double)(now_ns() - t0) / 1e9;
    for (int j = 0; j < n; j++)
        printf("%u %llu\n", size[j], (unsigned long long)lat[j]);
    printf("rate %.0f\n", (double)bytes / secs);
    free(lat);
    free(size);
    close(c->fd);
}

static volatile sig_atomic_t stopping;
static void on_term(int sig) { (void)sig; stopping = 1; }

static void run_open(const struct open_loop *w, const char *ip, uint16_t port, double rate)
{
    struct sigaction sa = {.sa_handler = on_term}; /* no SA_RESTART: epoll_wait returns */
    sigaction(SIGTERM, &sa, NULL);
    int ep = epoll_create1(0);
    struct conn *c = dial(ep, ip, port);
    printf("connected\n");
    fflush(stdout);
    uint64_t every = (uint64_t)((double)BIG * 1e9 / rate);
    uint64_t t0 = now_ns(), next = t0;
    long sent = 0, answered = 0;
    while (!stopping) {
        uint64_t t = now_ns();
        if (t >= next) {
            w->ask(c);
            sent++;
            next += every;
        }
        /* rounded up, so that B never spins; the schedule stays absolute (next += every) */
        int wait_ms = t >= next ? 0 : (int)((next - t + 999999) / 1000000);
        step(ep, c, wait_ms < 100 ? wait_ms : 100);
        size_t k;
        while ((k = w->answer(c)) > 0) {
            in_drop(c, k);
            answered++;
        }
    }
    printf("sent %ld answered %ld secs %.3f\n", sent, answered, (double)(now_ns() - t0) / 1e9);
    close(c->fd);
}

int main(int argc, char **argv)
{
    static const struct closed_loop fig4a_a = {rpc_ask_a, rpc_answer, NULL, 0, WARMUP_RPCS};
    static const struct open_loop fig4a_b = {rpc_ask_b, rpc_answer};
    static const struct closed_loop gets = {redis_get, redis_get_answer,
                                            "*3\r\n$3\r\nSET\r\n$5\r\nsmall\r\n$3\r\nabc\r\n", 5,
                                            WARMUP_GETS};
    static const struct open_loop sets = {redis_set, redis_ok};
    const char *m = argc > 1 ? argv[1] : "";
    if (argc == 3 && !strcmp(m, "serve"))
        serve((uint16_t)atoi(argv[2]));
    bool closed = !strcmp(m, "fig4a-a") || !strcmp(m, "redis-get");
    bool open = !strcmp(m, "fig4a-b") || !strcmp(m, "redis-set");
    if (argc == 5 && closed && atoi(argv[4]) > 0) {
        run_closed(!strcmp(m, "fig4a-a") ? &fig4a_a : &gets, argv[2], (uint16_t)atoi(argv[3]),
                   atoi(argv[4]));
        return 0;
    }
    if (argc == 5 && open && atof(argv[4]) > 0) {
        run_open(!strcmp(m, "fig4a-b") ? &fig4a_b : &sets, argv[2], (uint16_t)atoi(argv[3]),
                 atof(argv[4]));
        return 0;
    }
    fprintf(stderr, "usage: homa_veth serve PORT | fig4a-a|redis-get IP PORT COUNT"
                    " | fig4a-b|redis-set IP PORT BYTES_PER_SEC\n");
    return 2;
}
