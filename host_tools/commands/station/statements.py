"""`conc station statements`: a period's settlement statements as PDF (one file, a ZIP or a
folder of one PDF per customer)."""
import os

import click

from host_tools.business import statements_pdf
from host_tools.commands.station._common import db_option, echo_json
from host_tools.commands.station._reports import business_connection
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError


@click.command()
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing period.")
@click.option("--customer", metavar="NUMBER", help="Only this customer's statement.")
@click.option("--area", metavar="CODE", help="Only this transformer area's customers.")
@click.option("-o", "--output", "target", required=True, metavar="FILE.pdf|FILE.zip|DIR",
              help="One PDF with a page per customer, a ZIP of one PDF per customer, or a "
              "folder to write one PDF per customer into.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@db_option
def cli(period, customer, area, target, as_json, db_url):
    """Print a period's statements (drafts are marked; held ones have no amounts and are
    listed instead).

    \b
    Examples:
      conc station statements --period 2026-11 -o 2026-11.pdf
      conc station statements --period 2026-11 --area TQ001 -o tq001.zip
      conc station statements --period 2026-11 --customer C000012 -o out/
    """
    folder = os.path.dirname(os.path.abspath(target))
    if target.lower().endswith((".pdf", ".zip")) and not os.path.isdir(folder):
        raise CliError("no folder %s to write %s into" % (folder, os.path.basename(target)),
                       EXIT_BAD_INPUT)
    with business_connection(db_url) as conn:
        sheets, held = statements_pdf.statement_sheets(conn, period, customer, area)
    if not sheets:
        raise CliError("no statement of %s to print%s: bill the period first (`conc station "
                       "bill --period %s`)%s" % (period, " for " + customer if customer else "",
                                                 period, "; held: %s" % ", ".join(held)
                                                 if held else ""), EXIT_BAD_INPUT)
    try:
        written = statements_pdf.write_statements(sheets, target)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (target, exc.strerror or exc), EXIT_FAILED) \
            from None
    size = sum(os.path.getsize(p) for p in written)
    if as_json:
        echo_json({"period": period, "statements": len(sheets), "files": written,
                   "bytes": size, "held": held})
        return
    click.echo("wrote %d statement%s of %s to %s (%d file%s, %.1f kB)" % (
        len(sheets), "" if len(sheets) == 1 else "s", period, target, len(written),
        "" if len(written) == 1 else "s", size / 1024))
    if held:
        click.echo("not printed, held (see `conc station bill`): %s" % ", ".join(held))
