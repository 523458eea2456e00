"""A parsed Q/GDW 1376.1 frame as a plain dict of named fields, for people and for JSON.

Host tools (`conc decode`, the master station's logs) show frames with it; the board never
imports it, so it costs the board nothing. Every value is a str, int, bool, list, dict or
None, so the result goes straight to `json.dumps`. Keys are stable.

    describe(frame) -> dict
        protocol    "gw376.1"
        control     "C9" (hex); direction "up" | "down"; prm 0/1; function 9;
                    function_name "link test"; fcb, fcv (downlink) / acd (uplink) 0/1
        area        "0171" (A1, 4 BCD digits); terminal 2082 (A2); group bool; master 0..127
        afn         "0C"; afn_name "class 1 data (real time)"
        seq         0..15; fir, fin, con bools; tpv bool
        units       [{"pn": 1 (or "all"), "fn": 129, "name": "current forward active" | None,
                      "known": bool, "data": ...}]
                    data keeps the decoded structure with dicts and lists; numbers of a scaled
                    data format become exact decimal text ("0.0100", "-20.1"), times become
                    "2018-08-28 16:18" / "2018-08-27" / "2018-07", bytes become hex, None is
                    no data; an unknown unit's data is {"raw": hex}
        pw          hex (when the frame carries PW); ec {"important", "normal"};
        tp          {"pfc", "sent" "DD hh:mm:ss", "delay_min"}
        trailing    hex of non-standard bytes after the last unit (only when present)
        notes       sentences naming each non-standard construct accepted (only when present)

    value_text(fmt, value) -> str | value      one value of data format fmt, as above
    unit_name(afn, fn) -> "current forward active energy" | None
    ERC_NAMES[erc], TERMINAL_FAULTS[code] (ERC21)      names in words
    AFN_NAMES[afn], FUNCTION_NAMES[prm][function], function_name(frame)
"""
import binascii

from protocol import gw376
from protocol import gw376_fields
from protocol import gw376_formats as formats
from protocol import gw376_unit_events as events
from protocol import gw376_units as units

AFN_NAMES = {
    0x00: "confirm/deny", 0x01: "reset", 0x02: "link test", 0x03: "relay station",
    0x04: "set parameters", 0x05: "control", 0x06: "authentication", 0x08: "cascade report",
    0x09: "terminal configuration", 0x0A: "query parameters", 0x0B: "task data",
    0x0C: "class 1 data (real time)", 0x0D: "class 2 data (history)",
    0x0E: "class 3 data (events)", 0x0F: "file transfer", 0x10: "data forwarding",
}

FUNCTION_NAMES = {
    1: {1: "reset", 4: "user data", 9: "link test", 10: "request class 1 data",
        11: "request class 2 data"},
    0: {0: "confirm", 8: "user data response", 9: "deny: no data", 11: "link status"},
}


def function_name(frame):
    """C.D3..D0 of a frame in words ("link test")."""
    return FUNCTION_NAMES[1 if frame.prm else 0].get(frame.function, "reserved")


_TIME_FORMATS = (1, 15, 20, 21)

