/*
 * dpdk.c — the DPDK packet target: one rte_ethdev port, one rx/tx queue pair, any PMD
 * (net_af_packet, net_af_xdp, net_memif, net_tap, real NICs).
 *
 * The port is owned by the stack: it answers ARP and ICMP echo itself (owns_arp = 1), so
 * port_claim/port_release have nothing to do and neigh_lookup is absent.
 *
 * EAL is initialised inside the process on the first open, from cfg->args (MTP_DPDK_ARGS,
 * whitespace-split) plus defaults for what the arguments leave out (see eal_args_build):
 * a per-process --file-prefix; --no-huge -m 256 when the host has under 64 MB of free
 * hugepages; --in-memory (with hugepages) or --no-shconf (without; EAL refuses --in-memory
 * with --no-huge), so two stacks on one host share no files; one lcore allowed on every CPU
 * of the caller's affinity (EAL must not pin the application thread); --no-telemetry; and
 * --vdev=net_af_packetN,iface=<cfg->iface> --no-pci when an interface is named and no
 * device is. Debian links DPDK shared: EAL loads every PMD from its plugin directory
 * (RTE_EAL_PMD_PATH), so no -d is needed. Later opens in the same process (EAL initialises
 * once) hot-plug their --vdev device; close removes a virtual device with its port.
 *
 * Offloads: IPv4 and L4 checksums go to the device when it has them (reported in
 * offload_caps; L4 only if the device checksums cfg->ip_proto, see offloads_choose) and are
 * computed here otherwise. Segmentation (MTP_OFFLOAD_SEG) is reported when the device
 * segments cfg->ip_proto (seg_offloads: TSO) and takes multi-segment mbufs: a super-frame
 * is copied from the stack's buffer into a chain of mbufs at tx_burst and handed to the
 * device with its TSO flags (net_tap segments in software inside the PMD).
 *
 * Wake-up: when the PMD supports ethdev rx interrupts (net_tap, PCI NICs under VFIO) wake_fd
 * is the queue's interrupt fd. An eventfd-style interrupt (VFIO) is armed after an empty rx
 * poll, disarmed after a busy one and drained on every empty poll, so a readable fd always
 * means "poll again" and never spins; net_tap's fd is the tap queue itself, readable while
 * frames wait. net_af_xdp (DPDK 22.11) has no rx interrupts, but its queue is an AF_XDP
 * socket of this process, and the kernel makes that socket readable while its rx ring holds
 * frames: wake_fd is that socket (found as the one AF_XDP socket the port's setup created,
 * see xsk_fd_find), so a sleeper wakes when a frame lands and an idle process does not wake
 * at all. PMDs with neither (net_af_packet, net_memif, or net_af_xdp with several queues)
 * get a 1 ms periodic timerfd instead, drained by empty polls: a caller asleep in epoll polls
 * at most 1 ms late and an idle process wakes 1000 times a second, no more.
 *
 * No rte_* type leaves this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <dirent.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_interrupts.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_mempool.h>

#include "mtp/net.h"
#include "mtp/target.h"
#include "../ifkind.h"

#define DPDK_MAX_ARGS     96
#define DPDK_BURST        64
#define DPDK_HOLD_MAX     32    /* frames held back for one tx burst (tx_hold) */
#define DPDK_RING_SIZE    1024
#define DPDK_POOL_MBUFS   8191
#define DPDK_POOL_CACHE   256
#define DPDK_NOHUGE_MB    "256"
#define DPDK_TICK_NS      1000000 /* wake-up period without rx interrupts: 1 ms */
#define DPDK_ETH_OVERHEAD (RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN)

struct mtp_target {
    uint16_t port;
    uint16_t queue;
    struct rte_mempool *pool;
    struct rte_mempool *rx_pool;  /* net_af_packet with GSO-sized frames: mbufs that hold one */
    struct rte_ether_addr mac;
    uint32_t mtu;
    int if_index;
    uint64_t tx_offloads;   /* RTE_ETH_TX_OFFLOAD_* enabled on the port */
    uint32_t offload_caps;  /* MTP_OFFLOAD_* reported to the stack */
    const struct seg_offload *seg; /* with MTP_OFFLOAD_SEG */
    bool tso_l2_in_mtu;     /* the PMD counts the Ethernet header of a TSO packet in the MTU */
    int intr_fd;            /* rx interrupt fd, or the ticker (tick_fd), or -1 */
    bool tick_fd;           /* intr_fd is our timerfd, closed with the target */
    bool xsk_fd;            /* intr_fd is net_af_xdp's AF_XDP socket (the PMD's, not ours) */
    bool hook_foreign;      /* net_af_xdp on an interface whose XDP hook another process holds */
    bool hook_ours;         /* net_af_xdp attached its program to the interface (if_index) */
    bool intr_armed;
    bool intr_switch;       /* interrupts are armed and disarmed (else always on) */
    bool intr_counts;       /* intr_fd is an eventfd whose count must be drained */
    enum mtp_link_kind kind;
    bool tx_hold;           /* tx_hold: frames wait in tx_held for one rte_eth_tx_burst */
    uint16_t n_tx_held;
    uint64_t tx_held_dropped; /* held frames the tx ring then refused (freed) */
    struct rte_mbuf *tx_held[DPDK_HOLD_MAX];
};

struct seg_offload;

/* Process-wide EAL state: EAL initialises once per process and cannot be re-initialised. */
static int eal_state;                       /* 0: not tried, 1: up, -errno: failed */
static unsigned vdev_counter;
static bool port_taken[RTE_MAX_ETHPORTS];

static unsigned reports; /* lines printed so far: open makes sure a failure printed one */

