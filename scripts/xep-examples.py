#!/usr/bin/env python3
"""Extracts the example stanzas of XEP sources (the XSF's xep-NNNN.xml files).

usage: xep-examples.py [--out DIR] [--stats] XEP_SOURCE.xml...

Each <example> of a XEP holds XML in a CDATA section.  An example counts as a
stanza example when, after the editorial clean-up below, it is a well-formed
sequence of top-level elements of a jabber:client stream: <message/>,
<presence/> or <iq/> (stream-level elements such as <stream:features/>,
SASL, XEP-0198 or XEP-0114 elements are taken as well).  Examples that show a
server-to-server stream, a BOSH body, or are not well-formed XML (most of them
because the text elides parts with "..." or "[...]") are counted and skipped.

Clean-up: XML comments are removed (editorial notes; an XMPP stream may not
carry comments); a stream header or footer around the example is dropped; the
XEP's own general entities (<!ENTITY name "value"> in its DOCTYPE, such as a
namespace the text spells once) are expanded; "CLIENT:"/"SERVER:" labels that
start a line are dropped.
Nothing else is changed: an example that contradicts its own XEP is kept as it
is, so that the tests show the violation.

--out DIR    writes DIR/xep-NNNN/NN.xml, one file per stanza example (NN is the
             example's number in the XEP), each holding one or more stanzas as
             in the XEP, and DIR/xep-NNNN/index.txt: the XEP's version, then a
             line "NN<TAB>caption" per file
--stats      prints, per XEP, the number of examples taken and skipped and why
"""
import argparse
import os
import re
import sys
import xml.dom.minidom
import xml.parsers.expat

STREAM_NS = "http://etherx.jabber.org/streams"
WRAP_OPEN = ("<wrap xmlns='jabber:client' xmlns:stream='%s' "
             "xmlns:db='jabber:server:dialback'>" % STREAM_NS)
STANZAS = {"message", "presence", "iq"}


def xep_meta(text):
    num = re.search(r"<number>(\d+)</number>", text)
    ver = re.search(r"<revision>\s*<version>([^<]+)</version>", text)
    return (num.group(1) if num else None, ver.group(1).strip() if ver else "?")


def entities(text):
    """The XEP's general entities, {name: value} (parameter entities are left out)."""
    out = {}
    for m in re.finditer(r"<!ENTITY\s+([A-Za-z_][\w.-]*)\s+(['\"])(.*?)\2\s*>", text, re.S):
        out[m.group(1)] = m.group(3)
    return out


def expand(body, ents):
    def rep(m):
        name = m.group(1)
        if name in ("lt", "gt", "amp", "quot", "apos") or name not in ents:
            return m.group(0)
        return ents[name]
    return re.sub(r"&([A-Za-z_][\w.-]*);", rep, body)


def examples(text):
    """(caption, body) of each <example>; a body may be cut into several CDATA sections
    around entity references (]]>&namespace;<![CDATA[), which are joined."""
    for m in re.finditer(r"<example(?:\s+caption=(['\"])(.*?)\1)?[^>]*>\s*<!\[CDATA\[(.*?)\]\]>\s*</example>",
                         text, re.S):
        body = re.sub(r"\]\]>(.*?)<!\[CDATA\[", lambda x: x.group(1), m.group(3), flags=re.S)
        yield (m.group(2) or ""), body


def top_level(body):
    """The top-level elements of body, or (None, reason)."""
    b = body.strip()
    b = re.sub(r"^<\?xml[^>]*\?>", "", b).strip()
    b = re.sub(r"<!--.*?-->", "", b, flags=re.S)
    # a stream header (not closed in the example) and a stream footer are dropped
    b = re.sub(r"<stream:stream\b[^>]*>", "", b)
    b = b.replace("</stream:stream>", "")
    if "jabber:server" in b and "jabber:server:dialback" not in b:
        return None, "server-to-server stream"
    if "<body" in b and "http://jabber.org/protocol/httpbind" in b:
        return None, "BOSH"
    doc = WRAP_OPEN + b + "</wrap>"
    p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    try:
        p.Parse(doc.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError as e:
        return None, "not well-formed (%s)" % xml.parsers.expat.ErrorString(e.code)
    d = xml.dom.minidom.parseString(doc.encode("utf-8"))
    kids = [n for n in d.documentElement.childNodes if n.nodeType == n.ELEMENT_NODE]
    if not kids:
        return None, "no element"
    texts = [n for n in d.documentElement.childNodes if n.nodeType == n.TEXT_NODE and n.data.strip()]
    if texts:
        return None, "text between elements"
    names = [k.tagName for k in kids]
    if not all(n in STANZAS or ":" in n or n in ("handshake", "r", "a", "enable", "enabled", "resume",
                                                    "resumed", "failed", "starttls", "proceed", "auth",
                                                    "challenge", "response", "success", "failure",
                                                    "authenticate") for n in names):
        return None, "not a stanza (%s)" % names[0]
    return b, None


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out")
    ap.add_argument("--stats", action="store_true")
    ap.add_argument("sources", nargs="+")
    a = ap.parse_args(argv)
    total = taken = 0
    for src in a.sources:
        with open(src, encoding="utf-8", errors="replace") as f:
            text = f.read()
        num, ver = xep_meta(text)
        if not num:
            continue
        why = {}
        n_taken = 0
        ents = entities(text)
        for i, (cap, body) in enumerate(examples(text), 1):
            total += 1
            body = re.sub(r"(?m)^\s*(CLIENT|SERVER):[ \t]*$", "", expand(body, ents))
            b, reason = top_level(body)
            if reason:
                why[reason.split(" (")[0]] = why.get(reason.split(" (")[0], 0) + 1
                continue
            taken += 1
            n_taken += 1
            if a.out:
                d = os.path.join(a.out, "xep-%s" % num)
                if n_taken == 1:
                    os.makedirs(d, exist_ok=True)
                    with open(os.path.join(d, "index.txt"), "w", encoding="utf-8") as o:
                        o.write("XEP-%s version %s\n" % (num, ver))
                with open(os.path.join(d, "%02d.xml" % i), "w", encoding="utf-8") as o:
                    o.write(b.strip() + "\n")
                with open(os.path.join(d, "index.txt"), "a", encoding="utf-8") as o:
                    o.write("%02d\t%s\n" % (i, " ".join(cap.split())))
        if a.stats:
            print("XEP-%s v%s: %d taken; skipped: %s" % (num, ver, n_taken,
                                                         ", ".join("%s %d" % kv for kv in sorted(why.items())) or "none"))
    if a.stats:
        print("total: %d examples, %d stanza examples taken" % (total, taken))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
