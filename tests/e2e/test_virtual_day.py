"""A day of the real firmware's standard reports, set up by the station, in virtual time.

The chain of tests/e2e/e2e_support.py (meter simulator -> virtual board running the real
firmware -> simulated SIM800 -> `conc station serve --capture`), with the station configuring
the reports itself: once a session has settled (two heartbeats) it sends AFN04 F65 (class 1:
F129, F131, F25 of every point every hour from its midnight) and F66 (class 2: daily / monthly
frozen energy and the curves, daily), and F67/F68 start them. The technician installs the
board in real time; then the cabinet loses power and comes back on `conc board run
--clock-start` (firmware/vclock.py FastClock: time in which no byte moves is skipped), and a
whole day passes in a minute or two: hourly readings and curve points, the midnight round (the
DL/T 645-2007 meter's daily freeze, the 1997 meter's midnight reading), the meters' clock check,
heartbeats, the tasks arriving a few virtual hours in (the board reports at once until then,
at the hourly boundaries after). After the day the clock runs at real speed and the operator
trips and closes a meter.

What a utility relies on, checked against the board's ring log (`conc pull`):
- every reading and frozen value due by the last hourly boundary is in the station exactly
  once, with the meter's value, and nothing read after it (not due yet);
- every event the board logged (power off/on, the tasks' parameter change, the meters' clock
  deviation, the trip's and the close's ERC33) is in the station once;
- the captured session (`conc decode`) is standard units only: the station's F65..F68 down,
  F129/F25 and curves and F161 up, no vendor unit F241 and no vendor ERC 60/250/251.

The meter simulator's clock starts just after the day's midnight (hours ahead of the board at
its boot, minutes behind it at the 00:05 round: ERC12 each time), so the 2007 meter holds that
midnight's freeze when the board's round reads it.
"""
import datetime
import json
import sqlite3
import time
from decimal import Decimal

import pytest

from host_tools.station.items import energy_item
from host_tools.station.uploads import PROTOCOL_1997, catalogue_decimals
from tests.e2e.e2e_support import BAUD, Chain, utc

EPOCH = datetime.datetime(1970, 1, 1)
# point: (bus, protocol on the board, address, simulator config, station protocol)
METERS = {
    1: (1, "dlt645", "000000000201",
        {"protocol": "dlt645", "address": "000000000201", "energy_kwh": 2000,
         "base_load_kw": 30, "shape": "flat"}, "dlt645-2007"),
    2: (1, "dlt645-1997", "000000000202",
        {"protocol": "dlt645-1997", "address": "000000000202", "energy_kwh": 876.54,
         "base_load_kw": 0, "noise": False}, "dlt645-1997"),
}
BUS_FORMAT = {1: {"baud": BAUD, "parity": "E", "turnaround_ms": 10}}
SETTINGS = (("plan.realtime_min", 60), ("plan.curve_min", 60), ("comm.heartbeat_min", 60))
STATION = ["--read-every", "0", "--no-archive-sync", "--report-every", "60",
           "--clock-check-every", "0", "--backfill-days", "0", "--backfill-months", "0"]

# the energy registers the board logs: the ones frozen daily (F161 / F163)
ENERGY = {energy_item(register, tariff) for register in ("fwd", "rev") for tariff in range(5)}
# what the standard curves carry (totals only: no curve of tariff registers)
CURVE_QUANTITIES = {"energy_fwd_total", "energy_rev_total", "voltage_a", "voltage_b",
                    "voltage_c", "current_a", "current_b", "current_c", "power_active_total",
                    "power_active_a", "power_active_b", "power_active_c", "power_factor_total",
                    "power_factor_a", "power_factor_b", "power_factor_c"}
NO_STANDARD_UNIT = {"frequency", "energy_combined_total", "balance_remaining", "status_word_3"}


