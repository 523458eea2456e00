"""Waiting for a condition with a deadline, instead of sleeping a fixed time before a check.

    doc = wait_for("the first reading in the log", lambda: read_status().get("records"), 20)
    beats = await wait_for_async("the retried heartbeats", lambda: station.beats, 3)

A fixed sleep is too long on a quiet machine and too short on a loaded one; polling the
condition returns as soon as it holds and fails with what was awaited (and the last value
seen) when the deadline passes.
"""
import asyncio
import time


def _polls(what, predicate, timeout):
    """The waiting loop of both: yields before each new check while `predicate()` is false,
    returns (StopIteration.value) its true value, fails at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        yield


def wait_for(what, predicate, timeout, every=0.05):
    """Poll `predicate()` until it returns something true; return that value.

    Raises AssertionError naming `what` and the last value after `timeout` seconds. An
    exception from `predicate` propagates (a check that cannot even run is not "not yet").
    """
    polls = _polls(what, predicate, timeout)
    try:
        while True:
            next(polls)
            time.sleep(every)
    except StopIteration as done:
        return done.value


async def wait_for_async(what, predicate, timeout, every=0.05):
    """`wait_for` inside a coroutine: polls with asyncio.sleep, so the event loop (and the code
    under test running in it) goes on between checks."""
    polls = _polls(what, predicate, timeout)
    try:
        while True:
            next(polls)
            await asyncio.sleep(every)
    except StopIteration as done:
        return done.value
