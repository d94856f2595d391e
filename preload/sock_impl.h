/*
 * sock_impl.h — inside the socket layer: the generic socket object (sock.c) and the
 * interface every protocol shim (shim_<proto>.c) implements. Not installed; only sock.c and
 * the shims include it.
 */
#ifndef MTP_SOCK_IMPL_H
#define MTP_SOCK_IMPL_H

#include <stdbool.h>
#include "sock.h"

/* What a shim knows about one socket; sock.c keeps the rest (handles, lookup by key). */
struct mtp_sock {
    struct mtp_socks *ss;
    void *user;                 /* mtp_sock_set_user */
    struct mtp_sock *hnext;     /* key table chain */
    uint16_t ctx_type;          /* the program context that backs the socket */
    struct mtp_key key;
    uint64_t sub;               /* which socket of that context (a stream id); 0 when the
                                   protocol has one socket per context */
    bool listener;
    bool released;              /* the application closed its handle */
    bool in_table;

    uint32_t lip, rip;          /* host order */
    uint16_t lport, rport;
    bool port_owned;            /* sk holds a reference on lport */
    bool port_held;             /* sk holds lport only for itself, pinned (import_pinned) */
    bool flow_claimed;          /* its flow is pinned to this stack (mtp_stack_flow_claim)
                                   until it ends */

    /* readiness, maintained by the shim from notifications */
    bool connected;             /* the connection is established (now or before) */
    bool peer_closed;           /* end of stream received */
    bool wr_shut;               /* shutdown_wr or close was asked */
    bool gone;                  /* the protocol context no longer exists */
    int err;                    /* pending error (negative errno), 0: none */
    uint64_t flushed;           /* bytes of the last receive copy (RX_FLUSHED) */

    /* listeners: connections ready for accept (FIFO ring) */
    struct mtp_sock **acceptq;
    uint32_t aq_head, aq_len, aq_cap;

    void *proto_state;          /* the shim's own per-socket state (ops->release frees it) */
};

/* An event to post once the current stack call has returned (the engine is not re-entered
 * from its own notification callback). */
struct mtp_sock_deferred {
    uint16_t ev_type;
    uint16_t ctx_type;
    struct mtp_key key;
    uint32_t len;
    uint64_t ev[MTP_EVENT_MAX_BYTES / 8];
};

struct mtp_sock_ops {
    int (*listen)(struct mtp_sock *sk, int backlog, uint64_t now_ns);
    int (*connect)(struct mtp_sock *sk, uint64_t now_ns);
    int (*accepted)(struct mtp_sock *listener, struct mtp_sock *sk, uint64_t now_ns);
    ssize_t (*send)(struct mtp_sock *sk, const void *buf, size_t len, uint64_t now_ns);
    ssize_t (*recv)(struct mtp_sock *sk, void *buf, size_t len, uint64_t now_ns);
    int (*shutdown_wr)(struct mtp_sock *sk, uint64_t now_ns);
    /* close/abort: sk stays valid during the call (notifications only mark it gone);
     * sock.c releases it afterwards */
    int (*close)(struct mtp_sock *sk, uint64_t now_ns);      /* graceful */
    int (*abort)(struct mtp_sock *sk, uint64_t now_ns);
    int (*setopt)(struct mtp_sock *sk, enum mtp_sock_opt opt, int value, uint64_t now_ns);
    bool (*readable)(struct mtp_sock *sk);                   /* connections only */
    bool (*writable)(struct mtp_sock *sk);
    void (*note)(struct mtp_socks *ss, const struct mtp_note *n);
    /* optional: a listener's connections still in their handshake or waiting to be accepted
     * (closing it now would reset them); NULL: its accept queue alone says */
    bool (*listener_busy)(struct mtp_sock *listener);
    /* optional: the connection has ended and its context only lingers (TCP's TIME_WAIT):
     * it needs no pin (mtp__sock_lingers) */
    bool (*lingering)(struct mtp_sock *sk);
    /* optional: a connection another process's listener had queued now waits in this
     * listener's accept queue (mtp_sock_adopt): the protocol counts it as if its handshake
     * had ended here */
    void (*queued)(struct mtp_sock *listener, struct mtp_sock *sk, uint64_t now_ns);
    /* optional: the listener takes no new connection from now on (a SYN is dropped: its
     * retransmission finds another process serving the port); those in their handshake
     * finish, and wait in its queue (mtp_sock_quiesce) */
    void (*quiesce)(struct mtp_sock *listener, uint64_t now_ns);
    int (*info)(struct mtp_sock *sk, struct mtp_sock_info *out);
    void (*release)(struct mtp_sock *sk);                    /* optional: frees proto_state */
    void (*exit)(struct mtp_socks *ss, uint64_t now_ns);     /* optional: mtp_socks_exit */
    void (*layer_release)(struct mtp_socks *ss);             /* optional: frees the layer's
                                                                 shim state (mtp__socks_state) */
    /* optional (both or neither): timers of the shim's own (e.g. keepalive when the program
     * has none), run by mtp_socks_poll once next_deadline (UINT64_MAX: never) has come; it is
     * asked again after each tick and each setopt, so a deadline may move earlier only there
     * (a later one is harmless: tick finds nothing due) */
    void (*tick)(struct mtp_socks *ss, uint64_t now_ns);
    uint64_t (*next_deadline)(struct mtp_socks *ss);
};

