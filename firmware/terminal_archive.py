"""The meter archive as AFN04 / AFN0A F10 carries it (27 bytes an entry, docs/gw376.md) and as
firmware/archive.py keeps it. Loaded only while an F10 request is answered
(firmware/terminal.py unloads it again): the archive is set once per meter, and read
back once after it.
"""
from protocol.errors import ProtocolError

_F10_BAUDS = (0, 600, 1200, 2400, 4800, 7200, 9600, 19200)


class Entries:
    """The F10 entries of the archive's points that `wanted` names (serials or points; None or
    empty: every point), built one at a time while the codec encodes them: as dicts, twenty
    entries would take 5 KB of a 32-bit board's heap at once, encoded they take 27 bytes each."""

    def __init__(self, archive, wanted):
        self.archive = archive
        self.points = []
        for point in archive.points():
            entry = archive.get(point)
            if entry is None:
                continue
            if wanted and entry.get("serial", 0) not in wanted and point not in wanted:
                continue
            self.points.append(point)

    def __len__(self):
        return len(self.points)

    def __iter__(self):
        for point in self.points:
            yield f10_from_entry(self.archive.get(point))


def query(term, data):
    """The AFN0A F10 value for the request's serials, or None (denied) without an archive."""
    if term.archive is None:
        return None
    return {"meters": Entries(term.archive, None if data is None else data.get("serials"))}


def changes(meters):
    """{point: archive entry} for the meters of an AFN04 F10 set (firmware/archive.py apply).
    The request's list of meters is emptied as they are converted: its dicts and the entries
    are never on the heap together (twenty of each: 9 KB of a 32-bit board's heap)."""
    out = {}
    for i in range(len(meters)):
        entry = entry_from_f10(meters[i])
        meters[i] = None
        out[entry["point"]] = entry
    return out


def f10_from_entry(entry):
    protocol = {"dlt645-1997": 1, "dlt645": 30, "modbus": 200}[entry["protocol"]]
    address = entry["address"]
    if isinstance(address, int):
        address = "%012d" % address
    baud = entry.get("baud", 0)
    password = entry.get("password", "00000000")
    from binascii import unhexlify
    return {"serial": entry.get("serial", 0), "point": entry["point"],
            "baud": baud if baud in _F10_BAUDS else 0, "port": entry.get("bus", 1),
            "protocol": protocol, "address": address,
            "password": unhexlify(password) + b"\x00\x00",
            "tariffs": entry.get("tariffs", 4), "integer_digits": 6, "decimal_digits": 2,
            "collector": entry.get("collector") or "000000000000",
            "user_class": entry.get("user_class", 0) >> 4 & 15,
            "user_subclass": entry.get("user_class", 0) & 15}


def entry_from_f10(meter):
    from binascii import hexlify
    names = {1: "dlt645-1997", 30: "dlt645", 200: "modbus"}
    protocol = names.get(meter["protocol"])
    if protocol is None:
        raise ProtocolError("meter protocol %r is not supported" % (meter["protocol"],))
    address = meter["address"]
    entry = {"point": meter["point"], "protocol": protocol, "bus": meter["port"] or 1,
             "address": int(address) if protocol == "modbus" else address,
             "password": hexlify(meter["password"][:4]).decode(),
             "tariffs": meter["tariffs"],
             "user_class": (meter["user_class"] << 4) | meter["user_subclass"],
             "serial": meter["serial"]}
    if meter["baud"]:
        entry["baud"] = meter["baud"]
    collector = meter.get("collector", "")
    if collector and collector.strip("0"):
        entry["collector"] = collector
    return entry
