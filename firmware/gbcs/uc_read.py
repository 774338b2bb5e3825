# GBCS ESME use cases, cosem.py group of uc_read (see cosem.py for what it
# serves). Handlers: h(x, spec, (start, end)) -> result | (result, Data).
# No object of this group is in the table yet.
H = ()
