/*
 * emit_c.c — C for the runtime: X.h (types, ids, key packers, prototypes) and X.c
 * (processors, parser, blueprint serialisers, rules, dispatch, the mtp_program descriptor),
 * following core/include/mtp/program.h. Statements carry #line directives back to the .mtp.
 */
#include "mtpc.h"

static Program *prog;
static const char *P; /* program name */
static const char *U; /* upper case */

/* ------------------------------------------------------------ output */

static FILE *out;
static int out_line = 1; /* current line of `out` (the .c) */

static void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emit(const char *fmt, ...)
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

/* a growable string */
typedef struct Buf {
    char *s;
    size_t n, cap;
} Buf;

static void bput(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bput(Buf *b, const char *fmt, ...)
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

static char *bstr(Buf *b)
{
    char *s = mtpc_strdup(b->s ? b->s : "");
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
    return s;
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

/* a C string literal body */
static char *c_escape(const char *s, int len)
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

static void line_directive(const Token *t)
{
    emit("#line %d \"%s\"\n", t->line, c_escape(t->file->name, (int)strlen(t->file->name)));
}

static void line_reset(void) { emit("#line %d \"%s\"\n", out_line + 1, prog->c_name); }

/* ------------------------------------------------------------ C types */

static char *rec_ctype(const Decl *d) { return mtpc_fmt("struct mtpg_%s_%s", P, name_of(d->name)); }

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

static char *ctype(const Type *t)
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
static int scalar_bytes(const Type *t)
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

/* ------------------------------------------------------------ expressions */

typedef enum { CX_NONE, CX_PROC, CX_PARSER, CX_FUNC, CX_COALESCE, CX_SRULE, CX_INIT, CX_WRITE,
               CX_EXTRACT } CxKind;

static CxKind cx;
static const char *field_prefix; /* R_BP_FIELD: "c->", "b->", "h->" */
static int tmp_counter;

static void emit_expr(Buf *b, Expr *e);

static bool is_ptr_ident(const Expr *e)
{
    return e->kind == E_IDENT && e->res == R_VAR && e->var->is_ptr;
}

static char *expr_str(Expr *e)
{
    Buf b = {0};
    emit_expr(&b, e);
    return bstr(&b);
}

static char *exec_arg(void) { return cx == CX_PARSER ? "NULL" : "mtp_x"; }

static char *zero_value(const Type *t)
{
    int n = ++tmp_counter;
    return mtpc_fmt("({ %s mtp_z%d; memset(&mtp_z%d, 0, sizeof mtp_z%d); mtp_z%d; })", ctype(t), n,
                    n, n, n);
}

static bool rec_has_defaults(Decl *d);

/* T(f = v, …): starts as a local of type T does, then sets the named fields in order */
static void emit_record_literal(Buf *b, Expr *e)
{
    Decl *d = e->decl;
    int n = ++tmp_counter;
    bput(b, "({ %s mtp_r%d; memset(&mtp_r%d, 0, sizeof mtp_r%d); ", rec_ctype(d), n, n, n);
    if (rec_has_defaults(d))
        bput(b, "mtpg_%s_init_%s(&mtp_r%d); ", P, name_of(d->name), n);
    for (NamedArg *a = e->named; a; a = a->next) {
        bput(b, "mtp_r%d.%s = ", n, name_of(a->name));
        emit_expr(b, a->val);
        bput(b, "; ");
    }
    bput(b, "mtp_r%d; })", n);
}

static void emit_ctor(Buf *b, Expr *e)
{
    if (e->named || e->nargs == 0) {
        emit_record_literal(b, e);
        return;
    }
    bput(b, "((%s){ ", rec_ctype(e->decl));
    int i = 0;
    for (Field *f = e->decl->fields; f; f = f->next, i++) {
        bput(b, "%s.%s = ", i ? ", " : "", name_of(f->name));
        emit_expr(b, e->args[i]);
    }
    bput(b, " })");
}

/* ---- the value builtins of builtins.h: emit_v_<kind>(b, e) */

static void emit_v_now(Buf *b, Expr *e)
{
    (void)e;
    bput(b, "mtp_x->now_ns");
}

static void emit_v_rand32(Buf *b, Expr *e)
{
    (void)e;
    bput(b, "mtp_rand32(mtp_x)");
}

static void emit_v_minmax(Buf *b, Expr *e)
{
    int n = ++tmp_counter;
    bput(b, "({ __auto_type mtp_a%d = ", n);
    emit_expr(b, e->args[0]);
    bput(b, "; __auto_type mtp_b%d = ", n);
    emit_expr(b, e->args[1]);
    bput(b, "; mtp_a%d %s mtp_b%d ? mtp_a%d : mtp_b%d; })", n,
         e->builtin == B_MIN ? "<" : ">", n, n, n);
}

static void emit_v_seq(Buf *b, Expr *e)
{
    static const char *ops[] = {"<", "<=", ">", ">="};
    bput(b, "((int32_t)((uint32_t)(");
    emit_expr(b, e->args[0]);
    bput(b, ") - (uint32_t)(");
    emit_expr(b, e->args[1]);
    bput(b, ")) %s 0)", ops[e->builtin - B_SEQ_LT]);
}

static void emit_v_keyed_hash(Buf *b, Expr *e)
{
    int n = ++tmp_counter, total = 0;
    for (int i = 0; i < e->nargs; i++)
        total += scalar_bytes(e->args[i]->ty);
    bput(b, "({ uint8_t mtp_h%d[%d]; ", n, total);
    int off = 0;
    for (int i = 0; i < e->nargs; i++) {
        const Type *t = e->args[i]->ty;
        bput(b, "memcpy(mtp_h%d + %d, &(%s){ ", n, off, ctype(t));
        emit_expr(b, e->args[i]);
        bput(b, " }, %d); ", scalar_bytes(t));
        off += scalar_bytes(t);
    }
    bput(b, "mtp_keyed_hash(mtp_x, mtp_h%d, sizeof mtp_h%d); })", n, n);
}

static void emit_v_data(Buf *b, Expr *e)
{
    bput(b, "((struct mtp_data){ .uid = (uint64_t)(");
    emit_expr(b, e->args[0]);
    bput(b, "), .off = (uint64_t)(");
    emit_expr(b, e->args[1]);
    bput(b, "), .len = (uint32_t)(");
    emit_expr(b, e->args[2]);
    bput(b, "), .flags = MTP_DATA_FROM_UNIT })");
}

static void emit_v_len(Buf *b, Expr *e)
{
    bput(b, "((uint32_t)(");
    emit_expr(b, e->args[0]);
    bput(b, ").len)");
}

static void emit_v_extract(Buf *b, Expr *e)
{
    int n = ++tmp_counter;
    Decl *bp = e->args[1]->decl;
    bput(b, "({ %s mtp_e%d; if (mtpg_%s_bp_%s_extract(mtp_pkt, &mtp_pos, &mtp_e%d) != 0) "
            "return MTP_PARSE_MALFORMED; mtp_e%d; })",
         rec_ctype(bp), n, P, name_of(bp->name), n, n);
}

/* invariants only (the analysis harness defines these) */
static void emit_v_unit_model(Buf *b, Expr *e)
{
    bput(b, "mtph_tx_%s(", e->builtin == B_TX_APPENDED ? "appended" : "acked");
    emit_expr(b, e->args[0]);
    bput(b, ")");
}

#define MTPC_V_EMIT(name, id, lo, hi, kind) [B_##id] = emit_v_##kind,
static void (*const value_emit[B__VALUES_END])(Buf *b, Expr *e) = {
    MTPC_VALUE_BUILTINS(MTPC_V_EMIT)
};
#undef MTPC_V_EMIT

static void emit_call(Buf *b, Expr *e)
{
    Expr **a = e->args;
    if (e->builtin > B_NONE && e->builtin < B__VALUES_END) {
        value_emit[e->builtin](b, e);
        return;
    }
    if (e->res == R_FUNC) {
        bput(b, "mtpg_%s_fn_%s(%s", P, name_of(e->decl->name), exec_arg());
        int i = 0;
        for (Param *p = e->decl->params; p; p = p->next, i++) {
            bput(b, ", ");
            if (p->var->is_ptr) {
                bput(b, "&(");
                emit_expr(b, a[i]);
                bput(b, ")");
            } else
                emit_expr(b, a[i]);
        }
        bput(b, ")");
        return;
    }
    if (e->res == R_CTOR) {
        emit_ctor(b, e);
        return;
    }
    mtpc_error_at(e->tok, "internal: call cannot be used as a value");
}

/* the kind byte that identifies option `o` in an option list */
static char *opt_kind_literal(const Decl *o) { return mtpc_fmt("%lld", (long long)o->opt_kind); }

static void emit_method(Buf *b, Expr *e)
{
    Expr *base = e->lhs;
    Type *bt = base->ty;
    char *bs = expr_str(base);
    int n = ++tmp_counter;
    Expr **a = e->args;
    if (bt->kind == TY_SWND) {
        const char *w = mtpc_fmt("(struct mtp_swnd *)&(%s)", bs);
        const char *cw = mtpc_fmt("(const struct mtp_swnd *)&(%s)", bs);
        switch (e->builtin) {
        case M_SET:
        case M_UNSET:
            bput(b, "mtp_swnd_%s(%s, (uint32_t)(%s), (uint32_t)(%s))",
                 e->builtin == M_SET ? "set" : "unset", w, expr_str(a[0]), expr_str(a[1]));
            return;
        case M_TEST: bput(b, "(mtp_swnd_test(%s, (uint32_t)(%s)) != 0)", cw, expr_str(a[0])); return;
        case M_FIRST_SET: bput(b, "mtp_swnd_first_set(%s)", cw); return;
        case M_FIRST_UNSET: bput(b, "mtp_swnd_first_unset(%s)", cw); return;
        case M_HEAD: bput(b, "mtp_swnd_head(%s)", cw); return;
        case M_RESET: bput(b, "mtp_swnd_reset(%s, (uint32_t)(%s))", w, expr_str(a[0])); return;
        case M_SLIDE:
            if (e->nargs)
                bput(b, "mtp_swnd_slide(%s, (uint32_t)(%s))", w, expr_str(a[0]));
            else
                bput(b, "({ struct mtp_swnd *mtp_w%d = %s; mtp_swnd_slide(mtp_w%d, "
                        "mtp_swnd_first_unset(mtp_w%d)); })", n, w, n, n);
            return;
        default: break;
        }
    }
    if (bt->kind == TY_LIST || bt->kind == TY_SLIST) {
        const char *et = ctype(bt->elem);
        long long cap = (long long)bt->cap;
        switch (e->builtin) {
        case M_ADD:
            if (e->decl) /* a frame into a frame_union list: its kind is its type selector */
                bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); %s mtp_v%d = (%s); if (mtp_l%d->len < %lld) { "
                        "mtp_l%d->v[mtp_l%d->len].kind = %lld; mtp_l%d->v[mtp_l%d->len].u.%s = mtp_v%d; "
                        "mtp_l%d->len++; } })",
                     bs, n, bs, rec_ctype(e->decl), n, expr_str(a[0]), n, cap, n, n,
                     (long long)e->decl->opt_kind, n, n, name_of(e->decl->name), n, n);
            else if (bt->kind == TY_LIST)
                bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); %s mtp_v%d = (%s); if (mtp_l%d->len < %lld) "
                        "mtp_l%d->v[mtp_l%d->len++] = mtp_v%d; })",
                     bs, n, bs, et, n, expr_str(a[0]), n, cap, n, n, n);
            else {
                char *k = name_of(bt->key_field->name);
                bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); %s mtp_v%d = (%s); if (mtp_l%d->len < %lld) { "
                        "uint32_t mtp_i%d = mtp_l%d->len; while (mtp_i%d > 0 && mtp_l%d->v[mtp_i%d - 1].%s > mtp_v%d.%s) { "
                        "mtp_l%d->v[mtp_i%d] = mtp_l%d->v[mtp_i%d - 1]; mtp_i%d--; } "
                        "mtp_l%d->v[mtp_i%d] = mtp_v%d; mtp_l%d->len++; } })",
                     bs, n, bs, et, n, expr_str(a[0]), n, cap, n, n, n, n, n, k, n, k, n, n, n, n,
                     n, n, n, n, n);
            }
            return;
        case M_REMOVE:
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); uint64_t mtp_i%d = (uint64_t)(%s); "
                    "if (mtp_i%d < mtp_l%d->len) { memmove(&mtp_l%d->v[mtp_i%d], &mtp_l%d->v[mtp_i%d + 1], "
                    "(mtp_l%d->len - mtp_i%d - 1) * sizeof mtp_l%d->v[0]); mtp_l%d->len--; } })",
                 bs, n, bs, n, expr_str(a[0]), n, n, n, n, n, n, n, n, n, n);
            return;
        case M_CLEAR: bput(b, "((%s).len = 0)", bs); return;
        case M_FIND: {
            char *f = name_of(e->field->name);
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); __typeof__(mtp_l%d->v[0].%s) mtp_k%d = "
                    "(__typeof__(mtp_l%d->v[0].%s))(%s); uint32_t mtp_i%d = 0; "
                    "while (mtp_i%d < mtp_l%d->len && mtp_l%d->v[mtp_i%d].%s != mtp_k%d) mtp_i%d++; "
                    "mtp_i%d; })",
                 bs, n, bs, n, f, n, n, f, expr_str(a[1]), n, n, n, n, n, f, n, n, n);
            return;
        }
        case M_UPDATE:
            if (bt->kind == TY_LIST) {
                bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); uint64_t mtp_i%d = (uint64_t)(%s); "
                        "%s mtp_v%d = (%s); if (mtp_i%d < mtp_l%d->len) mtp_l%d->v[mtp_i%d] = mtp_v%d; })",
                     bs, n, bs, n, expr_str(a[0]), et, n, expr_str(a[1]), n, n, n, n, n);
                return;
            }
            /* out of its place, then back in after the equal keys (as add does) */
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); uint64_t mtp_i%d = (uint64_t)(%s); "
                    "%s mtp_v%d = (%s); if (mtp_i%d < mtp_l%d->len) { "
                    "memmove(&mtp_l%d->v[mtp_i%d], &mtp_l%d->v[mtp_i%d + 1], "
                    "(mtp_l%d->len - mtp_i%d - 1) * sizeof mtp_l%d->v[0]); "
                    "uint32_t mtp_j%d = mtp_l%d->len - 1; "
                    "while (mtp_j%d > 0 && mtp_l%d->v[mtp_j%d - 1].%s > mtp_v%d.%s) { "
                    "mtp_l%d->v[mtp_j%d] = mtp_l%d->v[mtp_j%d - 1]; mtp_j%d--; } "
                    "mtp_l%d->v[mtp_j%d] = mtp_v%d; } })",
                 bs, n, bs, n, expr_str(a[0]), et, n, expr_str(a[1]), n, n,
                 n, n, n, n, n, n, n,
                 n, n,
                 n, n, n, name_of(bt->key_field->name), n, name_of(bt->key_field->name),
                 n, n, n, n, n,
                 n, n, n);
            return;
        case M_LEN: bput(b, "((uint32_t)(%s).len)", bs); return;
        case M_FIRST:
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); mtp_l%d->len ? mtp_l%d->v[0] : %s; })", bs,
                 n, bs, n, n, zero_value(bt->elem));
            return;
        case M_POP_FIRST:
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); %s mtp_r%d = mtp_l%d->len ? mtp_l%d->v[0] : %s; "
                    "if (mtp_l%d->len) { memmove(&mtp_l%d->v[0], &mtp_l%d->v[1], (mtp_l%d->len - 1) * "
                    "sizeof mtp_l%d->v[0]); mtp_l%d->len--; } mtp_r%d; })",
                 bs, n, bs, et, n, n, n, zero_value(bt->elem), n, n, n, n, n, n, n);
            return;
        default: break;
        }
    }
    if (bt->kind == TY_REC && bt->rec->kind == D_FRAMEUNION) {
        switch (e->builtin) {
        case M_IS: bput(b, "((%s).kind == %lld)", bs, (long long)e->decl->opt_kind); return;
        case M_GET: /* a zeroed frame when the element is of another type */
            bput(b, "({ __typeof__(%s) *mtp_f%d = &(%s); mtp_f%d->kind == %lld ? mtp_f%d->u.%s : %s; })",
                 bs, n, bs, n, (long long)e->decl->opt_kind, n, name_of(e->decl->name),
                 zero_value(e->ty));
            return;
        default: break;
        }
    }
    if (bt->kind == TY_REC && bt->rec->kind == D_OPTLIST) {
        Decl *ol = bt->rec;
        switch (e->builtin) {
        case M_HAS:
            bput(b, "(mtpg_%s_ol_%s_find(&(%s), %s) >= 0)", P, name_of(ol->name), bs,
                 opt_kind_literal(e->decl));
            return;
        case M_GET:
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); int mtp_i%d = mtpg_%s_ol_%s_find(mtp_l%d, %s); "
                    "mtp_i%d >= 0 ? mtp_l%d->v[mtp_i%d].u.%s : %s; })",
                 bs, n, bs, n, P, name_of(ol->name), n, opt_kind_literal(e->decl), n, n, n,
                 name_of(e->decl->name), zero_value(e->ty));
            return;
        case M_ADD:
            bput(b, "({ __typeof__(%s) *mtp_l%d = &(%s); %s mtp_v%d = (%s); if (mtp_l%d->len < %lld) { "
                    "mtp_l%d->v[mtp_l%d->len].kind = %lld; mtp_l%d->v[mtp_l%d->len].u.%s = mtp_v%d; "
                    "mtp_l%d->len++; } })",
                 bs, n, bs, rec_ctype(e->decl), n, expr_str(a[0]), n, (long long)ol->capacity, n,
                 n, (long long)e->decl->opt_kind, n, n, name_of(e->decl->name), n, n);
            return;
        case M_CLEAR: bput(b, "((%s).len = 0)", bs); return;
        case M_LEN: bput(b, "((uint32_t)(%s).len)", bs); return;
        default: break;
        }
    }
    mtpc_error_at(e->tok, "internal: unsupported method");
}

