"""`make bench ONLY=qemu`: the firmware's figures on the emulated 32-bit board (board_configs/
qemu_m4: MicroPython 1.28.0 on a Cortex-M4F in QEMU, 192 KB heap, code in ROMFS).

- kernel.switch_vs_asyncio.qemu_m4: tests/bench/bench_kernel.py's ping-pong (kernel semaphores
  against asyncio Events, best of 3 interleaved rounds) run on the board, with the kernel's hot
  path as armv7emsp machine code and asyncio frozen in the firmware image.
- firmware.heap_peak_kb.qemu_m4: the live heap peak of the whole firmware, booted from ROMFS by
  its main.py, over a compressed day in real time with 256 points on bus 1 (64 simulated
  meters answer, their clocks 2 minutes off; the other 192 time out) and the uplink through
  `conc sim modem` to `conc station serve`:
    * the station is down for the first minutes: real-time and curve readings every minute pile
      up as the uplink's backlog, delivered once the station is back;
    * the board's clock starts 150 s off: at login the station sets it (AFN05 F31);
    * then the meters' daily time sync (plan.time_sync_at) and the frozen-data round
      (plan.frozen_at) run, set a few minutes ahead: the sync corrects 64 meter clocks and logs
      their clock events.
  Measured by the board itself (board_configs/qemu_m4/board.c, mps2.heap_peak): the live heap
  after every garbage collection, its maximum from the start of the kernel (after boot) to the
  end; gc.threshold(4096) makes a collection run at least every 4 KB allocated, so the true peak
  lies between the figure and the figure + 4 KB. micropython.mem_peak() cannot give this
  figure: it counts what the collector frees as still allocated (10 MB after 10 000 short-lived
  1 KB buffers whose live heap never exceeds 2 KB).
"""
import csv
import datetime
import json
import time

from tests.bench.bench_kernel import SWITCH_SCRIPT
from tests.waiting import wait_for
from tests.qemu_board.qemu_support import built_firmware, qemu_session

GC_THRESHOLD = 4096
ANSWERING = 64
POINTS = 256
CLOCK_OFF_S = 150

# boot.py of the measured board: a collection every GC_THRESHOLD bytes, and from the kernel's
# start (after boot) two measurements: the board's own (mps2.heap_peak, where the board has it)
# and, on every board, the live heap sampled from the kernel's idle hook (gc.collect(), then
# gc.mem_alloc(), at most every 100 ms), kept in firmware.kernel.heap_sampled. The firmware
# itself is unchanged.
BOOT_PY = """\
import gc
import time
gc.threshold(%d)
import firmware.kernel as _k
_run = _k.Kernel.run
_k.heap_sampled = [0, 0]
_last = [0]


def _sample():
    now = time.ticks_ms()
    if time.ticks_diff(now, _last[0]) < 100:
        return
    _last[0] = now
    gc.collect()
    used = gc.mem_alloc()
    s = _k.heap_sampled
    s[1] += 1
    if used > s[0]:
        s[0] = used


def _measured_run(self, *args):
    gc.collect()
    try:
        import mps2
        mps2.heap_peak(True)
    except ImportError:
        pass
    _k.heap_sampled[0] = gc.mem_alloc()
    self.idle_hook = _sample
    return _run(self, *args)


_k.Kernel.run = _measured_run
""" % GC_THRESHOLD


def bench_switch(bench, tmp):
    with qemu_session(tmp) as board:
        out = board.exec(SWITCH_SCRIPT % {"n": 2000, "rounds": 3, "live_kb": 0}, timeout=600)
    rates = json.loads(out.strip().splitlines()[-1])
    bench.emit("kernel.switch_vs_asyncio.qemu_m4", round(rates["kernel"] / rates["asyncio"], 2),
               "x", goal=">= 5", kernel_switches_per_s=round(rates["kernel"]),
               asyncio_switches_per_s=round(rates["asyncio"]),
               floor_switches_per_s=round(rates["floor"]), heap_free_bytes=rates["heap_free"],
               board="qemu_m4 (Cortex-M4F in QEMU, armv7emsp kernel)")


def _plan_minutes(now):
    """(time_sync_at, frozen_at) as minutes of the day, a few minutes after `now` (UTC), where
    the settings allow them (time sync away from the hour, after 00:30)."""
    minute = now.hour * 60 + now.minute + 5
    while minute % 60 in (0, 1, 58, 59) or minute < 30:
        minute += 1
    return minute % 1440, (minute + 1) % 1440


def bench_heap_day(bench, tmp, board_name):
    from tests.e2e.e2e_support import Chain
    tmp.mkdir(parents=True, exist_ok=True)
    chain = Chain(tmp, board=board_name)
    try:
        _heap_day(bench, chain, tmp, board_name)
    finally:
        chain.stop()


