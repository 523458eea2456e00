"""How a simulated meter answers on the wire: DL/T 645-2007, DL/T 645-1997 and Modbus (SDM style).

A handler turns one parsed request into the reply bytes (or None: no reply) from its
`MeterModel`. Frames are built and parsed by the project's codecs (protocol.dlt645,
protocol.modbus); this module holds what is meter-specific: which data identifiers or
registers a meter serves, in which format, and how it reacts to control commands.

Each served value is recorded in `model.last_served` under its DI text ("00010000",
"9010") or Modbus register name, exactly as encoded, so a test can compare what a client
decoded with what the meter sent.

Meter behaviour worth knowing:
- Block DIs (0001FF00, 0201FF00 ...; 1997 901F, B61F ...) are answered only by meters with
  `supports_blocks`; others reply "no requested data" (error bit b1), as many field meters do.
- Daily freeze history: 05060001+n (time) and 05060101+n / 05060201+n (forward / reverse
  energy, total + 4 tariffs) with DI0 = n-th previous day; "no requested data" for days the
  meter has not frozen yet or when it does not support freezing (DL/T 645-1997 has no daily
  freeze identifiers).
- Relay control (0x1C) checks the password (b2 unauthorised), refuses expired commands and a
  trip under keep-power protection (b0 other).
- Broadcast time (0x08) sets the meter clock, never answers. Writing 04000101 / 04000102 (0x14,
  password checked) sets the date or time of one meter.
- Read address (0x13) to AAAAAAAAAAAA is answered by every 645-2007 meter: with more than one
  on the bus, the replies collide (the bus layer garbles them), as on a real wire.
"""
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from protocol import bcd, dlt645, modbus
from protocol.errors import ProtocolError

from host_tools.simulators.meter_model import RelayRefused


# ---------------------------------------------------------------------------------------------
# Value encodings (BCD, least significant byte first)

def _scaled(value, decimals):
    return int((Decimal(value) * (10 ** decimals)).to_integral_value())


def bcd_unsigned(value, decimals, size):
    """XXXXXX.XX style: energy registers roll over past their digits, as meters do."""
    return bcd.encode(_scaled(value, decimals) % (100 ** size), size)


def bcd_signed(value, decimals, size):
    """Sign in the top bit of the last byte (currents, powers, power factor)."""
    return bcd.encode(_scaled(value, decimals), size, signed=True)


def date_yymmddww(when):
    weekday = (when.weekday() + 1) % 7          # 0 = Sunday
    return bcd.encode(((when.year % 100) * 10000 + when.month * 100 + when.day) * 100
                      + weekday, 4)


def time_hhmmss(when):
    return bcd.encode(when.hour * 10000 + when.minute * 100 + when.second, 3)


def time_yymmddhhmm(when):
    return bcd.encode((((when.year % 100) * 100 + when.month) * 100 + when.day) * 10000
                      + when.hour * 100 + when.minute, 5)


def _energy_block(values):
    return b"".join(bcd_unsigned(v, 2, 4) for v in values)


class NoData(Exception):
    """The meter holds no such item (DL/T 645 error bit b1)."""


# ---------------------------------------------------------------------------------------------
# DL/T 645-2007

def _fwd(index):
    return lambda m: m.forward_active_kwh()[index]


def _rev(index):
    return lambda m: m.reverse_active_kwh()[index]


def _inst(key, phase=None):
    if phase is None:
        return lambda m: m.instantaneous()[key]
    return lambda m: m.instantaneous()[key][phase]


def _status(n):
    return lambda m: m.status_word(n)


def _all_status(m):
    return tuple(m.status_word(n) for n in range(1, 8))


def _u16_le(value):
    return bytes((value & 0xFF, value >> 8))


