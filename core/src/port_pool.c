/* port_pool.c — ephemeral ports kept claimed between connections (see port_pool.h). */
#include <string.h>

#include "port_pool.h"

void mtp__port_pool_init(struct mtp__port_pool *p) { memset(p, 0, sizeof *p); }

int mtp__port_pool_has(const struct mtp__port_pool *p, uint16_t port)
{
    return (int)(p->in_pool[port / 64] >> (port % 64) & 1);
}

static void mark(struct mtp__port_pool *p, uint16_t port, int in)
{
    if (in)
        p->in_pool[port / 64] |= 1ull << (port % 64);
    else
        p->in_pool[port / 64] &= ~(1ull << (port % 64));
}

int mtp__port_pool_park(struct mtp__port_pool *p, uint16_t port, uint64_t now_ns)
{
    if (p->n == MTP__PORT_POOL_CAP || !port || mtp__port_pool_has(p, port))
        return -1;
    uint32_t tail = (p->head + p->n) % MTP__PORT_POOL_CAP;
    p->port[tail] = port;
    p->parked_at[tail] = now_ns;
    p->n++;
    mark(p, port, 1);
    return 0;
}

static uint16_t pop_head(struct mtp__port_pool *p)
{
    uint16_t port = p->port[p->head];
    p->head = (p->head + 1) % MTP__PORT_POOL_CAP;
    p->n--;
    mark(p, port, 0);
    return port;
}

uint16_t mtp__port_pool_take(struct mtp__port_pool *p, uint64_t now_ns, uint64_t min_age_ns,
                             int any)
{
    if (p->n == 0)
        return 0;
    uint64_t at = p->parked_at[p->head];
    if (!any && (now_ns < at || now_ns - at < min_age_ns))
        return 0;
    return pop_head(p);
}

uint16_t mtp__port_pool_expire(struct mtp__port_pool *p, uint64_t now_ns)
{
    if (p->n == 0 || now_ns - p->parked_at[p->head] < MTP__PORT_POOL_HOLD_NS ||
        now_ns < p->parked_at[p->head])
        return 0;
    return pop_head(p);
}

int mtp__port_pool_remove(struct mtp__port_pool *p, uint16_t port)
{
    if (!mtp__port_pool_has(p, port))
        return 0;
    uint32_t i = 0;
    while (p->port[(p->head + i) % MTP__PORT_POOL_CAP] != port)
        i++;
    for (; i + 1 < p->n; i++) { /* close the gap, keeping the order */
        uint32_t at = (p->head + i) % MTP__PORT_POOL_CAP, next = (at + 1) % MTP__PORT_POOL_CAP;
        p->port[at] = p->port[next];
        p->parked_at[at] = p->parked_at[next];
    }
    p->n--;
    mark(p, port, 0);
    return 1;
}

uint64_t mtp__port_pool_deadline(const struct mtp__port_pool *p)
{
    return p->n ? p->parked_at[p->head] + MTP__PORT_POOL_HOLD_NS : UINT64_MAX;
}