def _heap_day(bench, chain, tmp, board_name):
    from host_tools.usb import Board
    chain.conc("station", "terminals", "add", "--area", 4101, "--address", 42, "--password",
               "00", "--name", "heap", "--db", chain.db)
    address = chain.start_station()
    chain.children.pop("station").stop()         # down until the backlog has piled up
    meters = [{"protocol": "dlt645", "address": "%012d" % p, "clock_offset_s": 120}
              for p in range(1, ANSWERING + 1)]
    path = tmp / "bus1.json"
    path.write_text(json.dumps({"bus": {"baud": 115200, "parity": "E", "turnaround_ms": 5},
                                "meters": meters}))
    bus = chain.spawn("bus 1", ["sim", "meters", "--config", path, "--json"])["device"]
    chain.station_address = address
    chain.start_modem()
    chain.port = chain.spawn("board", ["board", "run", "--board", board_name, "--image",
                                       tmp / "board", "--bus", "1=" + bus, "--modem",
                                       chain.modem, "--json"])["port"]
    chain.conc("flash", "--board", board_name)
    host, port = address.rsplit(":", 1)
    sync_at, frozen_at = _plan_minutes(datetime.datetime.utcnow())
    for key, value in (("terminal.area", 4101), ("terminal.address", 42), ("master.host", host),
                       ("master.port", port), ("comm.heartbeat_min", 1), ("comm.redial_s", 1),
                       ("comm.redial_max_s", 4), ("plan.realtime_min", 1), ("plan.curve_min", 1),
                       ("poll.turnaround_ms", 20), ("poll.retries", 0),
                       ("plan.time_sync_at", "%02d:%02d" % divmod(sync_at, 60)),
                       ("plan.frozen_at", "%02d:%02d" % divmod(frozen_at, 60))):
        chain.conc("config", "set", key, value)
    rows = tmp / "meters.csv"
    with open(rows, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["point", "address", "protocol", "bus", "baud", "parity"])
        for p in range(1, POINTS + 1):
            w.writerow([p, "%012d" % p, "dlt645", 1, 115200, "E"])
    chain.conc("meters", "import", rows, timeout=300)
    # the measured boot: boot.py, and the board's clock set CLOCK_OFF_S ahead (the virtual
    # board's clock is the host's: there the station has nothing to correct)
    with Board.open(chain.port, soft_reset=True) as board:
        board.write_file(board.eval("__import__('os').getcwd()").rstrip("/") + "/boot.py",
                         BOOT_PY.encode())
        if board_name == "qemu_m4":
            off = datetime.datetime.utcnow() + datetime.timedelta(seconds=CLOCK_OFF_S)
            board.exec("import machine\nmachine.RTC().datetime((%d, %d, %d, 0, %d, %d, %d, 0))"
                       % (off.year, off.month, off.day, off.hour, off.minute, off.second))
    started = time.monotonic()
    time.sleep(150)                                # backlog: readings while the station is down
    chain.start_station(listen=address)
    end_minute = frozen_at + 2
    while True:
        now = datetime.datetime.utcnow()
        if (now.hour * 60 + now.minute - end_minute) % 1440 < 720:
            break
        time.sleep(5)
    with Board.open(chain.port, soft_reset=False) as board:
        if board_name == "qemu_m4":
            peak, collections = board.eval("__import__('mps2').heap_peak()")
        else:
            peak = collections = None
        sampled, samples = board.eval("__import__('firmware.kernel').kernel.heap_sampled")
        board.exec("import os\nos.remove('boot.py')")
    # what the day left on the board; a board whose heap is exhausted may fail to answer
    problems = []
    try:
        # the reads above restarted the firmware: a status asked while it boots has no figures
        status = wait_for("the firmware to run again", lambda: _running_status(chain), 120,
                          every=1)
    except AssertionError as exc:
        status = {"skipped": None, "ring": {"cursors": {}}}
        problems.append("conc status: %s" % str(exc)[-200:])
    try:
        pulled = chain.pull()
    except AssertionError as exc:
        pulled = []
        problems.append("conc pull: %s" % str(exc)[-200:])
    kinds = {}
    for rec in pulled:
        key = rec["record"] if rec["record"] != "readings" else "readings." + rec["kind"]
        kinds[key] = kinds.get(key, 0) + 1
    commands = chain.conc("station", "commands", "--json", "--db", chain.db, check=False)
    common = dict(points=POINTS, answering=ANSWERING, seconds=round(time.monotonic() - started),
                  uplink=(status.get("uplink") or {}).get("state"), skipped=status["skipped"],
                  backlog=status["ring"]["cursors"].get("uplink", {}).get("backlog"),
                  ring_records=kinds, station_time_sync="time_sync" in commands,
                  idle_sampled_kb=round(sampled / 1024.0, 1), idle_samples=samples,
                  problems=problems)
    if board_name == "qemu_m4":
        bench.emit("firmware.heap_peak_kb.qemu_m4", round(peak / 1024.0, 1), "KB", goal="<= 96",
                   upper_bound_kb=round((peak + GC_THRESHOLD) / 1024.0, 1),
                   collections=collections,
                   scope="whole firmware from ROMFS, from the kernel's start to the end of a "
                         "compressed day (backlog, station clock set, meter time sync, frozen "
                         "round), live heap after each collection, collections every 4 KB",
                   **common)
    else:
        bench.emit("firmware.heap_peak_kb.%s" % board_name, round(sampled / 1024.0, 1), "KB",
                   goal=None,
                   scope="whole firmware from ROMFS (an image file mapped outside the heap), "
                         "64-bit unix port, the same compressed day; live heap of the interpreter "
                         "(board heap + the REPL agent's share) sampled at the kernel's idle (the "
                         "unix port has no collection hook)", **common)


def _running_status(chain):
    doc = chain.status()
    return None if doc.get("booting") else doc


def run(bench):
    import tempfile
    from pathlib import Path
    built_firmware()
    with tempfile.TemporaryDirectory() as tmp:
        bench_switch(bench, Path(tmp) / "switch")
        bench_heap_day(bench, Path(tmp) / "day", "qemu_m4")
        bench_heap_day(bench, Path(tmp) / "day-virtual", "virtual")