# DI -> (value from the model, encoder, is a block DI)
DLT645_2007_ITEMS = {
    0x00000000: (lambda m: m.combined_active_kwh(), lambda v: bcd_unsigned(v, 2, 4), False),
    0x0000FF00: (lambda m: (m.combined_active_kwh(),) + m.forward_active_kwh()[1:],
                 _energy_block, True),
    0x0001FF00: (lambda m: m.forward_active_kwh(), _energy_block, True),
    0x0002FF00: (lambda m: m.reverse_active_kwh(), _energy_block, True),
    0x0201FF00: (_inst("voltage_v"), lambda v: b"".join(bcd_unsigned(x, 1, 2) for x in v), True),
    0x0202FF00: (_inst("current_a"), lambda v: b"".join(bcd_signed(x, 3, 3) for x in v), True),
    0x0203FF00: (lambda m: (m.instantaneous()["active_power_kw"],)
                 + m.instantaneous()["phase_power_kw"],
                 lambda v: b"".join(bcd_signed(x, 4, 3) for x in v), True),
    0x02800002: (_inst("frequency_hz"), lambda v: bcd_unsigned(v, 2, 2), False),
    0x04000101: (lambda m: m.meter_time(), date_yymmddww, False),
    0x04000102: (lambda m: m.meter_time(), time_hhmmss, False),
    0x04000401: (lambda m: m.address, dlt645.address_bytes, False),
    0x040005FF: (_all_status, lambda v: b"".join(_u16_le(x) for x in v), True),
}
# The shared protocol notes name 020101FF as the voltage block; the standard's is 0201FF00.
# A simulated meter answers both so either client works.
DLT645_2007_ITEMS[0x020101FF] = DLT645_2007_ITEMS[0x0201FF00]
for _t in range(5):
    DLT645_2007_ITEMS[0x00010000 | (_t << 8)] = (_fwd(_t), lambda v: bcd_unsigned(v, 2, 4), False)
    DLT645_2007_ITEMS[0x00020000 | (_t << 8)] = (_rev(_t), lambda v: bcd_unsigned(v, 2, 4), False)
for _p in range(3):
    DLT645_2007_ITEMS[0x02010100 + (_p << 8)] = (_inst("voltage_v", _p),
                                                 lambda v: bcd_unsigned(v, 1, 2), False)
    DLT645_2007_ITEMS[0x02020100 + (_p << 8)] = (_inst("current_a", _p),
                                                 lambda v: bcd_signed(v, 3, 3), False)
    DLT645_2007_ITEMS[0x02030100 + (_p << 8)] = (_inst("phase_power_kw", _p),
                                                 lambda v: bcd_signed(v, 4, 3), False)
    DLT645_2007_ITEMS[0x02060100 + (_p << 8)] = (_inst("power_factor"),
                                                 lambda v: bcd_signed(v, 3, 2), False)
DLT645_2007_ITEMS[0x02030000] = (_inst("active_power_kw"), lambda v: bcd_signed(v, 4, 3), False)
DLT645_2007_ITEMS[0x02060000] = (_inst("power_factor"), lambda v: bcd_signed(v, 3, 2), False)
for _n in range(1, 8):
    DLT645_2007_ITEMS[0x04000500 | _n] = (_status(_n), _u16_le, False)

FREEZE_TIME_DI = 0x05060000          # + n: time of the n-th previous daily freeze
FREEZE_FORWARD_DI = 0x05060100       # + n: forward active energy then (total + 4 tariffs)
FREEZE_REVERSE_DI = 0x05060200       # + n: reverse active energy then
MAX_HISTORY_N = 62


def _frozen_2007(model, di):
    """(value, payload) for a 0506xxnn daily-freeze DI, or None when `di` is not one."""
    kind = di & 0xFFFFFF00
    n = di & 0xFF
    if kind not in (FREEZE_TIME_DI, FREEZE_FORWARD_DI, FREEZE_REVERSE_DI):
        return None
    if not model.supports_freeze or not 1 <= n <= MAX_HISTORY_N:
        raise NoData()
    day = model.frozen_day(n)
    if day is None:
        raise NoData()
    if kind == FREEZE_TIME_DI:
        return day.time, time_yymmddhhmm(day.time)
    values = day.forward_kwh if kind == FREEZE_FORWARD_DI else day.reverse_kwh
    return values, _energy_block(values)


def dlt645_2007_value(model, di):
    """(value, payload bytes) a 645-2007 meter sends for `di`; NoData when it has none."""
    frozen = _frozen_2007(model, di)
    if frozen is not None:
        return frozen
    entry = DLT645_2007_ITEMS.get(di)
    if entry is None:
        raise NoData()
    getter, encode, is_block = entry
    if is_block and not model.supports_blocks:
        raise NoData()
    value = getter(model)
    return value, encode(value)


# ---------------------------------------------------------------------------------------------
# DL/T 645-1997

DLT645_1997_ITEMS = {
    0x901F: (lambda m: m.forward_active_kwh(), _energy_block, True),
    0x902F: (lambda m: m.reverse_active_kwh(), _energy_block, True),
    0xB61F: (_inst("voltage_v"), lambda v: b"".join(bcd_unsigned(x, 0, 2) for x in v), True),
    0xB62F: (_inst("current_a"), lambda v: b"".join(bcd_unsigned(abs(x), 2, 2) for x in v), True),
    0xB630: (_inst("active_power_kw"), lambda v: bcd_unsigned(abs(v), 4, 3), False),
    0xB650: (_inst("power_factor"), lambda v: bcd_unsigned(abs(v), 3, 2), False),
    0xC010: (lambda m: m.meter_time(), date_yymmddww, False),
    0xC011: (lambda m: m.meter_time(), time_hhmmss, False),
    0xC032: (lambda m: m.address, dlt645.address_bytes, False),
}
for _t in range(5):
    DLT645_1997_ITEMS[0x9010 + _t] = (_fwd(_t), lambda v: bcd_unsigned(v, 2, 4), False)
    DLT645_1997_ITEMS[0x9020 + _t] = (_rev(_t), lambda v: bcd_unsigned(v, 2, 4), False)
