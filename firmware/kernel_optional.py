"""The kernel's optional services, the ones the firmware itself does not use: mutexes, mailboxes,
event flags, pend_abort, task delete / suspend / resume / change priority / query, the scheduler
lock, time_set, the queue's rarer calls and the HMSM / periodic / resume delays.

Kept apart from firmware/kernel.py so their code is not in the heap of a running board (about
7 KB on a 64-bit build): the firmware's tasks only delay, wait on streams and use one queue.
Importing this module installs these functions as Kernel methods, so `kernel.mutex_pend(...)`
works as if they were defined in the class (`import firmware.kernel_optional` where they are
used, as uC/OS-II's OS_*_EN switches compile them in); semantics and error codes are those
documented in firmware/kernel.py and docs/kernel.md.
"""
from protocol.compat import const

from firmware.kernel import (OS_ERR_EVENT_TYPE, OS_ERR_NONE, OS_ERR_PCP_LOWER, OS_ERR_PEND_ABORT,
    OS_ERR_PEND_LOCKED, OS_ERR_POST_NULL_PTR, OS_ERR_PRIO_EXIST, OS_ERR_PRIO_INVALID,
    OS_ERR_TASK_WAITING, OS_ERR_TIMEOUT, OS_LOWEST_PRIO, OS_POST_OPT_BROADCAST, OS_POST_OPT_FRONT,
    OS_POST_OPT_NONE, OS_PRIO_SELF, OS_STAT_DLY, OS_STAT_FLAG, OS_STAT_MBOX, OS_STAT_MUTEX,
    OS_STAT_SUSPEND, Kernel, KernelError, _EventBlock, _RESERVED, _add, _not_awaited, _prios,
    _remove, _sem_count)

# The uC/OS-II error codes and options (ucos_ii.h V2.93.01) that only these services return or
# take.
OS_ERR_MBOX_FULL = const(20)
OS_ERR_PRIO = const(41)
OS_ERR_SCHED_LOCKED = const(50)
OS_ERR_TASK_DEL = const(61)
OS_ERR_TASK_DEL_IDLE = const(62)
OS_ERR_TASK_NOT_EXIST = const(67)
OS_ERR_TASK_NOT_SUSPENDED = const(68)
OS_ERR_TASK_RESUME_PRIO = const(70)
OS_ERR_TASK_SUSPEND_IDLE = const(71)
OS_ERR_TASK_SUSPEND_PRIO = const(72)
OS_ERR_TIME_NOT_DLY = const(80)
OS_ERR_TIME_INVALID_MINUTES = const(81)
OS_ERR_TIME_INVALID_SECONDS = const(82)
OS_ERR_TIME_INVALID_MS = const(83)
OS_ERR_TIME_ZERO_DLY = const(84)
OS_ERR_NOT_MUTEX_OWNER = const(100)
OS_ERR_FLAG_WAIT_TYPE = const(111)
OS_ERR_FLAG_NOT_RDY = const(112)
OS_ERR_FLAG_INVALID_OPT = const(113)
OS_PRIO_MUTEX_CEIL_DIS = const(0xFF)
OS_PEND_OPT_NONE = const(0)
OS_PEND_OPT_BROADCAST = const(1)
OS_FLAG_WAIT_CLR_ALL = const(0)
OS_FLAG_WAIT_CLR_ANY = const(1)
OS_FLAG_WAIT_SET_ALL = const(2)
OS_FLAG_WAIT_SET_ANY = const(3)
OS_FLAG_CONSUME = const(0x80)
OS_FLAG_CLR = const(0)
OS_FLAG_SET = const(1)

# the kernel's private constants (const names starting with _ are not module attributes)
_PEND_ANY = const(0x77)             # SEM | MBOX | Q | MUTEX | FLAG | IO
_FLAGS_MASK = const(0xFFFF)         # OS_FLAGS_NBITS = 16
_GRP = const(8)                     # a kernel object's bytes, as in firmware/kernel.py
_KIND = const(9)
_K_MUTEX = const(2)
_K_MBOX = const(3)
_K_FLAG = const(5)


