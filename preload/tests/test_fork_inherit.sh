#!/bin/bash
# Inherited connections under libmtp.so (root; namespaces via tests/netns.sh, never lo, every
# step bounded by timeout): a server that accepts in the parent and serves each connection in
# a forked child (lm_fork inheritserve), the parent closing its copy at once.
#   1. 4 concurrent kernel clients, 4 MB each way per connection, byte-exact; the children's
#      stacks carried them (no kernel TCP segment in the server's namespace); then 2 more
#      whose children serve them from an epoll set (the first use is epoll_ctl)
#      16 more, 8 at a time, 1 MB each way (load)
#   2. the parent exits right after its fork (exit(): its exit waits for the child's take);
#      the parent killed -9 after the hand-off: the child's transfer goes on, byte-exact
#      an MTP client that connects, forks and lets its child use the connection
#   3. a child that writes and closes: the client reads the bytes, then end of stream (the FIN
#      at the last close: the parent closed its copy first)
#   4. the parent killed -9 before the child's first use: the take fails, the child's read
#      says ECONNRESET, one line on stderr, and the client is reset (no silent loss)
#   5. two children inherit one connection (the parent forks twice before it closes its copy):
#      the first to use it serves it byte-exact, the second's later read is a reset with one
#      line on stderr (Linux would let them share the socket)
#   6. a child that exits without reading what its client sent, after writing to it (greet)
#      and without ever touching it (untouched): the client sees a reset, as on Linux (the
#      same checks are first run against the server on the kernel)
# usage: test_fork_inherit.sh LIBMTP_SO LM_FORK
set -u
lib=$(realpath "$1") fork_bin=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/netns.sh"
tmp=$(mktemp -d)
fail() { echo "test_fork_inherit.sh: FAIL: $*"; exit 1; }
say() { echo "test_fork_inherit.sh: $*"; }

mx_netns_up || exit 1
mx__prev_exit="rm -rf '$tmp'"
export MTP_RUN_DIR=$tmp/run
bg_mtp() {
    mx_bg A env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" "$@"
}
wait_listen() { # port
    for _ in $(seq 100); do mx_in A ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on A:$1"
}
wait_line() { # file pattern
    for _ in $(seq 100); do grep -q "$2" "$1" && return 0; sleep 0.1; done
    cat "$1"; fail "no '$2' in $1"
}
stop() { # pid
    kill "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    fail "pid $1 did not stop"
}
kernel_tcp_in() { mx_in A awk '/^Tcp:/ { if (h) print $11; h = 1 }' /proc/net/snmp; }
client() { mx_in B timeout 60 "$fork_bin" "$@"; }

# ---------------------------------------------------------------- 1. concurrent clients
bg_mtp timeout 60 "$fork_bin" inheritserve 7600 echo >"$tmp/e.out" 2>&1; srv=$MX_BG_PID
wait_listen 7600
k0=$(kernel_tcp_in)
pids=()
for i in 1 2 3 4; do
    client stream "$MX_IP_A" 7600 4000000 >"$tmp/c$i" 2>&1 &
    pids+=($!)
done
for i in 1 2 3 4; do
    wait "${pids[$((i - 1))]}" || { cat "$tmp/c$i" "$tmp/e.out"; fail "client $i"; }
