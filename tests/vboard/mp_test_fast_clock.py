# The virtual board's fast clock (firmware/vclock.py FastClock, `conc board run --clock-start
# --fast-until`): idle time is skipped, a request's answer takes real time, the calendar
# follows the skips and survives a restart, and from `until` on the clock is real again.
# Run under the MicroPython unix port. No assertion on how long anything takes: a skipped hour
# shows in the ticks and the calendar, a real wait in ticks that moved less than its timeout.
import select
import time

from mp_support import eq, socket_pair
from firmware.vclock import ANSWER_MS, FastClock, QUIET_MS
from firmware.kernel import Kernel, OS_ERR_NONE, OS_ERR_TIMEOUT, OS_IO_READ

HOUR_MS = 3600 * 1000


def quiet(clock):
    """Let the quiet window after the clock's creation pass (in real time)."""
    time.sleep_ms(QUIET_MS + 20)


def unix_s(clock):
    return time.mktime(clock.localtime())


def test_an_idle_hour_is_skipped_and_the_calendar_follows():
    saved = []
    clock = FastClock(0, None, saved.append)
    quiet(clock)
    poll = clock.poller()
    t0, s0 = clock.ticks_ms(), unix_s(clock)
    eq(tuple(clock.wait_io(poll, HOUR_MS)), (), "nothing ready")
    assert clock.ticks_diff(clock.ticks_ms(), t0) >= HOUR_MS
    assert unix_s(clock) - s0 >= 3600
    eq(saved[-1], clock.offset_ms, "the offset is saved after the skip")
    assert clock.offset_ms >= HOUR_MS
    # a restart from the saved offset keeps the calendar
    again = FastClock(saved[-1])
    assert unix_s(again) >= unix_s(clock)


def test_a_kernel_sleeps_through_a_day_of_hours():
    clock = FastClock(0)
    quiet(clock)
    k = Kernel(clock)
    woke = []

    async def hourly():
        for _ in range(24):
            await k.time_dly(HOUR_MS)
            woke.append(unix_s(clock))
        k.stop()

    k.task_create(hourly, 5)
    start = unix_s(clock)
    k.run()
    eq(len(woke), 24)
    assert woke[-1] - start >= 24 * 3600, (start, woke[-1])


def test_after_a_request_is_written_its_answer_gets_real_time():
    a, b = socket_pair()
    clock = FastClock(0)
    poll = clock.poller()
    poll.register(a, select.POLLIN)
    quiet(clock)
    clock.exchange()                        # a request went out
    t0 = clock.ticks_ms()
    eq(tuple(clock.wait_io(poll, HOUR_MS)), (), "no answer")
    waited = clock.ticks_diff(clock.ticks_ms(), t0)
    # a real wait to the end of the answer's window, no skip
    assert ANSWER_MS <= waited < HOUR_MS, waited
    # the answer came in that time: it is reported, with no skip
    clock.exchange()
    b.send(b"reply")
    t0 = clock.ticks_ms()
    events = list(clock.wait_io(poll, HOUR_MS))
    eq(len(events), 1, "the answer")
    assert clock.ticks_diff(clock.ticks_ms(), t0) < HOUR_MS
    a.recv(16)
    # quiet again: the rest of the wait is skipped
    quiet(clock)
    t0 = clock.ticks_ms()
    eq(tuple(clock.wait_io(poll, HOUR_MS)), ())
    assert clock.ticks_diff(clock.ticks_ms(), t0) >= HOUR_MS
    a.close()
    b.close()


def answer_later(sock, delay_ms):
    """A peer in another thread: the answer comes `delay_ms` of real time from now."""
    import _thread

    def peer():
        time.sleep_ms(delay_ms)
        sock.send(b"reply")
    _thread.start_new_thread(peer, ())


def read_with_the_kernel(mark_the_request):
    """A meter read under the kernel: request, then a 500 ms wait for the answer, which a
    peer sends after 300 ms of real time (longer than QUIET_MS, shorter than ANSWER_MS); an
    idle task wakes every second meanwhile."""
    a, b = socket_pair()
    clock = FastClock(0)
    quiet(clock)
    k = Kernel(clock)
    got = []

    async def meter_reader():
        if mark_the_request:
            clock.exchange()                # the virtual board's write does this
        answer_later(b, 300)
        got.append(await k.io_wait(a, OS_IO_READ, 500))
        k.stop()

    async def idle():
        while True:
            await k.time_dly(1000)

    k.task_create(meter_reader, 5)
    k.task_create(idle, 6)
    k.run()
    time.sleep_ms(400)                      # the peer thread is done before the sockets close
    a.close()
    b.close()
    return got[0]


def test_a_reader_gets_the_answer_its_peer_sends_in_real_time():
    eq(read_with_the_kernel(True), OS_ERR_NONE, "answered")
    # the reason for exchange(): without it the wait counts as idle time and is skipped
    eq(read_with_the_kernel(False), OS_ERR_TIMEOUT, "skipped")


def test_from_until_on_the_clock_is_real():
    now_ms = time.time_ns() // 1000000
    clock = FastClock(0, now_ms + 30 * 60 * 1000)      # fast for half an hour of calendar
    quiet(clock)
    poll = clock.poller()
    t0 = clock.ticks_ms()
    clock.wait_io(poll, HOUR_MS)
    skipped = clock.ticks_diff(clock.ticks_ms(), t0)
    assert 30 * 60 * 1000 - 1000 <= skipped < HOUR_MS, skipped     # to `until`, not beyond
    assert not clock.fast
    t0 = clock.ticks_ms()
    clock.wait_io(poll, 20)                              # a real 20 ms wait
    assert clock.ticks_diff(clock.ticks_ms(), t0) < HOUR_MS
    # a restart after `until` is real from the start
    assert not FastClock(clock.offset_ms, now_ms + 30 * 60 * 1000).fast
