"""`conc station settings`: the billing office's settings (reading day, due days, arrears
threshold, the utility's name on statements)."""
import click

from host_tools.business import audit
from host_tools.business import settings as lib
from host_tools.business.money import yuan_to_fen
from host_tools.business.users import require
from host_tools.commands.station._business import (business_db, emit, login, now,
                                                   output_options, user_option, yuan)
from host_tools.commands.station._common import db_option
from host_tools.errors import EXIT_BAD_INPUT, CliError

# name shown -> (key, parse the typed text, show the stored value)
SETTINGS = {
    "reading-day": ("reading_day", int, str),
    "due-days": ("due_days", int, str),
    "arrears-threshold": ("arrears_threshold_fen", yuan_to_fen, yuan),
    "utility-name": ("utility_name", str, str),
}
LIMITS = {"reading_day": (1, 28), "due_days": (0, 365), "arrears_threshold_fen": (0, None)}


@click.group()
def cli():
    """Show and change the billing office's settings."""


@cli.command()
@output_options
@db_option
def show(as_json, as_csv, db_url):
    """Show the settings (the arrears threshold in yuan).

    \b
    Example:
      conc station settings show
    """
    with business_db(db_url) as engine, engine.connect() as conn:
        values = {name: shown(lib.get(conn, key)) for name, (key, _, shown) in SETTINGS.items()}
    emit(["setting", "value"], list(values.items()), values, as_json, as_csv)


@cli.command("set")
@click.argument("name", type=click.Choice(sorted(SETTINGS)))
@click.argument("value")
@user_option
@db_option
def set_(name, value, user_name, db_url):
    """Change a setting (an admin's). A period's reading day is fixed when it is first billed.

    \b
    Examples:
      conc station settings set reading-day 15 --user admin
      conc station settings set arrears-threshold 50.00 --user admin
      conc station settings set utility-name "城东供电所" --user admin
    """
    key, parse, _ = SETTINGS[name]
    try:
        parsed = parse(value)
    except ValueError:
        raise CliError("bad %s %r" % (name, value), EXIT_BAD_INPUT) from None
    low, high = LIMITS.get(key, (None, None))
    if (low is not None and parsed < low) or (high is not None and parsed > high):
        raise CliError("%s is %d..%s" % (name, low, high if high is not None else ""),
                       EXIT_BAD_INPUT)
    with business_db(db_url, create=True) as engine:
        user = login(engine, user_name)
        require(user, "settings.edit")
        with engine.begin() as conn:
            lib.put(conn, key, parsed, now(), user)
            audit.record(conn, user, "settings.set", "setting:%s" % key, now(), value=parsed)
    click.echo("%s set to %s" % (name, value))
