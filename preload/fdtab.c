/*
 * fdtab.c — see fdtab.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fdtab.h"

#define FDTAB_MIN 1024u
#define FDTAB_MAX (1u << 24)

void mtp_fdtab_init(struct mtp_fdtab *t) { t->arr = NULL; }

void mtp_fdtab_free(struct mtp_fdtab *t)
{
    struct mtp_fdarr *a = t->arr;
    while (a) {
        struct mtp_fdarr *o = a->older;
        free(a);
        a = o;
    }
    t->arr = NULL;
}

struct mtp_fdobj *mtp_fdtab_get(const struct mtp_fdtab *t, int fd)
{
    struct mtp_fdarr *a = __atomic_load_n(&t->arr, __ATOMIC_ACQUIRE);
    if (!a || fd < 0 || (uint32_t)fd >= a->cap)
        return NULL;
    return __atomic_load_n(&a->slot[fd], __ATOMIC_ACQUIRE);
}

uint32_t mtp_fdtab_cap(const struct mtp_fdtab *t) { return t->arr ? t->arr->cap : 0; }

static int grow(struct mtp_fdtab *t, uint32_t need)
{
    uint32_t cap = t->arr ? t->arr->cap : FDTAB_MIN;
    while (cap < need)
        cap *= 2;
    if (t->arr && cap == t->arr->cap)
        return 0;
    struct mtp_fdarr *a = calloc(1, sizeof *a + cap * sizeof a->slot[0]);
    if (!a)
        return -ENOMEM;
    a->cap = cap;
    if (t->arr)
        memcpy(a->slot, t->arr->slot, t->arr->cap * sizeof a->slot[0]);
    a->older = t->arr;
    __atomic_store_n(&t->arr, a, __ATOMIC_RELEASE);
    return 0;
}

struct mtp_fdobj *mtp_fdtab_clear(struct mtp_fdtab *t, int fd)
{
    struct mtp_fdarr *a = t->arr;
    if (!a || fd < 0 || (uint32_t)fd >= a->cap || !a->slot[fd])
        return NULL;
    struct mtp_fdobj *o = a->slot[fd];
    __atomic_store_n(&a->slot[fd], NULL, __ATOMIC_RELEASE);
    return --o->refs == 0 ? o : NULL;
}

int mtp_fdtab_set(struct mtp_fdtab *t, int fd, struct mtp_fdobj *o, struct mtp_fdobj **dropped)
{
    *dropped = NULL;
    if (fd < 0 || (uint32_t)fd >= FDTAB_MAX)
        return -EBADF;
    int rc = grow(t, (uint32_t)fd + 1);
    if (rc < 0)
        return rc;
    if (t->arr->slot[fd] == o)
        return 0;
    o->refs++; /* before the clear: o may be the object the fd held */
    *dropped = mtp_fdtab_clear(t, fd);
    __atomic_store_n(&t->arr->slot[fd], o, __ATOMIC_RELEASE);
    return 0;
}
