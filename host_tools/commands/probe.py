"""`conc probe`: read meters straight from a PC's USB RS-485 adapter (the lab engineer's tool).

One request at a time, with the reply timeout a concentrator would use: the request's and the
expected reply's wire time at the bus baud rate plus a turnaround allowance, stretched while
bytes keep arriving. A reply that does not decode (noise, a bad checksum, another meter's
address) counts as no reply and is retried; an abnormal reply is a real answer and is not.

`MeterLink` (a port and its wire format) and its `dlt645_read` / `modbus_read` /
`read_address` methods are the reusable part; `cli` is the command.
"""
import json
import os
import time

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, EXIT_FAILED, CliError
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
MODBUS_TYPES = ("float32", "u16", "s16", "u32", "s32")


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


def bits_per_char(parity):
    return 11 if parity in ("E", "O") else 10


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
        self.char_time = bits_per_char(parity) / float(baud)
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


def _parse_ids(text):
    try:
        if "-" in text:
            low, high = (int(x) for x in text.split("-", 1))
        else:
            low = high = int(text)
    except ValueError:
        raise CliError("--ids %r: give a Modbus id range like 1-247" % text, EXIT_BAD_INPUT) \
            from None
    if not 1 <= low <= high <= 247:
        raise CliError("--ids %r: ids run 1..247, low to high" % text, EXIT_BAD_INPUT)
    return range(low, high + 1)


def _parse_register(text):
    try:
        value = int(text, 0)
    except (TypeError, ValueError):
        raise CliError("--register %r: give a register number (30 or 0x1E)" % text,
                       EXIT_BAD_INPUT) from None
    if not 0 <= value <= 0xFFFF:
        raise CliError("--register %r is not 0..65535" % text, EXIT_BAD_INPUT)
    return value


@click.command()
@click.option("--port", envvar="CONC_PORT", required=True, metavar="PORT",
              help="Serial device of the RS-485 adapter (env CONC_PORT).")
@click.option("--protocol", type=click.Choice(sorted(PROTOCOLS)), default="dlt645",
              show_default=True, help="Meter protocol; it chooses the default wire format.")
@click.option("--baud", type=click.IntRange(300, 4000000), default=None,
              help="Baud rate [default: 2400 for dlt645, 1200 for dlt645-1997, 9600 modbus].")
@click.option("--parity", type=click.Choice(["N", "E", "O"], case_sensitive=False), default=None,
              help="Parity [default: E for DL/T 645, N for Modbus]; 8 data bits, 1 stop bit.")
@click.option("--address", metavar="A",
              help="Meter address: 12 digits for DL/T 645 (shorter is zero-padded; AA bytes "
                   "are wildcards), a unit id 1..247 for Modbus.")
@click.option("--item", "items", multiple=True, metavar="DI|NAME",
              help="What to read; repeatable. DL/T 645: a DI (00010000, 1997: 9010) or a "
                   "catalogue name (energy_fwd_total, freeze_daily_energy_fwd:2 = two days "
                   "back). Modbus: an item of --map. [default: energy_fwd_total]")
@click.option("--register", metavar="ADDR", help="Modbus: read this register (0-based, e.g. "
                                                 "0x48) instead of a map item.")
@click.option("--type", "kind", type=click.Choice(MODBUS_TYPES), default="float32",
              show_default=True, help="Modbus: value type at --register.")
@click.option("--function", type=click.Choice(["3", "4"]), default="4", show_default=True,
              help="Modbus: 4 reads input registers, 3 holding registers.")
@click.option("--map", "map_name", default="sdm120", show_default=True,
              help="Modbus register map for --item names (protocol/maps/<name>.json).")
@click.option("--scan", is_flag=True,
              help="Find meters: DL/T 645 asks a lone meter its address (wildcard read); "
                   "Modbus tries every id of --ids.")
@click.option("--ids", default="1-247", show_default=True, help="Modbus ids to try with --scan.")
@click.option("--retries", type=click.IntRange(0, 10), default=1, show_default=True,
              help="Resends after no reply or an unusable reply.")
@click.option("--turnaround-ms", type=click.IntRange(1, 10000), default=None,
              help="How long a meter may think before answering [default: 500 DL/T 645, "
                   "250 Modbus].")
@click.option("--json", "as_json", is_flag=True, help="Print the readings as one JSON object.")
def cli(port, protocol, baud, parity, address, items, register, kind, function, map_name, scan,
        ids, retries, turnaround_ms, as_json):
    """Read meters straight from a USB RS-485 adapter, or find them with --scan.

    \b
    Examples:
      conc probe --port /dev/ttyUSB0 --address 151230011061 --item energy_fwd_total
      conc probe --port /dev/ttyUSB0 --address 1 --item 0001FF00 --item voltage_block --json
      conc probe --port /dev/ttyUSB0 --protocol dlt645-1997 --address 3 --item 9010
      conc probe --port /dev/ttyUSB0 --protocol modbus --address 2 --item energy_fwd_total
      conc probe --port /dev/ttyUSB0 --protocol modbus --address 2 --register 0x48
      conc probe --port /dev/ttyUSB0 --scan
      conc probe --port /dev/ttyUSB0 --protocol modbus --scan --ids 1-10

    Exit status: 0 all read; 1 a meter did not answer or answered with an error; 3 the port
    is missing or busy; 2/4 bad arguments.
    """
    default_baud, default_parity, default_turnaround = PROTOCOLS[protocol]
    baud = baud or default_baud
    parity = (parity or default_parity).upper()
    turnaround_ms = turnaround_ms or default_turnaround
    version = 1997 if protocol == "dlt645-1997" else 2007
    is_modbus = protocol == "modbus"

    target = None
    if not scan:
        if address is None:
            raise click.UsageError("give --address (or --scan to find meters)")
        target = _check_address(address, is_modbus)
    plan = _plan(is_modbus, version, items, register, kind, function, map_name, scan)
    id_range = _parse_ids(ids) if (scan and is_modbus) else None

    link = MeterLink(port, baud, parity, turnaround_ms, retries)
    try:
        if scan:
            _scan(link, protocol, version, id_range, plan, as_json)
        else:
            _read(link, protocol, version, target, plan, as_json)
    finally:
        link.close()


