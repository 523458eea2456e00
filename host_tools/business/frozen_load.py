"""Bulk load of daily frozen values (AFN0D F161): a year for 10,000 meters is 18 million rows.

    with bulk_load(conn, days, received_at, scale=4) as load:
        load.series(terminal_id, pn, "energy_fwd_total", first, values)  # values[i]: day first+i
    load.rows                                                    # how many went in

A series is one register of one meter over consecutive days (`days[first:]`, labels
'YYYY-MM-DD', `received_at` the epoch each day's values arrived); None is a day not read. Rows
go in in the caller's transaction, through each engine's fastest path:

- SQLite: a series is one statement whose values travel as a JSON array that SQLite expands
  itself (json_each, joined to a temp table of the days), because binding 8 parameters per row
  from Python costs about four times what SQLite spends storing the row.
- PostgreSQL: one COPY of pre-formatted text, with the table's keys, foreign keys and indexes
  dropped for the load and made again after it (an index built once from sorted rows instead
  of 18 million index insertions and foreign-key trigger calls), then ANALYZE, so the planner
  knows the table's new size. The table is locked (ACCESS EXCLUSIVE) until the transaction ends.
"""
import contextlib
import json

from sqlalchemy import text

TABLE = "daily_frozen"
COLUMNS = ("terminal_id", "pn", "item", "day", "value", "scale", "read_at", "received_at")
SQLITE_SERIES_PER_BATCH = 2000
COPY_CHUNK_CHARS = 1 << 20
INDEX_MEMORY = "256MB"              # maintenance_work_mem for building the key after the load


@contextlib.contextmanager
def bulk_load(conn, days, received_at, scale):
    """A loader for daily frozen series (see the module's doc) in `conn`'s transaction."""
    if conn.dialect.name == "postgresql":
        with _postgresql(conn, days, received_at, scale) as load:
            yield load
    else:
        with _sqlite(conn, days, received_at, scale) as load:
            yield load


class _SqliteLoad:
    INSERT = ("INSERT INTO %s (%s) SELECT ?1, ?2, ?3, d.day, v.value, ?4, NULL, d.received_at "
              "FROM json_each(?6) AS v JOIN temp.bulk_days AS d ON d.k = ?5 + v.key "
              "WHERE v.type = 'integer'" % (TABLE, ", ".join(COLUMNS)))

    def __init__(self, cursor, scale):
        self.cursor, self.scale = cursor, scale
        self.pending, self.rows = [], 0

    def series(self, terminal_id, pn, item, first, values):
        self.pending.append((terminal_id, pn, item, self.scale, first, json.dumps(values)))
        self.rows += sum(1 for v in values if v is not None)
        if len(self.pending) >= SQLITE_SERIES_PER_BATCH:
            self.flush()

    def flush(self):
        if self.pending:
            self.cursor.executemany(self.INSERT, self.pending)
            self.pending = []


@contextlib.contextmanager
def _sqlite(conn, days, received_at, scale):
    cursor = conn.connection.dbapi_connection.cursor()
    cache = cursor.execute("PRAGMA cache_size").fetchone()[0]
    try:
        # A big page cache keeps the b-tree's inner pages in memory through the load.
        cursor.execute("PRAGMA cache_size=-262144")
        # The temp table goes with the transaction if the load fails.
        cursor.execute("CREATE TEMP TABLE bulk_days (k INTEGER PRIMARY KEY, day TEXT NOT NULL, "
                       "received_at BIGINT NOT NULL)")
        cursor.executemany("INSERT INTO temp.bulk_days VALUES (?, ?, ?)",
                           list(zip(range(len(days)), days, received_at, strict=True)))
        load = _SqliteLoad(cursor, scale)
        yield load
        load.flush()
        cursor.execute("DROP TABLE temp.bulk_days")
    finally:
        cursor.execute("PRAGMA cache_size=%d" % cache)
        cursor.close()


class _PostgresLoad:
    def __init__(self, copy, days, received_at, scale):
        self.copy = copy
        self.days = days
        self.tails = ["\t%d\t\\N\t%d\n" % (scale, at) for at in received_at]
        self.chunk, self.size, self.rows = [], 0, 0

    def series(self, terminal_id, pn, item, first, values):
        head, days, tails = "%d\t%d\t%s\t" % (terminal_id, pn, item), self.days, self.tails
        lines = [f"{head}{days[k]}\t{v}{tails[k]}"
                 for k, v in enumerate(values, first) if v is not None]
        self.rows += len(lines)
        block = "".join(lines)
        self.chunk.append(block)
        self.size += len(block)
        if self.size >= COPY_CHUNK_CHARS:
            self.flush()

    def flush(self):
        if self.chunk:
            self.copy.write("".join(self.chunk))
            self.chunk, self.size = [], 0


@contextlib.contextmanager
def _postgresql(conn, days, received_at, scale):
    # Keys first when made again: a foreign key of the table may lean on its own key.
    constraints = conn.execute(text(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = CAST(:table AS regclass) AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype = 'f', conname"), {"table": TABLE}).all()
    indexes = conn.execute(text(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid = CAST(:table AS regclass) AND NOT EXISTS ("
        "SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)"),
        {"table": TABLE}).all()
    for name, _ in constraints[::-1]:
        conn.exec_driver_sql('ALTER TABLE %s DROP CONSTRAINT "%s"' % (TABLE, name))
    for name, _ in indexes:
        conn.exec_driver_sql("DROP INDEX %s" % name)
    cursor = conn.connection.driver_connection.cursor()
    with cursor.copy("COPY %s (%s) FROM STDIN" % (TABLE, ", ".join(COLUMNS))) as copy:
        load = _PostgresLoad(copy, days, received_at, scale)
        yield load
        load.flush()
    conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '%s'" % INDEX_MEMORY)
    for name, definition in constraints:
        conn.exec_driver_sql('ALTER TABLE %s ADD CONSTRAINT "%s" %s' % (TABLE, name, definition))
    for _, definition in indexes:
        conn.exec_driver_sql(definition)
    conn.exec_driver_sql("ANALYZE %s" % TABLE)
