"""Several front ends on one PostgreSQL database (issue 15): terminals held by 3 processes vs 1.

`frontend.terminals_held_3proc.postgresql`: TERMINALS registered terminals log in, beat every
HEARTBEAT_S and upload METERS meters' readings every UPLOAD_S (AFN0D F241 ring-log records with
CON, each upload its own round of a backlog) for HOLD_S seconds, from SWARMS `conc sim terminals`
processes, against 3 `conc station serve` processes sharing one throwaway PostgreSQL database
(fsync on); each swarm is given the 3 addresses and spreads its terminals over them. Held =
logged in at the end with every heartbeat it sent confirmed and at least one of its uploads
confirmed (stored) (the swarm's `held_uploading`). The station runs with its collection
defaults but real-time reads and clock checks off: at login each terminal still gets its
archive, report tasks and frozen-value backfill, which is what a front end does at a mass
reconnect. The same load is offered to 1
process in the same run: `frontend.terminals_held_3proc_vs_1proc.postgresql` is the ratio of
the two (goal >= 1: adding front ends must not lose terminals; on this 2-core machine the three
share the cores with the database and the swarms, so more than 1 is not expected here).
"""
import json
import os
import subprocess
import tempfile
import uuid
from pathlib import Path

from host_tools.station import pgtest
from host_tools.station.repository import open_station
from tests.bench.station_frontend import CONC, _report, _stop

TERMINALS = 2000
SWARMS = 2
METERS = 4
HEARTBEAT_S = 20
UPLOAD_S = 30
HOLD_S = 90
RAMP_PER_S = 300           # per swarm process


def _serves(url, folder, count):
    """`count` serve processes on `url`; [(process, "127.0.0.1:port")]."""
    started = []
    for index in range(count):
        log = open(Path(folder) / ("serve%d.log" % index), "w")
        process = subprocess.Popen(
            CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db", url, "--json",
                    "--read-every", "0", "--clock-check-every", "0", "--stats-every", "0",
                    "--idle-timeout", "200"],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env=dict(os.environ, TZ="UTC", CONC_STATION_TZ="UTC"))
        line = process.stdout.readline()
        if not line:
            process.wait(10)
            raise RuntimeError("the station did not start: %s" % (
                Path(folder) / ("serve%d.log" % index)).read_text()[-2000:])
        started.append((process, json.loads(line)["listening"]))
    return started


def measure(url, folder, processes):
    """Offer the load to `processes` serve processes; the swarms' reports."""
    serves = _serves(url, folder, processes)
    try:
        per = TERMINALS // SWARMS
        seconds = per / RAMP_PER_S + HOLD_S
        swarms = [subprocess.Popen(
            CONC + ["sim", "terminals", "--count", str(per), "--first-address",
                    str(1 + i * per), "--connect", ",".join(a for _, a in serves),
                    "--heartbeat-s", str(HEARTBEAT_S), "--meters", str(METERS),
                    "--upload-every", str(UPLOAD_S), "--backlog-days", "30", "--ramp",
                    str(RAMP_PER_S), "--duration", str(seconds), "--stats-every", "0",
                    "--json", "--reconnect-s", "5"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(os.environ, TZ="UTC", CONC_STATION_TZ="UTC")) for i in range(SWARMS)]
        return [_report(s) for s in swarms]
    finally:
        for process, _ in serves:
            _stop(process)


def _database(server):
    url = server.create_database("several_%s" % uuid.uuid4().hex[:8])
    with open_station(url, zone="UTC") as station:
        station.add_terminals([("4101", a, "00", "") for a in range(1, TERMINALS + 1)])
        for terminal in station.terminals():
            station.set_measuring_points(terminal.id, [
                {"pn": pn, "meter_address": "%06d%06d" % (terminal.address, pn)}
                for pn in range(1, METERS + 1)])
    return url


def run(bench):
    if pgtest.skip_requested():
        print("# frontend.terminals_held_3proc.postgresql skipped: %s is set" % pgtest.ENV_SKIP)
        return
    server = pgtest.server_for_tests(durable=True)
    held = {}
    try:
        for processes in (1, 3):
            with tempfile.TemporaryDirectory() as folder:
                reports = measure(_database(server), folder, processes)
            held[processes] = (sum(r["held_uploading"] for r in reports), reports)
    finally:
        server.stop()
    three, reports = held[3]
    bench.emit("frontend.terminals_held_3proc.postgresql", three, "terminals",
               goal=">= %d" % TERMINALS, offered=TERMINALS, processes=3,
               heartbeat_s=HEARTBEAT_S, upload_s=UPLOAD_S, meters=METERS, hold_s=HOLD_S,
               held_heartbeats_only=sum(r["held"] for r in reports),
               uploads_sent=sum(r["uploads_sent"] for r in reports),
               uploads_confirmed=sum(r["uploads_confirmed"] for r in reports),
               heartbeat_p99_ms=max(r["heartbeat_p99_ms"] or 0 for r in reports),
               disconnects=sum(r["disconnects"] for r in reports))
    bench.emit("frontend.terminals_held_3proc_vs_1proc.postgresql",
               round(three / max(1, held[1][0]), 2), "x", goal=">= 1", held_1proc=held[1][0],
               held_3proc=three,
               heartbeat_p99_ms_1proc=max(r["heartbeat_p99_ms"] or 0 for r in held[1][1]),
               uploads_confirmed_1proc=sum(r["uploads_confirmed"] for r in held[1][1]),
               uploads_sent_1proc=sum(r["uploads_sent"] for r in held[1][1]))
