"""A PC's serial port to a meter bus: one request at a time, DL/T 645 or Modbus RTU.

The reply timeout is the one a concentrator would use: the request's and the expected reply's
wire time at the bus baud rate plus a turnaround allowance, stretched while bytes keep arriving.
A reply that does not decode (noise, a bad checksum, another meter's address) counts as no
reply and is retried; an abnormal reply is a real answer and is not.

    link = MeterLink("/dev/ttyUSB0", 2400, "E", turnaround_ms=500)
    reading, latency_s, attempts = link.dlt645_read("151230011061", "energy_fwd_total")

Used by `conc probe` (host_tools/commands/probe.py) and the benchmarks.
"""
import os
import time

from host_tools.errors import EXIT_DEVICE, CliError
from host_tools.simulators.serial_line import WireFormat
from protocol import dlt645, dlt645_items, modbus
from protocol.dlt645_deframer import Deframer
from protocol.errors import ProtocolError

PROTOCOLS = {
    # protocol: (baud, parity, turnaround allowance ms)
    "dlt645": (2400, "E", 500),
    "dlt645-1997": (1200, "E", 500),
    "modbus": (9600, "N", 250),
}
ERROR_MEANINGS = {
    "other": "other error", "no_data": "no requested data",
    "unauthorized": "password error / unauthorised", "baud_unchangeable": "baud cannot change",
    "year_zones_over": "year time zones over", "day_periods_over": "daily periods over",
    "tariffs_over": "tariff count over", "illegal_data": "illegal data",
    "wrong_di": "wrong data identifier", "password_error": "password error",
}


class NoReply(Exception):
    """Nothing usable came back: `detail` says what, if anything, was heard."""

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


class Abnormal(Exception):
    """The meter answered, with an error (645 abnormal reply or Modbus exception)."""

    def __init__(self, detail):
        super().__init__(detail)
        self.detail = detail


def open_serial(port, baud, parity):
    """pyserial port at 8-`parity`-1. A Linux pty refuses some parity settings (EINVAL) and
    ignores the rest; there the line opens without parity, and timing still uses `parity`."""
    import termios

    import serial
    try:
        return serial.serial_for_url(port, baudrate=baud, parity=parity, bytesize=8,
                                     stopbits=1, timeout=0)
    except termios.error:
        if parity == "N":
            raise
        return serial.serial_for_url(port, baudrate=baud, parity="N", bytesize=8, stopbits=1,
                                     timeout=0)


