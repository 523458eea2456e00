"""Remote trip / close: commands from the database, executed with the PW, followed to the
relay state, every step in the audit trail; and the `conc station trip/close` commands."""
import asyncio

import pytest
from click.testing import CliRunner

from host_tools.commands.station import close as close_cmd
from host_tools.commands.station import trip as trip_cmd
from tests.station_frontend.frontend_support import ZONE_NAME, Harness, eventually, run

FAST = {"follow_s": 1.0, "probe_s": 0.2, "offline_wait_s": 0.3}


async def finished(h, command_id, timeout=8):
    await eventually(lambda: h.station.command(command_id).finished_at is not None,
                     timeout=timeout, what="command finished")
    return h.station.command(command_id)


def trail(h, command_id):
    return [(s.step, s.outcome) for s in h.station.command_steps(command_id)]


def test_trip_is_sent_with_the_pw_and_confirmed_by_the_relay_event(db_url):
    async def scenario():
        async with Harness(db_url, terminals=1, meters=2, password="1234",
                           control_options=FAST) as h:
            sim = await h.sim(1, password=bytes.fromhex("1234" + "00" * 14), relay_delay_s=0.1)
            command_id = h.command("trip", 2, reason="arrears")
            command = await finished(h, command_id)
            assert command.state == "confirmed"
            assert trail(h, command_id) == [("created", "ok"), ("sent", "ok"),
                                            ("answer", "confirmed"), ("relay", "confirmed")]
            detail = h.station.command_steps(command_id)[-1].detail
            assert "ERC33 status word 3 = 0010: relay open" in detail
            assert sim.requests.count((0x05, [(2, 1)])) == 1     # carried out once
            assert [e.erc for e in h.station.events(h.ids[1])] == [33]    # the standard record
    run(scenario())


