"""Tunneling cluster server (0x0704, GBCS §10.2.2, ZSE Annex D.6;
firmware/clusters/tunneling.py) on the meter: every command and status,
APS fragmentation of long TransferData both ways, the GBCS hand-over
(a stand-in gbcs_message until the GBCS layer is merged), GBT through the
tunnel, the alert queue, persistence across a power cut, expiry."""
import pytest

from conftest import decoded, HUB
from firmware.clusters.tunneling import Defrag, Tunneling
from firmware.gbcs import gbt as G
from firmware.gbcs.gbt import fragments
from firmware.zcl import aps as A
from test_gbt import gbcs_msg, blocks, DEVICE, SUPPLIER

GB = {"ProtocolID": 6, "ManufacturerCode": 0xFFFF, "FlowControlSupport": False,
      "MaximumIncomingTransferSize": 1500}


def request(bench, src=HUB, ep=1, **over):
    f = dict(GB)
    f.update(over)
    bench.seq += 1
    from tools import zcl_host as Z
    pl = Z.build_cluster_cmd(Tunneling, "RequestTunnel", f, bench.seq, False, True)
    bench.sent[:] = []
    bench.meter.on_aps(A.Aps(src, ep, 0x4E21, 1, A.PROFILE_SE, Tunneling.ID, pl, True))
    r, = decoded(bench.take())
    assert r["command"] == "RequestTunnelResponse"
    return r["fields"]


def transfer(bench, tid, data, src=HUB, ep=1, secured=True):
    """A client-to-server TransferData, APS-fragmented when it is longer
    than a frame; the meter's frames back, reassembled."""
    pl = bytes([0x11, 0x55, 0x02]) + tid.to_bytes(2, "little") + bytes(data)
    msg = A.Aps(src, ep, 0x4E21, 1, A.PROFILE_SE, Tunneling.ID, pl, secured)
    lim = bench.meter.zcl.limit(True)
    bench.sent[:] = []
    if len(pl) <= lim:
        bench.meter.on_aps(msg)
    else:
        for f in fragments(msg, lim):
            bench.meter.on_aps(f)
    return whole(bench, bench.take())


def whole(bench, frames):
    """The meter's frames with its APS fragments reassembled (each fragment
    checked against the link's frame budget)."""
    d = Defrag(bytearray(4096))
    out = []
    for f in frames:
        if f.frag:
            assert len(f.payload) + 2 <= bench.meter.zcl.limit(True)
            w = d.add(f)
            if w is not None:
                w.payload = bytes(w.payload)          # the region is reused
                out.append(w)
        else:
            assert len(f.payload) <= bench.meter.zcl.limit(True)
            out.append(f)
    return out


def tdata(frames):
    """The Data of every server-to-client TransferData among frames."""
    return [bytes.fromhex(r["fields"]["Data"][4:]) if r["fields"]["Data"].startswith("hex:")
            else r["fields"]["Data"].encode()
            for r in decoded(frames) if r["command"] == "TransferData"]


@pytest.fixture
def echo(bench):
    """A meter whose GBCS layer answers every message with it reversed."""
    calls = []

    def gbcs_message(buf):
        calls.append(bytes(buf))
        return bytes(buf)[::-1]
    bench.meter.gbcs_message = gbcs_message
    bench.calls = calls
    return bench


def test_request_tunnel_success_and_re_request_returns_the_same(bench):
    f = request(bench)
    assert f == {"TunnelID": 1, "TunnelStatus": 0, "MaximumIncomingTransferSize": 1500}
    t = bench.meter.tunneling
    bench.tick(100)
    assert t.tunnels[0][4] == bench.clock.mono() - 100
    assert request(bench)["TunnelID"] == 1                # same client: same tunnel
    assert len(t.tunnels) == 1 and t.tunnels[0][4] == bench.clock.mono()   # timer restarted


@pytest.mark.parametrize("over,status", [
    ({"ProtocolID": 0}, 3), ({"ProtocolID": 200}, 3), ({"ManufacturerCode": 0x1234}, 3),
    ({"FlowControlSupport": True}, 4)])
def test_request_tunnel_refusals(bench, over, status):
    f = request(bench, **over)
    assert (f["TunnelStatus"], f["TunnelID"]) == (status, 0xFFFF)
    assert bench.meter.tunneling.tunnels == []


def test_no_more_tunnel_ids_and_busy(bench):
    assert request(bench)["TunnelID"] == 1
    assert request(bench, src=0x5A5A)["TunnelID"] == 2
    assert request(bench, src=0x6B6B)["TunnelStatus"] == 2          # table full
    # busy while a GBT series is under way in one of the tunnels
    transfer(bench, 1, blocks(gbcs_msg(2500))[0])
    assert request(bench, src=0x6B6B)["TunnelStatus"] == 1


