#!/bin/bash
# libmtp.so end to end (root; namespaces via tests/netns.sh, every step bounded by timeout):
#   1. bad configuration: one line naming the variable, exit status 1, before main
#   2. `nm -D` shows exactly the interposed calls of preload/libmtp.map; execve keeps LD_PRELOAD
#      and MTP_* in an environment of the program's own
#   3. lm_echo's socket checks: MTP client -> kernel server, kernel client -> MTP server
#      (4 threads blocked in accept), MTP on both ends; the MTP run really used the stack (pcap)
#   4. the helper thread ACKs while the application computes (a lazy server); a long
#      busy-polling wait yields the CPU
#      a second process on the interface joins it and serves; another program's process: one
#      line and a failing listen(), or the kernel with MTP_FALLBACK=kernel; an idle MTP server
#      uses < 2 % of a core
#   5. redis-server under libmtp.so: redis-cli SET/GET of 1 B .. 1 MB values from a kernel
#      client, redis-benchmark -c 50 -P 16 from a kernel client and from an MTP client
#   6. nginx under libmtp.so (sendfile, keepalive): 1 MB and 100 MB md5-checked with curl from
#      the other namespace and over the host's loopback (the listener's kernel half), wrk 3 s
#      without errors
#   8. MTP_TARGET=dpdk under LD_PRELOAD (net_af_packet): lm_echo both ways
#   9. MTP_IFACE=lo: a kernel client on 127.0.0.1 -> an MTP server
#   7. iperf3 -s (on ::) under libmtp.so: -t 2, -R, -P 4 from a kernel client; memcached -t 4
#      under libmtp.so with 16 kernel and 16 MTP client threads
#   10. a server that closes first and exits at once: the peer's FIN that comes later is
#      acknowledged (the exit waits for it, as Linux's orphaned FIN-WAIT-2), not reset
#   4b. mtpstat lists the MTP server's listener and connection, its counters and its device's
# usage: test_libmtp.sh LIBMTP_SO LM_ECHO MTPSTAT
set -u
lib=$(realpath "$1") echo_bin=$(realpath "$2") mtpstat=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/netns.sh"
tmp=$(mktemp -d)
fail() { echo "test_libmtp.sh: FAIL: $*"; exit 1; }
say() { echo "test_libmtp.sh: $*"; }

# ---------------------------------------------------------------- 1. configuration
bad_config() { # expected-variable env...
    local var=$1; shift
    env -i PATH="$PATH" LD_PRELOAD="$lib" "$@" /bin/true 2>"$tmp/err"
    local rc=$?
    [ $rc = 1 ] || fail "config $*: exit status $rc, want 1"
    [ "$(wc -l <"$tmp/err")" = 1 ] || fail "config $*: want one line, got: $(cat "$tmp/err")"
    grep -q "$var" "$tmp/err" || fail "config $*: the line does not name $var: $(cat "$tmp/err")"
    case $var in MTP_PARAM_*) ;; *) # (the runtime's own message for params says the format)
        grep -q "accepted" "$tmp/err" || fail "config $*: the line lists no accepted values" ;;
    esac
}
bad_config MTP_IFACE
bad_config MTP_IFACE MTP_IFACE=no-such-if0
bad_config MTP_PROTO MTP_IFACE=lo MTP_PROTO=nope
bad_config MTP_TARGET MTP_IFACE=lo MTP_TARGET=nope
bad_config MTP_IP MTP_IFACE=lo MTP_IP=10.1.2
bad_config MTP_BUSY_POLL_US MTP_IFACE=lo MTP_BUSY_POLL_US=soon
bad_config MTP_FALLBACK MTP_IFACE=lo MTP_FALLBACK=maybe
bad_config MTP_XDP_MODE MTP_IFACE=lo MTP_XDP_MODE=fast
bad_config MTP_PARAM_MIN_RTO MTP_IFACE=lo MTP_PARAM_MIN_RTO=later
bad_config MTP_RX_CSUM MTP_IFACE=lo MTP_RX_CSUM=sometimes
say "bad configuration: one line naming the variable, exit status 1, before main"

# ---------------------------------------------------------------- 2. symbols
nm -D --defined-only "$lib" | awk '{print $3}' | sort >"$tmp/exported"
sed -n '/global:/,/local:/p' "$here/../libmtp.map" | sed 's/global://; s/local:.*//' |
    tr -s ' ;' '\n\n' | grep . | sort >"$tmp/want"
