# Power-safe, owned and versioned persistent records.
#
# Each key has two slot files, <key>.0 and <key>.1. A save writes the slot
# that does not hold the newest good copy, with a sequence number one higher:
#   magic 'MR'(2) format(1)=2 seq(4) length(2) crc32(4) schema(1) version(1) payload
# The CRC covers seq, length, schema, version and payload. Format 1 (the
# layout before schemas, 13-octet header without schema and version) is
# still read: its payload counts as version 0 of whatever schema its owner
# asks for, and the owner's migration hook for version 0 decides.
#
# Ownership and versions (load_rec): each engine owns its record key, a
# schema id and a record version, and passes a strict decoder (it raises on
# anything that is not exactly its layout: wrong length, values out of
# range) and a migration table {older version: function(payload) -> the
# next version's payload}. Load tries the good (CRC-valid) slots newest
# first and takes the first whose schema is the owner's and whose version,
# after migration, decodes: a torn write, a record of a foreign schema, an
# unknown (newer) version, a truncated or extended body, or CRC-good
# garbage the decoder rejects all fall back to the other slot. If no slot
# decodes while a record exists, the key is listed in Store.unreadable and
# load_rec returns None: the owner then boots in its safe state and the
# meter raises an alert (bootrec.py finish, which lists the safe states).
# The next save goes to the slot not holding the copy in use, so the last
# good copy is never the one overwritten. A migration table of None means
# the layout has not changed since format 1.
#
# Journal (journal_write; journal_read at boot, from bootrec): one small
# record written with a single low-level write (a ring-log record's fault
# model: a cut tears it and its CRC fails), in two alternating slots of
# one file ("MJ", seq u32, length u16, crc32, payload). The meter
# writes the intent of a multi-write operation there first (the records it
# will save, with the sequence numbers they will get, and the log entries
# it will append, with theirs) and replays it at boot (meter.py, "atomic
# operations").
#
# Wear: the meter saves on change (configuration) and on a cadence for
# registers (see meter.py: every half hour), never every second. littlefs
# spreads block erases; two slots double the space but not the write rate.
import struct

from ..compat import crc32

_MAGIC = b"MR"
_FORMAT = const(2)
_HDR = "<2sBIHIBB"
_HDR_LEN = const(15)
_HDR1_LEN = const(13)
_CHUNK = const(16)       # bytes per low-level write (fault-injection points)
_UNTYPED = const(0)       # schema of records without an owner's schema id
# journal file "journal": header magic b"MJ", seq, length, crc32 (over seq,
# length, payload) as "<2sIHI"
_JHDR_LEN = const(12)
_JOURNAL_MAX = const(2036)  # payload octets a journal record may hold
_JSLOT = const(2048)


_ZEROS = bytes(64)
_BAD = (ValueError, KeyError, IndexError, TypeError, getattr(struct, "error", ValueError))


class PowerCut(Exception):
    """Raised by a fault-injecting backend: the supply died mid-write."""

