"""The concentrator's field settings: every key, its type, range, default and meaning.

One table serves both sides: `conc config` validates a value on the host before anything is
sent, and the firmware validates the file it loads at boot (a typo or a corrupt file never
bricks a board: bad keys fall back to their defaults and are reported). Keys mirror the Q/GDW
1376.1 parameters they correspond to (AFN04 F1, F3, F8) so the uplink can set them remotely.

A value is validated by `check(key, value)`, which returns the normalised value or raises
ProtocolError naming what is allowed. Text from a command line is parsed by `parse(key, text)`.
"""
from protocol.bcd import is_decimal
from protocol.errors import ProtocolError

# kinds
INT = "int"
TEXT = "text"
SECRET = "secret"        # text that is never echoed or logged
HHMM = "hh:mm"           # time of day, minutes since midnight internally
HOST = "host"
ITEMS = "items"          # list of data item names
TASKS = "tasks"          # AFN04 F65/F66 report tasks (firmware/reports.py)

# key: (kind, low, high, default, meaning). low/high bound ints, or text length. A default of
# None: the key is absent until set (every reader has the fallback), so the dict every board
# keeps resident does not grow for settings few boards use.
SCHEMA = {
    "terminal.area": (INT, 0, 9999, 4101,
                      "A1 administrative area code (4 BCD digits)"),
    "terminal.address": (INT, 1, 65535, 1,
                         "A2 terminal address (1..65535)"),
    "master.host": (HOST, 1, 64, "127.0.0.1",
                    "master station IP address or host name (AFN04 F3 primary)"),
    "master.port": (INT, 1, 65535, 7000, "master station TCP port"),
    "master.backup_host": (HOST, 0, 64, "", "backup master station (empty: none)"),
    "master.backup_port": (INT, 0, 65535, 0, "backup master station TCP port"),
    "master.apn": (TEXT, 0, 16, "cmnet", "GPRS access point name (16 characters at most)"),
    "comm.heartbeat_min": (INT, 1, 60, 5, "heartbeat period in minutes (AFN04 F1)"),
    "comm.heartbeat_clock": (INT, 0, 1, None, "heartbeat AFN02 F3: 1 (unset) with the terminal "
                             "clock, Q/GDW 1376.1-2013; 0 without, for 2009-edition masters"),
    "comm.response_timeout_s": (INT, 1, 255, 30,
                                "how long to wait for the master's answer (AFN04 F1)"),
    "comm.retries": (INT, 0, 3, 3, "resends before a frame counts as unanswered (AFN04 F1)"),
    "comm.online_mode": (INT, 1, 3, 1,
                         "1 always online, 2 passive activation, 3 time windows (AFN04 F8)"),
    "comm.redial_s": (INT, 1, 3600, 30, "first reconnect delay; doubles up to comm.redial_max_s"),
    "comm.redial_max_s": (INT, 1, 86400, 1800, "longest reconnect delay"),
    "comm.password": (SECRET, 0, 32, "",
                      "PW: hex, 16 bytes in wire order, zero-padded, as at the station"),
    "plan.realtime_min": (INT, 1, 1440, 15, "real-time reading interval in minutes"),
    "plan.realtime_items": (ITEMS, 1, 16, "energy_fwd_block,voltage_block,current_block,power_active_total",
                            "items read on the real-time plan (catalogue names)"),
    "plan.curve_min": (INT, 0, 60, 15, "curve point interval in minutes (0: no curve)"),
    "plan.frozen_at": (HHMM, 5, 23 * 60 + 59, 5, "daily frozen data collection start (00:05)"),
    "plan.backfill_days": (INT, 0, 31, 3, "days of missing frozen data to re-collect"),
    "plan.time_sync_at": (HHMM, 0, 23 * 60 + 59, 3 * 60 + 17,
                          "daily broadcast time to the meters (never near midnight or the hour)"),
    "events.fail_count": (INT, 1, 255, 3, "consecutive failures before ERC31 is raised"),
    "events.clock_error_s": (INT, 1, 3600, 300, "meter clock deviation that raises ERC12"),
    "poll.turnaround_ms": (INT, 20, 2000, 500,
                           "longest a meter may take to start its reply (DL/T 645: 500 ms)"),
    "poll.retries": (INT, 0, 3, 1, "resends of a meter request that got no usable reply"),
    "report.compact": (INT, 0, 1, None, "1: report the ring log as vendor F241 records "
                       "(compact, our station); 0 (unset): standard units AFN0C/0D/0E"),
    "report.tasks": (TASKS, 0, 64, None, "timed report tasks the master set with AFN04 "
                     "F65..F68 (unset: the default standard reports)"),
    "comm.rts_delay_20ms": (INT, 0, 255, 0, "data-carrier RTS delay in 20 ms steps (AFN04 F1)"),
    "comm.send_delay_min": (INT, 0, 255, 0, "allowed transmission delay in minutes (AFN04 F1)"),
    "comm.confirm_flags": (INT, 0, 7, 0, "active reports of class 1/2/3 data wait for a "
                           "confirm: D0 class 1, D1 class 2, D2 class 3 (AFN04 F1)"),
    "comm.passive_redials": (INT, 0, 255, 3, "redials in passive activation mode (AFN04 F8)"),
    "comm.idle_min": (INT, 0, 255, 10, "passive activation: go offline after this many idle "
                      "minutes (AFN04 F8)"),
    "comm.online_hours": (INT, 0, 0xFFFFFF, 0xFFFFFF, "time-window mode: bit h set = online "
                          "from h:00 to h:59 (AFN04 F8)"),
}


