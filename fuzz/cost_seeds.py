#!/usr/bin/env python3
"""Seeds of fuzz_cost (fuzz/fuzz_cost.c): stanzas as big as the size limit allows.

    fuzz/cost_seeds.py OUT_DIR TESTS_DATA_DIR HOSTILE_DUMP

Writes into OUT_DIR:
  * ex-*: every example stanza of tests/data/xep (at most three per XEP, messages first)
    and tests/data/rfc in expand mode: its start tag, then its content repeated until
    the stanza holds about 240 KiB, then its end tag.  Each payload, each child of a
    list, each rule a payload carries is so met thousands of times in one stanza.
  * shape-*: a few shapes in expand mode whose repeated child differs each time (0xFE
    becomes the number of the repetition): bodies in distinct languages, roster items,
    unknown payloads in distinct namespaces, disco features, error texts.
  * hostile-*: every hostile input of tests/support/hostile.h that begins with the
    standard stream header and fits in MAX_FED after it, as HOSTILE_DUMP --no-header
    writes it (tests/support/hostile-dump), fed at once to a client stream (the target
    puts the header back).  Among them bodies-in-6897-languages, one stanza of 6,897
    bodies in distinct languages (262,137 bytes).
The first three bytes of each seed are fuzz_cost's control bytes.
"""
import os
import re
import subprocess
import sys

TARGET = 240 * 1024
OPT_EXPAND = 0x01
OPT_WHOLE = 7 << 1  # fed at once
OPT_CLIENT = 1 << 4  # a client stream with a header
MAX_FED = 262144 + 4096  # fuzz_cost.c: what it feeds at most, header included
HEADER_LEN = 99  # PXMPP_HOSTILE_HEADER, which fuzz_cost.c puts first


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


def hostile(dump):
    """(name, bytes after the standard header) of each hostile input that has the header and fits."""
    names = subprocess.run([dump, "--list"], check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        r = subprocess.run([dump, "--no-header", name], capture_output=True)
        if r.returncode == 3:  # no standard header: the hostile part is in or before it
            continue
        if r.returncode != 0:
            raise SystemExit("%s %s: %s" % (dump, name, r.stderr.decode(errors="replace").strip()))
        if HEADER_LEN + len(r.stdout) <= MAX_FED:
            yield name, r.stdout


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
    if len(sys.argv) != 4:
        sys.stderr.write("usage: cost_seeds.py OUT_DIR TESTS_DATA_DIR HOSTILE_DUMP\n")
        return 64
    out, data, dump = sys.argv[1], sys.argv[2], sys.argv[3]
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
    for name, rest in hostile(dump):
        with open(os.path.join(out, "hostile-" + name), "wb") as f:
            f.write(control(OPT_CLIENT | OPT_WHOLE, 0) + rest)
        n += 1
    print("%d seeds in %s" % (n, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
