"""`conc station customers`: the billing office's customers and the meters that measure them."""
import sys

import click

from host_tools.business import billing, ledger, tariffs
from host_tools.business import customers as lib
from host_tools.business.users import require
from host_tools.commands.station._business import (business_db, emit, find_meter, login, now,
                                                   output_options, show_at, user_option, yuan)
from host_tools.commands.station._common import db_option, echo_json, tz_option
from host_tools.output import echo_table


@click.group()
def cli():
    """Customers: add, import from CSV, attach meters, list and show."""


@cli.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@user_option
@db_option
def import_(csv_file, user_name, db_url):
    """Add the customers of a CSV file (header: number,name and optionally
    address,phone,account,area). All or nothing: a bad line names itself and nothing is added.

    \b
    Example:
      conc station customers import customers.csv --user clerk1
    """
    with business_db(db_url, create=True) as engine:
        user = login(engine, user_name)
        require(user, "customer.edit")
        with engine.begin() as conn:
            added = lib.import_customers(conn, csv_file, now())
    click.echo("%d customers added" % added)


@cli.command()
@click.argument("number")
@click.option("--name", required=True, help="The customer's name.")
@click.option("--address", default="")
@click.option("--phone", default="")
@click.option("--account", default="", help="Bank account or payment reference.")
@click.option("--area", default=None, metavar="CODE", help="The transformer area's code.")
@user_option
@db_option
def add(number, name, address, phone, account, area, user_name, db_url):
    """Add customer NUMBER.

    \b
    Example:
      conc station customers add C00012 --name "Wang Fang" --area TQ01 --user clerk1
    """
    with business_db(db_url, create=True) as engine:
        user = login(engine, user_name)
        require(user, "customer.edit")
        with engine.begin() as conn:
            lib.add_customer(conn, number, name, now(), area=area, address=address,
                             phone=phone, account=account)
    click.echo("customer %s added" % number)


@cli.command()
@click.argument("number")
@click.option("--meter", required=True, help="Meter address (12 digits) or TERMINAL:PN.")
@click.option("--from", "valid_from", required=True, metavar="DATE",
              help="First day the meter measures the customer (YYYY-MM-DD, from 00:00).")
@click.option("--multiplier", type=click.IntRange(1), default=1, show_default=True,
              help="CT ratio x PT ratio.")
@user_option
@db_option
@tz_option
def attach(number, meter, valid_from, multiplier, user_name, db_url, zone):
    """Measure customer NUMBER with a meter from a date; the meter they had ends that day
    (a meter swap: the period is billed from both meters).

    \b
    Example:
      conc station customers attach C00012 --meter 000000000012 --from 2026-11-16 --user clerk1
    """
    terminal_id, pn = find_meter(db_url, zone, meter)
    with business_db(db_url) as engine:
        user = login(engine, user_name)
        require(user, "customer.edit")
        with engine.begin() as conn:
            lib.attach_meter(conn, number, terminal_id, pn, valid_from, now(),
                             multiplier=multiplier)
    click.echo("customer %s measured by %s from %s (multiplier %d)" % (number, meter,
                                                                       valid_from, multiplier))


@cli.command("list")
@click.option("--area", default=None, metavar="CODE", help="Only this area's customers.")
@click.option("--search", default=None, help="Part of the number or name.")
@output_options
@db_option
def list_(area, search, as_json, as_csv, db_url):
    """List customers with their balance (yuan; negative = owed).

    \b
    Example:
      conc station customers list --area TQ01 --csv > customers.csv
    """
    with business_db(db_url) as engine, engine.connect() as conn:
        found = lib.list_customers(conn, area=area, search=search)
        owed = billing.balances(conn)
    emit(["number", "name", "area", "address", "phone", "balance (yuan)"],
         [[c.number, c.name, c.area_code or "-", c.address, c.phone,
           yuan(owed.get(c.id, 0))] for c in found],
         [{"number": c.number, "name": c.name, "area": c.area_code, "address": c.address,
           "phone": c.phone, "account": c.account, "balance_yuan": yuan(owed.get(c.id, 0))}
          for c in found], as_json, as_csv)


@cli.command()
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@tz_option
def show(number, as_json, db_url, zone):
    """Show one customer: details, meters, tariff history and balance.

    \b
    Example:
      conc station customers show C00012
    """
    with business_db(db_url) as engine, engine.connect() as conn:
        who = lib.customer(conn, number)
        points = lib.service_points_of(conn, number)
        history = tariffs.history(conn, number)
        balance = ledger.balance(conn, number)
    if as_json:
        echo_json({"number": who.number, "name": who.name, "address": who.address,
                   "phone": who.phone, "account": who.account, "area": who.area_code,
                   "balance_yuan": yuan(balance),
                   "meters": [{"meter": p.meter, "terminal_id": p.terminal_id, "pn": p.pn,
                               "multiplier": p.multiplier, "from": p.valid_from,
                               "to": p.valid_to} for p in points],
                   "tariffs": [{"from": f, "to": t, "code": c, "name": n}
                               for f, t, c, n in history]})
        return
    out = sys.stdout
    for label, value in (("number", who.number), ("name", who.name), ("area", who.area_code),
                         ("address", who.address), ("phone", who.phone),
                         ("account", who.account), ("created", show_at(who.created_at, zone)),
                         ("balance", "%s yuan" % yuan(balance))):
        out.write("%-9s %s\n" % (label, value or "-"))
    click.echo("\nmeters:")
    echo_table(["meter", "multiplier", "from", "to"],
               [[p.meter, p.multiplier, p.valid_from, p.valid_to or "-"] for p in points])
    click.echo("\ntariffs:")
    echo_table(["from", "to", "code", "name"], [[f, t or "-", c, n] for f, t, c, n in history])
