# GBT: General Block Transfer of Remote Party Messages over 1200 octets
# (GBCS v0.8.1 §7.2.11; notes/gbcs-messages-security.md §18).
#
# GBT Message = Message Routing Header (Table 7.2.11.5, 42 octets for a full
# block) || GBT Header (Table 7.2.11.6) [|| block data]:
#   DD 09 <CRA||OC:9> 08 <orig:8> 08 <recip:8> 00 02 <MC:2> 00 <len> 01 00000000
#   E0 <block-control> <block-number:2> <block-number-ack:2> <len> <data>
# block-control: b7 last block, b6 streaming, b5..0 the window.
#
# Incoming (the meter is GBT Recipient of a command series, window 6):
# blocks are written to one flash file at fixed offsets ((n-1) * 1149;
# `gbt_in.bin`, at most MAX_IN_BLOCKS blocks); the series' state is a few
# integers (a bitmask of the blocks held), so nothing in RAM grows with the
# series. Nothing is processed (§6) until the last block and every lower
# one are held (§7.2.11.4); then the message is read back into one
# bytearray of its exact length, from a collected heap, which the GBCS
# layer takes without copying it again (no permanent 4 KB region: on the
# unix port's heap that left the GBCS layer too little). A series of more
# than MAX_IN_BLOCKS blocks (4: 4596 octets; RTDS CS02b commands reach 3986
# in the set, 1894 in the visible vectors) is refused: nothing
# beyond the file's four slots is stored. A block number that is an
# integer multiple of the window is acknowledged; at the last block (or at
# a window multiple) every missing lower block gets its own Request Block
# Resend. §7.2.11.4 has the Recipient Block Number Ack of
# a Request Block Resend be "the block up to which all were received", which
# names only the first gap; we name each missing block m exactly: ack m - 1,
# window 1 (the window of a Request Block Resend is the number of blocks
# wanted, §7.2.11.1), which reads the same for the first gap. A series whose
# Request Block Resend got no block within 60 minutes is discarded
# (§7.2.11.4). A power cut loses the series' state (RAM); the blocks still
# to come start it again and the missing ones are asked for, so the series
# completes from the initiator's resends.
#
# Outgoing (the meter is GBT Initiator of a response or alert, window 63):
# a message over 1200 octets is cut into 1149-octet blocks, written to a
# flash file with its header record (the record last: a cut before it leaves
# no series), and sent; any block is resent on request until the recipient
# acknowledges the last block or for 24 hours (§7.2.11.4), also across a
# power cut. At most MAX_OUT_BLOCKS blocks (the largest RTDS response, ECS23b,
# is 1402 octets: 2 blocks).
import gc
import struct

from ..compat import const
from ..platform.clock import NEVER as _NEVER   # clock.py holds the UINT32 sentinel (freezing)
from ..zcl import aps as A

_MAX_PDU = const(1200)
_BLOCK = const(1149)
_WIN_CMD = const(6)
_WIN_RSP = const(63)
MAX_IN_BLOCKS = const(4)
_IN_FILE = "gbt_in.bin"
MAX_OUT_BLOCKS = const(4)
_DISCARD_S = const(3600)
_KEEP_S = const(86400)
_OUT_FILE = "gbt_out.bin"
_OUT_KEY = "gbt_out"
_FC_TO_CLIENT = const(0x19)      # cluster specific, server to client, no default response
_CMD_TRANSFER_DATA = const(0x01)
# outcomes of receive() besides a complete message
PENDING = const(0)        # a block taken, the series not complete
REFUSED = const(1)        # a series over MAX_IN_BLOCKS or a malformed block: dropped
CONTROL = const(2)        # an Acknowledgement / Request Block Resend for our series


def put_len(buf, off, n):
    """DLMS/BER length (shortest form) at off; the offset after it."""
    if n < 0x80:
        buf[off] = n
        return off + 1
    if n < 0x100:
        buf[off] = 0x81
        buf[off + 1] = n
        return off + 2
    buf[off] = 0x82
    struct.pack_into(">H", buf, off + 1, n)
    return off + 3


def get_len(b, off):
    """(length, offset after it) of the BER length at off; ValueError."""
    if off >= len(b):
        raise ValueError("gbt len")
    n = b[off]
    if n < 0x80:
        return n, off + 1
    k = n & 0x7F
    if k == 0 or k > 2 or off + 1 + k > len(b):
        raise ValueError("gbt len")
    v = 0
    for i in range(k):
        v = v << 8 | b[off + 1 + i]
    return v, off + 1 + k


