#!/bin/bash
# Segmentation offload (TSO, multi-segment mbufs) on net_tap: mtpcat -l (TCP program) sends
# MB megabytes to a kernel TCP client through the PMD's tap interface (the PMD cuts the
# super-frames in software, the kernel checks every checksum), receives 1 MB back; both
# byte-exact. Run twice: with the offload (super-frames must have been sent) and with
# MTP_TSO=off (none: the same device, software segmentation).
# The namespace is md*<pid>, removed by the trap (the tap interface goes with mtpcat).
#   run_tso.sh MTPCAT [MB (50)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
kt=$here/../../../tests/peers   # the kernel ends: tests/peers/kernel_{echo,tcp}.py
mtpcat=$(realpath "$1") mb=${2:-50}
py=/usr/bin/python3
id=$$
NS=mdo$id TAP=mdo${id}t
OUR_IP=10.218.0.2 PEER_IP=10.218.0.1
tmp=$(mktemp -d /tmp/mdtso.XXXXXX)
bg=()
cleanup() {
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    ip netns del "$NS" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "run_tso.sh: FAIL: $*"; for f in "$tmp"/*.err; do [ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done; exit 1; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ ($(stat -c %s "$1") sent, $(stat -c %s "$2") received)"; }

ip netns add "$NS" && ip -n "$NS" link set lo up || fail "cannot create namespace $NS"
head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/big"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/small"

export MTP_PROTO=tcp MTP_TARGET=dpdk MTP_IP=$OUR_IP MTP_IFACE= MTP_TEST_TIMEOUT=240
export MTP_DPDK_ARGS="--vdev=net_tap0,iface=$TAP"
port=5300
transfer() { # label [env assignments for mtpcat]
    local label=$1; shift
    port=$((port + 1))
    rm -f "$tmp/listen.err"
    ip netns exec "$NS" env "$@" timeout 240 "$mtpcat" -v -l $port <"$tmp/big" >"$tmp/m.out" \
        2>"$tmp/listen.err" & m=$!; bg+=($m)
    for _ in $(seq 100); do grep -q listening "$tmp/listen.err" 2>/dev/null && break
        kill -0 $m 2>/dev/null || break; sleep 0.1; done
    grep -q listening "$tmp/listen.err" || fail "$label: mtpcat -l did not come up"
    # net_tap gives the kernel's interface the port's own MAC: give it one of its own
    ip -n "$NS" link set "$TAP" address 02:6d:64:00:00:01 &&
    ip -n "$NS" addr add "$PEER_IP/24" dev "$TAP" && ip -n "$NS" link set "$TAP" up ||
        fail "$label: cannot configure the tap interface"
    timeout 240 ip netns exec "$NS" $py "$kt/kernel_tcp.py" connect "$OUR_IP" $port \
        "$tmp/small" "$tmp/k.in" >/dev/null || fail "$label: kernel client failed"
    wait $m || fail "$label: mtpcat -l exited"
    same "$tmp/big" "$tmp/k.in" "$label (mtpcat -> kernel)"
    same "$tmp/small" "$tmp/m.out" "$label (kernel -> mtpcat)"
    stats=$(grep 'mtpcat: sent' "$tmp/listen.err") || fail "$label: no statistics from mtpcat -v"
    supers=$(sed -n 's/.*super-frames \([0-9]*\) (\([0-9]*\) packets).*/\1 \2/p' <<<"$stats")
    [ -n "$supers" ] || fail "$label: no super-frame count in: $stats"
    echo "run_tso.sh: $label: mtpcat -> kernel $mb MB, back 1 MB, byte-exact;" \
         "super-frames (packets in them): $supers; $(sed 's/^mtpcat: //' <<<"$stats")"
}

transfer "net_tap with TSO"
[ "${supers% *}" -gt 0 ] || fail "net_tap with TSO: no super-frame was sent"
# a super-frame the device refused would count here (and leave its bytes to retransmission)
grep -q 'tx_full 0;' <<<"$stats" || fail "net_tap with TSO: frames were refused: $stats"
transfer "net_tap, TSO off" MTP_TSO=off
[ "${supers% *}" = 0 ] || fail "net_tap, TSO off: super-frames were sent"
echo "run_tso.sh: PASS"
