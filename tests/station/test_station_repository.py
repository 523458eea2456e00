"""The station repository on both engines: what the front end and the CLI rely on."""
import asyncio
import datetime
import threading
from decimal import Decimal

import pytest

from host_tools.station.errors import (DuplicateTerminal, InvalidValue, TerminalHasData,
                                       UnknownMeter, UnknownTerminal)
from host_tools.station.items import energy_item
from host_tools.station.records import Event, FrozenValue, Reading

SHANGHAI_8AM = datetime.datetime(2026, 11, 24, 8, 0)         # naive: station zone (UTC+8)
UTC_MIDNIGHT = 1795478400                                      # 2026-11-24 00:00:00 UTC


def upload(terminal_id, meters, items, read_at, base=1000):
    """What one upload carries: every meter's items at one read time."""
    return [Reading(terminal_id, pn, energy_item("fwd", i), read_at,
                    Decimal("%d.%04d" % (base + pn, i))) for pn in meters for i in items]


# -- terminals ---------------------------------------------------------------------------------
def test_terminal_registry(station, terminal):
    assert terminal.label == "4101-1" and terminal.name == "north-yard"
    assert terminal.status == "offline"
    other = station.add_terminal("310", "0x10", "ab" * 16)
    assert (other.area_code, other.address, other.label) == ("0310", 16, "0310-16")
    assert [t.label for t in station.terminals()] == ["0310-16", "4101-1"]
    assert station.terminal("4101-1") == terminal
    assert station.terminal("north-yard") == terminal
    assert station.terminal(terminal.id) == terminal
    assert station.find_terminal("4101", 1) == terminal
    assert station.find_terminal("4101", 2) is None
    with pytest.raises(UnknownTerminal, match="4101-9"):
        station.terminal("4101-9")


def test_duplicate_terminal_or_name_is_refused(station, terminal):
    with pytest.raises(DuplicateTerminal, match="4101-1"):
        station.add_terminal("4101", 1, "00")
    with pytest.raises(DuplicateTerminal):
        station.add_terminal("4101", 2, "00", name="north-yard")
    assert station.add_terminal("4101", 2, "00").label == "4101-2"   # unnamed ones don't clash
    assert station.add_terminal("4101", 3, "00").label == "4101-3"


@pytest.mark.parametrize("area,address", [("41011", 1), ("41a1", 1), ("4101", 0),
                                          ("4101", 65535), ("4101", "x")])
def test_bad_addresses_are_refused(station, area, address):
    with pytest.raises(InvalidValue):
        station.add_terminal(area, address, "00")
    assert station.terminals() == []


def test_password_is_kept_for_pw_and_never_in_records(station):
    t = station.add_terminal("4101", 5, "1234")
    assert station.terminal_password(t.id) == bytes.fromhex("1234") + bytes(14)
    assert "1234" not in repr(t) and "password" not in repr(t)
    station.set_terminal_password(t.id, "ff" * 16)
    assert station.terminal_password(t.id) == b"\xff" * 16
    for bad in ("", "123", "zz", "00" * 17):
        with pytest.raises(InvalidValue):
            station.add_terminal("4101", 6, bad)


def test_remove_needs_purge_when_data_is_stored(station, terminal):
    station.set_measuring_point(terminal.id, 1, "1")
    station.store_readings(upload(terminal.id, [1], [0], SHANGHAI_8AM))
    command = station.create_command(terminal.id, "trip", "alice", pn=1)
    with pytest.raises(TerminalHasData, match="1 readings"):
        station.remove_terminal("4101-1")
    assert station.terminal("4101-1")
    deleted = station.remove_terminal("4101-1", purge=True)
    assert deleted["readings"] == 1
    assert station.terminals() == [] and station.measuring_points() == []
    kept = station.command(command)     # the audit trail outlives the terminal
    assert kept.terminal_id is None and kept.terminal_label == "4101-1"
    # re-registering the same A1/A2 starts clean
    again = station.add_terminal("4101", 1, "00")
    assert station.readings(again.id, 1, 0, 2 ** 40) == []


