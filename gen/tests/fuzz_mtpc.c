/* libFuzzer target: the whole of mtpc (lexer, parser, sema, all three emitters) on arbitrary bytes.
 * Errors longjmp back here instead of exiting; all memory is freed after each input. */
#include "mtpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024 || memchr(data, 0, size))
        return 0;
    if (!sink && !(sink = fopen("/dev/null", "w")))
        return 0;
    mtpc_quiet = true;
    jmp_buf jb;
    mtpc_on_error = &jb;
    if (setjmp(jb) == 0) {
        SrcFile *f = mtpc_calloc(1, sizeof *f);
        f->name = "fuzz.mtp";
        f->contents = mtpc_calloc(1, size + 1);
        memcpy(f->contents, data, size);
        f->size = size;
        Program *p = mtpc_parse(f);
        mtpc_dump_ast(p, sink);
        p->name = "fuzz";
        p->upper = "FUZZ";
        p->c_name = "fuzz.c";
        mtpc_sema(p);
        mtpc_emit_c(p, sink, sink, "fuzz.h");
        mtpc_emit_bpf(p, sink);
        mtpc_emit_harness(p, sink, "fuzz.h");
    }
    mtpc_on_error = NULL;
    mtpc_free_all();
    return 0;
}
