/*
 * sim.c — the simulated wire (see sim.h): endpoints, virtual clock, seeded faults.
 *
 * Each receiver has a min-heap of frames in flight ordered by (delivery time, sequence
 * number); the sequence number breaks ties so the order never depends on heap internals.
 * All randomness comes from one splitmix64 generator per wire, drawn in a fixed order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "mtp/net.h"
#include "sim.h"

#define SIM_MAX_EPS 16
#define PPM 1000000u
#define SIM_LEVELS 8

struct sim_frame {
    uint64_t at, seq;           /* at: delivery time (at the port: arrival there) */
    struct sim_frame *next;     /* in a port queue */
    uint32_t len;
    uint8_t bytes[];
};

/* The switch port in front of a receiver (port_rate_bytes_per_sec > 0). */
struct sim_port {
    struct sim_frame *head[SIM_LEVELS], *tail[SIM_LEVELS];
    uint32_t queued;
    uint64_t free_at;           /* end of the frame on the port's wire */
};

/* A tx buffer handed out by tx_alloc; listed so close can reclaim those never sent. */
struct sim_txbuf {
    struct sim_txbuf *prev, *next;
    uint8_t data[];
};

struct mtp_target {
    struct mtp_sim_wire *wire;
    struct sim_txbuf tx_out;    /* list head of outstanding tx buffers */
    int index;
    uint8_t mac[6];
    uint32_t ipv4, prefix_len;
    uint64_t tx_free_at;        /* end of the sender's serialisation */
    struct sim_frame **heap;    /* frames in flight to this endpoint */
    uint32_t n, cap;
    struct sim_port port;
};

struct mtp_sim_wire {
    char name[64];
    struct mtp_sim_config cfg;
    uint64_t now, rng, seq, trace;
    struct mtp_sim_stats stats;
    struct mtp_target *eps[SIM_MAX_EPS];
    struct mtp_sim_wire *next;  /* registry of named wires */
};

static struct mtp_sim_wire *registry;

/* ------------------------------------------------------------- helpers */

static uint64_t rng_next(struct mtp_sim_wire *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rng_chance(struct mtp_sim_wire *w, uint32_t ppm)
{
    /* Always draw, so a fault's probability does not shift the others' random stream. */
    uint64_t r = rng_next(w) % PPM;
    return r < ppm;
}

static uint64_t rng_below(struct mtp_sim_wire *w, uint64_t n) /* [0, n] */
{
    uint64_t r = rng_next(w);
    return n ? r % (n + 1) : 0;
}

static void trace_add(struct mtp_sim_wire *w, const void *data, size_t len)
{
    const uint8_t *p = data; /* FNV-1a, 64 bit */
    for (size_t i = 0; i < len; i++)
        w->trace = (w->trace ^ p[i]) * 0x100000001b3ull;
}

static int frame_before(const struct sim_frame *a, const struct sim_frame *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static int heap_push(struct mtp_target *ep, struct sim_frame *f)
{
    if (ep->n == ep->cap) {
        uint32_t cap = ep->cap ? ep->cap * 2 : 64;
        struct sim_frame **h = realloc(ep->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        ep->heap = h;
        ep->cap = cap;
    }
    uint32_t i = ep->n++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!frame_before(f, ep->heap[parent]))
            break;
        ep->heap[i] = ep->heap[parent];
        i = parent;
    }
    ep->heap[i] = f;
    return 0;
}

static struct sim_frame *heap_pop(struct mtp_target *ep)
{
    struct sim_frame *top = ep->heap[0], *last = ep->heap[--ep->n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= ep->n)
            break;
        if (c + 1 < ep->n && frame_before(ep->heap[c + 1], ep->heap[c]))
            c++;
        if (!frame_before(ep->heap[c], last))
            break;
        ep->heap[i] = ep->heap[c];
        i = c;
    }
    if (ep->n)
        ep->heap[i] = last;
    return top;
}

/* ------------------------------------------------------------- the switch port */

