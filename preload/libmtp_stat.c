/*
 * libmtp_stat.c — what `mtpstat` shows: each process running the stack listens on a unix
 * socket, $MTP_RUN_DIR/<pid>.sock (default /run/mtp), and answers every connection with one
 * text dump of its stack, then closes it. The helper thread serves it, so a process busy in
 * its own code still answers. Nothing is computed unless asked.
 *
 * The dump is protocol-free, one record per line, fields `key=value` separated by tabs:
 *   process  pid comm proto target iface ip
 *   sock     fd state local peer rxq txq rtt_us rttvar_us rto_us mss cwnd snd_wnd retrans
 *            [the program's own fields by name, from its shim: ssthresh= ...]
 *   counters <every struct mtp_stats field by name>
 *   target   what=<the target's describe line> <its stats by name> (when it has them)
 * (fd=- : a connection the application closed, finishing in the background.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "libmtp.h"
#include "mtp/stack.h"

static int stat_fd = -1;
static char stat_path[108];

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct buf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 4096) + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p)
            return;
        b->p = p;
        b->cap = cap;
    }
}

static const char *ip_str(uint32_t ip, char *out)
{
    struct in_addr a = {htonl(ip)};
    inet_ntop(AF_INET, &a, out, INET_ADDRSTRLEN);
    return out;
}

#define STAT(f) {#f, offsetof(struct mtp_stats, f)}
static const struct {
    const char *name;
    size_t off;
} counters[] = {
    STAT(rx_frames), STAT(tx_frames), STAT(rx_bytes), STAT(tx_bytes), STAT(drop_malformed),
    STAT(drop_bad_csum), STAT(drop_no_ctx), STAT(drop_no_chain), STAT(drop_ip_frag),
    STAT(drop_not_mine), STAT(drop_tx_full), STAT(drop_arp_unresolved), STAT(arp_requests),
    STAT(arp_replies), STAT(icmp_echo_replies), STAT(icmp_unreach_sent), STAT(events),
    STAT(instructions), STAT(instr_overflow), STAT(event_overflow), STAT(pool_exhausted),
    STAT(timers_fired), STAT(blueprints), STAT(blueprints_coalesced), STAT(assert_failures),
    STAT(instr_failed), STAT(instr_discarded), STAT(drop_rx_window), STAT(drop_data_ref),
    STAT(tx_super_frames), STAT(tx_super_pkts), STAT(handoff_exports), STAT(handoff_imports),
    STAT(handoff_bps_dropped), STAT(rx_csum_partial), STAT(drop_csum_partial),
    STAT(drop_no_route), STAT(rx_super_frames), STAT(icmp_err_unreach),
    STAT(icmp_err_frag_needed), STAT(icmp_err_time_exceeded), STAT(icmp_err_param),
    STAT(icmp_err_delivered), STAT(icmp_err_unmatched), STAT(icmp_err_malformed),
};

static void dump_sock(struct buf *b, struct mtp_sock *sk)
{
    struct mtp_sock_info in;
    mtp_sock_info(sk, &in);
    struct lm_sock *s = mtp_sock_user(sk);
    uint32_t lip, rip;
    uint16_t lport, rport;
    mtp_sock_local(sk, &lip, &lport);
    mtp_sock_peer(sk, &rip, &rport);
    char l[INET_ADDRSTRLEN], r[INET_ADDRSTRLEN];
    if (s)
        put(b, "sock\tfd=%d", s->kfd);
    else
        put(b, "sock\tfd=-");
    put(b, "\tstate=%s\tlocal=%s:%u\tpeer=%s:%u\trxq=%llu\ttxq=%llu", in.state ? in.state : "?",
        ip_str(lip, l), lport, ip_str(rip, r), rport, (unsigned long long)in.rx_queued,
        (unsigned long long)in.tx_queued);
    if (!mtp_sock_is_listener(sk))
        put(b, "\trtt_us=%llu\trttvar_us=%llu\trto_us=%llu\tmss=%u\tcwnd=%llu\tsnd_wnd=%llu\tretrans=%u",
            (unsigned long long)in.rtt_us, (unsigned long long)in.rttvar_us,
            (unsigned long long)in.rto_us, in.mss, (unsigned long long)in.cwnd_bytes,
            (unsigned long long)in.snd_wnd_bytes, in.retransmits);
    for (uint32_t i = 0; i < in.n_extra && i < MTP_SOCK_INFO_EXTRA; i++)
        put(b, "\t%s=%llu", in.extra[i].name, (unsigned long long)in.extra[i].value);
    put(b, "\n");
}

/* The device under the stack: what it is and its own counters (a DPDK port's rte_eth_stats,
 * the AF_XDP socket's XDP_STATISTICS): where frames die that the stack never sees die. */
