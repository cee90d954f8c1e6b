#!/usr/bin/env bash
# pxmpp-server as a tool, driven by pxmpp-client (interop.sh runs the common client checks
# against it too): offline storage with a XEP-0203 delay, delivery at the next available
# presence, rosters and stored messages across a restart with --state (and the state file
# never half written), two resources of one account, SIGTERM, the connection limit per
# address, the exit status of bad invocations.
# Usage: pxmpp_server.sh PXMPP-SERVER PXMPP-CLIENT REPO_ROOT
# Exit 0 when every check passes, 77 when the tools are missing, 1 otherwise.
set -u
server_bin=$1
client=$2
root=$3
export PXMPP_SERVER=$server_bin
[[ -x "$client" ]] || { echo "pxmpp-client not built: skipped"; exit 77; }
# shellcheck source-path=SCRIPTDIR source=server-lib.sh
. "$root/tests/interop/server-lib.sh"
server_use pxmpp "$root"
dir=$(mktemp -d /tmp/pxmpp-server-test.XXXXXX)
server_session "$dir"
inst=$dir/server

common() { printf '%s\n' --host 127.0.0.1 --port "$PORT" --cafile "$CAFILE" --timeout 10; }
alice() { "$client" --jid alice@localhost --password-file "$dir/alice.pw" $(common) "$@"; }
bob() { "$client" --jid bob@localhost --password-file "$dir/bob.pw" $(common) "$@"; }
# json_has FILE PY-EXPR: a JSON line o of FILE makes the expression true
json_has() {
    /usr/bin/python3 -c "
import json, sys
for l in open(sys.argv[1]):
    try: o = json.loads(l)
    except ValueError: continue
    if $2: sys.exit(0)
sys.exit(1)" "$1"
}

# 1. messages to an offline account are stored and delivered with a delay
alice roster-add bob@localhost --name Bob --group Friends --group 'Work & Play' >/dev/null 2>&1
check "roster-add exits 0" test $? -eq 0
alice send bob@localhost 'first while away' >/dev/null 2>&1
check "a message to offline bob is accepted" test $? -eq 0
alice send bob@localhost 'second while away' --type normal >/dev/null 2>&1
check "grep -q stored" grep -q "stored a message for bob@localhost (2 waiting)" "$inst/pxmpp-server.log"
bob listen --count 2 >"$dir/off.out" 2>"$dir/off.err"
check "bob's listen ends after the two stored messages" test $? -eq 0
check "the first stored message arrives with a XEP-0203 stamp" json_has "$dir/off.out" \
    "o.get('kind') == 'message' and o.get('body') == 'first while away' and o.get('type') == 'chat' and (o.get('delay') or '').endswith('Z')"
check "the second keeps its type" json_has "$dir/off.out" \
    "o.get('kind') == 'message' and o.get('body') == 'second while away' and o.get('type') == 'normal' and o.get('delay')"
check "stored messages come in order" bash -c "grep -n 'away' '$dir/off.out' | head -1 | grep -q first"
bob listen --timeout 3 >"$dir/off2.out" 2>/dev/null
check "delivered messages are not stored any more" bash -c "! grep -q 'away' '$dir/off2.out'"
# a headline to an offline account is dropped (RFC 6121 8.5.2.2), not stored
stored_before=$(grep -c "stored a message" "$inst/pxmpp-server.log")
alice send bob@localhost 'headline' --type headline >/dev/null 2>&1
check "a headline is not stored" test "$(grep -c "stored a message" "$inst/pxmpp-server.log")" -eq "$stored_before"

