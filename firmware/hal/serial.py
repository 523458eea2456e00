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

The two drivers are firmware/hal/serial_tty.py and firmware/hal/serial_uart.py, built on the
Port below; a board loads only its own (firmware/hal/board_ports.py and firmware/link.py choose).
"""
from protocol.compat import const

_ECHO_MAX = const(512)

def bits_per_char(parity, stop_bits):
    return 1 + 8 + (0 if parity == "N" else 1) + stop_bits


class Echo:
    """Skips our own transmission when the adapter reflects it."""

    def __init__(self):
        self.sent = bytearray(_ECHO_MAX)
        self.pending = 0
        self.pos = 0

    def arm(self, buf, n):
        n = min(n, _ECHO_MAX)
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


class Port:
    """Echo handling shared by every port: subclasses provide _read(buf) and _send(buf)."""

    _echo = None

    def readinto(self, buf):
        n = self._read(buf) or 0  # pyright: ignore[reportAttributeAccessIssue] - subclasses provide _read and _send
        if n and self._echo is not None and self._echo.pending:
            n = self._echo.strip(buf, n)
        return n

    def write(self, buf):
        if self._echo is not None:
            self._echo.arm(buf, len(buf))
        return self._send(buf)  # pyright: ignore[reportAttributeAccessIssue] - subclasses provide _read and _send

    def discard(self):
        scratch = bytearray(64)
        while self._read(scratch):  # pyright: ignore[reportAttributeAccessIssue] - subclasses provide _read and _send
            pass

