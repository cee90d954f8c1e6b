#!/usr/bin/env bash
# Smoke test of the private Prosody instance used by the interop tests:
#   - scripts/prosody-start brings a server up in a temporary directory;
#   - scripts/prosody-adduser creates two accounts;
#   - before TLS the stream features offer <starttls> with <required/> and no
#     SASL mechanisms;
#   - `openssl s_client -starttls xmpp` negotiates TLS and verifies the
#     certificate against CAFILE for the name "localhost" (and refuses another
#     name);
#   - after TLS, SCRAM-SHA-1 and PLAIN are offered; both accounts log in (one
#     with PLAIN, one with SCRAM-SHA-1, checking the server signature), a wrong
#     password is refused, and after login the features include resource
#     binding and roster versioning;
#   - scripts/prosody-stop stops the server.
# With -v the stream features seen at each step are printed.
#
# Exit status: 0 on success, 1 on failure, 77 when Prosody (or openssl, or
# /usr/bin/python3) is not installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

PROG=prosody_smoke
PYTHON=/usr/bin/python3
VERBOSE=0
[[ "${1:-}" == -v ]] && VERBOSE=1

skip() {
  printf '%s: SKIP: %s\n' "$PROG" "$*"
  exit 77
}
fail() {
  printf '%s: FAIL: %s\n' "$PROG" "$*" >&2
  if [[ -n "${DIR:-}" && -s "$DIR/prosody.log" ]]; then
    printf '%s: last lines of the Prosody log:\n' "$PROG" >&2
    tail -n 20 -- "$DIR/prosody.log" | sed 's/^/    /' >&2
  fi
  exit 1
}
ok() {
  printf '%s: ok: %s\n' "$PROG" "$*"
}
show() {
  if ((VERBOSE)); then
    printf '    %s\n' "$@"
  fi
}

if ! command -v prosody >/dev/null 2>&1 || ! command -v prosodyctl >/dev/null 2>&1; then
  skip "prosody is not installed (scripts/setup-deps installs it)"
fi
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
[[ -x "$PYTHON" ]] || skip "$PYTHON is not installed"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pxmpp-prosody.XXXXXX")
cleanup() {
  scripts/prosody-stop "$DIR" >/dev/null 2>&1 || true
  rm -rf -- "$DIR"
}
trap cleanup EXIT

# ---- start, accounts --------------------------------------------------------------
t0=$(date +%s.%N)
env_lines=$(scripts/prosody-start "$DIR") || fail "scripts/prosody-start failed"
eval "$env_lines"
[[ "${PORT:-}" =~ ^[0-9]+$ && -s "${CAFILE:-}" ]] || fail "prosody-start printed no PORT/CAFILE: $env_lines"
t1=$(date +%s.%N)
ok "prosody listening on 127.0.0.1:$PORT ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s)"

scripts/prosody-adduser "$DIR" alice alice-secret || fail "could not add alice"
scripts/prosody-adduser "$DIR" bob 'b0b pass,=word' || fail "could not add bob"
ok "accounts alice@localhost and bob@localhost added"

# ---- stream features before TLS ---------------------------------------------------
STREAM_HEADER="<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

exec {conn}<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot connect to 127.0.0.1:$PORT"
printf '%s' "$STREAM_HEADER" >&"$conn"
reply=
while [[ "$reply" != *"</stream:features>"* ]]; do
  IFS= read -r -t 5 -d '>' -u "$conn" piece || fail "no stream features before TLS; got: $reply"
  reply+="$piece>"
