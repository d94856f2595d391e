#!/bin/bash
# memcached (default: 4 worker threads) with libmemcached-tools clients: memccp/memccat of a
# 100 KB and a 500 KB value verified, memcstat; --long: memcslap with 8 concurrent clients.
APP=memcached.sh
source "$(dirname "$0")/lib.sh"
SRV_LOG=$TMP/memcached.log
srv sh -c "exec memcached -u root -p 11211 -U 0 -l 0.0.0.0 -m 64 -I 2m -v >'$SRV_LOG' 2>&1"
servers=--servers=$SRV_IP:11211
retry 20 cli 5 memcstat "$servers" >/dev/null 2>&1 || fail "memcached does not answer on $SRV_IP"
threads=$(cli 5 memcstat "$servers" | awk '/threads:/ {print $2}')
[ "$threads" = 4 ] || fail "memcached runs $threads threads, want the default 4"
for size in 102400 512000; do
    mkfile "$TMP/val$size" "$size"
    (cd "$TMP" && cli 20 memccp "$servers" "val$size" 2>"$TMP/err") ||
        fail "memccp of $size bytes exited $?: $(head -3 "$TMP/err")"
    cli 20 memccat "$servers" "val$size" >"$TMP/got" 2>"$TMP/err" ||
        fail "memccat of $size bytes exited $?: $(head -3 "$TMP/err")"
    head -c "$size" "$TMP/got" | cmp -s - "$TMP/val$size" || fail "value of $size bytes differs"
done
say "memccp/memccat 100 KB and 500 KB verified ($threads worker threads)"
if [ $LONG = 1 ]; then
    cli 120 memcslap "$servers" --concurrency=8 --execute-number=2000 >"$TMP/slap" 2>&1 ||
        { cat "$TMP/slap"; fail "memcslap exited $?"; }
    say "memcslap --concurrency=8 --execute-number=2000: $(grep 'keys by' "$TMP/slap" | tr -s ' ' | sed 's/^Time to //')"
fi
items=$(cli 5 memcstat "$servers" | awk '/curr_items:/ {print $2}')
[ "${items:-0}" -ge 2 ] || fail "curr_items = $items"
alive
stop "$SRV_PID"
say "ok"
