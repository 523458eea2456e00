"""The firmware kernel: cooperative priority scheduling with uC/OS-II's services and error codes.

Tasks are `async def` coroutines with unique priorities (0 highest). The scheduler always
resumes the highest-priority ready task, which runs until it awaits a kernel service. Every
service keeps uC/OS-II's semantics and numeric error codes (ucos_ii.h V2.93.01); docs/kernel.md
maps each uC/OS-II call to ours and lists every code a service returns.

How a pend returns without allocating: awaiting a service evaluates to its error code (a small
int); the message a pend received is `kernel.msg()` and the flags that readied a flag pend are
`kernel.flags_rdy()` (uC/OS-II's OSFlagPendGetFlagsRdy). Every service returns the kernel's one
pre-built awaitable, the ready list and every wait list are uC/OS-II's two-level priority
bitmaps, and timeouts are deadlines in the task records: the steady state allocates nothing
(tests/kernel/mp_test_heap_locked.py proves it under micropython.heap_lock()).

Where the time goes: the loop that resumes tasks, the semaphore services and the awaitable's
__next__ are marked @viper: for a board CPU the build compiles them to machine code with
MicroPython's viper emitter (host_tools/build.py), as uC/OS-II's context switch is port
assembly. They reach what they touch through two buffers, as uC/OS-II keeps OSRdyTbl and
OSTCBPrioTbl in arrays: the kernel block `_m` (bytes: the ready list, the running task, the
scheduler lock, OSUnMapTbl, priority -> task slot, and per slot its priority, error code, armed
await, timer flag and status) and `_w` (32-bit words: per slot the slice statistics, then the
scheduler's gate). A Task object reads those fields from there. Elsewhere (CPython, the source
run as it is, a CPU MicroPython has no native emitter for) the same functions run as Python
(protocol/compat.py), only slower.

The kernel sleeps in one select.poll wait (through the clock, firmware/hal/clock.py) until the
next deadline or stream event, measures CPU usage by counting idle time, and feeds the watchdog
from idle only while every supervised task has checked in on time.

The services the firmware's own tasks never call (mutexes, mailboxes, event flags, pend_abort,
task delete/suspend/resume/change priority/query, the scheduler lock, the rarer queue and
delay calls) are in firmware/kernel_optional.py: importing it makes them Kernel methods,
as uC/OS-II's OS_*_EN switches compile them in. The status figures are firmware/kernel_stats.py's.
"""
import gc
import sys
from array import array

from protocol.compat import const, ptr8, ptr32, viper

VERSION = const(101)

# --- uC/OS-II error codes (ucos_ii.h V2.93.01) ------------------------------------------------
# Those only the services in firmware/kernel_optional.py return (task delete/suspend/resume,
# time, mutex, mailbox and flag errors) and their options are defined there.
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
OS_ERR_TASK_NO_MORE_TCB = const(66)
OS_ERR_SEM_OVF = const(51)
OS_ERR_TASK_WAITING = const(73)
OS_ERR_PCP_LOWER = const(120)

# --- options ------------------------------------------------------------------------------------
OS_LOWEST_PRIO = const(63)          # the idle priority; tasks use 0..62
OS_MAX_TASKS = const(12)            # task slots (uC/OS-II's OS_MAX_TASKS; the firmware runs 3-7)
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
_PEND_OR_DLY = const(0x177)
_PEND_EVENT = const(0x37)           # pends on a kernel object: SEM | MBOX | Q | MUTEX | FLAG

_POLLERR = const(8)
_POLLHUP = const(16)
_POLLNVAL = const(32)               # a closed descriptor (unix): must not make the kernel spin
_SEM_MAX = const(65535)             # OS_EVENT.OSEventCnt is an INT16U
_MAX_SPAN = const(1 << 28)          # longest single timer arm; ticks_diff is valid to 2**29

# --- an event's bytes (OS_EVENT): OSEventTbl[8], OSEventGrp, its kind, a semaphore's count
_GRP = const(8)
_KIND = const(9)
_COUNT_LO = const(10)
_COUNT_HI = const(11)
_K_SEM = const(1)
_K_Q = const(4)

