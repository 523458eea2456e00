"""Database URLs, engines and schema migrations."""
import sqlite3

import pytest

from host_tools.station import db as dbmod
from host_tools.station import schema
from host_tools.station.errors import BadDatabaseUrl, DatabaseUnavailable, SchemaMismatch
from host_tools.station.repository import open_station


@pytest.mark.parametrize("url,expected", [
    ("sqlite:///station.db", ("sqlite", "station.db")),
    ("sqlite:////var/lib/conc/station.db", ("sqlite", "/var/lib/conc/station.db")),
    ("sqlite:///:memory:", ("sqlite", ":memory:")),
    ("postgresql://u:p@db:5432/station", ("postgresql", "postgresql://u:p@db:5432/station")),
    ("postgres://u@db/station", ("postgresql", "postgres://u@db/station")),
])
def test_urls(url, expected):
    assert dbmod.parse_url(url) == expected


@pytest.mark.parametrize("url", ["", "station.db", "mysql://u@h/db", "sqlite://station.db",
                                 "sqlite:///"])
def test_bad_urls_say_what_works(url):
    with pytest.raises(BadDatabaseUrl, match="sqlite:///PATH"):
        dbmod.parse_url(url)


def test_passwords_in_urls_are_redacted():
    assert dbmod.redact("postgresql://station:s3cret@db:5432/x") == \
        "postgresql://station:***@db:5432/x"
    with pytest.raises(DatabaseUnavailable) as info:
        dbmod.connect("postgresql://station:s3cret@127.0.0.1:1/x")
    assert "s3cret" not in str(info.value) and "127.0.0.1" in str(info.value)


def test_sqlite_file_is_wal_and_must_exist_for_readers(tmp_path):
    path = tmp_path / "station.db"
    with pytest.raises(DatabaseUnavailable, match="no station database"):
        open_station("sqlite:///%s" % path, create=False)
    assert not path.exists()
    open_station("sqlite:///%s" % path).close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    open_station("sqlite:///%s" % path, create=False).close()
    with pytest.raises(DatabaseUnavailable, match="folder"):
        open_station("sqlite:///%s" % (tmp_path / "missing" / "station.db"))


def test_readers_are_not_blocked_by_a_writer(tmp_path):
    url = "sqlite:///%s" % (tmp_path / "station.db")
    with open_station(url) as writer, open_station(url, create=False) as reader:
        t = writer.add_terminal("4101", 1, "00")
        with writer.db.transaction():
            writer.db.execute("UPDATE terminals SET name = 'busy' WHERE id = ?", (t.id,))
            assert reader.terminal(t.id).name == ""      # WAL: the old committed state
        assert reader.terminal(t.id).name == "busy"


def test_migrations_are_recorded_and_idempotent(db_url):
    database = dbmod.connect(db_url)
    try:
        assert schema.current_version(database) == 0
        assert schema.migrate(database, 1000) == [v for v, _, _ in schema.MIGRATIONS]
        assert schema.migrate(database, 2000) == []
        assert schema.check_version(database) == schema.LATEST
        with database.transaction(write=False):
            rows = database.rows("SELECT version, applied_at FROM schema_version")
        assert rows == [(v, 1000) for v, _, _ in schema.MIGRATIONS]
        # a database from a newer station is refused, never misread
        with database.transaction():
            database.execute("INSERT INTO schema_version (version, description, applied_at) "
                             "VALUES (?, 'future', 0)", (schema.LATEST + 1,))
    finally:
        database.close()
    with pytest.raises(SchemaMismatch, match="newer"):
        open_station(db_url)
    with pytest.raises(SchemaMismatch, match="upgrade"):
        open_station(db_url, create=False)


def test_unmigrated_or_foreign_databases_are_refused(db_url):
    database = dbmod.connect(db_url)
    try:
        with pytest.raises(SchemaMismatch, match="migrate"):
            schema.check_version(database)
        with database.transaction():
            database.execute("CREATE TABLE invoices (id INTEGER)")
        with pytest.raises(SchemaMismatch, match="invoices"):
            schema.migrate(database, 0)
    finally:
        database.close()


def test_same_tables_on_both_engines():
    for dialect in (dbmod.SQLITE, dbmod.POSTGRESQL):
        created = [s.split()[2] for s in schema.statements(schema.V1, dialect)
                   if s.startswith("CREATE TABLE")]
        assert created == ["terminals", "measuring_points", "readings", "point_collection",
                           "daily_frozen", "monthly_frozen", "events", "commands",
                           "command_steps", "sessions", "denied_logins"]


def test_a_broken_postgres_connection_is_reopened(postgres_server):
    db_url = postgres_server.create_database("reopen")
    with open_station(db_url) as station:
        station.add_terminal("4101", 1, "00")
        with station.db.transaction():
            pid = station.db.scalar("SELECT pg_backend_pid()")
        import psycopg
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(DatabaseUnavailable):
            station.terminals()
        assert [t.label for t in station.terminals()] == ["4101-1"]


def test_a_later_migration_upgrades_a_database_with_data(db_url, monkeypatch):
    with open_station(db_url) as station:
        station.add_terminal("4101", 1, "00", name="kept")
    step = (schema.LATEST + 1, "terminals get a note",
            "ALTER TABLE terminals ADD COLUMN note TEXT NOT NULL DEFAULT ''")
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS + [step])
    monkeypatch.setattr(schema, "LATEST", step[0])
    with pytest.raises(SchemaMismatch, match="conc station migrate"):
        open_station(db_url, create=False)     # readers never migrate
    database = dbmod.connect(db_url)
    try:
        assert schema.migrate(database, 5000) == [step[0]]
        with database.transaction(write=False):
            assert database.rows("SELECT name, note FROM terminals") == [("kept", "")]
            assert [v for (v,) in database.rows(
                "SELECT version FROM schema_version ORDER BY version")] == \
                [v for v, _, _ in schema.MIGRATIONS]
    finally:
        database.close()
    with open_station(db_url, create=False) as station:
        assert station.terminal("kept").label == "4101-1"


def test_a_failed_commit_leaves_the_connection_usable(tmp_path):
    with open_station("sqlite:///%s" % (tmp_path / "s.db")) as station:
        db = station.db
        with pytest.raises(sqlite3.IntegrityError):
            with db.transaction():
                db.execute("PRAGMA defer_foreign_keys = ON")    # the check moves to COMMIT
                db.execute("INSERT INTO sessions (terminal_id, started_at) VALUES (99, 0)")
        assert station.add_terminal("4101", 1, "00").label == "4101-1"
        with db.transaction(write=False):
            assert db.scalar("SELECT COUNT(*) FROM sessions") == 0
