#!/bin/bash
# mtpcat on lo (MTP_IFACE=lo: AF_XDP in SKB/copy mode) against kernel TCP on 127.0.0.1, in one
# network namespace, while the kernel keeps serving another loopback port:
#   1. mtpcat client -> kernel listener on 127.0.0.1: MB megabytes up, 1 MB down, byte-exact
#   2. kernel client -> mtpcat -l on 127.0.0.1: MB megabytes, 1 MB back, byte-exact; meanwhile
#      a kernel echo server on another loopback port answers a kernel client
#   3. curl fetches a page from mtpcat -l (a canned HTTP response), byte-exact
#   4. 1 and 2 again with 2% of the packets the kernel receives dropped (nftables)
# The kernel's loopback packets carry partial checksums and arrive as GSO packets of up to
# 64 KiB: both are counted (csum_partial, rx_super) and must be non-zero.
# usage: mtpcat_lo.sh MTPCAT [MB (20)]
set -u
here=$(cd "$(dirname "$0")" && pwd)
mtpcat=$(realpath "$1") mb=${2:-20}
py=/usr/bin/python3
peers=$here/../../../tests/peers
source "$here/../../../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=tcp MTP_TARGET=xdp MTP_IFACE=lo MTP_TEST_TIMEOUT=240
fail() { echo "mtpcat_lo.sh: FAIL: $*"; exit 1; }
mkdata() { head -c $(($2 * 1024 * 1024)) /dev/urandom >"$1"; }
same() { cmp -s "$1" "$2" || fail "$3: bytes differ ($(stat -c %s "$1") sent, $(stat -c %s "$2") received)"; }
wait_listen() { # port
    for _ in $(seq 100); do mx_in A ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    fail "nothing listens on 127.0.0.1:$1"
}
wait_line() { # file pid
    for _ in $(seq 100); do grep -q listening "$1" 2>/dev/null && return 0; kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
    cat "$1"; fail "mtpcat -l did not come up"
}
kernel_port_works() { # label
    mx_in A $py "$peers/kernel_tcp.py" connect 127.0.0.1 7100 "$tmp/tiny" "$tmp/tiny.back" >/dev/null ||
        fail "$1: the kernel's own loopback port 7100 stopped answering"
    same "$tmp/tiny" "$tmp/tiny.back" "$1: kernel echo on 127.0.0.1:7100"
}
counted() { # label err-file: the kernel's partial checksums and GSO packets were taken
    grep -q "link loopback: csum_partial [1-9]" "$2" || { cat "$2"; fail "$1: no partial checksum counted"; }
    grep -q "rx_super [1-9]" "$2" || { cat "$2"; fail "$1: no GSO packet counted"; }
}

mkdata "$tmp/big" "$mb"; mkdata "$tmp/small" 1; head -c 10000 /dev/urandom >"$tmp/tiny"
mx_bg A $py "$peers/kernel_echo.py" tcp 7100   # the kernel's own port, all along
wait_listen 7100

client_to_kernel() { # label port
    mx_bg A $py "$peers/kernel_tcp.py" serve "$2" "$tmp/small" "$tmp/k.in"; local k=$MX_BG_PID
    wait_listen "$2"
    timeout 240 ip netns exec "$MX_NS_A" "$mtpcat" -v 127.0.0.1 "$2" <"$tmp/big" >"$tmp/m.out" \
        2>"$tmp/m.err" || { cat "$tmp/m.err"; fail "$1: mtpcat exited"; }
    wait "$k" 2>/dev/null
    same "$tmp/big" "$tmp/k.in" "$1 (mtpcat -> kernel)"
    same "$tmp/small" "$tmp/m.out" "$1 (kernel -> mtpcat)"
    counted "$1" "$tmp/m.err"
    kernel_port_works "$1"
    echo "mtpcat_lo.sh: $1: mtpcat client -> kernel on 127.0.0.1 $(stat -c %s "$tmp/big") bytes, back 1 MB, byte-exact; $(grep -o 'csum_partial [0-9]*' "$tmp/m.err" | head -1), $(grep -o 'rx_super [0-9]*' "$tmp/m.err")"
}
kernel_to_listener() { # label port
    rm -f "$tmp/l.err"
    ip netns exec "$MX_NS_A" timeout 240 "$mtpcat" -v -l "$2" <"$tmp/small" >"$tmp/l.out" \
        2>"$tmp/l.err" & local m=$!
    wait_line "$tmp/l.err" "$m"
    kernel_port_works "$1 (listener up)"
    timeout 240 ip netns exec "$MX_NS_A" $py "$peers/kernel_tcp.py" connect 127.0.0.1 "$2" \
        "$tmp/big" "$tmp/k.in" >/dev/null || { cat "$tmp/l.err"; fail "$1: kernel client failed"; }
    wait "$m" || { cat "$tmp/l.err"; fail "$1: mtpcat -l exited"; }
    same "$tmp/big" "$tmp/l.out" "$1 (kernel -> mtpcat)"
    same "$tmp/small" "$tmp/k.in" "$1 (mtpcat -> kernel)"
    counted "$1" "$tmp/l.err"
    echo "mtpcat_lo.sh: $1: kernel client -> mtpcat -l on 127.0.0.1 $(stat -c %s "$tmp/big") bytes, back 1 MB, byte-exact"
}

client_to_kernel "no loss" 7001
kernel_to_listener "no loss" 7002

# 3. curl, an unmodified kernel client, fetches a page mtpcat serves
head -c 300000 /dev/urandom >"$tmp/page"
{ printf 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' \
      "$(stat -c %s "$tmp/page")"; cat "$tmp/page"; } >"$tmp/response"
rm -f "$tmp/h.err"
ip netns exec "$MX_NS_A" timeout 60 "$mtpcat" -v -l 8080 <"$tmp/response" >"$tmp/request" 2>"$tmp/h.err" & m=$!
wait_line "$tmp/h.err" "$m"
mx_in A timeout 60 curl -sS -o "$tmp/fetched" http://127.0.0.1:8080/hello || { cat "$tmp/h.err"; fail "curl failed"; }
wait "$m" || { cat "$tmp/h.err"; fail "curl: mtpcat -l exited"; }
same "$tmp/page" "$tmp/fetched" "curl"
head -1 "$tmp/request" | grep -q "^GET /hello HTTP/1.1" || fail "curl: mtpcat did not get the request"
echo "mtpcat_lo.sh: curl fetched $(stat -c %s "$tmp/fetched") bytes from mtpcat -l on 127.0.0.1:8080, byte-exact"

mx_loss A 2
client_to_kernel "2% loss" 7003
kernel_to_listener "2% loss" 7004
echo "mtpcat_lo.sh: nftables dropped $(mx_loss_dropped A) packets"
[ "$(mx_loss_dropped A)" -gt 0 ] || fail "the loss rule dropped nothing"
echo "mtpcat_lo.sh: PASS"
