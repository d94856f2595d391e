#!/bin/bash
# sockperf server (TCP) with ping-pong and throughput clients, 1 s each (--long: 5 s).
APP=sockperf.sh
source "$(dirname "$0")/lib.sh"
SRV_LOG=$TMP/sockperf.log
t=$([ $LONG = 1 ] && echo 5 || echo 1)
srv sh -c "exec sockperf server --tcp -i 0.0.0.0 -p 11111 >'$SRV_LOG' 2>&1"
# sockperf exits 0 when its connection is refused (the server not up yet): a run counts once
# it printed its summary
ping_pong() {
    cli $((t + 20)) sockperf ping-pong --tcp -i "$SRV_IP" -p 11111 -t "$t" >"$TMP/pp" 2>&1 &&
        grep -q "Summary: Latency is" "$TMP/pp"
}
retry 20 ping_pong || { cat "$TMP/pp"; fail "sockperf ping-pong: no summary"; }
grep -qi "error" "$TMP/pp" && { cat "$TMP/pp"; fail "ping-pong: errors"; }
say "ping-pong $t s: $(grep -o 'Summary: Latency is [0-9.]* usec' "$TMP/pp"), $(grep -o 'SentMessages=[0-9]*' "$TMP/pp" | head -1)"
cli $((t + 20)) sockperf throughput --tcp -i "$SRV_IP" -p 11111 -t "$t" -m 1400 >"$TMP/tp" 2>&1 ||
    { cat "$TMP/tp"; fail "sockperf throughput"; }
grep -q "Summary: BandWidth is" "$TMP/tp" || { cat "$TMP/tp"; fail "throughput: no summary"; }
say "throughput $t s: $(grep -o 'Summary: BandWidth is [0-9.]* MBps ([0-9.]* Mbps)' "$TMP/tp")"
alive
stop "$SRV_PID"
say "ok"
