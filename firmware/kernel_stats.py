"""The kernel's statistics as plain data for the status command (OS_TaskStat, OSTaskQuery).

Kept apart from firmware/kernel.py: only a status request needs it, so its code is loaded on
the first request rather than at boot. Figures per task: run count, total run time, CPU share
of the last statistics period, the longest slice without yielding (the culprit of any
scheduling latency), when it last ran, faults and restarts, and its watchdog check-ins.
"""
import gc

from firmware.kernel import (
    OS_STAT_DEAD, OS_STAT_DLY, OS_STAT_FLAG, OS_STAT_IO, OS_STAT_MBOX, OS_STAT_MUTEX, OS_STAT_Q,
    OS_STAT_SEM, OS_STAT_SUSPEND)

_STATE_NAMES = ((OS_STAT_SUSPEND, "suspended"), (OS_STAT_SEM, "sem"), (OS_STAT_MUTEX, "mutex"),
                (OS_STAT_MBOX, "mbox"), (OS_STAT_Q, "q"), (OS_STAT_FLAG, "flag"),
                (OS_STAT_IO, "io"), (OS_STAT_DLY, "delay"))


def task_state(stat):
    """'ready', 'dead', or what the task waits for, e.g. 'sem', 'q', 'suspended+delay'."""
    if not stat:
        return "ready"
    if stat & OS_STAT_DEAD:
        return "dead"
    return "+".join(name for bit, name in _STATE_NAMES if stat & bit)


def task_report(kernel, t, now):
    diff = kernel._ticks_diff
    runs, run_us, max_slice_us, _ = kernel.slices(t)
    # a task that ran since the last statistics tick has only its ticks_us stamp
    last_run = kernel._last_run_ms(t, now, kernel._us()) if runs else t.last_run
    return {
        "prio": t.base_prio, "name": t.name, "state": task_state(t.stat), "cur_prio": t.prio,
        "runs": t.runs_total + runs, "run_ms": t.run_ms + run_us // 1000, "cpu": t.cpu,
        "max_slice_ms": max_slice_us // 1000, "max_slice_us": max_slice_us,
        "last_run_ms_ago": None if last_run is None else diff(now, last_run),
        "faults": t.faults, "restarts": t.restarts, "last_fault": t.last_fault,
        "overruns": t.overruns,
        "checkin_ms": t.checkin_ms, "late": t.late,
        "checkin_ms_ago": diff(now, t.checkin_at) if t.checkin_ms else None,
    }


def report(kernel):
    """The whole kernel: CPU usage (idle counting), switches, heap in use and its peak,
    faults, watchdog feeding and every task."""
    now = kernel._ticks_ms()
    used = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    if used > kernel.heap_peak:
        kernel.heap_peak = used
    free = gc.mem_free() if hasattr(gc, "mem_free") else 0
    tasks = kernel._tasks
    return {
        "uptime_ms": kernel.time_get() - kernel._time_offset,
        "cpu": kernel.cpu,
        "idle_ms": kernel._idle_ms_total + kernel._idle_us // 1000,
        "switches": kernel._switches_total + sum(kernel.slices(t)[0] for t in tasks),
        "heap_used": used, "heap_peak": kernel.heap_peak, "heap_free": free,
        "faults": kernel.faults,
        "feeds": kernel.feeds, "feeds_withheld": kernel.feeds_withheld,
        "late_task": kernel.late_task,
        "watchdog": None if kernel._wdt is None else kernel._wdt.status(),
        "tasks": [task_report(kernel, t, now) for t in tasks],
    }
