#!/bin/bash
# bench/bench.sh — MTP next to kernel TCP, same run, same namespaces, same veth pair.
#   1. bulk throughput (MB/s, CPU seconds per GB): kernel -> kernel, mtpcat (xdp) -> kernel,
#      kernel -> mtpcat (xdp), and mtpcat over the dpdk target (net_af_xdp vdev) both ways
#   2. request/response latency (p50/p99): kernel <-> kernel, MTP client -> kernel server,
#      MTP <-> MTP
#   3. memory per idle established connection: MTP (two stacks on the sim wire, in process)
#      and kernel TCP (loopback connections inside a namespace)
# Prints one table; absolute numbers are this machine's, the MTP/kernel ratios carry over.
# Never asserts on time. usage: bench.sh BUILD_DIR   (env: BENCH_MB, BENCH_RTT, BENCH_CONNS)
set -u
B=$(realpath "${1:-build}")
MB=${BENCH_MB:-1024} RTT=${BENCH_RTT:-20000} CONNS=${BENCH_CONNS:-10000}
BIN=$B/bin
KCAT=$BIN/bench_kcat PP=$BIN/bench_pingpong MTPCAT=$BIN/mtpcat
export MTP_XDP_OBJ=$B/bpf/tcp.bpf.o MTP_PROTO=tcp
[ "$(id -u)" = 0 ] || { echo "bench.sh: needs root (network namespaces, XDP)" >&2; exit 1; }
for f in "$KCAT" "$PP" "$MTPCAT" "$BIN/bench_idle_conns" "$BIN/bench_kidle" "$MTP_XDP_OBJ"; do
    [ -e "$f" ] || { echo "bench.sh: $f missing (make all)" >&2; exit 1; }
done

