/*
 * emit_c.c — C for the runtime: X.h (types, ids, key packers, prototypes) and X.c
 * (processors, parser, blueprint serialisers, rules, dispatch, the mtp_program descriptor),
 * following core/include/mtp/program.h. Statements carry #line directives back to the .mtp.
 * This file holds the output, C types, initialisers, functions, the descriptor and the
 * header; expressions and instructions are in emit_expr.c, statements in emit_stmt.c, wire
 * code in emit_wire.c (what they share: emit_c.h).
 */
#include "emit_c.h"

Program *prog;
const char *P; /* program name */
const char *U; /* upper case */

/* ------------------------------------------------------------ output */

static FILE *out;
static int out_line = 1; /* current line of `out` (the .c) */

void emit(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        mtpc_fatal("out of memory");
    va_end(ap);
    for (char *c = s; *c; c++)
        if (*c == '\n')
            out_line++;
    fputs(s, out);
    free(s);
}

void bput(Buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        mtpc_fatal("out of memory");
    if (b->n + (size_t)n + 1 > b->cap) {
        b->cap = (b->n + (size_t)n + 1) * 2;
        char *ns = realloc(b->s, b->cap);
        if (!ns)
            mtpc_fatal("out of memory");
        b->s = ns;
    }
    memcpy(b->s + b->n, s, (size_t)n + 1);
    b->n += (size_t)n;
    free(s);
}

char *bstr(Buf *b)
{
    char *s = mtpc_strdup(b->s ? b->s : "");
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
}

char *name_of(const Token *t) { return tok_str(t); }

char *upper_of(const Token *t)
{
    char *s = tok_str(t);
    for (char *c = s; *c; c++)
        if (*c >= 'a' && *c <= 'z')
            *c = (char)(*c - 'a' + 'A');
    return s;
}

/* a C string literal body */
char *c_escape(const char *s, int len)
{
    Buf b = {0};
    for (int i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            bput(&b, "\\%c", c);
        else if (c < 32 || c > 126)
            bput(&b, " ");
        else
            bput(&b, "%c", c);
    }
    return bstr(&b);
}

void line_directive(const Token *t)
{
    emit("#line %d \"%s\"\n", t->line, c_escape(t->file->name, (int)strlen(t->file->name)));
}

static void line_reset(void) { emit("#line %d \"%s\"\n", out_line + 1, prog->c_name); }

/* ------------------------------------------------------------ C types */

char *rec_ctype(const Decl *d) { return mtpc_fmt("struct mtpg_%s_%s", P, name_of(d->name)); }

static int c_uint_bits(int bits) { return bits <= 8 ? 8 : bits <= 16 ? 16 : bits <= 32 ? 32 : 64; }

static char *mangle(const Type *t)
{
    switch (t->kind) {
    case TY_INT: return mtpc_fmt("%s%d", t->is_signed ? "i" : "u", t->bits);
    case TY_BOOL: return "bool";
    case TY_BIT: return mtpc_fmt("u%d", c_uint_bits(t->bits));
    case TY_CSUM: return "u16";
    case TY_ADDR: return "addr";
    case TY_DATA: return "data";
    case TY_REC: return name_of(t->rec->name);
    case TY_LIST: return mtpc_fmt("list_%s_%lld", mangle(t->elem), (long long)t->cap);
    case TY_SLIST: return mtpc_fmt("list_%s_%lld", mangle(t->elem), (long long)t->cap);
    case TY_SWND: return mtpc_fmt("swnd_%lld", (long long)t->cap);
    default: return "x";
    }
}

char *ctype(const Type *t)
{
    switch (t->kind) {
    case TY_VOID: return "void";
    case TY_INT: return mtpc_fmt("%sint%d_t", t->is_signed ? "" : "u", t->bits);
    case TY_BOOL: return "bool";
    case TY_BIT: return mtpc_fmt("uint%d_t", c_uint_bits(t->bits));
    case TY_CSUM: return "uint16_t";
    case TY_ADDR: return "mtp_addr_t";
    case TY_DATA: return "struct mtp_data";
    case TY_TIMER: return "uint16_t";
    case TY_SWND:
    case TY_LIST:
    case TY_SLIST: return mtpc_fmt("struct mtpg_%s_%s", P, mangle(t));
    case TY_REC: return rec_ctype(t->rec);
    default: return "void";
    }
}

/* byte size of a scalar in memory (keyed_hash, keys) */
int scalar_bytes(const Type *t)
{
    switch (t->kind) {
    case TY_INT: return t->bits / 8;
    case TY_BOOL: return 1;
    case TY_BIT: return c_uint_bits(t->bits) / 8;
    case TY_CSUM: return 2;
    case TY_ADDR: return 8;
    default: return 0;
    }
}

/* ------------------------------------------------------------ header types */

static char **emitted_aux;
static int nemitted_aux;

static bool aux_done(const char *name)
{
    for (int i = 0; i < nemitted_aux; i++)
        if (!strcmp(emitted_aux[i], name))
            return true;
    char **v = mtpc_calloc((size_t)nemitted_aux + 1, sizeof *v);
    if (nemitted_aux)
        memcpy(v, emitted_aux, (size_t)nemitted_aux * sizeof *v);
    v[nemitted_aux++] = mtpc_strdup(name);
    emitted_aux = v;
    return false;
}

