"""`conc config`, `conc meters`, `conc status` against the virtual board, as a user runs them
(real CLI, real mpremote transport, the real firmware polling simulated meters)."""
import json
import re
import time
from decimal import Decimal

import pytest

from host_tools import boards
from host_tools.usb import Board
from host_tools.vboard.agent_process import AGENT_HEAP_KB
from tests.usb.usb_support import conc, conc_json, simulators, start_board
from tests.vboard.vboard_support import mpremote
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    bus1, bus2 = simulators()
    with bus1, bus2:
        vb = start_board(tmp_path_factory.mktemp("usb"), bus1, bus2)
        try:
            yield vb
        finally:
            vb.stop()


def test_config_rejects_bad_values_before_sending_and_sets_good_ones(board, tmp_path):
    bad = conc("config", "set", "master.port", "70000", port=board.port)
    assert bad.returncode == 4 and "master.port must be 1..65535" in bad.stderr
    unknown = conc("config", "set", "master.hots", "1.2.3.4", port=board.port)
    assert unknown.returncode == 4 and "known: " in unknown.stderr and "master.host" in \
        unknown.stderr
    items = conc("config", "set", "plan.realtime_items", "energy_fwd_block,volts",
                 port=board.port)
    assert items.returncode == 4 and "'volts' is not a data item" in items.stderr
    assert conc("config", "set", "master.host", "10.1.2.3", port=board.port).returncode == 0
    # the PW is hex, 16 bytes in wire order, as the station takes it: text is refused
    text_pw = conc("config", "set", "comm.password", "hunter2", port=board.port)
    assert text_pw.returncode == 4 and "hex digits" in text_pw.stderr
    secret = conc("config", "set", "comm.password", "5ec2e7", port=board.port)
    assert secret.returncode == 0 and "5ec2e7" not in secret.stdout + secret.stderr

    # an import with one bad value changes nothing at all
    settings = tmp_path / "site.json"
    settings.write_text(json.dumps({"terminal.address": 77, "comm.heartbeat_min": 0}))
    refused = conc("config", "import", settings, port=board.port)
    assert refused.returncode == 4 and "comm.heartbeat_min" in refused.stderr
    toml = tmp_path / "site.toml"
    toml.write_text('[terminal]\naddress = 77\n[plan]\nfrozen_at = 10\n')
    assert conc("config", "import", toml, port=board.port).returncode == 0

    shown = conc_json("config", "show", port=board.port)
    values = shown["settings"]
    assert values["master.host"] == "10.1.2.3" and values["terminal.address"] == 77
    assert values["plan.frozen_at"] == 10 and values["comm.heartbeat_min"] == 5
    assert values["comm.password"] == "(set)"
    table = conc("config", "show", port=board.port).stdout
    assert "5ec2e7" not in table and re.search(r"plan\.frozen_at +00:10 +\*", table), table


def test_config_converts_a_pw_an_older_firmware_saved_as_text_once(board):
    """Firmware before the hex notation kept comm.password as text sent as its bytes
    ("secret" -> 73 65 63 72 65 74 00 ..). The board keeps using those bytes, and the first
    `conc config` saves them as hex, once, saying so."""
    mpremote(board.port, "exec", "import json; f = open('config.json'); c = json.load(f); "
             "f.close(); c['comm.password'] = 'secret'; f = open('config.json', 'w'); "
             "json.dump(c, f); f.close()")
    first = conc("config", "show", port=board.port)
    assert first.returncode == 0, first.stderr
    assert "comm.password was saved by an older firmware as text" in first.stderr
    assert "secret" not in first.stdout + first.stderr
    stored = mpremote(board.port, "exec", "import json; print(json.load(open('config.json'))"
                      "['comm.password'])").stdout.decode()
    assert b"secret".hex() + "00" * 10 in stored
    again = conc("config", "show", port=board.port)
    assert again.returncode == 0 and "older firmware" not in again.stderr


