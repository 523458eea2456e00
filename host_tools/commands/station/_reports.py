"""What the report commands (stats, statements, receipt) add to _business.py: a read
transaction on the business database, and rows printed as a table, JSON, CSV or an XLSX file
with each column's unit (host_tools.business.exports)."""
import contextlib
import json
import sys

import click

from host_tools.business import exports
from host_tools.commands.station._business import business_db
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError


@contextlib.contextmanager
def business_connection(db_url):
    """A Connection in one transaction on an existing station database; errors are CliErrors."""
    with business_db(db_url) as engine, engine.begin() as conn:
        yield conn


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


def emit(rows, columns, as_json=False, as_csv=False, xlsx=None, title="data"):
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
        echo_table([c.header.upper() for c in columns],
                   [[exports.text(row.get(c.key), c.kind) for c in columns] for row in rows])


def _json(value):
    return value if value is None or isinstance(value, (int, str)) else str(value)
