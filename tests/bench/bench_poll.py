"""Poller figures: bus efficiency, on a faulted bus against the PyPI `dlt645` client, RAM per
point, heap.

All runs drive the firmware poller under the real MicroPython unix port (tests/poller/
poll_harness.py, code from build/mpy) against the meter simulator on a pty, which paces every
byte at the bus baud rate and waits the configured turnaround before each reply, so bus time
is real time.

- poll.bus_efficiency: 32 DL/T 645-2007 meters x 6 items at 2400 baud 8E1, 30 ms turnaround,
  one real-time cycle. Lower bound = the simulator's wire time of every request and reply
  (bytes x 11 bits / 2400) + 30 ms per reply; divided by the cycle's elapsed time.
- poll.faulted_bus_efficiency: the same bus as it is in the field: 32 meters of which 4 never
  answer, 2 answer 300 ms late and 5% of all replies carry a bad checksum, three real-time
  cycles (virtual time between cycles, real time on the wire; the poller's default 500 ms
  turnaround allowance, 1 retry). Useful replies per second over the wire-time bound of the
  answering meters: the bound is the wire time of the request and reply of every useful
  exchange (BusLink.wire_bytes x 11 bits / 2400) plus each one's turnaround (30 ms, 330 ms for
  a slow meter), divided by the real time of the three cycles. What the poller can lose: time
  on dead meters (one silent item, after a first failure no retry), on garbled replies.
- poll.faulted_vs_pypi_dlt645: our useful replies/s in those cycles over those of the PyPI
  package's RTU client (dlt645 3.2.0: MeterClientService.new_rtu_client + read_00/read_02,
  which is how its README reads a meter) reading the same 6 DIs of the same 32 meters for
  three cycles on the same simulator, with the same per-request timeout as ours. Both read
  single DIs (its decoder handles one element per DI). Its port needs one adaptation to a
  pty: pyserial re-applies termios each time the client changes the read timeout and Linux
  ptys refuse that (EINVAL), so the re-apply is skipped; the read path and its timing are the
  package's own. (The fault-free comparison said little: both clients ran that bus at 0.995
  of its wire bound, and the whole difference was the 4 FE preamble bytes the package sends.)
- poll.ram_bytes_per_point: live heap peak (gc.collect() then mem_alloc, sampled at most every
  50 ms from the kernel's idle hook, so the probe adds no task of its own) of the whole firmware booted with 2040 points on the bus and polling
  for 6 s, minus the same with no point, / 2040. Boot sizes the per-point state to the highest
  point (firmware/meter_state.py, 11 bytes a point); the archive's 1-byte bus index exists for
  all 2040 points either way. Beside it: the same difference for the poller alone, whose state
  is preallocated for 2040 points in both runs.
- firmware.heap_peak_kb: live heap peak of the whole firmware as firmware/main.py boots it
  (firmware/concentrator.py + startup.py: settings, ring log on a data.img partition, archive,
  kernel, housekeeping, poller, uplink when configured - here none) with 256 points on one bus
  (64 simulated meters answer, the others time out), code loaded from build/mpy included, on
  the 64-bit unix port (objects there take up to twice their size on a 32-bit ESP32).
"""
import json
import os
import subprocess
import tempfile
import time

from host_tools.simulators.meter_bus import MeterSimulator
from protocol import clock_math
from tests import firmware_boot, micropython

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS_DIR = os.path.join(ROOT, "tests", "poller")
ITEMS = ("energy_fwd_total", "energy_rev_total", "voltage_a", "current_a",
         "power_active_total", "power_factor_total")
DIS = (0x00010000, 0x00020000, 0x02010100, 0x02020100, 0x02030000, 0x02060000)
START = clock_math.to_seconds(2026, 3, 5, 0, 1, 0)     # 00:01: only the real-time plan is due


