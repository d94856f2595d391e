/*
 * idle_conns — memory per idle established MTP connection.
 *
 * Stacks running the TCP program (with the socket layer of preload/sock.h) on the sim wire,
 * in this process. B listens; client stacks A1, A2, ... (one per CLIENTS_PER_HOST connections:
 * a stack has 16,384 ephemeral ports) open N connections in batches of BATCH until B has
 * accepted every one, then the wire is run until nothing moves (handshakes done, no frame in
 * flight).
 * The heap in use (mallinfo2: uordblks + hblkhd) is read before the first connect (stacks,
 * socket layers and listener already up) and again with the N connections idle; the
 * difference, divided by 2N, is the cost of one connection endpoint (its context, its
 * table entries, its socket handle). A second measurement follows one 64-byte request and
 * response on every connection: buffers a connection keeps after it has been used count
 * there, and so do the engines' bounded caches of idle stream buffers (filled by the first
 * connections used, whatever N is); `used_marginal` is the growth over the second half of
 * the connections only, when those caches are already full. RSS (VmRSS) deltas are printed
 * next to them.
 *
 *   idle_conns [N (1..200000, default 10000)]
 *
 * Prints `key value` lines (read by bench.sh) and exits 0, or one error line and 1.
 */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtp/stack.h"
#include "mtp/target.h"
#include "sim.h"
#include "sock.h"

#define IP_B 0x0a000001u /* 10.0.0.1 on the in-process wire only; clients 10.0.0.2.. */
#define PORT 7000
#define MAX_CONNS 200000
#define CLIENTS_PER_HOST 16000
/* connections opened at once, all waiting in the listener's accept queue (backlog 1024) */
#define BATCH 1000
#define BACKLOG 1024
#define MSG 64
#define SEC 1000000000ull

struct host {
    struct mtp_target *t;
    struct mtp_stack *st;
    struct mtp_socks *ss;
};

struct bench {
    struct mtp_sim_wire *w;
    struct host b, a[MAX_CONNS / CLIENTS_PER_HOST + 1];
    int n_hosts;                       /* b and the client hosts */
    struct mtp_stack *stacks[MAX_CONNS / CLIENTS_PER_HOST + 2];
    struct mtp_sock *listener;
    struct mtp_sock **client, **server;
    int n, n_connected, n_established, n_accepted, n_asked, n_answered;
    uint8_t *client_got, *server_got;
    struct mtp_sock **woken;           /* sockets whose readiness changed since the last step */
    size_t n_woken, cap_woken;
};

static void die(const char *what, int err)
{
    fprintf(stderr, "idle_conns: %s: %s\n", what, strerror(err < 0 ? -err : err));
    exit(1);
}

static uint64_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static uint64_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb * 1024;
}

/* The wake-up of the socket layers: every socket whose readiness may have changed is looked
 * at in the next step (looking at all N in every step would take O(N^2)). */
static void on_wake(void *user, struct mtp_sock *sk)
{
    struct bench *b = user;
    if (b->n_woken == b->cap_woken) {
        b->cap_woken = b->cap_woken ? 2 * b->cap_woken : 4096;
        if (!(b->woken = realloc(b->woken, b->cap_woken * sizeof *b->woken)))
            die("wake list", ENOMEM);
    }
    b->woken[b->n_woken++] = sk;
}

static void host_up(struct bench *b, struct host *h, uint32_t ip, uint64_t seed)
{
    const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
    if (!p)
        die("no tcp shim", ENOENT);
    int err = mtp_sim_attach(b->w, ip, 24, &h->t);
    if (err)
        die("sim attach", err);
    struct mtp_stack_config cfg = {.prog = mtp_sock_proto_program(p), .ops = &mtp_target_sim,
                                   .target = h->t, .seed = seed};
    if (!(h->st = mtp_stack_new(&cfg, &err)))
        die("mtp_stack_new", err);
    if (!(h->ss = mtp_socks_new(h->st, p, &err)))
        die("mtp_socks_new", err);
    mtp_socks_set_wake(h->ss, on_wake, b);
    b->stacks[b->n_hosts++] = h->st;
}

static void layers_poll(struct bench *b)
{
    uint64_t t = mtp_sim_now(b->w);
    mtp_socks_poll(b->b.ss, t);
    for (int i = 0; i + 1 < b->n_hosts; i++)
        mtp_socks_poll(b->a[i].ss, t);
}

