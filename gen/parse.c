/*
 * parse.c — recursive-descent parser: tokens -> AST. Each function carries the grammar rule
 * it parses (the same EBNF as docs/LANGUAGE.md). Syntax errors are fatal.
 */
#include "mtpc.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

static Token *tok; /* current token */

static _Noreturn void error_here(const char *what)
{
    if (tok->kind == TK_EOF)
        mtpc_error_at(tok, "expected %s, found end of file", what);
    mtpc_error_at(tok, "expected %s, found '%.*s'", what, tok->len,
                  tok->text ? tok->text : tok->loc);
}

static bool equal(const char *s) { return tok_is(tok, s); }

static bool consume(const char *s)
{
    if (!equal(s))
        return false;
    tok = tok->next;
    return true;
}

static Token *skip(const char *s)
{
    if (!equal(s))
        error_here(mtpc_fmt("'%s'", s));
    Token *t = tok;
    tok = tok->next;
    return t;
}

static const char *keywords[] = {
    "const", "param", "struct", "flow_id", "event", "context", "scratchpad", "net_header",
    "opt_t", "opt_union", "opt_list", "pkt_bp", "seg_rule", "coalesce", "sched", "parser",
    "proc", "func", "invariant", "dispatch", "deploy", "import", "if", "else", "for", "return", "stop", "drop",
    "when", "assert", "true", "false", "bool", "bit", "csum16", "addr_t", "data_t", "timer_t",
    "sliding_wnd", "list", "sorted_list", "void", "pkt", "uint8", "uint16", "uint32", "uint64",
    "int8", "int16", "int32", "int64", "varint", "frame_union",
    /* C words that cannot be names in generated C */
    "auto", "break", "case", "char", "continue", "default", "do", "double", "enum", "extern",
    "float", "goto", "inline", "int", "long", "register", "restrict", "short", "signed",
    "sizeof", "static", "switch", "typedef", "union", "unsigned", "volatile", "while",
    "NULL", "memset", "memcpy", "memmove", "offsetof", "size_t", "uintptr_t", "int8_t",
    "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t", "uint64_t", "main",
};

static bool is_keyword(const Token *t)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (tok_is(t, keywords[i]))
            return true;
    return false;
}

/* ident = letter { letter | digit | "_" } (not a keyword, not starting with "mtp") */
static Token *ident(const char *what)
{
    if (tok->kind != TK_IDENT || is_keyword(tok))
        error_here(what);
    if (tok->len >= 3 && strncmp(tok->loc, "mtp", 3) == 0)
        mtpc_error_at(tok, "names starting with 'mtp' are reserved");
    if (tok->loc[0] == '_')
        mtpc_error_at(tok, "names starting with '_' are reserved");
    Token *t = tok;
    tok = tok->next;
    return t;
}

static Expr *expr(void);
static Expr *add_expr(void);
static void enter(void);
static int depth;
static Stmt *stmt(void);
static Stmt *block(void);

static Expr *new_expr(ExprKind k, Token *t)
{
    Expr *e = mtpc_calloc(1, sizeof *e);
    e->kind = k;
    e->tok = t;
    return e;
}

static Stmt *new_stmt(StmtKind k, Token *t)
{
    Stmt *s = mtpc_calloc(1, sizeof *s);
    s->kind = k;
    s->tok = t;
    return s;
}

/* ------------------------------------------------------------------ types */

