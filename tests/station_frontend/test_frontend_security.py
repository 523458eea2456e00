"""What the station can do against impostors (1376.1 logins carry no secret, issue 15): a live
session is not handed to a second login from another address, the PW waits for a settled
session, implausible readings are not stored, a wrong-PW control is a security alarm. The
alarms are ERC20 events raised by the station (`detail` says so). Loopback only: the other
"addresses" are 127.0.0.2 and 127.0.0.3."""
import asyncio
import json

from protocol import gw376

from host_tools.simulators.terminal_swarm import SimTerminal, Swarm
from host_tools.station.collector import CollectorConfig
from tests.station_frontend.frontend_support import AREA, ZONE, Harness, eventually, run
from tests.station_frontend.test_frontend_limits import closed_by_station, connect_from

FAST = {"follow_s": 1.0, "probe_s": 0.5, "offline_wait_s": 0.3}


def station_alarms(h, address, kind):
    found = []
    for event in h.station.events(h.ids[address], erc=20):
        detail = json.loads(event.detail or "{}")
        if detail.get("raised_by") == "station" and detail.get("security") == kind:
            found.append(detail)
    return found


async def sim_from(h, address, local_ip, **options):
    """A SimTerminal logging in from `local_ip`."""
    swarm = Swarm("127.0.0.1", h.port, 0, zone=ZONE)
    terminal = SimTerminal(swarm, AREA, address, zone=ZONE, meters=h.meters or 4,
                           heartbeat_s=3600, **options)
    await asyncio.get_running_loop().create_connection(lambda: terminal, "127.0.0.1", h.port,
                                                       local_addr=(local_ip, 0))
    h._clients.append(terminal)
    await eventually(lambda: terminal.logged_in or terminal.login_denied, what="login answer")
    return terminal


def test_a_second_login_from_elsewhere_is_refused_while_the_session_answers(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1) as h:
            real = await h.sim(1)                          # from 127.0.0.1, answers requests
            link = h.link(1)
            impostor = await connect_from(h, "127.0.0.2", 1)
            impostor.send_link(1)
            answer = await impostor.receive(timeout=5)
            assert answer.afn == 0 and answer.units[0][1] == 2        # denied
            assert await closed_by_station(impostor)
            assert h.link(1) is link and real.logged_in               # the session is kept
            await eventually(lambda: station_alarms(h, 1, "second_login"), what="alarm")
            alarm = station_alarms(h, 1, "second_login")[0]
            assert alarm["peer"].startswith("127.0.0.2:")
            assert "its session from 127.0.0.1:" in alarm["detail"]
            assert h.front.stats["security_alarms"] == 1
            assert [s.peer.split(":")[0] for s in h.station.sessions(h.ids[1])] == ["127.0.0.1"]
    run(scenario())


def test_a_second_login_from_elsewhere_replaces_a_session_that_no_longer_answers(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, response_timeout=0.3) as h:
            old = await h.sim(1)
            old.ignore_requests = 100                      # a half-open connection
            new = await sim_from(h, 1, "127.0.0.3")
            assert new.logged_in
            await eventually(lambda: h.link(1) is not None and h.link(1).ip == "127.0.0.3",
                             what="session moved")
            assert station_alarms(h, 1, "second_login") == []
    run(scenario())


def test_the_pw_goes_out_only_once_the_session_has_shown_two_heartbeats(sqlite_url):
    config = CollectorConfig(realtime_interval_s=None, clock_check_s=None, daily_after=None,
                             tick_s=0.1)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2, collector=config,
                           settle_heartbeats=2, password="1234") as h:
            raw = await h.raw(1)
            await raw.login()
            for _ in range(2):
                try:                                       # nothing comes before the heartbeats
                    sent = await raw.receive(timeout=0.5)
                except asyncio.TimeoutError:
                    sent = None
                assert sent is None, sent
                raw.send_link(3)
                assert (await raw.receive()).units[0][1] == 1
            download = await raw.receive(timeout=3)        # now the archive, with the PW
            assert download.afn == 0x04 and download.pw == bytes.fromhex("1234" + "00" * 14)
    run(scenario())


