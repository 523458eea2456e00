"""The firmware kernel: cooperative priority scheduling with uC/OS-II's services and error codes.

Tasks are `async def` coroutines with unique priorities (0 highest). The scheduler always
resumes the highest-priority ready task, which runs until it awaits a kernel service. Every
service keeps uC/OS-II's semantics and numeric error codes (ucos_ii.h V2.93.01); docs/kernel.md
maps each uC/OS-II call to ours and lists every code a service returns.

How a pend returns without allocating: awaiting a service evaluates to its error code (a small
int); the message a pend received is `kernel.msg()` and the flags that readied a flag pend are
`kernel.flags_rdy()` (uC/OS-II's OSFlagPendGetFlagsRdy). Each task owns one pre-built awaitable
that every service re-arms, the ready list and every wait list are uC/OS-II's two-level priority
bitmaps, and timeouts are deadlines in the task records: the steady state allocates nothing
(tests/kernel/mp_test_heap_locked.py proves it under micropython.heap_lock()).

The kernel sleeps in one select.poll wait (through the clock, firmware/hal/clock.py) until the
next deadline or stream event, measures CPU usage by counting idle time, and feeds the watchdog
from idle only while every supervised task has checked in on time.

The services the firmware's own tasks never call (mutexes, mailboxes, event flags, pend_abort,
task delete/suspend/resume/change priority/query, the scheduler lock, the rarer queue and
delay calls) are in firmware/kernel_sync.py, loaded on first use.
"""
import gc
import sys

from protocol.compat import const

VERSION = const(100)

# --- uC/OS-II error codes (ucos_ii.h V2.93.01) ------------------------------------------------
# Those only the services in firmware/kernel_sync.py return (task delete/suspend/resume, time,
# mutex, mailbox and flag errors) and their options are defined there; `firmware.kernel` serves
# every name all the same (module __getattr__ below), so both lists read as one.
OS_ERR_NONE = const(0)
OS_ERR_EVENT_TYPE = const(1)
OS_ERR_POST_NULL_PTR = const(3)
OS_ERR_INVALID_OPT = const(7)
OS_ERR_TIMEOUT = const(10)
OS_ERR_PEND_LOCKED = const(13)
OS_ERR_PEND_ABORT = const(14)
OS_ERR_Q_FULL = const(30)
OS_ERR_Q_EMPTY = const(31)
OS_ERR_PRIO_EXIST = const(40)
OS_ERR_PRIO_INVALID = const(42)
OS_ERR_SEM_OVF = const(51)
OS_ERR_TASK_WAITING = const(73)
OS_ERR_PCP_LOWER = const(120)

# --- options ------------------------------------------------------------------------------------
OS_LOWEST_PRIO = const(63)          # the idle priority; tasks use 0..62
OS_PRIO_SELF = const(0xFF)
OS_POST_OPT_NONE = const(0)
OS_POST_OPT_BROADCAST = const(1)
OS_POST_OPT_FRONT = const(2)
OS_IO_READ = const(1)               # select.POLLIN
OS_IO_WRITE = const(4)              # select.POLLOUT
ON_FAULT_RESTART = const(0)
ON_FAULT_REMOVE = const(1)

# --- task status bits (OSTCBStat); IO, DLY and DEAD are ours --------------------------------
OS_STAT_SEM = const(0x01)
OS_STAT_MBOX = const(0x02)
OS_STAT_Q = const(0x04)
OS_STAT_SUSPEND = const(0x08)
OS_STAT_MUTEX = const(0x10)
OS_STAT_FLAG = const(0x20)
OS_STAT_IO = const(0x40)
OS_STAT_DLY = const(0x100)
OS_STAT_DEAD = const(0x200)
_PEND_ANY = const(0x77)             # SEM | MBOX | Q | MUTEX | FLAG | IO

_POLLERR = const(8)
_POLLHUP = const(16)
_POLLNVAL = const(32)               # a closed descriptor (unix): must not make the kernel spin
_SEM_MAX = const(65535)             # OS_EVENT.OSEventCnt is an INT16U
_MAX_SPAN = const(1 << 28)          # longest single timer arm; ticks_diff is valid to 2**29

_K_SEM = const(1)
_K_Q = const(4)


def __getattr__(name):
    # The codes and options defined in firmware/kernel_sync.py: names cost heap (a global and
    # its interned string each), so a board that never calls those services never holds them.
    if name[:3] == "OS_":
        from firmware import kernel_sync
        if hasattr(kernel_sync, name):
            return getattr(kernel_sync, name)
    raise AttributeError("module 'firmware.kernel' has no attribute %r" % (name,))


