"""Prepayment: UTRN codes (GBCS §14), the account (§7.3.9, §18.2.1.2-3),
supply control and the load limiter, persistence across power cuts."""
import json
import os
import random

import pytest
from hypothesis import given, settings, strategies as st

import conftest
from firmware.meter import UI_ACTIVATE_EC, UI_ADD_CREDIT, UI_ENABLE_SUPPLY
from firmware.platform.store import PowerCut
from firmware.prepay import utrn as U
from firmware.prepay import account as AC
from firmware.prepay import supply as SU
from firmware.commands import config as CFG
from firmware.tariff.account import SRC_ENERGY, SRC_STANDING
from tools import utrn as UT
from mp.common import tariff_load, topup
from firmware import commands as C

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = json.load(open(os.path.join(ROOT, "host_tests", "vectors", "utrn.json")))["utrns"]
T0 = 820886400                      # 2026-01-05 00:00:00 UTC, a Monday
FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 0, "period_s": 86400},
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}


class Bench(conftest.Bench):
    """The shared test meter with the test top-up keys, a PPMID (0x5A5A)
    and an IHD (0x7777) in its device log."""

    def __init__(self, path, utc=T0, config=None):
        cfg = UT.meter_config()
        cfg["han_devices"] = {"0x5A5A": "ppmid", "0x7777": "ihd"}
        cfg.update(config or {})
        conftest.Bench.__init__(self, str(path), cfg, utc)

    @property
    def m(self):
        return self.meter

    @property
    def met(self):
        return self.metrology

    @property
    def relay(self):
        return self.meter.relay

    @property
    def acc(self):
        return self.meter.account

    def run(self, seconds):
        self.tick(seconds)


def prepay_bench(path, **params):
    b = Bench(path)
    tariff_load(b.m, FLAT)
    p = {"disablement_threshold": 0, "ec_limit": 300000, "ec_threshold": 100000,
         "low_credit_threshold": 100000}
    p.update(params)
    CFG.apply(b.m, {"mode": "prepayment", "params": p})
    return b


# -- UTRN ------------------------------------------------------------------------------------
@pytest.mark.parametrize("v", VECTORS, ids=[v["utrn"] for v in VECTORS])
def test_utrn_vectors_decode(v):
    """utrn.json lists the v0.8.1 reading (the later one: test_ptut_layout.py)."""
    ptut = U.parse(v["utrn"])
    assert "%016X" % ptut == v["ptut"]
    sub, vc, value, trunc, mac = U.fields(ptut, U.V081)
    assert (sub, vc, value, trunc, "%08X" % mac) == \
        (0, v["value_class"], v["value"], v["truncated_counter"], v["mac"])
    assert U.check_fields(ptut, U.V081) == v["value"]   # class 00: pence
    assert U.check_digit(v["utrn"][:19]) == int(v["utrn"][19])


@pytest.mark.parametrize("v", VECTORS, ids=[v["utrn"] for v in VECTORS])
def test_check_digit_catches_every_single_digit_error_and_adjacent_swap(v):
    code = v["utrn"]
    for i in range(19):
        for d in "0123456789":
            if d != code[i]:
                bad = code[:i] + d + code[i + 1:]
                with pytest.raises(U.UtrnError):
                    U.parse(bad)
        if i < 18 and code[i] != code[i + 1]:
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
            with pytest.raises(U.UtrnError):
                U.parse(swapped)


def test_malformed_codes_are_rejected_as_format_errors():
    good = UT.make_utrn(5, pence=100)
    for bad in (good[:19], good + "0", good[:5] + "x" + good[6:], "0" * 20,
                "9" * 20, b"\xff" * 20):
        with pytest.raises(U.UtrnError) as e:
            U.parse(bad)
        assert e.value.args[0] == U.BAD_FORMAT
    for kw in ({"sub_class": 1}, {"value_class": 2}, {"value_class": 3}):
        ptut = U.parse(UT.make_utrn(5, pence=100, **kw))
        with pytest.raises(U.UtrnError):
            U.check_fields(ptut)
    # a PPMID-entered code has its 20th digit dropped unchecked (§14.7)
    wrong_check = good[:19] + str((int(good[19]) + 1) % 10)
    assert U.parse(wrong_check, verify_check=False) == U.parse(good)


def test_supplier_tool_and_meter_agree_on_the_mac_both_aad_forms():
    from firmware import crypto
    k = UT.test_keys()
    z = crypto.ecdh(bytes.fromhex(k["ka_priv"]), bytes.fromhex(k["supplier_topup_pub"]))
    sup, dev = bytes.fromhex(k["supplier_id"]), bytes.fromhex(k["entity_id"])
    rnd = random.Random(7)
    for _ in range(20):
        counter = rnd.randrange(1 << 32)
        for legacy in (False, True):
            ptut = U.parse(UT.make_utrn(counter, pence=rnd.randrange(8192), legacy=legacy))
            assert U.mac_ok(z, sup, dev, counter, ptut)
            assert not U.mac_ok(z, sup, dev, (counter + 1) & 0xFFFFFFFF, ptut)
            assert not U.mac_ok(z, sup, dev, counter, ptut ^ 1)
            assert not U.mac_ok(z, dev, sup, counter, ptut)


