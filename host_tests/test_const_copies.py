"""Local copies of other modules' constants (issue #14, flash diet).

A module that reads another module's const() name (`S.NOT_FOUND`,
`from ..platform.clock import DAY`) pays a global or attribute load and the
name's qstr in its bytecode; a private copy `_NOT_FOUND = const(0x8B)` is
folded into the bytecode by the compiler instead. Each copy names its source
in its comment (`# = zcl.status.NOT_FOUND`), and this test keeps the one
definition of truth: every copy equals the constant it copies, and the
source is itself a const() (on the MicroPython unix port const() names are
not module attributes, so the check runs here, on CPython, from the source
text).
"""
import glob
import importlib
import os
import re

from conftest import ROOT

_COPY = re.compile(r"^(_[A-Z][A-Z0-9_]*) = const\(([^()]*)\)\s*# = ([\w.]+)\.([A-Z][A-Z0-9_]*)\s*$",
                   re.M)


def _copies():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "firmware", "**", "*.py"), recursive=True)):
        rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
        with open(path) as f:
            for m in _COPY.finditer(f.read()):
                out.append((rel, m.group(1), m.group(2).strip(), m.group(3), m.group(4)))
    return out


def _module(rel):
    name = rel[:-3].replace("/", ".")
    return importlib.import_module(name[:-9] if name.endswith(".__init__") else name)


def _mismatches(copies):
    """The copies that differ from their source (or whose source is no const())."""
    bad = []
    for rel, local, text, src_mod, src_name in copies:
        value = int(text, 0)
        src = importlib.import_module("firmware." + src_mod)
        with open(src.__file__) as f:
            # (the source may be private with a CPython-only public alias: issue #18)
            is_const = re.search(r"^_?%s = const\(" % src_name, f.read(), re.M)
        if getattr(src, src_name, None) != value or not is_const:
            bad.append((rel, local, src_mod, src_name))
    return bad


def test_every_copied_constant_equals_its_source():
    copies = _copies()
    # the cluster modules, the control loop, the meter, prepay/ and tariff/ hold them
    assert len(copies) >= 60 and len({c[0] for c in copies}) >= 8
    for rel, local, text, _, _ in copies:
        assert getattr(_module(rel), local) == int(text, 0), (rel, local)   # compat.const on CPython
    assert _mismatches(copies) == []


def test_a_drifted_copy_is_caught():
    """A copy whose value differs from its source, or that names a source
    which is not a const() of that module, is reported."""
    m = _COPY.search("_NOT_FOUND = const(0x8C)    # = zcl.status.NOT_FOUND\n")
    drifted = ("x.py",) + m.group(1, 2, 3, 4)
    right = ("x.py", "_NOT_FOUND", "0x8B", "zcl.status", "NOT_FOUND")
    imported = ("x.py", "_DAY", "86400", "prepay.account", "DAY")     # account imports no DAY
    assert _mismatches([right]) == []
    assert _mismatches([drifted, right, imported]) == [
        ("x.py", "_NOT_FOUND", "zcl.status", "NOT_FOUND"), ("x.py", "_DAY", "prepay.account", "DAY")]
