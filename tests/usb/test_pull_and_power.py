"""`conc pull` (csv, json, sqlite; interrupted and resumed) and power cuts during polling."""
import csv
import json
import sqlite3

import pytest

from host_tools import ring_pull
from host_tools.errors import CliError
from host_tools.usb import Board
from tests.usb.usb_support import ReadingCycle, conc, conc_json, simulators, start_board
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    bus1, bus2 = simulators()
    with bus1, bus2:
        image = tmp_path_factory.mktemp("pull")
        vb = start_board(image, bus1, bus2)
        port = vb.port
        for args in (("--point", "1", "--address", "1", "--bus", "1", "--baud", "9600"),
                     ("--point", "2", "--address", "2", "--protocol", "dlt645-1997", "--bus",
                      "1", "--baud", "9600")):
            assert conc("meters", "add", *args, port=port).returncode == 0
        state = {"board": vb, "image": image, "buses": (bus1, bus2)}
        cycle = next_cycle(state)
        assert conc("meters", "add", "--point", "3", "--address", "1", "--protocol", "modbus",
                    "--bus", "2", "--baud", "9600", "--parity", "N", port=port).returncode == 0
        cycle.wait()            # the firmware's first reading cycle of all three meters
        try:
            yield state
        finally:
            state["board"].stop()


def next_cycle(rig):
    """Start watching for the firmware's next reading cycle of the rig's three meters."""
    bus1, bus2 = rig["buses"]
    return ReadingCycle((bus1, ["1", "2"]), (bus2, [1]))


def status_after_a_cycle(rig):
    """`conc status` once the running firmware has read every meter (its records are logged);
    the command then restarts the firmware, which reads them all again."""
    next_cycle(rig).wait()
    return conc("status", port=rig["board"].port)


def seqs_of_csv(path):
    with open(path, newline="") as f:
        return [int(row["seq"]) for row in csv.DictReader(f)]


def test_pull_csv_then_an_interrupted_pull_resumes_without_loss_or_duplicates(rig, tmp_path,
                                                                              monkeypatch):
    port = rig["board"].port
    out = tmp_path / "all.csv"
    first = conc_json("pull", "-o", out, port=port)
    assert first["readings"] > 0
    head = first["cursor"]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    # the summary counts what the file holds: a row per reading, a record per event
    batches = {r["seq"] for r in rows if r["record"] == "readings"}
    assert first["readings"] == sum(r["record"] == "readings" for r in rows)
    assert first["events"] == len({r["seq"] for r in rows if r["record"] == "event"})
    assert first["records"] == len(batches) + first["events"] + first["markers"]
    got = sorted(set(seqs_of_csv(out)))
    assert got == list(range(got[0], head))         # dense: nothing skipped
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    # real-time readings (in the first hour of the day a meter may also have a midnight one)
    energy = [r for r in rows if r["quantity"] == "energy_fwd_total" and r["point"] == "1"
              and r["kind"] == "realtime"]
    assert energy and int(energy[0]["value"]) >= 120000

    # more records: each conc command restarts the firmware, which reads every meter again
    for _ in range(3):
        status_after_a_cycle(rig)
    # interrupted the worst way: the chunk is on disk, the board's cursor not yet advanced
    calls = {"n": 0}
    real_commit = ring_pull.TextOutput.commit

    def crash_after_first_chunk(self):
        real_commit(self)
        calls["n"] += 1
        if calls["n"] == 1:
            raise CliError("simulated crash", 1)
    monkeypatch.setattr(ring_pull, "CHUNK", 8)
    monkeypatch.setattr(ring_pull, "COMMIT_CHUNKS", 1)
    monkeypatch.setattr(ring_pull.TextOutput, "commit", crash_after_first_chunk)
    with pytest.raises(CliError):
        ring_pull.pull(port, str(out), "csv")
    monkeypatch.setattr(ring_pull.TextOutput, "commit", real_commit)
    again = ring_pull.pull(port, str(out), "csv")
    assert again["skipped_duplicates"] == 8          # the chunk stored before the crash
    seqs = seqs_of_csv(out)
    distinct = sorted(set(seqs))
    assert distinct == list(range(distinct[0], again["cursor"]))
    # one row per reading item: a record's rows are written once, never twice
    with open(out, newline="") as f:
        keys = [(r["seq"], r["kind"], r["quantity"]) for r in csv.DictReader(f)
                if r["record"] == "readings"]
    assert len(keys) == len(set(keys))
    last = conc_json("pull", "-o", out, port=port)  # only what was logged since: a rerun is
    assert last["skipped_duplicates"] == 0            # never a copy
    distinct = seqs_of_csv(out)
    assert sorted(set(distinct)) == list(range(distinct[0], last["cursor"]))