static void dpdk_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void dpdk_err(const char *fmt, ...)
{
    reports++;
    va_list ap;
    va_start(ap, fmt);
    fputs("mtp dpdk: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- EAL arguments ---------------------------------------------------------------------- */

struct eal_args {
    int argc;
    char *argv[DPDK_MAX_ARGS + 1];
    char *owned[DPDK_MAX_ARGS];  /* strings to free */
    int nowned;
    const char *first_vdev;      /* devargs of the first --vdev (points into argv) */
    bool afp_big;                /* it is net_af_packet with frames sized by afp_size_frames */
};

static bool arg_is(const char *tok, const char *opt)
{
    size_t n = strlen(opt);
    if (strncmp(tok, opt, n) != 0)
        return false;
    if (tok[n] == '\0' || tok[n] == '=')
        return true;
    /* short options may carry their value attached: -l0-3, -m256 */
    return opt[0] == '-' && opt[1] != '-' && opt[2] == '\0';
}

static bool args_have(const struct eal_args *a, const char *const *opts)
{
    for (int i = 1; i < a->argc; i++)
        for (const char *const *o = opts; *o; o++)
            if (arg_is(a->argv[i], *o))
                return true;
    return false;
}

static int args_push(struct eal_args *a, const char *s, bool copy)
{
    if (a->argc >= DPDK_MAX_ARGS) {
        dpdk_err("MTP_DPDK_ARGS: too many arguments (%d words at most, defaults included)",
                 DPDK_MAX_ARGS);
        return -E2BIG;
    }
    char *v = (char *)s;
    if (copy) {
        v = strdup(s);
        if (!v)
            return -ENOMEM;
        a->owned[a->nowned++] = v;
    }
    a->argv[a->argc++] = v;
    a->argv[a->argc] = NULL;
    return 0;
}

static void args_free(struct eal_args *a)
{
    for (int i = 0; i < a->nowned; i++)
        free(a->owned[i]);
    a->nowned = 0;
    a->argc = 0;
}

/* net_af_packet on a veth whose peer does TSO/GSO (the kernel's default) receives each GSO
 * packet whole: up to 64 KiB, where its default 2 KiB ring frames would truncate it. Unless
 * the devargs size the frames themselves, they get PACKET_MMAP frames that hold the largest
 * GSO packet TCP builds (about 65,250 bytes of Ethernet frame) and, in port_setup, an rx mbuf
 * pool whose mbufs hold a whole frame: the largest an mbuf can (its data room is 16 bits). */
#define DPDK_AFP_FRAME   65408u  /* 16-aligned, = 128 * 511; its data part fits one mbuf */
#define DPDK_AFP_BLOCK   (32u * DPDK_AFP_FRAME) /* 511 pages: the PMD wants frames back to
                                                   back, so frames must tile the blocks */
#define DPDK_AFP_FRAMES  128u
#define DPDK_AFP_MBUFS   511u
#define DPDK_AFP_ROOM    (DPDK_AFP_FRAME - 32u + RTE_PKTMBUF_HEADROOM) /* tpacket2 hdr */

static int afp_size_frames(struct eal_args *a)
{
    if (!a->first_vdev || strncmp(a->first_vdev, "net_af_packet", 13) != 0 ||
        strstr(a->first_vdev, "framesz=") || strstr(a->first_vdev, "blocksz="))
        return 0;
    for (int i = 1; i < a->argc; i++) {
        bool eq = a->argv[i] + 7 == a->first_vdev;
        if (a->argv[i] != a->first_vdev && !eq)
            continue;
        char buf[512];
        snprintf(buf, sizeof(buf), "%s%s,blocksz=%u,framesz=%u,framecnt=%u", eq ? "--vdev=" : "",
                 a->first_vdev, DPDK_AFP_BLOCK, DPDK_AFP_FRAME, DPDK_AFP_FRAMES);
        char *v = strdup(buf);
        if (!v || a->nowned == DPDK_MAX_ARGS) {
            free(v);
            return -ENOMEM;
        }
        a->owned[a->nowned++] = v;
        a->argv[i] = v;
        a->first_vdev = eq ? v + 7 : v;
        a->afp_big = true;
        return 0;
    }
    return 0;
}

/* Free hugepage memory of every size, in MB. */
static uint64_t hugepages_free_mb(void)
{
    static const struct { const char *path; uint64_t mb; } sizes[] = {
        { "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages", 2 },
        { "/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", 1024 },
    };
    uint64_t total = 0;
    for (size_t i = 0; i < RTE_DIM(sizes); i++) {
        FILE *f = fopen(sizes[i].path, "r");
        unsigned long long n = 0;
        if (!f)
            continue;
        if (fscanf(f, "%llu", &n) == 1)
            total += n * sizes[i].mb;
        fclose(f);
    }
    return total;
}

/* "--lcores=0@(a-b,c,...)": lcore 0 may run on every CPU the caller may run on. */
static int lcores_arg(char *buf, size_t cap)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return -errno;
    size_t n = (size_t)snprintf(buf, cap, "--lcores=0@(");
    bool first = true;
    for (int c = 0; c < CPU_SETSIZE && n < cap; c++) {
        if (!CPU_ISSET(c, &set))
            continue;
        int last = c;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set))
            last++;
        if (last == c)
            n += (size_t)snprintf(buf + n, cap - n, "%s%d", first ? "" : ",", c);
        else
            n += (size_t)snprintf(buf + n, cap - n, "%s%d-%d", first ? "" : ",", c, last);
        first = false;
        c = last;
    }
    if (first || n + 2 > cap)
        return -E2BIG;
    snprintf(buf + n, cap - n, ")");
    return 0;
}

/* Split the user's arguments and add the defaults they leave out. */
static int eal_args_build(struct eal_args *a, const struct mtp_target_config *cfg)
{
    static const char *const o_prefix[] = { "--file-prefix", NULL };
    /* options that choose the memory model themselves (hugepages or not) */
    static const char *const o_mem[] = { "--no-huge", "--in-memory", "--socket-mem",
                                         "--huge-dir", "--legacy-mem", NULL };
    static const char *const o_size[] = { "-m", "--socket-mem", NULL };
    static const char *const o_inmem[] = { "--in-memory", "--no-shconf", NULL };
    static const char *const o_lcores[] = { "-l", "-c", "--lcores", NULL };
    static const char *const o_telemetry[] = { "--no-telemetry", "--telemetry", NULL };
    static const char *const o_log[] = { "--log-level", NULL };
    static const char *const o_devs[] = { "--vdev", "-a", "--allow", "-b", "--block",
                                          "--no-pci", NULL };
    char buf[512];
    int err;

    memset(a, 0, sizeof(*a));
    if ((err = args_push(a, "mtp", false)))
        return err;
    if (cfg->args) {
        char *copy = strdup(cfg->args), *save = NULL;
        if (!copy)
            return -ENOMEM;
        a->owned[a->nowned++] = copy;
        for (char *t = strtok_r(copy, " \t\n", &save); t; t = strtok_r(NULL, " \t\n", &save))
            if ((err = args_push(a, t, false)))
                return err;
    }
    /* Devices given as "--vdev X" or "--vdev=X": remember the first. */
    for (int i = 1; i < a->argc; i++) {
        if (strcmp(a->argv[i], "--vdev") == 0 && i + 1 < a->argc) {
            a->first_vdev = a->argv[i + 1];
            break;
        }
        if (strncmp(a->argv[i], "--vdev=", 7) == 0) {
            a->first_vdev = a->argv[i] + 7;
            break;
        }
    }
    bool user_devs = args_have(a, o_devs);
    if (!a->first_vdev && !user_devs && cfg->iface && *cfg->iface) {
        snprintf(buf, sizeof(buf), "--vdev=net_af_packet%u,iface=%s", vdev_counter++,
                 cfg->iface);
        if ((err = args_push(a, buf, true)))
            return err;
        a->first_vdev = a->argv[a->argc - 1] + 7;
        if ((err = args_push(a, "--no-pci", false)))
            return err;
    } else if (a->first_vdev && !args_have(a, (const char *const[]){ "-a", "--allow",
                                                                      "--no-pci", NULL })) {
        /* Only virtual devices named: do not probe (and grab) the host's PCI NICs. */
        if ((err = args_push(a, "--no-pci", false)))
            return err;
    }
    if ((err = afp_size_frames(a)))
        return err;
    if (!args_have(a, o_prefix)) {
        snprintf(buf, sizeof(buf), "--file-prefix=mtp%ld", (long)getpid());
        if ((err = args_push(a, buf, true)))
            return err;
    }
    if (!args_have(a, o_mem) && hugepages_free_mb() < 64) {
        if ((err = args_push(a, "--no-huge", false)))
            return err;
        if (!args_have(a, o_size) && ((err = args_push(a, "-m", false)) ||
                                      (err = args_push(a, DPDK_NOHUGE_MB, false))))
            return err;
    }
    /* No files shared with other processes. --no-huge implies legacy memory, which EAL
     * refuses to combine with --in-memory; --no-shconf is the part of it that still applies. */
    if (!args_have(a, o_inmem)) {
        static const char *const o_nohuge[] = { "--no-huge", NULL };
        const char *opt = args_have(a, o_nohuge) ? "--no-shconf" : "--in-memory";
        if ((err = args_push(a, opt, false)))
            return err;
    }
    if (!args_have(a, o_lcores)) {
        if ((err = lcores_arg(buf, sizeof(buf)))) {
            dpdk_err("cannot read the CPU affinity: %s", strerror(-err));
            return err;
        }
        if ((err = args_push(a, buf, true)))
            return err;
    }
    if (!args_have(a, o_telemetry) && (err = args_push(a, "--no-telemetry", false)))
        return err;
    if (!args_have(a, o_log) && (err = args_push(a, "--log-level=lib.eal:warning", false)))
        return err;
    return 0;
}

static void args_join(const struct eal_args *a, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 1; i < a->argc && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i > 1 ? " " : "", a->argv[i]);
}

/* rte_eal_init overwrites an entry of the argv it gets (argv[optind - 1] = the program name):
 * the strings of our copy stay owned here, for the life of the process. */
