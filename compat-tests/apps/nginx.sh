#!/bin/bash
# nginx (one process: master_process off; sendfile on; keepalive) listening on [::]:8080 with
# ipv6only=off (IPv4 arrives as ::ffff:a.b.c.d), serving curl: 1 MB md5-checked, two requests
# on one keep-alive connection, a 404, wrk 1 s with no error; --long: 100 MB md5-checked and
# wrk 5 s, then idle (<= 2 % of a core); every run: nginx ends on SIGTERM.
APP=nginx.sh
source "$(dirname "$0")/lib.sh"
mkdir -p "$TMP/www" "$TMP/tmp"
mkfile "$TMP/www/1m" $((1 << 20)); mkfile "$TMP/www/4k" 4096
[ $LONG = 1 ] && mkfile "$TMP/www/100m" $((100 << 20))
SRV_LOG=$TMP/error.log
cat >"$TMP/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; user root;
error_log $TMP/error.log warn; pid $TMP/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off; sendfile on; tcp_nopush on; keepalive_timeout 65; keepalive_requests 100000;
    client_body_temp_path $TMP/tmp/b; proxy_temp_path $TMP/tmp/p; fastcgi_temp_path $TMP/tmp/f;
    uwsgi_temp_path $TMP/tmp/u; scgi_temp_path $TMP/tmp/s;
    server { listen [::]:8080 ipv6only=off; root $TMP/www; }
}
CONF
srv nginx -c "$TMP/nginx.conf" -e "$TMP/error.log"
url=http://$SRV_IP:8080
retry 20 cli 5 curl -sf -o /dev/null "$url/1m" 2>/dev/null || fail "nginx does not answer on $url"

get() { # FILE: download and compare
    cli 120 curl -sf -o "$TMP/got" "$url/$1" || fail "curl $url/$1 exited $?"
    [ "$(md5sum <"$TMP/got")" = "$(md5sum <"$TMP/www/$1")" ] || fail "$1: md5 differs"
    say "curl $1: $(stat -c %s "$TMP/got") bytes, md5 $(md5sum <"$TMP/got" | cut -c1-12) matches"
}
get 1m
cli 30 curl -sfv -o /dev/null -o /dev/null "$url/1m" "$url/1m" 2>"$TMP/kv" || fail "keep-alive pair"
grep -q "Re-using existing connection" "$TMP/kv" || fail "curl opened a second connection: no keep-alive"
say "two requests on one keep-alive connection"
code=$(cli 10 curl -s -o /dev/null -w '%{http_code}' "$url/nope")
[ "$code" = 404 ] || fail "a missing file gave HTTP $code"
[ $LONG = 1 ] && get 100m
secs=$([ $LONG = 1 ] && echo 5 || echo 1)
cli 30 wrk -t 2 -c 20 -d ${secs}s "$url/4k" >"$TMP/wrk" 2>&1 || { cat "$TMP/wrk"; fail "wrk exited $?"; }
grep -Eq "Socket errors|Non-2xx" "$TMP/wrk" && { cat "$TMP/wrk"; fail "wrk saw errors"; }
reqs=$(awk '/requests in/ {print $1}' "$TMP/wrk")
[ "${reqs:-0}" -gt 0 ] || { cat "$TMP/wrk"; fail "wrk made no request"; }
say "wrk -t 2 -c 20 -d ${secs}s (4 KB file): $reqs requests, $(awk '/Requests\/sec/ {print $2}' "$TMP/wrk") req/s, $(awk '/Transfer\/sec/ {print $2}' "$TMP/wrk")/s, no error"
if [ $LONG = 1 ]; then
    sleep 1
    cpu=$(idle_cpu "$SRV_PID") || fail "the server died"
    [ "$cpu" -le 2 ] || fail "idle after wrk, nginx uses $cpu % of a core (want <= 2 %)"
    say "idle after wrk: $cpu % of a core"
fi
alive
stop "$SRV_PID"
say "ok"
