/*
 * mtpcat — netcat over MTP, straight on the runtime (no LD_PRELOAD):
 *
 *   mtpcat [-v] HOST PORT         connect, then copy stdin -> connection -> stdout
 *   mtpcat [-v] -l [-k] PORT      listen; -k: serve connections one after another
 *
 * Copies until both directions are closed: stdin EOF -> shutdown of our sending side; the
 * peer's EOF -> stop reading. Any error: one line on stderr, exit status 1; a connection
 * that fails while packets were dropped for a reason the user can fix adds one hint line
 * naming the counter (drop_hint).
 *
 * Environment: MTP_PROTO (default tcp), MTP_TARGET (default xdp), MTP_IFACE (required for
 * xdp), MTP_IP (default: the interface's address), MTP_XDP_OBJ (default
 * <dir of mtpcat>/../bpf/<program>.bpf.o), MTP_DPDK_ARGS (dpdk), MTP_PCAP, MTP_PARAM_<NAME>,
 * and the runtime's knobs MTP_RX_CSUM and MTP_TSO (mtp_knobs_from_env). The target reads
 * its own arguments from the variable its ops name (args_env) and reports its own failures.
 *
 * The stack runs in this loop: poll(stdin, stdout, the target's wake fd) with a timeout of
 * the next timer deadline, then mtp_stack_poll() with CLOCK_MONOTONIC.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "mtp/params.h"
#include "mtp/stack.h"
#include "mtp/target.h"
#include "sock.h"

#define BUF_BYTES (256u * 1024)
/* After the last connection, the stack keeps running until the protocol has no timer left
 * (retransmissions of the last bytes and the FIN, TIME_WAIT) or for this long at most. */
#define LINGER_NS (30ull * 1000000000ull)

static int verbose;

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("mtpcat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    if (!verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("mtpcat: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* ------------------------------------------------------------------ configuration */

struct target_choice {
    const char *name;
    const struct mtp_target_ops *ops;
};

static const struct target_choice targets[] = {
    {"xdp", &mtp_target_xdp},
#ifdef MTPCAT_HAVE_DPDK
    {"dpdk", &mtp_target_dpdk},
#endif
};
#define N_TARGETS (sizeof(targets) / sizeof(targets[0]))

static const struct mtp_target_ops *target_pick(void)
{
    const char *want = env_or("MTP_TARGET", "xdp");
    char accepted[64] = "";
    for (size_t i = 0; i < N_TARGETS; i++) {
        if (!strcmp(want, targets[i].name))
            return targets[i].ops;
        snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted), "%s%s",
                 i ? ", " : "", targets[i].name);
    }
    die("MTP_TARGET=%s: unknown target (accepted: %s)", want, accepted);
}

static const struct mtp_sock_proto *proto_pick(void)
{
    const char *want = env_or("MTP_PROTO", "tcp");
    const struct mtp_sock_proto *p = mtp_sock_proto_find(want);
    if (p)
        return p;
    char accepted[256] = "";
    const char *const *names = mtp_sock_proto_names();
    for (size_t i = 0; names && names[i]; i++)
        snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted), "%s%s",
                 i ? ", " : "", names[i]);
    die("MTP_PROTO=%s: unknown protocol (accepted: %s)", want, accepted);
}

/* MTP_IFACE, when set, must name an interface of this namespace; the message lists them.
 * Unset: NULL (a target that needs one says so when it opens). */
static const char *iface_pick(void)
{
    const char *want = getenv("MTP_IFACE");
    if (!want || !*want)
        return NULL;
    if (if_nametoindex(want))
        return want;
    char accepted[512] = "";
    struct if_nameindex *all = if_nameindex();
    for (struct if_nameindex *i = all; i && i->if_index; i++)
        snprintf(accepted + strlen(accepted), sizeof(accepted) - strlen(accepted), "%s%s",
                 i == all ? "" : ", ", i->if_name);
    if (all)
        if_freenameindex(all);
    die("MTP_IFACE=%s: no such interface here (accepted: %s)", want, accepted);
}

static uint32_t ip_pick(void)
{
    const char *v = getenv("MTP_IP");
    if (!v || !*v)
        return 0;
    struct in_addr a;
    if (inet_pton(AF_INET, v, &a) != 1)
        die("MTP_IP=%s: not an IPv4 address (accepted: dotted quad, e.g. 10.0.0.1)", v);
    return ntohl(a.s_addr);
}

/* The program's source basename without its extension ("tcp" for mtp-programs/tcp.mtp). */
static const char *prog_basename(const struct mtp_program *prog)
{
    static char name[64];
    const char *src = prog->source ? prog->source : prog->name;
    const char *slash = strrchr(src, '/');
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : src);
    char *dot = strrchr(name, '.');
    if (dot)
        *dot = 0;
    return name;
}

