"""Q/GDW 1376.1 data units: the data that follows one DA/DT, per AFN, Fn and direction.

A request and its reply carry different bodies (AFN0C F129 asks with no data and is answered
with readings), so every codec is looked up by (AFN, Fn, direction) where direction is the
frame's C.DIR (0 = down, master -> terminal; 1 = up). The codecs are tables, not classes:
most units are a list of (name, type) fields that decode to a dict.

API:
    decode(afn, fn, direction, buf, pos, end) -> (value, new_pos)
    encode_into(out, afn, fn, direction, value)        appends to a bytearray
    encode(afn, fn, direction, value) -> bytes
    is_known(afn, fn, direction) -> bool
    known_units() -> [(afn, fn, direction), ...]
    codec(afn, fn, direction) -> the table entry (kind, ...) or None
    (names in words: protocol.gw376_describe.unit_name; the board never needs them)

The coders of the composite units live in one module per family, imported when a unit of
that family is coded (codec(), decode(), encode_into()), so a request loads only those it
carries: gw376_unit_ids (AFN00 F3, report tasks F65/F66), gw376_unit_archive (F10),
gw376_unit_events (AFN0E, ERC records), gw376_unit_energy (energy blocks, curves),
gw376_unit_forward (AFN10). They and this module build on the field layouts and coders of
gw376_fields (its text field types aN, ip, addr are gw376_unit_text).
    Unknown(raw)   value of an Fn without a codec: it keeps the rest of the data region
                   (its length cannot be known), `.raw` holds the bytes

Numbers are exact ints in the unit of their data format (protocol.gw376_formats.DECIMALS);
None is "no data". Supported units and their values:

    AFN00 F1/F2 (both)  None                F3 {"afn", "items": [(pn, fn, err 0 ok/1 deny)]}
    AFN01 F1..F4 down   None (hardware / data / parameter+data / parameter reset)
    AFN02 F1/F2/F3      None, or a format-01 clock some terminals add (taken only when
                        exactly 6 bytes are left in the data region)
    AFN04 down = AFN0A up:
        F1  {"rts_delay_20ms", "send_delay_min", "response_timeout_s", "retries",
             "confirm_flags" (D0 class 1, D1 class 2, D2 class 3), "heartbeat_min"}
        F3  {"primary_ip" "a.b.c.d", "primary_port", "backup_ip", "backup_port", "apn"}
        F8  {"udp", "work_mode" (0 mixed, 1 client, 2 server), "online_mode" (1 always,
             2 passive activation, 3 time windows), "redial_interval_s", "passive_redials",
             "idle_disconnect_min", "online_hours" (bit h = hour h..h+1)}
        F10 {"meters": [{"serial", "point", "baud", "port", "protocol" (1 = 645-1997,
             30 = 645-2007), "address" (12 hex digits, as printed on the meter), "password"
             (6 bytes), "tariffs", "integer_digits", "decimal_digits", "collector",
             "user_class", "user_subclass"}]}
    AFN0A down: F1/F3/F8 None; F10 {"serials": [serial, ...]}
    AFN05 down: F1 {"warn_delay_min", "limit_half_hours"} (Pn = control round), F2 None,
        F31 format-01 clock
    AFN09 F1: down None; up {"vendor", "device", "software_version", "software_date",
        "capacity", "protocol_version", "hardware_version", "hardware_date"}
    AFN0C down: None. Up: F2 format-01 clock;
        F25 {"read_time", "active_power" [total, A, B, C] (fmt 09 kW), "reactive_power" [..]
             (09 kvar), "power_factor" [total, A, B, C] (05 %), "voltage" [A, B, C] (07 V),
             "current" [A, B, C] (25 A), "zero_sequence_current" (25 A), "apparent_power" [..]
             (09 kVA)}
        F33 {"read_time", "tariffs" M, "forward_active" [total, t1..tM] (fmt 14 kWh),
             "forward_reactive", "q1_reactive", "q4_reactive" (fmt 11 kvarh)}
        F34 same with "reverse_active", "reverse_reactive", "q2_reactive", "q3_reactive"
        F129..F136 {"read_time", "tariffs", one of forward_active (14), forward_reactive (11),
             reverse_active (14), reverse_reactive (11), q1..q4_reactive (11)}
    AFN0D down: the time label of the Fn's kind, for every class 2 Fn of the standard: the day
        (y, m, d) for daily frozen data (F1, F2, F161..F168, ...), the month (y, m) for monthly
        (F17, F18, F177..F184, ...), {"start", "density", "points"} for curves (F81..F95, ...).
        Up: F1, F2, F17, F18, F161..F168, F177..F184 decode: {"td", ...} followed by the fields
        of AFN0C F33, F34, F129..F136; the curves F81..F88 (power, fmt 09), F89..F91 (voltage,
        07), F92..F95 (current, 25), F97..F100 (energy per interval, 13), F101..F104 (energy
        register, 11), F105..F108 (power factor, 05) decode {"start" (format 15), "density",
        "points" n, "values" [n values]}; other replies stay Unknown.
    AFN0E F1/F2: down {"pm", "pn"}; up {"ec_important", "ec_normal", "pm", "pn",
        "records": [{"erc": n, ...}]} with (pn - pm) mod 256 records. ERC 1, 2, 3, 5, 12, 13,
        14, 20, 21, 27, 30, 31, 33 decode to fields (gw376_unit_events.ERC_FIELDS; a
        measuring point reads "pn" and "start" 1 = occurred / 0 = restored; ERC3 {"time",
        "master", "units": [(pn, fn)]}); any other ERC, or a record whose length Le does not
        match its layout, keeps {"erc", "raw"}.
    AFN04/0A F65, F66 (Pn = task number): {"unit" 0 min / 1 h / 2 day / 3 month, "period"
        1..63, "base" (format 01), "ratio", "units": [(pn, fn)]}; F67, F68: {"action"
        REPORT_START 55H / REPORT_STOP AAH}; vendor F241 p0 {"compact" 0 | 1}
    AFN10 F1: down {"port", "control", "frame_timeout", "frame_timeout_in_s",
        "byte_timeout_10ms", "data"}; up {"port", "data"}
"""
import binascii

