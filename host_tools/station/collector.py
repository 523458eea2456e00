"""Scheduled collection from one logged-in terminal: what the station asks for, and when.

    collector = Collector(link, CollectorConfig(realtime_interval_s=900))
    await collector.tick()          # do whatever is due now (tests call this with a fake clock)
    await collector.run()           # tick every config.tick_s, and at once when events are due

Per terminal (all times on `config.clock`, read in the station's zone):
- Meter archive at login: archive points not yet downloaded go out with AFN04 F10 (20 per
  frame, with the PW); then every point not yet verified is read back with AFN0A F10 and marked
  verified when the terminal holds exactly what was sent (Station.mark_archive_sent/verified).
- Clock check at login and every `clock_check_s`: AFN0C F2 reads the terminal's clock; off by
  more than `clock_tolerance_s` (5 s, the State Grid limit) -> AFN05 F31 sets it to the station's
  time. Each sync is a `time_sync` command by operator `station` with its audit trail.
- Real-time reads every `realtime_interval_s`: AFN0C F129 (current forward active energy) for the
  archive's points, 8 points per request, stored as readings.
- Daily frozen after 00:30 (`daily_after`): AFN0D F161 for yesterday, and for each of the
  `backfill_days` days before it that the database has no daily frozen `energy_fwd_total` for
  (gap backfill: Station.missing_daily_frozen), one request per day for the points missing it.
- Monthly frozen in the same round: AFN0D F177 for each of the `backfill_months` (2) months
  before this one that points have no monthly frozen `energy_fwd_total` for.
- Report tasks at login (`report_every_min`, 15; None: leave the terminal's own): AFN04 F65
  class 1 task 1 = F129, F131, F25 of every point every `report_every_min` minutes and F66
  class 2 task 1 = F161, F163 (daily frozen), F177, F179 (monthly frozen) and the curves F81..F84,
  F89..F94, F101, F103, F105..F108 of every point daily, both from the terminal's local midnight,
  then F67/F68 start them (55H). The terminal reports those standard units actively from then
  on. A terminal that denies them keeps reporting as it did (logged at INFO). With
  `report_form` ("standard" / "compact") the same request carries our firmware's vendor AFN04
  F241 choosing standard units or the compact ring-log records (other terminals deny it).
- Events when the terminal raised ACD with EC counters ahead of what the station has read:
  AFN0E F1 (important) / F2 (normal) from the stored read pointer to the terminal's counter.

A failed request (timeout, deny) is logged and tried again at the next due time; collection never
ends a session. A denied data read (AFN0C, AFN0D) is "no data", not a failure: 1376.1 terminals
deny what they do not hold, as a concentrator does right after login before its first reading
round. It is logged at INFO and counted in `stats["no_data"]`.
"""
import asyncio
import datetime
import logging
import time

from protocol.gw376 import PN_ALL
from protocol.gw376_units import REPORT_START

from host_tools.station import items as itemsmod
from host_tools.station.errors import StationError
from host_tools.station.session import Denied, SessionError
from host_tools.station.times import from_epoch

log = logging.getLogger(__name__)

POINTS_PER_REQUEST = 8
# what the class 2 report task asks for: daily and monthly frozen forward / reverse active
# energy, and the curves our firmware logs (power, voltage, current, energy registers, power
# factor; items.CURVE_ITEMS)
CLASS2_REPORTS = (161, 163, 177, 179, 81, 82, 83, 84, 89, 90, 91, 92, 93, 94, 101, 103, 105,
                  106, 107, 108)
EVENTS_PER_REQUEST = 32
ARCHIVE_PER_FRAME = 20           # 27 bytes each: a frame a small board buffer takes


class CollectorConfig:
    """How often to collect what (seconds; `clock` returns Unix seconds). A falsy
    realtime_interval_s / clock_check_s / daily_after turns that part off (events only:
    CollectorConfig(None, clock_check_s=None, daily_after=None))."""

    def __init__(self, realtime_interval_s=900.0, realtime_fn=129, daily_after=(0, 30),
                 backfill_days=3, backfill_months=2, clock_check_s=3600.0, clock_tolerance_s=5.0, tick_s=30.0,
                 clock=time.time, read_events=True, sync_archive=True, report_every_min=15,
                 report_form=None):
        self.realtime_interval_s = realtime_interval_s
        self.realtime_fn = realtime_fn
        self.daily_after = daily_after
        self.backfill_days = backfill_days
        self.backfill_months = backfill_months
        self.clock_check_s = clock_check_s
        self.clock_tolerance_s = clock_tolerance_s
        self.tick_s = tick_s
        self.clock = clock
        self.read_events = read_events
        self.sync_archive = sync_archive
        self.report_every_min = report_every_min
        self.report_form = report_form      # None keep, "standard", "compact" (vendor F241)


