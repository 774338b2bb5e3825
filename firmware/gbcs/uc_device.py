# GBCS ESME use cases on the device's own objects (cosem.py group 0):
# identity and firmware (ECS52, ECS26e), change of tenancy (ECS12), clock
# (ECS70), device configuration (ECS10, 14, 16, 26c, 34, 26f, 38, 39a, 40,
# 50, 81), alert behaviours (ECS25a/b, 25r1), maximum demand (ECS18b, 37,
# 57), power quality (ECS23, 26b, 29a, 29e). Handlers: h(x, spec, (start,
# end)) -> result | (result, Data) (cosem.py). Changes go through the
# command surface (commands/supplier.py): the configuration objects no
# engine owns are its device configuration items (set_dev_values), kept as
# the Data item set; maximum demand is the profile's (metering/profile.py).
from ..compat import const
from . import dlms as D

_W = const(1)                  # _V flag: a Set may change it
_GNCA = const(0x1001)          # message code of a non-critical DLMS alert (RTDS GNCA-DLMS)
_SUPPLIER = const(2)           # keystore role
_ALERTS_SUP = const(12)        # device configuration item: supplier alert behaviours
_EV_ACTIONED = const(0x8154)
_NO = const(3)                 # keystore role: network operator
_MC_OUTAGE = const(0x0067)     # ECS80 Supply Outage Restore Alert
_OUTAGE_MIN = const(180)
_MC_FW = const(0x00CE)         # FDRA-DLMS firmware verification alert

