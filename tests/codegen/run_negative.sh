#!/usr/bin/env bash
# Generator tests.
#
# Negative: for each tests/codegen/bad-X.xml, runs
#   PYTHON codegen/pxmpp_gen.py --out TMP CORE-SCHEMAS tests/codegen/bad-X.xml
# and checks that the generator exits with status 1, prints no Python traceback,
# writes nothing, and that stderr contains every line of bad-X.expect.  A line of
# an .expect file is `file:line: error: message` with the path relative to the
# repository; a line ending in `*` only has to be a prefix of a stderr line (used
# for messages worded by xmllint, which vary between libxml2 versions).
#
# Positive: each tests/codegen/good-X.xml must generate together with schema/*.xml;
# the output must contain include/pxmpp/gen/<schema name>.h, every generated
# .c file must pass `CC -std=c11 -Wall -Wextra -Werror -fsyntax-only`, and every
# generated file of the shipped schemas but all.h and registry.c must be the same
# as in generated/ (adding a schema does not renumber the others' type ids).
#
# Usage: tests/codegen/run_negative.sh [PYTHON]
#   PYTHON: first argument, else $PYTHON, else /usr/bin/python3 (needs jinja2).
#   CC: compiler for the syntax check (default gcc).
# Prints one line per case; exits 1 if any case fails, 77 if a tool is missing.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${1:-${PYTHON:-/usr/bin/python3}}
CC=${CC:-gcc}

cd "$ROOT" || exit 1

if ! "$PY" -c 'import jinja2' 2>/dev/null; then
    echo "SKIP: $PY cannot import jinja2"
    exit 77
fi
if ! command -v xmllint >/dev/null 2>&1; then
    echo "SKIP: xmllint not found (libxml2-utils)"
    exit 77
fi
if ! command -v "${CC%% *}" >/dev/null 2>&1; then
    echo "SKIP: C compiler '$CC' not found"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pxmpp-codegen.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

SCHEMAS=(schema/*.xml)
# the bad cases need only the core (and the two XEPs the core tests use) beside them
CORE=(schema/rfc6120-core.xml schema/rfc6121-im.xml schema/xep-0030-disco.xml schema/xep-0199-ping.xml)
failures=0
total=0

fail() {
    echo "FAIL $1: $2"
    if [ -n "${3:-}" ] && [ -s "$3" ]; then
        sed 's/^/    | /' "$3"
    fi
    failures=$((failures + 1))
}

# The generator prints the paths it was given; make absolute ones relative to the repository.
normalize() {
    local line
    while IFS= read -r line || [ -n "$line" ]; do
        printf '%s\n' "${line//"$ROOT/"/}"
    done <"$1"
}

# Does a normalized stderr line match expected line $2 (exact, or prefix when it ends in '*')?
contains_line() {
    local want=$2 line
    while IFS= read -r line; do
        if [ "${want: -1}" = "*" ]; then
            [[ "$line" == "${want%\*}"* ]] && return 0
        else
            [[ "$line" == "$want" ]] && return 0
        fi
    done <"$1"
    return 1
}

for bad in tests/codegen/bad-*.xml; do
    [ -e "$bad" ] || continue
    case_name=$(basename "$bad" .xml)
    total=$((total + 1))
    expect="tests/codegen/$case_name.expect"
    out="$TMP/$case_name"
    err="$TMP/$case_name.stderr"
    if [ ! -f "$expect" ]; then
        fail "$case_name" "no $expect"
        continue
    fi
    "$PY" codegen/pxmpp_gen.py --out "$out" "${CORE[@]}" "$bad" >/dev/null 2>"$err.raw"
    status=$?
    normalize "$err.raw" >"$err"
    if [ "$status" -ne 1 ]; then
        fail "$case_name" "exit status $status, expected 1" "$err"
        continue
    fi
    if grep -q '^Traceback' "$err"; then
        fail "$case_name" "the generator crashed" "$err"
        continue
    fi
    if [ -e "$out" ]; then
        fail "$case_name" "files were written to --out despite the error" "$err"
        continue
    fi
    missing=""
    while IFS= read -r want || [ -n "$want" ]; do
        [ -n "$want" ] || continue
        contains_line "$err" "$want" || missing="$want"
    done <"$expect"
    if [ -n "$missing" ]; then
        fail "$case_name" "stderr lacks: $missing" "$err"
        continue
    fi
    echo "PASS $case_name: $(head -n 1 "$expect")"
done

for good in tests/codegen/good-*.xml; do
    [ -e "$good" ] || continue
    case_name=$(basename "$good" .xml)
    total=$((total + 1))
    out="$TMP/$case_name"
    err="$TMP/$case_name.stderr"
    if ! "$PY" codegen/pxmpp_gen.py --out "$out" "${SCHEMAS[@]}" "$good" >/dev/null 2>"$err"; then
        fail "$case_name" "the generator failed" "$err"
        continue
    fi
    name=$("$PY" -c 'import sys, xml.etree.ElementTree as E; print(E.parse(sys.argv[1]).getroot().get("name"))' "$good")
    if [ ! -f "$out/include/pxmpp/gen/$name.h" ] || [ ! -f "$out/src/$name.c" ]; then
        fail "$case_name" "no include/pxmpp/gen/$name.h or src/$name.c in the output"
        continue
    fi
    bad_c=""
    n=0
    for c in "$out"/src/*.c; do
        n=$((n + 1))
        if ! $CC -std=c11 -Wall -Wextra -Werror -fsyntax-only -I runtime/include -I "$out/include" "$c" \
            >>"$err" 2>&1; then
            bad_c="$bad_c $(basename "$c")"
        fi
    done
    if [ -n "$bad_c" ]; then
        normalize "$err" >"$err.n"
        fail "$case_name" "generated C does not compile:$bad_c" "$err.n"
        continue
    fi
    # adding a schema changes no other schema's generated files (type ids are stable)
    changed=""
    for f in generated/src/*.c generated/include/pxmpp/gen/*.h; do
        case $(basename "$f") in registry.c | all.h) continue ;; esac
        rel=${f#generated/}
        cmp -s "$f" "$out/$rel" || changed="$changed $rel"
    done
    if [ -n "$changed" ]; then
        fail "$case_name" "adding the schema changed files of other schemas:$changed"
        continue
    fi
    echo "PASS $case_name: generated pxmpp/gen/$name.h; $n generated .c files compile; no other schema's files changed"
done

if [ "$total" -eq 0 ]; then
    echo "FAIL: no test cases found in tests/codegen"
    exit 1
fi
echo "$((total - failures))/$total codegen cases passed"
[ "$failures" -eq 0 ]
