"""Hostile input (issue #16 defects 1, 3, 8, 9): bounded ZCL nesting, the
engine surviving anything a handler raises, invalid strings, a price after
the clock went back, struct.error on CPython, the bench's frame decoder and
malformed control requests to the virtual board, on both runtimes."""
import json
import os
import struct

import pytest
from hypothesis import given, settings, strategies as st

import conftest
from conftest import decoded, T0
from runtimes import run_script
from firmware import hanlink as L
from firmware import compat
from firmware.zcl import types as T
from firmware.zcl import status as S
from firmware.zcl.status import DecodeError
from firmware.platform.store import PowerCut
from tools import zcl_host as Z
from mp.common import tariff_load

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def nest(depth, kinds=(T.ARRAY,)):
    """A value (type byte first) of `depth` one-element collections around
    a uint8, the collection types taken in turn from kinds."""
    body = bytes([T.UINT8, 5])
    for i in range(depth):
        k = kinds[i % len(kinds)]
        if k == T.STRUCT:
            body = bytes([T.STRUCT, 1, 0]) + body
        else:
            body = bytes([k, body[0], 1, 0]) + body[1:]
    return body


# -- defect 1: nesting ------------------------------------------------------------------------

@pytest.mark.parametrize("kinds", [(T.ARRAY,), (T.STRUCT,), (T.SET,), (T.BAG,),
                                   (T.ARRAY, T.STRUCT), (T.STRUCT, T.BAG, T.SET)])
def test_nesting_is_decoded_up_to_the_limit_and_refused_beyond(kinds):
    for depth in range(1, T.MAX_NEST + 1):
        data = nest(depth, kinds)
        v, off = T.decode(data[0], data, 1)
        assert off == len(data)
        buf = bytearray(len(data))                  # and it encodes back to the same octets
        assert T.encode(data[0], v, buf, 0) == len(data) - 1 and bytes(buf[:-1]) == data[1:]
    for depth in (T.MAX_NEST + 1, 190, 2000):
        data = nest(depth, kinds)
        with pytest.raises(DecodeError):
            T.decode(data[0], data, 1)


def test_the_limit_covers_what_zse_needs():
    # an array of structures (depth 2) is the deepest Smart Energy value
    assert T.MAX_NEST >= 2


@given(st.binary(max_size=600))
@settings(max_examples=300)
def test_collections_of_random_octets_only_raise_decode_error(data):
    for t in (T.ARRAY, T.STRUCT, T.SET, T.BAG):
        buf = bytes([t]) + data
        try:
            T.decode(t, buf, 1)
        except DecodeError:
            pass


def write_record(aid, value):
    return struct.pack("<H", aid) + value


def test_nested_unsecured_write_to_basic_is_malformed_and_writes_nothing(bench):
    basic = bench.meter.zcl.find(1, 0x0000)
    before = dict(basic.values)
    hall = write_record(0x0010, bytes([T.CHARSTR, 4]) + b"Hall")
    for deep in (nest(190), nest(190, (T.STRUCT,)), nest(T.MAX_NEST + 1, (T.ARRAY, T.STRUCT))):
        for cmd in (Z.WRITE_ATTR_UNDIVIDED, Z.WRITE_ATTR):
            r = decoded(bench.send(0x0000, bytes([0x00, 0x50, cmd]) + hall +
                                   write_record(0x0010, deep), secured=False))
            assert [(f["command"], f["fields"]["status"]) for f in r] == \
                [("DefaultResponse", "MALFORMED_COMMAND")]
    assert basic.values == before                   # the good record before it was not applied
    assert bench.meter.zcl.handler_errors == 0
    r = decoded(bench.glob("Basic", "ReadAttributes", {"attributes": ["LocationDescription"]},
                           secured=False))
    assert r[0]["fields"]["records"][0]["value"] == ""


