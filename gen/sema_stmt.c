/*
 * sema_stmt.c — statement checking: declarations, assignments (read-only events, const locals,
 * loop variables), bounded loops, for-in, stop/drop/when, assert.
 */
#include "sema.h"

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
              (!strcmp(c->op, "<") || !strcmp(c->op, "<=")) && mtpc_is_const(sema_prog, c->rhs);
    if (!ok)
        mtpc_error_at(c->tok, "loop without a static bound: the condition must be 'i < constant'");
    check_stmt(s->step);
    Stmt *st = s->step;
    ok = st->kind == S_ASSIGN && is_var_ref(st->lhs, iv) &&
         ((!strcmp(st->op, "+=") && mtpc_is_const(sema_prog, st->expr) &&
           mtpc_const_eval(sema_prog, st->expr) > 0) ||
          (!strcmp(st->op, "=") && st->expr->kind == E_BINARY && !strcmp(st->expr->op, "+") &&
           is_var_ref(st->expr->lhs, iv) && mtpc_is_const(sema_prog, st->expr->rhs) &&
           mtpc_const_eval(sema_prog, st->expr->rhs) > 0));
    if (!ok)
        mtpc_error_at(st->tok, "loop without a static bound: the step must be 'i = i + constant'");
    int64_t bound = mtpc_const_eval(sema_prog, c->rhs);
    if (bound > 1000000)
        mtpc_error_at(c->rhs->tok, "loop bound %lld is too large (at most 1000000)",
                      (long long)bound);
    /* the variable must reach the bound without wrapping around */
    int64_t max = iv->ty->bits >= 63 ? INT64_MAX
                  : iv->ty->is_signed ? ((int64_t)1 << (iv->ty->bits - 1)) - 1
                                      : ((int64_t)1 << iv->ty->bits) - 1;
    int64_t step = mtpc_const_eval(sema_prog, !strcmp(st->op, "+=") ? st->expr : st->expr->rhs);
    int64_t last = !strcmp(c->op, "<=") ? bound : bound - 1;
    if (step > 1000000 || last + step > max)
        mtpc_error_at(c->rhs->tok, "loop without a static bound: a %s loop variable wraps "
                                   "around before reaching %lld",
                      type_name(iv->ty), (long long)bound);
    /* a signed variable could start far below the bound */
    Expr *start = s->init->expr;
    if (iv->ty->is_signed && !(start && mtpc_is_const(sema_prog, start) &&
                               bound - mtpc_const_eval(sema_prog, start) <= 1000000))
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

void check_for_in(Stmt *s)
{
    Var *save = fn->scope;
    Expr *l = check_value(s->expr);
    if (l->ty->kind != TY_LIST && l->ty->kind != TY_SLIST)
        mtpc_error_at(l->tok, "type mismatch: 'for ... in' needs a list, not %s", type_name(l->ty));
    Var *root = lvalue_root(l);
    bool is_lvalue = root && (l->kind == E_IDENT || l->kind == E_FIELD || l->kind == E_INDEX);
    if (!is_lvalue && fn->decl && fn->decl->kind == D_INVARIANT)
        mtpc_error_at(l->tok, "'for ... in' in an invariant needs a list variable or field");
    s->copy_list = !is_lvalue;      /* any other list value is iterated in a copy */
    if (s->ivar) {
        s->ivar->ty = &ty_u32;
        s->ivar->is_readonly = true;
        declare_var(s->ivar);
    }
    s->var->ty = l->ty->elem;
    s->var->is_readonly = true;
    s->var->is_ptr = !ty_is_scalar(l->ty->elem) &&
                     (s->copy_list || root->is_const || root->is_readonly);
    declare_var(s->var);
    if (fn->decl && fn->decl->kind == D_INVARIANT && s->body->kind == S_FOR_IN)
        check_for_in(s->body);                     /* `for (x in l) for (y in m) cond;`: pairs */
    else if (fn->decl && fn->decl->kind == D_INVARIANT) /* `for (x in l) cond;`: every element */
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

void check_stmt(Stmt *s)
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
        } else if (s->expr) {
            /* `return f(...);` with f void: the call, then return (a guard on one line) */
            Expr *e = s->expr;
            if (e->kind != E_CALL && e->kind != E_METHOD)
                mtpc_error_at(e->tok, "this %s returns no value", decl_kind_name(fn->decl->kind));
            check_expr(e);
            if (e->ty && e->ty->kind != TY_VOID)
                mtpc_error_at(e->tok, "this %s returns no value", decl_kind_name(fn->decl->kind));
            Stmt *call = mtpc_calloc(1, sizeof *call), *ret = mtpc_calloc(1, sizeof *ret);
            *call = (Stmt){.kind = S_EXPR, .tok = e->tok, .expr = e, .next = ret};
            *ret = (Stmt){.kind = S_RETURN, .tok = s->tok};
            s->kind = S_BLOCK;
            s->expr = NULL;
            s->body = call;
            check_stmt(s);
            return;
        }
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
