#!/bin/bash
# Two mtp stacks on the DPDK target, one process each, over net_memif: each resolves the
# other by ARP (the stacks' own) and receives the other's datagrams (stack_test.c).
set -u
B=${B:-build}
BIN=$B/tests/dpdk/stack_test
SOCK=/run/md$$.memif   # abstract socket name: no file
OUT_S=$(mktemp /tmp/mdout.XXXXXX) OUT_C=$(mktemp /tmp/mdout.XXXXXX)
ps= pc=
cleanup() {
    [ -n "$ps" ] && kill "$ps" 2>/dev/null
    [ -n "$pc" ] && kill "$pc" 2>/dev/null
    rm -f "$OUT_S" "$OUT_C"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server:"; cat "$OUT_S"; echo "--- client:"; cat "$OUT_C"; exit 1; }

# Each side lingers 1.5 s after its own success so that the other gets its datagrams too.
MTP_DPDK_ARGS="--vdev=net_memif0,role=server,socket=$SOCK" \
    timeout 60 "$BIN" - 10.213.0.1 10.213.0.2 0 40 1500 >"$OUT_S" 2>&1 &
ps=$!
for _ in $(seq 100); do grep -q '^ready' "$OUT_S" && break; kill -0 $ps 2>/dev/null || break; sleep 0.1; done
grep -q '^ready' "$OUT_S" || fail "the server stack did not come up"
MTP_DPDK_ARGS="--vdev=net_memif0,role=client,socket=$SOCK" \
    timeout 60 "$BIN" - 10.213.0.2 10.213.0.1 0 40 1500 >"$OUT_C" 2>&1 &
pc=$!
wait $ps; rs=$?; ps=
wait $pc; rc=$?; pc=
[ $rs = 0 ] || fail "server stack exited with $rs"
[ $rc = 0 ] || fail "client stack exited with $rc"
echo "ok: memif: two mtp stacks resolved each other and exchanged datagrams"