static uint16_t port_parse(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == 0 || *end || v < 1 || v > 65535)
        die("%s: not a port (1-65535)", s);
    return (uint16_t)v;
}

static uint32_t host_resolve(const char *host)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc)
        die("%s: %s", host, gai_strerror(rc));
    uint32_t ip = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
    freeaddrinfo(res);
    return ip;
}

/* ------------------------------------------------------------------ copying */

struct buf {
    uint8_t *data;
    size_t off, len;
};

struct session {
    struct mtp_stack *stack;
    struct mtp_socks *socks;
    struct mtp_sock *listener, *conn;
    int keep_listening;
    int stdin_open;       /* not yet at EOF */
    int stdout_ok;
    int connected;        /* the connection has been writable once */
    int wr_shut;          /* shutdown_wr done on conn */
    int rd_open;          /* peer has not sent EOF */
    struct buf in, out;   /* stdin -> conn, conn -> stdout */
    uint64_t bytes_sent, bytes_received;
    const char *peer;
    uint8_t link_kind;    /* enum mtp_link_kind of the target's interface */
};

static void conn_start(struct session *s, struct mtp_sock *c)
{
    s->conn = c;
    s->connected = 0;
    s->wr_shut = 0;
    s->rd_open = 1;
    uint32_t ip;
    uint16_t port;
    mtp_sock_peer(c, &ip, &port);
    struct in_addr a = {htonl(ip)};
    say("connection with %s:%u", inet_ntoa(a), port);
}

/* Drops the user can do something about, worst first: a connection that failed while they
 * grew ends with one more line naming the counter and the fix. */
static void drop_hint(const struct mtp_stats *st)
{
    const char *fmt = NULL;
    uint64_t n = 0;
    if ((n = st->drop_csum_partial))
        fmt = "hint: %llu received segments carried only the pseudo-header checksum (a kernel "
              "with checksum offload on a virtual interface) and were dropped (counter "
              "drop_csum_partial); MTP_RX_CSUM=partial accepts them";
    else if ((n = st->drop_bad_csum))
        fmt = "hint: %llu received packets had a bad checksum and were dropped (counter "
              "drop_bad_csum): corruption on the path, or a peer that does not complete them";
    else if ((n = st->drop_no_route))
        fmt = "hint: %llu packets had no route and were not sent (counter drop_no_route): "
              "check MTP_IP and the interface's address and prefix";
    else if ((n = st->drop_arp_unresolved))
        fmt = "hint: %llu packets were dropped because the next hop never answered ARP "
              "(counter drop_arp_unresolved): is the peer up and on this link?";
    if (fmt) {
        fputs("mtpcat: ", stderr);
        fprintf(stderr, fmt, (unsigned long long)n);
        fputc('\n', stderr);
    }
}

static void conn_check(struct session *s)
{
    unsigned ev = mtp_sock_poll(s->conn);
    if (ev & MTP_SOCK_ERROR) {
        int err = mtp_sock_error(s->conn);
        if (err) {
            fprintf(stderr, "mtpcat: %s: %s\n", s->peer, strerror(-err));
            drop_hint(mtp_stack_stats(s->stack));
            exit(1);
        }
    }
    if (ev & MTP_SOCK_WRITABLE)
        s->connected = 1;
}

