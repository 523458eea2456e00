"""A serial port on a tty device: the virtual board's buses and modem (or any Linux host running
the firmware), through termios. The interface is firmware/hal/serial.py's.

The line goes into raw mode with VMIN=0/VTIME=0 so that a read returns what is there and never
waits (MicroPython's readinto otherwise loops until the buffer is full).

Any tty works: a USB adapter, a pty pair made by socat, a pty another program serves a meter on.
Linux ptys refuse (EINVAL) a tcsetattr that sets PARENB unless the same call also changes the
speed (they then drop the parity, which means nothing on a pty). So when the settings are refused
and they ask for parity, the port first steps to another speed without parity and then applies
the settings again: that second call changes the speed, which a pty accepts. A real UART takes
the first call; one that refuses the parity for good refuses the second call too, and the error
is raised.
"""
from firmware.hal.serial import Echo, Port, bits_per_char
from protocol.compat import const

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
_EINVAL = const(22)
_STEP_ASIDE_SPEED = const(1)       # B50: no meter bus runs at 50 baud


class TtyPort(Port):
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
        _apply(termios, fd, attrs)
        self.char_us = bits_per_char(parity, stop_bits) * 1000000 // baud
        self.pollable = self.file
        self._echo = Echo() if echo else None
        self._read = self.file.readinto
        self._send = self.file.write

    def close(self):
        self.file.close()


def _apply(termios, fd, attrs):
    try:
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        return
    except OSError as exc:
        if exc.args[0] != _EINVAL or not attrs[2] & _PARENB:
            raise
    wanted = attrs[4]
    cflag = attrs[2]
    attrs[2] = cflag & ~(_PARENB | _PARODD)
    attrs[4] = attrs[5] = _STEP_ASIDE_SPEED if wanted != _STEP_ASIDE_SPEED else _LINUX_SPEED[300]
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    attrs[2] = cflag
    attrs[4] = attrs[5] = wanted
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
