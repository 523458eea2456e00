"""`conc station receipt`: a payment's receipt as a PDF, to print or send again."""
import click

from host_tools.business import statements_pdf
from host_tools.commands.station._common import db_option, tz_option
from host_tools.commands.station._reports import business_connection
from host_tools.errors import EXIT_FAILED, CliError
from host_tools.station.times import station_zone


@click.command()
@click.argument("receipt_no", metavar="RECEIPT")
@click.option("-o", "--output", "target", required=True, metavar="FILE.pdf",
              type=click.Path(dir_okay=False), help="Where to write the PDF.")
@db_option
@tz_option
def cli(receipt_no, target, db_url, zone):
    """Write the receipt of payment RECEIPT (its receipt number) as a PDF.

    \b
    Example:
      conc station receipt R202611-000001 -o receipt.pdf
    """
    with business_connection(db_url) as conn:
        pdf = statements_pdf.receipt_pdf(conn, receipt_no, station_zone(zone))  # pyright: ignore[reportArgumentType] - any tzinfo serves
    try:
        with open(target, "wb") as f:
            f.write(pdf)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (target, exc.strerror or exc), EXIT_FAILED) \
            from None
    click.echo("wrote receipt %s to %s (%.1f kB)" % (receipt_no, target, len(pdf) / 1024))