/* Socket handles carry their index: 2i + 1 for client i, 2i + 2 for server i. */
static void tag(struct mtp_sock *sk, int i, int server)
{
    mtp_sock_set_user(sk, (void *)(uintptr_t)(2 * (uintptr_t)i + 1 + (uintptr_t)server));
}

/* Accept what is there; done when every connection opened so far is established at both
 * ends. */
static int all_established(void *arg)
{
    struct bench *b = arg;
    uint64_t t = mtp_sim_now(b->w);
    layers_poll(b);
    struct mtp_sock *s;
    while (b->n_accepted < b->n_connected && mtp_sock_accept(b->listener, &s, t) == 0) {
        tag(s, b->n_accepted, 1);
        b->server[b->n_accepted++] = s;
    }
    b->n_woken = 0;
    if (b->n_accepted < b->n_connected)
        return 0;
    /* connections of earlier batches are established already */
    for (; b->n_established < b->n_connected; b->n_established++) {
        unsigned ev = mtp_sock_poll(b->client[b->n_established]);
        if (ev & MTP_SOCK_ERROR)
            die("connect", mtp_sock_error(b->client[b->n_established]));
        if (!(ev & MTP_SOCK_WRITABLE))
            return 0;
    }
    return 1;
}

/* Every server answers the 64 bytes it got; done when every client asked has its answer. */
static int all_answered(void *arg)
{
    struct bench *b = arg;
    uint64_t t = mtp_sim_now(b->w);
    uint8_t buf[MSG];
    layers_poll(b);
    /* the sockets woken since the last step; a server answers once it has the 64 bytes */
    for (size_t w = 0; w < b->n_woken; w++) {
        uintptr_t id = (uintptr_t)mtp_sock_user(b->woken[w]);
        if (id == 0)
            continue; /* the listener */
        int i = (int)((id - 1) / 2), server = !(id & 1);
        uint8_t *got = server ? &b->server_got[i] : &b->client_got[i];
        if (*got == MSG)
            continue;
        ssize_t k = mtp_sock_recv(b->woken[w], buf, MSG - *got, t);
        if (k <= 0 || (*got += (uint8_t)k) < MSG)
            continue;
        if (!server)
            b->n_answered++;
        else if (mtp_sock_send(b->woken[w], buf, MSG, t) != MSG)
            die("server send", EAGAIN);
    }
    b->n_woken = 0;
    return b->n_answered == b->n_asked;
}

/* Runs the wire until `cond` holds, then on until nothing is in flight (delayed ACKs sent). */
static void run(struct bench *b, mtp_sim_cond_fn cond, const char *what)
{
    int rc = mtp_sim_run_until(b->w, b->stacks, b->n_hosts, cond, b, mtp_sim_now(b->w) + 600 * SEC);
    if (rc) {
        int srv = 0;
        for (int i = 0; i < b->n_accepted; i++)
            srv += b->server_got[i] == MSG;
        fprintf(stderr, "idle_conns: %d connected, %d accepted, %d asked, %d served, %d answered\n",
                b->n_connected, b->n_accepted, b->n_asked, srv, b->n_answered);
        die(what, rc);
    }
    mtp_sim_run_until(b->w, b->stacks, b->n_hosts, NULL, NULL, mtp_sim_now(b->w) + SEC / 2);
    layers_poll(b);
}