def test_meters_add_list_remove_import_with_clear_refusals(board, tmp_path):
    port = board.port
    ok = conc("meters", "add", "--point", "1", "--address", "1", "--bus", "1", "--baud",
              "9600", port=port)
    assert ok.returncode == 0, ok.stderr
    dup = conc("meters", "add", "--point", "5", "--address", "000000000001", "--bus", "1",
               port=port)
    assert dup.returncode == 4 and "already has a meter at address 000000000001" in dup.stderr
    taken = conc("meters", "add", "--point", "1", "--address", "9", port=port)
    assert taken.returncode == 4 and "--replace" in taken.stderr
    bad = conc("meters", "add", "--point", "6", "--address", "12AB", port=port)
    assert bad.returncode == 4 and "decimal digits" in bad.stderr

    csv = tmp_path / "meters.csv"
    csv.write_text("point,address,protocol,bus,baud,parity,map\n"
                   "2,2,dlt645-1997,1,9600,E,\n3,1,modbus,2,9600,N,sdm120\n"
                   "4,1,modbus,2,9600,N,sdm120\n")
    twice = conc("meters", "import", csv, port=port)
    assert twice.returncode == 4 and "bus 2 already has a meter at address 1" in twice.stderr
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("point,address,protocol\n7,1234567890123,dlt645\n")
    refused = conc("meters", "import", wrong, port=port)
    assert refused.returncode == 4 and "wrong.csv line 2" in refused.stderr

    csv.write_text("point,address,protocol,bus,baud,parity,map\n"
                   "2,2,dlt645-1997,1,9600,E,\n3,1,modbus,2,9600,N,sdm120\n"
                   "4,7,modbus,2,9600,N,sdm120\n")
    assert conc("meters", "import", csv, port=port).returncode == 0
    assert conc("meters", "remove", "4", port=port).returncode == 0
    listed = conc_json("meters", "list", port=port)
    assert [(m["point"], m["bus"], m["protocol"]) for m in listed] == [
        (1, 1, "dlt645"), (2, 1, "dlt645-1997"), (3, 2, "modbus")]
    assert listed[0]["address"] == "000000000001" and listed[0]["baud"] == 9600


def test_meters_test_reads_each_meter_through_the_board(board):
    results = conc_json("meters", "test", port=board.port)
    by_point = {r["point"]: r for r in results}
    assert sorted(by_point) == [1, 2, 3]
    for r in results:
        assert r["ok"], r
        assert r["via"] == "bus task"       # the running firmware's bus task read it
        assert Decimal(r["values"]["energy_fwd_total"]) > 0 and r["latency_ms"] > 0
        assert r["units"]["energy_fwd_total"] == "kWh"
    # an exact decimal string at the catalogue's decimals (0.01 kWh)
    energy = by_point[1]["values"]["energy_fwd_total"]
    assert re.fullmatch(r"\d+\.\d\d", energy) and Decimal(energy) >= 1200, energy
    shown = conc("meters", "test", "--point", "1", port=board.port).stdout
    assert re.search(r"energy_fwd_total \d+\.\d\d kWh", shown), shown
    one = conc("meters", "test", "--point", "9", port=board.port)
    assert one.returncode == 1 and "no meter at point 9" in one.stdout
    # a meter that is not on the wire: the installer is told what to check
    assert conc("meters", "add", "--point", "4", "--address", "77", "--bus", "1", "--baud",
                "9600", port=board.port).returncode == 0
    silent = conc("meters", "test", "--point", "4", "--point", "1", port=board.port)
    assert silent.returncode == 1 and "1 of 2 meter(s) answered" in silent.stdout
    assert "no reply: check the address, wiring" in silent.stdout
    assert conc("meters", "remove", "4", port=board.port).returncode == 0


