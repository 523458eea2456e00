"""The station's schema versions: Alembic migrations, run from here (no alembic.ini).

The revisions live in migrations/versions/, chained by fixed ids: "0001_v1" is the first station
schema; other parts of the station chain theirs after it (0002_business, 0003_alarms ...).
`migrate(db)` brings a database to the newest revision in one transaction (on PostgreSQL under
an advisory lock, so two station processes starting together migrate once). Opening a station
for writing migrates automatically; `conc station migrate` does it explicitly and reports the
revisions. A database at a revision this code does not know (made by a newer station) is
refused rather than misread, and so is a database holding someone else's tables.

Before Alembic the station kept its version in a `schema_version` table (version 1 = the V1
schema). Such a database is stamped "0001_v1" and upgraded in place; `schema_version` stays,
with a row 2 saying that Alembic keeps the version now, so an older station refuses the
database ("newer than this station") instead of misreading it.
"""
import os

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from host_tools.station.db import POSTGRESQL, SQLITE
from host_tools.station.errors import SchemaMismatch

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "migrations")
FIRST = "0001_v1"
LEGACY_VERSION = 1          # the schema_version that "0001_v1" is
ALEMBIC_MARK = (2, "later revisions are kept by Alembic in alembic_version")

# Any constant: serialises concurrent migrations of one PostgreSQL database.
_PG_MIGRATION_LOCK = 1376_0001


def _config(connection=None, now=None, location=MIGRATIONS):
    config = Config()
    config.set_main_option("script_location", location)
    config.attributes["connection"] = connection
    config.attributes["now"] = now
    return config


def head(location=MIGRATIONS):
    """The newest revision this station knows."""
    return ScriptDirectory.from_config(_config(location=location)).get_current_head()


def revisions(location=MIGRATIONS):
    """Every revision id this station knows, oldest first."""
    script = ScriptDirectory.from_config(_config(location=location))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _tables(db):
    return set(sqlalchemy.inspect(db.connection).get_table_names())


def _state(db, location):
    """(revision or None, tables) of the database in the open transaction."""
    tables = _tables(db)
    if "alembic_version" in tables:
        heads = MigrationContext.configure(db.connection).get_current_heads()
        return (heads[0] if heads else None), tables
    if "schema_version" in tables:
        legacy = db.scalar("SELECT MAX(version) FROM schema_version") or 0
        if legacy == LEGACY_VERSION:
            return "legacy", tables
        raise SchemaMismatch("the station database %s has schema version %d, newer than this "
                             "station: upgrade the station software" % (db.url, legacy))
    return None, tables


def current_version(db, location=MIGRATIONS):
    """The revision `db` is at: None for an empty database, FIRST for a pre-Alembic V1 one."""
    with db.transaction(write=False):
        revision, _ = _state(db, location)
    return FIRST if revision == "legacy" else revision


def is_legacy(db, location=MIGRATIONS):
    """True for a database made before the station used Alembic (not yet stamped)."""
    with db.transaction(write=False):
        return _state(db, location)[0] == "legacy"


def _check_known(db, revision, location):
    if revision is not None and revision not in revisions(location):
        raise SchemaMismatch("the station database %s is at revision %s, newer than this "
                             "station (%s): upgrade the station software"
                             % (db.url, revision, head(location)))


def check_version(db, location=MIGRATIONS):
    """Raise SchemaMismatch unless `db` is at the newest revision; returns it."""
    revision = current_version(db, location)
    _check_known(db, revision, location)
    if revision != head(location):
        raise SchemaMismatch("the station database %s is at revision %s, this station needs %s: "
                             "run `conc station migrate --db ...`"
                             % (db.url, revision or "none (empty)", head(location)))
    return revision


def migrate(db, now, location=MIGRATIONS):
    """Bring `db` to the newest revision; returns the revisions applied, oldest first."""
    with db.transaction():
        if db.dialect == POSTGRESQL:
            db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _PG_MIGRATION_LOCK})
        revision, tables = _state(db, location)
        connection = db.connection
        config = _config(connection, now, location)
        if revision == "legacy":
            command.stamp(config, FIRST)
            revision = FIRST
        elif revision is None and tables - {"alembic_version"}:
            raise SchemaMismatch("%s already holds tables (e.g. %s) but no station schema "
                                 "version: is --db pointing at the right database?"
                                 % (db.url, sorted(tables)[0]))
        _check_known(db, revision, location)
        known = revisions(location)
        pending = known[known.index(revision) + 1:] if revision else known
        if pending:
            try:
                command.upgrade(config, "head")
            except CommandError as exc:
                raise SchemaMismatch("cannot migrate %s: %s" % (db.url, exc)) from None
        if not db.row("SELECT 1 FROM schema_version WHERE version = :v",
                      {"v": ALEMBIC_MARK[0]}):
            db.execute("INSERT INTO schema_version (version, description, applied_at) "
                       "VALUES (:v, :description, :now)",
                       {"v": ALEMBIC_MARK[0], "description": ALEMBIC_MARK[1], "now": now})
    return pending


__all__ = ["FIRST", "MIGRATIONS", "SQLITE", "POSTGRESQL", "check_version", "current_version",
           "head", "migrate", "revisions"]