# (class, OBIS, attribute) -> device configuration item: 10-octet rows
# class code(1: the class id's low octet, 9000 -> 0x28) OBIS(6) attr(1)
# item(1) flags(1). Item ids are stable (they are the stored record's).
_V = (
    b"\x01\x00\x00\x5e\x2c\x00\x00\x02\x00\x00"   # 0-0:94.44.0.0 (ECS26c)
    b"\x01\x00\x00\x5e\x2c\x00\x01\x02\x01\x01"   # 0-0:94.44.0.1 (ECS38, critical)
    b"\x01\x00\x00\x5e\x2c\x00\x02\x02\x02\x00"   # 0-0:94.44.0.2 (ECS26c)
    b"\x01\x00\x00\x5e\x2c\x00\x04\x02\x03\x01"   # 0-0:94.44.0.4 supply tamper state (ECS81, critical)
    b"\x01\x00\x00\x5e\x2c\x22\x0b\x02\x04\x01"   # 0-0:94.44.34.11 MPxN (ECS39a, ECS40)
    b"\x01\x01\x00\x00\x00\x02\xff\x02\x05\x00"   # 1-0:0.0.2.255 (ECS40)
    b"\x01\x00\x00\x5e\x2c\x03\x01\x02\x06\x01"   # 0-0:94.44.3.1 disable privacy PIN (ECS14)
    b"\x01\x00\x02\x60\x0d\x01\xff\x02\x07\x01"   # 0-2:96.13.1.255 supplier message (ECS10)
    b"\x01\x00\x03\x60\x0d\x01\xff\x02\x08\x01"   # 0-3:96.13.1.255 CIN (ECS50)
    b"\x28\x00\x00\x60\x0d\x00\xff\x02\x09\x01"   # 9000 0-0:96.13.0.255 supplier telephone (ECS16)
    b"\x28\x00\x00\x60\x0d\x01\xff\x02\x0a\x01"   # 9000 0-0:96.13.1.255 supplier name (ECS16)
    b"\x15\x00\x00\x10\x00\x00\xff\x02\x0b\x01"   # 21 0-0:16.0.0.255 thresholds (ECS34, ECS26f)
    b"\x01\x00\x1e\x61\x62\x0b\xff\x02\x0c\x01"   # 0-30:97.98.11.255 supplier alert behaviours (ECS25a)
    b"\x01\x00\x21\x61\x62\x0b\xff\x02\x0d\x01"   # 0-33:97.98.11.255 network operator's (ECS25b)
    b"\x01\x00\x1e\x61\x62\x0f\xff\x02\x0e\x00"   # 0-30:97.98.15..18.255 (ECS25r1)
    b"\x01\x00\x1e\x61\x62\x10\xff\x02\x0f\x00"
    b"\x01\x00\x1e\x61\x62\x11\xff\x02\x10\x00"
    b"\x01\x00\x1e\x61\x62\x12\xff\x02\x11\x00"
    b"\x01\x00\x21\x61\x62\x0f\xff\x02\x1d\x00"   # 0-33:97.98.15..18.255 (the network operator's)
    b"\x01\x00\x21\x61\x62\x10\xff\x02\x1e\x00"
    b"\x01\x00\x21\x61\x62\x11\xff\x02\x1f\x00"
    b"\x01\x00\x21\x61\x62\x12\xff\x02\x20\x00"
    b"\x0a\x00\x00\x0c\x00\x00\xff\x02\x12\x01"   # 10 0-0:12.0.0.255 MD period schedule (ECS37)
    b"\x01\x01\x00\x20\x1f\x00\x04\x02\x13\x01"   # 1-0:32.31.0.4 voltage thresholds (ECS26b, 29a)
    b"\x01\x01\x00\x20\x23\x00\x04\x02\x14\x01"   # 1-0:32.35.0.4
    b"\x47\x00\x00\x11\x00\x01\xff\x04\x15\x01"   # 71 0-0:17.0.1..4.255 threshold_normal (4),
    b"\x47\x00\x00\x11\x00\x01\xff\x06\x16\x01"   # min_over_threshold_duration (6)
    b"\x47\x00\x00\x11\x00\x02\xff\x04\x17\x01"
    b"\x47\x00\x00\x11\x00\x02\xff\x06\x18\x01"
    b"\x47\x00\x00\x11\x00\x03\xff\x04\x19\x01"
    b"\x47\x00\x00\x11\x00\x03\xff\x06\x1a\x01"
    b"\x47\x00\x00\x11\x00\x04\xff\x04\x1b\x01"
    b"\x47\x00\x00\x11\x00\x04\xff\x06\x1c\x01"
)
# Each item's type (indexed by item id): a type description with maxima
# (fixed types: the tag; octet-string 09 / bit-string 04: tag, maximum
# octets; array: 01, maximum elements, the element's type; structure: 02,
# n, the n types). A Set must have this shape (_fits).
_U16 = b"\x12"
_U32 = b"\x06"
_T = (_U16, _U16, _U16, b"\x03", b"\x09\x0d", b"\x09\x0d", b"\x09\x08", b"\x09\xc8",
      b"\x09\x04", b"\x09\x20", b"\x09\x20", b"\x01\x02\x06", b"\x04\x40", b"\x04\x40",
      b"\x04\x20", b"\x04\x20", b"\x04\x20", b"\x04\x20",
      # schedule entry (class 10 attr 2, Blue Book): index, enable, script,
      # selector, switch_time, validity_window, exec_weekdays, exec_specdays,
      # begin_date, end_date
      b"\x01\x02\x02\x0a\x12\x03\x09\x06\x12\x09\x04\x12\x04\x01\x04\x01\x09\x05\x09\x05",
      _U32, _U32, _U32, _U32, _U32, _U32, _U32, _U32, _U32, _U32,
      b"\x04\x20", b"\x04\x20", b"\x04\x20", b"\x04\x20")


def _supplier():
    from ..commands import supplier
    return supplier


def _actioned(m, mc):
    """Event Log: network command received and actioned, with its message
    code (§16.4, event 0x0054; 0x8154 in later GBCS, as commands/ logs the
    HAN's). Staged after a use case's change: in the same atomic operation
    as the change and the Execution Counter, so the journal carries them
    together (a power cut keeps all or none)."""
    m.log(m.event_log, _EV_ACTIONED, mc)
    return 0


def _stage(x, fn, *args):
    x.stage(fn, *args)
    x.stage(_actioned, x.mc)


