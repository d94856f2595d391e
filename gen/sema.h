/*
 * sema.h — what the parts of the checker share (sema.c: types, names, constants, records,
 * functions, dispatch, whole-program checks; sema_expr.c: expressions; sema_stmt.c:
 * statements; sema_wire.c: wire layouts). Private to them: the rest of mtpc uses mtpc.h.
 */
#ifndef MTPC_SEMA_H
#define MTPC_SEMA_H

#include "mtpc.h"

extern Program *sema_prog; /* the program being checked */

/* types (sema.c) */
extern Type ty_u16, ty_u32, ty_u64, ty_i64, ty_bool, ty_addr, ty_data, ty_void;
const char *type_name(const Type *t);
bool same_type(const Type *a, const Type *b);
bool is_rec_kind(const Type *t, DeclKind k);
uint64_t type_size(const Type *t);
void resolve_type(Type *t, int depth);
void check_assignable(const Token *t, const Type *dst, const Type *src);
void check_scalar(const Expr *e);

/* names and constants (sema.c) */
Decl *find_decl_tok(const Token *t);
Queue *find_queue(const Token *t);
Decl *expect_decl(const Token *t, DeclKind k, const char *what);
extern Decl *cur_field_scope; /* record whose earlier fields may be named bare */
int64_t const_in_range(Expr *e, int64_t lo, int64_t hi, const char *what);

/* the function being checked and its variables (sema_expr.c) */
typedef struct Fn {
    Decl *decl;     /* D_PARSER, D_PROC, D_FUNC, D_COALESCE, or NULL (initialisers) */
    Var *vars;      /* every variable of the function (one namespace) */
    Var *scope;     /* visible variables */
    Var **frozen;   /* loop variables */
    int nfrozen;
    bool in_srule;  /* seg_rule expressions */
    bool srule_first;
    Decl *srule_bp;
} Fn;
extern Fn no_fn; /* outside any function: constants, initialisers */
extern Fn *fn;
void declare_var(Var *v);
void need_exec(const Token *t, const char *what);

/* expressions (sema_expr.c); calls: every function call, for the recursion check */
extern Expr **calls;
extern int ncalls, calls_cap;
Expr *check_expr(Expr *e);
Expr *check_value(Expr *e);
Var *lvalue_root(Expr *e);
void check_lvalue(Expr *e);
int builtin_of(const Token *t);
void check_timer_params(void);
void link_counted_lists(Decl *d);
void check_frameunion(Decl *d);

/* statements (sema_stmt.c; invariants' conditions in sema.c) */
void check_stmt(Stmt *s);
void check_for_in(Stmt *s);
void check_inv_stmt(Stmt *s, bool top);

/* wire layouts (sema_wire.c) */
void layout_wire(Decl *d);
void check_bp_inits(Decl *d);
bool names_hdr_len(Expr *e);
bool names_len(Expr *e);
void check_opt(Decl *d);
void check_optunion(Decl *d);
void check_optlist(Decl *d);
void check_optlist_uses(Decl *bp);

#endif
