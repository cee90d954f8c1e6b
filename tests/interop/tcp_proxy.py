"""A TCP proxy on 127.0.0.1 for the live tests of pxmpp_net: it forwards every connection
to HOST:PORT and lets the test break the connections it carries.

    tcp_proxy.py HOST PORT

Prints the port it listens on, then serves until killed.  Signals:
    SIGUSR1  cut: close every connection it carries now, both sides (new ones are served)
    SIGUSR2  freeze: stop forwarding on every connection it carries now, leaving them
             open (the peers see silence)"""
import selectors
import signal
import socket
import sys

sel = selectors.DefaultSelector()
pairs = []  # [client, server, frozen]
requests = set()


def close_pair(pair):
    for s in pair[:2]:
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
    pairs.remove(pair)


def handle_requests():
    if "cut" in requests:
        for pair in list(pairs):
            close_pair(pair)
    if "freeze" in requests:
        for pair in pairs:
            if not pair[2]:
                pair[2] = True
                for s in pair[:2]:
                    sel.unregister(s)
    requests.clear()


def main(host, port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    sel.register(listener, selectors.EVENT_READ, None)
    signal.signal(signal.SIGUSR1, lambda *_: requests.add("cut"))
    signal.signal(signal.SIGUSR2, lambda *_: requests.add("freeze"))
    print(listener.getsockname()[1], flush=True)
    while True:
        events = sel.select(timeout=0.2)
        handle_requests()
        for key, _ in events:
            if key.data is None:
                client, _ = listener.accept()
                try:
                    server = socket.create_connection((host, port))
                except OSError:
                    client.close()
                    continue
                pair = [client, server, False]
                pairs.append(pair)
                sel.register(client, selectors.EVENT_READ, (pair, server))
                sel.register(server, selectors.EVENT_READ, (pair, client))
                continue
            pair, other = key.data
            if pair not in pairs or pair[2]:
                continue
            try:
                data = key.fileobj.recv(65536)
                if data:
                    other.sendall(data)
                    continue
            except OSError:
                pass
            close_pair(pair)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