# The kernel objects only these services create (semaphores and queues are in kernel.py).
class Mutex(_EventBlock):
    def __init__(self, pcp):
        super().__init__(_K_MUTEX)
        self.pcp = pcp
        self.owner = None
        self.owner_prio = 0
        self.next_owned = None      # chains the mutexes one task owns, to free them on a fault


class Mailbox(_EventBlock):
    def __init__(self, msg):
        super().__init__(_K_MBOX)
        self.msg = msg


class FlagGroup(_EventBlock):
    def __init__(self, flags):
        super().__init__(_K_FLAG)
        self.flags = flags


METHODS = ("time_dly_hmsm", "time_dly_periodic", "time_dly_resume", "sem_query", "pend_abort",
           "mutex_create", "_own", "mutex_pend", "mutex_accept", "mutex_post", "_release",
           "mutex_query", "mbox_create", "mbox_pend", "mbox_accept", "mbox_post", "mbox_post_opt",
           "mbox_query", "q_post_front", "q_flush", "q_query", "flag_create", "_flags_met",
           "_flags_take", "flag_pend", "flag_accept", "flag_post", "flag_query", "sem_pend_abort",
           "mbox_pend_abort", "q_pend_abort", "flag_pend_abort", "task_del", "task_suspend",
           "task_resume", "task_change_prio", "task_query", "_reprio", "sched_lock",
           "sched_unlock", "sched", "flags_rdy", "time_set")


def install(cls):
    """Make every service of this module a method of `cls` (firmware.kernel.Kernel)."""
    g = globals()
    for name in METHODS:
        setattr(cls, name, g[name])


def time_dly_hmsm(self, hours, minutes, seconds, ms):
    """await OSTimeDlyHMSM."""
    t = self._cur
    if not (hours or minutes or seconds or ms):
        return self._ret(t, OS_ERR_TIME_ZERO_DLY)
    if not 0 <= minutes <= 59:
        return self._ret(t, OS_ERR_TIME_INVALID_MINUTES)
    if not 0 <= seconds <= 59:
        return self._ret(t, OS_ERR_TIME_INVALID_SECONDS)
    if not 0 <= ms <= 999:
        return self._ret(t, OS_ERR_TIME_INVALID_MS)
    return self.time_dly(((hours * 60 + minutes) * 60 + seconds) * 1000 + ms)

def time_dly_periodic(self, period_ms):
    """await the task's next release, `period_ms` after the previous one (uC/OS-III's
    OS_OPT_TIME_PERIODIC): a periodic task does not drift by the time its work takes. The
    first call starts the schedule. Releases already missed are skipped and counted in
    the task's `overruns`. OS_ERR_NONE, OS_ERR_TIME_ZERO_DLY, OS_ERR_PEND_LOCKED."""
    t = self._cur
    if period_ms <= 0:
        return self._ret(t, OS_ERR_TIME_ZERO_DLY)
    if self._lock:
        return self._ret(t, OS_ERR_PEND_LOCKED)
    now = self._ticks_ms()
    release = self._ticks_add(now if t.release is None else t.release, period_ms)
    late = self._ticks_diff(now, release)
    if late >= 0:
        missed = late // period_ms + 1
        t.overruns += missed
        release = self._ticks_add(release, missed * period_ms)
    t.release = release
    aw = self._block(t, None, OS_STAT_DLY, 0)
    t.left = 0
    self._arm_at(t, release)
    return aw

def time_dly_resume(self, prio):
    """OSTimeDlyResume: end a delay early; a pend with a timeout ends with OS_ERR_TIMEOUT."""
    if not 0 <= prio < OS_LOWEST_PRIO:
        return OS_ERR_PRIO_INVALID
    t = self._tcb[prio]
    if t is None or t is _RESERVED:
        return OS_ERR_TASK_NOT_EXIST
    if not t.timed:
        return OS_ERR_TIME_NOT_DLY
    t.left = 0
    self._wake(t, OS_ERR_TIMEOUT if t.stat & _PEND_ANY else OS_ERR_NONE, None)
    return OS_ERR_NONE

