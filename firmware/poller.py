"""Meter polling: one kernel task per RS-485 bus, walking the bus's measuring points.

    poller = Poller(kernel, clock, wall, archive, log, settings, {1: port1, 2: port2},
                    state=MeterState(last_point), plans=Plans(settings))   # both optional
    poller.start(prio=20)               # bus tasks at priorities 20, 21, ... (below the uplink)
    poller.relay.submit(point, "trip")  # relay control (firmware/relay.py)
    await poller.forward(bus, data, timeout_ms, byte_timeout_ms)   # AFN10 (firmware/forwarding.py)
    await poller.tester.test(point, timeout_ms)   # `conc meters test` (firmware/meter_test.py)
    poller.request_time_sync()          # broadcast the time soon (after a clock set)
    poller.stats()

Each bus task sleeps (in the kernel, pending on its relay queue) until the next plan boundary
(firmware/plans.py), then runs one cycle over its points in point order: real-time/curve items,
the midnight reading of meters without a freeze, the daily frozen data with backfill and the
clock check, and the broadcast time once a day. A relay command, a forward or a meter test
waiting in the queue is carried out between two meters, so it never waits for a whole cycle.

Every wait on the wire is a kernel I/O wait with a timeout (firmware/bus_link.py), so a
meter that never answers costs its own bus time only: the other buses and every other task keep
their schedule. Readings go to the ring log as one batch per meter and collection
(firmware/log_records.append_readings, item ids of firmware/quantities.py); events through
firmware/events.py.

RAM: nothing per point but firmware/meter_state.py (11 bytes) and the archive's bus index
(1 byte); per bus one BusLink (its buffers), one 40-byte slot, one small queue.
"""
from firmware import meter_state as ms
from firmware import plans as pl
from firmware.bus_link import NO_REPLY, OK, BusLink
from firmware.events import Events
from firmware.kernel import OS_ERR_NONE
from firmware.meter_reader import P2007, PMODBUS, MeterReader
from firmware.meter_state import MeterState
from firmware.log_records import append_readings
from firmware.unloading import forget_tables
from protocol import clock_math
from protocol.compat import const
from protocol.errors import ProtocolError
from protocol.meter_record import SLOT_SIZE

_RELAY_QUEUE = const(8)
# a bus queue's messages: 0 wakes the task (a time sync request), _FORWARD_MSG says a forward
# is waiting (firmware/forwarding.py), _TEST_MSG a meter test (firmware/meter_test.py), anything
# else is a relay command (point << 8 | N1 code; points start at 1, so never 1 or 2)
_FORWARD_MSG = const(1)
_TEST_MSG = const(2)
# collection kinds and the forward energy quantity (firmware/quantities.py, which is unloaded
# once the plans are compiled)
_REALTIME = const(0)
_CURVE = const(1)
_FROZEN = const(2)
_MIDNIGHT = const(3)
_ENERGY_FWD_TOTAL = const(1)
_DAY = const(86400)