class FileBackend:
    """Files in one directory: littlefs on boards, a host directory in tests.

    cut_after(n) arms fault injection: the n-th low-level write from now is
    torn (only part of its bytes reach the file) and PowerCut is raised."""

    def __init__(self, root):
        self.root = root
        self.writes = 0
        self._cut_at = -1
        try:
            import os
            os.mkdir(root)
        except OSError:
            pass

    def cut_after(self, n):
        self._cut_at = self.writes + n if n > 0 else -1

    def _path(self, name):
        return self.root + "/" + name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        self.write_parts(name, (data,))

    def write_parts(self, name, parts):
        """Replace a file with the concatenation of parts (no joined copy in
        RAM: a record's header and a large payload are written in turn)."""
        with open(self._path(name), "wb") as f:   # truncation: first cut point
            self._step(f, b"")
            for data in parts:
                mv = memoryview(data)
                for i in range(0, len(data), _CHUNK):
                    chunk = mv[i:i + _CHUNK]
                    self._step(f, chunk[:len(chunk) // 2])
                    f.write(chunk)

    def _step(self, f, torn):
        self.writes += 1
        if self.writes == self._cut_at:
            self._cut_at = -1
            f.write(torn)                   # part of the chunk reached flash
            raise PowerCut()

    # -- random access, for ring logs (metering/ringlog.py) -------------------
    def read_at(self, name, off, n):
        """n bytes at off, or fewer (None if the file does not exist)."""
        try:
            with open(self._path(name), "rb") as f:
                f.seek(off)
                return f.read(n)
        except OSError:
            return None

    def write_at(self, name, off, data):
        """Overwrite (or extend) a file in place; one low-level write per
        call, so a power cut tears at most this record."""
        try:
            f = open(self._path(name), "r+b")
        except OSError:
            f = open(self._path(name), "w+b")
        with f:
            f.seek(0, 2)
            end = f.tell()
            while end < off:                      # keep slots at fixed offsets: zero-fill
                n = min(off - end, len(_ZEROS))   # in small pieces (no big allocation)
                f.write(memoryview(_ZEROS)[:n])
                end += n
            f.seek(off)
            self._step(f, data[:len(data) // 2])
            f.write(data)

    def remove(self, name):
        try:
            import os
            os.remove(self._path(name))
        except OSError:
            pass


def _seq_newer(a, b):
    return ((a - b) & 0xFFFFFFFF) < 0x80000000 and a != b


class Store:
    def __init__(self, backend):
        self.backend = backend
        self._seq = {}       # key -> (seq, slot): newest sequence seen, slot of the copy in use
        self.corrupt = 0     # slots found torn or corrupt (diagnostics)
        self.unreadable = []  # keys with a record but no slot its owner could read
        self._jseq = None    # (seq, slot) of the newest good journal record

    def _slot(self, key, i):
        """(seq, schema, version, payload) of a CRC-good slot, or None."""
        raw = self.backend.read(key + (".0", ".1")[i])
        if raw is None:
            return None
        if len(raw) >= _HDR1_LEN and raw[2] == 1:
            magic, fmt, seq, ln, crc = struct.unpack_from("<2sBIHI", raw, 0)   # format 1: no schema, no version
            schema = ver = -1                  # format 1: the owner's version 0
            hl = _HDR1_LEN
            c = crc32(struct.pack("<IH", seq, ln))
        elif len(raw) >= _HDR_LEN and raw[2] == _FORMAT:
            magic, fmt, seq, ln, crc, schema, ver = struct.unpack_from(_HDR, raw, 0)
            hl = _HDR_LEN
            c = crc32(struct.pack("<IHBB", seq, ln, schema, ver))
        else:
            self.corrupt += 1
            return None
        if magic != _MAGIC or len(raw) != hl + ln:
            self.corrupt += 1
            return None
        body = memoryview(raw)[hl:]
        if crc32(body, c) & 0xFFFFFFFF != crc:
            self.corrupt += 1
            return None
        return seq, schema, ver, bytes(body)

    def _candidates(self, key):
        """Good slots newest first, as (seq, slot, schema, version, payload)."""
        a = self._slot(key, 0)
        b = self._slot(key, 1)
        if b is None or (a is not None and not _seq_newer(b[0], a[0])):
            a, b = b, a                        # a: the older or None, b: the newest
            sa, sb = 1, 0
        else:
            sa, sb = 0, 1
        if b is None:
            return ()
        return ((b[0], sb) + b[1:],) + (((a[0], sa) + a[1:],) if a is not None else ())

    def _use(self, key, cands, slot):
        """Remember the newest sequence number seen and the slot in use
        (once per load: boot allocates as little as it can that stays)."""
        if cands:
            self._seq[key] = (cands[0][0], cands[0][1] if slot is None else slot)
        else:
            self._seq.pop(key, None)

    def load(self, key):
        """Newest good payload of an untyped record (or of format 1), or None."""
        cands = self._candidates(key)
        for seq, slot, schema, ver, body in cands:
            if schema in (_UNTYPED, -1):
                self._use(key, cands, slot)
                return body
        self._use(key, cands, None)
        return None

    def has(self, key):
        """True when some slot of the record key holds a whole payload (its
        owner may still refuse it)."""
        return bool(self._candidates(key))

    def load_rec(self, key, schema, ver, decode, migrate=None):
        """decode(payload) of the newest slot the owner can read (see the
        module comment), or None: no record, or none readable (then key is
        in self.unreadable). migrate None: no layout change since format 1
        (its records read as the current version)."""
        cands = self._candidates(key)
        for seq, slot, sch, v, body in cands:
            if sch == -1:                      # format 1: version 0 of the owner's schema
                sch, v = schema, (0 if migrate else ver)
            if sch != schema or v > ver:
                continue                       # foreign, or written by a newer firmware
            try:
                while v < ver:
                    body = migrate[v](body)    # migration hooks, one version at a time
                    v += 1
                got = decode(body)
            except _BAD:
                continue
            self._use(key, cands, slot)
            if key in self.unreadable:
                self.unreadable.remove(key)
            return got
        self._use(key, cands, None)
        if cands and key not in self.unreadable:
            self.unreadable.append(key)
        return None

    def next_seq(self, key):
        """The sequence number the next save of key will carry."""
        cur = self._seq.get(key)
        if cur is None:
            self._use(key, self._candidates(key), None)
            cur = self._seq.get(key)
        return (cur[0] + 1) & 0xFFFFFFFF if cur else 1

    def save(self, key, payload, schema=_UNTYPED, ver=0):
        self.save_parts(key, (payload,), schema, ver)

    def save_parts(self, key, parts, schema=_UNTYPED, ver=0):
        """Save the concatenation of parts as one record, without joining
        them in RAM (a full tariff is ~4.4 KB in a fragmented heap)."""
        cur = self._seq.get(key)
        if cur is None:
            self._use(key, self._candidates(key), None)
            cur = self._seq.get(key)
        seq, slot = ((cur[0] + 1) & 0xFFFFFFFF, cur[1] ^ 1) if cur else (1, 0)
        ln = 0
        for p in parts:
            ln += len(p)
        c = crc32(struct.pack("<IHBB", seq, ln, schema, ver))
        for p in parts:
            c = crc32(p, c)
        nxt = (seq, slot)    # made before the write: nothing to allocate once it is on flash
        self.backend.write_parts(key + (".0", ".1")[slot],
                                 (struct.pack(_HDR, _MAGIC, _FORMAT, seq, ln, c & 0xFFFFFFFF,
                                              schema, ver),) + tuple(parts))
        self._seq[key] = nxt

    # -- the journal --------------------------------------------------------------------
    def journal_read(self):
        """Payload of the newest good journal record, or None (at boot);
        sets where the next one goes."""
        best = None
        rd = self.backend.read_at
        for i in (0, 1):
            raw = rd("journal", i * _JSLOT, _JHDR_LEN)
            if raw is None or len(raw) < _JHDR_LEN:
                continue
            magic, seq, ln, crc = struct.unpack_from("<2sIHI", raw, 0)
            if magic != b"MJ" or ln > _JOURNAL_MAX:
                continue
            body = rd("journal", i * _JSLOT + _JHDR_LEN, ln)
            if len(body) != ln or \
                    crc32(body, crc32(struct.pack("<IH", seq, ln))) & 0xFFFFFFFF != crc:
                continue
            if best is None or _seq_newer(seq, best[0]):
                best = (seq, i, body)
        self._jseq = None if best is None else (best[0], best[1])
        return None if best is None else best[2]

    def journal_write(self, payload):
        """One journal record, in one low-level write."""
        if len(payload) > _JOURNAL_MAX:
            raise ValueError("journal record too long")
        cur = self._jseq            # set at boot by journal_read
        seq, slot = ((cur[0] + 1) & 0xFFFFFFFF, cur[1] ^ 1) if cur else (1, 0)
        ln = len(payload)
        rec = bytearray(_JHDR_LEN + ln)
        struct.pack_into("<2sIHI", rec, 0, b"MJ", seq, ln,
                         crc32(payload, crc32(struct.pack("<IH", seq, ln))) & 0xFFFFFFFF)
        rec[_JHDR_LEN:] = payload
        self.backend.write_at("journal", slot * _JSLOT, rec)
        self._jseq = (seq, slot)
