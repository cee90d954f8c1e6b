#!/usr/bin/env python3
"""Measure codegen/xsd2schema.py on the XML schemas of the XEP sources.

Usage: tests/xsd/measure.py [-j N] [--python PY] [--cc CC] [--keep DIR] [-v] XEPS_DIR

Extracts every XSD from XEPS_DIR/xep-*.xml (the text of each <code> block, CDATA
sections joined, that contains an xs:schema element of the XML Schema
namespace; entity references outside the CDATA sections are kept as written,
so a schema that uses the XEP's entities is not well-formed on its own), then
for each one:

  1. checks that it is well-formed (expat),
  2. runs codegen/xsd2schema.py -o OUT.xml FILE.xsd (exit 0: imported; exit 1:
     refused, which must happen for every malformed one),
  3. runs codegen/pxmpp_gen.py --out DIR schema/rfc6120-core.xml
     schema/rfc6121-im.xml OUT.xml,
  4. compiles DIR/src/<name>.c, the core's DIR/src/rfc6120.c and rfc6121.c and
     DIR/src/registry.c with CC -std=c11 and -std=gnu11, -Wall -Wextra -Werror.

Prints the counts (total, well-formed, imported, generated, compiled, refused)
and every case that did not go as expected.  Not part of the tool or of the
test suite; it needs Jinja2 (for the generator), xmllint and a C compiler.
Exit status 0 when every malformed XSD was refused and nothing crashed.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.parsers.expat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
XSD_NS = "http://www.w3.org/2001/XMLSchema"
PREDEFINED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def unescape_predefined(s):
    return re.sub(r"&(lt|gt|amp|quot|apos);", lambda m: PREDEFINED[m.group(1)], s)


def code_text(body):
    """Text of a <code> element's content: CDATA verbatim, predefined entities decoded,
    other entity references left as they are."""
    parts = []
    pos = 0
    for m in re.finditer(r"<!\[CDATA\[(.*?)\]\]>", body, re.S):
        parts.append(unescape_predefined(body[pos:m.start()]))
        parts.append(m.group(1))
        pos = m.end()
    parts.append(unescape_predefined(body[pos:]))
    return "".join(parts)


def extract(xeps, out):
    files = []
    for path in sorted(glob.glob(os.path.join(xeps, "xep-*.xml"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            src = f.read()
        k = 0
        for m in re.finditer(r"<code\b[^>]*>(.*?)</code>", src, re.S):
            text = code_text(m.group(1))
            if XSD_NS in text and re.search(r"<([\w.-]+:)?schema\b", text):
                k += 1
                name = "%s-%d.xsd" % (os.path.basename(path)[:-4], k)
                with open(os.path.join(out, name), "w", encoding="utf-8") as f:
                    f.write(text.strip() + "\n")
                files.append(os.path.join(out, name))
    return files


def well_formed(path):
    p = xml.parsers.expat.ParserCreate()
    try:
        with open(path, "rb") as f:
            p.Parse(f.read(), True)
        return True
    except xml.parsers.expat.ExpatError:
        return False


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)


def one(path, a, work):
    base = os.path.basename(path)[:-4]
    d = os.path.join(work, base)
    os.makedirs(d, exist_ok=True)
    r = {"file": base, "wf": well_formed(path), "stage": None, "msg": "", "warnings": 0}
    out = os.path.join(d, base + ".xml")
    p = run([a.python, os.path.join(ROOT, "codegen", "xsd2schema.py"), "-o", out, path])
    r["warnings"] = sum(1 for ln in p.stderr.splitlines() if ": warning: " in ln)
    if p.returncode == 1:
        r["stage"] = "refused"
        r["msg"] = next((ln for ln in p.stderr.splitlines() if ": error: " in ln), p.stderr.strip()[:300])
        if os.path.exists(out):
            r["stage"] = "refused-but-wrote"
        return r
    if p.returncode != 0 or not os.path.exists(out):
        r["stage"] = "crash"
        r["msg"] = p.stderr.strip()[-600:]
        return r
    r["stage"] = "imported"
    gen = os.path.join(d, "gen")
    p = run([a.python, os.path.join(ROOT, "codegen", "pxmpp_gen.py"), "--out", gen,
             os.path.join(ROOT, "schema", "rfc6120-core.xml"), os.path.join(ROOT, "schema", "rfc6121-im.xml"), out])
    if p.returncode != 0:
        r["msg"] = p.stderr.strip()[:600]
        return r
    r["stage"] = "generated"
    with open(out, encoding="utf-8") as f:
        name = re.search(r'<schema [^>]*name="([^"]+)"', f.read()).group(1)
    srcs = [os.path.join(gen, "src", x + ".c") for x in (name, "rfc6120", "rfc6121", "registry")]
    for std in ("c11", "gnu11"):
        for s in srcs:
            p = run(a.cc.split() + ["-std=" + std, "-Wall", "-Wextra", "-Werror", "-c", "-o", os.devnull,
                                    "-I", os.path.join(ROOT, "runtime", "include"), "-I", os.path.join(gen, "include"), s])
            if p.returncode != 0:
                r["msg"] = "%s (-std=%s): %s" % (os.path.basename(s), std, p.stderr.strip()[:600])
                return r
    r["stage"] = "compiled"
    return r


def main(argv):
    ap = argparse.ArgumentParser(description="Measure xsd2schema.py on the XSDs of the XEP sources.")
    ap.add_argument("xeps", help="directory holding xep-NNNN.xml")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2, help="parallel jobs")
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with Jinja2")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("--keep", metavar="DIR", help="keep the extracted XSDs and outputs in DIR")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every file with its result")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.xeps):
        ap.error("%s is not a directory" % a.xeps)
    for tool in ("xmllint", a.cc.split()[0]):
        if not shutil.which(tool):
            sys.stderr.write("measure: %s not found\n" % tool)
            return 77
    if run([a.python, "-c", "import jinja2"]).returncode != 0:
        sys.stderr.write("measure: %s cannot import jinja2\n" % a.python)
        return 77
    work = a.keep or tempfile.mkdtemp(prefix="xsd-measure.")
    os.makedirs(work, exist_ok=True)
    xsd_dir = os.path.join(work, "xsd")
    os.makedirs(xsd_dir, exist_ok=True)
    try:
        files = extract(a.xeps, xsd_dir)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.j)) as ex:
            results = list(ex.map(lambda p: one(p, a, os.path.join(work, "out")), files))
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    order = ["imported", "generated", "compiled"]
    wf = [r for r in results if r["wf"]]
    bad = [r for r in results if not r["wf"]]

    def reached(r, stage):
        return r["stage"] in order and order.index(r["stage"]) >= order.index(stage)

    counts = {
        "total": len(results),
        "well-formed": len(wf),
        "imported": sum(1 for r in wf if reached(r, "imported")),
        "generated": sum(1 for r in wf if reached(r, "generated")),
        "compiled": sum(1 for r in wf if reached(r, "compiled")),
        "refused": sum(1 for r in results if r["stage"] == "refused"),
    }
    refused_wf = [r for r in wf if r["stage"] == "refused"]
    print("XSDs found in %s: %d" % (a.xeps, counts["total"]))
    print("  well-formed:          %d" % counts["well-formed"])
    print("  imported (exit 0):    %d" % counts["imported"])
    print("  generated:            %d" % counts["generated"])
    print("  compiled:             %d" % counts["compiled"])
    print("  refused (exit 1):     %d  (%d malformed of %d, %d well-formed)"
          % (counts["refused"], sum(1 for r in bad if r["stage"] == "refused"), len(bad), len(refused_wf)))
    if wf:
        print("  compiled / well-formed: %.1f%%" % (100.0 * counts["compiled"] / len(wf)))
    print("  warnings printed: %d" % sum(r["warnings"] for r in results))
    problems = 0
    for r in results:
        expected = ("refused" if not r["wf"] else "compiled")
        if a.verbose or r["stage"] != expected:
            print("%-16s %-11s %s" % (r["file"], r["stage"], r["msg"].splitlines()[0] if r["msg"] else ""))
        if (not r["wf"] and r["stage"] != "refused") or r["stage"] in ("crash", "refused-but-wrote"):
            problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
