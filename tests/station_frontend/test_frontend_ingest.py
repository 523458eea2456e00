"""Active uploads and events: acknowledged once stored, stored exactly once, across a restart."""
import asyncio
import datetime

import pytest

from protocol import gw376

from host_tools.station.errors import DatabaseUnavailable
from host_tools.station.frontend import Link
from host_tools.station.uploads import records_to_data
from tests.station_frontend.frontend_support import Harness, eventually, run

FAR_PAST = 0.0
FAR_FUTURE = 4102444800        # 2100-01-01


def all_readings(h, address, pns):
    return [r for pn in pns for r in h.station.readings(h.ids[address], pn, FAR_PAST, FAR_FUTURE)]


@pytest.mark.parametrize("upload_format", ["units", "f241"])
def test_upload_is_confirmed_after_storing_and_a_resend_adds_nothing(db_url, upload_format):
    async def scenario():
        async with Harness(db_url, terminals=1, meters=3) as h:
            sim = await h.sim(1, upload_format=upload_format)
            seconds, moment = sim.now(), sim.local()

            def upload_frame():
                if upload_format == "f241":        # ring-log records 1..3 every time
                    sim.ring_seq = 0
                    return sim.ring_upload(seconds, moment)
                return gw376.Frame(0x0C, [(pn, 129, sim._energy_unit(pn, seconds, moment))
                                          for pn in (1, 2, 3)], gw376.UP, 1, None, 4101, 1,
                                   con=True)
            sim._send_initiated(upload_frame(), "upload", "first")
            await eventually(lambda: not sim.unconfirmed, what="upload confirmed")
            stored = all_readings(h, 1, (1, 2, 3))
            assert len(stored) == 3 * 5                           # total + 4 tariffs, 3 meters
            assert {r.item for r in stored} == {"energy_fwd_total", "energy_fwd_t1", "energy_fwd_t2", "energy_fwd_t3",
                                                "energy_fwd_t4"}
            # the confirmation got lost: the terminal sends the same upload again
            sim._send_initiated(upload_frame(), "upload", "again")
            await eventually(lambda: not sim.unconfirmed, what="re-send confirmed")
            assert len(all_readings(h, 1, (1, 2, 3))) == 15
            assert h.front.stats["uploads"] == 2
    run(scenario())


class CrashAfterStoring(Link):
    """A station that dies after committing an upload, before confirming it."""

    def confirm_upload(self, frame):
        self.front.crashed_after_store = True
        self.transport.abort()


class CrashBeforeStoring(Link):
    """A station that dies while an upload is arriving (nothing stored, nothing confirmed)."""

    async def _upload(self, frame):
        self.front.crashed_before_store = True
        self.transport.abort()


@pytest.mark.parametrize("crash", [CrashAfterStoring, CrashBeforeStoring])
def test_station_restart_mid_upload_loses_and_duplicates_nothing(db_url, crash):
    async def scenario():
        async with Harness(db_url, terminals=1, meters=4) as h:
            await h.restart(link_class=crash)
            sim = await h.sim(1, upload_format="f241")
            sim.upload()
            await eventually(lambda: sim.transport is None, what="station crash")
            assert len(sim.unconfirmed) == 1                     # the terminal keeps it
            await h.restart(link_class=None)                     # the station comes back
            await h.reconnect(sim)                               # and the terminal re-sends
            await eventually(lambda: not sim.unconfirmed, what="upload confirmed")
            sim.upload()                                         # later uploads go on as usual
            await eventually(lambda: not sim.unconfirmed, what="next upload confirmed")
            readings = all_readings(h, 1, (1, 2, 3, 4))
            keys = [(r.pn, r.item, r.read_at) for r in readings]
            assert len(keys) == len(set(keys))
            times = {r.read_at for r in readings}
            assert len(readings) == 4 * 5 * len(times)           # every meter, every item
    run(scenario())


