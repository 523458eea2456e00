"""Q/GDW 1376.1 data units that carry lists of data unit identifiers (DA DT): the AFN00 F3
confirm/deny list and the AFN04/0A F65/F66 report tasks (protocol/gw376_units.py loads this
module for those units only; the layouts and values are described there)."""
from protocol import gw376_dadt as dadt
from protocol import gw376_fields as fields
from protocol.errors import ProtocolError

# AFN04/0A F65, F66 (Pn = task number): timed active reporting of class 1 / class 2 data.
# Layout (Q/GDW 1376.1-2013; field names as in the public qgdw3761api header and a public
# 376.1 frame decoder): D7..D6 period unit (0 minute, 1 hour, 2 day, 3 month) + D5..D0 period,
# base time (format 01), curve extraction ratio R, n, then n DA DT data unit identifiers.
REPORT_TASK = "cycle:u8[unit=6/2,period=0/6] base:1 ratio:u8"


def encode_unit_ids(out, items, with_value):
    """DA DT [value] for [(pn, fn, value)]: runs of equal values share multi-bit blocks."""
    start = 0
    while start < len(items):
        stop = start + 1
        while with_value and stop < len(items) and items[stop][2] == items[start][2]:
            stop += 1
        if not with_value:
            stop = len(items)
        for pns, fns, _ in dadt.group_units(items[start:stop]):
            dadt.append_dadt(out, pns, fns)
            if with_value:
                fields.put_uint(out, items[start][2], 1, "err")
        start = stop


def listed(items, width):
    """`items` as a list of tuples of `width` parts, or a ProtocolError."""
    if not isinstance(items, (list, tuple)):
        raise ProtocolError("expected a list, got %r" % (items,))
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != width:
            raise ProtocolError("list item %r needs %d parts" % (item, width))
    return [tuple(item) for item in items]


def decode_confirm_list(buf, pos, end):
    fields.need(pos, 1, end)
    result = {"afn": buf[pos], "items": []}
    pos += 1
    if (end - pos) % 5:
        raise ProtocolError("AFN00 F3 items are 5 bytes each (DA DT err)", pos)
    while pos < end:
        err = buf[pos + 4]
        for pn in dadt.expand_da(buf[pos], buf[pos + 1], pos):
            for fn in dadt.expand_dt(buf[pos + 2], buf[pos + 3], pos + 2):
                result["items"].append((pn, fn, err))
        pos += 5
    return result, pos


def encode_confirm_list(out, value):
    fields.put_uint(out, fields.get_field(value, "afn"), 1, "afn")
    encode_unit_ids(out, listed(fields.get_field(value, "items"), 3), True)


def decode_report_task(buf, pos, end):
    task, pos = fields.decode_fields(REPORT_TASK, buf, pos, end)
    fields.need(pos, 1, end)
    count = buf[pos]
    pos += 1
    fields.need(pos, 4 * count, end)
    found = []
    for _ in range(count):
        for pn in dadt.expand_da(buf[pos], buf[pos + 1], pos):
            for fn in dadt.expand_dt(buf[pos + 2], buf[pos + 3], pos + 2):
                found.append((pn, fn))
        pos += 4
    task["units"] = found
    return task, pos


def encode_report_task(out, value):
    fields.encode_fields(out, REPORT_TASK, value)
    found = listed(fields.get_field(value, "units"), 2)
    fields.put_uint(out, len(found), 1, "data unit count")
    for pn, fn in found:            # one DA DT each: what every master can read
        da1, da2 = dadt.da_bytes(pn)
        dt1, dt2 = dadt.dt_bytes(fn)
        out.append(da1)
        out.append(da2)
        out.append(dt1)
        out.append(dt2)
