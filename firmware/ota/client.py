# OTA Upgrade client state machine and image checks (ZCL rev 6 ch. 11;
# GBCS v0.8.1 §11.2-11.4). Imported on first use by clusters/ota_client.py;
# every function takes the cluster c (its attributes, c.dl the persisted
# download, c.rt the outstanding request) and the monotonic second.
#
# Download: Query Next Image -> Image Block Requests from the verified
# offset -> verification -> Upgrade End Request (SUCCESS or INVALID_IMAGE)
# -> Upgrade End Response (GBCS §11.4: UpgradeTime is always 0xFFFFFFFF and
# the ESME never self-activates: it waits for CS06: activate() below, the GBCS layer's entry point).
# Each block is checked against the request (image identity, the offset
# asked for, size within what was asked and the image) before it is written
# straight to the image file at its offset; the offset is saved (the record
# of ota_client.py) at every _CKPT boundary, after the writes it covers, so
# a power cut resumes from the last saved offset: never from 0, never with a
# gap (a block written but not yet covered is fetched and written again).
# Stray, duplicated, reordered and malformed responses are dropped; the
# timeout re-requests the same offset with back-off, and after _RETRIES the
# client waits _BACKOFF and starts again from the same offset (no stall).
import os
import struct
import hashlib

from ..compat import const
from ..drlc.events import Rng
from ..platform.clock import NEVER
from ..zcl.status import DecodeError, ZclError

IMG = "ota_img.bin"
# The download record (store.py load_rec, schema 5, version 1, 20 octets):
# ImageUpgradeStatus u8, manufacturer code u16, image type u16, file version
# u32, total image size u32, verified offset u32, server nwk address u16,
# server endpoint u8. Offset: every octet below it is on flash in IMG;
# saved after the block writes it covers.
KEY = "ota"
_SCHEMA = const(10)
_VERSION = const(1)
_REC = "<BHHIIIHB"
# ZCL rev 6 Table 2-12 status codes of the OTA cluster
_SUCCESS = const(0x00)
_ABORT = const(0x95)
_INVALID_IMAGE = const(0x96)
_WAIT_FOR_DATA = const(0x97)
_NO_IMAGE = const(0x98)
# ImageUpgradeStatus (ZCL rev 6 Table 11-16)
_NORMAL = const(0)
_DOWNLOADING = const(1)
_COMPLETE = const(2)
_COUNTDOWN = const(4)
_EXTERNAL = const(6)       # waiting to upgrade via external event (GBCS CS06)
# outstanding request kinds (c.rt[0])
_Q = const(1)
_B = const(2)
_E = const(3)
_TIMEOUT = const(5)       # s for an answer; doubled per retry (up to 16x)
_RETRIES = const(5)
_BACKOFF = const(600)     # s after the retries are spent; then the same offset again
_RESUME = const(5)        # s after boot before a download under way resumes
_CKPT = const(1024)       # offset saved at every multiple of this (and at the end)
_MAX_IMAGE = const(0x40000)   # default size limit (cfg ota_max), also bounded by free flash
_HDR_MIN = const(56)      # OTA header without optional fields (ZCL rev 6 §11.4.2)
_TRAILER = const(66)      # GBCS §11.2.3: force replace 1, 0x40, signature 64
_MAGIC = const(0x0BEEF11E)
# event log code (value: ZCL status << 8 | reason) and GBCS §11.4 alerts
_EV_OTA = const(0x0301)
_AL_RECEIPT = const(0x8072)    # Firmware Distribution Receipt (success)
_AL_FAILURE = const(0x801C)    # image discarded
_R_OK = const(1)
_R_HEADER = const(2)
_R_IDENTITY = const(3)     # manufacturer code or image type not ours
_R_HARDWARE = const(4)     # hardware version outside the image's range
_R_DOWNGRADE = const(5)    # not newer than the running version
_R_SIZE = const(6)         # too large for flash / the limit, or too small
_R_SIGNATURE = const(7)
_R_LAYOUT = const(8)       # truncated or not the GBCS upgrade image layout
_R_ABORTED = const(9)      # the server aborted the download


