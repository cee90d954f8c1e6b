#!/usr/bin/env bash
# Smoke test of a private server used by the interop tests (prosody_smoke.sh
# and ejabberd_smoke.sh run it):
#   server_smoke.sh SERVER [-v]      SERVER: prosody or ejabberd
#   - scripts/SERVER-start brings a server up in a temporary directory;
#   - scripts/SERVER-adduser creates two accounts, printing nothing;
#   - before TLS the stream features offer <starttls> with <required/> and no
#     SASL mechanisms;
#   - `openssl s_client -starttls xmpp` negotiates TLS and verifies the
#     certificate against CAFILE for the name "localhost" (and refuses another
#     name);
#   - after TLS, SCRAM-SHA-1 and PLAIN are offered (with ejabberd exactly
#     PLAIN, SCRAM-SHA-1 and SCRAM-SHA-1-PLUS); both accounts log in (one with
#     PLAIN, one with SCRAM-SHA-1, checking the server signature; with ejabberd
#     also with SCRAM-SHA-1-PLUS over tls-unique), a wrong password is
#     refused, and after login the features include resource binding and
#     roster versioning (with ejabberd also stream management, whose
#     resumption is tried after the connection drops);
#   - the component echo.localhost completes the XEP-0114 handshake with the
#     secret of COMPONENT_SECRET_FILE on COMPONENT_PORT, and a wrong secret is
#     refused;
#   - scripts/SERVER-stop stops the server.
# With -v the stream features seen at each step are printed.
#
# Exit status: 0 on success, 1 on failure, 2 on bad arguments, 77 when the
# server (or openssl, or /usr/bin/python3) is not installed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

usage() {
  echo "usage: tests/interop/server_smoke.sh prosody|ejabberd [-v]" >&2
  exit 2
}
(($# >= 1 && $# <= 2)) || usage
case $1 in prosody | ejabberd) ;; *) usage ;; esac
[[ $# -eq 1 || "$2" == -v ]] || usage
SERVER=$1
PROG=${SERVER}_smoke
PYTHON=/usr/bin/python3
VERBOSE=0
[[ "${2:-}" == -v ]] && VERBOSE=1

skip() {
  printf '%s: SKIP: %s\n' "$PROG" "$*"
  exit 77
}
fail() {
  printf '%s: FAIL: %s\n' "$PROG" "$*" >&2
  if [[ -n "${DIR:-}" && -s "$DIR/$SERVER_LOG" ]]; then
    printf '%s: last lines of the %s log:\n' "$PROG" "$SERVER" >&2
    tail -n 20 -- "$DIR/$SERVER_LOG" | sed 's/^/    /' >&2
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

# shellcheck source-path=SCRIPTDIR source=server-lib.sh
. tests/interop/server-lib.sh
# server_use exits 77 with the reason when the server is not installed.
why=$(server_use "$SERVER" . 2>&1) || skip "$why"
server_use "$SERVER" .
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
[[ -x "$PYTHON" ]] || skip "$PYTHON is not installed"

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pxmpp-$SERVER.XXXXXX")
cleanup() {
  "$SERVER_STOP" "$DIR" >/dev/null 2>&1 || true
  rm -rf -- "$DIR"
}
trap cleanup EXIT

# ---- start, accounts --------------------------------------------------------------
t0=$(date +%s.%N)
env_lines=$("$SERVER_START" "$DIR") || fail "$SERVER_START failed"
eval "$env_lines"
[[ "${PORT:-}" =~ ^[0-9]+$ && -s "${CAFILE:-}" ]] || fail "$SERVER-start printed no PORT/CAFILE: $env_lines"
[[ "${COMPONENT_PORT:-}" =~ ^[0-9]+$ && -s "${COMPONENT_SECRET_FILE:-}" ]] ||
  fail "$SERVER-start printed no COMPONENT_PORT/COMPONENT_SECRET_FILE: $env_lines"
t1=$(date +%s.%N)
ok "$SERVER listening on 127.0.0.1:$PORT, components on $COMPONENT_PORT ($(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}')s)"

out=$("$SERVER_ADDUSER" "$DIR" alice alice-secret 2>&1) || fail "could not add alice: $out"
[[ -z "$out" ]] || fail "$SERVER-adduser printed something: $out"
out=$("$SERVER_ADDUSER" "$DIR" bob 'b0b pass,=word' 2>&1) || fail "could not add bob: $out"
[[ -z "$out" ]] || fail "$SERVER-adduser printed something: $out"
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
"$PYTHON" - "$PORT" "$CAFILE" "$VERBOSE" "$SERVER" "$COMPONENT_PORT" "$COMPONENT_SECRET_FILE" <<'EOF' || fail "SASL checks failed"
import base64, hashlib, hmac, os, re, socket, ssl, sys

port, cafile, verbose, server = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", sys.argv[4]
component_port, secret_file = int(sys.argv[5]), sys.argv[6]
prog = server + "_smoke"
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


def auth_scram_sha1(c, user, password, plus=False):
    """SCRAM-SHA-1, or with PLUS SCRAM-SHA-1-PLUS bound to the TLS channel with
    tls-unique (the first Finished message of the handshake, RFC 5929)."""
    if plus:
        gs2, mech = b"p=tls-unique,,", "SCRAM-SHA-1-PLUS"
        cbind = gs2 + c.sock.get_channel_binding("tls-unique")
    else:
        gs2, mech = b"n,,", "SCRAM-SHA-1"
        cbind = gs2
    cnonce = b64(os.urandom(18))
    first_bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), cnonce)
    c.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (SASL, mech, b64(gs2 + first_bare.encode())))
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
    final_bare = "c=%s,r=%s" % (b64(cbind), attrs["r"])
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


