"""`conc station readings`: one meter's stored readings (or frozen values) over a time range."""
import csv
import datetime
import sys

import click

from host_tools.commands.station._common import (db_option, echo_json, json_time, opened_station,
                                                 show_time, tz_option)
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, CliError
from host_tools.station import items as items_mod
from host_tools.station.errors import StationError
from host_tools.station.times import parse_time


@click.command()
@click.option("--meter", required=True,
              help="Meter address (12 digits) or TERMINAL:PN, e.g. 4101-1:3 or north-yard:3.")
@click.option("--from", "start", metavar="TIME",
              help="Start (inclusive): ISO date or date-time, e.g. 2026-11-24 or "
              "2026-11-24T08:00. Default: 24 hours before --to.")
@click.option("--to", "end", metavar="TIME",
              help="End: a date includes that whole day, a date-time is inclusive. Default: now.")
@click.option("--item", "items", multiple=True, metavar="ITEM",
              help="Only this data item, e.g. energy_fwd_total, energy_fwd_t1, "
              "energy_rev_total, voltage_a, current_a, power_active_total (docs/station.md); "
              "repeatable.")
@click.option("--daily", "frozen", flag_value="daily",
              help="Daily frozen values (by day) instead of real-time readings.")
@click.option("--monthly", "frozen", flag_value="monthly",
              help="Monthly frozen values (by month) instead of real-time readings.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON (values as exact decimal strings, each with its unit).")
@db_option
@tz_option
def cli(meter, start, end, items, frozen, as_csv, as_json, db_url, zone):
    """Show one meter's readings between two times, oldest first.

    \b
    Examples:
      conc station readings --meter 000000000001 --from 2026-11-24 --to 2026-11-24
      conc station readings --meter 4101-1:3 --from 2026-11-01 --to 2026-11-30 --daily --csv
    """
    if as_csv and as_json:
        raise CliError("choose one of --csv and --json", EXIT_BAD_INPUT)
    _refuse_old_names(items)
    with opened_station(db_url, zone=zone) as station:
        terminal, pn = station.find_meter(meter)
        until, since = _range(station, start, end)
        address = _meter_address(station, terminal.id, pn)
        if frozen:
            first, last = _periods(station, since, until, frozen)
            rows = station.frozen(frozen, terminal.id, pn, first, last, items=list(items))
            records = [{"terminal": r.terminal_label, "pn": r.pn, "meter": address,
                        "item": r.item, "period": r.period, "value": str(r.value),
                        "unit": items_mod.item_unit(r.item), "read_at": json_time(r.read_at)}
                       for r in rows]
        else:
            rows = station.readings(terminal.id, pn, since, until, items=list(items))
            records = [{"terminal": r.terminal_label, "pn": r.pn, "meter": address,
                        "item": r.item, "read_at": json_time(r.read_at), "value": str(r.value),
                        "unit": items_mod.item_unit(r.item)}
                       for r in rows]
    if as_json:
        echo_json(records)
    elif as_csv:
        fields = list(records[0]) if records else ["terminal", "pn", "meter", "item", "read_at",
                                                   "value", "unit"]
        writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
    else:
        what = "%s frozen values" % frozen if frozen else "readings"
        click.echo("meter %s (terminal %s p%d): %d %s" % (
            address or "not in archive", terminal.label, pn, len(records), what))
        if frozen:
            echo_table(["PERIOD", "ITEM", "VALUE", "UNIT", "READ AT"],
                       [[r.period, r.item, r.value, items_mod.item_unit(r.item),  # pyright: ignore[reportAttributeAccessIssue] - frozen rows have a period
                         show_time(r.read_at)] for r in rows])
        elif rows:
            echo_table(["TIME", "ITEM", "VALUE", "UNIT"],
                       [[show_time(r.read_at), r.item, r.value, items_mod.item_unit(r.item)]
                        for r in rows])


def _refuse_old_names(items):
    """An item of the names before revision 0006 (`F129.0`) says its new name and flag: it
    would match nothing now, and a script upgraded with the station should learn, not
    silently print nothing."""
    for item in items:
        renamed = items_mod.old_name(item)
        if renamed is not None:
            new, kind = renamed
            flag = {"realtime": "", "daily": " --daily", "monthly": " --monthly"}[kind]
            raise CliError("--item %s is the old name of %s%s: use --item %s%s" % (
                item, "the %s frozen " % kind if flag else "", new, new, flag), EXIT_BAD_INPUT)


def _range(station, start, end):
    """(until, since) as Unix seconds: until exclusive."""
    try:
        if end is None:
            until = station._now() + 1
        else:
            until = parse_time(end, station.zone, end_of_day=True)
            if len(end.strip()) > 10:      # a date-time: make it inclusive
                until += 1
        since = until - 86400 if start is None else parse_time(start, station.zone)
    except StationError as exc:
        raise CliError(str(exc), EXIT_BAD_INPUT) from None
    if since >= until:
        raise CliError("--from must be before --to", EXIT_BAD_INPUT)
    return until, since


def _periods(station, since, until, kind):
    first = datetime.datetime.fromtimestamp(since, station.zone).date()
    last = datetime.datetime.fromtimestamp(until - 1, station.zone).date()
    if kind == "daily":
        return first.isoformat(), last.isoformat()
    return first.strftime("%Y-%m"), last.strftime("%Y-%m")


def _meter_address(station, terminal_id, pn):
    for point in station.measuring_points(terminal_id):
        if point.pn == pn:
            return point.meter_address
    return None