from protocol import gw376_fields as fields
from protocol import gw376_formats as formats
from protocol.compat import const
from protocol.errors import ProtocolError


class Unknown:
    """The raw bytes of a data unit this codec does not know (the rest of the data region)."""

    def __init__(self, raw):
        self.raw = bytes(raw)

    def __eq__(self, other):
        return isinstance(other, Unknown) and other.raw == self.raw

    def __repr__(self):
        return "Unknown(%s)" % binascii.hexlify(self.raw).decode()


# ---------------------------------------------------------------- unit layouts

COMM_PARAMS = (                                    # AFN04/0A F1
    "rts_delay_20ms:u8 send_delay_min:u8 timeout:u16[response_timeout_s=0/12,retries=12/2] "
    "confirm_flags:u8 heartbeat_min:u8")
MASTER_ADDRESS = (                                 # AFN04/0A F3
    "primary_ip:ip primary_port:u16 backup_ip:ip backup_port:u16 apn:a16")
ONLINE_MODE = (                                    # AFN04/0A F8
    "mode:u8[udp=7/1,work_mode=4/2,online_mode=0/2] redial_interval_s:u16 passive_redials:u8 "
    "idle_disconnect_min:u8 online_hours:u24")
TRIP = "trip:u8[warn_delay_min=4/4,limit_half_hours=0/4]"
VERSION = (                                        # AFN09 F1
    "vendor:a4 device:a8 software_version:a4 software_date:20 capacity:a11 "
    "protocol_version:a4 hardware_version:a4 hardware_date:20")
POWER = (                                          # AFN0C F25
    "read_time:15 active_power:9*4 reactive_power:9*4 power_factor:5*4 voltage:7*3 "
    "current:25*3 zero_sequence_current:25 apparent_power:9*4")
EVENT_POINTERS = "pm:u8 pn:u8"
# AFN04/0A F67, F68: a report task (F65/F66, gw376_unit_ids) started (55H) or stopped (AAH).
REPORT_START, REPORT_STOP = 0x55, 0xAA
REPORT_SWITCH = "action:u8"
# Vendor: AFN04/0A F241 p0, our firmware's report form: 1 compact (ring-log records in the
# vendor unit AFN0D F241), 0 standard units. Other terminals deny it.
REPORT_FORM = "compact:u8"

