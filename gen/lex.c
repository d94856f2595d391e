/* lex.c — source files, diagnostics and the tokenizer of mtpc. */
#include "mtpc.h"

#include <ctype.h>
#include <errno.h>

#include <setjmp.h>
#include <stddef.h>

int mtpc_warnings;
jmp_buf *mtpc_on_error;
bool mtpc_quiet;

/* Every allocation is chained so that a long-running user (the fuzzer) can free them all;
 * mtpc itself never frees. */
typedef union AllocHdr {
    union AllocHdr *prev;
    max_align_t align;
} AllocHdr;
static AllocHdr *last_alloc;

void *mtpc_calloc(size_t n, size_t size)
{
    if (n == 0)
        n = 1;
    if (size == 0)
        size = 1;
    if (n > (SIZE_MAX - sizeof(AllocHdr)) / size)
        mtpc_fatal("out of memory");
    AllocHdr *h = calloc(1, sizeof(AllocHdr) + n * size);
    if (!h)
        mtpc_fatal("out of memory");
    h->prev = last_alloc;
    last_alloc = h;
    return h + 1;
}

void mtpc_free_all(void)
{
    while (last_alloc) {
        AllocHdr *p = last_alloc->prev;
        free(last_alloc);
        last_alloc = p;
    }
}

char *mtpc_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = mtpc_calloc(1, n);
    memcpy(d, s, n);
    return d;
}

char *mtpc_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        mtpc_fatal("out of memory");
    va_end(ap);
    char *t = mtpc_strdup(s);
    free(s);
    return t;
}

static _Noreturn void fail(void)
{
    if (mtpc_on_error)
        longjmp(*mtpc_on_error, 1);
    exit(1);
}

_Noreturn void mtpc_fatal(const char *fmt, ...)
{
    if (mtpc_quiet)
        fail();
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "mtpc: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fail();
}

/* Prints `file:line:col: kind: message`, the source line and a caret under the column. */
static void verror_at(SrcFile *f, const char *loc, const char *kind, const char *fmt,
                      va_list ap)
{
    if (mtpc_quiet)
        return;
    const char *line = loc;
    while (line > f->contents && line[-1] != '\n')
        line--;
    const char *end = loc;
    while (*end && *end != '\n')
        end++;
    int lineno = 1;
    for (const char *p = f->contents; p < line; p++)
        if (*p == '\n')
            lineno++;
    int col = (int)(loc - line) + 1;
    fprintf(stderr, "%s:%d:%d: %s: ", f->name, lineno, col, kind);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%.*s\n", (int)(end - line), line);
    for (const char *p = line; p < loc; p++)
        fputc(*p == '\t' ? '\t' : ' ', stderr);
    fprintf(stderr, "^\n");
}

_Noreturn void mtpc_error_src(SrcFile *f, const char *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror_at(f, loc, "error", fmt, ap);
    va_end(ap);
    fail();
}

_Noreturn void mtpc_error_at(const Token *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror_at(t->file, t->loc, "error", fmt, ap);
    va_end(ap);
    fail();
}

void mtpc_warn_at(const Token *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror_at(t->file, t->loc, "warning", fmt, ap);
    va_end(ap);
    mtpc_warnings++;
}

bool tok_is(const Token *t, const char *s)
{
    const char *spelling = t->text ? t->text : t->loc;
    return (t->kind == TK_IDENT || t->kind == TK_PUNCT) && (int)strlen(s) == t->len &&
           memcmp(spelling, s, (size_t)t->len) == 0;
}

char *tok_str(const Token *t)
{
    char *s = mtpc_calloc(1, (size_t)t->len + 1);
    memcpy(s, t->text ? t->text : t->loc, (size_t)t->len);
    return s;
}

SrcFile *mtpc_read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        mtpc_fatal("cannot open %s: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        mtpc_fatal("out of memory");
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb)
                mtpc_fatal("out of memory");
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, fp);
        if (got == 0)
            break;
        n += got;
    }
    fclose(fp);
    buf[n] = '\0';
    char *copy = mtpc_calloc(1, n + 1);
    memcpy(copy, buf, n + 1);
    free(buf);
    SrcFile *f = mtpc_calloc(1, sizeof *f);
    f->name = mtpc_strdup(path);
    f->contents = copy;
    f->size = n;
    /* the lexer stops at the first NUL: point at it like at any other error (the quoted
     * source line ends there) */
    size_t nul = strlen(copy);
    if (nul != n)
        mtpc_error_src(f, copy + nul, "NUL byte in the source");
    return f;
}

