/*
 * emit_expr.c — expressions as C text (builtin values, shifts, constants folded by mtpc) and
 * instructions: a builtin call becomes writes to the instruction buffer (the rows of
 * builtins.h).
 */
#include "emit_c.h"

CxKind cx;
const char *field_prefix; /* R_BP_FIELD: "c->", "b->", "h->" */
int tmp_counter;

static void emit_expr(Buf *b, Expr *e);

static bool is_ptr_ident(const Expr *e)
{
    return e->kind == E_IDENT && e->res == R_VAR && e->var->is_ptr;
}

char *expr_str(Expr *e)
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

/* T(f = v, …): starts as a local of type T does, then sets the named fields in order */
static void emit_record_literal(Buf *b, Expr *e)
{
    Decl *d = e->decl;
    int n = ++tmp_counter;
    bput(b, "({ %s mtp_r%d; memset(&mtp_r%d, 0, sizeof mtp_r%d); ", rec_ctype(d), n, n, n);
    if (d->kind == D_CONTEXT)
        bput(b, "mtpg_%s_ctx_%s_init(&mtp_r%d); ", P, name_of(d->name), n);
    else if (rec_has_defaults(d))
        bput(b, "mtpg_%s_init_%s(&mtp_r%d); ", P, name_of(d->name), n);
    if (e->from_record) { /* T(x, …): x evaluated once, read in place when it is a variable */
        Expr *x = e->args[0];
        bool place = x->kind == E_IDENT || x->kind == E_FIELD || x->kind == E_INDEX;
        bput(b, place ? "const __typeof__(" : "const __typeof__(");
        emit_expr(b, x);
        bput(b, place ? ") *mtp_s%d = &(" : ") mtp_v%d = (", n);
        emit_expr(b, x);
        bput(b, "); ");
        if (!place)
            bput(b, "const __typeof__(mtp_v%d) *mtp_s%d = &mtp_v%d; ", n, n, n);
        for (Field *f = d->fields; f; f = f->next)
            if (f->ty->kind != TY_CSUM && mtpc_find_field(x->ty->rec, f->name))
                bput(b, "mtp_r%d.%s = mtp_s%d->%s; ", n, name_of(f->name), n, name_of(f->name));
    }
    for (NamedArg *a = e->named; a; a = a->next) {
        bput(b, "mtp_r%d.%s = ", n, name_of(a->name));
        emit_expr(b, a->val);
        bput(b, "; ");
    }
    bput(b, "mtp_r%d; })", n);
}

static void emit_ctor(Buf *b, Expr *e)
{
    if (e->named || e->nargs == 0 || e->from_record) {
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
            bool place = a[i]->kind == E_IDENT || a[i]->kind == E_FIELD || a[i]->kind == E_INDEX;
            if (p->var->is_ptr && !place) { /* a value for a const parameter: a copy */
                bput(b, "&((const %s[1]){ ", ctype(p->ty));
                emit_expr(b, a[i]);
                bput(b, " })[0]");
            } else if (p->var->is_ptr) {
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

int indent_level;

void emit_ind(void)
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

void emit_instruction(Expr *e)
{
    int i = e->builtin - B__VALUES_END - 1;
    instr_emit[i](e, &instr_rows[i]);
}
