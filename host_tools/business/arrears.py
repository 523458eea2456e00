"""Arrears cases and their state machine, from the first notice to the restored supply.

    open_cases(conn, "2026-12-20", now, user)     # balance below -threshold past a due date
    notice(conn, case_id, now, clerk)             # open -> notice_issued
    approve(conn, case_id, now, dispatcher)       # notice_issued -> approved
    trip(conn, case_id, now, dispatcher)          # approved -> trip_sent (AFN05 F1 queued)
    follow(conn, now)                             # trip_sent -> tripped / close_sent -> restored
                                                  # as the commands' relay states confirm

    open -> notice_issued -> approved -> trip_sent -> tripped -> paid -> close_sent -> restored

A payment (or adjustment) that brings the balance to zero or above settles the case: a tripped
meter's close is queued at once (paid -> close_sent) under the authority of the dispatcher who
gave the trip, since the cashier taking the money may not control relays; a case settled
before its trip ends `paid`. A trip or close that the relay does not confirm sends the case
back (trip_sent -> approved, close_sent -> paid) for a person to retry: nothing is sent twice
behind anyone's back. `cancel` ends a case before its trip. Every transition is a row of
arrears_transitions with the user (None: the system, following a payment or a command).
"""
import collections

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy import case as when

from host_tools.business import audit, relay, settings
from host_tools.station.tables import commands
from host_tools.business.errors import BusinessError, NotFound
from host_tools.business.tables import (arrears_cases, arrears_transitions, billing_periods,
                                        customers, ledger, service_points, statements)
from host_tools.business.users import by_id, require

ACTIVE = ("open", "notice_issued", "approved", "trip_sent", "tripped", "paid", "close_sent")
Case = collections.namedtuple(
    "Case", "id customer_id customer_number customer_name state amount_fen balance_fen "
    "opened_at updated_at closed_at trip_command_id close_command_id")
Transition = collections.namedtuple("Transition", "at from_state to_state user_id command_id note")


def _move(conn, case, to_state, now, user, note="", command_id=None, closed=False, **values):
    conn.execute(update(arrears_cases).where(arrears_cases.c.id == case.id).values(
        state=to_state, updated_at=now, closed_at=now if closed else None, **values))
    conn.execute(insert(arrears_transitions).values(
        case_id=case.id, at=now, from_state=case.state, to_state=to_state,
        user_id=None if user is None else user.id, command_id=command_id, note=note))
    return case._replace(state=to_state)


def _query():
    owed = (select(ledger.c.customer_id, func.sum(ledger.c.amount_fen).label("balance"))
            .group_by(ledger.c.customer_id).subquery())
    return (select(arrears_cases, customers.c.number, customers.c.name,
                   func.coalesce(owed.c.balance, 0).label("balance"))
            .join(customers, customers.c.id == arrears_cases.c.customer_id)
            .outerjoin(owed, owed.c.customer_id == arrears_cases.c.customer_id))


def _case(r):
    return Case(r.id, r.customer_id, r.number, r.name, r.state, r.amount_fen, int(r.balance),
                r.opened_at, r.updated_at, r.closed_at, r.trip_command_id, r.close_command_id)


def case(conn, case_id):
    row = conn.execute(_query().where(arrears_cases.c.id == case_id)).first()
    if row is None:
        raise NotFound("no arrears case %r: see `conc station arrears list`" % (case_id,))
    return _case(row)


def cases(conn, state=None, active=True, customer=None):
    query = _query().order_by(arrears_cases.c.opened_at, arrears_cases.c.id)
    if state:
        query = query.where(arrears_cases.c.state == state)
    elif active:
        query = query.where(arrears_cases.c.closed_at.is_(None))
    if customer:
        query = query.where(customers.c.number == customer)
    return [_case(r) for r in conn.execute(query)]


