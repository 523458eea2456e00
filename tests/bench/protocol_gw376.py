"""Q/GDW 1376.1 parse, build and deframe rates under CPython and MicroPython.

Part of `make bench ONLY=protocol`. The frames are the uplink's daily traffic: captured
vectors (/work/shared/vectors/gw376_captured.tsv: heartbeat, AFN0C F129 and F25 replies, AFN0D
F1 daily frozen reply, the master's AFN0C request) plus an AFN0E event report with ACD/EC and a
two-meter AFN04 F10 archive built by the codec. "Parse" is a whole frame down to decoded data
units; "build" is one heartbeat, one AFN00 confirm and one AFN0C F129 reply; "deframe" feeds
all those frames (with a little noise) through the allocation-free in-place Deframer loop.
The same workload source runs on both interpreters.
"""
from tests.bench.rates import cpython_rates, micropython_rates

WORKLOAD = """
import binascii
from protocol import gw376
from protocol.gw376_deframer import Deframer
FRAMES = [binascii.unhexlify(h) for h in (
    "683200320068c97101220800027900000400e416",
    "684a004a00684b71012208020ce2010101100239191628007c16",
    "68c600c600688871012208020ca2010101101816280818040001000000"
    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0239191628008c16",
    "6856015601688871012208020cab010101034716280818000000000000"
    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee00100010eeeeeeee2724eeeeeeee000000"
    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0b13491628004a16",
    "68c201c201688871012208020de5010101002708185923270818040001000000" + "ee" * 80 +
    "0505341628000616",
)]
METER = {"serial": 1, "point": 1, "baud": 2400, "port": 2, "protocol": 30,
         "address": "000000123456", "password": bytes(6), "tariffs": 4, "integer_digits": 6,
         "decimal_digits": 2, "collector": "000000000000", "user_class": 1, "user_subclass": 0}
EVENTS = {"ec_important": 2, "ec_normal": 0, "pm": 0, "pn": 2, "records": [
    {"erc": 14, "power_off": (2024, 3, 1, 10, 0), "power_on": (2024, 3, 1, 10, 5)},
    {"erc": 31, "time": (2024, 3, 1, 11, 0), "pn": 7, "start": 1,
     "last_read_time": (2024, 3, 1, 10, 45), "forward_active": 1234567,
     "forward_reactive": 55}]}
FRAMES.append(gw376.build(gw376.Frame(0x0E, [(0, 1, EVENTS)], gw376.UP, 1, area=171,
                                      terminal=2082, acd=1, ec=(2, 0))))
FRAMES.append(gw376.build(gw376.Frame(0x04, [(0, 10, {"meters": [METER, METER]})],
                                      area=171, terminal=2082, pw=bytes(16))))
REQUEST = gw376.parse(FRAMES[1])
ENERGY = {"read_time": (2024, 3, 2, 0, 5), "tariffs": 4,
          "forward_active": [1234567890, 1, 2, 3, 4]}

def parse_one():
    for raw in FRAMES:
        gw376.parse(raw)

def build_one():
    gw376.build(gw376.link_frame(3, 171, 2082, 5))
    gw376.build(gw376.confirm(REQUEST))
    gw376.build(gw376.response(REQUEST, [(1, 129, ENERGY)]))

DEFRAMER = Deframer(2048)
STREAM = b"".join(FRAMES) + b"\\x00\\x68\\x01"

def deframe_one():
    pos = 0
    while True:
        pos = DEFRAMER.feed(STREAM, pos)
        if not DEFRAMER.frame_length:
            break
"""
PARSE_FRAMES = 7        # frames per parse_one() call
BUILD_FRAMES = 3        # frames per build_one() call

def run(bench, seconds=1.0):
    names = ("parse_one", "build_one", "deframe_one")
    for runtime in ("cpython", "micropython"):
        if runtime == "cpython":
            rates, space = cpython_rates(WORKLOAD, names, seconds, batch=10)
            stream_bytes = len(space["STREAM"])
        else:
            rates = micropython_rates(WORKLOAD, names, seconds, batch=10)
        bench.emit("protocol.gw376.parse_per_s." + runtime,
                   round(rates["parse_one"] * PARSE_FRAMES), "frames/s")
        bench.emit("protocol.gw376.build_per_s." + runtime,
                   round(rates["build_one"] * BUILD_FRAMES), "frames/s")
        bench.emit("protocol.gw376.deframe_bytes_per_s." + runtime,
                   round(rates["deframe_one"] * stream_bytes), "bytes/s")