static char *eal_owned[DPDK_MAX_ARGS + 1];

static int eal_init(struct eal_args *a)
{
    /* rte_eal_init permutes and may keep pointers into argv: give it a copy it can keep. */
    static char *eal_argv[DPDK_MAX_ARGS + 1];
    char joined[1024];
    cpu_set_t saved;
    bool have_saved = sched_getaffinity(0, sizeof(saved), &saved) == 0;

    for (int i = 0; i < a->argc; i++) {
        eal_owned[i] = eal_argv[i] = strdup(a->argv[i]);
        if (!eal_argv[i])
            return -ENOMEM;
    }
    eal_argv[a->argc] = NULL;
    int ret = rte_eal_init(a->argc, eal_argv);
    if (ret < 0) {
        int e = rte_errno ? rte_errno : EINVAL;
        args_join(a, joined, sizeof(joined));
        dpdk_err("EAL init failed: %s (check MTP_DPDK_ARGS; EAL args: %s)", rte_strerror(e),
                 joined);
        return -e;
    }
    /* Without shared config the runtime directory stays empty: do not leave it behind
     * (rmdir refuses if a multi-process setup put files there). */
    rmdir(rte_eal_get_runtime_dir());
    /* EAL pins the calling thread to its lcore's CPU set; give the application back its own. */
    if (have_saved)
        sched_setaffinity(0, sizeof(saved), &saved);
    return 0;
}

/* EAL is up already: hot-plug the device this open names (unless it exists). */
static int vdev_hotplug(const char *devargs)
{
    char name[RTE_ETH_NAME_MAX_LEN];
    const char *comma = strchr(devargs, ',');
    size_t nlen = comma ? (size_t)(comma - devargs) : strlen(devargs);
    uint16_t port;
    if (nlen >= sizeof(name)) {
        dpdk_err("device name too long: %s", devargs);
        return -ENAMETOOLONG;
    }
    memcpy(name, devargs, nlen);
    name[nlen] = '\0';
    if (rte_eth_dev_get_port_by_name(name, &port) == 0)
        return 0; /* present: port_pick tells whether it is free */
    int ret = rte_dev_probe(devargs);
    if (ret < 0) {
        dpdk_err("cannot create device %s: %s", devargs, rte_strerror(-ret));
        return ret;
    }
    return 0;
}

/* ---- port setup ------------------------------------------------------------------------- */

static int port_pick(const char *devargs, uint16_t *port)
{
    if (devargs) {
        char name[RTE_ETH_NAME_MAX_LEN];
        const char *comma = strchr(devargs, ',');
        size_t n = comma ? (size_t)(comma - devargs) : strlen(devargs);
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, devargs, n);
        name[n] = '\0';
        if (rte_eth_dev_get_port_by_name(name, port) != 0) {
            dpdk_err("no such device: %s (the PMD did not create it from \"%s\"; its reason "
                     "is logged above)", name, devargs);
            return -ENODEV;
        }
        if (port_taken[*port]) {
            dpdk_err("device %s is already open in this process", name);
            return -EBUSY;
        }
        return 0;
    }
    uint16_t p;
    RTE_ETH_FOREACH_DEV(p) {
        if (!port_taken[p]) {
            *port = p;
            return 0;
        }
    }
    dpdk_err("no DPDK port: name a device in MTP_DPDK_ARGS (--vdev=net_af_packet0,iface=X, "
             "-a <pci>) or an interface in MTP_IFACE");
    return -ENODEV;
}

/* The frame contract has one L4 flag and no checksum-field offset, while DPDK devices
 * checksum only the L4 protocols they know (flags chosen per frame from the IPv4 protocol
 * field). So L4 is reported only when the device checksums the stack's own protocol
 * (cfg->ip_proto); other protocols keep their checksums in the stack's software. */
/* The segmentation offloads DPDK devices have: for one IPv4 protocol, the header field the
 * device advances by the payload bytes before each packet it cuts (TSO: the 32-bit sequence
 * number at offset 4), and the checksum it then computes per packet. */
struct seg_offload {
    uint8_t ip_proto;
    uint16_t linear_off;
    uint8_t linear_bytes;
    uint64_t capa;         /* RTE_ETH_TX_OFFLOAD_* */
    uint64_t ol_flags;     /* RTE_MBUF_F_TX_* for a super-frame (besides IPV4/IP_CKSUM) */
};
/* The L4 checksum flag is set with TSO's: TSO implies it on hardware, and software
 * segmentation in a PMD (net_tap's rte_gso) clears the TSO flag on the packets it cuts,
 * which then need the checksum flag to get their checksum. */
static const struct seg_offload seg_offloads[] = {
    { IPPROTO_TCP, 4, 4, RTE_ETH_TX_OFFLOAD_TCP_TSO,
      RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM },
};
#define DPDK_SEG_MAX_BYTES 65535u /* IPv4 total length of a super-frame */

static const struct seg_offload *seg_offload_for(uint8_t ip_proto)
{
    for (size_t i = 0; i < RTE_DIM(seg_offloads); i++)
        if (seg_offloads[i].ip_proto == ip_proto)
            return &seg_offloads[i];
    return NULL;
}

