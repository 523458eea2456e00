"""DL/T 645-2007 and DL/T 645-1997 meter frames: build and parse, for both ends of the bus.

The concentrator (and `conc probe`) builds requests and parses replies; the meter simulator
parses requests and builds replies. Both use this module, so one codec defines the wire.

Frame: `[FE x 0..4] 68 A0..A5 68 C L DATA CS 16`. The address is 12 BCD digits sent lowest
byte first; DATA goes on the wire +0x33 per byte; CS is the byte sum from the first 68 through
DATA. C: D7 from meter, D6 abnormal reply, D5 follow-up frames exist, D4..D0 function.
Every builder takes *unscrambled* values and returns the complete frame as bytes; `Frame.data`
and `Frame.payload` are unscrambled too.

Public API (names are stable; other modules are written against them)

  Addresses are 12-character strings, most significant digit first, as printed on a meter:
    BROADCAST = "999999999999", WILDCARD = "AAAAAAAAAAAA"
    address_bytes(address) -> 6 bytes on the wire ("151230011061" -> 61 10 01 30 12 15);
        shorter all-digit strings are zero-padded on the left ("123456" -> "000000123456").
    address_text(buf, start=0) -> "151230011061"

  Requests (concentrator / host side), DL/T 645-2007:
    build_read(address, di, params=b"", preamble=0)            C=11, DI (+ e.g. load-curve params)
    build_read_follow(address, di, seq, preamble=0)            C=12, DI + SEQ
    build_read_address(preamble=0)                             C=13 to AAAAAAAAAAAA
    build_write(address, di, value, password=DEFAULT_PASSWORD, operator=DEFAULT_OPERATOR,
                preamble=0)                                    C=14
    build_write_address(new_address, preamble=0)               C=15 to AAAAAAAAAAAA
    build_broadcast_time(clock, address=BROADCAST, preamble=0) C=08, no reply
    build_freeze(address, at=None, preamble=0)                 C=16; at = (month, day, hour,
        minute) with 99 meaning "every"; None = freeze now (99 99 99 99)
    build_change_baud(address, baud, preamble=0)               C=17, baud in 600..19200
    build_relay(address, command, expiry, password=DEFAULT_PASSWORD,
                operator=DEFAULT_OPERATOR, preamble=0)         C=1C; command is an N1 code
        (RELAY_TRIP ...) or its name ("trip", "permit_close", ...)
  DL/T 645-1997:
    build_read_1997(address, di, preamble=0)                   C=01, 2-byte DI (e.g. 0x9010)

  Replies (meter / simulator side):
    build_read_reply(address, di, payload=b"", more=False)     C=91, or B1 when `more`
    build_follow_reply(address, di, payload, seq, more=False)  C=92 / B2, DI + payload + SEQ
    build_read_address_reply(address)                          C=93, data = the address
    build_baud_reply(address, baud)                            C=97, data = baud code
    build_reply(address, function, data=b"")                   C=function|80: plain acks
        (write 94, relay 9C, freeze 96, write address 95 ...)
    build_error_reply(address, function, error)                C=function|C0 + error byte
    build_read_reply_1997(address, di, payload=b"", more=False) C=81 / A1

  Any frame:
    build_frame(address, control, data=b"", preamble=0) -> bytes
    parse_frame(buf, start=0, length=None) -> Frame; FE preamble bytes are skipped; the frame
        must fill buf[start:start+length] exactly. Bad input raises ProtocolError(reason,
        offset) and nothing else.
    Frame attributes: address (str), control, data (unscrambled bytes), version (2007/1997,
        from the function code), function, from_meter, abnormal, more; and, filled where the
        function carries them (else None): di (int), payload (bytes after DI / password /
        operator; before SEQ), seq, error, password, operator (str), command (N1),
        expiry / clock (time tuple), freeze_at, baud, meter_address (read-address reply,
        write-address request). Frame.error_names() -> names of the abnormal reply's bits.
    is_reply_to(reply, request) -> True when `reply` (a Frame) answers `request` (a Frame)
    error_names(error, version=2007) -> list of names ("no_data", "unauthorized", ...)
    function_name(function, version=2007) -> "read", "relay", ...
    di_text(di, version=2007) -> "00010000" / "9010"

  Constants: function codes READ, READ_FOLLOW, READ_ADDRESS, WRITE, WRITE_ADDRESS,
  BROADCAST_TIME, FREEZE, CHANGE_BAUD, CHANGE_PASSWORD, CLEAR_MAX_DEMAND, CLEAR_METER,
  CLEAR_EVENTS, RELAY and READ_1997 ...; relay N1 codes RELAY_TRIP ... RELAY_KEEP_POWER_RELEASE
  (RELAY_COMMANDS pairs them with names); error bits ERR_OTHER, ERR_NO_DATA, ERR_UNAUTHORIZED,
  ERR_BAUD, ERR_YEAR_ZONES, ERR_DAY_PERIODS, ERR_TARIFFS; control bits FROM_METER, ABNORMAL, MORE.

  Time tuples are (year, month, day, hour, minute, second) with a four-digit year, so
  `time.localtime()[:6]` can be passed straight in.

  Byte streams: protocol.dlt645_deframer.Deframer cuts whole frames out of serial reads;
  values: protocol.dlt645_items; display: protocol.dlt645_describe.
"""
import binascii

