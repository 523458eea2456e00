"""The kernel's scheduling and message services checked against simple models, under CPython
with hypothesis (the same source the board runs; MicroPython behaviour is proven by the
mp_test_*.py files next to this one)."""
from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.kernel import OS_ERR_NONE, OS_ERR_Q_FULL, Kernel
from firmware.kernel_optional import (
    OS_FLAG_CONSUME, OS_FLAG_WAIT_CLR_ALL, OS_FLAG_WAIT_CLR_ANY, OS_FLAG_WAIT_SET_ALL,
    OS_FLAG_WAIT_SET_ANY)
from firmware.vclock import VirtualClock


class _NoStreams:
    """CPython's select.poll has no ipoll; these tests wait on no stream."""

    def register(self, stream, mask):
        raise AssertionError("no streams in these tests")

    def ipoll(self, timeout):
        return iter(())


class ModelClock(VirtualClock):
    def poller(self):
        return _NoStreams()


def make_kernel(start_ms):
    return Kernel(ModelClock(start_ms))


@settings(max_examples=60, deadline=None)
@given(periods=st.dictionaries(st.integers(0, 62), st.integers(1, 400), min_size=1, max_size=8),
       start=st.integers(0, (1 << 30) - 1), duration=st.integers(1, 3000))
def test_periodic_tasks_run_in_deadline_then_priority_order(periods, start, duration):
    # Every task wakes at exact multiples of its period; tasks due at the same instant run
    # highest priority (lowest number) first. Starting anywhere in the ticks period, the
    # wrap-around included.
    k = make_kernel(start)
    clock = k._clock
    t0 = clock.ticks_ms()
    log = []

    async def periodic(prio, period):
        while True:
            log.append((clock.ticks_diff(clock.ticks_ms(), t0), prio))
            await k.time_dly(period)

    for prio, period in periods.items():
        assert k.task_create(periodic, prio, (prio, period)) == OS_ERR_NONE
    k.run(duration)
    expected = sorted((t, prio) for prio, period in periods.items()
                      for t in range(0, duration, period))
    assert log == expected


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 6),
       ops=st.lists(st.tuples(st.sampled_from(["post", "front", "accept", "flush"]),
                              st.integers(0, 999)), max_size=60))
def test_queue_matches_a_bounded_deque(size, ops):
    k = make_kernel(0)
    q = k.q_create(size)
    model = deque()
    for op, value in ops:
        if op in ("post", "front"):
            err = k.q_post(q, value) if op == "post" else k.q_post_front(q, value)
            if len(model) == size:
                assert err == OS_ERR_Q_FULL
            else:
                assert err == OS_ERR_NONE
                model.append(value) if op == "post" else model.appendleft(value)
        elif op == "accept":
            assert k.q_accept(q) == (model.popleft() if model else None)
        else:
            k.q_flush(q)
            model.clear()
        info = k.q_query(q)
        assert info["entries"] == len(model)
        assert info["msg"] == (model[0] if model else None)


WAIT_TYPES = [OS_FLAG_WAIT_SET_ALL, OS_FLAG_WAIT_SET_ANY, OS_FLAG_WAIT_CLR_ALL,
              OS_FLAG_WAIT_CLR_ANY]


@given(flags=st.integers(0, 0xFFFF), want=st.integers(1, 0xFFFF),
       wait_type=st.sampled_from(WAIT_TYPES), consume=st.booleans())
def test_flag_accept_matches_the_uCOS_II_conditions(flags, want, wait_type, consume):
    k = make_kernel(0)
    grp = k.flag_create(flags)
    set_bits, clr_bits = flags & want, ~flags & want
    expected = {OS_FLAG_WAIT_SET_ALL: want if set_bits == want else 0,
                OS_FLAG_WAIT_SET_ANY: set_bits,
                OS_FLAG_WAIT_CLR_ALL: want if clr_bits == want else 0,
                OS_FLAG_WAIT_CLR_ANY: clr_bits}[wait_type]
    got = k.flag_accept(grp, want, wait_type | (OS_FLAG_CONSUME if consume else 0))
    assert got == expected
    if consume and got and wait_type in (OS_FLAG_WAIT_SET_ALL, OS_FLAG_WAIT_SET_ANY):
        assert k.flag_query(grp) == flags & ~got
    elif consume and got:
        assert k.flag_query(grp) == flags | got
    else:
        assert k.flag_query(grp) == flags
