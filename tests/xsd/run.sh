#!/usr/bin/env bash
# Tests of codegen/xsd2schema.py (the XSD importer).
#
# Usage: tests/xsd/run.sh [PYTHON] [CC]
#   PYTHON: interpreter with Jinja2 for the generator (default $PYTHON, else /usr/bin/python3);
#           the importer itself runs with it too (it needs only the standard library).
#   CC:     C compiler (default $CC, else cc).
#
# Each tests/xsd/CASE.expect describes one run of the importer on tests/xsd/CASE.xsd:
#
#   exit N        expected exit status (default 0)
#   xsd FILE      use tests/xsd/FILE instead of CASE.xsd
#   args ...      extra arguments (before the XSD; split on spaces)
#   out TEXT      TEXT occurs in the written schema
#   !out TEXT     TEXT does not occur in it
#   err TEXT      TEXT occurs in standard error (FILE:LINE: ... with repository-relative paths)
#   # ...         comment
#
# For every case: the exit status; no Python traceback; every line of standard error
# has the form FILE:LINE: warning|error: MESSAGE.  Exit 1: nothing on standard output
# and no -o file.  Exit 0: the -o file equals standard output of a second run
# (deterministic), validates with xmllint against schema/pxmpp-schema.rng,
# codegen/pxmpp_gen.py accepts it with schema/rfc6120-core.xml and
# schema/rfc6121-im.xml, and the generated sources (the case's, the core's,
# registry.c) compile with CC -Wall -Wextra -Werror (-std=c11 and -std=gnu11).
# Then the usage errors (exit 2).
#
# Exit status: 0 when everything passed, 1 otherwise, 77 when Jinja2, xmllint
# or the C compiler is missing.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=${1:-${PYTHON:-/usr/bin/python3}}
CC=${2:-${CC:-cc}}

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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/pxmpp-xsd.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

IMPORTER=codegen/xsd2schema.py
CFLAGS_COMMON="-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror"
failures=0
total=0

fail() {
    echo "FAIL $1: $2"
    if [ -n "${3:-}" ] && [ -s "$3" ]; then
        sed 's/^/    | /' "$3" | head -40
    fi
    failures=$((failures + 1))
}