def _run_harness(spec, heapsize="512K", timeout=600):
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(micropython.BUILD), HARNESS_DIR,
                                          str(micropython.TESTS), ".frozen"])
    with tempfile.TemporaryDirectory() as tmp:
        spec = dict(spec, dir=tmp)
        proc = subprocess.run(
            [micropython.micropython_path(), "-X", "heapsize=%s" % heapsize, "-c",
             "import poll_harness; poll_harness.main()"],
            input=json.dumps(spec) + "\n", capture_output=True, text=True, timeout=timeout,
            env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("@@") and '"summary"' in line:
            msg = json.loads(line[2:])
            if msg["type"] == "summary":
                return msg["summary"]
    raise RuntimeError("poller harness failed:\n" + (proc.stdout + proc.stderr)[-3000:])


def _meters(n, bus=1, baud=2400, parity="E"):
    return {str(p): {"protocol": "dlt645", "address": str(p), "bus": bus, "baud": baud,
                     "parity": parity} for p in range(1, n + 1)}


def _settings(**extra):
    cfg = {"plan.realtime_items": ",".join(ITEMS), "plan.curve_min": 0,
           "plan.realtime_min": 60}
    cfg.update(extra)
    return cfg


def _pypi_cycle(sim, addresses, timeout):
    from dlt645.service.clientsvc.client_service import MeterClientService
    # parity N: a pty refuses a tcsetattr that sets parity without changing the speed, and
    # ignores parity anyway (the simulator's wire timing is 8E1 whatever the client asks)
    client = MeterClientService.new_rtu_client(sim.device_path, 2400, 8, 1, "N", timeout)
    client.client.connect()
    client.client.conn._reconfigure_port = lambda force_update=False: None   # pty: see above
    got = 0
    started = time.monotonic()
    for address in addresses:
        client.set_address(_wire_order_text(address))
        for di in DIS:
            item = client.read_00(di) if di >> 24 == 0 else client.read_02(di)
            got += item is not None
    elapsed = time.monotonic() - started
    client.client.disconnect()
    return got, elapsed


def _wire_order_text(address):
    # the package sends its address string's BCD bytes in text order; DL/T 645 puts the lowest
    # byte first, so hand it the byte-reversed text
    text = "%012d" % int(address)
    return "".join(text[i:i + 2] for i in range(10, -1, -2))


def bench_bus(bench):
    config = {"bus": {"baud": 2400, "parity": "E", "turnaround_ms": 30, "seed": 1},
              "meters": [{"protocol": "dlt645", "address": "1", "count": 32}]}
    with MeterSimulator.from_dict(config) as sim:
        busy0 = sim.bus_busy_s
        replies0 = sum(m.replies for m in sim.meters)
        summary = _run_harness({
            "meters": _meters(32), "buses": {"1": [sim.device_path, 2400, "E"]},
            "settings": _settings(), "start": START, "cycles": 1, "max_ms": 300000})
        bus = summary["stats"][0]
        busy = sim.bus_busy_s - busy0
        replies = sum(m.replies for m in sim.meters) - replies0
        elapsed = bus["last_cycle_ms"] / 1000.0
        bound = busy + replies * 0.030
        bench.emit("poll.bus_efficiency", round(bound / elapsed, 3), "ratio", goal=">= 0.85",
                   meters=32, items_per_meter=6, requests=bus["requests"], replies=replies,
                   elapsed_s=round(elapsed, 3), lower_bound_s=round(bound, 3),
                   timeouts=bus["timeouts"], baud=2400, turnaround_ms=30)


FAULTED_CYCLES = 3
DEAD = (5, 13, 21, 29)              # never answer: configured on the board, absent on the wire
SLOW = (8, 24)                      # answer 300 ms after the turnaround
SLOW_MS = 300


def _faulted_config():
    meters = []
    for address in range(1, 33):
        if address in DEAD:
            continue
        faults = {"bad_checksum_pct": 5}
        if address in SLOW:
            faults.update(slow_reply_ms=SLOW_MS)
        meters.append({"protocol": "dlt645", "address": str(address), "faults": faults})
    return {"bus": {"baud": 2400, "parity": "E", "turnaround_ms": 30, "seed": 3},
            "meters": meters}


def bench_faulted(bench):
    with MeterSimulator.from_dict(_faulted_config()) as sim:
        slow = {a: sim.meter("%012d" % a) for a in SLOW}
        slow_served = {a: slow[a].replies for a in SLOW}
        summary = _run_harness({
            "meters": _meters(32), "buses": {"1": [sim.device_path, 2400, "E"]},
            "settings": _settings(**{"plan.realtime_min": 1}), "clock": "bus",
            "start": START, "cycles": FAULTED_CYCLES, "max_ms": 900000})
        bus = summary["stats"][0]
        injected = sum(m.faults.counts["bad_checksum"] for m in sim.meters)
        elapsed = summary["real_ms"] / 1000.0
        useful = bus["replies"]
        slow_useful = sum(slow[a].replies - slow_served[a] - slow[a].faults.counts["bad_checksum"]
                          for a in SLOW)
        bound = bus["wire_bytes"] * 11 / 2400.0 + useful * 0.030 + slow_useful * SLOW_MS / 1000.0
        ours = useful / elapsed
        bench.emit("poll.faulted_bus_efficiency", round(bound / elapsed, 3), "ratio",
                   goal=">= 0.8", meters=32, dead=len(DEAD), slow=len(SLOW),
                   bad_checksum_pct=5, cycles=FAULTED_CYCLES, useful_replies=useful,
                   requests=bus["requests"], timeouts=bus["timeouts"], garbled=bus["garbled"],
                   retries=bus["retries"], bad_checksums_sent=injected,
                   elapsed_s=round(elapsed, 3), lower_bound_s=round(bound, 3))
        # the same plan, the same per-request timeout as ours (firmware/bus_link.py)
        timeout = ((16 + 22) * 11 * 1000 // 2400 + 500 + 20) / 1000.0
        got, pypi_elapsed = 0, 0.0
        for _ in range(FAULTED_CYCLES):
            n, took = _pypi_cycle(sim, [str(p) for p in range(1, 33)], timeout)
            got += n
            pypi_elapsed += took
        theirs = got / pypi_elapsed
        bench.emit("poll.faulted_vs_pypi_dlt645", round(ours / theirs, 3), "ratio",
                   goal=">= 1.5", ours_replies_per_s=round(ours, 3),
                   pypi_replies_per_s=round(theirs, 3), pypi_replies=got,
                   pypi_elapsed_s=round(pypi_elapsed, 3), pypi_timeout_s=timeout)


def bench_ram(bench):
    config = {"bus": {"baud": 115200, "parity": "E", "turnaround_ms": 2, "seed": 1},
              "meters": [{"protocol": "dlt645", "address": "1", "count": 64}]}
    with MeterSimulator.from_dict(config) as sim:
        common = {"buses": {"1": [sim.device_path, 115200, "E"]}, "start": START,
                  "settings": _settings(**{"poll.turnaround_ms": 20, "poll.retries": 0}),
                  "heap_sample_ms": 50, "steps": [], "cycles": 1, "max_ms": 20000}
        # the firmware as it boots: MeterState is sized to the highest configured point
        empty = _firmware_heap(sim.device_path, 0, stop_ms=6000)
        full = _firmware_heap(sim.device_path, 2040, stop_ms=6000)
        per_point = (full["heap_peak"] - empty["heap_peak"]) / 2040.0
        # the poller alone (MeterState preallocated for 2040 points in both runs)
        h_empty = _run_harness(dict(common, meters={}, cycles=0, steps=[6000]))
        h_full = _run_harness(dict(common, generate={"count": 2040, "baud": 115200}, cycles=0,
                                   steps=[6000]))
        bench.emit("poll.ram_bytes_per_point", round(per_point, 2), "bytes", goal="<= 12",
                   heap_peak_none=empty["heap_peak"], heap_peak_2040=full["heap_peak"],
                   requests_in_window=full["requests"],
                   state="meter_state 11 B (fails, flags, frozen bits, last good time, last "
                         "energy) + archive bus index 1 B (allocated for 2040 points always)",
                   poller_only_bytes_per_point=round(
                       (h_full["heap_peak"] - h_empty["heap_peak"]) / 2040.0, 2))
        alloc = _run_harness(dict(common, generate={"count": 64, "baud": 115200}, cycles=1,
                                  max_ms=60000, count_alloc=1, heap_sample_ms=0))
        requests = alloc["stats"][0]["requests"]
        bench.emit("poll.alloc_bytes_per_request", round(alloc["allocated"] / requests, 1),
                   "bytes", goal=None, requests=requests,
                   note="heap allocated (gc off) during one cycle of 64 meters x 6 items at "
                        "115200 baud, divided by the requests, including the first cycle's "
                        "daily reads and the harness's 100 ms kernel.run loop: mostly the "
                        "coroutine objects of each transaction (one generator per await of "
                        "an async def)")
        heap = _firmware_heap(sim.device_path, 256)
        bench.emit("firmware.heap_peak_kb", round(heap["heap_peak"] / 1024.0, 1), "KB",
                   goal="<= 128", points=256, answering=64,
                   scope="whole firmware booted as firmware/main.py does (no uplink "
                         "configured), .mpy code included, 64-bit unix port",
                   heap_after_boot_kb=round(heap["after_boot"] / 1024.0, 1),
                   poller_cycles=heap["cycles"], requests=heap["requests"],
                   problems=heap["problems"], skipped=heap["skipped"],
                   modules=heap["modules"])


# After firmware_boot.BOOT.
_SAMPLE_HEAP = """
gc.collect()
after_boot = gc.mem_alloc() - BASE
peak = [after_boot]

import time
t0 = time.ticks_ms()
last = [t0]


def sample():
    # the kernel's idle hook, so the probe adds no task of its own to the heap it measures;
    # the kernel idles whenever the poller waits for a reply, mid-transaction
    now = time.ticks_ms()
    if time.ticks_diff(now, last[0]) < 50:
        return
    last[0] = now
    gc.collect()
    used = gc.mem_alloc() - BASE
    if used > peak[0]:
        peak[0] = used
    if c.poller is None or c.poller.stats()[0]["cycles"] >= 1 or (
            STOP_MS and time.ticks_diff(now, t0) > STOP_MS):
        c.kernel.stop()


c.kernel.idle_hook = sample
c.kernel.run(MAX_MS)
st = c.poller.stats()[0] if c.poller else {}
import sys
print("@@" + json.dumps({"heap_peak": peak[0], "after_boot": after_boot,
                         "modules": sorted(sys.modules),
                         "cycles": st.get("cycles"), "requests": st.get("requests"),
                         "problems": c.problems, "skipped": c.skipped}))
"""


def _firmware_heap(device, points, heapsize="512K", max_ms=90000, stop_ms=0):
    """Boot the firmware like firmware/main.py in a scratch directory; sample its live heap
    until the poller finished one cycle (or stop_ms of running)."""
    from firmware.archive import Archive
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "board.json"), "w") as f:
            json.dump({"name": "bench", "platform": "linux", "heap_budget_kb": 128,
                       "buses": [{"bus": 1, "device": device}], "modem": {},
                       "data_partition": {"label": "data.img", "block_size": 4096,
                                          "block_count": 64},
                       "watchdog_ms": 30000}, f)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(_settings(**{"poll.turnaround_ms": 20, "poll.retries": 0}), f)
        archive = Archive(os.path.join(tmp, "meters.dat"))
        for first in range(1, points + 1, 64):
            archive.apply({p: {"protocol": "dlt645", "address": str(p), "bus": 1,
                               "baud": 115200, "parity": "E"}
                           for p in range(first, min(points, first + 63) + 1)})
        script = firmware_boot.BOOT + _SAMPLE_HEAP.replace("MAX_MS", str(max_ms)).replace(
            "STOP_MS", str(stop_ms))
        return firmware_boot.run(script, tmp, heapsize=heapsize, timeout=max_ms / 1000 + 60)


def run(bench):
    bench_bus(bench)
    bench_faulted(bench)
    bench_ram(bench)