static int frame_level(const struct mtp_sim_wire *w, const struct sim_frame *f)
{
    if (!w->cfg.prio_queues || f->len < MTP_ETH_HDR_LEN + MTP_IP4_MIN_LEN ||
        mtp_get16(f->bytes + 12) != MTP_ETHERTYPE_IPV4)
        return 0;
    return f->bytes[MTP_ETH_HDR_LEN + 1] >> 5;
}

/* Queued in arrival order inside its level (jitter can make arrivals out of send order). */
static void port_enqueue(struct mtp_sim_wire *w, struct mtp_target *ep, struct sim_frame *f)
{
    struct sim_port *p = &ep->port;
    int l = frame_level(w, f);
    f->next = NULL;
    struct sim_frame **at = &p->head[l];
    while (*at && !frame_before(f, *at))
        at = &(*at)->next;
    f->next = *at;
    *at = f;
    if (!f->next)
        p->tail[l] = f;
    p->queued++;
}

static uint64_t port_first_arrival(const struct sim_port *p)
{
    uint64_t t = UINT64_MAX;
    for (int l = 0; l < SIM_LEVELS; l++)
        if (p->head[l] && p->head[l]->at < t)
            t = p->head[l]->at;
    return t;
}

/* When the port starts its next frame, UINT64_MAX when it has none. */
static uint64_t port_next_start(const struct sim_port *p)
{
    uint64_t t = port_first_arrival(p);
    if (t == UINT64_MAX)
        return t;
    return p->free_at > t ? p->free_at : t;
}

/* Serves the port up to `now`: each frame that starts by then is decided for good (a frame
 * sent later reaches the port later), so it moves to the receiver's delivery heap. */
static void port_advance(struct mtp_sim_wire *w, struct mtp_target *ep, uint64_t now)
{
    struct sim_port *p = &ep->port;
    uint64_t start;
    while ((start = port_next_start(p)) <= now) {
        int best = -1;
        for (int l = SIM_LEVELS - 1; l >= 0 && best < 0; l--)
            if (p->head[l] && p->head[l]->at <= start)
                best = l;
        struct sim_frame *f = p->head[best];
        p->head[best] = f->next;
        if (!f->next)
            p->tail[best] = NULL;
        p->queued--;
        for (int l = 0; l < SIM_LEVELS; l++)
            if (p->head[l] && frame_before(p->head[l], f))
                w->stats.port_overtakes++;
        p->free_at = start + (uint64_t)f->len * 1000000000ull / w->cfg.port_rate_bytes_per_sec;
        f->at = p->free_at;
        f->next = NULL;
        if (heap_push(ep, f) != 0) {
            free(f);
            w->stats.queue_drops++;
        }
    }
}

static void ports_advance(struct mtp_sim_wire *w)
{
    for (int i = 0; i < SIM_MAX_EPS; i++)
        if (w->eps[i] && w->eps[i]->port.queued)
            port_advance(w, w->eps[i], w->now);
}

/* ------------------------------------------------------------- the wire */

struct mtp_sim_wire *mtp_sim_wire_new(const char *name, const struct mtp_sim_config *cfg)
{
    struct mtp_sim_wire *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cfg = *cfg;
    if (!w->cfg.mtu)
        w->cfg.mtu = 1500;
    w->rng = cfg->seed;
    w->trace = 0xcbf29ce484222325ull;
    if (name) {
        snprintf(w->name, sizeof w->name, "%s", name);
        w->next = registry;
        registry = w;
    }
    return w;
}

static void txbuf_unlink(struct sim_txbuf *b)
{
    b->prev->next = b->next;
    b->next->prev = b->prev;
}

static void ep_close(struct mtp_target *ep)
{
    while (ep->n)
        free(heap_pop(ep));
    for (int l = 0; l < SIM_LEVELS; l++)
        while (ep->port.head[l]) {
            struct sim_frame *f = ep->port.head[l];
            ep->port.head[l] = f->next;
            free(f);
        }
    while (ep->tx_out.next != &ep->tx_out) {
        struct sim_txbuf *b = ep->tx_out.next;
        txbuf_unlink(b);
        free(b);
    }
    free(ep->heap);
    ep->wire->eps[ep->index] = NULL;
    free(ep);
}

