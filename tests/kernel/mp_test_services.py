# Every service's success, timeout, abort and error paths: semaphore, mutex, mailbox, queue,
# event flags (uC/OS-II error codes).
from mp_support import eq, raises
from kernel_support import make_kernel, run, spawn
from firmware.kernel import (
    KernelError, OS_ERR_NONE, OS_ERR_TIMEOUT, OS_ERR_PEND_ABORT, OS_ERR_EVENT_TYPE, OS_ERR_SEM_OVF,
    OS_ERR_POST_NULL_PTR, OS_ERR_Q_FULL, OS_ERR_PRIO_EXIST, OS_ERR_PRIO_INVALID, OS_ERR_PCP_LOWER,
    OS_ERR_INVALID_OPT, OS_POST_OPT_BROADCAST, OS_POST_OPT_FRONT, ON_FAULT_REMOVE)
from firmware.kernel_optional import (
    OS_ERR_MBOX_FULL, OS_ERR_NOT_MUTEX_OWNER, OS_ERR_FLAG_WAIT_TYPE, OS_ERR_FLAG_INVALID_OPT,
    OS_PEND_OPT_BROADCAST, OS_FLAG_WAIT_SET_ALL, OS_FLAG_WAIT_SET_ANY, OS_FLAG_WAIT_CLR_ALL,
    OS_FLAG_WAIT_CLR_ANY, OS_FLAG_CONSUME, OS_FLAG_SET, OS_FLAG_CLR)


def test_semaphore_pend_timeout_post_accept_query():
    k, clock = make_kernel()
    sem = k.sem_create(0)
    log = []

    async def waiter():
        t0 = clock.ticks_ms()
        log.append((await k.sem_pend(sem, 30), clock.ticks_diff(clock.ticks_ms(), t0)))
        log.append((await k.sem_pend(sem, 0), "posted"))
        log.append((await k.sem_pend(sem, 50), "posted to a waiter"))

    async def poster():
        await k.time_dly(100)
        eq(k.sem_query(sem), {"count": 0, "waiting": [3]})
        eq(k.sem_post(sem), OS_ERR_NONE)
        await k.time_dly(10)
        k.sem_post(sem)
        await k.time_dly(10)                # the waiter is gone: posts count up
        k.sem_post(sem)
        k.sem_post(sem)
        eq(k.sem_accept(sem), 2, "accept returns the count before it takes one")
        eq(k.sem_accept(sem), 1)
        eq(k.sem_accept(sem), 0, "nothing left")

    spawn(k, waiter, 3)
    spawn(k, poster, 4)
    run(k, 200)
    eq(log, [(OS_ERR_TIMEOUT, 30), (OS_ERR_NONE, "posted"), (OS_ERR_NONE, "posted to a waiter")])


def test_semaphore_overflow_abort_and_wrong_type():
    k, _ = make_kernel()
    full = k.sem_create(65535)
    eq(k.sem_post(full), OS_ERR_SEM_OVF)
    eq(k.sem_query(full)["count"], 65535)
    raises(KernelError, k.sem_create, 70000)
    sem = k.sem_create(0)
    got = []

    async def waiter(prio):
        got.append((prio, await k.sem_pend(sem, 0)))

    async def aborter():
        await k.time_dly(5)
        eq(k.sem_pend_abort(sem), 1, "one waiter aborted")
        eq(k.sem_pend_abort(sem, OS_PEND_OPT_BROADCAST), 2)
        eq(k.sem_pend_abort(sem), 0)
        eq(await k.sem_pend(k.q_create(1), 5), OS_ERR_EVENT_TYPE)
        eq(k.sem_post(k.mbox_create()), OS_ERR_EVENT_TYPE)

    for prio in (5, 6, 7):
        spawn(k, waiter, prio, prio)
    spawn(k, aborter, 10)
    run(k, 20)
    eq(got, [(5, OS_ERR_PEND_ABORT), (6, OS_ERR_PEND_ABORT), (7, OS_ERR_PEND_ABORT)])


def test_semaphore_wakes_the_highest_priority_waiter_first():
    k, _ = make_kernel()
    sem = k.sem_create(0)
    order = []

    async def waiter(prio):
        await k.sem_pend(sem, 0)
        order.append(prio)

    async def poster():
        await k.time_dly(1)
        for _ in range(3):
            k.sem_post(sem)
            await k.time_dly(1)

    for prio in (20, 8, 14):
        spawn(k, waiter, prio, prio)
    spawn(k, poster, 30)
    run(k, 10)
    eq(order, [8, 14, 20])