static void offloads_choose(struct mtp_target *t, const struct rte_eth_dev_info *info,
                            uint32_t ip_proto, bool no_seg)
{
    uint64_t want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
                    RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
    t->tx_offloads = info->tx_offload_capa & want;
    t->offload_caps = 0;
    if (t->tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
        t->offload_caps |= MTP_OFFLOAD_IPV4_CSUM;
    uint64_t l4 = ip_proto == IPPROTO_TCP ? RTE_ETH_TX_OFFLOAD_TCP_CKSUM
                : ip_proto == IPPROTO_UDP ? RTE_ETH_TX_OFFLOAD_UDP_CKSUM
                : 0;
    if (l4 && (t->tx_offloads & l4))
        t->offload_caps |= MTP_OFFLOAD_L4_CSUM;
    /* segmentation: the device cuts the protocol's super-frames, takes mbuf chains and
     * checksums what it cuts (IPv4 and L4) */
    const struct seg_offload *so = ip_proto <= 255 ? seg_offload_for((uint8_t)ip_proto) : NULL;
    uint64_t seg_need = so ? so->capa | RTE_ETH_TX_OFFLOAD_MULTI_SEGS : 0;
    if (so && (info->tx_offload_capa & seg_need) == seg_need &&
        (t->offload_caps & (MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM)) ==
            (MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM) &&
        !no_seg) {
        t->tx_offloads |= seg_need;
        t->offload_caps |= MTP_OFFLOAD_SEG;
        t->seg = so;
    }
}

static int port_configure(struct mtp_target *t, const struct rte_eth_dev_info *info,
                          bool rx_intr)
{
    struct rte_eth_conf conf;
    memset(&conf, 0, sizeof(conf));
    conf.txmode.offloads = t->tx_offloads;
    conf.intr_conf.rxq = rx_intr ? 1 : 0;
    (void)info;
    return rte_eth_dev_configure(t->port, t->queue + 1, t->queue + 1, &conf);
}

/* memif signals with an eventfd (a counter to drain); tap's interrupt fd is the queue's own
 * file descriptor, readable while frames wait (nothing to drain, reading would eat a frame). */
static bool fd_is_eventfd(int fd)
{
    char path[64], target[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* No rx interrupts: a periodic timerfd stands in, so that a caller can still sleep in the
 * kernel (epoll) and poll at most DPDK_TICK_NS late; drained by every empty rx poll. */
static void ticker_start(struct mtp_target *t)
{
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (fd < 0)
        return; /* wake_fd stays -1: the caller polls */
    struct itimerspec its = {
        .it_interval = { .tv_sec = 0, .tv_nsec = DPDK_TICK_NS },
        .it_value = { .tv_sec = 0, .tv_nsec = DPDK_TICK_NS },
    };
    if (timerfd_settime(fd, 0, &its, NULL) != 0) {
        close(fd);
        return;
    }
    t->intr_fd = fd;
    t->tick_fd = true;
    t->intr_counts = true;
    t->intr_switch = false;
}

#ifndef AF_XDP
#define AF_XDP 44
#endif
#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#define DPDK_XSK_MAX 64 /* AF_XDP sockets remembered from before a port's setup */

/* The AF_XDP sockets open in this process, by fd (at most max of them). */
static int xsk_fds_list(int *fds, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        int fd = atoi(e->d_name);
        int domain = 0;
        socklen_t len = sizeof(domain);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
            continue;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_XDP)
            fds[n++] = fd;
    }
    closedir(d);
    return n;
}

/* net_af_xdp keeps its queue's AF_XDP socket to itself (no rte_* call returns it); the socket
 * its setup created is the one AF_XDP socket in the process that was not there before
 * (`before`, n_before). Readable while the rx ring holds frames (xsk_poll), which is the
 * wake-up the PMD lacks. -1 unless there is exactly one such socket (several queues: we could
 * not tell which is ours). */
static int xsk_fd_find(const int *before, int n_before)
{
    int now[DPDK_XSK_MAX], found = -1, n = xsk_fds_list(now, DPDK_XSK_MAX);
    for (int i = 0; i < n; i++) {
        bool old = false;
        for (int j = 0; j < n_before && !old; j++)
            old = now[i] == before[j];
        if (old)
            continue;
        if (found >= 0)
            return -1;
        found = now[i];
    }
    return found;
}

/* ethdev logs an error when asked for rx interrupts a PMD does not have; we only probe. */
static int ethdev_log_quiet(void)
{
    int type = rte_log_register("lib.ethdev");
    int level = type >= 0 ? rte_log_get_level((uint32_t)type) : -1;
    if (level >= 0)
        rte_log_set_level((uint32_t)type, RTE_LOG_CRIT);
    return level;
}

static void ethdev_log_restore(int level)
{
    int type = rte_log_register("lib.ethdev");
    if (type >= 0 && level >= 0)
        rte_log_set_level((uint32_t)type, (uint32_t)level);
}

/* What carries the frames: the PMD, and for the PMDs on a kernel interface, that
 * interface's kind (veth, lo, …: see ifkind.h). */
static enum mtp_link_kind link_kind_of(const struct rte_eth_dev_info *info)
{
    const char *drv = info->driver_name ? info->driver_name : "";
    if (!strcmp(drv, "net_tap"))
        return MTP_LINK_TAP;
    if (!strcmp(drv, "net_memif"))
        return MTP_LINK_MEMIF;
    if (!strcmp(drv, "net_af_packet") || !strcmp(drv, "net_af_xdp"))
        return mtp__ifkind_by_index((int)info->if_index);
    return MTP_LINK_WIRE;
}

/* The mbuf pool, its objects back to back in memory. net_af_xdp (DPDK 22.11) turns the rx
 * queue's pool into its UMEM and registers populated_size x object size bytes from the first
 * object on: it assumes no gap between objects. rte_pktmbuf_pool_create does not lay them out
 * so: an object never straddles a page, and with 4 KiB pages (--no-huge, the default without
 * free hugepages) each 2,368-byte mbuf took a page of its own, the pool spanned 32 MiB and the
 * UMEM 19 MiB. The kernel refused every frame in an mbuf beyond as an invalid descriptor,
 * without a word (XDP_STATISTICS tx_invalid_descs), and dropped such rx buffers: TCP
 * connections stalled for good after ~1,000 frames (nginx + wrk at 0.01x of the kernel).
 * Objects of a power of two bytes (at least 2 KiB: a page is a whole number of them, or they a
 * whole number of pages), never spread over memory channels, lie back to back on any page
 * size. `room` is the data room wanted; the object gives the mbuf what it has left. */
static struct rte_mempool *pool_create(const char *name, unsigned n, uint32_t room, int socket)
{
    const uint32_t flags = RTE_MEMPOOL_F_NO_SPREAD;
    struct rte_mempool_objsz sz;
    uint32_t total = rte_mempool_calc_obj_size((uint32_t)sizeof(struct rte_mbuf) + room, flags,
                                               &sz);
    uint32_t obj = 2048;
    while (obj < total && obj <= UINT16_MAX)
        obj <<= 1;
    uint32_t elt = obj - sz.header_size;
    uint32_t data_room = elt - (uint32_t)sizeof(struct rte_mbuf);
    if (obj < total || data_room > UINT16_MAX ||
        rte_mempool_calc_obj_size(elt, flags, NULL) != obj) {
        rte_errno = EINVAL; /* a data room beyond 16 bits, or a padded object */
        return NULL;
    }
    struct rte_mempool *mp = rte_mempool_create_empty(name, n, elt, DPDK_POOL_CACHE,
                                                      sizeof(struct rte_pktmbuf_pool_private),
                                                      socket, flags);
    if (!mp)
        return NULL;
    struct rte_pktmbuf_pool_private priv = { .mbuf_data_room_size = (uint16_t)data_room };
    int ret = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), NULL);
    if (ret == 0) {
        rte_pktmbuf_pool_init(mp, &priv);
        ret = rte_mempool_populate_default(mp);
    }
    if (ret < 0) {
        rte_mempool_free(mp);
        rte_errno = -ret;
        return NULL;
    }
    rte_mempool_obj_iter(mp, rte_pktmbuf_init, NULL);
    return mp;
}

/* net_af_xdp cannot bind its AF_XDP socket to a queue another process holds: another DPDK
 * process's net_af_xdp port, or an MTP_TARGET=xdp stack. A DPDK port belongs to one process
 * (docs/MULTIPROC.md "DPDK"): say so, and the fix, rather than a bare EINVAL. */
static int queue_held(const char *name, uint16_t q, int ret)
{
    dpdk_err("MTP_TARGET=dpdk: %s: cannot bind queue %u (%s): is another process (DPDK or "
             "MTP_TARGET=xdp) on this interface? A DPDK port belongs to one process; use "
             "MTP_TARGET=xdp for several processes on one interface (a program left by a killed "
             "process: `ip link set dev IFACE xdp off`)", name, q, rte_strerror(-ret));
    return -EBUSY;
}

/* Whether the interface's XDP hook already holds a program (IFLA_XDP_ATTACHED, asked of
 * rtnetlink: libbpf is not linked here). net_af_xdp must not touch such an interface: its
 * failure path removes the program, which cuts the process that owns it off its port. */
static bool xdp_hook_busy(unsigned ifindex)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0 || !ifindex) {
        if (fd >= 0)
            close(fd);
        return false;
    }
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
    } req = {.h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST},
             .i = {.ifi_family = AF_UNSPEC, .ifi_index = (int)ifindex}};
    static __thread char buf[16384];
    bool busy = false;
    ssize_t n = send(fd, &req, sizeof req, 0) < 0 ? -1 : recv(fd, buf, sizeof buf, 0);
    close(fd);
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct ifinfomsg)) || !NLMSG_OK(h, (size_t)n) ||
        h->nlmsg_type != RTM_NEWLINK)
        return false;
    struct rtattr *a = IFLA_RTA(NLMSG_DATA(h));
    int len = (int)IFLA_PAYLOAD(h);
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type != IFLA_XDP)
            continue;
        struct rtattr *x = RTA_DATA(a);
        int xlen = (int)RTA_PAYLOAD(a);
        for (; RTA_OK(x, xlen); x = RTA_NEXT(x, xlen))
            if (x->rta_type == IFLA_XDP_ATTACHED && *(uint8_t *)RTA_DATA(x) != XDP_ATTACHED_NONE)
                busy = true;
    }
    return busy;
}

