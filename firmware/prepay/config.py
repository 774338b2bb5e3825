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
# anything changes; a bad document raises ValueError and changes nothing.
from . import account as AC


def _minutes(s):
    h, m = s.split(":")
    v = int(h) * 60 + int(m)
    if not 0 <= v <= 1440:
        raise ValueError("time of day")
    return v


def apply(meter, doc):
    acc = meter.account
    now = meter.clock.now()
    at = doc.get("at", AC.IMMEDIATE)
    todo = []
    if "ccc" in doc:
        import binascii
        mode, sde, sdd = AC.parse_ccc(binascii.unhexlify(doc["ccc"]))
        todo.append((AC.P_ACCOUNT, mode | (sde << 2) | (sdd << 3)))
    elif "mode" in doc:
        mode = {"credit": AC.CREDIT, "prepayment": AC.PREPAY}[doc["mode"]]
        todo.append((AC.P_ACCOUNT, mode | (bool(doc.get("sde")) << 2) |
                     (bool(doc.get("sdd")) << 3)))
    for name, v in doc.get("params", {}).items():
        i = AC.PARAM_NAMES.index(name)
        if i >= AC.P_ACCOUNT or not isinstance(v, int) or v < 0:
            raise ValueError("parameter " + name)
        todo.append((i, v))
    if "friendly" in doc:
        f = doc["friendly"]
        todo.append((AC.P_FRIENDLY, AC.friendly_blob(
            [(p[0], _minutes(p[1]), _minutes(p[2])) for p in f.get("periods", [])],
            [(d[0] or 0xFFFF, d[1], d[2]) for d in f.get("days", [])])))
    debts = []
    for d in doc.get("debts", []):
        i = d["debt"] - 1
        if not 0 <= i <= 2 or d.get("amount", 0) < 0 or d.get("period_s", 1) <= 0:
            raise ValueError("debt")
        debts.append((i, d.get("amount", 0), d.get("rate"), d.get("period_s")))
    supply = {"disable": 0, "arm": 1, "enable": 2, None: None}[doc.get("supply")]
    lls = doc.get("load_limit_supply_state")
    if lls is not None and lls not in (0, 1, 2):
        raise ValueError("load_limit_supply_state")
    # -- checked: now change ------------------------------------------------------------
    for i, v in todo:
        acc.stage(i, v, at, now)
    for i, amount, rate, per in debts:
        acc.set_debt(i, amount, rate, per)
    if "payment_debt_pct" in doc:
        acc.pay_pct = int(doc["payment_debt_pct"])
    if "max_credit" in doc:
        acc.max_credit = int(doc["max_credit"])
    if "max_balance" in doc:
        acc.max_balance = int(doc["max_balance"])
    if doc.get("reset_balance"):
        acc.set_balance(0)
    if "adjust" in doc:
        acc.adjust(int(doc["adjust"]))
    if lls is not None:
        meter.supply.ll_state = lls
    if supply is not None:
        meter.supply.remote(supply)
    ec = None
    if doc.get("activate_ec"):
        ec = meter.activate_ec()
    meter.account_changed()
    return {"pending": [[k, t] for k, t in acc.pending()], "ec": ec,
            "supply": meter.supply.state}
