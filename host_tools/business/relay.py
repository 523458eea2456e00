"""Remote trip and close given by an authenticated user, through the station's command runner.

    command_id = queue(conn, terminal_id, pn, "trip", user, reason="arrears case 7")

This writes the same `commands` row and `created` audit step as `conc station trip` did, plus
`commands.user_id`: the running `conc station serve` carries it out (AFN05 F1 / F2,
host_tools/station/command_runner.py) only if that user exists, is active and may control
relays (dispatcher or admin). Writing it in the caller's transaction lets an arrears case and
its command change together or not at all.
"""
import json

from sqlalchemy import insert, select

from host_tools.business import audit
from host_tools.station.tables import command_steps, commands, measuring_points, terminals
from host_tools.business.errors import BusinessError
from host_tools.business.users import require
from host_tools.station.records import terminal_label

KINDS = ("trip", "close")


def queue(conn, terminal_id, pn, kind, user, now, reason=""):
    """Queue a trip or close of meter (terminal_id, pn) by `user`; returns the command id."""
    if kind not in KINDS:
        raise BusinessError("a relay command is trip or close, not %r" % (kind,))
    require(user, "relay.control")
    terminal = conn.execute(select(terminals.c.area_code, terminals.c.address)
                            .where(terminals.c.id == terminal_id)).first()
    if terminal is None:
        raise BusinessError("no terminal with id %r" % (terminal_id,))
    address = conn.execute(select(measuring_points.c.meter_address).where(
        measuring_points.c.terminal_id == terminal_id, measuring_points.c.pn == pn)).scalar()
    command_id = conn.execute(insert(commands).values(
        terminal_id=terminal_id, terminal_label=terminal_label(*terminal), pn=pn,
        meter_address=address, kind=kind, operator=user.name, reason=reason or "",
        parameters=json.dumps({}), state="pending", created_at=now, updated_at=now,
        user_id=user.id).returning(commands.c.id)).scalar()
    conn.execute(insert(command_steps).values(command_id=command_id, at=now, step="created",
                                              outcome="ok", detail="by %s" % user.name))
    audit.record(conn, user, "relay.%s" % kind, "meter:%s:%d" % (terminal_label(*terminal), pn),
                 now, command_id=command_id, reason=reason or "")
    return command_id


def command_state(conn, command_id):
    return conn.execute(select(commands.c.state).where(commands.c.id == command_id)).scalar()


def last_step(conn, command_id):
    row = conn.execute(select(command_steps.c.step, command_steps.c.outcome,
                              command_steps.c.detail)
                       .where(command_steps.c.command_id == command_id)
                       .order_by(command_steps.c.id.desc()).limit(1)).first()
    return "" if row is None else "%s %s: %s" % tuple(row)
