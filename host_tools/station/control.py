"""Operator commands (trip, close, time sync ...) and their append-only audit trail.

A command is created by an operator (state `pending`); the front end appends each step it
takes and what came of it, moving the command through `sent` to a final state (`confirmed`,
`denied`, `timeout`, `failed`, `cancelled`). Part of the Station (repository.py).
"""
import json

from host_tools.station.errors import InvalidValue
from host_tools.station.records import Command, CommandStep

COMMAND_STATES = ("pending", "sent", "confirmed", "denied", "timeout", "failed", "cancelled")
FINAL_STATES = ("confirmed", "denied", "timeout", "failed", "cancelled")
_COMMAND_COLUMNS = ("id, terminal_id, terminal_label, pn, meter_address, kind, operator, reason, "
                    "parameters, state, created_at, updated_at, finished_at")


class ControlMixin:
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
        terminal = self.terminal(terminal_id)
        with self.db.transaction():
            command_id = self.db.scalar(
                "INSERT INTO commands (terminal_id, terminal_label, pn, meter_address, kind, "
                "operator, reason, parameters, state, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING id",
                (terminal.id, terminal.label, pn, meter_address, kind, str(operator).strip(),
                 reason or "", json.dumps(parameters or {}, sort_keys=True), at, at))
            self.db.execute("INSERT INTO command_steps (command_id, at, step, outcome, detail) "
                            "VALUES (?, ?, 'created', 'ok', ?)",
                            (command_id, at, "by %s" % str(operator).strip()))
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
            current = self.db.row("SELECT state FROM commands WHERE id = ?", (command_id,))
            if current is None:
                raise InvalidValue("no command with id %r" % (command_id,))
            self.db.execute("INSERT INTO command_steps (command_id, at, step, outcome, detail) "
                            "VALUES (?, ?, ?, ?, ?)", (command_id, at, step, outcome, detail or ""))
            if state is not None:
                if current[0] in FINAL_STATES:
                    raise InvalidValue("command %d already finished as %s" % (command_id, current[0]))
                self.db.execute("UPDATE commands SET state = ?, updated_at = ?, finished_at = ? "
                                "WHERE id = ?", (state, at, at if state in FINAL_STATES else None,
                                                 command_id))
            else:
                self.db.execute("UPDATE commands SET updated_at = ? WHERE id = ?", (at, command_id))

    def command(self, command_id):
        with self.db.transaction(write=False):
            row = self.db.row("SELECT %s FROM commands WHERE id = ?" % _COMMAND_COLUMNS,
                              (command_id,))
        if row is None:
            raise InvalidValue("no command with id %r" % (command_id,))
        return self._command(row)

    def command_steps(self, command_id):
        """The audit trail of one command, in order."""
        with self.db.transaction(write=False):
            rows = self.db.rows("SELECT command_id, at, step, outcome, detail FROM command_steps "
                                "WHERE command_id = ? ORDER BY id", (command_id,))
        return [CommandStep(r[0], self._time(r[1]), r[2], r[3], r[4]) for r in rows]

    def commands(self, terminal_id=None, since=None, unfinished=False):
        """Commands, oldest first; unfinished=True: only those still pending or sent."""
        sql = "SELECT %s FROM commands WHERE 1 = 1" % _COMMAND_COLUMNS
        params = []
        if terminal_id is not None:
            sql += " AND terminal_id = ?"
            params.append(terminal_id)
        if since is not None:
            sql += " AND created_at >= ?"
            params.append(self._at(since))
        if unfinished:
            sql += " AND finished_at IS NULL"
        with self.db.transaction(write=False):
            rows = self.db.rows(sql + " ORDER BY created_at, id", params)
        return [self._command(r) for r in rows]