from protocol import bcd
from protocol.bcd import is_decimal
from protocol.compat import const
from protocol.errors import ProtocolError

BROADCAST = "999999999999"
WILDCARD = "AAAAAAAAAAAA"
PREAMBLE = 0xFE
START = 0x68
END = 0x16
SCRAMBLE = 0x33
MAX_DATA = 200          # DL/T 645-2007 4.2: L <= 200 (reads); writes stay <= 50
MAX_PREAMBLE = 4
MIN_FRAME = 12          # 68 A*6 68 C L CS 16 with no data

# Control byte bits
FROM_METER = const(0x80)
ABNORMAL = const(0x40)
MORE = const(0x20)
FUNCTION_MASK = const(0x1F)

# DL/T 645-2007 function codes
BROADCAST_TIME = const(0x08)
READ = const(0x11)
READ_FOLLOW = const(0x12)
READ_ADDRESS = const(0x13)
WRITE = const(0x14)
WRITE_ADDRESS = const(0x15)
FREEZE = const(0x16)
CHANGE_BAUD = const(0x17)
CHANGE_PASSWORD = const(0x18)
CLEAR_MAX_DEMAND = const(0x19)
CLEAR_METER = const(0x1A)
CLEAR_EVENTS = const(0x1B)
RELAY = const(0x1C)

# DL/T 645-1997 function codes (broadcast time 0x08 is the same in both)
READ_1997 = const(0x01)
READ_FOLLOW_1997 = const(0x02)
REREAD_1997 = const(0x03)
WRITE_1997 = const(0x04)
WRITE_ADDRESS_1997 = const(0x0A)
CHANGE_BAUD_1997 = const(0x0C)
CHANGE_PASSWORD_1997 = const(0x0F)
CLEAR_MAX_DEMAND_1997 = const(0x10)

# Relay control (0x1C) N1 commands
RELAY_TRIP = const(0x1A)
RELAY_PERMIT_CLOSE = const(0x1B)
RELAY_DIRECT_CLOSE = const(0x1C)
RELAY_ALARM = const(0x2A)
RELAY_ALARM_RELEASE = const(0x2B)
RELAY_KEEP_POWER = const(0x3A)
RELAY_KEEP_POWER_RELEASE = const(0x3B)
RELAY_COMMANDS = (
    (RELAY_TRIP, "trip"),
    (RELAY_PERMIT_CLOSE, "permit_close"),
    (RELAY_DIRECT_CLOSE, "direct_close"),
    (RELAY_ALARM, "alarm"),
    (RELAY_ALARM_RELEASE, "alarm_release"),
    (RELAY_KEEP_POWER, "keep_power"),
    (RELAY_KEEP_POWER_RELEASE, "keep_power_release"),
)