# -- meter archive -----------------------------------------------------------------------------
def test_meter_archive_and_meter_lookup(station, terminal):
    point = station.set_measuring_point(terminal.id, 3, "12345", protocol=1, port=3, baud=1200,
                                        tariff_count=2, user_class=5, user_subclass=2,
                                        meter_password="0102030405aa")
    assert point.meter_address == "000000012345" and point.serial_no == 3
    assert (point.protocol, point.port, point.baud, point.tariff_count) == (1, 3, 1200, 2)
    assert "0102030405aa" not in repr(point)
    # what AFN04 F10 sends and AFN0A F10 reads back, through the real codec
    from protocol import gw376_units
    wire = gw376_units.encode(0x04, 10, 0, {"meters": [point.to_f10()]})
    back, _ = gw376_units.decode(0x0A, 10, 1, wire, 0, len(wire))
    assert back["meters"] == [point.to_f10()]
    assert back["meters"][0]["password"] == bytes.fromhex("0102030405aa")
    assert station.find_meter("12345") == (terminal, 3)
    assert station.find_meter("000000012345") == (terminal, 3)
    assert station.find_meter("north-yard:3") == (terminal, 3)
    assert station.find_meter("4101-1:p7") == (terminal, 7)     # not archived: still addressable
    with pytest.raises(UnknownMeter):
        station.find_meter("999")
    other = station.add_terminal("4101", 2, "00")
    station.set_measuring_point(other.id, 1, "12345")
    with pytest.raises(UnknownMeter, match="several"):
        station.find_meter("12345")
    # replacing a point clears its sent/verified marks
    station.mark_archive_sent(terminal.id, [3])
    station.mark_archive_verified(terminal.id, [3])
    assert station.measuring_point(terminal.id, 3).archive_verified_at is not None
    station.set_measuring_point(terminal.id, 3, "12346")
    assert station.measuring_point(terminal.id, 3).archive_verified_at is None
    station.remove_measuring_point(terminal.id, 3)
    assert [p.pn for p in station.measuring_points(terminal.id)] == []


@pytest.mark.parametrize("field,value", [("pn", 0), ("pn", 2041), ("port", 0), ("baud", 2401),
                                         ("baud", 115200), ("protocol", 256), ("user_class", 16),
                                         ("meter_password", "12"), ("meter_address", "12x")])
def test_bad_archive_entries_are_refused(station, terminal, field, value):
    args = {"pn": 1, "meter_address": "1"}
    args[field] = value
    with pytest.raises(InvalidValue):
        station.set_measuring_point(terminal.id, **args)
    assert station.measuring_points() == []


# -- readings ----------------------------------------------------------------------------------
def test_readings_are_stored_once_and_exactly(station, terminal):
    batch = upload(terminal.id, range(1, 65), range(15), SHANGHAI_8AM)
    assert station.store_readings(batch) == 960
    assert station.store_readings(batch) == 0                       # a re-upload
    mixed = batch[:100] + upload(terminal.id, [1], range(15), SHANGHAI_8AM.replace(minute=15))
    assert station.store_readings(mixed) == 15
    got = station.readings(terminal.id, 1, SHANGHAI_8AM, SHANGHAI_8AM.replace(hour=9))
    assert len(got) == 30
    first = got[0]
    assert first.value == Decimal("1001.0000") and str(first.value) == "1001.0000"
    assert first.read_at == datetime.datetime(2026, 11, 24, 0, 0, tzinfo=datetime.timezone.utc)
    assert first.read_at.utcoffset() == datetime.timedelta(hours=8)
    assert (first.terminal_label, first.pn, first.item) == ("4101-1", 1, "energy_fwd_total")
    assert [r.read_at.minute for r in got] == [0] * 15 + [15] * 15


def test_reading_values_keep_their_digits(station, terminal):
    values = [Decimal("12345.6789"), Decimal("0.0100"), Decimal("-3.5"), Decimal("1E+3"),
              Decimal("999999.9999")]
    station.store_readings([Reading(terminal.id, 1, "v%d" % i, UTC_MIDNIGHT, v)
                            for i, v in enumerate(values)])
    station.store_readings([Reading(terminal.id, 1, "int", UTC_MIDNIGHT, 123400, 4)])
    got = {r.item: r.value for r in station.readings(terminal.id, 1, 0, 2 ** 40)}
    assert [str(got["v%d" % i]) for i in range(5)] == ["12345.6789", "0.0100", "-3.5", "1000",
                                                       "999999.9999"]
    assert str(got["int"]) == "12.3400"


def test_bad_readings_store_nothing(station, terminal):
    good = upload(terminal.id, [1, 2], [0], UTC_MIDNIGHT)
    for bad in (Reading(terminal.id, 1, "energy_fwd_t9", UTC_MIDNIGHT, 1.5),          # float
                Reading(terminal.id, 2041, "energy_fwd_total", UTC_MIDNIGHT, 1),         # pn
                Reading(terminal.id, 1, "", UTC_MIDNIGHT, 1),                  # item
                Reading(terminal.id, 1, "F1", "yesterday", 1),                 # time
                Reading(terminal.id, 1, "F1", UTC_MIDNIGHT, 1 << 63)):         # too big
        with pytest.raises(InvalidValue):
            station.store_readings(good + [bad])
    with pytest.raises(UnknownTerminal, match="nothing"):
        station.store_readings(good + [Reading(terminal.id + 99, 1, "F1", UTC_MIDNIGHT, 1)])
    assert station.readings(terminal.id, 1, 0, 2 ** 40) == []
    assert station.store_readings(good) == 2