# --- the kernel block `_m` (bytes); it starts with the ready list (OSRdyTbl, OSRdyGrp) ------
_CUR = const(10)                    # slot of the running task (_NO_SLOT: none)
_LOCK = const(11)                   # OSLockNesting
_UNMAP = const(16)                  # OSUnMapTbl for a nibble: its lowest set bit, 16 bytes
_P2S = const(32)                    # priority -> slot (OSTCBPrioTbl), 64 bytes
_PRIO = const(96)                   # per slot (OS_MAX_TASKS bytes each): its current priority
_ERR = const(_PRIO + OS_MAX_TASKS)  # the error code its await evaluates to
_WAIT = const(_ERR + OS_MAX_TASKS)  # 1 while its await is armed to yield once
_TIMED = const(_WAIT + OS_MAX_TASKS)            # 1 while a deadline is armed
_STAT_LO = const(_TIMED + OS_MAX_TASKS)         # OSTCBStat, low byte (the pend bits)...
_STAT_HI = const(_STAT_LO + OS_MAX_TASKS)       # ...and high byte (OS_STAT_DLY, OS_STAT_DEAD)
_M_SIZE = const(_STAT_HI + OS_MAX_TASKS)
_NO_SLOT = const(255)
# --- the kernel words `_w` (array('I')): per slot, then the scheduler's own -------------------
_RUNS = const(0)                    # slices this statistics period
_RUN_US = const(OS_MAX_TASKS)       # their microseconds
_LAST_US = const(2 * OS_MAX_TASKS)  # when its last slice ended (masked ticks_us)
_MAX_US = const(3 * OS_MAX_TASKS)   # its longest slice
_GATE = const(4 * OS_MAX_TASKS)     # masked ticks_us before which no slow pass is due
_START = const(_GATE + 1)           # when the running slice began
_W_SIZE = const(_START + 1)


def _unmap_table(m):
    # OSUnMapTbl, into the kernel block: the lowest set bit (the highest priority in a group),
    # kept for a nibble (16 bytes, not uC/OS-II's 256): a byte's is its low nibble's, or 4 +
    # its high nibble's when the low one is 0
    for i in range(1, 16):
        b = 0
        while not (i >> b) & 1:
            b += 1
        m[_UNMAP + i] = b


def _lowest(m, byte):
    # OSUnMapTbl[byte] from the nibble table (the viper functions write the same out inline)
    low = byte & 15
    return m[_UNMAP + low] if low else 4 + m[_UNMAP + (byte >> 4)]


_BOUND = ("sem_pend", "sem_post", "q_pend", "q_post", "time_dly", "io_wait")
_RESERVED = "reserved"              # OS_TCB_RESERVED: a mutex ceiling or the idle priority
# How an await evaluates to an error code: a shared StopIteration per code, the one for
# OS_ERR_NONE ready (the end of nearly every await), the others built at their first use
_STOP_NONE = StopIteration(OS_ERR_NONE)
_STOPS = {}
_GATE_MAX_US = const(100000000)     # the scheduler's gate is at most 100 s ahead...
_US_WRAP = const(1 << 30)           # slice stamps are kept modulo this (or the clock's period)


def _stop(err):
    stop = _STOPS.get(err)
    if stop is None:
        stop = _STOPS[err] = StopIteration(err)
    return stop


class KernelError(Exception):
    """A kernel object could not be created (uC/OS-II returns a NULL pointer); `.err` is the code."""

    def __init__(self, err, message):
        super().__init__("%s (uC/OS-II error %d)" % (message, err))
        self.err = err


# A set of priorities is uC/OS-II's OSEventTbl/OSEventGrp pair: bytes 0..7 and 8 of a buffer,
# with O(1) add, remove and highest (Kernel._waiter). The ready list is the head of the kernel
# block; every kernel object a task pends on starts with its wait list, then its kind (byte 9):
# one buffer, so the viper services reach all three through one pointer.
def _add(bits, prio):
    y = prio >> 3
    bits[y] |= 1 << (prio & 7)
    bits[_GRP] |= 1 << y


def _remove(bits, prio):
    y = prio >> 3
    row = bits[y] & ~(1 << (prio & 7))
    bits[y] = row
    if not row:
        bits[_GRP] &= ~(1 << y)


def _prios(bits):
    return [p for p in range(64) if bits[p >> 3] & (1 << (p & 7))]


def _sem_count(sem):
    return sem[_COUNT_LO] | sem[_COUNT_HI] << 8


