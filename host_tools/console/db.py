"""The console's transactions: reads that do not queue behind writers, writes that do.

The station's engine (host_tools/station/engine.py) begins SQLite transactions with BEGIN
IMMEDIATE, the write lock up front, so a write never fails because `conc station serve`
committed between its read and its write. Pages only read: they say so (DEFERRED) and take no
lock, so a dashboard never waits for the front end's ingest. On PostgreSQL both are plain
transactions.

    with reading(engine) as conn: ...     # SELECTs
    with writing(engine) as conn: ...     # reads and writes, committed at the end
"""
import contextlib


@contextlib.contextmanager
def reading(engine):
    with engine.connect().execution_options(sqlite_begin="DEFERRED") as conn, conn.begin():
        yield conn


@contextlib.contextmanager
def writing(engine):
    with engine.begin() as conn:
        yield conn
