# The boot hook of A/B activation (ota/README.md): a board's main and the
# virtual board call path(store root) before they import the application.
# Without a boot selector on flash it imports nothing (boot heap unchanged).
import os
import sys


def path(root, cur=None):
    """Put the selected application bundle (client.select: it counts a trial
    boot or rolls one back, GBCS v0.8.1 §11.5 CS06) first on sys.path in
    place of cur (the one in use, None: built-in) and return it. When that
    changes, the firmware modules loaded so far (the built-in ones select
    ran on) are dropped, so the application is imported from the bundle."""
    try:
        os.stat(root + "/bootsel.0")     # store.py: a record's first save creates slot 0
    except OSError:
        return cur
    from ..platform.store import Store, FileBackend
    from . import client
    d = client.select(Store(FileBackend(root)))
    if d != cur:
        if cur in sys.path:
            sys.path.remove(cur)
        for k in [k for k in sys.modules if k[:9] in ("firmware", "firmware.")]:
            del sys.modules[k]
        if d is not None:
            sys.path.insert(0, d)
    return d
