# A register-level stand-in for ST's STPM32/33 (the datasheet's frame
# protocol, written independently of boards/drivers/stpm3x.py): 5-octet
# frames (read address, write address, data LSB, data MSB, CRC-8), each
# answered with the register the previous frame selected; the CRC checked
# (a bad frame is ignored: on the UART no answer, on SPI the octets clocked
# out are the old selection); DSP_CR3's SW_Reset and SW_Latch bits; a DSP
# that integrates the set power into the 32-bit PH1 active-energy counter
# at the datasheet's LSB, E_LSB = P_FULL / (2^17 x 7812.5) Ws, and shows
# it in the 29-bit power register at P_LSB = P_FULL / 2^28 W.
# Faults for the tests: corrupt (a bad CRC on the next answers), silent (no
# answer to the next frames).


def _rev(b):
    r = 0
    for i in range(8):
        if b & (1 << i):
            r |= 0x80 >> i
    return r


def crc_spi(data):
    c = 0
    for b in data:
        c ^= b
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


def crc_uart(data):
    """The same CRC over octets sent LSB first: bit-reversed in and out."""
    return _rev(crc_spi(bytes(_rev(b) for b in data)))


class FakeStpm3x:
    def __init__(self, p_full_w, uart=True):
        self.uart = uart
        self.crc = crc_uart if uart else crc_spi
        self.p_full = p_full_w
        self.regs = [0] * 128
        self.power_w = 0
        self.energy = 0            # live counter (the register shows it mod 2^32)
        self._frac = 0
        self.resets = 0
        self.latches = 0
        self.bad_frames = 0
        self.corrupt = 0
        self.silent = 0
        self.writes = 0
        self._defaults()

    def _defaults(self):
        self.regs[0] = 0x040000A0   # DSP_CR1 reset value
        self.regs[1] = 0x240000A0   # DSP_CR2
        self.ptr = 0
        self._out = bytes(5)

    def run(self, seconds):
        """The DSP integrating the set power for seconds."""
        n = self.power_w * 1024000000 * seconds + self._frac
        self.energy += n // self.p_full
        self._frac = n % self.p_full

    def _latch(self):
        self.latches += 1
        self.regs[0x54 // 2] = self.energy & 0xFFFFFFFF
        self.regs[0x5C // 2] = ((self.power_w << 28) // self.p_full) & 0x1FFFFFFF

    def _reg_out(self, row):
        v = self.regs[row]
        b = bytes((v & 0xFF, v >> 8 & 0xFF, v >> 16 & 0xFF, v >> 24 & 0xFF))
        return b + bytes((self.crc(b),))

    def frame(self, tx):
        """The answer to one frame (5 octets), or None (no answer)."""
        out = self._reg_out(self.ptr)
        if len(tx) != 5 or self.crc(tx[:4]) != tx[4]:
            self.bad_frames += 1
            return None if self.uart else out
        rd, wr, data = tx[0], tx[1], tx[2] | tx[3] << 8
        if wr != 0xFF:
            self._write(wr, data)
        self.ptr = rd // 2 if rd != 0xFF else (self.ptr + 1) & 0x7F
        if self.silent:
            self.silent -= 1
            return None
        if self.corrupt:
            self.corrupt -= 1
            out = out[:4] + bytes((out[4] ^ 0x5A,))
        return out

    def _write(self, addr, data):
        self.writes += 1
        row = addr // 2
        if addr & 1:
            self.regs[row] = (self.regs[row] & 0xFFFF) | data << 16
        else:
            self.regs[row] = (self.regs[row] & 0xFFFF0000) | data
        if row == 2:                            # DSP_CR3
            hi = self.regs[2] >> 16
            if hi & 0x10:                       # SW_Reset: the DSP starts again
                self.resets += 1
                self.energy = 0
                self._frac = 0
                self.regs = [0] * 128
                self._defaults()
            elif hi & 0x60:                     # SW_Latch1/2
                self._latch()
            self.regs[2] &= 0xFF8FFFFF          # the command bits clear themselves

    # -- wiring to the fake machine's buses ---------------------------------------------
    def on_uart(self, uart, data):
        a = self.frame(data)
        if a is not None:
            uart.rx.extend(a)

    def on_spi(self, tx):
        return self.frame(tx)
