"""A swarm of protocol-level concentrators: many Q/GDW 1376.1 terminals in one asyncio process.

    swarm = Swarm("127.0.0.1", 9000, count=1000, area=4101, first_address=1, meters=8,
                  heartbeat_s=60, upload_every_s=None)
    await swarm.start(ramp_per_s=500)        # connect and log in, `ramp_per_s` at a time
    ...
    swarm.report()                           # logins, heartbeats confirmed, latencies ...
    await swarm.close()

Each SimTerminal is an asyncio.Protocol (no task per terminal): it logs in (AFN02 F1), sends a
heartbeat (AFN02 F3) every `heartbeat_s` and times each confirmation, and answers the master:

    AFN0C F2 (its clock, `clock_offset_s` off), F33/F129 (forward active energy of points
          1..meters, total + 4 tariffs, growing with time), AFN0D F161 / F177 (the day / month
          asked for),
    AFN0A F10 / AFN04 F10 (its meter archive), AFN05 F1/F2 (trip/close: PW checked, confirmed,
          then after `relay_delay_s` the standard ERC 33 status-word-change event with status
          word 3 raised with ACD; `relay_record="erc60"` raises the vendor ERC 60 record older
          firmware sent instead), AFN05 F31
          (clock set), AFN09 F1 (version), AFN0E F1/F2 (its events by pointer);
    anything else is denied (AFN00 F2).

It keeps the link rules a real terminal keeps: a repeated request (same PSEQ and bytes) gets the
cached answer without being carried out again; replies longer than `max_user_data` go as several
frames; uplink frames carry ACD + EC while events are unread. With `upload_every_s` (or once
the station starts a class 1 report task asking for F129: AFN04 F65 + F67) it uploads its
readings actively (upload_format="units", the standard-only mode: AFN0C F129, CON set, and
with a running class 2 task asking for F89 the voltage curve point AFN0D F89 of each round; or
"f241" as the firmware's compact mode: AFN0D with the vendor unit F241 of numbered ring-log
records) and keeps each upload until the station confirms it, re-sending the unconfirmed ones
after a reconnect. Fault knobs for tests: `ignore_requests`
(answer nothing to the next N requests: response timeouts), `drop_on_afns` (the next request of
such an AFN ends the connection before it is carried out: a GPRS link lost as a command
arrives; once per AFN), `deny_afns`, `relay_outcome`
(0 the meter switched, 1 it did not: status word 3 keeps the old state, None = never report).
"""
import asyncio
import datetime
import logging
import random
import time

from protocol import gw376
from protocol.errors import ProtocolError
from protocol.gw376_deframer import Deframer

log = logging.getLogger(__name__)

TARIFFS = 4
VOLTAGE_A = 2203            # 220.3 V (format 07) in the voltage curve the sim reports
BACKLOG_STEP_S = 900        # a backlog holds one reading round per 15 minutes
ERC_STATUS_WORDS = 33       # Q/GDW 1376.1 ERC33 meter status word change
ERC_RELAY = 60              # the vendor relay-outcome record of older firmware
ERC_AUTHENTICATION = 20     # Q/GDW 1376.1 ERC20 message authentication error (a wrong PW)
REDIAL_MAX_S = 60.0         # the longest wait between two connection attempts


