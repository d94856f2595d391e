/*
 * sema_wire.c — wire layouts: bit offsets and sizes of net headers, options, option lists and
 * unions, blueprints and frames, and the checks that keep them byte-aligned and bounded.
 */
#include "sema.h"

/* Fixed-size prefix of a wire record: integers, bit runs, csum16 and wire structs. */
void layout_wire(Decl *d)
{
    int bit = 0;
    bool fixed = true;
    int run_start = -1;
    d->wire_ok = true;
    for (Field *f = d->fields; f; f = f->next) {
        Type *t = f->ty;
        int w = ty_wire_bits(t);
        if (t->kind == TY_BIT) {
            if (!fixed)
                mtpc_error_at(f->name, "bit fields must precede variable-size fields");
            if (run_start < 0)
                run_start = bit;
        } else if (run_start >= 0) {
            if ((bit - run_start) % 8)
                mtpc_error_at(f->name, "bit fields before '%.*s' do not fill whole bytes",
                              f->name->len, f->name->loc);
            if (bit - run_start > 64)
                mtpc_error_at(f->name, "a run of bit fields is longer than 64 bits");
            run_start = -1;
        }
        if (w > 0 && t->kind != TY_BIT && t->kind == TY_REC && !t->rec->wire_ok)
            w = 0;
        if (w > 0) {
            if (bit + w > 65535 * 8 && d->kind == D_STRUCT) {
                d->wire_ok = false; /* fine in memory, too long for a header */
                return;
            }
            if (bit + w > 65535 * 8)
                mtpc_error_at(f->name, "'%.*s' makes the header longer than 65535 bytes",
                              f->name->len, f->name->loc);
            if (!fixed && d->kind == D_BP && (t->kind == TY_INT || t->kind == TY_BOOL)) {
                /* read and written in order after the variable-size fields (a frame) */
                d->seq = true;
                f->wire_bits = w;
                continue;
            }
            if (!fixed && d->kind != D_OPT)
                mtpc_error_at(f->name, "fixed-size field '%.*s' after a variable-size field",
                              f->name->len, f->name->loc);
            f->fixed = fixed;
            f->bit_off = bit;
            f->wire_bits = w;
            if (t->kind == TY_CSUM) {
                if (bit % 8)
                    mtpc_error_at(f->name, "checksum field must start on a byte");
                if (d->csum_off >= 0)
                    mtpc_error_at(f->name, "a blueprint has at most one checksum");
                d->csum_off = bit / 8;
            }
            bit += w;
            continue;
        }
        /* variable-size fields */
        if (t->kind == TY_INT && t->varint && d->kind == D_BP) {
            d->seq = true;
            fixed = false;
            continue;
        }
        if (t->kind == TY_DATA) {
            if (d->kind != D_BP)
                mtpc_error_at(f->name, "data_t on the wire only in blueprints");
            d->data_field = f;
            fixed = false;
            continue;
        }
        if (t->kind == TY_REC && t->rec->kind == D_OPTLIST) {
            fixed = false;
            continue;
        }
        if (t->kind == TY_LIST && t->elem->kind == TY_REC &&
            (t->elem->rec->kind == D_BP || t->elem->rec->kind == D_FRAMEUNION)) {
            if (d->kind != D_BP)
                mtpc_error_at(f->name, "nested blueprints only in blueprints");
            d->has_nested = true;
            fixed = false;
            continue;
        }
        if (t->kind == TY_LIST && d->kind == D_BP &&
            (ty_is_scalar(t->elem) || (t->elem->kind == TY_REC && t->elem->rec->kind == D_STRUCT))) {
            /* a counted list (checked by link_counted_lists) */
            d->seq = true;
            fixed = false;
            continue;
        }
        if (t->kind == TY_LIST && d->kind == D_OPT && ty_wire_bits(t->elem) > 0 && !f->next) {
            fixed = false;
            continue;
        }
        if (d->kind == D_STRUCT) {
            d->wire_ok = false;
            return;
        }
        mtpc_error_at(f->ty->tok, "a %s field cannot be sent or received", type_name(t));
    }
    if (run_start >= 0 && (bit - run_start) % 8)
        mtpc_error_at(d->name, "bit fields at the end of '%.*s' do not fill whole bytes",
                      d->name->len, d->name->loc);
    if (run_start >= 0 && bit - run_start > 64)
        mtpc_error_at(d->name, "a run of bit fields at the end of '%.*s' is longer than 64 bits",
                      d->name->len, d->name->loc);
    d->fixed_bytes = bit / 8;
}

