#!/usr/bin/env python3
"""pxmpp code generator: schema/*.xml -> generated/ (C headers, tables, manifest).

Usage: pxmpp_gen.py [--out DIR] [--check] [--no-validate] SCHEMA.xml...

Steps: validate each file against schema/pxmpp-schema.rng with xmllint, load
all files (cross-file references are allowed), check semantics, render the
Jinja2 templates in codegen/templates/.  Errors are printed as
`file:line: error: message` and the exit status is 1.  Output is deterministic.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import xml.parsers.expat

try:
    import jinja2
except ImportError:  # pragma: no cover - reported to the user
    sys.stderr.write(
        "pxmpp_gen: error: the Python module 'jinja2' is missing for %s.\n"
        "  On Debian/Ubuntu: apt-get install python3-jinja2 (and use /usr/bin/python3).\n"
        % sys.executable)
    sys.exit(3)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCHEMA_NS = "urn:pxmpp:schema:1"
RNG = os.path.join(ROOT, "schema", "pxmpp-schema.rng")
RUNTIME_ABI = 2
XML_NS = "http://www.w3.org/XML/1998/namespace"
PAYLOAD_POINTS = ("message", "presence", "iq", "features", "nested")
ID_SPACE = 65521  # type ids: 1..ID_SPACE, from a hash of the name (stable when types are added)
RULE_RE = re.compile(r"^(stanza\.)?(?:([a-z][a-z0-9_]*)|payload\(([a-z][a-z0-9_]*)\))(?:=(.+))?$")

GRAMMAR_HINTS = {
    "type": "allowed: string, jid, enum, bool, int, datetime, date, time, base64",
    "payload-of": "allowed: a list of message, presence, iq, features, nested",
    "point": "allowed: message, presence, iq, features, any",
    "required": "allowed: true, false",
    "top-level": "allowed: true, false",
    "stanza": "allowed: true, false",
    "unique-lang": "allowed: true, false",
    "implied": "allowed: true, false",
    "min-occurs": "allowed: a non-negative integer",
    "max-occurs": "allowed: a positive integer or unbounded",
    "maxlen": "allowed: a positive integer",
    "name": "allowed: [a-z][a-z0-9_]*",
    "ref": "allowed: [a-z][a-z0-9_]*, the name of an element",
    "enum": "allowed: [a-z][a-z0-9_]*, the name of an enum",
    "if": "allowed: a condition such as type=get|set, stanza.id or payload(name)",
    "unless": "allowed: a condition such as type=get|set, stanza.id or payload(name)",
    "requires": "allowed: a condition such as type=get|set, stanza.id or payload(name)",
    "forbids": "allowed: a condition such as type=get|set, stanza.id or payload(name)",
    "count": "allowed: a reference such as items, stanza.payloads or payload(name)",
}

C_KEYWORDS = set("""auto break case char const continue default do double else enum extern
float for goto if inline int long register restrict return short signed sizeof static struct
switch typedef union unsigned void volatile while _Bool _Complex _Imaginary bool true false
meta""".split())


class GenError(Exception):
    pass


class Node:
    """A schema XML element with its source line."""

    def __init__(self, tag, attrs, line, file):
        self.tag = tag
        self.attrs = attrs
        self.line = line
        self.file = file
        self.children = []
        self.text = ""

    def get(self, key, default=None):
        return self.attrs.get(key, default)

    def kids(self, tag=None):
        return [c for c in self.children if tag is None or c.tag == tag]

    def description(self):
        for c in self.children:
            if c.tag == "description":
                return " ".join(c.text.split())
        return ""


def load_xml(path):
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack = []
    root = []

    def start(name, attrs):
        ns, _, local = name.rpartition(" ")
        if ns != SCHEMA_NS:
            raise GenError("%s:%d: error: element '%s' is not in namespace %s"
                           % (path, parser.CurrentLineNumber, local, SCHEMA_NS))
        node = Node(local, attrs, parser.CurrentLineNumber, path)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name):
        stack.pop()

    def chars(data):
        if stack:
            stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    with open(path, "rb") as f:
        try:
            parser.ParseFile(f)
        except xml.parsers.expat.ExpatError as e:
            raise GenError("%s:%d: error: %s" % (path, e.lineno, xml.parsers.expat.ErrorString(e.code)))
    return root[0]


def validate_rng(path):
    xmllint = shutil.which("xmllint")
    if not xmllint:
        raise GenError("%s:1: error: xmllint not found (install libxml2-utils) to validate the schema" % path)
    p = subprocess.run([xmllint, "--noout", "--relaxng", RNG, path],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        lines = []
        for ln in p.stderr.splitlines():
            m = re.match(r"^(.*?):(\d+): (.*)$", ln)
            if m and not ln.endswith("fails to validate"):
                msg = m.group(3)
                h = re.search(r"Invalid attribute ([\w-]+) for element ([\w-]+)", msg)
                if h and h.group(1) in GRAMMAR_HINTS:
                    msg += " (%s)" % GRAMMAR_HINTS[h.group(1)]
                elif h:
                    msg += " (the attributes <%s> takes are listed in schema/README.md)" % h.group(2)
                lines.append("%s:%s: error: %s" % (path, m.group(2), msg))
        if not lines:
            lines = ["%s:1: error: does not validate against %s" % (path, os.path.basename(RNG))]
        raise GenError("\n".join(lines))


def c_upper(s):
    return re.sub(r"[^A-Za-z0-9]", "_", s).upper()


def c_string(s):
    if s is None:
        return "NULL"
    out = []
    for b in s.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= b < 127:
            out.append(ch)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def c_comment(s):
    return s.replace("*/", "* /")


def c_int64_min(text):
    """C has no literal for INT64_MIN (-9223372036854775808LL is unary minus applied to a
    constant too large for long long): write the initializers of the descriptor tables
    (.min, .def) as a constant expression instead."""
    return re.sub(r"= -9223372036854775808(?:LL)?(?=[,\s])", "= (-9223372036854775807LL - 1)", text)


class Model:
    def __init__(self):
        self.schemas = []
        self.enums = {}      # name -> dict
        self.types = {}      # name -> dict
        self.errors = []

    def err(self, node, msg):
        self.errors.append("%s:%d: error: %s" % (node.file, node.line, msg))

    # --- loading ---------------------------------------------------------
    def add_schema(self, path, root):
        name = root.get("name")
        for s in self.schemas:
            if s["name"] == name:
                self.err(root, "duplicate schema name '%s' (also in %s)" % (name, s["file"]))
        base = os.path.splitext(os.path.basename(path))[0]
        sch = {"name": name, "title": root.get("title"), "file": path, "base": base,
               "ns": root.get("ns"), "description": root.description(),
               "version": root.get("version"), "requires": (root.get("requires") or "").split(),
               "spec": (root.get("title") or "").split(":")[0].strip(),
               "enums": [], "types": []}
        self.schemas.append(sch)
        for node in root.children:
            if node.tag == "enum":
                self.add_enum(sch, node)
            elif node.tag == "element":
                self.add_type(sch, node)

    def add_enum(self, sch, node):
        name = node.get("name")
        if name in self.enums or name in self.types:
            self.err(node, "duplicate name '%s'" % name)
            return
        values = []
        seen = set()
        absent = "PXMPP_%s_ABSENT" % c_upper(name)
        by_cname = {}  # C name -> the value that took it
        for v in node.kids("value"):
            vn = v.get("name")
            cname = "PXMPP_%s_%s" % (c_upper(name), c_upper(vn))
            if vn in seen:
                self.err(v, "duplicate value '%s' in enum '%s'" % (vn, name))
            elif cname == absent:
                self.err(v, "enum '%s': value '%s' maps to the C name %s, which is reserved for "
                            "the absent value (0)" % (name, vn, absent))
            elif cname in by_cname:
                self.err(v, "enum '%s': values '%s' and '%s' both map to the C name %s"
                         % (name, by_cname[cname], vn, cname))
            seen.add(vn)
            by_cname.setdefault(cname, vn)
            if not re.match(r"^[A-Za-z0-9_.:-]+$", vn):
                self.err(v, "enum value '%s' has characters that cannot form a C name" % vn)
            values.append({"name": vn, "c_name": cname, "implied": v.get("implied") == "true",
                           "description": v.description(), "line": v.line})
        e = {"name": name, "c_name": "pxmpp_" + name, "upper": c_upper(name),
             "description": node.description(), "values": values, "schema": sch["name"],
             "node": node}
        self.enums[name] = e
        sch["enums"].append(e)

    def add_type(self, sch, node):
        name = node.get("name")
        if name in self.types or name in self.enums:
            self.err(node, "duplicate name '%s'" % name)
            return
        ns = node.get("ns", sch["ns"])
        if ns is None:
            self.err(node, "element '%s' has no namespace (set ns on it or on the schema)" % name)
            ns = ""
        payload_of = (node.get("payload-of") or "").split()
        ns_list = ns.split() or [""]
        if len(ns_list) > 1 and "content" in ns_list:
            self.err(node, "element '%s': the content namespace cannot be one of several" % name)
        if len(set(ns_list)) != len(ns_list):
            self.err(node, "element '%s' lists a namespace twice" % name)
        ns = ns_list[0]
        t = {"name": name, "c_name": "pxmpp_" + name, "upper": c_upper(name),
             "local": node.get("local", name), "ns": None if ns == "content" else ns,
             "ns_list": ns_list if len(ns_list) > 1 else None, "rules": [],
             "description": node.description(), "payload_of": payload_of,
             "top_level": node.get("top-level") == "true", "stanza": node.get("stanza") == "true",
             "mixed": node.get("mixed") == "true",
             "fields": [], "schema": sch["name"], "node": node}
        names = set()
        for f in node.children:
            if f.tag == "description":
                continue
            if f.tag == "rule":
                t["rules"].append({"node": f, "source": f.get("source"), "description": f.description(),
                                   "if": f.get("if"), "unless": f.get("unless"), "requires": f.get("requires"),
                                   "forbids": f.get("forbids"), "count": f.get("count"),
                                   "min": f.get("min"), "max": f.get("max")})
                continue
            fd = self.make_field(t, f)
            if fd is None:
                continue
            # C members the field declares (list counts end in _count, which is reserved)
            members = [fd["name"]] + ([fd["name"] + "_text"] if fd["kind"] == "CONDITION" else [])
            if fd["name"] in names:
                self.err(f, "duplicate field name '%s' in element '%s'" % (fd["name"], name))
            elif members[-1] in names:
                self.err(f, "condition '%s' needs the member name '%s', already used in element '%s'"
                         % (fd["name"], members[-1], name))
            names.update(members)
            t["fields"].append(fd)
        self.types[name] = t
        sch["types"].append(t)

    def make_field(self, t, f):
        kind = {"attribute": "ATTR", "text": "TEXT", "child": "CHILD", "text-child": "TEXT_CHILD",
                "lang-text": "LANG_TEXT", "flag": "FLAG", "condition": "CONDITION",
                "payloads": "PAYLOADS", "element-name": "NAME"}[f.tag]
        name = f.get("name")
        if name in C_KEYWORDS or name.endswith("_count"):
            self.err(f, "field name '%s' is reserved" % name)
        fd = {"kind": kind, "name": name, "node": f, "description": f.description(),
              "local": f.get("local", name if kind == "ATTR" else None),
              "ns": f.get("ns"), "vtype": f.get("type", "string"),
              "enum": f.get("enum"), "required": f.get("required") == "true",
              "min_occurs": int(f.get("min-occurs", "0")), "max_occurs": f.get("max-occurs", "1"),
              "maxlen": int(f.get("maxlen", "0")), "min": f.get("min"), "max": f.get("max"),
              "default": f.get("default"), "unique_lang": f.get("unique-lang") == "true",
              "ref": f.get("ref"), "point": f.get("point"), "attr": f.get("attr")}
        if kind in ("LANG_TEXT", "PAYLOADS"):
            if "max-occurs" not in f.attrs:
                fd["max_occurs"] = "unbounded"
        if kind in ("CONDITION", "NAME"):
            fd["vtype"] = "enum"
        if fd["max_occurs"] == "unbounded":
            fd["max_occurs"] = 0
        else:
            fd["max_occurs"] = int(fd["max_occurs"])
        if kind in ("CHILD", "TEXT_CHILD") and fd["min_occurs"] >= 1:
            fd["required"] = True
        fd["list"] = kind in ("LANG_TEXT", "PAYLOADS") or (
            kind in ("CHILD", "TEXT_CHILD") and fd["max_occurs"] != 1)
        if fd["max_occurs"] and fd["min_occurs"] > fd["max_occurs"]:
            self.err(f, "min-occurs %d is greater than max-occurs %d" % (fd["min_occurs"], fd["max_occurs"]))
        return fd

    # --- semantic checks and resolution ------------------------------------
    def resolve(self):
        for t in self.types.values():
            attr_count = 0
            for fd in t["fields"]:
                f = fd["node"]
                if fd["kind"] == "ATTR":
                    attr_count += 1
                if fd["vtype"] == "enum" or fd["kind"] == "CONDITION":
                    if not fd["enum"]:
                        self.err(f, "field '%s' has type enum but no enum attribute" % fd["name"])
                    elif fd["enum"] not in self.enums:
                        self.err(f, "undefined enum '%s'" % fd["enum"])
                elif fd["enum"]:
                    self.err(f, "attribute enum='%s' needs type='enum'" % fd["enum"])
                if fd["kind"] == "CHILD":
                    if fd["ref"] not in self.types:
                        self.err(f, "undefined element '%s'" % fd["ref"])
                if fd["min"] is not None or fd["max"] is not None:
                    if fd["vtype"] != "int":
                        self.err(f, "min/max need type='int'")
                    else:
                        lo = int(fd["min"]) if fd["min"] is not None else -(2 ** 63)
                        hi = int(fd["max"]) if fd["max"] is not None else 2 ** 63 - 1
                        if lo > hi:
                            self.err(f, "bad range: min %d is greater than max %d" % (lo, hi))
                        if lo < -(2 ** 63) or hi > 2 ** 63 - 1:
                            self.err(f, "bad range: outside 64-bit integers")
                if fd["vtype"] == "int":
                    lo = int(fd["min"]) if fd["min"] is not None else -(2 ** 63)
                    hi = int(fd["max"]) if fd["max"] is not None else 2 ** 63 - 1
                    fd["lo"], fd["hi"] = lo, hi
                    fd["width"] = 4 if (lo >= -(2 ** 31) and hi < 2 ** 31) else 8
                if fd["kind"] == "PAYLOADS" and not t["stanza"] and t["name"] != "stream_features":
                    pass
            if attr_count > 32 or len(t["fields"]) > 32:
                self.err(t["node"], "element '%s' has more than 32 fields" % t["name"])
            if sum(1 for fd in t["fields"] if fd["kind"] == "TEXT") > 1:
                self.err(t["node"], "element '%s' has more than one text field" % t["name"])
            t["point"] = next((fd["point"] for fd in t["fields"] if fd["kind"] == "PAYLOADS"), None)
            names = [(i, fd) for i, fd in enumerate(t["fields"]) if fd["kind"] == "NAME"]
            t["names"] = None
            if len(names) > 1:
                self.err(names[1][1]["node"], "element '%s' has more than one element-name field" % t["name"])
            elif names and names[0][1]["enum"] in self.enums:
                i, fd = names[0]
                if t["node"].get("local") is not None:
                    self.err(t["node"], "element '%s': local and an element-name field exclude each other" % t["name"])
                vals = [v for v in self.enums[fd["enum"]]["values"] if not v["implied"]]
                for v in vals:
                    if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", v["name"]):
                        self.err(fd["node"], "enum value '%s' cannot be an element name" % v["name"])
                if vals:
                    t["local"] = vals[0]["name"]
                    t["names"] = {"enum": fd["enum"], "field": i, "values": [v["name"] for v in vals]}
            if sum(1 for fd in t["fields"] if fd["kind"] == "PAYLOADS") > 1:
                self.err(t["node"], "element '%s' has more than one payloads field" % t["name"])
            # duplicate XML names among attributes / children
            seen = {}
            for fd in t["fields"]:
                if fd["kind"] in ("TEXT", "PAYLOADS", "CONDITION", "NAME"):
                    continue
                if fd["kind"] == "CHILD":
                    if fd["ref"] not in self.types:
                        continue  # reported above as an undefined element
                    ref = self.types[fd["ref"]]
                    key = (False, ref["ns"], ref["local"])
                else:
                    key = (fd["kind"] == "ATTR", fd["ns"], fd["local"])
                if key in seen:
                    self.err(fd["node"], "'%s' is already described by field '%s'" % (key[2], seen[key]))
                seen[key] = fd["name"]
        if self.errors:
            return
        # defaults
        for t in self.types.values():
            for fd in t["fields"]:
                self.resolve_default(fd)
        # payload points
        for t in self.types.values():
            for p in t["payload_of"]:
                if p not in PAYLOAD_POINTS:
                    self.err(t["node"], "unknown payload point '%s'" % p)
        # (ns, local) uniqueness for top-level and payload types
        keyed = {}
        for name in sorted(self.types):
            t = self.types[name]
            if t["top_level"] or t["payload_of"]:
                for ns in (t["ns_list"] or [t["ns"]]):
                    for local in (t["names"]["values"] if t.get("names") else [t["local"]]):
                        key = (ns, local)
                        if key in keyed:
                            self.err(t["node"], "element {%s}%s is already described by '%s'"
                                     % (ns or "content", local, keyed[key]))
                        keyed[key] = t["name"]
        # ids: from a hash of the name, so that adding a type leaves the others' ids alone
        taken = set()
        for name in sorted(self.types):
            i = fnv1a(name.encode()) % ID_SPACE + 1
            while i in taken:
                i = i % ID_SPACE + 1
            taken.add(i)
            self.types[name]["id"] = i
        for t in self.types.values():
            for r in t["rules"]:
                self.resolve_rule(t, r)

    def parse_ref(self, t, r, text, what, allow_values):
        m = RULE_RE.match(text)
        if not m:
            self.err(r["node"], "rule: cannot read %s '%s'" % (what, text))
            return None
        scope = "STANZA" if m.group(1) else "SELF"
        ref = {"scope": scope, "field": m.group(2), "payload": m.group(3), "values": None, "deferred": False,
               "index": -1, "ints": None}
        if m.group(4) is not None:
            if not allow_values:
                self.err(r["node"], "rule: %s '%s' cannot compare values" % (what, text))
                return None
            ref["values"] = m.group(4).split("|")
        fields = []
        if scope == "SELF":
            fields = [t]
        else:
            fields = [x for x in self.types.values() if x["stanza"]]
            if not fields:
                self.err(r["node"], "rule: '%s' names the stanza, but no element of the run is a stanza" % text)
                return None
        if ref["payload"]:
            if ref["payload"] not in self.types:
                self.err(r["node"], "rule: undefined element '%s' in '%s'" % (ref["payload"], text))
                return None
            if scope == "SELF" and not any(fd["kind"] == "PAYLOADS" for fd in t["fields"]):
                self.err(r["node"], "rule: '%s' needs a payloads field in element '%s'" % (text, t["name"]))
                return None
            if ref["values"]:
                self.err(r["node"], "rule: payload(...) cannot compare values")
                return None
            ref["deferred"] = scope == "STANZA"
            return ref
        found = [fd for x in fields for fd in x["fields"] if fd["name"] == ref["field"]]
        if scope == "SELF" and found:
            ref["index"] = t["fields"].index(found[0])
        # a stanza's lists (bodies, payloads, ...) are gathered when it ends: wait for that
        ref["deferred"] = scope == "STANZA" and any(fd["kind"] != "ATTR" for fd in found)
        if not found:
            self.err(r["node"], "rule: '%s' names no field of %s" % (
                text, "element '%s'" % t["name"] if scope == "SELF" else "any stanza element"))
            return None
        if ref["values"]:
            valued = [fd for fd in found if fd["kind"] in ("ATTR", "TEXT", "TEXT_CHILD", "NAME") and not fd["list"]]
            if not valued:
                self.err(r["node"], "rule: only attributes, text and single text-children have a value ('%s')" % text)
                return None
            enums = [self.enums[fd["enum"]] for fd in valued if fd["vtype"] == "enum"]
            if enums and len(enums) == len(valued):
                # each value must be a value of the enum (of one of the stanzas, for stanza.f)
                for v in ref["values"]:
                    if not any(v in [x["name"] for x in e["values"]] for e in enums):
                        self.err(r["node"], "rule: '%s' is not a value of enum '%s'" % (v, enums[0]["name"]))
                        return None
                if scope == "SELF":
                    names = [x["name"] for x in enums[0]["values"]]
                    ref["ints"] = [names.index(v) + 1 for v in ref["values"]]
        return ref

    def resolve_rule(self, t, r):
        ops = [k for k in ("requires", "forbids", "count") if r[k] is not None]
        r["op"] = ops[0].upper() if ops else "REQUIRES"
        r["when"] = self.parse_ref(t, r, r["if"], "condition", True) if r["if"] else None
        r["unless_ref"] = self.parse_ref(t, r, r["unless"], "condition", True) if r["unless"] else None
        r["target"] = self.parse_ref(t, r, r[ops[0]], "reference", ops[0] != "count") if ops else None
        lo = int(r["min"]) if r["min"] is not None else 0
        hi = int(r["max"]) if r["max"] is not None else 4294967295
        if r["op"] == "COUNT" and lo > hi:
            self.err(r["node"], "rule: min %d is greater than max %d" % (lo, hi))
        r["lo"], r["hi"] = lo, hi
        r["deferred"] = any(x and x["deferred"] for x in (r["when"], r["unless_ref"], r["target"]))

    def resolve_default(self, fd):
        d = fd["default"]
        f = fd["node"]
        fd["def"] = 0
        fd["has_default"] = d is not None
        if d is None:
            return
        if fd["required"]:
            self.err(f, "a required value cannot have a default (it is never absent)")
            return
        vt = fd["vtype"]
        if vt == "enum":
            e = self.enums[fd["enum"]]
            idx = [v["name"] for v in e["values"]]
            if d not in idx:
                self.err(f, "default '%s' is not a value of enum '%s'" % (d, fd["enum"]))
            else:
                fd["def"] = idx.index(d) + 1
        elif vt == "bool":
            if d not in ("true", "false", "1", "0"):
                self.err(f, "default '%s' is not a boolean" % d)
            fd["def"] = 1 if d in ("true", "1") else 0
        elif vt == "int":
            try:
                v = int(d)
            except ValueError:
                self.err(f, "default '%s' is not an integer" % d)
                return
            if not fd["lo"] <= v <= fd["hi"]:
                self.err(f, "default %d is outside the range %d..%d" % (v, fd["lo"], fd["hi"]))
            fd["def"] = v
        else:
            self.err(f, "defaults are only allowed on enum, bool and int values")

    # --- C rendering helpers ---------------------------------------------
    def c_value_type(self, fd):
        vt = fd["vtype"]
        if vt == "enum":
            return "pxmpp_" + fd["enum"]
        if vt == "bool":
            return "bool"
        if vt == "int":
            return "int32_t" if fd["width"] == 4 else "int64_t"
        return "const char *"

    @staticmethod
    def decl(ctype, name):
        return ctype + name if ctype.endswith("*") else ctype + " " + name

    def c_members(self, fd):
        """[(declaration, comment)] for a field."""
        k = fd["kind"]
        n = fd["name"]
        d = c_comment(fd["description"])
        if k in ("ATTR", "TEXT"):
            return [(self.decl(self.c_value_type(fd), n) + ";", d)]
        if k == "FLAG":
            return [("bool %s;" % n, d)]
        if k == "NAME":
            return [("pxmpp_%s %s;" % (fd["enum"], n), d + " (the element's own name)")]
        if k == "CONDITION":
            return [("pxmpp_%s %s;" % (fd["enum"], n), d),
                    ("const char *%s_text;" % n, "Text content of the condition element, NULL when empty.")]
        if k == "PAYLOADS":
            return [("const pxmpp_payload *%s;" % n, d), ("size_t %s_count;" % n, None)]
        if k == "LANG_TEXT":
            return [("const pxmpp_lang_text *%s;" % n, d), ("size_t %s_count;" % n, None)]
        if k == "CHILD":
            ct = "const pxmpp_%s *" % fd["ref"]
            if fd["list"]:
                return [("%s%s;" % (ct, n), d + " (array)"), ("size_t %s_count;" % n, None)]
            return [("%s%s;" % (ct, n), d + " NULL when absent.")]
        if k == "TEXT_CHILD":
            vt = self.c_value_type(fd)
            if fd["list"]:
                if vt.endswith("*"):
                    return [("const char *const *%s;" % n, d + " (array)"), ("size_t %s_count;" % n, None)]
                return [("const %s *%s;" % (vt, n), d + " (array)"), ("size_t %s_count;" % n, None)]
            return [(self.decl(vt, n) + ";", d)]
        raise AssertionError(k)

    def manifest_c_type(self, fd):
        k = fd["kind"]
        if k == "FLAG":
            return "bool"
        if k in ("CONDITION", "NAME"):
            return "pxmpp_" + fd["enum"]
        if k == "PAYLOADS":
            return "const pxmpp_payload *"
        if k == "LANG_TEXT":
            return "const pxmpp_lang_text *"
        if k == "CHILD":
            return "const pxmpp_%s *" % fd["ref"]
        if k == "TEXT_CHILD" and fd["list"]:
            vt = self.c_value_type(fd)
            return "const char *const *" if vt.endswith("*") else "const %s *" % vt
        return self.c_value_type(fd).strip()


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def registry_index(types):
    """The open-addressing hash table of pxmpp_registry.index (see pxmpp/types.h)."""
    entries = []
    for pos, t in enumerate(types):
        if t["top_level"] or t["payload_of"]:
            for ns in (t["ns_list"] or [t["ns"] or ""]):
                for local in (t["names"]["values"] if t.get("names") else [t["local"]]):
                    entries.append((ns, local, pos + 1))
    size = 64
    while size < 2 * len(entries):
        size *= 2
    slots = [0] * size
    for ns, local, v in entries:
        h = fnv1a(ns.encode() + b"\0" + local.encode()) & (size - 1)
        while slots[h]:
            h = (h + 1) & (size - 1)
        slots[h] = v
    return slots


def referenced_schemas(m, t):
    """The schemas whose declarations type t names: <child> types, enums, payload(t) of rules
    (what its generated header must include)."""
    refs = set()
    for fd in t["fields"]:
        if fd["kind"] == "CHILD" and fd["ref"] in m.types:
            refs.add(m.types[fd["ref"]]["schema"])
        if fd["enum"] and fd["enum"] in m.enums:
            refs.add(m.enums[fd["enum"]]["schema"])
    for r in t["rules"]:
        for ref in (r.get("when"), r.get("unless_ref"), r.get("target")):
            if ref and ref["payload"] in m.types:
                refs.add(m.types[ref["payload"]]["schema"])
    refs.discard(t["schema"])
    return refs


def schema_deps(m):
    """{schema name: set of the schema names it needs}: what its types name, what it `requires`,
    and the stanza schemas when a rule speaks of the stanza."""
    deps = {sch["name"]: set(sch["requires"]) for sch in m.schemas}
    for t in m.types.values():
        need = deps[t["schema"]]
        need |= referenced_schemas(m, t)
        for r in t["rules"]:
            if any(ref and ref["scope"] == "STANZA" for ref in (r.get("when"), r.get("unless_ref"), r.get("target"))):
                need.update(x["schema"] for x in m.types.values() if x["stanza"])
        need.discard(t["schema"])
    return deps


# Always compiled in: XMPP Core and IM, and what the runtime's sessions use themselves
# (XEP-0199 pings the client answers, XEP-0198 stream management, XEP-0440 channel-binding
# types, XEP-0114's handshake of the component session, XEP-0030 disco#info the server session
# answers).
CORE_SCHEMAS = ("rfc6120", "rfc6121", "xep0030", "xep0114", "xep0198", "xep0199", "xep0440")


def select_paths(paths, names, validate=True):
    """The files of the schemas named (plus the core and everything they need), in the order
    of paths.  Raises GenError for an unknown name."""
    m = build_model(paths, validate)
    by_name = {sch["name"]: sch["file"] for sch in m.schemas}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise GenError("pxmpp_gen: error: unknown schema '%s' in the selection (known: %s)"
                       % (unknown[0], " ".join(sorted(by_name))))
    deps = schema_deps(m)
    want = set(n for n in CORE_SCHEMAS if n in by_name) | set(names)
    todo = list(want)
    added = []
    while todo:
        n = todo.pop()
        for d in sorted(deps.get(n, ())):
            if d not in want:
                if d not in by_name:
                    raise GenError("pxmpp_gen: error: schema '%s' needs '%s', which is not among the files" % (n, d))
                want.add(d)
                todo.append(d)
                added.append((d, n))
    return [p for p in paths if any(by_name[n] == p for n in want)], added


def build_model(paths, validate=True):
    m = Model()
    for p in paths:
        if validate:
            validate_rng(p)
        root = load_xml(p)
        m.add_schema(p, root)
    if not m.errors:
        m.resolve()
    if m.errors:
        raise GenError("\n".join(m.errors))
    return m


def manifest(m):
    types = []
    for name in sorted(m.types):
        t = m.types[name]
        fields = []
        for i, fd in enumerate(t["fields"]):
            e = {"index": i, "name": fd["name"], "kind": fd["kind"].lower().replace("_", "-"),
                 "c_type": m.manifest_c_type(fd), "required": fd["required"],
                 "list": fd["list"], "description": fd["description"]}
            if fd["kind"] in ("ATTR", "TEXT_CHILD", "LANG_TEXT", "FLAG", "CHILD"):
                e["xml"] = fd["local"] if fd["kind"] != "CHILD" else m.types[fd["ref"]]["local"]
            if fd.get("attr"):
                e["value_attribute"] = fd["attr"]
            if fd["ns"]:
                e["namespace"] = fd["ns"]
            if fd["kind"] in ("ATTR", "TEXT", "TEXT_CHILD"):
                e["value_type"] = fd["vtype"]
            if fd["enum"]:
                e["enum"] = fd["enum"]
            if fd["kind"] == "CHILD":
                e["element"] = fd["ref"]
            if fd["vtype"] == "int":
                e["min"], e["max"] = fd["lo"], fd["hi"]
            if fd.get("has_default"):
                e["default"] = fd["default"]
            if fd["kind"] in ("CHILD", "TEXT_CHILD", "LANG_TEXT", "PAYLOADS"):
                e["min_occurs"] = fd["min_occurs"]
                e["max_occurs"] = fd["max_occurs"] or "unbounded"
            if fd["maxlen"]:
                e["maxlen"] = fd["maxlen"]
            fields.append(e)
        rules = []
        for r in t["rules"]:
            e = {"source": r["source"], "description": r["description"]}
            for k in ("if", "unless", "requires", "forbids", "count", "min", "max"):
                if r[k] is not None:
                    e[k] = r[k]
            rules.append(e)
        types.append({"name": name, "c_type": t["c_name"], "element": t["local"],
                      "namespace": t["ns"] if t["ns"] is not None else "(stream content namespace)",
                      **({"namespaces": t["ns_list"]} if t["ns_list"] else {}),
                      **({"rules": rules} if rules else {}),
                      "schema": t["schema"], "payload_of": t["payload_of"],
                      "top_level": t["top_level"], "stanza": t["stanza"],
                      "descriptor": t["c_name"] + "_desc",
                      "description": t["description"], "fields": fields})
    enums = []
    for name in sorted(m.enums):
        e = m.enums[name]
        enums.append({"name": name, "c_type": e["c_name"], "schema": e["schema"],
                      "description": e["description"],
                      "values": [{"value": 0, "c_name": "PXMPP_%s_ABSENT" % e["upper"], "xml": None,
                                  "description": "absent"}] +
                                [{"value": i + 1, "c_name": v["c_name"],
                                  "xml": None if v["implied"] else v["name"],
                                  "description": v["description"]} for i, v in enumerate(e["values"])]})
    return {"pxmpp_manifest": 1, "runtime_abi": RUNTIME_ABI,
            "schemas": [dict({"name": s["name"], "title": s["title"], "file": "schema/" + os.path.basename(s["file"])},
                             **({"version": s["version"]} if s["version"] else {}))
                        for s in m.schemas],
            "types": types, "enums": enums}


def render(m, outdir):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["c_string"] = c_string
    env.filters["c_comment"] = c_comment
    env.filters["upper_c"] = c_upper
    files = {}
    ctx = {"m": m, "abi": RUNTIME_ABI, "XML_NS": XML_NS, "points": PAYLOAD_POINTS}
    for s in m.schemas:
        deps = sorted(set().union(*[referenced_schemas(m, t) for t in s["types"]]))
        c = dict(ctx, s=s, deps=deps)
        files["include/pxmpp/gen/%s.h" % s["name"]] = env.get_template("schema.h.j2").render(c)
        files["src/%s.c" % s["name"]] = c_int64_min(env.get_template("schema.c.j2").render(c))
    stanzas = [m.types[n] for n in ("message", "presence", "iq") if n in m.types]
    points = {p: [m.types[n] for n in sorted(m.types) if p in m.types[n]["payload_of"]] for p in PAYLOAD_POINTS}
    types = [m.types[n] for n in sorted(m.types)]
    c = dict(ctx, stanzas=stanzas, points=points, types=types, index=registry_index(types))
    files["include/pxmpp/gen/all.h"] = env.get_template("all.h.j2").render(c)
    files["src/registry.c"] = env.get_template("registry.c.j2").render(c)
    files["manifest.json"] = json.dumps(manifest(m), indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    env.filters["md"] = lambda x: str(x).replace("|", "\\|").replace("<", "&lt;")

    def where(t):
        w = []
        if t["top_level"]:
            w.append("top level")
        w += ["in " + p if p != "nested" else "nested" for p in t["payload_of"]]
        return ", ".join(w) or "child"
    files["REFERENCE.md"] = env.get_template("reference.md.j2").render(dict(c, where=where))
    return files


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "generated"))
    ap.add_argument("--check", action="store_true",
                    help="compare with the files in --out instead of writing; exit 1 when stale")
    ap.add_argument("--no-validate", action="store_true", help="skip the RELAX NG validation")
    ap.add_argument("--select", metavar="NAMES",
                    help="generate only these schemas (names, separated by commas or semicolons; 'all' for "
                         "every one), the core and what they need")
    ap.add_argument("--list", action="store_true",
                    help="print the names of the schemas that would be generated, one per line, and exit")
    ap.add_argument("schemas", nargs="*")
    a = ap.parse_args(argv)
    paths = a.schemas or sorted(
        os.path.join(ROOT, "schema", f) for f in os.listdir(os.path.join(ROOT, "schema"))
        if f.endswith(".xml"))
    try:
        if a.select and a.select.strip().lower() != "all":
            names = [n for n in re.split(r"[,;\s]+", a.select) if n]
            paths, added = select_paths(paths, names, validate=not a.no_validate)
            for d, n in added:
                sys.stderr.write("pxmpp_gen: note: schema '%s' added to the selection: '%s' needs it\n" % (d, n))
        m = build_model(paths, validate=not a.no_validate)
        if a.list:
            for sch in m.schemas:
                print(sch["name"])
            return 0
        files = render(m, a.out)
    except GenError as e:
        sys.stderr.write(str(e) + "\n")
        return 1
    stale = []
    for rel, text in sorted(files.items()):
        path = os.path.join(a.out, rel)
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old == text:
            continue
        if a.check:
            stale.append(rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    # files in out that the generator no longer produces
    if os.path.isdir(a.out):
        for dp, _, fns in os.walk(a.out):
            for fn in fns:
                rel = os.path.relpath(os.path.join(dp, fn), a.out)
                if rel not in files:
                    if a.check:
                        stale.append(rel + " (not produced by the generator)")
                    elif fn.endswith((".h", ".c", ".json")):
                        os.remove(os.path.join(dp, fn))
    if stale:
        sys.stderr.write("pxmpp_gen: generated/ is stale; run codegen/pxmpp_gen.py. Differs:\n  "
                         + "\n  ".join(stale) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
