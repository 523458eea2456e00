"""MicroPython side of the poller tests and benchmarks: a concentrator around the poller.

    conc = Concentrator(spec)       # spec: dict from the CPython test (JSON on stdin or argv)
    conc.run(ms) ; conc.report()    # report() prints one "@@" JSON line per log record + stats

spec keys: "dir" (files), "meters" {point: archive entry} or "generate" {"count": N, "baud",
"parity"} (DL/T 645 meters 1..N on bus 1, built here so big archives cost no JSON), "buses" {bus: [device, baud,
parity]}, "settings" (overrides), "start" (wall seconds since 2000), "clock": "real" or "bus"
(virtual time that jumps while nobody waits on the wire, see BusClock), "state" (point ->
flags/last_energy presets).
"""
import binascii
import gc
import json
import sys
import time

from firmware.vclock import VirtualClock

gc.collect()
BASE_HEAP = gc.mem_alloc()      # the interpreter and the harness-only modules above


from firmware.archive import Archive  # noqa: E402
from firmware.hal.norflash import NorFlash  # noqa: E402
from firmware.hal.serial_tty import TtyPort  # noqa: E402
from firmware.kernel import Kernel  # noqa: E402
from firmware.poller import Poller  # noqa: E402
from firmware.log_records import unpack_readings  # noqa: E402
from firmware.ringlog import EVENT, READINGS, RingLog  # noqa: E402
from firmware.wallclock import WallClock  # noqa: E402
from protocol import settings  # noqa: E402


class _TrackedPoll:
    """select.poll that knows whether any stream is being waited on (a non-zero mask)."""

    def __init__(self):
        import select
        self.poll = select.poll()
        self.masks = {}

    def register(self, stream, mask=1):
        self.poll.register(stream, mask)
        self.masks[stream] = mask

    def modify(self, stream, mask):
        self.poll.modify(stream, mask)
        self.masks[stream] = mask

    def unregister(self, stream):
        self.poll.unregister(stream)
        self.masks.pop(stream, None)

    def ipoll(self, timeout=-1):
        return self.poll.ipoll(timeout)

    def waiting(self):
        for mask in self.masks.values():
            if mask:
                return True
        return False