def test_acd_makes_the_station_read_the_events_once(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, collector=None) as h:
            h.front.collector_config.clock_check_s = None
            h.front.collector_config.realtime_interval_s = None
            h.front.collector_config.daily_after = None
            sim = await h.sim(1)
            for minute in range(3):
                sim.raise_event({"erc": 14, "power_off": (2026, 11, 24, 3, minute),
                                 "power_on": (2026, 11, 24, 3, minute + 1)})
            sim.heartbeat()                                      # carries ACD and EC = (3, 0)
            await eventually(lambda: len(h.station.events(h.ids[1])) == 3, what="events")
            assert sim.requests[-1] == (0x0E, [(0, 1)])
            assert h.station.event_counters(h.ids[1])[0] == 3
            requests = len(sim.requests)
            sim.heartbeat()                                      # nothing new: no ACD
            await asyncio.sleep(0.2)
            assert len(sim.requests) == requests
            sim.raise_event({"erc": 14, "power_off": (2026, 11, 24, 4, 0),
                             "power_on": (2026, 11, 24, 4, 1)})
            sim.heartbeat()
            await eventually(lambda: len(h.station.events(h.ids[1])) == 4, what="4th event")
            assert [e.erc for e in h.station.events(h.ids[1])] == [14] * 4
    run(scenario())