def test_readings_query_range_and_items(station, terminal):
    station.store_readings([Reading(terminal.id, 1, item, UTC_MIDNIGHT + 900 * k, k)
                            for k in range(8) for item in ("energy_fwd_total", "energy_fwd_t1")])
    got = station.readings(terminal.id, 1, UTC_MIDNIGHT + 900, UTC_MIDNIGHT + 2700)
    assert [(r.item, int(r.value)) for r in got] == [("energy_fwd_total", 1), ("energy_fwd_t1", 1),
                                                     ("energy_fwd_total", 2), ("energy_fwd_t1", 2)]
    only = station.readings(terminal.id, 1, UTC_MIDNIGHT, UTC_MIDNIGHT + 7200, items=["energy_fwd_t1"])
    assert [int(r.value) for r in only] == list(range(8))
    assert station.readings(terminal.id, 2, 0, 2 ** 40) == []


def test_store_from_threads_like_the_asyncio_front_end(station, terminal):
    others = [station.add_terminal("4101", a, "00") for a in range(2, 6)]

    async def front_end():
        uploads = [upload(t.id, range(1, 9), range(5), UTC_MIDNIGHT + 900 * k)
                   for t in [terminal] + others for k in range(4)]
        uploads += uploads[:5]    # resent after a lost confirmation
        counts = await asyncio.gather(*(asyncio.to_thread(station.store_readings, u)
                                        for u in uploads))
        return sum(counts)

    assert asyncio.run(front_end()) == 5 * 4 * 8 * 5
    assert len(station.readings(others[-1].id, 8, 0, 2 ** 40)) == 20


# -- frozen values -----------------------------------------------------------------------------
def test_daily_and_monthly_frozen_values(station, terminal):
    days = ["2026-11-%02d" % d for d in (20, 21, 23)]
    daily = [FrozenValue(terminal.id, pn, "energy_fwd_total", day, Decimal("100.25") + pn, read_at=UTC_MIDNIGHT)
             for pn in (1, 2) for day in days]
    assert station.store_daily_frozen(daily) == 6
    assert station.store_daily_frozen(daily[:2]) == 0
    periods = station.frozen_periods("daily", terminal.id, "energy_fwd_total", "2026-11-19", "2026-11-23")
    assert periods == {1: set(days), 2: set(days)}     # 2026-11-22 is the gap to backfill
    station.set_measuring_point(terminal.id, 1, "1")
    station.set_measuring_point(terminal.id, 3, "3")
    assert station.missing_daily_frozen(terminal.id, "2026-11-21", "2026-11-23") == [
        ("2026-11-21", [3]), ("2026-11-22", [1, 3]), ("2026-11-23", [3])]
    assert station.missing_daily_frozen(terminal.id, (2026, 11, 20), (2026, 11, 21),
                                        pns=[1, 2]) == []
    got = station.frozen("daily", terminal.id, 1, "2026-11-21", "2026-11-23")
    assert [(f.period, str(f.value)) for f in got] == [("2026-11-21", "101.25"),
                                                       ("2026-11-23", "101.25")]
    state = station.collection_state(terminal.id)
    assert state[1][2] == state[2][2] == "2026-11-23" and state[1][0] is None
    station.store_readings(upload(terminal.id, [1], [0], UTC_MIDNIGHT))
    station.store_readings(upload(terminal.id, [1], [0], UTC_MIDNIGHT - 900))   # a late backfill
    assert station.collection_state(terminal.id)[1][0].timestamp() == UTC_MIDNIGHT
    monthly = [FrozenValue(terminal.id, 1, "energy_fwd_total", datetime.date(2026, 10, 1), 5, 2)]
    assert station.store_monthly_frozen(monthly) == 1
    assert station.store_monthly_frozen(monthly) == 0
    assert [str(f.value) for f in station.frozen("monthly", terminal.id, 1, "2026-10", "2026-10")] \
        == ["0.05"]
    with pytest.raises(InvalidValue):
        station.store_daily_frozen([FrozenValue(terminal.id, 1, "energy_fwd_total", "2026-02-30", 1)])
    with pytest.raises(InvalidValue):
        station.store_monthly_frozen([FrozenValue(terminal.id, 1, "energy_fwd_total", "2026-13", 1)])


