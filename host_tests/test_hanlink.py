"""HAN link framing: round trip, CRC, length bounds and resync."""
import pytest
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


# -- inter-octet timeout (issue #16 defect 3) -------------------------------------------------

def test_truncated_header_expires_and_what_followed_is_found():
    got = []
    d = L.Deframer(lambda t, p: got.append(bytes(p)))
    d.feed(b"\x7e\xa5\x58\x02" + L.encode(L.T_APS, b"after"), 100)
    assert got == [] and d.pending()               # waiting for 604 octets
    assert not d.expire(100 + L.IDLE_MS - 1)       # not idle long enough yet
    assert d.expire(100 + L.IDLE_MS)
    assert got == [b"after"] and not d.pending() and d.timeouts == 1


def test_timeout_across_the_tick_counter_wrap():
    from firmware.compat import IS_MICROPYTHON
    if IS_MICROPYTHON:
        return
    got = []
    d = L.Deframer(lambda t, p: got.append(bytes(p)))
    last = 0x3FFFFFF0                              # compat.ticks_ms on CPython: 30 bits
    d.feed(b"\x7e\xa5\x58\x02" + L.encode(L.T_APS, b"w"), last)
    assert not d.expire((last + L.IDLE_MS - 1) & 0x3FFFFFFF)
    assert d.expire((last + L.IDLE_MS) & 0x3FFFFFFF) and got == [b"w"]


@given(st.lists(st.tuples(st.binary(max_size=60), st.integers(0, 600),
                          st.binary(max_size=30)), max_size=8),
       st.integers(1, 40))
@settings(max_examples=300)
def test_frames_survive_headers_that_never_complete(items, chunk):
    """Each real frame is followed by a header announcing n octets that
    never all come and a pause; with expire() called at each pause, every
    real frame comes through, in order, and nothing is left pending."""
    got = []
    d = L.Deframer(lambda t, p: got.append((t, bytes(p))))
    now = 0
    for payload, n, tail in items:
        data = L.encode(L.T_APS, payload) + b"\x7e\xa5" + bytes([n & 0xFF, n >> 8]) + tail
        for i in range(0, len(data), chunk):
            d.feed(data[i:i + chunk], now)
            now += 1                                 # octets keep coming
        now += L.IDLE_MS                             # the line goes quiet
        d.expire(now)
        assert not d.pending()
    real = [p for t, p in got if t == L.T_APS and p in [x[0] for x in items]]
    assert real == [x[0] for x in items]


def test_link_timeout_same_on_both_runtimes():
    from runtimes import run_script
    cpy = run_script("cpython", "link_timeout.py")
    mpy = run_script("micropython", "link_timeout.py")
    assert mpy == cpy
    lines = {l.split()[0]: l.split()[1:] for l in cpy.splitlines()}
    ok = "01:" + b"ok".hex()
    assert lines["stalled"] == ["0", "True", "False", "0"]
    assert lines["expired"][0] == "True" and ok in lines["expired"][1]
    nested = " ".join(lines["nested"])                 # both frames found, parser idle
    assert lines["nested"][0] == "True" and lines["nested"][-3] == "False"
    assert ok in nested and "10:" + b'{"op": "sync"}'.hex() in nested
    assert lines["idle"][0] == "False"
    assert lines["split"] == ["False", "True"] and lines["joined"][1:] == ["False", "False"]
    assert lines["late"][:2] == ["False", "True"]
    assert lines["after"][1] == ok and lines["after"][2] == "False"


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_virtual_board_is_not_deafened_by_a_truncated_header(tmp_path, runtime):
    """The link-stall repro at the socket: a header announcing 600 octets,
    then a control request at once; the board answers it after about
    IDLE_MS, not after the host's 120 s timeout."""
    import time
    from tools.meterlink import MeterLink
    m = MeterLink(runtime, str(tmp_path / "s"), 820000000)
    m.start()
    try:
        m.sock.settimeout(10)
        for header in (b"\x7e\xa5\x58\x02", b"\x7e\xa5\x58", b"\x7e\xa5", b"\x7e"):
            t0 = time.monotonic()
            m.send_raw(header)
            rsp = m.ctrl("sync")
            assert "now" in rsp and m.alive
            assert time.monotonic() - t0 < 5
    finally:
        m.kill()