class _EventBlock(bytearray):
    """An event control block (uC/OS-II's OS_EVENT) with fields of its own (queue, mailbox,
    mutex, flag group): its wait list (bytes 0..8) and kind (byte 9) are its bytes, as a
    semaphore's are (sem_create)."""

    def __init__(self, kind):
        super().__init__(10)
        self[_KIND] = kind


class Queue(_EventBlock):
    def __init__(self, size):
        super().__init__(_K_Q)
        self.buf = [None] * size    # a ring: the queue never allocates after creation
        self.size = size
        self.out = 0
        self.n = 0
        self.peak = 0


class _Await:
    """The kernel's one awaitable. A service arms it for the running task (_WAIT): armed, the
    await yields to the scheduler once; when the task resumes, it evaluates to the task's
    error code. Both are read for the task the scheduler is resuming (_CUR)."""

    def __init__(self, m):
        self.m = m
        # None and the OS_ERR_NONE stop as attributes: viper code takes a None literal for a
        # null pointer when it stores one into an attribute, and tests "is None" natively
        self.none = None
        self.stop_none = _STOP_NONE

    def __iter__(self):
        return self

    __await__ = __iter__            # CPython's await protocol; MicroPython uses __iter__

    @viper
    def __next__(self):
        m = ptr8(self.m)
        slot = m[_CUR]
        if slot == _NO_SLOT:        # viper indexes without bounds checks: refuse, do not guess
            _outside_a_task()
        if m[_WAIT + slot]:
            m[_WAIT + slot] = 0
            return None
        err = m[_ERR + slot]
        stop = _stop(err) if err else self.stop_none
        stop.__traceback__ = self.none  # keeps the shared exception's traceback from growing
        raise stop


def _slot_field(base):
    # a Task attribute kept in the kernel block, per slot
    def get(t):
        return t.k._m[base + t.slot]

    def put(t, value):
        t.k._m[base + t.slot] = value
    return property(get, put)


class Task:
    """A task control block (OS_TCB). Read its fields; change it only through the kernel.

    The fields the scheduler and the semaphore services touch at every switch live in the
    kernel's buffers at the task's slot: its status, error code, armed await and timer flag
    (properties below) and its slice statistics (Kernel.slices); the rest are attributes."""

    def __init__(self, k, slot, fn, args, prio, name, on_fault, checkin_ms, now):
        self.k = k
        self.slot = slot
        self.fn = fn
        self.args = args
        self.base_prio = prio
        self.set_prio(prio)         # prio: effective (raised while it owns a contended mutex)
        self.name = name
        self.on_fault = on_fault
        self.checkin_ms = checkin_ms
        self.checkin_at = now
        self.set_coro(fn(*args))
        for base in (_ERR, _WAIT, _TIMED, _STAT_LO, _STAT_HI):
            k._m[base + slot] = 0
        for base in (_RUNS, _RUN_US, _LAST_US, _MAX_US):
            k._w[base + slot] = 0
        k._events[slot] = None
        self.msg = None             # what its last queue or mailbox pend received
        self.deadline = 0
        self.left = 0               # what remains of a timeout longer than _MAX_SPAN
        self.io = None
        self.io_slot = 0
        self.owned = None
        self.runs_total = 0         # runs of past periods; this period's are in _w
        self.run_ms = 0
        self.last_run = None        # ticks_ms of its last slice, as of the last statistics tick
        self.cpu = 0

    # Defaults until a task needs its own value: most tasks never fault, run late, run
    # periodically or pend on flags, and a smaller attribute table is a smaller TCB.
    faults = 0
    last_fault = None
    restarts = 0
    late = 0
    release = None                  # time_dly_periodic's last release
    overruns = 0
    flags_rdy = 0                   # the flags that readied its last flag pend (kernel_optional)

    err = _slot_field(_ERR)
    wait = _slot_field(_WAIT)       # its await is armed (a service it called blocks or yields)
    timed = _slot_field(_TIMED)

    @property
    def stat(self):
        m = self.k._m
        return m[_STAT_LO + self.slot] | m[_STAT_HI + self.slot] << 8

    @stat.setter
    def stat(self, stat):
        m = self.k._m
        m[_STAT_LO + self.slot] = stat & 0xFF
        m[_STAT_HI + self.slot] = stat >> 8

    @property
    def event(self):
        # what its pend waits on; sem_post leaves the entry behind, the status bit tells
        return self.k._events[self.slot] if self.stat & _PEND_EVENT else None

    @event.setter
    def event(self, ev):
        self.k._events[self.slot] = ev

    def set_prio(self, prio):
        # its effective priority, also in the kernel block, and OSTCBPrioTbl[prio] as the viper
        # services read it (priority -> slot)
        self.prio = prio
        m = self.k._m
        m[_PRIO + self.slot] = prio
        m[_P2S + prio] = self.slot

    def set_coro(self, coro):
        if not hasattr(coro, "send"):
            raise TypeError("a task must be an async def function, got %r" % (coro,))
        self.coro = coro
        self.k._sends[self.slot] = coro.send    # bound once: the scheduler calls it at every switch


