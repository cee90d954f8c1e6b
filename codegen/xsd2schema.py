#!/usr/bin/env python3
"""xsd2schema: import an XML Schema (XSD 1.0) as a pxmpp schema file.

Usage: xsd2schema.py [-o OUT.xml] [--name NAME] [--hints HINTS.xml] FILE.xsd

Reads one XSD and writes one schema file in the language of schema/README.md
(to standard output without -o).  Constructs that pxmpp cannot express are
reported as `FILE:LINE: warning: ...` and mapped to the nearest safe form (a
string, an `any` payloads point, ...).  An XSD that cannot be imported at all
(not well-formed, undefined entities, no global element declaration, no target
namespace) is reported as `FILE:LINE: error: ...` and nothing is written.

Exit status: 0 when the schema was written, 1 when the XSD (or the hints file)
cannot be imported, 2 for a usage error.

Only the Python standard library is used.  See "Importing an XSD" in
schema/README.md for the mapping, the defaults and the hints file format.
"""
import argparse
import os
import re
import sys
import tempfile
import xml.parsers.expat

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
XS = "http://www.w3.org/2001/XMLSchema"
XML_NS = "http://www.w3.org/XML/1998/namespace"
SCHEMA_NS = "urn:pxmpp:schema:1"
HINTS_NS = "urn:pxmpp:xsd-hints:1"
INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
MAX_FIELDS = 32
IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
ENUM_VALUE_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
POINTS = ("message", "presence", "iq", "features", "nested")
DEFAULT_PAYLOAD_OF = ["message", "presence", "iq"]
VALUE_TYPES = ("string", "jid", "bool", "int", "datetime", "date", "time", "base64")
STRING_LIKE = ("string", "jid", "datetime", "date", "time", "base64")

# Names a struct member may not have: C and C++ keywords, lowercase macros of the
# C library and of GCC's GNU modes, and what the generator reserves.
RESERVED_FIELDS = set("""
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while alignas alignof bool constexpr false nullptr
static_assert thread_local true typeof typeof_unqual complex imaginary noreturn
asm and and_eq bitand bitor catch char8_t char16_t char32_t class compl concept consteval
constinit const_cast co_await co_return co_yield decltype delete dynamic_cast explicit
export friend module mutable namespace new not not_eq operator or or_eq private protected
public reinterpret_cast requires static_cast template this throw try typeid typename
using virtual wchar_t xor xor_eq import
linux unix i386 errno assert offsetof setjmp va_arg va_start va_end va_copy
meta
""".split())
# Suffixes that would make an element's or enum's C names collide with the tables
# the generator derives from other names.
RESERVED_SUFFIXES = ("_desc", "_str", "_fields", "_values", "_names", "_ns_list", "_rules")

BUILTIN_STRINGS = set("""string normalizedString token NMTOKEN NMTOKENS Name NCName ID IDREF IDREFS
ENTITY ENTITIES language anyURI QName NOTATION hexBinary duration decimal float double gYear
gYearMonth gMonth gMonthDay gDay anySimpleType anyAtomicType yearMonthDuration
dayTimeDuration""".split())
BUILTIN_INTS = {
    "integer": (None, None), "long": (INT64_MIN, INT64_MAX), "int": (-2 ** 31, 2 ** 31 - 1),
    "short": (-32768, 32767), "byte": (-128, 127), "nonNegativeInteger": (0, None),
    "positiveInteger": (1, None), "nonPositiveInteger": (None, 0), "negativeInteger": (None, -1),
    "unsignedLong": (0, 2 ** 64 - 1), "unsignedInt": (0, 2 ** 32 - 1),
    "unsignedShort": (0, 65535), "unsignedByte": (0, 255),
}
BUILTIN_OTHER = {"boolean": "bool", "dateTime": "datetime", "dateTimeStamp": "datetime",
                 "date": "date", "time": "time", "base64Binary": "base64"}
BUILTINS = BUILTIN_STRINGS | set(BUILTIN_INTS) | set(BUILTIN_OTHER) | {"anyType"}


class Fatal(Exception):
    """The input cannot be imported: FILE:LINE: error: MESSAGE."""

    def __init__(self, path, line, msg):
        Exception.__init__(self, "%s:%d: error: %s" % (path, line or 1, msg))


class Log:
    def __init__(self, path):
        self.path = path
        self.seen = set()
        self.count = 0

    def warn(self, line, msg, path=None):
        key = (path, line, msg)
        if key in self.seen:
            return
        self.seen.add(key)
        self.count += 1
        sys.stderr.write("%s:%d: warning: %s\n" % (path or self.path, line or 1, msg))


# --- XML reading -------------------------------------------------------------

class XNode:
    __slots__ = ("ns", "local", "attrs", "line", "nsmap", "children", "parent", "text")

    def __init__(self, ns, local, attrs, line, nsmap, parent):
        self.ns = ns
        self.local = local
        self.attrs = attrs
        self.line = line
        self.nsmap = nsmap
        self.children = []
        self.parent = parent
        self.text = ""

    def get(self, key, default=None):
        return self.attrs.get(key, default)

    def xs(self, *names):
        return [c for c in self.children if c.ns == XS and (not names or c.local in names)]


