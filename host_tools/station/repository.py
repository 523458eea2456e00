"""The station's repository: every read and write the front end and the CLI make, by meaning.

    station = open_station("sqlite:///station.db")         # migrates a new or old database
    t = station.add_terminal("4101", 1, password="00" * 16, name="north-yard")
    station.set_measuring_point(t.id, 1, "000000000001", protocol=30, port=2, baud=2400)
    station.store_readings([Reading(t.id, 1, "F129.0", read_at, Decimal("1234.5600"))])

Methods are synchronous, short, and take many records at once (one transaction per call), so an
asyncio front end batches what arrives and runs each call with `asyncio.to_thread`; the Station
serialises calls itself. Re-sent data is stored once: readings, frozen values and events are
unique on their identity and a duplicate is skipped without an error (each store_* call returns
how many records were new). Errors are StationError subclasses (host_tools.station.errors).
"""
import datetime
import hashlib
import json
import os
import re
import time

from host_tools.station import db as dbmod
from host_tools.station import schema
from host_tools.station.errors import (DuplicateTerminal, InvalidValue, StationError,
                                       TerminalHasData, UnknownMeter, UnknownTerminal)
from host_tools.station.records import (MAX_ITEM_LENGTH, MAX_PN, Command, CommandStep,
                                        MeasuringPoint, Session, StoredEvent, StoredFrozen,
                                        StoredReading, Terminal, TerminalStatus, exact_value,
                                        terminal_label, to_decimal)
from host_tools.station.times import check_day, check_month, from_epoch, station_zone, to_epoch

ENV_URL = "CONC_STATION_DB"
PASSWORD_BYTES = 16
COMMAND_STATES = ("pending", "sent", "confirmed", "denied", "timeout", "failed", "cancelled")
SILENT_AFTER_S = 30 * 60    # longer than the longest usual heartbeat period (15 min), twice
FINAL_STATES = ("confirmed", "denied", "timeout", "failed", "cancelled")
INT64 = 1 << 63

_TERMINAL_COLUMNS = ("id, area_code, address, name, status, last_seen_at, last_login_at, "
                     "created_at")
_POINT_COLUMNS = ("terminal_id, pn, serial_no, meter_address, protocol, port, baud, "
                  "meter_password, tariff_count, integer_digits, decimal_digits, "
                  "collector_address, user_class, user_subclass, archive_sent_at, "
                  "archive_verified_at")
_READING_COLUMNS = ("terminal_id", "pn", "item", "read_at", "value", "scale", "received_at")
_READING_PG_TYPES = ("bigint", "int", "text", "bigint", "bigint", "smallint", "bigint")
_FROZEN_PG_TYPES = ("bigint", "int", "text", "text", "bigint", "smallint", "bigint", "bigint")
_COMMAND_COLUMNS = ("id, terminal_id, terminal_label, pn, meter_address, kind, operator, reason, "
                    "parameters, state, created_at, updated_at, finished_at")
BAUD_RATES = (0, 600, 1200, 2400, 4800, 7200, 9600, 19200)    # what F10's 3-bit code can say


def default_url():
    return os.environ.get(ENV_URL) or dbmod.DEFAULT_URL


def open_station(url=None, create=True, zone=None, clock=time.time):
    """Open (and with create=True, create or migrate) the station database at `url`.

    url: `sqlite:///PATH` or `postgresql://...`; default $CONC_STATION_DB, else sqlite:///station.db.
    create=False: for read-only tools: a missing SQLite file or an unmigrated database is an error.
    zone: the zone of naive datetimes (see times.station_zone); clock: returns Unix seconds.
    """
    database = dbmod.connect(url or default_url(), create=create)
    try:
        if create:
            schema.migrate(database, int(clock()))
        else:
            schema.check_version(database)
    except BaseException:
        database.close()
        raise
    return Station(database, zone=station_zone(zone) if zone is None or isinstance(zone, str)
                   else zone, clock=clock)


