#!/usr/bin/env python3
"""The payload points have one source, the PXMPP_PAYLOAD_OF_* enum of runtime/include/pxmpp/types.h.

The generator reads them from there (payload_points() in codegen/pxmpp_gen.py) and refuses to run
when schema/pxmpp-schema.rng allows other payload-of or point values.  This checks that it does:
the files as they are agree, and a copy of either with a point more or less is refused.  It also
checks that the generated code names no PXMPP_PAYLOAD_OF_* bit the runtime lacks.

Usage: points_sync.py (exit 0: all passed, 1: a check failed, 77: jinja2 is missing)
"""
import glob
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
try:
    import jinja2  # noqa: F401  (the generator needs it to load)
except ImportError:
    print("SKIP: %s cannot import jinja2" % sys.executable)
    sys.exit(77)
sys.path.insert(0, os.path.join(ROOT, "codegen"))
sys.dont_write_bytecode = True  # nothing written into the source tree
import pxmpp_gen  # noqa: E402

passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s" % name)
    else:
        failed += 1
        print("FAIL %s%s" % (name, ": " + detail if detail else ""))


def refused(types_text, rng_text, want):
    """Does payload_points() refuse these file contents with a message containing want?"""
    with tempfile.TemporaryDirectory() as d:
        th, rng = os.path.join(d, "types.h"), os.path.join(d, "grammar.rng")
        with open(th, "w", encoding="utf-8") as f:
            f.write(types_text)
        with open(rng, "w", encoding="utf-8") as f:
            f.write(rng_text)
        try:
            got = pxmpp_gen.payload_points(th, rng)
        except pxmpp_gen.GenError as e:
            return want in str(e), str(e)
        return False, "accepted, points %s" % " ".join(got)


with open(pxmpp_gen.TYPES_H, encoding="utf-8") as f:
    TYPES = f.read()
with open(pxmpp_gen.RNG, encoding="utf-8") as f:
    RNG = f.read()

try:
    points = pxmpp_gen.payload_points()
    check("types.h and the grammar agree", True)
except pxmpp_gen.GenError as e:
    points = ()
    check("types.h and the grammar agree", False, str(e))
check("the points are the PXMPP_PAYLOAD_OF_* bits but ANY",
      sorted(points) == sorted(n.lower() for n in re.findall(r"PXMPP_PAYLOAD_OF_(\w+) = 1u << \d+,", TYPES)),
      " ".join(points))

more = TYPES.replace("    PXMPP_PAYLOAD_OF_NESTED = 1u << 4,",
                     "    PXMPP_PAYLOAD_OF_NESTED = 1u << 4,\n    PXMPP_PAYLOAD_OF_GROUPCHAT = 1u << 5,")
check("the test edits types.h", more != TYPES)
check("a point types.h adds is refused", *refused(more, RNG, "attribute payload-of allows"))

fewer = RNG.replace("<value>features</value><value>nested</value>", "<value>features</value>")
check("the test edits the grammar", fewer != RNG)
check("a payload-of value the grammar drops is refused", *refused(TYPES, fewer, "attribute payload-of allows"))

no_any = RNG.replace("<value>features</value><value>any</value>", "<value>features</value>")
check("the test edits the point values", no_any != RNG)
check("a point value the grammar drops is refused", *refused(TYPES, no_any, "attribute point allows"))

check("types.h without ANY is refused",
      *refused(TYPES.replace("PXMPP_PAYLOAD_OF_ANY = 1u << 31", "PXMPP_PAYLOAD_OF_ALL = 1u << 31"), RNG,
               "cannot read the PXMPP_PAYLOAD_OF_* bits"))

known = set(pxmpp_gen.c_upper(p) for p in points) | {"ANY"}
used = set()
for path in glob.glob(os.path.join(ROOT, "generated", "src", "*.c")):
    with open(path, encoding="utf-8") as f:
        used |= set(re.findall(r"PXMPP_PAYLOAD_OF_(\w+)", f.read()))
check("generated code uses only the runtime's bits", used <= known, " ".join(sorted(used - known)))

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
