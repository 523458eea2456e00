"""Terminal sessions: logins, heartbeats, logouts, and logins that were refused.

Part of the Station (repository.py).
"""
from host_tools.station.records import Session


class SessionsMixin:
    """Who is connected, and since when (mixed into Station)."""

    def open_session(self, terminal_id, peer="", at=None):
        """A terminal logged in: start its session (ending any it still had); the session id."""
        at = self._at(at)
        with self._ingest_transaction():
            self.db.execute("UPDATE sessions SET ended_at = ?, end_reason = 'replaced by a new "
                            "login' WHERE terminal_id = ? AND ended_at IS NULL", (at, terminal_id))
            session_id = self.db.scalar(
                "INSERT INTO sessions (terminal_id, peer, started_at) VALUES (?, ?, ?) "
                "RETURNING id", (terminal_id, peer or "", at))
            self.db.execute("UPDATE terminals SET status = 'online', last_seen_at = ?, "
                            "last_login_at = ? WHERE id = ?", (at, at, terminal_id))
        return session_id

    def open_sessions(self, logins):
        """Many logins in one transaction (a front end's batch): [(terminal_id, peer, at)] ->
        their session ids, in order. Same effect as open_session for each."""
        ids = []
        logins = [(terminal_id, peer, self._at(at)) for terminal_id, peer, at in logins]
        if not logins:
            return ids
        with self._ingest_transaction():
            for terminal_id, peer, at in logins:
                self.db.execute("UPDATE sessions SET ended_at = ?, end_reason = 'replaced by a "
                                "new login' WHERE terminal_id = ? AND ended_at IS NULL",
                                (at, terminal_id))
                ids.append(self.db.scalar(
                    "INSERT INTO sessions (terminal_id, peer, started_at) VALUES (?, ?, ?) "
                    "RETURNING id", (terminal_id, peer or "", at)))
            self.db.executemany("UPDATE terminals SET status = 'online', last_seen_at = ?, "
                                "last_login_at = ? WHERE id = ?",
                                [(at, at, terminal_id) for terminal_id, _, at in logins])
        return ids

    def close_sessions(self, closes):
        """Many session ends in one transaction: [(session_id, reason, at)] (see close_session)."""
        closes = [(session_id, reason, self._at(at)) for session_id, reason, at in closes]
        if not closes:
            return
        with self.db.transaction():
            self.db.executemany("UPDATE sessions SET ended_at = ?, end_reason = ? "
                                "WHERE id = ? AND ended_at IS NULL",
                                [(at, reason, session_id) for session_id, reason, at in closes])
            self.db.executemany(
                "UPDATE terminals SET status = 'offline' WHERE id = (SELECT terminal_id FROM "
                "sessions WHERE id = ?) AND NOT EXISTS (SELECT 1 FROM sessions s WHERE "
                "s.terminal_id = terminals.id AND s.ended_at IS NULL)",
                [(session_id,) for session_id, _, _ in closes])

    def record_heartbeats(self, beats):
        """Record heartbeats, many at once: an iterable of (session_id, at) (at None = now)."""
        rows = [(self._at(at), session_id) for session_id, at in beats]
        if not rows:
            return
        with self.db.transaction():
            self.db.executemany("UPDATE sessions SET last_heartbeat_at = ?, "
                                "heartbeats = heartbeats + 1 WHERE id = ?", rows)
            self.db.executemany("UPDATE terminals SET last_seen_at = ? WHERE id = "
                                "(SELECT terminal_id FROM sessions WHERE id = ?)", rows)

    def close_session(self, session_id, reason, at=None):
        """A session ended (logout, heartbeat timeout, connection lost); the terminal goes offline
        unless it has already opened a newer session."""
        at = self._at(at)
        with self.db.transaction():
            terminal_id = self.db.scalar("SELECT terminal_id FROM sessions WHERE id = ?",
                                         (session_id,))
            self.db.execute("UPDATE sessions SET ended_at = ?, end_reason = ? "
                            "WHERE id = ? AND ended_at IS NULL", (at, reason, session_id))
            if terminal_id is not None:
                self.db.execute(
                    "UPDATE terminals SET status = 'offline' WHERE id = ? AND NOT EXISTS "
                    "(SELECT 1 FROM sessions WHERE terminal_id = ? AND ended_at IS NULL)",
                    (terminal_id, terminal_id))

    def close_open_sessions(self, reason="station restarted", at=None):
        """End every open session (a station starting up after a crash); returns how many."""
        at = self._at(at)
        with self.db.transaction():
            closed = self.db.execute("UPDATE sessions SET ended_at = ?, end_reason = ? "
                                     "WHERE ended_at IS NULL", (at, reason)).rowcount
            self.db.execute("UPDATE terminals SET status = 'offline' WHERE status <> 'offline'")
        return closed

    def sessions(self, terminal_id, limit=20):
        """A terminal's latest sessions, newest first."""
        with self.db.transaction(write=False):
            rows = self.db.rows(
                "SELECT id, terminal_id, peer, started_at, last_heartbeat_at, heartbeats, "
                "ended_at, end_reason FROM sessions WHERE terminal_id = ? "
                "ORDER BY started_at DESC, id DESC LIMIT %d" % int(limit), (terminal_id,))
        return [Session(r[0], r[1], r[2], self._time(r[3]), self._time(r[4]), r[5],
                        self._time(r[6]), r[7]) for r in rows]

    def log_denied_login(self, area_code, address, peer, reason, at=None):
        """Log a refused login (unknown A1/A2, bad frame, wrong password)."""
        with self.db.transaction():
            self.db.execute("INSERT INTO denied_logins (at, peer, area_code, address, reason) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (self._at(at), peer or "", str(area_code), int(address), reason))

    def denied_logins(self, since=None):
        """[(at, peer, area_code, address, reason)], oldest first."""
        since = 0 if since is None else self._at(since)
        with self.db.transaction(write=False):
            rows = self.db.rows("SELECT at, peer, area_code, address, reason FROM denied_logins "
                                "WHERE at >= ? ORDER BY at, id", (since,))
        return [(self._time(r[0]),) + tuple(r[1:]) for r in rows]