def parse_xml(path):
    """Parse PATH with expat into XNodes (namespaces resolved, lines kept)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Fatal(path, 1, "cannot read the file: %s" % (e.strerror or e))
    p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    stack = []
    root = []
    pending = []

    def start_ns(prefix, uri):
        pending.append((prefix or "", uri or None))

    def start(name, attrs):
        ns, _, local = name.rpartition(" ")
        parent = stack[-1] if stack else None
        nsmap = parent.nsmap if parent else {"xml": XML_NS}
        if pending:
            nsmap = dict(nsmap)
            for k, v in pending:
                nsmap[k] = v
            del pending[:]
        a = {}
        for k, v in attrs.items():
            if " " in k:
                an, _, al = k.rpartition(" ")
                a["{%s}%s" % (an, al)] = v
            else:
                a[k] = v
        node = XNode(ns or None, local, a, p.CurrentLineNumber, nsmap, parent)
        if parent:
            parent.children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name):
        stack.pop()

    def chars(data):
        if stack:
            stack[-1].text += data

    def skipped(name, is_param):
        raise Fatal(path, p.CurrentLineNumber, "undefined entity '%s%s;'" % ("%" if is_param else "&", name))

    def external(context, base, system_id, public_id):
        raise Fatal(path, p.CurrentLineNumber, "external entity '%s' is not loaded" % (system_id or public_id))

    p.StartNamespaceDeclHandler = start_ns
    p.StartElementHandler = start
    p.EndElementHandler = end
    p.CharacterDataHandler = chars
    p.SkippedEntityHandler = skipped
    p.ExternalEntityRefHandler = external
    try:
        p.Parse(data, True)
    except xml.parsers.expat.ExpatError as e:
        raise Fatal(path, e.lineno, "not well-formed XML: %s" % xml.parsers.expat.ErrorString(e.code))
    except (LookupError, ValueError) as e:  # unknown encoding in the XML declaration
        raise Fatal(path, 1, "cannot decode the file: %s" % e)
    return root[0]


# --- names -------------------------------------------------------------------

def c_upper(s):
    return re.sub(r"[^A-Za-z0-9]", "_", s).upper()


def snake(s):
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).lower()
    return re.sub(r"_+", "_", s).strip("_")


def ident(s, fallback="x"):
    s = snake(s or "")
    if not s:
        return fallback
    if not s[0].isalpha():
        s = fallback + "_" + s
    return s


def ns_prefix(ns):
    """A short name for a namespace: its last segment that is not a version."""
    segs = [x for x in re.split(r"[:/]+", ns or "") if x]
    for seg in reversed(segs):
        if re.match(r"^(v?\d+([._-]\d+)*|\d.*)$", seg, re.I):
            continue
        if re.match(r"^(www\.)?[a-z0-9-]+(\.[a-z0-9-]+)+$", seg, re.I) and seg is segs[0]:
            continue
        p = ident(seg, "ns")
        if p:
            return p
    return "ns"


def element_ids(name, fields):
    """C identifiers the generator derives from an element and its fields."""
    u = c_upper(name)
    ids = {"pxmpp_" + name, "pxmpp_%s_desc" % name, "pxmpp_%s_fields" % name,
           "pxmpp_%s_ns_list" % name, "pxmpp_%s_rules" % name, "PXMPP_TYPE_" + u,
           "pxmpp_payload_as_" + name, "pxmpp_message_get_" + name, "pxmpp_presence_get_" + name,
           "pxmpp_iq_get_" + name, "pxmpp_stream_features_get_" + name}
    for kind, fname, is_list in fields:
        # presence bits exist for attributes and single text-children; reserved for
        # every field, so that the names stay valid if more kinds get one
        ids.add("PXMPP_%s_HAS_%s" % (u, c_upper(fname)))
    return ids


def enum_ids(name, values):
    u = c_upper(name)
    ids = {"pxmpp_" + name, "pxmpp_%s_desc" % name, "pxmpp_%s_values" % name,
           "pxmpp_%s_names" % name, "pxmpp_%s_str" % name, "PXMPP_%s_ABSENT" % u}
    for v in values:
        ids.add("PXMPP_%s_%s" % (u, c_upper(v)))
    return ids


class Reserved:
    """Names and C identifiers already taken by the runtime and the core schemas."""

    def __init__(self):
        self.names = set()
        self.ids = set()
        self.schemas = {"all", "registry"}
        self.payload_keys = {}  # (ns, local) -> element name, for payload/top-level core elements
        inc = os.path.join(ROOT, "runtime", "include", "pxmpp")
        if os.path.isdir(inc):
            for fn in sorted(os.listdir(inc)):
                if fn.endswith(".h"):
                    try:
                        with open(os.path.join(inc, fn), encoding="utf-8", errors="replace") as f:
                            self.ids.update(re.findall(r"\b(?:pxmpp|PXMPP)_\w+", f.read()))
                    except OSError:
                        pass
        sdir = os.path.join(ROOT, "schema")
        if os.path.isdir(sdir):
            for fn in sorted(os.listdir(sdir)):
                if fn.startswith("rfc") and fn.endswith(".xml"):
                    self.load_core(os.path.join(sdir, fn))

    def load_core(self, path):
        try:
            root = parse_xml(path)
        except Fatal:
            return
        if root.ns != SCHEMA_NS:
            return
        if root.get("name"):
            self.schemas.add(root.get("name"))
        for n in root.children:
            name = n.get("name")
            if not name:
                continue
            self.names.add(name)
            if n.local == "enum":
                self.ids |= enum_ids(name, [v.get("name", "") for v in n.children if v.local == "value"])
            elif n.local == "element":
                fields = [(f.local, f.get("name", ""), f.get("max-occurs", "1") != "1")
                          for f in n.children if f.local not in ("description", "rule")]
                self.ids |= element_ids(name, fields)
                if n.get("top-level") == "true" or n.get("payload-of"):
                    for ns in (n.get("ns", root.get("ns")) or "").split():
                        for x in (("jabber:client", "jabber:server") if ns == "content" else (ns,)):
                            self.payload_keys[(x, n.get("local", name))] = name


# --- value types -------------------------------------------------------------

class VS:
    """A value type: type, enum values, int range, maxlen.  'empty' means no text allowed."""

    def __init__(self, type="string", values=None, lo=None, hi=None, maxlen=0, tname=None):
        self.type = type
        self.values = values
        self.lo = lo
        self.hi = hi
        self.maxlen = maxlen
        self.tname = tname

    def copy(self):
        return VS(self.type, list(self.values) if self.values else None, self.lo, self.hi,
                  self.maxlen, self.tname)


class Attr:
    def __init__(self, ns, local, vs, required, default, line):
        self.ns = ns
        self.local = local
        self.vs = vs
        self.required = required
        self.default = default
        self.line = line


class Shape:
    def __init__(self):
        self.attrs = []
        self.text = None
        self.mixed = False
        self.model = None
        self.any_type = False
        self.any_attr = False
        self.flat = None

    def add_attr(self, a):
        for i, b in enumerate(self.attrs):
            if (b.ns, b.local) == (a.ns, a.local):
                self.attrs[i] = a
                return
        self.attrs.append(a)

    def remove_attr(self, ns, local):
        self.attrs = [b for b in self.attrs if (b.ns, b.local) != (ns, local)]


class Decl:
    """An element declaration (global or local) and the identity of its type."""

    def __init__(self, node, is_global, ns, tid):
        self.node = node
        self.is_global = is_global
        self.ns = ns
        self.local = node.get("name", "")
        self.tid = tid
        self.line = node.line


class Cond:
    """A choice of empty elements: one <condition> field."""

    def __init__(self, decls, line):
        self.decls = decls
        self.line = line


class Foreign:
    def __init__(self, ns, local, line):
        self.ns = ns
        self.local = local
        self.line = line


def mul(a, b):
    if a == 0 or b == 0:
        return 0
    if a is None or b is None:
        return None
    return a * b


def add(a, b):
    return None if a is None or b is None else a + b


# --- the importer ------------------------------------------------------------

class Importer:
    def __init__(self, path, log, reserved, hints):
        self.path = path
        self.log = log
        self.reserved = reserved
        self.hints = hints
        self.shapes = {}
        self.simple_memo = {}
        self.decls = {}
        self.busy = set()
        self.pelems = {}      # key -> PElem
        self.order = []       # PElems in creation order
        self.enums = {}       # key -> EnumDef
        self.enum_order = []

    def warn(self, line, msg):
        self.log.warn(line, msg)

    # ---- schema document ----
    def load(self):
        root = parse_xml(self.path)
        if root.ns != XS or root.local != "schema":
            raise Fatal(self.path, root.line, "not an XML Schema: the root element is {%s}%s, not xs:schema"
                        % (root.ns or "", root.local))
        self.root = root
        self.tns = root.get("targetNamespace") or None
        self.efd = root.get("elementFormDefault", "unqualified") == "qualified"
        self.afd = root.get("attributeFormDefault", "unqualified") == "qualified"
        tables = {"element": {}, "complexType": {}, "simpleType": {}, "attribute": {},
                  "attributeGroup": {}, "group": {}}
        for c in root.xs():
            if c.local in tables:
                name = c.get("name")
                if not name:
                    self.warn(c.line, "global xs:%s without a name ignored" % c.local)
                elif name in tables[c.local]:
                    self.warn(c.line, "xs:%s '%s' defined twice; the first definition is used" % (c.local, name))
                else:
                    tables[c.local][name] = c
            elif c.local == "include" or c.local == "redefine":
                self.warn(c.line, "xs:%s of '%s' is not followed: its components are unknown here"
                          % (c.local, c.get("schemaLocation", "")))
            elif c.local in ("import", "annotation", "notation"):
                pass
            else:
                self.warn(c.line, "xs:%s at the top level is not supported and was ignored" % c.local)
        self.tables = tables
        if not tables["element"]:
            raise Fatal(self.path, root.line, "no element declarations: the schema declares no global xs:element")
        ns_hint = self.hints.ns if self.hints else None
        if ns_hint:
            self.ns_list = ns_hint
        elif self.tns:
            self.ns_list = [self.tns]
        else:
            raise Fatal(self.path, root.line, "the schema has no targetNamespace, and pxmpp elements need one "
                        "(give one with <hints ns=\"...\">)")
        if self.tns and not self.efd and self.has_local_elements(root):
            self.warn(root.line, "local elements are unqualified (elementFormDefault): they are mapped to "
                      "namespace %s" % self.ns_list[0])

    def has_local_elements(self, root):
        stack = list(root.xs("element", "complexType", "group"))
        while stack:
            n = stack.pop()
            for c in n.children:
                if c.ns == XS and c.local == "element" and c.get("name") and c.parent is not root:
                    return True
                stack.append(c)
        return False

    # ---- QNames ----
    def qname(self, node, value):
        value = (value or "").strip()
        if ":" in value:
            prefix, local = value.split(":", 1)
            if prefix not in node.nsmap:
                return ("?" + prefix, local)
            return (node.nsmap[prefix], local)
        return (node.nsmap.get(""), value)

    def lookup(self, kind, node, value):
        """('local', def node) | ('xs', name) | ('foreign', ns, local) | ('missing', value)."""
        ns, local = self.qname(node, value)
        table = self.tables.get(kind, {})
        if ns == XS:
            if kind == "type":
                return ("xs", local) if local in BUILTINS else ("missing", value)
            return ("foreign", XS, local)
        if ns == self.tns or ns is None or (ns or "").startswith("?"):
            if kind == "type":
                if local in self.tables["simpleType"]:
                    return ("local", self.tables["simpleType"][local])
                if local in self.tables["complexType"]:
                    return ("local", self.tables["complexType"][local])
            elif local in table:
                return ("local", table[local])
            if kind == "type" and local in BUILTINS:
                self.warn(node.line, "undefined type '%s' taken as xs:%s" % (value, local))
                return ("xs", local)
            if kind == "type" and local == "empty":
                self.warn(node.line, "undefined type '%s' taken as empty content" % value)
                return ("xs", "#empty")
            if ns == self.tns or ns is None:
                return ("missing", value)
        if (ns or "").startswith("?"):
            return ("missing", value)
        return ("foreign", ns, local)

    def resolve_type(self, node, value):
        r = self.lookup("type", node, value)
        if r[0] == "xs":
            return ("xs", r[1])
        if r[0] == "local":
            return ("st" if r[1].local == "simpleType" else "ct", r[1])
        if r[0] == "foreign":
            self.warn(node.line, "type '%s' of namespace %s is not available (imported schemas are not read)"
                      % (value, r[1]))
        else:
            self.warn(node.line, "undefined type '%s'" % value)
        return ("missing", value)

    # ---- simple types ----
    def builtin_vs(self, name, line):
        if name == "#empty":
            return VS("empty")
        if name in BUILTIN_OTHER:
            return VS(BUILTIN_OTHER[name])
        if name in BUILTIN_INTS:
            lo, hi = BUILTIN_INTS[name]
            if hi is not None and hi > INT64_MAX:
                self.warn(line, "xs:%s exceeds 64-bit integers: mapped to int with max %d" % (name, INT64_MAX))
                hi = INT64_MAX
            return VS("int", lo=lo, hi=hi)
        return VS("string")

    def type_vs(self, tid, line):
        """Value type of a type reference used for an attribute or simple content."""
        kind, ref = tid
        if kind == "xs":
            if ref == "anyType":
                return VS("string")
            return self.builtin_vs(ref, line)
        if kind == "st":
            return self.simple_vs(ref)
        if kind == "ct":
            sh = self.shape_of(tid)
            if sh.text is not None:
                return sh.text.copy()
            self.warn(line, "complex type '%s' used as a simple type: mapped to string" % ref.get("name"))
            return VS("string")
        return VS("string")

    def simple_vs(self, node):
        key = id(node)
        if key in self.simple_memo:
            return self.simple_memo[key].copy()
        if key in self.busy:
            self.warn(node.line, "circular simple type definition: mapped to string")
            return VS("string")
        self.busy.add(key)
        try:
            vs = self.simple_vs_compute(node)
        finally:
            self.busy.discard(key)
        if node.get("name") and node.parent is self.root:
            vs.tname = node.get("name")
        self.simple_memo[key] = vs
        return vs.copy()

    def simple_vs_compute(self, node):
        for c in node.xs():
            if c.local == "restriction":
                if c.get("base"):
                    vs = self.type_vs(self.resolve_type(c, c.get("base")), c.line)
                else:
                    inner = c.xs("simpleType")
                    vs = self.simple_vs(inner[0]) if inner else VS("string")
                vs.tname = None
                self.apply_facets(vs, c)
                return vs
            if c.local == "list":
                self.warn(c.line, "xs:list mapped to string (the items are not checked)")
                return VS("string")
            if c.local == "union":
                self.warn(c.line, "xs:union mapped to string (the member types are not checked)")
                return VS("string")
        return VS("string")

    def apply_facets(self, vs, rnode):
        enums = []
        seen_enum = False
        for f in rnode.xs():
            ln = f.local
            v = (f.get("value") or "").strip() if ln != "enumeration" else f.get("value", "")
            if ln in ("annotation", "simpleType", "attribute", "attributeGroup", "anyAttribute",
                      "sequence", "choice", "all", "group", "whiteSpace"):
                continue
            if ln == "enumeration":
                seen_enum = True
                if v not in enums:
                    enums.append(v)
            elif ln in ("minInclusive", "minExclusive", "maxInclusive", "maxExclusive"):
                if vs.type != "int":
                    self.warn(f.line, "xs:%s on a non-integer type is not checked" % ln)
                    continue
                if not re.match(r"^[+-]?\d+$", v):
                    self.warn(f.line, "xs:%s value '%s' is not an integer: ignored" % (ln, v))
                    continue
                n = int(v)
                if ln == "minInclusive":
                    vs.lo = n if vs.lo is None else max(vs.lo, n)
                elif ln == "minExclusive":
                    vs.lo = n + 1 if vs.lo is None else max(vs.lo, n + 1)
                elif ln == "maxInclusive":
                    vs.hi = n if vs.hi is None else min(vs.hi, n)
                else:
                    vs.hi = n - 1 if vs.hi is None else min(vs.hi, n - 1)
                if vs.lo is not None and vs.lo < INT64_MIN:
                    self.warn(f.line, "range below 64-bit integers: limited to %d" % INT64_MIN)
                    vs.lo = INT64_MIN
                if vs.hi is not None and vs.hi > INT64_MAX:
                    self.warn(f.line, "range above 64-bit integers: limited to %d" % INT64_MAX)
                    vs.hi = INT64_MAX
            elif ln in ("length", "maxLength"):
                if not re.match(r"^\+?\d+$", v):
                    self.warn(f.line, "xs:%s value '%s' is not a number: ignored" % (ln, v))
                    continue
                n = int(v)
                if n == 0:
                    vs.type = "empty"
                    continue
                if vs.type == "base64":
                    n = 4 * ((n + 2) // 3)
                elif vs.type not in ("string", "jid"):
                    continue
                vs.maxlen = n if not vs.maxlen else min(vs.maxlen, n)
                if ln == "length":
                    self.warn(f.line, "xs:length %s is checked as a maximum only" % v)
            elif ln == "minLength":
                if v not in ("0", ""):
                    self.warn(f.line, "xs:minLength is not checked")
            elif ln == "pattern":
                self.warn(f.line, "xs:pattern is not checked")
            else:
                self.warn(f.line, "facet xs:%s is not checked" % ln)
        if vs.lo is not None and vs.hi is not None and vs.lo > vs.hi:
            self.warn(rnode.line, "empty integer range %d..%d: mapped to string" % (vs.lo, vs.hi))
            vs.type, vs.lo, vs.hi = "string", None, None
        if seen_enum:
            self.make_enum_vs(vs, enums, rnode.line)

    def make_enum_vs(self, vs, values, line):
        if all(v == "" for v in values):
            vs.type = "empty"
            return
        why = None
        cnames = {}
        for v in values:
            if v == "":
                why = "the empty value cannot be an enum value"
            elif not ENUM_VALUE_RE.match(v):
                why = "value '%s' has characters that cannot form a C name" % v
            elif c_upper(v) == "ABSENT":
                why = "value '%s' would take the C name reserved for the absent value" % v
            elif c_upper(v) in cnames:
                why = "values '%s' and '%s' map to the same C name" % (cnames[c_upper(v)], v)
            else:
                cnames[c_upper(v)] = v
            if why:
                break
        if why:
            self.warn(line, "enumeration not mapped to an enum (%s): kept as %s"
                      % (why, vs.type if vs.type != "empty" else "string"))
            if vs.type == "empty":
                vs.type = "string"
            return
        vs.type = "enum"
        vs.values = list(values)
        vs.lo = vs.hi = None

    # ---- complex types ----
    def tid_of(self, node):
        """Type identity of an element declaration node."""
        if node.get("type"):
            return self.resolve_type(node, node.get("type"))
        for c in node.xs("complexType", "simpleType"):
            return ("ct" if c.local == "complexType" else "st", c)
        if node.get("substitutionGroup"):
            r = self.lookup("element", node, node.get("substitutionGroup"))
            if r[0] == "local" and r[1] is not node:
                return self.tid_of(r[1])
        return ("xs", "anyType")

    def tid_key(self, tid):
        kind, ref = tid
        return (kind, id(ref) if kind in ("st", "ct") else ref)

    def shape_of(self, tid):
        key = self.tid_key(tid)
        if key in self.shapes:
            return self.shapes[key]
        kind, ref = tid
        sh = Shape()
        if kind == "xs":
            if ref == "anyType":
                sh.any_type = True
            else:
                sh.text = self.builtin_vs(ref, None)
        elif kind == "st":
            sh.text = self.simple_vs(ref)
        elif kind == "ct":
            if key in self.busy:
                self.warn(ref.line, "circular complex type derivation: mapped to any content")
                sh.any_type = True
                return sh
            self.busy.add(key)
            try:
                sh = self.complex_shape(ref)
            finally:
                self.busy.discard(key)
        else:
            sh.any_type = True
        if sh.text is not None and sh.text.type == "empty":
            sh.text = None
        self.shapes[key] = sh
        return sh

    def complex_shape(self, node):
        sh = Shape()
        sh.mixed = node.get("mixed") == "true"
        loose = [c for c in node.xs("element", "any")]
        if loose:
            self.warn(loose[0].line, "xs:%s directly inside xs:complexType (not valid XSD): taken as an "
                      "xs:sequence of optional items" % loose[0].local)
            parts = [self.particle(c) for c in loose]
            sh.model = ("grp", "sequence", [p[:2] + (0,) + p[3:] if p[0] == "el" else p
                                             for p in parts if p is not None], 1, 1)
        for c in node.xs():
            if c.local in ("annotation", "element", "any"):
                continue
            if c.local == "simpleContent":
                self.simple_content(c, sh)
            elif c.local == "complexContent":
                self.complex_content(c, sh)
            elif c.local in ("sequence", "choice", "all", "group"):
                sh.model = self.particle(c)
            elif c.local in ("attribute", "attributeGroup", "anyAttribute"):
                self.attr_decl(c, sh)
            elif c.local in ("assert", "openContent", "defaultOpenContent"):
                self.warn(c.line, "xs:%s is not checked" % c.local)
            else:
                self.warn(c.line, "xs:%s in a complex type is not supported and was ignored" % c.local)
        return sh

    def base_shape(self, deriv):
        base = deriv.get("base")
        if not base:
            inner = deriv.xs("simpleType")
            if inner:
                sh = Shape()
                sh.text = self.simple_vs(inner[0])
                return sh
            return Shape()
        tid = self.resolve_type(deriv, base)
        return self.shape_of(tid)

    def simple_content(self, c, sh):
        for d in c.xs("extension", "restriction"):
            b = self.base_shape(d)
            if b.any_type:
                sh.text = VS("string")
            elif b.text is not None:
                sh.text = b.text.copy()
            elif d.get("base") and not b.attrs and b.model is None:
                sh.text = None  # an empty base type
            else:
                sh.text = VS("string")
            for a in b.attrs:
                sh.add_attr(a)
            sh.any_attr = sh.any_attr or b.any_attr
            if d.local == "restriction":
                if sh.text is not None:
                    sh.text.tname = None
                    self.apply_facets(sh.text, d)
                    if sh.text.type == "empty":
                        sh.text = None
            for a in d.xs("attribute", "attributeGroup", "anyAttribute"):
                self.attr_decl(a, sh)
            return

    def complex_content(self, c, sh):
        if c.get("mixed") == "true":
            sh.mixed = True
        for d in c.xs("extension", "restriction"):
            base = d.get("base", "")
            own = None
            for p in d.xs("sequence", "choice", "all", "group"):
                own = self.particle(p)
            b = self.base_shape(d)
            if d.local == "extension":
                if b.any_type and self.qname(d, base) != (XS, "anyType"):
                    sh.any_type = True
                for a in b.attrs:
                    sh.add_attr(a)
                sh.any_attr = sh.any_attr or b.any_attr
                sh.mixed = sh.mixed or b.mixed
                if b.text is not None and own is None:
                    sh.text = b.text.copy()
                if b.model is not None and own is not None:
                    sh.model = ("grp", "sequence", [b.model, own], 1, 1)
                else:
                    sh.model = own if own is not None else b.model
            else:
                for a in b.attrs:
                    sh.add_attr(a)
                sh.model = own
            for a in d.xs("attribute", "attributeGroup", "anyAttribute"):
                self.attr_decl(a, sh)
            return

    def attr_decl(self, c, sh, depth=0):
        if c.local == "anyAttribute":
            sh.any_attr = True  # unknown attributes are kept in meta anyway
            return
        if c.local == "attributeGroup":
            ref = c.get("ref")
            if not ref:
                for a in c.xs("attribute", "attributeGroup"):
                    self.attr_decl(a, sh, depth + 1)
                return
            r = self.lookup("attributeGroup", c, ref)
            if r[0] != "local":
                self.warn(c.line, "attribute group '%s' is not available: its attributes are kept untyped" % ref)
                return
            if depth > 20 or id(r[1]) in self.busy:
                self.warn(c.line, "circular attribute group '%s' ignored" % ref)
                return
            self.busy.add(id(r[1]))
            try:
                for a in r[1].xs("attribute", "attributeGroup", "anyAttribute"):
                    self.attr_decl(a, sh, depth + 1)
            finally:
                self.busy.discard(id(r[1]))
            return
        # xs:attribute
        use = c.get("use", "optional")
        default = c.get("default", c.get("fixed"))
        if c.get("ref"):
            ns, local = self.qname(c, c.get("ref"))
            if ns == XML_NS:
                vs = VS("string")
            else:
                r = self.lookup("attribute", c, c.get("ref"))
                if r[0] == "local":
                    g = r[1]
                    ns, local = self.tns, g.get("name")
                    vs = self.attr_vs(g)
                    if default is None:
                        default = g.get("default", g.get("fixed"))
                else:
                    if (ns or "").startswith("?") or ns is None:
                        self.warn(c.line, "undefined attribute '%s' ignored" % c.get("ref"))
                        return
                    self.warn(c.line, "attribute '%s' of namespace %s: its type is unknown, mapped to string"
                              % (c.get("ref"), ns))
                    vs = VS("string")
        else:
            local = c.get("name")
            if not local:
                return
            if ":" in local:  # xml:lang written as a name (an error in XSD)
                ns, local = self.qname(c, local)
                if ns is None or ns.startswith("?"):
                    self.warn(c.line, "attribute name '%s' is not an NCName: ignored" % c.get("name"))
                    return
            else:
                form = c.get("form")
                qualified = form == "qualified" if form else (self.afd or c.parent is self.root)
                ns = self.tns if qualified else None
            vs = self.attr_vs(c)
        if use == "prohibited":
            sh.remove_attr(ns, local)
            return
        if vs.type == "empty":
            vs = VS("string", maxlen=0)
            self.warn(c.line, "attribute '%s' restricted to the empty value: mapped to string" % local)
        sh.add_attr(Attr(ns, local, vs, use == "required", default, c.line))

    def attr_vs(self, c):
        if c.get("type"):
            return self.type_vs(self.resolve_type(c, c.get("type")), c.line)
        inner = c.xs("simpleType")
        if inner:
            return self.simple_vs(inner[0])
        return VS("string")

    # ---- particles ----
    def occurs(self, node):
        def num(v, dflt):
            if v is None:
                return dflt
            v = v.strip()
            if v == "unbounded":
                return None
            if re.match(r"^\+?\d+$", v):
                return int(v)
            self.warn(node.line, "bad occurrence value '%s' ignored" % v)
            return dflt
        mn = num(node.get("minOccurs"), 1)
        mx = num(node.get("maxOccurs"), 1)
        if mn is None:
            mn = 0
        if mx is not None and mn > mx:
            self.warn(node.line, "minOccurs %d is greater than maxOccurs %d: minOccurs %d used" % (mn, mx, mx))
            mn = mx
        return mn, mx

    def decl(self, node, is_global):
        key = id(node)
        if key not in self.decls:
            self.decls[key] = Decl(node, is_global, self.ns_list[0], self.tid_of(node))
        return self.decls[key]

    def particle(self, node, depth=0):
        mn, mx = self.occurs(node)
        if node.local == "element":
            if node.get("ref"):
                r = self.lookup("element", node, node.get("ref"))
                if r[0] == "local":
                    return ("el", self.decl(r[1], True), mn, mx, node.line)
                if r[0] == "foreign":
                    return ("el", Foreign(r[1], r[2], node.line), mn, mx, node.line)
                self.warn(node.line, "undefined element '%s': children of that name are kept as extensions"
                          % node.get("ref"))
                return ("any", mn, mx, node.line)
            if not node.get("name"):
                return None
            return ("el", self.decl(node, False), mn, mx, node.line)
        if node.local == "any":
            return ("any", mn, mx, node.line)
        if node.local in ("sequence", "choice", "all"):
            parts = []
            for c in node.xs():
                if c.local in ("element", "sequence", "choice", "all", "group", "any"):
                    p = self.particle(c, depth + 1)
                    if p is not None:
                        parts.append(p)
                elif c.local not in ("annotation",):
                    self.warn(c.line, "xs:%s inside xs:%s is not supported and was ignored" % (c.local, node.local))
            return ("grp", node.local, parts, mn, mx)
        if node.local == "group":
            ref = node.get("ref")
            if not ref:
                for c in node.xs("sequence", "choice", "all"):
                    return self.particle(c, depth + 1)
                return None
            r = self.lookup("group", node, ref)
            if r[0] != "local":
                self.warn(node.line, "group '%s' is not available: its elements are kept as extensions" % ref)
                return ("any", mn, mx, node.line)
            if depth > 50 or id(r[1]) in self.busy:
                self.warn(node.line, "circular group '%s': kept as extensions" % ref)
                return ("any", mn, mx, node.line)
            self.busy.add(id(r[1]))
            try:
                inner = None
                for c in r[1].xs("sequence", "choice", "all"):
                    inner = self.particle(c, depth + 1)
            finally:
                self.busy.discard(id(r[1]))
            if inner is None:
                return None
            return ("grp", "sequence", [inner], mn, mx)
        return None

    def flatten(self, p, single=True):
        """{key: [min, max, decl, line]}, any-line or None.  The key is the child's local
        name, or ('#cond', line) for a choice of empty elements (a Cond)."""
        entries = {}
        anyl = None
        if p is None:
            return entries, anyl
        if p[0] == "el":
            _, d, mn, mx, line = p
            if mx == 0:
                return entries, anyl
            if isinstance(d, Foreign):
                return entries, line
            entries[d.local] = [mn, mx, d, line]
            return entries, anyl
        if p[0] == "any":
            return entries, (p[3] if p[2] != 0 else None)
        _, kind, parts, mn, mx = p
        if mx == 0:
            return entries, anyl
        cond = None
        if kind == "choice" and single and mx == 1:
            cond, rest = self.empty_choice(parts)
        if cond is not None:
            at = next(i for i, x in enumerate(parts) if x[0] == "el" and x[1] is cond.decls[0])
            subs = [self.flatten(x, single) for x in parts[:at] if x in rest]
            subs.append(({("#cond", cond.line): [1, 1, cond, cond.line]}, None))
            subs += [self.flatten(x, single) for x in parts[at:] if x in rest]
        else:
            subs = [self.flatten(x, single and mx == 1) for x in parts]
        for _, a in subs:
            if a is not None and anyl is None:
                anyl = a
        if kind in ("sequence", "all"):
            for e, _ in subs:
                for k, v in e.items():
                    if k in entries:
                        self.merge_decl(entries[k], v)
                        entries[k][0] += v[0]
                        entries[k][1] = add(entries[k][1], v[1])
                    else:
                        entries[k] = list(v)
        else:  # choice
            for e, _ in subs:
                for k, v in e.items():
                    if k in entries:
                        self.merge_decl(entries[k], v)
                        entries[k][1] = None if entries[k][1] is None or v[1] is None else max(entries[k][1], v[1])
                    else:
                        entries[k] = list(v)
            for k in entries:
                entries[k][0] = min([e[k][0] if k in e else 0 for e, _ in subs])
        for k in entries:
            entries[k][0] = mul(entries[k][0], mn)
            entries[k][1] = mul(entries[k][1], mx)
        return entries, anyl

    def empty_choice(self, parts):
        """Split the branches of a choice that are one empty element at most once into a
        Cond (when there are two or more of them).  Returns (Cond or None, other branches)."""
        empties = []
        rest = []
        for x in parts:
            if (x[0] == "el" and not isinstance(x[1], Foreign) and x[3] == 1
                    and self.is_empty(self.shape_of(x[1].tid)) and ENUM_VALUE_RE.match(x[1].local)):
                empties.append(x)
            else:
                rest.append(x)
        names = [x[1].local for x in empties]
        cnames = set(c_upper(n) for n in names)
        if len(empties) < 2 or len(cnames) != len(names) or "ABSENT" in cnames:
            return None, parts
        return Cond([x[1] for x in empties], empties[0][4]), rest

    def is_empty(self, sh):
        if sh.any_type or sh.attrs or sh.any_attr or sh.text is not None or sh.mixed:
            return False
        stack = [sh.model]
        while stack:
            p = stack.pop()
            if p is None:
                continue
            if p[0] != "grp":
                return False
            stack.extend(p[2])
        return True

    def expand_conds(self, entries):
        """Undo a Cond whose names are also used elsewhere in the same content model."""
        count = {}
        for k, v in entries.items():
            for n in ([d.local for d in v[2].decls] if isinstance(k, tuple) else [k]):
                count[n] = count.get(n, 0) + 1
        out = {}

        def put(k, v):
            if k in out:
                out[k][0] += v[0]
                out[k][1] = add(out[k][1], v[1])
            else:
                out[k] = list(v)
        for k, v in entries.items():
            if isinstance(k, tuple) and any(count[d.local] > 1 for d in v[2].decls):
                for d in v[2].decls:
                    put(d.local, [0, 1, d, d.line])
            else:
                put(k, v)
        return out

    def merge_decl(self, a, b):
        if a[2] is not b[2] and self.tid_key(a[2].tid) != self.tid_key(b[2].tid):
            self.warn(b[3], "element '%s' is declared twice in one content model with different types: "
                      "the first declaration (line %d) is used" % (b[2].local, a[3]))

    def flat_of(self, sh):
        if sh.flat is None:
            sh.flat = self.flatten(sh.model)
        return sh.flat

    def classify(self, sh):
        if sh.any_type:
            return "complex"
        entries, anyl = self.flat_of(sh)
        if entries or anyl is not None or sh.any_attr:
            return "complex"
        if not sh.attrs:
            if sh.mixed:
                return "simple-mixed"
            return "simple" if sh.text is not None else "empty"
        if (len(sh.attrs) == 1 and (sh.attrs[0].ns, sh.attrs[0].local) == (XML_NS, "lang")
                and (sh.text is not None and sh.text.type == "string" and not sh.text.maxlen or sh.mixed)):
            return "lang-text"
        return "complex"

    # ---- pxmpp elements ----
    def pelem(self, d, parent):
        key = (d.local, self.tid_key(d.tid))
        pe = self.pelems.get(key)
        if pe is None:
            pe = PElem(d, parent, len(self.order))
            self.pelems[key] = pe
            self.order.append(pe)
        return pe

    def build(self):
        hints = self.hints
        globals_ = [(name, n) for name, n in self.tables["element"].items()]
        referenced = self.find_referenced()
        roots = []
        for name, n in globals_:
            h = hints.element_hint(name, None) if hints else None
            if h is not None and h.payload_of is not None:
                po = h.payload_of
            elif name in referenced:
                po = None
            else:
                po = list(DEFAULT_PAYLOAD_OF)
            if po is not None:
                roots.append((n, po))
        for n, po in roots:
            pe = self.pelem(self.decl(n, True), None)
            pe.payload_of = po
        i = 0
        while True:
            while i < len(self.order):
                self.fill(self.order[i])
                i += 1
            # global elements reachable from nothing (reference cycles) become payloads too
            late = [n for name, n in globals_ if id(n) not in self.reached and
                    not (hints and hints.element_hint(name, None) is not None
                         and hints.element_hint(name, None).payload_of == [])]
            if not late:
                break
            n = late[0]
            self.warn(n.line, "element '%s' is referenced only from parts of the schema that no payload "
                      "reaches: made a payload" % n.get("name"))
            pe = self.pelem(self.decl(n, True), None)
            pe.payload_of = list(DEFAULT_PAYLOAD_OF)
            self.reached.add(id(n))

    reached = None

    def find_referenced(self):
        """Names of global elements referenced by another element's content."""
        self.reached = set()
        out = set()
        for top in self.root.xs():
            stack = [top]
            while stack:
                n = stack.pop()
                for c in n.children:
                    if c.ns == XS and c.local == "element" and c.get("ref"):
                        r = self.lookup("element", c, c.get("ref"))
                        if r[0] == "local" and r[1] is not top:
                            out.add(r[1].get("name"))
                    stack.append(c)
        return out

    def fill(self, pe):
        d = pe.decl
        self.reached.add(id(d.node))
        sh = self.shape_of(d.tid)
        fields = []
        hints = self.hints
        for a in sh.attrs:
            fields.append(self.value_field("attribute", a.local, a.ns, a.vs, pe, a.line,
                                           required=a.required, default=a.default))
        if sh.any_type or sh.mixed:
            fields.append(self.value_field("text", None, None, VS("string"), pe, d.line))
        elif sh.text is not None:
            fields.append(self.value_field("text", None, None, sh.text, pe, d.line))
        entries, anyl = self.flat_of(sh)
        entries = self.expand_conds(entries)
        for local, (mn, mx, cd, line) in entries.items():
            if isinstance(cd, Cond):
                for x in cd.decls:
                    self.reached.add(id(x.node))
                f = Field("condition", "choice", None, self.ns_list[0], line)
                f.required = mn >= 1
                f.enum = self.enum_for(VS("enum", values=[x.local for x in cd.decls]), d.local, "choice")
                f.vs = VS("enum", values=f.enum.values)
                f.cond = cd
                fields.append(f)
                continue
            self.reached.add(id(cd.node))
            csh = self.shape_of(cd.tid)
            cls = self.classify(csh)
            if hints and hints.element_hint(local, d.local) is not None and cls != "complex" \
                    and hints.element_hint(local, d.local).name:
                cls = "complex"  # a named element was asked for
            if cls in ("simple", "simple-mixed"):
                vs = csh.text.copy() if cls == "simple" else VS("string")
                default = cd.node.get("default", cd.node.get("fixed"))
                f = self.value_field("text-child", local, None, vs, pe, line, default=default,
                                     mn=mn, mx=mx)
                fields.append(f)
            elif cls == "empty" and mn == 0 and mx == 1:
                fields.append(Field("flag", local, local, None, line))
            elif cls == "lang-text":
                f = Field("lang-text", local, local, None, line)
                f.min, f.max = mn, mx
                fields.append(f)
            else:
                f = Field("child", local, local, None, line)
                f.decl = cd
                f.min, f.max = mn, mx
                fields.append(f)
        if sh.any_type or anyl is not None:
            fields.append(Field("payloads", "payloads", None, None, anyl or d.line))
        self.apply_field_hints(pe, fields)
        self.name_fields(fields)
        if len(fields) > MAX_FIELDS:
            must = [f for f in fields if f.kind in ("text", "payloads")]
            others = [f for f in fields if f not in must]
            room = MAX_FIELDS - len(must)
            if (any(f.kind != "attribute" for f in others[room:])
                    and not any(f.kind == "payloads" for f in must)):
                room -= 1
                must.append(Field("payloads", "payloads", None, None, d.line))
            dropped = others[room:]
            self.warn(d.line, "element '%s' has %d fields, more than %d: %s not typed (kept as unknown "
                      "attributes in meta, children in the extension point)"
                      % (d.local, len(fields), MAX_FIELDS,
                         ", ".join(("@" if f.kind == "attribute" else "") + (f.xml or f.name) for f in dropped)))
            fields = [f for f in fields if f in must or f in others[:room]] + [f for f in must if f not in fields]
            self.name_fields(fields)
        for f in fields:
            if f.kind == "child":
                f.ref = self.pelem(f.decl, pe)
        pe.fields = fields

    def value_field(self, kind, local, ns, vs, pe, line, required=False, default=None, mn=0, mx=1):
        vs = vs.copy()
        f = Field(kind, local or "text", local, ns, line)
        f.required = required
        f.min, f.max = mn, mx
        name_for_jid = (local if kind != "text" else pe.decl.local) or ""
        ln = name_for_jid.lower()
        if vs.type == "string" and (ln in ("jid", "from", "to", "by") or ln.endswith("jid")
                                    or (vs.tname and "jid" in vs.tname.lower())):
            vs.type = "jid"
        if kind == "text-child" and mx != 1 and vs.type not in STRING_LIKE:
            vs = VS("string", maxlen=vs.maxlen)
        f.vs = vs
        if vs.type == "enum":
            f.enum = self.enum_for(vs, pe.decl.local, local or "value")
        if default is not None:
            if required or mn >= 1:
                self.warn(line, "default value '%s' of a required %s is not kept" % (default.strip(), kind))
            else:
                f.default = self.check_default(vs, f.enum, default, line)
        return f

    def check_default(self, vs, enum, d, line):
        d = d.strip()
        if vs.type == "enum":
            if d in enum.values:
                return d
        elif vs.type == "bool":
            if d in ("true", "false", "1", "0"):
                return d
        elif vs.type == "int":
            if re.match(r"^[+-]?\d+$", d):
                v = int(d)
                lo = INT64_MIN if vs.lo is None else vs.lo
                hi = INT64_MAX if vs.hi is None else vs.hi
                if lo <= v <= hi:
                    return str(v)
        else:
            self.warn(line, "default value '%s' of a %s is not kept (pxmpp has defaults only for enum, bool "
                      "and int values)" % (d, vs.type))
            return None
        self.warn(line, "default value '%s' is not a valid %s: dropped" % (d, vs.type))
        return None

    def enum_for(self, vs, elem_local, field_local):
        key = ("named", vs.tname) if vs.tname else ("values", tuple(vs.values))
        e = self.enums.get(key)
        if e is None:
            e = EnumDef(vs.values, vs.tname or "%s_%s" % (elem_local, field_local), len(self.enum_order))
            self.enums[key] = e
            self.enum_order.append(e)
        return e

    def apply_field_hints(self, pe, fields):
        if not self.hints:
            return
        for f in fields:
            h = self.hints.field_hint(pe.decl.local, f)
            if h is None:
                continue
            if h.name:
                if any(g.fixed_name and g.name == h.name for g in fields):
                    self.log.warn(h.line, "field name '%s' is already given to another field of <%s/>: ignored"
                                  % (h.name, pe.decl.local), path=self.hints.path)
                else:
                    f.name = h.name
                    f.fixed_name = True
            if h.type and f.kind in ("attribute", "text", "text-child"):
                t = h.type
                if f.kind == "text-child" and f.max != 1 and t not in STRING_LIKE:
                    self.log.warn(h.line, "type '%s' cannot be used for a repeated child: kept as string" % t,
                                  path=self.hints.path)
                    t = "string"
                if t != f.vs.type:
                    f.vs = VS(t, maxlen=f.vs.maxlen if t in ("string", "jid") else 0)
                    f.enum = None
                    f.default = None

    def name_fields(self, fields):
        taken = set()
        for f in fields:
            if f.fixed_name:
                taken.add(f.name)
        for f in fields:
            if f.fixed_name:
                continue
            if f.kind == "payloads":
                base = "payloads"
            elif f.kind == "condition":
                base = "choice"
            elif f.kind == "text":
                base = "text"
            else:
                base = ident(f.xml)
            cands = [base]
            if f.kind == "attribute":
                cands.append(base + "_attr")
            elif f.kind == "text":
                cands.append("value")
            elif f.kind != "payloads":
                cands.append(base + "_elem")
            name = None
            for c in cands + ["%s_%d" % (base, i) for i in range(2, 1000)]:
                if c in RESERVED_FIELDS or c.endswith("_count"):
                    c = c + "_"
                if c not in taken and (f.kind != "condition" or c + "_text" not in taken):
                    name = c
                    break
            f.name = name
            taken.add(name)
            if f.kind == "condition":
                taken.add(name + "_text")

    # ---- merging identical elements ----
    def merge_identical(self):
        canon = {pe.index: pe.index for pe in self.order}
        while True:
            groups = {}
            for pe in self.order:
                groups.setdefault(self.signature(pe, canon), []).append(pe.index)
            new = {}
            for members in groups.values():
                r = min(members)
                for m in members:
                    new[m] = r
            if new == canon:
                break
            canon = new
        by_index = {pe.index: pe for pe in self.order}
        kept = []
        for pe in self.order:
            r = by_index[canon[pe.index]]
            if r is pe:
                kept.append(pe)
            else:
                for p in pe.payload_of or []:
                    if r.payload_of is None:
                        r.payload_of = []
                    if p not in r.payload_of:
                        r.payload_of.append(p)
        for pe in kept:
            for f in pe.fields:
                if f.ref is not None:
                    f.ref = by_index[canon[f.ref.index]]
        self.order = kept

    def signature(self, pe, canon):
        fs = []
        for f in pe.fields:
            vs = f.vs
            fs.append((f.kind, f.name, f.xml, f.ns, f.required, f.min, f.max, f.default,
                       f.enum.index if f.enum else None,
                       (vs.type, vs.lo, vs.hi, vs.maxlen) if vs else None,
                       canon[f.ref.index] if f.ref else None))
        return (pe.decl.local, tuple(fs), pe.hint_name())

    # ---- naming ----
    def assign_names(self, prefix):
        taken_names = set(self.reserved.names)
        taken_ids = set(self.reserved.ids)

        def ok(name, ids):
            if not IDENT_RE.match(name) or name in taken_names or name.endswith(RESERVED_SUFFIXES):
                return False
            return not (ids & taken_ids)

        def take(name, ids):
            taken_names.add(name)
            taken_ids.update(ids)

        payload_keys = {}
        for pe in sorted(self.order, key=lambda p: (not p.decl.is_global, p.index)):
            fields = [(f.kind, f.name, f.list()) for f in pe.fields]
            cands = []
            hn = pe.hint_name()
            if hn:
                cands.append(hn)
            base = "%s_%s" % (prefix, ident(pe.decl.local))
            if base.endswith(RESERVED_SUFFIXES):
                base += "_elem"
            cands.append(base)
            if pe.parent is not None:
                cands.append("%s_%s_%s" % (prefix, ident(pe.parent.decl.local), ident(pe.decl.local)))
            stem = cands[0]
            cands += ["%s_%d" % (stem, i) for i in range(2, 10000)]
            for c in cands:
                if ok(c, element_ids(c, fields)):
                    pe.name = c
                    take(c, element_ids(c, fields))
                    break
            if hn and pe.name != hn:
                self.log.warn(self.hints.line_of_element(pe), "name '%s' is taken: '%s' used"
                              % (hn, pe.name), path=self.hints.path)
            if pe.payload_of:
                clash = None
                for ns in self.ns_list:
                    key = (ns, pe.decl.local)
                    if key in self.reserved.payload_keys:
                        clash = "the core schema element '%s'" % self.reserved.payload_keys[key]
                    elif key in payload_keys:
                        clash = "element '%s'" % payload_keys[key]
                if clash:
                    self.warn(pe.decl.line, "<%s/> is already described by %s: not made a payload"
                              % (pe.decl.local, clash))
                    pe.payload_of = None
                else:
                    for ns in self.ns_list:
                        payload_keys[(ns, pe.decl.local)] = pe.name
        used = set(id(f.enum) for pe in self.order for f in pe.fields if f.enum is not None)
        for e in self.enum_order:
            if id(e) not in used:
                continue
            base = "%s_%s" % (prefix, ident(e.hint))
            if base.endswith(RESERVED_SUFFIXES):
                base += "_enum"
            for c in [base, base + "_enum"] + ["%s_%d" % (base, i) for i in range(2, 10000)]:
                if ok(c, enum_ids(c, e.values)):
                    e.name = c
                    take(c, enum_ids(c, e.values))
                    break

    # ---- output ----
    def render(self, schema_name, title, src):
        ns_text = " ".join(self.ns_list)
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               "<!-- Generated by codegen/xsd2schema.py from %s. -->" % esc(os.path.basename(src)).replace("--", "- -"),
               '<schema xmlns="%s" name="%s" title="%s" ns="%s">' % (SCHEMA_NS, schema_name, esc(title), esc(ns_text)),
               "  <description>%s</description>" % esc(
                   "Elements of namespace %s, imported from the XML schema %s." % (ns_text, os.path.basename(src)))]
        used_enums = []
        for pe in self.order:
            for f in pe.fields:
                if f.enum is not None and f.enum not in used_enums:
                    used_enums.append(f.enum)
        for e in sorted(used_enums, key=lambda x: x.index):
            out.append("")
            out.append('  <enum name="%s">' % e.name)
            out.append("    <description>%s</description>" % esc(e.description()))
            for v in e.values:
                out.append('    <value name="%s"><description>%s</description></value>'
                           % (esc(v), esc("The value '%s'." % v)))
            out.append("  </enum>")
        for pe in self.order:
            out.append("")
            a = ['name="%s"' % pe.name]
            if pe.name != pe.decl.local:
                a.append('local="%s"' % esc(pe.decl.local))
            if pe.payload_of:
                a.append('payload-of="%s"' % " ".join(pe.payload_of))
            out.append("  <element %s>" % " ".join(a))
            out.append("    <description>%s</description>" % esc(
                "Element <%s/> of %s." % (pe.decl.local, self.ns_list[0])))
            for f in pe.fields:
                out.append("    " + f.render(pe))
            out.append("  </element>")
        out.append("</schema>")
        return "\n".join(out) + "\n"