# --------------------------------------------------------------- namespaces (prefix mb)
id=$$
NSA=mba-$id NSB=mbb-$id DEVA=mba$id DEVB=mbb$id IPA=10.209.0.1 IPB=10.209.0.2
tmp=$(mktemp -d /tmp/mbbench.XXXXXX)
bg=()
cleanup() {
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    for ns in "$NSA" "$NSB"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ip netns add "$NSA" && ip netns add "$NSB" &&
ip link add "$DEVA" netns "$NSA" type veth peer name "$DEVB" netns "$NSB" || {
    echo "bench.sh: cannot create namespaces" >&2; exit 1; }
for s in A B; do
    eval "ns=\$NS$s dev=\$DEV$s ip=\$IP$s"
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip/24" dev "$dev"
    ip -n "$ns" link set "$dev" up
    # as tests/netns.sh: complete checksums, MTU-sized frames (what a NIC would deliver)
    ip netns exec "$ns" ethtool -K "$dev" tx off rx off tso off gso off gro off >/dev/null 2>&1
done
inA() { ip netns exec "$NSA" "$@"; }
inB() { ip netns exec "$NSB" "$@"; }
wait_line() { # file pattern pid
    for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; kill -0 "$3" 2>/dev/null || return 1; sleep 0.05; done
    return 1
}
TIMEFMT="%e %U %S"
cpu_of() { awk 'END { print $2 + $3 }' "$1" 2>/dev/null; }   # user + sys of a time(1) file

# --------------------------------------------------------------- environment
echo "== mtp bench: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "   kernel $(uname -r), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
echo "   bulk ${MB} MB per transfer over a veth pair between two namespaces (checksum/TSO/GRO"
echo "   offloads off); ${RTT} round trips of 64 bytes; ${CONNS} idle connections"
echo "   load average before the run: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows up as noise)"
echo "   Absolute numbers are specific to this machine (and to its load); the MTP/kernel"
echo "   ratios are what carries over."
echo

# --------------------------------------------------------------- 1. bulk
# bulk LABEL SENDER RECEIVER: SENDER/RECEIVER are k (kernel, kcat), x (mtpcat, xdp) or
# d (mtpcat, dpdk af_xdp vdev). A sends BENCH_MB from a pipe to B, which discards it. The
# rate comes from kcat's clock: the receiver's (connection up -> EOF) when B is kernel, the
# sender's (connection up -> last byte acknowledged) when B is mtpcat. CPU: user + system
# time of both endpoint processes (time(1)); kernel work done in softirq context is charged
# to whichever process was running, which on veth is mostly the sender.
port=6000
declare -A RATE CPU
endpoint_cmd() { # kind side(A|B) mode(connect|listen) -> prints the command
    local dev ip
    [ "$2" = A ] && dev=$DEVA || dev=$DEVB
    case $1 in
    k) [ "$3" = listen ] && echo "$KCAT -l $port" || echo "$KCAT $IPB $port" ;;
    x) [ "$3" = listen ] && echo "env MTP_TARGET=xdp MTP_IFACE=$dev $MTPCAT -v -l $port" ||
           echo "env MTP_TARGET=xdp MTP_IFACE=$dev $MTPCAT -v $IPB $port" ;;
    d) [ "$2" = A ] && ip=$IPA || ip=$IPB
       local a="env MTP_TARGET=dpdk MTP_IFACE= MTP_IP=$ip MTP_DPDK_ARGS=--vdev=net_af_xdp0,iface=$dev"
       [ "$3" = listen ] && echo "$a $MTPCAT -v -l $port" || echo "$a $MTPCAT -v $IPB $port" ;;
    esac
}
bulk() { # label sender receiver
    local label=$1 snd=$2 rcv=$3
    port=$((port + 1))
    rm -f "$tmp"/rx.* "$tmp"/tx.*
    # the dpdk target owns the interface (af_xdp redirects every frame): the kernel's
    # address leaves that side meanwhile
    [ "$snd" = d ] && ip -n "$NSA" addr flush dev "$DEVA"
    [ "$rcv" = d ] && ip -n "$NSB" addr flush dev "$DEVB"
    timeout 120 ip netns exec "$NSB" /usr/bin/time -o "$tmp/rx.time" -f "$TIMEFMT" \
        $(endpoint_cmd "$rcv" B listen) </dev/null >/dev/null 2>"$tmp/rx.err" & local r=$!
    bg+=($r)
    if ! wait_line "$tmp/rx.err" listening "$r"; then
        RATE[$label]=fail; CPU[$label]=fail
        echo "   $label: receiver did not come up: $(grep -v '^[0-9]' "$tmp/rx.err" | tail -2)"
    else
        head -c $((MB * 1024 * 1024)) /dev/zero |
            timeout 120 ip netns exec "$NSA" /usr/bin/time -o "$tmp/tx.time" -f "$TIMEFMT" \
                $(endpoint_cmd "$snd" A connect) >/dev/null 2>"$tmp/tx.err"
        local rc=$?
        wait "$r"; local rrc=$?
        local secs
        if [ "$rcv" = k ]; then secs=$(grep -o 'rx_eof_s [0-9.]*' "$tmp/rx.err" | awk '{print $2}')
        else secs=$(grep -o 'tx_acked_s [0-9.]*' "$tmp/tx.err" | awk '{print $2}'); fi
        if [ $rc != 0 ] || [ $rrc != 0 ] || [ -z "$secs" ]; then
            RATE[$label]=fail; CPU[$label]=fail
            echo "   $label: failed (sender $rc, receiver $rrc): $(grep -hv '^[0-9]' "$tmp/tx.err" "$tmp/rx.err" | tail -3 | tr '\n' ' ')"
        else
            RATE[$label]=$(awk -v mb="$MB" -v s="$secs" 'BEGIN { printf "%.1f", mb * 1.048576 / s }')
            # kernel -> kernel also in the sender's view, the one kernel -> mtpcat is timed in
            local txs=$(grep -o 'tx_acked_s [0-9.]*' "$tmp/tx.err" | awk '{print $2}')
            [ -n "$txs" ] && RATE[${label}_tx]=$(awk -v mb="$MB" -v s="$txs" 'BEGIN { printf "%.1f", mb * 1.048576 / s }')
            CPU[$label]=$(awk -v a="$(cpu_of "$tmp/tx.time")" -v b="$(cpu_of "$tmp/rx.time")" -v mb="$MB" \
                'BEGIN { printf "%.2f", (a + b) / (mb / 1024) }')
            echo "   $label: ${RATE[$label]} MB/s${RATE[${label}_tx]:+ (on the sender clock: ${RATE[${label}_tx]} MB/s)}, ${CPU[$label]} CPU s/GB (sender $(cpu_of "$tmp/tx.time") s, receiver $(cpu_of "$tmp/rx.time") s)"
        fi
    fi
    [ "$snd" = d ] && ip -n "$NSA" addr add "$IPA/24" dev "$DEVA"
    [ "$rcv" = d ] && ip -n "$NSB" addr add "$IPB/24" dev "$DEVB"
    return 0
}
echo "-- 1. bulk transfers"
bulk k2k k k
bulk x2k x k
bulk k2x k x
bulk d2k d k
bulk k2d k d

# --------------------------------------------------------------- 2. latency
declare -A P50 P99
rr() { # label client-kind server-kind (k|m)
    local label=$1 cl=$2 sv=$3
    port=$((port + 1))
    rm -f "$tmp/pp.err"
    MTP_IFACE=$DEVB timeout 120 ip netns exec "$NSB" "$PP" -$sv -l $port >/dev/null 2>"$tmp/pp.err" &
    local s=$!; bg+=($s)
    local out=""
    if wait_line "$tmp/pp.err" listening "$s"; then
        out=$(MTP_IFACE=$DEVA timeout 120 ip netns exec "$NSA" "$PP" -$cl "$IPB" $port "$RTT" 64 2>"$tmp/ppc.err")
    fi
    wait "$s" 2>/dev/null
    if [ -z "$out" ]; then
        P50[$label]=fail; P99[$label]=fail
        echo "   $label: failed: $(cat "$tmp/pp.err" "$tmp/ppc.err" 2>/dev/null | tail -2 | tr '\n' ' ')"
    else
        P50[$label]=$(awk '{for (i = 1; i < NF; i++) if ($i == "p50_us") print $(i+1)}' <<<"$out")
        P99[$label]=$(awk '{for (i = 1; i < NF; i++) if ($i == "p99_us") print $(i+1)}' <<<"$out")
        echo "   $label: $out"
        grep -h 'stack:' "$tmp/ppc.err" "$tmp/pp.err" 2>/dev/null | sed 's/^/      /'
    fi
}
echo "-- 2. request/response, 64 bytes"
rr kk k k
rr mk m k
rr mm m m

