/*
 * sema.c — name resolution, type checking, static checks (bounded loops, no recursion,
 * read-only events, dispatch signatures) and wire layouts of blueprints. Every error is fatal
 * and points at the token of the offending node.
 * This file holds types, names, constants, records, functions, dispatch and whole-program
 * checks; expressions are in sema_expr.c, statements in sema_stmt.c, wire layouts in
 * sema_wire.c (what they share: sema.h).
 */
#include "sema.h"

Program *sema_prog; /* the program being checked */

const char *decl_kind_name(DeclKind k)
{
    static const char *n[] = {
        "const", "param", "struct", "flow_id", "event", "context", "scratchpad", "net_header",
        "opt_t", "opt_union", "opt_list", "pkt_bp", "seg_rule", "coalesce", "sched", "parser",
        "proc", "func", "dispatch", "deploy", "enum", "frame_union", "invariant",
    };
    return n[k];
}

/* ------------------------------------------------------------ type helpers */

Type ty_u16 = {.kind = TY_INT, .bits = 16},
            ty_u32 = {.kind = TY_INT, .bits = 32}, ty_u64 = {.kind = TY_INT, .bits = 64},
            ty_i64 = {.kind = TY_INT, .bits = 64, .is_signed = true},
            ty_bool = {.kind = TY_BOOL}, ty_addr = {.kind = TY_ADDR},
            ty_data = {.kind = TY_DATA}, ty_void = {.kind = TY_VOID};

bool ty_is_scalar(const Type *t)
{
    return t->kind == TY_INT || t->kind == TY_BOOL || t->kind == TY_BIT || t->kind == TY_CSUM ||
           t->kind == TY_ADDR;
}

const char *type_name(const Type *t)
{
    switch (t->kind) {
    case TY_VOID: return "void";
    case TY_INT:
        if (t->varint)
            return "varint";
        return mtpc_fmt("%sint%d", t->is_signed ? "" : "u", t->bits);
    case TY_BOOL: return "bool";
    case TY_BIT: return mtpc_fmt("bit<%lld>", (long long)t->cap);
    case TY_CSUM: return "csum16";
    case TY_ADDR: return "addr_t";
    case TY_DATA: return "data_t";
    case TY_TIMER: return "timer_t";
    case TY_SWND: return mtpc_fmt("sliding_wnd<%lld>", (long long)t->cap);
    case TY_LIST: return mtpc_fmt("list<%s, %lld>", type_name(t->elem), (long long)t->cap);
    case TY_SLIST:
        return mtpc_fmt("sorted_list<%s, %lld>", type_name(t->elem), (long long)t->cap);
    case TY_NAMED: return tok_str(t->name);
    case TY_REC: return tok_str(t->rec->name);
    case TY_PKT: return "pkt";
    }
    return "?";
}

bool same_type(const Type *a, const Type *b)
{
    if (a->kind != b->kind)
        return false;
    switch (a->kind) {
    case TY_INT: return a->bits == b->bits && a->is_signed == b->is_signed;
    case TY_REC: return a->rec == b->rec;
    case TY_LIST:
    case TY_SLIST: return a->cap == b->cap && same_type(a->elem, b->elem);
    case TY_SWND:
    case TY_BIT: return a->cap == b->cap;
    default: return true;
    }
}

static bool assignable(const Type *dst, const Type *src)
{
    if (ty_is_scalar(dst) && ty_is_scalar(src))
        return true;
    return same_type(dst, src);
}

void check_assignable(const Token *t, const Type *dst, const Type *src)
{
    if (src->kind == TY_VOID)
        mtpc_error_at(t, "expression has no value");
    if (!assignable(dst, src))
        mtpc_error_at(t, "type mismatch: cannot use %s as %s", type_name(src), type_name(dst));
}

void check_scalar(const Expr *e)
{
    if (!ty_is_scalar(e->ty))
        mtpc_error_at(e->tok, "type mismatch: %s is not a number", type_name(e->ty));
}

int ty_wire_bits(const Type *t)
{
    switch (t->kind) {
    case TY_INT: return t->varint ? 0 : t->bits; /* a varint's width depends on its value */
    case TY_BOOL: return 8;
    case TY_BIT: return (int)t->cap;
    case TY_CSUM: return 16;
    case TY_REC:
        if (t->rec->kind == D_STRUCT && t->rec->wire_ok)
            return t->rec->fixed_bytes * 8;
        return 0;
    default: return 0;
    }
}

/* ----------------------------------------------------------- global names */

Decl *mtpc_find_decl(Program *p, const char *name, int len)
{
    for (Decl *d = p->decls; d; d = d->next)
        if (d->name && d->name->len == len && !memcmp(d->name->loc, name, (size_t)len))
            return d;
    return NULL;
}

Decl *find_decl_tok(const Token *t) { return mtpc_find_decl(sema_prog, t->loc, t->len); }

Field *mtpc_find_field(Decl *rec, const Token *name)
{
    for (Field *f = rec->fields; f; f = f->next)
        if (f->name->len == name->len && !memcmp(f->name->loc, name->loc, (size_t)name->len))
            return f;
    return NULL;
}

Field *mtpc_find_field_str(Decl *rec, const char *name)
{
    for (Field *f = rec->fields; f; f = f->next)
        if (tok_is(f->name, name))
            return f;
    return NULL;
}

Queue *find_queue(const Token *t)
{
    for (Decl *d = sema_prog->decls; d; d = d->next)
        if (d->kind == D_SCHED)
            for (Queue *q = d->queues; q; q = q->next)
                if (q->name->len == t->len && !memcmp(q->name->loc, t->loc, (size_t)t->len))
                    return q;
    return NULL;
}

Decl *expect_decl(const Token *t, DeclKind k, const char *what)
{
    Decl *d = find_decl_tok(t);
    if (!d)
        mtpc_error_at(t, "unknown %s '%.*s'", what, t->len, t->loc);
    if (d->kind != k)
        mtpc_error_at(t, "'%.*s' is a %s, not a %s", t->len, t->loc, decl_kind_name(d->kind),
                      what);
    return d;
}

/* ---------------------------------------------------- constant expressions */

Decl *cur_field_scope; /* record whose earlier fields may be named bare */

bool mtpc_is_const(Program *p, Expr *e)
{
    switch (e->kind) {
    case E_NUM:
    case E_BOOL: return true;
    case E_IDENT: {
        Decl *d = mtpc_find_decl(p, e->name->loc, e->name->len);
        return (d && d->kind == D_CONST) || tok_is(e->name, "INF");
    }
    case E_UNARY: return mtpc_is_const(p, e->lhs);
    case E_BINARY: return mtpc_is_const(p, e->lhs) && mtpc_is_const(p, e->rhs);
    case E_COND:
        return mtpc_is_const(p, e->cond) && mtpc_is_const(p, e->lhs) && mtpc_is_const(p, e->rhs);
    default: return false;
    }
}

