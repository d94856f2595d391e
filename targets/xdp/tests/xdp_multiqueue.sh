#!/bin/bash
# Per-queue AF_XDP sockets: a veth with 4 rx queues, one target per queue in one process
# (sharing the hook program and the claimed port), every datagram echoed whatever queue it
# arrives on. usage: xdp_multiqueue.sh XDP_ECHO_BIN HOOK_OBJ
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 hook=$2
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
source "$here/../../../tests/wait.sh"
MX_VETH_QUEUES=4 mx_netns_up || exit 1
out=$(mktemp)
mx__prev_exit="rm -f '$out'"
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" udp 7778
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" tcp 2222
mx_wait_listen 30 "$MX_NS_A" 7778 udp && mx_wait_listen 30 "$MX_NS_A" 2222 || exit 1
ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" 7777 "$MX_IP_B" "$MX_MAC_B" --queues=4 >"$out" 2>&1 &
pid=$!
mx_wait_line 30 "$out" READY $pid || { echo "xdp_multiqueue.sh: FAIL: not ready:"; cat "$out"; exit 1; }
mx_in B $py "$here/xdp_echo_peer.py" "$MX_IP_A" 7777 7778 2222 ||
    { mx_wait_line 10 "$out" echoed= $pid; cat "$out"; exit 1; }  # its counters: where it went
wait $pid || { cat "$out"; echo "xdp_multiqueue.sh: FAIL: echo program failed"; exit 1; }
cat "$out"
used=$(grep -o 'rx_q[0-9]=[0-9]*' "$out" | grep -vc '=0$')
[ "$used" -ge 2 ] || { echo "xdp_multiqueue.sh: FAIL: traffic arrived on $used queue(s) only"; exit 1; }
# every queue has its own AF_XDP socket: the hook redirects each packet to its queue's socket,
# never copies one into a ring buffer (docs/MULTIPROC.md)
grep -q 'xdp_ring=0 ' "$out" || { echo "xdp_multiqueue.sh: FAIL: packets were copied into ring buffers"; exit 1; }
echo "xdp_multiqueue.sh: PASS ($used of 4 queues carried traffic, each to its own queue's socket)"
