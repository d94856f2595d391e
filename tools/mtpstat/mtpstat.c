/*
 * mtpstat — the MTP sockets of running processes and their stacks' counters, like
 * `ss -tni` and xlio_stats:
 *
 *   mtpstat [-p PID] [-c] [-w [-i SECONDS]]
 *
 * Every process running libmtp.so answers on $MTP_RUN_DIR/<pid>.sock (default /run/mtp) with
 * a text dump of its stack (preload/libmtp_stat.c: `process`, `sock`, `counters` and
 * `target` records of tab-separated key=value fields); mtpstat reads each and prints it as a
 * table. A socket file whose process is gone is removed. Fields a protocol's shim adds by name
 * are printed after the generic ones.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_DUMP (16u << 20)

static const char usage_text[] =
    "usage: mtpstat [-p PID] [-c] [-w] [-i SECONDS]\n"
    "  Lists the MTP sockets of the processes running libmtp.so (state, addresses, queues,\n"
    "  RTT, congestion window, retransmissions and the protocol's own fields) and each\n"
    "  stack's counters.\n"
    "  -p PID      only this process\n"
    "  -c          counters only, no sockets\n"
    "  -w          refresh until interrupted (every -i SECONDS, default 1)\n"
    "  Environment: MTP_RUN_DIR (default /run/mtp): where processes publish their state.\n";

static const char *run_dir(void)
{
    const char *d = getenv("MTP_RUN_DIR");
    return d && *d ? d : "/run/mtp";
}

/* The dump of one process, or NULL (gone: its socket file is removed). */
static char *fetch(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (fd < 0)
        return NULL;
    if (strlen(path) >= sizeof a.sun_path) {
        close(fd);
        return NULL;
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno == ECONNREFUSED)
            unlink(path);
        close(fd);
        return NULL;
    }
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (len + 1 == cap) {
            char *nb = cap < MAX_DUMP ? realloc(buf, cap * 2) : NULL;
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (buf)
        buf[len] = 0;
    return buf;
}

/* The value of key in a tab-separated record line (copied to out), or "". */
static const char *field(const char *line, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    out[0] = 0;
    for (const char *p = line; p && *p;) {
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, "\t\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, p + kl + 1, n);
            out[n] = 0;
            return out;
        }
        p = strchr(p, '\t');
        if (p)
            p++;
    }
    return out;
}

static const char *const generic[] = {"fd", "state", "local", "peer", "rxq", "txq", "rtt_us",
                                      "rttvar_us", "rto_us", "mss", "cwnd", "snd_wnd",
                                      "retrans", NULL};

static int is_generic(const char *key, size_t len)
{
    for (int i = 0; generic[i]; i++)
        if (strlen(generic[i]) == len && !strncmp(generic[i], key, len))
            return 1;
    return 0;
}

static void print_sock(const char *line)
{
    char st[32], l[64], p[64], rq[32], tq[32], fd[16];
    printf("%-11s %-7s %-7s %-22s %-22s fd %s\n", field(line, "state", st, sizeof st),
           field(line, "rxq", rq, sizeof rq), field(line, "txq", tq, sizeof tq),
           field(line, "local", l, sizeof l), field(line, "peer", p, sizeof p),
           field(line, "fd", fd, sizeof fd));
    char rtt[32], var[32], rto[32], mss[32], cwnd[32], wnd[32], rtx[32];
    if (!*field(line, "rtt_us", rtt, sizeof rtt))
        return;
    printf("\t rtt:%.3f/%.3f rto:%.3f mss:%s cwnd:%s snd_wnd:%s retrans:%s",
           atof(rtt) / 1000, atof(field(line, "rttvar_us", var, sizeof var)) / 1000,
           atof(field(line, "rto_us", rto, sizeof rto)) / 1000, field(line, "mss", mss, sizeof mss),
           field(line, "cwnd", cwnd, sizeof cwnd), field(line, "snd_wnd", wnd, sizeof wnd),
           field(line, "retrans", rtx, sizeof rtx));
    /* the protocol's own fields, as its shim named them */
    for (const char *q = strchr(line, '\t'); q; q = strchr(q + 1, '\t')) {
        const char *k = q + 1, *eq = strchr(k, '=');
        size_t kl = eq ? (size_t)(eq - k) : 0;
        if (!eq || is_generic(k, kl))
            continue;
        printf(" %.*s:%.*s", (int)kl, k, (int)strcspn(eq + 1, "\t\n"), eq + 1);
    }
    printf("\n");
}

