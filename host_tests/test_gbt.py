"""GBT (GBCS v0.8.1 §7.2.11, firmware/gbcs/gbt.py): reassembly of command
series in and out of order, Request Block Resend per missing block, window
acknowledgements, the 60-minute discard, oversized series refused without
storing them, segmentation of a 1402-octet response (RTDS ECS23b's size),
resend on request also after a power cut, the 24-hour limit, a power cut
in the middle of an incoming series."""
import os

import pytest

from firmware.gbcs import gbt as G
from firmware.platform.store import Store, FileBackend

DEVICE = bytes.fromhex("00DB1234567890A0")
SUPPLIER = bytes.fromhex("90B3D51F30010000")


def gbcs_msg(n, oc=1, orig=SUPPLIER, recip=DEVICE, mc=0x0100, cra=1):
    """A GBCS message of n octets with a Grouping Header (notes §5): DF 09
    CRA OC 08 orig 08 recip 00 02 MC <len> payload 00 (the rest filler)."""
    head = bytes([0xDF, 9, cra]) + oc.to_bytes(8, "big") + b"\x08" + orig + b"\x08" + recip + \
        b"\x00\x02" + mc.to_bytes(2, "big")
    k = n - len(head) - 4
    body = bytes((i * 7 + oc) & 0xFF for i in range(k))
    m = head + b"\x82" + k.to_bytes(2, "big") + body + b"\x00"
    assert len(m) == n
    return m


def blocks(msg, window=6):
    """The GBT Messages of the ACB's series carrying msg to the device."""
    hdr = G.grouping_fields(msg)
    parts = [msg[i:i + 1149] for i in range(0, len(msg), 1149)]
    out = []
    for i, p in enumerate(parts, 1):
        bc = window | (0x80 if i == len(parts) else 0)
        out.append(bytes(G.build(hdr, bc, i, 0, p)))
    return out


class Rig:
    def __init__(self, root):
        self.root = root
        self.be = FileBackend(root)
        self.sent = []
        self.g = G.Gbt(Store(self.be), self.sent.append)

    def restart(self):
        self.be = FileBackend(self.root)
        self.g = G.Gbt(Store(self.be), self.sent.append)

    def take(self):
        out = [G.parse(b) + (bytes(b),) for b in self.sent]
        del self.sent[:]
        return out


@pytest.fixture
def rig(tmp_path):
    return Rig(str(tmp_path / "s"))


def test_routing_header_size_is_1200_for_a_full_block():
    b = blocks(gbcs_msg(3986))
    assert [len(x) for x in b] == [1200, 1200, 1200, 3986 - 3 * 1149 + 42 + 9]
    bc, bn, ack, d, n = G.parse(b[0])
    assert (bc, bn, ack, n) == (6, 1, 0, 1149) and b[0][:2] == b"\xdd\x09"
    assert b[0][d - 9] == 0xE0           # GBT header tag after the 42-octet routing header


@pytest.mark.parametrize("order", [(1, 2, 3, 4), (2, 1, 4, 3), (4, 3, 2, 1)])
def test_series_reassembled_in_any_order_and_only_when_complete(rig, order):
    m = gbcs_msg(3986)
    b = blocks(m)
    got = []
    for k in order:
        got.append(rig.g.receive(b[k - 1], 10, 0))
    assert all(x == G.PENDING for x in got[:-1])
    assert bytes(got[-1]) == m
    assert rig.g.key is None and rig.g.have == 0        # nothing left of the series


def test_missing_blocks_get_one_request_block_resend_each(rig):
    m = gbcs_msg(3986)
    b = blocks(m)
    assert rig.g.receive(b[0], 0, 0) == G.PENDING
    assert rig.g.receive(b[3], 5, 0) == G.PENDING        # the last block, 2 and 3 missing
    req = rig.take()
    # one message per missing block: no data, window 1, ack = the block before it
    assert [(bc, ack, n) for bc, bn, ack, d, n, raw in req] == [(1, 1, 0), (1, 2, 0)]
    assert [bn for bc, bn, ack, d, n, raw in req] == [1, 2]   # Recipient Block Number 1, 2, ...
    raw = req[0][-1]   # from the Device: originator = device, recipient = third party
    assert raw[12:20] == DEVICE and raw[21:29] == SUPPLIER and raw[2:11] == m[2:11]
    assert rig.g.receive(b[1], 6, 0) == G.PENDING
    assert bytes(rig.g.receive(b[2], 7, 0)) == m