def _decode(d):
    r = list(struct.unpack(_REC, d))   # exactly 20 octets, or it raises
    if r[0] > 6 or r[5] > r[4]:
        raise ValueError("ota record")
    return r


def save(c):
    c.app.save_record(KEY, ((struct.pack(_REC, *c.dl),), _SCHEMA, _VERSION, True))


def boot(c):
    """At the end of meter.boot: the application booted, confirm it (A/B
    trial, confirm below); the download record (bootrec.SCHEMAS lists it:
    unreadable, the client boots with no download, the meter alerts)."""
    confirm(c.app)
    got = c.app.store.load_rec(KEY, _SCHEMA, _VERSION, _decode)
    if not got:
        return
    c.dl[:] = got
    s = got[0]
    if s == _COUNTDOWN:              # an upgrade time passed while off: wait for the command
        c.dl[0] = _EXTERNAL
    elif s == _COMPLETE:             # the Upgrade End Request may not have gone out
        c.rt[0] = _E
    if s == _DOWNLOADING or s == _COMPLETE:
        c.next_due = c.app.clock.mono() + _RESUME


def dispatch(c, req, buf, off, end):
    """A received command (zcl/cluster.py Cluster.dispatch, run here): its
    payload as a view of the frame (no copy; a block goes from it to flash)."""
    cmd = req.hdr.cmd
    if cmd not in (0, 2, 5, 7):
        raise ZclError(0x81)            # UNSUP_CLUSTER_COMMAND
    return _HANDLERS[cmd >> 1](c, req, memoryview(buf)[off:end])


def _need(r, n):
    if len(r) < n:
        raise DecodeError("ota")        # MALFORMED_COMMAND


def _idle(c, mono):
    c.rt[0] = c.rt[1] = 0
    p = c.app.cfg.get("ota_query_s", 0)     # periodic query (plain ZSE; GBCS pushes)
    c.next_due = mono + p if p else NEVER


def _await(c, kind, mono):
    rt = c.rt
    if rt[0] != kind:
        rt[1] = 0
    rt[0] = kind
    c.next_due = mono + (_TIMEOUT << min(rt[1], 4))


def due(c, mono):
    rt = c.rt
    dl = c.dl
    if rt[0]:                            # no answer in time
        rt[1] += 1
        if rt[1] > _RETRIES:
            k = rt[0]
            rt[0] = rt[1] = 0
            if k == _B:                  # keep the download: the same offset later
                c.next_due = mono + _BACKOFF
            else:
                _idle(c, mono)
            return
        k = rt[0]
    else:
        k = _B if dl[0] == _DOWNLOADING else _Q
    if k == _B:
        if dl[5] == dl[4]:               # all on flash; a cut came before the outcome
            _finish(c, mono)
        else:
            _block_req(c, mono)
    elif k == _E:
        _end_req(c, _SUCCESS if dl[0] >= _COMPLETE else _INVALID_IMAGE, mono)
    elif dl[0] == _COUNTDOWN:
        activate(c.app)
    else:
        query(c, mono)


def query(c, mono):
    c.send(c.dl[6], c.dl[7], c.app.esi_ep, "QueryNextImageRequest",
           (1, c.read(7), c.read(8), c.rt[3], c.app.cfg.get("hw_version", 1)))
    _await(c, _Q, mono)


def _max_data(c):
    n = c.app.zcl.limit(True) - 17       # ZCL header 3 + Image Block Response fields 14
    return min(n, c.app.cfg.get("ota_block", 64))


def _block_req(c, mono):
    dl = c.dl
    p = c.rt[4]                          # MinimumBlockPeriod: sent when there is one
    c.send(dl[6], dl[7], c.app.esi_ep, "ImageBlockRequest",
           (2 if p else 0, dl[1], dl[2], dl[3], dl[5], _max_data(c), p)[:7 if p else 6])
    _await(c, _B, mono)


def _end_req(c, status, mono):
    dl = c.dl
    c.send(dl[6], dl[7], c.app.esi_ep, "UpgradeEndRequest", (status, dl[1], dl[2], dl[3]))
    if status == _SUCCESS:
        _await(c, _E, mono)
    else:
        _idle(c, mono)


