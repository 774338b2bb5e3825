"""Running the DCC RTDS 4.5.0 ESME vectors (../shared/vectors/rtds, its
README) against the meter: a meter in the state the vectors imply, a
vector's command through Meter.gbcs_message, and the comparison of the
meter's response with the reference one (README "What the same structure
means"). Used by the use-case tests (test_uc_*.py, test_rtds_vectors.py)."""
import json
import os

from conftest import Bench
from tools import gbcs_host as G
from firmware.gbcs import keystore as K
from firmware.gbcs import dispatch

RTDS = "/work/shared/vectors/rtds/"
T2015 = 473385600          # 2015-01-01 00:00:00 UTC, the RTDS responses' date-time
CFG = {"firmware_version": "0123ABCD", "entity_id": G.DEVICE,
       "supplier_id": G.SUPPLIER, "ka_priv": "01" * 32, "supplier_topup_pub": "02" * 64}
HAVE = os.path.exists(RTDS + "index.json")


def vectors():
    if not HAVE:
        return []
    with open(RTDS + "index.json") as f:
        return json.load(f)["vectors"]


def commands(use_cases=None):
    """The command/response vectors with a DLMS payload (of these use cases)."""
    return [v for v in vectors() if v.get("command_file") and "ASN.1" not in v["payload_kind"]
            and (use_cases is None or v["use_case"] in use_cases)]


def vid(v):
    return v["command_file"].split("/")[1][:-len("_COMMAND_GBCS.HEX")]


def message(name):
    with open(RTDS + "messages/" + name) as f:
        return bytes.fromhex(f.read().strip())


def meter(tmp_path, utc=T2015, cfg=CFG):
    """A fresh meter (store, counters) with the RTDS keystore, clock at utc,
    alerts collected in b.alerts_sent."""
    b = Bench(str(tmp_path), config=cfg, utc=utc)
    b.clock.set(utc)            # boot moves an implausible (pre-2020) RTC; RTDS dates are 2015
    b.alerts_sent = []
    b.meter.tunnel_send = b.alerts_sent.append
    K.install(b.meter, *G.rtds_keystore())
    return b


# The meter state a vector implies beyond a fresh meter (README: "payload
# values come from the RTDS meter's state"), as tokens mp/rtds_vectors.py
# applies the same way: prepay = prepayment mode (ECS09 invokes emergency
# credit, ECS02 changes from prepayment), aux5 = an ALCS meter with five
# auxiliary switches (ECS61a reads five).
STATE = {"ECS02": "prepay", "ECS09": "prepay", "ECS61a": "aux5"}


def state_token(v):
    return STATE.get(v["use_case"], "-")


def prepare(b, v):
    """Put the fresh meter b in the state vector v implies (STATE)."""
    t = state_token(v)
    m = b.meter
    if t == "prepay":
        from firmware.commands import supplier
        from firmware.prepay import account as AC
        assert supplier.set_payment_mode(m, AC.PREPAY, False, False, 0) == 0
    elif t == "aux5":
        from firmware.platform.hw import AuxSwitches
        m.aux = AuxSwitches(5)


def fault_at(k, code=1):
    """A context manager: instruction k fails with `code` (hardware-fault by
    default), as the RTDS ERROR vectors' meter did."""
    class _F:
        def __enter__(self):
            self.orig = dispatch.execute

            def ex(x, i, s, d):
                if i == k:
                    return code, b"\x00"
                return self.orig(x, i, s, d)
            dispatch.execute = ex
            return self

        def __exit__(self, *a):
            dispatch.execute = self.orig
    return _F()


def reference(v):
    return G.parse(message(v["response_file"]))


def failing_instruction(v):
    """(index, code) of the reference response's first failed result, or None."""
    for k, (_, r) in enumerate(reference(v)["dlms"]["results"]):
        if r:
            return k, r
    return None


