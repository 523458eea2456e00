"""Q/GDW 1376.1 AFN10 F1 data forwarding units: the request's port and timeouts, or the reply's
port, then a 2-byte length and the forwarded bytes (protocol/gw376_units.py loads this module
for those units only; the values are described there)."""
from protocol import gw376_fields as fields

FORWARD_DOWN = ("port:u8 control:u8 timeout:u8[frame_timeout_in_s=7/1,frame_timeout=0/7] "
                "byte_timeout_10ms:u8")
_PORT = "port:u8"


def _decode(head, buf, pos, end):
    result, pos = fields.decode_fields(head, buf, pos, end)
    fields.need(pos, 2, end)
    count = fields.read_uint(buf, pos, 2)
    pos += 2
    fields.need(pos, count, end)
    result["data"] = bytes(buf[pos:pos + count])
    return result, pos + count


def _encode(out, head, value):
    fields.encode_fields(out, head, value)
    data = fields.get_field(value, "data")
    fields.put_uint(out, len(data), 2, "forwarded length")
    out.extend(data)


def decode_down(buf, pos, end):
    return _decode(FORWARD_DOWN, buf, pos, end)


def encode_down(out, value):
    _encode(out, FORWARD_DOWN, value)


def decode_up(buf, pos, end):
    return _decode(_PORT, buf, pos, end)


def encode_up(out, value):
    _encode(out, _PORT, value)
