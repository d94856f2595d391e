/*
 * emit_bpf.c — the header the XDP program includes: the IP protocol, the shortest valid L4
 * header, where the local port is (register_steer), and the header validation of the
 * registered parser's first extract plus its top-level `if (cond) drop;` checks that read only
 * fixed header fields. Every packet read is constant-offset and checked against data_end, so
 * the verifier accepts it. Everything else stays in user space.
 */
#include "mtpc.h"

static FILE *out;
static Var *hdr_var;   /* the variable holding the first extract */
static Decl *hdr_bp;   /* its blueprint */

static const char *bpf_type(const Type *t)
{
    int bits = t->kind == TY_INT ? t->bits : t->kind == TY_CSUM ? 16 : t->bits;
    if (t->kind == TY_BOOL)
        bits = 8;
    return bits <= 8 ? "__u8" : bits <= 16 ? "__u16" : bits <= 32 ? "__u32" : "__u64";
}

/* Only numbers, constants and fixed fields of the extracted header. */
static bool translatable(Program *p, Expr *e)
{
    switch (e->kind) {
    case E_NUM:
    case E_BOOL: return true;
    case E_IDENT: return e->res == R_CONST || (mtpc_is_const(p, e) && e->res != R_VAR);
    case E_FIELD:
        return e->lhs->kind == E_IDENT && e->lhs->res == R_VAR && e->lhs->var == hdr_var &&
               e->field && e->field->fixed;
    case E_UNARY: return translatable(p, e->lhs);
    case E_BINARY:
        if ((e->op[0] == '/' || e->op[0] == '%') && !mtpc_is_const(p, e->rhs))
            return false;
        return translatable(p, e->lhs) && translatable(p, e->rhs);
    case E_COND: return translatable(p, e->cond) && translatable(p, e->lhs) && translatable(p, e->rhs);
    default: return false;
    }
}

/* fields of the blueprint by bare name (opt_list length expressions) */
static bool translatable_bare(Program *p, Expr *e)
{
    switch (e->kind) {
    case E_NUM:
    case E_BOOL: return true;
    case E_IDENT:
        if (e->res == R_BP_FIELD)
            return e->field->fixed;
        return e->res == R_CONST;
    case E_UNARY: return translatable_bare(p, e->lhs);
    case E_BINARY:
        if ((e->op[0] == '/' || e->op[0] == '%') && !mtpc_is_const(p, e->rhs))
            return false;
        return translatable_bare(p, e->lhs) && translatable_bare(p, e->rhs);
    case E_COND:
        return translatable_bare(p, e->cond) && translatable_bare(p, e->lhs) &&
               translatable_bare(p, e->rhs);
    default: return false;
    }
}

static void print_expr(Program *p, Expr *e)
{
    switch (e->kind) {
    case E_NUM: fprintf(out, "%lluull", (unsigned long long)e->num); return;
    case E_BOOL: fprintf(out, "%d", (int)e->num); return;
    case E_IDENT:
        if (e->res == R_BP_FIELD)
            fprintf(out, "f_%.*s", e->name->len, e->name->loc);
        else
            fprintf(out, "%lldll", (long long)mtpc_const_eval(p, e));
        return;
    case E_FIELD: fprintf(out, "f_%.*s", e->name->len, e->name->loc); return;
    case E_UNARY:
        fprintf(out, "(%s", e->op);
        print_expr(p, e->lhs);
        fprintf(out, ")");
        return;
    case E_BINARY:
        fprintf(out, "(");
        print_expr(p, e->lhs);
        fprintf(out, " %s ", e->op);
        print_expr(p, e->rhs);
        fprintf(out, ")");
        return;
    case E_COND:
        fprintf(out, "(");
        print_expr(p, e->cond);
        fprintf(out, " ? ");
        print_expr(p, e->lhs);
        fprintf(out, " : ");
        print_expr(p, e->rhs);
        fprintf(out, ")");
        return;
    default: return;
    }
}

