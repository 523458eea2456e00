"""The GPRS modem: an AT-command driver for the SIM800 family (CIP) and the Quectel family (QI),
run from a kernel task, giving the link layer one TCP connection.

    modem = Modem(kernel, port, dialect="sim800", clock=None, power=None, registration_s=60)
    reason = await modem.start(apn)        # None when attached with a PDP context, else why not
    ok = await modem.open(host, port)      # TCP to the master station
    ok = await modem.send(data)            # <= MAX_SEND bytes; True once the modem said SEND OK
    n = await modem.recv(buf, timeout_ms)  # > 0 bytes, 0 nothing in time, -1 the link closed
    await modem.close(); await modem.power_cycle()
    modem.connected, modem.csq, modem.reg, modem.stats

`port` is a serial HAL port (firmware/hal/serial.py: readinto never blocks, `.pollable`);
`power` an object with `async cycle(kernel)` (firmware/hal/modem_power.py); without one the
modem is reset with AT+CFUN=1,1, which is what the virtual board has.

Why a hand-made parser: a modem mixes three things on one line, in any order and chunking:
answers to the running command, unsolicited result codes (CLOSED, +QIURC, +CREG noise, RDY),
and TCP data (Quectel `+QIRD: n` and SIM800 `+CIPRXGET: 2,n,m` are followed by n raw bytes that
may contain CR LF). The parser keeps one buffer, takes raw data by count, lines by terminator, and
treats every line it was not waiting for as a URC. A line one character off an expected final
result (a noisy UART) still counts as that result: lengths differ between OK, ERROR and
SEND FAIL, so a single garbled character cannot turn one into another.

Received TCP data waits in the modem, not in our RAM: both dialects run in manual receive (SIM800
AT+CIPRXGET=1 before the connection, Quectel's buffer access mode), the modem says once that data
came (`+CIPRXGET: 1`, `+QIURC: "recv"`), and recv() fetches at most what its caller's buffer
holds, straight into that buffer. Nothing can overflow: what we do not fetch stays in the modem
and TCP flow control holds the peer. A SIM800 tells how much is left after each read; Quectel
does not, so a read that filled the buffer is followed by another. A modem that refuses manual
receive pushes its data (`+IPD,n:<bytes>`, at any time): that goes into a small buffer made at
the first push, and what overflows it is lost (the link layer's frames fail their checksum and
are re-sent). A lost notice is made good by poll_data(): the next recv() reads anyway.
"""
from firmware.kernel import OS_IO_READ
from protocol.compat import const

MAX_SEND = const(1460)            # the largest AT+CIPSEND / AT+QISEND payload

SIM800 = "sim800"
QUECTEL = "quectel"

# bytes from the UART not parsed yet: the longest line (an AT answer or a URC) is well under
# 512 bytes, and TCP data is taken out by count as it comes (`_data_left`), whatever its size
_BUF = const(512)
_PUSHED = const(1460)           # pushed data not yet taken: one +IPD of a SIM800 at most
_OK = b"OK"
_ERROR = b"ERROR"
_FINALS = (_OK, _ERROR)
_CME = b"+CME ERROR"
_IPD = b"+IPD,"


def _near(line, want):
    """`line` is `want` or `want` with one character changed."""
    if len(line) != len(want):
        return False
    diff = 0
    for i in range(len(want)):
        if line[i] != want[i]:
            diff += 1
            if diff > 1:
                return False
    return True


def _int_after(line, prefix, index=0):
    """The index-th comma-separated integer after `prefix` in `line`, or -1."""
    if not line.startswith(prefix):
        return -1
    parts = line[len(prefix):].split(b",")
    if index >= len(parts):
        return -1
    text = parts[index].strip()
    return int(text) if text.isdigit() else -1


