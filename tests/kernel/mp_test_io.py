# I/O waits on real streams (a TCP loopback pair) with the board clock: readable, writable,
# timeout, forget, hang-up, and the idle kernel sleeping in poll rather than spinning.
# The host may pause the process for a while (CI runs the suite 2-way parallel on a loaded
# machine): a timeout that must NOT expire is far longer than the wait it covers, every run
# ends with k.stop() once the test saw what it needs, and its duration is only a cap.
from mp_support import eq, socket_pair
from firmware.kernel_stats import report
from firmware.kernel import (
    Kernel, OS_ERR_NONE, OS_ERR_TIMEOUT, OS_ERR_PEND_ABORT, OS_ERR_TASK_WAITING, OS_IO_READ,
    OS_IO_WRITE)


def test_a_task_wakes_when_its_stream_becomes_readable():
    a, b = socket_pair()
    k = Kernel()
    got = []

    async def reader():
        err = await k.io_wait(a, OS_IO_READ, 20000)
        got.append((err, a.recv(16)))
        got.append(await k.io_wait(a, OS_IO_READ, 30))          # nothing more: timeout
        k.stop()

    async def second_reader():
        got.append(await k.io_wait(a, OS_IO_READ, 20000))       # reader already waits

    async def writer():
        eq(await k.io_wait(b, OS_IO_WRITE, 10000), OS_ERR_NONE)  # a fresh socket is writable
        await k.time_dly(50)
        b.send(b"frame")

    k.task_create(reader, 5)
    k.task_create(second_reader, 6)
    k.task_create(writer, 7)
    k.run(30000)
    eq(got, [OS_ERR_TASK_WAITING, (OS_ERR_NONE, b"frame"), OS_ERR_TIMEOUT])
    a.close()
    b.close()


def test_an_idle_kernel_sleeps_in_poll_until_the_byte_arrives():
    a, b = socket_pair()
    k = Kernel()
    got = []

    async def reader():
        err = await k.io_wait(a, OS_IO_READ, 0)
        got.append((err, a.recv(4)))
        k.stop()

    async def writer():
        await k.time_dly(200)
        b.send(b"\x68")

    k.task_create(reader, 5)
    k.task_create(writer, 6)
    k.run(30000)
    eq(got, [(OS_ERR_NONE, b"\x68")])
    st = report(k)
    # 200 ms of waiting took a handful of passes, not a busy loop
    if st["switches"] > 10:
        raise AssertionError("%d switches while idle" % st["switches"])
    a.close()
    b.close()


def test_forget_aborts_the_waiter_and_a_hang_up_wakes_the_reader():
    a, b = socket_pair()
    k = Kernel()
    got = []

    async def reader():
        got.append(await k.io_wait(a, OS_IO_READ, 20000))
        got.append(await k.io_wait(a, OS_IO_READ, 20000))
        got.append(a.recv(4))                                   # EOF after the hang-up
        k.stop()

    async def closer():
        await k.time_dly(20)
        k.io_forget(a)
        await k.time_dly(20)
        b.close()

    k.task_create(reader, 5)
    k.task_create(closer, 6)
    k.run(30000)
    eq(got, [OS_ERR_PEND_ABORT, OS_ERR_NONE, b""])
    a.close()


def test_a_stream_closed_under_a_waiting_task_wakes_it_and_is_forgotten():
    a, b = socket_pair()
    k = Kernel()
    got = []
    woken = k.sem_create(0)

    async def reader():
        got.append(await k.io_wait(a, OS_IO_READ, 20000))
        k.sem_post(woken)

    async def closer():
        await k.time_dly(20)
        a.close()                           # without io_forget: poll reports an invalid fd

    async def bystander():
        # 300 ms after the reader woke: a kernel spinning on the closed stream would show
        await k.sem_pend(woken, 20000)
        await k.time_dly(300)
        k.stop()

    k.task_create(reader, 5)
    k.task_create(closer, 6)
    k.task_create(bystander, 7)
    k.run(30000)
    eq(got, [OS_ERR_NONE])
    eq(len(k._io), 0, "the closed stream was dropped")
    if report(k)["switches"] > 20:
        raise AssertionError("the kernel spun on the closed stream")
    b.close()
