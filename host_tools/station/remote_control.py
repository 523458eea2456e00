"""Remote trip and close, carried out by the serving station for commands operators put in the DB.

How an operator's command reaches a terminal: `conc station trip --meter M` (or `close`) writes a
`commands` row (state `pending`, audit step `created`, the operator's name) and watches its audit
trail. The serving station's CommandRunner polls for pending trip/close commands every
`poll_s` and executes each on the terminal's session:

  1. terminal offline: step `waiting` once; still offline after `offline_wait_s` -> `failed`.
  2. AFN05 F1 (trip, Pn = the meter's measuring point, warning delay 0, no limit) or F2 (permit
     close), with the terminal's PW: step `sent`, state `sent`.
  3. The terminal's answer: AFN00 F2 -> `denied`; no answer after the retries -> `timeout`;
     confirmed -> step `answer` confirmed, and the station follows the relay:
  4. the concentrator reports the meter's relay outcome as an event (vendor ERC 60: time, Pn,
     command, outcome 0 confirmed / 1 refused / 2 no reply / 3 unconfirmed, status word 3), read
     like any event (ACD -> AFN0E). Outcome 0 -> `confirmed`; any other -> `failed`; no outcome
     within `follow_s` -> `timeout`. While waiting, the station asks the terminal's clock
     (AFN0C F2) every `probe_s` so a reply carrying ACD brings the events in.

Every step lands in `command_steps` (append-only), so the CLI prints each as it happens. Commands
left `sent` by a station that stopped mid-way are failed at start-up (the relay state is unknown:
the operator decides whether to send it again; nothing is sent twice behind their back).
"""
import asyncio
import logging
import time

from host_tools.station.errors import StationError
from host_tools.station.session import Denied, SessionError

log = logging.getLogger(__name__)

ERC_RELAY = 60
RELAY_OUTCOMES = ("confirmed", "refused by the meter", "no reply from the meter",
                  "not confirmed by the meter's status word")
KINDS = {"trip": 1, "close": 2}


def relay_outcome(event):
    """(pn, outcome code, status word 3 or None) of a stored ERC 60 event's data bytes."""
    data = event.data
    pn = data[5] | (data[6] & 0x0F) << 8
    status = data[9] | data[10] << 8 if len(data) >= 11 else 0xFFFF
    return pn, data[8], None if status == 0xFFFF else status


class CommandRunner:
    """Polls the database for operator commands and executes them (module docstring)."""

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
        for command in await asyncio.to_thread(self.station.commands, unfinished=True):
            if command.kind in KINDS and command.state == "sent":
                await self._step(command.id, "station", "failed", "the station stopped while "
                                 "the command was in progress; the relay state is unknown",
                                 state="failed")

    async def poll(self):
        """Start every pending trip/close command not yet running."""
        for command in await asyncio.to_thread(self.station.commands, unfinished=True):
            if command.kind in KINDS and command.state == "pending" and \
                    command.id not in self.running:
                task = asyncio.get_running_loop().create_task(self.execute(command))
                self.running[command.id] = task
                task.add_done_callback(lambda _, cid=command.id: self.running.pop(cid, None))

    async def _step(self, command_id, step, outcome, detail="", state=None):
        await asyncio.to_thread(self.station.record_command_step, command_id, step, outcome,
                                detail, state)

    async def execute(self, command):
        try:
            await self._execute(command)
        except StationError as exc:
            log.error("command %d: %s", command.id, exc)
        except Exception as exc:  # noqa: BLE001 - an operator command must always finish
            log.exception("command %d failed", command.id)
            await self._step(command.id, "station", "failed", "internal error: %s" % exc,
                             state="failed")

    # --- business-core (issue 13): a trip/close runs only for a user who may control relays.
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
    # --- end business-core

    async def _execute(self, command):
        refusal = await asyncio.to_thread(self._refusal, command.id)    # business-core
        if refusal:                                                     # business-core
            await self._step(command.id, "authorise", "denied", refusal, state="denied")
            return                                                      # business-core
        link = self.front.link(command.terminal_id)
        if link is None or link.session is None:
            await self._step(command.id, "waiting", "offline", "terminal %s is not connected; "
                             "waiting up to %.0f s" % (command.terminal_label,
                                                       self.offline_wait_s))
            deadline = time.monotonic() + self.offline_wait_s
            while time.monotonic() < deadline:
                await asyncio.sleep(min(0.5, self.poll_s))
                link = self.front.link(command.terminal_id)
                if link is not None and link.session is not None:
                    break
            else:
                await self._step(command.id, "waiting", "failed", "terminal %s did not connect"
                                 % command.terminal_label, state="failed")
                return
        fn = KINDS[command.kind]
        value = {"warn_delay_min": 0, "limit_half_hours": 0} if fn == 1 else None
        baseline = await self._latest_relay_event_id(command.terminal_id)
        await self._step(command.id, "sent", "ok", "AFN05 F%d to %s p%d (meter %s)" % (
            fn, command.terminal_label, command.pn, command.meter_address or "-"), state="sent")
        try:
            await link.request(0x05, [(command.pn, fn, value)])
        except Denied as exc:
            await self._step(command.id, "answer", "denied", str(exc), state="denied")
            return
        except SessionError as exc:
            await self._step(command.id, "answer", "timeout", str(exc), state="timeout")
            return
        await self._step(command.id, "answer", "confirmed",
                         "terminal accepted the command; following the meter's relay")
        await self._follow(command, link, baseline)

    async def _latest_relay_event_id(self, terminal_id):
        events = await asyncio.to_thread(self.station.events, terminal_id, None, None, ERC_RELAY)
        return max((e.id for e in events), default=0)

    async def _follow(self, command, link, baseline):
        deadline = time.monotonic() + self.follow_s
        while True:
            events = await asyncio.to_thread(self.station.events, command.terminal_id, None,
                                             None, ERC_RELAY)
            for event in events:
                if event.id <= baseline or len(event.data) < 9:
                    continue
                pn, outcome, status = relay_outcome(event)
                if pn != command.pn:
                    continue
                detail = "ERC60 outcome: %s" % (RELAY_OUTCOMES[outcome] if outcome < 4
                                                else outcome)
                if status is not None:
                    detail += ", status word 3 = %04X" % status
                await self._step(command.id, "relay", "confirmed" if outcome == 0 else "failed",
                                 detail, state="confirmed" if outcome == 0 else "failed")
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
