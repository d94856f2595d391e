/*
 * test_gen.c — mtpc as a black box (run as a subprocess, the ASan build named by $MTPC):
 *  - gen/tests/ok/ programs compile; their C equals the golden files and compiles with the
 *    project's warning flags (with and without MTP_ASSERTS); their BPF header compiles
 *    inside a small XDP program with clang -target bpf, and the kernel's verifier accepts that
 *    program (when $BPF_LOAD is set and the process may load BPF);
 *  - gen/tests/err/ programs fail (or warn) with exactly the diagnostic of their first line
 *    `// expect: L:C: error: message`, followed by the source line and a caret;
 *  - every mtp-programs/ program compiles the same way;
 *  - the command line (--help, --version, --emit=ast, --check, bad options).
 * Run from the repository root (make test-gen does).
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "mtp/program.h"
#include "../builtins.h"

#define OUT "build/tmp/gen-test"
#define WARN "-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -std=gnu11"

static const char *mtpc(void)
{
    const char *m = getenv("MTPC");
    return m ? m : "build/san/bin/mtpc";
}

/* Runs a shell command (bounded by timeout); returns its exit status, -1 if it died. */
static int run(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    /* a sanitizer report exits 86 (as MTP_SAN_EXIT in the Makefile): never an expected 0 or 1 */
    snprintf(full, sizeof full,
             "ASAN_OPTIONS=detect_leaks=0:exitcode=86 UBSAN_OPTIONS=exitcode=86 "
             "timeout 120 sh -c '%s'", cmd);
    int st = system(full);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    fclose(f);
    return s;
}

static void basename_noext(const char *path, char *out, size_t cap)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    snprintf(out, cap, "%s", b);
    char *dot = strrchr(out, '.');
    if (dot)
        *dot = '\0';
}

static void setup(void) { cr_assert_eq(run("mkdir -p " OUT), 0); }

/* Compiles one program to C and BPF and builds both; returns the number of failures. */
static int compile_program(const char *src, bool golden)
{
    char name[256];
    basename_noext(src, name, sizeof name);
    int fails = 0;
    if (run("%s -o " OUT "/%s.c %s 2>" OUT "/%s.log", mtpc(), name, src, name) != 0) {
        char log[512];
        snprintf(log, sizeof log, OUT "/%s.log", name);
        char *l = slurp(log);
        cr_expect(0, "%s does not compile:\n%s", src, l ? l : "");
        return 1;
    }
    if (golden) {
        for (int i = 0; i < 2; i++) {
            const char *ext = i ? "h" : "c";
            char gpath[512], opath[512];
            snprintf(gpath, sizeof gpath, "gen/tests/ok/%s.golden.%s", name, ext);
            snprintf(opath, sizeof opath, OUT "/%s.%s", name, ext);
            char *g = slurp(gpath), *o = slurp(opath);
            cr_expect(g != NULL, "%s missing (make golden)", gpath);
            if (g && o && strcmp(g, o) != 0) {
                cr_expect(0, "%s differs from %s (diff them; `make golden` refreshes)", opath,
                          gpath);
                fails++;
            }
            free(g);
            free(o);
        }
    }
    const char *ccs[] = {"gcc", "clang"};
    for (int i = 0; i < 2; i++)
        for (int asserts = 0; asserts < 2; asserts++)
            if (run("%s " WARN " %s -Icore/include -I" OUT " -c " OUT "/%s.c -o " OUT "/%s.o 2>" OUT
                    "/%s.cc.log",
                    ccs[i], asserts ? "-DMTP_ASSERTS" : "", name, name, name) != 0) {
                char log[512];
                snprintf(log, sizeof log, OUT "/%s.cc.log", name);
                char *l = slurp(log);
                cr_expect(0, "generated C of %s does not compile with %s%s:\n%.4000s", src,
                          ccs[i], asserts ? " -DMTP_ASSERTS" : "", l ? l : "");
                fails++;
            }
    if (run("%s --emit=bpf -o " OUT "/%s.bpf.h %s", mtpc(), name, src) != 0 ||
        run("clang -O2 -target bpf -Wall -Werror -I/usr/include/x86_64-linux-gnu "
            "-g -DMTPG_BPF_HEADER=\"\\\"%s.bpf.h\\\"\" -I" OUT " -c gen/tests/xdp_check.bpf.c -o " OUT
            "/%s.bpf.o 2>" OUT "/%s.bpf.log",
            name, name, name) != 0) {
        char log[512];
        snprintf(log, sizeof log, OUT "/%s.bpf.log", name);
        char *l = slurp(log);
        cr_expect(0, "BPF header of %s does not compile:\n%s", src, l ? l : "");
        return fails + 1;
    }
    /* the kernel's verifier must accept it (when this process may load BPF at all) */
    const char *loader = getenv("BPF_LOAD");
    if (loader) {
        int rc = run("%s " OUT "/%s.bpf.o 2>" OUT "/%s.load.log", loader, name, name);
        const char *ci = getenv("CI");
        if (rc == 77 && ci && !strcmp(ci, "true")) {
            cr_expect(0, "%s: no privilege to load BPF: the verifier check cannot be skipped "
                         "under CI", src);
            fails++;
        } else if (rc == 77)
            cr_log_warn("%s: skipped: no privilege to load BPF, verifier not run", src);
        else if (rc != 0) {
            char log[512];
            snprintf(log, sizeof log, OUT "/%s.load.log", name);
            char *l = slurp(log);
            cr_expect(0, "the verifier rejects the XDP check of %s:\n%.4000s", src, l ? l : "");
            fails++;
        }
    }
    return fails;
}

