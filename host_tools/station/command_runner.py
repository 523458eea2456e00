"""Remote trip and close, carried out by the serving station for commands operators put in the DB.

How an operator's command reaches a terminal: `conc station trip --meter M` (or `close`) writes a
`commands` row (state `pending`, audit step `created`, the operator's name) and watches its audit
trail. Every `poll_s` the CommandRunner of each serving front end claims the pending trip/close
commands it should execute (front_ends.py: those of the terminals it holds, or of terminals no
front end holds; each command is claimed by one front end only) and executes each on the
terminal's session:

  0. one command per meter at a time, across all front ends: a command for a meter that has one
     in progress gets the step `queued` and starts when that one has finished (two trips of one
     meter sent together would each take the other's answer or end in a false timeout). A point
     that is not in the terminal's archive is refused (`failed`), never sent.
  1. terminal offline: step `waiting` once; still offline after `offline_wait_s` -> `failed`.
     Connected to another front end meanwhile: step `moved`, the command is released and that
     front end claims it (the command follows the terminal).
  2. AFN05 F1 (trip, Pn = the meter's measuring point, warning delay 0, no limit) or F2 (permit
     close), with the terminal's PW: step `sent`, state `sent`.
  3. The terminal's answer: AFN00 F2 -> `denied`; no answer after the retries -> `timeout`;
     the connection gone before the answer -> step `answer` lost, and once the terminal is
     back (on whichever front end holds it then, within `offline_wait_s`) the same command is
     sent once more (trip and close are idempotent; SENDS in all); confirmed -> step
     `answer` confirmed, and the station follows the relay from the events it had before
     the first send (an ERC 33 that came with the reconnect counts):
  4. the concentrator reports the meter's relay state with the standard's record: ERC 33 (meter
     status word change) for the point, carrying status word 3 (DL/T 645 04000503) as the meter
     reported it after the command; bit 4 set = relay open. It is read like any event (ACD ->
     AFN0E, or the active report). The relay in the commanded state (trip: open; close:
     closed) -> `confirmed`, in the other -> `failed`; nothing within `follow_s` -> `timeout`.
     While waiting, the station asks the terminal's clock (AFN0C F2) every `probe_s` so a
     reply carrying ACD brings the events in. (Firmware before ERC 33 reported a vendor ERC 60
     record - time, Pn, command, outcome, status word 3 - which is still understood.)
     A meter that refused or did not answer is told by the AFN05 answer itself: our terminals
     deny the command when that outcome comes within the master's timeout.

A terminal whose relay path is "forward" (`conc station terminals set-relay-path`, for terminals
without our AFN05-per-measuring-point mapping) gets the standard's way instead: DL/T 645 0x1C to
the meter through AFN10 F1, then status word 3 read the same way (relay_forward.py): steps
`sent`, then `relay` confirmed / failed (or `answer` denied / timeout).

Every step lands in `command_steps` (append-only), so the CLI prints each as it happens. Commands
left `sent` by a front end that stopped mid-way are failed when it is retired (at its stop, or by
a peer or its successor once its heartbeat is stale): the relay state is unknown, the operator
decides whether to send it again; nothing is sent twice behind their back.
"""
import asyncio
import logging
import time

from host_tools.station.errors import StationError, UnknownMeter
from host_tools.station.session import Denied, SessionClosed, SessionError

log = logging.getLogger(__name__)

ERC_STATUS_WORDS = 33          # Q/GDW 1376.1 ERC33: meter running status word change
ERC_RELAY = 60                 # the vendor record of firmware before ERC33 (still understood)
ERC_AUTHENTICATION = 20        # 1376.1 ERC20 message authentication error: the PW was wrong
RELAY_OUTCOMES = ("confirmed", "refused by the meter", "no reply from the meter",
                  "not confirmed by the meter's status word")
KINDS = {"trip": 1, "close": 2}
# A command whose connection ended before the terminal answered is sent once more when the
# terminal is back: the first may never have arrived, and a second trip (or close) of a meter
# whose relay already switched changes nothing.
SENDS = 2
STATUS3_RELAY_OPEN = 0x0010    # status word 3 bit 4 (protocol.dlt645_items)


def relay_outcome(event):
    """(pn, outcome code, status word 3 or None) of a stored ERC 60 event's data bytes."""
    data = event.data
    pn = data[5] | (data[6] & 0x0F) << 8
    status = data[9] | data[10] << 8 if len(data) >= 11 else 0xFFFF
    return pn, data[8], None if status == 0xFFFF else status


