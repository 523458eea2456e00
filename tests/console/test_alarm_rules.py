"""The alarm library: which events and station conditions raise alarms, that each raises one
alarm while it holds and is cleared when it ends, and the rules an admin edits."""
import datetime
import json
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from host_tools.business import alarms as lib
from host_tools.business import customers
from host_tools.business.tables import alarms, audit_log
from host_tools.business.users import NotPermitted, User
from host_tools.station.records import Event, FrozenValue
from host_tools.station.repository import open_station
from tests.console.support import ZONE, ZONE_NAME

NOW = int(datetime.datetime(2026, 12, 7, 10, 0, tzinfo=ZONE).timestamp())
# The users the engine fixture makes (support.add_role_users), in ROLES order.
ADMIN = User(5, "admin", "admin", "")
DISPATCHER = User(4, "dispatcher", "dispatcher", "")
VIEWER = User(1, "viewer", "viewer", "")


def relay_record(pn, command, outcome):
    # ERC 60 as the simulator and command_runner.py lay it out: time (5 BCD bytes), Pn (2),
    # command 0x1A trip / 0x1B close, outcome, status word 3 (2)
    return bytes([0x00, 0x10, 0x07, 0x12, 0x26, pn, 0x80 if outcome == 0 else 0, command,
                  outcome, 0x10, 0x00])


@pytest.fixture
def station(station_url, engine):
    with open_station(station_url, zone=ZONE_NAME, clock=lambda: NOW - 7200) as st:
        st.add_terminals([("4101", 1, "00", ""), ("4101", 2, "00", "")])
        yield st


def raise_all(engine, now=NOW):
    with engine.begin() as conn:
        lib.ensure_rules(conn, now)
        return lib.raise_from_events(conn, now, ZONE) + lib.evaluate_rules(conn, now, ZONE)


def alarm_rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(alarms).order_by(alarms.c.id)).all()


def test_events_raise_one_alarm_each_by_their_erc(engine, station):
    raise_all(engine)                       # the first pass starts after what is stored
    tid = station.find_terminal("4101", 1).id
    station.store_events([
        Event(tid, 14, b"\x00\x03\x07\x12\x26\x05\x03\x07\x12\x26", occurred_at=NOW - 60),
        Event(tid, 31, bytes(8), occurred_at=NOW - 50, pn=2),
        Event(tid, 1, bytes(4), occurred_at=NOW - 40),            # initialisation: no alarm
        Event(tid, 60, relay_record(3, 0x1A, 0), occurred_at=NOW - 30),
        Event(tid, 60, relay_record(4, 0x1B, 2), occurred_at=NOW - 20),
    ])
    raise_all(engine)
    raise_all(engine)                       # nothing twice
    rows = [r for r in alarm_rows(engine) if r.event_id is not None]
    assert [(r.kind, r.severity, r.pn) for r in rows] == [
        ("erc14", "critical", None), ("erc31", "major", 2), ("relay_done", "info", 3),
        ("relay_failed", "critical", 4)]
    assert rows[3].title == "4101-1: relay close of point 4 no reply from the meter"
    assert all(r.state == "active" and r.event_id for r in rows)


def test_a_disabled_kind_raises_nothing_and_other_kinds_still_do(engine, station):
    raise_all(engine)
    with engine.begin() as conn:
        lib.update_rule(conn, ADMIN, "erc31", False, "major", {}, NOW)
    tid = station.find_terminal("4101", 1).id
    station.store_events([Event(tid, 31, bytes(8), occurred_at=NOW - 5, pn=1),
                          Event(tid, 27, bytes(8), occurred_at=NOW - 4, pn=1)])
    raise_all(engine)
    assert [r.kind for r in alarm_rows(engine) if r.event_id] == ["erc27"]


def test_an_offline_terminal_raises_once_and_clears_when_it_logs_in(engine, station):
    t1 = station.find_terminal("4101", 1).id
    # Registered two hours before NOW, never heard: both are offline past 30 minutes.
    raise_all(engine)
    raise_all(engine)
    rows = alarm_rows(engine)
    assert [(r.kind, r.state) for r in rows] == [("terminal_offline", "active")] * 2
    assert "offline for 120 min" in rows[0].title
    station.open_session(t1, "127.0.0.1:5000", at=NOW - 10)
    raise_all(engine, NOW + 1)
    states = {r.terminal_id: r.state for r in alarm_rows(engine)}
    assert states[t1] == "cleared" and list(states.values()).count("active") == 1


def test_a_trip_that_does_not_confirm_raises_a_critical_alarm(engine, station):
    tid = station.find_terminal("4101", 2).id
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO commands (terminal_id, terminal_label, pn, kind, operator, "
                          "state, created_at, updated_at) VALUES (:t, '4101-2', 1, 'trip', "
                          "'alice', 'sent', :at, :at)"), {"t": tid, "at": NOW - 11 * 60})
    raise_all(engine)
    trip, = [r for r in alarm_rows(engine) if r.kind == "trip_unconfirmed"]
    assert trip.severity == "critical" and "trip #1 of point 1 sent" in trip.title
    with engine.begin() as conn:
        conn.execute(text("UPDATE commands SET state = 'confirmed', finished_at = :at"),
                     {"at": NOW})
    raise_all(engine, NOW + 5)
    trip, = [r for r in alarm_rows(engine) if r.kind == "trip_unconfirmed"]
    assert trip.state == "cleared"