static void const_eval_decl(Decl *d);

int64_t mtpc_const_eval(Program *p, Expr *e)
{
    switch (e->kind) {
    case E_NUM: return (int64_t)e->num;
    case E_BOOL: return (int64_t)e->num;
    case E_IDENT: {
        if (tok_is(e->name, "INF"))
            return -1;
        Decl *d = mtpc_find_decl(p, e->name->loc, e->name->len);
        if (!d || d->kind != D_CONST)
            mtpc_error_at(e->tok, "'%.*s' is not a constant", e->name->len, e->name->loc);
        const_eval_decl(d);
        return d->value;
    }
    case E_UNARY: {
        int64_t v = mtpc_const_eval(p, e->lhs);
        switch (e->op[0]) {
        case '-': return (int64_t)(0 - (uint64_t)v);
        case '!': return !v;
        case '~': return ~v;
        default: return v;
        }
    }
    case E_BINARY: {
        int64_t a = mtpc_const_eval(p, e->lhs), b = mtpc_const_eval(p, e->rhs);
        uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
        const char *op = e->op;
        if (!strcmp(op, "+")) return (int64_t)(ua + ub);
        if (!strcmp(op, "-")) return (int64_t)(ua - ub);
        if (!strcmp(op, "*")) return (int64_t)(ua * ub);
        if (!strcmp(op, "/") || !strcmp(op, "%")) {
            if (b == 0)
                mtpc_error_at(e->tok, "division by zero in a constant");
            if (a == INT64_MIN && b == -1)
                mtpc_error_at(e->tok, "overflow in a constant");
            return op[0] == '/' ? a / b : a % b;
        }
        if ((op[0] == '<' || op[0] == '>') && op[1] == op[0] && ub >= 64)
            mtpc_error_at(e->rhs->tok, "shift count %llu in a constant: a constant has 64 bits",
                          (unsigned long long)ub);
        if (!strcmp(op, "<<")) return (int64_t)(ua << ub);
        if (!strcmp(op, ">>")) /* a negative value shifts in its sign, as in 64-bit C */
            return a < 0 ? ~(int64_t)(~ua >> ub) : (int64_t)(ua >> ub);
        if (!strcmp(op, "&")) return a & b;
        if (!strcmp(op, "|")) return a | b;
        if (!strcmp(op, "^")) return a ^ b;
        if (!strcmp(op, "&&")) return a && b;
        if (!strcmp(op, "||")) return a || b;
        if (!strcmp(op, "==")) return a == b;
        if (!strcmp(op, "!=")) return a != b;
        if (!strcmp(op, "<")) return a < b;
        if (!strcmp(op, "<=")) return a <= b;
        if (!strcmp(op, ">")) return a > b;
        if (!strcmp(op, ">=")) return a >= b;
        break;
    }
    case E_COND:
        return mtpc_const_eval(p, e->cond) ? mtpc_const_eval(p, e->lhs)
                                           : mtpc_const_eval(p, e->rhs);
    default: break;
    }
    mtpc_error_at(e->tok, "not a constant expression");
}

/* v converted to integer type t (C's conversion: keep the low bits, sign-extend) */
static int64_t to_type(const Type *t, int64_t v)
{
    if (t->kind == TY_BOOL)
        return v != 0;
    if (t->kind != TY_INT || t->bits >= 64)
        return v;
    uint64_t low = (uint64_t)v & (((uint64_t)1 << t->bits) - 1);
    if (t->is_signed && (low >> (t->bits - 1)))
        return (int64_t)(low | ~(((uint64_t)1 << t->bits) - 1));
    return (int64_t)low;
}

static void const_eval_decl(Decl *d)
{
    if (d->value_known)
        return;
    if (d->visit == 1)
        mtpc_error_at(d->name, "constant '%.*s' depends on itself", d->name->len,
                      d->name->loc);
    d->visit = 1;
    if (!mtpc_is_const(sema_prog, d->init))
        mtpc_error_at(d->init->tok, "the value of const '%.*s' is not a constant expression",
                      d->name->len, d->name->loc);
    d->value = mtpc_const_eval(sema_prog, d->init);
    if (!d->of_enum) /* the declared type's value, as its C macro has it (an enum member is
                        range-checked instead) */
        d->value = to_type(d->ty, d->value);
    d->value_known = true;
    d->visit = 0;
}

/* an enum member's value fits the enum's type */
static void check_enum_member(Decl *c)
{
    const Type *t = c->ty;
    if (t->kind != TY_INT)
        mtpc_error_at(t->tok, "an enum's type must be an integer type, not %s", type_name(t));
    int64_t lo = t->is_signed ? -((int64_t)1 << (t->bits - 1)) : 0;
    int64_t hi = t->bits >= 63 ? INT64_MAX
                 : t->is_signed ? ((int64_t)1 << (t->bits - 1)) - 1 : ((int64_t)1 << t->bits) - 1;
    if (c->value < lo || c->value > hi)
        mtpc_error_at(c->name, "enum member '%.*s' is %lld, outside %s: declare 'enum %.*s : "
                               "<wider type>'",
                      c->name->len, c->name->loc, (long long)c->value, type_name(t),
                      c->of_enum->name->len, c->of_enum->name->loc);
}

int64_t const_in_range(Expr *e, int64_t lo, int64_t hi, const char *what)
{
    if (!mtpc_is_const(sema_prog, e))
        mtpc_error_at(e->tok, "%s must be a constant expression", what);
    int64_t v = mtpc_const_eval(sema_prog, e);
    if (v < lo || v > hi)
        mtpc_error_at(e->tok, "%s must be between %lld and %lld", what, (long long)lo,
                      (long long)hi);
    return v;
}

/* --------------------------------------------------------------- types */

