"""The terminal's answers to AFN0D queries: daily and monthly frozen forward active energy
(F161, F177) read from the ring log by date. Loaded only while one is answered
(firmware/terminal.py unloads it again). Every function takes the Terminal as `term`.
"""
from firmware.ringlog import READINGS
from protocol import clock_math
from protocol.compat import const

_KIND_FROZEN = const(2)         # firmware/quantities.py FROZEN, MIDNIGHT
_KIND_MIDNIGHT = const(3)


def class2(term, frame):
    if term.log is None:
        return None
    units = []
    for pn, fn, td in frame.units:
        if fn not in (161, 177) or pn == 0 or td is None:
            return None
        for point in term._points(pn):
            value = frozen(term, point, fn, td)
            if value is not None:
                units.append((point, fn, value))
    return term._reply(frame, units) if units else None

def frozen(term, point, fn, td):
    if fn == 161:
        day = clock_math.to_seconds(td[0], td[1], td[2])
    else:       # monthly: the freeze at 00:00 of the next month's first day
        year, month = td[0], td[1] + 1
        if month > 12:
            year, month = year + 1, 1
        day = clock_math.to_seconds(year, month, 1)
    found = None
    from firmware.log_records import unpack_readings
    for rec in term.log.records(rtype=READINGS, point=point, since=day,
                                until=day + 86399):
        values = {}
        for item, value in unpack_readings(rec[4]):
            kind = item >> 6
            if kind == _KIND_FROZEN or kind == _KIND_MIDNIGHT:
                values[item & 63] = value
        energy = term.energy_units(values, 0)
        if energy is not None:
            found = (rec[3], energy)
    if found is None:
        return None
    return {"td": td, "read_time": clock_math.from_seconds(found[0])[:5], "tariffs": 4,
            "forward_active": found[1], "forward_reactive": [None] * 5,
            "q1_reactive": [None] * 5, "q4_reactive": [None] * 5} if fn == 1 else \
        {"td": td, "read_time": clock_math.from_seconds(found[0])[:5], "tariffs": 4, "forward_active": found[1]}
