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
print(json.dumps(dict((name, _rate(globals()[name], %(seconds)r, %(batch)d)) for name in %(names)r)))
"""


def rate(fn, seconds, batch=20):
    """Calls of fn per second over about `seconds` (calls are batched to keep timing cheap)."""
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(batch):
            fn()
        n += batch
    return n / (time.perf_counter() - start)


def cpython_rates(workload, names, seconds, batch=20):
    """{name: calls/s} for functions defined by `workload`, run here; also the namespace."""
    space = {}
    exec(workload, space)
    return {name: rate(space[name], seconds, batch) for name in names}, space


def micropython_rates(workload, names, seconds, batch=20):
    """{name: calls/s} for the same functions run under MicroPython (compiled packages)."""
    code = workload + _MICROPYTHON_TIMER % {"seconds": seconds, "batch": batch,
                                           "names": list(names)}
    proc = micropython.run_code(code, timeout=120)
    if proc.returncode:
        raise RuntimeError("MicroPython bench failed: %s" % proc.stderr.strip()[-500:])
    return json.loads(proc.stdout.strip().splitlines()[-1])
