#!/bin/bash
# bench/homa_veth.sh — Fig. 4a over a veth pair, and redis GET latency while 1 MB SETs run:
# kernel TCP, MTP TCP and MTP Homa (libmtp.so on both ends, XDP target) side by side, in the
# same run. Not a test: it prints two tables (`make bench-homa-veth`).
#   usage: homa_veth.sh LIBMTP_SO HOMA_VETH_BIN [RPCS (default 300)] [GETS (default 3000)]
#   BENCH_REPS (default 3): repetitions; SET_RATE (default 50000000): the SETs' bytes/s;
#   BENCH_OUT=DIR: keep every run's raw output there (one "size latency_ns" line per RPC/GET).
#   The rest of the environment reaches every process (e.g. MTP_BUSY_POLL_US for the MTP ones);
#   HOMA_ENV="VAR=value ..." reaches only the mtp-homa processes (homa.mtp's MTP_PARAM_*, which
#   tcp.mtp would refuse).
# Fig. 4a: client A issues back-to-back RPCs of 100-500 KB; client B, another process (the
# paper's second client machine; under libmtp.so its own stack on the same interface), sends
# 1 MB requests at half of the rate A reached alone in the same repetition (each stack's own
# capacity). The server is single-threaded and answers 170 B. Slowdown of an RPC = its latency
# under load / the unloaded latency of its size: the median latency of the run without B's
# RPCs in the same 50 KB size band (the RPC sizes are the same in both runs).
# redis: one process GETs a 3-byte value back to back, alone and while another process SETs
# 1 MB values at SET_RATE; redis-server runs on the kernel, or under libmtp.so with the same
# MTP_PROTO as the clients.
# Repetitions are interleaved (kernel, mtp-tcp, mtp-homa, kernel, ...), each one an alone run
# and a loaded run with fresh servers; the tables print the median over repetitions and the
# spread [min-max], so a reader sees whether the numbers are stable.
set -u
lib=$(realpath "$1") bin=$(realpath "$2")
rpcs=${3:-300} gets=${4:-3000} set_rate=${SET_RATE:-50000000} reps=${BENCH_REPS:-3}
case $reps in ''|*[!0-9]*|0) echo "BENCH_REPS=$reps: accepted: a whole number >= 1" >&2; exit 2 ;; esac
case $set_rate in ''|*[!0-9]*|0) echo "SET_RATE=$set_rate: accepted: bytes/s, a whole number >= 1" >&2; exit 2 ;; esac
stacks="kernel mtp-tcp mtp-homa"
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../tests/netns.sh"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
if [ -n "${BENCH_OUT:-}" ]; then
    mkdir -p "$BENCH_OUT" || exit 1
    mx__prev_exit="cp -r '$tmp'/. '$BENCH_OUT'/; $mx__prev_exit"
fi

env_of() { # stack side: the environment that puts a command on it
    case $1 in
        kernel) ;;
        mtp-tcp) echo "LD_PRELOAD=$lib MTP_PROTO=tcp MTP_IFACE=$2" ;;
        mtp-homa) echo "LD_PRELOAD=$lib MTP_PROTO=homa MTP_IFACE=$2 ${HOMA_ENV:-}" ;;
    esac
}
wait_port() { # port: something listens in A (the MTP listener's kernel socket listens too)
    for _ in $(seq 100); do mx_in A ss -Htln "sport = :$1" | grep -q . && return 0; sleep 0.1; done
    echo "homa_veth.sh: nothing listens on $1" >&2; return 1
}
wait_connected() { # file: an open-loop client wrote "connected" into it (10 s at most)
    for _ in $(seq 100); do grep -q '^connected' "$1" && return 0; sleep 0.1; done
    echo "homa_veth.sh: the load client did not connect" >&2; return 1
}
stop() { kill "$1" 2>/dev/null; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null; }

# One server in A (on $port; each server gets a fresh one): sets srv, its pid.
port=7600
server() { # stack cmd...
    local st=$1; shift
    mx_bg A env $(env_of "$st" "$MX_DEV_A") timeout 300 "$@" >"$tmp/server.log" 2>&1; srv=$MX_BG_PID
    wait_port $port || { echo "$st: $1 did not start:" >&2; tail -5 "$tmp/server.log" >&2; return 1; }
}
client() { # stack args... : a client in B, in the foreground
    local st=$1; shift
    mx_in B env $(env_of "$st" "$MX_DEV_B") timeout 300 "$bin" "$@"
}
# alone_and_loaded STACK CLOSED OPEN COUNT LOAD OUT: the closed-loop client alone (OUT.alone),
# then again while the open-loop client runs in its own process at LOAD bytes/s (OUT.load;
# what it sent in OUT.bg). LOAD "half" means half of the alone run's rate.
alone_and_loaded() {
    local st=$1 closed=$2 open=$3 n=$4 load=$5 out=$6 bg
    client "$st" "$closed" "$MX_IP_A" $port "$n" >"$out.alone" || { echo "$st: $closed alone failed" >&2; return 1; }
    [ "$load" = half ] && load=$(( $(sed -n 's/^rate //p' "$out.alone") / 2 ))
    mx_bg B env $(env_of "$st" "$MX_DEV_B") timeout 300 "$bin" "$open" "$MX_IP_A" $port "$load" \
        >"$out.bg" 2>&1; bg=$MX_BG_PID
    wait_connected "$out.bg" || return 1
    client "$st" "$closed" "$MX_IP_A" $port "$n" >"$out.load" || { echo "$st: $closed loaded failed" >&2; return 1; }
    stop $bg
    grep -q '^sent' "$out.bg" || { echo "$st: $open did not finish cleanly" >&2; return 1; }
}

