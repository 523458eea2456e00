"""The real concentrator uplink (firmware under MicroPython, tests/uplink/uplink_board.py, plain
socket) against this front end: login, heartbeats, the backlog of an outage delivered through
F241 uploads and stored once, the ERC31 event reported actively (its all-zero time
stored as unknown), the terminal clock set."""
import asyncio
import sys

import pytest
import threading
from pathlib import Path

from host_tools.station.collector import CollectorConfig
from host_tools.station.frontend import FrontEnd
from host_tools.station.repository import open_station
from protocol import gw376

UPLINK_TESTS = Path(__file__).resolve().parent.parent / "uplink"
FAR_FUTURE = 4102444800
PASSWORD = b"secret".hex()          # the board's comm.password, NUL-padded to 16 bytes


class StationThread:
    """A FrontEnd serving on 127.0.0.1 from its own thread and event loop."""

    def __init__(self, url, report_form=None):
        self.url = url
        self.report_form = report_form
        self.ready = threading.Event()
        self.port = None
        self.front = None
        self._stop = None
        self._loop = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self):
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        station = open_station(self.url, zone="UTC")
        self.front = FrontEnd(station, response_timeout=2.0, retries=1, command_poll_s=0.2,
                              collector_config=CollectorConfig(realtime_interval_s=3600,
                                                               clock_check_s=3600,
                                                               daily_after=None, tick_s=0.5,
                                                               report_every_min=None,
                                                               report_form=self.report_form))
        self.front.frame_tap = self
        self.port = (await self.front.start("127.0.0.1", 0))[1]
        self.ready.set()
        await self._stop.wait()
        await self.front.close()
        station.close()

    def frame(self, terminal, direction, raw):
        """The front end's frame tap: count uplink frames carrying the vendor unit F241."""
        if direction == "in" and any(fn == 241 for _, fn, _ in gw376.parse(raw).units):
            self.vendor_units += 1

    def __enter__(self):
        self.vendor_units = 0
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc):
        self._loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(20)


@pytest.mark.parametrize("standard", [True, False], ids=["standard", "compact"])
def test_firmware_uplink_delivers_its_outage_backlog_and_events_once(sqlite_url, standard):
    """Both reporting modes: the default standard units (AFN0C F129/F25, AFN0E reports, no
    vendor unit on the wire) and the compact vendor F241 records, which the station switches
    on at login (`--report-form compact`: vendor AFN04 F241); nothing lost, nothing stored
    twice."""
    if str(UPLINK_TESTS) not in sys.path:
        sys.path.insert(0, str(UPLINK_TESTS))
    from uplink_support import Board
    with open_station(sqlite_url, zone="UTC") as station:
        terminal = station.add_terminal("4101", 1, PASSWORD)
        station.set_measuring_points(terminal.id, [
            {"pn": pn, "meter_address": "%012d" % pn} for pn in range(1, 5)])
    with StationThread(sqlite_url, None if standard else "compact") as served:
        board = Board({"port": served.port, "run_ms": 9000, "heartbeat_ms": 1000,
                       "standard": True,
                       "events": [31], "redial_ms": 300,
                       "outage": {"meters": 4, "hours": 1, "curve_min": 15,
                                  "redial_max_s": 2}})
        result = board.result(120)
        stats = dict(served.front.stats)
        vendor = served.vendor_units
    assert result["backlog"] == 0, result["output"][-2000:]
    assert stats["logins"] >= 1 and stats["heartbeats"] >= 1 and stats["upload_errors"] == 0
    assert (vendor == 0) if standard else vendor > 0, vendor
    with open_station(sqlite_url, zone="UTC") as station:
        tid = station.terminal("4101-1").id
        # the outage: 4 slots of 15 minutes x 4 meters, each a curve record of 6 quantities
        curve = [r for pn in range(1, 5)
                 for r in station.readings(tid, pn, 0, FAR_FUTURE, items=["energy_fwd_total"])
                 if r.read_at.minute != 46 or r.read_at.hour != 23]
        assert len(curve) >= 16
        voltages = station.readings(tid, 2, 0, FAR_FUTURE, items=["voltage_a"])
        assert voltages and all(str(v.value).count(".") == 1 for v in voltages)
        keys = [(r.pn, r.item, r.read_at) for pn in range(1, 5)
                for r in station.readings(tid, pn, 0, FAR_FUTURE)]
        assert len(keys) == len(set(keys))
        events = station.events(tid)
        assert [e.erc for e in events].count(31) == 1
        # the board script's terminal keeps no meter archive: AFN04 F10 is denied, not verified
        assert not any(p.archive_verified_at for p in station.measuring_points(tid))
        syncs = [c for c in station.commands(tid) if c.kind == "time_sync"]
        assert syncs and syncs[0].state == "confirmed"
