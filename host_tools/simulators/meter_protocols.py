"""How a simulated meter answers on the wire: DL/T 645-2007, DL/T 645-1997 and Modbus (SDM style).

A handler turns one parsed request into the reply bytes (or None: no reply) from its
`MeterModel`. The wire belongs to the project's codecs: frames from protocol.dlt645 and
protocol.modbus, what a DI means and how its value is encoded from protocol.dlt645_items, the
Modbus registers from the maps in protocol/maps (protocol.modbus_map). What is meter-specific
lives here: `QUANTITIES`, the value of each catalogue item name in the model, and how a meter
reacts to control commands.

Each value sent is recorded in `model.last_served` under its DI text ("00010000", "9010") or
Modbus item name, in the form the catalogue's `decode` returns (exact scaled integers, tuples
for blocks and dates), so a test compares `decode(reply) == model.last_served[key]`.

Meter behaviour worth knowing:
- Block DIs (0001FF00, 020101FF ...; 1997 901F, B61F ...) are answered only by meters with
  `supports_blocks`; others reply "no requested data" (error bit b1), as many field meters do.
  The standard's own block DIs for voltage and current (0201FF00, 0202FF00) are answered too.
- Daily freeze history: 05060001+n (time), 05060101+n / 05060201+n (forward / reverse energy,
  total + 4 tariffs) with DI0 = n-th previous day; "no requested data" for days not frozen yet
  or when the meter does not freeze. DL/T 645-1997 has no daily-freeze identifiers.
- Relay control (0x1C) checks the password (b2 unauthorised) and refuses expired commands and
  a trip under keep-power protection (b0 other).
- Broadcast time (0x08) sets the meter clock and is never answered. Writing 04000101 / 04000102
  (0x14, password checked) sets the date or the time of one meter.
- Read address (0x13) to AAAAAAAAAAAA is answered by every 645-2007 meter: with more than one on
  the bus the replies collide (meter_bus garbles them), as on a real wire.
- Modbus: function 04 (and 03 for the maps' holding registers) within the map's registers;
  registers between listed items read 0; a read outside them is exception 2, more than the map's
  `max_registers` exception 3, writes and other functions exception 1.
"""
import math
from datetime import datetime
from decimal import Decimal

from protocol import bcd, dlt645, dlt645_items, modbus
from protocol.errors import ProtocolError

from host_tools.simulators.meter_model import RelayRefused

_items = dlt645_items


class NoData(Exception):
    """The meter holds no such item (DL/T 645 error bit b1)."""


# ---------------------------------------------------------------------------------------------
# The value of each catalogue item name in a MeterModel. Numbers are Decimals in the item's unit;
# blocks are tuples; dates and times are datetimes; status words ints; addresses text.

def _inst(key, phase=None):
    if phase is None:
        return lambda m: m.instantaneous()[key]
    return lambda m: m.instantaneous()[key][phase]


def _power_block(m):
    values = m.instantaneous()
    return (values["active_power_kw"],) + values["phase_power_kw"]


def _pf_block(m):
    pf = m.instantaneous()["power_factor"]
    return (pf,) + tuple(pf if phase < m.phases else Decimal(0) for phase in range(3))


def _phase_pf(phase):
    return lambda m: m.instantaneous()["power_factor"] if phase < m.phases else Decimal(0)


def _apparent_kva(m):
    values = m.instantaneous()
    return (values["active_power_kw"] / values["power_factor"]).quantize(Decimal("0.0001"))


def _reactive_kvar(m):
    values = m.instantaneous()
    p = float(values["active_power_kw"])
    s = float(values["active_power_kw"] / values["power_factor"])
    return Decimal(repr(round(math.sqrt(max(0.0, s * s - p * p)), 4)))


def _no_data(m):
    raise NoData()


