# The virtual board with a REPL (host only: runs on the MicroPython unix
# port, never frozen, never deployed): a board's REPL on a TCP socket on
# loopback instead of USB, speaking MicroPython's REPL protocol as
# shared/runtime/pyexec.c does, so mpremote works with
# `connect socket://127.0.0.1:PORT`. Its flash is a directory: deployed files
# land there and run from there (sys.path is that directory only).
#
#   micropython -X heapsize=N tools/vrepl.py --port P --flash DIR [--host H]
#
# Started by tools/deploy.py (`python -m tools.deploy vboard`), see
# docs/deploy.md. What it does, as a board does:
# - power on: boot.py, then main.py from the flash directory (a board's own
#   main.py; the virtual board's is tools/vboard_main.py);
# - Ctrl-C from the host interrupts the running program: a program that
#   runs forever (main.py) calls vrepl.check() in its wait loop, standing in
#   for the USB interrupt (KeyboardInterrupt is raised there);
# - friendly REPL (>>> , Ctrl-A raw, Ctrl-B banner, Ctrl-C, Ctrl-D soft
#   reboot, Ctrl-E paste mode); raw REPL (Ctrl-A, Ctrl-B, Ctrl-C, Ctrl-D
#   execute, "OK", output, \x04, exception, \x04, ">"); raw-paste mode
#   (\x05A\x01: "R\x01", window size, \x01 per window consumed, \x04 at end);
# - soft reboot (Ctrl-D on an empty line): "MPY: soft reboot", the modules
#   loaded from the flash and the REPL's globals dropped, boot.py run, and
#   main.py only when the REPL was the friendly one (as on stm32/esp32).
# One host connection at a time; when it closes the board carries on and
# waits for the next (a board does not reset when USB goes away).
import gc
import io
import os
import select
import socket
import sys

_CTRL_A = 1
_CTRL_B = 2
_CTRL_C = 3
_CTRL_D = 4
_CTRL_E = 5
_WINDOW = 128          # raw-paste flow-control window (pyexec: half of a 256-octet buffer)
BANNER = "MicroPython %s; OpenESME virtual board (unix port, REPL on TCP)" % (
    ".".join(str(x) for x in sys.implementation.version[:3]))


class _Out(io.IOBase):
    """The REPL's stdout: the host connection (dropped when there is none)."""

    def write(self, s):
        n = len(s)
        if isinstance(s, str):
            s = s.encode()
        # "cooked" as a board's stdout is (mp_hal_stdout_tx_strn_cooked): \n -> \r\n
        send(bytes(s).replace(b"\n", b"\r\n"))
        return n


_srv = None
_cli = None
_poll = None
_in = bytearray()          # what the host sent, read from _pos on
_pos = 0
_out = _Out()


def _print(*args, sep=" ", end="\n", file=None):
    """print() for code the REPL runs: to the host connection."""
    (file or _out).write(sep.join(str(a) for a in args) + end)


def _set_client(c):
    global _cli, _poll, _pos
    if _cli is not None:
        try:
            _cli.close()
        except OSError:
            pass
    _cli = c
    _poll = select.poll()
    _poll.register(_srv if c is None else c, select.POLLIN)
    _in[:] = b""
    _pos = 0


def _pump(ms):
    """Wait up to ms (-1: no limit) for the host: accept a connection, take
    what it sent into the input buffer. True if anything happened."""
    if not _poll.poll(ms):
        return False
    if _cli is None:
        c = _srv.accept()[0]
        try:
            c.setsockopt(6, 1, 1)          # IPPROTO_TCP, TCP_NODELAY
        except (OSError, AttributeError):
            pass
        _set_client(c)
        return True
    try:
        data = _cli.recv(512)
    except OSError:
        data = b""
    if not data:
        _set_client(None)                  # the host went away: wait for the next
        return True
    _in.extend(data)
    try:
        # ACK at once (Linux TCP_QUICKACK, reset by every read): a host that
        # leaves Nagle on (mpremote over pyserial's socket://) otherwise holds
        # its next small write until our delayed ACK, ~40 ms per exchange
        _cli.setsockopt(6, 12, 1)
    except (OSError, AttributeError):
        pass
    return True


def _tx(s):
    """REPL protocol text, sent as is."""
    send(s.encode() if isinstance(s, str) else s)