Test(mtpc, ok_programs_compile_match_golden_and_build, .init = setup, .timeout = 600)
{
    glob_t g;
    cr_assert_eq(glob("gen/tests/ok/*.mtp", 0, NULL, &g), 0, "no ok programs");
    cr_assert_geq(g.gl_pathc, 3);
    for (size_t i = 0; i < g.gl_pathc; i++)
        compile_program(g.gl_pathv[i], true);
    globfree(&g);
}

Test(mtpc, shipped_programs_compile, .init = setup, .timeout = 600)
{
    glob_t g;
    int r = glob("mtp-programs/*.mtp", 0, NULL, &g);
    if (r == GLOB_NOMATCH) {
        cr_log_warn("no mtp-programs/*.mtp yet");
        return;
    }
    cr_assert_eq(r, 0);
    for (size_t i = 0; i < g.gl_pathc; i++)
        compile_program(g.gl_pathv[i], false);
    globfree(&g);
}

/* `// expect: L:C: error: message` (or warning) on the first line; `// expect: FILE:L:C: ...`
 * when the diagnostic is in another file (a module src imports) */
static void check_diagnostic(const char *src)
{
    char *text = slurp(src);
    cr_assert_not_null(text, "%s unreadable", src);
    const char *tag = "// expect: ";
    cr_assert(strncmp(text, tag, strlen(tag)) == 0, "%s: first line must be '%s...'", src, tag);
    char want[1024], where[512];
    const char *e = text + strlen(tag);
    size_t n = strcspn(e, "\n");
    snprintf(where, sizeof where, "%s", src);
    if (*e < '0' || *e > '9') { /* FILE:L:C: */
        size_t fl = strcspn(e, ":");
        snprintf(where, sizeof where, "%.*s", (int)fl, e);
        e += fl + 1;
        n -= fl + 1;
    }
    snprintf(want, sizeof want, "%s:%.*s", where, (int)n, e);
    bool warning = strstr(want, ": warning: ") != NULL;
    int line = 0, col = 0;
    cr_assert_eq(sscanf(e, "%d:%d:", &line, &col), 2, "%s: bad expect line", src);
    char *quoted = strcmp(where, src) ? slurp(where) : NULL;
    cr_assert(quoted || !strcmp(where, src), "%s: %s unreadable", src, where);
    char name[256];
    basename_noext(src, name, sizeof name);
    int rc = run("%s --check %s 2>" OUT "/err_%s.log", mtpc(), src, name);
    cr_expect_eq(rc, warning ? 0 : 1, "%s: exit status %d", src, rc);
    char log[512];
    snprintf(log, sizeof log, OUT "/err_%s.log", name);
    char *got = slurp(log);
    cr_assert_not_null(got);
    char first[1024];
    size_t m = strcspn(got, "\n");
    snprintf(first, sizeof first, "%.*s", (int)m, got);
    cr_expect_str_eq(first, want, "%s: wrong diagnostic", src);
    /* then the source line and a caret under the column */
    const char *src_line = got[m] ? got + m + 1 : "";
    size_t sl = strcspn(src_line, "\n");
    const char *caret = src_line[sl] ? src_line + sl + 1 : "";
    int k = 1;
    const char *p = quoted ? quoted : text;
    while (k < line && *p)
        if (*p++ == '\n')
            k++;
    cr_expect(strncmp(p, src_line, sl) == 0 && (p[sl] == '\n' || p[sl] == '\0'),
              "%s: diagnostic does not quote line %d", src, line);
    cr_expect(strlen(caret) > (size_t)col - 1 && caret[col - 1] == '^',
              "%s: caret not at column %d", src, col);
    free(text);
    free(quoted);
    free(got);
}