def transitions(conn, case_id):
    rows = conn.execute(select(arrears_transitions).where(arrears_transitions.c.case_id == case_id)
                        .order_by(arrears_transitions.c.id))
    return [Transition(r.at, r.from_state, r.to_state, r.user_id, r.command_id, r.note)
            for r in rows]


def open_cases(conn, today, now, user=None):
    """Open a case for every customer whose overdue balance is below -threshold and who has no
    active case. The overdue balance is the ledger's sum without the charges of statements not
    yet due on `today` (YYYY-MM-DD): a statement issued today is not arrears until its due day
    has passed. Returns the new cases' ids."""
    threshold = settings.get(conn, "arrears_threshold_fen")
    not_due = billing_periods.c.due_day >= today
    owed = (select(ledger.c.customer_id,
                   func.sum(when((not_due, 0), else_=ledger.c.amount_fen)).label("balance"))
            .select_from(ledger.outerjoin(statements, statements.c.id == ledger.c.statement_id)
                         .outerjoin(billing_periods,
                                    billing_periods.c.id == statements.c.period_id))
            .group_by(ledger.c.customer_id).subquery())
    overdue = (select(statements.c.customer_id)
               .join(billing_periods, billing_periods.c.id == statements.c.period_id)
               .where(statements.c.state == "issued", billing_periods.c.due_day < today))
    active = select(arrears_cases.c.customer_id).where(arrears_cases.c.closed_at.is_(None))
    rows = conn.execute(select(owed.c.customer_id, owed.c.balance).where(
        owed.c.balance < -threshold, owed.c.customer_id.in_(overdue),
        owed.c.customer_id.not_in(active)).order_by(owed.c.customer_id)).all()
    opened = []
    for customer_id, balance in rows:
        case_id = conn.execute(insert(arrears_cases).values(
            customer_id=customer_id, state="open", amount_fen=-int(balance), opened_at=now,
            updated_at=now)).inserted_primary_key[0]
        conn.execute(insert(arrears_transitions).values(
            case_id=case_id, at=now, from_state=None, to_state="open",
            user_id=None if user is None else user.id,
            note="balance %d fen below -%d fen past the due day" % (balance, threshold)))
        opened.append(case_id)
    return opened


def _step(conn, case_id, expected, now, user, permission):
    require(user, permission)
    found = case(conn, case_id)
    if found.state not in expected:
        raise BusinessError("arrears case %d is %s; this step needs it %s" % (
            case_id, found.state, " or ".join(expected)))
    return found


def notice(conn, case_id, now, user, note=""):
    """open -> notice_issued: the customer has been told (clerk)."""
    found = _step(conn, case_id, ("open",), now, user, "arrears.notice")
    _move(conn, found, "notice_issued", now, user, note)


def approve(conn, case_id, now, user, note=""):
    """notice_issued -> approved for disconnection (dispatcher)."""
    found = _step(conn, case_id, ("notice_issued",), now, user, "arrears.approve")
    _move(conn, found, "approved", now, user, note)
    audit.record(conn, user, "arrears.approve", "case:%d" % case_id, now, note=note)


def cancel(conn, case_id, now, user, note):
    """End a case before its trip (e.g. a payment plan agreed)."""
    if not (note or "").strip():
        raise BusinessError("say why the case is cancelled (--note)")
    found = _step(conn, case_id, ("open", "notice_issued", "approved"), now, user,
                  "arrears.approve")
    _move(conn, found, "cancelled", now, user, note, closed=True)


def _meter(conn, customer_id, day):
    """(terminal_id, pn) of the customer's meter in service on `day`."""
    rows = conn.execute(select(service_points.c.terminal_id, service_points.c.pn).where(
        service_points.c.customer_id == customer_id, service_points.c.valid_from <= day,
        (service_points.c.valid_to.is_(None)) | (service_points.c.valid_to > day))).all()
    if len(rows) != 1:
        raise BusinessError("the customer has %s meter in service on %s: cannot choose one to "
                            "switch" % ("no" if not rows else "more than one", day))
    return rows[0]


