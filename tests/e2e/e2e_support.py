"""The whole chain on one machine, started exactly as a utility deploys it, for the end-to-end test.

    meters (`conc sim meters`, two RS-485 buses on ptys)
      -> virtual board (`conc board run --board virtual_wrover`, the real firmware)
      -> its modem UART on the pty of `conc sim modem --connect HOST:PORT` (SIM800)
      -> master station (`conc station serve`, SQLite) -> `conc station readings`

`Chain` owns every long-running process (each in its own process group, so a kill reaches the
MicroPython agent under `conc board run` too) and stops them all in `stop()`, whatever state the
test left them in. Configuration goes through the commands a technician types (`conc station
terminals add`, `conc flash`, `conc config set`, `conc meters add`), never through files on the
board.
"""
import datetime
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BOARD = "virtual_wrover"          # 384K heap: the 64-bit unix port needs about twice an ESP32's
AREA, ADDRESS = 4101, 42          # the terminal's A1 / A2
TERMINAL = "%d-%d" % (AREA, ADDRESS)
PW = "00112233"                   # the terminal PW, typed the same into the station and the board
METER_PASSWORD = "02000000"       # the simulated DL/T 645 meters' relay password (level 02)
BAUD = 9600

# Constant meters (no load, no noise) hold exactly these registers for the whole test, so the
# station's values can be checked against the simulator's configuration digit for digit.
# point: (bus, protocol on the board, address, simulator config, station protocol)
METERS = {
    1: (1, "dlt645", "000000000101",
        {"protocol": "dlt645", "address": "000000000101", "energy_kwh": 1234.56,
         "base_load_kw": 0, "noise": False}, "dlt645-2007"),
    2: (1, "dlt645-1997", "000000000102",
        {"protocol": "dlt645-1997", "address": "000000000102", "energy_kwh": 987.65,
         "base_load_kw": 0, "noise": False}, "dlt645-1997"),
    3: (1, "dlt645", "000000000103",       # a loaded meter: energy and currents move
        {"protocol": "dlt645", "address": "000000000103", "energy_kwh": 5000,
         "base_load_kw": 40, "shape": "flat"}, "dlt645-2007"),
    4: (2, "modbus", "1",
        {"protocol": "modbus", "address": 1, "map": "sdm120", "energy_kwh": 321.09,
         "base_load_kw": 0, "noise": False}, "200"),
}
# Bus 1's meters answer slowly (40 ms turnaround): its cycle takes about 2 s, long after bus 2's
# meter has been read and uploaded, so the test can stop the station in the middle of a cycle.
BUS_FORMAT = {1: {"baud": BAUD, "parity": "E", "turnaround_ms": 40},
              2: {"baud": BAUD, "parity": "N", "turnaround_ms": 5}}

# What the constant meters' readings must be in the station, as `conc station readings --json`
# prints them (exact decimal strings at the decimals of the standard unit that carried them:
# AFN0C F129 energy format 14, F25 voltage 07, current 25, power 09).
# Tariff registers default to 10/30/35/25 % of the total (docs/meter-simulator.md); nominal
# 220 V; no load: no current, no power.
EXPECTED_CONSTANT = {
    1: {"energy_fwd_total": "1234.5600", "energy_fwd_t1": "123.4500",
        "energy_fwd_t2": "370.3600", "energy_fwd_t3": "432.0900", "energy_fwd_t4": "308.6400",
        "voltage_a": "220.0", "current_a": "0.000", "power_active_total": "0.0000"},
    2: {"energy_fwd_total": "987.6500", "voltage_a": "220.0"},   # DL/T 645-1997 whole volts, in 07
    4: {"energy_fwd_total": "321.0900", "voltage_a": "220.0"},
}


def child_env(tmp):
    env = dict(os.environ)
    env.pop("CONC_PORT", None)
    env.pop("CONC_STATION_DB", None)
    env["TZ"] = "UTC"                     # the board's local time and the station's zone agree
    env["CONC_STATION_TZ"] = "UTC"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Child:
    """One long-running `conc` process in its own process group; its first stdout line is JSON."""

    def __init__(self, args, env, what, log_dir):
        self.what = what
        self.args = args
        self.log = open(Path(log_dir) / ("%s.log" % what.replace(" ", "_")), "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli"] + args,
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=self.log, start_new_session=True)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            self.log.flush()
            raise AssertionError("%s did not start (exit %s): %s" % (
                what, self.proc.returncode, self.log_text()[-2000:]))
        self.first = json.loads(line)

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def signal(self, sig):
        """Signal the whole group (conc board run's MicroPython agent dies with it)."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL: a power cut for the board, a crash for the station."""
        self.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.close()

    def stop(self, grace=10):
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)
        # anything left in the group (a child that outlived its parent)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.close()

    def close(self):
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


