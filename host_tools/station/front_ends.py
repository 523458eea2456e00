"""The front ends serving one database: who holds which terminal, who executes which command.

Several `conc station serve` processes may share one PostgreSQL database (a utility outgrowing
one machine); on SQLite one only (serving.sole_front_end). Each process registers a
`front_ends` row and beats it every few seconds. The rules, the same on both engines:

- A terminal is held by the front end whose open session it has (`sessions.front_end_id`).
  A terminal logging in to another front end ends its older session in the database
  (sessions.py); the old holder sees that session ended (`ended_sessions`) and drops the link.
- A login of a terminal held by another front end from another IP: the new front end asks the
  holder (`ask_probe`, answered at the holder's next beat by a clock read on the session) and
  refuses the login while the old session answers, as one front end does (frontend.py).
- A front end whose heartbeat is older than its peers' `stale_s` is dead (kill -9, a lost
  machine): the first live one to notice retires it (`take_over_stale`) - its sessions are
  ended (its terminals reconnect wherever they can), its pending commands released for the
  terminal's next holder, and a command it had sent is failed (its relay state is unknown; the
  operator decides on sending it again: nothing is sent twice behind their back).
- A command is claimed by one front end (`commands.front_end_id`) in one transaction
  serialised across processes (`claim_commands`): by the terminal's holder, or by any live
  front end when no live one holds it (to wait for the terminal, or fail). At most one
  unfinished command per meter is claimed or sent at a time: the others are `queued`.
  A claimed command whose terminal moves to another front end is released to it
  (`release_command`), and the new holder claims it: the command follows the terminal.

Claims and take-overs run under one PostgreSQL transaction-scoped advisory lock: commands are
few (operator actions), so serialising their claims costs nothing measurable, and it keeps the
one-per-meter check free of races that row locks (SKIP LOCKED skips, it does not wait) would
leave between two processes claiming two commands of one meter. SQLite's BEGIN IMMEDIATE
serialises the same transactions.

Times here are the machines' wall clocks (Unix seconds): a heartbeat says a process is alive,
it dates no data. Part of the Station (repository.py).
"""
from sqlalchemy import and_, bindparam, insert, or_, select, text, update

from host_tools.station.db import POSTGRESQL
from host_tools.station.station_part import StationPart
from host_tools.station.tables import command_steps, commands, front_ends, sessions

_PG_CLAIM_LOCK = 1376_0005      # any constant: the advisory lock of claims and take-overs
KINDS = ("trip", "close")       # the commands front ends execute (command_runner.py)

_END_SESSIONS_OF = text(
    "UPDATE sessions SET ended_at = :at, end_reason = :reason "
    "WHERE front_end_id = :fid AND ended_at IS NULL")
_OFFLINE_UNLESS_HELD = text(
    "UPDATE terminals SET status = 'offline' WHERE status <> 'offline' AND NOT EXISTS "
    "(SELECT 1 FROM sessions s WHERE s.terminal_id = terminals.id AND s.ended_at IS NULL)")
_STEP = insert(command_steps).values(command_id=bindparam("cid"), at=bindparam("at"),
                                     step=bindparam("step"), outcome=bindparam("outcome"),
                                     detail=bindparam("detail"))