/* One pass of copying in both directions; returns how many things moved. */
static int conn_pump(struct session *s, uint64_t now, short stdin_ev, short stdout_ev)
{
    int moved = 0;
    /* stdin -> buffer */
    if (s->stdin_open && s->in.len == 0 && (stdin_ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(STDIN_FILENO, s->in.data, BUF_BYTES);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            die("stdin: %s", strerror(errno));
        if (n == 0)
            s->stdin_open = 0;
        if (n > 0) {
            s->in.off = 0;
            s->in.len = (size_t)n;
        }
        moved++;
    }
    /* buffer -> connection */
    while (s->connected && s->in.len) {
        ssize_t n = mtp_sock_send(s->conn, s->in.data + s->in.off, s->in.len, now);
        if (n == -EAGAIN || n == -ENOTCONN)
            break;
        if (n < 0)
            die("%s: send: %s", s->peer, strerror((int)-n));
        s->in.off += (size_t)n;
        s->in.len -= (size_t)n;
        s->bytes_sent += (uint64_t)n;
        moved++;
    }
    if (s->connected && !s->stdin_open && !s->in.len && !s->wr_shut) {
        int err = mtp_sock_shutdown_wr(s->conn, now);
        if (err < 0 && err != -ENOTCONN)
            die("%s: shutdown: %s", s->peer, strerror(-err));
        s->wr_shut = 1;
        moved++;
    }
    /* connection -> buffer */
    if (s->rd_open && s->out.len == 0) {
        ssize_t n = mtp_sock_recv(s->conn, s->out.data, BUF_BYTES, now);
        if (n == 0) {
            s->rd_open = 0;
            moved++;
        } else if (n > 0) {
            s->out.off = 0;
            s->out.len = (size_t)n;
            s->bytes_received += (uint64_t)n;
            s->connected = 1;
            moved++;
        } else if (n != -EAGAIN && n != -ENOTCONN) {
            die("%s: receive: %s", s->peer, strerror((int)-n));
        }
    }
    /* buffer -> stdout (non-blocking, see stdout_setup) */
    if (s->out.len && (stdout_ev & POLLOUT)) {
        ssize_t n = write(STDOUT_FILENO, s->out.data + s->out.off, s->out.len);
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            die("stdout: %s", strerror(errno));
        if (n > 0) {
            s->out.off += (size_t)n;
            s->out.len -= (size_t)n;
            moved++;
        }
    }
    return moved;
}

static int conn_done(const struct session *s)
{
    return s->wr_shut && !s->rd_open && !s->out.len;
}

static void stats_print(const struct session *s, const struct mtp_target_ops *ops,
                        struct mtp_target *t)
{
    if (!verbose)
        return;
    char what[160];
    if (ops->describe && ops->describe(t, what, sizeof what) > 0) {
        fprintf(stderr, "mtpcat: %s:", what);
        struct mtp_target_stat ts[16];
        int n = ops->stats ? ops->stats(t, ts, 16) : 0;
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %s %llu", ts[i].name, (unsigned long long)ts[i].value);
        fputc('\n', stderr);
    }
    const struct mtp_stats *st = mtp_stack_stats(s->stack);
    fprintf(stderr,
            "mtpcat: sent %llu bytes, received %llu bytes; frames rx %llu tx %llu; drops: "
            "malformed %llu bad_csum %llu no_ctx %llu tx_full %llu; super-frames %llu "
            "(%llu packets); link %s: csum_partial %llu drop_csum_partial %llu rx_super %llu "
            "drop_no_route %llu drop_arp_unresolved %llu\n",
            (unsigned long long)s->bytes_sent, (unsigned long long)s->bytes_received,
            (unsigned long long)st->rx_frames, (unsigned long long)st->tx_frames,
            (unsigned long long)st->drop_malformed, (unsigned long long)st->drop_bad_csum,
            (unsigned long long)st->drop_no_ctx, (unsigned long long)st->drop_tx_full,
            (unsigned long long)st->tx_super_frames, (unsigned long long)st->tx_super_pkts,
            mtp_link_kind_name((enum mtp_link_kind)s->link_kind),
            (unsigned long long)st->rx_csum_partial, (unsigned long long)st->drop_csum_partial,
            (unsigned long long)st->rx_super_frames, (unsigned long long)st->drop_no_route,
            (unsigned long long)st->drop_arp_unresolved);
}

static int timeout_ms(const struct session *s, uint64_t now)
{
    uint64_t dl = mtp_stack_next_deadline(s->stack);
    if (dl == UINT64_MAX)
        return 1000;
    if (dl <= now)
        return 0;
    uint64_t ms = (dl - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
}

static void run(struct session *s, int wake_fd)
{
    uint64_t linger_until = 0;
    for (;;) {
        uint64_t now = now_ns();
        mtp_stack_poll(s->stack, now);
        if (!s->conn && s->listener) {
            struct mtp_sock *c;
            if (mtp_sock_accept(s->listener, &c, now) == 0) {
                conn_start(s, c);
                if (!s->keep_listening) { /* one connection, like nc -l */
                    mtp_sock_close(s->listener, now);
                    s->listener = NULL;
                }
            }
        }
        int moved = 0;
        struct pollfd pf[3] = {
            {.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLOUT},
            {.fd = wake_fd, .events = POLLIN},
        };
        if (s->conn) {
            conn_check(s);
            moved = conn_pump(s, now, 0, 0);
            if (conn_done(s)) {
                mtp_sock_close(s->conn, now);
                s->conn = NULL;
                say("connection closed");
                if (!s->listener)
                    linger_until = now + LINGER_NS;
                continue;
            }
            if (s->stdin_open && !s->in.len && s->connected)
                pf[0].fd = STDIN_FILENO;
            if (s->out.len)
                pf[1].fd = STDOUT_FILENO;
        }
        /* After the end, keep answering (last ACKs, FIN retransmissions) until the protocol
         * has no timer left or the linger time is over. */
        if (linger_until &&
            (now >= linger_until || mtp_stack_next_deadline(s->stack) == UINT64_MAX))
            return;
        int wait = moved ? 0 : timeout_ms(s, now);
        if (poll(pf, 3, wait) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (s->conn && (pf[0].revents || pf[1].revents))
            conn_pump(s, now_ns(), pf[0].revents, pf[1].revents);
    }
}

/* A pipe or socket on stdout is made non-blocking so a full one never stalls the stack (its
 * flags are restored at exit: the open file may be shared); files and terminals stay as they
 * are. */
static int stdout_flags = -1;

static void stdout_restore(void)
{
    if (stdout_flags >= 0)
        fcntl(STDOUT_FILENO, F_SETFL, stdout_flags);
}

static void stdout_setup(void)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) < 0 || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
        return;
    int fl = fcntl(STDOUT_FILENO, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return;
    if (fcntl(STDOUT_FILENO, F_SETFL, fl | O_NONBLOCK) == 0) {
        stdout_flags = fl;
        atexit(stdout_restore);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: mtpcat [-v] HOST PORT\n       mtpcat [-v] -l [-k] PORT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int listen_mode = 0, keep = 0, opt;
    while ((opt = getopt(argc, argv, "lkvh")) != -1) {
        switch (opt) {
        case 'l': listen_mode = 1; break;
        case 'k': keep = 1; break;
        case 'v': verbose = 1; break;
        default: usage();
        }
    }
    if ((listen_mode && argc - optind != 1) || (!listen_mode && argc - optind != 2) ||
        (keep && !listen_mode))
        usage();
    signal(SIGPIPE, SIG_IGN);
    stdout_setup();

    const struct mtp_sock_proto *proto = proto_pick();
    const struct mtp_target_ops *ops = target_pick();
    const char *iface = iface_pick();
    uint32_t ip = ip_pick();
    const struct mtp_program *prog = mtp_sock_proto_program(proto);
    char param_err[768];
    if (mtp_params_from_env(prog, environ, param_err, sizeof param_err) < 0)
        die("%s", param_err);
    struct mtp_knobs knobs;
    if (mtp_knobs_from_env(&knobs, environ, param_err, sizeof param_err) < 0)
        die("%s", param_err);
    struct mtp_target_config tcfg = {
        .iface = iface, .queue = 0, .ip_proto = prog->ip_proto,
        .steer_port_off = prog->steer_port_off, .prog_name = prog_basename(prog),
        .args = ops->args_env ? getenv(ops->args_env) : NULL,
    };
    mtp_knobs_apply(&knobs, NULL, &tcfg);
    struct mtp_target *target;
    if (ops->open(&target, &tcfg) < 0)
        exit(1); /* the target has printed its one line */
    int err;
    struct mtp_stack_config scfg = {
        .prog = prog, .ops = ops, .target = target, .ipv4 = ip,
        .pcap_path = getenv("MTP_PCAP"),
    };
    mtp_knobs_apply(&knobs, &scfg, NULL);
    struct mtp_stack *stack = mtp_stack_new(&scfg, &err);
    if (!stack)
        die("cannot start the stack: %s", strerror(-err));
    struct session s = {.stack = stack, .stdin_open = 1, .stdout_ok = 1, .keep_listening = keep};
    struct mtp_link_info link;
    if (ops->link_info(target, &link) == 0)
        s.link_kind = link.kind;
    if (!(s.socks = mtp_socks_new(stack, proto, &err)))
        die("cannot start the socket layer: %s", strerror(-err));
    s.in.data = malloc(BUF_BYTES);
    s.out.data = malloc(BUF_BYTES);
    if (!s.in.data || !s.out.data)
        die("out of memory");

    char peer[96];
    uint64_t now = now_ns();
    if (listen_mode) {
        uint16_t port = port_parse(argv[optind]);
        s.listener = mtp_sock_listen(s.socks, port, 16, now, &err);
        if (!s.listener)
            die("listen on port %u: %s", port, strerror(-err));
        snprintf(peer, sizeof(peer), "connection");
        struct in_addr a = {htonl(mtp_stack_ipv4(stack))};
        say("listening on %s:%u (%s over %s, %s)", inet_ntoa(a), port,
            mtp_sock_proto_name(proto), ops->name, iface ? iface : "-");
    } else {
        uint32_t dst = host_resolve(argv[optind]);
        uint16_t port = port_parse(argv[optind + 1]);
        snprintf(peer, sizeof(peer), "%s:%u", argv[optind], port);
        struct mtp_sock *c = mtp_sock_connect(s.socks, dst, port, now, &err);
        if (!c)
            die("connect to %s: %s", peer, strerror(-err));
        conn_start(&s, c);
    }
    s.peer = peer;
    run(&s, ops->wake_fd(target));
    stats_print(&s, ops, target);
    mtp_socks_free(s.socks);
    mtp_stack_free(stack);
    ops->close(target);
    free(s.in.data);
    free(s.out.data);
    return 0;
}
