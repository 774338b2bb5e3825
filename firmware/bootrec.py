# Boot-time persistence (meter.py "Atomic operations" and "Records"): the
# journal replay, the register record's layout and owner-side loading, and
# the safe states of records no slot of which is readable.
import struct

from .platform.store import _seq_newer, _BAD
from .prepay.account import Account
from .prepay.supply import Supply

_CREDIT = const(1)                 # prepay/account.py CREDIT, PREPAY (payment modes)
_PREPAY = const(2)
_JOURNAL_VERSION = const(1)
# The register record (schema 1, version 1; version 0, the format-1 store
# record before schemas, has the same layout): import Wh u64, residual Ws
# u16, saved at u32, tariff state length u16, tariff state
# (tariff/engine.py pack_state), account (prepay/account.py pack), supply
# (prepay/supply.py pack); nothing after.
REG_KEY = "registers"
REG_FMT = "<QHI"
_REG_LEN = const(14)               # struct.calcsize(REG_FMT)
REG_SCHEMA = const(1)
REG_VERSION = const(1)
_WS_PER_WH = const(3600)
_EV_RECORD_UNREADABLE = const(0x0003)  # event log: value = the record's schema id
# Alert: a stored record no slot of which could be read (the meter booted
# that engine in its safe state). Table 16.2 of GBCS v0.8.1 is a separate
# spreadsheet that the spec text does not include: a manufacturer code here,
# to be mapped to the DCC's code when the table is at hand.
_AL_RECORD_UNREADABLE = const(0x8FF0)
# record key -> schema id (store.py load_rec; each engine owns its record)
SCHEMAS = (("registers", 1), ("tariff", 2), ("snapsched", 3), ("drlc", 4), ("ota", 10),
           ("tunnel", 9))


def registers(m):
    """Finish the last journalled operation, load the register record (or
    boot safe) and append the operation's missing log entries. The time the
    register record was saved (0: none)."""
    ints = recover(m)
    last_on = load(m)
    if ints:
        replay(m, ints)
    return last_on


def finish(m):
    """End of boot: one alert and event-log entry per record a slot of
    which exists but none could be read (store.py load_rec); the key stays
    in store.unreadable (state: meter.RecordsUnreadable) until a boot finds
    the record readable. Each engine then runs in its safe state:
      registers -- never silently zero: energy, the tariff registers and the
        cost so far come back from the newest snapshot-type log record
        (billing period, change or on request), zero only if there is none;
      account -- credit mode, no balance, debts or pending changes, supply
        enabled: a meter must not disconnect a consumer because its own
        flash failed; the supplier, alerted, restores the balance (Credit
        Adjustment) and the configuration;
      tariff -- the default one-rate zero-price tariff (nothing is charged
        at a price the meter cannot read);
      schedules -- none; the billing period restarts now;
      DRLC -- no events: the auxiliary switches stay closed;
      OTA download -- none (the image file is fetched again on the next notify)."""
    for key, schema in SCHEMAS:
        if key in m.store.unreadable:
            m.log(m.event_log, _EV_RECORD_UNREADABLE, schema)
            m.alert(_AL_RECORD_UNREADABLE)


def parse_journal(j):
    """Meter._journal's layout back: ([(key, seq, schema, version, payload
    or None)], [(log id, seq, payload)]); ValueError if it is not exactly that."""
    if j[0] != _JOURNAL_VERSION:
        raise ValueError("journal version")
    k = 2
    saves = []
    for _ in range(j[1]):
        n = j[k]
        key = bytes(j[k + 1:k + 1 + n]).decode()
        k += 1 + n
        seq, schema, ver, il = struct.unpack_from("<IBBB", j, k)
        k += 7
        body = None
        if il:
            n = struct.unpack_from("<H", j, k)[0]
            body = bytes(j[k + 2:k + 2 + n])
            if len(body) != n:
                raise ValueError("journal record")
            k += 2 + n
        saves.append((key, seq, schema, ver, body))
    ints = []
    for _ in range(j[k]):
        lid, seq, n = struct.unpack_from("<BIB", j, k + 1)
        ints.append((lid, seq, bytes(j[k + 7:k + 7 + n])))
        k += 6 + n
    if k + 1 != len(j):
        raise ValueError("journal length")
    return saves, ints