void resolve_type(Type *t, int depth)
{
    if (depth > 16)
        mtpc_error_at(t->tok, "type nested too deeply");
    switch (t->kind) {
    case TY_BIT:
        t->cap = const_in_range(t->cap_expr, 1, 32, "bit width");
        t->bits = (int)t->cap;
        break;
    case TY_SWND:
        t->cap = const_in_range(t->cap_expr, 64, 1 << 20, "sliding window size");
        if (t->cap % 64)
            mtpc_error_at(t->cap_expr->tok, "sliding window size must be a multiple of 64");
        break;
    case TY_LIST:
    case TY_SLIST:
        resolve_type(t->elem, depth + 1);
        t->cap = const_in_range(t->cap_expr, 1, 65536, "list capacity");
        if (!ty_is_scalar(t->elem) && t->elem->kind != TY_REC && t->elem->kind != TY_DATA)
            mtpc_error_at(t->elem->tok, "list elements must be numbers, data_t or records");
        if (t->elem->kind == TY_REC &&
            (t->elem->rec->kind == D_EVENT || t->elem->rec->kind == D_CONTEXT ||
             t->elem->rec->kind == D_SCRATCH))
            mtpc_error_at(t->elem->tok, "a list cannot hold a %s",
                          decl_kind_name(t->elem->rec->kind));
        if (t->kind == TY_SLIST) {
            if (t->elem->kind != TY_REC)
                mtpc_error_at(t->elem->tok, "a sorted list holds records");
            t->key_field = mtpc_find_field(t->elem->rec, t->key_tok);
            if (!t->key_field)
                mtpc_error_at(t->key_tok, "unknown field '%.*s' in type '%s'", t->key_tok->len,
                              t->key_tok->loc, type_name(t->elem));
            if (!ty_is_scalar(t->key_field->ty))
                mtpc_error_at(t->key_tok, "the ordering field must be a number");
        }
        break;
    case TY_NAMED: {
        Decl *d = find_decl_tok(t->name);
        if (!d)
            mtpc_error_at(t->name, "unknown type '%.*s'", t->name->len, t->name->loc);
        if (d->kind == D_ENUM) { /* its integer type */
            t->kind = TY_INT;
            t->bits = d->ty->bits;
            t->is_signed = d->ty->is_signed;
            break;
        }
        switch (d->kind) {
        case D_STRUCT: case D_FLOWID: case D_EVENT: case D_CONTEXT: case D_SCRATCH:
        case D_NETHDR: case D_OPT: case D_OPTLIST: case D_BP: case D_FRAMEUNION:
            break;
        default:
            mtpc_error_at(t->name, "'%.*s' is a %s, not a type", t->name->len, t->name->loc,
                          decl_kind_name(d->kind));
        }
        t->kind = TY_REC;
        t->rec = d;
        break;
    }
    default: break;
    }
}

/* ------------------------------------------------------------ record checks */

static bool field_type_allowed(Decl *d, Type *t)
{
    switch (t->kind) {
    case TY_BIT:
        return d->kind == D_BP || d->kind == D_OPT || d->kind == D_NETHDR || d->kind == D_STRUCT;
    case TY_CSUM: return d->kind == D_BP;
    case TY_TIMER: return d->kind == D_CONTEXT;
    case TY_PKT:
    case TY_VOID: return false;
    case TY_REC:
        if (t->rec->kind == D_OPTLIST)
            return d->kind == D_BP;
        return t->rec->kind == D_STRUCT || t->rec->kind == D_FLOWID || t->rec->kind == D_BP ||
               t->rec->kind == D_OPT || t->rec->kind == D_FRAMEUNION;
    default: return true;
    }
}

static void check_record(Decl *d)
{
    for (Field *f = d->fields; f; f = f->next) {
        for (Field *g = d->fields; g != f; g = g->next)
            if (g->name->len == f->name->len &&
                !memcmp(g->name->loc, f->name->loc, (size_t)f->name->len))
                mtpc_error_at(f->name, "duplicate field '%.*s'", f->name->len, f->name->loc);
        resolve_type(f->ty, 0);
        if (!field_type_allowed(d, f->ty))
            mtpc_error_at(f->ty->tok, "a %s field is not allowed in a %s", type_name(f->ty),
                          decl_kind_name(d->kind));
        if (f->ty->kind == TY_REC && f->ty->rec == d)
            mtpc_error_at(f->ty->tok, "a record cannot contain itself");
        if (f->ty->kind == TY_TIMER) {
            if (!f->ty->timer_ev)
                mtpc_error_at(f->name, "timer '%.*s' needs '-> event'", f->name->len,
                              f->name->loc);
            Decl *ev = expect_decl(f->ty->timer_ev, D_EVENT, "event");
            if (ev->ev_kind != EVK_TIMER)
                mtpc_error_at(f->ty->timer_ev, "event '%.*s' is not a timer event",
                              ev->name->len, ev->name->loc);
            f->ty->timer_event = ev;
            f->timer_index = d->ntimers++;
        }
        if ((d->kind == D_FLOWID || d->kind == D_EVENT) && f->init)
            mtpc_error_at(f->init->tok, "%s fields have no initialisers",
                          decl_kind_name(d->kind));
        if (d->kind == D_FLOWID && f->ty->kind != TY_INT && f->ty->kind != TY_BOOL)
            mtpc_error_at(f->ty->tok, "flow_id fields must be integers");
        if (f->ty->kind == TY_DATA && d->kind == D_BP && f->next)
            mtpc_error_at(f->name, "the data_t field must be the last field of a blueprint");
    }
}

/* ------------------------------------------------------------- functions */

static void begin_fn(Fn *f, Decl *d)
{
    memset(f, 0, sizeof *f);
    f->decl = d;
    fn = f;
}

static Var *param_var(Param *p)
{
    resolve_type(p->ty, 0);
    Var *v = mtpc_calloc(1, sizeof *v);
    v->name = p->name;
    v->ty = p->ty;
    v->is_readonly = p->readonly;
    p->var = v;
    return v;
}

bool is_rec_kind(const Type *t, DeclKind k) { return t->kind == TY_REC && t->rec->kind == k; }

static void check_proc_signature(Decl *d)
{
    Fn f;
    begin_fn(&f, d);
    Decl **globals = mtpc_calloc((size_t)d->nparams + 1, sizeof(Decl *));
    int stage = 0;
    for (Param *p = d->params; p; p = p->next) {
        if (p->readonly)
            mtpc_error_at(p->ty->tok, "'const' applies to function parameters (the event of a "
                                      "processor is read-only already)");
        Var *v = param_var(p);
        v->is_ptr = true;
        Type *t = p->ty;
        if (p == d->params) {
            if (!is_rec_kind(t, D_EVENT))
                mtpc_error_at(t->tok, "the first parameter of a processor must be an event");
            d->p_event = t->rec;
            v->is_const = true;
            v->role = PROLE_EVENT;
        } else if (is_rec_kind(t, D_CONTEXT) && t->rec->gran != GRAN_GLOBAL) {
            if (stage >= 1)
                mtpc_error_at(t->tok, "a processor takes the event, at most one context, global contexts and the scratchpad, in that order");
            d->p_ctx = t->rec;
            v->role = PROLE_CTX;
            stage = 1;
        } else if (is_rec_kind(t, D_CONTEXT)) {
            if (stage >= 3)
                mtpc_error_at(t->tok, "a processor takes the event, at most one context, global contexts and the scratchpad, in that order");
            for (int i = 0; i < d->np_globals; i++)
                if (globals[i] == t->rec)
                    mtpc_error_at(t->tok, "global context '%.*s' is already a parameter",
                                  t->rec->name->len, t->rec->name->loc);
            globals[d->np_globals++] = t->rec;
            v->role = PROLE_GLOBAL;
            stage = 2;
        } else if (is_rec_kind(t, D_SCRATCH)) {
            if (stage >= 3)
                mtpc_error_at(t->tok, "only one scratchpad parameter");
            d->p_scratch = t->rec;
            v->role = PROLE_SCRATCH;
            stage = 3;
        } else
            mtpc_error_at(t->tok, "a processor parameter must be an event, context or scratchpad, not %s",
                          type_name(t));
        declare_var(v);
    }
    if (!d->params)
        mtpc_error_at(d->name, "a processor needs an event parameter");
    d->p_globals = globals;
}

