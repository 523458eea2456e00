"""`make demo`: the whole system on one machine: a virtual board reading 16 simulated meters
and reporting to a master station over a simulated GPRS modem.

Starts two meter simulators (8 DL/T 645-2007/-1997 meters on bus 1, 8 Modbus meters on bus 2),
the master station (`conc station serve`, SQLite) with the terminal registered, a modem
simulator connected to it, and a virtual board attached to the buses and the modem. Then does
what an installer types - flash, configure, import the meter list, test the wiring - showing
each `conc` command as it runs it, lets the board poll for about a minute (one reading cycle per
minute) while it uploads to the station, shows its status, pulls the data over USB into SQLite,
prints a summary per meter, and shows the readings the station received. Then the billing
office on the same database: demo customers with a year of frozen values (`conc station
demo-data`), the last month's line loss and its statements as a PDF, the first one shown as
text; then the operator console (`conc station web`) on that database, its dashboard and alarm
console saved as screenshots. Every child process is stopped at the end, whatever happens; the exit status is non-zero
when a step failed.

    python -m host_tools.demo [--seconds 60] [--keep DIR] [--customers 200]
"""
import argparse
import datetime
import json
import os
import secrets
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from host_tools import output, quantity_values

ROOT = Path(__file__).resolve().parent.parent
BOARD = "virtual_wrover"
AREA, ADDRESS = 4101, 42        # the terminal's A1 / A2
BUS1_METERS = [("dlt645" if i % 2 else "dlt645-1997", "%012d" % (100 + i)) for i in range(1, 9)]
BUS2_METERS = [("modbus", i, "sdm630" if i % 4 == 0 else "sdm120") for i in range(1, 9)]


class DemoError(Exception):
    pass


