"""The one place a business command gets a database with the business schema.

    engine = open_business("sqlite:///station.db")

Today: the station's own migrations (host_tools/station/schema.py, revision 0001's tables), then
the business tables of tables.py and `commands.user_id`. When the Alembic environment is merged
this becomes `alembic upgrade head` (revision 0002_business), here and nowhere else.
"""
from sqlalchemy import inspect, text

from host_tools.business.tables import metadata
from host_tools.station.engine import make_engine


def open_business(url, create=True):
    """An Engine on `url` whose database has the collection and business tables.
    create=False refuses a SQLite file that does not exist yet (read-only commands)."""
    from host_tools.station.repository import open_station
    engine = make_engine(url, create=create)
    open_station(url, create=True).close()
    metadata.create_all(engine)
    with engine.begin() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("commands")}
        if "user_id" not in columns:
            conn.execute(text("ALTER TABLE commands ADD COLUMN user_id BIGINT REFERENCES users (id)"))
    return engine
