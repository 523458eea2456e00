# Scheduling: priority order, resumption at await points, task management and its error codes.
from mp_support import eq
from kernel_support import make_kernel, run, spawn
from firmware.kernel import (
    OS_ERR_NONE, OS_ERR_PRIO_EXIST, OS_ERR_PRIO_INVALID, OS_ERR_TIMEOUT, OS_ERR_PEND_LOCKED,
    OS_LOWEST_PRIO, OS_PRIO_SELF, ON_FAULT_REMOVE, OS_MAX_TASKS, OS_ERR_TASK_NO_MORE_TCB)
from firmware.kernel_optional import (
    OS_ERR_PRIO, OS_ERR_TASK_NOT_EXIST, OS_ERR_TASK_DEL_IDLE, OS_ERR_TASK_DEL,
    OS_ERR_TASK_SUSPEND_IDLE, OS_ERR_TASK_SUSPEND_PRIO, OS_ERR_TASK_RESUME_PRIO,
    OS_ERR_TASK_NOT_SUSPENDED, OS_ERR_TIME_NOT_DLY, OS_ERR_TIME_ZERO_DLY,
    OS_ERR_TIME_INVALID_MINUTES, OS_ERR_TIME_INVALID_SECONDS, OS_ERR_TIME_INVALID_MS,
    OS_PRIO_MUTEX_CEIL_DIS)


def test_highest_priority_ready_task_runs_first():
    k, clock = make_kernel()
    log = []

    async def worker(name):
        while True:
            log.append((name, clock.ticks_diff(clock.ticks_ms(), start)))
            await k.time_dly(10)

    for prio in (30, 10, 20):
        spawn(k, worker, prio, prio)
    start = clock.ticks_ms()
    run(k, 25)
    eq(log, [(10, 0), (20, 0), (30, 0), (10, 10), (20, 10), (30, 10), (10, 20), (20, 20),
             (30, 20)], "run order")


def test_create_at_taken_or_invalid_priority_fails():
    k, _ = make_kernel()

    async def idle_task():
        await k.time_dly(1000)

    eq(k.task_create(idle_task, 5), OS_ERR_NONE)
    eq(k.task_create(idle_task, 5), OS_ERR_PRIO_EXIST, "same priority twice")
    eq(k.task_create(idle_task, OS_LOWEST_PRIO), OS_ERR_PRIO_EXIST, "the idle priority")
    eq(k.task_create(idle_task, 64), OS_ERR_PRIO_INVALID)
    eq(k.task_create(idle_task, -1), OS_ERR_PRIO_INVALID)


def test_a_task_keeps_the_cpu_until_it_awaits():
    k, _ = make_kernel()
    sem = k.sem_create(0)
    log = []

    async def high():
        log.append("high waits")
        err = await k.sem_pend(sem, 0)
        log.append("high got %d" % err)

    async def low():
        log.append("low posts")
        k.sem_post(sem)
        log.append("low still running after post")
        await k.sched()
        log.append("low resumed")

    spawn(k, high, 1)
    spawn(k, low, 2)
    run(k, 10)
    eq(log, ["high waits", "low posts", "low still running after post", "high got 0",
             "low resumed"])


def test_an_await_that_completes_at_once_still_yields_to_a_readied_higher_task():
    k, _ = make_kernel()
    wake, token = k.sem_create(0), k.sem_create(5)
    log = []

    async def high():
        await k.sem_pend(wake, 0)
        log.append("high")

    async def low():
        k.sem_post(wake)
        err = await k.sem_pend(token, 0)    # available: no wait, but high is ready now
        log.append("low %d" % err)

    spawn(k, high, 1)
    spawn(k, low, 2)
    run(k, 10)
    eq(log, ["high", "low 0"])
    eq(k.sem_query(token)["count"], 4)


