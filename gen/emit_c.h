/*
 * emit_c.h — what the parts of the C emitter share (emit_c.c: output, C types, header,
 * functions, descriptor; emit_expr.c: expressions and instructions; emit_stmt.c: statements;
 * emit_wire.c: wire code). Private to them: other emitters use mtpc.h's mtpc_c_*().
 */
#ifndef MTPC_EMIT_C_H
#define MTPC_EMIT_C_H

#include "mtpc.h"

/* the program being emitted, its name and upper-case name */
extern Program *prog;
extern const char *P;
extern const char *U;

/* output: emit() writes the current file; a Buf is a growable string */
typedef struct Buf {
    char *s;
    size_t n, cap;
} Buf;

void emit(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bput(Buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *bstr(Buf *b);
void line_directive(const Token *t);
char *c_escape(const char *s, int len);
extern int indent_level;
void emit_ind(void);

/* names and C types */
char *name_of(const Token *t);
char *upper_of(const Token *t);
char *rec_ctype(const Decl *d);
char *ctype(const Type *t);
int scalar_bytes(const Type *t);
bool rec_has_defaults(Decl *d);

/* expressions (emit_expr.c): what the code being emitted is, and temporaries' numbering */
typedef enum { CX_NONE, CX_PROC, CX_PARSER, CX_FUNC, CX_COALESCE, CX_SRULE, CX_INIT, CX_WRITE,
               CX_EXTRACT } CxKind;
extern CxKind cx;
extern const char *field_prefix; /* R_BP_FIELD: "c->", "b->", "h->" */
extern int tmp_counter;
char *expr_str(Expr *e);
void emit_instruction(Expr *e);

/* statements (emit_stmt.c) */
extern Decl *cur_decl;
void emit_stmt(Stmt *s);

/* wire code (emit_wire.c) */
#define MTP_NESTED_MAX_C 1024 /* MTP_NESTED_MAX of program.h */
void emit_opt_code(Decl *o);
void emit_optlist_code(Decl *ol);
Field *nested_field(Decl *bp);
long long nested_data_cap(Decl *bp);
Field *split_field(Decl *bp);
void emit_bp_code(Decl *bp);

#endif
