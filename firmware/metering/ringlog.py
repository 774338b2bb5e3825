# Flash ring logs: bounded files of fixed-size records, written in place, one
# record per low-level write, each with its own CRC, never a growing list in
# RAM. A power cut during an append tears at most that record (its CRC fails
# and it reads as missing); older records are never touched.
#
# SlotRing: the record for index i lives in slot i % slots and carries no
#   index of its own; its CRC-8 covers the implied index too, so a slot left
#   from the previous lap reads as missing. Profile data uses 4-octet
#   records this way (13 months of half-hours in 76 KB). A ring of large
#   records (wide) checks them with CRC-32 in 4 octets instead: a torn
#   record of hundreds of octets must not pass a one-octet check 1 in 256.
# SeqLog: records carry a 32-bit sequence number (event and security logs);
#   the newest is found by one scan at start-up.
import struct

from ..compat import crc32


def _crc8(data, crc=0):
    """CRC-8 (poly 0x07, SMBus) over data."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


class SlotRing:
    def __init__(self, backend, name, slots, payload, wide=False):
        self.backend = backend
        self.name = name
        self.slots = slots
        self.payload = payload              # octets per record before the CRC
        self.wide = wide                    # CRC-32 (4 octets) instead of CRC-8
        self.size = payload + (4 if wide else 1)
        self._ib = bytearray(4)
        self.writes = 0

    def _crc(self, index, payload):
        struct.pack_into("<I", self._ib, 0, index & 0xFFFFFFFF)
        if self.wide:
            return crc32(payload, crc32(self._ib)) ^ 0xA5A5    # small: no frozen long int
        return _crc8(payload, _crc8(self._ib)) ^ 0xA5    # all-zero slots never pass

    def put(self, index, payload):
        rec = bytearray(self.size)
        n = self.payload
        rec[:n] = payload
        if self.wide:
            struct.pack_into("<I", rec, n, self._crc(index, payload))
        else:
            rec[n] = self._crc(index, payload)
        self.backend.write_at(self.name, (index % self.slots) * self.size, rec)
        self.writes += 1

    def get(self, index):
        raw = self.backend.read_at(self.name, (index % self.slots) * self.size, self.size)
        if raw is None or len(raw) != self.size:
            return None
        n = self.payload
        body = raw[:n]
        c = struct.unpack_from("<I", raw, n)[0] if self.wide else raw[n]
        if c != self._crc(index, body):
            return None
        return body


class SeqLog:
    """Append-only log of `payload`-octet records in `slots` slots:
    seq u32 ‖ payload ‖ CRC-32 (low 16 bits)."""

    def __init__(self, backend, name, slots, payload):
        self.backend = backend
        self.name = name
        self.slots = slots
        self.payload = payload
        self.size = 4 + payload + 2
        self.seq = 0                         # sequence number of the newest record
        self._scan()

    def _valid(self, raw):
        if raw is None or len(raw) != self.size:
            return None
        c = crc32(memoryview(raw)[:self.size - 2]) & 0xFFFF
        if c != struct.unpack_from("<H", raw, self.size - 2)[0]:
            return None
        seq = struct.unpack_from("<I", raw, 0)[0]
        return seq if seq else None

    def _scan(self):
        best = 0
        step = 8                             # records per read: small buffers at boot
        for first in range(0, self.slots, step):
            n = min(step, self.slots - first)
            data = self.backend.read_at(self.name, first * self.size, n * self.size) or b""
            for i in range(len(data) // self.size):
                s = self._valid(data[i * self.size:(i + 1) * self.size])
                if s is not None and s > best:
                    best = s
            if len(data) < n * self.size:
                break
        self.seq = best

    def append(self, payload):
        seq = self.seq + 1
        rec = bytearray(self.size)
        struct.pack_into("<I", rec, 0, seq)
        rec[4:4 + self.payload] = payload
        struct.pack_into("<H", rec, self.size - 2, crc32(memoryview(rec)[:self.size - 2]) & 0xFFFF)
        self.backend.write_at(self.name, ((seq - 1) % self.slots) * self.size, rec)
        self.seq = seq
        return seq

    def get(self, seq):
        if seq < 1 or seq > self.seq or seq <= self.seq - self.slots:
            return None
        raw = self.backend.read_at(self.name, ((seq - 1) % self.slots) * self.size, self.size)
        if self._valid(raw) != seq:
            return None
        return raw[4:4 + self.payload]

    def newest(self, n):
        """Up to n (seq, payload) records, newest first."""
        out = []
        s = self.seq
        while s > 0 and s > self.seq - self.slots and len(out) < n:
            p = self.get(s)
            if p is not None:
                out.append((s, p))
            s -= 1
        return out
