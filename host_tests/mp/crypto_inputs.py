# Fixed inputs for the crypto benchmarks (host and MicroPython sides):
# GBCS §18.4 DeviceA DS key and the ACB KA public key.
KEY = bytes(range(16))
IV = bytes(12)
PRIV = bytes.fromhex("FC9BB773E6C8350ADB4051AC913CA470CF422D8A53DE8C881DBFFEB40BA47051")
PEER = bytes.fromhex("292F97FEC1B30C3849B806D90446E4A037D6D178019796E76E5255BDC3A08E34"
                     "6F9F6E6E7E8F6A4D55962D2F2D0E16CFF27BF3F925FA7DBAFD15A8B1DC695894")
DIGEST = bytes(range(32))
K = bytes(range(1, 33))