void mtp_sim_wire_free(struct mtp_sim_wire *w)
{
    if (!w)
        return;
    for (struct mtp_sim_wire **p = &registry; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    for (int i = 0; i < SIM_MAX_EPS; i++)
        if (w->eps[i])
            ep_close(w->eps[i]);
    free(w);
}

void mtp_sim_set_faults(struct mtp_sim_wire *w, const struct mtp_sim_config *cfg)
{
    uint32_t mtu = w->cfg.mtu;
    w->cfg = *cfg;
    w->cfg.mtu = mtu;
}

uint64_t mtp_sim_now(const struct mtp_sim_wire *w) { return w->now; }

void mtp_sim_set_now(struct mtp_sim_wire *w, uint64_t now_ns)
{
    if (now_ns > w->now)
        w->now = now_ns;
    ports_advance(w);
}

/* A port's next start counts as a delivery: the clock must stop there to decide it. */
uint64_t mtp_sim_next_delivery(const struct mtp_sim_wire *w)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < SIM_MAX_EPS; i++) {
        const struct mtp_target *ep = w->eps[i];
        if (ep && ep->n && ep->heap[0]->at < next)
            next = ep->heap[0]->at;
        if (ep && ep->port.queued && port_next_start(&ep->port) < next)
            next = port_next_start(&ep->port);
    }
    return next;
}

uint64_t mtp_sim_next_delivery_after(const struct mtp_sim_wire *w, uint64_t t)
{
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < SIM_MAX_EPS; i++) {
        const struct mtp_target *ep = w->eps[i];
        if (ep && ep->n && ep->heap[0]->at > t && ep->heap[0]->at < next)
            next = ep->heap[0]->at;
        uint64_t start = ep && ep->port.queued ? port_next_start(&ep->port) : UINT64_MAX;
        if (start > t && start < next)
            next = start;
    }
    return next;
}

uint64_t mtp_sim_trace_hash(const struct mtp_sim_wire *w) { return w->trace; }
const struct mtp_sim_stats *mtp_sim_stats(const struct mtp_sim_wire *w) { return &w->stats; }

int mtp_sim_attach(struct mtp_sim_wire *w, uint32_t ipv4, uint32_t prefix_len,
                   struct mtp_target **out)
{
    int idx = 0;
    while (idx < SIM_MAX_EPS && w->eps[idx])
        idx++;
    if (idx == SIM_MAX_EPS)
        return -ENOSPC;
    struct mtp_target *ep = calloc(1, sizeof *ep);
    if (!ep)
        return -ENOMEM;
    ep->wire = w;
    ep->tx_out.prev = ep->tx_out.next = &ep->tx_out;
    ep->index = idx;
    ep->mac[0] = 0x02; /* locally administered unicast */
    ep->mac[4] = (uint8_t)((idx + 1) >> 8);
    ep->mac[5] = (uint8_t)(idx + 1);
    ep->ipv4 = ipv4;
    ep->prefix_len = prefix_len ? prefix_len : 24;
    w->eps[idx] = ep;
    *out = ep;
    return 0;
}

/* ------------------------------------------------------ the target ops */

/* iface: the wire's name; args: "a.b.c.d[/len]". */
static int sim_open(struct mtp_target **out, const struct mtp_target_config *cfg)
{
    if (!cfg->iface || !cfg->args)
        return -EINVAL;
    struct mtp_sim_wire *w = registry;
    while (w && strcmp(w->name, cfg->iface) != 0)
        w = w->next;
    if (!w)
        return -ENODEV;
    char ip[32];
    const char *slash = strchr(cfg->args, '/');
    size_t iplen = slash ? (size_t)(slash - cfg->args) : strlen(cfg->args);
    if (iplen >= sizeof ip)
        return -EINVAL;
    memcpy(ip, cfg->args, iplen);
    ip[iplen] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, ip, &a) != 1)
        return -EINVAL;
    long prefix = 24;
    if (slash) {
        char *end;
        prefix = strtol(slash + 1, &end, 10);
        if (*end || prefix < 1 || prefix > 32)
            return -EINVAL;
    }
    return mtp_sim_attach(w, ntohl(a.s_addr), (uint32_t)prefix, out);
}

