#!/bin/sh
# hostile-dump's contract: --list names every input once; each name and each number
# writes the same bytes; --no-header writes them without PXMPP_HOSTILE_HEADER, or
# exits 3 when the input does not begin with it; an unknown input exits 2.
set -eu
dump=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
header="<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
"$dump" --list >"$tmp/names"
n=$(wc -l <"$tmp/names")
[ "$n" -gt 100 ] || { echo "only $n inputs"; exit 1; }
[ "$(sort -u "$tmp/names" | wc -l)" -eq "$n" ] || { echo "duplicate names"; exit 1; }
i=0
with=0
while read -r name; do
  "$dump" "$name" >"$tmp/by-name"
  "$dump" "$i" >"$tmp/by-number"
  cmp -s "$tmp/by-name" "$tmp/by-number" || { echo "$name: by name and by number differ"; exit 1; }
  [ -s "$tmp/by-name" ] || { echo "$name: empty"; exit 1; }
  rc=0
  "$dump" --no-header "$name" >"$tmp/rest" 2>/dev/null || rc=$?
  if [ "$rc" -eq 0 ]; then
    { printf '%s' "$header"; cat "$tmp/rest"; } | cmp -s - "$tmp/by-name" || { echo "$name: --no-header"; exit 1; }
    with=$((with + 1))
  elif [ "$rc" -eq 3 ]; then
    head -c ${#header} "$tmp/by-name" | grep -qxF "$header" && { echo "$name: has the header"; exit 1; }
  else
    echo "$name: --no-header exits $rc"; exit 1
  fi
  i=$((i + 1))
done <"$tmp/names"
rc=0
"$dump" no-such-input >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { echo "unknown input: exit $rc"; exit 1; }
rc=0
"$dump" "$n" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || { echo "number out of range: exit $rc"; exit 1; }
"$dump" --size 3 deep-nesting | grep -q "<message><a><a><a></a></a></a></message>" || { echo "--size"; exit 1; }
echo "$n inputs, $with with the standard header"