def recover(m):
    """The newest journal record: if one of its external records never
    landed, the operation did not happen (None); if later saves superseded
    it, it completed (None); else the small records that did not land are
    saved from it and its intents returned for replay."""
    st = m.store
    j = st.journal_read()
    if not j:
        return None
    try:
        saves, ints = parse_journal(j)
    except _BAD:
        return None
    todo = []
    for key, seq, schema, ver, body in saves:
        cur = st._seq.get(key)        # the newest good copy's, if its owner loaded it already
        if cur is None:
            c = st._candidates(key)
            cur = c[0][0] if c else None
        else:
            cur = cur[0]
        if cur is not None and not _seq_newer(seq, cur):
            if cur != seq:
                return None
            continue
        if body is None:
            return None
        todo.append((key, body, schema, ver))
    for key, body, schema, ver in todo:
        st.save(key, body, schema, ver)
    return ints


def replay(m, ints):
    """Append the intents the logs do not have yet (their sequence number
    is above the log's), built from the registers just restored: those the
    operation saved, so the bytes are the ones it would have written."""
    for lid, seq, payload in ints:
        logs = m._logs
        if lid < len(logs):
            lg = logs[lid]
            if lg.seq < seq:
                lg.append(m._expand(lid, payload))


def load(m):
    got = m.store.load_rec(REG_KEY, REG_SCHEMA, REG_VERSION,
                           lambda d: decode(m, d))
    if got is None and REG_KEY in m.store.unreadable:
        reset(m)                      # nothing half-decoded stays
        from_logs(m)
    return got[0] if got else 0


def decode(m, d):
    """Strict: exactly one register record (import Wh u64, residual Ws u16,
    saved at u32, tariff state length u16, tariff state, account, supply)."""
    n = _REG_LEN
    wh, ws, last_on = struct.unpack_from(REG_FMT, d, 0)
    k = struct.unpack_from("<H", d, n)[0] + n + 2
    if k > len(d) or ws >= _WS_PER_WH:
        raise ValueError("registers record")
    m.tariff.unpack_state(memoryview(d)[n + 2:k])
    k = m.account.unpack(d, k)
    k = m.supply.unpack(d, k)
    if k != len(d) or m.account.mode not in (_CREDIT, _PREPAY):
        raise ValueError("registers record")
    m.import_wh, m._ws = wh, ws
    return (last_on,)


def reset(m):
    m.import_wh = m._ws = 0
    m.tariff.unpack_state(bytes(12) + struct.pack("<iIIQQ", -1, 0, 0, 0, 0))  # all zero
    a, s = m.account, m.supply        # a new account and supply, wired as they were
    Account.__init__(a, a._alert, a._scaler, a.keys, a.changed)
    Supply.__init__(s, s.relay, a, s._alert, s.changed)
    m.relay.set(True)


def from_logs(m):
    """Energy after an unreadable register record: the newest snapshot of
    any snapshot-type log (import total, the 84 tariff registers, the cost
    so far, put in the energy cost: the split is not recorded)."""
    best = None
    for lg in m.snapshots.logs:
        got = lg.newest(1)
        if got and (best is None or struct.unpack_from("<I", got[0][1], 0)[0] >
                    struct.unpack_from("<I", best, 0)[0]):
            best = got[0][1]
    if best is None:
        return
    t, c, lo, hi, cost = struct.unpack_from("<IIIHQ", best, 0)
    m.import_wh = lo | (hi << 32)
    reg = m.tariff.reg
    for i in range(len(reg)):
        reg[i] = struct.unpack_from("<I", best, 22 + 4 * i)[0]
    m.account.energy = cost
