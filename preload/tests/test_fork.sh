#!/bin/bash
# fork() under libmtp.so (root; namespaces via tests/netns.sh, every step bounded by timeout):
#   1. an echo server that forks a child every 20 ms (or 2 MB) while it echoes 40 MB to a
#      kernel client; each child closes the listener and the connection it inherited and ends
#      (exit() or _exit(), at once or 30 ms later): the transfer stays byte-exact, the listener
#      serves on, still through MTP (the kernel's TCP of the server's namespace carries nothing)
#   2. daemon() and fork/setsid/fork before the first socket: the daemon's own stack serves
#      (its frames are in its MTP_PCAP), byte-exact
#   3. a connection made while the server's listener is dormant (its process forked and no
#      stack serves the port: the kernel accepts it) stays the kernel's after the listener
#      joins again: echoed byte-exact, not reset; the next connection is MTP's again
#   4. a process closes its listener while a connection of its own lives and another process
#      (its forked child) listens on: every new connection goes to the child (none reset),
#      the first connection echoes byte-exact across the close; after the process closed it
#      first (TIME_WAIT), a connection from the same client port goes to the child too
#   5. a process closes its listener while connections wait in its accept queue and another
#      process (its forked child) listens on (nginx's old worker at a reload): each waiting
#      connection moves to the child and is echoed there, none reset
#   6. redis-server under libmtp.so with 300,000 keys: BGSAVE (up to three times, each started
#      while redis-benchmark with 50 kernel clients runs): every save succeeds, no benchmark
#      error, no connection lost, no key lost, the new connections still MTP's
# usage: test_fork.sh LIBMTP_SO LM_FORK
set -u
lib=$(realpath "$1") fork_bin=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/netns.sh"
tmp=$(mktemp -d)
fail() { echo "test_fork.sh: FAIL: $*"; exit 1; }
say() { echo "test_fork.sh: $*"; }

mx_netns_up || exit 1
mx__prev_exit="rm -rf '$tmp'"
export MTP_RUN_DIR=$tmp/run
bg_mtp() {
    local side=$1; shift
    local dev; eval "dev=\$MX_DEV_$side"
    mx_bg "$side" env LD_PRELOAD="$lib" MTP_IFACE="$dev" "$@"
}
wait_listen() { # side port
    for _ in $(seq 100); do mx_in "$1" ss -Htln "sport = :$2" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on $1:$2"
}
stop() { # pid
    kill "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    fail "pid $1 did not stop"
}
kernel_tcp_in() { mx_in A awk '/^Tcp:/ { if (h) print $11; h = 1 }' /proc/net/snmp; }
pcap_frames() { # file: frames in a pcap (0: no file)
    [ -s "$1" ] || { echo 0; return; }
    python3 -c 'import struct,sys
d=open(sys.argv[1],"rb").read(); o=24; n=0
while o+16<=len(d): n+=1; o+=16+struct.unpack_from("<I",d,o+8)[0]
print(n)' "$1"
}

# ---------------------------------------------------------------- 1. children close and exit
bg_mtp A timeout 100 "$fork_bin" forkserve 7400 >"$tmp/fs.out" 2>&1; srv=$MX_BG_PID
wait_listen A 7400
k0=$(kernel_tcp_in)
mx_in B timeout 60 "$fork_bin" stream "$MX_IP_A" 7400 40000000 >"$tmp/s1" 2>&1 ||
    { cat "$tmp/s1" "$tmp/fs.out"; fail "echo while children close and exit"; }
mx_in B timeout 30 "$fork_bin" stream "$MX_IP_A" 7400 1000000 >"$tmp/s2" 2>&1 ||
    { cat "$tmp/s2" "$tmp/fs.out"; fail "the listener after the children closed it"; }
for _ in $(seq 50); do [ "$(grep -c 'connection done' "$tmp/fs.out")" = 2 ] && break; sleep 0.1; done
n=$(grep 'connection done' "$tmp/fs.out" | tail -1 | awk '{print $3}')
[ "${n:-0}" -ge 10 ] || { cat "$tmp/fs.out"; fail "the server forked only ${n:-0} children"; }
kill -0 "$srv" 2>/dev/null || fail "the forking server died"
k=$(( $(kernel_tcp_in) - k0 ))
[ $k -lt 1000 ] || fail "the kernel's TCP carried $k segments: the forks moved the listener off MTP"
stop "$srv"
say "40 MB echoed byte-exact while $n forked children closed the inherited listener and connection and exited; the listener serves on"

