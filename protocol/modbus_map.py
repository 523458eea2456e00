"""Register maps of Modbus meters, kept as data: protocol/maps/<name>.json.

A map lists the items a meter model holds: canonical item name (the same names as the
DL/T 645 catalogue in protocol/dlt645_items.py where the meaning matches, so the store and the
station need not care which protocol a reading came from), register address, function (4 input,
3 holding), value type (u16, s16, u32, s32, float32), the unit and decimals it is stored with,
and `register_exp10`: register value x 10**register_exp10 = value in `unit` (a power register
in W stored in kW has -3).

`load_map(name)` reads one file (beside this module on a board too: the build copies the .json
files); `RegisterMap.read_plan()` groups the wanted items into as few read requests as the
meter allows, and `ReadBlock.decode(reply)` turns a reply into exact stored integers.
"""
import json

from protocol import modbus
from protocol.errors import ProtocolError

_FIELDS = ("name", "register", "type", "unit", "decimals", "function")


class MapItem:
    """One value a meter holds; `scaled(data, offset)` is its stored integer."""

    def __init__(self, name, register, kind, unit, decimals, function, register_exp10=0,
                 meaning=""):
        self.name = name
        self.register = register
        self.kind = kind
        self.unit = unit
        self.decimals = decimals
        self.function = function
        self.register_exp10 = register_exp10
        self.meaning = meaning
        self.registers = modbus.TYPE_REGISTERS[kind]

    def scaled(self, data, offset=0):
        """Stored value: value in `unit` x 10**decimals, exact, from register bytes."""
        return modbus.decode_scaled(data, offset, self.kind, self.decimals + self.register_exp10)

    def encode(self, scaled):
        """Register bytes holding the stored value `scaled` (for simulators)."""
        return modbus.encode_scaled(scaled, self.kind, self.decimals + self.register_exp10)

    def __repr__(self):
        return "MapItem(%s @0x%04X fn%d %s %s/10**%d)" % (
            self.name, self.register, self.function, self.kind, self.unit, self.decimals)


class ReadBlock:
    """One read request covering `count` registers from `start`, and the items inside it."""

    def __init__(self, function, start, count, items):
        self.function = function
        self.start = start
        self.count = count
        self.items = items

    def request(self, unit):
        return modbus.read_request(unit, self.function, self.start, self.count)

    def decode(self, reply):
        """[(item name, stored int)] from the parsed reply to `request()`."""
        if reply.exception is not None:
            raise ProtocolError("meter answered %s to the read of 0x%04X" % (
                reply.exception_name, self.start))
        if reply.count != self.count:
            raise ProtocolError("reply carries %d registers, %d were asked for" % (
                reply.count, self.count))
        out = []
        for item in self.items:
            out.append((item.name, item.scaled(reply.data, 2 * (item.register - self.start))))
        return out

    def __repr__(self):
        return "ReadBlock(fn%d 0x%04X+%d: %s)" % (
            self.function, self.start, self.count, ", ".join(i.name for i in self.items))


class RegisterMap:
    """The items of one meter model, by name and in register order."""

    def __init__(self, name, meter, items, max_registers=40, source=""):
        self.name = name
        self.meter = meter
        self.items = items
        self.max_registers = max_registers
        self.source = source
        self._by_name = {}
        for item in items:
            if item.name in self._by_name:
                raise ProtocolError("map %s lists %s twice" % (name, item.name))
            self._by_name[item.name] = item

    def names(self):
        return [item.name for item in self.items]

    def item(self, name):
        item = self._by_name.get(name)
        if item is None:
            raise ProtocolError("%s has no item %r; it has: %s" % (
                self.meter, name, ", ".join(self.names())))
        return item

    def read_plan(self, names=None, max_registers=None, max_gap=0):
        """Group the wanted items (all by default) into read requests.

        Items of one function whose registers lie within `max_registers` of the block start,
        with at most `max_gap` unused registers between them, share a request. The default
        gap 0 never reads a register the map does not list: some meters answer "illegal data
        address" to a read that spans a hole.
        """
        if max_registers is None:
            max_registers = self.max_registers
        wanted = self.items if names is None else [self.item(n) for n in names]
        ordered = sorted(wanted, key=lambda i: (i.function, i.register))
        blocks = []
        block = None
        for item in ordered:
            end = item.register + item.registers
            if (block is not None and item.function == block.function and
                    item.register - (block.start + block.count) <= max_gap and
                    end - block.start <= max_registers):
                if end > block.start + block.count:
                    block.count = end - block.start
                block.items.append(item)
                continue
            block = ReadBlock(item.function, item.register, item.registers, [item])
            blocks.append(block)
        return blocks


def _maps_dir():
    here = __file__
    cut = max(here.rfind("/"), here.rfind("\\"))
    return (here[:cut] if cut >= 0 else ".") + "/maps"


def map_names():
    """Names of the maps installed beside this module."""
    import os
    try:
        files = os.listdir(_maps_dir())
    except OSError:
        return []
    return sorted(f[:-5] for f in files if f.endswith(".json"))


def load_map(name):
    """The RegisterMap in maps/<name>.json; ProtocolError naming what is wrong in the file."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ProtocolError("%r is not a register map name" % (name,))
    try:
        with open("%s/%s.json" % (_maps_dir(), name)) as f:
            doc = json.load(f)
    except OSError:
        raise ProtocolError("no register map %r; known: %s" % (
            name, ", ".join(map_names()))) from None
    except ValueError as exc:
        raise ProtocolError("register map %s is not valid JSON: %s" % (name, exc)) from None
    return map_from_dict(name, doc)


def map_from_dict(name, doc):
    """Build and check a RegisterMap from the decoded JSON document."""
    items = []
    for index, entry in enumerate(doc.get("items", ())):
        where = "%s item %d" % (name, index)
        for field in _FIELDS:
            if field not in entry:
                raise ProtocolError("%s has no %r" % (where, field))
        kind = entry["type"]
        if kind not in modbus.TYPE_REGISTERS:
            raise ProtocolError("%s: unknown type %r" % (where, kind))
        function = entry["function"]
        if function != modbus.READ_HOLDING and function != modbus.READ_INPUT:
            raise ProtocolError("%s: function must be 3 or 4, not %r" % (where, function))
        register = entry["register"]
        if not isinstance(register, int) or not 0 <= register <= 0xFFFF:
            raise ProtocolError("%s: register %r is not 0..65535" % (where, register))
        items.append(MapItem(entry["name"], register, kind, entry["unit"], entry["decimals"],
                             function, entry.get("register_exp10", 0), entry.get("meaning", "")))
    if not items:
        raise ProtocolError("register map %s lists no items" % name)
    return RegisterMap(name, doc.get("meter", name), items, doc.get("max_registers", 40),
                       doc.get("source", ""))
