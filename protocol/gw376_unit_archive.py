"""Q/GDW 1376.1 meter archive data units: AFN04/0A F10 (the archive's entries) and the AFN0A F10
query (the serials asked for); protocol/gw376_units.py loads this module for those units only
(the values are described there)."""
from protocol import gw376_fields as fields

METER_ARCHIVE_ENTRY = (                            # AFN04/0A F10, 27 bytes each
    "serial:u16 point:u16 line:u8[baud=5/3@baud,port=0/5] protocol:u8 address:addr "
    "password:b6 tariff_byte:u8[tariffs=0/6] digits:u8[integer_digits=2/2+4,decimal_digits=0/2+1] "
    "collector:addr class:u8[user_class=4/4,user_subclass=0/4]")
_ENTRY_BYTES = 27


def _count(buf, pos, end, item_bytes):
    """(n, position after it) of the 2-byte count that starts both lists, once the n items of
    `item_bytes` each are known to lie before `end`."""
    fields.need(pos, 2, end)
    count = fields.read_uint(buf, pos, 2)
    fields.need(pos + 2, item_bytes * count, end)
    return count, pos + 2


def decode_archive(buf, pos, end):
    count, pos = _count(buf, pos, end, _ENTRY_BYTES)
    meters = []
    entry = fields.layout(METER_ARCHIVE_ENTRY)
    for _ in range(count):
        meter, pos = fields.decode_fields(entry, buf, pos, end)
        meters.append(meter)
    return {"meters": meters}, pos


def encode_archive(out, value):
    meters = fields.get_field(value, "meters")
    fields.put_uint(out, len(meters), 2, "meter count")
    entry = fields.layout(METER_ARCHIVE_ENTRY)
    for meter in meters:
        fields.encode_fields(out, entry, meter)


def decode_serials(buf, pos, end):
    count, pos = _count(buf, pos, end, 2)
    serials = []
    for _ in range(count):
        serials.append(fields.read_uint(buf, pos, 2))
        pos += 2
    return {"serials": serials}, pos


def encode_serials(out, value):
    serials = fields.get_field(value, "serials")
    fields.put_uint(out, len(serials), 2, "serial count")
    for serial in serials:
        fields.put_uint(out, serial, 2, "serial")
