#!/bin/bash
# A process on a net_af_xdp port killed by a signal it leaves at its default action (SIGTERM,
# SIGINT, SIGHUP) must not leave net_af_xdp's XDP program on its interface: every later
# AF_XDP user of it (MTP_TARGET=xdp, another DPDK port) would be refused. Checked with an
# unmodified listener (python3) under libmtp.so, MTP_TARGET=dpdk, on a veth in a namespace:
#   - a forked child killed alone with SIGTERM leaves its parent's program in place;
#   - the process killed with SIGTERM dies of it (status 143) and the program is gone;
#   - the same with SIGHUP (129);
#   - an application's own SIGTERM handler is kept: it runs, and its exit closes the port
#     (libmtp's exit handler), so the program is gone too.
# (SIGINT is not tried: a background job of a script starts with it ignored, and an ignored
# signal is left alone.)
# Namespace and interfaces are named ms*<pid>, removed by the trap.
set -u
B=${B:-build}
LIB=$(realpath "$B/lib/libmtp.so")
id=$$
NS=ms$id VD=msv${id}d VK=msv${id}k
IP=10.212.0.2
OUT=$(mktemp /tmp/msout.XXXXXX)
pid=

cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    rm -f "$OUT"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- process output:"; cat "$OUT"; exit 1; }

ip netns add "$NS" || fail "cannot create namespace $NS"
ip -n "$NS" link add "$VD" type veth peer name "$VK" || fail "cannot create the veth pair"
ip -n "$NS" addr add $IP/24 dev "$VD"
ip -n "$NS" link set "$VD" up && ip -n "$NS" link set "$VK" up && ip -n "$NS" link set lo up

hook_held() { ip -n "$NS" link show dev "$VD" | grep -q "prog/xdp"; }

# $1: python code run once the listener is bound; "listener-up" is printed after it, so a
# signal sent on it finds whatever handler $1 installs. The markers are matched anywhere in a
# line: a forked child's libmtp message can share the parent's line in the output file.
start() {
    : > "$OUT"
    ip netns exec "$NS" env LD_PRELOAD="$LIB" MTP_PROTO=tcp MTP_TARGET=dpdk MTP_IFACE="$VD" \
        MTP_IP=$IP MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$VD" \
        python3 -u -c "
import os, socket, sys, time
s = socket.socket(); s.bind(('0.0.0.0', 5000)); s.listen()
$1
print('listener-up', flush=True)
time.sleep(60)
" > "$OUT" 2>&1 &
    pid=$!
    for _ in $(seq 100); do grep -q 'listener-up' "$OUT" && hook_held && return 0; sleep 0.1; done
    fail "the listener did not start on the DPDK port"
}

# A forked child killed alone: its parent's program stays.
start "
if os.fork() == 0:
    time.sleep(60)
    os._exit(0)
print('child-forked', flush=True)"
for _ in $(seq 50); do grep -q 'child-forked' "$OUT" && break; sleep 0.1; done
child=$(pgrep -P "$pid" python3 | head -1)
[ -n "$child" ] || fail "no forked child"
kill -TERM "$child"
sleep 0.5
hook_held || fail "a child killed by SIGTERM removed its parent's XDP program"
echo "ok: a forked child killed alone leaves its parent's program"

kill -TERM "$pid"
wait "$pid" 2>/dev/null; st=$?; pid=
[ $st = 143 ] || fail "SIGTERM: exit status $st, expected 143 (killed by SIGTERM)"
hook_held && fail "killed by SIGTERM: net_af_xdp's program is still on $VD"
echo "ok: killed by SIGTERM (status 143), no program left on the interface"

start ""
kill -HUP "$pid"
wait "$pid" 2>/dev/null; st=$?; pid=
[ $st = 129 ] || fail "SIGHUP: exit status $st, expected 129 (killed by SIGHUP)"
hook_held && fail "killed by SIGHUP: net_af_xdp's program is still on $VD"
echo "ok: killed by SIGHUP (status 129), no program left on the interface"

# An application with its own SIGTERM handler keeps it, and its exit closes the port.
start "
import signal
signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))"
kill -TERM "$pid"
wait "$pid" 2>/dev/null; st=$?; pid=
[ $st = 7 ] || fail "the application's own SIGTERM handler did not run (status $st)"
hook_held && fail "an application's SIGTERM handler exited, but the program is still on $VD"
echo "ok: the application's own SIGTERM handler ran (status 7); its exit closed the port"
