"""`conc station tariffs`: tariffs (flat or time-of-use, tiers, fixed charge) and assignments."""
import click

from host_tools.business import audit
from host_tools.business import tariffs as lib
from host_tools.business.money import price_to_e4, show_price, yuan_to_fen
from host_tools.business.tables import REGISTERS
from host_tools.business.users import require
from host_tools.commands.station._business import (business_db, emit, login, now,
                                                   output_options, user_option, yuan)
from host_tools.commands.station._common import db_option
from host_tools.errors import EXIT_BAD_INPUT, CliError


@click.group()
def cli():
    """Tariffs: add (a new version from a date), list, assign to customers."""


def _prices(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != len(REGISTERS):
        raise CliError("--prices takes four prices: sharp,peak,flat,valley in yuan/kWh, e.g. "
                       "1.0,0.8,0.55,0.3", EXIT_BAD_INPUT)
    return {r: price_to_e4(p) for r, p in zip(sorted(REGISTERS), parts, strict=True)}


def _tiers(text):
    tiers = []
    for part in text.split(","):
        above, sep, surcharge = part.partition(":")
        if not sep or not above.strip().isdigit():
            raise CliError("bad --tiers %r: ABOVE_KWH:SURCHARGE,... such as "
                           "0:0,180:0.05,280:0.30" % text, EXIT_BAD_INPUT)
        tiers.append((int(above), price_to_e4(surcharge)))
    return tiers


@cli.command()
@click.argument("code")
@click.option("--name", required=True)
@click.option("--kind", type=click.Choice(["flat", "tou"]), required=True,
              help="flat: one price; tou: a price per register (sharp, peak, flat, valley).")
@click.option("--price", default=None, help="Flat price, yuan/kWh (up to 4 decimals).")
@click.option("--prices", default=None, help="TOU prices sharp,peak,flat,valley, yuan/kWh.")
@click.option("--tiers", default=None,
              help="Monthly blocks ABOVE_KWH:SURCHARGE; 0:0,180:0.05,280:0.30 makes 0-180, "
              "181-280 and >280 kWh with +0.05 and +0.30 yuan/kWh.")
@click.option("--fixed", default="0", show_default=True, help="Fixed monthly charge, yuan.")
@click.option("--from", "valid_from", required=True, metavar="DATE",
              help="First day in force; a code added again ends its previous version there.")
@user_option
@db_option
def add(code, name, kind, price, prices, tiers, fixed, valid_from, user_name, db_url):
    """Add a tariff (or a new version of CODE from a date).

    \b
    Examples:
      conc station tariffs add R1 --name Residential --kind flat --price 0.56 \\
          --tiers 0:0,180:0.05,280:0.30 --from 2026-01-01 --user clerk1
      conc station tariffs add T1 --name "Residential TOU" --kind tou \\
          --prices 1.0,0.8,0.55,0.3 --fixed 5 --from 2026-01-01 --user clerk1
    """
    with business_db(db_url, create=True) as engine:
        user = login(engine, user_name)
        require(user, "tariff.edit")
        with engine.begin() as conn:
            lib.add_tariff(conn, code, name, kind, valid_from, now(),
                           flat_price_e4=price_to_e4(price) if price is not None else None,
                           prices=_prices(prices) if prices else None,
                           tiers=_tiers(tiers) if tiers else (),
                           fixed_monthly_fen=yuan_to_fen(fixed))
            audit.record(conn, user, "tariff.add", "tariff:%s" % code, now(),
                         valid_from=valid_from)
    click.echo("tariff %s added from %s" % (code, valid_from))


def _describe(t):
    if t.kind == "flat":
        prices = show_price(t.flat_price_e4)
    else:
        prices = "/".join(show_price(t.prices[r]) for r in sorted(REGISTERS))
    tiers = ", ".join("%d:+%s" % (a, show_price(s)) for a, s in t.tiers) or "-"
    return prices, tiers


@cli.command("list")
@output_options
@db_option
def list_(as_json, as_csv, db_url):
    """List tariffs and their versions (prices yuan/kWh; TOU sharp/peak/flat/valley).

    \b
    Example:
      conc station tariffs list
    """
    with business_db(db_url) as engine, engine.connect() as conn:
        found = lib.list_tariffs(conn)
    emit(["code", "name", "kind", "price (yuan/kWh)", "tiers (kWh:+yuan/kWh)",
          "fixed (yuan)", "from", "to"],
         [[t.code, t.name, t.kind, *_describe(t), yuan(t.fixed_monthly_fen), t.valid_from,
           t.valid_to or "-"] for t in found],
         [{"code": t.code, "name": t.name, "kind": t.kind,
           "flat_price": None if t.flat_price_e4 is None else show_price(t.flat_price_e4),
           "prices": {REGISTERS[r]: show_price(p) for r, p in sorted(t.prices.items())},
           "tiers": [{"above_kwh": a, "surcharge": show_price(s)} for a, s in t.tiers],
           "fixed_monthly_yuan": yuan(t.fixed_monthly_fen), "valid_from": t.valid_from,
           "valid_to": t.valid_to} for t in found], as_json, as_csv)


@cli.command()
@click.option("--customer", "number", required=True, help="The customer number.")
@click.option("--tariff", "code", required=True, help="The tariff code.")
@click.option("--from", "valid_from", required=True, metavar="DATE",
              help="First day on this tariff; the customer's tariff before ends that day.")
@user_option
@db_option
def assign(number, code, valid_from, user_name, db_url):
    """Put a customer on a tariff from a date (the history is kept).

    \b
    Example:
      conc station tariffs assign --customer C00012 --tariff T1 --from 2026-11-01 --user clerk1
    """
    with business_db(db_url) as engine:
        user = login(engine, user_name)
        require(user, "tariff.edit")
        with engine.begin() as conn:
            lib.assign(conn, number, code, valid_from, now(), user)
            audit.record(conn, user, "tariff.assign", "customer:%s" % number, now(),
                         tariff=code, valid_from=valid_from)
    click.echo("customer %s on tariff %s from %s" % (number, code, valid_from))
