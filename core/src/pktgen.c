/*
 * pktgen.c — blueprints: accepted from PKT_GEN with every data reference resolved to an
 * address (tx ring bytes stay pinned while referenced, paper App. D), coalesced against the
 * context's pending blueprints, queued in the scheduler, and generated one packet at a time
 * with segmentation rules applied.
 */
#include <stdlib.h>
#include <string.h>
#include "engine_internal.h"

static struct mtp_data data_get(const uint8_t *v, uint32_t off)
{
    struct mtp_data d;
    memcpy(&d, v + off, sizeof d);
    return d;
}

static void data_put(uint8_t *v, uint32_t off, const struct mtp_data *d)
{
    memcpy(v + off, d, sizeof *d);
}

static uint8_t *spill_copy(struct mtp_engine *e, struct mtp__bp *bp, const uint8_t *src,
                           uint32_t len, const uint8_t *ring, uint32_t ring_cap, uint64_t off)
{
    if (len > MTP__SPILL_BYTES)
        return NULL;
    struct mtp__spill *s = mtp__pool_alloc(&e->spill_pool);
    if (!s) {
        e->st->pool_exhausted++;
        return NULL;
    }
    s->next = bp->spill;
    bp->spill = s;
    if (ring)
        mtp__tx_unit_copy(ring, ring_cap, off, s->b, len);
    else if (src)
        memcpy(s->b, src, len);
    return s->b;
}

/* Resolves one data_t in place. `top`: the packet payload (kept as a ring reference, the
 * generator copies across the wrap); otherwise nested bytes must end up contiguous. */
static int resolve_data(struct mtp_engine *e, struct mtp__bp *bp, uint32_t off, int top)
{
    struct mtp_data d = data_get(bp->v, off);
    if (d.len == 0) {
        /* no bytes (a pure control packet, an unused frame slot): nothing to reference */
        d.addr = 0;
        data_put(bp->v, off, &d);
        return 0;
    }
    const uint8_t *addr;
    if (d.flags & MTP_DATA_FROM_UNIT) {
        struct mtp__unit *u = bp->ctx ? mtp__unit_find(bp->ctx, d.uid, 1) : NULL;
        if (!u)
            return MTP_ENOENT;
        struct mtp__tx_unit *tx = &u->u.tx;
        if (mtp__tx_unit_check(tx, d.off, d.len) < 0)
            return MTP_ERANGE;
        uint32_t contig = 0;
        addr = mtp__tx_unit_at(tx, d.off, &contig);
        if (top) {
            /* the generator copies across the wrap itself */
            bp->payload = tx->buf;
            bp->ring_cap = tx->cap;
            bp->pay_off = d.off;
            bp->pay_len = d.len;
        } else if (contig < d.len) {
            /* nested bytes must be contiguous for write_hdr: copy the wrapped range */
            addr = spill_copy(e, bp, NULL, d.len, tx->buf, tx->cap, d.off);
            if (!addr)
                return MTP_ENOBUFS;
        }
        if (top || contig >= d.len) {
            bp->refs[bp->n_refs].unit = tx;
            bp->refs[bp->n_refs].off = d.off;
            bp->n_refs++;
        }
    } else {
        /* bytes handed by address (e.g. a received payload): valid only during this call */
        if (!d.addr)
            return MTP_EINVAL;
        addr = spill_copy(e, bp, (const uint8_t *)(uintptr_t)d.addr, d.len, NULL, 0, 0);
        if (!addr)
            return MTP_ENOBUFS;
        if (top) {
            bp->payload = addr;
            bp->ring_cap = 0;
            bp->pay_off = 0;
            bp->pay_len = d.len;
        }
    }
    d.addr = (mtp_addr_t)(uintptr_t)addr;
    d.flags |= MTP_DATA_RESOLVED;
    data_put(bp->v, off, &d);
    return 0;
}

