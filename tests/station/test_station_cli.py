"""`conc station terminals|readings|events|status|migrate` on both engines, as a user runs them."""
import csv
import datetime
import io
import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from host_tools.cli import conc
from host_tools.station import schema
from host_tools.station.records import Event, Reading
from host_tools.station.repository import open_station

ZONE = "Asia/Shanghai"

SECRET = "a1b2c3d4e5f60718293a4b5c6d7e8f90"


@pytest.fixture
def run(db_url, monkeypatch):
    monkeypatch.setenv("CONC_STATION_DB", db_url)
    monkeypatch.setenv("CONC_STATION_TZ", ZONE)
    runner = CliRunner()

    def invoke(*args, input=None, code=0):
        result = runner.invoke(conc, ["station"] + list(args), input=input)
        assert result.exit_code == code, (result.output, result.exception)
        assert SECRET not in result.output
        return result.output
    return invoke


def test_register_list_and_remove_terminals(run):
    assert "registered terminal 4101-1 (north-yard)" in run(
        "terminals", "add", "--area", "4101", "--address", "1", "--password", SECRET,
        "--name", "north-yard")
    # without --password it is asked for, hidden, twice
    out = run("terminals", "add", "--area", "4101", "--address", "2", input="00\n00\n")
    assert "00" not in out.replace("4101-2", "")
    listed = json.loads(run("terminals", "list", "--json"))
    assert [(t["terminal"], t["name"], t["meters"]) for t in listed] == [
        ("4101-1", "north-yard", 0), ("4101-2", "", 0)]
    assert "password" not in json.dumps(listed)
    table = run("terminals", "list")
    assert table.splitlines()[0].split() == ["TERMINAL", "NAME", "STATUS", "LAST", "SEEN",
                                             "METERS"]
    assert "Error: terminal 4101-1 is already registered" in run(
        "terminals", "add", "--area", "4101", "--address", "1", "--password", "00", code=4)
    assert "A2 is 1..65534" in run("terminals", "add", "--area", "4101", "--address", "0",
                                   "--password", "00", code=4)
    assert "removed terminal 4101-2" in run("terminals", "remove", "--area", "4101",
                                            "--address", "2")
    assert "no terminal '4101-2'" in run("terminals", "remove", "4101-2", code=4)
    assert [t["terminal"] for t in json.loads(run("terminals", "list", "--json"))] == ["4101-1"]


def test_removing_a_terminal_with_data_needs_purge_and_a_yes(run, db_url):
    _fill(db_url)
    assert "--purge" in run("terminals", "remove", "north-yard", code=1)
    assert "Aborted" in run("terminals", "remove", "north-yard", "--purge", input="n\n", code=1)
    out = run("terminals", "remove", "north-yard", "--purge", input="y\n")
    assert "removed terminal 4101-1 and its 6 readings, 2 events" in out
    assert json.loads(run("terminals", "list", "--json")) == []


def test_meter_archive_commands(run):
    run("terminals", "add", "--area", "4101", "--address", "1", "--password", SECRET)
    assert "p3: meter 000000000042 (dlt645-1997, port 1, 1200 baud)" in run(
        "terminals", "add-meter", "4101-1", "--pn", "3", "--meter", "42", "--protocol",
        "dlt645-1997", "--port", "1", "--baud", "1200", "--meter-password", "0a0b0c0d0e0f")
    meters = json.loads(run("terminals", "meters", "4101-1", "--json"))
    assert [(m["pn"], m["meter"], m["protocol"]) for m in meters] == [(3, "000000000042",
                                                                      "dlt645-1997")]
    assert "0a0b0c0d0e0f" not in json.dumps(meters)
    assert "unknown meter protocol" in run("terminals", "add-meter", "4101-1", "--pn", "4",
                                           "--meter", "1", "--protocol", "iec", code=4)
    run("terminals", "remove-meter", "4101-1", "--pn", "3")
    assert "no meters" in run("terminals", "meters", "4101-1")


def _fill(db_url):
    with open_station(db_url, zone=ZONE) as station:
        t = station.add_terminal("4101", 1, SECRET, name="north-yard")
        station.set_measuring_point(t.id, 3, "000000000042")
        station.store_readings([
            Reading(t.id, 3, item, datetime.datetime(2026, 11, 24, 8, m), value)
            for m in (0, 15, 30)
            for item, value in (("energy_fwd_total", Decimal("1234.5600") + m), ("energy_fwd_t1", Decimal("0.0100")))])
        station.store_events([Event(t.id, 14, b"\x00\x08\x24\x11\x26",
                                    occurred_at=datetime.datetime(2026, 11, 24, 7, 0)),
                              Event(t.id, 31, b"\x01", pn=3, important=False,
                                    occurred_at=datetime.datetime(2026, 11, 24, 9, 0))])
        session = station.open_session(t.id, "10.1.1.1:5000")
        station.record_heartbeats([(session, None)])
        return t


