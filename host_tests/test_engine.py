"""ZCL engine: profile-wide commands, statuses and Default Response rules
(ZCL rev 6 §2.5), APS security and endpoint rules (ZSE §5.4.6)."""
import pytest
from hypothesis import given, settings, strategies as st

from conftest import decoded, T0
from firmware.zcl import status as S
from firmware.vboard import state


def one(frames):
    assert len(frames) == 1, decoded(frames)
    return decoded(frames)[0]


def test_read_attributes_mixed_records(bench):
    r = one(bench.glob("Metering", "ReadAttributes",
                       {"attributes": ["CurrentSummationDelivered", "Divisor", "0x7777"]}))
    assert r["command"] == "ReadAttributesResponse"
    assert r["direction"] == "to_client"
    assert r["fields"]["records"] == [
        {"attribute": "CurrentSummationDelivered", "status": "SUCCESS", "value": 0},
        {"attribute": "Divisor", "status": "SUCCESS", "value": 1000},
        {"attribute": "0x7777", "status": "UNSUPPORTED_ATTRIBUTE"},
    ]


def test_response_keeps_sequence_number_and_security(bench):
    f = bench.glob("Basic", "ReadAttributes", {"attributes": ["ZCLVersion"]}, secured=False)[0]
    assert f.payload[1] == bench.seq          # seq echoed
    assert f.secured is False                 # answered as asked
    assert f.dst == 0x0000 and f.dst_ep == 1


def test_read_attributes_odd_payload_is_malformed(bench):
    r = one(bench.send(0x0000, bytes([0x00, 0x33, 0x00, 0x00])))
    assert r["command"] == "DefaultResponse"
    assert r["fields"]["status"] == "MALFORMED_COMMAND"


@pytest.mark.parametrize("cluster,payload", [
    (0x0702, "000106" "00" "0000" "25" "0100" "1000" "0000"),       # change cut short
    (0x0702, "000106" "00" "0004"),                                 # record cut short
    (0x0000, "000102" "1000" "42" "05" "4c6f"),                     # string cut short
    (0x0702, "000108" "00" "00"),                                   # read reporting config
])
def test_malformed_payload_found_mid_response_still_answered(bench, cluster, payload):
    """A response already being built must not swallow the MALFORMED_COMMAND
    Default Response (ZCL rev 6 §2.5.12.2)."""
    r = one(bench.send(cluster, bytes.fromhex(payload)))
    assert (r["command"], r["fields"]["status"]) == ("DefaultResponse", "MALFORMED_COMMAND")
    assert bench.meter.reporting.entries == []


def test_read_response_never_exceeds_one_frame(bench):
    names = ["ManufacturerName", "ModelIdentifier", "DateCode", "SWBuildID",
             "LocationDescription"] * 4
    f = bench.glob("Basic", "ReadAttributes", {"attributes": names})[0]
    assert len(f.payload) <= bench.meter.zcl.limit(True)         # APS-secured request
    recs = decoded([f])[0]["fields"]["records"]
    assert 0 < len(recs) < len(names)   # the rest is left for a second read


def test_write_attributes_statuses(bench):
    r = one(bench.glob("Basic", "WriteAttributes", {
        "attributes": {"LocationDescription": "Kitchen", "ZCLVersion": 4,
                       "DeviceEnabled": 1, "0x7777": 1},
        "types": {"0x7777": 0x20, "DeviceEnabled": 0x20}}))
    assert r["command"] == "WriteAttributesResponse"
    got = {x["attribute"]: x["status"] for x in r["fields"]["records"]}
    assert got == {"ZCLVersion": "READ_ONLY", "DeviceEnabled": "INVALID_DATA_TYPE",
                   "0x7777": "UNSUPPORTED_ATTRIBUTE"}
    assert bench.meter.basic.stored(0x0010) == b"Kitchen"   # the good one was written


def test_write_attributes_all_ok_single_success(bench):
    r = one(bench.glob("Basic", "WriteAttributes", {"attributes": {"LocationDescription": "Hall"}}))
    assert r["fields"] == {"status": "SUCCESS"}