done
wait_line "$tmp/e.out" "parent forked child .* for connection 4"
for _ in $(seq 50); do [ "$(grep -c 'done$' "$tmp/e.out")" -ge 4 ] && break; sleep 0.1; done
[ "$(grep -c 'serving$' "$tmp/e.out")" = 4 ] || { cat "$tmp/e.out"; fail "4 children did not serve"; }
grep -q "could not be taken over" "$tmp/e.out" && { cat "$tmp/e.out"; fail "a hand-off failed"; }
k=$(( $(kernel_tcp_in) - k0 ))
[ $k -lt 100 ] || fail "the kernel's TCP carried $k segments: the children did not serve through MTP"
stop "$srv"
say "4 concurrent connections accepted by the parent and served by forked children: 4 MB each way each, byte-exact, kernel TCP segments $k"
bg_mtp timeout 60 "$fork_bin" inheritserve 7604 epoll >"$tmp/p.out" 2>&1; srv=$MX_BG_PID
wait_listen 7604
for i in 1 2; do client stream "$MX_IP_A" 7604 4000000 >"$tmp/p$i" 2>&1 & pids[$i]=$!; done
for i in 1 2; do wait "${pids[$i]}" || { cat "$tmp/p$i" "$tmp/p.out"; fail "epoll client $i"; }; done
[ "$(grep -c 'serving (epoll)$' "$tmp/p.out")" = 2 ] || { cat "$tmp/p.out"; fail "2 epoll children did not serve"; }
stop "$srv"
say "2 concurrent connections served by children from an epoll set (non-blocking): 4 MB each way each, byte-exact"

k0=$(kernel_tcp_in)
bg_mtp timeout 60 "$fork_bin" inheritserve 7606 echo >"$tmp/m.out" 2>&1; srv=$MX_BG_PID
wait_listen 7606
for round in 1 2; do
    for i in 1 2 3 4 5 6 7 8; do client stream "$MX_IP_A" 7606 1000000 >"$tmp/m$i" 2>&1 & pids[$i]=$!; done
    for i in 1 2 3 4 5 6 7 8; do wait "${pids[$i]}" || { cat "$tmp/m$i" "$tmp/m.out"; fail "load: client $i"; }; done
done
grep -q "could not be taken over" "$tmp/m.out" && { cat "$tmp/m.out"; fail "load: a hand-off failed"; }
k=$(( $(kernel_tcp_in) - k0 ))
[ $k -lt 100 ] || fail "load: the kernel's TCP carried $k segments"
stop "$srv"
say "under load: 16 connections, 8 at a time, 1 MB each way each, byte-exact, each served by its own child"

# ---------------------------------------------------------------- 2. the parent exits, kill -9 of the parent
bg_mtp timeout 60 "$fork_bin" inheritserve 7607 once >"$tmp/o.out" 2>&1
wait_listen 7607
client stream "$MX_IP_A" 7607 4000000 >"$tmp/o.c" 2>&1 || { cat "$tmp/o.c" "$tmp/o.out"; fail "once: the stream"; }
wait_line "$tmp/o.out" "^parent forked child"
say "the parent exits (exit()) right after its fork: the child takes the connection and echoes 4 MB byte-exact"
bg_mtp timeout 60 "$fork_bin" inheritserve 7601 echo >"$tmp/k.out" 2>&1; srv=$MX_BG_PID
wait_listen 7601
wait_line "$tmp/k.out" "^parent .* listening"
parent=$(awk '/^parent .* listening/ {print $2}' "$tmp/k.out")
client stream "$MX_IP_A" 7601 8000000 1500 >"$tmp/k.c" 2>&1 &
cl=$!
wait_line "$tmp/k.out" "serving$"
wait_line "$tmp/k.c" "pausing"
kill -9 "$parent"
wait "$cl" || { cat "$tmp/k.c" "$tmp/k.out"; fail "the transfer after kill -9 of the parent"; }
kill -0 "$parent" 2>/dev/null && fail "the parent survived kill -9"
say "parent killed -9 after the hand-off (mid-transfer): 8 MB echoed byte-exact by the child"

# ---------------------------------------------------------------- 2b. a client's connection, used by its child
mx_bg B timeout 30 "$fork_bin" inheritserve 7608 echo >"$tmp/b.out" 2>&1; ksrv=$MX_BG_PID
for _ in $(seq 100); do mx_in B ss -Htln "sport = :7608" | grep -q . && break; sleep 0.1; done
k0=$(kernel_tcp_in)
mx_in A env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" timeout 60 "$fork_bin" streamfork "$MX_IP_B" 7608 \
    4000000 >"$tmp/b.c" 2>&1 || { cat "$tmp/b.c" "$tmp/b.out"; fail "streamfork: the child's stream"; }
