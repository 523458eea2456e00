"""`make demo` end to end: it must succeed, read all 16 meters, get their readings to the master
station over the simulated modem, and leave no process behind."""
import os
import subprocess
import sys

from tests.vboard.vboard_support import ROOT


def _processes_using(path):
    """Processes whose command line names `path` (the demo's simulators and board do)."""
    out = subprocess.run(["pgrep", "-f", str(path)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_demo_runs_end_to_end_and_stops_everything(tmp_path):
    env = dict(os.environ)
    env.pop("CONC_PORT", None)
    env["CONC_STATION_PASSWORD"] = "demo-users-pw-7Kq"        # must never be printed
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.demo", "--seconds", "20",
                             "--keep", str(tmp_path)], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=420)
    assert proc.returncode == 0, out[-3000:] + err[-3000:]
    assert "$ conc flash --board virtual_wrover" in out      # the commands a user types
    assert "16 of 16 meter(s) answered" in out
    assert "pulled " in out and "demo finished" in out
    summary = out.split("== summary", 1)[1]
    assert all(("\n%5d " % point) in summary for point in range(1, 17))
    assert " kWh" in summary and " V" in summary             # values with their units
    assert _processes_using(tmp_path) == []
    assert (tmp_path / "demo.db").exists()
    # the board reported to the master station over the simulated GPRS modem
    station = out.split("== what the master station received", 1)[1]
    assert "energy_fwd_total" in station and "16/16" in station
    # the billing office on the same database
    office = out.split("== the billing office", 1)[1]
    assert "demo data: 200 customers in 2 areas" in office
    assert "TQ001" in office and "%" in office                  # line loss per area
    assert "statements of" in office and "电费结算单" in office
    assert list(tmp_path.glob("statements-*.pdf"))
    # the operator console on that database, shot by headless chromium
    console = out.split("== the operator console", 1)[1]
    assert (tmp_path / "console-dashboard.png").stat().st_size > 10000
    assert (tmp_path / "console-alarms.png").stat().st_size > 10000
    assert "conc station web --listen 127.0.0.1:8000 --db" in console
    assert "demo-users-pw-7Kq" not in out + err