# Energy blocks: NAME:FORMAT per block, each block M+1 values (total then tariffs 1..M).
_FORWARD_BLOCKS = "forward_active:14 forward_reactive:11 q1_reactive:11 q4_reactive:11"
_REVERSE_BLOCKS = "reverse_active:14 reverse_reactive:11 q2_reactive:11 q3_reactive:11"
# One energy block each: AFN, first of 8 Fns, Td format; the Fns' blocks in _SINGLE_BLOCKS' order
_SINGLE_ENERGY = const(b"\x0c\x81\x00\x0d\xa1\x14\x0d\xb1\x15")
_SINGLE_BLOCKS = const("forward_active:14 forward_reactive:11 reverse_active:14 "
                       "reverse_reactive:11 q1_reactive:11 q2_reactive:11 q3_reactive:11 "
                       "q4_reactive:11")


# ---------------------------------------------------------------- composite codecs

def _decode_optional_clock(buf, pos, end):
    # The standard's AFN02 units carry nothing; some terminals append a format-01 clock. Only
    # a region of exactly 6 bytes left is taken as that clock, so nothing is ever guessed.
    if end - pos == 6:
        return formats.decode(1, buf, pos), pos + 6
    return None, pos


def _encode_optional_clock(out, value):
    if value is not None:
        formats.encode_into(out, 1, value)


# ---------------------------------------------------------------- the table
# Kinds of codec: (EMPTY,) no data; (FIELDS, fields); (FORMAT, fmt) one data-format value;
# (ENERGY, td_format, blocks); (CUSTOM, decode, encode); (CURVE, fmt) Td_c + n values of fmt.
EMPTY = 0
FIELDS = 1
FORMAT = 2
ENERGY = 3
CUSTOM = 4
CURVE = 5

_NONE = (EMPTY,)