Test(mtpc, error_programs_report_exact_diagnostics, .init = setup, .timeout = 300)
{
    glob_t g;
    cr_assert_eq(glob("gen/tests/err/*.mtp", 0, NULL, &g), 0, "no err programs");
    cr_assert_geq(g.gl_pathc, 10);
    for (size_t i = 0; i < g.gl_pathc; i++)
        check_diagnostic(g.gl_pathv[i]);
    globfree(&g);
    /* a program in several files (LANGUAGE.md "Modules"): an error in a module names the
     * module, its line and column (`// expect: FILE:L:C: ...` in gen/tests/import/X_main.mtp) */
    cr_assert_eq(glob("gen/tests/import/*_main.mtp", 0, NULL, &g), 0, "no import programs");
    cr_assert_geq(g.gl_pathc, 4);
    for (size_t i = 0; i < g.gl_pathc; i++)
        check_diagnostic(g.gl_pathv[i]);
    globfree(&g);
}

/* -MF writes a make rule: the outputs depend on the program and every module it read (each
 * once, a diamond too), and each module gets an empty rule (a module deleted later does not
 * break the build); imports.mtp's C is the C of the same program written in one file. */
Test(mtpc, imports_make_one_program_and_a_make_rule, .init = setup)
{
    cr_assert_eq(run("%s -o " OUT "/imp/imports.c -MF " OUT "/imp/imports.d gen/tests/ok/imports.mtp "
                     "2>/dev/null || { mkdir -p " OUT "/imp && %s -o " OUT "/imp/imports.c -MF "
                     OUT "/imp/imports.d gen/tests/ok/imports.mtp; }", mtpc(), mtpc()), 0);
    cr_expect_eq(run("head -1 " OUT "/imp/imports.d | grep -qx \"" OUT "/imp/imports.c " OUT
                     "/imp/imports.h: gen/tests/ok/imports.mtp gen/tests/ok/imports/wire.mtp "
                     "gen/tests/ok/imports/common.mtp gen/tests/ok/imports/counting.mtp\""), 0,
                 "wrong rule in imports.d");
    cr_expect_eq(run("grep -cx \"gen/tests/ok/imports/common.mtp:\" " OUT "/imp/imports.d "
                     "| grep -qx 1"), 0, "no empty rule for a module");
    cr_expect_eq(run("%s --emit=bpf -o " OUT "/imp/imports.bpf.h -MF " OUT "/imp/bpf.d "
                     "gen/tests/ok/imports.mtp && head -1 " OUT "/imp/bpf.d | grep -q \"^" OUT
                     "/imp/imports.bpf.h: gen/tests/ok/imports.mtp \"", mtpc()), 0);
    cr_expect_eq(run("%s -MF " OUT "/imp/x.d gen/tests/ok/imports.mtp >/dev/null 2>&1", mtpc()), 1,
                 "-MF without -o");
    /* the same program in one file (import/imports_one_file.mtp): the same C but #line */
    cr_assert_eq(run("rm -rf " OUT "/ma " OUT "/mb && mkdir -p " OUT "/ma " OUT "/mb && "
                     "cp -r gen/tests/ok/imports.mtp gen/tests/ok/imports " OUT "/ma/ && "
                     "cp gen/tests/import/imports_one_file.mtp " OUT "/mb/imports.mtp"), 0);
    cr_assert_eq(run("m=$(realpath %s) && cd " OUT "/ma && $m -o imports.c imports.mtp && "
                     "cd ../mb && $m -o imports.c imports.mtp", mtpc()), 0);
    cr_expect_eq(run("cd " OUT " && grep -v ^#line ma/imports.c > ma/c && grep -v ^#line "
                     "mb/imports.c > mb/c && cmp -s ma/c mb/c && cmp -s ma/imports.h mb/imports.h"), 0,
                 "imports.mtp and import/imports_one_file.mtp generate different C");
}

