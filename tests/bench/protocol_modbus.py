"""Modbus RTU parse and build rates under CPython and MicroPython (part of `make bench ONLY=protocol`).

The workload is what a concentrator does per Modbus meter read: build a 04 request, parse the
reply (8 float32 registers: an SDM630's three voltages and first current) against it, and turn
the values into stored integers; and, on MicroPython, cut that reply out of the byte stream with
the silence framer. The same code runs on both interpreters.
"""
import json
import time

from tests import micropython

WORKLOAD = """
from protocol import modbus
REQUEST = modbus.read_request(1, 4, 0, 8)
REPLY = modbus.read_reply(1, 4, b"Cf\\x19\\x9aCg\\x00\\x00Ce\\xe6fA\\xa4\\x00\\x00")

def parse_one():
    message = modbus.parse_reply(REPLY, None, modbus.parse_request(REQUEST))
    for i in range(0, 8, 2):
        message.scaled(i, "float32", 1)

def build_one():
    modbus.read_request(1, 4, 0, 8)
    modbus.write_multiple_request(1, 0x14, [0x4000, 0])

FRAMER = modbus.RtuFramer(9600)
CLOCK = [0]

def frame_one():
    # one 21-byte reply through the silence framer (CRC check included), allocation-free
    t = CLOCK[0] + 10000
    CLOCK[0] = t
    FRAMER.feed(REPLY, t)
    FRAMER.poll(t + 5000)
"""

TIMER = """
import json, time
def rate(fn, seconds):
    n = 0
    start = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), start) < seconds * 1000:
        for _ in range(50):
            fn()
        n += 50
    return n * 1000 / time.ticks_diff(time.ticks_ms(), start)
print(json.dumps({"parse": rate(parse_one, %(seconds)s), "build": rate(build_one, %(seconds)s),
                  "frame": rate(frame_one, %(seconds)s)}))
"""


def _rate(fn, seconds):
    n = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(50):
            fn()
        n += 50
    return n / (time.perf_counter() - start)


def run(bench, seconds=1.0):
    space = {}
    exec(WORKLOAD, space)
    bench.emit("protocol.modbus.parse_per_s.cpython", round(_rate(space["parse_one"], seconds)),
               "frames/s")
    bench.emit("protocol.modbus.build_per_s.cpython", round(_rate(space["build_one"], seconds)),
               "frames/s")
    proc = micropython.run_code(WORKLOAD + TIMER % {"seconds": seconds}, timeout=120)
    if proc.returncode:
        raise RuntimeError("MicroPython bench failed: %s" % proc.stderr.strip()[-500:])
    rates = json.loads(proc.stdout.strip().splitlines()[-1])
    bench.emit("protocol.modbus.parse_per_s.micropython", round(rates["parse"]), "frames/s")
    bench.emit("protocol.modbus.build_per_s.micropython", round(rates["build"]), "frames/s")
    bench.emit("protocol.modbus.framer_per_s.micropython", round(rates["frame"]), "frames/s",
               bytes_per_frame=21)
