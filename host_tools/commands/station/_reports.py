"""What the business report commands (stats, statements, demo-data) share: opening the business
database with library errors turned into one-line CliErrors, and printing rows as a table, JSON,
CSV or an XLSX file."""
import contextlib
import json
import sys

import click

from host_tools.business import exports
from host_tools.business.errors import BusinessError
from host_tools.commands.station._common import cli_error, echo_table
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from host_tools.station import errors as station_errors


@contextlib.contextmanager
def business_connection(db_url, create=False):
    """A Connection in one transaction on the business database; errors become CliErrors."""
    from host_tools.business.database import open_business
    try:
        engine = open_business(db_url, create=create)
    except station_errors.StationError as exc:
        raise cli_error(exc) from None
    try:
        with engine.begin() as conn:
            yield conn
    except BusinessError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    except station_errors.StationError as exc:
        raise cli_error(exc) from None
    finally:
        engine.dispose()


def output_options(command):
    """--json, --csv and --xlsx FILE for a command that prints rows."""
    for option in reversed([
            click.option("--json", "as_json", is_flag=True,
                         help="Print JSON (kWh and rates as exact decimal strings)."),
            click.option("--csv", "as_csv", is_flag=True, help="Print CSV."),
            click.option("--xlsx", "xlsx", metavar="FILE", type=click.Path(dir_okay=False),
                         help="Write an Excel workbook to FILE.")]):
        command = option(command)
    return command


def emit(rows, columns, as_json=False, as_csv=False, xlsx=None, title="data", heading=None):
    """Print `rows` (dicts) in the chosen form; exports.Column says each column's unit."""
    if sum(map(bool, (as_json, as_csv, xlsx))) > 1:
        raise CliError("choose one of --json, --csv and --xlsx", EXIT_BAD_INPUT)
    if as_json:
        data = [{c.key.replace("_e4", ""): _json(exports.cell(row.get(c.key), c.kind))
                 for c in columns} for row in rows]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif as_csv:
        exports.write_csv(rows, columns, sys.stdout)
    elif xlsx:
        try:
            exports.write_xlsx(rows, columns, xlsx, title=title)
        except OSError as exc:
            raise CliError("cannot write %s: %s" % (xlsx, exc.strerror or exc), EXIT_FAILED) \
                from None
        click.echo("wrote %d rows to %s" % (len(rows), xlsx))
    else:
        if heading:
            click.echo(heading)
        echo_table([c.header.upper() for c in columns],
                   [[exports.text(row.get(c.key), c.kind) for c in columns] for row in rows])


def _json(value):
    return value if value is None or isinstance(value, (int, str)) else str(value)
