"""The command surface (firmware/commands.py): every command validates all
of its arguments before it changes anything (a refused command leaves the
whole state and every stored byte as they were), answers with its result
code, and commits what it changes as one atomic operation (a power cut at
any write leaves the old state or the new one, never a mix)."""
import json
import os

import pytest

from firmware import commands as C
from firmware.commands import supplier as S
from firmware.meter import UI_ADD_CREDIT, UI_ENABLE_SUPPLY
from firmware.vboard import state
from firmware.clusters import time_client as TC
from firmware.prepay import account as AC
from firmware.commands import config as CFG
from firmware.prepay import supply as SU
from firmware.prepay import utrn as U
from runtimes import run_script
from conftest import ROOT
from test_powercut_records import Bench, prepaid, every_cut, seqs, FLAT, E7
from tools import utrn as UT

OK, BAD_VALUE, REFUSED, NO_ROOM, DENIED = range(5)


def stored(path):
    """Every stored byte, by file name."""
    out = {}
    for name in sorted(os.listdir(path)):
        with open(os.path.join(path, name), "rb") as f:
            out[name] = f.read()
    return out


def snapshot(b):
    m = b.m
    return state(m), m.display_text(), stored(b.store_dir), list(m.alerts), seqs(m)


# (name, command) pairs a prepayment meter must refuse as BAD_VALUE
BAD = [
    ("param value", lambda m: S.set_params(m, 0, AC.P_EC_LIMIT, -1)),
    ("param index", lambda m: S.set_params(m, 0, 99, 1)),
    ("param odd", lambda m: S.set_params(m, 0, AC.P_EC_LIMIT)),
    ("param bool", lambda m: S.set_params(m, 0, AC.P_LOW_CREDIT, True)),
    ("second param bad", lambda m: S.set_params(m, 0, AC.P_LOW_CREDIT, 5, AC.P_CAP, -2)),
    ("at negative", lambda m: S.set_params(m, -1, AC.P_LOW_CREDIT, 5)),
    ("at too late", lambda m: S.set_params(m, 1 << 32, AC.P_LOW_CREDIT, 5)),
    ("account bits", lambda m: S.set_params(m, 0, AC.P_ACCOUNT, 3)),
    ("friendly not bytes", lambda m: S.set_params(m, 0, AC.P_FRIENDLY, "x")),
    ("payment mode", lambda m: S.set_payment_mode(m, 7, False, False, 0)),
    ("ec threshold", lambda m: S.setup_ec(m, 1000, -1, 0)),
    ("debt index", lambda m: S.set_debt(m, 3, 100)),
    ("debt negative", lambda m: S.set_debt(m, 0, -5, 10, 86400)),
    ("debt period", lambda m: S.set_debt(m, 0, 100, 10, 0)),
    ("debt rate", lambda m: S.set_debt(m, 1, 100, -1, 86400)),
    ("debt below zero", lambda m: S.set_debt(m, 2, -10 ** 9, None, None, True)),
    ("share", lambda m: S.set_debt_share(m, 10001)),
    ("credit limit", lambda m: S.set_credit_limits(m, 10, -1)),
    ("adjust range", lambda m: S.adjust_balance(m, 1 << 40)),
    ("adjust type", lambda m: S.adjust_balance(m, "5")),
    ("balance", lambda m: S.set_balance(m, None)),
    ("supply", lambda m: S.set_supply(m, 3)),
    ("load-limit state", lambda m: S.set_load_limit_state(m, 7)),
    ("load limit", lambda m: S.set_load_limit(m, 1000, -1, 30, 0)),
    ("top-up code type", lambda m: C.top_up(m, 12345)),
    ("top-up source", lambda m: C.top_up(m, UT.make_utrn(1001, pounds=1), 9)),
    ("ptut counter", lambda m: S.top_up_ptut(m, 5, -1)),
    ("ui code", lambda m: C.ui(m, 0x10000)),
    ("tariff doc", lambda m: C.load_tariff(m, dict(FLAT, tou="cheap"))),
    ("tariff at", lambda m: C.load_tariff(m, E7, -1)),
    ("tariff not a doc", lambda m: C.load_tariff(m, [1, 2])),
    ("clock", lambda m: S.set_clock(m, "now")),
    ("snapshot cause", lambda m: S.take_snapshot(m, -1)),
    ("no schedules", lambda m: S.schedule_snapshots(m, [], 5)),
]


@pytest.mark.parametrize("name,cmd", BAD, ids=[n for n, _ in BAD])
def test_a_bad_argument_changes_nothing(tmp_path, name, cmd):
    b = prepaid(tmp_path)
    before = snapshot(b)
    w = b.backend.writes
    assert cmd(b.m) == BAD_VALUE
    assert b.backend.writes == w and snapshot(b) == before
    assert b.m._tx == [False, [], []]            # nothing left queued either
    b.tick(2)                                    # and the meter carries on


