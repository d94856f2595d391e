#!/bin/bash
# tests/netns_selftest.sh — netns.sh tears down every pair it made: a script that calls
# mx_netns_up twice (xdp_multiproc_tcp.sh) left its first pair behind at exit.
here=$(dirname "$0")
names=$(bash -c "source '$here/netns.sh'; mx_netns_up || exit 1; echo \$MX_NS_A \$MX_NS_B;
                 mx_netns_up || exit 1; echo \$MX_NS_A \$MX_NS_B") || { echo "netns_selftest.sh: FAIL: mx_netns_up"; exit 1; }
left=""
for ns in $names; do
    [ -e "/run/netns/$ns" ] && { ip netns del "$ns"; left="$left $ns"; }
done
[ -z "$left" ] || { echo "netns_selftest.sh: FAIL: left behind:$left"; exit 1; }
echo "netns_selftest.sh: two pairs made, both gone at exit"
