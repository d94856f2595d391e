/*
 * xdp.c — the AF_XDP target: frames move through one AF_XDP socket per (interface, queue)
 * (libxdp's xsk API: UMEM, fill/completion/rx/tx rings, need_wakeup), while the interface
 * stays the kernel's: it keeps its IP address, ARP and ICMP, and every port the stack does
 * not own. The hook program (mtp_xdp.bpf.c, one object per transport program) steers owned
 * ports to us; each owned port is also held by a placeholder kernel socket so the kernel never
 * hands it out; next hops come from the kernel's route and neighbour tables (rtnetlink).
 *
 * The hook is attached with a BPF link (bpf_link_create), so the kernel detaches it on any
 * exit of the process, SIGKILL included: nothing is left behind for the next run. A program of
 * ours attached the old way (netlink, e.g. by `ip link ... xdp obj`) with no link holding it
 * is stale by construction and gets replaced.
 *
 * The hook object built for the program: $MTP_XDP_OBJ, else cfg->args, else found by the
 * program's name next to the code that runs this target (an executable or libmtp.so in
 * build/bin or build/lib: ../bpf/<prog>.bpf.o; installed in PREFIX/lib: mtp/<prog>.bpf.o).
 * MTP_XDP_MODE=native|skb|auto (default auto: native where the driver has it, else skb).
 *
 * Interfaces as they come: the socket is bound multi-buffer (XDP_USE_SG, hook section
 * xdp.frags), so a packet larger than a UMEM frame (a GSO/GRO packet of up to 64 KiB: SKB
 * mode on a veth whose peer does TSO, lo) arrives as a descriptor chain that rx_burst copies
 * into a reassembly buffer. link_info reports the interface's kind (ifkind.h) for the
 * stack's checksum policy. On lo (SKB mode) the next hop is lo's own MAC and the kernel must
 * accept the 127/8 packets we send back into it: see loopback_setup.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <netpacket/packet.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "mtp/target.h"
#include "../ifkind.h"
#include "mtp_xdp.h"
#include "fill_level.h"

#define FRAME_SIZE   XSK_UMEM__DEFAULT_FRAME_SIZE
#define NUM_FRAMES   8192u
#define RING_SIZE    2048u   /* fill, completion, rx and tx rings */
#define KICK_BATCH   64u
#define RX_PEEK      256u    /* descriptors looked at per rx burst (multi-buffer packets) */
#define BIG_SLOTS    8u      /* multi-buffer packets reassembled per rx burst */
#define TX_HOLD_MAX  32u     /* frames left on the tx ring without a kick (tx_hold) */
#define BIG_BYTES    (65536u + FRAME_SIZE) /* one IPv4 packet of 64 KiB and its L2 header */
#define BIG_HANDLE   (1ull << 63) /* rx handle of a reassembled packet: BIG_HANDLE | slot */

/* Multi-buffer AF_XDP (Linux 6.6): a packet larger than one UMEM frame arrives as several
 * descriptors, all but the last flagged XDP_PKT_CONTD. Older headers lack the names. */
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

struct mtp_target {
    char ifname[IF_NAMESIZE];
    int ifindex;
    uint32_t queue;
    uint32_t ip_proto;

    /* hook program (shared by every queue of this process on this interface) */
    struct hook *hook;

    /* AF_XDP */
    void *umem_area;
    struct xsk_umem *umem;
    struct xsk_socket *xsk;
    struct xsk_ring_prod fill, tx;
    struct xsk_ring_cons comp, rx;
    uint64_t *free_frames; /* stack of free UMEM addresses */
    uint32_t n_free;
    uint32_t fill_level;    /* frames kept in the fill ring (fill_level.h); tx draws the rest */
    uint32_t tx_in_flight;  /* submitted to the tx ring, completion not yet seen */
    int tx_hold;            /* tx_hold: leave frames on the tx ring without a kick ... */
    uint32_t tx_held;       /* ... these, submitted since the last kick (up to TX_HOLD_MAX) */
    uint8_t *big;           /* BIG_SLOTS reassembly buffers of BIG_BYTES (multi-buffer rx) */
    int sg;                 /* the socket takes multi-buffer packets (XDP_USE_SG) */
    uint64_t rx_too_big;    /* multi-buffer packets dropped: longer than BIG_BYTES, or no
                               memory for the reassembly buffers */

    uint64_t claimed[65536 / 64]; /* ports this queue's user claimed */

    /* membership (docs/MULTIPROC.md) */
    int lock_fd;            /* the interface's lock file (flock) */
    uint32_t slot, gen;     /* our entry in mtp_members */
    int member;             /* registered in mtp_members */
    uint32_t mkind;         /* enum mtp_xdp_member_kind bits: how we receive */
    int wake_epfd;          /* the wake fd: an epoll fd over the socket, the ring, the timer */
    int timer_fd;           /* wakes an idle member to look for dead members (REAP_NS) */
    uint64_t reap_ns;       /* when we last looked for dead members */
    uint64_t timer_due;     /* the timer's next expiry (CLOCK_MONOTONIC) */

    /* a ring-buffer member (the queue's AF_XDP socket is another process's) */
    int ring_fd;            /* the BPF ring buffer the hook copies our packets into */
    void *ring_cons;        /* consumer page (ours, read-write) */
    void *ring_prod;        /* producer page and data, twice mapped (read-only) */
    int pkt_fd;             /* AF_PACKET socket we transmit through */
    uint8_t *local;         /* LOCAL_FRAMES buffers of FRAME_SIZE for rx copies and tx */
    uint32_t *local_free;
    uint32_t n_local_free;
    uint64_t ring_dropped;  /* records too long for a frame */
    int rtnl_fd;
    uint32_t rtnl_seq;
    enum mtp_link_kind kind;
    uint8_t mac[6];         /* the interface's: the next hop's on lo, which has no ARP */
};

/* ------------------------------------------------------------------ diagnostics */

static unsigned reports; /* lines printed so far: open makes sure a failure printed one */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...)
{
    reports++;
    va_list ap;
    va_start(ap, fmt);
    fputs("mtp xdp: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int debug_enabled(void)
{
    const char *l = getenv("MTP_LOG");
    return l && (!strcmp(l, "debug") || !strcmp(l, "trace"));
}

/* libbpf/libxdp chatter only with MTP_LOG=debug: our errors are one line each. */
static int lib_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    return debug_enabled() ? vfprintf(stderr, fmt, ap) : 0;
}

static int xdp_lib_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    return debug_enabled() ? vfprintf(stderr, fmt, ap) : 0;
}

static int perm_error(int err, const char *what)
{
    if (err == -EPERM || err == -EACCES)
        report("%s: permission denied (run as root or grant CAP_NET_ADMIN, CAP_BPF, "
               "CAP_NET_RAW, CAP_IPC_LOCK)", what);
    return err;
}

/* ------------------------------------------------------------------ hook program */

/* Ports are the interface's, not a queue's: every queue of this process on the interface
 * shares the steering map, and a port claimed by several (workers listening on the same port)
 * holds one placeholder socket, counted. */
struct port_hold {
    int fd;        /* placeholder kernel socket, or a /dev/null fd when the kernel has none */
    uint32_t refs; /* claims by this process's targets on this interface */
};

struct hook {
    int ifindex;
    int refs;
    struct port_hold *ports; /* by port number */
    char obj_path[256];
    struct bpf_object *obj;  /* NULL when this process joined a hook another one attached */
    int link_fd;             /* every member holds the link: the hook stays attached until the
                                last member exits, however it exits */
    int xsks_fd, ports_fd, stats_fd, members_fd, rings_fd, flows_fd, info_fd;
    const char *mode;
};

#define MAX_HOOKS 8
/* Per process; open and close are not thread-safe (the stack opens its target once). */
static struct hook hooks[MAX_HOOKS];

static int prog_name_of(uint32_t id, char name[BPF_OBJ_NAME_LEN], int *fd_out)
{
    int fd = bpf_prog_get_fd_by_id(id);
    if (fd < 0)
        return -errno;
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (bpf_obj_get_info_by_fd(fd, &info, &len) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    memcpy(name, info.name, BPF_OBJ_NAME_LEN);
    *fd_out = fd;
    return 0;
}

/* Is program `prog_id` attached to an XDP hook through a BPF link (held by a live process
 * or pinned)? */
static int held_by_link(uint32_t prog_id)
{
    uint32_t id = 0;
    while (bpf_link_get_next_id(id, &id) == 0) {
        int fd = bpf_link_get_fd_by_id(id);
        if (fd < 0)
            continue;
        struct bpf_link_info info;
        uint32_t len = sizeof(info);
        memset(&info, 0, sizeof(info));
        int ok = bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
        close(fd);
        if (ok && info.type == BPF_LINK_TYPE_XDP && info.prog_id == prog_id)
            return 1;
    }
    return 0;
}

/* Makes the interface's XDP hook free for us: replaces a stale program of ours, refuses to
 * touch a live one or somebody else's. */
static int hook_clear_stale(int ifindex, const char *ifname)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(ifindex, 0, &q) < 0)
        return perm_error(-errno, "querying XDP programs");
    uint32_t ids[2] = {q.drv_prog_id ? q.drv_prog_id : q.prog_id, q.skb_prog_id};
    uint32_t modes[2] = {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE};
    if (q.attach_mode == XDP_ATTACHED_SKB) {
        ids[0] = 0;
        ids[1] = q.prog_id;
    }
    for (int i = 0; i < 2; i++) {
        if (!ids[i])
            continue;
        char name[BPF_OBJ_NAME_LEN];
        int fd = -1, err = prog_name_of(ids[i], name, &fd);
        if (err < 0)
            return perm_error(err, "inspecting the attached XDP program");
        if (strcmp(name, "xsk_def_prog") == 0) { /* DPDK's net_af_xdp (libxdp's default) */
            close(fd);
            report("%s is held by a DPDK process (MTP_TARGET=dpdk, net_af_xdp's XDP program "
                   "'xsk_def_prog'): a DPDK port belongs to one process; run every process on "
                   "MTP_TARGET=xdp to share an interface", ifname);
            return -EBUSY;
        }
        if (strcmp(name, MTP_XDP_PROG_NAME) != 0) {
            close(fd);
            report("%s already has XDP program '%s' attached (not mtp's); remove it with "
                   "`xdp-loader unload %s --all` or `ip link set dev %s xdp off`",
                   ifname, name, ifname, ifname);
            return -EBUSY;
        }
        if (held_by_link(ids[i])) {
            close(fd);
            report("%s is already served by another running mtp process", ifname);
            return -EBUSY;
        }
        LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = fd);
        err = bpf_xdp_detach(ifindex, modes[i] | XDP_FLAGS_REPLACE, &o);
        close(fd);
        if (err < 0) {
            report("%s: cannot remove the stale mtp XDP program (id %u): %s", ifname, ids[i],
                   strerror(-err));
            return err;
        }
        report("%s: replaced a stale mtp XDP program (id %u) left by an earlier run", ifname,
               ids[i]);
    }
    return 0;
}

