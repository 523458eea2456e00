"""The uplink against the project's own master station (`conc station serve`, SQLite): the
board's backlog, uploaded through the modem simulator, ends up in the station's database as
readings, once each, and the station's own reads of the terminal are answered."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import pytest

from uplink_support import Board, micropython, modem_for

CONC = [sys.executable, "-m", "host_tools.cli"]


@pytest.fixture(scope="module", autouse=True)
def build():
    micropython.ensure_build()


def conc(args, env):
    return subprocess.run(CONC + args, capture_output=True, text=True, env=env, timeout=60,
                          cwd=str(micropython.ROOT))


def test_uploads_land_in_the_station_database_once():
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env["CONC_STATION_DB"] = "sqlite:///" + os.path.join(tmp, "station.db")
        env["CONC_STATION_TZ"] = "UTC"
        added = conc(["station", "terminals", "add", "--area", "4101", "--address", "1",
                      "--password", "736563726574"], env)           # "secret" in hex
        assert added.returncode == 0, added.stderr
        for pn in (1, 2):
            meter = conc(["station", "terminals", "add-meter", "4101-1", "--pn", str(pn),
                          "--meter", "%012d" % pn, "--port", "1", "--baud", "2400"], env)
            assert meter.returncode == 0, meter.stderr
        serve = subprocess.Popen(CONC + ["station", "serve", "--listen", "127.0.0.1:0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 env=env, cwd=str(micropython.ROOT))
        try:
            line = serve.stdout.readline()
            port = int(re.search(r":(\d+) ", line).group(1))

            class Station:
                host = "127.0.0.1"

            Station.port = port
            modem = modem_for(Station, "sim800")
            try:
                board = Board({"modem": modem.line.device_path, "port": port,
                               "run_ms": 30000, "until_drained": True, "heartbeat_ms": 5000,
                               "outage": {"meters": 2, "hours": 2, "curve_min": 15}})
                result = board.result(90)
            finally:
                modem.stop()
            time.sleep(0.5)
        finally:
            serve.terminate()
            serve.wait(20)
        assert result["backlog"] == 0 and result["stats"]["logins"] == 1
        out = conc(["station", "readings", "--meter", "4101-1:1", "--from", "2026-11-01",
                    "--to", "2026-11-30", "--json"], env)
        assert out.returncode == 0, out.stderr
        readings = json.loads(out.stdout)
        rows = readings if isinstance(readings, list) else readings.get("readings", [])
        # 8 curve points of 6 items for meter 1, stored once each
        curve = [r for r in rows if "voltage_a" in json.dumps(r)]
        assert len(curve) == 8, rows[:3]