# What each supported AFN/Fn means, in words (host side only: the board never needs names).
UNIT_NAMES = {
    (0x00, 1): "all confirmed", (0x00, 2): "all denied", (0x00, 3): "confirm/deny per data unit",
    (0x01, 1): "hardware reset", (0x01, 2): "data area reset",
    (0x01, 3): "parameter and data reset", (0x01, 4): "parameter reset except comms",
    (0x02, 1): "login", (0x02, 2): "logout", (0x02, 3): "heartbeat",
    (0x04, 1): "terminal communication parameters",
    (0x04, 3): "master station IP address and APN", (0x04, 8): "terminal uplink online mode",
    (0x04, 10): "meter archive",
    (0x04, 65): "timed report task, class 1 data", (0x04, 66): "timed report task, class 2 data",
    (0x04, 67): "class 1 report task start/stop", (0x04, 68): "class 2 report task start/stop",
    (0x04, 241): "vendor: report form (compact ring-log records / standard units)",
    (0x05, 1): "remote trip", (0x05, 2): "permit close", (0x05, 31): "time sync",
    (0x09, 1): "terminal version",
    (0x0C, 2): "terminal clock", (0x0C, 25): "current power, power factor, voltage, current",
    (0x0C, 33): "current forward energy (all)", (0x0C, 34): "current reverse energy (all)",
    (0x0D, 1): "daily frozen forward energy (all)", (0x0D, 2): "daily frozen reverse energy (all)",
    (0x0D, 17): "monthly frozen forward energy (all)",
    (0x0D, 18): "monthly frozen reverse energy (all)",
    (0x0E, 1): "important events", (0x0E, 2): "normal events",
    (0x10, 1): "transparent forwarding",
}
for _fn in (1, 3, 8, 10, 65, 66, 67, 68, 241):
    UNIT_NAMES[(0x0A, _fn)] = UNIT_NAMES[(0x04, _fn)]
_SINGLE = ("forward active", "forward reactive", "reverse active", "reverse reactive",
           "q1 reactive", "q2 reactive", "q3 reactive", "q4 reactive")
for _index in range(8):
    UNIT_NAMES[(0x0C, 129 + _index)] = "current " + _SINGLE[_index] + " energy"
    UNIT_NAMES[(0x0D, 161 + _index)] = "daily frozen " + _SINGLE[_index] + " energy"
    UNIT_NAMES[(0x0D, 177 + _index)] = "monthly frozen " + _SINGLE[_index] + " energy"
# AFN0D curves (Q/GDW 1376.1-2013): (first Fn, what, the elements of its consecutive Fns)
for _first, _what, _parts in (
        (81, "active power", ("total", "phase A", "phase B", "phase C")),
        (85, "reactive power", ("total", "phase A", "phase B", "phase C")),
        (89, "voltage", ("phase A", "phase B", "phase C")),
        (92, "current", ("phase A", "phase B", "phase C", "zero sequence")),
        (97, "energy per interval", ("forward active", "forward reactive", "reverse active",
                                     "reverse reactive")),
        (101, "energy register", ("forward active", "forward reactive", "reverse active",
                                  "reverse reactive")),
        (105, "power factor", ("total", "phase A", "phase B", "phase C"))):
    for _index, _part in enumerate(_parts):
        UNIT_NAMES[(0x0D, _first + _index)] = "%s curve, %s" % (_what, _part)

ERC_NAMES = {
    1: "initialisation / version change", 2: "parameter loss", 3: "parameter change",
    5: "remote trip",
    12: "meter clock deviation", 13: "meter fault", 14: "terminal power off/on",
    20: "message authentication error", 21: "terminal fault", 27: "meter reading decreased",
    30: "meter stopped", 31: "RS-485 reading failure", 33: "meter status word change",
    35: "unknown meter found",
}
TERMINAL_FAULTS = {1: "memory", 2: "clock", 3: "communication", 4: "RS-485 reading",
                   5: "display", 6: "carrier"}


def unit_name(afn, fn):
    """What AFN/Fn means, in words (None when this codec does not know it)."""
    return UNIT_NAMES.get((afn, fn))



def _hex(data):
    return binascii.hexlify(bytes(data)).decode()


def value_text(fmt, value):
    """One decoded value of data format `fmt` for JSON: scaled numbers and times as text."""
    if value is None:
        return None
    if fmt in formats.DECIMALS or fmt in _TIME_FORMATS or fmt == 2:
        return formats.to_text(fmt, value)
    return value


def _formats_of(fields):
    found = {}
    for field in gw376_fields.layout(fields):
        if isinstance(field[1], int):
            found[field[0]] = field[1]
    return found