static void ctx_list_unlink(struct mtp__ctx_rt *rt, struct mtp__bp *bp)
{
    if (bp->c_prev)
        bp->c_prev->c_next = bp->c_next;
    else
        rt->bps = bp->c_next;
    if (bp->c_next)
        bp->c_next->c_prev = bp->c_prev;
    else
        rt->bps_tail = bp->c_prev;
    bp->c_next = bp->c_prev = NULL;
}

/* A unit's pin is the lowest offset any pending blueprint of its context references. */
static void unit_repin(struct mtp__ctx_rt *rt, struct mtp__tx_unit *tx)
{
    uint64_t pin = UINT64_MAX;
    for (struct mtp__bp *b = rt ? rt->bps : NULL; b; b = b->c_next)
        for (uint16_t i = 0; i < b->n_refs; i++)
            if (b->refs[i].unit == tx && b->refs[i].off < pin)
                pin = b->refs[i].off;
    tx->pin = pin;
}

void mtp__pktgen_release(struct mtp_engine *e, struct mtp__bp *bp)
{
    mtp__sched_remove(&e->sched, &bp->item);
    struct mtp__ctx_rt *rt = bp->ctx ? bp->ctx->rt : NULL;
    if (rt && (bp->c_prev || rt->bps == bp))
        ctx_list_unlink(rt, bp);
    for (uint16_t i = 0; i < bp->n_refs; i++) {
        unit_repin(rt, bp->refs[i].unit);
        mtp__tx_settle(e, bp->refs[i].unit);
    }
    while (bp->spill) {
        struct mtp__spill *s = bp->spill;
        bp->spill = s->next;
        mtp__pool_free(&e->spill_pool, s);
    }
    mtp__pool_free(&e->bp_pool, bp);
}

/* Applies the coalescing rules between the new blueprint and the pending ones of its
 * context, queue and destination (not yet started). Returns 1 if the new one was dropped. */
static int coalesce(struct mtp_engine *e, struct mtp__bp *nb)
{
    const struct mtp_program *p = e->prog;
    if (!nb->ctx || !p->n_coalesce || !nb->ctx->rt)
        return 0;
    struct mtp__bp *old = nb->ctx->rt->bps;
    while (old) {
        struct mtp__bp *next = old->c_next;
        /* never merges packets for different hosts, whatever the rule says (a listener's
         * context may hold blueprints for many peers) */
        if (old->queue == nb->queue && old->k == 0 && old->dst_ip == nb->dst_ip) {
            for (uint16_t r = 0; r < p->n_coalesce; r++) {
                const struct mtp_coalesce_desc *cd = &p->coalesce[r];
                if (cd->bp_older != old->bp || cd->bp_newer != nb->bp)
                    continue;
                int verdict = cd->decide(old->v, nb->v);
                if (verdict == MTP_COALESCE_DROP_NEWER) {
                    e->st->blueprints_coalesced++;
                    return 1;
                }
                if (verdict == MTP_COALESCE_DROP_OLDER) {
                    e->st->blueprints_coalesced++;
                    mtp__pktgen_release(e, old);
                    break;
                }
            }
        }
        old = next;
    }
    return 0;
}

/* A frame list too long for one packet: count the packets of whole frames it makes (the
 * generator cuts them again, the same way, one at a time). */
static int frames_split(struct mtp_engine *e, struct mtp__bp *bp, const struct mtp_bp_desc *bd)
{
    uint32_t room = e->cfg.mtu > 20 ? e->cfg.mtu - 20 : 0, first = 0, n = 0;
    for (;;) {
        memcpy(bp->area[0], bp->v, bd->size);
        uint32_t k = bd->frames_from(bp->area[0], first, room);
        if (k == 0)
            break;
        first += k;
        n++;
    }
    memcpy(bp->area[0], bp->v, bd->size);
    if (n == 0 || bd->frames_from(bp->area[0], first, UINT32_MAX) != 0)
        return MTP_EMSGSIZE; /* a frame larger than a packet */
    bp->split = 1;
    bp->seg = 0;
    bp->n_pkts = n;
    return 0;
}