def test_counter_reconstruction_annex_example_and_wrap():
    assert U.reconstruct(2458896167, 812) == 2458896172          # GBCS Annex example
    assert U.reconstruct(1003, 1030 & 0x3FF) == 1030               # across the 10-bit wrap
    assert U.reconstruct(1030, 1000 & 0x3FF) == 1000               # back across it
    assert U.reconstruct(0, 1000) == 1000                          # new meter, empty cache


@given(st.integers(0, (1 << 32) - 1), st.integers(-511, 511))
def test_counter_reconstruction_within_the_window(h, delta):
    c = h + delta
    if 0 <= c < 1 << 32:
        assert U.reconstruct(h, c & 0x3FF) == c


def test_cache_evicts_the_lowest_entry_and_survives_packing():
    c = U.Cache()
    order = list(range(1001, 1100))
    random.Random(3).shuffle(order)
    for x in [1000] + order:                      # out of order is fine above the lowest
        assert c.accepts(x)
        c.add(x, U.FLAG_LOCAL)
    assert c.n == 100 and c.lowest() == 1000
    assert not c.accepts(1050) and not c.accepts(999) and not c.accepts(1000)
    c.add(2000, U.FLAG_NETWORK)                   # full: the numerically lowest goes
    assert c.lowest() == 1001 and c.highest() == 2000 and c.n == 100
    assert not c.accepts(1000)                    # below the lowest: still refused
    c2 = U.Cache()
    assert c2.unpack(c.pack(), 0) == len(c.pack())
    assert sorted(c2.counters[:c2.n]) == sorted(c.counters[:c.n])
    c.reset(5000)
    assert c.n == 1 and c.flags[0] == U.FLAG_FLOOR and not c.accepts(4999)


# -- credit_charge_configuration (§18.2.1.2 Tbls 18.2.1.2a/b) ---------------------------------
def test_the_five_canonical_configurations():
    modes = [(AC.CREDIT, False, False), (AC.PREPAY, True, True), (AC.PREPAY, True, False),
             (AC.PREPAY, False, True), (AC.PREPAY, False, False)]
    single = [44, 275, 275, 212, 212]             # 2 + 21 n (the printed 46 for credit is wrong)
    twin = [65, 317, 317, 254, 254]
    for (mode, sde, sdd), n1, n2 in zip(modes, single, twin):
        v = AC.ccc(mode, sde, sdd)
        assert len(v) == n1 and len(AC.ccc(mode, sde, sdd, True)) == n2
        assert AC.parse_ccc(v) == (mode, sde, sdd)
    # first element: MeterBalance <- TariffBlockPriceMatrixTOU, collectable always
    assert AC.ccc(AC.CREDIT)[2:23].hex().upper() == \
        "020309060000130A00FF09060000130200FF0403E0"
    # SDD clears bit 0 on the time debts only (C0)
    v = AC.ccc(AC.PREPAY, False, True)
    bits = [v[2 + 21 * i + 20] for i in range(10)]
    assert bits == [0xE0, 0xE0, 0xC0, 0xC0, 0xE0, 0xE0, 0xE0, 0xE0, 0xC0, 0xC0]


def test_any_other_configuration_is_rejected():
    v = bytearray(AC.ccc(AC.PREPAY, True, False))
    for i in (0, 1, 5, 22, len(v) - 1):
        w = bytearray(v)
        w[i] ^= 0x01
        with pytest.raises(ValueError):
            AC.parse_ccc(w)
    els = [bytes(v[2 + 21 * i:23 + 21 * i]) for i in range(v[1])]
    swapped = bytes(v[:2]) + els[1] + els[0] + b"".join(els[2:])
    with pytest.raises(ValueError):
        AC.parse_ccc(swapped)                    # array order matters
    with pytest.raises(ValueError):
        AC.parse_ccc(AC.ccc(AC.PREPAY, True, False, twin=True))   # twin value on a single meter


# -- the account ------------------------------------------------------------------------------
class App:
    def __init__(self, scaler=-5):
        self.alerts = []

        class T:
            pass
        self.tariff = T()
        self.tariff.scaler = scaler

    def alert(self, code):
        self.alerts.append(code)

    def account_changed(self):
        pass

    def mode_changed(self):
        self.alerts.append("mode")


def new_account(app):
    """An account wired to the stand-in meter services (prepay/account.py:
    alert, the tariff's scaler, top-up keys, changed)."""
    a = AC.Account(app.alert, lambda: app.tariff.scaler)
    a.keys = getattr(app, "topup_keys", None)
    a.changed = lambda mode: app.mode_changed() if mode else app.account_changed()
    return a