static void emit_record_type(Decl *d);

static void emit_type_deps(const Type *t)
{
    switch (t->kind) {
    case TY_REC: emit_record_type(t->rec); break;
    case TY_LIST:
    case TY_SLIST:
        emit_type_deps(t->elem);
        if (!aux_done(mangle(t)))
            emit("%s {\n    uint32_t len;\n    %s v[%lld];\n};\n\n", ctype(t), ctype(t->elem),
                 (long long)t->cap);
        break;
    case TY_SWND:
        if (!aux_done(mangle(t)))
            emit("%s {\n    uint32_t head;\n    uint32_t nbits;\n    uint64_t bits[%lld];\n};\n\n",
                 ctype(t), (long long)t->cap / 64);
        break;
    default: break;
    }
}

/* list and window types that only locals, parameters or results use: no record field made
 * emit_record_type declare them */
static void emit_stmt_type_deps(const Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_DECL)
            emit_type_deps(s->var->ty);
        emit_stmt_type_deps(s->body);
        emit_stmt_type_deps(s->then);
        emit_stmt_type_deps(s->els);
        emit_stmt_type_deps(s->init);
    }
}

static void emit_body_type_deps(const Decl *d)
{
    if (d->ty)
        emit_type_deps(d->ty);
    for (const Param *pa = d->params; pa; pa = pa->next)
        emit_type_deps(pa->ty);
    emit_stmt_type_deps(d->body);
}

static void emit_record_type(Decl *d)
{
    if (d->visit == 3)
        return;
    d->visit = 3;
    if (d->kind == D_OPTUNION || d->kind == D_FRAMEUNION) {
        for (int i = 0; i < d->nmembers; i++)
            emit_record_type(d->opts[i]);
        emit("%s {\n    uint8_t kind;\n    union {\n", rec_ctype(d));
        for (int i = 0; i < d->nmembers; i++)
            emit("        %s %s;\n", rec_ctype(d->opts[i]), name_of(d->opts[i]->name));
        emit("    } u;\n};\n\n");
        return;
    }
    if (d->kind == D_OPTLIST) {
        emit_record_type(d->uni);
        emit("%s {\n    uint32_t len;\n    %s v[%lld];\n};\n\n", rec_ctype(d), rec_ctype(d->uni),
             (long long)d->capacity);
        return;
    }
    for (Field *f = d->fields; f; f = f->next)
        emit_type_deps(f->ty);
    emit("%s {\n", rec_ctype(d));
    if (!d->fields)
        emit("    uint8_t mtpg_empty;\n");
    for (Field *f = d->fields; f; f = f->next) {
        emit("    %s %s;", ctype(f->ty), name_of(f->name));
        if (f->ty->kind == TY_TIMER)
            emit(" /* timer index */");
        else if (f->ty->kind == TY_BIT)
            emit(" /* bit<%d> */", f->ty->bits);
        emit("\n");
    }
    emit("};\n\n");
}

/* ------------------------------------------------------------ constants */

static char *const_literal(const Type *t, int64_t v)
{
    if (t->kind == TY_BOOL)
        return v ? "true" : "false";
    if (t->is_signed) {
        if (v == INT64_MIN)
            return mtpc_fmt("((%s)(-9223372036854775807ll - 1))", ctype(t));
        return mtpc_fmt("((%s)%lldll)", ctype(t), (long long)v);
    }
    return mtpc_fmt("((%s)%lluull)", ctype(t), (unsigned long long)v);
}

/* ------------------------------------------------------------ initialisers */

static bool rec_has_defaults_raw(Decl *d)
{
    if (d->kind == D_CONTEXT)
        return true;
    for (Field *f = d->fields; f; f = f->next) {
        if (f->init && !f->recomputed)
            return true;
        if (f->ty->kind == TY_REC && rec_has_defaults(f->ty->rec))
            return true;
        if (f->ty->kind == TY_SWND || f->ty->kind == TY_TIMER)
            return true;
    }
    return false;
}

/* memoized: records form a DAG (sema rejects cycles), which may be wide */
bool rec_has_defaults(Decl *d)
{
    if (!d->defaults_state)
        d->defaults_state = rec_has_defaults_raw(d) ? 2 : 1;
    return d->defaults_state == 2;
}

/* field initialisers of record d into `v->` */
static void emit_field_inits(Decl *d, const char *v)
{
    for (Field *f = d->fields; f; f = f->next) {
        char *fn = name_of(f->name);
        if (f->ty->kind == TY_TIMER)
            emit("    %s%s = %d;\n", v, fn, f->timer_index);
        else if (f->ty->kind == TY_SWND)
            emit("    %s%s.nbits = %lld;\n", v, fn, (long long)f->ty->cap);
        else if (f->ty->kind == TY_REC && f->ty->rec->kind != D_CONTEXT &&
                 rec_has_defaults(f->ty->rec))
            emit("    mtpg_%s_init_%s(&%s%s);\n", P, name_of(f->ty->rec->name), v, fn);
        if (f->init && !f->recomputed) {
            field_prefix = v;
            emit("    %s%s = %s;\n", v, fn, expr_str(f->init));
        }
    }
}

