# Platform interfaces: clock, store, metrology, relay/button/display, HAN link.
