"""`conc station stats`: consumption, line loss and read success from the daily frozen values."""
import click

from host_tools.business import stats
from host_tools.business.exports import COUNT, KWH, RATE, Column
from host_tools.commands.station._common import db_option
from host_tools.commands.station._reports import business_connection, emit, output_options

CONSUMPTION_KEYS = {
    "meter": [Column("customer", "customer"), Column("meter", "meter")],
    "customer": [Column("customer", "customer"), Column("name", "name"),
                 Column("area", "area")],
    "area": [Column("area", "area"), Column("area_name", "area name")],
}


@click.group()
def cli():
    """Statistics: consumption, line loss and read success.

    \b
    Examples:
      conc station stats consumption --from 2026-11-01 --to 2026-11-30 --by area
      conc station stats consumption --monthly --from 2026-01 --to 2026-11 --customer C000012
      conc station stats consumption --monthly --from 2026-11 --top 20
      conc station stats line-loss --from 2026-11 --xlsx line-loss.xlsx
      conc station stats read-success --from 2026-11-01 --to 2026-11-07 --area TQ001
    """


@cli.command()
@click.option("--from", "first", required=True, metavar="DAY|MONTH",
              help="First day (YYYY-MM-DD), or month (YYYY-MM) with --monthly.")
@click.option("--to", "last", metavar="DAY|MONTH", help="Last one, inclusive (default --from).")
@click.option("--daily/--monthly", "daily", default=True, show_default=True,
              help="A row per day or per calendar month.")
@click.option("--by", type=click.Choice(stats.BY), default="customer", show_default=True,
              help="Per meter, customer or transformer area.")
@click.option("--area", metavar="CODE", help="Only this area's customers.")
@click.option("--customer", metavar="NUMBER", help="Only this customer.")
@click.option("--flagged", is_flag=True,
              help="Only rows flagged zero, negative or sudden (a jump or drop).")
@click.option("--top", type=click.IntRange(min=1), metavar="N",
              help="The N customers who consumed most over the whole range instead.")
@output_options
@db_option
def consumption(first, last, daily, by, area, customer, flagged, top, as_json, as_csv, xlsx,
                db_url):
    """Consumption (kWh, after the multiplier) per meter, customer or area.

    A day is from its 00:00 frozen value to the next day's; a missing value makes the row's
    kWh unknown ('-') and counts in MISSING, never estimated. FLAG marks zero, negative and
    sudden-change consumption.
    """
    step = stats.DAY if daily else stats.MONTH
    with business_connection(db_url) as conn:
        if top:
            rows = stats.top_consumers(conn, first, last or first, step, top, area)
            columns = [Column("customer", "customer"), Column("name", "name"),
                       Column("area", "area"), Column("kwh_e4", "kWh", KWH),
                       Column("missing", "missing", COUNT)]
            return emit(rows, columns, as_json, as_csv, xlsx, "top consumers")
        rows = stats.consumption(conn, first, last or first, step, by, area, customer)
    if flagged:
        rows = [r for r in rows if r["flag"]]
    columns = ([Column("period", "day" if daily else "month")] + CONSUMPTION_KEYS[by]
               + [Column("kwh_e4", "kWh", KWH), Column("missing", "missing", COUNT),
                  Column("flag", "flag")])
    emit(rows, columns, as_json, as_csv, xlsx, "consumption")


@cli.command("line-loss")
@click.option("--from", "first", required=True, metavar="MONTH|DAY",
              help="First month (YYYY-MM), or day (YYYY-MM-DD) with --daily.")
@click.option("--to", "last", metavar="MONTH|DAY", help="Last one, inclusive (default --from).")
@click.option("--daily/--monthly", "daily", default=False, show_default=True,
              help="A row per area and day or per area and month.")
@click.option("--area", metavar="CODE", help="Only this area.")
@output_options
@db_option
def line_loss(first, last, daily, area, as_json, as_csv, xlsx, db_url):
    """Line loss per transformer area: (supply - customers' consumption) / supply.

    The supply is the area's supply meter x its multiplier. MISSING counts customer meters
    without a value (the loss shown is then too high); no rate when the supply is unknown.
    """
    with business_connection(db_url) as conn:
        rows = stats.line_loss(conn, first, last or first,
                               stats.DAY if daily else stats.MONTH, area)
    columns = [Column("period", "day" if daily else "month"), Column("area", "area"),
               Column("area_name", "area name"), Column("supply_kwh_e4", "supply kWh", KWH),
               Column("consumed_kwh_e4", "consumed kWh", KWH),
               Column("loss_kwh_e4", "loss kWh", KWH), Column("loss_rate", "loss", RATE),
               Column("meters", "meters", COUNT), Column("missing", "missing", COUNT)]
    emit(rows, columns, as_json, as_csv, xlsx, "line loss")


@cli.command("read-success")
@click.option("--from", "first", required=True, metavar="DAY", help="First day (YYYY-MM-DD).")
@click.option("--to", "last", metavar="DAY", help="Last day, inclusive (default --from).")
@click.option("--area", metavar="CODE", help="Only this area.")
@output_options
@db_option
def read_success(first, last, area, as_json, as_csv, xlsx, db_url):
    """Daily frozen values received per area and day, of the meters in service."""
    with business_connection(db_url) as conn:
        rows = stats.read_success(conn, first, last or first, area)
    columns = [Column("day", "day"), Column("area", "area"), Column("area_name", "area name"),
               Column("expected", "meters", COUNT), Column("read", "read", COUNT),
               Column("rate", "success", RATE)]
    emit(rows, columns, as_json, as_csv, xlsx, "read success")