def send(b):
    if _cli is None:                       # no host: the board's log (stdout) has it
        try:
            sys.stdout.buffer.write(b)
        except (AttributeError, OSError, TypeError):
            pass
        return
    mv = memoryview(b)
    try:
        while len(mv):
            mv = mv[_cli.send(mv):]
    except OSError:
        _set_client(None)


def getc():
    """The next octet from the host (waits for one, across reconnections)."""
    global _pos
    while _pos >= len(_in):
        _in[:] = b""
        _pos = 0
        _pump(-1)
    _pos += 1
    return _in[_pos - 1]


def check(ms=0):
    """For a program that runs forever (main.py): wait up to ms for the host
    and raise KeyboardInterrupt if it sent Ctrl-C, keeping what follows it
    (mpremote sends \\r\\x03 then \\r\\x01 without waiting). The octets before
    it are the program's stdin, which no program here reads: dropped."""
    global _pos
    _pump(ms)
    i = _in.find(b"\x03", _pos)
    if i >= 0:
        _pos = i + 1
        raise KeyboardInterrupt
    _in[:] = b""
    _pos = 0


class _Hook:
    """`import vrepl` on the virtual board (tools/vboard_main.py)."""
    check = staticmethod(check)


# -- running code --------------------------------------------------------------
_globals = {}
_base_modules = None


def _fresh_globals():
    _globals.clear()
    _globals["__name__"] = "__main__"
    _globals["print"] = _print


def _run(code, mode="exec", name="<stdin>"):
    """Compile and run code in the REPL's globals; its exception printed to
    the host. True if it ran without one."""
    try:
        exec(compile(code, name, mode), _globals)
        return True
    except SystemExit:
        return True
    except BaseException as e:          # KeyboardInterrupt too: back to the REPL
        sys.print_exception(e, _out)
        return False


def _run_line(src):
    """One line at the >>> prompt: an expression's value is shown (to the
    host: the unix port's "single" mode would print it on its own stdout)."""
    try:
        code = compile(src, "<stdin>", "eval")
    except SyntaxError:
        return _run(src)
    try:
        v = eval(code, _globals)
        if v is not None:
            _out.write(repr(v) + "\n")
    except BaseException as e:
        sys.print_exception(e, _out)


def _run_file(name):
    try:
        with open(name) as f:
            src = f.read()
    except OSError:
        return True                 # no file is the same as an empty one
    _globals["__file__"] = name
    return _run(src, "exec", name)


def soft_reboot():
    """Drop what the flash's code left (modules, globals) and collect."""
    for m in list(sys.modules):
        if m not in _base_modules:
            del sys.modules[m]
    _fresh_globals()
    gc.collect()


# -- the REPLs ------------------------------------------------------------------
def raw_repl():
    """pyexec_raw_repl. Returns "friendly" (Ctrl-B) or "reboot" (Ctrl-D on
    an empty line)."""
    _tx("raw REPL; CTRL-B to exit\r\n")
    while True:
        _tx(">")
        line = bytearray()
        while True:
            c = getc()
            if c == _CTRL_A:
                if len(line) == 2 and line[0] == _CTRL_E:
                    if line[1] != ord("A"):
                        _tx(b"R\x00")        # unsupported raw-paste command
                    else:
                        _raw_paste()
                    line = bytearray()
                    _tx(">")
                    continue
                _tx("raw REPL; CTRL-B to exit\r\n")
                line = bytearray()
                _tx(">")
            elif c == _CTRL_B:
                _tx("\r\n")
                return "friendly"
            elif c == _CTRL_C:
                line = bytearray()
            elif c == _CTRL_D:
                break
            else:
                line.append(c)
        _tx("OK")
        if not line:
            _tx("\r\n")
            return "reboot"
        _exec_raw(bytes(line))


def _exec_raw(src):
    ok = True
    try:
        code = compile(src, "<stdin>", "exec")
    except BaseException as e:
        _tx(b"\x04")
        sys.print_exception(e, _out)
        _tx(b"\x04")
        return
    try:
        exec(code, _globals)
    except SystemExit:
        pass
    except BaseException as e:
        ok = False
        _tx(b"\x04")
        sys.print_exception(e, _out)
    if ok:
        _tx(b"\x04")
    _tx(b"\x04")


