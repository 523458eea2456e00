"""Decoded 1376.1 energy units become stored values under one item name per quantity."""
from decimal import Decimal

import pytest

from protocol import gw376_units

from host_tools.station.errors import InvalidValue
from host_tools.station.items import (energy_item, frozen_from_energy, item_unit, old_name,
                                      readings_from_energy, shown, sort_key, tariff_of)
from host_tools.station.records import FrozenValue, Reading

F33 = {"read_time": (2026, 11, 24, 8, 15), "tariffs": 2,
       "forward_active": [123456789, 60000000, None],
       "forward_reactive": [1234, 0, 1234], "q1_reactive": [5, 5, 0],
       "q4_reactive": [None, None, None]}


def wire(afn, fn, value):
    """Through the real codec: encode then decode, as the front end receives it."""
    data = gw376_units.encode(afn, fn, 1, value)
    decoded, _ = gw376_units.decode(afn, fn, 1, data, 0, len(data))
    return decoded


def test_energy_registers_have_readable_names_with_their_units():
    assert energy_item("fwd", 0) == "energy_fwd_total"
    assert energy_item("q4_reactive", 3) == "energy_q4_reactive_t3"
    assert [tariff_of(n) for n in ("energy_rev_t1", "energy_fwd_reactive_total", "voltage_a",
                                   "energy_combined_total")] == [1, 0, None, None]
    assert [item_unit(n) for n in ("energy_fwd_t2", "energy_rev_reactive_total",
                                   "energy_q1_reactive_t1", "voltage_a", "current_b",
                                   "power_factor_total", "energy_combined_total")] == [
        "kWh", "kvarh", "kvarh", "V", "A", "", "kWh"]
    assert shown("energy_fwd_total", Decimal("1234.5600")) == "1234.5600 kWh"
    assert shown("power_factor_a", Decimal("0.998")) == "0.998"


def test_old_1376_names_say_their_new_name_and_table():
    assert old_name("F129.0") == ("energy_fwd_total", "realtime")
    assert old_name("F168.3") == ("energy_q4_reactive_t3", "daily")
    assert old_name("F179.1") == ("energy_rev_t1", "monthly")
    assert old_name("F130.12") == ("energy_fwd_reactive_t12", "realtime")
    assert [old_name(n) for n in ("F137.0", "F160.0", "F185.0", "F129", "voltage_a")] == \
        [None] * 5


def test_people_see_totals_before_tariffs_and_registers_in_order():
    names = ["voltage_b", "energy_fwd_t1", "zeta", "energy_rev_total", "energy_fwd_total",
             "voltage_a", "energy_fwd_t10", "energy_fwd_t2", "alpha"]
    assert sorted(names, key=sort_key) == [
        "energy_fwd_total", "energy_fwd_t1", "energy_fwd_t2", "energy_fwd_t10",
        "energy_rev_total", "voltage_a", "voltage_b", "alpha", "zeta"]


def test_old_names_are_refused_so_the_database_keeps_one_naming(station, terminal):
    with pytest.raises(InvalidValue, match="'F129.0' is an old name: store it as "
                                           "energy_fwd_total"):
        station.store_readings([Reading(terminal.id, 1, "F129.0", 1796083200, 1, 2)])
    with pytest.raises(InvalidValue, match="store it as energy_fwd_t2"):
        station.store_daily_frozen([FrozenValue(terminal.id, 1, "F161.2", "2026-11-30", 1, 2)])
    assert station.readings(terminal.id, 1, 0, 2 ** 40) == []


def test_a_realtime_f33_is_stored_under_the_names_of_f129_f130_f133(station, terminal):
    unit = wire(0x0C, 33, F33)
    readings = readings_from_energy(terminal.id, 1, unit)
    assert {r.item: (r.value, r.scale) for r in readings} == {
        "energy_fwd_total": (123456789, 4), "energy_fwd_t1": (60000000, 4),
        "energy_fwd_reactive_total": (1234, 2), "energy_fwd_reactive_t1": (0, 2),
        "energy_fwd_reactive_t2": (1234, 2), "energy_q1_reactive_total": (5, 2),
        "energy_q1_reactive_t1": (5, 2), "energy_q1_reactive_t2": (0, 2)}
    assert station.store_readings(readings) == 8
    # the same quantity later read with F129 lands on the same item: a duplicate
    single = wire(0x0C, 129, {"read_time": F33["read_time"], "tariffs": 2,
                              "forward_active": F33["forward_active"]})
    assert station.store_readings(readings_from_energy(terminal.id, 1, single)) == 0
    got = station.readings(terminal.id, 1, (2026, 11, 24, 8, 0), (2026, 11, 24, 9, 0),
                           items=["energy_fwd_total"])
    assert str(got[0].value) == "12345.6789"


def test_frozen_units_go_to_daily_or_monthly(station, terminal):
    daily = wire(0x0D, 161, {"td": (2026, 11, 23), "read_time": (2026, 11, 24, 0, 5),
                             "tariffs": 1, "forward_active": [100, 50]})
    values = frozen_from_energy(terminal.id, 2, daily)
    assert [(v.item, v.period) for v in values] == [("energy_fwd_total", (2026, 11, 23)),
                                                     ("energy_fwd_t1", (2026, 11, 23))]
    assert station.store_daily_frozen(values) == 2
    monthly = wire(0x0D, 17, dict(F33, td=(2026, 10)))
    values = frozen_from_energy(terminal.id, 2, monthly)
    assert {v.item for v in values} >= {"energy_fwd_total", "energy_fwd_reactive_t2",
                                        "energy_q1_reactive_t1"}
    assert station.store_monthly_frozen(values) == 8
    assert [str(f.value) for f in station.frozen("monthly", terminal.id, 2, "2026-10", "2026-10",
                                                 items=["energy_fwd_total"])] == ["12345.6789"]


def test_event_replies_are_stored_once_with_their_bytes(station, terminal):
    from host_tools.station.erc import events_from_unit
    records = [{"erc": 14, "power_off": (2026, 11, 24, 7, 0), "power_on": (2026, 11, 24, 7, 5)},
               {"erc": 31, "time": (2026, 11, 24, 8, 0), "pn": 3, "start": 1,
                "last_read_time": (2026, 11, 24, 7, 0), "forward_active": 1234,
                "forward_reactive": 56},
               {"erc": 99, "raw": b"\x01\x02"}]
    unit = wire(0x0E, 1, {"ec_important": 3, "ec_normal": 0, "pm": 254, "pn": 1,
                          "records": records})
    events = events_from_unit(terminal.id, unit, important=True)
    assert [(e.erc, e.pn, e.source_pointer) for e in events] == [(14, None, 254), (31, 3, 255),
                                                                 (99, None, 0)]
    # format-15 time 08:00 24/11/26, Pn 3 with D15 (occurred), last read 07:00, 0.1234 kWh, 0.56
    assert events[1].data.hex() == "000824112603800007241126341200000056000000"
    assert station.store_events(events) == 3
    # read again after a reconnect (pointers shifted): nothing new
    again = wire(0x0E, 1, {"ec_important": 3, "ec_normal": 0, "pm": 0, "pn": 3,
                           "records": records})
    assert station.store_events(events_from_unit(terminal.id, again, important=True)) == 0
    stored = station.events(terminal_id=terminal.id)
    assert stored[0].occurred_at.isoformat() == "2026-11-24T07:00:00+08:00"
    assert '"power_on": [2026, 11, 24, 7, 5]' in stored[0].detail
