#!/bin/bash
# The DPDK target against the Linux kernel in a namespace, through three PMDs:
#   af_packet  a veth pair across two namespaces, MTP_IFACE convenience (no --vdev)
#   af_xdp     the same veth pair, --vdev=net_af_xdp0 in MTP_DPDK_ARGS
#   tap        net_tap's kernel interface in one namespace (checksum offloads done by the
#              device path, an rx-interrupt wake_fd)
# The test sleeps in epoll on wake_fd when idle (net_af_xdp: its AF_XDP socket, which must not
# wake it without a frame; net_af_packet: the 1 ms ticker; net_tap: its rx interrupt fd).
# Checked: ARP both ways, ping answered, UDP echoed with checksums done by the target.
# Namespaces and interfaces are named md*<pid>, removed by the trap.
#   run_veth.sh [af_packet|af_xdp|tap]   (default: all, one after the other)
set -u
if [ $# = 0 ]; then
    for pmd in af_packet af_xdp tap; do bash "$0" $pmd || exit 1; done
    exit 0
fi
PMD=$1
B=${B:-build}
BIN=$B/tests/dpdk/test_veth
id=$$
NSD=mdd$id NSK=mdk$id VD=mdv${id}d VK=mdv${id}k
OUR_IP=10.211.0.2 PEER_IP=10.211.0.1
OUT=$(mktemp /tmp/mdout.XXXXXX)
pid=

cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    ip netns del "$NSD" 2>/dev/null
    ip netns del "$NSK" 2>/dev/null
    rm -f "$OUT"
}
trap cleanup EXIT
fail() { echo "FAIL ($PMD): $*"; echo "--- test output:"; cat "$OUT"; exit 1; }

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
*)  echo "run_veth.sh: unknown PMD $PMD (af_packet|af_xdp|tap)"; exit 2 ;;
esac

ip netns exec "$NSD" env MTP_DPDK_ARGS="$ARGS" timeout 60 "$BIN" "$VD" "$OUR_IP" "$PEER_IP" 3 50 \
    >"$OUT" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q '^ready' "$OUT" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
grep -q '^ready' "$OUT" || fail "the target did not come up"
our_mac=$(awk '/^ready/ {print $2}' "$OUT")
if [ "$PMD" = af_xdp ]; then
    grep -q '^ready.*(.*AF_XDP socket wake-ups)' "$OUT" ||
        fail "net_af_xdp: wake_fd is not the port's AF_XDP socket: $(grep '^ready' "$OUT")"
fi
if [ "$PMD" = tap ]; then
    grep -q '^ready.* wake_fd [0-9]' "$OUT" || fail "net_tap has rx interrupts but wake_fd is -1"
    grep -q '^ready.* offload_caps 3 ' "$OUT" || fail "net_tap checksums but offload_caps is not 3"
    # net_tap gives the kernel's interface the port's own MAC: give it one of its own
    ip -n "$NSK" link set "$VK" address 02:6d:64:00:00:01 &&
    ip -n "$NSK" addr add "$PEER_IP/24" dev "$VK" && ip -n "$NSK" link set "$VK" up ||
        fail "cannot configure the tap interface"
fi

ip netns exec "$NSK" ping -c 3 -i 0.2 -W 5 "$OUR_IP" >/dev/null || fail "ping $OUR_IP got no replies"
# read the kernel's side now: the tap interface goes away with the test process
neigh=$(ip -n "$NSK" neigh show "$OUR_IP" dev "$VK")
peer_mac=$(ip -n "$NSK" -br link show "$VK" | awk '{print $3}')
ip netns exec "$NSK" timeout 20 python3 - "$OUR_IP" <<'PY' || fail "UDP echo did not come back"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
msg = b"mtp dpdk udp echo"
for _ in range(10):
    s.sendto(msg, (sys.argv[1], 7777))
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        continue
    sys.exit(0 if data == msg and addr == (sys.argv[1], 7777) else 1)
sys.exit(1)
PY
wait $pid || { pid=; fail "test_veth failed"; }
pid=
echo "$neigh" | grep -qi "lladdr $our_mac" || fail "kernel neighbour entry '$neigh' is not our MAC $our_mac"
grep -qi "^peer $peer_mac" "$OUT" || fail "we resolved $PEER_IP to the wrong MAC (kernel has $peer_mac)"
echo "ok: $PMD: ARP both ways, ping, UDP echo (our MAC $our_mac, $(grep "^empty wake-ups" "$OUT"))"
