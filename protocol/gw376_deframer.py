"""Cut Q/GDW 1376.1 frames out of a byte stream (TCP or serial), in any chunking.

The deframer skips noise, checks the header (`68 L L 68`, both L copies equal, protocol id 2,
length within the bound), the checksum and the end byte, and after a false start (a stray 68,
a bad checksum) rescans the bytes it already holds, so a real frame hidden behind garbage is
still found. It holds one preallocated buffer of max_user_data + 8 bytes (16391 by default)
and, fed through `feed()`, allocates nothing in steady state: frames are handed out in place.

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

On a board, size the buffer for the frames the link really carries (Deframer(2048) holds
every reply this firmware sends and the master's requests): a 16 KB block is a large bite of a
192 KB heap and may not be available once the heap is fragmented.

A false start whose length field is plausible holds the frames behind it until enough bytes
arrive to refute it by its checksum (at most the buffer size); reset() on reconnect.

Counters: `discarded` bytes dropped as noise or bad frames, `frames_out` frames returned.
"""
from protocol.compat import MICROPYTHON, const

MAX_USER_DATA = const(16383)
_HEADER = const(6)


class Deframer:
    def __init__(self, max_user_data=MAX_USER_DATA, buffer=None):
        if max_user_data > MAX_USER_DATA:
            max_user_data = MAX_USER_DATA
        self.max_user_data = max_user_data
        self.buffer = buffer if buffer is not None else bytearray(max_user_data + 8)
        if len(self.buffer) < max_user_data + 8:
            raise ValueError("buffer smaller than max_user_data + 8")
        self.fill = 0             # bytes held in buffer; buffer[0] is 68 whenever fill > 0
        self.need = _HEADER       # fill at which the next check happens
        self.frame_length = 0     # > 0: buffer[0:frame_length] is a whole, checked frame
        self.discarded = 0
        self.frames_out = 0

    def reset(self):
        """Forget everything held (e.g. after the link reconnects)."""
        self.discarded += self.fill
        self.fill = 0
        self.need = _HEADER
        self.frame_length = 0

    def feed(self, data, start=0, end=-1):
        """Consume data[start:end] until a frame is complete; return where consumption stopped.

        When `frame_length` is non-zero afterwards, buffer[0:frame_length] holds a frame and
        the caller should call feed() again from the returned position (there may be more
        frames in the same chunk, or already held).
        """
        if end < 0:
            end = len(data)
        if self.frame_length:
            self._release()
            self._settle()
            if self.frame_length:
                return start
        buf = self.buffer
        fill = self.fill
        need = self.need
        i = start
        while i < end:
            if fill == 0:
                # Hunting for a start byte: skip everything else.
                byte = data[i]
                i += 1
                if byte != 0x68:
                    self.discarded += 1
                    continue
                buf[0] = 0x68
                fill = 1
                continue
            count = need - fill
            if count > end - i:
                count = end - i
            if MICROPYTHON:
                stop = fill + count
                while fill < stop:          # no slices: they allocate on MicroPython
                    buf[fill] = data[i]
                    fill += 1
                    i += 1
            else:
                buf[fill:fill + count] = data[i:i + count]
                fill += count
                i += count
            if fill == need:
                self.fill = fill
                self._settle()
                if self.frame_length:
                    self.frames_out += 1
                    return i
                fill = self.fill
                need = self.need
        self.fill = fill
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

    def _release(self):
        self._drop(self.frame_length)
        self.discarded -= self.frame_length     # a delivered frame is not discarded
        self.frame_length = 0

    def _drop(self, count):
        """Remove buffer[0:count] and any bytes up to the next 68 after it."""
        buf = self.buffer
        fill = self.fill
        while count < fill and buf[count] != 0x68:
            count += 1
        remaining = fill - count
        for j in range(remaining):
            buf[j] = buf[j + count]
        self.fill = remaining
        self.discarded += count

    def _settle(self):
        """Check what is held; stop when more bytes are needed or a frame is complete."""
        buf = self.buffer
        while True:
            fill = self.fill
            if fill < _HEADER:
                self.need = _HEADER
                return
            length = buf[1] | buf[2] << 8
            if (buf[5] == 0x68 and length == (buf[3] | buf[4] << 8) and length & 3 == 2 and
                    8 <= length >> 2 <= self.max_user_data):
                total = (length >> 2) + 8
                if fill < total:
                    self.need = total
                    return
                checksum = 0
                for j in range(_HEADER, total - 2):
                    checksum += buf[j]
                if checksum & 0xFF == buf[total - 2] and buf[total - 1] == 0x16:
                    self.frame_length = total
                    self.need = _HEADER
                    return
            self._drop(1)        # false start: rescan from the next 68 already held
