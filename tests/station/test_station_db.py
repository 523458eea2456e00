"""Database URLs, engines and schema migrations."""
import importlib.util
import os
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from host_tools.station import db as dbmod
from host_tools.station import schema, tables
from host_tools.station.errors import (BadDatabaseUrl, DatabaseUnavailable, SchemaMismatch,
                                       StationError)
from host_tools.station.repository import open_station

DATA = Path(__file__).parent / "data"


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
            writer.db.execute("UPDATE terminals SET name = 'busy' WHERE id = :id", {"id": t.id})
            assert reader.terminal(t.id).name == ""      # WAL: the old committed state
        assert reader.terminal(t.id).name == "busy"


def test_the_database_file_is_private(tmp_path):
    path = tmp_path / "station.db"
    open_station("sqlite:///%s" % path).close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_engine_is_shared(db_url):
    """Libraries on SQLAlchemy Core (the business half) use the station's own Engine."""
    with open_station(db_url) as station:
        station.add_terminal("4101", 1, "00", name="shared")
        assert station.engine is station.db.engine
        with station.engine.connect() as conn:
            assert conn.execute(select(tables.terminals.c.name)).scalar_one() == "shared"


def test_migrations_are_recorded_and_idempotent(db_url):
    database = dbmod.connect(db_url)
    try:
        assert schema.current_version(database) is None
        assert schema.migrate(database, 1000) == schema.revisions()
        assert schema.revisions()[0] == "0001_v1"
        assert schema.migrate(database, 2000) == []
        assert schema.check_version(database) == schema.head()
        with database.transaction(write=False):
            assert database.rows("SELECT version, applied_at FROM schema_version "
                                 "ORDER BY version") == [(1, 1000), (2, 1000)]
        with database.transaction():
            # a database from a newer station is refused, never misread
            database.execute("UPDATE alembic_version SET version_num = '9999_future'")
    finally:
        database.close()
    with pytest.raises(SchemaMismatch, match="newer"):
        open_station(db_url)
    with pytest.raises(SchemaMismatch, match="upgrade the station software"):
        open_station(db_url, create=False)


def test_the_tables_match_what_the_migrations_create(db_url):
    """tables.py (what queries are built from) and the migrated schema agree on both engines."""
    with open_station(db_url) as station, station.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, tables.metadata)
                       if not (d[0] == "remove_table" and d[1].name == "schema_version")
                       # business-core: later revisions' tables are checked by their owners
                       # (tests/business/test_migration.py), and so are their foreign keys
                       and not _of_a_later_revision(d)
                       # SQLite's reflection leaves out ON DELETE: PostgreSQL checks it
                       and not (station.db.dialect == dbmod.SQLITE and d[0].endswith("_fk"))]
    assert differences == []


def _of_a_later_revision(diff):
    """business-core: a difference about a table tables.py does not describe, or a foreign
    key into one (commands.user_id -> users)."""
    if not isinstance(diff, tuple) or not diff or not isinstance(diff[0], str):
        return False
    item = diff[1]
    if diff[0] in ("remove_table", "add_table"):
        return item.name not in tables.metadata.tables
    if diff[0] in ("remove_fk", "add_fk"):
        return (item.parent.name not in tables.metadata.tables
                or item.referred_table.name not in tables.metadata.tables)
    table = getattr(item, "table", None)
    return table is not None and table.name not in tables.metadata.tables


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