def sem_query(self, sem):
    """OSSemQuery."""
    return {"count": _sem_count(sem), "waiting": _prios(sem)}

def pend_abort(self, ev, opt=OS_PEND_OPT_NONE):
    """OSSemPendAbort / OSMboxPendAbort / OSQPendAbort / OSMutex: wake the highest waiter
    (or all, OS_PEND_OPT_BROADCAST) with OS_ERR_PEND_ABORT. Returns how many were woken."""
    n = 0
    while ev[_GRP]:
        self._wake(self._waiter(ev), OS_ERR_PEND_ABORT, None)
        n += 1
        if opt != OS_PEND_OPT_BROADCAST:
            break
    return n

sem_pend_abort = pend_abort
mbox_pend_abort = pend_abort
q_pend_abort = pend_abort
flag_pend_abort = pend_abort

def mutex_create(self, pcp=OS_PRIO_MUTEX_CEIL_DIS):
    """OSMutexCreate: `pcp` is the ceiling priority an owner is raised to when a
    higher-priority task waits; it reserves that priority (OS_PRIO_MUTEX_CEIL_DIS: none)."""
    if pcp != OS_PRIO_MUTEX_CEIL_DIS:
        if not 0 <= pcp < OS_LOWEST_PRIO:
            raise KernelError(OS_ERR_PRIO_INVALID, "mutex ceiling %r outside 0..62" % (pcp,))
        if self._tcb[pcp] is not None:
            raise KernelError(OS_ERR_PRIO_EXIST, "priority %d is taken" % pcp)
        self._tcb[pcp] = _RESERVED
    return Mutex(pcp)

def _own(self, m, t):
    m.owner = t
    m.owner_prio = t.prio
    m.next_owned = t.owned
    t.owned = m
    pcp = m.pcp
    return OS_ERR_PCP_LOWER if pcp != OS_PRIO_MUTEX_CEIL_DIS and t.prio <= pcp else OS_ERR_NONE

def mutex_pend(self, m, timeout=0):
    """await OSMutexPend: OS_ERR_NONE, OS_ERR_TIMEOUT, OS_ERR_PEND_ABORT, OS_ERR_PCP_LOWER
    (acquired, but the ceiling is not above the task), OS_ERR_EVENT_TYPE, OS_ERR_PEND_LOCKED."""
    t = self._cur
    if m[_KIND] != _K_MUTEX:
        return self._ret(t, OS_ERR_EVENT_TYPE)
    owner = m.owner
    if owner is None:
        return self._ret(t, self._own(m, t))
    if self._lock:
        return self._ret(t, OS_ERR_PEND_LOCKED)
    pcp = m.pcp
    if pcp != OS_PRIO_MUTEX_CEIL_DIS and owner.prio > pcp and m.owner_prio > t.prio:
        self._reprio(owner, pcp)        # priority ceiling promotion
        self._tcb[pcp] = owner
    return self._block(t, m, OS_STAT_MUTEX, timeout)

def mutex_accept(self, m):
    """OSMutexAccept: True when acquired."""
    if m.owner is not None:
        return False
    self._own(m, self._cur)
    return True

def mutex_post(self, m):
    """OSMutexPost: OS_ERR_NONE, OS_ERR_NOT_MUTEX_OWNER, OS_ERR_PCP_LOWER, OS_ERR_EVENT_TYPE."""
    if m[_KIND] != _K_MUTEX:
        return OS_ERR_EVENT_TYPE
    if m.owner is not self._cur:
        return OS_ERR_NOT_MUTEX_OWNER
    return self._release(m)

