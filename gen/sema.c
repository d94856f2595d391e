/*
 * sema.c — name resolution, type checking, static checks (bounded loops, no recursion,
 * read-only events, dispatch signatures) and wire layouts of blueprints. Every error is fatal
 * and points at the token of the offending node.
 */
#include "mtpc.h"

static Program *prog;

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

static Type ty_u16 = {.kind = TY_INT, .bits = 16},
            ty_u32 = {.kind = TY_INT, .bits = 32}, ty_u64 = {.kind = TY_INT, .bits = 64},
            ty_i64 = {.kind = TY_INT, .bits = 64, .is_signed = true},
            ty_bool = {.kind = TY_BOOL}, ty_addr = {.kind = TY_ADDR},
            ty_data = {.kind = TY_DATA}, ty_void = {.kind = TY_VOID};

bool ty_is_scalar(const Type *t)
{
    return t->kind == TY_INT || t->kind == TY_BOOL || t->kind == TY_BIT || t->kind == TY_CSUM ||
           t->kind == TY_ADDR;
}

static const char *type_name(const Type *t)
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

static bool same_type(const Type *a, const Type *b)
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

static void check_assignable(const Token *t, const Type *dst, const Type *src)
{
    if (src->kind == TY_VOID)
        mtpc_error_at(t, "expression has no value");
    if (!assignable(dst, src))
        mtpc_error_at(t, "type mismatch: cannot use %s as %s", type_name(src), type_name(dst));
}

static void check_scalar(const Expr *e)
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

static Decl *find_decl_tok(const Token *t) { return mtpc_find_decl(prog, t->loc, t->len); }

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

static Queue *find_queue(const Token *t)
{
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_SCHED)
            for (Queue *q = d->queues; q; q = q->next)
                if (q->name->len == t->len && !memcmp(q->name->loc, t->loc, (size_t)t->len))
                    return q;
    return NULL;
}

static Decl *expect_decl(const Token *t, DeclKind k, const char *what)
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

static Decl *cur_field_scope; /* record whose earlier fields may be named bare */

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
    if (!mtpc_is_const(prog, d->init))
        mtpc_error_at(d->init->tok, "the value of const '%.*s' is not a constant expression",
                      d->name->len, d->name->loc);
    d->value = mtpc_const_eval(prog, d->init);
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

static int64_t const_in_range(Expr *e, int64_t lo, int64_t hi, const char *what)
{
    if (!mtpc_is_const(prog, e))
        mtpc_error_at(e->tok, "%s must be a constant expression", what);
    int64_t v = mtpc_const_eval(prog, e);
    if (v < lo || v > hi)
        mtpc_error_at(e->tok, "%s must be between %lld and %lld", what, (long long)lo,
                      (long long)hi);
    return v;
}

/* --------------------------------------------------------------- types */

static void resolve_type(Type *t, int depth)
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


/* ------------------------------------------------------- expression checking */

typedef struct Fn {
    Decl *decl;     /* D_PARSER, D_PROC, D_FUNC, D_COALESCE, or NULL (initialisers) */
    Var *vars;      /* every variable of the function (one namespace) */
    Var *scope;     /* visible variables */
    Var **frozen;   /* loop variables */
    int nfrozen;
    bool in_srule;  /* seg_rule expressions */
    bool srule_first;
    Decl *srule_bp;
} Fn;

static Fn no_fn; /* outside any function: constants, initialisers */
static Fn *fn = &no_fn;

static Expr *check_expr(Expr *e);
static Expr *check_value(Expr *e);
static void check_stmt(Stmt *s);
static bool is_rec_kind(const Type *t, DeclKind k);
static uint64_t type_size(const Type *t);

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

static void declare_var(Var *v)
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

static void need_exec(const Token *t, const char *what)
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
static Var *lvalue_root(Expr *e)
{
    switch (e->kind) {
    case E_IDENT: return e->res == R_VAR ? e->var : NULL;
    case E_FIELD:
    case E_INDEX: return lvalue_root(e->lhs);
    default: return NULL;
    }
}

