# From a verified GBCS command to the meter (GBCS v0.8.1 §7.2.4, §7.2.9):
# an ASN.1 payload goes to asn1.py; a DLMS access-request is parsed
# (dlms.py) and its instructions run in order against the COSEM object
# model (cosem.py: (class, OBIS) -> the use-case module's handler), one
# data item and one result per instruction in the access-response.
#
# Break On Error (§7.2.4): processing stops at the first instruction that
# fails; every later one is answered other-reason (0xFA), not attempted.
# All or nothing: a Set or Action handler checks its instruction and
# stages the change (Req.stage); the staged changes run, in instruction
# order, through the command surface (firmware/commands) only when every
# instruction succeeded, inside the atomic operation core.receive holds
# with the Execution Counter (a power cut keeps both or neither). A change
# the command surface still refuses at that point answers that
# instruction's failure and stops the rest; the changes staged before it
# have run (they were whole commands of their own).
#
# An object the table does not have answers object-undefined (4); a Set or
# Action on an object that only critical use cases may change, carried by
# a non-critical message, answers read-write-denied (3): the ACB's MAC
# alone never changes what needs the supplier's signature (§6.3).
from . import cosem
from . import dlms as D

# commands result codes (firmware/commands/__init__.py) -> DLMS result:
# OK success, BAD_VALUE type-unmatched, REFUSED other-reason, NO_ROOM
# temporary-failure, DENIED read-write-denied
_RESULT = b"\x00\x0c\xfa\x02\x03"


class Req:
    """One access-request being run: the meter, the command buffer b and
    its parse p (core.parse), the payload pl, the sender's role, the
    message code, whether it is critical, and the staged changes."""

    def __init__(self, m, b, p, pl, role, crit):
        self.m = m
        self.b = b
        self.p = p
        self.pl = pl
        self.role = role
        self.mc = p[6]
        self.crit = crit
        self.todo = []
        self.k = 0                      # the instruction being run

    def stage(self, fn, *args):
        """Run fn(m, *args) -> commands result code once every instruction
        has succeeded; a (fn, args) staged twice runs once."""
        e = (fn, args)
        for t in self.todo:
            if t[1] == e:
                return
        self.todo.append((self.k, e))

    def oc(self):
        """The command's Originator Counter (8 octets)."""
        p = self.p
        return bytes(self.b[p[1]:p[1] + 8])


def execute(x, k, s, d):
    """Run instruction k (spec s, data item d): (result, Data octets)."""
    row = cosem.find(s[1], s[2])
    if row is None:
        return D.UNDEFINED, D.NULL
    if s[0] != 1 and s[0] != 4 and row[0] & cosem.F_CRITICAL and not x.crit:
        return D.DENIED, D.NULL
    r = cosem.module(row[1]).H[row[2]](x, s, d)
    if isinstance(r, int):
        return r, D.NULL
    return r


def run(m, b, p, role, crit=False):
    """The response payload of a verified command (core.receive), or None."""
    try:
        return _run(m, b, p, role, crit)
    finally:
        cosem.drop()


def _run(m, b, p, role, crit):
    pl = b[p[9]:p[9] + p[10]]
    if pl[0] != 0xD9:
        return cosem.module(5).run(m, p[6], pl)
    try:
        inv, specs, data = D.parse_request(pl)
    except (ValueError, IndexError):
        return b"\xda" + bytes(pl[1:5]) + b"\x00\x00\x00\x00"   # no instruction understood
    n = len(specs)
    datas = [D.NULL] * n
    results = [D.OTHER] * n
    x = Req(m, b, p, pl, role, crit)
    k = 0
    while k < n:
        x.k = k
        try:
            r, v = execute(x, k, specs[k], data[k])
        except (ValueError, IndexError):   # a malformed value (dlms readers)
            r, v = D.TYPE, D.NULL
        except MemoryError:
            r, v = D.TEMP_FAIL, D.NULL
        except Exception:                  # never let a handler's fault take the meter down
            r, v = D.HW_FAULT, D.NULL
        results[k] = r
        if r:
            break
        datas[k] = v
        k += 1
    if k == n:
        for i, (fn, args) in x.todo:
            try:
                r = _RESULT[fn(m, *args)]
            except MemoryError:
                r = D.TEMP_FAIL
            except Exception:
                r = D.HW_FAULT
            if r:
                results[i] = r
                for j in range(i + 1, n):
                    results[j] = D.OTHER
                break
    return D.response(inv, specs, datas, results)
