# Cluster tables (style-anchors §5.2): a cluster module is a table plus handlers.
#
# ATTRS: (id, name, type, access, default)
# RANGES: numbered attribute families, computed by read() (_A_DYN implied):
#   (first id, count, id step, name with %d (numbered from 1), type, access)
#   e.g. CurrentTierNSummationDelivered, N = 1..48 at 0x0100 + 2(N-1).
#   Listing them one by one would cost RAM for a thousand tuples.
# RX:    commands this side receives: (id, name, schema); handler on_<name>
# TX:    commands this side generates: (id, name, schema)
# Schemas are those of frame.decode_fields. A command is never declared
# without its payload schema (a hollow declaration decodes to nothing).
# A type in an Attrs or Cmds text is the ZCL data type id in two hex digits
# (ZCL rev 6 Table 2-10; 20 UINT8, 21 UINT16, 22 UINT24, 23 UINT32, 25 UINT48,
# 2A INT24, 2B INT32, 18 MAP8, 19 MAP16, 1B MAP32, 30 ENUM8, 41 OCTSTR,
# 42 CHARSTR, E2 UTC, E1 DATE, F0 EUI64); a zcl.types name is accepted too.
# ATTRS, RX and TX are declared as packed text (the Attrs and Cmds syntax
# below): one string per table instead of a tuple per row, command and
# field. Their tuples were built at import (they name zcl.types constants),
# so they took heap on a board too, and about 27 KB on the unix port; a
# string constant stays in flash (ROMFS on the unix port). The text is the
# class attribute itself, no object wrapping it (27 wrappers were about
# 1.3 KB of a 32-bit board's heap; issue #18): attr_rows() and cmd_rows()
# yield the tuples above, decoded a row at a time, for host tools and
# tests; the engine looks rows up through AttrTable's index and _find.
# Tuple tables (the hub simulator's Time server) work as well.
import struct

from .frame import decode_fields
from .status import ZclError

# Other modules' constants, local so that they fold into the bytecode:
# statuses (ZCL rev 6 Table 2-12, status.py), frame.REST, types.UINT16.
_SUCCESS = const(0x00)
_NOT_AUTHORIZED = const(0x7E)
_UNSUP_CLUSTER_COMMAND = const(0x81)
_INVALID_VALUE = const(0x87)
_REST = const(0x100)
_UINT16 = const(0x21)

# Access bits (ZCL rev 6 §2.6.1.3 plus two of ours).
A_R = const(0x01)    # readable
A_W = const(0x02)    # writable
A_P = const(0x04)    # reportable
_A_NV = const(0x08)   # a write is persisted (survives power cuts)
_A_DYN = const(0x10)  # value computed by Cluster.read(), not stored

RW = const(0x03)
RP = const(0x05)

_ATTR_CLUSTER_REVISION = const(0xFFFD)  # global attribute (ZCL rev 6 §2.6.1.2)
# AttrTable index row: id, type, access (name and default are found in the
# text, by the id, when the row is built: 4 octets a row instead of 12,
# about 1.5 KB less heap for the meter's clusters; issue #18): "<HBB"
_IXN = const(4)


