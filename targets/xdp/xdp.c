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
#include <sys/stat.h>
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

#define FRAME_SIZE   XSK_UMEM__DEFAULT_FRAME_SIZE
#define NUM_FRAMES   8192u
#define RING_SIZE    2048u   /* fill, completion, rx and tx rings */
#define RX_RESERVE   RING_SIZE /* frames kept for the fill ring; tx draws from the rest */
#define KICK_BATCH   64u
#define RX_PEEK      256u    /* descriptors looked at per rx burst (multi-buffer packets) */
#define BIG_SLOTS    8u      /* multi-buffer packets reassembled per rx burst */
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
    uint32_t tx_in_flight;  /* submitted to the tx ring, completion not yet seen */
    uint8_t *big;           /* BIG_SLOTS reassembly buffers of BIG_BYTES (multi-buffer rx) */
    int sg;                 /* the socket takes multi-buffer packets (XDP_USE_SG) */
    uint64_t rx_too_big;    /* multi-buffer packets dropped: longer than BIG_BYTES, or no
                               memory for the reassembly buffers */

    uint64_t claimed[65536 / 64]; /* ports this queue's user claimed */
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
    struct bpf_object *obj;
    int link_fd;
    int xsks_fd, ports_fd, stats_fd;
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

static void hook_put(struct hook *h)
{
    if (!h || --h->refs > 0)
        return;
    if (h->link_fd >= 0)
        close(h->link_fd); /* detaches */
    free(h->ports);
    bpf_object__close(h->obj);
    memset(h, 0, sizeof(*h));
}

