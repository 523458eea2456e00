# Statistics (CPU usage by idle counting, per-task figures, starvation), task faults and
# restarts, and the watchdog fed from idle only while supervised tasks check in.
from mp_support import eq
from kernel_support import make_kernel, run, spawn
import firmware.kernel_optional  # noqa: F401 - task_suspend
from firmware.kernel import ON_FAULT_REMOVE, OS_ERR_NONE
from firmware.kernel_stats import report


def task_stats(kernel, prio):
    for info in report(kernel)["tasks"]:
        if info["prio"] == prio:
            return info
    raise AssertionError("no task at %d" % prio)


def test_cpu_usage_counts_idle_time():
    k, clock = make_kernel()

    async def worker():
        while True:
            clock.burn(3)
            await k.time_dly(7)             # 3 ms busy in every 10 ms

    spawn(k, worker, 10)
    run(k, 4995)                            # ends while the worker sleeps
    st = report(k)
    eq(st["cpu"], 30, "cpu %")
    w = task_stats(k, 10)
    eq(w["cpu"], 30, "task cpu %")
    eq(w["max_slice_ms"], 3)
    eq(w["runs"], 500)
    eq(w["run_ms"], 1500)
    eq(w["state"], "delay")
    if not 3400 <= st["idle_ms"] <= 3500:
        raise AssertionError("idle_ms %d" % st["idle_ms"])
    if st["heap_used"] <= 0 or st["heap_peak"] < st["heap_used"]:
        raise AssertionError("heap figures %r" % st)


def test_a_busy_high_priority_task_starves_lower_ones_and_the_stats_show_it():
    k, clock = make_kernel()
    polls = [0]

    async def hog():                        # always ready: yields, but only to itself
        while True:
            clock.burn(5)
            await k.sched()

    async def poller():
        while True:
            polls[0] += 1
            await k.time_dly(100)

    spawn(k, hog, 5)
    spawn(k, poller, 20)
    run(k, 3000)
    eq(polls[0], 0, "the poller never ran")
    st = report(k)
    eq(st["cpu"], 100)
    hog_st, poll_st = task_stats(k, 5), task_stats(k, 20)
    eq(hog_st["cpu"], 100)
    eq(hog_st["max_slice_ms"], 5)
    eq(poll_st["runs"], 0)
    eq(poll_st["state"], "ready")           # ready the whole time, never scheduled
    eq(poll_st["last_run_ms_ago"], None)
    eq(k.task_suspend(5), OS_ERR_NONE)      # take the hog away: the poller runs and idles
    run(k, 2000)
    if not 19 <= polls[0] <= 21:
        raise AssertionError("poller ran %d times" % polls[0])
    eq(report(k)["cpu"], 0)


def test_longest_slice_names_the_latency_culprit():
    k, clock = make_kernel()

    async def checksum_flash():
        await k.time_dly(10)
        clock.burn(42)                      # a long computation without an await
        await k.time_dly(1000)

    async def ticker():
        while True:
            await k.time_dly(1)

    spawn(k, checksum_flash, 30)
    spawn(k, ticker, 2)
    run(k, 100)
    eq(task_stats(k, 30)["max_slice_ms"], 42)
    eq(task_stats(k, 2)["max_slice_ms"], 0)


def test_a_raising_task_is_recorded_and_restarted():
    k, clock = make_kernel(restart_ms=500)
    starts = [0]
    seen = []

    async def flaky(limit):
        starts[0] += 1
        await k.time_dly(100)
        raise OSError("uart %d timeout" % limit)

    async def steady():
        while True:
            seen.append(clock.ticks_ms())
            await k.time_dly(100)

    spawn(k, flaky, 10, 7)
    spawn(k, steady, 11)
    k.run(1250)                             # faults at 100 and 700; restarts at 600 and 1200
    eq(starts[0], 3)
    eq(len(k.fault_log), 2)
    name, text = k.fault_log[0]
    eq(name, "flaky")
    for part in ("OSError", "uart 7 timeout", "flaky"):
        if part not in text:
            raise AssertionError("%r not in the traceback text:\n%s" % (part, text))
    info = task_stats(k, 10)
    eq((info["faults"], info["restarts"]), (2, 2))
    if "uart 7 timeout" not in info["last_fault"]:
        raise AssertionError(info["last_fault"])
    eq(len(seen), 13, "the other task kept its 100 ms period")
    eq(report(k)["faults"], 2)


