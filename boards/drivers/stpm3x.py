# ST STPM32/STPM33 single-phase metrology IC over its UART or SPI
# (platform/metrology.py's interface: take_ws(), power_w(), power_factor()).
#
# Protocol (STPM3x datasheet, "UART/SPI communication"): the host sends
# 5-octet frames: read address, write address, data LSB, data MSB, CRC-8.
# Addresses count 16-bit half-words (32-bit register n at 2n); a write sets
# that half; 0xFF as read address means "the register after the last one
# read", as write address "no write". The IC answers each frame with the
# 32-bit register selected by the previous frame's read address, LSB first,
# plus its CRC-8. CRC-8: polynomial x^8+x^2+x+1 (0x07), initial 0; on the
# UART the octets travel LSB first, so the CRC is taken over bit-reversed
# octets and sent reversed, i.e. the reflected CRC with polynomial 0xE0
# (check: FF FF FF FF -> 0x7B, A0 00 00 04 -> 0x75, the DSP_CR1 reset value
# 0x040000A0). On SPI the octets go MSB first: the plain CRC-8 (A0 00 00 04
# -> 0xE3). A frame with a bad CRC is ignored by the IC (on the UART it does
# not answer; on SPI the octets clocked out are the previous selection).
# UartBus and SpiBus carry the frames; the protocol above them is the same.
#
# Registers used: DSP_CR3 (row 2): SW_Reset bit 20, SW_Latch1/2 bits 21/22;
# PH1_REG1 (0x54): channel-1 active energy, a 32-bit wrapping counter;
# PH1_REG5 (0x5C): channel-1 active power, 29-bit two's complement.
# LSB values (datasheet / AN4470, shunt or CT front end):
#   P_LSB = Vref^2 (1 + R1/R2) / (Kint Av Ai Ks calV calI 2^28)  [W]
#   E_LSB = Vref^2 (1 + R1/R2) / (Kint Av Ai Ks calV calI 2^17 fclk/2048)  [Ws]
# Both are P_FULL / 2^28 and P_FULL / (2^17 x 7812.5) with P_FULL = Vref^2
# (1 + R1/R2) / (Kint Av Ai Ks calV calI), the front end's full-scale power
# in watts, the one constant a board gives (its pins.py).
#
# take_ws() runs in the meter's tick: it latches the IC, reads energy and
# power (3 frames) and allocates nothing (a 100 A supply at 240 V is ~2^26.3
# counts a second with ST's reference front end: converted in 2^24 chunks,
# so every intermediate stays a small int on a 32-bit board). A frame lost or corrupt is retried (crc_errors,
# timeouts count them); a second with no good reading returns 0 and the next
# good one takes the whole difference from the IC's own counter, so no
# energy is lost while the IC keeps running.
from firmware.compat import const
from . import sleep_ms

_NOP = const(0xFF)
_CR1_RESET = const(0x040000A0)   # DSP_CR1 after a reset: the IC is there
_CR3_HI = const(0x05)       # DSP_CR3 bits 31:16
_RESET = const(0x0010)      # SW_Reset (bit 20)
_LATCH = const(0x0060)      # SW_Latch1 | SW_Latch2 (bits 21, 22)
PH1_ENERGY = const(0x54)    # PH1_REG1
PH1_POWER = const(0x5C)     # PH1_REG5
_CHUNK = const(0x1000000)   # counts converted at a time: 32x stays a small int


def crc8(buf, n, lsb_first):
    """The STPM3x CRC-8 of buf[:n]: reflected (polynomial 0xE0) for the
    UART's LSB-first octets, plain (0x07) for SPI."""
    c = 0
    for i in range(n):
        c ^= buf[i]
        for _ in range(8):
            if lsb_first:
                c = (c >> 1) ^ 0xE0 if c & 1 else c >> 1
            else:
                c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


class UartBus:
    """The IC's UART (8N1, a read timeout of a few frame times)."""
    LSB_FIRST = True

    def __init__(self, uart):
        self.uart = uart

    def xfer(self, tx, rx):
        u = self.uart
        while u.any():              # a late answer to an earlier frame
            u.readinto(rx)
        u.write(tx)
        return u.readinto(rx) or 0


class SpiBus:
    """The IC's SPI (mode 3, SCS as chip select)."""
    LSB_FIRST = False

    def __init__(self, spi, cs):
        self.spi = spi
        self.cs = cs
        cs.value(1)

    def xfer(self, tx, rx):
        self.cs.value(0)
        self.spi.write_readinto(tx, rx)
        self.cs.value(1)
        return 5


