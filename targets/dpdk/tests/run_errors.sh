#!/bin/bash
# Every bad configuration of the DPDK target fails its open with a negative code and one
# line "mtp dpdk: ..." that says what is wrong. Each case is its own process (EAL initialises
# once per process). Runs in a namespace of its own (md*<pid>) for the interfaces it names.
set -u
B=${B:-build}
BIN=$B/tests/dpdk/test_open
NS=mde$$
OUT=$(mktemp /tmp/mdout.XXXXXX)
cleanup() { ip netns del "$NS" 2>/dev/null; rm -f "$OUT"; }
trap cleanup EXIT
ip netns add "$NS" && ip -n "$NS" link set lo up || { echo "FAIL: cannot create $NS"; exit 1; }
failed=0

# expect <iface> <queue> <MTP_DPDK_ARGS> <regex the "mtp dpdk:" line must match>
expect() {
    ip netns exec "$NS" env MTP_DPDK_ARGS="$3" timeout 30 "$BIN" "$1" "$2" >"$OUT" 2>&1
    local rc=$? line
    line=$(grep '^mtp dpdk: ' "$OUT")
    if [ $rc != 3 ] || [ "$(grep -c '^mtp dpdk: ' "$OUT")" != 1 ] || ! [[ $line =~ $4 ]]; then
        echo "FAIL: iface=$1 queue=$2 args='$3': exit $rc, wanted one line matching /$4/, got:"
        cat "$OUT"
        failed=1
    else
        echo "ok: $line"
    fi
}

expect md-none$$ 0 "" "no such device: net_af_packet[0-9]+ .*iface=md-none$$"
expect - 0 "--vdev=net_nosuch0" "EAL init failed: No such device .*--vdev=net_nosuch0"
expect - 0 "--no-such-option" "EAL init failed: Invalid argument .*--no-such-option"
expect - 0 "-l 4095" "EAL init failed: Invalid argument .*-l 4095"
expect - 0 "--vdev=net_memif0,role=bogus" "no such device: net_memif0 "
expect lo 4 "" "queue 4 out of range \\(the device has 1 rx / 1 tx queues\\)"
expect lo 0 "" "net_af_packet[0-9]+ is on lo, which the kernel keeps using: .*use MTP_TARGET=xdp for loopback"
expect - 0 "--vdev=net_null0 --vdev=net_null1 $(printf -- '-d x %.0s' $(seq 60))" \
    "MTP_DPDK_ARGS: too many arguments \\(96 words at most"
# and good configurations open, with a pool that drains and refills, and leave the caller's
# CPU affinity alone (even "-l 0", which makes EAL pin its thread to CPU 0)
for args in "--vdev=net_null0" "--vdev=net_null0 -l 0"; do
    if ip netns exec "$NS" env MTP_DPDK_ARGS="$args" timeout 30 "$BIN" - 0 >"$OUT" 2>&1 &&
       grep -q '^opened ' "$OUT" && grep -q '^pool: [0-9]* frames, all returned' "$OUT"; then
        echo "ok: '$args' opens; $(grep '^pool' "$OUT")"
    else
        echo "FAIL: '$args' did not open cleanly:"; cat "$OUT"; failed=1
    fi
done
exit $failed
