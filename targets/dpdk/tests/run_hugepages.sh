#!/bin/bash
# The DPDK target's memory default with hugepages: when at least 64 MB of 2 MB hugepages are
# free, EAL runs --in-memory on hugepages (not --no-huge). Reserves 128 pages for the run
# (the previous count is restored by the trap), starts a memif server, checks that it took
# hugepages, then runs the frame exchange with a client as run_memif.sh does.
set -u
B=${B:-build}
BIN=$B/tests/dpdk/test_memif
NR=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
SOCK=/run/md$$.memif
OUT_S=$(mktemp /tmp/mdout.XXXXXX) OUT_C=$(mktemp /tmp/mdout.XXXXXX)
ps= pc= restore=
cleanup() {
    [ -n "$ps" ] && kill "$ps" 2>/dev/null && wait "$ps" 2>/dev/null
    [ -n "$pc" ] && kill "$pc" 2>/dev/null && wait "$pc" 2>/dev/null
    [ -n "$restore" ] && echo "$restore" >"$NR"
    rm -f "$OUT_S" "$OUT_C"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- server:"; cat "$OUT_S"; echo "--- client:"; cat "$OUT_C"; exit 1; }

[ -w "$NR" ] || { echo "FAIL: cannot reserve hugepages ($NR not writable)"; exit 1; }
have=$(cat "$NR")
want=$((have + 128))
restore=$have
echo "$want" >"$NR"
[ "$(cat "$NR")" = "$want" ] || fail "could not reserve 128 hugepages"

timeout 60 "$BIN" server "$SOCK" 20000 50 >"$OUT_S" 2>&1 &
ps=$!
for _ in $(seq 100); do grep -q '^ready' "$OUT_S" && break; kill -0 $ps 2>/dev/null || break; sleep 0.1; done
grep -q '^ready' "$OUT_S" || fail "the server did not come up"
# the server's own hugepage mappings (not the global free count, which other DPDK processes
# running at the same time move too)
server=$(pgrep -P $ps -x test_memif) || fail "cannot find the server process"
hp_kb=$(awk '/^HugetlbPages:/ {print $2}' /proc/$server/status)
[ -n "$hp_kb" ] && [ "$hp_kb" -gt 0 ] || fail "EAL took no hugepages (HugetlbPages: ${hp_kb:-?} kB)"
timeout 60 "$BIN" client "$SOCK" 20000 50 >"$OUT_C" 2>&1 &
pc=$!
wait $ps; rs=$?; ps=
wait $pc; rc=$?; pc=
[ $rs = 0 ] || fail "server exited with $rs"
[ $rc = 0 ] || fail "client exited with $rc"
echo "ok: hugepages: EAL in memory on $((hp_kb / 1024)) MB of hugepages, memif exchange done"