def _release(self, m):
    t = m.owner
    if t.owned is m:
        t.owned = m.next_owned
    else:
        prev = t.owned
        while prev.next_owned is not m:
            prev = prev.next_owned
        prev.next_owned = m.next_owned
    m.next_owned = None
    pcp = m.pcp
    if pcp != OS_PRIO_MUTEX_CEIL_DIS:
        if t.prio == pcp:
            self._reprio(t, m.owner_prio)
        self._tcb[pcp] = _RESERVED
    if m[_GRP]:
        w = self._waiter(m)
        self._wake(w, OS_ERR_NONE, None)
        err = self._own(m, w)
        w.err = err
        return err
    m.owner = None
    return OS_ERR_NONE

def mutex_query(self, m):
    """OSMutexQuery."""
    owner = m.owner
    return {"owner": None if owner is None else owner.base_prio,
            "owner_prio": None if owner is None else owner.prio,
            "pcp": m.pcp, "waiting": _prios(m)}

def mbox_create(self, msg=None):
    """OSMboxCreate."""
    return Mailbox(msg)

def mbox_pend(self, mbox, timeout=0):
    """await OSMboxPend; the message is kernel.msg(). OS_ERR_NONE, OS_ERR_TIMEOUT,
    OS_ERR_PEND_ABORT, OS_ERR_EVENT_TYPE, OS_ERR_PEND_LOCKED."""
    t = self._cur
    if mbox[_KIND] != _K_MBOX:
        return self._ret(t, OS_ERR_EVENT_TYPE)
    msg = mbox.msg
    if msg is not None:
        mbox.msg = None
        t.msg = msg
        return self._ret(t, OS_ERR_NONE)
    if self._lock:
        return self._ret(t, OS_ERR_PEND_LOCKED)
    return self._block(t, mbox, OS_STAT_MBOX, timeout)

def mbox_accept(self, mbox):
    """OSMboxAccept: the message, or None."""
    msg = mbox.msg
    mbox.msg = None
    return msg

def mbox_post(self, mbox, msg):
    """OSMboxPost: OS_ERR_NONE, OS_ERR_MBOX_FULL, OS_ERR_POST_NULL_PTR, OS_ERR_EVENT_TYPE."""
    return self.mbox_post_opt(mbox, msg, OS_POST_OPT_NONE)

def mbox_post_opt(self, mbox, msg, opt):
    """OSMboxPostOpt: OS_POST_OPT_BROADCAST hands `msg` to every waiting task."""
    if mbox[_KIND] != _K_MBOX:
        return OS_ERR_EVENT_TYPE
    if msg is None:
        return OS_ERR_POST_NULL_PTR
    if mbox[_GRP]:
        while mbox[_GRP]:
            self._wake(self._waiter(mbox), OS_ERR_NONE, msg)
            if not opt & OS_POST_OPT_BROADCAST:
                break
        return OS_ERR_NONE
    if mbox.msg is not None:
        return OS_ERR_MBOX_FULL
    mbox.msg = msg
    return OS_ERR_NONE

def mbox_query(self, mbox):
    """OSMboxQuery."""
    return {"msg": mbox.msg, "waiting": _prios(mbox)}

def q_post_front(self, q, msg):
    """OSQPostFront (LIFO: the next pend gets this message first)."""
    return self.q_post_opt(q, msg, OS_POST_OPT_FRONT)

def q_flush(self, q):
    """OSQFlush: drop every message."""
    for i in range(q.size):
        q.buf[i] = None
    q.out = 0
    q.n = 0
    return OS_ERR_NONE

def q_query(self, q):
    """OSQQuery: the next message (not removed), entries, size, peak and waiting tasks."""
    return {"msg": q.buf[q.out] if q.n else None, "entries": q.n, "size": q.size,
            "peak": q.peak, "waiting": _prios(q)}

def flag_create(self, flags=0):
    """OSFlagCreate: a group of 16 event flags."""
    return FlagGroup(flags & _FLAGS_MASK)

