"""SQLAlchemy engines for the station's database: the one place a --db URL becomes a connection.

    engine = make_engine("sqlite:///station.db")      # or postgresql://USER:PW@HOST/DB
    with engine.begin() as conn:                       # one transaction
        conn.execute(select(...)), conn.execute(insert(table), rows)

The station's URL forms stay what users type (`sqlite:///PATH`, `postgresql://...`); the driver
is chosen here (sqlite3, psycopg 3). SQLite files are created 0600 (they hold terminal passwords
and customers' accounts) and opened in WAL mode with foreign keys on and a busy timeout, so the
front end, the console and the CLI can share one file.
"""
import os

import sqlalchemy
from sqlalchemy import event

from host_tools.station.db import POSTGRESQL, SQLITE, SQLITE_BUSY_TIMEOUT_S, parse_url

PG_CONNECT_TIMEOUT_S = 5


def make_engine(url, create=True, **options):
    """An Engine for a station URL. create=False refuses a SQLite file that does not exist."""
    dialect, target = parse_url(url)
    if dialect == SQLITE:
        return _sqlite_engine(target, create, options)
    assert dialect == POSTGRESQL
    scheme, rest = url.split("://", 1)
    options.setdefault("pool_pre_ping", True)
    return sqlalchemy.create_engine(
        "postgresql+psycopg://" + rest,
        connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}, **options)


def _sqlite_engine(path, create, options):
    if path != ":memory:":
        if not os.path.exists(path):
            if not create:
                from host_tools.station.errors import DatabaseUnavailable
                raise DatabaseUnavailable(
                    "no station database at %s: give the right --db / CONC_STATION_DB" % path)
            # Create it private before SQLite opens it: the file holds secrets.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    engine = sqlalchemy.create_engine(
        "sqlite:///" + path, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **options)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # pysqlite's own transaction handling is turned off so that SQLAlchemy's BEGIN is the
        # one that counts (the documented recipe for SQLite transactions).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if path != ":memory:":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN")

    return engine
