#!/bin/bash
# Drops a user can fix are never silent: a connect that cannot complete because every reply
# (or every packet) is dropped ends with its error and a one-line hint naming the counter.
# Over a veth pair with the kernel's default offloads (the kernel's SYN-ACKs carry partial
# checksums), SYN retries cut to 2 (and the first RTO to 200 ms where nothing waits for ARP's
# 3 s budget) so each case ends within seconds:
#   1. MTP_RX_CSUM=full refuses the partial checksums      -> hint names drop_csum_partial
#   2. a destination off the interface's prefix, no gateway -> hint names drop_no_route
#   3. an on-link address nobody answers ARP for           -> hint names drop_arp_unresolved
#   4. a bad MTP_RX_CSUM / MTP_TSO value: one line naming the variable and the accepted values
#   5. the default (auto) on the same veth connects and counts the partial checksums it took
# usage: mtpcat_drops.sh MTPCAT
set -u
here=$(cd "$(dirname "$0")" && pwd)
mtpcat=$(realpath "$1")
py=/usr/bin/python3
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_IFACE=$MX_DEV_A MTP_PARAM_SYN_RETRIES=2
fail() { echo "mtpcat_drops.sh: FAIL: $*"; exit 1; }
wait_listen() { # ns port
    for _ in $(seq 100); do mx_in "$1" ss -Htln "sport = :$2" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on $1:$2"
}
# expect_hint LABEL COUNTER ENV... -- HOST PORT: the connect fails with two lines on stderr,
# the error and the hint naming COUNTER
expect_hint() {
    local label=$1 counter=$2; shift 2
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    if env "${envs[@]}" timeout 60 ip netns exec "$MX_NS_A" "$mtpcat" "$@" </dev/null \
        >/dev/null 2>"$tmp/err"; then
        fail "$label: the connect succeeded"
    fi
    [ "$(wc -l <"$tmp/err")" = 2 ] || { cat "$tmp/err"; fail "$label: not two lines (error, hint)"; }
    head -1 "$tmp/err" | grep -q "^mtpcat: $1:$2: " || { cat "$tmp/err"; fail "$label: no error line first"; }
    tail -1 "$tmp/err" | grep -q "^mtpcat: hint: .*(counter $counter)" ||
        { cat "$tmp/err"; fail "$label: the hint does not name $counter"; }
    echo "mtpcat_drops.sh: $label: $(head -1 "$tmp/err" | cut -c9-) / $(tail -1 "$tmp/err" | cut -c9-90)..."
}

mx_bg B $py "$here/../../../tests/peers/kernel_echo.py" tcp 6000
wait_listen B 6000
expect_hint "partial checksums refused" drop_csum_partial MTP_RX_CSUM=full MTP_PARAM_INIT_RTO=200ms \
    -- "$MX_IP_B" 6000
expect_hint "no route" drop_no_route MTP_PARAM_INIT_RTO=200ms -- 10.202.0.9 6000
expect_hint "no ARP answer" drop_arp_unresolved -- 10.201.0.77 6000

for bad in "MTP_RX_CSUM=yes:MTP_RX_CSUM=yes: unknown value (accepted: auto, full, partial)" \
           "MTP_TSO=0:MTP_TSO=0: unknown value (accepted: auto, off)"; do
    if env "${bad%%:*}" ip netns exec "$MX_NS_A" "$mtpcat" "$MX_IP_B" 6000 </dev/null >/dev/null 2>"$tmp/err"; then
        fail "${bad%%:*} accepted"
    fi
    [ "$(cat "$tmp/err")" = "mtpcat: ${bad#*:}" ] || { cat "$tmp/err"; fail "${bad%%:*}: not the one-line error"; }
    echo "mtpcat_drops.sh: $(cat "$tmp/err")"
done

head -c 100000 /dev/urandom >"$tmp/small"
timeout 60 ip netns exec "$MX_NS_A" "$mtpcat" -v "$MX_IP_B" 6000 <"$tmp/small" >"$tmp/out" 2>"$tmp/err" ||
    { cat "$tmp/err"; fail "auto: the connect failed"; }
cmp -s "$tmp/small" "$tmp/out" || fail "auto: echo differs"
grep -q "link veth: csum_partial [1-9]" "$tmp/err" || { cat "$tmp/err"; fail "auto: partial checksums not counted"; }
echo "mtpcat_drops.sh: MTP_RX_CSUM=auto on a veth: echo byte-exact, $(grep -o 'csum_partial [0-9]*' "$tmp/err" | head -1) accepted"
echo "mtpcat_drops.sh: PASS"
