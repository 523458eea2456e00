"""Collection plans: when each bus reads what, on the concentrator's wall clock.

    realtime   plan.realtime_items every plan.realtime_min minutes, on the clock (:00, :15 ...)
    curve      the same items every plan.curve_min minutes (0: off), stored as curve points
               stamped with their slot's start; a slot shared with realtime costs one read
    new day    at midnight: frozen bits age by a day; meters without a daily freeze (645-1997,
               Modbus, 2007 meters that answer "no data" for 05060001) get their energy read
               and stored as the day's frozen value (kind MIDNIGHT, stamped 00:00)
    frozen     from plan.frozen_at (00:05): 05060001+n (freeze time) and 05060101+n (forward
               energy block) for the days of the last plan.backfill_days (at most 7) not yet
               stored; retried on every later realtime cycle of the day until the meter has
               answered; the meter clock is checked on the same visit (ERC12)
    time sync  one broadcast 0x08 per bus a day at plan.time_sync_at (settings refuse times
               near midnight or the hour, so a meter never steps over a freeze or a slot),
               and soon after the master sets the concentrator's clock
               (Poller.request_time_sync), outside the minute either side of the hour

A `BusSchedule` per bus remembers the slots it has done, so a cycle that overruns a boundary
(32 meters x 6 items at 2400 baud take about a minute) catches up once, never twice.
"""
from firmware.unloading import unload_module
from protocol.compat import const

DAY = const(86400)

DUE_REALTIME = const(1)
DUE_CURVE = const(2)
DUE_NEW_DAY = const(4)
DUE_FROZEN = const(8)
DUE_TIME_SYNC = const(16)
MIDNIGHT_WINDOW_S = const(3600)     # a midnight reading retried within the first hour only
_SYNC_GUARD_S = const(60)            # a requested time sync keeps this far from the hour

MIDNIGHT_ITEMS = ("energy_fwd_block",)
CLOCK_ITEMS = ("date", "time")


def _items(value):
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    return list(value)


class Plans:
    """The plans of the whole concentrator (from the field settings), compiled once."""

    def __init__(self, cfg):
        self.realtime_s = cfg.get("plan.realtime_min", 15) * 60
        self.curve_s = cfg.get("plan.curve_min", 15) * 60
        self.frozen_at_s = cfg.get("plan.frozen_at", 5) * 60
        self.backfill = max(0, min(7, cfg.get("plan.backfill_days", 3)))
        self.sync_at_s = cfg.get("plan.time_sync_at", 3 * 60 + 17) * 60
        import sys
        loaded = "firmware.plan_compile" in sys.modules
        from firmware.plan_compile import compile_items
        try:
            self.realtime = compile_items(_items(cfg.get(
                "plan.realtime_items", "energy_fwd_block,voltage_block,current_a,power_total")))
            self.midnight = compile_items(MIDNIGHT_ITEMS)
        finally:
            if not loaded:
                unload_module("firmware.plan_compile")
        self.backfill_mask = (1 << self.backfill) - 1

    def next_wake(self, now):
        """Wall seconds of the next boundary after `now` where any plan may fall due."""
        best = now - now % self.realtime_s + self.realtime_s
        if self.curve_s:
            at = now - now % self.curve_s + self.curve_s
            if at < best:
                best = at
        day = now - now % DAY
        for at in (day + self.frozen_at_s, day + self.sync_at_s, day + DAY):
            if now < at < best:
                best = at
        return best


class BusSchedule:
    """Which plan slots one bus has done."""

    def __init__(self, plans, now):
        self.plans = plans
        self.day = now // DAY
        self.realtime_slot = -1
        self.curve_slot = -1
        # booted long after today's sync time: the next one is tomorrow's (a late broadcast
        # could step meter clocks near a slot boundary)
        self.synced_day = self.day if now % DAY > plans.sync_at_s + 3600 else -1
        self.frozen_pending = True      # some meter may still lack frozen data today
        self.frozen_day = -1            # the day the frozen job first ran
        self.sync_requested = False     # the master set the clock: broadcast it soon
        self.days_passed = 0

    def due(self, now):
        """Bitmask of DUE_* at wall time `now` (marks realtime / curve / sync slots taken)."""
        p = self.plans
        due = 0
        day = now // DAY
        if day != self.day:
            self.days_passed = day - self.day if day > self.day else 8
            self.day = day
            self.frozen_pending = True
            due |= DUE_NEW_DAY
        slot = now // p.realtime_s
        if slot != self.realtime_slot:
            self.realtime_slot = slot
            due |= DUE_REALTIME
        if p.curve_s:
            slot = now // p.curve_s
            if slot != self.curve_slot:
                self.curve_slot = slot
                due |= DUE_CURVE
        tod = now - day * DAY
        if tod >= p.frozen_at_s and self.frozen_pending and (
                self.frozen_day != day or due & DUE_REALTIME):
            # at plan.frozen_at, then retried with each real-time cycle until every meter of
            # the bus has answered
            self.frozen_day = day
            due |= DUE_FROZEN
        if tod >= p.sync_at_s and self.synced_day != day:
            self.synced_day = day
            due |= DUE_TIME_SYNC
        if self.sync_requested and _SYNC_GUARD_S <= now % 3600 <= 3600 - _SYNC_GUARD_S:
            # on request too, never within a minute of the hour (or midnight): a meter clock
            # stepped over a boundary would freeze or close its interval twice
            self.sync_requested = False
            due |= DUE_TIME_SYNC
        return due

    def curve_stamp(self, now):
        return now - now % self.plans.curve_s if self.plans.curve_s else now

    def midnight(self, now):
        return now - now % DAY
