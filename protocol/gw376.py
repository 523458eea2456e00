"""Q/GDW 1376.1 frames (concentrator <-> master station): build and parse, both directions.

Wire layout: `68 L L 68 | C A(5) AFN SEQ {DA DT data}... AUX | CS 16`. L (2 bytes, sent twice,
both copies checked) carries the protocol id 2 in D1..D0 and the user-data length (C through
AUX) in D15..D2; CS is the byte sum of the user data.

Public API (names are stable; host tools and firmware build on them):

    frame = parse(data, size=None)      # one whole frame -> Frame; ProtocolError(reason, offset)
    data = build(frame)                 # Frame -> bytes (also frame.to_bytes())
    Frame(afn, units=[(pn, fn, data), ...], direction=DOWN, prm=1, function=None,
          area=0, terminal=0, group=False, master=0, seq=0, fir=True, fin=True, con=False,
          fcb=0, fcv=0, acd=0, pw=None, ec=None, tp=None)

    Convenience builders (addresses copied from the request, SEQ echoed, Tp echoed):
    link_frame(fn, area, terminal, seq, clock=None)     AFN02 F1 login / F2 logout / F3 heartbeat
    confirm(request) / deny(request)                    AFN00 F1 / F2 answer to `request`
    confirm_units(request, [(pn, fn, err), ...])        AFN00 F3 per-unit answer
        (all three take function=None: answer_function(request, denied) picks the C code)
    response(request, units, acd=0, ec=None, fir=True, fin=True)   user-data reply (function 8)
    is_reply_to(reply, request) -> bool          (address, direction, AFN, RSEQ = PSEQ)
    responses(request, units, max_user_data=MAX_USER_DATA, acd=0, ec=None)
                                  the reply split into frames (FIR/FIN, RSEQ counting up)
    tp_age_seconds(tp, day, hour, minute, second) / tp_expired(tp, day, hour, minute, second)
                                  how old a Tp is at that (terminal) time; past its delay?

Frame fields:
    direction   DOWN (0, master -> terminal) or UP (1)          C.D7
    prm         1 = from the initiating station                  C.D6
    fcb / acd   frame count bit (down) / events waiting (up)     C.D5
    fcv         FCB valid (down)                                 C.D4
    function    C.D3..D0 (in words: protocol.gw376_describe.FUNCTION_NAMES[prm][function])
    area        A1, 4 BCD digits as an int (wire `71 01` -> 171, shown "0171")
    terminal    A2, 0..65535 (0xFFFF + group = broadcast)
    group, master   A3: D0 group flag, D7..D1 master station address 0..127
    afn         (in words: protocol.gw376_describe.AFN_NAMES[afn])
    seq, fir, fin, con   SEQ.D3..D0 (PSEQ/RSEQ), D6, D5, D4; TpV (D7) is `tp is not None`
    units       [(pn, fn, data)]: pn 0..2040 (0 = p0, PN_ALL = every valid point), fn 1..248,
                data decoded by protocol.gw376_units (None where the unit carries no data;
                gw376_units.Unknown(raw) for an Fn this codec does not know: it keeps the rest
                of the data region, because its length cannot be known).
    pw          16 bytes (downlink AFN 01/04/05/0F/10, both directions of AFN 06) or None
    ec          (important, normal) event counters, uplink frames with ACD = 1, or None
    tp          (pfc, day, hour, minute, second, delay_minutes) time label, or None
    trailing    bytes after the last data unit that do not form one (non-standard field frames,
                e.g. a master confirm padded with 6 zero bytes); b"" for a standard frame
    notes       parse() only: list of sentences naming each non-standard construct accepted
                (trailing bytes; AFN00 "F3" coded as DT 03 00; values partly EE); [] for a
                standard frame

Units with several Pn/Fn bits in one DA/DT group expand to one (pn, fn, data) per pair, ordered
Pn first, then Fn; build() groups consecutive units back when they form such a block.
"""
from protocol import bcd
from protocol import gw376_units as units_codec
from protocol.compat import const
from protocol.errors import ProtocolError
from protocol.gw376_dadt import PN_ALL  # noqa: F401 - a unit's pn, part of this interface
from protocol.gw376_dadt import append_dadt, expand_da, expand_dt, group_units

