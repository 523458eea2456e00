"""The master station's front end: an asyncio TCP server speaking the master side of Q/GDW 1376.1.

    front = FrontEnd(station)                     # a Station from open_station(url)
    host, port = await front.start("0.0.0.0", 9000)
    ...
    await front.close()                           # ends sessions, writes what is pending

Many thousand concentrators stay connected to one process; each connection is an
asyncio.Protocol (no stream objects, no task per idle terminal) with a Deframer, so a heartbeat
costs a parse, a confirm and a dict update. What the front end does with each terminal:

- Login (AFN02 F1): A1/A2 must be a registered terminal (an in-memory copy of the registry,
  re-read when an unknown address shows up, so a terminal added while serving is accepted).
  Accepted: the session is recorded (batched with the other logins of the moment), then
  confirmed (AFN00 F1, C=0B). Unknown: denied (AFN00 F2), logged in `denied_logins` (counted
  per peer and minute, guard.py), and the connection is closed. A second login of a terminal
  from the same IP replaces its older connection; from another IP it does so only when the
  older session no longer answers (a clock read): a live session is kept, the newcomer refused
  and a security alarm raised (an impostor who knows A1/A2 must not take the session over).
  With several front ends on one PostgreSQL database (front_ends.py) the same holds for a
  session another front end holds: it is asked through the database to do the clock read.
- Until it logs in a connection costs little: a 64-byte-frame deframer allocated on its first
  byte, 4 KB and 16 frames at most, `login_timeout` (30 s) to send its login frame; a
  connection sending `max_bad_frames` bad or refused frames within a minute is closed;
  guard.py limits the connections (in all, and optionally per IP before their login frame)
  and keeps the logs to one line per condition, peer and minute.
- Heartbeat (AFN02 F3): confirmed at once; the heartbeat is written with the next group commit
  (StationWriter). Logout (AFN02 F2): confirmed, session closed.
- Any other frame must carry the logged-in A1/A2: one with another address is denied and logged.
- Replies (PRM 0) go to the session's outstanding request (session.py: PSEQ/RSEQ matching,
  timeouts, retries, multi-frame reassembly, deny handling).
- Active uploads (PRM 1 AFN0C F25/F33/F34/F129..F136, AFN0D F1/F2/F17/F18/F161..F184 standard
  units, or AFN0D with the vendor unit F241 of ring-log records, see uploads.py; usually with
  CON): stored, then confirmed
  (AFN00 F1) only once committed, so a station that dies mid-upload never confirms what it did not
  keep; the terminal re-sends it and the database keeps every reading once (readings are unique
  on terminal, point, item and time; frozen values on their period).
- Active event reports (PRM 1 AFN0E): stored (unique on the record) and confirmed.
- ACD with EC in any uplink frame: the terminal has events the station has not read; the
  collector reads them with AFN0E (collector.py).
- A connection silent for 3 of its heartbeat periods + 30 s (the period is measured between its
  heartbeats; until two have arrived, `idle_timeout`, default 46 min: 3 periods of 15 min, the
  longest usual setting) is closed and its session ended.

Collection (collector.py) runs per logged-in terminal; operator commands (command_runner.py) are
picked up from the database and executed on the terminal's session. Parameters that carry the PW
(the archive download, the clock set) wait until the session has shown `settle_heartbeats` (2)
heartbeats, one whole heartbeat period, on its connection. Readings dated beyond
`future_tolerance_s` (300 s) ahead of the station's clock, or for points not in the terminal's
archive, are rejected and counted (`readings_rejected`), not stored.
"""
import asyncio
import functools
import json
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor

from protocol import gw376, gw376_upload
from protocol.errors import ProtocolError
from protocol.gw376_deframer import Deframer

from host_tools.station import erc as ercmod
from host_tools.station import guard as guardmod
from host_tools.station import items as itemsmod
from host_tools.station import networks as networksmod
from host_tools.station import uploads as uploadsmod
from host_tools.station.db import SQLITE
from host_tools.station.errors import StationError
from host_tools.station.records import Event, terminal_label
from host_tools.station.session import SessionError, TerminalSession
from host_tools.station.times import from_epoch, to_epoch
from host_tools.station.writer import StationWriter

log = logging.getLogger(__name__)

AFN_LINK = 0x02
LOGIN, LOGOUT, HEARTBEAT = 1, 2, 3
REALTIME_ENERGY = frozenset([33, 34] + list(range(129, 137)))
FROZEN_ENERGY = frozenset([1, 2, 17, 18] + list(range(161, 169)) + list(range(177, 185)))
DEFAULT_IDLE_TIMEOUT_S = 2760.0      # 3 missed heartbeats of the longest usual period (15 min)
MISSED_HEARTBEATS = 3
MAX_USER_DATA = 16383
PRE_LOGIN_USER_DATA = 64        # a login frame carries about 20 bytes of user data
PRE_LOGIN_BYTES = 4096          # read before login at most, frames or not
PRE_LOGIN_FRAMES = 16           # frames held (or denied) before login at most
DEFAULT_LOGIN_TIMEOUT_S = 30.0
DEFAULT_MAX_BAD_FRAMES = 16     # bad or refused frames per minute before a connection is closed
DEFAULT_FUTURE_TOLERANCE_S = 300.0
ERC_AUTHENTICATION = 20         # 1376.1 ERC20 message authentication error
# Uploads and event reports of one connection being stored at once; beyond, a report is left
# unconfirmed (the terminal sends it again), so a flood of them costs no task each.
MAX_REPORTS_IN_FLIGHT = 64
DEFAULT_BEAT_S = 2.0            # a front end records that it lives this often (front_ends.py)
DEFAULT_STALE_S = 30.0          # and is retired by its peers when silent this long
ARCHIVE_RELOAD_S = 60.0         # an upload for a point not in the archive re-reads it this often