int main(int argc, char **argv)
{
    struct bench b = {0};
    b.n = argc > 1 ? atoi(argv[1]) : 10000;
    if (b.n <= 0 || b.n > MAX_CONNS) {
        fprintf(stderr, "usage: idle_conns [N (1..%d, default 10000)]\n", MAX_CONNS);
        return 2;
    }
    b.client = calloc((size_t)b.n, sizeof *b.client);
    b.server = calloc((size_t)b.n, sizeof *b.server);
    b.client_got = calloc((size_t)b.n, 1);
    b.server_got = calloc((size_t)b.n, 1);
    struct mtp_sim_config wc = {.seed = 1, .delay_ns = 10000};
    if (!b.client || !b.server || !b.client_got || !b.server_got ||
        !(b.w = mtp_sim_wire_new(NULL, &wc)))
        die("setup", ENOMEM);
    host_up(&b, &b.b, IP_B, 1);
    for (int i = 0; i * CLIENTS_PER_HOST < b.n; i++)
        host_up(&b, &b.a[i], IP_B + 1 + (uint32_t)i, 2 + (uint64_t)i);
    int err = 0;
    if (!(b.listener = mtp_sock_listen(b.b.ss, PORT, BACKLOG, mtp_sim_now(b.w), &err)))
        die("listen", err);
    malloc_trim(0);
    uint64_t heap0 = heap_bytes(), rss0 = rss_bytes();
    while (b.n_connected < b.n) {
        int end = b.n_connected + BATCH < b.n ? b.n_connected + BATCH : b.n;
        for (; b.n_connected < end; b.n_connected++) {
            struct host *a = &b.a[b.n_connected / CLIENTS_PER_HOST];
            b.client[b.n_connected] = mtp_sock_connect(a->ss, IP_B, PORT, mtp_sim_now(b.w), &err);
            if (!b.client[b.n_connected])
                die("connect", err);
            tag(b.client[b.n_connected], b.n_connected, 0);
        }
        run(&b, all_established, "handshakes");
    }
    uint64_t heap1 = heap_bytes(), rss1 = rss_bytes();

    /* the first half fills the engines' bounded caches of idle stream buffers; the second
     * half shows what a used connection costs beyond that. BATCH connections at a time: the
     * buffers of 100,000 requests in flight at once would be gigabytes, returned to the
     * allocator but not to the system (RSS) */
    uint64_t heap_half = 0;
    for (int half = 0; half < 2; half++) {
        int end = half ? b.n : b.n / 2;
        while (b.n_asked < end) {
            int batch_end = b.n_asked + BATCH < end ? b.n_asked + BATCH : end;
            for (; b.n_asked < batch_end; b.n_asked++) {
                uint8_t msg[MSG];
                memset(msg, b.n_asked & 0xff, sizeof msg);
                if (mtp_sock_send(b.client[b.n_asked], msg, MSG, mtp_sim_now(b.w)) != MSG)
                    die("client send", EAGAIN);
            }
            b.n_woken = 0;
            run(&b, all_answered, "request/response");
        }
        if (!half)
            heap_half = heap_bytes();
    }
    uint64_t heap2 = heap_bytes(), rss2 = rss_bytes();

    const struct mtp_program *prog = mtp_sock_proto_program(mtp_sock_proto_find("tcp"));
    uint32_t ctx_max = 0;
    for (int i = 0; i < prog->n_ctxs; i++) {
        printf("ctx_size_%s %u\n", prog->ctxs[i].name, prog->ctxs[i].size);
        if (prog->ctxs[i].granularity == MTP_GRAN_FLOW && prog->ctxs[i].size > ctx_max)
            ctx_max = prog->ctxs[i].size;
    }
    double ends = 2.0 * b.n;
    printf("connections %d\n", b.n);
    printf("client_stacks %d\n", b.n_hosts - 1);
    printf("flow_ctx_bytes %u\n", ctx_max);
    printf("idle_heap_per_end %.0f\n", ((double)heap1 - (double)heap0) / ends);
    printf("idle_rss_per_end %.0f\n", ((double)rss1 - (double)rss0) / ends);
    printf("used_heap_per_end %.0f\n", ((double)heap2 - (double)heap0) / ends);
    printf("used_rss_per_end %.0f\n", ((double)rss2 - (double)rss0) / ends);
    printf("used_marginal_heap_per_end %.0f\n",
           ((double)heap2 - (double)heap_half) / (2.0 * (b.n - b.n / 2)));
    printf("frames %llu\n", (unsigned long long)mtp_sim_stats(b.w)->delivered);

    mtp_sock_close(b.listener, mtp_sim_now(b.w));
    for (int i = 0; i + 1 < b.n_hosts; i++) {
        mtp_socks_free(b.a[i].ss);
        mtp_stack_free(b.a[i].st);
    }
    mtp_socks_free(b.b.ss);
    mtp_stack_free(b.b.st);
    free(b.woken);
    mtp_sim_wire_free(b.w);
    free(b.client);
    free(b.server);
    free(b.client_got);
    free(b.server_got);
    return 0;
}