static int map_fd(struct bpf_object *obj, const char *name)
{
    struct bpf_map *m = bpf_object__find_map_by_name(obj, name);
    return m ? bpf_map__fd(m) : -1;
}

static void hook_fds_close(struct hook *h)
{
    int *fds[] = {&h->xsks_fd, &h->ports_fd, &h->stats_fd, &h->members_fd, &h->rings_fd,
                  &h->flows_fd, &h->info_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (!h->obj && *fds[i] >= 0) /* a joiner's own fds; the object owns the founder's */
            close(*fds[i]);
}

static void hook_put(struct hook *h)
{
    if (!h || --h->refs > 0)
        return;
    if (h->link_fd >= 0)
        close(h->link_fd); /* the last member's close detaches */
    hook_fds_close(h);
    free(h->ports);
    bpf_object__close(h->obj);
    memset(h, 0, sizeof(*h));
}

/* ---- rendezvous: one lock file per (network namespace, interface) */

/* $MTP_RUN_DIR (default /run/mtp)/xdp-<netns inode>-<ifindex>.lock. A stale file (its
 * process crashed) is harmless: flock dies with its holder. */
static int lock_open(int ifindex, const char *ifname)
{
    const char *dir = getenv("MTP_RUN_DIR");
    if (!dir || !*dir)
        dir = "/run/mtp";
    struct stat ns;
    if (stat("/proc/self/ns/net", &ns) < 0)
        ns.st_ino = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        report("MTP_RUN_DIR=%s: cannot create it: %s (set MTP_RUN_DIR to a writable directory)",
               dir, strerror(errno));
        return -errno;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/xdp-%lu-%d.lock", dir, (unsigned long)ns.st_ino, ifindex);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EACCES || errno == EPERM) && geteuid() != 0)
        return perm_error(-errno, "opening the interface's lock file");
    if (fd < 0) {
        int err = -errno;
        report("%s: cannot open the lock file %s: %s (set MTP_RUN_DIR to a writable "
               "directory)", ifname, path, strerror(-err));
        return err;
    }
    return fd;
}

/* Bounded: a holder never keeps it long (an open, a port claim). */
static int group_lock(int fd)
{
    for (int i = 0; i < 5000; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK && errno != EINTR)
            return -errno;
        usleep(1000);
    }
    report("the interface's lock file is held for more than 5 s by another mtp process "
           "(hung? see `lslocks`)");
    return -ETIMEDOUT;
}

static void group_unlock(int fd)
{
    flock(fd, LOCK_UN);
}

/* The attached XDP program of ours and the BPF link holding it: 1 found, 0 none (or stale,
 * replaced), <0 error (somebody else's program). */
static int attached_live(int ifindex, const char *ifname, uint32_t *prog_id, uint32_t *link_id)
{
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    if (bpf_xdp_query(ifindex, 0, &q) < 0)
        return perm_error(-errno, "querying XDP programs");
    uint32_t id = q.prog_id ? q.prog_id : q.drv_prog_id ? q.drv_prog_id : q.skb_prog_id;
    if (!id)
        return 0;
    char name[BPF_OBJ_NAME_LEN];
    int fd = -1, err = prog_name_of(id, name, &fd);
    if (err < 0)
        return perm_error(err, "inspecting the attached XDP program");
    close(fd);
    if (strcmp(name, MTP_XDP_PROG_NAME) != 0)
        return hook_clear_stale(ifindex, ifname); /* reports somebody else's program */
    uint32_t lid = 0;
    while (bpf_link_get_next_id(lid, &lid) == 0) {
        int lfd = bpf_link_get_fd_by_id(lid);
        if (lfd < 0)
            continue;
        struct bpf_link_info info;
        uint32_t len = sizeof(info);
        memset(&info, 0, sizeof(info));
        int ok = bpf_obj_get_info_by_fd(lfd, &info, &len) == 0;
        close(lfd);
        if (ok && info.type == BPF_LINK_TYPE_XDP && info.prog_id == id &&
            info.xdp.ifindex == (uint32_t)ifindex) {
            *prog_id = id;
            *link_id = lid;
            return 1;
        }
    }
    err = hook_clear_stale(ifindex, ifname); /* ours, held by no link: replaced */
    return err < 0 ? err : 0;
}

/* The file name of a hook object ("tcp.bpf.o"): which program a hook steers for. */
static const char *obj_base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

/* Joins the hook another process attached: its maps and its link, by id. */
static int hook_join(struct hook *h, uint32_t prog_id, uint32_t link_id, const char *ifname,
                     const char *obj_path)
{
    int pfd = bpf_prog_get_fd_by_id(prog_id);
    if (pfd < 0)
        return perm_error(-errno, "joining the interface's XDP hook");
    uint32_t ids[16];
    struct bpf_prog_info info;
    uint32_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    info.nr_map_ids = 16;
    info.map_ids = (uint64_t)(uintptr_t)ids;
    int err = bpf_obj_get_info_by_fd(pfd, &info, &len) < 0 ? -errno : 0;
    close(pfd);
    if (err)
        return err;
    struct { const char *name; int *fd; } want[] = {
        {"mtp_xsks", &h->xsks_fd}, {"mtp_ports", &h->ports_fd}, {"mtp_stats", &h->stats_fd},
        {"mtp_members", &h->members_fd}, {"mtp_rings", &h->rings_fd},
        {"mtp_flows", &h->flows_fd}, {"mtp_info", &h->info_fd},
    };
    for (uint32_t i = 0; i < info.nr_map_ids && i < 16; i++) {
        int mfd = bpf_map_get_fd_by_id(ids[i]);
        if (mfd < 0)
            continue;
        struct bpf_map_info mi;
        uint32_t mlen = sizeof(mi);
        memset(&mi, 0, sizeof(mi));
        int used = 0;
        if (bpf_obj_get_info_by_fd(mfd, &mi, &mlen) == 0)
            for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
                if (!strcmp(mi.name, want[k].name) && *want[k].fd < 0 &&
                    (want[k].fd != &h->ports_fd || mi.value_size == sizeof(struct mtp_xdp_group))) {
                    *want[k].fd = mfd;
                    used = 1;
                }
        if (!used)
            close(mfd);
    }
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        if (*want[k].fd < 0) {
            report("%s is steered by an mtp hook of another version (its map %s differs): stop "
                   "the processes serving %s, or run the same build", ifname, want[k].name,
                   ifname);
            return -EPROTO;
        }
    struct mtp_xdp_info mine = {0}, theirs = {0};
    snprintf(mine.prog, sizeof mine.prog, "%s", obj_base(obj_path));
    uint32_t zero = 0;
    if (bpf_map_lookup_elem(h->info_fd, &zero, &theirs) < 0 || strcmp(theirs.prog, mine.prog)) {
        report("%s is served by another process running program '%s', not '%s' (one program "
               "per interface: run the same program, or use another interface)", ifname,
               theirs.prog, mine.prog);
        return -EBUSY;
    }
    h->link_fd = bpf_link_get_fd_by_id(link_id);
    if (h->link_fd < 0)
        return perm_error(-errno, "joining the interface's XDP hook");
    LIBBPF_OPTS(bpf_xdp_query_opts, q);
    h->mode = bpf_xdp_query(h->ifindex, 0, &q) == 0 && q.attach_mode == XDP_ATTACHED_SKB
                  ? "skb" : "native";
    return 0;
}

/* Loads the hook object and attaches it with a BPF link (this process founds the group). */
static int hook_attach(struct hook *h, int ifindex, const char *ifname, const char *obj_path)
{
    if (access(obj_path, R_OK) != 0) {
        report("hook program %s: %s (build it with `make`, or set MTP_XDP_OBJ)", obj_path,
               strerror(errno));
        return -ENOENT;
    }
    struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
    if (!obj) {
        int err = -errno;
        char msg[128];
        libbpf_strerror(err, msg, sizeof(msg));
        report("hook program %s: cannot open: %s", obj_path, msg);
        return err < -4000 ? -EINVAL : err; /* libbpf's own codes are not errno values */
    }
    int err = bpf_object__load(obj);
    if (err) {
        if (err != -EPERM && err != -EACCES)
            report("hook program %s: the kernel refused to load it: %s (MTP_LOG=debug shows "
                   "the verifier log)", obj_path, strerror(-err));
        bpf_object__close(obj);
        return perm_error(err, "loading the XDP hook program");
    }
    struct bpf_program *prog = bpf_object__find_program_by_name(obj, MTP_XDP_PROG_NAME);
    static const char *const maps[] = {"mtp_xsks", "mtp_ports", "mtp_stats", "mtp_members",
                                       "mtp_rings", "mtp_flows", "mtp_info"};
    int ok = prog != NULL;
    for (size_t i = 0; ok && i < sizeof maps / sizeof maps[0]; i++)
        ok = map_fd(obj, maps[i]) >= 0;
    if (!ok) {
        report("hook program %s: not an mtp XDP object (no %s or its maps)", obj_path,
               MTP_XDP_PROG_NAME);
        bpf_object__close(obj);
        return -EINVAL;
    }
    struct mtp_xdp_info info = {0};
    snprintf(info.prog, sizeof info.prog, "%s", obj_base(obj_path));
    uint32_t zero = 0;
    bpf_map_update_elem(map_fd(obj, "mtp_info"), &zero, &info, BPF_ANY);
    /* Native mode where the driver has it (veth does), generic SKB mode otherwise. */
    const char *want = getenv("MTP_XDP_MODE");
    if (!want || !*want)
        want = "auto";
    if (strcmp(want, "auto") && strcmp(want, "native") && strcmp(want, "skb")) {
        report("MTP_XDP_MODE=%s: unknown mode (accepted: auto, native, skb)", want);
        bpf_object__close(obj);
        return -EINVAL;
    }
    const char *mode = "native";
    int link = -1;
    errno = EOPNOTSUPP;
    if (strcmp(want, "skb")) {
        LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = XDP_FLAGS_DRV_MODE);
        link = bpf_link_create(bpf_program__fd(prog), ifindex, BPF_XDP, &lo);
    }
    if (link < 0 && strcmp(want, "native") && errno != EPERM && errno != EBUSY) {
        LIBBPF_OPTS(bpf_link_create_opts, lo_skb, .flags = XDP_FLAGS_SKB_MODE);
        link = bpf_link_create(bpf_program__fd(prog), ifindex, BPF_XDP, &lo_skb);
        mode = "skb";
    }
    if (link < 0) {
        err = -errno;
        bpf_object__close(obj);
        if (err == -EPERM || err == -EACCES)
            return perm_error(err, "attaching the XDP hook program");
        if (err == -EBUSY)
            report("%s: another XDP program is being attached concurrently", ifname);
        else if (err == -EOPNOTSUPP || err == -EINVAL)
            report("%s: XDP is not supported on this interface (%s)", ifname, strerror(-err));
        else
            report("%s: cannot attach the XDP hook program: %s", ifname, strerror(-err));
        return err;
    }
    h->obj = obj;
    h->link_fd = link;
    h->mode = mode;
    h->xsks_fd = map_fd(obj, "mtp_xsks");
    h->ports_fd = map_fd(obj, "mtp_ports");
    h->stats_fd = map_fd(obj, "mtp_stats");
    h->members_fd = map_fd(obj, "mtp_members");
    h->rings_fd = map_fd(obj, "mtp_rings");
    h->flows_fd = map_fd(obj, "mtp_flows");
    h->info_fd = map_fd(obj, "mtp_info");
    return 0;
}

