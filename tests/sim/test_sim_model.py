"""The meter model on a manual clock: energy, tariffs, freezes, clock drift, relay, stuck."""
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from host_tools.simulators.clock import ManualClock, SimClock
from host_tools.simulators.meter_model import (FLAT_SHAPE, HISTORY_DAYS, RELAY_ALARM,
                                               RELAY_DIRECT_CLOSE, RELAY_KEEP_POWER, RELAY_TRIP,
                                               LoadProfile, MeterModel, RelayRefused)


def flat_meter(clock, **kw):
    kw.setdefault("base_load_kw", 2.0)
    return MeterModel("000000000001", clock, shape=FLAT_SHAPE, noise=False, **kw)


def test_energy_is_the_integral_of_the_load():
    clock = ManualClock(datetime(2026, 3, 1, 12, 0))
    meter = flat_meter(clock, energy_kwh=100.0)
    clock.advance(3 * 3600)
    total = meter.forward_active_kwh()[0]
    assert total == Decimal("106.00")        # 2 kW x 3 h
    assert meter.combined_active_kwh() == total


def test_daily_shape_changes_the_rate():
    profile = LoadProfile(1.0)
    night = profile.power_kw(datetime(2026, 3, 1, 3, 0))
    evening = profile.power_kw(datetime(2026, 3, 1, 19, 0))
    assert evening > 3 * night
    # Interpolated between hours, not stepped.
    assert profile.power_kw(datetime(2026, 3, 1, 3, 30)) == pytest.approx(
        (profile.power_kw(datetime(2026, 3, 1, 3, 0)) + profile.power_kw(datetime(2026, 3, 1, 4, 0))) / 2)


def test_energy_goes_to_the_tariff_of_the_time_of_day():
    clock = ManualClock(datetime(2026, 3, 1, 6, 0))
    schedule = [("00:00", "valley"), ("08:00", "flat"), ("10:00", "peak"), ("17:00", "sharp"),
                ("19:00", "peak"), ("22:00", "flat")]
    meter = flat_meter(clock, tariff_schedule=schedule, tariff_kwh=[0, 0, 0, 0])
    clock.advance(4 * 3600)                  # 06:00..10:00: 2 h valley, 2 h flat
    total, sharp, peak, flat, valley = meter.forward_active_kwh()
    assert (sharp, peak, flat, valley) == (Decimal(0), Decimal(0), Decimal("4.00"),
                                           Decimal("4.00"))
    clock.advance(8 * 3600)                  # 10:00..18:00: 7 h peak, 1 h sharp
    total, sharp, peak, flat, valley = meter.forward_active_kwh()
    assert (sharp, peak) == (Decimal("2.00"), Decimal("14.00"))
    assert total == sharp + peak + flat + valley


def test_daily_freeze_at_midnight_keeps_history_newest_first():
    clock = ManualClock(datetime(2026, 3, 1, 22, 0))
    meter = flat_meter(clock, energy_kwh=10.0)
    assert meter.frozen_day(1) is None
    clock.advance(2 * 3600 + 5)              # just past midnight
    day = meter.frozen_day(1)
    assert day.time == datetime(2026, 3, 2, 0, 0)
    assert day.forward_kwh[0] == Decimal("14.00")    # exactly the energy at midnight
    clock.advance(2 * 86400)
    assert [meter.frozen_day(n).time.day for n in (1, 2, 3)] == [4, 3, 2]
    assert meter.frozen_day(4) is None
    assert meter.frozen_day(1).forward_kwh[0] == Decimal("14.00") + 2 * 48


def test_history_is_capped_like_a_real_meter():
    clock = ManualClock(datetime(2026, 1, 1, 12, 0))
    meter = flat_meter(clock, base_load_kw=0.1)
    clock.advance((HISTORY_DAYS + 5) * 86400)
    assert meter.frozen_day(HISTORY_DAYS) is not None
    assert meter.frozen_day(HISTORY_DAYS + 1) is None
    assert meter.frozen_day(1).time == datetime(2026, 3, 9, 0, 0)


def test_meter_without_freeze_support_keeps_no_history():
    clock = ManualClock(datetime(2026, 3, 1, 23, 0))
    meter = flat_meter(clock, supports_freeze=False)
    clock.advance(7200)
    assert meter.frozen_day(1) is None


