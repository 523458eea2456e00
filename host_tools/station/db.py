"""The station's database: one interface over SQLite and PostgreSQL, on SQLAlchemy Core.

`connect(url)` opens `sqlite:///PATH` (a file, in WAL mode; `sqlite:///:memory:` for a scratch
database) or `postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?options]` (psycopg 3; libpq URI
syntax, so `?host=/path/to/socket/dir` reaches a unix socket) through engine.make_engine. The
station's modules build statements with SQLAlchemy Core (tables.py) or text() with named binds,
and call:

    with db.transaction():              # BEGIN ... COMMIT (ROLLBACK on an exception)
        db.execute(statement, params)   # -> CursorResult; params a dict or a list of dicts
        db.rows(statement, params)      # -> list of tuples
        db.insert_ignoring_duplicates(table, rows)      # -> rows stored

`db.engine` is the SQLAlchemy Engine, for libraries that share the station's database (the
business library runs its own transactions on it).

A Database is shared by threads (the front end runs calls in `asyncio.to_thread`): one lock
serialises its transactions, which is also what SQLite wants (one writer). Driver errors that mean
"cannot reach or open the database" become DatabaseUnavailable; a connection the server dropped
is replaced when the next transaction starts (the pool tests it first).
"""
import contextlib
import sqlite3
import threading

import sqlalchemy
import sqlalchemy.dialects.sqlite
from sqlalchemy import exc as sa_exc

# The URL forms and their parsing belong to engine.py (the one place a URL becomes a
# connection); they are named here too for the station's modules that know only db.
from host_tools.station.engine import (DEFAULT_URL, POSTGRESQL, SQLITE,  # noqa: F401
                                       SQLITE_BUSY_TIMEOUT_S, URL_HELP, make_engine, parse_url,
                                       redact)
from host_tools.station.errors import BadDatabaseUrl, DatabaseUnavailable


def connect(url, create=True):
    """Open the database at `url`. With create=False a missing SQLite file is an error."""
    dialect, _ = parse_url(url)
    return Database(url, make_engine(url, create=create), dialect)


