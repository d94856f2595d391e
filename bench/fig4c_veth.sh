#!/bin/bash
# bench/fig4c_veth.sh BUILD [REQUESTS] [GAP_US] — the paper's Fig. 4c over veth under libmtp.so
# (XDP target), both ends on MTP: build/bin/fig4c_app (a single-threaded server, one client
# asking for a 1 MB response every GAP_US and an 8-32 KB one GAP_US / 10 later) with
# MTP_PROTO=tcp, every request on one connection (pipelined: the paper's TCP); with
# MTP_PROTO=quic, the large and the small requests on two sockets (two streams of one
# connection: one congestion controller), and a socket (stream) per request; for reference
# tcp with two connections and with a connection per request. Prints the small responses'
# latency. Not a test. Needs root. The machine's load shows: run it on a quiet one.
# QUIC_ENV="MTP_PARAM_X=v ..." adds settings to the quic runs only.
set -u
B=${1:?usage: fig4c_veth.sh BUILD [REQUESTS] [GAP_US]}
N=${2:-60} GAP=${3:-20000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
APPB=$(realpath "$B/bin/fig4c_app") LIB=$(realpath "$B/lib/libmtp.so")
source "$ROOT/tests/netns.sh"
mx_netns_up || exit 1
PORT=9400
row() { # NAME PROTO MODE
    local srv out
    local extra=(); [ "$2" = quic ] && extra=(${QUIC_ENV:-})
    mx_bg A env LD_PRELOAD="$LIB" MTP_PROTO="$2" MTP_IFACE="$MX_DEV_A" "${extra[@]}" "$APPB" server $PORT
    srv=$MX_BG_PID
    sleep 1
    out=$(mx_in B env LD_PRELOAD="$LIB" MTP_PROTO="$2" MTP_IFACE="$MX_DEV_B" "${extra[@]}" timeout 120 \
          "$APPB" client "$MX_IP_A" $PORT "$3" "$N" "$GAP") || out="failed"
    kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null
    PORT=$((PORT + 1))
    printf '%-30s %s\n' "$1" "$out"
}
echo "Fig. 4c over veth, libmtp.so on both ends (XDP): $N requests, a 1 MB one every $GAP us and"
echo "an 8-32 KB one $((GAP / 10)) us after it; small responses' latency in us: mean p50 p99"
row "tcp, one connection" tcp one
row "quic_lite, two streams" quic two
row "quic_lite, stream per request" quic per
row "tcp, two connections" tcp two
row "tcp, connection per request" tcp per
