"""The running concentrator: its state, its housekeeping task, and what the USB commands may
look at (firmware/usb_status.py reads it in the interrupted firmware's heap).

    c = Concentrator()          # nothing happens yet
    concentrator.current = c    # firmware/main.py keeps it here
    c.run(boot)                 # boot(c), then the kernel until Ctrl-C: c.stopped(interrupt)
    # boot: firmware/startup.py's (configs, ring log, ERC14, kernel, tasks), then unloaded

The boot steps live in firmware/startup.py, unloaded once the board runs; this module keeps
only what the running firmware needs, plus small helpers both sides share.

Boot never bricks a board: every step that fails is recorded in `problems` and the board goes on
with what it has (defaults for a bad /config.json, no ring log when the data partition does not
mount, no uplink when its module is missing), so the REPL and `conc` always reach it.

Power on/off (ERC14): a Ctrl-C from the USB transport is an orderly stop, recorded by a
MARK_STOPPED marker in the ring log. At boot the newest record tells what happened before: a
MARK_STOPPED marker means the firmware was stopped on purpose (a `conc` command, a soft
reset): no event. Anything else is the last sign of life before a power cut, a crash or a
watchdog reset, and its time is the power-off time of the ERC14 event. The housekeeping task
writes a MARK_ALIVE marker when nothing else was logged for _ALIVE_S seconds, so that time is
never more than _ALIVE_S off.
"""
import gc
import json
import sys

from protocol.compat import const
from firmware.hal import interrupts

VERSION = "0.1.0"

MARK_ALIVE = const(4)      # marker codes beside firmware/log_records.py's MARK_BOOT/CLOCK_SET/FORMAT
MARK_STOPPED = const(5)
ERC14 = const(14)          # terminal power off / on: power-off time, power-on time (format 15)
ERC21 = const(21)          # terminal fault: time, fault code
FAULT_STORAGE = const(1)   # ERC21 fault code 1: main board memory (here: a settings file)

_ALIVE_S = const(300)
HOUSEKEEPING_PRIO = const(50)
UPLINK_PRIO = const(10)
POLLER_PRIO = const(20)
HOUSEKEEPING_CHECKIN_MS = const(20000)

BOARD_FILE = "board.json"
CONFIG_FILE = "config.json"
METERS_FILE = "meters.dat"

current = None             # the Concentrator firmware/main.py runs


def read_json(path):
    """(value, problem): the parsed file, or None and why not."""
    try:
        with open(path) as f:
            return json.load(f), None
    except OSError:
        return None, "no %s" % path
    except ValueError:
        return None, "%s is not valid JSON" % path


def load_settings():
    """(settings, problems) from /config.json; missing or bad keys take their defaults."""
    from protocol import settings as schema
    raw, problem = read_json(CONFIG_FILE)
    if problem:
        return schema.defaults(), [problem + ": default settings"]
    values, problems = schema.load(raw)
    return values, ["%s: %s (default used)" % (CONFIG_FILE, p) for p in problems]


def unload(name):
    """Forget a module imported only for boot, so its code leaves the heap."""
    from firmware.unloading import unload_module
    unload_module(name)


def unload_new(before):
    """Unload every module imported since `before` (a set of sys.modules names)."""
    for name in list(sys.modules):
        if name not in before:
            unload(name)
    gc.collect()


def default_board():
    """What a board without /board.json runs with: no buses, no data partition."""
    return {"name": "unknown", "platform": sys.platform, "buses": [], "modem": {},
            "data_partition": None, "watchdog_ms": 30000}


def _while_idle(exc):
    """Whether an interrupt was raised in the kernel's idle wait (firmware/hal/clock.py)."""
    try:
        import io
        buf = io.StringIO()
        sys.print_exception(exc, buf)  # pyright: ignore[reportArgumentType] - the stubs' io.StringIO is no stream
        frames = [line for line in buf.getvalue().split("\n") if line.strip().startswith("File")]  # pyright: ignore[reportAttributeAccessIssue] - the stubs' io.StringIO lacks getvalue
        return bool(frames) and "clock.py" in frames[-1]
    except Exception:  # noqa: BLE001
        return False