# The units, one row of six bytes each: AFN, first Fn, last Fn, directions (1 down, 2 up, 3
# both), kind (EMPTY 0, FIELDS 1, FORMAT 2, ENERGY 3, CUSTOM 4), argument: for FIELDS the
# layout's index in _LAYOUTS, for FORMAT the data format, for ENERGY the Td format (0 none) plus
# _REVERSE for the reverse blocks, for CUSTOM the index of its codec in _custom().
# A bytes literal stays in the board's ROMFS, where a dict of (kind, ...) tuples was built in
# RAM whenever the codec loaded; codec() builds the entry asked for.
_REVERSE = const(0x80)
_UNITS = (
    b"\x00\x01\x02\x03\x00\x00"  # AFN00 F1..F2 both: no data
    b"\x00\x03\x03\x03\x04\x00"  # AFN00 F3 both: confirm list
    b"\x01\x01\x04\x01\x00\x00"  # AFN01 F1..F4 down: no data
    b"\x02\x01\x03\x03\x04\x01"  # AFN02 F1..F3 both: optional clock
    b"\x04\x01\x01\x01\x01\x00"  # AFN04 F1 down: COMM_PARAMS
    b"\x04\x03\x03\x01\x01\x01"  # AFN04 F3 down: MASTER_ADDRESS
    b"\x04\x08\x08\x01\x01\x02"  # AFN04 F8 down: ONLINE_MODE
    b"\x04\x0a\x0a\x01\x04\x02"  # AFN04 F10 down: meter archive
    b"\x04\x41\x42\x01\x04\x03"  # AFN04 F65..F66 down: report task
    b"\x04\x43\x44\x01\x01\x03"  # AFN04 F67..F68 down: REPORT_SWITCH
    b"\x04\xf1\xf1\x01\x01\x04"  # AFN04 F241 down: REPORT_FORM
    b"\x0a\x01\x01\x02\x01\x00"  # AFN0A F1 up: COMM_PARAMS
    b"\x0a\x03\x03\x02\x01\x01"  # AFN0A F3 up: MASTER_ADDRESS
    b"\x0a\x08\x08\x02\x01\x02"  # AFN0A F8 up: ONLINE_MODE
    b"\x0a\x0a\x0a\x02\x04\x02"  # AFN0A F10 up: meter archive
    b"\x0a\x41\x42\x02\x04\x03"  # AFN0A F65..F66 up: report task
    b"\x0a\x43\x44\x02\x01\x03"  # AFN0A F67..F68 up: REPORT_SWITCH
    b"\x0a\xf1\xf1\x02\x01\x04"  # AFN0A F241 up: REPORT_FORM
    b"\x0a\x01\x01\x01\x00\x00"  # AFN0A F1 down: no data
    b"\x0a\x03\x03\x01\x00\x00"  # AFN0A F3 down: no data
    b"\x0a\x08\x08\x01\x00\x00"  # AFN0A F8 down: no data
    b"\x0a\x41\x44\x01\x00\x00"  # AFN0A F65..F68 down: no data
    b"\x0a\xf1\xf1\x01\x00\x00"  # AFN0A F241 down: no data
    b"\x0a\x0a\x0a\x01\x04\x04"  # AFN0A F10 down: serials
    b"\x05\x01\x01\x01\x01\x05"  # AFN05 F1 down: TRIP
    b"\x05\x02\x02\x01\x00\x00"  # AFN05 F2 down: no data
    b"\x05\x1f\x1f\x01\x02\x01"  # AFN05 F31 down: format 1
    b"\x09\x01\x01\x01\x00\x00"  # AFN09 F1 down: no data
    b"\x09\x01\x01\x02\x01\x06"  # AFN09 F1 up: VERSION
    b"\x0c\x02\x02\x02\x02\x01"  # AFN0C F2 up: format 1
    b"\x0c\x19\x19\x02\x01\x07"  # AFN0C F25 up: POWER
    b"\x0c\x21\x21\x02\x03\x00"  # AFN0C F33 up: energy, Td format 0, forward blocks
    b"\x0c\x22\x22\x02\x03\x80"  # AFN0C F34 up: energy, Td format 0, reverse blocks
    b"\x0d\x01\x01\x02\x03\x14"  # AFN0D F1 up: energy, Td format 20, forward blocks
    b"\x0d\x02\x02\x02\x03\x94"  # AFN0D F2 up: energy, Td format 20, reverse blocks
    b"\x0d\x11\x11\x02\x03\x15"  # AFN0D F17 up: energy, Td format 21, forward blocks
    b"\x0d\x12\x12\x02\x03\x95"  # AFN0D F18 up: energy, Td format 21, reverse blocks
    b"\x0e\x01\x02\x01\x01\x08"  # AFN0E F1..F2 down: EVENT_POINTERS
    b"\x0e\x01\x02\x02\x04\x05"  # AFN0E F1..F2 up: events
    b"\x10\x01\x01\x01\x04\x06"  # AFN10 F1 down: forwarding, down
    b"\x10\x01\x01\x02\x04\x07"  # AFN10 F1 up: forwarding, up
)
_LAYOUTS = (COMM_PARAMS, MASTER_ADDRESS, ONLINE_MODE, REPORT_SWITCH, REPORT_FORM, TRIP, VERSION,
            POWER, EVENT_POINTERS)


def _custom(index):
    """The (CUSTOM, decode, encode) entry of custom codec `index`, importing the module of its
    family only now: a request loads the coders of the units it carries, not all of them."""
    if index == 1:
        return (CUSTOM, _decode_optional_clock, _encode_optional_clock)
    if index == 0 or index == 3:
        from protocol import gw376_unit_ids as ids
        if index == 0:
            return (CUSTOM, ids.decode_confirm_list, ids.encode_confirm_list)
        return (CUSTOM, ids.decode_report_task, ids.encode_report_task)
    if index == 2 or index == 4:
        from protocol import gw376_unit_archive as archive
        if index == 2:
            return (CUSTOM, archive.decode_archive, archive.encode_archive)
        return (CUSTOM, archive.decode_serials, archive.encode_serials)
    if index == 5:
        from protocol import gw376_unit_events as events
        return (CUSTOM, events.decode_events, events.encode_events)
    from protocol import gw376_unit_forward as forward
    if index == 6:
        return (CUSTOM, forward.decode_down, forward.encode_down)
    return (CUSTOM, forward.decode_up, forward.encode_up)