def _raw_paste():
    """Raw-paste mode: take the code with flow control, then run it."""
    _tx(b"R\x01" + bytes((_WINDOW & 0xFF, _WINDOW >> 8, 1)))
    src = bytearray()
    remain = _WINDOW
    while True:
        c = getc()
        if c == _CTRL_D:
            _tx(b"\x04")                    # end acknowledged
            break
        if c == _CTRL_C:
            _tx(b"\x04")
            sys.print_exception(KeyboardInterrupt(), _out)
            _tx(b"\x04")
            return
        src.append(c)
        remain -= 1
        if remain == 0:
            _tx(b"\x01")                    # another window is free
            remain = _WINDOW
    _exec_raw(bytes(src))


def _readline(prompt):
    """A line from the host, echoed, with backspace. Returns the line or a
    control code (int) that ends input."""
    _tx(prompt)
    line = bytearray()
    while True:
        c = getc()
        if c in (_CTRL_A, _CTRL_B, _CTRL_C, _CTRL_D, _CTRL_E) and (c != _CTRL_D or not line):
            return c
        if c == 13:
            _tx("\r\n")
            return bytes(line).decode()
        if c in (8, 127):
            if line:
                line.pop()
                _tx("\b \b")
        elif c == 27:               # escape sequences (cursor keys): ignored
            getc()
            getc()
        elif c >= 32 or c == 9:
            line.append(c)
            _tx(bytes((c,)))


def friendly_repl():
    """pyexec_friendly_repl. Returns "raw" (Ctrl-A) or "reboot" (Ctrl-D)."""
    _tx(BANNER + "\r\nType \"help()\" for more information.\r\n")
    while True:
        r = _readline(">>> ")
        if r == _CTRL_A:
            _tx("\r\n")
            return "raw"
        if r == _CTRL_B:
            _tx("\r\n" + BANNER + "\r\n")
            continue
        if r == _CTRL_C:
            _tx("\r\n")
            continue
        if r == _CTRL_D:
            _tx("\r\n")
            return "reboot"
        if r == _CTRL_E:
            _tx("\r\npaste mode; Ctrl-C to cancel, Ctrl-D to finish\r\n=== ")
            src = bytearray()
            while True:
                c = getc()
                if c == _CTRL_C:
                    src = None
                    _tx("\r\n")
                    break
                if c == _CTRL_D:
                    _tx("\r\n")
                    break
                src.append(c)
                _tx("\r\n=== " if c == 13 else bytes((c,)))
            if src is not None:
                _run(bytes(src).replace(b"\r", b"\n"))
            continue
        if not r:
            continue
        src = r
        if r.rstrip().endswith(":") or r.rstrip().endswith("\\"):
            while True:              # a compound statement: until an empty line
                more = _readline("... ")
                if not isinstance(more, str):
                    if more == _CTRL_C:
                        src = None
                        _tx("\r\n")
                    break
                if not more.strip():
                    break
                src += "\n" + more
            if src is None:
                continue
            _run(src + "\n")
        else:
            _run_line(src)


def _args(argv):
    out = {"host": "127.0.0.1", "port": None, "flash": None}
    i = 0
    while i < len(argv) - 1:
        out[argv[i].lstrip("-")] = argv[i + 1]
        i += 2
    if out["port"] is None or out["flash"] is None:
        raise SystemExit("usage: vrepl.py --port P --flash DIR [--host H]")
    return out


def main(argv):
    global _srv, _base_modules
    a = _args(argv)
    flash = a["flash"]
    if not flash.startswith("/"):
        flash = os.getcwd() + "/" + flash
    try:
        os.mkdir(flash)
    except OSError:
        pass
    os.chdir(flash)
    sys.path[:] = [flash, flash + "/lib"]          # the board's flash, nothing else
    sys.modules["vrepl"] = _Hook                    # main.py's Ctrl-C hook
    _srv = socket.socket()
    _srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _srv.bind(socket.getaddrinfo(a["host"], int(a["port"]))[0][-1])
    _srv.listen(1)
    _set_client(None)
    _base_modules = set(sys.modules)
    _fresh_globals()
    print("vrepl: REPL on %s:%s, flash %s" % (a["host"], a["port"], flash))
    mode = "friendly"                # power on: boot.py and main.py run
    while True:
        _run_file("boot.py")
        if mode == "friendly":
            _run_file("main.py")
        gc.collect()
        while True:                  # until a soft reboot, from the REPL it came in
            nxt = friendly_repl() if mode == "friendly" else raw_repl()
            if nxt == "reboot":
                break
            mode = nxt
        _tx("MPY: soft reboot\r\n")
        soft_reboot()


if __name__ == "__main__":
    main(sys.argv[1:])