def test_status_shows_tasks_buses_ring_and_events(board):
    doc = conc_json("status", port=board.port)
    assert doc["running"] and doc["board"] == "virtual_wrover" and doc["meters"] == 3
    names = {t["name"] for t in doc["tasks"]}
    assert {"bus1", "bus2", "housekeeping"} <= names
    assert [b["bus"] for b in doc["buses"]] == [1, 2]
    # the board's whole heap (384 KB and the REPL agent's share), the firmware's peak inside it
    heap = (boards.load("virtual_wrover")["heap_budget_kb"] + AGENT_HEAP_KB) * 1024
    assert heap - 8 * 1024 <= doc["heap_used"] + doc["heap_free"] <= heap
    assert doc["heap_peak"] < heap and doc["heap_free"] >= 16 * 1024
    assert doc["ring"]["next_seq"] > doc["ring"]["oldest_seq"]
    # every command above stopped the firmware in order (a marker), none was a power cut
    assert doc["power_off_at"] is None and 14 not in [e[3] for e in doc["events"]]
    assert "modem" in doc["skipped"]["uplink"]       # no modem attached: status says why
    table = conc("status", port=board.port).stdout
    assert "housekeeping" in table and "ring log:" in table


def test_the_board_api_works_through_stock_mpremote_too(board):
    """The board side is plain MicroPython: `mpremote exec` reaches it like conc does."""
    proc = mpremote(board.port, "exec", "import firmware.usb_api as u; u.config_show()")
    doc = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert doc["settings"]["master.host"] == "10.1.2.3"


def test_a_missing_module_is_skipped_and_named_then_flash_restores_it(board):
    port = board.port
    with Board.open(port, soft_reset=True) as b:
        b.remove("/firmware/poller.mpy")
    doc = conc_json("status", port=port)
    assert doc["running"] and "poller" in doc["skipped"]
    assert "poller" in doc["skipped"]["poller"] and doc["buses"] == []
    assert "housekeeping" in {t["name"] for t in doc["tasks"]}
    flashed = conc_json("flash", "--board", "virtual_wrover", port=port)
    assert "/firmware/poller.mpy" in flashed["copied"]
    doc = wait_for("the firmware running again", lambda: running(port), 30, every=0.5)
    assert "poller" not in doc["skipped"]


def test_status_of_an_installed_firmware_that_does_not_start_says_so_after_retrying(board):
    # not running although conc flash's main.py and the firmware are there: status asks again
    # (it may have caught the board before the firmware got going), then says what it saw
    port = board.port
    with Board.open(port, soft_reset=True) as b:
        main_py = b.read_file("/main.py")
        b.write_file("/main.py", b"print('firmware not started')\n")
    started = time.monotonic()
    doc = conc_json("status", port=port)
    assert not doc["running"] and doc["starts_at_boot"]
    assert "not running when asked 3 times" in doc["note"]
    assert time.monotonic() - started >= 2 * 1.5          # two waits before the last answer
    # no firmware to go through: the test opens the bus itself (after a soft reset)
    alone = conc_json("meters", "test", "--point", "1", port=port)
    assert alone[0]["ok"] and "via" not in alone[0], alone
    with Board.open(port, soft_reset=True) as b:
        b.write_file("/main.py", main_py)
    wait_for("the firmware running again", lambda: running(port), 30, every=0.5)


def test_plan_items_the_catalogue_lacks_fall_back_to_the_default_items(board):
    """A settings file written by someone else (the station's AFN04, an old tool) with an item
    the firmware cannot read: the board still polls, with the default items, and says so."""
    port = board.port
    with Board.open(port, soft_reset=True) as b:
        b.write_file("/config.json", json.dumps(
            {"plan.realtime_items": "energy_fwd_block,volts"}).encode())
    doc = wait_for("the firmware running on the new settings", lambda: running(port), 30,
                   every=0.5)
    assert any("plan.realtime_items did not compile" in p for p in doc["problems"])
    assert "poller" not in doc["skipped"] and len(doc["buses"]) == 2
    assert conc("config", "set", "plan.realtime_items", "energy_fwd_block",
                port=port).returncode == 0
    assert conc_json("config", "show", port=port)["problems"] == []


def running(port):
    """`conc status` of a running firmware, or None while it is not (yet) running."""
    doc = conc_json("status", port=port)
    return doc if doc["running"] else None
