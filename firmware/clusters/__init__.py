# Cluster modules: each a table (see zcl/cluster.py) plus its handlers.
#
# The meter's clusters, one table: rows of (module in this package, class,
# endpoint, ZSE device id or None), in the order Meter.__init__ registers them
# (firmware/meter.py, through register() below). The host tools take their
# cluster tables from it too (tools/zcl_host.py), so a cluster added to the
# meter is known to the bench, the hub simulator and the captures at once.
# Names, not classes: the table is a constant (in flash on a board) and
# importing the package does not import every cluster module. One flat
# tuple, four entries a row, and nothing else here: on the unix port every
# object of this module costs heap.
#
# Endpoint layout (GBCS §7.4, Table 7.4): one "Electricity ESI Endpoint"
# (endpoint 1, meter.ESI_EP) for a single-phase ESME, ZSE device id 0x0500
# (Energy Service Interface), with every cluster of the meter on it.
CLUSTERS = (
    "basic", "Basic", 1, 0x0500,
    "identify", "Identify", 1, None,
    "metering", "Metering", 1, None,
    "time_client", "TimeClient", 1, None,
    "drlc_client", "DrlcClient", 1, None,
    "prepayment", "Prepayment", 1, None,
    "price", "Price", 1, None,
    "calendar", "CalendarServer", 1, None,
)


def register(engine, cluster):
    """Add a cluster the meter built to the ZCL engine at its row's endpoint
    (with the row's device id). Returns the cluster."""
    t = CLUSTERS
    name = type(cluster).__name__
    for i in range(1, len(t), 4):
        if t[i] == name:
            return engine.add(t[i + 1], cluster, t[i + 2])
    raise ValueError("cluster not in the registry")
