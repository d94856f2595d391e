/*
 * port_pool.h — ephemeral ports kept claimed after their connection ended (internal).
 *
 * Claiming a port at the target is costly where it is a kernel resource: the XDP target takes
 * a lock file, reads and writes its steering maps and binds a placeholder socket, about ten
 * system calls per claim and release. A client that opens and closes connections at a high
 * rate (wrk against nginx with `Connection: close`, bench_connrate) paid that on every one.
 * The stack now parks a released ephemeral port here, still claimed, and takes it back for a
 * later connection.
 *
 * A FIFO, and a port comes back only a minimum age after it was parked, which the protocol's
 * socket layer sets (mtp_stack_park_ports; parking is off by default): for TCP, 2 ms, after
 * which the peer holds the old incarnation in TIME_WAIT at most, and a SYN whose timestamp
 * is newer (1 ms ticks, on Linux and in tcp.mtp) reopens it (RFC 6191). Homa and QUIC-Lite
 * peers keep state by the client's port that such a reuse would hit: they do not park.
 *
 * Small on purpose: on the XDP target each parked port keeps a placeholder socket open, one
 * more file descriptor of the application's. With 1,024, wrk (whose event loop takes fds up
 * to 3 per connection + 10) got fds beyond its table and counted connect errors. 32 serve
 * 16,000 connections a second with TCP's 2 ms (32 per 2 ms); above that, the rest are claimed as before.
 * A parked port goes back to the target after MTP__PORT_POOL_HOLD_NS unused.
 */
#ifndef MTP_PORT_POOL_H
#define MTP_PORT_POOL_H

#include <stdint.h>

#define MTP__PORT_POOL_CAP 32u
#define MTP__PORT_POOL_HOLD_NS 2000000000ull /* 2 s */

struct mtp__port_pool {
    uint16_t port[MTP__PORT_POOL_CAP];
    uint64_t parked_at[MTP__PORT_POOL_CAP];
    uint32_t head, n;
    uint64_t in_pool[65536 / 64]; /* membership, for a bind() to a parked port */
};

void mtp__port_pool_init(struct mtp__port_pool *p);
int mtp__port_pool_has(const struct mtp__port_pool *p, uint16_t port);
/* Parks port (not already parked). 0, or -1 when full: the caller releases it instead. */
int mtp__port_pool_park(struct mtp__port_pool *p, uint16_t port, uint64_t now_ns);
/* The oldest parked port, removed, when it was parked min_age_ns ago or more (or `any` is
 * set); 0 when none. */
uint16_t mtp__port_pool_take(struct mtp__port_pool *p, uint64_t now_ns, uint64_t min_age_ns,
                             int any);
/* The oldest port parked before now - MTP__PORT_POOL_HOLD_NS, removed; 0 when none. */
uint16_t mtp__port_pool_expire(struct mtp__port_pool *p, uint64_t now_ns);
/* Removes port wherever it sits (O(n): only for a bind() to a parked port). 1 if it was in. */
int mtp__port_pool_remove(struct mtp__port_pool *p, uint16_t port);
/* When the oldest parked port expires; UINT64_MAX with none parked. */
uint64_t mtp__port_pool_deadline(const struct mtp__port_pool *p);

#endif
