"""Data item names the station stores values under, and the mapping from decoded 1376.1 units.

A quantity is stored under the single-quantity data unit that carries it, whichever unit the
terminal happened to send: forward active energy is F129 (real-time), F161 (daily frozen) and
F177 (monthly frozen) even when it arrived inside F33 / AFN0D F1 / F17. The element follows a
dot: `.0` the total, `.1`..`.M` the tariffs. So `F129.0` is the current total forward active
energy, `F161.2` the daily frozen tariff-2 value.

    readings_from_energy(terminal_id, pn, unit)   AFN0C F33, F34, F129..F136 -> [Reading]
    readings_from_power(terminal_id, pn, unit)    AFN0C F25 -> [Reading] (catalogue names)
    frozen_from_energy(terminal_id, pn, unit)     AFN0D F1, F2, F161..F168 (daily) or
                                                  F17, F18, F177..F184 (monthly) -> [FrozenValue]
    readings_from_curve(terminal_id, pn, fn, unit)   AFN0D curves (CURVE_ITEMS) -> [Reading],
                                                  one per point at start + i x density

A curve point is stored under the name of the same quantity read in real time, at the point's
time: the forward active energy register curve F101 as `F129.0`, the voltage curve F89 as
`voltage_a` - so a curve point and the compact mode's curve record of the same meter and
slot are one reading.

`unit` is the dict protocol.gw376_units decodes; values that are None ("no data") are skipped.
"""
import datetime

from protocol.gw376_formats import DECIMALS

from host_tools.station.errors import InvalidValue
from host_tools.station.records import FrozenValue, Reading

# quantity -> (offset from F129 / F161 / F177, data format): the order of 1376.1 F129..F136
QUANTITIES = {
    "forward_active": (0, 14),
    "forward_reactive": (1, 11),
    "reverse_active": (2, 14),
    "reverse_reactive": (3, 11),
    "q1_reactive": (4, 11),
    "q2_reactive": (5, 11),
    "q3_reactive": (6, 11),
    "q4_reactive": (7, 11),
}
REALTIME_FN, DAILY_FN, MONTHLY_FN = 129, 161, 177


def item_name(base_fn, quantity, element):
    """`F129.0` for (129, 'forward_active', 0)."""
    return "F%d.%d" % (base_fn + QUANTITIES[quantity][0], element)


def _values(base_fn, unit):
    """(item, value, scale) for every quantity in a decoded energy unit."""
    for quantity, (_, fmt) in QUANTITIES.items():
        for element, value in enumerate(unit.get(quantity) or ()):
            if value is not None:
                yield item_name(base_fn, quantity, element), value, DECIMALS[fmt]


def readings_from_energy(terminal_id, pn, unit):
    """Readings for a decoded AFN0C F33/F34/F129..F136 unit, at its read time."""
    if "read_time" not in unit:
        raise InvalidValue("an energy unit needs its read_time")
    return [Reading(terminal_id, pn, item, unit["read_time"], value, scale)
            for item, value, scale in _values(REALTIME_FN, unit)]


# AFN0C F25 field -> the catalogue names of its elements (the names F241 records use)
POWER_ITEMS = (
    ("active_power", 9, ("power_active_total", "power_active_a", "power_active_b",
                         "power_active_c")),
    ("power_factor", 5, ("power_factor_total", "power_factor_a", "power_factor_b",
                         "power_factor_c")),
    ("voltage", 7, ("voltage_a", "voltage_b", "voltage_c")),
    ("current", 25, ("current_a", "current_b", "current_c")),
)


def readings_from_power(terminal_id, pn, unit):
    """Readings for a decoded AFN0C F25 unit (power, power factor, voltage, current) at its
    read time, under the catalogue names: `voltage_a` at format 07's 0.1 V, `current_a` at
    0.001 A, `power_active_total` at 0.0001 kW, `power_factor_total` at 0.001 (format 05 is
    0.1 %, the same number)."""
    if "read_time" not in unit:
        raise InvalidValue("an AFN0C F25 unit needs its read_time")
    out = []
    for field, fmt, names in POWER_ITEMS:
        scale = 3 if field == "power_factor" else DECIMALS[fmt]
        for name, value in zip(names, unit.get(field) or (), strict=False):
            if value is not None:
                out.append(Reading(terminal_id, pn, name, unit["read_time"], value, scale))
    return out


def frozen_from_energy(terminal_id, pn, unit):
    """FrozenValues for a decoded AFN0D energy unit: daily when its `td` is (y, m, d), monthly
    when it is (y, m). Store them with store_daily_frozen / store_monthly_frozen."""
    td = unit.get("td")
    if not isinstance(td, (tuple, list)) or len(td) not in (2, 3):
        raise InvalidValue("a frozen energy unit needs its td: (y, m, d) or (y, m)")
    base = DAILY_FN if len(td) == 3 else MONTHLY_FN
    return [FrozenValue(terminal_id, pn, item, tuple(td), value, scale, unit.get("read_time"))
            for item, value, scale in _values(base, unit)]


# AFN0D curve Fn -> (item name, decimals): the real-time names of the same quantities
CURVE_ITEMS = {
    81: ("power_active_total", 4), 82: ("power_active_a", 4), 83: ("power_active_b", 4),
    84: ("power_active_c", 4),
    89: ("voltage_a", 1), 90: ("voltage_b", 1), 91: ("voltage_c", 1),
    92: ("current_a", 3), 93: ("current_b", 3), 94: ("current_c", 3),
    101: ("F129.0", 2), 102: ("F130.0", 2), 103: ("F131.0", 2), 104: ("F132.0", 2),
    105: ("power_factor_total", 3), 106: ("power_factor_a", 3), 107: ("power_factor_b", 3),
    108: ("power_factor_c", 3),
}
# Td_c density code -> minutes between the points (Q/GDW 1376.1-2013; 0: not frozen)
DENSITY_MINUTES = {1: 15, 2: 30, 3: 60, 254: 5, 255: 1}


def readings_from_curve(terminal_id, pn, fn, unit):
    """Readings for a decoded AFN0D curve unit (F81..F84, F89..F94, F101..F104, F105..F108):
    point i at start + i x density. A unit with several points needs a density the standard
    defines (InvalidValue otherwise: their times could not be known)."""
    name, scale = CURVE_ITEMS[fn]
    start, values = unit.get("start"), unit.get("values") or ()
    if not isinstance(start, (tuple, list)) or len(start) != 5:
        raise InvalidValue("a curve unit needs its start time (format 15)")
    step = DENSITY_MINUTES.get(unit.get("density"))
    if step is None and len(values) > 1:
        raise InvalidValue("curve F%d: density code %r has no interval, %d points cannot be "
                           "placed" % (fn, unit.get("density"), len(values)))
    first = datetime.datetime(*start)
    return [Reading(terminal_id, pn, name, first + datetime.timedelta(minutes=i * (step or 0)),
                    value, scale)
            for i, value in enumerate(values) if value is not None]