# --------------------------------------------------------------- 3. memory per idle connection
echo "-- 3. idle connections"
timeout 120 "$BIN/bench_idle_conns" "$CONNS" >"$tmp/mtp.mem" 2>&1 || echo "   idle_conns failed: $(tail -1 "$tmp/mtp.mem")"
timeout 120 ip netns exec "$NSA" "$BIN/bench_kidle" "$CONNS" >"$tmp/k.mem" 2>&1 || echo "   kidle failed: $(tail -1 "$tmp/k.mem")"
mval() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }
sed 's/^/   mtp: /' "$tmp/mtp.mem"; sed 's/^/   kernel: /' "$tmp/k.mem"

# --------------------------------------------------------------- table
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }
row() { printf "%-46s %12s %12s %8s\n" "$@"; }
echo
echo "== results ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs; ratio = MTP / kernel)"
row "measure" "MTP" "kernel" "ratio"
row "bulk MB/s, mtpcat(xdp) -> kernel" "${RATE[x2k]}" "${RATE[k2k]}" "$(ratio "${RATE[x2k]}" "${RATE[k2k]}")"
row "bulk MB/s, kernel -> mtpcat(xdp)" "${RATE[k2x]}" "${RATE[k2k_tx]:-}" "$(ratio "${RATE[k2x]}" "${RATE[k2k_tx]:-}")"
row "bulk MB/s, mtpcat(dpdk af_xdp) -> kernel" "${RATE[d2k]}" "${RATE[k2k]}" "$(ratio "${RATE[d2k]}" "${RATE[k2k]}")"
row "bulk MB/s, kernel -> mtpcat(dpdk af_xdp)" "${RATE[k2d]}" "${RATE[k2k_tx]:-}" "$(ratio "${RATE[k2d]}" "${RATE[k2k_tx]:-}")"
row "CPU s/GB (both ends), mtpcat(xdp) -> kernel" "${CPU[x2k]}" "${CPU[k2k]}" "$(ratio "${CPU[x2k]}" "${CPU[k2k]}")"
row "CPU s/GB (both ends), kernel -> mtpcat(xdp)" "${CPU[k2x]}" "${CPU[k2k]}" "$(ratio "${CPU[k2x]}" "${CPU[k2k]}")"
row "CPU s/GB (both ends), mtpcat(dpdk) -> kernel" "${CPU[d2k]}" "${CPU[k2k]}" "$(ratio "${CPU[d2k]}" "${CPU[k2k]}")"
row "CPU s/GB (both ends), kernel -> mtpcat(dpdk)" "${CPU[k2d]}" "${CPU[k2k]}" "$(ratio "${CPU[k2d]}" "${CPU[k2k]}")"
row "RR 64 B p50 us, MTP client -> kernel server" "${P50[mk]}" "${P50[kk]}" "$(ratio "${P50[mk]}" "${P50[kk]}")"
row "RR 64 B p99 us, MTP client -> kernel server" "${P99[mk]}" "${P99[kk]}" "$(ratio "${P99[mk]}" "${P99[kk]}")"
row "RR 64 B p50 us, MTP <-> MTP" "${P50[mm]}" "${P50[kk]}" "$(ratio "${P50[mm]}" "${P50[kk]}")"
row "RR 64 B p99 us, MTP <-> MTP" "${P99[mm]}" "${P99[kk]}" "$(ratio "${P99[mm]}" "${P99[kk]}")"
mi=$(mval "$tmp/mtp.mem" idle_heap_per_end) ki=$(mval "$tmp/k.mem" idle_slab_per_end)
mu=$(mval "$tmp/mtp.mem" used_heap_per_end) ku=$(mval "$tmp/k.mem" used_slab_per_end)
row "bytes per idle connection end (heap | slab)" "${mi:--}" "${ki:--}" "$(ratio "$mi" "$ki")"
mm=$(mval "$tmp/mtp.mem" used_marginal_heap_per_end)
row "  after one 64 B request/response each" "${mu:--}" "${ku:--}" "$(ratio "$mu" "$ku")"
row "  the same, beyond MTP's bounded buffer caches" "${mm:--}" "${ku:--}" "$(ratio "$mm" "$ku")"
row "  MTP RSS delta per end: idle | after use" "$(mval "$tmp/mtp.mem" idle_rss_per_end) | $(mval "$tmp/mtp.mem" used_rss_per_end)" "" ""
echo "goal <= 16384 bytes per idle MTP connection end: $(awk -v m="$mi" 'BEGIN { if (m == "") print "not measured"; else if (m <= 16384) printf "met (%d bytes, %.1f%% of the budget)\n", m, 100 * m / 16384; else printf "NOT met (%d bytes)\n", m }')"
