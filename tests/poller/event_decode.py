"""Decode the poller's event records (firmware/events.py) into dicts, for the tests.

Runs on both interpreters. The uplink never decodes them: it copies the bytes into AFN0E.
"""
from firmware import events as ev


def decode(erc, data):
    """A dict of an event's data."""
    def t15(at):
        if data[at] == 0xEE:
            return None
        v = [(x >> 4) * 10 + (x & 15) for x in data[at:at + 5]]
        return (2000 + v[4], v[3], v[2], v[1], v[0])

    def bcd_le(at, size):
        if data[at] == 0xEE:
            return None
        value = 0
        for i in range(size - 1, -1, -1):
            x = data[at + i]
            value = value * 100 + (x >> 4) * 10 + (x & 15)
        return value

    out = {"erc": erc, "time": t15(0), "point": data[5] | (data[6] & 0x0F) << 8,
           "start": bool(data[6] & 0x80)}
    if erc == ev.ERC31:
        out["last_read_time"] = t15(7)
        out["forward_active"] = bcd_le(12, 5)
    elif erc == ev.ERC27:
        out["before"] = bcd_le(7, 5)
        out["after"] = bcd_le(12, 5)
    elif erc == ev.ERC33:          # flags ST1..ST7 at 7, words ST1..ST7 at 21 (2 bytes each)
        out["change3"] = data[11] | data[12] << 8
        out["status3"] = data[25] | data[26] << 8
        out["other_words"] = bytes(data[7:11] + data[13:25] + data[27:35])
    return out