# ---------------------------------------------------------------- 2. daemon(), double fork
for how in 1 2; do
    rm -f "$tmp/pid"
    bg_mtp A MTP_PCAP="$tmp/d$how.pcap" timeout 60 "$fork_bin" daemon 750$how $how "$tmp/pid" \
        >"$tmp/d$how.out" 2>&1
    wait_listen A 750$how
    for _ in $(seq 50); do [ -s "$tmp/pid" ] && break; sleep 0.1; done
    dpid=$(cat "$tmp/pid")
    mx_in B timeout 30 "$fork_bin" stream "$MX_IP_A" 750$how 5000000 >"$tmp/d$how.s" 2>&1 ||
        { cat "$tmp/d$how.s" "$tmp/d$how.out"; fail "daemon ($how): echo"; }
    frames=$(pcap_frames "$tmp/d$how.pcap")
    [ "$frames" -gt 1000 ] || fail "daemon ($how): its stack carried $frames frames (the kernel served?)"
    stop "$dpid"
    what=daemon; [ $how = 2 ] && what="fork, setsid, fork"
    say "$what before the first socket: the daemon's own stack served 5 MB byte-exact ($frames frames)"
done

# ---------------------------------------------------------------- 3. a dormant listener's connection
bg_mtp A timeout 60 "$fork_bin" dormantserve 7600 "$tmp/go" >"$tmp/dz.out" 2>&1; dsrv=$MX_BG_PID
for _ in $(seq 100); do grep -q dormant "$tmp/dz.out" && break; sleep 0.1; done
grep -q dormant "$tmp/dz.out" || { cat "$tmp/dz.out"; fail "dormantserve did not start"; }
k0=$(kernel_tcp_in)
mx_in B timeout 30 "$fork_bin" stream "$MX_IP_A" 7600 2000000 >"$tmp/dz1" 2>&1 &
dz1=$!
sleep 0.5 # connected through the kernel meanwhile, its first bytes queued there
touch "$tmp/go"
wait $dz1 || { cat "$tmp/dz1" "$tmp/dz.out"; fail "the connection made while the listener was dormant (reset when it joined?)"; }
kd=$(( $(kernel_tcp_in) - k0 ))
[ $kd -ge 20 ] || fail "the connection made while the listener was dormant was not the kernel's ($kd segments): the test did not test that"
k0=$(kernel_tcp_in)
mx_in B timeout 30 "$fork_bin" stream "$MX_IP_A" 7600 2000000 >"$tmp/dz2" 2>&1 ||
    { cat "$tmp/dz2" "$tmp/dz.out"; fail "the connection after the listener joined again"; }
k=$(( $(kernel_tcp_in) - k0 ))
[ $k -lt 200 ] || fail "the connection after the listener joined again: the kernel's TCP carried $k segments"
for _ in $(seq 50); do grep -q 'connection 2 done' "$tmp/dz.out" && break; sleep 0.1; done
grep -q 'connection 2 done' "$tmp/dz.out" || { cat "$tmp/dz.out"; fail "dormantserve did not finish"; }
stop "$dsrv"
say "a connection made while the listener was dormant stayed the kernel's ($kd segments) and echoed 2 MB byte-exact; the next one was MTP's"

# ---------------------------------------------------------------- 4. a listener closes, its connection lives
# (nginx's reload: the old worker closes its listener and finishes its connections; the new
# one serves the port.) Every new connection must reach the child: one hashed to the process
# whose listener closed would be reset. The first connection echoes across the close; then
# the server closes it first (TIME_WAIT there) and its client at once connects again from the
# same port: that one is the child's too.
bg_mtp A timeout 60 "$fork_bin" retireserve 7700 "$tmp/go4" "$tmp/end4" >"$tmp/rs.out" 2>&1
rsrv=$MX_BG_PID
wait_listen A 7700
mx_in B timeout 40 python3 "$here/retire_client.py" "$MX_IP_A" 7700 47700 "$tmp/stop4" >"$tmp/rs1" 2>&1 &
rs1=$!
for _ in $(seq 100); do grep -q echoing "$tmp/rs1" && grep -q serves "$tmp/rs.out" && break; sleep 0.1; done
grep -q serves "$tmp/rs.out" || { cat "$tmp/rs1" "$tmp/rs.out"; fail "retireserve did not fork"; }
touch "$tmp/go4"
for _ in $(seq 50); do grep -q 'listener closed' "$tmp/rs.out" && break; sleep 0.1; done
k0=$(kernel_tcp_in)
mx_in B timeout 40 python3 "$here/../../targets/xdp/tests/reuseport_client.py" "$MX_IP_A" 7700 100 \
    >"$tmp/rs2" 2>&1 || { cat "$tmp/rs2" "$tmp/rs.out"; fail "new connections after a listener closed (reset by it?)"; }