class FrontEnd:
    """The asyncio server and the registry of connected terminals (see the module docstring)."""

    link_class = None       # the connection class (Link); tests substitute a subclass
    heartbeat_slack_s = 30.0    # beyond 3 heartbeat periods before a silent link is closed

    def __init__(self, station, clock=time.time, master=0, response_timeout=10.0, retries=2,
                 idle_timeout=DEFAULT_IDLE_TIMEOUT_S, collector_config=None, commands=True,
                 command_poll_s=1.0, control_options=None, frame_tap=None,
                 login_timeout=DEFAULT_LOGIN_TIMEOUT_S, max_connections=None,
                 max_pending_per_ip=0, max_bad_frames=DEFAULT_MAX_BAD_FRAMES,
                 future_tolerance_s=DEFAULT_FUTURE_TOLERANCE_S, settle_heartbeats=2,
                 beat_s=DEFAULT_BEAT_S, stale_s=DEFAULT_STALE_S):
        self.station = station
        self.frame_tap = frame_tap      # framelog.FrameTap: -vv frame lines, --capture file
        self.clock = clock
        self.master = master
        self.response_timeout = response_timeout
        self.retries = retries
        self.idle_timeout = idle_timeout
        self.login_timeout = login_timeout
        self.max_bad_frames = max_bad_frames
        self.future_tolerance_s = future_tolerance_s
        self.settle_heartbeats = settle_heartbeats
        self.guard = guardmod.Guard(log, max_connections=max_connections,
                                    max_pending_per_ip=max_pending_per_ip)
        if collector_config is None:
            from host_tools.station.collector import CollectorConfig
            collector_config = CollectorConfig(clock=clock)
        self.collector_config = collector_config
        self.command_poll_s = command_poll_s
        self.control_options = dict(control_options or {})   # CommandRunner follow_s, ...
        self.writer = StationWriter(station)
        self.links = {}                 # terminal_id -> Link (logged in)
        self.connections = set()        # every open Link
        self.stats = {"connections": 0, "logins": 0, "denied_logins": 0, "heartbeats": 0,
                      "bad_frames": 0, "uploads": 0, "readings_stored": 0, "frozen_stored": 0,
                      "events_stored": 0, "upload_errors": 0, "refused": 0, "garbage_bytes": 0,
                      "denied_frames": 0, "closed_misbehaving": 0, "readings_rejected": 0,
                      "security_alarms": 0, "reports_deferred": 0}
        self._registry = {}             # (area int, address) -> (terminal_id, label)
        self._networks = {}             # terminal_id -> allowed source networks (restricted)
        self._registry_loaded_at = None
        self._registry_refresh = None
        self._logins = []               # [(link, future)] waiting for one batched open_sessions
        self._login_wake = None
        self._denial_wake = None
        self._writers = []              # stopped by close(), never cancelled (_stop_writers)
        self._beat_thread = None        # the front-end heartbeat's own thread (_in_beat_thread)
        self._closing = False
        self._alarms = set()            # security alarms being stored
        self._closes = []               # [(session_id, reason, at)]
        self._server = None
        self._tasks = []
        self._event_waiters = {}        # terminal_id -> [asyncio.Future] (remote control)
        self.commands = None
        self._commands_enabled = commands
        self.beat_s = beat_s            # this front end's heartbeat in front_ends
        self.stale_s = stale_s          # a peer not heard from this long is retired
        self.front_end_id = None        # front_ends.id (front_ends.py)
        self._probing = set()           # session ids another front end asked about
        self.peers = 0                  # other live front ends at the last beat
        self._probe_tasks = set()

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host="127.0.0.1", port=0, backlog=4096):
        """Start listening; returns the (host, port) bound (port 0 picks a free one)."""
        await self._load_registry()
        loop = asyncio.get_running_loop()
        self._login_wake = asyncio.Event()
        self._denial_wake = asyncio.Event()
        self._loop_handler = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_exception)
        link_class = self.link_class or Link
        self._server = await loop.create_server(lambda: link_class(self), host, port,
                                                backlog=backlog, reuse_address=True)
        bound = self._server.sockets[0].getsockname()[:2]
        # Logins accepted meanwhile wait for the session writer, started below.
        await self._register("%s:%d" % bound)
        self._writers = [loop.create_task(self._session_writer()),
                         loop.create_task(self._denial_writer())]
        self._tasks = [loop.create_task(self._idle_sweeper()),
                       loop.create_task(self._front_end_beat())]
        if self._commands_enabled:
            from host_tools.station.command_runner import CommandRunner
            self.commands = CommandRunner(self, poll_s=self.command_poll_s,
                                          **self.control_options)
            self._tasks.append(loop.create_task(self.commands.run()))
        return bound

    # ------------------------------------------------------------------ the front ends
    @property
    def sole(self):
        """True on SQLite: one front end per database (serving.sole_front_end), so any other
        registered front end is a stopped one."""
        return self.station.db.dialect == SQLITE

    def stale_before(self):
        """A front end whose heartbeat is older than this is dead."""
        return int(time.time() - self.stale_s)

    async def _register(self, listen):
        """Register this process in front_ends, retire the dead ones (on SQLite every other)
        and end the sessions no live front end holds (front_ends.py)."""
        now = int(time.time())
        self._listen = listen
        self.front_end_id = await asyncio.to_thread(
            self.station.register_front_end, socket.gethostname(), os.getpid(), listen, now)
        self._ended_since = now
        dead = await asyncio.to_thread(self.station.take_over_stale, self.front_end_id,
                                       now + 1 if self.sole else self.stale_before(), now)
        if dead:
            log.info("retired front ends %s (no heartbeat within %.0f s)",
                     ", ".join("#%d" % i for i in dead), self.stale_s)
        if not self.sole:
            self.peers = len(await asyncio.to_thread(self.station.live_front_ends,
                                                     self.stale_before())) - 1
        closed = await asyncio.to_thread(self.station.end_sessions_of_no_front_end,
                                         "station restarted", now)
        if closed:
            log.info("ended %d sessions left open by an earlier run", closed)

    async def _front_end_beat(self):
        """Every beat_s: beat our front_ends row, retire peers gone stale, and drop the links
        whose session another front end ended (the terminal logged in there)."""
        while True:
            await asyncio.sleep(self.beat_s)
            try:
                await self._beat_once()
            except StationError as exc:
                log.warning("front end heartbeat not recorded: %s", exc)

    async def _in_beat_thread(self, call, *args):
        """Run a database call of the front-end heartbeat in a thread of its own: a liveness
        beat must not queue behind bulk work in the shared pool, where a mass login's writes
        can hold it past stale_s, and the peers then retire a live front end and drop its
        terminals."""
        if self._beat_thread is None:
            self._beat_thread = ThreadPoolExecutor(max_workers=1,
                                                   thread_name_prefix="front-end-beat")
        return await asyncio.get_running_loop().run_in_executor(
            self._beat_thread, functools.partial(call, *args))

    async def _beat_once(self):
        now = int(time.time())
        if not await self._in_beat_thread(self.station.beat_front_end, self.front_end_id, now):
            log.error("front end #%d was retired by its peers (no heartbeat within %.0f s): "
                      "dropping its connections and commands, registering anew",
                      self.front_end_id, self.stale_s)
            if self.commands is not None:
                self.commands.cancel()
            for link in list(self.connections):
                link.drop("front end retired by its peers")
            await self._flush_sessions()
            await self._register(self._listen)
            return
        if not self.sole:
            dead = await self._in_beat_thread(self.station.take_over_stale, self.front_end_id,
                                              self.stale_before(), now)
            if dead:
                log.warning("retired front ends %s: no heartbeat within %.0f s",
                            ", ".join("#%d" % i for i in dead), self.stale_s)
            # alone, a login needs no look at other front ends' sessions (one query saved)
            self.peers = len(await self._in_beat_thread(self.station.live_front_ends,
                                                        self.stale_before())) - 1
        for session_id in await self._in_beat_thread(self.station.probes_asked,
                                                     self.front_end_id):
            self._probe(session_id)
        since, self._ended_since = self._ended_since, now
        # ended_at comes from other machines' clocks: look back a margin (a repeat is harmless)
        ended = await self._in_beat_thread(self.station.ended_sessions, self.front_end_id,
                                           since - max(10, int(self.stale_s)))
        for link in list(self.links.values()):
            if link.session_id in ended:
                log.info("%s: logged in at another front end; dropping this link", link.name)
                link.drop("moved to another front end")

    async def serve_forever(self):
        await self._server.serve_forever()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use

    async def close(self):
        """Stop listening, end every session (recorded), write what is pending."""
        if self._server is not None:
            self._server.close()
        for link in list(self.connections):
            link.drop("station shut down")
        if self.commands is not None:     # a command cut short stays `sent`: failed at restart
            self._tasks.extend(self.commands.running.values())
        self._tasks.extend(self._probe_tasks)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        self._tasks = []
        if self._alarms:
            await asyncio.wait(list(self._alarms))
        await self._stop_writers()
        await self.writer.close()
        if self.front_end_id is not None:
            try:
                await self._in_beat_thread(self.station.stop_front_end, self.front_end_id,
                                           "stopped", int(time.time()))
            except StationError as exc:
                log.warning("could not record this front end's stop: %s", exc)
        if self._beat_thread is not None:
            self._beat_thread.shutdown(wait=False)
            self._beat_thread = None
        if self._denial_wake is not None:
            asyncio.get_running_loop().set_exception_handler(self._loop_handler)

    def _loop_exception(self, loop, context):
        """asyncio's own error reports (an accept() at the open-file limit, a callback that
        failed), one line per kind a minute instead of a traceback each."""
        exc = context.get("exception")
        kind = context.get("message", "") + ("" if exc is None else ": %s" % type(exc).__name__)
        self.guard.log.log(logging.ERROR, kind, "loop", "%s%s", context.get("message"),
                           "" if exc is None else " (%s)" % exc)

    # ------------------------------------------------------------------ registry
    async def _load_registry(self):
        terminals = await asyncio.to_thread(self.station.terminals)
        self._networks = await asyncio.to_thread(self.station.allowed_networks)
        self._registry = {(int(t.area_code), t.address): (t.id, t.label) for t in terminals}
        self._registry_loaded_at = time.monotonic()

    async def lookup(self, area, address):
        """(terminal_id, label) for a login's A1/A2, or None; re-reads the registry (at most
        once a second) when the address is unknown, for terminals added while serving."""
        found = self._registry.get((area, address))
        if found is not None:
            return found
        if self._registry_refresh is None:
            if time.monotonic() - self._registry_loaded_at < 1.0:  # pyright: ignore[reportOperatorIssue] - set by start() or the login before use
                await asyncio.sleep(1.0 - (time.monotonic() - self._registry_loaded_at))  # pyright: ignore[reportOperatorIssue] - set by start() or the login before use
                found = self._registry.get((area, address))
                if found is not None:
                    return found
            if self._registry_refresh is None:
                self._registry_refresh = asyncio.ensure_future(self._load_registry())
                self._registry_refresh.add_done_callback(self._refresh_done)
        await asyncio.shield(self._registry_refresh)
        return self._registry.get((area, address))

    def _refresh_done(self, _):
        self._registry_refresh = None

    def allowed_from(self, terminal_id, ip):
        """True when the terminal may log in from `ip` (its allowed networks, if any, as read
        with the registry: at start and whenever an unknown address logs in)."""
        return networksmod.allowed(self._networks.get(terminal_id, ()), ip)

    def _probe(self, session_id):
        """Another front end asks whether this session still answers (a login of its terminal
        from another address there): a clock read, answered in the database."""
        if session_id in self._probing:
            return
        link = next((k for k in self.links.values() if k.session_id == session_id), None)
        self._probing.add(session_id)

        async def probe():
            alive = False
            if link is not None and link.state == "online":
                try:
                    await link.request(0x0C, [(0, 2, None)], retries=0)
                    alive = link.state == "online"
                except SessionError:
                    pass
            try:
                await asyncio.to_thread(self.station.answer_probe, session_id,
                                        "alive" if alive else "silent")
            except StationError as exc:
                log.warning("could not answer a probe of session %d: %s", session_id, exc)
            finally:
                self._probing.discard(session_id)
        task = asyncio.get_running_loop().create_task(probe())
        self._probe_tasks.add(task)
        task.add_done_callback(self._probe_tasks.discard)

    # ------------------------------------------------------------------ sessions (batched)
    async def open_session(self, link):
        """Record a login with the next batch; returns the session id."""
        future = asyncio.get_running_loop().create_future()
        self._logins.append((link, future))
        self._login_wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
        return await future

    def note_session_end(self, session_id, reason):
        self._closes.append((session_id, reason, None))
        if self._login_wake is not None:
            self._login_wake.set()

    async def _stop_writers(self):
        """End the two writers after what is queued is written. They are stopped this way and
        not cancelled: a cancel that lands after a batch was taken from its queue drops the batch
        when its database thread has not started yet (a login flood lost its first denial row
        that way, and shutdown could lose the sessions' ends)."""
        self._closing = True
        if self._writers:
            self._login_wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            self._denial_wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            await asyncio.gather(*self._writers)
        self._writers = []

    async def _session_writer(self):
        """Write logins and session ends in batches: one transaction for all of the moment;
        ends after the last batch once closing (_stop_writers)."""
        while True:
            await self._login_wake.wait()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            self._login_wake.clear()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            closing = self._closing
            await self._flush_sessions()
            if closing:
                return

    async def _flush_sessions(self):
        while self._logins or self._closes:
            logins, self._logins = self._logins, []
            closes, self._closes = self._closes, []
            try:
                ids = await asyncio.to_thread(self._write_sessions, logins, closes)
            except StationError as exc:
                log.warning("recording sessions failed: %s", exc)
                self._closes[:0] = closes            # written with the next batch
                for _, future in logins:
                    if not future.done():
                        future.set_exception(exc)
                await asyncio.sleep(1)
                continue
            for (_, future), session_id in zip(logins, ids, strict=True):
                if future.done():
                    # The connection went (its login task was cancelled) while the login was
                    # written: end the session just opened, or it stays "online" for ever.
                    self._closes.append((session_id, "connection lost at login", None))
                else:
                    future.set_result(session_id)

    def _write_sessions(self, logins, closes):
        now = int(self.clock())
        if closes:
            self.station.close_sessions(closes)
        return self.station.open_sessions([(link.terminal_id, link.peer, now)
                                           for link, _ in logins], self.front_end_id)

    async def _idle_sweeper(self):
        while True:
            await asyncio.sleep(max(0.1, min(10.0, self.idle_timeout / 4,
                                             self.heartbeat_slack_s)))
            now = time.monotonic()
            for link in list(self.connections):
                allowed = self.idle_timeout if link.heartbeat_period is None else \
                    MISSED_HEARTBEATS * link.heartbeat_period + self.heartbeat_slack_s
                if now - link.last_heard > allowed:
                    log.info("%s: nothing heard for %.0f s, closing", link.name, allowed)
                    link.drop("heartbeat timeout")

    # ------------------------------------------------------------------ terminals logged in
    def attach(self, link):
        old = self.links.get(link.terminal_id)
        self.links[link.terminal_id] = link
        if old is not None and old is not link:
            old.drop("replaced by a new login")

    def detach(self, link):
        if self.links.get(link.terminal_id) is link:
            del self.links[link.terminal_id]

    def link(self, terminal_id):
        """The logged-in Link of a terminal, or None."""
        return self.links.get(terminal_id)

    def denied(self, area, address, peer, reason, login=True):
        """Count a refused login (or a refused frame, login=False): one row and one log line
        per peer, reason and minute (guard.Denials), written by a single task."""
        self.stats["denied_logins" if login else "denied_frames"] += 1
        ip = guardmod.peer_ip(peer)
        self.guard.log.warning("denied login" if login else "denied frame", ip, "denied %s from %s as %s: %s",
                               "login" if login else "frame", peer,
                               terminal_label("%04d" % area, address), reason)
        if self.guard.denials.note(ip, "%04d" % area, address, reason):
            self._denial_wake.set()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use

    async def _denial_writer(self):
        """Write each denial row as it is queued, and the minute's counts; once closing
        (_stop_writers), the counts so far, and the task ends."""
        while True:
            try:
                await asyncio.wait_for(self._denial_wake.wait(), 1.0)  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            except asyncio.TimeoutError:
                pass
            self._denial_wake.clear()  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            closing = self._closing
            await self._write_denials(final=closing)
            if closing:
                return

    async def _write_denials(self, final=False):
        self.guard.denials.roll(force=final)
        rows = self.guard.denials.take()
        if not rows:
            return
        try:
            await asyncio.to_thread(self.station.log_denied_logins, rows)
        except StationError as exc:
            self.guard.log.warning("denials not logged", "", "could not log %d denials: %s",
                                   len(rows), exc)

    # ------------------------------------------------------------------ security alarms
    def raise_alarm(self, *args, **kwargs):
        """security_alarm() in a task of the front end's own: it is stored even when the
        connection that caused it goes at once (closing waits for it)."""
        task = asyncio.get_running_loop().create_task(self.security_alarm(*args, **kwargs))
        self._alarms.add(task)
        task.add_done_callback(self._alarms.discard)

    async def security_alarm(self, terminal_id, kind, detail, peer="", key=None):
        """Record a security alarm for a terminal as an ERC20 ("message authentication error")
        event raised by the station itself (`detail` says so), so the console shows it with
        the terminal's events; one per kind, terminal, peer and minute (`key`)."""
        self.stats["security_alarms"] += 1
        now = self.clock()
        local = from_epoch(int(now), self.station.zone)
        when = (local.year, local.month, local.day, local.hour, local.minute)
        data = ercmod.record_bytes({"erc": ERC_AUTHENTICATION, "time": when, "pw": bytes(16),
                                    "master": self.master})
        event = Event(terminal_id, ERC_AUTHENTICATION, data, occurred_at=int(now),
                      important=True, detail=json.dumps({"raised_by": "station",
                                                         "security": kind, "peer": peer,
                                                         "detail": detail}, sort_keys=True),
                      source_key="station:%s:%s:%s:%d" % (kind, key or "", guardmod.peer_ip(peer),
                                                           int(now) // 60))
        log.warning("SECURITY %s: %s", kind, detail)
        try:
            await asyncio.to_thread(self.station.store_events, [event])
        except StationError as exc:
            log.warning("security alarm not stored (%s): %s", exc, detail)

    # ------------------------------------------------------------------ events
    def events_stored(self, terminal_id, events):
        """Tell whoever waits (remote control) about events of a terminal just stored."""
        for future in self._event_waiters.pop(terminal_id, ()):
            if not future.done():
                future.set_result(events)

    async def next_events(self, terminal_id, timeout):
        """The next batch of events stored for a terminal, or [] after `timeout` seconds."""
        future = asyncio.get_running_loop().create_future()
        self._event_waiters.setdefault(terminal_id, []).append(future)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return []

    def checked_event(self, event):
        """The event, without its time when the terminal sent an impossible one (an all-zero
        record): the record is kept, and a bad time never blocks the terminal's backlog."""
        if event.occurred_at is None:
            return event
        try:
            to_epoch(event.occurred_at, self.station.zone)
        except StationError:
            log.info("ERC%d with an impossible time %r: stored without it", event.erc,
                     event.occurred_at)
            return event._replace(occurred_at=None)   # detail keeps the fields as sent
        return event

    async def store_events(self, terminal_id, unit, important, report=False):
        """Store a decoded AFN0E reply/report; the Events built (stored once each).

        A reply moves the station's read pointer to its pn. A report (the terminal sends its
        events actively, its backlog's old ones too) moves it only when it carries the next
        event the station has not read (its pm is the read pointer): an old report must not
        move the pointer back, or the collector reads every event after it again."""
        events = [self.checked_event(e) for e in
                  ercmod.events_from_unit(terminal_id, unit, important)]
        pointer = unit.get("pn")
        read_to = None if pointer is None else (terminal_id, important, pointer)
        if report and read_to is not None:
            pm = unit.get("pm")     # the station's store moves the pointer only from pm
            read_to = None if pm is None else read_to + (pm,)
        if events or read_to:
            new = await asyncio.to_thread(self.station.store_events, events, read_to)
            self.stats["events_stored"] += new
        self.events_stored(terminal_id, events)
        return events


class Link(asyncio.Protocol):
    """One TCP connection from a concentrator: before login, then its session."""

    def __init__(self, front):
        self.front = front
        self.transport = None
        self.peer = ""
        self.ip = ""
        self.deframer = None            # allocated on the first byte (small until the login)
        self.state = "new"              # new -> logging_in -> online -> closed
        self.counted = False            # admitted by the guard (counted until it goes)
        self.pending = False            # counted for its IP until its login frame comes
        self.bytes_in = 0
        self.frames_in = 0
        self.strikes = 0                # bad or refused frames in the current minute
        self._strikes_since = 0.0
        self.heartbeats = 0             # on this connection
        self._deadline = None           # the login deadline's timer
        self._reports = 0               # uploads and event reports being stored
        self.terminal_id = None
        self.label = None
        self.area = None
        self.address = None
        self.session = None
        self.session_id = None
        self.last_heard = time.monotonic()
        self.heartbeat_period = None    # seconds between its last two heartbeats (>= 1 s)
        self._last_beat = None
        self._held = []                 # frames that arrived while the login was recorded
        self.collector = None
        self.ec = None                  # (important, normal) from the latest frame with ACD
        self.events_due = asyncio.Event()
        self._tasks = set()
        self._protocols = None
        self._protocols_at = 0.0
        self.last_upload_seq = None     # ring-log sequence of the last record uploaded

    @property
    def name(self):
        return self.label or self.peer

    @property
    def settled(self):
        """True once the session has shown settle_heartbeats heartbeats (one whole heartbeat
        period) on this connection: parameters carrying the PW may go out from then on."""
        return self.heartbeats >= self.front.settle_heartbeats

    # ------------------------------------------------------------------ asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = "%s:%s" % peer[:2] if peer else ""
        self.ip = guardmod.peer_ip(self.peer)
        front = self.front
        front.stats["connections"] += 1
        refusal = front.guard.admit(self.ip)
        if refusal is not None:
            front.stats["refused"] += 1
            front.guard.log.warning("refused", self.ip, "connection from %s refused: %s",
                                    self.peer, refusal)
            self.state = "closed"
            transport.close()
            return
        self.counted = self.pending = True
        front.connections.add(self)
        self._deadline = asyncio.get_running_loop().call_later(front.login_timeout,
                                                               self._login_overdue)

    def _login_overdue(self):
        if self.state == "new":
            self.front.guard.log.info("login timeout", self.ip, "%s: no login within %.0f s, "
                                      "closing", self.peer, self.front.login_timeout)
            self.drop("no login within %.0f s" % self.front.login_timeout)

    def _left_pending(self):
        if self.pending:
            self.pending = False
            self.front.guard.left_pending(self.ip)
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def strike(self, count, why):
        """Count bad or refused frames; more than max_bad_frames in a minute closes the
        connection (a terminal sends none: TCP already checks every byte)."""
        now = time.monotonic()
        if now - self._strikes_since >= 60.0:
            self._strikes_since, self.strikes = now, 0
        self.strikes += count
        if self.strikes > self.front.max_bad_frames and self.state != "closed":
            self.front.stats["closed_misbehaving"] += 1
            self.front.guard.log.warning("closed misbehaving", self.ip, "%s: %d bad or refused "
                                         "frames within a minute (last: %s), closing",
                                         self.name, self.strikes, why)
            self.drop("%d bad or refused frames" % self.strikes)

    def data_received(self, data):
        if self.state == "closed":
            return
        self.last_heard = time.monotonic()
        deframer = self.deframer
        if deframer is None:
            deframer = self.deframer = Deframer(
                PRE_LOGIN_USER_DATA if self.state == "new" else MAX_USER_DATA)
        self.bytes_in += len(data)
        bad, garbage = deframer.bad_frames, deframer.discarded
        raws = deframer.frames(data)
        bad, garbage = deframer.bad_frames - bad, deframer.discarded - garbage
        front = self.front
        if garbage:
            front.stats["garbage_bytes"] += garbage
            front.guard.log.info("garbage", self.ip, "%s: %d bytes that are not frames skipped",
                                 self.name, garbage)
        if bad:
            front.stats["bad_frames"] += bad
            front.guard.log.warning("bad checksum", self.ip, "%s: %d frames with a bad "
                                    "checksum or end byte", self.name, bad)
            self.strike(bad, "bad checksum")
        tap = front.frame_tap
        for raw in raws:
            if self.state == "closed":
                return
            if tap is not None:
                tap.frame(self.name, "in", raw)
            try:
                frame = gw376.parse(raw)
            except ProtocolError as exc:
                front.stats["bad_frames"] += 1
                front.guard.log.warning("unreadable", self.ip, "%s: unreadable frame (%s): %s",
                                        self.name, exc, raw[:64].hex())
                self.strike(1, "unreadable frame")
                continue
            self.frame_received(frame)
        if self.state in ("new", "logging_in") and (
                self.bytes_in > PRE_LOGIN_BYTES or self.frames_in > PRE_LOGIN_FRAMES):
            front.guard.log.warning("too much before login", self.ip, "%s: %d bytes, %d "
                                    "frames and no login yet, closing", self.peer,
                                    self.bytes_in, self.frames_in)
            self.strike(front.max_bad_frames + 1, "too much before login")

    def _grow_deframer(self):
        """The login is accepted: frames up to the largest size from now on (the bytes the
        small deframer still holds carry over)."""
        small = self.deframer
        self.deframer = Deframer(MAX_USER_DATA)
        if small is not None and small.held():
            self.data_received(bytes(small.buffer[small.head:small.fill]))

    def connection_lost(self, exc):
        self.drop("connection lost" if exc is None else "connection lost: %s" % exc)

    # ------------------------------------------------------------------ sending
    def send(self, data):
        if self.transport is not None and not self.transport.is_closing():
            if self.front.frame_tap is not None:
                self.front.frame_tap.frame(self.name, "out", data)
            self.transport.write(data)  # pyright: ignore[reportAttributeAccessIssue] - an asyncio TCP transport writes

    def send_frame(self, frame):
        self.send(gw376.build(frame))

    def drop(self, reason):
        """End the connection and its session (recorded with `reason`)."""
        if self.state == "closed":
            return
        self.state = "closed"
        self._left_pending()
        if self.counted:
            self.counted = False
            self.front.guard.closed()
        self.front.connections.discard(self)
        if self.transport is not None:
            self.transport.close()
        if self.session is not None:
            self.session.close()
        if self.collector is not None:
            self.collector.stop()
        for task in list(self._tasks):
            task.cancel()
        if self.terminal_id is not None:
            self.front.detach(self)
        if self.session_id is not None:
            self.front.note_session_end(self.session_id, reason)
            log.info("%s: session ended (%s)", self.name, reason)

    def spawn(self, coro):
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task):
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.front.guard.log.log(logging.ERROR, "task failed: %s" % type(exc).__name__,
                                     self.ip, "%s: %r", self.name, exc, exc_info=exc)

    # ------------------------------------------------------------------ frames in
    def frame_received(self, frame):
        if self.state != "online":
            self.frames_in += 1
        if frame.direction != gw376.UP:
            self.front.stats["bad_frames"] += 1
            self.strike(1, "a downlink frame")
            return
        if self.state == "new":
            if frame.prm and frame.afn == AFN_LINK and frame.units and frame.units[0][1] == LOGIN:
                # the peer has done its part: from now on it waits for the station, and the
                # login deadline and the per-IP count are for peers that send nothing useful
                self._left_pending()
                self.state = "logging_in"
                self.spawn(self._login(frame))
            else:
                if frame.prm:
                    self.send_frame(gw376.deny(frame))
                self.front.denied(frame.area, frame.terminal, self.peer,
                                  "frame AFN%02X before login" % frame.afn, login=False)
                self.strike(1, "frame before login")
            return
        if self.state == "logging_in":
            self._held.append(frame)
            return
        if self.state != "online":
            return
        if frame.area != self.area or frame.terminal != self.address:
            if frame.prm:
                self.send_frame(gw376.deny(frame))
            self.front.denied(frame.area, frame.terminal, self.peer,
                              "address %s on the session of %s" % (frame.address_text,
                                                                   self.label), login=False)
            self.strike(1, "frame for another terminal")
            return
        if frame.acd and frame.ec is not None and not (frame.prm and frame.afn == 0x0E):
            self._note_ec(frame.ec)       # an event report's own ACD is settled by storing it
        if not frame.prm:
            self.session.on_reply(frame)  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            return
        if frame.afn == AFN_LINK:
            self._link_service(frame)
        elif frame.afn in (0x0C, 0x0D, 0x0E):
            if self._reports >= MAX_REPORTS_IN_FLIGHT:
                self.front.stats["reports_deferred"] += 1
                self.front.guard.log.warning("reports deferred", self.ip, "%s: %d uploads or "
                                             "event reports being stored; more are left "
                                             "unconfirmed", self.name, self._reports)
                return
            self._reports += 1              # counted now: a chunk may carry many
            self.spawn(self._report(frame))
        elif frame.con:
            self.send_frame(gw376.deny(frame))

    async def _report(self, frame):
        try:
            if frame.afn == 0x0E:
                await self._event_report(frame)
            else:
                await self._upload(frame)
        finally:
            self._reports -= 1

    def _note_ec(self, ec):
        self.ec = ec
        self.events_due.set()

    def _link_service(self, frame):
        fn = frame.units[0][1] if frame.units else 0
        if fn == HEARTBEAT:
            self.send_frame(gw376.confirm(frame))
            now = time.monotonic()
            if self._last_beat is not None and now - self._last_beat >= 1.0:
                self.heartbeat_period = now - self._last_beat
            self._last_beat = now
            self.heartbeats += 1
            self.front.stats["heartbeats"] += 1
            self.front.writer.note_heartbeat(self.session_id, int(self.front.clock()))
        elif fn == LOGIN:               # logged in again on the same connection
            self.send_frame(gw376.confirm(frame))
        elif fn == LOGOUT:
            self.send_frame(gw376.confirm(frame))
            self.drop("logout")
        else:
            self.send_frame(gw376.deny(frame))

    async def _login(self, frame):
        try:
            found = await self.front.lookup(frame.area, frame.terminal)
        except StationError as exc:
            log.warning("%s: registry unavailable at login (%s)", self.peer, exc)
            self.drop("database unavailable at login")     # the terminal will log in again
            return
        if self.state == "closed":
            return
        if found is None:
            self.send_frame(gw376.deny(frame))
            self.front.denied(frame.area, frame.terminal, self.peer, "not a registered terminal")
            self.drop("login denied")
            return
        if not self.front.allowed_from(found[0], self.ip):
            self.send_frame(gw376.deny(frame))
            self.front.denied(frame.area, frame.terminal, self.peer,
                              "%s may not log in from %s" % (found[1], self.ip))
            self.front.raise_alarm(found[0], "foreign_network", "a login as %s from %s, outside "
                                   "its allowed networks, was refused" % (found[1], self.peer),
                                   self.peer)
            self.drop("login refused: not from an allowed network")
            return
        if not await self._take_over(found, frame):
            return
        self.terminal_id, self.label = found
        self.area, self.address = frame.area, frame.terminal
        self._left_pending()
        self._grow_deframer()
        try:
            self.session_id = await self.front.open_session(self)
        except StationError:
            self.drop("database unavailable at login")   # the terminal will log in again
            return
        if self.state == "closed":           # the connection went while the login was written
            self.front.note_session_end(self.session_id, "connection lost at login")
            return
        self.session = TerminalSession(self.terminal_id, self.label, self.area, self.address,
                                       self.send, master=self.front.master,
                                       response_timeout=self.front.response_timeout,
                                       retries=self.front.retries, clock=self.front.clock)
        self.session.session_id = self.session_id
        self.state = "online"
        self.front.attach(self)
        self.front.stats["logins"] += 1
        log.info("%s: logged in from %s (session %s)", self.label, self.peer, self.session_id)
        self.send_frame(gw376.confirm(frame))
        if frame.acd and frame.ec is not None:
            self._note_ec(frame.ec)
        held, self._held = self._held, []
        for later in held:
            self.frame_received(later)
        from host_tools.station.collector import Collector
        self.collector = Collector(self, self.front.collector_config)
        self.spawn(self.collector.run())

    async def _take_over(self, found, frame):
        """True when this login may become the terminal's session. A session still open from
        the same IP is replaced (the terminal reconnected); one from another IP only when it no
        longer answers a clock read: else this login is refused as an impostor's. A session
        held by another front end is asked about through the database (front_ends.py)."""
        terminal_id, label = found
        old = self.front.links.get(terminal_id)
        if old is None or old.state != "online":
            return await self._take_over_elsewhere(found, frame)
        if old.ip == self.ip:
            return True
        try:
            await old.request(0x0C, [(0, 2, None)], retries=0)
            alive = True
        except SessionError:
            alive = False
        if self.state == "closed":
            return False
        if not alive or old.state != "online":
            log.info("%s: session from %s did not answer; replaced by the login from %s",
                     label, old.peer, self.peer)
            return True
        return self._refuse_second_login(found, frame, old.peer)

    async def _take_over_elsewhere(self, found, frame):
        """_take_over for a session another front end holds: that front end answers whether it
        still answers a clock read (at its next beat); no answer in time counts as silent."""
        terminal_id, label = found
        front = self.front
        if front.sole or not front.peers:
            return True
        held = await asyncio.to_thread(front.station.held_elsewhere, terminal_id,
                                       front.front_end_id, front.stale_before())
        if held is None or guardmod.peer_ip(held[1]) == self.ip:
            return True
        session_id, peer, holder = held
        await asyncio.to_thread(front.station.ask_probe, session_id, int(time.time()))
        deadline = time.monotonic() + front.response_timeout + 3 * front.beat_s + 1.0
        answer = None
        while answer is None and time.monotonic() < deadline:
            await asyncio.sleep(min(0.5, front.beat_s / 2))
            answer = await asyncio.to_thread(front.station.probe_answer, session_id)
        if self.state == "closed":
            return False
        if answer != "alive":
            log.info("%s: session from %s at front end #%d %s; replaced by the login from %s",
                     label, peer, holder, "ended" if answer == "ended" else "did not answer",
                     self.peer)
            return True
        return self._refuse_second_login(found, frame, peer)

    def _refuse_second_login(self, found, frame, old_peer):
        terminal_id, label = found
        self.send_frame(gw376.deny(frame))
        self.front.denied(frame.area, frame.terminal, self.peer,
                          "%s is logged in from another address" % label)
        self.front.raise_alarm(
            terminal_id, "second_login", "a login as %s from %s was refused: its session from "
            "%s is alive" % (label, self.peer, old_peer), self.peer)
        self.drop("login refused: session alive elsewhere")     # cancels this task
        return False

    async def password(self):
        """The terminal's PW (loaded once per session)."""
        if self.session.password is None:  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
            self.session.password = await asyncio.to_thread(self.front.station.terminal_password,  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use
                                                            self.terminal_id)
        return self.session.password  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use

    async def request(self, afn, units, **options):
        """A request on this terminal's session (PW loaded first when the AFN needs it)."""
        if gw376.needs_pw(afn, gw376.DOWN):
            await self.password()
        return await self.session.request(afn, units, **options)  # pyright: ignore[reportOptionalMemberAccess] - set by start() or the login before use

    # ------------------------------------------------------------------ active reports
    async def _upload(self, frame):
        """Store an active upload, then confirm it (if CON) once committed.

        Store-and-forward uploads carry ring-log records in the vendor unit F241 (uploads.py);
        standard units (AFN0C F25, F33, F34, F129..F136; AFN0D daily / monthly frozen energy and
        the curves of items.CURVE_ITEMS) are stored the same way.
        """
        readings, frozen, events = [], [], []
        try:
            identity = gw376_upload.upload_identity(frame)
        except ProtocolError as exc:
            log.warning("%s: unreadable upload (%s): denied", self.name, exc)
            self.front.stats["upload_errors"] += 1
            if frame.con:
                self.send_frame(gw376.deny(frame))
            return
        if identity is not None and identity["records"]:
            readings, frozen, events = uploadsmod.records_to_data(
                self.terminal_id, identity["records"], await self.protocols())
        try:
            self._standard_units(frame, readings, frozen)
        except StationError as exc:
            log.warning("%s: upload not readable (%s): denied", self.name, exc)
            self.front.stats["upload_errors"] += 1
            if frame.con:
                self.send_frame(gw376.deny(frame))
            return
        readings, frozen = await self.plausible(readings, frozen)
        stats = self.front.stats
        try:
            if readings:
                stats["readings_stored"] += await self.front.writer.store_readings(readings)
            if frozen:
                stats["frozen_stored"] += await asyncio.to_thread(self._store_frozen, frozen)
            if events:
                events = [self.front.checked_event(e) for e in events]
                stored = await asyncio.to_thread(self.front.station.store_events, events)
                stats["events_stored"] += stored
                self.front.events_stored(self.terminal_id, events)
        except StationError as exc:
            # not confirmed: the terminal keeps the data and sends it again
            stats["upload_errors"] += 1
            log.warning("%s: upload not stored (%s); not confirmed", self.name, exc)
            return
        stats["uploads"] += 1
        if identity is not None:
            self.last_upload_seq = identity["first"] + identity["count"] - 1
        if frame.con:
            self.confirm_upload(frame)

    def _standard_units(self, frame, readings, frozen):
        """Add the readings and frozen values of the standard units in an upload."""
        for pn, fn, data in frame.units:
            if not isinstance(data, dict):
                continue
            if frame.afn == 0x0C and fn in REALTIME_ENERGY:
                readings.extend(itemsmod.readings_from_energy(self.terminal_id, pn, data))
            elif frame.afn == 0x0C and fn == 25:
                readings.extend(itemsmod.readings_from_power(self.terminal_id, pn, data))
            elif frame.afn == 0x0D and fn in FROZEN_ENERGY:
                frozen.extend(itemsmod.frozen_from_energy(self.terminal_id, pn, data))
            elif frame.afn == 0x0D and fn in itemsmod.CURVE_ITEMS:
                readings.extend(itemsmod.readings_from_curve(self.terminal_id, pn, fn, data))

    async def plausible(self, readings, frozen):
        """The readings and frozen values worth storing: those of points in the terminal's
        archive, dated no further ahead of the station's clock than future_tolerance_s (its
        clock is set when more than 5 s off); the others are counted, logged and dropped."""
        points = await self.protocols()
        if any(v.pn not in points for v in readings + frozen) and \
                time.monotonic() - self._protocols_at >= ARCHIVE_RELOAD_S:
            self._protocols = None          # a point may have been added since it was read
            points = await self.protocols()
        zone = self.front.station.zone
        latest = self.front.clock() + self.front.future_tolerance_s
        rejected = {}

        def keep(value, when):
            if value.pn not in points:
                why = "point p%d is not in the archive" % value.pn
            else:
                try:
                    if to_epoch(when, zone) <= latest:
                        return True
                except StationError:
                    pass
                why = "dated %s, ahead of the station's clock" % (when,)
            rejected[why] = rejected.get(why, 0) + 1
            return False

        readings = [r for r in readings if keep(r, r.read_at)]
        frozen = [v for v in frozen if keep(v, v.read_at or (tuple(v.period) + (1,))[:3])]
        if rejected:
            count = sum(rejected.values())
            self.front.stats["readings_rejected"] += count
            self.front.guard.log.warning("rejected readings", self.ip, "%s: %d values rejected, "
                                         "not stored: %s", self.name, count,
                                         "; ".join(sorted(rejected)))
        return readings, frozen

    async def protocols(self):
        """{pn: protocol} of the terminal's archive (loaded once per session; plausible() reads
        it again when an upload names a point it lacks, at most every ARCHIVE_RELOAD_S)."""
        if self._protocols is None:
            points = await asyncio.to_thread(self.front.station.measuring_points,
                                             self.terminal_id)
            self._protocols = {p.pn: p.protocol for p in points}
            self._protocols_at = time.monotonic()
        return self._protocols

    def confirm_upload(self, frame):
        """Confirm a stored upload (a seam for tests that simulate a crash before the confirm)."""
        self.send_frame(gw376.confirm(frame))

    def _store_frozen(self, frozen):
        daily = [v for v in frozen if len(v.period) == 3]
        monthly = [v for v in frozen if len(v.period) == 2]
        stored = 0
        if daily:
            stored += self.front.station.store_daily_frozen(daily)
        if monthly:
            stored += self.front.station.store_monthly_frozen(monthly)
        return stored

    async def _event_report(self, frame):
        try:
            for _, fn, data in frame.units:
                if fn in (1, 2) and isinstance(data, dict):
                    await self.front.store_events(self.terminal_id, data, fn == 1, report=True)
        except StationError as exc:
            log.warning("%s: event report not stored (%s); not confirmed", self.name, exc)
            return
        if frame.con:
            self.send_frame(gw376.confirm(frame))
        if frame.acd and frame.ec is not None:
            read = await asyncio.to_thread(self.front.station.event_counters, self.terminal_id)
            if (read[0] or 0) != frame.ec[0] or (read[1] is not None and read[1] != frame.ec[1]):
                self._note_ec(frame.ec)   # more events than this report carried
