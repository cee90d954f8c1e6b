#!/usr/bin/env python3
"""pxmpp code generator: schema/*.xml -> generated/ (C headers, tables, manifest).

Usage: pxmpp_gen.py [--out DIR] [--check] [--no-validate] SCHEMA.xml...

Steps: validate each file against schema/pxmpp-schema.rng with xmllint, load
all files (cross-file references are allowed), check semantics, render the
Jinja2 templates in codegen/templates/.  Errors are printed as
`file:line: error: message` and the exit status is 1.  Output is deterministic.

How this file is laid out, in the order a run goes through it:
  1. XML reading: Node, load_xml(), validate_rng(); payload_points(), the extension
     points of the runtime's pxmpp/types.h.
  2. The model: dataclasses for what the schema files describe (Schema, Enum,
     EnumValue, ElementType, Field, Rule, RuleRef) and Model, which holds them all.
  3. Loading: add_schema() and its helpers turn the XML nodes into the model,
     with the checks that need only one element at a time.
  4. Resolution: resolve() checks what crosses elements and files (references,
     defaults, payload points, unique XML names), assigns type ids and reads rules.
  5. Schema selection: the dependencies between schemas for --select.
  6. Output: the C type helpers the templates call, the manifest, render(), main().
"""
import argparse
import dataclasses
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree
import xml.parsers.expat
from typing import Dict, List, Optional

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
TYPES_H = os.path.join(ROOT, "runtime", "include", "pxmpp", "types.h")
RUNTIME_ABI = 2
XML_NS = "http://www.w3.org/XML/1998/namespace"
POINT_ANY = "any"        # a <payloads> point only: every type with a payload-of or top-level
POINT_NESTED = "nested"  # a payload-of value only: inside other payloads' any points
ID_SPACE = 65521  # type ids: 1..ID_SPACE, from a hash of the name (stable when types are added)
RULE_RE = re.compile(r"^(stanza\.)?(?:([a-z][a-z0-9_]*)|payload\(([a-z][a-z0-9_]*)\))(?:=(.+))?$")
INT64_MIN = -(2 ** 63)
INT64_MAX = 2 ** 63 - 1
UINT32_MAX = 2 ** 32 - 1
MAX_FIELDS = 32  # pxmpp_meta.present has one bit per field

# schema element -> Field.kind (the C enum PXMPP_F_<kind> of pxmpp/types.h)
FIELD_KINDS = {"attribute": "ATTR", "text": "TEXT", "child": "CHILD", "text-child": "TEXT_CHILD",
               "lang-text": "LANG_TEXT", "flag": "FLAG", "condition": "CONDITION",
               "payloads": "PAYLOADS", "element-name": "NAME"}
LIST_KINDS = ("LANG_TEXT", "PAYLOADS")      # always lists
CHILD_KINDS = ("CHILD", "TEXT_CHILD")       # lists when max-occurs is not 1
ENUM_KINDS = ("CONDITION", "NAME")          # their value is always an enum
RULE_OPS = ("requires", "forbids", "count")

