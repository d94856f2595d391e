/*
 * sema_expr.c — expression checking: names and fields resolved, types computed (constant
 * expressions typed by their value), calls of builtins checked by their families in
 * builtins.h, methods of lists and windows, record literals.
 */
#include "sema.h"

Fn no_fn; /* outside any function: constants, initialisers */
Fn *fn = &no_fn;

static Type *rec_type(Decl *d, Token *t)
{
    Type *ty = mtpc_calloc(1, sizeof *ty);
    ty->kind = TY_REC;
    ty->rec = d;
    ty->tok = t;
    return ty;
}

static Var *lookup_var(const Token *t)
{
    for (Var *v = fn ? fn->scope : NULL; v; v = v->next)
        if (v->name->len == t->len && !memcmp(v->name->loc, t->loc, (size_t)t->len))
            return v;
    return NULL;
}

void declare_var(Var *v)
{
    if (lookup_var(v->name))
        mtpc_error_at(v->name, "duplicate declaration of '%.*s'", v->name->len, v->name->loc);
    Decl *g = find_decl_tok(v->name);
    if (g && (g->kind == D_CONST || g->kind == D_PARAM))
        mtpc_error_at(v->name, "'%.*s' is already declared as a %s", v->name->len, v->name->loc,
                      decl_kind_name(g->kind));
    v->next = fn->scope;
    fn->scope = v;
}

void need_exec(const Token *t, const char *what)
{
    if (!fn || !fn->decl || fn->decl->kind == D_PARSER || fn->decl->kind == D_COALESCE ||
        fn->decl->kind == D_INVARIANT || fn->in_srule)
        mtpc_error_at(t, "%s is only allowed in processors and functions", what);
    if (fn->decl->kind == D_FUNC)
        fn->decl->uses_exec = true;
}

static void add_callee(Decl *callee)
{
    Decl *d = fn->decl;
    for (int i = 0; i < d->ncallees; i++)
        if (d->callees[i] == callee)
            return;
    Decl **v = mtpc_calloc((size_t)d->ncallees + 1, sizeof *v);
    if (d->ncallees)
        memcpy(v, d->callees, (size_t)d->ncallees * sizeof *v);
    v[d->ncallees++] = callee;
    d->callees = v;
}

/* The variable an lvalue expression is rooted at, or NULL. */
Var *lvalue_root(Expr *e)
{
    switch (e->kind) {
    case E_IDENT: return e->res == R_VAR ? e->var : NULL;
    case E_FIELD:
    case E_INDEX: return lvalue_root(e->lhs);
    default: return NULL;
    }
}

void check_lvalue(Expr *e)
{
    if (e->kind != E_IDENT && e->kind != E_FIELD && e->kind != E_INDEX)
        mtpc_error_at(e->tok, "cannot assign to this expression");
    if (e->kind == E_FIELD && e->lhs->ty->kind == TY_DATA && !tok_is(e->name, "len") &&
        !tok_is(e->name, "addr") && !tok_is(e->name, "uid") && !tok_is(e->name, "off"))
        mtpc_error_at(e->tok, "cannot assign to this expression");
    Var *v = lvalue_root(e);
    if (!v)
        mtpc_error_at(e->tok, "cannot assign to '%.*s'", e->tok->len, e->tok->loc);
    if (v->is_const)
        mtpc_error_at(e->tok, "cannot assign to event '%.*s': events are read-only in processors",
                      v->name->len, v->name->loc);
    if (v->is_readonly)
        mtpc_error_at(e->tok, "cannot assign to '%.*s': it is read-only", v->name->len,
                      v->name->loc);
    if (v->is_pkt || v->is_ip)
        mtpc_error_at(e->tok, "cannot assign to '%.*s'", v->name->len, v->name->loc);
    for (int i = 0; i < fn->nfrozen; i++)
        if (fn->frozen[i] == v && e->kind == E_IDENT)
            mtpc_error_at(e->tok, "loop without a static bound: '%.*s' is assigned in the body",
                          v->name->len, v->name->loc);
    if (e->ty->kind == TY_TIMER)
        mtpc_error_at(e->tok, "cannot assign to a timer");
}

static Expr *check_args_count(Expr *e, int lo, int hi)
{
    if (e->nargs < lo || e->nargs > hi) {
        if (lo == hi)
            mtpc_error_at(e->tok, "'%.*s' takes %d argument%s", e->name->len, e->name->loc, lo,
                          lo == 1 ? "" : "s");
        mtpc_error_at(e->tok, "'%.*s' takes %d to %d arguments", e->name->len, e->name->loc, lo,
                      hi);
    }
    if (e->named && (e->builtin != B_PKT_GEN))
        mtpc_error_at(e->named->name, "'%.*s' takes no named arguments", e->name->len,
                      e->name->loc);
    return e;
}

static void check_scalar_args(Expr *e, int from)
{
    for (int i = from; i < e->nargs; i++) {
        check_expr(e->args[i]);
        check_scalar(e->args[i]);
    }
}

static Decl *type_arg(Expr *a, const char *what)
{
    if (a->kind != E_IDENT)
        mtpc_error_at(a->tok, "expected a %s name", what);
    Decl *d = find_decl_tok(a->name);
    if (!d)
        mtpc_error_at(a->tok, "unknown %s '%.*s'", what, a->name->len, a->name->loc);
    a->res = R_TYPE;
    a->decl = d;
    return d;
}

/* timer argument: ctx.t or c.t where c is a local context value */
static void check_timer_arg(Expr *a)
{
    check_expr(a);
    if (a->ty->kind != TY_TIMER || a->kind != E_FIELD || a->lhs->kind != E_IDENT ||
        a->lhs->res != R_VAR)
        mtpc_error_at(a->tok, "expected a timer of a context (ctx.timer)");
    Var *v = a->lhs->var;
    if (v->role != PROLE_CTX && v->role != PROLE_GLOBAL && !v->is_ptr &&
        !(v->ty->kind == TY_REC && v->ty->rec->kind == D_CONTEXT))
        mtpc_error_at(a->tok, "expected a timer of a context (ctx.timer)");
    if (fn->decl->kind == D_FUNC && v->is_ptr && v->ty->rec->gran != GRAN_GLOBAL)
        v->timer_used = true;
}

/* Calls to functions, checked at the end: a function that starts or stops timers through a
 * context parameter must be given the processor's own context (its timers need no explicit
 * id), not a local context value. */
