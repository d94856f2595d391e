#!/bin/bash
# A process under libmtp.so on MTP_TARGET=dpdk (net_af_xdp on a veth) leaves the interface as
# it found it when it exits: no XDP program stays attached, and the next program on the
# interface, here one on MTP_TARGET=xdp, is served. (Before, net_af_xdp's 'xsk_def_prog'
# outlived every DPDK process, and an XDP-target process on that veth was refused:
# "already has XDP program 'xsk_def_prog' attached (not mtp's)".)
#   test_dpdk_exit.sh <libmtp.so>
set -u
lib=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../../tests/netns.sh"
fail() { echo "FAIL: test_dpdk_exit.sh: $*"; exit 1; }
say() { echo "test_dpdk_exit.sh: $*"; }
mx_netns_up || exit 1
PORT=7300

# the kernel's side: answers each connection's line, twice
mx_bg B timeout 30 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(4)
for _ in range(2):
    c, _ = s.accept(); c.sendall(c.recv(100)); c.close()
' "$MX_IP_B" $PORT
for _ in $(seq 50); do mx_in B ss -Hltn "sport = :$PORT" | grep -q . && break; sleep 0.1; done

client() { # what the client prints: the echoed line
    mx_in A timeout 20 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" "$@" python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
c.sendall(b"over mtp\n"); print(c.recv(100).decode().strip())
' "$MX_IP_B" $PORT
}

out=$(client MTP_TARGET=dpdk MTP_IP=10.201.0.21 MTP_DPDK_ARGS="--vdev=net_af_xdp0,iface=$MX_DEV_A" 2>&1)
echo "$out" | grep -qx "over mtp" || fail "MTP_TARGET=dpdk client: $out"
left=$(ip -n "$MX_NS_A" link show "$MX_DEV_A" | grep -o 'prog/xdp.*')
[ -z "$left" ] || fail "an XDP program stayed on $MX_DEV_A after the DPDK process exited: $left"
out=$(client MTP_TARGET=xdp 2>&1)
echo "$out" | grep -qx "over mtp" || fail "the next process, on MTP_TARGET=xdp: $out"
say "a DPDK (net_af_xdp) process leaves no XDP program behind; an XDP-target process follows it on the veth"

# Every thread that is not the application's (DPDK's eal-intr-thread, libmtp's helper) blocks
# every signal, so a signal sent to the process reaches an application thread and interrupts
# its sleep. (Before, DPDK's threads inherited the application's mask and could take SIGTERM:
# nginx, asleep in epoll_wait on MTP_TARGET=dpdk, set its flag on that thread and never woke:
# "the server did not exit within 5 s of SIGTERM", 3 runs in 10 with MTP_PROTO=quic.)
out=$(mx_in A timeout 20 env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" MTP_TARGET=dpdk \
      MTP_IP=10.201.0.22 python3 -c '
import os, socket
s = socket.socket(); s.bind(("0.0.0.0", 7301)); s.listen(4)   # the stack starts
me, n, taking = os.getpid(), 0, []
for tid in os.listdir("/proc/self/task"):
    st = dict(l.split(":", 1) for l in open("/proc/self/task/%s/status" % tid).read().splitlines())
    n += 1
    if int(tid) != me and not (int(st["SigBlk"], 16) >> 14) & 1:   # SIGTERM is 15
        taking.append("%s(%s)" % (st["Name"].strip(), tid))
print("threads %d, not the application%s and taking SIGTERM: %s" % (n, "s", " ".join(taking) or "none"))
' 2>&1)
echo "$out" | grep -q "^threads [2-9].*SIGTERM: none$" || fail "signal masks: $out"
say "DPDK's and libmtp's threads block the application's signals (${out%%,*})"