class PElem:
    def __init__(self, decl, parent, index):
        self.decl = decl
        self.parent = parent
        self.index = index
        self.payload_of = None
        self.fields = []
        self.name = None
        self.hint = None

    def hint_name(self):
        return self.hint.name if self.hint is not None else None


class EnumDef:
    def __init__(self, values, hint, index):
        self.values = values
        self.hint = hint
        self.index = index
        self.name = None

    def description(self):
        shown = ", ".join("'%s'" % v for v in self.values[:8])
        if len(self.values) > 8:
            shown += " and %d more" % (len(self.values) - 8)
        return "The values %s." % shown


class Field:
    def __init__(self, kind, name, xml, ns, line):
        self.kind = kind
        self.name = name
        self.xml = xml
        self.ns = ns
        self.line = line
        self.vs = None
        self.enum = None
        self.required = False
        self.default = None
        self.min = 0
        self.max = 1
        self.ref = None
        self.decl = None
        self.cond = None
        self.fixed_name = False

    def list(self):
        return self.kind in ("lang-text", "payloads") or (self.kind in ("child", "text-child") and self.max != 1)

    def value_attrs(self):
        a = []
        vs = self.vs
        if vs.type == "enum":
            a.append('type="enum" enum="%s"' % self.enum.name)
        elif vs.type != "string":
            a.append('type="%s"' % vs.type)
        if vs.type == "int":
            if vs.lo is not None and vs.lo != INT64_MIN:
                a.append('min="%d"' % vs.lo)
            if vs.hi is not None and vs.hi != INT64_MAX:
                a.append('max="%d"' % vs.hi)
        if self.default is not None:
            a.append('default="%s"' % esc(self.default))
        if vs.maxlen:
            a.append('maxlen="%d"' % vs.maxlen)
        return a

    def occurs_attrs(self, default_max):
        a = []
        if self.min:
            a.append('min-occurs="%d"' % self.min)
        mx = "unbounded" if self.max is None else str(self.max)
        if mx != default_max:
            a.append('max-occurs="%s"' % mx)
        return a

    def render(self, pe):
        k = self.kind
        a = ['name="%s"' % self.name]
        if k == "attribute":
            if self.xml != self.name or self.ns:
                a.append('local="%s"' % esc(self.xml))
            if self.ns:
                a.append('ns="%s"' % esc(self.ns))
            if self.required:
                a.append('required="true"')
            a += self.value_attrs()
            if self.ns == XML_NS:
                d = "Attribute xml:%s." % self.xml
            else:
                d = "Attribute %s." % self.xml
        elif k == "text":
            a += self.value_attrs()
            d = "Character data of <%s/>." % pe.decl.local
        elif k == "text-child":
            a.append('local="%s"' % esc(self.xml))
            a += self.occurs_attrs("1")
            a += self.value_attrs()
            d = "Text of the child element <%s/>." % self.xml
        elif k == "lang-text":
            a.append('local="%s"' % esc(self.xml))
            a += self.occurs_attrs("unbounded")
            d = "Text of the child element <%s/>, with its xml:lang." % self.xml
        elif k == "flag":
            a.append('local="%s"' % esc(self.xml))
            d = "Whether the empty child element <%s/> is present." % self.xml
        elif k == "child":
            a.append('ref="%s"' % self.ref.name)
            a += self.occurs_attrs("1")
            d = "The child element <%s/>." % self.xml
        elif k == "condition":
            a.append('enum="%s"' % self.enum.name)
            a.append('ns="%s"' % esc(self.ns))
            if self.required:
                a.append('required="true"')
            d = "Which one of the empty child elements %s is present." % ", ".join(
                "<%s/>" % x.local for x in self.cond.decls[:6]) + (" ..." if len(self.cond.decls) > 6 else "")
        else:
            a.append('point="any"')
            d = "Child elements that no other field describes (extensions)."
        return "<%s %s><description>%s</description></%s>" % (k, " ".join(a), esc(d), k)


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