Expr **calls;
int ncalls, calls_cap;

static void record_call(Expr *e)
{
    if (ncalls == calls_cap) {
        calls_cap = calls_cap ? 2 * calls_cap : 64;
        Expr **v = mtpc_calloc((size_t)calls_cap, sizeof *v);
        if (ncalls)
            memcpy(v, calls, (size_t)ncalls * sizeof *v);
        calls = v;
    }
    calls[ncalls++] = e;
}

void check_timer_params(void)
{
    bool changed = true;
    for (int round = 0; changed && round < 1000; round++) {
        changed = false;
        for (int i = 0; i < ncalls; i++) {
            int k = 0;
            for (Param *p = calls[i]->decl->params; p; p = p->next, k++) {
                Expr *a = calls[i]->args[k];
                if (!p->var->timer_used || a->kind != E_IDENT || a->res != R_VAR)
                    continue;
                Var *v = a->var;
                if (!v->is_ptr)
                    mtpc_error_at(a->tok, "'%.*s' starts timers of its context parameter '%.*s': "
                                          "pass the processor's own context, not a local value",
                                  calls[i]->decl->name->len, calls[i]->decl->name->loc,
                                  p->name->len, p->name->loc);
                if (v->role != PROLE_CTX && !v->timer_used) {
                    v->timer_used = true;
                    changed = true;
                }
            }
        }
    }
}

/* The builtins of builtins.h: name, arguments and the family check of each. */
typedef void (*BuiltinCheck)(Expr *e, int lo, int hi);
#define MTPC_B_CHECK_DECL(name, id, lo, hi, kind, ...) static void check_b_##kind(Expr *, int, int);
#define MTPC_B_ROW(name, id, lo, hi, kind, ...) {#name, B_##id, lo, hi, check_b_##kind},
MTPC_VALUE_BUILTINS(MTPC_B_CHECK_DECL)
MTPC_INSTR_BUILTINS(MTPC_B_CHECK_DECL)
static const struct { const char *name; int b; int lo, hi; BuiltinCheck check; } builtins[] = {
    MTPC_VALUE_BUILTINS(MTPC_B_ROW) MTPC_INSTR_BUILTINS(MTPC_B_ROW)
};
#undef MTPC_B_CHECK_DECL
#undef MTPC_B_ROW

static int builtin_index(const Token *t)
{
    for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
        if (tok_is(t, builtins[i].name))
            return (int)i;
    return -1;
}

int builtin_of(const Token *t)
{
    int i = builtin_index(t);
    return i < 0 ? B_NONE : builtins[i].b;
}

static Type *int_result(Type *a, Type *b)
{
    int ba = a->kind == TY_INT ? a->bits : a->kind == TY_ADDR ? 64 : 32;
    int bb = b->kind == TY_INT ? b->bits : b->kind == TY_ADDR ? 64 : 32;
    return (ba > bb ? ba : bb) > 32 ? &ty_u64 : &ty_u32;
}

static void check_pkt_gen(Expr *e)
{
    if (e->nargs != 1)
        mtpc_error_at(e->tok, "pkt_gen takes a blueprint and named arguments");
    Expr *b = check_expr(e->args[0]);
    if (b->ty->kind != TY_REC || b->ty->rec->kind != D_BP)
        mtpc_error_at(b->tok, "type mismatch: pkt_gen needs a blueprint, not %s",
                      type_name(b->ty));
    if (b->ty->rec->seq)
        mtpc_error_at(b->tok, "'%.*s' has variable-length fields: it can only be sent as a frame",
                      b->ty->rec->name->len, b->ty->rec->name->loc);
    bool has_dst = false;
    for (NamedArg *a = e->named; a; a = a->next) {
        for (NamedArg *o = e->named; o != a; o = o->next)
            if (o->name->len == a->name->len && !memcmp(o->name->loc, a->name->loc,
                                                         (size_t)a->name->len))
                mtpc_error_at(a->name, "duplicate argument '%.*s'", a->name->len, a->name->loc);
        if (tok_is(a->name, "seg")) {
            if (a->val->kind != E_IDENT)
                mtpc_error_at(a->val->tok, "seg = needs a seg_rule name");
            Decl *r = expect_decl(a->val->name, D_SEGRULE, "seg_rule");
            a->val->res = R_SRULE;
            a->val->decl = r;
            if (r->bp != b->ty->rec)
                mtpc_error_at(a->val->tok, "seg_rule '%.*s' is for blueprint '%.*s'",
                              r->name->len, r->name->loc, r->bp->name->len, r->bp->name->loc);
            continue;
        }
        if (!tok_is(a->name, "dst") && !tok_is(a->name, "src") && !tok_is(a->name, "mss") &&
            !tok_is(a->name, "queue") && !tok_is(a->name, "tos"))
            mtpc_error_at(a->name, "unknown pkt_gen argument '%.*s' (dst, seg, mss, queue, tos, src)",
                          a->name->len, a->name->loc);
        if (tok_is(a->name, "dst"))
            has_dst = true;
        check_expr(a->val);
        check_scalar(a->val);
    }
    if (!has_dst)
        mtpc_error_at(e->tok, "pkt_gen needs 'dst = address'");
}

static void check_produce(Expr *e)
{
    Expr *ev = check_expr(e->args[0]);
    if (ev->ty->kind != TY_REC || ev->ty->rec->kind != D_EVENT)
        mtpc_error_at(ev->tok, "type mismatch: produce needs an event, not %s",
                      type_name(ev->ty));
    if (ev->ty->rec->ev_kind == EVK_TIMER)
        mtpc_error_at(ev->tok, "a parser cannot produce timer event '%.*s'",
                      ev->ty->rec->name->len, ev->ty->rec->name->loc);
    if (e->nargs == 2) {
        Expr *id = check_expr(e->args[1]);
        if (id->ty->kind != TY_REC || id->ty->rec->kind != D_FLOWID)
            mtpc_error_at(id->tok, "type mismatch: a context id must be a flow_id, not %s",
                          type_name(id->ty));
        Decl *c = ev->ty->rec->ev_ctx;
        if (c && c->key && c->key != id->ty->rec)
            mtpc_error_at(id->tok,
                          "type mismatch: event '%.*s' runs on context '%.*s', whose id is '%.*s'",
                          ev->ty->rec->name->len, ev->ty->rec->name->loc, c->name->len,
                          c->name->loc, c->key->name->len, c->key->name->loc);
    }
}

