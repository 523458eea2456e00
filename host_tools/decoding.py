"""Decode captured frames for people: the engine behind `conc decode`.

Input is bytes (from hex text or a raw capture). `split_frames` cuts it into frames, detecting
each frame's protocol (DL/T 645-2007/-1997, Q/GDW 1376.1, Modbus RTU) or using the one given;
`describe` turns one frame into a JSON-ready document (schema in docs/decode-json.md) and
`render` turns that document into the readable breakdown. Everything wire-level is done by the
codecs in protocol/; this module only finds frame boundaries, names things and formats values.

Splitting is strict by default: every byte must belong to a frame (DL/T 645 FE preambles
excepted), and the first byte that does not is reported with its offset and the codec's
reason. `skip_noise=True` instead runs the protocols' own stream deframers, which skip noise
and resynchronise, as the board does on a live bus.
"""
import binascii
import re

from protocol import dlt645, dlt645_items, gw376, modbus
from protocol.dlt645_deframer import Deframer as Dlt645Deframer
from protocol.errors import ProtocolError
from protocol.gw376_deframer import Deframer as Gw376Deframer

SCHEMA = "conc-decode/1"
PROTOCOLS = ("dlt645", "dlt645-1997", "modbus", "gw376")
PROTOCOL_TITLES = {"dlt645": "DL/T 645-2007", "dlt645-1997": "DL/T 645-1997",
                   "modbus": "Modbus RTU", "gw376": "Q/GDW 1376.1"}


class InputError(Exception):
    """The input is not hex (or is empty): a one-line reason."""


class DecodeError(Exception):
    """No frame can be decoded at `offset` of the input; `reason` says why."""

    def __init__(self, reason, offset):
        super().__init__("byte %d: %s" % (offset, reason))
        self.reason = reason
        self.offset = offset
        self.found = []


# ---------------------------------------------------------------------------------------------
# Input

_SEPARATORS = re.compile(r"[\s:,;|\-]+")
_HEX_PREFIX = re.compile(r"(?<![0-9A-Fa-f])0[xX](?=[0-9A-Fa-f])")


def parse_hex(text):
    """Hex text -> bytes. Spaces, colons, dashes, commas and 0x prefixes are allowed;
    `#` starts a comment to the end of the line."""
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    cleaned = _SEPARATORS.sub("", _HEX_PREFIX.sub("", " ".join(lines)))
    bad = re.search(r"[^0-9A-Fa-f]", cleaned)
    if bad:
        raise InputError("not hex: %r (hex digits, spaces and colons are accepted)"
                         % _context(cleaned, bad.start()))
    if len(cleaned) % 2:
        raise InputError("odd number of hex digits (%d): a digit is missing or extra"
                         % len(cleaned))
    return binascii.unhexlify(cleaned)


def _context(text, at):
    return text[max(0, at - 4):at + 6]


def looks_like_hex(raw):
    """True when a file's bytes are hex text rather than a raw capture."""
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return False
    try:
        parse_hex(text)
    except InputError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Splitting

class Found:
    """One frame found in the input: where, which protocol, and the codec's parsed frame."""

    def __init__(self, offset, raw, protocol, parsed, skipped=0):
        self.offset = offset
        self.raw = raw
        self.protocol = protocol
        self.parsed = parsed
        self.skipped = skipped          # noise bytes dropped before it (skip_noise mode)


def split_frames(data, protocol=None, skip_noise=False):
    """[Found] for every frame in `data`; DecodeError at the first byte that starts none.

    The protocols' stream deframers cut the DL/T 645 and 1376.1 frames out (as the board
    does on a live link). Strictly (the default) every byte must belong to a frame: whatever
    the deframers leave between their frames (FE preambles, Modbus RTU frames, which carry no
    start marker, or something broken) is read by the header walker `_frame_at`, which either
    finds a frame there or names the offset and the codec's reason. With `skip_noise` those
    gaps are dropped and counted instead.
    """
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError("unknown protocol %r" % protocol)
    deframed = _split_with_deframers(data, protocol, scan_modbus=skip_noise)
    if skip_noise:
        return deframed
    found = []
    pos = 0
    following = 0
    while pos < len(data):
        while following < len(deframed) and deframed[following].offset < pos:
            following += 1
        if following < len(deframed) and deframed[following].offset == pos:
            frame = deframed[following]
            frame.skipped = 0
        else:
            try:
                frame = _frame_at(data, pos, protocol)
            except DecodeError as exc:
                exc.found = found                 # what decoded before the bad byte
                raise
        found.append(frame)
        pos = frame.offset + len(frame.raw)
    return found