QUANTITIES = {
    "energy_combined_total": lambda m: m.combined_active_kwh(),
    "energy_combined_block": lambda m: m.combined_active_block(),
    "energy_fwd_block": lambda m: m.forward_active_kwh(),
    "energy_rev_block": lambda m: m.reverse_active_kwh(),
    "settled_energy_fwd_block": _no_data,       # monthly settlement: not simulated
    "balance_remaining": _no_data,              # not a prepaid meter
    "voltage_block": _inst("voltage_v"),
    "current_block": _inst("current_a"),
    "current_sum": lambda m: sum(m.instantaneous()["current_a"]),
    "current_n": lambda m: Decimal("0.000"),    # balanced phases
    "power_active_total": _inst("active_power_kw"),
    "power_active_block": _power_block,
    "power_apparent_total": _apparent_kva,
    "power_reactive_total": _reactive_kvar,
    "power_factor_total": _inst("power_factor"),
    "power_factor_block": _pf_block,
    "frequency": _inst("frequency_hz"),
    "energy_reactive_fwd_total": lambda m: m.reactive_kwh(),
    "energy_reactive_rev_total": lambda m: Decimal("0.00"),
    "energy_reactive_total": lambda m: m.reactive_kwh(),
    "date": lambda m: m.meter_time(),
    "time": lambda m: m.meter_time(),
    "address": lambda m: m.address,
    "meter_number": lambda m: m.address,
    "status_words": lambda m: tuple(m.status_word(n) for n in range(1, 8)),
}
for _t, _suffix in enumerate(("total", "t1", "t2", "t3", "t4")):
    QUANTITIES["energy_fwd_" + _suffix] = (lambda t: lambda m: m.forward_active_kwh()[t])(_t)
    QUANTITIES["energy_rev_" + _suffix] = (lambda t: lambda m: m.reverse_active_kwh()[t])(_t)
for _p, _phase in enumerate("abc"):
    QUANTITIES["voltage_" + _phase] = _inst("voltage_v", _p)
    QUANTITIES["current_" + _phase] = _inst("current_a", _p)
    QUANTITIES["power_active_" + _phase] = _inst("phase_power_kw", _p)
    QUANTITIES["power_factor_" + _phase] = _phase_pf(_p)
for _n in range(1, 8):
    QUANTITIES["status_word_%d" % _n] = (lambda n: lambda m: m.status_word(n))(_n)


def quantity(model, name):
    """The model's value of catalogue item `name`; NoData when this meter has none."""
    getter = QUANTITIES.get(name)
    if getter is None:
        raise NoData()
    return getter(model)


def scaled(value, decimals):
    """Decimal -> exact integer in units of 10**-decimals (rounded half even, as a meter shows)."""
    return int((Decimal(value) * (10 ** decimals)).to_integral_value())


# ---------------------------------------------------------------------------------------------
# DL/T 645: model values in the catalogue's decoded form

_DATE_FIELDS = {
    "YYMMDDWW": lambda t: (t.year, t.month, t.day, (t.weekday() + 1) % 7),   # WW 0 = Sunday
    "hhmmss": lambda t: (t.hour, t.minute, t.second),
    "YYMMDDhhmm": lambda t: (t.year, t.month, t.day, t.hour, t.minute),
}
_ENERGY_DIGITS = 8          # XXXXXX.XX: energy registers roll over, as meters do

# DIs the standard uses for blocks, beside the ones the catalogue names.
STANDARD_BLOCK_ALIASES = {0x0201FF00: 0x020101FF, 0x0202FF00: 0x020201FF}


def is_block_di(di, version=2007):
    if version == 1997:
        return di & 0x000F == 0x000F
    return (di >> 8) & 0xFF == 0xFF or di & 0xFF == 0xFF


def catalogue_value(row, value, version=2007):
    """A model value -> what dlt645_items.encode takes (and decode gives back)."""
    fmt = row[_items.FMT97] if version == 1997 and row[_items.FMT97] else row[_items.FMT]
    if fmt in _DATE_FIELDS:
        return _DATE_FIELDS[fmt](value)
    if fmt == "bits16" or fmt == "NNNNNNNNNNNN":
        return value
    places = _items.decimals(row, version)

    def one(x):
        number = scaled(x, places)
        if row[_items.UNIT] == "kWh":
            number %= 10 ** _ENERGY_DIGITS
        return number

    if isinstance(value, tuple):
        return tuple(one(x) for x in value)
    return one(value)


def _history(model, row, di):
    """Value of the n-th previous daily freeze (DI0 = n) for a history row."""
    n = di & 0xFF
    day = model.frozen_day(n) if model.supports_freeze else None
    if day is None:
        raise NoData()
    name = row[_items.NAME]
    if name == "freeze_daily_time":
        return day.time
    if name == "freeze_daily_energy_fwd":
        return day.forward_kwh
    if name == "freeze_daily_energy_rev":
        return day.reverse_kwh
    raise NoData()


