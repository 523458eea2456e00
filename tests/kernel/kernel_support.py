"""Shared helpers for the kernel tests (run under MicroPython, importable by CPython too)."""
from firmware.kernel import Kernel
from firmware.vclock import VirtualClock

# Five seconds before ticks_ms wraps on a board (period 2**30): every test that runs for more
# than 5 s of virtual time crosses the wrap-around.
WRAP_START = (1 << 30) - 5000


def make_kernel(start_ms=WRAP_START, watchdog_ms=None, **options):
    """A kernel on a virtual clock; returns (kernel, clock). Task faults are collected in
    `kernel.fault_log` as (task name, traceback text): an assertion failing inside a task
    would otherwise only restart the task."""
    clock = VirtualClock(start_ms)
    if watchdog_ms is not None:
        from firmware.hal.watchdog import Watchdog
        options["watchdog"] = Watchdog(watchdog_ms, clock)
    kernel = Kernel(clock, **options)
    kernel.fault_log = []
    kernel.on_fault = lambda task, exc, text: kernel.fault_log.append((task.name, text))
    return kernel, clock


def run(kernel, duration_ms=None):
    """kernel.run(duration_ms), then fail with the first task fault's traceback if any."""
    kernel.run(duration_ms)
    if kernel.fault_log:
        raise AssertionError("task %s raised:\n%s" % kernel.fault_log[0])


def spawn(kernel, fn, prio, *args, **options):
    """task_create that fails the test unless the task was created."""
    err = kernel.task_create(fn, prio, args, **options)
    if err:
        raise AssertionError("task_create(%s, %d) returned %d" % (fn, prio, err))