def trip(conn, case_id, today, now, user, note=""):
    """approved -> trip_sent: queue AFN05 F1 for the customer's meter (dispatcher); returns
    the command id."""
    found = _step(conn, case_id, ("approved",), now, user, "relay.control")
    terminal_id, pn = _meter(conn, found.customer_id, today)
    command_id = relay.queue(conn, terminal_id, pn, "trip", user, now,
                             reason="arrears case %d" % case_id)
    _move(conn, found, "trip_sent", now, user, note, command_id=command_id,
          trip_command_id=command_id)
    return command_id


def close(conn, case_id, now, user, note=""):
    """paid -> close_sent: queue AFN05 F2 again after a close that did not confirm."""
    found = _step(conn, case_id, ("paid",), now, user, "relay.control")
    return _queue_close(conn, found, now, user, note)


def _queue_close(conn, found, now, user, note):
    """Close the meter the case's trip opened (the trip command names it)."""
    terminal_id, pn = conn.execute(select(commands.c.terminal_id, commands.c.pn).where(
        commands.c.id == found.trip_command_id)).one()
    command_id = relay.queue(conn, terminal_id, pn, "close", user, now,
                             reason="arrears case %d paid" % found.id)
    _move(conn, found, "close_sent", now, user, note, command_id=command_id,
          close_command_id=command_id)
    return command_id


def settle(conn, customer_id, now, user):
    """After money came in: settle the customer's active case if the balance is >= 0.
    Returns the case's state afterwards (None without an active case)."""
    row = conn.execute(_query().where(arrears_cases.c.customer_id == customer_id,
                                      arrears_cases.c.closed_at.is_(None))).first()
    if row is None:
        return None
    found = _case(row)
    if found.balance_fen < 0:
        return found.state
    if found.state in ("open", "notice_issued", "approved"):
        return _move(conn, found, "paid", now, user, "paid before disconnection",
                     closed=True).state
    if found.state == "tripped":
        found = _move(conn, found, "paid", now, user, "balance %d fen" % found.balance_fen)
        return _auto_close(conn, found, now)
    return found.state          # trip_sent: follow() settles once the trip's outcome is known


def _auto_close(conn, found, now):
    """Queue the close of a paid case under the trip's dispatcher (module docstring)."""
    trip_user = conn.execute(select(commands.c.user_id).where(
        commands.c.id == found.trip_command_id)).scalar()
    _queue_close(conn, found, now, None if trip_user is None else by_id(conn, trip_user),
                 "queued automatically after payment")
    return "close_sent"


def follow(conn, now):
    """Move cases whose trip or close command finished: confirmed -> tripped / restored,
    anything else back to approved / paid with the command's last step as the note. A case
    paid while its trip was in flight gets its close queued. Returns the cases moved."""
    rows = conn.execute(_query().add_columns(commands.c.state.label("command_state"))
                        .join(commands, and_(
                            commands.c.id == func.coalesce(
                                arrears_cases.c.close_command_id, arrears_cases.c.trip_command_id),
                            commands.c.finished_at.is_not(None)))
                        .where(arrears_cases.c.state.in_(("trip_sent", "close_sent")))).all()
    moved = []
    for row in rows:
        found = _case(row)
        command_id = found.close_command_id if found.state == "close_sent" else \
            found.trip_command_id
        confirmed = row.command_state == "confirmed"
        detail = relay.last_step(conn, command_id)
        if found.state == "trip_sent":
            found = _move(conn, found, "tripped" if confirmed else "approved", now, None,
                          detail, command_id=command_id)
            if confirmed and found.balance_fen >= 0:
                found = _move(conn, found, "paid", now, None, "paid while the trip was sent")
                _auto_close(conn, found, now)
        else:
            _move(conn, found, "restored" if confirmed else "paid", now, None, detail,
                  command_id=command_id, closed=confirmed)
        moved.append(found.id)
    return moved
