"""OTA Upgrade client (firmware/ota/, clusters/ota_client.py), the image
tool (tools/otaimage.py) and the hub's OTA server (tools/otaserver.py)."""
import hashlib
import os
import struct

import pytest

from runtimes import run_script
from tools import otaimage as OI
from tools import otaserver as OS
from firmware.ota import client as O
from firmware.platform.store import PowerCut

from firmware.platform.clock import NEVER

PRIV, PUB = OI.supplier_key()
# ImageUpgradeStatus (ZCL rev 6 Table 11-16); the event log code, GBCS §11.4
# alerts and outcome reasons of firmware/ota/client.py (its README's table)
NORMAL, DOWNLOADING, COMPLETE, COUNTDOWN, EXTERNAL = 0, 1, 2, 4, 6
EV_OTA, AL_RECEIPT, AL_FAILURE = 0x0301, 0x8072, 0x801C
(R_OK, R_HEADER, R_IDENTITY, R_HARDWARE, R_DOWNGRADE, R_SIZE, R_SIGNATURE, R_LAYOUT,
 R_ABORTED) = range(1, 10)
RETRIES, BACKOFF = 5, 600          # client.py _RETRIES, _BACKOFF
CFG = {"supplier_ds_pub": PUB.hex()}


def bundle(version, body=b"", extra=6000):
    files = [("appmain.py", b"VERSION = %d\n" % version + body),
             ("lib/filler.bin", bytes((i * 7 + version) & 0xFF for i in range(extra)))]
    return OI.archive(files)


GOOD = OI.build(bundle(2), 2)


def meter(tmp, config=None, utc=820454400):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "mp"))
    from common import make_meter
    cfg = dict(CFG)
    cfg.update(config or {})
    return make_meter(str(tmp), utc, cfg)


def download(m, out, clock, srv, seconds=900, notify=True):
    del out[:]
    if notify:
        m.on_aps(srv.notify(m.nwk_addr))
        OS.pump(m, out, srv, clock.now())
    for _ in range(seconds):
        clock.advance(1)
        m.tick()
        OS.pump(m, out, srv, clock.now())
        if m.ota.dl[0] >= COMPLETE and not srv.queue:
            break


def outcomes(m):
    return [v for _, c, _, v in m.log_between(m.event_log, 0, 0xFFFFFFFF) if c == EV_OTA]


def flash_image(tmp):
    p = os.path.join(str(tmp), O.IMG)
    return open(p, "rb").read() if os.path.exists(p) else None


# -- the file format ------------------------------------------------------------
def test_zigpy_reads_our_header():
    """zigpy's OTA parser (an independent implementation) reads the same
    header fields from our file."""
    from zigpy.ota.image import OTAImageHeader
    img = OI.build(bundle(7), 0x01020304, manuf=0x1234, image_type=0x0042, hw=(2, 5))
    h, rest = OTAImageHeader.deserialize(img)
    f = OI.parse(img)
    assert h.upgrade_file_id == 0x0BEEF11E and h.header_version == 0x0100
    assert h.header_length == f["header_length"] == 60
    assert h.manufacturer_id == 0x1234 and h.image_type == 0x0042
    assert h.file_version == 0x01020304 == int(f["file_version"], 16)
    assert h.image_size == len(img) == f["total_image_size"]
    assert (h.minimum_hardware_version, h.maximum_hardware_version) == (2, 5)
    assert h.stack_version == 2
    assert len(rest) == len(img) - 60


def test_dump_checks_every_field_and_the_signature(tmp_path, capsys):
    p = tmp_path / "x.ota"
    p.write_bytes(GOOD)
    assert OI.main(["dump", str(p)]) == 0
    text = capsys.readouterr().out
    assert "signature_ok                 True" in text and "appmain.py" in text
    bad = bytearray(GOOD)
    bad[100] ^= 1
    p.write_bytes(bytes(bad))
    assert OI.main(["dump", str(p)]) == 1
    f = OI.parse(GOOD)
    assert f["signature_length_octet"] == "0x40" and f["force_replace"] == 0
    assert f["manufacturer_image_length"] == len(GOOD) - 126


