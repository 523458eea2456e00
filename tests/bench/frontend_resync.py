"""Deframer resync rates on hostile input, under CPython and MicroPython (issue 15).

The hostile stream is what blocked the station's event loop for 13 s: overlapping plausible
1376.1 headers, `68 FE FF FE FF 68` repeated (each claims 16383 bytes of user data, so only its
checksum 16391 bytes later refutes it), 42 KB of them and then the bytes that refute the last
ones. The station's deframer (16383 bytes of user data) takes it in 4 KB reads, as a TCP socket
delivers it: `frontend.resync_mb_per_s` (goal >= 1 MB/s). On the board the same attack with the
board's deframer (2048 bytes of user data, headers claiming 2040) reaches the uplink:
`.micropython`. Beside each, the ratio to the rate of clean traffic (captured frames back to
back) through the same deframer in the same run: a hostile byte of 1376.1 may cost at most
twice an honest one (goal >= 0.5; a resync that rescans per false start reads about 0.001
here). The hostile stream holds a plausible header every 6 bytes, each refuted by its own
checksum, where the honest one holds a frame every 34 bytes: a false start must cost well
under what a frame does (a header match, two block sums, no call). The DL/T 645 deframer, which
reads the meter bus, gets the same treatment with headers claiming 200 bytes (`.dlt645`, goal
>= 0.25).

CPython rates are per CPU second of the process (time.process_time), so a machine busy with
other work does not count against the deframer; MicroPython's are wall time of its process.
"""
import time

from tests.bench.rates import cpython_rates, micropython_rates

WORKLOAD = """
import binascii
from protocol.gw376_deframer import Deframer
from protocol.dlt645_deframer import Deframer as Dlt645Deframer

CAPTURED = binascii.unhexlify(
    "683200320068c97101220800027900000400e416"
    "684a004a00684b71012208020ce2010101100239191628007c16"
    "68c600c600688871012208020ca2010101101816280818040001000000"
    "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee0239191628008c16")
READ_RSP = binascii.unhexlify("6861100130121568910833333433ab3933334916")
READ = 4096

def chunks(stream, size):
    return [stream[i:i + size] for i in range(0, len(stream), size)]

if STATION:
    GW = Deframer()
    GW_HOSTILE = chunks(b"\\x68\\xfe\\xff\\xfe\\xff\\x68" * 7000 + bytes(16391), READ)
else:
    GW = Deframer(2048)
    GW_HOSTILE = chunks(b"\\x68\\xe2\\x1f\\xe2\\x1f\\x68" * 7000 + bytes(2048), READ)
GW_CLEAN = chunks(CAPTURED * (len(GW_HOSTILE) * READ // len(CAPTURED)), READ)
DLT = Dlt645Deframer()
DLT_HOSTILE = chunks(binascii.unhexlify("68AAAAAAAAAAAA6811C8") * 4000 + bytes(212), 256)
DLT_CLEAN = chunks(READ_RSP * (len(DLT_HOSTILE) * 256 // len(READ_RSP)), 256)

def stream_bytes(pieces):
    return sum(len(piece) for piece in pieces)

def gw_pump(pieces):
    GW.reset()
    frames = 0
    for chunk in pieces:
        pos = 0
        while True:
            pos = GW.feed(chunk, pos)
            if not GW.frame_length:
                break
            frames += 1
    return frames

def dlt_pump(pieces):
    DLT.reset()
    frames = 0
    for chunk in pieces:
        taken = DLT.feed(chunk)
        while DLT.next_frame():
            frames += 1
        if taken < len(chunk):
            raise RuntimeError("chunk not taken")
    return frames

def gw_hostile():
    gw_pump(GW_HOSTILE)

def gw_clean():
    gw_pump(GW_CLEAN)

def dlt_hostile():
    dlt_pump(DLT_HOSTILE)

def dlt_clean():
    dlt_pump(DLT_CLEAN)

SIZES = {"gw_hostile": stream_bytes(GW_HOSTILE), "gw_clean": stream_bytes(GW_CLEAN),
         "dlt_hostile": stream_bytes(DLT_HOSTILE), "dlt_clean": stream_bytes(DLT_CLEAN)}
"""
NAMES = ("gw_hostile", "gw_clean", "dlt_hostile", "dlt_clean")


def run(bench, seconds=2.0):
    for runtime in ("cpython", "micropython"):
        if runtime == "cpython":
            rates, space = cpython_rates("STATION = True\n" + WORKLOAD, NAMES, seconds, batch=1,
                                         clock=time.process_time)
        else:
            rates = micropython_rates("STATION = False\n" + WORKLOAD, NAMES, seconds, batch=1,
                                      heapsize="1M")
            space = {}
            exec("STATION = False\n" + WORKLOAD, space)
        mb_per_s = {name: rates[name] * space["SIZES"][name] / 1e6 for name in NAMES}
        suffix = "" if runtime == "cpython" else "." + runtime
        bench.emit("frontend.resync_mb_per_s" + suffix, round(mb_per_s["gw_hostile"], 3),
                   "MB/s", goal=">= 1" if runtime == "cpython" else None,
                   deframer="station 16383" if runtime == "cpython" else "board 2048")
        bench.emit("frontend.resync_vs_clean" + suffix,
                   round(mb_per_s["gw_hostile"] / mb_per_s["gw_clean"], 2), "x",
                   goal=">= 0.5", clean_mb_per_s=round(mb_per_s["gw_clean"], 3))
        bench.emit("frontend.resync_mb_per_s.dlt645" + suffix, round(mb_per_s["dlt_hostile"], 3),
                   "MB/s")
        bench.emit("frontend.resync_vs_clean.dlt645" + suffix,
                   round(mb_per_s["dlt_hostile"] / mb_per_s["dlt_clean"], 2), "x",
                   goal=">= 0.25", clean_mb_per_s=round(mb_per_s["dlt_clean"], 3))
