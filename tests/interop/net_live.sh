#!/usr/bin/env bash
# pxmpp_net against a private Prosody on loopback, through a TCP proxy (tcp_proxy.py):
#   1. examples/echo_bot logs in; a message from pxmpp-client comes back to it
#   2. the proxy cuts the bot's connection: the bot reconnects by itself and echoes again
#   3. the proxy freezes a listening pxmpp-client's connection: its keepalive ping goes
#      unanswered and the session ends with exit status 3
# Usage: net_live.sh PATH/TO/echo_bot PATH/TO/pxmpp-client REPO_ROOT
# Exit 0 when every check passes, 77 when Prosody is not installed, 1 otherwise.
set -u
bot=$1
client=$2
root=$3
command -v prosody >/dev/null 2>&1 || { echo "prosody not installed: skipped"; exit 77; }

dir=$(mktemp -d /tmp/pxmpp-net-live.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    "$root/scripts/prosody-stop" --clean "$dir/server" >/dev/null 2>&1
    rm -rf "$dir"
}
trap cleanup EXIT

eval "$("$root/scripts/prosody-start" "$dir/server")" || { echo "FAIL: prosody did not start"; exit 1; }
"$root/scripts/prosody-adduser" "$dir/server" alice 'wonder land' >/dev/null
"$root/scripts/prosody-adduser" "$dir/server" echo 'echo-secret' >/dev/null
printf 'wonder land\n' >"$dir/alice.pw"

/usr/bin/python3 "$root/tests/interop/tcp_proxy.py" 127.0.0.1 "$PORT" >"$dir/proxy.port" &
proxy=$!
pids+=("$proxy")
for _ in $(seq 1 50); do [ -s "$dir/proxy.port" ] && break; sleep 0.1; done
pport=$(cat "$dir/proxy.port")

fails=0
n=0
check() { # description, command...
    n=$((n + 1))
    local what=$1
    shift
    if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
# wait_for COUNT PATTERN FILE: until FILE has COUNT lines matching PATTERN (10 s at most)
wait_for() {
    local c
    for _ in $(seq 1 100); do
        c=$(grep -c -- "$2" "$3" 2>/dev/null)
        [ "${c:-0}" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
alice() { "$client" --jid alice@localhost --password-file "$dir/alice.pw" --host 127.0.0.1 --cafile "$CAFILE" "$@"; }

# echo_round TEXT: alice listens, sends TEXT to the bot and must get it back from the bot
echo_round() {
    local out="$dir/listen.$n"
    alice --port "$PORT" --timeout 10 --resource inbox listen --count 1 >"$out" 2>"$out.err" &
    local lp=$!
    pids+=("$lp")
    wait_for 1 "pxmpp-client: listening" "$out.err"
    alice --port "$PORT" send echo@localhost "$1" >/dev/null 2>&1
    wait "$lp"
    /usr/bin/python3 -c "
import json,sys
for l in open(sys.argv[1]):
    o=json.loads(l)
    if o.get('kind')=='message' and o.get('body')==sys.argv[2] and o.get('from','').startswith('echo@localhost/'):
        sys.exit(0)
sys.exit(1)" "$out" "$1"
}

# 1. the bot logs in (through the proxy) and echoes
PXMPP_PASSWORD='echo-secret' "$bot" echo@localhost 127.0.0.1 "$pport" "$CAFILE" >"$dir/bot.out" 2>"$dir/bot.err" &
botpid=$!
pids+=("$botpid")
check "the echo bot comes online" wait_for 1 "online as echo@localhost/" "$dir/bot.out"
check "a message to the bot comes back" echo_round 'Grüße, echo ✓ <&>'

# 2. cut: the bot reconnects on its own and echoes again
kill -USR1 "$proxy"
check "the bot reports the lost connection" wait_for 1 "disconnected (PXMPP_ERR_DISCONNECTED" "$dir/bot.err"
check "the bot comes online again" wait_for 2 "online as echo@localhost/" "$dir/bot.out"
check "a message after the reconnection comes back" echo_round 'second round'
check "the bot is still running" kill -0 "$botpid"

# 3. freeze: a keepalive ping of 1 s goes unanswered
alice --port "$pport" --timeout 20 --keepalive 1 --resource frozen listen >"$dir/frozen.out" 2>"$dir/frozen.err" &
fp=$!
pids+=("$fp")
wait_for 1 "pxmpp-client: listening" "$dir/frozen.err"
kill -USR2 "$proxy"
start=$SECONDS
wait "$fp"
st=$?
check "a frozen connection ends the listener with exit 3 (got $st)" test $st -eq 3
check "... because the keepalive ping got no answer" grep -q "no answer to a keepalive ping" "$dir/frozen.err"
check "... within a few seconds ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 8

echo "net_live: $((n - fails))/$n checks passed"
[ $fails -eq 0 ]
