#!/bin/bash
# Several MTP programs on one interface at once (docs/MULTIPROC.md), TCP with mtpcat:
#  veth (default offloads): two mtpcat listeners and an mtpcat client in namespace A, all
#    three running together; kernel clients in B send to the listeners, the client sends to a
#    kernel server in B: every byte stream byte-exact both ways.
#  veth: kill -9 of the member holding the queue's AF_XDP socket in the middle of a transfer:
#    the other member (a ring buffer) serves a new connection byte-exact.
#  lo: two mtpcat listeners on 127.0.0.1; an mtpcat CLIENT (a third MTP process) talks to the
#    first, a kernel client to the second: MTP to MTP on one interface, byte-exact.
# usage: xdp_multiproc_tcp.sh MTPCAT [MB (4)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
mtpcat=$(realpath "$1") mb=${2:-4}
py=/usr/bin/python3
peers=$here/../../../tests/peers
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_TEST_TIMEOUT=60 MTP_RUN_DIR=$tmp/run
fail() { echo "xdp_multiproc_tcp.sh: FAIL: $*"; for f in "$tmp"/*.err; do echo "--- $f"; cat "$f"; done; exit 1; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ ($(stat -c %s "$1") sent, $(stat -c %s "$2") received)"; }
for n in 1 2 3; do head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/up$n"; head -c 300000 /dev/urandom >"$tmp/down$n"; done
listener() { # n port iface: mtpcat -l in A sending down$n, receiving into l$n.out
    MTP_IFACE=$3 ip netns exec "$MX_NS_A" timeout 90 "$mtpcat" -v -l "$2" <"$tmp/down$1" >"$tmp/l$1.out" 2>"$tmp/l$1.err" &
    lpid=$!
    for _ in $(seq 200); do grep -q listening "$tmp/l$1.err" 2>/dev/null && return 0; kill -0 $lpid 2>/dev/null || break; sleep 0.05; done
    fail "mtpcat -l $2 did not come up"
}
members() { # how many mtp stacks the interface's hook knows (bpftool absent: skip)
    command -v bpftool >/dev/null || { echo "?"; return; }
    ip netns exec "$MX_NS_A" bpftool map dump name mtp_members 2>/dev/null | grep -c '"gen": [1-9]'
}

# ---- veth
listener 1 7001 "$MX_DEV_A"; l1=$lpid
listener 2 7002 "$MX_DEV_A"; l2=$lpid
mx_bg B $py "$peers/kernel_tcp.py" serve 7003 "$tmp/down3" "$tmp/k3.in"; k3=$MX_BG_PID
mx_wait_listen() { for _ in $(seq 200); do ip netns exec "$1" ss -Htln "sport = :$2" | grep -q . && return 0; sleep 0.05; done; return 1; }
mx_wait_listen "$MX_NS_B" 7003 || fail "kernel server in B"
MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 90 "$mtpcat" -v "$MX_IP_B" 7003 <"$tmp/up3" >"$tmp/c3.out" 2>"$tmp/c3.err" & c3=$!
timeout 90 ip netns exec "$MX_NS_B" $py "$peers/kernel_tcp.py" connect "$MX_IP_A" 7001 "$tmp/up1" "$tmp/k1.in" >/dev/null & k1=$!
timeout 90 ip netns exec "$MX_NS_B" $py "$peers/kernel_tcp.py" connect "$MX_IP_A" 7002 "$tmp/up2" "$tmp/k2.in" >/dev/null & k2=$!
for p in $k1 $k2; do wait $p || fail "veth: a kernel client failed"; done
wait $c3 || fail "veth: the mtpcat client failed"
wait $l1 || fail "veth: listener 1 exited non-zero"; wait $l2 || fail "veth: listener 2 exited non-zero"
wait $k3 2>/dev/null
for n in 1 2; do same "$tmp/up$n" "$tmp/l$n.out" "veth: kernel -> listener $n"; same "$tmp/down$n" "$tmp/k$n.in" "veth: listener $n -> kernel"; done
same "$tmp/up3" "$tmp/k3.in" "veth: mtpcat client -> kernel"; same "$tmp/down3" "$tmp/c3.out" "veth: kernel -> mtpcat client"
grep -l "ring buffer" "$tmp"/l1.err "$tmp"/l2.err "$tmp"/c3.err >/dev/null || fail "veth: no process ran as a ring-buffer member"
echo "xdp_multiproc_tcp.sh: veth: 2 mtpcat listeners + 1 mtpcat client at once, $mb MB up / 300 kB down each, byte-exact"

# ---- veth: kill -9 of a member in the middle of a transfer (it holds frames and a
# connection): the other member's new connection works, byte-exact
listener 1 7021 "$MX_DEV_A"; l1=$lpid
listener 2 7022 "$MX_DEV_A"; l2=$lpid
ip netns exec "$MX_NS_B" timeout 60 $py -c 'import socket, sys, time
s = socket.create_connection((sys.argv[1], 7021), timeout=5); end = time.time() + 50
while time.time() < end: s.sendall(bytes(65536))' "$MX_IP_A" >/dev/null 2>&1 & k1=$!  # sends until killed
for _ in $(seq 200); do [ "$(stat -c %s "$tmp/l1.out" 2>/dev/null || echo 0)" -gt 1000000 ] && break; sleep 0.05; done
[ "$(stat -c %s "$tmp/l1.out")" -gt 1000000 ] || fail "veth: the transfer to the first listener did not start"
kill -9 $l1; wait $l1 2>/dev/null
timeout 90 ip netns exec "$MX_NS_B" $py "$peers/kernel_tcp.py" connect "$MX_IP_A" 7022 "$tmp/up2" "$tmp/k2.in" >/dev/null || fail "veth: a new connection after kill -9 of the other member"
wait $l2 || fail "veth: listener 2 exited non-zero after the other was killed"
same "$tmp/up2" "$tmp/l2.out" "veth after kill -9: kernel -> listener 2"; same "$tmp/down2" "$tmp/k2.in" "veth after kill -9: listener 2 -> kernel"
kill $k1 2>/dev/null; wait $k1 2>/dev/null
echo "xdp_multiproc_tcp.sh: veth: kill -9 of a member mid-transfer (after $(stat -c %s "$tmp/l1.out") bytes); the other member's new connection byte-exact"

# ---- lo
rm -f "$tmp"/*.err "$tmp"/*.out "$tmp"/*.in
listener 1 7011 lo; l1=$lpid
listener 2 7012 lo; l2=$lpid
MTP_IFACE=lo ip netns exec "$MX_NS_A" timeout 90 "$mtpcat" -v 127.0.0.1 7011 <"$tmp/up3" >"$tmp/c3.out" 2>"$tmp/c3.err" & c3=$!
timeout 90 ip netns exec "$MX_NS_A" $py "$peers/kernel_tcp.py" connect 127.0.0.1 7012 "$tmp/up2" "$tmp/k2.in" >/dev/null & k2=$!
wait $k2 || fail "lo: the kernel client failed"
wait $c3 || fail "lo: the mtpcat client failed"
wait $l1 || fail "lo: listener 1 exited non-zero"; wait $l2 || fail "lo: listener 2 exited non-zero"
same "$tmp/up3" "$tmp/l1.out" "lo: mtpcat client -> mtpcat listener"; same "$tmp/down1" "$tmp/c3.out" "lo: mtpcat listener -> mtpcat client"
same "$tmp/up2" "$tmp/l2.out" "lo: kernel -> listener 2"; same "$tmp/down2" "$tmp/k2.in" "lo: listener 2 -> kernel"
echo "xdp_multiproc_tcp.sh: lo: mtpcat client -> mtpcat listener and kernel -> mtpcat listener at once, byte-exact"
# ---- a veth with 4 queues: each member takes a queue of its own (AF_XDP) and a ring buffer
# for its connections' packets that arrive on the other queues
MX_VETH_QUEUES=4 mx_netns_up || exit 1
rm -f "$tmp"/*.err "$tmp"/*.out "$tmp"/*.in
listener 1 7031 "$MX_DEV_A"; l1=$lpid
listener 2 7032 "$MX_DEV_A"; l2=$lpid
timeout 90 ip netns exec "$MX_NS_B" $py "$peers/kernel_tcp.py" connect "$MX_IP_A" 7031 "$tmp/up1" "$tmp/k1.in" >/dev/null & k1=$!
timeout 90 ip netns exec "$MX_NS_B" $py "$peers/kernel_tcp.py" connect "$MX_IP_A" 7032 "$tmp/up2" "$tmp/k2.in" >/dev/null & k2=$!
wait $k1 || fail "4 queues: kernel client of listener 1"; wait $k2 || fail "4 queues: kernel client of listener 2"
wait $l1 || fail "4 queues: listener 1"; wait $l2 || fail "4 queues: listener 2"
for n in 1 2; do
    grep -q "queue $((n - 1)), .*AF_XDP socket, ring buffer for the other queues" "$tmp/l$n.err" ||
        { cat "$tmp/l$n.err"; fail "4 queues: listener $n did not get queue $((n - 1)) and a ring"; }
done
for n in 1 2; do same "$tmp/up$n" "$tmp/l$n.out" "4 queues: kernel -> listener $n"; same "$tmp/down$n" "$tmp/k$n.in" "4 queues: listener $n -> kernel"; done
echo "xdp_multiproc_tcp.sh: veth with 4 queues: two listeners on queues 0 and 1 (+ ring buffers), byte-exact"
echo "xdp_multiproc_tcp.sh: PASS"
