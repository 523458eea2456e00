"""Where the firmware's heap goes: a census of the booted firmware, step by step and module by
module, on the emulated 32-bit board or on the unix port.

    .venv/bin/python -m tests.bench.heap_census                 # unix port, code as .mpy files
    .venv/bin/python -m tests.bench.heap_census --romfs         # unix port, code in a ROMFS image
    .venv/bin/python -m tests.bench.heap_census --board qemu_m4 # the emulated board, from ROMFS
    .venv/bin/python -m tests.bench.heap_census --board qemu_m4 --requests

The firmware boots as firmware/main.py boots it (firmware/startup.py) with 256 points on bus 1
(8 simulated meters answer), the uplink through `conc sim modem` to the uplink tests' master,
then runs for a few seconds. Printed: the live heap (gc.collect() then gc.mem_alloc()) each boot
step added, what importing each module added (its own part: what the modules it imported added
is theirs; a module imported and unloaded again still shows, and its interned names stay), the
interned-name pools (micropython.qstr_info()), the resident modules, and what the 1376.1 codec
adds when a station's request loads it after boot (firmware.terminal.codec() and the
administration answers, module by module; released again before the run). With --romfs the image
sits in the heap before the count starts, so the figures are those of a board that runs its code
in place (64-bit objects, about 1.5 times a 32-bit board's).

With --requests (qemu_m4: the board measures its own live heap after every collection,
mps2.heap_peak, with a collection at least every 4 KB allocated as in tests/bench/bench_qemu.py),
the test master sends, once the board has logged in, what a station's collector sends after a
login (host_tools/station/collector.py): AFN0C F2 clock read, AFN05 F31 clock set, AFN04 F65/F66
report tasks + F67/F68 start + F241 report form, AFN0E F1/F2 events, AFN04 F10 archive for 20
points, AFN0A F10 read back. Printed: the live-heap peak (absolute, as firmware.heap_peak_kb has
it) while each request is taken in and answered (the link's _on_frame: parse, answer, send),
the peak between requests, and the replies' bytes (--dump FILE, JSON) to compare answers
before and after a change.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "tests" / "uplink"))

POINTS = 256
PASSWORD = "53454352455400000000000000000000"  # comm.password: b"SECRET" + 10 zero bytes
ANSWERING = 8
STEPS = ("_compile_plans", "_mount_log", "_record_boot", "_load_archive", "_make_kernel",
         "_start_housekeeping", "_start_poller", "_load_status", "_start_uplink")

# Runs on the board. __import__ is wrapped (MICROPY_CAN_OVERRIDE_BUILTINS, on in both ports) to
# collect before and after each first import; a module's own part is its import's growth minus
# the growth of the imports it made.
SCRIPT = r"""
import gc, sys, builtins, micropython
ROMFS_SETUP
gc.collect()
BASE = gc.mem_alloc()
_import = builtins.__import__
_open = []
COST = {}
def _counted(name, g=None, l=None, fromlist=None, level=0):
    if level == 0 and name in sys.modules and not fromlist:
        return _import(name, g, l, fromlist, level)
    before = set(sys.modules)
    gc.collect()
    a = gc.mem_alloc()
    _open.append(0)
    try:
        return _import(name, g, l, fromlist, level)
    finally:
        inner = _open.pop()
        gc.collect()
        grown = gc.mem_alloc() - a
        new = ",".join(m for m in sys.modules if m not in before)
        if new:
            COST[new] = COST.get(new, 0) + grown - inner
        if _open:
            _open[-1] += grown
builtins.__import__ = _counted
import json
from firmware import concentrator
c = concentrator.Concentrator()
concentrator.current = c
from firmware import startup
DONE = []
def _step(name):
    run = getattr(startup, name)
    def counted(*args):
        gc.collect()
        a = gc.mem_alloc()
        try:
            return run(*args)
        finally:
            gc.collect()
            DONE.append((name, gc.mem_alloc() - a))
    setattr(startup, name, counted)
for name in STEP_NAMES:
    _step(name)