static void check_body(Decl *d)
{
    Fn f;
    begin_fn(&f, d);
    for (Param *p = d->params; p; p = p->next)
        declare_var(p->var);
    check_stmt(d->body);
    fn = &no_fn;
}

/* `cond;` or, at the top, `if (guard) cond;` / `if (guard) { cond; … }` */
void check_inv_stmt(Stmt *s, bool top)
{
    if (top && s->kind == S_FOR_IN) {
        check_for_in(s);
        return;
    }
    if (s->kind == S_BLOCK && !top) {
        for (Stmt *c = s->body; c; c = c->next)
            check_inv_stmt(c, false);
        return;
    }
    if (top && s->kind == S_IF && !s->els) {
        check_value(s->expr);
        check_scalar(s->expr);
        if (s->then->kind == S_BLOCK)
            for (Stmt *c = s->then->body; c; c = c->next)
                check_inv_stmt(c, false);
        else
            check_inv_stmt(s->then, false);
        return;
    }
    if (s->kind != S_EXPR)
        mtpc_error_at(s->tok, "an invariant is a list of conditions ('expr;', "
                              "'if (guard) expr;', 'for (x in list) expr;')");
    check_value(s->expr);
    check_scalar(s->expr);
}

/* invariant name(context c) { cond; … }: each statement a condition on the context that
 * every chain keeps (the analysis harness assumes them before a chain, checks them after) */
static void check_invariant(Decl *d)
{
    Fn f;
    begin_fn(&f, d);
    Param *p = d->params;
    if (p)
        resolve_type(p->ty, 0);
    if (p && p->next && is_rec_kind(p->ty, D_EVENT)) {
        d->p_event = p->ty->rec; /* a precondition on the event (and its context) */
        Var *ev = param_var(p);
        ev->is_ptr = true;
        ev->is_const = true;
        declare_var(ev);
        p = p->next;
        resolve_type(p->ty, 0);
    }
    if (!p || p->next || !is_rec_kind(p->ty, D_CONTEXT))
        mtpc_error_at(d->name, "an invariant takes a context parameter, after an event for a "
                               "precondition");
    if (d->p_event && d->p_event->ev_ctx != p->ty->rec)
        mtpc_error_at(p->ty->tok, "event '%.*s' does not run on context '%.*s'",
                      d->p_event->name->len, d->p_event->name->loc, p->ty->rec->name->len,
                      p->ty->rec->name->loc);
    Var *v = param_var(p);
    v->is_ptr = true;
    v->is_readonly = true;
    declare_var(v);
    for (Stmt *s = d->body->body; s; s = s->next)
        check_inv_stmt(s, true);
    fn = &no_fn;
}

static void check_func_signature(Decl *d)
{
    Fn f;
    begin_fn(&f, d);
    if (d->ty->kind != TY_VOID) {
        resolve_type(d->ty, 0);
        if (!ty_is_scalar(d->ty) && d->ty->kind != TY_DATA &&
            !(d->ty->kind == TY_REC && (d->ty->rec->kind == D_STRUCT ||
                                        d->ty->rec->kind == D_FLOWID || d->ty->rec->kind == D_BP)))
            mtpc_error_at(d->ty->tok, "a function cannot return %s", type_name(d->ty));
    }
    for (Param *p = d->params; p; p = p->next) {
        Var *v = param_var(p);
        Type *t = p->ty;
        if (t->kind == TY_TIMER || t->kind == TY_PKT || t->kind == TY_BIT || t->kind == TY_CSUM)
            mtpc_error_at(t->tok, "a function parameter cannot be %s", type_name(t));
        if (is_rec_kind(t, D_EVENT))
            v->is_const = true;
        v->is_ptr = !ty_is_scalar(t);
        declare_var(v);
    }
}

static void check_parser_signature(Decl *d)
{
    Fn f;
    begin_fn(&f, d);
    Param *p = d->params;
    if (!p || p->ty->kind != TY_PKT)
        mtpc_error_at(p ? p->ty->tok : d->name, "a parser's first parameter must be 'pkt p'");
    param_var(p)->is_pkt = true;
    declare_var(p->var);
    if (p->next) {
        Var *v = param_var(p->next);
        if (!is_rec_kind(v->ty, D_NETHDR))
            mtpc_error_at(v->ty->tok, "a parser's second parameter must be a net_header");
        v->is_ip = true;
        declare_var(v);
        if (p->next->next)
            mtpc_error_at(p->next->next->name, "a parser takes (pkt p, net_header ip)");
    }
}

static void check_coalesce(Decl *d)
{
    Fn f;
    begin_fn(&f, d);
    if (d->nparams != 2)
        mtpc_error_at(d->name, "a coalescing rule takes (blueprint older, blueprint newer)");
    for (Param *p = d->params; p; p = p->next) {
        Var *v = param_var(p);
        if (!is_rec_kind(v->ty, D_BP))
            mtpc_error_at(v->ty->tok, "type mismatch: coalescing rules compare blueprints");
        v->is_ptr = true;
        v->is_const = true;
        declare_var(v);
    }
    for (Stmt *s = d->body->body; s; s = s->next)
        if (s->kind != S_WHEN)
            mtpc_error_at(s->tok, "a coalescing rule has only 'when' statements");
    check_body(d);
}

static void check_netheader(Decl *d)
{
    static const char *known[] = {"src", "dst", "tos", "ttl", "total_len", "id", "proto",
                                  "hdr_len", "icmp_type", "icmp_code", "icmp_mtu"};
    for (Field *f = d->fields; f; f = f->next) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= tok_is(f->name, known[i]);
        if (!ok)
            mtpc_error_at(f->name, "unknown IPv4 header field '%.*s' (src, dst, tos, ttl, total_len, id, proto, hdr_len, icmp_type, icmp_code, icmp_mtu)",
                          f->name->len, f->name->loc);
        if (f->ty->kind != TY_INT || f->ty->is_signed)
            mtpc_error_at(f->ty->tok, "net_header fields are unsigned integers");
        if (f->init)
            mtpc_error_at(f->init->tok, "net_header fields have no initialisers");
    }
}

