"""`conc probe` against the meter simulator on a pty: each protocol, --scan, --json, errors."""
import json
import os

import pytest
from click.testing import CliRunner

from host_tools.cli import conc
from host_tools.simulators.meter_bus import MeterSimulator

BAUD = "115200"


@pytest.fixture
def simulator():
    started = []

    def start(meters, **bus):
        bus.setdefault("baud", int(BAUD))
        bus.setdefault("turnaround_ms", 1)
        sim = MeterSimulator.from_dict({"bus": bus, "meters": meters}).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
        assert sim.error is None and sim.failed_requests == []


def probe(sim, *args, env=None):
    """Run `conc probe` on the simulator's device; a short allowance keeps failures quick
    (a test may give its own --turnaround-ms: click takes the last)."""
    base = ["probe", "--baud", BAUD, "--turnaround-ms", "150"]
    if sim is not None:
        base += ["--port", sim.device_path]
    return CliRunner().invoke(conc, base + list(args), env=env)


METERS = [
    {"protocol": "dlt645", "address": "151230011061", "energy_kwh": 6.78, "base_load_kw": 0},
    {"protocol": "dlt645-1997", "address": "2", "energy_kwh": 1997.5, "base_load_kw": 0},
    {"protocol": "modbus", "address": 3, "energy_kwh": 42.25, "base_load_kw": 0},
    {"protocol": "modbus", "address": 4, "phases": 3},
]