def test_an_expired_delay_preempts_at_the_next_await():
    k, clock = make_kernel()
    token = k.sem_create(100)
    log = []

    async def high():
        await k.time_dly(5)
        log.append("high")

    async def low():
        clock.burn(20)                      # computes past high's deadline without yielding
        await k.sem_pend(token, 0)
        log.append("low")

    spawn(k, high, 1)
    spawn(k, low, 2)
    run(k, 50)
    eq(log, ["high", "low"])


def test_suspend_resume_and_their_errors():
    k, _ = make_kernel()
    log = []

    async def ticker():
        while True:
            log.append("tick")
            await k.time_dly(10)

    async def controller():
        await k.time_dly(15)                # ticker ran at 0 and 10
        eq(k.task_suspend(5), OS_ERR_NONE)
        await k.time_dly(30)                # no ticks while suspended
        eq(k.task_resume(5), OS_ERR_NONE)
        eq(k.task_resume(5), OS_ERR_TASK_NOT_SUSPENDED)
        eq(k.task_suspend(OS_LOWEST_PRIO), OS_ERR_TASK_SUSPEND_IDLE)
        eq(k.task_suspend(40), OS_ERR_TASK_SUSPEND_PRIO)
        eq(k.task_suspend(70), OS_ERR_PRIO_INVALID)
        eq(k.task_resume(40), OS_ERR_TASK_RESUME_PRIO)
        eq(k.task_resume(OS_LOWEST_PRIO), OS_ERR_PRIO_INVALID)
        log.append("done")

    spawn(k, ticker, 5)
    spawn(k, controller, 4)
    run(k, 60)
    # 2 ticks before, 1 at resume (the delay expired while suspended), 1 more 10 ms later
    eq(log, ["tick", "tick", "done", "tick", "tick"])


def test_self_suspend_takes_effect_at_the_next_await():
    k, _ = make_kernel()
    log = []

    async def sleeper():
        k.task_suspend(OS_PRIO_SELF)
        log.append("still running until it awaits")
        err = await k.time_dly(0)
        log.append("resumed %d" % err)

    async def waker():
        await k.time_dly(10)
        log.append("waker")
        k.task_resume(3)

    spawn(k, sleeper, 3)
    spawn(k, waker, 4)
    run(k, 20)
    eq(log, ["still running until it awaits", "waker", "resumed 0"])


def test_delete_runs_finally_and_frees_the_priority():
    k, _ = make_kernel()
    log = []

    async def victim():
        try:
            await k.time_dly(1000)
        finally:
            log.append("victim cleaned up")

    async def killer():
        await k.time_dly(5)
        eq(k.task_del(10), OS_ERR_NONE)
        eq(k.task_del(10), OS_ERR_TASK_NOT_EXIST)
        eq(k.task_del(OS_LOWEST_PRIO), OS_ERR_TASK_DEL_IDLE)
        eq(k.task_del(99), OS_ERR_PRIO_INVALID)
        eq(k.task_create(victim, 10), OS_ERR_NONE)      # the priority is free again
        log.append("recreated")
        k.task_del(OS_PRIO_SELF)
        log.append("killer runs on until its next await")
        await k.time_dly(1)
        log.append("never")

    spawn(k, victim, 10)
    spawn(k, killer, 2)
    run(k, 20)
    eq(log, ["victim cleaned up", "recreated", "killer runs on until its next await"])
    eq(k.task(2), None)


def test_delete_a_mutex_ceiling_is_refused():
    k, _ = make_kernel()
    k.mutex_create(7)
    eq(k.task_del(7), OS_ERR_TASK_DEL)
    eq(k.task_suspend(7), OS_ERR_TASK_NOT_EXIST)
    eq(k.task_resume(7), OS_ERR_TASK_NOT_EXIST)


