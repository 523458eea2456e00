"""Terminal sessions: logins, heartbeats, logouts, and logins that were refused.

Part of the Station (repository.py).
"""
from sqlalchemy import bindparam, insert, select, text, update

from host_tools.station.records import Session
from host_tools.station.station_part import StationPart
from host_tools.station.tables import denied_logins, sessions, terminals

_END_OLDER = (update(sessions)
              .where(sessions.c.terminal_id == bindparam("tid"), sessions.c.ended_at.is_(None))
              .values(ended_at=bindparam("at"), end_reason="replaced by a new login"))
_START = insert(sessions).returning(sessions.c.id, sort_by_parameter_order=True)
_ONLINE = (update(terminals).where(terminals.c.id == bindparam("tid"))
           .values(status="online", last_seen_at=bindparam("at"), last_login_at=bindparam("at")))
_END = (update(sessions).where(sessions.c.id == bindparam("sid"), sessions.c.ended_at.is_(None))
        .values(ended_at=bindparam("at"), end_reason=bindparam("reason")))
# The terminal of a session goes offline unless it has another session still open.
_OFFLINE = text("UPDATE terminals SET status = 'offline' WHERE id = (SELECT terminal_id FROM "
                "sessions WHERE id = :sid) AND NOT EXISTS (SELECT 1 FROM sessions s WHERE "
                "s.terminal_id = terminals.id AND s.ended_at IS NULL)")
_BEAT = (update(sessions).where(sessions.c.id == bindparam("sid"))
         .values(last_heartbeat_at=bindparam("at"), heartbeats=sessions.c.heartbeats + 1))
_SEEN = text("UPDATE terminals SET last_seen_at = :at WHERE id = "
             "(SELECT terminal_id FROM sessions WHERE id = :sid)")


class SessionsMixin(StationPart):
    """Who is connected, and since when (mixed into Station)."""

    def open_session(self, terminal_id, peer="", at=None):
        """A terminal logged in: start its session (ending any it still had); the session id."""
        return self.open_sessions([(terminal_id, peer, at)])[0]

    def open_sessions(self, logins, front_end_id=None):
        """Many logins in one transaction (a front end's batch): [(terminal_id, peer, at)] ->
        their session ids, in order. Same effect as open_session for each. The sessions are
        held by `front_end_id` (front_ends.py): a terminal's session held by another front end
        ends here, and that front end drops its link when it sees it ended."""
        ids = []
        logins = [{"tid": terminal_id, "peer": peer or "", "at": self._at(at)}
                  for terminal_id, peer, at in logins]
        if not logins:
            return ids
        # A terminal logging in twice in one batch: its later login ends the earlier one's
        # session, so those go one by one.
        rounds = [logins] if len({login["tid"] for login in logins}) == len(logins) else \
            [[login] for login in logins]
        with self._ingest_transaction():  # pyright: ignore[reportAttributeAccessIssue] - a method of another Station part
            for batch in rounds:
                self.db.execute(_END_OLDER, batch)
                # One statement for the batch (SQLAlchemy's insertmanyvalues), ids in order.
                ids += self.db.execute(_START, [
                    {"terminal_id": login["tid"], "peer": login["peer"],
                     "started_at": login["at"], "front_end_id": front_end_id}
                    for login in batch]).scalars().all()
            self.db.execute(_ONLINE, logins)
        return ids

    def close_sessions(self, closes):
        """Many session ends in one transaction: [(session_id, reason, at)] (see close_session)."""
        closes = [{"sid": session_id, "reason": reason, "at": self._at(at)}
                  for session_id, reason, at in closes]
        if not closes:
            return
        with self.db.transaction():
            self.db.execute(_END, closes)
            self.db.execute(_OFFLINE, closes)

    def record_heartbeats(self, beats):
        """Record heartbeats, many at once: an iterable of (session_id, at) (at None = now)."""
        rows = [{"sid": session_id, "at": self._at(at)} for session_id, at in beats]
        if not rows:
            return
        with self.db.transaction():
            self.db.execute(_BEAT, rows)
            self.db.execute(_SEEN, rows)

    def close_session(self, session_id, reason, at=None):
        """A session ended (logout, heartbeat timeout, connection lost); the terminal goes offline
        unless it has already opened a newer session."""
        self.close_sessions([(session_id, reason, at)])

    def close_open_sessions(self, reason="station restarted", at=None):
        """End every open session (a station starting up after a crash); returns how many."""
        at = self._at(at)
        with self.db.transaction():
            closed = self.db.execute(update(sessions).where(sessions.c.ended_at.is_(None))
                                     .values(ended_at=at, end_reason=reason)).rowcount
            self.db.execute(update(terminals).where(terminals.c.status != "offline")
                            .values(status="offline"))
        return closed

    def sessions(self, terminal_id, limit=20):
        """A terminal's latest sessions, newest first."""
        s = sessions.c
        with self.db.transaction(write=False):
            rows = self.db.rows(
                select(s.id, s.terminal_id, s.peer, s.started_at, s.last_heartbeat_at,
                       s.heartbeats, s.ended_at, s.end_reason)
                .where(s.terminal_id == terminal_id)
                .order_by(s.started_at.desc(), s.id.desc()).limit(int(limit)))
        return [Session(r[0], r[1], r[2], self._time(r[3]), self._time(r[4]), r[5],
                        self._time(r[6]), r[7]) for r in rows]

    def log_denied_login(self, area_code, address, peer, reason, at=None):
        """Log a refused login (unknown A1/A2, bad frame, wrong password)."""
        self.log_denied_logins([(peer, area_code, address, reason)], at)

    def log_denied_logins(self, rows, at=None):
        """Log many refusals in one transaction: [(peer, area_code, address, reason)]."""
        at = self._at(at)
        rows = [{"at": at, "peer": peer or "", "area_code": str(area_code),
                 "address": int(address), "reason": reason}
                for peer, area_code, address, reason in rows]
        if not rows:
            return
        with self.db.transaction():
            self.db.execute(insert(denied_logins), rows)

    def denied_logins(self, since=None):
        """[(at, peer, area_code, address, reason)], oldest first."""
        since = 0 if since is None else self._at(since)
        d = denied_logins.c
        with self.db.transaction(write=False):
            rows = self.db.rows(select(d.at, d.peer, d.area_code, d.address, d.reason)
                                .where(d.at >= since).order_by(d.at, d.id))
        return [(self._time(r[0]),) + tuple(r[1:]) for r in rows]