Test(mtpc, command_line, .init = setup)
{
    cr_expect_eq(run("%s --help >/dev/null", mtpc()), 0);
    cr_expect_eq(run("%s --version | grep -q mtpc", mtpc()), 0);
    cr_expect_eq(run("%s --bogus gen/tests/ok/echo.mtp 2>/dev/null", mtpc()), 1);
    cr_expect_eq(run("%s 2>/dev/null", mtpc()), 1);
    cr_expect_eq(run("%s --check build/tmp/does-not-exist.mtp 2>/dev/null", mtpc()), 1);
    cr_expect_eq(run("%s --check gen/tests/ok/echo.mtp", mtpc()), 0);
    cr_expect_eq(run("%s --emit=ast gen/tests/ok/echo.mtp > " OUT "/echo.ast", mtpc()), 0);
    cr_expect_eq(run("grep -q \"proc reply\" " OUT "/echo.ast"), 0);
    cr_expect_eq(run("grep -q \"echo_req -> {deliver, reply} else {refuse}\" " OUT "/echo.ast"), 0);
}

/* Without -o, --emit=c writes one self-contained C file (header first) and --emit=bpf the
 * header to stdout. */
Test(mtpc, emit_without_o_writes_stdout, .init = setup)
{
    cr_assert_eq(run("%s gen/tests/ok/echo.mtp > " OUT "/stdout_echo.c", mtpc()), 0);
    cr_expect_eq(run("cc " WARN " -Icore/include -c " OUT "/stdout_echo.c -o " OUT
                     "/stdout_echo.o"), 0, "the C on stdout does not compile alone");
    cr_expect_eq(run("grep -q \"mtpg_echo_program = \" " OUT "/stdout_echo.c"), 0);
    cr_expect_eq(run("%s --emit=bpf gen/tests/ok/echo.mtp | grep -q MTPG_ECHO_BPF_H", mtpc()), 0);
}

/* Blocks by indentation are braces by another spelling: layout.mtp and its braced twin
 * (same lines) parse to the same tree, and the generated C of both is the same. */
Test(mtpc, layout_blocks_are_braces, .init = setup)
{
    cr_assert_eq(run("%s --emit=ast gen/tests/ok/layout.mtp > " OUT "/layout.ast", mtpc()), 0);
    cr_assert_eq(run("%s --emit=ast gen/tests/layout/braces.mtp > " OUT "/braces.ast", mtpc()), 0);
    cr_expect_eq(run("cmp -s " OUT "/layout.ast " OUT "/braces.ast"), 0,
                 "layout.mtp and layout/braces.mtp parse differently");
    cr_expect_eq(run("grep -q \"else\" " OUT "/layout.ast"), 0);
    /* the same file name in two directories: the same C, byte for byte */
    cr_assert_eq(run("mkdir -p " OUT "/la " OUT "/lb && cp gen/tests/ok/layout.mtp " OUT "/la/ && "
                     "cp gen/tests/layout/braces.mtp " OUT "/lb/layout.mtp"), 0);
    cr_assert_eq(run("m=$(realpath %s) && cd " OUT "/la && $m -o layout.c layout.mtp && "
                     "cd ../lb && $m -o layout.c layout.mtp", mtpc()), 0);
    cr_expect_eq(run("cmp -s " OUT "/la/layout.c " OUT "/lb/layout.c && "
                     "cmp -s " OUT "/la/layout.h " OUT "/lb/layout.h"), 0,
                 "layout.mtp and layout/braces.mtp generate different C");
}