# Abnormal-reply error byte, bit 0 first
ERR_OTHER = const(0x01)
ERR_NO_DATA = const(0x02)
ERR_UNAUTHORIZED = const(0x04)
ERR_BAUD = const(0x08)
ERR_YEAR_ZONES = const(0x10)
ERR_DAY_PERIODS = const(0x20)
ERR_TARIFFS = const(0x40)
ERROR_NAMES = ("other", "no_data", "unauthorized", "baud_unchangeable", "year_zones_over",
               "day_periods_over", "tariffs_over", "bit7")
# 1997 (section 7.4 of DL/T 645-1997): illegal data, wrong DI, password error, bit 3 reserved
ERROR_NAMES_1997 = ("illegal_data", "wrong_di", "password_error", "bit3", "year_zones_over",
                    "day_periods_over", "tariffs_over", "bit7")

# Change-baud code Z: one bit per rate (bit 0 and bit 7 reserved)
BAUD_RATES = (600, 1200, 2400, 4800, 9600, 19200)

DEFAULT_PASSWORD = "02000000"   # level 02, password 000000
DEFAULT_OPERATOR = "00000000"

_FUNCTIONS_2007 = (
    (BROADCAST_TIME, "broadcast_time"), (READ, "read"), (READ_FOLLOW, "read_follow"),
    (READ_ADDRESS, "read_address"), (WRITE, "write"), (WRITE_ADDRESS, "write_address"),
    (FREEZE, "freeze"), (CHANGE_BAUD, "change_baud"), (CHANGE_PASSWORD, "change_password"),
    (CLEAR_MAX_DEMAND, "clear_max_demand"), (CLEAR_METER, "clear_meter"),
    (CLEAR_EVENTS, "clear_events"), (RELAY, "relay"),
)
_FUNCTIONS_1997 = (
    (READ_1997, "read"), (READ_FOLLOW_1997, "read_follow"), (REREAD_1997, "reread"),
    (WRITE_1997, "write"), (BROADCAST_TIME, "broadcast_time"),
    (WRITE_ADDRESS_1997, "write_address"), (CHANGE_BAUD_1997, "change_baud"),
    (CHANGE_PASSWORD_1997, "change_password"), (CLEAR_MAX_DEMAND_1997, "clear_max_demand"),
)
# Function codes that exist only in 1997 (0x08 is shared and parsed the same way)
_ONLY_1997 = (READ_1997, READ_FOLLOW_1997, REREAD_1997, WRITE_1997, WRITE_ADDRESS_1997,
              CHANGE_BAUD_1997, CHANGE_PASSWORD_1997, CLEAR_MAX_DEMAND_1997)

# +0x33 / -0x33 on the data field. CPython has bytes.translate (C speed); MicroPython does not,
# so it loops (frames are short and MicroPython has no faster primitive for this).
if hasattr(bytes, "translate"):
    _ADD33 = bytes((i + SCRAMBLE) & 0xFF for i in range(256))
    _SUB33 = bytes((i - SCRAMBLE) & 0xFF for i in range(256))

    def _scramble(data):
        return bytes(data).translate(_ADD33)

    def _unscramble(buf, start, end):
        return bytes(buf[start:end]).translate(_SUB33)
else:
    def _scramble(data):
        out = bytearray(data)
        for i in range(len(out)):
            out[i] = (out[i] + SCRAMBLE) & 0xFF
        return bytes(out)

    def _unscramble(buf, start, end):
        out = bytearray(end - start)
        for i in range(end - start):
            out[i] = (buf[start + i] - SCRAMBLE) & 0xFF
        return bytes(out)


# ---------------------------------------------------------------------------------------------
# Names and small fields

def function_name(function, version=2007):
    """Function code (D4..D0 of C) -> its snake_case name, or "function_XX"."""
    for code, name in (_FUNCTIONS_1997 if version == 1997 else _FUNCTIONS_2007):
        if code == function:
            return name
    return "function_%02X" % function