def _fits(b, i, t, k):
    """(end of the Data item b[i:], end of its type t[k:]): ValueError
    unless the item has the type t[k:] within its maxima."""
    g = t[k]
    if b[i] != g:
        raise ValueError("type")
    if g == 1 or g == 2:
        n, i = D.length(b, i + 1)
        if n > t[k + 1] or g == 2 and n != t[k + 1]:
            raise ValueError("count")
        k += 2
        e = k
        for _ in range(n):
            i, k = _fits(b, i, t, e if g == 1 else k)
        return i, k if n else len(t)
    j = D.skip(b, i)
    if g == 4 or g == 9:
        n, _ = D.length(b, i + 1)
        if (n + 7 >> 3 if g == 4 else n) > t[k + 1]:
            raise ValueError("size")
        return j, k + 2
    return j, k + 1


def _default(t):
    """The value of an item never set: zero, empty string, empty array."""
    g = t[0]
    return b"\x01\x00" if g == 1 else bytes((g, 0)) if g in (4, 9) else \
        bytes((g,)) + bytes(D._FIXED[g])


def _item(m, i):
    v = _supplier().dev_values(m).get(i)
    return v if v is not None else _default(_T[i])


def _value(x, s, d):
    """A device configuration object (_V) or the identity 0-0:96.1.E.255
    (ECS26e: E 1 the device's entity id, else config "device_id_E", empty
    when not configured)."""
    k, cls, o, a = s[0], s[1], s[2], s[3]
    if a == 1 and k == 1:
        return D.SUCCESS, D.octets(o)
    if o[2] == 96 and o[3] == 1:
        if k != 1 or a != 2:
            return D.DENIED if a == 2 else D.UNDEFINED
        if o[4] == 1:
            v = x.m.cfg.get("entity_id", "")
            v = bytes(int(v[i:i + 2], 16) for i in range(0, len(v) - 1, 2))
        else:
            v = x.m.cfg.get("device_id_%d" % o[4], "").encode()
        return D.SUCCESS, D.octets(v)
    c = 0x28 if cls == 9000 else cls
    t = _V
    for r in range(0, len(t), 10):
        if t[r] == c and t[r + 1:r + 7] == o and t[r + 7] == a:
            break
    else:
        return D.UNDEFINED
    i = t[r + 8]
    if k == 1:
        return D.SUCCESS, _item(x.m, i)
    if k != 2 or not t[r + 9] & _W or i == _ALERTS_SUP and x.role != _SUPPLIER or \
            i == _ALERTS_SUP + 1 and x.role != _NO:
        return D.DENIED          # (each party sets its own alert behaviours, §16.4)
    pl = x.pl
    j, _ = _fits(pl, d[0], _T[i], 0)
    if j != d[1]:
        return D.TYPE
    v = bytes(pl[d[0]:j])
    if i == 18:
        # ECS37: script selector 1 starts the period, 2 ends it (switch_time hh mm ss)
        se = [0, 0]
        for e in D.items(pl, d[0], j, 1):
            f = D.items(pl, e[0], e[1])
            sel = D.uint(pl, *f[3])
            tm = D.string(pl, *f[4])
            if not (1 <= sel <= 2 and len(tm) == 4 and tm[0] < 24 and tm[1] < 60 and
                    tm[2] < 60):
                return D.TYPE
            se[sel - 1] = tm[0] * 3600 + tm[1] * 60 + tm[2]
        _stage(x, _supplier().set_md_period, v, se[0], se[1])
    else:
        _stage(x, _supplier().set_dev_values, i, v)
    return D.SUCCESS


# -- clock 0-0:1.0.0.255 (ECS70, GBCS §9.1.4.2, Tbl 9.1.4.2a) ------------------
def _set_clock(m, start, end):
    """adjust_to_preset_time: the CH time (as the meter follows it, §9.1.3)
    inside [start, end] sets the clock, Reliable; outside it the time stays
    and the status says so (§9.1.4.2 step 4): the action itself succeeded."""
    r = _supplier().set_clock(m, m.clock.now(), start, end)
    return 0 if r == 2 else r


