"""`conc status` runs in the heap of the firmware it interrupts. After days of running that heap
may be in pieces: the status must still answer there, with no block held back for it.

The firmware boots as firmware/main.py boots it, on the 192 KB heap of the `virtual` board,
polls simulated meters for one cycle, and is then interrupted; the test cuts every free block
of the heap into 512-byte holes (no allocation of 1 KB fits any more, though more than 8 KB
are free) and asks for the status document in that heap, under the real MicroPython. Its
largest allocations are dicts of a few hundred bytes: it streams its JSON.
"""
import json

from firmware.archive import Archive
from host_tools.simulators.meter_bus import MeterSimulator
from tests import firmware_boot

HOLE = 512

# After firmware_boot.BOOT.
SCRIPT = r"""

# The list that will hold the heap's pieces takes one 16 KB block: it is made before the poll
# cycle, because after it the heap has more than 60 KB free but not always 16 KB in one piece
# (the largest block varied from 15 to 28 KB from run to run, with when collections fell).
cells = [None] * 2000


def until_one_cycle():
    if c.poller.stats()[0]["cycles"] >= 1:
        c.kernel.stop()


c.kernel.idle_hook = until_one_cycle
c.kernel.run(60000)

# Every name this script binds from here on exists before the heap is cut: a new global
# would grow the module's dict, which needs a block the holes no longer have.
n = i = free = 0
big_fits = True
doc = err = None
gc.collect()
try:
    while n < len(cells):
        cells[n] = bytearray(%(hole)d - 16)
        n += 1
except MemoryError:
    pass
while i < n:
    cells[i] = None     # every other block free again: holes between live ones
    i += 2
gc.collect()
free = gc.mem_free()
try:
    bytearray(2 * %(hole)d)
except MemoryError:
    big_fits = False
try:
    import firmware.usb_status as status
    doc = status._status()
except MemoryError as exc:
    err = exc
cells = None
gc.collect()
print("@@" + json.dumps({"big_fits": big_fits, "free": free, "error": repr(err) if err else None,
                         "tasks": [t["name"] for t in doc["tasks"]] if doc else None,
                         "buses": [b["bus"] for b in doc["buses"]] if doc else None}))
"""


def test_status_answers_in_a_heap_cut_into_small_holes(tmp_path):
    config = {"bus": {"baud": 115200, "parity": "E", "turnaround_ms": 2, "seed": 1},
              "meters": [{"protocol": "dlt645", "address": "1", "count": 8}]}
    with MeterSimulator.from_dict(config) as sim:
        (tmp_path / "board.json").write_text(json.dumps({
            "name": "virtual", "platform": "linux", "heap_budget_kb": 192,
            "buses": [{"bus": 1, "device": sim.device_path}], "modem": {},
            "data_partition": {"label": "data.img", "block_size": 4096, "block_count": 16},
            "watchdog_ms": 30000}))
        Archive(str(tmp_path / "meters.dat")).apply(
            {p: {"protocol": "dlt645", "address": str(p), "bus": 1, "baud": 115200,
                 "parity": "E"} for p in range(1, 9)})
        got = firmware_boot.run(firmware_boot.BOOT + SCRIPT % {"hole": HOLE}, tmp_path,
                                timeout=120)
    # the heap really is cut up: plenty free, but no block of twice the hole size
    assert got["free"] > 8192 and not got["big_fits"], got
    assert got["error"] is None, got
    assert {"bus1", "housekeeping"} <= set(got["tasks"]) and got["buses"] == [1]
