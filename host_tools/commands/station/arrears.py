"""`conc station arrears`: arrears cases from the first notice to the restored supply."""
import time

import click

from host_tools.business import arrears as lib
from host_tools.business.users import by_id
from host_tools.commands.station._business import (business_db, emit, login, now,
                                                   output_options, show_at, today, user_option,
                                                   yuan)
from host_tools.commands.station._common import db_option, echo_json, tz_option
from host_tools.output import echo_table
from host_tools.errors import EXIT_FAILED, CliError


@click.group()
def cli():
    """Arrears cases: open -> notice_issued -> approved -> trip_sent -> tripped -> paid ->
    close_sent -> restored. Trip and close are carried out by the running `conc station serve`
    (AFN05 F1/F2); each command here first brings cases up to date with the commands' outcome.
    """


def _case_option(command):
    return click.argument("case_id", type=int)(command)


@cli.command("list")
@click.option("--state", type=click.Choice(lib.ACTIVE + ("restored", "cancelled")),
              default=None, help="Only cases in this state (closed ones too).")
@click.option("--customer", default=None, help="Only this customer's cases.")
@click.option("--all", "show_all", is_flag=True, help="Closed cases too.")
@output_options
@db_option
@tz_option
def list_(state, customer, show_all, as_json, as_csv, db_url, zone):
    """List arrears cases (active ones by default); amounts in yuan.

    \b
    Example:
      conc station arrears list --state approved
    """
    with business_db(db_url) as engine:
        with engine.begin() as conn:
            lib.follow(conn, now())
        with engine.connect() as conn:
            found = lib.cases(conn, state=state, active=not show_all, customer=customer)
    emit(["case", "customer", "name", "state", "owed when opened", "balance", "opened",
          "updated"],
         [[c.id, c.customer_number, c.customer_name, c.state, yuan(c.amount_fen),
           yuan(c.balance_fen), show_at(c.opened_at, zone), show_at(c.updated_at, zone)]
          for c in found],
         [_json(c) for c in found], as_json, as_csv)


def _json(c):
    return {"case": c.id, "customer": c.customer_number, "name": c.customer_name,
            "state": c.state, "amount_yuan": yuan(c.amount_fen),
            "balance_yuan": yuan(c.balance_fen), "opened_at": c.opened_at,
            "updated_at": c.updated_at, "closed_at": c.closed_at,
            "trip_command": c.trip_command_id, "close_command": c.close_command_id}


@cli.command()
@user_option
@db_option
@tz_option
def scan(user_name, db_url, zone):
    """Open a case for every customer whose balance is below the threshold past a due day.

    \b
    Example:
      conc station arrears scan --user clerk1
    """
    with business_db(db_url) as engine:
        user = login(engine, user_name)
        with engine.begin() as conn:
            opened = lib.open_cases(conn, today(zone), now(), user)
    click.echo("%d cases opened%s" % (len(opened), (": " + ", ".join(map(str, opened)))
                                      if opened else ""))


@cli.command()
@_case_option
@click.option("--json", "as_json", is_flag=True)
@db_option
@tz_option
def show(case_id, as_json, db_url, zone):
    """Show a case and every transition with who made it.

    \b
    Example:
      conc station arrears show 7
    """
    with business_db(db_url) as engine:
        with engine.begin() as conn:
            lib.follow(conn, now())
        with engine.connect() as conn:
            found = lib.case(conn, case_id)
            steps = lib.transitions(conn, case_id)
            names = {t.user_id: by_id(conn, t.user_id).name for t in steps if t.user_id}  # pyright: ignore[reportOptionalMemberAccess] - steps name existing users
    if as_json:
        echo_json(dict(_json(found), transitions=[
            {"at": t.at, "from": t.from_state, "to": t.to_state,
             "user": names.get(t.user_id), "command": t.command_id, "note": t.note}
            for t in steps]))
        return
    click.echo("case %d: customer %s (%s), %s; owed %s yuan when opened, balance %s yuan" % (
        found.id, found.customer_number, found.customer_name, found.state,
        yuan(found.amount_fen), yuan(found.balance_fen)))
    echo_table(["at", "from", "to", "by", "command", "note"],
               [[show_at(t.at, zone), t.from_state or "-", t.to_state,
                 names.get(t.user_id, "system"), t.command_id or "-", t.note] for t in steps])


