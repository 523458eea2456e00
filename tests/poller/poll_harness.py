"""MicroPython side of the poller tests and benchmarks: a concentrator around the poller.

    conc = Concentrator(spec)       # spec: dict from the CPython test (JSON on stdin or argv)
    conc.run(ms) ; conc.report()    # report() prints one "@@" JSON line per log record + stats

spec keys: "dir" (files), "meters" {point: archive entry}, "buses" {bus: [device, baud,
parity]}, "settings" (overrides), "start" (wall seconds since 2000), "clock": "real" or "bus"
(virtual time that jumps while nobody waits on the wire, see BusClock), "state" (point ->
flags/last_energy presets).
"""
import gc
import json
import sys
import time

from firmware.archive import Archive
from firmware.hal.norflash import NorFlash
from firmware.hal.serial import TtyPort
from firmware.kernel import Kernel
from firmware.poller import Poller
from firmware.records import unpack_readings
from firmware.ringlog import EVENT, READINGS, RingLog
from firmware.vclock import VirtualClock
from firmware.wallclock import WallClock
from protocol import settings


class BusClock(VirtualClock):
    """Virtual time for plan tests against a real simulator: while a task waits on a stream
    (a reply on the wire) time runs at real speed; when every task only sleeps, it jumps to the
    next deadline, so a day of plans takes seconds and every reply still has its real time."""

    kernel = None

    def wait_io(self, poll, timeout_ms):
        k = self.kernel
        if k is not None and k._io_waiting:
            t0 = time.ticks_ms()
            events = [(s, e) for s, e in poll.ipoll(timeout_ms)]
            self.advance(max(1, time.ticks_diff(time.ticks_ms(), t0)))
            return iter(events)
        return VirtualClock.wait_io(self, poll, timeout_ms)


class Concentrator:
    def __init__(self, spec):
        self.spec = spec
        d = spec["dir"]
        if spec.get("clock") == "bus":
            self.clock = BusClock(1000)
        else:
            from firmware.hal import clock
            self.clock = clock
        self.kernel = Kernel(self.clock)
        if spec.get("clock") == "bus":
            self.clock.kernel = self.kernel
        self.faults = []
        self.kernel.on_fault = lambda task, exc, text: self.faults.append(text)
        self.archive = Archive(d + "/meters.dat")
        meters = spec.get("meters") or {}
        if meters:
            batch = {}
            for point in meters:
                batch[int(point)] = meters[point]
                if len(batch) == 64:
                    self.archive.apply(batch)
                    batch = {}
            if batch:
                self.archive.apply(batch)
        self.flash = NorFlash(block_size=4096, block_count=spec.get("log_blocks", 64),
                              path=d + "/log.img")
        self.log = RingLog(self.flash, create=True)
        cfg = settings.defaults()
        cfg.update(spec.get("settings") or {})
        self.wall = WallClock(self.clock, spec.get("start", 0))
        ports = {}
        for bus in spec.get("buses") or {}:
            device, baud, parity = spec["buses"][bus]
            ports[int(bus)] = TtyPort(device, baud, parity)
        self.poller = Poller(self.kernel, self.clock, self.wall, self.archive, self.log, cfg,
                             ports)
        for point, preset in (spec.get("state") or {}).items():
            p = int(point)
            self.poller.state.flags[p] = preset.get("flags", 0)
            self.poller.state.last_energy[p] = preset.get("last_energy", 0)

    def start(self, prio=20):
        self.poller.start(prio)

    def run(self, ms):
        self.kernel.run(ms)

    def records(self, first_seq=0):
        out = []
        for seq, rtype, point, ts, payload in self.log.records(first_seq):
            if rtype == READINGS:
                out.append({"seq": seq, "type": "readings", "point": point, "ts": ts,
                            "items": unpack_readings(payload)})
            elif rtype == EVENT:
                out.append({"seq": seq, "type": "event", "point": point, "ts": ts,
                            "erc": payload[0], "data": [b for b in payload[1:]]})
        return out

    def report(self, extra=None):
        for rec in self.records():
            print("@@" + json.dumps(rec))
        out = {"stats": self.poller.stats(), "faults": self.faults, "now": self.wall.now()}
        if extra:
            out.update(extra)
        print("@@" + json.dumps({"type": "summary", "summary": out}))


def main():
    spec = json.loads(sys.stdin.readline())
    conc = Concentrator(spec)
    conc.start()
    for step in spec.get("steps", [spec.get("run_ms", 1000)]):
        conc.run(step)
        print("@@" + json.dumps({"type": "pause", "now": conc.wall.now()}))
        line = sys.stdin.readline()         # the test changes the simulator, then says go
        if not line:
            break
    gc.collect()
    conc.report()
