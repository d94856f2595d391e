#include "homa_sim.h"
#include <stdio.h>
static void dump(int i) {
    const struct mtp_stats *s = mtp_stack_stats(H.s[i]);
    printf("host %d: rx %lu tx %lu malformed %lu badcsum %lu noctx %lu events %lu instr %lu failed %lu disc %lu ovf %lu evovf %lu pool %lu timers %lu coalesced %lu dataref %lu rxwnd %lu\n", i,
        s->rx_frames, s->tx_frames, s->drop_malformed, s->drop_bad_csum, s->drop_no_ctx, s->events, s->instructions, s->instr_failed, s->instr_discarded, s->instr_overflow, s->event_overflow, s->pool_exhausted, s->timers_fired, s->blueprints_coalesced, s->drop_data_ref, s->drop_rx_window);
}
static void show(const char *who, struct mtpg_homa_rpc *c) {
    if (!c) { printf("  %s: none\n", who); return; }
    printf("  %s: st %u out %u/%u/%u unsched %u in act %d %u/%u listed %d silent %u\n", who, c->state, c->out_sent, c->out_granted, c->out_len, c->out_unsched, c->in_active, c->in_recv, c->in_len, c->in_listed, c->silent);
}
static uint32_t mixed_size(int i)
{
    static const uint32_t classes[] = { 1, 60, 500, 1424, 3000, 9000, 14240, 30000, 120000 };
    if (i % 97 == 0) return 1000000;
    if (i % 31 == 0) return 400000 + (uint32_t)i * 37;
    return classes[i % 9] + (uint32_t)(i * 7919) % (classes[i % 9] / 2 + 1);
}
Test(dbg, one) {
    struct mtp_sim_config c = { .seed = 2, .delay_ns = 5000, .rate_bytes_per_sec = 1250000000 };
    hs_up(3, &c);
    hs_add_rpcs(1000);
    for (int i = 0; i < 1000; i++)
        hs_start(i, i % 2, mixed_size(i), mixed_size(i * 3 + 1));
    int rc = hs_run(2 * HS_SEC);
    printf("rc %d done %d failed %d served %d\n", rc, H.done, H.failed, H.requests_served);
    dump(0); dump(1); dump(2);
    int shown = 0;
    for (int i = 0; i < 1000 && shown < 8; i++) {
        struct hs_rpc *r = &H.rpcs[i];
        if (r->state == 2) continue;
        shown++;
        printf("rpc %d state %d err %lu req %u resp %u\n", i, r->state, r->err, r->req_len, r->resp_len);
        struct mtp_key k;
        hs_key(&k, hs_ip(2), HS_SERVER_PORT, r->client_port, hs_client_id(i));
        show("client", mtp_stack_ctx(H.s[r->client], MTPG_HOMA_CTX_RPC, &k));
        hs_key(&k, hs_ip(r->client), r->client_port, HS_SERVER_PORT, hs_client_id(i) ^ 1);
        show("server", mtp_stack_ctx(H.s[2], MTPG_HOMA_CTX_RPC, &k));
    }
    struct mtpg_homa_grants *g = mtp_stack_ctx(H.s[2], MTPG_HOMA_CTX_GRANTS, &(struct mtp_key){0});
    printf("server grants: active %u incoming %lu\n", g->active.len, g->incoming);
    for (uint32_t i = 0; i < g->active.len && i < 10; i++) printf("   rem %u id %lu len %u recv %u granted %u\n", g->active.v[i].remaining, g->active.v[i].id, g->active.v[i].len, g->active.v[i].received, g->active.v[i].granted);
    for (int h = 0; h < 2; h++) {
    g = mtp_stack_ctx(H.s[h], MTPG_HOMA_CTX_GRANTS, &(struct mtp_key){0});
    printf("client %d grants: active %u incoming %lu\n", h, g->active.len, g->incoming);
    for (uint32_t i = 0; i < g->active.len && i < 10; i++) printf("   rem %u id %lu len %u recv %u granted %u\n", g->active.v[i].remaining, g->active.v[i].id, g->active.v[i].len, g->active.v[i].received, g->active.v[i].granted);
    }
    hs_down();
}