struct mtp_sock_proto {
    const char *name;
    const struct mtp_program *prog;
    const struct mtp_sock_ops *ops;
    uint64_t port_reuse_ns;       /* an ephemeral port may serve a new connection this long
                                     after the last one ended (mtp_stack_park_ports); 0: never
                                     parked, released at once */
};

/* Shims, one per protocol (shim_<proto>.c), listed in sock_protos.c. */
extern const struct mtp_sock_proto mtp__sock_proto_tcp;
extern const struct mtp_sock_proto mtp__sock_proto_homa;
extern const struct mtp_sock_proto mtp__sock_proto_quic;

/* sock.c services for the shims */
struct mtp_sock *mtp__sock_new(struct mtp_socks *ss, uint16_t ctx_type,
                               const struct mtp_key *key, bool listener);
struct mtp_sock *mtp__sock_find(struct mtp_socks *ss, uint16_t ctx_type,
                                const struct mtp_key *key);
void mtp__sock_link(struct mtp_sock *sk, uint16_t ctx_type, const struct mtp_key *key);
/* The same, for protocols with several sockets per context, told apart by `sub`
 * (the functions above use sub 0). */
struct mtp_sock *mtp__sock_new_sub(struct mtp_socks *ss, uint16_t ctx_type,
                                   const struct mtp_key *key, uint64_t sub, bool listener);
struct mtp_sock *mtp__sock_find_sub(struct mtp_socks *ss, uint16_t ctx_type,
                                    const struct mtp_key *key, uint64_t sub);
void mtp__sock_link_sub(struct mtp_sock *sk, uint16_t ctx_type, const struct mtp_key *key,
                        uint64_t sub);
void mtp__sock_unlink(struct mtp_sock *sk);   /* out of the key table */
void mtp__sock_free(struct mtp_sock *sk);     /* unlink, release the port, free */
void mtp__sock_port_ref(struct mtp_sock *sk); /* sk uses sk->lport (claimed already) */
/* sk moves to another local port that is claimed already (its old one is released when
 * nothing else uses it). */
void mtp__sock_port_move(struct mtp_sock *sk, uint16_t port);
/* sk's connection has ended and only lingers (the shim's `lingering`): a pin made for it
 * goes, so that a new connection from the same address and port reaches a listener. */
void mtp__sock_lingers(struct mtp_sock *sk);
/* A reference on a claimed local port held by the shim itself (a connection context that
 * outlives its sockets); drop releases the port with its last user. */
void mtp__socks_port_hold(struct mtp_socks *ss, uint16_t port);
void mtp__socks_port_drop(struct mtp_socks *ss, uint16_t port);
/* One pointer of the shim's own per-layer state (ops->layer_release frees it). */
void **mtp__socks_state(struct mtp_socks *ss);
int mtp__sock_enqueue(struct mtp_sock *listener, struct mtp_sock *sk);
void mtp__sock_wake(struct mtp_sock *sk);
/* Queue an event to post after the current stack call (see struct mtp_sock_deferred). */
void mtp__sock_defer(struct mtp_socks *ss, uint16_t ev_type, uint16_t ctx_type,
                     const struct mtp_key *key, const void *ev, uint32_t len);
/* Post now (not from a notification callback). */
int mtp__sock_post(struct mtp_socks *ss, uint16_t ev_type, const struct mtp_key *key,
                   const void *ev, uint32_t len, uint64_t now_ns);
/* The clock of the current (or last) stack call: the time of a notification. */
uint64_t mtp__sock_now(const struct mtp_socks *ss);
/* Iterate the sockets of a layer (for a listener's pending connections). */
struct mtp_sock *mtp__sock_next(struct mtp_socks *ss, struct mtp_sock *prev, uint32_t *bucket);

#endif