@pytest.mark.parametrize("scaler", [-2, -5, -7])
def test_debit_conversion_never_creates_or_loses_money(scaler):
    app = App(scaler)
    a = new_account(app)
    rnd = random.Random(scaler)
    total = 0
    for _ in range(500):
        x = rnd.randrange(1, 500)
        total += x
        a.debit(x, SRC_ENERGY)
    exact = total * 10 ** (scaler + 5) if scaler >= -5 else None
    if exact is not None:
        assert a.charged == exact
    else:
        d = 10 ** (-5 - scaler)
        assert a.charged == total // d and a._conv == total % d
    assert a.mb == -a.charged and a.ledger_ok()
    assert a.energy == total


def test_credit_mode_takes_everything_from_the_meter_balance():
    a = new_account(App())
    a.credit(1000, True)
    a.debit(300, SRC_ENERGY)
    a.debit(900, SRC_STANDING)
    assert a.mb == -200 and not a.ec_available() and not a.activate_ec() and a.ledger_ok()


def prepaid(sde=False, sdd=False, mb=0):
    app = App()
    a = new_account(app)
    a.stage(AC.P_ACCOUNT, AC.PREPAY | (sde << 2) | (sdd << 3), 0, 0)
    a.stage(AC.P_EC_LIMIT, 5000, 0, 0)
    a.stage(AC.P_EC_THRESHOLD, 1000, 0, 0)
    a.credit(mb, True)
    return a, app


def test_emergency_credit_offered_taken_exhausted_and_repaid():
    a, app = prepaid(mb=3000)
    assert not a.ec_available() and not a.activate_ec()
    a.debit(2000, SRC_ENERGY)                     # mb 1000: at the threshold
    a.tick(1)
    assert a.ec_available() and AC.AL_EC_AVAILABLE in app.alerts
    assert a.activate_ec() and a.ec_in_use and a.ecb == 5000
    assert AC.AL_EC_ACTIVATED in app.alerts
    a.debit(1500, SRC_ENERGY)                     # mb first (1000), then EC
    assert (a.mb, a.ecb) == (0, 4500)
    a.debit(4600, SRC_ENERGY)                     # EC runs out, mb goes negative
    assert (a.mb, a.ecb) == (-100, 0) and AC.AL_EC_EXHAUSTED in app.alerts
    assert a.combined() == -100 and a.ledger_ok()
    a.credit(2100, True)                          # partial repayment: EC stays in use
    assert a.ec_in_use and (a.mb, a.ecb) == (0, 2000) and a.combined() == 2000
    a.credit(10000, True)                         # repaid in full: EC ends
    assert not a.ec_in_use and (a.mb, a.ecb) == (7000, 0) and a.ledger_ok()


def test_suspend_debt_emergency_sends_standing_charge_and_time_debt_to_accumulated_debt():
    for sde in (False, True):
        a, _ = prepaid(sde=sde, mb=1000)
        a.activate_ec()
        a.set_debt(0, 10000, 86400, 86400)        # 1 unit a second
        a.debit(500, SRC_STANDING)
        a.tick(1)
        a.debit(200, SRC_ENERGY)
        if sde:     # §18.2.1.3: standing charge and time debts accrue to ad during EC
            assert (a.mb, a.ecb, a.ad) == (800, 5000, 501)
        else:
            assert (a.mb, a.ecb, a.ad) == (299, 5000, 0)
        assert a.ledger_ok()
    a.credit(10000, True)                         # a top-up repays EC used, then ad
    assert a.ad == 0 and not a.ec_in_use and a.ledger_ok()


def test_suspend_debt_disabled_stops_time_debt_while_disabled_for_credit():
    for sdd in (False, True):
        a, _ = prepaid(sdd=sdd, mb=0)
        a.set_debt(0, 10000, 86400, 86400)
        a.disabled_for_credit = True
        for t in range(1, 101):
            a.tick(t)
        assert a.debt[0] == (10000 if sdd else 9900)
        a.disabled_for_credit = False
        a.tick(101)
        assert a.debt[0] == (9999 if sdd else 9899)


def test_time_debt_recovery_is_capped_per_period():
    a, app = prepaid(mb=10 ** 7)
    a.stage(AC.P_CAP, 50, 0, 0)
    a.stage(AC.P_CAP_PERIOD, 3600, 0, 0)
    a.set_debt(0, 1000, 864000, 86400)           # 10 units a second, both debts
    a.set_debt(1, 1000, 864000, 86400)
    for t in range(1, 3600):
        a.tick(t)
    assert a.collected[0] + a.collected[1] == 50  # the cap for the first hour
    for t in range(3600, 7200):
        a.tick(t)
    assert a.collected[0] + a.collected[1] == 100 and a.ledger_ok()


def test_top_up_pays_the_payment_debt_share_first():
    a, app = prepaid(mb=0)
    a.set_debt(2, 300)
    a.pay_pct = 2500                              # 25 % of each top-up
    a.credit(1000, True)
    assert (a.debt[2], a.collected[2], a.mb, a.share) == (50, 250, 750, 250)
    a.credit(1000, True)
    assert (a.debt[2], a.mb) == (0, 1700) and AC.AL_DEBT_DONE + 2 == 0x81A9 and 0x81A9 in app.alerts
    a.credit(1000, False)                         # an adjustment is not a top-up
    assert a.mb == 2700 and a.ledger_ok()