def field_formats(afn, fn, direction):
    """name -> data format for the formatted fields of one unit's data (host side helper)."""
    codec = units.codec(afn, fn, direction)
    if codec is None:
        return {}
    kind = codec[0]
    if kind == units.FIELDS:
        return _formats_of(codec[1])
    if kind == units.ENERGY:
        found = {"read_time": 15}
        if codec[1]:
            found["td"] = codec[1]
        for name, fmt in gw376_fields.layout(codec[2]):
            found[name] = fmt
        return found
    if kind == units.CURVE:
        return {"start": 15, "values": codec[1]}
    return {}


def _plain(value, fmt=None):
    """Decoded data -> JSON-ready: dicts, lists, text, ints, bools, None."""
    if value is None:
        return None
    if isinstance(value, units.Unknown):
        return {"raw": _hex(value.raw)}
    if isinstance(value, (bytes, bytearray)):
        return _hex(value)
    if fmt is not None and not isinstance(value, (list, dict)):
        return value_text(fmt, value)
    if isinstance(value, dict):
        return dict((key, _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item, fmt) for item in value]
    return value


def _unit_data(afn, fn, direction, value):
    codec = units.codec(afn, fn, direction)
    if codec is None or value is None or isinstance(value, units.Unknown):
        return _plain(value)
    if codec[0] == units.FORMAT:
        return value_text(codec[1], value)
    if afn == gw376.AFN_CLASS3 and direction == gw376.UP:
        data = _plain(dict((k, v) for k, v in value.items() if k != "records"))
        data["records"] = [_record(record) for record in value["records"]]
        return data
    if afn == gw376.AFN_LINK:
        return value_text(1, value)
    fmts = field_formats(afn, fn, direction)
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = _plain(item, fmts.get(key))
        return out
    return _plain(value)


def _record(record):
    erc = record.get("erc")
    fmts = _formats_of(events.ERC_FIELDS.get(erc, ()))
    if erc == 3:
        fmts = {"time": 15}
    out = {}
    for key, item in record.items():
        out[key] = _plain(item, fmts.get(key))
    name = ERC_NAMES.get(erc)
    if name is not None:
        out["name"] = name
    return out


def describe(frame):
    up = frame.direction == gw376.UP
    out = {
        "protocol": "gw376.1",
        "control": "%02X" % frame.control,
        "direction": "up" if up else "down",
        "prm": 1 if frame.prm else 0,
        "function": frame.function,
        "function_name": function_name(frame),
        "area": "%04d" % frame.area,
        "terminal": frame.terminal,
        "group": bool(frame.group),
        "master": frame.master,
        "afn": "%02X" % frame.afn,
        "afn_name": AFN_NAMES.get(frame.afn, "reserved"),
        "seq": frame.seq,
        "fir": bool(frame.fir),
        "fin": bool(frame.fin),
        "con": bool(frame.con),
        "tpv": frame.tp is not None,
    }
    if up:
        out["acd"] = 1 if frame.acd else 0
    else:
        out["fcb"] = 1 if frame.fcb else 0
        out["fcv"] = 1 if frame.fcv else 0
    listed = []
    for pn, fn, value in frame.units:
        listed.append({
            "pn": "all" if pn == gw376.PN_ALL else pn,
            "fn": fn,
            "name": unit_name(frame.afn, fn),
            "known": units.is_known(frame.afn, fn, frame.direction),
            "data": _unit_data(frame.afn, fn, frame.direction, value),
        })
    out["units"] = listed
    if frame.pw is not None:
        out["pw"] = _hex(frame.pw)
    if frame.ec is not None:
        out["ec"] = {"important": frame.ec[0], "normal": frame.ec[1]}
    if frame.tp is not None:
        pfc, day, hour, minute, second, delay = frame.tp
        out["tp"] = {"pfc": pfc, "sent": "%02d %02d:%02d:%02d" % (day, hour, minute, second),
                     "delay_min": delay}
    if frame.trailing:
        out["trailing"] = _hex(frame.trailing)
    if frame.notes:
        out["notes"] = list(frame.notes)
    return out