static int port_setup(struct mtp_target *t, const char *name, const struct mtp_target_config *cfg,
                      bool afp_big)
{
    struct rte_eth_dev_info info;
    int ret = rte_eth_dev_info_get(t->port, &info);
    if (ret != 0) {
        dpdk_err("%s: cannot read device info: %s", name, rte_strerror(-ret));
        return ret;
    }
    if (t->queue >= info.max_rx_queues || t->queue >= info.max_tx_queues) {
        dpdk_err("%s: queue %u out of range (the device has %u rx / %u tx queues)", name,
                 t->queue, info.max_rx_queues, info.max_tx_queues);
        return -EINVAL;
    }
    offloads_choose(t, &info, cfg->ip_proto, cfg->no_seg_offload);
    t->if_index = (int)info.if_index;
    t->kind = link_kind_of(&info);
    if (t->kind == MTP_LINK_LOOPBACK) {
        /* the port would be ours alone (our ARP, ICMP, every port; net_af_xdp steals every
         * packet), while the kernel keeps using lo: serve it with the XDP target, which
         * shares an interface with the kernel */
        dpdk_err("%s is on lo, which the kernel keeps using: the DPDK target owns its whole "
                 "port; use MTP_TARGET=xdp for loopback", name);
        return -EINVAL;
    }

    uint16_t mtu = RTE_ETHER_MTU;
    if (rte_eth_dev_get_mtu(t->port, &mtu) != 0)
        mtu = RTE_ETHER_MTU;
    t->mtu = mtu;

    /* net_af_xdp creates its AF_XDP socket while the port is set up: note the ones before */
    bool is_af_xdp = info.driver_name && strcmp(info.driver_name, "net_af_xdp") == 0;
    if (is_af_xdp && xdp_hook_busy(info.if_index)) {
        t->hook_foreign = true;
        return queue_held(name, 0, -EBUSY);
    }
    t->hook_ours = is_af_xdp;
    int xsk_before[DPDK_XSK_MAX], n_xsk_before = is_af_xdp ? xsk_fds_list(xsk_before, DPDK_XSK_MAX) : 0;

    /* Rx interrupts if the PMD has them; otherwise plain polling. */
    bool rx_intr = true;
    int log_level = ethdev_log_quiet(); /* a PMD without rx interrupts is not an error */
    ret = port_configure(t, &info, true);
    ethdev_log_restore(log_level);
    if (ret != 0) {
        rx_intr = false;
        ret = port_configure(t, &info, false);
        if (ret != 0) {
            dpdk_err("%s: cannot configure the port: %s", name, rte_strerror(-ret));
            return ret;
        }
    }

    /* net_tap (DPDK 22.11) refuses a TSO packet whose tso_segsz plus all its headers, the
     * Ethernet one included, exceeds the port MTU (its maximum, too): see tx_super_prepare */
    t->tso_l2_in_mtu = info.driver_name && strcmp(info.driver_name, "net_tap") == 0;

    char pool_name[RTE_MEMPOOL_NAMESIZE];
    snprintf(pool_name, sizeof(pool_name), "mtp_pool_p%u", t->port);
    uint32_t room = RTE_MAX((uint32_t)RTE_MBUF_DEFAULT_DATAROOM, mtu + DPDK_ETH_OVERHEAD);
    int socket = rte_eth_dev_socket_id(t->port);
    if (socket < 0)
        socket = (int)rte_socket_id();
    t->pool = pool_create(pool_name, DPDK_POOL_MBUFS, room + RTE_PKTMBUF_HEADROOM, socket);
    if (!t->pool) {
        dpdk_err("%s: cannot create the mbuf pool: %s", name, rte_strerror(rte_errno));
        return -ENOMEM;
    }
    if (is_af_xdp && t->pool->nb_mem_chunks != 1) {
        /* its UMEM would cover the first piece only */
        dpdk_err("%s: the mbuf pool is in %u pieces of memory, net_af_xdp needs one (give EAL "
                 "more memory: -m in MTP_DPDK_ARGS)", name, t->pool->nb_mem_chunks);
        return -ENOMEM;
    }
    if (afp_big) {
        snprintf(pool_name, sizeof(pool_name), "mtp_rxpool_p%u", t->port);
        t->rx_pool = rte_pktmbuf_pool_create(pool_name, DPDK_AFP_MBUFS, 32, 0, DPDK_AFP_ROOM,
                                             socket);
        if (!t->rx_pool) {
            dpdk_err("%s: cannot create the mbuf pool for 64 KiB frames: %s", name,
                     rte_strerror(rte_errno));
            return -ENOMEM;
        }
    }

    uint16_t nrx = DPDK_RING_SIZE, ntx = DPDK_RING_SIZE;
    rte_eth_dev_adjust_nb_rx_tx_desc(t->port, &nrx, &ntx);
    for (uint16_t q = 0; q <= t->queue; q++) {
        ret = rte_eth_rx_queue_setup(t->port, q, nrx, (unsigned)socket, NULL,
                                     t->rx_pool ? t->rx_pool : t->pool);
        if (ret != 0 && !strcmp(info.driver_name, "net_af_xdp"))
            return queue_held(name, q, ret);
        if (ret != 0) {
            dpdk_err("%s: cannot set up rx queue %u: %s", name, q, rte_strerror(-ret));
            return ret;
        }
        struct rte_eth_txconf txc = info.default_txconf;
        txc.offloads = t->tx_offloads;
        ret = rte_eth_tx_queue_setup(t->port, q, ntx, (unsigned)socket, &txc);
        if (ret != 0) {
            dpdk_err("%s: cannot set up tx queue %u: %s", name, q, rte_strerror(-ret));
            return ret;
        }
    }
    ret = rte_eth_dev_start(t->port);
    if (ret != 0) {
        dpdk_err("%s: cannot start the port: %s", name, rte_strerror(-ret));
        return ret;
    }
    rte_eth_promiscuous_enable(t->port); /* best effort: some PMDs have no such mode */
    ret = rte_eth_macaddr_get(t->port, &t->mac);
    if (ret != 0) {
        dpdk_err("%s: cannot read the MAC address: %s", name, rte_strerror(-ret));
        return ret;
    }

    t->intr_fd = -1;
    if (rx_intr) {
        log_level = ethdev_log_quiet();
        int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(t->port, t->queue);
        int en = fd >= 0 ? rte_eth_dev_rx_intr_enable(t->port, t->queue) : -ENOTSUP;
        ethdev_log_restore(log_level);
        /* -ENOTSUP from enable: the fd is always live (net_tap: the queue's own fd) */
        if (fd >= 0 && (en == 0 || en == -ENOTSUP)) {
            t->intr_fd = fd;
            t->intr_switch = en == 0;
            t->intr_armed = true;
            t->intr_counts = fd_is_eventfd(fd);
            if (t->intr_counts)
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        }
    }
    if (t->intr_fd < 0 && is_af_xdp && t->queue == 0) {
        t->intr_fd = xsk_fd_find(xsk_before, n_xsk_before);
        t->xsk_fd = t->intr_fd >= 0; /* level-triggered, nothing to drain or arm */
    }
    if (t->intr_fd < 0)
        ticker_start(t);
    return 0;
}

/* ---- a process killed by a signal leaves no program on its interface -------------------
 *
 * net_af_xdp attaches an XDP program that only closing the port removes. A process that dies
 * of SIGTERM, SIGINT or SIGHUP without handling it (sockperf, a daemon stopped by its init
 * system) never closes it, and every later AF_XDP user of the interface (MTP_TARGET=xdp,
 * another DPDK port) is refused. Where the application leaves such a signal at its default
 * action, a handler detaches the program (two RTM_SETLINK messages: async-signal-safe system
 * calls only) and the signal then ends the process as it would have. An application that
 * installs its own handler replaces ours and exits through its own path (atexit: the port is
 * closed there). */