def _outcome(c, status, reason, alert):
    """Event log entry (and the GBCS alert) of a download's outcome."""
    m = c.app
    m.log(m.event_log, _EV_OTA, (status << 8) | reason)
    if alert:
        m.alert(alert)


def notify(c, req, r):
    """Image Notify (ZCL rev 6 §11.13.3): only from the hub (GBCS: the one
    OTA server); the payload type says which of manufacturer, image type
    and version follow; a broadcast one is answered with probability
    QueryJitter/100 (§11.13.3.4: a random 1..100 not above it)."""
    c.require_supplier(req)
    if c.dl[0] == _DOWNLOADING:
        return None
    _need(r, 2)
    # payload type 3 names the version: the one running is no news (the
    # manufacturer and image type are checked on the Query Next Image Response)
    if r[0] == 3 and len(r) >= 10 and struct.unpack_from("<I", r, 6)[0] == c.rt[3]:
        return None
    if req.aps.broadcast:             # a unicast one is always answered
        jit = r[1]
        if c.rt[2] == 0:
            c.rt[2] = Rng(c.app.ieee ^ 0x0A5A)
        if c.rt[2].below(99) + 1 > jit:
            return None
    c.dl[6] = req.aps.src
    c.dl[7] = req.aps.src_ep
    query(c, c.app.clock.mono())
    return None


def _room(c):
    """Octets the image may take: the configured limit and free flash."""
    n = c.app.cfg.get("ota_max", _MAX_IMAGE)
    try:
        s = os.statvfs(c.app.store.backend.root)
        n = min(n, s[0] * s[4])
    except Exception:         # no statvfs (or no root): the limit alone
        pass
    return n


def query_rsp(c, req, r):
    if c.rt[0] != _Q:
        return None                    # unsolicited
    mono = c.app.clock.mono()
    _need(r, 1)
    if r[0] != _SUCCESS:               # NO_IMAGE_AVAILABLE and anything else: nothing to do
        _idle(c, mono)
        return None
    _need(r, 13)
    m, t, ver, size = struct.unpack_from("<HHII", r, 1)
    dl = c.dl
    reason = 0
    if m != c.read(7) or t != c.read(8):
        reason = _R_IDENTITY
    elif ver <= c.rt[3] and not c.app.cfg.get("ota_allow_downgrade"):
        reason = _R_DOWNGRADE
    elif size < _HDR_MIN + _TRAILER + 1 or size > _room(c):
        reason = _R_SIZE
    if reason:
        _outcome(c, _ABORT, reason, 0)
        c.send(req.aps.src, req.aps.src_ep, c.app.esi_ep, "UpgradeEndRequest",
               (_ABORT, m, t, ver))
        _idle(c, mono)
        return None
    if dl[0] >= _COMPLETE and dl[1:5] == [m, t, ver, size]:
        _end_req(c, _SUCCESS, mono)     # held already: tell the server again
        return None
    if dl[0] != _DOWNLOADING or dl[1:5] != [m, t, ver, size]:
        c.app.store.backend.remove(IMG)     # a new image: the old one goes first
        dl[:] = [_DOWNLOADING, m, t, ver, size, 0, req.aps.src, req.aps.src_ep]
        save(c)
    _block_req(c, mono)
    return None


