/*
 * mtprun — runs an unmodified program on MTP, like Onload's `onload`:
 *
 *     mtprun [--proto P] [--target T] [--iface I] [--busy-poll US] [--] CMD [ARGS...]
 *
 * It sets MTP_PROTO, MTP_TARGET, MTP_IFACE and MTP_BUSY_POLL_US from its options (an option
 * left out keeps the environment's value), puts libmtp.so first in LD_PRELOAD and execs CMD.
 * libmtp.so is looked for next to mtprun: <dir of mtprun>/../lib/libmtp.so (the build tree
 * and an installed prefix), then <dir of mtprun>/libmtp.so, then MTP_PREFIX/lib/libmtp.so (the
 * prefix it was built for). The library itself checks the values: a wrong one is one line on
 * stderr naming the variable and exit status 1 before CMD's main runs.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MTP_PREFIX
#define MTP_PREFIX "/usr/local"
#endif

static const char help_text[] =
    "usage: mtprun [OPTIONS] [--] COMMAND [ARGS...]\n"
    "\n"
    "Runs COMMAND with its AF_INET stream sockets (and the IPv4 side of its AF_INET6\n"
    "dual-stack sockets) on MTP instead of the kernel's TCP: libmtp.so is preloaded\n"
    "(LD_PRELOAD) and the stack is configured from the options below. Everything else the\n"
    "program uses (AF_UNIX, UDP, real IPv6, other interfaces, files, pipes) stays with the\n"
    "kernel. The program is not modified or rebuilt.\n"
    "\n"
    "Options (each sets an environment variable; one left out keeps the environment's value):\n"
    "  --proto P         transport program: MTP_PROTO (default tcp)\n"
    "  --target T        packet target: MTP_TARGET, xdp (default) or dpdk\n"
    "  --iface I         interface the stack runs on: MTP_IFACE (lo included)\n"
    "  --busy-poll US    spin US microseconds before sleeping in a blocking call:\n"
    "                    MTP_BUSY_POLL_US (default 0)\n"
    "  -h, --help        this text\n"
    "\n"
    "libmtp.so is found next to mtprun (../lib/libmtp.so, then ./libmtp.so) or in\n"
    MTP_PREFIX "/lib. Other variables (MTP_IP, MTP_XDP_MODE, MTP_PCAP, MTP_FALLBACK,\n"
    "MTP_PARAM_<NAME>, ...) pass through; see README.md. MTP sockets do not survive exec.\n"
    "\n"
    "Exit status: COMMAND's; 2 for a bad option or no COMMAND; 1 when libmtp.so is not found\n"
    "or the configuration is wrong; 126/127 when COMMAND cannot be run.\n"
    "\n"
    "Examples:\n"
    "  mtprun --iface eth1 -- nginx -g 'daemon off; master_process off;'\n"
    "  mtprun --iface eth1 --busy-poll 50 redis-server --port 6379\n";

static void bad_usage(const char *what)
{
    fprintf(stderr, "mtprun: %s (usage: mtprun [--proto P] [--target T] [--iface I] "
                    "[--busy-poll US] -- CMD ARGS; --help)\n", what);
    exit(2);
}

/* The directory mtprun runs from (resolved through /proc/self/exe). */
static void own_dir(char *dir, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) {
        snprintf(dir, n, ".");
        return;
    }
    exe[len] = '\0';
    snprintf(dir, n, "%s", dirname(exe));
}

/* Where libmtp.so is: 0 and `out` filled, or -1 with the places looked at in `looked`. */
static int find_library(char *out, size_t n, char *looked, size_t ln)
{
    char dir[PATH_MAX], cand[3][PATH_MAX + 32];
    own_dir(dir, sizeof dir);
    snprintf(cand[0], sizeof cand[0], "%s/../lib/libmtp.so", dir);
    snprintf(cand[1], sizeof cand[1], "%s/libmtp.so", dir);
    snprintf(cand[2], sizeof cand[2], "%s/lib/libmtp.so", MTP_PREFIX);
    looked[0] = '\0';
    for (int i = 0; i < 3; i++) {
        char real[PATH_MAX];
        if (access(cand[i], R_OK) == 0 && realpath(cand[i], real)) {
            snprintf(out, n, "%s", real);
            return 0;
        }
        size_t used = strlen(looked);
        snprintf(looked + used, ln - used, "%s%s", i ? ", " : "", cand[i]);
    }
    return -1;
}

static void set_or_die(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0) {
        fprintf(stderr, "mtprun: cannot set %s: %s\n", name, strerror(errno));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"proto", required_argument, 0, 'p'}, {"target", required_argument, 0, 't'},
        {"iface", required_argument, 0, 'i'}, {"busy-poll", required_argument, 0, 'b'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    opterr = 0; /* our own one-line messages */
    int o;
    while ((o = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        char *end;
        switch (o) {
        case 'p': set_or_die("MTP_PROTO", optarg); break;
        case 't': set_or_die("MTP_TARGET", optarg); break;
        case 'i': set_or_die("MTP_IFACE", optarg); break;
        case 'b':
            errno = 0;
            long us = strtol(optarg, &end, 10);
            if (!*optarg || *end || errno || us < 0 || us > 1000000)
                bad_usage("--busy-poll takes microseconds, 0..1000000");
            set_or_die("MTP_BUSY_POLL_US", optarg);
            break;
        case 'h': fputs(help_text, stdout); return 0;
        default: {
            char msg[128];
            if (optopt && strchr("ptib", optopt))
                snprintf(msg, sizeof msg, "option %s needs a value", argv[optind - 1]);
            else
                snprintf(msg, sizeof msg, "unknown option %s", argv[optind - 1]);
            bad_usage(msg);
        }
        }
    }
    if (optind >= argc)
        bad_usage("no command to run");

    char lib[PATH_MAX], looked[4 * PATH_MAX];
    if (find_library(lib, sizeof lib, looked, sizeof looked) != 0) {
        fprintf(stderr, "mtprun: libmtp.so not found (looked at %s)\n", looked);
        return 1;
    }
    const char *old = getenv("LD_PRELOAD");
    if (old && *old) {
        size_t n = strlen(lib) + strlen(old) + 2;
        char *both = malloc(n);
        if (!both)
            return 1;
        snprintf(both, n, "%s:%s", lib, old);
        set_or_die("LD_PRELOAD", both);
    } else {
        set_or_die("LD_PRELOAD", lib);
    }
    execvp(argv[optind], &argv[optind]);
    int e = errno;
    fprintf(stderr, "mtprun: %s: %s\n", argv[optind], strerror(e));
    return e == ENOENT ? 127 : 126;
}
