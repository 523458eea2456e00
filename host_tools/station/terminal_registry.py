"""The terminal registry: which concentrators the station accepts, and their meter archives.

Terminals are known by A1 (area code, 4 BCD digits kept as text) and A2 (address 1..65534),
written AREA-ADDRESS (`4101-1`), or by a name. The archive is the AFN04 F10 meter list the
front end downloads and verifies. Part of the Station (repository.py).
"""
import re

from sqlalchemy import bindparam, delete, func, insert, select, update

from host_tools.station.errors import (DuplicateTerminal, InvalidValue, TerminalHasData,
                                       UnknownMeter, UnknownTerminal)
from host_tools.station.secrets import is_sealed
from host_tools.station.records import MAX_PN, MeasuringPoint, Terminal, terminal_label
from host_tools.station.station_part import StationPart
from host_tools.station.tables import (commands, daily_frozen, events, measuring_points,
                                       monthly_frozen, point_collection, readings, sessions,
                                       terminals)

PASSWORD_BYTES = 16
BAUD_RATES = (0, 600, 1200, 2400, 4800, 7200, 9600, 19200)    # what F10's 3-bit code can say
TERMINAL_COLUMNS = tuple(terminals.c[name] for name in (
    "id", "area_code", "address", "name", "status", "last_seen_at", "last_login_at",
    "created_at"))
_POINT_COLUMNS = tuple(measuring_points.c)      # in the order of MeasuringPoint's fields
_SELECT_TERMINALS = select(*TERMINAL_COLUMNS)
# Built once: the front end runs these at every login.
_BY_ADDRESS = _SELECT_TERMINALS.where(terminals.c.area_code == bindparam("area_code"),
                                      terminals.c.address == bindparam("address"))
_BY_ID = _SELECT_TERMINALS.where(terminals.c.id == bindparam("id"))
_PASSWORD = select(terminals.c.password).where(terminals.c.id == bindparam("id"))
_ALL_POINTS = select(*_POINT_COLUMNS).order_by(measuring_points.c.terminal_id,
                                               measuring_points.c.pn)
_POINTS_OF = _ALL_POINTS.where(measuring_points.c.terminal_id == bindparam("tid"))
_POINT = _POINTS_OF.where(measuring_points.c.pn == bindparam("pn"))


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
    check_pn(pn)
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
    if not name.isprintable():
        # Control characters (an escape sequence) would rewrite the operator's terminal when a
        # list is printed.
        raise InvalidValue("bad terminal name %r: control characters are not allowed" % name)
    if name and (":" in name or re.fullmatch(r"\d{1,4}-\d+", name) or len(name) > 64):
        raise InvalidValue("bad terminal name %r: up to 64 characters, no ':' and not shaped "
                           "like AREA-ADDRESS" % name)
    return name


def check_pn(pn, low=1):
    if isinstance(pn, bool) or not isinstance(pn, int) or not low <= pn <= MAX_PN:
        raise InvalidValue("bad measuring point %r: Pn is %d..%d" % (pn, low, MAX_PN))
    return pn