def energy_value(address, pn, seconds):
    """A deterministic, growing forward active energy (format 14, 0.0001 kWh) for tests."""
    return (address % 1000) * 10_000_000 + pn * 100_000 + int(seconds // 60) % 100_000


def _varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return out


def _bcd(value):
    return ((value // 10) << 4) | (value % 10)


class SimTerminal(asyncio.Protocol):
    """One simulated concentrator connection (see the module docstring)."""

    def __init__(self, swarm, area, address, meters=8, heartbeat_s=60.0, upload_every_s=None,
                 password=bytes(16), clock_offset_s=0.0, zone=None, max_user_data=16383,
                 relay_delay_s=0.2, relay_outcome=0, backlog_s=None, upload_format="units",
                 relay_record="erc33", task_minute_s=60.0, bus_meters=None,
                 afn05_per_point=True):
        self.swarm = swarm
        self.upload_format = upload_format       # "units" AFN0C F129, "f241" ring-log records
        self.ring_seq = 0
        # uploads start with readings stored this long ago (an outage's backlog)
        self.backlog_from = None if not backlog_s else self.now_from(clock_offset_s) - backlog_s
        self.area = area
        self.address = address
        self.meters = meters
        self.heartbeat_s = heartbeat_s
        self.upload_every_s = upload_every_s
        self.password = bytes(password)
        self.clock_offset_s = clock_offset_s
        self.zone = zone
        self.max_user_data = max_user_data
        self.relay_delay_s = relay_delay_s
        self.relay_outcome = relay_outcome
        self.relay_record = relay_record
        self.task_minute_s = task_minute_s
        # {port: [meter handler with .handle(dlt645 Frame) -> reply bytes]}: AFN10 F1 reaches them
        self.bus_meters = bus_meters or {}
        self.afn05_per_point = afn05_per_point  # False: a terminal without our AFN05 mapping
        self.report_tasks = {}       # (class, task number) -> AFN04 F65/F66 value + running
        self.ignore_requests = 0
        self.drop_on_afns = set()
        self.deny_afns = set()
        self.transport = None
        self.deframer = Deframer()
        self.pseq = 0
        self.logged_in = False
        self.login_denied = False
        self.login_sent_at = None
        self.waiting = {}            # PSEQ -> (kind, sent monotonic, upload key or None)
        self.unconfirmed = {}        # upload key -> frame bytes (kept until confirmed)
        self.confirmed_uploads = set()  # keys of the uploads the station confirmed
        self.target = 0                 # which of the swarm's station addresses it dials
        self.events = {1: [], 2: []}  # fn -> [record]
        self.read_upto = {1: 0, 2: 0}
        self.archive = [self._archive_entry(pn) for pn in range(1, meters + 1)]
        self._last_request = None    # (seq, bytes, [reply bytes])
        self._timers = []
        self.requests = []           # (afn, [(pn, fn)]) of every request carried out
        self.heartbeats_sent = 0
        self.heartbeats_confirmed = 0
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()

    # ------------------------------------------------------------------ clock
    def now(self):
        return time.time() + self.clock_offset_s

    @staticmethod
    def now_from(offset):
        return (time.time() + offset) // BACKLOG_STEP_S * BACKLOG_STEP_S

    def local(self, seconds=None):
        seconds = self.now() if seconds is None else seconds
        return datetime.datetime.fromtimestamp(seconds, self.zone)

    def _t15(self, moment):
        return (moment.year, moment.month, moment.day, moment.hour, moment.minute)

    # ------------------------------------------------------------------ connection
    def connection_made(self, transport):
        self.transport = transport
        self.deframer.reset()
        self.connected.set()
        self.closed.clear()
        self.login_sent_at = time.monotonic()
        self._send_initiated(gw376.link_frame(1, self.area, self.address, 0), "login")

    def connection_lost(self, exc):
        self.logged_in = False
        self.transport = None
        for timer in self._timers:
            timer.cancel()
        self._timers = []
        self.waiting.clear()
        self.connected.clear()
        self.closed.set()
        if self.swarm is not None:
            self.swarm.lost(self)

    def close(self):
        if self.transport is not None:
            self.transport.close()

    def quiet(self):
        """Stop starting heartbeats and uploads (answers still go out)."""
        for timer in self._timers:
            timer.cancel()
        self._timers = []

    def _write(self, data):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)  # pyright: ignore[reportAttributeAccessIssue] - an asyncio TCP transport writes

    def _next_pseq(self):
        seq = self.pseq
        self.pseq = (self.pseq + 1) & 0x0F
        return seq

    def _uplink(self, frame):
        """Set ACD + EC while important events are unread."""
        if self.read_upto[1] != len(self.events[1]) & 0xFF:
            frame.acd = 1
            frame.ec = (len(self.events[1]) & 0xFF, len(self.events[2]) & 0xFF)
        return frame

    def _send_initiated(self, frame, kind, key=None):
        frame.seq = self._next_pseq()
        self._uplink(frame)
        self.waiting[frame.seq] = (kind, time.monotonic(), key)
        data = gw376.build(frame)
        if key is not None:
            self.unconfirmed[key] = frame
        self._write(data)

    def _every(self, period, action):
        loop = asyncio.get_running_loop()

        def fire():
            if self.transport is None:
                return
            action()
            self._timers.append(loop.call_later(period, fire))
        # spread the first one over the period so a swarm does not beat in step
        self._timers.append(loop.call_later(random.uniform(0.2, 1.0) * period, fire))

    def heartbeat(self):
        self.swarm.stats["heartbeats_sent"] += 1
        self.heartbeats_sent += 1
        self._send_initiated(gw376.link_frame(3, self.area, self.address, 0), "heartbeat")

    def upload(self):
        """Upload the current readings of every meter (AFN0C F129, CON set); with a backlog,
        the next 15-minute round of it instead, until the backlog has caught up with now."""
        seconds = self.now()
        if self.backlog_from is not None:
            if self.backlog_from < seconds:
                seconds, self.backlog_from = self.backlog_from, self.backlog_from + BACKLOG_STEP_S
            else:
                self.backlog_from = None
        moment = self.local(seconds)
        units = [(pn, 129, self._energy_unit(pn, seconds, moment)) for pn in
                 range(1, self.meters + 1)]
        key = (self._t15(moment), self.meters)
        if key in self.unconfirmed:
            return
        if self.upload_format == "f241":
            frame = self.ring_upload(seconds, moment)
            key = ("seq", self.ring_seq)
        else:
            frame = gw376.Frame(0x0C, units, gw376.UP, 1, None, self.area, self.address,
                                con=True)
            if self._class2_asks(89):
                self._upload_curve(key, moment)
        self.swarm.stats["uploads_sent"] += 1
        self._send_initiated(frame, "upload", key)

    def _class2_asks(self, fn):
        for (cls, _), task in self.report_tasks.items():
            if cls == 2 and task["running"] and any(f == fn for _, f in task["units"]):
                return True
        return False

    def _upload_curve(self, key, moment):
        """The round's voltage curve point of every meter (AFN0D F89, Td_c = the round's
        time, density 15 minutes, one point of VOLTAGE_A), as a class 2 task asks for it."""
        point = {"start": self._t15(moment), "density": 1, "points": 1, "values": [VOLTAGE_A]}
        frame = gw376.Frame(0x0D, [(pn, 89, point) for pn in range(1, self.meters + 1)],
                            gw376.UP, 1, None, self.area, self.address, con=True)
        self.swarm.stats["uploads_sent"] += 1
        self._send_initiated(frame, "upload", key + (89,))

    def ring_upload(self, seconds, moment):
        """An AFN0D upload as the firmware's store-and-forward sends it (protocol/gw376_upload):
        the vendor unit F241 with one reading record per meter (forward active energy total and
        t1..t4 in 0.01 kWh, ring-log item ids 1..5), numbered on from ring_seq."""
        first = self.ring_seq + 1
        stamp = int((moment.replace(tzinfo=None) - datetime.datetime(2000, 1, 1))
                    .total_seconds()) // 60 * 60
        body = bytearray()
        for pn in range(1, self.meters + 1):
            total = energy_value(self.address, pn, seconds) // 100
            payload = bytearray()
            for item, value in zip(range(1, 6), [total] + [total // TARIFFS] * TARIFFS,
                                   strict=True):
                payload += _varint(item << 1) + _varint(value << 1)
            body += bytes((1, pn & 0xFF, pn >> 8)) + stamp.to_bytes(4, "little") + \
                bytes((len(payload),)) + payload
        self.ring_seq += self.meters
        raw = first.to_bytes(4, "little") + bytes((self.meters,)) + bytes(body)
        return gw376.Frame(0x0D, [(0, 241, raw)], gw376.UP, 1, None, self.area, self.address,
                           con=True)

    def resend_unconfirmed(self):
        for key, frame in list(self.unconfirmed.items()):
            self.swarm.stats["uploads_resent"] += 1
            self._send_initiated(frame, "upload", key)

    # ------------------------------------------------------------------ frames in
    def data_received(self, data):
        for raw in self.deframer.frames(data):
            try:
                frame = gw376.parse(raw)
            except ProtocolError as exc:
                log.warning("T%d: unreadable frame from the station: %s", self.address, exc)
                continue
            if frame.direction != gw376.DOWN:
                continue
            if frame.prm:
                self._request(frame, raw)
            else:
                self._answer(frame)

    def _answer(self, frame):
        waited = self.waiting.pop(frame.seq, None)
        if waited is None:
            return
        kind, sent, key = waited
        confirmed = frame.afn == 0 and any(fn == 1 for _, fn, _ in frame.units)
        stats = self.swarm.stats
        if kind == "login":
            if confirmed:
                self.logged_in = True
                stats["logins"] += 1
                self.swarm.login_latencies.append(time.monotonic() - sent)
                self._every(self.heartbeat_s, self.heartbeat)
                if self.upload_every_s:
                    self._every(self.upload_every_s, self.upload)
                self.resend_unconfirmed()
            else:
                self.login_denied = True
                stats["logins_denied"] += 1
        elif kind == "heartbeat":
            if confirmed:
                stats["heartbeats_confirmed"] += 1
                self.heartbeats_confirmed += 1
                self.swarm.heartbeat_latencies.append(time.monotonic() - sent)
        elif kind == "upload" and confirmed:
            stats["uploads_confirmed"] += 1
            self.confirmed_uploads.add(key)
            self.unconfirmed.pop(key, None)

    def _request(self, frame, raw):
        if frame.afn in self.drop_on_afns:
            self.drop_on_afns.discard(frame.afn)
            self.close()
            return
        if self.ignore_requests > 0:
            self.ignore_requests -= 1
            return
        if self._last_request is not None and self._last_request[0] == frame.seq and \
                self._last_request[1] == raw:
            for data in self._last_request[2]:        # a repeat: the cached answer again
                self._write(data)
            return
        replies = [gw376.build(self._uplink(r)) for r in self._replies(frame)]
        self._last_request = (frame.seq, bytes(raw), replies)
        for data in replies:
            self._write(data)

    def _replies(self, frame):
        self.requests.append((frame.afn, [(pn, fn) for pn, fn, _ in frame.units]))
        if frame.afn in self.deny_afns:
            return [gw376.deny(frame)]
        if gw376.needs_pw(frame.afn, gw376.DOWN) and frame.pw != self.password:
            self.authentication_error(frame)
            return [gw376.deny(frame)]
        handler = {0x0C: self._class1, 0x0D: self._class2, 0x0E: self._events_reply,
                   0x05: self._control, 0x09: self._version, 0x0A: self._query,
                   0x10: self._forward,
                   0x04: self._set}.get(frame.afn)
        units = handler(frame) if handler else None
        if units is None:
            return [gw376.deny(frame)]
        if units == "confirm":
            return [gw376.confirm(frame)]
        return gw376.responses(frame, units, max_user_data=self.max_user_data)

    def _energy_unit(self, pn, seconds, moment, td=None):
        total = energy_value(self.address, pn, seconds)
        unit = {"read_time": self._t15(moment), "tariffs": TARIFFS,
                "forward_active": [total] + [total // TARIFFS] * TARIFFS}
        if td is not None:
            unit["td"] = td
        return unit

    def _class1(self, frame):
        seconds = self.now()
        moment = self.local(seconds)
        out = []
        for pn, fn, _ in frame.units:
            if fn == 2 and pn == 0:
                out.append((0, 2, (moment.year, moment.month, moment.day, moment.hour,
                                   moment.minute, moment.second, moment.isoweekday())))
            elif fn in (33, 129) and 1 <= pn <= self.meters:
                out.append((pn, fn, self._energy_unit(pn, seconds, moment)))
            else:
                return None
        return out

    def _class2(self, frame):
        out = []
        for pn, fn, td in frame.units:
            if fn not in (161, 177) or not 1 <= pn <= self.meters or not td:
                return None
            if fn == 161:
                day = datetime.datetime(td[0], td[1], td[2], tzinfo=self.zone)
            else:         # monthly: the freeze at 00:00 of the next month's first day
                day = datetime.datetime(td[0] + td[1] // 12, td[1] % 12 + 1, 1, tzinfo=self.zone)
            if day.timestamp() > self.now():
                return None
            out.append((pn, fn, self._energy_unit(pn, day.timestamp(), day, td=tuple(td))))
        return out

    def _events_reply(self, frame):
        out = []
        for _, fn, pointers in frame.units:
            records = self.events.get(fn)
            if records is None or not pointers:
                return None
            pm, pn = pointers["pm"], pointers["pn"]
            chosen = [records[(pm + i) & 0xFF] if (pm + i) & 0xFF < len(records) else
                      {"erc": 1, "raw": b"\xee" * 5}
                      for i in range((pn - pm) & 0xFF)]
            self.read_upto[fn] = pn
            out.append((0, fn, {"ec_important": len(self.events[1]) & 0xFF,
                                "ec_normal": len(self.events[2]) & 0xFF,
                                "pm": pm, "pn": pn, "records": chosen}))
        return out

    def raise_event(self, record, important=True):
        self.events[1 if important else 2].append(record)

    def authentication_error(self, frame):
        """A request with a wrong PW: recorded as ERC20 (time, the PW received, the master's
        address), an important event, as 1376.1 terminals do."""
        moment = self.local()
        self.raise_event({"erc": ERC_AUTHENTICATION,
                          "time": (moment.year, moment.month, moment.day, moment.hour,
                                   moment.minute),
                          "pw": bytes(frame.pw or bytes(16)), "master": frame.master})

    def relay_event(self, pn, command, outcome):
        moment = self.local()
        when = bytes((_bcd(moment.minute), _bcd(moment.hour), _bcd(moment.day),
                      _bcd(moment.month), _bcd(moment.year % 100)))
        tripped = (command == 0x1A) == (outcome == 0)      # the relay's state afterwards
        if self.relay_record == "erc60":
            raw = when + bytes((pn & 0xFF, ((pn >> 8) & 0x0F) | (0x80 if outcome == 0 else 0),
                                command, outcome, 0x10 if tripped else 0x00, 0x00))
            self.raise_event({"erc": ERC_RELAY, "raw": raw})
            return
        # ERC33: time, pn, change flags ST1..ST7, status words ST1..ST7; only word 3 known
        words = bytearray(b"\xee" * 28)
        words[4:6] = (b"\x10" if outcome == 0 else b"\x00") + b"\x00"
        words[18:20] = (b"\x10" if tripped else b"\x00") + b"\x00"
        self.raise_event({"erc": ERC_STATUS_WORDS,
                          "raw": when + bytes((pn & 0xFF, (pn >> 8) & 0x0F)) + bytes(words)})

    def _control(self, frame):
        if len(frame.units) != 1:
            return None
        pn, fn, value = frame.units[0]
        if fn == 31 and value:
            wanted = datetime.datetime(*value[:6], tzinfo=self.zone).timestamp()
            self.clock_offset_s = wanted - time.time()
            return "confirm"
        if fn in (1, 2) and self.swarm is not None:
            self.swarm.stats["relay_commands"] += 1     # each AFN05 F1/F2 carried out
        if fn in (1, 2) and 1 <= pn <= self.meters and self.afn05_per_point:
            if self.relay_outcome is not None:
                outcome, command = self.relay_outcome, (0x1A if fn == 1 else 0x1B)
                asyncio.get_running_loop().call_later(
                    self.relay_delay_s, self.relay_event, pn, command, outcome)
            return "confirm"
        return None

    def _forward(self, frame):
        """AFN10 F1: the DL/T 645 frame to the meter on that port that it addresses."""
        from protocol import dlt645
        out = []
        for pn, fn, value in frame.units:
            if fn != 1 or not value:
                return None
            try:
                request = dlt645.parse_frame(value["data"])
            except ProtocolError:
                return None
            reply = None
            for meter in self.bus_meters.get(value["port"], ()):
                if meter.addressed(request):
                    reply = meter.handle(request)
            if reply is None:
                return None
            out.append((pn, 1, {"port": value["port"], "data": reply}))
        return out

    def _version(self, frame):
        return [(0, 1, {"vendor": "SIMU", "device": "%08d" % self.address,
                        "software_version": "0001", "software_date": (2026, 11, 1),
                        "capacity": "SIM-SWARM  ", "protocol_version": "1376",
                        "hardware_version": "0001", "hardware_date": (2026, 11, 1)})]

    def _archive_entry(self, pn):
        return {"serial": pn, "point": pn, "baud": 2400, "port": 2, "protocol": 30,
                "address": "%06d%06d" % (self.address % 1000000, pn), "password": bytes(6),
                "tariffs": TARIFFS, "integer_digits": 6, "decimal_digits": 2,
                "collector": "000000000000", "user_class": 0, "user_subclass": 0}

    def _query(self, frame):
        out = []
        for pn, fn, value in frame.units:
            if fn != 10:
                return None
            serials = set((value or {}).get("serials") or ())
            out.append((pn, 10, {"meters": [m for m in self.archive
                                            if not serials or m["serial"] in serials]}))
        return out

    def _set(self, frame):
        for pn, fn, value in frame.units:
            if 65 <= fn <= 68:
                if not self._report_task(pn, fn, value):
                    return None
                continue
            if fn != 10:
                return None
            keep = {m["serial"]: m for m in self.archive}
            for meter in value["meters"]:
                keep[meter["serial"]] = meter
            self.archive = [keep[k] for k in sorted(keep)]
        return "confirm"


    def _report_task(self, pn, fn, value):
        """AFN04 F65/F66 (a timed report task) and F67/F68 (start/stop). A started class 1
        task that asks for F129 makes a terminal without --upload-every upload its energy every
        period (`task_minute_s` seconds per minute, so tests can run a day quickly)."""
        cls = 1 if fn in (65, 67) else 2
        if fn <= 66:
            self.report_tasks[(cls, pn)] = dict(value, running=False)
            return True
        task = self.report_tasks.get((cls, pn))
        if task is None or value["action"] not in (0x55, 0xAA):
            return False
        task["running"] = value["action"] == 0x55
        if cls == 1 and task["running"] and not self.upload_every_s and task["unit"] == 0 and \
                any(f == 129 for _, f in task["units"]) and self.transport is not None:
            self.upload_every_s = task["period"] * self.task_minute_s
            self._every(self.upload_every_s, self.upload)
        return True


class Swarm:
    """Many SimTerminals against one station, with shared statistics.

    `targets` [(host, port), ...]: several station addresses (front ends on one database), as a
    terminal holds a main and a backup station address (1376.1 AFN04 F3). Terminal i dials
    target i modulo their number first, and each failed dial moves it on to the next."""

    def __init__(self, host, port, count, area=4101, first_address=1, meters=8,
                 heartbeat_s=60.0, upload_every_s=None, password=bytes(16), zone=None,
                 reconnect_s=None, targets=None, **options):
        self.host, self.port = host, port
        self._targets = list(targets or ())
        self.reconnect_s = reconnect_s
        self.terminals = [SimTerminal(self, area, first_address + i, meters=meters,
                                      heartbeat_s=heartbeat_s, upload_every_s=upload_every_s,
                                      password=password, zone=zone, **options)
                          for i in range(count)]
        self.stats = dict.fromkeys(("connected", "connect_failures", "logins", "logins_denied",
                                    "heartbeats_sent", "heartbeats_confirmed", "uploads_sent",
                                    "uploads_confirmed", "uploads_resent", "disconnects",
                                    "redials_failed", "relay_commands"), 0)
        for index, terminal in enumerate(self.terminals):
            terminal.target = index % len(self.targets)
        self.heartbeat_latencies = []
        self.login_latencies = []
        self._closing = False
        self._redials = set()

    @property
    def targets(self):
        return self._targets or [(self.host, self.port)]

    async def connect(self, terminal, quiet=False):
        loop = asyncio.get_running_loop()
        host, port = self.targets[terminal.target]
        try:
            await loop.create_connection(lambda: terminal, host, port)
            self.stats["connected"] += 1
            return True
        except OSError as exc:
            self.stats["connect_failures"] += 1
            terminal.target = (terminal.target + 1) % len(self.targets)
            log.log(logging.DEBUG if quiet else logging.WARNING, "T%d: cannot connect: %s",
                    terminal.address, exc)
            return False

    async def start(self, ramp_per_s=1000.0):
        """Connect every terminal, at most `ramp_per_s` new connections a second."""
        step = max(1, int(ramp_per_s // 20))
        for start in range(0, len(self.terminals), step):
            began = time.monotonic()
            batch = self.terminals[start:start + step]
            for terminal, connected in zip(batch, await asyncio.gather(
                    *(self.connect(t) for t in batch)), strict=True):
                if not connected and self.reconnect_s is not None:
                    self._redials.add(asyncio.ensure_future(self.redial(terminal)))
            pause = step / ramp_per_s - (time.monotonic() - began)
            if pause > 0:
                await asyncio.sleep(pause)

    async def wait_logged_in(self, timeout):
        """True once every terminal has logged in (or been denied), within `timeout` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(t.logged_in or t.login_denied for t in self.terminals):
                return True
            await asyncio.sleep(0.05)
        return False

    def lost(self, terminal):
        self.stats["disconnects"] += 1
        if self.reconnect_s is not None and not self._closing:
            self._redials.add(asyncio.ensure_future(self.redial(terminal)))

    async def redial(self, terminal, max_backoff_s=REDIAL_MAX_S):
        """Connect again until it works, as a concentrator does when its station is gone:
        after reconnect_s, then twice as long each failure up to max_backoff_s, each wait
        drawn from its upper half at random so that a swarm does not redial in step."""
        wait = self.reconnect_s
        try:
            while not self._closing:
                await asyncio.sleep(wait * random.uniform(0.5, 1.0) if wait else 0)
                if self._closing or await self.connect(terminal, quiet=True):
                    return
                self.stats["redials_failed"] += 1
                wait = min(max(wait * 2, 0.1), max_backoff_s)  # pyright: ignore[reportOptionalOperand] - set before the first retry
        finally:
            self._redials.discard(asyncio.current_task())

    async def close(self, drain_s=2.0):
        """Stop sending, wait up to `drain_s` for the confirmations still on their way, close;
        the report() taken just before closing."""
        self._closing = True
        for task in list(self._redials):
            task.cancel()
        for terminal in self.terminals:
            terminal.quiet()
        deadline = time.monotonic() + drain_s
        while time.monotonic() < deadline and any(
                kind == "heartbeat" for t in self.terminals for kind, _, _ in t.waiting.values()):
            await asyncio.sleep(0.05)
        final = self.report()
        for terminal in self.terminals:
            terminal.close()
        await asyncio.sleep(0)
        return final

    def report(self):
        """Counts and latency percentiles (milliseconds)."""
        out = dict(self.stats)
        out["online"] = sum(1 for t in self.terminals if t.logged_in)  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
        # held: logged in, heard back on every heartbeat it sent, and it sent at least one
        out["held"] = sum(1 for t in self.terminals if t.logged_in and t.heartbeats_sent and  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
                          t.heartbeats_confirmed == t.heartbeats_sent)
        out["heartbeats_unconfirmed"] = out["heartbeats_sent"] - out["heartbeats_confirmed"]  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
        # held_uploading: held, and the station confirmed (stored) at least one of its uploads
        out["held_uploading"] = sum(1 for t in self.terminals if t.logged_in and  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
                                    t.heartbeats_sent and
                                    t.heartbeats_confirmed == t.heartbeats_sent and
                                    t.confirmed_uploads)
        # uploads the station confirmed, each counted once however often it was sent, and
        # those it has not (yet): together what the station must hold
        out["uploads_confirmed_distinct"] = sum(len(t.confirmed_uploads) for t in self.terminals)  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
        out["uploads_unconfirmed"] = sum(len(t.unconfirmed) for t in self.terminals)  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
        for name, values in (("heartbeat", self.heartbeat_latencies),
                             ("login", self.login_latencies)):
            ordered = sorted(values)
            for pct in (50, 99):
                out["%s_p%d_ms" % (name, pct)] = (  # pyright: ignore[reportArgumentType] - the summary adds keys to the counters
                    round(1000 * ordered[min(len(ordered) - 1, len(ordered) * pct // 100)], 2)
                    if ordered else None)
        return out
