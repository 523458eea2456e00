"""Modbus RTU as electricity meters speak it: frames, CRC-16, register values, stream framing.

Three layers, kept apart as pymodbus keeps them:
- what is asked and answered: `read_request`, `write_single_request`, `write_multiple_request`
  and the matching `*_reply` / `exception_reply` builders; `parse_request`, `parse_reply` and
  `parse` (direction unknown, for decoding a captured frame) return a `Message`;
- how it looks on the wire: `unit function data CRC16`, the CRC (polynomial 0xA001 reflected,
  initial 0xFFFF) sent low byte first, and `RtuFramer`, which splits a byte stream into frames
  by the 3.5-character silence with times the caller supplies;
- register contents: u16/s16/u32/s32/float32 in big-endian registers, high word first
  (`decode_value`), and their exact conversion to a scaled integer for storage
  (`decode_scaled`: float32 energy to 0.01 kWh without rounding through a float).

Supported functions: 03 read holding registers, 04 read input registers, 06 write single
register, 16 (0x10) write multiple registers; any of them may come back as an exception reply
(function | 0x80, one exception code). Everything else raises ProtocolError.
"""
import struct
from array import array

from protocol.compat import const
from protocol.errors import ProtocolError

READ_HOLDING = const(3)
READ_INPUT = const(4)
WRITE_SINGLE = const(6)
WRITE_MULTIPLE = const(16)
EXCEPTION_FLAG = const(0x80)

MAX_FRAME = const(256)          # the longest RTU frame (serial line spec, 2.5.1)
MAX_READ = const(125)           # registers in one 03/04 request
MAX_WRITE = const(123)          # registers in one 16 request
MAX_UNIT = const(247)           # 0 is broadcast (writes only), 248..255 reserved

FUNCTION_NAMES = {
    READ_HOLDING: "read holding registers",
    READ_INPUT: "read input registers",
    WRITE_SINGLE: "write single register",
    WRITE_MULTIPLE: "write multiple registers",
}

# Modbus Application Protocol v1.1b3, section 7.
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

# Register value types: name -> registers it occupies.
U16 = "u16"
S16 = "s16"
U32 = "u32"
S32 = "s32"
FLOAT32 = "float32"
TYPE_REGISTERS = {U16: 1, S16: 1, U32: 2, S32: 2, FLOAT32: 2}


def exception_name(code):
    """A Modbus exception code in words."""
    return EXCEPTION_NAMES.get(code, "exception code %d" % code)


# ---------------------------------------------------------------------------------------------
# CRC

