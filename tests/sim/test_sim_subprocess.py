"""`conc sim meters` as a subprocess: device path first, answers, stops cleanly on SIGTERM."""
import json
import signal
import subprocess
import sys

from protocol import dlt645, dlt645_items, modbus
from tests.sim.sim_support import BusClient

CONFIG = """
[bus]
baud = 115200
turnaround_ms = 2
seed = 1

[[meters]]
protocol = "dlt645"
address = "000000000021"
energy_kwh = 321.09
base_load_kw = 0

[[meters]]
protocol = "modbus"
address = 22
energy_kwh = 55.5
base_load_kw = 0
"""


def test_subprocess_serves_until_sigterm(tmp_path):
    config = tmp_path / "meters.toml"
    config.write_text(CONFIG)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from host_tools.cli import main; main()", "sim", "meters",
         "--config", str(config), "--json", "--trace"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        hello = json.loads(proc.stdout.readline())
        assert hello["format"] == "8E1" and hello["baud"] == 115200
        assert [m["address"] for m in hello["meters"]] == ["000000000021", 22]
        client = BusClient(hello["device"], 115200)
        frame = dlt645.parse_frame(client.exchange(dlt645.build_read("21", 0x00010000))[0])
        assert dlt645_items.decode(dlt645_items.lookup(0x00010000), frame.payload) == 32109
        reply = modbus.parse_reply(client.exchange(modbus.read_request(22, 4, 0x48, 2))[0])
        assert reply.scaled(0, "float32", 2) == 5550
        client.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "-> 68 21 00 00 00 00 00 68 11 04" in err       # --trace shows the wire
    assert "<- 16 04 04" in err
    stats = json.loads(out.strip().splitlines()[-1])
    assert [m["requests"] for m in stats["meters"]] == [1, 1]


def test_bad_config_exits_4_with_one_line(tmp_path):
    config = tmp_path / "meters.json"
    config.write_text('{"meters": [{"protocol": "dlt645", "address": "1", "phases": 2}]}')
    proc = subprocess.run(
        [sys.executable, "-c", "from host_tools.cli import main; main()", "sim", "meters",
         "--config", str(config)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 4
    assert proc.stderr.strip().splitlines() == [
        "Error: %s: meters[0].phases: must be 1 or 3" % config]
