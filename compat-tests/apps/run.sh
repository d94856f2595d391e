#!/bin/bash
# compat-tests/apps/run.sh — runs application scripts in arrangements and prints one line each:
#   run.sh [--long] "ARRANGEMENTS" APP...     e.g. run.sh "ns both" nginx redis
# (ARRANGEMENTS: kernel ns both lo, see lib.sh). Each script is bounded by `timeout`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
long=""
[ "${1:-}" = --long ] && { long=--long; shift; }
arrs=${1:?usage: run.sh [--long] \"ARRANGEMENTS\" APP...}; shift
limit=$([ -n "$long" ] && echo 600 || echo 120)
pass=0 fail=0 failed=""
for app in "$@"; do
    for arr in $arrs; do
        out=$(timeout "$limit" bash "$here/$app.sh" "$arr" $long 2>&1); rc=$?
        if [ $rc = 0 ]; then
            pass=$((pass + 1)); echo "$out" | grep -v ': ok$' || true
        else
            fail=$((fail + 1)); failed="$failed $app/$arr"
            echo "$out"; [ $rc = 124 ] && echo "$app.sh [$arr]: FAIL: killed after $limit s"
        fi
    done
done
echo "compat apps: $pass passed, $fail failed${failed:+ (failed:$failed)}"
[ $fail = 0 ]
