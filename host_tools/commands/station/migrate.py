"""`conc station migrate`: create the station database or bring its schema up to date."""
import click

from host_tools.commands.station._common import cli_error, db_option
from host_tools.station import db as dbmod
from host_tools.station import schema
from host_tools.station.errors import StationError


@click.command()
@click.option("--check", is_flag=True, help="Only report the schema version; change nothing.")
@db_option
def cli(check, db_url):
    """Create the station's tables, or apply the migrations a database has not had yet.

    Commands that write (e.g. `terminals add`, `serve`) migrate by themselves; this is for
    upgrading deliberately, e.g. before starting a new station version on a PostgreSQL server.
    """
    import time
    try:
        with dbmod.connect(db_url, create=not check) as database:
            before = schema.current_version(database)
            if check:
                state = ("up to date" if before == schema.LATEST else
                         "needs migration to %d" % schema.LATEST if before < schema.LATEST else
                         "newer than this station (%d)" % schema.LATEST)
                click.echo("%s: schema version %d, %s" % (database.url, before, state))
                return
            applied = schema.migrate(database, int(time.time()))
    except StationError as exc:
        raise cli_error(exc) from None
    if applied:
        click.echo("%s: migrated from schema version %d to %d" % (
            database.url, before, applied[-1]))
    else:
        click.echo("%s: schema version %d, up to date" % (database.url, before))