static bool unsigned_operand(const Expr *e)
{
    const Type *t = e->ty;
    return e->kind == E_NUM || t->kind == TY_BOOL || t->kind == TY_BIT || t->kind == TY_CSUM ||
           t->kind == TY_ADDR || (t->kind == TY_INT && !t->is_signed);
}

static int operand_bits(const Expr *e)
{
    const Type *t = e->ty;
    if (e->kind == E_NUM)
        return e->num > UINT32_MAX ? 64 : 32;
    if (t->kind == TY_INT)
        return t->bits;
    return t->kind == TY_ADDR ? 64 : 32;
}

static bool is_signed_int(const Expr *e)
{
    return e->kind != E_NUM && e->ty->kind == TY_INT && e->ty->is_signed;
}

/* both operands signed (a small literal counts as C's int), at least one a signed value */
static bool signed_arith(const Expr *e)
{
    bool l = is_signed_int(e->lhs) || (e->lhs->kind == E_NUM && e->lhs->num <= INT32_MAX);
    bool r = is_signed_int(e->rhs) || (e->rhs->kind == E_NUM && e->rhs->num <= INT32_MAX);
    return l && r && (is_signed_int(e->lhs) || is_signed_int(e->rhs));
}

/* Shifts never hit C's undefined cases: a count past the width gives 0 (or the sign for an
 * arithmetic right shift), and left shifts work on unsigned values. */