/* The process's view of the interface's hook: attached by this process (the first member),
 * or joined (another process attached it). Called with the group lock held. */
static int hook_get(struct hook **out, int ifindex, const char *ifname, const char *obj_path)
{
    struct hook *h = NULL;
    for (int i = 0; i < MAX_HOOKS; i++)
        if (hooks[i].refs && hooks[i].ifindex == ifindex) {
            if (strcmp(obj_base(hooks[i].obj_path), obj_base(obj_path)) != 0) {
                report("%s is already steered for %s in this process (one program per "
                       "interface)", ifname, hooks[i].obj_path);
                return -EBUSY;
            }
            hooks[i].refs++;
            *out = &hooks[i];
            return 0;
        }
    for (int i = 0; i < MAX_HOOKS && !h; i++)
        if (!hooks[i].refs)
            h = &hooks[i];
    if (!h) {
        report("too many interfaces in one process (max %d)", MAX_HOOKS);
        return -ENOSPC;
    }
    *h = (struct hook){.ifindex = ifindex, .link_fd = -1, .xsks_fd = -1,
                       .ports_fd = -1, .stats_fd = -1, .members_fd = -1, .rings_fd = -1,
                       .flows_fd = -1, .info_fd = -1};
    uint32_t prog_id = 0, link_id = 0;
    int err = attached_live(ifindex, ifname, &prog_id, &link_id);
    if (err > 0)
        err = hook_join(h, prog_id, link_id, ifname, obj_path);
    else if (err == 0)
        err = hook_attach(h, ifindex, ifname, obj_path);
    if (!err && !(h->ports = calloc(65536, sizeof(*h->ports))))
        err = -ENOMEM;
    if (err) {
        if (h->link_fd >= 0)
            close(h->link_fd);
        hook_fds_close(h);
        bpf_object__close(h->obj);
        memset(h, 0, sizeof(*h));
        return err;
    }
    h->refs = 1;
    snprintf(h->obj_path, sizeof(h->obj_path), "%s", obj_path);
    *out = h;
    return 0;
}

/* ------------------------------------------------------------------ AF_XDP socket */

static void frames_push(struct mtp_target *t, uint64_t addr)
{
    t->free_frames[t->n_free++] = addr & ~(uint64_t)(FRAME_SIZE - 1);
}

static uint32_t comp_reap(struct mtp_target *t)
{
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&t->comp, RING_SIZE, &idx);
    for (uint32_t i = 0; i < n; i++)
        frames_push(t, *xsk_ring_cons__comp_addr(&t->comp, idx + i));
    if (n)
        xsk_ring_cons__release(&t->comp, n);
    t->tx_in_flight -= n;
    return n;
}

static int tx_ring_drained(const struct mtp_target *t)
{
    return __atomic_load_n(t->tx.consumer, __ATOMIC_ACQUIRE) == *t->tx.producer;
}

/* Tells the kernel to transmit. In copy mode (veth, skb mode) sendmsg does the work itself,
 * a bounded batch per call, and says EAGAIN while descriptors remain (or the completion ring
 * is full): call again, reaping completions, until the tx ring is drained. A frame must never
 * wait in the ring for the next packet or timer to come along. */
static void tx_kick(struct mtp_target *t)
{
    for (uint32_t i = 0; i < RING_SIZE / 16; i++) {
        if (sendto(xsk_socket__fd(t->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
            return;
        if (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS)
            return; /* e.g. ENETDOWN: the frames stay queued; the next burst tries again */
        comp_reap(t);
        if (tx_ring_drained(t))
            return;
    }
}

/* The frames held back (tx_hold) go now. */
static void tx_send_held(struct mtp_target *t)
{
    t->tx_held = 0;
    if (xsk_ring_prod__needs_wakeup(&t->tx))
        tx_kick(t);
}

/* Completed tx frames back to the free stack; a kick if the kernel still has tx work that
 * is not held back on purpose. */
static void tx_reap(struct mtp_target *t)
{
    comp_reap(t);
    if (t->tx_in_flight && !t->tx_held && !tx_ring_drained(t) &&
        xsk_ring_prod__needs_wakeup(&t->tx))
        tx_kick(t);
}

/* Keeps the fill ring stocked from the free stack (frames come back through rx_release). */
static uint32_t fill_count(struct mtp_target *t)
{
    return RING_SIZE - xsk_prod_nb_free(&t->fill, RING_SIZE);
}

static void fill_put(struct mtp_target *t, uint32_t want)
{
    uint32_t idx;
    if (want > t->n_free)
        want = t->n_free;
    if (!want || xsk_ring_prod__reserve(&t->fill, want, &idx) != want)
        return;
    for (uint32_t i = 0; i < want; i++)
        *xsk_ring_prod__fill_addr(&t->fill, idx + i) = t->free_frames[--t->n_free];
    xsk_ring_prod__submit(&t->fill, want);
}

/* The first stocking of the fill ring, at its starting level. */
static void fill_prime(struct mtp_target *t)
{
    fill_put(t, t->fill_level);
}

/* Tops the fill ring up to its level; a ring found nearly empty raises the level
 * (fill_level.h). Both after a receive burst and after the frames were processed: a burst
 * that arrived while the stack processed the previous one shows only at the second. */
static void fill_refill(struct mtp_target *t)
{
    uint32_t in_fill = fill_count(t);
    t->fill_level = fill_level_next(t->fill_level, in_fill, RING_SIZE);
    fill_put(t, in_fill < t->fill_level ? t->fill_level - in_fill : 0);
}

/* "lo, eth0, ...": the interfaces of this network namespace, for messages. */
static const char *iface_names(char *buf, size_t cap)
{
    buf[0] = 0;
    struct if_nameindex *all = if_nameindex();
    for (struct if_nameindex *i = all; i && i->if_index; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), "%s%s", i == all ? "" : ", ", i->if_name);
    if (all)
        if_freenameindex(all);
    return buf;
}

static int iface_lookup(const char *name, char out[IF_NAMESIZE], int *ifindex)
{
    char names[512];
    if (!name || !*name) {
        report("MTP_IFACE is not set: the xdp target needs an interface (accepted: %s)",
               iface_names(names, sizeof names));
        return -EINVAL;
    }
    if (strlen(name) >= IF_NAMESIZE || !(*ifindex = (int)if_nametoindex(name))) {
        report("unknown interface '%s' (MTP_IFACE must name an interface of this network "
               "namespace; see `ip link`)", name);
        return -ENODEV;
    }
    snprintf(out, IF_NAMESIZE, "%s", name);
    return 0;
}

static void xdp_close(struct mtp_target *t);
static void port_release_locked(struct mtp_target *t, uint16_t port);

/* Sets /proc/sys/net/ipv4/conf/<ifname>/<name> to 1 unless it is already. */
static int conf_enable(const char *ifname, const char *name)
{
    char path[128], v = 0;
    snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/%s", ifname, name);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (read(fd, &v, 1) != 1 || v != '1')
        err = pwrite(fd, "1\n", 2, 0) == 2 ? 0 : -errno;
    close(fd);
    return err;
}

/* On lo the kernel sees what we send as packets arriving from a wire: with 127/8 addresses
 * (a martian destination unless route_localnet) and a local source address (a martian
 * source unless accept_local). Both switches apply to lo alone, where the only sender is
 * this host, so the target turns them on (they stay on: another process may rely on them). */
static int loopback_setup(const char *ifname)
{
    static const char *const names[] = { "route_localnet", "accept_local" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        int err = conf_enable(ifname, names[i]);
        if (err < 0) {
            report("%s: cannot set net.ipv4.conf.%s.%s=1 (%s): the kernel would drop every "
                   "packet the stack sends on loopback", ifname, ifname, names[i],
                   strerror(-err));
            return err;
        }
    }
    return 0;
}

static int xsk_setup(struct mtp_target *t)
{
    size_t size = (size_t)NUM_FRAMES * FRAME_SIZE;
    t->umem_area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t->umem_area == MAP_FAILED) {
        t->umem_area = NULL;
        report("cannot allocate %zu bytes of UMEM", size);
        return -ENOMEM;
    }
    struct xsk_umem_config ucfg = {
        .fill_size = RING_SIZE, .comp_size = RING_SIZE, .frame_size = FRAME_SIZE,
        .frame_headroom = XSK_UMEM__DEFAULT_FRAME_HEADROOM, .flags = 0,
    };
    int err = xsk_umem__create(&t->umem, t->umem_area, size, &t->fill, &t->comp, &ucfg);
    if (err) {
        t->umem = NULL;
        if (err != -EPERM)
            report("%s: cannot register UMEM: %s", t->ifname, strerror(-err));
        return perm_error(err, "creating the AF_XDP socket");
    }
    /* Multi-buffer: the kernel hands over GSO/GRO packets larger than a frame (SKB mode on a
     * veth whose peer does TSO, lo) as descriptor chains instead of dropping them. A kernel
     * without it refuses the flag: then such packets are dropped (xsk rx_dropped). */
    struct xsk_socket_config scfg = {
        .rx_size = RING_SIZE, .tx_size = RING_SIZE,
        .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD, /* our hook, our maps */
        .bind_flags = XDP_USE_NEED_WAKEUP | XDP_USE_SG,
    };
    err = xsk_socket__create(&t->xsk, t->ifname, t->queue, t->umem, &t->rx, &t->tx, &scfg);
    t->sg = err == 0;
    if (err == -EINVAL || err == -EOPNOTSUPP) {
        t->xsk = NULL;
        scfg.bind_flags = XDP_USE_NEED_WAKEUP;
        err = xsk_socket__create(&t->xsk, t->ifname, t->queue, t->umem, &t->rx, &t->tx, &scfg);
    }
    if (err == -EBUSY) { /* another process's socket has the queue: we join as a ring member */
        t->xsk = NULL;
        return err;
    }
    if (err) {
        t->xsk = NULL;
        if (err == -EINVAL)
            report("%s: cannot bind an AF_XDP socket to queue %u (does the queue exist? "
                   "`ethtool -l %s`)", t->ifname, t->queue, t->ifname);
        else if (err != -EPERM)
            report("%s: cannot create the AF_XDP socket: %s", t->ifname, strerror(-err));
        return perm_error(err, "creating the AF_XDP socket");
    }
    int xfd = xsk_socket__fd(t->xsk);
    err = bpf_map_update_elem(t->hook->xsks_fd, &t->slot, &xfd, BPF_ANY) < 0 ? -errno : 0;
    if (err) {
        report("%s: cannot register the AF_XDP socket for queue %u: %s", t->ifname, t->queue,
               strerror(-err));
        return err;
    }
    t->free_frames = calloc(NUM_FRAMES, sizeof(uint64_t));
    if (!t->free_frames)
        return -ENOMEM;
    for (uint32_t i = NUM_FRAMES; i-- > 0;)
        frames_push(t, (uint64_t)i * FRAME_SIZE);
    t->fill_level = FILL_LEVEL_MIN;
    fill_prime(t);
    return 0;
}

/* The hook object's path (see the top of this file), or NULL. A path given explicitly is
 * returned even if it does not exist: opening it reports that. */
static const char *hook_object(const struct mtp_target_config *cfg, char *buf, size_t cap)
{
    const char *env = getenv("MTP_XDP_OBJ");
    if (env && *env)
        return env;
    if (cfg->args && *cfg->args)
        return cfg->args;
    Dl_info info;
    if (!cfg->prog_name || !dladdr((void *)hook_object, &info) || !info.dli_fname)
        return NULL;
    char self[PATH_MAX];
    if (!realpath(info.dli_fname, self))
        return NULL;
    const char *dir = dirname(self);
    static const char *const layouts[] = {"%s/../bpf/%s.bpf.o", "%s/mtp/%s.bpf.o"};
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++) {
        snprintf(buf, cap, layouts[i], dir, cfg->prog_name);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    return NULL;
}

static int xdp_open_inner(struct mtp_target **out, const struct mtp_target_config *cfg);

/* Every failure prints exactly one line (the caller need not add its own). */
static int xdp_open(struct mtp_target **out, const struct mtp_target_config *cfg)
{
    *out = NULL;
    unsigned reports_before = reports;
    int err = xdp_open_inner(out, cfg);
    if (err && reports == reports_before)
        report("cannot open %s (queue %u): %s", cfg->iface ? cfg->iface : "-", cfg->queue,
               strerror(-err));
    return err;
}

/* ------------------------------------------------------------------ members */

/* Field 22 of /proc/PID/stat (start time in clock ticks) and the state letter; 0: gone. */
static uint64_t proc_start(pid_t pid, char *state)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p || p[1] != ' ')
        return 0;
    *state = p[2];
    p += 2; /* field 3 */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