/* label, then the record's non-zero key=value fields (but `skip`), wrapped at 100 columns */
static void print_counters(const char *label, const char *line, const char *skip)
{
    printf("%s:", label);
    int col = 9;
    for (const char *q = strchr(line, '\t'); q; q = strchr(q + 1, '\t')) {
        const char *k = q + 1, *eq = strchr(k, '=');
        size_t n = strcspn(k, "\t\n");
        if (!eq || (size_t)(eq - k) >= n)
            continue;
        if (skip && (size_t)(eq - k) == strlen(skip) && !strncmp(k, skip, strlen(skip)))
            continue;
        int kl = (int)(eq - k), vl = (int)(n - (size_t)kl - 1);
        if (vl == 1 && eq[1] == '0')
            continue; /* zero counters are left out */
        if (col + (int)n > 100) {
            printf("\n         ");
            col = 9;
        }
        printf(" %.*s %.*s", kl, k, vl, eq + 1);
        col += (int)n + 1;
    }
    printf("\n");
}

static void show_line(const char *line, int counters_only)
{
    char rec[16];
    snprintf(rec, sizeof rec, "%.*s", (int)strcspn(line, "\t"), line);
    if (!strcmp(rec, "process")) {
        char pid[16], comm[64], proto[32], tgt[32], ifc[32], ip[32];
        printf("pid %s %s: %s over %s on %s (%s)\n", field(line, "pid", pid, sizeof pid),
               field(line, "comm", comm, sizeof comm), field(line, "proto", proto, sizeof proto),
               field(line, "target", tgt, sizeof tgt), field(line, "iface", ifc, sizeof ifc),
               field(line, "ip", ip, sizeof ip));
        if (!counters_only)
            printf("%-11s %-7s %-7s %-22s %-22s\n", "State", "Recv-Q", "Send-Q",
                   "Local Address:Port", "Peer Address:Port");
    } else if (!strcmp(rec, "sock") && !counters_only) {
        print_sock(line);
    } else if (!strcmp(rec, "counters")) {
        print_counters("counters", line, NULL);
    } else if (!strcmp(rec, "target")) {
        char what[160];
        printf("target: %s\n", field(line, "what", what, sizeof what));
        print_counters("  device", line, "what");
    }
}

/* One process's dump, line by line (each parsed on its own). */
static void show(char *dump, int counters_only)
{
    for (char *line = dump; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = 0;
        show_line(line, counters_only);
        line = end ? end + 1 : NULL;
    }
}

static int show_all(int only_pid, int counters_only)
{
    DIR *d = opendir(run_dir());
    int procs = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int pid = atoi(e->d_name);
        if (pid <= 0 || !strstr(e->d_name, ".sock") || (only_pid && pid != only_pid))
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", run_dir(), e->d_name);
        char *dump = fetch(path);
        if (!dump)
            continue;
        if (procs++)
            printf("\n");
        show(dump, counters_only);
        free(dump);
    }
    closedir(d);
    return procs;
}

int main(int argc, char **argv)
{
    int opt, watch = 0, counters_only = 0, pid = 0;
    double every = 1;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    char *end;
    while ((opt = getopt_long(argc, argv, "p:cwi:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'p':
            pid = (int)strtol(optarg, &end, 10);
            if (*optarg == 0 || *end || pid <= 0) {
                fprintf(stderr, "mtpstat: -p %s: not a process id\n", optarg);
                return 2;
            }
            break;
        case 'c': counters_only = 1; break;
        case 'w': watch = 1; break;
        case 'i':
            every = strtod(optarg, &end);
            if (*optarg == 0 || *end || every <= 0) {
                fprintf(stderr, "mtpstat: -i %s: not a positive number of seconds\n", optarg);
                return 2;
            }
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind != argc || every <= 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        if (watch)
            printf("\033[H\033[J");
        int n = show_all(pid, counters_only);
        if (!n)
            printf("mtpstat: no process runs MTP%s (%s)\n", pid ? " with that pid" : "", run_dir());
        fflush(stdout);
        if (!watch)
            return n ? 0 : 1;
        struct timespec ts = {(time_t)every, (long)((every - (double)(time_t)every) * 1e9)};
        nanosleep(&ts, NULL);
    }
}