def _outside_a_task():
    raise RuntimeError("kernel services are called and awaited from the kernel's tasks")


def _not_awaited(t):
    # The task called a service that blocks (or yields) and went on without awaiting it: it
    # is registered as waiting while it runs. Fail it loudly; the fault handling cleans up.
    t.wait = 0
    raise RuntimeError("task %s called a kernel service without awaiting the previous one"
                       % t.name)


_NOT_FORMATTED = "(no heap left to format the traceback)"


def _format_exception(exc):
    try:
        import io
        buf = io.StringIO()
        sys.print_exception(exc, buf)  # pyright: ignore[reportArgumentType] - the stubs' io.StringIO is no stream
        return buf.getvalue()  # pyright: ignore[reportAttributeAccessIssue] - the stubs' io.StringIO lacks getvalue
    except AttributeError:          # CPython
        import traceback
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except MemoryError:
        # The text needs the heap that a task's MemoryError has just found exhausted. Raised
        # here, inside the fault handling, it would leave run() and stop the whole board.
        return _NOT_FORMATTED


class Kernel:
    """The scheduler and every service. One instance runs the board (`run()` is OSStart)."""

    # Defaults until first set (a task deleted, run(duration), time_set, sched_lock, a fault):
    # a running board writes none of them, and a smaller attribute table is less heap.
    _dead = None
    _stop_at = None
    _lock_owner = None
    _time_offset = 0
    faults = 0

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
        self._tcb[OS_LOWEST_PRIO] = _RESERVED  # pyright: ignore[reportArgumentType, reportCallIssue] - a table of Tasks, empty at first
        self._tasks = []            # existing tasks by priority, for the periodic walks
        m = self._m = bytearray(_M_SIZE)    # the kernel block, the ready list at its head
        _unmap_table(m)
        m[_CUR] = _NO_SLOT
        self._w = array("I", bytes(4 * _W_SIZE))
        self._slots = [None] * OS_MAX_TASKS     # slot -> Task (OSTCBTbl)
        self._events = [None] * OS_MAX_TASKS    # slot -> the kernel object it pends on
        self._sends = [None] * OS_MAX_TASKS     # slot -> its coroutine's send
        self._aw = _Await(m)
        # The services tasks call in their loops, bound in the instance: MicroPython checks a
        # method found on a class with properties (this one has) or __getattr__ for a __get__, and
        # that check cost more than a whole semaphore post.
        for name in _BOUND:
            setattr(self, name, getattr(self, name))
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
        period = getattr(clock, "ticks_period", 1 << 30)
        # slice stamps in _w are ticks_us modulo this power of two: a 32-bit word on any
        # board, and differences valid up to half of it (9 minutes), whatever the clock's period
        self._us_mask = min(period, _US_WRAP) - 1
        # the scheduler's gate is at most a quarter of that ahead, so the compare orders it
        self._gate_max_us = min(_GATE_MAX_US, (self._us_mask + 1) >> 2)
        self._running = False
        self._idle_us = 0
        self._idle_ms_total = 0
        self._uptime_s = 0
        self._uptime_ms = 0
        self._switches_total = 0    # switches of past periods; this period's are in task.runs
        self.cpu = 0
        self.heap_used = 0
        self.heap_peak = 0
        self.feeds = 0
        self.feeds_withheld = 0
        self.late_task = None
        # Hooks the application sets: idle_hook() (OSTaskIdleHook) runs before every idle sleep;
        # on_fault(task, exc, traceback_text) runs when a task raises (the ERC21 event).
        self.idle_hook = None
        self.on_fault = None

    # --- the running task and the scheduler lock, kept in the kernel block --------------------
    @property
    def _cur(self):
        slot = self._m[_CUR]
        return None if slot == _NO_SLOT else self._slots[slot]

    @_cur.setter
    def _cur(self, t):
        self._m[_CUR] = _NO_SLOT if t is None else t.slot

    @property
    def _lock(self):
        return self._m[_LOCK]

    @_lock.setter
    def _lock(self, nesting):
        self._m[_LOCK] = nesting

    def _us(self):
        # ticks_us as the slice statistics and the gate keep it (modulo _us_mask + 1)
        return self._ticks_us() & self._us_mask  # pyright: ignore[reportOperatorIssue] - ticks are small ints on MicroPython; the stubs make them opaque

    # --- scheduling -----------------------------------------------------------------------------
    def run(self, duration_ms=None):
        """Run the tasks (OSStart). Returns after `duration_ms` if given, when `stop()` is
        called, or when no task is left."""
        if duration_ms is not None and not 0 <= duration_ms <= _MAX_SPAN:
            raise ValueError("run() lasts 0..%d ms, not %r" % (_MAX_SPAN, duration_ms))
        # The hot loop is _slices: it resumes the highest ready task as long as the gate lets
        # it, the microsecond before which nothing but picking the highest ready task can be
        # due (no deadline, statistics tick, stream poll, stop or dead task). Whatever moves one
        # of those earlier pulls the gate to now (_kick); the slow pass (_pass) then does the
        # work and sets the gate again.
        m = self._m
        self._running = bool(self._tasks)
        if duration_ms is not None:
            self._stop_at = self._ticks_add(self._ticks_ms(), duration_ms)
            if self._ticks_diff(self._stop_at, self._next_due) < 0:
                self._next_due = self._stop_at
        start = self._us()
        self._w[_GATE] = start
        while self._running:
            # the slow pass, then at least one task, then as many as the gate lets through
            start = self._pass(start)
            if not m[_GRP] or not self._running:
                continue
            try:
                start = self._slices(start)
            except StopIteration:
                t = self._cur
                start = self._end_slice(t)
                self._remove(t)
            except Exception as exc:  # noqa: BLE001 - a task's error never stops the kernel
                t = self._cur
                start = self._end_slice(t)
                self._fault(t, exc)
        if self._dead is not None:
            self._bury()
        self._cur = None
        self._stop_at = None
        self._running = False

    @viper
    def _slices(self, start: int) -> int:
        # OSSched + OSCtxSw: resume the highest ready task; account its slice (it includes this
        # pass of the scheduler: the end of a slice is the start of the next, one clock read
        # per switch); go on while tasks are ready and the gate is ahead. A task that returns
        # or raises leaves through the exception, its slot in _CUR and its start in _START.
        m = ptr8(self._m)
        w = ptr32(self._w)
        sends = self._sends
        ticks_us = self._ticks_us
        mask = int(self._us_mask)
        half = (mask + 1) >> 1
        while True:
            g = m[_GRP]
            y = m[_UNMAP + (g & 15)] if g & 15 else 4 + m[_UNMAP + (g >> 4)]
            row = m[y]
            x = m[_UNMAP + (row & 15)] if row & 15 else 4 + m[_UNMAP + (row >> 4)]
            slot = m[_P2S + ((y << 3) | x)]
            m[_CUR] = slot
            w[_START] = start
            sends[slot](None)  # pyright: ignore[reportOptionalCall] - the slot of a ready task holds its send
            end = int(ticks_us()) & mask  # pyright: ignore[reportArgumentType] - ticks are small ints on MicroPython; the stubs make them opaque
            spent = (end - start) & mask
            start = end
            w[_RUNS + slot] += 1
            w[_RUN_US + slot] += spent
            w[_LAST_US + slot] = end
            if spent > int(w[_MAX_US + slot]):
                w[_MAX_US + slot] = spent
            if not m[_GRP] or ((end - int(w[_GATE])) & mask) < half:
                return start

    def _end_slice(self, t):
        # the statistics of a slice that ended in an exception (the task returned or raised)
        w = self._w
        end = self._us()
        spent = (end - w[_START]) & self._us_mask
        w[_RUNS + t.slot] += 1
        w[_RUN_US + t.slot] += spent
        w[_LAST_US + t.slot] = end
        if spent > w[_MAX_US + t.slot]:
            w[_MAX_US + t.slot] = spent
        return end

    def slices(self, t):
        """(slices, their microseconds, the longest, when the last ended (masked ticks_us))
        of task t in this statistics period; the longest is since the task began."""
        w = self._w
        s = t.slot
        return w[_RUNS + s], w[_RUN_US + s], w[_MAX_US + s], w[_LAST_US + s]

    def _kick(self):
        # something is due before the gate: the next scheduling pass takes the slow path
        self._w[_GATE] = self._us()

    def _pass(self, start):
        """The scheduler's slow pass: bury, timers and statistics tick, stream poll, idle
        sleep; then the next gate. Returns the start of the next slice."""
        if self._dead is not None:
            self._bury()
        diff = self._ticks_diff
        us = self._us()             # read before the ms: the gate can only come early
        now = self._ticks_ms()
        if diff(now, self._next_due) >= 0:
            self._tick(now)
            if not self._running:
                return start
        if self._io_waiting and now != self._io_at:
            # busy: look at the streams at most once per millisecond, without blocking
            self._io_at = now
            self._io_events(self._poll.ipoll(0))
        if not self._m[_GRP]:
            self._idle(now)
            start = self._us()
            self._w[_GATE] = start  # time passed: the next pass looks at the timers again
            return start
        # ms ticks and us ticks advance together, but this ms began up to 1 ms ago: the gate
        # may open up to 1 ms early (a slow pass with nothing to do), never late
        wait = diff(self._next_due, now) - 1
        if self._io_waiting and wait > 1:
            wait = 1
        if wait <= 0:
            self._w[_GATE] = us
        else:
            wait *= 1000
            self._w[_GATE] = (us + (wait if wait < self._gate_max_us
                                    else self._gate_max_us)) & self._us_mask
        return start

    def stop(self):
        """Make run() return at the next scheduling point."""
        self._running = False
        self._kick()

    def _ret(self, t, err):
        # A service completed without blocking. The await still yields if a higher-priority
        # task became ready or a timer fell due: preemption at await points.
        m = self._m
        armed = _WAIT + t.slot
        if m[armed]:
            _not_awaited(t)
        m[_ERR + t.slot] = err
        if t.stat:
            m[armed] = 1
        elif m[_LOCK]:
            m[armed] = 0
        else:
            # a higher task is ready iff a lower-numbered group or, in t's group, a lower bit
            # is set: compare t's own bits (uC/OS-II's OSTCBBitY, OSTCBBitX) with the ready list
            y = t.prio >> 3
            m[armed] = 1 if ((m[_GRP] & ((1 << y) - 1)) or (m[y] & ((1 << (t.prio & 7)) - 1))
                             or self._ticks_diff(self._ticks_ms(), self._next_due) >= 0) else 0
        return self._aw

    def _block(self, t, ev, stat, timeout):
        m = self._m
        if m[_WAIT + t.slot]:
            _not_awaited(t)
        _remove(m, t.prio)
        t.stat |= stat
        m[_ERR + t.slot] = OS_ERR_NONE
        t.msg = None
        if ev is not None:
            t.event = ev
            _add(ev, t.prio)
        if timeout > 0:
            self._arm(t, timeout)
        m[_WAIT + t.slot] = 1
        return self._aw

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

    def _waiter(self, ev):
        """The highest-priority task waiting on `ev` (it has one)."""
        m = self._m
        y = _lowest(m, ev[_GRP])
        return self._tcb[(y << 3) | _lowest(m, ev[y])]

    def _wake(self, t, err, msg):
        """End t's pend with `err`, handing it `msg`."""
        ev = t.event
        if ev is not None:
            _remove(ev, t.prio)
            t.event = None
        if t.io is not None:
            self._io_drop(t)
        t.err = err
        t.msg = msg
        t.timed = 0
        st = t.stat & ~_PEND_OR_DLY
        t.stat = st
        if not st:
            _add(self._m, t.prio)

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
        now_us = self._us()
        w = self._w
        for t in self._tasks:
            s = t.slot
            runs = w[_RUNS + s]
            if runs:
                # the slices record ticks_us (one clock read per switch); keep the last run in
                # ms, which does not wrap within a period (ticks_us wraps in minutes)
                t.last_run = self._last_run_ms(t, now, now_us)
            us = w[_RUN_US + s]
            t.cpu = us // 10 // period_ms if period_ms > 0 else 0
            t.run_ms += us // 1000
            w[_RUN_US + s] = us % 1000
            t.runs_total += runs
            self._switches_total += runs
            w[_RUNS + s] = 0
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
        # ticks_ms of the end of t's last slice, from its masked ticks_us stamp (t ran this
        # period; now_us is masked too)
        ago = (now_us - self._w[_LAST_US + t.slot]) & self._us_mask
        return self._ticks_add(now, -(ago // 1000))

    def _supervise(self, now):
        # The idle hook's watchdog duty: feed only while every supervised task is on time.
        self._fed_at = now
        late = None
        for t in self._tasks:
            if t.checkin_ms and self._ticks_diff(now, t.checkin_at) > t.checkin_ms:
                t.late += 1
                late = t
        if late is None:
            self._wdt.feed()  # pyright: ignore[reportOptionalMemberAccess] - only called on a kernel with a watchdog
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
        if None not in self._slots:
            return OS_ERR_TASK_NO_MORE_TCB
        slot = self._slots.index(None)
        t = Task(self, slot, fn, args, prio, name or getattr(fn, "__name__", "task"), on_fault,
                 checkin_ms, self._ticks_ms())
        self._slots[slot] = t  # pyright: ignore[reportArgumentType, reportCallIssue] - a table of Tasks, empty at first
        self._tcb[prio] = t  # pyright: ignore[reportArgumentType, reportCallIssue] - a table of Tasks, empty at first
        self._tasks.append(t)
        self._tasks.sort(key=lambda task: task.base_prio)
        _add(self._m, prio)
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
        self._cur.checkin_at = self._ticks_ms()  # pyright: ignore[reportAttributeAccessIssue] - a task is running (or being buried) here

    def _detach(self, t):
        """Take t out of every list and wait, releasing the mutexes it owns."""
        _remove(self._m, t.prio)
        ev = t.event
        if ev is not None:
            _remove(ev, t.prio)
            t.event = None
        if t.io is not None:
            self._io_drop(t)
        t.timed = False
        t.left = 0
        while t.owned is not None:
            self._release(t.owned)  # pyright: ignore[reportAttributeAccessIssue] - a task owns a mutex only once kernel_optional added _release
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
        self._switches_total += self._w[_RUNS + t.slot]
        self._w[_RUNS + t.slot] = 0
        if self._tcb[t.base_prio] is t:
            self._tcb[t.base_prio] = None

    def _bury(self):
        t = self._dead
        self._dead = None
        self._detach(t)             # undo what it registered after it was deleted
        t.stat = OS_STAT_DEAD  # pyright: ignore[reportOptionalMemberAccess] - a task is running (or being buried) here
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
        # the slot is free for the next task; the references go, so the garbage can
        slot = t.slot
        self._slots[slot] = self._sends[slot] = self._events[slot] = None

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
            t.set_prio(t.base_prio)
        try:
            t.set_coro(t.fn(*t.args))
        except Exception as exc2:  # noqa: BLE001
            t.last_fault = _format_exception(exc2)
            self._remove(t)
            return
        t.restarts += 1
        t.release = None
        t.wait = 0
        t.stat = OS_STAT_DLY
        t.err = OS_ERR_NONE
        t.msg = None
        t.checkin_at = self._ticks_ms()
        self._arm(t, self._restart_ms)

    # --- scheduler lock and yield -----------------------------------------------------------------
    def msg(self):
        """The message the running task's last pend received (None after a timeout or abort)."""
        return self._cur.msg  # pyright: ignore[reportAttributeAccessIssue] - a task is running (or being buried) here

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
        # OS_EVENT: the wait list, the kind and the 16-bit count, in 12 bytes
        sem = bytearray(12)
        sem[_KIND] = _K_SEM
        sem[_COUNT_LO] = count & 0xFF
        sem[_COUNT_HI] = count >> 8
        return sem

    @viper
    def sem_pend(self, sem, timeout: int):
        """await OSSemPend: OS_ERR_NONE, OS_ERR_TIMEOUT, OS_ERR_PEND_ABORT, OS_ERR_EVENT_TYPE,
        OS_ERR_PEND_LOCKED. timeout in ms, 0 waits forever (required, as in uC/OS-II: a
        viper function takes no default arguments)."""
        s = ptr8(sem)
        if s[_KIND] != _K_SEM:
            return self._ret(self._cur, OS_ERR_EVENT_TYPE)
        count = s[_COUNT_LO] | (s[_COUNT_HI] << 8)
        if count:
            count -= 1
            s[_COUNT_LO] = count & 0xFF
            s[_COUNT_HI] = count >> 8
            return self._ret(self._cur, OS_ERR_NONE)
        m = ptr8(self._m)
        if m[_LOCK]:
            return self._ret(self._cur, OS_ERR_PEND_LOCKED)
        # the blocking path, _block for a semaphore: the ping-pong of two tasks through
        # semaphores is the kernel's most common switch (a driver's task and its user)
        slot = m[_CUR]
        if slot == _NO_SLOT:
            _outside_a_task()
        if m[_WAIT + slot]:
            _not_awaited(self._cur)
        prio = m[_PRIO + slot]
        y = prio >> 3
        bitx = 1 << (prio & 7)
        row = m[y] & (0xFF ^ bitx)
        m[y] = row
        if not row:
            m[_GRP] &= 0xFF ^ (1 << y)
        m[_STAT_LO + slot] |= OS_STAT_SEM
        m[_ERR + slot] = OS_ERR_NONE
        self._events[slot] = sem
        s[y] |= bitx
        s[_GRP] |= 1 << y
        if timeout > 0:
            self._arm(self._cur, timeout)
        m[_WAIT + slot] = 1
        return self._aw

    def sem_accept(self, sem):
        """OSSemAccept: the count before taking one (0: nothing taken)."""
        count = _sem_count(sem)
        if count:
            sem[_COUNT_LO] = (count - 1) & 0xFF
            sem[_COUNT_HI] = (count - 1) >> 8
        return count

    @viper
    def sem_post(self, sem) -> int:
        """OSSemPost: OS_ERR_NONE, OS_ERR_SEM_OVF, OS_ERR_EVENT_TYPE."""
        s = ptr8(sem)
        if s[_KIND] != _K_SEM:
            return OS_ERR_EVENT_TYPE
        g = s[_GRP]
        if g:
            # _wake for a semaphore waiter (it waits on no stream): the highest waiter leaves
            # the wait list and, unless suspended too, joins the ready list
            m = ptr8(self._m)
            y = m[_UNMAP + (g & 15)] if g & 15 else 4 + m[_UNMAP + (g >> 4)]
            row = s[y]
            x = m[_UNMAP + (row & 15)] if row & 15 else 4 + m[_UNMAP + (row >> 4)]
            row &= 0xFF ^ (1 << x)
            s[y] = row
            if not row:
                s[_GRP] = g & (0xFF ^ (1 << y))
            slot = m[_P2S + ((y << 3) | x)]
            m[_ERR + slot] = OS_ERR_NONE
            m[_TIMED + slot] = 0
            # its event entry stays behind (Task.event reads the status); msg() is a queue's
            # or a mailbox's
            lo = m[_STAT_LO + slot] & (0xFF ^ _PEND_ANY)
            hi = m[_STAT_HI + slot] & (0xFF ^ (OS_STAT_DLY >> 8))
            m[_STAT_LO + slot] = lo
            m[_STAT_HI + slot] = hi
            if not (lo | hi):
                m[y] |= 1 << x
                m[_GRP] |= 1 << y
            return OS_ERR_NONE
        count = s[_COUNT_LO] | (s[_COUNT_HI] << 8)
        if count >= _SEM_MAX:
            return OS_ERR_SEM_OVF
        count += 1
        s[_COUNT_LO] = count & 0xFF
        s[_COUNT_HI] = count >> 8
        return OS_ERR_NONE

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
        if q[_KIND] != _K_Q:
            return self._ret(t, OS_ERR_EVENT_TYPE)
        if q.n:
            out = q.out
            t.msg = q.buf[out]  # pyright: ignore[reportAttributeAccessIssue] - a task is running (or being buried) here
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
        if q[_KIND] != _K_Q:
            return OS_ERR_EVENT_TYPE
        if msg is None:
            return OS_ERR_POST_NULL_PTR
        if q[_GRP]:
            while q[_GRP]:
                self._wake(self._waiter(q), OS_ERR_NONE, msg)
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
        t.io = entry  # pyright: ignore[reportAttributeAccessIssue] - a task is running (or being buried) here
        t.io_slot = slot  # pyright: ignore[reportAttributeAccessIssue] - a task is running (or being buried) here
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

