"""`conc station areas`: transformer areas (tai qu) and their supply meters."""
import click

from host_tools.business import customers as lib
from host_tools.business.users import require
from host_tools.commands.station._business import (business_db, emit, find_meter, login, now,
                                                   output_options, user_option)
from host_tools.commands.station._common import db_option, tz_option


@click.group()
def cli():
    """Transformer areas: add and list."""


@cli.command()
@click.argument("code")
@click.option("--name", required=True)
@click.option("--supply-meter", default=None, metavar="METER",
              help="The meter measuring what enters the area: address or TERMINAL:PN.")
@click.option("--supply-multiplier", type=click.IntRange(1), default=1, show_default=True)
@user_option
@db_option
@tz_option
def add(code, name, supply_meter, supply_multiplier, user_name, db_url, zone):
    """Add area CODE.

    \b
    Example:
      conc station areas add TQ01 --name "North yard" --supply-meter 4101-1:1 --user clerk1
    """
    supply = find_meter(db_url, zone, supply_meter) if supply_meter else None
    with business_db(db_url, create=True) as engine:
        user = login(engine, user_name)
        require(user, "customer.edit")
        with engine.begin() as conn:
            lib.add_area(conn, code, name, now(), supply=supply,
                         supply_multiplier=supply_multiplier)
    click.echo("area %s added" % code)


@cli.command("list")
@output_options
@db_option
def list_(as_json, as_csv, db_url):
    """List the areas with their supply meter and number of customers.

    \b
    Example:
      conc station areas list --json
    """
    with business_db(db_url) as engine, engine.connect() as conn:
        found = lib.list_areas(conn)
    emit(["code", "name", "supply meter", "multiplier", "customers"],
         [[a.code, a.name, "-" if a.supply_terminal_id is None else "%d:%d" % (
             a.supply_terminal_id, a.supply_pn), a.supply_multiplier, a.customers]
          for a in found],
         [{"code": a.code, "name": a.name, "supply_terminal_id": a.supply_terminal_id,
           "supply_pn": a.supply_pn, "supply_multiplier": a.supply_multiplier,
           "customers": a.customers} for a in found], as_json, as_csv)