def test_readings_from_the_future_or_for_points_not_in_the_archive_are_not_stored(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=2, meters=2) as h:
            sim = await h.sim(1, meters=4)                 # p3 and p4 are not in the archive
            seconds, moment = sim.now(), sim.local()
            sim._send_initiated(gw376.Frame(0x0C, [(pn, 129, sim._energy_unit(pn, seconds,
                                                                              moment))
                                                   for pn in (1, 2, 3, 4)],
                                            gw376.UP, 1, None, AREA, 1, con=True), "upload", "a")
            await eventually(lambda: not sim.unconfirmed, what="upload confirmed")
            ahead = await h.sim(2, clock_offset_s=3600)    # its clock an hour ahead
            seconds, moment = ahead.now(), ahead.local()
            ahead._send_initiated(gw376.Frame(0x0C, [(1, 129, ahead._energy_unit(1, seconds,
                                                                                moment))],
                                              gw376.UP, 1, None, AREA, 2, con=True), "upload",
                                  "b")
            await eventually(lambda: not ahead.unconfirmed, what="upload confirmed")
            await h.front.writer.flush()
            stored = {(address, pn): len(h.station.readings(h.ids[address], pn, 0, 4102444800))
                      for address in (1, 2) for pn in (1, 2, 3, 4)}
            assert stored == {(1, 1): 5, (1, 2): 5, (1, 3): 0, (1, 4): 0,
                              (2, 1): 0, (2, 2): 0, (2, 3): 0, (2, 4): 0}
            assert h.front.stats["readings_rejected"] == 2 * 5 + 5
    run(scenario())


def test_a_control_command_denied_for_a_wrong_pw_raises_its_own_alarm(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, password="99",
                           control_options=FAST) as h:
            await h.sim(1)                                 # its PW is all zero: ERC20
            command_id = h.command("trip", 1, user="alice")
            await eventually(lambda: station_alarms(h, 1, "control_pw_denied"), timeout=8,
                             what="alarm")
            assert h.station.command(command_id).state == "denied"
            steps = [(s.step, s.outcome) for s in h.station.command_steps(command_id)]
            assert steps[-2:] == [("answer", "denied"), ("security", "alarm")]
            alarm = station_alarms(h, 1, "control_pw_denied")[0]
            assert "command #%d" % command_id in alarm["detail"]
            terminal_records = [e for e in h.station.events(h.ids[1], erc=20)
                                if "raised_by" not in e.detail]
            assert len(terminal_records) == 1              # the terminal's own ERC20 too
    run(scenario())


def test_a_control_command_denied_without_erc20_raises_no_alarm(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1, control_options=FAST) as h:
            sim = await h.sim(1)
            sim.deny_afns.add(0x05)                        # the meter refused, say
            command_id = h.command("trip", 1, user="alice")
            await eventually(lambda: h.station.command(command_id).state == "denied",
                             what="denied")
            await asyncio.sleep(FAST["probe_s"] + 0.3)
            assert station_alarms(h, 1, "control_pw_denied") == []
    run(scenario())


def test_a_point_added_while_the_terminal_is_online_is_stored(sqlite_url, monkeypatch):
    monkeypatch.setattr("host_tools.station.frontend.ARCHIVE_RELOAD_S", 0.0)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1) as h:
            sim = await h.sim(1, meters=2)

            async def upload(key):
                seconds, moment = sim.now(), sim.local()
                sim._send_initiated(gw376.Frame(0x0C, [(2, 129, sim._energy_unit(2, seconds,
                                                                                moment))],
                                                gw376.UP, 1, None, AREA, 1, con=True),
                                    "upload", key)
                await eventually(lambda: not sim.unconfirmed, what="upload confirmed")
            await upload("before")                          # p2 is not in the archive yet
            assert h.front.stats["readings_rejected"] == 5
            h.station.set_measuring_point(h.ids[1], 2, "000001000002")
            await upload("after")
            await h.front.writer.flush()
            assert len(h.station.readings(h.ids[1], 2, 0, 4102444800)) == 5
    run(scenario())
