#!/usr/bin/python3
"""A TCP proxy for tests that cuts connections.

    cutproxy.py --listen-port-file FILE --target HOST:PORT
                [--cut-after-bytes N[,N...]] [--control-port-file FILE]
    cutproxy.py --self-test

Listens on 127.0.0.1 on a free port, writes the port to --listen-port-file
once it listens, and forwards every connection it accepts to --target, in
both directions, until one side closes.  It keeps accepting connections after
a cut, so a client that reconnects comes through again.

Cutting a connection aborts it the hard way: what the proxy has read from the
server but not yet forwarded to the client is dropped, and both sockets are
closed with an RST (SO_LINGER 0), so neither side sees a clean end of stream
and data still queued towards the client is lost too.  Cuts are triggered by:

  --cut-after-bytes N1,N2,...  the k-th accepted connection is cut as soon as
        N_k bytes from the server have been forwarded to the client (exactly
        N_k: the client never sees byte N_k + 1), which cuts "while the server
        is writing".  0 cuts the connection once it reaches the server.
        Connections after the last number in the list are not cut by count.
  --control-port-file FILE  a second listener, on 127.0.0.1 too, whose port
        is written to FILE; a line "cut" sent to it cuts every connection open
        at that moment and is answered with "ok <number cut>".

A line "freeze" on the control port stops forwarding on every connection open
at that moment, in both directions, and leaves it open: both peers see
silence, as behind a dead route (keepalive tests).  Answered with
"ok <number frozen>"; new connections are forwarded as usual.

Every event (listening, accepted, connected, cut, closed, control command) is
logged as one line on stderr.  SIGTERM or SIGINT stops the proxy.

--self-test runs the proxy against a local server and checks the byte-count
cuts, the control cut, the reconnection after cuts and plain forwarding; it
exits 0 when all of them pass.

Python 3 standard library only.
"""

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

CHUNK = 65536


def log(text):
    sys.stderr.write("cutproxy: %s\n" % text)
    sys.stderr.flush()


def write_port_file(path, port):
    """Writes PORT to PATH atomically: a reader never sees a partial file."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.setblocking(False)
    return s


def abort(sock):
    """Closes SOCK with an RST: SO_LINGER on with a zero timeout."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


class Direction:
    """One way of a connection: bytes read from SRC wait in BUF until written
    to DST."""

    def __init__(self, name):
        self.name = name
        self.buf = bytearray()
        self.eof = False       # SRC ended its stream
        self.shut = False      # DST was told the end (shutdown SHUT_WR)
        self.passed = 0        # bytes written to DST


class Conn:
    def __init__(self, proxy, number, client, limit):
        self.proxy = proxy
        self.number = number
        self.client = client
        self.server = None
        self.connected = False
        self.limit = limit
        self.up = Direction("client->server")
        self.down = Direction("server->client")
        self.dropped = 0
        self.done = False
        self.frozen = False    # nothing is read or written any more; the sockets stay open

    def label(self):
        return "connection %d" % self.number

    # -- events ---------------------------------------------------------------

    def on_connected(self):
        err = self.server.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            log("%s: cannot connect to the target: %s" % (self.label(), os.strerror(err)))
            self.finish(hard=False)
            return
        self.connected = True
        log("%s: connected to %s:%d" % (self.label(), *self.proxy.target))
        if self.limit == 0:
            self.cut("after 0 server bytes")
            return
        self.pump()

    def read(self, sock, way):
        try:
            data = sock.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            self.broken("%s read failed: %s" % (way.name, e))
            return
        if not data:
            way.eof = True
        elif way is self.down and self.limit is not None:
            # Only what fits under the limit is ever queued for the client.
            room = self.limit - way.passed - len(way.buf)
            way.buf += data[:room]
            self.dropped += max(0, len(data) - room)
        else:
            way.buf += data
        self.pump()

    def write(self, sock, way):
        if way.buf:
            try:
                n = sock.send(way.buf)
            except BlockingIOError:
                return False
            except OSError as e:
                self.broken("%s write failed: %s" % (way.name, e))
                return False
            del way.buf[:n]
            way.passed += n
        if way.eof and not way.buf and not way.shut:
            way.shut = True
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        return True

    def pump(self):
        """Writes what can be written, cuts at the limit, closes when both ways
        ended, and tells the selector what to wait for."""
        if self.done:
            return
        if self.connected:
            if not self.write(self.server, self.up) or self.done:
                return
            if not self.write(self.client, self.down) or self.done:
                return
            if self.limit is not None and self.down.passed >= self.limit:
                self.cut("after %d server bytes" % self.down.passed)
                return
            if self.up.shut and self.down.shut:
                log("%s: closed by both sides (%d bytes up, %d down)"
                    % (self.label(), self.up.passed, self.down.passed))
                self.finish(hard=False)
                return
        self.proxy.watch(self)

    def broken(self, why):
        log("%s: %s; resetting both sides" % (self.label(), why))
        self.finish(hard=True)

    def cut(self, why):
        dropped = self.dropped + len(self.down.buf)
        log("%s: cut %s (%d bytes up, %d down, %d read from the server dropped)"
            % (self.label(), why, self.up.passed, self.down.passed, dropped))
        self.finish(hard=True)

    def finish(self, hard):
        self.done = True
        self.down.buf.clear()
        self.up.buf.clear()
        for sock in (self.client, self.server):
            if sock is None:
                continue
            self.proxy.forget(sock)
            if hard:
                abort(sock)
            else:
                sock.close()
        self.proxy.conns.discard(self)