def _len_size(n):
    return 1 if n < 0x80 else 2 if n < 0x100 else 3


def parse(b):
    """(block-control, block-number, block-number-ack, data offset, data
    length) of a GBT Message; ValueError if it is not one (Tables
    7.2.11.5-6: the routing header's fixed octets, SC 0x01, IC 0)."""
    if (len(b) < 44 or b[0] != 0xDD or b[1] != 9 or b[11] != 8 or b[20] != 8 or b[29] != 0
            or b[30] != 2 or b[33] != 0):
        raise ValueError("gbt hdr")
    n, o = get_len(b, 34)
    if o + n != len(b) or n < 11 or b[o] != 1 or b[o + 1] or b[o + 2] or b[o + 3] or b[o + 4] \
            or b[o + 5] != 0xE0:
        raise ValueError("gbt hdr")
    bc = b[o + 6]
    bn, ack = struct.unpack_from(">HH", b, o + 7)
    dn, d = get_len(b, o + 11)
    if d + dn != len(b):
        raise ValueError("gbt len")
    return bc, bn, ack, d, dn


def build(hdr, bc, bn, ack, data):
    """A GBT Message; hdr = transaction id (9) || originator (8) ||
    recipient (8) || message code (2), 27 octets."""
    dl = len(data)
    x = 11 + _len_size(dl) + dl
    out = bytearray(34 + _len_size(x) + x)
    out[0] = 0xDD
    out[1] = 9
    out[2:11] = hdr[0:9]
    out[11] = 8
    out[12:20] = hdr[9:17]
    out[20] = 8
    out[21:29] = hdr[17:25]
    out[30] = 2
    out[31:33] = hdr[25:27]
    o = put_len(out, 34, x)
    out[o] = 1
    out[o + 5] = 0xE0
    out[o + 6] = bc
    struct.pack_into(">HH", out, o + 7, bn, ack)
    o = put_len(out, o + 11, dl)
    out[o:o + dl] = data
    return out


def grouping_fields(m):
    """The 27 octets of a routing header's carried fields (transaction id,
    originator, recipient, message code) from a GBCS message's Grouping
    Header (notes §4-5: after the MAC Header `DD 00 ..`, or at a `DF`);
    ValueError if there is none."""
    o = 0
    if len(m) > 8 and m[0] == 0xDD and m[1] == 0:
        _, o = get_len(m, 7)
        o += 5                                  # SC, IC
    if len(m) < o + 31 or m[o] != 0xDF or m[o + 1] != 9 or m[o + 11] != 8 or m[o + 20] != 8:
        raise ValueError("no grouping header")
    dt = m[o + 29]
    _, p = get_len(m, o + 30 + dt)
    if p + 2 > len(m):
        raise ValueError("no grouping header")
    out = bytearray(27)
    out[0:9] = m[o + 2:o + 11]
    out[9:17] = m[o + 12:o + 20]
    out[17:25] = m[o + 21:o + 29]
    out[25:27] = m[p:p + 2]
    return bytes(out)


