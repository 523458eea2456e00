"""The collection plans on virtual time, against simulated meters on a pty.

The poller runs under MicroPython on BusClock (tests/poller/poll_harness.py): while a reply is
on the wire time runs for real, otherwise it jumps to the next plan boundary, so four hours of
plans take a few seconds. The simulator's meters run on a ManualClock the test moves at the
pause, so their daily freeze happens at a known instant.

Timeline: meters frozen on 03-02, 03-03, 03-04; the concentrator boots at 03-04 23:50, passes
midnight, pauses at 00:04 (the test lets the meters freeze 03-05), then runs to 03:55 past the
03:17 broadcast time.
"""
from datetime import datetime

import pytest

from firmware import events as ev
from firmware import quantities as qs
from host_tools.simulators.clock import ManualClock
from host_tools.simulators.meter_bus import MeterSimulator
from protocol import dlt645, gw376_fields, gw376_unit_events
from tests.poller.poll_support import run_poller, wall

BOOT = wall(2026, 3, 4, 23, 50)
MIDNIGHT = wall(2026, 3, 5)
SLOT = 15 * 60


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    clock = ManualClock(datetime(2026, 3, 1, 12, 0))
    config = {"bus": {"baud": 115200, "parity": "E", "turnaround_ms": 2, "seed": 3},
              "meters": [
                  {"address": "1", "energy_kwh": 1000, "base_load_kw": 0.1},
                  {"address": "2", "energy_kwh": 2000, "supports_blocks": False},
                  {"address": "3", "energy_kwh": 3000, "supports_freeze": False},
                  {"address": "4", "protocol": "dlt645-1997", "energy_kwh": 4000},
                  {"address": "5", "energy_kwh": 5000, "clock_offset_s": 900},
                  {"address": "6", "energy_kwh": 6000},
                  {"address": 7, "protocol": "modbus", "energy_kwh": 7000},
              ]}
    with MeterSimulator.from_dict(config, clock=clock) as sim:
        clock.set(datetime(2026, 3, 4, 23, 50))     # history: freezes of 03-02, 03-03, 03-04
        meters = {str(p): {"protocol": "dlt645", "address": str(p), "baud": 115200}
                  for p in (1, 2, 3, 5, 6)}
        meters["4"] = {"protocol": "dlt645-1997", "address": "4", "baud": 115200,
                       "parity": "E"}
        meters["7"] = {"protocol": "modbus", "address": 7, "baud": 115200, "parity": "E",
                       "map": "sdm120"}
        spec = {"meters": meters, "buses": {"1": [sim.device_path, 115200, "E"]},
                "clock": "bus", "start": BOOT,
                "settings": {"plan.realtime_min": 15, "plan.curve_min": 15,
                             "plan.realtime_items": "energy_fwd_block,voltage_block,current_a",
                             "events.clock_error_s": 300},
                # point 6 was last read at a higher energy: its next reading decreased
                "state": {"6": {"flags": 0x20, "last_energy": 700000}},
                "steps": [14 * 60 * 1000, (3 * 60 + 51) * 60 * 1000]}

        def pause(i, now):
            if i == 0:
                clock.set(datetime(2026, 3, 5, 0, 4))       # the meters freeze 03-05

        result = run_poller(spec, tmp_path_factory.mktemp("plans"), on_pause=pause,
                            heapsize="512K")
        result.sim = sim
        result.frozen = {m.address: [m.model.frozen_day(n) for n in (1, 2, 3, 4)]
                         for m in sim.meters if m.protocol == "dlt645"}
        result.broadcasts = {m.address: m.model.broadcast_times for m in sim.meters}
        result.energy = {m.address: int(m.model.forward_active_kwh()[0] * 100)
                         for m in sim.meters}
        result.log = list(sim.log)
        yield result


