#!/bin/bash
# Several processes on one interface and one queue (docs/MULTIPROC.md), on a veth with the
# kernel's default offloads (one queue):
#  1. two unrelated echo processes on two ports at once: the first gets the queue's AF_XDP
#     socket, the second a ring buffer; both echo byte-exact while the kernel serves the rest;
#  2. two processes on ONE port (SO_REUSEPORT): flows spread over both, each byte-exact;
#  3. kill -9 of the process that attached the hook (holding the AF_XDP socket and a port):
#     the other keeps serving, a new process takes the freed queue and serves too;
#  4. a process that exits normally releases its port (the kernel gets it back);
#  5. with 32 processes on the interface a 33rd is refused with one line;
#  6. a flow pinned with flow_claim by a process that does not serve the port reaches it.
# usage: xdp_multiproc.sh XDP_ECHO_BIN HOOK_OBJ
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=$1 hook=$2
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
source "$here/../../../tests/wait.sh"
mx_netns_up || exit 1
d=$(mktemp -d)
mx__prev_exit="rm -rf '$d'"
export MTP_RUN_DIR=$d/run
kudp=7778 ktcp=2222
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" udp $kudp
mx_bg A $py "$here/../../../tests/peers/kernel_echo.py" tcp $ktcp
mx_wait_listen 30 "$MX_NS_A" $kudp udp && mx_wait_listen 30 "$MX_NS_A" $ktcp || exit 1
fail() { echo "xdp_multiproc.sh: FAIL: $*"; for f in "$d"/*.out; do echo "--- $f"; cat "$f"; done; exit 1; }

start() { # name port [--hold]: an echo process in A, its pid in $pid
    : >"$d/$1.out"
    ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" "$2" "$MX_IP_B" "$MX_MAC_B" ${3:-} >"$d/$1.out" 2>&1 &
    pid=$!
    mx_wait_line 30 "$d/$1.out" READY $pid || fail "$1 not ready"
}
peer() { # port: the full echo peer (byte-exact sizes, bursts, malformed, kernel, ping, QUIT)
    mx_in B $py "$here/xdp_echo_peer.py" "$MX_IP_A" "$1" $kudp $ktcp $((40000 + $1 % 1000))
}
finish() { # name pid: it must exit 0 after its QUIT
    wait "$2" || fail "$1 exited $?"
}

# 1. two unrelated processes, two ports
start one 7777; p1=$pid
start two 7790; p2=$pid
grep -q "AF_XDP socket" "$d/one.out" || fail "first process has no AF_XDP socket"
grep -q "ring buffer" "$d/two.out" || fail "second process is not a ring-buffer member"
peer 7777 >"$d/peer1.out" 2>&1 & q1=$!
peer 7790 >"$d/peer2.out" 2>&1 & q2=$!
wait $q1 || fail "peer of the first process"
wait $q2 || fail "peer of the second process"
finish one $p1; finish two $p2
grep -Eq 'xdp_ring=[1-9]' "$d/two.out" || fail "the second process's packets did not go through its ring"
echo "xdp_multiproc.sh: 1. two processes, two ports: both echoed byte-exact (AF_XDP + ring buffer)"

# 2. two processes on one port: flows spread, each byte-exact
start one 7777; p1=$pid
start two 7777; p2=$pid
mx_in B $py "$here/xdp_spread_peer.py" "$MX_IP_A" 7777 64 64 || fail "spread peer"
for p in $p1 $p2; do
    for _ in $(seq 100); do kill -0 $p 2>/dev/null || break; sleep 0.05; done
    kill $p 2>/dev/null  # a QUIT may all have hashed to the other one
done
wait $p1 $p2 2>/dev/null
e1=$(grep -o 'echoed=[0-9]*' "$d/one.out" | cut -d= -f2); e2=$(grep -o 'echoed=[0-9]*' "$d/two.out" | cut -d= -f2)
[ "${e1:-0}" -gt 0 ] && [ "${e2:-0}" -gt 0 ] || fail "flows not spread: echoed ${e1:-?} and ${e2:-?}"
echo "xdp_multiproc.sh: 2. one port, two processes: 192 echoes spread ${e1} / ${e2}"

# 3. kill -9 of the founder (hook attached by it, AF_XDP socket, a port): the other serves on
start one 7777 --hold; p1=$pid
start two 7790; p2=$pid
kill -9 $p1; wait $p1 2>/dev/null
mx_in A ip link show "$MX_DEV_A" | grep -q 'prog/xdp' || fail "hook detached when its founder died"
peer 7790 >"$d/peer2.out" 2>&1 || fail "survivor after kill -9"
finish two $p2
echo "xdp_multiproc.sh: 3a. after kill -9 of the founder the other process echoed byte-exact"
start three 7790 --hold; p3=$pid
start four 7777; p4=$pid
grep -q "AF_XDP socket" "$d/three.out" || fail "the freed queue was not taken by the next process"
peer 7777 >"$d/peer1.out" 2>&1 || fail "a new process after kill -9"
finish four $p4
echo "xdp_multiproc.sh: 3b. a new process took the freed queue and echoed byte-exact"

# 4. normal exit releases the port: the kernel can bind it again while another member runs
mx_in A $py -c "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', 7777))" ||
    fail "port 7777 not released after its process exited"
kill -9 $p3; wait $p3 2>/dev/null
mx_wait_for 10 "hook detached after the last member" \
    bash -c "! ip netns exec '$MX_NS_A' ip link show '$MX_DEV_A' | grep -q prog/xdp" || fail "hook left attached"
echo "xdp_multiproc.sh: 4. exit released the port; the last member's end detached the hook"
# 6. (before 5) flow_claim: a flow pinned to a process that does not serve its port (a
# connection handed to a forked child) reaches it; other flows to the port do not
start one 7777; p1=$pid
start two 7790 --pin=7777:45000; p2=$pid
mx_in B $py -c 'import os, socket, sys
ip = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 45000)); s.settimeout(1)
for i in range(50):
    m = os.urandom(1 + i * 20)
    s.sendto(m, (ip, 7777))
    d, src = s.recvfrom(4096)
    assert d == m and src == (ip, 7777), "pinned flow: wrong echo"
q = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
q.sendto(b"QUIT", (ip, 7790)); q.sendto(b"QUIT", (ip, 7777))' "$MX_IP_A" || fail "the pinned flow"
finish one $p1; finish two $p2
grep -q "^echoed=50 " "$d/two.out" && grep -q "^echoed=0 " "$d/one.out" ||
    fail "the pinned flow's 50 datagrams were not all echoed by the process that claimed it"
echo "xdp_multiproc.sh: 6. a flow claimed by another process (flow_claim) reached it: 50 echoes byte-exact"

# 5. no free member slot: 32 processes hold the interface, the 33rd gets one line
holders=()
for i in $(seq 32); do
    : >"$d/h$i.out"
    ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" $((8000 + i)) "$MX_IP_B" "$MX_MAC_B" --hold >"$d/h$i.out" 2>&1 &
    holders+=($!)
    mx_wait_line 30 "$d/h$i.out" READY $! || fail "holder $i not ready"
done
ip netns exec "$MX_NS_A" "$bin" "$MX_DEV_A" "$hook" 8100 "$MX_IP_B" "$MX_MAC_B" >"$d/full.out" 2>&1 && fail "a 33rd process joined"
grep -q "^mtp xdp: $MX_DEV_A: 32 mtp stacks already serve this interface (the most it takes): stop one, or use another interface" "$d/full.out" ||
    fail "no free slot: not the one line"
kill -9 "${holders[@]}"; wait "${holders[@]}" 2>/dev/null
rm -f "$d"/h*.out
echo "xdp_multiproc.sh: 5. $(grep '^mtp xdp' "$d/full.out")"
echo "xdp_multiproc.sh: PASS"