def test_transfer_data_errors(bench):
    request(bench)
    r, = decoded(transfer(bench, 9, gbcs_msg(100)))
    assert (r["command"], r["fields"]) == ("TransferDataError",
                                           {"TunnelID": 9, "TransferDataStatus": 0})
    r, = decoded(transfer(bench, 1, gbcs_msg(100), src=0x5A5A))
    assert r["fields"]["TransferDataStatus"] == 1                  # not the tunnel's owner
    r, = decoded(transfer(bench, 1, gbcs_msg(100), ep=2))
    assert r["fields"]["TransferDataStatus"] == 1
    r, = decoded(transfer(bench, 1, bytes(1501)))                  # over 1500: APS-fragmented
    assert r["fields"] == {"TunnelID": 1, "TransferDataStatus": 2}
    assert bench.meter.tunneling.errors == 4


def test_transfer_data_unsecured_is_dropped(echo):
    request(echo)
    assert transfer(echo, 1, gbcs_msg(60), secured=False) == []
    assert echo.calls == []


def test_close_tunnel_only_from_its_owner(bench):
    request(bench)
    bench.cmd("Tunneling", "CloseTunnel", {"TunnelID": 1}, src=0x5A5A)
    assert [t[0] for t in bench.meter.tunneling.tunnels] == [1]     # ignored (§10.2.2.1)
    bench.cmd("Tunneling", "CloseTunnel", {"TunnelID": 1})
    assert bench.meter.tunneling.tunnels == []
    r, = decoded(transfer(bench, 1, gbcs_msg(60)))
    assert r["fields"]["TransferDataStatus"] == 0


def test_close_tunnel_timeout(bench):
    request(bench)
    t = bench.meter.tunneling
    assert bench.meter.zcl.find(1, Tunneling.ID).values[0] == 0xFFFF   # CloseTunnelTimeout
    t.values[0x0000] = 30
    assert bench.meter.next_wakeup() <= bench.clock.now() + 30
    bench.tick(29)
    assert t.tunnels
    bench.take()
    bench.tick(1)
    r = [x for x in decoded(bench.take()) if x["cluster"] == "Tunneling"]
    assert t.tunnels == []
    assert r == [{"cluster": "Tunneling", "seq": r[0]["seq"], "direction": "to_client",
                  "command": "TunnelClosureNotification", "fields": {"TunnelID": 1}}]


def test_activity_keeps_the_tunnel_open(echo):
    request(echo)
    t = echo.meter.tunneling
    t.values[0x0000] = 30
    echo.tick(20)
    transfer(echo, 1, gbcs_msg(60))
    echo.tick(20)
    assert t.tunnels


def test_get_supported_tunnel_protocols(bench):
    r, = decoded(bench.cmd("Tunneling", "GetSupportedTunnelProtocols", {"ProtocolOffset": 0}))
    assert r["fields"] == {"ProtocolListComplete": 1, "ProtocolCount": 1,
                           "Protocols": [{"ManufacturerCode": 0xFFFF, "ProtocolID": 6}]}
    r, = decoded(bench.cmd("Tunneling", "GetSupportedTunnelProtocols", {"ProtocolOffset": 1}))
    assert r["fields"]["ProtocolCount"] == 0


def test_ack_and_ready_data_and_transfer_data_error_accepted(bench):
    request(bench)
    for cmd, f in (("AckTransferData", {"TunnelID": 1, "NumberOfBytesLeft": 0}),
                   ("ReadyData", {"TunnelID": 1, "NumberOfOctetsLeft": 0}),
                   ("TransferDataError", {"TunnelID": 1, "TransferDataStatus": 2})):
        r, = decoded(bench.cmd("Tunneling", cmd, f))
        assert r["fields"]["status"] == "SUCCESS"
    assert bench.meter.zcl.handler_errors == 0


@pytest.mark.parametrize("first", [0xDF, 0xDD])
def test_gbcs_message_handed_over_and_answered_through_the_tunnel(echo, first):
    request(echo)
    m = gbcs_msg(300)
    if first == 0xDD:
        m = bytes.fromhex("DD000000000000") + bytes([0x82]) + (len(m) + 5).to_bytes(2, "big") + \
            b"\x11\x00\x00\x00\x00" + m
    out = transfer(echo, 1, m)                 # 300 octets: APS-fragmented both ways
    assert echo.calls == [m]
    assert tdata(out) == [m[::-1]]
    assert decoded(out)[0]["fields"]["TunnelID"] == 1


