"""A station killed in the middle of storing uploads loses nothing it confirmed, keeps no half
upload, and stores the terminal's re-sends once (both engines)."""
import os
import signal
import subprocess
import sys
import textwrap

from host_tools.station.items import energy_item
from host_tools.station.records import Reading
from host_tools.station.repository import open_station

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PER_UPLOAD = 64 * 15
UPLOADS = 400

WRITER = textwrap.dedent("""
    import sys
    from decimal import Decimal
    from host_tools.station.items import energy_item
    from host_tools.station.records import Reading
    from host_tools.station.repository import open_station
    station = open_station(sys.argv[1], zone="UTC")
    tid = station.find_terminal("4101", 1).id
    for k in range(%d):
        station.store_readings([Reading(tid, pn, energy_item("fwd", i), 1795478400 + 60 * k,
                                        Decimal("%%d.%%04d" %% (k, pn)))
                                for pn in range(1, 65) for i in range(15)])
        print(k, flush=True)          # the station would confirm upload k now
""" % UPLOADS)


def stored_count(url):
    with open_station(url, create=False, zone="UTC") as station:
        with station.db.transaction(write=False):
            return station.db.scalar("SELECT COUNT(*) FROM readings")


def test_kill_mid_upload(db_url):
    with open_station(db_url, zone="UTC") as station:
        tid = station.add_terminal("4101", 1, "00").id
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db_url], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    confirmed = -1
    for line in proc.stdout:
        confirmed = int(line)
        if confirmed >= 8:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert confirmed >= 8, "the writer died before storing 9 uploads"
    count = stored_count(db_url)
    assert count % PER_UPLOAD == 0, "a half-stored upload"
    assert count >= (confirmed + 1) * PER_UPLOAD, "a confirmed upload was lost"
    assert count < UPLOADS * PER_UPLOAD
    done = count // PER_UPLOAD       # uploads 0 .. done-1 are in (one may be unconfirmed)
    # the terminal re-sends everything it has no confirmation for, and some it has
    with open_station(db_url, zone="UTC") as station:
        new = 0
        for k in range(confirmed - 2, done + 3):
            new += station.store_readings([
                Reading(tid, pn, energy_item("fwd", i), 1795478400 + 60 * k, 1)
                for pn in range(1, 65) for i in range(15)])
        first = station.readings(tid, 1, 1795478400, 1795478400 + 60, items=["energy_fwd_total"])
    assert stored_count(db_url) == (done + 3) * PER_UPLOAD
    assert new == 3 * PER_UPLOAD
    assert [str(r.value) for r in first] == ["0.0001"]      # the original, not the re-send
