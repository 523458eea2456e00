"""Remote trip / close: commands from the database, executed with the PW, followed to the
relay state, every step in the audit trail; and the `conc station trip/close` commands."""
import asyncio

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


def test_trip_is_sent_with_the_pw_and_confirmed_by_the_relay_event(any_db_url):
    async def scenario():
        async with Harness(any_db_url, terminals=1, meters=2, password="1234",
                           control_options=FAST) as h:
            sim = await h.sim(1, password=bytes.fromhex("1234" + "00" * 14), relay_delay_s=0.1)
            command_id = h.command("trip", 2, reason="arrears")
            command = await finished(h, command_id)
            assert command.state == "confirmed"
            assert trail(h, command_id) == [("created", "ok"), ("sent", "ok"),
                                            ("answer", "confirmed"), ("relay", "confirmed")]
            assert "status word 3 = 0010" in h.station.command_steps(command_id)[-1].detail
            assert sim.requests.count((0x05, [(2, 1)])) == 1     # carried out once
            assert [e.erc for e in h.station.events(h.ids[1])] == [60]
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


def test_meter_refusing_the_trip_fails_the_command(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            await h.sim(1, relay_outcome=1)
            command_id = h.command("trip", 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == "failed"
            assert "refused by the meter" in h.station.command_steps(command_id)[-1].detail
    run(scenario())


def test_wrong_pw_is_denied_and_recorded(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, password="99",
                           control_options=FAST) as h:
            sim = await h.sim(1)                                   # its PW is all zero
            command_id = h.command("trip", 1, user="alice")
            command = await finished(h, command_id)
            assert command.state == "denied"
            assert trail(h, command_id)[-1] == ("answer", "denied")
            assert sim.events[1] == []                             # nothing was tripped
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
