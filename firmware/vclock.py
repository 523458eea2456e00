"""A virtual clock for the kernel: time moves only when the kernel sleeps or a task burns it.

Tests run the real kernel on it without sleeping: when the kernel has nothing to run it asks the
clock to wait until its next deadline, and the clock jumps there at once. A task can spend
virtual CPU time with `burn(ms)`, which is how tests show long slices, starvation and watchdog
starvation. The tick period is configurable (MicroPython boards wrap `ticks_ms` at 2**30), so
tests start just before the wrap-around and cross it.

Registered streams are still polled for real, without blocking: time jumps only when no
stream is ready.
"""

_PERIOD = 1 << 30


class VirtualClock:
    virtual = True

    def __init__(self, start_ms=0, period=_PERIOD):
        if period & (period - 1):
            raise ValueError("the tick period must be a power of two")
        self._mask = period - 1
        self.ticks_period = period
        self._half = period >> 1
        self._us = 0            # virtual microseconds since creation (monotonic)
        self._start = start_ms
        self._poll_it = None
        self._timeout = 0
        self._events = 0
        self._stop = StopIteration()
        self.slept_ms = 0       # total time the kernel spent waiting (jumped over)

    # --- the clock interface (see firmware/hal/clock.py) ---------------------------------------
    def ticks_ms(self):
        return (self._start + self._us // 1000) & self._mask

    def ticks_us(self):
        return (self._start * 1000 + self._us) & self._mask

    def ticks_diff(self, a, b):
        return ((a - b + self._half) & self._mask) - self._half

    def ticks_add(self, t, delta):
        return (t + delta) & self._mask

    def poller(self):
        from firmware.hal.clock import poller
        return poller()

    def wait_io(self, poll, timeout_ms):
        """Report ready streams now; if there are none, jump `timeout_ms` ahead."""
        self._poll_it = poll.ipoll(0)
        self._timeout = timeout_ms
        self._events = 0
        return self

    def __iter__(self):
        return self

    def __next__(self):
        it = self._poll_it
        if it is not None:
            event = next(it, None)
            if event is not None:
                self._events += 1
                return event
            self._poll_it = None
            if not self._events and self._timeout > 0:
                self.advance(self._timeout)
                self.slept_ms += self._timeout
        stop = self._stop
        stop.__traceback__ = None
        raise stop

    # --- test controls ------------------------------------------------------------------------
    def advance(self, ms):
        """Let `ms` milliseconds of virtual time pass."""
        self._us += ms * 1000

    def burn(self, ms):
        """The running task computes for `ms` milliseconds without yielding."""
        self._us += ms * 1000

    def burn_us(self, us):
        self._us += us
