#!/bin/bash
# bench/homa_veth.sh — Fig. 4a over a veth pair, and redis GET latency while 1 MB SETs run:
# kernel TCP, MTP TCP and MTP Homa (libmtp.so on both ends, XDP target) side by side, in the
# same run. Not a test: it prints two tables (`make bench-homa-veth`).
#   usage: homa_veth.sh LIBMTP_SO HOMA_VETH_BIN [RPCS (default 300)] [GETS (default 3000)]
# Fig. 4a: client A issues back-to-back RPCs of 100-500 KB, client B 1 MB requests at half of
# the rate A reached alone (each stack's own capacity), in one client process (libmtp.so serves
# one process per interface); the server is single-threaded and answers 170 B. Slowdown of an
# RPC = its latency under load / the latency of the same RPC in the run without B.
# redis: GETs of a 3-byte value back to back, alone and while another connection of the same
# process SETs 1 MB values at SET_RATE bytes/s (default 50 MB/s); redis-server runs on the
# kernel, or under libmtp.so with the same MTP_PROTO as the client.
set -u
lib=$(realpath "$1") bin=$(realpath "$2")
rpcs=${3:-300} gets=${4:-3000} set_rate=${SET_RATE:-50000000}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"

env_of() { # stack side: the environment that puts a command on it
    case $1 in
        kernel) ;;
        mtp-tcp) echo "LD_PRELOAD=$lib MTP_PROTO=tcp MTP_IFACE=$2" ;;
        mtp-homa) echo "LD_PRELOAD=$lib MTP_PROTO=homa MTP_IFACE=$2" ;;
    esac
}
wait_port() { # port: something listens in A (the MTP listener's kernel socket listens too)
    for _ in $(seq 100); do mx_in A ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    echo "homa_veth.sh: nothing listens on $1" >&2; return 1
}
stop() { kill "$1" 2>/dev/null; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null; }

# slowdown ALONE LOADED: p50 p99 of loaded/alone per RPC; percentiles of a latency file
slowdown() {
    python3 - "$1" "$2" <<'PY'
import sys
def lat(f): return [int(l.split()[1]) for l in open(f) if not l.startswith("rate")]
a, b = lat(sys.argv[1]), lat(sys.argv[2])
s = sorted(y / x for x, y in zip(a, b))
print("%.2f %.2f" % (s[len(s) // 2], s[len(s) * 99 // 100]))
PY
}
pct() {
    python3 - "$1" <<'PY'
import sys
v = sorted(int(l.split()[1]) / 1000 for l in open(sys.argv[1]) if not l.startswith("rate"))
print("%.0f %.0f" % (v[len(v) // 2], v[len(v) * 99 // 100]))
PY
}

declare -A fig red
port=7600
for st in kernel mtp-tcp mtp-homa; do
    port=$((port + 1))
    mx_bg A env $(env_of $st "$MX_DEV_A") timeout 300 "$bin" serve $port >/dev/null 2>&1; srv=$MX_BG_PID
    wait_port $port || exit 1
    cli() { mx_in B env $(env_of $st "$MX_DEV_B") timeout 300 "$bin" "$@"; }
    cli fig4a "$MX_IP_A" $port "$rpcs" 0 >"$tmp/$st.alone" || { echo "$st: fig4a alone failed"; exit 1; }
    rate=$(sed -n 's/^rate //p' "$tmp/$st.alone")
    cli fig4a "$MX_IP_A" $port "$rpcs" $((rate / 2)) >"$tmp/$st.load" || { echo "$st: fig4a loaded failed"; exit 1; }
    fig[$st]="$(slowdown "$tmp/$st.alone" "$tmp/$st.load") $((rate * 8 / 1000000))"
    stop $srv

    port=$((port + 1))
    mx_bg A env $(env_of $st "$MX_DEV_A") timeout 300 redis-server --port $port --save '' \
        --appendonly no --protected-mode no >/dev/null 2>&1; srv=$MX_BG_PID
    wait_port $port || exit 1
    cli redis "$MX_IP_A" $port "$gets" 0 >"$tmp/$st.get" || { echo "$st: redis GETs failed"; exit 1; }
    cli redis "$MX_IP_A" $port "$gets" "$set_rate" >"$tmp/$st.getload" ||
        { echo "$st: redis GETs under SETs failed"; exit 1; }
    red[$st]="$(pct "$tmp/$st.get") $(pct "$tmp/$st.getload")"
    stop $srv
done

# ratio A B: A / B as "0.42x" (n/a when B is 0)
ratio() { python3 -c 'import sys; a, b = map(float, sys.argv[1:]); print("%.2fx" % (a / b) if b else "n/a")' "$1" "$2"; }

echo "Fig. 4a over veth ($rpcs RPCs of 100-500 KB; B: 1 MB requests at half of A's rate alone)"
printf '%-10s %12s %8s %8s %14s %14s\n' stack "A alone Mb/s" "p50" "p99" "p50 / kernel" "p99 / kernel"
read -r k50 k99 _ <<<"${fig[kernel]}"
for st in kernel mtp-tcp mtp-homa; do
    set -- ${fig[$st]}
    printf '%-10s %12s %8s %8s %14s %14s\n' "$st" "$3" "$1" "$2" "$(ratio "$1" "$k50")" "$(ratio "$2" "$k99")"
done
echo "issue 13's goal: mtp-homa's p99 slowdown <= 1/3 of the kernel's (p99 / kernel <= 0.33x)"
echo
echo "redis GET latency (us; $gets GETs), alone and while 1 MB SETs run at $((set_rate / 1000000)) MB/s"
printf '%-10s %10s %10s %12s %12s %14s %14s\n' stack "alone p50" "alone p99" "loaded p50" \
    "loaded p99" "p50 / kernel" "p99 / kernel"
read -r _ _ r50 r99 <<<"${red[kernel]}"
for st in kernel mtp-tcp mtp-homa; do
    set -- ${red[$st]}
    printf '%-10s %10s %10s %12s %12s %14s %14s\n' "$st" "$1" "$2" "$3" "$4" "$(ratio "$3" "$r50")" \
        "$(ratio "$4" "$r99")"
done
echo "(the ratios compare the loaded GETs with the kernel's loaded GETs)"
