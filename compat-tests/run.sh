#!/bin/bash
# compat-tests/run.sh — runs the socket-behaviour programs (compat-tests/src/ct_*.c) in every
# arrangement, with the same expectations each time:
#   --kernel       lo (one namespace's loopback) and two namespaces, both ends on the kernel
#   --must-fail LIAR  on lo under LD_PRELOAD=LIAR (src/ct_liar.c): every program must FAIL
#   --preload LIB  the same binaries under LD_PRELOAD=LIB: on lo (MTP_IFACE=lo, both ends in
#                  one process), across two namespaces with a kernel peer, and with LIB on
#                  both ends
# usage: run.sh --kernel|--preload LIB PROG...    (root; each program bounded by `timeout`)
# CT_ARRANGEMENTS="lo lo-kpeer lo-mpeer ns ns-both" (the default) picks the arrangements under
# --preload; lo-kpeer: on lo, this side under LIB (MTP_IFACE=lo), the peer a kernel process on
# 127.0.0.1; lo-mpeer: the peer another process under LIB on lo (two stacks on one interface).
# ct_route's "# path" lines are checked too: under LIB the IPv4 streams on the stack's
# interface must not be in the kernel's TCP table, the side channels must be.
set -u
here=$(cd "$(dirname "$0")" && pwd)
lib="" liar=""
case ${1:-} in
    --kernel) shift ;;
    --must-fail) liar=$(realpath "$2") || exit 2; shift 2 ;;
    --preload) lib=$(realpath "$2") || exit 2; shift 2 ;;
    *) echo "usage: run.sh --kernel|--preload LIB|--must-fail LIAR PROG..." >&2; exit 2 ;;
esac
[ $# -gt 0 ] || { echo "run.sh: no programs" >&2; exit 2; }
source "$here/../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
export MTP_PROTO=${MTP_PROTO:-tcp} MTP_TARGET=${MTP_TARGET:-xdp} CT_TIMEOUT=${CT_TIMEOUT:-30}
failed=0 runs=0
port=10000  # per run: base .. base+99 and base+1000.., all below the ephemeral range

# check_paths OUTPUT WANT... : every "path NAME: X" line must say what WANT lists (NAME=X)
check_paths() {
    local out=$1 w name want got; shift
    for w in "$@"; do
        name=${w%%=*} want=${w#*=}
        got=$(sed -n "s/^# path $name: //p" "$out" | head -1)
        [ -z "$got" ] || [ "$got" = "$want" ] ||
            { echo "not ok - $name went to the $got stack, want $want"; return 1; }
    done
}

# blackhole NS IP PORT: a kernel listener on IP:PORT in NS whose segments, SYNs excepted, are
# dropped on the way in (ct_errno's ETIMEDOUT case; CT_BLACKHOLE tells it where)
blackhole() {
    mx_bg "$1" socat TCP-LISTEN:"$3",bind="$2",reuseaddr,fork OPEN:/dev/null
    printf 'table inet ctbh {\n chain input {\n  type filter hook input priority -300;\n  tcp dport %s tcp flags & syn != syn drop\n }\n}\n' "$3" |
        mx_in "$1" nft -f - || exit 1
}
blackhole A 127.0.0.1 9
blackhole B "$MX_IP_B" 9
for _ in $(seq 50); do mx_in B ss -Htln "sport = :9" | grep -q . && break; sleep 0.1; done

# continue_peer PID: SIGCONT to the program that `timeout` PID runs (a CT_BLACKHOLE=peer
# peer stops itself)
continue_peer() {
    local child
    for child in $(ps -o pid= --ppid "$1"); do kill -CONT "$child" 2>/dev/null; done
}

# run LABEL PROG [env for the local side...]: one arrangement of one program
run_one() {
    local label=$1 prog=$2 where=$3 peer_pre=$4 local_pre=$5 name rc prc=0
    name=$(basename "$prog")
    port=$((port + 100)); runs=$((runs + 1))
    local out="$tmp/$name.$label.out" pout="$tmp/$name.$label.peer"
    if [ "$where" = lo-kpeer ]; then
        timeout 90 ip netns exec "$MX_NS_A" "$prog" --peer --lip 127.0.0.1 --pip 127.0.0.1 \
            --port $port >"$pout" 2>&1 & local ppid=$!
        timeout 90 ip netns exec "$MX_NS_A" env CT_BLACKHOLE=127.0.0.1:9 $local_pre "$prog" \
            --lip 127.0.0.1 --pip 127.0.0.1 --port $port >"$out" 2>&1; rc=$?
        wait $ppid; prc=$?
    elif [ "$where" = lo-mpeer ]; then # two MTP processes on lo (several per interface)
        local bh=127.0.0.1:9
        [ "$MTP_PROTO" = homa ] && bh=peer
        timeout 90 ip netns exec "$MX_NS_A" env CT_BLACKHOLE=$bh $peer_pre "$prog" --peer \
            --lip 127.0.0.1 --pip 127.0.0.1 --port $port >"$pout" 2>&1 & local ppid=$!
        timeout 90 ip netns exec "$MX_NS_A" env CT_BLACKHOLE=$bh $local_pre "$prog" \
            --lip 127.0.0.1 --pip 127.0.0.1 --port $port >"$out" 2>&1; rc=$?
        [ $bh = peer ] && continue_peer $ppid
        wait $ppid; prc=$?
    elif [ "$where" = lo ]; then
        timeout 90 ip netns exec "$MX_NS_A" env CT_BLACKHOLE=127.0.0.1:9 $local_pre "$prog" \
            --port $port >"$out" 2>&1; rc=$?
    else
        # the kernel is no Homa peer: the blackhole is the peer process, stopped (ct_errno)
        local bh="$MX_IP_B:9"
        [ "$MTP_PROTO" = homa ] && bh=peer
        timeout 90 ip netns exec "$MX_NS_B" env CT_BLACKHOLE=$bh $peer_pre "$prog" --peer --lip "$MX_IP_A" \
            --pip "$MX_IP_B" --port $port >"$pout" 2>&1 & local ppid=$!
        timeout 90 ip netns exec "$MX_NS_A" env CT_BLACKHOLE=$bh $local_pre "$prog" --lip "$MX_IP_A" \
            --pip "$MX_IP_B" --port $port >"$out" 2>&1; rc=$?
        [ $bh = peer ] && continue_peer $ppid
        wait $ppid; prc=$?
    fi
    if [ "$name" = ct_route ] && [ $rc = 0 ]; then
        case $label in
            preload-lo*) check_paths "$out" inet-peer=user tcp-127.0.0.1=user tcp-::1=kernel ;;
            preload-ns*) check_paths "$out" inet-peer=user inet6-dual-stack-accepted=user \
                inet6-v4-mapped-client=user any-listener-from-peer=user \
                any-listener-from-127.0.0.1=kernel tcp-127.0.0.1=kernel tcp-::1=kernel ;;
            kernel-*) check_paths "$out" inet-peer=kernel tcp-127.0.0.1=kernel ;;
        esac >>"$out" || rc=1
    fi
    local verdict=ok
    if [ -n "$liar" ]; then # the program must notice the lie: fail, and not by the watchdog
        if [ $rc = 1 ] && grep -q '^not ok [0-9]' "$out"; then
            printf '%-4s %-10s %-16s %s\n' ok "$name" "$label" "fails as it must: $(grep '^not ok' "$out" | head -1)"
        else
            failed=$((failed + 1))
            printf '%-4s %-10s %-16s %s\n' FAIL "$name" "$label" "passed (or hung) under the liar: exit $rc"
        fi
        return 0
    fi
    [ $rc = 0 ] && [ $prc = 0 ] || { verdict=FAIL; failed=$((failed + 1)); }
    printf '%-4s %-10s %-16s %s\n' "$verdict" "$name" "$label" \
        "$(grep -c '^ok' "$out") ok, $(grep -c '^not ok' "$out") not ok$([ $prc = 0 ] || echo ", peer exit $prc")"
    if [ $verdict = FAIL ]; then
        sed 's/^/    /' "$out"
        [ -s "$pout" ] && sed 's/^/    peer: /' "$pout"
        [ $rc = 124 ] && echo "    (killed by timeout)"
    fi
    return 0
}

