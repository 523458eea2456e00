"""Meter register maps: the shipped files, the read plan and exact decoding of replies."""
import json

import pytest

from protocol import dlt645_items, modbus
from protocol.errors import ProtocolError
from protocol.modbus_map import load_map, map_from_dict, map_names

# Eastron input registers every source agrees on (see "source" in the json files).
EASTRON_COMMON = {
    "voltage_a": 0x0000, "current_a": 0x0006, "frequency": 0x0046,
    "energy_fwd_total": 0x0048, "energy_rev_total": 0x004A, "energy_combined_total": 0x0156,
}


def test_shipped_maps_are_installed_and_load():
    assert {"sdm120", "sdm630"} <= set(map_names())
    for name in ("sdm120", "sdm630"):
        meter_map = load_map(name)
        assert meter_map.source, "a map names where its addresses come from"
        for item_name, register in EASTRON_COMMON.items():
            item = meter_map.item(item_name)
            assert (item.register, item.function, item.kind) == (register, 4, "float32")


def test_sdm_specific_addresses():
    assert load_map("sdm120").item("power_active_total").register == 0x000C
    sdm630 = load_map("sdm630")
    assert sdm630.item("power_active_a").register == 0x000C
    assert sdm630.item("power_active_total").register == 0x0034
    assert sdm630.item("voltage_c").register == 0x0004
    serial = sdm630.item("serial_number")
    assert (serial.register, serial.function, serial.kind) == (0xFC00, 3, "u32")


@pytest.mark.parametrize("name", ["sdm120", "sdm630"])
def test_names_units_and_decimals_agree_with_the_dlt645_catalogue(name):
    catalogue = {row[dlt645_items.NAME]: row for row in dlt645_items.ITEMS}
    shared = 0
    for item in load_map(name).items:
        row = catalogue.get(item.name)
        if row is None:
            continue
        shared += 1
        assert item.unit == row[dlt645_items.UNIT], item.name
        assert item.decimals == dlt645_items.decimals(row), item.name
    assert shared >= 7


def test_every_float_item_sits_on_its_own_registers():
    for name in ("sdm120", "sdm630"):
        taken = {}
        for item in load_map(name).items:
            for r in range(item.register, item.register + item.registers):
                key = (item.function, r)
                assert key not in taken, "%s overlaps %s" % (item.name, taken.get(key))
                taken[key] = item.name


def test_read_plan_groups_contiguous_registers_and_decodes_exactly():
    sdm630 = load_map("sdm630")
    plan = sdm630.read_plan(["voltage_a", "voltage_b", "voltage_c", "current_a",
                             "energy_fwd_total", "energy_rev_total", "serial_number"])
    assert [(b.function, b.start, b.count) for b in plan] == [
        (3, 0xFC00, 2), (4, 0x0000, 8), (4, 0x0048, 4)]
    # a meter's reply: 230.1 V, 231.0 V, 229.9 V, 5.125 A; 12345.67 and 0.5 kWh
    values = {"voltage_a": 230.1, "voltage_b": 231.0, "voltage_c": 229.9, "current_a": 5.125,
              "energy_fwd_total": 12345.67, "energy_rev_total": 0.5}
    block = plan[1]
    data = b"".join(modbus.encode_value(values[i.name], "float32") for i in block.items)
    reply = modbus.parse_reply(modbus.read_reply(1, 4, data), request=block.request(1))
    assert block.decode(reply) == [("voltage_a", 2301), ("voltage_b", 2310),
                                   ("voltage_c", 2299), ("current_a", 5125)]
    energy = plan[2]
    data = b"".join(modbus.encode_value(values[i.name], "float32") for i in energy.items)
    assert energy.decode(modbus.parse_reply(modbus.read_reply(1, 4, data))) == [
        ("energy_fwd_total", 1234567), ("energy_rev_total", 50)]
    assert plan[0].decode(modbus.parse_reply(modbus.read_reply(1, 3, [0x0012, 0xD687]))) == [
        ("serial_number", 1234567)]


def test_power_in_watts_is_stored_in_kilowatts():
    item = load_map("sdm120").item("power_active_total")
    assert item.unit == "kW" and item.decimals == 4
    assert item.scaled(modbus.encode_value(1234.5, "float32")) == 12345      # 1.2345 kW
    assert item.scaled(item.encode(-5000)) == -5000                          # export


def test_read_plan_respects_the_register_limit_and_gaps():
    sdm630 = load_map("sdm630")
    for block in sdm630.read_plan(max_registers=8):
        assert block.count <= 8
    one = sdm630.read_plan(["voltage_a", "current_a"], max_gap=4)
    assert [(b.start, b.count) for b in one] == [(0, 8)]
    two = sdm630.read_plan(["voltage_a", "current_a"])
    assert [(b.start, b.count) for b in two] == [(0, 2), (6, 2)]


def test_exception_and_short_replies_are_errors():
    block = load_map("sdm120").read_plan(["voltage_a"])[0]
    with pytest.raises(ProtocolError, match="illegal data address"):
        block.decode(modbus.parse_reply(modbus.exception_reply(1, 4, 2)))
    with pytest.raises(ProtocolError, match="1 registers"):
        block.decode(modbus.parse_reply(modbus.read_reply(1, 4, [0])))


def test_unknown_maps_and_items_say_what_exists():
    with pytest.raises(ProtocolError, match="sdm120"):
        load_map("sdm999")
    for bad in ("../settings", "", ".hidden", "a/b"):
        with pytest.raises(ProtocolError):
            load_map(bad)
    with pytest.raises(ProtocolError, match="voltage_a"):
        load_map("sdm120").item("voltage_z")


@pytest.mark.parametrize("change,words", [
    ({"type": "f64"}, "unknown type"),
    ({"function": 6}, "function must be 3 or 4"),
    ({"register": 70000}, "not 0..65535"),
    ({"name": "current_a"}, "twice"),
])
def test_bad_map_entries_are_named(change, words):
    doc = json.loads(json.dumps({"meter": "test", "items": [
        {"name": "voltage_a", "register": 0, "function": 4, "type": "float32", "unit": "V",
         "decimals": 1},
        {"name": "current_a", "register": 6, "function": 4, "type": "float32", "unit": "A",
         "decimals": 3}]}))
    doc["items"][0].update(change)
    with pytest.raises(ProtocolError, match=words):
        map_from_dict("test", doc)
    del doc["items"][0]["unit"]
    with pytest.raises(ProtocolError, match="'unit'"):
        map_from_dict("test", doc)