class MeterLink:
    """A serial port to a meter bus and the timing of its wire format."""

    def __init__(self, port, baud, parity, turnaround_ms, retries=1):
        self.port = port
        self.baud = baud
        self.parity = parity
        self.char_time = WireFormat(baud, parity).char_time
        self.turnaround_s = turnaround_ms / 1000.0
        self.retries = retries
        if not os.path.exists(port) and "://" not in port:
            from host_tools.simulators.serial_line import describe_missing_port
            raise CliError(describe_missing_port(port), EXIT_DEVICE)
        try:
            self.serial = open_serial(port, baud, parity)
        except Exception as exc:            # pyserial raises several kinds; all mean "can't"
            raise CliError("cannot open %s: %s (in use by another program?)"
                           % (port, getattr(exc, "strerror", None) or exc), EXIT_DEVICE) from None

    def close(self):
        self.serial.close()

    def timeout_for(self, request_len, reply_len):
        """Seconds to wait for a reply: both frames' wire time plus the turnaround allowance."""
        return (request_len + reply_len) * self.char_time + self.turnaround_s + 0.02

    def exchange(self, request, reply_len, take):
        """Send `request`, feed bytes to `take(chunk)` until it returns a result or time runs out.

        Returns (result, latency seconds, attempts). `take` returns None while waiting and
        raises NoReply / Abnormal; a NoReply on the last attempt propagates.
        """
        attempts = 0
        while True:
            attempts += 1
            try:
                result, latency = self._once(request, reply_len, take)
                return result, latency, attempts
            except NoReply as exc:
                if attempts > self.retries:
                    exc.detail = "%s (%d attempt%s, %.0f ms each)" % (
                        exc.detail, attempts, "" if attempts == 1 else "s",
                        self.timeout_for(len(request), reply_len) * 1000)
                    raise

    def _once(self, request, reply_len, take):
        ser = self.serial
        ser.reset_input_buffer()
        started = time.monotonic()
        ser.write(request)
        ser.flush()
        # The request has left the wire after its bytes' time, even if the adapter says sooner.
        deadline = started + self.timeout_for(len(request), reply_len)
        heard = False
        while True:
            now = time.monotonic()
            waiting = ser.in_waiting
            if waiting:
                heard = True
                chunk = ser.read(waiting)
                result = take(chunk)
                if result is not None:
                    return result, time.monotonic() - started
                # Bytes are flowing: allow the rest of a frame of this size to arrive.
                deadline = max(deadline, now + reply_len * self.char_time + 0.02)
                continue
            if now >= deadline:
                take(None)                  # lets the taker say what it heard
                raise NoReply("no reply" if not heard else "unusable reply")
            time.sleep(min(0.002, max(0.0, deadline - now)))

    # --- DL/T 645 ------------------------------------------------------------------------

    def dlt645_transaction(self, request, expect_address, function, reply_len):
        """Send a 645 request; the parsed reply Frame from `expect_address` (AA = anyone)."""
        deframer = Deframer()
        seen = {"other": None, "rejected": 0}

        def take(chunk):
            if chunk is None:
                if seen["other"]:
                    raise NoReply("the reply came from address %s" % seen["other"])
                if deframer.rejected or deframer.noise or deframer.buffered():
                    raise NoReply("undecodable reply (bad checksum, garbage or collision)")
                return None
            deframer.feed(chunk)
            size = deframer.next_frame()
            while size:
                try:
                    frame = dlt645.parse_frame(deframer.buf, deframer.start, size)
                except ProtocolError:
                    frame = None
                if frame is not None and frame.from_meter and frame.function == function:
                    if _address_matches(expect_address, frame.address):
                        if frame.abnormal:
                            raise Abnormal(_error_text(frame))
                        return frame
                    seen["other"] = frame.address
                size = deframer.next_frame()
            return None

        return self.exchange(request, reply_len, take)

    def dlt645_read(self, address, key, version=2007):
        """Read one item: (reading dict, latency s, attempts)."""
        di, row = resolve_dlt645_item(key, version)
        if version == 1997:
            request = dlt645.build_read_1997(address, di)
            function = dlt645.READ_1997
            size = dlt645_items.item_size(row, 1997) if row else 50
            reply_len = 4 + 12 + 2 + size
        else:
            request = dlt645.build_read(address, di)
            function = dlt645.READ
            size = dlt645_items.item_size(row) if row else 50
            reply_len = 4 + 12 + 4 + size
        frame, latency, attempts = self.dlt645_transaction(
            request, address, function, reply_len)
        return dlt645_reading(frame, di, row, version), latency, attempts

    def read_address(self, version=2007):
        """Address of the lone meter on the bus (wildcard read); (address, latency s)."""
        if version == 1997:
            request = dlt645.build_read_1997(dlt645.WILDCARD, 0xC032)
            frame, latency, _ = self.dlt645_transaction(request, dlt645.WILDCARD,
                                                        dlt645.READ_1997, 4 + 12 + 8)
            return frame.address, latency
        request = dlt645.build_read_address()
        frame, latency, _ = self.dlt645_transaction(request, dlt645.WILDCARD,
                                                    dlt645.READ_ADDRESS, 4 + 12 + 6)
        return frame.meter_address or frame.address, latency

    # --- Modbus ----------------------------------------------------------------------------

    def modbus_transaction(self, unit, function, start, count):
        request = modbus.read_request(unit, function, start, count)
        parsed_request = modbus.parse_request(request)
        buf = bytearray()
        seen = {"other": None}

        def take(chunk):
            if chunk is None:
                if seen["other"] is not None:
                    raise NoReply("the reply came from unit %d" % seen["other"])
                if buf:
                    raise NoReply("undecodable reply (bad CRC or garbage)")
                return None
            buf.extend(chunk)
            while len(buf) >= 2:
                size = modbus.reply_length(buf, len(buf))
                if not size and len(buf) < 3 and buf[1] == function:
                    return None             # the byte count has not arrived yet
                if not size or size > modbus.MAX_FRAME:
                    del buf[0]              # not the start of a reply: resynchronise
                    continue
                if len(buf) < size:
                    return None
                if not modbus.crc_ok(buf, size):
                    del buf[0]
                    continue
                try:
                    reply = modbus.parse_reply(bytes(buf[:size]))
                except ProtocolError:
                    del buf[0]
                    continue
                if reply.unit != unit:
                    seen["other"] = reply.unit
                    del buf[:size]
                    continue
                del buf[:size]
                if reply.exception is not None:
                    raise Abnormal("exception %d %s" % (reply.exception, reply.exception_name))
                try:
                    modbus.check_answers(parsed_request, reply)
                except ProtocolError as exc:
                    raise NoReply("reply does not answer the request: %s" % exc) from None
                return reply
            return None

        return self.exchange(request, 5 + 2 * count, take)

    def modbus_read(self, unit, item=None, register=None, kind="float32", function=4):
        """Read a map item or a raw register: (reading dict, latency s, attempts)."""
        if item is not None:
            register, kind, function = item.register, item.kind, item.function
        count = modbus.TYPE_REGISTERS[kind]
        reply, latency, attempts = self.modbus_transaction(unit, function, register, count)
        if item is not None:
            stored = item.scaled(reply.data, 0)
            reading = {"item": item.name, "register": register, "function": function,
                       "value": dlt645_items.scaled_text(stored, item.decimals),
                       "scaled": stored, "decimals": item.decimals, "unit": item.unit}
        else:
            value = modbus.decode_value(reply.data, 0, kind)
            reading = {"item": "register 0x%04X" % register, "register": register,
                       "function": function, "type": kind,
                       "value": ("%.7g" % value) if isinstance(value, float) else str(value),
                       "unit": ""}
        reading["raw"] = bytes(reply.data).hex()
        return reading, latency, attempts