static void emit_value_inits(void)
{
    for (Decl *d = prog->decls; d; d = d->next) {
        if ((d->kind != D_STRUCT && d->kind != D_BP && d->kind != D_OPT && d->kind != D_FLOWID &&
             d->kind != D_EVENT) ||
            !rec_has_defaults(d))
            continue;
        emit("static __attribute__((unused)) void mtpg_%s_init_%s(%s *v)\n{\n", P,
             name_of(d->name), rec_ctype(d));
        emit("    memset(v, 0, sizeof *v);\n");
        cx = CX_INIT;
        emit_field_inits(d, "v->");
        emit("}\n\n");
    }
}

static void emit_ctx_inits(void)
{
    for (int i = 0; i < prog->nctxs; i++) {
        Decl *d = prog->ctxs[i];
        char *n = name_of(d->name);
        emit("void mtpg_%s_ctx_%s_init(%s *c)\n{\n    memset(c, 0, sizeof *c);\n", P, n,
             rec_ctype(d));
        cx = CX_INIT;
        emit_field_inits(d, "c->");
        emit("}\n\nstatic void mtpg_%s_ctx_%s_init_v(void *c)\n{\n    mtpg_%s_ctx_%s_init(c);\n}\n\n",
             P, n, P, n);
    }
}

/* ------------------------------------------------------------ functions */

static void emit_params_c(Decl *d, Buf *b)
{
    for (Param *p = d->params; p; p = p->next) {
        Var *v = p->var;
        bput(b, ", ");
        if (v->is_ptr)
            bput(b, "%s%s *%s", v->is_const || v->is_readonly ? "const " : "", ctype(v->ty),
                 name_of(v->name));
        else
            bput(b, "%s %s", ctype(v->ty), name_of(v->name));
    }
}

static char *proc_proto(Decl *d)
{
    Buf b = {0};
    bput(&b, "int mtpg_%s_proc_%s(struct mtp_exec *mtp_x", P, name_of(d->name));
    emit_params_c(d, &b);
    bput(&b, ")");
    return bstr(&b);
}

static char *func_proto(Decl *d)
{
    Buf b = {0};
    bput(&b, "static __attribute__((unused)) %s mtpg_%s_fn_%s(struct mtp_exec *mtp_x", ctype(d->ty),
         P, name_of(d->name));
    emit_params_c(d, &b);
    bput(&b, ")");
    return bstr(&b);
}

static void emit_unused_params(Decl *d, bool exec)
{
    if (exec)
        emit("    (void)mtp_x;\n");
    for (Param *p = d->params; p; p = p->next)
        emit("    (void)%s;\n", name_of(p->name));
}

static void emit_body(Decl *d)
{
    cur_decl = d;
    indent_level = 1;
    for (Stmt *s = d->body->body; s; s = s->next)
        emit_stmt(s);
    line_reset();
    indent_level = 0;
}

static void emit_proc(Decl *d)
{
    emit("%s\n{\n", proc_proto(d));
    emit_unused_params(d, true);
    cx = CX_PROC;
    emit_body(d);
    emit("    return 0;\n}\n\n");
}

static void emit_func(Decl *d)
{
    emit("%s\n{\n", func_proto(d));
    emit_unused_params(d, true);
    cx = CX_FUNC;
    emit_body(d);
    emit("}\n\n");
}

static void emit_parser(Decl *d)
{
    emit("int mtpg_%s_parse_%s(const struct mtp_rx_pkt *mtp_pkt, struct mtp_evsink *mtp_out)\n{\n",
         P, name_of(d->name));
    emit("    uint32_t mtp_pos = 0;\n    (void)mtp_pos;\n    (void)mtp_out;\n");
    Param *ip = d->params->next;
    if (ip) {
        char *in = name_of(ip->name);
        emit("    %s %s;\n    memset(&%s, 0, sizeof %s);\n", ctype(ip->ty), in, in, in);
        for (Field *f = ip->ty->rec->fields; f; f = f->next)
            emit("    %s.%s = (%s)mtp_pkt->ip.%s;\n", in, name_of(f->name), ctype(f->ty),
                 name_of(f->name));
        emit("    (void)%s;\n", in);
    }
    cx = CX_PARSER;
    emit_body(d);
    emit("    return MTP_PARSE_OK;\n}\n\n");
}

static void emit_coalesce(Decl *d)
{
    Param *a = d->params, *b = a->next;
    emit("static int mtpg_%s_coalesce_%s(const void *mtp_a, const void *mtp_b)\n{\n", P,
         name_of(d->name));
    emit("    const %s *%s = mtp_a;\n    const %s *%s = mtp_b;\n", ctype(a->ty), name_of(a->name),
         ctype(b->ty), name_of(b->name));
    emit_unused_params(d, false);
    cx = CX_COALESCE;
    emit_body(d);
    emit("    return MTP_COALESCE_NONE;\n}\n\n");
}

