"""The web process's alarm loop and the change signal its live pages wait on.

Alarms are raised here, in `conc station web`, by polling the events table (and arrears cases
follow their trip/close commands here too, arrears.follow): `conc station serve`
stays a front end that only stores what terminals send (its latency and ingest figures do not
depend on the alarm rules), and one console process on the database is all a site needs. Every
`poll_s` the loop turns new events into alarms (alarms.raise_from_events); every `rules_s` it
applies the station rules (alarms.evaluate_rules). The loop's work runs in a thread (database
calls block); when anything changed it bumps `version`, which wakes every open alarm stream.
Two console processes on one database are safe (an event's alarm is unique on its id; the second
insert fails and that pass is retried) but pointless.
"""
import asyncio
import logging
import time

from sqlalchemy.exc import DBAPIError

from host_tools.business import alarms, arrears
from host_tools.console.db import writing

log = logging.getLogger(__name__)


class AlarmWatcher:
    def __init__(self, engine, zone, poll_s=0.5, rules_s=30.0, clock=time.time):
        self.engine = engine
        self.zone = zone
        self.poll_s = poll_s
        self.rules_s = rules_s
        self.clock = clock
        self.version = 0
        self._changed = None
        self._last_rules = 0.0

    def _pass(self, with_rules):
        now = int(self.clock())
        with writing(self.engine) as conn:
            alarms.ensure_rules(conn, now)
            raised = alarms.raise_from_events(conn, now, self.zone)
            if with_rules:
                raised += alarms.evaluate_rules(conn, now, self.zone)
            # Arrears cases follow their trip/close commands as the relay confirms.
            moved = arrears.follow(conn, now)
        return raised or moved

    def poke(self):
        """Something changed (an acknowledgement, new alarms): wake the streams."""
        self.version += 1
        if self._changed is not None:
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait(self, version, timeout):
        """Return when `version` is out of date, or after `timeout` seconds."""
        if self._changed is None:
            self._changed = asyncio.Event()
        if self.version != version:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    async def run(self):
        while True:
            monotonic = time.monotonic()
            with_rules = monotonic - self._last_rules >= self.rules_s
            try:
                changed = await asyncio.to_thread(self._pass, with_rules)
                if with_rules:
                    self._last_rules = monotonic
                if changed or with_rules:
                    self.poke()
            except DBAPIError as exc:
                log.warning("raising alarms failed (tried again in %.1f s): %s", self.poll_s,
                            exc)
            await asyncio.sleep(self.poll_s)
