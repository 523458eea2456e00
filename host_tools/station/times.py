"""Time handling for the station: UTC in the database, the station's zone at the edges.

The database stores instants as integer Unix seconds (UTC), so both engines compare and index
them the same way and nothing depends on the server's time zone. Terminals and meters report
wall-clock times without a zone (1376.1 formats 01 and 15); those are read in the station's zone:
`CONC_STATION_TZ` (an IANA name such as `Asia/Shanghai`) or, when unset, the host's local zone.
Frozen days and months are calendar labels of the terminal (`2026-11-24`, `2026-11`) and are kept
as written, never converted.
"""
import contextlib
import datetime
import os
import re
import time
import zoneinfo
from typing import overload

from host_tools.station.errors import InvalidValue

UTC = datetime.timezone.utc
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def station_zone(name=None):
    """The zone naive times are read in: `name`, else $CONC_STATION_TZ, else the host's zone."""
    name = name or os.environ.get("CONC_STATION_TZ")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise InvalidValue("unknown time zone %r: use an IANA name such as Asia/Shanghai"
                               % name) from None
    return local_zone()


def local_zone():
    """The host's zone with its rules (DST included) when they can be found, else its offset."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        target = os.readlink("/etc/localtime")
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    for name in candidates:
        if name:
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
                return zoneinfo.ZoneInfo(name)
    return datetime.datetime.now().astimezone().tzinfo


def to_epoch(when, zone):
    """Unix seconds for `when`, which is one of:

    - an int/float: already Unix seconds;
    - a datetime: naive ones are in `zone`;
    - a tuple as protocol.gw376_formats decodes times, in `zone`: format 15
      (year, month, day, hour, minute), format 01 (year, month, day, hour, minute, second,
      weekday; the weekday is ignored), or a day (year, month, day) meaning its midnight.
    """
    if isinstance(when, (tuple, list)):
        if not 3 <= len(when) <= 7:
            raise InvalidValue("a time tuple is (year, month, day[, hour, minute[, second]]), "
                               "not %r" % (when,))
        try:
            when = datetime.datetime(*when[:6])
        except (TypeError, ValueError):
            raise InvalidValue("not a valid time: %r" % (when,)) from None
    if isinstance(when, datetime.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone)
        return int(when.timestamp())
    if isinstance(when, bool) or not isinstance(when, (int, float)):
        raise InvalidValue("a time must be a datetime or Unix seconds, not %r" % (when,))
    return int(when)


@overload
def from_epoch(seconds: None, zone) -> None: ...
@overload
def from_epoch(seconds: float, zone) -> datetime.datetime: ...
def from_epoch(seconds, zone):
    """An aware datetime in `zone` for stored Unix seconds (None stays None)."""
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(seconds, zone)


def now_epoch():
    return int(time.time())


def parse_time(text, zone, end_of_day=False):
    """Unix seconds for an ISO date or date-time typed by a user.

    Accepts `2026-11-24`, `2026-11-24T08:00`, `2026-11-24 08:00:05`, with an optional offset
    (`+08:00`, `Z`). Without an offset the time is in `zone`. A bare date is midnight starting that
    day, or with `end_of_day` midnight ending it, so `--to 2026-11-24` includes the whole day.
    """
    text = text.strip()
    try:
        if _DAY.match(text):
            day = datetime.date.fromisoformat(text)
            if end_of_day:
                day += datetime.timedelta(days=1)
            moment = datetime.datetime.combine(day, datetime.time(), zone)
        else:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except OverflowError:
        raise InvalidValue("time %r is out of range: give a date between 0001-01-02 and "
                           "9999-12-30" % text) from None
    except ValueError:
        raise InvalidValue("bad time %r: use an ISO date or date-time such as 2026-11-24 or "
                           "2026-11-24T08:00 (optionally with +08:00)" % text) from None
    return to_epoch(moment, zone)


def check_day(text):
    """Validate a frozen day label `YYYY-MM-DD` (a date or a (year, month, day) tuple too)."""
    if isinstance(text, (tuple, list)) and len(text) == 3:
        try:
            return datetime.date(*text).isoformat()
        except (TypeError, ValueError):
            pass
    if isinstance(text, datetime.datetime):
        text = text.date()
    if isinstance(text, datetime.date):
        return text.isoformat()
    if isinstance(text, str) and _DAY.match(text):
        try:
            datetime.date.fromisoformat(text)
            return text
        except ValueError:
            pass
    raise InvalidValue("bad frozen day %r: use YYYY-MM-DD" % (text,))


def check_month(text):
    """Validate a frozen month label `YYYY-MM` (a date gives its month; or a (year, month) tuple)."""
    if isinstance(text, (tuple, list)) and len(text) == 2 and all(isinstance(n, int) for n in text) \
            and 1 <= text[1] <= 12 and 1 <= text[0] <= 9999:
        return "%04d-%02d" % tuple(text)
    if isinstance(text, datetime.date):
        return "%04d-%02d" % (text.year, text.month)
    if isinstance(text, str) and _MONTH.match(text) and 1 <= int(text[5:]) <= 12:
        return text
    raise InvalidValue("bad frozen month %r: use YYYY-MM" % (text,))