class Concentrator:
    def __init__(self):
        self.problems = []          # what boot could not do, and why (status shows them)
        self.skipped = {}           # task name -> why it does not run
        self.board = None
        self.settings = None
        self.settings_problems = []
        self.dev = None
        self.log = None
        self.archive = None
        self.kernel = None
        self.wall = None
        self.watchdog = None
        self.poller = None
        self.uplink = None
        self.ports = {}
        self.boot_at = 0            # wall seconds at boot
        self.power_off_at = None    # from the log: when the previous run ended unexpectedly
        self.faults = []            # last task faults: (task name, last line)
        self.booted = False         # every boot step done (a Ctrl-C can come in the middle)
        self.boot_recorded = False  # this boot has logged what ended the previous run (ERC14)
        self.stopped_idle = False   # stopped where its state is whole (see stopped())

    def problem(self, text):
        self.problems.append(text)
        print("conc:", text)

    def on_fault(self, task, exc, text):
        lines = [line for line in (text or repr(exc)).split("\n") if line.strip()]
        self.faults.append((getattr(task, "name", "?"), lines[-1] if lines else repr(exc)))
        if len(self.faults) > 4:
            self.faults.pop(0)

    # --- tasks ----------------------------------------------------------------------------------
    async def housekeeping(self):
        """Checks in for the watchdog, keeps the heap compact, and marks the board alive."""
        k = self.kernel
        last_seq = -1
        quiet_since = self.wall.now()  # pyright: ignore[reportAttributeAccessIssue] - set by boot() (firmware/startup.py)
        while True:
            await k.time_dly(1000)  # pyright: ignore[reportAttributeAccessIssue] - set by boot() (firmware/startup.py)
            k.task_checkin()  # pyright: ignore[reportAttributeAccessIssue] - set by boot() (firmware/startup.py)
            log = self.log
            if log is None:
                continue
            now = self.wall.now()  # pyright: ignore[reportAttributeAccessIssue] - set by boot() (firmware/startup.py)
            if log.next_seq != last_seq:
                last_seq = log.next_seq
                quiet_since = now
            elif now - quiet_since >= _ALIVE_S:
                from firmware import log_records
                log_records.append_marker(log, now, MARK_ALIVE)
                last_seq = log.next_seq
                quiet_since = now

    # --- running ----------------------------------------------------------------------------
    def run(self, boot):
        """Boot (`boot(self)`) and run the kernel until a Ctrl-C hands the board to the REPL:
        then the stop marker (stopped()), and the KeyboardInterrupt goes on to the REPL.

        One handler from the boot to the end of the kernel's run: a Ctrl-C that lands anywhere
        in between (unloading startup collects the heap, which takes a while on a loaded host)
        must still end in an orderly stop, or the next boot logs a power cut that never
        happened. The USB transport sends Ctrl-C twice, and the second can arrive while the
        first is on its way out: Ctrl-C is held off (hal/interrupts.py) in a `finally`, which
        the VM enters without a jump, so a second Ctrl-C is taken there and not raised by the
        type test of the `except` clause, which would skip the marker."""
        try:
            try:
                boot(self)
                self.kernel.run()  # pyright: ignore[reportAttributeAccessIssue] - set by boot() (firmware/startup.py)
            finally:
                interrupts.hold()
        except KeyboardInterrupt as exc:
            self.stopped(exc)
            raise
        else:
            interrupts.release()

    def stopped(self, interrupt=None, clean=False):
        """Record an orderly stop (a `conc` command took over the board).

        Ctrl-C nearly always finds the kernel asleep in its idle wait. Anywhere else it may have
        landed inside a log write, and then the log's state in RAM cannot be trusted: a fresh
        mount finds the true append point (and repairs a torn record). `stopped_idle` tells
        whether the firmware's state is whole, so that a command may run its kernel again
        (firmware/usb_api.py test_read); `clean`: the kernel was stopped by kernel.stop().

        Ctrl-C is held off while the marker is written (hal/interrupts.py), a Ctrl-C pending
        from before taken by hold() itself: nothing interrupts the write."""
        interrupts.hold()
        self.stopped_idle = False
        try:
            self._log_stopped(interrupt, clean)
        finally:
            interrupts.release()

    def _log_stopped(self, interrupt, clean):
        # No marker before this boot has logged what ended the previous run: it would hide a
        # power cut from the next boot (which then sees the same newest records we saw).
        if not self.boot_recorded or self.dev is None or self.log is None:
            return
        try:
            gc.collect()
            idle = clean or (interrupt is not None and _while_idle(interrupt))
            from firmware import log_records
            if not idle:
                self.log.remount()
            log_records.append_marker(self.log, self.wall.now(), MARK_STOPPED)  # pyright: ignore[reportAttributeAccessIssue] - set by boot() (firmware/startup.py)
            self.stopped_idle = bool(idle)
        except Exception as exc:  # noqa: BLE001 - stopping must never fail
            print("conc: stop marker not written: %r" % (exc,))