run_case() {
    local expect=$1 case xsd code=0 args=() outs=() nouts=() errs=() line key val
    case=$(basename "$expect" .expect)
    xsd="tests/xsd/$case.xsd"
    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
            ''|'#'*) continue ;;
        esac
        key=${line%% *}
        val=${line#* }
        case "$key" in
            exit) code=$val ;;
            xsd) xsd="tests/xsd/$val" ;;
            args) read -r -a args <<<"$val" ;;
            out) outs+=("$val") ;;
            '!out') nouts+=("$val") ;;
            err) errs+=("$val") ;;
            *) fail "$case" "bad line in $expect: $line"; return ;;
        esac
    done <"$expect"

    local d="$TMP/$case"
    mkdir -p "$d"
    local out="$d/out.xml"
    "$PY" "$IMPORTER" -o "$out" ${args[@]+"${args[@]}"} "$xsd" >"$d/stdout" 2>"$d/stderr"
    local rc=$?
    total=$((total + 1))
    if [ "$rc" != "$code" ]; then
        fail "$case" "exit status $rc, expected $code" "$d/stderr"
        return
    fi
    if grep -q 'Traceback' "$d/stderr"; then
        fail "$case" "Python traceback" "$d/stderr"
        return
    fi
    if grep -v -E '^[^:]+:[0-9]+: (warning|error): ' "$d/stderr" >"$d/badlines"; then
        fail "$case" "standard error lines not of the form FILE:LINE: warning|error: ..." "$d/badlines"
        return
    fi
    local t
    for t in "${errs[@]+"${errs[@]}"}"; do
        if ! grep -q -F -- "$t" "$d/stderr"; then
            fail "$case" "missing on standard error: $t" "$d/stderr"
            return
        fi
    done
    if [ "$code" != 0 ]; then
        if [ -e "$out" ]; then
            fail "$case" "exit $code but the output file was written"
            return
        fi
        if [ -s "$d/stdout" ]; then
            fail "$case" "exit $code but something was written to standard output" "$d/stdout"
            return
        fi
        echo "ok   $case (exit $code)"
        return
    fi
    if [ ! -s "$out" ]; then
        fail "$case" "no output file"
        return
    fi
    for t in "${outs[@]+"${outs[@]}"}"; do
        if ! grep -q -F -- "$t" "$out"; then
            fail "$case" "missing in the output: $t"
            return
        fi
    done
    for t in "${nouts[@]+"${nouts[@]}"}"; do
        if grep -q -F -- "$t" "$out"; then
            fail "$case" "unexpected in the output: $t"
            return
        fi
    done
    # Deterministic, and standard output holds the same as -o.
    if ! "$PY" "$IMPORTER" ${args[@]+"${args[@]}"} "$xsd" >"$d/again.xml" 2>/dev/null || ! cmp -s "$out" "$d/again.xml"; then
        fail "$case" "a second run (to standard output) gave another result"
        return
    fi
    if ! xmllint --noout --relaxng schema/pxmpp-schema.rng "$out" >"$d/xmllint" 2>&1; then
        fail "$case" "the output does not validate against schema/pxmpp-schema.rng" "$d/xmllint"
        return
    fi
    if ! "$PY" codegen/pxmpp_gen.py --out "$d/gen" schema/rfc6120-core.xml schema/rfc6121-im.xml "$out" \
            >"$d/gen.log" 2>&1; then
        fail "$case" "codegen/pxmpp_gen.py refused the output" "$d/gen.log"
        return
    fi
    local name
    name=$(sed -n 's/.*<schema [^>]*name="\([^"]*\)".*/\1/p' "$out" | head -1)
    if [ ! -f "$d/gen/src/$name.c" ]; then
        fail "$case" "no generated src/$name.c"
        return
    fi
    local src std
    for std in c11 gnu11; do
        for src in "$d/gen/src/$name.c" "$d/gen/src/rfc6120.c" "$d/gen/src/rfc6121.c" "$d/gen/src/registry.c"; do
            # shellcheck disable=SC2086
            if ! $CC -std=$std $CFLAGS_COMMON -I runtime/include -I "$d/gen/include" -c -o "$d/obj.o" "$src" \
                    >"$d/cc.log" 2>&1; then
                fail "$case" "$(basename "$src") does not compile (-std=$std)" "$d/cc.log"
                return
            fi
        done
    done
    echo "ok   $case"
}

for expect in "$HERE"/*.expect; do
    run_case "$expect"
done

# Usage errors: exit status 2, nothing written.
usage_case() {
    local label=$1
    shift
    total=$((total + 1))
    rm -f "$TMP/usage.xml"
    "$PY" "$IMPORTER" "$@" >"$TMP/usage.out" 2>"$TMP/usage.err"
    local rc=$?
    if [ "$rc" != 2 ]; then
        fail "usage: $label" "exit status $rc, expected 2" "$TMP/usage.err"
    elif [ -e "$TMP/usage.xml" ] || [ -s "$TMP/usage.out" ]; then
        fail "usage: $label" "something was written"
    elif ! grep -q 'usage:' "$TMP/usage.err"; then
        fail "usage: $label" "no usage message" "$TMP/usage.err"
    else
        echo "ok   usage: $label"
    fi
}
usage_case "no arguments"
usage_case "two input files" -o "$TMP/usage.xml" tests/xsd/good-values.xsd tests/xsd/good-content.xsd
usage_case "unknown option" --frobnicate -o "$TMP/usage.xml" tests/xsd/good-values.xsd
usage_case "bad --name" --name 'Not-A-Name' -o "$TMP/usage.xml" tests/xsd/good-values.xsd
usage_case "reserved --name" --name rfc6120 -o "$TMP/usage.xml" tests/xsd/good-values.xsd
usage_case "--name registry" --name registry -o "$TMP/usage.xml" tests/xsd/good-values.xsd
usage_case "-o without a value" tests/xsd/good-values.xsd -o

echo "$((total - failures)) of $total passed"
if [ "$failures" -ne 0 ]; then
    echo "FAILED: $failures case(s) of tests/xsd/run.sh"
    exit 1
fi
exit 0
