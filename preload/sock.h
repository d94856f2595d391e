/*
 * sock.h — a small, protocol-independent stream-socket API over one struct mtp_stack.
 *
 * A socket layer (struct mtp_socks) sits on one stack and one protocol shim, chosen by name
 * ("tcp"). It owns the stack's notification callback, turns the program's notifications into
 * socket readiness, and turns calls into the program's application events. Nothing here
 * names a protocol: the shim behind it (shim_<proto>.c) is the only code that does.
 *
 * Everything is non-blocking and run to completion in the caller's thread: the caller keeps
 * calling mtp_stack_poll() with its clock, and passes the same clock (`now_ns`) to every call
 * that may post an event. A call that cannot make progress returns -EAGAIN; bytes are never
 * dropped (send takes what fits, recv returns what is there).
 *
 * Return values: >= 0 on success, a negative errno value on failure (-EAGAIN, -ECONNRESET,
 * -ECONNREFUSED, -ETIMEDOUT, -EPIPE, -ENOTCONN, -EINVAL, -ENOMEM, -EADDRINUSE, ...).
 *
 * Typical use:
 *     const struct mtp_sock_proto *p = mtp_sock_proto_find("tcp");
 *     cfg.prog = mtp_sock_proto_program(p);            // stack runs the protocol's program
 *     struct mtp_stack *st = mtp_stack_new(&cfg, &err);
 *     struct mtp_socks *ss = mtp_socks_new(st, p, &err);
 *     struct mtp_sock *l = mtp_sock_listen(ss, 5000, 128, now, &err);
 *     for (;;) { mtp_stack_poll(st, now); if (mtp_sock_accept(l, &c, now) == 0) ...; }
 */
#ifndef MTP_SOCK_H
#define MTP_SOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "mtp/program.h"
#include "mtp/stack.h"

struct mtp_sock_proto; /* one protocol shim ("tcp") */
struct mtp_socks;      /* the socket layer of one stack */
struct mtp_sock;       /* one socket: a listener or a connection */

/* ------------------------------------------------------------ protocols */

/* The shim registered under `name`, or NULL (unknown name). */
const struct mtp_sock_proto *mtp_sock_proto_find(const char *name);
/* Names of all shims, NULL terminated (for "MTP_PROTO must be one of ..." messages). */
const char *const *mtp_sock_proto_names(void);
/* The compiled program a stack must run for this shim. */
const struct mtp_program *mtp_sock_proto_program(const struct mtp_sock_proto *p);
const char *mtp_sock_proto_name(const struct mtp_sock_proto *p);

/* ------------------------------------------------------------ the layer */

/* Takes over the stack's notification callback (mtp_stack_set_notify). */
struct mtp_socks *mtp_socks_new(struct mtp_stack *stack, const struct mtp_sock_proto *p,
                                int *err);
/* Frees every socket handle still open (without sending anything) and the layer. */
void mtp_socks_free(struct mtp_socks *ss);
/* The process is exiting and has released its sockets: the protocol ends what outlives them
 * (QUIC-Lite: its connections, each closed once what was written on it is delivered), as a
 * kernel closes a dying process's connections. Keep polling the stack while bytes are due. */
void mtp_socks_exit(struct mtp_socks *ss, uint64_t now_ns);
struct mtp_stack *mtp_socks_stack(const struct mtp_socks *ss);

/* mtp_stack_poll() plus the events the layer deferred while the stack ran (use it instead of
 * calling mtp_stack_poll directly, or call any mtp_sock_* function soon after). */
int mtp_socks_poll(struct mtp_socks *ss, uint64_t now_ns);
/* When mtp_socks_poll must run next: the stack's next timer or one of the shim's own
 * (UINT64_MAX: none). Use it instead of mtp_stack_next_deadline. */
uint64_t mtp_socks_next_deadline(struct mtp_socks *ss);

/* Called whenever the readiness of `sk` may have changed (epoll wake-ups). Optional. It runs
 * inside the stack (from its notification callback): it may record `sk`, not call into the
 * socket layer or the stack. */
typedef void (*mtp_sock_wake_fn)(void *user, struct mtp_sock *sk);
void mtp_socks_set_wake(struct mtp_socks *ss, mtp_sock_wake_fn fn, void *user);

/* ------------------------------------------------------------ sockets */

/* A listener on the stack's address, `port` (1..65535). backlog <= 0: a default. */
struct mtp_sock *mtp_sock_listen(struct mtp_socks *ss, uint16_t port, int backlog,
                                 uint64_t now_ns, int *err);
/* The next established connection of a listener: 0 and *out set, or -EAGAIN. */
int mtp_sock_accept(struct mtp_sock *listener, struct mtp_sock **out, uint64_t now_ns);

