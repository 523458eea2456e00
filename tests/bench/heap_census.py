"""Where the firmware's heap goes: a census of the booted firmware, step by step and module by
module, on the emulated 32-bit board or on the unix port.

    .venv/bin/python -m tests.bench.heap_census                 # unix port, code as .mpy files
    .venv/bin/python -m tests.bench.heap_census --romfs         # unix port, code in a ROMFS image
    .venv/bin/python -m tests.bench.heap_census --board qemu_m4 # the emulated board, from ROMFS

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
c.kernel.task_create(sampler, 5, name="heap")
c.kernel.run(RUN_MS + 5000)
print("@@" + json.dumps({"peak": peak[0], "booted": BOOTED, "steps": DONE, "cost": COST,
      "codec": CODEC, "codec_cost": CODEC_COST,
      "uplink": c.uplink.status()["state"] if c.uplink else None, "skipped": c.skipped,
      "modules": sorted(m for m in sys.modules if m.startswith(("firmware", "protocol")))}))
"""

ROMFS_SETUP = """import vfs
_image = open(%r, "rb").read()
vfs.mount(vfs.VfsRom(memoryview(_image)), "/rom")
sys.path.insert(0, "/rom")"""


def board_files(master_port, bus_device, modem_device, tmp, board):
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
    meters = os.path.join(tmp, "meters.dat")
    Archive(meters).apply({p: {"protocol": "dlt645", "address": str(p), "bus": 1, "baud": 9600}
                           for p in range(1, POINTS + 1)})
    return {"board.json": json.dumps(config).encode(), "config.json": json.dumps(settings).encode(),
            "meters.dat": Path(meters).read_bytes()}


def script(run_ms, romfs_image=None):
    return (SCRIPT.replace("ROMFS_SETUP", ROMFS_SETUP % romfs_image if romfs_image else "")
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


def run_qemu(files, tmp, run_ms, bus_device, modem_device):
    from tests.qemu_board.qemu_support import qemu_session
    with qemu_session(os.path.join(tmp, "board"), buses={1: bus_device},
                      modem=modem_device) as board:
        cwd = board.eval("__import__('os').getcwd()").rstrip("/")
        for name, data in files.items():
            board.write_file(cwd + "/" + name, data)
        board.soft_reset()
        return board.exec(script(run_ms), timeout=300)


def census(board="unix", romfs=False, run_ms=8000):
    from host_tools.simulators.meter_bus import MeterSimulator
    from uplink_support import Faults, TestMaster, modem_for
    sim = MeterSimulator.from_dict({"bus": {"baud": 9600, "parity": "E", "turnaround_ms": 5},
                                    "meters": [{"address": str(p)}
                                               for p in range(1, ANSWERING + 1)]})
    master = TestMaster().start()
    modem = modem_for(master, "sim800", Faults())
    try:
        with sim, tempfile.TemporaryDirectory() as tmp:
            files = board_files(master.port, sim.device_path, modem.line.device_path, tmp, board)
            if board == "qemu_m4":
                out = run_qemu(files, tmp, run_ms, sim.device_path, modem.line.device_path)
            else:
                out = run_unix(files, tmp, run_ms, romfs)
    finally:
        modem.stop()
        master.stop()
    for line in out.splitlines():
        if line.startswith("@@"):
            result = json.loads(line[2:])
            result["qstr"] = [x for x in out.splitlines() if x.startswith("qstr pool")]
            return result
    raise RuntimeError("the census did not finish:\n" + out[-3000:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--board", choices=("unix", "qemu_m4"), default="unix")
    parser.add_argument("--romfs", action="store_true", help="unix port: code in a ROMFS image")
    args = parser.parse_args()
    r = census(args.board, args.romfs)
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


if __name__ == "__main__":
    main()