class Demo:
    def __init__(self, workdir, seconds, customers=200):
        self.dir = Path(workdir)
        self.seconds = seconds
        self.customers = customers
        self.children = []
        self.port = None
        self.station_db = "sqlite:///%s" % (self.dir / "station.db")
        self.env = dict(os.environ)
        self.env.pop("CONC_PORT", None)

    # --- processes ---------------------------------------------------------------------------
    def spawn(self, args, what):
        """Start a long-running `conc` process whose first stdout line is JSON."""
        proc = subprocess.Popen([sys.executable, "-m", "host_tools.cli"] + args, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env,
                                text=True)
        self.children.append(proc)
        line = proc.stdout.readline()  # pyright: ignore[reportOptionalMemberAccess] - started with pipes
        if not line:
            raise DemoError("%s did not start: %s" % (what, proc.stderr.read().strip()))  # pyright: ignore[reportOptionalMemberAccess] - started with pipes
        return json.loads(line)

    def stop_children(self):
        for proc in reversed(self.children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in reversed(self.children):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self.children = []

    def conc(self, *args, show=True, check=True):
        """Run a `conc` command as a user would, echoing it; returns its stdout."""
        shown = "conc " + " ".join(shlex.quote(str(a)) for a in args)
        if show:
            print("\n$ " + shown, flush=True)
        proc = subprocess.run([sys.executable, "-m", "host_tools.cli"] + [str(a) for a in args],
                              cwd=ROOT, env=dict(self.env, CONC_PORT=self.port or ""),
                              capture_output=True, text=True, timeout=120)
        if show and proc.stdout.strip():
            print(proc.stdout.rstrip())
        if check and proc.returncode:
            raise DemoError("`%s` failed (exit %d): %s" % (shown, proc.returncode,
                                                          proc.stderr.strip()))
        return proc.stdout

    # --- steps -------------------------------------------------------------------------------
    def write_files(self):
        bus1 = {"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 20},
                "meters": [{"protocol": p, "address": a, "base_load_kw": 0.5 + i * 0.3,
                            "energy_kwh": 1500 + 211 * i}
                           for i, (p, a) in enumerate(BUS1_METERS)]}
        bus2 = {"bus": {"baud": 9600, "parity": "N", "turnaround_ms": 10},
                "meters": [{"protocol": p, "address": a, "map": m, "base_load_kw": 1 + i * 0.2,
                            "energy_kwh": 800 + 97 * i,
                            "phases": 3 if m == "sdm630" else 1}
                           for i, (p, a, m) in enumerate(BUS2_METERS)]}
        (self.dir / "bus1.json").write_text(json.dumps(bus1))
        (self.dir / "bus2.json").write_text(json.dumps(bus2))
        rows = ["point,address,protocol,bus,baud,parity,map"]
        for i, (p, a) in enumerate(BUS1_METERS, start=1):
            rows.append("%d,%s,%s,1,9600,E," % (i, a, p))
        for i, (p, a, m) in enumerate(BUS2_METERS, start=9):
            rows.append("%d,%d,%s,2,9600,N,%s" % (i, a, p, m))
        (self.dir / "meters.csv").write_text("\n".join(rows) + "\n")

    def start_station(self):
        print("== the master station: register the terminal and its meters, serve")
        db = ("--db", self.station_db)
        self.conc("station", "terminals", "add", "--area", AREA, "--address", ADDRESS,
                  "--password", "00", "--name", "demo", *db)
        terminal = "%d-%d" % (AREA, ADDRESS)
        meters = [(i, a, "dlt645-2007" if p == "dlt645" else p, 1)
                  for i, (p, a) in enumerate(BUS1_METERS, start=1)]
        # Modbus meters have no 1376.1 protocol number: the vendor code the board uses (200)
        meters += [(i, "%012d" % (900 + a), "200", 2)
                   for i, (p, a, m) in enumerate(BUS2_METERS, start=9)]
        for pn, address, protocol, bus in meters:
            self.conc("station", "terminals", "add-meter", terminal, "--pn", pn, "--meter",
                      address, "--protocol", protocol, "--port", bus, "--baud", 9600, *db,
                      show=pn == 1)
        print("(and %d more meters the same way)" % (len(meters) - 1))
        # The board keeps the archive it is configured with over USB (--no-archive-sync).
        served = self.spawn(["station", "serve", "--listen", "127.0.0.1:0", "--json",
                             "--no-archive-sync", "--stats-every", "0", *db], "the station")
        self.station = served["listening"]
        modem = self.spawn(["sim", "modem", "--connect", self.station, "--json"],
                           "the modem simulator")
        self.modem = modem["device"]
        print("station listening on %s; modem simulator on %s" % (self.station, self.modem))

    def start(self):
        self.start_station()
        print("\n== starting two meter simulators and a virtual board (%s)" % BOARD)
        sim1 = self.spawn(["sim", "meters", "--config", self.dir / "bus1.json", "--json"],
                          "the bus 1 meter simulator")
        sim2 = self.spawn(["sim", "meters", "--config", self.dir / "bus2.json", "--json"],
                          "the bus 2 meter simulator")
        print("bus 1: %d meters on %s; bus 2: %d meters on %s" % (
            len(sim1["meters"]), sim1["device"], len(sim2["meters"]), sim2["device"]))
        board = self.spawn(["board", "run", "--board", BOARD, "--image", self.dir / "board",
                            "--bus", "1=" + sim1["device"], "--bus", "2=" + sim2["device"],
                            "--modem", self.modem, "--json"], "the virtual board")
        self.port = board["port"]
        print("virtual board on %s" % self.port)

    def configure(self):
        print("\n== flash and configure, as an installer does (CONC_PORT=%s)" % self.port)
        self.conc("flash", "--board", BOARD)
        self.conc("config", "set", "plan.realtime_min", "1")
        host, port = self.station.rsplit(":", 1)
        site = self.dir / "site.toml"
        site.write_text('[terminal]\narea = %d\naddress = %d\n\n[master]\nhost = "%s"\n'
                        'port = %s\napn = "cmiot"\n\n[comm]\nheartbeat_min = 1\n'
                        % (AREA, ADDRESS, host, port))
        print("\n# %s:\n%s" % (site.name, site.read_text().rstrip()))
        self.conc("config", "import", site)
        self.conc("meters", "import", self.dir / "meters.csv")
        self.conc("meters", "list")
        self.conc("meters", "test")

    def poll(self):
        print("\n== polling for %d s (a reading cycle every minute)" % self.seconds)
        end = time.monotonic() + self.seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 30))
            if time.monotonic() < end - 5:
                status = json.loads(self.conc("status", "--json", show=False))
                buses = ", ".join("bus %d: %d ok / %d failed" % (
                    b["bus"], b["reads_ok"], b["reads_failed"]) for b in status["buses"])
                uplink = status.get("uplink") or {}
                print("  %3.0f s left: %s; ring %d records; uplink %s, backlog %s" % (
                    max(0, end - time.monotonic()), buses, status["ring"]["records"],
                    uplink.get("state", "not running"), uplink.get("backlog", "-")),
                    flush=True)
        self.conc("status")

    def pull(self):
        print("\n== pull the data")
        db = self.dir / "demo.db"
        self.conc("pull", "--format", "sqlite", "-o", db)
        return db

    def summary(self, db):
        con = sqlite3.connect(db)
        rows = con.execute(
            "SELECT point, COUNT(DISTINCT seq), MAX(time), "
            "MAX(CASE WHEN quantity = 'energy_fwd_total' THEN value END), "
            "MAX(CASE WHEN quantity = 'voltage_a' THEN value END) "
            "FROM readings WHERE kind = 'realtime' GROUP BY point ORDER BY point").fetchall()
        events = con.execute("SELECT code, COUNT(*) FROM events GROUP BY code").fetchall()
        con.close()
        print("\n== summary (%s)" % db)
        protocols = dict(enumerate((p for p, _ in BUS1_METERS), start=1))
        table = [[point, batches, last,
                  quantity_values.shown("energy_fwd_total", energy, protocols.get(point, "dlt645")),
                  quantity_values.shown("voltage_a", volts, protocols.get(point, "dlt645"))]
                 for point, batches, last, energy, volts in rows]
        output.echo_table(["point", "batches", "last reading", "energy", "voltage"], table)
        print("records by kind: " + ", ".join("%s %d" % e for e in events))
        if len(rows) < 16:
            raise DemoError("only %d of 16 meters have readings" % len(rows))

    def station_view(self):
        print("\n== what the master station received over the (simulated) GPRS link")
        db = ("--db", self.station_db)
        self.conc("station", "status", *db)
        out = self.conc("station", "readings", "--meter", "%d-%d:1" % (AREA, ADDRESS),
                        "--item", "energy_fwd_total", "--item", "voltage_a", "--item",
                        "current_a", *db)
        if "energy_fwd_total" not in out:
            raise DemoError("the station has no energy readings of meter 1")

    def business_view(self):
        """The billing office on the same station database: demo customers with a year of
        frozen values, the last months billed; line loss and the statements of the last."""
        print("\n== the billing office: demo customers, line loss and statements")
        db = ("--db", self.station_db)
        today = datetime.date.today()
        last = (today.replace(day=1) - datetime.timedelta(days=1)).strftime("%Y-%m")
        # The demo users' password stays in the environment: it is never shown.
        self.env.setdefault("CONC_STATION_PASSWORD", secrets.token_urlsafe(12))
        self.conc("station", "demo-data", "--customers", self.customers, "--billed-months", 2,
                  *db)
        self.conc("station", "stats", "line-loss", "--from", last, *db)
        pdf = self.dir / ("statements-%s.pdf" % last)
        self.conc("station", "statements", "--period", last, "-o", pdf, *db)
        page = subprocess.run(["pdftotext", "-layout", "-l", "1", str(pdf), "-"],
                              capture_output=True, text=True)
        if page.returncode == 0:
            print("\nthe first statement (pdftotext):\n" + page.stdout.split("近 12", 1)[0]
                  .rstrip())

    def console_view(self):
        """The operator console on the same database: screenshots of the dashboard and the
        alarm console, and the command that opens it (host_tools/console/demo_view.py)."""
        from host_tools.console.demo_view import DemoViewError, show
        print("\n== the operator console (conc station web)")
        try:
            show(self.station_db, str(self.dir), self.env["CONC_STATION_PASSWORD"],
                 env=self.env, shown_password="the password in CONC_STATION_PASSWORD")
        except DemoViewError as exc:
            raise DemoError(str(exc)) from None

    def run(self):
        self.write_files()
        self.start()
        self.configure()
        self.poll()
        self.summary(self.pull())
        self.station_view()
        self.business_view()
        self.console_view()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess] - the module has a docstring
    parser.add_argument("--seconds", type=int, default=60, help="polling time (default 60)")
    parser.add_argument("--keep", help="work in this folder and keep it (default: a temp one)")
    parser.add_argument("--customers", type=int, default=200,
                        help="demo customers of the billing office (default 200)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        tmp = None
        workdir = args.keep
    else:
        tmp = tempfile.TemporaryDirectory(prefix="conc-demo-")
        workdir = tmp.name
    demo = Demo(workdir, args.seconds, args.customers)
    status = 0
    try:
        demo.run()
        print("\ndemo finished in %.0f s" % (time.monotonic() - started))
    except DemoError as exc:
        print("\ndemo FAILED: %s" % exc, file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        print("\ndemo interrupted", file=sys.stderr)
        status = 130
    finally:
        demo.stop_children()
        if tmp is not None:
            tmp.cleanup()
    return status


if __name__ == "__main__":
    sys.exit(main())