static bool is_int_type_name(const Token *t, int *bits, bool *sign)
{
    static const struct { const char *s; int bits; bool sign; } ints[] = {
        {"uint8", 8, false}, {"uint16", 16, false}, {"uint32", 32, false},
        {"uint64", 64, false}, {"int8", 8, true}, {"int16", 16, true}, {"int32", 32, true},
        {"int64", 64, true},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        if (tok_is(t, ints[i].s)) {
            *bits = ints[i].bits;
            *sign = ints[i].sign;
            return true;
        }
    return false;
}

static bool is_builtin_type_start(const Token *t)
{
    int b;
    bool s;
    return is_int_type_name(t, &b, &s) || tok_is(t, "varint") || tok_is(t, "bool") || tok_is(t, "bit") ||
           tok_is(t, "csum16") || tok_is(t, "addr_t") || tok_is(t, "data_t") ||
           tok_is(t, "timer_t") || tok_is(t, "sliding_wnd") || tok_is(t, "list") ||
           tok_is(t, "sorted_list") || tok_is(t, "pkt");
}

static Type *new_type(TypeKind k, Token *t)
{
    Type *ty = mtpc_calloc(1, sizeof *ty);
    ty->kind = k;
    ty->tok = t;
    return ty;
}

/*
 * type = "uint8" | "uint16" | "uint32" | "uint64" | "int8" | "int16" | "int32" | "int64"
 *      | "varint" | "bool" | "csum16" | "addr_t" | "data_t" | "timer_t" | "pkt"
 *      | "bit" "<" add_expr ">"
 *      | "sliding_wnd" "<" add_expr ">"
 *      | "list" "<" type "," add_expr ">"
 *      | "sorted_list" "<" type "," add_expr "," ident ">"
 *      | ident
 */
static Type *type(void)
{
    Token *t = tok;
    int bits;
    bool sign;
    if (is_int_type_name(t, &bits, &sign)) {
        tok = tok->next;
        Type *ty = new_type(TY_INT, t);
        ty->bits = bits;
        ty->is_signed = sign;
        return ty;
    }
    if (consume("varint")) {
        Type *ty = new_type(TY_INT, t);
        ty->bits = 64;
        ty->varint = true;
        return ty;
    }
    if (consume("bool"))
        return new_type(TY_BOOL, t);
    if (consume("csum16")) {
        Type *ty = new_type(TY_CSUM, t);
        ty->bits = 16;
        return ty;
    }
    if (consume("addr_t"))
        return new_type(TY_ADDR, t);
    if (consume("data_t"))
        return new_type(TY_DATA, t);
    if (consume("timer_t"))
        return new_type(TY_TIMER, t);
    if (consume("pkt"))
        return new_type(TY_PKT, t);
    if (consume("bit") || consume("sliding_wnd")) {
        Type *ty = new_type(tok_is(t, "bit") ? TY_BIT : TY_SWND, t);
        skip("<");
        ty->cap_expr = add_expr();
        skip(">");
        return ty;
    }
    if (consume("list") || consume("sorted_list")) {
        Type *ty = new_type(tok_is(t, "list") ? TY_LIST : TY_SLIST, t);
        skip("<");
        enter();
        ty->elem = type();
        depth--;
        skip(",");
        ty->cap_expr = add_expr();
        if (ty->kind == TY_SLIST) {
            skip(",");
            ty->key_tok = ident("the ordering field");
        }
        skip(">");
        return ty;
    }
    Type *ty = new_type(TY_NAMED, t);
    ty->name = ident("a type");
    return ty;
}

/* ------------------------------------------------------------ expressions */

/* args = [ arg { "," arg } ] ;  arg = ident "=" expr | expr */
static void call_args(Expr *e)
{
    Expr *buf[64];
    NamedArg head = {0}, *cur = &head;
    int n = 0;
    skip("(");
    while (!equal(")")) {
        if (n > 0 || head.next)
            skip(",");
        if (tok->kind == TK_IDENT && tok_is(tok->next, "=")) {
            NamedArg *a = mtpc_calloc(1, sizeof *a);
            a->name = tok;
            tok = tok->next->next;
            a->val = expr();
            cur = cur->next = a;
            continue;
        }
        if (head.next)
            mtpc_error_at(tok, "positional argument after a named argument");
        if (n >= 64)
            mtpc_error_at(tok, "too many arguments");
        buf[n++] = expr();
    }
    skip(")");
    e->nargs = n;
    e->args = mtpc_calloc((size_t)n, sizeof(Expr *));
    memcpy(e->args, buf, (size_t)n * sizeof(Expr *));
    e->named = head.next;
}

/* primary = number | "true" | "false" | "(" expr ")" | ident [ "(" args ")" ] */
static Expr *primary(void)
{
    Token *t = tok;
    if (t->kind == TK_NUM) {
        tok = tok->next;
        Expr *e = new_expr(E_NUM, t);
        e->num = t->val;
        return e;
    }
    if (consume("true") || consume("false")) {
        Expr *e = new_expr(E_BOOL, t);
        e->num = tok_is(t, "true");
        return e;
    }
    if (consume("(")) {
        Expr *e = expr();
        skip(")");
        return e;
    }
    if (t->kind == TK_IDENT && !is_keyword(t)) {
        tok = tok->next;
        if (equal("(")) {
            Expr *e = new_expr(E_CALL, t);
            e->name = t;
            call_args(e);
            return e;
        }
        Expr *e = new_expr(E_IDENT, t);
        e->name = t;
        return e;
    }
    error_here("an expression");
}

/* postfix = primary { "." ident [ "(" args ")" ] | "[" expr "]" } */
static Expr *postfix(void)
{
    Expr *e = primary();
    for (;;) {
        Token *t = tok;
        if (equal(".") && tok_is(tok->next, "(")) /* `x.(f = v, …)`: simple() takes it */
            return e;
        if (consume(".")) {
            Token *name = tok;
            if (name->kind != TK_IDENT)
                error_here("a field name");
            tok = tok->next;
            Expr *m = new_expr(equal("(") ? E_METHOD : E_FIELD, name);
            m->name = name;
            m->lhs = e;
            if (m->kind == E_METHOD)
                call_args(m);
            e = m;
            continue;
        }
        if (consume("[")) {
            Expr *ix = new_expr(E_INDEX, t);
            ix->lhs = e;
            ix->rhs = expr();
            skip("]");
            e = ix;
            continue;
        }
        return e;
    }
}

/* unary = ("-" | "!" | "~" | "+") unary | postfix */
static Expr *unary(void)
{
    Token *t = tok;
    if (equal("-") || equal("!") || equal("~") || equal("+")) {
        tok = tok->next;
        Expr *e = new_expr(E_UNARY, t);
        memcpy(e->op, t->loc, 1);
        enter();
        e->lhs = unary();
        depth--;
        return e;
    }
    return postfix();
}

static Expr *binary(Token *t, Expr *l, Expr *r)
{
    Expr *e = new_expr(E_BINARY, t);
    memcpy(e->op, t->loc, (size_t)t->len);
    e->lhs = l;
    e->rhs = r;
    return e;
}

/* Binary levels, loosest first; each is  level = next { op next }. */
static const char *levels[][4] = {
    {"||"}, {"&&"}, {"|"}, {"^"}, {"&"}, {"==", "!="}, {"<", "<=", ">", ">="},
    {"<<", ">>"}, {"+", "-"}, {"*", "/", "%"},
};
#define NLEVELS ((int)(sizeof levels / sizeof levels[0]))

static bool at_level_op(int lv)
{
    for (int i = 0; i < 4 && levels[lv][i]; i++)
        if (equal(levels[lv][i]))
            return true;
    return false;
}

/*
 * or_expr  = and_expr { "||" and_expr }      and_expr = bor { "&&" bor }
 * bor      = bxor { "|" bxor }               bxor = band { "^" band }
 * band     = equality { "&" equality }       equality = relational { ("==" | "!=") relational }
 * relational = shift { ("<" | "<=" | ">" | ">=") shift } | shift "in" set
 * shift    = add_expr { ("<<" | ">>") add_expr }
 * add_expr = mul { ("+" | "-") mul }         mul = unary { ("*" | "/" | "%") unary }
 */
/* set = "{" expr { "," expr } [ "," ] "}"   (after `in`) */
static Expr *in_set(Expr *lhs)
{
    Expr *e = new_expr(E_IN, tok);
    tok = tok->next; /* in */
    e->lhs = lhs;
    Expr *buf[64];
    int n = 0;
    skip("{");
    do {
        if (equal("}"))
            break;
        if (n >= 64)
            mtpc_error_at(tok, "a set has at most 64 members");
        buf[n++] = expr();
    } while (consume(","));
    skip("}");
    if (n == 0)
        mtpc_error_at(e->tok, "an empty set");
    e->nargs = n;
    e->args = mtpc_calloc((size_t)n, sizeof(Expr *));
    memcpy(e->args, buf, (size_t)n * sizeof(Expr *));
    return e;
}

#define LEVEL_RELATIONAL 6 /* < <= > >= and `in { … }` */

static Expr *level(int lv)
{
    if (lv == NLEVELS)
        return unary();
    Expr *e = level(lv + 1);
    if (lv == LEVEL_RELATIONAL && equal("in") && tok_is(tok->next, "{"))
        return in_set(e);
    while (at_level_op(lv)) {
        Token *t = tok;
        tok = tok->next;
        e = binary(t, e, level(lv + 1));
    }
    return e;
}

static Expr *add_expr(void) { return level(8); }

/* expr = or_expr [ "?" expr ":" expr ] */
/* nesting guard (depth): deep input must not overflow the stack */

static void enter(void)
{
    if (++depth > 256)
        mtpc_error_at(tok, "nesting too deep");
}

static Expr *expr(void)
{
    enter();
    Expr *e = level(0);
    depth--;
    Token *t = tok;
    if (consume("?")) {
        Expr *c = new_expr(E_COND, t);
        c->cond = e;
        c->lhs = expr();
        skip(":");
        c->rhs = expr();
        return c;
    }
    return e;
}

/* ------------------------------------------------------------- statements */

static bool at_declaration(void)
{
    if (is_builtin_type_start(tok))
        return true;
    return tok->kind == TK_IDENT && !is_keyword(tok) && tok->next->kind == TK_IDENT;
}

static Var *new_var(Type *ty, Token *name)
{
    Var *v = mtpc_calloc(1, sizeof *v);
    v->ty = ty;
    v->name = name;
    return v;
}

static bool is_assign_op(void)
{
    static const char *ops[] = {"=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=",
                                ">>="};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        if (equal(ops[i]))
            return true;
    return false;
}

/* A variable or a field of one (no index, no call): safe to name once per field of a group. */
static bool is_plain_lvalue(const Expr *e)
{
    while (e->kind == E_FIELD)
        e = e->lhs;
    return e->kind == E_IDENT;
}

/* postfix "." "(" ident assign_op expr { "," ident assign_op expr } ")"   (after the postfix):
 * a block of assignments to fields of one record, made in order, left to right */
static Stmt *group_assign(Expr *rec)
{
    Stmt *b = new_stmt(S_BLOCK, tok);
    if (!is_plain_lvalue(rec))
        mtpc_error_at(tok, "a group assignment needs a variable or a field of one");
    tok = tok->next->next; /* ". (" */
    Stmt head = {0}, *cur = &head;
    do {
        Token *name = ident("a field name");
        Expr *f = new_expr(E_FIELD, name);
        f->name = name;
        f->lhs = rec;
        if (!is_assign_op())
            error_here("an assignment ('=', '+=', ...) to the field");
        Stmt *s = cur = cur->next = new_stmt(S_ASSIGN, tok);
        memcpy(s->op, tok->loc, (size_t)tok->len);
        tok = tok->next;
        s->lhs = f;
        s->expr = expr();
    } while (consume(","));
    skip(")");
    b->body = head.next;
    return b;
}

/* `l.add(a, b, …);`: a block of `l.add(a); l.add(b); …` in order (l a variable or a field
 * of one, named once per value as in a group assignment) */
static Stmt *add_each(Token *t, Expr *call)
{
    if (!is_plain_lvalue(call->lhs))
        mtpc_error_at(call->name, "adding several values needs a variable or a field of one");
    Stmt *b = new_stmt(S_BLOCK, t);
    Stmt head = {0}, *cur = &head;
    for (int i = 0; i < call->nargs; i++) {
        Expr *one = new_expr(E_METHOD, call->tok);
        *one = *call;
        one->args = &call->args[i];
        one->nargs = 1;
        cur = cur->next = new_stmt(S_EXPR, call->args[i]->tok);
        cur->expr = one;
    }
    b->body = head.next;
    return b;
}

/*
 * simple = type ident [ "=" expr ] | "const" type ident "=" expr
 *        | postfix "." "(" ident assign_op expr { "," ident assign_op expr } ")"
 *        | expr [ assign_op expr | "++" | "--" ]
 * assign_op = "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "&=" | "|=" | "^=" | "<<=" | ">>="
 */
static Stmt *simple(void)
{
    Token *t = tok;
    bool readonly = consume("const");
    if (readonly || at_declaration()) {
        Stmt *s = new_stmt(S_DECL, t);
        Type *ty = type();
        s->var = new_var(ty, ident("a variable name"));
        s->var->is_readonly = readonly;
        if (readonly && !equal("="))
            error_here("'=' (a const local needs its value)");
        if (consume("="))
            s->expr = expr();
        return s;
    }
    Expr *e = expr();
    if (equal(".") && tok_is(tok->next, "("))
        return group_assign(e);
    if (is_assign_op()) {
        Stmt *s = new_stmt(S_ASSIGN, tok);
        memcpy(s->op, tok->loc, (size_t)tok->len);
        tok = tok->next;
        s->lhs = e;
        s->expr = expr();
        return s;
    }
    if (equal("++") || equal("--")) {
        Stmt *s = new_stmt(S_ASSIGN, tok);
        memcpy(s->op, tok->loc, 1);
        s->op[1] = '=';
        tok = tok->next;
        s->lhs = e;
        s->expr = new_expr(E_NUM, s->tok);
        s->expr->num = 1;
        return s;
    }
    if (e->kind == E_METHOD && tok_is(e->name, "add") && e->nargs > 1 && !e->named)
        return add_each(t, e);
    Stmt *s = new_stmt(S_EXPR, t);
    s->expr = e;
    return s;
}

/*
 * stmt = block
 *      | "if" "(" expr ")" stmt [ "else" stmt ]
 *      | "for" "(" simple ";" expr ";" simple ")" stmt
 *      | "for" "(" [ ident "," ] ident "in" [ "reverse" ] expr ")" stmt
 *      | "return" [ expr ] ";"              (a void call in a void function: call, return)
 *      | "stop" [ expr ] ";"                (a call: the call, then stop)
 *      | "drop" ";"
 *      | "when" "(" expr ")" "drop" ( "older" | "newer" ) ";"
 *      | "assert" "(" expr ")" ";"
 *      | simple ";"
 */
static Stmt *stmt_inner(void);

/* after "for (": `x in` or `i, x in` */
static bool at_for_in(void)
{
    if (tok->kind != TK_IDENT)
        return false;
    if (tok_is(tok->next, "in"))
        return true;
    return tok_is(tok->next, ",") && tok->next->next->kind == TK_IDENT &&
           tok_is(tok->next->next->next, "in");
}

/* "for" "(" [ ident "," ] ident "in" [ "reverse" ] expr ")" stmt   (after "for (") */
static Stmt *for_in(Token *t)
{
    Stmt *s = new_stmt(S_FOR_IN, t);
    Token *first = ident("a loop variable name");
    if (consume(",")) {
        s->ivar = new_var(NULL, first);
        first = ident("a loop variable name");
    }
    s->var = new_var(NULL, first);
    skip("in");
    if (tok_is(tok, "reverse") && !tok_is(tok->next, ")") && !tok_is(tok->next, ".") &&
        !tok_is(tok->next, "[")) {
        tok = tok->next;
        s->reverse = true;
    }
    s->expr = expr();
    skip(")");
    s->body = stmt();
    return s;
}

static Stmt *stmt(void)
{
    enter();
    Stmt *s = stmt_inner();
    depth--;
    return s;
}

static Stmt *stmt_inner(void)
{
    Token *t = tok;
    if (equal("{"))
        return block();
    if (consume("if")) {
        Stmt *s = new_stmt(S_IF, t);
        skip("(");
        s->expr = expr();
        skip(")");
        s->then = stmt();
        if (consume("else"))
            s->els = stmt();
        return s;
    }
    if (consume("for")) {
        skip("(");
        if (at_for_in())
            return for_in(t);
        Stmt *s = new_stmt(S_FOR, t);
        s->init = simple();
        skip(";");
        s->expr = expr();
        skip(";");
        s->step = simple();
        skip(")");
        s->body = stmt();
        return s;
    }
    if (consume("return")) {
        Stmt *s = new_stmt(S_RETURN, t);
        if (!equal(";"))
            s->expr = expr();
        skip(";");
        return s;
    }
    if (consume("stop")) {
        if (consume(";"))
            return new_stmt(S_STOP, t);
        /* `stop f(...);`: the call, then stop (a guard's last words on one line) */
        Stmt *b = new_stmt(S_BLOCK, t);
        b->body = new_stmt(S_EXPR, tok);
        b->body->expr = expr();
        b->body->next = new_stmt(S_STOP, t);
        skip(";");
        return b;
    }
    if (consume("drop")) {
        skip(";");
        return new_stmt(S_DROP, t);
    }
    if (consume("when")) {
        Stmt *s = new_stmt(S_WHEN, t);
        skip("(");
        s->expr = expr();
        skip(")");
        skip("drop");
        if (consume("newer"))
            s->drop_newer = true;
        else if (!consume("older"))
            error_here("'older' or 'newer'");
        skip(";");
        return s;
    }
    if (consume("assert")) {
        Stmt *s = new_stmt(S_ASSERT, t);
        skip("(");
        s->text = tok->loc;
        s->expr = expr();
        s->text_len = (int)(tok->loc - s->text);
        skip(")");
        skip(";");
        return s;
    }
    Stmt *s = simple();
    skip(";");
    return s;
}

/* block = "{" { stmt } "}" */
static Stmt *block(void)
{
    Stmt *b = new_stmt(S_BLOCK, skip("{"));
    Stmt head = {0}, *cur = &head;
    while (!equal("}")) {
        if (tok->kind == TK_EOF)
            error_here("'}'");
        cur = cur->next = stmt();
    }
    tok = tok->next;
    b->body = head.next;
    return b;
}

/* ----------------------------------------------------------- declarations */

/* "=" expr ";" as the body of a function: { return expr; } */
static Stmt *expr_body(void)
{
    Stmt *b = new_stmt(S_BLOCK, skip("="));
    b->body = new_stmt(S_RETURN, tok);
    b->body->expr = expr();
    skip(";");
    return b;
}

static Decl *new_decl(DeclKind k, Token *kw)
{
    Decl *d = mtpc_calloc(1, sizeof *d);
    d->kind = k;
    d->tok = kw;
    d->csum_off = -1;
    return d;
}

/*
 * field_list = "{" { field } "}" [ ";" ]
 * field      = type ident [ "=" expr | "->" ident ] ";"
 */
static void field_list(Decl *d)
{
    skip("{");
    Field head = {0}, *cur = &head;
    int n = 0;
    while (!equal("}")) {
        if (tok->kind == TK_EOF)
            error_here("'}'");
        Field *f = mtpc_calloc(1, sizeof *f);
        f->ty = type();
        f->name = ident("a field name");
        if (consume("="))
            f->init = expr();
        else if (equal("->")) {
            if (f->ty->kind != TY_TIMER)
                mtpc_error_at(tok, "only a timer_t field names an event with '->'");
            tok = tok->next;
            f->ty->timer_ev = ident("an event name");
        }
        skip(";");
        f->index = n++;
        cur = cur->next = f;
    }
    tok = tok->next;
    consume(";");
    d->fields = head.next;
    d->nfields = n;
}

/* params = [ type ident { "," type ident } ] */
static void params(Decl *d)
{
    skip("(");
    Param head = {0}, *cur = &head;
    while (!equal(")")) {
        if (head.next)
            skip(",");
        Param *p = mtpc_calloc(1, sizeof *p);
        p->readonly = consume("const");
        p->ty = type();
        p->name = ident("a parameter name");
        cur = cur->next = p;
        d->nparams++;
    }
    skip(")");
    d->params = head.next;
}

static Token **ident_list(const char *open, const char *close, int *n)
{
    Token *buf[256];
    *n = 0;
    skip(open);
    while (!equal(close)) {
        if (*n > 0)
            skip(",");
        if (equal(close))
            break;
        if (*n >= 256)
            mtpc_error_at(tok, "list too long");
        buf[(*n)++] = ident("a name");
    }
    skip(close);
    Token **v = mtpc_calloc((size_t)*n, sizeof(Token *));
    memcpy(v, buf, (size_t)*n * sizeof(Token *));
    return v;
}

/* chain = "{" [ step { "," step } ] "}"    step = ident [ "if" expr ] */
static Token **chain_list(int *n, Expr ***guards)
{
    Token *buf[256];
    Expr *gbuf[256];
    *n = 0;
    skip("{");
    while (!equal("}")) {
        if (*n > 0)
            skip(",");
        if (equal("}"))
            break;
        if (*n >= 256)
            mtpc_error_at(tok, "list too long");
        buf[*n] = ident("a name");
        gbuf[(*n)++] = consume("if") ? expr() : NULL;
    }
    skip("}");
    Token **v = mtpc_calloc((size_t)*n, sizeof(Token *));
    memcpy(v, buf, (size_t)*n * sizeof(Token *));
    *guards = mtpc_calloc((size_t)*n, sizeof(Expr *));
    memcpy(*guards, gbuf, (size_t)*n * sizeof(Expr *));
    return v;
}

/* dispatch = "dispatch" [ ident ] "{" { ident "->" chain [ "else" chain ] ";" } "}" */
static Decl *dispatch_decl(Token *kw)
{
    Decl *d = new_decl(D_DISPATCH, kw);
    if (tok->kind == TK_IDENT && !equal("{"))
        d->name = ident("a dispatch name");
    skip("{");
    DispEntry head = {0}, *cur = &head;
    while (!consume("}")) {
        DispEntry *e = mtpc_calloc(1, sizeof *e);
        e->ev_name = ident("an event name");
        skip("->");
        e->chain = chain_list(&e->nchain, &e->guards);
        if (consume("else")) {
            e->has_else = true;
            e->els = chain_list(&e->nels, &e->eguards);
        }
        skip(";");
        cur = cur->next = e;
    }
    d->entries = head.next;
    return d;
}

/* deploy = "deploy" "{" { ident "(" [ expr { "," expr } ] ")" ";" } "}" */
static Decl *deploy_decl(Token *kw)
{
    Decl *d = new_decl(D_DEPLOY, kw);
    skip("{");
    DeployCall head = {0}, *cur = &head;
    while (!consume("}")) {
        DeployCall *c = mtpc_calloc(1, sizeof *c);
        c->name = ident("a register_* call");
        Expr tmp = {0};
        call_args(&tmp);
        if (tmp.named)
            mtpc_error_at(tmp.named->name, "named arguments are not allowed here");
        c->args = tmp.args;
        c->nargs = tmp.nargs;
        skip(";");
        cur = cur->next = c;
    }
    d->calls = head.next;
    return d;
}

/* sched = "sched" ident ":" ( "strict_prio" | "wrr" | "fifo" ) "{" { queue } "}"
 * queue = "queue" ident { "per_flow" | ( "prio" | "weight" | "rate" ) "=" expr } ";" */
static Decl *sched_decl(Token *kw)
{
    Decl *d = new_decl(D_SCHED, kw);
    d->name = ident("a scheduler name");
    skip(":");
    if (consume("strict_prio"))
        d->sched_kind = SCHED_STRICT;
    else if (consume("wrr"))
        d->sched_kind = SCHED_WRR;
    else if (consume("fifo"))
        d->sched_kind = SCHED_FIFO;
    else
        error_here("'strict_prio', 'wrr' or 'fifo'");
    skip("{");
    Queue head = {0}, *cur = &head;
    while (!consume("}")) {
        skip("queue");
        Queue *q = mtpc_calloc(1, sizeof *q);
        q->name = ident("a queue name");
        q->index = d->nqueues++;
        while (!consume(";")) {
            if (consume("per_flow"))
                q->per_flow = true;
            else if (consume("prio")) {
                skip("=");
                q->prio = expr();
            } else if (consume("weight")) {
                skip("=");
                q->weight = expr();
            } else if (consume("rate")) {
                skip("=");
                q->rate = expr();
            } else
                error_here("'per_flow', 'prio', 'weight', 'rate' or ';'");
        }
        cur = cur->next = q;
    }
    d->queues = head.next;
    return d;
}

/* seg_rule = "seg_rule" ident ":" ident "{" { ident "=" "[" expr "," expr "," expr
 *            [ "," expr ] "]" ";" } "}" */
static Decl *segrule_decl(Token *kw)
{
    Decl *d = new_decl(D_SEGRULE, kw);
    d->name = ident("a rule name");
    skip(":");
    d->bp_name = ident("a blueprint name");
    skip("{");
    SegEntry head = {0}, *cur = &head;
    while (!consume("}")) {
        SegEntry *s = mtpc_calloc(1, sizeof *s);
        s->name = ident("a field name");
        skip("=");
        skip("[");
        s->e[0] = expr();
        skip(",");
        s->e[1] = expr();
        skip(",");
        s->e[2] = expr();
        if (consume(","))
            s->e[3] = expr();
        skip("]");
        skip(";");
        cur = cur->next = s;
    }
    d->rules = head.next;
    return d;
}

/* opt_list = "opt_list" ident ":" ident "{" { ( "length" | "align" | "capacity" ) "=" expr ";" } "}" */
static Decl *optlist_decl(Token *kw)
{
    Decl *d = new_decl(D_OPTLIST, kw);
    d->name = ident("an option list name");
    skip(":");
    d->union_name = ident("an opt_union name");
    skip("{");
    while (!consume("}")) {
        Token *t = tok;
        Expr **slot = NULL;
        if (consume("length"))
            slot = &d->ol_length;
        else if (consume("align"))
            slot = &d->ol_align;
        else if (consume("capacity"))
            slot = &d->ol_capacity;
        else
            error_here("'length', 'align' or 'capacity'");
        if (*slot)
            mtpc_error_at(t, "duplicate '%.*s'", t->len, t->loc);
        skip("=");
        *slot = expr();
        skip(";");
    }
    if (!d->ol_length)
        mtpc_error_at(d->name, "opt_list needs 'length'");
    if (!d->ol_capacity)
        mtpc_error_at(d->name, "opt_list needs 'capacity'");
    return d;
}

/*
 * decl = "const" type ident "=" expr ";"
 *      | "param" type ident "=" expr ";"
 *      | "struct" ident field_list | "flow_id" ident field_list
 *      | "event" ident ":" ( "app" | "net" | "timer" ) field_list
 *      | "context" ident ":" granularity field_list
 *      | "scratchpad" ident field_list | "net_header" ident field_list
 *      | "opt_t" ident field_list | "pkt_bp" ident field_list
 *      | ( "opt_union" | "frame_union" ) ident "{" ident { "," ident } "}" | opt_list | seg_rule
 *      | "coalesce" ident params block | sched
 *      | "parser" ident params block | "proc" ident params ( block | "=" expr ";" )
 *      | "func" ( type | "void" ) ident params ( block | "=" expr ";" )   (returns expr)
 *      | "invariant" ident params block
 *      | dispatch | deploy
 * granularity = ( "flow" | "listener" | "shared" ) "(" ident ")" | "global"
 */
/* "enum" ident [ ":" type ] "{" ident [ "=" expr ] { "," ident [ "=" expr ] } [ "," ] "}" [ ";" ]
 * The enum, then one `const` of its type per member (a member without a value is the one
 * before plus 1, the first 0), chained after it. */
static Decl *enum_decl(Token *kw)
{
    Decl *e = new_decl(D_ENUM, kw);
    e->name = ident("an enum name");
    if (consume(":"))
        e->ty = type();
    else {
        e->ty = new_type(TY_INT, e->name);
        e->ty->bits = 8;
    }
    skip("{");
    Decl *last = e, *prev = NULL;
    do {
        if (equal("}"))
            break;
        Decl *c = new_decl(D_CONST, tok);
        c->name = ident("an enum member");
        c->ty = e->ty;
        c->of_enum = e;
        if (consume("="))
            c->init = expr();
        else if (!prev) {
            c->init = new_expr(E_NUM, c->name);
        } else {
            Expr *p = new_expr(E_IDENT, c->name);
            p->name = prev->name;
            Expr *one = new_expr(E_NUM, c->name);
            one->num = 1;
            c->init = new_expr(E_BINARY, c->name);
            memcpy(c->init->op, "+", 2);
            c->init->lhs = p;
            c->init->rhs = one;
        }
        last = last->next = prev = c;
        e->nmembers++;
    } while (consume(","));
    skip("}");
    consume(";");
    if (!e->nmembers)
        mtpc_error_at(e->name, "an enum needs members");
    return e;
}

static Decl *decl(void)
{
    Token *kw = tok;
    if (consume("const") || consume("param")) {
        Decl *d = new_decl(tok_is(kw, "const") ? D_CONST : D_PARAM, kw);
        d->ty = type();
        d->name = ident("a name");
        skip("=");
        d->init = expr();
        skip(";");
        return d;
    }
    static const struct { const char *kw; DeclKind k; } recs[] = {
        {"struct", D_STRUCT}, {"flow_id", D_FLOWID}, {"scratchpad", D_SCRATCH},
        {"net_header", D_NETHDR}, {"opt_t", D_OPT}, {"pkt_bp", D_BP},
    };
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
        if (consume(recs[i].kw)) {
            Decl *d = new_decl(recs[i].k, kw);
            d->name = ident("a name");
            field_list(d);
            return d;
        }
    if (consume("enum"))
        return enum_decl(kw);
    if (consume("event")) {
        Decl *d = new_decl(D_EVENT, kw);
        d->name = ident("an event name");
        skip(":");
        if (consume("app"))
            d->ev_kind = EVK_APP;
        else if (consume("net"))
            d->ev_kind = EVK_NET;
        else if (consume("timer"))
            d->ev_kind = EVK_TIMER;
        else
            error_here("'app', 'net' or 'timer'");
        field_list(d);
        return d;
    }
    if (consume("context")) {
        Decl *d = new_decl(D_CONTEXT, kw);
        d->name = ident("a context name");
        skip(":");
        if (consume("global"))
            d->gran = GRAN_GLOBAL;
        else {
            if (consume("flow"))
                d->gran = GRAN_FLOW;
            else if (consume("listener"))
                d->gran = GRAN_LISTENER;
            else if (consume("shared"))
                d->gran = GRAN_SHARED;
            else
                error_here("'flow', 'listener', 'shared' or 'global'");
            skip("(");
            d->key_name = ident("a flow_id name");
            skip(")");
        }
        field_list(d);
        return d;
    }
    if (consume("opt_union") || consume("frame_union")) {
        bool frames = tok_is(kw, "frame_union");
        Decl *d = new_decl(frames ? D_FRAMEUNION : D_OPTUNION, kw);
        d->name = ident(frames ? "a frame_union name" : "an opt_union name");
        d->members = ident_list("{", "}", &d->nmembers);
        consume(";");
        return d;
    }
    if (consume("opt_list"))
        return optlist_decl(kw);
    if (consume("seg_rule"))
        return segrule_decl(kw);
    if (consume("sched"))
        return sched_decl(kw);
    if (consume("dispatch"))
        return dispatch_decl(kw);
    if (consume("deploy"))
        return deploy_decl(kw);
    if (consume("coalesce") || consume("parser") || consume("proc") || consume("func") ||
        consume("invariant")) {
        DeclKind k = tok_is(kw, "coalesce")    ? D_COALESCE
                     : tok_is(kw, "parser")    ? D_PARSER
                     : tok_is(kw, "proc")      ? D_PROC
                     : tok_is(kw, "invariant") ? D_INVARIANT
                                               : D_FUNC;
        Decl *d = new_decl(k, kw);
        if (k == D_FUNC) {
            if (equal("void")) {
                d->ty = new_type(TY_VOID, tok);
                tok = tok->next;
            } else
                d->ty = type();
        }
        d->name = ident("a name");
        params(d);
        if ((k == D_FUNC || k == D_PROC) && equal("=")) /* `func T f(...) = expr;` */
            d->body = expr_body();
        else
            d->body = block();
        return d;
    }
    error_here("a declaration");
}

/* --------------------------------------------------------------- imports
 * A program may be split into modules: `import "path.mtp";` reads another file, whose path is
 * relative to the importing file, and its declarations take the import's place (so the program
 * means what it would mean written in one file; diagnostics name the file they are in). A file
 * is read once however often it is imported (a diamond); one that imports itself through
 * others is an error naming the cycle. A module declares no dispatch and no deploy: those
 * make the program. */

enum { SOURCES_MAX = 256 };
SrcFile **mtpc_sources;
int mtpc_nsources;
static char **source_ids;  /* each source's identity: its real path (or its name) */
static int importing[SOURCES_MAX], nimporting; /* the files being read, outermost first */

/* "a/b/../c/./d.mtp" -> "a/c/d.mtp": the path a diagnostic shows */
static char *normalize_path(const char *path)
{
    char *out = mtpc_calloc(1, strlen(path) + 2), *o = out;
    bool absolute = path[0] == '/';
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, "/");
        bool up = n == 2 && !strncmp(p, "..", 2);
        char *last = o > out ? strrchr(out, '/') : NULL;
        const char *seg = last ? last + 1 : out;
        bool can_pop = o > out && strcmp(seg, "..") != 0;
        if ((n == 1 && p[0] == '.') || n == 0) {
            /* skip */
        } else if (up && can_pop) {
            o = last ? last : out;
            *o = '\0';
        } else {
            if (o > out || absolute)
                *o++ = '/';
            memcpy(o, p, n);
            o += n;
            *o = '\0';
        }
        p += n;
        if (*p == '/')
            p++;
    }
    if (o == out)
        strcpy(out, absolute ? "/" : ".");
    return out;
}