PROTOCOL_ID = const(2)
MAX_USER_DATA = const(16383)           # L is 14 bits: network channels
MAX_FRAME = const(16391)               # user data + 68 L L 68 ... CS 16
HEADER = const(6)
MIN_USER_DATA = const(8)               # C + A(5) + AFN + SEQ

DOWN = const(0)
UP = const(1)

AFN_CONFIRM = const(0x00)
AFN_RESET = const(0x01)
AFN_LINK = const(0x02)
AFN_RELAY = const(0x03)
AFN_SET = const(0x04)
AFN_CONTROL = const(0x05)
AFN_AUTH = const(0x06)
AFN_CASCADE = const(0x08)
AFN_CONFIG = const(0x09)
AFN_QUERY = const(0x0A)
AFN_TASK = const(0x0B)
AFN_CLASS1 = const(0x0C)
AFN_CLASS2 = const(0x0D)
AFN_CLASS3 = const(0x0E)
AFN_FILE = const(0x0F)
AFN_FORWARD = const(0x10)

# C.D3..D0 by PRM
FN_RESET = const(1)
FN_USER_DATA = const(4)
FN_LINK_TEST = const(9)
FN_REQUEST_CLASS1 = const(10)
FN_REQUEST_CLASS2 = const(11)
FN_CONFIRM = const(0)
FN_RESPONSE = const(8)
FN_DENY = const(9)
FN_LINK_STATUS = const(11)

# AFNs whose downlink frames carry the 16-byte PW (AFN 06 carries it both ways)
PW_AFNS = (0x01, 0x04, 0x05, 0x0F, 0x10)
PW_LENGTH = const(16)


def needs_pw(afn, direction):
    """True when a frame of this AFN and direction carries the 16-byte PW in AUX."""
    return afn == AFN_AUTH or (direction == DOWN and afn in PW_AFNS)


def default_function(afn, direction, prm):
    """The C function code field practice uses for this AFN (what the vectors show)."""
    if prm:
        if afn == AFN_LINK:
            return FN_LINK_TEST
        if direction == UP:
            return FN_USER_DATA
        if afn == AFN_RESET:
            return FN_RESET
        if afn in (AFN_SET, AFN_CONTROL, AFN_AUTH, AFN_FILE, AFN_FORWARD):
            return FN_REQUEST_CLASS1
        return FN_REQUEST_CLASS2
    if afn == AFN_CONFIRM:
        return FN_CONFIRM
    return FN_RESPONSE


class Frame:
    """One 1376.1 frame; see the module docstring for the fields."""

    # The usual values as class attributes: an instance keeps in its own attribute table only
    # what differs (a table of 19 slots instead of 43, 190 bytes less on a 32-bit board for
    # each request and reply while it is answered).
    group = False
    fir = True
    fin = True
    con = False
    fcb = 0
    fcv = 0
    acd = 0
    pw = None
    ec = None
    tp = None
    trailing = b""
    notes = ()              # parse() gives each frame its list

    def __init__(self, afn, units=None, direction=DOWN, prm=1, function=None, area=0,
                 terminal=0, group=False, master=0, seq=0, fir=True, fin=True, con=False,
                 fcb=0, fcv=0, acd=0, pw=None, ec=None, tp=None, trailing=b""):
        self.afn = afn
        self.units = [] if units is None else units
        self.direction = direction
        self.prm = prm
        self.function = default_function(afn, direction, prm) if function is None else function
        self.area = area
        self.terminal = terminal
        self.master = master
        self.seq = seq
        if group:
            self.group = group
        if not fir:
            self.fir = fir
        if not fin:
            self.fin = fin
        if con:
            self.con = con
        if fcb:
            self.fcb = fcb
        if fcv:
            self.fcv = fcv
        if acd:
            self.acd = acd
        if pw is not None:
            self.pw = pw
        if ec is not None:
            self.ec = ec
        if tp is not None:
            self.tp = tp
        if trailing:
            self.trailing = trailing

    @property
    def control(self):
        """The C byte."""
        bit5 = self.acd if self.direction == UP else self.fcb
        return ((self.direction & 1) << 7 | (1 if self.prm else 0) << 6 | (1 if bit5 else 0) << 5
                | (1 if self.fcv else 0) << 4 | (self.function & 0x0F))

    @property
    def seq_byte(self):
        """The SEQ byte."""
        return ((0x80 if self.tp is not None else 0) | (0x40 if self.fir else 0) |
                (0x20 if self.fin else 0) | (0x10 if self.con else 0) | (self.seq & 0x0F))

    @property
    def address_text(self):
        """"0171-2082" style: area (4 digits) and terminal address (decimal)."""
        return "%04d-%d" % (self.area, self.terminal)

    def to_bytes(self):
        return build(self)

    def __eq__(self, other):
        if not isinstance(other, Frame):
            return NotImplemented  # pyright: ignore[reportUndefinedVariable] - MicroPython has NotImplemented; its builtins stub omits it
        return _fields(self) == _fields(other)

    def __repr__(self):
        return ("Frame(afn=0x%02X, dir=%s, C=0x%02X, A=%s/%d%s, seq=%d, units=%r%s%s%s)" % (
            self.afn, "up" if self.direction == UP else "down", self.control,
            self.address_text, self.master, " group" if self.group else "", self.seq,
            self.units, "" if self.pw is None else ", pw", "" if self.ec is None else
            ", ec=%r" % (self.ec,), "" if self.tp is None else ", tp=%r" % (self.tp,)))


