/*
 * sock.c — the protocol-independent half of the socket layer: socket objects, lookup of a
 * socket by its context id and sub-id (for notifications), accept queues, deferred events,
 * and the public calls of sock.h, which forward to the protocol's shim (sock_protos.c lists
 * the shims).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sock_impl.h"

#define SOCK_BUCKETS 4096u
#define DEFERRED_MAX 4096u

struct mtp_socks {
    struct mtp_stack *stack;
    const struct mtp_sock_proto *proto;
    mtp_sock_wake_fn wake;
    void *wake_user;
    struct mtp_sock *table[SOCK_BUCKETS];
    struct mtp_sock_deferred *deferred;
    uint32_t n_deferred;
    uint32_t deferred_lost;     /* queue full: counted, never silent */
    bool flushing;
    uint64_t now_ns;            /* the clock of the current (or last) stack call */
    uint64_t shim_due;          /* when the shim's tick must run next (no earlier than
                                   needed: only setopt makes a shim's timer earlier) */
    /* Sockets using each local port: a listener's port stays claimed (steered to us) while
     * connections it accepted live, even after the listener closed. */
    uint32_t *port_users;
    /* Users of each local port's hold (mtp_stack_port_hold; lazily allocated): connections
     * held without a claim (mtp_sock_import_pinned), and a retired port (one for all of its
     * connections). The hold lasts while one of them does. */
    uint32_t *port_holds;
    /* Ports whose listener closed while connections on them live on (a bit per port; lazily
     * allocated): the stack left the port's group and holds the port for those connections
     * (port_retire) until the last one ends. */
    uint64_t *retired;
    void *proto_state;          /* the shim's (mtp__socks_state) */
};

/* ------------------------------------------------------------ key table */

/* Runs once per notification: the key is mixed 8 bytes at a time (multiply, then fold the
 * high half down so that every byte reaches the low bits the bucket index uses). */