static Token *new_token(TokenKind kind, SrcFile *f, char *start, char *end, int line, int col)
{
    Token *t = mtpc_calloc(1, sizeof *t);
    t->kind = kind;
    t->loc = start;
    t->len = (int)(end - start);
    t->file = f;
    t->line = line;
    t->col = col;
    return t;
}

static int digit_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return 99;
}

/* number := digits [time-suffix]; digits may be 0x.. 0b.. with '_' separators */
static char *read_number(SrcFile *f, char *p, uint64_t *out)
{
    char *start = p;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
        base = 2;
        p += 2;
    }
    uint64_t v = 0;
    int ndigits = 0;
    for (;; p++) {
        if (*p == '_' && ndigits > 0)
            continue;
        int d = digit_value((unsigned char)*p);
        if (d >= base)
            break;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            mtpc_error_src(f, start, "integer constant too large");
        v = v * (uint64_t)base + (uint64_t)d;
        ndigits++;
    }
    if (ndigits == 0)
        mtpc_error_src(f, start, "invalid number");
    if (p[-1] == '_')
        mtpc_error_src(f, start, "invalid number");
    static const struct { const char *s; uint64_t mul; } suffix[] = {
        {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000},
    };
    for (size_t i = 0; i < sizeof suffix / sizeof suffix[0]; i++) {
        size_t n = strlen(suffix[i].s);
        if (strncmp(p, suffix[i].s, n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_') {
            if (v > UINT64_MAX / suffix[i].mul)
                mtpc_error_src(f, start, "time constant too large");
            v *= suffix[i].mul;
            p += n;
            break;
        }
    }
    if (isalnum((unsigned char)*p) || *p == '_')
        mtpc_error_src(f, p, "invalid digit or suffix in number");
    *out = v;
    return p;
}

/* ------------------------------------------------------------ the layout rule
 * (LANGUAGE.md "Blocks by indentation"). A ':' that ends a line outside parentheses and
 * brackets, and is not a conditional's, opens a block as '{' would: the block holds the lines
 * indented deeper than the statement that opened it and ends, as '}' would, before the first
 * line that is not (or before the '}' of a braced block around it, or at the end of the
 * file); inside parentheses, brackets and sets a line may stand anywhere. The parser sees
 * braces either way: the two spellings compile alike. */

typedef struct {
    int opener_col; /* column of the statement that opened the block */
    int body_col;   /* column of its lines */
    int braces;     /* explicit '{' open around it */
} LayoutBlock;

enum { LAYOUT_MAX = 64 };

static Token *layout_token(Token *at, const char *text)
{
    Token *t = new_token(TK_PUNCT, at->file, at->loc, at->loc + 1, at->line, at->col);
    t->text = text;
    return t;
}

static bool first_on_line(const Token *prev, const Token *t)
{
    return !prev || prev->line != t->line;
}