def _frame_at(data, pos, protocol):
    """The frame starting at `pos` (DL/T 645 preamble included)."""
    errors = []
    wanted = (protocol,) if protocol else ("gw376", "dlt645", "modbus")
    for name in wanted:
        try:
            found = _TRY[name.replace("-1997", "")](data, pos)
        except ProtocolError as exc:
            errors.append((name, exc))
            continue
        if found is None:
            continue
        if protocol == "dlt645-1997" and found.parsed.version != 1997:  # pyright: ignore[reportAttributeAccessIssue] - a DL/T 645 frame has a version
            raise DecodeError("a DL/T 645-2007 frame (function %02X), not 1997" %
                              found.parsed.function, pos)
        if protocol == "dlt645" and found.parsed.version == 1997:  # pyright: ignore[reportAttributeAccessIssue] - a DL/T 645 frame has a version
            found.protocol = "dlt645-1997"
        return found
    if errors:
        name, exc = errors[0]
        offset = pos if exc.offset is None else pos + exc.offset
        raise DecodeError("%s: %s" % (PROTOCOL_TITLES[name], exc.reason), offset)
    names = " or ".join(PROTOCOL_TITLES[n] for n in wanted)
    raise DecodeError("0x%02X does not start a %s frame" % (data[pos], names), pos)


def _try_gw376(data, pos):
    if data[pos] != 0x68 or len(data) - pos < 6 or data[pos + 5] != 0x68:
        return None
    if data[pos + 1:pos + 3] != data[pos + 3:pos + 5] or data[pos + 1] & 3 != gw376.PROTOCOL_ID:
        return None
    length = ((data[pos + 1] | data[pos + 2] << 8) >> 2) + 8
    raw = bytes(data[pos:pos + length])
    return Found(pos, raw, "gw376", gw376.parse(raw))


def _try_dlt645(data, pos):
    start = pos
    while start < len(data) and data[start] == dlt645.PREAMBLE and start - pos < 16:
        start += 1
    if start >= len(data) or data[start] != dlt645.START:
        if start > pos:                       # FE bytes that lead nowhere
            raise ProtocolError("FE preamble not followed by a 68", start - pos)
        return None
    if len(data) - start < 10 or data[start + 7] != dlt645.START:
        if start > pos or len(data) - start < 10:
            raw = bytes(data[pos:])
            dlt645.parse_frame(raw)           # raises the codec's reason
        return None
    end = start + 12 + data[start + 9]
    raw = bytes(data[pos:min(end, len(data))])
    frame = dlt645.parse_frame(raw)
    return Found(pos, raw, "dlt645-1997" if frame.version == 1997 else "dlt645", frame)


def _modbus_lengths(data, pos):
    """Frame lengths the bytes at `pos` could have as a Modbus RTU frame, most likely first."""
    left = len(data) - pos
    if left < 4:
        return []
    function = data[pos + 1]
    if function & 0x80:
        candidates = [5]
    elif function in (3, 4):
        candidates = [8, 5 + data[pos + 2]]
    elif function == 6:
        candidates = [8]
    elif function == 16:
        candidates = [8] + ([9 + data[pos + 6]] if left > 6 else [])
    else:
        candidates = []
    return [n for n in candidates if 4 <= n <= left]