def _fields(frame):
    return (frame.afn, frame.units, frame.direction, 1 if frame.prm else 0, frame.function,
            frame.area, frame.terminal, bool(frame.group), frame.master, frame.seq & 0x0F,
            bool(frame.fir), bool(frame.fin), bool(frame.con),
            bool(frame.fcb) if frame.direction == DOWN else False, bool(frame.fcv),
            bool(frame.acd) if frame.direction == UP else False,
            None if frame.pw is None else bytes(frame.pw), frame.ec, frame.tp,
            bytes(frame.trailing))


# ---------------------------------------------------------------- build

def build(frame):
    """Frame -> the bytes on the wire; a field of the wrong type or range is a ProtocolError."""
    try:
        return _build(frame)
    except (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError) as exc:
        raise ProtocolError("cannot build the frame: %s" % (exc,)) from exc


def _build(frame):
    out = bytearray(b"\x68\x00\x00\x00\x00\x68")
    direction = frame.direction
    if direction not in (DOWN, UP):
        raise ProtocolError("direction must be DOWN (0) or UP (1), not %r" % (direction,))
    if frame.fcb and direction == UP:
        raise ProtocolError("FCB is a downlink bit; uplink frames use ACD")
    if frame.acd and direction == DOWN:
        raise ProtocolError("ACD is an uplink bit; downlink frames use FCB")
    if not 0 <= frame.function <= 15:
        raise ProtocolError("C function code %r is outside 0..15" % (frame.function,))
    out.append(frame.control)
    out.extend(bcd.encode(frame.area, 2))
    if not 0 <= frame.terminal <= 0xFFFF:
        raise ProtocolError("terminal address %r is outside 0..65535" % (frame.terminal,))
    out.append(frame.terminal & 0xFF)
    out.append(frame.terminal >> 8)
    if not 0 <= frame.master <= 127:
        raise ProtocolError("master station address %r is outside 0..127" % (frame.master,))
    out.append(frame.master << 1 | (1 if frame.group else 0))
    if not 0 <= frame.afn <= 0xFF:
        raise ProtocolError("AFN %r is outside 0..255" % (frame.afn,))
    out.append(frame.afn)
    out.append(frame.seq_byte)
    for pns, fns, datas in group_units(frame.units):
        append_dadt(out, pns, fns)
        for index in range(len(datas)):
            units_codec.encode_into(out, frame.afn, fns[index % len(fns)], direction,
                                    datas[index])
    out.extend(frame.trailing)
    if needs_pw(frame.afn, direction):
        pw = frame.pw
        if pw is None:
            pw = bytes(PW_LENGTH)
        if len(pw) != PW_LENGTH:
            raise ProtocolError("PW must be %d bytes, not %d" % (PW_LENGTH, len(pw)))
        out.extend(pw)
    elif frame.pw is not None:
        raise ProtocolError("AFN %02X %s frames carry no PW" % (
            frame.afn, "uplink" if direction == UP else "downlink"))
    if direction == UP and frame.acd:
        ec = frame.ec if frame.ec is not None else (0, 0)
        if not (0 <= ec[0] <= 255 and 0 <= ec[1] <= 255):
            raise ProtocolError("event counters %r are outside 0..255" % (ec,))
        out.append(ec[0])
        out.append(ec[1])
    elif frame.ec is not None:
        raise ProtocolError("EC goes only in uplink frames with ACD = 1")
    if frame.tp is not None:
        _append_tp(out, frame.tp)
    length = len(out) - HEADER
    if length > MAX_USER_DATA:
        raise ProtocolError("user data of %d bytes exceeds %d: split the reply (FIR/FIN)" % (
            length, MAX_USER_DATA))
    field = (length << 2) | PROTOCOL_ID
    out[1] = out[3] = field & 0xFF
    out[2] = out[4] = field >> 8
    total = 0
    for i in range(HEADER, len(out)):
        total += out[i]
    out.append(total & 0xFF)
    out.append(0x16)
    return bytes(out)


