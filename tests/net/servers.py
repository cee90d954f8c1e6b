"""Local servers for tests/test_net_local.c: a DNS responder (dnsd.py) and a small XMPP
server for the domain example.test on 127.0.0.1, with self-signed certificates made by the
openssl command.

    servers.py WORKDIR

Prints one line of key=value pairs (dns, direct, starttls, closed ports; cafile) and serves
until its standard input closes.  Exits 77 when the openssl command is missing.

The XMPP server speaks just enough of RFC 6120 for a client session: STARTTLS (TLS 1.2 at
most, ECDSA P-384 certificate signed with SHA-384) on two ports, TLS from the first byte
(TLS 1.3, RSA certificate signed with SHA-256, ALPN xmpp-client) on another; SASL
SCRAM-SHA-1-PLUS, SCRAM-SHA-1 (RFC 5802, checking the channel-binding data against its own)
and PLAIN, with the password "secret"; resource binding.  The STARTTLS ports announce the
channel-binding types (XEP-0440) tls-unique and tls-server-end-point, or only
tls-server-end-point (port "starttls_ep").  After binding the server asks the client three
iqs (disco#info, software version, an unknown namespace), then sends a headline message from
example.test whose body describes the connection as the server sees it:

    listener=direct tls=TLSv1.3 sni=example.test alpn=xmpp-client mech=SCRAM-SHA-1 cb=none
    tls-unique=HEX tls-server-end-point=HEX disco=... version=... other=...

It echoes every message back from echo@example.test/e and answers pings, except for
accounts whose name starts with "silent" (no answer to pings); for "drop" it closes the
TCP connection without a close tag 200 ms after binding."""
import base64
import hashlib
import hmac
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsd  # noqa: E402

NS_STREAM = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
NS_CLIENT = "jabber:client"
DOMAIN = "example.test"