startup.boot(c)
startup = None
concentrator.unload("firmware.startup")
builtins.__import__ = _import
gc.collect()
BOOTED = gc.mem_alloc() - BASE
# the 1376.1 codec and the administration answers, loaded as for a station's AFN04 request
BOOT_COST = COST
COST = {}
builtins.__import__ = _counted
from firmware import terminal as _terminal
_terminal.codec()
import firmware.terminal_admin
builtins.__import__ = _import
gc.collect()
CODEC = gc.mem_alloc() - BASE - BOOTED
CODEC_COST = COST
COST = BOOT_COST
_terminal.release_codec()
_terminal = None
gc.collect()
micropython.qstr_info()
peak = [0]
async def sampler():
    for _ in range(RUN_MS // 50):
        gc.collect()
        used = gc.mem_alloc() - BASE
        if used > peak[0]:
            peak[0] = used
        await c.kernel.time_dly(50)
    c.kernel.stop()
REQUESTS_SETUP
c.kernel.task_create(sampler, 5, name="heap")
c.kernel.run(RUN_MS + 5000)
print("@@" + json.dumps({"peak": peak[0], "booted": BOOTED, "steps": DONE, "cost": COST,
      "codec": CODEC, "codec_cost": CODEC_COST,
      "uplink": c.uplink.status()["state"] if c.uplink else None, "skipped": c.skipped,
      "requests": REQUESTS, "between": BETWEEN[0], "base": BASE,
      "modules": sorted(m for m in sys.modules if m.startswith(("firmware", "protocol")))}))
"""

# --requests: the board's own live-heap peak (mps2.heap_peak: after every collection) while each
# request frame is taken in and answered, and the peak between requests
REQUESTS_SETUP = """
import mps2
from firmware import link as _link
gc.threshold(4096)
_on_frame = _link.Link._on_frame
REQUESTS = []
BETWEEN = [0]
async def _measured(self, buf, length):
    label = "AFN%02X DT%02X%02X" % (buf[12], buf[16], buf[17]) if length > 18 else "short"
    BETWEEN[0] = max(BETWEEN[0], mps2.heap_peak()[0])
    gc.collect()
    mps2.heap_peak(True)
    try:
        return await _on_frame(self, buf, length)
    finally:
        if buf[6] & 0x40:
            REQUESTS.append((label, mps2.heap_peak()[0]))
        else:
            BETWEEN[0] = max(BETWEEN[0], mps2.heap_peak()[0])
        mps2.heap_peak(True)
_link.Link._on_frame = _measured
mps2.heap_peak(True)
"""

ROMFS_SETUP = """import vfs
_image = open(%r, "rb").read()
vfs.mount(vfs.VfsRom(memoryview(_image)), "/rom")
sys.path.insert(0, "/rom")"""


def board_files(master_port, bus_device, modem_device, tmp, board, requests=False):
    from firmware.archive import Archive
    if board == "qemu_m4":
        config = json.loads((ROOT / "board_configs" / "qemu_m4.json").read_text())
    else:
        config = {"name": "census", "platform": "linux", "heap_budget_kb": 192,
                  "buses": [{"bus": 1, "device": bus_device}],
                  "modem": {"device": modem_device, "baud": 115200, "family": "sim800"},
                  "data_partition": {"label": "data.img", "block_size": 4096,
                                     "block_count": 256},
                  "watchdog_ms": 30000}
    settings = {"terminal.area": 4101, "terminal.address": 1, "master.host": "127.0.0.1",
                "master.port": master_port, "comm.password": "secret",
                "plan.realtime_min": 1, "plan.curve_min": 1}
    if requests:
        settings["comm.password"] = PASSWORD
    meters = os.path.join(tmp, "meters.dat")
    Archive(meters).apply({p: {"protocol": "dlt645", "address": str(p), "bus": 1, "baud": 9600}
                           for p in range(1, POINTS + 1)})
    return {"board.json": json.dumps(config).encode(), "config.json": json.dumps(settings).encode(),
            "meters.dat": Path(meters).read_bytes()}


def script(run_ms, romfs_image=None, requests=False):
    return (SCRIPT.replace("ROMFS_SETUP", ROMFS_SETUP % romfs_image if romfs_image else "")
            .replace("REQUESTS_SETUP", REQUESTS_SETUP if requests else
                     "REQUESTS = None\nBETWEEN = [None]")
            .replace("STEP_NAMES", repr(STEPS)).replace("RUN_MS", str(run_ms)))


def run_unix(files, tmp, run_ms, romfs):
    from tests import micropython
    micropython.ensure_build()
    image = None
    if romfs:
        from host_tools import romfs as romfs_image
        files_in = {p.relative_to(micropython.BUILD).as_posix(): p.read_bytes()
                    for p in micropython.BUILD.rglob("*.mpy")}
        image = os.path.join(tmp, "romfs.img")
        Path(image).write_bytes(romfs_image.build_image(files_in))
    for name, data in files.items():
        Path(tmp, name).write_bytes(data)
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(micropython.BUILD), ".frozen"])
    proc = subprocess.run([micropython.micropython_path(), "-X", "heapsize=1024K", "-c",
                           script(run_ms, image)], capture_output=True, text=True,
                          timeout=run_ms / 1000 + 120, env=env, cwd=tmp)
    return proc.stdout + proc.stderr


def run_qemu(files, tmp, run_ms, bus_device, modem_device, requests=False):
    from tests.qemu_board.qemu_support import qemu_session
    with qemu_session(os.path.join(tmp, "board"), buses={1: bus_device},
                      modem=modem_device) as board:
        cwd = board.eval("__import__('os').getcwd()").rstrip("/")
        for name, data in files.items():
            board.write_file(cwd + "/" + name, data)
        board.soft_reset()
        return board.exec(script(run_ms, requests=requests), timeout=300)


def station_requests(clock):
    """What host_tools/station/collector.py sends after a login, in its order (labels, frames);
    `clock` (year, month, day, hour, minute, second, weekday) for the clock set and task base."""
    from protocol import gw376
    from protocol.gw376_units import REPORT_START
    pw = bytes.fromhex(PASSWORD)

    def req(afn, units):
        return gw376.Frame(afn, units, area=4101, terminal=1, master=1,
                           pw=pw if gw376.needs_pw(afn, gw376.DOWN) else None)
    every = gw376.PN_ALL
    base = clock[:3] + (0, 0, 0, clock[6])
    class1 = {"unit": 0, "period": 15, "base": base, "ratio": 1,
              "units": [(every, 129), (every, 131), (every, 25)]}
    class2 = {"unit": 2, "period": 1, "base": base, "ratio": 1,
              "units": [(every, fn) for fn in (161, 163, 177, 179, 81, 82, 83, 84, 89, 90, 91,
                                               92, 93, 94, 101, 103, 105, 106, 107, 108)]}
    start = {"action": REPORT_START}
    meters = [{"serial": p, "point": p, "baud": 9600, "port": 1, "protocol": 30,
               "address": "%012d" % p, "password": bytes(6), "tariffs": 4,
               "integer_digits": 6, "decimal_digits": 2, "collector": "000000000000",
               "user_class": 1, "user_subclass": 0} for p in range(1, 21)]
    return [("AFN0C F2 clock read", req(0x0C, [(0, 2, None)])),
            ("AFN05 F31 clock set", req(0x05, [(0, 31, clock)])),
            ("AFN04 F241+F65..F68 report tasks", req(0x04, [
                (0, 241, {"compact": 0}), (1, 65, class1), (1, 66, class2), (1, 67, start),
                (1, 68, start)])),
            ("AFN0E F1 important events", req(0x0E, [(0, 1, {"pm": 0, "pn": 32})])),
            ("AFN0E F2 normal events", req(0x0E, [(0, 2, {"pm": 0, "pn": 32})])),
            ("AFN04 F10 archive, 20 points", req(0x04, [(0, 10, {"meters": meters})])),
            ("AFN0A F10 archive read back", req(0x0A, [(0, 10, {"serials": list(range(1, 21))})])),
            ("AFN0C F2 clock read", req(0x0C, [(0, 2, None)]))]


def ask(master, answers):
    """Send the station's requests once the board has logged in; answers: [(label, [hex])]."""
    import time
    from protocol import gw376
    if not master.wait_login(120):
        return
    time.sleep(2)                    # the board's boot-time uploads settle first
    t = time.gmtime()
    clock = (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday + 1)
    for label, frame in station_requests(clock):
        replies = master.request(frame, timeout=20)
        answers.append((label, [gw376.build(r).hex() for r in replies]))


def census(board="unix", romfs=False, run_ms=8000, requests=False):
    from host_tools.simulators.meter_bus import MeterSimulator
    from uplink_support import Faults, TestMaster, modem_for
    sim = MeterSimulator.from_dict({"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
                                    "meters": [{"address": str(p)}
                                               for p in range(1, ANSWERING + 1)]})
    master = TestMaster().start()
    modem = modem_for(master, "sim800", Faults())
    answers = []
    if requests:
        import threading
        threading.Thread(target=ask, args=(master, answers), daemon=True).start()
    try:
        with sim, tempfile.TemporaryDirectory() as tmp:
            files = board_files(master.port, sim.device_path, modem.line.device_path, tmp, board,
                                requests)
            if board == "qemu_m4":
                out = run_qemu(files, tmp, run_ms, sim.device_path, modem.line.device_path,
                               requests)
            else:
                out = run_unix(files, tmp, run_ms, romfs)
    finally:
        modem.stop()
        master.stop()
    for line in out.splitlines():
        if line.startswith("@@"):
            result = json.loads(line[2:])
            result["answers"] = answers
            result["qstr"] = [x for x in out.splitlines() if x.startswith("qstr pool")]
            return result
    raise RuntimeError("the census did not finish:\n" + out[-3000:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", choices=("unix", "qemu_m4"), default="unix")
    parser.add_argument("--romfs", action="store_true", help="unix port: code in a ROMFS image")
    parser.add_argument("--requests", action="store_true",
                        help="qemu_m4: the heap peak while a station's post-login requests are "
                             "answered")
    parser.add_argument("--dump", metavar="FILE", help="with --requests: the answers as JSON")
    args = parser.parse_args()
    if args.requests and args.board != "qemu_m4":
        parser.error("--requests needs --board qemu_m4 (the board's own heap peak, mps2)")
    r = census(args.board, args.romfs, 40000 if args.requests else 8000, args.requests)
    kb = 1024.0
    print("after boot %.1f KB, live peak over the run %.1f KB; uplink %s, skipped %s"
          % (r["booted"] / kb, r["peak"] / kb, r["uplink"], r["skipped"]))
    print(" ".join(r["qstr"]))
    print("boot steps:")
    for name, grown in r["steps"]:
        print("  %6.1f KB  %s" % (grown / kb, name))
    print("imports (own part; modules loaded together on one line):")
    for name, grown in sorted(r["cost"].items(), key=lambda kv: -kv[1]):
        print("  %6.1f KB  %s" % (grown / kb, name))
    print("resident:", " ".join(r["modules"]))
    print("the 1376.1 codec with the administration answers (loaded for a station's request, "
          "then released): %.1f KB" % (r["codec"] / kb))
    for name, grown in sorted(r["codec_cost"].items(), key=lambda kv: -kv[1]):
        print("  %6.1f KB  %s" % (grown / kb, name))
    if r["requests"] is None:
        return
    print("live heap peak (absolute) while each request frame was taken in and answered:")
    answers = dict((label, frames) for label, frames in r["answers"])
    labels = [label for label, _ in r["answers"]]
    for i, (dt, peak) in enumerate(r["requests"]):
        label = labels[i] if i < len(labels) else "?"
        print("  %6.1f KB  %s  %s  (%d answer frames)"
              % (peak / kb, dt, label, len(answers.get(label, ()))))
    if r["requests"]:
        top = max(r["requests"], key=lambda x: x[1])
        print("peak %.1f KB at %s; between requests %.1f KB (the census's own objects before "
              "boot: %.1f KB)" % (top[1] / kb, top[0], r["between"] / kb, r["base"] / kb))
    if len(r["answers"]) < 8:
        print("only %d of 8 requests answered" % len(r["answers"]))
    if args.dump:
        Path(args.dump).write_text(json.dumps(r["answers"], indent=1))


if __name__ == "__main__":
    main()
