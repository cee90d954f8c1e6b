#!/usr/bin/python3
"""A slixmpp client for the third-party client tests (tests/interop/thirdparty.sh).

Connects to HOST:PORT, negotiates STARTTLS (the server certificate verified
against --cafile, for the domain of the JID; TLS 1.2 at most with --tls-max
1.2), authenticates with exactly the mechanism --mech and runs one action:

  login                       log in, bind, print the session, log out
  roster --contact JID --name NAME --group G [--group G ...]
                              set one roster item, get the roster back, check
                              the item, print the roster; with a version, get
                              the roster again with it and say whether the
                              server answered "unchanged"
  receive [--wait S]          log in, send available presence, wait for one
                              message with a body, print it
  send --to JID --body TEXT [--type T]
                              send one message

SCRAM and channel binding: slixmpp binds -PLUS mechanisms with tls-unique
(whatever the TLS version) and, over TLS, answers plain SCRAM with the GS2
flag "y" ("I could bind, you offered no -PLUS"), which a server that offers
-PLUS refuses as a downgrade; --channel-binding none withholds the binding
data, so that plain SCRAM says "n".  The login line reports the mechanism and
the GS2 flag as sent on the wire.

Everything printed on stdout is one JSON object a line, keys sorted, so that
tests can compare whole lines.  On stderr, "slixmpp_client: ready" says that
receive is available for messages; failures give one "slixmpp_client: ..."
line with the reason.

Exit status: 0 success, 1 failure, 2 usage, 77 slixmpp is not installed.
The password is the first line of --password-file, or else the environment
variable XMPP_PASSWORD.  Every step is bounded by --timeout; a watchdog ends
the process if the whole run takes longer than it could.
"""

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import ssl
import sys

PROG = "slixmpp_client"

try:
    import slixmpp
    from slixmpp.exceptions import IqError, IqTimeout
except ImportError:
    print(f"{PROG}: slixmpp is not installed (Debian package python3-slixmpp): skipped",
          file=sys.stderr)
    sys.exit(77)