diff "$tmp/want" "$tmp/exported" >"$tmp/symdiff" || fail "exported symbols differ: $(cat "$tmp/symdiff")"
say "nm -D shows the $(wc -l <"$tmp/exported") interposed calls and nothing else"
env -i PATH="$PATH" LD_PRELOAD="$lib" MTP_IFACE=lo MTP_BUSY_POLL_US=0 /usr/bin/python3 -c \
    'import os; os.execve("/usr/bin/env", ["env"], {"ONLY": "this"})' >"$tmp/env"
grep -qx "LD_PRELOAD=$lib" "$tmp/env" && grep -qx MTP_IFACE=lo "$tmp/env" &&
    grep -qx MTP_BUSY_POLL_US=0 "$tmp/env" || fail "execve with its own environment lost libmtp: $(cat "$tmp/env")"
say "execve with an environment of its own keeps LD_PRELOAD and MTP_*"

# ---------------------------------------------------------------- 3. lm_echo
mx_netns_up || exit 1
mx__prev_exit="rm -rf '$tmp'"
export MTP_RUN_DIR=$tmp/run   # mtpstat sees this test's processes only
in_mtp() { # A|B cmd...: a command under libmtp.so on that side's veth
    local side=$1; shift
    local dev; eval "dev=\$MX_DEV_$side"
    mx_in "$side" env LD_PRELOAD="$lib" MTP_IFACE="$dev" "$@"
}
bg_mtp() {
    local side=$1; shift
    local dev; eval "dev=\$MX_DEV_$side"
    mx_bg "$side" env LD_PRELOAD="$lib" MTP_IFACE="$dev" "$@"
}
wait_listen() { # side port
    for _ in $(seq 100); do mx_in "$1" ss -Htln "sport = :$2" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on $1:$2"
}

mx_bg B timeout 280 "$echo_bin" serve 7000 4 >/dev/null
wait_listen B 7000
in_mtp A MTP_PCAP="$tmp/a.pcap" timeout 60 "$echo_bin" check "$MX_IP_B" 7000 7001 >"$tmp/c1" ||
    { cat "$tmp/c1"; fail "lm_echo: MTP client, kernel server"; }
[ "$(stat -c %s "$tmp/a.pcap")" -gt 1000000 ] || fail "the MTP client's traffic did not go through the stack"
say "lm_echo, MTP client -> kernel server: $(grep -c '^ok' "$tmp/c1") checks"

bg_mtp A timeout 120 "$echo_bin" serve 7100 4 >/dev/null; srv=$MX_BG_PID
wait_listen A 7100
mx_in B timeout 60 "$echo_bin" check "$MX_IP_A" 7100 7101 >"$tmp/c2" ||
    { cat "$tmp/c2"; fail "lm_echo: kernel client, MTP server"; }
say "lm_echo, kernel client -> MTP server (4 threads in accept): $(grep -c '^ok' "$tmp/c2") checks"
in_mtp B timeout 60 "$echo_bin" check "$MX_IP_A" 7100 7101 >"$tmp/c3" ||
    { cat "$tmp/c3"; fail "lm_echo: MTP on both ends"; }
say "lm_echo, MTP on both ends: $(grep -c '^ok' "$tmp/c3") checks"
in_mtp B MTP_BUSY_POLL_US=200 timeout 60 "$echo_bin" check "$MX_IP_A" 7100 7101 >"$tmp/c3b" ||
    { cat "$tmp/c3b"; fail "lm_echo: MTP on both ends, the client busy-polling"; }
say "lm_echo, MTP on both ends, client with MTP_BUSY_POLL_US=200: $(grep -c '^ok' "$tmp/c3b") checks"

# ---------------------------------------------------------------- 4. second process, idle CPU
# A second process on the interface joins it (docs/MULTIPROC.md) and serves; a process of
# another program (homa on tcp's interface) cannot: one line and a failing listen(), or the
# kernel with MTP_FALLBACK=kernel.
bg_mtp A timeout 60 "$echo_bin" serve 7200 >/dev/null 2>"$tmp/second.err"
wait_listen A 7200
in_mtp B timeout 60 "$echo_bin" check "$MX_IP_A" 7200 7201 >"$tmp/c5" ||
    { cat "$tmp/c5" "$tmp/second.err"; fail "second process on the interface: MTP on both ends"; }
