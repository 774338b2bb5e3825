# ZCL engine: codec (types, frame), cluster tables, profile-wide commands,
# reporting. ZCL = ZigBee Cluster Library rev 6 (07-5123), as used by ZSE 1.x.