def test_repeated_blocks_are_stored_once(rig):
    """A block received again (a resend crossing the original) is not
    stored again: the first copy stands, the series completes once."""
    m = gbcs_msg(2500)
    b = blocks(m)
    rig.g.receive(b[0], 0, 0)
    forged = bytearray(b[0])
    forged[-1] ^= 0xFF
    assert rig.g.receive(bytes(forged), 0, 0) == G.PENDING
    assert rig.g.have == 1
    rig.g.receive(b[1], 0, 0)
    assert bytes(rig.g.receive(b[2], 0, 0)) == m
    assert rig.g.receive(b[2], 0, 0) == G.PENDING          # after completion: a new series


def test_acknowledgement_at_window_multiples(rig):
    m = gbcs_msg(4000)
    b = blocks(m, window=2)           # a sender's window of 2: blocks 2 and 4 are multiples
    rig.g.receive(b[0], 0, 0)
    assert rig.take() == []
    rig.g.receive(b[1], 0, 0)
    (bc, bn, ack, d, n, raw), = rig.take()
    assert (bc & 0x3F, ack, n) == (2, 2, 0)   # Acknowledgement: the highest block held
    rig.g.receive(b[2], 0, 0)
    assert bytes(rig.g.receive(b[3], 0, 0)) == m


def test_series_discarded_60_minutes_after_an_unanswered_resend(rig):
    b = blocks(gbcs_msg(3986))
    rig.g.receive(b[0], 100, 0)
    rig.g.receive(b[3], 100, 0)
    assert rig.g.next_due == 100 + 3600
    rig.g.due(100 + 3599)
    assert rig.g.key is not None
    rig.g.due(100 + 3600)
    assert rig.g.key is None and rig.g.next_due == 0xFFFFFFFF
    # a late block starts a new series: the old blocks are not reused
    assert rig.g.receive(b[1], 4000, 0) == G.PENDING and rig.g.have == 0b10


def test_answered_resend_restarts_the_60_minutes(rig):
    b = blocks(gbcs_msg(3986))
    rig.g.receive(b[0], 0, 0)
    rig.g.receive(b[3], 0, 0)
    rig.g.receive(b[1], 3000, 0)
    rig.g.due(3600)
    assert rig.g.key is not None and rig.g.next_due == 6600


def test_oversized_series_is_refused_and_never_stored(rig):
    m = gbcs_msg(8000)                 # 7 blocks: over MAX_IN_BLOCKS
    b = blocks(m)
    res = [rig.g.receive(x, 0, 0) for x in b]
    assert G.REFUSED in res and not any(isinstance(r, bytearray) for r in res)
    size = os.path.getsize(os.path.join(rig.root, "gbt_in.bin"))
    assert size <= G.MAX_IN_BLOCKS * 1149          # bounded: blocks beyond 4 never written
    assert rig.g.refused >= 1 and rig.g.have == 0


@pytest.mark.parametrize("bad", [
    lambda b: b[:40],                                          # truncated header
    lambda b: b[:-1],                                          # length disagrees
    lambda b: b[:1] + b"\x08" + b[2:],                         # transaction id length
    lambda b: b[:37] + b"\x11" + b[38:],                       # security control not 0x01
    lambda b: b[:42] + b"\xE1" + b[43:],                       # not a GBT header
])
def test_malformed_gbt_is_a_value_error(bad):
    b = blocks(gbcs_msg(2000))[0]
    with pytest.raises(ValueError):
        G.parse(bad(b))


def test_short_non_last_block_refused(rig):
    m = gbcs_msg(2000)
    hdr = G.grouping_fields(m)
    assert rig.g.receive(bytes(G.build(hdr, 6, 1, 0, m[:100])), 0, 0) == G.REFUSED