for _p in range(3):
    # 1997 formats: voltage XXX V (whole volts), current XX.XX A, phase power XX.XXXX kW.
    DLT645_1997_ITEMS[0xB611 + _p] = (_inst("voltage_v", _p), lambda v: bcd_unsigned(v, 0, 2),
                                      False)
    DLT645_1997_ITEMS[0xB621 + _p] = (_inst("current_a", _p),
                                      lambda v: bcd_unsigned(abs(v), 2, 2), False)
    DLT645_1997_ITEMS[0xB631 + _p] = (_inst("phase_power_kw", _p),
                                      lambda v: bcd_unsigned(abs(v), 4, 3), False)


def _round_to(value, decimals):
    return Decimal(value).quantize(Decimal(1).scaleb(-decimals)) if decimals else \
        Decimal(value).to_integral_value()


# Values 1997 sends at a coarser resolution than the model keeps: record what was actually sent.
_1997_RESOLUTION = {0xB611: 0, 0xB612: 0, 0xB613: 0, 0xB621: 2, 0xB622: 2, 0xB623: 2}


def dlt645_1997_value(model, di):
    entry = DLT645_1997_ITEMS.get(di)
    if entry is None:
        raise NoData()
    getter, encode, is_block = entry
    if is_block and not model.supports_blocks:
        raise NoData()
    value = getter(model)
    if di in _1997_RESOLUTION:
        value = _round_to(value, _1997_RESOLUTION[di])
    elif di in (0xB61F, 0xB62F):
        value = tuple(_round_to(x, 0 if di == 0xB61F else 2) for x in value)
    return value, encode(value)


# ---------------------------------------------------------------------------------------------
# Handlers

def _from_tuple(clock):
    year, month, day, hour, minute, second = clock
    return datetime(year, month, day, hour, minute, second)


