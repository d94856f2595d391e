/*
 * ct.h — the harness of the socket-behaviour suite (compat-tests/).
 *
 * Every program is a list of cases. A case has a `local` side (run in order, in the main
 * thread, one TAP line each) and optionally a `peer` side: the other end of its connection.
 * Each case owns one TCP port, base + its index. Two ways to run a program:
 *
 *   prog                         both sides in this process (the peer sides in threads), on
 *                                127.0.0.1: the `lo` run
 *   prog --peer --lip A --pip B --port P   (in namespace B) only the peer sides
 *   prog --lip A --pip B --port P          (in namespace A) only the local sides
 *
 * The expectations are Linux's: every program must pass on the kernel, and the same binary
 * must pass unchanged under LD_PRELOAD=libmtp.so. The peer side of each case runs in its own
 * thread from the start: a peer that serves listens at once; a peer that connects retries
 * while it is refused. A local side closes what it opened, which ends its peer.
 *
 * Output: "1..N", then "ok I - name" or "not ok I - name" with "#" lines saying what differed.
 * Exit status 0 only when every local and peer side passed. A watchdog ends a hung program
 * with "not ok" after CT_TIMEOUT seconds (default 60). `--only N` (or CT_ONLY=N in the
 * environment, for run.sh) runs case N alone, the others reported as skipped.
 */
#ifndef CT_H
#define CT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

struct ct_ctx {
    const char *lip;  /* this side's IPv4 address (the local side's) */
    const char *pip;  /* the peer side's IPv4 address */
    int port;         /* this case's port */
    bool lo;          /* both sides in one process */
};

typedef void (*ct_fn)(const struct ct_ctx *c);

struct ct_case {
    const char *name;
    ct_fn local;
    ct_fn peer; /* NULL: the case needs no peer */
};

/* Runs the program: parses argv, starts the peers, runs the cases, returns the exit status. */
int ct_main(int argc, char **argv, const struct ct_case *cases, int ncases);

/* ------------------------------------------------------------ checks (they return the verdict) */
bool ct__check(bool ok, const char *file, int line, const char *what);
bool ct__check_eq(long got, long want, const char *file, int line, const char *what);
bool ct__check_err(long ret, int err, int want, const char *file, int line, const char *what);
bool ct__check_ok(long ret, int err, const char *file, int line, const char *what);
void ct_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The case cannot run here (TAP "# SKIP why"); the same in every arrangement given the same
 * environment, so expectations stay identical. */
void ct_skip(const char *why);

#define CT_TRUE(c) ct__check(!!(c), __FILE__, __LINE__, #c)
#define CT_EQ(a, b) ct__check_eq((long)(a), (long)(b), __FILE__, __LINE__, #a " == " #b)
/* the call fails with -1 and errno `e` */
#define CT_ERR(call, e) \
    ({ long r_ = (long)(call); int e_ = errno; ct__check_err(r_, e_, (e), __FILE__, __LINE__, #call); })
/* the call succeeds (>= 0); evaluates to the call's value, -1 on failure */
#define CT_OK(call) \
    ({ long r_ = (long)(call); int e_ = errno; ct__check_ok(r_, e_, __FILE__, __LINE__, #call) ? r_ : -1; })

/* ------------------------------------------------------------ helpers */
struct sockaddr_in ct_sin(const char *ip, int port);
uint64_t ct_now_ms(void);
void ct_sleep_ms(int ms);
/* A blocking listener on ip:port (SO_REUSEADDR, backlog 16), or -1 (check failed). */
int ct_listen(const char *ip, int port);
/* accept on a listener, waiting up to 10 s; -1 on failure */
int ct_accept(int lfd);
/* A blocking connection to ip:port, retried while refused (10 s), or -1. */
int ct_connect(const char *ip, int port);
/* Peer helpers: listen on the peer address at this case's port and take one connection. */
int ct_peer_accept(const struct ct_ctx *c);
/* Connect to the local side's listener (lip:port), retried while refused. */
int ct_peer_connect(const struct ct_ctx *c);
/* Write all of buf / read exactly n bytes (blocking; 10 s bound via poll); true when done. */
bool ct_write_all(int fd, const void *buf, size_t n);
bool ct_read_n(int fd, void *buf, size_t n);
/* Wait for events on fd (poll), up to ms; returns revents (0 on timeout). */
int ct_wait(int fd, short events, int ms);
/* Reads until EOF or error (10 s bound); returns the number of bytes read, -1 on error. */
long ct_drain(int fd);
/* 64-bit FNV-1a over bytes, chained */
uint64_t ct_fnv(uint64_t h, const void *p, size_t n);

/* ------------------------------------------------------------ ready-made peers */
void ct_peer_echo(const struct ct_ctx *c);   /* echo until EOF, then close */
void ct_peer_hash(const struct ct_ctx *c);   /* read to EOF, reply "<count> <fnv>\n", close */
void ct_peer_slow_hash(const struct ct_ctx *c); /* ct_peer_hash, reading 300 ms late */
void ct_peer_hold(const struct ct_ctx *c);   /* accept, read and discard until EOF */
void ct_peer_rst(const struct ct_ctx *c);    /* accept, read 1 byte, close with SO_LINGER {1,0} */
void ct_peer_fin(const struct ct_ctx *c);    /* accept, close at once: EOF to the other side */
void ct_peer_stall(const struct ct_ctx *c);  /* accept, never read, close when the other closes */
void ct_peer_hello(const struct ct_ctx *c);  /* connect to the local side, send "hello", hold */

#endif
