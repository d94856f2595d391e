#!/bin/bash
# Crash recovery of the XDP target: (1) a process holding the target is killed with SIGKILL and
# the next run attaches cleanly; (2) an mtp hook program left attached the old way (netlink,
# no owner) is detected and replaced. usage: xdp_crash.sh XDP_ECHO_BIN HOOK_OBJ
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 hook=$2
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
source "$here/../../../tests/wait.sh"
mx_netns_up || exit 1
out=$(mktemp)
mx__prev_exit="rm -f '$out'"
port=7777
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" udp 7778
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" tcp 2222
mx_wait_listen 30 "$MX_NS_A" 7778 udp && mx_wait_listen 30 "$MX_NS_A" 2222 || exit 1

wait_ready() { # pid
    mx_wait_line 30 "$out" READY "$1" && return 0
    echo "xdp_crash.sh: FAIL: not ready:"; cat "$out"; return 1
}
echo_round() { # one full run of the echo test against the peer
    : >"$out"
    mx_in A "$bin" "$MX_DEV_A" "$hook" $port "$MX_IP_B" "$MX_MAC_B" >"$out" 2>&1 &
    local pid=$!
    wait_ready $pid || return 1
    mx_in B $py "$here/xdp_echo_peer.py" "$MX_IP_A" $port 7778 2222 >/dev/null ||
        { mx_wait_line 10 "$out" echoed= $pid; cat "$out"; return 1; }  # its counters: where it went
    wait $pid || { cat "$out"; return 1; }
    return 0
}

# (1) SIGKILL while attached, with a port claimed
: >"$out"
ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" $port "$MX_IP_B" "$MX_MAC_B" --hold >"$out" 2>&1 &
pid=$!  # ip netns exec execs the program: this is its pid
wait_ready $pid || exit 1
kill -9 $pid; wait $pid 2>/dev/null
mx_in A ip link show "$MX_DEV_A" | grep -q 'prog/xdp' && { echo "xdp_crash.sh: FAIL: hook still attached after SIGKILL"; exit 1; }
echo_round || { echo "xdp_crash.sh: FAIL: run after SIGKILL"; exit 1; }
echo "xdp_crash.sh: run after SIGKILL attached and echoed"

# (2) a stale mtp hook attached by netlink, owned by nobody
mx_in A ip link set dev "$MX_DEV_A" xdpdrv obj "$hook" sec xdp.frags || { echo "xdp_crash.sh: FAIL: cannot pre-attach"; exit 1; }
mx_in A ip link show "$MX_DEV_A" | grep -q 'prog/xdp' || { echo "xdp_crash.sh: FAIL: pre-attach not visible"; exit 1; }
echo_round || { echo "xdp_crash.sh: FAIL: run with a stale program attached"; exit 1; }
grep -q 'replaced a stale mtp XDP program' "$out" || { echo "xdp_crash.sh: FAIL: stale program not reported"; cat "$out"; exit 1; }
echo "xdp_crash.sh: stale netlink-attached program replaced"

# (3) somebody else's program is never touched: one clear line, non-zero exit, still attached
foreign=/usr/lib/$(cc -dumpmachine)/bpf/xdp-dispatcher.o
if [ -r "$foreign" ] || foreign=$(ls /usr/lib/*/bpf/*.o 2>/dev/null | grep -v mtp | head -1); [ -n "$foreign" ]; then
    mx_in A ip link set dev "$MX_DEV_A" xdpdrv obj "$foreign" sec xdp 2>/dev/null ||
        mx_in A ip link set dev "$MX_DEV_A" xdpdrv obj "$foreign" 2>/dev/null
fi
if mx_in A ip link show "$MX_DEV_A" | grep -q 'prog/xdp'; then
    : >"$out"
    mx_in A "$bin" "$MX_DEV_A" "$hook" $port "$MX_IP_B" "$MX_MAC_B" >"$out" 2>&1 && { echo "xdp_crash.sh: FAIL: ran over a foreign program"; exit 1; }
    grep -q "already has XDP program" "$out" || { echo "xdp_crash.sh: FAIL: no clear message for a foreign program"; cat "$out"; exit 1; }
    mx_in A ip link show "$MX_DEV_A" | grep -q 'prog/xdp' || { echo "xdp_crash.sh: FAIL: foreign program removed"; exit 1; }
    echo "xdp_crash.sh: foreign program left alone: $(head -1 "$out")"
    mx_in A ip link set dev "$MX_DEV_A" xdp off
else
    echo "xdp_crash.sh: (no foreign XDP object available to check that case)"
fi
echo "xdp_crash.sh: PASS"