def error_names(error, version=2007):
    """Abnormal-reply error byte -> list of the names of its set bits, bit 0 first."""
    names = ERROR_NAMES_1997 if version == 1997 else ERROR_NAMES
    return [names[bit] for bit in range(8) if error & (1 << bit)]


def relay_command_name(command):
    for code, name in RELAY_COMMANDS:
        if code == command:
            return name
    return "command_%02X" % command


def relay_command_code(command):
    """N1 code from an int or a name ("trip"); ProtocolError for anything else."""
    for code, name in RELAY_COMMANDS:
        if command == code or command == name:
            return code
    raise ProtocolError("unknown relay command %r (known: %s)" % (
        command, ", ".join(name for _, name in RELAY_COMMANDS)))


def di_text(di, version=2007):
    """DI as printed in the standard: 8 hex digits (2007) or 4 (1997)."""
    return ("%04X" if version == 1997 else "%08X") % di


def address_bytes(address):
    """'151230011061' -> b'\\x61\\x10\\x01\\x30\\x12\\x15' (6 bytes, lowest first)."""
    if not isinstance(address, str):
        raise ProtocolError("meter address must be text like '000000123456', not %r"
                            % (address,))
    text = address.upper()
    if len(text) < 12 and is_decimal(text):
        text = "0" * (12 - len(text)) + text
    if len(text) != 12:
        raise ProtocolError("meter address %r must be 12 digits" % address)
    out = bytearray(6)
    for i in range(6):
        pair = text[10 - 2 * i:12 - 2 * i]
        if pair == "AA":
            out[i] = 0xAA
        elif is_decimal(pair):
            out[i] = int(pair, 16)
        else:
            raise ProtocolError("meter address %r: %r is neither two digits nor AA"
                                % (address, pair))
    return bytes(out)


def address_text(buf, start=0):
    """6 address bytes at buf[start:] -> '151230011061'; each byte must be BCD or AA."""
    if start + 6 > len(buf):
        raise ProtocolError("address runs past the end of the frame", len(buf))
    text = "%012X" % int.from_bytes(buf[start:start + 6], "little")
    if not text.isdigit():                  # rare: wildcard AA bytes, or garbage
        for i in range(start, start + 6):
            byte = buf[i]
            if byte != 0xAA and ((byte >> 4) > 9 or (byte & 0x0F) > 9):
                raise ProtocolError("address byte 0x%02X is not BCD" % byte, i)
    return text


def _le(value, size):
    out = bytearray(size)
    for i in range(size):
        out[i] = value & 0xFF
        value >>= 8
    return bytes(out)


def _le_value(buf, start, size):
    return int.from_bytes(buf[start:start + size], "little")


def _is_int(value, low, high):
    return isinstance(value, int) and low <= value <= high


def _check_function(function):
    if not _is_int(function, 0, FUNCTION_MASK):
        raise ProtocolError("function code %r must be 0x00..0x1F" % (function,))


