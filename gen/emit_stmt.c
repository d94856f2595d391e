/*
 * emit_stmt.c — statements as C, each with a #line directive back to the .mtp: declarations,
 * assignments, loops (for, for-in), if, return, stop, drop, assert.
 */
#include "emit_c.h"

Decl *cur_decl; /* the function, processor or rule being emitted */

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
    if (s->copy_list) { /* evaluated once, into a local the loop reads */
        emit_ind();
        emit("{\n");
        indent_level++;
        emit_ind();
        emit("const %s mtp_l%d = %s;\n", ctype(l->ty), n, ls);
        ls = mtpc_fmt("mtp_l%d", n);
    }
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
    if (s->copy_list) {
        indent_level--;
        emit_ind();
        emit("}\n");
    }
}

void emit_stmt(Stmt *s)
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
