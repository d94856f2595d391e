#!/bin/bash
# mtpcat (TCP program, stack, socket layer) on the DPDK target:
#   over a veth pair (net_af_packet, then net_af_xdp) against kernel TCP in another namespace,
#   the kernel's veth with its default offloads (checksum offload, TSO, GSO: partial checksums
#   and 64 KiB GSO packets reach the DPDK side) unless MD_OFFLOADS=off:
#     1. echo through a kernel echo server, 1 MB byte-exact
#     2. mtpcat client -> kernel server: MB megabytes up, 1 MB down, one connection
#     3. kernel client -> mtpcat -l: MB megabytes to mtpcat, 1 MB back
#     4. 2 and 3 again, 20 MB, with 2% of the kernel's incoming packets dropped
#        (nftables in the kernel's namespace)
#   over net_memif, mtpcat to mtpcat (two processes): MB megabytes one way, 1 MB the other.
# Namespaces and veths are md*<pid>, removed by the trap.
#   run_tcp.sh MTPCAT [MB (100)] [LOSS_MB (20)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
kt=$here/../../../tests/peers   # the kernel ends: tests/peers/kernel_{echo,tcp}.py
mtpcat=$(realpath "$1") mb=${2:-100} loss_mb=${3:-20}
py=/usr/bin/python3
id=$$
NSD=mdd$id NSK=mdk$id VD=mdv${id}d VK=mdv${id}k
OUR_IP=10.215.0.2 PEER_IP=10.215.0.1
tmp=$(mktemp -d /tmp/mdtcp.XXXXXX)
bg=()
cleanup() {
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    ip netns del "$NSD" 2>/dev/null
    ip netns del "$NSK" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "run_tcp.sh: FAIL: $*"; for f in "$tmp"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
mkdata() { head -c $(($2 * 1024 * 1024)) /dev/urandom >"$1"; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ ($(stat -c %s "$1") sent, $(stat -c %s "$2") received)"; }
wait_listen() { # port
    for _ in $(seq 100); do ip netns exec "$NSK" ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on port $1"
}
wait_line() { # file pid
    for _ in $(seq 100); do grep -q listening "$1" 2>/dev/null && return 0; kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
    fail "mtpcat -l did not come up"
}

ip netns add "$NSD" && ip netns add "$NSK" &&
ip link add "$VK" type veth peer name "$VD" &&
ip link set "$VK" netns "$NSK" && ip link set "$VD" netns "$NSD" &&
ip -n "$NSK" addr add "$PEER_IP/24" dev "$VK" &&
ip -n "$NSK" link set "$VK" up && ip -n "$NSK" link set lo up &&
ip -n "$NSD" link set "$VD" up || fail "cannot build the namespaces"
case ${MD_OFFLOADS:-on} in
on) ;;
off) ip netns exec "$NSK" ethtool -K "$VK" tx off rx off tso off gso off >/dev/null || fail "ethtool -K $VK failed" ;;
*) fail "MD_OFFLOADS=$MD_OFFLOADS: accepted: on (default), off" ;;
esac
echo "run_tcp.sh: kernel veth offloads ${MD_OFFLOADS:-on}"

mkdata "$tmp/big" "$mb"; mkdata "$tmp/small" 1; mkdata "$tmp/lossbig" "$loss_mb"

