"""`conc station migrate`: create the station database or bring its schema up to date."""
import click

from host_tools.commands.station._common import cli_error, db_option, echo_json
from host_tools.station import db as dbmod
from host_tools.station import schema
from host_tools.station.errors import StationError


@click.command()
@click.option("--check", is_flag=True, help="Only report the schema revision; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@db_option
def cli(check, as_json, db_url):
    """Create the station's tables, or apply the migrations a database has not had yet.

    Commands that write (e.g. `terminals add`, `serve`) migrate by themselves; this is for
    upgrading deliberately, e.g. before starting a new station version on a PostgreSQL server.
    A database made before the station used Alembic (schema version 1) is upgraded in place.
    Exit code 0 when the database is (now) up to date; with --check, 1 when it needs migrating.

    \b
    Examples:
      conc station migrate --db sqlite:///station.db
      conc station migrate --check --json --db postgresql://station@db/station
    """
    import time
    try:
        with dbmod.connect(db_url, create=not check) as database:
            before = schema.current_version(database)
            legacy = schema.is_legacy(database)
            head = schema.head()
            if check:
                state = ("up to date" if before == head else
                         "newer than this station (%s)" % head
                         if before is not None and before not in schema.revisions() else
                         "needs migration to %s" % head)
                if as_json:
                    echo_json({"database": database.url, "revision": before, "head": head,
                               "state": state})
                else:
                    click.echo("%s: schema revision %s, %s" % (database.url, before or "none",
                                                               state))
                if before != head:
                    raise click.exceptions.Exit(1)
                return
            applied = schema.migrate(database, int(time.time()))
    except StationError as exc:
        raise cli_error(exc) from None
    if as_json:
        echo_json({"database": database.url, "from": before, "to": head, "applied": applied})
    elif legacy:
        click.echo("%s: a pre-Alembic V1 database, recorded as %s%s" % (
            database.url, schema.FIRST, "; applied " + ", ".join(applied) if applied else ""))
    elif applied:
        click.echo("%s: migrated from schema revision %s to %s (applied %s)" % (
            database.url, before or "none", head, ", ".join(applied)))
    else:
        click.echo("%s: schema revision %s, up to date" % (database.url, before))
