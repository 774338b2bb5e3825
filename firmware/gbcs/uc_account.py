# GBCS ESME use cases on the account objects (cosem.py group 1): the
# passive Account (class 111, ECS02), the Credits (class 112, ECS04b), the
# Token Gateway (class 115, CS01a). Handlers: h(x, spec, (start, end)) ->
# result | (result, Data) (cosem.py).
from ..compat import const
from . import dlms as D
from . import keystore as K

_NEVER = 0xFFFFFFFF
_G = const(1)                  # this module's cosem.py group


def _supplier():
    from ..commands import supplier
    return supplier


def _ecs02_commit(m, mode, at, mc, oc, desc):
    """Set the payment mode (now or at `at`) and remember a future-dated
    command for its alert (future.py, §9.2.2.3: replaces what is stored for
    this message code; stored only while ahead)."""
    from . import future
    from ..prepay import account as AC
    acc = m.account
    r = _supplier().set_payment_mode(m, mode, acc.sde, acc.sdd, at)
    if r == 0:
        future.drop(m, mc)
        future.add(m, at, mc, _G << 5 | AC.P_ACCOUNT, oc, desc, acc.pend_val[AC.P_ACCOUNT])
    return r


def took(m, param, v, at):
    """future.py: the account took the value staged for `at` (not cancelled
    or replaced by another route since)."""
    acc = m.account
    return acc.pend_at[param] != at and acc.p[param] == v


def _account(x, s, d):
    """The passive Account 0-1:19.0.0.255 (§9.2.2.7, Table 9.2.2.7):
    account_mode_and_status (2), credit_reference_list (11) and
    account_activation_time (13) make one future-datable payment-mode
    change. Immediate (all-zero date-time) or past: now; 'never' (all FF):
    cancels; later: stored, alert at activation (future.py)."""
    if s[0] != 2:
        return D.DENIED if s[0] in (1, 4) else D.UNDEFINED
    pl = x.pl
    i, j = d
    a = s[3]
    if a == 2:
        # structure { payment mode enum, account status enum }: 1 = credit
        if pl[i:j] != b"\x02\x02\x16\x01\x16\x01":
            return D.UNDEFINED if pl[i:i + 4] == b"\x02\x02\x16\x02" else D.TYPE
        x.mode = 1
        return D.SUCCESS
    if a == 11:
        D.items(pl, i, j, 0x01)
        return D.SUCCESS
    if a != 13 or getattr(x, "mode", None) is None:
        return D.UNDEFINED
    dt = D.date_time(pl, i, j)
    at = _NEVER if D.is_never(dt) else D.to_utc(dt)
    if at < 0:
        return D.TYPE
    from . import future
    if not future.room(x.m, x.mc):
        return D.TEMP_FAIL
    from ..prepay import account as AC
    x.stage(_ecs02_commit, AC.CREDIT, at, x.mc, x.oc(),
            b"\x00\x6f" + bytes(s[2]) + b"\x0d")
    return D.SUCCESS


def _credit(x, s, d):
    """Credit 0-0:19.10.{0,1,2}.255 (class 112): method 2
    set_amount_to_value with 0 on all three resets the meter balance
    (ECS04b, §18.4.1)."""
    if s[0] != 3 or s[3] != 2 or s[2][4] > 2:
        return D.UNDEFINED
    if x.pl[d[0]:d[1]] != b"\x05\x00\x00\x00\x00":
        return D.TYPE
    x.stage(_supplier().set_balance, 0)
    return D.SUCCESS


def _token_gateway(x, s, d):
    """Token Gateway 0-0:19.40.0.255 method 1 (CS01a network top-up,
    §14.4.4): octet-string(20) of the UTRN digits; the UTRN counter is the
    command OC's high 32 bits; the PTUT MAC key is Z with the supplier's
    prepayment top-up cell (§14.3.5)."""
    if s[0] != 3 or s[3] != 1:
        return D.UNDEFINED
    pl = x.pl
    i, j = d
    if j - i != 22 or pl[i] != 9 or pl[i + 1] != 20:
        return D.TYPE
    from ..prepay import utrn as U
    try:
        ptut = U.parse(bytes(pl[i + 2:j]).decode())
    except (U.UtrnError, ValueError):
        return D.TYPE
    m = x.m
    acc = m.account
    if acc.z is None:
        p = x.p
        acc.z = K.z(K.get(m), bytes(x.b[p[2]:p[2] + 8]), 1)
    x.stage(_supplier().top_up_ptut, ptut, int.from_bytes(x.oc(), "big") >> 32)
    return D.SUCCESS


H = (_account, _credit, _token_gateway)
