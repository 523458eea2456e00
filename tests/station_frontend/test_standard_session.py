"""A whole session between the station and a terminal that speaks only standard Q/GDW 1376.1
units, captured as `conc station serve --capture` writes it: login, the report tasks the station
sets, a day of 15-minute reports (a backlog caught up), events, a trip and a close. The capture
holds no vendor unit, `conc decode` reads every frame of it, and the database holds every
reading of the day once."""
import json
from decimal import Decimal
import subprocess
import sys

from host_tools.station.collector import CollectorConfig
from host_tools.station.framelog import FrameTap
from protocol import gw376
from tests.station_frontend.frontend_support import Harness, eventually, run

FAR_FUTURE = 4102444800
VENDOR_FNS = {241}


def test_a_standard_only_session_captured_whole_has_no_vendor_unit(sqlite_url, tmp_path):
    capture = tmp_path / "session.txt"
    tap = FrameTap(capture=str(capture))
    config = CollectorConfig(None, clock_check_s=None, daily_after=None, tick_s=0.5,
                             sync_archive=False, report_every_min=15)

    async def scenario():
        async with Harness(sqlite_url, terminals=1, meters=3, collector=config, frame_tap=tap,
                           command_poll_s=0.05,
                           control_options={"follow_s": 3.0, "probe_s": 0.2}) as h:
            # one task minute = 1 ms: the 15-minute class 1 task reports every 15 ms, each
            # report the next 15-minute round of a day's backlog
            sim = await h.sim(1, upload_format="units", task_minute_s=0.001, backlog_s=86400,
                              relay_delay_s=0.05)
            await eventually(lambda: sim.backlog_from is None, timeout=30,
                             what="a day of reports delivered")
            sim.raise_event({"erc": 14, "raw": bytes(10)})           # a power cut, ACD
            for kind in ("trip", "close"):
                command_id = h.command(kind, 2, user="alice")
                await eventually(lambda cid=command_id: h.station.command(cid).finished_at,
                                 timeout=10, what="%s finished" % kind)
                assert h.station.command(command_id).state == "confirmed"
            sim.quiet()
            # two frames a round (F129, the F89 curve): a loaded machine needs the time
            await eventually(lambda: not sim.unconfirmed, timeout=30,
                             what="every report confirmed")
            await h.front.writer.flush()
            tid = h.ids[1]
            rounds = {r.read_at for r in h.station.readings(tid, 1, 0, FAR_FUTURE,
                                                            items=["energy_fwd_total"])}
            assert len(rounds) >= 96                                   # a day of rounds
            for pn in (1, 2, 3):
                keys = [(r.item, r.read_at) for r in h.station.readings(tid, pn, 0, FAR_FUTURE)]
                # F129.0..4 of each round, and the round's point of the voltage curve (AFN0D
                # F89, which the station's class 2 task asks for) at the round's time
                assert len(keys) == len(set(keys)) == 6 * len(rounds)  # each reading once
                curve = {r.read_at: r.value for r in h.station.readings(
                    tid, pn, 0, FAR_FUTURE, items=["voltage_a"])}
                assert set(curve) == rounds and set(curve.values()) == {Decimal("220.3")}
            assert sorted(e.erc for e in h.station.events(tid)) == [14, 33, 33]
    try:
        run(scenario(), timeout=90)
    finally:
        tap.close()

    frames = [gw376.parse(bytes.fromhex(line.split("#")[0]))
              for line in capture.read_text().splitlines()]
    seen = {(f.direction, f.afn, fn) for f in frames for _, fn, _ in f.units}
    assert not {fn for _, _, fn in seen} & VENDOR_FNS
    assert {(0, 4, 65), (0, 4, 66), (0, 4, 67), (0, 4, 68)} <= seen      # tasks set
    assert {(1, 2, 1), (1, 0x0C, 129), (1, 0x0D, 89), (1, 0x0E, 1), (0, 5, 1), (0, 5, 2)} <= seen
    decoded = subprocess.run([sys.executable, "-m", "host_tools.cli", "decode", "--file",
                              str(capture), "--json"], capture_output=True, text=True,
                             timeout=120)
    assert decoded.returncode == 0, decoded.stderr
    assert len(decoded.stdout.splitlines()) == len(frames)
    assert all(json.loads(line)["protocol"] == "gw376" for line in decoded.stdout.splitlines())