def test_nested_write_kills_no_energy(bench):
    """The meter keeps metering through the frame: nothing is lost to a
    restart (the repro nested-array-erases-energy on the virtual board)."""
    bench.metrology.load_w = 3600
    bench.tick(600)
    wh = bench.meter.import_wh
    assert wh == 3600 * 600 // 3600
    bench.send(0x0000, bytes([0x00, 0x51, Z.WRITE_ATTR]) + write_record(0x0010, nest(190)),
               secured=False)
    bench.tick(60)
    assert bench.meter.import_wh == wh + 60


class _Raise:
    def __init__(self, exc):
        self.exc = exc

    def __call__(self, req, fields):
        raise self.exc


@pytest.mark.parametrize("exc", [MemoryError(), RecursionError(), RuntimeError("x"),
                                 NotImplementedError(), OSError(5), struct.error("x"),
                                 ZeroDivisionError(), LookupError(), AssertionError()])
def test_any_handler_exception_is_failure_and_counted(bench, exc):
    ident = bench.meter.zcl.find(1, 0x0003)
    ident.on_Identify = _Raise(exc)
    r = decoded(bench.cmd("Identify", "Identify", {"IdentifyTime": 10}))
    assert [(f["command"], f["fields"]["status"]) for f in r] == [("DefaultResponse", "FAILURE")]
    assert bench.meter.zcl.handler_errors == 1
    del ident.on_Identify
    r = decoded(bench.cmd("Identify", "Identify", {"IdentifyTime": 1}))
    assert r[0]["fields"]["status"] == "SUCCESS"


def test_a_power_cut_inside_a_handler_is_not_swallowed(bench):
    bench.meter.zcl.find(1, 0x0003).on_Identify = _Raise(PowerCut())
    with pytest.raises(PowerCut):
        bench.cmd("Identify", "Identify", {"IdentifyTime": 10})


def test_a_failing_answer_does_not_escape_the_engine(bench):
    def refuse(msg):
        raise MemoryError()                 # no heap left for the answer
    bench.meter._send = refuse
    bench.meter.on_aps(conftest.A.Aps(0, 1, conftest.METER, 1, conftest.A.PROFILE_SE, 0x0003,
                                      bytes([0x01, 0x60, 0x00, 0x0A, 0x00]), True))
    assert bench.meter.zcl.handler_errors == 1
    bench.meter._send = bench.sent.append
    r = decoded(bench.cmd("Identify", "Identify", {"IdentifyTime": 1}))
    assert r[0]["fields"]["status"] == "SUCCESS"


def test_both_runtimes_survive_hostile_input_alike(tmp_path):
    """host_tests/mp/hostile_inputs.py: nesting, the 577-octet nested writes,
    the frame-edge read, an invalid string, handlers raising, on the
    MicroPython unix port (board heap) and on CPython (the link timeout:
    test_hanlink.py)."""
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", "hostile_inputs.py", str(tmp_path / "c"), preload="firmware.meter")
    mpy = run_script("micropython", "hostile_inputs.py", str(tmp_path / "m"),
                     preload="firmware.meter")
    assert mpy == cpy
    lines = cpy.splitlines()
    nests = [l.split() for l in lines if l.startswith(("nest ", "mixed "))]
    assert len(nests) == 25
    for w in nests:
        depth = int(w[-3] if w[0] == "nest" else w[1])
        assert (w[-2] == "ok") == (depth <= T.MAX_NEST), w
    writes = [l.split() for l in lines if l.startswith("write nested ") and "ok-depth" not in l]
    # Default Response (cmd 0x0B) to Write Attributes (0x02): MALFORMED_COMMAND
    assert len(writes) == 2 and all(w[-1][4:] == "0b%02x%02x" % (Z.WRITE_ATTR, S.MALFORMED_COMMAND)
                                    for w in writes)
    raised = [l.split() for l in lines if l.startswith("raise ")]
    assert len(raised) == 6 and all(w[-1][4:] == "0b00%02x" % S.FAILURE for w in raised)
    assert "power cut passes" in lines
    alive = [l.split() for l in lines if l.startswith("alive ")][0]
    assert alive[1:] == ["60", "handler_errors", "6", "malformed", "2"]   # 3600 W x 60 s


