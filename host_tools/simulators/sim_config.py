"""The meter simulator's configuration: a JSON or TOML file (or the same dict), validated.

    [bus]                       # one serial line; every meter on it shares the wire format
    baud = 2400
    parity = "E"                # N, E or O
    turnaround_ms = 30          # request end -> reply start (plus a meter's slow_reply_ms)
    speed = 1.0                 # simulated time runs this many times faster than real time
    start = "2026-03-01T23:58:00"   # simulated start (default: now)
    seed = 1                    # noise and fault draws are repeatable for a given seed

    [defaults]                  # any meter key, applied to every meter that does not set it
    base_load_kw = 0.8

    [[meters]]
    protocol = "dlt645"         # dlt645 (2007), dlt645-1997 or modbus
    address = "000000000001"    # 12 digits for DL/T 645; 1..247 for Modbus
    count = 4                   # optional: 4 meters at consecutive addresses
    base_load_kw = 1.5
    faults = { no_reply_pct = 10, slow_reply_ms = 200 }

Meter keys: see METER_KEYS. A mistake is a SimConfigError naming the file position (syntax) or
the key (`meters[2].protocol: ...`), never a traceback.
"""
import json
import tomllib
from datetime import datetime
from pathlib import Path

from host_tools.simulators.faults import FaultSpec
from host_tools.simulators.meter_model import (FLAT_SHAPE, RESIDENTIAL_SHAPE, TARIFF_NAMES,
                                               parse_schedule)

PROTOCOLS = ("dlt645", "dlt645-1997", "modbus")
PROTOCOL_ALIASES = {"dlt645-2007": "dlt645", "645": "dlt645", "645-2007": "dlt645",
                    "645-1997": "dlt645-1997", "dlt645_1997": "dlt645-1997", "rtu": "modbus"}
SHAPES = {"residential": RESIDENTIAL_SHAPE, "flat": FLAT_SHAPE}

BUS_DEFAULTS = {"baud": 2400, "parity": "E", "data_bits": 8, "stop_bits": 1,
                "turnaround_ms": 30.0, "speed": 1.0, "start": None, "seed": 0}

# key -> (default, kind); kinds are checked by _check_meter_value.
METER_KEYS = {
    "protocol": ("dlt645", "protocol"),
    "address": (None, "address"),
    "count": (1, "count"),
    "name": (None, "text"),
    "map": (None, "map"),
    "base_load_kw": (1.0, "nonneg"),
    "shape": ("residential", "shape"),
    "phases": (1, "phases"),
    "nominal_voltage": (220.0, "positive"),
    "power_factor": (0.95, "pf"),
    "tariff_schedule": (None, "schedule"),
    "energy_kwh": (0.0, "nonneg"),
    "tariff_kwh": (None, "tariffs"),
    "reverse_kwh": (0.0, "nonneg"),
    "drift_ppm": (0.0, "number"),
    "clock_offset_s": (0.0, "number"),
    "supports_blocks": (True, "bool"),
    "supports_freeze": (True, "bool"),
    "password": ("02000000", "password"),
    "relay": ("closed", "relay"),
    "noise": (True, "bool"),
    "preamble": (0, "preamble"),
    "faults": (None, "faults"),
}


class SimConfigError(ValueError):
    """A configuration mistake, with where it is."""


