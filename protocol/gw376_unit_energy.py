"""Q/GDW 1376.1 energy and curve data units: AFN0C F33/F34/F129..F136 and the AFN0D frozen
energy and curve replies (protocol/gw376_units.py loads this module for those units only; the
values are described there)."""
from protocol import gw376_formats as formats
from protocol import gw376_fields as fields
from protocol.errors import ProtocolError

# Td_c, the time label of a curve: its first point's time, the density code and the number of
# points; a curve request (AFN0D down) carries it alone, a reply has it before its values.
CURVE_TD = "start:15 density:u8 points:u8"


def decode_energy(td_format, blocks, buf, pos, end):
    result = {}
    if td_format:
        size = formats.LENGTH[td_format]
        fields.need(pos, size, end)
        result["td"] = formats.decode(td_format, buf, pos)
        pos += size
    fields.need(pos, 6, end)
    result["read_time"] = formats.decode(15, buf, pos)
    tariffs = buf[pos + 5]
    result["tariffs"] = tariffs
    pos += 6
    for name, fmt in fields.layout(blocks):
        size = formats.LENGTH[fmt]
        fields.need(pos, size * (tariffs + 1), end)
        values = []
        for _ in range(tariffs + 1):
            values.append(formats.decode(fmt, buf, pos))
            pos += size
        result[name] = values
    return result, pos


def encode_energy(out, td_format, blocks, value):
    if td_format:
        formats.encode_into(out, td_format, fields.get_field(value, "td"))
    formats.encode_into(out, 15, fields.get_field(value, "read_time"))
    tariffs = fields.get_field(value, "tariffs")
    fields.put_uint(out, tariffs, 1, "tariffs")
    for name, fmt in fields.layout(blocks):
        values = fields.get_field(value, name)
        if not isinstance(values, (list, tuple)) or len(values) != tariffs + 1:
            raise ProtocolError("%s needs tariffs + 1 = %d values" % (name, tariffs + 1))
        for one in values:
            formats.encode_into(out, fmt, one)


def decode_curve(fmt, buf, pos, end):
    """Td_c then `points` values of data format `fmt`."""
    value, pos = fields.decode_fields(CURVE_TD, buf, pos, end)
    value["values"] = []
    if value["points"]:
        return fields.decode_fields((("values", fmt, value["points"]),), buf, pos, end, value)
    return value, pos


def encode_curve(out, fmt, value):
    fields.encode_fields(out, CURVE_TD, value)
    if value["points"] or value["values"]:
        fields.encode_fields(out, (("values", fmt, value["points"]),), value)
