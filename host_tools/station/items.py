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

`unit` is the dict protocol.gw376_units decodes; values that are None ("no data") are skipped.
"""
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
