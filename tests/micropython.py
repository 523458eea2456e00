"""Run code under the real MicroPython unix port from CPython tests and benchmarks.

The board-side packages are imported from build/mpy, compiled by mpy-cross as they are for a
board; MICROPYPATH puts the tests folder after them for test modules and helpers.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mpy"
TESTS = ROOT / "tests"
DEFAULT_HEAP = "192K"   # an ESP32 without PSRAM, board_configs/*.json "heap_budget_kb"


def micropython_path():
    here = Path(sys.executable).parent / "micropython"
    if here.exists():
        return str(here)
    found = shutil.which("micropython")
    if not found:
        raise RuntimeError("the micropython command is missing: run `make install`")
    return found


def ensure_build():
    from host_tools.build import build, host_march
    build(BUILD, march=host_march())


def run(args, heapsize=DEFAULT_HEAP, timeout=300, extra_path=(), cwd=None, input=None,
        build=BUILD):
    """Run `micropython -X heapsize=H ARGS...` with the board packages of `build`; return the
    CompletedProcess (text mode)."""
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(build)] + [str(p) for p in extra_path] +
                                         [str(TESTS), ".frozen"])
    cmd = [micropython_path(), "-X", "heapsize=%s" % heapsize] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=cwd, input=input)


def run_code(code, **kwargs):
    """Run a source string under MicroPython."""
    return run(["-c", code], **kwargs)
