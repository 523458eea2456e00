"""Write transactions of the console that do not fail when another process writes meanwhile.

SQLite in WAL mode: a transaction that has read and then writes fails at once with "database is
locked" if another connection (`conc station serve` storing readings, the alarm loop) committed
in between; the busy timeout does not help, because its snapshot is already stale. So a console
write transaction takes the write lock with its first statement (waiting its turn within the busy
timeout) before it reads anything. On PostgreSQL this is a plain transaction.

    with writing(engine) as conn:
        ...                               # reads and writes, committed at the end
"""
import contextlib

# A write statement that changes nothing: enough for SQLite to take the write lock.
_TAKE_WRITE_LOCK = "UPDATE business_settings SET key = key WHERE 1 = 0"


@contextlib.contextmanager
def writing(engine):
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(_TAKE_WRITE_LOCK)
        yield conn
