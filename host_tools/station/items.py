"""The names the station stores data items under, and the mapping from decoded 1376.1 units.

One naming everywhere a person or a script sees an item: the DL/T 645 catalogue's readable
names (protocol/dlt645_items.py, the names the board, `conc pull` and `conc meters test` use),
extended here with the energy registers 1376.1 terminals report that the catalogue lacks.

An energy register is named `energy_<register>_total` for its total and `energy_<register>_tN`
for tariff N (as many tariffs as the terminal sends):

    register            1376.1 real time / daily / monthly   unit
    fwd                 F129 / F161 / F177                   kWh     forward active
    fwd_reactive        F130 / F162 / F178                   kvarh   forward reactive
    rev                 F131 / F163 / F179                   kWh     reverse active
    rev_reactive        F132 / F164 / F180                   kvarh   reverse reactive
    q1_reactive .. q4_reactive   F133..F136 / F165..F168 / F181..F184   kvarh   quadrants I..IV

`fwd` and `rev` are the catalogue's own names (`energy_fwd_total`, `energy_rev_t2`). The
reactive registers are named here rather than appended to protocol/reading_items.NAMES: that
list is the board's ring-log ids, on flash and append-only, and the board never reads them.

A quantity has one name whichever unit carried it and however it was frozen: F129, F33 and the
curve F101 all give `energy_fwd_total`; the daily (AFN0D F161, F1) and the monthly (F177, F17)
frozen values are the same names in the `daily_frozen` and `monthly_frozen` tables (the period
column says the day or the month). Instantaneous values keep their catalogue names
(`voltage_a`, `current_a`, `power_active_total`, `power_factor_total`).

    energy_item("fwd", 0) -> "energy_fwd_total"; energy_item("rev", 2) -> "energy_rev_t2"
    tariff_of("energy_fwd_t3") -> 3 (0 for the total)
    sort_key(item): the order people see items in (registers, their tariffs, the catalogue)
    item_unit("energy_q1_reactive_t1") -> "kvarh"; item_unit("voltage_a") -> "V"
    shown(item, value) -> "1500.00 kWh": a stored Decimal with its places and unit
    old_name(item) -> (new name, "realtime" | "daily" | "monthly") for a 1376.1 `F129.0`-style
                      name the station used before (revision 0006 renamed them), else None

    readings_from_energy(terminal_id, pn, unit)   AFN0C F33, F34, F129..F136 -> [Reading]
    readings_from_power(terminal_id, pn, unit)    AFN0C F25 -> [Reading]
    frozen_from_energy(terminal_id, pn, unit)     AFN0D F1, F2, F161..F168 (daily) or
                                                  F17, F18, F177..F184 (monthly) -> [FrozenValue]
    readings_from_curve(terminal_id, pn, fn, unit)   AFN0D curves (CURVE_ITEMS) -> [Reading],
                                                  one per point at start + i x density

A curve point is stored under the name of the same quantity read in real time, at the point's
time (F101 as `energy_fwd_total`, F89 as `voltage_a`), so a curve point and the compact mode's
curve record of the same meter and slot are one reading.

`unit` is the dict protocol.gw376_units decodes; values that are None ("no data") are skipped.
"""
import datetime
import re

from protocol.gw376_formats import DECIMALS
from protocol.reading_items import NAMES as CATALOGUE_ORDER

from host_tools import quantity_values
from host_tools.station.errors import InvalidValue
from host_tools.station.records import FrozenValue, Reading

# decoded 1376.1 energy field -> (register name, unit, data format): the order of F129..F136
ENERGY_REGISTERS = {
    "forward_active": ("fwd", "kWh", 14),
    "forward_reactive": ("fwd_reactive", "kvarh", 11),
    "reverse_active": ("rev", "kWh", 14),
    "reverse_reactive": ("rev_reactive", "kvarh", 11),
    "q1_reactive": ("q1_reactive", "kvarh", 11),
    "q2_reactive": ("q2_reactive", "kvarh", 11),
    "q3_reactive": ("q3_reactive", "kvarh", 11),
    "q4_reactive": ("q4_reactive", "kvarh", 11),
}
TOTAL_ENERGY = "energy_fwd_total"     # the total forward active energy register: what is billed
_REGISTER_UNITS = {register: symbol for register, symbol, _ in ENERGY_REGISTERS.values()}
_REGISTER_ORDER = {register: k for k, (register, _, _) in enumerate(ENERGY_REGISTERS.values())}
_ENERGY_NAME = re.compile(r"energy_([a-z0-9_]+?)_(?:total|t([0-9]+))$")