def test_build_from_a_bundle_directory(tmp_path):
    d = tmp_path / "b"
    (d / "firmware").mkdir(parents=True)
    (d / "firmware" / "meter.mpy").write_bytes(b"M\x06" + bytes(100))
    (d / "bundle.json").write_text("{}")
    out = tmp_path / "a.ota"
    assert OI.main(["build", str(d), str(out), "--version", "3"]) == 0
    f = OI.parse(out.read_bytes())
    assert f["signature_ok"] and dict(f["bundle_files"]) == {"bundle.json": 2,
                                                              "firmware/meter.mpy": 102}


# -- download ---------------------------------------------------------------------
def test_download_completes_through_faults(tmp_path):
    m, out, clock, met, be = meter(tmp_path)
    srv = OS.OtaServer(GOOD)
    srv.faults = {1: "drop", 2: "drop", 4: "dup", 6: "stale", 8: "badoff", 10: "short",
                  12: "wait", 30: "drop"}
    download(m, out, clock, srv)
    assert flash_image(tmp_path) == GOOD
    assert srv.ends == [0x00]
    assert m.ota.read(6) == EXTERNAL            # GBCS: waits for CS06
    assert m.ota.read(4) == 2 and m.ota.read(1) == 0xFFFFFFFF
    assert AL_RECEIPT in m.alerts and outcomes(m) == [R_OK]
    # a lost block is asked for again at its own offset, never from 0
    assert srv.offsets.count(0) == 1
    assert sorted(set(srv.offsets)) == list(range(0, len(GOOD), O._max_data(m.ota)))
    assert m.zcl.handler_errors == 0


@pytest.mark.parametrize("fault", ["corrupt"])
def test_corrupted_block_is_never_accepted(tmp_path, fault):
    m, out, clock, met, be = meter(tmp_path)
    srv = OS.OtaServer(GOOD)
    srv.faults = {20: fault}
    download(m, out, clock, srv)
    assert srv.ends == [0x96] and flash_image(tmp_path) is None
    assert m.ota.read(6) == NORMAL
    assert AL_FAILURE in m.alerts and outcomes(m) == [0x9600 | R_SIGNATURE]


def _other_key_image():
    other = OI.build(bundle(2), 2, priv=bytes.fromhex(
        "B300CEC497F32C98E043B8A8CFF02AD41E74837795E8C3916BE73E7A4CC744B8"))
    return other


@pytest.mark.parametrize("case,image,config,end,reason,alert", [
    ("wrong signature", _other_key_image(), {}, 0x96, R_SIGNATURE, AL_FAILURE),
    ("wrong manufacturer", OI.build(bundle(2), 2, manuf=0x9999), {}, 0x95, R_IDENTITY, None),
    ("wrong image type", OI.build(bundle(2), 2, image_type=5), {}, 0x95, R_IDENTITY, None),
    ("too large", GOOD, {"ota_max": 4096}, 0x95, R_SIZE, None),
    ("hardware out of range", OI.build(bundle(2), 2, hw=(2, 3)), {}, 0x96, R_HARDWARE,
     AL_FAILURE),
    ("downgrade", OI.build(bundle(1), 1), {"fw_version": 1}, 0x95, R_DOWNGRADE, None),
    ("older", OI.build(bundle(1), 1), {"fw_version": 4}, 0x95, R_DOWNGRADE, None),
    ("truncated", GOOD[:-100], {}, 0x96, R_LAYOUT, AL_FAILURE),
    ("no supplier key", GOOD, {"supplier_ds_pub": ""}, 0x96, R_SIGNATURE, AL_FAILURE),
])
def test_bad_images_are_rejected(tmp_path, case, image, config, end, reason, alert):
    m, out, clock, met, be = meter(tmp_path, config)
    srv = OS.OtaServer(image)
    download(m, out, clock, srv, seconds=60)
    assert srv.ends == [end], case
    assert outcomes(m) == [(end << 8) | reason], case
    assert (alert in m.alerts) if alert else not [a for a in m.alerts if a in (
        AL_FAILURE, AL_RECEIPT)], case
    assert flash_image(tmp_path) is None and m.ota.read(6) == NORMAL
    if reason in (R_HARDWARE,):
        assert srv.requests <= 2, "a foreign header stops the download early"