class Dlt645Handler:
    """A DL/T 645 meter (2007, or 1997 with `version=1997`) answering frames for its address."""

    def __init__(self, model, version=2007):
        self.model = model
        self.version = version

    def addressed(self, frame):
        """True when this meter must act on `frame` (its address, wildcard AA bytes match)."""
        wanted = frame.address
        if wanted == dlt645.BROADCAST:
            return frame.function == dlt645.BROADCAST_TIME
        own = self.model.address
        return all(w == "A" or w == o for w, o in zip(wanted, own))

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
            value, payload = dlt645_2007_value(self.model, frame.di)
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
            if _from_tuple(frame.expiry) < model.meter_time():
                return self._error(dlt645.RELAY, dlt645.ERR_OTHER)
        except ValueError:
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
                number = bcd.decode(value, 0, 4)
                new = now.replace(year=2000 + number // 1000000, month=number // 10000 % 100,
                                  day=number // 100 % 100)
            elif frame.di == 0x04000102 and len(value) == 3:
                number = bcd.decode(value, 0, 3)
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
            return None         # 1997 meters here answer reads only
        try:
            value, payload = dlt645_1997_value(self.model, frame.di)
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
        """The same reply as if sent by the meter at the next address."""
        other = "%012d" % ((int(self.model.address) + 1) % 999999999999)
        frame = dlt645.parse_frame(reply)
        skip = 0
        while reply[skip] == dlt645.PREAMBLE:
            skip += 1
        return dlt645.build_frame(other, frame.control, frame.data, preamble=skip)


# ---------------------------------------------------------------------------------------------
# Modbus, Eastron SDM style

MAPS_DIR = Path(__file__).resolve().parent.parent.parent / "protocol" / "maps"

# Register -> quantity, from Eastron's published SDM120 / SDM630 Modbus protocol documents:
# input registers (function 04), IEEE-754 float32, two registers, high word first.
# Powers are in W there (the model keeps kW), energies in kWh.
SDM_QUANTITIES = {
    "sdm120": {
        0x0000: ("voltage", lambda m: m.instantaneous()["voltage_v"][0]),
        0x0006: ("current", lambda m: m.instantaneous()["current_a"][0]),
        0x000C: ("active_power", lambda m: m.instantaneous()["active_power_kw"] * 1000),
        0x001E: ("power_factor", lambda m: m.instantaneous()["power_factor"]),
        0x0046: ("frequency", lambda m: m.instantaneous()["frequency_hz"]),
        0x0048: ("import_active_energy", lambda m: m.forward_active_kwh()[0]),
        0x004A: ("export_active_energy", lambda m: m.reverse_active_kwh()[0]),
        0x0156: ("total_active_energy", lambda m: m.combined_active_kwh()),
    },
    "sdm630": {
        0x0000: ("voltage_l1", lambda m: m.instantaneous()["voltage_v"][0]),
        0x0002: ("voltage_l2", lambda m: m.instantaneous()["voltage_v"][1]),
        0x0004: ("voltage_l3", lambda m: m.instantaneous()["voltage_v"][2]),
        0x0006: ("current_l1", lambda m: m.instantaneous()["current_a"][0]),
        0x0008: ("current_l2", lambda m: m.instantaneous()["current_a"][1]),
        0x000A: ("current_l3", lambda m: m.instantaneous()["current_a"][2]),
        0x000C: ("power_l1", lambda m: m.instantaneous()["phase_power_kw"][0] * 1000),
        0x000E: ("power_l2", lambda m: m.instantaneous()["phase_power_kw"][1] * 1000),
        0x0010: ("power_l3", lambda m: m.instantaneous()["phase_power_kw"][2] * 1000),
        0x0034: ("total_power", lambda m: m.instantaneous()["active_power_kw"] * 1000),
        0x003E: ("total_power_factor", lambda m: m.instantaneous()["power_factor"]),
        0x0046: ("frequency", lambda m: m.instantaneous()["frequency_hz"]),
        0x0048: ("import_active_energy", lambda m: m.forward_active_kwh()[0]),
        0x004A: ("export_active_energy", lambda m: m.reverse_active_kwh()[0]),
        0x0156: ("total_active_energy", lambda m: m.combined_active_kwh()),
    },
}
SDM_REGISTER_SPAN = 0x0180          # input registers 0..0x017F exist; unused ones read 0.0
MAX_READ_REGISTERS = 80             # SDM meters answer at most 80 registers per request


class ModbusHandler:
    """A Modbus RTU meter with an SDM120/SDM630-style input register map."""

    def __init__(self, model, map_name="sdm120"):
        if map_name not in SDM_QUANTITIES:
            raise ValueError("no register map %r; known: %s"
                             % (map_name, ", ".join(SDM_QUANTITIES)))
        self.model = model
        self.map_name = map_name
        self.registers = SDM_QUANTITIES[map_name]

    def addressed(self, message):
        return message.unit == self.model.address

    def handle(self, message):
        unit = self.model.address
        if message.function != modbus.READ_INPUT:
            # SDM holding registers are settings this simulator does not keep.
            return modbus.exception_reply(unit, message.function, 1 if message.function not in (
                modbus.READ_HOLDING, modbus.WRITE_SINGLE, modbus.WRITE_MULTIPLE) else 2)
        start, count = message.address, message.count
        if count < 1 or count > MAX_READ_REGISTERS:
            return modbus.exception_reply(unit, message.function, 3)
        if start + count > SDM_REGISTER_SPAN:
            return modbus.exception_reply(unit, message.function, 2)
        words = self._image(start, count)
        return modbus.read_reply(unit, message.function, words)

    def _image(self, start, count):
        """The registers start..start+count-1 as bytes: each float32 value spans two."""
        out = bytearray()
        cache = {}
        first = start - (start % 2)
        for base in range(first, start + count, 2):
            entry = self.registers.get(base)
            if entry is None:
                value = 0.0
            else:
                name, getter = entry
                value = getter(self.model)
                cache[name] = value
            out += modbus.encode_value(float(value), modbus.FLOAT32)
        skip = (start - first) * 2
        for name, value in cache.items():
            self.model.serve(name, value)
        return bytes(out[skip:skip + count * 2])

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


def load_register_map(name):
    """The JSON register map `protocol/maps/<name>.json` when it exists, else None."""
    path = MAPS_DIR / ("%s.json" % name)
    if not path.exists():
        return None
    return json.loads(path.read_text())


def make_handler(model, protocol, map_name=None):
    if protocol == "dlt645":
        return Dlt645Handler(model, 2007)
    if protocol == "dlt645-1997":
        return Dlt645Handler(model, 1997)
    if protocol == "modbus":
        return ModbusHandler(model, map_name or "sdm120")
    raise ValueError("unknown protocol %r" % (protocol,))