def test_mutex_priority_ceiling_promotes_the_owner_over_a_busy_middle_task():
    # Classic inversion: low owns the mutex, high waits for it, a middle-priority task computes.
    # Raised to the ceiling (4), low runs ahead of middle as soon as its delay ends, releases,
    # and high gets the mutex at once instead of after middle's 20 ms of work.
    k, clock = make_kernel()
    m = k.mutex_create(4)
    log = []
    start = clock.ticks_ms()

    def at():
        return clock.ticks_diff(clock.ticks_ms(), start)

    async def low():
        eq(await k.mutex_pend(m, 0), OS_ERR_NONE)
        await k.time_dly(10)                # high and middle wake meanwhile
        log.append(("low runs at prio %d" % k.task(30).prio, at()))
        eq(k.mutex_post(m), OS_ERR_NONE)
        log.append(("low back at prio %d" % k.task(30).prio, at()))
        await k.sched()
        log.append(("low ends", at()))

    async def high():
        await k.time_dly(5)
        err = await k.mutex_pend(m, 0)
        log.append(("high owns %d" % err, at()))
        k.mutex_post(m)

    async def middle():
        await k.time_dly(5)
        for _ in range(20):
            clock.burn(1)
            await k.sched()
        log.append(("middle done", at()))

    spawn(k, low, 30)
    spawn(k, high, 10)
    spawn(k, middle, 20)
    run(k, 50)
    eq(log, [("low runs at prio 4", 10), ("low back at prio 30", 10), ("high owns 0", 10),
             ("middle done", 25), ("low ends", 25)])


def test_mutex_errors_timeout_and_accept():
    k, _ = make_kernel()
    m = k.mutex_create(4)
    raises(KernelError, k.mutex_create, 4)          # the ceiling priority is reserved
    raises(KernelError, k.mutex_create, 63)
    e = raises(KernelError, k.mutex_create, 4)
    eq(e.err, OS_ERR_PRIO_EXIST)
    eq(raises(KernelError, k.mutex_create, 70).err, OS_ERR_PRIO_INVALID)
    log = []

    async def owner():
        eq(k.mutex_accept(m), True)
        await k.time_dly(100)
        k.mutex_post(m)

    async def other():
        await k.time_dly(1)
        eq(k.mutex_accept(m), False)
        eq(k.mutex_post(m), OS_ERR_NOT_MUTEX_OWNER)
        log.append(await k.mutex_pend(m, 20))
        eq(k.mutex_query(m)["owner"], 10)
        log.append(await k.mutex_pend(m, 0))
        eq(k.mutex_query(m), {"owner": 12, "owner_prio": 12, "pcp": 4, "waiting": []})
        eq(await k.mutex_pend(k.sem_create(), 0), OS_ERR_EVENT_TYPE)
        k.mutex_post(m)

    async def too_high():
        await k.time_dly(200)
        log.append(await k.mutex_pend(m, 0))    # prio 2 is above the ceiling 4
        k.mutex_post(m)

    spawn(k, owner, 10)
    spawn(k, other, 12)
    spawn(k, too_high, 2)
    run(k, 300)
    eq(log, [OS_ERR_TIMEOUT, OS_ERR_NONE, OS_ERR_PCP_LOWER])


def test_a_faulting_owner_releases_its_mutex():
    k, _ = make_kernel()
    m = k.mutex_create(4)
    log = []

    async def crasher():
        await k.mutex_pend(m, 0)
        await k.time_dly(5)
        raise ValueError("meter table corrupt")

    async def waiter():
        await k.time_dly(1)
        log.append(await k.mutex_pend(m, 100))

    spawn(k, crasher, 20, on_fault=ON_FAULT_REMOVE)
    spawn(k, waiter, 10)
    k.run(50)
    eq(log, [OS_ERR_NONE])
    eq(len(k.fault_log), 1)
    eq(k.task(20), None)
    eq(k.task(10), None)