static void emit_srule(Decl *d)
{
    char *ct = rec_ctype(d->bp);
    emit("static void mtpg_%s_srule_%s(void *cur_, const void *bp_, const void *prev_,\n"
         "                              uint32_t prev_payload_len, enum mtp_seg_pos pos)\n{\n",
         P, name_of(d->name));
    emit("    %s *cur = cur_;\n    const %s *bp = bp_;\n    const %s *prev = prev_;\n", ct, ct, ct);
    emit("    (void)bp;\n    (void)prev;\n    (void)prev_payload_len;\n");
    emit("    if (!prev && pos != MTP_SEG_ONLY)\n        pos = MTP_SEG_FIRST;\n");
    emit("    switch (pos) {\n");
    static const char *posn[] = {"MTP_SEG_FIRST", "MTP_SEG_MID", "MTP_SEG_LAST", "MTP_SEG_ONLY"};
    cx = CX_SRULE;
    for (int i = 0; i < 4; i++) {
        emit("    case %s:\n", posn[i]);
        for (SegEntry *s = d->rules; s; s = s->next) {
            Expr *e = s->e[i] ? s->e[i] : s->e[0];
            line_directive(s->name);
            emit("        cur->%s = (%s)(%s);\n", name_of(s->name), ctype(s->field->ty),
                 expr_str(e));
        }
        line_reset();
        emit("        break;\n");
    }
    emit("    }\n}\n\n");
}

/* `prev.f` or `bp.f` (which: `prev`) naming field f in a seg_rule expression. */
static bool is_rule_field(Expr *e, Field *f, bool prev)
{
    return e && e->kind == E_FIELD && e->field == f && e->lhs->kind == E_IDENT &&
           e->lhs->res == R_TYPE && e->lhs->num == (uint64_t)prev;
}

static bool is_prev_payload(Expr *e)
{
    return e && e->kind == E_FIELD && e->res == R_PREV_PAYLOAD;
}

static bool names_payload_len(Expr *e)
{
    if (!e)
        return false;
    if (e->kind == E_IDENT && e->res == R_PAYLOAD_LEN)
        return true;
    if (names_payload_len(e->lhs) || names_payload_len(e->rhs) || names_payload_len(e->cond))
        return true;
    for (int i = 0; i < e->nargs; i++)
        if (names_payload_len(e->args[i]))
            return true;
    return false;
}

/* A rule is offset-linear (program.h, mtp_srule_desc) when it sets one byte-aligned fixed
 * field f as [bp.f, prev.f + prev.payload_len, prev.f + prev.payload_len (, bp.f)], the
 * blueprint has no nested frames and no field follows the payload length. Returns the
 * field's width in bytes (0: not linear) and its header offset in *off. */
static int srule_linear(Decl *d, int *off)
{
    SegEntry *s = d->rules;
    if (!s || s->next || !s->field->fixed || s->field->bit_off % 8 || s->field->wire_bits % 8 ||
        s->field->wire_bits > 64 || s->field->wire_bits == 0)
        return 0;
    Field *f = s->field;
    if (!is_rule_field(s->e[0], f, false) || (s->e[3] && !is_rule_field(s->e[3], f, false)))
        return 0;
    for (int i = 1; i <= 2; i++) {
        Expr *e = s->e[i];
        if (!e || e->kind != E_BINARY || strcmp(e->op, "+"))
            return 0;
        if (!(is_rule_field(e->lhs, f, true) && is_prev_payload(e->rhs)) &&
            !(is_rule_field(e->rhs, f, true) && is_prev_payload(e->lhs)))
            return 0;
    }
    if (nested_field(d->bp))
        return 0;
    for (Field *g = d->bp->fields; g; g = g->next)
        if (names_payload_len(g->init))
            return 0;
    *off = f->bit_off / 8;
    return f->wire_bits / 8;
}

static void emit_dispatch(void)
{
    emit("static int mtpg_%s_dispatch(struct mtp_exec *x, uint16_t type, const void *ev, void *ctx,\n"
         "                            void *sp, int use_else)\n{\n",
         P);
    emit("    int n = 0;\n    (void)x;\n    (void)ev;\n    (void)ctx;\n    (void)sp;\n    (void)use_else;\n");
    emit("    switch (type) {\n");
    for (DispEntry *e = prog->dispatch ? prog->dispatch->entries : NULL; e; e = e->next) {
        emit("    case MTPG_%s_EV_%s:\n", U, upper_of(e->ev->name));
        for (int pass = 0; pass < 2; pass++) {
            Decl **procs = pass ? e->eprocs : e->procs;
            Expr **guards = pass ? e->eguards : e->guards;
            int np = pass ? e->nels : e->nchain;
            if (pass && !e->has_else)
                break;
            emit("        if (%suse_else) {\n", pass ? "" : "!");
            for (int i = 0; i < np; i++) {
                Decl *p = procs[i];
                Buf a = {0};
                bput(&a, "x, ev");
                if (p->p_ctx)
                    bput(&a, ", ctx");
                for (int g = 0; g < p->np_globals; g++)
                    bput(&a, ", (%s *)x->globals[MTPG_%s_CTX_%s]", rec_ctype(p->p_globals[g]), U,
                         upper_of(p->p_globals[g]->name));
                if (p->p_scratch)
                    bput(&a, ", sp");
                if (guards[i]) /* chosen at deploy time */
                    emit("            if (%s) {\n", expr_str(guards[i]));
                emit("            n++;\n            if (mtpg_%s_proc_%s(%s))\n                return n;\n",
                     P, name_of(p->name), bstr(&a));
                if (guards[i])
                    emit("            }\n");
            }
            emit("        }\n");
        }
        emit("        return n;\n");
    }
    emit("    default:\n        return 0;\n    }\n}\n\n");
}

