"""Shared set-up for the USB command tests: meter simulators, a virtual board, `conc` runs."""
import json
import subprocess
import sys
import time

from host_tools.simulators.meter_bus import MeterSimulator
from tests.vboard.vboard_support import ROOT, VirtualBoard
from tests.waiting import wait_for

BOARD = "virtual_wrover"


def conc(*args, port=None, timeout=120):
    """Run the real CLI; returns the CompletedProcess (text)."""
    argv = [sys.executable, "-m", "host_tools.cli"] + [str(a) for a in args]
    if port:
        argv += ["--port", port]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def conc_json(*args, port=None):
    proc = conc(*args, "--json", port=port)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def simulators():
    """Two buses: DL/T 645-2007 + 1997 meters on bus 1, Modbus on bus 2 (9600 baud)."""
    bus1 = MeterSimulator.from_dict({
        "bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
        "meters": [{"protocol": "dlt645", "address": "1", "energy_kwh": 1200},
                   {"protocol": "dlt645-1997", "address": "2", "energy_kwh": 800}]})
    bus2 = MeterSimulator.from_dict({
        "bus": {"baud": 9600, "parity": "N", "turnaround_ms": 5},
        "meters": [{"protocol": "modbus", "address": 1, "energy_kwh": 50}]})
    return bus1, bus2


def start_board(image_dir, bus1, bus2, board=BOARD):
    vb = VirtualBoard(image_dir, "--board", board, "--bus", "1=" + bus1.device_path,
                      "--bus", "2=" + bus2.device_path).start()
    proc = conc("flash", "--board", board, port=vb.port)
    assert proc.returncode == 0, proc.stderr
    return vb


class ReadingCycle:
    """Waits for the firmware's next reading cycle from the meters' side of the wire, without
    touching the board (any `conc` command restarts its firmware).

        cycle = ReadingCycle((bus1, ["1", "2"]), (bus2, [1]))    # before what starts it
        conc("meters", "add", ...)                               # restarts the firmware
        cycle.wait()          # each meter answered since, and the buses went quiet

    "Quiet" is no byte on any bus for QUIET_S: the cycle's meters are all read (the next cycle
    is a plan period away).
    """
    QUIET_S = 0.3

    def __init__(self, *buses):
        self.meters = [(sim, sim.meter(address)) for sim, addresses in buses
                       for address in addresses]
        self.before = [meter.replies for _, meter in self.meters]
        self.busy = None
        self.since = None

    def _done(self):
        for (_, meter), before in zip(self.meters, self.before, strict=True):
            if meter.replies <= before:
                return False
        busy = sum(sim.bus_busy_s for sim, _ in self.meters)
        now = time.monotonic()
        if busy != self.busy:
            self.busy, self.since = busy, now
            return False
        return now - self.since >= self.QUIET_S

    def wait(self, timeout=60):
        wait_for("a reading cycle of every meter", self._done, timeout, every=0.05)
