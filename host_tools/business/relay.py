"""Trip and close a meter's relay on behalf of an authenticated user: the command goes into the
station's `commands` table (state `pending`, audit step `created`) exactly as `conc station
trip/close` writes it, and the running `conc station serve` carries it out
(host_tools/station/remote_control.py) and appends each step until the relay state confirms.

    command_id = give(conn, user, "trip", terminal_id, pn, "arrears case 12", now)

A reason is required; the user must hold `relay.control`; the command and the audit log name the
user. Nothing here waits for the relay: callers follow the command's rows.
"""
import json

from sqlalchemy import insert, text

from host_tools.business.tables import audit_log
from host_tools.business.users import require

KINDS = ("trip", "close")


class RelayError(ValueError):
    """A command that cannot be given (the message says why)."""


def give(conn, user, kind, terminal_id, pn, reason, now):
    """Record a trip/close command for measuring point `pn` of a terminal; its id."""
    require(user, "relay.control")
    if kind not in KINDS:
        raise RelayError("a relay command is trip or close, not %r" % (kind,))
    reason = (reason or "").strip()
    if not reason:
        raise RelayError("give the reason for the %s (it is kept with the command)" % kind)
    point = conn.execute(text(
        "SELECT t.area_code, t.address, mp.meter_address FROM measuring_points mp "
        "JOIN terminals t ON t.id = mp.terminal_id WHERE mp.terminal_id = :t AND mp.pn = :pn"),
        {"t": terminal_id, "pn": pn}).first()
    if point is None:
        raise RelayError("no measuring point %s on terminal #%s" % (pn, terminal_id))
    busy = conn.execute(text(
        "SELECT id FROM commands WHERE terminal_id = :t AND pn = :pn AND kind IN ('trip', "
        "'close') AND finished_at IS NULL"), {"t": terminal_id, "pn": pn}).first()
    if busy is not None:
        raise RelayError("command #%d for this meter is still in progress: wait for it to "
                         "finish" % busy.id)
    label = "%s-%d" % (point.area_code, point.address)
    command_id = conn.execute(text(
        "INSERT INTO commands (terminal_id, terminal_label, pn, meter_address, kind, operator, "
        "reason, parameters, state, created_at, updated_at) VALUES (:t, :label, :pn, :meter, "
        ":kind, :operator, :reason, '{}', 'pending', :now, :now) RETURNING id"),
        {"t": terminal_id, "label": label, "pn": pn, "meter": point.meter_address, "kind": kind,
         "operator": user.name, "reason": reason, "now": now}).scalar()
    conn.execute(text("INSERT INTO command_steps (command_id, at, step, outcome, detail) "
                      "VALUES (:id, :now, 'created', 'ok', :detail)"),
                 {"id": command_id, "now": now, "detail": "by %s" % user.name})
    conn.execute(insert(audit_log).values(
        at=now, user_id=user.id, action="relay.%s" % kind,
        subject="meter:%s:%d" % (label, pn),
        detail=json.dumps({"command_id": command_id, "meter": point.meter_address,
                           "reason": reason}, sort_keys=True)))
    return command_id
