"""Q/GDW 1376.1 AFN10 F1 data forwarding units: the request's port and timeouts, or the reply's
port, then a 2-byte length and the forwarded bytes (protocol/gw376_units.py loads this module
for those units only; the values are described there)."""
from protocol import gw376_units as units

_PORT = "port:u8"


def _decode(fields, buf, pos, end):
    result, pos = units.decode_fields(fields, buf, pos, end)
    units.need(pos, 2, end)
    count = units.read_uint(buf, pos, 2)
    pos += 2
    units.need(pos, count, end)
    result["data"] = bytes(buf[pos:pos + count])
    return result, pos + count


def _encode(out, fields, value):
    units.encode_fields(out, fields, value)
    data = units.get_field(value, "data")
    units.put_uint(out, len(data), 2, "forwarded length")
    out.extend(data)


def decode_down(buf, pos, end):
    return _decode(units.FORWARD_DOWN, buf, pos, end)


def encode_down(out, value):
    _encode(out, units.FORWARD_DOWN, value)


def decode_up(buf, pos, end):
    return _decode(_PORT, buf, pos, end)


def encode_up(out, value):
    _encode(out, _PORT, value)