static int hook_get(struct hook **out, int ifindex, const char *ifname, const char *obj_path)
{
    struct hook *h = NULL;
    for (int i = 0; i < MAX_HOOKS; i++)
        if (hooks[i].refs && hooks[i].ifindex == ifindex) {
            if (strcmp(hooks[i].obj_path, obj_path) != 0) {
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
    if (!prog || map_fd(obj, "mtp_xsks") < 0 || map_fd(obj, "mtp_ports") < 0 ||
        map_fd(obj, "mtp_stats") < 0) {
        report("hook program %s: not an mtp XDP object (no %s or its maps)", obj_path,
               MTP_XDP_PROG_NAME);
        bpf_object__close(obj);
        return -EINVAL;
    }
    err = hook_clear_stale(ifindex, ifname);
    if (err < 0) {
        bpf_object__close(obj);
        return err;
    }
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
    struct port_hold *ports = calloc(65536, sizeof(*ports));
    if (!ports) {
        close(link);
        bpf_object__close(obj);
        return -ENOMEM;
    }
    *h = (struct hook){
        .ifindex = ifindex, .refs = 1, .obj = obj, .link_fd = link, .mode = mode, .ports = ports,
        .xsks_fd = map_fd(obj, "mtp_xsks"), .ports_fd = map_fd(obj, "mtp_ports"),
        .stats_fd = map_fd(obj, "mtp_stats"),
    };
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

/* Completed tx frames back to the free stack; a kick if the kernel still has tx work. */
static void tx_reap(struct mtp_target *t)
{
    comp_reap(t);
    if (t->tx_in_flight && !tx_ring_drained(t) && xsk_ring_prod__needs_wakeup(&t->tx))
        tx_kick(t);
}

/* Keeps the fill ring stocked from the free stack (frames come back through rx_release). */
static void fill_refill(struct mtp_target *t)
{
    uint32_t in_fill = RING_SIZE - xsk_prod_nb_free(&t->fill, RING_SIZE);
    uint32_t want = in_fill < RX_RESERVE ? RX_RESERVE - in_fill : 0;
    if (want > t->n_free)
        want = t->n_free;
    uint32_t idx;
    if (!want || xsk_ring_prod__reserve(&t->fill, want, &idx) != want)
        return;
    for (uint32_t i = 0; i < want; i++)
        *xsk_ring_prod__fill_addr(&t->fill, idx + i) = t->free_frames[--t->n_free];
    xsk_ring_prod__submit(&t->fill, want);
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
static void xdp_port_release(struct mtp_target *t, uint8_t ip_proto, uint16_t port);

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
    if (err) {
        t->xsk = NULL;
        if (err == -EINVAL)
            report("%s: cannot bind an AF_XDP socket to queue %u (does the queue exist? "
                   "`ethtool -l %s`)", t->ifname, t->queue, t->ifname);
        else if (err != -EPERM)
            report("%s: cannot create the AF_XDP socket: %s", t->ifname, strerror(-err));
        return perm_error(err, "creating the AF_XDP socket");
    }
    err = xsk_socket__update_xskmap(t->xsk, t->hook->xsks_fd);
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
    fill_refill(t);
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
    t->rtnl_fd = -1;
    t->queue = cfg->queue;
    t->ip_proto = cfg->ip_proto;
    int err = iface_lookup(cfg->iface, t->ifname, &t->ifindex);
    if (!err)
        t->kind = mtp__ifkind(t->ifname);
    if (!err && t->kind == MTP_LINK_LOOPBACK)
        err = loopback_setup(t->ifname);
    if (!err)
        err = hook_get(&t->hook, t->ifindex, t->ifname, obj_path);
    if (!err)
        err = xsk_setup(t);
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
    for (int p = 0; t->hook && p < 65536; p++)
        if (t->claimed[p / 64] >> (p % 64) & 1)
            xdp_port_release(t, (uint8_t)t->ip_proto, (uint16_t)p);
    if (t->xsk)
        xsk_socket__delete(t->xsk);
    if (t->umem)
        xsk_umem__delete(t->umem);
    if (t->umem_area)
        munmap(t->umem_area, (size_t)NUM_FRAMES * FRAME_SIZE);
    hook_put(t->hook);
    if (t->rtnl_fd >= 0)
        close(t->rtnl_fd);
    free(t->free_frames);
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

static int xdp_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
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

static void xdp_rx_release(struct mtp_target *t, struct mtp_frame *f, int n)
{
    for (int i = 0; i < n; i++)
        if (!(f[i].handle & BIG_HANDLE)) /* a reassembled packet's frames are free already */
            frames_push(t, f[i].handle);
    fill_refill(t);
}

static int xdp_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    if (t->tx_in_flight)
        tx_reap(t);
    /* Never take the frames the fill ring needs to keep receiving. */
    uint32_t in_fill = RING_SIZE - xsk_prod_nb_free(&t->fill, RING_SIZE);
    uint32_t owed = in_fill < RX_RESERVE ? RX_RESERVE - in_fill : 0;
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

static int xdp_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
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
        if (xsk_ring_prod__needs_wakeup(&t->tx))
            tx_kick(t);
    }
    for (int i = (int)sent; i < n; i++) /* ring full: dropped, the frames are ours again */
        frames_push(t, f[i].handle);
    return (int)sent;
}

static int xdp_wake_fd(struct mtp_target *t)
{
    return xsk_socket__fd(t->xsk);
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

static int xdp_port_claim(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    if (!port)
        return -EINVAL;
    if (port_is_claimed(t, port))
        return -EADDRINUSE;
    struct port_hold *ph = &t->hook->ports[port];
    if (!ph->refs) {
        int fd = placeholder_open(ip_proto, port);
        if (fd < 0)
            return fd;
        mtp_xdp_port_key key = port;
        uint8_t one = 1;
        if (bpf_map_update_elem(t->hook->ports_fd, &key, &one, BPF_ANY) < 0) {
            int err = -errno;
            close(fd);
            return err;
        }
        ph->fd = fd;
    }
    ph->refs++;
    t->claimed[port / 64] |= 1ull << (port % 64);
    return 0;
}

static void xdp_port_release(struct mtp_target *t, uint8_t ip_proto, uint16_t port)
{
    (void)ip_proto;
    if (!port_is_claimed(t, port))
        return;
    t->claimed[port / 64] &= ~(1ull << (port % 64));
    struct port_hold *ph = &t->hook->ports[port];
    if (--ph->refs)
        return;
    mtp_xdp_port_key key = port;
    bpf_map_delete_elem(t->hook->ports_fd, &key);
    close(ph->fd);
    ph->fd = -1;
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
        [MTP_XDP_STAT_PASSED] = "passed",
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
    return snprintf(buf, cap, "xdp on %s (%s) queue %u, hook in %s mode%s", t->ifname,
                    (unsigned)t->kind < 5 ? kinds[t->kind] : "?", t->queue, t->hook->mode,
                    t->sg ? ", multi-buffer" : "");
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
    if (getsockopt(xsk_socket__fd(t->xsk), SOL_XDP, XDP_STATISTICS, &ks, &len) < 0)
        memset(&ks, 0, sizeof ks);
    const struct mtp_target_stat more[] = {
        {"sock_rx_dropped", ks.rx_dropped}, {"sock_rx_ring_full", ks.rx_ring_full},
        {"sock_fill_empty", ks.rx_fill_ring_empty_descs}, {"rx_too_big", t->rx_too_big},
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
    .wake_fd = xdp_wake_fd,
    .port_claim = xdp_port_claim,
    .port_release = xdp_port_release,
    .neigh_lookup = xdp_neigh_lookup,
    .describe = xdp_describe,
    .stats = xdp_stats,
};