static void check_lvalue(Expr *e)
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
static Expr **calls;
static int ncalls, calls_cap;

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

static void check_timer_params(void)
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

static int builtin_of(const Token *t)
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

static bool names_hdr_len(Expr *e);

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
static void link_counted_lists(Decl *d)
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
        !mtpc_is_const(prog, sel->init))
        mtpc_error_at(at, "frame '%.*s' needs a first field 'uintN type = constant'",
                      fr->name->len, fr->name->loc);
    fr->opt_kind = mtpc_const_eval(prog, sel->init);
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
static void check_frameunion(Decl *d)
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

static void check_b_keyed_hash(Expr *e, int lo, int hi)
{
    if (e->nargs < lo || e->nargs > hi)
        mtpc_error_at(e->tok, "keyed_hash takes %d to %d arguments", lo, hi);
    check_args_count(e, lo, hi);
    need_exec(e->tok, "keyed_hash()");
    check_scalar_args(e, 0);
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
    if (!mtpc_is_const(prog, e->args[0]))
        mtpc_error_at(e->args[0]->tok, "the unit id must be a constant");
    int64_t uid = mtpc_const_eval(prog, e->args[0]);
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

/* T(f = v, …): a value of record type T with the named fields set and the others as a
 * local `T x;` starts (zero, or the field initialisers of blueprints and options); T() is
 * that starting value */
static void check_record_literal(Expr *e, Decl *d)
{
    if (e->nargs)
        mtpc_error_at(e->args[0]->tok, "a record literal names every field it sets ('%.*s(f = v, ...)')",
                      d->name->len, d->name->loc);
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
            if (p->var->is_ptr) {
                Var *root = lvalue_root(a);
                if (!root || (a->kind != E_IDENT && a->kind != E_FIELD && a->kind != E_INDEX))
                    mtpc_error_at(a->tok, "a %s argument must be a variable or field",
                                  type_name(p->ty));
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
    if ((e->named || e->nargs == 0) && (d->kind == D_STRUCT || d->kind == D_FLOWID ||
                                        d->kind == D_BP || d->kind == D_EVENT || d->kind == D_OPT)) {
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
            if (mtpc_is_const(prog, a) && (mtpc_const_eval(prog, a) < 0 ||
                                           mtpc_const_eval(prog, a) >= bt->cap))
                mtpc_error_at(a->tok, "list index %lld out of range (capacity %lld)",
                              (long long)mtpc_const_eval(prog, a), (long long)bt->cap);
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
    if (e->ty->kind != TY_INT || !mtpc_is_const(prog, e))
        return;
    if (mtpc_const_eval(prog, e) > (int64_t)UINT32_MAX)
        e->ty = &ty_u64;
}

static Expr *check_expr(Expr *e)
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
        if (mtpc_is_const(prog, e->rhs)) {
            int64_t i = mtpc_const_eval(prog, e->rhs);
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
        if ((e->op[0] == '/' || e->op[0] == '%') && mtpc_is_const(prog, e->rhs) &&
            mtpc_const_eval(prog, e->rhs) == 0)
            mtpc_error_at(e->rhs->tok, "division by zero");
        const_expr_type(e);
        break;
    case E_IN:
        check_expr(e->lhs);
        check_scalar(e->lhs);
        for (int i = 0; i < e->nargs; i++) {
            Expr *m = check_expr(e->args[i]);
            check_scalar(m);
            if (!mtpc_is_const(prog, m))
                mtpc_error_at(m->tok, "a set member must be a constant");
            for (int j = 0; j < i; j++)
                if (mtpc_const_eval(prog, e->args[j]) == mtpc_const_eval(prog, m))
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

static Expr *check_value(Expr *e)
{
    check_expr(e);
    if (e->ty->kind == TY_VOID)
        mtpc_error_at(e->tok, "expression has no value");
    return e;
}

/* ------------------------------------------------------------ statements */

static void push_frozen(Var *v)
{
    Var **nv = mtpc_calloc((size_t)fn->nfrozen + 1, sizeof *nv);
    if (fn->nfrozen)
        memcpy(nv, fn->frozen, (size_t)fn->nfrozen * sizeof *nv);
    nv[fn->nfrozen++] = v;
    fn->frozen = nv;
}

static bool is_var_ref(Expr *e, Var *v)
{
    return e->kind == E_IDENT && e->res == R_VAR && e->var == v;
}

/* for (i = a; i < N | i <= N | i != N; i = i + c | i += c | i++) with N, c constant */
static void check_for(Stmt *s)
{
    Var *save = fn->scope;
    check_stmt(s->init);
    Var *iv = NULL;
    if (s->init->kind == S_DECL)
        iv = s->init->var;
    else if (s->init->kind == S_ASSIGN && !strcmp(s->init->op, "=") && s->init->lhs->kind == E_IDENT)
        iv = s->init->lhs->var;
    if (!iv || iv->ty->kind != TY_INT)
        mtpc_error_at(s->tok, "loop without a static bound: it must start with 'type i = ...'");
    check_value(s->expr);
    Expr *c = s->expr;
    bool ok = c->kind == E_BINARY && is_var_ref(c->lhs, iv) &&
              (!strcmp(c->op, "<") || !strcmp(c->op, "<=")) && mtpc_is_const(prog, c->rhs);
    if (!ok)
        mtpc_error_at(c->tok, "loop without a static bound: the condition must be 'i < constant'");
    check_stmt(s->step);
    Stmt *st = s->step;
    ok = st->kind == S_ASSIGN && is_var_ref(st->lhs, iv) &&
         ((!strcmp(st->op, "+=") && mtpc_is_const(prog, st->expr) &&
           mtpc_const_eval(prog, st->expr) > 0) ||
          (!strcmp(st->op, "=") && st->expr->kind == E_BINARY && !strcmp(st->expr->op, "+") &&
           is_var_ref(st->expr->lhs, iv) && mtpc_is_const(prog, st->expr->rhs) &&
           mtpc_const_eval(prog, st->expr->rhs) > 0));
    if (!ok)
        mtpc_error_at(st->tok, "loop without a static bound: the step must be 'i = i + constant'");
    int64_t bound = mtpc_const_eval(prog, c->rhs);
    if (bound > 1000000)
        mtpc_error_at(c->rhs->tok, "loop bound %lld is too large (at most 1000000)",
                      (long long)bound);
    /* the variable must reach the bound without wrapping around */
    int64_t max = iv->ty->bits >= 63 ? INT64_MAX
                  : iv->ty->is_signed ? ((int64_t)1 << (iv->ty->bits - 1)) - 1
                                      : ((int64_t)1 << iv->ty->bits) - 1;
    int64_t step = mtpc_const_eval(prog, !strcmp(st->op, "+=") ? st->expr : st->expr->rhs);
    int64_t last = !strcmp(c->op, "<=") ? bound : bound - 1;
    if (step > 1000000 || last + step > max)
        mtpc_error_at(c->rhs->tok, "loop without a static bound: a %s loop variable wraps "
                                   "around before reaching %lld",
                      type_name(iv->ty), (long long)bound);
    /* a signed variable could start far below the bound */
    Expr *start = s->init->expr;
    if (iv->ty->is_signed && !(start && mtpc_is_const(prog, start) &&
                               bound - mtpc_const_eval(prog, start) <= 1000000))
        mtpc_error_at(s->init->tok, "loop without a static bound: a signed loop variable needs a "
                                    "constant start near the bound");
    push_frozen(iv);
    check_stmt(s->body);
    fn->nfrozen--;
    fn->scope = save;
}

/* The element variable of `for (x in l)` names each element of l in turn, read-only: a
 * reference when l is (part of) the event, which nothing changes during a chain, else a copy,
 * as the body may change l. */
static void check_inv_stmt(Stmt *s, bool top);

static void check_for_in(Stmt *s)
{
    Var *save = fn->scope;
    Expr *l = check_value(s->expr);
    if (l->ty->kind != TY_LIST && l->ty->kind != TY_SLIST)
        mtpc_error_at(l->tok, "type mismatch: 'for ... in' needs a list, not %s", type_name(l->ty));
    Var *root = lvalue_root(l);
    if (!root || (l->kind != E_IDENT && l->kind != E_FIELD && l->kind != E_INDEX))
        mtpc_error_at(l->tok, "'for ... in' needs a list variable or field");
    if (s->ivar) {
        s->ivar->ty = &ty_u32;
        s->ivar->is_readonly = true;
        declare_var(s->ivar);
    }
    s->var->ty = l->ty->elem;
    s->var->is_readonly = true;
    s->var->is_ptr = !ty_is_scalar(l->ty->elem) && (root->is_const || root->is_readonly);
    declare_var(s->var);
    if (fn->decl && fn->decl->kind == D_INVARIANT) /* `for (x in l) cond;`: for every element */
        check_inv_stmt(s->body, false);
    else
        check_stmt(s->body);
    fn->scope = save;
}

static bool is_instruction_call(const Expr *e)
{
    if (e->kind == E_CALL)
        return mtpc_builtin_is_instr(e->builtin) || e->res == R_FUNC;
    if (e->kind == E_METHOD)
        return e->builtin != M_TEST && e->builtin != M_FIRST_SET && e->builtin != M_FIRST_UNSET &&
               e->builtin != M_HEAD && e->builtin != M_LEN && e->builtin != M_FIRST &&
               e->builtin != M_HAS && e->builtin != M_GET && e->builtin != M_IS &&
               e->builtin != M_FIND;
    return false;
}

static void check_stmt(Stmt *s)
{
    switch (s->kind) {
    case S_BLOCK: {
        Var *save = fn->scope;
        for (Stmt *c = s->body; c; c = c->next)
            check_stmt(c);
        fn->scope = save;
        return;
    }
    case S_DECL: {
        Var *v = s->var;
        resolve_type(v->ty, 0);
        if (v->ty->kind == TY_TIMER || v->ty->kind == TY_PKT || v->ty->kind == TY_BIT ||
            v->ty->kind == TY_CSUM)
            mtpc_error_at(v->ty->tok, "a local variable cannot be a %s", type_name(v->ty));
        if (v->ty->kind == TY_REC &&
            (v->ty->rec->kind == D_SCRATCH || v->ty->rec->kind == D_NETHDR))
            mtpc_error_at(v->ty->tok, "a local variable cannot be a %s",
                          decl_kind_name(v->ty->rec->kind));
        if (v->ty->kind == TY_REC && v->ty->rec->kind == D_EVENT &&
            fn->decl->kind != D_PARSER)
            mtpc_error_at(v->ty->tok, "events are created only in parsers");
        if (type_size(v->ty) > 65536)
            mtpc_error_at(v->name, "local '%.*s' takes %llu bytes, more than the 64 KiB a local may",
                          v->name->len, v->name->loc, (unsigned long long)type_size(v->ty));
        if (s->expr) {
            check_value(s->expr);
            check_assignable(s->expr->tok, v->ty, s->expr->ty);
        }
        if (v->is_readonly && !ty_is_scalar(v->ty)) {
            /* `const T x = ev.f;`: a reference to what never changes in a chain, else a copy */
            Var *root = lvalue_root(s->expr);
            v->is_ptr = root && (root->is_const || root->is_readonly) &&
                        (s->expr->kind == E_FIELD || s->expr->kind == E_INDEX ||
                         s->expr->kind == E_IDENT);
        }
        declare_var(v);
        return;
    }
    case S_EXPR:
        check_expr(s->expr);
        if (!is_instruction_call(s->expr))
            mtpc_error_at(s->expr->tok, "statement has no effect");
        return;
    case S_ASSIGN:
        check_expr(s->lhs);
        check_lvalue(s->lhs);
        check_value(s->expr);
        if (strcmp(s->op, "=")) {
            check_scalar(s->lhs);
            check_scalar(s->expr);
        }
        check_assignable(s->expr->tok, s->lhs->ty, s->expr->ty);
        return;
    case S_IF:
        check_value(s->expr);
        check_scalar(s->expr);
        check_stmt(s->then);
        if (s->els)
            check_stmt(s->els);
        return;
    case S_FOR: check_for(s); return;
    case S_FOR_IN: check_for_in(s); return;
    case S_RETURN:
        if (fn->decl->kind == D_FUNC && fn->decl->ty->kind != TY_VOID) {
            if (!s->expr)
                mtpc_error_at(s->tok, "return needs a value of type %s", type_name(fn->decl->ty));
            check_value(s->expr);
            check_assignable(s->expr->tok, fn->decl->ty, s->expr->ty);
        } else if (s->expr)
            mtpc_error_at(s->expr->tok, "this %s returns no value", decl_kind_name(fn->decl->kind));
        if (fn->decl->kind == D_COALESCE)
            mtpc_error_at(s->tok, "a coalescing rule has only 'when' statements");
        return;
    case S_STOP:
        if (fn->decl->kind != D_PROC)
            mtpc_error_at(s->tok, "'stop' is only allowed in processors");
        return;
    case S_DROP:
        if (fn->decl->kind != D_PARSER)
            mtpc_error_at(s->tok, "'drop' is only allowed in parsers");
        return;
    case S_WHEN:
        if (fn->decl->kind != D_COALESCE)
            mtpc_error_at(s->tok, "'when' is only allowed in coalescing rules");
        check_value(s->expr);
        check_scalar(s->expr);
        return;
    case S_ASSERT:
        need_exec(s->tok, "assert");
        check_value(s->expr);
        check_scalar(s->expr);
        return;
    }
}

/* -------------------------------------------------------- wire layouts */

/* Fixed-size prefix of a wire record: integers, bit runs, csum16 and wire structs. */
static void layout_wire(Decl *d)
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

static void check_bp_inits(Decl *d)
{
    cur_field_scope = d;
    for (Field *f = d->fields; f; f = f->next) {
        if (!f->init)
            continue;
        check_value(f->init);
        check_assignable(f->init->tok, f->ty, f->init->ty);
        if (d->kind != D_BP && !mtpc_is_const(prog, f->init))
            mtpc_error_at(f->init->tok, "initialisers must be constant expressions");
    }
    cur_field_scope = NULL;
}

static bool names_hdr_len(Expr *e)
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

static bool names_len(Expr *e)
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

static void check_opt(Decl *d)
{
    layout_wire(d);
    Field *k = d->fields;
    if (!k || k->ty->kind != TY_INT || k->ty->bits != 8 || !k->init ||
        !mtpc_is_const(prog, k->init))
        mtpc_error_at(d->name, "the first field of an option must be 'uint8 kind = constant'");
    d->opt_kind = mtpc_const_eval(prog, k->init);
    if (d->opt_kind < 0 || d->opt_kind > 255)
        mtpc_error_at(k->init->tok, "option kind must be 0..255");
    d->one_byte = !k->next;
    if (k->next && (k->next->ty->kind != TY_INT || k->next->ty->bits != 8))
        mtpc_error_at(k->next->name, "the second field of an option must be 'uint8' (its length)");
    for (Field *f = d->fields; f; f = f->next)
        if (f->ty->kind == TY_BIT)
            mtpc_error_at(f->name, "bit fields are not supported in options");
}

static void check_optunion(Decl *d)
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

static void check_optlist(Decl *d)
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
static void check_optlist_uses(Decl *bp)
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

static bool is_rec_kind(const Type *t, DeclKind k) { return t->kind == TY_REC && t->rec->kind == k; }

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
static void check_inv_stmt(Stmt *s, bool top)
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
                                  "hdr_len"};
    for (Field *f = d->fields; f; f = f->next) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok |= tok_is(f->name, known[i]);
        if (!ok)
            mtpc_error_at(f->name, "unknown IPv4 header field '%.*s' (src, dst, tos, ttl, total_len, id, proto, hdr_len)",
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
    if (p->p_scratch && prog->scratch != p->p_scratch)
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
    for (int i = 0; i < prog->nctxs; i++) {
        Decl *c = prog->ctxs[i];
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
            prog->ip_proto = (int)const_in_range(c->args[0], 1, 255, "IP protocol");
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
            prog->steer_bp = bp;
            prog->steer_field = f;
            prog->steer_off = f->bit_off / 8;
        } else if (tok_is(c->name, "register_ev_parser")) {
            if (prog->parser)
                mtpc_error_at(c->name, "only one parser can be registered");
            prog->parser = deploy_target(c, D_PARSER, "parser");
        } else if (tok_is(c->name, "register_seg_rule")) {
            deploy_target(c, D_SEGRULE, "seg_rule");
        } else if (tok_is(c->name, "register_coalescing_rule")) {
            Decl *r = deploy_target(c, D_COALESCE, "coalesce");
            for (int i = 0; i < prog->ncoalesce; i++)
                if (prog->coalesce[i] == r)
                    mtpc_error_at(c->args[0]->tok, "rule registered twice");
            Decl **v = mtpc_calloc((size_t)prog->ncoalesce + 1, sizeof *v);
            if (prog->ncoalesce)
                memcpy(v, prog->coalesce, (size_t)prog->ncoalesce * sizeof *v);
            v[prog->ncoalesce++] = r;
            prog->coalesce = v;
        } else if (tok_is(c->name, "register_pkt_sched")) {
            if (prog->sched)
                mtpc_error_at(c->name, "only one scheduler can be registered");
            prog->sched = deploy_target(c, D_SCHED, "sched");
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
    for (Decl *d = prog->decls; d; d = d->next) {
        if (d->kind != D_FUNC)
            continue;
        for (Decl *e = prog->decls; e; e = e->next)
            e->visit = 0;
        visit_calls(d, d);
    }
    /* exec use is transitive: a parser may only call functions that need no exec */
    bool changed = true;
    for (int round = 0; changed && round < 1000; round++) {
        changed = false;
        for (Decl *d = prog->decls; d; d = d->next)
            if (d->kind == D_FUNC && !d->uses_exec)
                for (int i = 0; i < d->ncallees; i++)
                    if (d->callees[i]->uses_exec) {
                        d->uses_exec = true;
                        changed = true;
                    }
    }
    for (Decl *d = prog->decls; d; d = d->next) {
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
    for (Decl *d = prog->decls; d; d = d->next)
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

static uint64_t type_size(const Type *t)
{
    uint64_t size, align;
    c_layout(t, &size, &align, 0);
    return size;
}

static void check_event_sizes(void)
{
    for (Decl *d = prog->decls; d; d = d->next) {
        if (d->kind != D_CONTEXT && d->kind != D_SCRATCH && d->kind != D_BP)
            continue;
        uint64_t size, align;
        rec_layout(d, &size, &align, 0);
        if (size > (1u << 20))
            mtpc_error_at(d->name, "'%.*s' takes %llu bytes, more than 1 MiB", d->name->len,
                          d->name->loc, (unsigned long long)size);
    }
    for (int i = 0; i < prog->nevents; i++) {
        Decl *e = prog->events[i];
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
    for (Decl *d = prog->decls; d; d = d->next)
        cap += 1 + d->nfields + d->nqueues;
    char **names = mtpc_calloc((size_t)cap, sizeof(char *));
    Token **toks = mtpc_calloc((size_t)cap, sizeof(Token *));
    static const char *fixed[] = {"N_EVENTS", "N_CTXS", "N_BPS", "H", "BPF_H"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        names[n] = (char *)fixed[i];
        toks[n++] = NULL;
    }
    for (Decl *d = prog->decls; d; d = d->next) {
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
                              toks[j] ? "'" : "", prog->upper ? prog->upper : "X", names[i]);
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
    prog = p;
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