static void sim_close(struct mtp_target *t) { ep_close(t); }

static int sim_link_info(struct mtp_target *t, struct mtp_link_info *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->mac, t->mac, 6);
    out->mtu = t->wire->cfg.mtu;
    out->ipv4 = t->ipv4;
    out->prefix_len = t->prefix_len;
    out->ifindex = t->index + 1;
    out->offload_caps = t->wire->cfg.offload_caps & (MTP_OFFLOAD_IPV4_CSUM | MTP_OFFLOAD_L4_CSUM);
    out->owns_arp = 1;
    out->kind = t->wire->cfg.link_kind;
    out->speed_mbps = (uint32_t)(t->wire->cfg.rate_bytes_per_sec * 8 / 1000000); /* its NIC's */
    return 0;
}

static int sim_rx_burst(struct mtp_target *t, struct mtp_frame *f, int max)
{
    struct mtp_sim_wire *w = t->wire;
    int n = 0;
    if (t->port.queued)
        port_advance(w, t, w->now);
    while (n < max && t->n && t->heap[0]->at <= w->now) {
        struct sim_frame *sf = heap_pop(t);
        uint64_t rec[3] = { sf->at, (uint64_t)t->index, sf->len };
        trace_add(w, rec, sizeof rec);
        trace_add(w, sf->bytes, sf->len);
        w->stats.delivered++;
        f[n] = (struct mtp_frame){ .data = sf->bytes, .len = sf->len, .cap = sf->len,
                                   .handle = (uint64_t)(uintptr_t)sf };
        n++;
    }
    return n;
}

static void sim_rx_release(struct mtp_target *t, struct mtp_frame *f, int n)
{
    (void)t;
    for (int i = 0; i < n; i++)
        free((struct sim_frame *)(uintptr_t)f[i].handle);
}

static int sim_tx_alloc(struct mtp_target *t, struct mtp_frame *f, int n)
{
    uint32_t cap = MTP_ETH_HDR_LEN + t->wire->cfg.mtu;
    for (int i = 0; i < n; i++) {
        struct sim_txbuf *b = malloc(sizeof *b + cap);
        if (!b)
            return i;
        b->next = t->tx_out.next;
        b->prev = &t->tx_out;
        b->next->prev = b;
        t->tx_out.next = b;
        f[i] = (struct mtp_frame){ .data = b->data, .cap = cap,
                                   .handle = (uint64_t)(uintptr_t)b };
    }
    return n;
}

/* One copy of a frame towards `to`, through the faults. */
static void deliver(struct mtp_sim_wire *w, struct mtp_target *to, const uint8_t *data,
                    uint32_t len, uint64_t at)
{
    const struct mtp_sim_config *c = &w->cfg;
    int lose = rng_chance(w, c->loss_ppm);
    int dup = rng_chance(w, c->dup_ppm);
    for (int copy = 0; copy <= dup; copy++) {
        uint64_t when = at + rng_below(w, c->jitter_ns);
        int reorder = rng_chance(w, c->reorder_ppm);
        int corrupt = rng_chance(w, c->corrupt_ppm);
        uint64_t bit = rng_next(w);
        if (lose) {
            w->stats.lost++;
            return;
        }
        if (c->queue_limit && to->n + to->port.queued >= c->queue_limit) {
            w->stats.queue_drops++;
            continue;
        }
        struct sim_frame *sf = malloc(sizeof *sf + len);
        if (!sf) {
            w->stats.queue_drops++;
            continue;
        }
        if (reorder) {
            when += c->reorder_ns ? c->reorder_ns : 2 * (c->delay_ns + c->jitter_ns) + 1000000;
            w->stats.reordered++;
        }
        sf->at = when;
        sf->seq = w->seq++;
        sf->len = len;
        memcpy(sf->bytes, data, len);
        if (corrupt && len) {
            bit %= (uint64_t)len * 8;
            sf->bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            w->stats.corrupted++;
        }
        if (copy)
            w->stats.duplicated++;
        if (c->port_rate_bytes_per_sec) {
            port_enqueue(w, to, sf);
            continue;
        }
        if (heap_push(to, sf) != 0) {
            free(sf);
            w->stats.queue_drops++;
        }
    }
}

