"""Storing what terminals send: readings, daily and monthly frozen values, events.

Every store_* call validates all its records first (InvalidValue, nothing stored), writes them
in one transaction, skips what is already stored (the tables are unique on each record's
identity) and returns how many records were new. Part of the Station (repository.py).
"""
import datetime
import hashlib

from sqlalchemy import bindparam, func, select, text, update

from host_tools.station.errors import InvalidValue, StationError, UnknownTerminal
from host_tools.station.items import TOTAL_ENERGY, old_name
from host_tools.station.records import MAX_ITEM_LENGTH, MAX_PN, exact_value
from host_tools.station.station_part import StationPart
from host_tools.station.terminal_registry import check_pn
from host_tools.station.tables import daily_frozen, monthly_frozen, readings, terminals
from host_tools.station.times import check_day, check_month, to_epoch

INT64 = 1 << 63
# A point's latest read time only moves forward (a late upload of older readings keeps it).
_NOTE_READ = text(
    "INSERT INTO point_collection (terminal_id, pn, last_read_at, last_received_at) "
    "VALUES (:terminal_id, :pn, :read_at, :received_at) ON CONFLICT (terminal_id, pn) DO UPDATE "
    "SET last_read_at = CASE WHEN point_collection.last_read_at IS NULL "
    "OR excluded.last_read_at > point_collection.last_read_at "
    "THEN excluded.last_read_at ELSE point_collection.last_read_at END, "
    "last_received_at = excluded.last_received_at")
_NOTE_FROZEN_DAY = text(
    "INSERT INTO point_collection (terminal_id, pn, last_frozen_day) "
    "VALUES (:terminal_id, :pn, :day) ON CONFLICT (terminal_id, pn) DO UPDATE SET "
    "last_frozen_day = CASE WHEN point_collection.last_frozen_day IS NULL "
    "OR excluded.last_frozen_day > point_collection.last_frozen_day "
    "THEN excluded.last_frozen_day ELSE point_collection.last_frozen_day END")
_EVENT_COUNTERS = select(terminals.c.important_events_read, terminals.c.normal_events_read
                         ).where(terminals.c.id == bindparam("tid"))
_INSERT_EVENT = text(
    "INSERT INTO events (terminal_id, erc, important, occurred_at, pn, data, detail, "
    "source_pointer, source_key, received_at) VALUES (:terminal_id, :erc, :important, "
    ":occurred_at, :pn, :data, :detail, :source_pointer, :source_key, :received_at) "
    "ON CONFLICT (terminal_id, source_key) DO NOTHING")


def _check_item(item):
    """An item name (items.py); a name of the old 1376.1 scheme is refused, so the database
    keeps one naming."""
    if not isinstance(item, str) or not item or len(item) > MAX_ITEM_LENGTH:
        raise InvalidValue("bad data item %r: a name of 1..%d characters such as "
                           "energy_fwd_total" % (item, MAX_ITEM_LENGTH))
    if item[0] == "F":
        renamed = old_name(item)
        if renamed is not None:
            raise InvalidValue("data item %r is an old name: store it as %s" % (item, renamed[0]))
    return item


def _check_int64(number):
    if not -INT64 <= number < INT64:
        raise InvalidValue("value %d does not fit the database's 64-bit integer" % number)
    return number


def event_source_key(important, erc, data):
    """The default identity of an event record: its class, ERC and bytes (which hold its time)."""
    digest = hashlib.sha1(bytes([1 if important else 0, erc & 0xFF]) + bytes(data))
    return digest.hexdigest()


def frozen_table(kind):
    """(table, period column, period check) for 'daily' or 'monthly' frozen values."""
    if kind == "daily":
        return daily_frozen, "day", check_day
    if kind == "monthly":
        return monthly_frozen, "month", check_month
    raise InvalidValue("frozen kind is 'daily' or 'monthly', not %r" % (kind,))