def normalise_password(text):
    """The 16-byte PW as 32 lower-case hex digits.

    Given as hex in wire order; fewer than 32 digits are padded with zero bytes at the end
    (`1234` -> 12 34 00 .. 00), so the common all-zero password can be typed as `00`.
    """
    if not isinstance(text, str):
        raise InvalidValue("the terminal password must be hex text")
    digits = text.strip().replace(" ", "").lower()
    if not re.fullmatch(r"[0-9a-f]*", digits) or not digits or len(digits) % 2 \
            or len(digits) > 2 * PASSWORD_BYTES:
        raise InvalidValue("the terminal password must be 2 to 32 hex digits (the 16-byte PW, "
                           "zero-padded at the end); check what you typed")
    return digits.ljust(2 * PASSWORD_BYTES, "0")


def check_area_code(area_code):
    """A1 as 4 decimal digits (it is BCD on the wire): 4101 -> '4101', '310' -> '0310'."""
    text = str(area_code).strip()
    if not re.fullmatch(r"\d{1,4}", text):
        raise InvalidValue("bad area code %r: A1 is 4 decimal digits such as 4101" % (area_code,))
    return text.zfill(4)


def check_address(address):
    """A2 as an int 1..65534 (0 is invalid and 65535 is the broadcast address)."""
    try:
        value = int(address, 0) if isinstance(address, str) else int(address)
    except (TypeError, ValueError):
        value = -1
    if not 1 <= value <= 65534:
        raise InvalidValue("bad terminal address %r: A2 is 1..65534 (decimal, or hex as 0x...)"
                           % (address,))
    return value


def check_meter_address(address):
    """A meter address as 12 digits, as printed on the meter (shorter ones are zero-padded on
    the left). Hex digits are allowed, as the 1376.1 codec keeps them, and stored lower-case."""
    text = str(address).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{1,12}", text):
        raise InvalidValue("bad meter address %r: up to 12 digits" % (address,))
    return text.zfill(12)


def _point_row(terminal_id, pn, meter_address, protocol=30, port=2, baud=2400, serial_no=None,
               meter_password="000000000000", tariff_count=4, integer_digits=6,
               decimal_digits=2, collector_address="000000000000", user_class=0,
               user_subclass=0):
    """A validated measuring_points row (without the sent/verified marks)."""
    _check_pn(pn)
    meter_address = check_meter_address(meter_address)
    collector_address = check_meter_address(collector_address)
    if not re.fullmatch(r"[0-9a-fA-F]{12}", str(meter_password)):
        raise InvalidValue("a meter password is 12 hex digits (6 bytes)")
    serial_no = pn if serial_no is None else serial_no
    checks = (("protocol", protocol, 0, 255), ("port", port, 1, 31),
              ("tariff count", tariff_count, 0, 14), ("integer digits", integer_digits, 4, 7),
              ("decimal digits", decimal_digits, 1, 4), ("user class", user_class, 0, 15),
              ("user subclass", user_subclass, 0, 15), ("serial number", serial_no, 1, MAX_PN))
    for what, number, low, high in checks:
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            raise InvalidValue("bad %s %r: allowed %d..%d" % (what, number, low, high))
    if baud not in BAUD_RATES:
        raise InvalidValue("bad baud rate %r: one of %s (0 = the port's default)"
                           % (baud, ", ".join(map(str, BAUD_RATES))))
    return (terminal_id, pn, serial_no, meter_address, protocol, port, baud,
            str(meter_password).lower(), tariff_count, integer_digits, decimal_digits,
            collector_address, user_class, user_subclass)


def _check_terminal_name(name):
    name = (name or "").strip()
    if name and (":" in name or re.fullmatch(r"\d{1,4}-\d+", name) or len(name) > 64):
        raise InvalidValue("bad terminal name %r: up to 64 characters, no ':' and not shaped "
                           "like AREA-ADDRESS" % name)
    return name