static Token *layout(Token *first)
{
    LayoutBlock stack[LAYOUT_MAX];
    int depth = 0, parens = 0, braces = 0, conditionals = 0;
    int stmt_col = first->col;
    bool stmt_start = true;
    Token head = {.next = first};
    Token *prev = &head, *prev_real = NULL;
    for (Token *t = first; t; prev = t, t = t->next) {
        if (depth > 0 && first_on_line(prev_real, t) && memchr(t->loc - (t->col - 1), '\t',
                                                               (size_t)(t->col - 1)))
            mtpc_error_at(t, "a tab in the indentation of an indented block: indent with spaces");
        /* close the blocks a dedent (or a '}' around them, or the end) ends */
        bool closing_brace = tok_is(t, "}") && braces > 0 && parens == 0;
        int popped_opener = -1;
        while (depth > 0 &&
               (t->kind == TK_EOF ||
                (first_on_line(prev_real, t) && parens == 0 &&
                 t->col < stack[depth - 1].body_col) ||
                (closing_brace && stack[depth - 1].braces == braces))) {
            popped_opener = stack[--depth].opener_col;
            prev = prev->next = layout_token(t, "}");
            prev->next = t;
        }
        if (popped_opener >= 0 && t->kind != TK_EOF && !tok_is(t, "}") && t->col != popped_opener)
            mtpc_error_at(t, "this line's indentation matches no enclosing block");
        if (popped_opener >= 0)
            stmt_start = true;
        if (stmt_start) {
            stmt_col = t->col;
            stmt_start = false;
        }
        Token *before = prev_real;
        prev_real = t;
        if (t->kind != TK_PUNCT)
            continue;
        /* a set `in {…}` nests like parentheses */
        if (tok_is(t, "(") || tok_is(t, "[") || (tok_is(t, "{") && before && tok_is(before, "in")))
            parens++;
        else if ((tok_is(t, ")") || tok_is(t, "]") || tok_is(t, "}")) && parens > 0)
            parens--;
        else if (tok_is(t, "?"))
            conditionals++;
        else if (tok_is(t, "{") || tok_is(t, "}")) {
            braces += tok_is(t, "{") ? 1 : braces > 0 ? -1 : 0;
            conditionals = 0;
            stmt_start = true;
        } else if (tok_is(t, ";") && parens == 0) {
            conditionals = 0;
            stmt_start = true;
        } else if (tok_is(t, ":") && conditionals > 0) {
            conditionals--;
        } else if (tok_is(t, ":") && parens == 0 && t->next->line != t->line) {
            Token *body = t->next;
            if (body->kind == TK_EOF || body->col <= stmt_col)
                mtpc_error_at(body, "expected an indented block after ':'");
            if (depth == LAYOUT_MAX)
                mtpc_error_at(t, "blocks nested more than %d deep", LAYOUT_MAX);
            stack[depth++] = (LayoutBlock){stmt_col, body->col, braces};
            t->text = "{";
            stmt_start = true;
        }
    }
    return head.next;
}

static const char *puncts[] = {
    "<<=", ">>=", "->", "==", "!=", "<=", ">=", "&&", "||", "<<", ">>", "+=", "-=", "*=",
    "/=", "%=", "&=", "|=", "^=", "++", "--",
};

Token *mtpc_tokenize(SrcFile *f)
{
    Token head = {0};
    Token *cur = &head;
    char *p = f->contents;
    int line = 1;
    char *line_start = p;
    while (*p) {
        if (*p == '\n') {
            p++;
            line++;
            line_start = p;
            continue;
        }
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (p[0] == '/' && p[1] == '*') {
            char *q = strstr(p + 2, "*/");
            if (!q)
                mtpc_error_src(f, p, "unterminated comment");
            for (char *r = p; r < q; r++)
                if (*r == '\n') {
                    line++;
                    line_start = r + 1;
                }
            p = q + 2;
            continue;
        }
        int col = (int)(p - line_start) + 1;
        if (isdigit((unsigned char)*p)) {
            uint64_t v;
            char *q = read_number(f, p, &v);
            cur = cur->next = new_token(TK_NUM, f, p, q, line, col);
            cur->val = v;
            p = q;
            continue;
        }
        if (isalpha((unsigned char)*p) || *p == '_') {
            char *q = p;
            while (isalnum((unsigned char)*q) || *q == '_')
                q++;
            cur = cur->next = new_token(TK_IDENT, f, p, q, line, col);
            p = q;
            continue;
        }
        if (*p == '"') { /* a string: `import "path";` (no escapes, on one line) */
            char *q = p + 1;
            while (*q && *q != '"' && *q != '\n')
                q++;
            if (*q != '"')
                mtpc_error_src(f, p, "unterminated string");
            cur = cur->next = new_token(TK_STR, f, p, q + 1, line, col);
            p = q + 1;
            continue;
        }
        size_t plen = 0;
        for (size_t i = 0; i < sizeof puncts / sizeof puncts[0]; i++)
            if (strncmp(p, puncts[i], strlen(puncts[i])) == 0) {
                plen = strlen(puncts[i]);
                break;
            }
        if (!plen && *p > 0 && strchr("+-*/%&|^!~<>=?:;,.(){}[]", *p))
            plen = 1;
        if (!plen)
            mtpc_error_src(f, p, "invalid character");
        cur = cur->next = new_token(TK_PUNCT, f, p, p + plen, line, col);
        p += plen;
    }
    cur = cur->next = new_token(TK_EOF, f, p, p, line, (int)(p - line_start) + 1);
    return layout(head.next);
}
