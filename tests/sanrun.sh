#!/usr/bin/env bash
# tests/sanrun.sh CMD [ARGS...] — runs one test program built with ASan/UBSan and fails when
# it fails or when any sanitizer report shows up in its output. Criterion runs every test in
# a worker process whose exit status it does not look at after the test passed, so a leak
# (LeakSanitizer runs at the worker's exit) or a report from a child process would otherwise
# pass. The output still reaches the terminal as it comes.
set -u
[ $# -ge 1 ] || { echo "usage: sanrun.sh CMD [ARGS...]" >&2; exit 2; }
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT
"$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if grep -qE 'ERROR: [A-Za-z]*Sanitizer|runtime error:|SUMMARY: [A-Za-z]*Sanitizer' "$log"; then
    echo "sanrun.sh: FAIL: sanitizer report in the output of $1 (exit status $rc)"
    exit 1
fi
[ "$rc" -eq 0 ] || echo "sanrun.sh: FAIL: $1 exited $rc"
exit "$rc"
