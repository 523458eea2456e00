"""Several front ends on one database (front_ends.py), in one process: who holds a terminal,
who executes a command, a terminal moving between front ends; and a command whose terminal
went before answering, sent once more when it is back (issue 15)."""
import contextlib
import shutil

import pytest
from sqlalchemy import text

from host_tools.station import db as dbmod
from host_tools.station import schema
from host_tools.station.frontend import FrontEnd
from host_tools.station.repository import open_station
from tests.station_frontend.frontend_support import Harness, eventually, run
from tests.station_frontend.test_command_runner import FAST, finished, trail

# heartbeats every 0.1 s; a front end silent 20 s is dead (the machine is shared: a loaded
# process must not be retired while it works; the test of retirement sets its own)
MULTI = {"beat_s": 0.1, "stale_s": 20.0}


@pytest.fixture
def postgres_url(db_url):
    if db_url.startswith("sqlite"):
        pytest.skip("several front ends need PostgreSQL")
    return db_url


def drop_on_control(sim, times=1, carried_out=True):
    """The simulated terminal loses its connection on its next `times` AFN05 commands: after
    carrying each out, before the answer leaves (the relay event it raises comes with the next
    login), or with carried_out=False as the command arrives (it never gets it). sim.afn05_frames
    counts every AFN05 frame it receives (a repeat it answers from its cache included)."""
    receive = sim._request
    sim.afn05_frames = 0
    times_left = [times]

    def request(frame, raw):
        if frame.afn == 0x05:
            sim.afn05_frames += 1
            if times_left[0] > 0:
                times_left[0] -= 1
                sim.transport.abort()
                if not carried_out:
                    return None
        return receive(frame, raw)
    sim._request = request


@contextlib.asynccontextmanager
async def second_front_end(h):
    """(front end, its port): another front end on the harness's database, closed at the end."""
    front = FrontEnd(h.station, collector_config=h.collector, **h.front_options)
    try:
        yield front, (await front.start("127.0.0.1", 0))[1]
    finally:
        await front.close()


async def sim_at(h, front, port, address, **options):
    """A simulated terminal logged in to `front` (listening on `port`)."""
    h_port, h.port = h.port, port
    try:
        sim = await h.sim(address, login=False, **options)
    finally:
        h.port = h_port
    await eventually(lambda: sim.logged_in and front.link(h.ids[address]) is not None,
                     what="logged in at front end #%d" % front.front_end_id)
    return sim


def holders(h):
    with h.station.db.transaction(write=False):
        return h.station.db.rows(text("SELECT terminal_id, front_end_id FROM sessions "
                                      "WHERE ended_at IS NULL ORDER BY terminal_id"))


def test_a_terminal_moving_to_another_front_end_is_dropped_by_the_first(postgres_url):
    async def scenario():
        async with Harness(postgres_url, terminals=2, meters=1, **MULTI) as h:
            async with second_front_end(h) as (other, port):
                sim = await h.sim(1)
                await h.sim(2)
                first = h.front.front_end_id
                assert holders(h) == [(h.ids[1], first), (h.ids[2], first)]
                sim.close()
                sim.swarm.port = port                 # the terminal dials the other station
                await sim.swarm.connect(sim)
                await eventually(lambda: sim.logged_in and other.link(h.ids[1]) is not None,
                                 what="login at the second front end")
                await eventually(lambda: h.front.link(h.ids[1]) is None, what="first drops it")
                assert holders(h) == [(h.ids[1], other.front_end_id), (h.ids[2], first)]
                assert h.front.link(h.ids[2]) is not None         # the others stay
                assert h.station.terminal(h.ids[1]).status == "online"
    run(scenario())


def test_a_command_is_executed_once_by_the_front_end_holding_the_terminal(postgres_url):
    async def scenario():
        async with Harness(postgres_url, terminals=1, meters=2, control_options=FAST,
                           **MULTI) as h:
            async with second_front_end(h) as (other, port):
                sim = await sim_at(h, other, port, 1, relay_delay_s=0.05)
                commands = [h.command("trip", 1), h.command("close", 1), h.command("trip", 2)]
                done = [await finished(h, c) for c in commands]
                assert [c.state for c in done] == ["confirmed"] * 3, [
                    h.station.command_steps(c) for c in commands]
                controls = [r[1][0] for r in sim.requests if r[0] == 0x05]
                assert sorted(controls) == [(1, 1), (1, 2), (2, 1)]      # each once
                assert ("queued", "waiting") in trail(h, commands[1])
                with h.station.db.transaction(write=False):
                    owners = h.station.db.rows(text("SELECT DISTINCT front_end_id FROM "
                                                    "commands"))
                assert owners == [(other.front_end_id,)]
                assert h.front.commands.running == {}
    run(scenario())


