"""Operator commands (trip, close, time sync ...) and their append-only audit trail.

A command is created by an operator (state `pending`); the front end appends each step it
takes and what came of it, moving the command through `sent` to a final state (`confirmed`,
`denied`, `timeout`, `failed`, `cancelled`). Part of the Station (repository.py).
"""
import json

from sqlalchemy import insert, select, update

from host_tools.station.errors import InvalidValue
from host_tools.station.records import Command, CommandStep
from host_tools.station.station_part import StationPart
from host_tools.station.tables import command_steps, commands

COMMAND_STATES = ("pending", "sent", "confirmed", "denied", "timeout", "failed", "cancelled")
FINAL_STATES = ("confirmed", "denied", "timeout", "failed", "cancelled")
_COMMAND_COLUMNS = tuple(commands.c[name] for name in (
    "id", "terminal_id", "terminal_label", "pn", "meter_address", "kind", "operator", "reason",
    "parameters", "state", "created_at", "updated_at", "finished_at"))


class ControlMixin(StationPart):
    """Commands and the audit trail (mixed into Station)."""

    def _command(self, row):
        return Command(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                       json.loads(row[8] or "{}"), row[9], self._time(row[10]),
                       self._time(row[11]), self._time(row[12]))

    def create_command(self, terminal_id, kind, operator, pn=None, meter_address=None, reason="",
                       parameters=None, at=None):
        """Record an operator's command (state 'pending', audit step 'created'); its id."""
        if not operator or not str(operator).strip():
            raise InvalidValue("a command needs the operator who gave it")
        if not kind:
            raise InvalidValue("a command needs a kind (e.g. 'trip')")
        at = self._at(at)
        terminal = self.terminal(terminal_id)  # pyright: ignore[reportAttributeAccessIssue] - a method of another Station part
        with self.db.transaction():
            command_id = self.db.scalar(insert(commands).values(
                terminal_id=terminal.id, terminal_label=terminal.label, pn=pn,
                meter_address=meter_address, kind=kind, operator=str(operator).strip(),
                reason=reason or "", parameters=json.dumps(parameters or {}, sort_keys=True),
                state="pending", created_at=at, updated_at=at).returning(commands.c.id))
            self.db.execute(insert(command_steps).values(
                command_id=command_id, at=at, step="created", outcome="ok",
                detail="by %s" % str(operator).strip()))
        return command_id

    def record_command_step(self, command_id, step, outcome, detail="", state=None, at=None):
        """Append one step to a command's audit trail, optionally moving it to a new state.

        States: pending, sent, confirmed, denied, timeout, failed, cancelled (the last five are
        final: finished_at is set, and a finished command takes no new state).
        """
        if state is not None and state not in COMMAND_STATES:
            raise InvalidValue("bad command state %r: one of %s" % (state, ", ".join(COMMAND_STATES)))
        at = self._at(at)
        with self.db.transaction():
            current = self.db.row(select(commands.c.state).where(commands.c.id == command_id))
            if current is None:
                raise InvalidValue("no command with id %r" % (command_id,))
            self.db.execute(insert(command_steps).values(
                command_id=command_id, at=at, step=step, outcome=outcome, detail=detail or ""))
            this = update(commands).where(commands.c.id == command_id)
            if state is not None:
                if current[0] in FINAL_STATES:
                    raise InvalidValue("command %d already finished as %s" % (command_id, current[0]))
                self.db.execute(this.values(state=state, updated_at=at,
                                            finished_at=at if state in FINAL_STATES else None))
            else:
                self.db.execute(this.values(updated_at=at))

    def command(self, command_id):
        with self.db.transaction(write=False):
            row = self.db.row(select(*_COMMAND_COLUMNS).where(commands.c.id == command_id))
        if row is None:
            raise InvalidValue("no command with id %r" % (command_id,))
        return self._command(row)

    def command_steps(self, command_id):
        """The audit trail of one command, in order."""
        with self.db.transaction(write=False):
            cs = command_steps.c
            rows = self.db.rows(select(cs.command_id, cs.at, cs.step, cs.outcome, cs.detail)
                                .where(cs.command_id == command_id).order_by(cs.id))
        return [CommandStep(r[0], self._time(r[1]), r[2], r[3], r[4]) for r in rows]

    def commands(self, terminal_id=None, since=None, unfinished=False):
        """Commands, oldest first; unfinished=True: only those still pending or sent."""
        c = commands.c
        query = select(*_COMMAND_COLUMNS).order_by(c.created_at, c.id)
        if terminal_id is not None:
            query = query.where(c.terminal_id == terminal_id)
        if since is not None:
            query = query.where(c.created_at >= self._at(since))
        if unfinished:
            query = query.where(c.finished_at.is_(None))
        with self.db.transaction(write=False):
            rows = self.db.rows(query)
        return [self._command(r) for r in rows]