/* A counted list element: integers, varints and bools only, sent in order. */
static bool seq_elem_ok(const Type *t)
{
    if (t->kind == TY_INT || t->kind == TY_BOOL)
        return true;
    if (t->kind != TY_REC || t->rec->kind != D_STRUCT || !t->rec->fields)
        return false;
    for (Field *f = t->rec->fields; f; f = f->next)
        if (f->ty->kind != TY_INT && f->ty->kind != TY_BOOL)
            return false;
    return true;
}

/* A list field of a blueprint (not a frame list) is counted: an earlier field initialised to
 * `len(list)` carries its length on the wire. */
void link_counted_lists(Decl *d)
{
    for (Field *f = d->fields; f; f = f->next) {
        if (f->ty->kind != TY_LIST || f->fixed || (f->ty->elem->kind == TY_REC &&
            (f->ty->elem->rec->kind == D_BP || f->ty->elem->rec->kind == D_FRAMEUNION)))
            continue;
        if (!seq_elem_ok(f->ty->elem))
            mtpc_error_at(f->ty->tok, "a list on the wire holds integers, varints, bools or structs of them");
        for (Field *g = d->fields; g != f; g = g->next) {
            Expr *i = g->init;
            if (i && i->kind == E_CALL && i->builtin == B_LEN && i->args[0]->kind == E_IDENT &&
                i->args[0]->res == R_BP_FIELD && i->args[0]->field == f && g->ty->kind == TY_INT) {
                f->count = g;
                g->counts = true;
            }
        }
        if (!f->count)
            mtpc_error_at(f->name, "list field '%.*s' needs an earlier integer field initialised to len(%.*s)",
                          f->name->len, f->name->loc, f->name->len, f->name->loc);
    }
    for (Field *f = d->fields; f && d->seq; f = f->next)
        if (f->init && names_hdr_len(f->init))
            mtpc_error_at(f->init->tok, "a blueprint with variable-length fields cannot depend on hdr_len");
}

/* A frame (a blueprint in a frame list or frame_union) starts with its type selector, an
 * integer with a constant initialiser; its data_t, if any, is last. Variable-length fields
 * (varints, counted lists) are read in order; a frame holds no frames itself. */
static void check_frame(Decl *fr, const Token *at)
{
    Field *sel = fr->fields;
    if (!sel || sel->ty->kind != TY_INT || !sel->fixed || !sel->init ||
        !mtpc_is_const(sema_prog, sel->init))
        mtpc_error_at(at, "frame '%.*s' needs a first field 'uintN type = constant'",
                      fr->name->len, fr->name->loc);
    fr->opt_kind = mtpc_const_eval(sema_prog, sel->init);
    fr->is_frame = true;
    for (Field *g = fr->fields; g; g = g->next) {
        if (g->ty->kind == TY_DATA && g->next)
            mtpc_error_at(at, "frame '%.*s': its data_t must be its last field", fr->name->len,
                          fr->name->loc);
        if (g->ty->kind == TY_REC && g->ty->rec->kind == D_OPTLIST)
            mtpc_error_at(at, "frame '%.*s' has a field that cannot be extracted: '%.*s'",
                          fr->name->len, fr->name->loc, g->name->len, g->name->loc);
    }
    if (fr->has_nested)
        for (Field *g = fr->fields; g; g = g->next)
            if (g->ty->kind == TY_LIST && g->ty->elem->kind == TY_REC &&
                (g->ty->elem->rec->kind == D_BP || g->ty->elem->rec->kind == D_FRAMEUNION))
                mtpc_error_at(at, "frame '%.*s' has a field that cannot be extracted: '%.*s'",
                              fr->name->len, fr->name->loc, g->name->len, g->name->loc);
}

/* A frame_union: frames told apart by their one-byte type selector. */
void check_frameunion(Decl *d)
{
    if (!d->nmembers)
        mtpc_error_at(d->name, "a frame_union needs at least one frame");
    for (int i = 0; i < d->nmembers; i++) {
        Decl *m = d->opts[i];
        check_frame(m, d->members[i]);
        if (m->fields->ty->bits != 8 || m->fields->ty->is_signed || m->opt_kind < 0 ||
            m->opt_kind > 255)
            mtpc_error_at(d->members[i], "frame '%.*s' in a frame_union needs a first field 'uint8 type = 0..255'",
                          m->name->len, m->name->loc);
        for (int j = 0; j < i; j++)
            if (d->opts[j]->opt_kind == m->opt_kind)
                mtpc_error_at(d->members[i], "frames '%.*s' and '%.*s' have the same type",
                              d->members[j]->len, d->members[j]->loc, d->members[i]->len,
                              d->members[i]->loc);
    }
}

/* A list of nested frames is extracted frame by frame up to the end of the packet. Each frame
 * blueprint starts with its type selector (an integer with a constant initialiser, checked on
 * receive), has only fixed fields before its optional data_t, and its data length is the field
 * initialised to `payload_len` (none: the frame's data is the rest of the packet). */
static void check_frames_extractable(Decl *bp, Expr *at)
{
    for (Field *f = bp->fields; f; f = f->next) {
        if (f->ty->kind != TY_LIST || f->ty->elem->kind != TY_REC ||
            (f->ty->elem->rec->kind != D_BP && f->ty->elem->rec->kind != D_FRAMEUNION))
            continue;
        for (Field *g = f->next; g; g = g->next)
            if (g->ty->kind == TY_LIST && g->ty->elem->kind == TY_REC &&
                (g->ty->elem->rec->kind == D_BP || g->ty->elem->rec->kind == D_FRAMEUNION))
                mtpc_error_at(at->tok, "a blueprint with more than one frame list cannot be extracted: "
                              "frames run to the end of the packet");
        if (f->next)
            mtpc_error_at(at->tok, "the nested frame list must be the last field to be extracted");
        if (f->ty->elem->rec->kind == D_BP)
            check_frame(f->ty->elem->rec, at->tok);
    }
}

/* ---- the builtin families of builtins.h (lo, hi: the row's argument counts) */

static void check_b_now(Expr *e, int lo, int hi)
{
    check_args_count(e, lo, hi);
    need_exec(e->tok, "now()");
    e->ty = &ty_u64;
}