def test_write_invalid_value(bench):
    r = one(bench.glob("Basic", "WriteAttributes", {"attributes": {"LocationDescription": "x" * 17}}))
    assert r["fields"]["records"] == [{"status": "INVALID_VALUE", "attribute": "LocationDescription"}]
    assert bench.meter.basic.stored(0x0010) == b""


def test_write_undivided_writes_nothing_on_any_failure(bench):
    r = one(bench.glob("Basic", "WriteAttributesUndivided",
                       {"attributes": {"LocationDescription": "Loft", "ZCLVersion": 9}}))
    assert r["fields"]["records"] == [{"status": "READ_ONLY", "attribute": "ZCLVersion"}]
    assert bench.meter.basic.stored(0x0010) == b""


def test_write_no_response_is_silent_even_on_error(bench):
    assert bench.glob("Basic", "WriteAttributesNoResponse",
                      {"attributes": {"LocationDescription": "Shed", "ZCLVersion": 9}}) == []
    assert bench.meter.basic.stored(0x0010) == b"Shed"


def test_written_attribute_survives_restart(bench):
    bench.glob("Basic", "WriteAttributes", {"attributes": {"LocationDescription": "Porch"}})
    bench.restart()
    assert bench.meter.basic.stored(0x0010) == b"Porch"


def test_configure_reporting_statuses(bench):
    r = one(bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "CurrentSummationDelivered", "min": 10, "max": 60, "change": 5},
        {"attribute": "Divisor", "min": 1, "max": 10, "change": 1},            # not reportable
        {"attribute": "InstantaneousDemand", "min": 60, "max": 10, "change": 1},  # min > max
        {"attribute": "Status", "type": 0x20, "min": 1, "max": 10, "change": 1},  # wrong type
    ]}))
    assert r["command"] == "ConfigureReportingResponse"
    assert r["fields"]["records"] == [
        {"status": "UNREPORTABLE_ATTRIBUTE", "attribute": "Divisor"},
        {"status": "INVALID_VALUE", "attribute": "InstantaneousDemand"},
        {"status": "INVALID_DATA_TYPE", "attribute": "Status"},
    ]


def test_reports_at_min_max_and_change(bench):
    r = one(bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "InstantaneousDemand", "min": 5, "max": 60, "change": 100}]}))
    assert r["fields"] == {"status": "SUCCESS"}
    bench.metrology.load_w = 1000
    times = []
    for s in range(1, 200):
        bench.tick()
        if s == 100:
            bench.metrology.load_w = 1050       # below the reportable change
        if s == 130:
            bench.metrology.load_w = 2000       # above it
        for f in bench.take():
            d = decoded([f])[0]
            if d["command"] == "ReportAttributes":
                times.append((s, d["fields"]["records"][0]["value"]))
    # first report once min elapsed, then every max; the load set after tick
    # 130 is measured in tick 131, whose change (>= 100 W) reports at once
    assert times[0] == (5, 1000)
    assert (65, 1000) in times and (125, 1050) in times
    assert (131, 2000) in times
    gaps = [b[0] - a[0] for a, b in zip(times, times[1:])]
    assert all(5 <= g <= 60 for g in gaps)


def test_reports_go_to_each_requester(bench):
    bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "CurrentSummationDelivered", "min": 10, "max": 10, "change": 0}]})
    bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "CurrentSummationDelivered", "min": 20, "max": 20, "change": 0}]},
        src=0x1234)
    bench.tick(20)
    dests = sorted(f.dst for f in bench.take() if f.cluster == 0x0702)
    assert dests == [0x0000, 0x0000, 0x1234]


def test_stop_reporting_and_read_config(bench):
    bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "CurrentSummationDelivered", "min": 10, "max": 900, "change": 7}]})
    r = one(bench.glob("Metering", "ReadReportingConfiguration",
                       {"attributes": ["CurrentSummationDelivered", "Divisor", "InstantaneousDemand",
                                       "0x7777"]}))
    assert r["fields"]["records"] == [
        {"status": "SUCCESS", "attribute": "CurrentSummationDelivered", "min": 10, "max": 900,
         "change": 7},
        {"status": "UNREPORTABLE_ATTRIBUTE", "attribute": "Divisor"},
        {"status": "NOT_FOUND", "attribute": "InstantaneousDemand"},
        {"status": "UNSUPPORTED_ATTRIBUTE", "attribute": "0x7777"},
    ]
    bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "CurrentSummationDelivered", "min": 0, "max": 0xFFFF, "change": 0}]})
    assert bench.meter.reporting.entries == []


