"""Booting on a heap-limited board (the 192 KB `virtual` board: an ESP32 without PSRAM, code in
ROMFS) and with a corrupt settings file: the firmware never bricks the board, and says what it skipped."""
import pytest

from host_tools.usb import Board
from host_tools.vboard.agent_process import AGENT_HEAP_KB
from tests.usb.usb_support import ReadingCycle, conc, conc_json, simulators, start_board
from tests.waiting import wait_for

# the `virtual` board's heap (board_configs/virtual.json) plus the REPL agent's share, which a
# real board keeps in ROM (host_tools/vboard/agent_process.py)
HEAP = (192 + AGENT_HEAP_KB) * 1024


@pytest.fixture(scope="module")
def small_board(tmp_path_factory):
    bus1, bus2 = simulators()
    with bus1, bus2:
        vb = start_board(tmp_path_factory.mktemp("heap"), bus1, bus2, board="virtual")
        vb.buses = (bus1, bus2)
        try:
            yield vb
        finally:
            vb.stop()


def test_a_192k_board_polls_skips_what_does_not_fit_and_still_answers_status(small_board):
    port = small_board.port
    bus1 = small_board.buses[0]
    assert conc("meters", "add", "--point", 1, "--address", "1", "--bus", "1", "--baud",
                "9600", port=port).returncode == 0
    cycle = ReadingCycle((bus1, ["1", "2"]))             # the boot after the next add polls both
    assert conc("meters", "add", "--point", 2, "--address", "2", "--protocol", "dlt645-1997",
                "--bus", "1", "--baud", "9600", port=port).returncode == 0
    cycle.wait()
    doc = conc_json("status", port=port)
    assert doc["running"] and doc["board"] == "virtual"
    # the board really has the 192 KB heap, the firmware's peak stayed inside it, and room is
    # left for what a USB command needs
    assert HEAP - 8 * 1024 <= doc["heap_used"] + doc["heap_free"] <= HEAP
    assert doc["heap_peak"] < doc["heap_used"] + doc["heap_free"]
    assert doc["heap_free"] >= 16 * 1024
    assert {"bus1", "bus2", "housekeeping"} <= {t["name"] for t in doc["tasks"]}
    assert doc["buses"][0]["reads_ok"] >= 2 and doc["faults"] == []
    # with the code in ROMFS the uplink fits beside the poller (firmware/startup.py's estimate:
    # 90 KB of 64-bit objects with the 1376.1 codec); this board has no station to reach
    assert doc["skipped"]["uplink"].startswith("not configured"), doc["skipped"]
    assert conc_json("config", "show", port=port)["settings"]["terminal.area"] == 4101


def test_a_corrupt_settings_file_boots_with_defaults_and_raises_erc21(small_board):
    port = small_board.port
    assert conc("config", "set", "terminal.address", "99", port=port).returncode == 0
    with Board.open(port, soft_reset=True) as board:
        board.write_file("/config.json", b'{"terminal.address": 99, "master.port": 0, ')
    doc = wait_for("the firmware running on the broken settings",
                   lambda: running(conc_json("status", port=port)), 30, every=0.5)
    assert any("config.json is not valid JSON" in p for p in doc["problems"])
    assert 21 in [e[3] for e in doc["events"]]        # ERC21 terminal fault
    shown = conc("config", "show", port=port)
    assert shown.returncode == 0 and "not valid JSON" in shown.stderr
    # raised once for this fault, not again at every restart
    conc("status", port=port)
    again = conc_json("status", port=port)
    assert [e[0] for e in again["events"] if e[3] == 21] == \
        [e[0] for e in doc["events"] if e[3] == 21]
    # the user repairs it with one set: the file is rewritten whole
    assert conc("config", "set", "terminal.address", "7", port=port).returncode == 0
    assert conc_json("config", "show", port=port)["problems"] == []


def running(doc):
    return doc if doc["running"] else None
