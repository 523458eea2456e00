"""Q/GDW 1376.1 field layouts: the fields of a data unit or an event record written as text, and
the coders between such a layout and a dict of its values. protocol/gw376_units.py and its
family modules (gw376_unit_*) build every unit they code on these.

API:
    layout(text) -> ((name, type[, count]), ...)
    decode_fields(fields, buf, pos, end, into=None) -> (dict, new_pos)
    encode_fields(out, fields, value)                appends to a bytearray
    fields_length(fields) -> bytes a layout of fixed-size fields takes
    need(pos, count, end), read_uint(buf, pos, size), put_uint(out, value, size, what),
    get_field(value, name): the checks and integers the composite coders share

A field type is a data format number (1..25), one of the names below, or ("a", n) for n
ASCII characters / ("b", n) for n raw bytes. A bit-field byte or word is ("bits", "u8"|"u16",
((name, shift, width, bias_or_table), ...)).
"""
from protocol import gw376_formats as formats
from protocol.compat import const
from protocol.errors import ProtocolError

# Layouts are written as text and read into those tuples when a unit is coded (layout()): a
# tuple constant is built in RAM when its module loads, every field a tuple of its own, while
# a string stays in the board's ROMFS. Fields are separated by spaces, each NAME:TYPE[*COUNT]:
#   TYPE  a format number (15), u8 u16 u24, ip, addr, aN (N ASCII characters), bN (N bytes),
#         or a bit field u8[...] / u16[...]: NAME=SHIFT/WIDTH, comma-separated, each with
#         +BIAS (the value is the code plus BIAS) or @TABLE (the value is the table's
#         entry at index code; the one table is @baud, _BAUD).
#   "timeout:u16[response_timeout_s=0/12,retries=12/2] voltage:7*3"

_BAUD = const((0, 600, 1200, 2400, 4800, 7200, 9600, 19200))


def _bytes_of(kind):
    """The bytes of an unsigned type u8, u16, u24."""
    return int(kind[1:]) >> 3


def layout(fields):
    """The fields of a layout written as text, as a tuple of (name, type[, count]); a tuple
    of fields is returned as it is."""
    if not isinstance(fields, str):
        return fields
    out = []
    for item in fields.split():
        name, _, kind = item.partition(":")
        kind, _, count = kind.partition("*")
        bracket = kind.find("[")
        if bracket > 0:
            bits = []
            for part in kind[bracket + 1:-1].split(","):
                bit, _, spec = part.partition("=")
                spec, _, table = spec.partition("@")
                spec, _, bias = spec.partition("+")
                shift, _, width = spec.partition("/")
                bits.append((bit, int(shift), int(width),
                             _BAUD if table else int(bias or 0)))
            kind = ("bits", kind[:bracket], tuple(bits))
        elif kind.isdigit():
            kind = int(kind)
        elif kind[0] in "ab" and kind[1:].isdigit():
            kind = (kind[0], int(kind[1:]))
        out.append((name, kind, int(count)) if count else (name, kind))
    return tuple(out)


def need(pos, count, end):
    """A ProtocolError unless `count` bytes from `pos` lie before `end`."""
    if pos + count > end:
        raise ProtocolError("data unit needs %d more bytes than the frame holds" %
                            (pos + count - end), end)


def _length(kind):
    if isinstance(kind, int):
        return formats.LENGTH[kind]
    if isinstance(kind, tuple):
        if kind[0] == "bits":
            return _bytes_of(kind[1])
        return kind[1]
    if kind == "ip":
        return 4
    if kind == "addr":
        return 6
    return _bytes_of(kind)


def read_uint(buf, pos, size):
    """The unsigned little-endian integer of `size` bytes at buf[pos:]."""
    value = 0
    for i in range(size - 1, -1, -1):
        value = (value << 8) | buf[pos + i]
    return value


