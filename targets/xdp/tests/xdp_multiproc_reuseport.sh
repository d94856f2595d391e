#!/bin/bash
# SO_REUSEPORT across processes under libmtp.so (docs/MULTIPROC.md): two echo servers, each its
# own process and stack, listen on one port of one veth; 40 kernel connections from the other
# namespace are spread over both by the XDP hook's flow hash, each echoed byte-exact, and both
# stacks counted frames (mtpstat), so the connections were MTP's, not the kernel's; then one
# server is killed (-9) and 20 new connections all reach the other.
# usage: xdp_multiproc_reuseport.sh LIBMTP_SO MTPSTAT
set -u
lib=$(realpath "$1") mtpstat=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_RUN_DIR=$tmp/run
fail() { echo "xdp_multiproc_reuseport.sh: FAIL: $*"; cat "$tmp"/*.err 2>/dev/null; exit 1; }
pids=()
for n in 1 2; do
    ip netns exec "$MX_NS_A" env LD_PRELOAD="$lib" MTP_IFACE="$MX_DEV_A" $py "$here/reuseport_server.py" 7000 "$tmp/s$n" 60 2>"$tmp/s$n.err" &
    pids+=($!)
    for _ in $(seq 200); do [ -s "$tmp/s$n" ] && break; sleep 0.05; done
    [ -s "$tmp/s$n" ] || fail "server $n did not start"
done
ip netns exec "$MX_NS_B" timeout 90 $py "$here/reuseport_client.py" "$MX_IP_A" 7000 40 || fail "the client"
frames=$(ip netns exec "$MX_NS_A" "$mtpstat" -c 2>/dev/null | grep -o 'rx_frames [0-9]*' | awk '$2 > 0' | wc -l)
s1=$(cat "$tmp/s1") s2=$(cat "$tmp/s2")
# kill -9 of the second (a ring-buffer member) while the first sleeps: new connections all
# reach the first (it looks for dead members at least every 0.5 s, and a connection's SYN
# pinned to the dead member is re-steered once it is gone)
kill -9 "${pids[1]}"; wait "${pids[1]}" 2>/dev/null
ip netns exec "$MX_NS_B" timeout 90 $py "$here/reuseport_client.py" "$MX_IP_A" 7000 20 || fail "a client after kill -9 of one server"
after=$(cat "$tmp/s1")
kill "${pids[0]}" 2>/dev/null; wait "${pids[0]}" 2>/dev/null
[ $((after - s1)) = 20 ] || fail "the surviving server served $((after - s1)) of 20 after the other was killed"
[ $((s1 + s2)) = 40 ] || fail "served $s1 + $s2, not 40"
[ "$s1" -gt 0 ] && [ "$s2" -gt 0 ] || fail "not spread: $s1 / $s2"
[ "$frames" = 2 ] || fail "$frames of the 2 stacks received frames (mtpstat): the connections were not MTP's"
echo "xdp_multiproc_reuseport.sh: 40 connections to one SO_REUSEPORT port, served $s1 / $s2 by two processes' stacks, byte-exact; after kill -9 of one, 20 more all served by the other"
echo "xdp_multiproc_reuseport.sh: PASS"
