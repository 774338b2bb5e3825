"""The timeline of a bench run: samples of the meter's state at regular
simulated times and after every step's action, for the live view
(tools/bench/view.py) and the plots (tools/plot.py). Host side only.

A sample is a flat dict of plain values (None while the meter is off):

    t            true scenario time (ZigBee UTC seconds)
    clock        the meter's own clock
    alive        meter powered
    demand_w     Metering InstantaneousDemand (W)
    load_w       household load the bench applies (W); aux_w: per aux switch
    aux_closed   auxiliary switches closed (DRLC sheds them)
    summation_wh Metering CurrentSummationDelivered (Wh)
    registers    {"TOU1": Wh, ...}: the tariff's energy registers
    register     the register counting now; price: its price (10^-5 GBP/kWh)
    energy_cost, standing_cost   account charges so far (10^-5 GBP)
    mode, credit, ec, ec_in_use, ec_available, debt   prepayment account
    supply, supply_cause, friendly, relay_closed       supply state
    time_status  GBCS Time Status (Table 9.1.2)
    drlc         [[event id, "scheduled" | "running", start, end (meter UTC)], ...]
    new_alerts   alert codes raised since the previous sample (oldest first)
"""


def auto_interval(sc, n=288):
    """About n samples over the scenario (288: 5 min on a day), whole minutes."""
    steps = sc.get("steps") or []
    span = 0
    if steps:
        last = steps[-1]
        span = last["_t"] + (int(last["advance"]) if last.get("_action") == "advance" else 0) \
            - sc["start_utc"]
    step = max(60, span // n)
    return step - step % 60 or 60


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _new_alerts(prev, now):
    """Codes in `now` (the meter's newest 16 alerts, oldest first) that were
    not in `prev`: the shortest tail of `now` whose head ends `prev`."""
    if prev is None:
        return list(now)
    n = len(now)
    for k in range(n + 1):
        head = now[:n - k]
        if not head or prev[len(prev) - len(head):] == head:
            return list(now[n - k:])
    return list(now)


def sample(runner):
    """Append one sample of the runner's meter to runner.timeline."""
    t = runner.now
    rec = {"t": t, "alive": runner.alive, "load_w": runner.load_w, "aux_w": list(runner.aux_w)}
    st = runner.state() if runner.alive else None
    if st is None:
        rec["alive"] = False
        runner.timeline.append(rec)
        return rec
    m = st.get("meter", {})
    tf = m.get("Tariff") or {}
    pp = m.get("Prepay") or {}
    alerts = m.get("Alerts", [])
    prev = getattr(runner, "_tl_alerts", None)
    rec.update({
        "clock": m.get("clock"),
        "demand_w": _get(st, "Metering", "InstantaneousDemand"),
        "summation_wh": _get(st, "Metering", "CurrentSummationDelivered"),
        "aux_closed": m.get("AuxSwitchesClosed"),
        "registers": tf.get("Registers"),
        "register": tf.get("Register"),
        "tier": tf.get("Tier"),
        "price": tf.get("Price"),
        "energy_cost": tf.get("EnergyCost"),
        "standing_cost": tf.get("StandingCost"),
        "mode": pp.get("Mode"),
        "credit": pp.get("MeterBalance"),
        "ec": pp.get("EmergencyCredit"),
        "ec_in_use": pp.get("ECInUse"),
        "ec_available": pp.get("ECAvailable"),
        "debt": pp.get("AccumulatedDebt"),
        "supply": pp.get("Supply"),
        "supply_cause": pp.get("SupplyCause"),
        "friendly": pp.get("Friendly"),
        "last_topup": pp.get("LastTopUp"),
        "relay_closed": m.get("RelayClosed"),
        "time_status": m.get("TimeStatus"),
        "drlc": [[e["id"], e["state"], e.get("start"), e.get("end")]
                 for e in m.get("DrlcEvents", [])],
        "new_alerts": _new_alerts(prev, alerts),
    })
    runner._tl_alerts = list(alerts)
    runner.timeline.append(rec)
    return rec


def tariff_info(doc):
    """What the views need of a tariff document: its name and labels."""
    if not doc:
        return None
    return {"name": doc.get("name"), "labels": doc.get("labels") or {},
            "price_scaler": doc.get("price_scaler", -5), "currency": doc.get("currency")}