static void check_b_rand32(Expr *e, int lo, int hi)
{
    check_args_count(e, lo, hi);
    need_exec(e->tok, "rand32()");
    e->ty = &ty_u32;
}

static void check_b_minmax(Expr *e, int lo, int hi)
{
    check_args_count(e, lo, hi);
    check_scalar_args(e, 0);
    e->ty = int_result(e->args[0]->ty, e->args[1]->ty);
    if (e->args[0]->ty->kind == TY_INT && e->args[0]->ty->is_signed &&
        e->args[1]->ty->kind == TY_INT && e->args[1]->ty->is_signed)
        e->ty = &ty_i64;
}

static void check_b_seq(Expr *e, int lo, int hi)
{
    check_args_count(e, lo, hi);
    check_scalar_args(e, 0);
    e->ty = &ty_bool;
}

/* keyed_hash(t, …): a struct or flow_id argument (a variable or a field of one) stands for
 * its scalar fields in order */
static void spread_record_args(Expr *e)
{
    int n = 0;
    for (int i = 0; i < e->nargs; i++) {
        Expr *a = check_expr(e->args[i]);
        bool rec = a->ty->kind == TY_REC &&
                   (a->ty->rec->kind == D_STRUCT || a->ty->rec->kind == D_FLOWID);
        if (!rec) {
            n++;
            continue;
        }
        if (a->kind != E_IDENT && a->kind != E_FIELD)
            mtpc_error_at(a->tok, "keyed_hash of a record needs a variable or a field of one");
        for (Field *f = a->ty->rec->fields; f; f = f->next) {
            if (!ty_is_scalar(f->ty))
                mtpc_error_at(a->tok, "keyed_hash of '%s' needs scalar fields ('%.*s' is not)",
                              type_name(a->ty), f->name->len, f->name->loc);
            n++;
        }
    }
    if (n == e->nargs)
        return;
    Expr **args = mtpc_calloc((size_t)n, sizeof *args);
    int k = 0;
    for (int i = 0; i < e->nargs; i++) {
        Expr *a = e->args[i];
        if (a->ty->kind != TY_REC) {
            args[k++] = a;
            continue;
        }
        for (Field *f = a->ty->rec->fields; f; f = f->next) {
            Expr *x = mtpc_calloc(1, sizeof *x);
            x->kind = E_FIELD;
            x->tok = a->tok;
            x->name = f->name;
            x->lhs = a;
            args[k++] = x;
        }
    }
    e->args = args;
    e->nargs = n;
}

static void check_b_keyed_hash(Expr *e, int lo, int hi)
{
    spread_record_args(e);
    if (e->nargs < lo || e->nargs > hi)
        mtpc_error_at(e->tok, "keyed_hash takes %d to %d arguments", lo, hi);
    check_args_count(e, lo, hi);
    need_exec(e->tok, "keyed_hash()");
    for (int i = 0; i < e->nargs; i++) {
        if (!e->args[i]->ty) /* a field spread_record_args made: the others are checked */
            check_expr(e->args[i]);
        check_scalar(e->args[i]);
    }
    e->ty = &ty_u64;
}

static void check_b_data(Expr *e, int lo, int hi)
{
    check_args_count(e, lo, hi);
    check_scalar_args(e, 0);
    e->ty = &ty_data;
}

static void check_b_len(Expr *e, int lo, int hi)
{
    check_args_count(e, lo, hi);
    Expr *a = check_expr(e->args[0]);
    if (a->ty->kind != TY_LIST && a->ty->kind != TY_SLIST && a->ty->kind != TY_DATA &&
        !(a->ty->kind == TY_REC && a->ty->rec->kind == D_OPTLIST))
        mtpc_error_at(a->tok, "type mismatch: len() of %s", type_name(a->ty));
    e->ty = &ty_u32;
}

static void check_b_extract(Expr *e, int lo, int hi)
{
    if (!fn->decl || fn->decl->kind != D_PARSER)
        mtpc_error_at(e->tok, "extract is only allowed in a parser");
    check_args_count(e, lo, hi);
    Expr *p = check_expr(e->args[0]);
    if (p->ty->kind != TY_PKT)
        mtpc_error_at(p->tok, "extract needs the parser's packet");
    Decl *bp = type_arg(e->args[1], "blueprint");
    if (bp->kind != D_BP)
        mtpc_error_at(e->args[1]->tok, "'%.*s' is not a blueprint", bp->name->len,
                      bp->name->loc);
    if (bp->seq)
        mtpc_error_at(e->args[1]->tok, "'%.*s' has variable-length fields: it can only be read as a frame",
                      bp->name->len, bp->name->loc);
    if (bp->has_nested)
        check_frames_extractable(bp, e->args[1]);
    bp->extracted = true;
    e->ty = rec_type(bp, e->tok);
}

/* tx_appended(uid), tx_acked(uid): the bytes appended to / retired from tx unit uid of the
 * context, as the analysis harness models them; only in invariants */
static void check_b_unit_model(Expr *e, int lo, int hi)
{
    if (!fn->decl || fn->decl->kind != D_INVARIANT)
        mtpc_error_at(e->tok, "'%.*s' is only allowed in invariants", e->name->len, e->name->loc);
    check_args_count(e, lo, hi);
    check_scalar_args(e, 0);
    if (!mtpc_is_const(sema_prog, e->args[0]))
        mtpc_error_at(e->args[0]->tok, "the unit id must be a constant");
    int64_t uid = mtpc_const_eval(sema_prog, e->args[0]);
    if (uid < 0 || uid > 7)
        mtpc_error_at(e->args[0]->tok, "the analysis models tx units 0 to 7");
    e->ty = &ty_u64;
}

/* an instruction whose arguments are all scalars, one per instruction field */
static void check_b_scalar(Expr *e, int lo, int hi)
{
    need_exec(e->tok, "an instruction");
    check_args_count(e, lo, hi);
    check_scalar_args(e, 0);
}

static void check_b_pkt_gen(Expr *e, int lo, int hi)
{
    (void)lo, (void)hi; /* its own message: the named arguments are the point */
    need_exec(e->tok, "an instruction");
    check_pkt_gen(e);
}

/* timer_start(ctx.t, duration), timer_stop(ctx.t) */
static void check_b_timer(Expr *e, int lo, int hi)
{
    need_exec(e->tok, "an instruction");
    check_args_count(e, lo, hi);
    check_timer_arg(e->args[0]);
    check_scalar_args(e, 1);
}

