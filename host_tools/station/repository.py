"""The station's repository: every read and write the front end and the CLI make, by meaning.

    station = open_station("sqlite:///station.db")         # migrates a new or old database
    t = station.add_terminal("4101", 1, password="00" * 16, name="north-yard")
    station.set_measuring_point(t.id, 1, "000000000001", protocol=30, port=2, baud=2400)
    station.store_readings([Reading(t.id, 1, "energy_fwd_total", read_at, Decimal("1234.5600"))])

Methods are synchronous, short, and take many records at once (one transaction per call), so an
asyncio front end batches what arrives and runs each call with `asyncio.to_thread`; the Station
serialises calls itself. Re-sent data is stored once: readings, frozen values and events are
unique on their identity and a duplicate is skipped without an error (each store_* call returns
how many records were new). Errors are StationError subclasses (host_tools.station.errors).

The Station is assembled from one part per concern: terminal_registry.py (terminals, meter archives),
ingest.py (readings, frozen values, events in), queries.py (data back out, status),
sessions.py (logins, heartbeats), command_audit.py (commands and their audit trail), each a
StationPart (station_part.py: the database, zone and clock they share), on the database
layer db.py (SQLAlchemy Core; `station.db.engine` is the Engine, for libraries that share the
database) and the tables of tables.py.
"""
import os
import time

from host_tools.station import db as dbmod
from host_tools.station import schema
from host_tools.station.command_audit import ControlMixin
from host_tools.station.front_ends import FrontEndsMixin
from host_tools.station.ingest import IngestMixin, event_source_key  # noqa: F401 (re-export)
from host_tools.station.networks import NetworksMixin
from host_tools.station.queries import QueriesMixin
from host_tools.station.relay_paths import RelayPathMixin
from host_tools.station.terminal_registry import (RegistryMixin, check_address,  # noqa: F401
                                         check_area_code, check_meter_address,
                                         normalise_password)
from host_tools.station.secrets import PasswordBox, default_key_path
from host_tools.station.sessions import SessionsMixin
from host_tools.station.times import station_zone

ENV_URL = "CONC_STATION_DB"


def default_url():
    return os.environ.get(ENV_URL) or dbmod.DEFAULT_URL


def open_station(url=None, create=True, zone=None, clock=time.time, key_file=None):
    """Open (and with create=True, create or migrate) the station database at `url`.

    url: `sqlite:///PATH` or `postgresql://...`; default $CONC_STATION_DB, else sqlite:///station.db.
    create=False: for read-only tools: a missing SQLite file or an unmigrated database is an error.
    zone: the zone of naive datetimes (see times.station_zone); clock: returns Unix seconds.
    key_file: the key file that seals terminal passwords (default: see secrets.py).
    """
    url = url or default_url()
    database = dbmod.connect(url, create=create)
    try:
        if create:
            schema.migrate(database, int(clock()))
        else:
            schema.check_version(database)
        station = Station(database, zone=station_zone(zone) if zone is None or
                          isinstance(zone, str) else zone, clock=clock,
                          passwords=PasswordBox(key_file or default_key_path(*dbmod.parse_url(url))))
        if create:
            station.seal_clear_passwords()
    except BaseException:
        database.close()
        raise
    return station


class Station(RegistryMixin, IngestMixin, QueriesMixin, SessionsMixin, ControlMixin,
              RelayPathMixin, NetworksMixin, FrontEndsMixin):
    """The master station's data: terminals and their meters, readings, events, control."""

    def __init__(self, database, zone=None, clock=time.time, passwords=None):
        self.db = database
        self.passwords = passwords
        self.engine = database.engine
        self.zone = zone if zone is not None else station_zone()
        self.clock = clock

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