class Collector:
    """The collection schedule of one terminal's session (see the module docstring)."""

    def __init__(self, link, config):
        self.link = link
        self.front = link.front
        self.station = link.front.station
        self.config = config
        self.next_realtime = None        # Unix seconds; None = at the first tick
        self.next_clock_check = None
        self.daily_done_for = None       # the day (date) whose 00:30 round is done
        self.archive_checked = False
        self.reports_configured = False
        self._points = None
        self._stopped = False
        self.stats = {"realtime_reads": 0, "daily_reads": 0, "monthly_reads": 0, "clock_syncs": 0,
                      "event_reads": 0, "failures": 0, "no_data": 0}

    def stop(self):
        self._stopped = True

    async def run(self):
        while not self._stopped:
            await self.tick()
            try:
                await asyncio.wait_for(self.link.events_due.wait(), self.config.tick_s)
            except asyncio.TimeoutError:
                pass

    async def tick(self):
        """Carry out whatever is due at config.clock()."""
        now = self.config.clock()
        if self.config.read_events and self.link.events_due.is_set():
            self.link.events_due.clear()
            await self._guard("events", self.read_events())
        # Parameter downloads (AFN04) carry the PW: none to a connection that has not settled.
        settled = self.link.settled
        if settled and self.config.sync_archive and not self.archive_checked:
            self.archive_checked = True
            await self._guard("meter archive download", self.sync_archive())
        if settled and (self.config.report_every_min or self.config.report_form) and \
                not self.reports_configured:
            self.reports_configured = True
            await self._guard("report task setup", self.configure_reports())
        if self.config.clock_check_s and (self.next_clock_check is None
                                          or now >= self.next_clock_check):
            self.next_clock_check = now + self.config.clock_check_s
            await self._guard("clock check", self.check_clock())
        if self.config.realtime_interval_s and (self.next_realtime is None
                                                or now >= self.next_realtime):
            self.next_realtime = now + self.config.realtime_interval_s
            await self._guard("real-time read", self.read_realtime())
        if self.config.daily_after is None:
            return
        local = from_epoch(int(now), self.station.zone)
        after = datetime.time(*self.config.daily_after)
        if local.time() >= after and self.daily_done_for != local.date():
            self.daily_done_for = local.date()
            await self._guard("daily frozen read", self.read_daily(local.date()))
            if self.config.backfill_months:
                await self._guard("monthly frozen read", self.read_monthly(local.date()))

    async def _guard(self, what, coro):
        try:
            await coro
        except (SessionError, StationError) as exc:
            self.stats["failures"] += 1
            log.warning("%s: %s failed: %s", self.link.name, what, exc)

    async def read_data(self, afn, units):
        """An AFN0C/0D read; [] when the terminal denies it: it has no such data (yet)."""
        try:
            return await self.link.request(afn, units)
        except Denied:
            self.stats["no_data"] += 1
            log.info("%s: no data for AFN%02X %s (denied)", self.link.name, afn,
                     " ".join("p%d F%d" % (pn, fn) for pn, fn, _ in units))
            return []

    async def points(self):
        if self._points is None:
            points = await asyncio.to_thread(self.station.measuring_points, self.link.terminal_id)
            self._points = [p.pn for p in points]
        return self._points

    # ------------------------------------------------------------------ meter archive
    async def sync_archive(self):
        """Download the archive points the terminal has not been sent (AFN04 F10), then read
        them back (AFN0A F10) and mark those that match verified; returns (sent, verified)."""
        station, tid = self.station, self.link.terminal_id
        points = await asyncio.to_thread(station.measuring_points, tid)
        todo = [p for p in points if p.archive_sent_at is None or p.archive_verified_at is None]
        sent = verified = 0
        for start in range(0, len(todo), ARCHIVE_PER_FRAME):
            chunk = todo[start:start + ARCHIVE_PER_FRAME]
            unsent = [p for p in chunk if p.archive_sent_at is None]
            if unsent:
                await self.link.request(0x04, [(0, 10, {"meters": [p.to_f10() for p in unsent]})])
                await asyncio.to_thread(station.mark_archive_sent, tid, [p.pn for p in unsent])
                sent += len(unsent)
            units = await self.link.request(0x0A, [(0, 10, {"serials": [p.serial_no
                                                                         for p in chunk]})])
            found = {}
            for _, fn, data in units:
                if fn == 10 and isinstance(data, dict):
                    found.update((m["point"], m) for m in data.get("meters", ()))
            good = []
            for point in chunk:
                got = found.get(point.pn)
                if got is not None and _same_meter(point.to_f10(), got):
                    good.append(point.pn)
                else:
                    log.warning("%s: p%d read back %s, not the archive entry sent",
                                self.link.name, point.pn, "nothing" if got is None else
                                {k: v for k, v in got.items() if k != "password"})
            if good:
                await asyncio.to_thread(station.mark_archive_verified, tid, good)
                verified += len(good)
        return sent, verified

    # ------------------------------------------------------------------ report tasks
    def report_tasks(self):
        """The AFN04 units that set up and start the station's two report tasks."""
        local = from_epoch(int(self.config.clock()), self.station.zone)
        base = (local.year, local.month, local.day, 0, 0, 0, local.isoweekday())
        every = PN_ALL
        class1 = {"unit": 0, "period": self.config.report_every_min, "base": base, "ratio": 1,
                  "units": [(every, 129), (every, 131), (every, 25)]}
        class2 = {"unit": 2, "period": 1, "base": base, "ratio": 1,
                  "units": [(every, fn) for fn in CLASS2_REPORTS]}
        start = {"action": REPORT_START}
        return [(1, 65, class1), (1, 66, class2), (1, 67, start), (1, 68, start)]

    async def configure_reports(self):
        """Send the report tasks (and with `report_form`, our firmware's vendor AFN04 F241 that
        chooses standard units or the compact F241 records); True when the terminal took them."""
        units = self.report_tasks() if self.config.report_every_min else []
        if self.config.report_form:
            units.insert(0, (0, 241, {"compact": int(self.config.report_form == "compact")}))
        try:
            await self.link.request(0x04, units)
        except Denied:
            log.info("%s: report tasks (AFN04 F65..F68) denied: the terminal keeps reporting "
                     "as it is configured", self.link.name)
            return False
        return True

    # ------------------------------------------------------------------ clock
    async def check_clock(self):
        units = await self.link.request(0x0C, [(0, 2, None)])
        clock = next((data for _, fn, data in units if fn == 2 and data), None)
        if clock is None:
            raise SessionError("terminal %s sent no clock for AFN0C F2" % self.link.name)
        now = self.config.clock()
        terminal_at = _epoch(clock, self.station.zone)
        offset = terminal_at - now
        if abs(offset) <= self.config.clock_tolerance_s:
            return offset
        if not self.link.settled:       # the clock set carries the PW: set it once settled
            self.next_clock_check = min(self.next_clock_check or now, now + self.config.tick_s)
            return offset
        await self.sync_clock(offset)
        return offset

    async def sync_clock(self, offset):
        """AFN05 F31 with the station's time, recorded as a time_sync command."""
        station = self.station
        command_id = await asyncio.to_thread(
            station.create_command, self.link.terminal_id, "time_sync", "station",
            reason="terminal clock off by %+.0f s" % offset,
            parameters={"offset_s": round(offset, 1)})
        local = from_epoch(int(self.config.clock()), station.zone)
        value = (local.year, local.month, local.day, local.hour, local.minute, local.second,
                 local.isoweekday())
        await asyncio.to_thread(station.record_command_step, command_id, "sent", "ok",
                                "AFN05 F31 %s" % local.isoformat(timespec="seconds"),
                                state="sent")
        try:
            await self.link.request(0x05, [(0, 31, value)])
        except SessionError as exc:
            state = "denied" if type(exc).__name__ == "Denied" else "timeout"
            await asyncio.to_thread(station.record_command_step, command_id, "answer", state,
                                    str(exc), state=state)
            raise
        await asyncio.to_thread(station.record_command_step, command_id, "answer", "confirmed",
                                "terminal clock set", state="confirmed")
        self.stats["clock_syncs"] += 1

    # ------------------------------------------------------------------ real-time
    async def read_realtime(self):
        pns = await self.points()
        readings = []
        fn = self.config.realtime_fn
        for start in range(0, len(pns), POINTS_PER_REQUEST):
            chunk = pns[start:start + POINTS_PER_REQUEST]
            units = await self.read_data(0x0C, [(pn, fn, None) for pn in chunk])
            for pn, got_fn, data in units:
                if got_fn == fn and isinstance(data, dict) and "read_time" in data:
                    readings.extend(itemsmod.readings_from_energy(self.link.terminal_id, pn, data))
        if readings:
            self.front.stats["readings_stored"] += await self.front.writer.store_readings(readings)
        self.stats["realtime_reads"] += 1
        return len(readings)

    # ------------------------------------------------------------------ daily frozen
    async def read_daily(self, today):
        """Yesterday's F161, and the gaps of the `backfill_days` days before it."""
        pns = await self.points()
        if not pns:
            return 0
        last = today - datetime.timedelta(days=1)
        first = last - datetime.timedelta(days=self.config.backfill_days)
        gaps = await asyncio.to_thread(self.station.missing_daily_frozen, self.link.terminal_id,
                                       first.isoformat(), last.isoformat(),
                                       itemsmod.TOTAL_ENERGY, pns)
        stored = 0
        for day, missing in gaps:
            y, m, d = (int(x) for x in day.split("-"))
            for start in range(0, len(missing), POINTS_PER_REQUEST):
                chunk = missing[start:start + POINTS_PER_REQUEST]
                units = await self.read_data(0x0D, [(pn, 161, (y, m, d)) for pn in chunk])
                values = []
                for pn, fn, data in units:
                    if fn == 161 and isinstance(data, dict) and data.get("td"):
                        values.extend(itemsmod.frozen_from_energy(self.link.terminal_id, pn,
                                                                  data))
                if values:
                    stored += await asyncio.to_thread(self.station.store_daily_frozen, values)
            self.stats["daily_reads"] += 1
        self.front.stats["frozen_stored"] += stored
        return stored

    async def read_monthly(self, today):
        """AFN0D F177 for the `backfill_months` months before this one that points miss."""
        pns = await self.points()
        if not pns:
            return 0
        months = []
        year, month = today.year, today.month
        for _ in range(self.config.backfill_months):
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
            months.append((year, month))
        months.reverse()
        have = await asyncio.to_thread(
            self.station.frozen_periods, "monthly", self.link.terminal_id, itemsmod.TOTAL_ENERGY,
            "%04d-%02d" % months[0], "%04d-%02d" % months[-1])
        stored = 0
        for y, m in months:
            label = "%04d-%02d" % (y, m)
            missing = [pn for pn in pns if label not in have.get(pn, ())]
            for start in range(0, len(missing), POINTS_PER_REQUEST):
                chunk = missing[start:start + POINTS_PER_REQUEST]
                units = await self.read_data(0x0D, [(pn, 177, (y, m)) for pn in chunk])
                values = []
                for pn, fn, data in units:
                    if fn == 177 and isinstance(data, dict) and data.get("td"):
                        values.extend(itemsmod.frozen_from_energy(self.link.terminal_id, pn,
                                                                  data))
                if values:
                    stored += await asyncio.to_thread(self.station.store_monthly_frozen, values)
            if missing:
                self.stats["monthly_reads"] += 1
        self.front.stats["frozen_stored"] += stored
        return stored

    # ------------------------------------------------------------------ events
    async def read_events(self):
        """Read the events the terminal's EC counters say the station has not read yet."""
        ec = self.link.ec
        if ec is None:
            return 0
        read_important, read_normal = await asyncio.to_thread(self.station.event_counters,
                                                              self.link.terminal_id)
        count = 0
        for fn, upto, have in ((1, ec[0], read_important), (2, ec[1], read_normal)):
            pointer = 0 if have is None else have
            while pointer != upto:
                end = min(upto if upto >= pointer else upto + 256, pointer + EVENTS_PER_REQUEST)
                units = await self.link.request(0x0E, [(0, fn, {"pm": pointer,
                                                                 "pn": end & 0xFF})])
                for _, got_fn, data in units:
                    if got_fn == fn and isinstance(data, dict):
                        events = await self.front.store_events(self.link.terminal_id, data,
                                                               fn == 1)
                        count += len(events)
                pointer = end & 0xFF
        self.stats["event_reads"] += 1
        return count


def _same_meter(sent, got):
    """True when an archive entry read back (AFN0A F10) says what was sent (AFN04 F10)."""
    return all(got.get(key) == value for key, value in sent.items())


def _epoch(clock, zone):
    """Unix seconds of a format-01 terminal clock read in the station's zone."""
    year, month, day, hour, minute, second = clock[:6]
    local = datetime.datetime(year, month, day, hour, minute, second, tzinfo=zone)
    return local.timestamp()