def auth_scram_sha1_plus(c, user, password):
    return auth_scram_sha1(c, user, password, plus=True)


def show(label, text):
    if verbose:
        print("    %s: %s" % (label, text))


def ok(text):
    print("%s: ok: %s" % (prog, text))


def check_mechanisms(features):
    offered = mechanisms(features)
    if server == "ejabberd":
        # configured like Debian's package: SCRAM hashes stored, DIGEST-MD5 and X-OAUTH2 off
        if sorted(offered) != ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"]:
            raise Fail("not exactly PLAIN, SCRAM-SHA-1 and SCRAM-SHA-1-PLUS after TLS: " + features)
    else:
        for m in ("SCRAM-SHA-1", "PLAIN"):
            if m not in offered:
                raise Fail("%s not offered after TLS: %s" % (m, features))
    return offered


def authenticate(user, password, mech, auth):
    """A new connection, TLS, SASL with AUTH and the stream restart; returns it
    with the features after TLS and after SASL."""
    c = Conn()
    before, after = c.starttls()
    show("features before TLS", before)
    show("features after TLS (%s)" % c.sock.version(), after)
    check_mechanisms(after)
    reply = auth(c, user, password)
    if not reply.startswith("<success"):
        raise Fail("%s login of %s refused: %s" % (mech, user, reply))
    c.send(HEADER)
    authed = c.features()
    show("features after SASL", authed)
    return c, after, authed