def check(key, value):
    """Return `value` normalised for `key`; ProtocolError says what is allowed."""
    spec = SCHEMA.get(key)
    if spec is None:
        raise ProtocolError("unknown setting %r; known: %s" % (key, ", ".join(sorted(SCHEMA))))
    kind, low, high, _, _ = spec
    if kind in (INT, HHMM):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProtocolError("%s must be a whole number" % key)
        if not low <= value <= high:
            raise ProtocolError("%s must be %s..%s" % (key, show(key, low), show(key, high)))
        if key == "plan.time_sync_at" and (value % 60 in (0, 59, 1) or value < 30 or value > 1410):
            raise ProtocolError("plan.time_sync_at must keep away from the hour and midnight")
        return value
    if kind == TASKS:        # rare (a master set tasks): its checker loads only then
        from protocol.report_tasks import check_tasks
        return check_tasks(key, value, high)
    if kind == ITEMS:
        names = value.split(",") if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not low <= len(names) <= high:
            raise ProtocolError("%s must list %d..%d item names" % (key, low, high))
        for name in names:
            if not isinstance(name, str) or not name or not _is_name(name):
                raise ProtocolError("%s: %r is not an item name" % (key, name))
        return ",".join(names)
    if not isinstance(value, str):
        raise ProtocolError("%s must be text" % key)
    if key == PW_KEY:
        from protocol.pw import pw_hex
        return pw_hex(value)
    if not low <= len(value) <= high:
        raise ProtocolError("%s must be %d..%d characters" % (key, low, high))
    if kind == HOST and value and not _is_host(value):
        raise ProtocolError("%s: %r is not an IP address or host name" % (key, value))
    return value


def parse(key, text):
    """Parse command-line text for `key`, then check it."""
    spec = SCHEMA.get(key)
    if spec is None:
        return check(key, text)   # raises the unknown-key error
    kind = spec[0]
    if kind == INT:
        try:
            value = int(text)
        except ValueError:
            raise ProtocolError("%s must be a whole number, not %r" % (key, text)) from None
        return check(key, value)
    if kind == HHMM:
        parts = text.split(":")
        if len(parts) != 2 or not is_decimal(parts[0]) or not is_decimal(parts[1]) or \
                int(parts[1]) > 59:
            raise ProtocolError("%s must be a time of day like 03:17, not %r" % (key, text))
        return check(key, int(parts[0]) * 60 + int(parts[1]))
    return check(key, text)


PW_KEY = "comm.password"


def defaults():
    return {key: spec[3] for key, spec in SCHEMA.items() if spec[3] is not None}


def load(raw):
    """Validate a loaded settings dict: return (settings, problems).

    Every key gets a valid value: a missing or bad one takes its default and is named in
    `problems`, so a board always boots with usable settings.
    """
    settings = defaults()
    problems = []
    if not isinstance(raw, dict):
        return settings, ["settings are not a key/value table"]
    raw = dict(raw)
    if PW_KEY in raw:       # an old PW keeps its bytes (conc config saves the conversion)
        from protocol.pw import upgrade
        upgrade(raw)
    for key, value in raw.items():
        try:
            settings[key] = check(key, value)
        except ProtocolError as exc:
            problems.append(exc.reason)
    return settings, problems


def show(key, value):
    """A value as a person reads it: secrets hidden, times as hh:mm."""
    kind = SCHEMA[key][0]
    if value is None:
        return "(unset)"
    if kind == SECRET:
        return "(set)" if value else "(not set)"
    if kind == HHMM:
        return "%02d:%02d" % (value // 60, value % 60)
    if kind == TASKS:
        return str(len(value))
    return str(value)


def _is_name(text):
    for ch in text:
        if not (ch.isalpha() or ch.isdigit() or ch == "_"):
            return False
    return True


def _is_host(text):
    for ch in text:
        if not (ch.isalpha() or ch.isdigit() or ch in ".-"):
            return False
    return not text.startswith("-") and not text.startswith(".")