MECHANISMS = ("SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "PLAIN")


class Failure(Exception):
    """A reason to exit 1, said on stderr."""


def emit(obj):
    print(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")), flush=True)


def note(text):
    print(f"{PROG}: {text}", file=sys.stderr, flush=True)


class Client(slixmpp.ClientXMPP):
    """ClientXMPP that connects to a given address yet verifies the
    certificate for the JID's domain, and that records what it negotiated."""

    def __init__(self, jid, password, mech, cafile, tls_max=None, channel_binding="auto"):
        super().__init__(jid, password, sasl_mech=mech)
        sasl = self["feature_mechanisms"]
        if channel_binding == "none":
            # Without the channel-binding data slixmpp's SCRAM says "n" (no
            # support) in its GS2 header; with it, plain SCRAM says "y"
            # (supported, but the server offered no -PLUS), which a server
            # that does offer -PLUS must refuse as a downgrade.
            credentials = sasl._default_credentials

            def without_binding(required, optional):
                values = credentials(required, optional)
                values.pop("channel_binding", None)
                return values
            sasl.sasl_callback = without_binding
        if tls_max == "1.2":
            self.ssl_context.maximum_version = ssl.TLSVersion.TLSv1_2
        # The mechanism is the only one allowed; slixmpp would otherwise pick
        # the strongest offered.  PLAIN is allowed once the stream is
        # encrypted (encrypted_plain, the default).
        sasl.use_mechs = {mech}
        self.ca_certs = cafile
        self.whitespace_keepalive = False
        self.tls_name = self.boundjid.domain
        self.sent_mechanisms = []
        self.gs2_flag = None
        self.tls_done = False
        self.outcome = asyncio.get_running_loop().create_future()
        self.add_filter("out", self._record_auth)
        self.add_event_handler("ssl_cert", self._on_cert)
        self.add_event_handler("session_start", self._on_session)
        self.add_event_handler("failed_auth", self._on_failed_auth)
        self.add_event_handler("failed_all_auth", self._on_failed_all_auth)
        self.add_event_handler("ssl_invalid_chain", self._on_bad_chain)
        self.add_event_handler("connection_failed", self._on_connection_failed)
        self.add_event_handler("stream_error", self._on_stream_error)
        self.add_event_handler("disconnected", self._on_disconnected)
        self.failed_condition = None

    async def start_tls(self):
        # Given an IP address to connect to, slixmpp leaves the name to verify
        # empty; setting it before connect() would make slixmpp resolve that
        # name instead of using the address, so it is set just before the
        # handshake.
        self.default_domain = self.tls_name
        return await super().start_tls()

    def _finish(self, error=None):
        if self.outcome.done():
            return
        if error is None:
            self.outcome.set_result(True)
        else:
            self.outcome.set_exception(Failure(error))

    def _record_auth(self, stanza):
        # the tag as serialized (the stanza object's namespace attribute
        # says jabber:client for the SASL elements too)
        if stanza.xml.tag == "{urn:ietf:params:xml:ns:xmpp-sasl}auth":
            mech = stanza.xml.get("mechanism")
            self.sent_mechanisms.append(mech)
            if mech.startswith("SCRAM-"):
                first = base64.b64decode(stanza.xml.text or "")
                self.gs2_flag = first.split(b",", 1)[0].decode("utf-8", "replace")
        return stanza

    def _on_cert(self, _pem):
        self.tls_done = True

    def _on_session(self, _event):
        self._finish()

    def _on_failed_auth(self, stanza):
        self.failed_condition = stanza["condition"] or "failure"

    def _on_failed_all_auth(self, _event):
        offered = sorted(self["feature_mechanisms"].mech_list)
        if self.failed_condition:
            self._finish(f"authentication failed: the server answered <{self.failed_condition}/>"
                         f" (mechanisms tried: {', '.join(self.sent_mechanisms) or 'none'})")
        else:
            self._finish(f"no usable mechanism: wanted {', '.join(sorted(self['feature_mechanisms'].use_mechs))},"
                         f" the server offered {', '.join(offered) or 'none'}")

    def _on_bad_chain(self, err):
        self._finish(f"TLS handshake failed (certificate not verified against the CA file?): {err}")
        self.abort()

    def _on_connection_failed(self, err):
        self._finish(f"cannot connect: {err}")
        self.cancel_connection_attempt()

    def _on_stream_error(self, stanza):
        self._finish(f"stream error from the server: {stanza['condition']} {stanza['text']}".rstrip())

    def _on_disconnected(self, reason):
        self._finish(f"the connection closed before the session started ({reason or 'no reason given'})")


def read_password(args):
    if args.password_file:
        try:
            with open(args.password_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise Failure(f"cannot read the password file: {e}") from e
    password = os.environ.get("XMPP_PASSWORD")
    if password is None:
        raise Failure("no password: give --password-file or set XMPP_PASSWORD")
    return password


async def bounded(what, awaitable, seconds):
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError as e:
        raise Failure(f"timed out after {seconds:g} s {what}") from e


async def iq_call(what, iq, seconds):
    try:
        return await iq.send(timeout=seconds)
    except IqTimeout as e:
        raise Failure(f"no answer within {seconds:g} s to {what}") from e
    except IqError as e:
        raise Failure(f"{what} answered with error {e.iq['error']['condition']}") from e


async def login(args, password):
    if not os.path.isfile(args.cafile):
        raise Failure(f"the CA file {args.cafile} does not exist")
    client = Client(args.jid, password, args.mech, args.cafile, args.tls_max, args.channel_binding)
    client.connect((args.host, args.port), force_starttls=True, disable_starttls=False)
    try:
        await bounded("waiting for the session to start", client.outcome, args.timeout)
    except Failure:
        client.abort()
        raise
    sslobj = client.transport.get_extra_info("ssl_object") if client.transport else None
    if not client.tls_done or sslobj is None:
        client.abort()
        raise Failure("the session started without TLS")
    if client.sent_mechanisms != [args.mech]:
        client.abort()
        raise Failure(f"authenticated with {client.sent_mechanisms}, not with exactly {args.mech}")
    client.session_info = {"jid": str(client.boundjid), "mechanism": client.sent_mechanisms[0],
                           "tls": sslobj.version()}
    if client.gs2_flag is not None:
        client.session_info["gs2"] = client.gs2_flag
    return client


async def logout(client):
    try:
        await asyncio.wait_for(client.disconnect(wait=2.0), 5)
    except Exception:  # closing is best effort
        client.abort()


async def barrier(client, args):
    """A roster get: its result means the server has handled every stanza
    sent before it on this stream."""
    iq = client.make_iq_get(queryxmlns="jabber:iq:roster")
    await iq_call("the roster get", iq, args.timeout)


async def act_login(client, args):
    emit({"action": "login", **client.session_info})


def roster_items(result):
    out = []
    for jid, item in result["roster"]["items"].items():
        entry = {"jid": str(jid), "groups": sorted(item["groups"]),
                 "subscription": item["subscription"] or "none"}
        if item["name"]:
            entry["name"] = item["name"]
        if item["ask"]:
            entry["ask"] = item["ask"]
        out.append(entry)
    return sorted(out, key=lambda e: e["jid"])


async def act_roster(client, args):
    if not args.contact or not args.group:
        raise Failure("roster needs --contact and at least one --group")
    contact = slixmpp.JID(args.contact).bare
    values = {"groups": args.group}
    if args.name is not None:
        values["name"] = args.name
    iq = client.make_iq_set()
    iq["roster"]["items"] = {contact: values}
    await iq_call("the roster set", iq, args.timeout)

    iq = client.make_iq_get(queryxmlns="jabber:iq:roster")
    if "rosterver" in client.features:
        iq["roster"]["ver"] = ""
    result = await iq_call("the roster get", iq, args.timeout)
    items = roster_items(result)
    for entry in items:
        emit({"item": entry})
    mine = [e for e in items if e["jid"] == contact]
    if not mine:
        raise Failure(f"{contact} is not in the roster the server returned")
    if mine[0]["groups"] != sorted(args.group):
        raise Failure(f"{contact} has the groups {mine[0]['groups']}, not {sorted(args.group)}")
    if mine[0].get("name") != args.name:
        raise Failure(f"{contact} has the name {mine[0].get('name')!r}, not {args.name!r}")

    ver = result["roster"]["ver"]
    summary = {"count": len(items)}
    if ver is not None:
        summary["ver"] = ver
        again = client.make_iq_get(queryxmlns="jabber:iq:roster")
        again["roster"]["ver"] = ver
        reply = await iq_call("the roster get with the version", again, args.timeout)
        query = reply.xml.find("{jabber:iq:roster}query")
        summary["unchanged"] = query is None or len(query) == 0
    emit({"roster": summary})


async def act_receive(client, args):
    got = asyncio.get_running_loop().create_future()

    def on_message(msg):
        if msg["body"] and not got.done():
            got.set_result(msg)

    client.add_event_handler("message", on_message)
    client.send_presence()
    await barrier(client, args)
    note("ready")
    msg = await bounded("waiting for a message", got, args.wait)
    emit({"body": msg["body"], "from": str(msg["from"]), "to": str(msg["to"]), "type": msg["type"]})


async def act_send(client, args):
    if not args.to or args.body is None:
        raise Failure("send needs --to and --body")
    client.send_message(mto=args.to, mbody=args.body, mtype=args.type)
    # the server has taken the message once it answers an iq sent after it
    await barrier(client, args)
    emit({"sent": {"body": args.body, "to": args.to, "type": args.type}})


ACTIONS = {"login": act_login, "roster": act_roster, "receive": act_receive, "send": act_send}


async def main_async(args):
    password = read_password(args)
    client = await login(args, password)
    try:
        await ACTIONS[args.action](client, args)
    finally:
        await logout(client)


def parse_args(argv):
    p = argparse.ArgumentParser(prog=PROG, description="slixmpp client for the third-party client tests")
    p.add_argument("action", choices=sorted(ACTIONS))
    p.add_argument("--jid", required=True, help="bare JID (a resource is bound by the server)")
    p.add_argument("--password-file", help="file whose first line is the password (else XMPP_PASSWORD)")
    p.add_argument("--host", required=True, help="address to connect to")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile", required=True, help="CA certificate(s) to verify the server with")
    p.add_argument("--mech", choices=MECHANISMS, default="SCRAM-SHA-1",
                   help="the one SASL mechanism to use (default SCRAM-SHA-1)")
    p.add_argument("--channel-binding", choices=("auto", "none"), default="auto",
                   help="SCRAM: auto (slixmpp's own: tls-unique data; GS2 flag y for plain SCRAM)"
                        " or none (GS2 flag n; no -PLUS)")
    p.add_argument("--tls-max", choices=("1.2", "1.3"), default="1.3",
                   help="highest TLS version to offer (default 1.3)")
    p.add_argument("--timeout", type=float, default=15, help="seconds for each step (default 15)")
    p.add_argument("--wait", type=float, default=15, help="receive: seconds to wait for the message")
    p.add_argument("--contact", help="roster: the JID of the item to set")
    p.add_argument("--name", help="roster: the item's name")
    p.add_argument("--group", action="append", help="roster: a group of the item (repeatable)")
    p.add_argument("--to", help="send: the recipient")
    p.add_argument("--body", help="send: the text")
    p.add_argument("--type", default="chat", choices=("chat", "normal", "headline"), help="send: message type")
    p.add_argument("--debug", action="store_true",
                   help="log the XML stream on stderr (PLAIN credentials included)")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.mech.endswith("-PLUS") and args.channel_binding == "none":
        print(f"{PROG}: {args.mech} needs channel binding: not with --channel-binding none", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.CRITICAL,
                        format=f"{PROG}: %(levelname)s %(message)s")

    # the watchdog: login, at most four iq round trips, the wait and the logout
    def watchdog(_sig, _frame):
        note("watchdog: the run took too long; giving up")
        os._exit(1)

    signal.signal(signal.SIGALRM, watchdog)
    signal.alarm(int(args.timeout * 6 + args.wait + 10))
    try:
        asyncio.run(main_async(args))
    except Failure as e:
        note(str(e))
        return 1
    except (OSError, ssl.SSLError, ValueError) as e:
        note(f"{type(e).__name__}: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