def _address_matches(wanted, got):
    return all(w == "A" or w == g for w, g in zip(wanted, got, strict=True))


def _error_text(frame):
    names = frame.error_names()
    if not names:
        return "abnormal reply with error byte 0x%02X" % (frame.error or 0)
    return "abnormal reply: " + ", ".join(
        "%s (%s)" % (name, ERROR_MEANINGS.get(name, name)) for name in names)


def resolve_dlt645_item(key, version=2007):
    """--item text -> (DI, catalogue row or None). ProtocolError for an unknown name."""
    text = str(key).strip()
    if version == 1997:
        if len(text) == 4 and all(c in "0123456789abcdefABCDEF" for c in text):
            di = int(text, 16)
            return di, dlt645_items.lookup_1997(di)
        _, row = dlt645_items.find(text)
        if row is None or row[dlt645_items.DI97] is None:
            raise ProtocolError("%s has no DL/T 645-1997 identifier; give a 4-digit DI such "
                                "as 9010" % text)
        return row[dlt645_items.DI97], row
    return dlt645_items.find(text)


def dlt645_reading(frame, di, row, version):
    payload = frame.payload
    reading = {"di": dlt645.di_text(di, version), "raw": bytes(payload).hex()}
    if row is None:
        reading.update(item=reading["di"], value=bytes(payload).hex(), unit="")
        return reading
    try:
        value = dlt645_items.decode(row, payload, version)
    except ProtocolError as exc:
        raise NoReply("reply for %s does not decode: %s" % (reading["di"], exc)) from None
    reading.update(item=row[dlt645_items.NAME], value=dlt645_items.value_text(row, value, version),
                   unit=row[dlt645_items.UNIT])
    if dlt645_items.decimals(row, version) or isinstance(value, int):
        reading["scaled"] = value
        reading["decimals"] = dlt645_items.decimals(row, version)
    return reading