# --- hints -------------------------------------------------------------------

class ElementHint:
    def __init__(self, node):
        self.xsd = node.get("xsd")
        self.parent = node.get("parent")
        self.name = node.get("name")
        po = node.get("payload-of")
        self.payload_of = po.split() if po is not None else None
        self.line = node.line
        self.used = False


class FieldHint:
    def __init__(self, node):
        self.element = node.get("element")
        self.xsd = node.get("xsd")
        self.kind = node.get("kind")
        self.name = node.get("name")
        self.type = node.get("type")
        self.line = node.line
        self.used = False


class Hints:
    ROOT_ATTRS = {"name", "prefix", "title", "ns"}
    ELEMENT_ATTRS = {"xsd", "parent", "name", "payload-of"}
    FIELD_ATTRS = {"element", "xsd", "kind", "name", "type"}

    def __init__(self, path):
        self.path = path
        root = parse_xml(path)
        if root.ns != HINTS_NS or root.local != "hints":
            raise Fatal(path, root.line, "the root element must be <hints xmlns=\"%s\">" % HINTS_NS)
        self.check_attrs(root, self.ROOT_ATTRS)
        self.line = root.line
        self.name = root.get("name")
        self.prefix = root.get("prefix")
        self.title = root.get("title")
        self.ns = (root.get("ns") or "").split() or None
        for k in ("name", "prefix"):
            v = root.get(k)
            if v is not None and not IDENT_RE.match(v):
                raise Fatal(path, root.line, "%s '%s' does not match [a-z][a-z0-9_]*" % (k, v))
        self.elements = []
        self.fields = []
        for c in root.children:
            if c.ns != HINTS_NS:
                raise Fatal(path, c.line, "element '%s' is not in namespace %s" % (c.local, HINTS_NS))
            if c.local == "element":
                self.check_attrs(c, self.ELEMENT_ATTRS)
                if not c.get("xsd"):
                    raise Fatal(path, c.line, "<element> needs an xsd attribute (the XSD element's name)")
                if c.get("name") is not None and not IDENT_RE.match(c.get("name")):
                    raise Fatal(path, c.line, "name '%s' does not match [a-z][a-z0-9_]*" % c.get("name"))
                for p in (c.get("payload-of") or "").split():
                    if p not in POINTS:
                        raise Fatal(path, c.line, "payload-of: unknown point '%s' (use %s)" % (p, " ".join(POINTS)))
                self.elements.append(ElementHint(c))
            elif c.local == "field":
                self.check_attrs(c, self.FIELD_ATTRS)
                if not c.get("element"):
                    raise Fatal(path, c.line, "<field> needs an element attribute (the XSD element's name)")
                kind = c.get("kind")
                if kind is not None and kind not in ("attribute", "child", "text"):
                    raise Fatal(path, c.line, "kind '%s' is not attribute, child or text" % kind)
                if not c.get("xsd") and kind != "text":
                    raise Fatal(path, c.line, "<field> needs an xsd attribute (the attribute's or child's name)")
                n = c.get("name")
                if n is not None and (not IDENT_RE.match(n) or n in RESERVED_FIELDS or n.endswith("_count")):
                    raise Fatal(path, c.line, "field name '%s' is not allowed (it must match [a-z][a-z0-9_]*, "
                                "not be a C keyword or 'meta', not end in _count)" % n)
                t = c.get("type")
                if t is not None and t not in VALUE_TYPES:
                    raise Fatal(path, c.line, "type '%s' is not one of %s" % (t, " ".join(VALUE_TYPES)))
                self.fields.append(FieldHint(c))
            else:
                raise Fatal(path, c.line, "unknown hints element <%s>" % c.local)

    def check_attrs(self, node, allowed):
        for k in node.attrs:
            if k not in allowed:
                raise Fatal(self.path, node.line, "unknown attribute '%s' on <%s>" % (k, node.local))

    def element_hint(self, local, parent_local):
        """The hint for an XSD element: one naming its parent first, then a general one."""
        best = None
        for h in self.elements:
            if h.xsd == local:
                if h.parent is not None and h.parent == parent_local:
                    return h
                if h.parent is None and best is None:
                    best = h
        return best

    def field_hint(self, elem_local, f):
        for h in self.fields:
            if h.element != elem_local:
                continue
            kind = {"attribute": "attribute", "text": "text"}.get(f.kind, "child")
            if h.kind is not None and h.kind != kind:
                continue
            if kind == "text":
                if h.kind == "text":
                    h.used = True
                    return h
                continue
            if h.xsd == f.xml:
                h.used = True
                return h
        return None

    def line_of_element(self, pe):
        return pe.hint.line if pe.hint is not None else 1


