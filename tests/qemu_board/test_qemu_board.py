"""The whole firmware on the emulated 32-bit board (board_configs/qemu_m4: MicroPython 1.28.0 on a
Cortex-M4F in QEMU, 192 KB heap, code in ROMFS), deployed and used as on the virtual board:

    `conc sim meters` (two buses) -> `conc board run --board qemu_m4` (UART1, UART3)
    -> UART2 -> `conc sim modem` -> `conc station serve`

installed with `conc flash --board qemu_m4` (a ROMFS image with the armv7emsp kernel),
configured with `conc config set` / `conc meters add`, looked at with `conc status`,
`conc meters test` and `conc pull`. The firmware is built by `make qemu-board` (cached: the
first run of a machine builds it, every later run reuses it).
"""
import time

import pytest
import serial

from host_tools.usb import STOP_LOG_ENV
from tests.e2e.e2e_support import METERS, Chain
from tests.e2e.test_end_to_end import (
    assert_all_confirmed, board_minute_over, compare_with_the_board, drained,
    readings_of_every_meter_since)

BOARD = "qemu_m4"


def built_firmware():
    from host_tools import qemu_build
    missing = [name for name in qemu_build.TARBALLS
               if not (qemu_build.deps_dir() / name).exists()]
    if missing:
        pytest.skip("the MicroPython source tarballs are not in %s: %s" % (
            qemu_build.deps_dir(), ", ".join(missing)))
    return qemu_build.build()


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    built_firmware()
    chain = Chain(tmp_path_factory.mktemp("qemu"), board=BOARD)
    chain.pulled = []
    # what the board printed each time a `conc` command stopped it, for failure messages
    chain.stops = chain.dir / "board_stops.log"
    chain.env[STOP_LOG_ENV] = str(chain.stops)
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


def test_readings_reach_the_station_from_the_32_bit_board(chain):
    chain.wait_for("a reading of every meter in the station",
                   lambda: readings_of_every_meter_since(chain, 0), 120)
    status = chain.wait_for("the uplink backlog to drain", lambda: drained(chain), 90)
    assert status["platform"] == "qemu"
    assert status["micropython"] == "1.28.0"
    # the whole firmware, uplink included, runs in the board's 192 KB
    assert not status["skipped"], status["skipped"]
    heap = status["heap_used"] + status["heap_free"]
    assert 184 * 1024 <= heap <= 192 * 1024         # the board's 192 KB (less the REPL's own)
    assert status["heap_peak"] < heap
    # `conc pull`: the ring log holds exactly what the station received, once the boot's
    # minute is over (standard read times are minutes)
    board_minute_over(chain)
    try:
        board = compare_with_the_board(chain)
    except AssertionError as exc:
        raise AssertionError("%s\n%s" % (exc, last_stops(chain))) from None
    assert_all_confirmed(status, chain.pulled)
    assert {pn for pn, _, _ in board} == set(METERS)


def test_events_go_from_the_ring_log_to_the_station(chain):
    status = chain.status()
    logged = sorted({event[3] for event in status["events"]})
    assert logged, "no event in the board's ring log"
    chain.wait_for("the board's events in the station",
                   lambda: set(logged) <= set(chain.station_events()), 60)


def test_meters_test_reads_every_meter_through_the_board(chain):
    rows = chain.conc_json("meters", "test")
    assert {row["point"] for row in rows} == set(METERS), rows
    assert all(row["ok"] for row in rows), rows


def test_a_burst_of_ctrl_c_leaves_one_whole_stop_marker_last(chain):
    """A technician's terminal program (or an impatient finger) sends Ctrl-C again and again
    while the firmware stops: on a board each one interrupts whatever runs, the stop marker's
    write included. The marker is still written, once, and is the last record."""
    chain.pull()                    # the records of the commands before: not this test's
    since = int(time.time())
    chain.wait_for("the firmware running again (a reading after the pull)",
                   lambda: chain.station_count(since) > 0, 90)
    with serial.Serial(chain.port, 115200) as line:
        for _ in range(100):
            line.write(b"\x03")
            time.sleep(0.01)        # the burst's pacing is what this test is about
    records = chain.pull()
    stops = [r for r in records if (r["record"], r["quantity"]) == ("marker", "stopped")]
    assert len(stops) == 1 and records[-1] is stops[0], "%s\n%s" % ([
        (r["seq"], r["time"], r["record"], r["quantity"]) for r in records
        if r["record"] != "readings"][-12:] + [(len(records), "records")], last_stops(chain))


def last_stops(chain, count=2):
    """What the board printed the last times a command stopped it (host_tools/usb.py)."""
    try:
        text = chain.stops.read_text(errors="replace")
    except OSError:
        return "(the board's stops were not logged)"
    return "what the board printed when stopped:\n===" + "===".join(text.split("===")[-count:])
