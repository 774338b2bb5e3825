# A/B activation of an application bundle (GBCS v0.8.1 §11.5 CS06; ZCL rev 6
# §11.11 for plain ZSE upgrade times). Imported only to activate, at boot by
# select() and by confirm().
#
# On flash (the store's directory: littlefs on a board, a host directory on
# the virtual board): app_a/ and app_b/ hold two application bundles (the
# deploy bundle's files, docs/deploy.md), and the boot selector record
# "bootsel" (store.py load_rec, schema 6, version 1): active u8 (0 app_a, 1
# app_b, 0xFF the built-in/frozen application), previous u8, trial u8 (1:
# the active bundle has not confirmed yet), tries u8 (boots of it so far),
# active version u32, previous version u32, last outcome u8.
#
# activate(m): the held image's manufacturer image (an application bundle
# archive, tools/otaimage.py) is unpacked into the slot not in use, the old
# one kept; the selector then names it, on trial (that one record write is
# the commit point: a power cut before it leaves the old application
# selected, after it the new one). The board restarts; select() at boot puts
# the selected slot first on the module path and counts the trial boot; a
# trial bundle that fails to boot (or to reach confirm()) is rolled back at
# the next boot (_TRIES); confirm(m), called once the meter serves ZCL,
# ends the trial and sets CurrentFileVersion. Outcome codes are CS06's
# activateImageResponseCode (GBCS §11.5): 0 success, 1 noImageHeld, 2
# hashMismatch, 3 activationFailure.
import struct

from ..compat import const
from . import client as O

KEY = "bootsel"
_COMPLETE = const(2)       # ota/client.py ImageUpgradeStatus Download complete
_SCHEMA = const(6)
_VERSION = const(1)
_FMT = "<BBBBIIB"
_TRIES = const(1)          # boots a trial bundle gets to confirm
_NONE = const(0xFF)
_SUCCESS = const(0)
_NO_IMAGE = const(1)
_HASH_MISMATCH = const(2)
_FAILURE = const(3)
_EV_ACTIVATE = const(0x0302)    # event log: value = outcome << 16 | version & 0xFFFF
_BUF = const(256)


def _decode(d):
    if len(d) != 13:
        raise ValueError("bootsel")
    return list(struct.unpack(_FMT, d))


def _load(store):
    return store.load_rec(KEY, _SCHEMA, _VERSION, _decode) or [_NONE, _NONE, 0, 0, 0, 0, 0]


def _save(store, sel):
    store.save(KEY, struct.pack(_FMT, *sel), _SCHEMA, _VERSION)


def slot_dir(store, slot):
    return store.backend.root + ("/app_a", "/app_b")[slot]


def select(store):
    """At boot, before the application is imported: the directory to put
    first on the module path (None: the built-in application). Counts a
    trial boot; a trial bundle out of tries is rolled back here."""
    sel = _load(store)
    if sel[2]:
        if sel[3] >= _TRIES:                 # it never confirmed: back to the old one
            sel[0], sel[1] = sel[1], sel[0]
            sel[4], sel[5] = sel[5], sel[4]
            sel[2] = sel[3] = 0
            sel[6] = _FAILURE
        else:
            sel[3] += 1
        _save(store, sel)
    return None if sel[0] == _NONE else slot_dir(store, sel[0])


def confirm(m):
    """The running application serves ZCL: end its trial; log the outcome
    of the last activation once. Returns (outcome or None, version)."""
    st = m.store
    sel = _load(st)
    out = None
    if sel[2]:
        sel[2] = sel[3] = 0
        sel[6] = _SUCCESS
        out = _SUCCESS
        _save(st, sel)
    elif sel[6] == _FAILURE:                  # rolled back at this boot
        out = _FAILURE
        sel[6] = 0xFE                        # reported
        _save(st, sel)
    if sel[0] != _NONE:
        m.ota.rt[3] = sel[4]
    if out is not None:
        m.log(m.event_log, _EV_ACTIVATE, (out << 16) | (m.ota.rt[3] & 0xFFFF))
    return out, m.ota.rt[3]


def _mkdir(p):
    import os
    try:
        os.mkdir(p)
    except OSError:
        pass


def _clear(d):
    import os
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        p = d + "/" + n
        try:
            os.remove(p)
        except OSError:
            _clear(p)
            try:
                os.rmdir(p)
            except OSError:
                pass


def activate(m, want_hash=None):
    """Activate the held image (CS06 with its manufacturer image hash, or
    the Upgrade End Response's time): (outcome, running version). On
    success the board must restart (m.restart_requested is set)."""
    c = m.ota
    run = c.rt[3]
    if c.dl[0] < _COMPLETE:
        return _NO_IMAGE, run
    reason, hl, end, sig = O.layout(c)
    if reason:
        return _NO_IMAGE, run
    if want_hash is not None and O.image_hash(c, hl, end) != want_hash:
        return _HASH_MISMATCH, run          # GBCS §11.5: never activate on a mismatch
    st = m.store
    sel = _load(st)
    slot = 0 if sel[0] != 0 else 1
    try:
        _unpack(c, slot_dir(st, slot), hl, end)
    except (ValueError, OSError, IndexError):
        m.log(m.event_log, _EV_ACTIVATE, (_FAILURE << 16) | (run & 0xFFFF))
        return _FAILURE, run
    h = m.begin()
    _save(st, [slot, sel[0], 1, 0, c.dl[3], run, 0])   # the commit point
    c.dl[0] = 0                  # ImageUpgradeStatus Normal
    O.save(c)
    m.end(h)
    st.backend.remove(O.IMG)
    m.restart_requested = True
    return _SUCCESS, run


def _unpack(c, d, off, end):
    """The bundle archive [off, end) of the image file into directory d
    (emptied first), one file at a time, _BUF octets at a time."""
    rd = c.app.store.backend.read_at
    _mkdir(d)
    _clear(d)
    h = rd(O.IMG, off, 7)
    if h[:5] != b"OEAB\x01":
        raise ValueError("bundle")
    n = struct.unpack_from("<H", h, 5)[0]
    off += 7
    for _ in range(n):
        ln = rd(O.IMG, off, 1)[0]
        name = bytes(rd(O.IMG, off + 1, ln)).decode()
        size = struct.unpack("<I", rd(O.IMG, off + 1 + ln, 4))[0]
        off += 5 + ln
        if ".." in name or name[:1] == "/" or off + size > end:
            raise ValueError("bundle")
        k = name.rfind("/")
        p = d
        if k > 0:
            for part in name[:k].split("/"):
                p += "/" + part
                _mkdir(p)
        with open(d + "/" + name, "wb") as f:
            done = 0
            while done < size:
                b = rd(O.IMG, off + done, min(_BUF, size - done))
                if not b:
                    raise ValueError("bundle")
                f.write(b)
                done += len(b)
        off += size
    if off != end:
        raise ValueError("bundle")
