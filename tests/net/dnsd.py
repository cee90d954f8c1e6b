"""A tiny DNS responder over UDP for the tests of pxmpp_net: it answers SRV and A
queries from a fixed table and says NXDOMAIN for every other name.

As a module: start(records) serves in a thread on 127.0.0.1 (a free port) and returns
the port.  records maps a lower-case name without the trailing dot to a list of
answers: ("SRV", priority, weight, port, target) or ("A", "192.0.2.1").

On the command line (for trying the resolver by hand):
    dnsd.py NAME=PRIORITY:WEIGHT:PORT:TARGET ...
prints the port and serves until interrupted."""
import socket
import struct
import sys
import threading

TYPE_A = 1
TYPE_SRV = 33
CLASS_IN = 1


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            out += bytes([len(raw)]) + raw
    return out + b"\0"


def decode_question(packet):
    """(name, qtype, end offset) of the first question; names in questions are not compressed."""
    pos = 12
    labels = []
    while True:
        n = packet[pos]
        pos += 1
        if n == 0:
            break
        labels.append(packet[pos:pos + n].decode("ascii", "replace"))
        pos += n
    qtype, _qclass = struct.unpack("!HH", packet[pos:pos + 4])
    return ".".join(labels).lower(), qtype, pos + 4


def answer(packet, records):
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    name, qtype, end = decode_question(packet)
    question = packet[12:end]
    entries = records.get(name)
    rcode = 0 if entries is not None else 3  # NXDOMAIN
    body = b""
    count = 0
    for entry in entries or ():
        if entry[0] == "SRV" and qtype == TYPE_SRV:
            _, prio, weight, port, target = entry
            rdata = struct.pack("!HHH", prio, weight, port) + encode_name(target)
            rtype = TYPE_SRV
        elif entry[0] == "A" and qtype == TYPE_A:
            rdata = socket.inet_aton(entry[1])
            rtype = TYPE_A
        else:
            continue
        # the owner name as a pointer to the question (offset 12)
        body += struct.pack("!HHHIH", 0xC00C, rtype, CLASS_IN, 60, len(rdata)) + rdata
        count += 1
    # QR, opcode 0, AA, RD copied, RA; the rcode
    rflags = 0x8000 | 0x0400 | (flags & 0x0100) | 0x0080 | rcode
    return struct.pack("!HHHHHH", ident, rflags, 1, count, 0, 0) + question + body


def start(records):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                packet, peer = sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = answer(packet, records)
            except (IndexError, struct.error, UnicodeError):
                reply = None
            if reply:
                sock.sendto(reply, peer)

    threading.Thread(target=serve, daemon=True).start()
    return sock.getsockname()[1]


def main(argv):
    records = {}
    for arg in argv:
        name, _, spec = arg.partition("=")
        prio, weight, port, target = spec.split(":")
        records.setdefault(name.lower().rstrip("."), []).append(("SRV", int(prio), int(weight), int(port), target))
    print(start(records), flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1:])