/* Active open to ip:port (host byte order) from an ephemeral local port. Returns at once;
 * the socket becomes WRITABLE when connected, or ERROR (mtp_sock_error) when it fails. */
struct mtp_sock *mtp_sock_connect(struct mtp_socks *ss, uint32_t ip, uint16_t port,
                                  uint64_t now_ns, int *err);

/* Queue up to len bytes for sending: bytes accepted (> 0), or -EAGAIN (send buffer full),
 * -ENOTCONN (still connecting), -EPIPE (after shutdown_wr/close), -ECONNRESET ... */
ssize_t mtp_sock_send(struct mtp_sock *sk, const void *buf, size_t len, uint64_t now_ns);
/* Copy up to len received in-order bytes: bytes (> 0), 0 at end of stream (peer closed and
 * everything read), -EAGAIN (nothing yet), -ECONNRESET ... */
ssize_t mtp_sock_recv(struct mtp_sock *sk, void *buf, size_t len, uint64_t now_ns);

/* Half close: no more sends; the peer reads end of stream after the queued bytes.
 * -ENOTCONN before the connection is established. */
int mtp_sock_shutdown_wr(struct mtp_sock *sk, uint64_t now_ns);
/* Graceful close, releasing the handle (sk is invalid afterwards). Queued bytes are still
 * delivered; the protocol finishes closing in the background. */
int mtp_sock_close(struct mtp_sock *sk, uint64_t now_ns);
/* Abortive close (SO_LINGER 0): queued bytes are discarded, the peer sees a reset. Releases
 * the handle. */
int mtp_sock_abort(struct mtp_sock *sk, uint64_t now_ns);

/* Options (protocol-independent names; a shim ignores those its protocol lacks: returns
 * -ENOPROTOOPT). */
enum mtp_sock_opt {
    MTP_SOCKOPT_NODELAY = 1,   /* value 0/1: send small segments at once */
    MTP_SOCKOPT_KEEPALIVE,     /* value 0/1: probe an idle connection */
    MTP_SOCKOPT_KEEPIDLE,      /* seconds of silence before the first probe (> 0) */
    MTP_SOCKOPT_KEEPINTVL,     /* seconds between probes (> 0) */
    MTP_SOCKOPT_KEEPCNT,       /* probes without an answer before the connection is reset */
    MTP_SOCKOPT_CORK,          /* value 0/1: send full segments only until uncorked (TCP_CORK) */
};
int mtp_sock_setopt(struct mtp_sock *sk, enum mtp_sock_opt opt, int value, uint64_t now_ns);

/* Readiness, for poll/epoll. */
#define MTP_SOCK_READABLE 0x01u /* recv would not return -EAGAIN (data, EOF or error), or a
                                   listener has a connection to accept */
#define MTP_SOCK_WRITABLE 0x02u /* connected and send would accept at least one byte */
#define MTP_SOCK_RDHUP    0x04u /* the peer closed its sending side (EOF after the data) */
#define MTP_SOCK_HUP      0x08u /* both directions are finished (or reset) */
#define MTP_SOCK_ERROR    0x10u /* mtp_sock_error() has an error to report */
unsigned mtp_sock_poll(const struct mtp_sock *sk);

/* Pending error (0, -ECONNREFUSED, -ECONNRESET, -ETIMEDOUT), like SO_ERROR: reading it clears
 * it. */
int mtp_sock_error(struct mtp_sock *sk);

int mtp_sock_is_listener(const struct mtp_sock *sk);
/* A listener with connections waiting to be accepted or (when the protocol can tell) still in
 * their handshake: closing it now would reset them. */
int mtp_sock_listener_busy(struct mtp_sock *sk);
/* The connection was established (it may have ended since). */
int mtp_sock_connected(const struct mtp_sock *sk);
/* Addresses in host byte order; any pointer may be NULL. */
void mtp_sock_local(const struct mtp_sock *sk, uint32_t *ip, uint16_t *port);
void mtp_sock_peer(const struct mtp_sock *sk, uint32_t *ip, uint16_t *port);

/* The layer this socket belongs to. */
struct mtp_socks *mtp_sock_layer(const struct mtp_sock *sk);

/* Hand-off: a connection moves to another layer of the same protocol on this host (another
 * process's stack: a forked child that serves what its parent accepted; a replaced stack).
 * export writes its image (the socket's state and its protocol context: unread and unsent
 * bytes, timers; mtp_stack_ctx_export) to a malloc'd buffer; the socket stays as it was.
 * detach ends the socket here without a word to the peer (no FIN, no RST: it goes on
 * elsewhere) and frees it. import makes the connection a socket of `ss` again, its local
 * port claimed there. Connections only (-EOPNOTSUPP for a listener, a connection already
 * gone, or a protocol whose shim keeps state of its own); import: -EBADMSG for a bad image,
 * or what the stack says (-EEXIST, -EINVAL: another program). */
