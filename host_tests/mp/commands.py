# Both runtimes: every command of firmware/commands.py, good and bad
# arguments, on one meter; prints each result code and the state it leaves
# (test_commands.py compares the two runtimes byte for byte).
from common import make_meter, store_dir, T0
from firmware import commands as C
from firmware.commands import supplier as S
from firmware.meter import UI_ADD_CREDIT, UI_ENABLE_SUPPLY
from firmware.prepay import account as AC

FLAT = {"tariff_id": 20, "provider_id": 1, "currency": 826, "price_scaler": -5, "tou": [20000],
        "standing_charge": {"amount": 86400, "period_s": 86400},
        "calendar": {"seasons": [["*-01-01", 1]], "weeks": {"1": [1] * 7},
                     "days": {"1": [["00:00", 1]]}}, "special_days": []}
m, out, clock, met, backend = make_meter(store_dir(), T0)


def show(tag, r):
    a = m.account
    print(tag, r, a.mode, a.mb, a.ecb, a.ec_in_use, a.debt, a.p[:9], a.pay_pct, a.max_credit,
          a.max_balance, m.supply.state, m.supply.ll_state, len(a.pending()), a.ledger_ok())


def tick(n):
    for _ in range(n):
        clock.advance(1)
        m.tick()


show("tariff", C.load_tariff(m, FLAT))
show("tariff bad", C.load_tariff(m, {"tariff_id": 1}))
show("mode", S.set_payment_mode(m, AC.PREPAY, True, False, 0))
show("bad", S.set_payment_mode(m, 9, True, False, 0))
show("ec setup", S.setup_ec(m, 300000, 100000, 0))
show("bad", S.setup_ec(m, 300000, -1, 0))
show("params", S.set_params(m, 0, AC.P_LOW_CREDIT, 150000, AC.P_DISABLE, 0))
show("bad", S.set_params(m, 0, AC.P_LOW_CREDIT, 1, 42, 1))
show("future", S.set_params(m, T0 + 100, AC.P_CAP, 1000))
show("debt", S.set_debt(m, 0, 20000, 86400, 86400))
show("bad", S.set_debt(m, 0, 20000, 86400, 0))
show("debt 3", S.set_debt(m, 2, 40000))
show("share", S.set_debt_share(m, 2000))
show("bad", S.set_debt_share(m, -1))
show("limits", S.set_credit_limits(m, 100, 400))
show("adjust", S.adjust_balance(m, 250000))
show("bad", S.adjust_balance(m, 1 << 40))
show("balance", S.set_balance(m, 200000))
show("load limit", S.set_load_limit(m, 5000, 10, 20, 0))
show("ll state", S.set_load_limit_state(m, 0))
show("bad", S.set_load_limit_state(m, 5))
met.load_w = 3600
tick(150)
show("ticked", 0)
show("top-up not for device", C.top_up(m, "12345678901234567890"))
print("last", m.account.last_topup[:3])
show("top-up bad", C.top_up(m, 5))
show("ui add", C.ui(m, UI_ADD_CREDIT, "1"))
show("ec", C.activate_ec(m))
show("balance 0", S.set_balance(m, 50000))
show("ec", C.activate_ec(m))
show("supply off", S.set_supply(m, 0))
show("ui enable", C.ui(m, UI_ENABLE_SUPPLY))
show("arm", S.set_supply(m, 1))
show("han on", C.han_supply_on(m, True))
show("han denied", C.han_supply_on(m, False))
show("reset blocks", S.reset_block_counters(m))
show("clock", S.set_clock(m, clock.now() + 3))
show("bad", S.set_clock(m, None))
show("credit", S.set_payment_mode(m, AC.CREDIT, False, False, 0))
tick(10)
show("end", 0)
print("zcl", C.ZCL_STATUS)
print("alerts", ["%04X" % a for a in m.alerts])
print("logs", m.event_log.seq, m.prepayment.snaps.seq, m.snapshots.logs[2].seq,
      m.prepayment.topups.seq, m.prepayment.debts.seq)