/* A NUL byte is a diagnostic at its place like any other. */
Test(mtpc, nul_byte_is_a_located_error, .init = setup)
{
    cr_assert_eq(run("printf \"const A = 1;\\nconst B\\000 = 2;\\n\" > " OUT "/nul.mtp"), 0);
    cr_expect_eq(run("%s --check " OUT "/nul.mtp 2> " OUT "/nul.log", mtpc()), 1);
    cr_expect_eq(run("head -1 " OUT "/nul.log | grep -qx \"" OUT
                     "/nul.mtp:2:8: error: NUL byte in the source\""), 0);
}

Test(mtpc, generated_files_are_marked_and_point_at_the_source, .init = setup)
{
    cr_assert_eq(run("%s -o " OUT "/mark/echo.c gen/tests/ok/echo.mtp 2>/dev/null || "
                     "{ mkdir -p " OUT "/mark && %s -o " OUT "/mark/echo.c gen/tests/ok/echo.mtp; }",
                     mtpc(), mtpc()),
                 0);
    cr_expect_eq(run("head -1 " OUT "/mark/echo.c | grep -qx \"/\\* Generated by mtpc from "
                     "gen/tests/ok/echo.mtp. DO NOT EDIT. \\*/\""),
                 0);
    cr_expect_eq(run("head -1 " OUT "/mark/echo.h | grep -q \"DO NOT EDIT\""), 0);
    /* `b.seq = ev.seq;` is line 115 of echo.mtp */
    cr_expect_eq(run("grep -A1 -x \"#line 115 \\\"gen/tests/ok/echo.mtp\\\"\" " OUT
                     "/mark/echo.c | grep -q \"seq = ev->seq\""),
                 0);
}

Test(mtpc, bpf_header_keeps_only_drops_every_packet_reaches, .init = setup)
{
    cr_assert_eq(run("%s --emit=bpf -o " OUT "/draft_only.bpf.h gen/tests/ok/draft.mtp", mtpc()), 0);
    cr_expect_eq(run("grep -q \"f_data_offset < 5ull\" " OUT "/draft_only.bpf.h"), 0);
    cr_expect_eq(run("grep -q \"olen > 65535\" " OUT "/draft_only.bpf.h"), 0);
    cr_expect_neq(run("grep -q f_window\\ == " OUT "/draft_only.bpf.h"), 0,
                  "a drop after a return must not be in the XDP header");
    cr_expect_eq(run("grep -q \"#define MTPG_BPF_IP_PROTO 6\" " OUT "/draft_only.bpf.h"), 0);
    cr_expect_eq(run("grep -q \"#define MTPG_BPF_L4_MIN_LEN 13\" " OUT "/draft_only.bpf.h"), 0);
}

/* The builtin table of mtpc and the runtime's opcode list agree: every OP a builtin row
 * names is an opcode of program.h (else this file does not compile), and every opcode is
 * reachable from at least one builtin. */
#define MTP_OP_NONE MTP_OP__COUNT /* produce: an event, not an instruction */
Test(mtpc, builtin_table_covers_the_opcodes)
{
    int seen[MTP_OP__COUNT + 1] = {0};
#define MARK(name, id, lo, hi, kind, op, fields) seen[MTP_OP_##op]++;
    MTPC_INSTR_BUILTINS(MARK)
#undef MARK
    for (int op = 0; op < MTP_OP__COUNT; op++)
        cr_expect(seen[op] > 0, "opcode %d has no builtin in gen/builtins.h", op);
}