static void emit_shift(Buf *b, Expr *e)
{
    int w = operand_bits(e->lhs) > 32 ? 64 : 32;
    bool sign = e->lhs->ty->kind == TY_INT && e->lhs->ty->is_signed;
    if (e->op[0] == '<')
        bput(b, "mtp_gen_shl%d((uint%d_t)(", w, w);
    else if (sign)
        bput(b, "mtp_gen_sar64((int64_t)(");
    else
        bput(b, "mtp_gen_shr%d((uint%d_t)(", w, w);
    emit_expr(b, e->lhs);
    bput(b, "), (uint64_t)(");
    emit_expr(b, e->rhs);
    bput(b, "))");
}

/* x in {a, b}: x evaluated once (a variable or field path is read as is) */
static void emit_in(Buf *b, Expr *e)
{
    Expr *x = e->lhs;
    bool plain = x->kind == E_IDENT || (x->kind == E_FIELD && x->lhs->kind == E_IDENT);
    char *v = plain ? expr_str(x) : mtpc_fmt("mtp_in%d", ++tmp_counter);
    if (!plain)
        bput(b, "({ __auto_type %s = %s; ", v, expr_str(x));
    bput(b, "(");
    for (int i = 0; i < e->nargs; i++)
        bput(b, "%s%s == %s", i ? " || " : "", v, expr_str(e->args[i]));
    bput(b, ")");
    if (!plain)
        bput(b, "; })");
}

/* literals and named constants under operators: mtpc computes them (in 64 bits, see
 * mtpc_const_eval) so that the C compiler never folds them with C's narrower types */
static bool folded_const(const Expr *e)
{
    switch (e->kind) {
    case E_NUM: case E_BOOL: return true;
    case E_IDENT: return e->res == R_CONST;
    case E_UNARY: return folded_const(e->lhs);
    case E_BINARY: return folded_const(e->lhs) && folded_const(e->rhs);
    case E_COND: return folded_const(e->cond) && folded_const(e->lhs) && folded_const(e->rhs);
    default: return false;
    }
}

/* a folded value, written as C would type the same literal */
static void emit_folded(Buf *b, const Expr *e)
{
    int64_t v = mtpc_const_eval(prog, (Expr *)e);
    bool wide = e->ty->kind == TY_INT && e->ty->bits == 64;
    if (e->ty->kind == TY_BOOL)
        bput(b, v ? "true" : "false");
    else if (wide && !e->ty->is_signed)
        bput(b, "%lluull", (unsigned long long)v);
    else if (wide && v != INT64_MIN)
        bput(b, "%lldll", (long long)v);
    else if (v >= 0 && v <= INT32_MAX)
        bput(b, "%lld", (long long)v);
    else if (v >= 0 && v <= UINT32_MAX)
        bput(b, "%lldu", (long long)v);
    else if (v >= INT32_MIN)
        bput(b, "(%lld)", (long long)v);
    else if (v == INT64_MIN)
        bput(b, "(-9223372036854775807ll - 1)");
    else
        bput(b, "(%lldll)", (long long)v);
}

static void emit_expr(Buf *b, Expr *e)
{
    if ((e->kind == E_UNARY || e->kind == E_BINARY || e->kind == E_COND) && folded_const(e)) {
        emit_folded(b, e);
        return;
    }
    switch (e->kind) {
    case E_NUM:
        if (e->num <= INT32_MAX)
            bput(b, "%llu", (unsigned long long)e->num);
        else if (e->num <= UINT32_MAX)
            bput(b, "%lluu", (unsigned long long)e->num);
        else
            bput(b, "%lluull", (unsigned long long)e->num);
        return;
    case E_BOOL: bput(b, e->num ? "true" : "false"); return;
    case E_IDENT:
        switch (e->res) {
        case R_VAR:
            if (e->var->is_ptr)
                bput(b, "(*%s)", name_of(e->name));
            else
                bput(b, "%s", name_of(e->name));
            return;
        case R_CONST: bput(b, "MTPG_%s_%s", U, upper_of(e->name)); return;
        case R_PARAM: bput(b, "mtpg_%s_param_%s", P, name_of(e->name)); return;
        case R_QUEUE: bput(b, "MTPG_%s_Q_%s", U, upper_of(e->name)); return;
        case R_INF: bput(b, "MTP_SIZE_INF"); return;
        case R_BP_FIELD: bput(b, "%s%s", field_prefix, name_of(e->name)); return;
        case R_HDR_LEN: bput(b, "hdr_len"); return;
        case R_PAYLOAD_LEN: bput(b, "payload_len"); return;
        default: mtpc_error_at(e->tok, "internal: unresolved name");
        }
    case E_FIELD:
        if (e->res == R_PREV_PAYLOAD) {
            bput(b, "prev_payload_len");
            return;
        }
        if (e->lhs->res == R_TYPE) { /* seg_rule bp / prev */
            bput(b, "%s->%s", e->lhs->num ? "prev" : "bp", name_of(e->name));
            return;
        }
        if (is_ptr_ident(e->lhs))
            bput(b, "%s->%s", name_of(e->lhs->name), name_of(e->name));
        else {
            bput(b, "(");
            emit_expr(b, e->lhs);
            bput(b, ").%s", name_of(e->name));
        }
        return;
    case E_INDEX:
        bput(b, "(");
        emit_expr(b, e->lhs);
        if (mtpc_is_const(prog, e->rhs))
            bput(b, ").v[%lld]", (long long)mtpc_const_eval(prog, e->rhs));
        else {
            bput(b, ").v[mtp_gen_idx((uint64_t)(");
            emit_expr(b, e->rhs);
            bput(b, "), %lld)]", (long long)e->lhs->ty->cap);
        }
        return;
    case E_CALL: emit_call(b, e); return;
    case E_METHOD: emit_method(b, e); return;
    case E_UNARY:
        bput(b, "(%s", e->op);
        emit_expr(b, e->lhs);
        bput(b, ")");
        return;
    case E_BINARY:
        if ((e->op[0] == '/' || e->op[0] == '%') && !mtpc_is_const(prog, e->rhs)) {
            /* x / 0 and x % 0 are 0: a transport program must not crash the stack */
            int n = ++tmp_counter;
            bput(b, "({ __auto_type mtp_n%d = (", n);
            emit_expr(b, e->lhs);
            bput(b, "); __auto_type mtp_d%d = (", n);
            emit_expr(b, e->rhs);
            bput(b, "); mtp_d%d ? mtp_n%d %s mtp_d%d : 0; })", n, n, e->op, n);
            return;
        }
        if (!strcmp(e->op, "<<") || !strcmp(e->op, ">>")) {
            emit_shift(b, e);
            return;
        }
        if ((e->op[0] == '+' || e->op[0] == '-' || e->op[0] == '*') && !e->op[1] &&
            signed_arith(e)) {
            /* signed overflow wraps (two's complement) instead of being undefined */
            int w = operand_bits(e->lhs) > 32 || operand_bits(e->rhs) > 32 ? 64 : 32;
            bput(b, "((int%d_t)((uint%d_t)(", w, w);
            emit_expr(b, e->lhs);
            bput(b, ") %s (uint%d_t)(", e->op, w);
            emit_expr(b, e->rhs);
            bput(b, ")))");
            return;
        }
        bput(b, "(");
        if (e->op[0] == '*' && unsigned_operand(e->lhs) && unsigned_operand(e->rhs) &&
            operand_bits(e->lhs) <= 32 && operand_bits(e->rhs) <= 32)
            bput(b, "(uint32_t)"); /* unsigned wrap, not int overflow after promotion */
        emit_expr(b, e->lhs);
        bput(b, " %s ", e->op);
        emit_expr(b, e->rhs);
        bput(b, ")");
        return;
    case E_COND:
        bput(b, "(");
        emit_expr(b, e->cond);
        bput(b, " ? ");
        emit_expr(b, e->lhs);
        bput(b, " : ");
        emit_expr(b, e->rhs);
        bput(b, ")");
        return;
    case E_IN: emit_in(b, e); return;
    }
}

/* ------------------------------------------------------------ instructions */

static int indent_level;

static void emit_ind(void)
{
    for (int i = 0; i < indent_level; i++)
        emit("    ");
}

/* push an instruction; `fill` is the code setting its fields through mtp_i */
static void emit_push(const char *op, const char *fill)
{
    emit_ind();
    emit("{ struct mtp_instr *mtp_i = mtp_ibuf_push(mtp_x->out, %s); if (mtp_i) { %s } }\n", op,
         fill);
}

static Expr *named_arg(Expr *e, const char *name)
{
    for (NamedArg *a = e->named; a; a = a->next)
        if (tok_is(a->name, name))
            return a->val;
    return NULL;
}

/* the timer's context: explicit for a local context value (after new_ctx) or a global */
static char *timer_target(Expr *t, int *ctx_index, const char **key)
{
    Expr *base = t->lhs;
    Decl *c = base->ty->rec;
    *ctx_index = c->index;
    Field *f = t->field;
    *key = NULL;
    if (!base->var->is_ptr)
        *key = mtpc_fmt("mtpk_%s", name_of(base->name));
    else if (c->gran == GRAN_GLOBAL)
        *key = "";
    return mtpc_fmt("MTPG_%s_TIMER_%s_%s", U, upper_of(c->name), upper_of(f->name));
}

