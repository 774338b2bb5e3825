# Both runtimes: the two PTUT layouts (later GBCS / RTDS first, GBCS v0.8.1
# as the fallback) through the account's top-up entry points, keyed in
# (reconstructed counter) and CS01a (counter from the command), printing
# every outcome and the account afterwards. Part 1 uses codes the host's
# supplier tool made with the test keys (argv[2], JSON: the unix port has
# no OpenSSL); part 2 the DCC RTDS CS01a commands and gbcs-parser UTRNs
# (../vectors/rtds-cs01a.json), with the RTDS Z given to the account (the
# ESME's private key is not published).
import json
import sys

from firmware.prepay import utrn as U
from firmware.prepay import account as AC


class App:
    def alert(self, code):
        pass

    def account_changed(self):
        pass

    def mode_changed(self):
        pass

    def topup_keys(self):
        return self.keys


def unhex(s):
    return bytes(int(s[i:i + 2], 16) for i in range(0, len(s), 2))


def account(keys, z=None):
    app = App()
    app.keys = keys
    a = AC.Account(app.alert, None)
    a.keys = app.topup_keys
    a.z = z
    return a


def attempt(a, tag, route, code, counter=-1):
    try:
        if route == "net":
            v = a.top_up_ptut(U.parse(code), counter)
        else:
            v = a.top_up_code(code, U.FLAG_LOCAL)
        r = 0
    except U.UtrnError as e:
        r, v = e.args[0], 0
    c = a.cache
    print(tag, route, r, v, a.mb, c.n, c.lowest(), c.highest())


with open(sys.argv[2]) as f:
    inp = json.load(f)
k = inp["keys"]
keys = (unhex(k["ka_priv"]), unhex(k["supplier_topup_pub"]), unhex(k["supplier_id"]),
        unhex(k["entity_id"]))
a = account(keys)
for case in inp["cases"]:
    if case[0] == "new":                     # a fresh account (empty cache)
        a = account(keys if case[1] else None)
        print("new", case[1])
        continue
    tag, route, code = case[0], case[1], case[2]
    p = U.parse(code, False)
    print("read", tag, U.fields(p, U.LATER)[:4], U.fields(p, U.V081)[:4])
    attempt(a, tag, route, code, case[3] if len(case) > 3 else -1)

with open("../vectors/rtds-cs01a.json") as f:
    v = json.load(f)
sup, dev = unhex(v["supplier_id"]), unhex(v["device_id"])
a = account((b"\x01", b"\x02", sup, dev), unhex(v["z_topup"]))
for u in v["parser_utrns"][:1]:
    attempt(a, "parser%d" % u["counter"], "key", u["utrn"])
for cmd in v["cs01a_commands"]:
    b = unhex(cmd["hex"])
    i = b.index(b"\xdf\x09")                 # general signing: CRA, OC, titles, ...
    oc = int.from_bytes(b[i + 3:i + 11], "big")
    j = b.index(b"\x00\x73\x00\x00\x13\x28\x00\xff\x01\x01\x09\x14")   # Token Gateway 0-0:19.40.0.255 m1
    utrn = b[j + 12:j + 32].decode()
    p = U.parse(utrn)
    print("rtds", cmd["variant"], oc >> 32, utrn, U.fields(p)[:4])
    route = "net" if cmd["variant"] == "SUCCESS" else "key"
    attempt(a, "rtds" + cmd["variant"], route, utrn, oc >> 32)
    attempt(a, "replay" + cmd["variant"], route, utrn, oc >> 32)
for u in v["parser_utrns"][1:2]:
    attempt(a, "parser%d" % u["counter"], "key", u["utrn"])
print("ledger", a.credited, a.ledger_ok())
