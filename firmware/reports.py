"""Standard active reporting: what the ring log's records become on the wire, and when.

    tasks = Tasks(settings)                 # AFN04 F65..F68 tasks kept in "report.tasks"
    tasks.ratio(cls, pn, fn)                # R of a running task (or the default) asking for
                                            # it, 0 when none does
    tasks.due_until(now)                    # records up to this time are due (None: all)
    afn, units = encode(rec, tasks, protocol_1997)   # a READINGS record's units

A State Grid master configures what a terminal reports with AFN04 F65/F66 (timed reporting of
class 1 / class 2 data: Pn = task number; period unit and count, base time, curve ratio R, the
(Pn, Fn) list) and starts or stops each with F67/F68. The firmware keeps them in its settings
("report.tasks", saved atomically with the rest, so they survive a power cut) and reports the
ring log's records in the standard units those tasks name:

    real-time batches  -> AFN0C F129 (forward active energy), F131 (reverse active), F33
                          (forward energy block), F25 (power, power factor, voltage, current),
                          each with the batch's time as read time
    curve points       -> AFN0D curves, one point each (Td_c = the point's time, density of
                          plan.curve_min x R, n = 1): F81..F84 active power, F89..F91 voltage,
                          F92..F94 current, F101 / F103 forward / reverse active energy
                          register, F105..F108 power factor. A task's ratio R > 1 reports
                          only the points on a multiple of R x plan.curve_min from midnight.
    daily frozen / midnight -> AFN0D F161 (forward active), F163 (reverse active) with Td_d =
                          the day of the record; a freeze on the 1st of a month (00:00) is also
                          the previous month's F177 / F179 with Td_m = that month

What has no standard unit stays out of standard reports (it stays in the ring log, and the
cursor steps over it as over anything no task asks for; docs/gw376.md says why for each):
tariff registers of curve points (the curves carry totals only), frequency, combined active
energy, remaining balance, status word 3 (its changes go out as ERC33).

No task configured: the default asks for F25, F129, F131 (class 1), F161, F163, F177, F179
and every curve above (class 2) of every point, reported as soon as they are stored. With
tasks, a record goes out at the first boundary (base + k * period) of a running task at or
after its time; a record no running task asks for is stepped over (it stays in the ring log
for AFN0C/AFN0D queries). Delivery is the store-and-forward of firmware/uplink.py: the
ring-log cursor moves only over what the master confirmed, so nothing is lost or sent twice
whatever the reporting.

Task entry (settings "report.tasks", protocol/settings.py checks it):
    [class 1|2, task 1..64, unit 0 min|1 h|2 day|3 month, period 1..63, base (s since 2000),
     ratio R, running 0|1, [[pn, fn], ...]]        pn 0xFFFF = every point
"""
from protocol import clock_math
from protocol.clock_math import packed_bcd
from protocol.compat import const

PN_ALL = const(0xFFFF)
CLASS1 = const(1)
CLASS2 = const(2)
_DEFAULT = {CLASS1: (25, 129, 131), CLASS2: (161, 163, 177, 179, 81, 82, 83, 84, 89, 90, 91,
                                              92, 93, 94, 101, 103, 105, 106, 107, 108)}
_UNIT_S = (60, 3600, 86400)
# curves: (first Fn, first quantity, count, data format, 1997 scale): the stored quantities in
# the curve units' formats (power 09 0.0001 kW, voltage 07 0.1 V, current 25 0.001 A, energy
# register 11 0.01 kWh, power factor 05 0.1 % = the stored 0.001); a DL/T 645-1997 meter gives
# whole volts and 0.01 A
_CURVES = ((81, 17, 4, 9, 1), (89, 11, 3, 7, 10), (92, 14, 3, 25, 10), (101, 1, 1, 11, 1),
           (103, 6, 1, 11, 1), (105, 21, 4, 5, 1))
# Td_c density codes by minutes between points (the standard has no other intervals)
_DENSITY = {15: 1, 30: 2, 60: 3, 5: 254, 1: 255}

# stored quantities (firmware/quantities.py)
_Q_FWD = const(1)
_Q_REV = const(6)
_Q_VOLTAGE = const(11)
_Q_CURRENT = const(14)
_Q_POWER = const(17)
_Q_PF = const(21)
_KIND_CURVE = const(1)
_KIND_FROZEN = const(2)


class Tasks:
    def __init__(self, settings):
        self.settings = settings

    def all(self):
        return self.settings.get("report.tasks") or []

    def ratio(self, cls, pn, fn):
        """The curve ratio R (at least 1) of the first running task of class `cls` asking for
        (pn, fn), 1 for the default tasks, 0 when nothing asks for it."""
        tasks = self.all()
        if not tasks:
            return 1 if fn in _DEFAULT[cls] else 0
        for t in tasks:
            if t[0] == cls and t[6]:
                for p, f in t[7]:
                    if f == fn and (p == pn or p == PN_ALL):
                        return t[5] if t[5] > 1 else 1
        return 0

    def covers(self, cls, pn, fn):
        return self.ratio(cls, pn, fn) > 0

    def due_until(self, now):
        """The latest boundary at or before `now` of a running task (records up to it are
        due); None without tasks (everything is due at once); -1 when none runs yet."""
        tasks = self.all()
        if not tasks:
            return None
        latest = -1
        for t in tasks:
            if t[6]:
                b = boundary(t[2], t[3], t[4], now)
                if b > latest:
                    latest = b
        return latest


