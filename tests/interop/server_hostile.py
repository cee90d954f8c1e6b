#!/usr/bin/env python3
"""Sends every hostile input of tests/support (through hostile-dump) to a server's client
port, each on its own connection: before authentication (the raw input, with a header
naming the domain where the input has the standard one) and, for the inputs with the
standard header, after STARTTLS, PLAIN and resource binding (the hostile part inside an
authenticated stream).  Each connection must end (or sit idle, for an input that stops in
the middle of an element) within the deadline, and the server process must live through
all of them.

Usage: server_hostile.py --dump HOSTILE-DUMP --port P --cafile CA --pid SERVER-PID
                         --user NAME --password-file FILE [--domain D] [--only NAME...]
Prints one line per connection: "<name> <phase> <outcome> <bytes back> <seconds>", where
outcome is the stream error condition the server sent, "closed" (no stream error) or
"open" (the server waited for more input: an unfinished element).  Exit 0 when every
connection behaved and the server lives, 1 otherwise."""
import argparse
import base64
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

DEADLINE = 20.0  # seconds for one connection, sending included
IDLE = 2.0       # after the input is sent: no byte for this long and not closed -> "open"


def header(domain):
    return ("<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" % domain).encode()


class Reader(threading.Thread):
    """Drains a socket so that the server never blocks on us; notes when it closes."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock, self.data, self.closed, self.last = sock, bytearray(), False, time.monotonic()
        self.lock = threading.Lock()

    def run(self):
        while True:
            try:
                chunk = self.sock.recv(65536)
            except (ssl.SSLWantReadError, socket.timeout):
                continue
            except (OSError, ssl.SSLError):
                chunk = b""
            with self.lock:
                self.last = time.monotonic()
                if not chunk:
                    self.closed = True
                    return
                self.data += chunk


def read_until(sock, pattern, buf, limit=10.0):
    end = time.monotonic() + limit
    while not re.search(pattern, bytes(buf)):
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for %r, got %r" % (pattern, bytes(buf[-300:])))
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed while waiting for %r, got %r" % (pattern, bytes(buf[-300:])))
        buf += chunk


def login(args, password):
    """STARTTLS, PLAIN, bind: a TLS socket inside a bound stream."""
    s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    buf = bytearray()
    s.sendall(header(args.domain))
    read_until(s, rb"</(stream:)?features>", buf)
    s.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    read_until(s, rb"<proceed", buf)
    ctx = ssl.create_default_context(cafile=args.cafile)
    t = ctx.wrap_socket(s, server_hostname=args.domain)
    for step, (send, want) in enumerate([
            (header(args.domain), rb"</(stream:)?features>"),
            (b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
             base64.b64encode(b"\0" + args.user.encode() + b"\0" + password) + b"</auth>", rb"<success"),
            (header(args.domain), rb"</(stream:)?features>"),
            (b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>", rb"</iq>")]):
        buf = bytearray()
        t.sendall(send)
        read_until(t, want, buf)
    return t


def outcome(data, closed):
    m = re.search(rb"<stream:error>\s*<([a-z-]+)", bytes(data))
    if m:
        return m.group(1).decode()
    return "closed" if closed else "open"


def run_one(args, name, phase, password):
    dump = [args.dump]
    body = subprocess.run(dump + ["--no-header", name], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    if phase == "post" and body.returncode == 3:
        return None  # no standard header: a matter of the header, tried before authentication
    if body.returncode == 3:
        payload = subprocess.run(dump + [name], stdout=subprocess.PIPE, check=True).stdout
    elif body.returncode == 0:
        payload = (header(args.domain) if phase == "pre" else b"") + body.stdout
    else:
        raise RuntimeError("hostile-dump %s failed (%d)" % (name, body.returncode))
    start = time.monotonic()
    sock = login(args, password) if phase == "post" else socket.create_connection(("127.0.0.1", args.port),
                                                                                  timeout=10)
    sock.settimeout(1.0)
    reader = Reader(sock)
    reader.start()
    view = memoryview(payload)
    try:
        while view and not reader.closed and time.monotonic() - start < DEADLINE:
            try:
                n = sock.send(view[:65536])
            except (ssl.SSLWantWriteError, socket.timeout):
                continue
            view = view[n:]
    except (OSError, ssl.SSLError):
        pass  # the server ended the connection while we were sending: fine
    while not reader.closed and time.monotonic() - start < DEADLINE:
        with reader.lock:
            idle = time.monotonic() - reader.last
        if idle > IDLE:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - start
    with reader.lock:
        data, closed = bytes(reader.data), reader.closed
    try:
        sock.close()
    except OSError:
        pass
    return outcome(data, closed), len(data), seconds


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    with open("/proc/%d/stat" % pid) as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args()
    with open(args.password_file, "rb") as f:
        password = f.readline().rstrip(b"\r\n")
    names = subprocess.run([args.dump, "--list"], stdout=subprocess.PIPE, check=True,
                           universal_newlines=True).stdout.split()
    if args.only:
        names = [n for n in names if n in args.only]
    bad = 0
    for name in names:
        for phase in ("pre", "post"):
            try:
                r = run_one(args, name, phase, password)
            except (RuntimeError, OSError, ssl.SSLError) as e:
                print("%s %s FAILED %s" % (name, phase, e))
                bad += 1
                continue
            if r is None:
                continue
            what, nback, seconds = r
            late = seconds >= DEADLINE
            print("%s %s %s %d %.2f%s" % (name, phase, what, nback, seconds, " LATE" if late else ""))
            bad += late
            if not alive(args.pid):
                print("the server died after %s (%s)" % (name, phase))
                return 1
            sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
