/*
 * homa_fig4a.c — the paper's Fig. 4a scenario for homa.mtp on the sim wire (not a test).
 *
 * Client A issues back-to-back RPCs of 100-500 KB; client B sends 1 MB requests at 50 % of
 * the server port's capacity; the server answers 170 B. Every link runs at 10 Gb/s (1 us
 * one-way delay) with a switch port in front of each host; the port has 8 strict-priority
 * queues or one FIFO. Slowdown of one of A's RPCs = its latency under load / its latency
 * alone (same size, same wire, same protocol). Prints p50 / p99 / max per scenario, and the
 * same workload over tcp.mtp (fig4a_tcp.h) for comparison.
 *
 * Homa's unscheduled bytes are RTTbytes, the bandwidth-delay product of the path (the Homa
 * paper's design), so the bench sets UNSCHED_BYTES from its own wire as a deployment sets it
 * from its network: 5,696 bytes (4 packets) here. The paper's 60 KB matched its testbed (25 Gb/s
 * NICs, software in the round trip), not this wire: one row runs it for comparison.
 *
 *     build/bin/bench_homa_fig4a [rpcs [gbps [delay_ns]]]   (default 200 10 1000)
 */
#include <stdio.h>
#include <stdlib.h>

#define HS_ASSERT(c, ...)                                                                  \
    do {                                                                                   \
        if (!(c)) {                                                                        \
            fprintf(stderr, "bench_homa_fig4a: %s:%d: check failed: %s\n", __FILE__,        \
                    __LINE__, #c);                                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)
#include "homa_sim.h"

#define LONG_MSG 1000000u
#define PAPER_UNSCHED 60000u

static uint64_t RATE = 1250000000ull;   /* bytes/s of every link: 10 Gb/s */
static uint64_t DELAY = 1000;           /* one-way wire delay, ns */
#define LONG_EVERY (2 * LONG_MSG * 1000000000ull / RATE) /* 50 % load: 1.6 ms at 10 Gb/s */

/* Homa's RTTbytes on this wire: what a sender puts on its link while a full DATA frame goes
 * to the receiver (serialised by the sender and by the switch port, plus the wire's delay)
 * and a GRANT (33 bytes of Homa) comes back the same way; the sim processes in zero time.
 * Rounded up to whole packets, as the program rounds its unscheduled bytes. */
static uint32_t rtt_bytes(void)
{
    const uint64_t data = 14 + 1500, grant = 14 + 20 + 33;
    uint64_t ns = 2 * (data * 1000000000ull / RATE) + 2 * (grant * 1000000000ull / RATE) +
                  2 * DELAY;
    uint64_t bytes = (ns * RATE + 999999999ull) / 1000000000ull;
    uint64_t pkts = (bytes + MTPG_HOMA_PAYLOAD - 1) / MTPG_HOMA_PAYLOAD;
    return (uint32_t)(pkts * MTPG_HOMA_PAYLOAD);
}

/* The grant window and its cap follow the unscheduled bytes (homa.mtp: 8 x unscheduled). */
static void set_unsched(uint32_t bytes)
{
    mtpg_homa_param_UNSCHED_BYTES = bytes;
    mtpg_homa_param_MAX_INCOMING = 8 * bytes;
}

static int n_short;                 /* A's RPCs: indices 0 .. n_short - 1 */
static int next_long;               /* B's next RPC index */
static uint64_t next_long_at;
static bool with_b;

static uint32_t short_size(int i)
{
    uint32_t x = (uint32_t)i * 2654435761u;
    return 100000 + (x >> 8) % 400001;
}

static void a_done(int i)
{
    if (i < n_short - 1)
        hs_start(i + 1, 0, short_size(i + 1), 170);
}

/* The run's condition: B's requests at their times; done when A's RPCs are. */
static int step(void *arg)
{
    (void)arg;
    hs_step(NULL);
    while (with_b && mtp_sim_now(H.w) >= next_long_at && next_long < H.n_rpcs) {
        hs_start(next_long++, 1, LONG_MSG, 170);
        next_long_at += LONG_EVERY;
    }
    return H.rpcs[n_short - 1].state >= 2;
}

static void run(bool load, uint8_t prio_queues, uint64_t *lat)
{
    struct mtp_sim_config c = { .seed = 11, .delay_ns = DELAY, .rate_bytes_per_sec = RATE,
                                .port_rate_bytes_per_sec = RATE, .prio_queues = prio_queues };
    hs_up(3, &c);
    hs_add_rpcs(n_short + 4096);
    H.on_done = a_done;
    /* ARP and the first RPC's set-up out of the way: one small RPC from each client */
    hs_start(n_short, 0, 1, 1);
    hs_start(n_short + 1, 1, 1, 1);
    HS_ASSERT(mtp_sim_run_until(H.w, H.s, H.n_hosts, hs_step, NULL, HS_SEC) == 0);
    with_b = load;
    next_long = n_short + 2;
    next_long_at = mtp_sim_now(H.w);
    hs_start(0, 0, short_size(0), 170);
    int rc = mtp_sim_run_until(H.w, H.s, H.n_hosts, step, NULL, 600 * HS_SEC);
    HS_ASSERT(rc == 0 && H.failed == 0 && H.bad_bytes == 0);
    for (int i = 0; i < n_short; i++)
        lat[i] = H.rpcs[i].end_ns - H.rpcs[i].start_ns;
    hs_down();
}

#include "fig4a_tcp.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *name, const uint64_t *alone, const uint64_t *loaded)
{
    double *s = malloc(sizeof *s * (size_t)n_short);
    HS_ASSERT(s != NULL);
    for (int i = 0; i < n_short; i++)
        s[i] = (double)loaded[i] / (double)alone[i];
    qsort(s, (size_t)n_short, sizeof *s, cmp_double);
    printf("%-34s %8.2f %8.2f %8.2f\n", name, s[n_short / 2], s[(n_short * 99) / 100],
           s[n_short - 1]);
    free(s);
}

int main(int argc, char **argv)
{
    n_short = argc > 1 ? atoi(argv[1]) : 200;
    int gbps = argc > 2 ? atoi(argv[2]) : 10;
    long delay = argc > 3 ? atol(argv[3]) : 1000;
    if (n_short < 2 || n_short > 100000 || gbps < 1 || gbps > 400 || delay < 0 ||
        delay > 1000000) {
        fprintf(stderr, "usage: bench_homa_fig4a [rpcs 2..100000 [gbps 1..400 "
                        "[delay_ns 0..1000000]]]\n");
        return 2;
    }
    RATE = (uint64_t)gbps * 125000000ull;
    DELAY = (uint64_t)delay;
    uint32_t rtt = rtt_bytes();
    set_unsched(rtt);
    uint64_t *alone = calloc((size_t)n_short, sizeof *alone);
    uint64_t *prio = calloc((size_t)n_short, sizeof *prio);
    uint64_t *fifo = calloc((size_t)n_short, sizeof *fifo);
    uint64_t *cut_alone = calloc((size_t)n_short, sizeof *cut_alone);
    uint64_t *cut = calloc((size_t)n_short, sizeof *cut);
    uint64_t *paper_alone = calloc((size_t)n_short, sizeof *paper_alone);
    uint64_t *paper = calloc((size_t)n_short, sizeof *paper);
    uint64_t *path_alone = calloc((size_t)n_short, sizeof *path_alone);
    uint64_t *path = calloc((size_t)n_short, sizeof *path);
    HS_ASSERT(alone && prio && fifo && cut_alone && cut && paper_alone && paper && path_alone &&
              path);
    uint64_t *t_alone = calloc((size_t)n_short, sizeof *t_alone);
    uint64_t *t_load = calloc((size_t)n_short, sizeof *t_load);
    HS_ASSERT(t_alone && t_load);
    run(false, 1, alone);
    run(true, 1, prio);
    run(true, 0, fifo);
    /* HomaModule derives the unscheduled cutoffs from the workload: A's 100-500 KB messages
     * one level above B's 1 MB ones (the server announces them in CUTOFFS) */
    uint32_t cut5 = mtpg_homa_param_CUT5;
    mtpg_homa_param_CUT5 = 500000;
    run(false, 1, cut_alone);
    run(true, 1, cut);
    mtpg_homa_param_CUT5 = cut5;
    set_unsched(PAPER_UNSCHED);
    run(false, 1, paper_alone);
    run(true, 1, paper);
    set_unsched(0); /* homa.mtp's default: the product of the link's rate and the round trip
                       it measures, as on any other target */
    run(false, 1, path_alone);
    run(true, 1, path);
    set_unsched(rtt);
    tcp_run(false, 1, t_alone);
    tcp_run(true, 1, t_load);
    printf("Fig. 4a on the sim wire: %d RPCs of 100-500 KB next to 1 MB requests at 50 %% load\n",
           n_short);
    printf("links %d Gb/s, one-way delay %ld ns: RTTbytes = unscheduled bytes %u\n", gbps,
           delay, rtt);
    printf("%-34s %8s %8s %8s\n", "slowdown of the 100-500 KB RPCs", "p50", "p99", "max");
    report("homa, 8 priority queues per port", alone, prio);
    report("homa, one FIFO per port", alone, fifo);
    report("homa, 8 queues, workload cutoffs", cut_alone, cut);
    report("homa, 8 queues, paper's 60 KB", paper_alone, paper);
    report("homa, 8 queues, measured path", path_alone, path);
    report("tcp.mtp (all at one level)", t_alone, t_load);
    free(alone);
    free(prio);
    free(fifo);
    free(cut_alone);
    free(cut);
    free(paper_alone);
    free(paper);
    free(path_alone);
    free(path);
    free(t_alone);
    free(t_load);
    return 0;
}