class Proxy:
    def __init__(self, target, limits, port_file, control_file):
        self.target = target
        self.limits = limits
        self.sel = selectors.DefaultSelector()
        self.conns = set()
        self.accepted = 0
        self.listen = listener()
        self.sel.register(self.listen, selectors.EVENT_READ, ("accept", None))
        self.control = None
        self.controls = {}
        if control_file:
            self.control = listener()
            self.sel.register(self.control, selectors.EVENT_READ, ("control-accept", None))
        port = self.listen.getsockname()[1]
        log("listening on 127.0.0.1:%d, forwarding to %s:%d" % (port, *target))
        if self.control:
            cport = self.control.getsockname()[1]
            log("control on 127.0.0.1:%d" % cport)
            write_port_file(control_file, cport)
        write_port_file(port_file, port)

    # -- selector bookkeeping ---------------------------------------------------

    def set_events(self, sock, events, data):
        try:
            key = self.sel.get_key(sock)
        except KeyError:
            if events:
                self.sel.register(sock, events, data)
            return
        if not events:
            self.sel.unregister(sock)
        elif key.events != events or key.data != data:
            self.sel.modify(sock, events, data)

    def forget(self, sock):
        try:
            self.sel.unregister(sock)
        except (KeyError, ValueError):
            pass

    def watch(self, conn):
        """Reads a side while its way is open and nothing waits to be written
        from it (the queue stays bounded); writes a side while data waits."""
        if conn.frozen:
            self.set_events(conn.client, 0, None)
            if conn.server is not None:
                self.set_events(conn.server, 0, None)
            return
        if not conn.connected:
            self.set_events(conn.client, 0, None)
            self.set_events(conn.server, selectors.EVENT_WRITE, ("connect", conn))
            return
        for sock, src, dst in ((conn.client, conn.up, conn.down), (conn.server, conn.down, conn.up)):
            events = 0
            if not src.eof and not src.buf:
                events |= selectors.EVENT_READ
            if dst.buf:
                events |= selectors.EVENT_WRITE
            self.set_events(sock, events, ("conn", conn))

    # -- events ---------------------------------------------------------------

    def accept(self):
        try:
            client, addr = self.listen.accept()
        except BlockingIOError:
            return
        self.accepted += 1
        k = self.accepted
        limit = self.limits[k - 1] if k <= len(self.limits) else None
        client.setblocking(False)
        conn = Conn(self, k, client, limit)
        self.conns.add(conn)
        log("connection %d: accepted from %s:%d%s"
            % (k, addr[0], addr[1], "" if limit is None else ", to be cut after %d server bytes" % limit))
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setblocking(False)
        conn.server = server
        try:
            server.connect(self.target)
        except BlockingIOError:
            pass
        except OSError as e:
            log("connection %d: cannot connect to the target: %s" % (k, e))
            conn.finish(hard=False)
            return
        self.watch(conn)

    def control_accept(self):
        try:
            sock, addr = self.control.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.controls[sock] = bytearray()
        self.sel.register(sock, selectors.EVENT_READ, ("control", None))
        log("control: client from %s:%d" % addr)

    def control_read(self, sock):
        try:
            data = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buf = self.controls[sock]
        buf += data
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            self.command(sock, line.decode("utf-8", "replace").strip())
        if not data:
            self.forget(sock)
            del self.controls[sock]
            sock.close()

    def command(self, sock, line):
        if line == "cut":
            victims = sorted(self.conns, key=lambda c: c.number)
            log("control: cut (%d open)" % len(victims))
            for conn in victims:
                conn.cut("on request")
            reply = "ok %d\n" % len(victims)
        elif line == "freeze":
            frozen = [c for c in self.conns if not c.frozen]
            log("control: freeze (%d open)" % len(frozen))
            for conn in frozen:
                conn.frozen = True
                self.watch(conn)
            reply = "ok %d\n" % len(frozen)
        else:
            log("control: unknown command %r" % line)
            reply = "error unknown command\n"
        try:
            sock.setblocking(True)
            sock.sendall(reply.encode())
            sock.setblocking(False)
        except OSError:
            pass

    def run(self):
        while True:
            for key, mask in self.sel.select():
                kind, conn = key.data
                if kind == "accept":
                    self.accept()
                elif kind == "control-accept":
                    self.control_accept()
                elif kind == "control":
                    self.control_read(key.fileobj)
                elif kind == "connect":
                    if not conn.done:
                        conn.on_connected()
                elif not conn.done:
                    src = conn.up if key.fileobj is conn.client else conn.down
                    if mask & selectors.EVENT_READ:
                        conn.read(key.fileobj, src)
                    if mask & selectors.EVENT_WRITE and not conn.done:
                        conn.pump()


