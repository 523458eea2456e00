"""Three `conc station serve` processes on one PostgreSQL database and `conc sim terminals`
spread across them (issue 15): each terminal held by exactly one process, each command carried
out once by the process holding its terminal, and after kill -9 of one process its terminals
reconnect to the others, its pending commands complete there, and no reading is lost or
doubled."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import text

from host_tools.station.repository import open_station
from tests.waiting import wait_for

CONC = [sys.executable, "-m", "host_tools.cli"]
TERMINALS, METERS, ITEMS = 24, 2, 5      # ring-log records carry 5 items (total, t1..t4)


@pytest.fixture
def postgres_url(db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("several serve processes need PostgreSQL (SQLite: tests/test_serve_lock)")
    return db_url


def _serve(url):
    return subprocess.Popen(CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db", url,
                                    "--json", "--stats-every", "0", "--takeover-after", "10",
                                    "--read-every", "0", "--response-timeout", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, CONC_STATION_TZ="UTC"))


def _queue(url, commands):
    """Queue (terminal id, pn, kind) commands by a dispatcher, as `conc station trip` does."""
    from host_tools.business import relay, users
    from host_tools.business.database import open_business
    engine = open_business(url)
    try:
        with engine.begin() as conn:
            found = conn.execute(text("SELECT id FROM users WHERE name = 'disp'")).scalar()
            who = users.by_id(conn, found) if found else users.add_user(
                conn, "disp", "password for disp", "dispatcher", int(time.time()))
            return [relay.queue(conn, tid, pn, kind, who, int(time.time()))
                    for tid, pn, kind in commands]
    finally:
        engine.dispose()


def _rows(station, sql, **params):
    with station.db.transaction(write=False):
        return [tuple(r) for r in station.db.rows(text(sql), params)]


def _holders(station):
    """{terminal id: [front end ids of its open sessions]}."""
    held = {}
    for tid, fid in _rows(station, "SELECT terminal_id, front_end_id FROM sessions "
                                   "WHERE ended_at IS NULL"):
        held.setdefault(tid, []).append(fid)
    return held


def _all_held_once(station, live):
    held = _holders(station)
    return len(held) == TERMINALS and all(len(f) == 1 and f[0] in live for f in held.values())


def _finished(station, ids):
    states = dict(_rows(station, "SELECT id, state FROM commands WHERE finished_at IS NOT NULL"))
    return all(i in states for i in ids) and states


def test_three_serves_share_terminals_and_commands_and_survive_a_kill(postgres_url):
    with open_station(postgres_url) as station:
        station.add_terminals([("4101", a, "00", "") for a in range(1, TERMINALS + 1)])
        ids = {t.address: t.id for t in station.terminals()}
        for tid in ids.values():
            station.set_measuring_points(tid, [{"pn": pn, "meter_address": "%012d" % pn}
                                               for pn in range(1, METERS + 1)])
    serves = [_serve(postgres_url) for _ in range(3)]
    sim = None
    try:
        listening = [json.loads(s.stdout.readline())["listening"] for s in serves]
        sim = subprocess.Popen(CONC + [
            "sim", "terminals", "--count", str(TERMINALS), "--connect", ",".join(listening),
            "--meters", str(METERS), "--heartbeat-s", "1", "--upload-every", "0.5",
            "--backlog-days", "2", "--reconnect-s", "0.2", "--json", "--stats-every", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, CONC_STATION_TZ="UTC"))
        with open_station(postgres_url) as station:
            live = {row[0] for row in _rows(station, "SELECT id FROM front_ends")}
            assert len(live) == 3
            wait_for("every terminal held by exactly one serve",
                     lambda: _all_held_once(station, live), timeout=60)
            held = {tid: f[0] for tid, f in _holders(station).items()}
            assert set(held.values()) == live               # spread over the three

            # one trip per terminal of meter 1: each carried out once, by the holder
            first = _queue(postgres_url, [(tid, 1, "trip") for tid in sorted(ids.values())[:6]])
            states = wait_for("trips finished", lambda: _finished(station, first), timeout=60)
            assert {states[c] for c in first} == {"confirmed"}
            owners = dict(_rows(station, "SELECT terminal_id, front_end_id FROM commands"))
            assert all(owners[tid] == held[tid] for tid in owners)

            # kill -9 the serve holding the most terminals; queue commands for them at once
            victim_id = max(live, key=lambda f: list(held.values()).count(f))
            pid = _rows(station, "SELECT pid FROM front_ends WHERE id = :f", f=victim_id)[0][0]
            victim = next(s for s in serves if s.pid == pid)
            victim.kill()
            victim.wait(timeout=30)
            orphans = sorted(tid for tid, f in held.items() if f == victim_id)
            second = _queue(postgres_url, [(tid, 2, "trip") for tid in orphans])
            live.discard(victim_id)
            states = wait_for("commands of the killed serve's terminals finished",
                              lambda: _finished(station, second), timeout=90)
            assert {states[c] for c in second} == {"confirmed"}
            wait_for("every terminal held again", lambda: _all_held_once(station, live),
                     timeout=60)
            owners = dict(_rows(station, "SELECT id, front_end_id FROM commands"))
            assert {owners[c] for c in second} <= live
            wait_for("the killed serve retired", lambda: _rows(
                station, "SELECT stopped_at IS NOT NULL FROM front_ends WHERE id = :f",
                f=victim_id) == [(True,)], timeout=30)

        sim.send_signal(signal.SIGTERM)
        out, err = sim.communicate(timeout=60)
        assert sim.returncode == 0, err
        report = json.loads(out.strip().splitlines()[-1])
        # every AFN05 the station sent was carried out once: one per command
        assert report["relay_commands"] == len(first) + len(second)
        assert report["uploads_confirmed_distinct"] > TERMINALS
    finally:
        if sim is not None and sim.poll() is None:
            sim.kill()
        for serve in serves:
            if serve.poll() is None:
                serve.send_signal(signal.SIGTERM)
        for serve in serves:
            serve.communicate(timeout=60)
    assert [s.returncode for s in serves if s is not victim] == [0, 0]
    with open_station(postgres_url) as station:
        # each upload (its own 15-minute round of the backlog) stored whole, once: the rounds
        # the station confirmed are all there, and at most those still unconfirmed besides
        rounds = _rows(station, "SELECT terminal_id, read_at, COUNT(*) FROM readings "
                                "GROUP BY terminal_id, read_at")
        assert {count for _, _, count in rounds} == {METERS * ITEMS}
        confirmed = report["uploads_confirmed_distinct"]
        assert confirmed <= len(rounds) <= confirmed + report["uploads_unconfirmed"]
        assert _rows(station, "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL") == [(0,)]
