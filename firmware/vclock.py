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
# Time passes in steps small enough that every intermediate value stays a small int on a 32-bit
# board (below 2**30): a long int there is a heap allocation, and the kernel's tests check that
# the steady state allocates nothing. 2**19 ms is 5.2e8 us.
_STEP_MS = 1 << 19
_STEP_US = 1 << 28


class VirtualClock:
    virtual = True

    def __init__(self, start_ms=0, period=_PERIOD):
        if period & (period - 1):
            raise ValueError("the tick period must be a power of two")
        self._mask = period - 1
        self.ticks_period = period
        self._half = period >> 1
        self._ms = start_ms & self._mask                # ticks_ms
        self._tus = (start_ms * 1000) & self._mask      # ticks_us
        self._sub_us = 0        # microseconds into the current millisecond
        self._poll_it = None
        self._timeout = 0
        self._events = 0
        self._stop = StopIteration()
        self.slept_ms = 0       # total time the kernel spent waiting (jumped over)

    # --- the clock interface (see firmware/hal/clock.py) ---------------------------------------
    def ticks_ms(self):
        return self._ms

    def ticks_us(self):
        return self._tus

    def ticks_diff(self, a, b):
        d = (a & self._mask) - (b & self._mask)
        if d >= self._half:
            return d - self._mask - 1
        if d < -self._half:
            return d + self._mask + 1
        return d

    def ticks_add(self, t, delta):
        return self._add(t & self._mask, delta & self._mask)

    def _add(self, a, b):
        # (a + b) mod period for a, b in 0..mask, never above mask on the way
        room = self._mask - b
        return a - room - 1 if a > room else a + b

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
        while ms > 0:
            step = ms if ms < _STEP_MS else _STEP_MS
            self._pass_us(step * 1000)
            ms -= step

    def burn(self, ms):
        """The running task computes for `ms` milliseconds without yielding."""
        self.advance(ms)

    def burn_us(self, us):
        while us > 0:
            step = us if us < _STEP_US else _STEP_US
            self._pass_us(step)
            us -= step

    def _pass_us(self, us):
        total = self._sub_us + us
        ms = total // 1000
        self._sub_us = total - ms * 1000
        self._ms = self._add(self._ms, ms & self._mask)
        self._tus = self._add(self._tus, us & self._mask)
