"""Modbus RTU parse and build rates under CPython and MicroPython (part of `make bench ONLY=protocol`).

The workload is what a concentrator does per Modbus meter read: build a 04 request, parse the
reply (8 float32 registers: an SDM630's three voltages and first current) against it, and turn
the values into stored integers; and, on MicroPython, cut that reply out of the byte stream with
the silence framer. The same code runs on both interpreters.
"""
from tests.bench.rates import cpython_rates, micropython_rates

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

def run(bench, seconds=1.0):
    rates, _ = cpython_rates(WORKLOAD, ("parse_one", "build_one"), seconds, batch=50)
    bench.emit("protocol.modbus.parse_per_s.cpython", round(rates["parse_one"]), "frames/s")
    bench.emit("protocol.modbus.build_per_s.cpython", round(rates["build_one"]), "frames/s")
    rates = micropython_rates(WORKLOAD, ("parse_one", "build_one", "frame_one"), seconds,
                              batch=50)
    bench.emit("protocol.modbus.parse_per_s.micropython", round(rates["parse_one"]), "frames/s")
    bench.emit("protocol.modbus.build_per_s.micropython", round(rates["build_one"]), "frames/s")
    bench.emit("protocol.modbus.framer_per_s.micropython", round(rates["frame_one"]), "frames/s",
               bytes_per_frame=21)
