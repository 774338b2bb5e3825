# OTA Upgrade cluster (0x0019) client, ZCL rev 6 chapter 11 (ZSE 1.x uses it
# as is); GBCS v0.8.1 §11.4: the comms hub is the HAN's one OTA server, the
# ESME learns of an image from Image Notify and never self-activates.
#
# Resident part only: the attributes, the persisted download state and the
# command entry points. The state machine, the image checks and activation
# live in firmware/ota/ and are imported on first use (an Image Notify, a
# Query Next Image cycle, a download or an activation), so boot heap pays
# only for this module (ota/README.md).
#
# The download record "ota" (schema 5) is ota/client.py's.
from ..zcl.cluster import Cluster
from ..platform.clock import NEVER



class OtaClient(Cluster):
    ID = 0x0019
    NAME = "OTA"
    SERVER = False
    SECURE = True
    REVISION = 3
    # ZCL rev 6 Table 11-13 client attributes (kept true by ota/client.py)
    # computed from the download state (read; the 0 defaults are unused):
    # no per-attribute values
    ATTRS = (
        "0000 UpgradeServerID F0 RD 0;"
        "0001 FileOffset 23 RD 0;"
        "0002 CurrentFileVersion 23 RD 0;"
        "0003 CurrentZigBeeStackVersion 21 RD 0;"
        "0004 DownloadedFileVersion 23 RD 0;"
        "0005 DownloadedZigBeeStackVersion 21 RD 0;"
        "0006 ImageUpgradeStatus 30 RD 0;"
        "0007 ManufacturerID 21 RD 0;"
        "0008 ImageTypeID 21 RD 0;"
        "0009 MinimumBlockPeriod 21 RD 0;"
    )
    # received payloads are read in place by ota/client.py (struct, ZCL rev 6
    # §11.13): Image Notify, Query Next Image / Image Block / Upgrade End Response
    RX = (
        "00 ImageNotify Payload:REST;"
        "02 QueryNextImageResponse Payload:REST;"
        "05 ImageBlockResponse Payload:REST;"
        "07 UpgradeEndResponse Payload:REST;"
    )
    # sent (positional fields; ZCL rev 6 §11.13.4, 11.13.6, 11.13.9)
    TX = (
        "01 QueryNextImageRequest Control:18 Manuf:21 Type:21 Version:23 HwVersion?:21;"
        "03 ImageBlockRequest Control:18 Manuf:21 Type:21 Version:23 Offset:23 MaxSize:20"
        "  MinBlockPeriod?:21;"
        "06 UpgradeEndRequest Status:30 Manuf:21 Type:21 Version:23;"
    )

    # monotonic second of the next request/retry (meter slot): the class's
    # NEVER until set (an instance member only then, issue #18)
    next_due = NEVER

    def __init__(self, app):
        Cluster.__init__(self, app)
        cfg = app.cfg
        # download (persisted, ota/client.py): status, manufacturer, image
        # type, version, size, verified offset, server, server endpoint
        self.dl = [0, 0, 0, 0, 0, 0, cfg["hub_addr"], cfg["hub_ep"]]
        # outstanding request (0 none, 1 query, 2 block, 3 end), its retries,
        # the jitter generator, the running version, MinimumBlockPeriod (ms)
        self.rt = [0, 0, 0, cfg.get("fw_version", 1), 0]

    def read(self, aid):
        """ZCL rev 6 Table 11-13 client attributes, kept true from the state:
        FileOffset and DownloadedFileVersion 0xFFFFFFFF when not downloading
        / holding an image; UpgradeServerID unknown (the hub's nwk address is
        used, GBCS: the CH is the one server)."""
        if aid > 9:
            return self.REVISION
        d = self.dl
        s = d[0]
        cfg = self.app.cfg
        return (0xFFFFFFFFFFFFFFFF, d[5] if s == 1 else 0xFFFFFFFF, self.rt[3], 2,
                d[3] if s else 0xFFFFFFFF, 2 if s else 0xFFFF, s,
                cfg.get("ota_manuf", 0x1234), cfg.get("ota_image_type", 0), self.rt[4])[aid]

    def boot(self):
        """End of meter.boot: with a download record or a boot selector on
        flash (ota/client.py), load the one and confirm the application
        (A/B trial) by the other; nothing is imported without them."""
        rd = self.app.store.backend.read_at
        # (a record's first save creates its slot 0 file, which stays, maybe
        # torn: store.py save_parts)
        if rd("ota.0", 0, 0) is not None or rd("bootsel.0", 0, 0) is not None:
            from ..ota import client
            client.boot(self)

    def due(self, mono):
        from ..ota import client
        client.due(self, mono)

    def dispatch(self, req, buf, off, end):
        from ..ota import client
        return client.dispatch(self, req, buf, off, end)

    # the handlers (ota/client.py dispatch runs them; named for the registry's readers)
    on_ImageNotify = on_QueryNextImageResponse = on_ImageBlockResponse = \
        on_UpgradeEndResponse = dispatch
