# The meter's clusters, one table: (cluster class, endpoint, ZSE device id
# or None) in the order Meter.__init__ registers them (firmware/meter.py,
# through register() below). The host tools take their cluster tables from
# here too (tools/zcl_host.py), so a cluster added to the meter is known to
# the bench, the hub simulator and the captures at once.
#
# Endpoint layout (GBCS §7.4, Table 7.4): one "Electricity ESI Endpoint" for
# a single-phase ESME, ZSE device id 0x0500 (Energy Service Interface), with
# every cluster of the meter on it.
# (A module of its own rather than the package's __init__, so importing one
# cluster module does not import them all.)
from ..compat import const
from .basic import Basic
from .identify import Identify
from .metering import Metering
from .time_client import TimeClient
from .drlc_client import DrlcClient
from .prepayment import Prepayment
from .price import Price
from .calendar import CalendarServer

ESI_EP = const(1)
DEVICE_ESI = const(0x0500)

CLUSTERS = (
    (Basic, ESI_EP, DEVICE_ESI),
    (Identify, ESI_EP, None),
    (Metering, ESI_EP, None),
    (TimeClient, ESI_EP, None),
    (DrlcClient, ESI_EP, None),
    (Prepayment, ESI_EP, None),
    (Price, ESI_EP, None),
    (CalendarServer, ESI_EP, None),
)


def register(engine, cluster):
    """Add a cluster the meter built to the ZCL engine at its row's endpoint
    (with the row's device id). Returns the cluster."""
    for cls, ep, dev in CLUSTERS:
        if type(cluster) is cls:
            return engine.add(ep, cluster, dev)
    raise ValueError("cluster not in the registry")
