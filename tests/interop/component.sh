#!/usr/bin/env bash
# pxmpp-component (XEP-0114) against a private XMPP server on loopback.
# Usage: component.sh PXMPP-COMPONENT PXMPP-CLIENT PXMPP-STANZA REPO_ROOT [SERVER]
# SERVER is prosody (the default) or ejabberd; both serve the component echo.localhost.
# The component runs `echo`; alice sends it messages with `pxmpp-client exchange` (which
# keeps the session open and captures what the server sends) and must get each echo from
# the address she wrote to; an iq to the component is answered service-unavailable by the
# library; a wrong secret exits 4, a second instance of the component exits 5 (conflict),
# SIGTERM closes cleanly with 0.
# Exit 0 when every check passes, 77 when the server is not installed, 1 otherwise.
set -u
component=$1
client=$2
stanza=$3
root=$4
# shellcheck source-path=SCRIPTDIR source=server-lib.sh
. "$root/tests/interop/server-lib.sh"
server_use "${5:-prosody}" "$root"
dir=$(mktemp -d /tmp/pxmpp-component.XXXXXX)
server_session "$dir"
[[ -n "${COMPONENT_PORT:-}" && -s "${COMPONENT_SECRET_FILE:-}" ]] ||
    { echo "FAIL: $SERVER_START did not name a component port and secret"; exit 1; }

comp() { "$component" --jid echo.localhost --host 127.0.0.1 --port "$COMPONENT_PORT" --timeout 15 "$@"; }

# 1. the component connects and echoes
# (the binary itself in the background, not the function: the TERM below must reach it)
"$component" --jid echo.localhost --host 127.0.0.1 --port "$COMPONENT_PORT" --timeout 15 \
    --secret-file "$COMPONENT_SECRET_FILE" echo >"$dir/comp.out" 2>"$dir/comp.err" &
cpid=$!
pids+=($cpid)
check "the component reports the handshake" wait_for "$dir/comp.err" "^pxmpp-component: connected$"

cat >"$dir/send.xml" <<'EOF'
<message to='bot@echo.localhost' type='chat' id='e1'><body>ping &amp; echo</body></message>
<message to='echo.localhost/desk' id='e2'><body xml:lang='en'>hello</body><body xml:lang='de'>hallo</body></message>
<message to='bot@echo.localhost' type='error' id='e3'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>
<iq to='bot@echo.localhost' type='get' id='q1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>
EOF
"$client" --jid alice@localhost --password-file "$dir/alice.pw" --host 127.0.0.1 --port "$PORT" \
    --cafile "$CAFILE" --timeout 20 --resource here exchange "$dir/send.xml" --capture "$dir/capture.xml" \
    --settle 2 >"$dir/ex.out" 2>"$dir/ex.err"
st=$?
check "the exchange exits 0 (got $st)" test $st -eq 0
check "the iq to the component is answered service-unavailable" \
    grep -q '"id":"q1","reply":"error","condition":"service-unavailable"' "$dir/ex.out"
"$stanza" parse <"$dir/capture.xml" >"$dir/capture.json" 2>/dev/null
/usr/bin/python3 - "$dir/capture.json" >"$dir/echoes.txt" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    s = json.loads(line)
    if s.get("kind") != "message":
        continue
    bodies = [(b.get("lang"), b.get("text")) for b in s.get("bodies") or []]
    print("%s|%s|%s|%s" % (s.get("from"), s.get("to"), s.get("type"), bodies))
EOF
check "bot@echo.localhost echoes the chat message to the sender" \
    grep -qF "bot@echo.localhost|alice@localhost/here|chat|[(None, 'ping & echo')]" "$dir/echoes.txt"
check "echo.localhost/desk echoes both bodies, type normal" \
    grep -qF "echo.localhost/desk|alice@localhost/here|normal|[('en', 'hello'), ('de', 'hallo')]" "$dir/echoes.txt"
