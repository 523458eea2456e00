"""`conc station ledger`: a customer's ledger with the running balance; adjustments."""
import click

from host_tools.business import ledger as lib
from host_tools.business.money import yuan_to_fen
from host_tools.commands.station._business import (business_db, emit, login, now,
                                                   output_options, show_at, user_option, yuan)
from host_tools.commands.station._common import db_option, tz_option


@click.command()
@click.option("--customer", "number", required=True, help="The customer number.")
@click.option("--adjust", "adjustment", default=None, metavar="YUAN",
              help="Add an adjustment first: positive credits, negative charges (a clerk's).")
@click.option("--note", default="", help="Why, with --adjust (required).")
@output_options
@user_option
@db_option
@tz_option
def cli(number, adjustment, note, as_json, as_csv, user_name, db_url, zone):
    """Show a customer's ledger: charges (negative), payments and adjustments, each with the
    balance after it (yuan; negative = owed). Rows are never changed: corrections are
    adjustments.

    \b
    Examples:
      conc station ledger --customer C00012
      conc station ledger --customer C00012 --adjust -15.00 --note "meter test fee" --user clerk1
    """
    with business_db(db_url) as engine:
        if adjustment is not None:
            fen = yuan_to_fen(adjustment)
            user = login(engine, user_name)
            with engine.begin() as conn:
                lib.adjust(conn, number, fen, note, now(), user)
        with engine.connect() as conn:
            found = lib.entries(conn, number)
    emit(["at", "kind", "amount (yuan)", "balance (yuan)", "reference", "note"],
         [[show_at(e.at, zone), e.kind, yuan(e.amount_fen), yuan(e.balance_fen), e.reference,
           e.note] for e in found],
         [{"at": e.at, "kind": e.kind, "amount_yuan": yuan(e.amount_fen),
           "balance_yuan": yuan(e.balance_fen), "reference": e.reference, "note": e.note}
          for e in found], as_json, as_csv)