in_mtp A MTP_PROTO=homa timeout 20 "$echo_bin" serve 7250 >"$tmp/other.out" 2>"$tmp/other.err" && fail "another program: served"
[ "$(grep -c '^mtp\|^libmtp' "$tmp/other.err")" = 1 ] && grep -q "$MX_DEV_A" "$tmp/other.err" ||
    fail "another program: no line naming the interface: $(cat "$tmp/other.err")"
grep -q listening "$tmp/other.out" && fail "another program: listened without the interface"
bg_mtp A MTP_PROTO=homa MTP_FALLBACK=kernel timeout 60 "$echo_bin" serve 7300 >/dev/null 2>"$tmp/fb.err"
wait_listen A 7300
mx_in B timeout 60 "$echo_bin" check "$MX_IP_A" 7300 7301 >"$tmp/c4" ||
    { cat "$tmp/c4"; fail "MTP_FALLBACK=kernel: the kernel did not serve"; }
say "a second process on the interface serves ($(grep -c '^ok' "$tmp/c5") checks, MTP on both ends); another program: '$(head -1 "$tmp/other.err")'; MTP_FALLBACK=kernel serves through the kernel"

# mtpstat: the listener and an open connection of the MTP server, and its counters
(sleep 4) | mx_in B timeout 10 nc "$MX_IP_A" 7100 >/dev/null & ncpid=$!
for _ in $(seq 50); do
    "$mtpstat" >"$tmp/stat" 2>&1 && grep -q "^ESTAB.*$MX_IP_B" "$tmp/stat" && break; sleep 0.1
done
grep -q "^LISTEN .*$MX_IP_A:7100" "$tmp/stat" && grep -q "^ESTAB .*$MX_IP_A:7100 *$MX_IP_B:" "$tmp/stat" &&
    grep -q "rtt:.*cwnd:.*retrans:.*ssthresh:" "$tmp/stat" && grep -q "^counters: rx_frames" "$tmp/stat" &&
    grep -q "^target: xdp on $MX_DEV_A " "$tmp/stat" && grep -q "^  device: .*redirected [1-9]" "$tmp/stat" ||
    { cat "$tmp/stat"; fail "mtpstat does not show the server's sockets"; }
say "mtpstat shows the MTP server's listener, its connection (rtt, cwnd, retrans, ssthresh), counters and device"
kill $ncpid 2>/dev/null; wait $ncpid 2>/dev/null

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pid=$(pgrep -f "lm_echo serve 7100" | head -1)
t0=$(ticks "$pid"); sleep 3; t1=$(ticks "$pid")
hz=$(getconf CLK_TCK)
[ $(( (t1 - t0) * 100 * 100 / (3 * hz) )) -lt 200 ] ||
    fail "idle MTP server used $(( (t1 - t0) * 100 / (3 * hz) ))% of a core"
say "idle MTP server: $(( (t1 - t0) * 1000 / hz )) ms of CPU in 3 s"
stop() { # pid: end a background run and wait until it has let the interface go
    kill "$1" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    fail "pid $1 did not stop"
}
stop "$srv"

# the helper thread: the server computes 3 s after accept, its stack still ACKs
bg_mtp A timeout 30 "$echo_bin" lazy 7150 >/dev/null
wait_listen A 7150
mx_in B timeout 30 "$echo_bin" acked "$MX_IP_A" 7150 >"$tmp/lazy" ||
    { cat "$tmp/lazy"; fail "the helper thread did not keep the stack going"; }
say "while the MTP application computes, its helper thread ACKs (100 KB acknowledged within 2 s)"

# a long busy-polling wait gives the CPU away: the thread it waits for may be runnable on the
# same CPU (two spinning processes on one CPU otherwise take turns a whole window apart)
in_mtp A MTP_BUSY_POLL_US=1000000 timeout 30 "$echo_bin" spin 7160 >"$tmp/spin" ||
    { cat "$tmp/spin"; fail "busy polling kept the CPU"; }
say "busy polling yields the CPU: $(cat "$tmp/spin")"


