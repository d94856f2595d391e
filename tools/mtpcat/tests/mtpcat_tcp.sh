#!/bin/bash
# mtpcat over the xdp target against kernel TCP, and against itself, over a veth pair:
#   1. TCP echo: mtpcat -> kernel echo server, output == input; 1b. a malformed segment is
#      dropped and counted by the hook built from tcp.mtp
#   2. mtpcat client <-> kernel server: MB megabytes up, 1 MB down, byte-exact, same connection
#   3. kernel client <-> mtpcat -l: MB megabytes to mtpcat, 1 MB back
#   4. 2 and 3 again with LOSS% of the kernel side's incoming packets dropped (nftables)
#   5. mtpcat <-> mtpcat
#   6. a refused connection: one line, non-zero exit;  7. -l -k: three connections in turn
#   8. kill -9 mid-transfer, then a new mtpcat on the same port
# usage: mtpcat_tcp.sh MTPCAT [MB (100)] [LOSS_MB (100)] [LOSS (2)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
mtpcat=$(realpath "$1") mb=${2:-100} loss_mb=${3:-100} loss=${4:-2}
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
source "$here/../../../tests/wait.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_TEST_TIMEOUT=240
fail() { echo "mtpcat_tcp.sh: FAIL: $*"; exit 1; }
mkdata() { head -c $(($2 * 1024 * 1024)) /dev/urandom >"$1"; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ ($(stat -c %s "$1") sent, $(stat -c %s "$2") received)"; }
wait_listen() { # A|B port
    local ns=$MX_NS_A; [ "$1" = B ] && ns=$MX_NS_B
    mx_wait_listen 30 "$ns" "$2" || fail "nothing listens on $1:$2"
}
wait_mtpcat() { # err-file pid: until mtpcat -v says it listens
    mx_wait_line 30 "$1" listening "$2" || { cat "$1"; fail "mtpcat -l did not come up"; }
}

mkdata "$tmp/big" "$mb"; mkdata "$tmp/small" 1; mkdata "$tmp/lossbig" "$loss_mb"

# 1. echo
mx_bg B $py "$here/../../../tests/peers/kernel_echo.py" tcp 2222
wait_listen B 2222
MTP_IFACE=$MX_DEV_A timeout 120 ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 2222 \
    <"$tmp/small" >"$tmp/echo.out" || fail "echo: mtpcat exited $?"
same "$tmp/small" "$tmp/echo.out" "echo"
echo "mtpcat_tcp.sh: echo through kernel TCP: 1 MB byte-exact"

# 1b. the hook program built from tcp.mtp's generated header drops a malformed segment
#     (data offset 2 words) for a port the stack owns, in the kernel, and counts it
rm -f "$tmp/m.err"  # the wait below must not see an earlier run's line
MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 60 "$mtpcat" -v -l 5008 \
    <"$tmp/small" >"$tmp/m.out" 2>"$tmp/m.err" & m=$!
wait_mtpcat "$tmp/m.err" "$m"
mx_in B $py -c "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
hdr = struct.pack('!HHIIBBHHH', 40001, 5008, 1, 0, 2 << 4, 0x02, 1024, 0, 0)
s.sendto(hdr, ('$MX_IP_A', 0))" || fail "malformed: cannot send the raw segment"
mx_in B $py "$here/../../../tests/peers/kernel_tcp.py" connect "$MX_IP_A" 5008 "$tmp/small" "$tmp/k.in" >/dev/null ||
    { cat "$tmp/m.err"; fail "malformed: kernel client failed"; }
wait "$m" || { cat "$tmp/m.err"; fail "malformed: mtpcat exited"; }
same "$tmp/small" "$tmp/m.out" "malformed: the real connection"
grep -q 'malformed 1 ' "$tmp/m.err" || { cat "$tmp/m.err"; fail "malformed segment not dropped and counted by the hook"; }
echo "mtpcat_tcp.sh: a malformed segment to an owned port was dropped by the XDP hook (tcp.bpf.h) and counted"

client_to_kernel() { # label big-file port
    ip netns exec "$MX_NS_B" $py "$here/../../../tests/peers/kernel_tcp.py" serve "$3" "$tmp/small" \
        "$tmp/k.in" >"$tmp/k.out" 2>&1 & local k=$!
    wait_listen B "$3"
    MTP_IFACE=$MX_DEV_A timeout 240 ip netns exec "$MX_NS_A" "$mtpcat" -v "$MX_IP_B" "$3" \
        <"$2" >"$tmp/m.out" 2>"$tmp/m.err" || { cat "$tmp/m.err"; fail "$1: mtpcat exited"; }
    wait "$k" || { local rc=$?; cat "$tmp/k.out" "$tmp/m.err"; fail "$1: kernel server exited $rc"; }
    if [ -n "${MTP_XDP_MODE:-}" ] && ! grep -q "hook in $MTP_XDP_MODE mode" "$tmp/m.err"; then
        cat "$tmp/m.err"; fail "$1: hook not in $MTP_XDP_MODE mode"
    fi
    same "$2" "$tmp/k.in" "$1 (mtpcat -> kernel)"
    same "$tmp/small" "$tmp/m.out" "$1 (kernel -> mtpcat)"
    echo "mtpcat_tcp.sh: $1: mtpcat client -> kernel $(stat -c %s "$2") bytes, kernel -> mtpcat 1 MB, byte-exact"
}
kernel_to_listener() { # label big-file port
    rm -f "$tmp/m.err"  # the wait below must not see an earlier run's line
    MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 240 "$mtpcat" -v -l "$3" \
        <"$tmp/small" >"$tmp/m.out" 2>"$tmp/m.err" & local m=$!
    wait_mtpcat "$tmp/m.err" "$m"
    MTP_TEST_TIMEOUT=240 timeout 240 ip netns exec "$MX_NS_B" $py "$here/../../../tests/peers/kernel_tcp.py" connect \
        "$MX_IP_A" "$3" "$2" "$tmp/k.in" || { cat "$tmp/m.err"; fail "$1: kernel client failed"; }
    wait "$m" || { cat "$tmp/m.err"; fail "$1: mtpcat -l exited"; }
    same "$2" "$tmp/m.out" "$1 (kernel -> mtpcat)"
    same "$tmp/small" "$tmp/k.in" "$1 (mtpcat -> kernel)"
    echo "mtpcat_tcp.sh: $1: kernel client -> mtpcat -l $(stat -c %s "$2") bytes, back 1 MB, byte-exact"
}

client_to_kernel "no loss" "$tmp/big" 5001
kernel_to_listener "no loss" "$tmp/big" 5002
mx_loss B "$loss"
client_to_kernel "$loss% loss" "$tmp/lossbig" 5003
kernel_to_listener "$loss% loss" "$tmp/lossbig" 5004
mx_in B nft delete table inet mxloss

# 5. MTP <-> MTP: B listens with mtpcat on its veth, A connects
rm -f "$tmp/b.err"  # the wait below must not see an earlier run's line
MTP_IFACE=$MX_DEV_B ip netns exec "$MX_NS_B" timeout 240 "$mtpcat" -v -l 5005 \
    <"$tmp/small" >"$tmp/b.out" 2>"$tmp/b.err" & m=$!
wait_mtpcat "$tmp/b.err" "$m"
MTP_IFACE=$MX_DEV_A timeout 240 ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 5005 \
    <"$tmp/lossbig" >"$tmp/a.out" || fail "mtp<->mtp: client exited"
wait "$m" || { cat "$tmp/b.err"; fail "mtp<->mtp: listener exited"; }
same "$tmp/lossbig" "$tmp/b.out" "mtp<->mtp (A -> B)"
same "$tmp/small" "$tmp/a.out" "mtp<->mtp (B -> A)"
echo "mtpcat_tcp.sh: mtpcat <-> mtpcat over veth: byte-exact both ways"
# 6. errors: a closed port is refused (one line, exit status 1: a sanitizer report exits 86)
MTP_IFACE=$MX_DEV_A timeout 60 ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 5999 </dev/null >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" = 1 ] || { cat "$tmp/err"; fail "connect to a closed port: exit status $rc, not 1"; }
[ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "refused" "$tmp/err" || { cat "$tmp/err"; fail "no one-line 'refused' error"; }
echo "mtpcat_tcp.sh: closed port: $(cat "$tmp/err")"

# 7. -l -k: connections served one after another, their bytes concatenated on stdout
rm -f "$tmp/k.err"  # the wait below must not see an earlier run's line
MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 240 "$mtpcat" -v -l -k 5006 \
    </dev/null >"$tmp/k.out" 2>"$tmp/k.err" & m=$!
wait_mtpcat "$tmp/k.err" "$m"
: >"$tmp/empty"
for i in 1 2 3; do
    mx_in B $py "$here/../../../tests/peers/kernel_tcp.py" connect "$MX_IP_A" 5006 "$tmp/small" "$tmp/k.in" >/dev/null ||
        { cat "$tmp/k.err"; fail "-k: connection $i failed"; }
    cat "$tmp/small" >>"$tmp/k.want"
done
mx_wait_size 60 "$tmp/k.out" "$(stat -c %s "$tmp/k.want")" || { cat "$tmp/k.err"; fail "-k: bytes missing"; }
kill -0 "$m" || fail "-l -k ended by itself"
kill "$m"; wait "$m" 2>/dev/null
same "$tmp/k.want" "$tmp/k.out" "-l -k (3 connections)"
echo "mtpcat_tcp.sh: -l -k served 3 connections one after another"
# 8. kill -9 in the middle of a transfer (once bytes moved); the next run on the same port
#    works at once
rm -f "$tmp/z.err" "$tmp/k.in0"
MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" -v -l 5007 </dev/zero >/dev/null 2>"$tmp/z.err" & m=$!  # endless
wait_mtpcat "$tmp/z.err" "$m"
ip netns exec "$MX_NS_B" $py "$here/../../../tests/peers/kernel_tcp.py" connect "$MX_IP_A" 5007 \
    "$tmp/small" "$tmp/k.in0" >/dev/null 2>&1 & kc=$!
mx_wait_size 60 "$tmp/k.in0" $((1024 * 1024)) || { cat "$tmp/z.err"; fail "kill -9: no bytes moved before the kill"; }
kill -0 "$m" || fail "mtpcat -l </dev/zero ended by itself"
kill -9 "$m"; wait "$m" 2>/dev/null
kill "$kc" 2>/dev/null; wait "$kc" 2>/dev/null  # its peer is gone: nothing more to check there
mx_in A ip link show "$MX_DEV_A" | grep -q prog/xdp && fail "hook still attached after kill -9"
rm -f "$tmp/m.err"  # the wait below must not see an earlier run's line
MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 60 "$mtpcat" -v -l 5007 \
    <"$tmp/small" >"$tmp/m.out" 2>"$tmp/m.err" & m=$!
wait_mtpcat "$tmp/m.err" "$m"
mx_in B $py "$here/../../../tests/peers/kernel_tcp.py" connect "$MX_IP_A" 5007 "$tmp/small" "$tmp/k.in" >/dev/null ||
    { cat "$tmp/m.err"; fail "after kill -9: kernel client failed"; }
wait "$m" || { cat "$tmp/m.err"; fail "after kill -9: mtpcat exited"; }
same "$tmp/small" "$tmp/m.out" "after kill -9"
echo "mtpcat_tcp.sh: after kill -9 mid-transfer, the next mtpcat on the same port works"
echo "mtpcat_tcp.sh: PASS"