def _try_modbus(data, pos):
    lengths = _modbus_lengths(data, pos)
    for length in lengths:
        if modbus.crc_ok(data[pos:pos + length]):
            raw = bytes(data[pos:pos + length])
            return Found(pos, raw, "modbus", modbus.parse(raw))
    rest = bytes(data[pos:])
    if not lengths and len(rest) >= 4:
        function = data[pos + 1] & 0x7F
        if function not in modbus.FUNCTION_NAMES:
            raise ProtocolError("function code %d (0x%02X) is not supported: 03, 04, 06 and 16 "
                                "are" % (function, function), 1)
    if lengths and len(rest) not in lengths:
        raise ProtocolError("no Modbus RTU frame with a good CRC starts here (function %d "
                            "frames are %s bytes)" % (data[pos + 1], " or ".join(
                                str(n) for n in lengths)), 0)
    # the rest is one frame (or no length fits at all): the codec says what is wrong with it
    return Found(pos, rest, "modbus", modbus.parse(rest))


_TRY = {"gw376": _try_gw376, "dlt645": _try_dlt645, "modbus": _try_modbus}


def _split_with_deframers(data, protocol, scan_modbus):
    """Frames the protocols' stream deframers find (in input order, noise between them
    counted in `skipped`). Modbus RTU has no deframer without timing: with `scan_modbus` its
    frames are found by sliding over the bytes until a length with a good CRC fits."""
    found = []
    wanted = (protocol.replace("-1997", ""),) if protocol else ("dlt645", "gw376", "modbus")
    if "dlt645" in wanted:
        deframer = Dlt645Deframer()
        pos = 0
        while pos < len(data):
            taken = deframer.feed(data[pos:pos + 256])
            pos += taken
            size = deframer.next_frame()
            if not taken and not size:
                break                           # cannot happen with a sane deframer
            while size:
                found.append(("dlt645", deframer.frame()))
                size = deframer.next_frame()
    if "gw376" in wanted:
        for raw in Gw376Deframer().frames(bytes(data)):
            found.append(("gw376", bytes(raw)))
    if "modbus" in wanted and scan_modbus:
        pos = 0
        while pos < len(data):
            lengths = [n for n in _modbus_lengths(data, pos)
                       if modbus.crc_ok(data[pos:pos + n])]
            if lengths:
                found.append(("modbus", bytes(data[pos:pos + lengths[0]])))
                pos += lengths[0]
            else:
                pos += 1
    located = []
    cursor = {}
    for name, raw in found:
        at = data.find(raw, cursor.get(name, 0))
        cursor[name] = at + len(raw)
        located.append((at, name, raw))
    located.sort()
    result = []
    end = 0
    for at, name, raw in located:
        if at < end:
            continue                          # inside a frame another deframer found
        try:
            parsed = dlt645.parse_frame(raw) if name == "dlt645" else (
                gw376.parse(raw) if name == "gw376" else modbus.parse(raw))
        except ProtocolError:
            continue                          # framed but not decodable: treat as noise
        if name == "dlt645" and parsed.version == 1997:  # pyright: ignore[reportAttributeAccessIssue] - a DL/T 645 frame has a version
            name = "dlt645-1997"
        if protocol == "dlt645-1997" and name != "dlt645-1997":
            continue
        result.append(Found(at, raw, name, parsed, at - end))
        end = at + len(raw)
    return result


# ---------------------------------------------------------------------------------------------
# Documents

def describe(found, index=0, register_map=None, register_start=None):
    """The JSON document of one Found frame (docs/decode-json.md).

    The envelope is ours; `frame` is the codec owner's description (protocol.dlt645_describe,
    protocol.gw376_describe) or, for Modbus, `describe_modbus` below.
    """
    doc = {"schema": SCHEMA, "index": index, "offset": found.offset, "length": len(found.raw),
           "hex": _hex(found.raw), "protocol": found.protocol}
    if found.protocol.startswith("dlt645"):
        doc.update(_describe_dlt645(found.raw, found.parsed))
    elif found.protocol == "gw376":
        doc.update(_describe_gw376(found.raw, found.parsed))
    else:
        doc.update(_describe_modbus(found.raw, found.parsed, register_map, register_start))
    if found.skipped:
        doc["notes"].insert(0, "%d noise byte(s) skipped before this frame" % found.skipped)
    return doc


def _hex(raw):
    return binascii.hexlify(bytes(raw)).decode().upper()


def _spaced(hex_text):
    return " ".join(hex_text[i:i + 2] for i in range(0, len(hex_text), 2)).upper()


# --- DL/T 645 ---------------------------------------------------------------------------------