def _unmap_table():
    # OSUnMapTbl: index of the lowest set bit of a byte (the highest priority in a group)
    table = bytearray(256)
    for i in range(1, 256):
        b = 0
        while not (i >> b) & 1:
            b += 1
        table[i] = b
    return bytes(table)


_UNMAP = _unmap_table()
_RESERVED = "reserved"              # OS_TCB_RESERVED: a mutex ceiling or the idle priority
# error code -> its StopIteration, built at its first use and shared; a list, not a dict: the
# lookup runs at the end of every await
_STOPS = [None] * (OS_ERR_PCP_LOWER + 1)
_GATE_MAX_US = const(100000000)     # the scheduler's gate is at most 100 s ahead...


def _new_stop(err):
    stop = _STOPS[err] = StopIteration(err)
    return stop


class KernelError(Exception):
    """A kernel object could not be created (uC/OS-II returns a NULL pointer); `.err` is the code."""

    def __init__(self, err, message):
        super().__init__("%s (uC/OS-II error %d)" % (message, err))
        self.err = err


class _PrioSet:
    """A set of priorities as uC/OS-II's OSRdyGrp/OSRdyTbl pair: O(1) add, remove, highest."""

    def __init__(self):
        self.grp = 0
        self.tbl = bytearray(8)

    def add(self, prio):
        y = prio >> 3
        self.tbl[y] |= 1 << (prio & 7)
        self.grp |= 1 << y

    def remove(self, prio):
        y = prio >> 3
        row = self.tbl[y] & ~(1 << (prio & 7))
        self.tbl[y] = row
        if not row:
            self.grp &= ~(1 << y)

    def highest(self):
        y = _UNMAP[self.grp]
        return (y << 3) | _UNMAP[self.tbl[y]]

    def prios(self):
        return [p for p in range(64) if self.tbl[p >> 3] & (1 << (p & 7))]


class Semaphore(_PrioSet):
    kind = _K_SEM

    def __init__(self, count):
        super().__init__()
        self.count = count


class Queue(_PrioSet):
    kind = _K_Q

    def __init__(self, size):
        super().__init__()
        self.buf = [None] * size    # a ring: the queue never allocates after creation
        self.size = size
        self.out = 0
        self.n = 0
        self.peak = 0


class _Await:
    """A task's one awaitable. A service arms it: `wait` says whether the await yields to the
    scheduler; when the task resumes, the await evaluates to the task's error code."""

    def __init__(self, task):
        self.task = task
        self.wait = False

    def __iter__(self):
        return self

    __await__ = __iter__            # CPython's await protocol; MicroPython uses __iter__

    def __next__(self):
        if self.wait:
            self.wait = False
            return None
        err = self.task.err
        stop = _STOPS[err]
        if stop is None:
            stop = _new_stop(err)
        stop.__traceback__ = None   # keeps the shared exception's traceback from growing
        raise stop


class Task:
    """A task control block (OS_TCB). Read its fields; change it only through the kernel."""

    def __init__(self, fn, args, prio, name, on_fault, checkin_ms, now):
        self.fn = fn
        self.args = args
        self.prio = prio            # effective priority (raised while it owns a contended mutex)
        self.base_prio = prio
        self.set_bits(prio)
        self.name = name
        self.on_fault = on_fault
        self.checkin_ms = checkin_ms
        self.checkin_at = now
        self.set_coro(fn(*args))
        self.aw = _Await(self)
        self.stat = 0
        self.err = OS_ERR_NONE
        self.msg = None
        self.flags_rdy = 0
        self.event = None
        self.timed = False
        self.deadline = 0
        self.left = 0               # what remains of a timeout longer than _MAX_SPAN
        self.flag_want = 0
        self.flag_type = 0
        self.io = None
        self.io_slot = 0
        self.owned = None
        self.runs = 0               # this statistics period; folded into runs_total
        self.runs_total = 0
        self.run_us = 0
        self.run_ms = 0
        self.max_slice_us = 0
        self.last_us = 0            # ticks_us at the end of its last slice (this period)
        self.last_run = None        # ticks_ms of its last slice, as of the last statistics tick
        self.cpu = 0
        self.faults = 0
        self.last_fault = None
        self.restarts = 0
        self.late = 0
        self.release = None         # time_dly_periodic's last release
        self.overruns = 0

    def set_bits(self, prio):
        # uC/OS-II's OSTCBY, OSTCBBitY, OSTCBBitX: where the task sits in a priority bitmap
        self.prio = prio
        self.y = prio >> 3
        self.bity = 1 << self.y
        self.bitx = 1 << (prio & 7)

    def set_coro(self, coro):
        if not hasattr(coro, "send"):
            raise TypeError("a task must be an async def function, got %r" % (coro,))
        self.coro = coro
        self.send = coro.send       # bound once: the scheduler calls it at every switch