/* ------------------------------------------------------------ descriptor */

/* A parser whose net_header declares icmp_type reads the quotes of ICMP errors. */
bool mtpc_parser_reads_icmp(const Program *p)
{
    Param *ip = p->parser ? p->parser->params : NULL;
    if (!ip || !ip->next || ip->next->ty->kind != TY_REC)
        return false;
    for (Field *f = ip->next->ty->rec->fields; f; f = f->next)
        if (tok_is(f->name, "icmp_type"))
            return true;
    return false;
}

static void emit_descriptor(void)
{
    /* events */
    if (prog->nevents)
        emit("static const struct mtp_event_desc mtpg_%s_events[] = {\n", P);
    for (int i = 0; i < prog->nevents; i++) {
        Decl *e = prog->events[i];
        static const char *kinds[] = {"MTP_EV_APP", "MTP_EV_NET", "MTP_EV_TIMER"};
        emit("    {\"%s\", %s, sizeof(%s), %d, %d, %d},\n", name_of(e->name), kinds[e->ev_kind],
             rec_ctype(e), e->ev_ctx ? e->ev_ctx->index : -1, e->disp ? 1 : 0,
             e->disp && e->disp->has_else ? 1 : 0);
    }
    if (prog->nevents)
        emit("};\n\n");
    /* contexts */
    for (int i = 0; i < prog->nctxs; i++) {
        Decl *c = prog->ctxs[i];
        if (!c->ntimers)
            continue;
        emit("static const uint16_t mtpg_%s_ctx_%s_timers[] = {", P, name_of(c->name));
        for (Field *f = c->fields; f; f = f->next)
            if (f->ty->kind == TY_TIMER)
                emit(" MTPG_%s_EV_%s,", U, upper_of(f->ty->timer_event->name));
        emit(" };\n");
    }
    if (prog->nctxs)
        emit("static const struct mtp_ctx_desc mtpg_%s_ctxs[] = {\n", P);
    static const char *grans[] = {"MTP_GRAN_FLOW", "MTP_GRAN_LISTENER", "MTP_GRAN_SHARED",
                                  "MTP_GRAN_GLOBAL"};
    for (int i = 0; i < prog->nctxs; i++) {
        Decl *c = prog->ctxs[i];
        int key = 0;
        if (c->key)
            for (Field *f = c->key->fields; f; f = f->next)
                key += scalar_bytes(f->ty);
        char *n = name_of(c->name);
        emit("    {\"%s\", %s, sizeof(%s), %d, mtpg_%s_ctx_%s_init_v, %d, %s},\n", n, grans[c->gran],
             rec_ctype(c), key, P, n, c->ntimers,
             c->ntimers ? mtpc_fmt("mtpg_%s_ctx_%s_timers", P, n) : "NULL");
    }
    if (prog->nctxs)
        emit("};\n\n");
    /* blueprints */
    if (prog->nbps)
        emit("static const struct mtp_bp_desc mtpg_%s_bps[] = {\n", P);
    for (int i = 0; i < prog->nbps; i++) {
        Decl *b = prog->bps[i];
        char *n = name_of(b->name);
        long long nested = nested_data_cap(b);
        if (nested > MTP_NESTED_MAX_C)
            mtpc_error_at(b->name, "'%.*s' has %lld frames with data, more than %d",
                          b->name->len, b->name->loc, nested, MTP_NESTED_MAX_C);
        emit("    {\"%s\", sizeof(%s), mtpg_%s_bp_%s_hdr_len, mtpg_%s_bp_%s_write_hdr, %s, %d, %lld, %s, %s},\n",
             n, rec_ctype(b), P, n, P, n,
             b->data_field ? mtpc_fmt("(int32_t)offsetof(%s, %s)", rec_ctype(b),
                                      name_of(b->data_field->name))
                           : "-1",
             b->csum_off, nested, nested ? mtpc_fmt("mtpg_%s_bp_%s_nested", P, n) : "NULL",
             split_field(b) ? mtpc_fmt("mtpg_%s_bp_%s_frames_from", P, n) : "NULL");
    }
    if (prog->nbps)
        emit("};\n\n");
    if (prog->nsrules) {
        emit("static const struct mtp_srule_desc mtpg_%s_srules[] = {\n", P);
        for (int i = 0; i < prog->nsrules; i++) {
            int off = 0, bytes = srule_linear(prog->srules[i], &off);
            emit("    {\"%s\", %d, mtpg_%s_srule_%s, %d, %d},\n", name_of(prog->srules[i]->name),
                 prog->srules[i]->bp->index, P, name_of(prog->srules[i]->name), off, bytes);
        }
        emit("};\n\n");
    }
    if (prog->ncoalesce) {
        emit("static const struct mtp_coalesce_desc mtpg_%s_coalesce[] = {\n", P);
        for (int i = 0; i < prog->ncoalesce; i++) {
            Decl *c = prog->coalesce[i];
            emit("    {\"%s\", %d, %d, mtpg_%s_coalesce_%s},\n", name_of(c->name),
                 c->params->ty->rec->index, c->params->next->ty->rec->index, P, name_of(c->name));
        }
        emit("};\n\n");
    }
    if (prog->sched) {
        Decl *s = prog->sched;
        emit("static const struct mtp_queue_desc mtpg_%s_queues[] = {\n", P);
        for (Queue *q = s->queues; q; q = q->next)
            emit("    {\"%s\", %d, %lld, %lld, %lluull},\n", name_of(q->name), q->per_flow ? 1 : 0,
                 (long long)q->vprio, (long long)q->vweight, (unsigned long long)q->vrate);
        static const char *kinds[] = {"MTP_SCHED_FIFO", "MTP_SCHED_STRICT_PRIO", "MTP_SCHED_WRR"};
        emit("};\n\nstatic const struct mtp_sched_desc mtpg_%s_sched = {%s, %d, mtpg_%s_queues};\n\n",
             P, kinds[s->sched_kind], s->nqueues, P);
    }
    if (prog->nparams) {
        emit("static const struct mtp_param_desc mtpg_%s_params[] = {\n", P);
        for (int i = 0; i < prog->nparams; i++) {
            Decl *d = prog->params[i];
            emit("    {\"%s\", %d, %d, &mtpg_%s_param_%s},\n", name_of(d->name), scalar_bytes(d->ty),
                 d->ty->is_signed ? 1 : 0, P, name_of(d->name));
        }
        emit("};\n\n");
    }
    int l4min = 0;
    if (prog->steer_bp)
        l4min = prog->steer_bp->fixed_bytes;
    emit("const struct mtp_program mtpg_%s_program = {\n", P);
    emit("    .abi_version = MTP_ABI_VERSION,\n    .name = \"%s\",\n    .source = \"%s\",\n", P,
         c_escape(prog->file->name, (int)strlen(prog->file->name)));
    emit("    .ip_proto = %d,\n    .steer_port_off = %d,\n    .l4_min_len = %d,\n", prog->ip_proto,
         prog->steer_off, l4min);
    if (mtpc_parser_reads_icmp(prog))
        emit("    .net_errors = 1,\n");
    emit("    .n_events = %d,\n    .events = %s,\n", prog->nevents,
         prog->nevents ? mtpc_fmt("mtpg_%s_events", P) : "NULL");
    emit("    .n_ctxs = %d,\n    .ctxs = %s,\n", prog->nctxs,
         prog->nctxs ? mtpc_fmt("mtpg_%s_ctxs", P) : "NULL");
    emit("    .scratch_size = %s,\n",
         prog->scratch ? mtpc_fmt("sizeof(%s)", rec_ctype(prog->scratch)) : "0");
    emit("    .n_bps = %d,\n    .bps = %s,\n", prog->nbps,
         prog->nbps ? mtpc_fmt("mtpg_%s_bps", P) : "NULL");
    emit("    .n_srules = %d,\n    .srules = %s,\n", prog->nsrules,
         prog->nsrules ? mtpc_fmt("mtpg_%s_srules", P) : "NULL");
    emit("    .n_coalesce = %d,\n    .coalesce = %s,\n", prog->ncoalesce,
         prog->ncoalesce ? mtpc_fmt("mtpg_%s_coalesce", P) : "NULL");
    emit("    .sched = %s,\n", prog->sched ? mtpc_fmt("&mtpg_%s_sched", P) : "NULL");
    emit("    .n_params = %d,\n    .params = %s,\n", prog->nparams,
         prog->nparams ? mtpc_fmt("mtpg_%s_params", P) : "NULL");
    emit("    .parse = %s,\n",
         prog->parser ? mtpc_fmt("mtpg_%s_parse_%s", P, name_of(prog->parser->name)) : "NULL");
    emit("    .dispatch = mtpg_%s_dispatch,\n};\n", P);
}