static int bp_prepare(struct mtp_engine *e, struct mtp__bp *bp, const struct mtp_bp_desc *bd,
                      uint32_t max_seg)
{
    int err;
    bp->n_refs = 0;
    if (bd->data_off >= 0 && (err = resolve_data(e, bp, (uint32_t)bd->data_off, 1)) < 0)
        return err;
    if (bd->n_nested_data) {
        uint32_t off[MTP_NESTED_MAX];
        uint16_t n = bd->nested_data(bp->v, off);
        if (n > bd->n_nested_data)
            return MTP_EINVAL;
        for (uint16_t i = 0; i < n; i++) {
            if (off[i] > bd->size || bd->size - off[i] < sizeof(struct mtp_data))
                return MTP_EINVAL;
            if ((err = resolve_data(e, bp, off[i], 0)) < 0)
                return err;
        }
    }
    uint32_t hdr = bd->hdr_len(bp->v);
    bp->split = 0;
    bp->frame_next = 0;
    if (e->cfg.mtu < 20 + hdr && bd->frames_from && bd->data_off < 0)
        return frames_split(e, bp, bd);
    if (e->cfg.mtu < 20 + hdr)
        return MTP_EMSGSIZE;
    uint32_t room = e->cfg.mtu - 20 - hdr;
    bp->seg = max_seg && max_seg < room ? max_seg : room;
    if (bp->pay_len > 0 && bp->seg == 0)
        return MTP_EMSGSIZE;
    bp->n_pkts = bp->pay_len ? (bp->pay_len + bp->seg - 1) / bp->seg : 1;
    return 0;
}

int mtp__pktgen_create(struct mtp_engine *e, struct mtp__ctx *c, const struct mtp_instr *in,
                       const struct mtp_ibuf *b)
{
    const struct mtp_program *p = e->prog;
    if (in->u.gen.bp >= p->n_bps)
        return MTP_EINVAL;
    if (in->u.gen.srule != MTP_NONE &&
        (in->u.gen.srule >= p->n_srules || p->srules[in->u.gen.srule].bp != in->u.gen.bp))
        return MTP_EINVAL;
    const struct mtp_bp_desc *bd = &p->bps[in->u.gen.bp];
    if (in->arena_off > b->used || b->used - in->arena_off < bd->size)
        return MTP_EINVAL;
    struct mtp__ctx_rt *rt = NULL;
    if (c && !(rt = mtp__ctx_rt_get(e, c)))
        return MTP_ENOBUFS;
    struct mtp__bp *bp = mtp__pool_alloc(&e->bp_pool);
    if (!bp) {
        e->st->pool_exhausted++;
        return MTP_ENOBUFS;
    }
    uint8_t *base = (uint8_t *)bp + ((sizeof *bp + 15) & ~(size_t)15);
    bp->v = base;
    bp->area[0] = base + e->bp_area;
    bp->area[1] = base + 2 * e->bp_area;
    bp->refs = (struct mtp__pin_ref *)(base + 3 * e->bp_area);
    memcpy(bp->v, b->arena + in->arena_off, bd->size);
    bp->ctx = c;
    bp->bp = in->u.gen.bp;
    bp->srule = in->u.gen.srule;
    bp->queue = in->u.gen.queue < e->sched.n ? in->u.gen.queue : (uint16_t)(e->sched.n - 1);
    bp->tos = in->u.gen.tos;
    bp->dst_ip = in->u.gen.dst_ip;
    bp->src_ip = in->u.gen.src_ip ? in->u.gen.src_ip : e->cfg.local_ip;
    int err = bp_prepare(e, bp, bd, in->u.gen.max_seg);
    if (err < 0) {
        if (err == MTP_ENOENT || err == MTP_ERANGE || err == MTP_EINVAL)
            e->st->drop_data_ref++;
        bp->n_refs = 0; /* not linked yet: nothing to unpin */
        mtp__pktgen_release(e, bp);
        return err;
    }
    if (coalesce(e, bp)) {
        bp->n_refs = 0;
        mtp__pktgen_release(e, bp);
        return 0;
    }
    if (rt) {
        bp->c_prev = rt->bps_tail;
        if (rt->bps_tail)
            rt->bps_tail->c_next = bp;
        else
            rt->bps = bp;
        rt->bps_tail = bp;
        for (uint16_t i = 0; i < bp->n_refs; i++)
            if (bp->refs[i].off < bp->refs[i].unit->pin)
                bp->refs[i].unit->pin = bp->refs[i].off;
    }
    mtp__sched_enqueue(&e->sched, &bp->item, bp->queue, rt ? &rt->fq[bp->queue] : NULL);
    e->st->blueprints++;
    return 0;
}

