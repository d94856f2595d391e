/*
 * homa_sim.h — homa.mtp on the sim wire without a socket layer: stacks on one wire, an
 * application played by the test. Clients post app_send for RPCs the test describes (request
 * and response lengths); the server answers every complete request with the response the
 * test asked for; every message's bytes are a pattern of (RPC, direction, offset), checked
 * byte for byte where it arrives. HS_PCAP=file writes the server's frames to a pcap file.
 */
#ifndef HOMA_SIM_H
#define HOMA_SIM_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Tests use Criterion; a program (bench/homa_fig4a.c) defines HS_ASSERT itself. */
#ifndef HS_ASSERT
#include <criterion/criterion.h>
#define HS_ASSERT(...) cr_assert(__VA_ARGS__)
#endif

#include "homa.h" /* build/gen/homa.h */
#include "mtp/stack.h"
#include "sim.h"

#define HS_MS 1000000ull
#define HS_SEC 1000000000ull
#define HS_SERVER_PORT 4000
#define HS_MAX_HOSTS 3
#define HS_MAX_NOTES 8192

struct hs_rpc {
    int client;            /* host index of the client */
    uint16_t client_port;
    uint32_t req_len, resp_len;
    uint8_t *req, *resp;   /* what the client sent / what the server sends back */
    uint8_t *got;          /* the client's copy of the response */
    int state;             /* 0: not started, 1: sent, 2: response checked, 3: failed */
    uint64_t start_ns, end_ns;
    uint64_t err;
};

struct hs_note {
    int host;
    uint32_t code;
    struct mtp_key key;
    uint64_t value;
};

struct hs {
    struct mtp_sim_wire *w;
    struct mtp_target *t[HS_MAX_HOSTS];
    struct mtp_stack *s[HS_MAX_HOSTS];
    int n_hosts;               /* host n_hosts - 1 is the server */
    struct hs_rpc *rpcs;
    int n_rpcs, started, done, failed, bad_bytes, requests_served;
    struct hs_note notes[HS_MAX_NOTES];
    int n_notes, note_overflow;
    int host_of_cb[HS_MAX_HOSTS];
    void (*on_done)(int rpc);  /* the test's reaction to a completed RPC (may start one) */
    bool hold;                 /* the server keeps requests unanswered (a shim's idle one) */
    struct hs_note held;       /* ... the newest it keeps */
};

static struct hs H;

static inline uint32_t hs_ip(int host) { return 0x0a000001u + (uint32_t)host; }
static inline int hs_server(void) { return H.n_hosts - 1; }

static inline uint8_t hs_byte(int rpc, int dir, uint32_t off)
{
    uint32_t x = (uint32_t)rpc * 2654435761u ^ (uint32_t)dir * 0x9e3779b9u ^ off * 2246822519u;
    return (uint8_t)(x >> 13 ^ x);
}

static inline uint8_t *hs_pattern(int rpc, int dir, uint32_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    HS_ASSERT((p) != NULL);
    for (uint32_t i = 0; i < len; i++)
        p[i] = hs_byte(rpc, dir, i);
    return p;
}

static void hs_note_cb(void *user, const struct mtp_note *n)
{
    int host = *(int *)user;
    if (n->code < 256)
        return; /* the runtime's own notes: not needed here */
    if (H.n_notes >= HS_MAX_NOTES) {
        H.note_overflow++;
        return;
    }
    H.notes[H.n_notes++] = (struct hs_note){ host, n->code, n->key, n->value };
}

static inline void hs_up(int n_hosts, const struct mtp_sim_config *cfg)
{
    memset(&H, 0, sizeof H);
    H.n_hosts = n_hosts;
    H.w = mtp_sim_wire_new(NULL, cfg);
    HS_ASSERT((H.w) != NULL);
    for (int i = 0; i < n_hosts; i++) {
        HS_ASSERT((mtp_sim_attach(H.w, hs_ip(i), 24, &H.t[i])) == (0));
        struct mtp_stack_config c = { .prog = &mtpg_homa_program, .ops = &mtp_target_sim,
                                      .target = H.t[i], .seed = 77 + (uint64_t)i,
                                      .max_contexts = 8192,
                                      .pcap_path = i == n_hosts - 1 ? getenv("HS_PCAP") : NULL };
        int err = 0;
        H.s[i] = mtp_stack_new(&c, &err);
        HS_ASSERT((H.s[i]) != NULL, "mtp_stack_new: %d", err);
        H.host_of_cb[i] = i;
        mtp_stack_set_notify(H.s[i], hs_note_cb, &H.host_of_cb[i]);
    }
    struct mtpg_homa_app_listen l = { .port = HS_SERVER_PORT };
    HS_ASSERT((mtp_stack_post(H.s[hs_server()], MTPG_HOMA_EV_APP_LISTEN, NULL, &l, sizeof l,
                                 0)) >= (0));
}

static inline void hs_down(void)
{
    for (int i = 0; i < H.n_rpcs; i++) {
        free(H.rpcs[i].req);
        free(H.rpcs[i].resp);
        free(H.rpcs[i].got);
    }
    free(H.rpcs);
    for (int i = 0; i < H.n_hosts; i++)
        mtp_stack_free(H.s[i]);
    mtp_sim_wire_free(H.w);
}

static inline void hs_key(struct mtp_key *k, uint32_t ip, uint16_t port, uint16_t lport,
                          uint64_t id)
{
    struct mtpg_homa_rpc_id r = { ip, port, lport, id };
    mtpg_homa_key_rpc_id(k, &r);
}