static void read_fields(Decl *bp)
{
    for (Field *f = bp->fields; f; f = f->next) {
        if (!f->fixed || f->ty->kind == TY_REC)
            continue;
        int first = f->bit_off / 8, last = (f->bit_off + f->wire_bits - 1) / 8;
        fprintf(out, "    %s f_%.*s = (%s)(((__u64)0", bpf_type(f->ty), f->name->len, f->name->loc,
                bpf_type(f->ty));
        for (int i = first; i <= last; i++)
            fprintf(out, " | ((__u64)l4[%d] << %d)", i, (last - i) * 8);
        int shift = (last + 1) * 8 - (f->bit_off + f->wire_bits);
        fprintf(out, ") >> %d & 0x%llxull);\n", shift,
                (unsigned long long)(f->wire_bits == 64 ? ~0ull : (1ull << f->wire_bits) - 1));
        fprintf(out, "    (void)f_%.*s;\n", f->name->len, f->name->loc);
    }
}

/* Whether a statement can end parsing normally (a later drop then does not apply to every
 * packet, so the XDP side must not use it). */
static bool has_return(Stmt *s)
{
    for (; s; s = s->next) {
        if (s->kind == S_RETURN)
            return true;
        if ((s->kind == S_BLOCK && has_return(s->body)) ||
            (s->kind == S_IF && (has_return(s->then) || has_return(s->els))) ||
            ((s->kind == S_FOR || s->kind == S_FOR_IN) && has_return(s->body)))
            return true;
    }
    return false;
}

static bool has_return1(Stmt *s)
{
    if (!s)
        return false;
    Stmt *next = s->next;
    s->next = NULL;
    bool r = has_return(s);
    s->next = next;
    return r;
}

static bool is_drop(Stmt *s)
{
    if (s->kind == S_DROP)
        return true;
    return s->kind == S_BLOCK && s->body && !s->body->next && s->body->kind == S_DROP;
}

/* The remote port, for the hook's flow hash and connection pins (docs/MULTIPROC.md): the
 * fixed uint16 field of the steering blueprint named like the steering field with "dst"
 * (or a leading "d") read as "src" ("s"): dst_port -> src_port, dport -> sport. None: the
 * helper is not emitted and the hook hashes the remote address alone. */
static void emit_remote_port(Program *p)
{
    if (p->steer_off < 0 || !p->steer_bp || !p->steer_field)
        return;
    const Token *n = p->steer_field->name;
    char want[64];
    if (n->len < 2 || n->len >= (int)sizeof want)
        return;
    memcpy(want, n->loc, (size_t)n->len);
    want[n->len] = 0;
    char *dst = strstr(want, "dst");
    if (dst)
        memcpy(dst, "src", 3);
    else if (want[0] == 'd')
        want[0] = 's';
    else
        return;
    for (Field *f = p->steer_bp->fields; f; f = f->next)
        if (f->fixed && f->ty->kind == TY_INT && f->ty->bits == 16 && f->bit_off % 8 == 0 &&
            f->name->len == n->len && !memcmp(f->name->loc, want, (size_t)n->len)) {
            int off = f->bit_off / 8;
            fprintf(out, "/* 0 and the remote port (host order), or -1 if the packet is too short. */\n"
                         "#define MTPG_BPF_HAS_REMOTE_PORT 1\n"
                         "static __always_inline int mtpg_bpf_remote_port(const __u8 *l4, const __u8 *data_end,\n"
                         "                                                __u16 *port_host_order)\n{\n"
                         "    if (l4 + %d > data_end)\n        return -1;\n"
                         "    *port_host_order = (__u16)(((__u16)l4[%d] << 8) | l4[%d]);\n    return 0;\n}\n\n",
                    off + 2, off, off + 1);
            return;
        }
}