# The 1376.1 Fn the station named items by before revision 0006, per table: F129 + k is the
# k-th register of ENERGY_REGISTERS read in real time, F161 + k its daily, F177 + k its monthly
# frozen value.
OLD_BASE_FN = {"realtime": 129, "daily": 161, "monthly": 177}
_OLD_NAME = re.compile(r"F([0-9]+)\.([0-9]+)$")


def energy_item(register, element):
    """`energy_fwd_total` for ("fwd", 0), `energy_fwd_t2` for ("fwd", 2)."""
    return "energy_%s_%s" % (register, "total" if element == 0 else "t%d" % element)


def _register(item):
    """The register of an energy item (`fwd` for `energy_fwd_t2`), None for other items."""
    match = _ENERGY_NAME.match(item)
    return match.group(1) if match is not None and match.group(1) in _REGISTER_UNITS else None


def tariff_of(item):
    """The tariff number of an energy register item (0 for its total), None for other items."""
    match = _ENERGY_NAME.match(item)
    if match is None or match.group(1) not in _REGISTER_UNITS:
        return None
    return int(match.group(2) or 0)


def sort_key(item):
    """How items are listed for people: energy registers in the order of F129..F136, each
    total first then its tariffs, then the board's quantities in their catalogue order
    (`voltage_a`, `voltage_b` ... `current_a` ...), then any other name alphabetically."""
    register = _register(item)
    if register is not None:
        return 0, _REGISTER_ORDER[register], tariff_of(item), ""
    if item in CATALOGUE_ORDER:
        return 1, CATALOGUE_ORDER.index(item), 0, ""
    return 2, 0, 0, item


def item_unit(item):
    """The unit of an item ("kWh", "kvarh", "V"; "" for a ratio, a status word or a name the
    station does not know)."""
    register = _register(item)
    return _REGISTER_UNITS[register] if register is not None else quantity_values.unit(item)


def shown(item, value):
    """A stored value for a person: its exact decimal text (the places it was stored with) and
    the item's unit, "1500.00 kWh", "218.9 V", "0.998"."""
    symbol = item_unit(item)
    return "%s %s" % (value, symbol) if symbol else str(value)


def old_name(item):
    """(new name, "realtime" | "daily" | "monthly") for a name of the old 1376.1 scheme
    (`F129.0`, `F161.2`), None for any other name."""
    match = _OLD_NAME.match(item)
    if match is None:
        return None
    fn, element = int(match.group(1)), int(match.group(2))
    registers = [register for register, _, _ in ENERGY_REGISTERS.values()]
    for kind, base in OLD_BASE_FN.items():
        if base <= fn < base + len(registers):
            return energy_item(registers[fn - base], element), kind
    return None


def _values(unit):
    """(item, value, scale) for every register in a decoded energy unit."""
    for field, (register, _, fmt) in ENERGY_REGISTERS.items():
        for element, value in enumerate(unit.get(field) or ()):
            if value is not None:
                yield energy_item(register, element), value, DECIMALS[fmt]


def readings_from_energy(terminal_id, pn, unit):
    """Readings for a decoded AFN0C F33/F34/F129..F136 unit, at its read time."""
    if "read_time" not in unit:
        raise InvalidValue("an energy unit needs its read_time")
    return [Reading(terminal_id, pn, item, unit["read_time"], value, scale)
            for item, value, scale in _values(unit)]


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
    return [FrozenValue(terminal_id, pn, item, tuple(td), value, scale, unit.get("read_time"))
            for item, value, scale in _values(unit)]


# AFN0D curve Fn -> (item name, decimals): the real-time names of the same quantities
CURVE_ITEMS = {
    81: ("power_active_total", 4), 82: ("power_active_a", 4), 83: ("power_active_b", 4),
    84: ("power_active_c", 4),
    89: ("voltage_a", 1), 90: ("voltage_b", 1), 91: ("voltage_c", 1),
    92: ("current_a", 3), 93: ("current_b", 3), 94: ("current_c", 3),
    101: ("energy_fwd_total", 2), 102: ("energy_fwd_reactive_total", 2),
    103: ("energy_rev_total", 2), 104: ("energy_rev_reactive_total", 2),
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