# -- events ------------------------------------------------------------------------------------
def test_events_are_stored_once(station, terminal):
    power = Event(terminal.id, 14, bytes.fromhex("0008241126 0508241126".replace(" ", "")),
                  occurred_at=SHANGHAI_8AM, source_pointer=3)
    fault = Event(terminal.id, 21, b"\x04", occurred_at=SHANGHAI_8AM.replace(hour=9), pn=2,
                  important=False, detail='{"fault": "RS-485 reading"}')
    assert station.store_events([power, fault]) == 2
    assert station.store_events([power, fault]) == 0                 # read again
    assert station.store_events([power._replace(source_pointer=200)]) == 0
    keyed = Event(terminal.id, 14, b"\x00", source_key="my-id")
    assert station.store_events([keyed, keyed]) == 1
    got = station.events(terminal_id=terminal.id, since=SHANGHAI_8AM,
                         until=SHANGHAI_8AM + datetime.timedelta(days=1))
    assert [(e.erc, e.important, e.pn) for e in got] == [(14, True, None), (21, False, 2)]
    assert got[0].data == power.data and got[0].source_pointer == 3
    assert [e.erc for e in station.events(erc=21)] == [21]
    assert len(station.events(limit=1)) == 1
    assert station.events()[-1].occurred_at is None     # no time: listed by reception time
    station.set_event_counters(terminal.id, important=7)
    assert station.event_counters(terminal.id) == (7, None)
    with pytest.raises(InvalidValue):
        station.store_events([Event(terminal.id, 300, b"")])


def test_the_event_counter_is_saved_with_the_events_it_reads_to(station, terminal):
    # One transaction: a reader never sees the events without the counter (or the reverse), and
    # a batch that fails leaves the counter where it was, so the events are read again.
    power = Event(terminal.id, 14, bytes.fromhex("00082411260508241126"))
    assert station.store_events([power], read_to=(terminal.id, True, 1)) == 1
    assert station.event_counters(terminal.id) == (1, None)
    assert station.store_events([], read_to=(terminal.id, False, 4)) == 0
    assert station.event_counters(terminal.id) == (1, 4)
    bad = Event(terminal.id, 14, b"\x00", pn=-1)
    with pytest.raises(InvalidValue):
        station.store_events([power, bad], read_to=(terminal.id, True, 9))
    assert station.event_counters(terminal.id) == (1, 4)


# -- sessions and status -----------------------------------------------------------------------
def test_sessions_heartbeats_and_status(station, terminal, clock):
    second = station.add_terminal("4101", 2, "00")
    for pn in (1, 2, 3, 4):
        station.set_measuring_point(terminal.id, pn, str(pn))
    session = station.open_session(terminal.id, "10.0.0.5:40001")
    clock.advance(60)
    station.record_heartbeats([(session, None)])
    station.store_readings(upload(terminal.id, [1, 2, 3], [0], clock.now - 600))
    station.store_readings(upload(second.id, [7], [0], clock.now - 86400 * 3))
    lines = {s.terminal.label: s for s in station.status()}
    north = lines["4101-1"]
    assert north.online and north.peer == "10.0.0.5:40001"
    assert north.last_heartbeat_at.timestamp() == clock.now
    assert (north.points, north.points_read, north.read_success) == (4, 3, 0.75)
    # no archive: the points it has reported stand in; an old reading is outside the window
    assert (lines["4101-2"].online, lines["4101-2"].points, lines["4101-2"].points_read) \
        == (False, 1, 0)
    assert station.sessions(terminal.id)[0].heartbeats == 1
    # nothing heard for over 30 minutes: the open session is reported silent, not online
    clock.advance(1801)
    north = {s.terminal.label: s for s in station.status()}["4101-1"]
    assert (north.online, north.silent) == (False, True)
    # a new login replaces the old session; closing the old one leaves the terminal online
    newer = station.open_session(terminal.id, "10.0.0.5:40002")
    station.close_session(session, "connection lost")
    assert station.terminal(terminal.id).status == "online"
    station.close_session(newer, "heartbeat timeout")
    assert station.terminal(terminal.id).status == "offline"
    assert [s.end_reason for s in station.sessions(terminal.id)] == ["heartbeat timeout",
                                                                     "replaced by a new login"]
    station.open_session(second.id)
    assert station.close_open_sessions() == 1
    assert not any(s.online for s in station.status())
    station.log_denied_login("4101", 99, "10.0.0.9:1", "not registered")
    assert station.denied_logins()[0][1:] == ("10.0.0.9:1", "4101", 99, "not registered")