static int member_alive(const struct mtp_xdp_member *m)
{
    char state = '?';
    uint64_t start = proc_start((pid_t)m->pid, &state);
    return start && start == m->start && state != 'Z' && state != 'X';
}

static int group_del_slot(struct mtp_xdp_group *g, uint32_t slot)
{
    for (int i = 0; i < g->n; i++)
        if (g->slot[i] == slot) {
            g->slot[i] = g->slot[--g->n];
            return 1;
        }
    return 0;
}

/* Writes a port's entry back, or deletes it when no member, holder or dormant member is
 * left in it. Lock held. */
static void group_store(struct hook *h, mtp_xdp_port_key key, const struct mtp_xdp_group *g)
{
    if (g->n || g->holders || g->dormant)
        bpf_map_update_elem(h->ports_fd, &key, g, BPF_EXIST);
    else
        bpf_map_delete_elem(h->ports_fd, &key);
}

/* Takes member `slot` out of everything (its ports' groups, the maps). Lock held. */
static void member_remove(struct hook *h, uint32_t slot)
{
    mtp_xdp_port_key key, next;
    int first = 1;
    while (bpf_map_get_next_key(h->ports_fd, first ? NULL : &key, &next) == 0) {
        first = 0;
        key = next;
        struct mtp_xdp_group g;
        if (bpf_map_lookup_elem(h->ports_fd, &key, &g) < 0)
            continue;
        int marked = ((g.holders | g.dormant) >> slot) & 1;
        g.holders &= ~(1u << slot);
        g.dormant &= ~(1u << slot);
        if (!group_del_slot(&g, slot) && !marked)
            continue;
        group_store(h, key, &g); /* a deletion: the key walk continues from `key` */
    }
    struct mtp_xdp_member none = {0};
    bpf_map_update_elem(h->members_fd, &slot, &none, BPF_ANY);
    bpf_map_delete_elem(h->rings_fd, &slot);
    bpf_map_delete_elem(h->xsks_fd, &slot);
}

/* Members whose process is gone (killed, crashed) lose their ports and slot: the hook stops
 * steering to them, their pinned connections fall back to the port's group. Lock held. */
static int reap_dead(struct hook *h)
{
    int reaped = 0;
    for (uint32_t slot = 0; slot < MTP_XDP_MAX_MEMBERS; slot++) {
        struct mtp_xdp_member m;
        if (bpf_map_lookup_elem(h->members_fd, &slot, &m) < 0 || !m.gen ||
            m.pid == (uint32_t)getpid() || member_alive(&m))
            continue;
        member_remove(h, slot);
        reaped++;
    }
    return reaped;
}

/* Looks for dead members every REAP_NS of rx bursts (a clock read per burst), without
 * waiting for the lock (the next time will do). A ring member's wake fd holds a timer of
 * period 2 * REAP_NS, so it looks even while idle (a member killed while the others sleep
 * stops getting new connections within a second); the first burst after each expiry reads
 * it, so the wake fd never stays readable without work. */
#define REAP_NS 250000000ull
static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void reap_maybe(struct mtp_target *t)
{
    uint64_t now = mono_ns();
    int fired = 0;
    if (t->timer_fd >= 0 && now >= t->timer_due) {
        uint64_t expirations;
        fired = read(t->timer_fd, &expirations, sizeof expirations) > 0;
        while (t->timer_due <= now)
            t->timer_due += 2 * REAP_NS;
    }
    if (!fired && now - t->reap_ns < REAP_NS)
        return;
    t->reap_ns = now;
    if (flock(t->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return;
    reap_dead(t->hook);
    group_unlock(t->lock_fd);
}

/* A free slot for this target, or a one-line error. Lock held. */
static int slot_take(struct mtp_target *t)
{
    for (uint32_t slot = 0; slot < MTP_XDP_MAX_MEMBERS; slot++) {
        struct mtp_xdp_member m;
        if (bpf_map_lookup_elem(t->hook->members_fd, &slot, &m) < 0 || m.gen)
            continue;
        t->slot = slot;
        uint32_t gen = 0;
        while (!gen && getentropy(&gen, sizeof gen) == 0)
            ;
        t->gen = gen ? gen : 1;
        return 0;
    }
    report("%s: %d mtp stacks already serve this interface (the most it takes): stop one, "
           "or use another interface", t->ifname, MTP_XDP_MAX_MEMBERS);
    return -ENOSPC;
}

static int member_publish(struct mtp_target *t)
{
    char state;
    struct mtp_xdp_member m = {
        .gen = t->gen, .kind = t->mkind, .queue = t->queue, .pid = (uint32_t)getpid(),
        .start = proc_start(getpid(), &state),
    };
    if (bpf_map_update_elem(t->hook->members_fd, &t->slot, &m, BPF_ANY) < 0)
        return -errno;
    t->member = 1;
    return 0;
}

/* ---- a ring-buffer member: rx from the BPF ring the hook fills, tx through AF_PACKET */

#define LOCAL_FRAMES 2048u
#define RING_MALLOC  (1ull << 62) /* rx handle of a frame longer than FRAME_SIZE: its pointer */
#define RING_LOCAL   (1ull << 61) /* handle of a local buffer: its index */
#ifndef BPF_RINGBUF_BUSY_BIT
#define BPF_RINGBUF_BUSY_BIT    (1u << 31)
#define BPF_RINGBUF_DISCARD_BIT (1u << 30)
#define BPF_RINGBUF_HDR_SZ      8
#endif

/* tx_too: transmit through AF_PACKET as well (a member without an AF_XDP socket). */
static int ring_setup(struct mtp_target *t, int tx_too)
{
    long page = sysconf(_SC_PAGESIZE);
    t->ring_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "mtp_ring", 0, 0, MTP_XDP_RING_BYTES, NULL);
    if (t->ring_fd < 0)
        return perm_error(-errno, "creating the receive ring");
    t->ring_cons = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_SHARED, t->ring_fd, 0);
    t->ring_prod = mmap(NULL, (size_t)page + 2 * MTP_XDP_RING_BYTES, PROT_READ, MAP_SHARED,
                        t->ring_fd, page);
    if (t->ring_cons == MAP_FAILED || t->ring_prod == MAP_FAILED) {
        int err = -errno;
        report("%s: cannot map the receive ring: %s", t->ifname, strerror(-err));
        return err;
    }
    if (!tx_too)
        goto local;
    t->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: receives nothing */
    if (t->pkt_fd < 0)
        return perm_error(-errno, "creating the AF_PACKET socket");
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = t->ifindex};
    if (bind(t->pkt_fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
        report("%s: cannot bind the AF_PACKET socket: %s", t->ifname, strerror(errno));
        return -errno;
    }
local:
    t->local = malloc((size_t)LOCAL_FRAMES * FRAME_SIZE);
    t->local_free = malloc(LOCAL_FRAMES * sizeof(uint32_t));
    if (!t->local || !t->local_free)
        return -ENOMEM;
    for (uint32_t i = LOCAL_FRAMES; i-- > 0;)
        t->local_free[t->n_local_free++] = i;
    if (bpf_map_update_elem(t->hook->rings_fd, &t->slot, &t->ring_fd, BPF_ANY) < 0) {
        int err = -errno;
        report("%s: cannot register the receive ring: %s", t->ifname, strerror(-err));
        return err;
    }
    t->mkind |= MTP_XDP_MEMBER_RING;
    return 0;
}

static void xsk_teardown(struct mtp_target *t)
{
    if (t->xsk)
        xsk_socket__delete(t->xsk);
    if (t->umem)
        xsk_umem__delete(t->umem);
    if (t->umem_area)
        munmap(t->umem_area, (size_t)NUM_FRAMES * FRAME_SIZE);
    t->xsk = NULL;
    t->umem = NULL;
    t->umem_area = NULL;
    free(t->free_frames);
    t->free_frames = NULL;
}

