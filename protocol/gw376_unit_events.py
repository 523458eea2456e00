"""Q/GDW 1376.1 event data units: AFN0E F1/F2 replies and their event records (ERC), also read
back from the ring log; protocol/gw376_units.py loads this module for those units only (the
values are described there)."""
from protocol import gw376_dadt as dadt
from protocol import gw376_formats as formats
from protocol import gw376_fields as fields
from protocol.errors import ProtocolError

# Event records (ERC): fixed fields; ERC3 is variable (a list of changed DA/DT) and coded apart.
# Layouts: Q/GDW 1376.1-2013 appendix (event record formats), cross-checked against the field
# structures of a public C implementation of the protocol (qgdw3761api). The measuring point
# is point:u16[pn=0/12,start=15/1] (D15 1 = occurred).
ERC_FIELDS = {
    1: "time:15 flags:u8 old_version:a4 new_version:a4",
    2: "time:15 flags:u8",
    5: "time:15 rounds:u8 power_at_trip:2 power_after_2min:2",
    12: "time:15 point:u16[pn=0/12,start=15/1]",
    13: "time:15 point:u16[pn=0/12,start=15/1] flags:u8",
    14: "power_off:15 power_on:15",
    20: "time:15 pw:b16 master:u8",
    21: "time:15 fault:u8",
    27: "time:15 point:u16[pn=0/12,start=15/1] before:14 after:14",
    30: "time:15 point:u16[pn=0/12,start=15/1] forward_active:14 limit:u8",
    31: "time:15 point:u16[pn=0/12,start=15/1] last_read_time:15 forward_active:14 "
        "forward_reactive:11",
    33: "time:15 point:u16[pn=0/12,start=15/1] changed:u16*7 status:u16*7",
}


def decode_events(buf, pos, end):
    fields.need(pos, 4, end)
    result = {"ec_important": buf[pos], "ec_normal": buf[pos + 1], "pm": buf[pos + 2],
              "pn": buf[pos + 3]}
    pos += 4
    records = []
    for _ in range((result["pn"] - result["pm"]) & 0xFF):
        fields.need(pos, 2, end)
        erc = buf[pos]
        size = buf[pos + 1]
        pos += 2
        fields.need(pos, size, end)
        records.append(decode_record(erc, buf, pos, size))
        pos += size
    result["records"] = records
    return result, pos


def decode_record(erc, buf, pos, size):
    """The fields of one event record (ERC `erc`, `size` bytes at buf[pos:]): an AFN0E record,
    or the same bytes kept in a ring log. Unknown layouts come back as {"erc", "raw"}."""
    layout = ERC_FIELDS.get(erc)
    if layout is not None and size == fields.fields_length(layout):
        record, _ = fields.decode_fields(layout, buf, pos, pos + size, {"erc": erc})
        return record
    if erc == 3 and size >= 6 and (size - 6) % 4 == 0:
        record = {"erc": 3, "time": formats.decode(15, buf, pos), "master": buf[pos + 5],
                  "units": []}
        for at in range(pos + 6, pos + size, 4):
            for pn in dadt.expand_da(buf[at], buf[at + 1], at):
                for fn in dadt.expand_dt(buf[at + 2], buf[at + 3], at + 2):
                    record["units"].append((pn, fn))
        return record
    return {"erc": erc, "raw": bytes(buf[pos:pos + size])}


def _encode_record(out, record):
    erc = fields.get_field(record, "erc")
    fields.put_uint(out, erc, 1, "ERC")
    body = bytearray()
    if "raw" in record:
        body.extend(record["raw"])
    elif erc == 3:
        from protocol import gw376_unit_ids as ids
        formats.encode_into(body, 15, fields.get_field(record, "time"))
        fields.put_uint(body, fields.get_field(record, "master"), 1, "master")
        ids.encode_unit_ids(
            body, [(pn, fn, None) for pn, fn in ids.listed(fields.get_field(record, "units"), 2)],
            False)
    elif erc in ERC_FIELDS:
        fields.encode_fields(body, ERC_FIELDS[erc], record)
    else:
        raise ProtocolError("ERC%d has no field codec: give its bytes as 'raw'" % erc)
    fields.put_uint(out, len(body), 1, "record length")
    out.extend(body)


def encode_events(out, value):
    """`records`: a list of records (dicts as decode_record gives them), or their wire bytes
    already joined (ERC, length, data for each), as a terminal copies them out of its ring log
    without making an object per record."""
    records = fields.get_field(value, "records")
    pm, pn = fields.get_field(value, "pm"), fields.get_field(value, "pn")
    wire = isinstance(records, (bytes, bytearray))
    count = _wire_count(records) if wire else len(records)
    if not isinstance(pm, int) or not isinstance(pn, int) or (pn - pm) & 0xFF != count:
        raise ProtocolError("pm..pn (%r..%r) must span the %d records" % (pm, pn, count))
    for name in ("ec_important", "ec_normal", "pm", "pn"):
        fields.put_uint(out, fields.get_field(value, name), 1, name)
    if wire:
        out.extend(records)
        return
    for record in records:
        _encode_record(out, record)


def _wire_count(raw):
    """Records in joined wire bytes; ProtocolError when the last one is cut short."""
    count = 0
    pos = 0
    while pos < len(raw):
        fields.need(pos, 2, len(raw))
        pos += 2 + raw[pos + 1]
        count += 1
    if pos != len(raw):
        raise ProtocolError("the last event record is cut short")
    return count