# -- commands and audit ------------------------------------------------------------------------
def test_command_audit_trail(station, terminal, clock):
    command = station.create_command(terminal.id, "trip", "alice", pn=3,
                                     meter_address="000000000003", reason="arrears",
                                     parameters={"delay_minutes": 0})
    clock.advance(1)
    station.record_command_step(command, "AFN05 F1 sent", "ok", state="sent")
    clock.advance(2)
    station.record_command_step(command, "AFN00 F1", "confirmed by terminal")
    clock.advance(30)
    station.record_command_step(command, "relay state read", "open", state="confirmed")
    done = station.command(command)
    assert (done.state, done.operator, done.kind, done.parameters) == (
        "confirmed", "alice", "trip", {"delay_minutes": 0})
    assert (done.finished_at - done.created_at).total_seconds() == 33
    steps = station.command_steps(command)
    assert [(s.step, s.outcome) for s in steps] == [
        ("created", "ok"), ("AFN05 F1 sent", "ok"), ("AFN00 F1", "confirmed by terminal"),
        ("relay state read", "open")]
    with pytest.raises(InvalidValue, match="finished"):
        station.record_command_step(command, "late", "x", state="timeout")
    assert station.commands(unfinished=True) == []
    station.create_command(terminal.id, "close", "bob")
    assert [c.kind for c in station.commands(terminal_id=terminal.id)] == ["trip", "close"]
    with pytest.raises(InvalidValue):
        station.create_command(terminal.id, "trip", "  ")


def test_heartbeat_batches_from_many_threads(station):
    terminals = [station.add_terminal("4102", a, "00") for a in range(1, 21)]
    sessions = [station.open_session(t.id) for t in terminals]
    threads = [threading.Thread(target=station.record_heartbeats,
                                args=([(s, None) for s in sessions[i::4]],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(station.sessions(t.id)[0].heartbeats == 1 for t in terminals)


def test_decoded_1376_values_map_straight_on(station, terminal):
    """The front end passes what protocol.gw376 decodes: int values with the format's places,
    format-15/01 time tuples, format-20/21 day and month tuples."""
    unit = {"read_time": (2026, 11, 24, 8, 15), "tariffs": 2,
            "forward_active": [1234567890, 600000000, None]}
    readings = [Reading(terminal.id, 1, energy_item("fwd", k), unit["read_time"], value, 4)
                for k, value in enumerate(unit["forward_active"]) if value is not None]
    assert station.store_readings(readings) == 2
    got = station.readings(terminal.id, 1, (2026, 11, 24, 8, 0), (2026, 11, 24, 8, 16, 0, 2))
    assert [(r.item, str(r.value)) for r in got] == [("energy_fwd_total", "123456.7890"),
                                                     ("energy_fwd_t1", "60000.0000")]
    assert got[0].read_at.isoformat() == "2026-11-24T08:15:00+08:00"
    assert station.store_daily_frozen([FrozenValue(terminal.id, 1, "energy_fwd_total", (2026, 11, 23),
                                                   1234567890, 4, (2026, 11, 24, 0, 5))]) == 1
    assert station.store_monthly_frozen([FrozenValue(terminal.id, 1, "energy_fwd_total", (2026, 10),
                                                     5, 4)]) == 1
    assert station.frozen_periods("daily", terminal.id, "energy_fwd_total", (2026, 11, 1),
                                  (2026, 11, 30)) == {1: {"2026-11-23"}}
    for bad_time in ((2026, 2, 30, 0, 0), (2026,)):
        with pytest.raises(InvalidValue):
            station.store_readings([Reading(terminal.id, 1, "energy_fwd_total", bad_time, 1, 4)])
    with pytest.raises(InvalidValue):
        station.store_daily_frozen([FrozenValue(terminal.id, 1, "energy_fwd_total", (2026, 2, 30), 1)])


def test_logins_in_one_batch_open_one_session_per_terminal(station, clock):
    a, b = (station.add_terminal("4101", n, "00") for n in (1, 2))
    ids = station.open_sessions([(a.id, "p1", None), (b.id, "p2", None)])
    assert len(set(ids)) == 2
    assert [s.id for s in station.sessions(a.id)] == [ids[0]]
    # the same terminal twice in a batch: the later login replaces the earlier one
    again = station.open_sessions([(a.id, "p3", None), (a.id, "p4", None), (b.id, "p5", None)])
    open_now = [s for t in (a, b) for s in station.sessions(t.id) if s.ended_at is None]
    assert sorted(s.id for s in open_now) == sorted(again[1:])
    assert {s.peer for s in open_now} == {"p4", "p5"}