def test_incremental_adjustment_adds_and_never_overwrites():
    """anchors.md §2.2: a known stack writes the raw adjustment over the balance."""
    a, _ = prepaid(mb=500)
    a.adjust(200)
    assert a.mb == 700
    a.adjust(-300)
    assert a.mb == 400
    a.set_balance(1000)
    assert a.mb == 1000 and a.ledger_ok()


def test_a_top_up_is_credited():
    """anchors.md §2.2: a known stack never adds the top-up amount."""
    a, _ = prepaid(mb=0)
    a.keys = lambda: tuple(bytes.fromhex(UT.test_keys()[k]) for k in
                         ("ka_priv", "supplier_topup_pub", "supplier_id", "entity_id"))
    v = a.top_up_code(UT.make_utrn(77, pence=1234), U.FLAG_LOCAL)
    assert v == 1234 * AC.PER_PENNY and a.mb == v and a.credited == v


def test_future_dated_parameters_activate_at_their_second():
    a, app = prepaid(mb=0)
    a.stage(AC.P_LOW_CREDIT, 4242, 1000, 0)
    a.stage(AC.P_EC_LIMIT, 9999, 2000, 0)
    a.stage(AC.P_EC_LIMIT, 7777, AC.NEVER, 0)    # cancels the pending EC limit
    assert a.pending() == [("low_credit_threshold", 1000)]
    a.tick(999)
    assert a.p[AC.P_LOW_CREDIT] != 4242
    a.tick(1000)
    assert a.p[AC.P_LOW_CREDIT] == 4242 and AC.AL_FUTURE_OK in app.alerts
    assert a.p[AC.P_EC_LIMIT] == 5000 and a.pending() == []
    a.stage(AC.P_DISABLE, 12, 500, 1500)          # a time already past applies now
    assert a.p[AC.P_DISABLE] == 12 and a.pending() == []


def test_friendly_calendar_periods_and_special_days():
    a = new_account(App())
    a.stage(AC.P_FRIENDLY, AC.friendly_blob([(0x1F, 7 * 60, 9 * 60)],
                                            [(0xFFFF, 12, 25), (2026, 1, 10)]), 0, 0)
    mon = T0
    assert not a.is_friendly(mon + 7 * 3600 - 1)
    assert a.is_friendly(mon + 7 * 3600) and a.is_friendly(mon + 9 * 3600 - 1)
    assert not a.is_friendly(mon + 9 * 3600)
    assert not a.is_friendly(mon + 6 * 86400 + 8 * 3600)        # Sunday 11th
    assert a.is_friendly(mon + 5 * 86400 + 3600)                 # Saturday 10th, a special day
    xmas = T0 + 354 * 86400 + 6 * 3600                           # 2026-12-25 06:00 (ZigBee epoch)
    assert a.is_friendly(xmas) and a.is_friendly(xmas + 365 * 86400)
    assert not a.is_friendly(xmas - 86400)
    with pytest.raises(ValueError):
        AC.friendly_blob([(0, 0, 10)], [])
    with pytest.raises(ValueError):
        AC.friendly_blob([(1, 600, 500)], [])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 50000)), max_size=60),
       st.booleans(), st.booleans())
