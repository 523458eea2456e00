"""The concentrator's store-and-forward uploads as the master station reads them.

Uploads are uplink user data (C = C4, CON set) whose last data unit is the vendor unit F241
"ring-log records" on p0 (DA 00 00, DT 01 1E). It gives every record its identity, the
sequence number the concentrator's ring log gave it (dense, increasing, never reused):

    first   u32 LE   sequence of the first record the frame carries
    count   u8       records carried: first .. first + count - 1
    then, in AFN0D frames only, count records:
        type u8 (1 readings, 2 event, 3 marker) | point u16 LE | time u32 LE (seconds since
        2000-01-01, terminal local time) | length u8 | payload (length bytes)

In AFN0E frames (important events reported actively, ACD and EC set) F241 follows the
standard AFN0E F1 unit with count 1 and no record bytes: the event record is the F1 unit.

Payloads (the concentrator's ring-log encodings, docs/ringlog.md and firmware/log_records.py):
readings = for each item varint(item_id * 2 + no_data) then, unless no_data,
varint(zigzag(value)), decoded by protocol/readings_payload.py; item_id = kind * 64 + quantity
(firmware/quantities.py); event = ERC then the record's AFN0E bytes; marker = code then data.

    identity = decode(afn, raw)           # raw: the F241 unit's bytes (Unknown(raw).raw)
    -> {"first", "count", "records": [(seq, type, point, time, payload)]}
    upload_identity(frame) -> the decode() result for a parsed frame, or None
"""
from protocol.errors import ProtocolError

FN_RECORDS = 241
READINGS = 1
EVENT = 2
MARKER = 3


def decode(afn, raw):
    if len(raw) < 5:
        raise ProtocolError("F241 needs 5 bytes (first, count), got %d" % len(raw))
    first = raw[0] | raw[1] << 8 | raw[2] << 16 | raw[3] << 24
    count = raw[4]
    records = []
    if afn == 0x0D:
        pos = 5
        for i in range(count):
            if pos + 8 > len(raw):
                raise ProtocolError("F241 record %d is cut short" % i, pos)
            size = raw[pos + 7]
            if pos + 8 + size > len(raw):
                raise ProtocolError("F241 record %d payload is cut short" % i, pos)
            records.append((first + i, raw[pos], raw[pos + 1] | raw[pos + 2] << 8,
                            raw[pos + 3] | raw[pos + 4] << 8 | raw[pos + 5] << 16 |
                            raw[pos + 6] << 24, bytes(raw[pos + 8:pos + 8 + size])))
            pos += 8 + size
        if pos != len(raw):
            raise ProtocolError("%d bytes after the last F241 record" % (len(raw) - pos), pos)
    elif len(raw) != 5:
        raise ProtocolError("F241 in AFN%02X carries no records" % afn)
    return {"first": first, "count": count, "records": records}


def upload_identity(frame):
    """The F241 identity of a parsed upload frame, or None when it has none."""
    if not frame.units:
        return None
    pn, fn, value = frame.units[-1]
    if pn != 0 or fn != FN_RECORDS or not hasattr(value, "raw"):
        return None
    return decode(frame.afn, value.raw)