/* ------------------------------------------------------------ header */

static void emit_header(const char *hname)
{
    char *guard = mtpc_fmt("MTPG_%s_H", U);
    emit("/* Generated by mtpc from %s. DO NOT EDIT. */\n", prog->file->name);
    emit("#ifndef %s\n#define %s\n\n#include <stdbool.h>\n\n#include \"mtp/program.h\"\n\n", guard,
         guard);
    (void)hname;
    /* constants */
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_CONST)
            emit("#define MTPG_%s_%s %s\n", U, upper_of(d->name), const_literal(d->ty, d->value));
    emit("\n/* event types: indices into mtpg_%s_program.events */\nenum {\n", P);
    for (int i = 0; i < prog->nevents; i++)
        emit("    MTPG_%s_EV_%s = %d,\n", U, upper_of(prog->events[i]->name), i);
    emit("    MTPG_%s_N_EVENTS = %d\n};\n\n", U, prog->nevents);
    emit("/* context types: indices into mtpg_%s_program.ctxs */\nenum {\n", P);
    for (int i = 0; i < prog->nctxs; i++)
        emit("    MTPG_%s_CTX_%s = %d,\n", U, upper_of(prog->ctxs[i]->name), i);
    emit("    MTPG_%s_N_CTXS = %d\n};\n\n", U, prog->nctxs);
    emit("/* blueprints: indices into mtpg_%s_program.bps */\nenum {\n", P);
    for (int i = 0; i < prog->nbps; i++)
        emit("    MTPG_%s_BP_%s = %d,\n", U, upper_of(prog->bps[i]->name), i);
    emit("    MTPG_%s_N_BPS = %d\n};\n\n", U, prog->nbps);
    bool any = false;
    for (int i = 0; i < prog->nctxs; i++)
        for (Field *f = prog->ctxs[i]->fields; f; f = f->next)
            if (f->ty->kind == TY_TIMER) {
                if (!any)
                    emit("/* timers: index within their context */\nenum {\n");
                any = true;
                emit("    MTPG_%s_TIMER_%s_%s = %d,\n", U, upper_of(prog->ctxs[i]->name),
                     upper_of(f->name), f->timer_index);
            }
    if (any)
        emit("};\n\n");
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_SCHED) {
            emit("/* queues of scheduler %s */\nenum {\n", name_of(d->name));
            for (Queue *q = d->queues; q; q = q->next)
                emit("    MTPG_%s_Q_%s = %d,\n", U, upper_of(q->name), q->index);
            emit("};\n\n");
        }
    /* types */
    for (Decl *d = prog->decls; d; d = d->next)
        d->visit = 0;
    for (Decl *d = prog->decls; d; d = d->next)
        switch (d->kind) {
        case D_STRUCT: case D_FLOWID: case D_EVENT: case D_CONTEXT: case D_SCRATCH:
        case D_NETHDR: case D_OPT: case D_OPTUNION: case D_OPTLIST: case D_BP:
            emit_record_type(d);
            break;
        default: break;
        }
    for (Decl *d = prog->decls; d; d = d->next)
        emit_body_type_deps(d);
    /* key packers and unpackers */
    for (Decl *d = prog->decls; d; d = d->next) {
        if (d->kind != D_FLOWID)
            continue;
        emit("static inline void mtpg_%s_key_%s(struct mtp_key *k, const %s *id)\n{\n"
             "    memset(k, 0, sizeof *k);\n",
             P, name_of(d->name), rec_ctype(d));
        int off = 0;
        for (Field *f = d->fields; f; f = f->next) {
            emit("    memcpy(k->b + %d, &id->%s, %d);\n", off, name_of(f->name), scalar_bytes(f->ty));
            off += scalar_bytes(f->ty);
        }
        if (!d->fields)
            emit("    (void)id;\n");
        emit("}\n\n");
        /* and back: what a shim needs to read a context's id from a key (a notification's) */
        emit("static inline void mtpg_%s_unkey_%s(const struct mtp_key *k, %s *id)\n{\n"
             "    memset(id, 0, sizeof *id);\n",
             P, name_of(d->name), rec_ctype(d));
        off = 0;
        for (Field *f = d->fields; f; f = f->next) {
            emit("    memcpy(&id->%s, k->b + %d, %d);\n", name_of(f->name), off, scalar_bytes(f->ty));
            off += scalar_bytes(f->ty);
        }
        if (!d->fields)
            emit("    (void)k;\n");
        emit("}\n\n");
    }
    /* params */
    for (int i = 0; i < prog->nparams; i++)
        emit("extern %s mtpg_%s_param_%s;\n", ctype(prog->params[i]->ty), P,
             name_of(prog->params[i]->name));
    if (prog->nparams)
        emit("\n");
    for (int i = 0; i < prog->nctxs; i++)
        emit("void mtpg_%s_ctx_%s_init(%s *c);\n", P, name_of(prog->ctxs[i]->name),
             rec_ctype(prog->ctxs[i]));
    emit("\n");
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_PROC)
            emit("%s;\n", proc_proto(d));
        else if (d->kind == D_PARSER)
            emit("int mtpg_%s_parse_%s(const struct mtp_rx_pkt *pkt, struct mtp_evsink *out);\n", P,
                 name_of(d->name));
    emit("\nextern const struct mtp_program mtpg_%s_program;\n\n#endif\n", P);
}