k=$(( $(kernel_tcp_in) - k0 ))
[ $k -lt 200 ] || fail "new connections after a listener closed: the kernel's TCP carried $k segments"
kill -0 $rs1 2>/dev/null || { cat "$tmp/rs1"; fail "the first connection ended before the new ones were made"; }
touch "$tmp/stop4"; sleep 0.2; touch "$tmp/end4"
wait $rs1 || { cat "$tmp/rs1" "$tmp/rs.out"; fail "the connection of the process whose listener closed, or the next from its port"; }
grep -q 'first connection done' "$tmp/rs.out" || { cat "$tmp/rs.out"; fail "retireserve did not close first"; }
stop "$rsrv"
say "a process closed its listener with a connection open: 100 new connections all went to the process still listening; $(grep -o '[0-9]* echoes' "$tmp/rs1") byte-exact on its own connection across the close; after it closed that one first (TIME_WAIT), a new connection from the same port was served"

# ---------------------------------------------------------------- 5. a closing listener's queue moves
bg_mtp A timeout 60 "$fork_bin" handoffserve 7701 "$tmp/go5" >"$tmp/hs.out" 2>&1
hsrv=$MX_BG_PID
wait_listen A 7701
for _ in $(seq 100); do grep -q 'holds its queue' "$tmp/hs.out" && grep -q 'child serving' "$tmp/hs.out" && break; sleep 0.1; done
grep -q 'child serving' "$tmp/hs.out" || { cat "$tmp/hs.out"; fail "handoffserve's child did not start serving"; }
mx_in B timeout 30 python3 "$here/handoff_client.py" "$MX_IP_A" 7701 24 "$tmp/go5" >"$tmp/hc" 2>&1 ||
    { cat "$tmp/hc" "$tmp/hs.out"; fail "connections waiting in a closing listener's queue"; }
for _ in $(seq 50); do grep -q 'listener closed' "$tmp/hs.out" && break; sleep 0.1; done
grep -q 'listener closed' "$tmp/hs.out" || { cat "$tmp/hs.out"; fail "handoffserve did not close its listener"; }
stop "$hsrv"
say "a process closed its listener with connections in its queue: $(cat "$tmp/hc")"

# ---------------------------------------------------------------- 6. redis BGSAVE under load
if command -v redis-server >/dev/null; then
    mkdir -p "$tmp/rdb"
    bg_mtp A timeout 100 redis-server --bind 0.0.0.0 --port 6379 --save '' --appendonly no \
        --protected-mode no --dir "$tmp/rdb" --enable-debug-command yes --logfile "$tmp/redis.log"
    redis=$MX_BG_PID
    wait_listen A 6379
    cli() { mx_in B timeout 20 redis-cli -h "$MX_IP_A" "$@"; }
    [ "$(cli debug populate 300000 key 100)" = OK ] || fail "redis: DEBUG POPULATE"
    k0=$(kernel_tcp_in)
    mx_in B timeout 80 redis-benchmark -h "$MX_IP_A" -c 50 -n 200000 -r 300000 -q -t set,get \
        >"$tmp/bench" 2>&1 &
    bench=$!
    sleep 1
    saves=0 # BGSAVEs started while the benchmark ran
    while [ $saves -lt 3 ] && kill -0 $bench 2>/dev/null; do
        cli bgsave | grep -q "started" || fail "redis: BGSAVE $((saves + 1)) not started"
        saves=$((saves + 1))
        for _ in $(seq 300); do
            cli info persistence | grep -q 'rdb_bgsave_in_progress:0' && break; sleep 0.1
        done
        cli info persistence | grep -q 'rdb_last_bgsave_status:ok' || fail "redis: BGSAVE $saves failed"
    done
    wait $bench || { cat "$tmp/bench"; fail "redis-benchmark during BGSAVE"; }
    grep -qi error "$tmp/bench" && { cat "$tmp/bench"; fail "redis-benchmark during BGSAVE: errors"; }
    [ $saves -ge 1 ] || fail "redis: the benchmark ended before the first BGSAVE (make it longer)"
    [ "$(grep -c 'Background saving terminated with success' "$tmp/redis.log")" = $saves ] ||
        { tail "$tmp/redis.log"; fail "redis: the log does not show $saves successful saves"; }
    [ "$(cli dbsize)" -ge 300000 ] || fail "redis: keys lost"
    k=$(( $(kernel_tcp_in) - k0 ))
    [ $k -lt 1000 ] || fail "redis: the kernel's TCP carried $k segments: BGSAVE moved the listener off MTP"
    stop "$redis"
    say "redis-server: $saves BGSAVEs of 300,000 keys during redis-benchmark -c 50: $(tr '\r' '\n' <"$tmp/bench" | grep 'requests per second' | sed 's/, p50.*//' | tr '\n' ' ')no error"
fi
say "all passed"