def make_cert(workdir, name, keyargs, digest):
    key = os.path.join(workdir, name + ".key")
    cert = os.path.join(workdir, name + ".crt")
    subprocess.run(["openssl", "req", "-x509", "-nodes", "-days", "2", "-" + digest, "-subj", "/CN=" + DOMAIN,
                    "-addext", "subjectAltName=DNS:" + DOMAIN, "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign",
                    "-keyout", key, "-out", cert] + keyargs,
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(cert, encoding="ascii") as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return cert, key, hashlib.new(digest, der).hexdigest()


class Scram:
    """The server side of SCRAM-SHA-1 (RFC 5802) for the password "secret"."""

    def __init__(self, session, plus):
        self.session = session
        self.plus = plus
        self.salt = os.urandom(12)
        self.iterations = 4096

    def first(self, message):
        gs2, _, bare = message.partition(",,")
        self.gs2 = gs2 + ",,"
        if self.plus != gs2.startswith("p="):
            raise ValueError("the GS2 flag does not match the mechanism")
        self.cb_type = gs2[2:] if self.plus else "none"
        attrs = dict(a.split("=", 1) for a in bare.split(","))
        self.user = attrs["n"]
        self.nonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        self.client_first_bare = bare
        self.server_first = "r=%s,s=%s,i=%d" % (self.nonce, base64.b64encode(self.salt).decode(), self.iterations)
        return self.server_first

    def final(self, message):
        """The server's final message, or None when the proof or the binding is wrong."""
        without_proof, _, proof = message.rpartition(",p=")
        attrs = dict(a.split("=", 1) for a in without_proof.split(","))
        cbdata = self.session.binding(self.cb_type) if self.plus else b""
        if attrs.get("r") != self.nonce or base64.b64decode(attrs.get("c", "")) != self.gs2.encode() + cbdata:
            return None
        salted = hashlib.pbkdf2_hmac("sha1", b"secret", self.salt, self.iterations)
        client_key = hmac.new(salted, b"Client Key", "sha1").digest()
        auth = ",".join((self.client_first_bare, self.server_first, without_proof)).encode()
        signature = hmac.new(hashlib.sha1(client_key).digest(), auth, "sha1").digest()
        if bytes(a ^ b for a, b in zip(client_key, signature)) != base64.b64decode(proof):
            return None
        server_key = hmac.new(salted, b"Server Key", "sha1").digest()
        return "v=" + base64.b64encode(hmac.new(server_key, auth, "sha1").digest()).decode()


class Listener:
    def __init__(self, kind, cert, key, end_point, announce=()):
        self.kind = kind
        self.end_point = end_point
        self.announce = announce
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        if kind == "direct":
            self.ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            self.ctx.set_alpn_protocols(["xmpp-client"])
        else:
            self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.sni = {}
        self.ctx.sni_callback = self.on_sni
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def on_sni(self, sslsock, name, ctx):
        self.sni[id(sslsock)] = name

    def accept(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=Session(self, conn).run, daemon=True).start()


class Session:
    def __init__(self, listener, sock):
        self.lst = listener
        self.sock = sock
        self.secure = False
        self.user = None
        self.jid = None
        self.closed = False
        self.lock = threading.Lock()
        self.pending = {}
        self.answers = {}
        self.sni = None
        self.scram = None
        self.mech = None

    def send(self, text):
        with self.lock:
            if not self.closed:
                try:
                    self.sock.sendall(text.encode("utf-8"))
                except OSError:
                    self.closed = True

    def tls(self):
        self.sock = self.lst.ctx.wrap_socket(self.sock, server_side=True)
        self.sni = self.lst.sni.pop(id(self.sock), None)
        self.secure = True

    def run(self):
        self.sock.settimeout(30)
        try:
            if self.lst.kind == "direct":
                self.tls()
            self.serve()
        except (OSError, ssl.SSLError, ET.ParseError, ValueError):
            pass
        finally:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass

    def new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0

    def serve(self):
        self.new_parser()
        while not self.closed:
            data = self.sock.recv(65536)
            if not data:
                return
            self.parser.feed(data)
            for event, elem in self.parser.read_events():
                if event == "start":
                    self.depth += 1
                    if self.depth == 1:
                        self.header()
                    continue
                self.depth -= 1
                if self.depth == 0:  # the client's </stream:stream>
                    self.send("</stream:stream>")
                    return
                if self.depth == 1:
                    restart = self.element(elem)
                    if restart:
                        self.new_parser()
                        break

    def header(self):
        self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' from='%s' id='s%d' version='1.0'>"
                  % (DOMAIN, id(self)))
        if not self.secure:
            feats = "<starttls xmlns='%s'><required/></starttls>" % NS_TLS
        elif not self.user:
            feats = ("<mechanisms xmlns='%s'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1"
                     "</mechanism><mechanism>PLAIN</mechanism></mechanisms>" % NS_SASL)
            if self.lst.announce:
                feats += "<sasl-channel-binding xmlns='%s'>%s</sasl-channel-binding>" % (
                    NS_SASL_CB, "".join("<channel-binding type='%s'/>" % t for t in self.lst.announce))
        else:
            feats = "<bind xmlns='%s'/>" % NS_BIND
        self.send("<stream:features>%s</stream:features>" % feats)

    def element(self, elem):
        """Handles one top-level element; True when the stream restarts."""
        if elem.tag == "{%s}starttls" % NS_TLS:
            self.send("<proceed xmlns='%s'/>" % NS_TLS)
            self.tls()
            return True
        if elem.tag == "{%s}auth" % NS_SASL:
            self.mech = elem.get("mechanism")
            data = base64.b64decode(elem.text or "")
            if self.mech in ("SCRAM-SHA-1", "SCRAM-SHA-1-PLUS"):
                self.scram = Scram(self, self.mech.endswith("-PLUS"))
                first = self.scram.first(data.decode("utf-8"))
                self.send("<challenge xmlns='%s'>%s</challenge>" % (NS_SASL, base64.b64encode(first.encode()).decode()))
                return False
            parts = data.split(b"\0")
            if self.mech == "PLAIN" and len(parts) == 3 and parts[2] == b"secret":
                return self.authenticated(parts[1].decode("utf-8"), "")
            self.send("<failure xmlns='%s'><not-authorized/></failure>" % NS_SASL)
            return False
        if elem.tag == "{%s}response" % NS_SASL and self.scram:
            final = self.scram.final(base64.b64decode(elem.text or "").decode("utf-8"))
            if final:
                return self.authenticated(self.scram.user, base64.b64encode(final.encode()).decode())
            self.send("<failure xmlns='%s'><not-authorized/></failure>" % NS_SASL)
            return False
        if elem.tag == "{%s}iq" % NS_CLIENT:
            self.iq(elem)
        elif elem.tag == "{%s}message" % NS_CLIENT:
            body = elem.find("{%s}body" % NS_CLIENT)
            if body is not None and self.jid:
                self.send("<message from='echo@%s/e' to=%s type='chat'><body>%s</body></message>"
                          % (DOMAIN, quoteattr(self.jid), escape(body.text or "")))
        return False

    def authenticated(self, user, data):
        self.user = user
        self.send("<success xmlns='%s'>%s</success>" % (NS_SASL, data))
        return True

    def binding(self, cb_type):
        """This server's channel-binding data of the connection for cb_type."""
        if cb_type == "tls-unique":
            return self.sock.get_channel_binding("tls-unique") or b""
        if cb_type == "tls-server-end-point":
            return bytes.fromhex(self.lst.end_point)
        return b""  # tls-exporter: not computable with the ssl module

    def iq(self, elem):
        typ, ident = elem.get("type"), elem.get("id")
        if typ in ("result", "error"):
            self.answer(ident, elem)
            return
        child = elem[0] if len(elem) else None
        tag = child.tag if child is not None else ""
        if tag == "{%s}bind" % NS_BIND and typ == "set":
            res = child.find("{%s}resource" % NS_BIND)
            self.jid = "%s@%s/%s" % (self.user, DOMAIN, res.text if res is not None else "r1")
            self.send("<iq type='result' id=%s><bind xmlns='%s'><jid>%s</jid></bind></iq>"
                      % (quoteattr(ident), NS_BIND, escape(self.jid)))
            self.after_bind()
        elif tag == "{urn:xmpp:ping}ping":
            if not self.user.startswith("silent"):
                self.send("<iq type='result' id=%s from='%s'/>" % (quoteattr(ident), DOMAIN))
        elif tag == "{jabber:iq:roster}query" and typ == "get":
            self.send("<iq type='result' id=%s><query xmlns='jabber:iq:roster'/></iq>" % quoteattr(ident))
        else:
            self.send("<iq type='error' id=%s from='%s'><error type='cancel'><service-unavailable "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" % (quoteattr(ident), DOMAIN))

    def after_bind(self):
        if self.user == "drop":
            threading.Timer(0.2, self.drop).start()
        queries = {
            "disco": "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            "version": "<query xmlns='jabber:iq:version'/>",
            "other": "<query xmlns='urn:example:nothing'/>",
        }
        for name, payload in queries.items():
            self.pending["q-" + name] = name
            self.send("<iq type='get' id='q-%s' from='%s' to=%s>%s</iq>" % (name, DOMAIN, quoteattr(self.jid), payload))

    def answer(self, ident, elem):
        name = self.pending.pop(ident, None)
        if not name:
            return
        if elem.get("type") == "error":
            cond = [c.tag.split("}")[1] for e in elem.findall("{%s}error" % NS_CLIENT) for c in e]
            self.answers[name] = "error:" + (cond[0] if cond else "?")
        elif name == "disco":
            ident_el = elem.find(".//{http://jabber.org/protocol/disco#info}identity")
            feats = [f.get("var") for f in elem.iter("{http://jabber.org/protocol/disco#info}feature")]
            self.answers[name] = "result:%s/%s:%s:%d" % (ident_el.get("category"), ident_el.get("type"),
                                                          ident_el.get("name"), len(feats))
        elif name == "version":
            q = elem.find("{jabber:iq:version}query")
            self.answers[name] = "result:%s/%s" % (q.findtext("{jabber:iq:version}name"),
                                                   q.findtext("{jabber:iq:version}version"))
        if not self.pending:
            self.describe()

    def describe(self):
        unique = self.sock.get_channel_binding("tls-unique")
        alpn = self.sock.selected_alpn_protocol() if self.lst.kind == "direct" else None
        body = ("listener=%s tls=%s sni=%s alpn=%s mech=%s cb=%s tls-unique=%s tls-server-end-point=%s disco=%s "
                "version=%s other=%s"
                % (self.lst.kind, self.sock.version(), self.sni, alpn, self.mech,
                   self.scram.cb_type if self.scram else "none", unique.hex() if unique else "none",
                   self.lst.end_point, self.answers.get("disco"), self.answers.get("version"),
                   self.answers.get("other")))
        self.send("<message from='%s' to=%s type='headline'><body>%s</body></message>"
                  % (DOMAIN, quoteattr(self.jid), escape(body)))

    def drop(self):
        with self.lock:
            self.closed = True
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main(argv):
    if len(argv) != 1 or not shutil.which("openssl"):
        return 77
    workdir = argv[0]
    os.makedirs(workdir, exist_ok=True)
    rsa = make_cert(workdir, "direct", ["-newkey", "rsa:2048"], "sha256")
    ec = make_cert(workdir, "starttls", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1"], "sha384")
    cafile = os.path.join(workdir, "ca.pem")
    with open(cafile, "w", encoding="ascii") as out:
        for cert in (rsa[0], ec[0]):
            with open(cert, encoding="ascii") as f:
                out.write(f.read())
    direct = Listener("direct", *rsa)
    starttls = Listener("starttls", *ec, announce=("tls-unique", "tls-server-end-point"))
    starttls_ep = Listener("starttls", *ec, announce=("tls-server-end-point",))
    closed = free_port()  # nobody listens there
    records = {
        "_xmpps-client._tcp." + DOMAIN: [("SRV", 0, 0, closed, "localhost"), ("SRV", 5, 0, direct.port, "localhost")],
        "_xmpp-client._tcp." + DOMAIN: [("SRV", 10, 0, starttls.port, "localhost")],
        "_xmpp-client._tcp.dot.test": [("SRV", 0, 0, 0, ".")],
    }
    dns = dnsd.start(records)
    print("dns=%d direct=%d starttls=%d starttls_ep=%d closed=%d cafile=%s"
          % (dns, direct.port, starttls.port, starttls_ep.port, closed, cafile), flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
