"""`conc station serve` and `conc sim terminals` as processes: a few dozen terminals, held."""
import json
import os
import signal
import subprocess
import sys

from host_tools.station.repository import open_station

CONC = [sys.executable, "-m", "host_tools.cli"]
ENV = dict(os.environ, CONC_STATION_TZ="Asia/Shanghai")


def test_serve_holds_a_swarm_of_simulated_terminals_and_stops_cleanly(sqlite_url):
    with open_station(sqlite_url) as station:
        station.add_terminals([("4101", a, "00", "") for a in range(1, 31)])
    serve = subprocess.Popen(CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db",
                                     sqlite_url, "--json", "--stats-every", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        first = json.loads(serve.stdout.readline())
        address = first["listening"]
        # 32 terminals: 30 registered, 2 not (4101-31, 4101-32)
        swarm = subprocess.run(CONC + ["sim", "terminals", "--count", "32", "--connect", address,
                                       "--heartbeat-s", "0.5", "--meters", "2", "--duration",
                                       "3", "--json", "--stats-every", "0", "--reconnect-s",
                                       "60"],
                               capture_output=True, text=True, env=ENV, timeout=60)
        assert swarm.returncode == 0, swarm.stderr
        report = json.loads(swarm.stdout.strip().splitlines()[-1])
        assert report["logins"] == 30 and report["logins_denied"] == 2
        assert report["held"] == 30
        assert report["heartbeats_sent"] >= 30 and report["heartbeats_unconfirmed"] == 0
        assert report["heartbeat_p99_ms"] is not None
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    with open_station(sqlite_url) as station:
        sessions = [s for t in station.terminals() for s in station.sessions(t.id)]
        assert len(sessions) == 30 and all(s.ended_at is not None for s in sessions)
        assert len(station.denied_logins()) == 2


def test_serve_reports_a_bad_listen_address(sqlite_url):
    result = subprocess.run(CONC + ["station", "serve", "--listen", "127.0.0.1:notaport",
                                    "--db", sqlite_url], capture_output=True, text=True,
                            env=ENV, timeout=30)
    assert result.returncode == 4
    assert "bad listen address" in result.stderr and "Traceback" not in result.stderr


def test_sim_terminals_says_when_no_station_listens():
    result = subprocess.run(CONC + ["sim", "terminals", "--count", "2", "--connect",
                                    "127.0.0.1:9", "--duration", "1"],
                            capture_output=True, text=True, env=ENV, timeout=30)
    assert result.returncode == 3
    assert "is `conc station serve` listening there?" in result.stderr


def test_serve_logs_sessions_and_frames_and_captures_them_for_conc_decode(sqlite_url, tmp_path):
    """-v logs the sessions, -vv every frame (terminal, direction, hex, summary), and
    --capture writes them with their time to a file `conc decode` reads back whole."""
    with open_station(sqlite_url) as station:
        station.add_terminals([("4101", 1, "00", "")])
    capture = tmp_path / "frames.txt"
    serve = subprocess.Popen(CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db",
                                     sqlite_url, "--json", "--stats-every", "0", "-vv",
                                     "--capture", str(capture)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        address = json.loads(serve.stdout.readline())["listening"]
        swarm = subprocess.run(CONC + ["sim", "terminals", "--count", "2", "--connect", address,
                                       "--heartbeat-s", "0.5", "--meters", "2", "--duration",
                                       "2", "--json", "--stats-every", "0"],
                               capture_output=True, text=True, env=ENV, timeout=60)
        assert swarm.returncode == 0, swarm.stderr
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err
    assert "4101-1: logged in from 127.0.0.1:" in err
    assert "denied login" in err and "4101-1: session ended" in err
    frames = [line for line in err.splitlines() if "host_tools.station.frames" in line]
    heartbeat_in = [line for line in frames if " 4101-1 in " in line and " F3 " in line]
    assert heartbeat_in and "up AFN02 link test p0 F3 heartbeat" in heartbeat_in[0]
    assert any(" 4101-1 out " in line and "AFN00" in line for line in frames)
    assert any(" 4101-1 out " in line and "AFN0C" in line and "F2 terminal clock" in line
               for line in frames)

    lines = capture.read_text().splitlines()
    assert len(lines) >= len(frames) >= 6
    assert oct(capture.stat().st_mode & 0o777) == "0o600"
    decoded = subprocess.run(CONC + ["decode", "--file", str(capture), "--json"],
                             capture_output=True, text=True, env=ENV, timeout=60)
    assert decoded.returncode == 0, decoded.stderr
    docs = [json.loads(line) for line in decoded.stdout.splitlines()]
    assert len(docs) == len(lines)
    assert docs[0]["frame"]["afn"] == "02" and docs[0]["frame"]["units"][0]["fn"] == 1
    assert {d["frame"]["direction"] for d in docs} == {"up", "down"}
