"""Reading the station's data back: a meter's readings and frozen values, events, status.

Part of the Station (repository.py).
"""
from host_tools.station.ingest import frozen_table
from host_tools.station.records import (StoredEvent, StoredFrozen, StoredReading,
                                        TerminalStatus, terminal_label, to_decimal)
from host_tools.station.registry import TERMINAL_COLUMNS

SILENT_AFTER_S = 30 * 60    # twice the longest usual heartbeat period (15 min)


class QueriesMixin:
    """What the CLI and reports ask (mixed into Station)."""

    def readings(self, terminal_id, pn, since, until, items=None):
        """A point's readings with since <= read_at < until (datetimes or Unix seconds)."""
        sql = ("SELECT r.terminal_id, t.area_code, t.address, r.pn, r.item, r.read_at, r.value, "
               "r.scale, r.received_at FROM readings r JOIN terminals t ON t.id = r.terminal_id "
               "WHERE r.terminal_id = ? AND r.pn = ? AND r.read_at >= ? AND r.read_at < ?")
        params = [terminal_id, pn, self._at(since), self._at(until)]
        if items:
            sql += " AND r.item IN (%s)" % ", ".join("?" * len(items))
            params += list(items)
        with self.db.transaction(write=False):
            rows = self.db.rows(sql + " ORDER BY r.read_at, r.item", params)
        return [StoredReading(r[0], terminal_label(r[1], r[2]), r[3], r[4], self._time(r[5]),
                              to_decimal(r[6], r[7]), self._time(r[8])) for r in rows]

    def frozen(self, kind, terminal_id, pn, first, last, items=None):
        """A point's daily or monthly frozen values for periods first..last (inclusive)."""
        table, column, check = frozen_table(kind)
        sql = ("SELECT f.terminal_id, t.area_code, t.address, f.pn, f.item, f.%s, f.value, "
               "f.scale, f.read_at, f.received_at FROM %s f JOIN terminals t "
               "ON t.id = f.terminal_id WHERE f.terminal_id = ? AND f.pn = ? "
               "AND f.%s BETWEEN ? AND ?" % (column, table, column))
        params = [terminal_id, pn, check(first), check(last)]
        if items:
            sql += " AND f.item IN (%s)" % ", ".join("?" * len(items))
            params += list(items)
        with self.db.transaction(write=False):
            rows = self.db.rows(sql + " ORDER BY f.%s, f.item" % column, params)
        return [StoredFrozen(r[0], terminal_label(r[1], r[2]), r[3], r[4], r[5],
                             to_decimal(r[6], r[7]), self._time(r[8]), self._time(r[9]))
                for r in rows]

    def events(self, terminal_id=None, since=None, until=None, erc=None, limit=None):
        """Stored events, oldest first (by occurrence time, else reception time)."""
        sql = ("SELECT e.id, e.terminal_id, t.area_code, t.address, e.erc, e.important, "
               "e.occurred_at, e.pn, e.data, e.detail, e.source_pointer, e.received_at "
               "FROM events e JOIN terminals t ON t.id = e.terminal_id WHERE 1 = 1")
        params = []
        when = "COALESCE(e.occurred_at, e.received_at)"
        if terminal_id is not None:
            sql += " AND e.terminal_id = ?"
            params.append(terminal_id)
        if since is not None:
            sql += " AND %s >= ?" % when
            params.append(self._at(since))
        if until is not None:
            sql += " AND %s < ?" % when
            params.append(self._at(until))
        if erc is not None:
            sql += " AND e.erc = ?"
            params.append(erc)
        sql += " ORDER BY %s, e.id" % when
        if limit is not None:
            sql += " LIMIT %d" % int(limit)
        with self.db.transaction(write=False):
            rows = self.db.rows(sql, params)
        return [StoredEvent(r[0], r[1], terminal_label(r[2], r[3]), r[4], bool(r[5]),
                            self._time(r[6]), r[7], bytes(r[8]), r[9], r[10], self._time(r[11]))
                for r in rows]

    def collection_state(self, terminal_id):
        """{pn: (last read time, last received time, last frozen day)} for a terminal's points:
        what the front end's schedule starts from (e.g. after a restart)."""
        with self.db.transaction(write=False):
            rows = self.db.rows("SELECT pn, last_read_at, last_received_at, last_frozen_day "
                                "FROM point_collection WHERE terminal_id = ? ORDER BY pn",
                                (terminal_id,))
        return {r[0]: (self._time(r[1]), self._time(r[2]), r[3]) for r in rows}

    def status(self, since=None, silent_after=SILENT_AFTER_S):
        """Per terminal: online, last heartbeat, and read success since `since` (default 24 h).

        Online = a session is open and the terminal was heard (login or heartbeat) within
        `silent_after` seconds; an open session older than that is reported `silent` (e.g. the
        station process died without closing it). Read success = archive points with a reading
        since then / archive points; for a terminal without an archive, the points it has ever
        reported stand in for it.
        """
        now = self._now()
        since = now - 86400 if since is None else self._at(since)
        with self.db.transaction(write=False):
            terminals = self.db.rows("SELECT %s FROM terminals ORDER BY area_code, address"
                                     % TERMINAL_COLUMNS)
            sessions = {r[0]: r[1:] for r in self.db.rows(
                "SELECT terminal_id, peer, started_at, last_heartbeat_at FROM sessions "
                "WHERE ended_at IS NULL ORDER BY started_at")}
            archive = dict(self.db.rows(
                "SELECT terminal_id, COUNT(*) FROM measuring_points GROUP BY terminal_id"))
            archive_read = dict(self.db.rows(
                "SELECT pc.terminal_id, COUNT(*) FROM point_collection pc "
                "JOIN measuring_points mp ON mp.terminal_id = pc.terminal_id AND mp.pn = pc.pn "
                "WHERE pc.last_read_at >= ? GROUP BY pc.terminal_id", (since,)))
            seen = {r[0]: r[1:] for r in self.db.rows(
                "SELECT terminal_id, COUNT(*), MAX(last_read_at), "
                "SUM(CASE WHEN last_read_at >= ? THEN 1 ELSE 0 END) FROM point_collection "
                "WHERE pn > 0 GROUP BY terminal_id", (since,))}
        result = []
        for row in terminals:
            terminal = self._terminal(row)
            session = sessions.get(terminal.id)
            seen_count, last_read, seen_read = seen.get(terminal.id, (0, None, 0))
            if archive.get(terminal.id):
                points, points_read = archive[terminal.id], archive_read.get(terminal.id, 0)
            else:
                points, points_read = seen_count, int(seen_read or 0)
            heard = None if session is None else (session[2] or session[1])
            silent = heard is not None and now - heard > silent_after
            result.append(TerminalStatus(
                terminal, session is not None and not silent, silent,
                session[0] if session else None,
                self._time(session[1]) if session else None,
                self._time(session[2]) if session and session[2] else terminal.last_seen_at,
                points, points_read, (points_read / points) if points else None,
                self._time(last_read)))
        return result