/* ---- the instruction builtins of builtins.h: emit_i_<kind>(e, row) */

typedef struct InstrRow {
    const char *op; /* "MTP_OP_..." */
    struct { const char *path, *ctype; } f[MTPC_MAX_INSTR_FIELDS]; /* filled from the args */
} InstrRow;

/* timer_start(ctx.t, dur) / timer_stop(ctx.t): the timer names its context and index */
static void emit_i_timer(Expr *e, const InstrRow *row)
{
    int ci;
    const char *key;
    char *id = timer_target(e->args[0], &ci, &key);
    Buf f = {0};
    bput(&f, "mtp_i->%s = %s; ", row->f[0].path, id);
    if (e->nargs == 2)
        bput(&f, "mtp_i->%s = (%s)(%s); ", row->f[1].path, row->f[1].ctype, expr_str(e->args[1]));
    if (key) {
        bput(&f, "mtp_i->flags = MTP_IF_EXPLICIT; mtp_i->ctx_type = %d; ", ci);
        if (*key)
            bput(&f, "mtp_i->key = %s; ", key);
    }
    emit_push(row->op, bstr(&f));
}

static void emit_i_pkt_gen(Expr *e, const InstrRow *row)
{
    Expr *bp = e->args[0];
    Decl *bd = bp->ty->rec;
    int n = ++tmp_counter;
    emit_ind();
    emit("{\n");
    indent_level++;
    emit_ind();
    emit("%s mtp_b%d = %s;\n", rec_ctype(bd), n, expr_str(bp));
    emit_ind();
    emit("uint32_t mtp_off%d = mtp_ibuf_copy(mtp_x->out, &mtp_b%d, sizeof mtp_b%d);\n", n, n, n);
    emit_ind();
    emit("struct mtp_instr *mtp_i = mtp_off%d == UINT32_MAX ? NULL : mtp_ibuf_push(mtp_x->out, %s);\n",
         n, row->op);
    emit_ind();
    emit("if (mtp_i) {\n");
    indent_level++;
    emit_ind();
    emit("mtp_i->arena_off = mtp_off%d;\n", n);
    emit_ind();
    emit("mtp_i->u.gen.bp = %d;\n", bd->index);
    Expr *seg = named_arg(e, "seg");
    emit_ind();
    if (seg)
        emit("mtp_i->u.gen.srule = %d;\n", seg->decl->index);
    else
        emit("mtp_i->u.gen.srule = MTP_NONE;\n");
    static const struct { const char *arg, *field, *type; } m[] = {
        {"dst", "dst_ip", "uint32_t"}, {"src", "src_ip", "uint32_t"}, {"mss", "max_seg", "uint32_t"},
        {"queue", "queue", "uint16_t"}, {"tos", "tos", "uint8_t"},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        Expr *a = named_arg(e, m[i].arg);
        if (a) {
            emit_ind();
            emit("mtp_i->u.gen.%s = (%s)(%s);\n", m[i].field, m[i].type, expr_str(a));
        }
    }
    indent_level--;
    emit_ind();
    emit("}\n");
    indent_level--;
    emit_ind();
    emit("}\n");
}

static void emit_i_new_ctx(Expr *e, const InstrRow *row)
{
    Expr *c = e->args[0], *id = e->args[1];
    Decl *cd = c->ty->rec;
    char *cn = name_of(c->name);
    int n = ++tmp_counter;
    emit_ind();
    emit("{\n");
    indent_level++;
    emit_ind();
    emit("%s mtp_id%d = %s;\n", rec_ctype(cd->key), n, expr_str(id));
    emit_ind();
    emit("mtpg_%s_key_%s(&mtpk_%s, &mtp_id%d);\n", P, name_of(cd->key->name), cn, n);
    emit_ind();
    emit("uint32_t mtp_off%d = mtp_ibuf_copy(mtp_x->out, &%s, sizeof %s);\n", n, cn, cn);
    emit_ind();
    emit("struct mtp_instr *mtp_i = mtp_off%d == UINT32_MAX ? NULL : mtp_ibuf_push(mtp_x->out, %s);\n",
         n, row->op);
    emit_ind();
    emit("if (mtp_i) { mtp_i->ctx_type = %d; mtp_i->key = mtpk_%s; mtp_i->arena_off = mtp_off%d; }\n",
         cd->index, cn, n);
    indent_level--;
    emit_ind();
    emit("}\n");
}

/* produce(event[, id]) in a parser: an event, not an instruction */
static void emit_i_produce(Expr *e, const InstrRow *row)
{
    (void)row;
    Decl *ev = e->args[0]->ty->rec;
    int n = ++tmp_counter;
    emit_ind();
    emit("{\n");
    indent_level++;
    emit_ind();
    emit("%s mtp_ev%d = %s;\n", rec_ctype(ev), n, expr_str(e->args[0]));
    if (e->nargs == 2) {
        Decl *fid = e->args[1]->ty->rec;
        emit_ind();
        emit("%s mtp_id%d = %s;\n", rec_ctype(fid), n, expr_str(e->args[1]));
        emit_ind();
        emit("struct mtp_key mtp_k%d;\n", n);
        emit_ind();
        emit("mtpg_%s_key_%s(&mtp_k%d, &mtp_id%d);\n", P, name_of(fid->name), n, n);
        emit_ind();
        emit("mtp_evsink_push(mtp_out, MTPG_%s_EV_%s, &mtp_ev%d, sizeof mtp_ev%d, &mtp_k%d);\n", U,
             upper_of(ev->name), n, n, n);
    } else {
        emit_ind();
        emit("mtp_evsink_push(mtp_out, MTPG_%s_EV_%s, &mtp_ev%d, sizeof mtp_ev%d, NULL);\n", U,
             upper_of(ev->name), n, n);
    }
    indent_level--;
    emit_ind();
    emit("}\n");
}

/* each argument converted to its instruction field's type, in order */
static void emit_i_scalar(Expr *e, const InstrRow *row)
{
    Buf f = {0};
    for (int i = 0; i < e->nargs; i++)
        bput(&f, "%smtp_i->%s = (%s)(%s);", i ? " " : "", row->f[i].path, row->f[i].ctype,
             expr_str(e->args[i]));
    emit_push(row->op, bstr(&f));
}