static void ring_teardown(struct mtp_target *t)
{
    long page = sysconf(_SC_PAGESIZE);
    if (t->ring_cons && t->ring_cons != MAP_FAILED)
        munmap(t->ring_cons, (size_t)page);
    if (t->ring_prod && t->ring_prod != MAP_FAILED)
        munmap(t->ring_prod, (size_t)page + 2 * MTP_XDP_RING_BYTES);
    t->ring_cons = t->ring_prod = NULL;
    if (t->ring_fd >= 0)
        close(t->ring_fd);
    if (t->pkt_fd >= 0)
        close(t->pkt_fd);
    t->ring_fd = t->pkt_fd = -1;
    free(t->local);
    free(t->local_free);
    t->local = NULL;
    t->local_free = NULL;
}

/* The device's rx queues (/sys/class/net/IF/queues/rx-*), at least 1. */
static uint32_t rx_queues(const char *ifname)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/class/net/%s/queues", ifname);
    DIR *d = opendir(path);
    uint32_t n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += !strncmp(e->d_name, "rx-", 3);
    if (d)
        closedir(d);
    return n ? n : 1;
}

/* The wake fd of a member with a ring buffer: an epoll fd over what receives (its socket if
 * it has one, the ring) and the reap timer. */
static int wake_setup(struct mtp_target *t)
{
    t->wake_epfd = epoll_create1(EPOLL_CLOEXEC);
    t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->wake_epfd < 0 || t->timer_fd < 0)
        return -errno;
    struct itimerspec every = {
        .it_interval = {.tv_nsec = (long)(2 * REAP_NS)}, .it_value = {.tv_nsec = (long)(2 * REAP_NS)},
    };
    if (timerfd_settime(t->timer_fd, 0, &every, NULL) < 0)
        return -errno;
    t->timer_due = mono_ns() + 2 * REAP_NS;
    int fds[3] = {t->timer_fd, t->mkind & MTP_XDP_MEMBER_XSK ? xsk_socket__fd(t->xsk) : -1,
                  t->mkind & MTP_XDP_MEMBER_RING ? t->ring_fd : -1};
    for (int i = 0; i < 3; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
        if (fds[i] >= 0 && epoll_ctl(t->wake_epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
            return -errno;
    }
    return 0;
}

/* An AF_XDP socket on the asked queue if it is free, else on another free queue of the
 * device, else none; a ring buffer too on a device with several queues (the member's
 * connections whose packets RSS puts on other queues), and only a ring buffer (with AF_PACKET
 * to transmit) when every queue's socket is another member's (docs/MULTIPROC.md). */
static int member_join(struct mtp_target *t)
{
    int err = slot_take(t);
    if (err)
        return err;
    uint32_t nq = rx_queues(t->ifname), want = t->queue;
    err = -EBUSY;
    for (uint32_t i = 0; i < nq && i < MTP_XDP_MAX_QUEUES && err == -EBUSY; i++) {
        t->queue = (want + i) % nq;
        err = xsk_setup(t);
        if (err == -EBUSY)
            xsk_teardown(t);
    }
    if (!err)
        t->mkind = MTP_XDP_MEMBER_XSK;
    else if (err == -EBUSY)
        t->queue = want;
    else
        return err;
    if (!t->mkind || nq > 1)
        err = ring_setup(t, !t->mkind);
    /* A lone AF_XDP member (one-queue device) waits on its socket itself: no epoll between
     * a frame and the sleeping application (latency), no timer; it looks for dead members
     * whenever traffic wakes it. */
    if (!err && t->mkind != MTP_XDP_MEMBER_XSK)
        err = wake_setup(t);
    return err ? err : member_publish(t);
}

static int xdp_open_inner(struct mtp_target **out, const struct mtp_target_config *cfg)
{
    libbpf_set_print(lib_print);
    libxdp_set_print(xdp_lib_print);
    if (cfg->queue >= MTP_XDP_MAX_QUEUES) {
        report("queue %u out of range (max %d)", cfg->queue, MTP_XDP_MAX_QUEUES - 1);
        return -EINVAL;
    }
    char found[PATH_MAX];
    const char *obj_path = hook_object(cfg, found, sizeof found);
    if (!obj_path) {
        report("no hook program object for program '%s' (build it with `make`, or set "
               "MTP_XDP_OBJ)", cfg->prog_name ? cfg->prog_name : "?");
        return -ENOENT;
    }
    struct mtp_target *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->rtnl_fd = t->lock_fd = t->ring_fd = t->pkt_fd = t->wake_epfd = t->timer_fd = -1;
    t->queue = cfg->queue;
    t->ip_proto = cfg->ip_proto;
    int err = iface_lookup(cfg->iface, t->ifname, &t->ifindex);
    if (!err)
        t->kind = mtp__ifkind(t->ifname);
    if (!err && t->kind == MTP_LINK_LOOPBACK)
        err = loopback_setup(t->ifname);
    if (!err && (t->lock_fd = lock_open(t->ifindex, t->ifname)) < 0)
        err = t->lock_fd;
    if (!err)
        err = group_lock(t->lock_fd);
    if (!err) {
        err = hook_get(&t->hook, t->ifindex, t->ifname, obj_path);
        if (!err)
            reap_dead(t->hook);
        if (!err)
            err = member_join(t);
        group_unlock(t->lock_fd);
    }
    if (err) {
        xdp_close(t);
        return err;
    }
    *out = t;
    return 0;
}

static void xdp_close(struct mtp_target *t)
{
    if (!t)
        return;
    if (t->hook && t->lock_fd >= 0 && group_lock(t->lock_fd) == 0) {
        for (int p = 0; p < 65536; p++)
            if (t->claimed[p / 64] >> (p % 64) & 1)
                port_release_locked(t, (uint16_t)p);
        if (t->member)
            member_remove(t->hook, t->slot);
        else if (t->mkind & MTP_XDP_MEMBER_RING)
            bpf_map_delete_elem(t->hook->rings_fd, &t->slot);
        group_unlock(t->lock_fd);
    }
    xsk_teardown(t);
    ring_teardown(t);
    if (t->wake_epfd >= 0)
        close(t->wake_epfd);
    if (t->timer_fd >= 0)
        close(t->timer_fd);
    hook_put(t->hook);
    if (t->rtnl_fd >= 0)
        close(t->rtnl_fd);
    if (t->lock_fd >= 0)
        close(t->lock_fd);
    free(t->big);
    free(t);
}

/* In a forked child: the parent's target is the parent's. Free this copy (memory, fds)
 * without a map update, a port release or a socket shutdown the parent would notice. */
static void xdp_abandon(struct mtp_target *t)
{
    if (!t)
        return;
    if (t->xsk)
        close(xsk_socket__fd(t->xsk)); /* the child's reference only; libxdp's few bytes of
                                          bookkeeping are left (deleting would touch maps) */
    if (t->umem_area)
        munmap(t->umem_area, (size_t)NUM_FRAMES * FRAME_SIZE);
    free(t->free_frames);
    ring_teardown(t);
    if (t->wake_epfd >= 0)
        close(t->wake_epfd);
    if (t->timer_fd >= 0)
        close(t->timer_fd);
    struct hook *h = t->hook;
    for (int p = 0; h && p < 65536; p++)
        if (t->claimed[p / 64] >> (p % 64) & 1 && --h->ports[p].refs == 0)
            close(h->ports[p].fd);
    if (h && --h->refs == 0) {
        if (h->link_fd >= 0)
            close(h->link_fd); /* the parent's link fd keeps the hook attached */
        hook_fds_close(h);
        free(h->ports);
        bpf_object__close(h->obj); /* closes this process's fds of it, nothing more */
        memset(h, 0, sizeof(*h));
    }
    if (t->rtnl_fd >= 0)
        close(t->rtnl_fd);
    if (t->lock_fd >= 0)
        close(t->lock_fd);
    free(t->big);
    free(t);
}

/* ------------------------------------------------------------------ frames */

/* Descriptors [first, last] of a multi-buffer packet copied into reassembly slot `slot`
 * (their UMEM frames go back to the free stack). 0, or -1 if the packet is too long. */
static int big_gather(struct mtp_target *t, uint32_t idx, uint32_t first, uint32_t last,
                      uint32_t slot, struct mtp_frame *out)
{
    if (!t->big)
        t->big = malloc((size_t)BIG_SLOTS * BIG_BYTES); /* first use; NULL: dropped below */
    uint8_t *dst = t->big ? t->big + (size_t)slot * BIG_BYTES : NULL;
    uint32_t len = 0;
    int ok = dst != NULL;
    for (uint32_t i = first; i <= last; i++) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&t->rx, idx + i);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        if (ok && len + d->len <= BIG_BYTES)
            memcpy(dst + len, xsk_umem__get_data(t->umem_area, addr), d->len);
        else
            ok = 0;
        len += d->len;
        frames_push(t, addr);
    }
    if (!ok) {
        t->rx_too_big++;
        return -1;
    }
    *out = (struct mtp_frame){ .data = dst, .len = len, .cap = BIG_BYTES,
                               .handle = BIG_HANDLE | slot };
    return 0;
}

