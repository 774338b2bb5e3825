# ZCL status codes (ZCL rev 6, Table 2-12) and the one error the engine uses.

SUCCESS = const(0x00)
FAILURE = const(0x01)
NOT_AUTHORIZED = const(0x7E)
_RESERVED_FIELD_NOT_ZERO = const(0x7F)
MALFORMED_COMMAND = const(0x80)
UNSUP_CLUSTER_COMMAND = const(0x81)
_UNSUP_GENERAL_COMMAND = const(0x82)
_UNSUP_MANUF_CLUSTER_COMMAND = const(0x83)
_UNSUP_MANUF_GENERAL_COMMAND = const(0x84)
INVALID_FIELD = const(0x85)
_UNSUPPORTED_ATTRIBUTE = const(0x86)
INVALID_VALUE = const(0x87)
_READ_ONLY = const(0x88)
INSUFFICIENT_SPACE = const(0x89)
_DUPLICATE_EXISTS = const(0x8A)
NOT_FOUND = const(0x8B)
_UNREPORTABLE_ATTRIBUTE = const(0x8C)
_INVALID_DATA_TYPE = const(0x8D)
_INVALID_SELECTOR = const(0x8E)
_WRITE_ONLY = const(0x8F)
_INCONSISTENT_STARTUP_STATE = const(0x90)
_DEFINED_OUT_OF_BAND = const(0x91)
_INCONSISTENT = const(0x92)
_ACTION_DENIED = const(0x93)
_TIMEOUT = const(0x94)
_ABORT = const(0x95)
_INVALID_IMAGE = const(0x96)
_WAIT_FOR_DATA = const(0x97)
_NO_IMAGE_AVAILABLE = const(0x98)
_REQUIRE_MORE_IMAGE = const(0x99)
_NOTIFICATION_PENDING = const(0x9A)
_HARDWARE_FAILURE = const(0xC0)
_SOFTWARE_FAILURE = const(0xC1)
_CALIBRATION_ERROR = const(0xC2)
_UNSUPPORTED_CLUSTER = const(0xC3)

class ZclError(Exception):
    """Carries a ZCL status; the dispatcher turns it into a Default Response."""

    def __init__(self, status, msg=""):
        super().__init__(msg)   # MicroPython: no Exception.__init__ to call directly
        self.status = status


class DecodeError(ZclError):
    """Truncated or out-of-range input. Always MALFORMED_COMMAND on the wire."""

    def __init__(self, msg="truncated"):
        super().__init__(MALFORMED_COMMAND, msg)


# The names above that only the host's tests and tools read: public there,
# folded private constants on a board, no global each in this module's dict
# on its heap (issue #18).
if __import__("sys").implementation.name != "micropython":
    UNSUP_GENERAL_COMMAND = _UNSUP_GENERAL_COMMAND
    UNSUP_MANUF_CLUSTER_COMMAND = _UNSUP_MANUF_CLUSTER_COMMAND
    UNSUP_MANUF_GENERAL_COMMAND = _UNSUP_MANUF_GENERAL_COMMAND
    UNSUPPORTED_ATTRIBUTE = _UNSUPPORTED_ATTRIBUTE
    READ_ONLY = _READ_ONLY
    UNREPORTABLE_ATTRIBUTE = _UNREPORTABLE_ATTRIBUTE
    INVALID_DATA_TYPE = _INVALID_DATA_TYPE
    WRITE_ONLY = _WRITE_ONLY
    UNSUPPORTED_CLUSTER = _UNSUPPORTED_CLUSTER
