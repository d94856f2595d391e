# tests/netns.sh — test hosts as network namespaces joined by a veth pair (source it).
#
#   source tests/netns.sh
#   mx_netns_up            # two namespaces A and B joined by one veth pair, cleanup on exit
#   mx_in A cmd args...    # run a command inside namespace A (B likewise)
#   mx_bg A cmd args...    # same, in the background (killed silently at teardown)
#   mx_netns_down          # tear down now, every pair made (also from the EXIT/INT/TERM/HUP trap)
#
# After mx_netns_up these are set (names unique per run, prefix "mx"):
#   MX_NS_A MX_NS_B        namespace names          (mxa-<pid>-<n>, mxb-<pid>-<n>)
#   MX_DEV_A MX_DEV_B      veth device in each one  (mxa<pid>n, mxb<pid>n; <= 15 chars)
#   MX_IP_A MX_IP_B        10.x addresses (/24) on those devices, only inside the namespaces
#   MX_MAC_A MX_MAC_B      their MAC addresses
# Loopback is up in both. The veths keep the offloads the kernel gives them (tx/rx checksum,
# TSO, GSO, GRO on: what every container runtime creates), so the kernel sends frames with
# CHECKSUM_PARTIAL checksums and, where nothing segments them, GSO super-frames.
# MX_OFFLOADS=off before mx_netns_up switches them off on both veths instead: every frame is
# MTU-sized with a complete checksum (what a NIC would deliver), for tests that need that.
# Optional: MX_VETH_QUEUES=N before mx_netns_up gives the veths N rx/tx queues (default 1).
#   mx_hugepages N         make sure N 2 MB hugepages exist (restored on teardown), for DPDK.
#   mx_loss NS PERCENT     drop PERCENT% of the packets NS receives (nftables, kernel side).
#   mx_loss_dropped NS     how many packets mx_loss has dropped so far.
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN), iproute2, ethtool, nftables for mx_loss.
# The caller's own EXIT trap, if any, is kept: ours runs first, then it.

mx__seq=${mx__seq:-0}
mx__hp_restore=""
mx__prev_exit=""

mx__die() { echo "netns.sh: $*" >&2; return 1; }

mx_netns_up() {
    [ "$(id -u)" = 0 ] || { mx__die "must run as root (network namespaces)"; return 1; }
    mx__seq=$((mx__seq + 1))
    local tag="$$-$mx__seq" dtag="$(( $$ % 1000000 ))$mx__seq"
    MX_NS_A="mxa-$tag"; MX_NS_B="mxb-$tag"
    mx__made="${mx__made:-} $MX_NS_A $MX_NS_B" # a second mx_netns_up must not orphan the first pair
    MX_DEV_A="mxa$dtag"; MX_DEV_B="mxb$dtag"
    MX_IP_A=10.201.0.1; MX_IP_B=10.201.0.2
    local q=${MX_VETH_QUEUES:-1}
    case ${MX_OFFLOADS:-on} in on|off) ;; *) mx__die "MX_OFFLOADS=$MX_OFFLOADS: accepted: on (default), off"; return 1 ;; esac
    mx__install_trap
    ip netns add "$MX_NS_A" && ip netns add "$MX_NS_B" || { mx__die "cannot create namespaces"; return 1; }
    ip link add "$MX_DEV_A" numtxqueues "$q" numrxqueues "$q" netns "$MX_NS_A" type veth \
        peer name "$MX_DEV_B" numtxqueues "$q" numrxqueues "$q" netns "$MX_NS_B" ||
        { mx__die "cannot create veth pair"; return 1; }
    local side ns dev ip
    for side in A B; do
        eval "ns=\$MX_NS_$side dev=\$MX_DEV_$side ip=\$MX_IP_$side"
        ip -n "$ns" link set lo up
        ip -n "$ns" addr add "$ip/24" dev "$dev"
        ip -n "$ns" link set "$dev" up
        if [ "${MX_OFFLOADS:-on}" = off ]; then
            ip netns exec "$ns" ethtool -K "$dev" tx off rx off tso off gso off gro off >/dev/null ||
                { mx__die "MX_OFFLOADS=off: ethtool -K $dev failed"; return 1; }
        fi
    done
    MX_MAC_A=$(ip netns exec "$MX_NS_A" cat "/sys/class/net/$MX_DEV_A/address")
    MX_MAC_B=$(ip netns exec "$MX_NS_B" cat "/sys/class/net/$MX_DEV_B/address")
    export MX_NS_A MX_NS_B MX_DEV_A MX_DEV_B MX_IP_A MX_IP_B MX_MAC_A MX_MAC_B
}

# mx_bg A|B cmd... — start a background server in a namespace; killed at teardown, silently
# (sets MX_BG_PID).
mx_bg() {
    local ns=$1; shift
    case $ns in A) ns=$MX_NS_A ;; B) ns=$MX_NS_B ;; esac
    ip netns exec "$ns" "$@" &   # a simple command: $! is the program itself (ip execs it)
    MX_BG_PID=$!
    disown "$MX_BG_PID"
}

# mx_in A|B|<namespace> cmd...
mx_in() {
    local ns=$1; shift
    case $ns in A) ns=$MX_NS_A ;; B) ns=$MX_NS_B ;; esac
    ip netns exec "$ns" "$@"
}

mx_loss() {
    local ns=$1 pct=$2
    case $ns in A) ns=$MX_NS_A ;; B) ns=$MX_NS_B ;; esac
    ip netns exec "$ns" nft -f - <<NFT
table inet mxloss {
    chain input { type filter hook input priority -300; numgen random mod 100 < $pct counter drop; }
}
NFT
}

mx_loss_dropped() {
    mx_in "$1" nft list table inet mxloss 2>/dev/null | grep -o 'packets [0-9]*' | awk '{print $2}'
}

mx_hugepages() {
    local want=$1 f=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages have
    have=$(cat "$f") || { mx__die "no 2 MB hugepage support"; return 1; }
    if [ "$have" -lt "$want" ]; then
        [ -n "$mx__hp_restore" ] || mx__hp_restore=$have
        echo "$want" > "$f"
        [ "$(cat "$f")" -ge "$want" ] || { mx__die "could not reserve $want hugepages"; return 1; }
    fi
    mountpoint -q /dev/hugepages || mount -t hugetlbfs nodev /dev/hugepages
}

mx_netns_down() {
    local ns
    for ns in ${mx__made:-} $MX_NS_A $MX_NS_B; do
        # processes left inside die with their namespace's last reference; kill them first
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    MX_NS_A=""; MX_NS_B=""; mx__made=""
    if [ -n "$mx__hp_restore" ]; then
        echo "$mx__hp_restore" > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
        mx__hp_restore=""
    fi
    return 0
}

mx__install_trap() {
    [ -n "${mx__trapped:-}" ] && return 0
    mx__trapped=1
    mx__prev_exit=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//")
    trap 'mx_netns_down; eval "$mx__prev_exit"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}
