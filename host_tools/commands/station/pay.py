"""`conc station pay`: take a payment at the till and print its receipt."""
import click

from host_tools.business import payments
from host_tools.business.money import yuan_to_fen
from host_tools.commands.station._business import business_db, login, now, user_option, yuan
from host_tools.commands.station._common import db_option, echo_json


@click.command()
@click.option("--customer", "number", required=True, help="The customer number.")
@click.option("--amount", required=True, help="Yuan, up to 2 decimals, e.g. 120.50.")
@click.option("--method", type=click.Choice(payments.METHODS), default="cash",
              show_default=True)
@click.option("--note", default="")
@click.option("--json", "as_json", is_flag=True, help="Print the receipt as JSON.")
@user_option
@db_option
def cli(number, amount, method, note, as_json, user_name, db_url):
    """Record a payment (a cashier's or admin's). A payment that clears a customer's arrears
    settles the case, and a meter tripped for arrears gets its close queued at once.

    \b
    Example:
      conc station pay --customer C00012 --amount 120.50 --user cashier1
    """
    with business_db(db_url) as engine:
        fen = yuan_to_fen(amount)
        user = login(engine, user_name)
        with engine.begin() as conn:
            paid = payments.pay(conn, number, fen, now(), user, method=method, note=note)
    if as_json:
        echo_json({"receipt": paid.receipt_no, "customer": number, "amount_yuan": yuan(fen),
                   "method": method, "balance_yuan": yuan(paid.balance_fen),
                   "arrears_case": paid.arrears_state})
        return
    click.echo("receipt %s: %s yuan from %s (%s); balance %s yuan" % (
        paid.receipt_no, yuan(fen), number, method, yuan(paid.balance_fen)))
    if paid.arrears_state == "close_sent":
        click.echo("arrears cleared: the close of the tripped meter is queued "
                   "(`conc station arrears list`)")

