/* mtph.c — the protocol-free half of the analysis harness (see mtph.h). */
#include "mtph.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mtph_take(struct mtph_input *in, void *dst, size_t len)
{
    size_t k = len < in->n ? len : in->n;
    memcpy(dst, in->p, k);
    memset((uint8_t *)dst + k, 0, len - k);
    in->p += k;
    in->n -= k;
}

uint8_t mtph_take_u8(struct mtph_input *in)
{
    uint8_t v;
    mtph_take(in, &v, 1);
    return v;
}

uint64_t mtph_take_u64(struct mtph_input *in)
{
    uint64_t v;
    mtph_take(in, &v, sizeof v);
    return v;
}

void mtph_fix_bool(void *b)
{
    uint8_t v;
    memcpy(&v, b, 1);
    v &= 1;
    memcpy(b, &v, 1);
}

void (*mtph_on_fail)(void);

_Noreturn void mtph_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mtph: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (mtph_on_fail)
        mtph_on_fail();
    abort();
}

/* ------------------------------------------------------------ unit model */

struct mtph_unit mtph_units[MTPH_UNITS], mtph_rx_units[MTPH_UNITS];

/* tx and rx units are separate name spaces (uid 0 of each) */
static struct mtph_unit *unit_of(uint64_t uid, bool tx)
{
    return uid >= MTPH_UNITS ? NULL : tx ? &mtph_units[uid] : &mtph_rx_units[uid];
}

static struct mtph_unit *unit(uint64_t uid) { return unit_of(uid, true); }

uint64_t mtph_tx_appended(uint64_t uid) { return unit(uid) ? unit(uid)->appended : 0; }
uint64_t mtph_tx_acked(uint64_t uid) { return unit(uid) ? unit(uid)->acked : 0; }

static void bind(uint64_t uid, uint64_t v, bool appended)
{
    struct mtph_unit *u = unit(uid);
    if (!u)
        return;
    if (!u->known)
        *u = (struct mtph_unit){.known = true, .is_tx = true, .size = MTP_SIZE_INF};
    if (appended)
        u->appended = v;
    else
        u->acked = v;
}

void mtph_bind_appended(uint64_t uid, uint64_t v) { bind(uid, v, true); }
void mtph_bind_acked(uint64_t uid, uint64_t v) { bind(uid, v, false); }

void mtph_begin(struct mtph_run *r, struct mtph_input *in, void *const *globals)
{
    memset(mtph_units, 0, sizeof mtph_units);
    memset(mtph_rx_units, 0, sizeof mtph_rx_units);
    memset(&r->x, 0, sizeof r->x);
    memset(&r->b, 0, sizeof r->b);
    r->b.v = r->v;
    r->b.cap = MTPH_IBUF_CAP;
    r->b.arena = r->arena;
    r->b.arena_cap = MTPH_ARENA_BYTES;
    mtph_take(in, &r->key, sizeof r->key);
    r->x.out = &r->b;
    r->x.now_ns = mtph_take_u64(in);
    r->x.rng = mtph_take_u64(in);
    r->x.key = &r->key;
    r->x.globals = globals;
}

/* ------------------------------------------------------------ oracles */

static const char *op_name(unsigned op)
{
#define OP_NAME(o, h) #h,
    static const char *n[] = {MTP_OPS(OP_NAME)};
#undef OP_NAME
    return op < MTP_OP__COUNT ? n[op] : "?";
}

/* What the checks know while walking the buffer. */
struct walk {
    const struct mtp_program *p;
    struct mtph_run *r;
    int16_t ev_ctx;          /* the event's context type, -1 none */
    bool ctx_alive;          /* the event's context instance exists */
    bool deleted;            /* ... and was deleted by this chain */
    struct { uint16_t type; struct mtp_key key; } made[16]; /* new_ctx of this chain */
    int nmade;
};

static void need_ctx(struct walk *w, unsigned i, const struct mtp_instr *in)
{
    if (w->ctx_alive)
        return;
    mtph_fail("instruction %u (%s) acts on the event's context, which %s", i, op_name(in->op),
              w->deleted ? "this chain deleted (del_ctx)" : "does not exist (no instance, no new_ctx of it)");
}

static struct mtph_unit *known_unit(const struct mtp_instr *in, uint64_t uid, bool tx)
{
    struct mtph_unit *u = unit_of(uid, tx);
    return u && u->known && !(in->flags & MTP_IF_EXPLICIT) ? u : NULL;
}

static void check_payload(struct walk *w, unsigned i, const struct mtp_data *d)
{
    if (!(d->flags & MTP_DATA_FROM_UNIT) || d->len == 0)
        return;
    if (!w->ctx_alive)
        mtph_fail("instruction %u (pkt_gen): payload from unit %llu of a context that does not exist",
                  i, (unsigned long long)d->uid);
    struct mtph_unit *u = unit(d->uid);
    if (!u || !u->known)
        return;
    if (d->off < u->acked || d->off + d->len > u->appended || d->off + d->len < d->off)
        mtph_fail("instruction %u (pkt_gen): payload [%llu, %llu) of unit %llu is outside the "
                  "appended, unacknowledged bytes [%llu, %llu)",
                  i, (unsigned long long)d->off, (unsigned long long)(d->off + d->len),
                  (unsigned long long)d->uid, (unsigned long long)u->acked,
                  (unsigned long long)u->appended);
}

