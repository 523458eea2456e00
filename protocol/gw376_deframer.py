"""Cut Q/GDW 1376.1 frames out of a byte stream (TCP or serial), in any chunking.

The deframer skips noise, checks the header (`68 L L 68`, both L copies equal, protocol id 2,
length within the bound), the checksum and the end byte, and after a false start (a stray 68,
a bad checksum) rescans the bytes it already holds, so a real frame hidden behind garbage is
still found. Fed through `feed()` it allocates nothing in steady state: frames are handed out
in place.

    deframer = Deframer()
    pos = 0
    while True:                              # allocation-free loop (board side)
        pos = deframer.feed(chunk, pos)      # consumes bytes until a frame completes
        if not deframer.frame_length:
            break                            # chunk used up, frame incomplete
        handle(deframer.buffer, deframer.frame_length)   # the frame is buffer[0:frame_length]
    # (the frame stays valid until the next feed(); feed() releases it first)

    for frame_bytes in deframer.frames(chunk):    # convenient, allocates a bytes per frame
        gw376.parse(frame_bytes)

Work is linear in the bytes received, whatever they are: a hostile stream of overlapping
plausible headers (`68 FE FF FE FF 68` repeated, each claiming 16 KB) costs a few steps per
byte, because
- the held bytes are never shifted one false start at a time: a false start only advances
  `head`, and the held bytes move to the front only when the buffer is full and the start at
  `head` still needs more; the buffer has a quarter of a frame of slack beyond the longest
  frame, so `head` is then past that quarter: a move costs at most a buffer's length and
  happens at most once per quarter frame consumed;
- checksums come from running sums kept per 16-byte block: `blocks[k]` is the sum (mod 256)
  of all bytes before buffer[16 k], so any candidate's checksum is a subtraction plus at most
  15 bytes summed at each end, not a pass over its bytes.

Memory: the buffer is 1.25 times the longest frame (max_user_data + 8), the block sums a
sixteenth of that. On a board, size it for the frames the link really carries (Deframer(2048)
holds every reply this firmware sends and the master's requests, in under 3 KB): 21 KB for the
16383-byte maximum is a large bite of a 192 KB heap.

A false start whose length field is plausible holds the frames behind it until enough bytes
arrive to refute it by its checksum (at most one longest frame); reset() on reconnect.

Counters (for the link's statistics and logs): `discarded` bytes dropped as garbage (noise,
false starts, the bytes of refused frames), `bad_frames` whole frames refused for their
checksum or end byte, `frames_out` frames returned.
"""
from protocol.compat import MICROPYTHON, const

if MICROPYTHON:
    _HEADER_SEARCH = None
else:
    import re

    _HEADER_SEARCH = re.compile(b"\x68(..)\\1\x68", re.DOTALL).search

MAX_USER_DATA = const(16383)
_HEADER = const(6)
_START = const(0x68)
_END = const(0x16)
_BLOCK_SHIFT = const(4)      # running sums every 16 bytes
_BLOCK = const(16)
_BLOCK_MASK = const(15)


def buffer_size(max_user_data):
    """Bytes of `buffer` for a deframer of max_user_data: the longest frame plus the slack."""
    longest = max_user_data + 8
    return longest + (longest >> 2)


