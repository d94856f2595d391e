#!/bin/bash
# tools/demo.sh — what `make demo` shows (run as root): the shipped MTP programs compiled by
# mtpc, two namespaces joined by a veth pair, and real traffic through the XDP target:
#   1. the AF_XDP path: a port steered to user space by the XDP hook while the kernel keeps
#      serving ARP, ping, TCP and other UDP ports on the same interface;
#   2. when mtpcat and the TCP program are built: kernel TCP <-> mtpcat in both directions,
#      byte counts and checksums compared.
# A part whose components are not built yet is reported as skipped, never simulated.
set -u
cd "$(dirname "$0")/.."
B=${B:-build}
py=/usr/bin/python3
status=0
step() { printf '\n== %s\n' "$*"; }
sha() { sha256sum "$1" | cut -c1-16; }

[ "$(id -u)" = 0 ] || { echo "demo: must run as root (network namespaces, XDP)"; exit 1; }
make -s --no-print-directory "$B/tests/xdp/xdp_echo" "$B/tests/xdp/udp_echo.bpf.o" || exit 1

step "MTP programs (mtp-programs/*.mtp) compiled by mtpc"
shopt -s nullglob
progs=(mtp-programs/*.mtp)
if [ ! -x "$B/bin/mtpc" ]; then
    echo "skipped: $B/bin/mtpc is not built in this tree"
elif [ ${#progs[@]} = 0 ]; then
    echo "skipped: no programs in mtp-programs/ yet"
else
    mkdir -p "$B/demo"
    for p in "${progs[@]}"; do
        n=$(basename "$p" .mtp)
        if "$B/bin/mtpc" -o "$B/demo/$n.c" "$p"; then
            echo "$p: $(wc -l <"$p") lines of MTP -> $B/demo/$n.c: $(wc -l <"$B/demo/$n.c") lines of C"
        else
            echo "$p: mtpc failed"; status=1
        fi
        if "$B/bin/mtpc" --emit=bpf -o "$B/demo/$n.bpf.h" "$p" 2>/dev/null; then
            echo "$p: XDP parser header: $(grep -E 'define MTPG_BPF_(IP_PROTO|L4_MIN_LEN)' "$B/demo/$n.bpf.h" | awk '{printf "%s=%s ", $2, $3}')"
        fi
    done
fi

source tests/netns.sh
step "namespaces up"
mx_netns_up || exit 1
tmp=$(mktemp -d)
mx__prev_exit="rm -rf '$tmp'"
echo "$MX_NS_A ($MX_DEV_A $MX_IP_A $MX_MAC_A)  <-- veth -->  $MX_NS_B ($MX_DEV_B $MX_IP_B $MX_MAC_B)"

step "AF_XDP path: UDP-numbered port 7777 in $MX_NS_A served from user space, the rest by the kernel"
mx_bg A $py tests/peers/kernel_echo.py udp 7778
mx_bg A $py tests/peers/kernel_echo.py tcp 2222
ip netns exec "$MX_NS_A" "$B/tests/xdp/xdp_echo" "$MX_DEV_A" "$B/tests/xdp/udp_echo.bpf.o" 7777 \
    "$MX_IP_B" "$MX_MAC_B" >"$tmp/echo.out" 2>&1 &
echo_pid=$!
for _ in $(seq 100); do grep -q READY "$tmp/echo.out" && break; sleep 0.1; done
echo "attached: $(mx_in A ip -d link show "$MX_DEV_A" | grep -o 'prog/xdp id [0-9]* name [a-z_]*' | head -1)"
if mx_in B $py targets/xdp/tests/xdp_echo_peer.py "$MX_IP_A" 7777 7778 2222; then :; else status=1; fi
wait $echo_pid || status=1
sed 's/^/  xdp_echo: /' "$tmp/echo.out"
echo "after exit: $(mx_in A ip link show "$MX_DEV_A" | grep -q prog/xdp && echo 'hook still attached (BUG)' || echo 'hook detached')"

step "kernel TCP <-> MTP-TCP (mtpcat over the xdp target)"
if [ ! -x "$B/bin/mtpcat" ] || [ ! -r "$B/bpf/tcp.bpf.o" ]; then
    echo "skipped: $B/bin/mtpcat or $B/bpf/tcp.bpf.o is not built in this tree yet"
else
    export MTP_PROTO=tcp MTP_TARGET=xdp MTP_TEST_TIMEOUT=120
    head -c $((20 * 1024 * 1024)) /dev/urandom >"$tmp/a"; head -c $((5 * 1024 * 1024)) /dev/urandom >"$tmp/b"
    # verdict FILE_SENT_BY_MTPCAT FILE_KERNEL_GOT FILE_SENT_BY_KERNEL FILE_MTPCAT_GOT
    verdict() {
        echo "  mtpcat -> kernel: sent $(stat -c %s "$1") sha256 $(sha "$1"), received $(stat -c %s "$2") sha256 $(sha "$2")"
        echo "  kernel -> mtpcat: sent $(stat -c %s "$3") sha256 $(sha "$3"), received $(stat -c %s "$4") sha256 $(sha "$4")"
        if cmp -s "$1" "$2" && cmp -s "$3" "$4"; then echo "  byte-exact both ways"; else echo "  MISMATCH"; status=1; fi
    }
    # TCP segments the kernel of namespace A received (MTP's segments never reach it)
    kernel_insegs_a() { mx_in A awk '/^Tcp:/ { if (h) print $11; h = 1 }' /proc/net/snmp; }
    mtpcat_connects() { # port label
        echo "mtpcat ($MX_NS_A) connects to a kernel TCP server ($MX_NS_B:$1)$2:"
        mx_bg B $py tests/peers/kernel_tcp.py serve "$1" "$tmp/b" "$tmp/k.in"; local k=$MX_BG_PID
        for _ in $(seq 50); do mx_in B ss -Htln "sport = :$1" | grep -q . && break; sleep 0.1; done
        local t0=$SECONDS k0; k0=$(kernel_insegs_a)
        MTP_IFACE=$MX_DEV_A timeout 120 ip netns exec "$MX_NS_A" "$B/bin/mtpcat" -v "$MX_IP_B" "$1" \
            <"$tmp/a" >"$tmp/m.out" 2>"$tmp/m.err" || status=1
        while kill -0 "$k" 2>/dev/null; do sleep 0.1; done
        sed 's/^/  /' "$tmp/m.err"
        echo "  ($((SECONDS - t0)) s; TCP segments received by $MX_NS_A's kernel meanwhile: $(( $(kernel_insegs_a) - k0 )))"
        verdict "$tmp/a" "$tmp/k.in" "$tmp/b" "$tmp/m.out"
    }
    kernel_connects() { # port label
        echo "a kernel TCP client ($MX_NS_B) connects to mtpcat -l ($MX_NS_A:$1)$2:"
        rm -f "$tmp/m.err"  # the wait below must not see an earlier run's line
        MTP_IFACE=$MX_DEV_A ip netns exec "$MX_NS_A" timeout 120 "$B/bin/mtpcat" -v -l "$1" \
            <"$tmp/a" >"$tmp/m.out" 2>"$tmp/m.err" & local m=$!
        for _ in $(seq 50); do grep -q listening "$tmp/m.err" 2>/dev/null && break; sleep 0.1; done
        local t0=$SECONDS k0; k0=$(kernel_insegs_a)
        mx_in B $py tests/peers/kernel_tcp.py connect "$MX_IP_A" "$1" "$tmp/b" "$tmp/k.in" >/dev/null || status=1
        wait $m || status=1
        sed 's/^/  /' "$tmp/m.err"
        echo "  ($((SECONDS - t0)) s; TCP segments received by $MX_NS_A's kernel meanwhile: $(( $(kernel_insegs_a) - k0 )))"
        verdict "$tmp/a" "$tmp/k.in" "$tmp/b" "$tmp/m.out"
    }
    mtpcat_connects 5001 ""
    kernel_connects 5002 ""
    mx_loss B 2
    mtpcat_connects 5003 ", 2% of the kernel side's incoming packets dropped by nftables"
    kernel_connects 5004 ", same 2% loss"
    echo "nftables dropped $(mx_loss_dropped B) packets on the way into the kernel side"
fi

step "namespaces down"
mx_netns_down
echo "left over: $(ip netns list | grep -c "^mx[ab]-$$-" || true) namespaces of this run"
[ $status = 0 ] && echo "demo: OK" || echo "demo: something FAILED (see above)"
exit $status