def test_a_raising_task_with_the_remove_policy_is_deleted():
    k, _ = make_kernel()

    async def once():
        await k.time_dly(5)
        raise ValueError("bad config")

    async def other():
        while True:
            await k.time_dly(10)

    spawn(k, once, 10, on_fault=ON_FAULT_REMOVE)
    spawn(k, other, 11)
    k.run(100)
    eq(k.task(10), None)
    eq(len(k.fault_log), 1)
    eq(k.task_create(once, 10, on_fault=ON_FAULT_REMOVE), OS_ERR_NONE, "priority freed")


def test_watchdog_is_fed_while_supervised_tasks_check_in():
    k, clock = make_kernel(watchdog_ms=1000)

    async def poller():
        while True:
            k.task_checkin()
            await k.time_dly(200)

    spawn(k, poller, 10, checkin_ms=500)
    run(k, 10000)
    wd = report(k)["watchdog"]
    eq(wd["would_reset"], 0)
    eq(wd["virtual"], True)
    if wd["feeds"] < 30 or wd["longest_gap_ms"] > 300:
        raise AssertionError("feeds %r" % wd)
    eq(report(k)["feeds_withheld"], 0)


def test_a_stuck_supervised_task_stops_the_feeding():
    k, clock = make_kernel(watchdog_ms=1000)
    never = k.sem_create(0)

    async def uplink():
        for _ in range(5):
            k.task_checkin()
            await k.time_dly(200)
        await k.sem_pend(never, 0)          # stuck: no more check-ins

    spawn(k, uplink, 10, checkin_ms=500)
    run(k, 5000)
    st = report(k)
    eq(st["late_task"], "uplink")
    if st["feeds_withheld"] < 10:
        raise AssertionError("withheld %d" % st["feeds_withheld"])
    wd = st["watchdog"]
    if wd["would_reset"] < 1 or wd["overdue_ms"] < 2000:
        raise AssertionError("the watchdog would have fired: %r" % wd)
    eq(task_stats(k, 10)["late"] > 0, True)


def test_cpu_starvation_starves_the_watchdog():
    k, clock = make_kernel(watchdog_ms=1000)

    async def runaway():
        await k.time_dly(500)
        while True:                         # never blocks: idle never runs, nothing feeds
            clock.burn(10)
            await k.sched()

    spawn(k, runaway, 3)
    run(k, 4000)
    wd = report(k)["watchdog"]
    if wd["overdue_ms"] < 2000:
        raise AssertionError("the watchdog was fed while the CPU was starved: %r" % wd)


def test_the_idle_hook_runs_once_per_sleep_not_in_a_busy_loop():
    k, clock = make_kernel()
    calls = [0]

    def idle_hook():
        calls[0] += 1

    async def periodic():
        while True:
            await k.time_dly(100)

    k.idle_hook = idle_hook
    spawn(k, periodic, 10)
    run(k, 1000)
    # one sleep per 100 ms wake-up, plus the statistics tick
    if not 10 <= calls[0] <= 12:
        raise AssertionError("idle hook ran %d times" % calls[0])
    eq(clock.slept_ms, 1000)


def test_a_task_that_exhausts_the_heap_is_a_fault_not_the_end_of_the_board():
    # The fault's traceback text needs the heap the task has just used up: the kernel records
    # the fault without it and goes on (raised inside the fault handling, a second MemoryError
    # would leave run() and stop every task of the board).
    k, _ = make_kernel()
    k.on_fault = None
    hog = []
    after = []

    async def greedy():
        await k.time_dly(5)
        for size in (4096, 256, 16):
            try:
                while True:
                    hog.append(bytearray(size))
            except MemoryError:
                pass
        raise MemoryError

    async def other():
        while True:
            await k.time_dly(10)
            hog.clear()                     # the heap back, once the fault was handled
            after.append(1)

    spawn(k, greedy, 10, on_fault=ON_FAULT_REMOVE)
    spawn(k, other, 11)
    k.run(100)
    eq(k.task(10), None)
    eq(report(k)["faults"], 1)
    eq(len(after) >= 8, True, "the other task went on after the fault")