static enum mtp_seg_pos seg_pos(uint32_t k, uint32_t n)
{
    if (n == 1)
        return MTP_SEG_ONLY;
    if (k == 0)
        return MTP_SEG_FIRST;
    return k + 1 == n ? MTP_SEG_LAST : MTP_SEG_MID;
}

/* How many packets of `bp`, from the next one, may leave as one super-packet of header
 * `hdr` (0 or 1: none). Only for an offset-linear rule on the very field the device
 * advances: every packet is then the first one's header with that field moved on, which
 * the device reproduces exactly. */
static uint32_t super_pkts(const struct mtp_engine *e, const struct mtp__bp *bp,
                           const struct mtp_bp_desc *bd, uint32_t hdr, uint32_t cap)
{
    const struct mtp_program *p = e->prog;
    if (!e->cfg.seg_max_bytes || bp->srule == MTP_NONE || p->ip_proto != e->cfg.seg_ip_proto ||
        bd->n_nested_data || bd->data_off < 0 || bp->k + 1 >= bp->n_pkts)
        return 0;
    const struct mtp_srule_desc *r = &p->srules[bp->srule];
    if (!r->linear_bytes || r->linear_bytes != e->cfg.seg_linear_bytes ||
        r->linear_hdr_off != e->cfg.seg_linear_off || r->linear_hdr_off + r->linear_bytes > hdr)
        return 0;
    uint32_t max = e->cfg.seg_max_bytes < cap ? e->cfg.seg_max_bytes : cap;
    if (max <= hdr)
        return 0;
    uint32_t n = (max - hdr) / bp->seg;
    uint32_t left = bp->n_pkts - bp->k;
    if (n > left)
        n = left;
    /* the last packet of the blueprint may be short: it fits if the full ones did */
    if (n == left - 1 && bp->pay_len - bp->done - (left - 1) * bp->seg <= (max - hdr) % bp->seg)
        n = left;
    return n;
}

/* Moves the packet state past packets k+1 .. k+n-1 of a super-packet (the rule runs for
 * each, so the next packet continues from the right field values). */
static void super_advance(struct mtp_engine *e, struct mtp__bp *bp, uint32_t n)
{
    const struct mtp_program *p = e->prog;
    const struct mtp_bp_desc *bd = &p->bps[bp->bp];
    for (uint32_t j = 1; j < n; j++) {
        uint32_t k = bp->k + j;
        uint8_t *cur = bp->area[k & 1];
        memcpy(cur, bp->v, bd->size);
        p->srules[bp->srule].apply(cur, bp->v, bp->area[(k - 1) & 1], bp->seg,
                                   seg_pos(k, bp->n_pkts));
    }
}

int mtp__pktgen_next(struct mtp_engine *e, uint8_t *buf, uint32_t cap,
                     struct mtp_tx_meta *meta, uint64_t now_ns)
{
    struct mtp__sq_item *it = mtp__sched_peek(&e->sched, now_ns);
    if (!it)
        return 0;
    struct mtp__bp *bp = (struct mtp__bp *)it;
    const struct mtp_program *p = e->prog;
    const struct mtp_bp_desc *bd = &p->bps[bp->bp];
    uint32_t slice = bp->pay_len - bp->done < bp->seg ? bp->pay_len - bp->done : bp->seg;
    uint8_t *cur = bp->area[bp->k & 1];
    const uint8_t *prev = bp->k ? bp->area[(bp->k - 1) & 1] : NULL;