def _describe_dlt645(raw, frame):
    from protocol import dlt645_describe
    fields = dlt645_describe.describe(frame)
    notes = []
    preamble = 0
    while raw[preamble] == dlt645.PREAMBLE:
        preamble += 1
    if preamble:
        notes.append("%d FE preamble byte(s) before the frame" % preamble)
    if "value_error" in fields:
        notes.append("value of %s not decoded: %s" % (fields.get("item", "the item"),
                                                      fields["value_error"]))
    elif "di" in fields and "item" not in fields:
        notes.append("DI %s is not in the data-item catalogue; payload kept raw" % fields["di"])
    summary = "%s %s%s %s" % (PROTOCOL_TITLES["dlt645-1997" if frame.version == 1997
                                              else "dlt645"],
                              frame.function_name(), " reply" if frame.from_meter else "",
                              frame.address)
    if frame.abnormal:
        summary += " ERROR " + ",".join(frame.error_names())
    if "di" in fields:
        summary += " DI " + fields["di"]
    if "value" in fields:
        summary += " = %s %s" % (fields["value"], fields.get("unit", ""))
    return {"checksum": {"algorithm": "sum8", "value": "%02X" % raw[-2], "ok": True},
            "summary": summary.rstrip(), "frame": fields, "notes": notes}


def _render_dlt645(doc):
    f = doc["frame"]
    from_meter = f["direction"] == "from_meter"
    lines = [
        ("address", f["address"]),
        ("control", "0x%s: %s, %s, %s, function %s %s" % (
            f["control"], "meter -> master (D7=1)" if from_meter else "master -> meter (D7=0)",
            "abnormal reply (D6=1)" if f["abnormal"] else "normal (D6=0)",
            "follow-up frames (D5=1)" if f["more"] else "no follow-up (D5=0)",
            f["function"], f["function_name"])),
        ("length", "%d data bytes%s" % (len(f["data"]) // 2, (
            ": %s (after -0x33)" % _spaced(f["data"])) if f["data"] else "")),
    ]
    if "error" in f:
        lines.append(("error", "0x%02X: %s" % (f["error"], ", ".join(f["errors"]) or "none")))
    if "di" in f:
        lines.append(("DI", "%s%s" % (f["di"], " %s%s" % (
            f["item"], " (%s)" % f["unit"] if f.get("unit") else "") if "item" in f else "")))
    if "value" in f:
        lines.append(("value", ("%s %s" % (f["value"], f.get("unit", ""))).rstrip()))
    if "payload" in f:
        lines.append(("payload", _spaced(f["payload"])))
    for key in ("seq", "password", "operator", "expiry", "clock", "baud", "meter_address"):
        if key in f:
            lines.append((key.replace("_", " "), str(f[key])))
    if "command" in f:
        lines.append(("command", "N1 0x%s %s" % (f["command"], f.get("command_name", ""))))
    if "freeze_at" in f:
        lines.append(("freeze at", "month %02d day %02d %02d:%02d (99 = every)"
                      % tuple(f["freeze_at"])))
    return lines


# --- Modbus -----------------------------------------------------------------------------------

def describe_modbus(message, register_map=None, register_start=None):
    """A parsed Modbus message as a plain dict (the `frame` of a Modbus document)."""
    fields = {
        "protocol": "modbus-rtu",
        "unit": message.unit,
        "function": message.function,
        "function_name": message.function_name,
        "direction": {False: "request", True: "reply", None: "request_or_echo"}[
            message.reply],
        "exception": message.exception,
        "exception_name": message.exception_name,
        "address": message.address,
        "count": message.count,
        "registers": list(message.registers),
        "values": None,
    }
    if register_map is not None and register_start is not None and message.reply and \
            message.exception is None and message.function in (modbus.READ_HOLDING,
                                                               modbus.READ_INPUT):
        fields["values"] = _map_values(register_map, message, register_start)
    return fields