def _status(x):
    """The clock status (Blue Book: bit 0 invalid, bit 1 doubtful = GBCS
    Invalid / Unreliable; time_client's values are these bits), as it will
    be once this command's adjust_to_preset_time has run."""
    m = x.m
    st = m.time.status
    w = getattr(x, "adj", None)
    if w is not None:
        from ..platform.clock import plausible
        now = m.clock.now()
        if plausible(now) and w[0] <= now <= w[1]:
            st = 0
        elif st == 0 or plausible(now) and st != 1:
            st = 2
    return st


def _clock(x, s, d):
    k, a = s[0], s[3]
    pl = x.pl
    i, j = d
    if k == 1:
        if a == 1:
            return D.SUCCESS, D.octets(s[2])
        if a == 2:
            from .core import dlms_time
            return D.SUCCESS, D.octets(dlms_time(x.m.clock.now()))
        if a == 4:
            return D.SUCCESS, D.u8(0x11, _status(x))
        if a == 9:
            return D.SUCCESS, b"\x16\x05"
        return D.UNDEFINED
    if k == 2:
        if a != 9:
            return D.DENIED if a in (2, 4) else D.UNDEFINED
        # clock_base radio controlled: the CH's time (§9.1.4.2 step 2)
        return D.SUCCESS if pl[i:j] == b"\x16\x05" else D.TYPE
    if a == 5:
        # preset_adjusting_time {preset 'not specified', start, end}
        e = D.items(pl, i, j)
        if len(e) != 3 or D.date_time(pl, *e[0]) != b"\xff" * 9 + b"\x80\x00\xff":
            return D.TYPE
        w = (D.to_utc(D.date_time(pl, *e[1])), D.to_utc(D.date_time(pl, *e[2])))
        if w[0] <= 0 or w[1] < w[0]:
            return D.TYPE
        x.win = w
        return D.SUCCESS
    if a == 4:
        w = getattr(x, "win", None)
        if pl[i:j] != b"\x0f\x00":
            return D.TYPE
        if w is None:
            return D.OTHER           # no preset time in this command
        x.adj = w
        _stage(x, _set_clock, w[0], w[1])
        return D.SUCCESS
    return D.UNDEFINED


# -- maximum demand (ECS18b, ECS57): class 4 1-0:1.6.0/1.6.1/2.6.0.255, and
# their reset date-times 0-0:94.44.5.0/5.1 (class 1) ----------------------------
def _md(x, s, d):
    k, o, a = s[0], s[2], s[3]
    p = x.m.profile
    from .core import dlms_time
    if s[1] == 1:
        if k != 1 or a != 2 or o[5] > 1:
            return D.DENIED if a == 2 and o[5] < 2 else D.UNDEFINED
        t = p.md_p_reset_t if o[5] else p.md_reset_t
        return D.SUCCESS, D.octets(dlms_time(t) if t else bytes(12))
    w = 2 if o[2] == 2 else o[4]
    if k == 3:
        if a != 1 or x.pl[d[0]:d[1]] != b"\x0f\x00":
            return D.UNDEFINED if a != 1 else D.TYPE
        _stage(x, _supplier().reset_max_demand, w)
        return D.SUCCESS
    if k != 1:
        return D.DENIED
    v, t = ((p.max_demand_w, p.max_demand_t), (p.md_p_w, p.md_p_t), (0, 0))[w]
    if a == 2:
        return D.SUCCESS, D.u32(v)
    if a == 3:
        return D.SUCCESS, D.scaler_unit(0, 27)     # W
    if a == 5:
        return D.SUCCESS, D.octets(dlms_time(t) if t else bytes(12))
    return (D.SUCCESS, D.octets(o)) if a == 1 else D.UNDEFINED


# -- power quality counters (ECS23, ECS29a/e): class 3 1-0:32.32.0.4 (voltage
# sags), 1-0:32.36.0.4 (swells). This meter has no sag/swell detector yet:
# the counts are 0, a reset leaves them 0.
def _pq(x, s, d):
    k, a = s[0], s[3]
    if k == 3:
        if a != 1:
            return D.UNDEFINED
        return D.SUCCESS if x.pl[d[0]:d[1]] == b"\x0f\x00" else D.TYPE
    if k != 1:
        return D.DENIED
    if a == 2:
        return D.SUCCESS, D.u32(0)
    if a == 3:
        return D.SUCCESS, D.scaler_unit(0, 255)    # a count
    return (D.SUCCESS, D.octets(s[2])) if a == 1 else D.UNDEFINED


