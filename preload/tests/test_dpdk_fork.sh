#!/bin/bash
# A forked child of a process whose MTP_TARGET=dpdk stack started (net_af_xdp on a veth) gets
# a clear error, never a hang: the port is its parent's (one process per port,
# docs/MULTIPROC.md "DPDK"). The child's accept on the inherited listener fails with EBADF and
# a new MTP socket's connect with EOPNOTSUPP, with one line on stderr naming MTP_TARGET=dpdk
# and the fix; the parent goes on serving. (Before, silently: the child's blocking accept on
# the listener's kernel half, whose packets go to the parent's port, said EAGAIN, and its
# connect EHOSTUNREACH.)
# A second, unrelated DPDK process on the same interface fails with EBUSY and one line naming
# MTP_TARGET=dpdk and the fix (before: EINVAL, "cannot set up rx queue 0").
# An XDP-target process there fails with EBUSY and a line naming MTP_TARGET=dpdk (before:
# "remove it with xdp-loader unload", which would cut the DPDK process off).
# Neither attempt disturbs the first process (before: the second DPDK process's failed
# attempt removed the interface's XDP program and cut the first off its port).
# nginx with Debian's defaults (daemon on, master_process on, worker_processes auto) prints
# the line at start (daemon() is its first fork); with 'daemon off; master_process off;' it
# serves.
# (EOPNOTSUPP and ENOTSUP are one number on Linux; Python names it ENOTSUP.)
#   test_dpdk_fork.sh <libmtp.so>
set -u
lib=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/netns.sh"
fail() { echo "FAIL: test_dpdk_fork.sh: $*"; exit 1; }
say() { echo "test_dpdk_fork.sh: $*"; }
mx_netns_up || exit 1
PORT=7310 SRV=10.201.0.21
out=$(mktemp); mx__prev_exit='rm -f "$out"' # (netns.sh's EXIT trap runs it after the teardown)

# the server: listens (the DPDK stack starts), forks; the child says what its accept and a
# new socket's connect gave; the parent then echoes one connection from the kernel side
mx_bg A timeout 30 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=dpdk MTP_IP=$SRV \
    MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$MX_DEV_A" python3 -c '
import errno, os, socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(4)
pid = os.fork()
if pid == 0:
    def attempt(name, f):
        try:
            f(); print(name, "ok", flush=True)
        except OSError as e:
            print(name, errno.errorcode.get(e.errno, e.errno), flush=True)
    attempt("child-accept", lambda: s.accept())
    attempt("child-connect", lambda: socket.create_connection((sys.argv[1], 9), timeout=5))
    os._exit(0)
os.waitpid(pid, 0)
print("parent-ready", flush=True)
for _ in range(2): # the second after an XDP-target and a second DPDK process tried its port
    c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
    print("parent-served", flush=True)
' "$MX_IP_B" $PORT >"$out" 2>&1
for _ in $(seq 100); do grep -q parent-ready "$out" && break; sleep 0.1; done
grep -q parent-ready "$out" || fail "the child did not end: $(cat "$out")"
grep -qx "child-accept EBADF" "$out" || fail "child's accept: $(cat "$out")"
grep -Eqx "child-connect (EOPNOTSUPP|ENOTSUP)" "$out" || fail "child's new socket: $(cat "$out")"
n=$(grep -c "MTP_TARGET=dpdk: this forked child .* Fix: MTP_TARGET=xdp" "$out")
[ "$n" = 1 ] || fail "want one line on stderr naming MTP_TARGET=dpdk and the fix, got $n: $(cat "$out")"
to_parent() {
    mx_in B timeout 10 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b"to the parent\n"); print(c.recv(100).decode().strip())
' $SRV $PORT 2>&1
}
echo=$(to_parent)
[ "$echo" = "to the parent" ] || fail "the parent did not serve after its child: $echo; $(cat "$out")"
for _ in $(seq 50); do grep -q parent-served "$out" && break; sleep 0.1; done
# an XDP-target process on the interface a DPDK process holds: one line, EBUSY
third=$(mx_in A timeout 20 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=xdp python3 -c '
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=5); print("xdp ok")
except OSError as e:
    print("xdp", errno.errorcode.get(e.errno, e.errno))
' "$MX_IP_B" 2>&1)
echo "$third" | grep -qx "xdp EBUSY" || fail "XDP-target process on $MX_DEV_A: $third"
echo "$third" | grep -q "held by a DPDK process (MTP_TARGET=dpdk.*run every process on MTP_TARGET=xdp" ||
    fail "XDP-target process: no line naming MTP_TARGET=dpdk and the fix: $third"
say "an XDP-target process on an interface a DPDK process holds: EBUSY and one line"
# a second, unrelated DPDK process on the interface the first holds: one line, EBUSY
second=$(mx_in A timeout 20 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=dpdk \
    MTP_IP=10.201.0.22 MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$MX_DEV_A" python3 -c '
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=5); print("second ok")
except OSError as e:
    print("second", errno.errorcode.get(e.errno, e.errno))
' "$MX_IP_B" 2>&1)
echo "$second" | grep -qx "second EBUSY" || fail "second DPDK process on $MX_DEV_A: $second"
echo "$second" | grep -q "MTP_TARGET=dpdk: .*another process .* use MTP_TARGET=xdp for several" ||
    fail "second DPDK process: no line naming MTP_TARGET=dpdk and the fix: $second"