static int xsk_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
{
    if (t->tx_in_flight)
        tx_reap(t);
    fill_refill(t);
    uint32_t idx;
    uint32_t n = xsk_ring_cons__peek(&t->rx, t->sg ? RX_PEEK : (uint32_t)max, &idx);
    if (!n) {
        if (xsk_ring_prod__needs_wakeup(&t->fill))
            (void)recvfrom(xsk_socket__fd(t->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
        return 0;
    }
    uint32_t used = 0, slots = 0;
    int got = 0;
    while (used < n && got < max) {
        const struct xdp_desc *d = xsk_ring_cons__rx_desc(&t->rx, idx + used);
        uint64_t addr = xsk_umem__add_offset_to_addr(d->addr);
        if (!(d->options & XDP_PKT_CONTD)) {
            f[got++] = (struct mtp_frame){
                .data = xsk_umem__get_data(t->umem_area, addr), .len = d->len,
                .cap = FRAME_SIZE - (uint32_t)(addr & (FRAME_SIZE - 1)), .handle = addr,
            };
            used++;
            continue;
        }
        /* a multi-buffer packet: up to its descriptor without XDP_PKT_CONTD */
        uint32_t last = used;
        while (last < n && (xsk_ring_cons__rx_desc(&t->rx, idx + last)->options & XDP_PKT_CONTD))
            last++;
        if (last == n || slots == BIG_SLOTS)
            break; /* the rest of it (or a free slot) at the next burst */
        if (big_gather(t, idx, used, last, slots, &f[got]) == 0) {
            got++;
            slots++;
        }
        used = last + 1;
    }
    /* peek moved the ring's cached consumer past all n: the ones not used now must be seen
     * again at the next burst, not skipped (their frames would never come back) */
    if (used < n)
        xsk_ring_cons__cancel(&t->rx, n - used);
    xsk_ring_cons__release(&t->rx, used);
    return got;
}

static int xsk_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    if (t->tx_in_flight)
        tx_reap(t);
    /* Never take the frames the fill ring needs to keep receiving. */
    uint32_t in_fill = fill_count(t);
    uint32_t owed = in_fill < t->fill_level ? t->fill_level - in_fill : 0;
    uint32_t avail = t->n_free > owed ? t->n_free - owed : 0;
    int got = n < (int)avail ? n : (int)avail;
    for (int i = 0; i < got; i++) {
        uint64_t addr = t->free_frames[--t->n_free];
        f[i] = (struct mtp_frame){
            .data = xsk_umem__get_data(t->umem_area, addr), .len = 0, .cap = FRAME_SIZE,
            .handle = addr,
        };
    }
    return got;
}

static int xsk_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
{
    uint32_t idx = 0;
    uint32_t room = xsk_prod_nb_free(&t->tx, (uint32_t)n);
    uint32_t sent = (uint32_t)n < room ? (uint32_t)n : room;
    if (sent && xsk_ring_prod__reserve(&t->tx, sent, &idx) != sent)
        sent = 0;
    for (uint32_t i = 0; i < sent; i++) {
        struct xdp_desc *d = xsk_ring_prod__tx_desc(&t->tx, idx + i);
        d->addr = f[i].handle;
        d->len = f[i].len;
        d->options = 0;
    }
    if (sent) {
        xsk_ring_prod__submit(&t->tx, sent);
        t->tx_in_flight += sent;
        t->tx_held += sent;
        if (!t->tx_hold || t->tx_held >= TX_HOLD_MAX)
            tx_send_held(t);
    }
    for (int i = (int)sent; i < n; i++) /* ring full: dropped, the frames are ours again */
        frames_push(t, f[i].handle);
    return (int)sent;
}

/* ---- a ring-buffer member's frames: copies in local buffers */

static void local_push(struct mtp_target *t, uint64_t handle)
{
    if (handle & RING_MALLOC)
        free((void *)(uintptr_t)(handle & ~RING_MALLOC));
    else
        t->local_free[t->n_local_free++] = (uint32_t)(handle & ~RING_LOCAL);
}

static int ring_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t *consp = t->ring_cons, *prodp = t->ring_prod;
    const uint8_t *data = (const uint8_t *)t->ring_prod + page;
    uint64_t cons = __atomic_load_n(consp, __ATOMIC_ACQUIRE);
    uint64_t prod = __atomic_load_n(prodp, __ATOMIC_ACQUIRE);
    int got = 0;
    while (cons < prod && got < max) {
        const uint32_t *hdr = (const uint32_t *)(data + (cons & (MTP_XDP_RING_BYTES - 1)));
        uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
        if (len & BPF_RINGBUF_BUSY_BIT)
            break; /* still being written */
        uint32_t rec_len = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
        if (!(len & BPF_RINGBUF_DISCARD_BIT) && rec_len >= sizeof(struct mtp_xdp_ring_rec)) {
            const struct mtp_xdp_ring_rec *rec =
                (const void *)((const uint8_t *)hdr + BPF_RINGBUF_HDR_SZ);
            uint32_t plen = rec->len;
            uint8_t *buf = NULL;
            uint64_t handle = 0;
            if (plen > rec_len - sizeof *rec) {
                t->ring_dropped++;
            } else if (plen <= FRAME_SIZE && t->n_local_free) {
                uint32_t i = t->local_free[--t->n_local_free];
                buf = t->local + (size_t)i * FRAME_SIZE;
                handle = RING_LOCAL | i;
            } else if ((buf = malloc(plen ? plen : 1))) {
                handle = RING_MALLOC | (uint64_t)(uintptr_t)buf;
            } else {
                t->ring_dropped++;
            }
            if (buf) {
                memcpy(buf, rec + 1, plen);
                f[got++] = (struct mtp_frame){.data = buf, .len = plen,
                                              .cap = plen > FRAME_SIZE ? plen : FRAME_SIZE,
                                              .handle = handle};
            }
        }
        cons += (rec_len + BPF_RINGBUF_HDR_SZ + 7) & ~7u;
        __atomic_store_n(consp, cons, __ATOMIC_RELEASE);
    }
    return got;
}

static int ring_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    int got = 0;
    while (got < n && t->n_local_free) {
        uint32_t i = t->local_free[--t->n_local_free];
        f[got++] = (struct mtp_frame){.data = t->local + (size_t)i * FRAME_SIZE, .len = 0,
                                      .cap = FRAME_SIZE, .handle = RING_LOCAL | i};
    }
    return got;
}

static int ring_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
{
    enum { BATCH = 64 };
    int sent = 0;
    for (int i = 0; i < n; i += BATCH) {
        struct mmsghdr msgs[BATCH];
        struct iovec iov[BATCH];
        int k = n - i < BATCH ? n - i : BATCH;
        for (int j = 0; j < k; j++) {
            iov[j] = (struct iovec){.iov_base = f[i + j].data, .iov_len = f[i + j].len};
            msgs[j] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[j], .msg_iovlen = 1}};
        }
        int r = sendmmsg(t->pkt_fd, msgs, (unsigned)k, MSG_DONTWAIT);
        if (r > 0)
            sent += r;
    }
    for (int i = 0; i < n; i++) /* sent (copied by the kernel) or dropped: ours again */
        local_push(t, f[i].handle);
    return sent;
}

/* ---- both kinds */

static int xdp_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
{
    reap_maybe(t);
    int n = t->mkind & MTP_XDP_MEMBER_XSK ? xsk_rx_burst(t, f, max) : 0;
    if ((t->mkind & MTP_XDP_MEMBER_RING) && n < max)
        n += ring_rx_burst(t, f + n, max - n);
    return n;
}

static void xdp_rx_release(struct mtp_target *t, struct mtp_frame *f, int n)
{
    for (int i = 0; i < n; i++)
        if (f[i].handle & (RING_LOCAL | RING_MALLOC))
            local_push(t, f[i].handle);
        else if (!(f[i].handle & BIG_HANDLE)) /* a reassembled packet's frames are free */
            frames_push(t, f[i].handle);
    if (t->mkind & MTP_XDP_MEMBER_XSK)
        fill_refill(t);
}

/* A member with an AF_XDP socket transmits through it, another through AF_PACKET. */
static int xdp_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    return t->mkind & MTP_XDP_MEMBER_XSK ? xsk_tx_alloc(t, f, n) : ring_tx_alloc(t, f, n);
}

static int xdp_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
{
    return t->mkind & MTP_XDP_MEMBER_XSK ? xsk_tx_burst(t, f, n) : ring_tx_burst(t, f, n);
}

/* One kick for several bursts (copy mode: a sendto each, the biggest cost of a small
 * reply). A ring member's sendmmsg copies at once: nothing to hold. */
static void xdp_tx_hold(struct mtp_target *t, int hold)
{
    if (!(t->mkind & MTP_XDP_MEMBER_XSK))
        return;
    t->tx_hold = hold;
    if (!hold && t->tx_held)
        tx_send_held(t);
}

static int xdp_wake_fd(struct mtp_target *t)
{
    return t->wake_epfd >= 0 ? t->wake_epfd : xsk_socket__fd(t->xsk);
}

/* ------------------------------------------------------------------ ports */

/* The kernel socket type that reserves a port of this IP protocol, or -1 if the kernel has
 * no sockets for it (then the steering map alone decides). Target plumbing, by number. */
static int placeholder_type(uint8_t ip_proto)
{
    switch (ip_proto) {
    case IPPROTO_TCP: return SOCK_STREAM;
    case IPPROTO_UDP: return SOCK_DGRAM;
    default: return -1;
    }
}

static int port_is_claimed(const struct mtp_target *t, uint16_t port)
{
    return (int)(t->claimed[port / 64] >> (port % 64) & 1);
}

/* A kernel socket bound to the port on every address, so the kernel never hands it out. */
static int placeholder_open(uint8_t ip_proto, uint16_t port)
{
    int type = placeholder_type(ip_proto);
    if (type < 0) { /* the kernel has no sockets for it: the steering map alone decides */
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC); /* keeps release uniform */
        return fd < 0 ? -errno : fd;
    }
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, ip_proto);
    if (fd < 0)
        return -errno;
    /* SO_REUSEADDR: libmtp.so's listener is the application's own kernel socket, bound to
     * the port already (with SO_REUSEADDR too, so both binds coexist until it listens). */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Does a listening socket of this process hold `port`? (An application's own listener under
 * libmtp.so, inherited by a forked worker: it keeps the kernel from handing the port out, so
 * it can stand in for the placeholder.) Only on the rare path where the placeholder's bind
 * failed. */
static int own_listener_on(uint16_t port)
{
    DIR *d = opendir("/proc/self/fd");
    int found = 0;
    for (struct dirent *e; d && !found && (e = readdir(d));) {
        int fd = atoi(e->d_name);
        struct stat st;
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d) ||
            fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
            continue;
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int listening = 0;
        socklen_t ilen = sizeof listening;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
            getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ilen) < 0 || !listening)
            continue;
        if (ss.ss_family == AF_INET)
            found = ntohs(((struct sockaddr_in *)&ss)->sin_port) == port;
        else if (ss.ss_family == AF_INET6)
            found = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port;
    }
    if (d)
        closedir(d);
    return found;
}

/* Adds this member to the port's group (a new group if none). 1: other members serve it
 * too, 0: only us, <0: refused (an active open's port, or the group is full). Lock held. */
static int group_add(struct mtp_target *t, uint16_t port, int excl)
{
    struct hook *h = t->hook;
    mtp_xdp_port_key key = port;
    struct mtp_xdp_group g;
    memset(&g, 0, sizeof g);
    int have = bpf_map_lookup_elem(h->ports_fd, &key, &g) == 0;
    for (int i = 0; have && i < g.n;) { /* members gone since (their slot is free) */
        struct mtp_xdp_member m;
        uint32_t slot = g.slot[i];
        if (bpf_map_lookup_elem(h->members_fd, &slot, &m) == 0 && m.gen)
            i++;
        else
            g.slot[i] = g.slot[--g.n];
    }
    if (!have || !g.n) {
        uint32_t holders = have ? g.holders : 0; /* connections pinned there stay */
        uint32_t dormant = have ? g.dormant : 0;
        memset(&g, 0, sizeof g);
        g.excl = (uint8_t)excl;
        g.holders = holders;
        g.dormant = dormant;
    } else if (excl || g.excl) {
        return -EADDRINUSE;
    } else if (g.n >= MTP_XDP_GROUP_MAX) {
        report("%s: port %u: %d stacks listen on it already (the most one port takes)",
               t->ifname, port, MTP_XDP_GROUP_MAX);
        return -EADDRINUSE;
    }
    g.slot[g.n++] = (uint8_t)t->slot;
    if (bpf_map_update_elem(h->ports_fd, &key, &g, BPF_ANY) < 0)
        return -errno;
    return g.n > 1;
}

