"""`conc station bill`: bill a period, issue its statements, or void one."""
import click

from host_tools.business import billing
from host_tools.business.money import show_kwh, show_price
from host_tools.commands.station._business import (business_db, emit, login, now,
                                                   output_options, user_option, yuan)
from host_tools.commands.station._common import db_option
from host_tools.errors import EXIT_BAD_INPUT, EXIT_FAILED, CliError


@click.command()
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing period.")
@click.option("--area", default=None, metavar="CODE", help="Only this area's customers.")
@click.option("--dry-run", is_flag=True, help="Compute and show; write nothing.")
@click.option("--estimate", is_flag=True,
              help="Estimate a missing frozen value (linear between its neighbours) instead of "
              "holding the statement; the statement is marked estimated and the run recorded.")
@click.option("--issue", is_flag=True,
              help="Then issue the period's drafts: each is charged to its customer's ledger.")
@click.option("--void", "void_number", default=None, metavar="NUMBER",
              help="Void this statement instead (an issued one's charge is reversed).")
@click.option("--reason", default="", help="Why, with --void.")
@click.option("--fail-on-held", is_flag=True, help="Exit 1 if any statement is held.")
@output_options
@user_option
@db_option
def cli(period, area, dry_run, estimate, issue, void_number, reason, fail_on_held, as_json,
        as_csv, user_name, db_url):
    """Bill a period from the meters' frozen values at 00:00 of the reading day.

    Every customer gets a statement: a draft with its lines, or held with the reason (a
    missing frozen value, a register that went down, no tariff, no meter). Running again
    rewrites only drafts and held statements that changed; issued ones are never touched and
    nothing is charged twice. Amounts in yuan; energy in kWh.

    \b
    Examples:
      conc station bill --period 2026-11 --dry-run --user clerk1
      conc station bill --period 2026-11 --area TQ01 --user clerk1
      conc station bill --period 2026-11 --issue --user clerk1 --json
      conc station bill --period 2026-11 --void 2026-11-000042 --reason "wrong multiplier"
    """
    if void_number and (issue or dry_run or estimate):
        raise CliError("--void is given alone (with --reason)", EXIT_BAD_INPUT)
    with business_db(db_url, create=True) as engine:
        user = login(engine, user_name)
        if void_number:
            with engine.begin() as conn:
                billing.void(conn, void_number, now(), user, reason)
            click.echo("statement %s void" % void_number)
            return
        with engine.begin() as conn:
            result = billing.run(conn, period, now(), user, area=area, dry_run=dry_run,
                                 estimate=estimate)
            issued = billing.issue(conn, period, now(), user) if issue and not dry_run else 0
            if issued:
                result = result._replace(statements=billing.period_statements(
                    conn, period, area=area))
    found = result.statements
    emit(["statement", "customer", "state", "kWh", "total (yuan)", "due (yuan)", "note"],
         [[s.number or "-", s.customer_number, s.state, show_kwh(s.kwh_e4), yuan(s.total_fen),
           yuan(s.amount_due_fen), s.hold_reason or ("estimated" if s.estimated else "")]
          for s in found],
         [_json(s) for s in found], as_json, as_csv)
    held = sum(1 for s in found if s.state == "held")
    if not (as_json or as_csv):
        p = result.period
        click.echo("\nperiod %s: 00:00 %s to 00:00 %s, due %s%s" % (
            p.period, p.start_day, p.end_day, p.due_day, " (dry run: nothing written)"
            if dry_run else ""))
        click.echo("%d statements: %d new, %d changed, %d unchanged, %d already issued; "
                   "%d held; %d issued now; total %s yuan" % (
                       len(found), result.created, result.updated, result.unchanged,
                       result.issued_kept, held, issued,
                       yuan(sum(s.total_fen for s in found))))
    if fail_on_held and held:
        raise CliError("%d statements held: see the note column" % held, EXIT_FAILED)


def _json(s):
    return {"number": s.number, "customer": s.customer_number, "state": s.state,
            "hold_reason": s.hold_reason, "estimated": s.estimated, "kwh": show_kwh(s.kwh_e4, 4),
            "total_yuan": yuan(s.total_fen), "opening_balance_yuan": yuan(s.opening_balance_fen),
            "amount_due_yuan": yuan(s.amount_due_fen),
            "lines": [{"kind": line.kind, "description": line.description,
                       "register": line.register,
                       "opening_kwh": None if line.opening_e4 is None else show_kwh(
                           line.opening_e4, 4),
                       "closing_kwh": None if line.closing_e4 is None else show_kwh(
                           line.closing_e4, 4),
                       "multiplier": line.multiplier,
                       "kwh": None if line.kwh_e4 is None else show_kwh(line.kwh_e4, 4),
                       "price": None if line.price_e4 is None else show_price(line.price_e4),
                       "amount_yuan": yuan(line.amount_fen)} for line in s.lines]}