say "a second DPDK process on the same interface: EBUSY and one line"
echo=$(to_parent)
[ "$echo" = "to the parent" ] ||
    fail "the first DPDK process stopped serving after the others tried its port: $echo"
say "the first DPDK process still serves after both"
# nginx under MTP_TARGET=dpdk: with Debian's defaults (daemon on, master_process on,
# worker_processes auto) the line at start names the fix; with the fix it serves
command -v nginx >/dev/null || fail "nginx is needed (make deps)"
ngx=$(mktemp -d); chmod 755 "$ngx"; mkdir -p "$ngx/www" "$ngx/t"; echo hi >"$ngx/www/x"
mx__prev_exit='rm -f "$out"; [ -s "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")" 2>/dev/null; rm -rf "$ngx"'
nginx_conf() { # $1: extra top-level lines
    cat <<CONF
user root;
$1
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/error.log;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $ngx/t/b; proxy_temp_path $ngx/t/p; fastcgi_temp_path $ngx/t/f;
  uwsgi_temp_path $ngx/t/u; scgi_temp_path $ngx/t/s;
  server { listen 8080; root $ngx/www; }
}
CONF
}
nginx_env=(env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=dpdk MTP_IP=10.201.0.23
           MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$MX_DEV_A")
sleep 1 # (the first process has served its two connections and ends: the port is free)
nginx_conf "" >"$ngx/default.conf"
said=$(mx_in A "${nginx_env[@]}" timeout 10 nginx -c "$ngx/default.conf" 2>&1)
echo "$said" | grep -q "MTP_TARGET=dpdk: this forked child .*'daemon off; master_process off;'" ||
    fail "nginx with Debian's defaults: no line naming MTP_TARGET=dpdk and the fix: $said"
for _ in $(seq 30); do [ -s "$ngx/nginx.pid" ] && break; sleep 0.1; done
[ -s "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")"
for _ in $(seq 30); do [ -e "$ngx/nginx.pid" ] || break; sleep 0.1; done
say "nginx with Debian's defaults: one line at start naming MTP_TARGET=dpdk and the fix"
nginx_conf "daemon off; master_process off;" >"$ngx/one.conf"
mx_bg A "${nginx_env[@]}" timeout 20 nginx -c "$ngx/one.conf"
code=000
for _ in $(seq 50); do
    code=$(mx_in B timeout 5 curl -s -m 2 -o /dev/null -w "%{http_code}" http://10.201.0.23:8080/x)
    [ "$code" = 200 ] && break; sleep 0.1
done
[ "$code" = 200 ] || fail "nginx with 'daemon off; master_process off;' on MTP_TARGET=dpdk: $code"
say "nginx with 'daemon off; master_process off;' serves on MTP_TARGET=dpdk"
kill "$(cat "$ngx/nginx.pid")" # (its exit frees the interface)
for _ in $(seq 50); do [ -e "$ngx/nginx.pid" ] || break; sleep 0.1; done
# the reverse: a DPDK process on the interface an XDP-target process serves: EBUSY, one line,
# and the XDP-target process goes on serving
xout=$(mktemp); mx__prev_exit='rm -f "$out" "$xout"; [ -s "$ngx/nginx.pid" ] && kill "$(cat "$ngx/nginx.pid")" 2>/dev/null; rm -rf "$ngx"'
mx_bg A timeout 20 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=xdp python3 -c '
import socket, sys
s = socket.socket(); s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4); print("up", flush=True)
for _ in range(2):
    c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
' $((PORT + 1)) >"$xout" 2>&1
for _ in $(seq 50); do grep -q up "$xout" && break; sleep 0.1; done
to_xdp() {
    mx_in B timeout 10 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
c.sendall(b"to xdp\n"); print(c.recv(100).decode().strip())
' "$MX_IP_A" $((PORT + 1)) 2>&1
}
[ "$(to_xdp)" = "to xdp" ] || fail "the XDP-target server does not serve: $(cat "$xout")"
fourth=$(mx_in A timeout 20 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=dpdk \
    MTP_IP=10.201.0.22 MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$MX_DEV_A" python3 -c '
import errno, socket, sys
try:
    socket.create_connection((sys.argv[1], 9), timeout=5); print("dpdk ok")
except OSError as e:
    print("dpdk", errno.errorcode.get(e.errno, e.errno))
' "$MX_IP_B" 2>&1)
echo "$fourth" | grep -qx "dpdk EBUSY" || fail "DPDK process after an XDP-target one: $fourth"
echo "$fourth" | grep -q "MTP_TARGET=dpdk: .*use MTP_TARGET=xdp for several" ||
    fail "DPDK process after an XDP-target one: no line naming MTP_TARGET=dpdk: $fourth"
[ "$(to_xdp)" = "to xdp" ] || fail "the XDP-target server stopped serving after the DPDK attempt"
say "a DPDK process on an interface an XDP-target process serves: EBUSY, one line; it still serves"
say "a forked child of a DPDK process: accept EBADF, new socket EOPNOTSUPP, one line; the parent serves"
