"""End to end, as a utility deploys it: simulated meters -> virtual board running the real
firmware -> simulated SIM800 modem -> `conc station serve` on SQLite -> `conc station readings`.

The board is flashed and configured with the technician's commands (`conc flash`, `conc config
set`, `conc meters add`); the station knows the terminal and its meters (`conc station terminals
add` / `add-meter`). Then:

1. the readings the meters served reach the station's database with their exact values, and
   `conc station readings` shows them at the right decimals;
2. the station is killed (SIGKILL) while the board uploads a reading cycle, the board is power
   cut (kill -9) while the station is down and comes back on the same flash images with a
   backlog, the station restarts on the same database and port: every reading record the
   board's ring log holds is in the station exactly once, and the uplink's backlog drains to 0.

3. one PW text typed into board and station trips and closes a meter (AFN05, AFN10 paths);
4. the station's `--capture` of all those sessions, read with `conc decode`, holds no vendor
   unit.

The board reports in standard units (AFN0C F129, F131, F25; the default a utility gets), so
the station's readings are matched with the ring log's by (point, item, time) and value: the
ring log's exact integers in the catalogue's unit against the standard formats' decimals.

The two tests share one chain (module fixture; `--dist loadfile` keeps them on one worker) and
run in order. Every process is in its own process group and is killed by the finalizer.
"""
import datetime
import json
import os
import time
from decimal import Decimal

import pytest

from host_tools.station.uploads import PROTOCOL_1997, catalogue_decimals
from tests.e2e.e2e_support import EXPECTED_CONSTANT, METERS, TERMINAL, Chain, utc

EPOCH = datetime.datetime(1970, 1, 1)
# Quantities no standard unit carries (docs/gw376.md): the firmware keeps them out of
# standard reports, so the station cannot hold them.
DRAIN_POLL_S = 5      # between two `conc status` while the backlog drains (each one restarts it)
NO_STANDARD_UNIT = {"frequency", "energy_combined_total", "balance_remaining", "status_word_3"}


def board_value(pn, quantity, raw):
    """A ring-log integer as a number in the catalogue's unit (kWh, V, A ...)."""
    protocol = PROTOCOL_1997 if METERS[pn][4] == "dlt645-1997" else 30
    decimals = catalogue_decimals(quantity, protocol)
    return Decimal(raw).scaleb(-decimals)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    chain = Chain(tmp_path_factory.mktemp("e2e"))
    chain.pulled = []                 # every record `conc pull` took off the board, in order
    try:
        chain.register()
        chain.start_station()
        chain.start_meters()
        chain.start_modem()
        chain.start_board()
        chain.install()
        yield chain
    finally:
        chain.stop()