/* ------------------------------------------------------------ entry */

static bool uses_varint(void)
{
    for (Decl *d = prog->decls; d; d = d->next)
        if (d->kind == D_BP || d->kind == D_STRUCT)
            for (Field *f = d->fields; f; f = f->next) {
                const Type *t = f->ty->kind == TY_LIST ? f->ty->elem : f->ty;
                if (t->kind == TY_INT && t->varint)
                    return true;
                if (t->kind == TY_REC && t->rec->kind == D_STRUCT)
                    for (Field *g = t->rec->fields; g; g = g->next)
                        if (g->ty->kind == TY_INT && g->ty->varint)
                            return true;
            }
    return false;
}

/* QUIC variable-length integers (RFC 9000 §16): the two high bits of the first byte give the
 * length (1, 2, 4, 8 bytes); values are sent in the shortest form and saturate at 2^62 - 1. */
static void emit_varint_helpers(void)
{
    emit("static __attribute__((unused)) uint32_t mtpg_%s_varint_len(uint64_t v) { return v < 64 ? 1 : v < 16384 ? 2 : v < 1073741824 ? 4 : 8; }\n", P);
    emit("static __attribute__((unused)) uint32_t mtpg_%s_put_varint(uint8_t *p, uint64_t v)\n{\n"
         "    if (v > 0x3fffffffffffffffull)\n        v = 0x3fffffffffffffffull;\n"
         "    uint32_t n = mtpg_%s_varint_len(v);\n"
         "    for (uint32_t i = 0; i < n; i++)\n        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));\n"
         "    p[0] |= (uint8_t)((n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3) << 6);\n    return n;\n}\n", P, P);
    emit("static __attribute__((unused)) int mtpg_%s_get_varint(const uint8_t *p, uint32_t n, uint64_t *v)\n{\n"
         "    if (n < 1)\n        return -1;\n    uint32_t len = 1u << (p[0] >> 6);\n"
         "    if (n < len)\n        return -1;\n    uint64_t x = p[0] & 0x3f;\n"
         "    for (uint32_t i = 1; i < len; i++)\n        x = x << 8 | p[i];\n    *v = x;\n    return (int)len;\n}\n", P);
}

