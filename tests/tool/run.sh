#!/usr/bin/env bash
# Tests of the pxmpp-stanza command-line contract.  Usage: run.sh PATH/TO/pxmpp-stanza DATA_DIR
set -u
tool=$1
data=$2
fails=0
n=0
check() { # description, condition...
    n=$((n + 1))
    local what=$1
    shift
    if "$@"; then :; else
        echo "FAIL: $what"
        fails=$((fails + 1))
    fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in "$data"/rfc/*.xml; do
    name=$(basename "$f")
    "$tool" parse <"$f" >"$tmp/whole" 2>/dev/null
    status=$?
    case $name in
    valid-*) check "$name exits 0 (got $status)" test $status -eq 0 ;;
    invalid-*) check "$name exits 1 (got $status)" test $status -eq 1 ;;
    esac
    if [[ $name == invalid-* && $name != invalid-payload-* ]]; then
        check "$name prints an error object" grep -q '"error":{"reason":' "$tmp/whole"
    fi
    if [[ $name == valid-* ]]; then
        check "$name prints no error key" bash -c "! grep -q '\"error\":' '$tmp/whole'"
    fi
    for c in 1 2 3 5 64; do
        "$tool" parse --chunk $c <"$f" >"$tmp/chunk" 2>/dev/null
        check "$name: parse --chunk $c equals the whole-buffer output" cmp -s "$tmp/whole" "$tmp/chunk"
    done
    "$tool" roundtrip <"$f" >"$tmp/rt" 2>/dev/null
    "$tool" roundtrip --chunk 1 <"$f" >"$tmp/rt1" 2>/dev/null
    check "$name: roundtrip independent of chunking" cmp -s "$tmp/rt" "$tmp/rt1"
    # re-parsing the round trip gives the same JSON
    if [[ $name == valid-* ]]; then
        "$tool" parse <"$tmp/rt" >"$tmp/again" 2>/dev/null
        check "$name: parse(roundtrip) == parse" cmp -s "$tmp/whole" "$tmp/again"
    fi
done

# every line is JSON with the required keys
/usr/bin/python3 - "$tool" "$data" <<'PY' || fails=$((fails + 1))
import json, subprocess, sys, glob, os
tool, data = sys.argv[1], sys.argv[2]
bad = 0
for f in sorted(glob.glob(os.path.join(data, "rfc", "*.xml"))):
    out = subprocess.run([tool, "parse"], stdin=open(f, "rb"), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
    for line in out.decode("utf-8").splitlines():
        o = json.loads(line)
        for k in ("kind", "type", "id", "from", "to", "payloads"):
            if k not in o:
                print("FAIL: %s: key %s missing in %s" % (f, k, line[:120])); bad += 1
        if o["kind"] not in ("message", "presence", "iq"):
            print("FAIL: %s: kind %s" % (f, o["kind"])); bad += 1
m = json.loads(subprocess.run([tool, "types"], stdout=subprocess.PIPE).stdout)
names = {t["name"] for t in m["types"]}
for need in ("message", "presence", "iq", "roster_item", "stanza_error", "disco_info", "ping", "bind"):
    if need not in names:
        print("FAIL: types lacks", need); bad += 1
sys.exit(1 if bad else 0)
PY
n=$((n + 1))

# a full stream
"$tool" parse <"$data/sample-stream.xml" >"$tmp/s" 2>/dev/null
check "sample stream exits 0" test $? -eq 0
check "sample stream prints its features" grep -q '"kind":"stream_features"' "$tmp/s"
check "sample stream has a roster" grep -q '"schema_type":"roster_query"' "$tmp/s"

# XML-level errors: exit 2 and an error object with the byte offset, at any chunking
printf '<message><body>hi</message>' >"$tmp/bad.xml"
"$tool" parse <"$tmp/bad.xml" >"$tmp/e1"
check "not well-formed exits 2" test $? -eq 2
check "error object has an offset" grep -q '"offset":' "$tmp/e1"
"$tool" parse --chunk 1 <"$tmp/bad.xml" >"$tmp/e2"
check "error output independent of chunking" cmp -s "$tmp/e1" "$tmp/e2"
printf '<message/><!-- c -->' | "$tool" parse >"$tmp/e3"
check "comment exits 2" test $? -eq 2
check "comment is restricted XML" grep -q 'PXMPP_ERR_RESTRICTED_XML' "$tmp/e3"
check "stanza before the error is printed" grep -q '"kind":"message"' "$tmp/e3"

# usage
"$tool" >/dev/null 2>&1
check "no command exits 64" test $? -eq 64
"$tool" parse --chunk 0 </dev/null >/dev/null 2>&1
check "--chunk 0 exits 64" test $? -eq 64
"$tool" frobnicate >/dev/null 2>&1
check "unknown command exits 64" test $? -eq 64
"$tool" --help | grep -q 'pxmpp-stanza parse'
check "--help prints usage" test $? -eq 0

echo "pxmpp-stanza contract: $((n - fails))/$n checks passed"
[ $fails -eq 0 ]
