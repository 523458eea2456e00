"""`make bench ONLY=uplink`: the store-and-forward uplink under the real MicroPython, through the
modem simulator on a pty at a GPRS-like 40 kbit/s, to the test master station.

- uplink.outage_lost / uplink.outage_duplicates: a 6-hour outage on virtual time with 64 meters
  on 15-minute curves (1536 records), then delivery; records the station never got / got twice
  (by their ring-log identity, before any de-duplication).
- uplink.link_utilisation: backlog payload bytes (the records' bytes inside the uploads)
  delivered per second, from login to the last confirm, divided by the simulated link rate.
- uplink.login_s: from starting the board process (power-on: interpreter start, imports, ring-log
  mount) to the master station seeing the login, through the modem simulator (AT bring-up,
  PDP context, TCP open).
"""
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "uplink"))

from uplink_support import Board, TestMaster, modem_for  # noqa: E402

LINK_BPS = 40000


def run(bench):
    master = TestMaster().start()
    modem = modem_for(master, "sim800", link_bps=LINK_BPS)
    board = Board({"modem": modem.line.device_path, "port": master.port, "run_ms": 120000,
                   "until_backlog_empty": True, "heartbeat_ms": 30000,
                   "outage": {"meters": 64, "hours": 6, "curve_min": 15}})
    try:
        result = board.result(240)
    finally:
        modem.stop()
        master.stop()
    outage = result["outage"]
    first = outage["first_seq"]
    end = first + outage["records"]
    lost = len(master.missing(first, end))
    bench.emit("uplink.outage_lost", lost, "records", goal="== 0",
               records=outage["records"], virtual_hours=outage["virtual_s"] / 3600)
    bench.emit("uplink.outage_duplicates", master.duplicates(), "records", goal="== 0")
    seconds = (result["delivered_ms"] - result["login_ms"]) / 1000.0
    payload = result["uploader"]["payload_bytes"]
    bench.emit("uplink.link_utilisation", round(payload / seconds / (LINK_BPS / 8.0), 3),
               "ratio", goal=">= 0.7", payload_bytes=payload, seconds=round(seconds, 2),
               frames=result["uploader"]["frames"], link_bps=LINK_BPS)

    # login time from a cold start, on its own (no backlog to load first)
    master = TestMaster().start()
    modem = modem_for(master, "sim800", link_bps=LINK_BPS)
    started = time.monotonic()
    board = Board({"modem": modem.line.device_path, "port": master.port, "run_ms": 15000})
    try:
        master.wait_login(30)
        login_s = master.logins[0][0] - started if master.logins else None
    finally:
        board.proc.kill()
        board.proc.wait()
        board.tmp.cleanup()
        modem.stop()
        master.stop()
    bench.emit("uplink.login_s", round(login_s, 3) if login_s else None, "s",
               note="the simulator activates a PDP context in 50 ms; a field CIICR takes 2-10 s")

    heap = _uplink_heap()
    bench.emit("uplink.heap_kb", heap["uplink_kb"], "KB", goal=None,
               firmware_without_uplink_kb=heap["boot_kb"],
               scope="resident heap the uplink adds to the booted firmware (terminal, link, "
                     "uploader, buffers; socket channel; the 1376.1 codec loads per request), "
                     "64-bit unix port")


_HEAP_SCRIPT = """
import gc
gc.collect()
BASE = gc.mem_alloc()
import json
from firmware import concentrator
c = concentrator.Concentrator()
from firmware import startup
start_uplink = startup._start_uplink
startup._start_uplink = lambda c: None
startup.boot(c)
gc.collect()
boot = gc.mem_alloc() - BASE
start_uplink(c)
gc.collect()
print("@@" + json.dumps({"boot_kb": boot // 1024,
                         "uplink_kb": (gc.mem_alloc() - BASE - boot) // 1024,
                         "skipped": c.skipped}))
"""


def _uplink_heap():
    import json
    import os
    import tempfile

    from tests import firmware_boot
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "board.json"), "w") as f:
            json.dump({"name": "bench", "platform": "linux", "buses": [],
                       "modem": {"family": "socket"},
                       "data_partition": {"label": "data.img", "block_size": 4096,
                                          "block_count": 16}}, f)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump({"master.host": "127.0.0.1", "master.port": 1}, f)
        return firmware_boot.run(_HEAP_SCRIPT, tmp, heapsize="1M", timeout=60)