static void check_segrule(Decl *d)
{
    d->bp = expect_decl(d->bp_name, D_BP, "blueprint");
    for (SegEntry *s = d->rules; s; s = s->next) {
        s->field = mtpc_find_field(d->bp, s->name);
        if (!s->field)
            mtpc_error_at(s->name, "blueprint '%.*s' has no field '%.*s'", d->bp->name->len,
                          d->bp->name->loc, s->name->len, s->name->loc);
        if (!ty_is_scalar(s->field->ty))
            mtpc_error_at(s->name, "a segmentation rule sets number fields");
        for (SegEntry *o = d->rules; o != s; o = o->next)
            if (o->field == s->field)
                mtpc_error_at(s->name, "duplicate rule for field '%.*s'", s->name->len,
                              s->name->loc);
        for (int i = 0; i < 4; i++) {
            if (!s->e[i])
                continue;
            Fn f;
            begin_fn(&f, d);
            f.in_srule = true;
            f.srule_first = i == 0 || i == 3;
            f.srule_bp = d->bp;
            check_value(s->e[i]);
            check_scalar(s->e[i]);
            fn = &no_fn;
        }
    }
}

static void check_sched(Decl *d)
{
    for (Queue *q = d->queues; q; q = q->next) {
        for (Queue *o = d->queues; o != q; o = o->next)
            if (o->name->len == q->name->len && !memcmp(o->name->loc, q->name->loc,
                                                         (size_t)q->name->len))
                mtpc_error_at(q->name, "duplicate declaration of queue '%.*s'", q->name->len,
                              q->name->loc);
        q->vprio = q->prio ? const_in_range(q->prio, 0, 255, "prio") : q->index;
        q->vweight = q->weight ? const_in_range(q->weight, 1, 1 << 30, "weight") : 1;
        q->vrate = q->rate ? const_in_range(q->rate, 0, INT64_MAX, "rate") : 0;
    }
    if (!d->nqueues)
        mtpc_error_at(d->name, "a scheduler needs at least one queue");
}

/* ----------------------------------------------------- dispatch / deploy */

static void check_chain_proc(DispEntry *e, Decl *p, Token *t, bool is_else)
{
    if (p->p_event != e->ev)
        mtpc_error_at(t, "processor '%.*s' takes event '%.*s' but is dispatched for '%.*s'",
                      p->name->len, p->name->loc, p->p_event->name->len, p->p_event->name->loc,
                      e->ev->name->len, e->ev->name->loc);
    if (is_else && p->p_ctx)
        mtpc_error_at(t, "processor '%.*s' of an else chain cannot take context '%.*s' (there is none)",
                      p->name->len, p->name->loc, p->p_ctx->name->len, p->p_ctx->name->loc);
    if (!is_else && p->p_ctx) {
        if (e->ev->ev_ctx && e->ev->ev_ctx != p->p_ctx)
            mtpc_error_at(t, "processor '%.*s' takes context '%.*s' but the chain of '%.*s' runs on '%.*s'",
                          p->name->len, p->name->loc, p->p_ctx->name->len, p->p_ctx->name->loc,
                          e->ev->name->len, e->ev->name->loc, e->ev->ev_ctx->name->len,
                          e->ev->ev_ctx->name->loc);
        e->ev->ev_ctx = p->p_ctx;
    }
    if (p->p_scratch && sema_prog->scratch != p->p_scratch)
        mtpc_error_at(t, "scratchpad mismatch");
}

static Decl **resolve_chain(Token **names, int n)
{
    Decl **v = mtpc_calloc((size_t)n, sizeof(Decl *));
    for (int i = 0; i < n; i++)
        v[i] = expect_decl(names[i], D_PROC, "processor");
    return v;
}

/* `proc if expr` in a chain: a deploy-time choice (constants and params only) */
static void check_chain_guard(Expr *g)
{
    if (!g)
        return;
    Fn *save = fn;
    fn = &no_fn;
    check_value(g);
    check_scalar(g);
    fn = save;
}

static void check_dispatch(Decl *d)
{
    for (DispEntry *e = d->entries; e; e = e->next) {
        e->ev = expect_decl(e->ev_name, D_EVENT, "event");
        if (e->ev->disp)
            mtpc_error_at(e->ev_name, "duplicate dispatch entry for '%.*s'", e->ev_name->len,
                          e->ev_name->loc);
        e->ev->disp = e;
        e->procs = resolve_chain(e->chain, e->nchain);
        e->eprocs = resolve_chain(e->els, e->nels);
        for (int i = 0; i < e->nchain; i++) {
            check_chain_proc(e, e->procs[i], e->chain[i], false);
            check_chain_guard(e->guards[i]);
        }
        for (int i = 0; i < e->nels; i++) {
            check_chain_proc(e, e->eprocs[i], e->els[i], true);
            check_chain_guard(e->eguards[i]);
        }
        if (e->has_else && !e->ev->ev_ctx)
            mtpc_error_at(e->ev_name, "an else chain needs a main chain that takes a context");
    }
}

static void check_timer_contexts(void)
{
    for (int i = 0; i < sema_prog->nctxs; i++) {
        Decl *c = sema_prog->ctxs[i];
        for (Field *f = c->fields; f; f = f->next) {
            if (f->ty->kind != TY_TIMER)
                continue;
            Decl *ev = f->ty->timer_event;
            if (ev->ev_ctx && ev->ev_ctx != c)
                mtpc_error_at(f->ty->timer_ev, "timer event '%.*s' runs on context '%.*s', not '%.*s'",
                              ev->name->len, ev->name->loc, ev->ev_ctx->name->len,
                              ev->ev_ctx->name->loc, c->name->len, c->name->loc);
        }
    }
}

static Decl *deploy_target(DeployCall *c, DeclKind k, const char *what)
{
    if (c->nargs != 1 || c->args[0]->kind != E_IDENT)
        mtpc_error_at(c->name, "%.*s takes one %s name", c->name->len, c->name->loc, what);
    return expect_decl(c->args[0]->name, k, what);
}

