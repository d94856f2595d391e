/*
 * homa_fixture.h — processor tests of homa.mtp: an RPC context and the two global contexts
 * in a chosen state, one event through the generated dispatch, then the instructions it
 * appended (packets decoded from their blueprints) and the new state. No engine, no network.
 */
#ifndef HOMA_FIXTURE_H
#define HOMA_FIXTURE_H

#include <criterion/criterion.h>
#include <string.h>

#include "homa.h" /* build/gen/homa.h */
#include "mtp/program.h"

#define ME 0x0a000001u
#define PEER 0x0a000002u
#define CPORT 5000
#define SPORT 4000
#define PAY MTPG_HOMA_PAYLOAD
#define MSEC 1000000ull

struct hfx {
    struct mtp_instr iv[256];
    uint8_t arena[64 * 1024] __attribute__((aligned(8)));
    struct mtp_ibuf out;
    struct mtp_exec x;
    struct mtpg_homa_rpc c;
    struct mtpg_homa_grants g;
    struct mtpg_homa_peers ps;
    void *globals[MTPG_HOMA_N_CTXS];
};

static struct hfx F;

static inline void hfx_reset_out(void)
{
    memset(&F.out, 0, sizeof F.out);
    F.out.v = F.iv;
    F.out.cap = 256;
    F.out.arena = F.arena;
    F.out.arena_cap = sizeof F.arena;
}

static inline void hfx_init(uint64_t now)
{
    memset(&F, 0, sizeof F);
    hfx_reset_out();
    F.x.out = &F.out;
    F.x.now_ns = now;
    F.x.secret[0] = 3;
    F.x.secret[1] = 4;
    F.x.rng = 9;
    mtpg_homa_ctx_rpc_init(&F.c);
    mtpg_homa_ctx_grants_init(&F.g);
    mtpg_homa_ctx_peers_init(&F.ps);
    F.globals[MTPG_HOMA_CTX_GRANTS] = &F.g;
    F.globals[MTPG_HOMA_CTX_PEERS] = &F.ps;
    F.x.globals = F.globals;
}

/* `ctx` NULL for an event that takes an RPC: its else chain (no such RPC). */
static inline int hfx_run(uint16_t type, const void *ev, void *ctx)
{
    int use_else = ctx == NULL && mtpg_homa_program.events[type].ctx_type >= 0;
    int n = mtpg_homa_program.dispatch(&F.x, type, ev, ctx, NULL, use_else);
    cr_assert_eq(F.x.assert_failures, 0u, "an assert() of homa.mtp failed");
    cr_assert_eq(F.out.overflow, 0u);
    return n;
}

static inline struct mtpg_homa_rpc_id hfx_id(uint32_t peer, uint16_t pport, uint16_t lport,
                                             uint64_t id)
{
    struct mtpg_homa_rpc_id r = { peer, pport, lport, id };
    return r;
}

/* The fixture's RPC as a client (id 2) or a server (id 3) talking to PEER. */
static inline void hfx_rpc(bool client, uint8_t state)
{
    F.c.peer_ip = PEER;
    F.c.peer_port = client ? SPORT : CPORT;
    F.c.local_port = client ? CPORT : SPORT;
    F.c.id = client ? 2 : 3;
    F.c.tag = 0x1234 + F.c.id;
    F.c.is_client = client;
    F.c.state = state;
}

static inline struct mtpg_homa_rpc_id hfx_rid(void)
{
    return hfx_id(F.c.peer_ip, F.c.peer_port, F.c.local_port, F.c.id);
}

/* ----------------------------------------------------------- instructions */

static inline int hfx_count(enum mtp_op op)
{
    int n = 0;
    for (uint32_t i = 0; i < F.out.n; i++)
        n += F.iv[i].op == op;
    return n;
}

static inline const struct mtp_instr *hfx_nth(enum mtp_op op, int nth)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == op && nth-- == 0)
            return &F.iv[i];
    return NULL;
}

/* The nth generated packet of blueprint `bp` (NULL if none). */
static inline const struct mtp_instr *hfx_pkt(uint16_t bp, int nth)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == MTP_OP_PKT_GEN && F.iv[i].u.gen.bp == bp && nth-- == 0)
            return &F.iv[i];
    return NULL;
}

static inline const void *hfx_bp(const struct mtp_instr *in)
{
    cr_assert_not_null(in);
    return F.arena + in->arena_off;
}

static inline int hfx_npkts(uint16_t bp)
{
    int n = 0;
    while (hfx_pkt(bp, n))
        n++;
    return n;
}

static inline const struct mtp_instr *hfx_note(uint32_t code)
{
    for (uint32_t i = 0; i < F.out.n; i++)
        if (F.iv[i].op == MTP_OP_NOTIFY && F.iv[i].u.note.code == code)
            return &F.iv[i];
    return NULL;
}

/* A message needing grants in the global list, as open_in would put it there. */
static inline void hfx_incoming(uint32_t peer, uint64_t id, uint32_t len, uint32_t received,
                                uint32_t granted, uint64_t birth)
{
    struct mtpg_homa_inmsg m = { .remaining = len - received, .tag = 0x9000 + id,
                                 .peer_ip = peer, .peer_port = CPORT, .local_port = SPORT,
                                 .id = id, .len = len, .received = received,
                                 .granted = granted, .birth = birth };
    uint32_t i = F.g.active.len;
    while (i > 0 && F.g.active.v[i - 1].remaining > m.remaining) {
        F.g.active.v[i] = F.g.active.v[i - 1];
        i--;
    }
    F.g.active.v[i] = m;
    F.g.active.len++;
    F.g.incoming += granted - received;
}

#endif
