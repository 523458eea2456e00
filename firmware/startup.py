"""The concentrator's boot steps (firmware/concentrator.py holds what runs afterwards).

Kept apart so its code leaves the heap once the board runs: firmware/main.py unloads it.
Order matters for the heap: the DL/T 645 catalogue is imported first, on an empty heap,
because importing it takes twice its resident size for a moment; it goes once the poller has
compiled its plans. A step that fails is recorded and skipped, never fatal.
"""
import gc
import sys

from firmware.concentrator import (
    BOARD_FILE, ERC14, ERC21, FAULT_STORAGE, HOUSEKEEPING_CHECKIN_MS, HOUSEKEEPING_PRIO,
    MARK_STOPPED, METERS_FILE, POLLER_PRIO, UPLINK_PRIO, VERSION, default_board,
    load_settings, read_json, unload, unload_new)
from protocol.clock_math import format15

# Heap the uplink needs: its resident part (modem driver, link, terminal, uploader and their
# buffers) plus the 1376.1 codec it loads while it answers a request, with room left for the
# USB commands. Measured (docs/qemu-board.md, "Where the heap goes"): 33 + 16 KB where the code
# runs in place from ROMFS on a 32-bit board (qemu_m4); 50 + 32 KB from ROMFS with the 64-bit
# objects of the unix port (the virtual board: 8 KB of room); 75 + 57 KB where the code is
# loaded into the heap from .mpy files (64-bit).
UPLINK_MIN_FREE_ROMFS = 66 * 1024
UPLINK_MIN_FREE_ROMFS_64 = 90 * 1024
UPLINK_MIN_FREE_FILES = 142 * 1024
LAST_RECORDS = 32           # records looked at for the power-off time
FAULT_FILE = "settings.fault"   # the settings problems the last ERC21 was raised for


def boot(c):
    """Every boot step, in order; each failure is recorded in c.problems / c.skipped."""
    from firmware.hal import clock
    from firmware.wallclock import from_rtc
    board, problem = read_json(BOARD_FILE)
    if problem or not isinstance(board, dict):
        c.problem((problem or "board.json is not a table") +
                  ": no buses or data partition (run conc flash --board NAME)")
        board = default_board()
    c.board = board
    c.settings, c.settings_problems = load_settings()
    for p in c.settings_problems:
        c.problem(p)
    unload("protocol.settings")     # 10 KB of schema text; the values are a plain dict
    unload("protocol.pw")           # its checks, loaded when the file holds a PW or tasks
    unload("protocol.report_tasks")
    plans = _compile_plans(c)
    c.wall = from_rtc(clock)
    c.boot_at = c.wall.now()
    _mount_log(c)
    _record_boot(c)
    _load_archive(c)
    _make_kernel(c)
    gc.collect()
    _start_housekeeping(c)
    _start_poller(c, plans)
    plans = None
    # The archive's entry codec is needed again only to show or edit a meter (a relay command,
    # the uplink's AFN04 F10, USB), which import it on demand; the pollers read raw slots.
    for name in ("firmware.hal.flash", "firmware.hal.board_ports", "protocol.meter_record"):
        unload(name)
    gc.collect()
    _load_status(c)
    _start_uplink(c)
    gc.collect()
    c.booted = True


def _load_status(c):
    # `conc status` runs in the heap of the firmware it interrupts, which may be in pieces by
    # then; loading its code there would also intern its names, and growing that table takes
    # one block of several KB. So its 4.5 KB of code is loaded now, on a clean heap; running,
    # it needs only blocks of a few hundred bytes (tests/usb/test_status_in_a_cut_up_heap.py).
    try:
        from firmware import kernel_stats, usb_status  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - status then loads on demand, if it can
        c.problem("the status command's code did not load at boot: %r" % (exc,))


def _mount_log(c):
    part = c.board.get("data_partition")
    if not part:
        c.skipped["ringlog"] = "the board config has no data partition"
        return
    try:
        from firmware.hal.flash import open_data_partition
        from firmware.ringlog import RingLog
        c.dev = open_data_partition(c.board, "")
        c.log = RingLog(c.dev, create=True)
    except Exception as exc:  # noqa: BLE001 - the board must boot to its REPL whatever
        c.log = None
        c.skipped["ringlog"] = "data partition: %r" % (exc,)
        c.problem("the ring log did not mount: %r" % (exc,))


