#!/bin/bash
# redis-server (default bind: every IPv4 and IPv6 address) with redis-cli SET/GET of 1 B, 1 KB,
# 100 KB and 1 MB values verified, redis-benchmark -c 50 -P 16 with no error, and in the same
# server process two side channels that stay in the kernel: its AF_UNIX socket and, when the
# stack is on the veth, TCP over the namespace's 127.0.0.1. --long: 100000 requests, not 10000.
APP=redis.sh
source "$(dirname "$0")/lib.sh"
SRV_LOG=$TMP/redis.log
srv redis-server --port 6379 --save '' --appendonly no --protected-mode no \
    --unixsocket "$TMP/redis.sock" --logfile "$TMP/redis.log"
retry 20 cli 5 redis-cli -h "$SRV_IP" ping >/dev/null 2>&1 || fail "redis-server does not answer on $SRV_IP"
for size in 1 1024 102400 1048576; do
    mkfile "$TMP/v$size" "$size"
    cli 30 redis-cli -h "$SRV_IP" -x set "k$size" <"$TMP/v$size" >/dev/null || fail "SET of $size bytes"
    cli 30 redis-cli -h "$SRV_IP" --raw get "k$size" | head -c "$size" | cmp -s - "$TMP/v$size" ||
        fail "GET of $size bytes differs"
    got=$(cli 10 redis-cli -h "$SRV_IP" strlen "k$size")
    [ "$got" = "$size" ] || fail "STRLEN k$size = $got"
done
say "redis-cli SET/GET of 1 B, 1 KB, 100 KB, 1 MB values verified"

# side channels of the same process: AF_UNIX, and the kernel's loopback
[ "$(srv_ns redis-cli -s "$TMP/redis.sock" strlen k1048576)" = 1048576 ] ||
    fail "the AF_UNIX side channel does not answer"
[ "$(srv_ns redis-cli -h 127.0.0.1 strlen k1024)" = 1024 ] || fail "127.0.0.1 does not answer"
say "same process: AF_UNIX socket and 127.0.0.1$([ "$ARR" = lo ] && echo ' (the stack)' || echo ' (kernel)') answer"

n=$([ $LONG = 1 ] && echo 100000 || echo 10000)
cli 120 redis-benchmark -h "$SRV_IP" -c 50 -P 16 -n "$n" -q -t set,get >"$TMP/bench" 2>&1 ||
    { cat "$TMP/bench"; fail "redis-benchmark exited $?"; }
grep -qiE "error|refused|reset" "$TMP/bench" && { cat "$TMP/bench"; fail "redis-benchmark saw errors"; }
say "redis-benchmark -c 50 -P 16 -n $n: $(tr '\r' '\n' <"$TMP/bench" | grep 'requests per second' | sed 's/ requests per second.*/ req\/s/' | tr '\n' ' ')"
[ "$(cli 10 redis-cli -h "$SRV_IP" dbsize)" -ge 4 ] || fail "the keys are gone"
alive
stop "$SRV_PID"
say "ok"
