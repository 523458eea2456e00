"""The concentrator's wall clock: local time in seconds since 2000-01-01, settable.

It counts on from the kernel's tick clock, so on the virtual clock of a test a day passes in
milliseconds and plans that run at 00:05 can be tested; on a board it is seeded from the RTC at
boot. `set()` is how the master station's time sync (AFN05 F31) and `conc config` correct it;
the previous time is returned so the caller can record the step.

ticks_ms wraps (2**30 ms on boards) and ticks_diff is only meaningful within half of that, so
the clock re-bases itself whenever it is read more than an hour after its base.
"""
from protocol import clock_math

_REBASE_MS = 3600 * 1000


class WallClock:
    def __init__(self, ticks, seconds):
        """`ticks`: an object with ticks_ms/ticks_diff/ticks_add (the kernel's clock)."""
        self.ticks = ticks
        self._base_s = seconds
        self._base_ms = ticks.ticks_ms()
        self._frac_ms = 0

    def now(self):
        """Seconds since 2000-01-01 local time."""
        elapsed = self.ticks.ticks_diff(self.ticks.ticks_ms(), self._base_ms) + self._frac_ms
        if elapsed >= _REBASE_MS:
            whole = elapsed // 1000
            self._base_s += whole
            self._base_ms = self.ticks.ticks_ms()
            self._frac_ms = elapsed - whole * 1000
            return self._base_s
        return self._base_s + elapsed // 1000

    def set(self, seconds):
        """Set the time; return the time it replaced."""
        before = self.now()
        self._base_s = seconds
        self._base_ms = self.ticks.ticks_ms()
        self._frac_ms = 0
        return before

    def calendar(self):
        """(Y, M, D, h, m, s, weekday 1..7) now."""
        return clock_math.from_seconds(self.now())

    def ms_until(self, seconds):
        """Milliseconds from now until wall time `seconds` (0 if it has passed)."""
        elapsed = self.ticks.ticks_diff(self.ticks.ticks_ms(), self._base_ms) + self._frac_ms
        remaining = (seconds - self._base_s) * 1000 - elapsed
        return remaining if remaining > 0 else 0


def from_rtc(ticks):
    """A wall clock seeded from the board's RTC (or the host clock on the virtual board)."""
    import time
    # a calendar tuple whatever the port's epoch (1970 unix, 2000 boards); a virtual board's
    # fast clock keeps its own calendar (firmware/vclock.py FastClock)
    t = ticks.localtime() if hasattr(ticks, "localtime") else time.localtime()
    year = t[0] if 2000 <= t[0] <= 2099 else 2000
    return WallClock(ticks, clock_math.to_seconds(year, t[1], t[2], t[3], t[4], t[5]))
