#!/usr/bin/env python3
"""How much of the XEPs' example traffic pxmpp types.

usage: xep-coverage.py [--untyped N] [--json] [--xeps N,N,...] PXMPP-STANZA XEP_SOURCE.xml...

Extracts every stanza example of the given XEP sources (the XSF's xep-NNNN.xml files,
with scripts/xep-examples.py's rules), runs `PXMPP-STANZA check` and `parse` on each and
prints:
  * payload occurrences: every child of an extension point (a stanza's payloads, and the
    payloads nested in them: pubsub items, forwarded stanzas, ...), and how many are typed
    (typed and meeting their schema);
  * distinct direct payload elements ({namespace}name of the children of message,
    presence and iq) and how many of them are typed at least once;
  * example stanzas typed throughout (every payload at every depth typed, no unknown child
    of a typed element, no violation), over all XEPs and over the XEPs that have a schema,
    and the stanzas that are typed but break a rule of their schema (an example that
    contradicts its own XEP);
  * with --xeps, the same for the examples of those XEPs only;
  * the N most frequent untyped direct payload elements.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import importlib.util  # noqa: E402

_spec = importlib.util.spec_from_file_location("xep_examples", os.path.join(HERE, "xep-examples.py"))
xe = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(xe)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--untyped", type=int, default=25)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    ap.add_argument("--xeps", help="comma-separated XEP numbers: also report their examples apart")
    ap.add_argument("tool")
    ap.add_argument("sources", nargs="+")
    a = ap.parse_args(argv)
    manifest = json.loads(subprocess.run([a.tool, "types"], stdout=subprocess.PIPE, check=True).stdout)
    shipped = {re.sub(r"^XEP-0*", "", s["title"].split(":")[0]) for s in manifest["schemas"]
               if s["title"].startswith("XEP-")}
    selected = {int(x) for x in a.xeps.split(",")} if a.xeps else set()
    tot = collections.Counter()
    direct_seen, direct_typed = collections.Counter(), set()
    untyped_direct = collections.Counter()
    for src in a.sources:
        with open(src, encoding="utf-8", errors="replace") as f:
            text = f.read()
        num, _ = xe.xep_meta(text)
        if not num:
            continue
        has_schema = str(int(num)) in shipped
        ents = xe.entities(text)
        for cap, body in xe.examples(text):
            body = re.sub(r"(?m)^\s*(CLIENT|SERVER):[ \t]*$", "", xe.expand(body, ents))
            b, reason = xe.top_level(body)
            if reason:
                continue
            raw = b.encode("utf-8")
            out = subprocess.run([a.tool, "check"], input=raw, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
            summ = None
            for ln in out.splitlines():
                o = json.loads(ln)
                if "summary" in o:
                    summ = o["summary"]
            if summ is None:
                tot["xml_error"] += 1
                continue
            tot["stanzas"] += summ["stanzas"]
            tot["stanzas_typed"] += summ["typed"]
            # typed, but breaking a rule of their schema: every payload typed, nothing unknown
            viol = (summ["stanzas"] - summ["typed"]) if (summ["typed_payloads"] == summ["payloads"] and not summ["untyped"]
                                                         and not summ["unknown_children"]) else 0
            tot["stanzas_typed_violating"] += viol
            if int(num) in selected:
                tot["sel_stanzas"] += summ["stanzas"]
                tot["sel_typed"] += summ["typed"]
                tot["sel_violating"] += viol
            tot["payloads"] += summ["payloads"]
            tot["payloads_typed"] += summ["typed_payloads"]
            if has_schema:
                tot["sch_stanzas"] += summ["stanzas"]
                tot["sch_stanzas_typed"] += summ["typed"]
            out = subprocess.run([a.tool, "parse"], input=raw, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL).stdout.decode("utf-8", "replace")
            for ln in out.splitlines():
                o = json.loads(ln)
                for p in o.get("payload_data", []):
                    el = p.get("element")
                    direct_seen[el] += 1
                    if p.get("schema_type") and "invalid" not in p:
                        direct_typed.add(el)
                    elif not p.get("schema_type"):
                        untyped_direct[el] += 1
    pct = lambda x, y: round(100.0 * x / y, 1) if y else 100.0
    fig = {
        "payload_occurrences": tot["payloads"], "payload_occurrences_typed": tot["payloads_typed"],
        "payload_occurrences_typed_pct": pct(tot["payloads_typed"], tot["payloads"]),
        "distinct_direct_payloads": len(direct_seen), "distinct_direct_payloads_typed": len(direct_typed),
        "stanzas": tot["stanzas"], "stanzas_typed": tot["stanzas_typed"],
        "stanzas_typed_pct": pct(tot["stanzas_typed"], tot["stanzas"]),
        "stanzas_of_xeps_with_schema": tot["sch_stanzas"], "stanzas_of_xeps_with_schema_typed": tot["sch_stanzas_typed"],
        "stanzas_of_xeps_with_schema_typed_pct": pct(tot["sch_stanzas_typed"], tot["sch_stanzas"]),
        "examples_with_xml_errors": tot["xml_error"],
        "stanzas_typed_but_violating": tot["stanzas_typed_violating"],
    }
    if selected:
        fig.update({"selected_stanzas": tot["sel_stanzas"], "selected_typed": tot["sel_typed"],
                    "selected_typed_pct": pct(tot["sel_typed"], tot["sel_stanzas"]),
                    "selected_typed_or_violating": tot["sel_typed"] + tot["sel_violating"],
                    "selected_typed_or_violating_pct": pct(tot["sel_typed"] + tot["sel_violating"], tot["sel_stanzas"])})
    if a.json:
        print(json.dumps(fig))
        return 0
    print("payload occurrences typed:   %d of %d (%.1f%%)" % (tot["payloads_typed"], tot["payloads"],
                                                              fig["payload_occurrences_typed_pct"]))
    print("distinct direct payloads:    %d typed of %d seen" % (len(direct_typed), len(direct_seen)))
    print("stanzas typed throughout:    %d of %d (%.1f%%)" % (tot["stanzas_typed"], tot["stanzas"],
                                                              fig["stanzas_typed_pct"]))
    print("  of XEPs with a schema:     %d of %d (%.1f%%)" % (tot["sch_stanzas_typed"], tot["sch_stanzas"],
                                                              fig["stanzas_of_xeps_with_schema_typed_pct"]))
    print("  typed but breaking a rule: %d more" % tot["stanzas_typed_violating"])
    if selected:
        print("of the %d XEPs given:        %d of %d typed throughout (%.1f%%), %d (%.1f%%) counting those that"
              " break a rule" % (len(selected), tot["sel_typed"], tot["sel_stanzas"], fig["selected_typed_pct"],
                                 fig["selected_typed_or_violating"], fig["selected_typed_or_violating_pct"]))
    print("examples the parser refused: %d" % tot["xml_error"])
    print("most frequent untyped direct payloads:")
    for el, n in untyped_direct.most_common(a.untyped):
        print("  %5d  %s" % (n, el))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