def local(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def epoch_s(dt):
    return int((dt - EPOCH).total_seconds())


def item_of(quantity, frozen):
    """The station's item for a board quantity: its own name, real time or frozen alike (the
    table tells them apart); only the energy registers are frozen."""
    return None if frozen and quantity not in ENERGY else quantity


def board_value(pn, quantity, raw):
    """A ring-log integer in the catalogue's unit (kWh, V, A ...)."""
    protocol = PROTOCOL_1997 if METERS[pn][4] == "dlt645-1997" else 30
    decimals = catalogue_decimals(quantity, protocol)
    return Decimal(raw).scaleb(-decimals)


def timeline(now):
    """(start, midnight, until, last boundary) of the board's virtual day, or None.

    The station sets its tasks' base at its own local midnight and refuses values dated ahead
    of its clock, so the day ends 10 minutes before the station's now and begins a day and 20
    minutes earlier, crossing that midnight; its last hourly boundary must come after the
    midnight round (00:05) for the frozen values to be reported."""
    until = now.replace(second=0, microsecond=0) - datetime.timedelta(minutes=10)
    start = until - datetime.timedelta(days=1, minutes=20)
    midnight = until.replace(hour=0, minute=0)
    last = until.replace(minute=0)
    if last < midnight + datetime.timedelta(hours=1):
        return None
    return start, midnight, until, last


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    times = timeline(datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None))
    if times is None:
        pytest.skip("the station's midnight (its report tasks' base) is less than 1 h 20 min "
                    "ago: a virtual day ending now would report no midnight round")
    chain = Chain(tmp_path_factory.mktemp("day"), meters=METERS, bus_format=BUS_FORMAT)
    chain.start, chain.midnight, chain.until, chain.last_boundary = times
    try:
        chain.register()
        chain.start_station(options=STATION)
        chain.start_meters()
        chain.start_modem()
        # Installed a quarter of an hour before the day begins (its clock set back a day),
        chain.start_board(clock=("--clock-start",
                                 local(chain.start - datetime.timedelta(minutes=15))))
        chain.install(SETTINGS)
        # (the board restarts after each command: the login after the last one shows it
        # runs, its boot logged, so the power cut below is one the next boot reports)
        logins = station_query(chain, "SELECT COUNT(*) FROM sessions")[0][0]
        chain.wait_for("the board's login after its installation", lambda: station_query(
            chain, "SELECT COUNT(*) FROM sessions")[0][0] > logins, 60)
        # then the cabinet loses power and is powered up again at the day's start, fast until
        # 10 minutes ago; the meters' clocks start just after the day's midnight.
        chain.children.pop("board").kill()
        chain.children.pop("bus 1").stop()
        chain.start_meters(start=local(chain.midnight + datetime.timedelta(seconds=30)))
        chain.start_board(clock=("--clock-start", local(chain.start),
                                 "--fast-until", local(chain.until)))
        chain.day_started = time.monotonic()
        yield chain
    finally:
        chain.stop()


def station_query(chain, sql):
    con = sqlite3.connect("file:%s?mode=ro" % chain.db_path, uri=True, timeout=10)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def latest_reading(chain):
    try:
        return station_query(chain, "SELECT MAX(read_at) FROM readings")[0][0] or 0
    except sqlite3.Error:
        return 0