def test_reporting_config_survives_restart(bench):
    bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "InstantaneousDemand", "min": 1, "max": 30, "change": 1}]})
    bench.restart()
    bench.metrology.load_w = 700
    bench.tick(3)
    reps = [d for d in decoded(bench.take()) if d["command"] == "ReportAttributes"]
    assert reps and reps[0]["fields"]["records"][0]["value"] == 700


def test_reporting_table_full(bench):
    from firmware.zcl.reporting import REPORT_SLOTS
    for i in range(REPORT_SLOTS):
        r = one(bench.glob("Metering", "ConfigureReporting", {"reports": [
            {"attribute": "Status", "min": 1, "max": 10}]}, src=0x100 + i))
        assert r["fields"] == {"status": "SUCCESS"}
    r = one(bench.glob("Metering", "ConfigureReporting", {"reports": [
        {"attribute": "Status", "min": 1, "max": 10}]}, src=0x999))
    assert r["fields"]["records"][0]["status"] == "INSUFFICIENT_SPACE"


def test_discover_attributes_and_extended(bench):
    r = one(bench.glob("Metering", "DiscoverAttributes", {"start": 0x0300, "max": 3}))
    assert r["fields"] == {"complete": 0,
                           "attributes": ["UnitOfMeasure", "Multiplier", "Divisor"]}
    r = one(bench.glob("Metering", "DiscoverAttributesExtended", {"start": 0x0A00, "max": 10}))
    assert r["fields"] == {"complete": 1, "attributes": [
        "BillToDateDelivered", "BillToDateTimeStampDelivered", "ProjectedBillDelivered",
        "ProjectedBillTimeStampDelivered", "BillDeliveredTrailingDigit", "ClusterRevision"]}
    f = bench.glob("Basic", "DiscoverAttributesExtended", {"start": 0x0010, "max": 1})[0]
    assert f.payload[-1] == 0x03   # LocationDescription: readable + writable


def test_discover_commands(bench):
    r = one(bench.glob("Identify", "DiscoverCommandsReceived", {"start": 0, "max": 10}))
    assert r["fields"] == {"complete": 1, "commands": [0, 1]}
    r = one(bench.glob("Identify", "DiscoverCommandsGenerated", {"start": 0, "max": 10}))
    assert r["fields"] == {"complete": 1, "commands": [0]}


def test_default_response_rules(bench):
    # success + DDR clear -> Default Response SUCCESS
    r = one(bench.cmd("Identify", "Identify", {"IdentifyTime": 5}))
    assert (r["command"], r["fields"]["status"]) == ("DefaultResponse", "SUCCESS")
    # success + DDR set -> nothing
    assert bench.cmd("Identify", "Identify", {"IdentifyTime": 5}, ddr=True) == []
    # error + DDR set -> still a Default Response
    r = one(bench.send(0x0003, bytes([0x11, 0x01, 0x42])))
    assert r["fields"]["status"] == "UNSUP_CLUSTER_COMMAND"
    # a specific response suppresses the Default Response
    r = one(bench.cmd("Identify", "IdentifyQuery"))
    assert r["command"] == "IdentifyQueryResponse"
    # broadcasts are never answered with a Default Response
    assert bench.send(0x0003, bytes([0x01, 0x01, 0x42]), dst=0xFFFD) == []
    # a Default Response is never answered
    assert bench.send(0x0003, bytes([0x08, 0x01, 0x0B, 0x00, 0x00])) == []


def test_unsupported_cluster_general_and_manufacturer(bench):
    r = one(bench.send(0x0B04, bytes([0x00, 0x01, 0x00, 0x00, 0x00])))
    assert r["fields"]["status"] == "UNSUPPORTED_CLUSTER"
    r = one(bench.send(0x0000, bytes([0x00, 0x01, 0x40])))
    assert r["fields"]["status"] == "UNSUP_GENERAL_COMMAND"
    r = one(bench.send(0x0000, bytes([0x04, 0x34, 0x12, 0x01, 0x00, 0x00, 0x00])))
    assert r["fields"]["status"] == "UNSUP_MANUF_GENERAL_COMMAND"
    assert r["manufacturer"] == 0x1234
    r = one(bench.send(0x0003, bytes([0x05, 0x34, 0x12, 0x01, 0x00])))
    assert r["fields"]["status"] == "UNSUP_MANUF_CLUSTER_COMMAND"