static void check_deploy(Decl *d)
{
    for (DeployCall *c = d->calls; c; c = c->next) {
        if (tok_is(c->name, "register_ip_proto")) {
            if (c->nargs != 1)
                mtpc_error_at(c->name, "register_ip_proto takes a protocol number");
            sema_prog->ip_proto = (int)const_in_range(c->args[0], 1, 255, "IP protocol");
        } else if (tok_is(c->name, "register_steer")) {
            Expr *a = c->nargs == 1 ? c->args[0] : NULL;
            if (!a || a->kind != E_FIELD || a->lhs->kind != E_IDENT)
                mtpc_error_at(c->name, "register_steer takes blueprint.field");
            Decl *bp = expect_decl(a->lhs->name, D_BP, "blueprint");
            Field *f = mtpc_find_field(bp, a->name);
            if (!f)
                mtpc_error_at(a->name, "unknown field '%.*s' in type '%.*s'", a->name->len,
                              a->name->loc, bp->name->len, bp->name->loc);
            if (!f->fixed || f->ty->kind != TY_INT || f->ty->bits != 16 || f->bit_off % 8)
                mtpc_error_at(a->name, "the steering field must be a uint16 in the fixed header");
            sema_prog->steer_bp = bp;
            sema_prog->steer_field = f;
            sema_prog->steer_off = f->bit_off / 8;
        } else if (tok_is(c->name, "register_ev_parser")) {
            if (sema_prog->parser)
                mtpc_error_at(c->name, "only one parser can be registered");
            sema_prog->parser = deploy_target(c, D_PARSER, "parser");
        } else if (tok_is(c->name, "register_seg_rule")) {
            deploy_target(c, D_SEGRULE, "seg_rule");
        } else if (tok_is(c->name, "register_coalescing_rule")) {
            Decl *r = deploy_target(c, D_COALESCE, "coalesce");
            for (int i = 0; i < sema_prog->ncoalesce; i++)
                if (sema_prog->coalesce[i] == r)
                    mtpc_error_at(c->args[0]->tok, "rule registered twice");
            Decl **v = mtpc_calloc((size_t)sema_prog->ncoalesce + 1, sizeof *v);
            if (sema_prog->ncoalesce)
                memcpy(v, sema_prog->coalesce, (size_t)sema_prog->ncoalesce * sizeof *v);
            v[sema_prog->ncoalesce++] = r;
            sema_prog->coalesce = v;
        } else if (tok_is(c->name, "register_pkt_sched")) {
            if (sema_prog->sched)
                mtpc_error_at(c->name, "only one scheduler can be registered");
            sema_prog->sched = deploy_target(c, D_SCHED, "sched");
        } else if (tok_is(c->name, "register_ep_chains") || tok_is(c->name, "register_ctx_spec")) {
            /* paper spellings: the dispatch block and context declarations already say it */
        } else
            mtpc_error_at(c->name, "unknown deploy call '%.*s'", c->name->len, c->name->loc);
    }
}

/* ------------------------------------------------------------ recursion */

static void visit_calls(Decl *d, Decl *root)
{
    if (d->visit == 2)
        return;
    if (d->visit == 1)
        mtpc_error_at(root->name, "recursion: '%.*s' calls itself through '%.*s'",
                      root->name->len, root->name->loc, d->name->len, d->name->loc);
    d->visit = 1;
    for (int i = 0; i < d->ncallees; i++) {
        if (d->callees[i] == root)
            mtpc_error_at(root->name, "recursion: '%.*s' calls itself%s%.*s%s", root->name->len,
                          root->name->loc, d == root ? "" : " through '",
                          d == root ? 0 : d->name->len, d == root ? "" : d->name->loc,
                          d == root ? "" : "'");
        visit_calls(d->callees[i], root);
    }
    d->visit = 2;
}

static void check_recursion(void)
{
    for (Decl *d = sema_prog->decls; d; d = d->next) {
        if (d->kind != D_FUNC)
            continue;
        for (Decl *e = sema_prog->decls; e; e = e->next)
            e->visit = 0;
        visit_calls(d, d);
    }
    /* exec use is transitive: a parser may only call functions that need no exec */
    bool changed = true;
    for (int round = 0; changed && round < 1000; round++) {
        changed = false;
        for (Decl *d = sema_prog->decls; d; d = d->next)
            if (d->kind == D_FUNC && !d->uses_exec)
                for (int i = 0; i < d->ncallees; i++)
                    if (d->callees[i]->uses_exec) {
                        d->uses_exec = true;
                        changed = true;
                    }
    }
    for (Decl *d = sema_prog->decls; d; d = d->next) {
        if (d->kind != D_PARSER)
            continue;
        for (int i = 0; i < d->ncallees; i++)
            if (d->callees[i]->uses_exec)
                mtpc_error_at(d->name, "parser '%.*s' calls '%.*s', which emits instructions or reads the clock",
                              d->name->len, d->name->loc, d->callees[i]->name->len,
                              d->callees[i]->name->loc);
    }
}

/* ------------------------------------------------------ whole-program checks */

static void visit_record(Decl *d);

static void visit_type(Type *t, Decl *from, Field *f)
{
    while (t->kind == TY_LIST || t->kind == TY_SLIST)
        t = t->elem;
    if (t->kind != TY_REC)
        return;
    if (t->rec->cycle_state == 1)
        mtpc_error_at(f->ty->tok, "'%.*s' contains itself through field '%.*s'",
                      t->rec->name->len, t->rec->name->loc, f->name->len, f->name->loc);
    (void)from;
    visit_record(t->rec);
}

static void visit_record(Decl *d)
{
    if (d->cycle_state == 2)
        return;
    d->cycle_state = 1;
    for (Field *f = d->fields; f; f = f->next)
        visit_type(f->ty, d, f);
    for (int i = 0; d->kind == D_FRAMEUNION && i < d->nmembers; i++) {
        if (d->opts[i]->cycle_state == 1)
            mtpc_error_at(d->members[i], "'%.*s' contains itself through frame_union '%.*s'",
                          d->opts[i]->name->len, d->opts[i]->name->loc, d->name->len,
                          d->name->loc);
        visit_record(d->opts[i]);
    }
    d->cycle_state = 2;
}

/* A record that contains itself (through other records or lists) has no C layout. Depth-first
 * with colours: linear in the number of fields. */
static void check_record_cycles(void)
{
    for (Decl *d = sema_prog->decls; d; d = d->next)
        switch (d->kind) {
        case D_STRUCT: case D_FLOWID: case D_EVENT: case D_CONTEXT: case D_SCRATCH:
        case D_NETHDR: case D_OPT: case D_BP:
            visit_record(d);
            break;
        default: break;
        }
}

/* Size and alignment of the generated C type (x86-64 / ABI of the runtime). */
static void c_layout(const Type *t, uint64_t *size, uint64_t *align, int depth);

#define LAYOUT_MAX ((uint64_t)1 << 40) /* sizes saturate here: far above any limit */

static uint64_t sat_add(uint64_t a, uint64_t b) { return a + b > LAYOUT_MAX ? LAYOUT_MAX : a + b; }

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
    return b && a > LAYOUT_MAX / b ? LAYOUT_MAX : a * b;
}

static void rec_layout_raw(const Decl *d, uint64_t *size, uint64_t *align, int depth);

static void rec_layout(const Decl *d, uint64_t *size, uint64_t *align, int depth)
{
    Decl *m = (Decl *)d;
    if (!m->layout_done) {
        rec_layout_raw(d, &m->c_size, &m->c_align, depth);
        m->layout_done = true;
    }
    *size = m->c_size;
    *align = m->c_align;
}

static void rec_layout_raw(const Decl *d, uint64_t *size, uint64_t *align, int depth)
{
    uint64_t off = 0, al = 1;
    if (d->kind == D_OPTUNION || d->kind == D_FRAMEUNION) {
        uint64_t m = 0;
        for (int i = 0; i < d->nmembers; i++) {
            uint64_t s, a;
            rec_layout(d->opts[i], &s, &a, depth + 1);
            m = s > m ? s : m;
            al = a > al ? a : al;
        }
        off = sat_add(sat_add(al, m), al - 1) / al * al; /* uint8 kind, then the union */
    } else if (d->kind == D_OPTLIST) {
        uint64_t s, a;
        rec_layout(d->uni, &s, &a, depth + 1);
        al = a > 4 ? a : 4;
        off = sat_add((4 + a - 1) / a * a, sat_mul(s, (uint64_t)d->capacity));
    } else {
        for (Field *f = d->fields; f; f = f->next) {
            uint64_t s, a;
            c_layout(f->ty, &s, &a, depth + 1);
            off = sat_add(sat_add(off, a - 1) / a * a, s);
            al = a > al ? a : al;
        }
        if (!d->fields)
            off = 1;
    }
    *size = sat_add(off, al - 1) / al * al;
    *align = al;
}