static char *source_id(const char *path)
{
    char *real = realpath(path, NULL);
    if (!real)
        return normalize_path(path);
    char *id = mtpc_strdup(real);
    free(real);
    return id;
}

static int add_source(SrcFile *f, char *id)
{
    if (mtpc_nsources == SOURCES_MAX)
        mtpc_fatal("more than %d files in one program", SOURCES_MAX);
    mtpc_sources[mtpc_nsources] = f;
    source_ids[mtpc_nsources] = id;
    return mtpc_nsources++;
}

static int find_source(const char *id)
{
    for (int i = 0; i < mtpc_nsources; i++)
        if (!strcmp(source_ids[i], id))
            return i;
    return -1;
}

static void read_decls(SrcFile *f, int index, Decl **cur);

/* import = "import" string ";" */
static void import_decl(Decl **cur)
{
    Token *str = tok;
    if (str->kind != TK_STR)
        error_here("a file name in quotes");
    tok = tok->next;
    skip(";");
    char *rel = mtpc_fmt("%.*s", str->len - 2, str->loc + 1);
    size_t n = strlen(rel);
    if (rel[0] == '/')
        mtpc_error_at(str, "an import names a path relative to the importing file");
    if (n < 5 || strcmp(rel + n - 4, ".mtp") != 0)
        mtpc_error_at(str, "an imported file's name ends in .mtp");
    const char *from = str->file->name, *slash = strrchr(from, '/');
    char *path = normalize_path(slash ? mtpc_fmt("%.*s/%s", (int)(slash - from), from, rel) : rel);
    char *id = source_id(path);
    int seen = find_source(id);
    for (int i = 0; i < nimporting; i++) {
        if (importing[i] != seen)
            continue;
        char *chain = mtpc_strdup("");
        for (int j = i; j < nimporting; j++)
            chain = mtpc_fmt("%s%s -> ", chain, mtpc_sources[importing[j]]->name);
        mtpc_error_at(str, "import cycle: %s%s", chain, path);
    }
    if (seen >= 0) /* read already: its declarations are in the program */
        return;
    struct stat st;
    if (stat(path, &st) != 0)
        mtpc_error_at(str, "cannot import %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        mtpc_error_at(str, "cannot import %s: not a regular file", path);
    SrcFile *f = mtpc_read_file(path);
    read_decls(f, add_source(f, id), cur);
}

/* the declarations of one file, appended at *cur (imports read in place) */
static void read_decls(SrcFile *f, int index, Decl **cur)
{
    Token *outer = tok;
    importing[nimporting++] = index;
    tok = mtpc_tokenize(f);
    while (tok->kind != TK_EOF) {
        if (consume("import")) {
            import_decl(cur);
            continue;
        }
        Decl *d = decl();
        if (nimporting > 1 && (d->kind == D_DISPATCH || d->kind == D_DEPLOY))
            mtpc_error_at(d->tok, "a module (an imported file) has no %s: the program has it",
                          d->kind == D_DISPATCH ? "dispatch" : "deploy");
        *cur = (*cur)->next = d;
        while ((*cur)->next) /* an enum's members */
            *cur = (*cur)->next;
    }
    nimporting--;
    tok = outer;
}

/* program = { decl | import } EOF */
Program *mtpc_parse(SrcFile *f)
{
    depth = 0;
    nimporting = 0;
    mtpc_nsources = 0;
    mtpc_sources = mtpc_calloc(SOURCES_MAX, sizeof *mtpc_sources);
    source_ids = mtpc_calloc(SOURCES_MAX, sizeof *source_ids);
    Program *p = mtpc_calloc(1, sizeof *p);
    p->file = f;
    Decl head = {0}, *cur = &head;
    read_decls(f, add_source(f, source_id(f->name)), &cur);
    p->decls = head.next;
    return p;
}

/* --------------------------------------------------------------- AST dump */

static void dump_expr(FILE *o, const Expr *e);

static void dump_type(FILE *o, const Type *t)
{
    switch (t->kind) {
    case TY_VOID: fprintf(o, "void"); break;
    case TY_INT:
        if (t->varint)
            fprintf(o, "varint");
        else
            fprintf(o, "%sint%d", t->is_signed ? "" : "u", t->bits);
        break;
    case TY_BOOL: fprintf(o, "bool"); break;
    case TY_BIT: fprintf(o, "bit<"); dump_expr(o, t->cap_expr); fprintf(o, ">"); break;
    case TY_CSUM: fprintf(o, "csum16"); break;
    case TY_ADDR: fprintf(o, "addr_t"); break;
    case TY_DATA: fprintf(o, "data_t"); break;
    case TY_PKT: fprintf(o, "pkt"); break;
    case TY_TIMER:
        fprintf(o, "timer_t");
        if (t->timer_ev)
            fprintf(o, "->%.*s", t->timer_ev->len, t->timer_ev->loc);
        break;
    case TY_SWND: fprintf(o, "sliding_wnd<"); dump_expr(o, t->cap_expr); fprintf(o, ">"); break;
    case TY_LIST:
    case TY_SLIST:
        fprintf(o, "%s<", t->kind == TY_LIST ? "list" : "sorted_list");
        dump_type(o, t->elem);
        fprintf(o, ", ");
        dump_expr(o, t->cap_expr);
        if (t->key_tok)
            fprintf(o, ", %.*s", t->key_tok->len, t->key_tok->loc);
        fprintf(o, ">");
        break;
    case TY_NAMED: fprintf(o, "%.*s", t->name->len, t->name->loc); break;
    case TY_REC: fprintf(o, "%.*s", t->rec->name->len, t->rec->name->loc); break;
    }
}

static void dump_args(FILE *o, const Expr *e)
{
    fprintf(o, "(");
    for (int i = 0; i < e->nargs; i++) {
        if (i)
            fprintf(o, " ");
        dump_expr(o, e->args[i]);
    }
    for (NamedArg *a = e->named; a; a = a->next) {
        fprintf(o, " %.*s=", a->name->len, a->name->loc);
        dump_expr(o, a->val);
    }
    fprintf(o, ")");
}

static void dump_expr(FILE *o, const Expr *e)
{
    switch (e->kind) {
    case E_NUM: fprintf(o, "%llu", (unsigned long long)e->num); break;
    case E_BOOL: fprintf(o, e->num ? "true" : "false"); break;
    case E_IDENT: fprintf(o, "%.*s", e->name->len, e->name->loc); break;
    case E_FIELD:
        fprintf(o, "(. ");
        dump_expr(o, e->lhs);
        fprintf(o, " %.*s)", e->name->len, e->name->loc);
        break;
    case E_INDEX:
        fprintf(o, "([] ");
        dump_expr(o, e->lhs);
        fprintf(o, " ");
        dump_expr(o, e->rhs);
        fprintf(o, ")");
        break;
    case E_CALL:
        fprintf(o, "(call %.*s ", e->name->len, e->name->loc);
        dump_args(o, e);
        fprintf(o, ")");
        break;
    case E_METHOD:
        fprintf(o, "(method ");
        dump_expr(o, e->lhs);
        fprintf(o, " %.*s ", e->name->len, e->name->loc);
        dump_args(o, e);
        fprintf(o, ")");
        break;
    case E_UNARY:
        fprintf(o, "(%s ", e->op);
        dump_expr(o, e->lhs);
        fprintf(o, ")");
        break;
    case E_BINARY:
        fprintf(o, "(%s ", e->op);
        dump_expr(o, e->lhs);
        fprintf(o, " ");
        dump_expr(o, e->rhs);
        fprintf(o, ")");
        break;
    case E_IN:
        fprintf(o, "(in ");
        dump_expr(o, e->lhs);
        for (int i = 0; i < e->nargs; i++) {
            fprintf(o, " ");
            dump_expr(o, e->args[i]);
        }
        fprintf(o, ")");
        break;
    case E_COND:
        fprintf(o, "(? ");
        dump_expr(o, e->cond);
        fprintf(o, " ");
        dump_expr(o, e->lhs);
        fprintf(o, " ");
        dump_expr(o, e->rhs);
        fprintf(o, ")");
        break;
    }
}

static void indent(FILE *o, int d)
{
    for (int i = 0; i < d; i++)
        fprintf(o, "  ");
}

static void dump_stmt(FILE *o, const Stmt *s, int d)
{
    indent(o, d);
    fprintf(o, "%d: ", s->tok->line);
    switch (s->kind) {
    case S_BLOCK:
        fprintf(o, "block\n");
        for (Stmt *c = s->body; c; c = c->next)
            dump_stmt(o, c, d + 1);
        return;
    case S_DECL:
        fprintf(o, "var ");
        dump_type(o, s->var->ty);
        fprintf(o, " %.*s", s->var->name->len, s->var->name->loc);
        if (s->expr) {
            fprintf(o, " = ");
            dump_expr(o, s->expr);
        }
        break;
    case S_EXPR: fprintf(o, "expr "); dump_expr(o, s->expr); break;
    case S_ASSIGN:
        fprintf(o, "assign %s ", s->op);
        dump_expr(o, s->lhs);
        fprintf(o, " ");
        dump_expr(o, s->expr);
        break;
    case S_IF:
        fprintf(o, "if ");
        dump_expr(o, s->expr);
        fprintf(o, "\n");
        dump_stmt(o, s->then, d + 1);
        if (s->els) {
            indent(o, d);
            fprintf(o, "else\n");
            dump_stmt(o, s->els, d + 1);
        }
        return;
    case S_FOR:
        fprintf(o, "for ");
        dump_expr(o, s->expr);
        fprintf(o, "\n");
        dump_stmt(o, s->init, d + 1);
        dump_stmt(o, s->step, d + 1);
        dump_stmt(o, s->body, d + 1);
        return;
    case S_FOR_IN:
        fprintf(o, "for %.*s%s%.*s in %s", s->ivar ? s->ivar->name->len : 0,
                s->ivar ? s->ivar->name->loc : "", s->ivar ? ", " : "", s->var->name->len,
                s->var->name->loc, s->reverse ? "reverse " : "");
        dump_expr(o, s->expr);
        fprintf(o, "\n");
        dump_stmt(o, s->body, d + 1);
        return;
    case S_RETURN:
        fprintf(o, "return");
        if (s->expr) {
            fprintf(o, " ");
            dump_expr(o, s->expr);
        }
        break;
    case S_STOP: fprintf(o, "stop"); break;
    case S_DROP: fprintf(o, "drop"); break;
    case S_WHEN:
        fprintf(o, "when ");
        dump_expr(o, s->expr);
        fprintf(o, " drop %s", s->drop_newer ? "newer" : "older");
        break;
    case S_ASSERT: fprintf(o, "assert "); dump_expr(o, s->expr); break;
    }
    fprintf(o, "\n");
}

static void dump_fields(FILE *o, const Decl *d)
{
    for (Field *f = d->fields; f; f = f->next) {
        fprintf(o, "  field ");
        dump_type(o, f->ty);
        fprintf(o, " %.*s", f->name->len, f->name->loc);
        if (f->init) {
            fprintf(o, " = ");
            dump_expr(o, f->init);
        }
        fprintf(o, "\n");
    }
}

static void dump_tokens(FILE *o, Token **v, int n)
{
    fprintf(o, "{");
    for (int i = 0; i < n; i++)
        fprintf(o, "%s%.*s", i ? ", " : "", v[i]->len, v[i]->loc);
    fprintf(o, "}");
}

void mtpc_dump_ast(Program *p, FILE *o)
{
    for (Decl *d = p->decls; d; d = d->next) {
        fprintf(o, "%d: %s", d->tok->line, decl_kind_name(d->kind));
        if (d->name)
            fprintf(o, " %.*s", d->name->len, d->name->loc);
        switch (d->kind) {
        case D_CONST:
        case D_PARAM:
            fprintf(o, " : ");
            dump_type(o, d->ty);
            fprintf(o, " = ");
            dump_expr(o, d->init);
            fprintf(o, "\n");
            break;
        case D_EVENT:
            fprintf(o, " : %s\n", (const char *[]){"app", "net", "timer"}[d->ev_kind]);
            dump_fields(o, d);
            break;
        case D_CONTEXT:
            fprintf(o, " : %s", (const char *[]){"flow", "listener", "shared", "global"}[d->gran]);
            if (d->key_name)
                fprintf(o, "(%.*s)", d->key_name->len, d->key_name->loc);
            fprintf(o, "\n");
            dump_fields(o, d);
            break;
        case D_OPTUNION:
        case D_FRAMEUNION:
            fprintf(o, " ");
            dump_tokens(o, d->members, d->nmembers);
            fprintf(o, "\n");
            break;
        case D_OPTLIST:
            fprintf(o, " : %.*s\n  length ", d->union_name->len, d->union_name->loc);
            dump_expr(o, d->ol_length);
            if (d->ol_align) {
                fprintf(o, "\n  align ");
                dump_expr(o, d->ol_align);
            }
            fprintf(o, "\n  capacity ");
            dump_expr(o, d->ol_capacity);
            fprintf(o, "\n");
            break;
        case D_SEGRULE:
            fprintf(o, " : %.*s\n", d->bp_name->len, d->bp_name->loc);
            for (SegEntry *s = d->rules; s; s = s->next) {
                fprintf(o, "  %.*s = [", s->name->len, s->name->loc);
                for (int i = 0; i < 4 && s->e[i]; i++) {
                    fprintf(o, i ? ", " : "");
                    dump_expr(o, s->e[i]);
                }
                fprintf(o, "]\n");
            }
            break;
        case D_SCHED:
            fprintf(o, " : %s\n", (const char *[]){"fifo", "strict_prio", "wrr"}[d->sched_kind]);
            for (Queue *q = d->queues; q; q = q->next)
                fprintf(o, "  queue %.*s%s\n", q->name->len, q->name->loc,
                        q->per_flow ? " per_flow" : "");
            break;
        case D_DISPATCH:
            fprintf(o, "\n");
            for (DispEntry *e = d->entries; e; e = e->next) {
                fprintf(o, "  %.*s -> ", e->ev_name->len, e->ev_name->loc);
                dump_tokens(o, e->chain, e->nchain);
                if (e->has_else) {
                    fprintf(o, " else ");
                    dump_tokens(o, e->els, e->nels);
                }
                fprintf(o, "\n");
            }
            break;
        case D_DEPLOY:
            fprintf(o, "\n");
            for (DeployCall *c = d->calls; c; c = c->next) {
                Expr tmp = {0};
                tmp.args = c->args;
                tmp.nargs = c->nargs;
                fprintf(o, "  %.*s", c->name->len, c->name->loc);
                dump_args(o, &tmp);
                fprintf(o, "\n");
            }
            break;
        case D_COALESCE:
        case D_PARSER:
        case D_PROC:
        case D_FUNC:
        case D_INVARIANT:
            fprintf(o, " (");
            for (Param *pa = d->params; pa; pa = pa->next) {
                dump_type(o, pa->ty);
                fprintf(o, " %.*s%s", pa->name->len, pa->name->loc, pa->next ? ", " : "");
            }
            fprintf(o, ")");
            if (d->ty) {
                fprintf(o, " -> ");
                dump_type(o, d->ty);
            }
            fprintf(o, "\n");
            dump_stmt(o, d->body, 1);
            break;
        default:
            fprintf(o, "\n");
            dump_fields(o, d);
            break;
        }
    }
}