#define GUARD_MAX 8
static const int guarded_signals[] = {SIGHUP, SIGINT, SIGTERM};
static volatile sig_atomic_t guard_ifindex[GUARD_MAX];
static volatile sig_atomic_t guard_pid; /* a forked child killed alone leaves its parent's */

static void xdp_detach_mode(int fd, int ifindex, uint32_t mode)
{
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
        struct rtattr xdp;
        struct rtattr fd_attr;
        int32_t prog_fd;
        struct rtattr flags_attr;
        uint32_t flags;
    } req = {
        .h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_SETLINK, .nlmsg_flags = NLM_F_REQUEST},
        .i = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex},
        .xdp = {.rta_len = sizeof req - offsetof(typeof(req), xdp), .rta_type = NLA_F_NESTED | IFLA_XDP},
        .fd_attr = {.rta_len = RTA_LENGTH(sizeof(int32_t)), .rta_type = IFLA_XDP_FD},
        .prog_fd = -1,
        .flags_attr = {.rta_len = RTA_LENGTH(sizeof(uint32_t)), .rta_type = IFLA_XDP_FLAGS},
        .flags = mode,
    };
    ssize_t n = send(fd, &req, sizeof req, 0);
    (void)n;
}

static void on_fatal_signal(int sig)
{
    int saved = errno;
    int fd = getpid() == guard_pid ? socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE) : -1;
    for (int i = 0; fd >= 0 && i < GUARD_MAX; i++)
        if (guard_ifindex[i] > 0) {
            xdp_detach_mode(fd, guard_ifindex[i], XDP_FLAGS_DRV_MODE);
            xdp_detach_mode(fd, guard_ifindex[i], XDP_FLAGS_SKB_MODE);
        }
    if (fd >= 0)
        close(fd);
    errno = saved;
    raise(sig); /* SA_RESETHAND: the default action, once this handler returns */
}