static void dump_target(struct buf *b)
{
    const struct mtp_target_ops *ops = g_lm.cfg.ops;
    char what[160];
    if (!ops || !g_lm.target || !ops->describe ||
        ops->describe(g_lm.target, what, sizeof what) <= 0)
        return;
    what[strcspn(what, "\t\n")] = 0;
    put(b, "target\twhat=%s", what);
    struct mtp_target_stat ts[32];
    int n = ops->stats ? ops->stats(g_lm.target, ts, 32) : 0;
    for (int i = 0; i < n; i++)
        put(b, "\t%s=%llu", ts[i].name, (unsigned long long)ts[i].value);
    put(b, "\n");
}

/* The whole dump (locked). */
static void dump(struct buf *b)
{
    char comm[64] = "?", ip[INET_ADDRSTRLEN];
    FILE *f = fopen("/proc/self/comm", "r");
    if (f) {
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
    }
    put(b, "process\tpid=%d\tcomm=%s\tproto=%s\ttarget=%s\tiface=%s\tip=%s\n", (int)getpid(), comm,
        mtp_sock_proto_name(g_lm.cfg.proto), g_lm.cfg.target_name, g_lm.cfg.iface,
        ip_str(g_lm.cfg.ip, ip));
    uint32_t cursor = 0;
    for (struct mtp_sock *sk = mtp_socks_next(g_lm.ss, NULL, &cursor); sk;
         sk = mtp_socks_next(g_lm.ss, sk, &cursor))
        dump_sock(b, sk);
    const struct mtp_stats *st = mtp_stack_stats(g_lm.stack);
    put(b, "counters");
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        put(b, "\t%s=%llu", counters[i].name,
            (unsigned long long)*(const uint64_t *)((const char *)st + counters[i].off));
    put(b, "\n");
    dump_target(b);
}

static void unlink_stat(void)
{
    if (stat_path[0])
        unlink(stat_path);
}

void lm_stat_forget(void)
{
    if (stat_fd >= 0)
        close(stat_fd);
    stat_fd = -1;
    stat_path[0] = 0; /* the parent's file: a forked child's exit must not remove it */
}

int lm_stat_open(void)
{
    const char *dir = getenv("MTP_RUN_DIR");
    if (!dir || !*dir)
        dir = "/run/mtp";
    mkdir(dir, 0755);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s/%d.sock", dir, (int)getpid());
    unlink(a.sun_path);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    snprintf(stat_path, sizeof stat_path, "%s", a.sun_path);
    atexit(unlink_stat);
    stat_fd = fd;
    return fd;
}

void lm_stat_serve(void)
{
    for (;;) {
        int c = accept4(stat_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            return;
        struct timeval tv = {1, 0}; /* a reader that does not read is dropped */
        setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        struct buf b = {0};
        pthread_mutex_lock(&g_lm.lock);
        dump(&b);
        pthread_mutex_unlock(&g_lm.lock);
        for (size_t off = 0; b.p && off < b.len;) {
            ssize_t w = write(c, b.p + off, b.len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        free(b.p);
        close(c);
    }
}
