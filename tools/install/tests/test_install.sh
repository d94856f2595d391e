#!/bin/bash
# make install into a temporary DESTDIR (PREFIX=/usr/local and PREFIX=/opt/mtp): every file
# where it belongs, executables executable, libmtp.so exporting only the interposed calls, the
# --help texts installed, and the installed mtprun finding the installed libmtp.so (and the XDP
# hook object under lib/mtp) — a kernel-free check: mtprun ... -- env.
set -u
cd "$(dirname "$0")/../../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_install.sh: FAIL: $*"; exit 1; }
for prefix in /usr/local /opt/mtp; do
    d=$tmp/dest$(echo "$prefix" | tr / _)
    make --no-print-directory -s install DESTDIR="$d" PREFIX="$prefix" >"$tmp/log" 2>&1 ||
        { cat "$tmp/log"; fail "make install PREFIX=$prefix exited $?"; }
    r=$d$prefix
    for f in bin/mtprun bin/mtpstat bin/mtpc lib/libmtp.so; do
        [ -x "$r/$f" ] || fail "$prefix/$f missing or not executable"
    done
    [ -r "$r/lib/mtp/tcp.bpf.o" ] || fail "$prefix/lib/mtp/tcp.bpf.o missing"
    for t in mtprun mtpstat mtpc; do
        grep -q "^usage: $t" "$r/share/doc/mtp/$t.txt" 2>/dev/null || fail "$prefix/share/doc/mtp/$t.txt"
    done
    # nothing outside DESTDIR/PREFIX
    [ "$(cd "$d" && find . -mindepth 1 -maxdepth 1)" = "./$(echo "$prefix" | cut -d/ -f2)" ] ||
        fail "files outside $prefix: $(cd "$d" && find . -maxdepth 2)"
    # only the interposed calls are exported
    nm -D --defined-only "$r/lib/libmtp.so" | awk '{print $3}' | grep -v '^$' >"$tmp/syms"
    grep -qx socket "$tmp/syms" && grep -qx epoll_wait "$tmp/syms" || fail "libmtp.so does not export socket/epoll_wait"
    grep -E '^(mtp_|mtp__|mtpg_)' "$tmp/syms" && fail "libmtp.so exports runtime symbols"
    # the installed mtprun uses the installed library (built for this prefix, found by ../lib);
    # in a fresh network namespace, so a library that starts its stack touches nobody's lo
    unshare -n sh -c 'ip link set lo up && exec env -u LD_PRELOAD "$0" --iface lo -- /usr/bin/env' \
        "$r/bin/mtprun" >"$tmp/env" 2>"$tmp/err"
    grep -qx "LD_PRELOAD=$r/lib/libmtp.so" "$tmp/env" ||
        fail "installed mtprun does not preload $r/lib/libmtp.so: $(grep LD_PRELOAD "$tmp/env") $(cat "$tmp/err")"
    echo "test_install.sh: PREFIX=$prefix: bin/{mtprun,mtpstat,mtpc}, lib/libmtp.so, lib/mtp/tcp.bpf.o, share/doc/mtp/*.txt; mtprun finds its libmtp.so"
done
echo "test_install.sh: ok"