def test_readings_table_csv_and_json(run, db_url):
    _fill(db_url)
    out = run("readings", "--meter", "42", "--from", "2026-11-24T08:00", "--to",
              "2026-11-24T08:15")
    assert "meter 000000000042 (terminal 4101-1 p3): 4 readings" in out
    lines = out.splitlines()
    assert lines[1].split() == ["TIME", "ITEM", "VALUE", "UNIT"]
    # a total before its tariffs, each value with the places it was stored with and its unit
    assert lines[-2:] == ["2026-11-24 08:15:00+08:00  energy_fwd_total  1249.5600  kWh",
                          "2026-11-24 08:15:00+08:00  energy_fwd_t1        0.0100  kWh"]
    rows = list(csv.DictReader(io.StringIO(run("readings", "--meter", "north-yard:3", "--from",
                                               "2026-11-24", "--to", "2026-11-24", "--csv"))))
    assert len(rows) == 6
    assert rows[0] == {"terminal": "4101-1", "pn": "3", "meter": "000000000042",
                       "item": "energy_fwd_total", "read_at": "2026-11-24T08:00:00+08:00",
                       "value": "1234.5600", "unit": "kWh"}
    got = json.loads(run("readings", "--meter", "4101-1:3", "--from", "2026-11-24T00:10Z",
                         "--to", "2026-11-24", "--item", "energy_fwd_t1", "--json"))
    assert [(r["read_at"], r["value"]) for r in got] == [("2026-11-24T08:15:00+08:00", "0.0100"),
                                                         ("2026-11-24T08:30:00+08:00", "0.0100")]


@pytest.mark.parametrize("args,message", [
    (["--meter", "42", "--from", "24/11/2026"], "bad time"),
    (["--meter", "42", "--from", "2026-11-25", "--to", "2026-11-24"], "--from must be before"),
    (["--meter", "77", "--from", "2026-11-24"], "no meter 000000000077"),
    (["--meter", "4101-7:3", "--from", "2026-11-24"], "no terminal '4101-7'"),
    # the names before revision 0006 say what replaces them, table included
    (["--meter", "42", "--item", "F129.0"],
     "--item F129.0 is the old name of energy_fwd_total: use --item energy_fwd_total\n"),
    (["--meter", "42", "--item", "voltage_a", "--item", "F161.2", "--daily"],
     "--item F161.2 is the old name of the daily frozen energy_fwd_t2: use --item energy_fwd_t2 "
     "--daily"),
    (["--meter", "42", "--item", "F180.0"], "use --item energy_rev_reactive_total --monthly"),
])
def test_readings_bad_input(run, db_url, args, message):
    _fill(db_url)
    assert message in run("readings", *args, code=4)


def test_events_and_status(run, db_url):
    _fill(db_url)
    out = run("events", "--terminal", "4101-1", "--since", "2026-11-24")
    lines = out.splitlines()
    assert "terminal power off/on" in lines[1] and lines[1].startswith("2026-11-24 07:00:00")
    assert "RS-485 reading failure (normal)" in lines[2]
    only = json.loads(run("events", "--erc", "31", "--json"))
    assert [(e["erc"], e["pn"], e["data"]) for e in only] == [(31, 3, "01")]
    assert "no events" in run("events", "--since", "2026-11-25")
    status = json.loads(run("status", "--since", "2026-11-24", "--json"))
    assert [(s["terminal"], s["online"], s["points"], s["points_read"], s["read_success"])
            for s in status] == [("4101-1", True, 1, 1, 1.0)]
    assert status[0]["last_heartbeat"] is not None
    table = run("status", "--since", "2026-11-24")
    assert "1 of 1 terminals online" in table and "1/1 (100%)" in table
    assert "no events" not in run("events")


def test_migrate_and_database_errors(run, db_url, tmp_path):
    head = schema.head()
    assert "migrated from schema revision none to %s" % head in run("migrate")
    assert "schema revision %s, up to date" % head in run("migrate")
    assert "schema revision %s, up to date" % head in run("migrate", "--check")
    assert json.loads(run("migrate", "--check", "--json"))["state"] == "up to date"
    assert "unsupported database 'mysql'" in run("status", "--db", "mysql://x/y", code=4)
    assert "no station database" in run("status", "--db", "sqlite:///%s" % (tmp_path / "n.db"),
                                        code=3)
    out = run("status", "--db", "postgresql://station:hunter2@127.0.0.1:1/x", code=3)
    assert "cannot use PostgreSQL" in out and "hunter2" not in out
    assert "unknown time zone" in run("status", "--tz", "Mars/Olympus", code=4)


