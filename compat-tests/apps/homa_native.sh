#!/bin/bash
# A native Homa application (compat-tests/src/homa_native.c: HomaModule's socket conventions)
# under libmtp.so with MTP_PROTO=homa on both ends: an echo server in A, a client in B that
# checks requests of 0 B .. 1 MB and 16 concurrent ones. Arrangement: both (the kernel has
# no Homa). HOMA_NATIVE names the binary (default build/compat/homa_native).
APP=homa_native.sh
source "$(dirname "$0")/lib.sh"
[ "$ARR" = both ] || { say "only the 'both' arrangement applies (the kernel has no Homa)"; exit 2; }
[ "$MTP_PROTO" = homa ] || { say "needs MTP_PROTO=homa"; exit 2; }
bin=$(realpath "${HOMA_NATIVE:-$ROOT/build/compat/homa_native}")
SRV_LOG=$TMP/srv.log
srv "$bin" serve 4000 >"$SRV_LOG" 2>&1
retry 20 grep -q listening "$SRV_LOG" || fail "the server did not start"
cli 60 "$bin" check "$SRV_IP" 4000 >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "homa_native check"; }
say "native Homa sockets: $(grep -c '^ok' "$TMP/out") checks passed ($(grep '^ok' "$TMP/out" | sed 's/^ok - //' | tr '\n' ';' | cut -c1-120)...)"
alive
stop "$SRV_PID"
say "ok"