def _not_awaited(t):
    # The task called a service that blocks (or yields) and went on without awaiting it: it
    # is registered as waiting while it runs. Fail it loudly; the fault handling cleans up.
    t.aw.wait = False
    raise RuntimeError("task %s called a kernel service without awaiting the previous one"
                       % t.name)


def _format_exception(exc):
    try:
        import io
        buf = io.StringIO()
        sys.print_exception(exc, buf)
        return buf.getvalue()
    except AttributeError:          # CPython
        import traceback
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class Kernel:
    """The scheduler and every service. One instance runs the board (`run()` is OSStart)."""

    def __init__(self, clock=None, watchdog=None, tick_ms=1000, restart_ms=1000):
        if clock is None:
            from firmware.hal import clock
        self._clock = clock
        self._ticks_ms = clock.ticks_ms
        self._ticks_us = clock.ticks_us
        self._ticks_diff = clock.ticks_diff
        self._ticks_add = clock.ticks_add
        self._poll = clock.poller()
        self._tcb = [None] * (OS_LOWEST_PRIO + 1)
        self._tcb[OS_LOWEST_PRIO] = _RESERVED
        self._tasks = []            # existing tasks by priority, for the periodic walks
        self._ready = _PrioSet()
        self._cur = None
        self._dead = None
        self._lock = 0
        self._lock_owner = None
        self._io = {}               # stream -> [stream, event mask, reader task, writer task]
        self._io_waiting = 0
        self._wdt = watchdog
        if watchdog is not None:
            # idle feeds at least 4 times per watchdog period, so the kernel never sleeps longer
            self._feed_ms = max(1, watchdog.timeout_ms // 4)
            tick_ms = min(tick_ms, self._feed_ms)
        else:
            self._feed_ms = 0
        self._tick_ms = tick_ms
        self._restart_ms = restart_ms
        now = self._ticks_ms()
        self._io_at = now
        self._fed_at = now
        self._stat_at = now
        self._tick_due = self._ticks_add(now, tick_ms)
        self._next_due = self._tick_due
        self._gate = 0              # ticks_us before which the scheduler needs no slow pass
        # ...and at most a quarter of the clock's period, so ticks_diff orders it
        self._gate_max_us = min(_GATE_MAX_US, getattr(clock, "ticks_period", 1 << 30) >> 2)
        self._stop_at = None
        self._running = False
        self._idle_us = 0
        self._idle_ms_total = 0
        self._uptime_s = 0
        self._uptime_ms = 0
        self._time_offset = 0
        self._switches_total = 0    # switches of past periods; this period's are in task.runs
        self.cpu = 0
        self.heap_used = 0
        self.heap_peak = 0
        self.faults = 0
        self.feeds = 0
        self.feeds_withheld = 0
        self.late_task = None
        # Hooks the application sets: idle_hook() (OSTaskIdleHook) runs before every idle sleep;
        # on_fault(task, exc, traceback_text) runs when a task raises (the ERC21 event).
        self.idle_hook = None
        self.on_fault = None

    # --- scheduling -----------------------------------------------------------------------------
    def run(self, duration_ms=None):
        """Run the tasks (OSStart). Returns after `duration_ms` if given, when `stop()` is
        called, or when no task is left."""
        if duration_ms is not None and not 0 <= duration_ms <= _MAX_SPAN:
            raise ValueError("run() lasts 0..%d ms, not %r" % (_MAX_SPAN, duration_ms))
        # The hot loop: everything it touches is a local. A switch costs one ticks_us read (the
        # end of a slice is the start of the next) and one comparison with the gate: the
        # microsecond before which nothing but picking the highest ready task can be due (no
        # deadline, statistics tick, stream poll, stop or dead task). Whatever moves one of
        # those earlier pulls the gate to now (_kick); the slow pass (_pass) then does the work
        # and sets the gate again.
        diff = self._ticks_diff
        ticks_us = self._ticks_us
        ready = self._ready
        rtbl = ready.tbl
        tcb = self._tcb
        unmap = _UNMAP
        self._running = bool(self._tasks)
        if duration_ms is not None:
            self._stop_at = self._ticks_add(self._ticks_ms(), duration_ms)
            if diff(self._stop_at, self._next_due) < 0:
                self._next_due = self._stop_at
        start = ticks_us()
        self._gate = start
        t = None
        while self._running:
            # the slow pass, then at least one task, then as many as the gate lets through
            start = self._pass(start)
            if not ready.grp or not self._running:
                continue
            try:
                while True:
                    y = unmap[ready.grp]
                    t = tcb[(y << 3) | unmap[rtbl[y]]]
                    self._cur = t
                    t.send(None)
                    # the slice includes this pass of the scheduler
                    end = ticks_us()
                    spent = diff(end, start)
                    start = end
                    t.runs += 1
                    t.run_us += spent
                    t.last_us = end
                    if spent > t.max_slice_us:
                        t.max_slice_us = spent
                    if not ready.grp or diff(end, self._gate) >= 0:
                        break
            except StopIteration:
                start = self._end_slice(t, start)
                self._remove(t)
            except Exception as exc:  # noqa: BLE001 - a task's error never stops the kernel
                start = self._end_slice(t, start)
                self._fault(t, exc)
        if self._dead is not None:
            self._bury()
        self._cur = None
        self._stop_at = None
        self._running = False

    def _end_slice(self, t, start):
        # the statistics of a slice that ended in an exception (the task returned or raised)
        end = self._ticks_us()
        spent = self._ticks_diff(end, start)
        t.runs += 1
        t.run_us += spent
        t.last_us = end
        if spent > t.max_slice_us:
            t.max_slice_us = spent
        return end

    def _kick(self):
        # something is due before the gate: the next scheduling pass takes the slow path
        self._gate = self._ticks_us()

    def _pass(self, start):
        """The scheduler's slow pass: bury, timers and statistics tick, stream poll, idle
        sleep; then the next gate. Returns the start of the next slice."""
        if self._dead is not None:
            self._bury()
        diff = self._ticks_diff
        us = self._ticks_us()       # read before the ms: the gate can only come early
        now = self._ticks_ms()
        if diff(now, self._next_due) >= 0:
            self._tick(now)
            if not self._running:
                return start
        if self._io_waiting and now != self._io_at:
            # busy: look at the streams at most once per millisecond, without blocking
            self._io_at = now
            self._io_events(self._poll.ipoll(0))
        if not self._ready.grp:
            self._idle(now)
            start = self._ticks_us()
            self._gate = start      # time passed: the next pass looks at the timers again
            return start
        # ms ticks and us ticks advance together, but this ms began up to 1 ms ago: the gate
        # may open up to 1 ms early (a slow pass with nothing to do), never late
        wait = diff(self._next_due, now) - 1
        if self._io_waiting and wait > 1:
            wait = 1
        if wait <= 0:
            self._gate = us
        else:
            wait *= 1000
            self._gate = self._ticks_add(us, wait if wait < self._gate_max_us
                                         else self._gate_max_us)
        return start

    def stop(self):
        """Make run() return at the next scheduling point."""
        self._running = False
        self._kick()

    def _ret(self, t, err):
        # A service completed without blocking. The await still yields if a higher-priority
        # task became ready or a timer fell due: preemption at await points.
        aw = t.aw
        if aw.wait:
            _not_awaited(t)
        t.err = err
        if t.stat:
            aw.wait = True
        elif self._lock:
            aw.wait = False
        else:
            # a higher task is ready iff a lower-numbered group or, in t's group, a lower bit
            # is set: compare t's own bits against the ready table
            r = self._ready
            aw.wait = ((r.grp & (t.bity - 1)) or (r.tbl[t.y] & (t.bitx - 1))
                       or self._ticks_diff(self._ticks_ms(), self._next_due) >= 0)
        return aw

    def _block(self, t, ev, stat, timeout):
        # inline _PrioSet.remove/add: this runs at every blocking pend
        aw = t.aw
        if aw.wait:
            _not_awaited(t)
        y = t.y
        tbl = self._ready.tbl
        row = tbl[y] & ~t.bitx
        tbl[y] = row
        if not row:
            self._ready.grp &= ~t.bity
        t.stat |= stat
        t.err = OS_ERR_NONE
        t.msg = None
        if ev is not None:
            t.event = ev
            ev.tbl[y] |= t.bitx
            ev.grp |= t.bity
        if timeout > 0:
            self._arm(t, timeout)
        aw.wait = True
        return aw

    def _arm(self, t, ms):
        if ms > _MAX_SPAN:
            t.left = ms - _MAX_SPAN
            ms = _MAX_SPAN
        else:
            t.left = 0
        self._arm_at(t, self._ticks_add(self._ticks_ms(), ms))

    def _arm_at(self, t, due):
        t.deadline = due
        t.timed = True
        if self._ticks_diff(due, self._next_due) < 0:
            self._next_due = due
            self._kick()

    def _wake(self, t, err, msg):
        """End t's pend with `err`, handing it `msg`."""
        ev = t.event
        y = t.y
        if ev is not None:
            row = ev.tbl[y] & ~t.bitx
            ev.tbl[y] = row
            if not row:
                ev.grp &= ~t.bity
            t.event = None
        if t.io is not None:
            self._io_drop(t)
        t.err = err
        t.msg = msg
        t.timed = False
        st = t.stat & ~(_PEND_ANY | OS_STAT_DLY)
        t.stat = st
        if not st:
            r = self._ready
            r.tbl[y] |= t.bitx
            r.grp |= t.bity

    def _tick(self, now):
        diff = self._ticks_diff
        if self._stop_at is not None and diff(now, self._stop_at) >= 0:
            self._running = False
        if diff(now, self._tick_due) >= 0:
            self._stat_tick(now)
        due = self._tick_due
        if self._stop_at is not None and diff(self._stop_at, due) < 0:
            due = self._stop_at
        for t in self._tasks:
            if t.timed:
                if diff(now, t.deadline) >= 0:
                    if not t.left:
                        self._wake(t, OS_ERR_TIMEOUT if t.stat & _PEND_ANY else OS_ERR_NONE, None)
                        continue
                    span = t.left if t.left < _MAX_SPAN else _MAX_SPAN
                    t.left -= span
                    t.deadline = self._ticks_add(t.deadline, span)
                if diff(t.deadline, due) < 0:
                    due = t.deadline
        self._next_due = due

    def _idle(self, now):
        diff = self._ticks_diff
        if self._wdt is not None and diff(now, self._fed_at) >= self._feed_ms:
            self._supervise(now)
        hook = self.idle_hook
        if hook is not None:
            try:
                hook()
            except Exception as exc:  # noqa: BLE001
                self.faults += 1
                self.last_hook_fault = _format_exception(exc)
        timeout = diff(self._next_due, now)
        if timeout < 0:
            timeout = 0
        start = self._ticks_us()
        self._io_events(self._clock.wait_io(self._poll, timeout))
        self._idle_us += diff(self._ticks_us(), start)
        self._io_at = self._ticks_ms()

    def _stat_tick(self, now):
        # OS_TaskStat: CPU usage by idle counting, per-task shares, heap in use and its peak
        diff = self._ticks_diff
        period_ms = diff(now, self._stat_at)
        if period_ms > 0:
            idle = self._idle_us // 10 // period_ms        # idle share in percent
            self.cpu = 100 - idle if idle < 100 else 0
            ms = self._uptime_ms + period_ms
            self._uptime_s += ms // 1000
            self._uptime_ms = ms % 1000
        self._idle_ms_total += self._idle_us // 1000
        self._idle_us = 0
        now_us = self._ticks_us()
        for t in self._tasks:
            if t.runs:
                # the slices record ticks_us (one clock read per switch); keep the last run in
                # ms, which does not wrap within a period (ticks_us wraps in minutes)
                t.last_run = self._last_run_ms(t, now, now_us)
            us = t.run_us
            t.cpu = us // 10 // period_ms if period_ms > 0 else 0
            t.run_ms += us // 1000
            t.run_us = us % 1000
            t.runs_total += t.runs
            self._switches_total += t.runs
            t.runs = 0
        self._stat_at = now
        due = self._ticks_add(self._tick_due, self._tick_ms)
        if diff(now, due) >= 0:     # fell behind (a long slice): restart the cadence from now
            due = self._ticks_add(now, self._tick_ms)
        self._tick_due = due
        used = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
        self.heap_used = used
        if used > self.heap_peak:
            self.heap_peak = used

    def _last_run_ms(self, t, now, now_us):
        # ticks_ms of the end of t's last slice, from its ticks_us stamp (t ran this period)
        return self._ticks_add(now, -(self._ticks_diff(now_us, t.last_us) // 1000))

    def _supervise(self, now):
        # The idle hook's watchdog duty: feed only while every supervised task is on time.
        self._fed_at = now
        late = None
        for t in self._tasks:
            if t.checkin_ms and self._ticks_diff(now, t.checkin_at) > t.checkin_ms:
                t.late += 1
                late = t
        if late is None:
            self._wdt.feed()
            self.feeds += 1
            self.late_task = None
        else:
            self.feeds_withheld += 1
            self.late_task = late.name

    # --- tasks ----------------------------------------------------------------------------------
    def task_create(self, fn, prio, args=(), name=None, on_fault=ON_FAULT_RESTART, checkin_ms=0):
        """OSTaskCreate: run `fn(*args)` (an async def) at `prio`. Returns an error code.

        on_fault: ON_FAULT_RESTART (start fn again after restart_ms) or ON_FAULT_REMOVE.
        checkin_ms: > 0 makes the task supervised: it must call task_checkin() at least this
        often or the watchdog is no longer fed.
        """
        if not 0 <= prio <= OS_LOWEST_PRIO:
            return OS_ERR_PRIO_INVALID
        if self._tcb[prio] is not None:
            return OS_ERR_PRIO_EXIST
        t = Task(fn, args, prio, name or getattr(fn, "__name__", "task"), on_fault, checkin_ms,
                 self._ticks_ms())
        self._tcb[prio] = t
        self._tasks.append(t)
        self._tasks.sort(key=lambda task: task.base_prio)
        self._ready.add(prio)
        return OS_ERR_NONE

    def _task(self, prio):
        if prio == OS_PRIO_SELF:
            return self._cur
        return self._tcb[prio] if 0 <= prio <= OS_LOWEST_PRIO else None

    def task(self, prio=OS_PRIO_SELF):
        """The Task at `prio` (OS_PRIO_SELF: the running one), or None."""
        t = self._task(prio)
        return t if isinstance(t, Task) else None

    def task_checkin(self):
        """A supervised task proves it is alive (resets its check-in period)."""
        self._cur.checkin_at = self._ticks_ms()

    def _detach(self, t):
        """Take t out of every list and wait, releasing the mutexes it owns."""
        self._ready.remove(t.prio)
        ev = t.event
        if ev is not None:
            ev.remove(t.prio)
            t.event = None
        if t.io is not None:
            self._io_drop(t)
        t.timed = False
        t.left = 0
        while t.owned is not None:
            self._release(t.owned)
        if self._lock_owner is t:
            self._lock = 0
            self._lock_owner = None

    def _remove(self, t):
        if t.stat & OS_STAT_DEAD:
            return
        self._detach(t)
        t.stat = OS_STAT_DEAD
        self._tasks.remove(t)
        if not self._tasks:
            self._running = False
        self._kick()
        if t is self._cur:
            # A running coroutine cannot be closed: it is buried once it yields. It keeps its
            # priority until then, so whatever it still registers only touches its own bits.
            self._dead = t
        else:
            self._free(t)
            self._close(t)

    def _free(self, t):
        self._switches_total += t.runs
        t.runs = 0
        if self._tcb[t.base_prio] is t:
            self._tcb[t.base_prio] = None

    def _bury(self):
        t = self._dead
        self._dead = None
        self._detach(t)             # undo what it registered after it was deleted
        t.stat = OS_STAT_DEAD
        self._free(t)
        self._close(t)

    def _close(self, t):
        cur = self._cur
        self._cur = t               # its finally blocks may call services
        try:
            t.coro.close()
        except Exception as exc:  # noqa: BLE001
            t.last_fault = _format_exception(exc)
        self._cur = cur

    def _fault(self, t, exc):
        text = _format_exception(exc)
        t.faults += 1
        t.last_fault = text
        self.faults += 1
        hook = self.on_fault
        if hook is not None:
            try:
                hook(t, exc, text)
            except Exception as hook_exc:  # noqa: BLE001
                self.last_hook_fault = _format_exception(hook_exc)
        if t.on_fault != ON_FAULT_RESTART or t.stat & OS_STAT_DEAD:
            self._remove(t)
            return
        self._detach(t)
        if t.prio != t.base_prio:
            t.set_bits(t.base_prio)
        try:
            t.set_coro(t.fn(*t.args))
        except Exception as exc2:  # noqa: BLE001
            t.last_fault = _format_exception(exc2)
            self._remove(t)
            return
        t.restarts += 1
        t.release = None
        t.aw.wait = False
        t.stat = OS_STAT_DLY
        t.err = OS_ERR_NONE
        t.msg = None
        t.checkin_at = self._ticks_ms()
        self._arm(t, self._restart_ms)

    # --- scheduler lock and yield -----------------------------------------------------------------
    def msg(self):
        """The message the running task's last pend received (None after a timeout or abort)."""
        return self._cur.msg

    # --- time -----------------------------------------------------------------------------------
    def time_dly(self, ms):
        """await OSTimeDly (milliseconds): 0 returns at once without rescheduling."""
        t = self._cur
        if ms <= 0:
            return self._ret(t, OS_ERR_NONE)
        if self._lock:
            return self._ret(t, OS_ERR_PEND_LOCKED)
        return self._block(t, None, OS_STAT_DLY, ms)

    def time_get(self):
        """OSTimeGet: milliseconds since the kernel started, plus what time_set() added."""
        part = self._ticks_diff(self._ticks_ms(), self._stat_at) + self._uptime_ms
        return self._uptime_s * 1000 + part + self._time_offset

    # --- semaphores (the switch the kernel bench measures: kept here, constants inlined) --
    def sem_create(self, count=0):
        """OSSemCreate."""
        if not 0 <= count <= _SEM_MAX:
            raise KernelError(OS_ERR_SEM_OVF, "semaphore count %r outside 0..65535" % (count,))
        return Semaphore(count)

    def sem_pend(self, sem, timeout=0):
        """await OSSemPend: OS_ERR_NONE, OS_ERR_TIMEOUT, OS_ERR_PEND_ABORT, OS_ERR_EVENT_TYPE,
        OS_ERR_PEND_LOCKED. timeout in ms, 0 waits forever."""
        t = self._cur
        if sem.kind != _K_SEM:
            return self._ret(t, OS_ERR_EVENT_TYPE)
        if sem.count:
            sem.count -= 1
            return self._ret(t, OS_ERR_NONE)
        if self._lock:
            return self._ret(t, OS_ERR_PEND_LOCKED)
        # _block inlined: the ping-pong of two tasks through semaphores is the kernel's most
        # common switch (a driver's task and its user), so this path is kept short
        aw = t.aw
        if aw.wait:
            _not_awaited(t)
        y = t.y
        bitx = t.bitx
        ready = self._ready
        tbl = ready.tbl
        row = tbl[y] & ~bitx
        tbl[y] = row
        if not row:
            ready.grp &= ~t.bity
        t.stat |= OS_STAT_SEM
        t.event = sem
        sem.tbl[y] |= bitx
        sem.grp |= t.bity
        if timeout > 0:
            self._arm(t, timeout)
        aw.wait = True
        return aw

    def sem_accept(self, sem):
        """OSSemAccept: the count before taking one (0: nothing taken)."""
        count = sem.count
        if count:
            sem.count = count - 1
        return count

    def sem_post(self, sem):
        """OSSemPost: OS_ERR_NONE, OS_ERR_SEM_OVF, OS_ERR_EVENT_TYPE."""
        if sem.kind != _K_SEM:
            return OS_ERR_EVENT_TYPE
        g = sem.grp
        if g:
            # _wake inlined for a semaphore waiter (it waits on no stream): the highest waiter
            # leaves the wait list and, unless suspended too, joins the ready list
            y = _UNMAP[g]
            tbl = sem.tbl
            row = tbl[y]
            t = self._tcb[(y << 3) | _UNMAP[row]]
            bitx = t.bitx
            row &= ~bitx
            tbl[y] = row
            if not row:
                sem.grp = g & ~t.bity
            t.event = None
            t.err = OS_ERR_NONE
            t.msg = None
            t.timed = False
            st = t.stat & ~(_PEND_ANY | OS_STAT_DLY)
            t.stat = st
            if not st:
                ready = self._ready
                ready.tbl[y] |= bitx
                ready.grp |= t.bity
            return OS_ERR_NONE
        if sem.count >= _SEM_MAX:
            return OS_ERR_SEM_OVF
        sem.count += 1
        return OS_ERR_NONE

    # --- services in firmware/kernel_sync.py -----------------------------------------------------
    def __getattr__(self, name):
        # Mutexes, mailboxes, event flags, pend_abort, the task_* calls other than create and
        # checkin, the scheduler lock, the rarer queue and delay calls live in
        # firmware/kernel_sync.py (kernel_sync.METHODS): the firmware's own tasks never call
        # them, so their code stays out of a running board's heap until something (a test, a
        # future task) asks for one; they then become methods of the class.
        if name[:2] == "__":
            raise AttributeError(name)
        from firmware import kernel_sync
        if name not in kernel_sync.METHODS:
            raise AttributeError(name)
        kernel_sync.install(Kernel)
        return getattr(self, name)

    # --- message queues -------------------------------------------------------------------------
    def q_create(self, size):
        """OSQCreate: a queue of `size` messages, allocated once."""
        if size < 1:
            raise KernelError(OS_ERR_INVALID_OPT, "queue size must be at least 1, got %r" % (size,))
        return Queue(size)

    def q_pend(self, q, timeout=0):
        """await OSQPend; the message is kernel.msg(). OS_ERR_NONE, OS_ERR_TIMEOUT,
        OS_ERR_PEND_ABORT, OS_ERR_EVENT_TYPE, OS_ERR_PEND_LOCKED."""
        t = self._cur
        if q.kind != _K_Q:
            return self._ret(t, OS_ERR_EVENT_TYPE)
        if q.n:
            out = q.out
            t.msg = q.buf[out]
            q.buf[out] = None
            q.out = out + 1 if out + 1 < q.size else 0
            q.n -= 1
            return self._ret(t, OS_ERR_NONE)
        if self._lock:
            return self._ret(t, OS_ERR_PEND_LOCKED)
        return self._block(t, q, OS_STAT_Q, timeout)

    def q_accept(self, q):
        """OSQAccept: the oldest message, or None (OS_ERR_Q_EMPTY)."""
        if not q.n:
            return None
        out = q.out
        msg = q.buf[out]
        q.buf[out] = None
        q.out = out + 1 if out + 1 < q.size else 0
        q.n -= 1
        return msg

    def q_post(self, q, msg):
        """OSQPost (FIFO): OS_ERR_NONE, OS_ERR_Q_FULL, OS_ERR_POST_NULL_PTR, OS_ERR_EVENT_TYPE."""
        return self.q_post_opt(q, msg, OS_POST_OPT_NONE)

    def q_post_opt(self, q, msg, opt):
        """OSQPostOpt: OS_POST_OPT_FRONT and/or OS_POST_OPT_BROADCAST (every waiting task)."""
        if q.kind != _K_Q:
            return OS_ERR_EVENT_TYPE
        if msg is None:
            return OS_ERR_POST_NULL_PTR
        if q.grp:
            while q.grp:
                self._wake(self._tcb[q.highest()], OS_ERR_NONE, msg)
                if not opt & OS_POST_OPT_BROADCAST:
                    break
            return OS_ERR_NONE
        n = q.n
        if n >= q.size:
            return OS_ERR_Q_FULL
        if opt & OS_POST_OPT_FRONT:
            out = q.out - 1 if q.out else q.size - 1
            q.out = out
            q.buf[out] = msg
        else:
            i = q.out + n
            q.buf[i - q.size if i >= q.size else i] = msg
        n += 1
        q.n = n
        if n > q.peak:
            q.peak = n
        return OS_ERR_NONE

    # --- streams --------------------------------------------------------------------------------
    def io_wait(self, stream, mode, timeout=0):
        """await until `stream` is readable (OS_IO_READ) or writable (OS_IO_WRITE). One reader
        and one writer task per stream. OS_ERR_NONE (ready, or hung up: the read will tell),
        OS_ERR_TIMEOUT, OS_ERR_PEND_ABORT (io_forget), OS_ERR_TASK_WAITING (another task
        already waits that way), OS_ERR_INVALID_OPT, OS_ERR_PEND_LOCKED."""
        t = self._cur
        if mode != OS_IO_READ and mode != OS_IO_WRITE:
            return self._ret(t, OS_ERR_INVALID_OPT)
        if self._lock:
            return self._ret(t, OS_ERR_PEND_LOCKED)
        entry = self._io.get(stream)
        if entry is None:
            # the stream's one registration; kept (mask 0) between waits so a busy stream costs
            # a modify(), not an unregister/register pair
            entry = [stream, 0, None, None]
            self._io[stream] = entry
            self._poll.register(stream, 0)
        slot = 2 if mode == OS_IO_READ else 3
        if entry[slot] is not None:
            return self._ret(t, OS_ERR_TASK_WAITING)
        entry[slot] = t
        entry[1] |= mode
        self._poll.modify(stream, entry[1])
        self._io_waiting += 1
        self._kick()                # busy passes must now poll the stream
        t.io = entry
        t.io_slot = slot
        return self._block(t, None, OS_STAT_IO, timeout)

    def io_forget(self, stream):
        """Drop the stream's registration (call it before closing a stream); a waiting task
        gets OS_ERR_PEND_ABORT."""
        entry = self._io.get(stream)
        if entry is None:
            return
        for slot in (2, 3):
            if entry[slot] is not None:
                self._wake(entry[slot], OS_ERR_PEND_ABORT, None)
        del self._io[stream]
        try:
            self._poll.unregister(stream)
        except (OSError, KeyError, ValueError):
            pass

    def _io_drop(self, t):
        entry = t.io
        t.io = None
        entry[t.io_slot] = None
        entry[1] &= ~(OS_IO_READ if t.io_slot == 2 else OS_IO_WRITE)
        self._poll.modify(entry[0], entry[1])
        self._io_waiting -= 1

    def _io_events(self, events):
        hung = None
        for stream, ev in events:
            entry = self._io.get(stream)
            if entry is None:
                continue
            broken = ev & (_POLLHUP | _POLLERR | _POLLNVAL)
            t = entry[2]
            if t is not None and (ev & OS_IO_READ or broken):
                self._wake(t, OS_ERR_NONE, None)
            t = entry[3]
            if t is not None and (ev & OS_IO_WRITE or broken):
                self._wake(t, OS_ERR_NONE, None)
            if broken and not entry[1]:
                # poll reports a hang-up even with an empty mask: forget the stream or the
                # kernel would spin on it
                hung = [stream] if hung is None else hung + [stream]
        if hung is not None:
            for stream in hung:
                self.io_forget(stream)

    # --- statistics -----------------------------------------------------------------------------
    def stats(self):
        """Everything the status command shows, as plain dicts and lists (see kernel_stats)."""
        from firmware.kernel_stats import report
        return report(self)