static void check_b_new_ctx(Expr *e, int lo, int hi)
{
    need_exec(e->tok, "an instruction");
    check_args_count(e, lo, hi);
    Expr *c = check_expr(e->args[0]);
    if (c->kind != E_IDENT || c->res != R_VAR || c->var->is_ptr || c->ty->kind != TY_REC ||
        c->ty->rec->kind != D_CONTEXT)
        mtpc_error_at(c->tok, "new_ctx needs a local variable of a context type");
    Decl *cd = c->ty->rec;
    if (cd->gran == GRAN_GLOBAL)
        mtpc_error_at(c->tok, "global context '%.*s' cannot be created", cd->name->len,
                      cd->name->loc);
    Expr *id = check_expr(e->args[1]);
    if (id->ty->kind != TY_REC || id->ty->rec != cd->key)
        mtpc_error_at(id->tok, "type mismatch: context '%.*s' is identified by '%.*s', not %s",
                      cd->name->len, cd->name->loc, cd->key->name->len, cd->key->name->loc,
                      type_name(id->ty));
}

static void check_b_produce(Expr *e, int lo, int hi)
{
    if (!fn->decl || fn->decl->kind != D_PARSER)
        mtpc_error_at(e->tok, "produce is only allowed in a parser");
    check_args_count(e, lo, hi);
    check_produce(e);
}

/* T(x, …): x a record value; each field of T that x has by name (of an assignable type)
 * starts as x's; at least one must */
static void check_record_source(Expr *e, Decl *d)
{
    Expr *x = check_expr(e->args[0]);
    if (x->ty->kind != TY_REC)
        mtpc_error_at(x->tok, "type mismatch: '%.*s(x, ...)' copies the fields of a record x, not "
                              "of %s", d->name->len, d->name->loc, type_name(x->ty));
    int copied = 0;
    for (Field *f = d->fields; f; f = f->next) {
        Field *g = mtpc_find_field(x->ty->rec, f->name);
        if (!g || f->ty->kind == TY_CSUM)
            continue;
        check_assignable(x->tok, f->ty, g->ty);
        copied++;
    }
    if (!copied)
        mtpc_error_at(x->tok, "%s has no field of '%.*s' to copy", type_name(x->ty), d->name->len,
                      d->name->loc);
}

/* T(f = v, …): a value of record type T with the named fields set and the others as a
 * local `T x;` starts (zero, or the field initialisers of blueprints and options); T() is
 * that starting value */
static void check_record_literal(Expr *e, Decl *d)
{
    if (e->nargs > 1 || (e->nargs == 1 && !e->from_record))
        mtpc_error_at(e->args[0]->tok, "a record literal names every field it sets ('%.*s(f = v, ...)')",
                      d->name->len, d->name->loc);
    if (e->from_record)
        check_record_source(e, d);
    if (d->kind == D_EVENT && (!fn->decl || fn->decl->kind != D_PARSER))
        mtpc_error_at(e->tok, "events are created only in parsers");
    for (NamedArg *a = e->named; a; a = a->next) {
        for (NamedArg *o = e->named; o != a; o = o->next)
            if (o->name->len == a->name->len &&
                !memcmp(o->name->loc, a->name->loc, (size_t)a->name->len))
                mtpc_error_at(a->name, "field '%.*s' is set twice", a->name->len, a->name->loc);
        Field *f = mtpc_find_field(d, a->name);
        if (!f)
            mtpc_error_at(a->name, "unknown field '%.*s' in %s '%.*s'", a->name->len, a->name->loc,
                          decl_kind_name(d->kind), d->name->len, d->name->loc);
        if (f->ty->kind == TY_CSUM)
            mtpc_error_at(a->name, "the runtime computes checksum '%.*s'", a->name->len,
                          a->name->loc);
        Expr *v = check_value(a->val);
        check_assignable(v->tok, f->ty, v->ty);
    }
    e->res = R_CTOR;
    e->decl = d;
    e->ty = rec_type(d, e->tok);
}

static void check_call(Expr *e)
{
    int bi = builtin_index(e->name);
    e->builtin = bi < 0 ? B_NONE : builtins[bi].b;
    e->ty = &ty_void;
    if (bi >= 0) {
        builtins[bi].check(e, builtins[bi].lo, builtins[bi].hi);
        return;
    }
    Decl *d = find_decl_tok(e->name);
    if (!d)
        mtpc_error_at(e->tok, "unknown function '%.*s'", e->name->len, e->name->loc);
    if (d->kind == D_FUNC) {
        if (!fn->decl || fn->in_srule || fn->decl->kind == D_COALESCE ||
            fn->decl->kind == D_INVARIANT)
            mtpc_error_at(e->tok, "functions cannot be called here");
        e->res = R_FUNC;
        e->decl = d;
        if (e->named)
            mtpc_error_at(e->named->name, "functions take no named arguments");
        if (e->nargs != d->nparams)
            mtpc_error_at(e->tok, "'%.*s' takes %d argument%s", d->name->len, d->name->loc,
                          d->nparams, d->nparams == 1 ? "" : "s");
        int i = 0;
        for (Param *p = d->params; p; p = p->next, i++) {
            Expr *a = check_expr(e->args[i]);
            check_assignable(a->tok, p->ty, a->ty);
            bool place = a->kind == E_IDENT || a->kind == E_FIELD || a->kind == E_INDEX;
            if (p->var->is_ptr && !place && p->readonly)
                continue; /* a value for a const parameter: the callee reads a copy */
            if (p->var->is_ptr) {
                Var *root = lvalue_root(a);
                if (!root || !place)
                    mtpc_error_at(a->tok, "a %s argument must be a variable or field (or the "
                                          "parameter const)", type_name(p->ty));
                if (root->is_const && !p->readonly)
                    mtpc_error_at(a->tok, "cannot pass event '%.*s' by reference: events are read-only",
                                  root->name->len, root->name->loc);
                if (root->is_readonly && !p->readonly)
                    mtpc_error_at(a->tok, "cannot pass read-only '%.*s' to '%.*s', which may change it: "
                                          "declare that parameter const",
                                  root->name->len, root->name->loc, p->name->len, p->name->loc);

            }
        }
        add_callee(d);
        record_call(e);
        e->ty = d->ty;
        return;
    }
    bool literal_kind = d->kind == D_STRUCT || d->kind == D_FLOWID || d->kind == D_BP ||
                        d->kind == D_EVENT || d->kind == D_OPT || d->kind == D_CONTEXT;
    /* T(x) with x a record: T(x, f = v) or any T but one of a single field (its constructor) */
    e->from_record = literal_kind && e->nargs == 1 && (e->named || d->nfields != 1);
    if (literal_kind && (e->named || e->nargs == 0 || e->from_record)) {
        check_record_literal(e, d);
        return;
    }
    if (d->kind == D_STRUCT || d->kind == D_FLOWID) {
        e->res = R_CTOR;
        e->decl = d;
        if (e->named)
            mtpc_error_at(e->named->name, "constructors take positional arguments");
        if (e->nargs != d->nfields)
            mtpc_error_at(e->tok, "'%.*s' has %d field%s, not %d", d->name->len, d->name->loc,
                          d->nfields, d->nfields == 1 ? "" : "s", e->nargs);
        int i = 0;
        for (Field *f = d->fields; f; f = f->next, i++) {
            Expr *a = check_expr(e->args[i]);
            check_assignable(a->tok, f->ty, a->ty);
        }
        e->ty = rec_type(d, e->tok);
        return;
    }
    mtpc_error_at(e->tok, "'%.*s' is a %s, not a function", e->name->len, e->name->loc,
                  decl_kind_name(d->kind));
}

