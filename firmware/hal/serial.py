"""Serial lines: the RS-485 buses and the modem UART.

Every port offers the same small stream interface, so the pollers, the modem driver and the
kernel's I/O waits never know which board they run on:

    port.readinto(buf)  -> bytes read now (0 when nothing is waiting; never blocks)
    port.write(buf)     -> bytes written; on RS-485 returns once the line is back to receive
    port.discard()      -> drop whatever is waiting (noise before a request)
    port.pollable       -> the object to register with select.poll
    port.char_us        -> time on the wire of one character, for reply timeouts

Virtual board (sys.platform 'linux'): any tty device path (a USB adapter or a pty whose other
end is a simulator), put in raw mode with VMIN=0/VTIME=0 so that a read returns what is there
and never waits (MicroPython's readinto otherwise loops until the buffer is full). ESP32 and
STM32: machine.UART plus the transceiver's direction pin, switched back to receive as soon as
the last stop bit has left (flush/txdone, then one character time).

An adapter that echoes our own transmission (common on two-wire converters) is handled with
`echo=True`: the bytes just sent are skipped when they come back.
"""
import sys

from protocol.compat import const

ECHO_MAX = const(512)

# Linux termios numbers (the unix port's termios exposes only a few speed names).
_LINUX_SPEED = {300: 7, 600: 8, 1200: 9, 2400: 11, 4800: 12, 9600: 13, 19200: 14, 38400: 15,
                57600: 0o10001, 115200: 0o10002}
_CS8 = const(0o60)
_CSTOPB = const(0o100)
_CREAD = const(0o200)
_PARENB = const(0o400)
_PARODD = const(0o1000)
_CLOCAL = const(0o4000)
_VTIME = const(5)
_VMIN = const(6)


def bits_per_char(parity, stop_bits):
    return 1 + 8 + (0 if parity == "N" else 1) + stop_bits


class _Echo:
    """Skips our own transmission when the adapter reflects it."""

    def __init__(self):
        self.sent = bytearray(ECHO_MAX)
        self.pending = 0
        self.pos = 0

    def arm(self, buf, n):
        n = min(n, ECHO_MAX)
        self.sent[:n] = buf[:n]
        self.pending = n
        self.pos = 0

    def strip(self, buf, n):
        """Drop the echoed prefix of buf[:n]; return the count of real bytes left at buf[0:]."""
        skip = 0
        while self.pos < self.pending and skip < n and buf[skip] == self.sent[self.pos]:
            skip += 1
            self.pos += 1
        if skip < n:
            self.pending = 0    # something else arrived: the echo is over
        if skip:
            for i in range(n - skip):
                buf[i] = buf[i + skip]
        return n - skip


class _Port:
    """Echo handling shared by every port: subclasses provide _read(buf) and _send(buf)."""

    _echo = None

    def readinto(self, buf):
        n = self._read(buf) or 0
        if n and self._echo is not None and self._echo.pending:
            n = self._echo.strip(buf, n)
        return n

    def write(self, buf):
        if self._echo is not None:
            self._echo.arm(buf, len(buf))
        return self._send(buf)

    def discard(self):
        scratch = bytearray(64)
        while self._read(scratch):
            pass


class TtyPort(_Port):
    """A tty device on the virtual board (or any Linux host running the firmware)."""

    def __init__(self, path, baud=2400, parity="E", stop_bits=1, echo=False):
        import termios
        if baud not in _LINUX_SPEED:
            raise ValueError("unsupported baud %d" % baud)
        self.path = path
        self.file = open(path, "r+b", buffering=0)
        fd = self.file.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        cflag = _CS8 | _CREAD | _CLOCAL
        if parity != "N":
            cflag |= _PARENB | (_PARODD if parity == "O" else 0)
        if stop_bits == 2:
            cflag |= _CSTOPB
        attrs[2] = cflag
        attrs[4] = attrs[5] = _LINUX_SPEED[baud]
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self.char_us = bits_per_char(parity, stop_bits) * 1000000 // baud
        self.pollable = self.file
        self._echo = _Echo() if echo else None
        self._read = self.file.readinto
        self._send = self.file.write

    def close(self):
        self.file.close()


class UartPort(_Port):
    """machine.UART with an RS-485 direction pin (ESP32, STM32)."""

    def __init__(self, uart, tx, rx, de=None, de_active_high=True, baud=2400, parity="E",
                 stop_bits=1, echo=False):
        import machine
        par = None if parity == "N" else (0 if parity == "E" else 1)
        if sys.platform == "esp32":
            self.uart = machine.UART(uart, baudrate=baud, bits=8, parity=par, stop=stop_bits,
                                     tx=tx, rx=rx, timeout=0, rxbuf=512)
        else:
            self.uart = machine.UART(uart, baudrate=baud, bits=8, parity=par, stop=stop_bits,
                                     timeout=0, read_buf_len=512)
        self.de = machine.Pin(de, machine.Pin.OUT) if de is not None else None
        self.de_on = 1 if de_active_high else 0
        if self.de is not None:
            self.de.value(1 - self.de_on)
        self.char_us = bits_per_char(parity, stop_bits) * 1000000 // baud
        self.pollable = self.uart
        self._echo = _Echo() if echo else None

    def _read(self, buf):
        # UART.readinto returns None when nothing is waiting; any() avoids the timeout path.
        return self.uart.readinto(buf) if self.uart.any() else 0

    def _send(self, buf):
        import time
        if self.de is not None:
            self.de.value(self.de_on)
        n = self.uart.write(buf)
        # Hold the bus until the last stop bit is out, then release it at once: a meter may
        # answer after as little as 20 ms, and a late release would collide with its reply.
        if hasattr(self.uart, "flush"):
            self.uart.flush()
        else:
            while not self.uart.txdone():
                pass
        time.sleep_us(self.char_us)
        if self.de is not None:
            self.de.value(1 - self.de_on)
        return n

    def close(self):
        self.uart.deinit()


def open_port(spec, baud, parity="E", stop_bits=1, echo=False):
    """Open a port from a board config entry: {"device": PATH} or {"uart": n, "tx":..., ...}."""
    if spec.get("device"):
        return TtyPort(spec["device"], baud, parity, stop_bits, echo)
    return UartPort(spec["uart"], spec.get("tx"), spec.get("rx"), spec.get("de"),
                    spec.get("de_active_high", True), baud, parity, stop_bits, echo)