check "the message of type error is not answered" bash -c "! grep -q '|error|' '$dir/echoes.txt'"
check "exactly two echoes" test "$(wc -l <"$dir/echoes.txt")" -eq 2

# 2. a second instance of the same component is refused by the server (conflict): 5
# (ejabberd accepts several connections of one component and shares its traffic among them)
if [[ $SERVER == prosody ]]; then
    comp --secret-file "$COMPONENT_SECRET_FILE" echo >/dev/null 2>"$dir/second.err"
    st=$?
    check "a second instance exits 5 (got $st)" test $st -eq 5
    check "... naming the conflict" grep -q "conflict" "$dir/second.err"
fi

# 3. SIGTERM: clean close, exit 0
gone() { grep -c "component disconnected: echo.localhost" "$dir/server/$SERVER_LOG"; }
before=$(gone)
kill -TERM "$cpid"
wait "$cpid"
st=$?
check "SIGTERM closes the component with 0 (got $st)" test $st -eq 0
disconnected() {
    for _ in $(seq 1 50); do
        (($(gone) > before)) && return 0
        sleep 0.1
    done
    return 1
}
# Prosody logs the end of a component session by name; ejabberd's log has no such line
if [[ $SERVER == prosody ]]; then
    check "the server saw the component go" disconnected
fi

# 4. a wrong secret: 4, and the secret never printed
printf 'not-the-secret\n' >"$dir/wrong.secret"
comp --secret-file "$dir/wrong.secret" echo >"$dir/wrong.out" 2>"$dir/wrong.err"
st=$?
check "a wrong secret exits 4 (got $st)" test $st -eq 4
check "... naming not-authorized" grep -q "not-authorized" "$dir/wrong.err"
check "... without printing the secret" bash -c "! grep -q 'not-the-secret' '$dir/wrong.out' '$dir/wrong.err'"
check "... and without the connected line" bash -c "! grep -q 'connected' '$dir/wrong.err'"

# 5. a name the server does not serve: refused (how, depends on the server)
"$component" --jid nobody.localhost --host 127.0.0.1 --port "$COMPONENT_PORT" --timeout 15 \
    --secret-file "$COMPONENT_SECRET_FILE" echo >/dev/null 2>"$dir/unknown.err"
st=$?
# Prosody answers the stream header of a name it does not serve with host-unknown; ejabberd
# takes the header and refuses the handshake, so that the names it serves are not told
if [[ $SERVER == prosody ]]; then
    check "an unknown component name exits 5 (got $st)" test $st -eq 5
    check "... naming host-unknown" grep -q "host-unknown" "$dir/unknown.err"
else
    check "an unknown component name exits 4 (got $st)" test $st -eq 4
    check "... naming not-authorized" grep -q "not-authorized" "$dir/unknown.err"
fi

# 6. usage and network
: >"$dir/empty.secret"
comp --secret-file "$dir/empty.secret" echo >/dev/null 2>&1
check "an empty secret file exits 2" test $? -eq 2
comp --secret-file "$COMPONENT_SECRET_FILE" >/dev/null 2>&1
check "no command exits 2" test $? -eq 2
"$component" --help >/dev/null 2>&1
check "--help exits 0" test $? -eq 0
"$component" --jid echo.localhost --host 127.0.0.1 --port "$PORT" --timeout 3 \
    --secret-file "$COMPONENT_SECRET_FILE" echo >/dev/null 2>&1
st=$?
check "the c2s port (TLS-only, wrong namespace) is no component port: exit 5 (got $st)" test $st -eq 5
"$SERVER_STOP" "$dir/server" >/dev/null 2>&1
comp --secret-file "$COMPONENT_SECRET_FILE" echo >/dev/null 2>&1
st=$?
check "no server listening exits 3 (got $st)" test $st -eq 3

echo "component: $((n - fails))/$n checks passed"
[ $fails -eq 0 ]