def test_pull_json_and_sqlite_with_since(rig, tmp_path):
    port = rig["board"].port
    status_after_a_cycle(rig)
    next_cycle(rig).wait()
    lines = conc("pull", "--format", "json", "-o", "-", port=port)
    assert lines.returncode == 0, lines.stderr
    docs = [json.loads(line) for line in lines.stdout.splitlines()]
    assert docs and all({"seq", "time", "point", "kind", "quantity", "value"} <= set(d)
                        for d in docs)
    next_cycle(rig).wait()
    db = tmp_path / "site.db"
    result = conc_json("pull", "--format", "sqlite", "-o", db, "--since", "2001-01-01",
                       port=port)
    assert result["readings"] > 0
    con = sqlite3.connect(db)
    points = {p for (p,) in con.execute("SELECT DISTINCT point FROM readings")}
    assert points == {1, 2, 3}
    con.close()
    future = conc_json("pull", "--format", "sqlite", "-o", tmp_path / "none.db",
                       "--since", "2099-01-01", port=port)
    assert future["records"] == 0
    bad = conc("pull", "-o", tmp_path / "x.csv", "--since", "yesterday", port=port)
    assert bad.returncode == 4 and "--since" in bad.stderr


def test_power_cut_while_polling_keeps_the_data_and_records_erc14(rig, tmp_path):
    vb = rig["board"]
    cycle = next_cycle(rig)
    before = conc_json("status", port=vb.port)["ring"]["next_seq"]
    cycle.wait()                                     # rebooted (after the status) and polled
    vb.power_cut()                                   # kill -9 while the firmware runs
    bus1, bus2 = rig["buses"]
    from tests.vboard.vboard_support import VirtualBoard
    cycle = next_cycle(rig)
    vb = VirtualBoard(rig["image"], "--board", "virtual_wrover", "--bus",
                      "1=" + bus1.device_path, "--bus", "2=" + bus2.device_path).start()
    rig["board"] = vb
    # A boot logs what ended the previous run before it polls: once the meters are read, the
    # cut is in the log (a `conc status` earlier could interrupt the boot before that).
    cycle.wait()
    status = conc_json("status", port=vb.port)
    erc14 = [e for e in status["events"] if e[3] == 14]        # [seq, ts, point, erc, data]
    assert len(erc14) == 1, status["events"]         # one cut, recorded once
    data = bytes.fromhex(erc14[0][4])                # format 15 power-off, then power-on time

    def yymmddhhmm(fmt15):                           # mm hh DD MM YY, BCD, low byte first
        return "".join("%02x" % b for b in reversed(fmt15))
    assert len(data) == 10 and yymmddhhmm(data[:5]) <= yymmddhhmm(data[5:])
    assert status["ring"]["next_seq"] > before       # nothing lost, the log goes on
    out = tmp_path / "after.csv"
    assert conc("pull", "-o", out, port=vb.port).returncode == 0
    seqs = sorted(set(seqs_of_csv(out)))
    assert seqs == list(range(seqs[0], seqs[-1] + 1))


def test_pull_killed_mid_way_then_rerun_stores_every_record_once(rig, tmp_path):
    """kill -9 of `conc pull` itself while it transfers (small chunks: many round trips)."""
    import signal
    import subprocess
    import sys

    from tests.vboard.vboard_support import ROOT
    port = rig["board"].port
    for _ in range(3):                       # something to pull: the reading cycles of 3 boots
        status_after_a_cycle(rig)
    start = conc_json("status", port=port)["ring"]["cursors"]["usb"]["position"]
    db = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli", "pull", "--port", port,
                             "--format", "sqlite", "-o", str(db), "--chunk", "2"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def records_stored():
        if proc.poll() is not None:
            return "ended"                   # too late to kill it mid-way: fails below
        if not db.exists():
            return 0
        try:
            con = sqlite3.connect(db)
            try:
                count = con.execute("SELECT COUNT(*) FROM events").fetchone()[0] + \
                    con.execute("SELECT COUNT(DISTINCT seq) FROM readings").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return 0                         # the pull is creating its tables
        return count if count >= 4 else 0

    stored = wait_for("4 records stored by the pull", records_stored, 30, every=0.02)
    assert stored != "ended", "the pull ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = conc_json("pull", "--format", "sqlite", "-o", db, port=port)
    con = sqlite3.connect(db)
    stored_seqs = sorted(s for (s,) in con.execute(
        "SELECT DISTINCT seq FROM readings UNION ALL SELECT seq FROM events"))
    con.close()
    assert stored >= 4 and rerun["cursor"] > start
    # exactly the ring's records between the two cursor positions, each once
    with Board.open(port, soft_reset=True) as board:
        held = board.exec("import firmware.usb_api as u\nprint([r[0] for r in "
                          "u.ring_log().records(%d) if r[0] < %d])"
                          % (start, rerun["cursor"]))
    assert stored_seqs == json.loads(held)