def _digits(v, i):
    # the i-th two-digit field from the right of a BCD number read as decimal
    return (v // (100 ** i)) % 100


class BusPoller:
    """The task of one bus."""

    def __init__(self, poller, bus, port):
        self.poller = poller
        self.bus = bus
        cfg = poller.cfg
        self.link = BusLink(poller.kernel, poller.clock, port,
                            cfg.get("poll.turnaround_ms", 500), cfg.get("poll.retries", 1))
        self.reader = MeterReader(self.link, poller.state)
        self.schedule = pl.BusSchedule(poller.plans, poller.wall.now())
        self.queue = poller.kernel.q_create(_RELAY_QUEUE)
        self.slot = bytearray(SLOT_SIZE)
        self.cycles = 0
        self.reads_ok = 0
        self.reads_failed = 0
        self.batches = 0
        self.time_syncs = 0
        self.relay_done = 0
        self.last_cycle_ms = 0

    # --- the task ------------------------------------------------------------------------
    async def run(self):
        p = self.poller
        k = p.kernel
        wall = p.wall
        while True:
            now = wall.now()
            due = self.schedule.due(now)
            if due:
                await self.cycle(due, now)
            ms_left = wall.ms_until(p.plans.next_wake(wall.now()))
            err = await k.q_pend(self.queue, ms_left if ms_left > 0 else 1)
            if err == OS_ERR_NONE:
                msg = k.msg()
                if msg:                     # 0 only wakes the task (a time sync request)
                    await self._command(msg)

    def ask_forward(self):
        """Queue the Forwarder's waiting request for this task; non-zero when the queue is
        full of relay commands."""
        return self.poller.kernel.q_post(self.queue, _FORWARD_MSG)

    def ask_test(self):
        """Queue the MeterTest's waiting request for this task, as ask_forward."""
        return self.poller.kernel.q_post(self.queue, _TEST_MSG)

    async def _command(self, msg):
        if msg == _FORWARD_MSG:
            await self.poller.forwarder.execute(self)
            return
        if msg == _TEST_MSG:
            await self.poller.tester.execute(self)
            return
        await self.poller.relay.execute(self, msg >> 8, msg & 0xFF)
        self.relay_done += 1

    def slot_of(self, point):
        """Point's archive slot in this bus's slot buffer (between two meters of a cycle)."""
        self.poller.archive.read_slot(point, self.slot)
        return self.slot

    def _points(self):
        bus_of = self.poller.archive.bus_of
        bus = self.bus
        state = self.poller.state
        for point in range(1, min(state.points, len(bus_of) - 1) + 1):
            if bus_of[point] == bus:
                yield point

    async def cycle(self, due, now):
        p = self.poller
        clock = p.clock
        t0 = clock.ticks_ms()
        if due & pl.DUE_NEW_DAY:
            p.state.new_day(self._points(), self.schedule.days_passed)
        if due & pl.DUE_TIME_SYNC:
            await self.time_sync()
        frozen_left = False
        slot = self.slot
        bus_of = p.archive.bus_of
        bus = self.bus
        # points beyond the state's arrays (a meter added without a restart) wait for the
        # next boot, which sizes the state to the highest point
        last = min(p.state.points, len(bus_of) - 1)
        try:
            f = open(p.archive.path, "rb")
        except OSError:
            return
        try:
            for point in range(1, last + 1):
                if bus_of[point] != bus:
                    continue
                f.seek((point - 1) * SLOT_SIZE)
                if f.readinto(slot) != SLOT_SIZE or not slot[0] & 1:
                    continue
                if await self.poll_point(point, slot, due, now):
                    frozen_left = True
                msg = p.kernel.q_accept(self.queue)
                while msg is not None:
                    if msg:
                        await self._command(msg)
                    msg = p.kernel.q_accept(self.queue)
        finally:
            f.close()
        if due & pl.DUE_FROZEN and not frozen_left:
            self.schedule.frozen_pending = False
        self.cycles += 1
        self.last_cycle_ms = clock.ticks_diff(clock.ticks_ms(), t0)

    async def poll_point(self, point, slot, due, now):
        """One meter's share of a cycle; True when its frozen data must be retried."""
        p = self.poller
        proto = slot[1]
        state = p.state
        if due & (pl.DUE_REALTIME | pl.DUE_CURVE):
            await self.read_realtime(point, proto, slot, due)
        if (due & (pl.DUE_REALTIME | pl.DUE_NEW_DAY) and now % _DAY < pl.MIDNIGHT_WINDOW_S
                and (proto != P2007 or state.flags[point] & ms.NO_FREEZE)
                and not state.flags[point] & ms.MIDNIGHT_DONE):
            await self.read_midnight(point, proto, slot, now)
        if due & pl.DUE_FROZEN:
            return await self.read_daily(point, proto, slot, now)
        return False

    async def read_realtime(self, point, proto, slot, due):
        p = self.poller
        reader = self.reader
        kind = _REALTIME if due & pl.DUE_REALTIME else _CURVE
        err = await reader.read(point, proto, slot, p.plans.realtime, kind)
        now = p.wall.now()
        if err != OK:
            self.reads_failed += 1
            p.events.read_failed(point, now)
            return
        self.reads_ok += 1
        count = reader.count
        if count:
            append_readings(p.log, point, now, reader.items, reader.values, count)
            self.batches += 1
            if kind == _REALTIME and due & pl.DUE_CURVE:
                items = reader.items
                for i in range(count):
                    items[i] = (items[i] & 63) | (_CURVE << 6)
                append_readings(p.log, point, self.schedule.curve_stamp(now), items,
                                reader.values, count)
                self.batches += 1
        p.events.read_ok(point, reader.energy, now)

    async def read_midnight(self, point, proto, slot, now):
        """A meter without a daily freeze: its energy now (just after 00:00) is the frozen value."""
        p = self.poller
        reader = self.reader
        if await reader.read(point, proto, slot, p.plans.midnight, _MIDNIGHT) != OK:
            return
        if reader.count:
            append_readings(p.log, point, now - now % _DAY, reader.items, reader.values,
                            reader.count)
            self.batches += 1
            p.state.frozen[point] |= 1
        p.state.flags[point] |= ms.MIDNIGHT_DONE

    async def read_daily(self, point, proto, slot, now):
        """Clock check, then the frozen days still missing; True: retry on the next cycle."""
        p = self.poller
        state = p.state
        flags = state.flags
        if proto == PMODBUS:
            return False
        if state.fails[point]:
            return True             # silent this cycle: do not spend the bus on more retries
        if not flags[point] & ms.CLOCK_DONE:
            await self.check_clock(point, proto, slot)
        if proto != P2007 or flags[point] & (ms.NO_FREEZE | ms.FROZEN_TRIED):
            return False
        want = p.plans.backfill_mask
        have = state.frozen[point]
        if have & want == want:
            return False
        reader = self.reader
        link = self.link
        today = now - now % _DAY
        for n in range(1, p.plans.backfill + 1):
            stamp = await reader.read_value(proto, slot, 0x05060000 | n, 5, 0)
            if stamp is None:
                if not link.abnormal:
                    return True                     # silent meter: try again next cycle
                if n == 1 and link.error & 0x02:
                    # no freeze at all: from the next midnight on, its midnight reading is the
                    # frozen value (a reading taken now would not be a midnight value)
                    flags[point] |= ms.NO_FREEZE
                break                               # no older history
            try:
                at = clock_math.to_seconds(2000 + _digits(stamp, 4), _digits(stamp, 3),
                                           _digits(stamp, 2), _digits(stamp, 1),
                                           _digits(stamp, 0))
            except ProtocolError:
                break
            ago = (today - (at - at % _DAY)) // _DAY
            if 0 <= ago < p.plans.backfill and not have & (1 << ago):
                entry = (0x05060100 | n, 4, 5, 0, _ENERGY_FWD_TOTAL)
                if await reader.read_entry(proto, slot, entry, _FROZEN) != OK:
                    state.frozen[point] = have
                    return True
                if reader.count:
                    append_readings(p.log, point, at, reader.items, reader.values,
                                    reader.count)
                    self.batches += 1
                    have |= 1 << ago
            if ago >= p.plans.backfill - 1:
                break
        state.frozen[point] = have
        flags[point] |= ms.FROZEN_TRIED
        return False

    async def check_clock(self, point, proto, slot):
        reader = self.reader
        v2007 = proto == P2007
        date = await reader.read_value(proto, slot, 0x04000101 if v2007 else 0xC010, 4, 0)
        if date is None:
            return
        tod = await reader.read_value(proto, slot, 0x04000102 if v2007 else 0xC011, 3, 0)
        if tod is None:
            return
        try:
            meter = clock_math.to_seconds(2000 + _digits(date, 3), _digits(date, 2),
                                          _digits(date, 1), _digits(tod, 2), _digits(tod, 1),
                                          _digits(tod, 0))
        except ProtocolError:
            return
        self.poller.events.clock_checked(point, meter, self.poller.wall.now())

    async def time_sync(self):
        """Broadcast the concentrator's time (0x08) to every DL/T 645 meter of the bus."""
        p = self.poller
        link = self.link
        size = link.broadcast_time(p.wall.calendar())
        self.time_syncs += 1
        # the frame's wire time plus a pause: meters set their clocks before the next request
        await p.kernel.time_dly(size * link.char_us // 1000 + 100)

    def stats(self):
        out = {"bus": self.bus, "cycles": self.cycles, "reads_ok": self.reads_ok,
               "reads_failed": self.reads_failed, "batches": self.batches,
               "time_syncs": self.time_syncs, "relay_commands": self.relay_done,
               "last_cycle_ms": self.last_cycle_ms}
        out.update(self.link.stats())
        return out


class Poller:
    """Every bus task, the shared meter state, plans and events."""

    def __init__(self, kernel, clock, wall, archive, log, cfg, ports, state=None, plans=None):
        """`plans`: a firmware.plans.Plans compiled beforehand (boot compiles it first, on an
        empty heap); by default compiled here from `cfg`."""
        self.kernel = kernel
        self.clock = clock
        self.wall = wall
        self.archive = archive
        self.log = log
        self.cfg = cfg
        self.plans = plans if plans is not None else pl.Plans(cfg)
        self.state = state if state is not None else MeterState()
        self.events = Events(log, wall, self.state, cfg.get("events.fail_count", 3),
                             cfg.get("events.clock_error_s", 300))
        self.buses = {}
        for bus in ports:
            self.buses[bus] = BusPoller(self, bus, ports[bus])
        self._relay = None
        self._forwarder = None
        self._tester = None
        forget_tables()

    @property
    def relay(self):
        """The RelayControl (firmware/relay.py), loaded on first use: relay commands are rare."""
        if self._relay is None:
            from firmware.relay import RelayControl
            self._relay = RelayControl(self)
        return self._relay

    @property
    def forwarder(self):
        """The Forwarder (firmware/forwarding.py), loaded on first use."""
        if self._forwarder is None:
            from firmware.forwarding import Forwarder
            self._forwarder = Forwarder(self)
        return self._forwarder

    @property
    def tester(self):
        """The MeterTest (firmware/meter_test.py) of `conc meters test`, loaded on first use."""
        if self._tester is None:
            from firmware.meter_test import MeterTest
            self._tester = MeterTest(self)
        return self._tester

    async def forward(self, bus, data, timeout_ms, byte_timeout_ms):
        """AFN10 F1: send `data` on `bus` as it is; the reply's bytes (b"" for none), or None
        when there is no such bus or another forward is waiting (firmware/forwarding.py)."""
        return await self.forwarder.forward(bus, data, timeout_ms, byte_timeout_ms)

    def start(self, prio=20):
        """Create one task per bus at prio, prio + 1, ...; returns the kernel's error codes."""
        errs = []
        for i, bus in enumerate(sorted(self.buses)):
            errs.append(self.kernel.task_create(self.buses[bus].run, prio + i,
                                                name="bus%d" % bus))
        return errs

    def request_time_sync(self):
        """Broadcast the time to every bus soon (the master just set the concentrator's clock):
        at the next point where the bus is idle, outside the minute either side of the hour."""
        for bus in self.buses:
            bp = self.buses[bus]
            bp.schedule.sync_requested = True
            self.kernel.q_post(bp.queue, 0)         # wakes an idle bus task

    def stats(self):
        return [self.buses[bus].stats() for bus in sorted(self.buses)]


__all__ = ("Poller", "BusPoller", "NO_REPLY")
