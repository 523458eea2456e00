"""`conc station demo-data`: fill a new station database with a seeded year of a small utility."""
import os
import time

import click
from sqlalchemy import func, select

from host_tools.business import demo_data
from host_tools.business.tables import users
from host_tools.commands.station._business import ENV_PASSWORD, business_db
from host_tools.commands.station._common import db_option, echo_json
from host_tools.errors import EXIT_BAD_INPUT, CliError


@click.command()
@click.option("--customers", "count", type=click.IntRange(1, 200_000), default=1000,
              show_default=True, help="How many customers (an area per 100, a concentrator "
              "per 10).")
@click.option("--seed", type=int, default=demo_data.DEFAULT_SEED, show_default=True,
              help="The same seed (and --until) gives the same data.")
@click.option("--until", metavar="YYYY-MM-DD",
              help="The last day with frozen values (default today); the year before it is "
              "filled.")
@click.option("--billed-months", type=click.IntRange(0, 12), default=demo_data.BILLED_MONTHS,
              show_default=True, help="The last complete months billed, issued and paid.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@db_option
def cli(count, seed, until, billed_months, as_json, db_url):
    """Fill an empty station database with demo data: transformer areas, concentrators and
    meters, customers, tariffs, a year of daily frozen values (zero and sudden-change
    customers, a meter swap, line loss), the last months billed and paid, and arrears.

    When the database has no users yet, the demo users admin, clerk, cashier, dispatcher and
    viewer are created with one password (asked, or from CONC_STATION_PASSWORD).

    \b
    Examples:
      conc station demo-data --db sqlite:///demo.db --customers 1000
      CONC_STATION_PASSWORD=... conc station demo-data --customers 10000 --seed 7 --json
    """
    if until is not None:
        try:
            import datetime
            datetime.date.fromisoformat(until)
        except ValueError:
            raise CliError("bad --until %r: YYYY-MM-DD such as 2026-12-01" % until,
                           EXIT_BAD_INPUT) from None
    started = time.monotonic()
    with business_db(db_url, create=True) as engine:
        with engine.connect() as conn:
            has_users = conn.execute(select(func.count()).select_from(users)).scalar()
        password = None
        if not has_users:
            password = os.environ.get(ENV_PASSWORD) or click.prompt(
                "Password for the demo users", hide_input=True, confirmation_prompt=True,
                err=True)
        try:
            summary = demo_data.generate(engine, count, seed=seed, until=until,
                                         password=password, billed_months=billed_months)
        except demo_data.DemoDataError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
    summary["seconds"] = round(time.monotonic() - started, 1)
    if as_json:
        echo_json(summary)
        return
    click.echo("demo data: %d customers in %d areas, %d concentrators, %d meters; %d daily "
               "frozen values %s..%s (%.1f s)" % (
                   summary["customers"], summary["areas"], summary["terminals"],
                   summary["meters"], summary["frozen_values"], summary["first_day"],
                   summary["last_day"], summary["seconds"]))
    for p in summary["periods"]:
        click.echo("  period %s: %d statements issued, %d held, %d paid, %d arrears cases "
                   "opened" % (p["period"], p["issued"], p["held"], p["paid"],
                               p["arrears_opened"]))
    if summary["swapped_customer"]:
        swap = summary["swapped_customer"]
        click.echo("  meter swap: customer %s on %s" % (swap["customer"], swap["day"]))
    click.echo("users: %s" % ", ".join(summary["users"]))