def boundary(unit, period, base, now):
    """The last base + k * period at or before `now` (-1 before the base)."""
    if now < base or period < 1:
        return -1
    if unit < 3:
        step = period * _UNIT_S[unit]
        return base + (now - base) // step * step
    # months: the base's day and time in every period-th month (day clipped to the month)
    b = clock_math.from_seconds(base)
    n = clock_math.from_seconds(now)
    months = ((n[0] - b[0]) * 12 + n[1] - b[1]) // period * period
    while months >= 0:
        y = b[0] + (b[1] - 1 + months) // 12
        m = (b[1] - 1 + months) % 12 + 1
        day = min(b[2], clock_math.days_in_month(y, m))
        at = clock_math.to_seconds(y, m, day, b[3], b[4], b[5])
        if at <= now:
            return at
        months -= period
    return -1


def _dadt(out, pn, fn):
    # one point, one class (protocol/gw376_dadt.py writes any group; this one is loaded per
    # reported frame, and that codec only with requests)
    out.append(1 << ((pn - 1) & 7))
    out.append((pn - 1) // 8 + 1)
    out.append(1 << ((fn - 1) & 7))
    out.append((fn - 1) // 8)


def _block(out, fmt, values, first, count, scale=1):
    from protocol import gw376_formats as formats
    from protocol.errors import ProtocolError
    for q in range(first, first + count):
        v = values.get(q)
        try:
            formats.encode_into(out, fmt, None if v is None else v * scale)
        except ProtocolError:               # outside what the format can say: no data
            formats.encode_into(out, fmt, None)


def encode(rec, tasks, protocol_1997=False):
    """(afn, bytes of the units) for one READINGS record, or (0, None) when no task asks for
    anything it holds. rec = (seq, type, point, time, payload)."""
    from firmware.log_records import unpack_readings
    point, seconds = rec[2], rec[3]
    values = {}
    kind = 0
    for item, value in unpack_readings(rec[4]):
        kind = item >> 6
        values[item & 63] = value
    if not values or point == 0:
        return 0, None
    out = bytearray()
    if kind >= _KIND_FROZEN:
        t = clock_math.from_seconds(seconds)
        for fn, first in ((161, _Q_FWD), (163, _Q_REV)):
            if values.get(first) is not None and tasks.covers(CLASS2, point, fn):
                _dadt(out, point, fn)
                out.append(packed_bcd(t[2]))
                out.append(packed_bcd(t[1]))
                out.append(packed_bcd(t[0] % 100))
                _energy(out, values, first, seconds)
        if t[2] == 1:       # the freeze at the start of a month closes the month before
            year, month = (t[0], t[1] - 1) if t[1] > 1 else (t[0] - 1, 12)
            for fn, first in ((177, _Q_FWD), (179, _Q_REV)):
                if values.get(first) is not None and tasks.covers(CLASS2, point, fn):
                    _dadt(out, point, fn)
                    out.append(packed_bcd(month))
                    out.append(packed_bcd(year % 100))
                    _energy(out, values, first, seconds)
        return (0x0D, out) if out else (0, None)
    if kind == _KIND_CURVE:
        _curves(out, point, seconds, values, tasks, protocol_1997)
        return (0x0D, out) if out else (0, None)
    for fn, first in ((129, _Q_FWD), (131, _Q_REV), (33, _Q_FWD)):
        if values.get(first) is not None and tasks.covers(CLASS1, point, fn):
            _dadt(out, point, fn)
            _energy(out, values, first, seconds)
            if fn == 33:        # forward reactive, Q1, Q4 reactive: not read (EE)
                for _ in range(15):
                    out.extend(b"\xee\xee\xee\xee")
    if tasks.covers(CLASS1, point, 25) and _any(values, _Q_VOLTAGE, 14):
        # catalogue units are the formats' units, but DL/T 645-1997 meters give whole volts
        # and 0.01 A
        scale = 10 if protocol_1997 else 1
        _dadt(out, point, 25)
        out.extend(clock_math.format15(seconds))
        _block(out, 9, values, _Q_POWER, 4)                 # kW, 0.0001
        _block(out, 9, {}, 0, 4)                            # reactive power: not read
        _block(out, 5, values, _Q_PF, 4)                    # 0.001 = 0.1 %
        _block(out, 7, values, _Q_VOLTAGE, 3, scale)        # 0.1 V
        _block(out, 25, values, _Q_CURRENT, 3, scale)       # 0.001 A
        _block(out, 25, {}, 0, 1)                           # zero-sequence current
        _block(out, 9, {}, 0, 4)                            # apparent power
    return (0x0C, out) if out else (0, None)


def _curves(out, point, seconds, values, tasks, protocol_1997):
    """One curve point as the AFN0D curve units a task asks for (n = 1)."""
    step = tasks.settings.get("plan.curve_min", 15) * 60
    if step < 60:
        return
    slot = seconds % 86400 // step
    for fn0, first, count, fmt, scale in _CURVES:
        for i in range(count):
            v = values.get(first + i)
            if v is None:
                continue
            ratio = tasks.ratio(CLASS2, point, fn0 + i)
            if not ratio or slot % ratio:
                continue
            _dadt(out, point, fn0 + i)
            out.extend(clock_math.format15(seconds))
            out.append(_DENSITY.get(step * ratio // 60, 0))
            out.append(1)
            _block(out, fmt, values, first + i, 1, scale if protocol_1997 else 1)


def _any(values, first, count):
    for q in range(first, first + count):
        if values.get(q) is not None:
            return True
    return False


def _energy(out, values, first, seconds):
    """read time (format 15), M = 4 tariffs, total + t1..t4 in format 14 (0.0001 kWh) from the
    stored 0.01 kWh."""
    out.extend(clock_math.format15(seconds))
    out.append(4)
    _block(out, 14, values, first, 5, 100)