static inline void hs_key_fields(const struct mtp_key *k, uint32_t *ip, uint16_t *port,
                                 uint16_t *lport, uint64_t *id)
{
    memcpy(ip, k->b, 4);
    memcpy(port, k->b + 4, 2);
    memcpy(lport, k->b + 6, 2);
    memcpy(id, k->b + 8, 8);
}

/* RPC i: client id 2 * (i + 1) from port 5000 + client host. */
static inline uint64_t hs_client_id(int i) { return 2 * (uint64_t)(i + 1); }

static inline void hs_add_rpcs(int n)
{
    H.rpcs = calloc((size_t)n, sizeof *H.rpcs);
    HS_ASSERT((H.rpcs) != NULL);
    H.n_rpcs = n;
}

static inline void hs_start(int i, int client, uint32_t req_len, uint32_t resp_len)
{
    struct hs_rpc *r = &H.rpcs[i];
    r->client = client;
    r->client_port = (uint16_t)(5000 + client);
    r->req_len = req_len;
    r->resp_len = resp_len;
    r->req = hs_pattern(i, 0, req_len);
    r->resp = hs_pattern(i, 1, resp_len);
    r->got = malloc(resp_len ? resp_len : 1);
    r->state = 1;
    H.started++;
    r->start_ns = mtp_sim_now(H.w);
    struct mtpg_homa_app_send ev = {
        .r = { hs_ip(hs_server()), HS_SERVER_PORT, r->client_port, hs_client_id(i) },
        .buf = (mtp_addr_t)(uintptr_t)r->req, .len = req_len,
    };
    struct mtp_key k;
    mtpg_homa_key_rpc_id(&k, &ev.r);
    HS_ASSERT((mtp_stack_post(H.s[client], MTPG_HOMA_EV_APP_SEND, &k, &ev, sizeof ev,
                                 mtp_sim_now(H.w))) >= (0));
}

static inline void hs_recv(int host, const struct mtp_key *k, uint8_t *buf, uint32_t len)
{
    struct mtpg_homa_app_recv ev = { .buf = (mtp_addr_t)(uintptr_t)buf, .len = len };
    HS_ASSERT((mtp_stack_post(H.s[host], MTPG_HOMA_EV_APP_RECV, k, &ev, sizeof ev,
                                 mtp_sim_now(H.w))) >= (0));
}

/* The server's side: a complete request is read, checked and answered. */
static inline void hs_serve(const struct hs_note *n)
{
    uint32_t ip;
    uint16_t port, lport;
    uint64_t id;
    hs_key_fields(&n->key, &ip, &port, &lport, &id);
    int i = (int)((id ^ 1) / 2) - 1;
    HS_ASSERT(i >= 0 && i < H.n_rpcs, "request for an RPC the test did not start");
    struct hs_rpc *r = &H.rpcs[i];
    HS_ASSERT((n->value) == (r->req_len), "request %d length", i);
    uint8_t *buf = malloc(r->req_len ? r->req_len : 1);
    hs_recv(hs_server(), &n->key, buf, r->req_len);
    if (memcmp(buf, r->req, r->req_len) != 0)
        H.bad_bytes++;
    free(buf);
    struct mtpg_homa_app_send ev = { .r = { ip, port, lport, id },
                                     .buf = (mtp_addr_t)(uintptr_t)r->resp,
                                     .len = r->resp_len };
    HS_ASSERT((mtp_stack_post(H.s[hs_server()], MTPG_HOMA_EV_APP_SEND, &n->key, &ev,
                                 sizeof ev, mtp_sim_now(H.w))) >= (0));
    H.requests_served++;
}

static inline void hs_client_note(const struct hs_note *n)
{
    uint32_t ip;
    uint16_t port, lport;
    uint64_t id;
    hs_key_fields(&n->key, &ip, &port, &lport, &id);
    int i = (int)(id / 2) - 1;
    HS_ASSERT(i >= 0 && i < H.n_rpcs);
    struct hs_rpc *r = &H.rpcs[i];
    if (n->code == MTPG_HOMA_NOTE_RPC_ERROR) {
        r->state = 3;
        r->err = n->value;
        H.failed++;
        return;
    }
    HS_ASSERT((n->code) == (MTPG_HOMA_NOTE_RESPONSE));
    HS_ASSERT((n->value) == (r->resp_len), "response %d length", i);
    hs_recv(n->host, &n->key, r->got, r->resp_len);
    if (memcmp(r->got, r->resp, r->resp_len) != 0)
        H.bad_bytes++;
    r->state = 2;
    r->end_ns = mtp_sim_now(H.w);
    H.done++;
    if (H.on_done)
        H.on_done(i);
}

/* The run's condition: hands the notes to the application, true when every RPC started
 * so far ended. */
static int hs_step(void *arg)
{
    (void)arg;
    for (int k = 0; k < H.n_notes; k++) {
        const struct hs_note *n = &H.notes[k];
        if (n->host == hs_server() && n->code == MTPG_HOMA_NOTE_REQUEST && H.hold)
            H.held = *n;
        else if (n->host == hs_server() && n->code == MTPG_HOMA_NOTE_REQUEST)
            hs_serve(n);
        else if (n->host != hs_server())
            hs_client_note(n);
    }
    H.n_notes = 0;
    return H.done + H.failed == H.started;
}

static inline int hs_run(uint64_t deadline_ns)
{
    return mtp_sim_run_until(H.w, H.s, H.n_hosts, hs_step, NULL, deadline_ns);
}

#endif
