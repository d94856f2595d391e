/*
 * emit_harness.c — `mtpc --emit=harness`: the program-specific half of the protocol analysis
 * harness (paper Appendix A). For each dispatch chain it writes a driver that reads the event,
 * the context and the global contexts from the fuzz input, makes them well-formed (bools 0/1,
 * list lengths within capacity, sorted lists sorted, window sizes as declared), assumes the
 * program's `invariant`s, runs the chain and then checks the program's asserts, the generic
 * oracles of gen/harness/mtph.c on the instruction buffer and the invariants again. A second
 * driver (-DMTPH_PARSER) runs the parser on raw bytes.
 *
 * Build (make does it, see gen/gen.mk): clang -fsanitize=fuzzer,address,undefined with the
 * program's generated C (-DMTP_ASSERTS), gen/harness/mtph.c and the runtime helpers.
 * -DMTPH_CHAIN=k fuzzes chain k only; -DMTPH_KLEE builds a main() for KLEE instead.
 */
#include "mtpc.h"

static Program *prog;
static FILE *out;
static const char *P, *U;

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
}

static char *name_of(const Token *t) { return tok_str(t); }

static char *upper_of(const Token *t)
{
    char *s = tok_str(t);
    for (char *c = s; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    return s;
}

static char *rec_c(const Decl *d) { return mtpc_fmt("struct mtpg_%s_%s", P, name_of(d->name)); }

/* ------------------------------------------------------------ well-formed inputs */

static bool fixable(const Decl *d)
{
    switch (d->kind) {
    case D_STRUCT: case D_FLOWID: case D_EVENT: case D_CONTEXT: case D_OPT: case D_BP:
        return true;
    default: return false;
    }
}

/* the fix of one value of type t at C lvalue `lv` */
static void fix_value(const Type *t, const char *lv, int depth)
{
    switch (t->kind) {
    case TY_BOOL: emit("    mtph_fix_bool(&%s);\n", lv); return;
    case TY_BIT:
        if (t->bits < 32)
            emit("    %s &= 0x%llxu;\n", lv, (unsigned long long)((1ull << t->bits) - 1));
        return;
    case TY_SWND: emit("    %s.nbits = %lld;\n", lv, (long long)t->cap); return;
    case TY_REC:
        if (t->rec->kind == D_OPTLIST)
            emit("    if (%s.len > %lld) %s.len %%= %lld;\n", lv, (long long)t->rec->capacity, lv,
                 (long long)t->rec->capacity + 1);
        else if (fixable(t->rec))
            emit("    mtph_fix_%s(&%s);\n", name_of(t->rec->name), lv);
        return;
    case TY_LIST:
    case TY_SLIST: {
        long long cap = (long long)t->cap;
        emit("    if (%s.len > %lld) %s.len %%= %lld;\n", lv, cap, lv, cap + 1);
        char *i = mtpc_fmt("mtph_i%d", depth);
        char *el = mtpc_fmt("%s.v[%s]", lv, i);
        if (t->elem->kind == TY_BOOL || t->elem->kind == TY_REC || t->elem->kind == TY_BIT) {
            emit("    for (uint32_t %s = 0; %s < %lld; %s++) {\n", i, i, cap, i);
            fix_value(t->elem, el, depth + 1);
            emit("    }\n");
        }
        if (t->kind == TY_SLIST) { /* sorted by its key, as the program keeps it */
            char *k = name_of(t->key_field->name);
            emit("    for (uint32_t %s = 1; %s < %s.len; %s++)\n", i, i, lv, i);
            emit("        for (uint32_t mtph_j = %s; mtph_j > 0 && %s.v[mtph_j - 1].%s > %s.v[mtph_j].%s; mtph_j--) {\n",
                 i, lv, k, lv, k);
            emit("            %s mtph_t = %s.v[mtph_j];\n", mtpc_c_type(t->elem), lv);
            emit("            %s.v[mtph_j] = %s.v[mtph_j - 1];\n", lv, lv);
            emit("            %s.v[mtph_j - 1] = mtph_t;\n", lv);
            emit("        }\n");
        }
        return;
    }
    default: return;
    }
}

static void emit_fixers(void)
{
    for (Decl *d = prog->decls; d; d = d->next)
        if (fixable(d))
            emit("static void mtph_fix_%s(%s *v);\n", name_of(d->name), rec_c(d));
    emit("\n");
    for (Decl *d = prog->decls; d; d = d->next) {
        if (!fixable(d))
            continue;
        emit("static void mtph_fix_%s(%s *v)\n{\n    (void)v;\n", name_of(d->name), rec_c(d));
        for (Field *f = d->fields; f; f = f->next)
            fix_value(f->ty, mtpc_fmt("v->%s", name_of(f->name)), 0);
        emit("}\n\n");
    }
}

/* prints the number and bool fields of a record (the inputs of a failed chain) */
static void emit_dumpers(void)
{
    for (Decl *d = prog->decls; d; d = d->next) {
        if (d->kind != D_EVENT && d->kind != D_CONTEXT)
            continue;
        emit("static void mtph_dump_%s(const char *what, const %s *v)\n{\n", name_of(d->name),
             rec_c(d));
        emit("    fprintf(stderr, \"mtph: %%s %s:\", what);\n", name_of(d->name));
        for (Field *f = d->fields; f; f = f->next) {
            if (f->ty->kind == TY_INT && f->ty->is_signed)
                emit("    fprintf(stderr, \" %s=%%lld\", (long long)v->%s);\n", name_of(f->name),
                     name_of(f->name));
            else if (f->ty->kind == TY_INT || f->ty->kind == TY_BOOL || f->ty->kind == TY_BIT)
                emit("    fprintf(stderr, \" %s=%%llu\", (unsigned long long)v->%s);\n",
                     name_of(f->name), name_of(f->name));
            else if (f->ty->kind == TY_LIST || f->ty->kind == TY_SLIST) {
                char *fn = name_of(f->name);
                emit("    fprintf(stderr, \" %s=[\");\n", fn);
                emit("    for (uint32_t i = 0; i < v->%s.len && i < %lld; i++) {\n", fn,
                     (long long)f->ty->cap);
                if (f->ty->elem->kind == TY_INT)
                    emit("        fprintf(stderr, \"%%s%%llu\", i ? \" \" : \"\", "
                         "(unsigned long long)v->%s.v[i]);\n", fn);
                else if (f->ty->elem->kind == TY_REC) {
                    emit("        fprintf(stderr, \"%%s{\", i ? \" \" : \"\");\n");
                    for (Field *g = f->ty->elem->rec->fields; g; g = g->next)
                        if (g->ty->kind == TY_INT)
                            emit("        fprintf(stderr, \" %s=%%llu\", (unsigned long long)v->%s.v[i].%s);\n",
                                 name_of(g->name), fn, name_of(g->name));
                    emit("        fprintf(stderr, \" }\");\n");
                }
                emit("    }\n    fprintf(stderr, \"]\");\n");
            }
        }
        emit("    fprintf(stderr, \"\\n\");\n}\n\n");
    }
}

/* ------------------------------------------------------------ invariants */

/* the source text of a statement up to its ';', as a C string literal body */
static char *stmt_text(const Stmt *s)
{
    const char *p = s->tok->loc;
    int depth = 0;
    size_t n = 0;
    while (p[n] && !(depth == 0 && p[n] == ';')) {
        if (p[n] == '(' || p[n] == '{' || p[n] == '[')
            depth++;
        else if (p[n] == ')' || p[n] == '}' || p[n] == ']')
            depth--;
        n++;
    }
    char *t = mtpc_calloc(1, 2 * n + 1), *q = t;
    for (size_t i = 0; i < n; i++) {
        char c = p[i] == '\n' || p[i] == '\t' ? ' ' : p[i];
        if (c == '"' || c == '\\')
            *q++ = '\\';
        *q++ = c;
    }
    return t;
}

/* `tx_appended(K) == e` / `tx_acked(K) == e`: before a chain, the model takes its value */
static Expr *unit_binding(const Stmt *s, const char **which)
{
    Expr *e = s->expr;
    if (e->kind != E_BINARY || strcmp(e->op, "==") || e->lhs->kind != E_CALL ||
        (e->lhs->builtin != B_TX_APPENDED && e->lhs->builtin != B_TX_ACKED))
        return NULL;
    *which = e->lhs->builtin == B_TX_APPENDED ? "appended" : "acked";
    return e->rhs;
}

/* the context of an invariant (after the event of a precondition) */
static Decl *inv_ctx(const Decl *inv)
{
    return (inv->p_event ? inv->params->next : inv->params)->ty->rec;
}

/* the conditions of one invariant statement: `cond;`, or those under `if (guard)` */
static void emit_cond(Decl *d, Stmt *s, const char *guard);

/* for (x in l) cond; … : every element (conditions only, no unit bindings); a nested
 * for (y in m) cond; is every pair (depth: the loop's counter, mtph_k0, mtph_k1, …) */
static void emit_for_in_conds(Decl *d, Stmt *s, int depth)
{
    Expr *l = s->expr;
    char *ls = mtpc_c_expr(l);
    long long cap = (long long)l->ty->cap;
    emit("    for (uint32_t mtph_k%d = 0; mtph_k%d < (%s).len && mtph_k%d < %lld; mtph_k%d++) {\n",
         depth, depth, ls, depth, cap, depth);
    if (s->ivar)
        emit("    uint32_t %s = mtph_k%d;\n", name_of(s->ivar->name), depth);
    if (s->var->is_ptr)
        emit("    const %s *%s = &(%s).v[mtph_k%d];\n", mtpc_c_type(s->var->ty),
             name_of(s->var->name), ls, depth);
    else
        emit("    %s %s = (%s).v[mtph_k%d];\n", mtpc_c_type(s->var->ty), name_of(s->var->name), ls,
             depth);
    if (s->body->kind == S_FOR_IN)
        emit_for_in_conds(d, s->body, depth + 1);
    else if (s->body->kind == S_BLOCK)
        for (Stmt *c = s->body->body; c; c = c->next)
            emit_cond(d, c, "1");
    else
        emit_cond(d, s->body, "1");
    emit("    }\n");
}

static void each_cond(Stmt *s, void (*f)(Decl *, Stmt *, const char *), Decl *d)
{
    if (s->kind == S_FOR_IN) {
        if (f == emit_cond)
            emit_for_in_conds(d, s, 0);
        return;
    }
    if (s->kind != S_IF) {
        f(d, s, "1");
        return;
    }
    char *g = mtpc_c_expr(s->expr);
    if (s->then->kind != S_BLOCK)
        f(d, s->then, g);
    else
        for (Stmt *c = s->then->body; c; c = c->next)
            f(d, c, g);
}

static void emit_bind(Decl *d, Stmt *s, const char *guard)
{
    (void)d;
    const char *which;
    Expr *v = unit_binding(s, &which);
    if (v)
        emit("    if (%s)\n        mtph_bind_%s(%s, (uint64_t)(%s));\n", guard, which,
             mtpc_c_expr(s->expr->lhs->args[0]), mtpc_c_expr(v));
}

static void emit_cond(Decl *d, Stmt *s, const char *guard)
{
    emit("    if ((%s) && !(%s))\n        return \"%s: %s\";\n", guard, mtpc_c_expr(s->expr),
         name_of(d->name), stmt_text(s));
}

/* invariant pre(event ev, context c): assumed before that event's chain, never checked */
static void emit_precondition(Decl *d)
{
    Param *pe = d->params, *pc = pe->next;
    emit("static const char *mtph_pre_%s(const %s *%s, const %s *%s)\n{\n", name_of(d->name),
         rec_c(d->p_event), name_of(pe->name), rec_c(inv_ctx(d)), name_of(pc->name));
    for (Stmt *s = d->body->body; s; s = s->next)
        each_cond(s, emit_cond, d);
    emit("    return NULL;\n}\n\n");
}

static void emit_invariant(Decl *d)
{
    if (d->p_event) {
        emit_precondition(d);
        return;
    }
    Decl *c = inv_ctx(d);
    char *pn = name_of(d->params->name);
    emit("static void mtph_bind_%s(const %s *%s)\n{\n    (void)%s;\n", name_of(d->name), rec_c(c),
         pn, pn);
    for (Stmt *s = d->body->body; s; s = s->next)
        each_cond(s, emit_bind, d);
    emit("}\n\n");
    emit("/* the first condition of invariant %s that does not hold, NULL: all hold */\n",
         name_of(d->name));
    emit("static const char *mtph_inv_%s(const %s *%s)\n{\n", name_of(d->name), rec_c(c), pn);
    for (Stmt *s = d->body->body; s; s = s->next)
        each_cond(s, emit_cond, d);
    emit("    return NULL;\n}\n\n");
}

/* all invariants of context c: mtph_binds_<c>() and mtph_invs_<c>() */
static void emit_ctx_invariants(Decl *c)
{
    emit("static void mtph_binds_%s(const %s *c)\n{\n    (void)c;\n", name_of(c->name), rec_c(c));
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_INVARIANT && !d->p_event && inv_ctx(d) == c)
            emit("    mtph_bind_%s(c);\n", name_of(d->name));
    emit("}\n\n");
    emit("static const char *mtph_invs_%s(const %s *c)\n{\n    const char *bad = NULL;\n    (void)c;\n",
         name_of(c->name), rec_c(c));
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_INVARIANT && !d->p_event && inv_ctx(d) == c)
            emit("    if (!bad)\n        bad = mtph_inv_%s(c);\n", name_of(d->name));
    emit("    return bad;\n}\n\n");
}

