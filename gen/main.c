/* main.c — the mtpc command line. */
#include "mtpc.h"

#include <ctype.h>

/* Like chibicc, mtpc is a short-lived process that never frees: no leak reports in ASan
 * builds (the sanitizer reads this hook when present). */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static void usage(FILE *o)
{
    fprintf(o,
            "usage: mtpc [options] file.mtp\n"
            "  -o FILE        output (C: FILE and FILE with .h; bpf: FILE); without -o,\n"
            "                 stdout (C: the header, then the code)\n"
            "  --emit=c       generated C for the runtime (default)\n"
            "  --emit=bpf     header for the XDP steering program\n"
            "  --emit=harness the protocol analysis harness (libFuzzer drivers, needs X.h)\n"
            "  --emit=ast     print the syntax tree\n"
            "  --check        parse and check only\n"
            "  -MF FILE       also write a make rule: the outputs depend on every file read\n"
            "                 (the program and its imports); needs -o\n"
            "  --help, --version\n");
}

/* program name = basename without extension, as a C identifier */
static char *program_name(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    char *s = mtpc_calloc(1, n + 2);
    size_t j = 0;
    if (n == 0 || isdigit((unsigned char)b[0]))
        s[j++] = 'p';
    for (size_t i = 0; i < n; i++)
        s[j++] = isalnum((unsigned char)b[i]) ? b[i] : '_';
    return s;
}

static FILE *open_out(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        mtpc_fatal("cannot write %s", path);
    return f;
}

static void close_out(FILE *f, const char *path)
{
    if (fflush(f) != 0 || ferror(f) || fclose(f) != 0)
        mtpc_fatal("error writing %s", path);
}

/* `OUT [OUT.h]: main.mtp module.mtp ...`, then an empty rule per module (so a module that is
 * gone does not break the build: make -MP's convention) */
static void write_deps(const char *path, const char *targets)
{
    FILE *f = open_out(path);
    fprintf(f, "%s:", targets);
    for (int i = 0; i < mtpc_nsources; i++)
        fprintf(f, " %s", mtpc_sources[i]->name);
    fprintf(f, "\n");
    for (int i = 1; i < mtpc_nsources; i++)
        fprintf(f, "\n%s:\n", mtpc_sources[i]->name);
    close_out(f, path);
}

int main(int argc, char **argv)
{
    const char *out = NULL, *in = NULL, *emit = "c", *deps = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("mtpc %s (MTP ABI 1)\n", MTPC_VERSION);
            return 0;
        } else if (!strcmp(a, "-o")) {
            if (++i >= argc)
                mtpc_fatal("-o needs a file name");
            out = argv[i];
        } else if (!strcmp(a, "-MF")) {
            if (++i >= argc)
                mtpc_fatal("-MF needs a file name");
            deps = argv[i];
        } else if (!strncmp(a, "--emit=", 7)) {
            emit = a + 7;
            if (strcmp(emit, "c") && strcmp(emit, "bpf") && strcmp(emit, "ast") &&
                strcmp(emit, "harness"))
                mtpc_fatal("unknown --emit kind '%s' (c, bpf, harness, ast)", emit);
        } else if (!strcmp(a, "--check")) {
            check = true;
        } else if (a[0] == '-' && a[1]) {
            usage(stderr);
            mtpc_fatal("unknown option %s", a);
        } else {
            if (in)
                mtpc_fatal("only one input file");
            in = a;
        }
    }
    if (!in) {
        usage(stderr);
        return 1;
    }
    if (deps && !out)
        mtpc_fatal("-MF needs -o (the rule's target)");
    SrcFile *f = mtpc_read_file(in);
    Program *p = mtpc_parse(f);
    p->name = program_name(in);
    p->upper = mtpc_strdup(p->name);
    for (char *c = p->upper; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    if (!strcmp(emit, "ast")) {
        FILE *o = out ? open_out(out) : stdout;
        mtpc_dump_ast(p, o);
        if (out)
            close_out(o, out);
        return 0;
    }
    mtpc_sema(p);
    if (check)
        return 0;
    if (deps && strcmp(emit, "c"))
        write_deps(deps, out);
    if (!strcmp(emit, "bpf")) {
        FILE *o = out ? open_out(out) : stdout;
        mtpc_emit_bpf(p, o);
        close_out(o, out ? out : "stdout");
        return 0;
    }
    if (!strcmp(emit, "harness")) {
        FILE *o = out ? open_out(out) : stdout;
        mtpc_emit_harness(p, o, mtpc_fmt("%s.h", p->name));
        close_out(o, out ? out : "stdout");
        return 0;
    }
    if (!out) {
        /* one self-contained C file: the header, then the code (which then includes none) */
        p->c_name = mtpc_fmt("%s.c", p->name);
        mtpc_emit_c(p, stdout, stdout, NULL);
        close_out(stdout, "stdout");
        return 0;
    }
    /* X.c -> X.h next to it */
    size_t n = strlen(out);
    char *hpath = mtpc_calloc(1, n + 3);
    memcpy(hpath, out, n);
    if (n > 2 && !strcmp(out + n - 2, ".c"))
        hpath[n - 1] = 'h';
    else
        strcat(hpath, ".h");
    const char *hbase = strrchr(hpath, '/');
    hbase = hbase ? hbase + 1 : hpath;
    const char *cbase = strrchr(out, '/');
    p->c_name = mtpc_strdup(cbase ? cbase + 1 : out);
    if (deps)
        write_deps(deps, mtpc_fmt("%s %s", out, hpath));
    FILE *c = open_out(out), *h = open_out(hpath);
    mtpc_emit_c(p, c, h, hbase);
    close_out(c, out);
    close_out(h, hpath);
    return 0;
}