def _flags_met(self, grp, want, wait_type):
    # -> the flags that satisfy `want` under wait_type, 0 if not satisfied, -1 bad type
    wt = wait_type & ~OS_FLAG_CONSUME
    if wt == OS_FLAG_WAIT_SET_ALL:
        rdy = grp.flags & want
        return rdy if rdy == want else 0
    if wt == OS_FLAG_WAIT_SET_ANY:
        return grp.flags & want
    if wt == OS_FLAG_WAIT_CLR_ALL:
        rdy = ~grp.flags & want
        return rdy if rdy == want else 0
    if wt == OS_FLAG_WAIT_CLR_ANY:
        return ~grp.flags & want
    return -1

def _flags_take(self, grp, rdy, wait_type):
    if wait_type & OS_FLAG_CONSUME:
        if wait_type & 2:       # the SET_ALL / SET_ANY types
            grp.flags &= ~rdy
        else:
            grp.flags |= rdy

def flag_pend(self, grp, flags, wait_type, timeout=0):
    """await OSFlagPend: wait_type OS_FLAG_WAIT_SET_ALL/_SET_ANY/_CLR_ALL/_CLR_ANY, plus
    OS_FLAG_CONSUME. Ready flags: kernel.flags_rdy(). OS_ERR_NONE, OS_ERR_TIMEOUT,
    OS_ERR_PEND_ABORT, OS_ERR_FLAG_WAIT_TYPE, OS_ERR_EVENT_TYPE, OS_ERR_PEND_LOCKED."""
    t = self._cur
    if grp[_KIND] != _K_FLAG:
        return self._ret(t, OS_ERR_EVENT_TYPE)
    rdy = self._flags_met(grp, flags, wait_type)
    if rdy < 0:
        return self._ret(t, OS_ERR_FLAG_WAIT_TYPE)
    if rdy:
        self._flags_take(grp, rdy, wait_type)
        t.flags_rdy = rdy
        return self._ret(t, OS_ERR_NONE)
    if self._lock:
        return self._ret(t, OS_ERR_PEND_LOCKED)
    t.flags_rdy = 0
    t.flag_want = flags
    t.flag_type = wait_type
    return self._block(t, grp, OS_STAT_FLAG, timeout)

def flag_accept(self, grp, flags, wait_type):
    """OSFlagAccept: the flags that satisfied the condition; 0 = OS_ERR_FLAG_NOT_RDY,
    -1 = OS_ERR_FLAG_WAIT_TYPE."""
    rdy = self._flags_met(grp, flags, wait_type)
    if rdy > 0:
        self._flags_take(grp, rdy, wait_type)
    return rdy

def flag_post(self, grp, flags, opt):
    """OSFlagPost: opt OS_FLAG_SET or OS_FLAG_CLR. Readies every waiter whose condition now
    holds, highest priority first; a consuming waiter's flags are gone for those after it.
    OS_ERR_NONE, OS_ERR_FLAG_INVALID_OPT, OS_ERR_EVENT_TYPE."""
    if grp[_KIND] != _K_FLAG:
        return OS_ERR_EVENT_TYPE
    if opt == OS_FLAG_SET:
        grp.flags |= flags & _FLAGS_MASK
    elif opt == OS_FLAG_CLR:
        grp.flags &= ~flags
    else:
        return OS_ERR_FLAG_INVALID_OPT
    if grp[_GRP]:
        for t in self._tasks:
            if t.event is grp:
                rdy = self._flags_met(grp, t.flag_want, t.flag_type)
                if rdy > 0:
                    self._flags_take(grp, rdy, t.flag_type)
                    t.flags_rdy = rdy
                    self._wake(t, OS_ERR_NONE, None)
    return OS_ERR_NONE

def flag_query(self, grp):
    """OSFlagQuery: the current flags."""
    return grp.flags


