#!/bin/bash
# The XDP target's errors are one clear line each: unknown interface, missing hook object,
# bad MTP_XDP_MODE, no privileges; and mtpcat's configuration errors name the variable and the
# accepted values. usage: xdp_errors.sh XDP_ECHO_BIN HOOK_OBJ [MTPCAT]
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 hook=$2 mtpcat=${3:-}
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
err=$(mktemp)
mx__prev_exit="rm -f '$err'"
fails=0
# expect "what" "regex of the one line" cmd... — exit status 1 exactly (a sanitizer report
# exits 86: never taken for the expected failure)
expect() {
    local what=$1 re=$2 rc; shift 2
    "$@" >/dev/null 2>"$err"; rc=$?
    if [ "$rc" != 1 ]; then echo "xdp_errors.sh: FAIL: $what: exit status $rc, not 1"; cat "$err"; fails=1; return; fi
    local first; first=$(grep -m1 -E '^(mtp xdp|mtpcat):' "$err")
    if [ "$(grep -cE '^(mtp xdp|mtpcat):' "$err")" != 1 ] || ! grep -qE "$re" <<<"$first"; then
        echo "xdp_errors.sh: FAIL: $what:"; cat "$err"; fails=1; return
    fi
    echo "xdp_errors.sh: $what: $first"
}
A() { ip netns exec "$MX_NS_A" "$@"; }
expect "unknown interface" "unknown interface 'nosuch0'" A "$bin" nosuch0 "$hook" 7777 "$MX_IP_B" "$MX_MAC_B"
expect "missing hook object" "hook program /nonexistent.o" A "$bin" "$MX_DEV_A" /nonexistent.o 7777 "$MX_IP_B" "$MX_MAC_B"
expect "not a hook object" "hook program .*" A "$bin" "$MX_DEV_A" /etc/hostname 7777 "$MX_IP_B" "$MX_MAC_B"
expect "bad MTP_XDP_MODE" "MTP_XDP_MODE=turbo: unknown mode \(accepted: auto, native, skb\)" \
    env MTP_XDP_MODE=turbo ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" 7777 "$MX_IP_B" "$MX_MAC_B"
expect "no privileges" "permission denied \(run as root" \
    A setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
    "$bin" "$MX_DEV_A" "$hook" 7777 "$MX_IP_B" "$MX_MAC_B"
# several processes on one interface (docs/MULTIPROC.md): the ways joining can fail
export MTP_RUN_DIR=$(mktemp -d)
py_lock() { exec /usr/bin/python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"a"); fcntl.flock(f,fcntl.LOCK_EX); time.sleep(30)' "$1"; }
mx__prev_exit="rm -f '$err'; rm -rf '$MTP_RUN_DIR'"
expect "MTP_RUN_DIR not creatable" "MTP_RUN_DIR=/proc/nope: cannot create it" \
    env MTP_RUN_DIR=/proc/nope ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" 7777 "$MX_IP_B" "$MX_MAC_B"
lockf="$MTP_RUN_DIR/xdp-$(ip netns exec "$MX_NS_A" stat -L -c %i /proc/self/ns/net)-$(ip netns exec "$MX_NS_A" cat /sys/class/net/$MX_DEV_A/ifindex).lock"
py_lock "$lockf" & holder=$!
for _ in $(seq 100); do [ -e "$lockf" ] && break; sleep 0.05; done
expect "lock held by a hung process" "lock file is held for more than 5 s by another mtp process" \
    A "$bin" "$MX_DEV_A" "$hook" 7777 "$MX_IP_B" "$MX_MAC_B"
kill -9 $holder; wait $holder 2>/dev/null   # now a stale file, as after a crash: harmless
echo "stale junk" >"$lockf"
out=$(mktemp)
ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" 7777 "$MX_IP_B" "$MX_MAC_B" --hold >"$out" 2>&1 & held=$!  # execs: $! is its pid
for _ in $(seq 200); do grep -q READY "$out" && break; sleep 0.05; done
if grep -q READY "$out"; then echo "xdp_errors.sh: stale lock file: ignored, the process started"
else echo "xdp_errors.sh: FAIL: stale lock file:"; cat "$out"; fails=1; fi
if [ -n "$mtpcat" ]; then
    expect "a member of another program" "served by another process running program 'udp_echo.bpf.o', not 'tcp.bpf.o'" \
        env MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" -l 7001
fi
kill -9 $held; wait $held 2>/dev/null; rm -f "$out"
if [ -n "$mtpcat" ]; then
    expect "mtpcat: MTP_IFACE unset" "MTP_IFACE is not set: .*accepted: .*$MX_DEV_A" env -u MTP_IFACE ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: bad MTP_IFACE" "MTP_IFACE=eth9: no such interface here \(accepted: " env MTP_IFACE=eth9 ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: bad MTP_TARGET" "MTP_TARGET=foo: unknown target \(accepted: xdp" env MTP_TARGET=foo ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: bad MTP_PROTO" "MTP_PROTO=foo: unknown protocol \(accepted: " env MTP_PROTO=foo ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: target fails to open" "^mtp xdp: hook program /nonexistent.o" env MTP_XDP_OBJ=/nonexistent.o MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: unknown MTP_PARAM_" "MTP_PARAM_NO_SUCH: program 'tcp' has no such param \(accepted: .*MIN_RTO" env MTP_PARAM_NO_SUCH=1 MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: bad MTP_PARAM_ value" "MTP_PARAM_MIN_RTO=fast: not a number" env MTP_PARAM_MIN_RTO=fast MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
    expect "mtpcat: bad MTP_IP" "MTP_IP=10.1: not an IPv4 address" env MTP_IP=10.1 MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 1
fi
[ $fails = 0 ] && echo "xdp_errors.sh: PASS"
exit $fails
