/*
 * bpf_load.c — loads one BPF object file into the kernel (so the verifier checks it), then
 * unloads it; nothing is attached. Exit 0: accepted; 1: rejected (verifier log on stderr);
 * 77: this process may not load BPF programs (no privilege), so nothing was checked.
 */
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static int print_warnings(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    return vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bpf_load file.bpf.o\n");
        return 2;
    }
    libbpf_set_print(print_warnings);
    struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
    if (!obj) {
        fprintf(stderr, "bpf_load: cannot open %s\n", argv[1]);
        return 1;
    }
    int err = bpf_object__load(obj);
    bpf_object__close(obj);
    if (err == -EPERM)
        return 77;
    if (err) {
        fprintf(stderr, "bpf_load: %s rejected (%d)\n", argv[1], err);
        return 1;
    }
    return 0;
}