class Modem:
    def __init__(self, kernel, port, dialect=SIM800, clock=None, power=None, registration_s=60):
        if dialect not in (SIM800, QUECTEL):
            raise ValueError("modem dialect must be sim800 or quectel, not %r" % (dialect,))
        if clock is None:
            from firmware.hal import clock
        self.k = kernel
        self.clock = clock
        self.port = port
        self.dialect = dialect
        self.power = power
        self.registration_s = registration_s    # how long start() waits for signal + network
        self._buf = bytearray(_BUF)       # bytes from the UART not parsed yet
        self._mv = memoryview(self._buf)
        self._n = 0
        self._into = None                 # the caller's buffer while recv() fetches data
        self._into_n = 0
        self._pushed = None               # pushed data (+IPD) not yet taken by recv()
        self._pushed_n = 0
        self._data_left = 0               # raw TCP bytes still to come after a data header
        self._modem_left = 0              # bytes a SIM800 still holds after a read
        self._echo = b""                  # the running command, to skip its echo
        self._want = None                 # final results the running command accepts
        self._final = None
        self._info = []                   # information lines of the running command
        self._prompt = False
        self._rx_notice = False           # the modem (may) hold data for us
        self._rdy = False
        self.connected = False
        self.csq = 99
        self.reg = 0
        self.ip = None
        self.stats = {"commands": 0, "timeouts": 0, "urcs": 0, "bytes_sent": 0,
                      "bytes_received": 0, "reads": 0, "rx_lost": 0, "closed": 0,
                      "resets": 0}

    # --- the receive side ------------------------------------------------------------------------
    def _pump(self):
        """Read what the UART holds and parse it; True if any byte came."""
        got = False
        while self._n < _BUF:
            n = self.port.readinto(self._mv[self._n:])
            if not n:
                break
            self._n += n
            got = True
            self._parse()
        return got

    def _drop(self, count):
        n = self._n - count
        if n > 0:
            self._buf[0:n] = self._buf[count:self._n]
        self._n = n if n > 0 else 0

    def _take_data(self, count):
        """The next `count` bytes of _buf are TCP data: into the buffer recv() fetches for, or
        (pushed, or a read answered after its time) into the pushed-data buffer."""
        into = self._into
        if into is None:
            if self._pushed is None:
                self._pushed = bytearray(_PUSHED)
            into = self._pushed
            at = self._pushed_n
        else:
            at = self._into_n
        room = len(into) - at
        keep = count if count <= room else room
        if keep:
            into[at:at + keep] = self._buf[0:keep]
        if into is self._into:
            self._into_n = at + keep
        else:
            self._pushed_n = at + keep
        self.stats["bytes_received"] += count
        self.stats["rx_lost"] += count - keep
        self._drop(count)

    def _parse(self):
        buf = self._buf
        while self._n:
            n = self._n
            if self._data_left:
                take = self._data_left if self._data_left < n else n
                self._data_left -= take
                self._take_data(take)
                continue
            if buf[0] == 13 or buf[0] == 10:
                i = 1
                while i < n and (buf[i] == 13 or buf[i] == 10):
                    i += 1
                self._drop(i)
                continue
            if buf[0] == 0x3E:                      # '>' the send prompt
                self._prompt = True
                self._drop(2 if n > 1 and buf[1] == 0x20 else 1)
                continue
            if buf[0] == 0x2B and n >= 5 and buf[0:5] == _IPD:
                colon = -1
                for i in range(5, n if n < 12 else 12):
                    if buf[i] == 0x3A:
                        colon = i
                        break
                if colon < 0:
                    if n >= 12:                    # not a data header after all
                        self._drop(1)
                        continue
                    return                         # wait for the rest of the header
                text = bytes(buf[5:colon])
                self._drop(colon + 1)
                if text.isdigit():
                    self._data_left = int(text)
                continue
            end = -1
            for i in range(n):
                if buf[i] == 13 or buf[i] == 10:
                    end = i
                    break
            if end < 0:
                if n == _BUF:                      # a runaway line: drop it
                    self._n = 0
                return
            if buf[end] == 13 and end == n - 1:
                return                             # CR LF may be split: wait for the LF
            line = bytes(buf[0:end])
            self._drop(end + (2 if buf[end] == 13 and buf[end + 1] == 10 else 1))
            self._line(line)

    def _line(self, line):
        if self._echo and line == self._echo:
            return
        want = self._want
        if want is not None and self._final is None:
            if not want:                            # any line answers (AT+CIFSR: the bare IP)
                self._final = line
                return
            for w in want:
                if line == w or _near(line, w):
                    self._final = w
                    return
            if line.startswith(_CME):
                self._final = _ERROR
                return
        # data headers: the raw bytes follow the line
        if line.startswith(b"+QIRD: "):
            size = _int_after(line, b"+QIRD: ")
            if size > 0:
                self._data_left = size
            self._info.append(line)
            return
        if line.startswith(b"+CIPRXGET: 2,"):
            size = _int_after(line, b"+CIPRXGET: 2,")
            if size > 0:
                self._data_left = size
            self._modem_left = _int_after(line, b"+CIPRXGET: 2,", 1)
            self._info.append(line)
            return
        if self._urc(line):
            self.stats["urcs"] += 1
            return
        if want is not None and len(self._info) < 8:
            self._info.append(line)

    def _urc(self, line):
        """Handle an unsolicited result code; False if `line` is not one."""
        if line == b"CLOSED" or line.startswith(b'+QIURC: "closed"') or \
                line.startswith(b'+QIURC: "pdpdeact"') or line == b"+PDP: DEACT":
            if self.connected:
                self.stats["closed"] += 1
            self.connected = False
            return True
        if line.startswith(b'+QIURC: "recv"') or line == b"+CIPRXGET: 1":
            self._rx_notice = True
            return True
        if line == b"RDY" or line == b"Call Ready" or line == b"SMS Ready":
            self._rdy = True
            return True
        if line.startswith(b"+CPIN: NOT") or line.startswith(b"+CREG: ") and b"," not in line \
                or line.startswith(b"+CGREG: ") and b"," not in line:
            return True
        return False

    def _ms(self):
        return self.clock.ticks_ms()

    async def _wait(self, done, timeout_ms):
        """Parse input until done() or the timeout; returns done()."""
        start = self._ms()
        while True:
            self._pump()
            if done():
                return True
            left = timeout_ms - self.clock.ticks_diff(self._ms(), start)
            if left <= 0:
                return False
            await self.k.io_wait(self.port.pollable, OS_IO_READ, left)

    # --- commands ----------------------------------------------------------------------------
    async def command(self, text, want=_FINALS, timeout_ms=3000):
        """Send one AT command; return the final result it got (one of `want`, or ERROR for
        +CME ERROR) or None when none came in time. Information lines are in `.info`."""
        self._pump()                       # URCs and data that came before belong to no one
        self._echo = text.encode() if isinstance(text, str) else text
        self._want = want
        self._final = None
        self._info = []
        self.stats["commands"] += 1
        self.port.write(self._echo + b"\r")
        await self._wait(self._has_final, timeout_ms)
        self._want = None
        if self._final is None:
            self.stats["timeouts"] += 1
        return self._final

    def _has_final(self):
        return self._final is not None

    @property
    def info(self):
        return self._info

    def _info_with(self, prefix, fields=1):
        found = None
        for line in self._info:
            if line.startswith(prefix) and line.count(b",") >= fields - 1:
                found = line
        return found

    async def _ok(self, text, timeout_ms=3000, tries=3):
        for _ in range(tries):
            if await self.command(text, _FINALS, timeout_ms) == _OK:
                return True
        return False

    # --- bring-up -------------------------------------------------------------------------------
    async def sync(self, tries=10):
        """AT until the modem answers OK (autobaud and boot time)."""
        for _ in range(tries):
            if await self.command("AT", _FINALS, 500) == _OK:
                return True
        return False

    async def start(self, apn):
        """Sync, echo off, SIM, signal, registration, attach, PDP context with `apn`.
        Returns None when ready for open(), else a short reason."""
        self.connected = False
        if not await self.sync(3):
            # a board powers up with its modem off: one press of the power key turns it on
            if self.power is not None:
                await self.power.press(self.k)
                await self._wait(self._is_rdy, self.power.boot_ms)
            if not await self.sync():
                return "no answer to AT"
        await self._ok("ATE0")
        if not await self._sim_ready():
            return "SIM not ready"
        start = self._ms()
        limit = self.registration_s * 1000
        while True:
            await self._signal()
            stat = await self._registration()
            if stat in (1, 5) and self.csq != 99:
                break
            if stat == 3:
                return "registration denied"
            if self.clock.ticks_diff(self._ms(), start) >= limit:
                return "no signal" if self.csq == 99 else "not registered (stat %d)" % stat
            await self.k.time_dly(1000)
        if not await self._ok("AT+CGATT=1", 10000):
            return "attach failed"
        if self.dialect == SIM800:
            await self.command("AT+CIPSHUT", (b"SHUT OK",) + _FINALS, 10000)
            await self._ok("AT+CIPMUX=0")
            # manual receive: data waits in the modem until we fetch it (without it, +IPD)
            await self._ok("AT+CIPRXGET=1")
            if not await self._ok('AT+CSTT="%s"' % apn):
                return "APN not accepted"
            if not await self._ok("AT+CIICR", 60000, 1):
                return "PDP context failed"
            self.ip = await self.command("AT+CIFSR", (), 3000)    # the bare IP, no OK
        else:
            if await self.command("AT+QIACT?") == _OK and self._info_with(b"+QIACT: 1,1"):
                return None                 # the context survived (a reconnect): keep it
            if not await self._ok('AT+QICSGP=1,1,"%s","","",1' % apn):
                return "APN not accepted"
            if not await self._ok("AT+QIACT=1", 150000, 1):
                return "PDP context failed"
        return None

    async def _sim_ready(self):
        for _ in range(3):
            final = await self.command("AT+CPIN?")
            if final == _OK and self._info_with(b"+CPIN: READY") is not None:
                return True
            if final == _ERROR:
                return False
        return False

    async def _signal(self):
        if await self.command("AT+CSQ") == _OK:
            line = self._info_with(b"+CSQ: ", 2)
            if line is not None:
                self.csq = _int_after(line, b"+CSQ: ")
        return self.csq

    async def _registration(self):
        stat = -1
        for cmd, prefix in (("AT+CREG?", b"+CREG: "), ("AT+CGREG?", b"+CGREG: ")):
            if await self.command(cmd) != _OK:
                continue
            line = self._info_with(prefix, 2)
            if line is None:
                continue
            stat = _int_after(line, prefix, 1)
            if stat not in (1, 5):
                break
        self.reg = stat
        return stat

    # --- TCP -------------------------------------------------------------------------------------
    async def open(self, host, port, timeout_ms=75000):
        """Open the TCP connection; True when it is up."""
        self._pushed_n = 0
        self._data_left = 0
        self._rx_notice = False
        for _ in range(2):
            if self.dialect == SIM800:
                final = await self.command('AT+CIPSTART="TCP","%s",%d' % (host, port),
                                           (b"CONNECT OK", b"ALREADY CONNECT", b"CONNECT FAIL",
                                            _ERROR), timeout_ms)
                ok = final in (b"CONNECT OK", b"ALREADY CONNECT")
            else:
                final = await self.command('AT+QIOPEN=1,0,"TCP","%s",%d,0,0' % (host, port),
                                           (b"+QIOPEN: 0,0", _ERROR), timeout_ms)
                ok = final == b"+QIOPEN: 0,0"
                if not ok:
                    for line in self._info:
                        if line.startswith(b"+QIOPEN: 0,"):
                            final = line
            if ok:
                self.connected = True
                return True
            if final is not None:                  # a definite failure: no second try
                return False
        return False

    async def send(self, data, size=None):
        """Send data[:size] (<= MAX_SEND bytes) on the connection; True on SEND OK."""
        if size is None:
            size = len(data)
        if not self.connected or not 0 < size <= MAX_SEND:
            return False
        if self.dialect == SIM800:
            cmd = "AT+CIPSEND=%d" % size
        else:
            cmd = "AT+QISEND=0,%d" % size
        self._prompt = False
        # the prompt "> " has no line end: wait for it (or an ERROR) by hand
        self._pump()
        self._echo = cmd.encode()
        self._want = (_ERROR, b"SEND FAIL")
        self._final = None
        self._info = []
        self.stats["commands"] += 1
        self.port.write(self._echo + b"\r")
        await self._wait(self._prompt_or_final, 5000)
        if not self._prompt:
            self._want = None
            if self._final is None:
                self.stats["timeouts"] += 1
            return False
        self._want = (b"SEND OK", b"SEND FAIL", _ERROR)
        self._final = None
        view = memoryview(data)
        sent = 0
        while sent < size:
            n = self.port.write(view[sent:size])
            sent += n or 0
            if sent < size:
                await self.k.time_dly(1)
        # the modem answers once the link has carried the bytes: allow a slow GPRS link
        await self._wait(self._has_final, 10000 + size * 8 // 2)
        self._want = None
        if self._final == b"SEND OK":
            self.stats["bytes_sent"] += size
            return True
        if self._final is None:
            self.stats["timeouts"] += 1
        return False

    def _prompt_or_final(self):
        return self._prompt or self._final is not None

    async def recv(self, buf, timeout_ms):
        """Copy received TCP data into buf: > 0 bytes, 0 when none came in time, -1 when the
        connection is closed and nothing is left to read."""
        self._pump()
        if not self._pushed_n and not self._rx_notice and self.connected and timeout_ms > 0:
            await self._wait(self._rx_ready, timeout_ms)
        if self._pushed_n:
            return self._take_pushed(buf)
        if self._rx_notice:
            n = await self._fetch(buf)
            if n:
                return n
        return 0 if self.connected else -1

    def _rx_ready(self):
        return self._pushed_n > 0 or self._rx_notice or not self.connected

    def _take_pushed(self, buf):
        pushed = self._pushed
        if pushed is None:
            return 0
        n = self._pushed_n if self._pushed_n <= len(buf) else len(buf)
        buf[0:n] = pushed[0:n]
        left = self._pushed_n - n
        if left:
            pushed[0:left] = pushed[n:self._pushed_n]
        self._pushed_n = left
        return n

    async def _fetch(self, buf):
        """Read what the modem holds, at most len(buf) bytes, straight into buf; the count."""
        most = len(buf) if len(buf) < MAX_SEND else MAX_SEND
        self._rx_notice = False            # a notice during the read is a new one: keep it
        self._modem_left = 0
        self._into = buf
        self._into_n = 0
        self.stats["reads"] += 1
        if self.dialect == QUECTEL:
            final = await self.command("AT+QIRD=0,%d" % most, _FINALS, 5000)
        else:
            final = await self.command("AT+CIPRXGET=2,%d" % most, _FINALS, 5000)
        self._into = None
        n = self._into_n
        # more waits when the SIM800 says so; Quectel does not say: a full read may have left some
        if final == _OK and (self._modem_left > 0 if self.dialect == SIM800 else n == most):
            self._rx_notice = True
        return n

    async def poll_data(self):
        """Look for data the modem may hold without a notice having arrived (a notice can be
        lost to a noisy line): the next recv() reads."""
        if self.connected:
            self._rx_notice = True

    async def close(self):
        """Close the TCP connection (the PDP context stays)."""
        if self.dialect == SIM800:
            await self.command("AT+CIPCLOSE", (b"CLOSE OK",) + _FINALS, 5000)
        else:
            await self.command("AT+QICLOSE=0", _FINALS, 10000)
        self.connected = False
        self._pushed_n = 0
        self._rx_notice = False

    async def shutdown(self):
        """Close the connection and drop the PDP context."""
        if self.dialect == SIM800:
            await self.command("AT+CIPSHUT", (b"SHUT OK",) + _FINALS, 10000)
        else:
            await self.command("AT+QIDEACT=1", _FINALS, 40000)
        self.connected = False

    async def power_cycle(self):
        """Restart the modem: the power key where the board has one, else AT+CFUN=1,1."""
        self.stats["resets"] += 1
        self.connected = False
        self._rdy = False
        if self.power is not None:
            # the key toggles: press it to switch off only if the modem is on
            if await self.sync(2):
                await self.power.press(self.k)
                await self.k.time_dly(2000)
            await self.power.press(self.k)
        else:
            await self.command("AT+CFUN=1,1", _FINALS, 15000)
        await self._wait(self._is_rdy, 15000)
        self._n = 0
        self._pushed_n = 0
        self._data_left = 0
        self._rx_notice = False

    def _is_rdy(self):
        return self._rdy
