"""Price cluster server answers that the scenarios do not reach: the
unsolicited PublishPrice to subscribed clients, block and billing periods,
tier labels, and the command-index segmentation of large payloads."""
import json
import os

import conftest
from firmware.zcl import aps as A
from mp.common import tariff_load
from firmware import commands as C
from firmware.commands import supplier as S

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T0 = 820886400                      # 2026-01-05 00:00:00 UTC, a Monday


def tariff(name):
    with open(os.path.join(ROOT, "tariffs", name + ".json")) as f:
        return json.load(f)


class Bench(conftest.Bench):
    """The shared test meter, talking Price from an IHD at 0x1234; raw
    holds the last call's Smart Energy frames, the calls return them decoded."""

    def __init__(self, path, utc=T0):
        conftest.Bench.__init__(self, str(path), None, utc)
        self.raw = []

    @property
    def m(self):
        return self.meter

    def _decoded(self, frames):
        self.raw = [f for f in frames if f.profile == A.PROFILE_SE]
        return conftest.decoded(self.raw)

    def cmd(self, cmd, fields, src=0x1234, cluster="Price"):
        return self._decoded(conftest.Bench.cmd(self, cluster, cmd, fields, src=src))

    def run(self, n):
        self.take()
        self.tick(n)
        return self._decoded(self.take())


def test_unsolicited_publish_price_goes_to_subscribers_only(tmp_path):
    b = Bench(tmp_path, T0 + 1740)                 # 00:29:00, Economy 7 night starts 00:30
    tariff_load(b.m, tariff("economy7"))
    b.run(1)
    r = b.cmd("GetCurrentPrice", {"CommandOptions": 1}, src=0x1234)     # rx-on-when-idle
    assert r[-1]["fields"]["Price"] == 29500
    b.cmd("GetCurrentPrice", {"CommandOptions": 0}, src=0x5678)         # a sleepy client
    out = b.run(60)
    pub = [(f, s) for f, s in zip(out, b.raw) if f.get("command") == "PublishPrice"]
    assert [s.dst for _, s in pub] == [0x1234]
    f = pub[0][0]["fields"]
    assert f["Price"] == 13200 and f["StartTime"] == T0 + 1800 and f["RateLabel"] == "Night"
    assert f["DurationInMinutes"] == 7 * 60       # until the 07:30 switch back
    assert b.m.price.published == 1


def test_block_and_billing_periods(tmp_path):
    b = Bench(tmp_path, T0 + 3600)
    tariff_load(b.m, tariff("economy7"))
    assert b.cmd("GetBlockPeriods", {"StartTime": 0, "NumberOfEvents": 1}
                 )[-1]["fields"]["status"] == "NOT_FOUND"
    tariff_load(b.m, tariff("tou-blocks"))
    f = b.cmd("GetBlockPeriods", {"StartTime": 0, "NumberOfEvents": 1})[-1]
    assert f["command"] == "PublishBlockPeriod"
    assert f["fields"]["BlockPeriodStartTime"] == T0 and f["fields"]["BlockPeriodDuration"] == 1440
    assert f["fields"]["BlockPeriodDurationType"] == 1               # days
    f = b.cmd("GetBillingPeriod", {"EarliestStartTime": 0, "MinIssuerEventID": 0xFFFFFFFF,
                                   "NumberOfCommands": 1})[-1]
    assert f["command"] == "PublishBillingPeriod"
    jan1 = T0 - 4 * 86400
    assert f["fields"]["BillingPeriodStartTime"] == jan1
    assert f["fields"]["BillingPeriodDuration"] == 1 and f["fields"]["BillingPeriodDurationType"] == 3


def test_large_price_matrix_and_tier_labels_are_segmented(tmp_path):
    d = tariff("flat")                             # a rate for each half hour: 48 in use
    d["calendar"] = {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["%02d:%02d" % (i // 2, 30 * (i % 2)), i + 1]
                                    for i in range(48)]}}
    d["tou"] = [10000 + i for i in range(48)]
    d["labels"] = {str(i): "Rate no. %d" % i for i in range(1, 49)}   # <= 12 octets (ZSE)
    d["tariff_id"] = 4848
    b = Bench(tmp_path)
    tariff_load(b.m, d)
    r = b.cmd("GetPriceMatrix", {"IssuerTariffID": 4848})
    assert len(r) > 1 and all(f["command"] == "PublishPriceMatrix" for f in r)
    assert [f["fields"]["CommandIndex"] for f in r] == list(range(len(r)))
    assert {f["fields"]["TotalNumberOfCommands"] for f in r} == {len(r)}
    entries = [e for f in r for e in f["fields"]["Entries"]]
    assert entries == [{"TierBlockID": t, "Price": 10000 + t - 1} for t in range(1, 49)]
    assert all(len(s.payload) <= b.m.zcl.limit(True) for s in b.raw)  # one unfragmented frame each
    r = b.cmd("GetTierLabels", {"IssuerTariffID": 4848})
    assert len(r) > 1 and [f["fields"]["CommandIndex"] for f in r] == list(range(len(r)))
    labels = [(x["TierID"], x["TierLabel"]) for f in r for x in f["fields"]["Labels"]]
    assert labels == [(i, "Rate no. %d" % i) for i in range(1, 49)]
    assert b.cmd("GetTierLabels", {"IssuerTariffID": 1})[-1]["fields"]["status"] == "NOT_FOUND"


def test_segmented_price_responses_dissect_in_wireshark(tmp_path):
    """Wireshark reads every segment of the matrix and labels back."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from runtimes import tshark_problems, tshark_fields
    from tools.pcap import PcapWriter
    d = tariff("flat")
    d["calendar"] = {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["%02d:%02d" % (i // 2, 30 * (i % 2)), i + 1]
                                    for i in range(48)]}}
    d["tou"] = [20000 + i for i in range(48)]
    d["labels"] = {str(i): "Tier %d" % i for i in range(1, 49)}
    d["tariff_id"] = 77
    b = Bench(tmp_path / "m")
    tariff_load(b.m, d)
    pcap = str(tmp_path / "price.pcap")
    w = PcapWriter(pcap)
    for cmd in ("GetPriceMatrix", "GetTierLabels"):
        b.cmd(cmd, {"IssuerTariffID": 77})
        for msg in b.raw:
            w.write_aps(T0, msg)
    w.close()
    frames, problems = tshark_problems(pcap)
    assert frames >= 4 and problems == []
    rows = tshark_fields(pcap, "zbee_zcl_se.price.price_matrix.price",
                         display_filter="zbee_zcl_se.price.price_matrix.price")
    prices = [int(p) for row in rows for p in row[0].split(",")]
    assert len(rows) > 1 and prices == [20000 + i for i in range(48)]
    rows = tshark_fields(pcap, "zbee_zcl_se.price.tier_labels.tier_label",
                         display_filter="zbee_zcl_se.price.tier_labels.tier_label")
    labels = [x for row in rows for x in row[0].split(",")]
    assert len(rows) > 1 and labels == ["Tier %d" % i for i in range(1, 49)]


def test_block_counters_reset_on_command(tmp_path):
    b = Bench(tmp_path, T0 + 8 * 3600)
    tariff_load(b.m, tariff("tou-blocks"))
    b.m.metrology.load_w = 7200
    b.run(100)
    assert b.m.tariff.counters[0] == 200
    S.reset_block_counters(b.m)
    assert b.m.tariff.counters == [0] * 8
    b.run(1)
    assert b.m.tariff.counters[0] == 2 and b.m.tariff.current_block(1) == 1