def _revision(name):
    path = os.path.join(schema.MIGRATIONS, "versions", name + ".py")
    spec = importlib.util.spec_from_file_location("revision_" + name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _make_v1_database(db_url):
    """A database as the station made it before Alembic, through the driver: the V1 DDL (kept
    word for word in revision 0001_v1), its `schema_version` table at 1, and some data."""
    dialect, target = dbmod.parse_url(db_url)
    if dialect == dbmod.SQLITE:
        conn = sqlite3.connect(target)
    else:
        import psycopg
        conn = psycopg.connect(db_url)
    v1 = _revision("0001_v1")
    with conn:
        for statement in v1.statements(v1.V1, dialect):
            conn.execute(statement)
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at %s NOT NULL)"
                     % v1.TYPES[dialect]["bigint"])
        conn.execute("INSERT INTO schema_version VALUES (1, 'V1', 1000)")
        conn.execute("INSERT INTO terminals (area_code, address, name, password, created_at) "
                     "VALUES ('4101', 1, 'north-yard', '%s', 1000)" % ("ab" * 16))
        # items under the 1376.1 names the station used before revision 0006
        for item, value in (("F129.0", 123456), ("F129.1", 23456), ("F130.0", 71),
                            ("F131.12", 5), ("F136.2", 9), ("voltage_a", 2201)):
            conn.execute("INSERT INTO readings VALUES (1, 3, '%s', 1796083200, %d, 2, 1000)"
                         % (item, value))
        for item, value in (("F161.0", 120000), ("F161.4", 30000), ("F163.0", 17)):
            conn.execute("INSERT INTO daily_frozen VALUES (1, 3, '%s', '2026-11-30', %d, 4, "
                         "NULL, 1000)" % (item, value))
        for item, value in (("F177.0", 110000), ("F180.3", 42)):
            conn.execute("INSERT INTO monthly_frozen VALUES (1, 3, '%s', '2026-11', %d, 4, NULL, "
                         "1000)" % (item, value))
        # a reading somebody already stored under the new name: it stays, its old twin goes
        conn.execute("INSERT INTO readings VALUES (1, 3, 'F129.0', 1796084100, 1, 2, 1000)")
        conn.execute("INSERT INTO readings VALUES (1, 3, 'energy_fwd_total', 1796084100, 2, 2, "
                     "1000)")
    conn.close()


def _migrate_cli(db_url):
    from click.testing import CliRunner

    from host_tools.cli import conc
    result = CliRunner().invoke(conc, ["station", "migrate", "--db", db_url])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_v1_database_upgrades_in_place_without_loss(db_url):
    _make_v1_database(db_url)
    if schema.head() == schema.FIRST:
        with open_station(db_url, create=False, zone="UTC") as station:  # readable as it is
            assert station.terminal("north-yard").label == "4101-1"
    else:               # a later revision is needed: opening it read-only says what to run
        with pytest.raises(SchemaMismatch, match="run `conc station migrate"):
            open_station(db_url, create=False, zone="UTC")
    assert "pre-Alembic" in _migrate_cli(db_url)
    with open_station(db_url, zone="UTC") as station:
        assert schema.current_version(station.db) == schema.head()
        t = station.terminal("north-yard")
        assert station.terminal_password(t.id) == bytes.fromhex("ab" * 16)
        # the old readings answer under the new names, values exact, in the same tables
        got = station.readings(t.id, 3, 1796083200, 1796083201)
        assert [(r.item, str(r.value)) for r in got] == [
            ("energy_fwd_total", "1234.56"), ("energy_fwd_t1", "234.56"),
            ("energy_fwd_reactive_total", "0.71"), ("energy_rev_t12", "0.05"),
            ("energy_q4_reactive_t2", "0.09"), ("voltage_a", "22.01")]
        assert [(f.item, str(f.value)) for f in station.frozen(
            "daily", t.id, 3, "2026-11-30", "2026-11-30")] == [
            ("energy_fwd_total", "12.0000"), ("energy_fwd_t4", "3.0000"),
            ("energy_rev_total", "0.0017")]
        assert [(f.item, str(f.value)) for f in station.frozen(
            "monthly", t.id, 3, "2026-11", "2026-11")] == [
            ("energy_fwd_total", "11.0000"), ("energy_rev_reactive_t3", "0.0042")]
        assert [(r.item, str(r.value)) for r in station.readings(
            t.id, 3, 1796084100, 1796084101)] == [("energy_fwd_total", "0.02")]
        with station.db.transaction(write=False):
            assert station.db.scalar("SELECT MAX(version) FROM schema_version") == 2
        station.add_terminal("4101", 2, "00")       # and it takes new data
        assert [x.label for x in station.terminals()] == ["4101-1", "4101-2"]


