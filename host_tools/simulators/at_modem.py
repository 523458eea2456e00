"""A GPRS modem on a serial line: the SIM800 (CIP) and Quectel (QI) AT dialects, bridging the
data of its one TCP connection to a real host:port, with the faults field modems really show.

The concentrator's modem driver is tested against this, so it behaves like the hardware where
drivers usually go wrong: responses are "\\r\\n<text>\\r\\n", echo is on until ATE0, data
arrives as unsolicited codes in the middle of anything, CIICR takes seconds, and a PDP context
can die silently (data stops, status still says connected: only a heartbeat timeout finds it).
The data path is paced to a GPRS-like link rate.

Faults (all off by default; `Faults.parse("name=value")` for the CLI):
  sim_missing       AT+CPIN? answers +CME ERROR: 10
  registration      home | roaming | denied | searching (CREG/CGREG stat 1, 5, 3, 2)
  csq99             AT+CSQ answers 99,99 (no signal known)
  activate_fail     AT+CIICR / AT+QIACT=1 answer ERROR
  connect_fail      the TCP open fails (CONNECT FAIL / +QIOPEN: 0,566)
  drop_after        seconds after connecting, the peer drops (CLOSED / +QIURC: "closed",0)
  silent_after      seconds after connecting, data stops both ways, status still connected
  reg_lost_after    seconds after connecting, registration is lost and the link closes
  garble            percent of response lines with a corrupted character
  late_ms           every response is delayed this many milliseconds
  urc_noise         percent of commands with an unrelated unsolicited code before the answer
  push_only         SIM800 without manual receive: AT+CIPRXGET answers ERROR, data comes as +IPD
"""
import random
import socket
import threading
import time

from host_tools.simulators.serial_line import WireFormat, open_line

DIALECTS = ("sim800", "quectel")
REG_STAT = {"home": 1, "roaming": 5, "denied": 3, "searching": 2}
NOISE_URCS = (b"+CREG: 1", b"+CGREG: 1", b"Call Ready", b"SMS Ready", b"+CPIN: READY")


class Faults:
    FIELDS = {"sim_missing": bool, "registration": str, "csq99": bool, "activate_fail": bool,
              "connect_fail": bool, "drop_after": float, "silent_after": float,
              "reg_lost_after": float, "garble": float, "late_ms": float, "urc_noise": float,
              "push_only": bool}

    def __init__(self, **values):
        self.sim_missing = False
        self.registration = "home"
        self.csq99 = False
        self.activate_fail = False
        self.connect_fail = False
        self.drop_after = None
        self.silent_after = None
        self.reg_lost_after = None
        self.garble = 0.0
        self.late_ms = 0.0
        self.urc_noise = 0.0
        self.push_only = False
        for name, value in values.items():
            self.set(name, value)

    def set(self, name, value):
        kind = self.FIELDS.get(name)
        if kind is None:
            raise ValueError("unknown modem fault %r; known: %s" % (name, ", ".join(self.FIELDS)))
        if kind is bool:
            value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "")
        elif kind is float:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ValueError("modem fault %s needs a number, not %r" % (name, value)) from None
        elif name == "registration" and value not in REG_STAT:
            raise ValueError("registration must be one of %s" % ", ".join(REG_STAT))
        setattr(self, name, value)

    @classmethod
    def parse(cls, specs):
        """Faults from CLI words like 'csq99', 'drop_after=30', 'registration=denied'."""
        faults = cls()
        for spec in specs:
            name, _, value = spec.partition("=")
            faults.set(name.strip().replace("-", "_"), value.strip())
        return faults