# ---------------------------------------------------------------- 5. redis
if command -v redis-server >/dev/null; then
    bg_mtp A timeout 120 redis-server --bind 0.0.0.0 --port 6379 --save '' --appendonly no \
        --protected-mode no --logfile "$tmp/redis.log"
    redis=$MX_BG_PID
    wait_listen A 6379
    for size in 1 1000 100000 1000000; do
        head -c "$size" /dev/urandom | base64 -w0 | head -c "$size" >"$tmp/v$size"
        mx_in B timeout 20 redis-cli -h "$MX_IP_A" -x set "k$size" <"$tmp/v$size" >/dev/null ||
            fail "redis SET of $size bytes"
        mx_in B timeout 20 redis-cli -h "$MX_IP_A" --raw get "k$size" | head -c "$size" |
            cmp -s - "$tmp/v$size" || fail "redis GET of $size bytes"
    done
    say "redis-server under libmtp.so: SET/GET of 1 B, 1 KB, 100 KB, 1 MB values verified"
    for client in kernel mtp; do
        run=(mx_in B); [ $client = mtp ] && run=(in_mtp B)
        "${run[@]}" timeout 60 redis-benchmark -h "$MX_IP_A" -c 50 -P 16 -n 100000 -q -t set,get \
            >"$tmp/bench" 2>&1 || { cat "$tmp/bench"; fail "redis-benchmark ($client client)"; }
        grep -qi error "$tmp/bench" && { cat "$tmp/bench"; fail "redis-benchmark ($client client): errors"; }
        say "redis-benchmark -c 50 -P 16 ($client client): $(tr '\r' '\n' <"$tmp/bench" | grep 'requests per second' | sed 's/, p50.*//' | tr '\n' ' ')"
    done
    stop "$redis"
fi

# ---------------------------------------------------------------- 6. nginx
if command -v nginx >/dev/null; then
    mkdir -p "$tmp/www"
    head -c 1000000 /dev/urandom >"$tmp/www/1m"
    head -c 100000000 /dev/urandom >"$tmp/www/100m"
    cat >"$tmp/nginx.conf" <<NGINX
daemon off;
master_process off;
worker_processes 1;
error_log $tmp/nginx.err warn;
pid $tmp/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 65;
  client_body_temp_path $tmp/body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server { listen 8080; listen [::]:8080; root $tmp/www; }
}
NGINX
    bg_mtp A timeout 120 nginx -c "$tmp/nginx.conf"; nginx_pid=$MX_BG_PID
    wait_listen A 8080
    for f in 1m 100m; do
        want=$(md5sum <"$tmp/www/$f")
        got=$(mx_in B timeout 60 curl -sf "http://$MX_IP_A:8080/$f" | md5sum)
        [ "$got" = "$want" ] || fail "nginx: $f from the other namespace"
    done
    got=$(mx_in A timeout 60 curl -sf "http://127.0.0.1:8080/1m" | md5sum)
    [ "$got" = "$(md5sum <"$tmp/www/1m")" ] || fail "nginx: 1m over the host's loopback"
    got=$(mx_in A timeout 60 curl -sfg "http://[::1]:8080/1m" | md5sum)
    [ "$got" = "$(md5sum <"$tmp/www/1m")" ] || fail "nginx: 1m over ::1"
    say "nginx under libmtp.so: 1 MB and 100 MB md5-checked (curl from B), 1 MB over 127.0.0.1 and ::1"
    if command -v wrk >/dev/null; then
        mx_in B timeout 30 wrk -t1 -c10 -d3s "http://$MX_IP_A:8080/1m" >"$tmp/wrk" 2>&1 ||
            fail "wrk: $(cat "$tmp/wrk")"
        grep -q "Socket errors\|Non-2xx" "$tmp/wrk" && { cat "$tmp/wrk"; fail "wrk saw errors"; }
        say "wrk -c10 3 s against nginx under libmtp.so: $(grep Requests/sec "$tmp/wrk" | tr -s ' '), no errors"
    fi
    stop "$nginx_pid"
fi
# ---------------------------------------------------------------- 7. iperf3, memcached
if command -v iperf3 >/dev/null; then
    bg_mtp A timeout 60 iperf3 -s -p 5201 >/dev/null 2>&1; ip3=$MX_BG_PID   # unmodified: on ::
    wait_listen A 5201
    for args in "" "-R" "-P 4"; do   # the server closes and re-opens its listener each time
        mx_in B timeout 30 iperf3 -c "$MX_IP_A" -p 5201 -t 2 $args >"$tmp/iperf" 2>&1 ||
            { cat "$tmp/iperf"; fail "iperf3 $args"; }
        say "iperf3 -t 2 $args to an MTP server: $(grep receiver "$tmp/iperf" | tail -1 | grep -o '[0-9.]* [MG]bits/sec')"
    done
    stop "$ip3"