def test_clock_drift_and_broadcast_time():
    clock = ManualClock(datetime(2026, 3, 1, 0, 0))
    meter = flat_meter(clock, drift_ppm=100, clock_offset_s=-20)
    clock.advance(86400)
    assert meter.clock_error_s() == pytest.approx(-20 + 8.64, abs=1e-3)
    meter.set_meter_time(clock.now())
    assert meter.clock_error_s() == pytest.approx(0, abs=1e-6)
    clock.advance(10000)
    assert meter.clock_error_s() == pytest.approx(1.0, abs=1e-3)   # drifts on from there
    assert meter.broadcast_times == 1


def test_freeze_follows_the_meter_clock_not_true_time():
    clock = ManualClock(datetime(2026, 3, 1, 23, 59, 0))
    meter = flat_meter(clock, clock_offset_s=45)        # meter is 45 s fast
    clock.advance(30)                                   # true time 23:59:30
    assert meter.frozen_day(1) is not None               # froze at its own midnight
    assert meter.frozen_day(1).time == datetime(2026, 3, 2, 0, 0)


def test_setting_the_clock_back_does_not_freeze_twice():
    clock = ManualClock(datetime(2026, 3, 2, 0, 0, 30))
    meter = flat_meter(clock, clock_offset_s=-60)        # meter still at 23:59:30
    clock.advance(60)
    meter.update()
    assert len(meter.history) == 1
    meter.set_meter_time(datetime(2026, 3, 1, 23, 59, 50))
    clock.advance(30)
    meter.update()
    assert len(meter.history) == 1


def test_relay_trip_stops_energy_and_shows_in_status_word_3():
    clock = ManualClock(datetime(2026, 3, 1, 12, 0))
    meter = flat_meter(clock)
    meter.relay_command(RELAY_TRIP)
    before = meter.forward_active_kwh()
    clock.advance(3600)
    assert meter.forward_active_kwh() == before
    assert meter.status_word(3) & 0x10 and meter.status_word(3) & 0x40
    values = meter.instantaneous()
    assert values["current_a"][0] == 0 and values["active_power_kw"] == 0
    assert values["voltage_v"][0] > 200         # the line side still has voltage
    meter.relay_command(RELAY_DIRECT_CLOSE)
    clock.advance(1800)
    assert meter.forward_active_kwh()[0] == before[0] + 1
    assert meter.status_word(3) & 0x50 == 0


def test_keep_power_refuses_a_trip():
    meter = flat_meter(ManualClock())
    meter.relay_command(RELAY_KEEP_POWER)
    with pytest.raises(RelayRefused):
        meter.relay_command(RELAY_TRIP)
    assert not meter.relay_open
    meter.relay_command(RELAY_ALARM)
    assert meter.status_word(3) == 0x80


def test_stuck_meter_neither_counts_nor_moves():
    clock = ManualClock(datetime(2026, 3, 1, 12, 0))
    meter = MeterModel("000000000001", clock, energy_kwh=5.0)
    meter.set_stuck(True)
    first = meter.instantaneous()
    clock.advance(7200)
    assert meter.forward_active_kwh()[0] == Decimal("5.00")
    assert meter.instantaneous() == first


def test_instantaneous_values_are_consistent_and_noisy():
    clock = ManualClock(datetime(2026, 3, 1, 12, 0))
    meter = MeterModel("000000000001", clock, base_load_kw=2.2, shape=FLAT_SHAPE, phases=3)
    a = meter.instantaneous()
    assert a == meter.instantaneous()            # same second: same sample
    assert float(sum(a["phase_power_kw"])) == pytest.approx(float(a["active_power_kw"]), abs=3e-4)
    volts = set()
    for _ in range(20):
        clock.advance(1)
        sample = meter.instantaneous()
        volts.add(sample["voltage_v"][0])
        assert Decimal("200") < sample["voltage_v"][0] < Decimal("240")
        assert Decimal("0.9") < sample["power_factor"] <= 1
        p = float(sample["phase_power_kw"][0]) * 1000
        i = float(sample["current_a"][0])
        v = float(sample["voltage_v"][0])
        assert i * v * float(sample["power_factor"]) == pytest.approx(p, rel=0.01)
    assert len(volts) > 3


def test_sim_clock_runs_faster_by_its_speed():
    clock = SimClock(datetime(2026, 3, 1), speed=3600)
    import time
    time.sleep(0.05)        # the subject: real time passing, which the clock must multiply
    elapsed = clock.now() - datetime(2026, 3, 1)
    assert timedelta(seconds=150) < elapsed < timedelta(seconds=3600)