static const struct { const char *name; int m; } methods[] = {
    {"set", M_SET}, {"unset", M_UNSET}, {"test", M_TEST}, {"first_set", M_FIRST_SET},
    {"first_unset", M_FIRST_UNSET}, {"slide", M_SLIDE}, {"head", M_HEAD}, {"reset", M_RESET},
    {"add", M_ADD}, {"remove", M_REMOVE}, {"clear", M_CLEAR}, {"len", M_LEN},
    {"first", M_FIRST}, {"pop_first", M_POP_FIRST}, {"has", M_HAS}, {"get", M_GET},
    {"is", M_IS}, {"find", M_FIND}, {"update", M_UPDATE},
};

static void method_args(Expr *e, int lo, int hi)
{
    if (e->named)
        mtpc_error_at(e->named->name, "methods take no named arguments");
    if (e->nargs < lo || e->nargs > hi)
        mtpc_error_at(e->tok, "'%.*s' takes %d%s argument%s", e->name->len, e->name->loc, lo,
                      hi > lo ? " or more" : "", hi == 1 && lo == 1 ? "" : "s");
}

static void need_mutable(Expr *base)
{
    Var *v = lvalue_root(base);
    if (v && v->is_const)
        mtpc_error_at(base->tok, "cannot modify event '%.*s': events are read-only in processors",
                      v->name->len, v->name->loc);
    if (v && v->is_readonly)
        mtpc_error_at(base->tok, "cannot modify '%.*s': it is read-only", v->name->len,
                      v->name->loc);
    if (!v)
        mtpc_error_at(base->tok, "cannot modify this expression");
}

static Decl *opt_member(Decl *ol, Expr *a)
{
    Decl *o = type_arg(a, "option");
    for (int i = 0; i < ol->uni->nmembers; i++)
        if (ol->uni->opts[i] == o)
            return o;
    mtpc_error_at(a->tok, "'%.*s' is not an option of '%.*s'", a->name->len, a->name->loc,
                  ol->uni->name->len, ol->uni->name->loc);
}

static Decl *frame_member(Decl *u, Expr *a)
{
    Decl *o = type_arg(a, "frame");
    for (int i = 0; i < u->nmembers; i++)
        if (u->opts[i] == o)
            return o;
    mtpc_error_at(a->tok, "'%.*s' is not a frame of '%.*s'", a->name->len, a->name->loc,
                  u->name->len, u->name->loc);
}

