"""USB command figures on the virtual board: `conc pull` throughput (records and readings a
second, CRC-checked chunks with a durable write before each cursor step) against fetching the
same chunks without storing them or moving the cursor (the baseline, same board, same run), the
round trip of `conc status` (interrupt, live status, resume), and the heap the firmware leaves
free on the 192 KB and 384 KB virtual boards."""
import tempfile
import time

from host_tools import board_api, board_status, ring_pull
from host_tools.simulators.meter_bus import MeterSimulator
from host_tools.usb import Board
from tests.usb.usb_support import ReadingCycle, conc
from tests.vboard.vboard_support import VirtualBoard

RECORDS = 3000
FILL = """
import firmware.usb_api as u
from firmware import log_records
log = u.ring_log()
items = [1, 2, 3, 4, 5, 11, 14, 17]
values = [123456, 12345, 23456, 34567, 45678, 2201, 5123, 11234]
for i in range(%d):
    log_records.append_readings(log, 1 + i %% 16, 800000000 + i, items, values)
print(log.next_seq)
"""


def _board(image, sim, name):
    vb = VirtualBoard(image, "--board", name, "--bus", "1=" + sim.device_path).start()
    assert conc("flash", "--board", name, port=vb.port).returncode == 0
    return vb


def fetch_only(port):
    """The baseline: a pull's session and chunks, fetched and parsed, nothing stored."""
    with board_api.open_board(port) as board:
        seq = board_api.call(board, "pull_begin()")["cursor"]
        while True:
            header, _ = ring_pull.read_chunk(board, seq, "None")
            if header["next"] <= seq:
                return
            seq = header["next"]


def run(bench):
    sim = MeterSimulator.from_dict({"bus": {"baud": 9600, "turnaround_ms": 5},
                                    "meters": [{"protocol": "dlt645", "address": "1"}]})
    with sim, tempfile.TemporaryDirectory() as image:
        vb = _board(image, sim, "virtual_wrover")
        try:
            port = vb.port
            conc("meters", "add", "--point", "1", "--address", "1", "--baud", "9600", port=port)
            with Board.open(port, soft_reset=True) as board:
                board.exec(FILL % RECORDS, timeout=120)
            started = time.perf_counter()
            fetch_only(port)
            fetch = time.perf_counter() - started
            cycle = ReadingCycle((sim, ["1"]))     # the pull restarts the firmware
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                summary = ring_pull.pull(port, out + "/bench.db", "sqlite")
                elapsed = time.perf_counter() - started
            bench.emit("usb.pull_records_per_s", round(summary["records"] / elapsed), "records/s",
                       goal=">= 300", readings_per_s=round(summary["readings"] / elapsed),
                       records=summary["records"])
            bench.emit("usb.pull_vs_fetch_only", round(fetch / elapsed, 2), "ratio",
                       goal=">= 0.5", note="fetching the same chunks without storing them or "
                       "advancing the cursor, divided by the whole pull: the cost of safety")
            rounds = []
            for _ in range(3):
                cycle.wait()                        # booted and polling again, as in the field
                cycle = ReadingCycle((sim, ["1"]))  # each status restarts the firmware too
                started = time.perf_counter()
                doc = board_status.read_status(port)
                rounds.append(time.perf_counter() - started)
            bench.emit("usb.status_roundtrip", round(min(rounds) * 1000), "ms", goal="<= 2000")
            bench.emit("usb.heap_free_384k", doc["heap_free"] // 1024, "KB",
                       uplink=doc.get("skipped", {}).get("uplink", "running"))
        finally:
            vb.stop()
    sim = MeterSimulator.from_dict({"bus": {"baud": 9600, "turnaround_ms": 5},
                                    "meters": [{"protocol": "dlt645", "address": "1"}]})
    with sim, tempfile.TemporaryDirectory() as image:
        vb = _board(image, sim, "virtual")
        try:
            cycle = ReadingCycle((sim, ["1"]))
            conc("meters", "add", "--point", "1", "--address", "1", "--baud", "9600",
                 port=vb.port)
            cycle.wait()                    # booted and polling: the heap as it runs
            with board_api.open_board(vb.port, soft_reset=False) as board:
                doc = board_api.call(board, "status()", module="usb_status")
            bench.emit("usb.heap_free_192k", doc["heap_free"] // 1024, "KB", goal=">= 16",
                       poller="running" if doc.get("buses") else "skipped",
                       uplink=doc.get("skipped", {}).get("uplink", "running"))
        finally:
            vb.stop()