def test_an_event_report_is_stored_and_confirmed(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await raw.login()
            event = {"ec_important": 1, "ec_normal": 0, "pm": 0, "pn": 1,
                     "records": [{"erc": 14, "power_off": (2026, 11, 24, 3, 0),
                                  "power_on": (2026, 11, 24, 3, 5)}]}
            report = gw376.Frame(0x0E, [(0, 1, event), (0, 241, bytes([9, 0, 0, 0, 1]))],
                                 gw376.UP, 1, None, 4101, 1, con=True, seq=3, acd=1, ec=(1, 0))
            for _ in range(2):                                   # sent twice: stored once
                raw.send(report)
                answer = await raw.receive()
                assert answer.afn == 0 and answer.units[0][1] == 1 and answer.seq == 3
            events = h.station.events(h.ids[1])
            assert len(events) == 1 and events[0].erc == 14
    run(scenario())


def test_an_old_event_report_does_not_move_the_read_pointer_back(sqlite_url):
    # the backlog's reports of events the station has read already (pointer 5) must not send
    # the collector back to read them all again
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await raw.login()
            h.station.set_event_counters(h.ids[1], important=5)
            for pm, seq in ((2, 3), (5, 4)):
                event = {"ec_important": 6, "ec_normal": 0, "pm": pm, "pn": pm + 1,
                         "records": [{"erc": 14, "power_off": (2026, 11, 24, 3, pm),
                                      "power_on": (2026, 11, 24, 3, pm + 1)}]}
                report = gw376.Frame(0x0E, [(0, 1, event)], gw376.UP, 1, None, 4101, 1,
                                     con=True, seq=seq)
                raw.send(report)
                answer = await raw.receive()
                assert answer.afn == 0 and answer.seq == seq
                # pm 2: old, the pointer stays at 5; pm 5: the next unread one, it moves to 6
                assert h.station.event_counters(h.ids[1])[0] == (5 if pm == 2 else 6)
            assert len(h.station.events(h.ids[1])) == 2
    run(scenario())


def test_ring_log_records_map_to_station_items():
    # readings: forward energy total (item 1) 1234.56 kWh, voltage A (item 11) 220.1 V,
    # frozen (kind 2) forward total 1000.00 kWh; an ERC31 event; a marker
    def varint(v):
        out = bytearray()
        while v >= 0x80:
            out.append((v & 0x7F) | 0x80)
            v >>= 7
        return bytes(out + bytes((v,)))
    readings = varint(1 << 1) + varint(123456 << 1) + varint(11 << 1) + varint(2201 << 1)
    frozen = varint((2 * 64 + 1) << 1) + varint(100000 << 1)
    stamp = 24 * 3600 * 9460            # 2025-11-25 00:00 (seconds since 2000)
    records = [(1, 1, 3, stamp + 900, readings), (2, 1, 3, stamp + 60, frozen),
               (3, 2, 3, stamp + 120, bytes([31]) + bytes(6)), (4, 3, 0, stamp, b"\x01v1")]
    got_readings, got_frozen, events = records_to_data(7, records, {3: 30})
    assert [(r.item, r.value, r.scale, r.read_at) for r in got_readings] == [
        ("energy_fwd_total", 123456, 2, datetime.datetime(2025, 11, 25, 0, 15)),
        ("voltage_a", 2201, 1, datetime.datetime(2025, 11, 25, 0, 15))]
    assert [(v.item, v.period, v.value) for v in got_frozen] == [("energy_fwd_total", "2025-11-25", 100000)]
    assert [(e.erc, e.pn, e.important) for e in events] == [(31, 3, False)]
    # a DL/T 645-1997 meter's voltage has no decimals
    assert records_to_data(7, records[:1], {3: 1})[0][1].scale == 0


def test_upload_not_stored_is_not_confirmed_and_arrives_later(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=2) as h:
            sim = await h.sim(1, upload_format="f241")
            writer = h.front.writer
            original = writer.store_readings

            async def database_down(readings):
                raise DatabaseUnavailable("the database is down (test)")
            writer.store_readings = database_down
            sim.upload()
            await eventually(lambda: h.front.stats["upload_errors"] == 1, what="failed store")
            await asyncio.sleep(0.1)
            assert len(sim.unconfirmed) == 1                     # kept by the terminal
            writer.store_readings = original
            sim.resend_unconfirmed()                             # its next attempt
            await eventually(lambda: not sim.unconfirmed, what="confirmed after recovery")
            assert len(all_readings(h, 1, (1, 2))) == 2 * 5
    run(scenario())


def test_malformed_f241_upload_is_denied(sqlite_url):
    async def scenario():
        async with Harness(sqlite_url, terminals=1) as h:
            raw = await h.raw(1)
            await raw.login()
            bad = gw376.Frame(0x0D, [(0, 241, bytes([1, 0, 0, 0, 2, 1]))], gw376.UP, 1, None,
                              4101, 1, con=True, seq=5)
            raw.send(bad)
            answer = await raw.receive()
            assert (answer.afn, answer.units[0][1], answer.seq) == (0, 2, 5)
            assert h.front.stats["upload_errors"] == 1
    run(scenario())


@pytest.mark.parametrize("mode", ["standard-only", "f241"])
def test_the_station_collects_from_both_kinds_of_terminal_without_loss_or_duplicates(
        sqlite_url, mode):
    """A terminal that speaks only standard units uploads as the report tasks the station
    sets at login (AFN04 F65..F68) ask; one in the compact mode uploads F241 records. Every
    upload the terminal saw confirmed is in the database once."""
    from host_tools.station.collector import CollectorConfig
    config = CollectorConfig(None, clock_check_s=None, daily_after=None, tick_s=3600,
                             sync_archive=False, report_every_min=1)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=3, collector=config) as h:
            if mode == "f241":
                sim = await h.sim(1, upload_format="f241", upload_every_s=0.2)
            else:
                sim = await h.sim(1, upload_format="units", task_minute_s=0.2)
                await eventually(lambda: sim.report_tasks.get((1, 1), {}).get("running"),
                                 what="class 1 report task started")
                task = sim.report_tasks[(1, 1)]
                assert (task["unit"], task["period"]) == (0, 1)
                assert {fn for _, fn in task["units"]} == {25, 129, 131}
                assert sim.report_tasks[(2, 1)]["running"]
            await eventually(lambda: h.front.stats["uploads"] >= 5, what="5 uploads stored")
            sim.quiet()
            await eventually(lambda: not sim.unconfirmed, what="every upload confirmed")
            stored = all_readings(h, 1, (1, 2, 3))
            keys = [(r.pn, r.item, r.read_at) for r in stored]
            assert len(keys) == len(set(keys))                  # nothing twice
            rounds = {r.read_at for r in stored if r.item == "energy_fwd_total"}
            # every confirmed upload is there: 3 meters x its round (f241: minute-spaced ring
            # records of 5 tariffs each; units: total + 4 tariffs, and the round's point of the
            # voltage curve AFN0D F89 that the class 2 task asks for)
            per_meter = 5 if mode == "f241" else 6
            assert len(stored) == 3 * per_meter * len(rounds) and len(rounds) >= 1
            assert h.front.stats["uploads"] == sim.swarm.stats["uploads_confirmed"]
    run(scenario())
