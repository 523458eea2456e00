"""The collection schedule on a controllable clock, and terminal clock correction."""
import datetime
import time
from decimal import Decimal

from host_tools.station.collector import CollectorConfig
from host_tools.station.records import FrozenValue
from tests.station_frontend.frontend_support import ZONE, Harness, eventually, run


class FakeClock:
    def __init__(self, moment):
        self.now = moment.timestamp()

    def __call__(self):
        return self.now

    def set(self, moment):
        self.now = moment.timestamp()


def shanghai(*fields):
    return datetime.datetime(*fields, tzinfo=ZONE)


def requests_of(sim, afn):
    return [units for got, units in sim.requests if got == afn]


def test_real_time_reads_follow_the_interval(sqlite_url):
    clock = FakeClock(shanghai(2026, 11, 20, 10, 0))
    config = CollectorConfig(realtime_interval_s=900, clock_check_s=None, daily_after=None,
                             tick_s=3600, clock=clock)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=10, collector=config, clock=clock) as h:
            sim = await h.sim(1)
            await eventually(lambda: requests_of(sim, 0x0C), what="first read at login")
            collector = h.link(1).collector
            await eventually(lambda: collector.stats["realtime_reads"] == 1, what="stored")
            # 10 points: 8 per request, then 2
            assert [len(units) for units in requests_of(sim, 0x0C)] == [8, 2]
            assert all(fn == 129 for units in requests_of(sim, 0x0C) for _, fn in units)
            await h.front.writer.flush()
            status = h.station.status(since=0)[0]
            assert status.points == 10 and status.points_read == 10
            clock.now += 600
            await collector.tick()                             # not due yet
            assert len(requests_of(sim, 0x0C)) == 2
            clock.now += 300
            await collector.tick()                             # 900 s after the first
            assert len(requests_of(sim, 0x0C)) == 4
    run(scenario())


def test_daily_frozen_after_0030_with_gap_backfill(sqlite_url):
    clock = FakeClock(shanghai(2026, 11, 20, 0, 20))
    config = CollectorConfig(realtime_interval_s=None, clock_check_s=None, daily_after=(0, 30),
                             backfill_days=3, backfill_months=0, tick_s=3600, clock=clock)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, collector=config, clock=clock) as h:
            tid = h.ids[1]
            # 2026-11-17 is already stored for both points: no need to ask again
            h.station.store_daily_frozen([FrozenValue(tid, pn, "energy_fwd_total", "2026-11-17",
                                                      Decimal("1.00")) for pn in (1, 2)])
            h.station.store_daily_frozen([FrozenValue(tid, 1, "energy_fwd_total", "2026-11-18",
                                                      Decimal("1.00"))])
            sim = await h.sim(1)
            collector = h.link(1).collector
            await collector.tick()
            assert requests_of(sim, 0x0D) == []                 # 00:20: too early
            clock.set(shanghai(2026, 11, 20, 0, 31))
            await collector.tick()
            asked = requests_of(sim, 0x0D)
            assert asked == [[(1, 161), (2, 161)],              # 11-16 (backfill)
                             [(2, 161)],                        # 11-18: p1 already stored
                             [(1, 161), (2, 161)]]              # 11-19, yesterday
            frozen = h.station.frozen("daily", tid, 2, "2026-11-01", "2026-11-30")
            assert sorted({f.period for f in frozen}) == ["2026-11-16", "2026-11-17",
                                                          "2026-11-18", "2026-11-19"]
            clock.set(shanghai(2026, 11, 20, 6, 0))
            await collector.tick()                              # once a day
            assert len(requests_of(sim, 0x0D)) == 3
            clock.set(shanghai(2026, 11, 21, 0, 45))
            await collector.tick()                              # next day: only 11-20
            assert requests_of(sim, 0x0D)[3:] == [[(1, 161), (2, 161)]]
    run(scenario())


def test_monthly_frozen_of_the_months_missing_in_the_daily_round(sqlite_url):
    clock = FakeClock(shanghai(2026, 11, 2, 1, 0))
    config = CollectorConfig(realtime_interval_s=None, clock_check_s=None, daily_after=(0, 30),
                             backfill_days=0, backfill_months=2, tick_s=3600, clock=clock)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, collector=config, clock=clock) as h:
            tid = h.ids[1]
            h.station.store_monthly_frozen([FrozenValue(tid, 1, "energy_fwd_total", "2026-09",
                                                        Decimal("1.00"))])
            sim = await h.sim(1)
            await eventually(lambda: h.link(1).collector.stats["monthly_reads"] == 2,
                             what="monthly round")
            monthly = [units for units in requests_of(sim, 0x0D) if units[0][1] == 177]
            assert monthly == [[(2, 177)], [(1, 177), (2, 177)]]      # 2026-09 p2, 2026-10
            stored = h.station.frozen("monthly", tid, 2, "2026-01", "2026-12")
            assert sorted({f.period for f in stored}) == ["2026-09", "2026-10"]
    run(scenario())


