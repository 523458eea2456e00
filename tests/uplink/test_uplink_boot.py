"""The whole firmware booted as firmware/main.py does (firmware/concentrator.py + startup.py),
with a modem on a pty: startup finds firmware.link.start, the uplink logs in through the modem
simulator, uploads what the boot recorded, and answers the master; the live heap is sampled."""
import json
import os
import subprocess
import tempfile

import pytest

from uplink_support import Faults, TestMaster, micropython, modem_for
from protocol import gw376

SCRIPT = """
import gc
gc.collect()
BASE = gc.mem_alloc()
import json
from firmware import concentrator
c = concentrator.Concentrator()
concentrator.current = c
from firmware import startup
startup.boot(c)
startup = None
concentrator.unload("firmware.startup")
peak = [0]

async def sampler():
    n = 0
    while n < RUN_MS // 50:
        n += 1
        gc.collect()
        used = gc.mem_alloc() - BASE
        if used > peak[0]:
            peak[0] = used
        await c.kernel.time_dly(50)
    c.kernel.stop()

c.kernel.task_create(sampler, 5, name="heap")
c.kernel.run(RUN_MS + 5000)
st = c.uplink.status() if c.uplink else None
print("@@" + json.dumps({"heap_peak": peak[0], "status": st, "problems": c.problems,
                         "skipped": c.skipped}))
"""


def boot_firmware(modem_path, master_port, run_ms=4000, heapsize="512K", family="sim800"):
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "board.json"), "w") as f:
            json.dump({"name": "uplink-test", "platform": "linux", "heap_budget_kb": 192,
                       "buses": [], "modem": {"device": modem_path, "baud": 115200,
                                              "family": family},
                       "data_partition": {"label": "data.img", "block_size": 4096,
                                          "block_count": 16},
                       "watchdog_ms": 30000}, f)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump({"terminal.area": 4101, "terminal.address": 1,
                       "master.host": "127.0.0.1", "master.port": master_port,
                       "comm.password": "secret", "comm.response_timeout_s": 2}, f)
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join([str(micropython.BUILD), ".frozen"])
        proc = subprocess.run(
            [micropython.micropython_path(), "-X", "heapsize=%s" % heapsize, "-c",
             SCRIPT.replace("RUN_MS", str(run_ms))],
            capture_output=True, text=True, timeout=run_ms / 1000 + 60, env=env, cwd=tmp)
    for line in proc.stdout.splitlines():
        if line.startswith("@@"):
            result = json.loads(line[2:])
            result["output"] = proc.stdout + proc.stderr
            return result
    raise AssertionError("firmware boot failed:\n" + (proc.stdout + proc.stderr)[-3000:])


@pytest.fixture(scope="module", autouse=True)
def build():
    micropython.ensure_build()


def test_the_booted_firmware_logs_in_and_uploads_through_the_modem():
    master = TestMaster().start()
    modem = modem_for(master, "sim800", Faults())
    try:
        result = boot_firmware(modem.line.device_path, master.port)
    finally:
        modem.stop()
        master.stop()
    assert "uplink" not in result["skipped"], result["skipped"]
    assert result["status"]["state"] == "online"
    assert len(master.logins) == 1
    login = master.logins[0][1]
    assert (login.address_text, login.afn) == ("4101-1", gw376.AFN_LINK)
    # what the boot wrote to the ring log (boot marker, ...) reached the station, confirmed
    assert master.records and result["status"]["backlog"] == 0
    assert master.errors == []
    assert "secret" not in result["output"]
