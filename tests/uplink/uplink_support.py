"""Shared plumbing of the uplink tests and bench: the board script under MicroPython, the modem
simulator on a pty between it and the test master station."""
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from host_tools.simulators.at_modem import Faults, start_modem  # noqa: E402
from tests import micropython  # noqa: E402
from uplink_master import TestMaster  # noqa: E402,F401


class Board:
    """The board script running under MicroPython (a background process)."""

    def __init__(self, config, heapsize="384K"):
        self.tmp = tempfile.TemporaryDirectory()
        config = dict(config)
        config.setdefault("image", os.path.join(self.tmp.name, "data.img"))
        # the config goes in a file: the unix port aborts ("uncaught NLR") on an argument of
        # 256 characters or more
        path = os.path.join(self.tmp.name, "config.json")
        with open(path, "w") as f:
            json.dump(config, f)
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join([str(micropython.BUILD), str(HERE),
                                              str(micropython.TESTS), ".frozen"])
        self.proc = subprocess.Popen(
            [micropython.micropython_path(), "-X", "heapsize=%s" % heapsize,
             str(HERE / "uplink_board.py"), path],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def stop(self):
        """End the board's process if it still runs (a test that failed before its result)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def result(self, timeout=120):
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            raise AssertionError("board did not finish:\n%s\n%s" % (
                out[-3000:], err[-3000:])) from None
        finally:
            self.tmp.cleanup()
        for line in out.splitlines():
            if line.startswith("@@RESULT "):
                result = json.loads(line[9:])
                result["output"] = out
                return result
        raise AssertionError("board failed (exit %s):\n%s\n%s" % (
            self.proc.returncode, out[-3000:], err[-3000:]))


def modem_for(master, dialect="sim800", faults=None, link_bps=400000):
    return start_modem((master.host, master.port), dialect=dialect,
                       faults=faults or Faults(), link_bps=link_bps)
