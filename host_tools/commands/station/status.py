"""`conc station status`: which terminals are online, their last heartbeat, and read success."""
import click

from host_tools.commands.station._common import (db_option, echo_json, json_time, opened_station,
                                                 show_time, tz_option)
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, CliError
from host_tools.station.errors import StationError
from host_tools.station.times import parse_time


@click.command()
@click.option("--since", metavar="TIME",
              help="Count reads from this ISO date or date-time (default: the last 24 hours).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
@tz_option
def cli(since, as_json, db_url, zone):
    """Show each terminal: online or not, its last heartbeat, and read success: how many of its
    archive's meters have a reading in the window (the last 24 hours unless --since).

    A terminal whose session is open but that has not been heard for 30 minutes is shown as
    `silent` (its connection is probably dead, or the station is not running).
    """
    with opened_station(db_url, zone=zone) as station:
        try:
            start = parse_time(since, station.zone) if since else None
        except StationError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
        lines = station.status(since=start)
    if as_json:
        echo_json([{"terminal": s.terminal.label, "name": s.terminal.name, "online": s.online,
                    "silent": s.silent, "peer": s.peer, "session_started": json_time(s.session_started_at),
                    "last_heartbeat": json_time(s.last_heartbeat_at), "points": s.points,
                    "points_read": s.points_read, "read_success": s.read_success,
                    "last_read": json_time(s.last_read_at)} for s in lines])
        return
    if not lines:
        click.echo("no terminals registered")
        return
    online = sum(1 for s in lines if s.online)
    click.echo("%d of %d terminals online" % (online, len(lines)))
    echo_table(["TERMINAL", "NAME", "ONLINE", "LAST HEARTBEAT", "READ", "LAST READ"],
               [[s.terminal.label, s.terminal.name or "-", "yes" if s.online else "silent" if s.silent else "no",
                 show_time(s.last_heartbeat_at), _success(s), show_time(s.last_read_at)]
                for s in lines])


def _success(line):
    if line.read_success is None:
        return "-"
    return "%d/%d (%.0f%%)" % (line.points_read, line.points, 100 * line.read_success)