class BusClock(VirtualClock):
    """Virtual time for plan tests against a real simulator: while a task waits on a stream
    (a reply on the wire) time runs at real speed; when every task only sleeps, it jumps to the
    next deadline, so a day of plans takes seconds and every reply still has its real time."""

    def poller(self):
        return _TrackedPoll()

    def wait_io(self, poll, timeout_ms):
        if poll.waiting():
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
        self.faults = []
        self.kernel.on_fault = lambda task, exc, text: self.faults.append(text)
        self.archive = Archive(d + "/meters.dat")
        meters = spec.pop("meters", None) or {}     # not kept: the heap figures exclude it
        batch = {}
        for point in meters:
            batch[int(point)] = meters[point]
            if len(batch) == 64:
                self.archive.apply(batch)
                batch = {}
        # "generate": {"count": N, "baud": B, "parity": P} -> dlt645 meters 1..N on bus 1
        gen = spec.get("generate")
        for point in range(1, (gen or {}).get("count", 0) + 1):
            batch[point] = {"protocol": "dlt645", "address": str(point), "bus": 1,
                            "baud": gen.get("baud", 2400), "parity": gen.get("parity", "E")}
            if len(batch) == 64:
                self.archive.apply(batch)
                batch = {}
        if batch:
            self.archive.apply(batch)
        meters = batch = None
        gc.collect()
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
        self.heap_peak = 0
        if self.spec.get("heap_sample_ms"):
            self.kernel.task_create(self._heap_sampler, 5, name="heap")
        if self.spec.get("ticker_ms"):
            self.ticks = []
            self.kernel.task_create(self._ticker, 6, name="ticker")

    async def _heap_sampler(self):
        # the live heap (after a collection) sampled while every task runs
        period = self.spec["heap_sample_ms"]
        while True:
            gc.collect()
            used = gc.mem_alloc() - BASE_HEAP
            if used > self.heap_peak:
                self.heap_peak = used
            await self.kernel.time_dly(period)

    async def _ticker(self):
        # another task with a fixed period (the uplink's heartbeat): its lateness is recorded
        period = self.spec["ticker_ms"]
        clock = self.clock
        due = clock.ticks_add(clock.ticks_ms(), period)
        while True:
            await self.kernel.time_dly(max(1, clock.ticks_diff(due, clock.ticks_ms())))
            self.ticks.append(clock.ticks_diff(clock.ticks_ms(), due))
            due = clock.ticks_add(due, period)

    def run_cycles(self, cycles, max_ms):
        """Run until every bus finished `cycles` cycles (or max_ms passed). With the spec's
        "count_alloc", the heap allocated meanwhile is counted (gc off: nothing is freed)."""
        clock = self.clock
        t0 = clock.ticks_ms()
        real0 = time.ticks_ms()         # with the bus clock, virtual time jumps between cycles
        count = self.spec.get("count_alloc")
        if count:
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
        buses = list(self.poller.buses.values())
        while clock.ticks_diff(clock.ticks_ms(), t0) < max_ms:
            self.kernel.run(100)
            done = True
            for bus in buses:
                if bus.cycles < cycles:
                    done = False
            if done:
                break
        self.real_ms = time.ticks_diff(time.ticks_ms(), real0)
        if count:
            self.allocated = gc.mem_alloc() - before
            gc.enable()

    def run(self, ms):
        self.kernel.run(ms)

    def forward(self, bus, hex_data, timeout_ms, byte_timeout_ms):
        """A task that forwards as the uplink would (AFN10 F1); [n, reply as hex (None:
        refused), milliseconds it took] lands in self.forwarded, n counting the requests."""
        self.forwarded = getattr(self, "forwarded", [])
        self.forwards = n = getattr(self, "forwards", 0) + 1
        data = binascii.unhexlify(hex_data)

        async def task():
            t0 = self.clock.ticks_ms()
            reply = await self.poller.forward(bus, data, timeout_ms, byte_timeout_ms)
            self.forwarded.append([n, None if reply is None else binascii.hexlify(reply).decode(),
                                   self.clock.ticks_diff(self.clock.ticks_ms(), t0)])
        self.kernel.task_create(task, 7 + n, name="forward%d" % n, on_fault=1)

    def records(self, first_seq=0):
        for seq, rtype, point, ts, payload in self.log.records(first_seq):
            if rtype == READINGS:
                yield {"seq": seq, "type": "readings", "point": point, "ts": ts,
                       "items": unpack_readings(payload)}
            elif rtype == EVENT:
                yield {"seq": seq, "type": "event", "point": point, "ts": ts,
                       "erc": payload[0], "data": [b for b in payload[1:]]}

    def report(self, extra=None):
        for rec in self.records():
            print("@@" + json.dumps(rec))
        out = {"stats": self.poller.stats(), "faults": self.faults, "now": self.wall.now(),
               "heap_peak": self.heap_peak, "ticks": getattr(self, "ticks", None),
               "relay": self.poller.relay.last, "allocated": getattr(self, "allocated", None),
               "forwarded": getattr(self, "forwarded", None),
               "real_ms": getattr(self, "real_ms", None)}
        if extra:
            out.update(extra)
        print("@@" + json.dumps({"type": "summary", "summary": out}))


def main():
    spec = json.loads(sys.stdin.readline())
    conc = Concentrator(spec)
    conc.start()
    if spec.get("cycles"):
        conc.run_cycles(spec["cycles"], spec.get("max_ms", 120000))
    for step in spec.get("steps", []):
        conc.run(step)
        print("@@" + json.dumps({"type": "pause", "now": conc.wall.now()}))
        line = sys.stdin.readline()         # the test changes the simulator, then says go
        if not line:
            break
        if line.startswith("{"):
            order = json.loads(line)
            for point, command in order.get("relay", []):
                conc.poller.relay.submit(point, command)
            for request in order.get("forward", []):
                conc.forward(*request)
            if order.get("time_sync"):
                conc.poller.request_time_sync()
    gc.collect()
    conc.report()
