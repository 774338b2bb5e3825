# Power-safe persistent records.
#
# Each key has two slot files, <key>.0 and <key>.1. A save writes the slot
# that does not hold the newest good copy, with a sequence number one higher:
#   magic 'MR'(2) version(1) seq(4) length(2) crc32(4) payload
# The CRC covers seq, length and payload. A load reads both slots and returns
# the payload of the valid slot with the higher sequence number (wrapping
# compare), so a write torn by a power cut at any point leaves the previous
# good copy in force: the change either happened whole or not at all.
#
# Wear: the meter saves on change (configuration) and on a cadence for
# registers (see meter.py: every half hour), never every second. littlefs
# spreads block erases; two slots double the space but not the write rate.
import struct

from ..compat import const, crc32

_MAGIC = b"MR"
_VERSION = const(1)
_HDR = "<2sBIHI"
_HDR_LEN = const(13)
CHUNK = const(16)        # bytes per low-level write (fault-injection points)


_ZEROS = bytes(64)


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
                for i in range(0, len(data), CHUNK):
                    chunk = mv[i:i + CHUNK]
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
        self._seq = {}       # key -> (seq, slot) of the newest good copy
        self.corrupt = 0     # slots found torn or corrupt (diagnostics)

    def _slot(self, key, i):
        raw = self.backend.read(key + (".0", ".1")[i])
        if raw is None:
            return None
        if len(raw) < _HDR_LEN:
            self.corrupt += 1
            return None
        magic, ver, seq, ln, crc = struct.unpack_from(_HDR, raw, 0)
        if magic != _MAGIC or ver != _VERSION or len(raw) != _HDR_LEN + ln:
            self.corrupt += 1
            return None
        body = memoryview(raw)[_HDR_LEN:]
        c = crc32(struct.pack("<IH", seq, ln))
        if crc32(body, c) & 0xFFFFFFFF != crc:
            self.corrupt += 1
            return None
        return seq, bytes(body)

    def load(self, key):
        """Newest good payload for key, or None."""
        a = self._slot(key, 0)
        b = self._slot(key, 1)
        if a is None and b is None:
            self._seq.pop(key, None)
            return None
        if b is None or (a is not None and not _seq_newer(b[0], a[0])):
            self._seq[key] = (a[0], 0)
            return a[1]
        self._seq[key] = (b[0], 1)
        return b[1]

    def save(self, key, payload):
        self.save_parts(key, (payload,))

    def save_parts(self, key, parts):
        """Save the concatenation of parts as one record, without joining
        them in RAM (a full tariff is ~4.4 KB in a fragmented heap)."""
        cur = self._seq.get(key)
        if cur is None:
            self.load(key)
            cur = self._seq.get(key)
        seq, slot = ((cur[0] + 1) & 0xFFFFFFFF, cur[1] ^ 1) if cur else (1, 0)
        ln = 0
        for p in parts:
            ln += len(p)
        c = crc32(struct.pack("<IH", seq, ln))
        for p in parts:
            c = crc32(p, c)
        nxt = (seq, slot)    # made before the write: nothing to allocate once it is on flash
        self.backend.write_parts(key + (".0", ".1")[slot],
                                 (struct.pack(_HDR, _MAGIC, _VERSION, seq, ln, c & 0xFFFFFFFF),)
                                 + tuple(parts))
        self._seq[key] = nxt

    def erase(self, key):
        self.backend.remove(key + ".0")
        self.backend.remove(key + ".1")
        self._seq.pop(key, None)