def test_downgrade_allowed_explicitly(tmp_path):
    img = OI.build(bundle(1), 1)
    m, out, clock, met, be = meter(tmp_path, {"fw_version": 3, "ota_allow_downgrade": True})
    download(m, out, clock, OS.OtaServer(img))
    assert flash_image(tmp_path) == img and m.ota.read(6) == EXTERNAL


def test_server_abort_discards_and_a_later_notify_starts_again(tmp_path):
    m, out, clock, met, be = meter(tmp_path)
    srv = OS.OtaServer(GOOD)
    srv.faults = {5: "abort"}
    download(m, out, clock, srv, seconds=30)
    assert outcomes(m) == [0x9500 | R_ABORTED] and flash_image(tmp_path) is None
    assert m.ota.read(6) == NORMAL and m.ota.next_due == NEVER
    srv.faults = {}
    download(m, out, clock, srv)             # no stall after an aborted download
    assert flash_image(tmp_path) == GOOD and srv.ends == [0x00]


def test_timeouts_back_off_and_keep_the_offset(tmp_path):
    m, out, clock, met, be = meter(tmp_path)
    srv = OS.OtaServer(GOOD)
    srv.faults = {k: "drop" for k in range(3, 3 + RETRIES + 1)}
    t0 = clock.mono()
    download(m, out, clock, srv, seconds=2000)
    assert flash_image(tmp_path) == GOOD
    # the request at 3 * 64 is repeated RETRIES times with growing gaps, then
    # once more after the back-off; never from 0
    assert srv.offsets[3:3 + RETRIES + 2] == [3 * O._max_data(m.ota)] * (RETRIES + 2)
    assert srv.offsets.count(0) == 1 and clock.mono() - t0 >= BACKOFF


def test_notify_jitter_and_source(tmp_path):
    from firmware.zcl.aps import Aps
    m, out, clock, met, be = meter(tmp_path)
    srv = OS.OtaServer(GOOD)
    del out[:]
    def queries():
        return [f for f in out if f.cluster == 0x19 and f.payload[0] & 3 == 1]
    for _ in range(20):
        m.on_aps(srv.notify(0xFFFF, jitter=0))
    assert not queries()                                  # broadcast, jitter 0: never
    for _ in range(40):
        m.on_aps(srv.notify(0xFFFF, jitter=50))
    n50 = len(queries())
    assert 5 < n50 < 35 and m.zcl.handler_errors == 0     # about half of them
    m.ota.rt[0] = 0
    del out[:]
    n = srv.notify(m.nwk_addr)
    m.on_aps(Aps(0x1234, 1, n.dst, n.dst_ep, n.profile, n.cluster, b"\x09" + n.payload[1:]))
    assert not queries() and out[-1].payload[-1] == 0x7E  # not the hub: NOT_AUTHORIZED
    # a notify naming the version already running is ignored
    m.on_aps(srv.notify(m.nwk_addr, payload_type=3).__class__(
        0, 1, m.nwk_addr, 1, 0x0109, 0x19, bytes([0x19, 9, 0, 3, 100]) +
        struct.pack("<HHI", 0x1234, 0, 1)))
    assert not queries()
    m.on_aps(srv.notify(m.nwk_addr, jitter=100, payload_type=3))
    assert [f.payload[2] for f in queries()] == [0x01]


def test_periodic_query_when_configured(tmp_path):
    m, out, clock, met, be = meter(tmp_path, {"ota_query_s": 3600})
    srv = OS.OtaServer(GOOD)
    assert m.ota.next_due == NEVER
    m.ota.due(clock.mono())                     # first cycle (e.g. after the hub notify)
    OS.pump(m, out, srv, clock.now())
    for _ in range(900):
        clock.advance(1)
        m.tick()
        OS.pump(m, out, srv, clock.now())
    assert flash_image(tmp_path) == GOOD and srv.queries == 1
    srv2 = OS.OtaServer(GOOD)
    for _ in range(3700):
        clock.advance(1)
        m.tick()
        OS.pump(m, out, srv2, clock.now())
    assert srv2.queries == 1                    # an hour later it asks again