client_to_kernel() { # label file
    port=$((port + 1))
    ip netns exec "$NSK" $py "$kt/kernel_tcp.py" serve $port "$tmp/small" "$tmp/k.in" \
        >"$tmp/kernel.err" 2>&1 & k=$!; bg+=($k)
    wait_listen $port
    timeout 240 ip netns exec "$NSD" "$mtpcat" -v "$PEER_IP" $port <"$2" >"$tmp/m.out" \
        2>"$tmp/client.err" || fail "$1 client: mtpcat exited"
    wait $k || fail "$1 client: kernel server exited $?"
    same "$2" "$tmp/k.in" "$1 client (mtpcat -> kernel)"
    same "$tmp/small" "$tmp/m.out" "$1 client (kernel -> mtpcat)"
    echo "run_tcp.sh: $1: mtpcat client -> kernel $(stat -c %s "$2") bytes, kernel -> mtpcat 1 MB, byte-exact"
}
kernel_to_listener() { # label file
    port=$((port + 1))
    timeout 240 ip netns exec "$NSD" "$mtpcat" -v -l $port <"$tmp/small" >"$tmp/m.out" \
        2>"$tmp/listen.err" & m=$!; bg+=($m)
    wait_line "$tmp/listen.err" $m
    timeout 240 ip netns exec "$NSK" $py "$kt/kernel_tcp.py" connect "$OUR_IP" $port "$2" \
        "$tmp/k.in" >/dev/null || fail "$1 listener: kernel client failed"
    wait $m || fail "$1 listener: mtpcat -l exited"
    same "$2" "$tmp/m.out" "$1 listener (kernel -> mtpcat)"
    same "$tmp/small" "$tmp/k.in" "$1 listener (mtpcat -> kernel)"
    echo "run_tcp.sh: $1: kernel client -> mtpcat -l $(stat -c %s "$2") bytes, back 1 MB, byte-exact"
}
export MTP_PROTO=tcp MTP_TARGET=dpdk MTP_IP=$OUR_IP MTP_TEST_TIMEOUT=240
port=5100

for pmd in af_packet af_xdp; do
    if [ $pmd = af_packet ]; then export MTP_IFACE=$VD MTP_DPDK_ARGS=
    else export MTP_IFACE= MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$VD"; fi
    # 1. echo
    port=$((port + 1))
    ip netns exec "$NSK" $py "$kt/kernel_echo.py" tcp $port & bg+=($!)
    wait_listen $port
    timeout 120 ip netns exec "$NSD" "$mtpcat" "$PEER_IP" $port <"$tmp/small" >"$tmp/echo.out" \
        2>"$tmp/echo.err" || fail "$pmd echo: mtpcat exited $?"
    same "$tmp/small" "$tmp/echo.out" "$pmd echo"
    echo "run_tcp.sh: $pmd: echo through kernel TCP: 1 MB byte-exact"
    client_to_kernel "$pmd" "$tmp/big"
    kernel_to_listener "$pmd" "$tmp/big"
    ip netns exec "$NSK" nft -f - <<'NFT' || fail "cannot add the nftables loss rule"
table inet mdloss {
    chain input { type filter hook input priority -300; numgen random mod 100 < 2 drop; }
}
NFT
    client_to_kernel "$pmd, 2% loss" "$tmp/lossbig"
    kernel_to_listener "$pmd, 2% loss" "$tmp/lossbig"
    ip netns exec "$NSK" nft delete table inet mdloss
done

# MTP <-> MTP over memif (two processes in this namespace; abstract socket, no file): no veth,
# so only in the default-offload run
if [ "${MD_OFFLOADS:-on}" = off ]; then echo "run_tcp.sh: PASS"; exit 0; fi
sock=/run/md$id.memif
MTP_IFACE= MTP_IP=10.216.0.1 MTP_DPDK_ARGS="--vdev=net_memif0,role=server,socket=$sock" \
    timeout 240 "$mtpcat" -v -l 5200 <"$tmp/small" >"$tmp/s.out" 2>"$tmp/memif_server.err" &
m=$!; bg+=($m)
wait_line "$tmp/memif_server.err" $m
MTP_IFACE= MTP_IP=10.216.0.2 MTP_DPDK_ARGS="--vdev=net_memif0,role=client,socket=$sock" \
    timeout 240 "$mtpcat" -v 10.216.0.1 5200 <"$tmp/big" >"$tmp/c.out" 2>"$tmp/memif_client.err" ||
    fail "memif: client mtpcat exited"
wait $m || fail "memif: mtpcat -l exited"
same "$tmp/big" "$tmp/s.out" "memif (client -> server)"
same "$tmp/small" "$tmp/c.out" "memif (server -> client)"
echo "run_tcp.sh: memif: mtpcat -> mtpcat $mb MB, back 1 MB, byte-exact"
echo "run_tcp.sh: PASS"
