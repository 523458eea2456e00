"""SQLAlchemy engines for the station's database: the one place a --db URL becomes a connection.

    engine = make_engine("sqlite:///station.db")      # or postgresql://USER:PW@HOST/DB
    with engine.begin() as conn:                       # one transaction
        conn.execute(select(...)), conn.execute(insert(table), rows)

The station's URL forms stay what users type (`sqlite:///PATH`, `postgresql://...`); the driver
is chosen here (sqlite3, psycopg 3). SQLite files are created 0600 (they hold terminal passwords
and customers' accounts) and opened in WAL mode with foreign keys on and a busy timeout, so the
front end, the console and the CLI can share one file.

SQLite transactions begin with BEGIN IMMEDIATE (the write lock up front), so two writers queue
on the busy timeout instead of one failing when it upgrades a read lock; a read-only transaction
may say so and not queue behind writers:

    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn, conn.begin():
        ...
"""
import os
import re
import urllib.parse

import sqlalchemy
import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.pool import StaticPool

from host_tools.station.errors import BadDatabaseUrl, DatabaseUnavailable

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DEFAULT_URL = "sqlite:///station.db"
SQLITE_BUSY_TIMEOUT_S = 10
URL_HELP = ("use sqlite:///PATH (e.g. sqlite:///station.db, sqlite:////var/lib/station.db) or "
            "postgresql://USER:PASSWORD@HOST:PORT/DBNAME")


def redact(url):
    """The URL with any password replaced by `***`, for messages and logs."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def parse_url(url):
    """(dialect, target) for a --db URL: target is a file path for SQLite, the URL for PostgreSQL."""
    if not isinstance(url, str) or not url.strip():
        raise BadDatabaseUrl("no database URL given: " + URL_HELP)
    url = url.strip()
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise BadDatabaseUrl("bad database URL %r (no scheme): %s" % (redact(url), URL_HELP))
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise BadDatabaseUrl("bad SQLite URL %r: %s" % (redact(url), URL_HELP))
        path = urllib.parse.unquote(rest[1:].split("?", 1)[0])
        if not path:
            raise BadDatabaseUrl("bad SQLite URL %r (no file name): %s" % (url, URL_HELP))
        return SQLITE, path
    if scheme in ("postgresql", "postgres"):
        return POSTGRESQL, url
    raise BadDatabaseUrl("unsupported database %r in %r: %s" % (scheme, redact(url), URL_HELP))


PG_CONNECT_TIMEOUT_S = 5


def make_engine(url, create=True, **options):
    """An Engine for a station URL. create=False refuses a SQLite file that does not exist."""
    dialect, target = parse_url(url)
    if dialect == SQLITE:
        return _sqlite_engine(target, create, options)
    assert dialect == POSTGRESQL
    scheme, rest = url.strip().split("://", 1)
    options.setdefault("pool_pre_ping", True)
    try:
        return sqlalchemy.create_engine(
            "postgresql+psycopg://" + rest,
            connect_args={"connect_timeout": PG_CONNECT_TIMEOUT_S}, **options)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        # The parser's own message repeats the URL, password included.
        raise BadDatabaseUrl("bad PostgreSQL URL %s: %s" % (redact(url), URL_HELP)) from None


def _sqlite_engine(path, create, options):
    if path != ":memory:":
        if not os.path.exists(path):
            if not create:
                raise DatabaseUnavailable(
                    "no station database at %s: register a terminal first (conc station terminals "
                    "add) or give the right --db / CONC_STATION_DB" % path)
            # Create it private before SQLite opens it: the file holds secrets.
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            except OSError as exc:
                raise DatabaseUnavailable("cannot create SQLite database %s (%s): check that its "
                                          "folder exists and is writable"
                                          % (path, exc.strerror)) from None
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S}
    if path == ":memory:":
        # One connection for every thread, or each would see its own empty database.
        options.setdefault("poolclass", StaticPool)
        connect_args["check_same_thread"] = False
    engine = sqlalchemy.create_engine(sqlalchemy.engine.URL.create("sqlite", database=path),
                                      connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        # pysqlite's own transaction handling is turned off so that SQLAlchemy's BEGIN is the
        # one that counts (the documented recipe for SQLite transactions).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if path != ":memory:":
                mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise DatabaseUnavailable("cannot put %s in WAL mode (got %s)" % (path, mode))
            cursor.execute("PRAGMA foreign_keys=ON")
            # FULL: a committed upload survives a power cut. It must: the station confirms the
            # upload and the terminal then forgets it.
            cursor.execute("PRAGMA synchronous=FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn):
        # Straight to the driver: this runs for every transaction, and a statement through
        # SQLAlchemy costs several times what BEGIN does.
        conn.connection.driver_connection.execute(
            "BEGIN " + conn.get_execution_options().get("sqlite_begin", "IMMEDIATE"))

    return engine