static void check_method(Expr *e)
{
    Expr *base = check_expr(e->lhs);
    Type *bt = base->ty;
    int m = 0;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (tok_is(e->name, methods[i].name))
            m = methods[i].m;
    e->builtin = m;
    e->ty = &ty_void;
    if (m != M_LEN && !lvalue_root(base))
        mtpc_error_at(e->name, "'%.*s' needs a variable or a field, not a computed value",
                      e->name->len, e->name->loc);
    if (bt->kind == TY_SWND) {
        switch (m) {
        case M_SET: case M_UNSET:
            method_args(e, 2, 2);
            need_mutable(base);
            check_scalar_args(e, 0);
            return;
        case M_TEST:
            method_args(e, 1, 1);
            check_scalar_args(e, 0);
            e->ty = &ty_bool;
            return;
        case M_FIRST_SET: case M_FIRST_UNSET: case M_HEAD:
            method_args(e, 0, 0);
            e->ty = &ty_u32;
            return;
        case M_SLIDE:
            method_args(e, 0, 1);
            need_mutable(base);
            check_scalar_args(e, 0);
            return;
        case M_RESET:
            method_args(e, 1, 1);
            need_mutable(base);
            check_scalar_args(e, 0);
            return;
        default: break;
        }
    } else if (bt->kind == TY_LIST || bt->kind == TY_SLIST) {
        switch (m) {
        case M_ADD: {
            method_args(e, 1, 1);
            need_mutable(base);
            Expr *a = check_expr(e->args[0]);
            if (bt->elem->kind == TY_REC && bt->elem->rec->kind == D_FRAMEUNION &&
                a->ty->kind == TY_REC && a->ty->rec->kind == D_BP) {
                Decl *u = bt->elem->rec;
                for (int i = 0; i < u->nmembers && !e->decl; i++)
                    if (u->opts[i] == a->ty->rec)
                        e->decl = a->ty->rec; /* add a frame of the union: sets its kind */
                if (!e->decl)
                    mtpc_error_at(a->tok, "'%s' is not a frame of '%.*s'", type_name(a->ty),
                                  u->name->len, u->name->loc);
                return;
            }
            check_assignable(a->tok, bt->elem, a->ty);
            return;
        }
        case M_REMOVE: {
            method_args(e, 1, 1);
            need_mutable(base);
            check_scalar_args(e, 0);
            Expr *a = e->args[0];
            if (mtpc_is_const(sema_prog, a) && (mtpc_const_eval(sema_prog, a) < 0 ||
                                           mtpc_const_eval(sema_prog, a) >= bt->cap))
                mtpc_error_at(a->tok, "list index %lld out of range (capacity %lld)",
                              (long long)mtpc_const_eval(sema_prog, a), (long long)bt->cap);
            return;
        }
        case M_CLEAR:
            method_args(e, 0, 0);
            need_mutable(base);
            return;
        case M_FIND: {
            method_args(e, 2, 2);
            Expr *f = e->args[0];
            if (f->kind != E_IDENT || bt->elem->kind != TY_REC)
                mtpc_error_at(f->tok, "find needs a field name of the list's element type");
            e->field = mtpc_find_field(bt->elem->rec, f->name);
            if (!e->field || !ty_is_scalar(e->field->ty))
                mtpc_error_at(f->tok, "'%.*s' is not a scalar field of '%.*s'", f->name->len,
                              f->name->loc, bt->elem->rec->name->len, bt->elem->rec->name->loc);
            check_scalar(check_expr(e->args[1]));
            e->ty = &ty_u32;
            return;
        }
        case M_UPDATE: {
            method_args(e, 2, 2);
            need_mutable(base);
            check_scalar(check_expr(e->args[0]));
            Expr *a = check_expr(e->args[1]);
            check_assignable(a->tok, bt->elem, a->ty);
            return;
        }
        case M_LEN:
            method_args(e, 0, 0);
            e->ty = &ty_u32;
            return;
        case M_FIRST:
            if (bt->kind != TY_SLIST)
                break;
            method_args(e, 0, 0);
            e->ty = bt->elem;
            return;
        case M_POP_FIRST:
            if (bt->kind != TY_SLIST)
                break;
            method_args(e, 0, 0);
            need_mutable(base);
            e->ty = bt->elem;
            return;
        default: break;
        }
    } else if (bt->kind == TY_REC && bt->rec->kind == D_FRAMEUNION) {
        switch (m) {
        case M_IS:
            method_args(e, 1, 1);
            e->decl = frame_member(bt->rec, e->args[0]);
            e->ty = &ty_bool;
            return;
        case M_GET:
            method_args(e, 1, 1);
            e->decl = frame_member(bt->rec, e->args[0]);
            e->ty = rec_type(e->decl, e->tok);
            return;
        default: break;
        }
    } else if (bt->kind == TY_REC && bt->rec->kind == D_OPTLIST) {
        Decl *ol = bt->rec;
        switch (m) {
        case M_HAS:
            method_args(e, 1, 1);
            e->decl = opt_member(ol, e->args[0]);
            e->ty = &ty_bool;
            return;
        case M_GET:
            method_args(e, 1, 1);
            e->decl = opt_member(ol, e->args[0]);
            e->ty = rec_type(e->decl, e->tok);
            return;
        case M_ADD: {
            method_args(e, 1, 1);
            need_mutable(base);
            Expr *a = check_expr(e->args[0]);
            if (a->ty->kind != TY_REC || a->ty->rec->kind != D_OPT)
                mtpc_error_at(a->tok, "type mismatch: add needs an option value, not %s",
                              type_name(a->ty));
            bool found = false;
            for (int i = 0; i < ol->uni->nmembers; i++)
                found |= ol->uni->opts[i] == a->ty->rec;
            if (!found)
                mtpc_error_at(a->tok, "'%s' is not an option of '%.*s'", type_name(a->ty),
                              ol->uni->name->len, ol->uni->name->loc);
            e->decl = a->ty->rec;
            return;
        }
        case M_CLEAR:
            method_args(e, 0, 0);
            need_mutable(base);
            return;
        case M_LEN:
            method_args(e, 0, 0);
            e->ty = &ty_u32;
            return;
        default: break;
        }
    }
    mtpc_error_at(e->name, "unknown method '%.*s' of %s", e->name->len, e->name->loc,
                  type_name(bt));
}

static void check_ident(Expr *e)
{
    Var *v = lookup_var(e->name);
    if (v) {
        e->res = R_VAR;
        e->var = v;
        e->ty = v->ty;
        return;
    }
    if (cur_field_scope) {
        Field *f = mtpc_find_field(cur_field_scope, e->name);
        if (f) {
            e->res = R_BP_FIELD;
            e->field = f;
            e->ty = f->ty;
            return;
        }
        if (cur_field_scope->kind == D_BP && tok_is(e->name, "hdr_len")) {
            e->res = R_HDR_LEN;
            e->ty = &ty_u32;
            return;
        }
        if (cur_field_scope->kind == D_BP && tok_is(e->name, "payload_len")) {
            e->res = R_PAYLOAD_LEN;
            e->ty = &ty_u32;
            return;
        }
    }
    if (tok_is(e->name, "INF")) {
        e->res = R_INF;
        e->ty = &ty_u64;
        return;
    }
    Decl *d = find_decl_tok(e->name);
    if (d && d->kind == D_CONST) {
        e->res = R_CONST;
        e->decl = d;
        e->ty = d->ty;
        return;
    }
    if (d && d->kind == D_PARAM) {
        e->res = R_PARAM;
        e->decl = d;
        e->ty = d->ty;
        return;
    }
    Queue *q = find_queue(e->name);
    if (q) {
        e->res = R_QUEUE;
        e->num = (uint64_t)q->index;
        e->ty = &ty_u16;
        return;
    }
    if (d)
        mtpc_error_at(e->tok, "'%.*s' is a %s, not a value", e->name->len, e->name->loc,
                      decl_kind_name(d->kind));
    mtpc_error_at(e->tok, "unknown name '%.*s'", e->name->len, e->name->loc);
}