static uint32_t key_hash(uint16_t ctx_type, const struct mtp_key *key, uint64_t sub)
{
    uint64_t h = (0x9e3779b97f4a7c15ull ^ ctx_type ^ sub) * 0xff51afd7ed558ccdull;
    size_t i = 0;
    for (; i + 8 <= sizeof key->b; i += 8) {
        uint64_t w;
        memcpy(&w, key->b + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    for (; i < sizeof key->b; i++)
        h = ((h ^ key->b[i]) * 0xff51afd7ed558ccdull) ^ (h >> 32);
    return (uint32_t)h % SOCK_BUCKETS;
}

struct mtp_sock *mtp__sock_find_sub(struct mtp_socks *ss, uint16_t ctx_type,
                                    const struct mtp_key *key, uint64_t sub)
{
    for (struct mtp_sock *sk = ss->table[key_hash(ctx_type, key, sub)]; sk; sk = sk->hnext)
        if (sk->ctx_type == ctx_type && sk->sub == sub && memcmp(&sk->key, key, sizeof *key) == 0)
            return sk;
    return NULL;
}

struct mtp_sock *mtp__sock_find(struct mtp_socks *ss, uint16_t ctx_type,
                                const struct mtp_key *key)
{
    return mtp__sock_find_sub(ss, ctx_type, key, 0);
}

static struct mtp_sock *sock_alloc(struct mtp_socks *ss, bool listener)
{
    struct mtp_sock *sk = calloc(1, sizeof *sk);
    if (!sk)
        return NULL;
    sk->ss = ss;
    sk->listener = listener;
    return sk;
}

void mtp__sock_link_sub(struct mtp_sock *sk, uint16_t ctx_type, const struct mtp_key *key,
                        uint64_t sub)
{
    mtp__sock_unlink(sk);
    sk->ctx_type = ctx_type;
    sk->key = *key;
    sk->sub = sub;
    uint32_t b = key_hash(ctx_type, key, sub);
    sk->hnext = sk->ss->table[b];
    sk->ss->table[b] = sk;
    sk->in_table = true;
}

void mtp__sock_link(struct mtp_sock *sk, uint16_t ctx_type, const struct mtp_key *key)
{
    mtp__sock_link_sub(sk, ctx_type, key, 0);
}

struct mtp_sock *mtp__sock_new_sub(struct mtp_socks *ss, uint16_t ctx_type,
                                   const struct mtp_key *key, uint64_t sub, bool listener)
{
    struct mtp_sock *sk = sock_alloc(ss, listener);
    if (sk)
        mtp__sock_link_sub(sk, ctx_type, key, sub);
    return sk;
}

struct mtp_sock *mtp__sock_new(struct mtp_socks *ss, uint16_t ctx_type,
                               const struct mtp_key *key, bool listener)
{
    return mtp__sock_new_sub(ss, ctx_type, key, 0, listener);
}

void mtp__sock_unlink(struct mtp_sock *sk)
{
    if (!sk->in_table)
        return;
    struct mtp_sock **pp = &sk->ss->table[key_hash(sk->ctx_type, &sk->key, sk->sub)];
    while (*pp && *pp != sk)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = sk->hnext;
    sk->in_table = false;
}

void mtp__sock_port_ref(struct mtp_sock *sk)
{
    sk->ss->port_users[sk->lport]++;
    sk->port_owned = true;
}

void mtp__socks_port_hold(struct mtp_socks *ss, uint16_t port) { ss->port_users[port]++; }

static bool port_retired(const struct mtp_socks *ss, uint16_t port)
{
    return ss->retired && (ss->retired[port / 64] >> (port % 64) & 1);
}

/* The target's hold on a port is one per stack: counted here for its users. */
static int port_hold_ref(struct mtp_socks *ss, uint16_t port)
{
    if (!ss->port_holds && !(ss->port_holds = calloc(65536, sizeof *ss->port_holds)))
        return -ENOMEM;
    if (ss->port_holds[port] == 0) {
        int r = mtp_stack_port_hold(ss->stack, port);
        if (r < 0)
            return r;
    }
    ss->port_holds[port]++;
    return 0;
}

static void port_hold_unref(struct mtp_socks *ss, uint16_t port)
{
    if (--ss->port_holds[port] == 0)
        mtp_stack_port_unhold(ss->stack, port);
}

/* Pins each live connection on `port` to this stack. 0, or -1 when one could not be. */
static int claim_flows(struct mtp_socks *ss, uint16_t port)
{
    uint32_t b = 0;
    for (struct mtp_sock *sk = mtp__sock_next(ss, NULL, &b); sk; sk = mtp__sock_next(ss, sk, &b)) {
        if (sk->listener || sk->lport != port || sk->gone || sk->flow_claimed ||
            (ss->proto->ops->lingering && ss->proto->ops->lingering(sk)))
            continue;
        if (mtp_stack_flow_claim(ss->stack, port, sk->rip, sk->rport) < 0)
            return -1;
        sk->flow_claimed = true;
    }
    return 0;
}

/* The last listener on `port` closed while connections on it live on. Where processes share
 * the port (the XDP target's port groups) the stack leaves the group, so that new connections
 * go to the others serving it (a closed SO_REUSEPORT socket's case, and nginx's old workers
 * after a reload), and holds the port for those connections, each pinned here until it ends.
 * Elsewhere, or when the hold or a pin fails, the port stays claimed as it was. */
static void port_retire(struct mtp_socks *ss, uint16_t port)
{
    if (!mtp_stack_port_groups(ss->stack))
        return;
    if (!ss->retired && !(ss->retired = calloc(65536 / 64, sizeof *ss->retired)))
        return;
    if (port_hold_ref(ss, port) < 0)
        return;
    if (claim_flows(ss, port) < 0) {
        port_hold_unref(ss, port); /* (pins made go with their connections) */
        return;
    }
    ss->retired[port / 64] |= 1ull << (port % 64);
    mtp_stack_port_release(ss->stack, port);
}

/* A retired port claimed again (a new listener) or without users: the hold goes. */
static void port_unretire(struct mtp_socks *ss, uint16_t port)
{
    ss->retired[port / 64] &= ~(1ull << (port % 64));
    port_hold_unref(ss, port);
}

void mtp__socks_port_drop(struct mtp_socks *ss, uint16_t port)
{
    if (!ss->port_users[port] || --ss->port_users[port])
        return;
    if (port_retired(ss, port))
        port_unretire(ss, port);
    else
        mtp_stack_port_release(ss->stack, port);
}

static void port_unhold(struct mtp_sock *sk)
{
    if (!sk->port_held)
        return;
    sk->port_held = false;
    port_hold_unref(sk->ss, sk->lport);
}

/* A pin outliving its connection would steer a later one from the same address and port
 * here, whether or not this stack listens. */
static void flow_unclaim(struct mtp_sock *sk)
{
    if (!sk->flow_claimed)
        return;
    sk->flow_claimed = false;
    mtp_stack_flow_release(sk->ss->stack, sk->lport, sk->rip, sk->rport);
}

void mtp__sock_lingers(struct mtp_sock *sk) { flow_unclaim(sk); }

static void port_unref(struct mtp_sock *sk)
{
    flow_unclaim(sk);
    port_unhold(sk);
    if (!sk->port_owned)
        return;
    sk->port_owned = false;
    if (sk->listener && sk->ss->port_users[sk->lport] > 1 && !port_retired(sk->ss, sk->lport))
        port_retire(sk->ss, sk->lport);
    mtp__socks_port_drop(sk->ss, sk->lport);
}

void mtp__sock_port_move(struct mtp_sock *sk, uint16_t port)
{
    port_unref(sk);
    sk->lport = port;
    mtp__sock_port_ref(sk);
}

void **mtp__socks_state(struct mtp_socks *ss) { return &ss->proto_state; }

void mtp__sock_free(struct mtp_sock *sk)
{
    if (sk->ss->proto->ops->release)
        sk->ss->proto->ops->release(sk);
    mtp__sock_unlink(sk);
    for (; sk->aq_len; sk->aq_len--) { /* connections nobody accepted */
        mtp__sock_free(sk->acceptq[sk->aq_head]);
        sk->aq_head = (sk->aq_head + 1) % sk->aq_cap;
    }
    port_unref(sk);
    free(sk->acceptq);
    free(sk);
}

struct mtp_sock *mtp__sock_next(struct mtp_socks *ss, struct mtp_sock *prev, uint32_t *bucket)
{
    if (prev && prev->hnext)
        return prev->hnext;
    for (uint32_t b = prev ? *bucket + 1 : 0; b < SOCK_BUCKETS; b++)
        if (ss->table[b]) {
            *bucket = b;
            return ss->table[b];
        }
    return NULL;
}

int mtp__sock_enqueue(struct mtp_sock *l, struct mtp_sock *sk)
{
    if (l->aq_len == l->aq_cap) {
        uint32_t cap = l->aq_cap ? l->aq_cap * 2 : 16;
        struct mtp_sock **q = malloc(cap * sizeof *q);
        if (!q)
            return -ENOMEM;
        for (uint32_t i = 0; i < l->aq_len; i++)
            q[i] = l->acceptq[(l->aq_head + i) % l->aq_cap];
        free(l->acceptq);
        l->acceptq = q;
        l->aq_cap = cap;
        l->aq_head = 0;
    }
    l->acceptq[(l->aq_head + l->aq_len++) % l->aq_cap] = sk;
    return 0;
}

void mtp__sock_wake(struct mtp_sock *sk)
{
    if (sk->ss->wake && !sk->released)
        sk->ss->wake(sk->ss->wake_user, sk);
}

/* ------------------------------------------------------------ events */

void mtp__sock_defer(struct mtp_socks *ss, uint16_t ev_type, uint16_t ctx_type,
                     const struct mtp_key *key, const void *ev, uint32_t len)
{
    if (ss->n_deferred == DEFERRED_MAX || len > MTP_EVENT_MAX_BYTES) {
        ss->deferred_lost++;
        return;
    }
    struct mtp_sock_deferred *d = &ss->deferred[ss->n_deferred++];
    d->ev_type = ev_type;
    d->ctx_type = ctx_type;
    d->key = *key;
    d->len = len;
    memcpy(d->ev, ev, len);
}

/* Posts the deferred events; those they cause in turn are posted too (bounded by the
 * queue: each round empties it). */
static void flush_deferred(struct mtp_socks *ss, uint64_t now_ns)
{
    if (ss->flushing)
        return;
    ss->flushing = true;
    for (int round = 0; round < 8 && ss->n_deferred; round++) {
        uint32_t n = ss->n_deferred;
        struct mtp_sock_deferred *batch = malloc(n * sizeof *batch);
        if (!batch)
            break;
        memcpy(batch, ss->deferred, n * sizeof *batch);
        ss->n_deferred = 0;
        for (uint32_t i = 0; i < n; i++)
            mtp_stack_post(ss->stack, batch[i].ev_type, &batch[i].key, batch[i].ev, batch[i].len,
                           now_ns);
        free(batch);
    }
    ss->flushing = false;
}

int mtp__sock_post(struct mtp_socks *ss, uint16_t ev_type, const struct mtp_key *key,
                   const void *ev, uint32_t len, uint64_t now_ns)
{
    ss->now_ns = now_ns;
    int rc = mtp_stack_post(ss->stack, ev_type, key, ev, len, now_ns);
    flush_deferred(ss, now_ns);
    return rc;
}

uint64_t mtp__sock_now(const struct mtp_socks *ss) { return ss->now_ns; }

static void on_note(void *user, const struct mtp_note *n)
{
    struct mtp_socks *ss = user;
    ss->proto->ops->note(ss, n);
}

/* ------------------------------------------------------------ the layer */

struct mtp_socks *mtp_socks_new(struct mtp_stack *stack, const struct mtp_sock_proto *p,
                                int *err)
{
    struct mtp_socks *ss = calloc(1, sizeof *ss);
    if (ss) {
        ss->deferred = calloc(DEFERRED_MAX, sizeof *ss->deferred);
        ss->port_users = calloc(65536, sizeof *ss->port_users);
    }
    if (!ss || !ss->deferred || !ss->port_users) {
        if (ss) {
            free(ss->deferred);
            free(ss->port_users);
        }
        free(ss);
        if (err)
            *err = -ENOMEM;
        return NULL;
    }
    ss->stack = stack;
    ss->proto = p;
    mtp_stack_set_notify(stack, on_note, ss);
    mtp_stack_park_ports(stack, p->port_reuse_ns);
    return ss;
}

void mtp_socks_free(struct mtp_socks *ss)
{
    if (!ss)
        return;
    mtp_stack_set_notify(ss->stack, NULL, NULL);
    for (uint32_t b = 0; b < SOCK_BUCKETS; b++)
        while (ss->table[b])
            mtp__sock_free(ss->table[b]);
    if (ss->proto->ops->layer_release)
        ss->proto->ops->layer_release(ss);
    free(ss->deferred);
    free(ss->port_users);
    free(ss->port_holds);
    free(ss->retired);
    free(ss);
}

void mtp_socks_exit(struct mtp_socks *ss, uint64_t now_ns)
{
    if (ss && ss->proto->ops->exit)
        ss->proto->ops->exit(ss, now_ns);
}

struct mtp_stack *mtp_socks_stack(const struct mtp_socks *ss) { return ss->stack; }

void mtp_socks_set_wake(struct mtp_socks *ss, mtp_sock_wake_fn fn, void *user)
{
    ss->wake = fn;
    ss->wake_user = user;
}

int mtp_socks_poll(struct mtp_socks *ss, uint64_t now_ns)
{
    ss->now_ns = now_ns;
    int n = mtp_stack_poll(ss->stack, now_ns);
    flush_deferred(ss, now_ns);
    if (ss->proto->ops->tick && now_ns >= ss->shim_due) {
        ss->proto->ops->tick(ss, now_ns);
        flush_deferred(ss, now_ns);
        ss->shim_due = ss->proto->ops->next_deadline(ss);
    }
    return n;
}

uint64_t mtp_socks_next_deadline(struct mtp_socks *ss)
{
    uint64_t t = mtp_stack_next_deadline(ss->stack);
    return ss->proto->ops->tick && ss->shim_due < t ? ss->shim_due : t;
}

/* ------------------------------------------------------------ sockets */

struct mtp_sock *mtp_sock_listen(struct mtp_socks *ss, uint16_t port, int backlog,
                                 uint64_t now_ns, int *err)
{
    int rc = -EINVAL;
    struct mtp_sock *sk = NULL;
    if (port == 0)
        goto fail;
    /* A port our connections still use (those of a closed listener, finishing) is ours
     * already: listening on it again is SO_REUSEADDR's case, and the shim refuses a second
     * listener. Unless it was retired: then it is claimed again (the group joined). */
    bool retired = port_retired(ss, port);
    rc = -ENOMEM;
    sk = sock_alloc(ss, true); /* the shim links it under its context id */
    if (!sk)
        goto fail;
    rc = ss->port_users[port] == 0 || retired ? mtp_stack_port_claim(ss->stack, port) : 0;
    if (rc < 0) {
        free(sk);
        goto fail;
    }
    if (retired)
        port_unretire(ss, port);
    sk->lip = mtp_stack_ipv4(ss->stack);
    sk->lport = port;
    mtp__sock_port_ref(sk);
    rc = ss->proto->ops->listen(sk, backlog, now_ns);
    if (rc < 0) {
        mtp__sock_free(sk);
        goto fail;
    }
    flush_deferred(ss, now_ns);
    return sk;
fail:
    if (err)
        *err = rc;
    return NULL;
}

int mtp_sock_accept(struct mtp_sock *l, struct mtp_sock **out, uint64_t now_ns)
{
    struct mtp_socks *ss = l->ss;
    flush_deferred(ss, now_ns);
    if (!l->listener)
        return -EINVAL;
    if (l->aq_len == 0)
        return -EAGAIN;
    struct mtp_sock *sk = l->acceptq[l->aq_head];
    l->aq_head = (l->aq_head + 1) % l->aq_cap;
    l->aq_len--;
    ss->proto->ops->accepted(l, sk, now_ns);
    flush_deferred(ss, now_ns);
    *out = sk;
    return 0;
}

struct mtp_sock *mtp_sock_connect(struct mtp_socks *ss, uint32_t ip, uint16_t port,
                                  uint64_t now_ns, int *err)
{
    int rc = -EINVAL;
    if (ip == 0 || port == 0)
        goto fail;
    rc = mtp_stack_port_claim(ss->stack, 0);
    if (rc <= 0)
        goto fail;
    struct mtp_sock *sk = sock_alloc(ss, false);
    if (!sk) {
        mtp_stack_port_release(ss->stack, (uint16_t)rc);
        rc = -ENOMEM;
        goto fail;
    }
    sk->lip = mtp_stack_ipv4(ss->stack);
    sk->lport = (uint16_t)rc;
    mtp__sock_port_ref(sk);
    sk->rip = ip;
    sk->rport = port;
    rc = ss->proto->ops->connect(sk, now_ns);
    if (rc < 0) {
        mtp__sock_free(sk);
        goto fail;
    }
    flush_deferred(ss, now_ns);
    return sk;
fail:
    if (err)
        *err = rc;
    return NULL;
}

ssize_t mtp_sock_send(struct mtp_sock *sk, const void *buf, size_t len, uint64_t now_ns)
{
    if (sk->listener)
        return -ENOTCONN;
    ssize_t n = sk->ss->proto->ops->send(sk, buf, len, now_ns);
    flush_deferred(sk->ss, now_ns);
    return n;
}

ssize_t mtp_sock_recv(struct mtp_sock *sk, void *buf, size_t len, uint64_t now_ns)
{
    if (sk->listener)
        return -ENOTCONN;
    ssize_t n = sk->ss->proto->ops->recv(sk, buf, len, now_ns);
    flush_deferred(sk->ss, now_ns);
    return n;
}

int mtp_sock_shutdown_wr(struct mtp_sock *sk, uint64_t now_ns)
{
    if (sk->listener)
        return -ENOTCONN;
    int rc = sk->ss->proto->ops->shutdown_wr(sk, now_ns);
    flush_deferred(sk->ss, now_ns);
    return rc;
}

/* Releases the handle; the object lives on (hidden) until the protocol says the context is
 * gone, so late notifications still find it. */
static int release(struct mtp_sock *sk, int rc, uint64_t now_ns)
{
    struct mtp_socks *ss = sk->ss;
    sk->released = true;
    if (sk->gone || sk->listener || !sk->in_table)
        mtp__sock_free(sk);
    flush_deferred(ss, now_ns);
    return rc;
}

int mtp_sock_close(struct mtp_sock *sk, uint64_t now_ns)
{
    return release(sk, sk->ss->proto->ops->close(sk, now_ns), now_ns);
}

int mtp_sock_abort(struct mtp_sock *sk, uint64_t now_ns)
{
    return release(sk, sk->ss->proto->ops->abort(sk, now_ns), now_ns);
}

int mtp_sock_setopt(struct mtp_sock *sk, enum mtp_sock_opt opt, int value, uint64_t now_ns)
{
    int rc = sk->ss->proto->ops->setopt(sk, opt, value, now_ns);
    flush_deferred(sk->ss, now_ns);
    sk->ss->shim_due = 0; /* a shim timer may be due sooner: the next poll asks again */
    return rc;
}

unsigned mtp_sock_poll(const struct mtp_sock *csk)
{
    struct mtp_sock *sk = (struct mtp_sock *)csk; /* the shim reads stack levels */
    if (sk->listener)
        return sk->aq_len ? MTP_SOCK_READABLE : 0;
    unsigned f = 0;
    if (sk->err)
        f |= MTP_SOCK_ERROR | MTP_SOCK_READABLE;
    if (sk->peer_closed)
        f |= MTP_SOCK_RDHUP;
    if (sk->gone || (sk->peer_closed && sk->wr_shut))
        f |= MTP_SOCK_HUP;
    if (sk->ss->proto->ops->readable(sk))
        f |= MTP_SOCK_READABLE;
    if (sk->ss->proto->ops->writable(sk))
        f |= MTP_SOCK_WRITABLE;
    return f;
}

int mtp_sock_error(struct mtp_sock *sk)
{
    int e = sk->err;
    sk->err = 0;
    return e;
}

int mtp_sock_is_listener(const struct mtp_sock *sk) { return sk->listener; }
int mtp_sock_connected(const struct mtp_sock *sk) { return sk->connected; }

void mtp_sock_local(const struct mtp_sock *sk, uint32_t *ip, uint16_t *port)
{
    if (ip)
        *ip = sk->lip;
    if (port)
        *port = sk->lport;
}

void mtp_sock_peer(const struct mtp_sock *sk, uint32_t *ip, uint16_t *port)
{
    if (ip)
        *ip = sk->rip;
    if (port)
        *port = sk->rport;
}

struct mtp_socks *mtp_sock_layer(const struct mtp_sock *sk) { return sk->ss; }

void mtp_sock_set_user(struct mtp_sock *sk, void *user) { sk->user = user; }
void *mtp_sock_user(const struct mtp_sock *sk) { return sk->user; }

int mtp_sock_info(struct mtp_sock *sk, struct mtp_sock_info *out)
{
    memset(out, 0, sizeof *out);
    return sk->ss->proto->ops->info(sk, out);
}

struct mtp_sock *mtp_socks_next(struct mtp_socks *ss, struct mtp_sock *prev, uint32_t *cursor)
{
    return mtp__sock_next(ss, prev, cursor);
}

int mtp_sock_released(const struct mtp_sock *sk) { return sk->released; }

int mtp_sock_listener_busy(struct mtp_sock *sk)
{
    const struct mtp_sock_ops *ops = sk->ss->proto->ops;
    if (!sk->listener)
        return 0;
    return sk->aq_len > 0 || (ops->listener_busy && ops->listener_busy(sk));
}

/* ------------------------------------------------------------ hand-off */

#define SOCK_IMG_MAGIC 0x4d545053u /* "MTPS" */

struct sock_img {
    uint32_t magic;
    uint16_t ctx_type;
    uint16_t lport, rport;
    uint8_t connected, peer_closed, wr_shut;
    uint8_t pad;
    uint32_t lip, rip;
    int32_t err;
    uint32_t pad2;
    struct mtp_key key;
    uint64_t ctx_len;          /* the context's image follows */
};

int mtp_sock_can_export(const struct mtp_sock *sk)
{
    return !sk->listener && !sk->gone && !sk->proto_state;
}

int mtp_sock_export(struct mtp_sock *sk, uint64_t now_ns, void **img, size_t *len)
{
    if (!mtp_sock_can_export(sk))
        return -EOPNOTSUPP;
    void *ctx;
    size_t clen;
    int rc = mtp_stack_ctx_export(sk->ss->stack, sk->ctx_type, &sk->key, now_ns, &ctx, &clen);
    if (rc < 0)
        return rc;
    struct sock_img h = {.magic = SOCK_IMG_MAGIC, .ctx_type = sk->ctx_type, .lport = sk->lport,
                         .rport = sk->rport, .connected = sk->connected,
                         .peer_closed = sk->peer_closed, .wr_shut = sk->wr_shut, .lip = sk->lip,
                         .rip = sk->rip, .err = sk->err, .key = sk->key, .ctx_len = clen};
    uint8_t *buf = malloc(sizeof h + clen);
    if (!buf) {
        free(ctx);
        return -ENOMEM;
    }
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, ctx, clen);
    free(ctx);
    *img = buf;
    *len = sizeof h + clen;
    return 0;
}

void mtp_sock_detach(struct mtp_sock *sk)
{
    mtp_stack_ctx_drop(sk->ss->stack, sk->ctx_type, &sk->key);
    mtp__sock_free(sk);
}

/* The local port of an imported connection: claimed (a user of the port like any other) or,
 * pinned, held without joining the port's group. 0 or a negative errno. */
static int import_port(struct mtp_socks *ss, uint16_t port, bool pinned, bool *took)
{
    *took = false;
    if (pinned) {
        int r = port_hold_ref(ss, port);
        *took = r == 0;
        return r;
    }
    if (ss->port_users[port])
        return 0;
    int r = mtp_stack_port_claim(ss->stack, port);
    *took = r >= 0;
    return r < 0 ? r : 0;
}

static void import_port_undo(struct mtp_socks *ss, uint16_t port, bool pinned)
{
    if (!pinned)
        mtp_stack_port_release(ss->stack, port);
    else
        port_hold_unref(ss, port);
}

static struct mtp_sock *import(struct mtp_socks *ss, const void *img, size_t len,
                               uint64_t now_ns, bool pinned, int *err)
{
    struct sock_img h;
    if (!img || len < sizeof h) {
        *err = -EBADMSG;
        return NULL;
    }
    memcpy(&h, img, sizeof h);
    if (h.magic != SOCK_IMG_MAGIC || h.ctx_len != len - sizeof h || !h.lport) {
        *err = -EBADMSG;
        return NULL;
    }
    bool took;
    int rc = import_port(ss, h.lport, pinned, &took);
    if (rc < 0) {
        *err = rc;
        return NULL;
    }
    rc = mtp_stack_ctx_import(ss->stack, (const uint8_t *)img + sizeof h, h.ctx_len, now_ns);
    struct mtp_sock *sk = rc < 0 ? NULL : mtp__sock_new(ss, h.ctx_type, &h.key, false);
    if (!sk) {
        if (rc >= 0)
            mtp_stack_ctx_drop(ss->stack, h.ctx_type, &h.key);
        if (took)
            import_port_undo(ss, h.lport, pinned);
        *err = rc < 0 ? rc : -ENOMEM;
        return NULL;
    }
    sk->lip = h.lip;
    sk->rip = h.rip;
    sk->lport = h.lport;
    sk->rport = h.rport;
    sk->connected = h.connected;
    sk->peer_closed = h.peer_closed;
    sk->wr_shut = h.wr_shut;
    sk->err = h.err;
    if (pinned)
        sk->port_held = sk->flow_claimed = true; /* (the caller pinned it) */
    else
        mtp__sock_port_ref(sk);
    return sk;
}

struct mtp_sock *mtp_sock_import(struct mtp_socks *ss, const void *img, size_t len,
                                 uint64_t now_ns, int *err)
{
    return import(ss, img, len, now_ns, false, err);
}

struct mtp_sock *mtp_sock_import_pinned(struct mtp_socks *ss, const void *img, size_t len,
                                        uint64_t now_ns, int *err)
{
    return import(ss, img, len, now_ns, true, err);
}

void mtp_sock_quiesce(struct mtp_sock *l, uint64_t now_ns)
{
    if (l->listener && l->ss->proto->ops->quiesce)
        l->ss->proto->ops->quiesce(l, now_ns);
}

struct mtp_sock *mtp_sock_take_queued(struct mtp_sock *l, uint64_t now_ns)
{
    flush_deferred(l->ss, now_ns);
    if (!l->listener || l->aq_len == 0)
        return NULL;
    struct mtp_sock *sk = l->acceptq[l->aq_head];
    l->aq_head = (l->aq_head + 1) % l->aq_cap;
    l->aq_len--;
    l->ss->proto->ops->accepted(l, sk, now_ns); /* (it leaves the protocol's listen queue) */
    return sk;
}

int mtp_sock_requeue(struct mtp_sock *l, struct mtp_sock *sk, uint64_t now_ns)
{
    int rc = mtp__sock_enqueue(l, sk);
    if (rc == 0 && l->ss->proto->ops->queued)
        l->ss->proto->ops->queued(l, sk, now_ns);
    return rc;
}

struct mtp_sock *mtp_sock_adopt(struct mtp_sock *l, const void *img, size_t len,
                                uint64_t now_ns, int *err)
{
    if (!l->listener) {
        *err = -EINVAL;
        return NULL;
    }
    struct mtp_sock *sk = import(l->ss, img, len, now_ns, false, err);
    if (!sk)
        return NULL;
    sk->flow_claimed = true; /* (the caller pinned it) */
    if (sk->lport != l->lport || (*err = mtp__sock_enqueue(l, sk)) < 0) {
        if (!*err)
            *err = -EINVAL;
        mtp_sock_abort(sk, now_ns);
        return NULL;
    }
    if (l->ss->proto->ops->queued)
        l->ss->proto->ops->queued(l, sk, now_ns);
    mtp__sock_wake(l);
    return sk;
}

int mtp_sock_image_flow(const void *img, size_t len, uint16_t *lport, uint32_t *rip,
                        uint16_t *rport)
{
    struct sock_img h;
    if (!img || len < sizeof h)
        return -EBADMSG;
    memcpy(&h, img, sizeof h);
    if (h.magic != SOCK_IMG_MAGIC)
        return -EBADMSG;
    *lport = h.lport;
    *rip = h.rip;
    *rport = h.rport;
    return 0;
}

struct mtp_sock *mtp_sock_new_reset(struct mtp_socks *ss, int err_code, int *err)
{
    struct mtp_sock *sk = sock_alloc(ss, false);
    if (!sk) {
        *err = -ENOMEM;
        return NULL;
    }
    sk->connected = true;
    sk->gone = true;
    sk->err = err_code;
    return sk;
}
