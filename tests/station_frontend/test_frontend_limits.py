"""The front end against hostile or broken peers (issue 15): bad frames counted and logged once a
minute, no frame buffer before the first byte and a small one until the login, a login deadline,
the connection caps, denials counted per peer and minute. Loopback only, bounded in time and
count."""
import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from protocol import gw376

from host_tools.station.repository import open_station
from tests.station_frontend.frontend_support import (AREA, Harness, ScriptedTerminal, eventually,
                                                     run)

FRONTEND_LOG = "host_tools.station.frontend"


def lines(caplog, text):
    return [r for r in caplog.records if text in r.getMessage()]


def heartbeat_bytes(address=1, seq=1):
    return gw376.build(gw376.link_frame(3, AREA, address, seq))


def with_bad_checksum(frame):
    return frame[:-2] + bytes([(frame[-2] + 1) & 0xFF]) + frame[-1:]


async def closed_by_station(client, timeout=3.0):
    """True when the station closes the connection (EOF) within `timeout`, whatever it sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = await asyncio.wait_for(client.reader.read(65536), deadline - time.monotonic())
        except asyncio.TimeoutError:
            return False
        except ConnectionError:
            return True
        if not data:
            return True
    return False


async def connect_from(h, local_ip, address=None):
    """A ScriptedTerminal connected from another loopback address (127.0.0.0/8 is all local)."""
    client = ScriptedTerminal(address)
    client.reader, client.writer = await asyncio.open_connection("127.0.0.1", h.port,
                                                                 local_addr=(local_ip, 0))
    h._clients.append(client)
    return client


def test_bad_checksums_are_counted_logged_once_a_minute_and_close_the_connection(sqlite_url,
                                                                                    caplog):
    caplog.set_level(logging.INFO, FRONTEND_LOG)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, max_bad_frames=16) as h:
            raw = await h.raw(1)
            await raw.login()
            bad = with_bad_checksum(heartbeat_bytes())
            raw.writer.write(bad * 5)
            await eventually(lambda: h.front.stats["bad_frames"] == 5, what="5 bad frames")
            assert h.link(1) is not None                    # a few: counted, the link stays
            raw.send_link(3)
            assert (await raw.receive()).units[0][1] == 1   # and its heartbeats are confirmed
            raw.writer.write(bad * 12)                      # 17 within the minute: closed
            assert await closed_by_station(raw)
            assert h.front.stats["bad_frames"] == 17
            assert h.front.stats["closed_misbehaving"] == 1
            assert len(lines(caplog, "with a bad checksum")) == 1
            assert len(lines(caplog, "bad or refused frames within a minute")) == 1
            await eventually(lambda: h.link(1) is None, what="session ended")
    run(scenario())


def test_no_frame_buffer_before_the_first_byte_and_a_small_one_until_the_login(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await eventually(lambda: len(h.front.connections) == 1, what="connected")
            link = next(iter(h.front.connections))
            assert link.deframer is None
            # resync garbage: headers each claiming 16383 bytes of user data
            raw.writer.write(b"\x68\xfe\xff\xfe\xff\x68" * 100)
            await eventually(lambda: h.front.stats["garbage_bytes"] >= 590, what="skipped")
            assert len(link.deframer.buffer) < 128
            await raw.login()                               # a login after the garbage works
            assert len(link.deframer.buffer) > 16383        # uploads may be long from now on
    run(scenario())


def test_more_than_4_kb_before_the_login_closes_the_connection(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            raw.writer.write(bytes(5000))
            assert await closed_by_station(raw)
            assert h.front.stats["closed_misbehaving"] == 1
            assert h.front.connections == set()
    run(scenario())


def test_a_connection_that_does_not_log_in_is_closed_at_the_login_deadline(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, login_timeout=0.5) as h:
            raw = await h.raw(1)
            began = time.monotonic()

            async def trickle():                            # a byte every 0.1 s keeps it busy
                while True:
                    raw.writer.write(b"\x00")
                    await asyncio.sleep(0.1)
            trickling = asyncio.ensure_future(trickle())
            try:
                assert await closed_by_station(raw, timeout=5.0)
            finally:
                trickling.cancel()
            assert 0.4 <= time.monotonic() - began < 4.0
            assert h.front.connections == set()
    run(scenario())


def test_connections_beyond_the_cap_are_refused_cleanly_and_logged_once(sqlite_url, caplog):
    caplog.set_level(logging.INFO, FRONTEND_LOG)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, max_connections=3) as h:
            held = [await h.raw(1) for _ in range(3)]
            await eventually(lambda: len(h.front.connections) == 3, what="3 held")
            extra = [await h.raw(1) for _ in range(5)]
            for client in extra:
                assert await closed_by_station(client)
            assert h.front.stats["refused"] == 5
            assert len(h.front.connections) == 3
            assert len(lines(caplog, "limit of 3 connections")) == 1
            held[0].close()                                 # room again: a terminal gets in
            await eventually(lambda: len(h.front.connections) == 2, what="one left")
            sim = await h.sim(1)
            assert sim.logged_in
    run(scenario())


def test_connections_not_logged_in_are_limited_per_ip_but_other_ips_get_in(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=2, max_pending_per_ip=2) as h:
            first, second = await h.raw(1), await h.raw(2)
            await eventually(lambda: len(h.front.connections) == 2, what="2 pending")
            third = await h.raw(1)
            assert await closed_by_station(third)
            assert h.front.stats["refused"] == 1
            other = await connect_from(h, "127.0.0.2", 2)   # another IP is not held back
            await other.login()
            await first.login()                             # a login frees a pending place
            fourth = await h.raw(1)
            await eventually(lambda: len(h.front.connections) == 4, what="admitted again")
            assert not await closed_by_station(fourth, timeout=0.3)
            assert second is not None
    run(scenario())


def test_a_flood_of_denied_logins_is_two_rows_and_a_real_login_gets_through(sqlite_url,
                                                                            caplog):
    caplog.set_level(logging.INFO, FRONTEND_LOG)
    flood = 300

    async def scenario():
        async with Harness(sqlite_url, terminals=1, max_pending_per_ip=0) as h:
            async def attacker(index):
                client = await h.raw(1000 + index)          # not registered
                client.send_link(1)
                await client.receive()
                client.close()
            attackers = asyncio.ensure_future(asyncio.gather(*(attacker(i)
                                                               for i in range(flood))))
            await asyncio.sleep(0.05)
            sim = await h.sim(1)                            # served during the flood
            assert sim.logged_in
            await attackers
            await eventually(lambda: h.front.stats["denied_logins"] == flood, what="counted")
            assert len(lines(caplog, "denied login")) == 1
        with open_station(sqlite_url) as station:           # the final count written at close
            rows = station.denied_logins()
        assert len(rows) == 2
        assert rows[0][1:3] == ("127.0.0.1", "4101") and 1000 <= rows[0][3] < 1000 + flood
        assert rows[0][4] == "not a registered terminal"
        assert rows[1][4].startswith("not a registered terminal (%d more in " % (flood - 1))
    run(scenario(), timeout=60)


def test_a_denial_waiting_for_the_database_when_the_station_stops_is_still_stored(sqlite_url):
    """A stop that comes while a denial's row waits for a database thread (all busy, as in a
    login flood) waits for it: the row is in the database when `serve` has ended."""
    busy = threading.Event()

    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            async def unknown(area, address):                  # known without the database
                return None
            h.front.lookup = unknown
            loop = asyncio.get_running_loop()
            loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
            blocker = loop.run_in_executor(None, busy.wait)     # the one thread, taken
            try:
                client = await h.raw(1000)                      # not registered
                client.send_link(1)
                await client.receive()
                await eventually(lambda: h.front.stats["denied_logins"] == 1
                                 and not h.front.guard.denials.ready, what="the row handed over")
            finally:
                threading.Timer(0.3, busy.set).start()          # freed once the stop began
        await blocker
    run(scenario())
    with open_station(sqlite_url) as station:
        rows = station.denied_logins()
    assert [r[4] for r in rows] == ["not a registered terminal"]


def test_frames_for_other_terminals_on_a_session_close_it_after_the_limit(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=2, max_bad_frames=16) as h:
            raw = await h.raw(1)
            await raw.login()
            raw.writer.write(b"".join(heartbeat_bytes(address=2, seq=i & 15)
                                      for i in range(100)))
            assert await closed_by_station(raw)
            assert h.front.stats["denied_frames"] == 17     # the rest were never read
            await eventually(lambda: len(h.station.denied_logins()) == 1, what="one row")
            assert "on the session of 4101-1" in h.station.denied_logins()[0][4]
    run(scenario())


def test_asyncio_error_reports_are_logged_once_a_minute(sqlite_url, caplog):
    async def scenario():
        async with Harness(sqlite_url, terminals=1):
            loop = asyncio.get_running_loop()
            for _ in range(200):            # what accept() at the open-file limit reports
                loop.call_exception_handler({"message": "socket.accept() out of system "
                                             "resource", "exception": OSError(24, "Too many "
                                                                                 "open files")})
    run(scenario())
    assert len(lines(caplog, "socket.accept() out of system resource")) == 1


def test_a_flood_of_uploads_on_a_session_is_stored_64_at_a_time(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=1) as h:
            sim = await h.sim(1, meters=1)
            writer = h.front.writer
            store, release = writer.store_readings, asyncio.Event()

            async def slow_store(readings):             # a database that has stalled
                await release.wait()
                return await store(readings)
            writer.store_readings = slow_store
            seconds = sim.now()
            frames = [gw376.build(sim._uplink(gw376.Frame(
                0x0C, [(1, 129, sim._energy_unit(1, seconds + 900 * i, sim.local(seconds)))],
                gw376.UP, 1, None, AREA, 1, con=True))) for i in range(100)]
            sim._write(b"".join(frames))
            await eventually(lambda: h.front.stats["reports_deferred"] == 36, what="deferred")
            assert h.link(1)._reports == 64 and len(h.link(1)._tasks) <= 64 + 2
            release.set()                                  # stored and confirmed, 64 of them
            await eventually(lambda: h.front.stats["uploads"] == 64, what="stored")
            assert h.link(1) is not None                    # not a misbehaving terminal
    run(scenario())


def test_the_front_end_heartbeat_goes_on_while_every_database_thread_is_busy(sqlite_url):
    """A mass login keeps the database threads busy for many seconds; the front end's own
    heartbeat must still be recorded, or its peers retire it and drop its terminals."""
    busy = threading.Event()
    beats = []

    async def scenario():
        async with Harness(sqlite_url, terminals=1, beat_s=0.1) as h:
            beat = h.front.station.beat_front_end

            def counted_beat(front_end_id, at):
                beats.append(at)
                return beat(front_end_id, at)
            h.front.station.beat_front_end = counted_beat
            loop = asyncio.get_running_loop()
            loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
            blocker = loop.run_in_executor(None, busy.wait)     # the shared pool, taken
            try:
                await eventually(lambda: len(beats) >= 5, what="five beats with the pool busy")
            finally:
                busy.set()
            await blocker
    run(scenario())
