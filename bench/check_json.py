#!/usr/bin/env python3
"""Smoke test of pxmpp-bench: runs `pxmpp-bench --smoke --json --runs 3` and checks that
it exits 0 and prints one JSON object holding every figure, and that each timed figure
(KEY_ms, the median) lies between its KEY_ms_min and KEY_ms_max.  Timings are not judged.

Usage: check_json.py PATH/TO/pxmpp-bench
"""
import json
import subprocess
import sys

# Figures that are numbers whatever the build (pxmpp and libxml2 rows, memory).
ALWAYS = [
    "corpus_bytes", "stanza_bytes", "elements", "stanzas", "messages", "presences", "iqs",
    "initial_roster_items", "runs", "chunk_bytes",
    "libxml2_floor_ms", "libxml2_floor_mbps", "pxmpp_parse_ms", "pxmpp_parse_mbps",
    "pxmpp_serialize_ms", "pxmpp_serialize_mbps", "pxmpp_serialize_out_bytes",
    "roster_5k_items", "roster_20k_items", "roster_100k_items",
    "roster_5k_pxmpp_ms", "roster_20k_pxmpp_ms", "roster_100k_pxmpp_ms",
    "roster_20k_over_5k", "roster_100k_over_20k",
    "parse_vs_floor", "serialize_vs_parse",
    "idle_stream_bytes", "idle_stream_pxmpp_bytes", "idle_stream_libxml2_bytes",
    "idle_after_corpus_bytes", "idle_after_trim_bytes", "allocs_per_stanza", "allocs_per_stanza_pxmpp",
    "allocs_per_stanza_libxml2", "peak_heap_bytes", "floor_idle_bytes", "floor_peak_heap_bytes",
    "floor_allocs_per_stanza",
]
# Figures that are numbers when pxmpp-bench was built with libstrophe, null otherwise.
LIBSTROPHE = [
    "libstrophe_parse_ms", "libstrophe_parse_mbps", "libstrophe_serialize_ms",
    "libstrophe_serialize_mbps", "libstrophe_serialize_out_bytes", "libstrophe_allocs_per_stanza",
    "roster_5k_libstrophe_ms", "roster_20k_libstrophe_ms", "roster_100k_libstrophe_ms",
    "roster_libstrophe_20k_over_5k", "roster_libstrophe_100k_over_20k",
    "parse_vs_libstrophe", "serialize_vs_libstrophe",
]
# The timed rows: KEY_ms (median), KEY_ms_min and KEY_ms_max.
TIMED = ["libxml2_floor", "pxmpp_parse", "pxmpp_serialize"] + [
    "roster_%s_%s" % (size, row) for size in ("5k", "20k", "100k") for row in ("floor", "pxmpp")]
TIMED_LIBSTROPHE = ["libstrophe_parse", "libstrophe_serialize"] + [
    "roster_%s_libstrophe" % size for size in ("5k", "20k", "100k")]
ALWAYS += [k + suffix for k in TIMED for suffix in ("_ms_min", "_ms_max")]
LIBSTROPHE += [k + suffix for k in TIMED_LIBSTROPHE for suffix in ("_ms_min", "_ms_max")]
TARGETS = [
    "parse_vs_floor", "parse_vs_libstrophe", "serialize_vs_libstrophe", "serialize_vs_parse",
    "roster_20k_over_5k", "roster_100k_over_20k", "allocs_per_stanza", "idle_stream_bytes",
    "idle_after_trim_bytes",
]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 64
    proc = subprocess.run([sys.argv[1], "--smoke", "--json", "--runs", "3"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=600, check=False)
    errors = []
    if proc.returncode != 0:
        errors.append(f"exit status {proc.returncode}; stderr: {proc.stderr.strip()}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if len(lines) != 1:
        errors.append(f"expected one line on stdout, got {len(lines)}")
    doc = {}
    try:
        doc = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError as e:
        errors.append(f"stdout is not JSON: {e}")
    if not isinstance(doc, dict):
        errors.append("the JSON value is not an object")
        doc = {}

    def number(key):
        v = doc.get(key)
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for key in ALWAYS:
        if key not in doc:
            errors.append(f"missing key {key}")
        elif not number(key):
            errors.append(f"{key} is not a number: {doc[key]!r}")
    if not isinstance(doc.get("libstrophe"), bool):
        errors.append("libstrophe is not a boolean")
    for key in LIBSTROPHE:
        if key not in doc:
            errors.append(f"missing key {key}")
        elif doc.get("libstrophe") and not number(key):
            errors.append(f"{key} is not a number: {doc[key]!r}")
    for key in TIMED + (TIMED_LIBSTROPHE if doc.get("libstrophe") else []):
        lo, med, hi = (doc.get(key + s) for s in ("_ms_min", "_ms", "_ms_max"))
        if all(isinstance(v, (int, float)) for v in (lo, med, hi)) and not lo <= med <= hi:
            errors.append(f"{key}: median {med} not within min {lo} and max {hi}")
    if doc.get("runs") != 3:
        errors.append(f"runs is {doc.get('runs')!r}, expected 3")
    checksum = doc.get("checksum")
    if not isinstance(checksum, str) or not checksum.startswith("0x") or int(checksum, 16) == 0:
        errors.append(f"checksum is not a non-zero hex string: {checksum!r}")
    if doc.get("invalid_stanzas") != 0:
        errors.append(f"invalid_stanzas is {doc.get('invalid_stanzas')!r}, expected 0")
    if number("stanzas") and doc["stanzas"] <= 0:
        errors.append("the corpus has no stanzas")
    targets = doc.get("targets")
    if not isinstance(targets, dict):
        errors.append("targets is not an object")
    else:
        for key in TARGETS:
            if key not in targets or not (targets[key] is None or isinstance(targets[key], bool)):
                errors.append(f"targets.{key} is missing or not a boolean")

    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        return 1
    print(f"pxmpp-bench --smoke --json: {len(doc)} keys, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