def test_not_a_gbcs_message_is_not_handed_over(echo):
    request(echo)
    assert transfer(echo, 1, b"\x01\x02\x03") == []
    assert transfer(echo, 1, b"") == []
    assert echo.calls == []


def test_gbt_command_series_through_the_tunnel(echo):
    """RTDS CS02b size class: a 3986-octet command in 4 GBT blocks, block 2
    held back: the meter asks for it and hands over the whole message once."""
    request(echo)
    m = gbcs_msg(3986)
    b = blocks(m)
    assert transfer(echo, 1, b[0]) == []
    assert transfer(echo, 1, b[2]) == []
    out = transfer(echo, 1, b[3])
    (bc, bn, ack, d, n), = [G.parse(x) for x in tdata(out)]
    assert (bc, ack, n) == (1, 1, 0)           # Request Block Resend for block 2
    assert echo.calls == []                    # nothing processed before the series is whole
    big = gbcs_msg(3986, orig=DEVICE, recip=SUPPLIER, cra=2)
    echo.meter.gbcs_message = lambda buf: (echo.calls.append(bytes(buf)), big)[1]
    out = transfer(echo, 1, b[1])
    assert echo.calls == [m]
    # a 3986-octet answer goes back as a GBT series of 4 blocks
    got = tdata(out)
    assert len(got) == 4 and all(len(x) <= 1200 for x in got)
    assert b"".join(bytes(x[G.parse(x)[3]:]) for x in got) == big


def test_long_answer_without_grouping_header_is_not_sent(echo):
    """An answer over 1200 octets that GBT cannot carry (no Grouping Header
    to route it by): nothing is sent, counted, the meter carries on."""
    request(echo)
    echo.meter.gbcs_message = lambda buf: bytes(1300)
    assert transfer(echo, 1, gbcs_msg(60)) == []
    assert echo.meter.tunneling.unsent == 1 and echo.meter.zcl.handler_errors == 0


def test_large_response_segmented_by_gbt_and_resent(echo):
    """A 1402-octet response (RTDS ECS23b) leaves as two GBT blocks, each
    TransferData APS-fragmented; the hub's resend request gets block 2 again."""
    request(echo)
    rsp = gbcs_msg(1402, orig=DEVICE, recip=SUPPLIER, cra=2)
    echo.meter.gbcs_message = lambda buf: rsp
    got = tdata(transfer(echo, 1, gbcs_msg(200)))
    assert len(got) == 2 and len(got[0]) == 1200
    p = [G.parse(x) for x in got]
    assert b"".join(bytes(x[q[3]:q[3] + q[4]]) for x, q in zip(got, p)) == rsp
    hdr = bytes(got[0][2:11]) + SUPPLIER + DEVICE + bytes(got[0][31:33])
    again = tdata(transfer(echo, 1, G.build(hdr, 1, 1, 1, b"")))
    (bc, bn, ack, d, n), = [G.parse(x) for x in again]
    assert (bn, ack) == (2, 1) and again[0][d:] == got[1][p[1][3]:]
    transfer(echo, 1, G.build(hdr, 63, 2, 2, b""))        # the Ack of the last block
    assert echo.meter.tunneling.gbt.out is None


def test_tunnel_send_queues_until_a_tunnel_opens(bench):
    m = bench.meter
    alerts = [gbcs_msg(60, oc=i, orig=DEVICE, recip=SUPPLIER, cra=3) for i in range(6)]
    bench.sent[:] = []
    for a in alerts:
        assert m.tunnel_send(a) is False
    assert bench.take() == []
    assert len(m.tunneling.queue) == 4 and m.tunneling.dropped == 2      # bounded, oldest out
    f = GB
    from tools import zcl_host as Z
    pl = Z.build_cluster_cmd(Tunneling, "RequestTunnel", f, 0x31, False, True)
    m.on_aps(A.Aps(HUB, 1, 0x4E21, 1, A.PROFILE_SE, Tunneling.ID, pl, True))
    out = decoded(whole(bench, bench.take()))
    assert out[0]["command"] == "RequestTunnelResponse"
    datas = [bytes.fromhex(r["fields"]["Data"][4:]) for r in out[1:]]
    assert datas == alerts[2:]
    assert m.tunnel_send(alerts[0]) is True
    assert tdata(whole(bench, bench.take())) == [alerts[0]]