static void group_leave(struct mtp_target *t, uint16_t port)
{
    mtp_xdp_port_key key = port;
    struct mtp_xdp_group g;
    if (bpf_map_lookup_elem(t->hook->ports_fd, &key, &g) < 0 || !group_del_slot(&g, t->slot))
        return;
    group_store(t->hook, key, &g);
}

static int port_claim_mode(struct mtp_target *t, uint8_t ip_proto, uint16_t port, int excl)
{
    if (!port)
        return -EINVAL;
    if (port_is_claimed(t, port))
        return -EADDRINUSE;
    int err = group_lock(t->lock_fd);
    if (err)
        return err;
    int shared = group_add(t, port, excl);
    if (shared < 0) {
        group_unlock(t->lock_fd);
        return shared;
    }
    struct port_hold *ph = &t->hook->ports[port];
    if (!ph->refs) {
        int fd = placeholder_open(ip_proto, port);
        /* the other members' placeholders hold it, or a listener of this process does */
        if (fd == -EADDRINUSE && !excl && (shared || own_listener_on(port)))
            fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            err = fd == -1 ? -errno : fd;
            group_leave(t, port);
            group_unlock(t->lock_fd);
            return err;
        }
        ph->fd = fd;
    }
    ph->refs++;
    t->claimed[port / 64] |= 1ull << (port % 64);
    group_unlock(t->lock_fd);
    return 0;
}

static int xdp_port_claim(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    return port_claim_mode(t, ip_proto, port, 0);
}

static int xdp_port_claim_excl(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    return port_claim_mode(t, ip_proto, port, 1);
}

/* Lock held. */
static void port_release_locked(struct mtp_target *t, uint16_t port)
{
    if (!port_is_claimed(t, port))
        return;
    t->claimed[port / 64] &= ~(1ull << (port % 64));
    group_leave(t, port);
    struct port_hold *ph = &t->hook->ports[port];
    if (--ph->refs)
        return;
    close(ph->fd);
    ph->fd = -1;
}

static void xdp_port_release(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    (void)ip_proto;
    if (!port_is_claimed(t, port) || group_lock(t->lock_fd) < 0)
        return;
    port_release_locked(t, port);
    group_unlock(t->lock_fd);
}

/* ---- connections pinned to this member */

static int xdp_flow_claim(struct mtp_target *t, uint8_t ip_proto, uint16_t local_port,
                          uint32_t remote_ip, uint16_t remote_port)
{
    (void)ip_proto;
    struct mtp_xdp_flow f = {.remote_ip = remote_ip, .remote_port = remote_port,
                             .local_port = local_port};
    struct mtp_xdp_pin pin = {.slot = t->slot, .gen = t->gen, .claimed = 1};
    return bpf_map_update_elem(t->hook->flows_fd, &f, &pin, BPF_ANY) < 0 ? -errno : 0;
}

static void xdp_flow_release(struct mtp_target *t, uint8_t ip_proto, uint16_t local_port,
                             uint32_t remote_ip, uint16_t remote_port)
{
    (void)ip_proto;
    struct mtp_xdp_flow f = {.remote_ip = remote_ip, .remote_port = remote_port,
                             .local_port = local_port};
    struct mtp_xdp_pin pin;
    if (bpf_map_lookup_elem(t->hook->flows_fd, &f, &pin) == 0 && pin.slot == t->slot &&
        pin.gen == t->gen)
        bpf_map_delete_elem(t->hook->flows_fd, &f);
}

/* ---- ports held for pinned connections only (a forked child's inherited connections), and
 * ports whose listener here is dormant (a forked parent's, its kernel socket listening) */

enum group_mask { MASK_HOLDERS, MASK_DORMANT };

/* Sets (on) or clears this member's bit in one of the masks of the port's entry. */
static int group_mark(struct mtp_target *t, uint16_t port, enum group_mask which, int on)
{
    if (!port)
        return -EINVAL;
    int err = group_lock(t->lock_fd);
    if (err)
        return err;
    mtp_xdp_port_key key = port;
    struct mtp_xdp_group g;
    memset(&g, 0, sizeof g);
    int have = bpf_map_lookup_elem(t->hook->ports_fd, &key, &g) == 0;
    uint32_t *mask = which == MASK_HOLDERS ? &g.holders : &g.dormant;
    uint32_t bit = 1u << t->slot;
    if (on) {
        *mask |= bit;
        err = bpf_map_update_elem(t->hook->ports_fd, &key, &g, BPF_ANY) < 0 ? -errno : 0;
    } else if (have && (*mask & bit)) {
        *mask &= ~bit;
        group_store(t->hook, key, &g);
    }
    group_unlock(t->lock_fd);
    return err;
}

static int xdp_port_hold(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    (void)ip_proto;
    return group_mark(t, port, MASK_HOLDERS, 1);
}

static void xdp_port_unhold(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    (void)ip_proto;
    group_mark(t, port, MASK_HOLDERS, 0);
}

static int xdp_port_dormant(struct mtp_target *t, uint8_t ip_proto, uint16_t port, int on)
{
    (void)ip_proto;
    return group_mark(t, port, MASK_DORMANT, on);
}

/* The other members in the port's group, by process id (a snapshot: no lock). */
static int xdp_port_members(struct mtp_target *t, uint8_t ip_proto, uint16_t port,
                            uint32_t *pids, int max)
{
    (void)ip_proto;
    mtp_xdp_port_key key = port;
    struct mtp_xdp_group g;
    if (bpf_map_lookup_elem(t->hook->ports_fd, &key, &g) < 0)
        return 0;
    int n = 0;
    for (int i = 0; i < g.n && i < MTP_XDP_GROUP_MAX && n < max; i++) {
        uint32_t slot = g.slot[i];
        struct mtp_xdp_member m;
        if (slot != t->slot && bpf_map_lookup_elem(t->hook->members_fd, &slot, &m) == 0 &&
            m.gen && m.pid)
            pids[n++] = m.pid;
    }
    return n;
}

/* ------------------------------------------------------------------ rtnetlink */

static int rtnl_open(struct mtp_target *t)
{
    if (t->rtnl_fd >= 0)
        return 0;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    t->rtnl_fd = fd;
    return 0;
}

static void rta_add(struct nlmsghdr *n, int type, const void *data, int len)
{
    struct rtattr *rta = (struct rtattr *)((char *)n + NLMSG_ALIGN(n->nlmsg_len));
    rta->rta_type = (unsigned short)type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, (size_t)len);
    n->nlmsg_len = NLMSG_ALIGN(n->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends one request and hands every answer message to `fn` until the kernel is done.
 * `fn` returns 1 when it found what it wanted. Returns fn's last verdict or -errno. */
typedef int (*rtnl_fn)(const struct nlmsghdr *m, void *arg);

static int rtnl_talk(struct mtp_target *t, struct nlmsghdr *req, rtnl_fn fn, void *arg)
{
    int err = rtnl_open(t);
    if (err)
        return err;
    req->nlmsg_seq = ++t->rtnl_seq;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(t->rtnl_fd, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel,
               sizeof(kernel)) < 0)
        return -errno;
    int found = 0;
    char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
    for (;;) {
        ssize_t len = recv(t->rtnl_fd, buf, sizeof(buf), 0);
        if (len < 0)
            return -errno;
        for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (size_t)len);
             m = NLMSG_NEXT(m, len)) {
            if (m->nlmsg_seq != t->rtnl_seq)
                continue;
            if (m->nlmsg_type == NLMSG_DONE)
                return found;
            if (m->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(m);
                return e->error ? e->error : found;
            }
            if (!found && fn)
                found = fn(m, arg);
            if (!(m->nlmsg_flags & NLM_F_MULTI))
                return found;
        }
    }
}

struct route_ans {
    int ifindex;
    uint32_t gateway; /* network order */
    int want_default;
};

static int route_parse(const struct nlmsghdr *m, void *arg)
{
    struct route_ans *a = arg;
    if (m->nlmsg_type != RTM_NEWROUTE)
        return 0;
    const struct rtmsg *r = NLMSG_DATA(m);
    if (a->want_default && (r->rtm_dst_len != 0 || r->rtm_table != RT_TABLE_MAIN))
        return 0;
    int len = (int)RTM_PAYLOAD(m), oif = 0;
    uint32_t gw = 0;
    for (const struct rtattr *rta = RTM_RTA(r); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == RTA_OIF)
            memcpy(&oif, RTA_DATA(rta), sizeof(oif));
        else if (rta->rta_type == RTA_GATEWAY)
            memcpy(&gw, RTA_DATA(rta), sizeof(gw));
    }
    if (a->want_default && oif != a->ifindex)
        return 0;
    a->ifindex = oif;
    a->gateway = gw;
    return 1;
}

/* Next hop for `dst` (network order): the gateway of its route, or dst itself if on-link. */
static int route_next_hop(struct mtp_target *t, uint32_t dst, uint32_t *hop)
{
    struct {
        struct nlmsghdr n;
        struct rtmsg r;
        char attrs[64];
    } req = {
        .n = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = RTM_GETROUTE,
              .nlmsg_flags = NLM_F_REQUEST},
        .r = {.rtm_family = AF_INET, .rtm_dst_len = 32},
    };
    rta_add(&req.n, RTA_DST, &dst, 4);
    struct route_ans a = {0};
    int err = rtnl_talk(t, &req.n, route_parse, &a);
    if (err < 0)
        return err;
    if (err == 0)
        return -EHOSTUNREACH;
    if (a.ifindex != t->ifindex)
        return -ENETUNREACH; /* the kernel routes it out of another interface (or locally) */
    *hop = a.gateway ? a.gateway : dst;
    return 0;
}

struct neigh_ans {
    int ifindex;
    uint32_t ip; /* network order */
    uint16_t state;
    uint8_t mac[6];
    int has_mac;
};

static int neigh_parse(const struct nlmsghdr *m, void *arg)
{
    struct neigh_ans *a = arg;
    if (m->nlmsg_type != RTM_NEWNEIGH)
        return 0;
    const struct ndmsg *nd = NLMSG_DATA(m);
    if (nd->ndm_family != AF_INET || nd->ndm_ifindex != a->ifindex)
        return 0;
    int len = (int)(m->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
    uint32_t dst = 0;
    int has_mac = 0;
    uint8_t mac[6];
    for (const struct rtattr *rta = (const struct rtattr *)((const char *)nd +
                                                            NLMSG_ALIGN(sizeof(*nd)));
         RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == 4)
            memcpy(&dst, RTA_DATA(rta), 4);
        else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6) {
            memcpy(mac, RTA_DATA(rta), 6);
            has_mac = 1;
        }
    }
    if (dst != a->ip)
        return 0;
    a->state = nd->ndm_state;
    a->has_mac = has_mac;
    if (has_mac)
        memcpy(a->mac, mac, 6);
    return 1;
}

