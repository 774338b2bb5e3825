# Both runtimes: the OTA Upgrade client against tools/otaserver.py (the hub's
# OTA server). argv: store dir, phase, OTA file(s) built by host_tests/test_ota.py.
#   faults  -- one download through dropped, duplicated, reordered, offset-
#              corrupted, short, WAIT_FOR_DATA responses: the image on flash
#              is byte-identical and accepted;
#   corrupt -- a block with one flipped octet: the image is refused
#              (INVALID_IMAGE), nothing kept;
#   cut     -- a power cut at every n-th low-level write of a download
#              (argv[4] = n): the restarted meter resumes, never from 0, and
#              completes byte-identical;
#   ab      -- A/B activation, one step a process (argv[5] start: download and
#              activate, argv[6] good or broken (argv[4]); boot: a restart):
#              a good bundle sticks across restarts, a broken one is rolled
#              back at the next boot.
import sys
import hashlib

sys.path.append("../..")                # tools/otaserver.py (struct only)
from common import make_meter, hexs     # noqa: E402
from tools import otaserver as OS       # noqa: E402
from firmware.platform.store import PowerCut   # noqa: E402

store, phase, path = sys.argv[1], sys.argv[2], sys.argv[3]
PUB = open(path + ".pub").read().strip()
CFG = {"supplier_ds_pub": PUB}


def read(p):
    with open(p, "rb") as f:
        return f.read()


def run(m, out, clock, srv, seconds):
    for _ in range(seconds):
        clock.advance(1)
        m.tick()
        OS.pump(m, out, srv, clock.now())
        if m.ota.dl[0] >= 2 and not srv.queue:
            break


def digest(p):
    """SHA-256 of a file, read in small pieces (the board's heap)."""
    h = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while True:
                b = f.read(256)
                if not b:
                    break
                h.update(b)
    except OSError:
        return "none"
    return hexs(h.digest())[:16]


def image_on_flash(m):
    return digest(store + "/ota_img.bin")


def events(m):
    return ["%04x" % v for _, c, _, v in m.log_between(m.event_log, 0, 0xFFFFFFFF)
            if c in (0x0301, 0x0302)]


def report(m, srv, img):
    got = image_on_flash(m)
    img = digest(path)
    print("status", m.ota.read(6), "ends", ["%02x" % s for s in srv.ends],
          "identical", got == img, "alerts", ["%04x" % a for a in m.alerts], "events", events(m))


import gc
img = read(path)
gc.collect()
if phase in ("faults", "corrupt"):
    m, out, clock, met, be = make_meter(store, config=CFG)
    srv = OS.OtaServer(img)
    srv.faults = {1: "drop", 3: "dup", 5: "stale", 7: "badoff", 9: "short", 11: "wait",
                  14: "drop", 15: "drop"} if phase == "faults" else {6: "corrupt"}
    del out[:]
    m.on_aps(srv.notify(m.nwk_addr))
    OS.pump(m, out, srv, clock.now())
    run(m, out, clock, srv, 600)
    report(m, srv, img)
    print("requests", srv.requests, "restarts from 0", srv.offsets.count(0) - 1,
          "sha", image_on_flash(m))
elif phase == "cut":
    every = int(sys.argv[4])
    import os
    n = every
    while True:
        for f in os.listdir(store):
            os.remove(store + "/" + f)
        m = out = be = srv = None
        gc.collect()                       # one meter at a time in the board's heap
        m, out, clock, met, be = make_meter(store, config=CFG)
        srv = OS.OtaServer(img)
        del out[:]
        be.cut_after(n)
        cut = False
        try:
            m.on_aps(srv.notify(m.nwk_addr))
            OS.pump(m, out, srv, clock.now())
            run(m, out, clock, srv, 300)
        except PowerCut:
            cut = True
        if not cut:
            break
        at = max(srv.offsets) if srv.offsets else 0
        t = clock.now() + 60
        m = out = be = None
        gc.collect()
        m, out, clock, met, be = make_meter(store, t, CFG)   # restart
        srv.offsets = []
        del out[:]
        if m.ota.dl[0] != 1:               # the record never landed: the hub notifies again
            m.on_aps(srv.notify(m.nwk_addr))
            OS.pump(m, out, srv, clock.now())
        run(m, out, clock, srv, 300)
        first = srv.offsets[0] if srv.offsets else -1
        ok = image_on_flash(m) == digest(path) and m.ota.read(6) == 6
        # resumed from a verified offset: never past what had been asked for,
        # never from 0 once a checkpoint (1 KB) was passed
        print("cut", n, "at", at, "resumed", first, "ok", ok,
              "from0", first == 0 and at > 1088)
        n += every
    print("cuts done")
elif phase == "ab":
    from firmware.ota import client as ab
    broken = read(sys.argv[4])


    def start(img_bytes, name):
        # download + activation on the running application
        gc.collect()
        m, out, clock, met, be = make_meter(store, config=CFG)
        srv = OS.OtaServer(img_bytes)
        del out[:]
        m.on_aps(srv.notify(m.nwk_addr))
        OS.pump(m, out, srv, clock.now())
        run(m, out, clock, srv, 300)
        print(name, "downloaded status", m.ota.read(6), "held", m.ota.dl[3])
        print(name, "wrong hash", ab.activate(m, b"\0" * 32))
        print(name, "activate", ab.activate(m), "restart", getattr(m, "restart_requested", 0))
        print(name, "again", ab.activate(m))
        m.import_wh = 4242
        m.save_registers()

    def restart(name):
        from firmware.platform.store import Store, FileBackend
        d = ab.select(Store(FileBackend(store)))
        for k in ("appmain",):
            if k in sys.modules:
                del sys.modules[k]
        ok, v = True, "builtin"
        if d:
            sys.path.insert(0, d)
            try:
                import appmain
                v = appmain.VERSION
            except Exception as e:
                ok, v = False, type(e).__name__
            sys.path.remove(d)
        if not ok:
            print(name, "boot from", d[len(store):] if d else None, "failed:", v)
            return
        gc.collect()
        m, out, clock, met, be = make_meter(store, config=CFG)   # confirms at the end of boot
        print(name, "boot from", d[len(store):] if d else None, "app", v, "running",
              m.ota.read(2), "again", ab.confirm(m), "wh", m.import_wh, "events", events(m))

    # one step a process, as after a real restart: argv[5] start|boot, argv[6] a name
    if sys.argv[5] == "start":
        start(img if sys.argv[6] == "good" else broken, sys.argv[6])
    else:
        restart(sys.argv[6])