for rep in $(seq "$reps"); do
    for st in $stacks; do
        port=$((port + 1))
        server "$st" "$bin" serve $port || exit 1
        alone_and_loaded "$st" fig4a-a fig4a-b "$rpcs" half "$tmp/fig.$st.$rep" || exit 1
        stop $srv
        port=$((port + 1))
        server "$st" redis-server --port $port --save '' --appendonly no --protected-mode no || exit 1
        alone_and_loaded "$st" redis-get redis-set "$gets" "$set_rate" "$tmp/red.$st.$rep" || exit 1
        stop $srv
    done
done

# The tables: per repetition the numbers of each stack, then the median [min-max] over them;
# ratios to the kernel are taken within a repetition (same minute, same machine load).
python3 - "$tmp" "$reps" "$rpcs" "$gets" "$set_rate" $stacks <<'PY'
import sys
tmp, reps, rpcs, gets, set_rate, stacks = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6:]

def lat(f): return [int(l.split()[1]) for l in open(f) if not l.startswith("rate")]
def pick(v, q): v = sorted(v); return v[min(len(v) - 1, len(v) * q // 100)]
def rate(f): return next(float(l.split()[1]) for l in open(f) if l.startswith("rate"))
def bg_rate(f):  # bytes/s the open-loop client got answered
    w = next(l.split() for l in open(f) if l.startswith("sent"))
    return int(w[3]) * 1e6 / float(w[5])
def med(v): v = sorted(v); return v[(len(v) - 1) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
def rpcs_of(f): return [tuple(map(int, l.split())) for l in open(f) if not l.startswith("rate")]
def band(size): return min(7, (size - 100000) // 50000)  # 100-150 KB, ..., 450-500 KB
def slowdown(f):
    # unloaded latency of a size = the median of the alone run's RPCs in its 50 KB band:
    # a single slow RPC of the alone run (a late wake-up) no longer makes a slowdown
    bands = {}
    for size, ns in rpcs_of(f + ".alone"):
        bands.setdefault(band(size), []).append(ns)
    s = [ns / med(bands[band(size)]) for size, ns in rpcs_of(f + ".load")]
    return pick(s, 50), pick(s, 99)
def cell(v, fmt):
    return (fmt % med(v)) + ("" if len(v) == 1 else " [" + fmt % min(v) + "-" + fmt % max(v) + "]")
def row(cells): print("  ".join(c.rjust(w) for c, w in zip(cells, widths)))

fig = {st: [slowdown("%s/fig.%s.%d" % (tmp, st, r)) for r in range(1, reps + 1)] for st in stacks}
print("Fig. 4a over veth (%s RPCs of 100-500 KB; B: 1 MB requests at half of A's rate alone, its own process)" % rpcs)
print("median [min-max] over %d interleaved repetitions" % reps)
widths = [8, 22, 22, 22, 22, 22]
row(["stack", "A alone Mb/s", "B got Mb/s", "slowdown p50", "slowdown p99", "p99 / kernel's"])
for st in stacks:
    f = ["%s/fig.%s.%d" % (tmp, st, r) for r in range(1, reps + 1)]
    p99k = [k[1] for k in fig["kernel"]]
    row([st, cell([rate(x + ".alone") * 8e-6 for x in f], "%.0f"),
         cell([bg_rate(x + ".bg") * 8e-6 for x in f], "%.0f"),
         cell([s[0] for s in fig[st]], "%.2f"), cell([s[1] for s in fig[st]], "%.2f"),
         cell([s[1] / k for s, k in zip(fig[st], p99k)], "%.2fx")])
print("issue 13's goal: mtp-homa's p99 slowdown <= 1/3 of the kernel's (p99 / kernel's <= 0.33x)")
print()
print("redis GET latency (us; %s GETs), alone and while another process SETs 1 MB values at %d MB/s"
      % (gets, set_rate // 1000000))
print("median [min-max] over %d interleaved repetitions" % reps)
widths = [8, 18, 18, 18, 18, 20]
row(["stack", "alone p50", "alone p99", "loaded p50", "loaded p99", "loaded p99 / kernel's"])
red = {st: [["%s/red.%s.%d.%s" % (tmp, st, r, k) for k in ("alone", "load")] for r in range(1, reps + 1)] for st in stacks}
for st in stacks:
    us = lambda f, q: pick(lat(f), q) / 1000
    row([st, cell([us(a, 50) for a, _ in red[st]], "%.0f"), cell([us(a, 99) for a, _ in red[st]], "%.0f"),
         cell([us(b, 50) for _, b in red[st]], "%.0f"), cell([us(b, 99) for _, b in red[st]], "%.0f"),
         cell([us(b, 99) / us(k, 99) for (_, b), (_, k) in zip(red[st], red["kernel"])], "%.2fx")])
PY