def test_power_cut_at_every_write_resumes_byte_identical(tmp_path):
    img = OI.build(bundle(2, extra=2500), 2)
    n = 1
    cuts = 0
    while True:
        d = tmp_path / ("c%d" % n)
        m, out, clock, met, be = meter(d)
        srv = OS.OtaServer(img)
        be.cut_after(n)
        try:
            download(m, out, clock, srv)
        except PowerCut:
            cuts += 1
        else:
            break
        asked = max(srv.offsets) if srv.offsets else 0
        m, out, clock, met, be = meter(d, utc=clock.now() + 30)
        srv.offsets = []
        # a cut before the download record landed: nothing started, the hub
        # notifies again; otherwise the meter resumes on its own
        download(m, out, clock, srv, notify=m.ota.dl[0] != DOWNLOADING)
        assert flash_image(d) == img, n
        assert m.ota.read(6) == EXTERNAL and srv.ends[-1] == 0, n
        first = srv.offsets[0] if srv.offsets else None
        # resumed at the last saved offset: at most what had been asked, and
        # past 0 once a checkpoint was saved
        assert first is None or first <= asked, n
        assert not (asked >= 1024 + 64 and first == 0), n
        n += 1
    assert cuts > len(img) // O._max_data(m.ota)


def test_upgrade_time_for_plain_zse_activates(tmp_path):
    m, out, clock, met, be = meter(tmp_path, {"ota_self_activate": True})
    srv = OS.OtaServer(GOOD, upgrade_time=0)
    download(m, out, clock, srv)
    srv.upgrade_time = 0
    assert m.ota.read(6) == COUNTDOWN
    for _ in range(3):
        clock.advance(1)
        m.tick()
    assert getattr(m, "restart_requested", False) and m.ota.read(6) == NORMAL
    assert os.path.exists(os.path.join(str(tmp_path), "app_a", "appmain.py"))


def test_unreadable_download_record_boots_safe(tmp_path):
    m, out, clock, met, be = meter(tmp_path)
    srv = OS.OtaServer(GOOD)
    srv.faults = {40: "drop"}
    download(m, out, clock, srv, seconds=0)
    assert m.ota.dl[0] == DOWNLOADING
    for _ in range(2):          # CRC-good records the owner cannot decode, both slots
        m.store.save("ota", b"\x09" * 20, 10, 1)
    m, out, clock, met, be = meter(tmp_path)
    assert m.ota.read(6) == NORMAL and "ota" in m.store.unreadable
    assert 0x8FF0 in m.alerts


# -- both runtimes ------------------------------------------------------------------
def _files(tmp_path):
    p = tmp_path / "img.ota"
    p.write_bytes(OI.build(bundle(2, extra=2500), 2))
    (tmp_path / "img.ota.pub").write_text(PUB.hex())
    b = tmp_path / "broken.ota"
    b.write_bytes(OI.build(OI.archive([("appmain.py", b"raise ImportError('broken')\n")]), 3))
    (tmp_path / "broken.ota.pub").write_text(PUB.hex())
    return str(p), str(b)


AB_STEPS = [("start", "good"), ("boot", "good"), ("boot", "good"), ("start", "broken"),
            ("boot", "broken"), ("boot", "broken"), ("boot", "broken")]


@pytest.mark.parametrize("phase", ["faults", "corrupt", "ab"])
def test_same_on_both_runtimes(tmp_path, phase):
    img, broken = _files(tmp_path)
    outs = []
    for rt in ("cpython", "micropython"):
        d = tmp_path / rt
        d.mkdir()
        steps = AB_STEPS if phase == "ab" else [()]
        outs.append("".join(run_script(rt, "ota_download.py", str(d), phase, img, broken, *st)
                            for st in steps))
    assert outs[0].strip() and outs[0] == outs[1]
    text = outs[0]
    if phase == "faults":
        assert "status 6 ends ['00'] identical True" in text and "restarts from 0 0" in text
    elif phase == "corrupt":
        assert "status 0 ends ['96'] identical False" in text and "'801c'" in text
    else:
        lines = text.splitlines()
        assert "good activate (0, 1) restart True" in text
        assert "good wrong hash (2, 1)" in text and "good again (1, 1)" in text
        # activation outcome logged once (0x0302: outcome << 16 | running version)
        good = "good boot from /app_a app 2 running 2 again (None, 2) wh 4242 " \
            "events ['0001', '0002']"
        assert lines.count(good) == 2, text                # sticks across restarts
        assert "broken boot from /app_b failed: ImportError" in text
        rolled = "broken boot from /app_a app 2 running 2 again (None, 2) wh 4242 " \
            "events ['0001', '0002', '0001', '30002']"
        assert lines[-2:] == [rolled, rolled], text        # rolled back, reported once


