"""Names a firmware module makes public on CPython only (the block at its
end, `if __import__("sys").implementation.name != "micropython":`, issue
#18: on a board they are folded private constants) exist only on the host:
the module itself must use the private name, and no other firmware module
may import or read the public one, or the board fails where the host passes."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUARD = 'if __import__("sys").implementation.name != "micropython":'


def _modules():
    for p in sorted(glob.glob(os.path.join(ROOT, "firmware", "**", "*.py"), recursive=True)):
        with open(p) as f:
            yield os.path.relpath(p, ROOT), f.read()


def _host_only():
    out = {}
    for rel, s in _modules():
        i = s.find(GUARD)
        if i >= 0:
            out[rel] = (s[:i], re.findall(r"^    (\w+) = ", s[i:], re.M))
    return out


def _code(s):
    """The source without comments and string literals (docstrings)."""
    s = re.sub(r'"""[\s\S]*?"""', "", s)
    s = re.sub(r"#[^\n]*", "", s)
    return re.sub(r'"[^"\n]*"', '""', s)


def test_host_only_names_are_not_used_by_their_module():
    bad = []
    for rel, (body, names) in _host_only().items():
        code = _code(body)
        for n in names:
            if re.search(r"(?<![\w.])" + n + r"\b", code):
                bad.append((rel, n))
    assert bad == []
    assert len(_host_only()) > 5           # the blocks are found


def test_host_only_names_are_not_imported_by_other_firmware_modules():
    names = {n for _, ns in _host_only().values() for n in ns}
    bad = []
    for rel, s in _modules():
        code = _code(s)
        for m in re.finditer(r"from \.[\w.]* import ([^\n(]+|\([^)]*\))", code):
            for n in re.findall(r"\w+", m.group(1)):
                if n in names and n != "as":
                    bad.append((rel, n))
        for m in re.finditer(r"\b[A-Z]{1,3}\.([A-Z_][A-Z0-9_]+)\b", code):
            if m.group(1) in names:
                bad.append((rel, m.group(0)))
    assert bad == []