def _describe_modbus(raw, message, register_map, register_start):
    fields = describe_modbus(message, register_map, register_start)
    notes = []
    if register_map is not None and register_start is None and message.reply and \
            message.exception is None and message.function in (3, 4):
        notes.append("register values need the first register: give --start or include the "
                     "request before the reply")
    summary = "Modbus RTU unit %d %s %s" % (message.unit, message.function_name,
                                           fields["direction"].replace("_", " "))
    if message.exception is not None:
        summary += " EXCEPTION %d %s" % (message.exception, message.exception_name)
    elif message.reply is False and message.function in (3, 4):
        summary += " 0x%04X x%d" % (message.address, message.count)
    return {"checksum": {"algorithm": "crc16-modbus", "value": _hex(raw[-2:]), "ok": True},
            "summary": summary, "frame": fields, "notes": notes}


def _map_values(register_map, message, start):
    values = []
    for item in register_map.items:
        if item.function != message.function:
            continue
        first = item.register - start
        if first < 0 or first + item.registers > message.count:
            continue
        try:
            scaled = item.scaled(message.data, 2 * first)
            text = dlt645_items.scaled_text(scaled, item.decimals)
        except ProtocolError as exc:
            scaled, text = None, "not a number (%s)" % exc.reason
        values.append({"name": item.name, "register": item.register, "type": item.kind,
                       "unit": item.unit, "decimals": item.decimals, "value": scaled,
                       "text": text})
    return values


def _render_modbus(doc):
    f = doc["frame"]
    lines = [("unit", str(f["unit"])),
             ("function", "%d (0x%02X) %s, %s" % (f["function"], f["function"],
                                                  f["function_name"],
                                                  f["direction"].replace("_", " ")))]
    if f["exception"] is not None:
        lines.append(("exception", "%d %s" % (f["exception"], f["exception_name"])))
    if f["address"] is not None:
        lines.append(("register", "0x%04X (%d)" % (f["address"], f["address"])))
    if f["count"] and f["exception"] is None:
        lines.append(("count", str(f["count"])))
    if f["registers"]:
        lines.append(("registers", " ".join("%04X" % r for r in f["registers"])))
    for value in f["values"] or ():
        lines.append((value["name"], "%s  (0x%04X %s)" % (
            ("%s %s" % (value["text"], value["unit"])).rstrip(), value["register"],
            value["type"])))
    return lines


# --- Q/GDW 1376.1 -----------------------------------------------------------------------------

def _unit_of(name, fmt):
    """The physical unit of a value of data format `fmt` named `name` (for the text view)."""
    if fmt in (14, 13):
        return "kWh"
    if fmt == 11:
        return "kvarh" if "reactive" in name else "kWh"
    if fmt in (9, 2):
        if "reactive" in name:
            return "kvar"
        return "kVA" if "apparent" in name else "kW"
    return {5: "%", 7: "V", 25: "A"}.get(fmt, "")


def _item_text(name, value, fmt):
    if value is None:
        return "no data"
    if isinstance(value, dict) and set(value) == {"raw"}:
        return "raw (not decoded): " + _spaced(value["raw"])
    unit = _unit_of(name, fmt) if fmt is not None else ""
    return ("%s %s" % (value, unit)).rstrip()


def _data_lines(value, fmts, indent):
    """Readable lines for a unit's described data (dicts and lists of dicts unfolded)."""
    pad = "  " * indent
    if not isinstance(value, dict) or set(value) == {"raw"}:
        return ["%s%s" % (pad, _item_text("", value, None))]
    lines = []
    for key, item in value.items():
        fmt = fmts.get(key)
        if isinstance(item, list) and item and isinstance(item[0], dict):
            lines.append("%s%s:" % (pad, key))
            for i, entry in enumerate(item):
                lines.append("%s  [%d]" % (pad, i + 1))
                lines.extend(_data_lines(entry, fmts, indent + 2))
        elif isinstance(item, dict) and set(item) != {"raw"}:
            lines.append("%s%s:" % (pad, key))
            lines.extend(_data_lines(item, fmts, indent + 1))
        elif key == "items" and item and all(isinstance(v, list) and len(v) == 3
                                             for v in item):
            # AFN00 F3: (pn, fn, err) per data unit
            lines.append("%s%s: %s" % (pad, key, ", ".join(
                "p%s F%s %s" % (pn, fn, "denied" if err else "confirmed")
                for pn, fn, err in item)))
        elif isinstance(item, list):
            lines.append("%s%s: %s" % (pad, key, ", ".join(
                _item_text(key, v, fmt) for v in item) or "(none)"))
        else:
            lines.append("%s%s: %s" % (pad, key, _item_text(key, item, fmt)))
    return lines