#define MTPC_F(path, ctype) {#path, #ctype}
#define MTPC_I_ROW(name, id, lo, hi, kind, op, fields) \
    [B_##id - B__VALUES_END - 1] = {"MTP_OP_" #op, {MTPC_UNPAREN fields}},
#define MTPC_I_EMIT(name, id, lo, hi, kind, op, fields) \
    [B_##id - B__VALUES_END - 1] = emit_i_##kind,
static const InstrRow instr_rows[B__INSTRS_END - B__VALUES_END - 1] = {
    MTPC_INSTR_BUILTINS(MTPC_I_ROW)
};
static void (*const instr_emit[B__INSTRS_END - B__VALUES_END - 1])(Expr *, const InstrRow *) = {
    MTPC_INSTR_BUILTINS(MTPC_I_EMIT)
};
#undef MTPC_F
#undef MTPC_I_ROW
#undef MTPC_I_EMIT

static void emit_instruction(Expr *e)
{
    int i = e->builtin - B__VALUES_END - 1;
    instr_emit[i](e, &instr_rows[i]);
}

/* ------------------------------------------------------------ statements */

static Decl *cur_decl;

static bool rec_has_defaults(Decl *d);

static void emit_local_init(Var *v)
{
    char *n = name_of(v->name);
    Type *t = v->ty;
    if (t->kind == TY_REC && t->rec->kind == D_CONTEXT) {
        emit_ind();
        emit("mtpg_%s_ctx_%s_init(&%s);\n", P, name_of(t->rec->name), n);
        emit_ind();
        emit("struct mtp_key mtpk_%s;\n", n);
        emit_ind();
        emit("memset(&mtpk_%s, 0, sizeof mtpk_%s);\n", n, n);
        return;
    }
    if (t->kind == TY_REC && rec_has_defaults(t->rec)) {
        emit_ind();
        emit("mtpg_%s_init_%s(&%s);\n", P, name_of(t->rec->name), n);
    }
}

static void emit_stmt(Stmt *s);

static char *simple_str(Stmt *s)
{
    if (s->kind == S_ASSIGN)
        return mtpc_fmt("%s %s %s", expr_str(s->lhs), s->op, expr_str(s->expr));
    return expr_str(s->expr);
}

static void emit_block_of(Stmt *s)
{
    if (s->kind == S_BLOCK) {
        for (Stmt *c = s->body; c; c = c->next)
            emit_stmt(c);
    } else
        emit_stmt(s);
}

static const char *return_ok(void)
{
    switch (cx) {
    case CX_PROC: return "return 0;";
    case CX_PARSER: return "return MTP_PARSE_OK;";
    default: return "return;";
    }
}

/* for ([i,] x in [reverse] l): an index over [0, min(len, capacity)), l read at every step
 * (the body may change it) */
static void emit_for_in(Stmt *s)
{
    Expr *l = s->expr;
    int n = ++tmp_counter;
    char *ls = expr_str(l);
    long long cap = (long long)l->ty->cap;
    emit_ind();
    if (s->reverse)
        emit("for (uint32_t mtp_k%d = (%s).len < %lld ? (%s).len : %lld; mtp_k%d-- > 0;) {\n", n,
             ls, cap, ls, cap, n);
    else
        emit("for (uint32_t mtp_k%d = 0; mtp_k%d < (%s).len && mtp_k%d < %lld; mtp_k%d++) {\n", n,
             n, ls, n, cap, n);
    indent_level++;
    if (s->reverse) { /* the body may have removed elements above */
        emit_ind();
        emit("if (mtp_k%d >= (%s).len) continue;\n", n, ls);
    }
    if (s->ivar) {
        emit_ind();
        emit("uint32_t %s = mtp_k%d;\n", name_of(s->ivar->name), n);
    }
    emit_ind();
    if (s->var->is_ptr)
        emit("const %s *%s = &(%s).v[mtp_k%d];\n", ctype(s->var->ty), name_of(s->var->name), ls, n);
    else
        emit("%s %s = (%s).v[mtp_k%d];\n", ctype(s->var->ty), name_of(s->var->name), ls, n);
    emit_block_of(s->body);
    indent_level--;
    emit_ind();
    emit("}\n");
}

static void emit_stmt(Stmt *s)
{
    if (s->kind != S_BLOCK)
        line_directive(s->tok);
    switch (s->kind) {
    case S_BLOCK:
        emit_ind();
        emit("{\n");
        indent_level++;
        emit_block_of(s);
        indent_level--;
        emit_ind();
        emit("}\n");
        return;
    case S_DECL: {
        Var *v = s->var;
        char *n = name_of(v->name);
        emit_ind();
        if (v->is_ptr) { /* a const reference (sema) */
            emit("const %s *%s = &(%s);\n", ctype(v->ty), n, expr_str(s->expr));
            return;
        }
        if (ty_is_scalar(v->ty)) {
            emit("%s %s = %s;\n", ctype(v->ty), n, s->expr ? expr_str(s->expr) : "0");
            return;
        }
        if (s->expr && !(v->ty->kind == TY_REC && v->ty->rec->kind == D_CONTEXT)) {
            emit("%s %s = %s;\n", ctype(v->ty), n, expr_str(s->expr));
            return;
        }
        emit("%s %s;\n", ctype(v->ty), n);
        emit_ind();
        emit("memset(&%s, 0, sizeof %s);\n", n, n);
        emit_local_init(v);
        if (s->expr) {
            emit_ind();
            emit("%s = %s;\n", n, expr_str(s->expr));
        }
        return;
    }
    case S_EXPR:
        if (s->expr->kind == E_CALL && mtpc_builtin_is_instr(s->expr->builtin)) {
            emit_instruction(s->expr);
            return;
        }
        emit_ind();
        if (s->expr->ty->kind != TY_VOID)
            emit("(void)%s;\n", expr_str(s->expr)); /* value deliberately unused */
        else
            emit("%s;\n", expr_str(s->expr));
        return;
    case S_ASSIGN:
        emit_ind();
        if (strcmp(s->op, "=") && strcmp(s->op, "&=") && strcmp(s->op, "|=") &&
            strcmp(s->op, "^=")) {
            /* `a op= b` as `*p = *p op b` with p = &a: the guards of the binary operator
             * (zero divisor, shift width, wrap) apply and `a` is evaluated once */
            int n = ++tmp_counter;
            char *pname = mtpc_fmt("mtp_p%d", n);
            Token *pt = mtpc_calloc(1, sizeof *pt);
            *pt = *s->tok;
            pt->kind = TK_IDENT;
            pt->loc = pname;
            pt->len = (int)strlen(pname);
            Var *pv = mtpc_calloc(1, sizeof *pv);
            pv->name = pt;
            pv->ty = s->lhs->ty;
            pv->is_ptr = true;
            Expr *ref = mtpc_calloc(1, sizeof *ref);
            ref->kind = E_IDENT;
            ref->tok = ref->name = pt;
            ref->res = R_VAR;
            ref->var = pv;
            ref->ty = s->lhs->ty;
            Expr bin = {0};
            bin.kind = E_BINARY;
            memcpy(bin.op, s->op, strlen(s->op) - 1);
            bin.ty = s->lhs->ty;
            bin.lhs = ref;
            bin.rhs = s->expr;
            bin.tok = s->tok;
            emit("{ __typeof__(%s) *%s = &(%s); *%s = %s; }\n", expr_str(s->lhs), pname,
                 expr_str(s->lhs), pname, expr_str(&bin));
            return;
        }
        emit("%s;\n", simple_str(s));
        return;
    case S_IF:
        emit_ind();
        emit("if (%s) {\n", expr_str(s->expr));
        indent_level++;
        emit_block_of(s->then);
        indent_level--;
        emit_ind();
        if (s->els) {
            emit("} else {\n");
            indent_level++;
            emit_block_of(s->els);
            indent_level--;
            emit_ind();
        }
        emit("}\n");
        return;
    case S_FOR: {
        emit_ind();
        emit("{\n");
        indent_level++;
        emit_stmt(s->init);
        line_directive(s->tok);
        emit_ind();
        emit("for (; %s; %s) {\n", expr_str(s->expr), simple_str(s->step));
        indent_level++;
        emit_block_of(s->body);
        indent_level--;
        emit_ind();
        emit("}\n");
        indent_level--;
        emit_ind();
        emit("}\n");
        return;
    }
    case S_FOR_IN: emit_for_in(s); return;
    case S_RETURN:
        emit_ind();
        if (s->expr)
            emit("return %s;\n", expr_str(s->expr));
        else
            emit("%s\n", return_ok());
        return;
    case S_STOP:
        emit_ind();
        emit("return 1;\n");
        return;
    case S_DROP:
        emit_ind();
        emit("return MTP_PARSE_MALFORMED;\n");
        return;
    case S_WHEN:
        emit_ind();
        emit("if (%s)\n", expr_str(s->expr));
        emit_ind();
        emit("    return %s;\n",
             s->drop_newer ? "MTP_COALESCE_DROP_NEWER" : "MTP_COALESCE_DROP_OLDER");
        return;
    case S_ASSERT:
        emit("#ifdef MTP_ASSERTS\n");
        emit_ind();
        emit("if (!(%s))\n", expr_str(s->expr));
        emit_ind();
        emit("    mtp_assert_failed(mtp_x, \"%s\", %d, \"%s\");\n",
             c_escape(s->tok->file->name, (int)strlen(s->tok->file->name)), s->tok->line,
             c_escape(s->text, s->text_len));
        emit("#endif\n");
        return;
    }
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
static bool rec_has_defaults(Decl *d)
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

/* ------------------------------------------------------------ wire code */

static const char *get_fn(int bytes)
{
    switch (bytes) {
    case 1: return "get8";
    case 2: return "get16";
    case 4: return "get32";
    default: return "get64";
    }
}

/* read the fixed fields of record d from `src` (byte pointer) into `dst` (e.g. "h->") */
static void emit_read_fixed(Decl *d, const char *dst, const char *src, int base_byte)
{
    Field *run = NULL;
    for (Field *f = d->fields; f; f = f->next) {
        if (!f->fixed)
            continue;
        char *fn = name_of(f->name);
        if (f->ty->kind == TY_BIT) {
            if (!run)
                run = f;
            Field *end = f;
            if (f->next && f->next->ty->kind == TY_BIT && f->next->fixed)
                continue;
            /* run [run, end]: read the bytes, then slice MSB first */
            int first = run->bit_off, last = end->bit_off + end->wire_bits;
            int nbytes = (last - first) / 8;
            emit("    {\n        uint64_t mtp_acc = 0;\n");
            for (int i = 0; i < nbytes; i++)
                emit("        mtp_acc = (mtp_acc << 8) | %s[%d];\n", src, base_byte + first / 8 + i);
            for (Field *g = run; g != end->next; g = g->next) {
                int shift = last - (g->bit_off + g->wire_bits);
                emit("        %s%s = (%s)((mtp_acc >> %d) & 0x%llxull);\n", dst, name_of(g->name),
                     ctype(g->ty), shift, (unsigned long long)((1ull << g->wire_bits) - 1));
            }
            emit("    }\n");
            run = NULL;
            continue;
        }
        int at = base_byte + f->bit_off / 8;
        if (f->ty->kind == TY_REC) {
            emit_read_fixed(f->ty->rec, mtpc_fmt("%s%s.", dst, fn), src, at);
            continue;
        }
        int bytes = f->wire_bits / 8;
        if (f->ty->kind == TY_BOOL)
            emit("    %s%s = %s[%d] != 0;\n", dst, fn, src, at);
        else
            emit("    %s%s = (%s)mtp_gen_%s(%s + %d);\n", dst, fn, ctype(f->ty), get_fn(bytes),
                 src, at);
    }
}

/* write the fixed fields; `val` gives each field's value expression */
static void emit_write_fixed(Decl *d, const char *srcv, const char *dst, int base_byte,
                             bool recompute)
{
    Field *run = NULL;
    for (Field *f = d->fields; f; f = f->next) {
        if (!f->fixed)
            continue;
        char *fn = name_of(f->name);
        char *val;
        if (f->ty->kind == TY_CSUM)
            val = "0";
        else if (recompute && f->recomputed) {
            field_prefix = srcv;
            val = expr_str(f->init);
        } else
            val = mtpc_fmt("%s%s", srcv, fn);
        if (f->ty->kind == TY_BIT) {
            if (!run) {
                run = f;
                emit("    {\n        uint64_t mtp_acc = 0;\n");
            }
            emit("        mtp_acc = (mtp_acc << %d) | ((uint64_t)(%s) & 0x%llxull);\n",
                 f->wire_bits, val, (unsigned long long)((1ull << f->wire_bits) - 1));
            if (f->next && f->next->ty->kind == TY_BIT && f->next->fixed)
                continue;
            int first = run->bit_off, last = f->bit_off + f->wire_bits;
            int nbytes = (last - first) / 8;
            for (int i = 0; i < nbytes; i++)
                emit("        %s[%d] = (uint8_t)(mtp_acc >> %d);\n", dst,
                     base_byte + first / 8 + i, (nbytes - 1 - i) * 8);
            emit("    }\n");
            run = NULL;
            continue;
        }
        int at = base_byte + f->bit_off / 8;
        if (f->ty->kind == TY_REC) {
            emit_write_fixed(f->ty->rec, mtpc_fmt("%s%s.", srcv, fn), dst, at, false);
            continue;
        }
        int bytes = f->wire_bits / 8;
        if (f->ty->kind == TY_BOOL)
            emit("    %s[%d] = (%s) ? 1 : 0;\n", dst, at, val);
        else
            emit("    mtp_gen_put%d(%s + %d, (uint%d_t)(%s));\n", bytes * 8, dst, at, bytes * 8,
                 val);
    }
}

static Field *list_field(Decl *opt)
{
    for (Field *f = opt->fields; f; f = f->next)
        if (f->ty->kind == TY_LIST)
            return f;
    return NULL;
}

static int elem_bytes(const Type *t) { return ty_wire_bits(t) / 8; }

static void emit_opt_code(Decl *o)
{
    char *n = name_of(o->name);
    char *ct = rec_ctype(o);
    Field *lf = list_field(o);
    /* size */
    emit("static __attribute__((unused)) uint32_t mtpg_%s_opt_%s_size(const %s *v)\n{\n", P, n, ct);
    if (lf)
        emit("    uint32_t n = v->%s.len < %lld ? v->%s.len : %lld;\n    return %d + n * %d;\n",
             name_of(lf->name), (long long)lf->ty->cap, name_of(lf->name), (long long)lf->ty->cap,
             o->fixed_bytes, elem_bytes(lf->ty->elem));
    else
        emit("    (void)v;\n    return %d;\n", o->fixed_bytes);
    emit("}\n\n");
    /* write */
    emit("static __attribute__((unused)) uint32_t mtpg_%s_opt_%s_write(const %s *v, uint8_t *d)\n{\n",
         P, n, ct);
    emit("    uint32_t size = mtpg_%s_opt_%s_size(v);\n", P, n);
    emit_write_fixed(o, "v->", "d", 0, false);
    emit("    d[0] = %lld;\n", (long long)o->opt_kind);
    if (!o->one_byte)
        emit("    d[1] = (uint8_t)size;\n");
    if (lf) {
        char *ln = name_of(lf->name);
        int es = elem_bytes(lf->ty->elem);
        emit("    for (uint32_t i = 0; i < v->%s.len && i < %lld; i++) {\n", ln,
             (long long)lf->ty->cap);
        emit("        uint8_t *e = d + %d + i * %d;\n", o->fixed_bytes, es);
        if (lf->ty->elem->kind == TY_REC) {
            emit("        const %s *s = &v->%s.v[i];\n", ctype(lf->ty->elem), ln);
            indent_level = 1;
            emit_write_fixed(lf->ty->elem->rec, "s->", "e", 0, false);
        } else
            emit("        mtp_gen_put%d(e, (uint%d_t)v->%s.v[i]);\n", es * 8, es * 8, ln);
        emit("    }\n");
    }
    emit("    return size;\n}\n\n");
    if (o->one_byte)
        return;
    /* parse: p points at the kind byte, len is the option's length byte (>= 2, in bounds) */
    emit("static int mtpg_%s_opt_%s_parse(const uint8_t *p, uint32_t len, %s *v)\n{\n", P, n, ct);
    emit("    memset(v, 0, sizeof *v);\n    if (len < %d)\n        return -1;\n", o->fixed_bytes);
    emit_read_fixed(o, "v->", "p", 0);
    if (lf) {
        char *ln = name_of(lf->name);
        int es = elem_bytes(lf->ty->elem);
        emit("    uint32_t n = (len - %d) / %d;\n    if (n > %lld)\n        n = %lld;\n",
             o->fixed_bytes, es, (long long)lf->ty->cap, (long long)lf->ty->cap);
        emit("    v->%s.len = n;\n    for (uint32_t i = 0; i < n; i++) {\n", ln);
        emit("        const uint8_t *e = p + %d + i * %d;\n", o->fixed_bytes, es);
        if (lf->ty->elem->kind == TY_REC) {
            emit("        %s *s = &v->%s.v[i];\n", ctype(lf->ty->elem), ln);
            emit_read_fixed(lf->ty->elem->rec, "s->", "e", 0);
        } else
            emit("        v->%s.v[i] = (%s)mtp_gen_%s(e);\n", ln, ctype(lf->ty->elem),
                 get_fn(es));
        emit("    }\n");
    }
    emit("    return 0;\n}\n\n");
}

static void emit_optlist_code(Decl *ol)
{
    char *n = name_of(ol->name);
    char *ct = rec_ctype(ol);
    Decl *u = ol->uni;
    emit("static __attribute__((unused)) int mtpg_%s_ol_%s_find(const %s *l, uint8_t kind)\n{\n", P,
         n, ct);
    emit("    for (uint32_t i = 0; i < l->len && i < %lld; i++)\n        if (l->v[i].kind == kind)\n"
         "            return (int)i;\n    return -1;\n}\n\n",
         (long long)ol->capacity);
    emit("static uint32_t mtpg_%s_ol_%s_size(const %s *l)\n{\n    uint32_t n = 0;\n", P, n, ct);
    emit("    for (uint32_t i = 0; i < l->len && i < %lld; i++) {\n        switch (l->v[i].kind) {\n",
         (long long)ol->capacity);
    for (int i = 0; i < u->nmembers; i++)
        emit("        case %lld: n += mtpg_%s_opt_%s_size(&l->v[i].u.%s); break;\n",
             (long long)u->opts[i]->opt_kind, P, name_of(u->opts[i]->name),
             name_of(u->opts[i]->name));
    emit("        default: break;\n        }\n    }\n");
    emit("    return (n + %lld) / %lld * %lld;\n}\n\n", (long long)ol->align - 1, (long long)ol->align,
         (long long)ol->align);
    emit("static uint32_t mtpg_%s_ol_%s_write(const %s *l, uint8_t *d)\n{\n    uint32_t o = 0;\n", P,
         n, ct);
    emit("    for (uint32_t i = 0; i < l->len && i < %lld; i++) {\n        switch (l->v[i].kind) {\n",
         (long long)ol->capacity);
    for (int i = 0; i < u->nmembers; i++)
        emit("        case %lld: o += mtpg_%s_opt_%s_write(&l->v[i].u.%s, d + o); break;\n",
             (long long)u->opts[i]->opt_kind, P, name_of(u->opts[i]->name),
             name_of(u->opts[i]->name));
    emit("        default: break;\n        }\n    }\n");
    emit("    uint32_t total = mtpg_%s_ol_%s_size(l);\n    memset(d + o, 0, total - o);\n"
         "    return total;\n}\n\n",
         P, n);
    /* parse */
    emit("static __attribute__((unused)) int mtpg_%s_ol_%s_parse(const uint8_t *p, uint32_t n, %s *l)\n{\n",
         P, n, ct);
    emit("    uint32_t o = 0;\n    l->len = 0;\n    while (o < n) {\n        uint8_t kind = p[o];\n"
         "        if (kind == 0)\n            break;\n");
    for (int i = 0; i < u->nmembers; i++)
        if (u->opts[i]->one_byte)
            emit("        if (kind == %lld) {\n            o++;\n            continue;\n        }\n",
                 (long long)u->opts[i]->opt_kind);
    emit("        if (n - o < 2)\n            return -1;\n        uint8_t len = p[o + 1];\n"
         "        if (len < 2 || len > n - o)\n            return -1;\n");
    emit("        switch (kind) {\n");
    for (int i = 0; i < u->nmembers; i++) {
        Decl *o = u->opts[i];
        if (o->one_byte)
            continue;
        emit("        case %lld:\n            if (l->len < %lld) {\n", (long long)o->opt_kind,
             (long long)ol->capacity);
        emit("                if (mtpg_%s_opt_%s_parse(p + o, len, &l->v[l->len].u.%s) != 0)\n"
             "                    return -1;\n",
             P, name_of(o->name), name_of(o->name));
        emit("                l->v[l->len++].kind = %lld;\n            }\n            break;\n",
             (long long)o->opt_kind);
    }
    emit("        default: break;\n        }\n        o += len;\n    }\n    return 0;\n}\n\n");
}

static bool is_frame_list(const Field *f)
{
    return f->ty->kind == TY_LIST && f->ty->elem->kind == TY_REC &&
           (f->ty->elem->rec->kind == D_BP || f->ty->elem->rec->kind == D_FRAMEUNION);
}

/* frames of a frame list: its blueprint, or each member of its frame_union */
static int list_frames(const Field *f, Decl ***frames)
{
    Decl *e = f->ty->elem->rec;
    if (e->kind == D_FRAMEUNION) {
        *frames = e->opts;
        return e->nmembers;
    }
    *frames = mtpc_calloc(1, sizeof(Decl *));
    (*frames)[0] = e;
    return 1;
}

static bool list_has_data(const Field *f)
{
    Decl **fr;
    int n = list_frames(f, &fr);
    for (int i = 0; i < n; i++)
        if (fr[i]->data_field)
            return true;
    return false;
}

#define MTP_NESTED_MAX_C 1024 /* MTP_NESTED_MAX of program.h */

static Field *nested_field(Decl *bp)
{
    for (Field *f = bp->fields; f; f = f->next)
        if (is_frame_list(f))
            return f;
    return NULL;
}

/* data_t slots of all frame lists: the descriptor's n_nested_data */
static long long nested_data_cap(Decl *bp)
{
    long long n = 0;
    for (Field *f = bp->fields; f; f = f->next)
        if (is_frame_list(f) && list_has_data(f))
            n += f->ty->cap;
    return n;
}

/* The frame field whose initialiser is `payload_len`: the length of the frame's data. */
static Field *frame_len_field(Decl *fr)
{
    for (Field *f = fr->fields; f; f = f->next)
        if (f->init && f->init->kind == E_IDENT && f->init->res == R_PAYLOAD_LEN)
            return f;
    return NULL;
}

/* value written for field f of the blueprint at `pre` ("b->"): its count, recomputed
 * initialiser or stored value */
static char *wire_value(Field *f, const char *pre)
{
    if (f->counts) {
        for (Field *g = f->next; g; g = g->next)
            if (g->count == f)
                return mtpc_fmt("(%s%s.len < %lld ? %s%s.len : %lld)", pre, name_of(g->name),
                                (long long)g->ty->cap, pre, name_of(g->name),
                                (long long)g->ty->cap);
    }
    if (f->recomputed) {
        field_prefix = pre;
        cx = CX_WRITE;
        return mtpc_fmt("(%s)", expr_str(f->init));
    }
    return mtpc_fmt("%s%s", pre, name_of(f->name));
}

/* n += wire size of a sequential scalar `v` of type t */
static void emit_seq_size(const Type *t, const char *v, const char *ind)
{
    if (t->kind == TY_INT && t->varint)
        emit("%sn += mtpg_%s_varint_len((uint64_t)%s);\n", ind, P, v);
    else
        emit("%sn += %d;\n", ind, ty_wire_bits(t) / 8);
}

/* writes a sequential scalar at dst + o */
static void emit_seq_write(const Type *t, const char *v, const char *ind)
{
    if (t->kind == TY_INT && t->varint)
        emit("%so += mtpg_%s_put_varint(dst + o, (uint64_t)%s);\n", ind, P, v);
    else if (t->kind == TY_BOOL)
        emit("%sdst[o++] = (%s) ? 1 : 0;\n", ind, v);
    else {
        int bytes = ty_wire_bits(t) / 8;
        emit("%smtp_gen_put%d(dst + o, (uint%d_t)%s);\n%so += %d;\n", ind, bytes * 8, bytes * 8,
             v, ind, bytes);
    }
}

/* reads a sequential scalar at p + o (n bytes in all) into lvalue `v`; -1 when short */
static void emit_seq_read(const Type *t, const char *v, const char *ind)
{
    if (t->kind == TY_INT && t->varint) {
        emit("%s{\n%s    uint64_t mtp_v;\n%s    int mtp_k = mtpg_%s_get_varint(p + o, n - o, &mtp_v);\n",
             ind, ind, ind, P);
        emit("%s    if (mtp_k < 0)\n%s        return -1;\n%s    %s = mtp_v;\n%s    o += (uint32_t)mtp_k;\n%s}\n",
             ind, ind, ind, v, ind, ind);
        return;
    }
    int bytes = ty_wire_bits(t) / 8;
    emit("%sif (n - o < %d)\n%s    return -1;\n", ind, bytes, ind);
    if (t->kind == TY_BOOL)
        emit("%s%s = p[o] != 0;\n", ind, v);
    else
        emit("%s%s = (%s)mtp_gen_%s(p + o);\n", ind, v, ctype(t), get_fn(bytes));
    emit("%so += %d;\n", ind, bytes);
}

/* a counted list's elements: each scalar, or each field of a struct, in order */
static void emit_counted_list(Field *f, const char *pre, int what)
{
    char *ln = name_of(f->name);
    const Type *et = f->ty->elem;
    long long cap = (long long)f->ty->cap;
    if (what == 2) {
        emit("    if ((uint64_t)%s%s > %lld)\n        return -1;\n", pre, name_of(f->count->name), cap);
        emit("    %s%s.len = (uint32_t)%s%s;\n", pre, ln, pre, name_of(f->count->name));
    }
    emit("    for (uint32_t i = 0; i < %s%s.len && i < %lld; i++) {\n", pre, ln, cap);
    if (et->kind == TY_REC) {
        for (Field *g = et->rec->fields; g; g = g->next) {
            char *v = mtpc_fmt("%s%s.v[i].%s", pre, ln, name_of(g->name));
            if (what == 0)
                emit_seq_size(g->ty, v, "        ");
            else if (what == 1)
                emit_seq_write(g->ty, v, "        ");
            else
                emit_seq_read(g->ty, v, "        ");
        }
    } else {
        char *v = mtpc_fmt("%s%s.v[i]", pre, ln);
        if (what == 0)
            emit_seq_size(et, v, "        ");
        else if (what == 1)
            emit_seq_write(et, v, "        ");
        else
            emit_seq_read(et, v, "        ");
    }
    emit("    }\n");
}

static void emit_frames_size(Field *f)
{
    char *fn = name_of(f->name);
    Decl *e = f->ty->elem->rec;
    Decl **frs;
    int nf = list_frames(f, &frs);
    emit("    for (uint32_t i = 0; i < b->%s.len && i < %lld; i++) {\n", fn, (long long)f->ty->cap);
    if (e->kind == D_FRAMEUNION)
        emit("        switch (b->%s.v[i].kind) {\n", fn);
    for (int m = 0; m < nf; m++) {
        Decl *fr = frs[m];
        char *v = e->kind == D_BP ? mtpc_fmt("b->%s.v[i]", fn)
                                  : mtpc_fmt("b->%s.v[i].u.%s", fn, name_of(fr->name));
        if (e->kind == D_FRAMEUNION)
            emit("        case %lld:\n    ", (long long)fr->opt_kind);
        emit("        n += mtpg_%s_bp_%s_hdr_len(&%s)", P, name_of(fr->name), v);
        if (fr->data_field)
            emit(" + %s.%s.len", v, name_of(fr->data_field->name));
        emit(";\n");
        if (e->kind == D_FRAMEUNION)
            emit("            break;\n");
    }
    if (e->kind == D_FRAMEUNION)
        emit("        default: break;\n        }\n");
    emit("    }\n");
}

static void emit_frame_write_one(Decl *fr, const char *ptr, const char *ind)
{
    char *n = name_of(fr->name);
    if (fr->data_field) {
        char *dn = name_of(fr->data_field->name);
        emit("%smtpg_%s_bp_%s_write_hdr(%s, dst + o, %s->%s.len);\n", ind, P, n, ptr, ptr, dn);
        emit("%so += mtpg_%s_bp_%s_hdr_len(%s);\n", ind, P, n, ptr);
        emit("%sif (%s->%s.len)\n%s    memcpy(dst + o, (const void *)(uintptr_t)%s->%s.addr, %s->%s.len);\n",
             ind, ptr, dn, ind, ptr, dn, ptr, dn);
        emit("%so += %s->%s.len;\n", ind, ptr, dn);
    } else {
        emit("%smtpg_%s_bp_%s_write_hdr(%s, dst + o, 0);\n", ind, P, n, ptr);
        emit("%so += mtpg_%s_bp_%s_hdr_len(%s);\n", ind, P, n, ptr);
    }
}

static void emit_frames_write(Field *f)
{
    char *fn = name_of(f->name);
    Decl *e = f->ty->elem->rec;
    emit("    for (uint32_t i = 0; i < b->%s.len && i < %lld; i++) {\n", fn, (long long)f->ty->cap);
    if (e->kind == D_BP) {
        emit("        const %s *fr = &b->%s.v[i];\n", rec_ctype(e), fn);
        emit_frame_write_one(e, "fr", "        ");
    } else {
        emit("        switch (b->%s.v[i].kind) {\n", fn);
        for (int m = 0; m < e->nmembers; m++) {
            Decl *fr = e->opts[m];
            emit("        case %lld: {\n            const %s *fr = &b->%s.v[i].u.%s;\n",
                 (long long)fr->opt_kind, rec_ctype(fr), fn, name_of(fr->name));
            emit_frame_write_one(fr, "fr", "            ");
            emit("            break;\n        }\n");
        }
        emit("        default: break;\n        }\n");
    }
    emit("    }\n");
}

/* The frame parser of a frame blueprint: its fixed prefix (length-checked, the type selector
 * must match), then its variable-length fields in order, then its data (the length field's
 * bytes, which must be there, or the rest of the packet). Returns the bytes taken or -1. */
static void emit_frame_parse(Decl *fr)
{
    char *n = name_of(fr->name);
    Field *sel = fr->fields, *lenf = frame_len_field(fr);
    emit("static __attribute__((unused)) int mtpg_%s_fr_%s_parse(const uint8_t *p, uint32_t n, %s *fr)\n{\n",
         P, n, rec_ctype(fr));
    emit("    memset(fr, 0, sizeof *fr);\n    if (n < %d)\n        return -1;\n", fr->fixed_bytes);
    emit_read_fixed(fr, "fr->", "p", 0);
    emit("    if (fr->%s != %lld)\n        return -1;\n", name_of(sel->name), (long long)fr->opt_kind);
    emit("    uint32_t o = %d;\n", fr->fixed_bytes);
    for (Field *f = fr->fields; f; f = f->next) {
        if (f->fixed)
            continue;
        if (f->ty->kind == TY_DATA) {
            char *dn = name_of(f->name);
            if (lenf)
                emit("    if ((uint64_t)fr->%s > n - o)\n        return -1;\n"
                     "    fr->%s.len = (uint32_t)fr->%s;\n",
                     name_of(lenf->name), dn, name_of(lenf->name));
            else
                emit("    fr->%s.len = n - o;\n", dn);
            emit("    fr->%s.addr = (mtp_addr_t)(uintptr_t)(p + o);\n    o += fr->%s.len;\n", dn, dn);
        } else if (f->ty->kind == TY_LIST)
            emit_counted_list(f, "fr->", 2);
        else
            emit_seq_read(f->ty, mtpc_fmt("fr->%s", name_of(f->name)), "    ");
    }
    emit("    return (int)o;\n}\n\n");
}

/* Frames up to the end of the packet (sema: check_frames_extractable): one frame more than
 * the capacity, an unknown type or a frame its parser rejects makes the packet malformed. */
static void emit_extract_frames(Field *f)
{
    Decl *e = f->ty->elem->rec;
    char *fn = name_of(f->name);
    emit("    while (o < n) {\n        if (h->%s.len >= %lld)\n            return -1;\n", fn,
         (long long)f->ty->cap);
    if (e->kind == D_BP) {
        emit("        int k = mtpg_%s_fr_%s_parse(p + o, n - o, &h->%s.v[h->%s.len++]);\n", P,
             name_of(e->name), fn, fn);
    } else {
        emit("        %s *el = &h->%s.v[h->%s.len++];\n        int k = -1;\n", rec_ctype(e), fn, fn);
        emit("        el->kind = p[o];\n        switch (p[o]) {\n");
        for (int m = 0; m < e->nmembers; m++)
            emit("        case %lld: k = mtpg_%s_fr_%s_parse(p + o, n - o, &el->u.%s); break;\n",
                 (long long)e->opts[m]->opt_kind, P, name_of(e->opts[m]->name),
                 name_of(e->opts[m]->name));
        emit("        default: break;\n        }\n");
    }
    emit("        if (k < 0)\n            return -1;\n        o += (uint32_t)k;\n    }\n");
}

/* the data_t fields of the frames in use (the descriptor's nested_data) */
static void emit_nested_data(Decl *bp)
{
    char *n = name_of(bp->name), *ct = rec_ctype(bp);
    emit("static uint16_t mtpg_%s_bp_%s_nested(const void *bp_, uint32_t *off)\n{\n"
         "    const %s *b = bp_;\n    uint16_t n = 0;\n",
         P, n, ct);
    for (Field *f = bp->fields; f; f = f->next) {
        if (!is_frame_list(f) || !list_has_data(f))
            continue;
        char *fn = name_of(f->name);
        Decl *e = f->ty->elem->rec;
        emit("    for (uint32_t i = 0; i < b->%s.len && i < %lld; i++) {\n", fn, (long long)f->ty->cap);
        char *at = mtpc_fmt("(uint32_t)(offsetof(%s, %s.v) + i * sizeof b->%s.v[0] + ", ct, fn, fn);
        if (e->kind == D_BP)
            emit("        off[n++] = %soffsetof(%s, %s));\n", at, rec_ctype(e),
                 name_of(e->data_field->name));
        else {
            emit("        switch (b->%s.v[i].kind) {\n", fn);
            for (int m = 0; m < e->nmembers; m++)
                if (e->opts[m]->data_field)
                    emit("        case %lld: off[n++] = %soffsetof(%s, u.%s.%s)); break;\n",
                         (long long)e->opts[m]->opt_kind, at, rec_ctype(e),
                         name_of(e->opts[m]->name), name_of(e->opts[m]->data_field->name));
            emit("        default: break;\n        }\n");
        }
        emit("    }\n");
    }
    emit("    return n;\n}\n\n");
}

/* The one frame list a blueprint can be cut by (no payload of its own), or NULL. */
static Field *split_field(Decl *bp)
{
    Field *nf = NULL;
    int n = 0;
    for (Field *f = bp->fields; f; f = f->next)
        if (is_frame_list(f)) {
            nf = f;
            n++;
        }
    return n == 1 && !bp->data_field ? nf : NULL;
}

/* frames_from (program.h): keep the frames [first, first + k) that fit in `room` */
static void emit_frames_from(Decl *bp, Field *f)
{
    char *n = name_of(bp->name), *fn = name_of(f->name);
    long long cap = (long long)f->ty->cap;
    emit("static uint32_t mtpg_%s_bp_%s_frames_from(void *bp_, uint32_t first, uint32_t room)\n{\n"
         "    %s *b = bp_;\n    uint32_t n = b->%s.len < %lld ? b->%s.len : %lld;\n",
         P, n, rec_ctype(bp), fn, cap, fn, cap);
    emit("    if (first >= n) {\n        b->%s.len = 0;\n        return 0;\n    }\n", fn);
    emit("    memmove(&b->%s.v[0], &b->%s.v[first], (n - first) * sizeof b->%s.v[0]);\n", fn, fn, fn);
    emit("    uint32_t k = 0;\n    for (;;) {\n        if (first + k >= n)\n            break;\n"
         "        b->%s.len = k + 1;\n        if (mtpg_%s_bp_%s_hdr_len(b) > room)\n            break;\n"
         "        k++;\n    }\n    b->%s.len = k;\n    return k;\n}\n\n", fn, P, n, fn);
}

/* header length and serialiser: the fixed prefix, then the variable-size fields in order
 * (option lists, frame lists, and in frames varints, integers after them, counted lists) */
static void emit_bp_code(Decl *bp)
{
    char *n = name_of(bp->name);
    char *ct = rec_ctype(bp);
    /* header length */
    emit("static uint32_t mtpg_%s_bp_%s_hdr_len(const void *bp_)\n{\n    const %s *b = bp_;\n"
         "    uint32_t n = %d;\n    (void)b;\n",
         P, n, ct, bp->fixed_bytes);
    if (bp->seq)
        emit("    uint32_t payload_len = %s;\n    (void)payload_len;\n",
             bp->data_field ? mtpc_fmt("b->%s.len", name_of(bp->data_field->name)) : "0");
    for (Field *f = bp->fields; f; f = f->next) {
        if (f->fixed || f->ty->kind == TY_DATA)
            continue;
        if (f->ty->kind == TY_REC && f->ty->rec->kind == D_OPTLIST)
            emit("    n += mtpg_%s_ol_%s_size(&b->%s);\n", P, name_of(f->ty->rec->name),
                 name_of(f->name));
        else if (is_frame_list(f))
            emit_frames_size(f);
        else if (f->ty->kind == TY_LIST)
            emit_counted_list(f, "b->", 0);
        else
            emit_seq_size(f->ty, wire_value(f, "b->"), "    ");
    }
    emit("    return n;\n}\n\n");
    /* serialiser */
    emit("static void mtpg_%s_bp_%s_write_hdr(const void *bp_, uint8_t *dst, uint32_t payload_len)\n{\n",
         P, n);
    emit("    const %s *b = bp_;\n    uint32_t hdr_len = mtpg_%s_bp_%s_hdr_len(b);\n"
         "    uint32_t o = %d;\n    (void)payload_len;\n    (void)hdr_len;\n",
         ct, P, n, bp->fixed_bytes);
    cx = CX_WRITE;
    emit_write_fixed(bp, "b->", "dst", 0, true);
    for (Field *f = bp->fields; f; f = f->next) {
        if (f->fixed || f->ty->kind == TY_DATA)
            continue;
        if (f->ty->kind == TY_REC && f->ty->rec->kind == D_OPTLIST)
            emit("    o += mtpg_%s_ol_%s_write(&b->%s, dst + o);\n", P, name_of(f->ty->rec->name),
                 name_of(f->name));
        else if (is_frame_list(f))
            emit_frames_write(f);
        else if (f->ty->kind == TY_LIST)
            emit_counted_list(f, "b->", 1);
        else
            emit_seq_write(f->ty, wire_value(f, "b->"), "    ");
    }
    emit("    (void)o;\n}\n\n");
    if (nested_data_cap(bp))
        emit_nested_data(bp);
    if (split_field(bp))
        emit_frames_from(bp, split_field(bp));
    if (bp->is_frame)
        emit_frame_parse(bp);
    if (!bp->extracted)
        return;
    /* extract */
    emit("static int mtpg_%s_bp_%s_extract(const struct mtp_rx_pkt *pkt, uint32_t *pos, %s *h)\n{\n",
         P, n, ct);
    emit("    memset(h, 0, sizeof *h);\n    if (*pos > pkt->l4_len)\n        return -1;\n"
         "    const uint8_t *p = pkt->l4 + *pos;\n    uint32_t n = pkt->l4_len - *pos;\n"
         "    if (n < %d)\n        return -1;\n",
         bp->fixed_bytes);
    emit_read_fixed(bp, "h->", "p", 0);
    emit("    uint32_t o = %d;\n", bp->fixed_bytes);
    for (Field *f = bp->fields; f; f = f->next) {
        if (f->ty->kind == TY_REC && f->ty->rec->kind == D_OPTLIST) {
            Decl *ol = f->ty->rec;
            cx = CX_EXTRACT;
            field_prefix = "h->";
            emit("    {\n        int64_t olen = (int64_t)(%s);\n", expr_str(ol->ol_length));
            emit("        if (olen < 0 || olen > (int64_t)(n - o))\n            return -1;\n");
            emit("        if (mtpg_%s_ol_%s_parse(p + o, (uint32_t)olen, &h->%s) != 0)\n"
                 "            return -1;\n        o += (uint32_t)olen;\n    }\n",
                 P, name_of(ol->name), name_of(f->name));
        } else if (f->ty->kind == TY_DATA) {
            emit("    h->%s.addr = (mtp_addr_t)(uintptr_t)(p + o);\n    h->%s.len = n - o;\n",
                 name_of(f->name), name_of(f->name));
        } else if (is_frame_list(f)) {
            emit_extract_frames(f);
        }
    }
    emit("    *pos += o;\n    return 0;\n}\n\n");
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
