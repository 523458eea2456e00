"""Calendar arithmetic on the concentrator's own epoch, with no help from `time`.

Board ports disagree on the epoch of `time` (2000 on ESP32/STM32, 1970 on the unix port) and
some lack gmtime, so the firmware counts wall time as seconds since 2000-01-01 00:00:00 local
time (meters and 1376.1 frames carry local time with two-digit years) and converts here.
Works for 2000-01-01 .. 2099-12-31, the range two-digit years can name.
"""
from protocol.errors import ProtocolError

DAY = 86400
_CUMULATIVE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _leap(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year, month):
    if month == 2:
        return 29 if _leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def to_seconds(year, month, day, hour=0, minute=0, second=0):
    """(Y, M, D, h, m, s) -> seconds since 2000-01-01 00:00:00; ProtocolError if invalid."""
    if not (2000 <= year <= 2099 and 1 <= month <= 12 and
            1 <= day <= days_in_month(year, month) and 0 <= hour <= 23 and
            0 <= minute <= 59 and 0 <= second <= 59):
        raise ProtocolError("invalid date/time %04d-%02d-%02d %02d:%02d:%02d"
                            % (year, month, day, hour, minute, second))
    y = year - 2000
    days = y * 365 + (y + 3) // 4 + _CUMULATIVE[month - 1] + day - 1
    if month > 2 and _leap(year):
        days += 1
    return ((days * 24 + hour) * 60 + minute) * 60 + second


def from_seconds(seconds):
    """Seconds since 2000-01-01 -> (Y, M, D, h, m, s, weekday) with weekday 1 = Monday .. 7."""
    days, rest = divmod(seconds, DAY)
    weekday = (days + 5) % 7 + 1          # 2000-01-01 was a Saturday
    year = 2000
    while True:
        length = 366 if _leap(year) else 365
        if days < length:
            break
        days -= length
        year += 1
    month = 1
    while days >= days_in_month(year, month):
        days -= days_in_month(year, month)
        month += 1
    return (year, month, days + 1, rest // 3600, rest // 60 % 60, rest % 60, weekday)


def day_start(seconds):
    """Midnight of the day `seconds` falls in."""
    return seconds - seconds % DAY


def text(seconds):
    """'2026-11-25 13:05:00' for logs and the status command."""
    t = from_seconds(seconds)
    return "%04d-%02d-%02d %02d:%02d:%02d" % t[:6]


def packed_bcd(value):
    """0..99 as one packed BCD byte, as 1376.1 and DL/T 645 write calendar fields and area codes
    (no range check: the callers give fields of a valid time; protocol/bcd.py's bcd_byte checks
    what it is given)."""
    return ((value // 10) << 4) | (value % 10)


def format15(seconds):
    """Q/GDW 1376.1 data format 15 of wall seconds: minute, hour, day, month, two-digit year,
    5 packed BCD bytes in wire order."""
    y, mo, d, h, mi = from_seconds(seconds)[:5]
    return bytes((packed_bcd(mi), packed_bcd(h), packed_bcd(d), packed_bcd(mo),
                  packed_bcd(y % 100)))