# --- main --------------------------------------------------------------------

def run(args, log, reserved):
    hints = Hints(args.hints) if args.hints else None
    if hints and hints.name in reserved.schemas and not args.name:
        raise Fatal(hints.path, hints.line, "name '%s' is taken by a core schema or a generated file" % hints.name)
    imp = Importer(args.xsd, log, reserved, hints)
    imp.load()
    imp.build()
    if hints:
        for pe in imp.order:
            h = hints.element_hint(pe.decl.local, pe.parent.decl.local if pe.parent else None)
            if h is not None:
                pe.hint = h
                h.used = True
                if h.payload_of is not None and not pe.decl.is_global:
                    pe.payload_of = h.payload_of or None
    imp.merge_identical()
    if hints:
        for h in hints.elements:
            if not h.used and h.payload_of is None and h.name is None:
                h.used = True
        for h in hints.elements + hints.fields:
            if not h.used:
                log.warn(h.line, "this hint matches nothing in %s" % args.xsd, path=hints.path)
    name = args.name or (hints.name if hints else None)
    prefix = (hints.prefix if hints and hints.prefix else None) or name or ns_prefix(imp.ns_list[0])
    if not name:
        name = prefix
        if name in reserved.schemas:
            name += "_xsd"
    imp.assign_names(prefix)
    title = (hints.title if hints and hints.title else None) or "Imported from %s" % os.path.basename(args.xsd)
    return imp.render(name, title, args.xsd)