def block_rsp(c, req, r):
    dl = c.dl
    if dl[0] != _DOWNLOADING or c.rt[0] != _B:
        return None                    # stray: not what we wait for
    _need(r, 1)
    st = r[0]
    mono = c.app.clock.mono()
    if st == _SUCCESS:
        if len(r) < 14:
            return None
        m, t, ver, off, n = struct.unpack_from("<HHIIB", r, 1)
        # the block must be the one asked for: identity, offset, size
        if m != dl[1] or t != dl[2] or ver != dl[3] or off != dl[5] or n == 0 or \
                n > _max_data(c) or len(r) != 14 + n or off + n > dl[4]:
            return None                # dropped; the timeout asks again
        c.app.store.backend.write_at(IMG, off, r[14:])
        end = off + n
        dl[5] = end
        if off < _HDR_MIN + 13 <= end:
            reason = _header(c)[0]     # early: no point fetching a foreign image
            if reason:
                return _fail(c, reason, mono)
        if end // _CKPT != off // _CKPT or end == dl[4]:
            save(c)
        if end == dl[4]:
            return _finish(c, mono)
        p = c.rt[4]
        if p:                          # MinimumBlockPeriod (ms): the next request waits
            c.rt[0] = 0
            c.next_due = mono + (p + 999) // 1000
        else:
            _block_req(c, mono)
        return None
    if st == _WAIT_FOR_DATA and len(r) >= 11:
        now, at, p = struct.unpack_from("<IIH", r, 1)
        c.rt[4] = p
        c.rt[0] = c.rt[1] = 0
        c.next_due = mono + max(1, min(at - now, 86400) if at > now else 1)
        return None
    # ABORT (and any other status): the server gave this download up
    _outcome(c, st, _R_ABORTED, 0)
    _discard(c)
    _idle(c, mono)
    return None


def _discard(c):
    c.dl[0] = _NORMAL
    save(c)
    c.app.store.backend.remove(IMG)


def _fail(c, reason, mono):
    m = c.app
    h = m.begin()
    _outcome(c, _INVALID_IMAGE, reason, _AL_FAILURE)
    _discard(c)
    m.end(h)
    _end_req(c, _INVALID_IMAGE, mono)
    return None


def _finish(c, mono):
    reason = verify(c)
    if reason != _R_OK:
        return _fail(c, reason, mono)
    m = c.app
    h = m.begin()
    c.dl[0] = _COMPLETE
    save(c)
    _outcome(c, _SUCCESS, _R_OK, _AL_RECEIPT)
    m.end(h)
    _end_req(c, _SUCCESS, mono)
    fv = getattr(m, "firmware_verified", None)
    if fv is not None:          # the WAN's receipt alert (Meter.firmware_verified)
        _, hl, end, _ = layout(c)
        fv(image_hash(c, hl, end))
    return None


def _header(c):
    """(reason, header length, ...) of the OTA header on flash (ZCL rev 6
    §11.4.2; GBCS §11.2.3 Table 11.2.3 fixes field control 0x0004)."""
    rd = c.app.store.backend.read_at
    h = rd(IMG, 0, 69)
    dl = c.dl
    if not h or len(h) < _HDR_MIN:
        return _R_LAYOUT, 0
    magic, hv, hl, fc, m, t, ver = struct.unpack_from("<IHHHHHI", h, 0)
    total = struct.unpack_from("<I", h, 52)[0]
    want = _HDR_MIN + (fc & 1) + 8 * ((fc >> 1) & 1) + 4 * ((fc >> 2) & 1)
    if magic != _MAGIC or hv != 0x0100 or fc & ~7 or hl != want or len(h) < hl:
        return _R_HEADER, hl
    if m != dl[1] or t != dl[2] or ver != dl[3]:
        return _R_HEADER, hl
    if total != dl[4]:
        return _R_LAYOUT, hl            # truncated (or padded) against its own header
    if fc & 2 and struct.unpack_from("<Q", h, _HDR_MIN + (fc & 1))[0] != c.app.ieee:
        return _R_HEADER, hl            # a device-specific file for another device
    if not fc & 4:
        return _R_HEADER, hl            # GBCS: hardware versions present
    lo, hi = struct.unpack_from("<HH", h, hl - 4)
    if not lo <= c.app.cfg.get("hw_version", 1) <= hi:
        return _R_HARDWARE, hl
    return 0, hl


def image_hash(c, hl, end):
    """SHA-256 of the manufacturer image [hl, end) read back from flash."""
    rd = c.app.store.backend.read_at
    s = hashlib.sha256()
    off = hl
    while off < end:
        b = rd(IMG, off, min(256, end - off))
        if not b:
            raise ValueError
        s.update(b)
        off += len(b)
    return s.digest()