static void check_pkt_gen(struct walk *w, unsigned i, const struct mtp_instr *in)
{
    const struct mtp_program *p = w->p;
    if (in->u.gen.bp >= p->n_bps)
        mtph_fail("instruction %u (pkt_gen): blueprint %u of %u", i, in->u.gen.bp, p->n_bps);
    const struct mtp_bp_desc *bd = &p->bps[in->u.gen.bp];
    if (in->u.gen.srule != MTP_NONE &&
        (in->u.gen.srule >= p->n_srules || p->srules[in->u.gen.srule].bp != in->u.gen.bp))
        mtph_fail("instruction %u (pkt_gen): segmentation rule %u is not for blueprint %s", i,
                  in->u.gen.srule, bd->name);
    const uint8_t *bp = w->r->arena + in->arena_off;
    struct mtp_data d;
    if (bd->data_off >= 0) {
        memcpy(&d, bp + bd->data_off, sizeof d);
        check_payload(w, i, &d);
    }
    if (bd->nested_data) {
        uint32_t off[MTP_NESTED_MAX];
        uint16_t n = bd->nested_data(bp, off);
        for (unsigned k = 0; k < n && k < MTP_NESTED_MAX; k++) {
            memcpy(&d, bp + off[k], sizeof d);
            check_payload(w, i, &d);
        }
    }
}

static void check_timer(struct walk *w, unsigned i, const struct mtp_instr *in)
{
    const struct mtp_program *p = w->p;
    int type = w->ev_ctx;
    if (in->flags & MTP_IF_EXPLICIT) {
        type = in->ctx_type;
        if (in->ctx_type >= p->n_ctxs)
            mtph_fail("instruction %u (%s): context type %u of %u", i, op_name(in->op),
                      in->ctx_type, p->n_ctxs);
        bool made = p->ctxs[type].granularity == MTP_GRAN_GLOBAL;
        for (int k = 0; k < w->nmade && !made; k++)
            made = w->made[k].type == in->ctx_type &&
                   !memcmp(&w->made[k].key, &in->key, sizeof in->key);
        if (!made)
            mtph_fail("instruction %u (%s): a timer of a %s instance this chain did not create",
                      i, op_name(in->op), p->ctxs[type].name);
    } else {
        need_ctx(w, i, in);
    }
    if (type < 0 || in->u.timer.id >= p->ctxs[type].n_timers)
        mtph_fail("instruction %u (%s): timer %u is not a timer of context %s", i,
                  op_name(in->op), in->u.timer.id, type < 0 ? "(none)" : p->ctxs[type].name);
}

static void check_new_ctx(struct walk *w, unsigned i, const struct mtp_instr *in)
{
    const struct mtp_program *p = w->p;
    if (in->ctx_type >= p->n_ctxs || p->ctxs[in->ctx_type].granularity == MTP_GRAN_GLOBAL)
        mtph_fail("instruction %u (new_ctx): context type %u cannot be created", i, in->ctx_type);
    if (w->nmade < 16) {
        w->made[w->nmade].type = in->ctx_type;
        w->made[w->nmade++].key = in->key;
    }
    /* the event's own context made by the chain: later instructions act on it */
    if (in->ctx_type == w->ev_ctx && !memcmp(&in->key, &w->r->key, sizeof in->key)) {
        w->ctx_alive = true;
        w->deleted = false;
    }
}

static void check_units(struct walk *w, unsigned i, const struct mtp_instr *in)
{
    struct mtph_unit *u;
    switch (in->op) {
    case MTP_OP_NEW_RX_DATA:
    case MTP_OP_NEW_TX_DATA:
        need_ctx(w, i, in);
        if ((u = unit_of(in->u.unit.uid, in->op == MTP_OP_NEW_TX_DATA)) != NULL) {
            if (u->known && !(in->flags & MTP_IF_EXPLICIT))
                mtph_fail("instruction %u (%s): unit %llu exists already", i, op_name(in->op),
                          (unsigned long long)in->u.unit.uid);
            bool tx = in->op == MTP_OP_NEW_TX_DATA;
            bool msg = in->u.unit.size != MTP_SIZE_INF;
            *u = (struct mtph_unit){.known = true, .is_tx = tx, .message = msg,
                                    .size = in->u.unit.size,
                                    .appended = tx && msg && in->u.unit.addr ? in->u.unit.size : 0};
        }
        return;
    case MTP_OP_ADD_TX_DATA:
        need_ctx(w, i, in);
        if ((u = known_unit(in, in->u.seg.uid, true)) != NULL) {
            u->appended += in->u.seg.len;
        }
        return;
    case MTP_OP_TX_FLUSH:
        need_ctx(w, i, in);
        if ((u = known_unit(in, in->u.seg.uid, true)) != NULL) {
            if (u->acked + in->u.seg.len > u->appended)
                mtph_fail("instruction %u (tx_flush_and_notify): retires %u bytes of unit %llu, "
                          "which has %llu unacknowledged",
                          i, in->u.seg.len, (unsigned long long)in->u.seg.uid,
                          (unsigned long long)(u->appended - u->acked));
            u->acked += in->u.seg.len;
        }
        return;
    case MTP_OP_ADD_RX_SEG:
        need_ctx(w, i, in);
        if ((u = known_unit(in, in->u.seg.uid, false)) != NULL && u->message &&
            in->u.seg.off + in->u.seg.len > u->size)
            mtph_fail("instruction %u (add_rx_data_seg): bytes [%llu, %llu) outside message unit "
                      "%llu of %llu bytes",
                      i, (unsigned long long)in->u.seg.off,
                      (unsigned long long)(in->u.seg.off + in->u.seg.len),
                      (unsigned long long)in->u.seg.uid, (unsigned long long)u->size);
        return;
    case MTP_OP_RX_FLUSH:
        need_ctx(w, i, in);
        return;
    default: return;
    }
}

