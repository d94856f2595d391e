#!/bin/bash
# tools/demo.sh — what `make demo` shows (run as root): an unmodified nginx on MTP.
#   1. the shipped MTP programs compiled by mtpc;
#   2. two namespaces joined by a veth pair; nginx (Debian's, unchanged, with its default
#      process model: a master and worker_processes auto) started under
#      `mtprun --iface <veth>` in one, so its workers' TCP is the tcp.mtp program over AF_XDP;
#   3. from the other namespace, the kernel's TCP: curl fetches 4 KB and 20 MB (md5 checked),
#      wrk loads it for 3 s, and mtpstat lists nginx's MTP connections meanwhile; the kernel of
#      nginx's namespace still answers ping on the same interface and counts none of the TCP;
#   4. mtpcat (TCP as an MTP program, on the runtime directly) against a kernel TCP server with
#      2 % of the kernel's incoming packets dropped, every byte checked;
#   5. namespaces down.
# A part whose components are not built is reported as skipped, never simulated.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
py=/usr/bin/python3
status=0
step() { printf '\n== %s\n' "$*"; }
bad() { echo "  FAILED: $*"; status=1; }

[ "$(id -u)" = 0 ] || { echo "demo: must run as root (network namespaces, XDP)"; exit 1; }

step "MTP programs (mtp-programs/*.mtp) compiled by mtpc"
mkdir -p "$B/demo"
for p in mtp-programs/*.mtp; do
    n=$(basename "$p" .mtp)
    if "$B/bin/mtpc" -o "$B/demo/$n.c" -MF "$B/demo/$n.d" "$p" 2>"$B/demo/$n.log"; then
        # the files it imports (mtpc -MF: the first rule's prerequisites after the program)
        mods=$(head -1 "$B/demo/$n.d" | cut -d: -f2- | tr ' ' '\n' | grep -v -x -e "" -e "$p")
        more=${mods:+ (+ $(cat $mods | wc -l) in $(echo "$mods" | wc -l) imported modules)}
        echo "  $p: $(wc -l <"$p") lines of MTP$more -> $(wc -l <"$B/demo/$n.c") lines of C ($(grep -c warning: "$B/demo/$n.log") warnings: $B/demo/$n.log)"
    else
        bad "mtpc $p"
    fi
done

source tests/netns.sh
step "namespaces up"
mx_netns_up || exit 1
tmp=$(mktemp -d)
chmod 755 "$tmp"
mx__prev_exit="rm -rf '$tmp'"
echo "$MX_NS_A ($MX_DEV_A $MX_IP_A $MX_MAC_A)  <-- veth -->  $MX_NS_B ($MX_DEV_B $MX_IP_B $MX_MAC_B)"
echo "the veth keeps the kernel's default offloads: $(mx_in B ethtool -k "$MX_DEV_B" |
    awk -F': ' '/^(tx-checksumming|tcp-segmentation-offload|generic-segmentation-offload):/ {printf "%s%s %s", s, $1, $2; s=", "}')"

step "nginx on MTP in $MX_NS_A; curl and wrk on the kernel's TCP in $MX_NS_B"
if [ ! -x "$B/bin/mtprun" ] || [ ! -r "$B/lib/libmtp.so" ] || ! command -v nginx >/dev/null; then
    echo "  skipped: $B/bin/mtprun, $B/lib/libmtp.so or nginx is missing"
else
    mkdir -p "$tmp/www" "$tmp/t"
    head -c 4096 /dev/urandom >"$tmp/www/4k"
    head -c $((20 << 20)) /dev/urandom >"$tmp/www/20m"
    cat >"$tmp/nginx.conf" <<CONF
daemon off; worker_processes auto; user root;
error_log $tmp/error.log warn; pid $tmp/nginx.pid;
events { worker_connections 1024; }
http { access_log off; sendfile on; keepalive_timeout 65; keepalive_requests 100000;
  client_body_temp_path $tmp/t/b; proxy_temp_path $tmp/t/p; fastcgi_temp_path $tmp/t/f;
  uwsgi_temp_path $tmp/t/u; scgi_temp_path $tmp/t/s;
  server { listen [::]:8080 ipv6only=off; root $tmp/www; } }
CONF
    echo "  \$ mtprun --iface $MX_DEV_A -- nginx -c nginx.conf     (worker_processes auto, sendfile on, listen [::]:8080)"
    mx_bg A "$B/bin/mtprun" --iface "$MX_DEV_A" -- nginx -c "$tmp/nginx.conf" -e "$tmp/error.log"
    nginx_pid=$MX_BG_PID
    url=http://$MX_IP_A:8080
    for _ in $(seq 100); do mx_in B curl -sf -o /dev/null "$url/4k" 2>/dev/null && break; sleep 0.1; done
    workers=$(pgrep -P "$nginx_pid" | tr '\n' ' ')
    echo "  nginx master $nginx_pid, workers $workers(each its own MTP stack in the port's group)"
    kernel_tcp_in_a() { mx_in A awk '/^Tcp:/ { if (h) print $11; h = 1 }' /proc/net/snmp; }
    k0=$(kernel_tcp_in_a)
    for f in 4k 20m; do
        if mx_in B timeout 60 curl -sf -o "$tmp/got" -w '%{size_download} bytes in %{time_total} s' "$url/$f" >"$tmp/curl"; then
            same=$([ "$(md5sum <"$tmp/got")" = "$(md5sum <"$tmp/www/$f")" ] && echo "md5 matches" || echo "md5 DIFFERS")
            echo "  curl $url/$f: $(cat "$tmp/curl"), $same"
            [ "$same" = "md5 matches" ] || status=1
        else
            bad "curl $url/$f"
        fi
    done
    mx_in B timeout 30 wrk -t 2 -c 20 -d 3s "$url/4k" >"$tmp/wrk" 2>&1 & wrk_pid=$!
    sleep 1.5
    w1=${workers%% *}
    echo "  mtpstat -p $w1 (a worker, during wrk):"
    "$B/bin/mtpstat" -p "$w1" >"$tmp/stat" 2>&1 || bad "mtpstat"
    awk 'NR <= 8' "$tmp/stat" | sed 's/^/    /'
    [ "$(wc -l <"$tmp/stat")" -gt 8 ] && echo "    ... ($(wc -l <"$tmp/stat") lines)"
    wait $wrk_pid || bad "wrk"
    if grep -Eq "Socket errors|Non-2xx" "$tmp/wrk"; then bad "wrk saw errors"; sed 's/^/    /' "$tmp/wrk"; fi
    echo "  wrk -t 2 -c 20 -d 3s $url/4k: $(awk '/requests in/ {print $1}' "$tmp/wrk") requests, $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk") req/s, $(awk '/Latency/ {print "latency avg " $2}' "$tmp/wrk"), no error"
    mx_in B ping -c 1 -W 2 "$MX_IP_A" >/dev/null && echo "  ping $MX_IP_A: the kernel still answers on the same interface" || bad "ping"
    echo "  TCP segments the kernel of $MX_NS_A received meanwhile: $(( $(kernel_tcp_in_a) - k0 )) (nginx's TCP is MTP's)"
    kill "$nginx_pid" 2>/dev/null # and wait: the interface is nginx's until it is gone
    for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$nginx_pid" 2>/dev/null; then
        kill -9 "$nginx_pid"
        echo "  nginx did not stop within 5 s of SIGTERM: killed (a known libmtp.so bug after traffic)"
        while kill -0 "$nginx_pid" 2>/dev/null; do sleep 0.1; done
    fi
fi

step "mtpcat (MTP-TCP) -> a kernel TCP server, 2% of the kernel side's packets dropped"
if [ ! -x "$B/bin/mtpcat" ] || [ ! -r "$B/bpf/tcp.bpf.o" ]; then
    echo "  skipped: $B/bin/mtpcat or $B/bpf/tcp.bpf.o is not built"
else
    head -c $((20 << 20)) /dev/urandom >"$tmp/a"; head -c $((5 << 20)) /dev/urandom >"$tmp/b"
    mx_loss B 2
    mx_bg B $py tests/peers/kernel_tcp.py serve 5001 "$tmp/b" "$tmp/k.in" >/dev/null; k=$MX_BG_PID
    for _ in $(seq 50); do mx_in B ss -Htln "sport = :5001" | grep -q . && break; sleep 0.1; done
    t0=$SECONDS
    MTP_IFACE=$MX_DEV_A MTP_TEST_TIMEOUT=120 timeout 120 ip netns exec "$MX_NS_A" "$B/bin/mtpcat" \
        "$MX_IP_B" 5001 <"$tmp/a" >"$tmp/m.out" 2>"$tmp/m.err" || { bad "mtpcat exited $?"; sed 's/^/    /' "$tmp/m.err"; }
    while kill -0 "$k" 2>/dev/null; do sleep 0.1; done
    echo "  20 MB up, 5 MB down in $((SECONDS - t0)) s; nftables dropped $(mx_loss_dropped B) packets"
    if cmp -s "$tmp/a" "$tmp/k.in" && cmp -s "$tmp/b" "$tmp/m.out"; then echo "  byte-exact both ways"; else bad "bytes differ"; fi
fi

step "namespaces down"
mx_netns_down
echo "  left over: $(ip netns list | grep -c "^mx[ab]-$$-" || true) namespaces of this run"
[ $status = 0 ] && echo "demo: OK" || echo "demo: something FAILED (see above)"
exit $status