def test_commands_and_their_audit_trail(run, db_url):
    t = _fill(db_url)
    with open_station(db_url, zone=ZONE) as station:
        trip = station.create_command(t.id, "trip", "alice", pn=3, meter_address="000000000042",
                                      reason="arrears", at=datetime.datetime(2026, 11, 24, 10, 0))
        station.record_command_step(trip, "AFN05 F1 sent", "ok", state="sent",
                                    at=datetime.datetime(2026, 11, 24, 10, 0, 1))
        station.record_command_step(trip, "relay state", "open", "read after 30 s",
                                    state="confirmed", at=datetime.datetime(2026, 11, 24, 10, 0, 31))
        station.create_command(t.id, "close", "bob", pn=3)
    table = run("commands", "--terminal", "4101-1")
    assert "trip" in table and "confirmed" in table and "bob" in table
    assert "trip" not in run("commands", "--unfinished")
    trail = run("commands", "--steps", "--since", "2026-11-24", "--terminal", "north-yard")
    assert "#1 2026-11-24 10:00:00+08:00 trip on 4101-1 000000000042 by alice: confirmed " \
           "(arrears)" in trail
    assert "2026-11-24 10:00:31+08:00  relay state: open - read after 30 s" in trail
    got = json.loads(run("commands", "--json"))
    assert [s["step"] for s in got[0]["steps"]] == ["created", "AFN05 F1 sent", "relay state"]
    assert got[1]["state"] == "pending"


def test_bulk_registration(run, db_url, tmp_path):
    assert "registered 50 terminals 4101-100 .. 4101-149" in run(
        "terminals", "add", "--area", "4101", "--address", "100", "--count", "50",
        "--password", SECRET)
    archive = [{"area": "4102", "address": 1, "password": SECRET, "name": "south",
                "meters": [{"pn": pn, "meter": str(pn), "protocol": "dlt645-1997", "port": 1,
                            "baud": 1200, "tariffs": 2} for pn in range(1, 33)]},
               {"area": "4102", "address": 2, "password": "00"}]
    path = tmp_path / "terminals.json"
    path.write_text(json.dumps(archive))
    assert "registered 2 terminals with 32 meters" in run("terminals", "import", str(path))
    meters = json.loads(run("terminals", "meters", "south", "--json"))
    assert len(meters) == 32 and meters[5]["protocol"] == "dlt645-1997"
    assert len(json.loads(run("terminals", "list", "--json"))) == 52
    # all or nothing: one clash and nothing of the file is registered
    archive[1]["address"] = 3
    archive.append({"area": "4101", "address": 120, "password": "00"})
    path.write_text(json.dumps(archive))
    assert "terminal 4102-1 is already registered" in run("terminals", "import", str(path), code=4)
    assert len(json.loads(run("terminals", "list", "--json"))) == 52
    path.write_text(json.dumps([{"area": "4103", "address": 1, "password": "00",
                                 "meters": [{"pn": 1, "meter": "1", "colour": "red"}]}]))
    assert "colour" in run("terminals", "import", str(path), code=4)
    path.write_text("[{")
    assert "is not JSON" in run("terminals", "import", str(path), code=4)
    assert "past 65534" in run("terminals", "add", "--area", "4101", "--address", "65530",
                               "--count", "10", "--password", "00", code=4)


def test_daily_frozen_readings(run, db_url):
    t = _fill(db_url)
    from host_tools.station.records import FrozenValue
    with open_station(db_url, zone=ZONE) as station:
        station.store_daily_frozen([FrozenValue(t.id, 3, "energy_fwd_total", "2026-11-%02d" % d,
                                                Decimal("100.0000") + d) for d in (22, 23)])
    rows = list(csv.DictReader(io.StringIO(run("readings", "--meter", "42", "--from",
                                               "2026-11-23", "--to", "2026-11-23", "--daily",
                                               "--csv"))))
    assert [(r["period"], r["item"], r["value"]) for r in rows] == [
        ("2026-11-23", "energy_fwd_total", "123.0000")]
    table = run("readings", "--meter", "42", "--from", "2026-11-01", "--to", "2026-11-30",
                "--daily")
    assert "2 daily frozen values" in table
    assert "2026-11-22  energy_fwd_total  122.0000  kWh   -" in table