/* ------------------------------------------------------------ chains */

static void emit_chain(Decl *ev, int k)
{
    Decl *c = ev->ev_ctx;
    char *en = name_of(ev->name);
    bool local = c && c->gran != GRAN_GLOBAL;
    emit("/* chain %d: event %s */\n", k, en);
    emit("static %s ev0_%s;\n", rec_c(ev), en);
    if (local)
        emit("static %s ctx0_%s, ctx_%s;\n", rec_c(c), en, en);
    emit("static void mtph_dump_inputs_%s(void)\n{\n    mtph_dump_%s(\"event\", &ev0_%s);\n", en,
         en, en);
    if (local)
        emit("    if (ctx0_used) {\n        mtph_dump_%s(\"context before the chain\", &ctx0_%s);\n"
             "        mtph_dump_%s(\"context now\", &ctx_%s);\n    }\n",
             name_of(c->name), en, name_of(c->name), en);
    emit("}\n\n");
    emit("static void mtph_chain_%s(struct mtph_input *in)\n{\n", en);
    emit("    static struct mtph_run r;\n");
    emit("    %s ev;\n    mtph_take(in, &ev, sizeof ev);\n    mtph_fix_%s(&ev);\n", rec_c(ev), en);
    emit("    void *globals[%d] = {0};\n", prog->nctxs ? prog->nctxs : 1);
    for (int i = 0; i < prog->nctxs; i++) {
        Decl *g = prog->ctxs[i];
        if (g->gran != GRAN_GLOBAL)
            continue;
        char *gn = name_of(g->name);
        emit("    static %s g_%s;\n    mtph_take(in, &g_%s, sizeof g_%s);\n    mtph_fix_%s(&g_%s);\n",
             rec_c(g), gn, gn, gn, gn, gn);
        emit("    globals[%d] = &g_%s;\n", i, gn);
    }
    if (local) {
        emit("    %s *const c = &ctx_%s;\n    mtph_take(in, c, sizeof *c);\n    mtph_fix_%s(c);\n",
             rec_c(c), en, name_of(c->name));
        emit("    bool use_else = %s;\n", ev->disp->has_else ? "mtph_take_u8(in) & 1" : "false");
    } else {
        emit("    bool use_else = false;\n");
    }
    emit("    mtph_begin(&r, in, globals);\n");
    /* assume: unit model from the context, then the invariants */
    if (local) {
        emit("    if (!use_else) {\n        mtph_binds_%s(c);\n        if (mtph_invs_%s(c))\n"
             "            return;\n",
             name_of(c->name), name_of(c->name));
        for (Decl *d = prog->decls; d; d = d->next)
            if (d->kind == D_INVARIANT && d->p_event == ev)
                emit("        if (mtph_pre_%s(&ev, c))\n            return;\n", name_of(d->name));
        emit("    }\n");
    }
    for (int i = 0; i < prog->nctxs; i++)
        if (prog->ctxs[i]->gran == GRAN_GLOBAL)
            emit("    if (mtph_invs_%s(&g_%s))\n        return;\n", name_of(prog->ctxs[i]->name),
                 name_of(prog->ctxs[i]->name));
    emit("    static uint8_t sp[%s];\n    memset(sp, 0, sizeof sp);\n",
         prog->scratch ? mtpc_fmt("sizeof(%s)", rec_c(prog->scratch)) : "8");
    const char *ctx_arg = !c ? "NULL" : local ? "use_else ? NULL : c" : mtpc_fmt("&g_%s", name_of(c->name));
    emit("    ev0_%s = ev;\n", en);
    if (local)
        emit("    ctx0_%s = *c;\n    ctx0_used = !use_else;\n", en);
    emit("    mtph_on_fail = mtph_dump_inputs_%s;\n", en);
    emit("    mtpg_%s_program.dispatch(&r.x, MTPG_%s_EV_%s, &ev, %s, sp, use_else);\n", P, U,
         upper_of(ev->name), ctx_arg);
    emit("    bool alive = mtph_check(&r, &mtpg_%s_program, MTPG_%s_EV_%s, %s);\n", P, U,
         upper_of(ev->name), local ? "!use_else" : "true");
    emit("    (void)alive;\n");
    if (local) /* the instance the chain ran on, unless it deleted it */
        emit("    const char *bad = !alive ? NULL : mtph_invs_%s(c);\n    if (bad)\n"
             "        mtph_fail(\"chain of event %s breaks invariant %%s\", bad);\n",
             name_of(c->name), en);
    for (int i = 0; i < prog->nctxs; i++)
        if (prog->ctxs[i]->gran == GRAN_GLOBAL) {
            char *gn = name_of(prog->ctxs[i]->name);
            emit("    if (mtph_invs_%s(&g_%s))\n        mtph_fail(\"chain of event %s breaks invariant %%s\", "
                 "mtph_invs_%s(&g_%s));\n",
                 gn, gn, en, gn, gn);
        }
    emit("}\n\n");
}