    memcpy(cur, bp->v, bd->size);
    uint32_t frames = 0;
    if (bp->split)
        frames = bd->frames_from(cur, bp->frame_next, e->cfg.mtu - 20);
    if (bd->data_off >= 0 && bp->pay_len > 0) {
        struct mtp_data d = data_get(cur, (uint32_t)bd->data_off);
        d.off += bp->done;
        d.len = slice;
        d.addr = (mtp_addr_t)(uintptr_t)(bp->ring_cap
                                             ? bp->payload + (bp->pay_off + bp->done) % bp->ring_cap
                                             : bp->payload + bp->done);
        data_put(cur, (uint32_t)bd->data_off, &d);
    }
    if (bp->srule != MTP_NONE)
        p->srules[bp->srule].apply(cur, bp->v, prev, bp->prev_len, seg_pos(bp->k, bp->n_pkts));
    uint32_t hdr = bd->hdr_len(cur);
    uint32_t n_pkts = super_pkts(e, bp, bd, hdr, cap);
    if (n_pkts > 1) {
        uint32_t rest = bp->pay_len - bp->done;
        slice = n_pkts * bp->seg < rest ? n_pkts * bp->seg : rest;
    }
    if (n_pkts <= 1 && hdr + slice + 20 > e->cfg.mtu) {
        /* can never be sent (e.g. nested frames beyond the MTU): drop it, do not block the
         * queue behind it */
        e->st->instr_failed++;
        mtp__pktgen_release(e, bp);
        return MTP_EMSGSIZE;
    }
    if (hdr + slice > cap)
        return MTP_EMSGSIZE; /* the caller's buffer is short: kept for a bigger one */
    bd->write_hdr(cur, buf, slice);
    if (slice) {
        if (bp->ring_cap)
            mtp__tx_unit_copy(bp->payload, bp->ring_cap, bp->pay_off + bp->done, buf + hdr, slice);
        else
            memcpy(buf + hdr, bp->payload + bp->done, slice);
    }
    memset(meta, 0, sizeof *meta);
    meta->src_ip = bp->src_ip;
    meta->dst_ip = bp->dst_ip;
    meta->ip_proto = p->ip_proto;
    meta->tos = bp->tos;
    meta->l4_len = hdr + slice;
    meta->csum_off = bd->csum_off;
    meta->hdr_len = hdr;
    meta->n_pkts = 1;

    if (n_pkts > 1) {
        const struct mtp_srule_desc *r = &p->srules[bp->srule];
        meta->seg_size = bp->seg;
        meta->n_pkts = n_pkts;
        meta->linear_off = r->linear_hdr_off;
        meta->linear_bytes = r->linear_bytes;
        e->st->tx_super_frames++;
        e->st->tx_super_pkts += n_pkts;
        super_advance(e, bp, n_pkts);
        bp->done += slice;
        bp->prev_len = slice - (n_pkts - 1) * bp->seg;
        bp->k += n_pkts;
        /* pacing sees every wire packet: headers (L4 and IPv4) repeat in each */
        mtp__sched_charge(&e->sched, it, n_pkts * (hdr + 20) + slice, n_pkts);
        if (bp->k >= bp->n_pkts)
            mtp__pktgen_release(e, bp);
        return (int)(hdr + slice);
    }

    bp->done += slice;
    bp->prev_len = slice;
    bp->frame_next += frames;
    bp->k++;
    mtp__sched_charge(&e->sched, it, hdr + slice + 20, 1);
    if (bp->k >= bp->n_pkts)
        mtp__pktgen_release(e, bp);
    return (int)(hdr + slice);
}