def test_1402_octet_response_segmented_and_resent_on_request(rig):
    rsp = gbcs_msg(1402, oc=7, orig=DEVICE, recip=SUPPLIER, cra=2)
    assert rig.g.send_message(rsp, 1000)
    sent = rig.take()
    assert [len(r[-1]) for r in sent] == [1200, 1402 - 1149 + 42 + 9 - 1]
    (bc1, bn1, _, d1, n1, r1), (bc2, bn2, _, d2, n2, r2) = sent
    assert (bn1, bn2) == (1, 2) and bc1 & 0x3F == bc2 & 0x3F == 63
    assert not bc1 & 0x80 and bc2 & 0x80                 # last-block flag on block 2
    assert r1[d1:d1 + n1] + r2[d2:d2 + n2] == rsp
    assert r1[12:20] == DEVICE and r1[21:29] == SUPPLIER and r1[2:11] == rsp[2:11]
    hdr = bytes(r1[2:11]) + SUPPLIER + DEVICE + bytes(r1[31:33])
    # the ACB asks for block 2 again (ack 1, window 1)
    assert rig.g.receive(bytes(G.build(hdr, 1, 1, 1, b"")), 0, 2000) == G.CONTROL
    (bc, bn, ack, d, n, r), = rig.take()
    assert bn == 2 and r[d:d + n] == rsp[1149:] and ack == 1   # Initiator Block Number Ack
    # a power cut: the series is still resendable from flash
    rig.restart()
    rig.g.receive(bytes(G.build(hdr, 1, 2, 0, b"")), 0, 3000)
    (bc, bn, ack, d, n, r), = rig.take()
    assert bn == 1 and r[d:d + n] == rsp[:1149]
    # an Acknowledgement of the last block ends it
    rig.g.receive(bytes(G.build(hdr, 63, 3, 2, b"")), 0, 4000)
    assert rig.g.out is None
    rig.g.receive(bytes(G.build(hdr, 1, 4, 0, b"")), 0, 5000)
    assert rig.take() == []


def test_resend_only_for_24_hours(rig):
    rsp = gbcs_msg(1402, orig=DEVICE, recip=SUPPLIER, cra=2)
    rig.g.send_message(rsp, 1000)
    rig.take()
    hdr = bytes(rsp[2:11]) + SUPPLIER + DEVICE + b"\x01\x00"
    rig.g.receive(bytes(G.build(hdr, 1, 1, 0, b"")), 0, 1000 + 86400)
    assert len(rig.take()) == 1
    rig.g.receive(bytes(G.build(hdr, 1, 2, 0, b"")), 0, 1000 + 86401)
    assert rig.take() == [] and rig.g.out is None


def test_small_message_sent_as_it_is(rig):
    m = gbcs_msg(1200)
    assert rig.g.send_message(m, 0)
    assert rig.sent == [m]


def test_too_large_outgoing_message_refused(rig):
    assert not rig.g.send_message(gbcs_msg(1149 * G.MAX_OUT_BLOCKS + 1, orig=DEVICE), 0)
    assert rig.sent == []


def test_power_cut_during_an_incoming_series(rig):
    """The series' state is lost with the RAM; the blocks still to come start
    it again, the meter asks for the missing ones, and it completes."""
    m = gbcs_msg(3986)
    b = blocks(m)
    rig.g.receive(b[0], 0, 0)
    rig.g.receive(b[1], 0, 0)
    rig.restart()
    assert rig.g.receive(b[2], 0, 0) == G.PENDING
    assert rig.g.receive(b[3], 0, 0) == G.PENDING
    req = rig.take()
    assert [ack + 1 for bc, bn, ack, d, n, raw in req] == [1, 2]     # blocks 1 and 2 asked for
    rig.g.receive(b[0], 0, 0)
    assert bytes(rig.g.receive(b[1], 0, 0)) == m


def test_power_cut_while_writing_an_outgoing_series_leaves_none_or_all(tmp_path):
    """The header record is written after the blocks (and emptied before): a
    cut at any write leaves no series or the whole new one."""
    from firmware.platform.store import PowerCut
    rsp = gbcs_msg(1402, orig=DEVICE, recip=SUPPLIER, cra=2)
    probe = Rig(str(tmp_path / "probe"))
    w0 = probe.be.writes
    probe.g.send_message(rsp, 0)
    n = probe.be.writes - w0
    old = gbcs_msg(1500, oc=9, orig=DEVICE, recip=SUPPLIER, cra=2)
    seen = set()
    for cut in range(1, n + 1):
        r = Rig(str(tmp_path / ("c%d" % cut)))
        r.g.send_message(old, 0)
        r.be.cut_after(cut)
        with pytest.raises(PowerCut):
            r.g.send_message(rsp, 0)
        r.restart()
        o = r.g.out
        if o is None:
            seen.add("none")
            continue
        m = rsp if o[0][:9] == rsp[2:11] else old       # whichever series the record names,
        assert o[0][:9] == m[2:11] and o[2] == len(m) - 1149   # its blocks are all in flash
        seen.add("new" if m is rsp else "old")
        for i in range(o[1]):
            k = 1149 if i < o[1] - 1 else o[2]
            assert r.be.read_at("gbt_out.bin", i * 1149, k) == m[i * 1149:i * 1149 + k]
    assert "none" in seen and "old" in seen