def board_readings(records):
    """{(pn, station item, unix time of the minute): {values}} of the pulled real-time reading
    records (board time UTC).

    The plan has no curve. In the first hour of the day the board also reads the energy of its
    meters without a daily freeze as their midnight value: the station keeps those as the day's
    frozen values (host_tools/station/uploads.py), not as readings. A standard unit's read
    time (format 15) says the minute, not the second. The firmware polls its meters at every
    start, and every USB command restarts it, so two batches of one point can fall in one
    minute; the station keeps one reading per point, item and minute, which must then be one of
    the values the board logged for it."""
    out = {}
    for rec in records:
        if rec["record"] != "readings" or rec["kind"] == "midnight":
            continue
        assert rec["kind"] == "realtime", rec
        if rec["quantity"] in NO_STANDARD_UNIT or rec["value"] is None:
            continue
        key = (rec["point"], rec["quantity"], epoch_s(rec["time"]) // 60 * 60)
        out.setdefault(key, set()).add(board_value(rec["point"], rec["quantity"], rec["value"]))
    return out


def assert_station_holds(station, board):
    """Every reading the board logged is in the station, once, and nothing else is."""
    missing = sorted(set(board) - set(station))
    extra = sorted(set(station) - set(board))
    assert not missing, "readings lost: %r" % missing[:10]
    assert not extra, "readings in the station the board never logged: %r" % extra[:10]
    wrong = [(key, station[key], board[key]) for key in board if station[key] not in board[key]]
    assert not wrong, "values changed on the way: %r" % wrong[:10]


def station_readings(chain):
    rows = chain.station_rows()
    out = {(pn, item, read_at): Decimal(value).scaleb(-scale)
           for pn, item, read_at, value, scale in rows}
    assert len(out) == len(rows)
    return out


def compare_with_the_board(chain, timeout=30):
    """Pull the board's ring log (`conc pull --format json`) and check the station against it.

    The pull stops the firmware and logs a "stopped" marker first, so every record before that
    marker is in the pull, and readings the board takes after it carry its time or later. The
    station must hold exactly the pulled readings older than the marker (it gets `timeout`
    seconds to receive the last uploads); returns them. Read times are minutes (format 15),
    so the marker's own minute is left out on both sides."""
    chain.pulled += chain.pull()
    seqs = [r["seq"] for r in chain.pulled]
    assert seqs == sorted(seqs), "conc pull: records out of order"
    marker = chain.pulled[-1]
    assert (marker["record"], marker["quantity"]) == ("marker", "stopped"), marker
    barrier = epoch_s(marker["time"]) // 60 * 60
    board = {k: v for k, v in board_readings(chain.pulled).items() if k[2] < barrier}

    def received():
        return {k: v for k, v in station_readings(chain).items() if k[2] < barrier}
    try:
        chain.wait_for("the station to hold what the board logged",
                 lambda: set(board) <= set(received()), timeout)
    except AssertionError:
        pass                                 # assert_station_holds says what is missing
    assert_station_holds(received(), board)
    return board


def epoch_s(board_time):
    return int((utc(board_time) - EPOCH).total_seconds())


def drained(chain):
    """`conc status` once the uplink is online with nothing but the status's own marker to send.

    Every USB command stops the firmware while it runs, and the firmware logs a "stopped"
    marker when it does; that record cannot be uploaded before the status is read, so a
    drained uplink shows a backlog of 1. `assert_all_confirmed` checks what it was. Each status
    also restarts the firmware's tasks (a new modem bring-up and login), so it is asked rarely
    (every DRAIN_POLL_S)."""
    status = chain.status()
    chain.last_status = status
    cursor = status["ring"]["cursors"].get("uplink", {})
    if status.get("uplink", {}).get("state") == "online" and cursor.get("backlog", 9) <= 1:
        return status
    return None


def assert_all_confirmed(status, records):
    """No reading or event the board held at `status` is after the uplink cursor."""
    position = status["ring"]["cursors"]["uplink"]["position"]
    pending = [r for r in records if position <= r["seq"] < status["ring"]["next_seq"]
               and r["record"] != "marker"]
    assert not pending, "records the station never confirmed: %r" % pending[:5]


def readings_of_every_meter_since(chain, since):
    return {pn for pn, _, read_at, _, _ in chain.station_rows() if read_at >= since} >= set(METERS)


def test_readings_reach_the_station_with_the_meters_values(chain):
    # The board polls at boot: one real-time batch per meter, uploaded through the modem.
    chain.wait_for("a reading of every meter in the station",
             lambda: readings_of_every_meter_since(chain, 0), 60)
    status = chain.wait_for("the uplink backlog to drain", lambda: drained(chain), 45,
                            DRAIN_POLL_S)

    # Exactly the ring log's readings, value for value (the numbers the meters sent), once the
    # boot's minute is over (read times are minutes).
    board_minute_over(chain)
    board = compare_with_the_board(chain)
    assert_all_confirmed(status, chain.pulled)
    assert {pn for pn, _, _ in board} == set(METERS)

    # What the technician's colleague at the utility sees, at the catalogue's decimals.
    times = [datetime.datetime.utcfromtimestamp(t) for _, _, t in board]
    start, end = min(times), max(times)
    for pn, expected in EXPECTED_CONSTANT.items():
        shown = chain.readings(pn, start, end)
        assert shown, "conc station readings shows nothing for point %d" % pn
        for row in shown:
            assert row["terminal"] == "4101-42" and row["pn"] == pn
            if row["item"] in expected:
                assert row["value"] == expected[row["item"]], (pn, row)
        assert set(expected) <= {row["item"] for row in shown}, (pn, shown)
    # The loaded meter: the station shows the meter's register (served at 0.01 kWh) at
    # format 14's 0.0001 kWh.
    shown = {(r["item"], r["read_at"]): r["value"] for r in chain.readings(3, start, end)}
    for (pn, item, t), values in board.items():
        if pn == 3 and item == "energy_fwd_total":
            when = datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()
            assert Decimal(shown[(item, when)]) in values


def next_minute_boundary():
    """Sleep until the next minute boundary (the plan's real-time slot); its unix time."""
    boundary = (int(time.time()) // 60 + 1) * 60
    while time.time() < boundary:        # the wall clock, not a sleep's length, decides
        time.sleep(min(1.0, max(0.01, boundary - time.time())))
    return boundary


def board_minute_over(chain):
    """Wait until the board's clock (which may lag the host's by a second or two) is in the
    next minute: its next real-time cycle, stamped with that minute, reached the station."""
    boundary = next_minute_boundary()
    chain.wait_for("a reading of the board's next minute",
                   lambda: chain.station_count(since=boundary), 30)


def test_station_killed_mid_upload_and_board_power_cut_lose_and_duplicate_nothing(chain):
    address = chain.station_address
    # Wait for the board's next reading cycle and kill the station as its first upload lands.
    cycle_start = next_minute_boundary()
    deadline = time.monotonic() + 10
    while not chain.station_count(since=cycle_start) and time.monotonic() < deadline:
        time.sleep(0.02)
    chain.station_child().kill()
    at_kill = set(station_readings(chain))
    assert chain.station_count(since=cycle_start), "the reading cycle did not reach the station"

    # The station is down; the board keeps polling and notices the link is gone.
    def offline():
        status = chain.status()
        return status if status["uplink"]["state"] != "online" else None
    status = chain.wait_for("the board to notice that the station is gone", offline, 30, every=2)
    commands = len(chain.modem_commands())
    # A power cut of the board while the station is down: it reboots on the same flash images
    # with its backlog.
    cut_at = status["ring"]["next_seq"]
    # Not while `conc status` has the firmware stopped: a board stopped over USB has logged
    # that it stopped, and does not count the cut as a power loss.
    chain.wait_for_modem("the firmware to run again after conc status", commands)
    chain.children["board"].kill()
    rebooted = int(time.time())
    commands = len(chain.modem_commands())
    chain.start_board()
    chain.wait_for_modem("the rebooted board to dial the station", commands, "AT+CIPSTART")
    status = chain.status()
    assert status["ring"]["next_seq"] > cut_at
    assert status["ring"]["cursors"]["uplink"]["backlog"] > 1
    assert status["power_off_at"] is not None          # the board knows it lost power

    # The station comes back on the same database and port; the backlog drains.
    assert chain.start_station(listen=address) == address
    chain.wait_for("the readings logged while the station was down, in the station",
             lambda: readings_of_every_meter_since(chain, rebooted // 60 * 60), 60)
    status = chain.wait_for("the backlog to drain after the station restart",
                      lambda: drained(chain), 45, DRAIN_POLL_S)

    board_minute_over(chain)             # the last minute's readings complete (see above)
    board = compare_with_the_board(chain)
    assert_all_confirmed(status, chain.pulled)
    # The kill did cut that reading cycle's upload: part of it arrived only after the restart.
    # (The cycle takes about 2 s; the status 4 s after the kill starts another.)
    cycle = {key for key in board if cycle_start <= key[2] < cycle_start + 4}
    assert cycle & at_kill and cycle - at_kill, (len(cycle), len(cycle & at_kill))
    # The events the board logged (the power-on ERC14 among them) arrived once each.
    events = [r for r in chain.pulled if r["record"] == "event"]
    assert any(r["quantity"] == "ERC14" for r in events)
    assert chain.station_events() == sorted(int(r["quantity"][3:]) for r in events)


def test_one_pw_typed_into_board_and_station_trips_and_closes_a_meter(chain):
    """The installer typed the same PW text (`00112233`) into `conc config set comm.password`
    and `conc station terminals add --password`: the trip and the close the operator gives
    are carried out by the meter and confirmed from the concentrator's standard record (ERC33,
    status word 3). Then the way a master uses with a terminal that lacks our AFN05 mapping:
    DL/T 645 0x1C and the status word through AFN10 F1 forwarding."""
    meter = METERS[1][2]
    # a station user who may switch relays: the first user of a database is its admin
    chain.env.update(CONC_STATION_NEW_PASSWORD="e2e password", CONC_STATION_PASSWORD="e2e password")
    chain.conc("station", "users", "add", "e2e", "--role", "admin", "--db", chain.db)
    for path in ("afn05", "forward"):
        chain.conc("station", "terminals", "set-relay-path", TERMINAL, path, "--db", chain.db)
        for kind in ("trip", "close"):
            out = chain.conc("station", kind, "--meter", meter, "--user", "e2e", "--wait",
                             90, "--db", chain.db, timeout=150)     # exit 0 only if confirmed
            assert ("%s confirmed" % kind) in out, "%s\n%s" % (out, chain.logs())
            assert ("ERC33 status word 3" if path == "afn05" else "AFN10 F1: status word 3") \
                in out, out


def test_the_whole_session_captured_holds_no_vendor_unit(chain):
    """`conc station serve --capture FILE` then `conc decode --file FILE --json`: what a
    third-party master would have had to understand of the real firmware's session in
    standard mode (logins, reports, events, the trips and closes above) is standard units
    only - no vendor unit F241, no vendor ERC."""
    out = chain.conc("decode", "--file", chain.capture, "--json")
    frames = [json.loads(line)["frame"] for line in out.splitlines() if line.strip()]
    seen = {(f["direction"], f["afn"], u["fn"]) for f in frames for u in f["units"]}
    assert not [key for key in seen if key[2] == 241], sorted(seen)
    assert all(u["known"] for f in frames for u in f["units"]), sorted(seen)
    for key in (("up", "02", 1), ("up", "0C", 129), ("up", "0C", 25), ("up", "0E", 1),
                ("down", "05", 1), ("down", "05", 2), ("down", "10", 1)):
        assert key in seen, (key, sorted(seen))
    ercs = {r["erc"] for f in frames if f["afn"] == "0E" for u in f["units"]
            if isinstance(u["data"], dict) for r in u["data"].get("records", ())}
    assert 33 in ercs and not ercs & {60, 250, 251}, ercs


def test_no_process_is_left_after_the_chain_stops(chain):
    groups = [child.proc.pid for child in chain.children.values()]
    assert len(groups) == 5              # 2 meter buses, modem, station, board
    chain.stop()
    for group in groups:                 # whole groups: the board's MicroPython agent too
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)