def _row_entry(at):
    """The table entry (kind, ...) of the row at _UNITS[at]."""
    kind, arg = _UNITS[at + 4], _UNITS[at + 5]
    if kind == EMPTY:
        return _NONE
    if kind == FIELDS:
        return (FIELDS, _LAYOUTS[arg])
    if kind == ENERGY:
        return (ENERGY, arg & ~_REVERSE, _REVERSE_BLOCKS if arg & _REVERSE else _FORWARD_BLOCKS)
    if kind == CUSTOM:
        return _custom(arg)
    return (kind, arg)


def _listed_entry(afn, fn, direction):
    bit = 2 if direction else 1
    for at in range(0, len(_UNITS), 6):
        if (_UNITS[at] == afn and _UNITS[at + 1] <= fn <= _UNITS[at + 2]
                and _UNITS[at + 3] & bit):
            return _row_entry(at)
    return None


def known_units():
    """Every (afn, fn, direction) with a codec, sorted (AFN0C requests, which carry no data
    for any Fn, are not listed)."""
    found = set()
    for at in range(0, len(_UNITS), 6):
        for fn in range(_UNITS[at + 1], _UNITS[at + 2] + 1):
            for direction in (0, 1):
                if _UNITS[at + 3] & (2 if direction else 1):
                    found.add((_UNITS[at], fn, direction))
    for at in range(0, len(_SINGLE_ENERGY), 3):
        for fn in range(_SINGLE_ENERGY[at + 1], _SINGLE_ENERGY[at + 1] + 8):
            found.add((_SINGLE_ENERGY[at], fn, 1))
    for fn in range(1, 249):
        for direction in (0, 1):
            if codec(0x0D, fn, direction) is not None:
                found.add((0x0D, fn, direction))
    return sorted(found)


# Class 2 data requests (AFN0D down) carry only the time label Td of the Fn's kind: Td_d (a day,
# format 20) for daily and meter-reading-day frozen data, Td_m (a month, format 21) for monthly,
# Td_c (start, density, points) for curves. Fn ranges as inclusive pairs, per Q/GDW 1376.1-2013
# (cross-checked against qgdw3761api's per-Fn structures and "daily/monthly/curve" notes).
# Written as bytes literals: they stay in the board's ROMFS, where bytes((...)) is built in RAM.
# Day: F1-12 25-32 41-43 45 49-50 53 57-59 113-118 121-123 129 153-156 161-176 185-192 209
_TD_DAY = const(b"\x01\x0c\x19\x20\x29\x2b\x2d\x2d\x31\x32\x35\x35\x39\x3b\x71\x76\x79\x7b"
                b"\x81\x81\x99\x9c\xa1\xb0\xb9\xc0\xd1\xd1")
# Month: F17-24 33-39 44 46 51-52 54 60-62 65-66 130 157-160 177-184 193-196 201-208 213-216
_TD_MONTH = const(b"\x11\x18\x21\x27\x2c\x2c\x2e\x2e\x33\x34\x36\x36\x3c\x3e\x41\x42\x82\x82"
                  b"\x9d\xa0\xb1\xb8\xc1\xc4\xc9\xd0\xd5\xd8")
# Curve: F73-76 81-95 97-110 138 145-148 217-218
_TD_CURVE = const(b"\x49\x4c\x51\x5f\x61\x6e\x8a\x8a\x91\x94\xd9\xda")
_TD_DAY_CODEC = (FORMAT, 20)
_TD_MONTH_CODEC = (FORMAT, 21)
# Curve replies (AFN0D up): Td_c then `points` values of one data format. Triples first Fn,
# last Fn, format (Q/GDW 1376.1-2013 appendix: active power 09, voltage 07, current 25, energy
# per interval 13, energy register reading 11, power factor 05).
# F81-88 09, F89-91 07, F92-95 25, F97-100 13, F101-104 11, F105-108 05
_CURVE_UP = const(b"\x51\x58\x09\x59\x5b\x07\x5c\x5f\x19\x61\x64\x0d\x65\x68\x0b\x69\x6c\x05")