void mtpc_emit_bpf(Program *p, FILE *o)
{
    out = o;
    fprintf(out, "/* Generated by mtpc from %s. DO NOT EDIT. */\n", p->file->name);
    fprintf(out, "/* XDP side of program %s: include after <linux/bpf.h> and <bpf/bpf_helpers.h>. */\n",
            p->name);
    fprintf(out, "#ifndef MTPG_%s_BPF_H\n#define MTPG_%s_BPF_H\n\n", p->upper, p->upper);
    /* the registered parser's first extract */
    Stmt *first = NULL;
    hdr_var = NULL;
    hdr_bp = NULL;
    if (p->parser)
        for (Stmt *s = p->parser->body->body; s; s = s->next)
            if (s->kind == S_DECL && s->expr && s->expr->kind == E_CALL &&
                s->expr->builtin == B_EXTRACT) {
                first = s;
                hdr_var = s->var;
                hdr_bp = s->expr->args[1]->decl;
                break;
            }
    Decl *bp = hdr_bp ? hdr_bp : p->steer_bp;
    int min_len = bp ? bp->fixed_bytes : 0;
    fprintf(out, "#define MTPG_BPF_IP_PROTO %d\n#define MTPG_BPF_L4_MIN_LEN %d\n\n", p->ip_proto,
            min_len);
    fprintf(out, "/* 0 and the local port (host order), or -1 if the packet is too short. */\n");
    fprintf(out, "static __always_inline int mtpg_bpf_port(const __u8 *l4, const __u8 *data_end,\n"
                 "                                         __u16 *port_host_order)\n{\n");
    if (p->steer_off >= 0) {
        fprintf(out, "    if (l4 + %d > data_end)\n        return -1;\n", p->steer_off + 2);
        fprintf(out, "    *port_host_order = (__u16)(((__u16)l4[%d] << 8) | l4[%d]);\n    return 0;\n}\n\n",
                p->steer_off, p->steer_off + 1);
    } else
        fprintf(out, "    (void)l4;\n    (void)data_end;\n    (void)port_host_order;\n    return -1;\n}\n\n");
    emit_remote_port(p);
    if (mtpc_parser_reads_icmp(p))
        fprintf(out, "/* The parser reads ICMP error quotes: the hook steers those about our ports. */\n"
                     "#define MTPG_BPF_NET_ERRORS 1\n\n");
    fprintf(out, "/* 1 if the header passes the parser's length and drop checks, 0 if malformed. */\n");
    fprintf(out, "static __always_inline int mtpg_bpf_valid(const __u8 *l4, const __u8 *data_end)\n{\n");
    if (!bp) {
        fprintf(out, "    (void)l4;\n    (void)data_end;\n    return 1;\n}\n\n#endif\n");
        return;
    }
    fprintf(out, "    if (l4 + %d > data_end)\n        return 0;\n", bp->fixed_bytes);
    read_fields(bp);
    /* option area length: bounded so the verifier can follow the pointer arithmetic */
    bool var_seen = false;
    for (Field *f = bp->fields; f; f = f->next) {
        if (f->fixed)
            continue;
        if (f->ty->kind == TY_REC && f->ty->rec->kind == D_OPTLIST && !var_seen &&
            translatable_bare(p, f->ty->rec->ol_length)) {
            fprintf(out, "    {\n        __s64 olen = (__s64)(");
            print_expr(p, f->ty->rec->ol_length);
            fprintf(out, ");\n        if (olen < 0 || olen > 65535)\n            return 0;\n");
            fprintf(out, "        if (l4 + %d + olen > data_end)\n            return 0;\n    }\n",
                    bp->fixed_bytes);
        }
        var_seen = true;
    }
    /* top-level `if (cond) drop;` on header fields, up to the first statement that may
     * end parsing early */
    if (first)
        for (Stmt *s = first->next; s && !has_return1(s); s = s->next) {
            if (s->kind != S_IF || s->els || !is_drop(s->then) || !translatable(p, s->expr))
                continue;
            fprintf(out, "    if (");
            print_expr(p, s->expr);
            fprintf(out, ")\n        return 0;\n");
        }
    fprintf(out, "    return 1;\n}\n\n#endif\n");
}
