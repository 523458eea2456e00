"""Q/GDW 1376.1 meter archive data units: AFN04/0A F10 (the archive's entries) and the AFN0A F10
query (the serials asked for); protocol/gw376_units.py loads this module for those units only
(the values are described there)."""
from protocol import gw376_units as units


def decode_archive(buf, pos, end):
    units.need(pos, 2, end)
    count = units.read_uint(buf, pos, 2)
    pos += 2
    units.need(pos, 27 * count, end)
    meters = []
    entry = units.layout(units.METER_ARCHIVE_ENTRY)
    for _ in range(count):
        meter, pos = units.decode_fields(entry, buf, pos, end)
        meters.append(meter)
    return {"meters": meters}, pos


def encode_archive(out, value):
    meters = units.get_field(value, "meters")
    units.put_uint(out, len(meters), 2, "meter count")
    entry = units.layout(units.METER_ARCHIVE_ENTRY)
    for meter in meters:
        units.encode_fields(out, entry, meter)


def decode_serials(buf, pos, end):
    units.need(pos, 2, end)
    count = units.read_uint(buf, pos, 2)
    pos += 2
    units.need(pos, 2 * count, end)
    serials = []
    for _ in range(count):
        serials.append(units.read_uint(buf, pos, 2))
        pos += 2
    return {"serials": serials}, pos


def encode_serials(out, value):
    serials = units.get_field(value, "serials")
    units.put_uint(out, len(serials), 2, "serial count")
    for serial in serials:
        units.put_uint(out, serial, 2, "serial")
