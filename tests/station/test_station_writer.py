"""Group commit: many coroutines' uploads and heartbeats in few transactions, on both engines."""
import asyncio
from decimal import Decimal

from host_tools.station.errors import InvalidValue, UnknownTerminal
from host_tools.station.items import energy_item
from host_tools.station.records import Reading
from host_tools.station.writer import StationWriter
from tests.waiting import wait_for_async

T0 = 1795478400


def upload(terminal_id, k, meters=8, items=3):
    return [Reading(terminal_id, pn, energy_item("fwd", i), T0 + 900 * k,
                    Decimal("%d.%02d" % (pn, i)))
            for pn in range(1, meters + 1) for i in range(items)]


def test_uploads_are_grouped_and_each_caller_gets_its_count(station):
    terminals = [station.add_terminal("4101", a, "00") for a in range(1, 41)]

    async def sessions():
        writer = StationWriter(station)
        counts = await asyncio.gather(*(writer.store_readings(upload(t.id, k))
                                        for t in terminals for k in range(3)))
        again = await writer.store_readings(upload(terminals[0].id, 0))
        await writer.close()
        return counts, again, writer.transactions

    counts, again, transactions = asyncio.run(sessions())
    assert counts == [24] * 120 and again == 0
    assert transactions < 20          # 121 uploads, a handful of commits
    assert len(station.readings(terminals[-1].id, 8, 0, 2 ** 40)) == 9


def test_a_bad_upload_fails_alone(station, terminal):
    async def sessions():
        writer = StationWriter(station)
        good = writer.store_readings(upload(terminal.id, 0))
        malformed = writer.store_readings([Reading(terminal.id, 1, "energy_fwd_total", T0, 1.5)])
        stranger = writer.store_readings(upload(terminal.id + 50, 0))
        other = writer.store_readings(upload(terminal.id, 1))
        results = await asyncio.gather(good, malformed, stranger, other, return_exceptions=True)
        await writer.close()
        return results

    good, malformed, stranger, other = asyncio.run(sessions())
    assert good == 24 and other == 24
    assert isinstance(malformed, InvalidValue) and isinstance(stranger, UnknownTerminal)
    assert len(station.readings(terminal.id, 1, 0, 2 ** 40)) == 6


def test_heartbeats_are_written_in_batches(station, clock):
    terminals = [station.add_terminal("4102", a, "00") for a in range(1, 101)]
    sessions = [station.open_session(t.id) for t in terminals]

    async def beat():
        writer = StationWriter(station)
        for s in sessions:
            writer.note_heartbeat(s, clock.now + 60)
        writer.note_heartbeat(sessions[0], clock.now + 120)     # the latest one wins
        await writer.flush()
        await writer.close()
        return writer.transactions

    assert asyncio.run(beat()) <= 2
    assert station.sessions(terminals[0].id)[0].last_heartbeat_at.timestamp() == clock.now + 120
    assert all(station.sessions(t.id)[0].heartbeats == 1 for t in terminals[1:])


class FlakyStation:
    """Fails its first write the way a lost database connection does."""

    def __init__(self):
        self.failures = 1
        self.beats = []

    def store_reading_batches(self, batches):
        if self.failures:
            self.failures -= 1
            from host_tools.station.errors import DatabaseUnavailable
            raise DatabaseUnavailable("server closed the connection")
        return [len(b) for b in batches]

    def record_heartbeats(self, beats):
        if self.failures:
            self.failures -= 1
            from host_tools.station.errors import DatabaseUnavailable
            raise DatabaseUnavailable("server closed the connection")
        self.beats += list(beats)


def test_a_failed_write_fails_its_callers_and_keeps_heartbeats():
    from host_tools.station.errors import DatabaseUnavailable

    async def sessions():
        station = FlakyStation()
        writer = StationWriter(station)
        first = await asyncio.gather(writer.store_readings([1, 2]), return_exceptions=True)
        second = await writer.store_readings([1, 2, 3])       # the database is back
        station.failures = 1
        writer.note_heartbeat(7, 100)
        await asyncio.sleep(0)          # one turn of the loop: the first beat's write starts
        writer.note_heartbeat(8, 101)
        await writer.flush()
        await wait_for_async("the heartbeats retried after a pause", lambda: station.beats, 3)
        await writer.close()
        return first, second, sorted(station.beats)

    first, second, beats = asyncio.run(sessions())
    assert isinstance(first[0], DatabaseUnavailable) and second == 3
    assert beats == [(7, 100), (8, 101)]