def _bytes(data, what):
    """Builders take bytes-like data only: bytes(5) would silently mean five zero bytes."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise ProtocolError("%s must be bytes, not %r" % (what, data))


def _di_bytes(di, size):
    if not isinstance(di, int) or di < 0 or di >> (8 * size):
        raise ProtocolError("data identifier %r does not fit %d bytes" % (di, size))
    return _le(di, size)


def _code_bytes(text, what):
    """A password ('LLPPPPPP': level then 6 digits) or operator code ('CCCCCCCC') -> 4 bytes.

    Both are 8 hex digits written most significant first and sent lowest byte first,
    except that a password's level byte PA goes first on the wire: PA P0 P1 P2.
    """
    if not isinstance(text, str) or len(text) != 8:
        raise ProtocolError("%s must be 8 hex digits, not %r" % (what, text))
    try:
        raw = binascii.unhexlify(text)
    except (ValueError, TypeError):
        raise ProtocolError("%s must be 8 hex digits, not %r" % (what, text)) from None
    if what == "password":
        return bytes((raw[0], raw[3], raw[2], raw[1]))
    return bytes((raw[3], raw[2], raw[1], raw[0]))


def _password_text(data, start):
    return binascii.hexlify(bytes((data[start], data[start + 3], data[start + 2],
                                   data[start + 1]))).decode().upper()


def _operator_text(data, start):
    return binascii.hexlify(bytes((data[start + 3], data[start + 2], data[start + 1],
                                   data[start]))).decode().upper()


def clock_bytes(clock):
    """(year, month, day, hour, minute, second) -> ss mm hh DD MM YY."""
    try:
        year, month, day, hour, minute, second = clock[:6]
        valid = (1 <= month <= 12 and 1 <= day <= 31 and 0 <= hour <= 23
                 and 0 <= minute <= 59 and 0 <= second <= 59
                 and (0 <= year <= 99 or 2000 <= year <= 2099))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ProtocolError("time must be (year, month, day, hour, minute, second) in range, "
                            "not %r" % (clock,))
    return bytes((bcd.bcd_byte(second), bcd.bcd_byte(minute), bcd.bcd_byte(hour),  # pyright: ignore[reportPossiblyUnboundVariable] - bound when valid
                  bcd.bcd_byte(day), bcd.bcd_byte(month), bcd.bcd_byte(year % 100)))  # pyright: ignore[reportPossiblyUnboundVariable] - bound when valid


def clock_value(buf, start=0):
    """ss mm hh DD MM YY at buf[start:] -> (year, month, day, hour, minute, second)."""
    if start + 6 > len(buf):
        raise ProtocolError("time runs past the end of the data", len(buf))
    v = bcd.byte_value
    return (2000 + v(buf[start + 5], start + 5), v(buf[start + 4], start + 4),
            v(buf[start + 3], start + 3), v(buf[start + 2], start + 2),
            v(buf[start + 1], start + 1), v(buf[start], start))


def baud_code(baud):
    for i in range(len(BAUD_RATES)):
        if BAUD_RATES[i] == baud:
            return 1 << (i + 1)
    raise ProtocolError("baud rate %r is not one of %s" % (baud, BAUD_RATES))


def baud_rate(code):
    """Change-baud code Z -> rate; exactly one valid bit must be set."""
    for i in range(len(BAUD_RATES)):
        if code == 1 << (i + 1):
            return BAUD_RATES[i]
    raise ProtocolError("baud code 0x%02X does not name one rate" % code)


# ---------------------------------------------------------------------------------------------
# Building

def build_frame(address, control, data=b"", preamble=0):
    """Complete frame bytes; `data` unscrambled; `preamble` = number of FE bytes (0..4)."""
    if not _is_int(preamble, 0, MAX_PREAMBLE):
        raise ProtocolError("preamble must be 0..4 FE bytes, not %r" % (preamble,))
    if not _is_int(control, 0, 0xFF):
        raise ProtocolError("control byte %r out of range" % (control,))
    data = _bytes(data, "data")
    size = len(data)
    if size > MAX_DATA:
        raise ProtocolError("%d data bytes; DL/T 645 allows at most %d" % (size, MAX_DATA))
    head = bytearray(10)
    head[0] = START
    head[1:7] = address_bytes(address)
    head[7] = START
    head[8] = control
    head[9] = size
    body = _scramble(data)
    checksum = (sum(head) + sum(body)) & 0xFF
    return b"\xfe" * preamble + bytes(head) + body + bytes((checksum, END))


def build_read(address, di, params=b"", preamble=0):
    return build_frame(address, READ, _di_bytes(di, 4) + _bytes(params, "read parameters"),
                       preamble)


def build_read_follow(address, di, seq, preamble=0):
    if not _is_int(seq, 0, 0xFF):
        raise ProtocolError("follow-up sequence %r must be 0..255" % (seq,))
    return build_frame(address, READ_FOLLOW, _di_bytes(di, 4) + bytes((seq,)), preamble)


def build_read_address(preamble=0):
    return build_frame(WILDCARD, READ_ADDRESS, b"", preamble)


def build_write(address, di, value, password=DEFAULT_PASSWORD, operator=DEFAULT_OPERATOR,
                preamble=0):
    data = (_di_bytes(di, 4) + _code_bytes(password, "password")
            + _code_bytes(operator, "operator") + _bytes(value, "value"))
    return build_frame(address, WRITE, data, preamble)


def build_write_address(new_address, preamble=0):
    return build_frame(WILDCARD, WRITE_ADDRESS, address_bytes(new_address), preamble)


def build_broadcast_time(clock, address=BROADCAST, preamble=0):
    return build_frame(address, BROADCAST_TIME, clock_bytes(clock), preamble)


def build_freeze(address, at=None, preamble=0):
    """Freeze command; `at` = (month, day, hour, minute), 99 meaning "every"; None = now."""
    if at is None:
        at = (99, 99, 99, 99)
    try:
        month, day, hour, minute = at
        data = bytes((bcd.bcd_byte(minute), bcd.bcd_byte(hour), bcd.bcd_byte(day),
                      bcd.bcd_byte(month)))
    except (TypeError, ValueError):
        raise ProtocolError("freeze time must be (month, day, hour, minute), not %r"
                            % (at,)) from None
    return build_frame(address, FREEZE, data, preamble)


def build_change_baud(address, baud, preamble=0):
    return build_frame(address, CHANGE_BAUD, bytes((baud_code(baud),)), preamble)


def build_relay(address, command, expiry, password=DEFAULT_PASSWORD,
                operator=DEFAULT_OPERATOR, preamble=0):
    """Relay control: N1 `command`, valid until `expiry` (a time tuple)."""
    data = (_code_bytes(password, "password") + _code_bytes(operator, "operator")
            + bytes((relay_command_code(command), 0)) + clock_bytes(expiry))
    return build_frame(address, RELAY, data, preamble)


def build_read_1997(address, di, preamble=0):
    return build_frame(address, READ_1997, _di_bytes(di, 2), preamble)


def build_reply(address, function, data=b"", preamble=0):
    """Normal reply (C = function | 0x80) carrying `data`: the plain acknowledgements."""
    _check_function(function)
    return build_frame(address, FROM_METER | (function & FUNCTION_MASK), data, preamble)


def build_error_reply(address, function, error, preamble=0):
    """Abnormal reply (C = function | 0xC0) with one error byte (ERR_* bits)."""
    _check_function(function)
    if not _is_int(error, 0, 0xFF):
        raise ProtocolError("error byte %r out of range" % (error,))
    return build_frame(address, FROM_METER | ABNORMAL | (function & FUNCTION_MASK),
                       bytes((error,)), preamble)


def build_read_reply(address, di, payload=b"", more=False, preamble=0):
    control = FROM_METER | READ | (MORE if more else 0)
    return build_frame(address, control, _di_bytes(di, 4) + _bytes(payload, "payload"),
                       preamble)


def build_follow_reply(address, di, payload, seq, more=False, preamble=0):
    if not _is_int(seq, 0, 0xFF):
        raise ProtocolError("follow-up sequence %r must be 0..255" % (seq,))
    control = FROM_METER | READ_FOLLOW | (MORE if more else 0)
    return build_frame(address, control,
                       _di_bytes(di, 4) + _bytes(payload, "payload") + bytes((seq,)),
                       preamble)


def build_read_address_reply(address, preamble=0):
    return build_frame(address, FROM_METER | READ_ADDRESS, address_bytes(address), preamble)


def build_baud_reply(address, baud, preamble=0):
    return build_frame(address, FROM_METER | CHANGE_BAUD, bytes((baud_code(baud),)), preamble)


def build_read_reply_1997(address, di, payload=b"", more=False, preamble=0):
    control = FROM_METER | READ_1997 | (MORE if more else 0)
    return build_frame(address, control, _di_bytes(di, 2) + _bytes(payload, "payload"),
                       preamble)


# ---------------------------------------------------------------------------------------------
# Parsing

class Frame:
    """One parsed frame. Fields a function does not carry stay None (class defaults)."""

    di = None
    seq = None
    error = None
    password = None
    operator = None
    command = None
    expiry = None
    clock = None
    freeze_at = None
    baud = None
    meter_address = None

    def __init__(self, address, control, data):
        self.address = address
        self.control = control
        self.data = data
        self.payload = data
        function = control & FUNCTION_MASK
        self.version = 1997 if function in _ONLY_1997 else 2007

    @property
    def function(self):
        return self.control & FUNCTION_MASK

    @property
    def from_meter(self):
        return bool(self.control & FROM_METER)

    @property
    def abnormal(self):
        return bool(self.control & ABNORMAL)

    @property
    def more(self):
        return bool(self.control & MORE)

    def error_names(self):
        return [] if self.error is None else error_names(self.error, self.version)

    def function_name(self):
        return function_name(self.function, self.version)

    def __repr__(self):
        return "<DL/T 645-%d %s%s %s C=%02X%s>" % (
            self.version, self.function_name(),
            " reply" if self.from_meter else "", self.address, self.control,
            "" if self.di is None else " DI=" + di_text(self.di, self.version))


def is_reply_to(reply, request):
    """Does `reply` answer `request`? Same function, from the meter addressed (any meter for a
    wildcard or broadcast request), and for a normal read reply the same DI. A poller uses it to
    drop a late answer to an earlier request that arrives while it waits for this one."""
    if not reply.from_meter or request.from_meter or reply.function != request.function:
        return False
    if request.address != reply.address and request.address not in (WILDCARD, BROADCAST):
        return False
    if reply.abnormal or request.di is None:
        return True
    return reply.di == request.di


def _need(frame, size, offset, exact=False):
    got = len(frame.data)
    if got < size or (exact and got != size):
        raise ProtocolError("%s%s carries %d data bytes, expected %s%d" % (
            frame.function_name(), " reply" if frame.from_meter else "", got,
            "" if exact else "at least ", size), offset + got)


def parse_frame(buf, start=0, length=None):
    """Parse one whole frame in buf[start:start+length] (FE preamble allowed) -> Frame."""
    end = len(buf) if length is None else start + length
    if start < 0 or end > len(buf) or end < start:
        raise ProtocolError("frame bounds outside the buffer", start)
    i = start
    while i < end and i - start < 16 and buf[i] == PREAMBLE:
        i += 1
    if end - i < MIN_FRAME:
        raise ProtocolError("too short for a DL/T 645 frame (%d bytes, need %d)"
                            % (end - i, MIN_FRAME), end - start)
    if buf[i] != START:
        raise ProtocolError("frame does not start with 68", i - start)
    if buf[i + 7] != START:
        raise ProtocolError("second 68 missing after the address", i + 7 - start)
    size = buf[i + 9]
    if size > MAX_DATA:
        raise ProtocolError("data length %d exceeds %d" % (size, MAX_DATA), i + 9 - start)
    stop = i + 10 + size
    if stop + 2 > end:
        raise ProtocolError("frame truncated: L=%d needs %d bytes, have %d"
                            % (size, stop + 2 - i, end - i), end - start)
    if stop + 2 < end:
        raise ProtocolError("%d bytes after the end of the frame" % (end - stop - 2),
                            stop + 2 - start)
    checksum = sum(buf[i:stop])
    if checksum & 0xFF != buf[stop]:
        raise ProtocolError("bad checksum %02X, computed %02X" % (buf[stop], checksum & 0xFF),
                            stop - start)
    if buf[stop + 1] != END:
        raise ProtocolError("frame does not end with 16", stop + 1 - start)
    frame = Frame(address_text(buf, i + 1), buf[i + 8], _unscramble(buf, i + 10, stop))
    _decode_fields(frame, i + 10 - start)
    return frame


def _decode_fields(frame, at):
    """Fill the function-specific fields; `at` = offset of DATA for error messages."""
    data = frame.data
    function = frame.control & FUNCTION_MASK
    reply = frame.control & FROM_METER
    if frame.control & ABNORMAL:
        if not reply:
            raise ProtocolError("abnormal flag on a request", at - 2)
        _need(frame, 1, at)
        frame.error = data[0]
        frame.payload = data[1:]
        return
    if frame.version == 1997:
        if function in (READ_1997, READ_FOLLOW_1997, REREAD_1997, WRITE_1997):
            _need(frame, 2, at, exact=not reply and function != WRITE_1997)
            frame.di = data[0] | (data[1] << 8)
            frame.payload = data[2:]
        elif function == CHANGE_BAUD_1997 and len(data) == 1:
            frame.baud = baud_rate(data[0])
        return
    if function == READ:
        _need(frame, 4, at)
        frame.di = _le_value(data, 0, 4)
        frame.payload = data[4:]
    elif function == READ_FOLLOW:
        _need(frame, 5, at, exact=not reply)
        frame.di = _le_value(data, 0, 4)
        frame.payload = data[4:-1]
        frame.seq = data[-1]
    elif function == READ_ADDRESS:
        if reply:
            _need(frame, 6, at, exact=True)
            frame.meter_address = _address_field(data, at)
        else:
            _need(frame, 0, at, exact=True)
    elif function == WRITE:
        if not reply:
            _need(frame, 12, at)
            frame.di = _le_value(data, 0, 4)
            frame.password = _password_text(data, 4)
            frame.operator = _operator_text(data, 8)
            frame.payload = data[12:]
    elif function == WRITE_ADDRESS:
        if not reply:
            _need(frame, 6, at, exact=True)
            frame.meter_address = _address_field(data, at)
    elif function == BROADCAST_TIME:
        _need(frame, 6, at, exact=True)
        frame.clock = _clock_field(data, 0, at)
    elif function == FREEZE:
        if not reply:
            _need(frame, 4, at, exact=True)
            frame.freeze_at = (_bcd(data, 3, at), _bcd(data, 2, at), _bcd(data, 1, at),
                               _bcd(data, 0, at))
    elif function == CHANGE_BAUD:
        _need(frame, 1, at, exact=True)
        try:
            frame.baud = baud_rate(data[0])
        except ProtocolError as err:
            raise ProtocolError(err.reason, at) from None
    elif function == CHANGE_PASSWORD:
        if not reply:
            _need(frame, 12, at, exact=True)
            frame.di = _le_value(data, 0, 4)
            frame.password = _password_text(data, 4)
            frame.payload = data[8:]
    elif function in (CLEAR_MAX_DEMAND, CLEAR_METER, CLEAR_EVENTS):
        if not reply:
            _need(frame, 8, at)
            frame.password = _password_text(data, 0)
            frame.operator = _operator_text(data, 4)
            frame.payload = data[8:]
            if function == CLEAR_EVENTS and len(data) >= 12:
                frame.di = _le_value(data, 8, 4)
    elif function == RELAY:
        if not reply:
            _need(frame, 16, at, exact=True)
            frame.password = _password_text(data, 0)
            frame.operator = _operator_text(data, 4)
            frame.command = data[8]
            frame.expiry = _clock_field(data, 10, at)
            frame.payload = b""


def _bcd(data, i, at):
    return bcd.byte_value(data[i], at + i)


def _clock_field(data, start, at):
    try:
        return clock_value(data, start)
    except ProtocolError as err:
        raise ProtocolError("time field: " + err.reason,
                            None if err.offset is None else at + err.offset) from None


def _address_field(data, at):
    try:
        return address_text(data, 0)
    except ProtocolError as err:
        raise ProtocolError(err.reason,
                            None if err.offset is None else at + err.offset) from None
