# The pure-Python crypto core on whichever runtime runs this: a CAVP subset
# and the GBCS §18.4 vectors, from a JSON file written by the host test.
import sys
import json
import hashlib

import firmware.crypto as C

with open(sys.argv[1]) as f:
    V = json.load(f)
H = bytes.fromhex
ok = fail = 0


def check(cond):
    global ok, fail
    if cond:
        ok += 1
    else:
        fail += 1


for key, iv, aad, pt, ct, tag in V["gcm"]:
    got = C.gcm_encrypt(H(key), H(iv), H(aad), H(pt), len(tag) // 2)
    check(got == (H(ct), H(tag)))
    check(C.gcm_decrypt(H(key), H(iv), H(aad), H(ct), H(tag)) == H(pt))
for key, iv, aad, ct, tag in V["gcm_fail"]:
    try:
        C.gcm_decrypt(H(key), H(iv), H(aad), H(ct), H(tag))
        check(False)
    except ValueError as e:
        check(str(e) == "tag")
for pub, digest, sig, valid in V["sigver"]:
    check(C.ecdsa_verify(H(pub), H(digest), H(sig)) == valid)
for priv, pub, digest, k, sig in V["siggen"]:
    check(C.pubkey(H(priv)) == H(pub))
    check(C.ecdsa_sign(H(priv), H(digest), H(k)) == H(sig))
for priv, peer, z, valid in V["ecdh"]:
    try:
        check((C.ecdh(H(priv), H(peer)) == H(z)) == valid)
    except ValueError:
        check(not valid)
g = V["gbcs"]
E = g["entities"]
check(C.ecdh(H(E["DeviceA"]["ka_priv"]), H(E["ACB"]["ka_pub"])) == H(g["Z"]["ACB,DeviceA"]))
m = g["messages"]["V1_ECS04b_command"]
msg = H(m["hex"])
at = msg.index(b"\xdf\x09")
gh = msg[at:at + 34]
payload = msg[at + 34:at + 34 + 0x35]
signed = b"\x01" + gh[3:11] + gh[12:20] + gh[21:29] + gh[31:33] + payload
sig = C.ecdsa_sign_gbcs(H(E["SupplierA"]["ds_priv"]), signed)
check(sig == H(m["krp_signature"]))
check(C.ecdsa_verify_data(H(E["SupplierA"]["ds_pub"]), signed, sig))
z = C.ecdh(H(E["DeviceA"]["ka_priv"]), H(E["ACB"]["ka_pub"]))
key = C.kdf(z, C.other_info(H("123456789ABCDEF0"), b"\x01" + gh[3:11], H("FFFFFFFFFFFFFFFE")))
check(key == H(m["acb_mac_key"]))
mac = C.gmac(key, H("123456789ABCDEF0") + bytes(4), b"\x11" + gh + payload + b"\x40" + sig, 12)
check(mac == H(m["mac"]))
print("native" if C.NATIVE else "pure", "ok", ok, "fail", fail)
