"""Scenario files (JSON): loading, validation and time resolution.

    {
      "name": "basic-day",
      "start": "2026-01-05T00:00:00Z",      # or ZigBee UTC seconds
      "config": {...},                       # meter configuration (meter.default_config() keys)
      "hub": {...},                          # initial hub behaviour (see runner.HUB_KEYS)
      "steps": [ {"at"|"after": ..., <action>: ..., "expect": {...}}, ... ]
    }

Each step has at most one action key (runner.ACTIONS) and may carry an
"expect" object; "at" is seconds from start, "HH:MM:SS" on the start day, or
an ISO time; "after" is seconds after the previous step. With neither, a
step runs at the previous step's time.
"""
import calendar
import json
import time

ZB_EPOCH_UNIX = 946684800


class ScenarioError(ValueError):
    pass


def parse_time(v):
    """ISO 8601 UTC ('2026-01-05T00:00:00Z') or ZigBee UTC seconds -> ZigBee UTC."""
    if isinstance(v, int):
        return v
    try:
        t = time.strptime(v.rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    except ValueError as e:
        raise ScenarioError("bad time %r: %s" % (v, e))
    return calendar.timegm(t) - ZB_EPOCH_UNIX


def iso(utc):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(utc + ZB_EPOCH_UNIX))


def resolve(v, start):
    """A scenario time (seconds from start, "HH:MM:SS" on the start day, ISO)
    as ZigBee UTC."""
    return _offset(v, start)


def _offset(v, start):
    if isinstance(v, (int, float)):
        return start + int(v)
    if len(v) == 8 and v[2] == ":":
        h, m, s = (int(x) for x in v.split(":"))
        return start - start % 86400 + h * 3600 + m * 60 + s
    return parse_time(v)


def load(path, actions):
    with open(path) as f:
        sc = json.load(f)
    return validate(sc, actions)


def validate(sc, actions):
    if "steps" not in sc or not isinstance(sc["steps"], list):
        raise ScenarioError("scenario needs a 'steps' list")
    start = parse_time(sc.get("start", "2026-01-01T00:00:00Z"))
    sc["start_utc"] = start
    t = start
    for i, st in enumerate(sc["steps"]):
        acts = [k for k in st if k in actions]
        unknown = [k for k in st if k not in actions and k not in ("at", "after", "expect", "note")]
        if unknown:
            raise ScenarioError("step %d: unknown keys %s" % (i, unknown))
        if len(acts) > 1:
            raise ScenarioError("step %d: one action per step, got %s" % (i, acts))
        if "at" in st and "after" in st:
            raise ScenarioError("step %d: 'at' and 'after' together" % i)
        if "at" in st:
            nt = _offset(st["at"], start)
        elif "after" in st:
            nt = t + int(st["after"])
        else:
            nt = t
        if nt < t:
            raise ScenarioError("step %d goes back in time" % i)
        t = nt
        st["_t"] = t
        st["_action"] = acts[0] if acts else None
        if st["_action"] == "advance":
            t += int(st["advance"])     # later steps count from the end of it
    return sc