static void check_field(Expr *e)
{
    Expr *base = e->lhs;
    if (fn && fn->in_srule && base->kind == E_IDENT &&
        (tok_is(base->name, "bp") || tok_is(base->name, "prev"))) {
        bool prev = tok_is(base->name, "prev");
        if (prev && fn->srule_first)
            mtpc_error_at(base->tok, "'prev' is not available for the first packet");
        base->res = R_TYPE;
        base->ty = rec_type(fn->srule_bp, base->tok);
        base->num = prev;
        if (prev && tok_is(e->name, "payload_len")) {
            e->res = R_PREV_PAYLOAD;
            e->ty = &ty_u32;
            return;
        }
        e->field = mtpc_find_field(fn->srule_bp, e->name);
        if (!e->field)
            mtpc_error_at(e->name, "unknown field '%.*s' in type '%.*s'", e->name->len,
                          e->name->loc, fn->srule_bp->name->len, fn->srule_bp->name->loc);
        if (!ty_is_scalar(e->field->ty))
            mtpc_error_at(e->name, "seg_rule expressions read number fields");
        e->ty = e->field->ty;
        return;
    }
    check_expr(base);
    Type *bt = base->ty;
    if (bt->kind == TY_DATA) {
        if (tok_is(e->name, "addr"))
            e->ty = &ty_addr;
        else if (tok_is(e->name, "len"))
            e->ty = &ty_u32;
        else if (tok_is(e->name, "uid") || tok_is(e->name, "off"))
            e->ty = &ty_u64;
        else
            mtpc_error_at(e->name, "unknown field '%.*s' in type 'data_t' (addr, len, uid, off)",
                          e->name->len, e->name->loc);
        return;
    }
    if (bt->kind != TY_REC)
        mtpc_error_at(e->name, "type mismatch: %s has no fields", type_name(bt));
    e->field = mtpc_find_field(bt->rec, e->name);
    if (!e->field)
        mtpc_error_at(e->name, "unknown field '%.*s' in type '%.*s'", e->name->len, e->name->loc,
                      bt->rec->name->len, bt->rec->name->loc);
    e->ty = e->field->ty;
}

static bool is_cmp(const char *op)
{
    return !strcmp(op, "==") || !strcmp(op, "!=") || !strcmp(op, "<") || !strcmp(op, "<=") ||
           !strcmp(op, ">") || !strcmp(op, ">=");
}

/* A constant expression is computed in 64 bits (mtpc_const_eval) and the generated C holds
 * its value: its type is that of the value, as for a literal (1 << 40 is a uint64). */
static void const_expr_type(Expr *e)
{
    if (e->ty->kind != TY_INT || !mtpc_is_const(sema_prog, e))
        return;
    if (mtpc_const_eval(sema_prog, e) > (int64_t)UINT32_MAX)
        e->ty = &ty_u64;
}

Expr *check_expr(Expr *e)
{
    switch (e->kind) {
    case E_NUM:
        e->ty = e->num > UINT32_MAX ? &ty_u64 : &ty_u32;
        break;
    case E_BOOL: e->ty = &ty_bool; break;
    case E_IDENT: check_ident(e); break;
    case E_FIELD: check_field(e); break;
    case E_INDEX: {
        Expr *b = check_expr(e->lhs);
        if (b->ty->kind != TY_LIST && b->ty->kind != TY_SLIST)
            mtpc_error_at(e->tok, "type mismatch: %s cannot be indexed", type_name(b->ty));
        check_expr(e->rhs);
        check_scalar(e->rhs);
        if (mtpc_is_const(sema_prog, e->rhs)) {
            int64_t i = mtpc_const_eval(sema_prog, e->rhs);
            if (i < 0 || i >= b->ty->cap)
                mtpc_error_at(e->rhs->tok, "list index %lld out of range (capacity %lld)",
                              (long long)i, (long long)b->ty->cap);
        }
        e->ty = b->ty->elem;
        break;
    }
    case E_CALL: check_call(e); break;
    case E_METHOD: check_method(e); break;
    case E_UNARY:
        check_expr(e->lhs);
        check_scalar(e->lhs);
        e->ty = e->op[0] == '!' ? &ty_bool
                : e->op[0] == '-' && e->lhs->ty->kind == TY_INT && e->lhs->ty->bits == 64
                    ? &ty_i64
                    : e->lhs->ty;
        if (e->ty->kind != TY_INT && e->ty->kind != TY_BOOL)
            e->ty = int_result(e->ty, e->ty);
        const_expr_type(e);
        break;
    case E_BINARY:
        check_expr(e->lhs);
        check_expr(e->rhs);
        if ((!strcmp(e->op, "==") || !strcmp(e->op, "!=")) && !ty_is_scalar(e->lhs->ty))
            mtpc_error_at(e->tok, "type mismatch: cannot compare %s values",
                          type_name(e->lhs->ty));
        check_scalar(e->lhs);
        check_scalar(e->rhs);
        if (is_cmp(e->op) || !strcmp(e->op, "&&") || !strcmp(e->op, "||"))
            e->ty = &ty_bool;
        else if (!strcmp(e->op, "<<") || !strcmp(e->op, ">>"))
            e->ty = int_result(e->lhs->ty, e->lhs->ty);
        else
            e->ty = int_result(e->lhs->ty, e->rhs->ty);
        if ((e->op[0] == '/' || e->op[0] == '%') && mtpc_is_const(sema_prog, e->rhs) &&
            mtpc_const_eval(sema_prog, e->rhs) == 0)
            mtpc_error_at(e->rhs->tok, "division by zero");
        const_expr_type(e);
        break;
    case E_IN:
        check_expr(e->lhs);
        check_scalar(e->lhs);
        for (int i = 0; i < e->nargs; i++) {
            Expr *m = check_expr(e->args[i]);
            check_scalar(m);
            if (!mtpc_is_const(sema_prog, m))
                mtpc_error_at(m->tok, "a set member must be a constant");
            for (int j = 0; j < i; j++)
                if (mtpc_const_eval(sema_prog, e->args[j]) == mtpc_const_eval(sema_prog, m))
                    mtpc_error_at(m->tok, "'%.*s' is twice in the set", m->tok->len, m->tok->loc);
        }
        e->ty = &ty_bool;
        break;
    case E_COND:
        check_expr(e->cond);
        check_scalar(e->cond);
        check_expr(e->lhs);
        check_expr(e->rhs);
        if (ty_is_scalar(e->lhs->ty) && ty_is_scalar(e->rhs->ty))
            e->ty = int_result(e->lhs->ty, e->rhs->ty);
        else if (same_type(e->lhs->ty, e->rhs->ty))
            e->ty = e->lhs->ty;
        else
            mtpc_error_at(e->tok, "type mismatch: %s and %s", type_name(e->lhs->ty),
                          type_name(e->rhs->ty));
        const_expr_type(e);
        break;
    }
    return e;
}

Expr *check_value(Expr *e)
{
    check_expr(e);
    if (e->ty->kind == TY_VOID)
        mtpc_error_at(e->tok, "expression has no value");
    return e;
}
