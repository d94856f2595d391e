#!/bin/bash
# Hostile traffic against `mtpcat -l -k` (tcp.mtp on the XDP target) from a kernel namespace
# (hostile_tcp.py: raw AF_PACKET frames, no dependency): a SYN flood then a legitimate connect
# within a second; a full accept queue; blind RST, SYN, data and ACK injection in and out of
# the window (challenge ACKs counted); the timestamp-poisoning segment; 35 kinds of malformed
# segment and packet; a one-byte-per-10-ms sender -- each while a kernel client's transfer
# runs that must arrive byte-exact; then a peer that never reads and one that reads a byte per
# 10 ms (CPU and memory of mtpcat measured). mtpcat must be alive at the end.
# usage: hostile_tcp.sh MTPCAT          (HOSTILE_ONLY=syn_flood,... runs some attacks only)
set -u
here=$(cd "$(dirname "$0")" && pwd)
mtpcat=$(realpath "$1")
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp
fail() { echo "hostile_tcp.sh: FAIL: $*"; exit 1; }
port=5100 spoof_net=10.201.0.0

# Spoofed sources 10.201.0.100-249: A's kernel (whose neighbour table the stack uses) sends
# their SYN-ACKs to B's MAC, where B's kernel drops them -- nobody answers, as in a real flood.
for i in $(seq 100 249); do
    echo "neigh replace 10.201.0.$i lladdr $MX_MAC_B dev $MX_DEV_A nud permanent"
done | ip -n "$MX_NS_A" -batch - || fail "cannot add the spoofed neighbours"

start_mtpcat() { # port stdin stdout stderr [-k]
    rm -f "$4"
    MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" "$mtpcat" -v -l ${5:-} "$1" <"$2" >"$3" 2>"$4" &
    MTP_PID=$!
    for _ in $(seq 100); do grep -q listening "$4" 2>/dev/null && return 0; sleep 0.1; done
    cat "$4"; fail "mtpcat -l $1 did not start"
}
attacker() { # mode [args]
    timeout 150 ip netns exec "$MX_NS_B" $py "$here/hostile_tcp.py" "$1" "$MX_DEV_B" "$MX_MAC_B" \
        "$MX_MAC_A" "$MX_IP_B" "$MX_IP_A" "$port" "$2" "$spoof_net" "$tmp" "${3:-}"
}
# 1. the attacks, against mtpcat -l -k
start_mtpcat "$port" /dev/null "$tmp/k.out" "$tmp/k.err" -k; k=$MTP_PID
attacker attacks "$k" || { tail -5 "$tmp/k.err"; fail "an attack succeeded (above)"; }
kill -0 "$k" 2>/dev/null || { cat "$tmp/k.err"; fail "mtpcat -l -k died"; }
for _ in $(seq 100); do
    [ "$(stat -c %s "$tmp/k.out")" -ge "$(stat -c %s "$tmp/expected")" ] && break; sleep 0.1
done
kill "$k"; wait "$k" 2>/dev/null
cmp -s "$tmp/expected" "$tmp/k.out" ||
    fail "mtpcat's output differs from what the clients sent ($(stat -c %s "$tmp/expected") bytes sent, $(stat -c %s "$tmp/k.out") written)"
# 2. slow readers, against mtpcat -l sending a file (one AF_XDP process per interface)
if [ -z "${HOSTILE_ONLY:-}" ] || [[ ",$HOSTILE_ONLY," == *,slow_readers,* ]]; then
    head -c $((6 * 1024 * 1024)) /dev/urandom >"$tmp/slow.in"
    start_mtpcat "$port" "$tmp/slow.in" /dev/null "$tmp/s.err"; s=$MTP_PID
    attacker slow "$s" "$tmp/slow.in" || { tail -5 "$tmp/s.err"; fail "slow readers (above)"; }
    wait "$s" || { cat "$tmp/s.err"; fail "mtpcat -l (slow readers) exited $?"; }
fi
echo "hostile_tcp.sh: mtpcat -l -k survived every attack; $(stat -c %s "$tmp/k.out") bytes of every connection byte-exact"
