#!/bin/bash
# Every buffer of the DPDK target's mbuf pool reaches the kernel: test_pool sends one UDP
# datagram from each mbuf the pool holds to a kernel socket across a veth pair (default
# offloads), through net_af_xdp and net_af_packet; the socket must count every datagram the
# device accepted, and net_af_xdp's AF_XDP socket must refuse none (XDP_STATISTICS).
# Before the pool was laid out for net_af_xdp's UMEM, ~40 % of the mbufs lay outside it on a
# machine without hugepages, and their frames vanished (TCP connections stalled for good).
# Namespaces and interfaces are named md*<pid>, removed by the trap.
#   run_pool.sh [af_xdp|af_packet]   (default: both)
set -u
if [ $# = 0 ]; then
    for pmd in af_xdp af_packet; do bash "$0" $pmd || exit 1; done
    exit 0
fi
PMD=$1
B=${B:-build}
BIN=$B/tests/dpdk/test_pool
id=$$
NSD=mpd$id NSK=mpk$id VD=mpv${id}d VK=mpv${id}k
OUR_IP=10.212.0.2 PEER_IP=10.212.0.1 PORT=7778
OUT=$(mktemp /tmp/mdout.XXXXXX) CNT=$(mktemp /tmp/mdout.XXXXXX)
rpid=
cleanup() {
    [ -n "$rpid" ] && kill "$rpid" 2>/dev/null && wait "$rpid" 2>/dev/null
    ip netns del "$NSD" 2>/dev/null
    ip netns del "$NSK" 2>/dev/null
    rm -f "$OUT" "$CNT"
}
trap cleanup EXIT
fail() { echo "FAIL ($PMD): $*"; echo "--- test output:"; cat "$OUT"; exit 1; }

case $PMD in
af_xdp) ARGS="--vdev=net_af_xdp0,iface=$VD" ;;
af_packet) ARGS= ;;
*) echo "run_pool.sh: unknown PMD $PMD (af_xdp|af_packet)"; exit 2 ;;
esac
ip netns add "$NSD" && ip netns add "$NSK" &&
ip link add "$VK" type veth peer name "$VD" &&
ip link set "$VK" netns "$NSK" && ip link set "$VD" netns "$NSD" &&
ip -n "$NSK" addr add "$PEER_IP/24" dev "$VK" &&
ip -n "$NSK" link set "$VK" up && ip -n "$NSK" link set lo up &&
ip -n "$NSD" link set "$VD" up || fail "cannot build the namespaces"
peer_mac=$(ip -n "$NSK" -br link show "$VK" | awk '{print $3}')

# The kernel's socket: a receive buffer that holds every datagram (nothing is dropped for
# want of room), counting until 2 s pass without one; it prints the count.
ip netns exec "$NSK" timeout 60 python3 - "$PEER_IP" "$PORT" >"$CNT" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 64 << 20)  # SO_RCVBUFFORCE (root)
s.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
s.settimeout(20)
n = 0
try:
    while True:
        s.recv(2048)
        n += 1
        s.settimeout(2)
except socket.timeout:
    pass
print("received", n, flush=True)
PY
rpid=$!
for _ in $(seq 100); do grep -q '^listening' "$CNT" && break; sleep 0.1; done
grep -q '^listening' "$CNT" || fail "the kernel's socket did not start: $(cat "$CNT")"

ip netns exec "$NSD" env MTP_DPDK_ARGS="$ARGS" timeout 60 "$BIN" "$VD" "$OUR_IP" "$PEER_IP" \
    "$peer_mac" "$PORT" >"$OUT" 2>&1 || fail "test_pool failed"
wait "$rpid"
rpid=
sent=$(awk '/^buffers/ {print $4}' "$OUT")
got=$(awk '/^received/ {print $2}' "$CNT")
[ -n "$sent" ] && [ -n "$got" ] || fail "no counts (receiver: $(cat "$CNT"))"
[ "$got" = "$sent" ] || fail "the kernel received $got of the $sent datagrams the device accepted"
echo "ok: $PMD: $(grep '^buffers' "$OUT" | cut -d'(' -f1)received $got"