@pytest.mark.parametrize("relay, kind, state, detail", [
    # the vendor ERC60 record of firmware before ERC33 is still understood
    ({"relay_record": "erc60", "relay_delay_s": 0.05}, "close", "confirmed",
     "ERC60 outcome: confirmed"),
    # ERC33 whose status word 3 still says closed: the relay did not switch
    ({"relay_outcome": 1}, "trip", "failed", "status word 3 = 0000: relay closed"),
], ids=["vendor_erc60_of_older_firmware_confirms", "relay_that_did_not_switch_fails"])
def test_the_relay_record_decides_the_command(sqlite_url, relay, kind, state, detail):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            await h.sim(1, **relay)
            command_id = h.command(kind, 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == state
            assert detail in h.station.command_steps(command_id)[-1].detail
    run(scenario())


def test_relay_outcome_never_reported_times_out(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            sim = await h.sim(1, relay_outcome=None)
            command_id = h.command("close", 1, user="bob")
            command = await finished(h, command_id)
            assert command.state == "timeout"
            assert trail(h, command_id)[-1] == ("relay", "timeout")
            assert (0x05, [(1, 2)]) in sim.requests
            assert (0x0C, [(0, 2)]) in sim.requests              # probed for ACD meanwhile
    run(scenario())


def test_wrong_pw_is_denied_and_recorded(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, password="99",
                           control_options=FAST) as h:
            sim = await h.sim(1)                                   # its PW is all zero
            command_id = h.command("trip", 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == "denied"
            assert trail(h, command_id)[2] == ("answer", "denied")   # then the security alarm
            assert [r["erc"] for r in sim.events[1]] == [20]       # nothing was tripped
    run(scenario())


def test_no_answer_to_the_trip_times_out(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST,
                           response_timeout=0.2, retries=1) as h:
            sim = await h.sim(1)
            sim.ignore_requests = 10
            command_id = h.command("trip", 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == "timeout"
            assert trail(h, command_id)[-1] == ("answer", "timeout")
    run(scenario())


def test_a_terminal_that_does_not_come_back_leaves_the_relay_state_unknown(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            sim = await h.sim(1)
            sim.drop_on_afns.add(0x05)
            command_id = h.command("close", 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == "timeout"
            assert trail(h, command_id)[-2:] == [("answer", "lost"), ("waiting", "timeout")]
            assert "relay state is unknown" in h.station.command_steps(command_id)[-1].detail
    run(scenario())


def test_offline_terminal_fails_after_waiting(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            command_id = h.command("trip", 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == "failed"
            assert trail(h, command_id) == [("created", "ok"), ("waiting", "offline"),
                                            ("waiting", "failed")]
    run(scenario())


def test_command_left_sent_by_a_stopped_station_is_failed_at_start(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            await h.front.close()
            command_id = h.command("trip", 1, user="alice")
            h.station.record_command_step(command_id, "sent", "ok", "AFN05 F1", state="sent")
            await h.start_with(None)
            command = await finished(h, command_id)
            assert command.state == "failed"
            assert "relay state is unknown" in h.station.command_steps(command_id)[-1].detail
    run(scenario())


def test_cli_trip_and_close_print_the_audit_trail(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, control_options=FAST) as h:
            await h.sim(1, relay_delay_s=0.05)
            runner = CliRunner()
            h.user("carol")
            env = {"CONC_STATION_DB": sqlite_url, "CONC_STATION_TZ": ZONE_NAME,
                   "CONC_STATION_PASSWORD": "password for carol"}
            tripped = await asyncio.to_thread(
                runner.invoke, trip_cmd.cli, ["--meter", "000001000001", "--user", "carol",
                                              "--reason", "test"], env=env)
            assert tripped.exit_code == 0, tripped.output
            lines = tripped.output.splitlines()
            assert lines[0] == "command #1: trip meter 000001000001 (4101-1:1) by carol"
            assert [line.split()[2] for line in lines[1:5]] == ["created", "sent", "answer",
                                                                "relay"]
            assert lines[-1] == "trip confirmed"
            closed = await asyncio.to_thread(
                runner.invoke, close_cmd.cli, ["--meter", "4101-1:2", "--user", "carol",
                                               "--json"], env=env)
            assert closed.exit_code == 0, closed.output
            assert '"state": "confirmed"' in closed.output
            assert h.station.command(2).operator == "carol"
    run(scenario())


def test_cli_cancels_a_command_no_station_picks_up(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, commands=False) as h:
            h.user("dave")
            result = await asyncio.to_thread(
                CliRunner().invoke, trip_cmd.cli,
                ["--meter", "4101-1:1", "--user", "dave", "--pickup-timeout", "0.5"],
                env={"CONC_STATION_DB": sqlite_url, "CONC_STATION_TZ": ZONE_NAME,
                     "CONC_STATION_PASSWORD": "password for dave"})
            assert result.exit_code == 1
            assert "ended cancelled" in result.output
            assert h.station.command(1).state == "cancelled"
            assert "no running station" in h.station.command_steps(1)[-1].detail
    run(scenario())


def test_a_point_not_in_the_archive_is_refused_and_never_sent(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            sim = await h.sim(1)
            # as anyone with the database could write it: the runner checks the archive itself
            command_id = h.command("trip", 7, user="mallory")
            command = await finished(h, command_id)
            assert command.state == "failed"
            assert trail(h, command_id) == [("created", "ok"), ("check", "refused")]
            assert "not in the archive" in h.station.command_steps(command_id)[-1].detail
            assert not [r for r in sim.requests if r[0] == 0x05]
            # and the CLI does not even write it
            h.user("carol")
            result = await asyncio.to_thread(
                CliRunner().invoke, trip_cmd.cli, ["--meter", "4101-1:7", "--user", "carol"],
                env={"CONC_STATION_DB": sqlite_url, "CONC_STATION_TZ": ZONE_NAME,
                     "CONC_STATION_PASSWORD": "password for carol"})
            assert result.exit_code == 4 and "not in terminal 4101-1's archive" in result.output
            assert len(h.station.commands()) == 1
    run(scenario())


def test_one_command_per_meter_in_flight(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, control_options=FAST) as h:
            sim = await h.sim(1, relay_delay_s=0.3)
            first = h.command("trip", 1, user="alice")
            second = h.command("close", 1, user="bob")
            other = h.command("trip", 2, user="carol")
            done = [await finished(h, c) for c in (first, second, other)]
            assert [c.state for c in done] == ["confirmed", "confirmed", "confirmed"]
            assert trail(h, second) == [("created", "ok"), ("queued", "waiting"), ("sent", "ok"),
                                        ("answer", "confirmed"), ("relay", "confirmed")]
            # the second was sent only after the first had finished; another meter did not wait
            steps = {c: h.station.command_steps(c) for c in (first, second, other)}
            assert steps[second][2].at >= steps[first][-1].at
            assert ("queued", "waiting") not in trail(h, other)
            controls = [r[1][0] for r in sim.requests if r[0] == 0x05]
            assert sorted(controls[:2]) == [(1, 1), (2, 1)] and controls[2:] == [(1, 2)]
    run(scenario())


def test_forwarding_path_switches_the_meter_of_a_terminal_without_our_afn05(sqlite_url):
    """A terminal that does not map AFN05 to measuring points (it denies them): with its relay
    path set to "forward" the station sends DL/T 645 0x1C through AFN10 F1 and confirms by
    reading status word 3 the same way."""
    from host_tools.simulators.clock import SimClock
    from host_tools.simulators.meter_model import MeterModel
    from host_tools.simulators.meter_protocols import Dlt645Handler

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            model = MeterModel("000001000001", SimClock(), password="00000000", noise=False)
            sim = await h.sim(1, afn05_per_point=False,
                              bus_meters={2: [Dlt645Handler(model)]})   # archive port 2
            tid = h.ids[1]
            denied = h.command("trip", 1, user="alice")
            assert (await finished(h, denied)).state == "denied"       # AFN05: not mapped
            h.station.set_relay_path(tid, "forward")
            assert h.station.relay_path(tid) == "forward"
            trip = h.command("trip", 1, user="alice")
            assert (await finished(h, trip)).state == "confirmed"
            assert model.relay_open
            assert "AFN10 F1: status word 3 = 0050: relay open" in \
                h.station.command_steps(trip)[-1].detail
            close = h.command("close", 1, user="alice")
            assert (await finished(h, close)).state == "confirmed" and not model.relay_open
            assert [afn for afn, _ in sim.requests].count(0x10) == 4   # 0x1C + read, twice
    run(scenario())


def test_a_version_1_database_gets_the_relay_path_with_afn05_for_every_terminal(tmp_path):
    import shutil
    from pathlib import Path

    from host_tools.station.repository import open_station
    # written by the pre-Alembic station (tests/station/test_station_db.py says how)
    old = Path(__file__).parent.parent / "station" / "data" / "v1_station.db"
    shutil.copy(old, tmp_path / "old.db")
    with open_station("sqlite:///%s" % (tmp_path / "old.db"), zone="UTC") as station:
        assert [station.relay_path(t.id) for t in station.terminals()] == ["afn05", "afn05"]


def test_serve_refuses_a_command_without_a_user_who_may_switch_relays(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            sim = await h.sim(1)
            viewer = h.user("vera", role="viewer")
            # Written the old way: an operator's name but no station user.
            command_id = h.station.create_command(h.ids[1], "trip", "someone", pn=1)
            command = await finished(h, command_id)
            assert command.state == "denied"
            assert trail(h, command_id) == [("created", "ok"), ("authorise", "denied")]
            assert "names no station user" in h.station.command_steps(command_id)[-1].detail
            assert not any(afn == 0x05 for afn, _ in sim.requests)     # nothing was sent
            # A viewer's command is refused the same way, whenever the runner sees it.
            command_id = h.station.create_command(h.ids[1], "trip", "vera", pn=1)
            with h.station.db.transaction():
                h.station.db.execute("UPDATE commands SET user_id = :u WHERE id = :c",
                                     {"u": viewer.id, "c": command_id})
            assert (await finished(h, command_id)).state == "denied"
            assert h.front.commands._refusal(command_id) == \
                "user vera (role viewer) may not switch relays"
            assert not any(afn == 0x05 for afn, _ in sim.requests)
    run(scenario())


def test_cli_trip_needs_a_user_who_may_switch_relays(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            h.user("vera", role="viewer")
            env = {"CONC_STATION_DB": sqlite_url, "CONC_STATION_TZ": ZONE_NAME,
                   "CONC_STATION_PASSWORD": "password for vera"}
            refused = await asyncio.to_thread(
                CliRunner().invoke, trip_cmd.cli, ["--meter", "4101-1:1", "--user", "vera"],
                env=env)
            assert refused.exit_code == 1
            assert "not permitted: vera (role viewer) may not relay.control" in refused.output
            wrong = await asyncio.to_thread(
                CliRunner().invoke, trip_cmd.cli, ["--meter", "4101-1:1", "--user", "vera"],
                env=dict(env, CONC_STATION_PASSWORD="not her password"))
            assert wrong.exit_code == 4 and "login failed" in wrong.output
            assert "not her password" not in wrong.output
            assert h.station.commands() == []
    run(scenario())