void check_bp_inits(Decl *d)
{
    cur_field_scope = d;
    for (Field *f = d->fields; f; f = f->next) {
        if (!f->init)
            continue;
        check_value(f->init);
        check_assignable(f->init->tok, f->ty, f->init->ty);
        if (d->kind != D_BP && !mtpc_is_const(sema_prog, f->init))
            mtpc_error_at(f->init->tok, "initialisers must be constant expressions");
    }
    cur_field_scope = NULL;
}

bool names_hdr_len(Expr *e)
{
    if (!e)
        return false;
    if (e->kind == E_IDENT && e->res == R_HDR_LEN)
        return true;
    if (names_hdr_len(e->lhs) || names_hdr_len(e->rhs) || names_hdr_len(e->cond))
        return true;
    for (int i = 0; i < e->nargs; i++)
        if (names_hdr_len(e->args[i]))
            return true;
    return false;
}

bool names_len(Expr *e)
{
    if (!e)
        return false;
    if (e->kind == E_IDENT && (e->res == R_HDR_LEN || e->res == R_PAYLOAD_LEN))
        return true;
    if (names_len(e->lhs) || names_len(e->rhs) || names_len(e->cond))
        return true;
    for (int i = 0; i < e->nargs; i++)
        if (names_len(e->args[i]))
            return true;
    return false;
}

void check_opt(Decl *d)
{
    layout_wire(d);
    Field *k = d->fields;
    if (!k || k->ty->kind != TY_INT || k->ty->bits != 8 || !k->init ||
        !mtpc_is_const(sema_prog, k->init))
        mtpc_error_at(d->name, "the first field of an option must be 'uint8 kind = constant'");
    d->opt_kind = mtpc_const_eval(sema_prog, k->init);
    if (d->opt_kind < 0 || d->opt_kind > 255)
        mtpc_error_at(k->init->tok, "option kind must be 0..255");
    d->one_byte = !k->next;
    if (k->next && (k->next->ty->kind != TY_INT || k->next->ty->bits != 8))
        mtpc_error_at(k->next->name, "the second field of an option must be 'uint8' (its length)");
    for (Field *f = d->fields; f; f = f->next)
        if (f->ty->kind == TY_BIT)
            mtpc_error_at(f->name, "bit fields are not supported in options");
}

void check_optunion(Decl *d)
{
    d->opts = mtpc_calloc((size_t)d->nmembers, sizeof(Decl *));
    for (int i = 0; i < d->nmembers; i++) {
        d->opts[i] = expect_decl(d->members[i], D_OPT, "opt_t");
        for (int j = 0; j < i; j++)
            if (d->opts[j]->opt_kind == d->opts[i]->opt_kind)
                mtpc_error_at(d->members[i], "options '%.*s' and '%.*s' have the same kind",
                              d->members[j]->len, d->members[j]->loc, d->members[i]->len,
                              d->members[i]->loc);
    }
    if (!d->nmembers)
        mtpc_error_at(d->name, "an opt_union needs at least one option");
}

void check_optlist(Decl *d)
{
    d->uni = expect_decl(d->union_name, D_OPTUNION, "opt_union");
    d->capacity = const_in_range(d->ol_capacity, 1, 64, "capacity");
    d->align = d->ol_align ? const_in_range(d->ol_align, 1, 16, "align") : 1;
}

/* An option area's length is computed from the fixed header, before anything else. */
static void check_fixed_refs(Expr *e)
{
    if (!e)
        return;
    if (e->kind == E_IDENT && (e->res == R_HDR_LEN || e->res == R_PAYLOAD_LEN))
        mtpc_error_at(e->tok, "an option area's length cannot use '%.*s'", e->name->len,
                      e->name->loc);
    if (e->kind == E_IDENT && e->res == R_BP_FIELD && !e->field->fixed)
        mtpc_error_at(e->tok, "an option area's length can only read fixed header fields");
    check_fixed_refs(e->lhs);
    check_fixed_refs(e->rhs);
    check_fixed_refs(e->cond);
    for (int i = 0; i < e->nargs; i++)
        check_fixed_refs(e->args[i]);
}

/* opt_list lengths are expressions over the blueprint that holds the list */
void check_optlist_uses(Decl *bp)
{
    for (Field *f = bp->fields; f; f = f->next) {
        if (f->ty->kind != TY_REC || f->ty->rec->kind != D_OPTLIST)
            continue;
        Decl *ol = f->ty->rec;
        if (ol->bp && ol->bp != bp)
            mtpc_error_at(f->ty->tok, "opt_list '%.*s' is already used by blueprint '%.*s'",
                          ol->name->len, ol->name->loc, ol->bp->name->len, ol->bp->name->loc);
        ol->bp = bp;
        cur_field_scope = bp;
        check_value(ol->ol_length);
        check_scalar(ol->ol_length);
        cur_field_scope = NULL;
        check_fixed_refs(ol->ol_length);
    }
}