/* Only registered coalescing rules are emitted (the descriptor lists them). */
static bool is_registered_rule(const Program *p, const Decl *d)
{
    for (int i = 0; i < p->ncoalesce; i++)
        if (p->coalesce[i] == d)
            return true;
    return false;
}

/* hname NULL: c and h are the same stream, the header written first (mtpc without -o) */
void mtpc_emit_c(Program *p, FILE *c, FILE *h, const char *hname)
{
    prog = p;
    emitted_aux = NULL;
    nemitted_aux = 0;
    tmp_counter = 0;
    indent_level = 0;
    P = p->name;
    U = p->upper;
    /* header */
    out = h;
    out_line = 1;
    emit_header(hname);
    /* C file */
    out = c;
    if (hname) {
        out_line = 1;
        emit("/* Generated by mtpc from %s. DO NOT EDIT. */\n", p->file->name);
    }
    emit("#include <stdbool.h>\n#include <stddef.h>\n#include <stdint.h>\n#include <string.h>\n\n");
    if (hname)
        emit("#include \"%s\"\n", hname);
    emit("#include \"mtp/generated.h\" /* helpers; silences warnings MTP code triggers */\n\n");
    for (int i = 0; i < p->nevents; i++)
        emit("_Static_assert(sizeof(%s) <= MTP_EVENT_MAX_BYTES, \"event %s is too large\");\n",
             rec_ctype(p->events[i]), name_of(p->events[i]->name));
    emit("\n");
    if (uses_varint())
        emit_varint_helpers();
    for (int i = 0; i < p->nparams; i++) {
        Decl *d = p->params[i];
        emit("%s mtpg_%s_param_%s = %s;\n", ctype(d->ty), P, name_of(d->name),
             const_literal(d->ty, mtpc_const_eval(p, d->init)));
    }
    if (p->nparams)
        emit("\n");
    emit_value_inits();
    emit_ctx_inits();
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_OPT)
            emit_opt_code(d);
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_OPTLIST)
            emit_optlist_code(d);
    for (Decl *d = p->decls; d; d = d->next) {
        if (d->kind == D_BP)
            emit("static uint32_t mtpg_%s_bp_%s_hdr_len(const void *bp_);\n"
                 "static void mtpg_%s_bp_%s_write_hdr(const void *bp_, uint8_t *dst, uint32_t payload_len);\n",
                 P, name_of(d->name), P, name_of(d->name));
        if (d->kind == D_BP && d->is_frame)
            emit("static int mtpg_%s_fr_%s_parse(const uint8_t *p, uint32_t n, %s *fr);\n", P,
                 name_of(d->name), rec_ctype(d));
    }
    emit("\n");
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_BP)
            emit_bp_code(d);
    for (Decl *d = p->decls; d; d = d->next)
        if (d->kind == D_FUNC)
            emit("%s;\n", func_proto(d));
    emit("\n");
    for (Decl *d = p->decls; d; d = d->next) {
        switch (d->kind) {
        case D_FUNC: emit_func(d); break;
        case D_PROC: emit_proc(d); break;
        case D_PARSER: emit_parser(d); break;
        case D_COALESCE:
            if (is_registered_rule(p, d))
                emit_coalesce(d);
            break;
        case D_SEGRULE: emit_srule(d); break;
        default: break;
        }
    }
    emit_dispatch();
    emit_descriptor();
}

/* ------------------------------------------------------------ for other emitters */

/* emit_harness.c writes C for the same program: names, types and expressions as here */
void mtpc_c_begin(Program *p)
{
    prog = p;
    P = p->name;
    U = p->upper;
    tmp_counter = 0;
}

char *mtpc_c_type(const Type *t) { return ctype(t); }

char *mtpc_c_expr(Expr *e) { return expr_str(e); }
