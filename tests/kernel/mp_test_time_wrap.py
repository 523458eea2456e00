# Time across the ticks wrap-around (2**30 on boards) and timeouts longer than one timer arm.
from mp_support import eq
from kernel_support import make_kernel, run, spawn
from firmware.vclock import VirtualClock
from firmware.kernel import Kernel, OS_ERR_TIMEOUT


def test_the_virtual_clock_wraps_like_ticks_ms():
    clock = VirtualClock((1 << 30) - 10)
    before = clock.ticks_ms()
    clock.advance(25)
    after = clock.ticks_ms()
    eq(after, 15, "wrapped")
    eq(clock.ticks_diff(after, before), 25)
    eq(clock.ticks_diff(before, after), -25)
    eq(clock.ticks_add(before, 25), after)


def test_periodic_delays_and_timeouts_cross_the_wrap():
    k, clock = make_kernel()                # starts 5 s before the wrap
    stamps = []
    results = []
    sem = k.sem_create(0)

    async def periodic():
        while True:
            stamps.append(clock.ticks_ms())
            await k.time_dly(700)

    async def waiter():
        await k.time_dly(4500)
        t0 = clock.ticks_ms()
        err = await k.sem_pend(sem, 1000)   # expires 500 ms after the wrap
        results.append((err, clock.ticks_diff(clock.ticks_ms(), t0)))

    spawn(k, periodic, 5)
    spawn(k, waiter, 6)
    run(k, 10000)
    gaps = [clock.ticks_diff(stamps[i + 1], stamps[i]) for i in range(len(stamps) - 1)]
    eq(gaps, [700] * (len(stamps) - 1))
    eq(len(stamps), 15)
    if stamps[-1] > 10000:
        raise AssertionError("did not wrap: %r" % stamps)
    eq(results, [(OS_ERR_TIMEOUT, 1000)])


def test_many_wraps_on_a_short_period_clock():
    clock = VirtualClock(60000, period=1 << 16)     # wraps every 65.5 s
    k = Kernel(clock)
    count = [0]

    async def minutely():
        while True:
            await k.time_dly(10000)
            count[0] += 1

    k.task_create(minutely, 1)
    for _ in range(10):                     # a run() must stay within half a period
        k.run(30000)                        # 300 s: 4 and a half wraps
    k.run(100)                              # the expiry due exactly at the stop time
    eq(count[0], 30)


def test_a_delay_longer_than_one_timer_arm():
    # ticks_diff only orders deadlines within half the period, so a long delay is armed in
    # spans; 2**28 + 5 s is three days and crosses the wrap.
    k, clock = make_kernel(tick_ms=1 << 27)
    done = []

    async def sleeper():
        elapsed = [0]
        start = clock.ticks_ms()

        def on_wake():
            elapsed[0] = clock.ticks_diff(clock.ticks_ms(), start)

        await k.time_dly((1 << 28) + 5000)
        on_wake()
        done.append(elapsed[0])

    spawn(k, sleeper, 1)
    run(k)
    eq(done, [(1 << 28) + 5000])


def test_busy_tasks_on_a_short_period_clock_still_wake_sleepers_on_time():
    # While tasks are busy the scheduler looks at its timers only once ticks_us passes a "gate"
    # set from the next deadline; with a 2**16 period ticks_us wraps every 65.5 ms of virtual
    # time, many times per 500 ms delay. A sleeper must still wake within a busy slice (1 ms)
    # of its deadline.
    clock = VirtualClock(0, period=1 << 16)
    k = Kernel(clock)
    lateness = []

    async def sleeper():
        for _ in range(8):
            due = clock.ticks_add(clock.ticks_ms(), 500)
            await k.time_dly(500)
            lateness.append(clock.ticks_diff(clock.ticks_ms(), due))
        k.stop()

    async def busy():
        while True:
            clock.burn(1)                   # always ready: the kernel never idles
            await k.sched()

    k.task_create(sleeper, 1)
    k.task_create(busy, 10)
    k.run(20000)
    eq(len(lateness), 8)
    for late in lateness:
        if not 0 <= late <= 1:
            raise AssertionError("a sleeper woke %d ms late: %r" % (late, lateness))