def test_the_item_renaming_revision_goes_back_and_forth(db_url):
    """0006_item_names downgraded gives the old names back, and upgraded again the new ones."""
    _make_v1_database(db_url)
    _migrate_cli(db_url)
    database = dbmod.connect(db_url)
    try:
        with database.transaction():
            command.downgrade(schema._config(database.connection, 2000, schema.MIGRATIONS),
                              "0005_front_ends")
        with database.transaction(write=False):
            assert sorted(database.rows("SELECT item, value FROM daily_frozen")) == [
                ("F161.0", 120000), ("F161.4", 30000), ("F163.0", 17)]
            assert sorted(database.rows("SELECT item FROM monthly_frozen")) == [
                ("F177.0",), ("F180.3",)]
        assert schema.migrate(database, 3000) == ["0006_item_names"]
        with database.transaction(write=False):
            assert sorted(database.rows("SELECT item FROM readings WHERE read_at = 1796083200")) \
                == [("energy_fwd_reactive_total",), ("energy_fwd_t1",), ("energy_fwd_total",),
                    ("energy_q4_reactive_t2",), ("energy_rev_t12",), ("voltage_a",)]
    finally:
        database.close()


def test_a_v1_file_made_by_the_old_station_upgrades(tmp_path):
    """tests/station/data/v1_station.db was written by the pre-Alembic station (commit d09ad2a)
    with terminals, an archive, readings, frozen values, an event, a session and a command."""
    path = tmp_path / "station.db"
    shutil.copy(DATA / "v1_station.db", path)
    url = "sqlite:///%s" % path
    _migrate_cli(url)
    with open_station(url, zone="Asia/Shanghai") as station:
        assert schema.current_version(station.db) == schema.head()
        t = station.terminal("north-yard")
        assert station.terminal_password(t.id) == bytes.fromhex("1234" + "00" * 14)
        assert [p.pn for p in station.measuring_points(t.id)] == [1, 2]
        got = station.readings(t.id, 1, 0, 2 ** 40)
        assert [(r.item, str(r.value)) for r in got] == [
            ("energy_fwd_total", "1234.56"), ("energy_fwd_t1", "1235.56"),
            ("energy_fwd_t2", "1236.56"), ("energy_fwd_t3", "1237.56"),
            ("energy_fwd_t4", "1238.56")]
        assert [(f.item, str(f.value)) for f in station.frozen(
            "daily", t.id, 1, "2026-11-30", "2026-11-30")] == [("energy_fwd_total", "1200.00")]
        assert [(f.item, str(f.value)) for f in station.frozen(
            "monthly", t.id, 1, "2026-11", "2026-11")] == [("energy_fwd_total", "1100.00")]
        assert [e.erc for e in station.events()] == [14]
        assert [c.state for c in station.commands()] == ["confirmed"]
        assert len(station.command_steps(1)) == 3
        assert station.denied_logins()[0][4] == "unknown terminal"