class AttrTable:
    """The attributes of one cluster: the class's ATTRS (an Attrs text or
    a tuple of rows, searched by id, no per-instance dict), numbered
    families as ranges, and the global ClusterRevision. Behaves like the
    dict it replaces (get, [], in, sorted iteration, items)."""

    # Its members are named as a Cluster's class attributes (a Cluster is
    # its own table and has them from its class): ATTRS, RANGES, REVISION.
    def __init__(self, attrs, ranges, revision):
        self.RANGES = ranges
        self.REVISION = revision[4]       # the ClusterRevision row's value
        self.ATTRS = self._index(attrs)

    def _index(self, attrs):
        """Builds self.ix; returns what ATTRS is to be (the rows sorted by
        id if they were not)."""
        if isinstance(attrs, str):
            # index, ascending id: id, type and access of each row ("<HBB")
            # (allocated first, filled with few temporaries: it lives as
            # long as the meter)
            sp = attrs
            n = 0
            for _ in _recs(sp):
                n += 1
            ix = self.ix = bytearray(_IXN * n)
            i = 0
            for a, b in _recs(sp):
                p, e = _tok(sp, a, b)              # the row's index entry
                aid = int(sp[p:e], 16)
                n0, n1 = _tok(sp, e, b)
                p, e = _tok(sp, n1, b)
                t = _typ(sp[p:e])
                p, e = _tok(sp, e, b)
                acc = 0
                while p < e:
                    acc |= 1 << "RWPND".find(sp[p])
                    p += 1
                struct.pack_into("<HBB", ix, _IXN * i, aid, t, acc)
                k = i                            # insertion sort on the id
                while k and self._id(k - 1) > self._id(k):
                    t = ix[_IXN * k - _IXN:_IXN * k]
                    ix[_IXN * k - _IXN:_IXN * k] = ix[_IXN * k:_IXN * k + _IXN]
                    ix[_IXN * k:_IXN * k + _IXN] = t
                    k -= 1
                i += 1
            return attrs
        self.ix = None
        ids = [a[0] for a in attrs]
        return attrs if ids == sorted(ids) else tuple(sorted(attrs))

    def _id(self, i):
        ix = self.ix
        if ix is not None:
            return ix[_IXN * i] | ix[_IXN * i + 1] << 8
        return self.ATTRS[i][0]

    def _row(self, i):
        if self.ix is not None:
            aid, t, acc = struct.unpack_from("<HBB", self.ix, _IXN * i)
            s = self.ATTRS
            for a, b in _recs(s):                # the record of that id
                p, e = _tok(s, a, b)
                if int(s[p:e], 16) == aid:
                    break
            n0, n1 = _tok(s, e, b)               # name
            p, e = _tok(s, n1, b)                # type
            p, e = _tok(s, e, b)                 # access
            d0, d1 = _tok(s, e, b)
            return (aid, s[n0:n1], t, acc, _dflt(s[d0:d1]))
        return self.ATTRS[i]

    def get(self, aid, default=None):
        n = (len(self.ix) // _IXN if self.ix is not None else len(self.ATTRS))
        lo, hi = 0, n
        while lo < hi:                           # binary search on the id
            mid = (lo + hi) >> 1
            if self._id(mid) < aid:
                lo = mid + 1
            else:
                hi = mid
        if lo < n and self._id(lo) == aid:
            return self._row(lo)
        if aid == _ATTR_CLUSTER_REVISION:        # global (ZCL rev 6 §2.6.1.2), built when asked
            return (_ATTR_CLUSTER_REVISION, "ClusterRevision", _UINT16, A_R, self.REVISION)
        for first, n, step, name, t, acc in self.RANGES:
            i, r = divmod(aid - first, step)
            if r == 0 and 0 <= i < n:
                return (aid, name % (i + 1), t, acc | _A_DYN, None)
        return default

    def ta(self, aid):
        """type << 8 | access of attribute aid, -1 if there is none: what
        Read Attributes needs, without building the row."""
        ix = self.ix
        if ix is not None:
            lo, hi = 0, len(ix) // _IXN
            while lo < hi:
                mid = (lo + hi) >> 1
                if self._id(mid) < aid:
                    lo = mid + 1
                else:
                    hi = mid
            if lo < len(ix) // _IXN and self._id(lo) == aid:
                return ix[_IXN * lo + 2] << 8 | ix[_IXN * lo + 3]
        a = self.get(aid)
        return -1 if a is None else a[2] << 8 | a[3]

    def __getitem__(self, aid):
        a = self.get(aid)
        if a is None:
            raise KeyError(aid)
        return a

    def __contains__(self, aid):
        return self.get(aid) is not None

    def __iter__(self):
        """Ascending ids, merged lazily (a list of every numbered id would
        cost kilobytes of heap)."""
        ne = (len(self.ix) // _IXN if self.ix is not None else len(self.ATTRS))
        nxt = [r[0] for r in self.RANGES]       # next id of each range
        left = [r[1] for r in self.RANGES]
        i = 0
        while True:
            best = self._id(i) if i < ne else _ATTR_CLUSTER_REVISION if i == ne else 0x10000
            k = -1
            for j in range(len(nxt)):
                if left[j] and nxt[j] < best:
                    best, k = nxt[j], j
            if best == 0x10000:
                return
            if k < 0:
                i += 1
            else:
                nxt[k] += self.RANGES[k][2]
                left[k] -= 1
            yield best

    def items(self):
        for aid in self:
            yield aid, self[aid]


# Attrs text (an ATTRS table): rows separated by ";", each
# "ID Name TYPE ACCESS DEFAULT" with ID four hex digits, TYPE the ZCL type
# id in two hex digits (or a zcl.types name), ACCESS letters R W P N D
# (A_R A_W A_P _A_NV _A_DYN) and DEFAULT an integer (0x... hex or decimal),
# - for None or '...' for an ASCII octet string without blanks.
# Cmds text (a RX or TX table): commands separated by ";", each
# "ID Name field:TYPE ..." with ID two hex digits, TYPE as above, REST, or
# a repeated group "[name:TYPE,name:TYPE]"; a field name ending in "?" is
# optional (frame.decode_fields).

def attr_rows(table):
    """The (id, name, type, access, default) rows of an ATTRS table (Attrs
    text or tuple), decoded one at a time (on the unix port a .mpy's
    tuples are heap objects, one string is not)."""
    if isinstance(table, str):
        for a, b in _recs(table):
            toks = table[a:b].split()
            acc = 0
            for c in toks[3]:
                acc |= 1 << "RWPND".find(c)
            yield (int(toks[0], 16), toks[1], _typ(toks[2]), acc, _dflt(toks[4]))
    else:
        yield from table


def cmd_rows(table):
    """The (id, name, schema) commands of a RX or TX table (Cmds text or
    tuple), decoded one at a time."""
    if isinstance(table, str):
        for a, b in _recs(table):
            yield _cmd(table[a:b])
    else:
        yield from table


def n_rows(table):
    """How many rows or commands a table (text or tuple) has."""
    if not isinstance(table, str):
        return len(table)
    n = 0
    for _ in _recs(table):
        n += 1
    return n


def _recs(s):
    """(start, end) of each non-blank ";"-separated record of s."""
    a = 0
    n = len(s)
    while a < n:
        while a < n and s[a] <= " ":
            a += 1
        b = s.find(";", a)
        if b < 0:
            b = n
        if a < b:
            yield a, b
        a = b + 1


def _tok(s, a, b):
    """(start, end) of the first blank-separated token of s[a:b]."""
    while a < b and s[a] <= " ":
        a += 1
    e = a
    while e < b and s[e] > " ":
        e += 1
    return a, e


def _typ(t):
    """A field or attribute type: two hex digits, the ZCL data type id
    (ZCL rev 6 Table 2-10, "23" UINT32), as the firmware's tables write it;
    or a zcl.types name ("UINT32"; no name has two characters)."""
    if len(t) == 2:
        return int(t, 16)
    from . import types as T           # a name: host tools' tables (no global here)
    return getattr(T, t)


def _dflt(d):
    if d == "-":
        return None
    if d[0] == "'":
        return d[1:-1].encode()
    if d[:2] == "0x":
        return int(d[2:], 16)
    return int(d)


class Cluster(AttrTable):
    """A cluster is its own attribute table (adefs is the cluster: its
    index ix is the one member; ATTRS, RANGES and REVISION are the
    class's), one AttrTable object, its members and a ClusterRevision row
    less per cluster on the heap (issue #18)."""
    ID = 0
    NAME = ""
    SERVER = True      # which side of the cluster this instance implements
    REVISION = 1       # ClusterRevision global attribute
    ATTRS = ()
    RANGES = ()
    RX = ()
    TX = ()
    SECURE = False     # needs APS link-key security (ZSE 1.x §5.4.6 Table 2)

    def __init__(self, app):
        self.app = app
        # values holds the attributes written since the factory (by a
        # command, the firmware or the flash record, meter._load_nv) and
        # those a cluster keeps there itself; any other non-dynamic
        # attribute reads as its table default (stored()). A dict of every
        # default cost about 1 KB of the 32-bit meter's heap (issue #18).
        self.values = {}
        a = self._index(self.ATTRS)
        if a is not self.ATTRS:
            self.ATTRS = a          # a tuple table out of id order (host tools only)

    @property
    def adefs(self):
        return self

    # -- attributes ---------------------------------------------------------
    def read(self, aid):
        """Current value of attribute aid (dynamic attributes override this)."""
        return self.stored(aid)

    def stored(self, aid):
        """Value of the non-dynamic attribute aid: as written, else the
        table's default (KeyError for a dynamic or unknown one, as before).
        A default is decoded from the table text (a bytes default is a new
        object): attributes read every second are kept in values by their
        cluster (no allocation in the tick)."""
        v = self.values
        if aid in v:
            return v[aid]
        a = self.adefs[aid]
        if a[3] & _A_DYN:
            raise KeyError(aid)
        return a[4]

    def validate(self, aid, value):
        """ZCL status for writing value to aid (type already checked)."""
        return _SUCCESS

    def write(self, aid, value):
        """Store a validated value; persist it if the attribute says so."""
        self.values[aid] = value
        if self.adefs[aid][3] & _A_NV:
            self.app.nv_dirty(self)

    def nv_items(self):
        """(aid, type, value) of persisted attributes, for the store."""
        out = []
        for aid in self.adefs:
            a = self.adefs[aid]
            if a[3] & _A_NV:
                out.append((aid, a[2], self.stored(aid)))
        return out

    # -- commands -----------------------------------------------------------
    def dispatch(self, req, buf, off, end):
        """Decode and run a cluster-specific command (ZCL rev 6 §2.4.1)."""
        c = _find(self.RX, 0, req.hdr.cmd)
        if c is None:
            raise ZclError(_UNSUP_CLUSTER_COMMAND)
        fields, off = decode_fields(c[2], buf, off, end)
        return getattr(self, "on_" + c[1])(req, fields)

    def send(self, dst, dst_ep, src_ep, cmd, fields, no_default_rsp=True):
        """Originate a cluster-specific command from this side."""
        c = _find(self.TX, 1, cmd)
        return self.app.zcl.send_cluster_cmd(self, dst, dst_ep, src_ep, c[0],
                                             c[2], fields, no_default_rsp)

    def reply(self, req, cmd, fields):
        """Answer req with one of this side's generated commands."""
        c = _find(self.TX, 1, cmd)
        return self.app.zcl.reply_cluster_cmd(self, req, c[0], c[2], fields)

    def tick(self, now):
        """Once-per-second hook. Must not allocate in steady state."""
        pass

    def require_supplier(self, req):
        """Commands that are the supplier's (payment mode, debt, supply):
        they come through the comms hub, our ESI stand-in, and from no other
        HAN device (GBCS §13.7.3)."""
        if req.aps.src != self.app.cfg["hub_addr"]:
            raise ZclError(_NOT_AUTHORIZED)


def _cmd(rec):
    toks = rec.split()
    return (int(toks[0], 16), toks[1], tuple([_field(t) for t in toks[2:]]))


def _field(tok):
    i = tok.find(":")
    t = tok[i + 1:]
    if t[0] == "[":
        t = tuple([_field(f) for f in t[1:-1].split(",")])
    elif t == "REST":
        t = _REST
    else:
        t = _typ(t)
    return (tok[:i], t)


def _find(table, k, key):
    """The (id, name, schema) command of a RX/TX table whose id (an int
    key, k 0) or name (k 1) is key, None if absent (a scan of a dozen
    entries instead of two dicts per cluster); of a Cmds text only that
    one command is decoded."""
    if isinstance(key, int):
        k = 0
    if isinstance(table, str):
        s = table
        for a, b in _recs(s):
            e = s.find(" ", a + 3)
            if e < 0 or e > b:
                e = b
            if (int(s[a:a + 2], 16) == key) if k == 0 else (
                    e - a - 3 == len(key) and s.startswith(key, a + 3)):
                return _cmd(s[a:b])
        return None
    for c in table:
        if c[k] == key:
            return c
    return None


def check_range(value, lo, hi):
    if not lo <= value <= hi:
        raise ZclError(_INVALID_VALUE)


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    A_NV = _A_NV
    A_DYN = _A_DYN
