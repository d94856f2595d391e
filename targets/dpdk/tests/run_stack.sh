#!/bin/bash
# An mtp stack on the DPDK target against the Linux kernel: over a veth pair across two
# namespaces through net_af_packet and net_af_xdp, and through net_tap (whose device path
# does the checksums the stack leaves to it: IPv4 and L4 offload). The kernel resolves and
# pings us (the stack's ARP and ICMP echo), we resolve the kernel and exchange datagrams with
# a kernel socket (stack_test.c). Namespaces and interfaces are md*<pid>, removed by trap.
#   run_stack.sh [af_packet|af_xdp|tap]   (default: all)
set -u
if [ $# = 0 ]; then
    for pmd in af_packet af_xdp tap; do bash "$0" $pmd || exit 1; done
    exit 0
fi
PMD=$1
B=${B:-build}
BIN=$B/tests/dpdk/stack_test
id=$$
NSD=mds$id NSK=mdk$id VD=mdv${id}d VK=mdv${id}k
OUR_IP=10.212.0.2 PEER_IP=10.212.0.1
OUT=$(mktemp /tmp/mdout.XXXXXX) PYOUT=$(mktemp /tmp/mdout.XXXXXX)
pid= pypid=

cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$pypid" ] && kill "$pypid" 2>/dev/null && wait "$pypid" 2>/dev/null
    ip netns del "$NSD" 2>/dev/null
    ip netns del "$NSK" 2>/dev/null
    rm -f "$OUT" "$PYOUT"
}
trap cleanup EXIT
fail() { echo "FAIL ($PMD): $*"; echo "--- stack_test:"; cat "$OUT"; echo "--- kernel peer:"; cat "$PYOUT"; exit 1; }

ip netns add "$NSD" || fail "cannot create namespace $NSD"
case $PMD in
af_packet|af_xdp)
    ip netns add "$NSK" &&
    ip link add "$VK" type veth peer name "$VD" &&
    ip link set "$VK" netns "$NSK" && ip link set "$VD" netns "$NSD" &&
    ip -n "$NSK" addr add "$PEER_IP/24" dev "$VK" &&
    ip -n "$NSK" link set "$VK" up && ip -n "$NSK" link set lo up &&
    ip -n "$NSD" link set "$VD" up || fail "cannot build the namespaces"
    # The kernel's veth keeps its default offloads (partial checksums, TSO/GSO) unless
    # MD_OFFLOADS=off: then it puts complete checksums on the wire, as a NIC would deliver them.
    [ "${MD_OFFLOADS:-on}" = on ] || ip netns exec "$NSK" ethtool -K "$VK" tx off rx off >/dev/null ||
        fail "ethtool -K $VK failed"
    ARGS=
    [ "$PMD" = af_xdp ] && ARGS="--vdev=net_af_xdp0,iface=$VD" ;;
tap)
    # the kernel's side is the tap interface the PMD creates, in the same namespace
    NSK=$NSD VK=mdt$id VD=-
    ARGS="--vdev=net_tap0,iface=$VK" ;;
*)  echo "run_stack.sh: unknown PMD $PMD (af_packet|af_xdp|tap)"; exit 2 ;;
esac

# the kernel's socket answers every datagram from us with one of its own
peer_start() {
    ip netns exec "$NSK" timeout 60 python3 -u - "$PEER_IP" "$OUR_IP" >"$PYOUT" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 7777))
while True:
    data, addr = s.recvfrom(2048)
    print("got", len(data), "bytes from", addr[0], addr[1])
    if addr == (sys.argv[2], 7777):
        s.sendto(b"back", addr)
PY
    pypid=$!
}
[ "$PMD" = tap ] || peer_start
# net_tap's interface goes away with the process: keep it (linger) until the checks are done
LINGER=
[ "$PMD" = tap ] && LINGER=3000
ip netns exec "$NSD" env MTP_DPDK_ARGS="$ARGS" timeout 60 "$BIN" "$VD" "$OUR_IP" "$PEER_IP" 3 50 \
    $LINGER >"$OUT" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ready' "$OUT" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
grep -q '^ready' "$OUT" || fail "the stack did not come up"
our_mac=$(awk '/^ready/ {print $2}' "$OUT")
if [ "$PMD" = tap ]; then
    grep -q '^ready.* offload_caps 3$' "$OUT" || fail "net_tap checksums UDP but offload_caps is not 3"
    # net_tap gives the kernel's interface the port's own MAC: give it one of its own
    ip -n "$NSK" link set "$VK" address 02:6d:64:00:00:01 &&
    ip -n "$NSK" addr add "$PEER_IP/24" dev "$VK" && ip -n "$NSK" link set "$VK" up ||
        fail "cannot configure the tap interface"
    peer_start
fi
ip netns exec "$NSK" ping -c 3 -i 0.2 -W 5 "$OUR_IP" >/dev/null || fail "ping $OUR_IP got no replies"
neigh=$(ip -n "$NSK" neigh show "$OUR_IP" dev "$VK")
wait $pid || { pid=; fail "stack_test failed"; }
pid=
echo "$neigh" | grep -qi "lladdr $our_mac" || fail "kernel neighbour entry '$neigh' is not our MAC $our_mac"
grep -q "^got 0 bytes from $OUR_IP 7777" "$PYOUT" || fail "the kernel got no datagram from the stack"
echo "ok: $PMD: mtp stack: kernel pings and resolves us, we resolve the kernel, datagrams both ways"
