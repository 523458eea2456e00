"""`make bench ONLY=store`: the ring log's figures, measured under MicroPython.

Runs tests/store/store_bench.py in the MicroPython unix port (the board's interpreter) and
re-emits each figure it prints as `@@METRIC name value unit`.
"""
from pathlib import Path

from tests import micropython

HERE = Path(__file__).resolve().parent.parent / "store"
GOALS = {
    "store.lost_records": "== 0",
    "store.corrupt_records": "== 0",
    # what the 20000 cuts interrupted: each kind of operation must be well covered
    "store.powercut_in_append": ">= 1000",
    "store.powercut_in_rollover": ">= 1000",
    "store.powercut_in_cursor": ">= 1000",
    "store.powercut_in_erase": ">= 1000",
    "store.powercut_in_mount": ">= 1000",
    "store.append_vs_raw": ">= 0.5",
    "store.mount_ms_1mb": "<= 500",
    # wear on an uneven workload (tests/store/store_bench.py wear()): 60 wraps' worth of data
    "store.erase_spread": "<= 3",
    "store.erase_max_vs_mean": "<= 1.05",
    "store.bytes_per_reading": "<= 8",
}
# figures that describe the run rather than judge it (emitted without a goal)
INFORMATION = ("store.powercut_trials", "store.powercut_all_trials", "store.erase_mean",
               "store.erase_workload_cuts")


def run(bench, trials=20000):
    # 1 MB of simulated flash for the mount figure, plus the log and the torture model
    proc = micropython.run([str(HERE / "store_bench.py"), str(trials)], heapsize="4M",
                           timeout=900, extra_path=[HERE])
    emitted = set()
    for line in proc.stdout.splitlines():
        if line.startswith("# "):
            print(line)
        if not line.startswith("@@METRIC "):
            continue
        _, name, value, unit = line.split()
        number = float(value)
        if number == int(number) and "." not in value:
            number = int(number)
        bench.emit(name, number, unit, goal=GOALS.get(name))
        emitted.add(name)
    if proc.returncode or any(name not in emitted for name in tuple(GOALS) + INFORMATION):
        raise RuntimeError("store bench failed under MicroPython (exit %d):\n%s\n%s" % (
            proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))
