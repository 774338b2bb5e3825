# The meter's display on an SSD1306 OLED over I2C (platform/hw.py's
# Display: update() keeps the integers the core sets each tick, allocation
# free; the text is Meter.display_text(), drawn by show() from the board's
# idle hook at most once a second, outside the tick).
#
# 128 x 64 with framebuf's 8 x 8 font: 8 lines of 16 characters. The
# display text's fields are separated by two spaces ("12.345 kWh  0.500 kW
# SUPPLY ON  T:SYNCHRONISED  CR 3.00"); each field gets its own line, a
# longer one wraps.
import framebuf
from firmware.compat import const
from firmware.platform.hw import Display

# SSD1306 datasheet §9 command table: display off, horizontal addressing,
# start line 0, segment remap, COM scan reversed, offset 0, clock, precharge,
# VCOMH, contrast, resume from RAM, normal (not inverted), charge pump on
_INIT = b"\xae\x20\x00\x40\xa1\xc8\xd3\x00\xd5\x80\xd9\xf1\xdb\x30\x81\x7f\xa4\xa6\x8d\x14"
_W = const(128)


def lines(text, width, n):
    """The display text as at most n lines of width characters."""
    out = []
    for field in text.split("  "):
        field = field.strip()
        while field and len(out) < n:
            out.append(field[:width])
            field = field[width:]
    return out


class Ssd1306(Display):
    def __init__(self, i2c, h=64, addr=0x3C):
        Display.__init__(self)
        self.i2c = i2c
        self.addr = addr
        self.h = h
        self.buf = bytearray(1 + _W * h // 8)   # 0x40 (data) then the frame
        self.buf[0] = 0x40
        self.fb = framebuf.FrameBuffer(memoryview(self.buf)[1:], _W, h, framebuf.MONO_VLSB)
        self._cmd = bytearray(2)                # 0x80 (one command) + the command
        self._cmd[0] = 0x80
        self.shown = None                       # the text on the glass
        for c in _INIT:
            self.cmd(c)
        self.cmd(0xA8)                          # multiplex ratio
        self.cmd(h - 1)
        self.cmd(0xDA)                          # COM pins
        self.cmd(0x02 if h == 32 else 0x12)
        self.cmd(0xAF)                          # display on

    def cmd(self, c):
        self._cmd[1] = c
        self.i2c.writeto(self.addr, self._cmd)

    def show(self, text):
        """Draw text (allocates: from the idle hook, not the tick)."""
        if text == self.shown:
            return
        fb = self.fb
        fb.fill(0)
        y = 0
        for line in lines(text, _W // 8, self.h // 8):
            fb.text(line, 0, y, 1)
            y += 8
        for c in (0x21, 0, _W - 1, 0x22, 0, self.h // 8 - 1):   # whole screen
            self.cmd(c)
        self.i2c.writeto(self.addr, self.buf)
        self.shown = text
