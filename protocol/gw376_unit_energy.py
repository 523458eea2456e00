"""Q/GDW 1376.1 energy and curve data units: AFN0C F33/F34/F129..F136 and the AFN0D frozen
energy and curve replies (protocol/gw376_units.py loads this module for those units only; the
values are described there)."""
from protocol import gw376_formats as formats
from protocol import gw376_units as units
from protocol.errors import ProtocolError


def decode_energy(td_format, blocks, buf, pos, end):
    result = {}
    if td_format:
        size = formats.LENGTH[td_format]
        units.need(pos, size, end)
        result["td"] = formats.decode(td_format, buf, pos)
        pos += size
    units.need(pos, 6, end)
    result["read_time"] = formats.decode(15, buf, pos)
    tariffs = buf[pos + 5]
    result["tariffs"] = tariffs
    pos += 6
    for name, fmt in units.layout(blocks):
        size = formats.LENGTH[fmt]
        units.need(pos, size * (tariffs + 1), end)
        values = []
        for _ in range(tariffs + 1):
            values.append(formats.decode(fmt, buf, pos))
            pos += size
        result[name] = values
    return result, pos


def encode_energy(out, td_format, blocks, value):
    if td_format:
        formats.encode_into(out, td_format, units.get_field(value, "td"))
    formats.encode_into(out, 15, units.get_field(value, "read_time"))
    tariffs = units.get_field(value, "tariffs")
    units.put_uint(out, tariffs, 1, "tariffs")
    for name, fmt in units.layout(blocks):
        values = units.get_field(value, name)
        if not isinstance(values, (list, tuple)) or len(values) != tariffs + 1:
            raise ProtocolError("%s needs tariffs + 1 = %d values" % (name, tariffs + 1))
        for one in values:
            formats.encode_into(out, fmt, one)


def decode_curve(fmt, buf, pos, end):
    """Td_c then `points` values of data format `fmt`."""
    value, pos = units.decode_fields(units.CURVE_TD, buf, pos, end)
    value["values"] = []
    if value["points"]:
        return units.decode_fields((("values", fmt, value["points"]),), buf, pos, end, value)
    return value, pos


def encode_curve(out, fmt, value):
    units.encode_fields(out, units.CURVE_TD, value)
    if value["points"] or value["values"]:
        units.encode_fields(out, (("values", fmt, value["points"]),), value)
