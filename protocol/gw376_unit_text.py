"""Q/GDW 1376.1 field types written as text: ASCII fields (aN), IPv4 addresses (ip) and meter
addresses (addr, format 12). protocol/gw376_fields.py loads this module for the layouts that
have one (the master's address F3, the meter archive F10, the version AFN09 F1, ERC1) only."""
import binascii

from protocol.bcd import is_decimal
from protocol.errors import ProtocolError


def decode(kind, buf, pos):
    """The value of a field of type `kind` ("ip", "addr" or ("a", n)) at buf[pos:]."""
    if kind == "ip":
        return "%d.%d.%d.%d" % (buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3])
    if kind == "addr":
        # Format 12 (6 BCD bytes, low first) printed the way the meter's label shows it; kept
        # as hex so a non-BCD address (AA wildcards) survives a round trip.
        digits = bytearray(6)
        for i in range(6):
            digits[i] = buf[pos + 5 - i]
        return binascii.hexlify(digits).decode()
    end = pos + kind[1]
    while end > pos and buf[end - 1] == 0:   # NUL padding
        end -= 1
    return "".join([chr(buf[i]) for i in range(pos, end)])


def encode_into(out, kind, value, what):
    """Append the field of type `kind` holding `value` (a ProtocolError naming `what`)."""
    if kind == "ip":
        parts = value.split(".") if isinstance(value, str) else ()
        if len(parts) != 4:
            raise ProtocolError("%s %r is not an IPv4 address a.b.c.d" % (what, value))
        for part in parts:
            if not is_decimal(part) or int(part) > 255:
                raise ProtocolError("%s %r is not an IPv4 address a.b.c.d" % (what, value))
            out.append(int(part))
    elif kind == "addr":
        try:
            raw = binascii.unhexlify(value)
        except Exception:       # noqa: BLE001 - binascii raises different types on each runtime
            raw = b""
        if len(raw) != 6:
            raise ProtocolError("%s %r is not 12 hex digits" % (what, value))
        for i in range(5, -1, -1):
            out.append(raw[i])
    else:
        count = kind[1]
        if not isinstance(value, str) or len(value) > count:
            raise ProtocolError("%s %r is not text of at most %d characters" % (what, value,
                                                                                count))
        for ch in value:
            code = ord(ch)
            if code > 255:
                raise ProtocolError("%s %r has a character outside one byte" % (what, value))
            out.append(code)
        for _ in range(count - len(value)):
            out.append(0)
