"""Front-end figures: terminals one station process holds, heartbeat latency, ingest over TCP.

`station.terminals_held`: 10 000 registered terminals log in to one `conc station serve` process
(SQLite) from two `conc sim terminals` processes of 5 000 each (loopback, separate processes so
the station has its own core), then hold for HOLD_S seconds with 1-minute heartbeats (each
terminal's first heartbeat falls at a random point of its first minute, so all of them send at
least one). Held = logged in at the end with every heartbeat it sent confirmed.
`station.heartbeat_p99_ms`: the 99th percentile of heartbeat send -> confirm, at that load (the
worse of the two swarm processes).

`station.frontend_ingest_per_s.sqlite`: readings stored per second when UPLOADERS terminals of
METERS meters each upload their forward active energy (total + 4 tariffs) every second through
the TCP front end as the concentrator firmware does (AFN0D with CON, vendor unit F241 of
numbered ring-log records), each upload the next 15-minute round of a 30-day backlog (distinct
read times: nothing is a duplicate), each confirmed once committed by the group commit: new rows
counted in the database over the upload window. `.postgresql`: the same against a throwaway
PostgreSQL server with fsync on (or CONC_TEST_POSTGRES_URL's server).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from host_tools.station import pgtest
from host_tools.station.repository import open_station

TERMINALS = 10_000
SWARMS = 2
HOLD_S = 80
RAMP_PER_S = 400           # per swarm process
UPLOADERS = 200
METERS = 64
UPLOAD_S = 20
CONC = [sys.executable, "-m", "host_tools.cli"]


def _station(url, folder):
    """Start `conc station serve` on a free port; (process, port)."""
    log = open(Path(folder) / "serve.log", "w")
    process = subprocess.Popen(
        CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db", url, "--json",
                "--read-every", "0", "--clock-check-every", "0", "--stats-every", "0",
                "--idle-timeout", "200"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=dict(os.environ, TZ="UTC",
                                                                CONC_STATION_TZ="UTC"))
    line = process.stdout.readline()
    if not line:
        process.wait(10)
        raise RuntimeError("the station did not start: %s" % (Path(folder) / "serve.log")
                           .read_text()[-2000:])
    port = int(json.loads(line)["listening"].rsplit(":", 1)[1])
    return process, port


def _stop(process):
    process.send_signal(2)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _swarm(port, count, first, seconds, extra=()):
    return subprocess.Popen(
        CONC + ["sim", "terminals", "--count", str(count), "--first-address", str(first),
                "--connect", "127.0.0.1:%d" % port, "--heartbeat-s", "60", "--ramp",
                str(RAMP_PER_S), "--duration", str(seconds), "--stats-every", "0", "--json",
                "--reconnect-s", "5"] + list(extra),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env=dict(os.environ, TZ="UTC", CONC_STATION_TZ="UTC"))


def _report(process):
    out, _ = process.communicate(timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def measure_held(folder):
    url = "sqlite:///%s" % (Path(folder) / "held.db")
    with open_station(url, zone="UTC") as station:
        station.add_terminals([("4101", a, "00", "") for a in range(1, TERMINALS + 1)])
    station_process, port = _station(url, folder)
    try:
        per = TERMINALS // SWARMS
        ramp_s = per / RAMP_PER_S
        swarms = [_swarm(port, per, 1 + i * per, ramp_s + HOLD_S) for i in range(SWARMS)]
        reports = [_report(s) for s in swarms]
    finally:
        _stop(station_process)
    return reports


def measure_ingest(folder, url=None):
    url = url or "sqlite:///%s" % (Path(folder) / "ingest.db")
    with open_station(url, zone="UTC") as station:
        station.add_terminals([("4101", a, "00", "") for a in range(1, UPLOADERS + 1)])
    station_process, port = _station(url, folder)
    try:
        swarm = _swarm(port, UPLOADERS, 1, UPLOAD_S, ["--meters", str(METERS), "--upload-every",
                                                      "1", "--backlog-days", "30"])
        report = _report(swarm)
    finally:
        _stop(station_process)
    with open_station(url, zone="UTC") as station, station.db.transaction(write=False):
        rows = station.db.rows("SELECT MIN(received_at), MAX(received_at), COUNT(*) "
                               "FROM readings")
    first, last, count = rows[0]
    return count, max(1, last - first + 1), report


def run(bench):
    with tempfile.TemporaryDirectory() as folder:
        reports = measure_held(folder)
    held = sum(r["held"] for r in reports)
    bench.emit("station.terminals_held", held, "terminals", goal=">= 10000",
               offered=TERMINALS, logins=sum(r["logins"] for r in reports),
               heartbeats_sent=sum(r["heartbeats_sent"] for r in reports),
               heartbeats_unconfirmed=sum(r["heartbeats_unconfirmed"] for r in reports),
               disconnects=sum(r["disconnects"] for r in reports), hold_s=HOLD_S,
               swarm_processes=SWARMS)
    bench.emit("station.heartbeat_p99_ms", max(r["heartbeat_p99_ms"] or 0 for r in reports),
               "ms", goal="<= 1000", p50_ms=max(r["heartbeat_p50_ms"] or 0 for r in reports),
               login_p99_ms=max(r["login_p99_ms"] or 0 for r in reports),
               terminals=TERMINALS)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        stored, seconds, report = measure_ingest(folder)
    bench.emit("station.frontend_ingest_per_s.sqlite", round(stored / seconds), "readings/s",
               terminals=UPLOADERS, meters=METERS, readings_per_upload=METERS * 5,
               uploads_confirmed=report["uploads_confirmed"], uploads_sent=report["uploads_sent"],
               stored=stored, window_s=seconds, wall_s=round(time.monotonic() - started))
    if pgtest.skip_requested():
        print("# station.frontend_ingest_per_s.postgresql skipped: %s is set" % pgtest.ENV_SKIP)
        return
    server = pgtest.server_for_tests(durable=True)
    try:
        name = "frontend_%s" % uuid.uuid4().hex[:8]
        url = server.create_database(name)
        with tempfile.TemporaryDirectory() as folder:
            stored, seconds, report = measure_ingest(folder, url)
        server.drop_database(name)
    finally:
        server.stop()
    bench.emit("station.frontend_ingest_per_s.postgresql", round(stored / seconds),
               "readings/s", terminals=UPLOADERS, meters=METERS,
               uploads_confirmed=report["uploads_confirmed"], stored=stored, window_s=seconds)
