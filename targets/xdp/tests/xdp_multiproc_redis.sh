#!/bin/bash
# The user-facing case of docs/MULTIPROC.md: redis-server and redis-benchmark, both under
# libmtp.so, in ONE network namespace on ONE interface:
#   lo:   MTP_IFACE=lo for both; the benchmark's connections to 127.0.0.1 are MTP's (its
#         stack joins the server's interface as a second member): MTP to MTP on one queue;
#   veth: MTP_IFACE=the veth for both; the benchmark connects to the server's veth address
#         (libmtp.so leaves a connection to the process's own address to the kernel's
#         loopback, which reaches the server's listener through its kernel half).
# Each: redis-benchmark -c 50 -P 16 SET/GET with no error; on lo, 10 idle benchmark
# connections are listed as MTP sockets of the benchmark process by mtpstat (so it really ran
# its own stack next to the server's). usage: xdp_multiproc_redis.sh LIBMTP_SO MTPSTAT [N]
set -u
lib=$(realpath "$1") mtpstat=$(realpath "$2") n=${3:-20000}
here=$(cd "$(dirname "$0")" && pwd)
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null ||
    { echo "xdp_multiproc_redis.sh: FAIL: redis-server/redis-benchmark not installed (make deps)"; exit 1; }
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_RUN_DIR=$tmp/run
fail() { echo "xdp_multiproc_redis.sh: FAIL: $*"; tail -5 "$tmp/redis.log" 2>/dev/null; exit 1; }
A() { ip netns exec "$MX_NS_A" env LD_PRELOAD="$lib" MTP_IFACE="$iface" "$@"; }

for arr in lo veth; do
    if [ $arr = lo ]; then iface=lo ip=127.0.0.1; else iface=$MX_DEV_A ip=$MX_IP_A; fi
    ip netns exec "$MX_NS_A" env LD_PRELOAD="$lib" MTP_IFACE="$iface" redis-server --port 6379 --save '' --appendonly no --protected-mode no --logfile "$tmp/redis.log" & srv=$!
    ok=0
    for _ in $(seq 100); do
        A timeout 5 redis-cli -h $ip ping 2>/dev/null | grep -q PONG && { ok=1; break; }
        kill -0 $srv 2>/dev/null || break; sleep 0.2
    done
    [ $ok = 1 ] || fail "$arr: redis-server does not answer on $ip"
    if [ $arr = lo ]; then
        ip netns exec "$MX_NS_A" env LD_PRELOAD="$lib" MTP_IFACE="$iface" timeout 60 redis-benchmark -h $ip -I -c 10 >/dev/null 2>&1 & idle=$!
        socks=0
        for _ in $(seq 100); do
            socks=$(ip netns exec "$MX_NS_A" "$mtpstat" 2>/dev/null | grep "^ESTAB" | grep -c ":6379 " || true)
            [ "$socks" -ge 20 ] && break; sleep 0.1
        done
        procs=$(ip netns exec "$MX_NS_A" "$mtpstat" 2>/dev/null | grep -cE "^pid [0-9]+ redis-(server|benchmark)")
        kill $idle; wait $idle 2>/dev/null
        [ "$socks" -ge 20 ] && [ "$procs" = 2 ] || { ip netns exec "$MX_NS_A" "$mtpstat" | head -30; fail "lo: the benchmark's 10 idle connections are not MTP connections of two stacks ($socks ends seen)"; }
        echo "xdp_multiproc_redis.sh: lo: 10 idle benchmark connections, both ends MTP sockets ($socks ends in $procs processes' stacks)"
    fi
    A timeout 120 redis-benchmark -h $ip -c 50 -P 16 -n "$n" -q -t set,get >"$tmp/bench" 2>&1 ||
        { cat "$tmp/bench"; fail "$arr: redis-benchmark exited $?"; }
    grep -qiE "error|refused|reset" "$tmp/bench" && { cat "$tmp/bench"; fail "$arr: redis-benchmark saw errors"; }
    kill -0 $srv 2>/dev/null || fail "$arr: redis-server died"
    kill $srv; wait $srv
    echo "xdp_multiproc_redis.sh: $arr: redis-benchmark -c 50 -P 16 -n $n: $(tr '\r' '\n' <"$tmp/bench" | grep 'requests per second' | sed 's/ requests per second.*/ req\/s/' | tr '\n' ' ')"
done
echo "xdp_multiproc_redis.sh: PASS"
