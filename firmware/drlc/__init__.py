# Demand response and load control (ZSE Annex D.2), meter as DRLC client.
