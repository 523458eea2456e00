"""A meter that never answers costs its own bus time only: other tasks keep their schedule.

Real clock (the board's). Bus 1 holds silent meters at 2400 baud (every attempt waits its full
reply timeout, about 0.6 s) and bus 2 a healthy meter; a third task wakes every 50 ms the way
the uplink's heartbeat would. If a wait on the wire blocked the kernel, the ticker would be
late by a whole timeout and the healthy bus would not get its readings in the same seconds.
"""
from firmware import quantities as qs
from host_tools.simulators.meter_bus import MeterSimulator
from tests.poller.poll_support import run_poller, wall


def test_a_silent_meter_does_not_stall_the_other_tasks(tmp_path):
    slow = {"bus": {"baud": 2400, "parity": "E", "turnaround_ms": 30},
            "meters": [{"address": "1", "count": 3, "faults": {"no_reply_pct": 100}}]}
    healthy = {"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
               "meters": [{"address": "21"}]}
    with MeterSimulator.from_dict(slow) as sim1, MeterSimulator.from_dict(healthy) as sim2:
        meters = {str(p): {"protocol": "dlt645", "address": str(p), "bus": 1, "baud": 2400}
                  for p in (1, 2, 3)}
        meters["21"] = {"protocol": "dlt645", "address": "21", "bus": 2, "baud": 9600}
        spec = {"meters": meters,
                "buses": {"1": [sim1.device_path, 2400, "E"], "2": [sim2.device_path, 9600, "E"]},
                "start": wall(2026, 3, 5, 0, 1), "ticker_ms": 50, "steps": [3000],
                "settings": {"plan.realtime_min": 60, "plan.curve_min": 0,
                             "plan.realtime_items": "energy_fwd_block,voltage_block"}}
        result = run_poller(spec, tmp_path, heapsize="512K")
    bus1, bus2 = result.stats
    assert bus1["timeouts"] >= 3 and bus1["replies"] == 0      # bus 1 spent the run waiting
    assert bus2["cycles"] == 1 and len(result.values(21, qs.REALTIME)) == 1
    ticks = result.summary["ticks"]
    # 3 s at 50 ms: about 60 wake-ups, none of them a reply timeout (~600 ms) late
    assert len(ticks) >= 45
    assert max(ticks) < 300
