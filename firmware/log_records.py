"""Payload encodings of the ring log's data records: reading batches, events, markers.

The record header (firmware/ringlog.py, docs/ringlog.md) already carries the type, sequence,
measuring point and timestamp, so a payload holds only what differs:

READINGS  one batch of one measuring point at one time: for each item
          varint(item_id * 2 + no_data) then, unless no_data, varint(zigzag(value)).
          item_id is the poller's item number (< 64 keeps the key in one byte); value is the
          exact integer the meter sent in its smallest unit (0.01 kWh, 0.1 V, ...), any sign.
EVENT     ERC code (1 byte, Q/GDW 1376.1 numbering) then the event's data bytes.
MARKER    marker code (1 byte, MARK_*) then free data bytes.

    end = pack_readings(buf, at, items, values, count)        # -> end offset in buf
    seq = append_readings(log, point, timestamp, items, values, count=None)   # no allocation
    seq = append_event(log, point, timestamp, erc, data=b"")
    seq = append_marker(log, timestamp, code, data=b"", point=0)
    unpack_readings(payload) -> [(item_id, value or None), ...]
    unpack_event(payload) -> (erc, data); unpack_marker(payload) -> (code, data)
`values[i] is None` stores "no data" (the meter answered all 0xEE).
"""
from firmware.ringlog import EVENT, MARKER, MAX_PAYLOAD, PAYLOAD, READINGS
from protocol.compat import const

MARK_BOOT = const(1)         # the firmware started (data: version text)
MARK_CLOCK_SET = const(2)    # the clock was set (data: old time, u32 LE)
MARK_FORMAT = const(3)       # the log was formatted

_ROOM = const(12)    # most bytes one item takes on the fast path (2 key + 9 value + spare)


def pack_readings(buf, at, items, values, count=None):
    """Encode count (default len(items)) readings into buf from offset at; return the end.
    Allocation-free for values that fit a small int (|value| < 2**62 on a 64-bit port, 2**29
    on a 32-bit one); exact for any int."""
    if count is None:
        count = len(items)
    if at + count * _ROOM > len(buf):      # might not fit: the careful path checks each byte
        return _pack_tail(buf, at, items, values, 0, count)
    for i in range(count):
        item = items[i]
        value = values[i]
        key = item << 1
        if value is None:
            key |= 1
        if 0 <= key < 0x80:
            buf[at] = key
            at += 1
        elif 0x80 <= key < 0x4000:
            buf[at] = (key & 0x7F) | 0x80
            buf[at + 1] = key >> 7
            at += 2
        else:                # item ids >= 8192 (3-byte keys) or out of range
            return _pack_tail(buf, at, items, values, i, count)
        if value is None:
            continue
        z = (value << 1) ^ (value >> 63)
        if z >> 63:          # |value| >= 2**62: zig-zag by arithmetic, checked per byte
            return _pack_tail(buf, at - (1 if key < 0x80 else 2), items, values, i, count)
        # unrolled for the common sizes: this loop is most of the append path's time
        if z < 0x80:
            buf[at] = z
            at += 1
        elif z < 0x4000:
            buf[at] = (z & 0x7F) | 0x80
            buf[at + 1] = z >> 7
            at += 2
        elif z < 0x200000:
            buf[at] = (z & 0x7F) | 0x80
            buf[at + 1] = ((z >> 7) & 0x7F) | 0x80
            buf[at + 2] = z >> 14
            at += 3
        elif z < 0x10000000:
            buf[at] = (z & 0x7F) | 0x80
            buf[at + 1] = ((z >> 7) & 0x7F) | 0x80
            buf[at + 2] = ((z >> 14) & 0x7F) | 0x80
            buf[at + 3] = z >> 21
            at += 4
        else:
            while z >= 0x80:
                buf[at] = (z & 0x7F) | 0x80
                z >>= 7
                at += 1
            buf[at] = z
            at += 1
    return at


def _put_varint(buf, at, number, limit):
    while True:
        if at >= limit:
            raise ValueError("reading batch does not fit one record")
        if number < 0x80:
            buf[at] = number
            return at + 1
        buf[at] = (number & 0x7F) | 0x80
        number >>= 7
        at += 1


def _pack_tail(buf, at, items, values, first, count):
    """The careful path: near the end of buf, or for huge values."""
    limit = len(buf)
    for i in range(first, count):
        item = items[i]
        value = values[i]
        if not 0 <= item <= 0x3FFF:
            raise ValueError("item id %r out of 0..16383" % (item,))
        at = _put_varint(buf, at, item * 2 + (1 if value is None else 0), limit)
        if value is not None:
            at = _put_varint(buf, at, value * 2 if value >= 0 else -value * 2 - 1, limit)
    return at


def unpack_readings(payload):
    """[(item_id, value or None), ...] from a READINGS payload; ProtocolError if truncated.

    The decoder is the one the station reads uploads with (protocol/readings_payload.py), so
    board and station can never disagree; it is imported only when a batch is unpacked.
    """
    from protocol.readings_payload import unpack_readings as unpack
    return unpack(payload)


def append_readings(log, point, timestamp, items, values, count=None):
    """Encode a batch straight into the log's stage and commit it; returns its sequence."""
    end = pack_readings(log.stage, PAYLOAD, items, values, count)
    return log.commit(READINGS, point, timestamp, end - PAYLOAD)


def _check_data(data):
    if len(data) > MAX_PAYLOAD - 1:
        raise ValueError("event/marker data of %d bytes exceeds %d" % (len(data), MAX_PAYLOAD - 1))


def append_event(log, point, timestamp, erc, data=b""):
    if not 0 <= erc <= 255:
        raise ValueError("ERC must be 0..255")
    _check_data(data)
    stage = log.stage
    stage[PAYLOAD] = erc
    stage[PAYLOAD + 1:PAYLOAD + 1 + len(data)] = data
    return log.commit(EVENT, point, timestamp, 1 + len(data))


def append_marker(log, timestamp, code, data=b"", point=0):
    if not 0 <= code <= 255:
        raise ValueError("marker code must be 0..255")
    _check_data(data)
    stage = log.stage
    stage[PAYLOAD] = code
    stage[PAYLOAD + 1:PAYLOAD + 1 + len(data)] = data
    return log.commit(MARKER, point, timestamp, 1 + len(data))


def unpack_event(payload):
    return payload[0], bytes(payload[1:])


def unpack_marker(payload):
    return payload[0], bytes(payload[1:])
