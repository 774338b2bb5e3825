"""A small reader for MicroPython .mpy files (version 6): the header, the
qstr table and the constant-object table, and the rule by which freezing
turns integer constants into static long ints on a board.

    python -m tools.mpyinfo FILE.mpy ...     # list each file's long-int constants

Format (upstream docs/reference/mpyfiles.rst, py/persistentcode.c
load_qstr/load_obj): header 'M', version, feature byte, small-int bits;
a vuint of arch flags if feature bit 6 is set; vuint n_qstr, vuint n_obj;
n_qstr qstrs (vuint len<<1|static; a static one has no data, else len
octets and a NUL); n_obj objects (one type octet; none/false/true/ellipsis
carry nothing, str/bytes a vuint length, the octets and a NUL, int/float/
complex a vuint length and their decimal text, tuple a vuint count and
its items). A vuint is 7 bits per octet, most significant group first,
bit 7 set on every octet but the last. The raw code follows; it is not
needed here: every constant object of the module is in the one table.

The freezing rule (upstream tools/mpy-tool.py, freeze_constant_obj and
mp_small_int_fits): frozen code is generated once for every target, so an
integer constant object is emitted as a small int only if it fits the
smallest small int of any target, -0x2000..0x1FFF (14 bits); any other
becomes a static long-int object, and arithmetic on a long int allocates
its result on the heap. Integer literals in bytecode (LOAD_CONST_SMALL_INT,
and const() values folded into it) are not affected; the constant objects
are the elements of constant tuples and integers too large for the .mpy's
own small-int width.
"""
import sys

FROZEN_SMALL_MIN = -0x2000
FROZEN_SMALL_MAX = 0x1FFF

_NONE, _FALSE, _TRUE, _ELLIPSIS = 1, 2, 3, 4
_STR, _BYTES, _INT, _FLOAT, _COMPLEX, _TUPLE = 5, 6, 7, 8, 9, 10


class MpyError(ValueError):
    pass


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def byte(self):
        if self.pos >= len(self.data):
            raise MpyError("truncated .mpy")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n):
        if self.pos + n > len(self.data):
            raise MpyError("truncated .mpy")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self):
        n = 0
        while True:
            b = self.byte()
            n = (n << 7) | (b & 0x7F)
            if not b & 0x80:
                return n


def _obj(r):
    t = r.byte()
    if t == 0:
        return ("funtable", None)
    if t == _NONE:
        return None
    if t == _FALSE:
        return False
    if t == _TRUE:
        return True
    if t == _ELLIPSIS:
        return Ellipsis
    n = r.uint()
    if t == _TUPLE:
        return tuple(_obj(r) for _ in range(n))
    raw = r.take(n)
    if t in (_STR, _BYTES):
        if r.byte() != 0:
            raise MpyError("str/bytes constant without its NUL")
        return raw.decode("utf-8") if t == _STR else bytes(raw)
    text = raw.decode("ascii")
    if t == _INT:
        return int(text)
    if t == _FLOAT:
        return float(text)
    if t == _COMPLEX:
        return complex(text)
    raise MpyError("unknown constant object type %d" % t)


def read(data):
    """{'version', 'sub_version', 'arch', 'small_int_bits', 'qstrs', 'objs'}
    of an .mpy file's octets."""
    r = _Reader(bytes(data))
    if r.byte() != ord("M"):
        raise MpyError("not an .mpy file")
    version = r.byte()
    if version != 6:
        raise MpyError(".mpy version %d, this reader knows 6" % version)
    feat = r.byte()
    out = {"version": version, "sub_version": feat & 3, "arch": (feat >> 2) & 0x0F,
           "small_int_bits": r.byte()}
    if feat & 0x40:
        out["arch_flags"] = r.uint()
    n_qstr = r.uint()
    n_obj = r.uint()
    qstrs = []
    for _ in range(n_qstr):
        n = r.uint()
        if n & 1:
            qstrs.append(n >> 1)               # a static qstr: its number
        else:
            qstrs.append(r.take(n >> 1).decode("utf-8"))
            if r.byte() != 0:
                raise MpyError("qstr without its NUL")
    out["qstrs"] = qstrs
    out["objs"] = [_obj(r) for _ in range(n_obj)]
    return out


def freezes_long(i):
    return not FROZEN_SMALL_MIN <= i <= FROZEN_SMALL_MAX


def long_ints(objs):
    """(path, value) of every integer constant that freezes as a long int;
    path is 'objN' or 'objN[i][j]' for a tuple element."""
    out = []

    def walk(o, path):
        if isinstance(o, bool):
            return
        if isinstance(o, int):
            if freezes_long(o):
                out.append((path, o))
        elif isinstance(o, tuple):
            for i, x in enumerate(o):
                walk(x, "%s[%d]" % (path, i))

    for n, o in enumerate(objs):
        walk(o, "obj%d" % n)
    return out


def main(argv):
    bad = 0
    for fn in argv:
        with open(fn, "rb") as f:
            info = read(f.read())
        for path, v in long_ints(info["objs"]):
            print("%s: %s = %d" % (fn, path, v))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
