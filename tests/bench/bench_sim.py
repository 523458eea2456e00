"""`make bench ONLY=sim`: how much bus time the meter simulator wastes, read by a host client.

`sim.bus_efficiency`: 8 DL/T 645-2007 meters x 6 items at 2400 baud 8E1 with a 30 ms
turnaround, read one request at a time by `conc probe`'s MeterLink: the wire-time lower bound
(request + reply bytes x 11 bits / baud + turnaround, summed) divided by the elapsed time. The
firmware's `poll.bus_efficiency` (goal >= 0.85) cannot beat what the simulator allows, so this
one must sit well above it.
"""
import time

from host_tools.meter_link import MeterLink
from host_tools.simulators.meter_bus import MeterSimulator
from protocol import dlt645

ITEMS = (0x00010000, 0x0001FF00, 0x02010100, 0x02020100, 0x02030000, 0x04000503)


def run(bench):
    meters = [{"address": str(n), "energy_kwh": 100.0 * n} for n in range(1, 9)]
    sim = MeterSimulator.from_dict({"bus": {"baud": 2400, "parity": "E", "turnaround_ms": 30},
                                    "meters": meters}).start()
    link = MeterLink(sim.device_path, 2400, "E", turnaround_ms=500, retries=0)
    char = 11 / 2400.0
    try:
        lower_bound = 0.0
        started = time.monotonic()
        for meter in meters:
            address = meter["address"].zfill(12)
            for di in ITEMS:
                request = dlt645.build_read(address, di)
                frame, _, _ = link.dlt645_transaction(request, address, dlt645.READ, 40)
                reply_len = 12 + len(frame.data)
                lower_bound += (len(request) + reply_len) * char + 0.030
        elapsed = time.monotonic() - started
    finally:
        link.close()
        sim.stop()
    bench.emit("sim.bus_efficiency", round(lower_bound / elapsed, 3), "ratio", goal=">= 0.95",
               transactions=len(meters) * len(ITEMS), elapsed_s=round(elapsed, 2))