# ---- self-test ------------------------------------------------------------------------

def pattern(n):
    return bytes(i % 251 for i in range(n))


class TestServer:
    """A server for the self-test.  Each connection sends one request line:
    "send N" (answer N pattern bytes at once, then wait for the client to
    close), "trickle" (100 bytes every 20 ms until the connection breaks) or
    "echo" (send back everything until the client closes).  The outcome of
    each connection ("done", "reset", "eof") is recorded in order."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.outcomes = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        outcome = "done"
        try:
            line = b""
            while not line.endswith(b"\n"):
                data = conn.recv(1)
                if not data:
                    raise EOFError
                line += data
            words = line.decode().split()
            if words[0] == "send":
                conn.sendall(pattern(int(words[1])))
                while conn.recv(CHUNK):
                    pass
            elif words[0] == "trickle":
                while True:
                    conn.sendall(pattern(100))
                    time.sleep(0.02)
            elif words[0] == "echo":
                while True:
                    data = conn.recv(CHUNK)
                    if not data:
                        break
                    conn.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            outcome = "reset"
        except EOFError:
            outcome = "eof"
        finally:
            conn.close()
            self.outcomes.append(outcome)


def receive_all(sock):
    """Reads until the end; returns the bytes and "eof" or "reset"."""
    got = bytearray()
    while True:
        try:
            data = sock.recv(CHUNK)
        except ConnectionResetError:
            return bytes(got), "reset"
        if not data:
            return bytes(got), "eof"
        got += data


def wait_file(path, proc):
    for _ in range(200):
        if os.path.exists(path):
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return int(text)
        if proc.poll() is not None:
            raise SystemExit("cutproxy self-test: the proxy exited with %d" % proc.returncode)
        time.sleep(0.05)
    raise SystemExit("cutproxy self-test: %s was not written" % path)


def self_test():
    failures = []

    def check(what, cond):
        print("cutproxy self-test: %s %s" % ("ok  " if cond else "FAIL", what))
        if not cond:
            failures.append(what)

    server = TestServer()
    tmp = tempfile.mkdtemp(prefix="cutproxy.")
    port_file = os.path.join(tmp, "port")
    control_file = os.path.join(tmp, "control")
    err_path = os.path.join(tmp, "stderr")
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                 "--listen-port-file", port_file,
                                 "--target", "127.0.0.1:%d" % server.port,
                                 "--cut-after-bytes", "1000,70000,0",
                                 "--control-port-file", control_file],
                                stderr=err)
    try:
        port = wait_file(port_file, proc)
        cport = wait_file(control_file, proc)

        def connect():
            return socket.create_connection(("127.0.0.1", port), timeout=10)

        # 1 and 2: cut by count while the server writes 200000 bytes at once
        for n in (1000, 70000):
            c = connect()
            c.sendall(b"send 200000\n")
            got, end = receive_all(c)
            c.close()
            check("connection cut after %d bytes: got %d, by %s" % (n, len(got), end),
                  got == pattern(n) and end == "reset")
        # 3: cut on arrival at the server, before any byte; the reset can come
        # before connect() even returns
        try:
            c = connect()
            got, end = receive_all(c)
            c.close()
        except ConnectionResetError:
            got, end = b"", "reset"
        check("connection cut after 0 bytes: got %d, by %s" % (len(got), end), not got and end == "reset")
        # 4: past the list: forwarded whole, both ways, with a clean end
        c = connect()
        c.sendall(b"echo\n")
        sent = pattern(300000)
        threading.Thread(target=lambda: (c.sendall(sent), c.shutdown(socket.SHUT_WR)), daemon=True).start()
        got, end = receive_all(c)
        c.close()
        check("uncut connection echoes 300000 bytes and ends cleanly (got %d, by %s)" % (len(got), end),
              got == sent and end == "eof")
        # 5: cut on request while the server trickles
        c = connect()
        c.sendall(b"trickle\n")
        first = c.recv(CHUNK)
        ctl = socket.create_connection(("127.0.0.1", cport), timeout=10)
        ctl.sendall(b"cut\n")
        reply = ctl.makefile().readline().strip()
        got, end = receive_all(c)
        c.close()
        check("control cut answered %r; the connection ended by %s" % (reply, end),
              reply == "ok 1" and end == "reset" and first)
        # 5b: freeze: the connection stays open and nothing passes either way
        c = connect()
        c.sendall(b"echo\n")
        c.sendall(b"before")
        before = c.recv(CHUNK)
        ctl.sendall(b"freeze\n")
        reply = ctl.makefile().readline().strip()
        c.sendall(b"after")
        c.settimeout(0.5)
        try:
            after = c.recv(CHUNK)
        except socket.timeout:
            after = None
        c.close()
        check("control freeze answered %r; nothing passes afterwards (got %r)" % (reply, after),
              reply == "ok 1" and before == b"before" and after is None)
        ctl.sendall(b"nonsense\n")
        check("an unknown control command is refused",
              ctl.makefile().readline().startswith("error"))
        ctl.close()
        # 6: still accepting after the cuts
        c = connect()
        c.sendall(b"send 5000\n")
        got = bytearray()
        while len(got) < 5000:
            data = c.recv(CHUNK)
            if not data:
                break
            got += data
        c.shutdown(socket.SHUT_WR)
        rest, end = receive_all(c)
        c.close()
        check("a new connection after the cuts is forwarded (%d bytes, end by %s)" % (len(got + rest), end),
              bytes(got + rest) == pattern(5000) and end == "eof")
        time.sleep(0.3)
        check("the server saw the cuts as resets (%s)" % " ".join(server.outcomes),
              server.outcomes.count("reset") >= 3)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        with open(err_path) as f:
            lines = f.read().splitlines()
        shutil.rmtree(tmp, ignore_errors=True)
    for line in lines:
        print("    " + line)
    check("one log line per cut (4)", sum(bool(re.match(r"cutproxy: connection \d+: cut ", line)) for line in lines) == 4)
    check("the proxy stopped on SIGTERM", proc.returncode == 0)
    print("cutproxy self-test: %s" % ("FAILED: " + "; ".join(failures) if failures else "all passed"))
    return 1 if failures else 0


# ---- command line ------------------------------------------------------------------------

def parse_target(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, not %r" % text)
    return host, int(port)


def parse_limits(text):
    try:
        limits = [int(n) for n in text.split(",")]
    except ValueError:
        limits = None
    if not limits or any(n < 0 for n in limits):
        raise argparse.ArgumentTypeError("expected N[,N...] with whole numbers >= 0, not %r" % text)
    return limits


def main():
    ap = argparse.ArgumentParser(
        description="A TCP proxy for tests that cuts connections (see the top of the file).")
    ap.add_argument("--listen-port-file", metavar="FILE", help="where to write the port it listens on")
    ap.add_argument("--target", metavar="HOST:PORT", type=parse_target, help="where to forward connections")
    ap.add_argument("--cut-after-bytes", metavar="N[,N...]", type=parse_limits, default=[],
                    help="cut the k-th connection after N_k bytes from the server")
    ap.add_argument("--control-port-file", metavar="FILE",
                    help="open a control port (a line 'cut' cuts the open connections, 'freeze' freezes them) and write it here")
    ap.add_argument("--self-test", action="store_true", help="check the proxy against a local server")
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    if not args.listen_port_file or not args.target:
        ap.print_usage(sys.stderr)
        print("cutproxy.py: --listen-port-file and --target are required", file=sys.stderr)
        return 2

    def stop(signum, _frame):
        log("stopped by %s" % signal.Signals(signum).name)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        proxy = Proxy(args.target, args.cut_after_bytes, args.listen_port_file, args.control_port_file)
    except OSError as e:
        print("cutproxy.py: %s" % e, file=sys.stderr)
        return 1
    proxy.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
