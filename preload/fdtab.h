/*
 * fdtab.h — the LD_PRELOAD library's fd table: kernel fd number -> the object behind it (an
 * MTP socket or an epoll set of ours). Pure data structure, no system calls: unit-tested on
 * its own (preload/tests/test_fdtab.c).
 *
 * Several fds may point at one object (dup, dup2, dup3, fcntl F_DUPFD): the object counts
 * them, and the last fdtab_clear() reports that the object has no fd left (the socket is
 * closed then, as the kernel ends a connection at the last close of its file).
 *
 * Readers may look an fd up without a lock while a writer grows the table: the slots live in
 * one block that carries its own size, swapped atomically; old blocks are kept (a reader may
 * still hold one), which costs at most the sum of a doubling series.
 */
#ifndef MTP_FDTAB_H
#define MTP_FDTAB_H

#include <stdint.h>

struct mtp_fdobj {
    int kind;        /* user's tag (socket, epoll set) */
    uint32_t refs;   /* fds pointing at it */
};

struct mtp_fdarr {
    uint32_t cap;
    struct mtp_fdarr *older;      /* kept for lock-free readers, freed with the table */
    struct mtp_fdobj *slot[];
};

struct mtp_fdtab {
    struct mtp_fdarr *arr;        /* atomic */
};

void mtp_fdtab_init(struct mtp_fdtab *t);
void mtp_fdtab_free(struct mtp_fdtab *t);
/* The object behind fd, or NULL (fd < 0 or beyond the table: NULL). Lock-free. */
struct mtp_fdobj *mtp_fdtab_get(const struct mtp_fdtab *t, int fd);
/* fd now points at o (o->refs + 1). An fd already in use is cleared first: its object is
 * returned in *dropped if that was its last fd (else *dropped = NULL). -ENOMEM, -EBADF. */
int mtp_fdtab_set(struct mtp_fdtab *t, int fd, struct mtp_fdobj *o, struct mtp_fdobj **dropped);
/* fd points at nothing now. Returns its object if fd was its last one (the caller ends it),
 * else NULL. */
struct mtp_fdobj *mtp_fdtab_clear(struct mtp_fdtab *t, int fd);
/* Highest fd + 1 the table could hold without growing. */
uint32_t mtp_fdtab_cap(const struct mtp_fdtab *t);

#endif