def _describe_gw376(raw, frame):
    from protocol import gw376_describe
    fields = gw376_describe.describe(frame)
    names = ", ".join("p%s F%d" % (u["pn"], u["fn"]) for u in fields["units"]) or "no units"
    summary = "Q/GDW 1376.1 %s AFN%s %s %04d-%d (%s) %s" % (
        fields["direction"], fields["afn"], fields["afn_name"], frame.area, frame.terminal,
        fields["function_name"], names)
    return {"checksum": {"algorithm": "sum8", "value": "%02X" % raw[-2], "ok": True},
            "summary": summary, "frame": fields, "notes": list(frame.notes)}


def _render_gw376(doc):
    f = doc["frame"]
    up = f["direction"] == "up"
    bits = ["DIR=%d %s" % (1 if up else 0, "terminal -> master" if up else "master -> terminal"),
            "PRM=%d" % f["prm"]]
    if up:
        bits.append("ACD=%d%s" % (f["acd"], " (events waiting)" if f["acd"] else ""))
    else:
        bits.append("FCB=%d FCV=%d" % (f["fcb"], f["fcv"]))
    bits.append("function %d %s" % (f["function"], f["function_name"]))
    lines = [
        ("control", "0x%s: %s" % (f["control"], ", ".join(bits))),
        ("address", "area %s terminal %d%s, master %d" % (
            f["area"], f["terminal"], " (group)" if f["group"] else "", f["master"])),
        ("AFN", "0x%s %s" % (f["afn"], f["afn_name"])),
        ("SEQ", "%s, PSEQ/RSEQ %d%s%s" % (
            {(True, True): "single frame", (True, False): "first frame",
             (False, False): "middle frame", (False, True): "last frame"}[(f["fir"], f["fin"])],
            f["seq"], ", CON (confirm wanted)" if f["con"] else "",
            ", TpV (time label)" if f["tpv"] else "")),
    ]
    from protocol import gw376_describe
    afn = int(f["afn"], 16)
    for unit in f["units"]:
        formats = gw376_describe.field_formats(afn, unit["fn"], 1 if up else 0)
        lines.append(("unit", "p%s F%d %s%s" % (unit["pn"], unit["fn"],
                                               unit["name"] or "(unknown Fn)",
                                               "" if unit["known"] else " [raw, not decoded]")))
        if unit["data"] is not None:
            for text in _data_lines(unit["data"], formats, 1):
                lines.append(("", text))
    if "pw" in f:
        lines.append(("AUX PW", _spaced(f["pw"])))
    if "ec" in f:
        lines.append(("AUX EC", "important %d, normal %d" % (f["ec"]["important"],
                                                            f["ec"]["normal"])))
    if "tp" in f:
        tp = f["tp"]
        lines.append(("AUX Tp", "PFC %d, sent day %s, allowed delay %d min" % (
            tp["pfc"], tp["sent"], tp["delay_min"])))
    if "trailing" in f:
        lines.append(("trailing", _spaced(f["trailing"])))
    return lines


# ---------------------------------------------------------------------------------------------
# Text

def render(doc):
    """The readable breakdown of one document, as a list of lines."""
    head = "frame %d: %s, %d bytes at offset %d" % (
        doc["index"] + 1, PROTOCOL_TITLES[doc["protocol"]], doc["length"], doc["offset"])
    if doc["protocol"].startswith("dlt645"):
        body = _render_dlt645(doc)
    elif doc["protocol"] == "gw376":
        body = _render_gw376(doc)
    else:
        body = _render_modbus(doc)
    cs = doc["checksum"]
    body.append(("checksum", "%s %s ok" % ("CRC" if cs["algorithm"].startswith("crc") else
                                           "CS", cs["value"])))
    width = max(len(key) for key, _ in body)
    lines = [head, "  " + doc["summary"]]
    for key, text in body:
        lines.append("  %-*s  %s" % (width, key, text))
    for note in doc["notes"]:
        lines.append("  note: " + note)
    return lines
