/*
 * mtpc.h — the one internal header of mtpc, the MTP compiler (chibicc style).
 *
 * Pipeline: lex.c (source -> tokens) -> parse.c (tokens -> AST, one function per grammar
 * rule) -> sema.c (names, types, static checks, layouts) -> emit_c.c (C for core/) or
 * emit_bpf.c (the XDP steering/validation header). Every AST node keeps the token it came
 * from so that any diagnostic can point at the source. Errors are fatal (exit 1); warnings
 * are printed and counted.
 */
#ifndef MTPC_H
#define MTPC_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MTPC_VERSION "0.1"

/* ------------------------------------------------------------------ lexer */

typedef struct SrcFile {
    char *name;     /* path as given */
    char *contents; /* NUL terminated */
    size_t size;
} SrcFile;

typedef enum { TK_IDENT, TK_NUM, TK_PUNCT, TK_STR, TK_EOF } TokenKind; /* TK_STR: `import`'s path */

typedef struct Token Token;
struct Token {
    TokenKind kind;
    Token *next;
    char *loc; /* into SrcFile.contents */
    int len;
    const char *text; /* the spelling when not loc's (the layout rule's '{' and '}'), or NULL */
    int line, col;
    uint64_t val; /* TK_NUM */
    SrcFile *file;
};

Token *mtpc_tokenize(SrcFile *f);
SrcFile *mtpc_read_file(const char *path);
bool tok_is(const Token *t, const char *s);
char *tok_str(const Token *t); /* newly allocated copy */

