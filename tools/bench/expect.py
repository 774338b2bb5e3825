"""Scenario expectations (the "expect" object of a step), checked against
the meter's state, the hub simulator and the step's frames."""
import json


def check(runner, idx, exp):
    results = []

    def ok(name, cond, got):
        results.append({"check": name, "ok": bool(cond), "got": got})
        runner.checks["passed" if cond else "failed"] += 1
        if not cond:
            runner.failures.append("step %d: %s (got %r)" % (idx, name, got))

    for path, want in exp.get("state", {}).items():
        got = _path(runner.state(), path)
        ok("state %s == %r" % (path, want), got == want, got)
    for path, (lo, hi) in exp.get("state_range", {}).items():
        got = _path(runner.state(), path)
        ok("state %s in [%r, %r]" % (path, lo, hi),
           isinstance(got, int) and lo <= got <= hi, got)
    if "alerts" in exp:                   # codes among the meter's newest 16 alerts
        got = (runner.state() or {}).get("meter", {}).get("Alerts", [])
        want = [int(a, 16) if isinstance(a, str) else a for a in exp["alerts"]]
        ok("alerts include %s" % exp["alerts"], all(a in got for a in want),
           ["0x%04X" % a for a in got])
    for path, want in exp.get("hub", {}).items():
        got = _path(runner.hub.__dict__, path)
        ok("hub %s == %r" % (path, want), got == want, got)
    outs = [f for f in runner.frames if f["dir"] == "out"]
    if "response" in exp:
        got = outs[-1] if outs else None
        ok("response matches %s" % json.dumps(exp["response"], sort_keys=True),
           got is not None and _match(exp["response"], got),
           {k: got.get(k) for k in ("command", "fields")} if got else None)
    if exp.get("no_response"):
        ok("no response", not outs, [f.get("command") for f in outs])
    if "frames" in exp:
        fx = exp["frames"]
        match = {k: fx[k] for k in fx if k not in ("min", "max")}
        n = sum(1 for f in outs if _match(match, f))
        lo = fx.get("min", min(1, fx.get("max", 1)))     # "max": 0 alone means none
        ok("frames %s count in [%s, %s]" % (json.dumps(match, sort_keys=True),
                                            lo, fx.get("max", "inf")),
           n >= lo and ("max" not in fx or n <= fx["max"]), n)
    if "gbcs" in exp:                     # the step's GBCS response (act_gbcs, decoded)
        g = exp["gbcs"]
        d = (getattr(runner, "last_gbcs", None) or {}).get("decoded") or {}
        got = [list(r) for r in (d.get("dlms") or {}).get("results", [])]
        if "results" in g:
            want = g["results"]
            cond = (bool(got) and all(r[1] == 0 for r in got)) if want == "success" else \
                got == want
            ok("gbcs results %s" % json.dumps(want), cond, got)
        if "kind" in g:                   # "signed" (critical) or "mac"
            ok("gbcs response %s" % g["kind"], d.get("kind") == g["kind"] and
               (d.get("sig_ok") if g["kind"] == "signed" else d.get("mac_ok")) is True,
               d.get("kind"))
    for eid, want in exp.get("drlc", {}).items():
        got = [r["status"] for r in runner.hub.drlc_reports if r["id"] == int(eid)]
        ok("drlc %s statuses == %s" % (eid, want), got == want, got)
    if "alive" in exp:
        ok("alive == %r" % exp["alive"], runner.alive == exp["alive"], runner.alive)
    return results


def _path(obj, path):
    for k in path.split("."):
        if isinstance(obj, dict) and k in obj:
            obj = obj[k]
        elif isinstance(obj, list) and k.isdigit() and int(k) < len(obj):
            obj = obj[int(k)]
        else:
            return None
    return obj


def _match(want, got):
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and _match(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and \
            all(_match(a, b) for a, b in zip(want, got))
    return want == got
