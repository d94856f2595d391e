#!/bin/bash
# compat-tests/quic_icmp.sh — ICMP errors with MTP_PROTO=quic across two namespaces joined by a
# veth with the kernel's default offloads: a process under libmtp.so in A connects to a port
# of B nobody listens on and gets ECONNREFUSED from B's ICMP port unreachable (at once, not
# after QUIC-Lite's idle timeout); while it runs (its XDP hook attached), a kernel UDP socket
# of another process in A still gets its own ICMP errors (ECONNREFUSED on recv): the hook
# takes only the errors that quote the stack's ports. usage: quic_icmp.sh LIBMTP_SO
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib=$(realpath "$1") || exit 2
source "$here/../tests/netns.sh"
mx_netns_up || exit 1
out=$(mktemp)
mx__prev_exit="rm -f '$out'"
# the MTP side: connect (refused), report how long it took, then stay (hook attached) 5 s
mx_bg A env LD_PRELOAD="$lib" MTP_PROTO=quic MTP_IFACE="$MX_DEV_A" python3 -c '
import socket, sys, time
t = time.monotonic()
s = socket.socket()
try:
    s.connect((sys.argv[1], 7001)); r = "connected"
except OSError as e:
    r = socket.errno.errorcode.get(e.errno, str(e.errno))
open(sys.argv[2], "w").write("%s %.3f\n" % (r, time.monotonic() - t))
time.sleep(5)
' "$MX_IP_B" "$out"
for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
read -r result secs <"$out" || { echo "quic_icmp.sh: FAIL: the MTP process reported nothing"; exit 1; }
fails=0
if [ "$result" = ECONNREFUSED ] && awk "BEGIN { exit !($secs < 2) }"; then
    echo "quic_icmp.sh: ok: QUIC connect to a closed port: ECONNREFUSED after ${secs} s"
else
    echo "quic_icmp.sh: FAIL: QUIC connect to a closed port: $result after ${secs} s (want ECONNREFUSED, < 2 s)"
    fails=1
fi
k=$(mx_in A timeout 10 python3 -c '
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(3)
u.connect((sys.argv[1], 7002)); u.send(b"x")
try:
    u.recv(1); print("data")
except OSError as e:
    print(socket.errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout")
' "$MX_IP_B")
if [ "$k" = ECONNREFUSED ]; then
    echo "quic_icmp.sh: ok: a kernel UDP socket beside the stack still gets its ICMP error"
else
    echo "quic_icmp.sh: FAIL: kernel UDP socket beside the stack: $k (want ECONNREFUSED)"
    fails=1
fi
exit $fails