def _simple(name, fn, summary, example):
    @click.option("--note", default="", help="Recorded with the transition.")
    @user_option
    @db_option
    @_case_option
    def command(case_id, note, user_name, db_url):
        with business_db(db_url) as engine:
            user = login(engine, user_name)
            with engine.begin() as conn:
                fn(conn, case_id, now(), user, note)
                state = lib.case(conn, case_id).state
        click.echo("case %d: %s" % (case_id, state))
    command.__doc__ = "%s\n\n    \b\n    Example:\n      %s\n    " % (summary, example)
    return cli.command(name)(command)


_simple("notice", lib.notice, "open -> notice_issued: the customer was told (a clerk's).",
        "conc station arrears notice 7 --user clerk1")
_simple("approve", lib.approve, "notice_issued -> approved for disconnection (a dispatcher's).",
        "conc station arrears approve 7 --user dispatcher1")
_simple("cancel", lib.cancel, "End a case before its trip (--note says why).",
        "conc station arrears cancel 7 --note \"payment plan\" --user dispatcher1")


def _follow(engine, case_id, command_id, wait_s, poll_s=0.5):
    """Wait for the command's outcome and bring the case up to date; its state."""
    deadline = time.monotonic() + wait_s
    while True:
        with engine.begin() as conn:
            lib.follow(conn, now())
            found = lib.case(conn, case_id)
        if found.state not in ("trip_sent", "close_sent") or time.monotonic() > deadline:
            return found.state
        time.sleep(poll_s)


def _relay(name, fn, done, summary, example):
    @click.option("--wait", "wait_s", type=click.FloatRange(0), default=120,
                  show_default=True, metavar="SECONDS",
                  help="Follow the command this long (0: return at once).")
    @click.option("--note", default="")
    @user_option
    @db_option
    @tz_option
    @_case_option
    def command(case_id, wait_s, note, user_name, db_url, zone):
        with business_db(db_url) as engine:
            user = login(engine, user_name)
            with engine.begin() as conn:
                if fn is lib.trip:
                    command_id = fn(conn, case_id, today(zone), now(), user, note)
                else:
                    command_id = fn(conn, case_id, now(), user, note)
            click.echo("case %d: command #%d queued for `conc station serve`" % (case_id,
                                                                                command_id))
            state = _follow(engine, case_id, command_id, wait_s) if wait_s else None
        if state is None:
            return
        click.echo("case %d: %s" % (case_id, state))
        if state != done:
            raise CliError("case %d is %s: the relay did not confirm (see `conc station "
                           "arrears show %d` and `conc station commands --steps`)"
                           % (case_id, state, case_id), EXIT_FAILED)
    command.__doc__ = "%s\n\n    \b\n    Example:\n      %s\n    " % (summary, example)
    return cli.command(name)(command)


_relay("trip", lib.trip, "tripped",
       "approved -> trip_sent: trip the customer's meter (AFN05 F1; a dispatcher's) and follow "
       "it to tripped. Exit 1 if the relay does not confirm.",
       "conc station arrears trip 7 --user dispatcher1")
_relay("close", lib.close, "restored",
       "paid -> close_sent: close the meter again after a close that did not confirm "
       "(payments queue the close themselves).",
       "conc station arrears close 7 --user dispatcher1")


@cli.command()
@db_option
def sync(db_url):
    """Bring cases up to date with their commands' outcome (trip_sent -> tripped, close_sent
    -> restored, or back for a retry). Every arrears command does this first.

    \b
    Example:
      conc station arrears sync
    """
    with business_db(db_url) as engine, engine.begin() as conn:
        moved = lib.follow(conn, now())
    click.echo("%d cases updated" % len(moved))