def test_mailbox_post_full_broadcast_accept_timeout_abort():
    k, _ = make_kernel()
    mb = k.mbox_create()
    got = []

    async def reader(prio):
        while True:
            err = await k.mbox_pend(mb, 50)
            got.append((prio, err, k.msg()))
            if err:
                return

    async def writer():
        eq(k.mbox_post(mb, None), OS_ERR_POST_NULL_PTR)
        await k.time_dly(1)
        eq(k.mbox_query(mb), {"msg": None, "waiting": [5, 6]})
        eq(k.mbox_post(mb, "one"), OS_ERR_NONE)                 # to the highest waiter
        await k.time_dly(1)
        eq(k.mbox_post_opt(mb, "all", OS_POST_OPT_BROADCAST), OS_ERR_NONE)
        eq(k.mbox_post(mb, "kept"), OS_ERR_NONE)                # nobody waits: stored
        eq(k.mbox_post(mb, "more"), OS_ERR_MBOX_FULL)
        eq(k.mbox_accept(mb), "kept")
        eq(k.mbox_accept(mb), None)
        await k.time_dly(10)
        eq(k.mbox_pend_abort(mb, OS_PEND_OPT_BROADCAST), 2)

    spawn(k, reader, 5, 5)
    spawn(k, reader, 6, 6)
    spawn(k, writer, 9)
    run(k, 100)
    eq(got, [(5, OS_ERR_NONE, "one"), (5, OS_ERR_NONE, "all"), (6, OS_ERR_NONE, "all"),
             (5, OS_ERR_PEND_ABORT, None), (6, OS_ERR_PEND_ABORT, None)])


def test_mailbox_pend_times_out():
    k, _ = make_kernel()
    mb = k.mbox_create("ready")
    got = []

    async def reader():
        got.append((await k.mbox_pend(mb, 10), k.msg()))
        got.append((await k.mbox_pend(mb, 10), k.msg()))

    spawn(k, reader, 1)
    run(k, 50)
    eq(got, [(OS_ERR_NONE, "ready"), (OS_ERR_TIMEOUT, None)])


def test_queue_fifo_front_full_flush_accept_query():
    k, _ = make_kernel()
    raises(KernelError, k.q_create, 0)
    q = k.q_create(3)
    eq(k.q_post(q, None), OS_ERR_POST_NULL_PTR)
    eq(k.q_post(q, "a"), OS_ERR_NONE)
    eq(k.q_post(q, "b"), OS_ERR_NONE)
    eq(k.q_post_front(q, "urgent"), OS_ERR_NONE)
    eq(k.q_post(q, "d"), OS_ERR_Q_FULL)
    eq(k.q_query(q), {"msg": "urgent", "entries": 3, "size": 3, "peak": 3, "waiting": []})
    eq([k.q_accept(q), k.q_accept(q), k.q_accept(q), k.q_accept(q)], ["urgent", "a", "b", None])
    for i in range(7):                  # wrap the ring a few times
        k.q_post(q, i)
        k.q_post_opt(q, -i, OS_POST_OPT_FRONT)
        eq((k.q_accept(q), k.q_accept(q)), (-i, i))
    k.q_post(q, "x")
    k.q_post(q, "y")
    eq(k.q_flush(q), OS_ERR_NONE)
    eq(k.q_query(q)["entries"], 0)
    eq(k.q_accept(q), None)
    eq(k.q_post(k.sem_create(), "m"), OS_ERR_EVENT_TYPE)


def test_queue_pend_delivers_in_order_times_out_broadcasts_and_aborts():
    k, _ = make_kernel()
    q = k.q_create(4)
    got = []

    async def consumer(prio):
        while True:
            err = await k.q_pend(q, 30)
            got.append((prio, err, k.msg()))
            if err:
                return

    async def producer():
        for m in ("r1", "r2", "r3"):
            k.q_post(q, m)
        # r1 goes straight to waiter 5, r2 to waiter 6 (both were waiting), r3 is queued
        # and 5, running first, takes it
        await k.time_dly(1)
        k.q_post_opt(q, "all", OS_POST_OPT_BROADCAST)
        await k.time_dly(1)
        eq(k.q_pend_abort(q), 1)        # 5, the highest waiter
        # 6 times out 30 ms after its last message

    spawn(k, consumer, 5, 5)
    spawn(k, consumer, 6, 6)
    spawn(k, producer, 9)
    run(k, 100)
    eq(got, [(5, 0, "r1"), (5, 0, "r3"), (6, 0, "r2"), (5, 0, "all"), (6, 0, "all"),
             (5, OS_ERR_PEND_ABORT, None), (6, OS_ERR_TIMEOUT, None)])


