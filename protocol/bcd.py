"""Packed BCD as both meter protocols send it: least significant byte first.

DL/T 645 and Q/GDW 1376.1 carry every value as BCD digits, two per byte, with the least
significant byte first; signed formats keep the sign in the top bit of the most significant
byte. Values stay exact integers here: a decimal scale is applied by whoever knows the format.
"""
from protocol.clock_math import packed_bcd
from protocol.errors import ProtocolError


def is_decimal(text):
    """True for a non-empty run of ASCII 0-9: decimal digits as the protocols write them.
    CPython's str.isdigit() also takes Unicode digits such as '\u00b2', which int() then
    refuses: input checked with it could crash instead of getting its clear error."""
    if not text:
        return False
    for ch in text:
        if not "0" <= ch <= "9":
            return False
    return True


def bcd_byte(value):
    """0..99 -> one BCD byte."""
    if not 0 <= value <= 99:
        raise ProtocolError("%d does not fit one BCD byte" % value)
    return packed_bcd(value)


def byte_value(byte, offset=None):
    """One BCD byte -> 0..99; a nibble above 9 is a ProtocolError at `offset`."""
    high = byte >> 4
    low = byte & 0x0F
    if high > 9 or low > 9:
        raise ProtocolError("0x%02X is not a BCD byte" % byte, offset)
    return high * 10 + low


def decode(buf, start=0, length=None, signed=False):
    """Read `length` BCD bytes (LSB first) from buf[start:]; return an int.

    With `signed`, bit 7 of the last (most significant) byte is the sign and is not a digit.
    """
    if length is None:
        length = len(buf) - start
    if start + length > len(buf):
        raise ProtocolError("BCD value runs past the end of the data", len(buf))
    value = 0
    negative = False
    for i in range(start + length - 1, start - 1, -1):
        byte = buf[i]
        if signed and i == start + length - 1:
            negative = bool(byte & 0x80)
            byte &= 0x7F
        value = value * 100 + byte_value(byte, i)
    return -value if negative else value


def encode(value, length, signed=False):
    """int -> `length` BCD bytes, LSB first (sign in bit 7 of the last byte when `signed`)."""
    negative = value < 0
    if negative and not signed:
        raise ProtocolError("negative value %d in an unsigned BCD field" % value)
    magnitude = -value if negative else value
    out = bytearray(length)
    for i in range(length):
        out[i] = bcd_byte(magnitude % 100)
        magnitude //= 100
    if magnitude or (signed and out[length - 1] & 0x80):
        raise ProtocolError("%d does not fit %d BCD bytes" % (value, length))
    if negative:
        out[length - 1] |= 0x80
    return bytes(out)


def is_no_data(buf, start=0, length=None):
    """True when every byte is 0xEE: 1376.1's (and many meters') "no data" marker."""
    if length is None:
        length = len(buf) - start
    for i in range(start, start + length):
        if buf[i] != 0xEE:
            return False
    return length > 0
