"""One RS-485 bus's transactions: send a request, wait for the reply, decode it in place.

`BusLink` owns a bus's port and its only buffers (one request buffer per protocol, one reply
deframer, one read chunk). A DL/T 645 read builds the request in place, writes it, sleeps in
the kernel's I/O wait, cuts the frame out with the allocation-free deframer, checks
address/function/DI and decodes BCD straight from the wire bytes into `values`: none of that
allocates (tests/poller/mp_test_reader.py runs it under heap_lock); the one allocation of a
transaction is the generator of its coroutine, transact645().

Reply timeout (per attempt): the request's and the expected reply's wire time plus a turnaround
allowance (`turnaround_ms`, 500 ms by default: DL/T 645 allows a meter up to 500 ms), plus 20 ms.
Once garbage or a cut-short frame has arrived, `gap_ms` of silence ends the attempt (noise, a
bad checksum): the next try starts at once rather than at the deadline. A whole valid frame
that does not answer the request (another meter's late reply, a wrong address) is counted in
`stray` and skipped: the meter may still answer within the deadline. A late reply to an
earlier attempt of the same request is the answer. A failed attempt is retried `retries`
times.
"""
from firmware.kernel import OS_IO_READ
from protocol.compat import const
from protocol.dlt645_deframer import Deframer

OK = const(0)           # a valid reply (check `abnormal` for an error answer)
NO_REPLY = const(1)     # nothing usable before the deadline, after every retry