class Stpm3x:
    def __init__(self, bus, p_full_w, en=None, config=(), retries=2):
        self.bus = bus              # UartBus or SpiBus
        self._lsb = bus.LSB_FIRST
        self.en = en
        self.config = config        # (half-word address, value) calibration writes
        self.retries = retries
        self._tx = bytearray(5)
        self._rx = bytearray(5)
        # 1/32 counts of energy per Ws (rounded: 3.7 ppm at ST's reference
        # front end), counts of power per W
        self._div = (32768000000 + p_full_w // 2) // p_full_w
        self._cpw = ((1 << 28) + p_full_w // 2) // p_full_w
        self._acc = 0               # 1/32 counts not yet a whole Ws
        self._ws = 0                # whole Ws measured, not yet taken
        self._hi = -1               # last energy reading, halves (-1: none yet)
        self._lo = 0
        self._p = 0
        self.ok = False             # the IC answered
        self.crc_errors = 0
        self.timeouts = 0
        self.missed = 0             # seconds without a good reading

    # -- frames -----------------------------------------------------------------
    def _xfer(self, rd, wr, data):
        """One frame; True when the IC's answer came whole with a good CRC
        (then in self._rx[0:4])."""
        tx = self._tx
        tx[0] = rd
        tx[1] = wr
        tx[2] = data & 0xFF
        tx[3] = data >> 8
        tx[4] = crc8(tx, 4, self._lsb)
        if self.bus.xfer(tx, self._rx) != 5:
            self.timeouts += 1
            return False
        if crc8(self._rx, 4, self._lsb) != self._rx[4]:
            self.crc_errors += 1
            return False
        return True

    def write(self, addr, value):
        for _ in range(self.retries + 1):
            if self._xfer(_NOP, addr, value):
                return True
        return False

    def read(self, addr):
        """The 32-bit register at addr, or None (allocates: not for the tick)."""
        for _ in range(self.retries + 1):
            if self._xfer(addr, _NOP, 0) and self._xfer(_NOP, _NOP, 0):
                r = self._rx
                return r[0] | r[1] << 8 | r[2] << 16 | r[3] << 24
        return None

    def _sample(self):
        """Latch, then energy and power into self._rx (energy) and the
        halves returned by the last frame. True on success."""
        for _ in range(self.retries + 1):
            if not self._xfer(PH1_ENERGY, _CR3_HI, _LATCH):
                continue
            if not self._xfer(PH1_POWER, _NOP, 0):
                continue
            r = self._rx
            lo = r[0] | r[1] << 8
            hi = r[2] | r[3] << 8
            if not self._xfer(_NOP, _NOP, 0):
                continue
            self._energy(hi, lo)
            r = self._rx
            p = r[0] | r[1] << 8 | (r[2] | (r[3] & 0x1F) << 8) << 16   # 29 bits
            if p & 0x10000000:
                p -= 0x20000000
            self._p = p // self._cpw if p > 0 else 0     # import only
            return True
        return False

    def _energy(self, hi, lo):
        if self._hi < 0:
            self._hi, self._lo = hi, lo
            return
        dh = (hi - self._hi) & 0xFFFF
        if dh & 0x8000:
            dh -= 0x10000
        d = dh * 0x10000 + lo - self._lo      # signed: the counter wraps at 2^32
        self._hi, self._lo = hi, lo
        while d > 0:                          # export (< 0) is not import energy
            c = d if d < _CHUNK else _CHUNK
            self._acc += c << 5
            w = self._acc // self._div
            self._ws += w
            self._acc -= w * self._div
            d -= c

    # -- the metrology interface -------------------------------------------------
    def start(self):
        """Reset the IC, write the calibration, take the first energy
        reading. False when the IC does not answer (the board then falls
        back to its pulse input)."""
        if self.en is not None:               # EN low then high: a hardware reset
            self.en.value(0)
            sleep_ms(2)
            self.en.value(1)
            sleep_ms(40)
        self.ok = self.write(_CR3_HI, _RESET)
        sleep_ms(2)
        # a bus with no IC can still pass the CRC (SPI MISO held low reads
        # 00 00 00 00 with CRC 00): the reset value of DSP_CR1 proves the IC
        self.ok = self.ok and self.read(0x00) == _CR1_RESET
        for addr, value in self.config:
            self.ok = self.ok and self.write(addr, value)
        self.ok = self.ok and self._sample()
        return self.ok

    def take_ws(self):
        if not self._sample():
            self.missed += 1
            return 0
        ws = self._ws
        self._ws = 0
        return ws

    def power_w(self):
        return self._p

    def power_factor(self):
        return 100                  # not measured (reactive/apparent registers unused)
