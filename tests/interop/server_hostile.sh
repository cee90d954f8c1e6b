#!/usr/bin/env bash
# Hostile input against pxmpp-server's client port, with a second session unaffected:
#   - bob logs in with pxmpp-client and listens;
#   - every hostile input of tests/support (the ones the stream tests check) goes to the
#     port on a connection of its own, before authentication and, for those with the
#     standard header, after STARTTLS, SASL and binding (server_hostile.py); each must end
#     in time, and the server must live through all of them;
#   - the server's memory stays bounded, and bob's session still works: alice's message
#     reaches him on the same connection (no reconnection);
#   - the per-connection stanza rate limit holds back a flood (the answers come at the
#     configured rate, none lost).
# Usage: server_hostile.sh PXMPP-SERVER PXMPP-CLIENT HOSTILE-DUMP REPO_ROOT
# Exit 0 when every check passes, 77 when a tool is missing, 1 otherwise.
set -u
server_bin=$1
client=$2
dump=$3
root=$4
export PXMPP_SERVER=$server_bin
for tool in "$client" "$dump"; do
    [[ -x "$tool" ]] || { echo "$tool not built: skipped"; exit 77; }
done
[[ -x /usr/bin/python3 ]] || { echo "/usr/bin/python3 missing: skipped"; exit 77; }
# shellcheck source-path=SCRIPTDIR source=server-lib.sh
. "$root/tests/interop/server-lib.sh"
server_use pxmpp "$root"
dir=$(mktemp -d /tmp/pxmpp-server-hostile.XXXXXX)
# no rate limit for the hostile run: every byte of the floods goes through the parser
export PXMPP_SERVER_ARGS="--max-stanzas-per-second 0"
server_session "$dir"
unset PXMPP_SERVER_ARGS
inst=$dir/server
spid=$(<"$inst/pid")
common=(--host 127.0.0.1 --port "$PORT" --cafile "$CAFILE")

"$client" --jid bob@localhost --password-file "$dir/bob.pw" "${common[@]}" --timeout 300 --reconnect 0 \
    --keepalive 0 --resource steady listen --count 1 >"$dir/bob.out" 2>"$dir/bob.err" &
bobpid=$!
pids+=("$bobpid")
check "bob's session is up" wait_for "$dir/bob.err" "pxmpp-client: listening"

/usr/bin/python3 "$root/tests/interop/server_hostile.py" --dump "$dump" --port "$PORT" --cafile "$CAFILE" \
    --pid "$spid" --user alice --password-file "$dir/alice.pw" >"$dir/hostile.out" 2>&1
st=$?
check "every hostile connection ended in time, the server lived (got $st)" test $st -eq 0
[[ $st -eq 0 ]] || grep -E "FAILED|LATE|died" "$dir/hostile.out" | head -20 | sed 's/^/    /'
conns=$(grep -cE " (pre|post) " "$dir/hostile.out")
check "all inputs were sent, most of them twice ($conns connections)" test "$conns" -ge 150
check "a billion-laughs DTD is refused before authentication" \
    grep -qE "^billion-laughs-before-stream pre (restricted-xml|not-well-formed)" "$dir/hostile.out"
check "deep nesting after login ends with policy-violation" grep -q "^deep-nesting post policy-violation" "$dir/hostile.out"
check "a stanza before authentication gets not-authorized" grep -q "^small-stanzas-flood pre not-authorized" "$dir/hostile.out"
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$spid/status" 2>/dev/null || echo 0)
check "the server holds less than 64 MiB afterwards (VmRSS $rss KiB)" test "$rss" -gt 0 -a "$rss" -lt 65536

"$client" --jid alice@localhost --password-file "$dir/alice.pw" "${common[@]}" --timeout 15 \
    send bob@localhost 'still here?' >/dev/null 2>&1
check "alice can still log in and send" test $? -eq 0
wait "$bobpid"
check "bob's session got the message (listen exit 0)" test $? -eq 0
check "on the same connection" bash -c "! grep -qiE 'lost|reconnect|resum' '$dir/bob.err'"
check "the message is alice's" grep -q '"body":"still here?"' "$dir/bob.out"
check "the server is still running" kill -0 "$spid"

# the rate limit: 60 pings at 20 per second (after a burst of 20) take at least ~2 s, and
# every one is answered
"$SERVER_STOP" "$inst" >/dev/null 2>&1
export PXMPP_SERVER_ARGS="--max-stanzas-per-second 20"
eval "$("$SERVER_START" "$inst")" || { echo "FAIL: restart with a rate"; exit 1; }
unset PXMPP_SERVER_ARGS
/usr/bin/python3 - "$root/tests/interop" "$PORT" "$CAFILE" "$dir/alice.pw" >"$dir/rate.out" 2>&1 <<'PY'
import re, sys, time
sys.path.insert(0, sys.argv[1])
import server_hostile as h
class A: pass
a = A(); a.port = int(sys.argv[2]); a.cafile = sys.argv[3]; a.domain = "localhost"; a.user = "alice"
t = h.login(a, open(sys.argv[4], "rb").readline().rstrip(b"\r\n"))
start = time.monotonic()
t.sendall(b"".join(b"<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>" % i for i in range(60)))
buf = bytearray()
t.settimeout(15)
while len(re.findall(rb"type='result'", bytes(buf))) < 60:
    chunk = t.recv(65536)
    if not chunk:
        break
    buf += chunk
print("answered %d in %.2f s" % (len(re.findall(rb"type='result'", bytes(buf))), time.monotonic() - start))
PY
check "all 60 pings answered under the rate limit" grep -q "^answered 60 in" "$dir/rate.out"
check "the rate limit spread them over at least 1.5 s ($(cat "$dir/rate.out"))" \
    awk '/^answered/ { exit !($4 >= 1.5) }' "$dir/rate.out"

echo "server_hostile: $((n - fails))/$n checks passed"
[ $fails -eq 0 ]