grep -q "could not be taken over" "$tmp/b.c" && { cat "$tmp/b.c"; fail "streamfork: the hand-off failed"; }
k=$(( $(kernel_tcp_in) - k0 ))
[ $k -lt 100 ] || fail "streamfork: the kernel's TCP of A carried $k segments"
stop "$ksrv"
say "an MTP client connects, forks and closes its copy: the child streams 4 MB each way byte-exact over MTP (kernel server)"

# ---------------------------------------------------------------- 3. the last close sends the FIN
bg_mtp timeout 30 "$fork_bin" inheritserve 7602 hello >"$tmp/h.out" 2>&1; srv=$MX_BG_PID
wait_listen 7602
for i in 1 2 3; do
    client expecthello "$MX_IP_A" 7602 >"$tmp/h.c" 2>&1 || { cat "$tmp/h.c" "$tmp/h.out"; fail "hello $i"; }
done
stop "$srv"
say "a child writes and closes (its parent closed its copy first): hello, then end of stream (3 of 3)"

# ---------------------------------------------------------------- 4. the owner dies before the take
bg_mtp timeout 30 "$fork_bin" inheritserve 7603 late >"$tmp/l.out" 2>&1; srv=$MX_BG_PID
wait_listen 7603
wait_line "$tmp/l.out" "^parent .* listening"
parent=$(awk '/^parent .* listening/ {print $2}' "$tmp/l.out")
client expectreset "$MX_IP_A" 7603 >"$tmp/l.c" 2>&1 &
cl=$!
wait_line "$tmp/l.out" "parent forked child"
kill -9 "$parent"
wait_line "$tmp/l.out" "read: "
grep -q "read: Connection reset by peer" "$tmp/l.out" || { cat "$tmp/l.out"; fail "late take: the child's read"; }
grep -q "could not be taken over (the owner exited, or did not answer)" "$tmp/l.out" || { cat "$tmp/l.out"; fail "late take: no line on stderr"; }
wait "$cl" || { cat "$tmp/l.c"; cat "$tmp/l.out"; fail "late take: the client was not reset"; }
say "the parent killed -9 before the child's first use: the child's read fails with ECONNRESET (one line on stderr), the client $(cat "$tmp/l.c")"

# ---------------------------------------------------------------- 5. two children, one connection
bg_mtp timeout 30 "$fork_bin" inheritserve 7605 twins >"$tmp/t.out" 2>&1; srv=$MX_BG_PID
wait_listen 7605
client stream "$MX_IP_A" 7605 2000000 1000 >"$tmp/t.c" 2>&1 || { cat "$tmp/t.c" "$tmp/t.out"; fail "twins: the stream"; }
wait_line "$tmp/t.out" "^twin .* read: "
grep -q "^twin .* read: Connection reset by peer" "$tmp/t.out" || { cat "$tmp/t.out"; fail "twins: the second child's read"; }
grep -q "could not be taken over (it ended there, or another process took it)" "$tmp/t.out" ||
    { cat "$tmp/t.out"; fail "twins: no line on stderr"; }
stop "$srv"
say "two children inherit one connection: the first to use it serves 2 MB byte-exact, the second's read later says ECONNRESET (one line on stderr)"

# ---------------------------------------------------------------- 6. a child exits without reading
port=7610
for how in greet untouched; do
    for side in kernel mtp; do
        port=$((port + 1))
        if [ $side = kernel ]; then
            mx_bg A timeout 30 "$fork_bin" inheritserve $port $how >"$tmp/r.out" 2>&1
        else
            bg_mtp timeout 30 "$fork_bin" inheritserve $port $how >"$tmp/r.out" 2>&1
        fi
        srv=$MX_BG_PID
        wait_listen $port
        client expectreset "$MX_IP_A" $port >"$tmp/r.c" 2>&1 ||
            { cat "$tmp/r.c" "$tmp/r.out"; fail "$how ($side): no reset"; }
        say "child that exits without reading ($how), $side server: $(cat "$tmp/r.c")"
        stop "$srv"
    done
done
say "all passed"