def status_word_3(event):
    """(pn, status word 3 or None) of a stored ERC33 record: time 5, pn 2, change flags
    ST1..ST7 (7 x 2 bytes), status words ST1..ST7 (7 x 2 bytes, ST3 at byte 25)."""
    data = event.data
    if len(data) < 35:
        return None, None
    pn = data[5] | (data[6] & 0x0F) << 8
    word = data[25] | data[26] << 8
    return pn, None if word == 0xEEEE else word


def relay_verdict(kind, event):
    """(state, detail) a relay event says about a `kind` command, or None if it says nothing."""
    if event.erc == ERC_STATUS_WORDS:
        _, word = status_word_3(event)
        if word is None:
            return None
        opened = bool(word & STATUS3_RELAY_OPEN)
        good = opened == (kind == "trip")
        return ("confirmed" if good else "failed",
                "ERC33 status word 3 = %04X: relay %s" % (word, "open" if opened else "closed"))
    _, outcome, status = relay_outcome(event)
    detail = "ERC60 outcome: %s" % (RELAY_OUTCOMES[outcome] if outcome < 4 else outcome)
    if status is not None:
        detail += ", status word 3 = %04X" % status
    return ("confirmed" if outcome == 0 else "failed"), detail


def event_pn(event):
    if event.erc == ERC_STATUS_WORDS:
        return status_word_3(event)[0]
    return relay_outcome(event)[0] if len(event.data) >= 9 else None


