# Supplier configuration of the account from one document: the entry point
# the GBCS use cases call once the WAN route lands (ECS02/03 payment mode,
# ECS04a/b balance adjust/reset, ECS07 manage debt, ECS08 prepayment
# configuration, ECS09 emergency credit, ECS42-44 supply), and which the
# bench's control channel calls until then. Imported only when used.
#
#   {"mode": "credit" | "prepayment", "sde": bool, "sdd": bool,
#    "ccc": hex of a credit_charge_configuration (instead of mode/sde/sdd),
#    "at": activation UTC (0 = immediate, 4294967295 = cancel), for the
#          account and every future-datable parameter in the same document,
#    "params": {disablement_threshold, ec_limit, ec_threshold,
#               low_credit_threshold, debt_cap, debt_cap_period,
#               load_limit_w, load_limit_period, load_limit_restore},
#    "friendly": {"periods": [[weekday mask (bit0 Monday), "HH:MM", "HH:MM"]],
#                 "days": [[year or 0, month, day]]},
#    "debts": [{"debt": 1 | 2 | 3, "amount": a, "rate": r, "period_s": p}],
#    "payment_debt_pct": hundredths of a percent of each top-up,
#    "max_credit": whole units, "max_balance": whole units,
#    "adjust": signed amount, "reset_balance": true, "activate_ec": true,
#    "supply": "enable" | "arm" | "disable",
#    "load_limit_supply_state": 0 | 1 | 2}
# Money in account units (10^-5 currency). Everything is checked before
# anything changes (with the command surface's own validators); a bad
# document raises ValueError and changes nothing. Then the document's parts
# run as the commands of firmware/commands/ (the one way to do each
# thing), nested in one atomic operation: the whole document or none of it.
from ..prepay import account as AC
from .. import commands as C
from . import supplier as S


def _minutes(s):
    h, m = s.split(":")
    v = int(h) * 60 + int(m)
    if not 0 <= v <= 1440:
        raise ValueError("time of day")
    return v


def _check(ok, why):
    if not ok:
        raise ValueError(why)


def apply(meter, doc):
    at = doc.get("at", AC.IMMEDIATE)
    kv = []
    if "ccc" in doc:
        import binascii
        mode, sde, sdd = AC.parse_ccc(binascii.unhexlify(doc["ccc"]))
        kv.extend((AC.P_ACCOUNT, mode | (sde << 2) | (sdd << 3)))
    elif "mode" in doc:
        mode = {"credit": AC.CREDIT, "prepayment": AC.PREPAY}[doc["mode"]]
        kv.extend((AC.P_ACCOUNT, mode | (bool(doc.get("sde")) << 2) | (bool(doc.get("sdd")) << 3)))
    for name, v in doc.get("params", {}).items():
        i = AC.PARAM_NAMES.index(name)
        _check(i < AC.P_ACCOUNT and isinstance(v, int) and v >= 0, "parameter " + name)
        kv.extend((i, v))
    if "friendly" in doc:
        f = doc["friendly"]
        kv.extend((AC.P_FRIENDLY, AC.friendly_blob(
            [(p[0], _minutes(p[1]), _minutes(p[2])) for p in f.get("periods", [])],
            [(d[0] or 0xFFFF, d[1], d[2]) for d in f.get("days", [])])))
    _check(S.at_ok(at), "at")
    for k in range(0, len(kv), 2):
        _check(S.param_ok(kv[k], kv[k + 1]), "parameter")
    debts = []
    for d in doc.get("debts", []):
        x = (d["debt"] - 1, d.get("amount", 0), d.get("rate"), d.get("period_s"))
        _check(S.debt_ok(*x), "debt")
        debts.append(x)
    pct = doc.get("payment_debt_pct")
    _check(pct is None or (isinstance(pct, int) and 0 <= pct <= 10000), "payment_debt_pct")
    lim = (doc.get("max_credit"), doc.get("max_balance"))
    for v in lim:
        _check(v is None or (isinstance(v, int) and 0 <= v <= 0xFFFFFF), "credit limit")
    adj = doc.get("adjust")
    _check(adj is None or (isinstance(adj, int) and -0x80000000 <= adj <= 0x7FFFFFFF), "adjust")
    supply = {"disable": 0, "arm": 1, "enable": 2, None: None}[doc.get("supply")]
    lls = doc.get("load_limit_supply_state")
    _check(lls is None or lls in (0, 1, 2), "load_limit_supply_state")
    # -- checked (as the commands check): now the commands, one operation -------
    h = meter.begin()
    if kv:
        S.set_params(meter, at, *kv)
    for x in debts:
        S.set_debt(meter, *x)
    if pct is not None:
        S.set_debt_share(meter, pct)
    if lim != (None, None):
        S.set_credit_limits(meter, *lim)
    if doc.get("reset_balance"):
        S.set_balance(meter, 0)
    if adj is not None:
        S.adjust_balance(meter, adj)
    if lls is not None:
        S.set_load_limit_state(meter, lls)
    if supply is not None:
        S.set_supply(meter, supply)
    ec = None
    if doc.get("activate_ec"):
        ec = C.activate_ec(meter) == 0
    meter.save_registers()
    meter.end(h)
    return {"pending": [[k, t] for k, t in meter.account.pending()], "ec": ec,
            "supply": meter.supply.state}
