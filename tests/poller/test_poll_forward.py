"""Transparent forwarding (AFN10 F1) through the bus task: the master station's frame goes out
on the bus as it is and the meter's reply comes back, between two meters of a cycle or at once
when the bus is idle; a bus that does not exist is refused, a silent address gives no bytes.
"""
from datetime import datetime

from host_tools.simulators.clock import ManualClock
from host_tools.simulators.meter_bus import MeterSimulator
from protocol import dlt645
from tests.poller.poll_support import run_poller, wall

ENERGY_FWD_TOTAL = 0x00010000


def test_a_forwarded_frame_reaches_the_meter_and_its_reply_comes_back(tmp_path):
    config = {"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
              "meters": [{"address": "1", "energy_kwh": 1234.56}, {"address": "2"}]}
    clock = ManualClock(datetime(2026, 3, 5, 10, 20))
    read_1 = dlt645.build_read("1", ENERGY_FWD_TOTAL, preamble=4)
    read_absent = dlt645.build_read("77", ENERGY_FWD_TOTAL)
    with MeterSimulator.from_dict(config, clock=clock) as sim:
        spec = {"meters": {"1": {"protocol": "dlt645", "address": "1", "baud": 9600},
                           "2": {"protocol": "dlt645", "address": "2", "baud": 9600}},
                "buses": {"1": [sim.device_path, 9600, "E"]}, "clock": "bus",
                "start": wall(2026, 3, 5, 10, 20), "steps": [2000, 2000, 2000],
                "settings": {"plan.realtime_min": 60, "plan.curve_min": 0}}

        def pause(i, now):
            if i == 0:      # the bus is idle after its boot cycle
                return {"forward": [[1, read_1.hex(), 2000, 100], [9, read_1.hex(), 2000, 100]]}
            if i == 1:
                return {"forward": [[1, read_absent.hex(), 300, 100]]}
            return None

        result = run_poller(spec, tmp_path, on_pause=pause, heapsize="512K")
        energy = sim.meter("000000000001").model.forward_active_kwh()[0]
    by_request = {n: (reply, ms) for n, reply, ms in result.summary["forwarded"]}
    assert by_request[2][0] is None                   # no bus 9: refused at once
    reply = dlt645.parse_frame(bytes.fromhex(by_request[1][0]))
    assert reply.address == "000000000001" and reply.di == ENERGY_FWD_TOTAL
    assert reply.from_meter and not reply.abnormal
    shown = int(bytes(reversed(reply.payload)).hex()) / 100       # XXXXXX.XX kWh, BCD
    assert shown == float(energy) == 1234.56
    silent, took_ms = by_request[3]
    assert silent == "" and 300 <= took_ms < 2000      # nothing came back within its timeout
    assert result.stats[0]["reads_failed"] == 0        # polling went on around the forwards
