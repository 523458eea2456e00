"""Database engines for the master station: one small interface over SQLite and PostgreSQL.

`connect(url)` opens `sqlite:///PATH` (a file, in WAL mode; `sqlite:///:memory:` for a scratch
database) or `postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?options]` (psycopg 3; libpq URI
syntax, so `?host=/path/to/socket/dir` reaches a unix socket). The rest of the station writes SQL
once, with `?` placeholders and the types both engines share, and calls:

    with db.transaction():              # BEGIN ... COMMIT (ROLLBACK on an exception)
        db.execute(sql, params)         # -> cursor
        db.rows(sql, params)            # -> list of tuples
        db.insert_ignoring_duplicates(table, columns, pg_types, rows)   # -> rows stored

A Database is shared by threads (the front end runs calls in `asyncio.to_thread`): one lock
serialises transactions on its single connection, which is also what SQLite wants (one writer).
Driver errors that mean "cannot reach or open the database" become DatabaseUnavailable; a broken
PostgreSQL connection is reopened by the next transaction.
"""
import contextlib
import os
import re
import sqlite3
import threading
import urllib.parse

from host_tools.station.errors import BadDatabaseUrl, DatabaseUnavailable

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
DEFAULT_URL = "sqlite:///station.db"
SQLITE_BUSY_TIMEOUT_S = 10
PG_CONNECT_TIMEOUT_S = 5
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


def connect(url, create=True):
    """Open the database at `url`. With create=False a missing SQLite file is an error."""
    dialect, target = parse_url(url)
    if dialect == SQLITE:
        if not create and target != ":memory:" and not os.path.exists(target):
            raise DatabaseUnavailable(
                "no station database at %s: register a terminal first (conc station terminals "
                "add) or give the right --db / CONC_STATION_DB" % target)
        return SQLiteDatabase(url, target)
    return PostgresDatabase(url)