def _check_pn(pn, low=1):
    if isinstance(pn, bool) or not isinstance(pn, int) or not low <= pn <= MAX_PN:
        raise InvalidValue("bad measuring point %r: Pn is %d..%d" % (pn, low, MAX_PN))
    return pn


def _check_item(item):
    if not isinstance(item, str) or not item or len(item) > MAX_ITEM_LENGTH:
        raise InvalidValue("bad data item %r: a name of 1..%d characters such as F129.0"
                           % (item, MAX_ITEM_LENGTH))
    return item


def _check_int64(number):
    if not -INT64 <= number < INT64:
        raise InvalidValue("value %d does not fit the database's 64-bit integer" % number)
    return number


def event_source_key(important, erc, data):
    """The default identity of an event record: its class, ERC and bytes (which hold its time)."""
    digest = hashlib.sha1(bytes([1 if important else 0, erc & 0xFF]) + bytes(data))
    return digest.hexdigest()


class Station:
    """The master station's data: terminals and their meters, readings, events, control."""

    def __init__(self, database, zone=None, clock=time.time):
        self.db = database
        self.zone = zone if zone is not None else station_zone()
        self.clock = clock

    def close(self):
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _now(self):
        return int(self.clock())

    def _at(self, when):
        return self._now() if when is None else to_epoch(when, self.zone)

    def _time(self, seconds):
        return from_epoch(seconds, self.zone)

    # ------------------------------------------------------------------ terminals
    def _terminal(self, row):
        return Terminal(row[0], row[1], row[2], row[3], row[4], self._time(row[5]),
                        self._time(row[6]), self._time(row[7]))

    def add_terminal(self, area_code, address, password, name=""):
        """Register a terminal by A1/A2 with its 16-byte PW (see normalise_password)."""
        self.add_terminals([(area_code, address, password, name)])
        return self.find_terminal(area_code, address)

    def add_terminals(self, entries):
        """Register many terminals in one transaction: (area_code, address, password, name)
        tuples. All or nothing: a bad or already registered one raises and none is added."""
        rows, seen, now = [], set(), self._now()
        for area_code, address, password, name in entries:
            area_code, address = check_area_code(area_code), check_address(address)
            password = normalise_password(password)
            name = _check_terminal_name(name)
            label = terminal_label(area_code, address)
            if label in seen or (name and name in seen):
                raise DuplicateTerminal("terminal %s (or its name) is given twice" % label)
            seen.update((label, name) if name else (label,))
            rows.append((area_code, address, name, password, now))
        try:
            with self.db.transaction():
                self._refuse_registered(rows)
                self.db.executemany(
                    "INSERT INTO terminals (area_code, address, name, password, created_at) "
                    "VALUES (?, ?, ?, ?, ?)", rows)
        except self.db.integrity_errors:     # registered meanwhile by another process
            raise DuplicateTerminal("a terminal given was registered meanwhile") from None
        return len(rows)

    def _refuse_registered(self, rows):
        """DuplicateTerminal (before any write) if an A1/A2 or name given is already taken."""
        labels = {(a, n) for a, n in self.db.rows("SELECT area_code, address FROM terminals")}
        names = {n for (n,) in self.db.rows("SELECT name FROM terminals WHERE name <> ''")}
        for area_code, address, name, _, _ in rows:
            if (area_code, address) in labels:
                raise DuplicateTerminal("terminal %s is already registered"
                                        % terminal_label(area_code, address))
            if name and name in names:
                raise DuplicateTerminal("the name %r is already taken by another terminal" % name)

    def terminals(self):
        """Every registered terminal, by A1 then A2."""
        with self.db.transaction(write=False):
            rows = self.db.rows("SELECT %s FROM terminals ORDER BY area_code, address"
                                % _TERMINAL_COLUMNS)
        return [self._terminal(r) for r in rows]

    def find_terminal(self, area_code, address):
        """The terminal with this A1/A2, or None (the front end's login check)."""
        try:
            area_code, address = check_area_code(area_code), check_address(address)
        except InvalidValue:
            return None
        with self.db.transaction(write=False):
            row = self.db.row("SELECT %s FROM terminals WHERE area_code = ? AND address = ?"
                              % _TERMINAL_COLUMNS, (area_code, address))
        return None if row is None else self._terminal(row)

    def terminal(self, ref):
        """The terminal for `ref`: a Terminal, its id (int), `AREA-ADDRESS` or its name."""
        if isinstance(ref, Terminal):
            ref = ref.id
        with self.db.transaction(write=False):
            if isinstance(ref, int) and not isinstance(ref, bool):
                row = self.db.row("SELECT %s FROM terminals WHERE id = ?" % _TERMINAL_COLUMNS,
                                  (ref,))
            else:
                text = str(ref).strip()
                match = re.fullmatch(r"(\d{1,4})-(\d+|0x[0-9a-fA-F]+)", text)
                if match:
                    row = self.db.row(
                        "SELECT %s FROM terminals WHERE area_code = ? AND address = ?"
                        % _TERMINAL_COLUMNS,
                        (match.group(1).zfill(4), int(match.group(2), 0)))
                else:
                    row = self.db.row("SELECT %s FROM terminals WHERE name = ? AND name <> ''"
                                      % _TERMINAL_COLUMNS, (text,))
        if row is None:
            raise UnknownTerminal("no terminal %r is registered: give AREA-ADDRESS (e.g. 4101-1) "
                                  "or a name from `conc station terminals list`" % (ref,))
        return self._terminal(row)

    def terminal_password(self, terminal_id):
        """The terminal's 16-byte PW for downlink AUX fields."""
        with self.db.transaction(write=False):
            hexed = self.db.scalar("SELECT password FROM terminals WHERE id = ?", (terminal_id,))
        if hexed is None:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
        return bytes.fromhex(hexed)

    def set_terminal_password(self, terminal_id, password):
        password = normalise_password(password)
        with self.db.transaction():
            changed = self.db.execute("UPDATE terminals SET password = ? WHERE id = ?",
                                      (password, terminal_id)).rowcount
        if not changed:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))

    def data_counts(self, terminal_id):
        """How much is stored for a terminal: {'readings': n, 'daily_frozen': n, ...}."""
        counts = {}
        with self.db.transaction(write=False):
            for table in ("readings", "daily_frozen", "monthly_frozen", "events"):
                counts[table] = self.db.scalar(
                    "SELECT COUNT(*) FROM %s WHERE terminal_id = ?" % table, (terminal_id,))
        return counts

    def remove_terminal(self, ref, purge=False):
        """Unregister a terminal and its meter archive.

        A terminal with stored readings, frozen values or events is only removed with purge=True,
        which deletes them too (TerminalHasData otherwise). Commands and their audit trail are
        kept, labelled with the terminal's A1-A2. Returns the data counts that were deleted.
        """
        terminal = self.terminal(ref)
        with self.db.transaction():
            counts = self.data_counts(terminal.id)
            if any(counts.values()) and not purge:
                held = ", ".join("%d %s" % (n, t.replace("_", " ")) for t, n in counts.items() if n)
                raise TerminalHasData("terminal %s has %s stored: pass --purge to delete them "
                                      "with it" % (terminal.label, held))
            # Child rows are deleted explicitly (not left to ON DELETE CASCADE) so that SQLite
            # files opened without foreign keys enforced cannot keep orphans.
            for table in ("readings", "daily_frozen", "monthly_frozen", "events",
                          "point_collection", "measuring_points", "sessions"):
                self.db.execute("DELETE FROM %s WHERE terminal_id = ?" % table, (terminal.id,))
            self.db.execute("UPDATE commands SET terminal_id = NULL WHERE terminal_id = ?",
                            (terminal.id,))
            self.db.execute("DELETE FROM terminals WHERE id = ?", (terminal.id,))
        return counts

    # ------------------------------------------------------------------ meter archive
    def _point(self, row):
        return MeasuringPoint(*row[:14], self._time(row[14]), self._time(row[15]))

    def set_measuring_point(self, terminal_id, pn, meter_address, **fields):
        """Add or replace measuring point `pn` of a terminal's archive (AFN04 F10 fields).

        Fields (defaults): protocol=30 (DL/T 645-2007), port=2, baud=2400, serial_no=pn,
        meter_password="000000000000", tariff_count=4, integer_digits=6, decimal_digits=2,
        collector_address="000000000000", user_class=0, user_subclass=0.
        Replacing a point clears its sent/verified marks: the terminal must be sent it again.
        """
        self.set_measuring_points(terminal_id, [dict(fields, pn=pn, meter_address=meter_address)])
        return self.measuring_point(terminal_id, pn)

    def set_measuring_points(self, terminal_id, points):
        """Add or replace many points of one terminal's archive in one transaction: dicts with
        `pn`, `meter_address` and any set_measuring_point field. All or nothing."""
        rows = [_point_row(terminal_id, **point) for point in points]
        with self.db.transaction():
            if self.db.row("SELECT 1 FROM terminals WHERE id = ?", (terminal_id,)) is None:
                raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
            self.db.executemany("DELETE FROM measuring_points WHERE terminal_id = ? AND pn = ?",
                                [(terminal_id, row[1]) for row in rows])
            self.db.executemany("INSERT INTO measuring_points (%s) VALUES (%s)" % (
                _POINT_COLUMNS, ", ".join("?" * 16)), [row + (None, None) for row in rows])
        return len(rows)

    def measuring_point(self, terminal_id, pn):
        with self.db.transaction(write=False):
            row = self.db.row("SELECT %s FROM measuring_points WHERE terminal_id = ? AND pn = ?"
                              % _POINT_COLUMNS, (terminal_id, pn))
        if row is None:
            raise UnknownMeter("no measuring point p%s on terminal id %s" % (pn, terminal_id))
        return self._point(row)

    def measuring_points(self, terminal_id=None):
        """The archive of one terminal (or of all), by terminal and Pn."""
        sql = "SELECT %s FROM measuring_points" % _POINT_COLUMNS
        params = ()
        if terminal_id is not None:
            sql += " WHERE terminal_id = ?"
            params = (terminal_id,)
        with self.db.transaction(write=False):
            rows = self.db.rows(sql + " ORDER BY terminal_id, pn", params)
        return [self._point(r) for r in rows]

    def meter_counts(self):
        """{terminal_id: number of measuring points in its archive}."""
        with self.db.transaction(write=False):
            return dict(self.db.rows("SELECT terminal_id, COUNT(*) FROM measuring_points "
                                     "GROUP BY terminal_id"))

    def remove_measuring_point(self, terminal_id, pn):
        with self.db.transaction():
            gone = self.db.execute("DELETE FROM measuring_points WHERE terminal_id = ? AND pn = ?",
                                   (terminal_id, pn)).rowcount
        if not gone:
            raise UnknownMeter("no measuring point p%s on terminal id %s" % (pn, terminal_id))

    def mark_archive_sent(self, terminal_id, pns, at=None):
        """Record that these points were downloaded to the terminal (AFN04 F10 confirmed)."""
        at = self._at(at)
        with self.db.transaction():
            self.db.executemany("UPDATE measuring_points SET archive_sent_at = ?, "
                                "archive_verified_at = NULL WHERE terminal_id = ? AND pn = ?",
                                [(at, terminal_id, pn) for pn in pns])

    def mark_archive_verified(self, terminal_id, pns, at=None):
        """Record that these points were read back from the terminal equal (AFN0A F10)."""
        at = self._at(at)
        with self.db.transaction():
            self.db.executemany("UPDATE measuring_points SET archive_verified_at = ? "
                                "WHERE terminal_id = ? AND pn = ?",
                                [(at, terminal_id, pn) for pn in pns])

    def find_meter(self, spec):
        """(Terminal, pn) for a meter given as its address or as `TERMINAL:PN`.

        TERMINAL is AREA-ADDRESS or a name (`4101-1:3`, `north-yard:3`); a point named this way
        need not be in the archive. A meter address must be in exactly one archive.
        """
        text = str(spec).strip()
        if ":" in text:
            ref, _, pn_text = text.rpartition(":")
            pn_text = pn_text.lower().lstrip("p")
            if not pn_text.isdigit():
                raise InvalidValue("bad meter %r: use a meter address or TERMINAL:PN such as "
                                   "4101-1:3" % text)
            return self.terminal(ref), _check_pn(int(pn_text), low=0)
        address = check_meter_address(text)
        with self.db.transaction(write=False):
            rows = self.db.rows("SELECT terminal_id, pn FROM measuring_points "
                                "WHERE meter_address = ? ORDER BY terminal_id, pn", (address,))
        if not rows:
            raise UnknownMeter("no meter %s in any terminal's archive: give TERMINAL:PN "
                               "(e.g. 4101-1:3) or check `conc station terminals meters`" % address)
        if len(rows) > 1:
            places = ", ".join("%s:%d" % (self.terminal(t).label, pn) for t, pn in rows)
            raise UnknownMeter("meter %s is in several archives (%s): give TERMINAL:PN"
                               % (address, places))
        return self.terminal(rows[0][0]), rows[0][1]

    # ------------------------------------------------------------------ ingest
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
                results[i] = exc
        try:
            with self._ingest_transaction():
                for i, (rows, latest) in prepared:
                    results[i] = self._write_readings(rows, latest, now) if rows else 0
        except UnknownTerminal:
            for i, (rows, latest) in prepared:
                try:
                    with self._ingest_transaction():
                        results[i] = self._write_readings(rows, latest, now) if rows else 0
                except UnknownTerminal as exc:
                    results[i] = exc
        return results

    def _reading_rows(self, readings, now):
        """Validated database rows for Readings, and each point's latest read time."""
        zone = self.zone
        rows, latest = [], {}
        epochs = {}       # an upload's readings share a few read times: convert each once
        for r in readings:
            pn = r.pn
            if isinstance(pn, bool) or not isinstance(pn, int) or not 0 <= pn <= MAX_PN:
                _check_pn(pn, low=0)
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
        stored = self.db.insert_ignoring_duplicates("readings", _READING_COLUMNS,
                                                    _READING_PG_TYPES, rows)
        self.db.executemany(
            "INSERT INTO point_collection (terminal_id, pn, last_read_at, last_received_at) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (terminal_id, pn) DO UPDATE SET "
            "last_read_at = CASE WHEN point_collection.last_read_at IS NULL "
            "OR excluded.last_read_at > point_collection.last_read_at "
            "THEN excluded.last_read_at ELSE point_collection.last_read_at END, "
            "last_received_at = excluded.last_received_at",
            [(t, pn, at, now) for (t, pn), at in sorted(latest.items())])
        return stored

    def _ingest_transaction(self):
        return _IngestTransaction(self.db)

    def store_daily_frozen(self, values):
        """Store daily frozen values (FrozenValue with period `YYYY-MM-DD`); returns new ones."""
        return self._store_frozen("daily_frozen", "day", check_day, values)

    def store_monthly_frozen(self, values):
        """Store monthly frozen values (FrozenValue with period `YYYY-MM`); returns new ones."""
        return self._store_frozen("monthly_frozen", "month", check_month, values)

    def _store_frozen(self, table, period_column, check_period, values):
        now, zone = self._now(), self.zone
        rows, latest_day = [], {}
        for v in values:
            _check_pn(v.pn, low=0)
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
        columns = ("terminal_id", "pn", "item", period_column, "value", "scale", "read_at",
                   "received_at")
        with self._ingest_transaction():
            stored = self.db.insert_ignoring_duplicates(table, columns, _FROZEN_PG_TYPES, rows)
            if latest_day:
                self.db.executemany(
                    "INSERT INTO point_collection (terminal_id, pn, last_frozen_day) "
                    "VALUES (?, ?, ?) ON CONFLICT (terminal_id, pn) DO UPDATE SET "
                    "last_frozen_day = CASE WHEN point_collection.last_frozen_day IS NULL "
                    "OR excluded.last_frozen_day > point_collection.last_frozen_day "
                    "THEN excluded.last_frozen_day ELSE point_collection.last_frozen_day END",
                    [(t, pn, day) for (t, pn), day in sorted(latest_day.items())])
        return stored

    def frozen_periods(self, kind, terminal_id, item, first, last):
        """{pn: set of periods} stored for a terminal's item between first and last (inclusive).

        kind is 'daily' (periods `YYYY-MM-DD`) or 'monthly' (`YYYY-MM`). The front end's gap
        backfill asks the terminal (AFN0D) for the periods a point is missing.
        """
        table, column, check = self._frozen_kind(kind)
        with self.db.transaction(write=False):
            rows = self.db.rows(
                "SELECT pn, %s FROM %s WHERE terminal_id = ? AND item = ? AND %s BETWEEN ? AND ?"
                % (column, table, column), (terminal_id, item, check(first), check(last)))
        found = {}
        for pn, period in rows:
            found.setdefault(pn, set()).add(period)
        return found

    def _frozen_kind(self, kind):
        if kind == "daily":
            return "daily_frozen", "day", check_day
        if kind == "monthly":
            return "monthly_frozen", "month", check_month
        raise InvalidValue("frozen kind is 'daily' or 'monthly', not %r" % (kind,))

    def store_events(self, events):
        """Store terminal events (Event records); returns how many were new.

        An event's identity is its `source_key` when given, else a digest of its class, ERC and
        data bytes (which carry the event's time): reading the same record twice stores it once.
        """
        now, zone = self._now(), self.zone
        rows = []
        for e in events:
            if isinstance(e.erc, bool) or not isinstance(e.erc, int) or not 0 <= e.erc <= 255:
                raise InvalidValue("bad ERC %r: 0..255" % (e.erc,))
            if not isinstance(e.data, (bytes, bytearray, memoryview)):
                raise InvalidValue("an event's data must be bytes, not %r" % type(e.data).__name__)
            if e.pn is not None:
                _check_pn(e.pn, low=0)
            data = bytes(e.data)
            key = e.source_key or event_source_key(e.important, e.erc, data)
            occurred = None if e.occurred_at is None else to_epoch(e.occurred_at, zone)
            rows.append((e.terminal_id, e.erc, 1 if e.important else 0, occurred, e.pn, data,
                         e.detail or "", e.source_pointer, key, now))
        stored = 0
        with self._ingest_transaction():
            stored = self.db.executemany(
                "INSERT INTO events (terminal_id, erc, important, occurred_at, pn, data, detail, "
                "source_pointer, source_key, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (terminal_id, source_key) DO NOTHING", rows) if rows else 0
        return stored

    def event_counters(self, terminal_id):
        """(important, normal): the EC1/EC2 event counters the station has read up to (or None)."""
        with self.db.transaction(write=False):
            row = self.db.row("SELECT important_events_read, normal_events_read FROM terminals "
                              "WHERE id = ?", (terminal_id,))
        if row is None:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
        return row[0], row[1]

    def set_event_counters(self, terminal_id, important=None, normal=None):
        """Remember how far the terminal's event lists were read (None leaves a counter as is)."""
        with self.db.transaction():
            if important is not None:
                self.db.execute("UPDATE terminals SET important_events_read = ? WHERE id = ?",
                                (important, terminal_id))
            if normal is not None:
                self.db.execute("UPDATE terminals SET normal_events_read = ? WHERE id = ?",
                                (normal, terminal_id))

    # ------------------------------------------------------------------ queries
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
        table, column, check = self._frozen_kind(kind)
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
                                     % _TERMINAL_COLUMNS)
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

    # ------------------------------------------------------------------ sessions
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

    # ------------------------------------------------------------------ commands and audit
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
