"""The quantities the poller stores, and the item ids of its reading batches in the ring log.

A reading batch (firmware/log_records.py) holds (item id, exact integer) pairs. The item id says
both WHAT was measured and WHICH collection it belongs to, so the uplink can answer AFN0C
(real time) and AFN0D (curve and daily frozen data) from the log alone:

    item_id = kind * 64 + quantity        kind: REALTIME 0, CURVE 1, FROZEN 2 (daily freeze),
                                          MIDNIGHT 3 (frozen value of a meter without freeze
                                          support: its reading taken at midnight)

A quantity is one element of the DL/T 645 catalogue (protocol/dlt645_items.py names), whatever
protocol delivered it: a 645-2007 block, its single DIs, a 645-1997 DI or a Modbus register of
the same name. Values are in the catalogue's smallest unit (0.01 kWh, 0.1 V, 0.001 A, ...; a
1997 voltage has no decimal: the poller does not rescale, the uplink knows the protocol).
Tariffs beyond 4 are not stored (a meter with 8 tariffs sends 9 elements; the ids stop at t4).
"""
from protocol.compat import const
from protocol.reading_items import CURVE, FROZEN, KIND_NAMES, MIDNIGHT, NAMES, REALTIME  # noqa: F401

ENERGY_FWD_TOTAL = const(1)

# Block items: catalogue name -> quantity of their first element (the rest follow in order).
BLOCK_FIRST = {
    "energy_fwd_block": 1,
    "energy_rev_block": 6,
    "voltage_block": 11,
    "current_block": 14,
    "power_active_block": 17,
    "power_factor_block": 21,
    "energy_combined_block": 26,
    "freeze_daily_energy_fwd": 1,
}
BLOCK_SIZE = {
    "energy_fwd_block": 5, "energy_rev_block": 5, "voltage_block": 3, "current_block": 3,
    "power_active_block": 4, "power_factor_block": 4, "energy_combined_block": 1,
    "freeze_daily_energy_fwd": 5,
}
# Names people write for a quantity that the catalogue spells differently.
ALIASES = {"power_total": "power_active_total"}


def quantity(name):
    """Quantity number of a single-element name, or 0 when it is not stored."""
    name = ALIASES.get(name, name)
    for q in range(1, len(NAMES)):
        if NAMES[q] == name:
            return q
    return 0


def item_id(kind, q):
    return kind * 64 + q


def describe(item):
    """(kind name, quantity name) of an item id, for tools and tests."""
    kind = item >> 6
    q = item & 63
    return (KIND_NAMES[kind] if kind < len(KIND_NAMES) else "kind%d" % kind,
            NAMES[q] if q < len(NAMES) else "q%d" % q)
