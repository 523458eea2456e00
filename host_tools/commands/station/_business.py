"""What the business commands share: the database with the business schema, the logged-in
user (--user, the password asked or from CONC_STATION_PASSWORD), errors as one-line CliErrors,
money shown in yuan and the --json / --csv output of data."""
import contextlib
import csv
import datetime
import io
import os
import time

import click

from host_tools.commands.station._common import echo_json
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from host_tools.station import errors as station_errors
from host_tools.station.times import station_zone

ENV_USER = "CONC_STATION_USER"
ENV_PASSWORD = "CONC_STATION_PASSWORD"


def user_option(command):
    return click.option(
        "--user", "user_name", envvar=ENV_USER, metavar="NAME",
        help="Your station user name (env %s); the password is asked, or taken from %s."
        % (ENV_USER, ENV_PASSWORD))(command)


def output_options(command):
    command = click.option("--csv", "as_csv", is_flag=True, help="Print CSV (for spreadsheets).")(
        command)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")(
        command)


@contextlib.contextmanager
def business_db(db_url, create=False):
    """An Engine on the station database with the business schema; library errors become
    one-line CliErrors with the README's exit codes."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    from host_tools.business.database import open_business
    from host_tools.business.errors import BusinessError
    from host_tools.business.users import AuthenticationFailed, NotPermitted
    from host_tools.commands.station._common import cli_error
    try:
        engine = open_business(db_url, create=create)
    except station_errors.StationError as exc:
        raise cli_error(exc) from None
    except OperationalError as exc:
        raise CliError("cannot open the station database %s: %s" % (
            db_url.split("@")[-1], exc.orig), 3) from None
    try:
        yield engine
    except (BusinessError, ValueError) as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    except NotPermitted as exc:
        raise CliError("not permitted: %s" % exc, EXIT_FAILED) from None
    except AuthenticationFailed:
        raise CliError("login failed: wrong user name or password, or the account is locked "
                       "or disabled (ask an admin)", EXIT_BAD_INPUT) from None
    except IntegrityError:
        raise CliError("someone else changed the same records at the same time: run the "
                       "command again", EXIT_FAILED) from None
    except station_errors.StationError as exc:
        raise cli_error(exc) from None
    finally:
        engine.dispose()


def login(engine, user_name):
    """The authenticated User for --user (the password from the environment or asked)."""
    from host_tools.business.users import authenticate
    if not user_name:
        raise CliError("say who you are: --user NAME (or %s); the password is asked or taken "
                       "from %s" % (ENV_USER, ENV_PASSWORD), EXIT_BAD_INPUT)
    password = os.environ.get(ENV_PASSWORD)
    if password is None:
        password = click.prompt("Password for %s" % user_name, hide_input=True, err=True)
    return authenticate(engine, user_name, password, now())


def now():
    return int(time.time())


def today(zone=None):
    """Today's date label in the station's zone."""
    return datetime.datetime.now(station_zone(zone)).date().isoformat()


def show_at(seconds, zone=None):
    if seconds is None:
        return "-"
    moment = datetime.datetime.fromtimestamp(seconds, station_zone(zone))
    return moment.isoformat(sep=" ", timespec="seconds")


def emit(headers, rows, records, as_json, as_csv):
    """Print data: an aligned table, CSV (same columns) or JSON (`records`, a list of dicts)."""
    if as_json:
        echo_json(records)
    elif as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows)
        click.echo(out.getvalue(), nl=False)
    else:
        echo_table(headers, rows)


def find_meter(db_url, zone, meter):
    """(terminal_id, pn) of a meter given as its address or TERMINAL:PN."""
    from host_tools.commands.station._common import opened_station
    with opened_station(db_url, create=False, zone=zone) as station:
        terminal, pn = station.find_meter(meter)
    return terminal.id, pn


def yuan(fen):
    from host_tools.business.money import show_yuan
    return show_yuan(fen)
