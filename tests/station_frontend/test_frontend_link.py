"""Front end link layer: logins accepted and denied, heartbeats, logout, address checks."""
import asyncio
import threading
import time

from protocol import gw376

from tests.station_frontend.frontend_support import AREA, Harness, eventually, run

# docs/gw376.md (field capture, 0171-2082): the master's confirm of a login is C = 0B, AFN00 F1
LOGIN_CONFIRM_EXAMPLE = "6832003200680b71012208000068000001001016"


def test_login_is_confirmed_with_link_status_and_the_session_recorded(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            login = raw.send_link(1)
            answer = await raw.receive_raw()
            assert answer == gw376.build(gw376.confirm(login))
            assert answer[6] == 0x0B and answer[12] == 0x00          # C=0B, AFN00
            await eventually(lambda: h.link(1) is not None, what="session")
            sessions = h.station.sessions(h.ids[1])
            assert len(sessions) == 1 and sessions[0].ended_at is None
            assert h.station.terminal(h.ids[1]).status == "online"
    run(scenario())
    # the same bytes as the documented example, built for that terminal
    request = gw376.link_frame(1, 171, 2082, 8)
    assert gw376.build(gw376.confirm(request)).hex() == LOGIN_CONFIRM_EXAMPLE


def test_unregistered_terminal_is_denied_logged_and_disconnected(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(7)                           # 4101-7 is not registered
            login = raw.send_link(1)
            answer = await raw.receive()
            assert answer.afn == 0 and answer.units[0][1] == 2      # AFN00 F2 denied
            assert answer.seq == login.seq and answer.terminal == 7
            assert await raw.receive_raw() is None                  # connection closed
            # written by the front end's one denial writer, a moment after the answer
            await eventually(lambda: h.station.denied_logins(), what="denied login logged")
            denied = h.station.denied_logins()
            assert [(d[2], d[3], d[4]) for d in denied] == [("4101", 7, "not a registered "
                                                             "terminal")]
            assert h.station.sessions(h.ids[1]) == []
    run(scenario())


def test_wrong_area_code_is_denied(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            raw.send(gw376.link_frame(1, 4102, 1, 0))        # right A2, wrong A1
            answer = await raw.receive()
            assert answer.units[0][1] == 2
            await eventually(lambda: h.station.denied_logins(), what="denied login logged")
            assert h.station.denied_logins()[0][2:4] == ("4102", 1)
    run(scenario())


def test_frames_before_login_are_denied_and_not_a_session(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            raw.send_link(3)                               # heartbeat without a login
            answer = await raw.receive()
            assert answer.units[0][1] == 2
            await raw.login()                              # the login still works after it
    run(scenario())


def test_heartbeats_are_confirmed_and_recorded(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await raw.login()
            # both editions' heartbeats: 2009 without data, 2013 with the terminal clock
            for clock in (None, (2026, 12, 7, 4, 58, 30, 1), None):
                beat = raw.send_link(3, clock=clock)
                answer = await raw.receive()
                assert answer.afn == 0 and answer.units[0][1] == 1 and answer.seq == beat.seq
                assert answer.function == 11
            await h.front.writer.flush()
            session = h.station.sessions(h.ids[1])[0]
            # StationWriter coalesces a session's heartbeats between two commits
            assert session.last_heartbeat_at is not None and 1 <= session.heartbeats <= 3
            assert h.front.stats["heartbeats"] == 3
    run(scenario())


def test_frame_with_another_address_in_a_session_is_denied_and_logged(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=2) as h:
            raw = await h.raw(1)
            await raw.login()
            raw.send_link(3, address=2)                    # pretends to be 4101-2
            answer = await raw.receive()
            assert answer.units[0][1] == 2
            await eventually(lambda: h.station.denied_logins(), what="denied logged")
            assert "on the session of 4101-1" in h.station.denied_logins()[0][4]
            raw.send_link(3)                               # its own heartbeats still work
            assert (await raw.receive()).units[0][1] == 1
    run(scenario())


def test_logout_ends_the_session(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await raw.login()
            raw.send_link(2)
            assert (await raw.receive()).units[0][1] == 1
            assert await raw.receive_raw() is None
            await eventually(lambda: h.station.sessions(h.ids[1])[0].ended_at is not None,
                             what="session end written")
            assert h.station.sessions(h.ids[1])[0].end_reason == "logout"
            assert h.station.terminal(h.ids[1]).status == "offline"
    run(scenario())


def test_terminal_registered_while_serving_is_accepted(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            h.station.add_terminal(str(AREA), 9, "00")
            raw = await h.raw(9)
            await raw.login()
    run(scenario())


def test_second_login_replaces_the_older_connection(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            first = await h.raw(1)
            await first.login()
            old_link = h.link(1)
            second = await h.raw(1)
            await second.login()
            await eventually(lambda: h.link(1) is not old_link, what="new link")
            assert await first.receive_raw() is None          # the old one was closed
            await eventually(lambda: len(h.station.sessions(h.ids[1])) == 2, what="2 sessions")
            old, new = h.station.sessions(h.ids[1])[1], h.station.sessions(h.ids[1])[0]
            assert old.ended_at is not None and new.ended_at is None
    run(scenario())


def test_silent_connection_is_closed_after_the_idle_timeout(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, idle_timeout=0.6) as h:
            raw = await h.raw(1)
            await raw.login()
            assert await raw.receive_raw(timeout=5) is None
            await eventually(lambda: h.station.sessions(h.ids[1])[0].end_reason ==
                             "heartbeat timeout", what="session ended")
    run(scenario())


def test_silence_limit_follows_the_terminals_heartbeat_period(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, idle_timeout=60) as h:
            h.front.heartbeat_slack_s = 0.1
            raw = await h.raw(1)
            await raw.login()
            for _ in range(2):                         # heartbeats 1.1 s apart
                raw.send_link(3)
                await raw.receive()
                await asyncio.sleep(1.1)
            assert 1.0 <= h.link(1).heartbeat_period < 2.0
            started = asyncio.get_running_loop().time()
            assert await raw.receive_raw(timeout=15) is None     # closed long before 60 s
            assert asyncio.get_running_loop().time() - started < 10
    run(scenario())


def test_garbage_between_frames_is_skipped(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            raw.writer.write(b"\x00\x68\x12garbage")
            await raw.login()
            await asyncio.sleep(0)
    run(scenario())


def test_a_terminal_dropping_while_its_login_is_written_goes_offline(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            write_sessions = h.front._write_sessions
            writing = threading.Event()

            def slow_write(logins, closes):
                if logins:
                    writing.set()
                    time.sleep(0.5)          # the connection drops meanwhile
                return write_sessions(logins, closes)
            h.front._write_sessions = slow_write
            raw = await h.raw(1)
            raw.send_link(1)                 # login, not waiting for the confirmation
            await eventually(writing.is_set, what="the login being written")
            raw.close()
            await eventually(lambda: h.station.sessions(h.ids[1])
                             and h.station.sessions(h.ids[1])[0].ended_at is not None,
                             what="the session end written")
            assert h.station.sessions(h.ids[1])[0].end_reason == "connection lost at login"
            assert h.station.terminal(h.ids[1]).status == "offline"
            assert not [s for s in h.station.status() if s.online]
    run(scenario())
