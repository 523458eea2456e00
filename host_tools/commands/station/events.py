"""`conc station events`: events the terminals reported (AFN0E), newest last."""
import binascii

import click

from host_tools.commands.station._common import (db_option, echo_json, json_time, opened_station,
                                                 show_time, tz_option)
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, CliError
from host_tools.station.erc import erc_name
from host_tools.station.errors import StationError
from host_tools.station.times import parse_time

@click.command()
@click.option("--terminal", help="Only this terminal (AREA-ADDRESS like 4101-1, or its name).")
@click.option("--since", metavar="TIME", help="Only events from this ISO date or date-time on.")
@click.option("--until", metavar="TIME", help="Only events before this date or date-time.")
@click.option("--erc", type=int, help="Only this event code (e.g. 14 power off/on).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most this many (the oldest first).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (data as hex).")
@db_option
@tz_option
def cli(terminal, since, until, erc, limit, as_json, db_url, zone):
    """Show stored terminal events, oldest first: time, terminal, ERC and what it means.

    \b
    Examples:
      conc station events --since 2026-11-24
      conc station events --terminal 4101-1 --erc 14 --json
    """
    with opened_station(db_url, zone=zone) as station:
        terminal_id = station.terminal(terminal).id if terminal else None
        try:
            start = parse_time(since, station.zone) if since else None
            end = parse_time(until, station.zone) if until else None
        except StationError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
        found = station.events(terminal_id=terminal_id, since=start, until=end, erc=erc,
                               limit=limit)
    if as_json:
        echo_json([{"id": e.id, "terminal": e.terminal_label, "erc": e.erc,
                    "name": erc_name(e.erc), "important": e.important,
                    "occurred_at": json_time(e.occurred_at), "pn": e.pn,
                    "data": binascii.hexlify(e.data).decode(), "detail": e.detail,
                    "received_at": json_time(e.received_at)} for e in found])
        return
    if not found:
        click.echo("no events")
        return
    echo_table(["TIME", "TERMINAL", "ERC", "EVENT", "PN", "DETAIL"],
               [[show_time(e.occurred_at or e.received_at), e.terminal_label, e.erc,
                 erc_name(e.erc) + ("" if e.important else " (normal)"),  # pyright: ignore[reportOperatorIssue] - erc_name always returns a name
                 "-" if e.pn is None else e.pn, e.detail or "-"] for e in found])