done
{ printf '</stream:stream>' >&"$conn"; } 2>/dev/null || true
exec {conn}>&-
features=${reply#*<stream:features}
features="<stream:features${features%%</stream:features>*}</stream:features>"
show "features before TLS: $features"
[[ "$features" =~ \<starttls\ xmlns=[\'\"]urn:ietf:params:xml:ns:xmpp-tls[\'\"]\>\<required/\>\</starttls\> ]] ||
  fail "no <starttls> with <required/> before TLS: $features"
[[ "$features" != *"<mechanisms"* ]] || fail "SASL mechanisms offered before TLS: $features"
ok "before TLS: <starttls><required/></starttls>, no SASL mechanisms"

# ---- STARTTLS and certificate verification with openssl s_client -----------------
s_client() {
  timeout 15 openssl s_client -starttls xmpp -xmpphost localhost \
    -connect "127.0.0.1:$PORT" -CAfile "$CAFILE" -verify_return_error -brief "$@" </dev/null 2>&1
}
if ! out=$(s_client -verify_hostname localhost); then
  fail "openssl s_client could not negotiate STARTTLS with a verified certificate: $out"
fi
show "openssl s_client:" "${out//$'\n'/$'\n'    }"
grep -q '^Verification: OK' <<<"$out" || fail "certificate not verified: $out"
grep -q '^Verified peername: localhost' <<<"$out" || fail "peer name not verified: $out"
ok "STARTTLS works; certificate verifies for localhost ($(sed -n 's/^Protocol version: //p' <<<"$out"))"

if out=$(s_client -verify_hostname not-localhost.example); then
  fail "certificate accepted for the wrong name: $out"
fi
ok "certificate refused for another name"

# ---- SASL and features after TLS --------------------------------------------------
"$PYTHON" - "$PORT" "$CAFILE" "$VERBOSE" <<'EOF' || fail "SASL checks failed"
import base64, hashlib, hmac, os, re, socket, ssl, sys

port, cafile, verbose = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
HEADER = ("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
          "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


class Fail(Exception):
    pass


class Conn:
    def __init__(self):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, text):
        self.sock.sendall(text.encode())

    def until(self, pattern):
        """Reads until PATTERN (a regex over the buffer) matches; returns and
        consumes the text up to the end of the match."""
        rx = re.compile(pattern.encode(), re.S)
        while True:
            m = rx.search(self.buf)
            if m:
                text, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return text.decode()
            data = self.sock.recv(65536)
            if not data:
                raise Fail("connection closed; pending: %r" % self.buf)
            self.buf += data

    def element(self, *names):
        alt = "|".join(names)
        return self.until(r"<(?:%s)\b[^>]*?(?:/>|>.*?</(?:%s)>)" % (alt, alt))

    def features(self):
        text = self.until(r"</stream:features>")
        return text[text.index("<stream:features"):]

    def starttls(self):
        self.send(HEADER)
        before = self.features()
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        reply = self.element("proceed", "failure")
        if not reply.startswith("<proceed"):
            raise Fail("STARTTLS refused: " + reply)
        ctx = ssl.create_default_context(cafile=cafile)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.send(HEADER)
        return before, self.features()

    def close(self):
        try:
            self.send("</stream:stream>")
            self.sock.close()
        except OSError:
            pass


def b64(data):
    return base64.b64encode(data).decode()


def mechanisms(features):
    return re.findall(r"<mechanism>([^<]+)</mechanism>", features)


def auth_plain(c, user, password):
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>"
           % (SASL, b64(b"\0" + user.encode() + b"\0" + password.encode())))
    return c.element("success", "failure")


def auth_scram_sha1(c, user, password):
    cnonce = b64(os.urandom(18))
    first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
    c.send("<auth xmlns='%s' mechanism='SCRAM-SHA-1'>%s</auth>"
           % (SASL, b64(("n,," + first_bare).encode())))
    reply = c.element("challenge", "failure")
    if not reply.startswith("<challenge"):
        return reply
    server_first = base64.b64decode(re.search(r">([^<]*)</challenge>", reply).group(1)).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    if not attrs["r"].startswith(cnonce):
        raise Fail("server nonce does not extend the client nonce: " + server_first)
    salted = hashlib.pbkdf2_hmac("sha1", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha1).digest()
    stored_key = hashlib.sha1(client_key).digest()
    final_bare = "c=biws,r=" + attrs["r"]
    auth_message = ",".join([first_bare, server_first, final_bare]).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha1).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    c.send("<response xmlns='%s'>%s</response>" % (SASL, b64((final_bare + ",p=" + b64(proof)).encode())))
    reply = c.element("success", "failure")
    if reply.startswith("<success"):
        server_key = hmac.new(salted, b"Server Key", hashlib.sha1).digest()
        expected = "v=" + b64(hmac.new(server_key, auth_message, hashlib.sha1).digest())
        data = re.search(r">([^<]*)</success>", reply)
        got = base64.b64decode(data.group(1)).decode() if data else ""
        if got != expected:
            raise Fail("wrong SCRAM server signature: %r" % got)
    return reply


def show(label, text):
    if verbose:
        print("    %s: %s" % (label, text))


def login(user, password, mech, auth):
    c = Conn()
    before, after = c.starttls()
    show("features before TLS", before)
    show("features after TLS (%s)" % c.sock.version(), after)
    offered = mechanisms(after)
    for m in ("SCRAM-SHA-1", "PLAIN"):
        if m not in offered:
            raise Fail("%s not offered after TLS: %s" % (m, after))
    reply = auth(c, user, password)
    if not reply.startswith("<success"):
        raise Fail("%s login of %s refused: %s" % (mech, user, reply))
    c.send(HEADER)
    authed = c.features()
    show("features after SASL", authed)
    for what, rx in (("resource binding", r"<bind xmlns=['\"]urn:ietf:params:xml:ns:xmpp-bind['\"]"),
                     ("roster versioning", r"<ver xmlns=['\"]urn:xmpp:features:rosterver['\"]")):
        if not re.search(rx, authed):
            raise Fail("%s not offered after SASL: %s" % (what, authed))
    c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>smoke</resource></bind></iq>")
    bound = c.element("iq")
    jid = re.search(r"<jid>([^<]+)</jid>", bound)
    if "type='result'" not in bound or not jid or jid.group(1) != user + "@localhost/smoke":
        raise Fail("resource binding failed: " + bound)
    c.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster' ver=''/></iq>")
    roster = c.element("iq")
    if "type='result'" not in roster or not re.search(r"<query[^>]*\bver=", roster):
        raise Fail("roster get with ver='' returned no versioned roster: " + roster)
    show("roster result", roster)
    version = c.sock.version()
    c.close()
    print("prosody_smoke: ok: %s logged in with %s over %s as %s; bind and versioned roster work"
          % (user, mech, version, jid.group(1)))
    return offered


def refused(user, password):
    c = Conn()
    c.starttls()
    reply = auth_plain(c, user, password)
    c.close()
    if "<not-authorized" not in reply:
        raise Fail("wrong password not refused with <not-authorized/>: " + reply)
    print("prosody_smoke: ok: wrong password refused with <not-authorized/>")


try:
    offered = login("alice", "alice-secret", "PLAIN", auth_plain)
    print("prosody_smoke: ok: mechanisms after TLS: " + " ".join(offered))
    login("bob", "b0b pass,=word", "SCRAM-SHA-1", auth_scram_sha1)
    refused("alice", "wrong")
except (Fail, OSError, ssl.SSLError) as e:
    print("prosody_smoke: FAIL: %s" % e, file=sys.stderr)
    sys.exit(1)
EOF

# ---- stop --------------------------------------------------------------------------
pid=$(<"$DIR/pid")
scripts/prosody-stop "$DIR" || fail "scripts/prosody-stop failed"
# A process already gone may linger as a zombie until its parent reaps it.
state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
[[ "$state" == gone || "$state" == Z ]] || fail "prosody (PID $pid) still running after prosody-stop"
[[ ! -e "$DIR/pid" ]] || fail "prosody-stop left $DIR/pid behind"
ok "prosody stopped"
