"""Relay control through the bus task's command queue, confirmed by status word 3; a time
sync the master asks for.

Meter 1 has password 02123456 and the archive knows it; meter 2's archive entry has the wrong
password. After the boot cycle the test queues a trip for both (as the uplink would), then a
permit-close for meter 1: each command the meter carried out must leave the standard's ERC33
(meter status word change) with status word 3 as the poller read it back and the relay bit
flagged as changed, the refused one none, and the simulated relays must have done what the
events say.
"""
from datetime import datetime

from firmware import events as ev
from host_tools.simulators.clock import ManualClock
from host_tools.simulators.meter_bus import MeterSimulator
from protocol import dlt645
from tests.poller.event_decode import decode
from tests.poller.poll_support import run_poller, wall


def test_trip_and_close_are_confirmed_through_status_word_3(tmp_path):
    config = {"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
              "meters": [{"address": "1", "password": "02123456"}, {"address": "2"}]}
    clock = ManualClock(datetime(2026, 3, 5, 10, 20))
    seen = {}
    with MeterSimulator.from_dict(config, clock=clock) as sim:
        spec = {"meters": {"1": {"protocol": "dlt645", "address": "1", "baud": 9600,
                                 "password": "02123456"},
                           "2": {"protocol": "dlt645", "address": "2", "baud": 9600,
                                 "password": "02999999"}},
                "buses": {"1": [sim.device_path, 9600, "E"]}, "clock": "bus",
                "start": wall(2026, 3, 5, 10, 20), "steps": [2000, 2000, 2000],
                "settings": {"plan.realtime_min": 60, "plan.curve_min": 0}}

        def pause(i, now):
            if i == 0:
                return {"relay": [[1, "trip"], [2, "trip"]]}
            if i == 1:
                seen["open_after_trip"] = (sim.meter("000000000001").model.relay_open,
                                           sim.meter("000000000002").model.relay_open)
                seen["broadcasts"] = sim.meter("000000000001").model.broadcast_times
                # the master set the clock: the meters get it without waiting for 03:17
                return {"relay": [[1, "permit_close"]], "time_sync": True}
            return None

        result = run_poller(spec, tmp_path, on_pause=pause, heapsize="512K")
        relay_open_at_end = sim.meter("000000000001").model.relay_open
        broadcasts_at_end = sim.meter("000000000001").model.broadcast_times
    assert seen["open_after_trip"] == (True, False)
    assert relay_open_at_end is False
    events = [(e["point"], decode(e["erc"], bytes(e["data"])))
              for e in result.events(ev.ERC33)]
    assert [p for p, _ in events] == [1, 1]                      # meter 2 refused: no change
    trip, close = (d for _, d in events)
    assert trip["status3"] & 0x10 and trip["change3"] & 0x10     # bit 4: relay open, changed
    assert not close["status3"] & 0x10 and close["change3"] & 0x10
    assert trip["other_words"] == b"\xee" * 24                   # only word 3 was read
    assert result.summary["relay"][:3] == [1, dlt645.RELAY_PERMIT_CLOSE, "confirmed"]
    assert result.stats[0]["relay_commands"] == 3
    assert (seen["broadcasts"], broadcasts_at_end) == (0, 1)
    assert result.stats[0]["time_syncs"] == 1