def _append_tp(out, tp):
    if len(tp) != 6:
        raise ProtocolError("Tp is (pfc, day, hour, minute, second, delay_minutes)")
    pfc, day, hour, minute, second, delay = tp
    if not (0 <= pfc <= 255 and 0 <= delay <= 255):
        raise ProtocolError("Tp PFC and delay are bytes: %r" % (tp,))
    out.append(pfc)
    out.append(bcd.bcd_byte(second))
    out.append(bcd.bcd_byte(minute))
    out.append(bcd.bcd_byte(hour))
    out.append(bcd.bcd_byte(day))
    out.append(delay)


# ---------------------------------------------------------------- parse

def check_header(buf, start=0):
    """Validate `68 L L 68` at buf[start]; return the user-data length. ProtocolError if bad."""
    if len(buf) - start < HEADER:
        raise ProtocolError("frame shorter than its 6-byte header", len(buf) - start)
    if buf[start] != 0x68:
        raise ProtocolError("frame does not start with 68", 0)
    if buf[start + 5] != 0x68:
        raise ProtocolError("second start byte is not 68", 5)
    first = buf[start + 1] | buf[start + 2] << 8
    second = buf[start + 3] | buf[start + 4] << 8
    if first != second:
        raise ProtocolError("the two length fields differ (%04X, %04X)" % (first, second), 3)
    if first & 3 != PROTOCOL_ID:
        raise ProtocolError("protocol id %d is not 1376.1 (2)" % (first & 3), 1)
    length = first >> 2
    if length < MIN_USER_DATA:
        raise ProtocolError("user data of %d bytes is shorter than C+A+AFN+SEQ" % length, 1)
    return length


def parse(data, size=None):
    """One whole frame -> Frame.

    `data` is bytes, bytearray or memoryview holding exactly one frame, or the frame is
    data[0:size] (e.g. parse(deframer.buffer, deframer.frame_length), which copies nothing).
    """
    if size is None:
        size = len(data)
    elif not 0 <= size <= len(data):
        raise ProtocolError("size %r is outside the buffer" % (size,))
    length = check_header(data) if size >= HEADER else check_header(data[0:size])
    end = HEADER + length
    if size < end + 2:
        raise ProtocolError("frame needs %d bytes, got %d" % (end + 2, size), size)
    if size > end + 2:
        raise ProtocolError("%d bytes after the end of the frame" % (size - end - 2), end + 2)
    total = 0
    for i in range(HEADER, end):
        total += data[i]
    if total & 0xFF != data[end]:
        raise ProtocolError("checksum %02X, computed %02X" % (data[end], total & 0xFF), end)
    if data[end + 1] != 0x16:
        raise ProtocolError("frame does not end with 16", end + 1)
    control = data[6]
    direction = control >> 7
    bit5 = (control >> 5) & 1
    a3 = data[11]
    afn = data[12]
    seq_byte = data[13]
    frame = Frame(afn, [], direction, (control >> 6) & 1, control & 0x0F,
                  bcd.decode(data, 7, 2), data[9] | data[10] << 8, bool(a3 & 1), a3 >> 1,
                  seq_byte & 0x0F, bool(seq_byte & 0x40), bool(seq_byte & 0x20),
                  bool(seq_byte & 0x10), bit5 if direction == DOWN else 0, (control >> 4) & 1,
                  bit5 if direction == UP else 0)
    # AUX sits at the end, after the data units: its length follows from the header alone.
    aux = 0
    if needs_pw(afn, direction):
        aux += PW_LENGTH
    if direction == UP and bit5:
        aux += 2
    if seq_byte & 0x80:
        aux += 6
    data_end = end - aux
    if data_end < 14:
        raise ProtocolError("user data too short for its AUX (%d bytes)" % aux, end)
    pos = data_end
    if needs_pw(afn, direction):
        frame.pw = bytes(data[pos:pos + PW_LENGTH])
        pos += PW_LENGTH
    if direction == UP and bit5:
        frame.ec = (data[pos], data[pos + 1])
        pos += 2
    if seq_byte & 0x80:
        frame.tp = (data[pos], bcd.byte_value(data[pos + 4], pos + 4),
                    bcd.byte_value(data[pos + 3], pos + 3),
                    bcd.byte_value(data[pos + 2], pos + 2),
                    bcd.byte_value(data[pos + 1], pos + 1), data[pos + 5])
    partly = units_codec.formats.partly_no_data
    notes = []
    frame.units, trailing = parse_units(data, 14, data_end, afn, direction, notes)
    partly = units_codec.formats.partly_no_data - partly
    if partly:
        notes.append("%d value(s) only partly filled with EE read as no data "
                     "(non-standard padding)" % partly)
    if trailing:
        frame.trailing = trailing
        notes.append("%d bytes after the last data unit are not a data unit "
                     "(non-standard frame), kept in `trailing`" % len(trailing))
    frame.notes = notes  # pyright: ignore[reportAttributeAccessIssue] - a list where the class has ()
    return frame