for prog in "$@"; do
    [ -x "$prog" ] || { echo "run.sh: $prog is not built" >&2; exit 2; }
    prog=$(realpath "$prog")
    if [ -n "$liar" ]; then
        run_one liar-lo "$prog" lo "" "LD_PRELOAD=$liar CT_LIE=$(basename "$prog")"
    elif [ -z "$lib" ]; then
        run_one kernel-lo "$prog" lo "" ""
        run_one kernel-ns "$prog" ns "" ""
    else
        for arr in ${CT_ARRANGEMENTS:-lo lo-kpeer lo-mpeer ns ns-both}; do
            case $arr in
                lo) run_one preload-lo "$prog" lo "" "LD_PRELOAD=$lib MTP_IFACE=lo" ;;
                lo-kpeer) run_one preload-lo-kpeer "$prog" lo-kpeer "" "LD_PRELOAD=$lib MTP_IFACE=lo" ;;
                lo-mpeer) run_one preload-lo-mpeer "$prog" lo-mpeer "LD_PRELOAD=$lib MTP_IFACE=lo" \
                    "LD_PRELOAD=$lib MTP_IFACE=lo" ;;
                ns) run_one preload-ns "$prog" ns "" "LD_PRELOAD=$lib MTP_IFACE=$MX_DEV_A" ;;
                ns-both) run_one preload-ns-both "$prog" ns "LD_PRELOAD=$lib MTP_IFACE=$MX_DEV_B" \
                    "LD_PRELOAD=$lib MTP_IFACE=$MX_DEV_A" ;;
                *) echo "run.sh: CT_ARRANGEMENTS: unknown '$arr' (lo, lo-kpeer, lo-mpeer, ns, ns-both)" >&2; exit 2 ;;
            esac
        done
    fi
done
echo "compat: $((runs - failed)) of $runs program runs passed$([ -n "$lib" ] && echo " (under $lib)")"
[ $failed = 0 ]
