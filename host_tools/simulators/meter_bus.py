"""Many simulated meters sharing one serial line: `MeterSimulator`, the library entry point.

    from host_tools.simulators.meter_bus import MeterSimulator
    with MeterSimulator.from_options(meters=4, protocols=["dlt645", "modbus"], baud=19200) as sim:
        port = sim.device_path                   # open this with pyserial / the virtual board
        model = sim.meter("000000000001").model  # compare what was read with what it holds
        sim.meter(2).faults.spec.no_reply_pct = 100

The bus thread cuts requests out of the byte stream (DL/T 645 by its length and checksum,
Modbus RTU by function and CRC, anything undecodable dropped at the next silence), hands each
to the meter(s) it addresses, and sends the reply as a real line would:

- a request "arrives" when its last byte would have left the wire at the bus baud rate, even if
  the client wrote it into the pty at once, so both directions cost real bus time;
- the reply starts `turnaround_ms` (plus any injected delay) after that, and its bytes leave
  paced at the baud rate (serial_line.py);
- a wildcard request that several meters answer produces a collision: the bytes of all their
  replies ANDed together (a dominant-zero wire), which no checksum survives.
"""
import threading
import time
from collections import deque

from protocol import dlt645, modbus
from protocol.errors import ProtocolError

from host_tools.simulators import sim_config
from host_tools.simulators.clock import SimClock
from host_tools.simulators.faults import FaultInjector, FaultSpec
from host_tools.simulators.meter_model import DEFAULT_TARIFF_SCHEDULE, MeterModel
from host_tools.simulators.meter_protocols import make_handler
from host_tools.simulators.serial_line import WireFormat, open_line

MIN_GAP_S = 0.005           # pty scheduling jitter: never call a frame over before this silence
LOG_LENGTH = 2000


class SimulatedMeter:
    """One meter on the bus: its model, its protocol handler, its faults and its tallies."""

    def __init__(self, model, handler, faults):
        self.model = model
        self.handler = handler
        self.faults = faults
        self.requests = 0
        self.replies = 0

    @property
    def address(self):
        return self.model.address

    @property
    def protocol(self):
        return self.model.protocol

    def __repr__(self):
        return "<SimulatedMeter %s %s>" % (self.protocol, self.address)


class Transaction:
    """One request seen on the bus and what went back (for tests and the --json log)."""

    __slots__ = ("time", "request", "reply", "meters", "faults")

    def __init__(self, when, request, reply, meters, faults):
        self.time = when
        self.request = request
        self.reply = reply
        self.meters = meters
        self.faults = faults

    def __repr__(self):
        return "<Transaction %s -> %s %s>" % (self.request.hex(), self.reply.hex() if self.reply
                                              else None, ",".join(self.faults))


def build_meter(entry, clock, seed=0, baud=9600):
    """A SimulatedMeter from one validated config entry (see sim_config)."""
    faults = entry.get("faults") or FaultSpec()
    model = MeterModel(
        entry["address"], clock, protocol=entry["protocol"], name=entry.get("name"),
        base_load_kw=entry["base_load_kw"], shape=entry["shape"], phases=entry["phases"],
        nominal_voltage=entry["nominal_voltage"], power_factor=entry["power_factor"],
        tariff_schedule=entry["tariff_schedule"] or DEFAULT_TARIFF_SCHEDULE,
        energy_kwh=entry["energy_kwh"], tariff_kwh=entry["tariff_kwh"],
        reverse_kwh=entry["reverse_kwh"], drift_ppm=entry["drift_ppm"],
        clock_offset_s=entry["clock_offset_s"], supports_blocks=entry["supports_blocks"],
        supports_freeze=entry["supports_freeze"], password=entry["password"],
        relay_open=entry["relay"] == "open", seed=seed, noise=entry["noise"],
        preamble=entry.get("preamble", 0))
    if faults.stuck:
        model.set_stuck(True)
    handler = make_handler(model, entry["protocol"], entry.get("map"), baud)
    return SimulatedMeter(model, handler, FaultInjector(faults, "%s/%s" % (seed, model.address)))  # pyright: ignore[reportArgumentType] - any hashable seeds the fault RNG