def layout(c):
    """(reason, header length, manufacturer image end, signature) of the
    image on flash: GBCS §11.2.2-11.2.4 Upgrade Image = Manufacturer Image
    || Force Replace (1) || 0x40 || signature r || s (64)."""
    reason, hl = _header(c)
    if reason:
        return reason, 0, 0, None
    size = c.dl[4]
    rd = c.app.store.backend.read_at
    last = rd(IMG, size - 1, 2)
    if last is None or len(last) != 1:
        return _R_LAYOUT, 0, 0, None          # truncated (or longer than announced)
    end = size - _TRAILER
    tr = rd(IMG, end, _TRAILER)
    if end <= hl or tr[1] != 0x40:
        return _R_LAYOUT, 0, 0, None
    return 0, hl, end, tr[2:]


def verify(c):
    """_R_OK, or why the image on flash is not acceptable: header, layout,
    the supplier's ECDSA P-256 signature over the manufacturer image (the
    only ECDSA verification, GBCS §11.4 step 1; the key is the supplier
    digitalSignature trust anchor, config supplier_ds_pub)."""
    reason, hl, end, sig = layout(c)
    if reason:
        return reason
    pub = c.app.cfg.get("supplier_ds_pub", "")
    if not pub:
        return _R_SIGNATURE
    from ..crypto import ecdsa_verify
    import binascii
    try:
        ok = ecdsa_verify(binascii.unhexlify(pub), image_hash(c, hl, end), sig)
    except ValueError:
        ok = False
    return _R_OK if ok else _R_SIGNATURE


def end_rsp(c, req, r):
    """Upgrade End Response (ZCL rev 6 §11.13.9.6): GBCS always sends
    UpgradeTime 0xFFFFFFFF and the ESME waits for CS06; a plain ZSE server's
    time is followed only with config ota_self_activate."""
    dl = c.dl
    if dl[0] != _COMPLETE or c.rt[0] != _E:
        return None
    _need(r, 16)
    now, at = struct.unpack_from("<II", r, 8)
    if struct.unpack_from("<I", r, 4)[0] not in (dl[3], 0xFFFFFFFF):
        return None                    # another version (manufacturer, type: wildcards allowed)
    mono = c.app.clock.mono()
    _idle(c, mono)
    if at == 0xFFFFFFFF or not c.app.cfg.get("ota_self_activate"):
        dl[0] = _EXTERNAL
    else:
        dl[0] = _COUNTDOWN
        c.next_due = mono + (at - now if now and at > now else (0 if now else at))
    save(c)
    return None


_HANDLERS = (notify, query_rsp, block_rsp, end_rsp)     # by command id >> 1: 0, 2, 5, 7


# A/B activation of an application bundle (GBCS v0.8.1 §11.5 CS06; ZCL rev 6
# §11.11 for plain ZSE upgrade times): select() at boot (before the
# application is imported), activate(m) on the command, confirm(m) once the
# meter serves ZCL.
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
SEL_KEY = "bootsel"
_SEL_SCHEMA = const(11)
_SEL_VERSION = const(1)
_FMT = "<BBBBIIB"
_TRIES = const(1)          # boots a trial bundle gets to confirm
_NONE = const(0xFF)
_NO_IMAGE_HELD = const(1)
_HASH_MISMATCH = const(2)
_FAILURE = const(3)
_EV_ACTIVATE = const(0x0302)    # event log: value = outcome << 16 | version & 0xFFFF
_BUF = const(256)
_BAK = "/recbak"


def _sel_decode(d):
    return list(struct.unpack(_FMT, d))   # exactly 13 octets, or it raises


def _load(store):
    return store.load_rec(SEL_KEY, _SEL_SCHEMA, _SEL_VERSION, _sel_decode) or [_NONE, _NONE, 0, 0, 0, 0, 0]


def _save(store, sel):
    store.save(SEL_KEY, struct.pack(_FMT, *sel), _SEL_SCHEMA, _SEL_VERSION)


def slot_dir(store, slot):
    return store.backend.root + ("/app_a", "/app_b")[slot]