def _crc_table():
    table = array("H", [0] * 256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table[i] = crc
    return table


_CRC_TABLE = _crc_table()


def crc16(data, start=0, end=None):
    """Modbus CRC-16 of data[start:end] (poly 0xA001 reflected, init 0xFFFF).

    The frame carries it low byte first. Allocates nothing, so the framer can call it.
    """
    if end is None:
        end = len(data)
    table = _CRC_TABLE
    crc = 0xFFFF
    for i in range(start, end):
        crc = (crc >> 8) ^ table[(crc ^ data[i]) & 0xFF]
    return crc


def crc_ok(frame, length=None):
    """True when the last two of `length` bytes are the CRC of the bytes before them."""
    n = len(frame) if length is None else length
    if n < 3:
        return False
    return crc16(frame, 0, n - 2) == frame[n - 2] | (frame[n - 1] << 8)


# ---------------------------------------------------------------------------------------------
# Messages

class Message:
    """One decoded frame.

    `reply` is False for a request, True for a reply, None when the bytes read the same both
    ways (a write-single request and its echo). `function` never has the exception bit: an
    exception reply has `exception` set to its code. `address` is the first register (None in a
    03/04 reply, which does not repeat it), `count` the number of registers, `data` the register
    contents, two big-endian bytes each (03/04 replies, 06 and 16 requests, 06 replies).
    """

    def __init__(self, unit, function, reply, address=None, count=0, data=b"", exception=None):
        self.unit = unit
        self.function = function
        self.reply = reply
        self.address = address
        self.count = count
        self.data = data
        self.exception = exception

    @property
    def registers(self):
        """The register contents as a tuple of 0..65535 ints."""
        data = self.data
        return tuple((data[i] << 8) | data[i + 1] for i in range(0, len(data) - 1, 2))

    @property
    def exception_name(self):
        return None if self.exception is None else exception_name(self.exception)

    @property
    def function_name(self):
        return FUNCTION_NAMES.get(self.function, "function %d" % self.function)

    def value(self, index, kind):
        """The value of type `kind` starting at register `index` of `data`."""
        return decode_value(self.data, 2 * index, kind)

    def scaled(self, index, kind, exp10):
        """`value(index, kind)` x 10**exp10 as an exact integer (see decode_scaled)."""
        return decode_scaled(self.data, 2 * index, kind, exp10)

    def __eq__(self, other):
        return (isinstance(other, Message) and self.unit == other.unit and
                self.function == other.function and self.reply == other.reply and
                self.address == other.address and self.count == other.count and
                bytes(self.data) == bytes(other.data) and self.exception == other.exception)

    def __repr__(self):
        if self.exception is not None:
            return "Message(unit=%d, %s, exception %d %s)" % (
                self.unit, self.function_name, self.exception, self.exception_name)
        kind = {False: "request", True: "reply", None: "request/echo"}[self.reply]
        return "Message(unit=%d, %s %s, address=%r, count=%d, data=%r)" % (
            self.unit, self.function_name, kind, self.address, self.count, bytes(self.data))


# ---------------------------------------------------------------------------------------------
# Builders

def _check_range(value, low, high, what):
    if not isinstance(value, int) or not low <= value <= high:
        raise ProtocolError("%s %r is outside %d..%d" % (what, value, low, high))


def _check_span(address, count):
    _check_range(address, 0, 0xFFFF, "register address")
    if address + count > 0x10000:
        raise ProtocolError("%d registers from 0x%04X run past register 0xFFFF" % (count, address))


def _with_crc(body):
    crc = crc16(body)
    body.append(crc & 0xFF)
    body.append(crc >> 8)
    return bytes(body)


def _head(unit, function, broadcast_ok):
    _check_range(unit, 0 if broadcast_ok else 1, MAX_UNIT, "unit address")
    return bytearray((unit, function))


def _put_u16(buf, value):
    buf.append(value >> 8)
    buf.append(value & 0xFF)


def _register_bytes(values, low, high):
    """Registers given as ints (0..65535) or as their big-endian bytes -> bytes."""
    if isinstance(values, (bytes, bytearray, memoryview)):
        data = bytes(values)
        if len(data) & 1:
            raise ProtocolError("register data has an odd number of bytes (%d)" % len(data))
    else:
        data = bytearray()
        for value in values:
            _check_range(value, 0, 0xFFFF, "register value")
            _put_u16(data, value)
    count = len(data) // 2
    if not low <= count <= high:
        raise ProtocolError("%d registers: between %d and %d fit one frame" % (count, low, high))
    return data


def read_request(unit, function, address, count):
    """03 (holding) or 04 (input) request for `count` registers from `address`."""
    if function != READ_HOLDING and function != READ_INPUT:
        raise ProtocolError("function %r does not read registers (3 or 4 do)" % (function,))
    _check_range(count, 1, MAX_READ, "register count")
    _check_span(address, count)
    body = _head(unit, function, False)
    _put_u16(body, address)
    _put_u16(body, count)
    return _with_crc(body)


def write_single_request(unit, address, value):
    """06: write one holding register (unit 0 broadcasts)."""
    _check_range(address, 0, 0xFFFF, "register address")
    _check_range(value, 0, 0xFFFF, "register value")
    body = _head(unit, WRITE_SINGLE, True)
    _put_u16(body, address)
    _put_u16(body, value)
    return _with_crc(body)


def write_multiple_request(unit, address, values):
    """16: write registers from `address`; `values` are ints or the registers' bytes."""
    data = _register_bytes(values, 1, MAX_WRITE)
    count = len(data) // 2
    _check_span(address, count)
    body = _head(unit, WRITE_MULTIPLE, True)
    _put_u16(body, address)
    _put_u16(body, count)
    body.append(len(data))
    body.extend(data)
    return _with_crc(body)


def read_reply(unit, function, values):
    """Normal 03/04 reply carrying `values` (ints or the registers' bytes)."""
    if function != READ_HOLDING and function != READ_INPUT:
        raise ProtocolError("function %r does not read registers (3 or 4 do)" % (function,))
    data = _register_bytes(values, 1, MAX_READ)
    body = _head(unit, function, False)
    body.append(len(data))
    body.extend(data)
    return _with_crc(body)


def write_single_reply(unit, address, value):
    """Normal 06 reply: the request echoed."""
    return write_single_request(unit, address, value)


def write_multiple_reply(unit, address, count):
    """Normal 16 reply: first register and how many were written."""
    _check_range(count, 1, MAX_WRITE, "register count")
    _check_span(address, count)
    body = _head(unit, WRITE_MULTIPLE, False)
    _put_u16(body, address)
    _put_u16(body, count)
    return _with_crc(body)


def exception_reply(unit, function, code):
    """Exception reply to `function` with exception `code` (1..255)."""
    _check_range(function, 1, 0x7F, "function code")
    _check_range(code, 1, 255, "exception code")
    body = _head(unit, function | EXCEPTION_FLAG, False)
    body.append(code)
    return _with_crc(body)


# ---------------------------------------------------------------------------------------------
# Parsers

def _u16(buf, i):
    return (buf[i] << 8) | buf[i + 1]


def _checked_length(frame, length):
    """Length of a frame whose size and CRC are right; else ProtocolError."""
    n = len(frame) if length is None else length
    if n < 4:
        raise ProtocolError("a Modbus RTU frame has at least 4 bytes, this has %d" % n, n)
    if n > MAX_FRAME:
        raise ProtocolError("%d bytes is longer than a Modbus RTU frame (256)" % n, MAX_FRAME)
    want = crc16(frame, 0, n - 2)
    if frame[n - 2] | (frame[n - 1] << 8) != want:
        raise ProtocolError("bad CRC: frame has %02X %02X, computed %02X %02X" % (
            frame[n - 2], frame[n - 1], want & 0xFF, want >> 8), n - 2)
    return n


def _expect_length(n, want, function, what):
    if n != want:
        raise ProtocolError("a function %02X %s is %d bytes, this frame has %d" % (
            function, what, want, n), min(n, want) - 2)


def _check_unit(unit, low):
    if not low <= unit <= MAX_UNIT:
        raise ProtocolError("unit address %d is outside %d..247%s" % (
            unit, low, "" if low else " (0 broadcasts writes)"), 0)


def _unsupported(function):
    raise ProtocolError("function code %d (0x%02X) is not supported: 03, 04, 06 and 16 are" % (
        function, function), 1)


def parse_request(frame, length=None):
    """Decode a request (the first `length` bytes of `frame`); ProtocolError if it is not one."""
    n = _checked_length(frame, length)
    unit = frame[0]
    function = frame[1]
    if function & EXCEPTION_FLAG:
        raise ProtocolError("function byte 0x%02X marks an exception reply, not a request"
                            % function, 1)
    _check_unit(unit, 1 if function == READ_HOLDING or function == READ_INPUT else 0)
    if function == READ_HOLDING or function == READ_INPUT:
        _expect_length(n, 8, function, "request")
        address = _u16(frame, 2)
        count = _u16(frame, 4)
        if not 1 <= count <= MAX_READ:
            raise ProtocolError("register count %d is outside 1..125" % count, 4)
        if address + count > 0x10000:
            raise ProtocolError("%d registers from 0x%04X run past 0xFFFF" % (count, address), 4)
        return Message(unit, function, False, address, count)
    if function == WRITE_SINGLE:
        _expect_length(n, 8, function, "request")
        return Message(unit, function, None, _u16(frame, 2), 1, bytes(frame[4:6]))
    if function == WRITE_MULTIPLE:
        if n < 11:
            raise ProtocolError("a function 10 request has at least 11 bytes, this has %d" % n,
                                n - 2)
        address = _u16(frame, 2)
        count = _u16(frame, 4)
        byte_count = frame[6]
        if not 1 <= count <= MAX_WRITE:
            raise ProtocolError("register count %d is outside 1..123" % count, 4)
        if address + count > 0x10000:
            raise ProtocolError("%d registers from 0x%04X run past 0xFFFF" % (count, address), 4)
        if byte_count != 2 * count:
            raise ProtocolError("byte count %d does not match %d registers" % (byte_count, count),
                                6)
        _expect_length(n, 9 + byte_count, function, "request with %d registers" % count)
        return Message(unit, function, False, address, count, bytes(frame[7:7 + byte_count]))
    return _unsupported(function)


def parse_reply(frame, length=None, request=None):
    """Decode a reply; with `request` (a Message or its frame) also check it answers that.

    An exception reply is a valid reply: it comes back with `exception` set.
    """
    n = _checked_length(frame, length)
    unit = frame[0]
    function = frame[1]
    _check_unit(unit, 1)        # nobody answers a broadcast
    if function & EXCEPTION_FLAG:
        _expect_length(n, 5, function, "exception reply")
        if function == EXCEPTION_FLAG or frame[2] == 0:
            raise ProtocolError("exception reply with function 0 or code 0", 1 + (
                function != EXCEPTION_FLAG))
        message = Message(unit, function & 0x7F, True, exception=frame[2])
    elif function == READ_HOLDING or function == READ_INPUT:
        byte_count = frame[2]
        if byte_count == 0 or byte_count & 1:
            raise ProtocolError("byte count %d is not a whole number of registers" % byte_count,
                                2)
        _expect_length(n, 5 + byte_count, function, "reply with %d data bytes" % byte_count)
        message = Message(unit, function, True, None, byte_count // 2,
                          bytes(frame[3:3 + byte_count]))
    elif function == WRITE_SINGLE:
        _expect_length(n, 8, function, "reply")
        message = Message(unit, function, None, _u16(frame, 2), 1, bytes(frame[4:6]))
    elif function == WRITE_MULTIPLE:
        _expect_length(n, 8, function, "reply")
        address = _u16(frame, 2)
        count = _u16(frame, 4)
        if not 1 <= count <= MAX_WRITE:
            raise ProtocolError("register count %d is outside 1..123" % count, 4)
        if address + count > 0x10000:
            raise ProtocolError("%d registers from 0x%04X run past 0xFFFF" % (count, address), 4)
        message = Message(unit, function, True, address, count)
    else:
        return _unsupported(function)
    if request is not None:
        if not isinstance(request, Message):
            request = parse_request(request)
        check_answers(request, message)
    return message


def parse(frame, length=None):
    """Decode a frame whose direction is unknown (a line from a log).

    The frame's own shape decides: 03/04 requests are 8 bytes and their replies an odd length;
    16 replies are 8 bytes and requests longer; 06 reads the same both ways (`reply` None).
    """
    n = _checked_length(frame, length)
    function = frame[1]
    if function & EXCEPTION_FLAG:
        return parse_reply(frame, n)
    if function == READ_HOLDING or function == READ_INPUT:
        return parse_request(frame, n) if n == 8 else parse_reply(frame, n)
    if function == WRITE_MULTIPLE:
        return parse_reply(frame, n) if n == 8 else parse_request(frame, n)
    return parse_request(frame, n)


def check_answers(request, reply):
    """ProtocolError unless the parsed `reply` answers the parsed `request`."""
    if reply.unit != request.unit:
        raise ProtocolError("reply from unit %d to a request for unit %d" % (
            reply.unit, request.unit), 0)
    if reply.function != request.function:
        raise ProtocolError("reply for function %d to a function %d request" % (
            reply.function, request.function), 1)
    if reply.exception is not None:
        return
    if request.function == READ_HOLDING or request.function == READ_INPUT:
        if reply.count != request.count:
            raise ProtocolError("reply carries %d registers, %d were asked for" % (
                reply.count, request.count), 2)
    elif request.function == WRITE_SINGLE:
        if reply.address != request.address or bytes(reply.data) != bytes(request.data):
            raise ProtocolError("write reply does not echo the request", 2)
    elif reply.address != request.address or reply.count != request.count:
        raise ProtocolError("reply confirms %d registers at 0x%04X, %d at 0x%04X were written" % (
            reply.count, reply.address, request.count, request.address), 2)


def reply_length(buf, n):
    """Total length of the reply whose first `n` bytes are in `buf`; 0 while not yet known.

    Lets a master stop listening as soon as a reply is whole instead of waiting out the silence
    (USB adapters and ptys blur the timing). Unknown functions give 0: wait for the silence.
    """
    if n < 2:
        return 0
    function = buf[1]
    if function & EXCEPTION_FLAG:
        return 5
    if function == READ_HOLDING or function == READ_INPUT:
        return 5 + buf[2] if n >= 3 else 0
    if function == WRITE_SINGLE or function == WRITE_MULTIPLE:
        return 8
    return 0


# ---------------------------------------------------------------------------------------------
# Register values

def _check_room(data, offset, kind):
    size = TYPE_REGISTERS.get(kind)
    if size is None:
        raise ProtocolError("unknown register type %r (u16, s16, u32, s32, float32)" % (kind,))
    if offset < 0 or offset + 2 * size > len(data):
        raise ProtocolError("a %s at byte %d runs past the %d data bytes" % (
            kind, offset, len(data)), offset)
    return size


def _raw(data, offset, size):
    raw = (data[offset] << 8) | data[offset + 1]
    if size == 2:
        raw = (raw << 16) | (data[offset + 2] << 8) | data[offset + 3]
    return raw


def decode_value(data, offset, kind):
    """The `kind` value at byte `offset` of register data: int, or float for float32."""
    size = _check_room(data, offset, kind)
    if kind == FLOAT32:
        return struct.unpack(">f", bytes(data[offset:offset + 4]))[0]
    raw = _raw(data, offset, size)
    if kind == S16 and raw & 0x8000:
        return raw - 0x10000
    if kind == S32 and raw & 0x80000000:
        return raw - 0x100000000
    return raw


def decode_scaled(data, offset, kind, exp10):
    """value x 10**exp10, rounded half to even, exactly: float32 goes through its bits.

    Energy in kWh with exp10=2 gives hundredths of a kWh, the same integer on every board
    (single-precision boards included). NaN and infinity raise ProtocolError.
    """
    size = _check_room(data, offset, kind)
    raw = _raw(data, offset, size)
    if kind == FLOAT32:
        return float32_to_scaled(raw, exp10, offset)
    if kind == S16 and raw & 0x8000:
        raw -= 0x10000
    elif kind == S32 and raw & 0x80000000:
        raw -= 0x100000000
    if exp10 >= 0:
        return raw * 10 ** exp10
    return _divide_rounded(raw, 10 ** -exp10)


def _divide_rounded(num, den):
    """num / den (den > 0) rounded half to even."""
    quotient, rest = divmod(num, den)
    twice = 2 * rest
    if twice > den or (twice == den and quotient & 1):
        quotient += 1
    return quotient


def float32_to_scaled(bits, exp10, offset=None):
    """The IEEE-754 single with these 32 bits, x 10**exp10, as the nearest integer (ties even)."""
    exponent = (bits >> 23) & 0xFF
    fraction = bits & 0x7FFFFF
    if exponent == 0xFF:
        raise ProtocolError("register holds %s, not a number" % (
            "infinity" if fraction == 0 else "NaN"), offset)
    if exponent:
        mantissa = fraction | 0x800000
        power2 = exponent - 150
    else:                       # subnormal
        mantissa = fraction
        power2 = -149
    num = mantissa
    den = 1
    if power2 >= 0:
        num <<= power2
    else:
        den <<= -power2
    if exp10 >= 0:
        num *= 10 ** exp10
    else:
        den *= 10 ** -exp10
    result = _divide_rounded(num, den)
    return -result if bits >> 31 else result


def encode_value(value, kind):
    """A value of `kind` -> its register bytes (big-endian, high word first)."""
    if kind == FLOAT32:
        try:
            return struct.pack(">f", value)
        except (OverflowError, TypeError, ValueError):
            raise ProtocolError("%r does not fit a float32" % (value,)) from None
    size = TYPE_REGISTERS.get(kind)
    if size is None:
        raise ProtocolError("unknown register type %r (u16, s16, u32, s32, float32)" % (kind,))
    bits = 16 * size
    if kind == S16 or kind == S32:
        _check_range(value, -(1 << (bits - 1)), (1 << (bits - 1)) - 1, kind)
        value &= (1 << bits) - 1
    else:
        _check_range(value, 0, (1 << bits) - 1, kind)
    out = bytearray(2 * size)
    for i in range(2 * size - 1, -1, -1):
        out[i] = value & 0xFF
        value >>= 8
    return bytes(out)


def encode_scaled(scaled, kind, exp10):
    """Inverse of decode_scaled for simulators: stored integer -> register bytes.

    Integer types must come out whole (ProtocolError otherwise); float32 takes the platform
    float nearest scaled / 10**exp10, which decode_scaled maps back to `scaled` for any value a
    float32 holds to that many digits.
    """
    if kind == FLOAT32:
        if exp10 >= 0:
            return encode_value(scaled / 10 ** exp10, kind)
        return encode_value(scaled * 10 ** -exp10, kind)
    if exp10 > 0:
        value, rest = divmod(scaled, 10 ** exp10)
        if rest:
            raise ProtocolError("%d is not a whole multiple of 10**%d" % (scaled, exp10))
    else:
        value = scaled * 10 ** -exp10
    return encode_value(value, kind)


# ---------------------------------------------------------------------------------------------
# Framing by silence

def silence_us(baud):
    """The 3.5-character silence that ends a frame, in microseconds (at least).

    A character is 11 bits on an RTU line (start, 8 data, parity or second stop, stop). Above
    19200 baud the spec fixes it at 1750 us, since a PC or UART driver cannot time shorter gaps.
    """
    if baud <= 0:
        raise ProtocolError("baud rate must be positive, not %r" % (baud,))
    if baud > 19200:
        return 1750
    return (38500000 + baud - 1) // baud


def _plain_diff(end, start):
    return end - start


class RtuFramer:
    """Cut a Modbus RTU byte stream into frames by the silence between them.

    The caller owns the clock: `feed(data, now_us)` with the time the bytes arrived, and
    `poll(now_us)` at any time; pass `ticks_diff=time.ticks_diff` on a board so the wrapping
    microsecond counter works. A frame is complete once the line has been quiet for
    `silence_us(baud)`; with `early=True` (a master reading replies) also as soon as its length,
    known from the function and byte count, is in. `poll` returns the length `n` of the next
    complete frame with a good CRC, now in `frame[:n]` (valid until the next feed), or 0.
    Noise, runts, bad CRCs and frames longer than `max_frame` are dropped and counted.
    The framer allocates nothing after construction: its two buffers swap roles.

    Caveat: bytes of two frames read in one chunk cannot be told apart by time; read the UART
    more often than the silence (or use `early`).
    """

    def __init__(self, baud, max_frame=MAX_FRAME, ticks_diff=None, early=False):
        self.silence = silence_us(baud)
        self.frame = bytearray(max_frame)
        self._rx = bytearray(max_frame)
        self._count = 0
        self._last = 0
        self._ready = 0
        self._overrun = False
        self._diff = ticks_diff or _plain_diff
        self.early = early
        self.frames = 0         # frames handed out by poll
        self.crc_errors = 0     # silence-delimited chunks of 4+ bytes with a wrong CRC
        self.runts = 0          # chunks shorter than a frame (line noise)
        self.overruns = 0       # chunks longer than max_frame, dropped whole
        self.dropped = 0        # good frames overwritten before anyone polled for them

    def reset(self):
        """Forget buffered bytes and any frame not yet polled (e.g. before a new request)."""
        self._count = 0
        self._ready = 0
        self._overrun = False

    def pending(self):
        """Bytes received that do not yet form a complete frame."""
        return self._count

    def wait_us(self, now_us):
        """Microseconds until buffered bytes become a frame by silence; -1 if none are buffered."""
        if not self._count:
            return -1
        left = self.silence - self._diff(now_us, self._last)
        return left if left > 0 else 0

    def feed(self, data, now_us, length=None):
        """Take bytes that arrived at `now_us` (the first `length` of `data` if given)."""
        n = len(data) if length is None else length
        if n <= 0:
            return
        if self._count and self._diff(now_us, self._last) >= self.silence:
            self._close()
        self._last = now_us
        count = self._count
        room = len(self._rx) - count
        if n > room:
            self._overrun = True
            n = room
        if n == len(data):
            self._rx[count:count + n] = data
        else:
            rx = self._rx
            for i in range(n):
                rx[count + i] = data[i]
        self._count = count + n
        if self.early and not self._overrun:
            want = reply_length(self._rx, self._count)
            if want and self._count >= want:
                extra = self._count - want
                self._count = want
                source = self.frame if self._close() else self._rx
                if extra:       # the start of whatever follows: keep it
                    rx = self._rx
                    for i in range(extra):
                        rx[i] = source[want + i]
                    self._count = extra

    def poll(self, now_us):
        """Length of the next complete, CRC-checked frame (now in `frame`), or 0."""
        if self._count and self._diff(now_us, self._last) >= self.silence:
            self._close()
        n = self._ready
        if n:
            self._ready = 0
            self.frames += 1
        return n

    def take(self, now_us):
        """`poll` for hosts: the next frame as bytes, or None (allocates)."""
        n = self.poll(now_us)
        return bytes(self.frame[:n]) if n else None

    def _close(self):
        """End the buffered chunk; True when it was a good frame (the buffers swapped)."""
        n = self._count
        self._count = 0
        if self._overrun:
            self._overrun = False
            self.overruns += 1
            return False
        if n < 4:
            self.runts += 1
            return False
        if not crc_ok(self._rx, n):
            self.crc_errors += 1
            return False
        if self._ready:
            self.dropped += 1
        self._rx, self.frame = self.frame, self._rx
        self._ready = n
        return True
