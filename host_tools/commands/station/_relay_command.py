"""What `conc station trip` and `conc station close` share: give the command, follow its audit.

The CLI never talks to a terminal itself: it writes the command into the station database
(state `pending`, audit step `created` with the authenticated user, host_tools/business/relay.py)
and the running `conc station serve`
picks it up within a second, executes it (host_tools/station/command_runner.py) and appends each
step to the audit trail, which this command prints as it grows. A command no station picks up
within --pickup-timeout is cancelled (so a station started later never trips a meter by surprise).
"""
import time

import click

from host_tools.commands.station._business import business_db, login, now, user_option
from host_tools.commands.station._common import echo_json, json_time, opened_station, show_time
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError
from host_tools.station.errors import InvalidValue

FINAL = ("confirmed", "denied", "timeout", "failed", "cancelled")


def give_and_follow(kind, meter, user_name, reason, wait_s, pickup_timeout_s, as_json, db_url,
                    zone, poll_s=0.3):
    from host_tools.business import relay
    with opened_station(db_url, create=False, zone=zone) as station:
        terminal, pn = station.find_meter(meter)
        points = {p.pn: p for p in station.measuring_points(terminal.id)}
        if pn not in points:
            raise CliError("%s:%d is not in terminal %s's archive: the station only controls "
                           "archived meters (see `conc station terminals meters %s`)"
                           % (terminal.label, pn, terminal.label, terminal.label),
                           EXIT_BAD_INPUT)
        address = points[pn].meter_address
        with business_db(db_url) as engine:
            user = login(engine, user_name)
            with engine.begin() as conn:
                command_id = relay.queue(conn, terminal.id, pn, kind, user, now(),
                                         reason=reason or "")
        operator = user.name  # pyright: ignore[reportOptionalMemberAccess] - the user was checked to exist
        if not as_json:
            click.echo("command #%d: %s meter %s (%s:%d) by %s" % (
                command_id, kind, address or "-", terminal.label, pn, operator))
        shown, started = 0, time.monotonic()
        while True:
            steps = station.command_steps(command_id)
            for step in steps[shown:]:
                if not as_json:
                    click.echo("  %s  %-8s %-10s %s" % (show_time(step.at), step.step,
                                                        step.outcome, step.detail))
            shown = len(steps)
            command = station.command(command_id)
            waited = time.monotonic() - started
            if command.state in FINAL:
                break
            if command.state == "pending" and len(steps) <= 1 and waited > pickup_timeout_s:
                try:
                    station.record_command_step(
                        command_id, "cancelled", "no station",
                        "no running station picked the command up within %.0f s (is `conc "
                        "station serve` running on this database?)" % pickup_timeout_s,
                        state="cancelled")
                except InvalidValue:
                    pass          # picked up at the last moment: keep following it
                continue
            if waited > wait_s:
                break
            time.sleep(poll_s)
        steps = station.command_steps(command_id)
    if as_json:
        echo_json({"id": command.id, "kind": kind, "terminal": command.terminal_label,
                   "pn": pn, "meter": address, "user": operator, "state": command.state,
                   "steps": [{"at": json_time(s.at), "step": s.step, "outcome": s.outcome,
                              "detail": s.detail} for s in steps]})
    if command.state == "confirmed":
        if not as_json:
            click.echo("%s confirmed" % kind)
        return
    if command.state not in FINAL:
        raise CliError("command #%d is still %s after %.0f s; the station keeps following it: "
                       "see `conc station commands --steps`" % (command_id, command.state,
                                                                 wait_s), EXIT_FAILED)
    raise CliError("command #%d ended %s" % (command_id, command.state), EXIT_FAILED)


def control_options(command):
    for option in reversed([
        click.option("--meter", required=True, metavar="METER",
                     help="The meter: its 12-digit address, or TERMINAL:PN such as 4101-1:3."),
        click.option("--reason", default="", help="Why (recorded with the command)."),
        click.option("--wait", "wait_s", type=click.FloatRange(0), default=120,
                     show_default=True, metavar="SECONDS",
                     help="Follow the command this long before returning."),
        click.option("--pickup-timeout", "pickup_timeout_s", type=click.FloatRange(0.5),
                     default=15, show_default=True, metavar="SECONDS",
                     help="Cancel the command if no running station takes it up this soon."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the command and its audit trail as JSON at the end."),
    ]):
        command = option(command)
    return command


_HELP = """{summary}: AFN05 {fn} with the terminal's PW.

The command is written to the station database with your station user (--user: a
dispatcher or admin; the password is asked or taken from CONC_STATION_PASSWORD) and carried
out by the running `conc station serve` (which must use the same --db, and refuses a command
whose user may not switch relays): it sends AFN05 {fn} for the
meter's measuring point, then follows the concentrator's report of the meter's relay state
(ERC 60) until it confirms or the station gives up. Every step is printed as it lands in
the audit trail (`conc station commands --steps` shows it later). Exit status 0 only when
the relay state was confirmed.

\b
Example:
  conc station {kind} --meter 000000000001 --user alice --reason "ticket 4711"
  CONC_STATION_USER=alice conc station {kind} --meter 4101-1:3
"""


def control_command(kind, fn, summary):
    """The click command `conc station KIND` (trip: AFN05 F1, close: AFN05 F2)."""
    from host_tools.commands.station._common import db_option, tz_option

    def command(meter, user_name, reason, wait_s, pickup_timeout_s, as_json, db_url, zone):
        give_and_follow(kind, meter, user_name, reason, wait_s, pickup_timeout_s, as_json,
                        db_url, zone)
    command.__doc__ = _HELP.format(summary=summary, fn=fn, kind=kind)
    return click.command(name=kind)(
        control_options(user_option(db_option(tz_option(command)))))
