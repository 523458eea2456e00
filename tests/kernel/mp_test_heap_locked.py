# timeout: 60
# The steady state allocates nothing: many context switches, delays, expiring timeouts and
# every kind of message pass, first measured with the collector off (gc.mem_alloc must not
# move), then under micropython.heap_lock() (any allocation raises MemoryError).
import gc
import micropython
from mp_support import eq
from kernel_support import make_kernel, run
from firmware.kernel_stats import report
from firmware.kernel import Kernel, OS_ERR_NONE, OS_ERR_TIMEOUT, OS_IO_READ
from firmware.kernel_optional import OS_FLAG_SET, OS_FLAG_WAIT_SET_ALL, OS_FLAG_CONSUME

# counters live in a preallocated list: storing a small int into it allocates nothing
PINGS, TIMEOUTS, TICKS, QMSGS, MBOX, FLAGS, LOCKS, ERRORS = range(8)


def build(kernel, spend=None):
    """Create the tasks; `spend()`, if given, is the CPU time of one ping-pong round (on a
    virtual clock time only moves when something spends it)."""
    k = kernel
    counts = [0] * 8
    ping, pong, never = k.sem_create(0), k.sem_create(0), k.sem_create(0)
    q, mb, grp, m = k.q_create(4), k.mbox_create(), k.flag_create(), k.mutex_create(1)
    messages = ("reading", "event", "ack")  # preallocated message objects

    async def pinger():
        while True:
            k.sem_post(pong)
            if await k.sem_pend(ping, 0) != OS_ERR_NONE:
                counts[ERRORS] += 1
            counts[PINGS] += 1

    async def ponger():
        while True:
            await k.sem_pend(pong, 0)
            k.sem_post(ping)
            if spend is not None:
                spend()
            await k.sched()

    async def ticker():
        while True:
            await k.time_dly(1)
            counts[TICKS] += 1

    async def impatient():                  # an expiring timeout every 3 ms
        while True:
            if await k.sem_pend(never, 3) == OS_ERR_TIMEOUT:
                counts[TIMEOUTS] += 1

    async def producer():
        i = 0
        while True:
            k.q_post(q, messages[i])
            k.mbox_post(mb, messages[i])
            k.flag_post(grp, 0x3, OS_FLAG_SET)
            i = i + 1 if i < 2 else 0
            await k.time_dly(2)

    async def consumer():
        while True:
            if await k.q_pend(q, 50) == OS_ERR_NONE and k.msg() in messages:
                counts[QMSGS] += 1
            if await k.mbox_pend(mb, 50) == OS_ERR_NONE:
                counts[MBOX] += 1
            if await k.flag_pend(grp, 0x3, OS_FLAG_WAIT_SET_ALL | OS_FLAG_CONSUME, 50) == 0:
                counts[FLAGS] += 1

    async def locker(hold_ms):              # contention with ceiling promotion
        while True:
            await k.mutex_pend(m, 0)
            await k.time_dly(hold_ms)
            k.mutex_post(m)
            counts[LOCKS] += 1
            await k.time_dly(1)

    for fn, prio, args in ((ticker, 2, ()), (producer, 3, ()), (consumer, 4, ()),
                           (locker, 5, (2,)), (impatient, 6, ()), (locker, 7, (1,)),
                           (pinger, 10, ()), (ponger, 11, ())):
        eq(k.task_create(fn, prio, args), OS_ERR_NONE)
    return counts


# What each phase must see each counter do: the virtual phases last a fixed stretch of virtual
# time, so these are certain; the real-clock phase runs until it has seen them.
LEAST = (1000, 50, 100, 50, 50, 50, 50)


def check_progress(counts, before, what, least=LEAST):
    for i in range(len(least)):
        if counts[i] - before[i] < least[i]:
            raise AssertionError("%s: counter %d moved only %d" % (what, i, counts[i] - before[i]))
    eq(counts[ERRORS], 0, "pend errors")


def test_virtual_clock_steady_state_allocates_nothing():
    k, clock = make_kernel()
    counts = build(k, lambda: clock.burn_us(100))
    run(k, 500)                             # warm up: first-use allocations happen here
    gc.collect()
    before = list(counts)
    gc.disable()
    try:
        used = gc.mem_alloc()
        k.run(2000)
        grown = gc.mem_alloc() - used
    finally:
        gc.enable()
    eq(grown, 0, "bytes allocated in 2 s of virtual steady state")
    check_progress(counts, before, "unlocked")
    before = list(counts)
    micropython.heap_lock()
    try:
        k.run(3000)
    finally:
        micropython.heap_unlock()
    check_progress(counts, before, "heap locked")
    eq(k.fault_log, [])
    st = report(k)
    if st["switches"] < 5000:
        raise AssertionError("only %d switches" % st["switches"])


def test_real_clock_steady_state_with_io_runs_heap_locked():
    # The board clock (real sleeps in poll) and a stream: a byte every 2 ms over a loopback
    # socket, read into a preallocated buffer by a task waiting in io_wait. A loaded host may
    # pause the process for hundreds of ms, so no phase lasts a fixed stretch of wall time: a
    # watcher task stops the kernel once every counter has moved enough (switches, expiring
    # timeouts, real sleeps in poll, bytes through io_wait), and the wall-time cap only catches
    # a kernel that stopped making progress at all.
    import time
    from mp_test_io import socket_pair
    a, b = socket_pair()
    a.setblocking(False)                    # readinto returns what is there
    k = Kernel()
    counts = build(k)
    received = [0]
    byte, buf = b"\x68", bytearray(16)
    # targets[i]: the value counts[i] must reach, the last one for received[0]; set before
    # each phase, read by the watcher (small ints in a preallocated list: no allocation)
    targets = [0] * (len(LEAST) + 1)

    async def sender():
        while True:
            b.send(byte)
            await k.time_dly(2)

    async def receiver():
        while True:
            if await k.io_wait(a, OS_IO_READ, 100) == OS_ERR_NONE:
                received[0] += a.readinto(buf)

    async def watcher():
        n = len(LEAST)
        while True:
            await k.time_dly(5)
            i = 0
            while i < n and counts[i] >= targets[i]:
                i += 1
            if i == n and received[0] >= targets[n]:
                k.stop()

    def aim(least, received_least):
        for i in range(len(LEAST)):
            targets[i] = counts[i] + least[i]
        targets[-1] = received[0] + received_least

    def timed_run(cap_ms):
        t0 = time.ticks_ms()
        k.run(cap_ms)
        return time.ticks_diff(time.ticks_ms(), t0)

    eq(k.task_create(receiver, 0), OS_ERR_NONE)
    eq(k.task_create(watcher, 8), OS_ERR_NONE)
    eq(k.task_create(sender, 9), OS_ERR_NONE)   # above the ping-pong, which is always ready
    # warm up until every path ran a few times (first-use allocations happen here)
    few = (3,) * len(LEAST)
    before = list(counts)
    aim(few, 3)
    elapsed = timed_run(20000)
    check_progress(counts, before, "real clock, warm-up, %d ms" % elapsed, few)
    gc.collect()
    before = list(counts)
    got = received[0]
    aim(LEAST, 50)
    micropython.heap_lock()
    try:
        elapsed = timed_run(30000)
    finally:
        micropython.heap_unlock()
    # the same thresholds, reached however long the host took; on a quiet host ~400 ms
    check_progress(counts, before, "real clock, heap locked, %d ms" % elapsed)
    if received[0] - got < 50:
        raise AssertionError("only %d bytes arrived in %d ms" % (received[0] - got, elapsed))
    eq(report(k)["faults"], 0, "task faults")
    a.close()
    b.close()
