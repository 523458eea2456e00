"""One `conc station serve` per SQLite database: a second is refused while the first runs, so two
front ends never queue on one file's locks (issue 15). PostgreSQL takes several:
test_serve_several.py."""
import json
import os
import signal
import subprocess
import sys

from host_tools.errors import EXIT_DEVICE
from host_tools.station.repository import open_station

CONC = [sys.executable, "-m", "host_tools.cli"]


def _serve(url):
    return subprocess.Popen(CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db", url,
                                    "--json", "--stats-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, CONC_STATION_TZ="UTC"))


def _stop(serve):
    serve.send_signal(signal.SIGTERM)
    out, err = serve.communicate(timeout=30)
    assert serve.returncode == 0, err


def test_a_second_serve_on_one_sqlite_database_is_refused(sqlite_url):
    db_url = sqlite_url
    with open_station(db_url) as station:
        station.add_terminal("4101", 1, "00")
    first = _serve(db_url)
    try:
        assert "listening" in json.loads(first.stdout.readline())
        second = subprocess.run(CONC + ["station", "serve", "--listen", "127.0.0.1:0", "--db",
                                        db_url], capture_output=True, text=True, timeout=60)
        assert second.returncode == EXIT_DEVICE, second.stderr
        assert "already serves" in second.stderr and "Traceback" not in second.stderr
        assert "pid %d" % first.pid in second.stderr
        assert first.poll() is None                   # the first one runs on, untouched
    finally:
        _stop(first)
    again = _serve(db_url)                         # free again once the first has stopped
    try:
        assert "listening" in json.loads(again.stdout.readline())
    finally:
        _stop(again)


def test_a_killed_serve_does_not_keep_the_lock(sqlite_url):
    open_station(sqlite_url).close()
    first = _serve(sqlite_url)
    assert "listening" in json.loads(first.stdout.readline())
    first.kill()
    first.wait(timeout=30)
    again = _serve(sqlite_url)
    try:
        assert "listening" in json.loads(again.stdout.readline())
    finally:
        _stop(again)
