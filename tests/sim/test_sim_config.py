"""Simulator configuration files: what they accept and how mistakes are reported."""
from datetime import datetime

import pytest

from host_tools.simulators import sim_config
from host_tools.simulators.faults import FaultSpec
from host_tools.simulators.sim_config import SimConfigError

TOML = """
[bus]
baud = 9600
parity = "n"
turnaround_ms = 20
speed = 60
start = 2026-03-01T23:58:00
seed = 7

[defaults]
base_load_kw = 0.5
supports_blocks = false

[[meters]]
protocol = "dlt645"
address = "000000000010"
count = 3
faults = { no_reply_pct = 10, slow_reply_ms = 200 }

[[meters]]
protocol = "modbus"
address = 5
phases = 3
supports_blocks = true
"""


def test_toml_file_with_defaults_and_counts(tmp_path):
    path = tmp_path / "bus.toml"
    path.write_text(TOML)
    config = sim_config.load_file(path)
    bus = config["bus"]
    assert (bus["baud"], bus["parity"], bus["turnaround_ms"], bus["speed"], bus["seed"]) == (
        9600, "N", 20, 60, 7)
    assert bus["start"] == datetime(2026, 3, 1, 23, 58)
    meters = config["meters"]
    assert [m["address"] for m in meters] == ["000000000010", "000000000011", "000000000012", 5]
    assert all(m["base_load_kw"] == 0.5 for m in meters)
    assert [m["supports_blocks"] for m in meters] == [False, False, False, True]
    assert meters[3]["map"] == "sdm630"            # three phases -> the SDM630 map
    spec = meters[0]["faults"]
    assert isinstance(spec, FaultSpec)
    assert (spec.no_reply_pct, spec.slow_reply_ms, spec.slow_reply_pct) == (10, 200, 100)


def test_json_file_same_shape(tmp_path):
    path = tmp_path / "bus.json"
    path.write_text('{"bus": {"baud": 2400}, "meters": [{"protocol": "dlt645-1997", '
                    '"address": 123456}]}')
    config = sim_config.load_file(path)
    assert config["meters"][0]["address"] == "000000123456"
    assert config["meters"][0]["protocol"] == "dlt645-1997"


@pytest.mark.parametrize("text, suffix, expected", [
    ('{"meters": [\n {"protocol": "dlt645",\n  "address": "1",}\n]}', ".json",
     "line 3 column"),
    ('[bus]\nbaud = 9600\n[[meters]\nprotocol = "dlt645"\n', ".toml", "line 3"),
    ('{"meters": [{"protocol": "dlt", "address": "1"}]}', ".json",
     "meters[0].protocol: unknown protocol 'dlt'"),
    ('{"meters": [{"protocol": "modbus", "address": 0}]}', ".json",
     "meters[0].address: Modbus id 0 is not 1..247"),
    ('{"meters": [{"protocol": "dlt645", "address": "1"}, {"protocol": "dlt645", '
     '"address": "1", "colour": "red"}]}', ".json", "meters[1].colour: unknown key"),
    ('{"meters": [{"protocol": "dlt645", "address": "1", "faults": {"no_reply_pct": 150}}]}',
     ".json", "meters[0].faults: no_reply_pct must be 0..100"),
    ('{"meters": [{"protocol": "dlt645", "address": "1", "faults": {"no_reply": 5}}]}',
     ".json", "meters[0].faults: unknown fault no_reply"),
    ('{"meters": [{"address": "1", "count": 2}, {"address": "2"}]}', ".json",
     "two meters share dlt645 address 000000000002"),
    ('{"bus": {"baud": "fast"}, "meters": [{"address": "1"}]}', ".json", "bus.baud"),
    ('{"bus": {"start": "yesterday"}, "meters": [{"address": "1"}]}', ".json", "bus.start"),
    ('{"meters": []}', ".json", "meters: give a list of at least one meter"),
    ('{"meters": [{"address": "1", "tariff_schedule": [["25:00", "peak"]]}]}', ".json",
     "meters[0].tariff_schedule"),
    ('{"meters": [{"address": "1", "password": "12"}]}', ".json", "meters[0].password"),
    ('{"meters": [{"protocol": "modbus", "address": 1, "map": "sdm999"}]}', ".json",
     "unknown register map 'sdm999'"),
])
def test_mistakes_name_the_line_or_key(tmp_path, text, suffix, expected):
    path = tmp_path / ("bad" + suffix)
    path.write_text(text)
    with pytest.raises(SimConfigError) as caught:
        sim_config.load_file(path)
    assert expected in str(caught.value)
    assert str(path) in str(caught.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(SimConfigError, match="cannot read"):
        sim_config.load_file(tmp_path / "nope.toml")


def test_options_mix_protocols_in_turn_with_distinct_registers():
    config = sim_config.from_options(4, ("dlt645", "modbus"), baud=19200)
    meters = config["meters"]
    assert [m["protocol"] for m in meters] == ["dlt645", "modbus", "dlt645", "modbus"]
    assert [m["address"] for m in meters] == ["000000000001", 2, "000000000003", 4]
    assert len({m["energy_kwh"] for m in meters}) == 4
    assert config["bus"]["baud"] == 19200


def test_command_line_overrides_the_file_bus(tmp_path):
    path = tmp_path / "bus.toml"
    path.write_text(TOML)
    config = sim_config.override_bus(sim_config.load_file(path), {"baud": 115200, "speed": None})
    assert config["bus"]["baud"] == 115200 and config["bus"]["speed"] == 60