static void emit_entry(int nchains)
{
    emit("static void mtph_run_input(const uint8_t *d, size_t n)\n{\n");
    emit("#ifdef MTPH_PARSER\n    mtph_parse(&mtpg_%s_program, d, n);\n#else\n", P);
    if (!nchains) {
        emit("    (void)d;\n    (void)n;\n#endif\n}\n\n");
    } else {
        emit("    if (n < 1)\n        return;\n");
        emit("    struct mtph_input in = {d + 1, n - 1};\n");
        emit("#ifdef MTPH_CHAIN\n    int k = MTPH_CHAIN;\n#else\n    int k = d[0] %% %d;\n#endif\n",
             nchains);
        emit("    switch (k) {\n");
        int k = 0;
        for (int i = 0; i < prog->nevents; i++)
            if (prog->events[i]->disp)
                emit("    case %d: mtph_chain_%s(&in); break;\n", k++,
                     name_of(prog->events[i]->name));
        emit("    default: break;\n    }\n#endif\n}\n\n");
    }
    emit("#ifdef MTPH_KLEE\n#include <klee/klee.h>\n"
         "int main(void)\n{\n    static uint8_t d[4096];\n"
         "    klee_make_symbolic(d, sizeof d, \"input\");\n    mtph_run_input(d, sizeof d);\n"
         "    return 0;\n}\n#else\n");
    emit("int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\n");
    emit("int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)\n{\n    mtph_run_input(d, n);\n"
         "    return 0;\n}\n#endif\n");
}

void mtpc_emit_harness(Program *p, FILE *o, const char *hname)
{
    prog = p;
    out = o;
    P = p->name;
    U = p->upper;
    mtpc_c_begin(p);
    emit("/* Generated by mtpc --emit=harness from %s. DO NOT EDIT.\n"
         " * The analysis harness of program %s (see gen/emit_harness.c, gen/harness/mtph.h). */\n",
         p->file->name, P);
    emit("#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <stdio.h>\n"
         "#include <string.h>\n\n");
    emit("#include \"%s\"\n#include \"mtph.h\"\n", hname);
    emit("#include \"mtp/generated.h\"\n\n");
    emit("#pragma GCC diagnostic ignored \"-Wunused-function\"\n\n");
    emit("static bool ctx0_used;\n\n");
    emit_fixers();
    emit_dumpers();
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_INVARIANT)
            emit_invariant(d);
    for (int i = 0; i < p->nctxs; i++)
        emit_ctx_invariants(p->ctxs[i]);
    int nchains = 0;
    for (int i = 0; i < p->nevents; i++)
        if (p->events[i]->disp)
            emit_chain(p->events[i], nchains++);
    emit_entry(nchains);
}