def login(user, password, mech, auth):
    """Logs in, binds, fetches the versioned roster.  With ejabberd also enables
    stream management with resumption, drops the connection without closing the
    stream and resumes the session on a new one."""
    c, after, authed = authenticate(user, password, mech, auth)
    wanted = [("resource binding", r"<bind xmlns=['\"]urn:ietf:params:xml:ns:xmpp-bind['\"]"),
              ("roster versioning", r"<ver xmlns=['\"]urn:xmpp:features:rosterver['\"]")]
    # scripts/ejabberd-start loads mod_stream_mgmt; scripts/prosody-start does not load smacks
    if server == "ejabberd":
        wanted.append(("stream management", r"<sm xmlns=['\"]urn:xmpp:sm:3['\"]"))
    for what, rx in wanted:
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
    if server != "ejabberd":
        c.close()
        ok("%s logged in with %s over %s as %s; bind and versioned roster work"
           % (user, mech, version, jid.group(1)))
        return
    c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
    enabled = c.element("enabled", "failed")
    previd = re.search(r"\bid=['\"]([^'\"]+)", enabled)
    if not enabled.startswith("<enabled") or not re.search(r"resume=['\"](?:true|1)['\"]", enabled) or not previd:
        raise Fail("stream management not enabled with resumption: " + enabled)
    show("sm", enabled)
    c.sock.close()
    c, _, _ = authenticate(user, password, mech, auth)
    c.send("<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>" % previd.group(1))
    resumed = c.element("resumed", "failed")
    if not resumed.startswith("<resumed"):
        raise Fail("session not resumed: " + resumed)
    show("sm", resumed)
    c.close()
    ok("%s logged in with %s over %s as %s; bind, versioned roster and stream resumption work"
       % (user, mech, version, jid.group(1)))


def refused(user, password):
    c = Conn()
    c.starttls()
    reply = auth_plain(c, user, password)
    c.close()
    if "<not-authorized" not in reply:
        raise Fail("wrong password not refused with <not-authorized/>: " + reply)
    ok("wrong password refused with <not-authorized/>")


def component(secret):
    """The XEP-0114 handshake of echo.localhost; returns the server's answer."""
    s = socket.create_connection(("127.0.0.1", component_port), timeout=10)
    s.sendall(b"<stream:stream xmlns='jabber:component:accept' "
              b"xmlns:stream='http://etherx.jabber.org/streams' to='echo.localhost'>")
    c = Conn.__new__(Conn)
    c.sock, c.buf = s, b""
    header = c.until(r"<stream:stream\b[^>]*>")
    sid = re.search(r"\bid=['\"]([^'\"]+)", header)
    if not sid:
        raise Fail("component stream header without id: " + header)
    c.send("<handshake>%s</handshake>" % hashlib.sha1((sid.group(1) + secret).encode()).hexdigest())
    try:
        return c.element("handshake", "stream:error")
    finally:
        s.close()


try:
    c = Conn()
    _, after = c.starttls()
    c.close()
    check_mechanisms(after)
    cb = re.search(r"<sasl-channel-binding\b.*?</sasl-channel-binding>", after, re.S)
    ok("mechanisms after TLS: %s; channel-binding types announced (XEP-0440): %s"
       % (" ".join(mechanisms(after)), " ".join(re.findall(r"type=['\"]([^'\"]+)", cb.group(0))) if cb else "none"))
    login("alice", "alice-secret", "PLAIN", auth_plain)
    login("bob", "b0b pass,=word", "SCRAM-SHA-1", auth_scram_sha1)
    if server == "ejabberd":
        login("bob", "b0b pass,=word", "SCRAM-SHA-1-PLUS (tls-unique)", auth_scram_sha1_plus)
    refused("alice", "wrong")
    with open(secret_file) as f:
        secret = f.readline().strip()
    reply = component(secret)
    if not reply.startswith("<handshake"):
        raise Fail("component handshake with the secret refused: " + reply)
    reply = component(secret + "x")
    if "not-authorized" not in reply:
        raise Fail("component handshake with a wrong secret not refused: " + reply)
    ok("component echo.localhost connects with its secret, not with another")
except (Fail, OSError, ssl.SSLError) as e:
    print("%s: FAIL: %s" % (prog, e), file=sys.stderr)
    sys.exit(1)
EOF

# ---- stop --------------------------------------------------------------------------
pid=$(<"$DIR/pid")
"$SERVER_STOP" "$DIR" || fail "$SERVER_STOP failed"
# A process already gone may linger as a zombie until its parent reaps it.
state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
[[ "$state" == gone || "$state" == Z ]] || fail "$SERVER (PID $pid) still running after $SERVER-stop"
[[ ! -e "$DIR/pid" ]] || fail "$SERVER-stop left $DIR/pid behind"
ok "$SERVER stopped"
