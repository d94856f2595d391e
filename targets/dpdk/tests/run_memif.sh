#!/bin/bash
# Two processes, each with its own EAL and the DPDK target on net_memif (server and
# client on one abstract socket unique to this run), exchange frames both ways.
set -u
B=${B:-build}
BIN=$B/tests/dpdk/test_memif
SOCK=/run/md$$.memif   # abstract socket name (memif default): no file is created
FRAMES=${FRAMES:-20000}
OUT_S=$(mktemp /tmp/mdout.XXXXXX) OUT_C=$(mktemp /tmp/mdout.XXXXXX)
ps= pc=
cleanup() {
    [ -n "$ps" ] && kill "$ps" 2>/dev/null
    [ -n "$pc" ] && kill "$pc" 2>/dev/null
    rm -f "$OUT_S" "$OUT_C"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server:"; cat "$OUT_S"; echo "--- client:"; cat "$OUT_C"; exit 1; }

timeout 60 "$BIN" server "$SOCK" "$FRAMES" 50 >"$OUT_S" 2>&1 &
ps=$!
# DPDK's memif client connects once, when its port starts: the server must listen first.
for _ in $(seq 100); do grep -q '^ready' "$OUT_S" && break; kill -0 $ps 2>/dev/null || break; sleep 0.1; done
grep -q '^ready' "$OUT_S" || fail "the server did not come up"
timeout 60 "$BIN" client "$SOCK" "$FRAMES" 50 >"$OUT_C" 2>&1 &
pc=$!
wait $ps; rs=$?; ps=
wait $pc; rc=$?; pc=
[ $rs = 0 ] || fail "server exited with $rs"
[ $rc = 0 ] || fail "client exited with $rc"
echo "ok: memif: $FRAMES frames each way between two processes"
