# timeout: 60
# The steady state allocates nothing: many context switches, delays, expiring timeouts and
# every kind of message pass, first measured with the collector off (gc.mem_alloc must not
# move), then under micropython.heap_lock() (any allocation raises MemoryError).
import gc
import micropython
from mp_support import eq
from kernel_support import make_kernel, run
from firmware.kernel import (
    Kernel, OS_ERR_NONE, OS_ERR_TIMEOUT, OS_FLAG_SET, OS_FLAG_WAIT_SET_ALL, OS_FLAG_CONSUME,
    OS_IO_READ)

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


def check_progress(counts, before, what):
    for i, least in ((PINGS, 1000), (TIMEOUTS, 50), (TICKS, 100), (QMSGS, 50), (MBOX, 50),
                     (FLAGS, 50), (LOCKS, 50)):
        if counts[i] - before[i] < least:
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
    st = k.stats()
    if st["switches"] < 5000:
        raise AssertionError("only %d switches" % st["switches"])


def test_real_clock_steady_state_with_io_runs_heap_locked():
    # The board clock (real sleeps in poll) and a stream: a byte every 2 ms over a loopback
    # socket, read into a preallocated buffer by a task waiting in io_wait.
    from mp_test_io import socket_pair
    a, b = socket_pair()
    a.setblocking(False)                    # readinto returns what is there
    k = Kernel()
    counts = build(k)
    received = [0]
    byte, buf = b"\x68", bytearray(16)

    async def sender():
        while True:
            b.send(byte)
            await k.time_dly(2)

    async def receiver():
        while True:
            if await k.io_wait(a, OS_IO_READ, 100) == OS_ERR_NONE:
                received[0] += a.readinto(buf)

    eq(k.task_create(receiver, 0), OS_ERR_NONE)
    eq(k.task_create(sender, 9), OS_ERR_NONE)   # above the ping-pong, which is always ready
    k.run(100)
    gc.collect()
    before = list(counts)
    got = received[0]
    micropython.heap_lock()
    try:
        k.run(400)
    finally:
        micropython.heap_unlock()
    check_progress(counts, before, "real clock, heap locked")
    if received[0] - got < 50:
        raise AssertionError("only %d bytes arrived" % (received[0] - got))
    a.close()
    b.close()
