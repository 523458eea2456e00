"""The Q/GDW 1376.1 terminal: what the concentrator answers to the master station's requests.

    term = Terminal(settings, wall, log=None, archive=None, latest=None, relay=None,
                    store=None, forwarder=None, on_clock_set=None, on_reset=None, version=None)
    replies = await term.handle(frame)        # a parsed downlink request -> [reply bytes]
    term.link_frame(fn)                       # AFN02 F1 login / F2 logout / F3 heartbeat bytes
    term.next_pseq()                          # PSEQ of the next frame the terminal starts

It knows nothing of modems or sockets: firmware/link.py feeds it frames and sends what it
returns. RAM: the 1376.1 codec (protocol.gw376) is imported only when a request comes
(`codec()`) and dropped after CODEC_IDLE_S without one (`idle()`); link frames are built by
hand; the answers from the ring log's history (firmware/terminal_history.py) and the
administration requests (firmware/terminal_admin.py sets the settings, terminal_query.py reads
them, terminal_control.py: clock, relays, forwarding) are imported for one request.
Requests answered (anything else: AFN00 F2 deny):

    AFN01 F1            hardware reset: confirmed, then on_reset() once the answer is out
    AFN04 / AFN0A       F1 comm parameters, F3 master address + APN, F8 online mode, F10 meter
                        archive: a set is validated whole, saved atomically (store.save), and
                        recorded as ERC3 (time, master, changed units) in the ring log
    AFN05 F1 / F2       remote trip / permit close of the meter at measuring point Pn (our
                        mapping; the standard's Pn is a control round): queued on the meter's
                        bus (relay.submit), answered with the poller's outcome (denied when the
                        meter refused, did not answer or its status word disagrees), or
                        confirmed as queued when the outcome takes longer than the answer may
                        wait; the relay state follows as ERC33 (status word 3)
    AFN05 F31           time sync: the wall clock is set, then on_clock_set(old, new) (the
                        poller broadcasts the time to the meters)
    AFN09 F1            terminal version
    AFN0C F2 F25 F33 F129   clock, power/voltage/current, forward energy from the latest
                        readings (`latest.reading(point)` -> (seconds, {quantity: value}) or None)
    AFN0D F161 F177     daily / monthly frozen forward active energy from the ring log by date
    AFN0E F1 F2         important / normal events by pointer pm..pn (firmware/uplink.py keeps
                        the event index)
    AFN10 F1            transparent forwarding to a local bus (forwarder.forward(port, data,
                        frame_timeout_ms, byte_timeout_ms) -> reply bytes, or None: denied;
                        on the board the forwarder is the poller, firmware/forwarding.py)

Rules kept for every request:
- PW: AFN01/04/05/0F/10 carry 16 bytes of PW, compared in constant time with comm.password
  (hex, the 16 bytes in wire order, as the station's terminal PW; empty = 16 zero bytes). A wrong or missing PW is denied and
  recorded as ERC20 with the PW field zeroed: the ring log and every log line stay free of
  secrets (settings.show hides the password too).
- Tp: a request whose time label has expired (its send time plus allowed delay is before the
  terminal's clock) is dropped unanswered, as the standard asks.
- FCB: a master that repeats a request (same PSEQ, same bytes: it did not get our answer) gets
  the cached answer again without the request being carried out twice (a trip is not sent to
  the meter twice).
- Replies longer than the link's frame limit go as several frames (FIR/FIN, RSEQ counting up).
"""
from firmware.unloading import unload_module
from protocol import clock_math
from protocol.clock_math import packed_bcd
from protocol.compat import const
from protocol.errors import ProtocolError

ERC20 = const(20)
EVENT = const(0x02)         # firmware.ringlog.EVENT
READINGS = const(0x01)

# quantities (firmware/quantities.py): numbers of the stored items
_Q_ENERGY = const(1)        # energy_fwd_total, t1..t4 follow
_Q_VOLTAGE = const(11)
_Q_CURRENT = const(14)
_Q_POWER = const(17)
_Q_PF = const(21)

VERSION = {"vendor": "CONC", "device": "CONC0001", "software_version": "0100",
           "software_date": (2026, 11, 1), "capacity": "2040PTS", "protocol_version": "1376",
           "hardware_version": "V100", "hardware_date": (2026, 1, 1)}

_ON_DEMAND_AFNS = (0x04, 0x05, 0x0A, 0x0D, 0x10)  # terminal_admin/_query/_control/_history


_codec = None
CODEC_IDLE_S = const(60)


def codec():
    """protocol.gw376, loaded when a request comes: the full 1376.1 codec is the biggest piece
    of the uplink (57 KB of heap on the unix port), and logins, heartbeats, confirms and uploads
    are built and read without it."""
    global _codec
    if _codec is None:
        from protocol import gw376
        _codec = gw376
    return _codec


