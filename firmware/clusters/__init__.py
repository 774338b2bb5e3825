# Cluster modules: each a table (see zcl/cluster.py) plus its handlers.
