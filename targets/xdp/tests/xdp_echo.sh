#!/bin/bash
# XDP target test: AF_XDP echo on a claimed port while the kernel keeps serving everything
# else on the same interface. usage: xdp_echo.sh XDP_ECHO_BIN HOOK_OBJ
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 hook=$2
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
source "$here/../../../tests/wait.sh"
mx_netns_up || exit 1
out=$(mktemp)
mx__prev_exit="rm -f '$out'"

port=7777 kudp=7778 ktcp=2222
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" udp $kudp
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" tcp $ktcp
mx_wait_listen 30 "$MX_NS_A" $kudp udp && mx_wait_listen 30 "$MX_NS_A" $ktcp || exit 1
for mode in native skb; do
echo "xdp_echo.sh: --- MTP_XDP_MODE=$mode"
export MTP_XDP_MODE=$mode
: >"$out"  # synchronously: the READY wait below must not see the previous mode's line
ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" $port "$MX_IP_B" "$MX_MAC_B" >"$out" 2>&1 &
echo_pid=$!
if ! mx_wait_line 30 "$out" READY $echo_pid; then
    echo "xdp_echo.sh: FAIL: the echo program did not get ready:"; cat "$out"; exit 1
fi
mx_in B $py "$here/xdp_echo_peer.py" "$MX_IP_A" $port $kudp $ktcp ||
    { mx_wait_line 10 "$out" echoed= $echo_pid; cat "$out"; exit 1; }  # its counters: where it went
wait $echo_pid; rc=$?
cat "$out"
[ $rc = 0 ] || { echo "xdp_echo.sh: FAIL: echo program exited $rc"; exit 1; }
grep -q 'xdp_malformed=[1-9]' "$out" || { echo "xdp_echo.sh: FAIL: malformed datagram not counted by the hook"; exit 1; }
grep -Eq 'echoed=([2-9][0-9][0-9]|[0-9]{4,})' "$out" || { echo "xdp_echo.sh: FAIL: too few echoes"; exit 1; }
# the hook is gone once the process has exited
if mx_in A ip link show "$MX_DEV_A" | grep -q 'prog/xdp'; then
    echo "xdp_echo.sh: FAIL: XDP program still attached after exit"; exit 1
fi
grep -q "mode $mode" "$out" || { echo "xdp_echo.sh: FAIL: not attached in $mode mode"; exit 1; }
done
echo "xdp_echo.sh: PASS"
