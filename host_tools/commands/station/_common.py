"""What the `conc station` commands share: the --db and --tz options, opening the station with
errors turned into one-line CliErrors, and printing times, tables and JSON."""
import contextlib
import json

import click

from host_tools.errors import EXIT_BAD_INPUT, EXIT_DEVICE, EXIT_FAILED, CliError
from host_tools.station import errors as station_errors
from host_tools.station.db import DEFAULT_URL

EXIT_CODES = (
    (station_errors.BadDatabaseUrl, EXIT_BAD_INPUT),
    (station_errors.DatabaseUnavailable, EXIT_DEVICE),
    (station_errors.InvalidValue, EXIT_BAD_INPUT),
    (station_errors.UnknownTerminal, EXIT_BAD_INPUT),
    (station_errors.UnknownMeter, EXIT_BAD_INPUT),
    (station_errors.DuplicateTerminal, EXIT_BAD_INPUT),
)


def db_option(command):
    return click.option(
        "--db", "db_url", envvar="CONC_STATION_DB", default=DEFAULT_URL, show_default=True,
        metavar="URL", help="Station database: sqlite:///PATH or postgresql://USER:PW@HOST/DB "
        "(env CONC_STATION_DB).")(command)


def tz_option(command):
    return click.option(
        "--tz", "zone", envvar="CONC_STATION_TZ", default=None, metavar="ZONE",
        help="Time zone for times typed and shown, e.g. Asia/Shanghai (env CONC_STATION_TZ; "
        "default this computer's zone).")(command)


def cli_error(exc):
    """The CliError for a StationError."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return CliError(str(exc), code)
    return CliError(str(exc), EXIT_FAILED)


@contextlib.contextmanager
def opened_station(db_url, create=False, zone=None):
    """Open the station for a command; StationErrors become CliErrors. create=True for commands
    that write (a new database is created and migrated); read-only commands need an existing one."""
    from host_tools.station.repository import open_station
    try:
        station = open_station(db_url, create=create, zone=zone)
    except station_errors.StationError as exc:
        raise cli_error(exc) from None
    try:
        yield station
    except station_errors.StationError as exc:
        raise cli_error(exc) from None
    finally:
        station.close()


def show_time(moment):
    """ISO text of an aware datetime to the second, or '-'."""
    return "-" if moment is None else moment.isoformat(sep=" ", timespec="seconds")


def json_time(moment):
    return None if moment is None else moment.isoformat(timespec="seconds")


def echo_json(value):
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))