def test_a_command_waiting_for_its_terminal_follows_it_to_another_front_end(postgres_url):
    async def scenario():
        control = dict(FAST, offline_wait_s=20.0)
        async with Harness(postgres_url, terminals=1, meters=1, control_options=control,
                           **MULTI) as h:
            async with second_front_end(h) as (other, port):
                command_id = h.command("trip", 1)
                await eventually(lambda: ("waiting", "offline") in trail(h, command_id),
                                 what="waiting for the terminal")
                sim = await sim_at(h, other, port, 1, relay_delay_s=0.05)
                command = await finished(h, command_id, timeout=15)
                assert command.state == "confirmed"
                steps = trail(h, command_id)
                assert steps.count(("sent", "ok")) == 1
                assert [r for r in sim.requests if r[0] == 0x05] == [(0x05, [(1, 1)])]
    run(scenario())


@pytest.mark.parametrize("carried_out", [False, True], ids=["command_lost", "answer_lost"])
def test_a_terminal_gone_before_answering_gets_the_command_once_more(db_url, carried_out):
    """The GPRS link drops as the trip arrives (the terminal never got it) or after the
    terminal carried it out (its answer is lost): no false timeout; the command waits for the
    terminal's next login and is sent once more."""
    async def scenario():
        control = dict(FAST, offline_wait_s=10.0)
        async with Harness(db_url, terminals=1, meters=1, control_options=control) as h:
            sim = await h.sim(1, relay_delay_s=0.05)
            drop_on_control(sim, carried_out=carried_out)
            command_id = h.command("trip", 1)
            await eventually(lambda: ("answer", "lost") in trail(h, command_id), what="lost")
            await eventually(lambda: h.link(1) is None, what="session gone")
            await h.reconnect(sim)
            command = await finished(h, command_id, timeout=15)
            assert command.state == "confirmed"
            assert trail(h, command_id) == [("created", "ok"), ("sent", "ok"), ("answer", "lost"),
                                            ("sent", "ok"), ("answer", "confirmed"),
                                            ("relay", "confirmed")]
            lost = h.station.command_steps(command_id)[2].detail
            assert lost == ("terminal 4101-1 disconnected before answering; sending again when "
                            "it is back")
            assert "send 2 of 2" in h.station.command_steps(command_id)[3].detail
            assert sim.afn05_frames == 2
            if not carried_out:
                assert sim.requests.count((0x05, [(1, 1)])) == 1     # carried out once
            # (A terminal that carried the trip out knows the resend for a repeat only while it
            # is the last request it saw; the event read after its login may come first, and a
            # second trip of a tripped relay changes nothing.)
    run(scenario())


def test_a_terminal_gone_twice_gets_no_third_send(sqlite_url):
    async def scenario():
        control = dict(FAST, offline_wait_s=10.0)
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=control) as h:
            sim = await h.sim(1, relay_delay_s=0.05)
            drop_on_control(sim, times=2)
            command_id = h.command("trip", 1)
            for sends in (1, 2):
                await eventually(lambda n=sends: sim.afn05_frames == n,
                                 what="send %d" % sends)
                await eventually(lambda: h.link(1) is None, what="session gone")
                await h.reconnect(sim)
            command = await finished(h, command_id)
            assert command.state == "timeout"
            assert "disconnected again before answering; not sent a third time" in \
                h.station.command_steps(command_id)[-1].detail
            assert sim.afn05_frames == 2
    run(scenario())


def test_a_lost_answer_is_sent_again_by_the_front_end_the_terminal_moved_to(postgres_url):
    async def scenario():
        control = dict(FAST, offline_wait_s=15.0)
        async with Harness(postgres_url, terminals=1, meters=1, control_options=control,
                           **MULTI) as h:
            async with second_front_end(h) as (other, port):
                sim = await h.sim(1, relay_delay_s=0.05)
                drop_on_control(sim)
                command_id = h.command("trip", 1)
                await eventually(lambda: ("answer", "lost") in trail(h, command_id),
                                 what="lost")
                await eventually(lambda: h.link(1) is None, what="session gone")
                sim.swarm.port = port                       # now at the other front end
                await sim.swarm.connect(sim)
                await eventually(lambda: other.link(h.ids[1]) is not None, what="moved")
                command = await finished(h, command_id, timeout=15)
                assert command.state == "confirmed"
                assert trail(h, command_id) == [
                    ("created", "ok"), ("sent", "ok"), ("answer", "lost"), ("moved", "ok"),
                    ("sent", "ok"), ("answer", "confirmed"), ("relay", "confirmed")]
                assert sim.afn05_frames == 2
    run(scenario())