class MeterSimulator:
    """Simulated meters on one serial line (a pty pair it creates, or a real adapter)."""

    def __init__(self, config, port=None, clock=None):
        """`config`: a validated dict (sim_config.validate / load_file / from_options)."""
        bus = config["bus"]
        self.config = config
        self.wire = WireFormat(bus["baud"], bus["parity"], bus["data_bits"], bus["stop_bits"])
        self.turnaround_s = bus["turnaround_ms"] / 1000.0
        self.clock = clock or SimClock(bus["start"], bus["speed"])
        self.port = port
        self.meters = [build_meter(entry, self.clock, bus["seed"], bus["baud"]) for entry in config["meters"]]
        self.line = None
        self.log = deque(maxlen=LOG_LENGTH)
        self.noise_bytes = 0            # received bytes that were no request
        self.unanswered = 0             # requests addressed to no meter
        self.collisions = 0
        self.bus_busy_s = 0.0           # wire time of every request and reply byte
        self._thread = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.error = None               # an exception that ended the bus thread
        self.failed_requests = []       # (request, error) the simulator could not handle
        self.on_transaction = None      # called with each Transaction from the bus thread

    # --- construction shortcuts ------------------------------------------------------------

    @classmethod
    def from_file(cls, path, port=None, clock=None, **bus_overrides):
        config = sim_config.load_file(path)
        sim_config.override_bus(config, bus_overrides)
        return cls(config, port=port, clock=clock)

    @classmethod
    def from_options(cls, meters=1, protocols=("dlt645",), port=None, clock=None, **bus):
        return cls(sim_config.from_options(meters, tuple(protocols), **bus), port=port,
                   clock=clock)

    @classmethod
    def from_dict(cls, raw, port=None, clock=None):
        return cls(sim_config.validate(raw), port=port, clock=clock)

    # --- lookup ----------------------------------------------------------------------------

    def meter(self, address):
        """The SimulatedMeter with this address (645 text or int, or a Modbus id)."""
        for meter in self.meters:
            if meter.protocol == "modbus":
                if isinstance(address, int) and meter.address == address:
                    return meter
            elif str(address).zfill(12) == meter.address:
                return meter
        raise KeyError("no simulated meter at address %r" % (address,))

    @property
    def models(self):
        return [meter.model for meter in self.meters]

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def device_path(self):
        return self.line.device_path if self.line else None

    def start(self):
        """Open the line and serve it from a daemon thread; returns self."""
        if self._thread is not None:
            return self
        self.line = open_line(self.wire, self.port)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="meter-bus", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self.line is not None:
            self.line.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self):
        """Open the line and serve it in this thread until stop() (e.g. from a signal)."""
        self.line = open_line(self.wire, self.port)
        try:
            self._serve()
        finally:
            self.line.close()

    def stats(self):
        """Counters for the whole bus and per meter (what --json prints on exit)."""
        return {
            "noise_bytes": self.noise_bytes,
            "unanswered_requests": self.unanswered,
            "collisions": self.collisions,
            "bus_busy_s": round(self.bus_busy_s, 3),
            "meters": [{"protocol": m.protocol, "address": m.address, "requests": m.requests,
                        "replies": m.replies, "faults": dict(m.faults.counts)}
                       for m in self.meters],
        }

    # --- the bus thread --------------------------------------------------------------------

    def _serve(self):
        try:
            self._loop()
        except Exception as exc:     # kept for the owner to see: the thread must not vanish
            self.error = exc
            raise

    def _loop(self):
        line = self.line
        gap = max(3.5 * self.wire.char_time, MIN_GAP_S)
        buf = bytearray()
        first_arrival = last_arrival = 0.0
        while not self._stop.is_set():
            chunk = line.read(gap if buf else 0.05)  # pyright: ignore[reportOptionalMemberAccess] - the line is attached before the bus runs
            now = time.monotonic()
            if chunk:
                if not buf:
                    first_arrival = now
                buf += chunk
                last_arrival = now
            silent = not chunk and bool(buf) and now - last_arrival >= gap
            if not chunk and not silent:
                continue
            while buf:
                kind, size = _next_request(buf, silent)
                if kind is None and size == 0:
                    break               # incomplete: wait for more bytes or silence
                if kind is None:
                    self.noise_bytes += size
                    del buf[:size]
                    continue
                request = bytes(buf[:size])
                del buf[:size]
                try:
                    self._dispatch(request, first_arrival, last_arrival, kind)
                except Exception as exc:     # one bad request must not silence the bus
                    self.failed_requests.append((request, repr(exc)))
                # Bytes that came behind this request were sent after it.
                first_arrival = last_arrival = time.monotonic()

    def _dispatch(self, request, first_arrival, last_arrival, kind="modbus"):
        # The request ends when its last byte would have left a real wire.
        request_end = max(last_arrival, first_arrival + self.wire.wire_time(len(request)))
        self.bus_busy_s += self.wire.wire_time(len(request))
        if kind == "dlt645":
            replies = self._answer_dlt645(request)
        else:
            replies = self._answer_modbus(request)
        if replies is None:
            return
        if not replies:
            self.unanswered += 1
            return
        wire_bytes, delay, fault_names, meters = self._apply_faults(replies)
        transaction = Transaction(time.time(), request, wire_bytes, meters, fault_names)
        self.log.append(transaction)
        if self.on_transaction is not None:
            self.on_transaction(transaction)
        if wire_bytes is None:
            return
        start = max(time.monotonic(), request_end + self.turnaround_s + delay)
        sleep_until_or_stop(start, self._stop)
        self.bus_busy_s += self.wire.wire_time(len(wire_bytes))
        self.line.write_paced(wire_bytes, start)  # pyright: ignore[reportOptionalMemberAccess] - the line is attached before the bus runs

    def _answer_dlt645(self, request):
        """[(meter, reply bytes or None)] for the meters addressed; None for no one to ask."""
        try:
            frame = dlt645.parse_frame(request)
        except ProtocolError:
            self.noise_bytes += len(request)
            return None
        if frame.from_meter:
            return None                 # another meter's reply (an echoing adapter)
        out = []
        addressed = False
        for meter in self.meters:
            if meter.protocol == "modbus" or not meter.handler.addressed(frame):
                continue
            addressed = True
            meter.requests += 1
            reply = meter.handler.handle(frame)
            if reply is not None:
                out.append((meter, reply))
        if not out and (addressed or frame.address == dlt645.BROADCAST):
            return None                 # heard, and silent by design (broadcast time ...)
        return out

    def _answer_modbus(self, request):
        unit, function = request[0], request[1]
        try:
            message = modbus.parse_request(request)
            refusal = None
        except ProtocolError:
            # The CRC is good (that is how the request was cut out), so the meter understood
            # it: a function it lacks is "illegal function", a bad count "illegal data value".
            message = modbus.Message(unit, function, False)
            refusal = 3 if function in (modbus.READ_HOLDING, modbus.READ_INPUT,
                                        modbus.WRITE_SINGLE, modbus.WRITE_MULTIPLE) else 1
        if unit == 0:
            return None                 # Modbus broadcast: no reply, ever
        out = []
        for meter in self.meters:
            if meter.protocol == "modbus" and meter.handler.addressed(message):
                meter.requests += 1
                if refusal is not None:
                    reply = modbus.exception_reply(unit, function & 0x7F, refusal)
                else:
                    reply = meter.handler.handle(message)
                if reply is not None:
                    out.append((meter, reply))
        return out

    def _apply_faults(self, replies):
        """Run each reply through its meter's faults; combine several into a collision."""
        sent = []
        fault_names = []
        delay = 0.0
        for meter, reply in replies:
            plan = meter.faults.plan()
            if meter.model.stuck:
                meter.faults.counts["stuck"] += 1
                fault_names.append("stuck")
            if plan.silent:
                fault_names.append("no_reply")
                continue
            if plan.wrong_address:
                reply = meter.handler.from_other_address(reply)
                fault_names.append("wrong_address")
            if plan.bad_checksum:
                reply = meter.handler.corrupt_checksum(reply)
                fault_names.append("bad_checksum")
            if plan.garbage is not None:
                mode, junk = plan.garbage
                reply = junk if mode == "replace" else junk + reply
                fault_names.append("garbage")
            if plan.delay_s:
                fault_names.append("slow_reply")
                delay = max(delay, plan.delay_s)
            meter.replies += 1
            sent.append(reply)
        meters = [meter.address for meter, _ in replies]
        if not sent:
            return None, delay, fault_names, meters
        if len(sent) == 1:
            return sent[0], delay, fault_names, meters
        self.collisions += 1
        fault_names.append("collision")
        length = max(len(r) for r in sent)
        garbled = bytearray(b"\xff" * length)
        for reply in sent:
            for i, byte in enumerate(reply):
                garbled[i] &= byte
        return bytes(garbled), delay, fault_names, meters