def test_a_broken_postgres_connection_is_replaced(postgres_server, tmp_path, monkeypatch):
    monkeypatch.setenv("CONC_STATION_KEY", str(tmp_path / "station.key"))
    db_url = postgres_server.create_database("reopen")
    with open_station(db_url) as station:
        station.add_terminal("4101", 1, "00")
        with station.db.transaction():
            pid = station.db.scalar("SELECT pg_backend_pid()")
        import psycopg
        with psycopg.connect(db_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        # the pool tests a connection before it hands it out: the next call just works
        assert [t.label for t in station.terminals()] == ["4101-1"]


LATER = '''"""A test revision after the newest: terminals get a note."""
import sqlalchemy as sa
from alembic import op

revision = "9999_note"
down_revision = %r


def upgrade():
    op.add_column("terminals", sa.Column("note", sa.Text, nullable=False, server_default=""))
'''


def test_a_later_migration_upgrades_a_database_with_data(db_url, tmp_path):
    with open_station(db_url) as station:
        station.add_terminal("4101", 1, "00", name="kept")
    location = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9999_note.py").write_text(LATER % schema.head())
    database = dbmod.connect(db_url)
    try:
        with pytest.raises(SchemaMismatch, match="conc station migrate"):
            schema.check_version(database, str(location))      # readers never migrate
        assert schema.migrate(database, 5000, str(location)) == ["9999_note"]
        assert schema.check_version(database, str(location)) == "9999_note"
        with database.transaction(write=False):
            assert database.rows("SELECT name, note FROM terminals") == [("kept", "")]
    finally:
        database.close()
    with pytest.raises(SchemaMismatch, match="newer"):      # this station does not know it
        open_station(db_url, create=False)


def test_a_failed_commit_leaves_the_connection_usable(tmp_path):
    with open_station("sqlite:///%s" % (tmp_path / "s.db")) as station:
        db = station.db
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            with db.transaction():
                db.execute("PRAGMA defer_foreign_keys = ON")    # the check moves to COMMIT
                db.execute("INSERT INTO sessions (terminal_id, started_at) VALUES (99, 0)")
        assert station.add_terminal("4101", 1, "00").label == "4101-1"
        with db.transaction(write=False):
            assert db.scalar("SELECT COUNT(*) FROM sessions") == 0


def test_terminal_passwords_are_sealed_with_the_key_file(db_url, tmp_path, monkeypatch):
    key = tmp_path / "keys" / "station.key"
    monkeypatch.setenv("CONC_STATION_KEY", str(key))
    secret = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
    with open_station(db_url) as station:
        t = station.add_terminal("4101", 1, secret)
        assert station.terminal_password(t.id) == bytes.fromhex(secret)
        with station.db.transaction(write=False):
            stored = station.db.scalar("SELECT password FROM terminals")
    assert stored.startswith("fernet:") and secret not in stored
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    # another key file does not open it, and says what to do
    monkeypatch.setenv("CONC_STATION_KEY", str(tmp_path / "other.key"))
    with open_station(db_url) as station:
        with pytest.raises(StationError, match="set-password"):
            station.terminal_password(t.id)
        station.set_terminal_password(t.id, "00")        # the way out: set it again
        assert station.terminal_password(t.id) == bytes(16)


def test_the_key_file_sits_beside_a_sqlite_database(tmp_path, monkeypatch):
    monkeypatch.delenv("CONC_STATION_KEY", raising=False)
    with open_station("sqlite:///%s" % (tmp_path / "station.db")) as station:
        station.add_terminal("4101", 1, "00")
    assert stat.S_IMODE(os.stat(tmp_path / "station.db.key").st_mode) == 0o600


def test_clear_passwords_of_an_older_station_are_sealed(tmp_path, monkeypatch):
    monkeypatch.setenv("CONC_STATION_KEY", str(tmp_path / "station.key"))
    path = tmp_path / "station.db"
    shutil.copy(DATA / "v1_station.db", path)
    with pytest.raises(SchemaMismatch, match="conc station migrate"):   # readers never migrate
        open_station("sqlite:///%s" % path, create=False)
    with open_station("sqlite:///%s" % path) as station:
        with station.db.transaction(write=False):
            stored = [p for (p,) in station.db.rows("SELECT password FROM terminals")]
        assert len(stored) == 2 and all(p.startswith("fernet:") for p in stored)
        assert station.terminal_password(1) == bytes.fromhex("1234" + "00" * 14)
