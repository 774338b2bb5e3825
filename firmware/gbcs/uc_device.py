# GBCS ESME use cases on the device's own objects (cosem.py group 0):
# identity and firmware (ECS52, ECS26e), change of tenancy (ECS12), clock,
# alert behaviours, messages and thresholds. Handlers: h(x, spec, (start,
# end)) -> result | (result, Data) (cosem.py).
from . import dlms as D


def _supplier():
    from ..commands import supplier
    return supplier


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
    x.stage(_supplier().change_of_tenancy, t)
    return D.SUCCESS


H = (_firmware, _tenancy)