static void c_layout(const Type *t, uint64_t *size, uint64_t *align, int depth)
{
    if (depth > 64) {
        *size = *align = 1;
        return;
    }
    switch (t->kind) {
    case TY_INT: *size = *align = (uint64_t)t->bits / 8; return;
    case TY_BOOL: *size = *align = 1; return;
    case TY_BIT: *size = *align = t->bits <= 8 ? 1 : t->bits <= 16 ? 2 : 4; return;
    case TY_CSUM:
    case TY_TIMER: *size = *align = 2; return;
    case TY_ADDR: *size = *align = 8; return;
    case TY_DATA: *size = 32; *align = 8; return;
    case TY_SWND: *size = 8 + (uint64_t)t->cap / 8; *align = 8; return;
    case TY_LIST:
    case TY_SLIST: {
        uint64_t s, a;
        c_layout(t->elem, &s, &a, depth + 1);
        uint64_t al = a > 4 ? a : 4;
        uint64_t off = sat_add((4 + a - 1) / a * a, sat_mul(s, (uint64_t)t->cap));
        *size = sat_add(off, al - 1) / al * al;
        *align = al;
        return;
    }
    case TY_REC: rec_layout(t->rec, size, align, depth); return;
    default: *size = *align = 1; return;
    }
}

uint64_t type_size(const Type *t)
{
    uint64_t size, align;
    c_layout(t, &size, &align, 0);
    return size;
}

static void check_event_sizes(void)
{
    for (Decl *d = sema_prog->decls; d; d = d->next) {
        if (d->kind != D_CONTEXT && d->kind != D_SCRATCH && d->kind != D_BP)
            continue;
        uint64_t size, align;
        rec_layout(d, &size, &align, 0);
        if (size > (1u << 20))
            mtpc_error_at(d->name, "'%.*s' takes %llu bytes, more than 1 MiB", d->name->len,
                          d->name->loc, (unsigned long long)size);
    }
    for (int i = 0; i < sema_prog->nevents; i++) {
        Decl *e = sema_prog->events[i];
        uint64_t size, align;
        rec_layout(e, &size, &align, 0);
        if (size > 256)
            mtpc_error_at(e->name, "event '%.*s' takes %llu bytes, more than the 256 an event carries",
                          e->name->len, e->name->loc, (unsigned long long)size);
    }
}