# 2. two resources of one account: a message to the bare JID reaches both (equal priority);
# each also gets the other's presence (RFC 6121 4.2.2)
alice --resource one listen --count 2 --timeout 10 >"$dir/r1.out" 2>"$dir/r1.err" &
p1=$!
alice --resource two listen --count 2 --timeout 10 >"$dir/r2.out" 2>"$dir/r2.err" &
p2=$!
pids+=("$p1" "$p2")
wait_for "$dir/r1.err" "pxmpp-client: listening" && wait_for "$dir/r2.err" "pxmpp-client: listening"
bob send alice@localhost 'to both resources' >/dev/null 2>&1
wait "$p1" "$p2"
check "resource one got the message" json_has "$dir/r1.out" "o.get('body') == 'to both resources' and o.get('to') == 'alice@localhost'"
check "resource two got the message" json_has "$dir/r2.out" "o.get('body') == 'to both resources'"
check "resource one saw two's presence" json_has "$dir/r1.out" "o.get('kind') == 'presence' and o.get('from') == 'alice@localhost/two'"
check "resource two saw one's presence" json_has "$dir/r2.out" "o.get('kind') == 'presence' and o.get('from') == 'alice@localhost/one'"

# 3. restart with --state: the roster (version, groups) and a stored message survive
alice send bob@localhost 'across the restart' >/dev/null 2>&1
alice roster --ver '' >"$dir/before.out" 2>/dev/null
"$SERVER_STOP" "$inst" >/dev/null 2>&1
check "SIGTERM: the server says it stopped" grep -q "^pxmpp-server: stopped$" "$inst/pxmpp-server.log"
check "the state file is there, no temporary file left" bash -c "test -s '$inst/state/pxmpp-server-state.xml' && ! ls -A '$inst/state' | grep -q tmp"
eval "$("$SERVER_START" "$inst")" || { echo "FAIL: restart"; exit 1; }
check "the restarted server loaded the state" grep -q "loaded .*: [1-9][0-9]* roster items, 1 stored messages" "$inst/pxmpp-server.log"
alice roster --ver '' >"$dir/after.out" 2>/dev/null
check "alice's roster is the same after the restart (items, groups, version)" cmp -s "$dir/before.out" "$dir/after.out"
check "bob is in it with both groups" json_has "$dir/after.out" \
    "o.get('jid') == 'bob@localhost' and o.get('groups') == ['Friends', 'Work & Play']"
bob listen --count 1 >"$dir/st.out" 2>/dev/null
check "the message stored before the restart is delivered after it" json_has "$dir/st.out" \
    "o.get('body') == 'across the restart' and o.get('delay')"