/* The "device" side of IPv4 header checksum offload. */
static void offload_ipv4_csum(struct mtp_frame *f)
{
    uint32_t l3 = f->l3_off;
    if (l3 + MTP_IP4_MIN_LEN > f->len)
        return;
    uint32_t hl = (f->data[l3] & 0xfu) * 4u;
    if (hl < MTP_IP4_MIN_LEN || l3 + hl > f->len)
        return;
    mtp_put16(f->data + l3 + MTP_IP4_CSUM, 0);
    mtp_put16(f->data + l3 + MTP_IP4_CSUM, mtp_csum(f->data + l3, hl));
}

/* The "device" side of L4 checksum offload: the field at csum_off holds the pseudo-header
 * sum; the checksum over the L4 bytes the IPv4 header counts completes it. */
static void offload_l4_csum(struct mtp_frame *f)
{
    uint32_t l3 = f->l3_off, l4 = f->l4_off;
    if (l3 + MTP_IP4_MIN_LEN > f->len || l4 < l3 + MTP_IP4_MIN_LEN || l4 > f->len)
        return;
    uint32_t l4_len = mtp_get16(f->data + l3 + MTP_IP4_TOTAL_LEN) - (l4 - l3);
    if (l4 + l4_len > f->len || (uint32_t)f->csum_off + 2 > l4_len)
        return;
    uint16_t sum = mtp_csum_fold(mtp_csum_add(0, f->data + l4, l4_len)); /* seed included */
    mtp_put16(f->data + l4 + f->csum_off, (uint16_t)~sum);
}

static int sim_tx_burst(struct mtp_target *t, struct mtp_frame *f, int n)
{
    struct mtp_sim_wire *w = t->wire;
    const struct mtp_sim_config *c = &w->cfg;
    for (int i = 0; i < n; i++) {
        if (f[i].offload & MTP_OFFLOAD_IPV4_CSUM & c->offload_caps)
            offload_ipv4_csum(&f[i]);
        if ((f[i].offload & MTP_OFFLOAD_L4_CSUM & c->offload_caps) && !c->l4_csum_partial)
            offload_l4_csum(&f[i]);
        const uint8_t *data = f[i].data;
        uint32_t len = f[i].len;
        w->stats.sent++;
        uint64_t start = t->tx_free_at > w->now ? t->tx_free_at : w->now;
        uint64_t ser = c->rate_bytes_per_sec ? (uint64_t)len * 1000000000ull /
                                                   c->rate_bytes_per_sec : 0;
        t->tx_free_at = start + ser;
        /* Runts are delivered too (a stack must survive them) if they name a receiver. */
        if (len >= 6) {
            for (int j = 0; j < SIM_MAX_EPS; j++) {
                struct mtp_target *to = w->eps[j];
                if (!to || to == t)
                    continue;
                if (mtp_eth_is_broadcast(data) || memcmp(data, to->mac, 6) == 0)
                    deliver(w, to, data, len, t->tx_free_at + c->delay_ns);
            }
        }
        struct sim_txbuf *b = (struct sim_txbuf *)(uintptr_t)f[i].handle;
        txbuf_unlink(b);
        free(b);
    }
    return n;
}

static int sim_wake_fd(struct mtp_target *t)
{
    (void)t;
    return -1;
}

const struct mtp_target_ops mtp_target_sim = {
    .name = "sim",
    .open = sim_open,
    .close = sim_close,
    .link_info = sim_link_info,
    .rx_burst = sim_rx_burst,
    .rx_release = sim_rx_release,
    .tx_alloc = sim_tx_alloc,
    .tx_burst = sim_tx_burst,
    .wake_fd = sim_wake_fd,
    .port_claim = NULL,   /* nothing to reserve on a simulated wire */
    .port_release = NULL,
    .neigh_lookup = NULL, /* the stack does its own ARP */
};