# The codec's core: what every request needs; it stays CODEC_IDLE_S. protocol.bcd belongs here:
# gw376 and gw376_formats hold it from their import, and a copy imported again by a request
# would sit beside theirs.
_CODEC_MODULES = ("protocol.gw376", "protocol.gw376_units", "protocol.gw376_fields",
                  "protocol.gw376_dadt", "protocol.gw376_formats", "protocol.bcd")
# What one request may load beside the core: the handlers, the unit families' coders and what a
# set validates and stores with. Dropped as soon as the request is answered, so the next request
# (the station sends several after its login, while the backlog goes out) does not carry the
# last one's modules on top of its own. None of the core's modules imports these at its top.
_REQUEST_MODULES = ("firmware.terminal_admin", "firmware.terminal_query",
                    "firmware.terminal_archive", "firmware.terminal_control",
                    "firmware.terminal_history", "protocol.gw376_unit_ids",
                    "protocol.gw376_unit_archive", "protocol.gw376_unit_events",
                    "protocol.gw376_unit_energy", "protocol.gw376_unit_forward",
                    "protocol.gw376_unit_text", "protocol.meter_record", "protocol.settings",
                    "protocol.pw", "protocol.report_tasks")


def release_request():
    """Drop what the last request loaded beside the codec's core."""
    for name in _REQUEST_MODULES:
        unload_module(name)


def release_codec():
    """Drop the codec again (after CODEC_IDLE_S without requests)."""
    global _codec
    if _codec is not None:
        _codec = None
        release_request()
        for name in _CODEC_MODULES:
            unload_module(name)


def pw_bytes(text):
    """The 16-byte PW the configured comm.password stands for: 32 hex digits in wire order
    (protocol/settings.py pw_hex), or "" for none (16 zero bytes); None when it is neither,
    so no PW matches it."""
    if not text:
        return bytes(16)
    if len(text) != 32:
        return None
    from binascii import unhexlify
    try:
        return unhexlify(text)
    except ValueError:
        return None


def _same(a, b):
    """Compare two PWs in time independent of where they differ."""
    if a is None or b is None or len(a) != len(b):
        return False
    diff = 0
    for i in range(len(b)):
        diff |= a[i] ^ b[i]
    return diff == 0


class SettingsFile:
    """Settings kept as JSON on the board's filesystem, replaced atomically (temp + rename)."""

    def __init__(self, path="settings.json"):
        self.path = path

    def save(self, settings):
        import json
        import os
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(settings, f)
        os.rename(tmp, self.path)


