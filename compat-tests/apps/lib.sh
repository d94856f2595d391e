# compat-tests/apps/lib.sh — what the application scripts share (source it after setting
# APP to the script's name). Usage of every script:  SCRIPT ARRANGEMENT [--long]
#   kernel  server in namespace A, client in B, both on the kernel (checks the script itself)
#   ns      server under libmtp.so in A (MTP_IFACE = the veth), kernel client in B
#   both    server under libmtp.so in A, client under libmtp.so in B
#   lo      server under libmtp.so with MTP_IFACE=lo in A, kernel client in A over lo
# --long adds the long runs (100 MB, 5 s loads). LIBMTP_SO names the library (default
# build/lib/libmtp.so). MTP_TARGET=dpdk runs the stacks on DPDK (net_af_packet on the veth):
# the kernel sees those frames too, so each stack gets its own address (MTP_IP 10.201.0.11 for
# the server, .12 for an MTP client) and the clients use it. Needs root. Every client is bounded by `timeout`; the servers are
# stopped by PID, and the namespaces (with anything left in them) removed by the EXIT trap.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LIB=$(realpath "${LIBMTP_SO:-$ROOT/build/lib/libmtp.so}" 2>/dev/null || echo "${LIBMTP_SO:-$ROOT/build/lib/libmtp.so}")
ARR=${1:-}
LONG=0
[ "${2:-}" = --long ] && LONG=1
case $ARR in
    kernel | ns | both | lo) ;;
    *) echo "usage: $APP kernel|ns|both|lo [--long]" >&2; exit 2 ;;
esac
[ "$ARR" = kernel ] || [ -r "$LIB" ] || { echo "$APP: $LIB is not built" >&2; exit 2; }
export MTP_PROTO=${MTP_PROTO:-tcp} MTP_TARGET=${MTP_TARGET:-xdp}

source "$ROOT/tests/netns.sh"
mx_netns_up || exit 1
TMP=$(mktemp -d)
mx__prev_exit="rm -rf '$TMP'"
chmod 755 "$TMP" # servers that drop privileges read their files here

SRV_NS=A CLI_NS=B SRV_IP=$MX_IP_A
SRV_ENV=() CLI_ENV=()
SRV_MTP_IP=() CLI_MTP_IP=()
if [ "$MTP_TARGET" = dpdk ] && [ "$ARR" != kernel ]; then
    [ "$ARR" = lo ] && { echo "$APP: MTP_TARGET=dpdk has no lo arrangement" >&2; exit 2; }
    SRV_MTP_IP=(MTP_IP=10.201.0.11) CLI_MTP_IP=(MTP_IP=10.201.0.12) SRV_IP=10.201.0.11
fi
case $ARR in
    ns) SRV_ENV=(LD_PRELOAD="$LIB" MTP_IFACE="$MX_DEV_A" "${SRV_MTP_IP[@]}") ;;
    both) SRV_ENV=(LD_PRELOAD="$LIB" MTP_IFACE="$MX_DEV_A" "${SRV_MTP_IP[@]}")
          CLI_ENV=(LD_PRELOAD="$LIB" MTP_IFACE="$MX_DEV_B" "${CLI_MTP_IP[@]}") ;;
    lo) SRV_ENV=(LD_PRELOAD="$LIB" MTP_IFACE=lo); CLI_NS=A SRV_IP=127.0.0.1 ;;
esac
SRV_PIDS=()

say() { echo "$APP [$ARR]: $*"; }
fail() { say "FAIL: $*"; [ -n "${SRV_LOG:-}" ] && [ -s "$SRV_LOG" ] && tail -5 "$SRV_LOG" | sed 's/^/    server: /'; exit 1; }

# srv CMD...: start the server in its namespace (with its environment); SRV_PID is its PID
srv() {
    mx_bg "$SRV_NS" env "${SRV_ENV[@]}" "$@"
    SRV_PID=$MX_BG_PID
    SRV_PIDS+=("$SRV_PID")
}
# srv_in_ns CMD...: a kernel process in the server's namespace (side channels, lo clients)
srv_ns() { mx_in "$SRV_NS" timeout 60 "$@"; }
# cli SECONDS CMD...: run a client in its namespace, bounded
cli() { local t=$1; shift; mx_in "$CLI_NS" env "${CLI_ENV[@]}" timeout "$t" "$@"; }
# retry SECONDS CMD...: until CMD succeeds (the server is starting; output is the caller's)
retry() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        for p in "${SRV_PIDS[@]}"; do kill -0 "$p" 2>/dev/null || return 1; done
        sleep 0.2
    done
}
# stop PID: TERM, then KILL after 5 s, which fails the run (a server must end on SIGTERM)
# unless APPS_STRICT_EXIT=0 (then it is one NOTE line)
stop() {
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$1" 2>/dev/null
    [ "${APPS_STRICT_EXIT:-1}" = 0 ] && { say "NOTE: did not exit within 5 s of SIGTERM (killed)"; return 0; }
    fail "the server did not exit within 5 s of SIGTERM (killed)"
}
# idle_cpu PID: percent of one core the process used over 3 s
idle_cpu() {
    local t1 t2
    t1=$(awk '{print $14 + $15}' "/proc/$1/stat") || return 1
    sleep 3
    t2=$(awk '{print $14 + $15}' "/proc/$1/stat") || return 1
    echo $(( (t2 - t1) * 100 / (3 * $(getconf CLK_TCK)) ))
}
alive() { kill -0 "$SRV_PID" 2>/dev/null || fail "the server died"; }
mkfile() { head -c "$2" /dev/urandom >"$1"; }