class Chain:
    """Meters, modem, station and virtual board, wired together; `stop()` ends them all."""

    def __init__(self, tmp, board=BOARD, meters=None, bus_format=None):
        self.board = board
        self.meters = METERS if meters is None else meters
        self.bus_format = BUS_FORMAT if bus_format is None else bus_format
        self.dir = Path(tmp)
        self.env = child_env(tmp)
        self.db_path = self.dir / "station.db"
        self.db = "sqlite:///%s" % self.db_path
        self.capture = self.dir / "session.txt"
        self.children = {}
        self.station_address = None
        self.port = None

    # --- running commands ----------------------------------------------------------------------
    def conc(self, *args, timeout=120, check=True):
        """Run a `conc` command as a technician types it (the board through CONC_PORT)."""
        env = dict(self.env)
        if self.port:
            env["CONC_PORT"] = self.port
        proc = subprocess.run([sys.executable, "-m", "host_tools.cli"] + [str(a) for a in args],
                              cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode:
            raise AssertionError("`conc %s` failed (exit %d): %s %s" % (
                " ".join(str(a) for a in args), proc.returncode, proc.stdout[-1500:],
                proc.stderr[-1500:]))
        return proc.stdout

    def conc_json(self, *args, **kw):
        return json.loads(self.conc(*args, "--json", **kw))

    def spawn(self, name, args):
        child = Child(args, self.env, name, self.dir)
        self.children[name] = child
        return child.first

    def stop(self):
        """Every process ends, whatever happened (the fixture's finalizer)."""
        for name in ("board", "modem", "station", "bus 1", "bus 2"):
            child = self.children.pop(name, None)
            if child is not None:
                child.stop()
        for child in self.children.values():
            child.stop()
        self.children = {}

    # --- the master station --------------------------------------------------------------------
    def register(self):
        self.conc("station", "terminals", "add", "--area", AREA, "--address", ADDRESS,
                  "--password", PW, "--name", "e2e", "--db", self.db)
        for pn, (bus, _, address, _, protocol) in self.meters.items():
            if protocol == "200":                   # Modbus: the board reports a unit id
                address = "%012d" % (900 + int(address))
            self.conc("station", "terminals", "add-meter", TERMINAL, "--pn", pn, "--meter",
                      address, "--protocol", protocol, "--port", bus, "--baud", BAUD,
                      "--meter-password", METER_PASSWORD + "0000", "--db", self.db)

    def start_station(self, listen="127.0.0.1:0", options=None):
        # --read-every 0: every reading in the database comes from the board's uploads, so
        # they can be matched one to one with its ring log. --no-archive-sync: the board keeps
        # the archive its technician gave it. --report-every 0: no report tasks, so the board
        # reports with its default (every standard unit as soon as it is stored) and each
        # reading cycle reaches the station at once, which the station-kill test times;
        # timed tasks are tested in tests/uplink and tests/station_frontend.
        # --capture: every frame of every session (appended across restarts), for `conc decode`
        # `options` replace these defaults (a test of station-set report tasks gives its own)
        options = options or ["--read-every", "0", "--no-archive-sync", "--report-every", "0"]
        first = self.spawn("station", ["station", "serve", "--listen", listen, "--json"] +
                           [str(o) for o in options] +
                           ["--capture", self.capture, "--stats-every", "0", "--db", self.db])
        self.station_address = first["listening"]
        return self.station_address

    def logs(self, tail=1500):
        """The end of every process's stderr, for a failure message."""
        out = []
        for name, child in self.children.items():
            try:
                text = Path(child.log.name).read_text(errors="replace")
            except OSError:
                continue
            out.append("--- %s (exit %s):\n%s" % (name, child.proc.poll(), text[-tail:]))
        return "\n".join(out)

    def wait_for(self, what, predicate, timeout, every=0.5):
        """`wait_for` whose failure message ends with the processes' logs."""
        try:
            return wait_for(what, predicate, timeout, every)
        except AssertionError as exc:
            raise AssertionError("%s\n%s" % (exc, self.logs())) from None

    def station_child(self):
        return self.children["station"]

    # --- meters, modem, board ------------------------------------------------------------------
    def start_meters(self, start=None):
        """The simulated meter buses; `start`: their clocks' time (ISO, local) now."""
        for bus in sorted(self.bus_format):
            config = {"bus": dict(self.bus_format[bus], **({"start": start} if start else {})),
                      "meters": [m[3] for m in self.meters.values() if m[0] == bus]}
            path = self.dir / ("bus%d.json" % bus)
            path.write_text(json.dumps(config))
            self.spawn("bus %d" % bus, ["sim", "meters", "--config", path, "--json"])

    def start_modem(self):
        self.modem = self.spawn("modem", ["sim", "modem", "--connect", self.station_address,
                                          "--dialect", "sim800", "--json", "--trace"])["device"]

    def modem_commands(self):
        """The AT commands the board has sent its modem so far (`conc sim modem --trace`)."""
        return [line.split("  ", 1)[1] for line in self.children["modem"].log_text().splitlines()
                if line[:2].isdigit() and "  AT" in line]

    def wait_for_modem(self, what, after, command="AT", timeout=30):
        """Wait until the board sends a command starting with `command` after the first
        `after` commands (a count from modem_commands()): the modem is the first thing the
        firmware talks to when it (re)starts, so this tells a running firmware without stopping
        it, as `conc status` would."""
        self.wait_for(what, lambda: any(c.startswith(command)
                                        for c in self.modem_commands()[after:]), timeout, 0.1)

    def start_board(self, clock=()):
        """`conc board run` on the chain's buses and modem; `clock`: e.g. ("--clock-start",
        TIME, "--fast-until", TIME) for a board whose idle time is skipped."""
        buses = []
        for bus in sorted(self.bus_format):
            buses += ["--bus", "%d=%s" % (bus, self.children["bus %d" % bus].first["device"])]
        self.port = self.spawn("board", [
            "board", "run", "--board", self.board, "--image", self.dir / "board"] + buses +
            ["--modem", self.modem, "--json"] + list(clock))["port"]
        return self.port

    def install(self, settings=()):
        """What the technician types at the cabinet: flash, configure, the meter list.
        `settings`: (key, value) pairs that replace or add to the chain's own."""
        host, port = self.station_address.rsplit(":", 1)
        self.conc("flash", "--board", self.board)
        values = dict((("terminal.area", AREA), ("terminal.address", ADDRESS),
                       ("master.host", host), ("master.port", port),
                       ("comm.heartbeat_min", 1), ("comm.redial_s", 1),
                       ("comm.redial_max_s", 4), ("plan.realtime_min", 1),
                       ("plan.curve_min", 0), ("comm.password", PW)))
        values.update(settings)
        for key, value in values.items():
            self.conc("config", "set", key, value)
        for pn, (bus, protocol, address, sim, _) in self.meters.items():
            args = ["--point", pn, "--address", address, "--protocol", protocol, "--bus", bus,
                    "--baud", BAUD]
            if protocol == "modbus":
                args += ["--map", sim["map"]]
            else:
                args += ["--password", METER_PASSWORD]
            self.conc("meters", "add", *args)

    # --- looking at the board and the station --------------------------------------------------
    def status(self):
        return self.conc_json("status")

    def pull(self):
        """`conc pull --format json -o -`: the ring log's records after the usb cursor."""
        out = self.conc("pull", "--format", "json", "-o", "-")
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def station_rows(self):
        """(pn, item, read_at, value, scale) of every reading the station stored, read-only."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=10)
        try:
            return con.execute("SELECT pn, item, read_at, value, scale FROM readings "
                               "ORDER BY pn, read_at, item").fetchall()
        finally:
            con.close()

    def station_count(self, since=0):
        """Readings the station holds read at `since` (unix seconds) or later."""
        try:
            con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=10)
            try:
                return con.execute("SELECT COUNT(*) FROM readings WHERE read_at >= ?",
                                   (since,)).fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error:
            return 0

    def station_events(self):
        """The ERC codes of every event the station stored, sorted."""
        con = sqlite3.connect("file:%s?mode=ro" % self.db_path, uri=True, timeout=10)
        try:
            return sorted(r[0] for r in con.execute("SELECT erc FROM events"))
        finally:
            con.close()

    def readings(self, pn, start, end):
        """`conc station readings --meter TERMINAL:PN --json` between two datetimes (UTC)."""
        out = self.conc("station", "readings", "--meter", "%s:%d" % (TERMINAL, pn),
                        "--from", start.strftime("%Y-%m-%dT%H:%M:%S"),
                        "--to", end.strftime("%Y-%m-%dT%H:%M:%S"), "--json", "--db", self.db)
        data = json.loads(out)
        return data if isinstance(data, list) else data["readings"]


def wait_for(what, predicate, timeout, every=0.5):
    """Poll `predicate()` until it returns something true; its value, or an AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (
                timeout, what, last))
        time.sleep(every)


def utc(text):
    return datetime.datetime.fromisoformat(text).replace(tzinfo=None)

