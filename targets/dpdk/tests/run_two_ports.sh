#!/bin/bash
# Two DPDK target instances in one process (one EAL, hot-plugged second device) over memif.
set -u
B=${B:-build}
OUT=$(mktemp /tmp/mdout.XXXXXX)
trap 'rm -f "$OUT"' EXIT
if ! timeout 60 "$B/tests/dpdk/test_two_ports" "/run/md$$.memif" 5000 50 >"$OUT" 2>&1; then
    echo "FAIL: test_two_ports"; cat "$OUT"; exit 1
fi
echo "ok: two ports in one process over memif, reopened after close"
