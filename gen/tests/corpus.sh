#!/usr/bin/env bash
# Crash corpus: every shipped program (gen/tests/ok, mtp-programs) truncated at many points
# and with bytes flipped, plus the files kept in gen/tests/corpus/. mtpc (an ASan+UBSan build)
# must exit 0 or 1 on each, within 10 s, without a sanitizer report, and the C of every input
# it accepts must compile with the project's warning flags.
set -euo pipefail
MTPC=${1:?usage: corpus.sh path/to/mtpc}
out=build/tmp/gen-corpus
rm -rf "$out" && mkdir -p "$out/cases"
n=0
for src in gen/tests/ok/*.mtp mtp-programs/*.mtp; do
    [ -f "$src" ] || continue
    base=$(basename "$src" .mtp)
    size=$(stat -c %s "$src")
    step=$(( size / 40 + 1 ))
    for ((cut = 0; cut < size; cut += step)); do
        head -c "$cut" "$src" > "$out/cases/${base}_cut$cut.mtp"
    done
    # deterministic byte flips: replace one byte with a character that matters to the lexer
    i=0
    for ch in '{' '}' '(' ')' ';' '<' '>' '=' ',' '0' 'x' '/' '*' '[' ']' '.'; do
        pos=$(( (i * 7919 + 13) % size ))
        { head -c "$pos" "$src"; printf '%s' "$ch"; tail -c +"$((pos + 2))" "$src"; } \
            > "$out/cases/${base}_flip$i.mtp"
        i=$((i + 1))
    done
    # deleted lines
    lines=$(wc -l < "$src")
    for ((l = 1; l <= lines; l += lines / 20 + 1)); do
        sed "${l}d" "$src" > "$out/cases/${base}_del$l.mtp"
    done
done
cp gen/tests/corpus/*.mtp "$out/cases/" 2>/dev/null || true
# the modules the shipped programs import, where their mutated copies look for them
for m in mtp-programs/*/*.mtp; do
    [ -f "$m" ] || continue
    mkdir -p "$out/cases/$(basename "$(dirname "$m")")" && cp "$m" "$out/cases/$(basename "$(dirname "$m")")/"
done
fail=0
accepted=0
for f in "$out"/cases/*.mtp; do
    n=$((n + 1))
    set +e
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=0:exitcode=86 UBSAN_OPTIONS=exitcode=86 timeout 10 "$MTPC" -o "$out/x.c" "$f" \
        >/dev/null 2>"$out/err"
    rc=$?
    set -e
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
        echo "corpus: mtpc exited $rc on $f" >&2
        tail -20 "$out/err" >&2
        fail=1
    elif grep -q "Sanitizer" "$out/err"; then
        echo "corpus: sanitizer report on $f" >&2
        tail -20 "$out/err" >&2
        fail=1
    elif [ "$rc" -eq 0 ]; then
        # an accepted program must give C that compiles under the project's flags
        accepted=$((accepted + 1))
        if ! ${CC:-cc} -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
                -Wmissing-prototypes -Icore/include -I"$out" -fsyntax-only "$out/x.c" \
                2>"$out/cc.err"; then
            echo "corpus: mtpc accepted $f but its C does not compile:" >&2
            head -5 "$out/cc.err" >&2
            fail=1
        fi
    fi
done
[ "$fail" = 0 ] || exit 1
echo "corpus: $n inputs, no crash or timeout; the C of the $accepted accepted ones compiles"
