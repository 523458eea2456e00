"""A parsed DL/T 645 frame as a plain dict of named fields, for people and for JSON.

Host tools (`conc decode`, `conc probe`, logs) show frames with it; the board never imports it,
so it costs the board nothing. Every value is a str, int, bool, list or None, so the dict goes
straight to `json.dumps`, and keys are only present when the frame carries that field.

    describe(frame) -> dict
        protocol        "dlt645-2007" | "dlt645-1997"
        address         "151230011061"
        control         "91" (hex)          direction   "to_meter" | "from_meter"
        function        "11" (hex)          function_name  "read", "relay", ...
        abnormal, more  bools
        data            unscrambled data field, hex
        di              "00010000" / "9010"; item, unit: catalogue name and unit when known
        value           exact text ("6.78", "2024-05-01 12:30"); raw_value: the scaled int(s),
                        tuple as list; decimals; value_error when the payload does not fit the
                        catalogue format (the frame itself is still valid)
        payload         hex, when a DI-carrying frame has bytes after the DI the catalogue
                        cannot explain (request parameters, unknown DIs)
        seq, error, errors (names), password, operator, command (hex), command_name,
        expiry, clock ("2099-12-30 00:00:00"), freeze_at ([month, day, hour, minute], 99 =
        every), baud, meter_address
"""
import binascii

from protocol import dlt645, dlt645_items
from protocol.errors import ProtocolError


def _hex(data):
    return binascii.hexlify(bytes(data)).decode()


def _clock_text(clock):
    return "%04d-%02d-%02d %02d:%02d:%02d" % tuple(clock)


def describe(frame):
    version = frame.version
    out = {
        "protocol": "dlt645-%d" % version,
        "address": frame.address,
        "control": "%02X" % frame.control,
        "direction": "from_meter" if frame.from_meter else "to_meter",
        "function": "%02X" % frame.function,
        "function_name": frame.function_name(),
        "abnormal": frame.abnormal,
        "more": frame.more,
        "data": _hex(frame.data),
    }
    if frame.error is not None:
        out["error"] = frame.error
        out["errors"] = frame.error_names()
    if frame.di is not None:
        out["di"] = dlt645.di_text(frame.di, version)
        _describe_value(out, frame, version)
    for name in ("seq", "password", "operator", "baud", "meter_address"):
        value = getattr(frame, name)
        if value is not None:
            out[name] = value
    if frame.command is not None:
        out["command"] = "%02X" % frame.command
        out["command_name"] = dlt645.relay_command_name(frame.command)
    if frame.expiry is not None:
        out["expiry"] = _clock_text(frame.expiry)
    if frame.clock is not None:
        out["clock"] = _clock_text(frame.clock)
    if frame.freeze_at is not None:
        out["freeze_at"] = list(frame.freeze_at)
    return out


def _describe_value(out, frame, version):
    row = (dlt645_items.lookup_1997(frame.di) if version == 1997
           else dlt645_items.lookup(frame.di))
    # Only a normal read reply (or follow-up reply) carries the item's value after the DI.
    carries_value = (frame.from_meter and not frame.abnormal and frame.function in (
        dlt645.READ, dlt645.READ_FOLLOW, dlt645.READ_1997, dlt645.READ_FOLLOW_1997))
    if row is not None:
        out["item"] = row[dlt645_items.NAME]
        out["unit"] = row[dlt645_items.UNIT]
    if row is None or not carries_value:
        if frame.payload:
            out["payload"] = _hex(frame.payload)
        return
    try:
        value = dlt645_items.decode(row, frame.payload, version)
    except ProtocolError as err:
        out["value_error"] = err.reason
        out["payload"] = _hex(frame.payload)
        return
    out["value"] = dlt645_items.value_text(row, value, version)
    out["raw_value"] = list(value) if isinstance(value, tuple) else value
    out["decimals"] = dlt645_items.decimals(row, version)