def dlt645_reply_value(model, di, version=2007):
    """(decoded value, payload bytes) a meter sends for `di`; NoData when it has none."""
    if version == 1997:
        row = _items.lookup_1997(di)
    else:
        row = _items.lookup(STANDARD_BLOCK_ALIASES.get(di, di))
    if row is None:
        raise NoData()
    if is_block_di(di, version) and not model.supports_blocks:
        raise NoData()
    if row[_items.HISTORY]:
        raw = _history(model, row, di)
    else:
        raw = quantity(model, row[_items.NAME])
    value = catalogue_value(row, raw, version)
    try:
        payload = _items.encode(row, value, version)
    except ProtocolError:
        raise NoData() from None        # does not fit the format (e.g. > 99.99 A in 1997)
    return value, payload


# ---------------------------------------------------------------------------------------------
# DL/T 645 handler

def _from_tuple(clock):
    year, month, day, hour, minute, second = clock
    return datetime(year, month, day, hour, minute, second)


class Dlt645Handler:
    """A DL/T 645 meter (2007, or 1997 with `version=1997`) answering frames for its address."""

    def __init__(self, model, version=2007):
        self.model = model
        self.version = version

    def addressed(self, frame):
        """True when this meter must act on `frame` (its address; AA bytes match anything)."""
        wanted = frame.address
        if wanted == dlt645.BROADCAST:
            return frame.function == dlt645.BROADCAST_TIME
        return all(w == "A" or w == o for w, o in zip(wanted, self.model.address, strict=True))

    def handle(self, frame):
        """Reply bytes for a request addressed to this meter, or None (no reply)."""
        model = self.model
        function = frame.function
        if frame.from_meter:
            return None
        if function == dlt645.BROADCAST_TIME:
            if frame.clock is not None:
                try:
                    model.set_meter_time(_from_tuple(frame.clock))
                except ValueError:
                    pass        # an impossible date: a real meter ignores it too
            return None
        if self.version == 1997:
            return self._handle_1997(frame)
        if frame.version == 1997:
            return None         # a 2007 meter does not speak the 1997 function codes
        if function == dlt645.READ:
            return self._read(frame)
        if function == dlt645.READ_FOLLOW:
            # Every reply fits one frame, so there is never a follow-up to give.
            return self._error(dlt645.READ_FOLLOW, dlt645.ERR_NO_DATA)
        if function == dlt645.READ_ADDRESS:
            return dlt645.build_read_address_reply(model.address, preamble=model.preamble)
        if function == dlt645.RELAY:
            return self._relay(frame)
        if function == dlt645.WRITE:
            return self._write(frame)
        return self._error(function, dlt645.ERR_OTHER)

    def _error(self, function, error):
        return dlt645.build_error_reply(self.model.address, function, error,
                                        preamble=self.model.preamble)

    def _read(self, frame):
        if frame.payload:               # load-curve parameters: this meter keeps no curve
            return self._error(dlt645.READ, dlt645.ERR_NO_DATA)
        try:
            value, payload = dlt645_reply_value(self.model, frame.di)
        except NoData:
            return self._error(dlt645.READ, dlt645.ERR_NO_DATA)
        self.model.serve(dlt645.di_text(frame.di), value)
        return dlt645.build_read_reply(self.model.address, frame.di, payload,
                                       preamble=self.model.preamble)

    def _relay(self, frame):
        model = self.model
        if not model.check_password(frame.password):
            return self._error(dlt645.RELAY, dlt645.ERR_UNAUTHORIZED)
        try:
            expired = _from_tuple(frame.expiry) < model.meter_time()
        except ValueError:
            expired = True
        if expired:
            return self._error(dlt645.RELAY, dlt645.ERR_OTHER)
        try:
            model.relay_command(frame.command)
        except RelayRefused:
            return self._error(dlt645.RELAY, dlt645.ERR_OTHER)
        return dlt645.build_reply(model.address, dlt645.RELAY, preamble=model.preamble)

    def _write(self, frame):
        model = self.model
        if not model.check_password(frame.password):
            return self._error(dlt645.WRITE, dlt645.ERR_UNAUTHORIZED)
        value = frame.payload
        now = model.meter_time()
        try:
            if frame.di == 0x04000101 and len(value) == 4:
                number = bcd.decode(value, 0, 4)            # YYMMDDWW
                new = now.replace(year=2000 + number // 1000000, month=number // 10000 % 100,
                                  day=number // 100 % 100)
            elif frame.di == 0x04000102 and len(value) == 3:
                number = bcd.decode(value, 0, 3)            # hhmmss
                new = now.replace(hour=number // 10000, minute=number // 100 % 100,
                                  second=number % 100, microsecond=0)
            else:
                return self._error(dlt645.WRITE, dlt645.ERR_UNAUTHORIZED)
        except (ValueError, ProtocolError):
            return self._error(dlt645.WRITE, dlt645.ERR_OTHER)
        model.set_meter_time(new)
        return dlt645.build_reply(model.address, dlt645.WRITE, preamble=model.preamble)

    def _handle_1997(self, frame):
        if frame.function != dlt645.READ_1997 or frame.version != 1997:
            return None         # the simulated 1997 meters answer reads only
        try:
            value, payload = dlt645_reply_value(self.model, frame.di, 1997)
        except NoData:
            return self._error(dlt645.READ_1997, dlt645.ERR_NO_DATA)
        self.model.serve(dlt645.di_text(frame.di, 1997), value)
        return dlt645.build_read_reply_1997(self.model.address, frame.di, payload,
                                            preamble=self.model.preamble)

    # --- fault helpers ---------------------------------------------------------------------

    @staticmethod
    def corrupt_checksum(reply):
        out = bytearray(reply)
        out[-2] ^= 0x5A
        return bytes(out)

    def from_other_address(self, reply):
        """The same reply as if the meter at the next address had sent it."""
        other = "%012d" % ((int(self.model.address) + 1) % 999999999999)
        frame = dlt645.parse_frame(reply)
        preamble = 0
        while reply[preamble] == dlt645.PREAMBLE:
            preamble += 1
        return dlt645.build_frame(other, frame.control, frame.data, preamble=preamble)


# ---------------------------------------------------------------------------------------------
# Modbus, from a register map

SDM_BAUD_CODES = {2400: 0, 4800: 1, 9600: 2, 19200: 3, 38400: 4, 1200: 5}


class ModbusHandler:
    """A Modbus RTU meter holding the items of a register map (protocol/maps/<name>.json)."""

    def __init__(self, model, map_name="sdm120", baud=9600):
        from protocol import modbus_map
        self.model = model
        self.map = modbus_map.load_map(map_name)
        self.baud = baud
        self._spans = {}
        for item in self.map.items:
            low, high = self._spans.get(item.function, (item.register, item.register))
            self._spans[item.function] = (min(low, item.register),
                                          max(high, item.register + item.registers))

    def addressed(self, message):
        return message.unit == self.model.address

    def _value(self, item):
        name = item.name
        if name == "modbus_unit":
            return Decimal(self.model.address)
        if name == "baud_code":
            return Decimal(SDM_BAUD_CODES.get(self.baud, 2))
        if name == "serial_number":
            return Decimal(int(self.model.address) + 10000000)
        return quantity(self.model, name)

    def handle(self, message):
        unit = self.model.address
        function = message.function
        span = self._spans.get(function)
        if span is None or function not in (modbus.READ_HOLDING, modbus.READ_INPUT):
            return modbus.exception_reply(unit, function, 1)
        start, count = message.address, message.count
        if count > self.map.max_registers:
            return modbus.exception_reply(unit, function, 3)
        if start < span[0] or start + count > span[1]:
            return modbus.exception_reply(unit, function, 2)
        image = bytearray(2 * count)
        served = []
        for item in self.map.items:
            if item.function != function:
                continue
            end = item.register + item.registers
            if end <= start or item.register >= start + count:
                continue
            try:
                value = scaled(self._value(item), item.decimals)
            except NoData:
                value = 0
            raw = item.encode(value)
            value = item.scaled(raw)        # what a client decodes (float32 keeps ~7 digits)
            for i in range(item.registers):
                register = item.register + i
                if start <= register < start + count:
                    at = 2 * (register - start)
                    image[at:at + 2] = raw[2 * i:2 * i + 2]
            if item.register >= start and end <= start + count:
                served.append((item.name, value))
        for name, value in served:
            self.model.serve(name, value)
        return modbus.read_reply(unit, function, bytes(image))

    @staticmethod
    def corrupt_checksum(reply):
        out = bytearray(reply)
        out[-1] ^= 0x5A
        return bytes(out)

    def from_other_address(self, reply):
        other = self.model.address % 247 + 1
        body = bytes((other,)) + bytes(reply[1:-2])
        crc = modbus.crc16(body)
        return body + bytes((crc & 0xFF, crc >> 8))


def make_handler(model, protocol, map_name=None, baud=9600):
    if protocol == "dlt645":
        return Dlt645Handler(model, 2007)
    if protocol == "dlt645-1997":
        return Dlt645Handler(model, 1997)
    if protocol == "modbus":
        return ModbusHandler(model, map_name or "sdm120", baud)
    raise ValueError("unknown protocol %r" % (protocol,))
