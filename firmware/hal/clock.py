"""The board clock the kernel runs on: wrap-safe tick counters and the one blocking wait.

The kernel never reads time or sleeps by itself; it asks a clock object with this interface
(this module is the real one, `firmware.vclock.VirtualClock` the one tests use):

    ticks_ms(), ticks_us()      free-running counters (MicroPython: period 2**30 on boards)
    ticks_diff(a, b)            signed a - b, correct across the wrap-around
    ticks_add(t, delta)         t + delta, wrapped
    poller()                    a new select.poll object for the kernel's stream registrations
    wait_io(poll, timeout_ms)   sleep in ONE poll call until a registered stream is ready or the
                                timeout passes; returns an iterable of (stream, event mask)
    virtual                     False: time passes by itself
    ticks_period                the counters' period (2**30 on boards, 2**62 on 64-bit unix)
"""
import select
from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # noqa: F401 - re-exported

virtual = False
ticks_period = ticks_add(0, -1) + 1  # pyright: ignore[reportArgumentType] - the stubs' ticks_add wants a ticks value; 0 is one


def poller():
    return select.poll()


def wait_io(poll, timeout_ms):
    # ipoll reuses one result tuple for every event: the idle path allocates nothing.
    return poll.ipoll(timeout_ms)