def test_clock_off_by_more_than_5_s_is_set_with_afn05_f31(sqlite_url):
    config = CollectorConfig(realtime_interval_s=None, clock_check_s=3600, daily_after=None,
                             tick_s=3600, clock=time.time)

    async def scenario():
        async with Harness(sqlite_url, terminals=2, collector=config) as h:
            fast = await h.sim(1, clock_offset_s=42)
            near = await h.sim(2, clock_offset_s=2)
            await eventually(lambda: (0x05, [(0, 31)]) in fast.requests, what="time sync")
            await eventually(lambda: abs(fast.clock_offset_s) < 2, what="clock set")
            await eventually(lambda: requests_of(near, 0x0C), what="near clock read")
            assert requests_of(near, 0x05) == []
            commands = h.station.commands()
            await eventually(lambda: h.station.commands()[0].state == "confirmed",
                             what="sync recorded")
            commands = h.station.commands()
            assert [(c.kind, c.operator, c.terminal_label) for c in commands] == [
                ("time_sync", "station", "4101-1")]
            assert "off by +4" in commands[0].reason
            steps = [s.step for s in h.station.command_steps(commands[0].id)]
            assert steps == ["created", "sent", "answer"]
    run(scenario())


def test_meter_archive_is_downloaded_and_verified_at_login(sqlite_url):
    config = CollectorConfig(realtime_interval_s=None, clock_check_s=None, daily_after=None,
                             tick_s=3600, report_every_min=None)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=25, collector=config) as h:
            tid = h.ids[1]
            h.station.set_measuring_point(tid, 3, "123456789012", baud=9600, port=3)
            sim = await h.sim(1, meters=0)                 # the terminal knows no meter yet
            await eventually(lambda: all(p.archive_verified_at for p in
                                         h.station.measuring_points(tid)),
                             what="archive verified")
            sets = requests_of(sim, 0x04)
            assert [len(units) for units in sets] == [1, 1]   # 25 points: 20 + 5 per frame
            assert sorted(m["point"] for m in sim.archive) == list(range(1, 26))
            p3 = next(m for m in sim.archive if m["point"] == 3)
            assert (p3["address"], p3["baud"], p3["port"]) == ("123456789012", 9600, 3)
            # a point changed at the station is sent again at the next login; the terminal
            # keeps a wrong copy of p5: it is not marked verified
            h.station.set_measuring_point(tid, 5, "000000000555")
            sim.close()
            await eventually(lambda: h.link(1) is None, what="logged out")
            original = sim._set

            def keeps_old(frame):
                result = original(frame)
                for meter in sim.archive:
                    if meter["point"] == 5:
                        meter["address"] = "999999999999"
                return result
            sim._set = keeps_old
            await h.reconnect(sim)
            await eventually(lambda: h.station.measuring_point(tid, 5).archive_sent_at,
                             what="p5 sent again")
            await eventually(lambda: len(requests_of(sim, 0x0A)) == 3, what="read back")
            await h.front.writer.flush()
            assert h.station.measuring_point(tid, 5).archive_verified_at is None
            assert h.station.measuring_point(tid, 3).archive_verified_at is not None
    run(scenario())


def test_a_denied_data_read_is_no_data_not_a_failure(sqlite_url, caplog):
    """A terminal denies AFN0C/AFN0D it holds no data for (a concentrator right after login,
    before its first reading round): the station notes "no data" at INFO, warns about nothing,
    and reads again at the next due time."""
    import logging
    clock = FakeClock(shanghai(2026, 11, 20, 10, 0))
    config = CollectorConfig(realtime_interval_s=900, clock_check_s=None, daily_after=None,
                             tick_s=3600, clock=clock)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, collector=config, clock=clock) as h:
            sim = await h.sim(1)
            sim.deny_afns.add(0x0C)
            collector = h.link(1).collector
            clock.now += 900
            await collector.tick()
            assert requests_of(sim, 0x0C)
            assert collector.stats["no_data"] >= 1 and collector.stats["failures"] == 0
            sim.deny_afns.clear()
            clock.now += 900
            await collector.tick()
            assert collector.stats["realtime_reads"] >= 1
            await h.front.writer.flush()
            assert h.station.status(since=0)[0].points_read == 2
    with caplog.at_level(logging.INFO, logger="host_tools.station"):
        run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("no data for AFN0C" in r.getMessage() for r in caplog.records)