def frozen(tid, pn, start, kwh_per_day):
    """Midnight totals from `start` making the given daily kWh."""
    register, values = Decimal("100.0000"), []
    day = datetime.date.fromisoformat(start)
    for kwh in kwh_per_day + [0]:
        values.append(FrozenValue(tid, pn, "energy_fwd_total", day.isoformat(), register))
        register += Decimal(str(kwh))
        day += datetime.timedelta(days=1)
    return values


def test_zero_and_sudden_consumption_and_line_loss(engine, station):
    tid = station.find_terminal("4101", 1).id
    station.set_measuring_points(tid, [{"pn": pn, "meter_address": "00000100000%d" % pn}
                                       for pn in (1, 2, 3)])
    # Eight days up to 2026-12-06 (the day before NOW): point 1 flat at zero for the last 3,
    # point 2 jumps from ~4 kWh to 40 kWh, point 3 steady; point 3 is the area's supply meter.
    station.store_daily_frozen(
        frozen(tid, 1, "2026-11-29", [5, 5, 5, 5, 5, 0, 0, 0])
        + frozen(tid, 2, "2026-11-29", [4, 4, 4, 4, 4, 4, 4, 40])
        + frozen(tid, 3, "2026-11-29", [10, 10, 10, 10, 10, 10, 10, 100]))
    with engine.begin() as conn:
        customers.add_area(conn, "TQ1", "North", NOW, supply=(tid, 3))
        for number, pn in (("C1", 1), ("C2", 2)):
            customers.add_customer(conn, number, number, NOW, area="TQ1")
            customers.attach_meter(conn, number, tid, pn, "2026-01-01", NOW)
    raise_all(engine)
    raise_all(engine)                            # the day's rules run once
    kinds = {}
    for row in alarm_rows(engine):
        kinds.setdefault(row.kind, []).append(row)
    assert sorted(kinds) == ["line_loss", "sudden_change", "terminal_offline",
                             "zero_consumption"]
    zero, = kinds["zero_consumption"]
    assert zero.pn == 1 and zero.customer_id is not None
    assert [r.title for r in kinds["sudden_change"]] == [
        "4101-1:2: 40.00 kWh on 2026-12-06", "4101-1:3: 100.00 kWh on 2026-12-06"]
    # supply 100 kWh, customers 0 + 40: a loss of 60 %
    assert [r.title for r in kinds["line_loss"]] == [
        "area TQ1 North: line loss 60.0 % on 2026-12-06"]


def test_acknowledge_needs_the_role_and_a_note_and_is_audited(engine, station):
    with engine.begin() as conn:
        alarm_id = conn.execute(alarms.insert().values(
            kind="erc14", severity="critical", state="active", condition_key="k", title="t",
            raised_at=NOW)).inserted_primary_key[0]
        with pytest.raises(NotPermitted):
            lib.acknowledge(conn, VIEWER, alarm_id, "seen", NOW)
        with pytest.raises(lib.AlarmError, match="a note is required"):
            lib.acknowledge(conn, DISPATCHER, alarm_id, "  ", NOW)
    with engine.begin() as conn:
        lib.acknowledge(conn, DISPATCHER, alarm_id, "crew sent", NOW + 60)
        with pytest.raises(lib.AlarmError, match="already acknowledged"):
            lib.acknowledge(conn, DISPATCHER, alarm_id, "again", NOW + 61)
        row = conn.execute(select(alarms)).one()
        assert (row.state, row.acknowledged_by, row.acknowledged_at, row.ack_note) == \
            ("acknowledged", 4, NOW + 60, "crew sent")
        entry = conn.execute(select(audit_log)).one()
        assert entry.action == "alarm.acknowledge" and json.loads(entry.detail) == \
            {"note": "crew sent"}


def test_rule_changes_are_checked_and_admin_only(engine):
    with engine.begin() as conn:
        with pytest.raises(NotPermitted):
            lib.update_rule(conn, DISPATCHER, "terminal_offline", True, "major",
                            {"minutes": 5}, NOW)
        for parameters, message in (({"minutes": "soon"}, "must be a number"),
                                    ({"minutes": 0}, "must be above 0"),
                                    ({"hours": 1}, "has no parameter")):
            with pytest.raises(lib.AlarmError, match=message):
                lib.update_rule(conn, ADMIN, "terminal_offline", True, "major", parameters,
                                NOW)
        with pytest.raises(lib.AlarmError, match="min_pct must be below max_pct"):
            lib.update_rule(conn, ADMIN, "line_loss", True, "major",
                            {"min_pct": 20, "max_pct": 10}, NOW)
        with pytest.raises(lib.AlarmError, match="severity"):
            lib.update_rule(conn, ADMIN, "erc14", True, "loud", {}, NOW)
        lib.update_rule(conn, ADMIN, "terminal_offline", True, "critical", {"minutes": "5"},
                        NOW)
        rule = lib.rules(conn)["terminal_offline"]
        assert (rule["severity"], rule["parameters"]) == ("critical", {"minutes": 5})
