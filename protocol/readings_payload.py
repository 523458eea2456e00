"""The payload of a READINGS record (firmware/log_records.py packs it on the board; the station
reads it from uploads, protocol/gw376_upload.py): for each item varint(item_id * 2 + no_data),
then, unless no_data, varint(zigzag(value)).

    unpack_readings(payload) -> [(item_id, value or None)]

One decoder for both, so board and station can never disagree; a module of its own so the board
loads this alone, not the upload format around it.
"""
from protocol.errors import ProtocolError


def _varint(payload, at):
    value = 0
    shift = 0
    while True:
        if at >= len(payload):
            raise ProtocolError("reading batch truncated", at)
        b = payload[at]
        value |= (b & 0x7F) << shift
        at += 1
        if b < 0x80:
            return value, at
        shift += 7


def unpack_readings(payload):
    out = []
    at = 0
    while at < len(payload):
        key, at = _varint(payload, at)
        if key & 1:
            out.append((key >> 1, None))
            continue
        z, at = _varint(payload, at)
        out.append((key >> 1, -((z + 1) >> 1) if z & 1 else z >> 1))
    return out
