"""Cut whole DL/T 645 frames out of a byte stream (RS-485 reads arrive in arbitrary pieces).

    deframer = Deframer()                 # one fixed buffer, allocated once
    deframer.feed(chunk)                  # or feed(rxbuf, n) after uart.readinto(rxbuf)
    size = deframer.next_frame()          # 0 = no whole frame yet
    while size:
        frame = dlt645.parse_frame(deframer.buf, deframer.start, size)
        size = deframer.next_frame()

`next_frame()` returns the length of the next checksum-valid frame (from its first 68 to its
16, preamble excluded) and sets `start`; the frame lives in `buf[start:start + size]` until
the next call to feed() or next_frame(), which may move or overwrite it. Returning an index
rather than a slice is what lets the steady state allocate nothing (a memoryview slice is a new
object on MicroPython); `frame()` returns a bytes copy for callers that do not care.

Noise and FE preambles before a frame are skipped (noise bytes are counted in `noise`); a 68
that does not lead to a valid frame (second 68 missing, L over 200, an address byte that is
neither BCD nor AA, bad checksum, no 16) is a false start: it is counted in `rejected` (and,
when its header was plausible but its checksum or end byte wrong, in `bad_frames`) and the
search resumes at the next byte, so a real frame inside the rubbish is still found. A false
start with a plausible header waits for at most L + 12 bytes before it is judged; a caller with
an inter-frame timeout calls `reset()` on timeout. The buffer never grows: `feed()` takes what
fits and returns how many bytes it took, so the caller keeps the rest and calls again after
draining frames (with the default capacity a whole chunk always fits once frames are drained).

Work stays linear in the bytes received even when every byte is a false start: checksums come
from running sums (`sums[k]` is the sum mod 256 of the bytes before buf[k]), so judging a
candidate costs the same whatever its length, and held bytes move to the front only when a
feed does not fit (with the default capacity, over twice the longest frame, at most once per
capacity minus one frame of bytes).
"""
from protocol.compat import MICROPYTHON, const

if not MICROPYTHON:
    from itertools import accumulate

    _LOW_BYTE = (0xFF).__and__

_START = const(0x68)
_END = const(0x16)
_PREAMBLE = const(0xFE)
_MAX_DATA = const(200)
_MIN_FRAME = const(12)
MAX_FRAME = _MAX_DATA + _MIN_FRAME
DEFAULT_CAPACITY = 512


class Deframer:
    def __init__(self, capacity=DEFAULT_CAPACITY):
        if capacity < MAX_FRAME:
            raise ValueError("capacity must hold the longest frame (%d bytes)" % MAX_FRAME)
        self.buf = bytearray(capacity)
        self.sums = bytearray(capacity + 1)
        self.head = 0       # first byte not yet consumed
        self.fill = 0       # end of the buffered bytes
        self.start = 0      # where the frame last returned by next_frame() begins
        self.noise = 0      # bytes skipped that were neither preamble nor part of a frame
        self.rejected = 0   # false starts: 68s that did not begin a valid frame
        self.bad_frames = 0  # of which whole frames with a bad checksum or end byte
        self.frames = 0     # frames returned

    def reset(self):
        """Forget buffered bytes (e.g. after an inter-byte timeout); counters are kept."""
        self.noise += self.fill - self.head
        self.head = self.fill = 0

    def buffered(self):
        return self.fill - self.head

    def feed(self, data, length=-1):
        """Append data[:length] (all of it by default); return how many bytes were taken."""
        if length < 0 or length > len(data):
            length = len(data)
        buf = self.buf
        sums = self.sums
        if self.head == self.fill:
            self.head = self.fill = 0               # everything consumed: start over, no copy
        elif self.fill + length > len(buf) and self.head:
            # Move the unconsumed tail to the front; a byte loop, since slicing would allocate.
            keep = self.fill - self.head
            head = self.head
            for i in range(keep):
                buf[i] = buf[head + i]
                sums[i] = sums[head + i]
            sums[keep] = sums[head + keep]
            self.head = 0
            self.fill = keep
        room = len(buf) - self.fill
        if length > room:
            length = room
        fill = self.fill
        if not MICROPYTHON:
            piece = data[:length]
            buf[fill:fill + length] = piece
            sums[fill:fill + length + 1] = bytes(map(_LOW_BYTE,
                                                     accumulate(piece, initial=sums[fill])))
        else:
            total = sums[fill]
            for i in range(length):
                byte = data[i]
                buf[fill + i] = byte
                total = (total + byte) & 0xFF
                sums[fill + i + 1] = total
        self.fill = fill + length
        return length

    def next_frame(self):
        """Length of the next whole valid frame (at `start`), or 0 when more bytes are needed."""
        buf = self.buf
        fill = self.fill
        head = self.head
        while True:
            found = buf.find(b"\x68", head, fill)
            if found < 0:
                self._skip(head, fill)
                self.head = fill
                return 0
            self._skip(head, found)
            head = found
            self.head = head
            if fill - head < 10:
                return 0
            size = buf[head + 9]
            if buf[head + 7] != _START or size > _MAX_DATA or not self._address_ok(head + 1):
                self.rejected += 1
                head += 1
                continue
            stop = head + 10 + size
            if stop + 2 > fill:
                return 0
            if (self.sums[stop] - self.sums[head]) & 0xFF != buf[stop] or buf[stop + 1] != _END:
                self.rejected += 1
                self.bad_frames += 1
                head += 1
                continue
            self.start = head
            self.head = stop + 2
            self.frames += 1
            return stop + 2 - head

    def frame(self):
        """bytes copy of the frame last returned by next_frame() (allocates)."""
        return bytes(self.buf[self.start:self.head])

    def _address_ok(self, at):
        buf = self.buf
        for i in range(at, at + 6):
            byte = buf[i]
            if byte != 0xAA and ((byte >> 4) > 9 or (byte & 0x0F) > 9):
                return False
        return True

    def _skip(self, frm, to):
        # Preamble bytes are expected between frames; anything else is noise worth counting.
        self.noise += to - frm - self.buf.count(b"\xfe", frm, to)
