"""Link management: keep the concentrator logged in to the master station, whatever the network.

    link = Link(kernel, channel, terminal, settings, uploader=None, clock=None)
    kernel.task_create(link.run, prio=10)
    link.activate()                 # passive-activation mode: go online now (SMS, ring, button)
    link.state, link.stats, link.login_ms, link.status()
    link = start(concentrator, prio)   # what firmware/startup.py calls: channel from the board
                                       # config's "modem" entry, terminal, uploader, the task

`channel` is the modem driver (firmware/modem.py) or a plain socket (firmware/hal/net.py):
start() brings the network up, open() connects, send()/recv() carry bytes. One task does
everything on the link in turn (frames in, answers out, heartbeats, uploads), so there is no
locking and the modem never sees two commands at once.

The rules (Q/GDW 1376.1 link layer, AFN04 F1 and F8 settings in protocol/settings.py):
- Login (AFN02 F1), heartbeat (F3) every comm.heartbeat_min, logout (F2) before going offline
  on purpose; each waits comm.response_timeout_s for the master's AFN00 confirm and is sent
  again (same PSEQ) up to comm.retries times.
- A frame still unconfirmed after its retries is a missed confirmation; three in a row, or a
  silent link (no byte received for two heartbeat periods plus the response timeout while the
  modem claims to be connected: the PDP context died without a word), mean reconnect.
- Reconnects back off exponentially from comm.redial_s up to comm.redial_max_s, each delay
  drawn at random between half and all of its value (jitter: a thousand concentrators that lost
  the same cell do not redial in step). After `power_cycle_after` failures in a row the modem is
  power-cycled, which clears the stuck states a modem gets into in the field.
- Online modes (AFN04 F8, comm.online_mode): 1 always online; 2 passive activation (online after
  activate() or when an important event waits, offline after comm.idle_min minutes without
  traffic); 3 time windows (online during the hours set in comm.online_hours, bit h = h:00 ..
  h:59).
- Uploads (firmware/uplink.py) go out whenever the window has room, between the rest.
"""
from protocol.compat import const
from protocol.errors import ProtocolError
from protocol.gw376_deframer import Deframer

MISSED_LIMIT = const(3)
DENY_PAUSE_MS = const(10000)     # after the station refused an upload
# Bytes taken from the channel per read. The deframer keeps a frame's bytes across reads, so this
# is a chunk size, not a frame size: a small one costs a few more reads of a large request.
_RX = const(256)

DOWN = "down"
CONNECTING = "connecting"
ONLINE = "online"

# Why a session ended (Link.last_error, the status command): lost, or left on purpose.
LOST_CLOSED = "closed"
LOST_SEND = "send failed"
LOST_MISSED = "3 missed confirmations"
LOST_SILENT = "silent link"
OFFLINE = "offline"
STOPPED = "stopped"
# A session's waits for bytes: at most _MAX_WAIT_MS (its checks run at least once a second),
# _CONFIRM_POLL_MS while a confirm is awaited, and a "data waiting" notice counted lost after
# _DATA_NOTICE_MS without a byte.
_MAX_WAIT_MS = const(1000)
_CONFIRM_POLL_MS = const(250)
_DATA_NOTICE_MS = const(2000)


class _Pending:
    """A link frame (login, heartbeat, logout) waiting for the master's confirm."""

    def __init__(self):
        self.seq = -1
        self.data = None
        self.sent_ms = 0
        self.tries = 0
        self.result = None         # True confirmed, False denied, None waiting


