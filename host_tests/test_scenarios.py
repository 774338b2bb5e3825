"""Every scenario in scenarios/ on CPython and on MicroPython: expectations
pass, results are identical apart from timing, captures dissect cleanly."""
import glob
import json
import os

import pytest

from runtimes import ROOT, tshark_problems, tshark_fields
from tools.bench.runner import run_file, comparable

SCENARIOS = sorted(glob.glob(os.path.join(ROOT, "scenarios", "*.json")))


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    cache = {}

    def get(path, runtime):
        key = (path, runtime)
        if key not in cache:
            out = tmp_path_factory.mktemp(os.path.basename(path)[:-5] + "-" + runtime)
            cache[key] = (run_file(path, runtime, str(out)), str(out))
        return cache[key]
    return get


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.basename(p)[:-5])
def test_scenario_identical_on_both_runtimes(path, results):
    cpy, cdir = results(path, "cpython")
    mpy, mdir = results(path, "micropython")
    assert cpy["failures"] == [], (cpy["failures"], cpy["events"])
    assert mpy["failures"] == [], (mpy["failures"], mpy["events"])
    assert cpy["expectations"]["passed"] > 0
    assert comparable(cpy) == comparable(mpy)
    # result.json on disk is what was returned
    with open(os.path.join(mdir, "result.json")) as f:
        assert comparable(json.load(f)) == comparable(mpy)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.basename(p)[:-5])
def test_capture_dissects_cleanly(path, results):
    for runtime in ("cpython", "micropython"):
        res, out = results(path, runtime)
        pcap = os.path.join(out, "capture.pcap")
        frames, problems = tshark_problems(pcap)
        # the capture holds every recorded frame, in order
        recorded = [(f, None) for f in res["boot_frames"]] + [
            (f, s.get("action")) for s in res["steps"] for f in s["frames"]
            if f["dir"] in ("in", "out")]
        assert frames == len(recorded)
        # nothing the meter sent is malformed or flagged; a flagged frame can
        # only be an input a scenario injected raw on purpose
        for line in problems:
            f, action = recorded[int(line.split("\t")[0]) - 1]
            assert f["dir"] == "in" and action and "raw" in action, line
        # every Smart Energy frame reached the ZCL dissector
        se = tshark_fields(pcap, "frame.number", display_filter="zbee_aps.profile == 0x0109")
        zcl = tshark_fields(pcap, "frame.number", display_filter="zbee_zcl")
        assert len(se) == len(zcl) > 0


def test_demo_values_in_wireshark(results):
    path = os.path.join(ROOT, "scenarios", "demo-day.json")
    res, out = results(path, "micropython")
    rows = tshark_fields(os.path.join(out, "capture.pcap"), "zbee_zcl.attr.id",
                         "zbee_zcl.attr.uint48", display_filter="zbee_zcl.cmd.id == 0x0a")
    sums = [int(r[1]) for r in rows if len(r) > 1 and r[1]]
    assert sums and max(sums) <= 26500
    assert sums == sorted(sums)          # summation never goes backwards


def test_power_cut_scenario_shows_restart(results):
    path = os.path.join(ROOT, "scenarios", "power-cut.json")
    res, _ = results(path, "micropython")
    kinds = [(e["event"], e.get("during")) for e in res["events"]]
    assert kinds == [("power_on", None), ("power_cut", "step"), ("power_on", None),
                     ("power_cut", "advance"), ("power_on", None)]


def test_metering_values_in_wireshark(results):
    """Wireshark's own SE dissector reads the Metering responses back with the
    values the scenario expects (an IHD's view, independent of our decoder)."""
    res, out = results(os.path.join(ROOT, "scenarios", "metering.json"), "micropython")
    pcap = os.path.join(out, "capture.pcap")
    rows = tshark_fields(pcap, "zbee_zcl_se.met.get_profile_response.status",
                         "zbee_zcl_se.met.get_profile_response.number_of_periods_delivered",
                         "zbee_zcl_se.met.get_profile_response.intervals",
                         display_filter="zbee_zcl_se.met.get_profile_response.status")
    assert rows[0] == ["0x00", "8", ",".join(["1000"] * 6 + ["16777215"] * 2)]
    assert rows[1][:2] == ["0x02", "0"]
    assert rows[2][:2] == ["0x04", "24"]
    attrs = tshark_fields(pcap, "zbee_zcl_se.met.attr_id", "zbee_zcl.attr.uint24",
                          "zbee_zcl.attr.uint48",
                          display_filter="zbee_zcl.cmd.id == 0x01 && zbee_zcl_se.met.attr_id")
    ids, u24, u48 = attrs[0][0].split(","), attrs[0][1].split(","), attrs[0][2]
    assert ids[:3] == ["0x0401", "0x0002", "0x0407"]
    assert u24 == ["6083", "83"] and u48 == "2000"      # day, partial interval; max demand


def test_prepayment_values_in_wireshark(results):
    """Wireshark's SE dissector reads the Prepayment responses of the
    prepay-day scenario back with the values it expects (a PPMID's view)."""
    res, out = results(os.path.join(ROOT, "scenarios", "prepay-day.json"), "micropython")
    pcap = os.path.join(out, "capture.pcap")
    pp = "zbee_zcl_se.pp."
    rows = tshark_fields(pcap, pp + "consumer_top_up_response.result_type",
                         pp + "consumer_top_up_response.top_up_value",
                         pp + "consumer_top_up_response.source_of_top_up",
                         pp + "consumer_top_up_response.credit_remaining",
                         display_filter=pp + "consumer_top_up_response.result_type")
    assert rows[0] == ["0", "500000", "2", "68220"]
    assert rows[1][:3] == ["0", "200000", "2"]
    rows = tshark_fields(pcap, pp + "publish_top_up_log.top_up_amount",
                         pp + "publish_top_up_log.top_up_code",
                         display_filter=pp + "publish_top_up_log.top_up_amount")
    amounts = rows[0][0].split(",")
    assert amounts == ["200000", "100000"] and len(rows[0][1].split(",")) == 2
    rows = tshark_fields(pcap, pp + "publish_debt_log.amount_collected",
                         pp + "publish_debt_log.debt_type", pp + "publish_debt_log.outstanding_debt",
                         display_filter=pp + "publish_debt_log.amount_collected")
    assert rows[0] == ["50000", "2", "0"]
    rows = tshark_fields(pcap, pp + "attr_id", pp + "attr.payment_control_configuration",
                         display_filter="zbee_zcl.cmd.id == 0x01 && " + pp + "attr_id")
    assert rows[0][0].split(",")[:3] == ["0x0000", "0x0001", "0x0003"]
    assert rows[0][1] in ("0x0097", "0x97", "151")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: os.path.basename(p)[:-5])
def test_handler_errors_stay_zero(path, results):
    """No handler raised an unexpected exception (the engine's catch-all
    counts it in HandlerErrors and answers FAILURE) in any scenario, on
    either runtime, and no meter died of an uncaught one. The counter lives
    in RAM: it is read in the final state and wherever a step's expectation
    read it (before a power cut, say)."""
    for runtime in ("cpython", "micropython"):
        res, _ = results(path, runtime)
        seen = [res["state"]["meter"]["HandlerErrors"]]
        for step in res["steps"]:
            for chk in step.get("expect", []):
                if chk["check"].startswith("state meter.HandlerErrors "):
                    seen.append(chk["got"])
        assert seen and all(n == 0 for n in seen), (runtime, seen)
        crashed = [e for e in res["events"] if e["event"] == "power_cut" and "error" in e]
        assert crashed == [], (runtime, crashed)
