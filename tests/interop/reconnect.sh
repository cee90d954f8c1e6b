#!/usr/bin/env bash
# pxmpp-client listen survives a dropped connection (its default --reconnect): a listener behind a proxy that cuts
# its TCP connection twice while messages flow (the bytes in flight are lost) reconnects,
# resumes the stream (XEP-0198) and prints every one of the messages sent to it, once.
# Usage: reconnect.sh prosody|ejabberd PATH/TO/pxmpp-client REPO_ROOT
# Exit 0 when every check passes, 77 when the server is not installed, 1 otherwise.
set -u
server=$1
client=$2
root=$3
case "$server" in
  prosody | ejabberd) ;;
  *) echo "usage: reconnect.sh prosody|ejabberd CLIENT ROOT" >&2; exit 2 ;;
esac
command -v "$server" >/dev/null 2>&1 || [[ -x /usr/sbin/ejabberdctl && $server == ejabberd ]] ||
  { echo "$server not installed: skipped"; exit 77; }

COUNT=40
dir=$(mktemp -d /tmp/pxmpp-reconnect.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  "$root/scripts/$server-stop" --clean "$dir/server" >/dev/null 2>&1
  rm -rf "$dir"
}
trap cleanup EXIT

eval "$("$root/scripts/$server-start" "$dir/server")" || { echo "FAIL: $server did not start"; exit 1; }
"$root/scripts/$server-adduser" "$dir/server" alice 'wonder land' >/dev/null
"$root/scripts/$server-adduser" "$dir/server" bob 'b0b-secret' >/dev/null
printf 'wonder land\n' >"$dir/alice.pw"
printf 'b0b-secret\n' >"$dir/bob.pw"

fails=0
check() { # description, command...
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}

# the proxy in front of the server; cuts come through its control port
/usr/bin/python3 "$root/tests/interop/cutproxy.py" --listen-port-file "$dir/proxy.port" \
  --target "127.0.0.1:$PORT" --control-port-file "$dir/control.port" 2>"$dir/proxy.log" &
pids+=($!)
for _ in $(seq 1 100); do [[ -s "$dir/proxy.port" && -s "$dir/control.port" ]] && break; sleep 0.1; done
[[ -s "$dir/proxy.port" ]] || { echo "FAIL: the proxy did not start"; cat "$dir/proxy.log"; exit 1; }
proxy_port=$(<"$dir/proxy.port")
control_port=$(<"$dir/control.port")
cut() {
  /usr/bin/python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"cut\n"); s.close()' "$control_port"
}

"$client" --jid alice@localhost/listener --password-file "$dir/alice.pw" --host 127.0.0.1 --port "$proxy_port" \
  --cafile "$CAFILE" --timeout 90 listen --count "$COUNT" >"$dir/listen.out" 2>"$dir/listen.err" &
listener=$!
pids+=($listener)
for _ in $(seq 1 150); do grep -q "pxmpp-client: listening" "$dir/listen.err" 2>/dev/null && break; sleep 0.1; done
check "the listener is ready" grep -q "pxmpp-client: listening" "$dir/listen.err"

# the sender: one message after another; the connection is cut twice while they flow
cuts=0
for i in $(seq -w 1 "$COUNT"); do
  "$client" --jid bob@localhost --password-file "$dir/bob.pw" --host 127.0.0.1 --port "$PORT" \
    --cafile "$CAFILE" --timeout 20 send alice@localhost "message $i" >/dev/null 2>>"$dir/send.err" ||
    echo "sender: message $i failed" >>"$dir/send.err"
  if [[ $i == 12 || $i == 27 ]]; then
    cut
    cuts=$((cuts + 1))
  fi
done
wait "$listener"
st=$?
check "two cuts were made" test "$(grep -c 'cut' "$dir/proxy.log")" -ge 2
check "listen exits 0 (got $st)" test $st -eq 0
check "listen printed $COUNT lines" test "$(wc -l <"$dir/listen.out")" -eq "$COUNT"
bodies=$(/usr/bin/python3 -c '
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("kind") == "message":
        print(o.get("body"))' "$dir/listen.out" | sort)
expected=$(for i in $(seq -w 1 "$COUNT"); do echo "message $i"; done | sort)
check "every message printed exactly once" test "$bodies" == "$expected"
check "the listener reconnected" grep -qi "reconnect" "$dir/listen.err"
check "the stream was resumed" grep -qi "resumed" "$dir/listen.err"
if ((fails)); then
  echo "--- listener stderr"; cat "$dir/listen.err"
  echo "--- proxy"; cat "$dir/proxy.log"
  echo "--- sender"; cat "$dir/send.err" 2>/dev/null
fi
echo "reconnect ($server): $fails failed"
exit $((fails > 0))