class Link:
    def __init__(self, kernel, channel, terminal, settings, uploader=None, clock=None,
                 rand=None, heartbeat_ms=None, redial_ms=None, power_cycle_after=3,
                 on_reset=None, max_user_data=2048):
        if clock is None:
            from firmware.hal import clock
        self.k = kernel
        self.clock = clock
        self.ch = channel
        self.terminal = terminal
        self.settings = settings
        self.uploader = uploader
        self.rand = rand
        self.heartbeat_override = heartbeat_ms
        self.redial_override = redial_ms
        self.power_cycle_after = power_cycle_after
        self.on_reset = on_reset
        self.deframer = Deframer(max_user_data)
        self.rx = bytearray(_RX)
        self.pending = _Pending()
        self.state = DOWN
        self.activated = False
        self.last_error = None
        self.missed = 0
        self.started_ms = clock.ticks_ms()
        self.login_ms = None              # ms from run() to the first login
        self._last_rx = 0
        self._last_traffic = 0
        self._paused_at = None
        self._stop = False
        self.stats = {"connects": 0, "logins": 0, "login_failures": 0, "heartbeats": 0,
                      "missed": 0, "reconnects": 0, "power_cycles": 0, "silent": 0,
                      "bad_frames": 0, "requests": 0, "failures": 0, "backoff_ms": 0}

    # --- settings ------------------------------------------------------------------------------
    def _timeout_ms(self):
        return self.settings["comm.response_timeout_s"] * 1000

    def _heartbeat_ms(self):
        if self.heartbeat_override:
            return self.heartbeat_override
        return self.settings["comm.heartbeat_min"] * 60000

    def backoff_ms(self, failures):
        """Delay before reconnect attempt `failures` (1, 2, ...): exponential, capped, jittered."""
        base = self.redial_override or self.settings["comm.redial_s"] * 1000
        cap = self.settings["comm.redial_max_s"] * 1000
        if self.redial_override and cap < base:
            cap = base
        delay = base
        for _ in range(failures - 1):
            delay *= 2
            if delay >= cap:
                delay = cap
                break
        if delay > cap:
            delay = cap
        half = delay // 2
        return half + self._random(delay - half + 1)

    def _random(self, n):
        if n <= 1:
            return 0
        if self.rand is not None:
            return self.rand(n)
        import random
        return random.getrandbits(30) % n

    def want_online(self):
        mode = self.settings["comm.online_mode"]
        if mode == 1:
            return True
        if mode == 3:
            hour = self.terminal.wall.calendar()[3]
            return bool(self.settings.get("comm.online_hours", 0xFFFFFF) >> hour & 1)
        ev = self.terminal.events
        return self.activated or (ev is not None and ev.unread_important())

    def activate(self):
        """Passive activation: go online now (and stay until idle)."""
        self.activated = True

    def stop(self):
        self._stop = True

    # --- the task --------------------------------------------------------------------------
    async def run(self):
        failures = 0
        k = self.k
        while not self._stop:
            if not self.want_online():
                self.state = DOWN
                await k.time_dly(1000)
                continue
            self.state = CONNECTING
            if await self._connect():
                failures = 0
                self.missed = 0
                self.state = ONLINE
                reason = await self._session()
                self.state = DOWN
                if reason == OFFLINE:             # left the online period on purpose
                    await self._logout()
                    await self.ch.close()
                    continue
                self.stats["reconnects"] += 1
                self.last_error = reason
                # drop the PDP context too: a link that went silent usually means a context
                # the network killed without telling the modem
                await self.ch.shutdown()
                failures = 1
            else:
                failures += 1
                self.stats["failures"] += 1
                if failures % self.power_cycle_after == 0:
                    self.stats["power_cycles"] += 1
                    await self.ch.power_cycle()
            delay = self.backoff_ms(failures)
            self.stats["backoff_ms"] = delay
            await k.time_dly(delay)
        self.state = DOWN

    async def _connect(self):
        s = self.settings
        reason = await self.ch.start(s["master.apn"])
        if reason is not None:
            self.last_error = reason
            return False
        opened = await self.ch.open(s["master.host"], s["master.port"])
        if not opened and s.get("master.backup_host"):
            opened = await self.ch.open(s["master.backup_host"], s["master.backup_port"])
        if not opened:
            self.last_error = "connect failed"
            return False
        self.stats["connects"] += 1
        self.deframer.reset()
        if self.uploader is not None:
            self.uploader.restart()
        now = self.clock.ticks_ms()
        self._last_rx = now
        self._last_traffic = now
        if await self._exchange(1):
            self.stats["logins"] += 1
            if self.login_ms is None:
                self.login_ms = self.clock.ticks_diff(self.clock.ticks_ms(), self.started_ms)
            return True
        self.stats["login_failures"] += 1
        self.last_error = "login not confirmed"
        await self.ch.close()
        return False

    async def _logout(self):
        if self.ch.connected:
            await self._exchange(2)

    async def _exchange(self, fn):
        """Send AFN02 Fn and wait for its confirm (with retries), serving requests meanwhile."""
        p = self.pending
        p.seq = self.terminal.next_pseq()
        p.data = self.terminal.link_frame(fn, p.seq)
        p.result = None
        retries = self.settings["comm.retries"]
        timeout = self._timeout_ms()
        for _ in range(retries + 1):
            if not await self.ch.send(p.data):
                p.seq = -1
                return False
            p.sent_ms = self.clock.ticks_ms()  # pyright: ignore[reportAttributeAccessIssue] - ticks are small ints on MicroPython; the stubs make them opaque
            while p.result is None:
                left = timeout - self.clock.ticks_diff(self.clock.ticks_ms(), p.sent_ms)
                if left <= 0:
                    break
                if await self._receive(left) < 0:
                    p.seq = -1
                    return False
            if p.result is not None:
                p.seq = -1
                return p.result
        p.seq = -1
        return False

    async def _session(self):
        """Serve the link until it is lost or the online period ends; returns why (LOST_* or
        OFFLINE, which run() answers with a logout)."""
        clock = self.clock
        self._hb_due = clock.ticks_add(clock.ticks_ms(), self._heartbeat_ms())
        while not self._stop:
            if not self.ch.connected:
                return LOST_CLOSED
            timeout = self._timeout_ms()
            retries = self.settings["comm.retries"]
            hb_ms = self._heartbeat_ms()          # AFN04 F1 may change it mid-session
            lost = (await self._send_uploads() or
                    await self._heartbeat(clock.ticks_ms(), timeout, retries, hb_ms))
            if lost:
                return lost
            now = clock.ticks_ms()
            lost = (await self._resend_expired(now, timeout, retries) or
                    self._ended(now, timeout, hb_ms) or await self._wait_for_bytes(now))
            if lost:
                return lost
        return STOPPED

    async def _send_uploads(self):
        """As many uploads as the window takes (none for DENY_PAUSE_MS after a denial)."""
        up = self.uploader
        if up is None:
            return None
        clock = self.clock
        if up.paused:
            now = clock.ticks_ms()
            if self._paused_at is None:
                self._paused_at = now
            elif clock.ticks_diff(now, self._paused_at) >= DENY_PAUSE_MS:
                up.paused = False
                self._paused_at = None
        while not up.paused and up.has_work():
            got = up.next_frame(self.terminal.next_pseq(), clock.ticks_ms())
            if got is None:
                break
            if not await self.ch.send(got[0], got[1]):
                return LOST_SEND
            # the confirm timeout runs from when the modem took the frame (SEND OK), not from
            # before its link time
            up.last_slot.sent_ms = self._last_traffic = clock.ticks_ms()
            if await self._receive(0) < 0:
                return LOST_CLOSED
        return None

    async def _heartbeat(self, now, timeout, retries, hb_ms):
        """The heartbeat when due, sent again until confirmed or out of retries."""
        p = self.pending
        diff = self.clock.ticks_diff
        if p.seq >= 0:
            if p.result is not None:
                p.seq = -1
            elif diff(now, p.sent_ms) >= timeout:
                if p.tries <= retries:
                    p.tries += 1
                    p.sent_ms = now
                    if not await self.ch.send(p.data):
                        return LOST_SEND
                else:
                    p.seq = -1
                    if self._missed():
                        return LOST_MISSED
        elif diff(now, self._hb_due) >= 0:
            p.seq = self.terminal.next_pseq()
            p.data = self.terminal.link_frame(3, p.seq)
            p.result = None
            p.tries = 1
            p.sent_ms = now
            self._hb_due = self.clock.ticks_add(now, hb_ms)
            self.stats["heartbeats"] += 1
            if not await self.ch.send(p.data):
                return LOST_SEND
        return None

    async def _resend_expired(self, now, timeout, retries):
        """An upload not confirmed in time: sent again, or after its retries, the window
        starts again at the ring log's cursor (a missed confirmation)."""
        up = self.uploader
        if up is None:
            return None
        slot = up.expired(now, timeout, self.clock.ticks_diff)
        if slot is None:
            return None
        if slot.tries <= retries:
            got = up.resend(slot, now)
            if got is None:             # its records were reclaimed: from the cursor again
                up.restart()
            elif not await self.ch.send(got[0], got[1]):
                return LOST_SEND
            else:
                slot.sent_ms = self.clock.ticks_ms()
        else:
            up.restart()
            if self._missed():
                return LOST_MISSED
        return None

    def _ended(self, now, timeout, hb_ms):
        """LOST_SILENT for a link that says connected but carries nothing, OFFLINE when the
        online period is over; the codec's and passive activation's idle checks."""
        diff = self.clock.ticks_diff
        if diff(now, self._last_rx) >= 2 * hb_ms + timeout:
            self.stats["silent"] += 1
            return LOST_SILENT
        if not self.want_online():
            return OFFLINE
        self.terminal.idle()
        idle_min = self.settings.get("comm.idle_min", 10)     # 0: never idles out
        if self.settings["comm.online_mode"] == 2 and self.activated and idle_min and \
                diff(now, self._last_traffic) >= idle_min * 60000:
            self.activated = False
        return None

    async def _wait_for_bytes(self, now):
        """Read and answer what comes until the next thing is due: the heartbeat, or a
        confirm we wait for (then at most _CONFIRM_POLL_MS)."""
        clock = self.clock
        up = self.uploader
        waiting = self.pending.seq >= 0 or up is not None and up.in_flight()
        wait = clock.ticks_diff(self._hb_due, now)
        if waiting:
            wait = min(wait, _CONFIRM_POLL_MS)
        n = await self._receive(max(1, min(wait, _MAX_WAIT_MS)))
        if n < 0:
            return LOST_CLOSED
        if n == 0 and waiting and clock.ticks_diff(clock.ticks_ms(), self._last_rx) > \
                _DATA_NOTICE_MS:
            await self.ch.poll_data()       # a lost "data waiting" notice
        return None

    def _missed(self):
        self.missed += 1
        self.stats["missed"] += 1
        return self.missed >= MISSED_LIMIT

    async def _receive(self, timeout_ms):
        """Read what the channel has (waiting up to timeout_ms) and act on every whole frame.
        Returns the bytes read, or -1 when the link closed."""
        n = await self.ch.recv(self.rx, timeout_ms)
        if n <= 0:
            return n
        self._last_rx = self.clock.ticks_ms()
        d = self.deframer
        pos = 0
        while pos < n:
            pos = d.feed(self.rx, pos, n)
            if not d.frame_length:
                break
            if await self._on_frame(d.buffer, d.frame_length) < 0:
                return -1
        return n

    async def _on_frame(self, buf, length):
        """One whole, checksum-checked frame in buf[0:length] (the deframer's buffer)."""
        t = self.terminal
        control = buf[6]
        area = (buf[8] >> 4) * 1000 + (buf[8] & 15) * 100 + (buf[7] >> 4) * 10 + (buf[7] & 15)
        address = buf[9] | buf[10] << 8
        if control & 0x80 or area != t.area or \
                address != t.address and not (buf[11] & 1 and address == 0xFFFF):
            return 0                            # not a downlink frame for this terminal
        if not control & 0x40:
            self._on_answer(buf, length)
            return 0
        self.stats["requests"] += 1
        self._last_traffic = self.clock.ticks_ms()
        from firmware.terminal import codec
        gw376 = codec()                         # loaded for requests only
        try:
            frame = gw376.parse(buf, length)
        except ProtocolError:
            self.stats["bad_frames"] += 1
            return 0
        raw = bytes(buf[0:length])
        for reply in await t.handle(frame, raw):
            if not await self.ch.send(reply):
                return -1
        if t.reset_pending:
            t.reset_pending = False
            if self.on_reset is not None:
                self.on_reset()
        return 0

    def _on_answer(self, buf, length):
        """The master's AFN00 answer to one of our frames, read from the bytes: F1 confirmed,
        F2 denied, F3 per unit (confirmed when every unit is). RSEQ says which frame."""
        if buf[12] != 0x00 or length < 20:
            return
        dt1 = buf[16]
        if dt1 == 1:
            confirmed = True
        elif dt1 == 2:
            confirmed = False
        elif dt1 == 4 or dt1 == 3:              # F3 (some masters write DT 03 00)
            end = length - 2 - (6 if buf[13] & 0x80 else 0)
            confirmed = True
            pos = 19                            # after DA DT and the AFN being answered
            while pos + 5 <= end:
                if buf[pos + 4]:
                    confirmed = False
                pos += 5
        else:
            return
        seq = buf[13] & 0x0F
        p = self.pending
        if p.seq == seq and p.result is None:
            p.result = confirmed  # pyright: ignore[reportAttributeAccessIssue] - True confirmed, False denied, None waiting
            self.missed = 0
            return
        if self.uploader is not None and self.uploader.on_answer(seq, confirmed):
            self.missed = 0

    def status(self):
        """What `conc status` shows of the uplink (never a secret)."""
        ch = self.ch
        out = {"state": self.state, "last_error": self.last_error, "missed": self.missed,
               "login_ms": self.login_ms, "stats": self.stats,
               "signal_csq": getattr(ch, "csq", None), "registration": getattr(ch, "reg", None),
               "modem": getattr(ch, "stats", None)}
        if self.uploader is not None:
            out["backlog"] = self.uploader.backlog()
            out["uploads"] = self.uploader.stats
        return out


