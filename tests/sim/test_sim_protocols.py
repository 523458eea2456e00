"""Protocol handlers without a wire: every catalogue item and map item a simulated meter serves."""
from datetime import datetime

import pytest

from host_tools.simulators.clock import ManualClock
from host_tools.simulators.meter_model import MeterModel
from host_tools.simulators.meter_protocols import Dlt645Handler, ModbusHandler
from protocol import dlt645, dlt645_items, modbus
from protocol.modbus_map import load_map

NOT_SIMULATED = {"settled_energy_fwd_block", "balance_remaining"}


def ask(handler, request):
    frame = dlt645.parse_frame(request)
    assert handler.addressed(frame)
    reply = handler.handle(frame)
    return dlt645.parse_frame(reply)


@pytest.fixture
def meter():
    clock = ManualClock(datetime(2026, 3, 1, 22, 0))
    model = MeterModel("000000000042", clock, phases=3, energy_kwh=1234.5, reverse_kwh=3.25)
    clock.advance(3 * 86400)                 # three daily freezes
    return model


def test_every_2007_catalogue_item_is_served_or_refused_on_purpose(meter):
    handler = Dlt645Handler(meter)
    for row in dlt645_items.ITEMS:
        di = dlt645_items.history_di(row, 1) if row[dlt645_items.HISTORY] else row[dlt645_items.DI]
        frame = ask(handler, dlt645.build_read("000000000042", di))
        name = row[dlt645_items.NAME]
        if name in NOT_SIMULATED:
            assert frame.error_names() == ["no_data"], name
            continue
        assert not frame.abnormal, name
        value = dlt645_items.decode(row, frame.payload)
        assert value == meter.last_served[dlt645.di_text(di)], name
        if row[dlt645_items.COUNT] > 1:
            assert len(value) == row[dlt645_items.COUNT], name


def test_every_1997_identifier_is_served(meter):
    handler = Dlt645Handler(meter, 1997)
    for row in dlt645_items.ITEMS:
        di97 = row[dlt645_items.DI97]
        if di97 is None:
            continue
        frame = ask(handler, dlt645.build_read_1997("000000000042", di97))
        assert not frame.abnormal and frame.version == 1997, hex(di97)
        value = dlt645_items.decode(row, frame.payload, 1997)
        assert value == meter.last_served["%04X" % di97]
    volts = dlt645_items.decode(dlt645_items.lookup_1997(0xB611), ask(
        handler, dlt645.build_read_1997("42", 0xB611)).payload, 1997)
    assert 200 <= volts <= 240                 # whole volts in 1997


def test_history_dis_walk_back_day_by_day(meter):
    handler = Dlt645Handler(meter)
    times = [dlt645_items.decode(dlt645_items.lookup(0x05060001), ask(
        handler, dlt645.build_read("42", 0x05060000 + n)).payload) for n in (1, 2, 3)]
    assert times == [(2026, 3, 4, 0, 0), (2026, 3, 3, 0, 0), (2026, 3, 2, 0, 0)]
    totals = [dlt645_items.decode(dlt645_items.lookup(0x05060101), ask(
        handler, dlt645.build_read("42", 0x05060100 + n)).payload)[0] for n in (1, 2, 3)]
    assert totals[0] > totals[1] > totals[2] > 123450
    assert ask(handler, dlt645.build_read("42", 0x05060004)).error_names() == ["no_data"]
    reverse = dlt645_items.decode(dlt645_items.lookup(0x05060201), ask(
        handler, dlt645.build_read("42", 0x05060201)).payload)
    assert reverse[0] == 325


def test_wildcard_address_bytes_match(meter):
    handler = Dlt645Handler(meter)
    frame = dlt645.parse_frame(dlt645.build_read("AAAAAAAAAA42", 0x00010000))
    assert handler.addressed(frame)
    assert not handler.addressed(dlt645.parse_frame(dlt645.build_read("AAAAAAAAAA43", 0x10000)))


@pytest.mark.parametrize("map_name", ["sdm120", "sdm630"])
def test_every_modbus_map_item_reads_back(meter, map_name):
    meter.address = 7
    handler = ModbusHandler(meter, map_name, baud=9600)
    register_map = load_map(map_name)
    for block in register_map.read_plan():
        request = modbus.parse_request(block.request(7))
        reply = modbus.parse_reply(handler.handle(request))
        assert reply.exception is None, block
        for name, stored in block.decode(reply):
            assert stored == meter.last_served[name], name
    energy = dict(register_map.read_plan(["energy_fwd_total"])[0].decode(modbus.parse_reply(
        handler.handle(modbus.parse_request(modbus.read_request(7, 4, 0x48, 2))))))
    assert energy["energy_fwd_total"] == int(meter.forward_active_kwh()[0] * 100)