class FrontEndsMixin(StationPart):
    """The front_ends registry, terminal holders and command claims (mixed into Station)."""

    def _claim_lock(self):
        if self.db.dialect == POSTGRESQL:
            self.db.execute("SELECT pg_advisory_xact_lock(:key)", {"key": _PG_CLAIM_LOCK})

    def register_front_end(self, host, pid, listen, at):
        """A serve process starts: its front_ends id."""
        with self.db.transaction():
            return self.db.scalar(insert(front_ends).values(
                host=host, pid=pid, listen=listen, started_at=at, heartbeat_at=at)
                .returning(front_ends.c.id))

    def beat_front_end(self, front_end_id, at):
        """Record that the front end lives; False when its peers have retired it meanwhile
        (it stalled past their stale limit: its sessions and claims are no longer its own)."""
        f = front_ends.c
        with self.db.transaction():
            return self.db.execute(update(front_ends).where(
                f.id == front_end_id, f.stopped_at.is_(None)).values(heartbeat_at=at)
            ).rowcount == 1

    def live_front_ends(self, stale_before):
        """[(id, host, pid, listen, heartbeat_at)] of the front ends alive at `stale_before`."""
        f = front_ends.c
        with self.db.transaction(write=False):
            return [tuple(r) for r in self.db.rows(
                select(f.id, f.host, f.pid, f.listen, f.heartbeat_at)
                .where(f.stopped_at.is_(None), f.heartbeat_at >= stale_before).order_by(f.id))]

    def stop_front_end(self, front_end_id, reason, at):
        """A front end stops (its sessions were ended by it): retire it."""
        with self.db.transaction():
            self._claim_lock()
            self._retire([front_end_id], reason, at)

    def take_over_stale(self, front_end_id, stale_before, at):
        """Retire every other front end not heard from since `stale_before` (module docstring);
        the ids retired."""
        f = front_ends.c
        with self.db.transaction():
            self._claim_lock()
            dead = self.db.execute(select(f.id).where(
                f.stopped_at.is_(None), f.id != front_end_id,
                f.heartbeat_at < stale_before)).scalars().all()
            if dead:
                self._retire(dead, "no heartbeat since before %d" % stale_before, at)
        return dead

    def end_sessions_of_no_front_end(self, reason, at):
        """End the sessions no live front end holds: those left open by a station before
        revision 0005, or by a front end retired while they were being written. How many."""
        s, f = sessions.c, front_ends.c
        retired = select(f.id).where(f.stopped_at.is_not(None))
        with self.db.transaction():
            ended = self.db.execute(update(sessions).where(
                s.ended_at.is_(None),
                or_(s.front_end_id.is_(None), s.front_end_id.in_(retired)))
                .values(ended_at=at, end_reason=reason)).rowcount
            if ended:
                self.db.execute(_OFFLINE_UNLESS_HELD)
        return ended

    def _retire(self, ids, reason, at):
        c = commands.c
        for fid in ids:
            self.db.execute(update(front_ends).where(front_ends.c.id == fid,
                                                     front_ends.c.stopped_at.is_(None))
                            .values(stopped_at=at, stop_reason=reason))
            self.db.execute(_END_SESSIONS_OF, {"fid": fid, "at": at,
                                               "reason": "front end #%d stopped" % fid})
            claimed = self.db.rows(select(c.id, c.state).where(
                c.front_end_id == fid, c.finished_at.is_(None)))
            for command_id, state in claimed:
                if state == "sent":
                    self.db.execute(_STEP, {"cid": command_id, "at": at, "step": "station",
                                            "outcome": "failed", "detail": (
                                                "front end #%d stopped while the command was in "
                                                "progress; the relay state is unknown" % fid)})
                    self.db.execute(update(commands).where(c.id == command_id).values(
                        state="failed", updated_at=at, finished_at=at, front_end_id=None))
                else:
                    self.db.execute(_STEP, {"cid": command_id, "at": at, "step": "station",
                                            "outcome": "moved", "detail": (
                                                "front end #%d stopped; the front end holding "
                                                "the terminal carries the command out" % fid)})
                    self.db.execute(update(commands).where(c.id == command_id).values(
                        front_end_id=None, updated_at=at))
        self.db.execute(_OFFLINE_UNLESS_HELD)

    def ended_sessions(self, front_end_id, since):
        """Ids of the front end's sessions ended at or after `since` (by anyone)."""
        s = sessions.c
        with self.db.transaction(write=False):
            return set(self.db.execute(select(s.id).where(
                s.front_end_id == front_end_id, s.ended_at >= since)).scalars())

    def terminal_holder(self, terminal_id, stale_before):
        """The live front end holding the terminal (its newest open session), or None."""
        s, f = sessions.c, front_ends.c
        with self.db.transaction(write=False):
            return self.db.scalar(
                select(s.front_end_id).join(front_ends, f.id == s.front_end_id)
                .where(s.terminal_id == terminal_id, s.ended_at.is_(None),
                       f.stopped_at.is_(None), f.heartbeat_at >= stale_before)
                .order_by(s.id.desc()).limit(1))

    def claim_commands(self, front_end_id, stale_before, at):
        """Claim the trip/close commands this front end should execute now, oldest first:
        [(command id, sends, relay_baseline)] (module docstring). A command waiting for another
        of its meter gets the step `queued` once."""
        c, s, f = commands.c, sessions.c, front_ends.c
        claimed = []
        with self.db.transaction():
            self._claim_lock()
            candidates = self.db.rows(
                select(c.id, c.terminal_id, c.pn, c.state, c.sends, c.relay_baseline)
                .where(c.kind.in_(KINDS), c.finished_at.is_(None), c.front_end_id.is_(None),
                       or_(c.state == "pending", and_(c.state == "sent", c.sends >= 1)))
                .order_by(c.created_at, c.id))
            if not candidates:
                return claimed
            busy = {(r[0], r[1]): r[2] for r in self.db.rows(
                select(c.terminal_id, c.pn, c.id)
                .where(c.kind.in_(KINDS), c.finished_at.is_(None),
                       or_(c.front_end_id.is_not(None), c.state == "sent"))
                .order_by(c.id.desc()))}
            holders = dict(self.db.rows(
                select(s.terminal_id, s.front_end_id).join(front_ends, f.id == s.front_end_id)
                .where(s.ended_at.is_(None), f.stopped_at.is_(None),
                       f.heartbeat_at >= stale_before,
                       s.terminal_id.in_({r[1] for r in candidates}))
                .order_by(s.id)))              # the newest open session wins
            for command_id, terminal_id, pn, _state, sends, baseline in candidates:
                holder = holders.get(terminal_id)
                if holder is not None and holder != front_end_id:
                    continue                    # its holder claims it
                meter = (terminal_id, pn)
                other = busy.get(meter)
                if other is not None and other != command_id:
                    self._note_queued(command_id, other, at)
                    continue
                self.db.execute(update(commands).where(
                    c.id == command_id, c.front_end_id.is_(None))
                    .values(front_end_id=front_end_id, updated_at=at))
                busy[meter] = command_id
                claimed.append((command_id, sends, baseline))
        return claimed

    def _note_queued(self, command_id, other, at):
        cs = command_steps.c
        if self.db.row(select(cs.id).where(cs.command_id == command_id, cs.step == "queued")):
            return
        self.db.execute(_STEP, {"cid": command_id, "at": at, "step": "queued",
                                "outcome": "waiting", "detail": (
                                    "command #%d on the same meter is in progress; this one "
                                    "starts when it has finished" % other)})

    def release_command(self, command_id, front_end_id, at):
        """Give a claimed, unfinished command back (its terminal is held elsewhere now)."""
        c = commands.c
        with self.db.transaction():
            return self.db.execute(update(commands).where(
                c.id == command_id, c.front_end_id == front_end_id, c.finished_at.is_(None))
                .values(front_end_id=None, updated_at=at)).rowcount == 1

    def note_command_send(self, command_id, relay_baseline):
        """The command's request goes out (once more): count it, keep the baseline of the
        first send. The number of sends so far."""
        c = commands.c
        with self.db.transaction():
            self.db.execute(update(commands).where(c.id == command_id).values(
                sends=c.sends + 1,
                relay_baseline=relay_baseline if relay_baseline is not None
                else c.relay_baseline))
            return self.db.scalar(select(c.sends).where(c.id == command_id))

    def unowned_sent_commands(self):
        """Ids of trip/close commands left `sent` by a station before revision 0005 (no front
        end, never counted as sent)."""
        c = commands.c
        with self.db.transaction(write=False):
            return self.db.execute(select(c.id).where(
                c.kind.in_(KINDS), c.state == "sent", c.finished_at.is_(None),
                c.front_end_id.is_(None), c.sends == 0).order_by(c.id)).scalars().all()

    def held_elsewhere(self, terminal_id, front_end_id, stale_before):
        """(session id, peer, front end id) of the terminal's open session held by another
        live front end, or None."""
        s, f = sessions.c, front_ends.c
        with self.db.transaction(write=False):
            row = self.db.row(
                select(s.id, s.peer, s.front_end_id).join(front_ends, f.id == s.front_end_id)
                .where(s.terminal_id == terminal_id, s.ended_at.is_(None),
                       s.front_end_id != front_end_id, f.stopped_at.is_(None),
                       f.heartbeat_at >= stale_before)
                .order_by(s.id.desc()).limit(1))
        return None if row is None else tuple(row)

    def ask_probe(self, session_id, at):
        """Ask the front end holding the session whether it still answers."""
        s = sessions.c
        with self.db.transaction():
            self.db.execute(update(sessions).where(s.id == session_id, s.ended_at.is_(None))
                            .values(probe_asked_at=at, probe_answer=None))

    def probe_answer(self, session_id):
        """'alive', 'silent', 'ended' (the session ended meanwhile) or None (no answer yet)."""
        s = sessions.c
        with self.db.transaction(write=False):
            row = self.db.row(select(s.probe_answer, s.ended_at).where(s.id == session_id))
        if row is None or row[1] is not None:
            return "ended"
        return row[0]

    def probes_asked(self, front_end_id):
        """Ids of this front end's open sessions another front end asks about."""
        s = sessions.c
        with self.db.transaction(write=False):
            return self.db.execute(select(s.id).where(
                s.front_end_id == front_end_id, s.ended_at.is_(None),
                s.probe_asked_at.is_not(None), s.probe_answer.is_(None))).scalars().all()

    def answer_probe(self, session_id, answer):
        with self.db.transaction():
            self.db.execute(update(sessions).where(sessions.c.id == session_id)
                            .values(probe_answer=answer))