def put_uint(out, value, size, what):
    """Append `value` as `size` little-endian bytes (a ProtocolError naming `what` if it does
    not fit)."""
    if not isinstance(value, int) or not 0 <= value < (1 << (8 * size)):
        raise ProtocolError("%s %r does not fit %d byte(s)" % (what, value, size))
    for _ in range(size):
        out.append(value & 0xFF)
        value >>= 8


def _decode_field(kind, buf, pos):
    if isinstance(kind, int):
        return formats.decode(kind, buf, pos)
    if isinstance(kind, tuple) and kind[0] == "b":
        return bytes(buf[pos:pos + kind[1]])
    if isinstance(kind, tuple) or kind == "ip" or kind == "addr":
        from protocol import gw376_unit_text as text
        return text.decode(kind, buf, pos)
    return read_uint(buf, pos, _bytes_of(kind))


def _encode_field(out, kind, value, name):
    if isinstance(kind, int):
        formats.encode_into(out, kind, value)
    elif isinstance(kind, tuple) and kind[0] == "b":
        if not isinstance(value, (bytes, bytearray)) or len(value) != kind[1]:
            raise ProtocolError("%s must be %d bytes" % (name, kind[1]))
        out.extend(value)
    elif isinstance(kind, tuple) or kind == "ip" or kind == "addr":
        from protocol import gw376_unit_text as text
        text.encode_into(out, kind, value, name)
    else:
        put_uint(out, value, _bytes_of(kind), name)


def get_field(value, name):
    """value[name] of a unit's dict, or a ProtocolError naming what is missing."""
    if not isinstance(value, dict) or name not in value:
        raise ProtocolError("data unit value lacks %r" % name)
    return value[name]


def decode_fields(fields, buf, pos, end, into=None):
    """Decode a layout (text, or (name, type[, count]) fields) into a dict; return (dict, pos)."""
    result = {} if into is None else into
    for field in layout(fields):
        kind = field[1]
        size = _length(kind)
        if isinstance(kind, tuple) and kind[0] == "bits":
            need(pos, size, end)
            raw = read_uint(buf, pos, size)
            for name, shift, width, bias in kind[2]:
                code = (raw >> shift) & ((1 << width) - 1)
                if isinstance(bias, tuple):
                    result[name] = bias[code] if code < len(bias) else code
                else:
                    result[name] = code + bias
            pos += size
            continue
        count = field[2] if len(field) > 2 else 0
        if count:
            need(pos, size * count, end)
            values = []
            for _ in range(count):
                values.append(_decode_field(kind, buf, pos))
                pos += size
            result[field[0]] = values
        else:
            need(pos, size, end)
            result[field[0]] = _decode_field(kind, buf, pos)
            pos += size
    return result, pos


def encode_fields(out, fields, value):
    """Append a layout's fields, taken from the dict `value`, to the bytearray `out`."""
    for field in layout(fields):
        kind = field[1]
        if isinstance(kind, tuple) and kind[0] == "bits":
            raw = 0
            for name, shift, width, bias in kind[2]:
                item = get_field(value, name)
                if isinstance(bias, tuple):
                    code = bias.index(item) if item in bias else -1
                elif isinstance(item, bool) or isinstance(item, int):
                    code = int(item) - bias
                else:
                    code = -1
                if not 0 <= code < (1 << width):
                    raise ProtocolError("%s %r is out of range" % (name, item))
                raw |= code << shift
            put_uint(out, raw, _bytes_of(kind[1]), field[0])
            continue
        item = get_field(value, field[0])
        count = field[2] if len(field) > 2 else 0
        if count:
            if not isinstance(item, (list, tuple)) or len(item) != count:
                raise ProtocolError("%s needs a list of %d values" % (field[0], count))
            for one in item:
                _encode_field(out, kind, one, field[0])
        else:
            _encode_field(out, kind, item, field[0])


def fields_length(fields):
    """The bytes a unit or ERC record of these fields takes (all of fixed size)."""
    total = 0
    for field in layout(fields):
        total += _length(field[1]) * (field[2] if len(field) > 2 else 1)
    return total
