"""How the station switches a terminal's meter relays: a per-terminal setting.

    station.set_relay_path(terminal_id, "forward")     # or "afn05" (the default)
    station.relay_path(terminal_id)

"afn05": AFN05 F1/F2 with Pn = the measuring point, as our firmware maps it (docs/gw376.md).
"forward": the standard's way through any terminal: DL/T 645 0x1C to the meter by AFN10 F1
transparent forwarding, confirmed by reading status word 3 (04000503) the same way
(host_tools/station/relay_forward.py), for terminals that do not implement our AFN05 mapping.
"""
from sqlalchemy import select, update

from host_tools.station.errors import InvalidValue, UnknownTerminal
from host_tools.station.station_part import StationPart
from host_tools.station.tables import terminals

RELAY_PATHS = ("afn05", "forward")


class RelayPathMixin(StationPart):
    def set_relay_path(self, terminal_id, path):
        if path not in RELAY_PATHS:
            raise InvalidValue("relay path %r: use afn05 (our AFN05 per measuring point) or "
                               "forward (DL/T 645 0x1C through AFN10 F1)" % (path,))
        with self.db.transaction():
            changed = self.db.execute(update(terminals).where(terminals.c.id == terminal_id)
                                      .values(relay_path=path)).rowcount
        if not changed:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))

    def relay_path(self, terminal_id):
        with self.db.transaction(write=False):
            path = self.db.scalar(select(terminals.c.relay_path)
                                  .where(terminals.c.id == terminal_id))
        if path is None:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
        return path