def test_power_cut_resume_on_both_runtimes(tmp_path):
    img, broken = _files(tmp_path)
    outs = []
    for rt in ("cpython", "micropython"):
        d = tmp_path / rt
        d.mkdir()
        outs.append(run_script(rt, "ota_download.py", str(d), "cut", img, "3"))
    assert outs[0] == outs[1]
    lines = [l for l in outs[0].splitlines() if l.startswith("cut ")]
    assert len(lines) > 20 and all("ok True from0 False" in l for l in lines), outs[0]


def test_malformed_and_stray_frames_never_fail_the_meter(tmp_path):
    """Short payloads get MALFORMED_COMMAND, unknown commands
    UNSUP_CLUSTER_COMMAND, stray responses nothing; no handler error."""
    from firmware.zcl.aps import Aps
    m, out, clock, met, be = meter(tmp_path)

    def frame(cmd, payload):
        del out[:]
        m.on_aps(Aps(0, 1, m.nwk_addr, 1, 0x0109, 0x19, bytes([0x09, 7, cmd]) + payload))
        return [f.payload[-1] for f in out if f.cluster == 0x19 and f.payload[0] & 3 == 0]

    assert frame(0x00, b"") == [0x80]                 # Image Notify without its fields
    assert frame(0x09, b"\x00") == [0x81]             # Query Specific File Response: not used
    # responses nobody asked for are dropped (SUCCESS, nothing changes)
    assert frame(0x05, struct.pack("<BHHIIB", 0, 0x1234, 0, 2, 0, 3) + b"abc") == [0x00]
    assert frame(0x02, struct.pack("<BHHII", 0, 0x1234, 0, 9, 5000)) == [0x00]
    assert frame(0x07, struct.pack("<HHIII", 0x1234, 0, 2, 0, 0)) == [0x00]
    assert m.ota.read(6) == NORMAL
    # expected ones cut short: MALFORMED_COMMAND, the request stays outstanding
    m.ota.due(clock.mono())                           # a Query Next Image goes out
    assert frame(0x02, b"") == [0x80]
    assert frame(0x02, b"\x00\x34\x12") == [0x80]
    assert frame(0x02, struct.pack("<BHHII", 0, 0x1234, 0, 2, len(GOOD))) == [0x00]
    assert m.ota.read(6) == DOWNLOADING
    assert frame(0x05, b"") == [0x80]
    assert m.zcl.handler_errors == 0