def test_change_priority_reorders_and_reports_errors():
    k, _ = make_kernel()
    log = []

    async def worker(name):
        while True:
            log.append(name)
            await k.time_dly(10)

    spawn(k, worker, 10, "a")
    spawn(k, worker, 20, "b")
    run(k, 5)
    eq(k.task_change_prio(20, 5), OS_ERR_NONE)
    eq(k.task_change_prio(20, 6), OS_ERR_PRIO, "old priority now empty")
    eq(k.task_change_prio(10, 5), OS_ERR_PRIO_EXIST)
    eq(k.task_change_prio(10, OS_LOWEST_PRIO), OS_ERR_PRIO_INVALID)
    k.mutex_create(30)
    eq(k.task_change_prio(30, 31), OS_ERR_TASK_NOT_EXIST, "a mutex ceiling")
    run(k, 10)
    eq(log, ["a", "b", "b", "a"])
    eq(k.task_query(5)["name"], "worker")
    eq(k.task_query(20), None)


def test_time_delay_hmsm_and_resume():
    k, clock = make_kernel()
    results = []

    async def sleeper():
        t0 = clock.ticks_ms()
        results.append(await k.time_dly_hmsm(0, 0, 1, 500))
        results.append(clock.ticks_diff(clock.ticks_ms(), t0))
        results.append(await k.time_dly_hmsm(0, 0, 0, 0))
        results.append(await k.time_dly_hmsm(0, 60, 0, 0))
        results.append(await k.time_dly_hmsm(0, 0, 60, 0))
        results.append(await k.time_dly_hmsm(0, 0, 0, 1000))
        t0 = clock.ticks_ms()
        results.append(await k.time_dly_hmsm(1, 0, 0, 0))     # resumed early by waker
        results.append(clock.ticks_diff(clock.ticks_ms(), t0))

    async def waker():
        eq(k.time_dly_resume(4), OS_ERR_TIME_NOT_DLY)          # itself: running
        await k.time_dly(2000)
        eq(k.time_dly_resume(3), OS_ERR_NONE)
        eq(k.time_dly_resume(9), OS_ERR_TASK_NOT_EXIST)
        eq(k.time_dly_resume(OS_LOWEST_PRIO), OS_ERR_PRIO_INVALID)

    spawn(k, sleeper, 3)
    spawn(k, waker, 4)
    run(k, 5000)
    eq(results, [OS_ERR_NONE, 1500, OS_ERR_TIME_ZERO_DLY, OS_ERR_TIME_INVALID_MINUTES,
                 OS_ERR_TIME_INVALID_SECONDS, OS_ERR_TIME_INVALID_MS, OS_ERR_NONE, 500])


def test_resuming_a_timed_pend_times_it_out():
    k, _ = make_kernel()
    sem = k.sem_create(0)
    got = []

    async def waiter():
        got.append(await k.sem_pend(sem, 10000))

    async def waker():
        await k.time_dly(5)
        eq(k.time_dly_resume(3), OS_ERR_NONE)

    spawn(k, waiter, 3)
    spawn(k, waker, 4)
    run(k, 20)
    eq(got, [OS_ERR_TIMEOUT])


def test_sched_lock_keeps_the_cpu_and_refuses_to_pend():
    k, _ = make_kernel()
    sem, wake = k.sem_create(0), k.sem_create(0)
    log = []

    async def high():
        await k.sem_pend(wake, 0)
        log.append("high")

    async def low():
        k.sched_lock()
        k.sem_post(wake)
        await k.sched()
        log.append("low kept the cpu")
        eq(await k.sem_pend(sem, 0), OS_ERR_PEND_LOCKED)
        eq(await k.time_dly(10), OS_ERR_PEND_LOCKED)
        k.sched_unlock()
        await k.sched()
        log.append("low after unlock")

    spawn(k, high, 1)
    spawn(k, low, 2)
    run(k, 10)
    eq(log, ["low kept the cpu", "high", "low after unlock"])


def test_time_get_and_set():
    k, _ = make_kernel()
    seen = []

    async def clockwatch():
        await k.time_dly(2500)
        seen.append(k.time_get())
        k.time_set(1000000)
        await k.time_dly(500)
        seen.append(k.time_get())

    spawn(k, clockwatch, 1)
    run(k, 4000)
    eq(seen, [2500, 1000500])


def test_run_returns_when_every_task_has_ended():
    k, _ = make_kernel()

    async def short():
        await k.time_dly(3)

    spawn(k, short, 1)
    run(k)
    eq(k.task(1), None)


