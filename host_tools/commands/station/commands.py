"""`conc station commands`: operator commands (trip, close, time sync ...) and their audit trail."""
import click

from host_tools.commands.station._common import (db_option, echo_json, json_time, opened_station,
                                                 show_time, tz_option)
from host_tools.output import echo_table
from host_tools.errors import EXIT_BAD_INPUT, CliError
from host_tools.station.errors import StationError
from host_tools.station.times import parse_time


@click.command()
@click.option("--terminal", help="Only this terminal (AREA-ADDRESS like 4101-1, or its name).")
@click.option("--since", metavar="TIME", help="Only commands given from this ISO date or time on.")
@click.option("--unfinished", is_flag=True, help="Only commands still pending or sent.")
@click.option("--steps", is_flag=True, help="Show every audit step under each command.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON, with every step.")
@db_option
@tz_option
def cli(terminal, since, unfinished, steps, as_json, db_url, zone):
    """Show commands given to terminals: who gave them, when, on which meter, how they ended,
    and (with --steps or --json) every step of their audit trail.
    """
    with opened_station(db_url, zone=zone) as station:
        terminal_id = station.terminal(terminal).id if terminal else None
        try:
            start = parse_time(since, station.zone) if since else None
        except StationError as exc:
            raise CliError(str(exc), EXIT_BAD_INPUT) from None
        found = station.commands(terminal_id=terminal_id, since=start, unfinished=unfinished)
        trails = {c.id: station.command_steps(c.id) for c in found} if (steps or as_json) else {}
    if as_json:
        echo_json([{"id": c.id, "terminal": c.terminal_label, "pn": c.pn,
                    "meter": c.meter_address, "kind": c.kind, "operator": c.operator,
                    "reason": c.reason, "parameters": c.parameters, "state": c.state,
                    "created": json_time(c.created_at), "finished": json_time(c.finished_at),
                    "steps": [{"at": json_time(s.at), "step": s.step, "outcome": s.outcome,
                               "detail": s.detail} for s in trails[c.id]]} for c in found])
        return
    if not found:
        click.echo("no commands")
        return
    if not steps:
        echo_table(["ID", "GIVEN", "TERMINAL", "METER", "KIND", "OPERATOR", "STATE"],
                   [[c.id, show_time(c.created_at), c.terminal_label, _meter(c), c.kind,
                     c.operator, c.state] for c in found])
        return
    for c in found:
        click.echo("#%d %s %s on %s %s by %s: %s%s" % (
            c.id, show_time(c.created_at), c.kind, c.terminal_label, _meter(c), c.operator,
            c.state, " (%s)" % c.reason if c.reason else ""))
        for s in trails[c.id]:
            click.echo("    %s  %s: %s%s" % (show_time(s.at), s.step, s.outcome,
                                            " - %s" % s.detail if s.detail else ""))


def _meter(command):
    if command.meter_address:
        return command.meter_address
    return "p%d" % command.pn if command.pn is not None else "-"