class Database:
    """One connection, one lock, and the SQL dialect differences the station needs."""

    dialect = None

    def __init__(self, url):
        self.url = redact(url)
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = None

    # -- to be provided by each engine
    def _open(self):
        raise NotImplementedError

    def _begin(self, write):
        raise NotImplementedError

    def _end(self, commit):
        raise NotImplementedError

    def _sql(self, sql):
        return sql

    def _translate(self, exc):
        """The StationError for a driver exception, or None to let it through."""
        return None

    def insert_ignoring_duplicates(self, table, columns, pg_types, rows):
        raise NotImplementedError

    # -- shared
    @property
    def integrity_errors(self):
        raise NotImplementedError

    @contextlib.contextmanager
    def transaction(self, write=True):
        """Run the block in one transaction (nested blocks join the outer one)."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            with self._translated():
                if self._conn is None or self._is_broken():
                    self._reopen()
                self._begin(write)
            self._depth = 1
            try:
                with self._translated():
                    yield self
            except BaseException:
                self._depth = 0
                with contextlib.suppress(Exception):
                    self._end(commit=False)
                raise
            self._depth = 0
            try:
                with self._translated():
                    self._end(commit=True)
            except BaseException:
                # A failed COMMIT (busy, disk full) can leave the transaction open: close it so
                # the next call starts clean; nothing of this one was stored.
                with contextlib.suppress(Exception):
                    self._end(commit=False)
                raise

    @contextlib.contextmanager
    def _translated(self):
        try:
            yield
        except Exception as exc:
            mapped = self._translate(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def _is_broken(self):
        return False

    def _reopen(self):
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        self._conn = self._open()

    def execute(self, sql, params=()):
        return self._conn.execute(self._sql(sql), params)

    def executemany(self, sql, seq):
        """Run `sql` for every parameter tuple; the number of rows changed."""
        cur = self._conn.cursor()
        cur.executemany(self._sql(sql), seq)
        return max(cur.rowcount, 0)

    def rows(self, sql, params=()):
        return self.execute(sql, params).fetchall()

    def row(self, sql, params=()):
        return self.execute(sql, params).fetchone()

    def scalar(self, sql, params=()):
        found = self.row(sql, params)
        return None if found is None else found[0]

    def close(self):
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    self._conn.close()
                self._conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SQLiteDatabase(Database):
    """A station database in one SQLite file: WAL journal, synchronous=FULL, foreign keys on.

    WAL lets `conc station readings` read while the front end writes; FULL makes a committed
    upload survive a power cut, because the station confirms it and the terminal then forgets it.
    """

    dialect = SQLITE

    def __init__(self, url, path):
        super().__init__(url)
        self.path = path
        with self._translated():
            self._reopen()

    @property
    def integrity_errors(self):
        return (sqlite3.IntegrityError,)

    def _open(self):
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                               timeout=SQLITE_BUSY_TIMEOUT_S)
        try:
            if self.path != ":memory:":
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise DatabaseUnavailable("cannot put %s in WAL mode (got %s)" % (self.path, mode))
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _begin(self, write):
        # IMMEDIATE takes the write lock up front, so two writers wait (busy timeout) instead of
        # one failing when it upgrades a read lock.
        self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    def _end(self, commit):
        self._conn.execute("COMMIT" if commit else "ROLLBACK")

    def _translate(self, exc):
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc)
            if "locked" in text or "busy" in text:
                return DatabaseUnavailable("the SQLite database %s stayed locked by another process "
                                           "for %d s: try again" % (self.path, SQLITE_BUSY_TIMEOUT_S))
            if "unable to open" in text or "readonly" in text or "disk" in text:
                return DatabaseUnavailable("cannot open SQLite database %s (%s): check that its "
                                           "folder exists and is writable" % (self.path, text))
        if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
            return DatabaseUnavailable("%s is not an SQLite database: give the right --db"
                                       % self.path)
        return None

    def insert_ignoring_duplicates(self, table, columns, pg_types, rows):
        sql = "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING" % (
            table, ", ".join(columns), ", ".join("?" * len(columns)))
        return self.executemany(sql, rows)


class PostgresDatabase(Database):
    """A station database on a PostgreSQL server, through psycopg 3 (autocommit + explicit BEGIN)."""

    dialect = POSTGRESQL

    def __init__(self, url):
        super().__init__(url)
        self._raw_url = url
        self._sql_cache = {}
        import psycopg   # imported here so SQLite users never load it
        self._psycopg = psycopg
        with self._translated():
            self._reopen()

    @property
    def integrity_errors(self):
        return (self._psycopg.errors.IntegrityError,)

    def _open(self):
        url = self._raw_url
        if url.lower().startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://"):]
        return self._psycopg.connect(url, autocommit=True, connect_timeout=PG_CONNECT_TIMEOUT_S)

    def _is_broken(self):
        return self._conn.closed or self._conn.broken

    def _begin(self, write):
        self._conn.execute("BEGIN")

    def _end(self, commit):
        self._conn.execute("COMMIT" if commit else "ROLLBACK")

    def _sql(self, sql):
        converted = self._sql_cache.get(sql)
        if converted is None:
            converted = sql.replace("%", "%%").replace("?", "%s")
            self._sql_cache[sql] = converted
        return converted

    def _translate(self, exc):
        if isinstance(exc, self._psycopg.OperationalError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return DatabaseUnavailable("cannot use PostgreSQL database %s: %s (check that the "
                                       "server is running and the URL is right)" % (self.url, first))
        return None

    def insert_ignoring_duplicates(self, table, columns, pg_types, rows):
        # One statement per batch: the rows travel as one array per column and unnest() turns
        # them back into rows, which is several times faster than executemany round trips.
        if not rows:
            return 0
        sql = "INSERT INTO %s (%s) SELECT * FROM unnest(%s) ON CONFLICT DO NOTHING" % (
            table, ", ".join(columns), ", ".join("%%s::%s[]" % t for t in pg_types))
        cur = self._conn.execute(sql, [list(col) for col in zip(*rows, strict=True)])
        return max(cur.rowcount, 0)
