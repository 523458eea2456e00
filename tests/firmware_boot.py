"""The whole firmware booted under the MicroPython unix port as firmware/main.py boots it on a
board, in a scratch folder that stands for the board's flash (board.json, config.json,
meters.dat): for the tests and benchmarks that measure or question the booted firmware.

    result = firmware_boot.run(firmware_boot.BOOT + MEASURE, folder, heapsize="512K")

The script prints its result as one JSON line starting with "@@"; `run` returns it.
"""
import json
import os
import subprocess

from tests import micropython

# Board code: `c`, the booted Concentrator (firmware/main.py's boot, without its kernel run);
# `BASE`, the live heap before the firmware's first import.
BOOT = """
import gc
gc.collect()
BASE = gc.mem_alloc()
import json
from firmware import concentrator
c = concentrator.Concentrator()
concentrator.current = c
from firmware import startup
startup.boot(c)
startup = None
concentrator.unload("firmware.startup")
"""


def run(script, folder, heapsize=micropython.DEFAULT_HEAP, timeout=300):
    """The JSON document `script` printed on its "@@" line, run in `folder`, with "output" (all
    it printed) added; RuntimeError with the end of the output when it printed none."""
    micropython.ensure_build()
    # Only the board's packages on the path, as on a board: the tests folder would shadow
    # modules the firmware looks for (tests/vboard is not the virtual board's `vboard`).
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(micropython.BUILD), ".frozen"]))
    proc = subprocess.run([micropython.micropython_path(), "-X", "heapsize=%s" % heapsize,
                           "-c", script], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=str(folder))
    output = proc.stdout + proc.stderr
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            result = json.loads(line[2:])
            result["output"] = output
            return result
    raise RuntimeError("the booted firmware printed no result:\n" + output[-3000:])
