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

# key: (kind, low, high, default, meaning). low/high bound ints, or text length.
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
    "comm.heartbeat_clock": (INT, 0, 1, 1, "heartbeat (AFN02 F3) form: 1 carries the "
                             "terminal clock (Q/GDW 1376.1-2013), 0 no data (2009-edition "
                             "masters)"),
    "comm.response_timeout_s": (INT, 1, 255, 30,
                                "how long to wait for the master's answer (AFN04 F1)"),
    "comm.retries": (INT, 0, 3, 3, "resends before a frame counts as unanswered (AFN04 F1)"),
    "comm.online_mode": (INT, 1, 3, 1,
                         "1 always online, 2 passive activation, 3 time windows (AFN04 F8)"),
    "comm.redial_s": (INT, 1, 3600, 30, "first reconnect delay; doubles up to comm.redial_max_s"),
    "comm.redial_max_s": (INT, 1, 86400, 1800, "longest reconnect delay"),
    "comm.password": (SECRET, 0, 32, "",
                      "terminal PW of control and parameter setting: hex, the 16 bytes in "
                      "wire order, zero-padded at the end (00112233 -> 00 11 22 33 00 ..), as "
                      "`conc station terminals add --password` takes it; empty: none"),
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
PW_BYTES = 16


def pw_hex(text):
    """The terminal PW in its one notation: hex digits of the 16 bytes in wire order (as on
    the wire, and as the master station takes it), fewer than 32 padded with zero bytes at the
    end, so `00112233` is 00 11 22 33 00 .. 00. Returns 32 lower-case digits, or "" (none: 16
    zero bytes on the wire)."""
    digits = text.replace(" ", "").lower()
    if not digits:
        return ""
    for c in digits:
        if c not in "0123456789abcdef":
            raise ProtocolError("%s must be hex digits (the 16-byte PW in wire order, e.g. "
                                "00112233), not text" % PW_KEY)
    if len(digits) % 2 or len(digits) > 2 * PW_BYTES:
        raise ProtocolError("%s must be 2 to 32 hex digits (an even number: whole bytes)"
                            % PW_KEY)
    return digits + "0" * (2 * PW_BYTES - len(digits))


def upgrade(raw):
    """Convert settings written by firmware before the hex PW notation, in place; returns the
    keys converted. The old comm.password was text of at most 16 characters sent as its
    bytes ("00112233" -> 30 30 31 31 ..); a stored new value is always 32 hex digits, so the
    two cannot be confused, and the conversion keeps the bytes on the wire the same."""
    old = raw.get(PW_KEY) if isinstance(raw, dict) else None
    if not isinstance(old, str) or not old or len(old) > PW_BYTES:
        return []
    from binascii import hexlify
    raw[PW_KEY] = pw_hex(hexlify(old.encode()).decode())
    return [PW_KEY]


def defaults():
    return {key: spec[3] for key, spec in SCHEMA.items()}


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
    upgrade(raw)            # an old PW keeps its bytes (conc config saves the conversion)
    for key, value in raw.items():
        try:
            settings[key] = check(key, value)
        except ProtocolError as exc:
            problems.append(exc.reason)
    return settings, problems


def show(key, value):
    """A value as a person reads it: secrets hidden, times as hh:mm."""
    kind = SCHEMA[key][0]
    if kind == SECRET:
        return "(set)" if value else "(not set)"
    if kind == HHMM:
        return "%02d:%02d" % (value // 60, value % 60)
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
