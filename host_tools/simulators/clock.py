"""Simulated wall-clock time for the simulators, optionally accelerated.

Meters live in local civil time (they freeze at their own midnight and switch tariffs by the
hour), so the clock hands out naive `datetime`s. Two kinds share one interface, `now()`:

- `SimClock(start, speed)`: runs with real time, `speed` times faster (3600 = an hour a second),
  so a test can watch a meter cross midnight in a second while bus timing stays real.
- `ManualClock(start)`: stands still until `advance(seconds)` / `set(datetime)`; for model tests.

Bus pacing (bytes at the baud rate, turnaround) always uses real time: only the meters' notion
of the date and of accumulated energy is accelerated.
"""
import threading
import time
from datetime import datetime, timedelta


class SimClock:
    """Real time from `start` (default: now), running `speed` times faster."""

    def __init__(self, start=None, speed=1.0):
        if speed <= 0:
            raise ValueError("clock speed must be positive, not %r" % (speed,))
        self.speed = float(speed)
        self._lock = threading.Lock()
        self._origin = start if start is not None else datetime.now().replace(microsecond=0)
        self._real_origin = time.monotonic()

    def now(self):
        with self._lock:
            elapsed = (time.monotonic() - self._real_origin) * self.speed
            return self._origin + timedelta(seconds=elapsed)

    def set(self, when):
        """Jump to `when`; time keeps running from there."""
        with self._lock:
            self._origin = when
            self._real_origin = time.monotonic()

    def advance(self, seconds):
        """Jump forward by `seconds` of simulated time."""
        self.set(self.now() + timedelta(seconds=seconds))


class ManualClock:
    """A clock that moves only when told to."""

    speed = 0.0

    def __init__(self, start=None):
        self._lock = threading.Lock()
        self._now = start if start is not None else datetime(2026, 1, 1, 0, 0, 0)

    def now(self):
        with self._lock:
            return self._now

    def set(self, when):
        with self._lock:
            self._now = when

    def advance(self, seconds):
        with self._lock:
            self._now = self._now + timedelta(seconds=seconds)