def _check_address(address, is_modbus):
    if is_modbus:
        try:
            unit = int(address, 0)
        except ValueError:
            unit = -1
        if not 1 <= unit <= 247:
            raise CliError("--address %r: a Modbus unit id is 1..247" % address, EXIT_BAD_INPUT)
        return unit
    text = address.strip().upper()
    try:
        dlt645.address_bytes(text)
    except ProtocolError:
        raise CliError("--address %r: a DL/T 645 address is up to 12 digits (AA bytes as "
                       "wildcards)" % address, EXIT_BAD_INPUT) from None
    return text.zfill(12) if text.isdigit() else text


def _plan(is_modbus, version, items, register, kind, function, map_name, scan):
    """What to read, checked before the port is touched: [(label, reader args)]."""
    if is_modbus:
        from protocol import modbus_map
        if register is not None:
            if items:
                raise CliError("give --item or --register, not both", EXIT_BAD_INPUT)
            return [("register", {"register": _parse_register(register), "kind": kind,
                                  "function": int(function)})]
        try:
            register_map = modbus_map.load_map(map_name)
            names = items or ("energy_fwd_total",)
            return [("item", {"item": register_map.item(name)}) for name in names]
        except ProtocolError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if register is not None:
        raise CliError("--register is for Modbus meters; DL/T 645 reads --item", EXIT_BAD_INPUT)
    keys = items or (("9010",) if version == 1997 else ("energy_fwd_total",))
    for key in keys:
        try:
            resolve_dlt645_item(key, version)
        except ProtocolError as exc:
            raise CliError("--item: %s" % exc, EXIT_BAD_INPUT) from None
    return [("dlt645", {"key": key}) for key in keys]


def _read_one(link, protocol, version, target, kind_and_args):
    kind, args = kind_and_args
    if kind == "dlt645":
        return link.dlt645_read(target, args["key"], version)
    return link.modbus_read(target, **args)


def _read(link, protocol, version, target, plan, as_json):
    readings = []
    failures = []
    for step in plan:
        try:
            reading, latency, attempts = _read_one(link, protocol, version, target, step)
            reading.update(ok=True, latency_ms=round(latency * 1000, 1), attempts=attempts)
        except (NoReply, Abnormal) as exc:
            label = step[1].get("key") or getattr(step[1].get("item"), "name", None) or \
                "register 0x%04X" % step[1]["register"]
            reading = {"item": label, "ok": False, "error": exc.detail}
            failures.append("%s: %s" % (label, exc.detail))
        readings.append(reading)
        if not as_json and reading["ok"]:
            click.echo(_reading_line(reading))
    if as_json:
        click.echo(json.dumps({"port": link.port, "protocol": protocol, "baud": link.baud,
                               "parity": link.parity, "address": target,
                               "readings": readings}, indent=None))
    if failures:
        who = "unit %s" % target if protocol == "modbus" else "meter %s" % target
        raise CliError("%s on %s: %s" % (who, link.port, "; ".join(failures)), EXIT_FAILED)


def _reading_line(reading):
    key = reading.get("di") or (
        "fn%d 0x%04X" % (reading["function"], reading["register"]) if "register" in reading
        else "")
    value = reading["value"] + (" " + reading["unit"] if reading.get("unit") else "")
    retry = " after %d tries" % reading["attempts"] if reading["attempts"] > 1 else ""
    return "%-26s %-14s %-28s %6.1f ms%s" % (reading["item"], key, value, reading["latency_ms"],
                                            retry)


def _scan(link, protocol, version, id_range, plan, as_json):
    found = []
    if protocol != "modbus":
        try:
            address, latency = link.read_address(version)
        except NoReply as exc:
            if "undecodable" in exc.detail:
                raise CliError("replies to the wildcard read were garbled: more than one meter "
                               "on the bus? (read-address finds a lone meter; give --address)",
                               EXIT_FAILED) from None
            raise CliError("no DL/T 645-%d meter answered the wildcard read on %s at %d %s1"
                           % (version, link.port, link.baud, link.parity), EXIT_FAILED) from None
        except Abnormal as exc:
            raise CliError("a meter answered the wildcard read with an %s" % exc.detail,
                           EXIT_FAILED) from None
        found.append({"address": address, "latency_ms": round(latency * 1000, 1)})
    else:
        link.retries = 0            # a scan asks each id once
        probe_item = plan[0][1]
        for unit in id_range:
            try:
                _, latency, _ = link.modbus_read(unit, **probe_item)
                found.append({"address": unit, "latency_ms": round(latency * 1000, 1)})
            except Abnormal as exc:       # an exception reply still proves a meter is there
                found.append({"address": unit, "note": exc.detail})
            except NoReply:
                continue
    if as_json:
        click.echo(json.dumps({"port": link.port, "protocol": protocol, "found": found}))
    else:
        for meter in found:
            extra = ("%.1f ms" % meter["latency_ms"]) if "latency_ms" in meter else meter["note"]
            click.echo("found %s %s  (%s)" % (protocol, meter["address"], extra))
    if not found:
        raise CliError("no Modbus meter answered ids %d-%d on %s at %d %s1" % (
            id_range[0], id_range[-1], link.port, link.baud, link.parity), EXIT_FAILED)
