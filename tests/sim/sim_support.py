"""Shared helpers for the simulator tests: a tiny serial client that reports raw bytes and timing.

The client deliberately does not use conc probe's retry logic: fault tests need to see exactly
what one request produced on the wire.
"""
import time

import serial

from protocol import dlt645, modbus
from protocol.errors import ProtocolError


class BusClient:
    """A pyserial client on a simulator's device path."""

    def __init__(self, path, baud):
        self.serial = serial.Serial(path, baud, timeout=0)

    def close(self):
        self.serial.close()

    def exchange(self, request, timeout=0.5, quiet=0.05):
        """Send `request`; collect bytes until they form a whole valid frame, or until `quiet`
        s of silence after the first one, or `timeout` without any. Returns (reply bytes,
        seconds from write to the last byte, or None)."""
        ser = self.serial
        ser.reset_input_buffer()
        started = time.monotonic()
        ser.write(request)
        ser.flush()
        got = bytearray()
        last = None
        while True:
            now = time.monotonic()
            waiting = ser.in_waiting
            if waiting:
                got += ser.read(waiting)
                last = time.monotonic()
                if is_whole_frame(got):
                    break
                continue
            if last is not None and now - last >= quiet:
                break
            if last is None and now - started >= timeout:
                break
            time.sleep(0.0005)
        return bytes(got), (last - started) if last is not None else None

    def read_645(self, address, di, **kw):
        reply, _ = self.exchange(dlt645.build_read(address, di), **kw)
        return dlt645.parse_frame(reply)

    def read_1997(self, address, di, **kw):
        reply, _ = self.exchange(dlt645.build_read_1997(address, di), **kw)
        return dlt645.parse_frame(reply)

    def read_input(self, unit, register, count, function=4, **kw):
        reply, _ = self.exchange(modbus.read_request(unit, function, register, count), **kw)
        return modbus.parse_reply(reply)


def is_whole_frame(buf):
    """True when `buf` is exactly one valid DL/T 645 frame (after any junk) or Modbus reply."""
    start = buf.find(b"\x68")
    while 0 <= start <= len(buf) - 12:
        try:
            dlt645.parse_frame(buf, start, len(buf) - start)
            return True
        except ProtocolError:
            start = buf.find(b"\x68", start + 1)
    size = modbus.reply_length(buf, len(buf))
    return bool(size) and size == len(buf) and modbus.crc_ok(buf, size)