/* Generated macro names are upper case: two names must not meet there. */
static char *macro_name(const char *prefix, const Token *a, const Token *b)
{
    char *s = mtpc_fmt("%s%.*s%s%.*s", prefix, a->len, a->loc, b ? "_" : "", b ? b->len : 0,
                       b ? b->loc : "");
    for (char *c = s; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    return s;
}

static void check_macro_collisions(void)
{
    int cap = 16, n = 0;
    for (Decl *d = sema_prog->decls; d; d = d->next)
        cap += 1 + d->nfields + d->nqueues;
    char **names = mtpc_calloc((size_t)cap, sizeof(char *));
    Token **toks = mtpc_calloc((size_t)cap, sizeof(Token *));
    static const char *fixed[] = {"N_EVENTS", "N_CTXS", "N_BPS", "H", "BPF_H"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        names[n] = (char *)fixed[i];
        toks[n++] = NULL;
    }
    for (Decl *d = sema_prog->decls; d; d = d->next) {
        const char *pre = d->kind == D_CONST ? "" : d->kind == D_EVENT ? "EV_"
                          : d->kind == D_CONTEXT ? "CTX_" : d->kind == D_BP ? "BP_" : NULL;
        if (pre) {
            names[n] = macro_name(pre, d->name, NULL);
            toks[n++] = d->name;
        }
        if (d->kind == D_CONTEXT)
            for (Field *f = d->fields; f; f = f->next)
                if (f->ty->kind == TY_TIMER) {
                    names[n] = macro_name("TIMER_", d->name, f->name);
                    toks[n++] = f->name;
                }
        if (d->kind == D_SCHED)
            for (Queue *q = d->queues; q; q = q->next) {
                names[n] = macro_name("Q_", q->name, NULL);
                toks[n++] = q->name;
            }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                mtpc_error_at(toks[i], "'%.*s' and %s%.*s%s both become MTPG_%s_%s in the generated C",
                              toks[i]->len, toks[i]->loc, toks[j] ? "'" : "a generated name",
                              toks[j] ? toks[j]->len : 0, toks[j] ? toks[j]->loc : "",
                              toks[j] ? "'" : "", sema_prog->upper ? sema_prog->upper : "X", names[i]);
}

/* ------------------------------------------------------------------ entry */

static Decl **push_decl(Decl **v, int *n, Decl *d)
{
    Decl **nv = mtpc_calloc((size_t)*n + 1, sizeof *nv);
    if (*n)
        memcpy(nv, v, (size_t)*n * sizeof *nv);
    nv[*n] = d;
    d->index = (*n)++;
    return nv;
}

void mtpc_sema(Program *p)
{
    sema_prog = p;
    fn = &no_fn;
    cur_field_scope = NULL;
    calls = NULL;
    ncalls = calls_cap = 0;
    memset(&no_fn, 0, sizeof no_fn);
    p->steer_off = -1;
    /* one namespace for every declaration */
    for (Decl *d = p->decls; d; d = d->next) {
        if (!d->name)
            continue;
        for (Decl *e = p->decls; e != d; e = e->next)
            if (e->name && e->name->len == d->name->len &&
                !memcmp(e->name->loc, d->name->loc, (size_t)d->name->len))
                mtpc_error_at(d->name, "duplicate declaration of '%.*s'", d->name->len,
                              d->name->loc);
        if (find_queue(d->name))
            mtpc_error_at(d->name, "'%.*s' is already declared as a queue", d->name->len,
                          d->name->loc);
        if (builtin_of(d->name) || tok_is(d->name, "INF") || tok_is(d->name, "bp") ||
            tok_is(d->name, "prev"))
            mtpc_error_at(d->name, "'%.*s' is a built-in name", d->name->len, d->name->loc);
    }
    int ndisp = 0, ndeploy = 0;
    for (Decl *d = p->decls; d; d = d->next) {
        switch (d->kind) {
        case D_EVENT: p->events = push_decl(p->events, &p->nevents, d); break;
        case D_CONTEXT: p->ctxs = push_decl(p->ctxs, &p->nctxs, d); break;
        case D_BP: p->bps = push_decl(p->bps, &p->nbps, d); break;
        case D_SEGRULE: p->srules = push_decl(p->srules, &p->nsrules, d); break;
        case D_PARAM: p->params = push_decl(p->params, &p->nparams, d); break;
        case D_SCRATCH:
            if (p->scratch)
                mtpc_error_at(d->name, "only one scratchpad per program");
            p->scratch = d;
            break;
        case D_DISPATCH:
            if (ndisp++)
                mtpc_error_at(d->tok, "only one dispatch block per program");
            p->dispatch = d;
            break;
        case D_DEPLOY:
            if (ndeploy++)
                mtpc_error_at(d->tok, "only one deploy block per program");
            break;
        default: break;
        }
    }
    if (p->nevents > 65535 || p->nctxs > 65535)
        mtpc_error_at(p->decls->name, "too many declarations");
    /* constants and params */
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind != D_CONST && d->kind != D_PARAM)
            continue;
        resolve_type(d->ty, 0);
        if (d->ty->kind != TY_INT && d->ty->kind != TY_BOOL)
            mtpc_error_at(d->ty->tok, "a %s must be an integer or bool", decl_kind_name(d->kind));
        check_value(d->init);
        check_assignable(d->init->tok, d->ty, d->init->ty);
        if (d->kind == D_CONST)
            const_eval_decl(d);
        else if (!mtpc_is_const(p, d->init))
            mtpc_error_at(d->init->tok, "the default of param '%.*s' must be a constant expression",
                          d->name->len, d->name->loc);
    }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_CONST && d->of_enum)
            check_enum_member(d);
    /* records: types first (order-independent), then layouts in declaration order */
    for (Decl *d = p->decls; d; d = d->next)
        switch (d->kind) {
        case D_STRUCT: case D_FLOWID: case D_EVENT: case D_CONTEXT: case D_SCRATCH:
        case D_NETHDR: case D_OPT: case D_BP:
            check_record(d);
            break;
        default: break;
        }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_FRAMEUNION) {
            d->opts = mtpc_calloc((size_t)d->nmembers, sizeof(Decl *));
            for (int i = 0; i < d->nmembers; i++)
                d->opts[i] = expect_decl(d->members[i], D_BP, "pkt_bp");
        }
    check_record_cycles();
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind == D_STRUCT)
            layout_wire(d);
        else if (d->kind == D_OPT)
            check_opt(d);
    }
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind == D_OPTUNION)
            check_optunion(d);
        else if (d->kind == D_NETHDR)
            check_netheader(d);
        else if (d->kind == D_CONTEXT && d->key_name) {
            d->key = expect_decl(d->key_name, D_FLOWID, "flow_id");
            int bytes = 0;
            for (Field *f = d->key->fields; f; f = f->next)
                bytes += f->ty->kind == TY_BOOL ? 1 : f->ty->bits / 8;
            if (bytes > 24)
                mtpc_error_at(d->key_name, "flow_id '%.*s' is %d bytes, more than the 24 of a context key",
                              d->key_name->len, d->key_name->loc, bytes);
        }
    }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_OPTLIST)
            check_optlist(d);
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_BP) {
            layout_wire(d);
            check_optlist_uses(d);
        }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_BP || d->kind == D_OPT || d->kind == D_STRUCT) {
            check_bp_inits(d);
            for (Field *f = d->fields; f; f = f->next)
                f->recomputed = d->kind == D_BP && names_len(f->init);
        }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_BP)
            link_counted_lists(d);
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_FRAMEUNION)
            check_frameunion(d);
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_CONTEXT || d->kind == D_SCRATCH) {
            /* initialisers: constants, params and earlier fields */
            Fn f;
            begin_fn(&f, NULL);
            for (Field *fl = d->fields; fl; fl = fl->next) {
                if (!fl->init)
                    continue;
                cur_field_scope = d;
                check_value(fl->init);
                cur_field_scope = NULL;
                check_assignable(fl->init->tok, fl->ty, fl->init->ty);
            }
            fn = &no_fn;
            if (d->kind == D_SCRATCH)
                for (Field *fl = d->fields; fl; fl = fl->next)
                    if (fl->init)
                        mtpc_error_at(fl->init->tok, "scratchpad fields start zeroed");
        }
    /* signatures, then dispatch (which fixes each event's context), then bodies */
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind == D_PROC)
            check_proc_signature(d);
        else if (d->kind == D_FUNC)
            check_func_signature(d);
        else if (d->kind == D_PARSER)
            check_parser_signature(d);
    }
    fn = &no_fn;
    if (p->dispatch)
        check_dispatch(p->dispatch);
    check_timer_contexts();
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind == D_PROC || d->kind == D_FUNC || d->kind == D_PARSER)
            check_body(d);
        else if (d->kind == D_COALESCE)
            check_coalesce(d);
        else if (d->kind == D_SEGRULE)
            check_segrule(d);
        else if (d->kind == D_SCHED)
            check_sched(d);
        else if (d->kind == D_INVARIANT)
            check_invariant(d);
    }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_DEPLOY)
            check_deploy(d);
    check_recursion();
    check_timer_params();
    check_event_sizes();
    check_macro_collisions();
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_FUNC && d->ty->kind != TY_VOID) {
            Stmt *last = d->body->body;
            while (last && last->next)
                last = last->next;
            if (!last || last->kind != S_RETURN)
                mtpc_error_at(d->name, "function '%.*s' must end with 'return value;'",
                              d->name->len, d->name->loc);
        }
    /* timer events of contexts: the chain must run on the same context */
    for (int i = 0; i < p->nevents; i++) {
        Decl *e = p->events[i];
        if (!e->disp)
            mtpc_warn_at(e->name, "event '%.*s' has no dispatch entry", e->name->len,
                         e->name->loc);
    }
    if (!p->sched) {
        int n = 0;
        for (Decl *d = p->decls; d; d = d->next)
            if (d->kind == D_SCHED) {
                n++;
                if (n == 1)
                    mtpc_warn_at(d->name, "scheduler '%.*s' is not registered (register_pkt_sched)",
                                 d->name->len, d->name->loc);
            }
    }
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind != D_PROC)
            continue;
        bool used = false;
        for (DispEntry *e = p->dispatch ? p->dispatch->entries : NULL; e && !used; e = e->next) {
            for (int i = 0; i < e->nchain; i++)
                used |= e->procs[i] == d;
            for (int i = 0; i < e->nels; i++)
                used |= e->eprocs[i] == d;
        }
        if (!used)
            mtpc_warn_at(d->name, "processor '%.*s' is not in any dispatch chain", d->name->len,
                         d->name->loc);
    }
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_PARSER && d != p->parser)
            mtpc_warn_at(d->name, "parser '%.*s' is not registered (register_ev_parser)",
                         d->name->len, d->name->loc);
}
