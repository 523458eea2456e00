"""Q/GDW 1376.1 appendix-A data formats ("format NN"): decode and encode, exactly.

Every format is BCD, least significant byte first. Numbers decode to exact integers in the
format's smallest unit (format 14 energy 123456.7890 kWh -> 1234567890; see DECIMALS) so energy
is never rounded through a float; signed formats keep the sign in the top bit of the most
significant byte. Times decode to tuples with the full year (2000 + YY).

A value whose bytes are all 0xEE means "no data" and decodes to None; None encodes back to all
0xEE. Some terminals pad a missing value only partly (captured AFN0C F34 replies carry
`00 EE EE EE EE`): since 0xEE is never a BCD byte, any 0xEE byte in a value means "no data" too.

API:
    decode(fmt, buf, pos=0) -> value or None       (ProtocolError(reason, offset) on bad BCD)
    encode(fmt, value) -> bytes                     (ProtocolError when it does not fit)
    encode_into(out, fmt, value)                    appends to a bytearray
    LENGTH[fmt] -> bytes on the wire;  DECIMALS[fmt] -> decimal places of a number format
    to_text(fmt, value) -> "220.1", "2018-08-28 16:18", "no data"

Formats and their Python values:
    1  ss mm hh DD (week<<5|MM) YY   (year, month, day, hour, minute, second, weekday 0..7)
    2  +/-XXX x 10^e (2 bytes)       (mantissa, exponent) e.g. (-123, 1) = -1230
    5  +/-XXX.X   (2)  int tenths        7  XXX.X (2)  int tenths
    9  +/-XX.XXXX (3)  int 1e-4          11 XXXXXX.XX (4)  int hundredths
    13 XXXX.XXXX  (4)  int 1e-4          14 XXXXXX.XXXX (5)  int 1e-4
    25 +/-XXX.XXX (3)  int thousandths
    15 mm hh DD MM YY  (year, month, day, hour, minute)
    20 DD MM YY        (year, month, day)
    21 MM YY           (year, month)
"""
from protocol import bcd
from protocol.errors import ProtocolError

# format -> (bytes, decimal places, signed) for the plain BCD numbers
_NUMBERS = {
    5: (2, 1, True),
    7: (2, 1, False),
    9: (3, 4, True),
    11: (4, 2, False),
    13: (4, 4, False),
    14: (5, 4, False),
    25: (3, 3, True),
}

LENGTH = {1: 6, 2: 2, 15: 5, 20: 3, 21: 2}
DECIMALS = {}
for _fmt in _NUMBERS:
    LENGTH[_fmt] = _NUMBERS[_fmt][0]
    DECIMALS[_fmt] = _NUMBERS[_fmt][1]

NO_DATA = 0xEE

# Date formats: the order of the BCD fields on the wire (least significant first), as indexes
# into the value tuple (year, month, day, hour, minute, second).
_DATE_FIELDS = {
    15: (4, 3, 2, 1, 0),
    20: (2, 1, 0),
    21: (1, 0),
}


def _check_room(fmt, buf, pos):
    length = LENGTH.get(fmt)
    if length is None:
        raise ProtocolError("data format %d is not supported" % fmt, pos)
    if pos < 0 or pos + length > len(buf):
        raise ProtocolError("format %02d value needs %d bytes, frame ends first" % (fmt, length),
                            len(buf))
    return length


# How many values so far carried 0xEE in only some of their bytes (non-standard padding):
# gw376.parse() compares it before and after to add a note to the frame.
partly_no_data = 0


def has_no_data(buf, pos, length):
    """True when the value at buf[pos:pos+length] carries a 0xEE byte (no data)."""
    global partly_no_data
    for i in range(pos, pos + length):
        if buf[i] == NO_DATA:
            for j in range(pos, pos + length):
                if buf[j] != NO_DATA:
                    partly_no_data += 1
                    break
            return True
    return False


