"""Reading the station's data back: a meter's readings and frozen values, events, status.

Part of the Station (repository.py).
"""
from sqlalchemy import bindparam, case, func, select

from host_tools.station.ingest import frozen_table
from host_tools.station.items import sort_key
from host_tools.station.records import (StoredEvent, StoredFrozen, StoredReading,
                                        TerminalStatus, terminal_label, to_decimal)
from host_tools.station.station_part import StationPart
from host_tools.station.terminal_registry import TERMINAL_COLUMNS
from host_tools.station.tables import (events, measuring_points, point_collection, readings,
                                       sessions, terminals)

SILENT_AFTER_S = 30 * 60    # twice the longest usual heartbeat period (15 min)

_pc = point_collection.c
_COLLECTION_STATE = (select(_pc.pn, _pc.last_read_at, _pc.last_received_at, _pc.last_frozen_day)
                     .where(_pc.terminal_id == bindparam("tid")).order_by(_pc.pn))


class QueriesMixin(StationPart):
    """What the CLI and reports ask (mixed into Station)."""

    def readings(self, terminal_id, pn, since, until, items=None):
        """A point's readings with since <= read_at < until (datetimes or Unix seconds), by
        time, then in the order people read items (items.sort_key: a total before its
        tariffs)."""
        r, t = readings.c, terminals.c
        query = (select(r.terminal_id, t.area_code, t.address, r.pn, r.item, r.read_at, r.value,
                        r.scale, r.received_at)
                 .join_from(readings, terminals, t.id == r.terminal_id)
                 .where(r.terminal_id == terminal_id, r.pn == pn, r.read_at >= self._at(since),
                        r.read_at < self._at(until))
                 .order_by(r.read_at))
        if items:
            query = query.where(r.item.in_(list(items)))
        with self.db.transaction(write=False):
            rows = sorted(self.db.rows(query), key=lambda r: (r[5], sort_key(r[4])))
        return [StoredReading(r[0], terminal_label(r[1], r[2]), r[3], r[4], self._time(r[5]),
                              to_decimal(r[6], r[7]), self._time(r[8])) for r in rows]

    def frozen(self, kind, terminal_id, pn, first, last, items=None):
        """A point's daily or monthly frozen values for periods first..last (inclusive), by
        period, then in the order people read items (items.sort_key)."""
        table, column, check = frozen_table(kind)
        f, t = table.c, terminals.c
        query = (select(f.terminal_id, t.area_code, t.address, f.pn, f.item, f[column], f.value,
                        f.scale, f.read_at, f.received_at)
                 .join_from(table, terminals, t.id == f.terminal_id)
                 .where(f.terminal_id == terminal_id, f.pn == pn,
                        f[column].between(check(first), check(last)))
                 .order_by(f[column]))
        if items:
            query = query.where(f.item.in_(list(items)))
        with self.db.transaction(write=False):
            rows = sorted(self.db.rows(query), key=lambda r: (r[5], sort_key(r[4])))
        return [StoredFrozen(r[0], terminal_label(r[1], r[2]), r[3], r[4], r[5],
                             to_decimal(r[6], r[7]), self._time(r[8]), self._time(r[9]))
                for r in rows]

    def events(self, terminal_id=None, since=None, until=None, erc=None, limit=None):
        """Stored events, oldest first (by occurrence time, else reception time)."""
        e, t = events.c, terminals.c
        when = func.coalesce(e.occurred_at, e.received_at)
        query = (select(e.id, e.terminal_id, t.area_code, t.address, e.erc, e.important,
                        e.occurred_at, e.pn, e.data, e.detail, e.source_pointer, e.received_at)
                 .join_from(events, terminals, t.id == e.terminal_id)
                 .order_by(when, e.id))
        if terminal_id is not None:
            query = query.where(e.terminal_id == terminal_id)
        if since is not None:
            query = query.where(when >= self._at(since))
        if until is not None:
            query = query.where(when < self._at(until))
        if erc is not None:
            query = query.where(e.erc == erc)
        if limit is not None:
            query = query.limit(int(limit))
        with self.db.transaction(write=False):
            rows = self.db.rows(query)
        return [StoredEvent(r[0], r[1], terminal_label(r[2], r[3]), r[4], bool(r[5]),
                            self._time(r[6]), r[7], bytes(r[8]), r[9], r[10], self._time(r[11]))
                for r in rows]

    def collection_state(self, terminal_id):
        """{pn: (last read time, last received time, last frozen day)} for a terminal's points:
        what the front end's schedule starts from (e.g. after a restart)."""
        with self.db.transaction(write=False):
            rows = self.db.rows(_COLLECTION_STATE, {"tid": terminal_id})
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
        s, mp, pc = sessions.c, measuring_points.c, point_collection.c
        with self.db.transaction(write=False):
            registered = self.db.rows(select(*TERMINAL_COLUMNS).order_by(
                terminals.c.area_code, terminals.c.address))
            open_sessions = {r[0]: r[1:] for r in self.db.rows(
                select(s.terminal_id, s.peer, s.started_at, s.last_heartbeat_at)
                .where(s.ended_at.is_(None)).order_by(s.started_at))}
            archive = dict(self.db.rows(
                select(mp.terminal_id, func.count()).group_by(mp.terminal_id)))
            archive_read = dict(self.db.rows(
                select(pc.terminal_id, func.count())
                .join_from(point_collection, measuring_points,
                           (mp.terminal_id == pc.terminal_id) & (mp.pn == pc.pn))
                .where(pc.last_read_at >= since).group_by(pc.terminal_id)))
            seen = {r[0]: r[1:] for r in self.db.rows(
                select(pc.terminal_id, func.count(), func.max(pc.last_read_at),
                       func.sum(case((pc.last_read_at >= since, 1), else_=0)))
                .where(pc.pn > 0).group_by(pc.terminal_id))}
        result = []
        for row in registered:
            terminal = self._terminal(row)  # pyright: ignore[reportAttributeAccessIssue] - a method of another Station part
            session = open_sessions.get(terminal.id)
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