# -- non-critical alerts (§16.4) ----------------------------------------------------
def alert_enabled(m, code):
    """False when the supplier's alert behaviours (0-30:97.98.11.255,
    ECS25a) turn the non-critical alert `code` off: bit n of the 512-bit
    map (first octet's top bit = 0) is alert 0x8000 + n, set = sent. No
    map yet: every alert is sent. Critical alerts (0x8Fxx) and codes
    outside the map are always sent (§16.4)."""
    n = code - 0x8000
    v = _supplier().dev_values(m).get(_ALERTS_SUP)
    if v is None or not 0 <= n < 512:
        return True
    ln, i = D.length(v, 1)
    return n >= ln or bool(v[i + (n >> 3)] & (0x80 >> (n & 7)))


def nc_alert(m, code, t=-1):
    """Send the non-critical DLMS alert `code` (data-notification: code,
    date-time; message code 0x1001, RTDS GNCA-DLMS) to the supplier, MACed
    with Z(device, supplier KA), unless its behaviour turns it off. The
    message, or None."""
    if not alert_enabled(m, code):
        return None
    from .core import dlms_alert
    return dlms_alert(m, code, _GNCA, _SUPPLIER, False, b"", 0, t)


def outage_alert(m, down, up):
    """Supply Outage Restored (ECS80, alert 0x8F36, message code 0x0067):
    critical, signed, to the network operator, with the outage's start and
    end (§16; notes §4.1: an outage of 3 minutes or more). None when shorter
    or when no network operator is known. For the boot path (down: the last
    time the meter was on, up: when the mains came back; the alert's own
    date-time is when it is sent)."""
    if up - down < _OUTAGE_MIN:
        return None
    from .core import dlms_alert, dlms_time
    return dlms_alert(m, 0x8F36, _MC_OUTAGE, _NO, True,
                      b"\x09\x0c" + dlms_time(down) + b"\x09\x0c" + dlms_time(up), 2, -1)


def firmware_alert(m, image_hash):
    """Firmware verification successful (FDRA-DLMS: alert 0x8F72, message
    code 0x00CE): critical, signed, to the supplier, with the verified
    image's SHA-256 (octet-string(32)). For the OTA client's verification."""
    from .core import dlms_alert
    return dlms_alert(m, 0x8F72, _MC_FW, _SUPPLIER, True, D.octets(image_hash), 1, -1)


def _firmware(x, s, d):
    """Data 0-0:0.2.1.255, the firmware version (ECS52): attribute 2 is an
    octet-string of the version (config "firmware_version", hex)."""
    if s[0] != 1 or s[3] != 2:
        return D.DENIED if s[3] in (1, 2) else D.UNDEFINED
    v = x.m.cfg.get("firmware_version", "")
    return D.SUCCESS, D.octets(bytes(int(v[i:i + 2], 16) for i in range(0, len(v) - 1, 2)))


def _tenancy(x, s, d):
    """Data 0-0:94.44.3.2, the Change of Tenancy date (ECS12, §18.4.3):
    attribute 2, a DLMS date-time."""
    if s[3] != 2:
        return D.UNDEFINED
    m = x.m
    if s[0] == 1:
        t = _supplier().tenancy_date(m)
        from .core import dlms_time
        return D.SUCCESS, D.octets(dlms_time(t) if t else bytes(12))
    if s[0] != 2:
        return D.DENIED
    t = D.to_utc(D.date_time(x.pl, d[0], d[1]))
    if t < 0:
        return D.TYPE
    _stage(x, _supplier().change_of_tenancy, t)
    return D.SUCCESS


H = (_firmware, _tenancy, _value, _clock, _md, _pq)
