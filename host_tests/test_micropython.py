"""The MicroPython pass: the same scripts on the real MicroPython unix port
(board-sized heap) and on CPython must print the same bytes."""
import pytest

from runtimes import run_script

DIFFERENTIAL = ["engine_frames.py", "codec_vectors.py", "store_powercut.py", "tariff_year.py",
                "cluster_tables.py",
                # the GBCS use-case groups (firmware/gbcs/uc_*.py)
                "uc_read.py",
                "uc_device.py",
                "uc_tariff.py",
                "asn1_use_cases.py",
                ]


@pytest.mark.parametrize("script", DIFFERENTIAL)
def test_same_output_on_both_runtimes(script, tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", script, str(tmp_path / "c"))
    mpy = run_script("micropython", script, str(tmp_path / "m"))
    assert cpy.strip(), "the script printed nothing"
    assert mpy == cpy


def test_store_powercut_never_mixes_on_micropython(tmp_path):
    out = run_script("micropython", "store_powercut.py", str(tmp_path))
    lines = out.splitlines()[1:]
    assert lines and all(l.split()[1] == "old" for l in lines), out


def test_steady_state_tick_allocates_nothing(tmp_path):
    out = run_script("micropython", "heap_tick.py", str(tmp_path), preload="firmware.meter")
    assert "heap_lock ticks 1200 ok frames 0" in out, out
    # prepayment at its busiest: the time debt (3 units a second) is
    # collected for 400 s and the balance, held on by the friendly period,
    # keeps falling below zero
    line = [l for l in out.splitlines() if l.startswith("heap_lock prepay")][0].split()
    assert line[3:5] == ["400", "ok"] and int(line[7]) == 1200 and int(line[9]) < 0, out


def test_prepayment_day_same_on_both_runtimes(tmp_path):
    """UTRN vectors, payment-mode configurations and a prepayment day with a
    power cut torn into a top-up (host_tests/mp/prepay_day.py); the codes
    come from the supplier tool, which needs OpenSSL."""
    import json
    from tools import utrn as UT
    forged = UT.make_utrn(1002, pounds=5)
    forged = forged[:10] + str((int(forged[10]) + 1) % 10) + forged[11:19]
    forged += str(UT.check_digit(forged))
    typo = UT.make_utrn(1003, pounds=5)
    typo = typo[:4] + str((int(typo[4]) + 1) % 10) + typo[5:]
    inp = {"config": UT.meter_config(),
           "tariff": {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5,
                      "tou": [20000], "standing_charge": {"amount": 86400, "period_s": 86400},
                      "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                                   "days": {"1": [["00:00", 1]]}}, "special_days": []},
           "codes": [UT.make_utrn(1000, pounds=2), UT.make_utrn(1001, pounds=5), forged, typo,
                     UT.make_utrn(1004, pounds=1), UT.make_utrn(1030, pounds=1, legacy=True)]}
    (tmp_path / "in.json").write_text(json.dumps(inp))
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    out = {}
    for rt, d in (("cpython", "c"), ("micropython", "m")):
        out[rt] = "".join(run_script(rt, "prepay_day.py", str(tmp_path / d),
                                     str(tmp_path / "in.json"), phase, preload="firmware.meter")
                          for phase in ("1", "2"))
    cpy, mpy = out["cpython"], out["micropython"]
    shows = [line.split() for line in cpy.splitlines()
             if line.split()[0] in ("2h", "8h", "9h", "after", "enabled", "restart", "end")]
    assert len(shows) == 7 and all("True" in s[-6:-4] for s in shows)   # ledger balances
    assert "cut" in cpy and "again (0, 100000) again (2, 0)" in cpy
    assert "wrap (0, 100000)" in cpy
    assert mpy == cpy


def test_full_capacity_tariff_on_both_runtimes(tmp_path):
    """A tariff at the engine's full capacity loads, meters across switch
    points and comes back from flash at boot, identically on MicroPython
    (board heap) and CPython."""
    out = {}
    for rt in ("cpython", "micropython"):
        (tmp_path / rt).mkdir()
        out[rt] = "".join(run_script(rt, "tariff_full.py", str(tmp_path / rt), phase,
                                     preload="firmware.meter") for phase in ("1", "2"))
    lines = out["cpython"].splitlines()
    assert lines[0].startswith("activated ['cal', 'spd', 'prc', 'thr', 'stc']")
    p1, booted = lines[1].split(), lines[2].split()
    assert p1[1:4] == ["b'full'", "16", "48"]
    del p1[6], booted[6]          # the selector is looked up at the first tick after boot
    assert booted[1:] == p1[1:]   # parts, registers, counters and money read back whole
    assert out["micropython"] == out["cpython"]