class CommandRunner:
    """Claims operator commands from the database and executes them (module docstring)."""

    def __init__(self, front, poll_s=1.0, offline_wait_s=60.0, follow_s=60.0, probe_s=5.0):
        self.front = front
        self.station = front.station
        self.poll_s = poll_s
        self.offline_wait_s = offline_wait_s
        self.follow_s = follow_s
        self.probe_s = probe_s
        self.running = {}               # command id -> task

    async def run(self):
        await self._fail_interrupted()
        while True:
            try:
                await self.poll()
            except StationError as exc:
                log.warning("reading pending commands failed: %s", exc)
            await asyncio.sleep(self.poll_s)

    async def _fail_interrupted(self):
        """Commands a station before front_ends (revision 0005) left `sent`; those of a front
        end that stopped are failed when it is retired (front_ends.py)."""
        for command_id in await asyncio.to_thread(self.station.unowned_sent_commands):
            await self._step(command_id, "station", "failed", "the station stopped while "
                             "the command was in progress; the relay state is unknown",
                             state="failed")

    async def poll(self):
        """Start the commands this front end claims: of the terminals it holds, or of terminals
        no front end holds; oldest first, one per meter (front_ends.claim_commands)."""
        claims = await asyncio.to_thread(self.station.claim_commands, self.front.front_end_id,
                                         self.front.stale_before(), int(time.time()))
        for command_id, sends, baseline in claims:
            if command_id in self.running:
                continue
            command = await asyncio.to_thread(self.station.command, command_id)
            task = asyncio.get_running_loop().create_task(self.execute(command, sends, baseline))
            self.running[command_id] = task
            task.add_done_callback(lambda _, cid=command_id: self.running.pop(cid, None))

    def cancel(self):
        """Stop every command being executed (the front end was retired by its peers)."""
        for task in self.running.values():
            task.cancel()

    async def _step(self, command_id, step, outcome, detail="", state=None):
        await asyncio.to_thread(self.station.record_command_step, command_id, step, outcome,
                                detail, state)

    async def execute(self, command, sends=0, baseline=None):
        try:
            if sends == 0:
                await self._execute(command)
            else:       # its answer was lost on another front end: sent again from here
                await self._deliver(command, sends, baseline)
        except StationError as exc:
            log.error("command %d: %s", command.id, exc)
        except Exception as exc:  # noqa: BLE001 - an operator command must always finish
            log.exception("command %d failed", command.id)
            await self._step(command.id, "station", "failed", "internal error: %s" % exc,
                             state="failed")

    # A trip/close runs only for a user who may control relays (issue 13).
    def _refusal(self, command_id):
        """Why the command's user may not switch a relay, or None when they may."""
        from host_tools.business.users import User, may
        with self.station.db.transaction(write=False):
            row = self.station.db.row(
                "SELECT u.id, u.name, u.role, u.active FROM commands c "
                "LEFT JOIN users u ON u.id = c.user_id WHERE c.id = :id", {"id": command_id})
        if row is None or row[0] is None:
            return "the command names no station user: give it with `--user NAME`"
        if not row[3] or not may(User(row[0], row[1], row[2], ""), "relay.control"):
            return "user %s (role %s%s) may not switch relays" % (
                row[1], row[2], "" if row[3] else ", disabled")
        return None

    async def _execute(self, command):
        refusal = await asyncio.to_thread(self._refusal, command.id)
        if refusal:
            await self._step(command.id, "authorise", "denied", refusal, state="denied")
            return
        if not await self._in_archive(command):
            await self._step(command.id, "check", "refused", "p%s is not in the archive of "
                             "terminal %s: nothing sent (add the meter with `conc station "
                             "terminals add-meter` first)" % (command.pn, command.terminal_label),
                             state="failed")
            return
        await self._deliver(command, 0, None)

    async def _deliver(self, command, sends, baseline):
        """Send the command on the terminal's session, again once when the terminal went before
        answering (trip and close are idempotent: a second send leaves the relay as the first
        would have), at most SENDS in all; a terminal that answers nothing (ResponseTimeout)
        ends the command as `timeout`."""
        while True:
            link = await self._terminal(command, lost=sends > 0)
            if link is None:
                return
            forward = await asyncio.to_thread(self.station.relay_path,
                                              command.terminal_id) == "forward"
            if sends == 0 and not forward:
                baseline = await self._latest_relay_event_id(command.terminal_id)
            try:
                if forward:
                    await self._execute_forwarded(command, link, sends)
                else:
                    await self._send_afn05(command, link, sends, baseline)
                return
            except SessionClosed:
                sends += 1
                if sends >= SENDS:
                    await self._step(command.id, "answer", "timeout", "terminal %s disconnected "
                                     "again before answering; not sent a %s time"
                                     % (command.terminal_label, "third" if sends == 2 else
                                        "further"), state="timeout")
                    return
                await self._step(command.id, "answer", "lost", "terminal %s disconnected "
                                 "before answering; sending again when it is back"
                                 % command.terminal_label)

    async def _terminal(self, command, lost=False):
        """The terminal's link on this front end, once it has one, within offline_wait_s; None
        when it is held by another front end (the command is released to it and follows the
        terminal) or when it did not come back (the command ended: failed, or after a lost
        answer timeout, the relay state unknown)."""
        deadline = time.monotonic() + self.offline_wait_s
        waiting = lost                      # a lost answer has said it waits already
        while True:
            link = self.front.link(command.terminal_id)
            if link is not None and link.session is not None and not link.session.closed:
                return link
            holder = await asyncio.to_thread(self.station.terminal_holder, command.terminal_id,
                                             self.front.stale_before())
            if holder is not None and holder != self.front.front_end_id:
                if await asyncio.to_thread(self.station.release_command, command.id,
                                           self.front.front_end_id, int(time.time())):
                    await self._step(command.id, "moved", "ok", "terminal %s is held by front "
                                     "end #%d: the command follows it there"
                                     % (command.terminal_label, holder))
                return None
            if not waiting:
                waiting = True
                await self._step(command.id, "waiting", "offline", "terminal %s is not "
                                 "connected; waiting up to %.0f s" % (command.terminal_label,
                                                                      self.offline_wait_s))
            if time.monotonic() >= deadline:
                if lost:
                    await self._step(command.id, "waiting", "timeout", "terminal %s did not "
                                     "come back within %.0f s: the relay state is unknown"
                                     % (command.terminal_label, self.offline_wait_s),
                                     state="timeout")
                else:
                    await self._step(command.id, "waiting", "failed", "terminal %s did not "
                                     "connect" % command.terminal_label, state="failed")
                return None
            await asyncio.sleep(min(0.5, self.poll_s, max(0.01, deadline - time.monotonic())))

    async def _send_afn05(self, command, link, sends, baseline):
        """AFN05 F1/F2 on the link; SessionClosed when the terminal went before answering."""
        fn = KINDS[command.kind]
        value = {"warn_delay_min": 0, "limit_half_hours": 0} if fn == 1 else None
        pw_baseline = max((e.id for e in await self._authentication_errors(
            command.terminal_id)), default=0)
        sends = await asyncio.to_thread(self.station.note_command_send, command.id, baseline)
        await self._step(command.id, "sent", "ok", "AFN05 F%d to %s p%d (meter %s)%s" % (
            fn, command.terminal_label, command.pn, command.meter_address or "-",
            "" if sends == 1 else ", send %d of %d" % (sends, SENDS)), state="sent")
        outcome, _ = await self._answer(command, link.request(0x05, [(command.pn, fn, value)]))
        if outcome == "denied":
            await self._check_pw(command, link, pw_baseline)
        if outcome != "answered":
            return
        await self._step(command.id, "answer", "confirmed",
                         "terminal accepted the command; following the meter's relay")
        await self._follow(command, link, baseline)

    async def _answer(self, command, request):
        """("answered", the result) of a command's request to its terminal, or ("denied" or
        "timeout", None) with that answer recorded as the command's end. SessionClosed passes
        on: the terminal went before answering and the command is sent again (_deliver)."""
        try:
            return "answered", await request
        except Denied as exc:
            outcome = "denied"
            detail = str(exc)
        except SessionClosed:
            raise
        except SessionError as exc:
            outcome = "timeout"
            detail = str(exc)
        await self._step(command.id, "answer", outcome, detail, state=outcome)
        return outcome, None

    async def _in_archive(self, command):
        if command.terminal_id is None or command.pn is None:
            return False
        try:
            await asyncio.to_thread(self.station.measuring_point, command.terminal_id, command.pn)
        except UnknownMeter:
            return False
        return True

    async def _execute_forwarded(self, command, link, sends=0):
        """The terminal's relay path is "forward": DL/T 645 0x1C and the status word read
        through AFN10 F1 (relay_forward.py). SessionClosed when the terminal went before
        answering."""
        from host_tools.station import relay_forward
        from host_tools.station.times import from_epoch
        try:
            point = await asyncio.to_thread(self.station.measuring_point, command.terminal_id,
                                            command.pn)
        except UnknownMeter:
            point = None
        if point is None:
            await self._step(command.id, "sent", "failed", "p%d has no meter in the station's "
                             "archive of %s: forwarding needs its address and password"
                             % (command.pn, command.terminal_label), state="failed")
            return
        sends = await asyncio.to_thread(self.station.note_command_send, command.id, None)
        await self._step(command.id, "sent", "ok", "DL/T 645 0x1C %s to meter %s through "
                         "AFN10 F1 on port %d of %s%s" % (
                             command.kind, point.meter_address, point.port,
                             command.terminal_label,
                             "" if sends == 1 else ", send %d of %d" % (sends, SENDS)),
                         state="sent")
        now = from_epoch(int(self.front.clock()), self.station.zone)
        outcome, verdict = await self._answer(
            command, relay_forward.switch(link, point, command.kind, now))
        if outcome == "answered":
            state, detail = verdict  # pyright: ignore[reportGeneralTypeIssues] - an answered switch has its verdict
            await self._step(command.id, "relay", state, detail, state=state)

    async def _authentication_errors(self, terminal_id):
        """The terminal's own ERC20 records (not the station's alarms, stored beside them)."""
        return [e for e in await asyncio.to_thread(self.station.events, terminal_id, None, None,
                                                   ERC_AUTHENTICATION)
                if '"raised_by": "station"' not in (e.detail or "")]

    async def _check_pw(self, command, link, baseline):
        """A denied control command is a security matter when the terminal recorded ERC20 for
        it (its ACD brings the record in): someone holds a wrong PW for this terminal, or the
        terminal is not the one registered. Raise an alarm of its own for it."""
        deadline = time.monotonic() + self.probe_s
        while True:
            if any(e.id > baseline for e in await self._authentication_errors(
                    command.terminal_id)):
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await self.front.next_events(command.terminal_id, min(0.5, remaining))
        await self._step(command.id, "security", "alarm", "the terminal recorded ERC20 "
                         "(message authentication error): the PW the station holds for %s is "
                         "wrong" % command.terminal_label)
        await self.front.security_alarm(
            command.terminal_id, "control_pw_denied", "command #%d (%s of meter %s) was denied "
            "by %s with ERC20: wrong PW" % (command.id, command.kind,
                                             command.meter_address or "-",
                                             command.terminal_label),
            link.peer, key="command-%d" % command.id)

    async def _relay_events(self, terminal_id):
        events = []
        for erc in (ERC_STATUS_WORDS, ERC_RELAY):
            events.extend(await asyncio.to_thread(self.station.events, terminal_id, None, None,
                                                  erc))
        return sorted(events, key=lambda e: e.id)

    async def _latest_relay_event_id(self, terminal_id):
        return max((e.id for e in await self._relay_events(terminal_id)), default=0)

    async def _follow(self, command, link, baseline):
        deadline = time.monotonic() + self.follow_s
        while True:
            for event in await self._relay_events(command.terminal_id):
                if event.id <= baseline or event_pn(event) != command.pn:
                    continue
                verdict = relay_verdict(command.kind, event)
                if verdict is None:
                    continue
                state, detail = verdict
                await self._step(command.id, "relay", state, detail, state=state)
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                await self._step(command.id, "relay", "timeout", "no relay outcome from the "
                                 "meter within %.0f s" % self.follow_s, state="timeout")
                return
            got = await self.front.next_events(command.terminal_id, min(self.probe_s, remaining))
            if not got and link.session is not None and not link.session.closed:
                try:        # a reply with ACD set makes the collector read the events
                    await link.request(0x0C, [(0, 2, None)], retries=0)
                except SessionError:
                    pass