class ModemSim:
    """One modem on `line` (a serial_line PtyLine/AdapterLine), bridging to `target`."""

    def __init__(self, line, target, dialect="sim800", faults=None, link_bps=40000, seed=None,
                 trace=None):
        if dialect not in DIALECTS:
            raise ValueError("dialect must be one of %s" % ", ".join(DIALECTS))
        self.line = line
        self.target = target
        self.dialect = dialect
        self.faults = faults or Faults()
        self.link_bps = link_bps
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.stats = {"commands": 0, "bytes_up": 0, "bytes_down": 0, "connects": 0, "resets": 0}
        self.log = []                 # (monotonic time, command) for tests
        self.trace = trace            # called with each command line the board sends, or None
        self._thread = None
        self._stop = threading.Event()
        self._reset_state()

    # --- state ------------------------------------------------------------------------------
    def _reset_state(self):
        self.echo = True
        self.attached = False
        self.apn = None
        self.pdp_active = False
        self.sock = None
        self.connected_at = None
        self.silent = False
        self.reg_lost = False
        self.manual_rx = False        # SIM800 AT+CIPRXGET=1
        self.rx_pending = bytearray()  # received but not yet given to the host
        self.rx_pending_max = 0       # the most the modem held at once (manual receive)
        self.inbuf = bytearray()
        self.send_left = 0            # bytes still expected after a '>' prompt
        self.send_buf = bytearray()
        self.up_budget_at = time.monotonic()
        self.down_queue = bytearray()  # from TCP, waiting for link pacing
        self.down_next = time.monotonic()

    def reg_stat(self):
        return 2 if self.reg_lost else REG_STAT[self.faults.registration]

    def registered(self):
        return self.reg_stat() in (1, 5) and not self.faults.sim_missing

    # --- running ------------------------------------------------------------------------------
    def start(self):
        self._thread = threading.Thread(target=self.run, name="modem-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._close_socket()
        self.line.close()

    def run(self):
        while not self._stop.is_set():
            data = self.line.read(0.005)
            if data:
                self._on_serial(data)
            self._pump_socket()
            self._check_timed_faults()

    # --- serial side ----------------------------------------------------------------------------
    def _on_serial(self, data):
        self.inbuf += data
        while self.inbuf:
            if self.send_left:
                take = self.inbuf[:self.send_left]
                del self.inbuf[:len(take)]
                self.send_buf += take
                self.send_left -= len(take)
                if not self.send_left:
                    self._finish_send()
                continue
            end = self.inbuf.find(b"\r")
            if end < 0:
                if len(self.inbuf) > 1024:        # a runaway line: modems drop it
                    del self.inbuf[:]
                return
            line = bytes(self.inbuf[:end]).strip(b"\n ")
            del self.inbuf[:end + 1]
            if self.echo:
                self.line.write_raw(line + b"\r")
            if line:
                self._command(line.decode("latin-1"))

    def _reply(self, *lines, final=b"OK"):
        """Answer a command: optional info lines, then the final result code."""
        if self.faults.late_ms:
            time.sleep(self.faults.late_ms / 1000.0)
        if self.faults.urc_noise and self.random.random() * 100 < self.faults.urc_noise:
            self._urc(self.random.choice(NOISE_URCS))
        for text in lines + ((final,) if final else ()):
            self._urc(text)

    def _urc(self, text):
        if isinstance(text, str):
            text = text.encode("latin-1")
        if self.faults.garble and self.random.random() * 100 < self.faults.garble and text:
            pos = self.random.randrange(len(text))
            text = text[:pos] + bytes([self.random.randrange(33, 127)]) + text[pos + 1:]
        self.line.write_raw(b"\r\n" + text + b"\r\n")

    def _command(self, line):
        self.stats["commands"] += 1
        self.log.append((time.monotonic(), line))
        if self.trace is not None:
            self.trace(line)
        upper = line.upper()
        if not upper.startswith("AT"):
            return self._reply(final=b"ERROR")
        cmd = upper[2:]
        handler = COMMON.get(cmd.split("=")[0].split("?")[0]) or \
            (SIM800 if self.dialect == "sim800" else QUECTEL).get(cmd.split("=")[0].split("?")[0])
        if handler is None:
            return self._reply(final=b"ERROR")
        handler(self, cmd, line)

    # --- data path ---------------------------------------------------------------------------
    def _begin_send(self, length):
        if self.sock is None:
            return self._reply(final=b"ERROR")
        if not 1 <= length <= 1460:
            return self._reply(final=b"ERROR")
        self.send_left = length
        self.send_buf = bytearray()
        self.line.write_raw(b"\r\n> ")

    def _finish_send(self):
        data = bytes(self.send_buf)
        self._pace(len(data))
        if self.sock is not None and not self.silent:
            try:
                self.sock.sendall(data)
                self.stats["bytes_up"] += len(data)
            except OSError:
                self._peer_closed()
                return
        self._reply(final=b"SEND OK")

    def _pace(self, nbytes):
        """Hold the caller as long as the GPRS link needs for nbytes."""
        if self.link_bps:
            time.sleep(nbytes * 8.0 / self.link_bps)

    def _pump_socket(self):
        if self.sock is None:
            return
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            data = None
        except OSError:
            data = b""
        if data == b"":
            self._peer_closed()
            return
        if data and not self.silent:
            self.down_queue += data
        now = time.monotonic()
        if self.down_queue and now >= self.down_next:
            # Deliver what the link rate allows: at most 1 KB at a time, spaced accordingly.
            chunk = bytes(self.down_queue[:1024])
            del self.down_queue[:len(chunk)]
            self.down_next = now + (len(chunk) * 8.0 / self.link_bps if self.link_bps else 0)
            self.stats["bytes_down"] += len(chunk)
            self._deliver(chunk)

    def _deliver(self, chunk):
        if self.dialect == "sim800" and not self.manual_rx:
            self.line.write_raw(b"\r\n+IPD,%d:" % len(chunk) + chunk)
            return
        # the notice comes when data arrives to an empty buffer: none while some is unread
        notify = not self.rx_pending
        self.rx_pending += chunk
        self.rx_pending_max = max(self.rx_pending_max, len(self.rx_pending))
        if notify:
            self._urc(b"+CIPRXGET: 1" if self.dialect == "sim800" else b'+QIURC: "recv",0')

    def _take_rx(self, most):
        data = bytes(self.rx_pending[:most])
        del self.rx_pending[:len(data)]
        return data

    def _open(self, host, port):
        """Open the TCP connection the host asked for, to the bridge target when one is set
        (the master address in a board's settings rarely exists on a test machine)."""
        if not self.pdp_active or not self.registered():
            return False
        if self.faults.connect_fail:
            return False
        try:
            sock = socket.create_connection(self.target or (host, port), timeout=5)
        except OSError:
            return False
        sock.setblocking(False)
        self._discard_rx()
        self.sock = sock
        self.connected_at = time.monotonic()
        self.silent = False
        self.stats["connects"] += 1
        return True

    def _close_socket(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.connected_at = None
        self.silent = False

    def _discard_rx(self):
        """What the modem held for a connection goes with it: closed or shut by the host, or
        a new connection opened (only a peer's close leaves it readable)."""
        del self.rx_pending[:]
        del self.down_queue[:]

    def _peer_closed(self):
        self._close_socket()
        self._urc(b"CLOSED" if self.dialect == "sim800" else b'+QIURC: "closed",0')

    def _check_timed_faults(self):
        if self.connected_at is None:
            return
        up = time.monotonic() - self.connected_at
        f = self.faults
        if f.drop_after is not None and up >= f.drop_after:
            self._peer_closed()
        elif f.reg_lost_after is not None and up >= f.reg_lost_after:
            self.reg_lost = True
            self.pdp_active = False
            self._peer_closed()
        elif f.silent_after is not None and up >= f.silent_after:
            self.silent = True

    def reset(self):
        """AT+CFUN=1,1 or a power-key cycle: everything is lost, the modem boots again."""
        self._close_socket()
        self._reset_state()
        self.stats["resets"] += 1
        self._urc(b"RDY")
        self._urc(b"+CPIN: READY" if not self.faults.sim_missing else b"+CPIN: NOT INSERTED")
        if self.dialect == "sim800":
            self._urc(b"Call Ready")
            self._urc(b"SMS Ready")


# --- commands ---------------------------------------------------------------------------------
def _arg_text(line):
    return line.split("=", 1)[1] if "=" in line else ""


def _quoted(args):
    return [a.strip().strip('"') for a in args.split(",")]


def _at(m, cmd, line):
    m._reply()


def _echo(m, cmd, line):
    m.echo = cmd.endswith("1")
    m._reply()


def _cpin(m, cmd, line):
    if m.faults.sim_missing:
        return m._reply(final=b"+CME ERROR: 10")
    m._reply(b"+CPIN: READY")


def _csq(m, cmd, line):
    m._reply(b"+CSQ: 99,99" if m.faults.csq99 or m.faults.sim_missing else b"+CSQ: 21,0")


def _creg(m, cmd, line):
    name = cmd.split("?")[0].split("=")[0]
    m._reply(b"%s: 0,%d" % (name.encode(), m.reg_stat()))


def _cfun(m, cmd, line):
    if cmd.startswith("+CFUN=1,1"):
        m._reply()
        m.reset()
    else:
        m._reply()


def _cgatt(m, cmd, line):
    if cmd.endswith("?"):
        return m._reply(b"+CGATT: %d" % (1 if m.attached else 0))
    if not m.registered():
        return m._reply(final=b"ERROR")
    m.attached = True
    m._reply()


def _cstt(m, cmd, line):
    m.apn = _quoted(_arg_text(line))[0]
    m._reply()


def _ciicr(m, cmd, line):
    if m.faults.activate_fail or not m.registered() or m.apn is None:
        return m._reply(final=b"ERROR")
    time.sleep(0.05)          # a real CIICR takes seconds; keep tests quick
    m.pdp_active = True
    m._reply()


def _cifsr(m, cmd, line):
    if not m.pdp_active:
        return m._reply(final=b"ERROR")
    m._urc(b"10.64.12.7")     # CIFSR answers the bare IP with no OK


def _cipstart(m, cmd, line):
    args = _quoted(_arg_text(line))
    if len(args) != 3 or args[0].upper() != "TCP" or not args[2].isdigit():
        return m._reply(final=b"ERROR")
    if m.sock is not None:
        m._reply()
        m._urc(b"ALREADY CONNECT")
        return
    m._reply()
    m._urc(b"CONNECT OK" if m._open(args[1], int(args[2])) else b"CONNECT FAIL")


def _cipsend(m, cmd, line):
    arg = _arg_text(line)
    if not arg.isdigit():
        return m._reply(final=b"ERROR")
    m._begin_send(int(arg))


def _ciprxget(m, cmd, line):
    """SIM800 manual receive (single connection): =0/=1 off/on; =2,n reads at most n bytes
    (1..1460) as "+CIPRXGET: 2,<read>,<still held>" then the bytes; =4 says what is held."""
    args = _arg_text(line).split(",")
    if m.faults.push_only:
        return m._reply(final=b"ERROR")
    if cmd.endswith("?"):
        return m._reply(b"+CIPRXGET: %d" % (1 if m.manual_rx else 0))
    if args[0] in ("0", "1") and len(args) == 1:
        m.manual_rx = args[0] == "1"
        return m._reply()
    if not m.manual_rx:
        return m._reply(final=b"ERROR")       # reads need manual receive on
    if args[0] == "2" and len(args) == 2 and args[1].isdigit() and 1 <= int(args[1]) <= 1460:
        data = m._take_rx(int(args[1]))
        m.line.write_raw(b"\r\n+CIPRXGET: 2,%d,%d\r\n" % (len(data), len(m.rx_pending)) + data)
        return m._reply()
    if args[0] == "4" and len(args) == 1:
        return m._reply(b"+CIPRXGET: 4,%d" % len(m.rx_pending))
    m._reply(final=b"ERROR")


def _cipclose(m, cmd, line):
    if m.sock is None:
        return m._reply(final=b"ERROR")
    m._close_socket()
    m._discard_rx()
    m._urc(b"CLOSE OK")


def _cipshut(m, cmd, line):
    m._close_socket()
    m._discard_rx()
    m.pdp_active = False
    m._urc(b"SHUT OK")


def _cipstatus(m, cmd, line):
    m._reply()
    if m.sock is not None:
        state = b"CONNECT OK"
    elif m.pdp_active:
        state = b"IP STATUS"
    else:
        state = b"IP INITIAL"
    m._urc(b"STATE: " + state)


def _qicsgp(m, cmd, line):
    args = _quoted(_arg_text(line))
    if len(args) < 3:
        return m._reply(final=b"ERROR")
    m.apn = args[2]
    m._reply()


def _qiact(m, cmd, line):
    if cmd.endswith("?"):
        if m.pdp_active:
            return m._reply(b'+QIACT: 1,1,1,"10.64.12.7"')
        return m._reply()
    if m.faults.activate_fail or not m.registered():
        return m._reply(final=b"ERROR")
    time.sleep(0.05)
    m.pdp_active = True
    m._reply()


def _qideact(m, cmd, line):
    m._close_socket()
    m._discard_rx()
    m.pdp_active = False
    m._reply()


def _qiopen(m, cmd, line):
    args = _quoted(_arg_text(line))
    if len(args) < 5 or args[2].upper() != "TCP" or not args[4].isdigit():
        return m._reply(final=b"ERROR")
    m._reply()
    m._urc(b"+QIOPEN: 0,0" if m._open(args[3], int(args[4])) else b"+QIOPEN: 0,566")


def _qisend(m, cmd, line):
    args = _arg_text(line).split(",")
    if len(args) != 2 or not args[1].isdigit():
        return m._reply(final=b"ERROR")
    m._begin_send(int(args[1]))


def _qird(m, cmd, line):
    args = _arg_text(line).split(",")
    most = int(args[1]) if len(args) == 2 and args[1].isdigit() else 1500
    data = m._take_rx(min(most, 1500))
    m.line.write_raw(b"\r\n+QIRD: %d\r\n" % len(data) + data)
    m._reply()


def _qiclose(m, cmd, line):
    m._close_socket()
    m._discard_rx()
    m._reply()


def _qistate(m, cmd, line):
    if m.sock is not None:
        host, port = m.sock.getpeername()[:2]
        m._reply(b'+QISTATE: 0,"TCP","%s",%d,0,2,1,0,0,"uart1"' % (host.encode(), port))
    else:
        m._reply()


COMMON = {"": _at, "E0": _echo, "E1": _echo, "+CPIN": _cpin, "+CSQ": _csq, "+CREG": _creg,
          "+CGREG": _creg, "+CEREG": _creg, "+CFUN": _cfun, "+CGATT": _cgatt}
SIM800 = {"+CSTT": _cstt, "+CIICR": _ciicr, "+CIFSR": _cifsr, "+CIPSTART": _cipstart,
          "+CIPSEND": _cipsend, "+CIPRXGET": _ciprxget, "+CIPCLOSE": _cipclose,
          "+CIPSHUT": _cipshut, "+CIPSTATUS": _cipstatus, "+CIPMUX": _at, "+CIPMODE": _at}
QUECTEL = {"+QICSGP": _qicsgp, "+QIACT": _qiact, "+QIDEACT": _qideact, "+QIOPEN": _qiopen,
           "+QISEND": _qisend, "+QIRD": _qird, "+QICLOSE": _qiclose, "+QISTATE": _qistate}


def start_modem(target, port=None, dialect="sim800", faults=None, link_bps=40000, baud=115200,
                seed=None, trace=None):
    """Open the line (a new pty when `port` is None) and run a modem on it in a thread."""
    line = open_line(WireFormat(baud, "N"), port)
    return ModemSim(line, target, dialect, faults, link_bps, seed, trace).start()
