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


# Real time a request written to a device is given for its answer to start (a meter's
# turnaround, the modem's AT replies: tens of ms; a slow host: hundreds), and the time after the
# last byte that moved before the clock may skip again (the station's confirm of a frame the
# modem has just sent, a reply that comes in pieces).
ANSWER_MS = 1000
QUIET_MS = 200


class FastClock:
    """The virtual board's clock for a simulated day in a minute: real time, with the time in
    which nothing happens skipped.

    Its ticks are the host's real ticks plus the skipped time. When the kernel would sleep and no
    serial device has seen a byte arrive for QUIET_MS of real time, nor a byte written whose
    answer has not started for ANSWER_MS, the sleep is skipped: the clock jumps to the kernel's
    next deadline at once, as a board's idle hours pass unnoticed. A request written to a meter
    or the modem (`exchange()`, called by the virtual board on every write) or a byte arriving
    starts real time again, so every reply takes its real time and a timeout is a real one.
    Once the calendar reaches `until_ms` it is the real clock again (offset by what was
    skipped).

    The calendar is the host's time plus `offset_ms` (unix milliseconds); `save(offset_ms)` is
    called after every skip, so the board resumes its day after a restart or a power cut as a
    battery-backed RTC would, and `localtime()` is what firmware/wallclock.py seeds from.
    """
    virtual = False

    def __init__(self, offset_ms, until_ms=None, save=None):
        import time
        self._time = time
        self.offset_ms = offset_ms
        self.until_ms = until_ms
        self._save = save
        self._skipped_ms = 0
        self._active_at = time.ticks_ms()
        self._awaiting = False      # a request was written and no byte has come since
        self.ticks_period = time.ticks_add(0, -1) + 1  # pyright: ignore[reportArgumentType] - the stubs' ticks_add wants a ticks value; 0 is one
        self.ticks_diff = time.ticks_diff
        self.ticks_add = time.ticks_add
        self.fast = until_ms is None or self._unix_ms() < until_ms

    def _unix_ms(self):
        return self._time.time_ns() // 1000000 + self.offset_ms

    # --- the clock interface (see firmware/hal/clock.py) ---------------------------------------
    def ticks_ms(self):
        return self._time.ticks_add(self._time.ticks_ms(), self._skipped_ms)

    def ticks_us(self):
        return self._time.ticks_add(self._time.ticks_us(), self._skipped_ms * 1000)

    def poller(self):
        import select
        return select.poll()

    def wait_io(self, poll, timeout_ms):
        time = self._time
        since = time.ticks_diff(time.ticks_ms(), self._active_at)
        window = ANSWER_MS if self._awaiting else QUIET_MS
        if self.fast and since >= window and timeout_ms > 0:
            events = poll.poll(0)
            if events:
                self._moved()
                return events
            self._skip(timeout_ms)
            return ()
        if self.fast and since < window and (timeout_ms < 0 or timeout_ms > window - since):
            timeout_ms = window - since         # then the rest of the wait is skipped
        events = poll.poll(timeout_ms)
        if events:
            self._moved()
        return events

    def _moved(self):
        self._active_at = self._time.ticks_ms()
        self._awaiting = False

    # --- the virtual board's controls ---------------------------------------------------------
    def exchange(self):
        """A byte was written to a device: its answer comes in real time."""
        self._active_at = self._time.ticks_ms()
        self._awaiting = True

    def localtime(self):
        """The calendar now, as time.localtime() gives it."""
        return self._time.localtime(self._unix_ms() // 1000)

    def _skip(self, ms):
        if self.until_ms is not None:
            left = self.until_ms - self._unix_ms()
            if left <= ms:
                ms = left if left > 0 else 0
                self.fast = False
        self._skipped_ms += ms
        self.offset_ms += ms
        if self._save is not None:
            self._save(self.offset_ms)
