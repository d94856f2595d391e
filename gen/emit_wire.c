/*
 * emit_wire.c — wire code: header, option and frame parsers and serialisers from the layouts
 * sema computed (bit fields, option lists and unions, frames, varints).
 */
#include "emit_c.h"

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

void emit_opt_code(Decl *o)
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

void emit_optlist_code(Decl *ol)
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

Field *nested_field(Decl *bp)
{
    for (Field *f = bp->fields; f; f = f->next)
        if (is_frame_list(f))
            return f;
    return NULL;
}

/* data_t slots of all frame lists: the descriptor's n_nested_data */
long long nested_data_cap(Decl *bp)
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
Field *split_field(Decl *bp)
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
void emit_bp_code(Decl *bp)
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
