"""HAN link framing: round trip, CRC, length bounds and resync."""
from hypothesis import given, settings, strategies as st

from firmware import hanlink as L
from mp.common import nested_false_frames
from firmware.zcl import aps as A


def frames_of(data, chunk=7):
    got = []
    d = L.Deframer(lambda t, p: got.append((t, bytes(p))))
    for i in range(0, len(data), chunk):
        d.feed(data[i:i + chunk])
    return got, d


def test_crc_reference_value():
    # CRC-16/CCITT-FALSE check value for "123456789" is 0x29B1
    assert L.crc16(b"123456789") == 0x29B1


def test_round_trip_and_aps_model():
    msg = A.Aps(0x0000, 1, 0x4E21, 1, A.PROFILE_SE, 0x0702, b"\x00\x01\x00\x00\x00", True)
    got, _ = frames_of(L.encode(L.T_APS, msg.encode()))
    assert len(got) == 1 and got[0][0] == L.T_APS
    back = A.decode(got[0][1])
    assert (back.src, back.dst, back.dst_ep, back.cluster, back.payload, back.secured) == \
        (0, 0x4E21, 1, 0x0702, msg.payload, True)


def test_resync_after_garbage_and_false_sof():
    good = L.encode(L.T_APS, b"hello")
    junk = b"\x00\x7e\xa5\x05\x00zz\x7e\x7e\xa5\xff\xff" + b"\x7e\xa5\x02\x00\x01"
    got, d = frames_of(junk + good + b"\x13\x37" + good)
    assert [p for _, p in got] == [b"hello", b"hello"]
    assert d.bad >= 1


def test_bad_crc_dropped():
    f = bytearray(L.encode(L.T_APS, b"payload"))
    f[-1] ^= 1
    got, d = frames_of(bytes(f) + L.encode(L.T_EVENT, b"{}"))
    assert got == [(L.T_EVENT, b"{}")]


def test_oversize_refused():
    import pytest
    with pytest.raises(ValueError):
        L.encode(L.T_APS, bytes(L.MAX_LEN))


@given(st.lists(st.binary(max_size=80), max_size=6), st.binary(max_size=200), st.integers(1, 50))
@settings(max_examples=300)
def test_frames_survive_interleaved_garbage(payloads, garbage, chunk):
    stream = b""
    for i, p in enumerate(payloads):
        stream += garbage[i * 7:(i + 1) * 7] + L.encode(L.T_APS, p)
    got, _ = frames_of(stream, chunk)
    # garbage may itself look like a frame only with a valid CRC (1 in 65536);
    # every real frame must come through, in order
    real = [p for t, p in got if t == L.T_APS and p in payloads]
    assert real == [p for p in payloads]


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_random_bytes_never_raise(data):
    got, _ = frames_of(data)
    assert all(len(p) <= L.MAX_LEN for _, p in got)


def test_nested_false_frames_do_not_recurse():
    got, d = frames_of(nested_false_frames(140) + L.encode(L.T_APS, b"ok"), chunk=1000)
    assert got == [(L.T_APS, b"ok")] and d.bad == 140


def test_nested_false_frames_on_micropython(tmp_path):
    from runtimes import run_script
    out = run_script("micropython", "link_garbage.py")
    assert out.strip() == "frames 1 bad 140"


def test_bad_control_request_does_not_kill_the_virtual_board(tmp_path):
    from tools.meterlink import MeterLink
    m = MeterLink("micropython", str(tmp_path / "s"), 820000000)
    m.start()
    try:
        m.send_raw(L.encode(L.T_CTRL, b"{not json"))
        assert m.wait_response() == {"error": "bad control request"}
        m.send_raw(L.encode(L.T_CTRL, b'{"op": "no-such-op"}'))
        assert m.wait_response() == {"error": "bad control request"}
        m.send_raw(L.encode(L.T_APS, b"\x01\x02\x03"))   # CRC-good, shorter than an APS header
        m.send_raw(L.encode(L.T_EVENT, b"?"))               # a type the meter does not take
        assert "now" in m.ctrl("sync") and m.alive
    finally:
        m.kill()