def _in_ranges(fn, ranges):
    for i in range(0, len(ranges), 2):
        if ranges[i] <= fn <= ranges[i + 1]:
            return True
    return False


def codec(afn, fn, direction) -> tuple | None:
    """The table entry for (afn, fn, direction): (kind, ...) or None (see "the table")."""
    found = _listed_entry(afn, fn, direction)
    if found is not None:
        return found
    if direction != 0:
        # one energy block each, in _SINGLE_BLOCKS' order: current (AFN0C F129..F136), daily
        # frozen (AFN0D F161..F168, Td_d) and monthly frozen (AFN0D F177..F184, Td_m) values
        for at in range(0, len(_SINGLE_ENERGY), 3):
            first = _SINGLE_ENERGY[at + 1]
            if _SINGLE_ENERGY[at] == afn and first <= fn < first + 8:
                return (ENERGY, _SINGLE_ENERGY[at + 2], _SINGLE_BLOCKS.split()[fn - first])
        if afn == 0x0D:
            for i in range(0, 18, 3):
                if _CURVE_UP[i] <= fn <= _CURVE_UP[i + 1]:
                    return (CURVE, _CURVE_UP[i + 2])
        return None
    if afn == 0x0C:
        return _NONE        # class 1 data is requested by DA/DT alone, whatever the Fn
    if afn == 0x0D:
        if _in_ranges(fn, _TD_DAY):
            return _TD_DAY_CODEC
        if _in_ranges(fn, _TD_MONTH):
            return _TD_MONTH_CODEC
        if _in_ranges(fn, _TD_CURVE):
            from protocol import gw376_unit_energy as energy
            return (FIELDS, energy.CURVE_TD)
    return None


def is_known(afn, fn, direction):
    return codec(afn, fn, direction) is not None


def decode(afn, fn, direction, buf, pos, end):
    """Decode the data of unit (afn, fn) at buf[pos:end]; return (value, new_pos)."""
    entry = codec(afn, fn, direction)
    if entry is None:
        return Unknown(buf[pos:end]), end
    kind = entry[0]
    if kind == EMPTY:
        return None, pos
    if kind == FIELDS:
        return fields.decode_fields(entry[1], buf, pos, end)
    if kind == FORMAT:
        size = formats.LENGTH[entry[1]]
        fields.need(pos, size, end)
        return formats.decode(entry[1], buf, pos), pos + size
    if kind == ENERGY:
        from protocol import gw376_unit_energy as energy
        return energy.decode_energy(entry[1], entry[2], buf, pos, end)
    if kind == CURVE:
        from protocol import gw376_unit_energy as energy
        return energy.decode_curve(entry[1], buf, pos, end)
    return entry[1](buf, pos, end)


def encode_into(out, afn, fn, direction, value):
    """Append the data of unit (afn, fn) holding `value` to the bytearray `out`."""
    if isinstance(value, Unknown):
        out.extend(value.raw)
        return
    entry = codec(afn, fn, direction)
    if entry is None:
        if isinstance(value, (bytes, bytearray)):
            out.extend(value)
            return
        if value is None:
            return
        raise ProtocolError("AFN%02X F%d (%s) has no codec: give its data as bytes or Unknown" % (
            afn, fn, "up" if direction else "down"))
    try:
        kind = entry[0]
        if kind == EMPTY:
            if value is not None:
                raise ProtocolError("AFN%02X F%d carries no data" % (afn, fn))
        elif kind == FIELDS:
            fields.encode_fields(out, entry[1], value)
        elif kind == FORMAT:
            formats.encode_into(out, entry[1], value)
        elif kind == ENERGY:
            from protocol import gw376_unit_energy as energy
            energy.encode_energy(out, entry[1], entry[2], value)
        elif kind == CURVE:
            from protocol import gw376_unit_energy as energy
            energy.encode_curve(out, entry[1], value)
        else:
            entry[2](out, value)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ProtocolError("AFN%02X F%d data %r: %s" % (afn, fn, value, exc)) from exc


def encode(afn, fn, direction, value):
    out = bytearray()
    encode_into(out, afn, fn, direction, value)
    return bytes(out)