_Noreturn void mtpc_error_at(const Token *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void mtpc_warn_at(const Token *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
_Noreturn void mtpc_error_src(SrcFile *f, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
_Noreturn void mtpc_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern int mtpc_warnings;
#include <setjmp.h>
extern jmp_buf *mtpc_on_error; /* when set, errors longjmp here instead of exiting (fuzzer) */
extern bool mtpc_quiet;        /* no diagnostics on stderr */
void mtpc_free_all(void);      /* frees everything mtpc_calloc returned */

void *mtpc_calloc(size_t n, size_t size);
char *mtpc_strdup(const char *s);
char *mtpc_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ------------------------------------------------------------------ types */

typedef struct Decl Decl;
typedef struct Field Field;
typedef struct Expr Expr;
typedef struct Stmt Stmt;
typedef struct Var Var;

typedef enum {
    TY_VOID,
    TY_INT,   /* uintN / intN */
    TY_BOOL,
    TY_BIT,   /* bit<N>: wire only */
    TY_CSUM,  /* csum16 */
    TY_ADDR,  /* addr_t */
    TY_DATA,  /* data_t */
    TY_TIMER, /* timer_t -> event */
    TY_SWND,  /* sliding_wnd<N> */
    TY_LIST,  /* list<T, N> */
    TY_SLIST, /* sorted_list<T, N, field> */
    TY_NAMED, /* a user type name, resolved by sema into TY_REC */
    TY_REC,   /* struct, flow_id, event, context, scratchpad, net_header, opt_t, opt_list,
                 opt_union, pkt_bp */
    TY_PKT,   /* the parser's packet parameter */
} TypeKind;

typedef struct Type Type;
struct Type {
    TypeKind kind;
    Token *tok;
    int bits;       /* TY_INT (8..64), TY_BIT (1..32), TY_CSUM (16) */
    bool is_signed; /* TY_INT */
    bool varint;    /* TY_INT: `varint`, a uint64 sent as a QUIC variable-length integer */
    Expr *cap_expr; /* TY_BIT width, TY_SWND bits, TY_LIST/TY_SLIST capacity */
    int64_t cap;
    Type *elem;        /* TY_LIST, TY_SLIST */
    Token *key_tok;    /* TY_SLIST ordering field */
    Field *key_field;  /* resolved */
    Token *name;       /* TY_NAMED */
    Decl *rec;         /* TY_REC */
    Token *timer_ev;   /* TY_TIMER */
    Decl *timer_event; /* resolved */
};

struct Field {
    Field *next;
    Token *name;
    Type *ty;
    Expr *init;
    int index;
    bool recomputed; /* blueprint initialiser naming hdr_len / payload_len */
    /* wire layout (blueprints, opt_t, wire structs) */
    bool fixed;    /* in the fixed-size prefix */
    int bit_off;   /* bit offset in the fixed prefix */
    int wire_bits; /* width on the wire, 0 for variable-size fields */
    int timer_index;
    Field *count;  /* a list field of a frame: the earlier field initialised to len(list) */
    bool counts;   /* this field is some list's count (written as the list's length) */
};

/* ------------------------------------------------------------ expressions */

typedef enum {
    E_NUM, E_BOOL, E_IDENT, E_FIELD, E_INDEX, E_CALL, E_METHOD, E_UNARY, E_BINARY, E_COND,
    E_IN, /* lhs in { args } */
} ExprKind;

/* What an identifier or call resolved to. */
typedef enum {
    R_NONE, R_VAR, R_CONST, R_PARAM, R_QUEUE, R_INF, R_TYPE, R_SRULE, R_BUILTIN, R_FUNC,
    R_CTOR, R_BP_FIELD, R_PREV_PAYLOAD, R_HDR_LEN, R_PAYLOAD_LEN,
} ResKind;

typedef struct NamedArg NamedArg;
struct NamedArg {
    NamedArg *next;
    Token *name;
    Expr *val;
};

struct Expr {
    ExprKind kind;
    Token *tok;
    Type *ty; /* sema */
    uint64_t num;
    Token *name;   /* E_IDENT, E_FIELD, E_CALL, E_METHOD name */
    Expr *lhs, *rhs, *cond; /* operands; E_FIELD/E_METHOD/E_INDEX base in lhs */
    char op[4];    /* E_UNARY, E_BINARY */
    Expr **args;   /* E_CALL, E_METHOD */
    int nargs;
    NamedArg *named;
    /* sema */
    ResKind res;
    Var *var;
    Decl *decl;
    Field *field;
    int builtin;
    int tmp_id;
    bool from_record; /* E_CALL record literal T(x, f = v, ...): fields start as x's */
};

/* ------------------------------------------------------------- statements */

typedef enum {
    S_BLOCK, S_DECL, S_EXPR, S_ASSIGN, S_IF, S_FOR, S_RETURN, S_STOP, S_DROP, S_WHEN, S_ASSERT,
    S_FOR_IN, /* for ([ivar ,] var in [reverse] expr) body */
} StmtKind;

struct Var {
    Token *name;
    Type *ty;
    bool is_ptr;      /* a C pointer parameter (aggregates passed by reference) */
    bool is_const;    /* the event of a processor */
    bool is_readonly; /* a `const` local or parameter, a for-in element or index */
    bool is_pkt;      /* parser packet */
    bool is_ip;       /* parser net_header */
    bool is_bp_self;  /* seg_rule `bp`, coalesce operands */
    int role;         /* PROLE_* of a processor parameter */
    bool timer_used;  /* a function's context parameter whose timers it starts or stops */
    Var *next;        /* scope chain */
};

struct Stmt {
    StmtKind kind;
    Token *tok;
    Stmt *body;  /* S_BLOCK first statement; S_FOR body */
    Stmt *next;
    Var *var;    /* S_DECL */
    Expr *expr;  /* S_DECL init, S_EXPR, S_RETURN, S_ASSERT, S_IF/S_WHEN cond */
    Expr *lhs;   /* S_ASSIGN */
    char op[4];  /* S_ASSIGN: "=", "+=", ... */
    Stmt *then, *els;
    Stmt *init, *step; /* S_FOR */
    bool drop_newer;   /* S_WHEN */
    Var *ivar;         /* S_FOR_IN index (or NULL) */
    bool reverse;      /* S_FOR_IN from the last element down */
    bool copy_list;    /* S_FOR_IN over a list value that is no variable or field: a copy */
    char *text;        /* S_ASSERT: source text of the condition */
    int text_len;
};

/* ------------------------------------------------------------ declarations */

typedef enum {
    D_CONST, D_PARAM, D_STRUCT, D_FLOWID, D_EVENT, D_CONTEXT, D_SCRATCH, D_NETHDR, D_OPT,
    D_OPTUNION, D_OPTLIST, D_BP, D_SEGRULE, D_COALESCE, D_SCHED, D_PARSER, D_PROC, D_FUNC,
    D_DISPATCH, D_DEPLOY, D_ENUM, D_FRAMEUNION, D_INVARIANT,
} DeclKind;

enum { EVK_APP, EVK_NET, EVK_TIMER };
enum { GRAN_FLOW, GRAN_LISTENER, GRAN_SHARED, GRAN_GLOBAL };
enum { SCHED_FIFO, SCHED_STRICT, SCHED_WRR };
enum { PROLE_EVENT, PROLE_CTX, PROLE_GLOBAL, PROLE_SCRATCH };

typedef struct Param Param;
struct Param {
    Param *next;
    bool readonly; /* `const` */
    Type *ty;
    Token *name;
    Var *var;
};

typedef struct SegEntry SegEntry;
struct SegEntry {
    SegEntry *next;
    Token *name;
    Field *field;
    Expr *e[4]; /* first, mid, last, only (NULL: first) */
};

typedef struct Queue Queue;
struct Queue {
    Queue *next;
    Token *name;
    bool per_flow;
    Expr *prio, *weight, *rate;
    int64_t vprio, vweight, vrate;
    int index;
};

typedef struct DispEntry DispEntry;
struct DispEntry {
    DispEntry *next;
    Token *ev_name;
    Decl *ev;
    Token **chain;
    Decl **procs;
    Expr **guards;  /* `proc if expr`: runs only when expr (constants, params) holds; NULL */
    int nchain;
    Token **els;
    Decl **eprocs;
    Expr **eguards;
    int nels;
    bool has_else;
};

typedef struct DeployCall DeployCall;
struct DeployCall {
    DeployCall *next;
    Token *name;
    Expr **args;
    int nargs;
};

struct Decl {
    DeclKind kind;
    Token *tok;  /* keyword */
    Token *name;
    Decl *next;
    int index;   /* among declarations of its kind (events, contexts, bps, ...) */

    /* const / param / func return */
    Type *ty;
    Expr *init;
    int64_t value; /* const value */
    bool value_known;
    Decl *of_enum; /* D_CONST: the enum it is a member of */

    /* records */
    Field *fields;
    int nfields;

    int ev_kind;        /* D_EVENT */
    Decl *ev_ctx;       /* D_EVENT: context the chain needs */
    DispEntry *disp;    /* D_EVENT: its dispatch entry */

    int gran;           /* D_CONTEXT */
    Token *key_name;
    Decl *key;          /* flow_id */
    int ntimers;

    Token **members;    /* D_OPTUNION, D_FRAMEUNION (opts: the member opt_ts / pkt_bps) */
    Decl **opts;
    int nmembers;

    Token *union_name;  /* D_OPTLIST */
    Decl *uni;
    Expr *ol_length, *ol_align, *ol_capacity;
    int64_t align, capacity;

    Token *bp_name;     /* D_SEGRULE */
    Decl *bp;
    SegEntry *rules;

    /* D_BP / D_OPT / D_STRUCT wire layout */
    int fixed_bytes;    /* bytes of the fixed prefix */
    int csum_off;       /* -1 none */
    Field *data_field;
    bool wire_ok;       /* serialisable */
    bool extracted;     /* used by extract() */
    bool has_nested;    /* list of blueprints */
    bool seq;           /* D_BP: fields after a variable-size one (varints, counted lists):
                           read and written in order, only as a frame */
    bool is_frame;      /* D_BP: read as a frame (emit its frame parser) */
    int64_t opt_kind;   /* D_OPT: first field's initialiser */
    bool one_byte;      /* D_OPT: just the kind byte */

    /* D_PARSER, D_PROC, D_FUNC, D_COALESCE */
    Param *params;
    Stmt *body;
    int nparams;
    bool uses_exec;     /* D_FUNC: needs the execution scope */
    Decl **callees;
    int ncallees;
    int visit;
    int cycle_state;    /* record containment DFS: 0 new, 1 on the path, 2 done */
    bool layout_done;   /* c_size/c_align computed */
    uint64_t c_size, c_align;
    int defaults_state; /* emit_c: 0 unknown, 1 no defaults, 2 has defaults */
    Decl *p_event, *p_ctx, *p_scratch; /* D_PROC roles */
    Decl **p_globals;
    int np_globals;

    /* D_SCHED */
    int sched_kind;
    Queue *queues;
    int nqueues;

    /* D_DISPATCH */
    DispEntry *entries;

    /* D_DEPLOY */
    DeployCall *calls;
};

typedef struct Program {
    char *name;     /* C identifier from the file's basename */
    char *upper;    /* same, upper case */
    char *c_name;   /* basename of the generated .c (for #line resets) */
    SrcFile *file;
    Decl *decls;
    /* sema results */
    Decl **events; int nevents;
    Decl **ctxs; int nctxs;
    Decl **bps; int nbps;
    Decl **srules; int nsrules;
    Decl **coalesce; int ncoalesce; /* registered */
    Decl **params; int nparams;
    Decl *scratch;
    Decl *sched;     /* registered */
    Decl *parser;    /* registered */
    Decl *dispatch;
    int ip_proto;
    Decl *steer_bp;
    Field *steer_field;
    int steer_off;   /* bytes, -1 none */
} Program;

Program *mtpc_parse(SrcFile *f);
/* the files a program was read from: the main one, then each import in the order read */
extern SrcFile **mtpc_sources;
extern int mtpc_nsources;
void mtpc_sema(Program *p);
void mtpc_dump_ast(Program *p, FILE *out);
void mtpc_emit_c(Program *p, FILE *c, FILE *h, const char *hname);
void mtpc_emit_bpf(Program *p, FILE *out);
bool mtpc_parser_reads_icmp(const Program *p); /* its net_header declares icmp_type */
void mtpc_emit_harness(Program *p, FILE *out, const char *hname);
/* emit_c.c's C for the other emitters: after mtpc_c_begin(p), types and expressions */
void mtpc_c_begin(Program *p);
char *mtpc_c_type(const Type *t);
char *mtpc_c_expr(Expr *e);

/* helpers shared by sema and the emitters */
Decl *mtpc_find_decl(Program *p, const char *name, int len);
Field *mtpc_find_field(Decl *rec, const Token *name);
Field *mtpc_find_field_str(Decl *rec, const char *name);
int64_t mtpc_const_eval(Program *p, Expr *e);
bool mtpc_is_const(Program *p, Expr *e);
bool ty_is_scalar(const Type *t);
int ty_wire_bits(const Type *t); /* fixed wire width or 0 */
const char *decl_kind_name(DeclKind k);

/* builtins (Expr.builtin): the rows of builtins.h, then the methods */
#include "builtins.h"
#define MTPC_B_ID(name, id, ...) B_##id,
enum {
    B_NONE,
    MTPC_VALUE_BUILTINS(MTPC_B_ID) /* value functions */
    B__VALUES_END,
    MTPC_INSTR_BUILTINS(MTPC_B_ID) /* instructions (statements) */
    B__INSTRS_END,
    /* methods */
    M_SET, M_UNSET, M_TEST, M_FIRST_SET, M_FIRST_UNSET, M_SLIDE, M_HEAD, M_RESET,
    M_ADD, M_REMOVE, M_CLEAR, M_LEN, M_FIRST, M_POP_FIRST, M_HAS, M_GET, M_IS, M_FIND,
    M_UPDATE,
};
#undef MTPC_B_ID

/* a builtin that is a statement appending an instruction (or an event) */
static inline bool mtpc_builtin_is_instr(int b) { return b > B__VALUES_END && b < B__INSTRS_END; }

#endif