def test_a_front_end_silent_past_the_limit_is_retired_by_its_peer(postgres_url):
    async def scenario():
        async with Harness(postgres_url, terminals=1, meters=1, control_options=FAST,
                           beat_s=0.1, stale_s=3.0) as h:
            async with second_front_end(h) as (other, _):
                await h.sim(1)
                silent = h.front.front_end_id
                for task in h.front._tasks:                 # it stops beating (a hung host)
                    if task.get_coro().__name__ == "_front_end_beat":
                        task.cancel()
                await eventually(lambda: holders(h) == [], timeout=20,
                                 what="its session ended by the peer")
                assert h.station.terminal(h.ids[1]).status == "offline"
                assert silent not in [f[0] for f in h.station.live_front_ends(0)]
                with h.station.db.transaction(write=False):
                    reason = h.station.db.scalar(text(
                        "SELECT end_reason FROM sessions WHERE terminal_id = :t"),
                        {"t": h.ids[1]})
                assert reason == "front end #%d stopped" % silent
    run(scenario())


def test_revision_0005_upgrades_a_0004_database_with_data(db_url, tmp_path):
    """The front ends' columns and table come to a database at 0004 holding sessions and
    commands; those rows belong to no front end."""
    location = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    for later in (location / "versions").glob("000[5-9]_*.py"):     # 0005 and what came after
        later.unlink()
    database = dbmod.connect(db_url, create=True)
    try:
        assert schema.migrate(database, 1000, str(location))[-1] == "0004_relay_path"
        with database.transaction():
            database.execute(text("INSERT INTO terminals (area_code, address, password, "
                                  "created_at) VALUES ('4101', 1, 'x', 1)"))
            tid = database.scalar(text("SELECT id FROM terminals"))
            database.execute(text("INSERT INTO sessions (terminal_id, started_at) "
                                  "VALUES (:t, 5)"), {"t": tid})
            database.execute(text("INSERT INTO commands (terminal_id, terminal_label, pn, kind, "
                                  "operator, state, created_at, updated_at) VALUES "
                                  "(:t, '4101-1', 1, 'trip', 'op', 'sent', 5, 5)"), {"t": tid})
        assert schema.migrate(database, 2000)[0] == "0005_front_ends"
        with database.transaction(write=False):
            assert database.rows(text("SELECT front_end_id FROM sessions")) == [(None,)]
            assert database.rows(text("SELECT front_end_id, sends, relay_baseline FROM "
                                      "commands")) == [(None, 0, None)]
            assert database.rows(text("SELECT COUNT(*) FROM front_ends")) == [(0,)]
    finally:
        database.close()
    with open_station(db_url, create=False) as station:
        assert station.unowned_sent_commands() == [1]
        assert station.end_sessions_of_no_front_end("station restarted", 3000) == 1


def test_a_login_at_another_front_end_is_refused_while_the_session_answers(postgres_url):
    """The impostor rule across front ends: a login from another IP at the second front end,
    while the terminal's session at the first still answers, is refused with an alarm; once
    that session is silent, the login is taken (the terminal moved)."""
    from tests.station_frontend.test_frontend_limits import connect_from
    from tests.station_frontend.test_frontend_security import station_alarms

    async def scenario():
        async with Harness(postgres_url, terminals=1, meters=1, response_timeout=0.5,
                           **MULTI) as h:
            async with second_front_end(h) as (other, port):
                real = await h.sim(1)                      # from 127.0.0.1, at the first
                h_port, h.port = h.port, port
                impostor = await connect_from(h, "127.0.0.2", 1)
                impostor.send_link(1)
                answer = await impostor.receive(timeout=10)
                assert answer.afn == 0 and answer.units[0][1] == 2      # denied
                await eventually(lambda: station_alarms(h, 1, "second_login"), what="alarm")
                assert h.link(1) is not None and other.link(h.ids[1]) is None
                assert holders(h) == [(h.ids[1], h.front.front_end_id)]

                real.ignore_requests = 100                  # now a half-open connection
                moved = await connect_from(h, "127.0.0.3", 1)
                h.port = h_port
                moved.send_link(1)
                answer = await moved.receive(timeout=10)
                assert answer.afn == 0 and answer.units[0][1] == 1      # confirmed
                await eventually(lambda: h.link(1) is None, what="first drops it")
                assert holders(h) == [(h.ids[1], other.front_end_id)]
                assert len(station_alarms(h, 1, "second_login")) == 1
    run(scenario())
