#!/usr/bin/env bash
# pxmpp_net against a private server on loopback, through cutproxy.py:
#   1. examples/echo_bot logs in; a message from pxmpp-client comes back to it
#   2. the proxy cuts the bot's connection: the bot reconnects by itself (resuming its
#      XEP-0198 session where the server offers it) and echoes again
#   3. the proxy freezes a listening pxmpp-client's connection: its keepalive ping goes
#      unanswered and the session ends with exit status 3
# Usage: net_live.sh prosody|ejabberd PATH/TO/echo_bot PATH/TO/pxmpp-client REPO_ROOT
# Exit 0 when every check passes, 77 when the server is not installed, 1 otherwise.
set -u
bot=$2
client=$3
root=$4
# shellcheck source-path=SCRIPTDIR source=server-lib.sh
. "$root/tests/interop/server-lib.sh"
server_use "$1" "$root"
server_session "$(mktemp -d /tmp/pxmpp-net-live.XXXXXX)"
dir=$SERVER_SESSION_DIR
"$SERVER_ADDUSER" "$dir/server" echo 'echo-secret' >/dev/null || { echo "FAIL: could not add echo"; exit 1; }

/usr/bin/python3 "$root/tests/interop/cutproxy.py" --listen-port-file "$dir/proxy.port" \
    --target "127.0.0.1:$PORT" --control-port-file "$dir/control.port" 2>"$dir/proxy.log" &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$dir/proxy.port" && -s "$dir/control.port" ]] && break; sleep 0.1; done
[[ -s "$dir/proxy.port" ]] || { echo "FAIL: the proxy did not start"; cat "$dir/proxy.log"; exit 1; }
pport=$(<"$dir/proxy.port")
control() { # COMMAND: sent to the proxy's control port
    /usr/bin/python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode() + b"\n"); s.makefile().readline(); s.close()' "$(<"$dir/control.port")" "$1"
}

alice() { "$client" --jid alice@localhost --password-file "$dir/alice.pw" --host 127.0.0.1 --cafile "$CAFILE" "$@"; }

# echo_round TEXT: alice sends TEXT to the bot and must get it back from the bot.  The reply
# goes to the full JID that sent the message, so the sending session stays open to receive it
# (pxmpp-client exchange: send, then listen for --settle seconds, capturing what arrives); a
# separate listener would race the sender's close, after which the server reroutes the reply.
echo_round() {
    local base="$dir/echo.$n"
    /usr/bin/python3 -c '
import sys
from xml.sax.saxutils import escape
sys.stdout.write("<message to=\"echo@localhost\" type=\"chat\"><body>%s</body></message>" % escape(sys.argv[1]))' \
        "$1" >"$base.xml"
    alice --port "$PORT" --timeout 20 exchange "$base.xml" --capture "$base.capture" --settle 4 \
        >/dev/null 2>"$base.err" || return 1
    /usr/bin/python3 -c '
import sys, xml.etree.ElementTree as ET
root = ET.fromstring("<captured xmlns=\"jabber:client\">" + open(sys.argv[1], encoding="utf-8").read() + "</captured>")
for m in root.iter("{jabber:client}message"):
    if m.get("from", "").startswith("echo@localhost/") and m.findtext("{jabber:client}body") == sys.argv[2]:
        sys.exit(0)
sys.exit(1)' "$base.capture" "$1"
}

# 1. the bot logs in (through the proxy) and echoes
PXMPP_PASSWORD='echo-secret' "$bot" echo@localhost 127.0.0.1 "$pport" "$CAFILE" >"$dir/bot.out" 2>"$dir/bot.err" &
botpid=$!
pids+=("$botpid")
check "the echo bot comes online" wait_for "$dir/bot.out" "online as echo@localhost/"
check "a message to the bot comes back" echo_round 'Grüße, echo ✓ <&>'

# 2. cut: the bot reconnects on its own and echoes again
control cut
check "the bot reports the lost connection" wait_for "$dir/bot.err" "disconnected (PXMPP_ERR_DISCONNECTED"
check "the bot connects again" wait_for "$dir/proxy.log" "connection 2: accepted from"
# the bot may still be waiting out its backoff (0.5 s and up, with jitter; longer on a loaded
# machine) when the first message goes: a round that got no echo is tried again, up to 3 times
echo_after_reconnect() {
    local i
    for i in 1 2 3; do
        echo_round "$1 ($i)" && return 0
    done
    return 1
}
check "a message after the reconnection comes back" echo_after_reconnect 'second round'
check "the bot is still running" kill -0 "$botpid"

# 3. freeze: a keepalive ping of 1 s goes unanswered
alice --port "$pport" --timeout 20 --keepalive 1 --reconnect 0 --resource frozen listen >"$dir/frozen.out" 2>"$dir/frozen.err" &
fp=$!
pids+=("$fp")
wait_for "$dir/frozen.err" "pxmpp-client: listening"
control freeze
start=$SECONDS
wait "$fp"
st=$?
check "a frozen connection ends the listener with exit 3 (got $st)" test $st -eq 3
check "... because the keepalive ping got no answer" grep -q "no answer to a keepalive ping" "$dir/frozen.err"
check "... within a few seconds ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 8

if ((fails)); then
    echo "--- bot stdout"; cat "$dir/bot.out"
    echo "--- bot stderr"; cat "$dir/bot.err"
    echo "--- proxy"; cat "$dir/proxy.log"
    for f in "$dir"/echo.*; do echo "--- $f"; cat "$f"; echo; done
    echo "--- server log"; tail -n 40 "$dir/server/$SERVER_LOG"
fi
echo "net_live ($SERVER): $((n - fails))/$n checks passed"
[ $fails -eq 0 ]
