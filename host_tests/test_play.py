"""The interactive virtual board (tools/bench/play.py) driven through its own
entry point by a scripted input stream, on both runtimes: a code from the
supplier tool for the demo meter is keyed in, the button enables the supply,
wrong codes get the spec's rejections; the plain-text view shows units and
names. Also the plain view of `run --live` when piped."""
import json
import os
import re
import subprocess
import sys

import pytest

from runtimes import ROOT
from tools import utrn as UT
from tools.bench import view as V

RUNTIMES = ("cpython", "micropython")


def play(runtime, script, out):
    p = subprocess.run([sys.executable, "-m", "tools.bench", "play", "--runtime", runtime,
                        "--out", str(out)], input=script, cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    with open(os.path.join(str(out), "result.json")) as f:
        return p.stdout, json.load(f)


def answers(text):
    """{command line: the block printed after it}; a line given again is
    keyed "line #2"."""
    out = {}
    for part in text.split("\n> ")[1:]:
        line, _, rest = part.partition("\n")
        out[line if line not in out else line + " #2"] = rest
    return out


def row(block, label):
    for line in block.splitlines():
        if line.startswith(label + " "):
            return line[len(label):].strip()
    raise AssertionError("no %s row in:\n%s" % (label, block))


def supplier_tool(*args):
    """(code, notes) from the supplier tool's command line."""
    p = subprocess.run([sys.executable, "-m", "tools.utrn"] + list(args), cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip(), p.stderr


GOOD, NOTES = supplier_tool("--pounds", "10")          # the default counter, 1000
TYPO = GOOD[:5] + str((int(GOOD[5]) + 1) % 10) + GOOD[6:]   # the check digit catches it
SCRIPT = "\n".join([
    "load 3000",
    "step 2h",                      # £1 at 3 kW on the day rate runs out
    "topup %s" % GOOD,
    "button",
    "topup %s" % TYPO,
    "topup %s" % GOOD,              # the same counter again
    "frobnicate",
    "aux 1 2000",
    "drlc now 30",
    "step 31m",
    "quit",
]) + "\n"


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    return {rt: play(rt, SCRIPT, tmp_path_factory.mktemp("play-" + rt)) for rt in RUNTIMES}


def test_supplier_tool_says_which_meter_and_keys():
    assert GOOD == UT.make_utrn(1000, pounds=10)
    keys = UT.test_keys()
    assert "meter (device) entity id %s" % keys["entity_id"] in NOTES
    assert "demo meter of make run / make play" in NOTES
    assert "supplier entity id %s" % keys["supplier_id"] in NOTES
    assert "topup %s" % GOOD in NOTES and "--counter 1001" in NOTES
    # the demo meter's configuration carries the same keys
    from tools.bench.runner import meter_config
    assert meter_config({"topup_keys": "test"})["entity_id"] == keys["entity_id"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_keyed_code_and_button_bring_the_supply_back(sessions, runtime):
    text, res = sessions[runtime]
    a = answers(text)
    off = a["step 2h"]
    assert row(off, "supply").startswith("Disabled (cause: credit)")
    assert "SUPPLY OFF" in row(off, "display")
    assert "0x8F0F Supply Disabled: credit exhausted" in off
    credit_off = re.search(r"credit (-?£\d+\.\d\d)", row(off, "account")).group(1)
    assert credit_off in ("£0.00", "-£0.00", "-£0.01", "-£0.02", "-£0.03")
    # the code from tools/utrn.py for the demo meter is accepted: £10 more, supply armed
    topped = a["topup %s" % GOOD]
    assert topped.startswith("top-up via meter keypad (you): £10.00 credited from meter keypad")
    assert row(topped, "supply").startswith("Armed")
    assert "0x8F32 Supply Armed" in topped
    before = int(round(float(credit_off.replace("£", "")) * 100))
    after = re.search(r"credit £(\d+)\.(\d\d)", row(topped, "account"))
    # pence shown towards zero: the £10 lands within the penny the display drops
    assert abs(int(after.group(1)) * 100 + int(after.group(2)) - (before + 1000)) <= 1
    # the consumer button enables the armed supply (SMETS: arm -> enable)
    pressed = a["button"]
    assert row(pressed, "supply").startswith("Enabled")
    assert "SUPPLY ON" in row(pressed, "display")
    assert "supply Enabled" in pressed
    # the result.json of the session holds the same story
    topups = [s for s in res["steps"] if "topup" in s.get("action", {})
              and s.get("note", "").startswith("user:")]
    assert topups[0]["result"]["utrn"] == GOOD and topups[0]["result"]["last_topup"][:2] == \
        [0, 1000000]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_wrong_codes_get_the_spec_rejections(sessions, runtime):
    text, res = sessions[runtime]
    a = answers(text)
    # a mistyped digit fails the check digit (GBCS §14.8): malformed, nothing credited
    bad = a["topup %s" % TYPO]
    assert "rejected: malformed (length, range or check digit)" in bad.splitlines()[0]
    # a counter used before is refused (§14.1 UTRN counter cache) with alert 0x8F51
    dup = a["topup %s #2" % GOOD]
    assert "rejected: duplicate (already used)" in dup.splitlines()[0]
    assert "0x8F51 UTRN rejected: already used (duplicate)" in dup
    assert row(dup, "account").split(";")[1] == row(a["button"], "account").split(";")[1]
    r = [s["result"]["last_topup"][0] for s in res["steps"] if "topup" in s.get("action", {})
         and s.get("note", "").startswith("user:")]
    assert r == [0, 1, 2]
    assert a["frobnicate"].startswith("unknown command")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_drlc_from_the_hub_sheds_the_aux_load(sessions, runtime):
    text, res = sessions[runtime]
    a = answers(text)
    shed = a["drlc now 30"]
    assert "aux 1 2000 W SHED/open" in row(shed, "demand")
    assert "DRLC event 5001: started (ZSE Report Event Status)" in shed
    assert "DRLC event 5001: completed (ZSE Report Event Status)" in a["step 31m"]
    assert [r["status"] for r in res["hub"]["drlc_reports"]] == ["received", "started",
                                                                   "completed"]


def test_same_session_on_both_runtimes(sessions):
    texts = []
    for rt in RUNTIMES:
        text = sessions[rt][0]
        texts.append(text[:text.index("play on ")])      # the summary's timing differs
    assert texts[0] == texts[1]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_plain_view_has_units_and_names(sessions, runtime):
    text, _ = sessions[runtime]
    block = answers(text)["step 31m"]
    assert re.search(r"^time +\w{3} \d\d \w{3} 2026 19:31:01 GMT", block, re.M)
    assert re.search(r"^demand +\d+ W now", block, re.M)
    assert re.search(r"Economy 7: Day \(TOU1\) at 29\.50 p/kWh; registers Day \(TOU1\) "
                     r"\d+\.\d{3} kWh", row(block, "tariff"))
    assert re.fullmatch(r"energy £\d+\.\d\d \+ standing charge £\d+\.\d\d = £\d+\.\d\d",
                        row(block, "charges"))
    assert row(block, "time status").startswith("Unreliable: time from the comms hub")
    # one block per refresh: rows of label + text, no line longer than a wide terminal
    assert all(len(line) < 160 for line in text.splitlines())


def test_piped_live_view_is_blocks_and_summary(tmp_path):
    p = subprocess.run([sys.executable, "-m", "tools.bench", "run",
                        os.path.join("scenarios", "demo-day.json"), "--runtime", "cpython",
                        "--out", str(tmp_path), "--live"], cwd=ROOT, capture_output=True,
                       text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    blocks = [b for b in p.stdout.split("\n\n") if b.startswith("time ")]
    assert len(blocks) == 25                     # 00:00 and every hour to the next midnight
    log = p.stdout
    for event in ("0x81AB Emergency Credit Activated", "0x81AA Emergency Credit Exhausted",
                  "DRLC event 1001: started", "£10.00 credited from PPMID",
                  "auxiliary switches: 1 OPEN (load shed)"):
        assert event in log, event
    summary = p.stdout[p.stdout.index("demo-day on cpython"):]
    assert "balance £5.19; supply Enabled" in summary
    assert "Day (TOU1) 23.050 kWh, Night (TOU2) 3.450 kWh" in summary
    assert "DRLC: event 1001 received > started > completed" in summary


def test_units():
    assert V.money(519365) == "£5.19" and V.money(-131780) == "-£1.31"
    assert V.price(29500) == "29.50 p/kWh" and V.kwh(26500) == "26.500 kWh"
    # GB civil time: BST from 01:00 UTC on the last Sunday of March (29 Mar 2026)
    from tools.bench.scenario import parse_time
    assert V.clock(parse_time("2026-03-29T00:59:59Z"), True).endswith("00:59:59 GMT")
    assert V.clock(parse_time("2026-03-29T01:00:00Z"), True).endswith("02:00:00 BST")
    assert V.clock(parse_time("2026-10-25T01:00:00Z"), True).endswith("01:00:00 GMT")
    assert V.register_label("TOU2", {"2": "Night"}) == "Night (TOU2)"
    assert V.register_label("B2T1", {"1": "Day"}) == "Day block 2 (B2T1)"