def test_config_document_is_checked_whole_before_any_command_runs(tmp_path):
    b = prepaid(tmp_path)
    before = snapshot(b)
    for doc in ({"params": {"ec_limit": 1}, "payment_debt_pct": 10001},
                {"adjust": 100, "debts": [{"debt": 2, "amount": 1, "period_s": 0}]},
                {"supply": "disable", "max_credit": -1},
                {"mode": "credit", "at": -1}):
        with pytest.raises(ValueError):
            CFG.apply(b.m, doc)
        assert snapshot(b) == before, doc


def test_refused_commands_change_nothing_but_their_log_entries(tmp_path):
    b = prepaid(tmp_path)
    m = b.m
    st = state(m)
    assert C.activate_ec(m) == REFUSED                     # credit above the EC threshold
    assert C.han_supply_on(m, False) == DENIED            # not a PPMID asking for ON
    assert C.ui(m, 0x0099) == REFUSED                     # no such UI command
    assert C.top_up(m, UT.make_utrn(1000, pounds=5)) == REFUSED     # a replay
    assert m.account.last_topup[:2] == (U.DUPLICATE, 0)
    after = state(m)
    for k in ("Mode", "MeterBalance", "EmergencyCredit", "ECInUse", "Debts", "Credited",
              "UtrnCache", "Supply"):
        assert after["meter"]["Prepay"][k] == st["meter"]["Prepay"][k], k
    codes = [c for _, c, _, _ in m.log_between(m.event_log, 0, 0xFFFFFFFF)][-5:]
    assert 0x8155 in codes and 0x8162 in codes          # HAN / UI command not actioned


def test_result_codes_and_effects(tmp_path):
    b = prepaid(tmp_path)
    m = b.m
    a = m.account
    assert S.set_params(m, 0, AC.P_LOW_CREDIT, 200000, AC.P_CAP, 5000) == OK
    assert (a.p[AC.P_LOW_CREDIT], a.p[AC.P_CAP]) == (200000, 5000)
    at = m.clock.now() + 3600
    assert S.setup_ec(m, 400000, 150000, at) == OK
    assert dict(a.pending()) == {"ec_limit": at, "ec_threshold": at}
    assert S.setup_ec(m, 0, 0, 0xFFFFFFFF) == OK and a.pending() == []      # cancelled
    assert S.set_debt(m, 0, 5000, 100, 86400) == OK and a.debt[0] == 5000
    assert S.set_debt(m, 0, 1000, 100, 86400, True) == OK and a.debt[0] == 6000
    assert S.set_debt_share(m, 1500) == OK and a.pay_pct == 1500
    assert S.set_credit_limits(m, 100, None) == OK and (a.max_credit, a.max_balance) == (100, 500)
    mb = a.mb
    assert S.adjust_balance(m, -2500) == OK and a.mb == mb - 2500
    assert S.set_balance(m, 0) == OK and a.mb == 0 and a.ledger_ok()
    assert S.set_load_limit(m, 6000, 60, 30, 0) == OK and a.p[AC.P_LL_POWER] == 6000
    assert S.set_load_limit_state(m, SU.DISABLED) == OK and m.supply.ll_state == SU.DISABLED
    assert S.set_supply(m, SU.DISABLED) == OK and not m.relay.closed
    assert C.ui(m, UI_ENABLE_SUPPLY) == REFUSED                 # remotely disabled: not armed
    assert S.set_supply(m, SU.ARMED) == OK and m.supply.state == SU.ARMED
    assert C.han_supply_on(m, True) == OK and m.relay.closed
    assert C.top_up(m, UT.make_utrn(1001, pounds=1)) == OK
    assert m.account.last_topup[:2] == (0, AC.PER_POUND)
    blocks = json.load(open(os.path.join(ROOT, "tariffs", "tou-blocks.json")))
    assert C.load_tariff(m, blocks) == OK and "prc" in C.detail and "thr" in C.detail
    assert C.load_tariff(m, dict(FLAT, tou="cheap")) == BAD_VALUE and C.detail
    assert m.tariff.tariff_id == blocks["tariff_id"]
    b.metrology.load_w = 3600
    b.tick(60)
    assert any(m.tariff.counters)
    assert S.reset_block_counters(m) == OK and not any(m.tariff.counters)
    assert S.set_payment_mode(m, AC.CREDIT, False, False, 0) == OK and a.mode == AC.CREDIT
    t = m.clock.now() + 5
    assert S.set_clock(m, t) == OK and m.time.status == TC.RELIABLE and m.clock.now() == t
    assert S.set_clock(m, t + 5, 0, 10) == REFUSED and m.clock.now() == t   # outside the window
    assert m.time.status == TC.UNRELIABLE
    n = m.snapshots.logs[0].seq
    assert S.take_snapshot(m, 0x8) == OK and C.detail & 0xFFFFFFF == n + 1 == m.snapshots.logs[0].seq
    assert C.ZCL_STATUS[BAD_VALUE] == 0x85 and C.ZCL_STATUS[DENIED] == 0x7E


def test_no_room_for_a_tariff(tmp_path, monkeypatch):
    b = prepaid(tmp_path)
    before = snapshot(b)

    def no_room(d):
        raise MemoryError("injected")
    monkeypatch.setattr("firmware.tariff.loader.parts_from_doc", no_room)
    assert C.load_tariff(b.m, E7) == NO_ROOM and b.m.tariff_refused == 1
    assert snapshot(b)[:3] == before[:3]


