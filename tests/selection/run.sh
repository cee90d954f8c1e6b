#!/usr/bin/env bash
# PXMPP_SCHEMAS: a build with a chosen set of schemas.  Usage: run.sh SOURCE_DIR PYTHON
# Configures and builds the library and pxmpp-stanza with PXMPP_SCHEMAS=xep0092 in a
# temporary directory and checks that exactly the core (RFC 6120, RFC 6121 and the XEPs
# the sessions use: 0030, 0114, 0198, 0199, 0440) and that schema are compiled in
# (their types typed, the others' not), then that an unknown schema name is refused
# at configure time with a message naming it.
set -u
src=$1
py=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

cmake -S "$src" -B "$tmp/b" -DPXMPP_PYTHON="$py" -DPXMPP_SCHEMAS=xep0092 -DPXMPP_BUILD_EXAMPLES=OFF \
  >"$tmp/conf.log" 2>&1 || { cat "$tmp/conf.log"; echo "FAIL: configure"; exit 1; }
grep -q "schemas compiled in: rfc6120;rfc6121;xep0030;xep0092;xep0114;xep0198;xep0199;xep0440" "$tmp/conf.log" || fail "configure does not list the selection"
cmake --build "$tmp/b" -j2 --target pxmpp-stanza >"$tmp/build.log" 2>&1 || { tail -20 "$tmp/build.log"; echo "FAIL: build"; exit 1; }
got=$(cd "$tmp/b/generated/src" && ls | tr '\n' ' ')
[[ "$got" == "registry.c rfc6120.c rfc6121.c xep0030.c xep0092.c xep0114.c xep0198.c xep0199.c xep0440.c " ]] || fail "generated sources: $got"
out=$(echo "<iq type='get' id='1'><query xmlns='jabber:iq:version'/></iq>" | "$tmp/b/pxmpp-stanza" parse)
[[ "$out" == *'"schema_type":"version_query"'* ]] || fail "version query not typed: $out"
out=$(echo "<iq type='get' id='3'><ping xmlns='urn:xmpp:ping'/></iq>" | "$tmp/b/pxmpp-stanza" parse)
[[ "$out" == *'"schema_type":"ping"'* ]] || fail "ping (core) not typed: $out"
out=$(echo "<iq type='get' id='2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>" | "$tmp/b/pxmpp-stanza" parse)
[[ "$out" == *'"schema_type":"disco_info"'* ]] || fail "disco#info (core) not typed: $out"
out=$(echo "<iq type='get' id='4'><vCard xmlns='vcard-temp'/></iq>" | "$tmp/b/pxmpp-stanza" parse)
[[ "$out" == *'"schema_type":null'* ]] || fail "vcard-temp typed although not selected: $out"
n=$("$tmp/b/pxmpp-stanza" types | "$py" -c 'import json,sys; print(len(json.load(sys.stdin)["schemas"]))')
[[ "$n" == 8 ]] || fail "manifest lists $n schemas"

if cmake -S "$src" -B "$tmp/c" -DPXMPP_PYTHON="$py" -DPXMPP_SCHEMAS="xep0092;nosuch" >"$tmp/bad.log" 2>&1; then
  fail "an unknown schema name was accepted"
fi
grep -q "unknown schema 'nosuch'" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "no message naming the unknown schema"; }
echo "selection: $((7 - fails)) passed, $fails failed"
exit $((fails > 0))
