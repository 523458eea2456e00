"""The whole firmware booted as firmware/main.py does (firmware/concentrator.py + startup.py),
with a modem on a pty: startup finds firmware.link.start, the uplink logs in through the modem
simulator, uploads what the boot recorded, and answers the master; the live heap is sampled."""
import json
import os
import tempfile
import threading

import pytest

from host_tools.simulators.meter_bus import MeterSimulator
from protocol import dlt645, gw376
from tests import firmware_boot
from uplink_support import Faults, TestMaster, micropython, modem_for

PW = b"secret" + bytes(10)

SAMPLE_HEAP = """
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


def boot_firmware(modem_path, master_port, run_ms=4000, heapsize="512K", family="sim800",
                  bus=None):
    """Boot the firmware with a modem (and, given `bus` = a meter simulator's device path,
    meter 1 (address 1, 9600 8E1) on bus 1) for run_ms; the status and what it recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "board.json"), "w") as f:
            json.dump({"name": "uplink-test", "platform": "linux", "heap_budget_kb": 192,
                       "buses": [{"bus": 1, "device": bus}] if bus else [],
                       "modem": {"device": modem_path, "baud": 115200,
                                              "family": family},
                       "data_partition": {"label": "data.img", "block_size": 4096,
                                          "block_count": 16},
                       "watchdog_ms": 30000}, f)
        # a PW as firmware before the hex notation saved it (text): the booted firmware
        # reads it as the same bytes (protocol/settings.py upgrade), so PW below still matches
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump({"terminal.area": 4101, "terminal.address": 1,
                       "master.host": "127.0.0.1", "master.port": master_port,
                       "comm.password": "secret", "comm.response_timeout_s": 2,
                       "report.compact": 1}, f)     # the test master counts F241 identities
        if bus:
            from firmware.archive import Archive
            Archive(os.path.join(tmp, "meters.dat")).apply(
                {1: {"protocol": "dlt645", "address": "1", "bus": 1, "baud": 9600}})
        return firmware_boot.run(firmware_boot.BOOT + SAMPLE_HEAP.replace("RUN_MS", str(run_ms)),
                                 tmp, heapsize=heapsize, timeout=run_ms / 1000 + 60)


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


def test_the_master_reads_a_meter_through_afn10_forwarding():
    # AFN10 F1 on the real firmware: the terminal hands the frame to the poller's bus task,
    # which sends it as it is and returns the meter's reply (firmware/forwarding.py)
    sim = MeterSimulator.from_dict({"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
                                    "meters": [{"address": "1", "energy_kwh": 4321.09}]})
    master = TestMaster().start()
    modem = modem_for(master, "sim800", Faults())
    read = dlt645.build_read("1", 0x00010000)
    answers = {}

    def ask():
        if not master.wait_login(20):
            return
        for port in (1, 5):
            unit = {"port": port, "control": 0x6B, "frame_timeout": 2, "frame_timeout_in_s": 1,
                    "byte_timeout_10ms": 10, "data": read}
            answers[port] = master.request(gw376.Frame(0x10, [(0, 1, unit)], area=4101,
                                                       terminal=1, master=1, pw=PW))
    asker = threading.Thread(target=ask)
    asker.start()
    try:
        with sim:
            result = boot_firmware(modem.line.device_path, master.port, run_ms=12000,
                                   bus=sim.device_path)
    finally:
        asker.join(30)
        modem.stop()
        master.stop()
    assert "uplink" not in result["skipped"] and "poller" not in result["skipped"]
    assert sorted(answers) == [1, 5], "the master got no answer in time: %r" % (answers,)
    forwarded = answers[1][0]
    assert (forwarded.afn, forwarded.units[0][1]) == (0x10, 1)
    reply = dlt645.parse_frame(forwarded.units[0][2]["data"])
    assert reply.from_meter and reply.address == "000000000001"
    assert bytes(reversed(reply.payload)).hex() == "00432109"      # 4321.09 kWh, BCD
    denied = answers[5][0]                                          # no bus 5 on this board
    assert (denied.afn, denied.units[0][1]) == (0, 2)