def test_dlt645_2007_items_by_name_and_di(simulator):
    sim = simulator(METERS)
    result = probe(sim, "--address", "151230011061", "--item", "energy_fwd_total",
                   "--item", "020101FF", "--item", "status_word_3")
    assert result.exit_code == 0, result.output
    header, *lines = result.output.splitlines()
    assert header.split() == ["item", "di/register", "value", "latency", "ms", "tries"]
    assert lines[0].split()[:4] == ["energy_fwd_total", "00010000", "6.78", "kWh"]
    assert float(lines[0].split()[-2]) > 0 and lines[0].split()[-1] == "1"   # latency, tries
    served = sim.meter("151230011061").model.last_served
    volts = " ".join("%d.%d" % (v // 10, v % 10) for v in served["020101FF"][:1])
    assert volts in lines[1]
    assert "0x0000" in lines[2]


def test_json_values_are_exact_and_match_the_meter(simulator):
    sim = simulator(METERS)
    result = probe(sim, "--address", "151230011061", "--item", "energy_fwd_block",
                   "--item", "voltage_a", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["address"] == "151230011061" and doc["parity"] == "E"
    block, volts = doc["readings"]
    served = sim.meter("151230011061").model.last_served
    assert block["di"] == "0001FF00" and tuple(block["scaled"]) == served["0001FF00"]
    assert block["value"].split()[0] == "6.78" and block["unit"] == "kWh"
    assert volts["scaled"] == served["02010100"] and volts["decimals"] == 1
    assert block["ok"] and block["attempts"] == 1 and block["latency_ms"] > 0


def test_dlt645_1997_reads_through_1997_dis(simulator):
    sim = simulator(METERS)
    result = probe(sim, "--protocol", "dlt645-1997", "--address", "2", "--item", "9010",
                   "--item", "energy_fwd_total", "--json")
    assert result.exit_code == 0, result.output
    readings = json.loads(result.output)["readings"]
    assert [(r["di"], r["value"]) for r in readings] == [("9010", "1997.50")] * 2


def test_modbus_map_items_and_raw_registers(simulator):
    sim = simulator(METERS)
    result = probe(sim, "--protocol", "modbus", "--address", "3", "--item", "energy_fwd_total",
                   "--item", "voltage_a", "--json")
    assert result.exit_code == 0, result.output
    energy, volts = json.loads(result.output)["readings"]
    assert energy["value"] == "42.25" and energy["register"] == 0x48
    assert volts["scaled"] == sim.meter(3).model.last_served["voltage_a"]

    result = probe(sim, "--protocol", "modbus", "--address", "3", "--register", "0x48")
    assert result.exit_code == 0, result.output
    assert "42.25" in result.output and "fn4 0x0048" in result.output
    result = probe(sim, "--protocol", "modbus", "--address", "4", "--register", "20",
                   "--function", "3", "--json")
    assert json.loads(result.output)["readings"][0]["value"] == "4"   # SDM: its unit id
    result = probe(sim, "--protocol", "modbus", "--address", "4", "--map", "sdm630",
                   "--item", "voltage_c")
    assert result.exit_code == 0 and "voltage_c" in result.output


def test_scan_finds_a_lone_645_meter(simulator):
    sim = simulator(METERS)
    result = probe(sim, "--scan")
    assert result.exit_code == 0, result.output
    assert "found dlt645 151230011061" in result.output
    result = probe(sim, "--protocol", "dlt645-1997", "--scan", "--json")
    assert json.loads(result.output)["found"][0]["address"] == "000000000002"


def test_scan_of_two_645_meters_reports_the_collision(simulator):
    sim = simulator([{"address": "1"}, {"address": "2"}])
    result = probe(sim, "--scan")
    assert result.exit_code == 1
    assert "garbled" in result.output and "more than one meter" in result.output


def test_modbus_scan_over_an_id_range(simulator):
    sim = simulator(METERS + [{"protocol": "modbus", "address": 6,
                               "faults": {"no_reply_pct": 100}}])
    result = probe(sim, "--protocol", "modbus", "--scan", "--ids", "1-7", "--json")
    assert result.exit_code == 0, result.output
    assert [m["address"] for m in json.loads(result.output)["found"]] == [3, 4]
    result = probe(sim, "--protocol", "modbus", "--scan", "--ids", "10-12")
    assert result.exit_code == 1 and "no Modbus meter answered ids 10-12" in result.output


def test_abnormal_reply_names_the_error_bits(simulator):
    sim = simulator([{"address": "1", "supports_blocks": False}])
    result = probe(sim, "--address", "1", "--item", "energy_fwd_block")
    assert result.exit_code == 1
    assert "no_data (no requested data)" in result.output
    assert sim.meter("1").requests == 1               # an answer is not retried
    assert "Traceback" not in result.output


def test_modbus_exception_is_named(simulator):
    sim = simulator(METERS)
    result = probe(sim, "--protocol", "modbus", "--address", "3", "--register", "0x3000")
    assert result.exit_code == 1 and "exception 2 illegal data address" in result.output


def test_silent_meter_is_retried_then_reported(simulator):
    sim = simulator([{"address": "1", "faults": {"no_reply_pct": 100}}])
    result = probe(sim, "--address", "1", "--retries", "2")
    assert result.exit_code == 1
    assert "no reply (3 attempts" in result.output
    assert sim.meter("1").faults.counts["no_reply"] == 3


def test_unusable_replies_are_reported_as_such(simulator):
    sim = simulator([{"address": "1", "faults": {"bad_checksum_pct": 100}},
                     {"address": "5", "faults": {"wrong_address_pct": 100}},
                     {"address": "8", "faults": {"garbage_pct": 100, "garbage_mode": "prefix"}},
                     {"address": "9", "faults": {"slow_reply_ms": 400}}])
    result = probe(sim, "--address", "1", "--retries", "0")
    assert result.exit_code == 1 and "undecodable reply" in result.output
    result = probe(sim, "--address", "5", "--retries", "0")
    assert result.exit_code == 1 and "came from address 000000000006" in result.output
    result = probe(sim, "--address", "8")                 # junk before a good frame: fine
    assert result.exit_code == 0, result.output
    result = probe(sim, "--address", "9", "--retries", "0")
    assert result.exit_code == 1 and "no reply" in result.output   # 150 ms < 400 ms
    result = probe(sim, "--address", "9", "--retries", "0", "--turnaround-ms", "700")
    assert result.exit_code == 0, result.output


def test_missing_port_says_which_exist():
    result = probe(None, "--port", "/dev/ttyNOPE7", "--address", "1")
    assert result.exit_code == 3
    assert "/dev/ttyNOPE7 does not exist; serial ports on this machine:" in result.output


def test_port_from_conc_port_environment(simulator):
    sim = simulator(METERS)
    result = probe(None, "--address", "151230011061", env={"CONC_PORT": sim.device_path})
    assert result.exit_code == 0 and "6.78" in result.output


@pytest.mark.parametrize("args, code, message", [
    (["--address", "12345678901234"], 4, "up to 12 digits"),
    (["--address", "1", "--item", "no_such_item"], 4, "unknown data item 'no_such_item'"),
    (["--protocol", "dlt645-1997", "--address", "1", "--item", "status_word_3"], 4,
     "no DL/T 645-1997 identifier"),
    (["--protocol", "modbus", "--address", "0"], 4, "1..247"),
    (["--protocol", "modbus", "--address", "1", "--item", "nonsense"], 4, "has no item"),
    (["--protocol", "modbus", "--address", "1", "--register", "zz"], 4, "register number"),
    (["--protocol", "modbus", "--scan", "--ids", "9-3"], 4, "ids run 1..247"),
    (["--item", "energy_fwd_total"], 2, "--address"),
    (["--address", "1", "--register", "5"], 4, "--register is for Modbus"),
])
def test_bad_arguments_never_touch_the_port(args, code, message):
    result = probe(None, "--port", os.devnull, *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