def _first_line(error):
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Database:
    """An Engine, one lock, and the few dialect differences the station's modules need."""

    def __init__(self, url, engine, dialect):
        self.url = redact(url)
        self.engine = engine
        self.dialect = dialect
        self.path = parse_url(url)[1] if dialect == SQLITE else None
        self._lock = threading.RLock()
        self._conn = None               # the Connection of the open transaction
        self._kept = None               # SQLite: the Connection kept between transactions
        self._begin_mode = None
        self._compiled = {}             # table name -> compiled bulk INSERT (SQLite)
        # Fail now, with a clear message, if the database cannot be opened at all.
        with self.transaction(write=False):
            pass

    integrity_errors = (sa_exc.IntegrityError,)

    @contextlib.contextmanager
    def transaction(self, write=True):
        """Run the block in one transaction (nested blocks join the outer one).

        On SQLite a write transaction starts with BEGIN IMMEDIATE: two writers queue on the busy
        timeout instead of one failing when it upgrades a read lock.
        """
        with self._lock:
            if self._conn is not None:
                yield self
                return
            conn = self._connection()
            try:
                if self.dialect == SQLITE:
                    mode = "IMMEDIATE" if write else "DEFERRED"
                    if mode != self._begin_mode:
                        conn.execution_options(sqlite_begin=mode)
                        self._begin_mode = mode
                try:
                    with self._translated():
                        transaction = conn.begin()
                except BaseException:
                    self._release(conn)         # a fresh connection for the next try
                    raise
                self._conn = conn
                try:
                    with self._translated():
                        yield self
                except BaseException:
                    self._conn = None
                    with contextlib.suppress(Exception):
                        transaction.rollback()
                    if conn.in_transaction():
                        self._release(conn)     # the rollback failed: start afresh
                    raise
                self._conn = None
                try:
                    with self._translated():
                        transaction.commit()
                except BaseException:
                    self._end_failed_commit(conn)
                    self._release(conn)         # its Transaction never ended: start afresh
                    raise
            finally:
                self._conn = None
                if conn is not self._kept or conn.invalidated:
                    self._release(conn)

    def _connection(self):
        """A Connection for the next transaction.

        SQLite keeps one for the life of the Database (under the lock, one transaction at a
        time): a pool checkout per transaction cost several times the work of a small query.
        PostgreSQL takes one from the pool each time, which tests it first (pool_pre_ping), so
        a connection the server dropped is replaced before it is used.
        """
        if self._kept is not None:
            return self._kept
        with self._translated():
            conn = self.engine.connect()
        if self.dialect == SQLITE:
            self._kept = conn
            self._begin_mode = None
        return conn

    def _release(self, conn):
        if conn is self._kept:
            self._kept = None
        with contextlib.suppress(Exception):
            conn.close()

    def _end_failed_commit(self, conn):
        """A failed COMMIT (a deferred constraint, busy, disk full) stored nothing, but SQLite
        keeps the transaction open: end it, or the connection's next BEGIN fails."""
        if self.dialect != SQLITE:
            return
        with contextlib.suppress(Exception):
            raw = conn.connection.dbapi_connection
            if raw.in_transaction:
                raw.execute("ROLLBACK")

    @contextlib.contextmanager
    def _translated(self):
        try:
            yield
        except sa_exc.DBAPIError as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from None
        except sqlite3.Error as exc:        # from the driver directly (engine.py's BEGIN)
            mapped = self._translate(sa_exc.DBAPIError.instance(None, None, exc, sqlite3.Error))
            if mapped is None:
                raise
            raise mapped from None
        except sa_exc.ArgumentError:     # a URL SQLAlchemy cannot parse
            raise BadDatabaseUrl("bad database URL %s: %s" % (self.url, URL_HELP)) from None

    def _translate(self, exc):
        """The StationError for a wrapped driver exception, or None to let it through."""
        text = _first_line(exc)
        if self.dialect == SQLITE:
            if isinstance(exc, sa_exc.OperationalError):
                if "locked" in text or "busy" in text:
                    return DatabaseUnavailable(
                        "the SQLite database %s stayed locked by another process for %d s: try "
                        "again" % (self.path, SQLITE_BUSY_TIMEOUT_S))
                if "unable to open" in text or "readonly" in text or "disk I/O" in text:
                    return DatabaseUnavailable("cannot open SQLite database %s (%s): check that "
                                               "its folder exists and is writable"
                                               % (self.path, text))
            if isinstance(exc, sa_exc.DatabaseError) and (
                    "not a database" in text or "malformed" in text):
                return DatabaseUnavailable(
                    "%s is not an intact SQLite database (%s): give the right --db, or restore "
                    "the file from a backup" % (self.path, text))
            return None
        if isinstance(exc, sa_exc.OperationalError) or (
                isinstance(exc, sa_exc.InterfaceError) or exc.connection_invalidated):
            return DatabaseUnavailable("cannot use PostgreSQL database %s: %s (check that the "
                                       "server is running and the URL is right)"
                                       % (self.url, redact(text)))
        if isinstance(exc, sa_exc.ProgrammingError) and "connection" in text.lower() \
                and self._conn is None:
            return BadDatabaseUrl("bad PostgreSQL URL %s: %s (%s)" % (self.url, redact(text),
                                                                       URL_HELP))
        return None

    @property
    def connection(self):
        """The SQLAlchemy Connection of the open transaction (for Alembic and inspection)."""
        return self._conn

    @staticmethod
    def _statement(statement):
        return sqlalchemy.text(statement) if isinstance(statement, str) else statement

    def execute(self, statement, params=None):
        """Run a Core statement (or SQL text with :named binds) in the open transaction.
        params: a dict, or a list of dicts to run it for each (executemany)."""
        if self._conn is None:
            raise RuntimeError("Database.execute outside `with db.transaction():`")
        return self._conn.execute(self._statement(statement), params)

    def rows(self, statement, params=None):
        return self.execute(statement, params).fetchall()

    def row(self, statement, params=None):
        return self.execute(statement, params).first()

    def scalar(self, statement, params=None):
        found = self.row(statement, params)
        return None if found is None else found[0]

    def insert_ignoring_duplicates(self, table, rows):
        """Insert rows (tuples in the table's column order) skipping those whose key is already
        stored; the number stored."""
        if not rows:
            return 0
        names = [c.name for c in table.columns]
        if self.dialect == POSTGRESQL:
            # One statement per batch: the rows travel as one array per column and unnest()
            # turns them back into rows, several times faster than a statement per row.
            casts = ", ".join("CAST(:%s AS %s[])" % (name, column.type.compile(
                self.engine.dialect)) for name, column in zip(names, table.columns, strict=True))
            sql = "INSERT INTO %s (%s) SELECT * FROM unnest(%s) ON CONFLICT DO NOTHING" % (
                table.name, ", ".join(names), casts)
            params = {name: list(values) for name, values in zip(names, zip(*rows, strict=True),
                                                                  strict=True)}
            return max(self.execute(sql, params).rowcount, 0)
        sql, order = self._sqlite_insert(table)
        if order is not None:
            rows = [tuple(row[i] for i in order) for row in rows]
        # SQLAlchemy turns each row of an executemany into a dict and back (most of the time
        # of an upload); the statement compiled once for the driver takes the tuples as they are.
        return max(self._conn.exec_driver_sql(sql, rows).rowcount, 0)  # pyright: ignore[reportOptionalMemberAccess] - inside a transaction; SQLite insert statements have positions

    def _sqlite_insert(self, table):
        """(SQL, column order or None) of the Core INSERT .. ON CONFLICT DO NOTHING of all of
        `table`'s columns, compiled for the driver (positional binds)."""
        found = self._compiled.get(table.name)
        if found is None:
            statement = sqlalchemy.dialects.sqlite.insert(table).on_conflict_do_nothing()
            compiled = statement.values({c.name: sqlalchemy.bindparam(c.name)
                                         for c in table.columns}).compile(dialect=self.engine.dialect)
            names = [c.name for c in table.columns]
            positions = [names.index(name) for name in compiled.positiontup]  # pyright: ignore[reportOptionalIterable] - inside a transaction; SQLite insert statements have positions
            found = (compiled.string, None if positions == list(range(len(names))) else positions)
            self._compiled[table.name] = found
        return found

    def close(self):
        with self._lock:
            if self._kept is not None:
                self._release(self._kept)
            self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