def test_ledger_balances_whatever_happens(ops, sde, sdd):
    a, _ = prepaid(sde=sde, sdd=sdd, mb=20000)
    a.set_debt(0, 30000, 86400 * 3, 86400)
    a.set_debt(2, 10000)
    a.pay_pct = 1000
    t = 0
    for op, x in ops:
        if op == 0:
            a.debit(x, SRC_ENERGY)
        elif op == 1:
            a.debit(x // 10, SRC_STANDING)
        elif op == 2:
            a.credit(x, True)
        elif op == 3:
            a.activate_ec()
        elif op == 4:
            a.adjust(x - 25000)
        elif op == 5:
            a.disabled_for_credit = not a.disabled_for_credit
        else:
            for _ in range(x % 50):
                t += 1
                a.tick(t)
        assert a.ledger_ok()
        assert a.debt[0] + a.collected[0] == 30000 and a.debt[2] + a.collected[2] == 10000
        assert a.ecb >= 0 and a.ad >= 0
        b = new_account(App())
        b.unpack(a.pack(), 0)
        assert b._fields() == a._fields()


# -- the meter: top-up paths, supply, power cuts ------------------------------------------------
def test_keyed_in_top_up_outcomes_and_their_logs(tmp_path):
    b = prepay_bench(tmp_path)
    m = b.m
    assert topup(m, UT.make_utrn(1000, pounds=2)) == (0, 200000)
    assert topup(m, UT.make_utrn(1000, pounds=2)) == (U.DUPLICATE, 0)
    assert topup(m, UT.make_utrn(999, pounds=2)) == (U.DUPLICATE, 0)      # below the lowest
    # reordered codes above the lowest entry are fine (§14.3.6: the cache,
    # not a high-water mark, stops replays)
    assert topup(m, UT.make_utrn(1010, pence=1)) == (0, 1000)
    assert topup(m, UT.make_utrn(1008, pence=1)) == (0, 1000)
    assert topup(m, UT.make_utrn(1008, pence=1)) == (U.DUPLICATE, 0)
    forged = UT.make_utrn(1001, pounds=2)
    forged = forged[:12] + str((int(forged[12]) + 3) % 10) + forged[13:19]
    forged += str(UT.check_digit(forged))
    assert topup(m, forged) == (U.NOT_AUTHENTIC, 0)
    assert topup(m, UT.make_utrn(1002, pounds=151)) == (U.OVER_MAX_CREDIT, 0)
    m.account.max_balance = 3
    assert topup(m, UT.make_utrn(1002, pounds=2)) == (U.OVER_MAX_BALANCE, 0)
    assert m.account.mb == 202000 and m.account.cache.n == 3
    codes = [code for _, code, _, _ in m.log_between(m.event_log, 0, 1 << 32)]
    assert codes.count(0x0001) >= 5               # every alert is in the event log
    assert [a for a in m.alerts if a >> 8 == 0x8F] == \
        [0x8F51, 0x8F51, 0x8F51, 0x8F63, 0x8F5B, 0x8F47]
    sec = m.log_between(m.security_log, 0, 1 << 32)
    assert [v >> 24 for _, code, _, v in sec if code == 0x0102] == \
        [U.DUPLICATE, U.DUPLICATE, U.DUPLICATE, U.NOT_AUTHENTIC]
    assert m.ui(UI_ADD_CREDIT, "123") is False
    assert m.log_between(m.event_log, 0, 1 << 32)[-1][1:4:2] == (0x8162, UI_ADD_CREDIT)


def test_no_keys_means_not_for_this_device(tmp_path):
    b = Bench(tmp_path, config={"ka_priv": ""})
    assert topup(b.m, UT.make_utrn(1, pounds=1)) == (U.NOT_FOR_DEVICE, 0)
    assert 0x8F64 in b.m.alerts


def test_disconnection_at_the_exact_second_and_reconnection(tmp_path):
    b = prepay_bench(tmp_path)
    topup(b.m, UT.make_utrn(1, pence=100))       # 100000 units; 3600 W costs 20 a second
    b.met.load_w = 3600
    b.run(4999)
    assert b.m.supply.state == SU.ENABLED and b.acc.mb == 20
    b.run(1)
    assert b.m.supply.state == SU.DISABLED and not b.relay.closed and b.acc.mb == 0
    assert SU.AL_DISABLED_CREDIT in b.m.alerts
    b.run(10)
    assert b.acc.mb == 0                          # nothing flows while disconnected
    assert b.m.ui(UI_ENABLE_SUPPLY) is False      # disabled, not armed: the button does nothing
    assert b.m.ui(UI_ACTIVATE_EC)
    assert b.m.supply.state == SU.ARMED and SU.AL_ARMED_EC in b.m.alerts
    b.m.button.press()
    b.run(1)
    assert b.m.supply.state == SU.ENABLED and b.relay.closed


def test_a_friendly_period_holds_the_supply_on(tmp_path):
    b = prepay_bench(tmp_path, ec_limit=0)
    CFG.apply(b.m, {"friendly": {"periods": [[31, "00:00", "01:00"]]}})
    topup(b.m, UT.make_utrn(1, pence=10))        # 10000 units: 500 s at 20 a second
    b.met.load_w = 3600
    b.run(600)
    assert b.m.supply.state == SU.ENABLED and b.acc.mb == -2000
    assert SU.AL_SUSPENDED in b.m.alerts and SU.AL_DISABLED_CREDIT not in b.m.alerts
    b.run(3000)                                   # 01:00:00 ends it
    assert b.m.supply.state == SU.DISABLED and b.clock.now() == T0 + 3600
    topup(b.m, UT.make_utrn(2, pounds=1))
    assert b.m.supply.state == SU.ARMED           # armed at once by a sufficient top-up
    topup(b.m, UT.make_utrn(3, pounds=1))
    assert b.m.supply.state == SU.ARMED


def test_remote_supply_control_and_credit_mode(tmp_path):
    b = Bench(tmp_path)
    CFG.apply(b.m, {"supply": "disable"})
    b.run(2)
    assert b.m.supply.state == SU.DISABLED and b.m.supply.cause == SU.C_REMOTE
    assert b.m.ui(UI_ENABLE_SUPPLY) is False
    CFG.apply(b.m, {"supply": "arm"})
    assert b.m.supply.state == SU.ARMED and b.m.ui(UI_ENABLE_SUPPLY)
    assert b.m.supply.state == SU.ENABLED
    b.met.load_w = 3600
    b.run(100)                                    # credit mode: never disabled for credit
    assert b.m.supply.state == SU.ENABLED


def test_load_limiter_counts_interrupts_and_restores(tmp_path):
    b = Bench(tmp_path)
    CFG.apply(b.m, {"params": {"load_limit_w": 3000, "load_limit_period": 10,
                               "load_limit_restore": 5}})
    b.met.load_w = 3500
    b.run(9)
    assert b.m.metering.stored(0x0606) == 0
    b.run(1)
    assert b.m.metering.stored(0x0606) == 1 and b.m.supply.state == SU.ENABLED  # no interruption
    CFG.apply(b.m, {"load_limit_supply_state": 0})
    b.run(10)
    assert b.m.metering.stored(0x0606) == 2 and b.m.supply.state == SU.DISABLED
    b.run(5)
    assert b.m.supply.state == SU.ENABLED and SU.AL_LL_RESTORED in b.m.alerts
    b.met.load_w = 2000
    b.run(100)
    assert b.m.metering.stored(0x0606) == 2


def test_state_survives_a_restart(tmp_path):
    b = prepay_bench(tmp_path)
    CFG.apply(b.m, {"friendly": {"periods": [[1, "10:00", "11:00"]]}, "at": T0 + 7200,
                    "params": {"low_credit_threshold": 5}})
    topup(b.m, UT.make_utrn(1, pounds=3))
    (C.activate_ec(b.m) == 0)
    before = b.acc._fields()
    cache = b.acc.cache.pack()
    b.restart()
    assert b.acc._fields() == before and b.acc.cache.pack() == cache
    assert b.acc.pending() == [("low_credit_threshold", T0 + 7200), ("friendly", T0 + 7200)]


def test_power_cut_at_every_write_of_a_top_up_credits_it_exactly_once(tmp_path):
    code = UT.make_utrn(1005, pounds=4)
    n = 0
    while True:
        path = tmp_path / ("cut%d" % n)
        b = prepay_bench(path)
        topup(b.m, UT.make_utrn(1000, pounds=1))
        base = b.acc.mb
        b.backend.cut_after(n + 1)
        try:
            topup(b.m, code)
            cut = False
        except PowerCut:
            cut = True
        b.backend.cut_after(0)
        b.restart()
        applied = b.acc.mb == base + 400000
        assert applied or b.acc.mb == base
        assert b.acc.ledger_ok()
        again = topup(b.m, code)
        assert again == ((U.DUPLICATE, 0) if applied else (0, 400000))
        assert b.acc.mb == base + 400000          # once, whichever way the cut fell
        if not cut:
            break
        n += 1
    assert n >= 2                                 # the cut really fell inside the top-up


def test_power_cut_during_debt_collection_keeps_debt_and_credit_consistent(tmp_path):
    n = 0
    while True:
        b = prepay_bench(tmp_path / ("d%d" % n))
        topup(b.m, UT.make_utrn(1, pounds=50))
        CFG.apply(b.m, {"debts": [{"debt": 1, "amount": 100000, "rate": 86400 * 5,
                                   "period_s": 86400}]})
        b.run(1799 - (b.clock.now() % 1800))      # the next tick saves the registers
        b.backend.cut_after(n + 1)
        try:
            b.run(1)
            cut = False
        except PowerCut:
            cut = True
        b.backend.cut_after(0)
        b.restart()
        a = b.acc
        assert a.ledger_ok() and a.debt[0] + a.collected[0] == 100000
        assert a.mb == 5000000 - a.collected[0]
        if not cut:
            break
        n += 1
    assert n >= 1


def test_restart_catches_up_time_debt_over_the_outage(tmp_path):
    b = prepay_bench(tmp_path)
    topup(b.m, UT.make_utrn(1, pounds=50))
    CFG.apply(b.m, {"debts": [{"debt": 1, "amount": 100000, "rate": 86400, "period_s": 86400}]})
    b.run(1800 - b.clock.now() % 1800)
    collected = b.acc.collected[0]
    b.clock.advance(3600)                         # an hour with the mains off
    b.restart()
    assert b.acc.collected[0] == collected + 3600 and b.acc.ledger_ok()


def test_config_documents_are_checked_before_anything_changes(tmp_path):
    b = Bench(tmp_path)
    before = b.acc._fields()
    for doc in ({"mode": "prepayment", "params": {"no_such": 1}},
                {"mode": "prepayment", "params": {"ec_limit": -1}},
                {"mode": "sometimes"},
                {"ccc": AC.ccc(AC.PREPAY, True, True).hex()[:-2] + "00"},
                {"mode": "prepayment", "debts": [{"debt": 4, "amount": 1}]},
                {"mode": "prepayment", "friendly": {"periods": [[1, "10:00", "09:00"]]}},
                {"mode": "prepayment", "supply": "sideways"}):
        with pytest.raises((ValueError, KeyError)):
            CFG.apply(b.m, doc)
        assert b.acc._fields() == before
    CFG.apply(b.m, {"ccc": AC.ccc(AC.PREPAY, True, False).hex()})
    assert (b.acc.mode, b.acc.sde, b.acc.sdd) == (AC.PREPAY, True, False)


# -- the Prepayment and Metering clusters on the HAN -------------------------------------------
def zcl(b, cluster, cmd, fields, src=0x0000, secured=True):
    """Send one cluster command to the meter; the decoded frames it answers."""
    return conftest.decoded(b.cmd(cluster, cmd, fields, src=src, secured=secured))


def status_of(frames):
    return frames[-1]["fields"]["status"]


def test_credit_adjustment_through_zse_adds_or_sets(tmp_path):
    b = prepay_bench(tmp_path)
    topup(b.m, UT.make_utrn(1, pounds=5))
    r = zcl(b, "Prepayment", "CreditAdjustment", {"IssuerEventID": 1, "StartTime": 0,
                                                  "CreditAdjustmentType": 0,
                                                  "CreditAdjustmentValue": 1234})
    assert status_of(r) == "SUCCESS" and b.acc.mb == 501234
    zcl(b, "Prepayment", "CreditAdjustment", {"IssuerEventID": 2, "StartTime": 0,
                                              "CreditAdjustmentType": 1,
                                              "CreditAdjustmentValue": 7000})
    assert b.acc.mb == 7000 and b.acc.ledger_ok()
    r = zcl(b, "Prepayment", "CreditAdjustment", {"IssuerEventID": 3, "StartTime": 0,
                                                  "CreditAdjustmentType": 1,
                                                  "CreditAdjustmentValue": 1}, src=0x5A5A)
    assert status_of(r) == "NOT_AUTHORIZED" and b.acc.mb == 7000


def test_who_may_ask_what(tmp_path):
    b = prepay_bench(tmp_path)
    debt = {"IssuerEventID": 1, "DebtLabel": b"x", "DebtAmount": 100, "DebtRecoveryMethod": 0,
            "DebtAmountType": 0, "DebtRecoveryStartTime": 0, "DebtRecoveryCollectionTime": 0,
            "DebtRecoveryFrequency": 1, "DebtRecoveryAmount": 10,
            "DebtRecoveryBalancePercentage": 0}
    for src in (0x5A5A, 0x7777, 0x1234):          # PPMID, IHD, unknown: never the supplier's
        assert status_of(zcl(b, "Prepayment", "ChangeDebt", debt, src=src)) == "NOT_AUTHORIZED"
        assert status_of(zcl(b, "Metering", "ChangeSupply", {
            "ProviderID": 1, "IssuerEventID": 1, "RequestDateTime": 0,
            "ImplementationDateTime": 0, "ProposedSupplyStatus": 0,
            "SupplyControlBits": 0}, src=src)) == "NOT_AUTHORIZED"
    assert b.acc.debt == [0, 0, 0] and b.m.supply.state == SU.ENABLED
    for src in (0x7777, 0x1234):                  # only a PPMID may select EC or top up
        assert status_of(zcl(b, "Prepayment", "SelectAvailableEmergencyCredit",
                             {"CommandIssueDateTime": 0, "OriginatingDevice": 2},
                             src=src)) == "NOT_AUTHORIZED"
        assert status_of(zcl(b, "Prepayment", "ConsumerTopUp",
                             {"OriginatingDevice": 2, "TopUpCode": UT.make_utrn(9, pounds=1)},
                             src=src)) == "NOT_AUTHORIZED"
    assert not b.acc.ec_in_use and b.acc.mb == 0
    assert status_of(zcl(b, "Prepayment", "ChangeDebt", debt)) == "SUCCESS"
    assert b.acc.debt == [100, 0, 0]
    debt["DebtAmountType"] = 1                    # type 1 incremental
    zcl(b, "Prepayment", "ChangeDebt", debt)
    assert b.acc.debt == [200, 0, 0]
    debt["DebtAmountType"] = 6
    assert status_of(zcl(b, "Prepayment", "ChangeDebt", debt)) == "INVALID_FIELD"
    # an unsecured frame is dropped whoever sends it
    assert zcl(b, "Prepayment", "SelectAvailableEmergencyCredit",
               {"CommandIssueDateTime": 0, "OriginatingDevice": 2}, src=0x5A5A,
               secured=False) == []


def test_change_supply_answered_by_supply_status_response(tmp_path):
    """ZSE 1.x D.3.2.3.1: Change Supply with acknowledge required is answered
    by Supply Status Response, Metering generated command 0x0C (0x07 is Get
    Sampled Data Response): Provider ID, Issuer Event ID, Implementation
    Date/Time, the supply status after the change."""
    import struct
    b = prepay_bench(tmp_path)
    for event, proposed in ((0x11223344, SU.DISABLED), (0x11223345, SU.ARMED),
                            (0x11223346, SU.ENABLED)):
        frames = b.cmd("Metering", "ChangeSupply", {
            "ProviderID": 0xA1B2C3D4, "IssuerEventID": event, "RequestDateTime": 0,
            "ImplementationDateTime": 0, "ProposedSupplyStatus": proposed,
            "SupplyControlBits": 0x01})
        assert len(frames) == 1 and frames[0].cluster == 0x0702
        fc, seq, cmd_id = struct.unpack_from("<BBB", frames[0].payload)
        assert fc & 0x0B == 0x09 and seq == b.seq          # cluster-specific, to client
        assert cmd_id == 0x0C
        assert frames[0].payload[3:] == struct.pack("<IIIB", 0xA1B2C3D4, event,
                                                    b.clock.now(), proposed)
        assert b.m.supply.state == proposed
        assert conftest.decoded(frames)[0]["command"] == "SupplyStatusResponse"
    # without the acknowledge bit: no Supply Status Response, a Default Response at most
    frames = b.cmd("Metering", "ChangeSupply", {
        "ProviderID": 1, "IssuerEventID": 9, "RequestDateTime": 0,
        "ImplementationDateTime": 0, "ProposedSupplyStatus": SU.DISABLED,
        "SupplyControlBits": 0})
    assert [f.payload[2] for f in frames] in ([], [0x0B])


def test_ppmid_top_up_and_emergency_credit(tmp_path):
    b = prepay_bench(tmp_path)
    r = zcl(b, "Prepayment", "SelectAvailableEmergencyCredit",
            {"CommandIssueDateTime": 0, "OriginatingDevice": 2}, src=0x5A5A)
    assert status_of(r) == "SUCCESS" and b.acc.ec_in_use       # mb 0 <= threshold: available
    code = UT.make_utrn(5, pounds=4)
    code = code[:19] + str((int(code[19]) + 1) % 10)            # a PPMID drops digit 20 unchecked
    r = zcl(b, "Prepayment", "ConsumerTopUp", {"OriginatingDevice": 2, "TopUpCode": code},
            src=0x5A5A)
    f = r[-1]
    assert f["command"] == "ConsumerTopUpResponse"
    assert f["fields"] == {"ResultType": 0, "TopUpValue": 400000, "SourceOfTopUp": 2,
                           "CreditRemaining": 400000}          # no EC was used: none to repay
    assert not b.acc.ec_in_use
    r = zcl(b, "Prepayment", "ConsumerTopUp", {"OriginatingDevice": 2, "TopUpCode": code},
            src=0x5A5A)
    assert r[-1]["fields"]["ResultType"] == 2                  # duplicate
    r = zcl(b, "Prepayment", "GetTopUpLog", {"LatestEndTime": 0xFFFFFFFE, "NumberOfRecords": 5},
            src=0x7777)                                        # reading is anyone's
    assert [t["TopUpAmount"] for t in r[-1]["fields"]["TopUps"]] == [400000]
    b.clock.advance(86400 - b.clock.now() % 86400)
    b.m.tick()                                                 # midnight: prepayment daily read
    r = zcl(b, "Prepayment", "GetPrepaySnapshot", {"EarliestStartTime": 0,
                                                   "LatestEndTime": 0xFFFFFFFE,
                                                   "SnapshotOffset": 0,
                                                   "SnapshotCause": 0xFFFFFFFF}, src=0x7777)
    assert r[-1]["command"] == "PublishPrepaySnapshot"
    assert r[-1]["fields"]["SnapshotCause"] == 1


def test_a_payment_mode_change_takes_a_prepayment_snapshot(tmp_path):
    b = prepay_bench(tmp_path)                    # credit -> prepayment: one snapshot
    topup(b.m, UT.make_utrn(1, pounds=2))
    CFG.apply(b.m, {"mode": "credit", "at": T0 + 10})
    b.run(10)
    r = zcl(b, "Prepayment", "GetPrepaySnapshot", {"EarliestStartTime": 0,
                                                   "LatestEndTime": 0xFFFFFFFE,
                                                   "SnapshotOffset": 0,
                                                   "SnapshotCause": 0x4000})
    f = r[-1]["fields"]
    assert f["TotalSnapshotsFound"] == 2 and f["SnapshotCause"] == 0x4000
    assert f["SnapshotTime"] == T0 + 10
    # payload: accumulated debt, debts 1-3, EC remaining, credit remaining (int32 LE)
    import struct
    assert struct.unpack("<iIIIii", bytes.fromhex(f["SnapshotPayload"][4:]))[5] == 200000


def test_network_route_entry_point_takes_the_counter_from_the_command(tmp_path):
    """CS01a (the GBCS issue wires it): the PTUT and the originator counter
    of the grouping header; no reconstruction, the truncated bits must match."""
    b = prepay_bench(tmp_path)
    topup(b.m, UT.make_utrn(1000, pounds=1))
    counter = 1000 + 5000                          # far beyond the keyed-in window: fine here
    ptut = U.parse(UT.make_utrn(counter, pounds=2))
    assert b.acc.top_up_ptut(ptut, counter) == 200000
    assert b.acc.cache.flags[b.acc.cache.n - 1] == U.FLAG_NETWORK
    with pytest.raises(U.UtrnError) as e:
        b.acc.top_up_ptut(ptut, counter)
    assert e.value.args[0] == U.DUPLICATE
    ptut = U.parse(UT.make_utrn(counter + 1, pounds=2))
    with pytest.raises(U.UtrnError) as e:
        b.acc.top_up_ptut(ptut, counter + 2)      # header counter disagrees with the PTUT
    assert e.value.args[0] == U.NOT_AUTHENTIC
    assert b.acc.mb == 300000 and b.acc.ledger_ok()