def view(m):
    """What a command may change, as the meter restarts with it."""
    s = dict(seqs(m), power=0)
    return (bytes(m.account.pack()), m.supply.pack(), list(m.tariff.counters),
            m.metering.stored(0x0606), sorted(s.items()))


# one-commit operations: (name, command, result)
ATOMIC = [
    ("payment mode", lambda m: S.set_payment_mode(m, AC.CREDIT, False, False, 0), OK),
    ("params", lambda m: S.set_params(m, 0, AC.P_EC_LIMIT, 100000, AC.P_LOW_CREDIT, 50000), OK),
    ("debt", lambda m: S.set_debt(m, 1, 70000, 2000, 86400), OK),
    ("adjust", lambda m: S.adjust_balance(m, 123456), OK),
    ("supply off", lambda m: S.set_supply(m, SU.DISABLED), OK),
    ("take snapshot", lambda m: S.take_snapshot(m, 0x8), OK),
    ("ui add credit", lambda m: C.ui(m, UI_ADD_CREDIT, UT.make_utrn(1002, pounds=3)), OK),
    ("config document", lambda m: CFG.apply(m, {
        "mode": "prepayment", "sde": True, "params": {"ec_limit": 200000},
        "debts": [{"debt": 1, "amount": 3000, "rate": 100, "period_s": 3600}],
        "adjust": 5000, "supply": "disable"})["supply"], SU.DISABLED),
]


@pytest.mark.parametrize("name,cmd,want", ATOMIC, ids=[n for n, _, _ in ATOMIC])
def test_one_commit_old_or_new_after_a_cut_at_every_write(tmp_path, name, cmd, want):
    ref = prepaid(tmp_path / "ref")
    old = view(ref.m)
    assert cmd(ref.m) == want
    new = view(ref.m)
    assert new != old
    ref.restart()
    assert view(ref.m) == new                      # what is saved is what the meter holds

    def check(b, before):
        v = view(b.m)
        assert v in (old, new), name
        return v == new
    outs = every_cut(tmp_path, name, prepaid, lambda b: cmd(b.m), lambda b: None, check)
    if new[4] != old[4]:
        # with log entries: one journal write is the commit point, the records
        # and entries after it are completed at boot
        assert outs == {True, False}, name
    else:
        assert outs == {False}, name     # the register record alone: its last write commits


def test_commands_same_on_both_runtimes(tmp_path):
    (tmp_path / "c").mkdir()
    (tmp_path / "m").mkdir()
    cpy = run_script("cpython", "commands.py", str(tmp_path / "c"))
    mpy = run_script("micropython", "commands.py", str(tmp_path / "m"))
    assert "ec 0" in cpy and "bad 1" in cpy
    assert mpy == cpy


def test_zse_handlers_answer_the_command_result_and_change_nothing_when_refused(tmp_path):
    """The Prepayment and Metering handlers run the commands: a value the
    command refuses comes back as its ZCL status (commands.ZCL_STATUS) and
    leaves state and store as they were."""
    from test_prepay import prepay_bench, zcl, status_of
    b = prepay_bench(tmp_path)
    assert C.top_up(b.m, UT.make_utrn(1, pounds=5)) == OK
    before = snapshot(b)
    debt = {"IssuerEventID": 1, "DebtLabel": b"x", "DebtAmount": 0xFFFFFFFF,
            "DebtRecoveryMethod": 0, "DebtAmountType": 4, "DebtRecoveryStartTime": 0,
            "DebtRecoveryCollectionTime": 0, "DebtRecoveryFrequency": 1,
            "DebtRecoveryAmount": 10, "DebtRecoveryBalancePercentage": 100}
    assert status_of(zcl(b, "Prepayment", "ChangeDebt", debt)) == "INVALID_FIELD"
    assert status_of(zcl(b, "Prepayment", "EmergencyCreditSetup", {
        "IssuerEventID": 1, "StartTime": 0, "EmergencyCreditLimit": 0xFFFFFFFF,
        "EmergencyCreditThreshold": 0xFFFFFFFF})) == "INVALID_FIELD"
    assert status_of(zcl(b, "Metering", "SetSupplyStatus", {
        "IssuerEventID": 1, "SupplyTamperState": 0, "SupplyDepletionState": 0,
        "SupplyUncontrolledFlowState": 0, "LoadLimitSupplyState": 3})) == "INVALID_FIELD"
    assert status_of(zcl(b, "Prepayment", "SelectAvailableEmergencyCredit",
                         {"CommandIssueDateTime": 0, "OriginatingDevice": 2},
                         src=0x5A5A)) == "FAILURE"        # credit above the EC threshold
    assert snapshot(b)[:3] == before[:3]
    # the same debt within range is taken, with its share, as one operation
    debt["DebtAmount"] = 40000
    assert status_of(zcl(b, "Prepayment", "ChangeDebt", debt)) == "SUCCESS"
    assert (b.m.account.debt[2], b.m.account.pay_pct) == (40000, 100)
