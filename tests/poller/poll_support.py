"""CPython side of the poller tests: a meter simulator on a pty, the poller under MicroPython.

`run_poller(spec, tmp_path, on_pause)` starts MicroPython with tests/poller/poll_harness.py,
hands it the spec (JSON on stdin), calls `on_pause(i, now)` at each pause between the spec's
"steps" (the test changes the simulator there: faults, registers; it may return
{"relay": [[point, command]], "time_sync": true} for the poller), and returns a `Result` with the log's records
(readings and events, decoded) and the poller's statistics.
"""
import json
import os
import subprocess

from protocol import clock_math
from tests import micropython

HERE = os.path.dirname(os.path.abspath(__file__))


def wall(year, month, day, hour=0, minute=0, second=0):
    return clock_math.to_seconds(year, month, day, hour, minute, second)


class Result:
    def __init__(self, records, summary, stderr):
        self.records = records
        self.summary = summary
        self.stderr = stderr

    @property
    def stats(self):
        return self.summary["stats"]

    def readings(self, point=None):
        return [r for r in self.records if r["type"] == "readings"
                and (point is None or r["point"] == point)]

    def events(self, erc=None, point=None):
        return [r for r in self.records if r["type"] == "event"
                and (erc is None or r["erc"] == erc) and (point is None or r["point"] == point)]

    def values(self, point, kind=0):
        """[{quantity: value}] per batch of `kind` (0 realtime, 1 curve, 2 frozen, 3 midnight)."""
        out = []
        for r in self.readings(point):
            batch = {item & 63: value for item, value in r["items"] if item >> 6 == kind}
            if batch:
                out.append((r["ts"], batch))
        return out


def run_poller(spec, tmp_path, on_pause=None, heapsize="256K", timeout=120):
    spec = dict(spec)
    spec["dir"] = str(tmp_path)
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(micropython.BUILD), HERE,
                                          str(micropython.TESTS), ".frozen"])
    proc = subprocess.Popen(
        [micropython.micropython_path(), "-X", "heapsize=%s" % heapsize, "-c",
         "import poll_harness; poll_harness.main()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    records, summary, pauses, other = [], None, 0, []
    try:
        proc.stdin.write(json.dumps(spec) + "\n")
        proc.stdin.flush()
        for line in proc.stdout:
            if not line.startswith("@@"):
                other.append(line)
                continue
            msg = json.loads(line[2:])
            if msg["type"] == "pause":
                answer = on_pause(pauses, msg["now"]) if on_pause is not None else None
                pauses += 1
                proc.stdin.write(json.dumps(answer) + "\n" if answer else "go\n")
                proc.stdin.flush()
            elif msg["type"] == "summary":
                summary = msg["summary"]
            else:
                records.append(msg)
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    if summary is None:
        raise AssertionError("the MicroPython poller did not finish (exit %s):\n%s"
                             % (proc.returncode, ("".join(other) + stderr)[-3000:]))
    if summary["faults"]:
        raise AssertionError("a poller task raised:\n" + summary["faults"][0])
    return Result(records, summary, stderr)
