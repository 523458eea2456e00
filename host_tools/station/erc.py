"""Terminal events (ERC): their names, and decoded AFN0E records turned into Events to store.

    events_from_unit(terminal_id, unit, important)   a decoded AFN0E F1 (important=True) or
                                                     F2 (important=False) reply -> [Event]

Each Event keeps the record's bytes as the terminal sent them (re-encoded by protocol.gw376_units,
which round-trips every record exactly), its time (`time`, or `power_off` for ERC 14), the
measuring point it names, the event pointer it was read at, and the decoded fields as JSON in
`detail`. Reading the same record again stores it once (see ingest.store_events).
"""
import binascii
import json

from protocol import gw376_units

from host_tools.station.records import Event

# Event codes the concentrator reports (Q/GDW 1376.1 appendix; PROTOCOLS.md).
ERC_NAMES = {
    1: "initialisation / version change",
    2: "parameter lost",
    3: "parameter change",
    5: "remote trip",
    12: "meter clock deviation",
    13: "meter fault",
    14: "terminal power off/on",
    20: "message authentication error",
    21: "terminal fault",
    27: "meter reading decreased",
    30: "meter stopped",
    31: "RS-485 reading failure",
    33: "meter status word change",
    35: "unknown meter found",
}


def erc_name(erc):
    return ERC_NAMES.get(erc, "ERC%d" % erc)


def record_bytes(record):
    """The bytes after ERC and Le of one decoded record, as the terminal sent them."""
    unit = {"ec_important": 0, "ec_normal": 0, "pm": 0, "pn": 1, "records": [record]}
    return gw376_units.encode(0x0E, 1, 1, unit)[6:]


def _jsonable(value):
    if isinstance(value, (bytes, bytearray)):
        return binascii.hexlify(value).decode()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def events_from_unit(terminal_id, unit, important):
    """Events for the records of a decoded AFN0E F1/F2 reply (pointers pm, pm+1, ...)."""
    events = []
    for index, record in enumerate(unit.get("records", ())):
        erc = record["erc"]
        data = bytes(record["raw"]) if "raw" in record else record_bytes(record)
        occurred = record.get("time") or record.get("power_off")
        detail = {k: _jsonable(v) for k, v in record.items() if k not in ("erc", "raw")}
        events.append(Event(terminal_id, erc, data, occurred_at=occurred, important=important,
                            pn=record.get("pn"),
                            detail=json.dumps(detail, sort_keys=True) if detail else "",
                            source_pointer=(unit.get("pm", 0) + index) & 0xFF))
    return events