class BusLink:
    def __init__(self, kernel, clock, port, turnaround_ms=500, retries=1, gap_ms=0):
        self.k = kernel
        self.clock = clock
        self.port = port
        self.char_us = port.char_us
        self.turnaround_ms = turnaround_ms
        self.max_retries = retries      # configured; `retries` is this meter's (set_meter)
        self.retries = retries
        # silence that ends an attempt once bytes came: 10 characters, at least 50 ms (a pty
        # and a loaded host add scheduling jitter between paced bytes)
        self.gap_ms = gap_ms or max(50, 10 * self.char_us // 1000)
        self.tx = bytearray(16)         # 645-2007 read: 68 A*6 68 11 04 DI*4 CS 16
        self.tx97 = bytearray(14)       # 645-1997 read: 2-byte DI
        self.addr = bytearray(6)        # the current meter's address, wire order
        self.rx = bytearray(64)
        self.df = Deframer(256)
        self.mb = None                  # Modbus reply buffer, made for the first Modbus read
        self.mb_len = 0
        self.start = 0                  # reply frame in df.buf[start:...]
        self.length = 0                 # its payload length (payload_at)
        self.abnormal = False
        self.error = 0
        self.bad = False
        self._tx = self.tx              # the prepared request (prepare645 / command645)
        self._func = 0x11
        self._dsize = 4
        self._timeout = 0
        # statistics
        self.requests = 0
        self.replies = 0
        self.timeouts = 0
        self.retried = 0
        self.garbled = 0                # attempts ended by silence after unusable bytes
        self.stray = 0                  # valid frames that did not answer our request
        self.wire_bytes = 0             # request + reply bytes of successful transactions

    # --- helpers ---------------------------------------------------------------------------
    def timeout_ms(self, request_len, reply_len):
        return (request_len + reply_len) * self.char_us // 1000 + self.turnaround_ms + 20

    def set_meter(self, slot):
        """Take the meter's address from its archive slot (bytes 6..11, wire order); a new
        meter gets the configured retries (MeterReader.read may lower them)."""
        self.retries = self.max_retries
        a = self.addr
        for i in range(6):
            a[i] = slot[6 + i]

    def drain(self):
        # whatever is waiting is noise from before our request (or a late reply)
        rx = self.rx
        while self.port.readinto(rx):
            pass
        self.df.reset()

    def _build(self, tx, control, di, di_len):
        a = self.addr
        tx[0] = 0x68
        for i in range(6):
            tx[1 + i] = a[i]
        tx[7] = 0x68
        tx[8] = control
        tx[9] = di_len
        for i in range(di_len):
            tx[10 + i] = ((di >> (8 * i)) + 0x33) & 0xFF
        cs = 0
        end = 10 + di_len
        for i in range(end):
            cs += tx[i]
        tx[end] = cs & 0xFF
        tx[end + 1] = 0x16

    def broadcast_time(self, t):
        """Send DL/T 645 broadcast time (address 99..99, C=08) with t = (year, month, day,
        hour, minute, second): its data is ss mm hh DD MM YY in BCD. Built here as the reads
        are: the daily time sync then needs no 645 codec, which would stay in the heap (5.5 KB
        on a 32-bit board) from the first sync on. Returns the frame's length."""
        tx = bytearray(18)
        tx[0] = tx[7] = 0x68
        for i in range(1, 7):
            tx[i] = 0x99
        tx[8] = 0x08
        tx[9] = 6
        for i in range(6):
            v = t[5 - i] % 100                      # second first; the year as 2 digits
            tx[10 + i] = (((v // 10) << 4 | v % 10) + 0x33) & 0xFF
        cs = 0
        for i in range(16):
            cs += tx[i]
        tx[16] = cs & 0xFF
        tx[17] = 0x16
        self.drain()
        self.port.write(tx)
        return len(tx)

    # --- DL/T 645 --------------------------------------------------------------------------
    # One coroutine per transaction: every `await` of an `async def` allocates its generator,
    # so the request is prepared synchronously and transact645() holds the whole wait.
    def prepare645(self, di, reply_data_len, version=2007):
        """Build the read of one DI in place; `reply_data_len`: expected payload bytes after
        the DI (for the timeout). Then `await transact645()`."""
        if version == 2007:
            tx = self.tx
            self._build(tx, 0x11, di, 4)
            self._func = 0x11
            self._dsize = 4
        else:
            tx = self.tx97
            self._build(tx, 0x01, di, 2)
            self._func = 0x01
            self._dsize = 2
        self._tx = tx
        self._timeout = self.timeout_ms(len(tx), 12 + self._dsize + reply_data_len)

    async def read645(self, di, reply_data_len, version=2007):
        """Read one DI: OK with the frame at self.start (payload_at()), or NO_REPLY."""
        self.prepare645(di, reply_data_len, version)
        return await self.transact645()

    async def command645(self, frame, func, reply_len):
        """Send a prepared frame (relay, write) and wait for the answer to function `func`."""
        self._tx = frame
        self._func = func
        self._dsize = 0
        self._timeout = self.timeout_ms(len(frame), reply_len)
        return await self.transact645()

    async def transact645(self):
        """Send the prepared request, wait for its reply; retry. OK or NO_REPLY."""
        tx = self._tx
        func = self._func
        dsize = self._dsize
        timeout = self._timeout
        clock = self.clock
        port = self.port
        df = self.df
        rx = self.rx
        k = self.k
        attempt = 0
        while attempt <= self.retries:
            if attempt:
                self.retried += 1
            attempt += 1
            self.drain()
            self.requests += 1
            port.write(tx)
            t0 = clock.ticks_ms()
            last = t0
            got = False
            junk = df.noise + df.rejected
            while True:
                n = port.readinto(rx)
                if n:
                    taken = df.feed(rx, n)
                    size = df.next_frame()
                    while size:
                        if self._matches(tx, func, dsize):
                            self.replies += 1
                            self.wire_bytes += len(tx) + size
                            return OK
                        # a whole frame, not ours: another meter's late reply. Our meter may
                        # still answer after it, so it does not start the silence rule.
                        self.stray += 1
                        size = df.next_frame()
                    if taken < n:
                        df.reset()
                    if df.noise + df.rejected != junk:
                        # garbage or a refused frame (bad checksum): silence ends the attempt.
                        # The start of a plausible frame does not: its bytes may come with gaps
                        # (a USB adapter's latency timer, a loaded host), and the deadline
                        # already allows for the whole reply.
                        got = True
                        last = clock.ticks_ms()
                now = clock.ticks_ms()
                left = timeout - clock.ticks_diff(now, t0)
                if n and left > 0:
                    continue                # more may be waiting (a babbling line still ends
                                            # at the deadline)
                if got:
                    quiet = self.gap_ms - clock.ticks_diff(now, last)
                    if quiet <= 0:
                        self.garbled += 1       # bytes came, no valid answer: try again now
                        break
                    if quiet < left:
                        left = quiet
                if left <= 0:
                    self.timeouts += 1
                    break
                await k.io_wait(port.pollable, OS_IO_READ, left)
        return NO_REPLY

    def _matches(self, tx, func, dsize):
        b = self.df.buf
        s = self.df.start
        for i in range(1, 7):
            if b[s + i] != tx[i] and tx[i] != 0xAA:
                return False
        c = b[s + 8]
        if not c & 0x80 or c & 0x1F != func:
            return False
        self.start = s
        if c & 0x40:
            self.abnormal = True
            self.error = (b[s + 10] - 0x33) & 0xFF if b[s + 9] else 0
            return True
        self.abnormal = False
        self.error = 0
        for i in range(dsize):
            if b[s + 10 + i] != tx[10 + i]:
                return False
        return b[s + 9] >= dsize

    def payload_at(self, dsize):
        """Offset of the last good frame's payload (after the DI) in df.buf; its length goes
        to `self.length` (two values without a tuple: this runs for every reply)."""
        s = self.start
        self.length = self.df.buf[s + 9] - dsize
        return s + 10 + dsize

    def element(self, at, size, signed):
        """An element's exact value decoded from the wire bytes (-0x33), or None: all EE (no
        data), or not BCD (a garbled reply: `bad` is set). signed: 0, 1, or 2 for bits16."""
        b = self.df.buf
        for i in range(at, at + size):
            if b[i] != 0x21:            # 0xEE + 0x33
                break
        else:
            return None
        if signed == 2:
            return ((b[at] - 0x33) & 0xFF) | (((b[at + 1] - 0x33) & 0xFF) << 8)
        value = 0
        neg = False
        top = at + size - 1
        i = top
        while i >= at:
            x = (b[i] - 0x33) & 0xFF
            if signed and i == top:
                neg = x & 0x80
                x &= 0x7F
            hi = x >> 4
            lo = x & 0x0F
            if hi > 9 or lo > 9:
                self.bad = True
                return None
            value = value * 100 + hi * 10 + lo
            i -= 1
        return -value if neg else value

    def stats(self):
        return {"requests": self.requests, "replies": self.replies, "timeouts": self.timeouts,
                "retries": self.retried, "garbled": self.garbled, "stray": self.stray,
                "wire_bytes": self.wire_bytes}
