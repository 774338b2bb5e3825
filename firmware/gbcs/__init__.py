# GBCS message and security layer (firmware/gbcs/README.md); imported on
# the first tunnelled message (Meter.gbcs_message), never at boot.