def test_tunnel_and_owner_survive_a_power_cut(echo):
    request(echo)
    request(echo, src=0x5A5A)
    echo.restart()
    t = echo.meter.tunneling
    assert [(x[0], x[1]) for x in t.tunnels] == [(1, HUB), (2, 0x5A5A)]
    echo.meter.gbcs_message = lambda buf: b"\xDF\x01"
    assert tdata(transfer(echo, 1, gbcs_msg(60))) == [b"\xDF\x01"]
    r, = decoded(transfer(echo, 2, gbcs_msg(60)))           # not the owner of tunnel 2
    assert r["fields"]["TransferDataStatus"] == 1
    assert request(echo, src=0x6B6B)["TunnelStatus"] == 2
    # a new tunnel after the cut gets a new id (the counter is in the record)
    echo.cmd("Tunneling", "CloseTunnel", {"TunnelID": 1})
    assert request(echo)["TunnelID"] == 3


def test_unreadable_tunnel_record_means_no_tunnel(bench):
    bench.meter.store.save("tunnel", b"\x01\x00\x05garbage")
    bench.restart()
    assert bench.meter.tunneling.tunnels == []
    r, = decoded(transfer(bench, 1, gbcs_msg(60)))
    assert r["fields"]["TransferDataStatus"] == 0          # the hub then requests a tunnel


def test_fragments_out_of_order_or_interleaved_drop_the_message(echo):
    request(echo)
    pl = bytes([0x11, 0x55, 0x02, 1, 0]) + gbcs_msg(400)
    msg = A.Aps(HUB, 1, 0x4E21, 1, A.PROFILE_SE, Tunneling.ID, pl, True)
    fr = list(fragments(msg, echo.meter.zcl.limit(True)))
    echo.sent[:] = []
    for f in [fr[0], fr[2]] + fr[1:]:
        echo.meter.on_aps(f)
    assert echo.calls == [] and echo.meter.tunneling.frag.dropped >= 1
    for f in fr:
        echo.meter.on_aps(f)
    assert len(echo.calls) == 1
    assert echo.meter.zcl.handler_errors == 0


def test_a_tunnel_slot_wakes_the_meter_only_when_due(bench):
    t = bench.meter.tunneling
    assert t.next_due() == 0xFFFFFFFF                 # nothing open: never
    request(bench)
    assert t.next_due() == bench.clock.mono() + 0xFFFF
    bench.tick(0xFFFE)
    assert t.tunnels
    bench.tick(1)
    assert not t.tunnels and t.next_due() == 0xFFFFFFFF


# -- both runtimes (host_tests/mp/tunnel_gbt.py) ----------------------------------------------
def test_tunnel_and_gbt_same_on_both_runtimes(tmp_path):
    from runtimes import run_script
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", "tunnel_gbt.py", str(tmp_path / "c"))
    mpy = run_script("micropython", "tunnel_gbt.py", str(tmp_path / "m"), preload="firmware.meter")
    assert "calls [3986]" in cpy and "errors 0 0" in cpy, cpy
    assert "oversized [1, 3, 7, 15, 0, 0, 0, 0, 0, 0, 0, 0]" in cpy, cpy
    assert mpy == cpy


def test_gbt_heap_bounded_on_micropython(tmp_path):
    """On the board-sized heap: with the regions allocated when the tunnel
    opened, a maximal series and its 1402-octet answer leave only the GBT
    module and its state behind, and a 12-block series the meter refuses
    afterwards leaves nothing: no growing buffer."""
    from runtimes import run_script
    out = run_script("micropython", "tunnel_gbt.py", str(tmp_path), "heap",
                     preload="firmware.meter")
    kept = {l.split()[3]: int(l.split()[-1]) for l in out.splitlines()
            if l.startswith("heap kept")}
    assert kept["a"] < 3072 and kept["an"] < 512, out
    assert "heap_lock ticks with a tunnel and a pending series ok" in out, out
    assert "calls [3986]" in out and "errors 0 0" in out, out


def test_power_cut_at_every_write_of_a_tunnel_record(make_bench):
    """The tunnel record is a two-slot store record: a cut at any write of
    a RequestTunnel's save leaves the tunnels before or after it, never a
    mix, and the meter boots."""
    from firmware.platform.store import PowerCut
    probe = make_bench(name="probe")
    request(probe)
    w0 = probe.backend.writes
    request(probe, src=0x5A5A)
    n = probe.backend.writes - w0
    assert n >= 2
    seen = set()
    for cut in range(1, n + 1):
        b = make_bench(name="c%d" % cut)
        request(b)
        b.backend.cut_after(cut)
        with pytest.raises(PowerCut):
            request(b, src=0x5A5A)
        b.restart()
        got = [(t[0], t[1]) for t in b.meter.tunneling.tunnels]
        assert got in ([(1, HUB)], [(1, HUB), (2, 0x5A5A)]), (cut, got)
        seen.add(len(got))
    assert 1 in seen
