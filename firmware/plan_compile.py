"""Compile collection plan items into what the bus tasks send: done once, at boot.

    e07, e97, names = compile_items(["energy_fwd_block", "voltage_block", "current_a"])

A plan names catalogue items (protocol/dlt645_items.py) or their aliases. For each protocol the
result lists what to request and how to decode the answer, as tuples of small ints:

    2007 / 1997 entry  (di, element size, element count, signed (2: bits16), first quantity,
                        singles)   singles: the entries of a block's single DIs (the fallback
                                   for meters without blocks), None for a single item
    names              the single quantities' names, for Modbus register maps

Only this needs the catalogue and the quantity names (firmware/quantities.py); firmware/
plans.py imports this module to compile and unloads it afterwards with both tables, so their
~30 KB leave the heap once the bus tasks run.
"""
from firmware.unloading import unload_module


def _entry(cat, row, version, q):
    size = cat.element_size(row, version)
    fmt = row[cat.FMT97] if version == 1997 and row[cat.FMT97] else row[cat.FMT]
    signed = 2 if fmt == "bits16" else row[cat.SIGNED]
    di = row[cat.DI] if version == 2007 else row[cat.DI97]
    return (di, size, row[cat.COUNT], signed, q)


def compile_items(names):
    """Plan item names -> (entries 2007, entries 1997, names for Modbus maps).

    A 2007 entry is (di, element size, count, signed, first quantity, singles) where singles
    are the entries of the block's single DIs (fallback), or None for a single item.

    The catalogue (protocol/dlt645_items.py, about 24 KB of heap) is needed only here: when
    nothing else had loaded it, it is unloaded again afterwards."""
    import sys
    loaded = "protocol.dlt645_items" in sys.modules
    from protocol import dlt645_items as cat
    try:
        return _compile(cat, _quantities(), names)
    finally:
        if not loaded:
            unload_module("protocol.dlt645_items")


def _quantities():
    # firmware/quantities.py (its name table, ~4 KB) is needed only while compiling: the
    # Poller unloads it (unloading.forget_tables) once every plan is compiled
    from firmware import quantities
    return quantities


def _compile(cat, qs, names):
    e07 = []
    e97 = []
    flat = []
    for name in names:
        name = qs.ALIASES.get(name, name)
        di, row = cat.find(name)
        if row is None:
            continue
        first = qs.BLOCK_FIRST.get(name)
        if first is not None:
            n = qs.BLOCK_SIZE[name]
            singles = []
            for q in range(first, first + n):
                sdi, srow = cat.find(qs.NAMES[q])
                singles.append(_entry(cat, srow, 2007, q))
                flat.append(qs.NAMES[q])
            e07.append(_entry(cat, row, 2007, first) + (tuple(singles),))
            if row[cat.DI97] is not None:
                e97.append(_entry(cat, row, 1997, first) + (None,))
            continue
        q = qs.quantity(name)
        if not q:
            continue
        flat.append(qs.NAMES[q])
        e07.append(_entry(cat, row, 2007, q) + (None,))
        if row[cat.DI97] is not None:
            e97.append(_entry(cat, row, 1997, q) + (None,))
    return tuple(e07), tuple(e97), tuple(flat)