def parse_units(data, pos, end, afn, direction, notes=None):
    """Decode the {DA DT data} units in data[pos:end]; return (units, trailing bytes).

    `notes` (a list) receives a line for each non-standard construct that was accepted.
    """
    found = []
    while pos < end:
        if end - pos < 4 or data[pos + 2] == 0:
            # Not a data unit: a standard frame never gets here, field frames sometimes do.
            if not found:
                raise ProtocolError("data region does not start with a DA/DT unit", pos)
            return found, bytes(data[pos:end])
        if (afn == AFN_CONFIRM and data[pos] == 0 and data[pos + 1] == 0 and
                data[pos + 2] == 3 and data[pos + 3] == 0 and end - pos >= 10 and
                (end - pos - 5) % 5 == 0):
            # Field quirk (captured 'separateConfirm'): F3 written as the number 3 instead of
            # its bit (04 00), followed by a well-formed F3 body. DT 03 00 would be F1 + F2,
            # which carry no data, so the body settles which one was meant.
            value, pos = units_codec.decode(afn, 3, direction, data, pos + 4, end)
            found.append((0, 3, value))
            if notes is not None:
                notes.append("DT 03 00 read as F3 (the number 3 instead of bit 04 00): "
                             "non-standard per-unit confirm")
            continue
        pns = expand_da(data[pos], data[pos + 1], pos)
        fns = expand_dt(data[pos + 2], data[pos + 3], pos + 2)
        pos += 4
        for pn in pns:
            for fn in fns:
                value, pos = units_codec.decode(afn, fn, direction, data, pos, end)
                found.append((pn, fn, value))
    return found, b""


# ---------------------------------------------------------------- common frames

def link_frame(fn, area, terminal, seq, clock=None, master=0):
    """Terminal -> master AFN02: F1 login, F2 logout, F3 heartbeat (optionally with a clock)."""
    return Frame(AFN_LINK, [(0, fn, clock)], UP, 1, FN_LINK_TEST, area, terminal, False, master,
                 seq, True, True, True)


def _answer(request, afn, units, function, acd=0, ec=None, fir=True, fin=True, con=False):
    direction = UP if request.direction == DOWN else DOWN
    return Frame(afn, units, direction, 0, function, request.area, request.terminal,
                 request.group, request.master, request.seq, fir, fin, con,
                 acd=acd if direction == UP else 0, ec=ec, tp=request.tp)


def answer_function(request, denied=False):
    """The C function code of an AFN00 answer to `request`, by the link service it used.

    Link test (9) -> link status (11), as masters answer logins and heartbeats (C = 0B).
    Send/confirm (reset 1, user data 4) -> confirm (0). Request/respond (request class 1 or 2
    data, 10/11: reads, and sets/controls sent that way) -> user data (8) carrying the AFN00
    confirm, or "deny: no data" (9) for a denial.
    """
    if request.prm and request.function == FN_LINK_TEST:
        return FN_LINK_STATUS
    if request.prm and request.function in (FN_REQUEST_CLASS1, FN_REQUEST_CLASS2):
        return FN_DENY if denied else FN_RESPONSE
    return FN_CONFIRM