def open_channel(kernel, cfg):
    """The channel a board config's "modem" entry describes: {"family": "sim800" | "quectel"
    | "socket", "device": PATH or "uart": n, "tx", "rx", "baud", "power_key", ...}."""
    family = cfg.get("family", "sim800")
    if family == "socket":
        from firmware.hal.net import SocketLink
        return SocketLink(kernel)
    if not cfg.get("device") and cfg.get("uart") is None:
        return None
    from firmware.modem import Modem
    baud = cfg.get("baud", 115200)
    if cfg.get("device"):
        from firmware.hal.serial_tty import TtyPort
        port = TtyPort(cfg["device"], baud, "N")
    else:
        from firmware.hal.serial_uart import UartPort
        port = UartPort(cfg["uart"], cfg.get("tx"), cfg.get("rx"), None, baud=baud, parity="N")
    power = None
    if cfg.get("power_key") is not None:
        from firmware.hal.modem_power import PowerKey
        power = PowerKey(cfg["power_key"], not cfg.get("power_key_active_high", False))
    return Modem(kernel, port, family, power=power)


def start(c, prio):
    """Start the uplink of a booted concentrator (firmware/startup.py calls this); returns the
    Link (its status() is in `conc status`), or None when there is no modem or master."""
    from firmware.terminal import LogLatest, SettingsFile, Terminal
    from firmware.uplink import EventIndex, Uploader
    channel = open_channel(c.kernel, c.board.get("modem") or {})
    if channel is None or not c.settings.get("master.host"):
        return None
    poller = c.poller
    events = EventIndex(c.log) if c.log is not None else None

    def clock_set(old, new):
        # the meters get the new time from the poller's broadcast (at once where the poller
        # offers it, else at its daily time-sync slot)
        sync = getattr(poller, "request_time_sync", None)
        if sync is not None:
            sync()

    def reset():
        from firmware.hal.reset import reset as board_reset
        board_reset()

    term = Terminal(c.settings, c.wall, c.log, c.archive,
                    latest=LogLatest(c.log, c.wall) if c.log is not None else None,
                    relay=poller.relay if poller is not None else None, forwarder=poller,
                    store=SettingsFile("config.json"), on_clock_set=clock_set,
                    events=events, kernel=c.kernel)
    uploader = Uploader(c.log, term, events) if c.log is not None else None
    link = Link(c.kernel, channel, term, c.settings, uploader, on_reset=reset)
    c.kernel.task_create(link.run, prio, name="uplink")
    return link
