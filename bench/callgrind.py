#!/usr/bin/env python3
"""Instructions per byte of pxmpp-bench's throughput rows, counted by callgrind.

    bench/callgrind.py PATH/TO/pxmpp-bench [--size SIZE] [--json]

Runs each row alone (`pxmpp-bench --only ROW --runs 1 --size SIZE --json`, default size
4m) under `valgrind --tool=callgrind`, collecting only inside the function that does
the row's timed pass (--toggle-collect), so that generating the corpus, splitting or
pre-parsing the stanzas are not counted.  Prints, per row, the instructions executed
(Ir), the bytes the row counts for its throughput (the whole stream for the parse rows,
the message/presence/iq stanzas for the others) and their quotient, then the ratios of
pxmpp to the libxml2 floor and to libstrophe.  Instruction counts do not depend on the
machine's load, unlike the times.  With --json: one JSON object on one line instead.
Rows pxmpp-bench was built without (libstrophe) are left out.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

# row, the function of its timed pass (bench/bench.c), the bytes it counts
ROWS = [
    ("libxml2-floor", "run_floor", "corpus_bytes"),
    ("pxmpp-parse", "run_pxmpp", "corpus_bytes"),
    ("libstrophe-parse", "run_strophe_parse", "stanza_bytes"),
    ("pxmpp-serialize", "run_px_serialize", "stanza_bytes"),
    ("libstrophe-serialize", "run_strophe_serialize", "stanza_bytes"),
]


def measure(bench, row, func, size, tmp):
    out = os.path.join(tmp, "callgrind.out." + row)
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
         "--toggle-collect=%s*" % func, bench, "--only", row, "--runs", "1", "--size", size, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("%s failed under callgrind:\n%s" % (row, proc.stderr[-2000:]))
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    ir = None
    with open(out) as f:
        for line in f:
            m = re.match(r"(?:summary|totals): (\d+)", line)
            if m:
                ir = int(m.group(1))
    if ir is None:
        raise SystemExit("no instruction count in " + out)
    return doc, ir


def main():
    args = sys.argv[1:]
    as_json = "--json" in args
    args = [a for a in args if a != "--json"]
    size = "4m"
    if len(args) == 3 and args[1] == "--size":
        size = args[2]
        args = args[:1]
    if len(args) != 1:
        sys.stderr.write(__doc__)
        return 64
    bench = args[0]
    res = {"size": size}
    with tempfile.TemporaryDirectory() as tmp:
        for row, func, bytes_key in ROWS:
            doc, ir = measure(bench, row, func, size, tmp)
            key = row.replace("-", "_")
            if row.startswith("libstrophe") and not doc.get("libstrophe"):
                continue
            res[key + "_ir"] = ir
            res[key + "_bytes"] = doc[bytes_key]
            res[key + "_ir_per_byte"] = round(ir / doc[bytes_key], 2)
    def ratio(a, b):
        a, b = res.get(a + "_ir_per_byte"), res.get(b + "_ir_per_byte")
        return round(a / b, 3) if a and b else None
    res["parse_over_floor"] = ratio("pxmpp_parse", "libxml2_floor")
    res["parse_over_libstrophe"] = ratio("pxmpp_parse", "libstrophe_parse")
    res["serialize_over_libstrophe"] = ratio("pxmpp_serialize", "libstrophe_serialize")
    if as_json:
        print(json.dumps(res))
        return 0
    print("callgrind, --size %s: instructions of each row's timed pass" % size)
    print("  %-22s %14s %10s %9s" % ("row", "Ir", "bytes", "Ir/byte"))
    for row, _, _ in ROWS:
        key = row.replace("-", "_")
        if key + "_ir" in res:
            print("  %-22s %14d %10d %9.2f" % (row, res[key + "_ir"], res[key + "_bytes"], res[key + "_ir_per_byte"]))
    print("  instructions per byte, pxmpp / libxml2 floor (parse): %s" % res["parse_over_floor"])
    print("  instructions per byte, pxmpp / libstrophe (parse): %s, (serialize): %s"
          % (res["parse_over_libstrophe"], res["serialize_over_libstrophe"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