def test_identify_counts_down(bench):
    bench.cmd("Identify", "Identify", {"IdentifyTime": 3}, ddr=True)
    assert bench.meter.display.identify is False   # shown from the next tick
    bench.tick(1)
    assert bench.meter.display.identify is True
    bench.tick(2)
    assert bench.meter.identify.stored(0) == 0
    # not identifying: no IdentifyQueryResponse (and DDR set: no Default Response)
    assert bench.cmd("Identify", "IdentifyQuery", ddr=True) == []


def test_unsecured_se_frames_dropped_silently(bench):
    assert bench.glob("Metering", "ReadAttributes", {"attributes": ["Divisor"]}, secured=False) == []
    assert bench.meter.zcl.dropped_unsecured == 1
    # Basic is readable without the link key
    assert bench.glob("Basic", "ReadAttributes", {"attributes": ["ZCLVersion"]}, secured=False)


def test_security_requirement_is_configurable(make_bench):
    b = make_bench({"aps_security_required": False})
    assert b.glob("Metering", "ReadAttributes", {"attributes": ["Divisor"]}, secured=False)


def test_endpoint_broadcast_and_unknown_endpoint(bench):
    r = one(bench.cmd("Identify", "Identify", {"IdentifyTime": 2}, ep=0xFF))
    assert r["fields"]["status"] == "SUCCESS"
    assert bench.cmd("Identify", "Identify", {"IdentifyTime": 2}, ep=7) == []


def test_basic_reset_to_factory_defaults(bench):
    bench.glob("Basic", "WriteAttributes", {"attributes": {"LocationDescription": "Attic"}})
    bench.cmd("Basic", "ResetToFactoryDefaults", ddr=True)
    assert bench.meter.basic.stored(0x0010) == b""
    bench.restart()
    assert bench.meter.basic.stored(0x0010) == b""


@given(st.binary(max_size=40), st.sampled_from([0x0000, 0x0003, 0x0701, 0x0702, 0x000A, 0x1234]),
       st.booleans())
@settings(max_examples=600, deadline=None)
def test_random_frames_never_crash(tmp_path_factory, payload, cluster, secured):
    from conftest import Bench
    b = Bench(str(tmp_path_factory.mktemp("fz") / "s"))
    b.send(cluster, payload, secured=secured)
    b.tick(2)
    st_ = state(b.meter)
    assert st_["meter"]["clock"] == T0 + 2


@given(st.sampled_from([(0x0701, 0x09, (0x00, 0x01, 0x02)), (0x0702, 0x01, (0x00, 0x03, 0x04, 0x05, 0x06, 0x0A)),
                        (0x0003, 0x01, (0x00, 0x01)), (0x0000, 0x01, (0x00,))]),
       st.data())
@settings(max_examples=400, deadline=None)
def test_cluster_commands_with_random_payloads_never_crash(tmp_path_factory, target, data):
    """Valid headers for every command a cluster receives, random payloads."""
    from conftest import Bench
    cluster, fc, cmds = target
    b = Bench(str(tmp_path_factory.mktemp("fc") / "s"))
    cmd = data.draw(st.sampled_from(cmds))
    body = data.draw(st.binary(max_size=60))
    b.send(cluster, bytes([fc, 0x42, cmd]) + body)
    b.tick(3)
    assert state(b.meter)["meter"]["clock"] == T0 + 3


def test_undecodable_persisted_attribute_record_keeps_defaults(bench):
    """A record that passes its CRC but no longer decodes (e.g. written by
    another firmware version) must not stop the meter from booting."""
    bench.meter.store.save("attr0000s", bytes.fromhex("10004205ff"))  # string cut short
    bench.restart()
    assert bench.meter.basic.stored(0x0010) == b""
