#!/bin/bash
# mtpcat on a veth pair with a jumbo MTU (9000, the kernel's default offloads otherwise), against
# kernel TCP both ways: tcp.mtp takes its MSS from the link's MTU (the runtime's LINK_MTU param)
# instead of 1460, within what the XDP target sends in one frame.
#   1. mtpcat client -> kernel server MB megabytes, 1 MB back; 2. kernel client -> mtpcat -l
#   MB megabytes, 1 MB back; byte-exact. A capture on the kernel's side must show MTP's SYN
#   and SYN-ACK advertising an MSS above 1460, MTP's segments and the kernel's towards MTP
#   longer than 1514-byte frames, and none longer than the MTU.
# usage: mtpcat_jumbo.sh MTPCAT [MB (20)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
mtpcat=$(realpath "$1") mb=${2:-20}
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
source "$here/../../../tests/wait.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_TEST_TIMEOUT=240
fail() { echo "mtpcat_jumbo.sh: FAIL: $*"; exit 1; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ ($(stat -c %s "$1") sent, $(stat -c %s "$2") received)"; }
mtu=9000
ip -n "$MX_NS_A" link set "$MX_DEV_A" mtu $mtu || fail "cannot set the MTU of $MX_DEV_A"
ip -n "$MX_NS_B" link set "$MX_DEV_B" mtu $mtu || fail "cannot set the MTU of $MX_DEV_B"
head -c $((mb * 1024 * 1024)) /dev/urandom >"$tmp/big"
head -c $((1024 * 1024)) /dev/urandom >"$tmp/small"

mx_in B timeout 120 tcpdump -i "$MX_DEV_B" -nn -s 128 -w "$tmp/cap.pcap" 'tcp port 5101 or tcp port 5102' \
    2>"$tmp/tcpdump.err" & cap=$!
mx_wait_line 30 "$tmp/tcpdump.err" listening "$cap" || { cat "$tmp/tcpdump.err"; fail "tcpdump did not start"; }

# 1. mtpcat client -> kernel server
ip netns exec "$MX_NS_B" $py "$here/../../../tests/peers/kernel_tcp.py" serve 5101 "$tmp/small" \
    "$tmp/k.in" >"$tmp/k.out" 2>&1 & k=$!
mx_wait_listen 30 "$MX_NS_B" 5101 || fail "the kernel server does not listen"
MTP_IFACE=$MX_DEV_A timeout 240 ip netns exec "$MX_NS_A" "$mtpcat" -v "$MX_IP_B" 5101 \
    <"$tmp/big" >"$tmp/m.out" 2>"$tmp/m.err" || { cat "$tmp/m.err"; fail "client: mtpcat exited"; }
wait "$k" || { cat "$tmp/k.out" "$tmp/m.err"; fail "the kernel server exited $?"; }
same "$tmp/big" "$tmp/k.in" "mtpcat -> kernel"
same "$tmp/small" "$tmp/m.out" "kernel -> mtpcat"

# 2. kernel client -> mtpcat -l
MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 240 "$mtpcat" -v -l 5102 \
    <"$tmp/small" >"$tmp/l.out" 2>"$tmp/l.err" & m=$!
mx_wait_line 30 "$tmp/l.err" listening "$m" || { cat "$tmp/l.err"; fail "mtpcat -l did not come up"; }
timeout 240 ip netns exec "$MX_NS_B" $py "$here/../../../tests/peers/kernel_tcp.py" connect \
    "$MX_IP_A" 5102 "$tmp/big" "$tmp/k2.in" || { cat "$tmp/l.err"; fail "kernel client failed"; }
wait "$m" || { cat "$tmp/l.err"; fail "mtpcat -l exited"; }
same "$tmp/big" "$tmp/l.out" "kernel -> mtpcat -l"
same "$tmp/small" "$tmp/k2.in" "mtpcat -l -> kernel"
sleep 0.5
kill "$cap"; wait "$cap" 2>/dev/null

# what the capture shows: MSS options from MTP's side, the longest frame each way
tcpdump -nn -e -r "$tmp/cap.pcap" 2>/dev/null | $py -c '
import re, sys
mtp_ip, mtu = sys.argv[1], int(sys.argv[2])
mss, longest = [], {"mtp": 0, "kernel": 0}
for line in sys.stdin:
    m = re.search(r"length (\d+): (\S+)\.\d+ > ", line)
    if not m:
        continue
    frame, side = int(m.group(1)), "mtp" if m.group(2) == mtp_ip else "kernel"
    longest[side] = max(longest[side], frame)
    o = re.search(r"mss (\d+)", line)
    if o and side == "mtp":
        mss.append(int(o.group(1)))
print(" ".join(map(str, mss)), longest["mtp"], longest["kernel"])
' "$MX_IP_A" $mtu >"$tmp/seen"
read -r -a seen <"$tmp/seen"
n=${#seen[@]}
[ "$n" -ge 4 ] || fail "the capture shows no MSS option from MTP's side: $(cat "$tmp/seen")"
from_mtp=${seen[n - 2]} from_kernel=${seen[n - 1]}
for s in "${seen[@]:0:n-2}"; do
    [ "$s" -gt 1460 ] && [ "$s" -le $((mtu - 40)) ] ||
        fail "MTP advertised MSS $s on a $mtu-byte MTU (want above 1460, at most $((mtu - 40)))"
done
[ "$from_mtp" -gt 1514 ] && [ "$from_mtp" -le $((mtu + 14)) ] ||
    fail "MTP's longest frame is $from_mtp bytes (want above 1514, at most $((mtu + 14)))"
[ "$from_kernel" -gt 1514 ] && [ "$from_kernel" -le $((mtu + 14)) ] ||
    fail "the kernel's longest frame to MTP is $from_kernel bytes (want above 1514, at most $((mtu + 14)))"
echo "mtpcat_jumbo.sh: MTU $mtu: $mb MB each way byte-exact; MTP's MSS ${seen[0]}, longest frames: MTP $from_mtp, kernel $from_kernel bytes"