fi
if command -v memcached >/dev/null; then
    bg_mtp A timeout 60 memcached -u root -p 11211 -U 0 -t 4 -l 0.0.0.0; mc=$MX_BG_PID
    wait_listen A 11211
    mx_in B timeout 60 /usr/bin/python3 "$here/mc_client.py" "$MX_IP_A" 11211 16 || fail "memcached, kernel clients"
    in_mtp B timeout 60 /usr/bin/python3 "$here/mc_client.py" "$MX_IP_A" 11211 16 || fail "memcached, MTP clients"
    say "memcached (4 threads) under libmtp.so: 16 kernel clients and 16 MTP clients, every value checked"
    stop "$mc"
fi
# ---------------------------------------------------------------- 8. DPDK under LD_PRELOAD
if [ -e "$(dirname "$lib")/libmtp_dpdk.so" ]; then
    # net_af_packet on A's veth, with addresses of their own (the kernel keeps 10.201.0.1)
    mx_bg A env LD_PRELOAD="$lib" MTP_TARGET=dpdk MTP_IFACE="$MX_DEV_A" MTP_IP=10.201.0.11 \
        timeout 120 "$echo_bin" serve 7400 2 >/dev/null 2>"$tmp/dpdk.err"; dsrv=$MX_BG_PID
    wait_listen A 7400
    mx_in B timeout 60 "$echo_bin" check 10.201.0.11 7400 7401 >"$tmp/d1" ||
        { cat "$tmp/d1" "$tmp/dpdk.err"; fail "lm_echo: kernel client, MTP server on DPDK"; }
    mx_in A env LD_PRELOAD="$lib" MTP_TARGET=dpdk MTP_IFACE="$MX_DEV_A" MTP_IP=10.201.0.12 \
        timeout 60 "$echo_bin" check "$MX_IP_B" 7000 7001 >"$tmp/d2" 2>&1 ||
        { cat "$tmp/d2"; fail "lm_echo: MTP client on DPDK, kernel server"; }
    say "MTP_TARGET=dpdk (EAL started on first use, no hugepages): lm_echo both ways, $(grep -c '^ok' "$tmp/d2") checks"
    stop "$dsrv"
fi
# ---------------------------------------------------------------- 9. MTP_IFACE=lo
bg_lo() { mx_bg A env LD_PRELOAD="$lib" MTP_IFACE=lo "$@"; }
bg_lo MTP_PCAP="$tmp/lo.pcap" timeout 60 "$echo_bin" serve 7500 4 >/dev/null; lo_srv=$MX_BG_PID
wait_listen A 7500
mx_in A timeout 60 "$echo_bin" check 127.0.0.1 7500 7501 >"$tmp/lo" ||
    { cat "$tmp/lo"; fail "lm_echo: kernel client -> MTP server on lo"; }
[ "$(stat -c %s "$tmp/lo.pcap")" -gt 1000000 ] || fail "lo: the traffic did not go through the stack"
say "MTP_IFACE=lo: kernel client -> MTP server on 127.0.0.1, $(grep -c '^ok' "$tmp/lo") checks"
stop "$lo_srv"

# ---------------------------------------------------------------- 10. exit in FIN-WAIT-2
# A server that closes first and exits at once (nginx's old worker after its last request):
# its peer's FIN, 200 ms later, must be acknowledged by the exiting process, as Linux's orphan
# in FIN-WAIT-2 does, not reset (by the kernel, the port having no MTP member left).
kernel_rsts() { mx_in A awk '/^Tcp:/ { if (h) print $15; h = 1 }' /proc/net/snmp; }
bg_mtp A timeout 20 python3 -c 'import socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("", 7800)); l.listen()
c, _ = l.accept(); c.sendall(b"bye\n"); c.close()'
fw_srv=$MX_BG_PID
wait_listen A 7800
r0=$(kernel_rsts)
mx_in B timeout 10 python3 -c 'import socket, sys, time
c = socket.create_connection((sys.argv[1], 7800), timeout=5)
got = b""
while True:
    b = c.recv(100)
    if not b: break
    got += b
assert got == b"bye\n", got
time.sleep(0.2); c.close(); time.sleep(0.5)' "$MX_IP_A" || fail "exit in FIN-WAIT-2: the client"
wait "$fw_srv" 2>/dev/null
r=$(( $(kernel_rsts) - r0 ))
[ $r = 0 ] || fail "exit in FIN-WAIT-2: the peer's FIN drew $r reset(s) from the kernel: the process did not wait for it"
say "a server that closed first and exited: its peer's FIN 200 ms later was acknowledged, not reset"
say "PASS"