bool mtph_check(struct mtph_run *r, const struct mtp_program *p, uint16_t ev_type, bool has_ctx)
{
    if (r->x.assert_failures)
        mtph_fail("%u assert(s) failed in the chain of event %s", r->x.assert_failures,
                  p->events[ev_type].name);
    if (r->b.overflow)
        mtph_fail("the chain of event %s appends more than an instruction buffer holds (%u "
                  "instructions, %u arena bytes)",
                  p->events[ev_type].name, MTPH_IBUF_CAP, MTPH_ARENA_BYTES);
    struct walk w = {.p = p, .r = r, .ev_ctx = p->events[ev_type].ctx_type, .ctx_alive = has_ctx};
    for (unsigned i = 0; i < r->b.n; i++) {
        const struct mtp_instr *in = &r->b.v[i];
        switch (in->op) {
        case MTP_OP_PKT_GEN: check_pkt_gen(&w, i, in); break;
        case MTP_OP_TIMER_START:
        case MTP_OP_TIMER_STOP: check_timer(&w, i, in); break;
        case MTP_OP_NEW_CTX: check_new_ctx(&w, i, in); break;
        case MTP_OP_DEL_CTX:
            if (!(in->flags & MTP_IF_EXPLICIT)) {
                need_ctx(&w, i, in);
                w.ctx_alive = false;
                w.deleted = true;
            }
            break;
        case MTP_OP_SET_QUEUE_RATE:
        case MTP_OP_SET_QUEUE_PRIO:
            if (p->sched ? in->u.sched.queue >= p->sched->n_queues : in->u.sched.queue != 0)
                mtph_fail("instruction %u (%s): queue %u does not exist", i, op_name(in->op),
                          in->u.sched.queue);
            break;
        case MTP_OP_NOTIFY: break;
        default:
            if (in->op >= MTP_OP__COUNT)
                mtph_fail("instruction %u: opcode %u", i, in->op);
            check_units(&w, i, in);
        }
    }
    return has_ctx && w.ctx_alive;
}

/* ------------------------------------------------------------ parser */

void mtph_parse(const struct mtp_program *p, const uint8_t *d, size_t n)
{
    if (!p->parse || n < 12)
        return;
    struct mtp_rx_pkt pkt;
    memset(&pkt, 0, sizeof pkt);
    memcpy(&pkt.ip.src, d, 4);
    memcpy(&pkt.ip.dst, d + 4, 4);
    pkt.ip.tos = d[8];
    pkt.ip.ttl = d[9];
    pkt.ip.proto = p->ip_proto;
    pkt.ip.hdr_len = 20;
    pkt.l4_len = (uint32_t)(n - 12);
    pkt.ip.total_len = (uint16_t)(pkt.l4_len + 20);
    /* exactly the packet's bytes: ASan reports a read past them */
    uint8_t *l4 = malloc(pkt.l4_len ? pkt.l4_len : 1);
    if (!l4)
        abort();
    memcpy(l4, d + 12, pkt.l4_len);
    pkt.l4 = l4;
    struct mtp_event ev[8];
    struct mtp_evsink sink = {.v = ev, .cap = 8};
    int rc = p->parse(&pkt, &sink);
    free(l4);
    if (rc != MTP_PARSE_OK && rc != MTP_PARSE_MALFORMED)
        mtph_fail("the parser returned %d", rc);
    for (uint32_t i = 0; i < sink.n; i++) {
        if (ev[i].type >= p->n_events)
            mtph_fail("the parser produced event type %u of %u", ev[i].type, p->n_events);
        const struct mtp_event_desc *e = &p->events[ev[i].type];
        if (e->kind == MTP_EV_TIMER)
            mtph_fail("the parser produced timer event %s", e->name);
        if (ev[i].len != e->size)
            mtph_fail("the parser produced event %s of %u bytes, not %u", e->name, ev[i].len,
                      e->size);
    }
}