class IngestMixin(StationPart):
    """Readings, frozen values and events in (mixed into Station)."""

    def store_readings(self, readings):
        """Store real-time readings (Reading records, any terminals); returns how many were new.

        All or nothing: a malformed record raises InvalidValue before anything is written.
        Readings already stored (same terminal, point, item and time) are skipped.
        """
        now = self._now()
        rows, latest = self._reading_rows(readings, now)
        if not rows:
            return 0
        with self._ingest_transaction():
            return self._write_readings(rows, latest, now)

    def store_reading_batches(self, batches):
        """Store several uploads in ONE transaction (group commit); a list with, per batch, the
        number of new readings or the StationError that batch raised (nothing of it stored).

        A malformed batch does not hold up the others. If a batch names an unregistered
        terminal, the batches are retried one transaction each so that only it fails.
        """
        now = self._now()
        results, prepared = [None] * len(batches), []
        for i, batch in enumerate(batches):
            try:
                prepared.append((i, self._reading_rows(batch, now)))
            except StationError as exc:
                results[i] = exc  # pyright: ignore[reportArgumentType, reportCallIssue] - results holds counts or errors
        try:
            with self._ingest_transaction():
                for i, (rows, latest) in prepared:
                    results[i] = self._write_readings(rows, latest, now) if rows else 0  # pyright: ignore[reportArgumentType, reportCallIssue] - results holds counts or errors
        except UnknownTerminal:
            for i, (rows, latest) in prepared:
                try:
                    with self._ingest_transaction():
                        results[i] = self._write_readings(rows, latest, now) if rows else 0  # pyright: ignore[reportArgumentType, reportCallIssue] - results holds counts or errors
                except UnknownTerminal as exc:
                    results[i] = exc  # pyright: ignore[reportArgumentType, reportCallIssue] - results holds counts or errors
        return results

    def _reading_rows(self, readings, now):
        """Validated database rows for Readings, and each point's latest read time."""
        zone = self.zone
        rows, latest = [], {}
        epochs = {}       # an upload's readings share a few read times: convert each once
        for r in readings:
            pn = r.pn
            if isinstance(pn, bool) or not isinstance(pn, int) or not 0 <= pn <= MAX_PN:
                check_pn(pn, low=0)
            _check_item(r.item)
            try:
                read_at = epochs[r.read_at]
            except (KeyError, TypeError):      # TypeError: an unhashable time (a list)
                read_at = to_epoch(r.read_at, zone)
                if isinstance(r.read_at, (tuple, datetime.datetime, int)):
                    epochs[r.read_at] = read_at
            number, scale = exact_value(r.value, r.scale)
            _check_int64(number)
            rows.append((r.terminal_id, pn, r.item, read_at, number, scale, now))
            key = (r.terminal_id, pn)
            if latest.get(key, -INT64) < read_at:
                latest[key] = read_at
        rows.sort()   # key order: the b-tree is written page by page, not at random
        return rows, latest

    def _write_readings(self, rows, latest, now):
        stored = self.db.insert_ignoring_duplicates(readings, rows)
        self.db.execute(_NOTE_READ, [
            {"terminal_id": t, "pn": pn, "read_at": at, "received_at": now}
            for (t, pn), at in sorted(latest.items())])
        return stored

    def _ingest_transaction(self):
        return _IngestTransaction(self.db)

    def store_daily_frozen(self, values):
        """Store daily frozen values (FrozenValue with period `YYYY-MM-DD`); returns new ones."""
        return self._store_frozen(*frozen_table("daily"), values)

    def store_monthly_frozen(self, values):
        """Store monthly frozen values (FrozenValue with period `YYYY-MM`); returns new ones."""
        return self._store_frozen(*frozen_table("monthly"), values)

    def _store_frozen(self, table, period_column, check_period, values):
        now, zone = self._now(), self.zone
        rows, latest_day = [], {}
        for v in values:
            check_pn(v.pn, low=0)
            _check_item(v.item)
            period = check_period(v.period)
            number, scale = exact_value(v.value, v.scale)
            _check_int64(number)
            read_at = None if v.read_at is None else to_epoch(v.read_at, zone)
            rows.append((v.terminal_id, v.pn, v.item, period, number, scale, read_at, now))
            if period_column == "day" and latest_day.get((v.terminal_id, v.pn), "") < period:
                latest_day[(v.terminal_id, v.pn)] = period
        if not rows:
            return 0
        rows.sort()
        with self._ingest_transaction():
            stored = self.db.insert_ignoring_duplicates(table, rows)
            if latest_day:
                self.db.execute(_NOTE_FROZEN_DAY, [
                    {"terminal_id": t, "pn": pn, "day": day}
                    for (t, pn), day in sorted(latest_day.items())])
        return stored

    def frozen_periods(self, kind, terminal_id, item, first, last):
        """{pn: set of periods} stored for a terminal's item between first and last (inclusive).

        kind is 'daily' (periods `YYYY-MM-DD`) or 'monthly' (`YYYY-MM`). The front end's gap
        backfill asks the terminal (AFN0D) for the periods a point is missing.
        """
        table, column, check = frozen_table(kind)
        period = table.c[column]
        with self.db.transaction(write=False):
            rows = self.db.rows(select(table.c.pn, period).where(
                table.c.terminal_id == terminal_id, table.c.item == item,
                period.between(check(first), check(last))))
        found = {}
        for pn, period in rows:
            found.setdefault(pn, set()).add(period)
        return found

    def missing_daily_frozen(self, terminal_id, first, last, item=TOTAL_ENERGY, pns=None):
        """[(day, [pns])]: the days first..last (inclusive) for which points have no daily
        frozen `item`, oldest first: what the gap backfill asks the terminal for (AFN0D with
        Td = that day). pns defaults to the terminal's archive."""
        first, last = check_day(first), check_day(last)
        if pns is None:
            pns = [p.pn for p in self.measuring_points(terminal_id)]  # pyright: ignore[reportAttributeAccessIssue] - a method of another Station part
        have = self.frozen_periods("daily", terminal_id, item, first, last)
        day, end, gaps = datetime.date.fromisoformat(first), datetime.date.fromisoformat(last), []
        while day <= end:
            label = day.isoformat()
            missing = [pn for pn in sorted(pns) if label not in have.get(pn, ())]
            if missing:
                gaps.append((label, missing))
            day += datetime.timedelta(days=1)
        return gaps

    def store_events(self, events, read_to=None):
        """Store terminal events (Event records); returns how many were new.

        An event's identity is its `source_key` when given, else a digest of its class, ERC and
        data bytes (which carry the event's time): reading the same record twice stores it once.
        `read_to` = (terminal_id, important, pointer): the event counter the station has read up
        to, saved in the same transaction, so it is never seen ahead of or behind the events.
        With a fourth element, `from`, the counter moves only if it stands at `from` (never read
        counts as 0): an event report moves it only when it carries the next unread event.
        """
        now, zone = self._now(), self.zone
        rows = []
        for e in events:
            if isinstance(e.erc, bool) or not isinstance(e.erc, int) or not 0 <= e.erc <= 255:
                raise InvalidValue("bad ERC %r: 0..255" % (e.erc,))
            if not isinstance(e.data, (bytes, bytearray, memoryview)):
                raise InvalidValue("an event's data must be bytes, not %r" % type(e.data).__name__)
            if e.pn is not None:
                check_pn(e.pn, low=0)
            data = bytes(e.data)
            key = e.source_key or event_source_key(e.important, e.erc, data)
            occurred = None if e.occurred_at is None else to_epoch(e.occurred_at, zone)
            rows.append({"terminal_id": e.terminal_id, "erc": e.erc,
                         "important": 1 if e.important else 0, "occurred_at": occurred,
                         "pn": e.pn, "data": data, "detail": e.detail or "",
                         "source_pointer": e.source_pointer, "source_key": key,
                         "received_at": now})
        with self._ingest_transaction():
            stored = self.db.execute(_INSERT_EVENT, rows).rowcount if rows else 0
            if read_to is not None:
                self._save_event_counter(*read_to)
        return stored

    def event_counters(self, terminal_id):
        """(important, normal): the EC1/EC2 event counters the station has read up to (or None)."""
        with self.db.transaction(write=False):
            row = self.db.row(_EVENT_COUNTERS, {"tid": terminal_id})
        if row is None:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
        return row[0], row[1]

    def set_event_counters(self, terminal_id, important=None, normal=None):
        """Remember how far the terminal's event lists were read (None leaves a counter as is)."""
        with self.db.transaction():
            if important is not None:
                self._save_event_counter(terminal_id, True, important)
            if normal is not None:
                self._save_event_counter(terminal_id, False, normal)

    def _save_event_counter(self, terminal_id, important, pointer, only_from=None):
        column = "important_events_read" if important else "normal_events_read"
        move = update(terminals).where(terminals.c.id == terminal_id)
        if only_from is not None:
            move = move.where(func.coalesce(terminals.c[column], 0) == only_from)
        self.db.execute(move.values({column: pointer}))


class _IngestTransaction:
    """A write transaction whose foreign-key failures name the unknown terminal."""

    def __init__(self, database):
        self.db = database
        self._tx = database.transaction()

    def __enter__(self):
        return self._tx.__enter__()

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, self.db.integrity_errors):
            try:
                self._tx.__exit__(kind, exc, tb)
            except self.db.integrity_errors:
                pass
            raise UnknownTerminal("data for a terminal id that is not registered (%s): nothing "
                                  "was stored" % str(exc).splitlines()[0]) from exc
        return self._tx.__exit__(kind, exc, tb)