def load_file(path):
    """Read and validate a .json or .toml simulator configuration."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SimConfigError("cannot read %s: %s" % (path, exc.strerror or exc)) from None
    except UnicodeDecodeError as exc:
        raise SimConfigError("%s is not UTF-8 text (byte %d)" % (path, exc.start)) from None
    if path.suffix.lower() == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SimConfigError("%s: %s" % (path, exc)) from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SimConfigError("%s line %d column %d: %s"
                                 % (path, exc.lineno, exc.colno, exc.msg)) from None
    try:
        return validate(raw)
    except SimConfigError as exc:
        raise SimConfigError("%s: %s" % (path, exc)) from None


def from_options(meters=1, protocols=("dlt645",), **bus):
    """A configuration from command-line style options: `meters` meters, protocols in turn."""
    if "modbus" in protocols and meters > 247:
        raise SimConfigError("--meters %d: Modbus ids stop at 247; use a --config file to give "
                             "addresses" % meters)
    entries = []
    for index in range(meters):
        protocol = protocols[index % len(protocols)]
        # Varied starting registers and loads, so meters are told apart by what they hold.
        entries.append({"protocol": protocol, "address": index + 1,
                        "energy_kwh": round(1000.0 + 123.45 * index, 2),
                        "base_load_kw": round(0.6 + 0.35 * (index % 5), 2)})
    raw = {"bus": {k: v for k, v in bus.items() if v is not None}, "meters": entries}
    return validate(raw)


def override_bus(config, overrides):
    """Apply command-line bus options (None = not given) over a validated config, in place."""
    changed = {k: v for k, v in overrides.items() if v is not None}
    if changed:
        bus = dict(config["bus"])
        bus.update(changed)
        config["bus"] = _validate_bus(bus)
    return config


def validate(raw):
    """A raw dict -> {"bus": {...}, "meters": [one dict per meter, count expanded]}."""
    if not isinstance(raw, dict):
        raise SimConfigError("the configuration must be a table/object with 'bus' and 'meters'")
    unknown = sorted(set(raw) - {"bus", "defaults", "meters"})
    if unknown:
        raise SimConfigError("unknown section %s; expected bus, defaults, meters"
                             % ", ".join(repr(k) for k in unknown))
    bus = _validate_bus(raw.get("bus", {}))
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SimConfigError("defaults: must be a table of meter keys")
    for key in defaults:
        if key not in METER_KEYS or key in ("address", "count"):
            raise SimConfigError("defaults.%s: not a meter key that can have a default" % key)
    entries = raw.get("meters")
    if not isinstance(entries, list) or not entries:
        raise SimConfigError("meters: give a list of at least one meter")
    meters = []
    for index, entry in enumerate(entries):
        where = "meters[%d]" % index
        if not isinstance(entry, dict):
            raise SimConfigError("%s: must be a table/object" % where)
        merged = dict(defaults)
        merged.update(entry)
        meters.extend(_validate_meter(merged, where))
    _check_unique(meters)
    return {"bus": bus, "meters": meters}


def _validate_bus(bus):
    if not isinstance(bus, dict):
        raise SimConfigError("bus: must be a table/object")
    unknown = sorted(set(bus) - set(BUS_DEFAULTS))
    if unknown:
        raise SimConfigError("bus.%s: unknown key; known: %s"
                             % (unknown[0], ", ".join(BUS_DEFAULTS)))
    out = dict(BUS_DEFAULTS)
    out.update(bus)
    if not _is_int(out["baud"]) or not 50 <= out["baud"] <= 4000000:
        raise SimConfigError("bus.baud: %r is not a baud rate" % (out["baud"],))
    parity = str(out["parity"]).upper()
    if parity not in ("N", "E", "O"):
        raise SimConfigError("bus.parity: %r; use N, E or O" % (out["parity"],))
    out["parity"] = parity
    for key, low, high in (("data_bits", 7, 8), ("stop_bits", 1, 2)):
        if not _is_int(out[key]) or not low <= out[key] <= high:
            raise SimConfigError("bus.%s: must be %d..%d" % (key, low, high))
    for key in ("turnaround_ms", "speed"):
        if not _is_number(out[key]) or out[key] < 0 or (key == "speed" and out[key] == 0):
            raise SimConfigError("bus.%s: %r must be a positive number" % (key, out[key]))
    if out["start"] is not None:
        start = out["start"]
        if isinstance(start, datetime):
            out["start"] = start.replace(tzinfo=None)
        else:
            try:
                out["start"] = datetime.fromisoformat(str(start))
            except ValueError:
                raise SimConfigError("bus.start: %r is not a date-time like 2026-03-01T23:58:00"
                                     % (start,)) from None
    if not _is_int(out["seed"]):
        raise SimConfigError("bus.seed: must be a whole number")
    return out


def _validate_meter(entry, where):
    unknown = sorted(set(entry) - set(METER_KEYS))
    if unknown:
        raise SimConfigError("%s.%s: unknown key; known: %s"
                             % (where, unknown[0], ", ".join(METER_KEYS)))
    meter = {key: spec[0] for key, spec in METER_KEYS.items()}
    meter.update(entry)
    protocol = str(meter["protocol"]).lower()
    protocol = PROTOCOL_ALIASES.get(protocol, protocol)
    if protocol not in PROTOCOLS:
        raise SimConfigError("%s.protocol: unknown protocol %r; use %s"
                             % (where, meter["protocol"], ", ".join(PROTOCOLS)))
    meter["protocol"] = protocol
    for key, (_, kind) in METER_KEYS.items():
        if key in ("protocol", "address"):
            continue
        meter[key] = _check_meter_value("%s.%s" % (where, key), kind, meter[key], meter)
    if meter["address"] is None:
        raise SimConfigError("%s.address: every meter needs an address" % where)
    first = _parse_address("%s.address" % where, protocol, meter["address"])
    if protocol == "modbus" and meter["map"] is None:
        meter["map"] = "sdm630" if meter["phases"] == 3 else "sdm120"
    out = []
    for i in range(meter["count"]):
        one = dict(meter)
        del one["count"]
        number = first + i
        if protocol == "modbus":
            if number > 247:
                raise SimConfigError("%s.count: Modbus ids run past 247" % where)
            one["address"] = number
        else:
            if number > 999999999999:
                raise SimConfigError("%s.count: addresses run past 999999999999" % where)
            one["address"] = "%012d" % number
        out.append(one)
    return out


def _parse_address(where, protocol, value):
    if protocol == "modbus":
        if not _is_int(value) and not (isinstance(value, str) and value.isdigit()):
            raise SimConfigError("%s: a Modbus id is a number 1..247, not %r" % (where, value))
        number = int(value)
        if not 1 <= number <= 247:
            raise SimConfigError("%s: Modbus id %d is not 1..247" % (where, number))
        return number
    text = str(value) if _is_int(value) else value
    if not isinstance(text, str) or not text.isdigit() or len(text) > 12:
        raise SimConfigError("%s: a DL/T 645 address is up to 12 decimal digits, not %r"
                             % (where, value))
    number = int(text)
    if number in (999999999999,):
        raise SimConfigError("%s: 999999999999 is the broadcast address" % where)
    return number


def _check_meter_value(where, kind, value, meter):
    if kind == "count":
        if not _is_int(value) or not 1 <= value <= 2040:
            raise SimConfigError("%s: must be 1..2040" % where)
    elif kind == "text":
        if value is not None and not isinstance(value, str):
            raise SimConfigError("%s: must be text" % where)
    elif kind == "map":
        from protocol.modbus_map import map_names
        if value is not None and value not in map_names():
            raise SimConfigError("%s: unknown register map %r; use %s"
                                 % (where, value, ", ".join(map_names())))
    elif kind in ("nonneg", "positive", "number", "pf"):
        if not _is_number(value):
            raise SimConfigError("%s: must be a number, not %r" % (where, value))
        if kind == "nonneg" and value < 0:
            raise SimConfigError("%s: cannot be negative" % where)
        if kind == "positive" and value <= 0:
            raise SimConfigError("%s: must be positive" % where)
        if kind == "pf" and not 0 < value <= 1:
            raise SimConfigError("%s: a power factor is in (0, 1]" % where)
        value = float(value)
    elif kind == "shape":
        if isinstance(value, str):
            if value not in SHAPES:
                raise SimConfigError("%s: unknown shape %r; use %s or 24 numbers"
                                     % (where, value, ", ".join(SHAPES)))
            value = SHAPES[value]
        elif not (isinstance(value, list) and len(value) == 24
                  and all(_is_number(x) and x >= 0 for x in value)):
            raise SimConfigError("%s: give a shape name or 24 non-negative hourly factors"
                                 % where)
        value = tuple(float(x) for x in value)
    elif kind == "phases":
        if value not in (1, 3):
            raise SimConfigError("%s: must be 1 or 3" % where)
    elif kind == "schedule":
        if value is not None:
            try:
                if not isinstance(value, list):
                    raise ValueError("give a list of [\"HH:MM\", tariff] pairs")
                pairs = []
                for item in value:
                    if not isinstance(item, (list, tuple)) or len(item) != 2:
                        raise ValueError("each period is [\"HH:MM\", tariff], not %r" % (item,))
                    pairs.append((item[0], item[1]))
                parse_schedule(pairs)
                value = tuple(pairs)
            except ValueError as exc:
                raise SimConfigError("%s: %s (tariffs: %s or 1..4)"
                                     % (where, exc, "/".join(TARIFF_NAMES))) from None
    elif kind == "tariffs":
        if value is not None and not (isinstance(value, list) and len(value) == 4
                                      and all(_is_number(x) and x >= 0 for x in value)):
            raise SimConfigError("%s: give 4 non-negative kWh values (sharp, peak, flat, valley)"
                                 % where)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise SimConfigError("%s: must be true or false" % where)
    elif kind == "password":
        text = str(value)
        try:
            ok = len(bytes.fromhex(text)) == 4
        except ValueError:
            ok = False
        if not ok:
            raise SimConfigError("%s: 8 hex digits, the level then the password, e.g. "
                                 "\"02000000\" (level 02, password 000000)" % where)
        value = text
    elif kind == "preamble":
        if not _is_int(value) or not 0 <= value <= 4:
            raise SimConfigError("%s: 0..4 FE bytes before each DL/T 645 reply" % where)
    elif kind == "relay":
        if value not in ("open", "closed"):
            raise SimConfigError("%s: \"open\" or \"closed\"" % where)
    elif kind == "faults":
        if value is not None:
            if not isinstance(value, dict):
                raise SimConfigError("%s: must be a table of fault settings" % where)
            try:
                value = FaultSpec.from_dict(value)
            except (TypeError, ValueError) as exc:
                raise SimConfigError("%s: %s" % (where, exc)) from None
    return value


def _check_unique(meters):
    seen = {}
    for meter in meters:
        # 645-2007 and -1997 frames look alike on the wire: one address, one meter.
        family = "modbus" if meter["protocol"] == "modbus" else "dlt645"
        key = (family, meter["address"])
        if key in seen:
            raise SimConfigError("two meters share %s address %s" % (family, meter["address"]))
        seen[key] = meter


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)