def sleep_until_or_stop(deadline, stop):
    left = deadline - time.monotonic()
    if left > 0.003:
        stop.wait(left - 0.002)
    while time.monotonic() < deadline:
        pass


def _next_request(buf, silent=False):
    """(kind, size) of the request at the start of `buf`.

    ("dlt645"|"modbus", size) when a whole valid request is there; (None, n) to drop n noise
    bytes; (None, 0) when more bytes may still complete a request. With `silent` the line has
    gone quiet, so nothing more will come: a Modbus frame of unknown function is whatever has
    a good CRC, and anything incomplete is noise.
    """
    i = 0
    while i < len(buf) and buf[i] == dlt645.PREAMBLE:
        i += 1
    if i == len(buf):                       # only FE so far: a preamble, or noise
        if silent:
            return None, len(buf)
        return (None, 0) if i <= dlt645.MAX_PREAMBLE else (None, i - dlt645.MAX_PREAMBLE)
    more = False
    if buf[i] == dlt645.START:
        if len(buf) < i + 10:
            more = True
        elif buf[i + 7] == dlt645.START and buf[i + 9] <= dlt645.MAX_DATA:
            size = i + 12 + buf[i + 9]
            if len(buf) < size:
                more = True
            else:
                try:
                    dlt645.parse_frame(buf, 0, size)
                    return "dlt645", size
                except ProtocolError:
                    pass
    if i == 0 and buf[0] <= modbus.MAX_UNIT:    # FE is no Modbus unit: only 645 starts so
        size = _modbus_request_length(buf)
        if size == 0:                       # a function we do not know: silence ends it
            if silent and _modbus_at_silence(buf):
                return "modbus", len(buf)
            more = True
        elif size < 0 or len(buf) < size:
            more = True
        elif modbus.crc_ok(buf, size):
            return "modbus", size
    if more and not silent:
        return None, 0
    return None, 1


def _modbus_request_length(buf):
    """Length of the Modbus request starting buf, -1 while not yet known, 0 if unknowable."""
    if len(buf) < 2:
        return -1
    function = buf[1]
    if function in (1, 2, 3, 4, 5, 6):
        return 8
    if function in (15, 16):
        return 9 + buf[6] if len(buf) >= 7 else -1
    return 0


def _modbus_at_silence(buf):
    """True when all of `buf` is one CRC-valid Modbus frame (of a function we do not know)."""
    return 4 <= len(buf) <= modbus.MAX_FRAME and modbus.crc_ok(buf, len(buf))