def _recs(d):
    """The record slot files (store.py: <key>.0, <key>.1) and the journal
    in directory d but the selector's; None: no such directory."""
    try:
        ns = os.listdir(d)
    except OSError:
        return None
    return [n for n in ns if (n[-2:] in (".0", ".1") or n == "journal") and n[:8] != "bootsel."]


def select(store):
    """At boot, before the application is imported: the directory to put
    first on the module path (None: the built-in application). Counts a
    trial boot; a trial bundle out of tries is rolled back here.

    Records across a rollback: a trial bundle may migrate records (save a
    newer version the old application cannot decode: it would boot in safe
    states, store.py load_rec). So the records are copied to <root>/recbak
    at the trial's first boot, before its application runs (no save of the
    old one is lost), and copied back, the trial's new files removed, when
    it is rolled back. Both steps come before the selector write that ends
    them, so a power cut only makes the next boot do them again."""
    sel = _load(store)
    if sel[2]:
        from ..platform.store import FileBackend
        r = store.backend
        d = r.root + _BAK
        if sel[3] >= _TRIES:                 # it never confirmed: back to the old one
            k = _recs(d)
            if k is not None:                # no backup (a trial from before it): records kept
                b = FileBackend(d)
                for n in _recs(r.root):
                    if n not in k:
                        r.remove(n)
                for n in k:
                    r.write(n, b.read(n))
            sel = [sel[1], sel[0], 0, 0, sel[5], sel[4], _FAILURE]
        else:
            b = FileBackend(d)
            _clear(d)
            for n in _recs(r.root):
                b.write(n, r.read(n))
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
    try:
        os.mkdir(p)
    except OSError:
        pass


def _clear(d):
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
        return _NO_IMAGE_HELD, run
    reason, hl, end, sig = layout(c)
    if reason:
        return _NO_IMAGE_HELD, run
    if want_hash is not None and image_hash(c, hl, end) != want_hash:
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
    save(c)
    m.end(h)
    st.backend.remove(IMG)
    m.restart_requested = True
    return _SUCCESS, run


def _unpack(c, d, off, end):
    """The bundle archive [off, end) of the image file into directory d
    (emptied first), one file at a time, _BUF octets at a time."""
    rd = c.app.store.backend.read_at
    _mkdir(d)
    _clear(d)
    h = rd(IMG, off, 7)
    if h[:5] != b"OEAB\x01":
        raise ValueError
    n = struct.unpack_from("<H", h, 5)[0]
    off += 7
    for _ in range(n):
        ln = rd(IMG, off, 1)[0]
        name = bytes(rd(IMG, off + 1, ln)).decode()
        size = struct.unpack("<I", rd(IMG, off + 1 + ln, 4))[0]
        off += 5 + ln
        if ".." in name or name[:1] == "/" or off + size > end:
            raise ValueError
        k = name.rfind("/")
        p = d
        if k > 0:
            for part in name[:k].split("/"):
                p += "/" + part
                _mkdir(p)
        with open(d + "/" + name, "wb") as f:
            done = 0
            while done < size:
                b = rd(IMG, off + done, min(_BUF, size - done))
                if not b:
                    raise ValueError
                f.write(b)
                done += len(b)
        off += size
    if off != end:
        raise ValueError


def use(root, cur=None):
    """The boot hook (a board's drivers/board.py start, the virtual board's
    main.py), called before the application is imported and only when a
    selector exists (<root>/bootsel.0: without one nothing of OTA is
    imported at boot). Puts the bundle select() names first on sys.path in
    place of cur (the one in use, None: built-in) and returns it. When that
    changes, the firmware modules loaded so far (the built-in ones select
    ran on) are dropped, so the application is imported from the bundle (a
    whole firmware package)."""
    import sys
    from ..platform.store import Store, FileBackend
    d = select(Store(FileBackend(root)))
    if d != cur:
        if cur in sys.path:
            sys.path.remove(cur)
        for k in [k for k in sys.modules if k[:9] in ("firmware", "firmware.")]:
            del sys.modules[k]
        if d:
            sys.path.insert(0, d)
    return d
