"""The one place a business command gets a database with the business schema.

    engine = open_business("sqlite:///station.db")

Opening the station for writing runs its Alembic migrations up to the newest revision
(0002_business holds the business tables, host_tools/station/migrations/versions/); the
business library then works on an Engine of its own on the same database.
"""
from host_tools.station.engine import make_engine
from host_tools.station.repository import open_station


def open_business(url, create=True):
    """An Engine on `url` whose database is at the newest revision (migrated if needed).
    create=False refuses a SQLite file that does not exist yet (read-only commands)."""
    engine = make_engine(url, create=create)
    try:
        open_station(url, create=True).close()
    except BaseException:
        engine.dispose()
        raise
    return engine