def test_realtime_items_every_interval_and_curve_points_on_the_quarter_hours(run):
    realtime = run.values(1, qs.REALTIME)
    # boot at 23:50, then 00:00, 00:15 ... 03:45
    assert len(realtime) == 1 + 16
    slots = [ts // SLOT for ts, _ in realtime]
    assert slots == sorted(set(slots))
    assert all(ts - ts // SLOT * SLOT < 60 for ts, _ in realtime[1:])
    assert set(realtime[-1][1]) == {1, 2, 3, 4, 5, 11, 12, 13, 14}     # fwd block, V, Ia
    assert realtime[-1][1][1] == run.energy["000000000001"]
    curve = run.values(1, qs.CURVE)
    assert [ts for ts, _ in curve] == [BOOT - 5 * 60 + i * SLOT for i in range(17)]
    assert [v for _, v in curve] == [v for _, v in realtime]


def test_daily_frozen_data_with_three_days_of_backfill(run):
    frozen = run.values(1, qs.FROZEN)
    days = [ts for ts, _ in frozen]
    assert days == [wall(2026, 3, 4), wall(2026, 3, 3), wall(2026, 3, 2), wall(2026, 3, 5)]
    history = run.frozen["000000000001"]
    for ts, values in frozen:
        day = next(h for h in history if h is not None and
                   wall(h.time.year, h.time.month, h.time.day) == ts)
        assert values[1] == int(day.forward_kwh[0] * 100)
        assert [values[q] for q in (2, 3, 4, 5)] == [int(x * 100) for x in day.forward_kwh[1:]]


def test_a_meter_without_freeze_gets_its_midnight_reading_as_frozen_value(run):
    assert run.values(3, qs.FROZEN) == []
    midnight = run.values(3, qs.MIDNIGHT)
    assert [ts for ts, _ in midnight] == [MIDNIGHT]
    assert 300000 < midnight[0][1][1] <= run.energy["000000000003"]
    # DL/T 645-1997 has no daily freeze identifiers: its midnight reading too
    assert [ts for ts, _ in run.values(4, qs.MIDNIGHT)] == [MIDNIGHT]
    assert run.values(4, qs.REALTIME)[-1][1][1] == run.energy["000000000004"]


def test_a_modbus_meter_is_read_through_its_register_map(run):
    realtime = run.values(7, qs.REALTIME)
    assert len(realtime) == 17
    last = realtime[-1][1]
    assert set(last) == {1, 11, 14}         # the plan's quantities the SDM120 map holds
    assert last[1] == run.energy[7]
    assert 2000 < last[11] < 2400           # 0.1 V
    midnight = run.values(7, qs.MIDNIGHT)
    assert [ts for ts, _ in midnight] == [MIDNIGHT]
    # the midnight plan's quantities only, though the real-time plan read the same map before
    assert set(midnight[0][1]) == {1}


def test_block_fallback_is_learnt_once_and_remembered(run):
    blocks = [dlt645.parse_frame(t.request).di for t in run.log
              if t.request[1] == 0x02 and t.request[8] == 0x11]
    block_dis = [di for di in blocks if di in (0x0001FF00, 0x020101FF)]
    # the first "no data" to a block marks the meter: its other blocks are not even tried
    assert block_dis == [0x0001FF00]
    realtime = run.values(2, qs.REALTIME)
    assert len(realtime) == 17
    assert realtime[-1][1][1] == run.energy["000000000002"]
    assert {2, 3, 4, 5, 11} <= set(realtime[-1][1])


def test_broadcast_time_once_a_day(run):
    assert run.broadcasts["000000000001"] == 1
    assert run.broadcasts["000000000004"] == 1           # 1997 meters accept 0x08 too


def _event(record):
    fields = gw376_unit_events.ERC_FIELDS[record["erc"]]
    data = bytes(record["data"])
    assert len(data) == gw376_fields.fields_length(fields)
    decoded, _ = gw376_fields.decode_fields(fields, data, 0, len(data), {})
    return decoded


def test_meter_clock_deviation_raises_erc12_once(run):
    erc12 = run.events(ev.ERC12)
    assert [e["point"] for e in erc12] == [5]
    decoded = _event(erc12[0])
    assert decoded["pn"] == 5 and decoded["start"] == 1
    assert decoded["time"] == (2026, 3, 4, 23, 50)          # checked at boot, after 00:05


def test_a_decreasing_energy_reading_raises_erc27(run):
    erc27 = run.events(ev.ERC27)
    assert [e["point"] for e in erc27] == [6]
    decoded = _event(erc27[0])
    assert decoded["pn"] == 6 and decoded["start"] == 1
    assert decoded["before"] == 700000 * 100                  # 0.0001 kWh (format 14)
    assert decoded["after"] == run.values(6, qs.REALTIME)[0][1][1] * 100
    assert run.events(ev.ERC31) == []