int mtp_sock_export(struct mtp_sock *sk, uint64_t now_ns, void **img, size_t *len);
/* Whether export can hand sk off (a connection still there, of a shim without state of its
 * own): 1 or 0. */
int mtp_sock_can_export(const struct mtp_sock *sk);
void mtp_sock_detach(struct mtp_sock *sk);
struct mtp_sock *mtp_sock_import(struct mtp_socks *ss, const void *img, size_t len,
                                 uint64_t now_ns, int *err);
/* import for a connection this stack's target already steers here (flow_claim): its local
 * port is held (mtp_stack_port_hold) instead of claimed, so the stack gets no share of the
 * port's new connections (a forked child serving one its parent accepted). */
struct mtp_sock *mtp_sock_import_pinned(struct mtp_socks *ss, const void *img, size_t len,
                                        uint64_t now_ns, int *err);
/* A closing listener's queue handed to another process serving its port (docs/MULTIPROC.md,
 * "Reload"). quiesce: l takes no new connection (where the protocol can refuse one quietly,
 * so that its peer tries again, and reaches another process); those in their handshake go
 * on and join its queue. take_queued removes the connection longest in l's accept queue and returns it
 * (NULL: none; it leaves the protocol's listen queue as if accepted): the caller exports and
 * detaches it, or puts it back with requeue (at the end of the queue; 0 or -ENOMEM). adopt imports one such connection into the listener of its
 * port in this process: it waits in l's accept queue as if its handshake had ended here. The
 * caller pinned its flow here first (flow_claim); the pin goes with the connection. */
void mtp_sock_quiesce(struct mtp_sock *l, uint64_t now_ns);
struct mtp_sock *mtp_sock_take_queued(struct mtp_sock *l, uint64_t now_ns);
int mtp_sock_requeue(struct mtp_sock *l, struct mtp_sock *sk, uint64_t now_ns);
struct mtp_sock *mtp_sock_adopt(struct mtp_sock *l, const void *img, size_t len,
                                uint64_t now_ns, int *err);
/* The connection an image describes (host byte order): 0, or -EBADMSG. */
int mtp_sock_image_flow(const void *img, size_t len, uint16_t *lport, uint32_t *rip,
                        uint16_t *rport);
/* A connection that ended before it was this layer's (a hand-off that failed): receives
 * return err_code once, then end of stream; sends err_code, then -EPIPE; poll says
 * HUP | ERROR. Released by mtp_sock_close like any other. */
struct mtp_sock *mtp_sock_new_reset(struct mtp_socks *ss, int err_code, int *err);

/* One pointer for the socket's owner (the LD_PRELOAD library keeps its fd object here). */
void mtp_sock_set_user(struct mtp_sock *sk, void *user);
void *mtp_sock_user(const struct mtp_sock *sk);

/* What a tool or TCP_INFO can show of a connection, filled by the protocol's shim: the
 * generic fields it knows (0 otherwise), plus up to MTP_SOCK_INFO_EXTRA named numbers of the
 * program's own (e.g. "ssthresh"). */
#define MTP_SOCK_INFO_EXTRA 8
struct mtp_sock_info {
    const char *state;        /* the protocol's name of its state ("ESTABLISHED", "LISTEN") */
    uint8_t tcp_state;        /* the closest Linux TCP_* state number (netinet/tcp.h) */
    uint64_t rx_queued;       /* received in-order bytes not yet read */
    uint64_t tx_queued;       /* bytes written and not yet acknowledged */
    uint64_t rtt_us, rttvar_us, rto_us;
    uint32_t mss;
    uint64_t cwnd_bytes;      /* congestion window or the program's equivalent */
    uint64_t snd_wnd_bytes;   /* peer's advertised window */
    uint32_t retransmits;     /* current consecutive retransmissions */
    uint32_t n_extra;
    struct { const char *name; uint64_t value; } extra[MTP_SOCK_INFO_EXTRA];
};
/* 0, or -ENOTCONN when the protocol has no state for it any more. */
int mtp_sock_info(struct mtp_sock *sk, struct mtp_sock_info *out);
/* Every socket of the layer, in no particular order: the first with prev = NULL; NULL at the
 * end. Handles the application closed are included (released = 1: finishing in the
 * background). */
struct mtp_sock *mtp_socks_next(struct mtp_socks *ss, struct mtp_sock *prev, uint32_t *cursor);
int mtp_sock_released(const struct mtp_sock *sk);

#endif
