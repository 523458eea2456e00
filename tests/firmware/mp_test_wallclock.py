from mp_support import eq
from protocol import clock_math
from firmware.vclock import VirtualClock
from firmware.wallclock import WallClock


def test_counts_on_virtual_time_across_the_ticks_wrap():
    ticks = VirtualClock(start_ms=(1 << 30) - 5000)      # wraps 5 s from now
    start = clock_math.to_seconds(2026, 11, 24, 23, 59, 0)
    wall = WallClock(ticks, start)
    for _ in range(3 * 24):                                # three days in hour steps
        ticks.burn(3600 * 1000)
        wall.now()
    eq(wall.now(), start + 3 * 86400, "three days later")
    eq(wall.calendar()[:6], (2026, 11, 27, 23, 59, 0), "calendar")


def test_set_returns_previous_and_ms_until():
    ticks = VirtualClock()
    wall = WallClock(ticks, 1000)
    ticks.burn(2500)
    eq(wall.set(5000), 1002, "previous")
    eq(wall.ms_until(5010), 10000, "until")
    ticks.burn(400)
    eq(wall.ms_until(5010), 9600, "until after 400 ms")
    eq(wall.ms_until(10), 0, "past")
