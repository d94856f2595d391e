#!/bin/bash
# mtprun: --help, one-line errors with exit 2, library lookup next to itself (a stand-in
# libmtp.so in a temporary tree), the environment it sets, LD_PRELOAD kept, CMD's exit status;
# then a real run in two namespaces: ct_route under mtprun, its IPv4 stream in user space.
# usage: test_mtprun.sh MTPRUN CT_ROUTE   (root for the namespace part)
set -u
mtprun=$(realpath "$1") ct_route=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_mtprun.sh: FAIL: $*"; exit 1; }
ok() { echo "test_mtprun.sh: $*"; }

"$mtprun" --help >"$tmp/help" || fail "--help exited $?"
grep -q "^usage: mtprun" "$tmp/help" && grep -q -- "--busy-poll US" "$tmp/help" || fail "--help text"
bad() { # expected-substring args...
    local want=$1; shift
    "$mtprun" "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
    [ $rc = 2 ] || fail "mtprun $*: exit $rc, want 2"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "mtprun $*: $(wc -l <"$tmp/err") lines on stderr, want 1"
    grep -q -- "$want" "$tmp/err" || fail "mtprun $*: '$(cat "$tmp/err")' does not say '$want'"
    [ -s "$tmp/out" ] && fail "mtprun $*: wrote to stdout"
    return 0
}
bad "unknown option --bogus" --bogus -- true
bad "needs a value" --iface
bad "no command" --iface lo
bad "no command" --
bad "microseconds" --busy-poll soon -- true
bad "microseconds" --busy-poll -5 -- true
ok "--help; bad flags: one line, exit 2"

# lookup: <dir>/../lib/libmtp.so, then <dir>/libmtp.so; none: one line, exit 1
mkdir -p "$tmp/p/bin" "$tmp/p/lib" "$tmp/q"
cp "$mtprun" "$tmp/p/bin/mtprun"; cp "$mtprun" "$tmp/q/mtprun"
echo 'int mtprun_stand_in;' | cc -shared -fPIC -x c - -o "$tmp/p/lib/libmtp.so" || fail "cc"
cp "$tmp/p/lib/libmtp.so" "$tmp/q/libmtp.so"
env -u MTP_PROTO -u MTP_TARGET -u MTP_IFACE -u MTP_BUSY_POLL_US LD_PRELOAD=libfoo.so \
    "$tmp/p/bin/mtprun" --proto tcp --target xdp --iface lo0 --busy-poll 50 -- env >"$tmp/env" 2>/dev/null
for want in "LD_PRELOAD=$tmp/p/lib/libmtp.so:libfoo.so" MTP_PROTO=tcp MTP_TARGET=xdp MTP_IFACE=lo0 \
            MTP_BUSY_POLL_US=50; do
    grep -qx "$want" "$tmp/env" || fail "environment lacks $want: $(grep -E '^(LD_PRELOAD|MTP_)' "$tmp/env" | tr '\n' ' ')"
done
MTP_TARGET=dpdk "$tmp/q/mtprun" -- env >"$tmp/env2"
grep -qx "LD_PRELOAD=$tmp/q/libmtp.so" "$tmp/env2" || fail "the library next to mtprun is not used"
grep -qx "MTP_TARGET=dpdk" "$tmp/env2" || fail "an option left out must keep the environment's value"
rm "$tmp/q/libmtp.so"
if [ ! -e /usr/local/lib/libmtp.so ]; then
    "$tmp/q/mtprun" -- true 2>"$tmp/err"; rc=$?
    [ $rc = 1 ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "libmtp.so not found" "$tmp/err" ||
        fail "no library: exit $rc, '$(cat "$tmp/err")'"
fi
"$tmp/p/bin/mtprun" -- sh -c 'exit 7'; [ $? = 7 ] || fail "the command's exit status is not passed on"
"$tmp/p/bin/mtprun" -- /no/such/cmd 2>/dev/null; [ $? = 127 ] || fail "a missing command: want 127"
ok "lookup next to itself (../lib, ./), environment set and kept, exit statuses"

# a real run: ct_route in namespace A under mtprun, its peer on the kernel in B
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
mx__prev_exit="rm -rf '$tmp'"
mx_bg B sh -c "exec '$ct_route' --peer --lip $MX_IP_A --pip $MX_IP_B --port 14000 >/dev/null 2>&1"
timeout 60 ip netns exec "$MX_NS_A" "$mtprun" --iface "$MX_DEV_A" -- "$ct_route" --lip "$MX_IP_A" \
    --pip "$MX_IP_B" --port 14000 --only 1 >"$tmp/route" 2>&1 || { cat "$tmp/route"; fail "ct_route under mtprun"; }
grep -q "^# path inet-peer: user" "$tmp/route" || { cat "$tmp/route"; fail "the connection did not go through MTP"; }
ok "ct_route under mtprun --iface $MX_DEV_A: the connection to the peer went through MTP"
echo "test_mtprun.sh: ok"
