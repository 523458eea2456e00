"""The report tasks a master sets with AFN04 F65..F68, as the settings keep them ("report.tasks";
firmware/reports.py uses them), and the report form it sets with F241 ("report.compact").
Loaded only when a settings file holds tasks, or for a master's report set."""
from protocol.errors import ProtocolError

REPORT_KEYS = ("report.tasks", "report.compact")


def check_report(key, value):
    """A REPORT_KEYS value checked as protocol.settings.check checks it, without loading the
    settings schema: a station sets the report tasks at every login, with the codec loaded."""
    if key == "report.tasks":
        return check_tasks(key, value, 64)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError("%s must be a whole number" % key)
    if value not in (0, 1):
        raise ProtocolError("%s must be 0..1" % key)
    return value


def check_tasks(key, value, most):
    """[[class, number, unit, period, base, ratio, running, [(pn, fn), ...]], ...]: the pairs
    kept as tuples (a 2-tuple is one heap block, a list two; the tasks stay in the settings)."""
    if not isinstance(value, (list, tuple)) or len(value) > most:
        raise ProtocolError("%s must be a list of at most %d tasks" % (key, most))
    out = []
    for task in value:
        ok = isinstance(task, (list, tuple)) and len(task) == 8
        if ok:
            for i in range(7):
                if isinstance(task[i], bool) or not isinstance(task[i], int):
                    ok = False
        if ok:
            cls, number, unit, period, base, ratio, running, units = task
            ok = cls in (1, 2) and 1 <= number <= 64 and 0 <= unit <= 3 and \
                1 <= period <= 63 and 0 <= base and 0 <= ratio <= 255 and running in (0, 1) \
                and isinstance(units, (list, tuple)) and len(units) <= 255
        if ok:
            pairs = []
            for pair in units:  # pyright: ignore[reportPossiblyUnboundVariable] - bound when ok
                if not isinstance(pair, (list, tuple)) or len(pair) != 2 or \
                        not isinstance(pair[0], int) or not isinstance(pair[1], int) or \
                        not (0 <= pair[0] <= 2040 or pair[0] == 0xFFFF) or \
                        not 1 <= pair[1] <= 248:
                    ok = False
                    break
                pairs.append(pair if isinstance(pair, tuple) else (pair[0], pair[1]))
        if not ok:
            raise ProtocolError("%s: %r is not a report task [class 1|2, number 1..64, unit "
                                "0..3, period 1..63, base, ratio, running 0|1, [[pn, fn]...]]"
                                % (key, task))
        out.append([cls, number, unit, period, base, ratio, running, pairs])  # pyright: ignore[reportPossiblyUnboundVariable] - bound when ok
    return out


def find_task(tasks, cls, number):
    """The task of class `cls` (1, 2) and number `number` in the "report.tasks" list, or None."""
    for t in tasks:
        if t[0] == cls and t[1] == number:
            return t
    return None
