# The meter side of `python -m tools.fuzz_gbcs` (runs on CPython and on the
# MicroPython unix port): a meter booted on a provisioned store (the RTDS
# keystore) takes every message of an input file through
# Meter.gbcs_message, as the tunnel hands one over (gbcs/gbt.deliver: `DF`
# or `DD 00` only, the rest is ignored; up to 1200 octets a view of the
# fragment region, above that the bytearray GBT reassembles), and
# every input gets exactly one outcome:
#   ignored          not a GBCS message: the tunnel never passes it on
#   answered-dlms-rNN  a protected response, NN = the first DLMS result
#                    (00 success, 04 object-undefined, 01 hardware-fault, ...)
#   answered-dlms-empty / answered-asn1   the other protected responses
#   rejected-XXXX    no response, a Security Log entry XXXX (0x8F1E format,
#                    0x8F30 authority, 0x8F3D MAC/signature/counter) and the
#                    Generic Critical Alert with the same code (GBCS §6.2.4.2)
#   silent-cs02b     authenticated CS02b, not answered yet (gbcs/README.md)
#   unexplained      anything else: no response, no log (must stay 0)
#   gbt-nomem        a message over 1200 octets (a GBT series) for which the
#                    collected heap had no block of its length: GBT drops the
#                    series and counts it (gbcs/gbt.py), GBCS never sees it
#   crash-NAME       an exception out of gbcs_message (must stay 0;
#                    crash-MemoryError counted there too)
# and rejected inputs are checked for state: the Execution Counters, the
# balance, the payment mode (state-change, must stay 0); a rejection
# without its alert counts as alert-missing.
# Usage: fuzz_gbcs_run.py STORE_DIR INPUTS OUT_JSON
# INPUTS: records of length(2, big-endian) ‖ kind length(1) ‖ kind ‖ message
# (read into one buffer each: the board heap). OUT_JSON: the counts per kind
# and outcome, and the first findings.
import binascii
import gc
import json
import sys
import time

from firmware.meter import Meter, Platform
from firmware.platform.store import Store, FileBackend
from firmware.platform.metrology import SimMetrology, SimClock, Relay, Button
from firmware.platform.hw import Display

T2015 = 473385600
CFG = {"firmware_version": "0123ABCD", "entity_id": "00DB1234567890A0",
       "supplier_id": "90B3D51F30010000", "ka_priv": "01" * 32, "supplier_topup_pub": "02" * 64}


def main(store_dir, inputs, out_json):
    clock = SimClock(T2015)
    m = Meter(Platform(clock, Store(FileBackend(store_dir)), SimMetrology(), Relay(), Button(),
                       Display(), [].append), CFG)
    m.boot()
    clock.set(T2015)
    sent = []
    m.tunnel_send = sent.append
    last = [None, 0, 0]
    log = m.log

    def log_hook(which, code, value):
        # the §6.2.4 rejections only (a refused top-up logs its own entry)
        if which is m.security_log and code in (0x8F1E, 0x8F30, 0x8F3D):
            last[0] = which
            last[1] = code
            last[2] = value
        return log(which, code, value)

    m.log = log_hook
    from firmware.gbcs import core
    counts = {}
    finds = []
    n = 0
    t0 = time.time()
    hdr = bytearray(3)
    region = bytearray(1600)
    with open(inputs, "rb") as f:
        while f.readinto(hdr) == 3:
            kind = f.read(hdr[2]).decode()
            ln = (hdr[0] << 8) | hdr[1]
            n += 1
            if ln <= 1200:
                # one TransferData: a view of the tunnel's fragment region
                data = memoryview(region)[:ln]
                f.readinto(data)
                out = one(m, core, data, sent, last)
            else:
                # a GBT series: one bytearray of its length from a collected
                # heap, or the series is lost (gbt.Gbt.receive, counted nomem)
                data = None
                gc.collect()
                try:
                    data = bytearray(ln)
                except MemoryError:
                    f.seek(ln, 1)
                    out = "gbt-nomem"
                if data is not None:
                    f.readinto(data)
                    out = one(m, core, data, sent, last)
            # counted by wire / auth only: few keys, so the dict never grows
            # into a large block on a fragmented heap
            k = kind[:kind.find("+")] + " " + out
            counts[k] = counts.get(k, 0) + 1
            if (out.startswith("crash") or out in ("unexplained", "state-change", "alert-missing")
                    or out.startswith("inconsistent")) and len(finds) < 20:
                # the input's number in INPUTS finds it again; short ones kept whole
                finds.append([n, kind, out, binascii.hexlify(data).decode()
                              if data is not None and len(data) <= 300 else ""])
            data = None
            if len(sent) > 8:
                del sent[:]
            if n % 1000 == 0:
                gc.collect()
    with open(out_json, "w") as f:
        from firmware import crypto
        json.dump({"inputs": n, "seconds": time.time() - t0, "counts": counts, "finds": finds,
                   "native": crypto.NATIVE}, f)


def one(m, core, data, sent, last):
    if not data or not (data[0] == 0xDF or (data[0] == 0xDD and len(data) > 1 and data[1] == 0)):
        return "ignored"
    last[0] = None
    nsent = len(sent)
    c = m._gctr[1] if getattr(m, "_gctr", None) else {}
    before = (dict(c), m.account.mb, m.account.mode)
    try:
        r = m.gbcs_message(data)
    except MemoryError:
        return "crash-MemoryError"
    except Exception as e:         # a finding: the layer must never raise
        return "crash-" + type(e).__name__
    if r is not None:
        if last[0] is not None:
            return "inconsistent-answered-and-logged"
        p = core.parse(r)
        pl = r[p[9]:p[9] + p[10]]
        if pl[0] == 0xDA:
            k = pl[7] if len(pl) > 7 else 0
            if not k:
                return "answered-dlms-empty"
            return "answered-dlms-r%02x" % pl[len(pl) - 2 * k + 1]
        return "answered-asn1"
    if last[0] is not None:
        code = last[1]
        c = m._gctr[1] if getattr(m, "_gctr", None) else {}
        if (dict(c), m.account.mb, m.account.mode) != before:
            return "state-change"
        if len(sent) == nsent:
            return "alert-missing"
        a = sent[-1]
        p = core.parse(a)
        pl = a[p[9]:p[9] + p[10]]
        if pl[8:11] != bytes((0x12, code >> 8, code & 0xFF)):
            return "inconsistent-alert-code"
        return "rejected-%04x" % code
    try:
        if core.parse(bytes(data))[6] in (0x0102, 0x0103):
            return "silent-cs02b"
    except Exception:
        pass
    return "unexplained"


main(sys.argv[1], sys.argv[2], sys.argv[3])
