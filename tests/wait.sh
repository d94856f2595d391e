# tests/wait.sh — wait for a condition instead of sleeping a fixed time (source it). Each
# function polls every 50 ms, returns 0 as soon as the condition holds, and after its bound
# prints one line on stderr saying what never happened and returns 1 (the caller fails).
#
#   mx_wait_for SECONDS WHAT CMD...     until CMD succeeds
#   mx_wait_line SECONDS FILE REGEX PID until FILE has a line matching REGEX (1 at once if PID,
#                                       the process that should write it, has ended)
#   mx_wait_listen SECONDS NS PORT [udp] until a TCP (or UDP) socket listens on PORT in
#                                       namespace NS
#   mx_wait_size SECONDS FILE BYTES     until FILE holds at least BYTES bytes

mx_wait_for() {
    local secs=$1 what=$2; shift 2
    local end=$((SECONDS + secs))
    until "$@"; do
        if [ "$SECONDS" -ge "$end" ]; then echo "wait.sh: after ${secs}s: $what" >&2; return 1; fi
        sleep 0.05
    done
}

mx_wait_line() {
    local secs=$1 file=$2 re=$3 pid=$4
    local end=$((SECONDS + secs))
    until grep -qE "$re" "$file" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            grep -qE "$re" "$file" 2>/dev/null && return 0
            echo "wait.sh: process $pid ended before writing '$re' to $file" >&2; return 1
        fi
        if [ "$SECONDS" -ge "$end" ]; then echo "wait.sh: after ${secs}s: no '$re' in $file" >&2; return 1; fi
        sleep 0.05
    done
}

mx__listens() { ip netns exec "$1" ss -Hln"$3" "sport = :$2" | grep -q .; }
mx_wait_listen() {
    local t=t; [ "${4:-tcp}" = udp ] && t=u
    mx_wait_for "$1" "nothing listens on ${4:-tcp} port $3 in $2" mx__listens "$2" "$3" "$t"
}

mx_wait_size() {
    local secs=$1 file=$2 want=$3
    local end=$((SECONDS + secs)) have
    while have=$(stat -c %s "$file" 2>/dev/null || echo 0); [ "$have" -lt "$want" ]; do
        if [ "$SECONDS" -ge "$end" ]; then
            echo "wait.sh: after ${secs}s: $file has $have bytes, not $want" >&2; return 1
        fi
        sleep 0.05
    done
}
