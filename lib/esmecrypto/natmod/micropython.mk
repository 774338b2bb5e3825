# The esmecrypto C core linked into a MicroPython firmware as a user C module
# (its code and constant tables then stay in flash; a native .mpy is copied
# into the GC heap when imported). From a port directory:
#   make BOARD=... USER_C_MODULES=/path/to/openesme/lib/esmecrypto
ESMECRYPTO_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(ESMECRYPTO_DIR)/esmecrypto_mod.c
SRC_USERMOD_LIB_C += $(ESMECRYPTO_DIR)/../esme_aes.c $(ESMECRYPTO_DIR)/../esme_gcm.c \
    $(ESMECRYPTO_DIR)/../esme_p256.c
