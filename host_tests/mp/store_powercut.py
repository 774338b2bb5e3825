# Differential: power cut at every low-level write of a record change.
from common import store_dir
from firmware.platform.store import Store, FileBackend, PowerCut


def main():
    root = store_dir()
    old = b"old" * 9
    new = b"NEW" * 13
    probe = Store(FileBackend(root + "/probe"))
    probe.save("k", old)
    w0 = probe.backend.writes
    probe.save("k", new)
    n = probe.backend.writes - w0
    print("writes per save", n)
    for cut in range(1, n + 1):
        s = Store(FileBackend(root + "/c%d" % cut))
        s.save("k", old)
        s.save("k", old)
        s.backend.cut_after(cut)
        try:
            s.save("k", new)
            print(cut, "no cut")
        except PowerCut:
            got = Store(FileBackend(root + "/c%d" % cut)).load("k")
            print(cut, "old" if got == old else ("new" if got == new else "MIX"))


main()