# 4. SIGTERM closes open streams cleanly: a listening client sees the server's close tag
# (listen reports that as the end of its session, exit 5) and answers with its own
bob listen --reconnect 0 --timeout 20 >"$dir/term.out" 2>"$dir/term.err" &
lp=$!
pids+=("$lp")
wait_for "$dir/term.err" "pxmpp-client: listening"
spid=$(<"$inst/pid")
kill -TERM "$spid"
for _ in $(seq 1 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
check "the server exits after SIGTERM" bash -c "! kill -0 $spid 2>/dev/null"
wait "$lp"
check "the client saw the server close the stream" grep -q "the server closed the stream" "$dir/term.err"
check "the client answered with its close tag" bash -c "tail -n 6 '$inst/pxmpp-server.log' | grep -q 'stream closed by the client'"
rm -f "$inst/pid"

# 5. a state file that is not one is refused (exit 2), and left alone
printf '<iq type="result" to="alice@localhost"><query' >"$dir/bad-state.xml"
mkdir -p "$dir/badstate" && cp "$dir/bad-state.xml" "$dir/badstate/pxmpp-server-state.xml"
"$server_bin" --domain localhost --listen 127.0.0.1:0 --cert "$inst/certs/localhost.crt" \
    --key "$inst/certs/localhost.key" --users "$inst/users" --state "$dir/badstate" >/dev/null 2>"$dir/bs.err"
st=$?
check "a truncated state file exits 2 (got $st)" test $st -eq 2
check "it says which file" grep -q "badstate/pxmpp-server-state.xml" "$dir/bs.err"
check "the file is left as it was" cmp -s "$dir/bad-state.xml" "$dir/badstate/pxmpp-server-state.xml"

# 6. exit status of bad invocations
run_server() { "$server_bin" --domain localhost --cert "$inst/certs/localhost.crt" --key "$inst/certs/localhost.key" \
    --users "$inst/users" "$@" >/dev/null 2>&1; }
run_server
check "no --listen exits 2" test $? -eq 2
run_server --listen 127.0.0.1:0 --bogus
check "an unknown option exits 2" test $? -eq 2
printf 'nocolon\n' >"$dir/users.bad"
"$server_bin" --domain localhost --listen 127.0.0.1:0 --cert "$inst/certs/localhost.crt" \
    --key "$inst/certs/localhost.key" --users "$dir/users.bad" >/dev/null 2>"$dir/ub.err"
check "a malformed users file exits 2" test $? -eq 2
check "it names the line" grep -q "users.bad:1:" "$dir/ub.err"
"$server_bin" --domain localhost --listen 127.0.0.1:0 --cert "$dir/missing.crt" \
    --key "$inst/certs/localhost.key" --users "$inst/users" >/dev/null 2>&1
check "a missing certificate exits 3" test $? -eq 3
"$server_bin" --domain localhost --listen 127.0.0.1:0 --cert "$inst/certs/localhost.crt" \
    --key "$dir/bad-state.xml" --users "$inst/users" >/dev/null 2>&1
check "a key that is not one exits 3" test $? -eq 3
blocker=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
/usr/bin/python3 -c "import socket,time; s=socket.socket(); s.bind(('127.0.0.1',$blocker)); s.listen(1); time.sleep(5)" &
pids+=($!)
sleep 0.5
run_server --listen "127.0.0.1:$blocker"
check "a port in use exits 3" test $? -eq 3

# SIGTERM with nothing connected: exit status 0
"$server_bin" --domain localhost --listen 127.0.0.1:0 --cert "$inst/certs/localhost.crt" \
    --key "$inst/certs/localhost.key" --users "$inst/users" 2>"$dir/term0.err" &
tp=$!
wait_for "$dir/term0.err" "listening on"
kill -TERM "$tp"
wait "$tp"
st=$?
check "SIGTERM ends the server with status 0 (got $st)" test $st -eq 0

# 7. connections per address: the third of two allowed is closed at once, the others work
export PXMPP_SERVER_ARGS="--max-connections-per-address 2 --offline-limit 2"
eval "$("$SERVER_START" "$inst")" || { echo "FAIL: start with a limit"; exit 1; }
unset PXMPP_SERVER_ARGS
/usr/bin/python3 - "$PORT" >"$dir/limit.out" <<'PY'
import socket, sys
port = int(sys.argv[1])
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
third = socket.create_connection(("127.0.0.1", port))
third.settimeout(5)
try:
    data = third.recv(100)
    print("third-closed" if data == b"" else "third-open")
except (ConnectionResetError, socket.timeout) as e:
    print("third-closed" if isinstance(e, ConnectionResetError) else "third-open")
hdr = b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
socks[0].sendall(hdr)
socks[0].settimeout(5)
got = b""
while b"starttls" not in got:
    chunk = socks[0].recv(4096)
    if not chunk:
        break
    got += chunk
print("first-works" if b"starttls" in got else "first-broken")
PY
check "a third connection from one address is closed" grep -q third-closed "$dir/limit.out"
check "the first two still work" grep -q first-works "$dir/limit.out"

# 8. the offline store is bounded: with --offline-limit 2 a third message to offline bob
# comes back as service-unavailable (RFC 6121 8.5.2.2)
sleep 0.5 # the limit test's connections are gone
cat >"$dir/three.xml" <<'XML'
<message to='bob@localhost' type='chat' id='o1'><body>one</body></message>
<message to='bob@localhost' type='chat' id='o2'><body>two</body></message>
<message to='bob@localhost' type='chat' id='o3'><body>three</body></message>
XML
"$client" --jid alice@localhost --password-file "$dir/alice.pw" $(common) exchange "$dir/three.xml" \
    --capture "$dir/three.cap" --settle 1 >/dev/null 2>"$dir/three.err"
check "the exchange ran" test $? -eq 0
check "the third message bounced with service-unavailable" \
    bash -c "grep -o \"<message[^>]*id='o3'[^>]*>.*service-unavailable\" '$dir/three.cap' | grep -q error"
check "the first two did not" bash -c "! grep -qE \"id='o[12]'\" '$dir/three.cap'"

echo "pxmpp-server: $((n - fails))/$n checks passed"
[ $fails -eq 0 ]
