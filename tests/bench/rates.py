"""Calls per second of workload functions, under CPython and under the real MicroPython.

A workload is Python source that defines the functions to time; the same source runs on both
interpreters, so the two figures measure the same code.
"""
import json
import time

from tests import micropython

_MICROPYTHON_TIMER = """
import json, time
def _rate(fn, seconds, batch):
    n = 0
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < seconds * 1000:
        for _ in range(batch):
            fn()
        n += batch
    return n * 1000 / time.ticks_diff(time.ticks_ms(), start)
# The unix port has only a wall clock, so a host that deschedules the process slows whichever
# function runs then: the names take turns in ROUNDS short rounds and each keeps its best.
_best = {}
for _round in range(%(rounds)d):
    for _name in %(names)r:
        _r = _rate(globals()[_name], %(seconds)r / %(rounds)d, %(batch)d)
        _best[_name] = max(_best.get(_name, 0), _r)
print(json.dumps(_best))
"""


def rate(fn, seconds, batch=20, clock=time.perf_counter):
    """Calls of fn per second over about `seconds` (calls are batched to keep timing cheap).

    `clock=time.process_time` counts only the CPU time this process got: calls per CPU second,
    for CPU-bound code measured on a machine shared with other work.
    """
    n = 0
    start = clock()
    while clock() - start < seconds:
        for _ in range(batch):
            fn()
        n += batch
    return n / (clock() - start)


def cpython_rates(workload, names, seconds, batch=20, clock=time.perf_counter):
    """{name: calls/s} for functions defined by `workload`, run here; also the namespace."""
    space = {}
    exec(workload, space)
    return {name: rate(space[name], seconds, batch, clock) for name in names}, space


def micropython_rates(workload, names, seconds, batch=20, heapsize=None, rounds=5):
    """{name: calls/s} for the same functions run under MicroPython (compiled packages): the
    best of `rounds` turns of seconds / rounds each, the names alternating."""
    code = workload + _MICROPYTHON_TIMER % {"seconds": seconds, "batch": batch,
                                           "names": list(names), "rounds": rounds}
    proc = micropython.run_code(code, timeout=120, **({"heapsize": heapsize} if heapsize else {}))
    if proc.returncode:
        raise RuntimeError("MicroPython bench failed: %s" % proc.stderr.strip()[-500:])
    return json.loads(proc.stdout.strip().splitlines()[-1])