# -- the boot selector wired into the virtual board (tools/vboard_main.py) -----
def _app_copy(dst, patch):
    """A bundle directory: the firmware's sources with one file changed (a
    full firmware bundle: the one on the module path replaces the package)."""
    import shutil
    from runtimes import ROOT
    shutil.copytree(os.path.join(ROOT, "firmware"), os.path.join(dst, "firmware"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.md"))
    name, old, new = patch
    p = os.path.join(dst, "firmware", name)
    src = open(p).read()
    assert old in src
    with open(p, "w") as f:
        f.write(src.replace(old, new, 1))


@pytest.mark.parametrize("rt", ["micropython", "cpython"])
def test_virtual_board_boots_the_selected_bundle_and_rolls_a_broken_one_back(tmp_path, rt):
    """The deployed virtual board's main.py (tools/vboard_main.py) runs the
    boot selector at each power-on (a host connection) before importing the
    application: an activated bundle (its op_hello says so) is what runs, it
    stays after its confirmation, and a bundle that does not import is rolled
    back at the next power-on. The selector is written as activate()'s commit
    point writes it (activate itself: test_same_on_both_runtimes)."""
    import json
    import shutil
    import socket
    import subprocess
    import sys
    import time
    from runtimes import ROOT
    from tools.meterlink import MeterLink, MeterDied, micropython_exe
    from firmware.platform.store import Store, FileBackend
    flash = tmp_path / "flash"
    flash.mkdir()
    shutil.copy(os.path.join(ROOT, "tools", "vboard_main.py"), str(flash / "main.py"))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (flash / "vboard.json").write_text(json.dumps({"link": port, "utc": 820454400,
                                                   "config": CFG}))
    store = str(flash / "store")
    hello = ("control.py", '"now": self.clock.now()}', '"now": self.clock.now(), "app": "B"}')
    _app_copy(os.path.join(store, "app_a"), hello)
    _app_copy(os.path.join(store, "app_b"), ("vboard.py", "import gc\n",
                                             "raise ImportError('broken')\n"))
    if rt == "micropython":
        cmd = [micropython_exe(), "-X", "heapsize=4M", "main.py"]
    else:
        cmd = [sys.executable, "main.py"]
    env = dict(os.environ, MICROPYPATH=ROOT, PYTHONPATH=ROOT)
    proc = subprocess.Popen(cmd, cwd=str(flash), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)

    def power_on():
        for _ in range(300):
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                time.sleep(0.1)
        link = MeterLink(rt, None, 0)
        link.sock = sock
        sock.settimeout(120)
        try:
            return link.ctrl("hello").get("app", "built-in")
        except MeterDied:
            return "failed"
        finally:
            sock.close()

    def select(sel):
        O._save(Store(FileBackend(store)), sel)

    def sel():
        return O._load(Store(FileBackend(store)))

    try:
        seen = [power_on()]                               # no selector: built-in
        select([0, 0xFF, 1, 0, 2, 1, 0])                  # app_a activated, on trial
        seen += [power_on(), power_on()]
        after_a = sel()
        select([1, 0, 1, 0, 3, 2, 0])                     # app_b activated: it does not import
        seen += [power_on(), power_on(), power_on()]
        after_b = sel()
    finally:
        proc.kill()
        out = proc.communicate()[0].decode(errors="replace")
    assert seen == ["built-in", "B", "B", "failed", "B", "B"], out
    assert after_a == [0, 0xFF, 0, 0, 2, 1, 0]            # confirmed (outcome 0 success)
    assert after_b[:3] == [0, 1, 0] and after_b[4:6] == [2, 3], after_b   # rolled back
    assert "application from store/app_b failed" in out and "ImportError" in out, out


def test_records_restored_on_rollback_on_both_runtimes(tmp_path):
    """A trial bundle saved every record at a newer version (the old
    application cannot decode them) and never confirmed: after the rollback
    the old application boots with the energy, credit, UTRN cache and tariff
    it had before the activation, nothing in a safe state
    (host_tests/mp/ota_records.py)."""
    import json
    from tools import utrn as UT
    inp = {"config": UT.meter_config(),
           "tariff": {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5,
                      "tou": [20000], "standing_charge": {"amount": 86400, "period_s": 86400},
                      "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                                   "days": {"1": [["00:00", 1]]}}, "special_days": []},
           "codes": [UT.make_utrn(1000, pounds=5)]}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    outs = []
    for rt in ("cpython", "micropython"):
        d = tmp_path / rt
        d.mkdir()
        outs.append("".join(run_script(rt, "ota_records.py", str(d), str(tmp_path / "in.json"),
                                       ph, preload="firmware.meter")
                            for ph in ("before", "trial", "after")))
    assert outs[0] == outs[1], outs
    lines = outs[0].splitlines()
    states = [l for l in lines if l.startswith("state ")]
    assert len(states) == 2 and states[0] == states[1], outs[0]
    assert "unreadable [] supply" in states[0] and "credit 0 " not in states[0]
    assert "topup (0, " in outs[0] and "again (0," not in outs[0]   # the cache kept the UTRN
    assert "next boot None" in outs[0] and "left []" in outs[0], outs[0]


def test_board_start_rolls_back_an_unconfirmed_trial(tmp_path):
    """boards/drivers/board.py start() runs the boot selector before it
    imports the application (NUCLEO_WB55's boot.py and main.py on the fake
    machine, as test_drivers.py runs them): a trial bundle that already had
    its boot and never confirmed is rolled back to the built-in application,
    the records it added go, and the meter that boots reports the rollback."""
    import json
    import sys
    import types
    import test_drivers as TD
    from firmware.platform.store import Store, FileBackend
    FM = TD.FM
    ft = FM.FakeTime(1000)
    ft.patch(TD.ST, TD.PU, TD.RE, TD.BU, TD.RC, TD.HU)
    FM.Pin.reset()
    FM.RTC.now = (2026, 12, 2, 3, 5, 0, 0, 0)
    FM.WDT.feeds = 0
    FM.WDT.timeout = None
    FM.UART.ports = {}
    board = "NUCLEO_WB55"
    pins = TD._pins(board, str(tmp_path))
    st = Store(FileBackend(pins.STORE))
    O._save(st, [0, 0xFF, 1, 1, 2, 1, 0])      # app_a on trial, booted once, never confirmed
    os.mkdir(pins.STORE + "/recbak")           # its first boot's backup: no records then
    st.save("newrec", b"the trial's", 0, 0)
    ic = TD.FS.FakeStpm3x(TD.P_FULL, uart=False)
    FM.SPI.default_peer = ic.on_spi
    got, on_sleep = TD._host(board, [TD.L.encode(TD.L.T_CTRL, b'{"op": "hello"}')])
    ft.on_sleep = on_sleep
    sys.modules["pins"] = pins
    sys.modules["vfs"] = types.SimpleNamespace(
        mount=lambda: [(type("VfsLfs2", (), {})(), str(tmp_path))])
    TD.BO.SAFE = None
    try:
        src = {n: open(os.path.join(TD.ROOT, "boards", board, n)).read()
               for n in ("boot.py", "main.py")}
        exec(compile(src["boot.py"], "boot.py", "exec"), {"__name__": "__main__"})
        with pytest.raises(TD._Done):
            exec(compile(src["main.py"], "main.py", "exec"), {"__name__": "__main__"})
    finally:
        FM.SPI.default_peer = None
        del sys.modules["pins"], sys.modules["vfs"]
        TD.BO.SAFE = None
    rsp = [json.loads(p) for ft_, p in got if ft_ == TD.L.T_CTRL_RSP]
    assert rsp and rsp[0]["runtime"] == "cpython"
    # rolled back (active built-in, previous app_a, versions swapped), reported once
    assert O._load(Store(FileBackend(pins.STORE))) == [0xFF, 0, 0, 0, 1, 2, 0xFE]
    assert not os.path.exists(pins.STORE + "/newrec.0")


def test_verified_image_sends_the_wan_receipt_alert(tmp_path):
    """With a GBCS keystore provisioned, a downloaded and verified image
    also sends the Firmware Distribution Receipt Alert over the WAN (FDRA
    0x8F72, signed, to the supplier, with the manufacturer image's hash):
    queued in the tunnel until the hub opens one. Without a keystore only
    the ZSE/event-log alert (AL_RECEIPT) is raised."""
    from tools import gbcs_host as G
    from firmware.gbcs import keystore as K
    m, out, clock, met, be = meter(tmp_path)
    K.install(m, *G.rtds_keystore())
    download(m, out, clock, OS.OtaServer(GOOD))
    assert flash_image(tmp_path) == GOOD and AL_RECEIPT in m.alerts
    q = m.tunneling.queue
    assert len(q) == 1
    a = G.parse(q[0], device_ds_pub=G.test_ds_pub())
    c, hl, end, _ = O.layout(m.ota)
    assert a["sig_ok"] is True and a["cra"] == 3 and a["message_code"] == 0x00CE
    assert O.image_hash(m.ota, hl, end).hex().upper() in a["payload"]
    m2, out2, clock2, _, _ = meter(tmp_path / "plain")
    download(m2, out2, clock2, OS.OtaServer(GOOD))
    assert AL_RECEIPT in m2.alerts and not m2.tunneling.queue