# -- defect 9: struct.error -------------------------------------------------------------------

def test_struct_errors_are_caught_as_one_tuple():
    try:
        struct.pack_into("<H", bytearray(1), 0, 1)
    except compat.STRUCT_ERRORS:
        pass
    assert ValueError in compat.STRUCT_ERRORS


def test_read_attributes_stops_at_the_frame_edge(bench):
    """14 x ClusterRevision: the 14th record's header would start past the
    buffer; CPython's struct.error used to kill the meter."""
    pl = bytes([0x00, 0x61, Z.READ_ATTR]) + b"\xfd\xff" * 14
    out = bench.send(0x0000, pl, secured=False)
    r = decoded(out)
    assert r[0]["command"] == "ReadAttributesResponse"
    room = len(bench.meter.zcl.tx) - 3
    rec = 2 + 1 + 1 + 2                             # id, status, type, uint16
    assert len(r[0]["fields"]["records"]) == min(14, room // rec)
    assert len(out[0].payload) <= len(bench.meter.zcl.tx)


# -- defect 8: invalid strings, negative price duration -------------------------------------

def test_invalid_location_description_is_invalid_value(bench):
    basic = bench.meter.zcl.find(1, 0x0000)
    for cmd in (Z.WRITE_ATTR_UNDIVIDED, Z.WRITE_ATTR):
        pl = bytes([0x00, 0x62, cmd]) + write_record(0x0011, bytes([T.ENUM8, 3])) + \
            write_record(0x0010, bytes([T.CHARSTR, 0xFF]))
        r = decoded(bench.send(0x0000, pl, secured=False))[0]
        assert r["command"] == "WriteAttributesResponse"
        assert r["fields"]["records"] == [{"status": "INVALID_VALUE",
                                           "attribute": "LocationDescription"}]
        # undivided: nothing written; normal: the good record is
        assert basic.stored(0x0011) == (0 if cmd == Z.WRITE_ATTR_UNDIVIDED else 3)
    assert basic.stored(0x0010) == b"" and bench.meter.zcl.handler_errors == 0


def _ppmid_bench(tmp_path):
    from tools import utrn as UT
    cfg = UT.meter_config()
    cfg["han_devices"] = {"0x5A5A": "ppmid"}
    return conftest.Bench(str(tmp_path / "s"), cfg, T0)


def _top_up(b, code_value):
    f = Z.build_cluster_cmd(Z.CLUSTERS[0x0705], "ConsumerTopUp", {"OriginatingDevice": 2,
                                                                 "TopUpCode": b""}, 0x70)
    pl = f[:-1] + code_value                       # the code field replaced as given
    out = b.send(0x0705, pl, src=0x5A5A)
    return [d for d in decoded(out) if d.get("cluster") == "Prepayment"]


def test_consumer_top_up_without_a_code_is_an_invalid_top_up(tmp_path):
    b = _ppmid_bench(tmp_path)
    got = {}
    for name, code in (("invalid", b"\xff"), ("badly formed", b"\x03123")):
        alerts = len(b.meter.alerts) if hasattr(b.meter, "alerts") else None
        r = _top_up(b, code)
        assert [f["command"] for f in r] == ["ConsumerTopUpResponse"], r
        got[name] = (r[0]["fields"], b.meter.account.last_topup[:3],
                     None if alerts is None else len(b.meter.alerts) - alerts)
    assert got["invalid"] == got["badly formed"]      # the same rejection as any bad code
    assert got["invalid"][0]["TopUpValue"] == 0 and got["invalid"][0]["ResultType"] != 0
    assert b.meter.zcl.handler_errors == 0


TWO_RATE = {"tariff_id": 21, "provider_id": 1, "currency": 826, "price_scaler": -5,
            "tou": [30000, 10000], "labels": {"1": "Day", "2": "Night"},
            "standing_charge": {"amount": 0, "period_s": 86400},
            "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                         "days": {"1": [["00:00", 2], ["00:30", 1], ["01:30", 2]]}},
            "special_days": []}


@pytest.mark.parametrize("back", [60, 3600, 86400 * 40, 31536000])
def test_current_price_after_the_clock_went_back(tmp_path, back):
    b = conftest.Bench(str(tmp_path / "s"), None, T0 + 86400 * 4)
    tariff_load(b.meter, TWO_RATE)
    b.tick(2000)
    price = Z.CLUSTERS[0x0700]

    def current():
        pl = Z.build_cluster_cmd(price, "GetCurrentPrice", {"CommandOptions": 0}, 0x71)
        r = decoded(b.send(0x0700, pl))
        assert [f["command"] for f in r] == ["PublishPrice"], r
        return r[0]["fields"]
    first = current()
    b.meter.time.supplier_set_clock(b.clock.now() - back, 0, 0xFFFFFFFE)
    b.tick(1)
    f = current()
    now = b.clock.now()
    nxt = b.meter.tariff.calendar.changes(now, 1)[0][0]
    assert f["StartTime"] <= now < nxt
    assert f["DurationInMinutes"] == (nxt - f["StartTime"]) // 60
    tf = b.meter.tariff
    assert f["IssuerEventID"] == tf.sel_start       # the period in force keeps its id
    assert f["StartTime"] == min(tf.sel_start, now)
    assert first["StartTime"] == first["IssuerEventID"]
    assert b.meter.zcl.handler_errors == 0


# -- defect 9: the bench's decoder ------------------------------------------------------------

def test_decode_frame_reports_a_truncated_configure_reporting():
    pl = bytes.fromhex("0043060000042a0a002c01640000020000")
    d = Z.decode_frame(0x0702, pl)
    assert d["command"] == "ConfigureReporting" and d["error"].startswith("malformed")
    json.dumps(d)


def _all_commands():
    out = [(0x0000, False, c) for c in Z.GLOBAL_NAMES]
    for cid, cls in Z.CLUSTERS.items():
        for to_client in (False, True):
            for c in Z.command_table(cls, to_client):
                out.append((cid, True, c[0] | (0x100 if to_client else 0)))
    return out


@given(st.sampled_from(_all_commands()), st.binary(max_size=90), st.integers(0, 0xFF))
@settings(max_examples=1500, deadline=None)
def test_decode_frame_never_raises(cmd, body, seq):
    cid, specific, c = cmd
    fc = (0x01 if specific else 0) | (0x08 if c & 0x100 else 0)
    d = Z.decode_frame(cid, bytes([fc, seq, c & 0xFF]) + body)
    json.dumps(d)
    assert "command" in d


# -- control requests to the virtual board ---------------------------------------------------

MALFORMED = [
    b"{not json", b"\xff\xfe\x00", b"[1, 2]", b"42", b'"advance"', b"null", b'{"s": 5}',
    b'{"op": ["advance"]}', b'{"op": 7}', b'{"op": "format-flash"}',
    b'{"op": "advance"}', b'{"op": "advance", "s": "10"}', b'{"op": "advance", "s": 1.5}',
    b'{"op": "advance", "s": -1}', b'{"op": "advance", "s": 1000000000000}',
    b'{"op": "advance", "s": null}', b'{"op": "advance", "s": true}',
    b'{"op": "load"}', b'{"op": "load", "w": "x"}', b'{"op": "load", "w": -5}',
    b'{"op": "load", "w": 100, "aux_w": 5}', b'{"op": "load", "w": 100, "aux_w": ["a"]}',
    b'{"op": "set_clock"}', b'{"op": "set_clock", "offset": "x"}',
    b'{"op": "set_clock", "offset": -100000000000}', b'{"op": "set_clock", "offset": 5000000000}',
    b'{"op": "drlc_opt"}', b'{"op": "drlc_opt", "out": "yes"}',
    b'{"op": "drlc_opt", "out": true, "event": "x"}',
    b'{"op": "ui"}', b'{"op": "ui", "code": "5"}', b'{"op": "ui", "code": 5, "arg": 5}',
    b'{"op": "ui", "code": 1048576}',
    b'{"op": "cut_after_writes"}', b'{"op": "cut_after_writes", "n": 0}',
    b'{"op": "cut_after_writes", "n": "1"}',
    b'{"op": "tariff", "doc": 5, "at": 0}', b'{"op": "prepay", "doc": [1]}',
    b"[" * 3000 + b"]" * 3000,                   # deep nesting (CPython json recursion)
    b'{"op": "sync", "pad": "' + b"x" * 9000 + b'"}',   # longer than a request may be
]


def _request(m, data):
    while len(data) > L.CHUNK:
        m.send_raw(L.encode(L.T_CTRL_MORE, data[:L.CHUNK]))
        data = data[L.CHUNK:]
    m.send_raw(L.encode(L.T_CTRL, data))
    return m.wait_response()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_malformed_control_requests_are_answered_and_change_nothing(tmp_path, runtime):
    from tools.meterlink import MeterLink
    m = MeterLink(runtime, str(tmp_path / "s"), T0)
    m.start()
    try:
        assert m.ctrl("load", w=3600) == {"ok": True}
        now = m.ctrl("sync")["now"]
        for data in MALFORMED:
            rsp = _request(m, data)
            assert isinstance(rsp, dict) and rsp.get("error", "").startswith(
                ("bad control request", "tariff rejected", "prepay rejected")), (data[:60], rsp)
            assert m.alive, data[:60]
        assert m.ctrl("sync")["now"] == now                  # no advance, no clock set
        done = 0
        while done < 10:                                     # stops after a second with frames
            done += m.ctrl("advance", s=10 - done)["done"]
        state = m.ctrl("state")
        assert state["meter"]["ImportWh"] == 10              # 3600 W for 10 s: the load stood
        assert state["meter"]["HandlerErrors"] == 0
    finally:
        m.kill()


def test_frames_expectation_with_max_zero_alone_means_none():
    """The repro bench-decoder-truncated-configure-reporting states
    {"frames": {"command": "ReportAttributes", "max": 0}}: no such frame;
    min defaults to 1 only when max allows it."""
    from tools.bench import expect as EX

    class R:
        def __init__(self, frames):
            self.frames = frames
            self.checks = {"passed": 0, "failed": 0}
            self.failures = []
    rep = {"dir": "out", "command": "ReportAttributes"}
    for frames, exp, passed in (([], {"max": 0}, True), ([rep], {"max": 0}, False),
                                ([], {}, False), ([rep], {}, True), ([rep, rep], {"max": 1}, False),
                                ([], {"min": 0}, True)):
        r = R(frames)
        spec = dict(exp, command="ReportAttributes")
        EX.check(r, 0, {"frames": spec})
        assert (r.checks["failed"] == 0) == passed, (frames, exp)


@pytest.mark.parametrize("start", [0xFFFFFFFE, 0xFFFFFFFF - 86400 * 2])
def test_scheduled_prices_stop_at_the_end_of_utc_time(tmp_path, start):
    b = conftest.Bench(str(tmp_path / "s"), None, T0)
    tariff_load(b.meter, TWO_RATE)
    b.tick(1)
    pl = Z.build_cluster_cmd(Z.CLUSTERS[0x0700], "GetScheduledPrices",
                             {"StartTime": start, "NumberOfEvents": 10}, 0x72)
    r = decoded(b.send(0x0700, pl))
    later = [c for c in b.meter.tariff.calendar.changes(start, 10) if c[0] < 0xFFFFFFFF]
    if later:
        assert [f["fields"]["StartTime"] for f in r] == [c[0] for c in later]
        assert r[-1]["fields"]["DurationInMinutes"] == 0xFFFF     # until changed
    else:
        assert [(f["command"], f["fields"]["status"]) for f in r] == \
            [("DefaultResponse", "NOT_FOUND")]
    assert b.meter.zcl.handler_errors == 0