def main(argv):
    ap = argparse.ArgumentParser(
        prog="xsd2schema.py",
        description="Import an XML Schema (XSD 1.0) as a pxmpp schema file (see schema/README.md).")
    ap.add_argument("-o", "--output", metavar="OUT.xml", help="write here instead of standard output")
    ap.add_argument("--name", help="schema name and prefix of the element names ([a-z][a-z0-9_]*)")
    ap.add_argument("--hints", metavar="HINTS.xml", help="hints file (names, payload points, value types)")
    ap.add_argument("xsd", metavar="FILE.xsd")
    args = ap.parse_args(argv)
    if args.name is not None and not IDENT_RE.match(args.name):
        ap.error("--name '%s' does not match [a-z][a-z0-9_]*" % args.name)
    reserved = Reserved()
    if args.name in reserved.schemas:
        ap.error("--name '%s' is taken by a core schema or a generated file of the same name" % args.name)
    log = Log(args.xsd)
    try:
        text = run(args, log, reserved)
    except Fatal as e:
        sys.stderr.write(str(e) + "\n")
        return 1
    except RecursionError:
        sys.stderr.write("%s:1: error: the schema nests too deeply to be imported\n" % args.xsd)
        return 1
    if args.output:
        d = os.path.dirname(os.path.abspath(args.output))
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=".xsd2schema-", suffix=".tmp", dir=d)
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, args.output)
        except OSError as e:
            sys.stderr.write("%s:1: error: cannot write %s: %s\n" % (args.xsd, args.output, e.strerror or e))
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