class Terminal:
    def __init__(self, settings, wall, log=None, archive=None, latest=None, relay=None,
                 store=None, forwarder=None, on_clock_set=None, on_reset=None, version=None,
                 events=None, kernel=None, max_user_data=1452):
        self.settings = settings
        self.wall = wall
        self.log = log
        self.archive = archive
        self.latest = latest
        self.relay = relay
        self.store = store
        self.forwarder = forwarder
        self.on_clock_set = on_clock_set
        self.on_reset = on_reset
        self.version = version or VERSION
        self.events = events              # firmware.uplink.EventIndex (AFN0E, ACD/EC)
        self.kernel = kernel
        self.max_user_data = max_user_data
        self._pseq = 0
        self._last_request = None         # bytes of the last request answered
        self._last_replies = None
        self.reset_pending = False
        self.codec_at = 0
        self.stats = {"requests": 0, "denied": 0, "pw_denied": 0, "expired": 0, "repeats": 0}

    # --- frames the terminal starts -------------------------------------------------------
    @property
    def area(self):
        return self.settings["terminal.area"]

    @property
    def address(self):
        return self.settings["terminal.address"]

    def next_pseq(self):
        seq = self._pseq
        self._pseq = (seq + 1) & 0x0F
        return seq

    def link_frame(self, fn, seq=None):
        """AFN02 login (F1), logout (F2) or heartbeat (F3) as bytes, built by hand (no codec
        needed): C9 A AFN02 SEQ(FIR FIN CON) p0 Fn [clock] [EC] CS 16. The heartbeat carries
        the terminal's clock (format 01) as Q/GDW 1376.1-2013 has it, or nothing as the 2009
        edition has it (comm.heartbeat_clock 0, for masters of that edition)."""
        if seq is None:
            seq = self.next_pseq()
        out = bytearray(b"\x68\x00\x00\x00\x00\x68")
        ev = self.events
        acd = ev is not None and ev.unread_important()
        area = self.area
        out.append(0xE9 if acd else 0xC9)
        out.append(packed_bcd(area % 100))
        out.append(packed_bcd(area // 100 % 100))
        out.append(self.address & 0xFF)
        out.append(self.address >> 8)
        out.append(0)
        out.append(0x02)
        out.append(0x70 | (seq & 0x0F))
        out.extend(b"\x00\x00")
        out.append(1 << (fn - 1))
        out.append(0)
        if fn == 3 and self.settings.get("comm.heartbeat_clock", 1):
            # format 01: ss mm hh DD (week << 5 | MM) YY
            t = self.wall.calendar()
            out.append(packed_bcd(t[5]))
            out.append(packed_bcd(t[4]))
            out.append(packed_bcd(t[3]))
            out.append(packed_bcd(t[2]))
            out.append(t[6] << 5 | packed_bcd(t[1]))
            out.append(packed_bcd(t[0] % 100))
        if acd:
            ec = ev.counters()  # pyright: ignore[reportOptionalMemberAccess] - the event log exists when ACD is set
            out.append(ec[0])
            out.append(ec[1])
        length = len(out) - 6
        out[1] = out[3] = (length << 2 | 2) & 0xFF
        out[2] = out[4] = length >> 6
        total = 0
        for i in range(6, len(out)):
            total += out[i]
        out.append(total & 0xFF)
        out.append(0x16)
        return bytes(out)

    def idle(self):
        """Called by the link between frames: drop the codec when requests stopped."""
        if _codec is not None and self.wall.now() - self.codec_at >= CODEC_IDLE_S:
            release_codec()

    def _ack_bits(self, frame):
        """ACD and EC on uplink frames while important events wait for the master."""
        ev = self.events
        if ev is not None and ev.unread_important():
            frame.acd = 1
            frame.ec = ev.counters()

    # --- requests ----------------------------------------------------------------------------
    def addressed_to_me(self, frame):
        if frame.direction != codec().DOWN:
            return False
        if frame.area != self.area:
            return False
        return frame.terminal == self.address or (frame.group and frame.terminal == 0xFFFF)

    async def handle(self, frame, raw=None):
        """Answer one downlink request (PRM = 1); returns the reply frames as bytes."""
        try:
            return await self._answer(frame, raw)
        finally:
            release_request()

    async def _answer(self, frame, raw):
        self.stats["requests"] += 1
        self.codec_at = self.wall.now()
        if raw is not None and self._last_request is not None and frame.fcv and \
                raw == self._last_request:
            self.stats["repeats"] += 1
            return self._last_replies
        if frame.tp is not None and self._tp_expired(frame.tp):
            self.stats["expired"] += 1
            return []
        afn = frame.afn
        if codec().needs_pw(afn, codec().DOWN) and not self._pw_ok(frame):
            self.stats["pw_denied"] += 1
            self._record_pw_failure(frame)
            return self._out(frame, [codec().deny(frame)], raw)
        try:
            replies = await self._dispatch(frame)
        except (ProtocolError, ValueError, KeyError, TypeError, OSError) as exc:
            # a request we cannot carry out is denied; the reason is not secret
            print("uplink: request AFN%02X denied: %s" % (afn, exc))
            replies = None
        if replies is None:
            self.stats["denied"] += 1
            replies = [codec().deny(frame)]
        return self._out(frame, replies, raw)

    def _out(self, frame, replies, raw):
        out = []
        for reply in replies:
            self._ack_bits(reply)
            out.append(codec().build(reply))
        if raw is not None and frame.fcv:
            self._last_request = bytes(raw)
            self._last_replies = out
        return out

    def _tp_expired(self, tp):
        t = self.wall.calendar()
        return codec().tp_expired(tp, t[2], t[3], t[4], t[5])

    def _pw_ok(self, frame):
        return _same(frame.pw, pw_bytes(self.settings.get("comm.password", "")))

    def _record_pw_failure(self, frame):
        if self.log is None:
            return
        body = bytearray()
        self._put_time15(body, self.wall.now())
        body.extend(bytes(16))          # the PW field is zeroed: secrets never reach the log
        body.append(frame.master & 0xFF)
        self._event(ERC20, body)

    def _put_time15(self, out, seconds):
        out.extend(clock_math.format15(seconds))

    def _event(self, erc, body):
        from firmware.log_records import append_event
        append_event(self.log, 0, self.wall.now(), erc, body)

    async def _dispatch(self, frame):
        afn = frame.afn
        if afn == codec().AFN_CLASS1:
            return self._class1(frame)
        if afn == codec().AFN_CLASS3:
            return self._class3(frame)
        if afn == codec().AFN_CONFIG:
            if all(fn == 1 for _, fn, _ in frame.units):
                return self._reply(frame, [(0, 1, self.version)])
            return None
        if afn == codec().AFN_RESET:
            if [u[1] for u in frame.units] == [1]:
                self.reset_pending = True
                return [codec().confirm(frame)]
            return None
        if afn not in _ON_DEMAND_AFNS:
            return None
        # history, parameters, control, forwarding: loaded for this request only (handle()
        # drops them with release_request())
        if afn == codec().AFN_CLASS2:
            from firmware import terminal_history
            return terminal_history.class2(self, frame)
        if afn == codec().AFN_CONTROL or afn == codec().AFN_FORWARD:
            from firmware import terminal_control as control
            if afn == codec().AFN_CONTROL:
                return await control.control(self, frame)
            return await control.forward(self, frame)
        if afn == codec().AFN_QUERY:
            from firmware import terminal_query
            return terminal_query.query(self, frame)
        from firmware import terminal_admin
        return terminal_admin.set_params(self, frame)

    def _reply(self, frame, units):
        return codec().responses(frame, units, self.max_user_data)

    # --- AFN0C: class 1 data -------------------------------------------------------------------
    def _class1(self, frame):
        units = []
        for pn, fn, _ in frame.units:
            if fn == 2 and pn == 0:
                units.append((0, 2, self.wall.calendar()))
                continue
            if fn not in (25, 33, 129) or pn == 0:
                return None
            for point in self._points(pn):
                value = self._current(point, fn)
                if value is not None:
                    units.append((point, fn, value))
        return self._reply(frame, units) if units else None

    @staticmethod
    def energy_units(values, base):
        """[total, t1..t4] in format 14 (0.0001 kWh) from stored 0.01 kWh quantities, or None."""
        total = values.get(_Q_ENERGY + base)
        if total is None and values.get(_Q_ENERGY + base + 1) is None:
            return None
        out = []
        for q in range(_Q_ENERGY + base, _Q_ENERGY + base + 5):
            v = values.get(q)
            out.append(None if v is None else v * 100)
        return out

    def _points(self, pn):
        if pn != codec().PN_ALL:
            return (pn,)
        if self.archive is None:
            return ()
        return self.archive.points()

    def _current(self, point, fn):
        if self.latest is None:
            return None
        found = self.latest.reading(point)
        if found is None:
            return None
        seconds, values = found
        read_time = clock_math.from_seconds(seconds)[:5]
        if fn == 25:
            def get(q):
                return values.get(q)
            return {"read_time": read_time,
                    "active_power": [get(_Q_POWER), get(_Q_POWER + 1), get(_Q_POWER + 2),
                                     get(_Q_POWER + 3)],
                    "reactive_power": [None, None, None, None],
                    "power_factor": [get(_Q_PF), get(_Q_PF + 1), get(_Q_PF + 2),
                                     get(_Q_PF + 3)],
                    "voltage": [get(_Q_VOLTAGE), get(_Q_VOLTAGE + 1), get(_Q_VOLTAGE + 2)],
                    "current": [get(_Q_CURRENT), get(_Q_CURRENT + 1), get(_Q_CURRENT + 2)],
                    "zero_sequence_current": None,
                    "apparent_power": [None, None, None, None]}
        energy = self.energy_units(values, 0)
        if energy is None:
            return None
        if fn == 129:
            return {"read_time": read_time, "tariffs": 4, "forward_active": energy}
        return {"read_time": read_time, "tariffs": 4, "forward_active": energy,
                "forward_reactive": [None] * 5, "q1_reactive": [None] * 5,
                "q4_reactive": [None] * 5}

    # --- AFN0E: events by pointer ------------------------------------------------------------
    def _class3(self, frame):
        if self.events is None or len(frame.units) != 1:
            return None
        pn, fn, pointers = frame.units[0]
        if fn not in (1, 2) or pointers is None:
            return None
        value = self.events.query(fn == 1, pointers["pm"], pointers["pn"])
        if value is None:
            return None
        return self._reply(frame, [(0, fn, value)])

class LogLatest:
    """The latest real-time readings of a point, found in the ring log (the last hours only:
    AFN0C asks for current data)."""

    def __init__(self, log, wall, window_s=7200):
        self.log = log
        self.wall = wall
        self.window_s = window_s

    def reading(self, point):
        from firmware.log_records import unpack_readings
        found = None
        for rec in self.log.records(rtype=READINGS, point=point,
                                    since=self.wall.now() - self.window_s):
            values = {}
            for item, value in unpack_readings(rec[4]):
                if item >> 6 == 0:              # REALTIME kind
                    values[item & 63] = value
            if values:
                found = (rec[3], values)
        return found