def decode(fmt, buf, pos=0):
    """Decode one value of data format `fmt` at buf[pos]; None means "no data"."""
    length = _check_room(fmt, buf, pos)
    if has_no_data(buf, pos, length):
        return None
    spec = _NUMBERS.get(fmt)
    if spec is not None:
        return bcd.decode(buf, pos, length, spec[2])
    if fmt == 1:
        month_byte = buf[pos + 4]
        return (2000 + bcd.byte_value(buf[pos + 5], pos + 5),
                bcd.byte_value(month_byte & 0x1F, pos + 4),
                bcd.byte_value(buf[pos + 3], pos + 3),
                bcd.byte_value(buf[pos + 2], pos + 2),
                bcd.byte_value(buf[pos + 1], pos + 1),
                bcd.byte_value(buf[pos], pos),
                month_byte >> 5)
    if fmt == 2:
        high = buf[pos + 1]
        mantissa = bcd.byte_value(high & 0x0F, pos + 1) * 100 + bcd.byte_value(buf[pos], pos)
        if high & 0x10:
            mantissa = -mantissa
        return (mantissa, 4 - (high >> 5))
    order = _DATE_FIELDS[fmt]
    fields = [0, 0, 0, 0, 0]
    for i in range(length):
        fields[order[i]] = bcd.byte_value(buf[pos + i], pos + i)
    fields[0] += 2000
    return tuple(fields[:_DATE_WIDTH[fmt]])


_DATE_WIDTH = {15: 5, 20: 3, 21: 2}


def _year_byte(year):
    if not isinstance(year, int) or not 2000 <= year <= 2099:
        raise ProtocolError("year %r is outside 2000..2099" % (year,))
    return year - 2000


def _field(value, low, high, what):
    if not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError("%s %r is outside %d..%d" % (what, value, low, high))
    return value


def encode_into(out, fmt, value):
    """Append the wire bytes of `value` in data format `fmt` to the bytearray `out`."""
    length = LENGTH.get(fmt)
    if length is None:
        raise ProtocolError("data format %d is not supported" % fmt)
    if value is None:
        for _ in range(length):
            out.append(NO_DATA)
        return
    spec = _NUMBERS.get(fmt)
    if spec is not None:
        if not isinstance(value, int):
            raise ProtocolError("format %02d needs an int, not %r" % (fmt, value))
        out.extend(bcd.encode(value, length, spec[2]))
        return
    if not isinstance(value, tuple):
        raise ProtocolError("format %02d needs a tuple, not %r" % (fmt, value))
    if fmt == 1:
        if len(value) != 7:
            raise ProtocolError("format 01 needs (year, month, day, hour, minute, second, weekday)")
        year, month, day, hour, minute, second, week = value
        out.append(bcd.bcd_byte(_field(second, 0, 99, "second")))
        out.append(bcd.bcd_byte(_field(minute, 0, 99, "minute")))
        out.append(bcd.bcd_byte(_field(hour, 0, 99, "hour")))
        out.append(bcd.bcd_byte(_field(day, 0, 99, "day")))
        out.append(bcd.bcd_byte(_field(month, 0, 19, "month")) |
                   (_field(week, 0, 7, "weekday") << 5))
        out.append(bcd.bcd_byte(_year_byte(year)))
        return
    if fmt == 2:
        if len(value) != 2:
            raise ProtocolError("format 02 needs (mantissa, exponent)")
        mantissa, exponent = value
        _field(mantissa, -999, 999, "format 02 mantissa")
        code = 4 - _field(exponent, -3, 4, "format 02 exponent")
        magnitude = -mantissa if mantissa < 0 else mantissa
        out.append(bcd.bcd_byte(magnitude % 100))
        out.append((code << 5) | (0x10 if mantissa < 0 else 0) | (magnitude // 100))
        return
    width = _DATE_WIDTH[fmt]
    if len(value) != width:
        raise ProtocolError("format %02d needs a %d-tuple starting with the year" % (fmt, width))
    order = _DATE_FIELDS[fmt]
    for i in range(length):
        index = order[i]
        if index == 0:
            out.append(bcd.bcd_byte(_year_byte(value[0])))
        else:
            out.append(bcd.bcd_byte(_field(value[index], 0, 99, "date field")))


def encode(fmt, value):
    """`value` in data format `fmt` -> bytes (None -> all 0xEE)."""
    out = bytearray()
    encode_into(out, fmt, value)
    return bytes(out)


def to_text(fmt, value):
    """A human-readable rendering of a decoded value ("no data" for None)."""
    if value is None:
        return "no data"
    places = DECIMALS.get(fmt)
    if places is not None:
        sign = "-" if value < 0 else ""
        magnitude = -value if value < 0 else value
        unit = 10 ** places
        return "%s%d.%0*d" % (sign, magnitude // unit, places, magnitude % unit)
    if fmt == 2:
        return "%de%d" % value
    if fmt == 1:
        return "%04d-%02d-%02d %02d:%02d:%02d w%d" % value
    if fmt == 15:
        return "%04d-%02d-%02d %02d:%02d" % value
    if fmt == 20:
        return "%04d-%02d-%02d" % value
    return "%04d-%02d" % value