def run(b, v, inject=True):
    """Send the vector's command; with inject, an ERROR vector's failing
    instruction is made to fail the way the reference shows. Returns the
    response octets (None if none)."""
    cmd = message(v["command_file"])
    f = failing_instruction(v) if inject else None
    if f is None:
        return b.meter.gbcs_message(cmd)
    with fault_at(*f):
        return b.meter.gbcs_message(cmd)


def shape(b, i=0):
    """(shape, end) of the A-XDR Data item at b[i]: the type tree, without
    values and without the lengths of strings and arrays (they follow from
    the meter's state, README)."""
    t = b[i]
    if t in (1, 2):
        n, j = G.dec_len(b, i + 1)
        kids = []
        for _ in range(n):
            s, j = shape(b, j)
            kids.append(s)
        if t == 1:                      # array: the element shape, once
            return (1, kids[0] if kids else None), j
        return (2, tuple(kids)), j
    return t, i + G._data_len(b, i)


def same_shape(a, r):
    """True when the meter's Data item a has the reference item r's shape
    (an empty array matches any array)."""
    sa, sr = shape(a)[0], shape(r)[0]
    return _match(sa, sr)


def _match(a, r):
    if isinstance(a, tuple) and isinstance(r, tuple):
        if a[0] != r[0]:
            return False
        if a[0] == 1:
            return a[1] is None or r[1] is None or _match(a[1], r[1])
        return len(a[1]) == len(r[1]) and all(_match(x, y) for x, y in zip(a[1], r[1]))
    return a == r


def check_absent(v, resp, codes=(4, 11)):
    """A vector that needs an object this meter does not have (a twin
    element, phases 2 and 3, a log it does not keep): the README relations
    hold, the instructions before the first absent object answer as the
    reference, that one answers one of `codes` (object-undefined or
    object-unavailable), the rest other-reason (Break On Error, §7.2.4)."""
    c = G.parse(message(v["command_file"]))
    r = G.parse(resp, device_ds_pub=G.test_ds_pub())
    ref = reference(v)["dlms"]["results"]
    assert r["counter"] == c["counter"] and r["message_code"] == c["message_code"]
    assert (r["kind"] == "signed" and r["sig_ok"]) or (r["kind"] == "mac" and r["mac_ok"])
    got = r["dlms"]["results"]
    k = 0
    while k < len(got) and got[k] == ref[k]:
        k += 1
    assert k < len(got), "the meter answered as the reference: not absent"
    assert got[k][1] in codes and all(x[1] == 250 for x in got[k + 1:]), got


def check(v, resp, exact=None):
    """The README relations between command and response, the same result
    list as the reference, and every data item of the reference's shape.
    exact: also equal to the reference octet for octet (MACed responses
    reproduce exactly when the meter's state matches the vector's).
    Returns (parsed response, parsed reference)."""
    assert resp is not None, "no response"
    cmd = message(v["command_file"])
    c = G.parse(cmd)
    r = G.parse(resp, device_ds_pub=G.test_ds_pub())
    ref = reference(v)
    assert r["cra"] == 2 and r["counter"] == c["counter"]
    assert (r["originator"], r["recipient"]) == (c["recipient"], c["originator"])
    assert r["message_code"] == c["message_code"]
    assert (r["srp_id"], r["srp_counter"]) == (c["srp_id"], c["srp_counter"])
    if v["critical"]:
        assert r["kind"] == "signed" and r["sig_ok"] is True and not r["mac"]
    else:
        assert r["kind"] == "mac" and r["mac_ok"] is True
    assert bool(r["date_time"]) == bool(v.get("response_date_time"))
    assert r["dlms"]["invoke"] == ref["dlms"]["invoke"]
    assert r["dlms"]["results"] == ref["dlms"]["results"], (r["dlms"]["results"],
                                                           ref["dlms"]["results"])
    assert len(r["dlms"]["data"]) == len(ref["dlms"]["data"])
    for k, (a, e) in enumerate(zip(r["dlms"]["data"], ref["dlms"]["data"])):
        assert same_shape(bytes.fromhex(a), bytes.fromhex(e)), (k, a, e)
    if exact:
        assert resp == message(v["response_file"])
    return r, ref
