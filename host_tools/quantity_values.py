"""A stored quantity as people read it: the meter's exact integer, in the DL/T 645 catalogue's
smallest unit, shown with the catalogue's decimals and unit.

    exact_text("energy_fwd_total", 150000)   -> "1500.00"      (0.01 kWh)
    shown("voltage_a", 2189)                 -> "218.9 V"      (0.1 V)
    shown("voltage_a", 219, "dlt645-1997")   -> "219 V"        (a 1997 voltage has no decimal)

The board stores and reports such integers (firmware/quantities.py) and the station stores the
same numbers at the same decimals (host_tools/station/uploads.py), so a value reads the same in
`conc meters test` and `conc station readings`. The text is exact (no float): JSON output keeps
it as a string.
"""
from protocol import dlt645_items
from protocol.errors import ProtocolError

NO_DATA = "no data"          # the meter answered all 0xEE: it has no such value
PROTOCOL_1997 = "dlt645-1997"


def _row(name):
    try:
        return dlt645_items.find(name)[1]
    except ProtocolError:
        return None


def decimals(name, protocol="dlt645"):
    """Decimal places of `name` as the meter's protocol delivers it (0 for a name the catalogue
    does not know: its integer is shown whole)."""
    row = _row(name)
    if row is None:
        return 0
    if protocol == PROTOCOL_1997 and row[dlt645_items.DI97] is not None:
        return dlt645_items.decimals(row, 1997)
    return dlt645_items.decimals(row)


def unit(name):
    """The catalogue's unit of `name` ("kWh", "V"; "" for a ratio or a status word)."""
    row = _row(name)
    return row[dlt645_items.UNIT] if row is not None else ""


def exact_text(name, value, protocol="dlt645"):
    """The exact decimal text of a stored integer; None (no data) stays None."""
    if value is None:
        return None
    return dlt645_items.scaled_text(value, decimals(name, protocol))


def shown(name, value, protocol="dlt645"):
    """Value and unit for a person: "1500.00 kWh", "0.998", "no data"."""
    if value is None:
        return NO_DATA
    text = exact_text(name, value, protocol)
    symbol = unit(name)
    return "%s %s" % (text, symbol) if symbol else text