def test_event_flags_wait_types_consume_and_errors():
    k, _ = make_kernel()
    grp = k.flag_create(0x30)
    got = []

    async def waiter(name, flags, wait_type, timeout):
        err = await k.flag_pend(grp, flags, wait_type, timeout)
        got.append((name, err, k.flags_rdy()))

    async def poster():
        await k.time_dly(1)
        eq(k.flag_post(grp, 0x01, OS_FLAG_SET), OS_ERR_NONE)   # any-of 0x03 wakes; all-of not yet
        await k.time_dly(1)
        k.flag_post(grp, 0x02, OS_FLAG_SET)                    # all-of 0x03 wakes and consumes
        await k.time_dly(1)
        eq(k.flag_query(grp), 0x30)
        k.flag_post(grp, 0x10, OS_FLAG_CLR)                    # clear-all 0x30: not yet
        k.flag_post(grp, 0x20, OS_FLAG_CLR)                    # now it wakes
        eq(k.flag_post(grp, 1, 7), OS_ERR_FLAG_INVALID_OPT)
        eq(await k.flag_pend(grp, 1, 9, 0), OS_ERR_FLAG_WAIT_TYPE)
        eq(k.flag_accept(grp, 0x30, OS_FLAG_WAIT_CLR_ANY), 0x30)
        eq(k.flag_accept(grp, 0x01, OS_FLAG_WAIT_SET_ANY), 0, "OS_ERR_FLAG_NOT_RDY")
        k.flag_post(grp, 0x0C, OS_FLAG_SET)
        eq(k.flag_accept(grp, 0x04, OS_FLAG_WAIT_SET_ALL | OS_FLAG_CONSUME), 0x04)
        eq(k.flag_query(grp), 0x08)

    spawn(k, waiter, 2, "all", 0x03, OS_FLAG_WAIT_SET_ALL | OS_FLAG_CONSUME, 0)
    spawn(k, waiter, 3, "any", 0x03, OS_FLAG_WAIT_SET_ANY, 0)
    spawn(k, waiter, 4, "clr", 0x30, OS_FLAG_WAIT_CLR_ALL, 0)
    spawn(k, waiter, 5, "late", 0x40, OS_FLAG_WAIT_SET_ANY, 20)
    spawn(k, poster, 9)
    run(k, 50)
    eq(got, [("any", 0, 0x01), ("all", 0, 0x03), ("clr", 0, 0x30), ("late", OS_ERR_TIMEOUT, 0)])


def test_consumed_flags_wake_one_consumer():
    k, _ = make_kernel()
    grp = k.flag_create()
    got = []

    async def consumer(prio):
        err = await k.flag_pend(grp, 0x1, OS_FLAG_WAIT_SET_ANY | OS_FLAG_CONSUME, 10)
        got.append((prio, err))

    async def poster():
        await k.time_dly(1)
        k.flag_post(grp, 0x1, OS_FLAG_SET)

    spawn(k, consumer, 3, 3)
    spawn(k, consumer, 4, 4)
    spawn(k, poster, 9)
    run(k, 30)
    eq(got, [(3, OS_ERR_NONE), (4, OS_ERR_TIMEOUT)])


def test_io_wait_rejects_a_bad_mode():
    k, _ = make_kernel()
    got = []

    async def task():
        got.append(await k.io_wait(None, 3, 10))

    spawn(k, task, 1)
    run(k, 5)
    eq(got, [OS_ERR_INVALID_OPT])


def test_mutex_and_flag_pends_can_be_aborted():
    k, _ = make_kernel()
    m, grp = k.mutex_create(), k.flag_create()
    got = []

    async def owner():
        k.mutex_accept(m)
        await k.time_dly(100)

    async def waiter():
        got.append(("mutex", await k.mutex_pend(m, 0)))
        got.append(("flag", await k.flag_pend(grp, 0x1, OS_FLAG_WAIT_SET_ALL, 0)))

    async def aborter():
        await k.time_dly(5)
        eq(k.mutex_query(m)["waiting"], [6])
        eq(k.pend_abort(m), 1)
        await k.time_dly(5)
        eq(k.flag_pend_abort(grp), 1)

    spawn(k, owner, 5)
    spawn(k, waiter, 6)
    spawn(k, aborter, 7)
    run(k, 50)
    eq(got, [("mutex", OS_ERR_PEND_ABORT), ("flag", OS_ERR_PEND_ABORT)])
    eq(k.mutex_query(m)["owner"], 5, "the abort did not hand the mutex over")


def test_changing_a_waiting_task_priority_reorders_the_wait_list():
    k, _ = make_kernel()
    sem = k.sem_create(0)
    order = []

    async def waiter(name):
        await k.sem_pend(sem, 0)
        order.append(name)

    async def controller():
        await k.time_dly(1)
        eq(k.task_change_prio(20, 5), 0)    # "late" now outranks "early" in the wait list
        eq(k.sem_query(sem)["waiting"], [5, 10])
        k.sem_post(sem)
        k.sem_post(sem)

    spawn(k, waiter, 10, "early")
    spawn(k, waiter, 20, "late")
    spawn(k, controller, 30)
    run(k, 10)
    eq(order, ["late", "early"])