def _record_boot(c):
    log = c.log
    if log is None:
        return
    from firmware import log_records
    now = c.boot_at
    last = log.latest()
    if last is not None and not (last[1] == log_records.MARKER and last[4] and
                                 last[4][0] == MARK_STOPPED):
        # The last record is not always the latest time (a curve point carries its slot's
        # start): the power went off after the newest timestamp among the last records.
        off = last[3]
        for record in log.records(max(log.oldest_seq, log.next_seq - LAST_RECORDS)):
            if off < record[3] <= now:
                off = record[3]
        c.power_off_at = off
        log_records.append_event(log, 0, now, ERC14, format15(off) + format15(now))
    c.boot_recorded = True
    if _settings_fault_changed(c.settings_problems):
        log_records.append_event(log, 0, now, ERC21, format15(now) + bytes((FAULT_STORAGE,)))
    log_records.append_marker(log, now, log_records.MARK_BOOT, VERSION.encode())


def _settings_fault_changed(problems):
    """True when the settings have a problem they did not have at the last boot.

    The board reboots after every USB command: an event per boot would bury the station in
    copies of one fault. The problems are kept in FAULT_FILE so the event is raised when a
    fault appears (or changes) and the file is removed once the settings are good again."""
    import os
    text = "\n".join(problems)
    try:
        with open(FAULT_FILE) as f:
            before = f.read()
    except OSError:
        before = ""
    if text == before:
        return False
    try:
        if text:
            with open(FAULT_FILE, "w") as f:
                f.write(text)
        else:
            os.remove(FAULT_FILE)
    except OSError:
        pass
    return bool(text)


def _load_archive(c):
    from firmware.archive import Archive
    try:
        c.archive = Archive(METERS_FILE)
    except Exception as exc:  # noqa: BLE001
        c.problem("the meter archive did not load: %r" % (exc,))
        c.archive = None


def _make_kernel(c):
    from firmware.kernel import Kernel
    from firmware.hal.watchdog import Watchdog
    wdt_ms = c.board.get("watchdog_ms") or 0
    c.watchdog = Watchdog(wdt_ms) if wdt_ms > 0 else None
    c.kernel = Kernel(watchdog=c.watchdog)
    c.kernel.on_fault = c.on_fault


def _start_housekeeping(c):
    c.kernel.task_create(c.housekeeping, HOUSEKEEPING_PRIO, name="housekeeping",
                         checkin_ms=HOUSEKEEPING_CHECKIN_MS)


def bus_line(c, bus):
    """(baud, parity) of a bus: those of its first meter (one wire format per bus)."""
    archive = c.archive
    if archive is not None:
        for point in archive.points(bus):
            entry = archive.get(point)
            if entry is not None:
                return entry["baud"], entry["parity"]
    return 2400, "E"


def _compile_plans(c):
    """The poller's plans, compiled before anything else is in the heap.

    Compiling needs the DL/T 645 catalogue (protocol/dlt645_items.py), 20 KB resident and
    more while it is imported. Done first, the catalogue sits at the bottom of an empty heap
    and leaves one large hole when it is unloaded, which the ring log and the kernel then
    fill; done later, it would have to fit beside everything else (the 192 KB boards run out
    there)."""
    try:
        import protocol.dlt645_items  # noqa: F401 - kept loaded across Plans(): no transient
        from firmware.plans import Plans
        try:
            return Plans(c.settings)
        except Exception as exc:  # noqa: BLE001 - e.g. an unknown item set by the station
            # Read the default items rather than nothing at all.
            from protocol import settings as schema
            cfg = dict(c.settings)
            cfg["plan.realtime_items"] = schema.SCHEMA["plan.realtime_items"][3]
            unload("protocol.settings")
            c.problem("plan.realtime_items did not compile (%s): the default items are read"
                      % (getattr(exc, "reason", None) or repr(exc)))
            return Plans(cfg)
    except Exception as exc:  # noqa: BLE001 - the poller then reports it
        c.problem("the reading plans did not compile: %r" % (exc,))
        return None
    finally:
        # its BCD helpers go too: the pollers decode replies in place (firmware/bus_link.py)
        unload("protocol.dlt645_items")
        unload("protocol.bcd")
        gc.collect()