class Gbt:
    """The meter's GBT state: one incoming and one outgoing series."""

    def __init__(self, store, send):
        self.store = store
        self.be = store.backend
        self.send = send          # send(bytes): one TransferData on the tunnel
        # incoming series: its routing header's fields as received
        # (transaction id, originator, recipient, message code: key), the
        # blocks held (bit n-1), the last block number (0: not yet) and its
        # length, the Recipient Block Number of our last message, when a
        # resend was asked (monotonic, -1 none)
        self.key = None
        self.have = 0
        self.last = 0
        self.last_len = 0
        self.rbn = 0
        self.resend_at = -1
        self.next_due = _NEVER
        self.refused = 0          # series refused (too large or malformed blocks)
        self.nomem = 0            # complete series the heap could not take
        # outgoing: [hdr, blocks, last length, sent UTC, highest block number from the recipient]
        self.out = None
        self._load_out()

    # -- incoming ------------------------------------------------------------
    def _asked(self, mono):
        """A Request Block Resend went out, or was answered, at mono."""
        self.resend_at = mono
        self.next_due = mono + _DISCARD_S    # an attribute: the tick reads it, allocation-free

    def due(self, mono):
        if self.resend_at >= 0 and mono >= self.next_due:
            self._drop_in()

    def _drop_in(self):
        self.key = None
        self.have = 0
        self.last = 0
        self.resend_at = -1
        self.next_due = _NEVER       # monotonic second the series is discarded (NEVER: none)

    def receive(self, b, mono, now):
        """One GBT Message from the tunnel: the whole Remote Party Message
        (a bytearray of its length) once the series is complete, else PENDING, REFUSED or
        CONTROL. Raises ValueError for what is not a GBT Message."""
        bc, bn, ack, d, dn = parse(b)
        if dn == 0:
            self._control(b, ack, bc & 0x3F, now)
            return CONTROL
        key = bytes(b[2:11]) + bytes(b[12:20]) + bytes(b[21:29]) + bytes(b[31:33])
        if key != self.key:              # a new series (or one begun before a power cut)
            self._drop_in()
            self.key = key
            self.rbn = 0
        last = bc & 0x80
        if (bn == 0 or bn > MAX_IN_BLOCKS or dn > _BLOCK or (not last and dn != _BLOCK)
                or (self.last and (bn > self.last or (last and bn != self.last)))):
            # larger than the meter takes, or inconsistent: none of it is kept
            self.refused += 1
            self._drop_in()
            return REFUSED
        if last:
            self.last = bn
            self.last_len = dn
        bit = 1 << (bn - 1)
        if not self.have & bit:          # a repeated block is written once
            self.be.write_at(_IN_FILE, (bn - 1) * _BLOCK, memoryview(b)[d:d + dn])
            self.have |= bit
        if self.resend_at >= 0:
            self._asked(mono)            # the resend was answered: the 60 minutes start again
        n = self.last
        if n and self.have == (1 << n) - 1:
            total = (n - 1) * _BLOCK + self.last_len
            last_len = self.last_len
            self._drop_in()
            gc.collect()                 # the one large block, from a collected heap
            try:
                msg = bytearray(total)
            except MemoryError:
                self.nomem += 1          # no block that large: the series is lost, counted
                return REFUSED
            for i in range(n):
                k = _BLOCK if i < n - 1 else last_len
                msg[i * _BLOCK:i * _BLOCK + k] = self.be.read_at(_IN_FILE, i * _BLOCK, k)
            return msg
        win = bc & 0x3F or _WIN_CMD
        if bn == n or bn % win == 0:
            top = n or bn
            gaps = False
            for m in range(1, top):
                if not self.have & (1 << (m - 1)):
                    gaps = True           # Request Block Resend, one per missing block
                    self._reply(1, m - 1)
            if gaps:
                self._asked(mono)
            elif bn % win == 0:
                self._reply(win, bn)      # Acknowledgement: the highest block held
        return PENDING

    def _reply(self, bc, ack):
        k = self.key                     # from the Device: originator and recipient swap
        self.rbn += 1
        self.send(build(k[0:9] + k[17:25] + k[9:17] + k[25:27], bc, self.rbn, ack, b""))

    # -- outgoing ------------------------------------------------------------
    def send_message(self, m, now):
        """Send a Remote Party Message: as it is up to 1200 octets, else as a
        GBT series (§7.2.11.2). False when it is too large to send."""
        n = len(m)
        if n <= _MAX_PDU:
            self.send(m)
            return True
        nb = (n + _BLOCK - 1) // _BLOCK
        hdr = grouping_fields(m)
        if nb > MAX_OUT_BLOCKS:
            return False
        self.store.save(_OUT_KEY, b"")    # the old series is gone before its blocks are
        mv = memoryview(m)
        for i in range(nb):
            self.be.write_at(_OUT_FILE, i * _BLOCK, mv[i * _BLOCK:(i + 1) * _BLOCK])
        last = n - (nb - 1) * _BLOCK
        self.out = [hdr, nb, last, now, 0]
        self.store.save(_OUT_KEY, hdr + struct.pack("<BHI", nb, last, now))
        for i in range(1, min(nb, _WIN_RSP) + 1):
            self._block(i)
        return True

    def _block(self, i):
        hdr, nb, last, _, rack = self.out
        k = last if i == nb else _BLOCK
        data = self.be.read_at(_OUT_FILE, (i - 1) * _BLOCK, k)
        # b7 last block; b6 streaming except where a reply is due (window end, last)
        bc = _WIN_RSP | (0x80 if i == nb else 0 if i % _WIN_RSP == 0 else 0x40)
        self.send(build(hdr, bc, i, rack, data))

    def _control(self, b, ack, win, now):
        """An Acknowledgement or Request Block Resend from the recipient of
        our series: resend blocks ack+1 .. ack+window (what an Ack at a
        window's end asks for next); an ack of the last block ends it."""
        o = self.out
        if o is None or b[2:11] != o[0][0:9]:
            return
        if now - o[3] > _KEEP_S:
            self._drop_out()
            return
        bn = struct.unpack_from(">H", b, len(b) - 5)[0]
        if bn > o[4]:
            o[4] = bn
        if ack >= o[1]:
            self._drop_out()
            return
        for i in range(ack + 1, min(ack + max(win, 1), o[1]) + 1):
            self._block(i)

    def _drop_out(self):
        self.out = None
        self.store.save(_OUT_KEY, b"")

    def _load_out(self):
        r = self.store.load(_OUT_KEY)
        if r and len(r) == 34:
            nb, last, t = struct.unpack_from("<BHI", r, 27)
            if 1 <= nb <= MAX_OUT_BLOCKS and 0 < last <= _BLOCK:
                self.out = [bytes(r[:27]), nb, last, t, 0]