GRAMMAR_HINTS = {
    "type": "allowed: string, jid, enum, bool, int, datetime, date, time, base64",
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


# --- 1. XML reading ---------------------------------------------------------------------

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

    def flag(self, key):
        """A true/false attribute (false when absent)."""
        return self.attrs.get(key) == "true"

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
        lines = [xmllint_error(path, ln) for ln in p.stderr.splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines:
            lines = ["%s:1: error: does not validate against %s" % (path, os.path.basename(RNG))]
        raise GenError("\n".join(lines))


def xmllint_error(path, line):
    """One line of xmllint's complaints as `file:line: error: message` with a hint on what the
    attribute allows, or None for the lines that say nothing of their own."""
    m = re.match(r"^(.*?):(\d+): (.*)$", line)
    if not m or line.endswith("fails to validate"):
        return None
    msg = m.group(3)
    h = re.search(r"Invalid attribute ([\w-]+) for element ([\w-]+)", msg)
    if h and grammar_hint(h.group(1)):
        msg += " (%s)" % grammar_hint(h.group(1))
    elif h:
        msg += " (the attributes <%s> takes are listed in schema/README.md)" % h.group(2)
    return "%s:%s: error: %s" % (path, m.group(2), msg)


def grammar_hint(attr):
    """What an attribute of the schema language allows, or None."""
    if attr == "payload-of":
        return "allowed: a list of " + ", ".join(payload_points())
    if attr == "point":
        return "allowed: " + ", ".join(payloads_field_points())
    return GRAMMAR_HINTS.get(attr)


@functools.lru_cache(maxsize=None)
def payload_points(types_h=TYPES_H, rng=RNG):
    """The payload-of values, in bit order: the PXMPP_PAYLOAD_OF_* enum of pxmpp/types.h, the
    one place that lists them (but PXMPP_PAYLOAD_OF_ANY, a point only).  The grammar must
    allow exactly these in payload-of, and the same but nested, plus any, in point."""
    with open(types_h, encoding="utf-8") as f:
        bits = re.findall(r"\bPXMPP_PAYLOAD_OF_([A-Z0-9_]+)\s*=\s*1u\s*<<\s*(\d+)", f.read())
    by_bit = {int(b): n.lower() for n, b in bits}
    if len(by_bit) != len(bits) or by_bit.get(31) != POINT_ANY or POINT_NESTED not in by_bit.values():
        raise GenError("%s:1: error: cannot read the PXMPP_PAYLOAD_OF_* bits (one per bit, %s as bit 31, "
                       "and %s)" % (types_h, c_upper(POINT_ANY), c_upper(POINT_NESTED)))
    points = tuple(by_bit[b] for b in sorted(by_bit) if b != 31)
    grammar = xml.etree.ElementTree.parse(rng).getroot()
    for attr, want in (("payload-of", points), ("point", payloads_field_points(points))):
        allowed = rng_values(grammar, attr)
        if sorted(allowed) != sorted(want):
            raise GenError("%s:1: error: attribute %s allows %s, but the PXMPP_PAYLOAD_OF_* bits of %s "
                           "make it %s" % (rng, attr, " ".join(allowed), types_h, " ".join(want)))
    return points


def payloads_field_points(points=None):
    """The point values of a <payloads> field."""
    return [p for p in (points or payload_points()) if p != POINT_NESTED] + [POINT_ANY]


def rng_values(grammar, attr):
    """The <value>s the RELAX NG grammar allows for the attribute attr."""
    ns = "{http://relaxng.org/ns/structure/1.0}"
    return [v.text for a in grammar.iter(ns + "attribute") if a.get("name") == attr
            for v in a.iter(ns + "value")]


def c_upper(s):
    return re.sub(r"[^A-Za-z0-9]", "_", s).upper()


# --- 2. The model -----------------------------------------------------------------------
# Loading fills the fields without a default; resolve() fills the others.

@dataclasses.dataclass
class EnumValue:
    """A <value> of an <enum>; its C value is its position + 1 (0 is the absent value)."""
    name: str                 # XML form
    c_name: str               # PXMPP_<ENUM>_<VALUE>
    implied: bool             # never written, only ever set by the application
    description: str
    line: int


@dataclasses.dataclass
class Enum:
    """An <enum>: a C enum type pxmpp_<name> and its pxmpp_enum_desc."""
    name: str
    c_name: str               # pxmpp_<name>
    upper: str                # <NAME> in C macro names
    description: str
    values: List[EnumValue]
    schema: str               # name of the schema that declares it
    node: Node


@dataclasses.dataclass
class RuleRef:
    """A condition or reference of a rule: `f`, `f=a|b`, `stanza.f`, `payload(t)` ..."""
    scope: str                # "SELF" (the element itself) or "STANZA" (the stanza around it)
    field: Optional[str]      # the field named, or None for payload(t)
    payload: Optional[str]    # the element type named by payload(t)
    values: Optional[List[str]] = None   # the values after '=', or None
    deferred: bool = False    # can only be decided when the stanza has ended
    index: int = -1           # position of the field in the element (scope SELF)
    ints: Optional[List[int]] = None     # the values as C enum values (scope SELF, enum field)


@dataclasses.dataclass
class Rule:
    """A <rule> of an element; the *_text fields are its attributes as written."""
    node: Node
    source: str
    description: str
    if_text: Optional[str]
    unless_text: Optional[str]
    requires: Optional[str]
    forbids: Optional[str]
    count: Optional[str]
    min: Optional[str]
    max: Optional[str]
    op: str = ""                          # REQUIRES, FORBIDS or COUNT (PXMPP_RULE_<op>)
    when: Optional[RuleRef] = None        # from if
    unless_ref: Optional[RuleRef] = None  # from unless
    target: Optional[RuleRef] = None      # from requires, forbids or count
    lo: int = 0
    hi: int = 0
    deferred: bool = False

    def attributes(self):
        """[(attribute, text)] of the attributes the rule has, in manifest order."""
        pairs = (("if", self.if_text), ("unless", self.unless_text), ("requires", self.requires),
                 ("forbids", self.forbids), ("count", self.count), ("min", self.min), ("max", self.max))
        return [(k, v) for k, v in pairs if v is not None]

    def refs(self):
        """The resolved references, None where the rule has none."""
        return (self.when, self.unless_ref, self.target)


@dataclasses.dataclass
class Field:
    """A field of an element (<attribute>, <text>, <child>, ...): a member of its C struct."""
    kind: str                 # a value of FIELD_KINDS
    name: str
    node: Node
    description: str
    local: Optional[str]      # XML local name (attributes, text children, flags ...)
    ns: Optional[str]
    vtype: str                # value type: string, jid, enum, bool, int, ...
    enum: Optional[str]       # name of the enum of an enum value
    required: bool
    min_occurs: int
    max_occurs: int           # 0: unbounded
    is_list: bool
    maxlen: int
    min: Optional[str]        # int range as written
    max: Optional[str]
    default: Optional[str]    # default as written
    unique_lang: bool
    ref: Optional[str]        # element type of a <child>
    point: Optional[str]      # extension point of <payloads>
    attr: Optional[str]       # attribute that holds a text child's value
    lo: int = 0               # int range (vtype int)
    hi: int = 0
    width: int = 0            # bytes of an int: 4 or 8
    default_value: int = 0    # the default as a C value
    has_default: bool = False

    def members(self):
        """Names of the C members the field declares (list counts end in _count, reserved)."""
        return [self.name] + ([self.name + "_text"] if self.kind == "CONDITION" else [])


@dataclasses.dataclass
class ElementNames:
    """An element whose local name is the value of its element-name field."""
    enum: str                 # the enum of the names
    field: int                # position of the element-name field
    values: List[str]         # the local names (the enum's values but the implied ones)


@dataclasses.dataclass
class ElementType:
    """An <element>: a C struct pxmpp_<name> and its pxmpp_type_desc."""
    name: str
    c_name: str               # pxmpp_<name>
    upper: str                # <NAME> in C macro names
    local: str                # XML local name (the first of names, for element-name types)
    ns: Optional[str]         # None: the stream's content namespace
    ns_list: Optional[List[str]]   # all namespaces when there are several, else None
    description: str
    payload_of: List[str]     # extension points it is a payload of (payload_points())
    top_level: bool
    stanza: bool
    mixed: bool
    schema: str               # name of the schema that declares it
    node: Node
    fields: List[Field] = dataclasses.field(default_factory=list)
    rules: List[Rule] = dataclasses.field(default_factory=list)
    point: Optional[str] = None    # extension point of its <payloads> field
    names: Optional[ElementNames] = None
    id: int = 0               # registry id (PXMPP_TYPE_<NAME>)

    def payloads_field(self):
        """Its <payloads> field, or None."""
        return next((fd for fd in self.fields if fd.kind == "PAYLOADS"), None)

    def namespaces(self):
        return self.ns_list or [self.ns]

    def xml_names(self):
        return self.names.values if self.names else [self.local]

    def is_registered(self):
        """Looked up by (namespace, local name) in the registry index."""
        return self.top_level or bool(self.payload_of)


@dataclasses.dataclass
class Schema:
    """A schema file (one specification)."""
    name: str
    title: str
    file: str
    base: str                 # file name without directory and .xml
    ns: Optional[str]         # default namespace of its elements
    description: str
    version: Optional[str]
    requires: List[str]       # names of schemas it needs
    spec: str                 # the title up to ':' ("RFC 6120", "XEP-0030" ...)
    enums: List[Enum] = dataclasses.field(default_factory=list)
    types: List[ElementType] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Model:
    """Every schema of a run; enums and types by name (names are unique across files)."""
    schemas: List[Schema] = dataclasses.field(default_factory=list)
    enums: Dict[str, Enum] = dataclasses.field(default_factory=dict)
    types: Dict[str, ElementType] = dataclasses.field(default_factory=dict)
    errors: List[str] = dataclasses.field(default_factory=list)

    def err(self, node, msg):
        self.errors.append("%s:%d: error: %s" % (node.file, node.line, msg))

    def stanza_types(self):
        return [t for t in self.types.values() if t.stanza]

    def sorted_types(self):
        return [self.types[n] for n in sorted(self.types)]


# --- 3. Loading -------------------------------------------------------------------------

def add_schema(m, path, root):
    name = root.get("name")
    for s in m.schemas:
        if s.name == name:
            m.err(root, "duplicate schema name '%s' (also in %s)" % (name, s.file))
    title = root.get("title")
    sch = Schema(name=name, title=title, file=path, base=os.path.splitext(os.path.basename(path))[0],
                 ns=root.get("ns"), description=root.description(), version=root.get("version"),
                 requires=(root.get("requires") or "").split(), spec=(title or "").split(":")[0].strip())
    m.schemas.append(sch)
    for node in root.children:
        if node.tag == "enum":
            add_enum(m, sch, node)
        elif node.tag == "element":
            add_type(m, sch, node)


def add_enum(m, sch, node):
    name = node.get("name")
    if name in m.enums or name in m.types:
        m.err(node, "duplicate name '%s'" % name)
        return
    values = []
    absent = "PXMPP_%s_ABSENT" % c_upper(name)
    by_cname = {}  # C name -> the value that took it
    for v in node.kids("value"):
        vn = v.get("name")
        cname = "PXMPP_%s_%s" % (c_upper(name), c_upper(vn))
        if any(x.name == vn for x in values):
            m.err(v, "duplicate value '%s' in enum '%s'" % (vn, name))
        elif cname == absent:
            m.err(v, "enum '%s': value '%s' maps to the C name %s, which is reserved for "
                     "the absent value (0)" % (name, vn, absent))
        elif cname in by_cname:
            m.err(v, "enum '%s': values '%s' and '%s' both map to the C name %s"
                  % (name, by_cname[cname], vn, cname))
        by_cname.setdefault(cname, vn)
        if not re.match(r"^[A-Za-z0-9_.:-]+$", vn):
            m.err(v, "enum value '%s' has characters that cannot form a C name" % vn)
        values.append(EnumValue(name=vn, c_name=cname, implied=v.flag("implied"),
                                description=v.description(), line=v.line))
    e = Enum(name=name, c_name="pxmpp_" + name, upper=c_upper(name), description=node.description(),
             values=values, schema=sch.name, node=node)
    m.enums[name] = e
    sch.enums.append(e)


def element_namespaces(m, sch, node, name):
    """[namespace, ...] of an element ('content': the stream's content namespace)."""
    ns = node.get("ns", sch.ns)
    if ns is None:
        m.err(node, "element '%s' has no namespace (set ns on it or on the schema)" % name)
        ns = ""
    ns_list = ns.split() or [""]
    if len(ns_list) > 1 and "content" in ns_list:
        m.err(node, "element '%s': the content namespace cannot be one of several" % name)
    if len(set(ns_list)) != len(ns_list):
        m.err(node, "element '%s' lists a namespace twice" % name)
    return ns_list


def add_type(m, sch, node):
    name = node.get("name")
    if name in m.types or name in m.enums:
        m.err(node, "duplicate name '%s'" % name)
        return
    ns_list = element_namespaces(m, sch, node, name)
    t = ElementType(name=name, c_name="pxmpp_" + name, upper=c_upper(name), local=node.get("local", name),
                    ns=None if ns_list[0] == "content" else ns_list[0],
                    ns_list=ns_list if len(ns_list) > 1 else None, description=node.description(),
                    payload_of=(node.get("payload-of") or "").split(), top_level=node.flag("top-level"),
                    stanza=node.flag("stanza"), mixed=node.flag("mixed"), schema=sch.name, node=node)
    members = set()  # C member names taken so far
    for f in node.children:
        if f.tag == "description":
            continue
        if f.tag == "rule":
            t.rules.append(load_rule(f))
            continue
        fd = load_field(m, f)
        new = fd.members()
        if fd.name in members:
            m.err(f, "duplicate field name '%s' in element '%s'" % (fd.name, name))
        elif new[-1] in members:
            m.err(f, "condition '%s' needs the member name '%s', already used in element '%s'"
                  % (fd.name, new[-1], name))
        members.update(new)
        t.fields.append(fd)
    m.types[name] = t
    sch.types.append(t)


def load_rule(f):
    return Rule(node=f, source=f.get("source"), description=f.description(), if_text=f.get("if"),
                unless_text=f.get("unless"), requires=f.get("requires"), forbids=f.get("forbids"),
                count=f.get("count"), min=f.get("min"), max=f.get("max"))


def load_field(m, f):
    kind = FIELD_KINDS[f.tag]
    name = f.get("name")
    if name in C_KEYWORDS or name.endswith("_count"):
        m.err(f, "field name '%s' is reserved" % name)
    min_occurs = int(f.get("min-occurs", "0"))
    max_text = f.get("max-occurs", "unbounded" if kind in LIST_KINDS else "1")
    max_occurs = 0 if max_text == "unbounded" else int(max_text)
    if max_occurs and min_occurs > max_occurs:
        m.err(f, "min-occurs %d is greater than max-occurs %d" % (min_occurs, max_occurs))
    return Field(kind=kind, name=name, node=f, description=f.description(),
                 local=f.get("local", name if kind == "ATTR" else None), ns=f.get("ns"),
                 vtype="enum" if kind in ENUM_KINDS else f.get("type", "string"), enum=f.get("enum"),
                 required=f.flag("required") or (kind in CHILD_KINDS and min_occurs >= 1),
                 min_occurs=min_occurs, max_occurs=max_occurs,
                 is_list=kind in LIST_KINDS or (kind in CHILD_KINDS and max_occurs != 1),
                 maxlen=int(f.get("maxlen", "0")), min=f.get("min"), max=f.get("max"),
                 default=f.get("default"), unique_lang=f.flag("unique-lang"), ref=f.get("ref"),
                 point=f.get("point"), attr=f.get("attr"))


# --- 4. Resolution ----------------------------------------------------------------------

def resolve(m):
    """Check what crosses elements and files and fill the model's computed fields.  The
    element checks come first; the rest needs a model without errors."""
    for t in m.types.values():
        resolve_type(m, t)
    if m.errors:
        return
    for t in m.types.values():
        for fd in t.fields:
            resolve_default(m, fd)
    check_payload_points(m)
    check_unique_elements(m)
    assign_ids(m)
    for t in m.types.values():
        for r in t.rules:
            resolve_rule(m, t, r)


def resolve_type(m, t):
    for fd in t.fields:
        check_references(m, fd)
        resolve_int_range(m, fd)
    if sum(1 for fd in t.fields if fd.kind == "ATTR") > MAX_FIELDS or len(t.fields) > MAX_FIELDS:
        m.err(t.node, "element '%s' has more than %d fields" % (t.name, MAX_FIELDS))
    if sum(1 for fd in t.fields if fd.kind == "TEXT") > 1:
        m.err(t.node, "element '%s' has more than one text field" % t.name)
    t.point = t.payloads_field().point if t.payloads_field() else None
    resolve_element_names(m, t)
    if sum(1 for fd in t.fields if fd.kind == "PAYLOADS") > 1:
        m.err(t.node, "element '%s' has more than one payloads field" % t.name)
    check_xml_names(m, t)


def check_references(m, fd):
    """The enum and the element a field names exist."""
    if fd.vtype == "enum":
        if not fd.enum:
            m.err(fd.node, "field '%s' has type enum but no enum attribute" % fd.name)
        elif fd.enum not in m.enums:
            m.err(fd.node, "undefined enum '%s'" % fd.enum)
    elif fd.enum:
        m.err(fd.node, "attribute enum='%s' needs type='enum'" % fd.enum)
    if fd.kind == "CHILD" and fd.ref not in m.types:
        m.err(fd.node, "undefined element '%s'" % fd.ref)


def resolve_int_range(m, fd):
    """lo, hi and the C width of an int value; min and max are only for ints."""
    if fd.vtype != "int":
        if fd.min is not None or fd.max is not None:
            m.err(fd.node, "min/max need type='int'")
        return
    fd.lo = int(fd.min) if fd.min is not None else INT64_MIN
    fd.hi = int(fd.max) if fd.max is not None else INT64_MAX
    if fd.lo > fd.hi:
        m.err(fd.node, "bad range: min %d is greater than max %d" % (fd.lo, fd.hi))
    if fd.lo < INT64_MIN or fd.hi > INT64_MAX:
        m.err(fd.node, "bad range: outside 64-bit integers")
    fd.width = 4 if (fd.lo >= -(2 ** 31) and fd.hi < 2 ** 31) else 8


def resolve_element_names(m, t):
    """An element-name field: the element's local names are the values of its enum."""
    named = [(i, fd) for i, fd in enumerate(t.fields) if fd.kind == "NAME"]
    if len(named) > 1:
        m.err(named[1][1].node, "element '%s' has more than one element-name field" % t.name)
        return
    if not named or named[0][1].enum not in m.enums:
        return
    i, fd = named[0]
    if t.node.get("local") is not None:
        m.err(t.node, "element '%s': local and an element-name field exclude each other" % t.name)
    values = [v.name for v in m.enums[fd.enum].values if not v.implied]
    for v in values:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", v):
            m.err(fd.node, "enum value '%s' cannot be an element name" % v)
    if values:
        t.local = values[0]
        t.names = ElementNames(enum=fd.enum, field=i, values=values)


def check_xml_names(m, t):
    """No two attributes, and no two children, of an element have the same XML name."""
    seen = {}  # (is attribute, ns, local) -> field name
    for fd in t.fields:
        if fd.kind in ("TEXT", "PAYLOADS", "CONDITION", "NAME"):
            continue
        if fd.kind == "CHILD":
            if fd.ref not in m.types:
                continue  # reported as an undefined element
            ref = m.types[fd.ref]
            key = (False, ref.ns, ref.local)
        else:
            key = (fd.kind == "ATTR", fd.ns, fd.local)
        if key in seen:
            m.err(fd.node, "'%s' is already described by field '%s'" % (key[2], seen[key]))
        seen[key] = fd.name


def resolve_default(m, fd):
    """default_value: the default as a C value of the field's type (0 without one)."""
    d = fd.default
    fd.has_default = d is not None
    if d is None:
        return
    if fd.required:
        m.err(fd.node, "a required value cannot have a default (it is never absent)")
        return
    if fd.vtype == "enum":
        names = [v.name for v in m.enums[fd.enum].values]
        if d not in names:
            m.err(fd.node, "default '%s' is not a value of enum '%s'" % (d, fd.enum))
        else:
            fd.default_value = names.index(d) + 1
    elif fd.vtype == "bool":
        if d not in ("true", "false", "1", "0"):
            m.err(fd.node, "default '%s' is not a boolean" % d)
        fd.default_value = 1 if d in ("true", "1") else 0
    elif fd.vtype == "int":
        try:
            v = int(d)
        except ValueError:
            m.err(fd.node, "default '%s' is not an integer" % d)
            return
        if not fd.lo <= v <= fd.hi:
            m.err(fd.node, "default %d is outside the range %d..%d" % (v, fd.lo, fd.hi))
        fd.default_value = v
    else:
        m.err(fd.node, "defaults are only allowed on enum, bool and int values")


def check_payload_points(m):
    for t in m.types.values():
        for p in t.payload_of:
            if p not in payload_points():
                m.err(t.node, "unknown payload point '%s'" % p)


def check_unique_elements(m):
    """Each (namespace, local name) of the registry index names one type."""
    keyed = {}
    for t in m.sorted_types():
        if not t.is_registered():
            continue
        for ns in t.namespaces():
            for local in t.xml_names():
                key = (ns, local)
                if key in keyed:
                    m.err(t.node, "element {%s}%s is already described by '%s'"
                          % (ns or "content", local, keyed[key]))
                keyed[key] = t.name


def assign_ids(m):
    """Ids from a hash of the name, so that adding a type leaves the others' ids alone."""
    taken = set()
    for t in m.sorted_types():
        i = fnv1a(t.name.encode()) % ID_SPACE + 1
        while i in taken:
            i = i % ID_SPACE + 1
        taken.add(i)
        t.id = i


def resolve_rule(m, t, r):
    ops = [k for k in RULE_OPS if getattr(r, k) is not None]
    r.op = ops[0].upper() if ops else "REQUIRES"
    r.when = parse_ref(m, t, r, r.if_text, "condition", True) if r.if_text else None
    r.unless_ref = parse_ref(m, t, r, r.unless_text, "condition", True) if r.unless_text else None
    r.target = parse_ref(m, t, r, getattr(r, ops[0]), "reference", ops[0] != "count") if ops else None
    r.lo = int(r.min) if r.min is not None else 0
    r.hi = int(r.max) if r.max is not None else UINT32_MAX
    if r.op == "COUNT" and r.lo > r.hi:
        m.err(r.node, "rule: min %d is greater than max %d" % (r.lo, r.hi))
    r.deferred = any(x and x.deferred for x in r.refs())


def parse_ref(m, t, r, text, what, allow_values):
    """The RuleRef that text (an attribute of rule r of element t) writes, or None after an
    error.  what: 'condition' or 'reference', for the messages."""
    match = RULE_RE.match(text)
    if not match:
        m.err(r.node, "rule: cannot read %s '%s'" % (what, text))
        return None
    ref = RuleRef(scope="STANZA" if match.group(1) else "SELF", field=match.group(2), payload=match.group(3))
    if match.group(4) is not None:
        if not allow_values:
            m.err(r.node, "rule: %s '%s' cannot compare values" % (what, text))
            return None
        ref.values = match.group(4).split("|")
    owners = [t] if ref.scope == "SELF" else m.stanza_types()
    if not owners:
        m.err(r.node, "rule: '%s' names the stanza, but no element of the run is a stanza" % text)
        return None
    if ref.payload:
        ok = resolve_payload_ref(m, t, r, ref, text)
    else:
        ok = resolve_field_ref(m, t, r, ref, text, owners)
    return ref if ok else None


def resolve_payload_ref(m, t, r, ref, text):
    if ref.payload not in m.types:
        m.err(r.node, "rule: undefined element '%s' in '%s'" % (ref.payload, text))
        return False
    if ref.scope == "SELF" and not any(fd.kind == "PAYLOADS" for fd in t.fields):
        m.err(r.node, "rule: '%s' needs a payloads field in element '%s'" % (text, t.name))
        return False
    if ref.values:
        m.err(r.node, "rule: payload(...) cannot compare values")
        return False
    ref.deferred = ref.scope == "STANZA"
    return True


def resolve_field_ref(m, t, r, ref, text, owners):
    """A reference to a field of t (scope SELF) or of the stanza elements (owners)."""
    found = [fd for x in owners for fd in x.fields if fd.name == ref.field]
    if ref.scope == "SELF" and found:
        ref.index = t.fields.index(found[0])
    # a stanza's lists (bodies, payloads, ...) are gathered when it ends: wait for that
    ref.deferred = ref.scope == "STANZA" and any(fd.kind != "ATTR" for fd in found)
    if not found:
        m.err(r.node, "rule: '%s' names no field of %s" % (
            text, "element '%s'" % t.name if ref.scope == "SELF" else "any stanza element"))
        return False
    return resolve_ref_values(m, r, ref, text, found) if ref.values else True


def resolve_ref_values(m, r, ref, text, found):
    """The values of `f=a|b` are values the fields found can have; ints for an enum field."""
    valued = [fd for fd in found if fd.kind in ("ATTR", "TEXT", "TEXT_CHILD", "NAME") and not fd.is_list]
    if not valued:
        m.err(r.node, "rule: only attributes, text and single text-children have a value ('%s')" % text)
        return False
    enums = [m.enums[fd.enum] for fd in valued if fd.vtype == "enum"]
    if not enums or len(enums) != len(valued):
        return True
    # each value must be a value of the enum (of one of the stanzas, for stanza.f)
    for v in ref.values:
        if not any(v in [x.name for x in e.values] for e in enums):
            m.err(r.node, "rule: '%s' is not a value of enum '%s'" % (v, enums[0].name))
            return False
    if ref.scope == "SELF":
        names = [x.name for x in enums[0].values]
        ref.ints = [names.index(v) + 1 for v in ref.values]
    return True


def fnv1a(data):
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


# --- 5. Schema selection ----------------------------------------------------------------

def referenced_schemas(m, t):
    """The schemas whose declarations type t names: <child> types, enums, payload(t) of rules
    (what its generated header must include)."""
    refs = set()
    for fd in t.fields:
        if fd.kind == "CHILD" and fd.ref in m.types:
            refs.add(m.types[fd.ref].schema)
        if fd.enum and fd.enum in m.enums:
            refs.add(m.enums[fd.enum].schema)
    for r in t.rules:
        for ref in r.refs():
            if ref and ref.payload in m.types:
                refs.add(m.types[ref.payload].schema)
    refs.discard(t.schema)
    return refs


def schema_deps(m):
    """{schema name: set of the schema names it needs}: what its types name, what it `requires`,
    and the stanza schemas when a rule speaks of the stanza."""
    deps = {sch.name: set(sch.requires) for sch in m.schemas}
    for t in m.types.values():
        need = deps[t.schema]
        need |= referenced_schemas(m, t)
        for r in t.rules:
            if any(ref and ref.scope == "STANZA" for ref in r.refs()):
                need.update(x.schema for x in m.stanza_types())
        need.discard(t.schema)
    return deps


# Always compiled in: XMPP Core and IM, and what the runtime's sessions use themselves
# (XEP-0199 pings the client answers, XEP-0198 stream management, XEP-0440 channel-binding
# types, XEP-0114's handshake of the component session, XEP-0030 disco#info the server session
# answers).
CORE_SCHEMAS = ("rfc6120", "rfc6121", "xep0030", "xep0114", "xep0198", "xep0199", "xep0440")


def select_paths(paths, names, validate=True):
    """The files of the schemas named (plus the core and everything they need), in the order
    of paths, and [(schema added, schema that needs it)].  Raises GenError for an unknown name."""
    m = build_model(paths, validate)
    by_name = {sch.name: sch.file for sch in m.schemas}
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
        add_schema(m, p, load_xml(p))
    if not m.errors:
        resolve(m)
    if m.errors:
        raise GenError("\n".join(m.errors))
    return m


# --- 6. Output --------------------------------------------------------------------------

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


def c_value_type(fd):
    """C type of one value of the field."""
    if fd.vtype == "enum":
        return "pxmpp_" + fd.enum
    if fd.vtype == "bool":
        return "bool"
    if fd.vtype == "int":
        return "int32_t" if fd.width == 4 else "int64_t"
    return "const char *"


def c_decl(ctype, name):
    return ctype + name if ctype.endswith("*") else ctype + " " + name


def c_list_type(fd):
    """C type of the array member of a list field."""
    if fd.kind == "PAYLOADS":
        return "const pxmpp_payload *"
    if fd.kind == "LANG_TEXT":
        return "const pxmpp_lang_text *"
    if fd.kind == "CHILD":
        return "const pxmpp_%s *" % fd.ref
    vt = c_value_type(fd)
    return "const char *const *" if vt.endswith("*") else "const %s *" % vt


def c_members(fd):
    """[(declaration, comment)] of the C members of a field (comment None: no comment)."""
    k = fd.kind
    n = fd.name
    d = c_comment(fd.description)
    if fd.is_list:
        array = d + " (array)" if k in CHILD_KINDS else d
        return [(c_list_type(fd) + n + ";", array), ("size_t %s_count;" % n, None)]
    if k in ("ATTR", "TEXT", "TEXT_CHILD"):
        return [(c_decl(c_value_type(fd), n) + ";", d)]
    if k == "FLAG":
        return [("bool %s;" % n, d)]
    if k == "NAME":
        return [("pxmpp_%s %s;" % (fd.enum, n), d + " (the element's own name)")]
    if k == "CONDITION":
        return [("pxmpp_%s %s;" % (fd.enum, n), d),
                ("const char *%s_text;" % n, "Text content of the condition element, NULL when empty.")]
    if k == "CHILD":
        return [("const pxmpp_%s *%s;" % (fd.ref, n), d + " NULL when absent.")]
    raise AssertionError(k)


def manifest_c_type(fd):
    """The C type of the field's first member, as the manifest gives it."""
    if fd.kind == "FLAG":
        return "bool"
    if fd.kind in ENUM_KINDS:
        return "pxmpp_" + fd.enum
    if fd.is_list or fd.kind == "CHILD":
        return c_list_type(fd)
    return c_value_type(fd).strip()


def manifest_field(m, i, fd):
    e = {"index": i, "name": fd.name, "kind": fd.kind.lower().replace("_", "-"),
         "c_type": manifest_c_type(fd), "required": fd.required,
         "list": fd.is_list, "description": fd.description}
    if fd.kind in ("ATTR", "TEXT_CHILD", "LANG_TEXT", "FLAG", "CHILD"):
        e["xml"] = fd.local if fd.kind != "CHILD" else m.types[fd.ref].local
    if fd.attr:
        e["value_attribute"] = fd.attr
    if fd.ns:
        e["namespace"] = fd.ns
    if fd.kind in ("ATTR", "TEXT", "TEXT_CHILD"):
        e["value_type"] = fd.vtype
    if fd.enum:
        e["enum"] = fd.enum
    if fd.kind == "CHILD":
        e["element"] = fd.ref
    if fd.vtype == "int":
        e["min"], e["max"] = fd.lo, fd.hi
    if fd.has_default:
        e["default"] = fd.default
    if fd.kind in ("CHILD", "TEXT_CHILD", "LANG_TEXT", "PAYLOADS"):
        e["min_occurs"] = fd.min_occurs
        e["max_occurs"] = fd.max_occurs or "unbounded"
    if fd.maxlen:
        e["maxlen"] = fd.maxlen
    return e


def manifest_type(m, t):
    rules = [dict({"source": r.source, "description": r.description}, **dict(r.attributes()))
             for r in t.rules]
    return {"name": t.name, "c_type": t.c_name, "element": t.local,
            "namespace": t.ns if t.ns is not None else "(stream content namespace)",
            **({"namespaces": t.ns_list} if t.ns_list else {}),
            **({"rules": rules} if rules else {}),
            "schema": t.schema, "payload_of": t.payload_of,
            "top_level": t.top_level, "stanza": t.stanza,
            "descriptor": t.c_name + "_desc",
            "description": t.description,
            "fields": [manifest_field(m, i, fd) for i, fd in enumerate(t.fields)]}


def manifest_enum(e):
    absent = {"value": 0, "c_name": "PXMPP_%s_ABSENT" % e.upper, "xml": None, "description": "absent"}
    return {"name": e.name, "c_type": e.c_name, "schema": e.schema, "description": e.description,
            "values": [absent] + [{"value": i + 1, "c_name": v.c_name, "xml": None if v.implied else v.name,
                                   "description": v.description} for i, v in enumerate(e.values)]}


def manifest(m):
    """manifest.json: the model for tools (pxmpp-stanza types, bindings)."""
    schemas = [dict({"name": s.name, "title": s.title, "file": "schema/" + os.path.basename(s.file)},
                    **({"version": s.version} if s.version else {}))
               for s in m.schemas]
    return {"pxmpp_manifest": 1, "runtime_abi": RUNTIME_ABI, "schemas": schemas,
            "types": [manifest_type(m, t) for t in m.sorted_types()],
            "enums": [manifest_enum(m.enums[n]) for n in sorted(m.enums)]}


def registry_index(types):
    """The open-addressing hash table of pxmpp_registry.index (see pxmpp/types.h)."""
    entries = []
    for pos, t in enumerate(types):
        if t.is_registered():
            for ns in t.namespaces():
                for local in t.xml_names():
                    entries.append((ns or "", local, pos + 1))
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


def where_used(t):
    """Where an element may appear, for REFERENCE.md."""
    w = ["top level"] if t.top_level else []
    w += ["in " + p if p != "nested" else "nested" for p in t.payload_of]
    return ", ".join(w) or "child"


def md_escape(x):
    return str(x).replace("|", "\\|").replace("<", "&lt;")


def template_env():
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(HERE, "templates")),
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["c_string"] = c_string
    env.filters["c_comment"] = c_comment
    env.filters["upper_c"] = c_upper
    env.filters["md"] = md_escape
    env.globals["c_members"] = c_members
    env.globals["where"] = where_used
    return env


def render(m):
    """{path relative to the output directory: text} of every generated file."""
    env = template_env()
    files = {}
    ctx = {"m": m, "abi": RUNTIME_ABI, "XML_NS": XML_NS}
    for s in m.schemas:
        deps = sorted(set().union(*[referenced_schemas(m, t) for t in s.types]))
        c = dict(ctx, s=s, deps=deps)
        files["include/pxmpp/gen/%s.h" % s.name] = env.get_template("schema.h.j2").render(c)
        files["src/%s.c" % s.name] = c_int64_min(env.get_template("schema.c.j2").render(c))
    types = m.sorted_types()
    points = {p: [t for t in types if p in t.payload_of] for p in payload_points()}
    # the stanzas whose payloads field is a payload point get an accessor per payload type
    stanzas = [st for p in points for st in types if st.stanza and st.point == p]
    c = dict(ctx, stanzas=stanzas, points=points, types=types, index=registry_index(types))
    files["include/pxmpp/gen/all.h"] = env.get_template("all.h.j2").render(c)
    files["src/registry.c"] = env.get_template("registry.c.j2").render(c)
    files["manifest.json"] = json.dumps(manifest(m), indent=1, sort_keys=False, ensure_ascii=False) + "\n"
    files["REFERENCE.md"] = env.get_template("reference.md.j2").render(c)
    return files


def write_files(files, out, check):
    """Write the files that changed into out and remove the generated files it no longer
    produces; with check, write nothing.  Returns the files that differ."""
    stale = []
    for rel, text in sorted(files.items()):
        path = os.path.join(out, rel)
        old = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                old = f.read()
        if old == text:
            continue
        if check:
            stale.append(rel)
            continue
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    if os.path.isdir(out):
        for dp, _, fns in os.walk(out):
            for fn in fns:
                rel = os.path.relpath(os.path.join(dp, fn), out)
                if rel not in files:
                    if check:
                        stale.append(rel + " (not produced by the generator)")
                    elif fn.endswith((".h", ".c", ".json")):
                        os.remove(os.path.join(dp, fn))
    return stale


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
                print(sch.name)
            return 0
        files = render(m)
    except GenError as e:
        sys.stderr.write(str(e) + "\n")
        return 1
    stale = write_files(files, a.out, a.check)
    if stale:
        sys.stderr.write("pxmpp_gen: generated/ is stale; run codegen/pxmpp_gen.py. Differs:\n  "
                         + "\n  ".join(stale) + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
