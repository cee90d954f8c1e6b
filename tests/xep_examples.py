#!/usr/bin/env python3
"""The example stanzas of the XEPs, typed and round-tripped.

usage: xep_examples.py [--every N] PXMPP-STANZA DATA_DIR

DATA_DIR/xep-NNNN/NN.xml holds example NN of XEP-NNNN (taken from the XEP's text by
scripts/xep-examples.py).  For every file:
  * `pxmpp-stanza check` finds no XML-level error;
  * unless DATA_DIR/xep-NNNN/expect.txt lists the example, every stanza is typed
    throughout (no untyped payload, no unknown child of a typed element) and breaks no
    rule of its schema; a listed example must show what its line says
    (`NN untyped: reason` - something stays untyped; `NN violation: reason` - a violation);
  * the round trip re-parses to the same JSON (parse(roundtrip(x)) == parse(x)), and the
    output does not depend on how the input is cut (--chunk 7).
Prints one line per failure, then the figures, and exits 1 on any failure.
--every N checks every Nth file only (for slow builds, e.g. under AddressSanitizer, where
starting the tool costs most of the time).
"""
import glob
import json
import os
import re
import subprocess
import sys


def run(tool, args, data):
    p = subprocess.run([tool] + args, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def load_expect(d):
    out = {}
    path = os.path.join(d, "expect.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for ln in f:
                ln = ln.strip()
                if not ln or ln.startswith("#"):
                    continue
                m = re.match(r"^(\d+) (untyped|violation): (.+)$", ln)
                if not m:
                    raise SystemExit("%s: cannot read line: %s" % (path, ln))
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def main(argv):
    every = 1
    if len(argv) == 5 and argv[1] == "--every" and argv[2].isdigit() and int(argv[2]) > 0:
        every = int(argv[2])
        argv = argv[:1] + argv[3:]
    if len(argv) != 3:
        print(__doc__)
        return 2
    tool, data = argv[1], argv[2]
    nth = 0
    failures = []
    files = stanzas = typed_stanzas = payloads = typed_payloads = 0
    xeps = 0
    listed = {"untyped": 0, "violation": 0}
    seen_all = set()  # skipped by --every but present
    for d in sorted(glob.glob(os.path.join(data, "xep-*"))):
        expect = load_expect(d)
        ex = sorted(glob.glob(os.path.join(d, "*.xml")))
        if ex:
            xeps += 1
        seen = set()
        for f in ex:
            nth += 1
            if (nth - 1) % every:
                num = os.path.basename(f)[:-4]
                if num in expect:
                    seen_all.add((d, num))
                continue
            files += 1
            name = "%s/%s" % (os.path.basename(d), os.path.basename(f))
            num = os.path.basename(f)[:-4]
            seen.add(num)
            with open(f, "rb") as fh:
                raw = fh.read()
            rc, out = run(tool, ["check"], raw)
            lines = [json.loads(x) for x in out.splitlines() if x.strip()]
            summ = [x["summary"] for x in lines if "summary" in x]
            errs = [x for x in lines if "error" in x]
            if rc == 2 or errs or not summ:
                failures.append("%s: XML-level error or no summary: %s" % (name, out.strip()[:300]))
                continue
            s = summ[0]
            stanzas += s["stanzas"]
            typed_stanzas += s["typed"]
            payloads += s["payloads"]
            typed_payloads += s["typed_payloads"]
            clean = s["typed"] == s["stanzas"] and s["violations"] == 0
            what = expect.get(num)
            if what is None and not clean:
                failures.append("%s: not typed throughout or violations: %s" % (name, out.strip()[:600]))
            elif what is not None:
                listed[what[0]] += 1
                if what[0] == "violation" and s["violations"] == 0:
                    failures.append("%s: listed as a violation (%s) but none was found" % (name, what[1]))
                if what[0] == "untyped" and (s["untyped"] == {} and s["unknown_children"] == {}):
                    failures.append("%s: listed as untyped (%s) but everything is typed" % (name, what[1]))
            # round trip and chunking
            rc1, p1 = run(tool, ["parse"], raw)
            rc7, p7 = run(tool, ["parse", "--chunk", "7"], raw)
            if p1 != p7:
                failures.append("%s: parse --chunk 7 differs from the whole-buffer parse" % name)
            rcr, rt = run(tool, ["roundtrip"], raw)
            rc2, p2 = run(tool, ["parse"], rt.encode("utf-8"))
            if p1 != p2:
                failures.append("%s: parse(roundtrip(x)) != parse(x)" % name)
        for num in expect:
            if num not in seen and (d, num) not in seen_all:
                failures.append("%s: expect.txt names example %s, which is not there" % (os.path.basename(d), num))
    for f in failures:
        print("FAIL: " + f)
    pct = lambda a, b: 100.0 * a / b if b else 100.0
    print("xep examples: %d XEPs, %d files, %d stanzas (%.1f%% typed throughout), %d payloads "
          "(%.1f%% typed); listed untyped %d, violation %d; %d failures"
          % (xeps, files, stanzas, pct(typed_stanzas, stanzas), payloads, pct(typed_payloads, payloads),
             listed["untyped"], listed["violation"], len(failures)))
    print("%d passed, %d failed" % (files - len({f.split(":")[0] for f in failures}),
                                    len({f.split(":")[0] for f in failures})))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