class Deframer:
    def __init__(self, max_user_data=MAX_USER_DATA):
        if max_user_data > MAX_USER_DATA:
            max_user_data = MAX_USER_DATA
        self.max_user_data = max_user_data
        self.buffer = bytearray(buffer_size(max_user_data))
        self.blocks = bytearray((len(self.buffer) >> _BLOCK_SHIFT) + 1)
        self.head = 0             # first byte held; buffer[head] is 68 whenever head < fill
        self.fill = 0             # end of the bytes held
        self.frame_length = 0     # > 0: buffer[0:frame_length] is a whole, checked frame
        self.discarded = 0
        self.bad_frames = 0
        self.frames_out = 0

    def reset(self):
        """Forget everything held (e.g. after the link reconnects); counters are kept."""
        self.discarded += self.fill - self.head
        self.head = self.fill = 0
        self.frame_length = 0

    def held(self):
        """Bytes held that are not yet a frame nor refuted."""
        return self.fill - self.head

    def feed(self, data, start=0, end=-1):
        """Consume data[start:end] until a frame is complete; return where consumption stopped.

        When `frame_length` is non-zero afterwards, buffer[0:frame_length] holds a frame and
        the caller should call feed() again from the returned position (there may be more
        frames in the same chunk, or already held: bytes are taken as far as they fit, so the
        frame may end before the returned position).
        """
        if end < 0:
            end = len(data)
        if self.frame_length:
            self.frame_length = 0
            if self._settle():
                return start
        buf = self.buffer
        blocks = self.blocks
        size = len(buf)
        i = start
        while i < end:
            fill = self.fill
            if self.head == fill:
                # Nothing held: skip to the next start byte without storing the noise.
                found = data.find(b"\x68", i, end)
                if found < 0:
                    self.discarded += end - i
                    return end
                self.discarded += found - i
                i = found
                self.head = fill = 0
                blocks[0] = 0
            elif fill == size:
                self._compact()            # the start at head needs more than the room left
                fill = self.fill
            # Take as much as fits: judging many held bytes at once costs less per byte than
            # stopping at each candidate's end.
            count = size - fill
            if count > end - i:
                count = end - i
            if MICROPYTHON:
                total = self._sum_before(fill)
                stop = fill + count
                while fill < stop:          # no slices: they allocate on MicroPython
                    byte = data[i]
                    buf[fill] = byte
                    total = (total + byte) & 0xFF
                    fill += 1
                    if not fill & _BLOCK_MASK:
                        blocks[fill >> _BLOCK_SHIFT] = total
                    i += 1
            else:
                buf[fill:fill + count] = data[i:i + count]
                block = (fill >> _BLOCK_SHIFT) + 1
                fill += count
                i += count
                while block << _BLOCK_SHIFT <= fill:
                    at = block << _BLOCK_SHIFT
                    blocks[block] = (blocks[block - 1] + sum(buf[at - _BLOCK:at])) & 0xFF
                    block += 1
            self.fill = fill
            if self._settle():
                return i
        return i

    def frames(self, data):
        """All frames completed by `data`, as a list of bytes objects (allocates)."""
        found = []
        pos = 0
        while True:
            pos = self.feed(data, pos)
            if not self.frame_length:
                return found
            found.append(bytes(self.buffer[0:self.frame_length]))

    # -- internals

    def _settle(self):
        """Judge what is held; True when a frame is complete, False when more bytes are needed.

        Each pass either stops or advances `head`, and every test in a pass costs O(1), so the
        work over a whole stream is linear in its length.
        """
        buf = self.buffer
        blocks = self.blocks
        head = self.head
        fill = self.fill
        skipped = 0
        try:
            while True:
                if _HEADER_SEARCH is not None:
                    # CPython: the next `68 L L 68` found in C, not one 68 at a time.
                    match = _HEADER_SEARCH(buf, head, fill)
                    found = match.start() if match else buf.find(b"\x68", max(head, fill - 5), fill)
                elif head < fill and buf[head] != _START:
                    found = buf.find(b"\x68", head, fill)
                else:
                    found = head
                if found < 0:
                    found = fill
                skipped += found - head
                head = found
                if fill - head < _HEADER:
                    self.head = head
                    return False
                length = buf[head + 1] | buf[head + 2] << 8
                if (buf[head + 5] == _START and length == (buf[head + 3] | buf[head + 4] << 8)
                        and length & 3 == 2 and 8 <= length >> 2 <= self.max_user_data):
                    stop = head + (length >> 2) + 8
                    if fill < stop:
                        self.head = head
                        return False
                    # _sum_before(stop - 2) - _sum_before(head + 6), inlined: this runs
                    # once per false start, and a hostile stream has one every 6 bytes
                    at = stop - 2
                    first = head + _HEADER
                    checksum = blocks[at >> _BLOCK_SHIFT] - blocks[first >> _BLOCK_SHIFT]
                    if MICROPYTHON:
                        for j in range(at & ~_BLOCK_MASK, at):
                            checksum += buf[j]
                        for j in range(first & ~_BLOCK_MASK, first):
                            checksum -= buf[j]
                    else:
                        checksum += sum(buf[at & ~_BLOCK_MASK:at]) - \
                            sum(buf[first & ~_BLOCK_MASK:first])
                    checksum &= 0xFF
                    if checksum == buf[stop - 2] and buf[stop - 1] == _END:
                        self._deliver(head, stop)
                        return True
                    self.bad_frames += 1
                skipped += 1               # false start: rescan from the next 68 held
                head += 1
        finally:
            self.discarded += skipped

    def _deliver(self, head, stop):
        # The frame moves to the front of the buffer (the bytes before `head` are spent):
        # a copy of its own length, so delivery stays linear too.
        length = stop - head
        if head:
            buf = self.buffer
            held_sum = self._sum_before(stop)
            if MICROPYTHON:
                for j in range(length):
                    buf[j] = buf[head + j]
            else:
                buf[0:length] = buf[head:stop]
            # The copy may overwrite the start of the block that holds `stop`: re-anchor that
            # block's sum so that the sums of the bytes held after the frame stay right.
            block = stop >> _BLOCK_SHIFT
            self.blocks[block] = 0
            self.blocks[block] = (held_sum - self._sum_before(stop)) & 0xFF
        self.frame_length = length
        self.frames_out += 1
        self.head = stop

    def _sum_before(self, at):
        """Sum (mod 256) of the bytes before buffer[at], from its block's running sum."""
        buf = self.buffer
        block = at >> _BLOCK_SHIFT
        total = self.blocks[block]
        if MICROPYTHON:
            for j in range(block << _BLOCK_SHIFT, at):
                total += buf[j]
        else:
            total += sum(buf[block << _BLOCK_SHIFT:at])
        return total & 0xFF

    def _compact(self):
        """Move the held bytes to the front of the buffer, from the start of head's block so
        that the block sums stay aligned."""
        buf = self.buffer
        blocks = self.blocks
        base = self.head & ~_BLOCK_MASK
        count = self.fill - base
        shift = base >> _BLOCK_SHIFT
        if MICROPYTHON:
            for j in range(count):
                buf[j] = buf[base + j]
        else:
            buf[0:count] = buf[base:base + count]
        for j in range((count >> _BLOCK_SHIFT) + 1):
            blocks[j] = blocks[shift + j]
        self.head -= base
        self.fill = count
