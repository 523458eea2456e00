"""The hardware watchdog, fed by the kernel's idle hook while every supervised task is on time.

On ESP32 and STM32 this is `machine.WDT`: once started it cannot be stopped, and a missed feed
resets the board. On the virtual board (sys.platform == 'linux') nothing can reset the process,
so the stand-in records what the real one would have done: every feed, the longest gap between
feeds, and how many times that gap exceeded the timeout (`would_reset`).
"""
import sys


class Watchdog:
    def __init__(self, timeout_ms, clock=None):
        if timeout_ms <= 0:
            raise ValueError("watchdog timeout must be positive, got %r" % (timeout_ms,))
        if clock is None:
            from firmware.hal import clock
        self._clock = clock
        self.timeout_ms = timeout_ms
        self.virtual = sys.platform == "linux"
        self.feeds = 0
        self.would_reset = 0
        self.longest_gap_ms = 0
        self._last = clock.ticks_ms()
        self._wdt = None
        if not self.virtual:
            from machine import WDT
            self._wdt = WDT(timeout=timeout_ms)

    def feed(self):
        now = self._clock.ticks_ms()
        gap = self._clock.ticks_diff(now, self._last)
        if gap > self.longest_gap_ms:
            self.longest_gap_ms = gap
        if gap > self.timeout_ms:
            self.would_reset += 1
        self._last = now
        self.feeds += 1
        if self._wdt is not None:
            self._wdt.feed()

    def overdue_ms(self):
        """How long ago the watchdog would have fired (<= 0: not yet)."""
        return self._clock.ticks_diff(self._clock.ticks_ms(), self._last) - self.timeout_ms

    def status(self):
        overdue = self.overdue_ms()
        return {
            "virtual": self.virtual,
            "timeout_ms": self.timeout_ms,
            "feeds": self.feeds,
            "longest_gap_ms": self.longest_gap_ms,
            # a reset that is due now counts too: the real board would be rebooting
            "would_reset": self.would_reset + (1 if overdue > 0 else 0),
            "overdue_ms": overdue if overdue > 0 else 0,
        }