def _start_poller(c, plans):
    if c.log is None or c.archive is None:
        c.skipped["poller"] = "no ring log" if c.log is None else "no meter archive"
        return
    from firmware.hal.board_ports import bus_numbers, open_bus
    for bus in bus_numbers(c.board):
        baud, parity = bus_line(c, bus)
        try:
            port = open_bus(c.board, bus, baud, parity)
        except Exception as exc:  # noqa: BLE001
            c.problem("bus %d did not open: %r" % (bus, exc))
            continue
        if port is None:
            c.skipped["bus%d" % bus] = "no device attached"
        else:
            c.ports[bus] = port
    if not c.ports:
        c.skipped["poller"] = "no bus has a device"
        return
    before = set(sys.modules)
    try:
        from firmware.meter_state import MeterState
        from firmware.poller import Poller
        # per-point state for the points that exist (11 bytes each): meters are added
        # over USB, which restarts the firmware, so the highest point is known here
        last = 0
        for point in c.archive.points():
            last = point
        c.poller = Poller(c.kernel, c.kernel._clock, c.wall, c.archive, c.log, c.settings,
                          c.ports, MeterState(max(last, 1)), plans=plans)
        c.poller.start(POLLER_PRIO)
    except Exception as exc:  # noqa: BLE001 - e.g. the module is missing or too big
        c.poller = None
        unload_new(before)          # half-loaded modules would only take heap
        c.skipped["poller"] = repr(exc)
        c.problem("the poller did not start: %r" % (exc,))


def _start_uplink(c):
    """The uplink (modem or network link to the master station), when its module exists:
    `firmware.link.start(concentrator, prio)` returns the object whose status() the status
    command shows."""
    from firmware.hal.board_ports import modem_config
    cfg = modem_config(c.board)
    unload("firmware.hal.board_ports")
    if not cfg:
        c.skipped["uplink"] = "the board has no modem"
        return
    c.board["modem"] = cfg
    gc.collect()
    free = gc.mem_free()
    need = _uplink_need()
    if free < need:
        # A load that fails half-way leaves the heap in pieces too small for anything,
        # `conc status` included: better not to try.
        c.skipped["uplink"] = "not enough heap: %d KB free, it needs about %d KB" % (
            free // 1024, need // 1024)
        c.problem("the uplink did not start: " + c.skipped["uplink"])
        return
    before = set(sys.modules)
    try:
        from firmware import link
    except ImportError as exc:
        unload_new(before)
        c.skipped["uplink"] = "firmware.link is not installed (%s)" % (exc,)
        return
    except Exception as exc:  # noqa: BLE001 - MemoryError: it does not fit in the heap
        unload_new(before)      # what it loaded before it failed would only take heap
        c.skipped["uplink"] = "firmware.link did not load: %r" % (exc,)
        c.problem(c.skipped["uplink"])
        return
    start = getattr(link, "start", None)
    if start is None:
        c.skipped["uplink"] = "firmware.link has no start(concentrator, prio)"
        return
    try:
        c.uplink = start(c, UPLINK_PRIO)
        if c.uplink is None:
            c.skipped["uplink"] = "not configured (no modem device or master address)"
    except Exception as exc:  # noqa: BLE001
        c.uplink = None
        c.skipped["uplink"] = repr(exc)
        c.problem("the uplink did not start: %r" % (exc,))


def _uplink_need():
    if not _code_in_romfs():
        return UPLINK_MIN_FREE_FILES
    return UPLINK_MIN_FREE_ROMFS_64 if sys.maxsize > 0x7FFFFFFF else UPLINK_MIN_FREE_ROMFS


def _code_in_romfs():
    """True when the firmware's bytecode runs in place from ROMFS (mounted at /rom) rather
    than being loaded into the heap."""
    return globals().get("__file__", "").startswith("/rom/")
