# GBCS ESME use cases, cosem.py group of uc_supply (see cosem.py for what it
# serves). Handlers: h(x, spec, (start, end)) -> result | (result, Data).
# No object of this group is in the table yet.
H = ()
