#!/bin/bash
# iperf3 -s started unmodified (it listens on [::]); clients: -t 1 (--long: -t 5, -R -t 5,
# -P 4 -t 5), each must end without error and move bytes both ways as asked.
APP=iperf3.sh
source "$(dirname "$0")/lib.sh"
SRV_LOG=$TMP/iperf3.log
srv iperf3 -s -p 5201 --logfile "$TMP/iperf3.log"
sleep 0.3
run() { # label args...
    local label=$1; shift
    local out=$TMP/iperf.json
    retry 20 cli 60 iperf3 -c "$SRV_IP" -p 5201 -J "$@" --logfile "$out" || { cat "$out"; fail "iperf3 $label"; }
    local bps
    grep -q "\"error\"" "$out" && { grep "\"error\"" "$out"; fail "iperf3 $label: error"; }
    bps=$(/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(int(d["end"]["sum_received"]["bits_per_second"]))' "$out") ||
        fail "iperf3 $label: no result"
    [ "$bps" -gt 0 ] || fail "iperf3 $label: nothing received"
    say "iperf3 $label: $((bps / 1000000)) Mbit/s received"
    rm -f "$out"
}
if [ $LONG = 1 ]; then
    run "-t 5" -t 5
    run "-R -t 5" -R -t 5
    run "-P 4 -t 5" -P 4 -t 5
else
    run "-t 1" -t 1
fi
alive
stop "$SRV_PID"
say "ok"