static bool handler_is_ours(int sig)
{
    struct sigaction cur;
    return sigaction(sig, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
           cur.sa_handler == on_fatal_signal;
}

static void guard_add(int ifindex)
{
    guard_pid = getpid();
    for (int i = 0; i < GUARD_MAX; i++)
        if (guard_ifindex[i] == 0) {
            guard_ifindex[i] = ifindex;
            break;
        }
    for (size_t k = 0; k < sizeof guarded_signals / sizeof *guarded_signals; k++) {
        struct sigaction cur, ours = {.sa_handler = on_fatal_signal, .sa_flags = SA_RESETHAND};
        sigemptyset(&ours.sa_mask);
        if (sigaction(guarded_signals[k], NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
            cur.sa_handler == SIG_DFL)
            sigaction(guarded_signals[k], &ours, NULL);
    }
}

static void guard_remove(int ifindex)
{
    bool any = false;
    for (int i = 0; i < GUARD_MAX; i++) {
        if (guard_ifindex[i] == ifindex)
            guard_ifindex[i] = 0;
        any |= guard_ifindex[i] != 0;
    }
    for (size_t k = 0; !any && k < sizeof guarded_signals / sizeof *guarded_signals; k++)
        if (handler_is_ours(guarded_signals[k]))
            signal(guarded_signals[k], SIG_DFL);
}

/* ---- ops -------------------------------------------------------------------------------- */

static void dpdk_close(struct mtp_target *t);
static void tx_send_held(struct mtp_target *t);

static int dpdk_open_inner(struct mtp_target **out, const struct mtp_target_config *cfg);

/* Every failure prints exactly one line (the caller need not add its own). */
static int dpdk_open(struct mtp_target **out, const struct mtp_target_config *cfg)
{
    unsigned reports_before = reports;
    int err = dpdk_open_inner(out, cfg);
    if (err && reports == reports_before)
        dpdk_err("cannot open a port (MTP_DPDK_ARGS=%s): %s", cfg->args ? cfg->args : "",
                 strerror(-err));
    return err;
}

static int dpdk_open_inner(struct mtp_target **out, const struct mtp_target_config *cfg)
{
    struct eal_args a;
    int err;

    *out = NULL;
    if (eal_state < 0) {
        dpdk_err("EAL failed to initialise earlier in this process: %s",
                 rte_strerror(-eal_state));
        return eal_state;
    }
    if ((err = eal_args_build(&a, cfg))) {
        args_free(&a);
        return err;
    }
    struct mtp_target *t = calloc(1, sizeof(*t));
    if (!t) {
        args_free(&a);
        return -ENOMEM;
    }
    t->queue = (uint16_t)cfg->queue;
    t->intr_fd = -1;
    if (eal_state == 0) {
        err = eal_init(&a);
        eal_state = err ? err : 1;
    } else if (a.first_vdev) {
        err = vdev_hotplug(a.first_vdev);
    }
    if (!err)
        err = port_pick(a.first_vdev, &t->port);
    if (err) {
        args_free(&a);
        free(t);
        return err;
    }
    port_taken[t->port] = true;
    char name[RTE_ETH_NAME_MAX_LEN];
    if (rte_eth_dev_get_name_by_port(t->port, name) != 0)
        snprintf(name, sizeof(name), "port %u", t->port);
    bool afp_big = a.afp_big;
    args_free(&a);
    if ((err = port_setup(t, name, cfg, afp_big))) {
        /* Closing a net_af_xdp port removes the interface's XDP program, even another
         * process's: leave that port as it is (this process cannot use DPDK anyway). */
        if (t->hook_foreign)
            free(t);
        else
            dpdk_close(t);
        return err;
    }
    if (t->hook_ours && t->if_index > 0)
        guard_add(t->if_index);
    *out = t;
    return 0;
}

static void dpdk_close(struct mtp_target *t)
{
    if (!t)
        return;
    tx_send_held(t);
    if (t->hook_ours && t->if_index > 0)
        guard_remove(t->if_index);
    rte_eth_dev_stop(t->port);
    /* A virtual device goes away with its port, so that a later open can create it again;
     * a PCI device stays probed (only the port is closed). */
    struct rte_eth_dev_info info;
    struct rte_device *dev = NULL;
    if (rte_eth_dev_info_get(t->port, &info) == 0 && info.device &&
        strcmp(rte_bus_name(rte_dev_bus(info.device)), "vdev") == 0)
        dev = info.device;
    if (!dev || rte_dev_remove(dev) != 0)
        rte_eth_dev_close(t->port);
    rte_mempool_free(t->pool);
    rte_mempool_free(t->rx_pool);
    if (t->tick_fd)
        close(t->intr_fd);
    port_taken[t->port] = false;
    free(t);
}

static int dpdk_link_info(struct mtp_target *t, struct mtp_link_info *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->mac, t->mac.addr_bytes, 6);
    out->mtu = t->mtu;
    out->ifindex = t->if_index;
    out->offload_caps = t->offload_caps;
    out->owns_arp = 1;
    out->kind = (uint8_t)t->kind;
    struct rte_eth_link link;
    if (rte_eth_link_get_nowait(t->port, &link) == 0 && link.link_speed != RTE_ETH_SPEED_NUM_NONE &&
        link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN)
        out->speed_mbps = link.link_speed;
    if (t->seg) {
        out->seg_max_bytes = DPDK_SEG_MAX_BYTES;
        out->seg_ip_proto = t->seg->ip_proto;
        out->seg_linear_off = t->seg->linear_off;
        out->seg_linear_bytes = t->seg->linear_bytes;
    }
    return 0;
}

/* A frame spread over several segments is made contiguous, or dropped. */
static bool mbuf_flat(struct rte_mbuf *m)
{
    return m->nb_segs == 1 || rte_pktmbuf_linearize(m) == 0;
}

static void intr_drain(struct mtp_target *t)
{
    uint64_t count;
    if (t->intr_counts)
        while (read(t->intr_fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
            ;
}

static int rx_poll(struct mtp_target *t, struct mtp_frame *f, int max)
{
    struct rte_mbuf *pkts[DPDK_BURST];
    int got = 0;

    while (got < max) {
        uint16_t want = (uint16_t)RTE_MIN(max - got, DPDK_BURST);
        uint16_t n = rte_eth_rx_burst(t->port, t->queue, pkts, want);
        for (uint16_t i = 0; i < n; i++) {
            struct rte_mbuf *m = pkts[i];
            if (!mbuf_flat(m)) {
                rte_pktmbuf_free(m);
                continue;
            }
            f[got].data = rte_pktmbuf_mtod(m, uint8_t *);
            f[got].len = m->data_len;
            f[got].cap = m->data_len;
            f[got].handle = (uint64_t)(uintptr_t)m;
            f[got].offload = 0;
            f[got].l3_off = f[got].l4_off = 0;
            got++;
        }
        if (n < want)
            break;
    }
    return got;
}

static int dpdk_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
{
    int got = rx_poll(t, f, max);
    if (t->intr_fd < 0)
        return got;
    if (!t->intr_switch) {
        if (got == 0)
            intr_drain(t); /* the ticker: forget the ticks that led here */
        return got;
    }
    if (got > 0) {
        /* busy: the caller keeps polling, interrupts would only cost the peer a write */
        if (t->intr_armed && rte_eth_dev_rx_intr_disable(t->port, t->queue) == 0)
            t->intr_armed = false;
        return got;
    }
    /* idle: forget old wake-ups, arm, then look once more so that a frame that arrived
     * before arming is not left waiting for an interrupt that will not come */
    intr_drain(t);
    if (!t->intr_armed) {
        if (rte_eth_dev_rx_intr_enable(t->port, t->queue) == 0)
            t->intr_armed = true;
        got = rx_poll(t, f, max);
    }
    return got;
}

static void dpdk_rx_release(struct mtp_target *t, struct mtp_frame *f, int n)
{
    struct rte_mbuf *pkts[DPDK_BURST];
    (void)t;
    for (int i = 0; i < n;) {
        unsigned k = 0;
        for (; i < n && k < DPDK_BURST; i++)
            pkts[k++] = (struct rte_mbuf *)(uintptr_t)f[i].handle;
        rte_pktmbuf_free_bulk(pkts, k);
    }
}

static void tx_frame_init(struct mtp_frame *f, struct rte_mbuf *m)
{
    f->data = rte_pktmbuf_mtod(m, uint8_t *);
    f->len = 0;
    f->cap = rte_pktmbuf_tailroom(m);
    f->handle = (uint64_t)(uintptr_t)m;
    f->offload = 0;
    f->l3_off = f->l4_off = 0;
}

/* Buffers in bulk (one pool access per burst); when the pool runs low, as many as remain. */
static int dpdk_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    struct rte_mbuf *pkts[DPDK_BURST];
    int got = 0;
    while (got < n) {
        unsigned k = (unsigned)RTE_MIN(n - got, DPDK_BURST);
        if (rte_pktmbuf_alloc_bulk(t->pool, pkts, k) != 0)
            break;
        for (unsigned i = 0; i < k; i++)
            tx_frame_init(&f[got++], pkts[i]);
    }
    for (; got < n; got++) {
        struct rte_mbuf *m = rte_pktmbuf_alloc(t->pool);
        if (!m)
            break;
        tx_frame_init(&f[got], m);
    }
    return got;
}

/* The L4 checksum in software, at the field the stack named (f->csum_off), replacing the
 * pseudo-header seed. A computed 0 is sent as 0xffff, its one's-complement equal (UDP
 * reserves 0 for "no checksum"). */
static void l4_csum_software(const struct rte_ipv4_hdr *ip, uint8_t *l4, uint32_t l4_len,
                             uint16_t csum_off)
{
    mtp_put16(l4 + csum_off, 0);
    uint16_t c = mtp_csum_ipv4_l4(rte_be_to_cpu_32(ip->src_addr), rte_be_to_cpu_32(ip->dst_addr),
                                  ip->next_proto_id, l4, l4_len);
    mtp_put16(l4 + csum_off, c ? c : 0xffff);
}

/* Apply the offloads a frame asks for: mbuf flags where the device does them, software
 * otherwise. Returns false for a frame whose offsets do not fit it. */
static bool tx_offload_prepare(struct mtp_target *t, struct rte_mbuf *m,
                               const struct mtp_frame *f)
{
    if (!f->offload)
        return true;
    if (f->l3_off + sizeof(struct rte_ipv4_hdr) > f->len || f->l4_off > f->len ||
        f->l4_off < f->l3_off + sizeof(struct rte_ipv4_hdr))
        return false;
    uint8_t *base = rte_pktmbuf_mtod(m, uint8_t *);
    struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(base + f->l3_off);
    uint8_t *l4 = base + f->l4_off;

    m->l2_len = f->l3_off;
    m->l3_len = (uint16_t)(f->l4_off - f->l3_off);
    if (f->offload & MTP_OFFLOAD_IPV4_CSUM) {
        if (t->tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
            ip->hdr_checksum = 0;
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
        } else {
            ip->hdr_checksum = 0;
            mtp_put16((uint8_t *)&ip->hdr_checksum, mtp_csum(ip, m->l3_len));
        }
    }
    if ((f->offload & MTP_OFFLOAD_L4_CSUM) && f->l4_off + (uint32_t)f->csum_off + 2 <= f->len) {
        /* devices know the L4 protocols they checksum by number, not by field offset */
        uint64_t hw = ip->next_proto_id == IPPROTO_TCP   ? RTE_ETH_TX_OFFLOAD_TCP_CKSUM
                      : ip->next_proto_id == IPPROTO_UDP ? RTE_ETH_TX_OFFLOAD_UDP_CKSUM
                                                         : 0;
        if (hw && (t->tx_offloads & hw)) {
            /* the stack seeded the field with the pseudo-header sum, as the device wants */
            m->ol_flags |= RTE_MBUF_F_TX_IPV4 | (ip->next_proto_id == IPPROTO_TCP
                                                     ? RTE_MBUF_F_TX_TCP_CKSUM
                                                     : RTE_MBUF_F_TX_UDP_CKSUM);
        } else {
            /* software: over the L4 bytes the IPv4 header counts (not the padding) */
            uint32_t l4_len = f->len - f->l4_off;
            uint16_t ip_len = rte_be_to_cpu_16(ip->total_length);
            if (ip_len >= m->l3_len && (uint32_t)(ip_len - m->l3_len) <= l4_len)
                l4_len = (uint32_t)(ip_len - m->l3_len);
            if ((uint32_t)f->csum_off + 2 <= l4_len)
                l4_csum_software(ip, l4, l4_len, f->csum_off);
        }
    }
    return true;
}

/* A super-frame: its bytes (stack memory) copied into `m` and as many more mbufs as they
 * need, chained, with the device's segmentation flags. False if it cannot be sent (the
 * device segments another field, offsets that do not fit, the pool is empty). */
static bool tx_super_prepare(struct mtp_target *t, struct rte_mbuf *m, const struct mtp_frame *f)
{
    const struct seg_offload *so = t->seg;
    if (!so || f->linear_off != so->linear_off || f->linear_bytes != so->linear_bytes ||
        !f->seg_size || f->l3_off + sizeof(struct rte_ipv4_hdr) > f->l4_off ||
        (uint32_t)f->l4_off + f->l4_hdr_len > f->len || f->len > (uint32_t)UINT16_MAX + f->l3_off)
        return false;
    const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(f->data + f->l3_off);
    if (ip->next_proto_id != so->ip_proto)
        return false;
    rte_pktmbuf_reset(m);
    struct rte_mbuf *last = m;
    uint32_t done = 0;
    while (done < f->len) {
        if (done > 0) {
            struct rte_mbuf *seg = rte_pktmbuf_alloc(t->pool);
            if (!seg)
                return false; /* the caller frees the chain built so far */
            last->next = seg;
            last = seg;
            m->nb_segs++;
        }
        uint32_t chunk = RTE_MIN(f->len - done, (uint32_t)rte_pktmbuf_tailroom(last));
        /* the headers stay in the first mbuf, as devices want */
        if (done == 0 && chunk < (uint32_t)f->l4_off + f->l4_hdr_len)
            return false;
        memcpy(rte_pktmbuf_mtod(last, uint8_t *), f->data + done, chunk);
        last->data_len = (uint16_t)chunk;
        done += chunk;
    }
    m->pkt_len = f->len;
    m->l2_len = f->l3_off;
    m->l3_len = (uint16_t)(f->l4_off - f->l3_off);
    m->l4_len = f->l4_hdr_len;
    m->tso_segsz = f->seg_size;
    uint32_t hdrs = (uint32_t)f->l4_off + f->l4_hdr_len;
    if (t->tso_l2_in_mtu && f->seg_size + hdrs > t->mtu) {
        /* such a PMD cuts smaller packets, each still the first one's header with the field
         * advanced by the bytes before it: the same byte stream in more packets */
        if (t->mtu <= hdrs)
            return false;
        m->tso_segsz = (uint16_t)(t->mtu - hdrs);
    }
    m->ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | so->ol_flags;
    return true;
}

/* Hands mbufs to the port; a full ring gets one more chance, then the rest is dropped
 * (ownership passed). Returns how many the port took. */
static uint16_t tx_send(struct mtp_target *t, struct rte_mbuf **pkts, uint16_t k)
{
    uint16_t ok = rte_eth_tx_burst(t->port, t->queue, pkts, k);
    if (ok < k)
        ok += rte_eth_tx_burst(t->port, t->queue, pkts + ok, (uint16_t)(k - ok));
    if (ok < k)
        rte_pktmbuf_free_bulk(pkts + ok, (unsigned)(k - ok));
    return ok;
}

static void tx_send_held(struct mtp_target *t)
{
    uint16_t n = t->n_tx_held;
    t->n_tx_held = 0;
    if (n)
        t->tx_held_dropped += (uint64_t)(n - tx_send(t, t->tx_held, n));
}

/* While held (a batch of replies), frames wait for one rte_eth_tx_burst: with net_af_xdp
 * each burst costs a sendto. They count as sent; the ring's refusals at the flush are
 * counted in tx_held_dropped. */
static uint16_t tx_hold_add(struct mtp_target *t, struct rte_mbuf **pkts, uint16_t k)
{
    if (t->n_tx_held + k > DPDK_HOLD_MAX)
        tx_send_held(t);
    if (k > DPDK_HOLD_MAX)
        return tx_send(t, pkts, k);
    memcpy(t->tx_held + t->n_tx_held, pkts, k * sizeof *pkts);
    t->n_tx_held = (uint16_t)(t->n_tx_held + k);
    return k;
}

static void dpdk_tx_hold(struct mtp_target *t, int hold)
{
    t->tx_hold = hold;
    if (!hold)
        tx_send_held(t);
}

static int dpdk_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
{
    struct rte_mbuf *pkts[DPDK_BURST];
    int sent = 0;

    for (int i = 0; i < n;) {
        uint16_t k = 0;
        for (; i < n && k < DPDK_BURST; i++) {
            struct rte_mbuf *m = (struct rte_mbuf *)(uintptr_t)f[i].handle;
            if (f[i].offload & MTP_OFFLOAD_SEG) {
                if (tx_super_prepare(t, m, &f[i]))
                    pkts[k++] = m;
                else
                    rte_pktmbuf_free(m);
                continue;
            }
            uint8_t *start = (uint8_t *)m->buf_addr;
            /* the stack may have moved data inside the buffer: follow it */
            if (f[i].data < start || f[i].len == 0 ||
                f[i].data + f[i].len > start + m->buf_len) {
                rte_pktmbuf_free(m);
                continue;
            }
            m->data_off = (uint16_t)(f[i].data - start);
            m->data_len = (uint16_t)f[i].len;
            m->pkt_len = f[i].len;
            m->ol_flags = 0;
            if (!tx_offload_prepare(t, m, &f[i])) {
                rte_pktmbuf_free(m);
                continue;
            }
            pkts[k++] = m;
        }
        if (k)
            sent += t->tx_hold ? tx_hold_add(t, pkts, k) : tx_send(t, pkts, k);
    }
    return sent;
}

static int dpdk_wake_fd(struct mtp_target *t)
{
    return t->intr_fd;
}

/* The port belongs to the stack: nothing to steer or reserve. */
static int dpdk_port_claim(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    (void)t, (void)ip_proto, (void)port;
    return 0;
}

static void dpdk_port_release(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    (void)t, (void)ip_proto, (void)port;
}

static int dpdk_describe(struct mtp_target *t, char *buf, size_t cap)
{
    char name[RTE_ETH_NAME_MAX_LEN];
    struct rte_eth_dev_info info;
    if (rte_eth_dev_get_name_by_port(t->port, name) != 0)
        snprintf(name, sizeof(name), "port %u", t->port);
    const char *drv = rte_eth_dev_info_get(t->port, &info) == 0 && info.driver_name
                          ? info.driver_name : "?";
    return snprintf(buf, cap, "dpdk %s (%s) queue %u, %s", name, drv, t->queue,
                    t->intr_fd < 0 ? "polled" : t->tick_fd ? "1 ms ticker"
                    : t->xsk_fd ? "AF_XDP socket wake-ups" : "rx interrupts");
}

static int dpdk_stats(struct mtp_target *t, struct mtp_target_stat *out, int max)
{
    struct rte_eth_stats st;
    if (rte_eth_stats_get(t->port, &st) != 0)
        return 0;
    /* net_af_xdp: what its AF_XDP socket refused or dropped, which the PMD never learns
     * (a frame the kernel finds invalid counts as sent in opackets) */
    struct xdp_statistics xs = {0};
    socklen_t xs_len = sizeof(xs);
    bool have_xs = t->xsk_fd && getsockopt(t->intr_fd, SOL_XDP, XDP_STATISTICS, &xs, &xs_len) == 0;
    const struct mtp_target_stat all[] = {
        {"ipackets", st.ipackets}, {"opackets", st.opackets}, {"imissed", st.imissed},
        {"ierrors", st.ierrors},   {"oerrors", st.oerrors},   {"rx_nombuf", st.rx_nombuf},
        {"tx_held_dropped", t->tx_held_dropped},
        {"xsk_rx_dropped", xs.rx_dropped},          {"xsk_rx_invalid", xs.rx_invalid_descs},
        {"xsk_tx_invalid", xs.tx_invalid_descs},    {"xsk_rx_ring_full", xs.rx_ring_full},
        {"xsk_fill_ring_empty", xs.rx_fill_ring_empty_descs},
        {"xsk_tx_ring_empty", xs.tx_ring_empty_descs},
    };
    int n = 0, have = have_xs ? (int)(sizeof all / sizeof all[0]) : 7;
    for (; n < max && n < have; n++)
        out[n] = all[n];
    return n;
}

const struct mtp_target_ops mtp_target_dpdk = {
    .name = "dpdk",
    .args_env = "MTP_DPDK_ARGS",
    .open = dpdk_open,
    .close = dpdk_close,
    .link_info = dpdk_link_info,
    .rx_burst = dpdk_rx_burst,
    .rx_release = dpdk_rx_release,
    .tx_alloc = dpdk_tx_alloc,
    .tx_burst = dpdk_tx_burst,
    .tx_hold = dpdk_tx_hold,
    .wake_fd = dpdk_wake_fd,
    .port_claim = dpdk_port_claim,
    .port_release = dpdk_port_release,
    .neigh_lookup = NULL,
    .describe = dpdk_describe,
    .stats = dpdk_stats,
};