def confirm(request, acd=0, ec=None, function=None):
    """AFN00 F1 "all confirmed" answering `request` (function: see answer_function)."""
    if function is None:
        function = answer_function(request)
    return _answer(request, AFN_CONFIRM, [(0, 1, None)], function, acd, ec)


def deny(request, acd=0, ec=None, function=None):
    """AFN00 F2 "all denied" answering `request` (function: see answer_function)."""
    if function is None:
        function = answer_function(request, True)
    return _answer(request, AFN_CONFIRM, [(0, 2, None)], function, acd, ec)


def confirm_units(request, items, acd=0, ec=None, function=None):
    """AFN00 F3: per data unit [(pn, fn, err)] with err 0 = confirmed, 1 = denied."""
    if function is None:
        function = answer_function(request)
    return _answer(request, AFN_CONFIRM, [(0, 3, {"afn": request.afn, "items": list(items)})],
                   function, acd, ec)


def is_reply_to(reply, request):
    """True when `reply` answers `request`: same terminal, other direction, PRM 0, the same
    AFN or AFN00, and RSEQ = PSEQ on a first frame (later frames of a multi-frame reply count
    RSEQ up, so only their address and AFN are checked)."""
    if (reply.direction == request.direction or reply.prm or reply.area != request.area or
            reply.terminal != request.terminal):
        return False
    if reply.afn != request.afn and reply.afn != AFN_CONFIRM:
        return False
    return not reply.fir or reply.seq == request.seq & 0x0F


def response(request, units, acd=0, ec=None, fir=True, fin=True, con=False):
    """The user-data reply (function 8) to `request`, same AFN, SEQ and Tp echoed."""
    return _answer(request, request.afn, units, FN_RESPONSE, acd, ec, fir, fin, con)


def unit_size(afn, direction, unit):
    """Bytes one (pn, fn, data) unit takes on its own DA/DT (an upper bound inside a block)."""
    out = bytearray()
    units_codec.encode_into(out, afn, unit[1], direction, unit[2])
    return 4 + len(out)


def responses(request, units, max_user_data=MAX_USER_DATA, acd=0, ec=None):
    """The reply to `request` split into frames of at most `max_user_data` bytes of user data.

    One frame: FIR = FIN = 1. Several: FIR on the first, FIN on the last, RSEQ counting up from
    the request's PSEQ (mod 16), as 1376.1 numbers the frames of a multi-frame response.
    A unit too big for one frame raises ProtocolError.
    """
    direction = UP if request.direction == DOWN else DOWN
    overhead = MIN_USER_DATA
    if needs_pw(request.afn, direction):
        overhead += PW_LENGTH
    if direction == UP and acd:
        overhead += 2
    if request.tp is not None:
        overhead += 6
    batches = [[]]
    used = overhead
    for unit in units:
        size = unit_size(request.afn, direction, unit)
        if overhead + size > max_user_data:
            raise ProtocolError("p%d F%d needs %d bytes, more than one frame holds" % (
                unit[0], unit[1], size))
        if used + size > max_user_data and batches[-1]:
            batches.append([])
            used = overhead
        batches[-1].append(unit)
        used += size
    frames = []
    last = len(batches) - 1
    for index in range(len(batches)):
        frame = _answer(request, request.afn, batches[index], FN_RESPONSE, acd, ec,
                        index == 0, index == last)
        frame.seq = (request.seq + index) & 0x0F
        frames.append(frame)
    return frames


def _tp_seconds(day, hour, minute, second):
    return ((day * 24 + hour) * 60 + minute) * 60 + second


def tp_age_seconds(tp, day, hour, minute, second, days_in_sent_month=31):
    """Seconds from Tp's send time to (day, hour, minute, second) now; never negative.

    Tp carries only day-of-month: a "now" earlier in the month than the send day means the
    month turned over, which `days_in_sent_month` resolves (31 when unknown: the strict side).
    """
    sent = _tp_seconds(tp[1], tp[2], tp[3], tp[4])
    now = _tp_seconds(day, hour, minute, second)
    if now < sent and tp[1] > day:
        now += days_in_sent_month * 86400
    return now - sent if now > sent else 0


def tp_expired(tp, day, hour, minute, second, days_in_sent_month=31):
    """True when a Tp's allowed delay (minutes; 0 = no limit) has passed at that time."""
    delay = tp[5]
    return delay != 0 and tp_age_seconds(tp, day, hour, minute, second,
                                         days_in_sent_month) > delay * 60
