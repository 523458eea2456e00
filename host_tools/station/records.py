"""The station's data records: what goes into the repository and what comes back out.

Inputs (built by the front end, many at a time):
    Reading(terminal_id, pn, item, read_at, value, scale=None)
    FrozenValue(terminal_id, pn, item, period, value, scale=None, read_at=None)
    Event(terminal_id, erc, data, occurred_at=None, important=True, pn=None, detail="",
          source_pointer=None, source_key=None)

`value` is exact: a decimal.Decimal (its digits and places are kept: Decimal("12.3400") stays
four places) or an int with `scale` decimal places (123400, scale=4). Floats are refused.
`read_at`/`occurred_at` are datetimes (naive ones are in the station's zone, see times.py), Unix
seconds, or the tuples protocol.gw376_formats decodes (format 15 (y, m, d, h, min), format 01).
`period` is a day `YYYY-MM-DD` (daily) or month `YYYY-MM` (monthly), a date, or the format-20
(y, m, d) / format-21 (y, m) tuple. So a decoded AFN0C F129 maps straight on:
`Reading(tid, pn, items.energy_item("fwd", k), unit["read_time"], unit["forward_active"][k],
gw376_formats.DECIMALS[14])` (skip values that are None: "no data").

Outputs carry aware datetimes in the station's zone and Decimal values.

Item names (the `item` text) are the station's one naming (items.py, which also maps decoded
units to records; docs/station.md): `energy_fwd_total` the total forward active energy,
`energy_fwd_t1`..`energy_fwd_tM` its tariffs, `voltage_a` ...
"""
import decimal
from typing import NamedTuple, Optional

from host_tools.station.errors import InvalidValue

MAX_PN = 2040
MAX_ITEM_LENGTH = 64


def terminal_label(area_code, address):
    """How people write a terminal: A1, a dash, A2 in decimal (`4101-1`)."""
    return "%s-%d" % (area_code, address)


class Terminal(NamedTuple):
    """A registered concentrator (its password is fetched separately, never carried around)."""
    id: int
    area_code: str
    address: int
    name: str
    status: str
    last_seen_at: object
    last_login_at: object
    created_at: object

    @property
    def label(self):
        return terminal_label(self.area_code, self.address)


class MeasuringPoint(NamedTuple):
    """One meter in a terminal's archive (the AFN04 F10 fields)."""
    terminal_id: int
    pn: int
    serial_no: int
    meter_address: str
    protocol: int
    port: int
    baud: int
    meter_password: str
    tariff_count: int
    integer_digits: int
    decimal_digits: int
    collector_address: str
    user_class: int
    user_subclass: int
    archive_sent_at: object = None
    archive_verified_at: object = None

    def to_f10(self):
        """The point as protocol.gw376_units encodes an AFN04/AFN0A F10 archive entry.

        The front end sends these with AFN04 F10 and compares them with what AFN0A F10 reads
        back (`point.to_f10() == decoded_meter`) before mark_archive_verified.
        """
        return {"serial": self.serial_no, "point": self.pn, "baud": self.baud, "port": self.port,
                "protocol": self.protocol, "address": self.meter_address,
                "password": bytes.fromhex(self.meter_password), "tariffs": self.tariff_count,
                "integer_digits": self.integer_digits, "decimal_digits": self.decimal_digits,
                "collector": self.collector_address, "user_class": self.user_class,
                "user_subclass": self.user_subclass}

    def __repr__(self):   # keep the meter password out of logs and tracebacks
        return "MeasuringPoint(terminal_id=%r, pn=%r, meter_address=%r, protocol=%r, port=%r)" % (
            self.terminal_id, self.pn, self.meter_address, self.protocol, self.port)


class Reading(NamedTuple):
    terminal_id: int
    pn: int
    item: str
    read_at: object
    value: object
    scale: Optional[int] = None


class FrozenValue(NamedTuple):
    terminal_id: int
    pn: int
    item: str
    period: object
    value: object
    scale: Optional[int] = None
    read_at: object = None


class Event(NamedTuple):
    terminal_id: int
    erc: int
    data: bytes
    occurred_at: object = None
    important: bool = True
    pn: Optional[int] = None
    detail: str = ""
    source_pointer: Optional[int] = None
    source_key: Optional[str] = None


class StoredReading(NamedTuple):
    terminal_id: int
    terminal_label: str
    pn: int
    item: str
    read_at: object
    value: decimal.Decimal
    received_at: object


class StoredFrozen(NamedTuple):
    terminal_id: int
    terminal_label: str
    pn: int
    item: str
    period: str
    value: decimal.Decimal
    read_at: object
    received_at: object


class StoredEvent(NamedTuple):
    id: int
    terminal_id: int
    terminal_label: str
    erc: int
    important: bool
    occurred_at: object
    pn: Optional[int]
    data: bytes
    detail: str
    source_pointer: Optional[int]
    received_at: object


class Command(NamedTuple):
    id: int
    terminal_id: Optional[int]
    terminal_label: str
    pn: Optional[int]
    meter_address: Optional[str]
    kind: str
    operator: str
    reason: str
    parameters: dict
    state: str
    created_at: object
    updated_at: object
    finished_at: object


class CommandStep(NamedTuple):
    command_id: int
    at: object
    step: str
    outcome: str
    detail: str


class Session(NamedTuple):
    id: int
    terminal_id: int
    peer: str
    started_at: object
    last_heartbeat_at: object
    heartbeats: int
    ended_at: object
    end_reason: Optional[str]


class TerminalStatus(NamedTuple):
    """One line of `conc station status`."""
    terminal: Terminal
    online: bool             # a session is open and the terminal was heard lately
    silent: bool             # a session is open but nothing was heard for too long
    peer: Optional[str]
    session_started_at: object
    last_heartbeat_at: object
    points: int              # measuring points expected to be read
    points_read: int         # of those, read since the window started
    read_success: Optional[float]   # points_read / points, None when nothing is expected
    last_read_at: object


def exact_value(value, scale=None):
    """(integer, scale) for an exact value: a Decimal, or an int with `scale` decimal places."""
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise InvalidValue("a reading must be a finite number, not %s" % value)
        sign, digits, exponent = value.as_tuple()
        if exponent >= 0:  # pyright: ignore[reportOperatorIssue] - a finite Decimal's exponent is an int
            return int(value), 0
        if len(digits) <= 28:      # within the default context: scaleb is exact (and fast)
            return int(value.scaleb(-exponent)), -exponent  # pyright: ignore[reportOperatorIssue] - a finite Decimal's exponent is an int
        number = int("".join(map(str, digits)))
        return (-number if sign else number), -exponent  # pyright: ignore[reportOperatorIssue] - a finite Decimal's exponent is an int
    if isinstance(value, int) and not isinstance(value, bool):
        scale = scale or 0
        if not isinstance(scale, int) or not 0 <= scale <= 18:
            raise InvalidValue("a reading's scale must be 0..18 decimal places, not %r" % (scale,))
        return value, scale
    if isinstance(value, float):
        raise InvalidValue("readings are exact: pass a decimal.Decimal or an int with a scale, "
                           "not the float %r" % value)
    raise InvalidValue("a reading's value must be a Decimal or an int, not %r" % (value,))


def to_decimal(number, scale):
    """The Decimal for a stored (integer, scale) pair, keeping every stored place."""
    return decimal.Decimal(number).scaleb(-scale)