# -- the tunnel side (clusters/tunneling.py calls these; imported when the
# first GBCS message arrives or leaves, so a meter without tunnel traffic
# keeps this module out of its heap) ------------------------------------------
def deliver(tn):
    """One TransferData's Data (tn.data, taken from there: only this frame
    holds it) on tunnel cluster tn (GBCS §10.2.2: the message as it is):
    a GBT Message (`DD 09`) goes to the reassembly; a whole GBCS message
    (`DD 00` MAC Header, `DF` general-signing) or a completed series to
    the GBCS layer (app.gbcs_message), whose answer goes back through the
    tunnel it came by. Anything else is not answered."""
    data = tn.data
    tn.data = None
    if len(data) > 1 and data[0] == 0xDD and data[1] == 0x09:
        g = _gbt(tn)
        if g is None:
            return
        clock = tn.app.clock
        try:
            m = g.receive(data, clock.mono(), clock.now())
        except ValueError:
            return
        if isinstance(m, int):
            return
        data = m
    elif not data or not (data[0] == 0xDF or (data[0] == 0xDD and len(data) > 1
                                               and data[1] == 0)):
        return
    h = getattr(tn.app, "gbcs_message", None)
    rsp = h(data) if h is not None else None
    if rsp:
        tn.send_message(rsp)


def _gbt(tn):
    """tn's Gbt, made at the first GBT message."""
    if tn.gbt is None:
        tn.gbt = Gbt(tn.app.store, lambda b: _to_cur(tn, b))
    return tn.gbt


def _to_cur(tn, b):
    t = tn._cur or (tn.tunnels[0] if tn.tunnels else None)
    if t is not None:
        transfer(tn, t, b)


def send(tn, t, m):
    """A GBCS message to tunnel t: one TransferData up to 1200 octets (and
    the client's maximum), else a GBT series; False if it cannot go (over
    MAX_OUT_BLOCKS blocks, no Grouping Header to route a series by, no heap)."""
    if len(m) <= _MAX_PDU and len(m) <= t[3]:
        transfer(tn, t, m)
        return True
    c = tn._cur
    tn._cur = t
    try:
        g = _gbt(tn)
        if g is not None and g.send_message(m, tn.app.clock.now()):
            return True
    except ValueError:
        pass
    finally:
        tn._cur = c
    tn.unsent += 1
    return False


def transfer(tn, t, data):
    """A server-to-client TransferData to tunnel t, APS-fragmented when it
    is longer than one frame (clusters/tunneling.py, GBT.md)."""
    app = tn.app
    z = app.zcl
    b = bytearray(5 + len(data))
    b[0] = _FC_TO_CLIENT
    b[1] = z.next_seq()
    b[2] = _CMD_TRANSFER_DATA
    struct.pack_into("<H", b, 3, t[0])
    b[5:] = data
    msg = A.Aps(app.nwk_addr, app.esi_ep, t[1], t[2], A.PROFILE_SE, tn.ID, bytes(b), True)
    lim = z.limit(True)
    if len(b) <= lim:
        app.send_aps(msg)
    else:
        for f in fragments(msg, lim):
            app.send_aps(f)


def fragments(msg, room):
    """The APS fragments of msg, each with at most room - 2 payload octets
    (the 2-octet APS extended header counts against the frame)."""
    p = msg.payload
    k = room - 2
    n = (len(p) + k - 1) // k
    for i in range(n):
        f = A.Aps(msg.src, msg.src_ep, msg.dst, msg.dst_ep, msg.profile, msg.cluster,
                  p[i * k:(i + 1) * k], msg.secured)
        f.frag = (0x100 | n) if i == 0 else (0x200 | i)
        yield f