def test_a_deleted_task_that_still_pends_leaves_nothing_behind():
    k, _ = make_kernel()
    sem, m = k.sem_create(0), k.mutex_create(OS_PRIO_MUTEX_CEIL_DIS)
    got = []

    async def zombie():
        k.task_del(OS_PRIO_SELF)
        k.mutex_accept(m)                   # takes the mutex after its own deletion...
        await k.sem_pend(sem, 0)            # ...and pends: both are undone when it is buried
        got.append("never")

    async def other():
        await k.time_dly(1)
        eq(k.sem_post(sem), OS_ERR_NONE)
        eq(k.sem_query(sem)["count"], 1, "no dead waiter took the post")
        eq(k.mutex_accept(m), True, "the dead task's mutex was released")
        eq(k.task_create(zombie, 3), OS_ERR_NONE, "its priority is free")
        got.append("ok")

    spawn(k, zombie, 3)
    spawn(k, other, 4)
    run(k, 10)
    eq(got, ["ok"])


def test_a_pend_without_await_fails_the_task_with_a_clear_error():
    k, _ = make_kernel()
    sem = k.sem_create(0)

    async def forgetful():
        k.sem_pend(sem, 10)                 # missing await: the task is now "waiting"...
        await k.time_dly(5)                 # ...and runs on into another service

    spawn(k, forgetful, 3, on_fault=ON_FAULT_REMOVE)
    k.run(20)
    eq(len(k.fault_log), 1)
    if "without awaiting" not in k.fault_log[0][1]:
        raise AssertionError(k.fault_log[0][1])
    eq(k.sem_query(sem)["waiting"], [], "the fault cleaned up the wait")


def test_a_periodic_task_does_not_drift_and_counts_missed_releases():
    k, clock = make_kernel()
    starts = []

    async def sampler():
        n = 0
        while True:
            starts.append(clock.ticks_diff(clock.ticks_ms(), t0))
            clock.burn(30 if n != 3 else 250)   # the 4th round overruns two releases
            n += 1
            eq(await k.time_dly_periodic(100), OS_ERR_NONE)

    t0 = clock.ticks_ms()
    spawn(k, sampler, 3)
    run(k, 800)
    # the first call starts the schedule (at 30, after the first round's work)
    eq(starts, [0, 130, 230, 330, 630, 730])
    eq(k.task_query(3)["overruns"], 2)
    got = []

    async def checker():
        got.append(await k.time_dly_periodic(0))

    spawn(k, checker, 4)
    run(k, 10)
    eq(got, [OS_ERR_TIME_ZERO_DLY])


def test_a_service_awaited_outside_the_kernel_is_refused_not_guessed():
    # the semaphore services and the awaitable are machine code without bounds checks: with no
    # task running they must refuse before indexing a task slot
    k, clock = make_kernel()
    sem = k.sem_create(0)
    for attempt in ("call", "await"):
        try:
            if attempt == "call":
                k.sem_pend(sem, 0)
            else:
                async def outside():
                    await k.sem_pend(sem, 0)
                outside().send(None)
            raise AssertionError("%s outside a task was accepted" % attempt)
        except RuntimeError as exc:
            eq("kernel's tasks" in str(exc), True, attempt)
    eq(k.sem_query(sem), {"count": 0, "waiting": []}, "nothing registered")


def test_more_tasks_than_task_slots_fail_with_no_more_tcb():
    k, clock = make_kernel()

    async def idle():
        while True:
            await k.time_dly(1000)

    for prio in range(OS_MAX_TASKS):
        eq(k.task_create(idle, prio), OS_ERR_NONE)
    eq(k.task_create(idle, OS_MAX_TASKS), OS_ERR_TASK_NO_MORE_TCB)
    eq(k.task_del(3), OS_ERR_NONE)
    run(k, 10)                              # the deleted task is buried, its slot freed
    eq(k.task_create(idle, OS_MAX_TASKS), OS_ERR_NONE)
