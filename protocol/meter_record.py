"""One meter of the concentrator's archive: validation and its 40-byte slot on flash.

An entry follows Q/GDW 1376.1 AFN04 F10 (measuring point, port, baud, protocol, address,
password, tariff count, collector, user class) plus what a Modbus meter needs (its unit id and
register map). Entries are dicts so the host (`conc meters`, the station) and the board share
them as JSON; on flash each is a fixed slot so the board finds point N at offset (N-1)*40 with
no index in RAM.

Slot layout (little-endian):
  0 flags (bit 0 in use)   1 protocol code (1 = 645-1997, 30 = 645-2007, 200 = Modbus RTU)
  2 bus 1..31              3 parity (0 N, 1 E, 2 O)     4..5 baud / 100
  6..11 address: 645 as on the wire (reversed BCD); Modbus unit id in byte 6
  12..17 password (6 bytes, 645 PA P0 P1 P2 + 2 spare)  18 tariff count  19 user class
  20..25 collector address (reversed BCD, zeros when none)  26..33 register map name (ASCII)
  34..35 serial number      36..39 reserved (zero)
"""
from protocol.bcd import is_decimal
from protocol.errors import ProtocolError

SLOT_SIZE = 40
MAX_POINT = 2040
PROTOCOL_CODES = {"dlt645-1997": 1, "dlt645": 30, "modbus": 200}
PROTOCOL_NAMES = {1: "dlt645-1997", 30: "dlt645", 200: "modbus"}
DEFAULT_LINE = {"dlt645": (2400, "E"), "dlt645-1997": (1200, "E"), "modbus": (9600, "N")}
BAUDS = (300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
PARITIES = "NEO"


def validate(entry):
    """Return a complete, normalised copy of `entry` or raise ProtocolError naming the field."""
    if not isinstance(entry, dict):
        raise ProtocolError("a meter entry must be a table of fields")
    protocol = entry.get("protocol", "dlt645")
    if protocol not in PROTOCOL_CODES:
        raise ProtocolError("protocol must be one of dlt645, dlt645-1997, modbus, not %r"
                            % (protocol,))
    baud, parity = DEFAULT_LINE[protocol]
    out = {
        "point": _int(entry, "point", 1, MAX_POINT, None),
        "protocol": protocol,
        "bus": _int(entry, "bus", 1, 31, 1),
        "baud": _int(entry, "baud", 300, 115200, baud),
        "parity": entry.get("parity", parity),
        "password": entry.get("password", "00000000"),
        "tariffs": _int(entry, "tariffs", 0, 14, 4),
        "user_class": _int(entry, "user_class", 0, 255, 0),
        "collector": entry.get("collector", ""),
        "map": entry.get("map", "sdm120" if protocol == "modbus" else ""),
        "serial": _int(entry, "serial", 0, 65535, 0),
    }
    if out["baud"] not in BAUDS:
        raise ProtocolError("baud must be one of %s" % ", ".join(str(b) for b in BAUDS))
    if out["parity"] not in ("N", "E", "O"):
        raise ProtocolError("parity must be N, E or O")
    address = entry.get("address")
    if protocol == "modbus":
        unit = address if isinstance(address, int) else _digits(address, "address", 1, 3)
        unit = int(unit)
        if not 1 <= unit <= 247:
            raise ProtocolError("a Modbus address (unit id) must be 1..247")
        out["address"] = unit
        if not out["map"] or len(out["map"]) > 8:
            raise ProtocolError("a Modbus meter needs a register map name (8 characters at most)")
    else:
        text = _digits(address, "address", 1, 12)
        out["address"] = "0" * (12 - len(text)) + text
    if not isinstance(out["password"], str) or len(out["password"]) != 8 or \
            not _is_hex(out["password"]):
        raise ProtocolError("password must be 8 hex digits: level + 3 bytes, e.g. 02000000")
    if out["collector"]:
        text = _digits(out["collector"], "collector", 1, 12)
        out["collector"] = "0" * (12 - len(text)) + text
    return out


def pack(entry, buf):
    """Write a validated entry into the first SLOT_SIZE bytes of `buf`."""
    for i in range(SLOT_SIZE):
        buf[i] = 0
    buf[0] = 1
    buf[1] = PROTOCOL_CODES[entry["protocol"]]
    buf[2] = entry["bus"]
    buf[3] = PARITIES.index(entry["parity"])
    baud = entry["baud"] // 100
    buf[4] = baud & 0xFF
    buf[5] = baud >> 8
    if entry["protocol"] == "modbus":
        buf[6] = entry["address"]
    else:
        _put_address(buf, 6, entry["address"])
    password = entry["password"]
    for i in range(4):
        buf[12 + i] = int(password[2 * i:2 * i + 2], 16)
    buf[18] = entry["tariffs"]
    buf[19] = entry["user_class"]
    if entry["collector"]:
        _put_address(buf, 20, entry["collector"])
    name = entry["map"]
    for i in range(len(name)):
        buf[26 + i] = ord(name[i])
    buf[34] = entry["serial"] & 0xFF
    buf[35] = entry["serial"] >> 8


def unpack(buf, point):
    """The entry stored in a slot, or None for an empty slot."""
    if not buf[0] & 1:
        return None
    protocol = PROTOCOL_NAMES.get(buf[1])
    if protocol is None:
        raise ProtocolError("meter slot %d holds unknown protocol code %d" % (point, buf[1]))
    entry = {
        "point": point,
        "protocol": protocol,
        "bus": buf[2],
        "parity": PARITIES[buf[3] % 3],
        "baud": (buf[4] | buf[5] << 8) * 100,
        "password": "%02x%02x%02x%02x" % (buf[12], buf[13], buf[14], buf[15]),
        "tariffs": buf[18],
        "user_class": buf[19],
        "collector": _get_address(buf, 20) if any_set(buf, 20, 6) else "",
        "map": bytes(buf[26:34]).rstrip(b"\0").decode(),
        "serial": buf[34] | buf[35] << 8,
    }
    entry["address"] = buf[6] if protocol == "modbus" else _get_address(buf, 6)
    return entry


def any_set(buf, start, length):
    for i in range(start, start + length):
        if buf[i]:
            return True
    return False


def _int(entry, key, low, high, default):
    value = entry.get(key, default)
    if isinstance(value, str) and is_decimal(value):
        value = int(value)
    if value is None:
        raise ProtocolError("%s is required" % key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError("%s must be a whole number %d..%d" % (key, low, high))
    return value


def _digits(value, what, low, high):
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    if not low <= len(text) <= high or not is_decimal(text):
        raise ProtocolError("%s must be %d..%d decimal digits, not %r" % (what, low, high, value))
    return text


def _is_hex(text):
    for ch in text:
        if ch not in "0123456789abcdefABCDEF":
            return False
    return True


def _put_address(buf, start, digits):
    # 12 digits, most significant first -> 6 BCD bytes, least significant byte first
    for i in range(6):
        pair = digits[10 - 2 * i:12 - 2 * i]
        buf[start + i] = (ord(pair[0]) - 48) << 4 | (ord(pair[1]) - 48)


def _get_address(buf, start):
    return "".join("%02x" % buf[start + 5 - i] for i in range(6))
