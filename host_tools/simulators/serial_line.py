"""The simulator's end of a serial line: a pty pair it creates, or a real adapter, with real timing.

Bus time must be real for the poller's timeouts and the bus-efficiency figure to mean anything,
so bytes leave at the configured baud: each byte is handed to the line only when it would have
finished arriving on a real wire (start bit, 8 data bits, parity, stop bits: 11 bits for 8E1,
10 for 8N1). A real adapter's UART paces itself; we then only wait for it to drain.

Linux ptys ignore parity and baud settings entirely, so the wire format is known from the
simulator's own configuration (`WireFormat`), never from the tty. The pty is left at whatever
speed its clients set: a client must cope with any tty (firmware/hal/serial_tty.py does).
"""
import os
import select
import termios
import time
import tty

PARITIES = {"N": "none", "E": "even", "O": "odd"}


class WireFormat:
    """Baud rate and character frame of a serial bus, and how long bytes take on it."""

    def __init__(self, baud=2400, parity="E", data_bits=8, stop_bits=1):
        parity = str(parity).upper()[:1]
        if parity not in PARITIES:
            raise ValueError("parity must be N, E or O, not %r" % (parity,))
        if int(baud) <= 0:
            raise ValueError("baud must be positive, not %r" % (baud,))
        self.baud = int(baud)
        self.parity = parity
        self.data_bits = int(data_bits)
        self.stop_bits = int(stop_bits)

    @property
    def bits_per_char(self):
        return 1 + self.data_bits + (0 if self.parity == "N" else 1) + self.stop_bits

    @property
    def char_time(self):
        """Seconds one byte occupies the wire."""
        return self.bits_per_char / float(self.baud)

    def wire_time(self, nbytes):
        return nbytes * self.char_time

    def __str__(self):
        return "%d %d%s%d" % (self.baud, self.data_bits, self.parity, self.stop_bits)


def sleep_until(deadline):
    """Sleep to a time.monotonic() deadline (short sleeps: good enough to ~0.1 ms on Linux)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(left if left < 0.002 else left - 0.0005)


class PtyLine:
    """A pty pair: the simulator holds the master; clients open `device_path` (the slave).

    The simulator also keeps the slave open itself, so a client closing and reopening the device
    never makes the master see EIO (which Linux returns while no one has the slave open).
    """

    def __init__(self, wire):
        self.wire = wire
        self.master, self._slave = os.openpty()
        for fd in (self.master, self._slave):
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[1] &= ~termios.OPOST        # no \n -> \r\n translation on binary frames
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        # A reply nobody reads must not block the bus thread once the pty buffer is full.
        os.set_blocking(self.master, False)
        self.device_path = os.ttyname(self._slave)
        self.closed = False

    def read(self, timeout):
        """Bytes available within `timeout` seconds (b"" when none came)."""
        if self.closed:
            return b""
        ready, _, _ = select.select([self.master], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def write_paced(self, data, start=None):
        """Send `data` as a UART at `wire` would: each byte appears when it has fully arrived.

        Returns the time.monotonic() at which the last byte arrived.
        """
        char_time = self.wire.char_time
        start = time.monotonic() if start is None else start
        sent = 0
        total = len(data)
        while sent < total:
            now = time.monotonic()
            due = min(total, int((now - start) / char_time))
            if due > sent:
                self._write(data[sent:due])
                sent = due
                continue
            sleep_until(start + (sent + 1) * char_time)
        return start + total * char_time

    def write_raw(self, data):
        """Send at once, unpaced."""
        self._write(data)

    def _write(self, data):
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass        # no one is listening and the buffer is full: lost, as on a wire

    def close(self):
        if not self.closed:
            self.closed = True
            os.close(self.master)
            os.close(self._slave)


class AdapterLine:
    """A real serial device (USB RS-485 adapter) through pyserial; its UART paces the bytes."""

    def __init__(self, wire, port):
        import serial
        settings = dict(baudrate=wire.baud, parity=wire.parity, bytesize=wire.data_bits,
                        stopbits=wire.stop_bits, timeout=0)
        try:
            try:
                self.serial = serial.Serial(port, **settings)  # pyright: ignore[reportArgumentType] - pyserial's settings dict
            except termios.error:
                # A pty (e.g. another simulator's) rejects parity: timing comes from `wire`.
                settings["parity"] = "N"  # pyright: ignore[reportArgumentType] - pyserial's settings dict
                self.serial = serial.Serial(port, **settings)  # pyright: ignore[reportArgumentType] - pyserial's settings dict
        except (serial.SerialException, OSError, termios.error) as exc:
            raise OSError("cannot open %s: %s" % (port, exc)) from exc
        self.wire = wire
        self.device_path = port
        self.closed = False

    def read(self, timeout):
        if self.closed:
            return b""
        deadline = time.monotonic() + timeout
        while True:
            waiting = self.serial.in_waiting
            if waiting:
                return self.serial.read(waiting)
            if time.monotonic() >= deadline:
                return b""
            time.sleep(min(0.001, max(0.0, deadline - time.monotonic())))

    def write_paced(self, data, start=None):
        self.serial.write(data)
        self.serial.flush()
        return time.monotonic()

    def write_raw(self, data):
        self.serial.write(data)

    def close(self):
        if not self.closed:
            self.closed = True
            self.serial.close()


def open_line(wire, port=None):
    """A PtyLine when `port` is None, else the adapter at `port`."""
    if port is None:
        return PtyLine(wire)
    return AdapterLine(wire, port)


def serial_ports():
    """Device paths of the serial ports this machine has (for "which ports exist" messages)."""
    try:
        from serial.tools import list_ports
        return sorted(port.device for port in list_ports.comports())
    except Exception:       # listing is a courtesy in an error message; never fail on it
        return []


def describe_missing_port(port):
    """One sentence for a port that cannot be found, naming the ports that exist."""
    present = serial_ports()
    return "%s does not exist; serial ports on this machine: %s" % (
        port, ", ".join(present) if present else "none found (is the adapter plugged in?)")
