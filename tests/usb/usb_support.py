"""Shared set-up for the USB command tests: meter simulators, a virtual board, `conc` runs."""
import json
import subprocess
import sys

from host_tools.simulators.meter_bus import MeterSimulator
from tests.vboard.vboard_support import ROOT, VirtualBoard

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