def task_del(self, prio):
    """OSTaskDel. A task deleting itself stops at its next await (its finally blocks run)."""
    if prio == OS_LOWEST_PRIO:
        return OS_ERR_TASK_DEL_IDLE
    if prio > OS_LOWEST_PRIO and prio != OS_PRIO_SELF:
        return OS_ERR_PRIO_INVALID
    t = self._task(prio)
    if t is None:
        return OS_ERR_TASK_NOT_EXIST
    if t is _RESERVED:
        return OS_ERR_TASK_DEL
    self._remove(t)
    return OS_ERR_NONE

def task_suspend(self, prio):
    """OSTaskSuspend. Suspending itself takes effect at the task's next await."""
    if prio == OS_LOWEST_PRIO:
        return OS_ERR_TASK_SUSPEND_IDLE
    if prio > OS_LOWEST_PRIO and prio != OS_PRIO_SELF:
        return OS_ERR_PRIO_INVALID
    t = self._task(prio)
    if t is None:
        return OS_ERR_TASK_SUSPEND_PRIO
    if t is _RESERVED:
        return OS_ERR_TASK_NOT_EXIST
    _remove(self._m, t.prio)
    t.stat |= OS_STAT_SUSPEND
    return OS_ERR_NONE

def task_resume(self, prio):
    """OSTaskResume."""
    if not 0 <= prio < OS_LOWEST_PRIO:
        return OS_ERR_PRIO_INVALID
    t = self._tcb[prio]
    if t is None:
        return OS_ERR_TASK_RESUME_PRIO
    if t is _RESERVED:
        return OS_ERR_TASK_NOT_EXIST
    if not t.stat & OS_STAT_SUSPEND:
        return OS_ERR_TASK_NOT_SUSPENDED
    t.stat &= ~OS_STAT_SUSPEND
    if not t.stat:
        _add(self._m, t.prio)
    return OS_ERR_NONE

def task_change_prio(self, old, new):
    """OSTaskChangePrio."""
    if (old >= OS_LOWEST_PRIO and old != OS_PRIO_SELF) or not 0 <= new < OS_LOWEST_PRIO:
        return OS_ERR_PRIO_INVALID
    if self._tcb[new] is not None:
        return OS_ERR_PRIO_EXIST
    t = self._task(old)
    if t is None:
        return OS_ERR_PRIO
    if t is _RESERVED:
        return OS_ERR_TASK_NOT_EXIST
    if t.prio != t.base_prio:
        return OS_ERR_TASK_WAITING      # it holds a mutex at the ceiling priority
    self._tcb[t.base_prio] = None
    self._tcb[new] = t
    self._reprio(t, new)
    t.base_prio = new
    self._tasks.sort(key=lambda task: task.base_prio)
    return OS_ERR_NONE

def task_query(self, prio=OS_PRIO_SELF):
    """OSTaskQuery: a dict describing the task, or None when there is none at `prio`."""
    t = self.task(prio)
    if t is None:
        return None
    from firmware.kernel_stats import task_report
    return task_report(self, t, self._ticks_ms())

def _reprio(self, t, new):
    old = t.prio
    if old == new:
        return
    if not t.stat:
        _remove(self._m, old)
        _add(self._m, new)
    ev = t.event
    if ev is not None:
        _remove(ev, old)
        _add(ev, new)
    t.set_prio(new)

def sched_lock(self):
    """OSSchedLock: the running task keeps the CPU across awaits until sched_unlock()."""
    if self._lock < 255:
        self._lock += 1
        self._lock_owner = self._cur

def sched_unlock(self):
    """OSSchedUnlock."""
    if self._lock:
        self._lock -= 1
        if not self._lock:
            self._lock_owner = None

def sched(self):
    """await: let higher-priority tasks whose time came run (a scheduling point)."""
    t = self._cur
    if t.wait:
        _not_awaited(t)
    t.err = OS_ERR_NONE
    t.wait = 0 if self._lock else 1
    return self._aw

def flags_rdy(self):
    """OSFlagPendGetFlagsRdy: the flags that made the running task's last flag pend ready."""
    return self._cur.flags_rdy

def time_set(self, ms):
    """OSTimeSet."""
    self._time_offset += ms - self.time_get()


install(Kernel)