class RegistryMixin(StationPart):
    """Terminals and measuring points (mixed into Station)."""

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
            rows.append({"area_code": area_code, "address": address, "name": name,
                         "password": password, "created_at": now})
        try:
            with self.db.transaction():
                self._refuse_registered(rows)
                self.db.execute(insert(terminals), self._sealed_rows(rows))
        except self.db.integrity_errors:     # registered meanwhile by another process
            raise DuplicateTerminal("a terminal given was registered meanwhile") from None
        return len(rows)

    def _refuse_registered(self, rows):
        """DuplicateTerminal (before any write) if an A1/A2 or name given is already taken."""
        labels = {(a, n) for a, n in self.db.rows(select(terminals.c.area_code,
                                                         terminals.c.address))}
        names = {n for (n,) in self.db.rows(select(terminals.c.name)
                                            .where(terminals.c.name != ""))}
        for row in rows:
            area_code, address, name = row["area_code"], row["address"], row["name"]
            if (area_code, address) in labels:
                raise DuplicateTerminal("terminal %s is already registered"
                                        % terminal_label(area_code, address))
            if name and name in names:
                raise DuplicateTerminal("the name %r is already taken by another terminal" % name)

    # Terminal passwords are stored sealed with the station's key file (secrets.py).
    def _seal_password(self, hexed):
        return self.passwords.seal(hexed)  # pyright: ignore[reportOptionalMemberAccess] - a Station always has its PasswordBox

    def _unseal_password(self, stored, label=""):
        return self.passwords.open(stored, label)  # pyright: ignore[reportOptionalMemberAccess] - a Station always has its PasswordBox

    def seal_clear_passwords(self):
        """Seal the PWs an older station stored in clear; returns how many."""
        with self.db.transaction():
            clear = [(tid, pw) for tid, pw in self.db.rows(
                select(terminals.c.id, terminals.c.password)) if not is_sealed(pw)]
            if clear:
                self.db.execute(update(terminals).where(terminals.c.id == bindparam("tid"))
                                .values(password=bindparam("pw")),
                                [{"tid": tid, "pw": self._seal_password(pw)} for tid, pw in clear])
        return len(clear)

    def _sealed_rows(self, rows):
        return [dict(row, password=self._seal_password(row["password"])) for row in rows]

    def terminals(self):
        """Every registered terminal, by A1 then A2."""
        with self.db.transaction(write=False):
            rows = self.db.rows(_SELECT_TERMINALS.order_by(terminals.c.area_code,
                                                           terminals.c.address))
        return [self._terminal(r) for r in rows]

    def find_terminal(self, area_code, address):
        """The terminal with this A1/A2, or None (the front end's login check)."""
        try:
            area_code, address = check_area_code(area_code), check_address(address)
        except InvalidValue:
            return None
        with self.db.transaction(write=False):
            row = self.db.row(_BY_ADDRESS, {"area_code": area_code, "address": address})
        return None if row is None else self._terminal(row)

    def terminal(self, ref):
        """The terminal for `ref`: a Terminal, its id (int), `AREA-ADDRESS` or its name."""
        if isinstance(ref, Terminal):
            ref = ref.id
        with self.db.transaction(write=False):
            if isinstance(ref, int) and not isinstance(ref, bool):
                row = self.db.row(_BY_ID, {"id": ref})
            else:
                text = str(ref).strip()
                match = re.fullmatch(r"(\d{1,4})-(\d+|0x[0-9a-fA-F]+)", text)
                if match:
                    row = self.db.row(_BY_ADDRESS, {"area_code": match.group(1).zfill(4),
                                                    "address": int(match.group(2), 0)})
                else:
                    row = self.db.row(_SELECT_TERMINALS.where(terminals.c.name == text,
                                                              terminals.c.name != ""))
        if row is None:
            raise UnknownTerminal("no terminal %r is registered: give AREA-ADDRESS (e.g. 4101-1) "
                                  "or a name from `conc station terminals list`" % (ref,))
        return self._terminal(row)

    def terminal_password(self, terminal_id):
        """The terminal's 16-byte PW for downlink AUX fields."""
        with self.db.transaction(write=False):
            stored = self.db.scalar(_PASSWORD, {"id": terminal_id})
        if stored is None:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
        return bytes.fromhex(self._unseal_password(stored, "id %s" % terminal_id))

    def set_terminal_password(self, terminal_id, password):
        password = normalise_password(password)
        with self.db.transaction():
            changed = self.db.execute(
                update(terminals).where(terminals.c.id == terminal_id)
                .values(password=self._seal_password(password))).rowcount
        if not changed:
            raise UnknownTerminal("no terminal with id %r" % (terminal_id,))

    def data_counts(self, terminal_id):
        """How much is stored for a terminal: {'readings': n, 'daily_frozen': n, ...}."""
        counts = {}
        with self.db.transaction(write=False):
            for table in (readings, daily_frozen, monthly_frozen, events):
                counts[table.name] = self.db.scalar(
                    select(func.count()).select_from(table)
                    .where(table.c.terminal_id == terminal_id))
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
            for table in (readings, daily_frozen, monthly_frozen, events, point_collection,
                          measuring_points, sessions):
                self.db.execute(delete(table).where(table.c.terminal_id == terminal.id))
            self.db.execute(update(commands).where(commands.c.terminal_id == terminal.id)
                            .values(terminal_id=None))
            self.db.execute(delete(terminals).where(terminals.c.id == terminal.id))
        return counts

    def _point(self, row):
        return MeasuringPoint(*row[:14], self._time(row[14]), self._time(row[15]))  # pyright: ignore[reportCallIssue] - the query's first fourteen columns

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
        names = [c.name for c in _POINT_COLUMNS]
        rows = [dict(zip(names, _point_row(terminal_id, **point) + (None, None), strict=True))
                for point in points]
        mp = measuring_points.c
        with self.db.transaction():
            if self.db.row(select(terminals.c.id).where(terminals.c.id == terminal_id)) is None:
                raise UnknownTerminal("no terminal with id %r" % (terminal_id,))
            self.db.execute(delete(measuring_points).where(
                mp.terminal_id == terminal_id, mp.pn.in_([row["pn"] for row in rows])))
            if rows:
                self.db.execute(insert(measuring_points), rows)
        return len(rows)

    def measuring_point(self, terminal_id, pn):
        with self.db.transaction(write=False):
            row = self.db.row(_POINT, {"tid": terminal_id, "pn": pn})
        if row is None:
            raise UnknownMeter("no measuring point p%s on terminal id %s" % (pn, terminal_id))
        return self._point(row)

    def measuring_points(self, terminal_id=None):
        """The archive of one terminal (or of all), by terminal and Pn."""
        with self.db.transaction(write=False):
            if terminal_id is None:
                rows = self.db.rows(_ALL_POINTS)
            else:
                rows = self.db.rows(_POINTS_OF, {"tid": terminal_id})
        return [self._point(r) for r in rows]

    def meter_counts(self):
        """{terminal_id: number of measuring points in its archive}."""
        with self.db.transaction(write=False):
            return dict(self.db.rows(select(measuring_points.c.terminal_id, func.count())
                                     .group_by(measuring_points.c.terminal_id)))

    def remove_measuring_point(self, terminal_id, pn):
        with self.db.transaction():
            gone = self.db.execute(delete(measuring_points).where(
                measuring_points.c.terminal_id == terminal_id,
                measuring_points.c.pn == pn)).rowcount
        if not gone:
            raise UnknownMeter("no measuring point p%s on terminal id %s" % (pn, terminal_id))

    def mark_archive_sent(self, terminal_id, pns, at=None):
        """Record that these points were downloaded to the terminal (AFN04 F10 confirmed)."""
        at = self._at(at)
        with self.db.transaction():
            self.db.execute(update(measuring_points).where(
                measuring_points.c.terminal_id == terminal_id,
                measuring_points.c.pn.in_(list(pns))).values(archive_sent_at=at,
                                                             archive_verified_at=None))

    def mark_archive_verified(self, terminal_id, pns, at=None):
        """Record that these points were read back from the terminal equal (AFN0A F10)."""
        at = self._at(at)
        with self.db.transaction():
            self.db.execute(update(measuring_points).where(
                measuring_points.c.terminal_id == terminal_id,
                measuring_points.c.pn.in_(list(pns))).values(archive_verified_at=at))

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
            return self.terminal(ref), check_pn(int(pn_text), low=0)
        address = check_meter_address(text)
        with self.db.transaction(write=False):
            mp = measuring_points.c
            rows = self.db.rows(select(mp.terminal_id, mp.pn).where(mp.meter_address == address)
                                .order_by(mp.terminal_id, mp.pn))
        if not rows:
            raise UnknownMeter("no meter %s in any terminal's archive: give TERMINAL:PN "
                               "(e.g. 4101-1:3) or check `conc station terminals meters`" % address)
        if len(rows) > 1:
            places = ", ".join("%s:%d" % (self.terminal(t).label, pn) for t, pn in rows)
            raise UnknownMeter("meter %s is in several archives (%s): give TERMINAL:PN"
                               % (address, places))
        return self.terminal(rows[0][0]), rows[0][1]