/* Asks the kernel to resolve `ip` (RTM_NEWNEIGH with NTF_USE: "send ARP as if traffic
 * needed it"); falls back to a zero-length UDP datagram to the discard port. */
static void neigh_trigger(struct mtp_target *t, uint32_t ip)
{
    struct {
        struct nlmsghdr n;
        struct ndmsg nd;
        char attrs[32];
    } req = {
        .n = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)), .nlmsg_type = RTM_NEWNEIGH,
              .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE},
        .nd = {.ndm_family = AF_INET, .ndm_ifindex = t->ifindex, .ndm_state = NUD_NONE,
               .ndm_flags = NTF_USE},
    };
    rta_add(&req.n, NDA_DST, &ip, 4);
    if (rtnl_talk(t, &req.n, NULL, NULL) >= 0)
        return;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, t->ifname, (socklen_t)strlen(t->ifname));
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = ip};
    (void)sendto(fd, "", 0, MSG_DONTWAIT, (struct sockaddr *)&sin, sizeof(sin));
    close(fd);
}

static int xdp_neigh_lookup(struct mtp_target *t, uint32_t ipv4, uint8_t mac_out[6])
{
    uint32_t hop;
    int err = route_next_hop(t, htonl(ipv4), &hop);
    if (err < 0)
        return err;
    if (t->kind == MTP_LINK_LOOPBACK) { /* no neighbours: every frame comes back to lo */
        memcpy(mac_out, t->mac, 6);
        return 0;
    }
    struct {
        struct nlmsghdr n;
        struct ndmsg nd;
        char attrs[32];
    } req = {
        .n = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)), .nlmsg_type = RTM_GETNEIGH,
              .nlmsg_flags = NLM_F_REQUEST},
        .nd = {.ndm_family = AF_INET, .ndm_ifindex = t->ifindex},
    };
    rta_add(&req.n, NDA_DST, &hop, 4);
    struct neigh_ans a = {.ifindex = t->ifindex, .ip = hop};
    err = rtnl_talk(t, &req.n, neigh_parse, &a);
    if (err < 0 && err != -ENOENT)
        return err;
    const uint16_t usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT |
                            NUD_NOARP;
    if (err > 0 && a.has_mac && (a.state & usable)) {
        memcpy(mac_out, a.mac, 6);
        if (a.state & NUD_STALE)
            neigh_trigger(t, hop); /* refresh, as the kernel would on use */
        return 0;
    }
    if (err <= 0 || !(a.state & NUD_INCOMPLETE))
        neigh_trigger(t, hop);
    return -EAGAIN;
}

/* ------------------------------------------------------------------ link */

/* /sys/class/net/IF/speed in Mbit/s (a veth says 10000); 0 where the kernel does not know
 * it (it answers -1, or EINVAL for a device that is down or has no speed). */
static uint32_t iface_speed_mbps(const char *ifname)
{
    char path[64 + IF_NAMESIZE], buf[32];
    snprintf(path, sizeof path, "/sys/class/net/%s/speed", ifname);
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    long v = fgets(buf, sizeof buf, f) ? strtol(buf, NULL, 10) : 0;
    fclose(f);
    return v > 0 && v <= 100000000 ? (uint32_t)v : 0;
}

static int xdp_link_info(struct mtp_target *t, struct mtp_link_info *out)
{
    memset(out, 0, sizeof(*out));
    out->ifindex = t->ifindex;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->ifname);
    int err = 0;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
        err = -errno;
    else
        memcpy(out->mac, ifr.ifr_hwaddr.sa_data, 6);
    memcpy(t->mac, out->mac, 6);
    if (!err && ioctl(fd, SIOCGIFMTU, &ifr) < 0)
        err = -errno;
    else if (!err)
        out->mtu = (uint32_t)ifr.ifr_mtu;
    close(fd);
    if (err)
        return err;
    if (out->mtu > FRAME_SIZE - 14 - 256)
        out->mtu = FRAME_SIZE - 14 - 256; /* a frame must fit in one UMEM chunk */
    out->speed_mbps = iface_speed_mbps(t->ifname);

    struct ifaddrs *ifa_list;
    if (getifaddrs(&ifa_list) < 0)
        return -errno;
    for (struct ifaddrs *ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET ||
            strcmp(ifa->ifa_name, t->ifname) != 0)
            continue;
        out->ipv4 = ntohl(((struct sockaddr_in *)ifa->ifa_addr)->sin_addr.s_addr);
        uint32_t mask = ifa->ifa_netmask
                            ? ntohl(((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr.s_addr)
                            : 0;
        out->prefix_len = (uint32_t)__builtin_popcount(mask);
        break;
    }
    freeifaddrs(ifa_list);

    /* default route through this interface, if any */
    struct {
        struct nlmsghdr n;
        struct rtmsg r;
    } req = {
        .n = {.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)), .nlmsg_type = RTM_GETROUTE,
              .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
        .r = {.rtm_family = AF_INET},
    };
    struct route_ans a = {.ifindex = t->ifindex, .want_default = 1};
    if (rtnl_talk(t, &req.n, route_parse, &a) > 0)
        out->gateway = ntohl(a.gateway);
    out->offload_caps = 0;
    out->owns_arp = 0; /* the kernel keeps answering ARP and ICMP on this interface */
    out->kind = (uint8_t)t->kind;
    return 0;
}

/* ------------------------------------------------------------------ extras (mtp_xdp.h) */

int mtp_xdp_stats_read(struct mtp_target *t, struct mtp_xdp_stats *out)
{
    memset(out, 0, sizeof(*out));
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        return -EINVAL;
    uint64_t *vals = calloc((size_t)ncpu, sizeof(uint64_t));
    if (!vals)
        return -ENOMEM;
    for (uint32_t k = 0; k < MTP_XDP_STAT_COUNT; k++) {
        if (bpf_map_lookup_elem(t->hook->stats_fd, &k, vals) < 0) {
            int err = -errno;
            free(vals);
            return err;
        }
        for (int c = 0; c < ncpu; c++)
            out->v[k] += vals[c];
    }
    free(vals);
    return 0;
}

const char *mtp_xdp_stat_name(enum mtp_xdp_stat s)
{
    static const char *const names[MTP_XDP_STAT_COUNT] = {
        [MTP_XDP_STAT_REDIRECTED] = "redirected", [MTP_XDP_STAT_MALFORMED] = "malformed",
        [MTP_XDP_STAT_NO_SOCKET] = "no_socket",   [MTP_XDP_STAT_FRAGMENT] = "fragment",
        [MTP_XDP_STAT_PASSED] = "passed",         [MTP_XDP_STAT_RING] = "ring",
        [MTP_XDP_STAT_RING_FULL] = "ring_full",   [MTP_XDP_STAT_ICMP] = "icmp_error",
        [MTP_XDP_STAT_KERNEL_PIN] = "kernel_pin",
    };
    return (unsigned)s < MTP_XDP_STAT_COUNT ? names[s] : "?";
}

const char *mtp_xdp_mode(struct mtp_target *t)
{
    return t->hook->mode;
}

static int xdp_describe(struct mtp_target *t, char *buf, size_t cap)
{
    static const char *const kinds[] = { "wire", "veth", "loopback", "tap", "memif" };
    return snprintf(buf, cap, "xdp on %s (%s) queue %u, hook in %s mode%s, member %u (%s)",
                    t->ifname, (unsigned)t->kind < 5 ? kinds[t->kind] : "?", t->queue,
                    t->hook->mode, t->sg ? ", multi-buffer" : "", t->slot,
                    t->mkind == MTP_XDP_MEMBER_RING ? "ring buffer: the queue's AF_XDP socket "
                                                      "is another process's"
                    : t->mkind & MTP_XDP_MEMBER_RING ? "AF_XDP socket, ring buffer for the "
                                                       "other queues"
                                                     : "AF_XDP socket");
}

/* The hook's counters, then the socket's (XDP_STATISTICS): packets the kernel could not
 * hand over (no fill-ring frame, rx ring full, too long without multi-buffer) are counted
 * there, and reassembled packets longer than BIG_BYTES here (rx_too_big). */
static int xdp_stats(struct mtp_target *t, struct mtp_target_stat *out, int max)
{
    struct mtp_xdp_stats xs;
    if (mtp_xdp_stats_read(t, &xs) < 0)
        return 0;
    int n = 0;
    for (int i = 0; i < MTP_XDP_STAT_COUNT && n < max; i++, n++)
        out[n] = (struct mtp_target_stat){mtp_xdp_stat_name((enum mtp_xdp_stat)i), xs.v[i]};
    struct xdp_statistics ks;
    socklen_t len = sizeof ks;
    memset(&ks, 0, sizeof ks);
    if (!t->xsk || getsockopt(xsk_socket__fd(t->xsk), SOL_XDP, XDP_STATISTICS, &ks, &len) < 0)
        memset(&ks, 0, sizeof ks);
    const struct mtp_target_stat more[] = {
        {"sock_rx_dropped", ks.rx_dropped}, {"sock_rx_ring_full", ks.rx_ring_full},
        {"sock_fill_empty", ks.rx_fill_ring_empty_descs}, {"rx_too_big", t->rx_too_big},
        {"ring_dropped", t->ring_dropped}, {"fill_level", t->fill_level},
    };
    for (size_t i = 0; i < sizeof more / sizeof more[0] && n < max; i++)
        out[n++] = more[i];
    return n;
}

const struct mtp_target_ops mtp_target_xdp = {
    .name = "xdp",
    .args_env = "MTP_XDP_OBJ",
    .open = xdp_open,
    .close = xdp_close,
    .link_info = xdp_link_info,
    .rx_burst = xdp_rx_burst,
    .rx_release = xdp_rx_release,
    .tx_alloc = xdp_tx_alloc,
    .tx_burst = xdp_tx_burst,
    .tx_hold = xdp_tx_hold,
    .wake_fd = xdp_wake_fd,
    .port_claim = xdp_port_claim,
    .port_release = xdp_port_release,
    .port_claim_excl = xdp_port_claim_excl,
    .flow_claim = xdp_flow_claim,
    .flow_release = xdp_flow_release,
    .port_hold = xdp_port_hold,
    .port_unhold = xdp_port_unhold,
    .port_dormant = xdp_port_dormant,
    .port_members = xdp_port_members,
    .abandon = xdp_abandon,
    .neigh_lookup = xdp_neigh_lookup,
    .describe = xdp_describe,
    .stats = xdp_stats,
};
