#!/usr/bin/env python3
"""Seeds of fuzz_cost (fuzz/fuzz_cost.c): stanzas as big as the size limit allows.

    fuzz/cost_seeds.py OUT_DIR TESTS_DATA_DIR

Writes into OUT_DIR:
  * ex-*: every example stanza of tests/data/xep (at most three per XEP, messages first)
    and tests/data/rfc in expand mode: its start tag, then its content repeated until
    the stanza holds about 240 KiB, then its end tag.  Each payload, each child of a
    list, each rule a payload carries is so met thousands of times in one stanza.
  * shape-*: a few shapes in expand mode whose repeated child differs each time (0xFE
    becomes the number of the repetition): bodies in distinct languages, roster items,
    unknown payloads in distinct namespaces, disco features, error texts.
  * raw-bodies: one stanza of 6,897 bodies in distinct languages, written out in full
    (no expansion), 262,137 bytes.
The first three bytes of each seed are fuzz_cost's control bytes.
"""
import os
import re
import sys

TARGET = 240 * 1024
OPT_EXPAND = 0x01
OPT_WHOLE = 7 << 1  # fed at once


def control(opts, count):
    return bytes([opts, count & 0xFF, count >> 8])


def split_root(text):
    """(start tag, content, end tag) of a document of one element, or None."""
    text = text.strip()
    m = re.match(r"<([A-Za-z_][\w.\-]*)", text)
    if not m or text.endswith("/>") and text.count("<") == 1:
        return None
    name = m.group(1)
    quote = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == ">":
            break
    else:
        return None
    start, rest = text[: i + 1], text[i + 1:]
    end = "</%s>" % name
    if start.endswith("/>") or not rest.endswith(end):
        return None
    return start, rest[: -len(end)], end


def expand_seed(start, unit, end):
    u = unit.encode()
    if not u.strip():
        return None
    count = max(1, min(0xFFFF, TARGET // len(u)))
    return control(OPT_EXPAND | OPT_WHOLE, count) + start.encode() + b"\xff" + u + b"\xff" + end.encode()


def examples(data):
    for sub in ("rfc",):
        d = os.path.join(data, sub)
        for f in sorted(os.listdir(d)):
            if f.endswith(".xml"):
                yield "rfc-" + f[:-4], os.path.join(d, f)
    xep = os.path.join(data, "xep")
    for x in sorted(os.listdir(xep)):
        if not os.path.isdir(os.path.join(xep, x)):
            continue
        files = sorted(f for f in os.listdir(os.path.join(xep, x)) if f.endswith(".xml"))
        paths = [os.path.join(xep, x, f) for f in files]
        first = lambda p: open(p, encoding="utf-8", errors="replace").read().lstrip()[:9]
        paths.sort(key=lambda p: (not first(p).startswith("<message"), p))
        for p in paths[:3]:
            yield "%s-%s" % (x, os.path.basename(p)[:-4]), p


SHAPES = {
    "bodies": ("<message to='a@example.net' id='m1'>", "<body xml:lang='l-\xfe'>h</body>", "</message>", 6000),
    "roster": ("<iq type='result' id='r1'><query xmlns='jabber:iq:roster'>",
               "<item jid='u\xfe@example.com' name='\xfe'><group>g\xfe</group></item>", "</query></iq>", 3000),
    "payloads": ("<message id='m1'>", "<x\xfe xmlns='urn:x:\xfe'/>", "</message>", 3000),
    "features": ("<iq type='result' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'>",
                 "<feature var='urn:f:\xfe'/>", "</query></iq>", 5000),
    "error-texts": ("<iq type='error' id='e1'><error type='cancel'>"
                    "<bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>",
                    "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='\xfe'>t</text>", "</error></iq>", 2900),
}


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: cost_seeds.py OUT_DIR TESTS_DATA_DIR\n")
        return 64
    out, data = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    n = 0
    for name, path in examples(data):
        parts = split_root(open(path, encoding="utf-8").read())
        seed = parts and expand_seed(*parts)
        if seed:
            with open(os.path.join(out, "ex-" + name), "wb") as f:
                f.write(seed)
            n += 1
    for name, (start, unit, end, count) in SHAPES.items():
        with open(os.path.join(out, "shape-" + name), "wb") as f:
            f.write(control(OPT_EXPAND | OPT_WHOLE, count) + start.encode() + b"\xff" +
                    unit.encode("latin-1") + b"\xff" + end.encode())
        n += 1
    body = "".join("<body xml:lang='i-lang-%05d'>h</body>" % i for i in range(6897))
    with open(os.path.join(out, "raw-bodies"), "wb") as f:
        f.write(control(OPT_WHOLE, 0) + ("<message to='juliet@example.com' id='m1'>%s</message>" % body).encode())
    n += 1
    print("%d seeds in %s" % (n, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