def test_a_day_of_station_set_reports_reaches_the_station(day):
    # The last hourly boundary of the fast day reports what was read up to it (the readings of
    # the hour before, its own curve point). Then the clock runs at real speed.
    last_boundary = day.last_boundary
    day.wait_for("the day's reports up to its last hourly boundary in the station",
                 lambda: latest_reading(day) >= epoch_s(last_boundary), 180, every=1)
    day.day_wall_s = time.monotonic() - day.day_started
    print("virtual day reported in %.1f s of wall time" % day.day_wall_s)

    # The operator trips and closes meter 1; each is confirmed from the board's ERC33.
    day.env.update(CONC_STATION_NEW_PASSWORD="e2e password", CONC_STATION_PASSWORD="e2e password")
    day.conc("station", "users", "add", "e2e", "--role", "admin", "--db", day.db)
    for kind in ("trip", "close"):
        out = day.conc("station", kind, "--meter", METERS[1][2], "--user", "e2e", "--wait", 90,
                       "--db", day.db, timeout=150)
        assert ("%s confirmed" % kind) in out and "ERC33" in out, "%s\n%s" % (out, day.logs())

    # Everything the board logged, from the install on (the pull stops the firmware and ends
    # with its "stopped" marker).
    records = day.pull()
    assert records[-1]["record"] == "marker", records[-1]
    board_time = [utc(r["time"]) for r in records]
    assert max(board_time) >= day.until          # the board lived through the whole day
    boundary = epoch_s(last_boundary)

    # Readings: every one due by 23:00 (read time at or before the boundary) is in the station
    # with the meter's value; none that was not due yet.
    board, frozen = {}, {}
    for rec in records:
        if rec["record"] != "readings" or rec["value"] is None or \
                rec["quantity"] in NO_STANDARD_UNIT:
            continue
        at = epoch_s(utc(rec["time"]))
        if at > boundary:
            continue
        value = board_value(rec["point"], rec["quantity"], rec["value"])
        if rec["kind"] in ("frozen", "midnight"):
            item = item_of(rec["quantity"], True)
            if item:
                key = (rec["point"], item, utc(rec["time"]).date().isoformat())
                frozen.setdefault(key, set()).add(value)
            continue
        if rec["kind"] == "curve" and rec["quantity"] not in CURVE_QUANTITIES:
            continue                          # tariff registers: no standard curve
        key = (rec["point"], item_of(rec["quantity"], False), at // 60 * 60)
        board.setdefault(key, set()).add(value)
    assert any(k[2] >= epoch_s(day.midnight) for k in board)

    rows = station_query(day, "SELECT pn, item, read_at, value, scale FROM readings")
    station = {(pn, item, at): Decimal(v).scaleb(-s) for pn, item, at, v, s in rows}
    assert len(station) == len(rows)
    missing = sorted(set(board) - set(station))
    extra = sorted(set(station) - set(board))
    wrong = [(k, station[k], board[k]) for k in board if k in station and station[k] not in board[k]]
    assert not missing, "readings lost: %d, e.g. %r" % (len(missing), missing[:5])
    assert not extra, "readings the board had not due: %d, e.g. %r" % (len(extra), extra[:5])
    assert not wrong, "values changed on the way: %r" % wrong[:5]
    # the curve points of every hour of the day, for both meters
    first = epoch_s(day.start) // 3600 * 3600 + 3600
    hours = {(pn, at) for pn, item, at in station if item == "voltage_a" and at % 3600 == 0
             and first <= at <= boundary}
    assert len(hours) == 2 * ((boundary - first) // 3600 + 1), sorted(hours)

    # Frozen values: the midnight round's (the 2007 meter's freeze, the 1997 meter's midnight
    # reading), each once, with the meter's value.
    rows = station_query(day, "SELECT pn, item, day, value, scale FROM daily_frozen")
    got = {}
    for pn, item, on, value, scale in rows:
        got[(pn, item, str(on)[:10])] = Decimal(value).scaleb(-scale)
    midnight = day.midnight.date().isoformat()
    assert {(1, "energy_fwd_total", midnight), (2, "energy_fwd_total", midnight)} <= set(got), sorted(got)
    assert set(frozen) == set(got), (sorted(set(frozen) ^ set(got)))
    assert all(got[k] in frozen[k] for k in frozen), (got, frozen)

    # Events: each one the board logged, once.
    events = sorted(int(r["quantity"][3:]) for r in records if r["record"] == "event")
    assert day.station_events() == events
    assert {14, 3, 12, 33} <= set(events), [
        (r["seq"], r["time"], r["record"], r["quantity"], r["detail"]) for r in records
        if r["record"] in ("event", "marker") and utc(r["time"]) < day.start + datetime.timedelta(minutes=5)]
    day.records = records


def test_the_captured_day_is_standard_units_only(day):
    out = day.conc("decode", "--file", day.capture, "--json")
    frames = [json.loads(line)["frame"] for line in out.splitlines() if line.strip()]
    seen = {(f["direction"], f["afn"], u["fn"]) for f in frames for u in f["units"]}
    assert not [key for key in seen if key[2] == 241], sorted(seen)
    assert all(u["known"] for f in frames for u in f["units"]), sorted(seen)
    for key in (("down", "04", 65), ("down", "04", 66), ("down", "04", 67), ("down", "04", 68),
                ("up", "02", 1), ("up", "02", 3), ("up", "0C", 129),
                ("up", "0C", 25), ("up", "0D", 161), ("up", "0D", 101), ("up", "0D", 89),
                ("up", "0D", 81), ("up", "0E", 1), ("down", "05", 1), ("down", "05", 2)):
        assert key in seen, (key, sorted(seen))
    ercs = {r["erc"] for f in frames if f["afn"] == "0E" for u in f["units"]
            if isinstance(u["data"], dict) for r in u["data"].get("records", ())}
    assert {33, 14, 3} <= ercs and not ercs & {60, 250, 251}, ercs
