"""What each part of the Station (terminal_registry.py, ingest.py, queries.py, sessions.py,
command_audit.py, relay_paths.py, networks.py, front_ends.py) uses of the whole: the database,
the zone, the clock and the time conversions. Every part derives from StationPart, so it reads
(and type-checks) on its own; repository.Station, which derives from all the parts, sets the
attributes."""
import datetime
from typing import Callable

from host_tools.station.db import Database
from host_tools.station.secrets import PasswordBox
from host_tools.station.times import from_epoch, to_epoch


class StationPart:
    db: Database
    passwords: PasswordBox | None
    zone: datetime.tzinfo | None
    clock: Callable[[], float]

    def _now(self):
        return int(self.clock())

    def _at(self, when):
        """Unix seconds for a time given to a method (None = now)."""
        return self._now() if when is None else to_epoch(when, self.zone)

    def _time(self, seconds):
        """The aware datetime, in the station's zone, for stored Unix seconds."""
        return from_epoch(seconds, self.zone)
